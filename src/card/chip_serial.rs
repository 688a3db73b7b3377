//! The chip serial an ELS structure binds to (`numerSeryjnyUkladu`), read the way the reader
//! and the card allow. A contactless reader answers the PC/SC part 3 pseudo-APDU `FF CA` with
//! the UID; contact readers mostly pass it to the card, which refuses it (`6E00`/`6D00`), or
//! refuse it themselves (`6A81`). So a contact card is asked itself, in this order:
//!
//! 1. GlobalPlatform GET DATA for the CPLC, `80 CA 9F 7F` (then with the ISO class `00`):
//!    JavaCard blanks answer it. The serial is [`cplc_chip_serial`].
//! 2. STARCOS GET CARD DATA, `80 F6 00 00`: OpenSC's `card-starcos.c` reads older STARCOS
//!    serials so, and some ELS blanks are STARCOS cards.
//! 3. EF.GDO (`3F00/2F02`), tag `5A` (ICC serial number, ISO/IEC 7816-6): OpenSC reads
//!    STARCOS 3.4/3.5 and other cards' serials there.
//! 4. `FF CA` after all, for contact readers that implement it.
//!
//! No public source says which of these the ELS regulation means by the chip serial (the
//! README's Hardware section says what was tested); a card none of them answers is [`ChipSerial::Unavailable`], and its ELS
//! is read without the chip binding check.

use std::fmt;

use super::apdu::{Command, SHORT_MAX_LE, exchange};
use super::transport::{Transport, TransportError};

/// Where a chip serial came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerialSource {
    /// The reader's PC/SC part 3 `FF CA 00 00`: the contactless UID.
    ReaderUid,
    /// The card's GlobalPlatform CPLC (`9F 7F`).
    Cplc,
    /// STARCOS GET CARD DATA (`80 F6`).
    CardData,
    /// EF.GDO tag `5A`.
    EfGdo,
}

impl fmt::Display for SerialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SerialSource::ReaderUid => "reader UID (FF CA)",
            SerialSource::Cplc => "CPLC (GET DATA 9F7F)",
            SerialSource::CardData => "STARCOS GET CARD DATA",
            SerialSource::EfGdo => "EF.GDO",
        })
    }
}

/// The chip serial of the card in the reader, or the fact that neither reader nor card gave
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChipSerial {
    Read {
        bytes: Vec<u8>,
        source: SerialSource,
    },
    Unavailable,
}

impl ChipSerial {
    /// How a reader list shows it: the hex digits, and where they came from unless the
    /// reader's UID (what `FF CA` gives, and what people call a card's UID). `None` when
    /// unavailable.
    pub fn shown(&self) -> Option<String> {
        match self {
            ChipSerial::Read {
                bytes,
                source: SerialSource::ReaderUid,
            } => Some(hex::encode_upper(bytes)),
            ChipSerial::Read { bytes, source } => {
                Some(format!("{} ({source})", hex::encode_upper(bytes)))
            }
            ChipSerial::Unavailable => None,
        }
    }

    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            ChipSerial::Read { bytes, .. } => Some(bytes),
            ChipSerial::Unavailable => None,
        }
    }
}

/// A PC/SC part 3 ATR, which the reader makes up for a contactless card: `3B 8n 80 01`
/// followed by the historical bytes (ISO 14443-4 cards) or by `80 4F 0C A0 00 00 03 06 ...`
/// (storage cards, RID A0 00 00 03 06). A contact card's own ATR has TD1 ≠ `80` or TD2 ≠ `01`.
pub fn is_contactless_atr(atr: &[u8]) -> bool {
    matches!(atr, [0x3B, t0, 0x80, 0x01, ..] if t0 & 0xF0 == 0x80)
}

/// Reads the chip serial in the order the card's ATR calls for: `FF CA` for a contactless
/// card, the card-side commands first for a contact card. Only a card that left the reader
/// (or a reader that went away) is an error; a command refused in any way means "try the
/// next". The card's current file may have changed afterwards: callers select what they need.
pub fn read_chip_serial<T: Transport + ?Sized>(card: &mut T) -> Result<ChipSerial, TransportError> {
    let order: &[SerialSource] = if is_contactless_atr(card.atr()) {
        &[SerialSource::ReaderUid]
    } else {
        &[
            SerialSource::Cplc,
            SerialSource::CardData,
            SerialSource::EfGdo,
            SerialSource::ReaderUid,
        ]
    };
    for &source in order {
        let answer = match source {
            SerialSource::ReaderUid => get_data(card, Command::new(0xFF, 0xCA, 0x00, 0x00)),
            SerialSource::Cplc => cplc(card),
            SerialSource::CardData => get_data(card, Command::new(0x80, 0xF6, 0x00, 0x00)),
            SerialSource::EfGdo => ef_gdo_serial(card),
        };
        match answer {
            Ok(Some(bytes)) => {
                tracing::debug!(%source, "chip serial read");
                return Ok(ChipSerial::Read { bytes, source });
            }
            Ok(None) => {}
            // Some readers fail the transmission of a pseudo-APDU they do not know instead
            // of answering a status word; the card is still there.
            Err(TransportError::Protocol(_) | TransportError::Subsystem(_)) => {}
            Err(err) => return Err(err),
        }
    }
    tracing::info!("neither the reader nor the card gave a chip serial");
    Ok(ChipSerial::Unavailable)
}

/// The data of a case 2 command, `None` when refused or empty.
fn get_data<T: Transport + ?Sized>(
    card: &mut T,
    command: Command,
) -> Result<Option<Vec<u8>>, TransportError> {
    let response = exchange(card, &command.with_le(SHORT_MAX_LE))?;
    Ok(response.success().ok().filter(|data| !data.is_empty()))
}

fn cplc<T: Transport + ?Sized>(card: &mut T) -> Result<Option<Vec<u8>>, TransportError> {
    for cla in [0x80, 0x00] {
        let data = get_data(card, Command::new(cla, 0xCA, 0x9F, 0x7F))?;
        if let Some(serial) = data.as_deref().and_then(cplc_chip_serial) {
            return Ok(Some(serial));
        }
    }
    Ok(None)
}

/// Length of the CPLC data (GlobalPlatform Card Specification, "CPLC data", tag 9F7F).
pub const CPLC_LEN: usize = 42;

/// The chip serial in a CPLC answer (with or without its `9F 7F 2A` header): IC fabricator
/// (bytes 0–1), IC type (2–3), IC serial number (12–15) and IC batch identifier (16–17), in
/// that order, 10 bytes. The IC serial number alone is unique only per fabricator, type and
/// batch, so they are kept with it. `None` for anything that is not 42 bytes of CPLC or is
/// all zeros or all FF (an unpersonalised CPLC).
pub fn cplc_chip_serial(answer: &[u8]) -> Option<Vec<u8>> {
    let cplc = match answer {
        [0x9F, 0x7F, len, rest @ ..] if usize::from(*len) == CPLC_LEN => rest,
        _ => answer,
    };
    let cplc = cplc.get(..CPLC_LEN)?;
    let serial: Vec<u8> = [&cplc[0..4], &cplc[12..18]].concat();
    let blank = serial[4..].iter().all(|&b| b == 0) || serial[4..].iter().all(|&b| b == 0xFF);
    (!blank).then_some(serial)
}

/// EF.GDO under the MF: a BER-TLV list whose tag `5A` is the ICC serial number.
fn ef_gdo_serial<T: Transport + ?Sized>(card: &mut T) -> Result<Option<Vec<u8>>, TransportError> {
    let select = |fid: [u8; 2]| Command::new(0x00, 0xA4, 0x00, 0x0C).with_data(fid.to_vec());
    if !exchange(card, &select([0x3F, 0x00]))?.sw.is_success()
        || !exchange(card, &select([0x2F, 0x02]))?.sw.is_success()
    {
        return Ok(None);
    }
    let response = exchange(card, &Command::new(0x00, 0xB0, 0, 0).with_le(SHORT_MAX_LE))?;
    if !matches!(response.sw.0, 0x9000 | 0x6282) {
        return Ok(None);
    }
    Ok(tlv_value(&response.data, 0x5A).filter(|serial| !serial.is_empty()))
}

/// The value of the first one-byte `tag` in a flat list of BER-TLVs with short or long-form
/// (`81`/`82`) lengths.
fn tlv_value(mut bytes: &[u8], tag: u8) -> Option<Vec<u8>> {
    while let [t, rest @ ..] = bytes {
        let (len, rest) = match rest {
            [0x81, len, rest @ ..] => (usize::from(*len), rest),
            [0x82, hi, lo, rest @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), rest),
            [len, rest @ ..] if *len < 0x80 => (usize::from(*len), rest),
            _ => return None,
        };
        let value = rest.get(..len)?;
        if *t == tag {
            return Some(value.to_vec());
        }
        bytes = &rest[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers each command by its first matching prefix, records what was sent.
    struct Card {
        atr: Vec<u8>,
        answers: Vec<(String, String)>,
        sent: Vec<String>,
        removed_after: Option<usize>,
    }

    impl Card {
        fn new(atr: &str, answers: &[(&str, &str)]) -> Self {
            Self {
                atr: hex::decode(atr).unwrap(),
                answers: answers
                    .iter()
                    .map(|(prefix, answer)| (prefix.to_string(), answer.to_string()))
                    .collect(),
                sent: vec![],
                removed_after: None,
            }
        }
    }

    impl Transport for Card {
        fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
            let apdu = hex::encode_upper(apdu);
            self.sent.push(apdu.clone());
            if self.removed_after.is_some_and(|n| self.sent.len() > n) {
                return Err(TransportError::CardRemoved);
            }
            let answer = self
                .answers
                .iter()
                .find(|(prefix, _)| apdu.starts_with(prefix))
                .map_or("6D00", |(_, answer)| answer.as_str());
            Ok(hex::decode(answer).unwrap())
        }
        fn atr(&self) -> &[u8] {
            &self.atr
        }
        fn reconnect(&mut self) -> Result<(), TransportError> {
            Ok(())
        }
    }

    const CONTACTLESS_ATR: &str = "3B8F8001804F0CA000000306030001000000006A";
    const CONTACT_ATR: &str = "3B8C014361726473746174696F6E4380";
    /// A JCOP CPLC: fabricator 4790, type 5168, ... serial 01447395, batch 7689.
    const CPLC: &str = "9F7F2A4790516847910078340013290144739576894812133600000000000000000000000000000000000000000000";

    #[test]
    fn atrs_tell_contactless_from_contact() {
        assert!(is_contactless_atr(&hex::decode(CONTACTLESS_ATR).unwrap()));
        assert!(is_contactless_atr(&hex::decode("3B8180018080").unwrap()));
        assert!(!is_contactless_atr(&hex::decode(CONTACT_ATR).unwrap()));
        assert!(!is_contactless_atr(
            &hex::decode("3BF81800FF8131FE454A434F5076323431B7").unwrap()
        ));
        assert!(!is_contactless_atr(&[]));
    }

    #[test]
    fn a_contactless_card_gives_the_reader_uid() {
        let mut card = Card::new(CONTACTLESS_ATR, &[("FFCA0000", "04A1B2C3D4E5F69000")]);
        let serial = read_chip_serial(&mut card).unwrap();
        assert_eq!(
            serial,
            ChipSerial::Read {
                bytes: hex::decode("04A1B2C3D4E5F6").unwrap(),
                source: SerialSource::ReaderUid
            }
        );
        assert_eq!(card.sent, ["FFCA000000"]);
    }

    #[test]
    fn a_contact_card_gives_its_cplc_serial_before_ff_ca_is_tried() {
        let mut card = Card::new(
            CONTACT_ATR,
            &[("80CA9F7F", &format!("{CPLC}9000")), ("FFCA", "6E00")],
        );
        let serial = read_chip_serial(&mut card).unwrap();
        assert_eq!(
            serial.bytes(),
            Some(&hex::decode("47905168014473957689").unwrap()[..])
        );
        assert_eq!(card.sent, ["80CA9F7F00"]);
    }

    #[test]
    fn a_contact_card_falls_through_to_ef_gdo_and_to_ff_ca() {
        let mut gdo = Card::new(
            CONTACT_ATR,
            &[
                ("80CA", "6E00"),
                ("00CA", "6A88"),
                ("80F6", "6E00"),
                ("00A4", "9000"),
                ("00B0", "5A0A9276001234567890ABCD9000"),
            ],
        );
        let serial = read_chip_serial(&mut gdo).unwrap();
        assert_eq!(
            serial,
            ChipSerial::Read {
                bytes: hex::decode("9276001234567890ABCD").unwrap(),
                source: SerialSource::EfGdo
            }
        );
        let mut reader = Card::new(CONTACT_ATR, &[("00A4", "6A82"), ("FFCA", "112233449000")]);
        assert_eq!(
            read_chip_serial(&mut reader).unwrap().bytes(),
            Some(&[0x11, 0x22, 0x33, 0x44][..])
        );
        assert_eq!(
            reader.sent,
            [
                "80CA9F7F00",
                "00CA9F7F00",
                "80F6000000",
                "00A4000C023F00",
                "FFCA000000"
            ]
        );
    }

    #[test]
    fn a_card_that_answers_nothing_has_no_serial_but_a_removed_card_is_an_error() {
        let mut mute = Card::new(CONTACT_ATR, &[("FFCA", "6A81")]);
        assert_eq!(
            read_chip_serial(&mut mute).unwrap(),
            ChipSerial::Unavailable
        );
        let mut removed = Card::new(CONTACT_ATR, &[]);
        removed.removed_after = Some(1);
        assert_eq!(
            read_chip_serial(&mut removed).unwrap_err(),
            TransportError::CardRemoved
        );
    }

    #[test]
    fn cplc_serials_need_the_whole_cplc_and_a_personalised_serial() {
        let cplc = hex::decode(CPLC).unwrap();
        assert_eq!(
            cplc_chip_serial(&cplc[3..]),
            cplc_chip_serial(&cplc),
            "with or without the 9F7F header"
        );
        assert_eq!(cplc_chip_serial(&cplc[..30]), None);
        let mut blank = cplc.clone();
        blank[3 + 12..3 + 18].fill(0);
        assert_eq!(cplc_chip_serial(&blank), None);
    }

    #[test]
    fn tlv_values_in_short_and_long_form() {
        assert_eq!(
            tlv_value(&[0x4F, 1, 9, 0x5A, 2, 1, 2], 0x5A),
            Some(vec![1, 2])
        );
        assert_eq!(tlv_value(&[0x5A, 0x81, 1, 7], 0x5A), Some(vec![7]));
        assert_eq!(tlv_value(&[0x5A, 5, 1], 0x5A), None, "truncated");
        assert_eq!(tlv_value(&[0x4F, 1, 9], 0x5A), None);
    }
}
