//! The signed data object in EF.ELS: a CMS `ContentInfo` / `SignedData` with
//! attached `SELSInfo` content (eContentType `1.2.616.1.101.4.1.1.1`).
//!
//! ```text
//! SELSInfo ::= SEQUENCE {
//!   wersja             INTEGER,             -- 1
//!   numerSeryjnyUkladu PrintableString,     -- chip serial
//!   nazwaUczelni       UTF8String,
//!   nazwiskoStudenta   SEQUENCE OF UTF8String,
//!   imionaStudenta     SEQUENCE OF UTF8String,
//!   numerAlbumu        PrintableString,
//!   numerEdycji        PrintableString,
//!   pesel              PrintableString,
//!   dataWaznosci       GeneralizedTime }
//! ```
//!
//! [`sign()`] writes exactly these types. Decoding is lenient where real cards
//! differ: every string field may be a UTF8String, PrintableString or
//! IA5String, only the date part of `dataWaznosci` is read, and zero padding
//! after the outer DER (unused file space) is ignored.
//!
//! This module holds the data model; `der` encodes and decodes `SELSInfo`, `sign` and
//! `verify` handle the CMS envelope around it.

mod crl;
mod der;
mod path;
mod sign;
#[cfg(test)]
mod test_fixtures;
mod verify;

pub use crl::{CheckedCrl, CrlError, check_crl};
pub use path::{Revoked, serial_bytes};
pub use sign::{Certificates, SignError, sign};
pub use verify::{VerifiedEls, VerifyError, VerifyOptions, decode_unverified, verify};

use const_oid::ObjectIdentifier;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::Date;

use super::pesel::{self, PeselError};

/// eContentType of the ELS data object, `1.2.616.1.101.4.1.1.1`.
pub const ELS_CONTENT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.616.1.101.4.1.1.1");

// Card-layout limits enforced by `ElsData::validate`. The regulation gives no
// SIZE constraints, so these are ours: generous for real names, small enough
// that the whole object plus a signer certificate fits the EF.ELS file.
// Lengths are counted in characters (Unicode scalar values).

/// Maximum characters in one surname or given name.
pub const MAX_NAME_CHARS: usize = 40;
/// Maximum number of surnames, and separately of given names.
pub const MAX_NAME_COUNT: usize = 4;
/// Maximum characters in the university name.
pub const MAX_UNIVERSITY_CHARS: usize = 120;
/// Maximum characters in the album (student) number.
pub const MAX_ALBUM_CHARS: usize = 20;
/// Maximum characters in the edition (series) code.
pub const MAX_EDITION_CHARS: usize = 10;
/// Maximum hex digits in the chip serial (16 bytes).
pub const MAX_CHIP_SERIAL_HEX_DIGITS: usize = 32;

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// Student card data as exchanged in JSON files and written to EF.ELS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElsData {
    /// Chip serial, upper-case hex; binds the data to one chip.
    pub chip_serial: String,
    pub university: String,
    pub surnames: Vec<String>,
    pub given_names: Vec<String>,
    pub album_number: String,
    /// Series / edition code (`numerEdycji`).
    pub edition: String,
    pub pesel: String,
    /// Last day the card is valid, `YYYY-MM-DD` in JSON.
    #[serde(with = "iso_date")]
    pub expires: Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    #[error("pesel: {0}")]
    Pesel(#[from] PeselError),
    #[error("{field} is empty")]
    Empty { field: String },
    #[error("{field} has {count} entries; at most {max} fit on the card")]
    TooManyEntries {
        field: String,
        count: usize,
        max: usize,
    },
    #[error("{field} is {length} characters long; at most {max} fit on the card")]
    TooLong {
        field: String,
        length: usize,
        max: usize,
    },
    #[error("{field} contains a control character")]
    ControlCharacter { field: String },
    #[error("{field} contains {character:?}, which an ASN.1 PrintableString cannot hold")]
    NotPrintable { field: String, character: char },
    #[error("chip_serial must be upper-case hex digits (0-9, A-F), found {0:?}")]
    ChipSerialNotUpperHex(char),
    #[error("chip_serial must be whole bytes (an even number of hex digits), has {0} digits")]
    ChipSerialOddLength(usize),
    #[error("expiry date {expires} is not after today ({today})")]
    ExpiryNotInFuture { expires: Date, today: Date },
}

impl ElsData {
    /// Checks everything [`sign()`] needs before the data may go on a card.
    pub fn validate(&self, today: Date) -> Result<(), ValidationError> {
        validate_chip_serial(&self.chip_serial)?;
        validate_text("university", &self.university, MAX_UNIVERSITY_CHARS)?;
        validate_names("surnames", &self.surnames)?;
        validate_names("given_names", &self.given_names)?;
        validate_printable("album_number", &self.album_number, MAX_ALBUM_CHARS)?;
        validate_printable("edition", &self.edition, MAX_EDITION_CHARS)?;
        pesel::validate(&self.pesel)?;
        if self.expires <= today {
            return Err(ValidationError::ExpiryNotInFuture {
                expires: self.expires,
                today,
            });
        }
        Ok(())
    }
}

fn validate_chip_serial(serial: &str) -> Result<(), ValidationError> {
    validate_length("chip_serial", serial, MAX_CHIP_SERIAL_HEX_DIGITS)?;
    if let Some(bad) = serial.chars().find(|c| !matches!(c, '0'..='9' | 'A'..='F')) {
        return Err(ValidationError::ChipSerialNotUpperHex(bad));
    }
    if !serial.len().is_multiple_of(2) {
        return Err(ValidationError::ChipSerialOddLength(serial.len()));
    }
    Ok(())
}

fn validate_names(field: &str, names: &[String]) -> Result<(), ValidationError> {
    if names.is_empty() {
        return Err(ValidationError::Empty {
            field: field.to_owned(),
        });
    }
    if names.len() > MAX_NAME_COUNT {
        return Err(ValidationError::TooManyEntries {
            field: field.to_owned(),
            count: names.len(),
            max: MAX_NAME_COUNT,
        });
    }
    for (index, name) in names.iter().enumerate() {
        validate_text(&format!("{field}[{index}]"), name, MAX_NAME_CHARS)?;
    }
    Ok(())
}

/// A UTF8String field: non-blank, bounded, no control characters.
fn validate_text(field: &str, text: &str, max: usize) -> Result<(), ValidationError> {
    validate_length(field, text, max)?;
    if text.chars().any(char::is_control) {
        return Err(ValidationError::ControlCharacter {
            field: field.to_owned(),
        });
    }
    Ok(())
}

fn validate_printable(field: &str, text: &str, max: usize) -> Result<(), ValidationError> {
    validate_length(field, text, max)?;
    if let Some(character) = text.chars().find(|&c| !is_printable_string_char(c)) {
        return Err(ValidationError::NotPrintable {
            field: field.to_owned(),
            character,
        });
    }
    Ok(())
}

fn validate_length(field: &str, text: &str, max: usize) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(ValidationError::Empty {
            field: field.to_owned(),
        });
    }
    let length = text.chars().count();
    if length > max {
        return Err(ValidationError::TooLong {
            field: field.to_owned(),
            length,
            max,
        });
    }
    Ok(())
}

/// X.680 PrintableString: letters, digits, space and `'()+,-./:=?`.
fn is_printable_string_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::test_fixtures::{SAMPLE_JSON, TODAY, options, pki, sample_data};
    use super::*;

    #[test]
    fn json_file_format_round_trips_exactly() {
        let data = sample_data();
        assert_eq!(data.expires, date!(2027 - 03 - 31));
        assert_eq!(data.given_names, ["Anna", "Maria"]);
        assert_eq!(serde_json::to_string(&data).unwrap(), SAMPLE_JSON);

        let with_typo = SAMPLE_JSON.replace("\"edition\"", "\"editon\"");
        assert!(serde_json::from_str::<ElsData>(&with_typo).is_err());
        let bad_date = SAMPLE_JSON.replace("2027-03-31", "31.03.2027");
        assert!(serde_json::from_str::<ElsData>(&bad_date).is_err());
    }

    #[test]
    fn sample_data_is_valid() {
        assert_eq!(sample_data().validate(TODAY), Ok(()));
    }

    fn expect_invalid(break_it: impl FnOnce(&mut ElsData), expected: ValidationError) {
        let mut data = sample_data();
        break_it(&mut data);
        assert_eq!(data.validate(TODAY), Err(expected));
    }

    fn empty(field: &str) -> ValidationError {
        ValidationError::Empty {
            field: field.to_owned(),
        }
    }

    fn too_long(field: &str, length: usize, max: usize) -> ValidationError {
        ValidationError::TooLong {
            field: field.to_owned(),
            length,
            max,
        }
    }

    fn not_printable(field: &str, character: char) -> ValidationError {
        ValidationError::NotPrintable {
            field: field.to_owned(),
            character,
        }
    }

    #[test]
    fn each_validation_failure_is_named() {
        let checksum = PeselError::BadChecksum {
            expected: 8,
            found: 9,
        };
        expect_invalid(
            |d| d.pesel = "02070803629".into(),
            ValidationError::Pesel(checksum),
        );
        expect_invalid(
            |d| d.pesel = "0207080362".into(),
            PeselError::WrongLength(10).into(),
        );

        expect_invalid(|d| d.chip_serial.clear(), empty("chip_serial"));
        expect_invalid(
            |d| d.chip_serial = "04A".into(),
            ValidationError::ChipSerialOddLength(3),
        );
        let lower_case = ValidationError::ChipSerialNotUpperHex('a');
        expect_invalid(|d| d.chip_serial = "04a1".into(), lower_case);
        let not_hex = ValidationError::ChipSerialNotUpperHex('G');
        expect_invalid(|d| d.chip_serial = "04G1".into(), not_hex);
        expect_invalid(
            |d| d.chip_serial = "AB".repeat(17),
            too_long("chip_serial", 34, 32),
        );

        expect_invalid(|d| d.university = "  ".into(), empty("university"));
        expect_invalid(
            |d| d.university = "U".repeat(121),
            too_long("university", 121, 120),
        );
        let control = ValidationError::ControlCharacter {
            field: "university".into(),
        };
        expect_invalid(|d| d.university = "Uniwersytet\nWarszawski".into(), control);

        expect_invalid(|d| d.surnames.clear(), empty("surnames"));
        expect_invalid(|d| d.surnames.push(String::new()), empty("surnames[1]"));
        // 41 characters but 82 bytes: the limit counts characters.
        expect_invalid(
            |d| d.surnames[0] = "Ż".repeat(41),
            too_long("surnames[0]", 41, 40),
        );
        expect_invalid(|d| d.given_names.clear(), empty("given_names"));
        expect_invalid(
            |d| d.given_names[0] = String::new(),
            empty("given_names[0]"),
        );
        let too_many = ValidationError::TooManyEntries {
            field: "given_names".into(),
            count: 5,
            max: 4,
        };
        expect_invalid(|d| d.given_names = vec!["Anna".into(); 5], too_many);

        expect_invalid(|d| d.album_number.clear(), empty("album_number"));
        expect_invalid(
            |d| d.album_number = "1".repeat(21),
            too_long("album_number", 21, 20),
        );
        expect_invalid(
            |d| d.album_number = "123_456".into(),
            not_printable("album_number", '_'),
        );
        expect_invalid(|d| d.edition = "Ą".into(), not_printable("edition", 'Ą'));
        expect_invalid(|d| d.edition = "E".repeat(11), too_long("edition", 11, 10));

        let expires_today = ValidationError::ExpiryNotInFuture {
            expires: TODAY,
            today: TODAY,
        };
        expect_invalid(|d| d.expires = TODAY, expires_today);
        let last_year = date!(2025 - 12 - 31);
        let expired = ValidationError::ExpiryNotInFuture {
            expires: last_year,
            today: TODAY,
        };
        expect_invalid(|d| d.expires = last_year, expired);
    }

    #[test]
    fn printable_string_allows_its_punctuation() {
        let mut data = sample_data();
        data.album_number = "A-12/34 (x)".into();
        data.edition = "2024/25".into();
        assert_eq!(data.validate(TODAY), Ok(()));
        let der = sign(
            &data,
            &pki().p256_key,
            &pki().p256_cert,
            Certificates::Embed,
            TODAY,
        )
        .unwrap();
        assert_eq!(verify(&der, &options()).unwrap().data, data);
    }
}
