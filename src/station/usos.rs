//! Issuance and prolongation driven by USOS: the card on the reader is looked up by its chip
//! UID (or barcode), USOS's `student_card_data` gives the signed structure and the card's
//! write key, the station writes and verifies it on the chip (through [`issue::issue`]), then
//! records it; a prolongation writes USOS's newer structure and reports it with
//! `mark_student_card_prolonged`. A prolongation is kept in the store from before the write
//! until USOS has been told (`Store::usos_prolongation`), so a USOS that did not answer, or
//! a station killed after the write, is finished by a retry ([`tell_usos`], or [`prolong`]
//! again with the card) rather than refused as not later. The network calls are async, the
//! card I/O is the same blocking APDU exchange as everywhere else in `station`.

use time::Date;
use time::macros::format_description;
use x509_cert::Certificate;

use super::auth::{Action, Denied, Session};
use super::issue::{self, CardholderRecordError, ElsSource, IssueError, Issued, Step, chip_serial};
use crate::card::Transport;
use crate::card::els::{self, ElsCardError};
use crate::config::{CardReady, ConfigError, Profile, Secret};
use crate::crypto::diversify::KeyAlgorithm;
use crate::crypto::els_sig::{self, VerifyError};
use crate::error::Problem;
use crate::remote::oauth1::Credential;
use crate::remote::retry::RetryPolicy;
use crate::remote::usos::{
    CardLookup, LangDict, Notification, Phone, StudentCardData, UsosCard, UsosClient, UsosError,
};
use crate::store::{
    Card, CardStatus, CardType, HologramRefused, NewCard, ProlongationState, Store, StoreError,
    UidKind, UsosProlongation,
};

/// Why the profile's USOS client cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum UsosSetupError {
    #[error("the profile has no [usos] section")]
    NoUsos,
    #[error(transparent)]
    Secret(#[from] ConfigError),
    #[error(transparent)]
    Client(#[from] UsosError),
}

impl Problem for UsosSetupError {
    fn next_step(&self) -> &'static str {
        match self {
            UsosSetupError::NoUsos => {
                "pass --profile with [usos] url, consumer_key_env and consumer_secret_env"
            }
            UsosSetupError::Secret(err) => err.next_step(),
            UsosSetupError::Client(err) => err.next_step(),
        }
    }
}

/// The profile's USOS client: the consumer from `[usos]` (environment or keyring), and the
/// access token when the profile names one. Reads secrets (maybe from the kernel keyring):
/// call it off the UI thread.
pub fn client_from_profile(
    profile: &Profile,
    retry: RetryPolicy,
) -> Result<UsosClient, UsosSetupError> {
    let usos = profile.usos.as_ref().ok_or(UsosSetupError::NoUsos)?;
    let consumer_key = Secret::lookup(&usos.consumer_key_env)?;
    let consumer = Credential::new(
        consumer_key.expose(),
        Secret::lookup(&usos.consumer_secret_env)?,
    );
    let mut client = UsosClient::new(&usos.url, consumer, retry)?;
    if let (Some(token_env), Some(secret_env)) = (&usos.token_env, &usos.token_secret_env) {
        let token = Secret::lookup(token_env)?;
        client = client.with_token(Credential::new(token.expose(), Secret::lookup(secret_env)?));
    }
    Ok(client)
}

/// What the desk needs to work with USOS.
pub struct UsosDesk<'a> {
    pub client: &'a UsosClient,
    /// Type of the write keys USOS hands out (`[usos] card_key_type`).
    pub key_algorithm: KeyAlgorithm,
    /// Issuer certificates the written card must verify against.
    pub trusted: &'a [Certificate],
    pub operator: &'a str,
}

/// How the desk finds the card in USOS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindBy {
    /// The contact chip's UID, read from the card on the reader.
    ChipUid,
    /// The barcode printed on the card; USOS's contact chip UID must then be this chip's.
    Barcode(String),
}

#[derive(Debug, thiserror::Error)]
pub enum UsosIssueError {
    #[error(transparent)]
    Usos(#[from] UsosError),
    #[error("USOS says this card may not be written: {reason}")]
    Refused { reason: String },
    #[error("USOS has this barcode for chip {usos}, but the card on the reader is chip {card}")]
    OtherChip { usos: String, card: String },
    #[error("USOS's card data is for PESEL {usos}, but the chosen cardholder has PESEL {holder}")]
    OtherHolder { usos: String, holder: String },
    #[error(
        "USOS's structure expires {offered}, not after the card's {current}: extend the card's validity in USOS first"
    )]
    NotLater { offered: Date, current: Date },
    #[error(transparent)]
    Issue(#[from] IssueError),
    #[error(transparent)]
    Record(#[from] CardholderRecordError),
    /// The chip holds USOS's newer structure, but `mark_student_card_prolonged` failed.
    #[error("chip {chip} is written (valid until {expires}), but USOS was not told yet: {cause}")]
    NotTold {
        chip: String,
        expires: Date,
        cause: UsosError,
    },
    #[error("chip {chip} has no prolongation waiting to be reported to USOS")]
    NothingToTell { chip: String },
    /// The hologram sticker given for the prolongation cannot be used: nothing was written.
    #[error("{0}: nothing was written")]
    Hologram(#[from] HologramRefused),
    #[error(
        "chip {chip} is not in this station's register, so no sticker can be recorded on its card: nothing was written"
    )]
    StickerWithoutCard { chip: String },
}

impl Problem for UsosIssueError {
    fn next_step(&self) -> &'static str {
        match self {
            UsosIssueError::Usos(err) => err.next_step(),
            UsosIssueError::Refused { .. } => "settle the reason in USOS, then issue again",
            UsosIssueError::OtherChip { .. } => "put the card with that barcode on the reader",
            UsosIssueError::OtherHolder { .. } => "choose the cardholder the card belongs to",
            UsosIssueError::NotLater { .. } => "prolong the card in USOS, then write it again",
            UsosIssueError::Issue(err) => err.next_step(),
            UsosIssueError::Record(err) => err.next_step(),
            UsosIssueError::NotTold { .. } => {
                "the card is done: retry telling USOS (the desk's Retry, or `cardstation usos prolong` with the card)"
            }
            UsosIssueError::NothingToTell { .. } => "prolong the card with it on the reader",
            UsosIssueError::Hologram(refused) => refused.next_step(),
            UsosIssueError::StickerWithoutCard { .. } => {
                "sync the register (or issue the card at this station), then prolong it again"
            }
        }
    }
}

impl UsosIssueError {
    /// The card left the reader mid-way: putting it back resumes the issuance.
    pub fn card_removed(&self) -> bool {
        matches!(self, UsosIssueError::Issue(err) if err.card_removed())
    }
}

impl From<StoreError> for UsosIssueError {
    fn from(err: StoreError) -> Self {
        UsosIssueError::Record(CardholderRecordError::Store(err))
    }
}

impl From<ElsCardError> for UsosIssueError {
    fn from(err: ElsCardError) -> Self {
        UsosIssueError::Issue(IssueError::Card(err))
    }
}

impl From<crate::card::TransportError> for UsosIssueError {
    fn from(err: crate::card::TransportError) -> Self {
        UsosIssueError::Issue(err.into())
    }
}

/// A card written from USOS data, verified on its chip.
#[derive(Debug)]
pub struct UsosIssued {
    pub issued: Issued,
    pub usos_card: UsosCard,
    /// The local card row: the one recorded, or for a prolongation the one whose expiry
    /// followed the chip (`None` when this store does not know the chip).
    pub card_id: Option<i64>,
    /// The hologram sticker recorded on the card for this prolongation.
    pub hologram: Option<i64>,
}

fn refused(data: &StudentCardData) -> Option<UsosIssueError> {
    if data.can_be_written == Some(true) {
        return None;
    }
    let reason = data
        .why_cannot_write
        .as_ref()
        .map(LangDict::text)
        .filter(|text| !text.is_empty())
        .unwrap_or("USOS gives no reason (can_be_written is false)");
    Some(UsosIssueError::Refused {
        reason: reason.to_owned(),
    })
}

fn card_type(usos: Option<&str>) -> CardType {
    match usos {
        Some("phd") => CardType::Phd,
        Some("staff" | "academic_teacher") => CardType::Staff,
        _ => CardType::Student,
    }
}

fn parse_date(text: Option<&str>) -> Option<Date> {
    Date::parse(
        text?.get(..10)?,
        format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// Writes the structure of `data` on the card and verifies it there, telling `progress` as
/// the write and the read-back start.
fn write<T: Transport + ?Sized>(
    desk: &UsosDesk<'_>,
    card: &mut T,
    data: &StudentCardData,
    today: Date,
    progress: &mut dyn FnMut(Step),
) -> Result<Issued, UsosIssueError> {
    if let Some(refusal) = refused(data) {
        return Err(refusal);
    }
    let source = ElsSource::Signed {
        structure: data.structure_der()?,
        certificate: data.certificate_der()?,
    };
    let key = data.card_key(desk.key_algorithm)?;
    Ok(issue::issue_with_progress(
        card,
        source,
        &key,
        desk.trusted,
        today,
        progress,
    )?)
}

/// Issues the card on the reader to `cardholder_id` from USOS's data and records it,
/// telling `progress` as each of the desk's six steps starts (USOS signed the structure, so
/// its "sign" step is taking USOS's signature).
pub async fn issue<T: Transport + ?Sized>(
    desk: &UsosDesk<'_>,
    card: &mut T,
    store: &mut Store,
    cardholder_id: i64,
    find_by: &FindBy,
    today: Date,
    progress: &mut dyn FnMut(Step),
) -> Result<UsosIssued, UsosIssueError> {
    progress(Step::ReadUid);
    let uid = els::serial_to_bind(card).map_err(IssueError::from)?;
    progress(Step::TakeData);
    let serial = chip_serial(&uid);
    let lookup = match find_by {
        FindBy::ChipUid => CardLookup::ContactChipUid(serial.clone()),
        FindBy::Barcode(barcode) => CardLookup::Barcode(barcode.clone()),
    };
    let usos_card = desk.client.card(&lookup, None).await?;
    let usos_chip = usos_card.contact_chip_uid.clone().unwrap_or_default();
    if !usos_chip.eq_ignore_ascii_case(&serial) {
        return Err(UsosIssueError::OtherChip {
            usos: usos_chip,
            card: serial,
        });
    }
    let id = usos_card.id.clone().ok_or_else(|| UsosError::BadResponse {
        what: "cards/card".into(),
        cause: "the card has no id".into(),
    })?;
    let data = desk
        .client
        .student_card_data(&CardLookup::Id(id.clone()), None)
        .await?;
    if let Some(refusal) = refused(&data) {
        return Err(refusal);
    }
    // Refused before writing: the structure names the person it is for.
    let offered = els_sig::decode_unverified(&data.structure_der()?)
        .map_err(|err| UsosIssueError::Issue(IssueError::NotVerified(err)))?;
    let holder = store
        .get_cardholder(cardholder_id)
        .map_err(CardholderRecordError::from)?;
    if let Some(person_id) = holder.fields.person_id {
        let person = store
            .get_person(person_id)
            .map_err(CardholderRecordError::from)?;
        if let Some(pesel) = person.fields.pesel
            && pesel != offered.pesel
        {
            return Err(UsosIssueError::OtherHolder {
                usos: offered.pesel,
                holder: pesel,
            });
        }
    }
    progress(Step::Sign);
    let issued = write(desk, card, &data, today, progress)?;
    progress(Step::Record);
    let new_card = NewCard {
        cardholder_id,
        card_number: Some(id),
        barcode: usos_card.barcode_number.clone(),
        card_type: card_type(usos_card.card_type.as_deref()),
        contact_uid: Some(serial),
        contactless_uid: usos_card.contactless_chip_uid.clone(),
        chip_serial_number: Some(issued.verified.data.chip_serial.clone()),
        status: CardStatus::Personalized,
        expires: Some(issued.verified.data.expires),
        desfire_issued: false,
    };
    let card_id = issue::record_card(store, UidKind::Contact, &uid, new_card, desk.operator)?;
    tracing::info!(card_id, usos_card = ?usos_card.id, "usos: card issued and recorded");
    Ok(UsosIssued {
        issued,
        usos_card,
        card_id: Some(card_id),
        hologram: None,
    })
}

/// Prolongs the card on the reader: it must hold a genuine (maybe expired) ELS; USOS's
/// structure must expire later; it is written and verified, the register's card follows the
/// chip's new expiry (and takes `hologram`, the sticker put on it, from the stock), then
/// USOS is told with `mark_student_card_prolonged` dated `today`. A sticker that is not free,
/// or one for a chip the register does not know, is refused before anything is written.
///
/// The prolongation is in the store from before the write until USOS has been told, with
/// its sticker. When the chip already holds the expiry of a prolongation USOS was not told
/// about (a failed report, a station killed after the write), nothing is written again and
/// no second sticker is taken: a write not yet recorded is recorded with the sticker named
/// when it began (`hologram` only if it named none), and USOS is told, with the date of
/// that write.
pub async fn prolong<T: Transport + ?Sized>(
    desk: &UsosDesk<'_>,
    card: &mut T,
    store: &mut Store,
    hologram: Option<i64>,
    today: Date,
) -> Result<UsosIssued, UsosIssueError> {
    let reading = issue::read_and_verify(card, desk.trusted, today)?;
    let current = match &reading.verdict {
        Ok(verified) => verified.data.clone(),
        Err(VerifyError::Expired(_)) => els_sig::decode_unverified(&reading.structure)
            .map_err(|err| UsosIssueError::Issue(IssueError::NotVerified(err)))?,
        Err(err) => return Err(UsosIssueError::Issue(IssueError::NotVerified(err.clone()))),
    };
    let on_card = reading
        .chip
        .bytes()
        .ok_or(IssueError::Card(ElsCardError::NoChipSerial))?
        .to_vec();
    let chip = chip_serial(&on_card);
    let lookup = CardLookup::ContactChipUid(chip.clone());
    let data = desk.client.student_card_data(&lookup, None).await?;
    if let Some(refusal) = refused(&data) {
        return Err(refusal);
    }
    let offered =
        parse_date(data.expiration_date.as_deref()).ok_or_else(|| UsosError::BadResponse {
            what: "student_card_data".into(),
            cause: "no expiration_date".into(),
        })?;
    let usos_card = data.card.clone().unwrap_or_default();
    if offered <= current.expires {
        // Written here before, USOS not told: tell it now, the chip is done.
        return match store.usos_prolongation(&chip)? {
            Some(pending) if pending.expires == current.expires => {
                let issued = match reading.verdict {
                    Ok(verified) => Issued {
                        uid: on_card,
                        verified,
                    },
                    Err(err) => return Err(IssueError::NotVerified(err).into()),
                };
                let (card_id, hologram) = match pending.state {
                    ProlongationState::Writing => {
                        let sticker = pending.hologram.or(hologram);
                        (
                            finish_written(store, &issued, sticker, desk.operator)?,
                            sticker,
                        )
                    }
                    // Recorded, sticker and all, when it verified: only USOS is left.
                    ProlongationState::Written => (
                        store
                            .find_card_by_uid(UidKind::Contact, &issued.uid)?
                            .map(|card| card.id),
                        pending.hologram,
                    ),
                };
                tell(desk.client, store, &pending, desk.operator).await?;
                Ok(UsosIssued {
                    issued,
                    usos_card,
                    card_id,
                    hologram,
                })
            }
            _ => Err(UsosIssueError::NotLater {
                offered,
                current: current.expires,
            }),
        };
    }
    if let Some(number) = hologram {
        if store
            .find_card_by_uid(UidKind::Contact, &on_card)?
            .is_none()
        {
            return Err(UsosIssueError::StickerWithoutCard { chip });
        }
        if let Some(refused) = store.hologram_refused(number)? {
            return Err(refused.into());
        }
    }
    store.usos_prolongation_started(&chip, offered, today, hologram, desk.operator)?;
    let issued = write(desk, card, &data, today, &mut |_| {})?;
    let card_id = finish_written(store, &issued, hologram, desk.operator)?;
    let pending = store
        .usos_prolongation(&chip)?
        .ok_or(UsosIssueError::NothingToTell { chip: chip.clone() })?;
    tell(desk.client, store, &pending, desk.operator).await?;
    tracing::info!(%chip, expires = %issued.verified.data.expires, ?hologram, "usos: card prolonged and reported");
    Ok(UsosIssued {
        issued,
        usos_card,
        card_id,
        hologram,
    })
}

/// The chip verified with its new structure: the prolongation waits for USOS only, and the
/// register's card (if this store knows the chip) takes the new expiry and `hologram`, in
/// one transaction.
fn finish_written(
    store: &mut Store,
    issued: &Issued,
    hologram: Option<i64>,
    operator: &str,
) -> Result<Option<i64>, StoreError> {
    let chip = chip_serial(&issued.uid);
    store.atomically(|store| {
        store.usos_prolongation_written(&chip, operator)?;
        issue::record_prolonged(store, issued, hologram, operator)
    })
}

/// Reports a written prolongation to USOS and, once USOS took it, closes it in the store.
/// A failure is kept with the prolongation for the next try.
async fn tell(
    client: &UsosClient,
    store: &mut Store,
    pending: &UsosProlongation,
    operator: &str,
) -> Result<(), UsosIssueError> {
    let lookup = CardLookup::ContactChipUid(pending.chip.clone());
    match client
        .mark_student_card_prolonged(&lookup, &pending.date_prolonged.to_string())
        .await
    {
        Ok(()) => {
            store.usos_prolongation_told(&pending.chip, operator)?;
            tracing::info!(chip = %pending.chip, "usos: prolongation reported");
            Ok(())
        }
        Err(cause) => {
            tracing::warn!(chip = %pending.chip, %cause, "usos: the card is prolonged, USOS not told yet");
            store.usos_prolongation_not_told(&pending.chip, &cause.to_string(), operator)?;
            Err(UsosIssueError::NotTold {
                chip: pending.chip.clone(),
                expires: pending.expires,
                cause,
            })
        }
    }
}

/// Tells USOS about the prolongation of `chip` written earlier (see [`prolong`]), without
/// the card: the desk's retry. A prolongation not yet verified on the chip is not told (the
/// card may still hold the old structure): prolong it with the card on the reader.
pub async fn tell_usos(
    client: &UsosClient,
    store: &mut Store,
    chip: &str,
    operator: &str,
) -> Result<UsosProlongation, UsosIssueError> {
    let pending = store
        .usos_prolongation(chip)?
        .filter(|pending| pending.state == ProlongationState::Written)
        .ok_or_else(|| UsosIssueError::NothingToTell {
            chip: chip.to_owned(),
        })?;
    tell(client, store, &pending, operator).await?;
    Ok(pending)
}

/// The certificates a card written from USOS's data must verify against: the store's
/// trusted issuers (`cardstation trust add` USOS's signer certificate).
pub fn trusted_issuers(store: &Store) -> Result<Vec<Certificate>, StoreError> {
    use der::Decode;
    Ok(store
        .trusted_issuers()?
        .into_iter()
        .filter_map(|issuer| Certificate::from_der(&issuer.certificate_der).ok())
        .collect())
}

/// A template with the card's values filled in.
pub fn render(template: &str, card: &UsosCard) -> String {
    let user = card.user.clone().unwrap_or_default();
    [
        ("{first_name}", user.first_name),
        ("{last_name}", user.last_name),
        ("{barcode}", card.barcode_number.clone()),
        ("{expires}", card.expiration_date.clone()),
        ("{card_id}", card.id.clone()),
    ]
    .into_iter()
    .fold(template.to_owned(), |text, (name, value)| {
        text.replace(name, value.as_deref().unwrap_or_default())
    })
}

/// Tells the card's owner, in Polish and English, that the card is ready.
pub async fn send_card_ready(
    client: &UsosClient,
    templates: &CardReady,
    card: &UsosCard,
) -> Result<Notification, UsosError> {
    let user_id = card
        .user
        .as_ref()
        .and_then(|user| user.id.clone())
        .ok_or_else(|| UsosError::BadResponse {
            what: "cards/card".into(),
            cause: "the card names no user to notify".into(),
        })?;
    let notification = Notification {
        user_id,
        message: LangDict {
            pl: Some(render(&templates.pl, card)),
            en: Some(render(&templates.en, card)),
        },
        event_type_id: templates.event_type_id.clone(),
    };
    client.send_notification(&notification).await?;
    Ok(notification)
}

/// Fields of `cards/card` the desk shows and the "card ready" templates fill in.
const CARD_FIELDS: &[&str] = &[
    "id",
    "user",
    "contact_chip_uid",
    "contactless_chip_uid",
    "barcode_number",
    "type",
    "expiration_date",
    "date_of_issue",
    "student_number",
];

/// One of the holder's cards as USOS has it.
#[derive(Debug, Clone, PartialEq)]
pub struct CardInUsos {
    pub card: UsosCard,
    /// `student_card_data`'s `can_be_written` (no keys asked for); None when USOS did not say.
    pub can_be_written: Option<bool>,
    /// Why not, when the server says (the reference server does; USOS may not).
    pub why_not: Option<LangDict>,
}

/// What USOS tells an administrative consumer about a holder: the cards it finds by the
/// chip UIDs and barcodes of the holder's local cards, and their owners' phone numbers.
///
/// What it cannot tell: `cards/user`, `cards/user_cards` and the mLegitymacja methods
/// (`cards/mcard*`) answer only for the student's own access token, which a desk never
/// holds, so a card USOS has but the store does not is not found here, and the student's
/// mLegitymacja is not shown.
#[derive(Debug, Clone, PartialEq)]
pub struct HolderInUsos {
    pub cards: Vec<CardInUsos>,
    /// The local cards USOS does not know (withdrawn, never reported, or from elsewhere).
    pub not_in_usos: usize,
    /// Their phone numbers, or (`Err`) why USOS would not give them: a consumer key without
    /// the phones scope must not hide the cards.
    pub phones: Result<Vec<Phone>, crate::error::Failure>,
}

/// How USOS's `cards/card` can find a local card: by its contact chip, contactless chip
/// or barcode; None when the card has none of them.
pub fn lookup_of(card: &Card) -> Option<CardLookup> {
    let fields = &card.fields;
    fields
        .contact_uid
        .clone()
        .map(CardLookup::ContactChipUid)
        .or_else(|| {
            fields
                .contactless_uid
                .clone()
                .map(CardLookup::ContactlessChipUid)
        })
        .or_else(|| fields.barcode.clone().map(CardLookup::Barcode))
}

/// Looks the holder's `cards` up in USOS, then their owners' phone numbers. A card USOS
/// does not know is counted, not an error; any other failure (unreachable, refused
/// authentication) is.
pub async fn holder_in_usos(
    client: &UsosClient,
    cards: &[Card],
) -> Result<HolderInUsos, UsosError> {
    let mut found = HolderInUsos {
        cards: Vec::new(),
        not_in_usos: 0,
        phones: Ok(Vec::new()),
    };
    for lookup in cards.iter().filter_map(lookup_of) {
        let card = match client.card(&lookup, Some(CARD_FIELDS)).await {
            Ok(card) => card,
            Err(UsosError::NotFound { .. }) => {
                found.not_in_usos += 1;
                continue;
            }
            Err(err) => return Err(err),
        };
        if found.cards.iter().any(|known| known.card.id == card.id) {
            continue;
        }
        let status = match &card.id {
            Some(id) => client
                .student_card_data(&CardLookup::Id(id.clone()), Some(&["can_be_written"]))
                .await
                .map_err(|err| tracing::debug!(%err, "usos: no write status for card {id}"))
                .ok(),
            None => None,
        }
        .unwrap_or_default();
        found.cards.push(CardInUsos {
            card,
            can_be_written: status.can_be_written,
            why_not: status.why_cannot_write,
        });
    }
    let mut users: Vec<&str> = found
        .cards
        .iter()
        .filter_map(|card| card.card.user.as_ref()?.id.as_deref())
        .collect();
    users.sort_unstable();
    users.dedup();
    if !users.is_empty() {
        found.phones = match client.phones_select(&users, None).await {
            Ok(phones) => Ok(phones.into_values().flatten().collect()),
            Err(err) => {
                tracing::warn!("usos: the holder's phones are not available: {err}");
                Err(err.into())
            }
        };
    }
    Ok(found)
}

/// Why a "card ready" notice was not sent.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Usos(#[from] UsosError),
}

impl Problem for NoticeError {
    fn next_step(&self) -> &'static str {
        match self {
            NoticeError::Denied(err) => err.next_step(),
            NoticeError::Usos(err) => err.next_step(),
        }
    }
}

/// [`send_card_ready`] for a signed-in operator: the session must be allowed to notify
/// holders ([`Action::NotifyHolder`]).
pub async fn notify_card_ready(
    session: &Session,
    client: &UsosClient,
    templates: &CardReady,
    card: &UsosCard,
) -> Result<Notification, NoticeError> {
    session.require(Action::NotifyHolder)?;
    let sent = send_card_ready(client, templates, card).await?;
    tracing::info!(operator = %session.operator, user = %sent.user_id, card = ?card.id, "usos: card ready notice sent");
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::usos::UsosUser;

    #[test]
    fn templates_are_filled_from_the_card() {
        let card = UsosCard {
            id: Some("501".into()),
            user: Some(UsosUser {
                id: Some("1001".into()),
                first_name: Some("Anna".into()),
                last_name: Some("Żółkiewska".into()),
            }),
            expiration_date: Some("2027-10-31".into()),
            ..UsosCard::default()
        };
        let templates = CardReady::default();
        assert_eq!(
            render(&templates.pl, &card),
            "Anna, Twoja legitymacja jest gotowa do odbioru (ważna do 2027-10-31)."
        );
        assert_eq!(render("{barcode}|{card_id}", &card), "|501");
    }

    #[test]
    fn a_refusal_carries_the_servers_reason() {
        let data = StudentCardData {
            can_be_written: Some(false),
            why_cannot_write: Some(LangDict {
                pl: Some("Legitymacja zastrzeżona".into()),
                en: None,
            }),
            ..StudentCardData::default()
        };
        let refusal = refused(&data).unwrap().to_string();
        assert!(refusal.contains("Legitymacja zastrzeżona"), "{refusal}");
        assert!(
            refused(&StudentCardData::default()).is_some(),
            "no answer is no permission"
        );
    }
}
