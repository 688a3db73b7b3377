//! A virtual ELS contact chip: an ISO 7816-4 file system with MF `3F00`, DF.SELS
//! (AID `D6 16 00 00 30 01 01`), EF.CERT `0001` and EF.ELS `0002`. By default it sits behind a
//! contactless reader that answers `FF CA` with its UID; as a contact card
//! ([`SimSerial::Cplc`], [`SimSerial::None`]) it refuses `FF CA` as a contact card does.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{StateFileError, VirtualCard};
use crate::card::apdu::{Command, Response, StatusWord, is_extended_encoding};
use crate::card::chip_serial::{CPLC_LEN, cplc_chip_serial};
use crate::card::els::{CHALLENGE_LEN, EF_CERT_FID, EF_ELS_FID, SELS_AID, WriteKey};
use crate::crypto::diversify::KeyAlgorithm;
use crate::crypto::{OsRandom, RandomSource};

pub const MF_FID: u16 = 0x3F00;
pub const SELS_FID: u16 = 0x3150;

/// Wrong EXTERNAL AUTHENTICATE cryptograms the card tolerates before it blocks the key.
pub const AUTH_TRIES: u8 = 5;

/// Room in each EF; real blanks have a few KB, and unused space reads as zeros.
const DEFAULT_FILE_SIZE: usize = 2048;

/// T=1, 14 historical bytes spelling the simulator's name, so a log shows which card it was.
const DEFAULT_ATR: &str = "3B8E80014361726473746174696F6E454C531B";

/// A contact card's own ATR: T=1 (TD1 = 01, not the PC/SC part 3 `80 01`), 12 historical
/// bytes "CardstationC", TCK.
pub const CONTACT_ATR: &str = "3B8C014361726473746174696F6E4380";

/// How the simulated card's chip serial can be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SimSerial {
    /// Behind a contactless reader: `FF CA` gives the UID.
    #[default]
    ReaderUid,
    /// A contact card: `FF CA` is refused (`6E00`), GET DATA `80 CA 9F 7F` gives the CPLC.
    Cplc,
    /// A contact card that gives no serial at all.
    None,
}

/// Everything that survives taking the card out; saved as JSON with `--state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElsCardState {
    #[serde(with = "hex::serde")]
    pub uid: Vec<u8>,
    #[serde(with = "hex::serde")]
    pub atr: Vec<u8>,
    #[serde(with = "hex::serde")]
    pub ef_cert: Vec<u8>,
    #[serde(with = "hex::serde")]
    pub ef_els: Vec<u8>,
    /// The largest Ne the card answers in one READ BINARY: larger requests get `6Cxx` (up to
    /// 256) or `6700`, so clients must chunk.
    pub max_response_len: usize,
    /// Answer data-bearing commands T=0 style: `61xx`, then GET RESPONSE fetches the data.
    pub force_get_response: bool,
    /// The card's own (already diversified) write key. Without one the blank is
    /// unpersonalised and UPDATE BINARY is open.
    #[serde(default)]
    pub write_key: Option<CardWriteKey>,
    /// Wrong cryptograms left before the write key blocks.
    #[serde(default = "full_tries")]
    pub auth_tries_left: u8,
    #[serde(default)]
    pub serial: SimSerial,
    /// A card (and reader) with short APDUs only: an extended-length command gets `6700`,
    /// and so does a READ BINARY asking more than `max_response_len`, with no `6Cxx` hint.
    #[serde(default)]
    pub short_apdus_only: bool,
}

fn full_tries() -> u8 {
    AUTH_TRIES
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardWriteKey {
    pub algorithm: KeyAlgorithm,
    #[serde(with = "hex::serde")]
    pub key: Vec<u8>,
}

impl ElsCardState {
    pub fn blank(uid: &[u8]) -> Self {
        Self {
            uid: uid.to_vec(),
            atr: hex::decode(DEFAULT_ATR).expect("the default ATR constant is valid hex"),
            ef_cert: vec![0; DEFAULT_FILE_SIZE],
            ef_els: vec![0; DEFAULT_FILE_SIZE],
            max_response_len: 256,
            force_get_response: false,
            write_key: None,
            auth_tries_left: AUTH_TRIES,
            serial: SimSerial::ReaderUid,
            short_apdus_only: false,
        }
    }

    /// The same card as a contact chip, its serial readable as `serial` says.
    pub fn on_contact_reader(self, serial: SimSerial) -> Self {
        let atr = match serial {
            SimSerial::ReaderUid => self.atr,
            SimSerial::Cplc | SimSerial::None => {
                hex::decode(CONTACT_ATR).expect("the contact ATR constant is valid hex")
            }
        };
        Self {
            atr,
            serial,
            ..self
        }
    }

    /// The CPLC (GlobalPlatform tag 9F7F) the card answers: IC fabricator "CS", IC type "EL",
    /// the last 4 UID bytes as IC serial number and the first 2 as batch; the rest zeros.
    pub fn cplc(&self) -> Vec<u8> {
        let mut cplc = vec![0u8; CPLC_LEN];
        cplc[..4].copy_from_slice(b"CSEL");
        let uid = &self.uid;
        cplc[12..16].copy_from_slice(&uid[uid.len() - 4..]);
        cplc[16..18].copy_from_slice(&uid[..2]);
        cplc
    }

    /// The chip serial a reader reads from this card (what issuance signs and derives the
    /// write key from), if any.
    pub fn chip_serial(&self) -> Option<Vec<u8>> {
        match self.serial {
            SimSerial::ReaderUid => Some(self.uid.clone()),
            SimSerial::Cplc => cplc_chip_serial(&self.cplc()),
            SimSerial::None => None,
        }
    }

    /// A blank personalised with its write key, as the card manufacturer delivers it.
    pub fn personalised(uid: &[u8], key: &WriteKey) -> Self {
        Self {
            write_key: Some(CardWriteKey {
                algorithm: key.algorithm(),
                key: key.expose().to_vec(),
            }),
            ..Self::blank(uid)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selected {
    Mf,
    Sels,
    Ef(u16),
}

pub struct ElsCard {
    state: ElsCardState,
    state_file: Option<PathBuf>,
    selected: Selected,
    /// Response data waiting for GET RESPONSE.
    pending: Vec<u8>,
    /// The last GET CHALLENGE answer; EXTERNAL AUTHENTICATE uses it up.
    challenge: Option<[u8; CHALLENGE_LEN]>,
    /// EXTERNAL AUTHENTICATE succeeded since the last reset.
    authenticated: bool,
    random: Box<dyn RandomSource>,
}

impl ElsCard {
    pub fn new(state: ElsCardState) -> Self {
        Self {
            state,
            state_file: None,
            selected: Selected::Mf,
            pending: Vec::new(),
            challenge: None,
            authenticated: false,
            random: Box::new(OsRandom),
        }
    }

    /// A card whose memory lives in `path`: loaded if the file exists (the same card put back),
    /// otherwise created blank with `uid`. Every write is saved before it is acknowledged.
    pub fn with_state_file(path: &Path, uid: &[u8]) -> Result<Self, StateFileError> {
        let state = super::load_state(path, || ElsCardState::blank(uid))?;
        let mut card = Self::new(state);
        card.state_file = Some(path.to_owned());
        Ok(card)
    }

    pub fn state(&self) -> &ElsCardState {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut ElsCardState {
        &mut self.state
    }

    fn save(&self) -> std::io::Result<()> {
        match &self.state_file {
            Some(path) => super::save_state(path, &self.state),
            None => Ok(()),
        }
    }

    fn answer(&mut self, command: &Command) -> Response {
        match (command.cla, command.ins) {
            // A contact reader passes the pseudo-APDU on to the card, which knows no class FF.
            (0xFF, 0xCA) if self.state.serial == SimSerial::ReaderUid => self.get_uid(command),
            (0x80, 0xCA) if self.state.serial == SimSerial::Cplc => self.get_cplc(command),
            (0x00, 0xA4) => self.select(command),
            (0x00, 0xB0) => self.read_binary(command),
            (0x00, 0xD6) => self.update_binary(command),
            (0x00, 0xC0) => self.get_response(command),
            (0x00, 0x84) => self.get_challenge(command),
            (0x00, 0x82) => self.external_authenticate(command),
            (0x00, _) => status(0x6D00),
            _ => status(0x6E00),
        }
    }

    fn get_uid(&self, command: &Command) -> Response {
        if command.p1 != 0 || command.p2 != 0 {
            return status(0x6A81);
        }
        let uid = &self.state.uid;
        match command.le {
            Some(256) => data(uid.clone()),
            Some(le) if le < uid.len() => status(0x6C00 | uid.len() as u16),
            Some(le) if le > uid.len() => Response {
                data: uid.clone(),
                sw: StatusWord(0x6282),
            },
            _ => data(uid.clone()),
        }
    }

    fn get_cplc(&self, command: &Command) -> Response {
        if (command.p1, command.p2) != (0x9F, 0x7F) {
            return status(0x6A88);
        }
        let mut answer = vec![0x9F, 0x7F, CPLC_LEN as u8];
        answer.extend(self.state.cplc());
        match command.le {
            Some(le) if le < answer.len() => status(0x6C00 | answer.len() as u16),
            _ => data(answer),
        }
    }

    fn select(&mut self, command: &Command) -> Response {
        let fid = match command.data.as_slice() {
            [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
            _ => None,
        };
        let target = match (command.p1, fid) {
            (0x04, _) if command.data == SELS_AID => Selected::Sels,
            (0x04, _) => return status(0x6A82),
            (0x00, None) if command.data.is_empty() => Selected::Mf,
            (0x00, Some(MF_FID)) => Selected::Mf,
            (0x00, Some(SELS_FID)) if self.selected == Selected::Mf => Selected::Sels,
            (0x00 | 0x02, Some(fid)) if self.in_sels() && self.file(fid).is_some() => {
                Selected::Ef(fid)
            }
            (0x00 | 0x02, Some(_)) => return status(0x6A82),
            (0x00 | 0x02, None) => return status(0x6A87),
            _ => return status(0x6A86),
        };
        let fcp = match command.p2 {
            0x0C => None,
            0x00 | 0x04 => Some(self.fcp(target)),
            _ => return status(0x6A86),
        };
        self.selected = target;
        match fcp {
            Some(fcp) => data(fcp),
            None => status(0x9000),
        }
    }

    fn in_sels(&self) -> bool {
        matches!(self.selected, Selected::Sels | Selected::Ef(_))
    }

    fn file(&self, fid: u16) -> Option<&Vec<u8>> {
        match fid {
            EF_CERT_FID => Some(&self.state.ef_cert),
            EF_ELS_FID => Some(&self.state.ef_els),
            _ => None,
        }
    }

    fn file_mut(&mut self, fid: u16) -> Option<&mut Vec<u8>> {
        match fid {
            EF_CERT_FID => Some(&mut self.state.ef_cert),
            EF_ELS_FID => Some(&mut self.state.ef_els),
            _ => None,
        }
    }

    /// The FCP template (tag 62) that SELECT with P2 00/04 returns.
    fn fcp(&self, target: Selected) -> Vec<u8> {
        let body = match target {
            Selected::Ef(fid) => {
                let size = self.file(fid).map_or(0, Vec::len) as u16;
                let [s1, s2] = size.to_be_bytes();
                let [f1, f2] = fid.to_be_bytes();
                // 80: data size, 82: transparent working EF, 83: file identifier.
                vec![0x80, 0x02, s1, s2, 0x82, 0x01, 0x01, 0x83, 0x02, f1, f2]
            }
            Selected::Sels => {
                let [f1, f2] = SELS_FID.to_be_bytes();
                let mut body = vec![
                    0x82,
                    0x01,
                    0x38,
                    0x83,
                    0x02,
                    f1,
                    f2,
                    0x84,
                    SELS_AID.len() as u8,
                ];
                body.extend_from_slice(&SELS_AID);
                body
            }
            Selected::Mf => {
                let [f1, f2] = MF_FID.to_be_bytes();
                vec![0x82, 0x01, 0x38, 0x83, 0x02, f1, f2]
            }
        };
        let mut fcp = vec![0x62, body.len() as u8];
        fcp.extend(body);
        fcp
    }

    fn current_ef(&self) -> Option<u16> {
        match self.selected {
            Selected::Ef(fid) => Some(fid),
            _ => None,
        }
    }

    fn read_binary(&mut self, command: &Command) -> Response {
        if command.p1 & 0x80 != 0 {
            return status(0x6A81); // Short-EF-identifier reads are not offered by this card.
        }
        let Some(fid) = self.current_ef() else {
            return status(0x6986);
        };
        let Some(ne) = command.le else {
            return status(0x6700);
        };
        let max = self.state.max_response_len;
        if ne > max {
            return if max <= 256 && !self.state.short_apdus_only {
                status(0x6C00 | (max % 256) as u16)
            } else {
                status(0x6700)
            };
        }
        let offset = usize::from(u16::from_be_bytes([command.p1, command.p2]));
        let file = self.file(fid).map_or(&[][..], Vec::as_slice);
        if offset >= file.len() {
            return status(0x6B00);
        }
        let available = file.len() - offset;
        if ne > available {
            return Response {
                data: file[offset..].to_vec(),
                sw: StatusWord(0x6282),
            };
        }
        data(file[offset..offset + ne].to_vec())
    }

    fn update_binary(&mut self, command: &Command) -> Response {
        if command.p1 & 0x80 != 0 {
            return status(0x6A81);
        }
        let Some(fid) = self.current_ef() else {
            return status(0x6986);
        };
        if let Err(refused) = self.check_write_access() {
            return status(refused.0);
        }
        if command.data.is_empty() {
            return status(0x6700);
        }
        let offset = usize::from(u16::from_be_bytes([command.p1, command.p2]));
        let Some(file) = self.file_mut(fid) else {
            return status(0x6A82);
        };
        if offset >= file.len() {
            return status(0x6B00);
        }
        if offset + command.data.len() > file.len() {
            return status(0x6A84);
        }
        let before = file[offset..offset + command.data.len()].to_vec();
        file[offset..offset + command.data.len()].copy_from_slice(&command.data);
        if self.save().is_err() {
            // The card's EEPROM "failed": undo, so the answer and the memory agree.
            if let Some(file) = self.file_mut(fid) {
                file[offset..offset + before.len()].copy_from_slice(&before);
            }
            return status(0x6581);
        }
        status(0x9000)
    }

    /// UPDATE BINARY needs EXTERNAL AUTHENTICATE first on a personalised card.
    fn check_write_access(&self) -> Result<(), StatusWord> {
        match self.state.write_key {
            Some(_) if !self.authenticated => Err(StatusWord(0x6982)),
            _ => Ok(()),
        }
    }

    fn get_challenge(&mut self, command: &Command) -> Response {
        if command.p1 != 0 || command.p2 != 0 {
            return status(0x6A86);
        }
        if command.le != Some(CHALLENGE_LEN) {
            return status(0x6700);
        }
        let mut challenge = [0u8; CHALLENGE_LEN];
        self.random.fill(&mut challenge);
        self.challenge = Some(challenge);
        data(challenge.to_vec())
    }

    fn external_authenticate(&mut self, command: &Command) -> Response {
        // A challenge answers one attempt only, right or wrong.
        let Some(challenge) = self.challenge.take() else {
            return status(0x6985);
        };
        let Some(stored) = &self.state.write_key else {
            return status(0x6984);
        };
        if self.state.auth_tries_left == 0 {
            return status(0x6983);
        }
        let key =
            match WriteKey::card_specific(stored.algorithm, Zeroizing::new(stored.key.clone())) {
                Ok(key) => key,
                Err(_) => return status(0x6984),
            };
        if command.data != key.cryptogram(&challenge) {
            self.state.auth_tries_left -= 1;
            // The counter lives in EEPROM: a card pulled now still remembers the failure.
            let _ = self.save();
            return status(if self.state.auth_tries_left == 0 {
                0x6983
            } else {
                0x6300
            });
        }
        self.authenticated = true;
        if self.state.auth_tries_left != AUTH_TRIES {
            self.state.auth_tries_left = AUTH_TRIES;
            let _ = self.save();
        }
        status(0x9000)
    }

    fn get_response(&mut self, command: &Command) -> Response {
        if self.pending.is_empty() {
            return status(0x6985);
        }
        let ne = command.le.unwrap_or(256).min(self.pending.len());
        let chunk: Vec<u8> = self.pending.drain(..ne).collect();
        let sw = match self.pending.len() {
            0 => 0x9000,
            left => 0x6100 | (left.min(256) % 256) as u16,
        };
        Response {
            data: chunk,
            sw: StatusWord(sw),
        }
    }
}

fn status(sw: u16) -> Response {
    Response {
        data: Vec::new(),
        sw: StatusWord(sw),
    }
}

fn data(data: Vec<u8>) -> Response {
    Response {
        data,
        sw: StatusWord::OK,
    }
}

impl VirtualCard for ElsCard {
    fn atr(&self) -> Vec<u8> {
        self.state.atr.clone()
    }

    fn reset(&mut self) {
        self.selected = Selected::Mf;
        self.pending.clear();
        self.challenge = None;
        self.authenticated = false;
    }

    /// Power is lost in the middle of an UPDATE BINARY: the EEPROM pages written so far (the
    /// first half of the data) stay written, the rest does not. Any other command is simply lost.
    fn tear(&mut self, apdu: &[u8]) {
        let Ok(command) = Command::parse(apdu) else {
            return;
        };
        if (command.cla, command.ins) != (0x00, 0xD6) || command.data.len() < 2 {
            return;
        }
        let half = command.data.len() / 2;
        let partial = Command {
            data: command.data[..half].to_vec(),
            ..command
        };
        let _ = self.update_binary(&partial);
    }

    fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        if self.state.short_apdus_only && is_extended_encoding(apdu) {
            return status(0x6700).to_bytes();
        }
        let Ok(command) = Command::parse(apdu) else {
            return status(0x6700).to_bytes();
        };
        if command.ins != 0xC0 {
            self.pending.clear();
        }
        let response = self.answer(&command);
        if self.state.force_get_response
            && command.ins != 0xC0
            && response.sw.is_success()
            && !response.data.is_empty()
        {
            let left = response.data.len();
            self.pending = response.data;
            return status(0x6100 | (left.min(256) % 256) as u16).to_bytes();
        }
        response.to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{Transport, apdu::exchange, read_uid};
    use crate::sim::{Faults, SimTransport, shared};

    const UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];

    fn card_with(state: ElsCardState) -> SimTransport {
        SimTransport::insert(shared(ElsCard::new(state)), Faults::default())
    }

    fn send(t: &mut SimTransport, hex_apdu: &str) -> Response {
        Response::parse(&t.transmit(&hex::decode(hex_apdu).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn answers_the_uid_pseudo_apdu() {
        let mut card = card_with(ElsCardState::blank(&UID));
        assert_eq!(read_uid(&mut card).unwrap(), UID);
        assert_eq!(send(&mut card, "FFCA000004").sw, StatusWord(0x6C07));
        assert_eq!(send(&mut card, "FFCA010000").sw, StatusWord(0x6A81));
    }

    #[test]
    fn selects_by_aid_and_fid_with_fcp() {
        let mut card = card_with(ElsCardState::blank(&UID));
        // EF.ELS is not reachable before DF.SELS is selected.
        assert_eq!(send(&mut card, "00A4020C020002").sw, StatusWord(0x6A82));
        assert_eq!(
            send(&mut card, "00A4040C07D6160000300101").sw,
            StatusWord::OK
        );
        let fcp = send(&mut card, "00A40200020002");
        assert!(fcp.sw.is_success());
        assert_eq!(
            &fcp.data[..6],
            &[0x62, 0x0B, 0x80, 0x02, 0x08, 0x00],
            "FCP carries the 2048-byte size"
        );
        assert_eq!(send(&mut card, "00A4000C020001").sw, StatusWord::OK);
        assert_eq!(send(&mut card, "00A4000C020099").sw, StatusWord(0x6A82));
        assert_eq!(send(&mut card, "00A4040C03A00000").sw, StatusWord(0x6A82));
        assert_eq!(send(&mut card, "00A4000C023F00").sw, StatusWord::OK);
        assert_eq!(
            send(&mut card, "00A4001202 3F00".replace(' ', "").as_str()).sw,
            StatusWord(0x6A86)
        );
    }

    #[test]
    fn read_binary_follows_iso_rules() {
        let mut state = ElsCardState::blank(&UID);
        state.ef_els = (0..=255u8).cycle().take(300).collect();
        state.max_response_len = 128;
        let mut card = card_with(state);
        assert_eq!(
            send(&mut card, "00B0000010").sw,
            StatusWord(0x6986),
            "no EF selected yet"
        );
        send(&mut card, "00A4040C07D6160000300101");
        send(&mut card, "00A4020C020002");
        assert_eq!(
            send(&mut card, "00B0000000").sw,
            StatusWord(0x6C80),
            "asks for more than the card gives"
        );
        let tail = send(&mut card, "00B0010080");
        assert_eq!(tail.sw, StatusWord(0x6282), "end of file before Le bytes");
        assert_eq!(tail.data.len(), 300 - 256);
        assert_eq!(
            send(&mut card, "00B0012C01").sw,
            StatusWord(0x6B00),
            "offset 300 is past the end"
        );
        assert_eq!(
            send(&mut card, "00B00000").sw,
            StatusWord(0x6700),
            "READ BINARY needs Le"
        );
        // exchange() follows the 6Cxx hint by itself.
        let read = exchange(&mut card, &Command::new(0, 0xB0, 0, 0x10).with_le(256)).unwrap();
        assert_eq!(read.data.len(), 128);
        assert_eq!(read.data[0], 0x10);
    }

    #[test]
    fn update_binary_writes_and_reads_back() {
        let mut card = card_with(ElsCardState::blank(&UID));
        assert_eq!(send(&mut card, "00D6000002AABB").sw, StatusWord(0x6986));
        send(&mut card, "00A4040C07D6160000300101");
        send(&mut card, "00A4020C020002");
        assert_eq!(send(&mut card, "00D6000403010203").sw, StatusWord::OK);
        assert_eq!(send(&mut card, "00B0000007").data, [0, 0, 0, 0, 1, 2, 3]);
        assert_eq!(
            send(&mut card, "00D607FF02AABB").sw,
            StatusWord(0x6A84),
            "would run past the end"
        );
    }

    #[test]
    fn t0_style_answers_need_get_response() {
        let mut state = ElsCardState::blank(&UID);
        state.force_get_response = true;
        state.ef_els[..4].copy_from_slice(&[9, 8, 7, 6]);
        let mut card = card_with(state);
        assert_eq!(send(&mut card, "FFCA000000").sw, StatusWord(0x6107));
        assert_eq!(
            read_uid(&mut card).unwrap(),
            UID,
            "exchange() fetched the UID with GET RESPONSE"
        );
        send(&mut card, "00A4040C07D6160000300101");
        send(&mut card, "00A4020C020002");
        let read = exchange(&mut card, &Command::new(0, 0xB0, 0, 0).with_le(4)).unwrap();
        assert_eq!(read.data, [9, 8, 7, 6]);
        assert_eq!(
            send(&mut card, "00C0000004").sw,
            StatusWord(0x6985),
            "nothing pending"
        );
    }

    #[test]
    fn tear_after_n_apdus_is_a_typed_removal() {
        let card = shared(ElsCard::new(ElsCardState::blank(&UID)));
        let mut transport = SimTransport::insert(
            card,
            Faults {
                tear_after: Some(2),
                ..Faults::default()
            },
        );
        read_uid(&mut transport).unwrap();
        read_uid(&mut transport).unwrap();
        assert_eq!(
            read_uid(&mut transport).unwrap_err(),
            crate::card::TransportError::CardRemoved
        );
        assert_eq!(transport.answered(), 2);
    }

    #[test]
    fn state_file_keeps_the_card_between_insertions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.json");
        {
            let mut card = SimTransport::insert(
                shared(ElsCard::with_state_file(&path, &UID).unwrap()),
                Faults::default(),
            );
            send(&mut card, "00A4040C07D6160000300101");
            send(&mut card, "00A4020C020001");
            assert_eq!(send(&mut card, "00D6000002CAFE").sw, StatusWord::OK);
        }
        let mut again = SimTransport::insert(
            shared(ElsCard::with_state_file(&path, &[1, 2, 3, 4]).unwrap()),
            Faults::default(),
        );
        assert_eq!(
            read_uid(&mut again).unwrap(),
            UID,
            "the saved card keeps its own UID"
        );
        send(&mut again, "00A4040C07D6160000300101");
        send(&mut again, "00A4020C020001");
        assert_eq!(send(&mut again, "00B0000002").data, [0xCA, 0xFE]);
    }

    #[test]
    fn garbage_apdus_get_status_words_not_panics() {
        let mut card = card_with(ElsCardState::blank(&UID));
        for apdu in [
            "",
            "00",
            "00A4",
            "00A40400",
            "00A404000AD616",
            "80CA000000",
            "00FF000000",
        ] {
            let bytes = hex::decode(apdu).unwrap();
            let answer = card.transmit(&bytes).unwrap();
            assert!(answer.len() >= 2, "{apdu} got {answer:?}");
        }
    }
}
