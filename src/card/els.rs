//! The ELS contact chip's DF.SELS application: select, read EF.ELS / EF.CERT in the largest
//! chunks the card gives, and the authenticated write (GET CHALLENGE + EXTERNAL AUTHENTICATE,
//! then UPDATE BINARY).

use der::{Decode, Header, Reader, SliceReader};
use zeroize::Zeroizing;

use super::apdu::{Command, Response, SHORT_MAX_DATA, SHORT_MAX_LE, StatusWord, exchange};
use super::chip_serial::{ChipSerial, read_chip_serial};
use super::transport::{Transport, TransportError};
use crate::crypto::diversify::{DiversifyError, KeyAlgorithm, diversify};
use crate::error::Problem;

/// DF.SELS, the ELS application (D6 16 = ISO 7816-5 national RID for Poland).
pub const SELS_AID: [u8; 7] = [0xD6, 0x16, 0x00, 0x00, 0x30, 0x01, 0x01];
pub const EF_CERT_FID: u16 = 0x0001;
pub const EF_ELS_FID: u16 = 0x0002;

/// The challenge GET CHALLENGE asks for.
pub const CHALLENGE_LEN: usize = 8;

/// Objects on the card larger than this are refused as malformed (blanks hold a few KB).
const MAX_OBJECT_LEN: usize = 32 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ElsCardError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("this card has no ELS application (DF.SELS not found)")]
    NotAnElsCard,
    #[error("the card refused the write key (wrong card key for this card)")]
    KeyRefused,
    #[error("the card's write key is blocked after too many wrong attempts")]
    KeyBlocked,
    #[error("EF.ELS is empty: the card has not been written yet")]
    Empty,
    #[error("{file} holds {len} bytes but the card's file has room for {capacity}")]
    TooLarge {
        file: &'static str,
        len: usize,
        capacity: usize,
    },
    #[error("{file} does not hold a DER object: {reason}")]
    Malformed { file: &'static str, reason: String },
    #[error("the card answered {sw} to {step}")]
    Refused { step: &'static str, sw: StatusWord },
    #[error(
        "neither the reader nor the card gives this chip's serial number, so the card cannot be \
         bound to its chip (the signed data names it and the write key is derived from it)"
    )]
    NoChipSerial,
}

impl Problem for ElsCardError {
    fn next_step(&self) -> &'static str {
        match self {
            ElsCardError::Transport(err) => err.next_step(),
            ElsCardError::NotAnElsCard => {
                "put the student card (ELS/ELD/ELN) with its chip in the contact reader"
            }
            ElsCardError::KeyRefused => {
                "check the card key in the profile or the server's card_key for this card"
            }
            ElsCardError::KeyBlocked => "the card cannot be written any more; issue a duplicate",
            ElsCardError::Empty => "issue the card first",
            ElsCardError::TooLarge { .. } => {
                "use a shorter certificate chain or a card blank with larger files"
            }
            ElsCardError::Malformed { .. } => "rewrite the card",
            ElsCardError::Refused { .. } => "take the card off, put it back and try again",
            ElsCardError::NoChipSerial => {
                "write the card on a reader that gives the chip serial: a dual-interface reader's \
                 contactless side, or a contact reader with a card that answers GET DATA for its \
                 CPLC (see the README's Hardware section)"
            }
        }
    }
}

/// The per-card key that unlocks UPDATE BINARY on EF.ELS and EF.CERT. Zeroized on drop.
pub struct WriteKey {
    algorithm: KeyAlgorithm,
    key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for WriteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriteKey({}, ***)", self.algorithm)
    }
}

impl WriteKey {
    /// The card's key, AN10922-diversified from the `card_key` master with the input
    /// UID ‖ system identifier (the ELS application has no DESFire-style AID, and UID plus a
    /// short system identifier fits even the 15-byte 3DES limit).
    pub fn diversified(
        algorithm: KeyAlgorithm,
        master: &[u8],
        uid: &[u8],
        system_id: &[u8],
    ) -> Result<Self, DiversifyError> {
        Ok(Self {
            algorithm,
            key: diversify(algorithm, master, uid, &[], system_id)?,
        })
    }

    /// A key that is already the card's own (e.g. USOS `card_key`).
    pub fn card_specific(
        algorithm: KeyAlgorithm,
        key: Zeroizing<Vec<u8>>,
    ) -> Result<Self, DiversifyError> {
        if key.len() != algorithm.key_len() {
            return Err(DiversifyError::MasterKeyLength {
                algorithm,
                expected: algorithm.key_len(),
                got: key.len(),
            });
        }
        Ok(Self { algorithm, key })
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// EXTERNAL AUTHENTICATE's data: the CMAC of the card's challenge under the card key
    /// (one cipher block: 16 bytes for AES, 8 for 3DES).
    pub fn cryptogram(&self, challenge: &[u8]) -> Vec<u8> {
        let cipher = self
            .algorithm
            .cipher(&self.key)
            .expect("key length checked when the WriteKey was made");
        let mut mac = vec![0u8; cipher.block_size()];
        cipher.cmac_chained(&mut mac, challenge);
        mac
    }

    /// The raw key bytes, for a simulated card being personalised with it.
    pub fn expose(&self) -> &[u8] {
        &self.key
    }
}

/// Where a card's write key comes from.
pub enum CardKey {
    /// The profile's `card_key` master, diversified per card.
    Master {
        algorithm: KeyAlgorithm,
        master: Zeroizing<Vec<u8>>,
        system_id: Vec<u8>,
    },
    /// A key that already belongs to one card (USOS `card_key`).
    Specific(WriteKey),
}

impl CardKey {
    /// The `card_key` master from its hex text (an environment variable, the keyring or the
    /// command line). The message names the problem, never the key.
    pub fn master_from_hex(
        algorithm: KeyAlgorithm,
        hex_text: &str,
        system_id: &[u8],
    ) -> Result<Self, String> {
        let master = Zeroizing::new(
            hex::decode(hex_text.trim())
                .map_err(|_| format!("the {algorithm} card key is not hex"))?,
        );
        if master.len() != algorithm.key_len() {
            return Err(format!(
                "the {algorithm} card key must be {} bytes, got {}",
                algorithm.key_len(),
                master.len()
            ));
        }
        Ok(CardKey::Master {
            algorithm,
            master,
            system_id: system_id.to_vec(),
        })
    }

    pub fn for_card(&self, uid: &[u8]) -> Result<WriteKey, DiversifyError> {
        match self {
            CardKey::Master {
                algorithm,
                master,
                system_id,
            } => WriteKey::diversified(*algorithm, master, uid, system_id),
            CardKey::Specific(key) => WriteKey::card_specific(key.algorithm, key.key.clone()),
        }
    }
}

/// The chip serial that issuance signs into the data and derives the write key from; a card
/// without one cannot be issued or prolonged ([`ElsCardError::NoChipSerial`]), although it can
/// still be read.
pub fn serial_to_bind<T: Transport + ?Sized>(card: &mut T) -> Result<Vec<u8>, ElsCardError> {
    match read_chip_serial(card)? {
        ChipSerial::Read { bytes, .. } => Ok(bytes),
        ChipSerial::Unavailable => Err(ElsCardError::NoChipSerial),
    }
}

fn select_command(p1: u8, data: Vec<u8>) -> Command {
    Command::new(0x00, 0xA4, p1, 0x0C).with_data(data)
}

/// Selects DF.SELS by its AID.
pub fn select_application<T: Transport + ?Sized>(card: &mut T) -> Result<(), ElsCardError> {
    let response = exchange(card, &select_command(0x04, SELS_AID.to_vec()))?;
    // Whatever a card answers but success (6A82, 6D00, a DESFire 91xx...), it offers no ELS.
    if response.sw.is_success() {
        Ok(())
    } else {
        Err(ElsCardError::NotAnElsCard)
    }
}

/// Selects an EF under DF.SELS. `None` when the card has no such file.
fn select_file<T: Transport + ?Sized>(card: &mut T, fid: u16) -> Result<Option<()>, ElsCardError> {
    let response = exchange(card, &select_command(0x02, fid.to_be_bytes().to_vec()))?;
    match response.sw.0 {
        0x9000 => Ok(Some(())),
        0x6A82 => Ok(None),
        _ => Err(ElsCardError::Refused {
            step: file_name(fid),
            sw: response.sw,
        }),
    }
}

/// Selects an EF and returns its size from the FCP (tag 80), for checking room before a write.
fn select_file_size<T: Transport + ?Sized>(card: &mut T, fid: u16) -> Result<usize, ElsCardError> {
    let command = Command::new(0x00, 0xA4, 0x02, 0x00)
        .with_data(fid.to_be_bytes().to_vec())
        .with_le(SHORT_MAX_LE);
    let response = exchange(card, &command)?;
    if response.sw.0 == 0x6A82 {
        return Err(ElsCardError::NotAnElsCard);
    }
    let fcp = success(response, file_name(fid))?;
    fcp_file_size(&fcp).ok_or_else(|| ElsCardError::Malformed {
        file: file_name(fid),
        reason: "its FCP has no file size".into(),
    })
}

/// The file size in an FCP (tag 62) or FCI (tag 6F, as some cards answer P2 00 with): tag 80,
/// the data bytes, or failing that tag 81, the bytes including structural information.
fn fcp_file_size(fcp: &[u8]) -> Option<usize> {
    let body = match fcp {
        [0x62 | 0x6F, len, body @ ..] if usize::from(*len) <= body.len() => {
            &body[..usize::from(*len)]
        }
        _ => return None,
    };
    let mut rest = body;
    let mut total = None;
    while let [tag, len, tail @ ..] = rest {
        let len = usize::from(*len);
        let value = tail.get(..len)?;
        let size = || {
            value
                .iter()
                .fold(0usize, |size, byte| (size << 8) | usize::from(*byte))
        };
        match tag {
            0x80 => return Some(size()),
            0x81 => total = Some(size()),
            _ => {}
        }
        rest = &tail[len..];
    }
    total
}

fn file_name(fid: u16) -> &'static str {
    match fid {
        EF_ELS_FID => "EF.ELS",
        EF_CERT_FID => "EF.CERT",
        _ => "an EF",
    }
}

fn success(response: Response, step: &'static str) -> Result<Vec<u8>, ElsCardError> {
    let sw = response.sw;
    response
        .success()
        .map_err(|_| ElsCardError::Refused { step, sw })
}

/// Reads EF.ELS (DF.SELS is selected first): exactly the outer DER object, however the
/// file is padded.
pub fn read_els<T: Transport + ?Sized>(card: &mut T) -> Result<Vec<u8>, ElsCardError> {
    select_application(card)?;
    if select_file(card, EF_ELS_FID)?.is_none() {
        return Err(ElsCardError::NotAnElsCard);
    }
    read_der_object(card, EF_ELS_FID)?.ok_or(ElsCardError::Empty)
}

/// Reads EF.CERT, assuming DF.SELS is selected. `None` when the card has no EF.CERT or it
/// holds nothing.
pub fn read_cert<T: Transport + ?Sized>(card: &mut T) -> Result<Option<Vec<u8>>, ElsCardError> {
    if select_file(card, EF_CERT_FID)?.is_none() {
        return Ok(None);
    }
    read_der_object(card, EF_CERT_FID)
}

/// The smallest first READ BINARY tried on a card that answers `6700` to larger ones.
const SMALLEST_FIRST_READ: usize = 16;

/// READ BINARY from offset 0 until the outer DER length is satisfied. The first read asks for
/// 256 bytes; a card that gives less says so with `6Cxx` and `exchange` resends, or, knowing
/// short lengths only, answers `6700` and is asked for half as much until it answers. The
/// answer's length becomes the chunk size for the rest.
fn read_der_object<T: Transport + ?Sized>(
    card: &mut T,
    fid: u16,
) -> Result<Option<Vec<u8>>, ElsCardError> {
    let file = file_name(fid);
    let mut first = SHORT_MAX_LE;
    let (mut data, end_of_file) = loop {
        match read_chunk(card, 0, first, file) {
            Err(ElsCardError::Refused {
                sw: StatusWord(0x6700),
                ..
            }) if first > SMALLEST_FIRST_READ => first /= 2,
            read => break read?,
        }
    };
    let chunk = data.len();
    if data.first().is_none_or(|&b| b == 0x00 || b == 0xFF) {
        return Ok(None); // Erased or zero-padded: nothing written.
    }
    let total = der_object_len(&data).map_err(|reason| ElsCardError::Malformed { file, reason })?;
    if total > MAX_OBJECT_LEN {
        return Err(ElsCardError::Malformed {
            file,
            reason: format!("it claims {total} bytes"),
        });
    }
    let mut end_of_file = end_of_file;
    while data.len() < total {
        if end_of_file || chunk == 0 {
            return Err(ElsCardError::Malformed {
                file,
                reason: format!("the file ends after {} of {total} bytes", data.len()),
            });
        }
        let offset = data.len();
        let (more, eof) = read_chunk(card, offset, chunk.min(total - offset), file)?;
        if more.is_empty() {
            return Err(ElsCardError::Malformed {
                file,
                reason: format!("no data at offset {offset}"),
            });
        }
        data.extend_from_slice(&more);
        end_of_file = eof;
    }
    data.truncate(total);
    Ok(Some(data))
}

/// One READ BINARY; the flag says the card reported the end of the file (`6282`).
fn read_chunk<T: Transport + ?Sized>(
    card: &mut T,
    offset: usize,
    len: usize,
    file: &'static str,
) -> Result<(Vec<u8>, bool), ElsCardError> {
    let [p1, p2] = u16::try_from(offset)
        .map_err(|_| ElsCardError::Malformed {
            file,
            reason: "offset beyond 32 KB".into(),
        })?
        .to_be_bytes();
    let response = exchange(card, &Command::new(0x00, 0xB0, p1, p2).with_le(len))?;
    match response.sw.0 {
        0x9000 => Ok((response.data, false)),
        0x6282 => Ok((response.data, true)),
        // Offset beyond the end: a file exactly as long as what it was given.
        0x6B00 if offset > 0 => Ok((Vec::new(), true)),
        _ => Err(ElsCardError::Refused {
            step: file,
            sw: response.sw,
        }),
    }
}

/// Header length + content length of the DER object at the start of `bytes`.
fn der_object_len(bytes: &[u8]) -> Result<usize, String> {
    let mut reader = SliceReader::new(bytes).map_err(|e| e.to_string())?;
    let header = Header::decode(&mut reader).map_err(|e| format!("bad DER header: {e}"))?;
    let header_len = usize::try_from(reader.position()).map_err(|e| e.to_string())?;
    let content_len = usize::try_from(header.length).map_err(|e| e.to_string())?;
    Ok(header_len + content_len)
}

/// GET CHALLENGE + EXTERNAL AUTHENTICATE with the card's write key (DF.SELS selected).
pub fn authenticate<T: Transport + ?Sized>(
    card: &mut T,
    key: &WriteKey,
) -> Result<(), ElsCardError> {
    let challenge = exchange(
        card,
        &Command::new(0x00, 0x84, 0x00, 0x00).with_le(CHALLENGE_LEN),
    )?;
    let challenge = success(challenge, "GET CHALLENGE")?;
    if challenge.len() != CHALLENGE_LEN {
        return Err(ElsCardError::Refused {
            step: "GET CHALLENGE",
            sw: StatusWord::OK,
        });
    }
    let answer = exchange(
        card,
        &Command::new(0x00, 0x82, 0x00, 0x00).with_data(key.cryptogram(&challenge)),
    )?;
    match answer.sw.0 {
        0x9000 => Ok(()),
        0x6300 | 0x63C0..=0x63CF => Err(ElsCardError::KeyRefused),
        0x6983 => Err(ElsCardError::KeyBlocked),
        _ => Err(ElsCardError::Refused {
            step: "EXTERNAL AUTHENTICATE",
            sw: answer.sw,
        }),
    }
}

/// Writes EF.CERT (when given) and then EF.ELS. EF.ELS goes last: it is the record that says
/// "issued", so a card torn anywhere before its last byte never verifies. Room in both files is
/// checked before anything is written. The caller reads back and verifies.
pub fn write<T: Transport + ?Sized>(
    card: &mut T,
    key: Option<&WriteKey>,
    els: &[u8],
    cert: Option<&[u8]>,
) -> Result<(), ElsCardError> {
    select_application(card)?;
    if let Some(key) = key {
        authenticate(card, key)?;
    }
    let els_room = select_file_size(card, EF_ELS_FID)?;
    if els.len() > els_room {
        return Err(ElsCardError::TooLarge {
            file: "EF.ELS",
            len: els.len(),
            capacity: els_room,
        });
    }
    if let Some(cert) = cert {
        let cert_room = select_file_size(card, EF_CERT_FID)?;
        if cert.len() > cert_room {
            return Err(ElsCardError::TooLarge {
                file: "EF.CERT",
                len: cert.len(),
                capacity: cert_room,
            });
        }
        update_binary(card, cert, "EF.CERT")?;
        if select_file(card, EF_ELS_FID)?.is_none() {
            return Err(ElsCardError::NotAnElsCard);
        }
    }
    update_binary(card, els, "EF.ELS")
}

/// UPDATE BINARY in the largest chunks a short APDU carries.
fn update_binary<T: Transport + ?Sized>(
    card: &mut T,
    bytes: &[u8],
    file: &'static str,
) -> Result<(), ElsCardError> {
    for (index, chunk) in bytes.chunks(SHORT_MAX_DATA).enumerate() {
        let offset = index * SHORT_MAX_DATA;
        let [p1, p2] = u16::try_from(offset)
            .map_err(|_| ElsCardError::TooLarge {
                file,
                len: bytes.len(),
                capacity: 0x7FFF,
            })?
            .to_be_bytes();
        let response = exchange(
            card,
            &Command::new(0x00, 0xD6, p1, p2).with_data(chunk.to_vec()),
        )?;
        match response.sw.0 {
            0x9000 => {}
            0x6982 => return Err(ElsCardError::KeyRefused),
            _ => {
                return Err(ElsCardError::Refused {
                    step: file,
                    sw: response.sw,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_key_master_of_the_wrong_form_is_refused_without_showing_it() {
        let short = CardKey::master_from_hex(KeyAlgorithm::Aes128, "00112233", b"ELS");
        assert_eq!(
            short.err().as_deref(),
            Some("the aes card key must be 16 bytes, got 4")
        );
        let not_hex = CardKey::master_from_hex(KeyAlgorithm::Aes128, "zz11secret", b"ELS");
        let message = not_hex.err().unwrap();
        assert!(!message.contains("secret"), "{message}");
        let good = CardKey::master_from_hex(KeyAlgorithm::Aes128, &"42".repeat(16), b"ELS");
        assert!(good.unwrap().for_card(&[4, 1, 2, 3, 4, 5, 6]).is_ok());
    }

    #[test]
    fn a_card_answering_6700_without_a_length_hint_is_read_in_smaller_pieces() {
        use crate::sim::{ElsCard, ElsCardState, Faults, SimTransport, shared};
        let object: Vec<u8> = [0x04, 0x82, 0x01, 0x2C]
            .into_iter()
            .chain((0..300u16).map(|i| i as u8))
            .collect();
        for (max, short_apdus_only) in [(100, true), (17, true), (100, false), (256, true)] {
            let mut state = ElsCardState::blank(&[4, 1, 2, 3, 4, 5, 6]);
            state.ef_els[..object.len()].copy_from_slice(&object);
            state.max_response_len = max;
            state.short_apdus_only = short_apdus_only;
            let card = shared(ElsCard::new(state));
            let mut transport = SimTransport::insert(card, Faults::default());
            assert_eq!(read_els(&mut transport).unwrap(), object, "buffer {max}");
        }
        // Smaller than the smallest read tried: refused, saying what the card answered.
        let mut state = ElsCardState::blank(&[4, 1, 2, 3, 4, 5, 6]);
        state.ef_els[..object.len()].copy_from_slice(&object);
        state.max_response_len = 8;
        state.short_apdus_only = true;
        let mut transport = SimTransport::insert(shared(ElsCard::new(state)), Faults::default());
        let err = read_els(&mut transport).unwrap_err();
        assert!(
            matches!(
                err,
                ElsCardError::Refused {
                    sw: StatusWord(0x6700),
                    step: "EF.ELS"
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn finds_the_file_size_in_an_fcp() {
        assert_eq!(
            fcp_file_size(&[
                0x62, 0x0B, 0x80, 0x02, 0x08, 0x00, 0x82, 0x01, 0x01, 0x83, 0x02, 0x00, 0x02
            ]),
            Some(2048)
        );
        assert_eq!(fcp_file_size(&[0x62, 0x03, 0x82, 0x01, 0x01]), None);
        assert_eq!(
            fcp_file_size(&[0x6F, 0x08, 0x83, 0x02, 0x00, 0x02, 0x81, 0x02, 0x03, 0x1C]),
            Some(796),
            "an FCI with only the total size"
        );
        assert_eq!(fcp_file_size(&[0x62, 0x09, 0x80]), None, "truncated FCP");
        assert_eq!(fcp_file_size(&[]), None);
    }

    #[test]
    fn der_lengths_in_short_and_long_form() {
        assert_eq!(der_object_len(&[0x30, 0x03, 1, 2, 3]), Ok(5));
        assert_eq!(der_object_len(&[0x30, 0x81, 0x80]), Ok(3 + 0x80));
        assert_eq!(der_object_len(&[0x30, 0x82, 0x03, 0xB0]), Ok(4 + 944));
        assert!(
            der_object_len(&[0x30, 0x80]).is_err(),
            "indefinite length is not DER"
        );
    }

    #[test]
    fn cryptograms_depend_on_key_and_challenge() {
        let master = [0x11u8; 16];
        let key = WriteKey::diversified(
            KeyAlgorithm::Aes128,
            &master,
            &[4, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6],
            b"ELS",
        )
        .unwrap();
        let other_card = WriteKey::diversified(
            KeyAlgorithm::Aes128,
            &master,
            &[4, 0, 0, 0, 0, 0, 1],
            b"ELS",
        )
        .unwrap();
        let challenge = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(key.cryptogram(&challenge).len(), 16);
        assert_ne!(
            key.cryptogram(&challenge),
            other_card.cryptogram(&challenge)
        );
        assert_ne!(key.cryptogram(&challenge), key.cryptogram(&[0; 8]));
        let des = WriteKey::diversified(
            KeyAlgorithm::TwoKey3Des,
            &master,
            &[4, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6],
            b"ELS",
        )
        .unwrap();
        assert_eq!(des.cryptogram(&challenge).len(), 8);
        assert!(
            !format!("{key:?}").contains("11"),
            "Debug never shows key bytes"
        );
    }
}
