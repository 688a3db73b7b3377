//! The issuance desk's workflows: issue a card to a cardholder (with each step reported),
//! prolong, block and unblock. Each checks the session first, takes a card transport and the
//! store, and runs the same from the window, the CLI and the tests.
//!
//! A dual-interface card (contact ELS chip plus contactless DESFire) is issued in one go when
//! the profile has `[desfire]`: the ELS is written and verified first; then the university
//! DESFire application is issued ([`super::desfire::issue`], the profile's issue keys); then
//! the card is recorded with both UIDs, the chip serial and `desfire_issued`, in one store
//! transaction. The contact chip is read on `[readers] contact` and the contactless one on
//! `[readers] contactless` when the profile names both (two readers, or the two PC/SC readers
//! of one dual-interface reader); otherwise both come through the one transport.
//!
//! The DESFire record carries the card number and barcode the store already has for the
//! holder's card being issued (the card was printed for them, numbered by production or the
//! server). The desk never invents a number: a card without one gets the ELS only, and the
//! outcome says so ([`DesfireOutcome::NoCardNumber`]) so the operator syncs or orders the card
//! and issues again. A failed DESFire step records nothing: putting the card back issues it
//! again, the ELS rewritten and checked, the DESFire issue picking up from what the card holds.

use std::path::Path;

use serde_json::json;
use time::Date;
use x509_cert::Certificate;

use super::auth::{Action, Denied, Session};
use super::desfire::{self, CardRecord, DesfireIssueError, IssueKeys};
use super::issue::{
    self, CardholderRecordError, ElsSource, IssueError, Signer, Step, card_being_issued,
    chip_serial, els_data_for,
};
use crate::card::desfire::DesfireError;
use crate::card::els::{self, CardKey};
use crate::card::{Transport, TransportError};
use crate::config::keys::{self, KeyError};
use crate::config::{ConfigError, DesfireApp, Profile, Secret};
use crate::error::Problem;
use crate::store::{Card, CardStatus, HologramRefused, NewCard, Store, StoreError};

/// The university DESFire application the desk issues beside the ELS (profile `[desfire]`).
pub struct DeskDesfire {
    pub app: DesfireApp,
    pub keys: IssueKeys,
}

/// What the desk signs and writes with, loaded once when the desk opens.
pub struct DeskSetup {
    pub signer: Signer,
    pub card_key: CardKey,
    /// Issuers a read-back card is verified against: the signer's own certificate.
    pub trusted: Vec<Certificate>,
    pub university: String,
    pub edition: String,
    /// With a `[desfire]` profile: every card also gets the DESFire application.
    pub desfire: Option<DeskDesfire>,
}

/// The signer's key and the card key master stay out of logs and error messages.
impl std::fmt::Debug for DeskSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeskSetup")
            .field("university", &self.university)
            .field("edition", &self.edition)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the profile's [els] section names no signer key and certificate")]
    NoSigner,
    #[error("the profile's [els] section names no card key variable")]
    NoCardKey,
    /// The card key master is neither in its environment variable nor in the keyring.
    #[error(transparent)]
    CardKeyUnset(#[from] ConfigError),
    #[error("{1} (read from {0})")]
    CardKeyInvalid(String, String),
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The profile has `[desfire]` but its issue keys cannot be loaded.
    #[error("the DESFire application cannot be issued: {0}")]
    Desfire(ConfigError),
}

impl Problem for SetupError {
    fn next_step(&self) -> &'static str {
        match self {
            SetupError::NoSigner | SetupError::NoCardKey => {
                "set signer_key, signer_cert and card_key_env in the profile's [els] section"
            }
            SetupError::CardKeyUnset(err) => err.next_step(),
            SetupError::CardKeyInvalid(..) => {
                "put the card key master (hex, of the profile's card_key_type) in that variable or the keyring, then restart the station"
            }
            SetupError::Key(err) => err.next_step(),
            SetupError::Desfire(err) => err.next_step(),
        }
    }
}

impl DeskSetup {
    /// The signer, card key and office fields from the profile's `[els]` (no DESFire: see
    /// [`Self::for_desk`]). The demo profile makes a demo signer in `data_dir` on first use.
    pub fn from_profile(profile: &Profile, data_dir: &Path) -> Result<Self, SetupError> {
        let els = profile.els.clone().ok_or(SetupError::NoCardKey)?;
        let (key_path, cert_path) = match (&els.signer_key, &els.signer_cert) {
            (Some(key), Some(cert)) => (key.clone(), cert.clone()),
            _ if profile.demo.is_some() => super::demo::ensure_signer(data_dir)?,
            _ => return Err(SetupError::NoSigner),
        };
        let key = keys::load_signing_key(&key_path, els.signer_passphrase_env.as_deref())?;
        let certificate = keys::load_certificate(&cert_path)?;
        let card_key = Self::card_key_from_profile(profile)?;
        Ok(Self {
            trusted: vec![certificate.clone()],
            signer: Signer { key, certificate },
            card_key,
            university: els
                .university
                .unwrap_or_else(|| "UNIWERSYTET DEMONSTRACYJNY".to_owned()),
            edition: els.edition.unwrap_or_else(|| "A".to_owned()),
            desfire: None,
        })
    }

    /// What the issuance desk holds: [`Self::from_profile`] and, with `[desfire]` in the
    /// profile, its issue keys, so every card also gets the DESFire application.
    pub fn for_desk(profile: &Profile, data_dir: &Path) -> Result<Self, SetupError> {
        let mut setup = Self::from_profile(profile, data_dir)?;
        if let Some(app) = &profile.desfire {
            setup.desfire = Some(DeskDesfire {
                app: app.clone(),
                keys: IssueKeys::for_profile(profile, data_dir).map_err(SetupError::Desfire)?,
            });
        }
        Ok(setup)
    }
}

impl DeskSetup {
    /// The card key master named by the profile's `[els] card_key_env`, from that
    /// environment variable or else the keyring (never from the profile itself).
    pub fn card_key_from_profile(profile: &Profile) -> Result<CardKey, SetupError> {
        let els = profile.els.as_ref().ok_or(SetupError::NoCardKey)?;
        let variable = els.card_key_env.clone().ok_or(SetupError::NoCardKey)?;
        let hex_text = Secret::lookup(&variable)?;
        CardKey::master_from_hex(
            els.card_key_type,
            hex_text.expose(),
            els.system_id.as_bytes(),
        )
        .map_err(|cause| SetupError::CardKeyInvalid(variable, cause))
    }
}

/// Why a new card replaces the cardholder's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateReason {
    /// Lost or stolen: the old card is blocked so no one else can use it.
    Lost,
    /// Damaged or the data changed: the old card is withdrawn.
    Damaged,
}

impl DuplicateReason {
    fn status_of_old_card(self) -> CardStatus {
        match self {
            DuplicateReason::Lost => CardStatus::Blocked,
            DuplicateReason::Damaged => CardStatus::Withdrawn,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            DuplicateReason::Lost => "duplicate: the card was lost",
            DuplicateReason::Damaged => "duplicate: the card was damaged",
        }
    }
}

pub struct IssueRequest {
    pub cardholder_id: i64,
    pub expires: Date,
    /// The chip this issuance started on: a resumed issuance refuses any other card.
    pub expected_uid: Option<Vec<u8>>,
    /// Required when the cardholder already has a card in use.
    pub duplicate: Option<DuplicateReason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCard {
    pub card_id: i64,
    /// The contact (ELS) chip's UID.
    pub uid: Vec<u8>,
    pub expires: Date,
    pub desfire: DesfireOutcome,
}

/// What became of the DESFire application in an issuance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesfireOutcome {
    /// None written: the profile has no `[desfire]` (an ELS-only desk), or the work (a
    /// prolongation) writes only the ELS.
    NotWritten,
    /// Issued and read back; the contactless chip's UID.
    Issued { contactless_uid: Vec<u8> },
    /// Not written: the holder's card has no card number in the store yet, and the desk
    /// never invents one. Only the ELS was written.
    NoCardNumber,
}

impl DesfireOutcome {
    /// What the operator does about an issuance that left the DESFire application out.
    pub const NO_NUMBER_NEXT_STEP: &'static str = "sync with the server, or order the card so production numbers it, then issue the card again";
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Issue(#[from] IssueError),
    #[error(transparent)]
    Record(#[from] CardholderRecordError),
    #[error("the cardholder already has card {card_id} in use")]
    NeedsDuplicateReason { card_id: i64 },
    #[error(
        "the card on the reader is chip {on_reader}, not card {card_id} (chip {chosen}): nothing was written"
    )]
    NotTheChosenCard {
        card_id: i64,
        chosen: String,
        on_reader: String,
    },
    #[error("card {card_id} has no contact chip in the register, so the desk cannot check it")]
    NoContactChip { card_id: i64 },
    /// The ELS is written and verified, but the DESFire step failed: nothing was recorded.
    #[error("the ELS is written and checked, but the DESFire application failed: {0}")]
    Desfire(#[from] DesfireIssueError),
    #[error(
        "card {card_id}'s number {number:?} is not a number the DESFire record can carry: nothing was recorded"
    )]
    BadCardNumber { card_id: i64, number: String },
    /// The hologram sticker given for a prolongation cannot be used: nothing was written.
    #[error("{0}: nothing was written")]
    Hologram(#[from] HologramRefused),
    #[error("{0}: nothing was written")]
    Expiry(#[from] ExpiryRefused),
}

/// Why the expiry the operator chose for a prolongation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryRefused {
    #[error("the new expiry {0} is in the past")]
    InThePast(Date),
    #[error("the new expiry {new} is not after the card's current expiry {current}")]
    NotLater { new: Date, current: Date },
}

/// A prolongation's new expiry must be today or later, and after the card's current one.
pub fn check_new_expiry(
    new: Date,
    current: Option<Date>,
    today: Date,
) -> Result<(), ExpiryRefused> {
    if new < today {
        return Err(ExpiryRefused::InThePast(new));
    }
    match current {
        Some(current) if new <= current => Err(ExpiryRefused::NotLater { new, current }),
        _ => Ok(()),
    }
}

impl DeskError {
    /// The card left the reader mid-way: putting it back resumes the issuance.
    pub fn card_removed(&self) -> bool {
        match self {
            DeskError::Issue(err) => err.card_removed(),
            DeskError::Desfire(DesfireIssueError::Card(DesfireError::Transport(
                TransportError::CardRemoved | TransportError::CardReset,
            ))) => true,
            _ => false,
        }
    }

    /// The reader went away after writing began: the reader named must come back before the
    /// issuance is run again on the same card.
    pub fn reader_gone_during_write(&self) -> Option<&str> {
        match self {
            DeskError::Issue(IssueError::ReaderGoneDuringWrite { reader }) => Some(reader),
            _ => None,
        }
    }
}

impl Problem for DeskError {
    fn next_step(&self) -> &'static str {
        match self {
            DeskError::Denied(err) => err.next_step(),
            DeskError::Issue(err) => err.next_step(),
            DeskError::Record(err) => err.next_step(),
            DeskError::NeedsDuplicateReason { .. } => {
                "issue a duplicate and say why (lost or damaged), or block the old card first"
            }
            DeskError::NotTheChosenCard { .. } => {
                "put the chosen card on the reader and prolong it again"
            }
            DeskError::NoContactChip { .. } => "issue the holder a new card at this desk",
            DeskError::Desfire(DesfireIssueError::Card(DesfireError::Transport(
                TransportError::CardRemoved | TransportError::CardReset,
            ))) => {
                "put the card back and issue again: the ELS is kept and checked, the DESFire step resumes"
            }
            DeskError::Desfire(err) => err.next_step(),
            DeskError::BadCardNumber { .. } => {
                "correct the card number on the server and sync, then issue the card again"
            }
            DeskError::Hologram(refused) => refused.next_step(),
            DeskError::Expiry(_) => {
                "choose an expiry after the card's current one, or leave the default"
            }
        }
    }
}

impl From<StoreError> for DeskError {
    fn from(err: StoreError) -> Self {
        DeskError::Record(CardholderRecordError::Store(err))
    }
}

/// The cardholder's cards still in use, other than the card being issued onto the chip `uid`
/// (see [`issue::card_being_issued`]: rewriting the same chip, or putting chips on the card printed
/// for the holder, is not a second card): a new card beside any of them is a duplicate, which
/// needs a reason.
pub fn cards_in_use(store: &Store, cardholder_id: i64, uid: &[u8]) -> Result<Vec<i64>, StoreError> {
    let being_issued = card_being_issued(store, cardholder_id, uid)?.map(|card| card.id);
    Ok(store
        .cards_of_cardholder(cardholder_id)?
        .into_iter()
        .filter(|known| !known.fields.status.refuses_entry() && Some(known.id) != being_issued)
        .map(|known| known.id)
        .collect())
}

/// The DESFire record for the card being issued: its number and barcode from the store
/// (the barcode defaults to the number, as the print station prints it). `None`: no number.
fn desfire_record(
    store: &Store,
    cardholder_id: i64,
    card: Option<&Card>,
    expires: Date,
) -> Result<Option<CardRecord>, DeskError> {
    let Some((card, number)) =
        card.and_then(|card| Some((card, card.fields.card_number.as_deref()?)))
    else {
        return Ok(None);
    };
    let card_number = number
        .trim()
        .parse()
        .map_err(|_| DeskError::BadCardNumber {
            card_id: card.id,
            number: number.to_owned(),
        })?;
    Ok(Some(CardRecord {
        card_number,
        barcode: card
            .fields
            .barcode
            .clone()
            .unwrap_or_else(|| number.trim().to_owned()),
        holder_id: desfire::holder_id(store, cardholder_id)?,
        expires,
    }))
}

/// Issues a card to a cardholder: UID, their data, sign, write, verify the ELS; with
/// `[desfire]`, the DESFire application; then record. `contactless` is the contactless
/// reader's transport when it is a reader of its own, `None` when `card` reaches both chips.
/// The card is recorded only once every chip verifies; a duplicate also retires the old card.
#[allow(clippy::too_many_arguments)]
pub fn issue_card<T: Transport + ?Sized>(
    session: &Session,
    card: &mut T,
    contactless: Option<&mut dyn Transport>,
    store: &mut Store,
    setup: &DeskSetup,
    request: &IssueRequest,
    today: Date,
    progress: &mut dyn FnMut(Step),
) -> Result<IssuedCard, DeskError> {
    session.require(Action::IssueCard)?;
    progress(Step::ReadUid);
    let uid = els::serial_to_bind(card).map_err(IssueError::from)?;
    if let Some(expected) = request.expected_uid.as_ref().filter(|e| **e != uid) {
        return Err(IssueError::WrongCard {
            card: chip_serial(&uid),
            data: chip_serial(expected),
        }
        .into());
    }
    progress(Step::TakeData);
    let serial = chip_serial(&uid);
    let cards_in_use = cards_in_use(store, request.cardholder_id, &uid)?;
    if let (Some(&card_id), None) = (cards_in_use.first(), request.duplicate) {
        return Err(DeskError::NeedsDuplicateReason { card_id });
    }
    let being_issued = card_being_issued(store, request.cardholder_id, &uid)?;
    let mut data = els_data_for(
        store,
        request.cardholder_id,
        &setup.university,
        &setup.edition,
        request.expires,
    )?;
    data.chip_serial = serial.clone();
    // Checked before the card is touched, so a bad number writes nothing.
    let record = match &setup.desfire {
        Some(_) => desfire_record(
            store,
            request.cardholder_id,
            being_issued.as_ref(),
            request.expires,
        )?,
        None => None,
    };
    let issued = issue::issue_with_progress(
        card,
        ElsSource::Sign {
            data,
            signer: &setup.signer,
        },
        &setup.card_key,
        &setup.trusted,
        today,
        progress,
    )?;
    let outcome = match (&setup.desfire, record) {
        (None, _) => DesfireOutcome::NotWritten,
        (Some(_), None) => DesfireOutcome::NoCardNumber,
        (Some(DeskDesfire { app, keys }), Some(record)) => {
            let report = match contactless {
                Some(contactless) => desfire::issue(contactless, app, keys, &record)?,
                None => desfire::issue(&mut *card, app, keys, &record)?,
            };
            DesfireOutcome::Issued {
                contactless_uid: report.uid,
            }
        }
    };
    progress(Step::Record);
    let contactless_uid = match &outcome {
        DesfireOutcome::Issued { contactless_uid } => Some(chip_serial(contactless_uid)),
        _ => None,
    };
    // One transaction: a crash never leaves the new card recorded beside an old one that
    // should have been retired, or either without its audit row.
    let card_id = store.atomically(|store| -> Result<i64, DeskError> {
        let chips = NewCard {
            cardholder_id: request.cardholder_id,
            card_number: None,
            barcode: None,
            card_type: store.card_type_for(request.cardholder_id)?,
            contact_uid: Some(serial.clone()),
            contactless_uid: contactless_uid.clone(),
            chip_serial_number: Some(issued.verified.data.chip_serial.clone()),
            status: CardStatus::Personalized,
            expires: Some(issued.verified.data.expires),
            desfire_issued: contactless_uid.is_some(),
        };
        let card_id = issue::record_chips(store, &uid, chips, &session.operator)?;
        if let Some(reason) = request.duplicate {
            for &old in &cards_in_use {
                store.set_card_status(
                    old,
                    reason.status_of_old_card(),
                    &session.operator,
                    reason.as_str(),
                )?;
            }
        }
        store.audit_append(
            &session.operator,
            "card.els_write",
            &format!("card:{card_id}"),
            &json!({
                "chip": serial,
                "contactless": contactless_uid,
                "expires": issued.verified.data.expires.to_string(),
            }),
        )?;
        Ok(card_id)
    })?;
    tracing::info!(card = card_id, chip = %serial, contactless = ?contactless_uid, operator = %session.operator, "desk: card issued and recorded");
    Ok(IssuedCard {
        card_id,
        uid: issued.uid,
        expires: issued.verified.data.expires,
        desfire: outcome,
    })
}

/// Prolongs card `card_id` of the register to `new_expiry` and records it, with the
/// hologram sticker put on the card when the desk uses them. The expiry, the sticker (free in
/// this station's stock) and the chip on the reader (that card's) are checked first: any
/// refusal writes nothing. The chip is written and verified, then the expiry, the sticker
/// and the audit row are recorded in one transaction; a chip that fails leaves the sticker
/// in stock.
#[allow(clippy::too_many_arguments)]
pub fn prolong_card<T: Transport + ?Sized>(
    session: &Session,
    card: &mut T,
    store: &mut Store,
    setup: &DeskSetup,
    card_id: i64,
    new_expiry: Date,
    hologram: Option<i64>,
    today: Date,
) -> Result<IssuedCard, DeskError> {
    session.require(Action::ProlongCard)?;
    check_new_expiry(new_expiry, store.get_card(card_id)?.fields.expires, today)?;
    if let Some(refused) = hologram
        .map(|number| store.hologram_refused(number))
        .transpose()?
        .flatten()
    {
        return Err(refused.into());
    }
    check_chosen_card(store, card, card_id)?;
    let prolonged = issue::prolong(
        card,
        &setup.signer,
        &setup.card_key,
        new_expiry,
        &setup.trusted,
        today,
    )?;
    store.record_prolongation(card_id, new_expiry, hologram, &session.operator)?;
    tracing::info!(card = card_id, expires = %new_expiry, hologram = ?hologram, operator = %session.operator, "desk: card prolonged and recorded");
    Ok(IssuedCard {
        card_id,
        uid: prolonged.uid,
        expires: new_expiry,
        desfire: DesfireOutcome::NotWritten,
    })
}

/// Refuses the chip on the reader unless it is card `card_id`'s of the register: nothing
/// is to be written to another card.
pub fn check_chosen_card<T: Transport + ?Sized>(
    store: &Store,
    card: &mut T,
    card_id: i64,
) -> Result<(), DeskError> {
    let chosen = store
        .get_card(card_id)?
        .fields
        .contact_uid
        .ok_or(DeskError::NoContactChip { card_id })?;
    let on_reader = chip_serial(&els::serial_to_bind(card).map_err(IssueError::from)?);
    if !on_reader.eq_ignore_ascii_case(&chosen) {
        return Err(DeskError::NotTheChosenCard {
            card_id,
            chosen,
            on_reader,
        });
    }
    Ok(())
}

/// Blocks (lost, stolen) or unblocks a card in the register; the kiosks refuse a blocked
/// card from their next sync, or at once at this station.
pub fn set_blocked(
    session: &Session,
    store: &mut Store,
    card_id: i64,
    blocked: bool,
    reason: &str,
) -> Result<CardStatus, DeskError> {
    let (action, status) = if blocked {
        (Action::BlockCard, CardStatus::Blocked)
    } else {
        (Action::UnblockCard, CardStatus::Activated)
    };
    session.require(action)?;
    Ok(store.set_card_status(card_id, status, &session.operator, reason)?)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::card::els::ElsCardError;
    use crate::config::Role;
    use crate::crypto::diversify::KeyAlgorithm;
    use crate::crypto::test_pki::els_signer;
    use crate::error::Failure;
    use crate::sim::{ElsCard, ElsCardState, Faults, SharedCard, SimTransport, shared};
    use crate::store::{CardType, OperatorRole, PersonFields};

    const TODAY: Date = date!(2026 - 11 - 22);
    /// The demo store comes with cards ordered for the print station.
    const DEMO_ORDERED_CARDS: i64 = 6;

    fn setup() -> DeskSetup {
        let (_, key, certificate) = els_signer();
        DeskSetup {
            trusted: vec![certificate.clone()],
            signer: Signer { key, certificate },
            card_key: CardKey::Master {
                algorithm: KeyAlgorithm::Aes128,
                master: zeroize::Zeroizing::new(vec![0x42; 16]),
                system_id: b"ELS".to_vec(),
            },
            university: "UNIWERSYTET TESTOWY".to_owned(),
            edition: "A".to_owned(),
            desfire: None,
        }
    }

    fn session(role: OperatorRole) -> Session {
        Session {
            operator: "anna".to_owned(),
            role,
            station: crate::config::Role::Issuance,
        }
    }

    /// A card as the manufacturer delivers it: empty, with its write key from the master.
    fn blank_card(uid: &[u8]) -> SharedCard {
        let key = setup().card_key.for_card(uid).unwrap();
        shared(ElsCard::new(ElsCardState::personalised(uid, &key)))
    }

    fn is_empty(card: &SharedCard) -> bool {
        matches!(
            crate::card::els::read_els(&mut SimTransport::insert(card.clone(), Faults::default())),
            Err(ElsCardError::Empty)
        )
    }

    /// A store with the demo students; returns it and Zofia Wiśniewska's cardholder id.
    fn store() -> (Store, i64) {
        let mut store = Store::open_in_memory().unwrap();
        super::super::demo::seed(&mut store).unwrap();
        let person = &store.search_people("wisniewska", 1).unwrap()[0];
        let cardholder = store.cardholders_of_person(person.id).unwrap()[0].id;
        (store, cardholder)
    }

    /// Issues onto `card` with a fresh test signer, reporting no steps.
    fn issue_onto(
        session: &Session,
        card: SharedCard,
        store: &mut Store,
        request: &IssueRequest,
    ) -> Result<IssuedCard, DeskError> {
        issue_card(
            session,
            &mut SimTransport::insert(card, Faults::default()),
            None,
            store,
            &setup(),
            request,
            TODAY,
            &mut |_| {},
        )
    }

    fn request(cardholder_id: i64) -> IssueRequest {
        IssueRequest {
            cardholder_id,
            expires: date!(2027 - 03 - 31),
            expected_uid: None,
            duplicate: None,
        }
    }

    #[test]
    fn a_printed_set_up_shows_no_key_material() {
        let setup = setup();
        let shown = format!("{setup:?}");
        assert!(shown.starts_with("DeskSetup"), "{shown}");
        for secret in ["42424242", "[66, 66", "SigningKey"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn an_issuance_reports_every_step_and_records_a_card_that_verifies() {
        let (mut store, cardholder) = store();
        let setup = setup();
        let card = blank_card(&[0x04, 1, 2, 3, 4, 5, 6]);
        let mut steps = Vec::new();
        let issued = issue_card(
            &session(OperatorRole::Operator),
            &mut SimTransport::insert(card.clone(), Faults::default()),
            None,
            &mut store,
            &setup,
            &request(cardholder),
            TODAY,
            &mut |step| steps.push(step),
        )
        .unwrap();
        assert_eq!(steps, Step::ALL);
        let recorded = store.get_card(issued.card_id).unwrap();
        assert_eq!(recorded.fields.cardholder_id, cardholder);
        assert_eq!(
            recorded.fields.contact_uid.as_deref(),
            Some("04010203040506")
        );
        let reading = issue::read_and_verify(
            &mut SimTransport::insert(card, Faults::default()),
            &setup.trusted,
            TODAY,
        )
        .unwrap();
        let verified = reading.verdict.unwrap();
        assert_eq!(verified.data.surnames, ["Wiśniewska"]);
        assert_eq!(verified.data.album_number, "100233");
    }

    #[test]
    fn a_doctoral_or_staff_holder_gets_an_eld_or_eln_card_not_a_students() {
        let (mut store, _) = store();
        let anna = session(OperatorRole::Operator);
        for (n, profile, expected) in [
            (1u8, Some("ELD"), CardType::Phd),
            (2, Some("eln"), CardType::Staff),
            (3, Some("staff"), CardType::Staff),
            (4, None, CardType::Student),
        ] {
            let person = PersonFields {
                person_number: None,
                first_name: "Łucja".into(),
                middle_name: None,
                last_name: "Nowak".into(),
                birth_date: date!(2002 - 07 - 08),
                phone_number: None,
                mobile_number: None,
                album_number: Some(format!("d{n}")),
                pesel: Some("02270803624".into()),
            };
            let (_, holder) = store.create_person_with_cardholder(&person).unwrap();
            let mut fields = store.get_cardholder(holder).unwrap().fields;
            fields.profile = profile.map(str::to_owned);
            store.update_cardholder(holder, &fields).unwrap();
            let card = blank_card(&[0x04, 0xD0, n, 3, 4, 5, 6]);
            let issued = issue_onto(&anna, card, &mut store, &request(holder)).unwrap();
            assert_eq!(
                store.get_card(issued.card_id).unwrap().fields.card_type,
                expected,
                "{profile:?}"
            );
        }
    }

    #[test]
    fn the_card_ordered_for_the_holder_gets_the_chip_and_is_no_duplicate() {
        let (mut store, _) = store();
        let person = &store.search_people("pawlowska", 1).unwrap()[0];
        let holder = store.cardholders_of_person(person.id).unwrap()[0].id;
        let ordered = store.cards_of_cardholder(holder).unwrap()[0].clone();
        assert_eq!(ordered.fields.status, CardStatus::InProduction);
        let issued = issue_onto(
            &session(OperatorRole::Operator),
            blank_card(&[4, 8, 8, 8, 8, 8, 8]),
            &mut store,
            &request(holder),
        )
        .unwrap();
        assert_eq!(issued.card_id, ordered.id);
        assert_eq!(issued.desfire, DesfireOutcome::NotWritten);
        let recorded = store.get_card(ordered.id).unwrap().fields;
        assert_eq!(recorded.contact_uid.as_deref(), Some("04080808080808"));
        assert_eq!(recorded.card_number, ordered.fields.card_number);
        assert_eq!(recorded.status, CardStatus::Personalized);
        assert_eq!(store.status().unwrap().cards, DEMO_ORDERED_CARDS);
    }

    #[test]
    fn a_dual_card_pulled_during_the_desfire_step_records_nothing_and_resumes_when_put_back() {
        use crate::card::desfire::DesfireKey;
        use crate::sim::{DesfireCard, DesfireCardState, DualInterfaceCard};

        let (mut store, _) = store();
        let person = &store.search_people("pawlowska", 1).unwrap()[0];
        let holder = store.cardholders_of_person(person.id).unwrap()[0].id;
        let ordered = store.cards_of_cardholder(holder).unwrap()[0].clone();
        let app = crate::config::Profile::demo().desfire.unwrap();
        let keys = IssueKeys::new(
            &app,
            &[0x11; 16],
            &[0x22; 16],
            DesfireKey::des([0; 8]),
            p256::ecdsa::SigningKey::from_slice(&[0x33; 32]).unwrap(),
        )
        .unwrap();
        let setup = DeskSetup {
            desfire: Some(DeskDesfire { app, keys }),
            ..setup()
        };
        let uid = [4, 0xD1, 0xA1, 0, 0, 0, 1];
        let key = setup.card_key.for_card(&uid).unwrap();
        let card = shared(DualInterfaceCard::new(
            ElsCard::new(ElsCardState::personalised(&uid, &key)),
            DesfireCard::new(DesfireCardState::blank(&uid)),
        ));
        let operator = session(OperatorRole::Operator);
        let issue = |store: &mut Store, contactless_faults: Faults, request: &IssueRequest| {
            issue_card(
                &operator,
                &mut SimTransport::insert(card.clone(), Faults::default()),
                Some(&mut SimTransport::insert(card.clone(), contactless_faults)),
                store,
                &setup,
                request,
                TODAY,
                &mut |_| {},
            )
        };
        let torn = Faults {
            tear_after: Some(6),
            ..Faults::default()
        };
        let err = issue(&mut store, torn, &request(holder)).unwrap_err();
        assert!(matches!(err, DeskError::Desfire(_)), "{err}");
        assert!(err.card_removed(), "{err}");
        assert!(err.next_step().contains("put the card back"), "{err}");
        assert_eq!(
            store.get_card(ordered.id).unwrap().fields,
            ordered.fields,
            "nothing recorded"
        );

        let resume = IssueRequest {
            expected_uid: Some(uid.to_vec()),
            ..request(holder)
        };
        let issued = issue(&mut store, Faults::default(), &resume).unwrap();
        assert_eq!(issued.card_id, ordered.id);
        assert_eq!(
            issued.desfire,
            DesfireOutcome::Issued {
                contactless_uid: uid.to_vec()
            }
        );
        let recorded = store.get_card(ordered.id).unwrap().fields;
        assert!(recorded.desfire_issued);
        assert_eq!(recorded.contactless_uid.as_deref(), Some("04D1A100000001"));
        assert_eq!(recorded.contact_uid.as_deref(), Some("04D1A100000001"));
    }

    #[test]
    fn a_printer_cannot_issue_and_nothing_is_written() {
        let (mut store, cardholder) = store();
        let card = blank_card(&[0x04, 1, 2, 3, 4, 5, 6]);
        let err = issue_onto(
            &session(OperatorRole::Printer),
            card.clone(),
            &mut store,
            &request(cardholder),
        )
        .unwrap_err();
        assert!(matches!(err, DeskError::Denied(_)), "{err}");
        assert!(is_empty(&card));
        assert_eq!(store.status().unwrap().cards, DEMO_ORDERED_CARDS);
    }

    #[test]
    fn a_kiosk_session_cannot_block_and_a_desk_operator_can() {
        let (mut store, cardholder) = store();
        let issued = issue_onto(
            &session(OperatorRole::Operator),
            blank_card(&[4, 9, 9, 9, 9, 9, 9]),
            &mut store,
            &request(cardholder),
        )
        .unwrap();
        let kiosk = Session {
            station: Role::Kiosk,
            ..session(OperatorRole::Admin)
        };
        assert!(set_blocked(&kiosk, &mut store, issued.card_id, true, "lost").is_err());
        let printer = session(OperatorRole::Printer);
        assert!(set_blocked(&printer, &mut store, issued.card_id, true, "lost").is_err());
        let operator = session(OperatorRole::Operator);
        set_blocked(&operator, &mut store, issued.card_id, true, "lost").unwrap();
        assert_eq!(
            store.get_card(issued.card_id).unwrap().fields.status,
            CardStatus::Blocked
        );
    }

    #[test]
    fn a_second_card_needs_a_reason_and_a_lost_one_is_blocked() {
        let (mut store, cardholder) = store();
        let operator = session(OperatorRole::Operator);
        let first = issue_onto(
            &operator,
            blank_card(&[4, 1, 1, 1, 1, 1, 1]),
            &mut store,
            &request(cardholder),
        )
        .unwrap();
        let second_card = blank_card(&[4, 2, 2, 2, 2, 2, 2]);
        let err = issue_onto(
            &operator,
            second_card.clone(),
            &mut store,
            &request(cardholder),
        )
        .unwrap_err();
        assert!(
            matches!(err, DeskError::NeedsDuplicateReason { card_id } if card_id == first.card_id),
            "{err}"
        );
        assert!(is_empty(&second_card));
        let duplicate = IssueRequest {
            duplicate: Some(DuplicateReason::Lost),
            ..request(cardholder)
        };
        issue_onto(&operator, second_card, &mut store, &duplicate).unwrap();
        assert_eq!(
            store.get_card(first.card_id).unwrap().fields.status,
            CardStatus::Blocked
        );
    }

    #[test]
    fn a_card_pulled_mid_write_is_reported_for_resuming_and_a_different_card_is_refused() {
        let (mut store, cardholder) = store();
        let setup = setup();
        let operator = session(OperatorRole::Operator);
        let uid = [4, 3, 3, 3, 3, 3, 3];
        let card = blank_card(&uid);
        let torn = Faults {
            tear_after: Some(4),
            ..Faults::default()
        };
        let err = issue_card(
            &operator,
            &mut SimTransport::insert(card.clone(), torn),
            None,
            &mut store,
            &setup,
            &request(cardholder),
            TODAY,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.card_removed(), "{err}");
        assert_eq!(
            store.status().unwrap().cards,
            DEMO_ORDERED_CARDS,
            "nothing recorded"
        );
        let resume = IssueRequest {
            expected_uid: Some(uid.to_vec()),
            ..request(cardholder)
        };
        let other = blank_card(&[4, 7, 7, 7, 7, 7, 7]);
        let err = issue_onto(&operator, other, &mut store, &resume).unwrap_err();
        assert!(
            matches!(err, DeskError::Issue(IssueError::WrongCard { .. })),
            "{err}"
        );
        issue_onto(&operator, card, &mut store, &resume).unwrap();
        assert_eq!(store.status().unwrap().cards, DEMO_ORDERED_CARDS + 1);
    }

    #[test]
    fn a_reader_unplugged_mid_write_says_so_records_nothing_and_the_same_card_is_finished() {
        let setup = setup();
        let operator = session(OperatorRole::Operator);
        let uid = [4, 5, 5, 5, 5, 5, 5];
        // The APDUs of a whole issuance, counted on a card of the same kind.
        let all = {
            let (mut store, cardholder) = store();
            let mut counted = SimTransport::insert(blank_card(&uid), Faults::default());
            let request = request(cardholder);
            issue_card(
                &operator,
                &mut counted,
                None,
                &mut store,
                &setup,
                &request,
                TODAY,
                &mut |_| {},
            )
            .unwrap();
            counted.answered()
        };
        let mut unplugged_mid_write = 0;
        for unplug_after in 0..all {
            let (mut store, cardholder) = store();
            let before = store.status().unwrap();
            let card = blank_card(&uid);
            let unplugged = Faults {
                unplug_after: Some(unplug_after),
                ..Faults::default()
            };
            let mut writing = false;
            let err = issue_card(
                &operator,
                &mut SimTransport::insert(card.clone(), unplugged),
                None,
                &mut store,
                &setup,
                &request(cardholder),
                TODAY,
                &mut |step| writing |= step == Step::Write,
            )
            .unwrap_err();
            let failure = Failure::of(&err);
            assert!(
                failure.cause.contains("was disconnected") && !failure.cause.contains("removed"),
                "unplugged after {unplug_after}: {failure:?}"
            );
            assert!(!err.card_removed(), "{err}");
            if writing {
                unplugged_mid_write += 1;
                assert_eq!(
                    err.reader_gone_during_write(),
                    Some(crate::sim::SIM_READER),
                    "unplugged after {unplug_after}: {err}"
                );
                assert!(
                    failure
                        .cause
                        .contains("during the write; the card may be half written")
                        && failure.next_step.contains("plug the reader back in"),
                    "{failure:?}"
                );
            }
            let after = store.status().unwrap();
            assert_eq!(
                (after.cards, after.outbox_pending),
                (before.cards, before.outbox_pending),
                "unplugged after {unplug_after}: nothing recorded"
            );
            // Plugged back in with the same card: checked, then finished or rewritten.
            let resume = IssueRequest {
                expected_uid: Some(uid.to_vec()),
                ..request(cardholder)
            };
            issue_onto(&operator, card, &mut store, &resume)
                .unwrap_or_else(|err| panic!("after an unplug at {unplug_after}: {err}"));
            assert_eq!(store.status().unwrap().cards, before.cards + 1);
        }
        assert!(unplugged_mid_write > 0, "some unplug fell inside the write");
    }

    #[test]
    fn prolonging_refuses_a_chip_that_is_not_the_chosen_card_and_writes_nothing() {
        let (mut store, cardholder) = store();
        let other_holder = {
            let person = &store.search_people("kowalska", 1).unwrap()[0];
            store.cardholders_of_person(person.id).unwrap()[0].id
        };
        let operator = session(OperatorRole::Operator);
        let setup = setup();
        let issue = |card: &SharedCard, store: &mut Store, holder: i64| {
            issue_card(
                &operator,
                &mut SimTransport::insert(card.clone(), Faults::default()),
                None,
                store,
                &setup,
                &request(holder),
                TODAY,
                &mut |_| {},
            )
            .unwrap()
        };
        let (chosen_card, other_card) = (
            blank_card(&[4, 5, 5, 5, 5, 5, 5]),
            blank_card(&[4, 6, 6, 6, 6, 6, 6]),
        );
        let chosen = issue(&chosen_card, &mut store, cardholder);
        let other = issue(&other_card, &mut store, other_holder);
        let on_chip = |card: &SharedCard| {
            issue::read_and_verify(
                &mut SimTransport::insert(card.clone(), Faults::default()),
                &setup.trusted,
                TODAY,
            )
            .unwrap()
            .structure
        };
        let before = on_chip(&other_card);
        let later = date!(2027 - 10 - 31);

        let err = prolong_card(
            &operator,
            &mut SimTransport::insert(other_card.clone(), Faults::default()),
            &mut store,
            &setup,
            chosen.card_id,
            later,
            None,
            TODAY,
        )
        .unwrap_err();
        assert!(
            matches!(&err, DeskError::NotTheChosenCard { on_reader, .. } if *on_reader == "04060606060606"),
            "{err}"
        );
        assert_eq!(
            on_chip(&other_card),
            before,
            "nothing written to the other card"
        );
        for card in [&chosen, &other] {
            assert_eq!(
                store.get_card(card.card_id).unwrap().fields.expires,
                Some(card.expires),
                "the register is unchanged"
            );
        }

        // The chosen card itself is prolonged.
        let prolonged = prolong_card(
            &operator,
            &mut SimTransport::insert(chosen_card, Faults::default()),
            &mut store,
            &setup,
            chosen.card_id,
            later,
            None,
            TODAY,
        )
        .unwrap();
        assert_eq!(
            (prolonged.card_id, prolonged.expires),
            (chosen.card_id, later)
        );
        assert_eq!(
            store.get_card(chosen.card_id).unwrap().fields.expires,
            Some(later)
        );
    }

    #[test]
    fn a_prolongation_takes_its_sticker_only_once_the_chip_is_written() {
        let (mut store, cardholder) = store();
        let operator = session(OperatorRole::Operator);
        let setup = setup();
        let chip = blank_card(&[4, 7, 1, 7, 1, 7, 1]);
        let issued = issue_card(
            &operator,
            &mut SimTransport::insert(chip.clone(), Faults::default()),
            None,
            &mut store,
            &setup,
            &request(cardholder),
            TODAY,
            &mut |_| {},
        )
        .unwrap();
        store.add_holograms(500, 502, "anna").unwrap();
        store.start_batch("piotr", 1).unwrap(); // reserves 500
        let later = date!(2027 - 10 - 31);
        let on_chip = || {
            issue::read_and_verify(
                &mut SimTransport::insert(chip.clone(), Faults::default()),
                &setup.trusted,
                TODAY,
            )
            .unwrap()
            .verdict
            .unwrap()
            .data
            .expires
        };
        let prolong = |store: &mut Store, setup: &DeskSetup, new_expiry, hologram| {
            prolong_card(
                &operator,
                &mut SimTransport::insert(chip.clone(), Faults::default()),
                store,
                setup,
                issued.card_id,
                new_expiry,
                hologram,
                TODAY,
            )
        };

        // A sticker not in stock, one a batch reserved, or an expiry too early: nothing written.
        for (hologram, new_expiry, why) in [
            (
                Some(999),
                later,
                "sticker 999 is not in this station's hologram stock",
            ),
            (Some(500), later, "sticker 500 is reserved by print batch"),
            (
                Some(501),
                date!(2026 - 11 - 01),
                "the new expiry 2026-11-01 is in the past",
            ),
            (
                Some(501),
                issued.expires,
                "is not after the card's current expiry",
            ),
        ] {
            let err = prolong(&mut store, &setup, new_expiry, hologram).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
            assert!(err.to_string().ends_with("nothing was written"), "{err}");
            assert_eq!(on_chip(), issued.expires);
        }

        // The chip refuses the write (another card key): the sticker stays in stock.
        let wrong_key = DeskSetup {
            signer: Signer {
                key: setup.signer.key.clone(),
                certificate: setup.signer.certificate.clone(),
            },
            trusted: setup.trusted.clone(),
            card_key: CardKey::Master {
                algorithm: KeyAlgorithm::Aes128,
                master: zeroize::Zeroizing::new(vec![0x43; 16]),
                system_id: b"ELS".to_vec(),
            },
            ..self::setup()
        };
        prolong(&mut store, &wrong_key, later, Some(501)).unwrap_err();
        assert_eq!(on_chip(), issued.expires);
        assert_eq!(
            store.hologram_refused(501).unwrap(),
            None,
            "501 is still free"
        );
        assert_eq!(store.hologram_stock().unwrap().free_count(), 2);

        // Written: the expiry on the chip and in the store, the sticker on the card, audited.
        prolong(&mut store, &setup, later, Some(501)).unwrap();
        assert_eq!(on_chip(), later);
        assert_eq!(
            store.get_card(issued.card_id).unwrap().fields.expires,
            Some(later)
        );
        assert_eq!(store.hologram_on_card(issued.card_id).unwrap(), Some(501));
        assert_eq!(store.hologram_stock().unwrap().free, [(502, 502)]);
        let audit = &store.audit_entries("card.prolong", 1).unwrap()[0];
        assert_eq!(audit.subject, format!("card:{}", issued.card_id));
        assert!(
            audit.details.contains("\"hologram\":501"),
            "{}",
            audit.details
        );

        // The same sticker a second time is refused, the chip left as it is.
        let err = prolong(&mut store, &setup, date!(2028 - 03 - 31), Some(501)).unwrap_err();
        assert!(
            matches!(
                err,
                DeskError::Hologram(HologramRefused::OnCard { number: 501, .. })
            ),
            "{err}"
        );
        assert_eq!(on_chip(), later);
    }
}
