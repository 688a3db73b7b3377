//! ELS issuance and prolongation as plain logic over a card transport: read the UID, take the
//! data, sign it (or take the server's signed structure), write, read back and verify. A card
//! counts as issued only when what is on it verifies against the chip it sits on.

use der::{Decode, Encode};
use p256::ecdsa::SigningKey;
use time::{Date, Month};
use x509_cert::Certificate;

use crate::card::els::{self, CardKey, ElsCardError};
use crate::card::{ChipSerial, Transport, TransportError, read_chip_serial};
use crate::crypto::diversify::DiversifyError;
use crate::crypto::els_sig::{
    self, Certificates, ElsData, Revoked, SignError, VerifiedEls, VerifyError, VerifyOptions,
};
use crate::error::Problem;
use crate::store::{Card, CardStatus, NewCard, Store, StoreError, UidKind};

/// The local signer: the authorised person's (or the university seal's) key and certificate.
pub struct Signer {
    pub key: SigningKey,
    pub certificate: Certificate,
}

impl Signer {
    /// Signs `data` as an EF.ELS structure, its certificate placed as `certificates` says.
    pub fn sign(
        &self,
        data: &ElsData,
        certificates: Certificates,
        today: Date,
    ) -> Result<Vec<u8>, SignError> {
        els_sig::sign(data, &self.key, &self.certificate, certificates, today)
    }
}

/// What goes onto the card.
pub enum ElsSource<'a> {
    /// Sign locally; `chip_serial` is taken from the card (and must match if already set).
    Sign { data: ElsData, signer: &'a Signer },
    /// The server's ready-signed structure and certificate (USOS `student_card_data`).
    Signed {
        structure: Vec<u8>,
        certificate: Option<Vec<u8>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Card(#[from] ElsCardError),
    #[error(
        "this is not the card the data is for: the data names chip {data}, the card is chip {card}"
    )]
    WrongCard { card: String, data: String },
    #[error("the card data cannot be signed: {0}")]
    Sign(#[from] SignError),
    #[error("the card's write key cannot be derived: {0}")]
    Key(#[from] DiversifyError),
    #[error("the card was written but what it holds does not verify: {0}")]
    NotVerified(VerifyError),
    #[error("the card was written but reads back different bytes")]
    ReadBackMismatch,
    #[error("the certificate cannot be encoded: {0}")]
    Certificate(String),
    /// The reader went away once writing had begun: the card holds part of the new data.
    #[error(
        "the reader \"{reader}\" was disconnected during the write; the card may be half written"
    )]
    ReaderGoneDuringWrite { reader: String },
}

impl IssueError {
    /// The card left the reader mid-way: putting it back resumes the issuance.
    pub fn card_removed(&self) -> bool {
        matches!(
            self,
            IssueError::Card(ElsCardError::Transport(
                TransportError::CardRemoved | TransportError::CardReset
            ))
        )
    }
}

impl Problem for IssueError {
    fn next_step(&self) -> &'static str {
        match self {
            IssueError::Card(err) => err.next_step(),
            IssueError::WrongCard { .. } => "put the right student's card on the reader",
            IssueError::Sign(_) => "correct the cardholder's data",
            IssueError::Key(_) => "check the card key in the profile",
            IssueError::NotVerified(_) | IssueError::ReadBackMismatch => {
                "write the card again; if it repeats, the card is faulty: issue a duplicate"
            }
            IssueError::Certificate(_) => "check the signer certificate",
            IssueError::ReaderGoneDuringWrite { .. } => {
                "plug the reader back in and issue again with the same card on it: the card is checked, then finished or rewritten"
            }
        }
    }
}

impl From<TransportError> for IssueError {
    fn from(err: TransportError) -> Self {
        IssueError::Card(ElsCardError::Transport(err))
    }
}

/// An issued (or prolonged) card, verified on the chip.
#[derive(Debug)]
pub struct Issued {
    pub uid: Vec<u8>,
    pub verified: VerifiedEls,
}

pub fn chip_serial(uid: &[u8]) -> String {
    hex::encode_upper(uid)
}

/// Student cards run to the end of a semester: 31 March or 31 October, whichever comes
/// next (and not within a week, so a card issued on 28 March does not expire at once).
pub fn default_expiry(today: Date) -> Date {
    let soon = today + time::Duration::days(7);
    let year = soon.year();
    [
        (year, Month::March),
        (year, Month::October),
        (year + 1, Month::March),
    ]
    .into_iter()
    .map(|(year, month)| Date::from_calendar_date(year, month, 31).expect("a real date"))
    .find(|end| *end >= soon)
    .expect("31 March next year is always later")
}

/// The steps of an issuance, in order, as the desk shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    ReadUid,
    TakeData,
    Sign,
    Write,
    Verify,
    Record,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::ReadUid,
        Step::TakeData,
        Step::Sign,
        Step::Write,
        Step::Verify,
        Step::Record,
    ];
}

/// Issues an ELS onto the card: UID, data, sign, write (EF.CERT then EF.ELS), read back, verify.
pub fn issue<T: Transport + ?Sized>(
    card: &mut T,
    source: ElsSource<'_>,
    card_key: &CardKey,
    trusted: &[Certificate],
    today: Date,
) -> Result<Issued, IssueError> {
    issue_with_progress(card, source, card_key, trusted, today, &mut |_| {})
}

/// [`issue`], telling `progress` as each step starts (sign, write, verify).
pub fn issue_with_progress<T: Transport + ?Sized>(
    card: &mut T,
    source: ElsSource<'_>,
    card_key: &CardKey,
    trusted: &[Certificate],
    today: Date,
    progress: &mut dyn FnMut(Step),
) -> Result<Issued, IssueError> {
    let uid = els::serial_to_bind(card)?;
    let serial = chip_serial(&uid);
    let (structure, certificate) = match source {
        ElsSource::Sign { mut data, signer } => {
            if !data.chip_serial.is_empty() && !data.chip_serial.eq_ignore_ascii_case(&serial) {
                return Err(IssueError::WrongCard {
                    card: serial,
                    data: data.chip_serial,
                });
            }
            data.chip_serial = serial.clone();
            progress(Step::Sign);
            let structure = signer.sign(&data, Certificates::InEfCert, today)?;
            let certificate = signer
                .certificate
                .to_der()
                .map_err(|e| IssueError::Certificate(e.to_string()))?;
            (structure, Some(certificate))
        }
        ElsSource::Signed {
            structure,
            certificate,
        } => (structure, certificate),
    };
    let key = card_key.for_card(&uid)?;
    progress(Step::Write);
    let verified = els::write(card, Some(&key), &structure, certificate.as_deref())
        .map_err(IssueError::from)
        .and_then(|()| {
            tracing::info!(chip = %serial, els_bytes = structure.len(), "issue: ELS written, reading back");
            progress(Step::Verify);
            read_back(card, &uid, &structure, trusted, today)
        })
        .map_err(during_write)?;
    tracing::info!(chip = %serial, expires = %verified.data.expires, "issue: card verified on the chip");
    Ok(Issued { uid, verified })
}

/// Prolongs a card: reads and verifies what is on it, then rewrites EF.ELS with the same data
/// and a new expiry date, signed now. The certificate on the card stays.
pub fn prolong<T: Transport + ?Sized>(
    card: &mut T,
    signer: &Signer,
    card_key: &CardKey,
    new_expiry: Date,
    trusted: &[Certificate],
    today: Date,
) -> Result<Issued, IssueError> {
    let reading = read_and_verify(card, trusted, today)?;
    let current = match reading.verdict {
        Ok(verified) => verified.data,
        // An expired card is exactly what prolongation is for; anything else is refused.
        Err(VerifyError::Expired(_)) => {
            els_sig::decode_unverified(&reading.structure).map_err(IssueError::NotVerified)?
        }
        Err(err) => return Err(IssueError::NotVerified(err)),
    };
    let uid = reading
        .chip
        .bytes()
        .ok_or(ElsCardError::NoChipSerial)?
        .to_vec();
    let data = ElsData {
        expires: new_expiry,
        ..current
    };
    let structure = signer.sign(&data, Certificates::InEfCert, today)?;
    let key = card_key.for_card(&uid)?;
    let verified = els::write(card, Some(&key), &structure, None)
        .map_err(IssueError::from)
        .and_then(|()| read_back(card, &uid, &structure, trusted, today))
        .map_err(during_write)?;
    tracing::info!(chip = %chip_serial(&uid), expires = %new_expiry, "prolong: card verified on the chip");
    Ok(Issued { uid, verified })
}

/// A reader that went away once writing began leaves a card that may hold part of the new
/// data: the operator is told so, rather than only that the reader is gone.
fn during_write(err: IssueError) -> IssueError {
    match err {
        IssueError::Card(ElsCardError::Transport(TransportError::ReaderGone(reader))) => {
            IssueError::ReaderGoneDuringWrite { reader }
        }
        other => other,
    }
}

fn read_back<T: Transport + ?Sized>(
    card: &mut T,
    uid: &[u8],
    written: &[u8],
    trusted: &[Certificate],
    today: Date,
) -> Result<VerifiedEls, IssueError> {
    let reading = read_and_verify(card, trusted, today)?;
    let on_card = reading.chip.bytes().ok_or(ElsCardError::NoChipSerial)?;
    if on_card != uid {
        return Err(IssueError::WrongCard {
            card: chip_serial(on_card),
            data: chip_serial(uid),
        });
    }
    if reading.structure != written {
        return Err(IssueError::ReadBackMismatch);
    }
    reading.verdict.map_err(IssueError::NotVerified)
}

/// The ELS data for a cardholder in the store: names, album number and PESEL from the
/// person, the rest from the issuing office. The chip serial is filled from the card.
pub fn els_data_for(
    store: &Store,
    cardholder_id: i64,
    university: &str,
    edition: &str,
    expires: Date,
) -> Result<ElsData, CardholderRecordError> {
    let cardholder = store.get_cardholder(cardholder_id)?;
    let person_id = cardholder
        .fields
        .person_id
        .ok_or(CardholderRecordError::Incomplete {
            cardholder_id,
            missing: "a person",
        })?;
    let person = store.get_person(person_id)?.fields;
    let given_names = std::iter::once(person.first_name)
        .chain(person.middle_name)
        .collect();
    Ok(ElsData {
        chip_serial: String::new(),
        university: university.to_owned(),
        surnames: vec![person.last_name],
        given_names,
        album_number: person
            .album_number
            .ok_or(CardholderRecordError::Incomplete {
                cardholder_id,
                missing: "an album number",
            })?,
        edition: edition.to_owned(),
        pesel: person.pesel.ok_or(CardholderRecordError::Incomplete {
            cardholder_id,
            missing: "a PESEL",
        })?,
        expires,
    })
}

/// The cardholder's record in the store cannot give a card its data, or the card cannot be
/// recorded against it.
#[derive(Debug, thiserror::Error)]
pub enum CardholderRecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cardholder {cardholder_id} has no {missing}: the card cannot carry it")]
    Incomplete {
        cardholder_id: i64,
        missing: &'static str,
    },
    /// The chip on the reader is registered on another holder's card: it is not written over.
    #[error("chip {chip} belongs to cardholder {owner}, not {cardholder_id}")]
    ForeignChip {
        chip: String,
        owner: i64,
        cardholder_id: i64,
    },
}

impl Problem for CardholderRecordError {
    fn next_step(&self) -> &'static str {
        match self {
            CardholderRecordError::Store(err) => err.next_step(),
            CardholderRecordError::Incomplete { .. } => "complete the cardholder's record first",
            CardholderRecordError::ForeignChip { .. } => {
                "take the card off the reader and put on a blank one for this holder"
            }
        }
    }
}

/// The holder's card the chip on the reader belongs to: the newest card not stopped that is
/// already recorded with this contact chip (a re-issue), or else one still without chips (the
/// card ordered and printed for the holder). Its number and barcode go into the DESFire
/// record, and the issuance is recorded on it.
pub fn card_being_issued(
    store: &Store,
    cardholder_id: i64,
    uid: &[u8],
) -> Result<Option<Card>, StoreError> {
    let serial = chip_serial(uid);
    let cards: Vec<Card> = store
        .cards_of_cardholder(cardholder_id)?
        .into_iter()
        .filter(|known| !known.fields.status.refuses_entry())
        .collect();
    let this_chip = cards
        .iter()
        .position(|known| known.fields.contact_uid.as_deref() == Some(serial.as_str()));
    let without_chips = || {
        cards.iter().position(|known| {
            known.fields.contact_uid.is_none() && known.fields.contactless_uid.is_none()
        })
    };
    Ok(this_chip
        .or_else(without_chips)
        .map(|index| cards[index].clone()))
}

/// Records a card verified on its chip: on the holder's card being issued (see
/// [`card_being_issued`]: the card printed for them, or this chip's own row), else as a new
/// personalised card of the cardholder, with its audit and outbox rows, in one transaction.
/// Called only after [`issue`] or [`prolong`] succeeded, so a torn card is never recorded as
/// issued.
pub fn record_issued(
    store: &mut Store,
    cardholder_id: i64,
    issued: &Issued,
    operator: &str,
) -> Result<i64, CardholderRecordError> {
    let card = NewCard {
        cardholder_id,
        card_number: None,
        barcode: None,
        card_type: store.card_type_for(cardholder_id)?,
        contact_uid: Some(chip_serial(&issued.uid)),
        contactless_uid: None,
        chip_serial_number: Some(issued.verified.data.chip_serial.clone()),
        status: CardStatus::Personalized,
        expires: Some(issued.verified.data.expires),
        desfire_issued: false,
    };
    record_chips(store, &issued.uid, card, operator)
}

/// Records `chips`, issued onto the contact chip `uid`, on the holder's card being issued
/// (its number and barcode stay), else as a new card. A chip known for someone else is
/// refused.
pub fn record_chips(
    store: &mut Store,
    uid: &[u8],
    chips: NewCard,
    operator: &str,
) -> Result<i64, CardholderRecordError> {
    match card_being_issued(store, chips.cardholder_id, uid)? {
        // A rewrite of a recorded chip that adds no DESFire application keeps the row as it is.
        Some(card) if card.fields.contact_uid == chips.contact_uid && !chips.desfire_issued => {
            Ok(card.id)
        }
        Some(card) => {
            refuse_foreign_chip(store, UidKind::Contact, uid, chips.cardholder_id)?;
            store.record_card_chips(card.id, &chips, operator)?;
            Ok(card.id)
        }
        None => record_card(store, UidKind::Contact, uid, chips, operator),
    }
}

fn refuse_foreign_chip(
    store: &Store,
    kind: UidKind,
    uid: &[u8],
    cardholder_id: i64,
) -> Result<Option<Card>, CardholderRecordError> {
    let known = store.find_card_by_uid(kind, uid)?;
    if let Some(known) = known
        .as_ref()
        .filter(|k| k.fields.cardholder_id != cardholder_id)
    {
        return Err(CardholderRecordError::ForeignChip {
            chip: chip_serial(uid),
            owner: known.fields.cardholder_id,
            cardholder_id,
        });
    }
    Ok(known)
}

/// Records a card whose chip `uid` (of `kind`) was just written and verified, unless that
/// chip is already known for the same cardholder. A chip known for someone else is refused.
pub fn record_card(
    store: &mut Store,
    kind: UidKind,
    uid: &[u8],
    card: NewCard,
    operator: &str,
) -> Result<i64, CardholderRecordError> {
    if let Some(known) = refuse_foreign_chip(store, kind, uid, card.cardholder_id)? {
        return Ok(known.id);
    }
    Ok(store.insert_card(&card, operator)?)
}

/// After a prolongation verified on the chip: the register's card with that contact chip
/// takes the chip's new expiry (with its audit and outbox rows), so the kiosk and the
/// server see it too, and `hologram` leaves the stock for it. A chip this store does not
/// know is left alone (`None`), unless a sticker is to be recorded on its card: refused.
pub fn record_prolonged(
    store: &mut Store,
    prolonged: &Issued,
    hologram: Option<i64>,
    operator: &str,
) -> Result<Option<i64>, StoreError> {
    let Some(card) = store.find_card_by_uid(UidKind::Contact, &prolonged.uid)? else {
        return match hologram {
            None => Ok(None),
            Some(number) => Err(StoreError::Invalid(format!(
                "chip {} is not in the register, so sticker {number} cannot be recorded on its card",
                chip_serial(&prolonged.uid)
            ))),
        };
    };
    store.record_prolongation(card.id, prolonged.verified.data.expires, hologram, operator)?;
    Ok(Some(card.id))
}

/// What a verdict adds when the reader and the card gave no chip serial to compare with the
/// one the data names.
pub const CHIP_NOT_CHECKED: &str = "chip binding not checked (the reader gave no chip serial)";

/// A card's ELS as read, with the verification verdict.
#[derive(Debug)]
pub struct Reading {
    /// The serial of the chip the ELS was read from; when unavailable, the verdict did not
    /// check the chip binding ([`CHIP_NOT_CHECKED`]).
    pub chip: ChipSerial,
    pub structure: Vec<u8>,
    pub verdict: Result<VerifiedEls, VerifyError>,
}

/// Reads the chip serial, then EF.ELS, and verifies it against that chip (without the chip
/// binding when there is no serial).
pub fn read_and_verify<T: Transport + ?Sized>(
    card: &mut T,
    trusted: &[Certificate],
    today: Date,
) -> Result<Reading, ElsCardError> {
    let chip = read_chip_serial(card)?;
    // The desk checks what it just wrote against its own signer: revocations are the
    // kiosk's business.
    read_els_and_verify(card, &chip, trusted, &[], today)
}

/// Reads EF.ELS and verifies it against the `chip` it sits on. EF.CERT is read only when
/// the signer's certificate is neither embedded nor among the trusted ones.
pub fn read_els_and_verify<T: Transport + ?Sized>(
    card: &mut T,
    chip: &ChipSerial,
    trusted: &[Certificate],
    revoked: &[Revoked],
    today: Date,
) -> Result<Reading, ElsCardError> {
    let structure = els::read_els(card)?;
    let mut options = VerifyOptions {
        card_cert: None,
        trusted,
        revoked,
        chip_serial: chip.bytes().map(chip_serial),
        today,
        // Certificates are checked at this instant; `today` is the caller's day for the
        // card's own expiry date.
        now: time::OffsetDateTime::now_utc(),
    };
    let mut verdict = els_sig::verify(&structure, &options);
    if matches!(verdict, Err(VerifyError::MissingCertificate))
        && let Some(cert) = els::read_cert(card)?
    {
        options.card_cert =
            Some(
                Certificate::from_der(&cert).map_err(|e| ElsCardError::Malformed {
                    file: "EF.CERT",
                    reason: format!("not an X.509 certificate: {e}"),
                })?,
            );
        verdict = els_sig::verify(&structure, &options);
    }
    Ok(Reading {
        chip: chip.clone(),
        structure,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::diversify::KeyAlgorithm;
    use crate::crypto::test_pki::els_signer;
    use crate::sim::{ElsCard, ElsCardState, Faults, SharedCard, SimTransport, shared};
    use crate::store::CardType;
    use time::macros::date;
    use zeroize::Zeroizing;

    const UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
    const TODAY: Date = date!(2026 - 11 - 22);
    const MASTER: [u8; 16] = [0x42; 16];

    struct Fixture {
        ca: Certificate,
        signer: Signer,
    }

    impl Fixture {
        /// Issues `source` onto `card` with the right card key, trusting the test CA.
        fn issue(&self, card: &SharedCard, source: ElsSource<'_>) -> Result<Issued, IssueError> {
            issue(
                &mut insert(card),
                source,
                &card_key(MASTER),
                std::slice::from_ref(&self.ca),
                TODAY,
            )
        }
    }

    fn fixture() -> Fixture {
        let (ca, key, certificate) = els_signer();
        Fixture {
            ca,
            signer: Signer { key, certificate },
        }
    }

    fn card_key(master: [u8; 16]) -> CardKey {
        CardKey::Master {
            algorithm: KeyAlgorithm::Aes128,
            master: Zeroizing::new(master.to_vec()),
            system_id: b"ELS".to_vec(),
        }
    }

    fn personalised_card() -> SharedCard {
        let key = card_key(MASTER).for_card(&UID).unwrap();
        shared(ElsCard::new(ElsCardState::personalised(&UID, &key)))
    }

    fn student(expires: Date) -> ElsData {
        ElsData {
            chip_serial: String::new(),
            university: "Uniwersytet Łódzki".into(),
            surnames: vec!["Żółkiewska".into()],
            given_names: vec!["Anna".into(), "Maria".into()],
            album_number: "123456".into(),
            edition: "A".into(),
            pesel: "02070803628".into(),
            expires,
        }
    }

    fn signed(f: &Fixture, expires: Date) -> ElsSource<'_> {
        ElsSource::Sign {
            data: student(expires),
            signer: &f.signer,
        }
    }

    fn insert(card: &SharedCard) -> SimTransport {
        SimTransport::insert(card.clone(), Faults::default())
    }

    #[test]
    fn cards_run_to_the_end_of_the_semester() {
        assert_eq!(default_expiry(date!(2026 - 11 - 22)), date!(2027 - 03 - 31));
        assert_eq!(default_expiry(date!(2026 - 01 - 10)), date!(2026 - 03 - 31));
        assert_eq!(default_expiry(date!(2026 - 03 - 28)), date!(2026 - 10 - 31));
        assert_eq!(default_expiry(date!(2026 - 10 - 30)), date!(2027 - 03 - 31));
    }

    /// A reader without extended-length APDUs: it fails the transmission of one, as such
    /// readers do.
    struct ShortApdusOnly(SimTransport);

    impl Transport for ShortApdusOnly {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            if crate::card::apdu::is_extended_encoding(apdu) {
                return Err(TransportError::Protocol("extended APDU".into()));
            }
            self.0.transmit(apdu)
        }
        fn atr(&self) -> &[u8] {
            self.0.atr()
        }
        fn reconnect(&mut self) -> Result<(), TransportError> {
            self.0.reconnect()
        }
    }

    #[test]
    fn a_contact_card_is_issued_and_read_with_short_apdus_only() {
        let f = fixture();
        let blank = ElsCardState::blank(&UID).on_contact_reader(crate::sim::SimSerial::Cplc);
        let serial = blank.chip_serial().unwrap();
        let key = card_key(MASTER).for_card(&serial).unwrap();
        let card = shared(ElsCard::new(ElsCardState {
            write_key: ElsCardState::personalised(&UID, &key).write_key,
            ..blank
        }));
        let mut reader = ShortApdusOnly(insert(&card));
        let issued = issue(
            &mut reader,
            signed(&f, date!(2027 - 03 - 31)),
            &card_key(MASTER),
            std::slice::from_ref(&f.ca),
            TODAY,
        )
        .unwrap();
        assert_eq!(issued.uid, serial);
        assert_eq!(issued.verified.data.chip_serial, hex::encode_upper(&serial));
        let reading = read_and_verify(&mut reader, std::slice::from_ref(&f.ca), TODAY).unwrap();
        assert!(reading.verdict.is_ok());
        assert_eq!(reading.chip.bytes(), Some(&serial[..]));
    }

    #[test]
    fn issues_and_reads_back_a_valid_card() {
        let f = fixture();
        let card = personalised_card();
        let issued = f.issue(&card, signed(&f, date!(2027 - 03 - 31))).unwrap();
        assert_eq!(issued.uid, UID);
        assert_eq!(issued.verified.data.chip_serial, "04A1B2C3D4E5F6");
        assert_eq!(issued.verified.data.surnames, ["Żółkiewska"]);
        let reading =
            read_and_verify(&mut insert(&card), std::slice::from_ref(&f.ca), TODAY).unwrap();
        assert_eq!(reading.verdict.unwrap().data.expires, date!(2027 - 03 - 31));
    }

    #[test]
    fn the_wrong_card_key_writes_nothing() {
        let f = fixture();
        let card = personalised_card();
        let source = signed(&f, date!(2027 - 03 - 31));
        let err = issue(
            &mut insert(&card),
            source,
            &card_key([0x13; 16]),
            std::slice::from_ref(&f.ca),
            TODAY,
        )
        .unwrap_err();
        assert!(
            matches!(err, IssueError::Card(ElsCardError::KeyRefused)),
            "{err}"
        );
        assert!(
            matches!(els::read_els(&mut insert(&card)), Err(ElsCardError::Empty)),
            "EF.ELS untouched"
        );
    }

    #[test]
    fn data_for_another_chip_is_refused_before_writing() {
        let f = fixture();
        let card = personalised_card();
        let mut data = student(date!(2027 - 03 - 31));
        data.chip_serial = "04000000000001".into();
        let source = ElsSource::Sign {
            data,
            signer: &f.signer,
        };
        let err = f.issue(&card, source).unwrap_err();
        assert!(matches!(err, IssueError::WrongCard { .. }), "{err}");
        assert!(matches!(
            els::read_els(&mut insert(&card)),
            Err(ElsCardError::Empty)
        ));
    }

    #[test]
    fn too_many_wrong_keys_block_the_card() {
        let f = fixture();
        let card = personalised_card();
        let tries = crate::sim::els_card::AUTH_TRIES;
        for attempt in 1..=tries {
            let source = signed(&f, date!(2027 - 03 - 31));
            let err = issue(
                &mut insert(&card),
                source,
                &card_key([0x13; 16]),
                &[],
                TODAY,
            )
            .unwrap_err();
            match attempt == tries {
                false => assert!(
                    matches!(err, IssueError::Card(ElsCardError::KeyRefused)),
                    "{err}"
                ),
                true => assert!(
                    matches!(err, IssueError::Card(ElsCardError::KeyBlocked)),
                    "attempt {attempt}: {err}"
                ),
            }
        }
        let source = signed(&f, date!(2027 - 03 - 31));
        let err = issue(&mut insert(&card), source, &card_key(MASTER), &[], TODAY).unwrap_err();
        assert!(
            matches!(err, IssueError::Card(ElsCardError::KeyBlocked)),
            "even the right key is refused now"
        );
    }

    /// Tears the card at every APDU of an issuance: a torn card never reads as valid, and
    /// issuing again on the same card always succeeds.
    #[test]
    fn a_tear_at_any_apdu_never_leaves_a_valid_card_and_a_rewrite_succeeds() {
        let f = fixture();
        let trusted = [f.ca.clone()];
        let (complete, write_apdus) = {
            let card = personalised_card();
            let mut transport = insert(&card);
            let source = signed(&f, date!(2027 - 03 - 31));
            issue(&mut transport, source, &card_key(MASTER), &trusted, TODAY).unwrap();
            // The same write alone, measured: the UID read plus els::write's APDUs.
            let mut again = insert(&card);
            let structure = els::read_els(&mut again).unwrap();
            let cert = f.signer.certificate.to_der().unwrap();
            let mut writer = insert(&card);
            els::write(
                &mut writer,
                Some(&card_key(MASTER).for_card(&UID).unwrap()),
                &structure,
                Some(&cert),
            )
            .unwrap();
            (transport.answered(), 1 + writer.answered())
        };
        assert!(
            write_apdus < complete,
            "issuance = {write_apdus} write APDUs + read-back, {complete} in all"
        );
        for tear_at in 0..complete {
            let card = personalised_card();
            let mut torn = SimTransport::insert(
                card.clone(),
                Faults {
                    tear_after: Some(tear_at),
                    ..Faults::default()
                },
            );
            let source = signed(&f, date!(2027 - 03 - 31));
            let err = issue(&mut torn, source, &card_key(MASTER), &trusted, TODAY).unwrap_err();
            assert!(
                matches!(
                    err,
                    IssueError::Card(ElsCardError::Transport(TransportError::CardRemoved))
                ),
                "tear at {tear_at}: {err}"
            );
            let after_tear = read_and_verify(&mut insert(&card), &trusted, TODAY);
            let valid = matches!(&after_tear, Ok(Reading { verdict: Ok(_), .. }));
            let write_finished = tear_at >= write_apdus;
            assert!(
                !valid || write_finished,
                "tear at APDU {tear_at} of {complete} left a valid card"
            );
            let source = signed(&f, date!(2027 - 03 - 31));
            issue(
                &mut insert(&card),
                source,
                &card_key(MASTER),
                &trusted,
                TODAY,
            )
            .unwrap_or_else(|err| panic!("rewrite after a tear at {tear_at} failed: {err}"));
        }
    }

    #[test]
    fn ef_cert_is_read_only_when_the_signer_is_not_already_trusted() {
        let f = fixture();
        let card = personalised_card();
        let trusted_ca = std::slice::from_ref(&f.ca);
        f.issue(&card, signed(&f, date!(2027 - 03 - 31))).unwrap();
        let mut via_ca = insert(&card);
        assert!(
            read_and_verify(&mut via_ca, trusted_ca, TODAY)
                .unwrap()
                .verdict
                .is_ok()
        );
        let mut via_signer = insert(&card);
        let trusted_signer = std::slice::from_ref(&f.signer.certificate);
        assert!(
            read_and_verify(&mut via_signer, trusted_signer, TODAY)
                .unwrap()
                .verdict
                .is_ok()
        );
        assert!(
            via_signer.answered() + 3 <= via_ca.answered(),
            "EF.CERT costs a SELECT and its READs"
        );
        let apdus = via_signer.answered();
        assert!(
            apdus <= 6,
            "UID, 2 SELECTs and the READ BINARYs took {apdus} APDUs"
        );
    }

    #[test]
    fn an_issued_card_is_recorded_once_for_its_cardholder() {
        use crate::store::{CardholderFields, PersonFields};
        let f = fixture();
        let mut store = Store::open_in_memory().unwrap();
        let person = PersonFields {
            person_number: None,
            first_name: "Anna".into(),
            middle_name: Some("Maria".into()),
            last_name: "Żółkiewska".into(),
            birth_date: date!(2002 - 07 - 08),
            phone_number: None,
            mobile_number: None,
            album_number: Some("123456".into()),
            pesel: Some("02070803628".into()),
        };
        let person_id = store.create_person(&person).unwrap();
        // A doctoral holder: the card is recorded as an ELD, not as a student's.
        let holder = CardholderFields {
            profile: Some("ELD".into()),
            ..CardholderFields::active(person_id)
        };
        let holder_id = store.create_cardholder(&holder).unwrap();
        let data = els_data_for(
            &store,
            holder_id,
            "Uniwersytet Łódzki",
            "A",
            date!(2027 - 03 - 31),
        )
        .unwrap();
        assert_eq!(data.given_names, ["Anna", "Maria"]);
        let card = personalised_card();
        let source = ElsSource::Sign {
            data,
            signer: &f.signer,
        };
        let issued = f.issue(&card, source).unwrap();
        let audit_before = store.audit_verify().unwrap();
        let card_id = record_issued(&mut store, holder_id, &issued, "anna.operator").unwrap();
        assert_eq!(
            record_issued(&mut store, holder_id, &issued, "anna.operator").unwrap(),
            card_id,
            "a rewrite keeps the row"
        );
        let recorded = store
            .find_card_by_uid(UidKind::Contact, &UID)
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                recorded.fields.status,
                recorded.fields.expires,
                recorded.fields.card_type
            ),
            (
                CardStatus::Personalized,
                Some(date!(2027 - 03 - 31)),
                CardType::Phd
            )
        );
        // Another holder of the same person: the chip stays the first one's.
        let other = store
            .create_cardholder(&CardholderFields::active(person_id))
            .unwrap();
        let foreign = record_issued(&mut store, other, &issued, "x").unwrap_err();
        assert!(
            matches!(
                &foreign,
                CardholderRecordError::ForeignChip { owner, cardholder_id, .. }
                    if *owner == holder_id && *cardholder_id == other
            ),
            "another holder's chip: {foreign}"
        );
        assert!(
            crate::error::Failure::from(foreign)
                .in_polish()
                .0
                .contains(&chip_serial(&UID)),
            "the Polish names the chip"
        );
        assert_eq!(
            store.audit_verify().unwrap(),
            audit_before + 1,
            "the new card is one audit entry"
        );
    }

    #[test]
    fn prolongation_rewrites_the_expiry_and_keeps_the_rest() {
        let f = fixture();
        let card = personalised_card();
        let source = signed(&f, date!(2026 - 12 - 31));
        f.issue(&card, source).unwrap();
        let later = date!(2027 - 01 - 10);
        let prolonged = prolong(
            &mut insert(&card),
            &f.signer,
            &card_key(MASTER),
            date!(2027 - 06 - 30),
            std::slice::from_ref(&f.ca),
            later,
        )
        .unwrap();
        assert_eq!(prolonged.verified.data.expires, date!(2027 - 06 - 30));
        assert_eq!(prolonged.verified.data.given_names, ["Anna", "Maria"]);
    }

    #[test]
    fn small_reads_and_t0_answers_still_read_the_whole_structure() {
        let f = fixture();
        let key = card_key(MASTER).for_card(&UID).unwrap();
        let mut state = ElsCardState::personalised(&UID, &key);
        state.max_response_len = 64;
        state.force_get_response = true;
        let card = shared(ElsCard::new(state));
        let source = signed(&f, date!(2027 - 03 - 31));
        f.issue(&card, source).unwrap();
        assert!(
            read_and_verify(&mut insert(&card), std::slice::from_ref(&f.ca), TODAY)
                .unwrap()
                .verdict
                .is_ok()
        );
    }

    #[test]
    fn an_oversized_structure_is_refused_before_anything_is_written() {
        let f = fixture();
        let key = card_key(MASTER).for_card(&UID).unwrap();
        let mut state = ElsCardState::personalised(&UID, &key);
        state.ef_els = vec![0; 200];
        let card = shared(ElsCard::new(state));
        let source = signed(&f, date!(2027 - 03 - 31));
        let err = f.issue(&card, source).unwrap_err();
        assert!(
            matches!(
                err,
                IssueError::Card(ElsCardError::TooLarge { file: "EF.ELS", .. })
            ),
            "{err}"
        );
        assert!(matches!(
            els::read_els(&mut insert(&card)),
            Err(ElsCardError::Empty)
        ));
    }
}
