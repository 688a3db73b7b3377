//! A virtual MIFARE DESFire EV1 behind a PC/SC reader: ISO-wrapped native commands, AES and
//! ISO (DES/3DES) authentication with EV1 secure messaging, applications with keys, standard
//! and backup data files, and transactions. It shares the key and secure-messaging code with
//! the client (`card::desfire`), and keeps the same IV chain as a real card.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::StateFileError;
use super::VirtualCard;
use crate::card::apdu::{Command, Response, StatusWord};
use crate::card::desfire::{
    AccessRights, Aid, CommMode, DesfireKey, MAX_FRAME_DATA, SecureMessaging, crc32, ins,
    rotate_left, split_crc, status,
};
use crate::crypto::block::xor_into;
use crate::crypto::diversify::KeyAlgorithm;
use crate::crypto::{OsRandom, RandomSource};

/// What a PC/SC reader builds from a DESFire EV1's ATS (historical byte `80`).
pub const DESFIRE_ATR: [u8; 6] = [0x3B, 0x81, 0x80, 0x01, 0x80, 0x80];
/// GetVersion of an 8 KB EV1: NXP, DESFire, v1.0, 2^13 bytes, ISO 14443-2 and -3.
const HARDWARE_VERSION: [u8; 7] = [0x04, 0x01, 0x01, 0x01, 0x00, 0x1A, 0x05];
const SOFTWARE_VERSION: [u8; 7] = [0x04, 0x01, 0x01, 0x01, 0x04, 0x1A, 0x05];
/// The ISO 7816-4 DF name of the DESFire card level.
const DESFIRE_DF_NAME: [u8; 7] = [0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x00];

const MAX_APPLICATIONS: usize = 28;
const MAX_FILES: usize = 32;
const MAX_FILE_NO: u8 = 31;
/// User memory of an 8 KB EV1.
const FREE_MEMORY: usize = 7_936;

/// PICC and application key-settings bits.
const SETTING_MASTER_KEY_CHANGEABLE: u8 = 0x01;
const SETTING_FREE_LISTING: u8 = 0x02;
const SETTING_FREE_CREATE_DELETE: u8 = 0x04;

/// Everything that survives taking the card out; saved as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesfireCardState {
    #[serde(with = "hex::serde")]
    pub uid: Vec<u8>,
    /// Production batch number, week and year (BCD) that GetVersion reports.
    #[serde(with = "hex::serde")]
    pub batch: Vec<u8>,
    pub production_week: u8,
    pub production_year: u8,
    /// The card level: master key and PICC key settings, no files.
    pub picc: Application,
    pub applications: Vec<Application>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub aid: Aid,
    pub key_settings: u8,
    /// All of one algorithm; key 0 is the application master key.
    pub keys: Vec<DesfireKey>,
    pub files: Vec<DataFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFile {
    pub file_no: u8,
    /// Backup file: writes take effect at CommitTransaction.
    pub backup: bool,
    pub comm: CommMode,
    pub access: AccessRights,
    /// The committed contents.
    #[serde(with = "hex::serde")]
    pub data: Vec<u8>,
}

impl DesfireCardState {
    /// A factory-fresh card: DES master key of zeros, free listing and application creation.
    pub fn blank(uid: &[u8]) -> Self {
        Self {
            uid: uid.to_vec(),
            batch: vec![0xBA, 0x45, 0x19, 0xE3, 0x20],
            production_week: 0x49,
            production_year: 0x13,
            picc: Application {
                aid: Aid::PICC,
                key_settings: 0x0F,
                keys: vec![DesfireKey::des([0; 8])],
                files: Vec::new(),
            },
            applications: Vec::new(),
        }
    }
}

/// The card half of a started authentication, waiting for the reader's `AF` token.
struct PendingAuth {
    key_no: u8,
    key: DesfireKey,
    rnd_b: Zeroizing<Vec<u8>>,
    iv: Zeroizing<Vec<u8>>,
}

/// What an `AF` frame from the reader continues.
enum Pending {
    Nothing,
    Authentication(PendingAuth),
    /// A command longer than one frame: what arrived so far and how long it will be.
    Command {
        ins: u8,
        received: Vec<u8>,
        expected: usize,
    },
    /// Answer frames not yet fetched.
    Answer(VecDeque<Vec<u8>>),
}

/// What a command handler answers, before secure messaging wraps it.
enum Reply {
    /// `data ‖ CMAC` in a session.
    Maced(Vec<u8>),
    /// Enciphered with CRC in a session.
    Enciphered(Vec<u8>),
    /// As is, no CMAC.
    Bare(Vec<u8>),
    /// The first authentication step: status `AF`.
    Challenge(Vec<u8>),
    /// GetVersion: maced, sent in its three fixed frames.
    Version(Vec<u8>),
}

/// A native status other than OK; any of them ends the session.
type Refusal = u8;

pub struct DesfireCard {
    state: DesfireCardState,
    state_file: Option<PathBuf>,
    random: Box<dyn RandomSource>,
    selected: Aid,
    session: Option<SecureMessaging>,
    pending: Pending,
    /// Backup-file contents written but not committed, by application and file. Volatile:
    /// a reset or tear drops them, as on the real chip.
    uncommitted: BTreeMap<(Aid, u8), Vec<u8>>,
}

impl DesfireCard {
    pub fn new(state: DesfireCardState) -> Self {
        Self::with_random(state, OsRandom)
    }

    /// A card whose RndB comes from `random` (tests replay recorded traces with it).
    pub fn with_random(state: DesfireCardState, random: impl RandomSource + 'static) -> Self {
        Self {
            state,
            state_file: None,
            random: Box::new(random),
            selected: Aid::PICC,
            session: None,
            pending: Pending::Nothing,
            uncommitted: BTreeMap::new(),
        }
    }

    /// A card whose memory lives in `path`: loaded if the file exists (the same card put back),
    /// otherwise created blank with `uid`. Every change is saved before it is acknowledged.
    pub fn with_state_file(path: &Path, uid: &[u8]) -> Result<Self, StateFileError> {
        let state = super::load_state(path, || DesfireCardState::blank(uid))?;
        let mut card = Self::new(state);
        card.state_file = Some(path.to_owned());
        Ok(card)
    }

    pub fn state(&self) -> &DesfireCardState {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut DesfireCardState {
        &mut self.state
    }

    fn save(&self) -> Result<(), Refusal> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        // The simulated EEPROM is the state file.
        super::save_state(path, &self.state).map_err(|_| status::EEPROM_ERROR)
    }

    fn application(&self) -> &Application {
        self.find_application(self.selected)
            .unwrap_or(&self.state.picc)
    }

    fn application_mut(&mut self) -> &mut Application {
        let selected = self.selected;
        match self
            .state
            .applications
            .iter_mut()
            .find(|app| app.aid == selected)
        {
            Some(app) => app,
            None => &mut self.state.picc,
        }
    }

    fn find_application(&self, aid: Aid) -> Option<&Application> {
        if aid == Aid::PICC {
            return Some(&self.state.picc);
        }
        self.state.applications.iter().find(|app| app.aid == aid)
    }

    fn file(&self, file_no: u8) -> Result<&DataFile, Refusal> {
        self.application()
            .files
            .iter()
            .find(|file| file.file_no == file_no)
            .ok_or(status::FILE_NOT_FOUND)
    }

    fn authenticated_key(&self) -> Option<u8> {
        self.session.as_ref().map(SecureMessaging::key_no)
    }

    /// Whether the session's key is one of `keys`, or one of them is "free".
    fn check_access(&self, keys: &[u8]) -> Result<(), Refusal> {
        if keys.contains(&AccessRights::FREE) {
            return Ok(());
        }
        match self.authenticated_key() {
            Some(key_no) if keys.contains(&key_no) => Ok(()),
            _ => Err(status::PERMISSION_DENIED),
        }
    }

    /// Listing and creating need the master key of the level unless its settings free them.
    fn check_master_or(&self, setting: u8) -> Result<(), Refusal> {
        if self.application().key_settings & setting != 0 || self.authenticated_key() == Some(0) {
            Ok(())
        } else {
            Err(status::PERMISSION_DENIED)
        }
    }

    /// How a write to the file travels: plain when anyone may write it.
    fn write_comm(&self, header: &[u8]) -> Result<CommMode, Refusal> {
        let file = self.file(*header.first().ok_or(status::LENGTH_ERROR)?)?;
        let free = [file.access.write, file.access.read_write].contains(&AccessRights::FREE);
        Ok(if free { CommMode::Plain } else { file.comm })
    }

    fn read_comm(file: &DataFile) -> CommMode {
        let free = [file.access.read, file.access.read_write].contains(&AccessRights::FREE);
        if free { CommMode::Plain } else { file.comm }
    }

    /// Length of the whole WriteData command once all frames are in, when it can be known.
    fn expected_write_len(&self, data: &[u8]) -> Option<usize> {
        let (file_no, offset, len) = self.data_header(data).ok()?;
        // A write past the end is refused at once, not after all its frames.
        if offset + len > self.file(file_no).ok()?.data.len() {
            return None;
        }
        let comm = self.write_comm(data).ok()?;
        let protection = match (&self.session, comm) {
            (None, _) | (Some(_), CommMode::Plain) => 0,
            (Some(_), CommMode::Maced) => 8,
            (Some(session), CommMode::Enciphered) => {
                let bs = session.block_size();
                (len + 4).div_ceil(bs) * bs - len
            }
        };
        Some(7 + len + protection)
    }

    /// One native command (or continuation frame): its status and answer data.
    fn native(&mut self, command: u8, data: Vec<u8>) -> (u8, Vec<u8>) {
        let pending = std::mem::replace(&mut self.pending, Pending::Nothing);
        let result = if command == ins::ADDITIONAL_FRAME {
            match pending {
                Pending::Nothing => Err(status::ILLEGAL_COMMAND),
                Pending::Answer(frames) => return self.next_answer_frame(frames),
                Pending::Authentication(auth) => self.finish_authentication(auth, &data),
                Pending::Command {
                    ins,
                    mut received,
                    expected,
                } => {
                    received.extend_from_slice(&data);
                    if received.len() < expected {
                        self.pending = Pending::Command {
                            ins,
                            received,
                            expected,
                        };
                        return (status::ADDITIONAL_FRAME, Vec::new());
                    }
                    if received.len() > expected {
                        Err(status::LENGTH_ERROR)
                    } else {
                        self.execute(ins, received)
                    }
                }
            }
        } else {
            let expected = (command == ins::WRITE_DATA)
                .then(|| self.expected_write_len(&data))
                .flatten();
            match expected {
                Some(expected) if data.len() < expected => {
                    self.pending = Pending::Command {
                        ins: command,
                        received: data,
                        expected,
                    };
                    return (status::ADDITIONAL_FRAME, Vec::new());
                }
                _ => self.execute(command, data),
            }
        };
        match result {
            Ok(reply) => self.answer(reply),
            Err(refusal) => {
                self.session = None;
                self.pending = Pending::Nothing;
                (refusal, Vec::new())
            }
        }
    }

    /// Secure messaging on the way in, then the command itself.
    fn execute(&mut self, command: u8, data: Vec<u8>) -> Result<Reply, Refusal> {
        let params = self.unwrap_command(command, data)?;
        match command {
            ins::GET_VERSION => self.get_version(),
            ins::AUTHENTICATE_AES | ins::AUTHENTICATE_ISO => {
                self.start_authentication(command, &params)
            }
            ins::SELECT_APPLICATION => self.select_application(&params),
            ins::GET_APPLICATION_IDS => self.application_ids(),
            ins::GET_KEY_SETTINGS => Ok(self.key_settings()),
            ins::GET_KEY_VERSION => self.key_version(&params),
            ins::GET_CARD_UID => self.card_uid(),
            ins::CREATE_APPLICATION => self.create_application(&params),
            ins::FORMAT_PICC => self.format_picc(),
            ins::CREATE_STD_DATA_FILE => self.create_file(&params, false),
            ins::CREATE_BACKUP_DATA_FILE => self.create_file(&params, true),
            ins::DELETE_FILE => self.delete_file(&params),
            ins::GET_FILE_IDS => self.file_ids(),
            ins::GET_FILE_SETTINGS => self.file_settings(&params),
            ins::WRITE_DATA => self.write_data(&params),
            ins::READ_DATA => self.read_data(&params),
            ins::COMMIT_TRANSACTION => self.commit_transaction(),
            ins::ABORT_TRANSACTION => self.abort_transaction(),
            ins::CHANGE_KEY => self.change_key(&params),
            _ => Err(status::ILLEGAL_COMMAND),
        }
    }

    /// Checks and strips the command's protection, moving the IV exactly as the reader did.
    fn unwrap_command(&mut self, command: u8, data: Vec<u8>) -> Result<Vec<u8>, Refusal> {
        if self.session.is_none()
            || matches!(
                command,
                ins::AUTHENTICATE_AES | ins::AUTHENTICATE_ISO | ins::SELECT_APPLICATION
            )
        {
            return Ok(data);
        }
        let write_comm = match command {
            ins::WRITE_DATA => Some(self.write_comm(&data)?),
            _ => None,
        };
        let Some(session) = self.session.as_mut() else {
            return Ok(data);
        };
        let mut maced = vec![command];
        match (command, write_comm) {
            (ins::CHANGE_KEY, _) => {
                let (key_no, cryptogram) = data.split_first().ok_or(status::LENGTH_ERROR)?;
                let plain = session.decrypt(cryptogram).ok_or(status::LENGTH_ERROR)?;
                let mut params = vec![*key_no];
                params.extend_from_slice(&plain);
                Ok(params)
            }
            (_, Some(CommMode::Maced)) => {
                let split = data.len().checked_sub(8).ok_or(status::LENGTH_ERROR)?;
                let (params, mac) = data.split_at(split);
                maced.extend_from_slice(params);
                if session.cmac(&maced) != mac {
                    return Err(status::INTEGRITY_ERROR);
                }
                Ok(params.to_vec())
            }
            (_, Some(CommMode::Enciphered)) => {
                let (header, cryptogram) = data.split_at_checked(7).ok_or(status::LENGTH_ERROR)?;
                let bs = session.block_size();
                let plain = session.decrypt(cryptogram).ok_or(status::LENGTH_ERROR)?;
                maced.extend_from_slice(header);
                let payload = split_crc(&plain, Some(u24(&header[4..7])), bs, &maced, &[])
                    .ok_or(status::INTEGRITY_ERROR)?;
                let mut params = header.to_vec();
                params.extend_from_slice(payload);
                Ok(params)
            }
            _ => {
                maced.extend_from_slice(&data);
                session.cmac(&maced);
                Ok(data)
            }
        }
    }

    /// Secure messaging on the way out, and frames of at most [`MAX_FRAME_DATA`] bytes.
    fn answer(&mut self, reply: Reply) -> (u8, Vec<u8>) {
        let frames = match (reply, self.session.as_mut()) {
            (Reply::Challenge(data), _) => return (status::ADDITIONAL_FRAME, data),
            (Reply::Version(data), None) => version_frames(data),
            (Reply::Version(data), Some(session)) => version_frames(with_cmac(session, data)),
            (Reply::Bare(data), _) | (Reply::Maced(data) | Reply::Enciphered(data), None) => {
                frames(data)
            }
            (Reply::Maced(data), Some(session)) => frames(with_cmac(session, data)),
            (Reply::Enciphered(data), Some(session)) => frames(session.encrypt_answer(&data)),
        };
        self.next_answer_frame(frames)
    }

    fn next_answer_frame(&mut self, mut frames: VecDeque<Vec<u8>>) -> (u8, Vec<u8>) {
        let frame = frames.pop_front().unwrap_or_default();
        if frames.is_empty() {
            (status::OK, frame)
        } else {
            self.pending = Pending::Answer(frames);
            (status::ADDITIONAL_FRAME, frame)
        }
    }

    fn get_version(&self) -> Result<Reply, Refusal> {
        let mut data = HARDWARE_VERSION.to_vec();
        data.extend_from_slice(&SOFTWARE_VERSION);
        data.extend_from_slice(&self.state.uid);
        data.extend_from_slice(&self.state.batch);
        data.extend_from_slice(&[self.state.production_week, self.state.production_year]);
        Ok(Reply::Version(data))
    }

    fn start_authentication(&mut self, command: u8, params: &[u8]) -> Result<Reply, Refusal> {
        self.session = None;
        let [key_no] = params[..] else {
            return Err(status::LENGTH_ERROR);
        };
        let key = self
            .application()
            .keys
            .get(usize::from(key_no))
            .ok_or(status::NO_SUCH_KEY)?
            .clone();
        let is_aes = key.algorithm() == KeyAlgorithm::Aes128;
        if is_aes != (command == ins::AUTHENTICATE_AES) {
            return Err(status::AUTHENTICATION_ERROR);
        }
        let mut rnd_b = Zeroizing::new(vec![0; key.challenge_len()]);
        self.random.fill(&mut rnd_b);
        let cipher = key.cipher();
        let mut iv = Zeroizing::new(vec![0; cipher.block_size()]);
        let mut challenge = rnd_b.to_vec();
        cipher.cbc_encrypt(&mut iv, &mut challenge);
        self.pending = Pending::Authentication(PendingAuth {
            key_no,
            key,
            rnd_b,
            iv,
        });
        Ok(Reply::Challenge(challenge))
    }

    fn finish_authentication(
        &mut self,
        mut auth: PendingAuth,
        token: &[u8],
    ) -> Result<Reply, Refusal> {
        let n = auth.rnd_b.len();
        if token.len() != 2 * n {
            return Err(status::LENGTH_ERROR);
        }
        let cipher = auth.key.cipher();
        let mut plain = Zeroizing::new(token.to_vec());
        cipher.cbc_decrypt(&mut auth.iv, &mut plain);
        let (rnd_a, rotated_b) = plain.split_at(n);
        if *rotated_b != *rotate_left(&auth.rnd_b) {
            return Err(status::AUTHENTICATION_ERROR);
        }
        let mut proof = rotate_left(rnd_a).to_vec();
        cipher.cbc_encrypt(&mut auth.iv, &mut proof);
        self.session = Some(SecureMessaging::establish(
            &auth.key,
            auth.key_no,
            rnd_a,
            &auth.rnd_b,
        ));
        Ok(Reply::Bare(proof))
    }

    fn select_application(&mut self, params: &[u8]) -> Result<Reply, Refusal> {
        let [a, b, c] = params[..] else {
            return Err(status::LENGTH_ERROR);
        };
        let aid = Aid::from_bytes([a, b, c]);
        if self.find_application(aid).is_none() {
            return Err(status::APPLICATION_NOT_FOUND);
        }
        self.session = None;
        // Leaving the application aborts its transaction.
        self.uncommitted.clear();
        self.selected = aid;
        Ok(Reply::Bare(Vec::new()))
    }

    fn application_ids(&self) -> Result<Reply, Refusal> {
        if self.selected != Aid::PICC {
            return Err(status::PERMISSION_DENIED);
        }
        self.check_master_or(SETTING_FREE_LISTING)?;
        let ids = self
            .state
            .applications
            .iter()
            .flat_map(|app| app.aid.to_bytes())
            .collect();
        Ok(Reply::Maced(ids))
    }

    fn key_settings(&self) -> Reply {
        let app = self.application();
        let algorithm_flag = match app.keys.first().map(DesfireKey::algorithm) {
            Some(KeyAlgorithm::Aes128) => 0x80,
            Some(KeyAlgorithm::ThreeKey3Des) => 0x40,
            _ => 0x00,
        };
        Reply::Maced(vec![
            app.key_settings,
            app.keys.len() as u8 | algorithm_flag,
        ])
    }

    fn key_version(&self, params: &[u8]) -> Result<Reply, Refusal> {
        let [key_no] = params[..] else {
            return Err(status::LENGTH_ERROR);
        };
        let key = self
            .application()
            .keys
            .get(usize::from(key_no))
            .ok_or(status::NO_SUCH_KEY)?;
        Ok(Reply::Maced(vec![key.version()]))
    }

    fn card_uid(&self) -> Result<Reply, Refusal> {
        if self.session.is_none() {
            return Err(status::AUTHENTICATION_ERROR);
        }
        Ok(Reply::Enciphered(self.state.uid.clone()))
    }

    fn create_application(&mut self, params: &[u8]) -> Result<Reply, Refusal> {
        if self.selected != Aid::PICC {
            return Err(status::PERMISSION_DENIED);
        }
        // AID, settings, key count and flags; ISO file IDs and DF names are not offered.
        let [a, b, c, key_settings, keys_and_flags] = params[..] else {
            return Err(status::LENGTH_ERROR);
        };
        self.check_master_or(SETTING_FREE_CREATE_DELETE)?;
        let aid = Aid::from_bytes([a, b, c]);
        let key_count = keys_and_flags & 0x0F;
        let algorithm = match keys_and_flags & 0xF0 {
            0x80 => KeyAlgorithm::Aes128,
            0x40 => KeyAlgorithm::ThreeKey3Des,
            0x00 => KeyAlgorithm::TwoKey3Des,
            _ => return Err(status::PARAMETER_ERROR),
        };
        if aid == Aid::PICC || !(1..=14).contains(&key_count) {
            return Err(status::PARAMETER_ERROR);
        }
        if self.find_application(aid).is_some() {
            return Err(status::DUPLICATE_ERROR);
        }
        if self.state.applications.len() >= MAX_APPLICATIONS {
            return Err(status::COUNT_ERROR);
        }
        self.state.applications.push(Application {
            aid,
            key_settings,
            keys: vec![DesfireKey::zero(algorithm); usize::from(key_count)],
            files: Vec::new(),
        });
        self.save()?;
        Ok(Reply::Maced(Vec::new()))
    }

    fn format_picc(&mut self) -> Result<Reply, Refusal> {
        if self.selected != Aid::PICC || self.authenticated_key() != Some(0) {
            return Err(status::PERMISSION_DENIED);
        }
        self.state.applications.clear();
        self.uncommitted.clear();
        self.save()?;
        Ok(Reply::Maced(Vec::new()))
    }

    fn used_memory(&self) -> usize {
        self.state
            .applications
            .iter()
            .flat_map(|app| &app.files)
            .map(|file| file.data.len() * if file.backup { 2 } else { 1 })
            .sum()
    }

    fn create_file(&mut self, params: &[u8], backup: bool) -> Result<Reply, Refusal> {
        if self.selected == Aid::PICC {
            return Err(status::PERMISSION_DENIED);
        }
        let [file_no, comm, ar0, ar1, s0, s1, s2] = params[..] else {
            return Err(status::LENGTH_ERROR);
        };
        self.check_master_or(SETTING_FREE_CREATE_DELETE)?;
        let comm = CommMode::from_byte(comm).ok_or(status::PARAMETER_ERROR)?;
        let size = u24(&[s0, s1, s2]);
        if file_no > MAX_FILE_NO || size == 0 {
            return Err(status::PARAMETER_ERROR);
        }
        if self.file(file_no).is_ok() {
            return Err(status::DUPLICATE_ERROR);
        }
        if self.application().files.len() >= MAX_FILES {
            return Err(status::COUNT_ERROR);
        }
        let footprint = if backup { 2 * size } else { size };
        if self.used_memory() + footprint > FREE_MEMORY {
            return Err(status::OUT_OF_EEPROM);
        }
        self.application_mut().files.push(DataFile {
            file_no,
            backup,
            comm,
            access: AccessRights::from_u16(u16::from_le_bytes([ar0, ar1])),
            data: vec![0; size],
        });
        self.save()?;
        Ok(Reply::Maced(Vec::new()))
    }

    fn delete_file(&mut self, params: &[u8]) -> Result<Reply, Refusal> {
        let [file_no] = params[..] else {
            return Err(status::LENGTH_ERROR);
        };
        self.check_master_or(SETTING_FREE_CREATE_DELETE)?;
        self.file(file_no)?;
        let selected = self.selected;
        self.application_mut()
            .files
            .retain(|file| file.file_no != file_no);
        self.uncommitted.remove(&(selected, file_no));
        self.save()?;
        Ok(Reply::Maced(Vec::new()))
    }

    fn file_ids(&self) -> Result<Reply, Refusal> {
        self.check_master_or(SETTING_FREE_LISTING)?;
        Ok(Reply::Maced(
            self.application()
                .files
                .iter()
                .map(|file| file.file_no)
                .collect(),
        ))
    }

    fn file_settings(&self, params: &[u8]) -> Result<Reply, Refusal> {
        let [file_no] = params[..] else {
            return Err(status::LENGTH_ERROR);
        };
        self.check_master_or(SETTING_FREE_LISTING)?;
        let file = self.file(file_no)?;
        let mut settings = vec![u8::from(file.backup), file.comm.to_byte()];
        settings.extend_from_slice(&file.access.to_bytes());
        settings.extend_from_slice(&(file.data.len() as u32).to_le_bytes()[..3]);
        Ok(Reply::Maced(settings))
    }

    /// The file number, offset and length of a ReadData / WriteData header.
    fn data_header(&self, params: &[u8]) -> Result<(u8, usize, usize), Refusal> {
        let header = params.get(..7).ok_or(status::LENGTH_ERROR)?;
        Ok((header[0], u24(&header[1..4]), u24(&header[4..7])))
    }

    fn write_data(&mut self, params: &[u8]) -> Result<Reply, Refusal> {
        let (file_no, offset, len) = self.data_header(params)?;
        let payload = &params[7..];
        if len == 0 || payload.len() != len {
            return Err(status::LENGTH_ERROR);
        }
        let file = self.file(file_no)?;
        self.check_access(&[file.access.write, file.access.read_write])?;
        let end = offset
            .checked_add(len)
            .filter(|end| *end <= file.data.len())
            .ok_or(status::BOUNDARY_ERROR)?;
        if file.backup {
            let committed = file.data.clone();
            let image = self
                .uncommitted
                .entry((self.selected, file_no))
                .or_insert(committed);
            image[offset..end].copy_from_slice(payload);
            return Ok(Reply::Maced(Vec::new()));
        }
        let selected = self.selected;
        let file = self.file_mut(selected, file_no)?;
        let before = file.data[offset..end].to_vec();
        file.data[offset..end].copy_from_slice(payload);
        if let Err(refusal) = self.save() {
            // The EEPROM "failed": undo, so the answer and the memory agree.
            self.file_mut(selected, file_no)?.data[offset..end].copy_from_slice(&before);
            return Err(refusal);
        }
        Ok(Reply::Maced(Vec::new()))
    }

    fn file_mut(&mut self, aid: Aid, file_no: u8) -> Result<&mut DataFile, Refusal> {
        self.state
            .applications
            .iter_mut()
            .find(|app| app.aid == aid)
            .and_then(|app| app.files.iter_mut().find(|file| file.file_no == file_no))
            .ok_or(status::FILE_NOT_FOUND)
    }

    fn read_data(&self, params: &[u8]) -> Result<Reply, Refusal> {
        let (file_no, offset, len) = self.data_header(params)?;
        if params.len() != 7 {
            return Err(status::LENGTH_ERROR);
        }
        let file = self.file(file_no)?;
        self.check_access(&[file.access.read, file.access.read_write])?;
        // Length 0 reads to the end of the file.
        let len = if len == 0 {
            file.data
                .len()
                .checked_sub(offset)
                .ok_or(status::BOUNDARY_ERROR)?
        } else {
            len
        };
        let data = offset
            .checked_add(len)
            .and_then(|end| file.data.get(offset..end))
            .ok_or(status::BOUNDARY_ERROR)?
            .to_vec();
        Ok(match Self::read_comm(file) {
            CommMode::Enciphered => Reply::Enciphered(data),
            CommMode::Plain | CommMode::Maced => Reply::Maced(data),
        })
    }

    fn commit_transaction(&mut self) -> Result<Reply, Refusal> {
        let selected = self.selected;
        let writes: Vec<_> = std::mem::take(&mut self.uncommitted).into_iter().collect();
        for ((aid, file_no), image) in writes {
            if aid == selected {
                self.file_mut(aid, file_no)?.data = image;
            }
        }
        self.save()?;
        Ok(Reply::Maced(Vec::new()))
    }

    fn abort_transaction(&mut self) -> Result<Reply, Refusal> {
        self.uncommitted.clear();
        Ok(Reply::Maced(Vec::new()))
    }

    /// Whether the session's key may change key `target` of the selected level.
    fn may_change_key(&self, target: u8) -> bool {
        let Some(authenticated) = self.authenticated_key() else {
            return false;
        };
        let settings = self.application().key_settings;
        if target == 0 || self.selected == Aid::PICC {
            return target == 0
                && authenticated == 0
                && settings & SETTING_MASTER_KEY_CHANGEABLE != 0;
        }
        match settings >> 4 {
            0x0E => authenticated == target,
            0x0F => false,
            change_key => authenticated == change_key,
        }
    }

    /// ChangeKey after deciphering: `KeyNo ‖ key data ‖ CRC [‖ CRC(new key)] ‖ padding`.
    fn change_key(&mut self, params: &[u8]) -> Result<Reply, Refusal> {
        let Some(session_key_no) = self.authenticated_key() else {
            return Err(status::AUTHENTICATION_ERROR);
        };
        let (&wire_key_no, plain) = params.split_first().ok_or(status::LENGTH_ERROR)?;
        let at_picc = self.selected == Aid::PICC;
        let (key_no, algorithm) = if at_picc {
            let algorithm = match wire_key_no & 0xC0 {
                0x80 => KeyAlgorithm::Aes128,
                0x40 => KeyAlgorithm::ThreeKey3Des,
                0x00 => KeyAlgorithm::TwoKey3Des,
                _ => return Err(status::PARAMETER_ERROR),
            };
            (wire_key_no & 0x3F, algorithm)
        } else {
            let algorithm = self
                .application()
                .keys
                .first()
                .map_or(KeyAlgorithm::TwoKey3Des, DesfireKey::algorithm);
            (wire_key_no, algorithm)
        };
        let old_key = self
            .application()
            .keys
            .get(usize::from(key_no))
            .ok_or(status::NO_SUCH_KEY)?
            .clone();
        if !self.may_change_key(key_no) {
            return Err(status::PERMISSION_DENIED);
        }
        let same_key = key_no == session_key_no;
        let key_data_len = algorithm.key_len() + usize::from(algorithm == KeyAlgorithm::Aes128);
        let body_len = key_data_len + if same_key { 4 } else { 8 };
        let bs = self.session.as_ref().map_or(8, SecureMessaging::block_size);
        if plain.len() != body_len.div_ceil(bs) * bs {
            return Err(status::LENGTH_ERROR);
        }
        let (key_data, rest) = plain.split_at(key_data_len);
        let mut crc_input = vec![ins::CHANGE_KEY, wire_key_no];
        crc_input.extend_from_slice(key_data);
        if rest[..4] != crc32(&crc_input) || rest[body_len - key_data_len..].iter().any(|b| *b != 0)
        {
            return Err(status::INTEGRITY_ERROR);
        }
        let mut new_data = Zeroizing::new(key_data.to_vec());
        if !same_key {
            xor_into(&mut new_data, old_key.bytes());
        }
        let key_len = algorithm.key_len();
        if !same_key && rest[4..8] != crc32(&new_data[..key_len]) {
            return Err(status::INTEGRITY_ERROR);
        }
        let version = new_data.get(key_len).copied().unwrap_or(0);
        let new_key = DesfireKey::new(algorithm, &new_data[..key_len])
            .map_err(|_| status::PARAMETER_ERROR)?
            .with_aes_version(version);
        self.application_mut().keys[usize::from(key_no)] = new_key;
        self.save()?;
        if same_key {
            self.session = None;
            Ok(Reply::Bare(Vec::new()))
        } else {
            Ok(Reply::Maced(Vec::new()))
        }
    }

    /// ISO 7816-4 commands: the reader's UID pseudo-APDU and SELECT of the DESFire DF name.
    fn iso(&mut self, command: &Command) -> Response {
        match (command.cla, command.ins) {
            (0xFF, 0xCA) => self.get_uid(command),
            (0x00, 0xA4) if command.p1 == 0x04 && command.data == DESFIRE_DF_NAME => {
                self.session = None;
                self.uncommitted.clear();
                self.selected = Aid::PICC;
                iso_status(0x9000)
            }
            (0x00, 0xA4) => iso_status(0x6A82),
            (0x00, _) => iso_status(0x6D00),
            _ => iso_status(0x6E00),
        }
    }

    /// What a PC/SC reader answers to `FF CA`.
    fn get_uid(&self, command: &Command) -> Response {
        if command.p1 != 0 || command.p2 != 0 {
            return iso_status(0x6A81);
        }
        let uid = &self.state.uid;
        match command.le {
            Some(le) if le < uid.len() => iso_status(0x6C00 | uid.len() as u16),
            Some(le) if le > uid.len() && le != 256 => Response {
                data: uid.clone(),
                sw: StatusWord(0x6282),
            },
            _ => Response {
                data: uid.clone(),
                sw: StatusWord::OK,
            },
        }
    }
}

fn with_cmac(session: &mut SecureMessaging, mut data: Vec<u8>) -> Vec<u8> {
    data.push(status::OK);
    let mac = session.cmac(&data);
    data.pop();
    data.extend_from_slice(&mac);
    data
}

/// GetVersion's three frames: hardware, software, then the rest (with the CMAC if any).
fn version_frames(mut wire: Vec<u8>) -> VecDeque<Vec<u8>> {
    let rest = wire.split_off(14.min(wire.len()));
    let software = wire.split_off(7.min(wire.len()));
    VecDeque::from([wire, software, rest])
}

fn frames(wire: Vec<u8>) -> VecDeque<Vec<u8>> {
    wire.chunks(MAX_FRAME_DATA).map(<[u8]>::to_vec).collect()
}

fn u24(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take(3)
        .rev()
        .fold(0, |value, byte| (value << 8) | usize::from(*byte))
}

fn iso_status(sw: u16) -> Response {
    Response {
        data: Vec::new(),
        sw: StatusWord(sw),
    }
}

impl VirtualCard for DesfireCard {
    fn atr(&self) -> Vec<u8> {
        DESFIRE_ATR.to_vec()
    }

    fn reset(&mut self) {
        self.session = None;
        self.pending = Pending::Nothing;
        self.selected = Aid::PICC;
        self.uncommitted.clear();
    }

    fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let Ok(command) = Command::parse(apdu) else {
            return iso_status(0x6700).to_bytes();
        };
        if command.cla != 0x90 {
            return self.iso(&command).to_bytes();
        }
        if command.p1 != 0 || command.p2 != 0 {
            return iso_status(0x6A86).to_bytes();
        }
        let (native_status, mut data) = self.native(command.ins, command.data);
        data.extend_from_slice(&[0x91, native_status]);
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::desfire::{Desfire, DesfireError, FileSpec};
    use crate::card::desfire_traces::{self as traces, Trace, h, iso_answer, iso_command};
    use crate::card::{Transport, TransportError, read_uid};
    use crate::crypto::diversify::diversify;
    use crate::error::Problem;
    use crate::sim::{Faults, SharedCard, SimTransport, shared};
    use proptest::prelude::*;

    const UID: &str = "04A1B2C3D4E5F6";
    const APP: Aid = Aid(0x5A4D53);

    /// Challenges from a list, in order.
    fn challenges(list: Vec<Vec<u8>>) -> impl RandomSource + 'static {
        let mut queue = VecDeque::from(list);
        move |out: &mut [u8]| out.copy_from_slice(&queue.pop_front().expect("no more RndB"))
    }

    /// RndB back out of the card's recorded challenge, for a DES-family key.
    fn des_rnd_b(key: &DesfireKey, challenge: &str) -> Vec<u8> {
        let cipher = key.cipher();
        let mut iv = vec![0; 8];
        let mut rnd_b = h(challenge);
        cipher.cbc_decrypt(&mut iv, &mut rnd_b);
        rnd_b
    }

    /// Sends every recorded command and checks the card's answer byte for byte.
    fn replay(card: &mut DesfireCard, trace: &Trace, steps: usize) {
        for (command, answer) in &trace.steps[..steps] {
            let got = card.process(&iso_command(command));
            assert_eq!(
                hex::encode_upper(&got),
                hex::encode_upper(iso_answer(answer)),
                "answer to {command}"
            );
        }
    }

    fn with_picc_key(uid: &str, key: DesfireKey) -> DesfireCardState {
        let mut state = DesfireCardState::blank(&h(uid));
        state.picc.keys = vec![key];
        state
    }

    #[test]
    fn replays_aes_authentication() {
        let state = with_picc_key(UID, DesfireKey::zero(KeyAlgorithm::Aes128));
        let mut card = DesfireCard::with_random(state, challenges(vec![h(traces::AES_AUTH_RND_B)]));
        replay(&mut card, &traces::AES_AUTH, traces::AES_AUTH.steps.len());
    }

    #[test]
    fn replays_an_aes_session_with_a_plain_file() {
        let mut state = DesfireCardState::blank(&h(UID));
        state.applications.push(Application {
            aid: APP,
            key_settings: 0x0F,
            keys: vec![
                DesfireKey::new(KeyAlgorithm::Aes128, &h("10182028303840485058606870788088"))
                    .unwrap(),
            ],
            files: Vec::new(),
        });
        let mut card =
            DesfireCard::with_random(state, challenges(vec![h(traces::AES_FILES_RND_B)]));
        assert_eq!(card.process(&iso_command("5A 534D5A")), [0x91, 0x00]);
        replay(&mut card, &traces::AES_FILES, traces::AES_FILES.steps.len());
        assert!(card.state().applications[0].files.is_empty());
    }

    #[test]
    fn replays_iso_authentication_get_version_and_format() {
        let mut state = DesfireCardState::blank(&h(traces::DES_CARD_UID));
        state.applications.push(Application {
            aid: Aid(0x112233),
            key_settings: 0x0F,
            keys: vec![DesfireKey::zero(KeyAlgorithm::Aes128)],
            files: Vec::new(),
        });
        let mut card = DesfireCard::with_random(state, challenges(vec![h(traces::DES_CARD_RND_B)]));
        replay(&mut card, &traces::DES_CARD, traces::DES_CARD.steps.len());
        let apps: Vec<Aid> = card.state().applications.iter().map(|a| a.aid).collect();
        assert_eq!(
            apps,
            [Aid(0x00DE16)],
            "formatted, then one application created"
        );
    }

    #[test]
    fn replays_get_card_uid_of_a_real_card() {
        let rnd_b = des_rnd_b(&DesfireKey::des([0; 8]), "C7BBD82FF8FEFAE8");
        let state = DesfireCardState::blank(&h(traces::CARD_UID_UID));
        let mut card = DesfireCard::with_random(state, challenges(vec![rnd_b]));
        replay(&mut card, &traces::CARD_UID, traces::CARD_UID.steps.len());
    }

    #[test]
    fn replays_change_key_of_the_card_master_key() {
        let first = DesfireKey::new(
            KeyAlgorithm::TwoKey3Des,
            &h("00102031405060708090A0B0B0A09080"),
        )
        .unwrap();
        let second = DesfireKey::new(
            KeyAlgorithm::TwoKey3Des,
            &h("10182029303840485058606870788088"),
        )
        .unwrap();
        let zero = DesfireKey::des([0; 8]);
        let rnd_bs = vec![
            des_rnd_b(&zero, "DE50F92310CAF5A5"),
            des_rnd_b(&first, "B295579926155AE3"),
            des_rnd_b(&second, "9414819CC8BB62C3"),
            des_rnd_b(&zero, "53A670D78C0DFFD6"),
        ];
        let mut card =
            DesfireCard::with_random(DesfireCardState::blank(&h(UID)), challenges(rnd_bs));
        // Up to the fourth authentication: the card level has no key 1 for the rest.
        replay(&mut card, &traces::CHANGE_KEYS, 12);
        assert_eq!(
            card.state().picc.keys,
            [DesfireKey::zero(KeyAlgorithm::TwoKey3Des)]
        );
    }

    #[test]
    fn answers_like_a_desfire_behind_a_pcsc_reader() {
        let card = shared(DesfireCard::new(DesfireCardState::blank(&h(UID))));
        let mut transport = SimTransport::insert(card, Faults::default());
        assert_eq!(transport.atr(), DESFIRE_ATR);
        assert_eq!(read_uid(&mut transport).unwrap(), h(UID));
        let select_df = h("00A4040007D276000085010000");
        assert_eq!(transport.transmit(&select_df).unwrap(), [0x90, 0x00]);
        assert_eq!(transport.transmit(&h("9099000000")).unwrap(), [0x91, 0x1C]);
        let mut client = Desfire::new(transport);
        let version = client.get_version().unwrap();
        assert_eq!(version.uid, h(UID)[..]);
        assert_eq!(version.hardware_major(), 1);
        assert_eq!(
            client.get_card_uid().unwrap_err(),
            DesfireError::NotAuthenticated
        );
    }

    fn aes(bytes: &[u8]) -> DesfireKey {
        DesfireKey::new(KeyAlgorithm::Aes128, bytes).unwrap()
    }

    const RECORD_FILE: u8 = 1;
    const PHOTO_FILE: u8 = 2;
    const READ_KEY: u8 = 1;
    const WRITE_KEY: u8 = 2;

    fn record_spec() -> FileSpec {
        FileSpec {
            comm: CommMode::Enciphered,
            access: AccessRights {
                read: READ_KEY,
                write: WRITE_KEY,
                read_write: 0,
                change: 0,
            },
            size: 96,
        }
    }

    /// Creates the university application with AES keys and a backup file for the record.
    fn issue_blank(card: &SharedCard) -> Desfire<SimTransport> {
        let mut client = Desfire::new(SimTransport::insert(card.clone(), Faults::default()));
        client.authenticate(0, &DesfireKey::des([0; 8])).unwrap();
        assert_eq!(client.get_card_uid().unwrap(), h(UID));
        client
            .create_application(APP, 0x0F, 3, KeyAlgorithm::Aes128)
            .unwrap();
        client.select_application(APP).unwrap();
        client
            .authenticate(0, &DesfireKey::zero(KeyAlgorithm::Aes128))
            .unwrap();
        client
            .create_backup_data_file(RECORD_FILE, record_spec())
            .unwrap();
        let photo = FileSpec {
            comm: CommMode::Maced,
            ..record_spec()
        };
        client
            .create_std_data_file(PHOTO_FILE, FileSpec { size: 300, ..photo })
            .unwrap();
        client
    }

    fn session(
        card: &SharedCard,
        faults: Faults,
        key_no: u8,
        key: &DesfireKey,
    ) -> Desfire<SimTransport> {
        let mut client = Desfire::new(SimTransport::insert(card.clone(), faults));
        client.select_application(APP).unwrap();
        client.authenticate(key_no, key).unwrap();
        client
    }

    #[test]
    fn issues_a_card_end_to_end() {
        let card = shared(DesfireCard::new(DesfireCardState::blank(&h(UID))));
        let mut client = issue_blank(&card);
        let zero = DesfireKey::zero(KeyAlgorithm::Aes128);

        // Enciphered backup file: invisible until committed. Longer than one frame.
        let record: Vec<u8> = (0..90).map(|i| i as u8 ^ 0x5A).collect();
        client
            .write_data(RECORD_FILE, 0, &record, CommMode::Enciphered)
            .unwrap();
        assert_eq!(
            client
                .read_data(RECORD_FILE, 0, 90, CommMode::Enciphered)
                .unwrap(),
            vec![0; 90]
        );
        client.commit_transaction().unwrap();
        assert_eq!(
            client
                .read_data(RECORD_FILE, 0, 90, CommMode::Enciphered)
                .unwrap(),
            record
        );
        assert!(
            matches!(
                client.read_data(RECORD_FILE, 0, 0, CommMode::Enciphered),
                Err(DesfireError::InvalidRequest(_))
            ),
            "an enciphered read of unknown length is refused: its end cannot be told from its CRC"
        );
        // MACed standard file, several frames each way.
        let photo: Vec<u8> = (0..300).map(|i| (i * 7) as u8).collect();
        client
            .write_data(PHOTO_FILE, 0, &photo, CommMode::Maced)
            .unwrap();
        assert_eq!(
            client.read_data(PHOTO_FILE, 0, 0, CommMode::Maced).unwrap(),
            photo
        );
        // An aborted transaction leaves the committed record.
        client
            .write_data(RECORD_FILE, 0, &[0xEE; 8], CommMode::Enciphered)
            .unwrap();
        client.abort_transaction().unwrap();
        assert_eq!(
            client
                .read_data(RECORD_FILE, 0, 8, CommMode::Enciphered)
                .unwrap(),
            record[..8]
        );

        // Diversified keys: the others first (the session survives), the master key last.
        let uid = h(UID);
        let keys: Vec<DesfireKey> = (0..3u8)
            .map(|no| {
                let master = [0x40 + no; 16];
                aes(
                    &diversify(KeyAlgorithm::Aes128, &master, &uid, &APP.to_bytes(), b"ELS")
                        .unwrap(),
                )
            })
            .collect();
        client.change_key(READ_KEY, &keys[1], Some(&zero)).unwrap();
        client.change_key(WRITE_KEY, &keys[2], Some(&zero)).unwrap();
        assert!(client.is_authenticated());
        client.change_key(0, &keys[0], None).unwrap();
        assert!(!client.is_authenticated());

        let mut kiosk = session(&card, Faults::default(), READ_KEY, &keys[1]);
        assert_eq!(
            kiosk
                .read_data(RECORD_FILE, 0, 90, CommMode::Enciphered)
                .unwrap(),
            record
        );
        assert_eq!(
            kiosk.write_data(RECORD_FILE, 0, &[1], CommMode::Enciphered),
            Err(DesfireError::Status(status::PERMISSION_DENIED)),
            "the read key cannot write"
        );
        let mut wrong = Desfire::new(SimTransport::insert(card.clone(), Faults::default()));
        wrong.select_application(APP).unwrap();
        let err = wrong.authenticate(READ_KEY, &zero).unwrap_err();
        assert_eq!(err, DesfireError::Authentication);
        assert!(err.to_string().contains("authentication failed"), "{err}");
        assert!(!err.next_step().is_empty());
        assert!(
            wrong.authenticate(0, &keys[0]).is_ok(),
            "the new master key works"
        );
    }

    #[test]
    fn every_key_type_runs_secure_messaging_with_diversified_keys() {
        let uid = h(UID);
        for (n, algorithm) in [
            KeyAlgorithm::Aes128,
            KeyAlgorithm::TwoKey3Des,
            KeyAlgorithm::ThreeKey3Des,
        ]
        .into_iter()
        .enumerate()
        {
            let aid = Aid(0x100 + n as u32);
            let card = shared(DesfireCard::new(DesfireCardState::blank(&uid)));
            let mut client = Desfire::new(SimTransport::insert(card, Faults::default()));
            client.create_application(aid, 0x0F, 2, algorithm).unwrap();
            client.select_application(aid).unwrap();
            let settings = client.get_key_settings().unwrap();
            assert_eq!((settings.max_keys, settings.algorithm), (2, algorithm));
            let zero = DesfireKey::zero(algorithm);
            client.authenticate(0, &zero).unwrap();
            let spec = FileSpec {
                size: 100,
                ..record_spec()
            };
            client.create_std_data_file(RECORD_FILE, spec).unwrap();
            let master = vec![0x33; algorithm.key_len()];
            let diversified = diversify(algorithm, &master, &uid, &aid.to_bytes(), b"").unwrap();
            let read_key = DesfireKey::new(algorithm, &diversified).unwrap();
            client.change_key(READ_KEY, &read_key, Some(&zero)).unwrap();
            let record = [n as u8 + 1; 70];
            client
                .write_data(RECORD_FILE, 3, &record, CommMode::Enciphered)
                .unwrap();
            client.authenticate(READ_KEY, &read_key).unwrap();
            assert_eq!(
                client
                    .read_data(RECORD_FILE, 3, 70, CommMode::Enciphered)
                    .unwrap(),
                record,
                "{algorithm}"
            );
            assert_eq!(
                client.authenticate(READ_KEY, &zero),
                Err(DesfireError::Authentication),
                "{algorithm}"
            );
        }
    }

    #[test]
    fn torn_write_before_commit_keeps_the_old_record_and_a_retry_works() {
        let card = shared(DesfireCard::new(DesfireCardState::blank(&h(UID))));
        let mut client = issue_blank(&card);
        let old = [0x11; 40];
        client
            .write_data(RECORD_FILE, 0, &old, CommMode::Enciphered)
            .unwrap();
        client.commit_transaction().unwrap();
        // The application master key has the read-write right.
        let master_key = DesfireKey::zero(KeyAlgorithm::Aes128);
        let new = [0x22; 80];

        // select (1) + authentication (2) + write (2 frames) answered; the commit is torn.
        let torn = Faults {
            tear_after: Some(5),
            ..Faults::default()
        };
        let mut station = session(&card, torn, 0, &master_key);
        station
            .write_data(RECORD_FILE, 0, &new, CommMode::Enciphered)
            .unwrap();
        assert_eq!(
            station.commit_transaction(),
            Err(DesfireError::Transport(TransportError::CardRemoved))
        );
        // Torn after the first of the write's two frames.
        let torn = Faults {
            tear_after: Some(4),
            ..Faults::default()
        };
        let mut station = session(&card, torn, 0, &master_key);
        assert!(
            station
                .write_data(RECORD_FILE, 0, &new, CommMode::Enciphered)
                .is_err()
        );

        let mut station = session(&card, Faults::default(), 0, &master_key);
        assert_eq!(
            station
                .read_data(RECORD_FILE, 0, 40, CommMode::Enciphered)
                .unwrap(),
            old
        );
        station
            .write_data(RECORD_FILE, 0, &new, CommMode::Enciphered)
            .unwrap();
        station.commit_transaction().unwrap();
        assert_eq!(
            station
                .read_data(RECORD_FILE, 0, 80, CommMode::Enciphered)
                .unwrap(),
            new
        );
    }

    #[test]
    fn refusals_carry_desfire_status_codes() {
        let card = shared(DesfireCard::new(DesfireCardState::blank(&h(UID))));
        let mut client = issue_blank(&card);
        let plain = CommMode::Plain;
        assert_eq!(
            client.read_data(9, 0, 1, plain),
            Err(DesfireError::Status(status::FILE_NOT_FOUND))
        );
        assert!(!client.is_authenticated(), "an error ends the session");
        client
            .authenticate(0, &DesfireKey::zero(KeyAlgorithm::Aes128))
            .unwrap();
        assert_eq!(
            client.create_backup_data_file(RECORD_FILE, record_spec()),
            Err(DesfireError::Status(status::DUPLICATE_ERROR))
        );
        client
            .authenticate(WRITE_KEY, &DesfireKey::zero(KeyAlgorithm::Aes128))
            .unwrap();
        assert_eq!(
            client.write_data(RECORD_FILE, 90, &[0; 7], CommMode::Enciphered),
            Err(DesfireError::Status(status::BOUNDARY_ERROR))
        );
        assert_eq!(
            client.authenticate(5, &DesfireKey::zero(KeyAlgorithm::Aes128)),
            Err(DesfireError::Status(status::NO_SUCH_KEY))
        );
        assert_eq!(
            client.select_application(Aid(0x123456)),
            Err(DesfireError::Status(status::APPLICATION_NOT_FOUND))
        );
        let mut fresh = Desfire::new(SimTransport::insert(card.clone(), Faults::default()));
        fresh.select_application(APP).unwrap();
        assert_eq!(
            fresh.read_data(RECORD_FILE, 0, 1, CommMode::Plain),
            Err(DesfireError::Status(status::PERMISSION_DENIED))
        );
    }

    #[test]
    fn state_saves_to_json_and_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("desfire.json");
        let card = shared(DesfireCard::with_state_file(&path, &h(UID)).unwrap());
        let mut client = issue_blank(&card);
        client
            .write_data(RECORD_FILE, 0, &[7; 16], CommMode::Enciphered)
            .unwrap();
        client.commit_transaction().unwrap();
        drop(client);
        let again = DesfireCard::with_state_file(&path, &[1, 2, 3, 4]).unwrap();
        assert_eq!(again.state().uid, h(UID));
        let app = &again.state().applications[0];
        assert_eq!(app.files[0].data[..16], [7; 16]);
        let json = serde_json::to_string(again.state()).unwrap();
        let back: DesfireCardState = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, again.state());
    }

    #[test]
    fn debug_output_hides_keys() {
        let key = aes(&[0xAB; 16]);
        assert!(!format!("{key:?}").contains("AB"), "{key:?}");
        assert!(!format!("{key:?}").contains("ab"), "{key:?}");
    }

    /// Forwards the first APDUs to a real simulated card, then answers garbage.
    struct Garbage {
        card: SimTransport,
        honest: usize,
        answers: VecDeque<Vec<u8>>,
    }

    impl Transport for Garbage {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            if self.honest > 0 {
                self.honest -= 1;
                return self.card.transmit(apdu);
            }
            self.answers.pop_front().ok_or(TransportError::CardRemoved)
        }
        fn atr(&self) -> &[u8] {
            &[]
        }
        fn reconnect(&mut self) -> Result<(), TransportError> {
            Ok(())
        }
    }

    fn garbage_answer() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            (proptest::collection::vec(any::<u8>(), 0..70), any::<u8>()).prop_map(|(mut d, s)| {
                d.extend_from_slice(&[0x91, s]);
                d
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn the_client_survives_any_answer(
            honest in 0usize..4,
            operation in 0u8..10,
            answers in proptest::collection::vec(garbage_answer(), 0..8),
        ) {
            let state = with_picc_key(UID, DesfireKey::zero(KeyAlgorithm::Aes128));
            let card = SimTransport::insert(shared(DesfireCard::new(state)), Faults::default());
            let transport = Garbage { card, honest, answers: answers.into() };
            let mut client = Desfire::new(transport);
            let key = DesfireKey::zero(KeyAlgorithm::Aes128);
            let _ = client.authenticate(0, &key);
            let _ = match operation {
                0 => client.get_version().map(drop),
                1 => client.get_card_uid().map(drop),
                2 => client.application_ids().map(drop),
                3 => client.read_data(1, 0, 20, CommMode::Enciphered).map(drop),
                4 => client.read_data(1, 0, 20, CommMode::Maced).map(drop),
                5 => client.write_data(1, 0, &[1; 70], CommMode::Enciphered),
                6 => client.change_key(1, &key, Some(&key)),
                7 => client.get_file_settings(1).map(drop),
                8 => client.get_key_settings().map(drop),
                _ => client.select_application(APP),
            };
        }

        #[test]
        fn the_card_survives_any_apdu(
            authenticated in any::<bool>(),
            apdus in proptest::collection::vec(
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..80),
                    (
                        prop::sample::select(vec![
                            0x1A, 0xAA, 0xAF, 0x60, 0x51, 0x5A, 0x6A, 0x45, 0x64, 0xCA, 0xFC,
                            0xCD, 0xCB, 0xDF, 0x6F, 0xF5, 0x3D, 0xBD, 0xC7, 0xA7, 0xC4,
                        ]),
                        proptest::collection::vec(any::<u8>(), 0..70),
                    )
                        .prop_map(|(ins, data)| {
                            let mut apdu = vec![0x90, ins, 0, 0];
                            if !data.is_empty() {
                                apdu.push(data.len() as u8);
                                apdu.extend_from_slice(&data);
                            }
                            apdu.push(0);
                            apdu
                        }),
                ],
                1..12,
            ),
        ) {
            let card = shared(DesfireCard::new(DesfireCardState::blank(&h(UID))));
            let mut client = issue_blank(&card);
            if !authenticated {
                client.select_application(APP).unwrap();
            }
            let mut transport = client.into_transport();
            for apdu in apdus {
                let answer = transport.transmit(&apdu).unwrap();
                prop_assert!(answer.len() >= 2);
            }
        }
    }
}
