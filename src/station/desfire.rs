//! The university application on MIFARE DESFire cards: issuing it at the desk and reading it
//! at the kiosk, as plain logic over a [`Transport`].
//!
//! Application layout (AID, key type, record file from the profile's `[desfire]`):
//!
//! | key | role | diversification slot |
//! |---|---|---|
//! | 0 | application master key: creates the record file, writes the record, changes keys | 0 |
//! | 1 | read key: what the kiosk authenticates with | 1 |
//! | – | record MAC key: never loaded onto a card, so keys read out of one chip cannot forge a record | 2 |
//!
//! Every key is AN10922-diversified from the profile's master key with the input
//! `UID(7) ‖ AID(3, as stored) ‖ system_id ‖ slot(1)`; `cardstation diversify --sysid
//! <system_id><slot>` reproduces it. Keys on the card carry version [`ISSUED_KEY_VERSION`]
//! (default keys have version 0), which tells a re-issue which keys are already changed.
//!
//! The record file is a backup data file (read: key 1; write, read-write, change: key 0), so a
//! write torn before CommitTransaction leaves the previous record. The record is
//! [`RECORD_LEN`] bytes at offset 0: the [`CardRecord`] and its MAC under the record MAC key,
//! laid out as [`crate::card::desfire_record`] shows.

use std::fmt;

use time::{Date, OffsetDateTime};
use zeroize::Zeroizing;

use crate::card::desfire::{
    AccessRights, Aid, Desfire, DesfireError, DesfireKey, FileSpec, status,
};
use crate::card::desfire_record::{MAC_LEN, MAC_OFFSET, RECORD_LEN};
use crate::card::{Counting, Transport, TransportError, read_uid};
use crate::config::{ConfigError, DesfireApp, Secret};
use crate::crypto::block::BlockCipher;
use crate::crypto::diversify::{KeyAlgorithm, diversify};
use crate::error::Problem;

// What `issue` writes and `read` returns, and why a record does not fit: re-exported so their
// callers need not reach into the card layer.
pub use crate::card::desfire_record::{CardRecord, CardRecordError};

/// The version every diversified key is given on the card.
pub const ISSUED_KEY_VERSION: u8 = 1;

const APP_MASTER_KEY: u8 = 0;
const READ_KEY: u8 = 1;
const APP_KEY_COUNT: u8 = 2;
const MAC_KEY_SLOT: u8 = 2;
/// Master key changeable, free directory listing, configuration changeable; creating and
/// deleting files and changing keys need the master key.
const APP_KEY_SETTINGS: u8 = 0x0B;
const DESFIRE_UID_LEN: usize = 7;

/// The master keys of the `[desfire]` profile section, read from the environment.
pub struct MasterKeys {
    application: Zeroizing<Vec<u8>>,
    picc: DesfireKey,
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKeys(<redacted>)")
    }
}

impl MasterKeys {
    /// `application` is the master key the card keys are diversified from; `picc` the card
    /// master key that allows creating the application.
    pub fn new(app: &DesfireApp, application: &[u8], picc: DesfireKey) -> Result<Self, String> {
        if application.len() != app.key_type.key_len() {
            return Err(format!(
                "a {}-byte {} master key",
                app.key_type.key_len(),
                app.key_type
            ));
        }
        Ok(Self {
            application: Zeroizing::new(application.to_vec()),
            picc,
        })
    }

    /// Reads the keys from the variables the profile names.
    pub fn from_env(app: &DesfireApp) -> Result<Self, ConfigError> {
        let bad = |var: &str, expected: String| ConfigError::BadSecret {
            var: var.to_owned(),
            expected,
        };
        let secret = Secret::lookup(&app.master_key_env)?;
        let application = Zeroizing::new(
            hex::decode(secret.expose().trim())
                .map_err(|_| bad(&app.master_key_env, "a hex key".into()))?,
        );
        let picc = match &app.picc_key_env {
            None => DesfireKey::des([0; 8]),
            Some(var) => {
                let secret = Secret::lookup(var)?;
                let bytes = Zeroizing::new(
                    hex::decode(secret.expose().trim())
                        .map_err(|_| bad(var, "a hex key".into()))?,
                );
                picc_key(app.picc_key_type, &bytes).ok_or_else(|| {
                    bad(
                        var,
                        format!(
                            "a {}-byte {} key",
                            app.picc_key_type.key_len(),
                            app.picc_key_type
                        ),
                    )
                })?
            }
        };
        Self::new(app, &application, picc).map_err(|expected| bad(&app.master_key_env, expected))
    }
}

/// A PICC key of `algorithm`; 8 bytes with 2k3des is single DES.
fn picc_key(algorithm: KeyAlgorithm, bytes: &[u8]) -> Option<DesfireKey> {
    match (algorithm, <[u8; 8]>::try_from(bytes)) {
        (KeyAlgorithm::TwoKey3Des, Ok(des)) => Some(DesfireKey::des(des)),
        _ => DesfireKey::new(algorithm, bytes).ok(),
    }
}

/// One card's keys.
struct CardKeys {
    master: DesfireKey,
    read: DesfireKey,
    mac: BlockCipher,
}

impl CardKeys {
    fn derive(app: &DesfireApp, keys: &MasterKeys, uid: &[u8]) -> Result<Self, DesfireError> {
        let derive = |slot: u8| -> Result<DesfireKey, DesfireError> {
            let mut system_id = app.system_id.clone();
            system_id.push(slot);
            let key = diversify(
                app.key_type,
                &keys.application,
                uid,
                &app.aid.to_bytes(),
                &system_id,
            )
            .map_err(|_| {
                DesfireError::InvalidRequest("the profile's key diversification input is too long")
            })?;
            Ok(DesfireKey::new(app.key_type, &key)?.with_version(ISSUED_KEY_VERSION))
        };
        Ok(Self {
            master: derive(APP_MASTER_KEY)?,
            read: derive(READ_KEY)?,
            mac: derive(MAC_KEY_SLOT)?.cipher(),
        })
    }

    fn mac(&self, record: &[u8]) -> [u8; MAC_LEN] {
        let mut cmac = Zeroizing::new(vec![0; self.mac.block_size()]);
        self.mac.cmac_chained(&mut cmac, record);
        let mut mac = [0; MAC_LEN];
        mac.copy_from_slice(&cmac[..MAC_LEN]);
        mac
    }

    /// The record followed by its MAC.
    fn seal(&self, record: &CardRecord) -> Result<Vec<u8>, CardRecordError> {
        let mut bytes = record.encode()?;
        let mac = self.mac(&bytes);
        bytes.extend_from_slice(&mac);
        Ok(bytes)
    }

    /// The record, if its MAC is right (compared in constant time).
    fn open<'a>(&self, sealed: &'a [u8]) -> Option<&'a [u8]> {
        let (body, mac) = sealed.split_at_checked(MAC_OFFSET)?;
        let expected = self.mac(body);
        let differences = expected
            .iter()
            .zip(mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        (mac.len() == MAC_LEN && differences == 0).then_some(body)
    }
}

/// What an issue did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueReport {
    /// The card's real 7-byte UID (GetCardUID), the contactless UID to record in the store.
    pub uid: Vec<u8>,
    /// False when the application was already there (a re-issue, or a retry after a tear).
    pub created_application: bool,
    /// False when the card already had its diversified keys.
    pub changed_keys: bool,
    /// APDUs exchanged, read-back included.
    pub apdus: u64,
}

/// A record read back and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRecord {
    pub uid: Vec<u8>,
    pub record: CardRecord,
    pub apdus: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DesfireIssueError {
    #[error("the record cannot be written: {0}")]
    InvalidRecord(#[from] CardRecordError),
    #[error(
        "the card shows a random UID ({reader}) instead of its real one; the kiosk could not derive its keys"
    )]
    RandomUid { reader: String },
    #[error("authentication refused: the card does not accept the PICC master key of the profile")]
    PiccAuthentication,
    #[error(
        "authentication refused: the application's master key is neither the default nor the one derived for this card"
    )]
    ApplicationAuthentication,
    #[error(
        "the card's record file {0} does not match the profile (type, communication mode or size)"
    )]
    RecordFileMismatch(u8),
    #[error("the record read back differs from the one written")]
    ReadBackDiffers,
    #[error("read-back check failed: {0}")]
    ReadBack(DesfireReadError),
    #[error(transparent)]
    Card(#[from] DesfireError),
}

/// A card or reader failure during the read-back stays one, so it gets the same next step.
impl From<DesfireReadError> for DesfireIssueError {
    fn from(err: DesfireReadError) -> Self {
        match err {
            DesfireReadError::Card(err) => Self::Card(err),
            other => Self::ReadBack(other),
        }
    }
}

impl From<TransportError> for DesfireIssueError {
    fn from(err: TransportError) -> Self {
        Self::Card(err.into())
    }
}

impl Problem for DesfireIssueError {
    fn next_step(&self) -> &'static str {
        match self {
            Self::InvalidRecord(_) => "correct the card data and issue again",
            Self::RandomUid { .. } => {
                "use a card without the random-UID option (or turn it off with the PICC key)"
            }
            Self::PiccAuthentication => {
                "set desfire.picc_key_env to the card's PICC master key, or use a blank card"
            }
            Self::ApplicationAuthentication => {
                "this card was issued with another master key or by another system: use another card"
            }
            Self::RecordFileMismatch(_) => {
                "the card was prepared with another profile: format it or use another card"
            }
            Self::ReadBackDiffers | Self::ReadBack(_) => {
                "issue the card again; if it repeats, use another card"
            }
            Self::Card(DesfireError::Transport(TransportError::CardRemoved)) => {
                "put the card back and issue again: an unfinished record write was rolled back by the card"
            }
            Self::Card(err) => err.next_step(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DesfireReadError {
    #[error("not our application: the card has no university application or record")]
    NotOurApplication { uid: Vec<u8> },
    #[error("authentication refused: the card does not accept the read key derived for it")]
    AuthenticationRefused { uid: Vec<u8> },
    #[error("MAC mismatch: the card record is forged or damaged")]
    Forged { uid: Vec<u8> },
    #[error("the card record is unreadable: {error}")]
    Unreadable {
        uid: Vec<u8>,
        error: CardRecordError,
    },
    #[error("the card expired on {}", .0.record.expires)]
    Expired(Box<VerifiedRecord>),
    #[error("the card shows a {}-byte UID, not the 7-byte UID of a DESFire card without random UID", .0.len())]
    UnsupportedUid(Vec<u8>),
    #[error(transparent)]
    Card(#[from] DesfireError),
}

impl From<TransportError> for DesfireReadError {
    fn from(err: TransportError) -> Self {
        Self::Card(err.into())
    }
}

impl DesfireReadError {
    /// A short machine-readable name of the failed check.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotOurApplication { .. } | Self::UnsupportedUid(_) => "not_our_application",
            Self::AuthenticationRefused { .. } => "authentication_refused",
            Self::Forged { .. } | Self::Unreadable { .. } => "forged",
            Self::Expired(_) => "expired",
            Self::Card(_) => "card_error",
        }
    }

    /// The UID of the card, when it was read before the check failed.
    pub fn uid(&self) -> Option<&[u8]> {
        match self {
            Self::NotOurApplication { uid }
            | Self::AuthenticationRefused { uid }
            | Self::Forged { uid }
            | Self::Unreadable { uid, .. }
            | Self::UnsupportedUid(uid) => Some(uid),
            Self::Expired(verified) => Some(&verified.uid),
            Self::Card(_) => None,
        }
    }
}

impl Problem for DesfireReadError {
    fn next_step(&self) -> &'static str {
        match self {
            Self::NotOurApplication { .. } | Self::UnsupportedUid(_) => {
                "this is not a card of this university: send the holder to the ID office"
            }
            Self::AuthenticationRefused { .. } => {
                "check the profile's master key; otherwise the card belongs to another system"
            }
            Self::Forged { .. } | Self::Unreadable { .. } => {
                "keep the card and send the holder to the ID office"
            }
            Self::Expired(_) => "the card must be prolonged at the ID office",
            Self::Card(err) => err.next_step(),
        }
    }
}

/// The access rights of the record file: the kiosk reads with key 1, only the master key writes.
fn record_access() -> AccessRights {
    AccessRights {
        read: READ_KEY,
        write: APP_MASTER_KEY,
        read_write: APP_MASTER_KEY,
        change: APP_MASTER_KEY,
    }
}

/// Issues (or re-issues) the application on the card and writes `record`. Safe to run again
/// after any interruption: it picks up from what the card holds.
pub fn issue<T: Transport>(
    transport: T,
    app: &DesfireApp,
    keys: &MasterKeys,
    record: &CardRecord,
) -> Result<IssueReport, DesfireIssueError> {
    // Refuse bad input before touching the card.
    record.encode()?;
    let mut card = Desfire::new(Counting::new(transport));
    let reader_uid = read_uid(card.transport_mut())?;

    card.select_application(Aid::PICC)?;
    card.authenticate(0, &keys.picc).map_err(|err| match err {
        DesfireError::Authentication => DesfireIssueError::PiccAuthentication,
        other => other.into(),
    })?;
    let uid = card.get_card_uid()?;
    if uid != reader_uid {
        return Err(DesfireIssueError::RandomUid {
            reader: hex::encode_upper(&reader_uid),
        });
    }
    let card_keys = CardKeys::derive(app, keys, &uid)?;
    let created_application = !card.application_ids()?.contains(&app.aid);
    if created_application {
        card.create_application(app.aid, APP_KEY_SETTINGS, APP_KEY_COUNT, app.key_type)?;
    }

    card.select_application(app.aid)?;
    // The master key is changed last, so while it is still the default the card is half issued.
    let default_key = DesfireKey::zero(app.key_type);
    let keys_issued = card.get_key_version(APP_MASTER_KEY)? == ISSUED_KEY_VERSION;
    let master = if keys_issued {
        &card_keys.master
    } else {
        &default_key
    };
    card.authenticate(APP_MASTER_KEY, master)
        .map_err(|err| match err {
            DesfireError::Authentication => DesfireIssueError::ApplicationAuthentication,
            other => other.into(),
        })?;
    ensure_record_file(&mut card, app)?;

    let sealed = card_keys.seal(record)?;
    card.write_data(app.record_file, 0, &sealed, app.comm_mode)?;
    card.commit_transaction()?;

    if !keys_issued {
        if card.get_key_version(READ_KEY)? != ISSUED_KEY_VERSION {
            card.change_key(READ_KEY, &card_keys.read, Some(&default_key))?;
        }
        // Last: changing the session's own key ends the session.
        card.change_key(APP_MASTER_KEY, &card_keys.master, None)?;
    }

    let read_back = read_record(&mut card, app, &card_keys, &uid)?;
    if read_back != *record {
        return Err(DesfireIssueError::ReadBackDiffers);
    }
    Ok(IssueReport {
        uid,
        created_application,
        changed_keys: !keys_issued,
        apdus: card.transport_mut().apdus,
    })
}

/// Creates the record file, or checks that the one there is the profile's backup file.
fn ensure_record_file<T: Transport>(
    card: &mut Desfire<T>,
    app: &DesfireApp,
) -> Result<(), DesfireIssueError> {
    if !card.file_ids()?.contains(&app.record_file) {
        let spec = FileSpec {
            comm: app.comm_mode,
            access: record_access(),
            size: app.record_size,
        };
        card.create_backup_data_file(app.record_file, spec)?;
        return Ok(());
    }
    let settings = card.get_file_settings(app.record_file)?;
    let fits = settings.backup
        && settings.comm == app.comm_mode
        && settings.access == record_access()
        && settings.size as usize >= RECORD_LEN;
    if fits {
        Ok(())
    } else {
        Err(DesfireIssueError::RecordFileMismatch(app.record_file))
    }
}

/// The kiosk's check: authenticates with the card's read key, reads the record and checks
/// its MAC and expiry against today's date. Today is the UTC date (the local offset is not
/// reliably readable in a threaded process), so in Poland a card stays valid up to two hours
/// past local midnight of its last day.
pub fn read<T: Transport>(
    transport: T,
    app: &DesfireApp,
    keys: &MasterKeys,
) -> Result<VerifiedRecord, DesfireReadError> {
    read_on(transport, app, keys, OffsetDateTime::now_utc().date())
}

/// [`read`] with the expiry checked against `today`.
pub fn read_on<T: Transport>(
    transport: T,
    app: &DesfireApp,
    keys: &MasterKeys,
    today: Date,
) -> Result<VerifiedRecord, DesfireReadError> {
    let mut card = Desfire::new(Counting::new(transport));
    let uid = read_uid(card.transport_mut())?;
    if uid.len() != DESFIRE_UID_LEN {
        return Err(DesfireReadError::UnsupportedUid(uid));
    }
    let card_keys = CardKeys::derive(app, keys, &uid)?;
    let record = read_record(&mut card, app, &card_keys, &uid)?;
    let verified = VerifiedRecord {
        uid,
        record,
        apdus: card.transport_mut().apdus,
    };
    if verified.record.expires < today {
        return Err(DesfireReadError::Expired(Box::new(verified)));
    }
    Ok(verified)
}

/// Selects the application, authenticates with the read key, reads and opens the record.
fn read_record<T: Transport>(
    card: &mut Desfire<T>,
    app: &DesfireApp,
    card_keys: &CardKeys,
    uid: &[u8],
) -> Result<CardRecord, DesfireReadError> {
    let not_ours = |err: DesfireError| match err {
        DesfireError::Status(status::APPLICATION_NOT_FOUND | status::FILE_NOT_FOUND) => {
            DesfireReadError::NotOurApplication { uid: uid.to_vec() }
        }
        other => other.into(),
    };
    card.select_application(app.aid).map_err(not_ours)?;
    card.authenticate(READ_KEY, &card_keys.read)
        .map_err(|err| match err {
            DesfireError::Authentication | DesfireError::Status(status::NO_SUCH_KEY) => {
                DesfireReadError::AuthenticationRefused { uid: uid.to_vec() }
            }
            other => other.into(),
        })?;
    let sealed = card
        .read_data(app.record_file, 0, RECORD_LEN as u32, app.comm_mode)
        .map_err(not_ours)?;
    let body = card_keys
        .open(&sealed)
        .ok_or_else(|| DesfireReadError::Forged { uid: uid.to_vec() })?;
    CardRecord::decode(body).map_err(|error| DesfireReadError::Unreadable {
        uid: uid.to_vec(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use time::macros::date;

    use super::*;
    use crate::card::desfire::CommMode;
    use crate::card::desfire_record::CARD_NUMBER_OFFSET;
    use crate::config::Profile;
    use crate::sim::{DesfireCard, DesfireCardState, Faults, SharedCard, SimTransport};

    const UID: [u8; 7] = [0x04, 0x63, 0x3F, 0x72, 0x63, 0x34, 0x80];
    const MASTER: [u8; 16] = [0x11; 16];
    const TODAY: Date = date!(2026 - 10 - 01);

    /// The demo profile's application with other keys or communication.
    fn app(key_type: KeyAlgorithm, comm_mode: CommMode) -> DesfireApp {
        DesfireApp {
            key_type,
            comm_mode,
            ..Profile::demo()
                .desfire
                .expect("the demo profile has [desfire]")
        }
    }

    fn aes_app() -> DesfireApp {
        app(KeyAlgorithm::Aes128, CommMode::Enciphered)
    }

    fn master_keys(app: &DesfireApp, byte: u8) -> MasterKeys {
        let master = vec![byte; app.key_type.key_len()];
        MasterKeys::new(app, &master, DesfireKey::des([0; 8])).unwrap()
    }

    use crate::card::desfire_record::tests::record;

    fn blank_card() -> Arc<Mutex<DesfireCard>> {
        Arc::new(Mutex::new(DesfireCard::new(DesfireCardState::blank(&UID))))
    }

    /// Another card with the same memory.
    fn copy_of(card: &Arc<Mutex<DesfireCard>>) -> Arc<Mutex<DesfireCard>> {
        let state = card.lock().unwrap().state().clone();
        Arc::new(Mutex::new(DesfireCard::new(state)))
    }

    fn insert(card: &Arc<Mutex<DesfireCard>>, faults: Faults) -> SimTransport {
        let shared: SharedCard = card.clone();
        SimTransport::insert(shared, faults)
    }

    fn plain() -> Faults {
        Faults::default()
    }

    /// A card issued with `record(card_number)` under the test master key.
    fn issued(app: &DesfireApp, card_number: u64) -> Arc<Mutex<DesfireCard>> {
        let card = blank_card();
        issue(
            insert(&card, plain()),
            app,
            &master_keys(app, 0x11),
            &record(card_number),
        )
        .unwrap();
        card
    }

    fn read_card(
        card: &Arc<Mutex<DesfireCard>>,
        app: &DesfireApp,
        keys: &MasterKeys,
        today: Date,
    ) -> Result<VerifiedRecord, DesfireReadError> {
        read_on(insert(card, plain()), app, keys, today)
    }

    /// The record as committed on the card, without going through the station.
    fn stored_record(card: &Arc<Mutex<DesfireCard>>, app: &DesfireApp) -> Vec<u8> {
        let card = card.lock().unwrap();
        let application = card
            .state()
            .applications
            .iter()
            .find(|a| a.aid == app.aid)
            .expect("the application exists");
        let file = application
            .files
            .iter()
            .find(|f| f.file_no == app.record_file)
            .expect("the record file exists");
        file.data[..RECORD_LEN].to_vec()
    }
    #[test]
    fn issue_then_read_for_every_key_type_and_comm_mode() {
        for key_type in [
            KeyAlgorithm::Aes128,
            KeyAlgorithm::TwoKey3Des,
            KeyAlgorithm::ThreeKey3Des,
        ] {
            for comm_mode in [CommMode::Plain, CommMode::Maced, CommMode::Enciphered] {
                let app = app(key_type, comm_mode);
                let keys = master_keys(&app, 0x11);
                let card = blank_card();
                let report = issue(insert(&card, plain()), &app, &keys, &record(7)).unwrap();
                assert_eq!(report.uid, UID);
                assert!(report.created_application && report.changed_keys);
                let verified = read_card(&card, &app, &keys, TODAY).unwrap();
                assert_eq!(verified.record, record(7), "{key_type} {comm_mode:?}");
                assert_eq!(verified.uid, UID);
                assert!(
                    verified.apdus <= 6,
                    "the kiosk read took {}",
                    verified.apdus
                );
            }
        }
    }

    #[test]
    fn card_keys_are_diversified_and_carry_the_issued_version() {
        let aes = aes_app();
        let card = issued(&aes, 1);
        let state = card.lock().unwrap().state().clone();
        let application = &state.applications[0];
        assert_eq!(application.keys.len(), usize::from(APP_KEY_COUNT));
        let mut expected_input = b"DEMO".to_vec();
        expected_input.push(READ_KEY);
        let read_key = diversify(
            KeyAlgorithm::Aes128,
            &MASTER,
            &UID,
            &[0x30, 0x42, 0xF5],
            &expected_input,
        )
        .unwrap();
        assert_eq!(application.keys[1].bytes(), read_key.as_slice());
        for key in &application.keys {
            assert_eq!(key.version(), ISSUED_KEY_VERSION);
        }
        // DES-family keys keep the version in their parity bits.
        let des_app = app(KeyAlgorithm::TwoKey3Des, CommMode::Maced);
        let card = issued(&des_app, 1);
        for key in &card.lock().unwrap().state().applications[0].keys {
            assert_eq!(key.version(), ISSUED_KEY_VERSION);
        }
    }

    #[test]
    fn reissue_rewrites_the_record_with_the_diversified_keys() {
        let app = aes_app();
        let keys = master_keys(&app, 0x11);
        let card = issued(&app, 1);
        let again = issue(insert(&card, plain()), &app, &keys, &record(2)).unwrap();
        assert!(!again.created_application && !again.changed_keys);
        let verified = read_card(&card, &app, &keys, TODAY).unwrap();
        assert_eq!(verified.record, record(2));
    }

    #[test]
    fn wrong_master_key_is_an_authentication_refusal() {
        let app = aes_app();
        let card = issued(&app, 1);
        let err = read_card(&card, &app, &master_keys(&app, 0x22), TODAY).unwrap_err();
        assert!(
            matches!(err, DesfireReadError::AuthenticationRefused { ref uid } if uid == &UID),
            "{err:?}"
        );
        assert_eq!(err.reason(), "authentication_refused");
        assert!(err.to_string().starts_with("authentication refused"));
        let reissue = issue(
            insert(&card, plain()),
            &app,
            &master_keys(&app, 0x22),
            &record(1),
        )
        .unwrap_err();
        assert!(
            matches!(reissue, DesfireIssueError::ApplicationAuthentication),
            "{reissue:?}"
        );
    }

    #[test]
    fn a_changed_record_byte_is_a_forgery() {
        let app = aes_app();
        let keys = master_keys(&app, 0x11);
        let card = issued(&app, 1);
        {
            let mut card = card.lock().unwrap();
            let file = &mut card.state_mut().applications[0].files[0];
            file.data[CARD_NUMBER_OFFSET + 7] ^= 1;
        }
        let err = read_card(&card, &app, &keys, TODAY).unwrap_err();
        assert!(matches!(err, DesfireReadError::Forged { .. }), "{err:?}");
        assert_eq!(err.reason(), "forged");
    }

    #[test]
    fn expired_and_foreign_cards_are_named() {
        let app = aes_app();
        let keys = master_keys(&app, 0x11);
        let card = issued(&app, 1);
        assert!(read_card(&card, &app, &keys, date!(2027 - 09 - 30)).is_ok());
        let err = read_card(&card, &app, &keys, date!(2027 - 10 - 01)).unwrap_err();
        let DesfireReadError::Expired(verified) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(verified.record, record(1));
        assert_eq!(err.reason(), "expired");

        let blank = blank_card();
        let err = read_card(&blank, &app, &keys, TODAY).unwrap_err();
        assert!(
            matches!(err, DesfireReadError::NotOurApplication { .. }),
            "{err:?}"
        );
    }

    /// The APDUs of a successful issue on a copy of `card`.
    fn apdus_of_issue(
        card: &Arc<Mutex<DesfireCard>>,
        app: &DesfireApp,
        record: &CardRecord,
    ) -> u64 {
        issue(
            insert(&copy_of(card), plain()),
            app,
            &master_keys(app, 0x11),
            record,
        )
        .unwrap()
        .apdus
    }

    #[test]
    fn a_reissue_torn_anywhere_leaves_a_whole_record_and_a_retry_works() {
        let app = aes_app();
        let keys = master_keys(&app, 0x11);
        let issued = issued(&app, 1);
        let old = stored_record(&issued, &app);
        for tear_after in 0..apdus_of_issue(&issued, &app, &record(2)) {
            let card = copy_of(&issued);
            let faults = Faults {
                tear_after: Some(tear_after),
                ..plain()
            };
            let err = issue(insert(&card, faults), &app, &keys, &record(2)).unwrap_err();
            assert!(
                matches!(
                    err,
                    DesfireIssueError::Card(DesfireError::Transport(TransportError::CardRemoved))
                ),
                "{err:?}"
            );
            let now = read_card(&card, &app, &keys, TODAY).unwrap();
            assert!(
                now.record == record(1) || now.record == record(2),
                "torn after {tear_after}: {now:?}"
            );
            if now.record == record(1) {
                assert_eq!(stored_record(&card, &app), old);
            }
            issue(insert(&card, plain()), &app, &keys, &record(2)).unwrap();
            let retried = read_card(&card, &app, &keys, TODAY).unwrap();
            assert_eq!(
                retried.record,
                record(2),
                "retry after a tear at {tear_after}"
            );
        }
    }

    #[test]
    fn a_first_issue_torn_anywhere_can_be_retried() {
        for key_type in [KeyAlgorithm::Aes128, KeyAlgorithm::TwoKey3Des] {
            let app = app(key_type, CommMode::Maced);
            let keys = master_keys(&app, 0x11);
            for tear_after in 0..apdus_of_issue(&blank_card(), &app, &record(3)) {
                let card = blank_card();
                let faults = Faults {
                    tear_after: Some(tear_after),
                    ..plain()
                };
                issue(insert(&card, faults), &app, &keys, &record(3)).unwrap_err();
                issue(insert(&card, plain()), &app, &keys, &record(3))
                    .unwrap_or_else(|err| panic!("{key_type}, retry after {tear_after}: {err}"));
                let verified = read_card(&card, &app, &keys, TODAY).unwrap();
                assert_eq!(verified.record, record(3));
            }
        }
    }

    #[test]
    fn bad_records_are_refused_before_the_card_is_touched() {
        let app = aes_app();
        let card = blank_card();
        let bad = CardRecord {
            barcode: String::new(),
            ..record(1)
        };
        let mut transport = insert(&card, plain());
        let err = issue(&mut transport, &app, &master_keys(&app, 0x11), &bad).unwrap_err();
        assert!(
            matches!(err, DesfireIssueError::InvalidRecord(_)),
            "{err:?}"
        );
        assert_eq!(transport.answered(), 0);
    }

    #[test]
    fn master_keys_are_checked_and_never_printed() {
        let app = aes_app();
        assert!(MasterKeys::new(&app, &[0x11; 24], DesfireKey::des([0; 8])).is_err());
        let keys = master_keys(&app, 0xAB);
        assert!(!format!("{keys:?}").contains("AB"));
        assert!(!format!("{keys:?}").contains("171"));
    }
}
