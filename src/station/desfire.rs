//! The university application on MIFARE DESFire cards: issuing it at the desk and reading it
//! at the kiosk, as plain logic over a [`Transport`].
//!
//! Application layout (AID, key type, record file from the profile's `[desfire]`):
//!
//! | key | role | diversified from | slot |
//! |---|---|---|---|
//! | 0 | application master key: creates the record file, writes the record, changes keys | `master_key_env` (desk, print station) | 0 |
//! | 1 | read key: what the kiosk authenticates with (the card's proof of presence) | `read_key_env` (desk, print station, kiosk) | 1 |
//!
//! Every key is AN10922-diversified from its own master with the input
//! `UID(7) ‖ AID(3, as stored) ‖ system_id ‖ slot(1)`; `cardstation diversify --sysid
//! <system_id><slot>` reproduces it. The two masters are independent secrets: the read-key
//! master a kiosk holds derives no write key. Keys on the card carry version
//! [`ISSUED_KEY_VERSION`] (default keys have version 0), which tells a re-issue which keys are
//! already changed.
//!
//! The record is signed, not MACed: the desk (or print station) signs it with the ECDSA P-256
//! key of `record_signer_key`, and the kiosk verifies it with the public key of
//! `record_verify_key`, so no secret at a kiosk can make a record. The signature covers
//! [`SIGNATURE_DOMAIN`] `‖ UID ‖ AID ‖ record fields`: a record copied onto another chip fails.
//!
//! The record file is a backup data file (read: key 1; write, read-write, change: key 0), so a
//! write torn before CommitTransaction leaves the previous record. The record is
//! [`RECORD_LEN`] bytes at offset 0, laid out as [`crate::card::desfire_record`] shows.

use std::fmt;
use std::path::{Path, PathBuf};

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use time::{Date, OffsetDateTime};
use zeroize::Zeroizing;

use crate::card::desfire::{
    AccessRights, Aid, Desfire, DesfireError, DesfireKey, FileSpec, status,
};
use crate::card::desfire_record::{RECORD_LEN, SIGNATURE_OFFSET};
use crate::card::{Counting, Transport, TransportError, read_uid};
use crate::config::{ConfigError, DesfireApp, Profile, Secret, keys};
use crate::crypto::diversify::{KeyAlgorithm, diversify};
use crate::error::Problem;
use crate::store::{Store, StoreError};

// What `issue` writes and `read` returns, and why a record does not fit: re-exported so their
// callers need not reach into the card layer.
pub use crate::card::desfire_record::{CardRecord, CardRecordError};

/// The version every diversified key is given on the card.
pub const ISSUED_KEY_VERSION: u8 = 1;
/// What a record signature is over, before the UID: no other cardstation signature (an ELS
/// structure, a certificate) can be replayed as a record signature.
pub const SIGNATURE_DOMAIN: &[u8] = b"cardstation desfire record v2\0";

const APP_MASTER_KEY: u8 = 0;
const READ_KEY: u8 = 1;
const APP_KEY_COUNT: u8 = 2;
/// Master key changeable, free directory listing, configuration changeable; creating and
/// deleting files and changing keys need the master key.
const APP_KEY_SETTINGS: u8 = 0x0B;
const DESFIRE_UID_LEN: usize = 7;

/// What a kiosk holds: the read-key master and the record's public verifying key. Neither
/// writes a card nor makes a record.
pub struct ReadKeys {
    read_master: Zeroizing<Vec<u8>>,
    verifier: VerifyingKey,
}

impl fmt::Debug for ReadKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReadKeys(<redacted>)")
    }
}

/// What the desk and the print station hold: everything a card is written with.
pub struct IssueKeys {
    application: Zeroizing<Vec<u8>>,
    picc: DesfireKey,
    /// Zeroized on drop by `p256`.
    signer: SigningKey,
    reading: ReadKeys,
}

impl fmt::Debug for IssueKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssueKeys(<redacted>)")
    }
}

fn check_key_len(app: &DesfireApp, key: &[u8], which: &str) -> Result<(), String> {
    if key.len() == app.key_type.key_len() {
        return Ok(());
    }
    Err(format!(
        "a {}-byte {} {which}",
        app.key_type.key_len(),
        app.key_type
    ))
}

impl ReadKeys {
    /// `read_master` is the master the cards' read keys are diversified from, `verifier` the
    /// public key of the desk's record signer.
    pub fn new(
        app: &DesfireApp,
        read_master: &[u8],
        verifier: VerifyingKey,
    ) -> Result<Self, String> {
        check_key_len(app, read_master, "read-key master")?;
        Ok(Self {
            read_master: Zeroizing::new(read_master.to_vec()),
            verifier,
        })
    }

    /// The profile's read-key master (`read_key_env`) and verifying key: `record_verify_key`,
    /// or the public half of `record_signer_key` (the demo: the demo signer in `data_dir`).
    pub fn for_profile(profile: &Profile, data_dir: &Path) -> Result<Self, ConfigError> {
        let app = desfire_section(profile)?;
        let read_master = hex_secret(&app.read_key_env, app)?;
        let verifier = match &app.record_verify_key {
            Some(path) => keys::load_verifying_key(path).map_err(ConfigError::from)?,
            None => *record_signer(profile, data_dir)?.verifying_key(),
        };
        Self::new(app, &read_master, verifier)
            .map_err(|expected| bad_secret(&app.read_key_env, expected))
    }
}

impl IssueKeys {
    /// `application` and `read_master` are the masters of the write and read keys (two
    /// independent secrets), `picc` the card master key that allows creating the application,
    /// `signer` the record signer.
    pub fn new(
        app: &DesfireApp,
        application: &[u8],
        read_master: &[u8],
        picc: DesfireKey,
        signer: SigningKey,
    ) -> Result<Self, String> {
        check_key_len(app, application, "application master key")?;
        let reading = ReadKeys::new(app, read_master, *signer.verifying_key())?;
        Ok(Self {
            application: Zeroizing::new(application.to_vec()),
            picc,
            signer,
            reading,
        })
    }

    /// The keys the profile names: `master_key_env`, `read_key_env`, `picc_key_env` and the
    /// record signer's key file.
    pub fn for_profile(profile: &Profile, data_dir: &Path) -> Result<Self, ConfigError> {
        let app = desfire_section(profile)?;
        let master_env = app
            .master_key_env
            .as_deref()
            .ok_or(ConfigError::MissingKey {
                key: "desfire.master_key_env",
            })?;
        let application = hex_secret(master_env, app)?;
        let read_master = hex_secret(&app.read_key_env, app)?;
        let picc = match &app.picc_key_env {
            None => DesfireKey::des([0; 8]),
            Some(var) => {
                let bytes = hex_secret(var, app)?;
                picc_key(app.picc_key_type, &bytes).ok_or_else(|| {
                    bad_secret(
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
        let signer = record_signer(profile, data_dir)?;
        if let Some(path) = &app.record_verify_key {
            // A desk whose two halves disagree would issue cards every kiosk calls forged.
            if keys::load_verifying_key(path)? != *signer.verifying_key() {
                return Err(ConfigError::RecordKeysDiffer);
            }
        }
        Self::new(app, &application, &read_master, picc, signer).map_err(|expected| {
            let var = if expected.contains("read-key") {
                &app.read_key_env
            } else {
                master_env
            };
            bad_secret(var, expected)
        })
    }

    /// What the read-back after an issue checks with: the kiosk's keys.
    pub fn reading(&self) -> &ReadKeys {
        &self.reading
    }

    /// The kiosk's keys alone; the write keys and the signer are dropped (and zeroized).
    pub fn into_reading(self) -> ReadKeys {
        self.reading
    }
}

fn desfire_section(profile: &Profile) -> Result<&DesfireApp, ConfigError> {
    profile
        .desfire
        .as_ref()
        .ok_or(ConfigError::MissingKey { key: "[desfire]" })
}

fn bad_secret(var: &str, expected: String) -> ConfigError {
    ConfigError::BadSecret {
        var: var.to_owned(),
        expected,
    }
}

fn hex_secret(var: &str, app: &DesfireApp) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    let secret = Secret::lookup(var)?;
    hex::decode(secret.expose().trim())
        .map(Zeroizing::new)
        .map_err(|_| bad_secret(var, format!("a hex {} key", app.key_type)))
}

/// The record signer's key: `record_signer_key`, or, in the demo, the demo signer made in
/// `data_dir` on first use.
fn record_signer(profile: &Profile, data_dir: &Path) -> Result<SigningKey, ConfigError> {
    let app = desfire_section(profile)?;
    let path: PathBuf = match (&app.record_signer_key, &profile.demo) {
        (Some(path), _) => path.clone(),
        (None, Some(_)) => super::demo::ensure_signer(data_dir)?.0,
        (None, None) => {
            return Err(ConfigError::MissingKey {
                key: "desfire.record_signer_key",
            });
        }
    };
    Ok(keys::load_signing_key(
        &path,
        app.record_signer_passphrase_env.as_deref(),
    )?)
}

/// A PICC key of `algorithm`; 8 bytes with 2k3des is single DES.
fn picc_key(algorithm: KeyAlgorithm, bytes: &[u8]) -> Option<DesfireKey> {
    match (algorithm, <[u8; 8]>::try_from(bytes)) {
        (KeyAlgorithm::TwoKey3Des, Ok(des)) => Some(DesfireKey::des(des)),
        _ => DesfireKey::new(algorithm, bytes).ok(),
    }
}

/// One card's key diversified from `master` for `slot`.
fn card_key(
    app: &DesfireApp,
    master: &[u8],
    uid: &[u8],
    slot: u8,
) -> Result<DesfireKey, DesfireError> {
    let mut system_id = app.system_id.clone();
    system_id.push(slot);
    let key =
        diversify(app.key_type, master, uid, &app.aid.to_bytes(), &system_id).map_err(|_| {
            DesfireError::InvalidRequest("the profile's key diversification input is too long")
        })?;
    Ok(DesfireKey::new(app.key_type, &key)?.with_version(ISSUED_KEY_VERSION))
}

/// What the record signature covers.
fn signed_message(app: &DesfireApp, uid: &[u8], fields: &[u8]) -> Vec<u8> {
    [SIGNATURE_DOMAIN, uid, &app.aid.to_bytes(), fields].concat()
}

impl ReadKeys {
    fn read_key(&self, app: &DesfireApp, uid: &[u8]) -> Result<DesfireKey, DesfireError> {
        card_key(app, &self.read_master, uid, READ_KEY)
    }

    /// The record's fields, if its signature is the desk's for this card.
    fn open<'a>(&self, app: &DesfireApp, uid: &[u8], sealed: &'a [u8]) -> Option<&'a [u8]> {
        let (fields, signature) = sealed.split_at_checked(SIGNATURE_OFFSET)?;
        let signature = Signature::from_slice(signature).ok()?;
        self.verifier
            .verify(&signed_message(app, uid, fields), &signature)
            .ok()
            .map(|()| fields)
    }
}

impl IssueKeys {
    fn master_key(&self, app: &DesfireApp, uid: &[u8]) -> Result<DesfireKey, DesfireError> {
        card_key(app, &self.application, uid, APP_MASTER_KEY)
    }

    /// The record followed by its signature for this card.
    fn seal(
        &self,
        app: &DesfireApp,
        uid: &[u8],
        record: &CardRecord,
    ) -> Result<Vec<u8>, CardRecordError> {
        let mut bytes = record.encode()?;
        let signature: Signature = self.signer.sign(&signed_message(app, uid, &bytes));
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(bytes)
    }
}

/// What a card's record names its holder by: the person number, else `CH-` and the
/// cardholder's id.
pub fn holder_id(store: &Store, cardholder_id: i64) -> Result<String, StoreError> {
    let cardholder = store.get_cardholder(cardholder_id)?;
    let person_number = match cardholder.fields.person_id {
        Some(person) => store.get_person(person)?.fields.person_number,
        None => None,
    };
    Ok(person_number.unwrap_or_else(|| format!("CH-{cardholder_id}")))
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
    #[error("signature mismatch: the card record is forged, damaged or copied from another card")]
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
                "check the profile's read_key_env; otherwise the card belongs to another system"
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
    keys: &IssueKeys,
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
    let master_key = keys.master_key(app, &uid)?;
    let read_key = keys.reading.read_key(app, &uid)?;
    let created_application = !card.application_ids()?.contains(&app.aid);
    if created_application {
        card.create_application(app.aid, APP_KEY_SETTINGS, APP_KEY_COUNT, app.key_type)?;
    }

    card.select_application(app.aid)?;
    // The master key is changed last, so while it is still the default the card is half issued.
    let default_key = DesfireKey::zero(app.key_type);
    let keys_issued = card.get_key_version(APP_MASTER_KEY)? == ISSUED_KEY_VERSION;
    let master = if keys_issued {
        &master_key
    } else {
        &default_key
    };
    card.authenticate(APP_MASTER_KEY, master)
        .map_err(|err| match err {
            DesfireError::Authentication => DesfireIssueError::ApplicationAuthentication,
            other => other.into(),
        })?;
    ensure_record_file(&mut card, app)?;

    let sealed = keys.seal(app, &uid, record)?;
    card.write_data(app.record_file, 0, &sealed, app.comm_mode)?;
    card.commit_transaction()?;

    if !keys_issued {
        if card.get_key_version(READ_KEY)? != ISSUED_KEY_VERSION {
            card.change_key(READ_KEY, &read_key, Some(&default_key))?;
        }
        // Last: changing the session's own key ends the session.
        card.change_key(APP_MASTER_KEY, &master_key, None)?;
    }

    let read_back = read_record(&mut card, app, &keys.reading, &uid)?;
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
/// its signature and expiry against today's date. Today is the UTC date (the local offset is not
/// reliably readable in a threaded process), so in Poland a card stays valid up to two hours
/// past local midnight of its last day.
pub fn read<T: Transport>(
    transport: T,
    app: &DesfireApp,
    keys: &ReadKeys,
) -> Result<VerifiedRecord, DesfireReadError> {
    read_on(transport, app, keys, OffsetDateTime::now_utc().date())
}

/// [`read`] with the expiry checked against `today`.
pub fn read_on<T: Transport>(
    transport: T,
    app: &DesfireApp,
    keys: &ReadKeys,
    today: Date,
) -> Result<VerifiedRecord, DesfireReadError> {
    let mut card = Desfire::new(Counting::new(transport));
    let uid = read_uid(card.transport_mut())?;
    if uid.len() != DESFIRE_UID_LEN {
        return Err(DesfireReadError::UnsupportedUid(uid));
    }
    let record = read_record(&mut card, app, keys, &uid)?;
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

/// Selects the application, authenticates with the read key (the chip's proof of presence),
/// reads the record and checks its signature.
fn read_record<T: Transport>(
    card: &mut Desfire<T>,
    app: &DesfireApp,
    keys: &ReadKeys,
    uid: &[u8],
) -> Result<CardRecord, DesfireReadError> {
    let not_ours = |err: DesfireError| match err {
        DesfireError::Status(status::APPLICATION_NOT_FOUND | status::FILE_NOT_FOUND) => {
            DesfireReadError::NotOurApplication { uid: uid.to_vec() }
        }
        other => other.into(),
    };
    card.select_application(app.aid).map_err(not_ours)?;
    card.authenticate(READ_KEY, &keys.read_key(app, uid)?)
        .map_err(|err| match err {
            DesfireError::Authentication | DesfireError::Status(status::NO_SUCH_KEY) => {
                DesfireReadError::AuthenticationRefused { uid: uid.to_vec() }
            }
            other => other.into(),
        })?;
    let sealed = card
        .read_data(app.record_file, 0, RECORD_LEN as u32, app.comm_mode)
        .map_err(not_ours)?;
    let body = keys
        .open(app, uid, &sealed)
        .ok_or_else(|| DesfireReadError::Forged { uid: uid.to_vec() })?;
    CardRecord::decode(body).map_err(|error| DesfireReadError::Unreadable {
        uid: uid.to_vec(),
        error,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Mutex};

    use time::macros::date;

    use super::*;
    use crate::card::desfire::CommMode;
    use crate::card::desfire_record::CARD_NUMBER_OFFSET;
    use crate::config::Profile;
    use crate::sim::{DesfireCard, DesfireCardState, Faults, SharedCard, SimTransport};

    const UID: [u8; 7] = [0x04, 0x63, 0x3F, 0x72, 0x63, 0x34, 0x80];
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

    /// What a kiosk holds of [`master_keys`] with this byte.
    pub(crate) fn kiosk_keys(app: &DesfireApp, byte: u8) -> ReadKeys {
        let signer = SigningKey::from_slice(&[byte; 32]).unwrap();
        ReadKeys::new(app, &read_master(app, byte), *signer.verifying_key()).unwrap()
    }

    /// The read-key master of [`master_keys`] with this byte.
    fn read_master(app: &DesfireApp, byte: u8) -> Vec<u8> {
        vec![byte ^ 0x5A; app.key_type.key_len()]
    }

    /// A desk's keys, all made from `byte`: the application master, an unrelated read-key
    /// master and a record signer (the validate tests use them too).
    pub(crate) fn master_keys(app: &DesfireApp, byte: u8) -> IssueKeys {
        let master = vec![byte; app.key_type.key_len()];
        let signer = SigningKey::from_slice(&[byte; 32]).unwrap();
        IssueKeys::new(
            app,
            &master,
            &read_master(app, byte),
            DesfireKey::des([0; 8]),
            signer,
        )
        .unwrap()
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
        keys: &IssueKeys,
        today: Date,
    ) -> Result<VerifiedRecord, DesfireReadError> {
        read_on(insert(card, plain()), app, keys.reading(), today)
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
                // UID, select, two authentication frames, and the 125-byte signed record
                // in up to three frames of at most 59 bytes.
                assert!(
                    verified.apdus <= 7,
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
            &read_master(&aes, 0x11),
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
    fn a_record_signed_for_another_card_or_by_another_signer_is_a_forgery() {
        let app = aes_app();
        let keys = master_keys(&app, 0x11);
        let card = issued(&app, 1);
        // The record of `card` onto another chip with the right read key for that chip: the
        // signature names the first UID.
        let other_uid = [0x04, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06];
        let other = Arc::new(Mutex::new(DesfireCard::new(DesfireCardState::blank(
            &other_uid,
        ))));
        issue(insert(&other, plain()), &app, &keys, &record(9)).unwrap();
        let copied = stored_record(&card, &app);
        {
            let mut other = other.lock().unwrap();
            other.state_mut().applications[0].files[0].data[..RECORD_LEN].copy_from_slice(&copied);
        }
        let err = read_card(&other, &app, &keys, TODAY).unwrap_err();
        assert!(matches!(err, DesfireReadError::Forged { .. }), "{err:?}");

        // Same read-key master, another signer: what a stolen kiosk plus a made-up key gives.
        let mut forger = master_keys(&app, 0x11);
        forger.signer = SigningKey::from_slice(&[0x33; 32]).unwrap();
        forger.reading.verifier = *forger.signer.verifying_key();
        let forged = blank_card();
        issue(insert(&forged, plain()), &app, &forger, &record(1)).unwrap();
        let err = read_card(&forged, &app, &keys, TODAY).unwrap_err();
        assert!(matches!(err, DesfireReadError::Forged { .. }), "{err:?}");
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
        let signer = || SigningKey::from_slice(&[1; 32]).unwrap();
        let des = DesfireKey::des([0; 8]);
        assert!(IssueKeys::new(&app, &[0x11; 24], &[0x22; 16], des.clone(), signer()).is_err());
        assert!(IssueKeys::new(&app, &[0x11; 16], &[0x22; 8], des, signer()).is_err());
        let keys = master_keys(&app, 0xAB);
        assert!(!format!("{keys:?}").contains("AB"));
        assert!(!format!("{keys:?}").contains("171"));
    }
}
