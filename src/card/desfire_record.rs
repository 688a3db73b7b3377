//! The card record of the university DESFire application: what the desk writes into the
//! application's record file and the kiosk reads back (`station::desfire`, which holds the keys,
//! makes and checks its signature). It is defined in the card layer because the profile check in
//! `config` needs its size and must not depend on the station. The record is [`RECORD_LEN`]
//! bytes at offset 0:
//!
//! | offset | length | field |
//! |---|---|---|
//! | 0 | 1 | layout version, 2 |
//! | 1 | 8 | card number, unsigned big-endian |
//! | 9 | 24 | barcode, printable ASCII, NUL-padded |
//! | 33 | 24 | holder id, printable ASCII, NUL-padded |
//! | 57 | 4 | expiry: year (big-endian u16), month, day; valid through that day |
//! | 61 | 64 | ECDSA P-256 signature `r ‖ s` (see `station::desfire` for what it covers) |
//!
//! Version 1 carried an 8-byte CMAC under a key derived from the application master key, so
//! every kiosk needed that master; version 2 is signed by the desk and verified with a public key.

use time::{Date, Month};

/// Bytes of the record, signature included.
pub const RECORD_LEN: usize = SIGNATURE_OFFSET + SIGNATURE_LEN;
/// Longest barcode and holder id.
pub const TEXT_FIELD_LEN: usize = 24;

const LAYOUT_VERSION: u8 = 2;
pub(crate) const CARD_NUMBER_OFFSET: usize = 1;
const BARCODE_OFFSET: usize = CARD_NUMBER_OFFSET + 8;
const HOLDER_OFFSET: usize = BARCODE_OFFSET + TEXT_FIELD_LEN;
const EXPIRY_OFFSET: usize = HOLDER_OFFSET + TEXT_FIELD_LEN;
/// Where the signature starts: the signed fields are the bytes before it.
pub const SIGNATURE_OFFSET: usize = EXPIRY_OFFSET + 4;
pub const SIGNATURE_LEN: usize = 64;

/// What the card carries about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    pub card_number: u64,
    pub barcode: String,
    pub holder_id: String,
    pub expires: Date,
}

/// A [`CardRecord`] that does not fit the layout, or bytes that are not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardRecordError {
    #[error("the {field} must be 1 to {TEXT_FIELD_LEN} printable ASCII characters")]
    BadText { field: &'static str },
    #[error("the record has layout version {0}; this station reads version 2")]
    UnknownLayout(u8),
    #[error("the record's {0} is malformed")]
    Malformed(&'static str),
}

impl CardRecord {
    /// The record without its signature; refuses fields that do not fit the layout.
    pub fn encode(&self) -> Result<Vec<u8>, CardRecordError> {
        let mut bytes = Vec::with_capacity(RECORD_LEN);
        bytes.push(LAYOUT_VERSION);
        bytes.extend_from_slice(&self.card_number.to_be_bytes());
        bytes.extend_from_slice(&text_field("barcode", &self.barcode)?);
        bytes.extend_from_slice(&text_field("holder id", &self.holder_id)?);
        let year = u16::try_from(self.expires.year())
            .map_err(|_| CardRecordError::Malformed("expiry year"))?;
        bytes.extend_from_slice(&year.to_be_bytes());
        bytes.push(u8::from(self.expires.month()));
        bytes.push(self.expires.day());
        Ok(bytes)
    }

    /// Parses the bytes before the signature. Public for the fuzz target: it reads what a
    /// hostile card sends, before any signature is checked.
    pub fn decode(bytes: &[u8]) -> Result<Self, CardRecordError> {
        let field = |from: usize, len: usize| bytes.get(from..from + len);
        match bytes.first() {
            Some(&LAYOUT_VERSION) => {}
            Some(&other) => return Err(CardRecordError::UnknownLayout(other)),
            None => return Err(CardRecordError::Malformed("layout version")),
        }
        let card_number = field(CARD_NUMBER_OFFSET, 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or(CardRecordError::Malformed("card number"))?;
        let text = |offset: usize, name: &'static str| {
            field(offset, TEXT_FIELD_LEN)
                .and_then(parse_text_field)
                .ok_or(CardRecordError::Malformed(name))
        };
        let expires = field(EXPIRY_OFFSET, 4)
            .and_then(|b| {
                let year = i32::from(u16::from_be_bytes([b[0], b[1]]));
                let month = Month::try_from(b[2]).ok()?;
                Date::from_calendar_date(year, month, b[3]).ok()
            })
            .ok_or(CardRecordError::Malformed("expiry date"))?;
        Ok(Self {
            card_number,
            barcode: text(BARCODE_OFFSET, "barcode")?,
            holder_id: text(HOLDER_OFFSET, "holder id")?,
            expires,
        })
    }
}

fn is_printable(text: &str) -> bool {
    text.bytes().all(|b| (0x20..=0x7E).contains(&b))
}

fn text_field(field: &'static str, text: &str) -> Result<[u8; TEXT_FIELD_LEN], CardRecordError> {
    if text.is_empty() || text.len() > TEXT_FIELD_LEN || !is_printable(text) {
        return Err(CardRecordError::BadText { field });
    }
    let mut bytes = [0; TEXT_FIELD_LEN];
    bytes[..text.len()].copy_from_slice(text.as_bytes());
    Ok(bytes)
}

/// Text up to the first NUL; only NULs may follow it.
fn parse_text_field(bytes: &[u8]) -> Option<String> {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let (text, padding) = bytes.split_at(len);
    let text = std::str::from_utf8(text).ok()?;
    (!text.is_empty() && is_printable(text) && padding.iter().all(|&b| b == 0))
        .then(|| text.to_owned())
}

#[cfg(test)]
pub(crate) mod tests {
    use time::macros::date;

    use super::*;

    /// A record with this card number (the DESFire tests in `station` use it too).
    pub(crate) fn record(card_number: u64) -> CardRecord {
        CardRecord {
            card_number,
            barcode: format!("2900{card_number:09}"),
            holder_id: "USOS-123456".into(),
            expires: date!(2027 - 09 - 30),
        }
    }

    #[test]
    fn record_layout_round_trips_and_refuses_what_does_not_fit() {
        let original = record(42);
        let bytes = original.encode().unwrap();
        assert_eq!(bytes.len(), SIGNATURE_OFFSET);
        assert_eq!(bytes[0], LAYOUT_VERSION);
        assert_eq!(bytes[1..9], 42u64.to_be_bytes());
        assert_eq!(bytes[EXPIRY_OFFSET..], [0x07, 0xEB, 9, 30]);
        assert_eq!(CardRecord::decode(&bytes).unwrap(), original);

        let too_long = CardRecord {
            barcode: "1".repeat(TEXT_FIELD_LEN + 1),
            ..record(1)
        };
        assert_eq!(
            too_long.encode(),
            Err(CardRecordError::BadText { field: "barcode" })
        );
        let not_ascii = CardRecord {
            holder_id: "Łukasz".into(),
            ..record(1)
        };
        assert!(not_ascii.encode().is_err());
        let mut bad_date = bytes.clone();
        bad_date[EXPIRY_OFFSET + 2] = 13;
        assert_eq!(
            CardRecord::decode(&bad_date),
            Err(CardRecordError::Malformed("expiry date"))
        );
        let mut junk_after_nul = bytes;
        junk_after_nul[BARCODE_OFFSET + 20] = b'x';
        assert!(CardRecord::decode(&junk_after_nul).is_err());
        assert!(CardRecord::decode(&[]).is_err());
    }
}
