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
//! [`sign`] writes exactly these types. Decoding is lenient where real cards
//! differ: every string field may be a UTF8String, PrintableString or
//! IA5String, only the date part of `dataWaznosci` is read, and zero padding
//! after the outer DER (unused file space) is ignored.

use std::borrow::Cow;

use cms::builder::{SignedDataBuilder, SignerInfoBuilder, create_signing_time_attribute};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
use der::referenced::OwnedToRef;
use der::{
    Any, AnyRef, Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader,
    Sequence, SliceReader, Tag, Tagged, Writer,
};
use p256::ecdsa::{DerSignature, SigningKey};
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use thiserror::Error;
use time::Date;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, SubjectKeyIdentifier};

use crate::crypto::pesel::{self, PeselError};

/// eContentType of the ELS data object, `1.2.616.1.101.4.1.1.1`.
pub const ELS_CONTENT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.616.1.101.4.1.1.1");

/// The only `wersja` defined so far.
const SELS_INFO_VERSION: u8 = 1;

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

/// `dataWaznosci` is written as `YYYYMMDD215959Z`: 23:59:59 Polish summer
/// time (22:59:59 in winter). Readers that convert to Polish local time then
/// show the expiry date itself, and readers comparing instants keep the card
/// valid for (almost) the whole day. A later time such as 23:59:59Z would be
/// shown as the next day in Poland. [`verify`] reads only the date part.
const EXPIRY_TIME_OF_DAY_UTC: &str = "215959Z";

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
    /// Checks everything [`sign`] needs before the data may go on a card.
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

// ---------------------------------------------------------------------------
// SELSInfo DER

#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
struct SelsInfo {
    wersja: u8,
    numer_seryjny_ukladu: CardString,
    nazwa_uczelni: CardString,
    nazwisko_studenta: Vec<CardString>,
    imiona_studenta: Vec<CardString>,
    numer_albumu: CardString,
    numer_edycji: CardString,
    pesel: CardString,
    data_waznosci: ExpiryDate,
}

impl SelsInfo {
    fn from_els_data(data: &ElsData) -> der::Result<Self> {
        let utf8_list = |names: &[String]| names.iter().map(|n| CardString::utf8(n)).collect();
        Ok(Self {
            wersja: SELS_INFO_VERSION,
            numer_seryjny_ukladu: CardString::printable(&data.chip_serial)?,
            nazwa_uczelni: CardString::utf8(&data.university),
            nazwisko_studenta: utf8_list(&data.surnames),
            imiona_studenta: utf8_list(&data.given_names),
            numer_albumu: CardString::printable(&data.album_number)?,
            numer_edycji: CardString::printable(&data.edition)?,
            pesel: CardString::printable(&data.pesel)?,
            data_waznosci: ExpiryDate(data.expires),
        })
    }

    fn into_els_data(self) -> ElsData {
        let texts = |list: Vec<CardString>| list.into_iter().map(|s| s.text).collect();
        ElsData {
            chip_serial: self.numer_seryjny_ukladu.text,
            university: self.nazwa_uczelni.text,
            surnames: texts(self.nazwisko_studenta),
            given_names: texts(self.imiona_studenta),
            album_number: self.numer_albumu.text,
            edition: self.numer_edycji.text,
            pesel: self.pesel.text,
            expires: self.data_waznosci.0,
        }
    }
}

/// A string field that decodes from UTF8String, PrintableString or IA5String
/// and encodes with the tag it was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CardString {
    tag: Tag,
    text: String,
}

impl CardString {
    fn utf8(text: &str) -> Self {
        Self {
            tag: Tag::Utf8String,
            text: text.to_owned(),
        }
    }

    fn printable(text: &str) -> der::Result<Self> {
        PrintableStringRef::new(text)?;
        Ok(Self {
            tag: Tag::PrintableString,
            text: text.to_owned(),
        })
    }
}

impl<'a> Decode<'a> for CardString {
    fn decode<R: Reader<'a>>(reader: &mut R) -> der::Result<Self> {
        let any = AnyRef::decode(reader)?;
        let text = match any.tag() {
            Tag::Utf8String => any.decode_as::<Utf8StringRef<'_>>()?.as_str(),
            Tag::PrintableString => any.decode_as::<PrintableStringRef<'_>>()?.as_str(),
            Tag::Ia5String => any.decode_as::<Ia5StringRef<'_>>()?.as_str(),
            other => return Err(other.unexpected_error(Some(Tag::Utf8String))),
        };
        Ok(Self {
            tag: any.tag(),
            text: text.to_owned(),
        })
    }
}

impl EncodeValue for CardString {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.text.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.text.as_bytes())
    }
}

impl Tagged for CardString {
    fn tag(&self) -> Tag {
        self.tag
    }
}

/// `dataWaznosci`: a GeneralizedTime of which only `YYYYMMDD` is read, so
/// cards with fractional seconds, local times or other times of day decode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExpiryDate(Date);

impl ExpiryDate {
    fn to_generalized_time(&self) -> der::Result<String> {
        let year = self.0.year();
        if !(0..=9999).contains(&year) {
            return Err(der::ErrorKind::DateTime.into());
        }
        Ok(format!(
            "{year:04}{:02}{:02}{EXPIRY_TIME_OF_DAY_UTC}",
            u8::from(self.0.month()),
            self.0.day()
        ))
    }
}

impl FixedTag for ExpiryDate {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for ExpiryDate {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let value = reader.read_slice(header.length)?;
        let date_digits = value
            .get(..8)
            .filter(|digits| digits.iter().all(u8::is_ascii_digit))
            .ok_or_else(|| Tag::GeneralizedTime.value_error())?;
        let number = |range: std::ops::Range<usize>| {
            date_digits[range]
                .iter()
                .fold(0u32, |acc, digit| acc * 10 + u32::from(digit - b'0'))
        };
        let year = i32::try_from(number(0..4)).map_err(|_| Tag::GeneralizedTime.value_error())?;
        let month = u8::try_from(number(4..6)).map_err(|_| Tag::GeneralizedTime.value_error())?;
        let day = u8::try_from(number(6..8)).map_err(|_| Tag::GeneralizedTime.value_error())?;
        time::Month::try_from(month)
            .and_then(|month| Date::from_calendar_date(year, month, day))
            .map(Self)
            .map_err(|_| der::ErrorKind::DateTime.into())
    }
}

impl EncodeValue for ExpiryDate {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.to_generalized_time()?.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.to_generalized_time()?.as_bytes())
    }
}

// ---------------------------------------------------------------------------
// Signing

#[derive(Debug, Error)]
pub enum SignError {
    #[error("invalid ELS data: {0}")]
    Invalid(#[from] ValidationError),
    #[error("the signing key does not belong to the signer certificate {0}")]
    KeyDoesNotMatchCertificate(String),
    #[error("cannot encode the ELS data object: {0}")]
    Encoding(String),
}

/// Whether the signer's certificate goes inside the SignedData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certificates {
    /// Self-contained: an offline file that any CMS tool verifies alone.
    Embed,
    /// Left out: on a card, EF.CERT already holds it, and 500-odd bytes fewer in EF.ELS
    /// save two READ BINARY round trips at every tap.
    InEfCert,
}

/// Validates `data` and returns the DER `ContentInfo` to write to EF.ELS:
/// SignedData with attached SELSInfo, SHA-256 + ECDSA P-256, signed
/// attributes (content-type, message-digest, signing-time), the signer named
/// by issuer and serial number, its certificate included or not.
pub fn sign(
    data: &ElsData,
    key: &SigningKey,
    cert: &Certificate,
    certificates: Certificates,
    today: Date,
) -> Result<Vec<u8>, SignError> {
    data.validate(today)?;
    ensure_key_matches_certificate(key, cert)?;

    let content = SelsInfo::from_els_data(data)
        .and_then(|sels| sels.to_der())
        .map_err(encoding_error)?;
    let encapsulated = EncapsulatedContentInfo {
        econtent_type: ELS_CONTENT_TYPE,
        econtent: Some(Any::new(Tag::OctetString, content).map_err(encoding_error)?),
    };
    let sha256 = AlgorithmIdentifierOwned {
        oid: rfc5912::ID_SHA_256,
        parameters: None,
    };
    let signer_id = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: cert.tbs_certificate.issuer.clone(),
        serial_number: cert.tbs_certificate.serial_number.clone(),
    });

    let mut signer_info =
        SignerInfoBuilder::new(key, signer_id, sha256.clone(), &encapsulated, None)
            .map_err(encoding_error)?;
    signer_info
        .add_signed_attribute(create_signing_time_attribute().map_err(encoding_error)?)
        .map_err(encoding_error)?;

    let mut signed_data = SignedDataBuilder::new(&encapsulated);
    signed_data
        .add_digest_algorithm(sha256)
        .map_err(encoding_error)?;
    if certificates == Certificates::Embed {
        signed_data
            .add_certificate(CertificateChoices::Certificate(cert.clone()))
            .map_err(encoding_error)?;
    }
    signed_data
        .add_signer_info::<SigningKey, DerSignature>(signer_info)
        .map_err(encoding_error)?;
    let content_info = signed_data.build().map_err(encoding_error)?;
    content_info.to_der().map_err(encoding_error)
}

fn encoding_error(err: impl std::fmt::Display) -> SignError {
    SignError::Encoding(err.to_string())
}

fn ensure_key_matches_certificate(key: &SigningKey, cert: &Certificate) -> Result<(), SignError> {
    let key_spki =
        SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).map_err(encoding_error)?;
    if key_spki != cert.tbs_certificate.subject_public_key_info {
        return Err(SignError::KeyDoesNotMatchCertificate(
            cert.tbs_certificate.subject.to_string(),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Verification

/// What to check a card's EF.ELS against.
#[derive(Debug, Clone)]
pub struct VerifyOptions<'a> {
    /// The certificate read from EF.CERT, if any; otherwise the signer
    /// certificate is taken from `SignedData.certificates`.
    pub card_cert: Option<Certificate>,
    /// Trust anchors: the signer certificate must be one of these or be
    /// issued (and signed) directly by one of them. Borrowed: a kiosk checks every tap against
    /// the same list.
    pub trusted: &'a [Certificate],
    /// The chip serial read from the card; `None` skips the binding check.
    pub chip_serial: Option<String>,
    pub today: Date,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEls {
    pub data: ElsData,
    /// Subject of the signer certificate (RFC 4514 string).
    pub signer_subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VerifyError {
    #[error("malformed ELS data object: {0}")]
    Malformed(String),
    /// Neither EF.CERT nor `SignedData.certificates` holds the signer's certificate: a reader
    /// that has not read EF.CERT yet reads it and verifies again.
    #[error("no certificate for the signer (neither given nor embedded)")]
    MissingCertificate,
    #[error("signature check failed: {0}")]
    Forged(String),
    #[error("cannot check the signature, unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    #[error("signer {0} is neither a trusted certificate nor issued by one")]
    UntrustedIssuer(String),
    #[error("data belongs to chip {data}, but this card's chip is {card}")]
    WrongChip { card: String, data: String },
    #[error("card expired on {0}")]
    Expired(Date),
}

impl VerifyError {
    /// Short machine-readable word for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed(_) | Self::MissingCertificate => "malformed",
            Self::Forged(_) => "forged",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::UntrustedIssuer(_) => "untrusted_issuer",
            Self::WrongChip { .. } => "wrong_chip",
            Self::Expired(_) => "expired",
        }
    }
}

fn malformed(reason: impl std::fmt::Display) -> VerifyError {
    VerifyError::Malformed(reason.to_string())
}

/// Verifies the EF.ELS contents (trailing zero padding allowed), in this
/// order: structure, signature, trust in the signer, chip binding, expiry.
pub fn verify(der: &[u8], opts: &VerifyOptions<'_>) -> Result<VerifiedEls, VerifyError> {
    let parsed = ParsedEls::parse(der)?;
    let signer_cert = find_signer_certificate(&parsed, opts.card_cert.as_ref(), opts.trusted)?;
    verify_signature(&parsed, signer_cert)?;
    check_trusted(signer_cert, opts.trusted)?;
    let signer_subject = signer_cert.tbs_certificate.subject.to_string();

    let data = parsed.sels.into_els_data();
    if let Some(card_serial) = &opts.chip_serial
        && !card_serial
            .trim()
            .eq_ignore_ascii_case(data.chip_serial.trim())
    {
        return Err(VerifyError::WrongChip {
            card: card_serial.clone(),
            data: data.chip_serial,
        });
    }
    if data.expires < opts.today {
        return Err(VerifyError::Expired(data.expires));
    }
    Ok(VerifiedEls {
        data,
        signer_subject,
    })
}

/// The fields of an ELS structure without checking its signature, trust, chip or expiry:
/// for showing an operator what a card that failed verification claims. Never a verdict.
pub fn decode_unverified(der: &[u8]) -> Result<ElsData, VerifyError> {
    Ok(ParsedEls::parse(der)?.sels.into_els_data())
}

struct ParsedEls {
    signed_data: SignedData,
    signer: SignerInfo,
    /// The eContent octets: what the message digest covers.
    content: Vec<u8>,
    sels: SelsInfo,
    /// The signed attributes exactly as they appear on the card, re-tagged as
    /// SET OF: the signature covers these bytes, and decoding re-sorts them.
    signed_attributes_der: Option<Vec<u8>>,
}

impl ParsedEls {
    fn parse(input: &[u8]) -> Result<Self, VerifyError> {
        let mut reader = SliceReader::new(input).map_err(malformed)?;
        let content_info = ContentInfo::decode(&mut reader)
            .map_err(|e| malformed(format!("not a CMS ContentInfo: {e}")))?;
        let consumed = usize::try_from(reader.position()).map_err(malformed)?;
        if input
            .get(consumed..)
            .unwrap_or_default()
            .iter()
            .any(|&b| b != 0)
        {
            return Err(malformed("non-zero bytes after the ContentInfo"));
        }
        if content_info.content_type != rfc5911::ID_SIGNED_DATA {
            return Err(malformed(format!(
                "content type {} is not SignedData",
                content_info.content_type
            )));
        }
        let signed_data: SignedData = content_info
            .content
            .decode_as()
            .map_err(|e| malformed(format!("not a SignedData: {e}")))?;

        let encapsulated = &signed_data.encap_content_info;
        if encapsulated.econtent_type != ELS_CONTENT_TYPE {
            return Err(malformed(format!(
                "eContentType {} is not ELS ({ELS_CONTENT_TYPE})",
                encapsulated.econtent_type
            )));
        }
        let content = match &encapsulated.econtent {
            Some(econtent) if econtent.tag() == Tag::OctetString => econtent.value().to_vec(),
            Some(_) => return Err(malformed("eContent is not an OCTET STRING")),
            None => return Err(malformed("no attached content")),
        };
        let sels = SelsInfo::from_der(&content)
            .map_err(|e| malformed(format!("SELSInfo cannot be decoded: {e}")))?;
        if sels.wersja != SELS_INFO_VERSION {
            return Err(malformed(format!(
                "SELSInfo version {} is not supported",
                sels.wersja
            )));
        }

        let signer = match signed_data.signer_infos.0.as_slice() {
            [signer] => signer.clone(),
            [] => return Err(malformed("no signer")),
            many => {
                return Err(malformed(format!(
                    "{} signers; ELS has exactly one",
                    many.len()
                )));
            }
        };
        let signed_attributes_der = raw_signed_attributes(content_info.content.value())
            .map_err(|e| malformed(format!("cannot locate signed attributes: {e}")))?;
        if signed_attributes_der.is_some() != signer.signed_attrs.is_some() {
            return Err(malformed("signed attributes cannot be located"));
        }

        Ok(Self {
            signed_data,
            signer,
            content,
            sels,
            signed_attributes_der,
        })
    }
}

/// Walks the SignedData contents to the single SignerInfo and returns its
/// `[0] IMPLICIT` signed attributes as the DER `SET OF` that was signed.
fn raw_signed_attributes(signed_data_value: &[u8]) -> der::Result<Option<Vec<u8>>> {
    let mut signed_data = SliceReader::new(signed_data_value)?;
    // version, digestAlgorithms, encapContentInfo
    for _ in 0..3 {
        AnyRef::decode(&mut signed_data)?;
    }
    // [0] certificates, [1] crls
    while matches!(signed_data.peek_byte(), Some(0xA0 | 0xA1)) {
        AnyRef::decode(&mut signed_data)?;
    }
    let signer_infos = AnyRef::decode(&mut signed_data)?;
    let signer_info = AnyRef::from_der(signer_infos.value())?;
    let mut fields = SliceReader::new(signer_info.value())?;
    // version, sid, digestAlgorithm
    for _ in 0..3 {
        AnyRef::decode(&mut fields)?;
    }
    if fields.peek_byte() != Some(0xA0) {
        return Ok(None);
    }
    let attributes = AnyRef::decode(&mut fields)?;
    Ok(Some(AnyRef::new(Tag::Set, attributes.value())?.to_der()?))
}

/// The signer's certificate: EF.CERT's, then the embedded ones, then a trusted certificate
/// that is the signer itself (a kiosk holds its university's signer certificates, so it need
/// not read EF.CERT at every tap).
fn find_signer_certificate<'a>(
    parsed: &'a ParsedEls,
    card_cert: Option<&'a Certificate>,
    trusted: &'a [Certificate],
) -> Result<&'a Certificate, VerifyError> {
    let embedded = parsed
        .signed_data
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(cert) => Some(cert),
            CertificateChoices::Other(_) => None,
        });
    card_cert
        .into_iter()
        .chain(embedded)
        .chain(trusted)
        .find(|cert| identifies(&parsed.signer.sid, cert))
        // EF.CERT is the card's own statement of the signer; if its sid does
        // not match, the signature check below is what rejects it.
        .or(card_cert)
        .ok_or(VerifyError::MissingCertificate)
}

fn identifies(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = &cert.tbs_certificate;
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            id.issuer == tbs.issuer && id.serial_number == tbs.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            matches!(tbs.get::<SubjectKeyIdentifier>(), Ok(Some((_, cert_ski))) if cert_ski == *ski)
        }
    }
}

fn verify_signature(parsed: &ParsedEls, signer_cert: &Certificate) -> Result<(), VerifyError> {
    let signer = &parsed.signer;
    let digest = DigestAlgorithm::from_oid(&signer.digest_alg.oid).ok_or_else(|| {
        VerifyError::UnsupportedAlgorithm(format!("digest {}", signer.digest_alg.oid))
    })?;
    let (family, named_digest) =
        signature_algorithm(&signer.signature_algorithm.oid).ok_or_else(|| {
            VerifyError::UnsupportedAlgorithm(format!(
                "signature {}",
                signer.signature_algorithm.oid
            ))
        })?;
    if named_digest.is_some_and(|named| named != digest) {
        return Err(malformed(
            "signature algorithm and digest algorithm name different hashes",
        ));
    }

    let signed_bytes: Cow<'_, [u8]> = match (&signer.signed_attrs, &parsed.signed_attributes_der) {
        (Some(attributes), Some(attributes_der)) => {
            check_signed_attributes(attributes, &digest.hash(&parsed.content))?;
            Cow::Borrowed(attributes_der)
        }
        _ => Cow::Borrowed(&parsed.content),
    };

    let key = PublicKey::from_spki(&signer_cert.tbs_certificate.subject_public_key_info).map_err(
        |failure| match failure {
            CryptoFailure::Unsupported(what) => VerifyError::UnsupportedAlgorithm(what),
            CryptoFailure::Invalid(why) => VerifyError::Forged(format!("signer key: {why}")),
        },
    )?;
    if key.family() != family {
        return Err(VerifyError::Forged(
            "signature algorithm does not fit the signer's key".into(),
        ));
    }
    key.verify(digest, &signed_bytes, signer.signature.as_bytes())
        .map_err(|failure| match failure {
            CryptoFailure::Unsupported(what) => VerifyError::UnsupportedAlgorithm(what),
            CryptoFailure::Invalid(why) => VerifyError::Forged(why),
        })
}

/// RFC 5652 §5.3: with signed attributes present, message-digest must equal
/// the content hash and content-type must equal eContentType.
fn check_signed_attributes(
    attributes: &x509_cert::attr::Attributes,
    content_digest: &[u8],
) -> Result<(), VerifyError> {
    let single_value = |oid: ObjectIdentifier, name: &str| {
        let mut matching = attributes.iter().filter(|attr| attr.oid == oid);
        match (matching.next(), matching.next()) {
            (Some(attr), None) if attr.values.len() == 1 => Ok(attr.values.get(0)),
            (None, _) => Err(VerifyError::Forged(format!("no {name} signed attribute"))),
            _ => Err(VerifyError::Forged(format!(
                "{name} signed attribute must have exactly one value"
            ))),
        }
    };

    let message_digest = single_value(rfc5911::ID_MESSAGE_DIGEST, "message-digest")?;
    let digest_matches = message_digest
        .is_some_and(|value| value.tag() == Tag::OctetString && value.value() == content_digest);
    if !digest_matches {
        return Err(VerifyError::Forged(
            "message-digest attribute does not match the content".into(),
        ));
    }

    let content_type = single_value(rfc5911::ID_CONTENT_TYPE, "content-type")?;
    let type_matches = content_type
        .and_then(|value| value.decode_as::<ObjectIdentifier>().ok())
        .is_some_and(|oid| oid == ELS_CONTENT_TYPE);
    if !type_matches {
        return Err(VerifyError::Forged(
            "content-type attribute is not the ELS content type".into(),
        ));
    }
    Ok(())
}

/// The signer certificate must be trusted itself or be directly issued by a
/// trusted certificate (issuer name matches and the certificate signature
/// verifies with that certificate's key).
fn check_trusted(signer_cert: &Certificate, trusted: &[Certificate]) -> Result<(), VerifyError> {
    if trusted.contains(signer_cert) {
        return Ok(());
    }
    let tbs = &signer_cert.tbs_certificate;
    let issued_by_trusted = tbs.to_der().is_ok_and(|tbs_der| {
        trusted
            .iter()
            .filter(|issuer| issuer.tbs_certificate.subject == tbs.issuer && may_issue(issuer))
            .any(|issuer| verify_certificate_signature(signer_cert, &tbs_der, issuer).is_ok())
    });
    if issued_by_trusted {
        Ok(())
    } else {
        Err(VerifyError::UntrustedIssuer(tbs.subject.to_string()))
    }
}

/// A trusted certificate may act as issuer unless its basicConstraints says
/// it is not a CA (certificates without the extension are legacy v1 roots).
fn may_issue(issuer: &Certificate) -> bool {
    match issuer.tbs_certificate.get::<BasicConstraints>() {
        Ok(Some((_, constraints))) => constraints.ca,
        Ok(None) => true,
        Err(_) => false,
    }
}

fn verify_certificate_signature(
    cert: &Certificate,
    tbs_der: &[u8],
    issuer: &Certificate,
) -> Result<(), CryptoFailure> {
    if cert.signature_algorithm != cert.tbs_certificate.signature {
        return Err(CryptoFailure::Invalid(
            "inner and outer signature algorithms differ".into(),
        ));
    }
    let oid = cert.signature_algorithm.oid;
    let (family, digest) = match signature_algorithm(&oid) {
        Some((family, Some(digest))) => (family, digest),
        _ => return Err(CryptoFailure::Unsupported(format!("signature {oid}"))),
    };
    let key = PublicKey::from_spki(&issuer.tbs_certificate.subject_public_key_info)?;
    if key.family() != family {
        return Err(CryptoFailure::Invalid(
            "signature algorithm does not fit the issuer key".into(),
        ));
    }
    let signature = cert
        .signature
        .as_bytes()
        .ok_or_else(|| CryptoFailure::Invalid("signature has unused bits".into()))?;
    key.verify(digest, tbs_der, signature)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DigestAlgorithm {
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            rfc5912::ID_SHA_256 => Some(Self::Sha256),
            rfc5912::ID_SHA_384 => Some(Self::Sha384),
            rfc5912::ID_SHA_512 => Some(Self::Sha512),
            _ => None,
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha384 => Sha384::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn rsa_pkcs1v15(self) -> Pkcs1v15Sign {
        match self {
            Self::Sha256 => Pkcs1v15Sign::new::<Sha256>(),
            Self::Sha384 => Pkcs1v15Sign::new::<Sha384>(),
            Self::Sha512 => Pkcs1v15Sign::new::<Sha512>(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignatureFamily {
    Ecdsa,
    RsaPkcs1v15,
}

/// The signature family an algorithm OID names, and the hash if it names
/// one. CMS signers often put the bare key algorithm (id-ecPublicKey,
/// rsaEncryption) here and leave the hash to `digestAlgorithm`.
fn signature_algorithm(
    oid: &ObjectIdentifier,
) -> Option<(SignatureFamily, Option<DigestAlgorithm>)> {
    use DigestAlgorithm::{Sha256, Sha384, Sha512};
    use SignatureFamily::{Ecdsa, RsaPkcs1v15};
    Some(match *oid {
        rfc5912::ECDSA_WITH_SHA_256 => (Ecdsa, Some(Sha256)),
        rfc5912::ECDSA_WITH_SHA_384 => (Ecdsa, Some(Sha384)),
        rfc5912::ECDSA_WITH_SHA_512 => (Ecdsa, Some(Sha512)),
        rfc5912::ID_EC_PUBLIC_KEY => (Ecdsa, None),
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => (RsaPkcs1v15, Some(Sha256)),
        rfc5912::SHA_384_WITH_RSA_ENCRYPTION => (RsaPkcs1v15, Some(Sha384)),
        rfc5912::SHA_512_WITH_RSA_ENCRYPTION => (RsaPkcs1v15, Some(Sha512)),
        rfc5912::RSA_ENCRYPTION => (RsaPkcs1v15, None),
        _ => return None,
    })
}

/// Why a key or signature could not be used: we do not implement it, or it is wrong.
enum CryptoFailure {
    Unsupported(String),
    Invalid(String),
}

enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa(RsaPublicKey),
}

impl PublicKey {
    fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, CryptoFailure> {
        let invalid = |what: &str| CryptoFailure::Invalid(format!("invalid {what} public key"));
        match spki.algorithm.oid {
            rfc5912::ID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|params| params.decode_as::<ObjectIdentifier>().ok())
                    .ok_or_else(|| invalid("EC (no named curve)"))?;
                let point = spki
                    .subject_public_key
                    .as_bytes()
                    .ok_or_else(|| invalid("EC"))?;
                match curve {
                    rfc5912::SECP_256_R_1 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                        .map(Self::P256)
                        .map_err(|_| invalid("P-256")),
                    rfc5912::SECP_384_R_1 => p384::ecdsa::VerifyingKey::from_sec1_bytes(point)
                        .map(Self::P384)
                        .map_err(|_| invalid("P-384")),
                    other => Err(CryptoFailure::Unsupported(format!(
                        "elliptic curve {other}"
                    ))),
                }
            }
            rfc5912::RSA_ENCRYPTION => RsaPublicKey::try_from(spki.owned_to_ref())
                .map(Self::Rsa)
                .map_err(|_| invalid("RSA")),
            other => Err(CryptoFailure::Unsupported(format!("public key {other}"))),
        }
    }

    fn family(&self) -> SignatureFamily {
        match self {
            Self::P256(_) | Self::P384(_) => SignatureFamily::Ecdsa,
            Self::Rsa(_) => SignatureFamily::RsaPkcs1v15,
        }
    }

    fn verify(
        &self,
        digest: DigestAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoFailure> {
        let prehash = digest.hash(message);
        let mismatch = |_| CryptoFailure::Invalid("signature does not match".into());
        let undecodable = |_| CryptoFailure::Invalid("signature value is not valid DER".into());
        match self {
            Self::P256(key) => {
                let signature = p256::ecdsa::Signature::from_der(signature).map_err(undecodable)?;
                key.verify_prehash(&prehash, &signature).map_err(mismatch)
            }
            Self::P384(key) => {
                let signature = p384::ecdsa::Signature::from_der(signature).map_err(undecodable)?;
                key.verify_prehash(&prehash, &signature).map_err(mismatch)
            }
            Self::Rsa(key) => key
                .verify(digest.rsa_pkcs1v15(), &prehash, signature)
                .map_err(|_| CryptoFailure::Invalid("signature does not match".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;
    use std::sync::OnceLock;

    use cms::builder::{create_content_type_attribute, create_message_digest_attribute};
    use cms::content_info::CmsVersion;
    use cms::signed_data::{CertificateSet, SignedAttributes, SignerInfos};
    use der::EncodePem;
    use der::asn1::{OctetString, SetOfVec};
    use der::pem::LineEnding;
    use pkcs8::EncodePrivateKey;
    use rand::rngs::{OsRng, StdRng};
    use rand::{Rng, SeedableRng};
    use signature::hazmat::PrehashSigner;
    use signature::{SignatureEncoding, Signer};
    use time::macros::date;
    use x509_cert::builder::Profile;

    use super::*;
    use crate::crypto::test_pki::{issue, issue_leaf, spki_of, test_ca};

    const TODAY: Date = date!(2026 - 01 - 15);
    const CHIP: &str = "04A1B2C3D4E5F6";
    const SAMPLE_JSON: &str = r#"{"chip_serial":"04A1B2C3D4E5F6","university":"Uniwersytet Warszawski","surnames":["Kowalska"],"given_names":["Anna","Maria"],"album_number":"123456","edition":"A","pesel":"02070803628","expires":"2027-03-31"}"#;
    const ELS_OID_BYTES: [u8; 11] = [
        0x06, 0x09, 0x2A, 0x84, 0x68, 0x01, 0x65, 0x04, 0x01, 0x01, 0x01,
    ];

    /// One CA and signers of every supported key type, made once per test run
    /// because RSA key generation is slow.
    struct TestPki {
        ca_key: SigningKey,
        ca_cert: Certificate,
        p256_key: SigningKey,
        p256_cert: Certificate,
        p384_key: p384::ecdsa::SigningKey,
        p384_cert: Certificate,
        rsa_key: rsa::RsaPrivateKey,
        rsa_cert: Certificate,
    }

    fn pki() -> &'static TestPki {
        static PKI: OnceLock<TestPki> = OnceLock::new();
        PKI.get_or_init(|| {
            let (ca_key, ca_cert) = test_ca();
            let p256_key = SigningKey::random(&mut OsRng);
            let p256_cert = issue_leaf(
                &ca_cert,
                &ca_key,
                2,
                "P-256",
                spki_of(*p256_key.verifying_key()),
            );
            let p384_key = p384::ecdsa::SigningKey::random(&mut OsRng);
            let p384_cert = issue_leaf(
                &ca_cert,
                &ca_key,
                3,
                "P-384",
                spki_of(*p384_key.verifying_key()),
            );
            let rsa_key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
            let rsa_cert = issue_leaf(
                &ca_cert,
                &ca_key,
                4,
                "RSA",
                spki_of(rsa_key.to_public_key()),
            );
            TestPki {
                ca_key,
                ca_cert,
                p256_key,
                p256_cert,
                p384_key,
                p384_cert,
                rsa_key,
                rsa_cert,
            }
        })
    }

    fn sample_data() -> ElsData {
        serde_json::from_str(SAMPLE_JSON).unwrap()
    }

    fn options() -> VerifyOptions<'static> {
        VerifyOptions {
            card_cert: None,
            trusted: std::slice::from_ref(&pki().ca_cert),
            chip_serial: Some(CHIP.to_owned()),
            today: TODAY,
        }
    }

    fn signed_sample() -> Vec<u8> {
        let pki = pki();
        sign(
            &sample_data(),
            &pki.p256_key,
            &pki.p256_cert,
            Certificates::Embed,
            TODAY,
        )
        .unwrap()
    }

    #[test]
    fn without_an_embedded_certificate_the_signer_comes_from_trust_or_ef_cert() {
        let pki = pki();
        let bare = sign(
            &sample_data(),
            &pki.p256_key,
            &pki.p256_cert,
            Certificates::InEfCert,
            TODAY,
        )
        .unwrap();
        let embedded = signed_sample();
        assert!(
            bare.len() + 400 < embedded.len(),
            "{} vs {} bytes",
            bare.len(),
            embedded.len()
        );
        // Only the CA is trusted: the signer's certificate must come from EF.CERT.
        assert!(matches!(
            verify(&bare, &options()),
            Err(VerifyError::MissingCertificate)
        ));
        let with_ef_cert = VerifyOptions {
            card_cert: Some(pki.p256_cert.clone()),
            ..options()
        };
        assert_eq!(verify(&bare, &with_ef_cert).unwrap().data, sample_data());
        // The signer itself is trusted (a kiosk's store): no EF.CERT needed.
        let signer_trusted = VerifyOptions {
            trusted: std::slice::from_ref(&pki.p256_cert),
            ..options()
        };
        assert_eq!(verify(&bare, &signer_trusted).unwrap().data, sample_data());
    }

    fn sels_der(data: &ElsData) -> Vec<u8> {
        SelsInfo::from_els_data(data).unwrap().to_der().unwrap()
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    }

    fn digest_oid(digest: DigestAlgorithm) -> AlgorithmIdentifierOwned {
        let oid = match digest {
            DigestAlgorithm::Sha256 => rfc5912::ID_SHA_256,
            DigestAlgorithm::Sha384 => rfc5912::ID_SHA_384,
            DigestAlgorithm::Sha512 => rfc5912::ID_SHA_512,
        };
        AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        }
    }

    fn algorithm(oid: ObjectIdentifier, null_params: bool) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid,
            parameters: null_params.then(Any::null),
        }
    }

    /// Builds SignedData by hand, for what the cms builder cannot make
    /// (no signed attributes, other content types, missing pieces).
    struct HandSigned<'a> {
        content_type: ObjectIdentifier,
        content: Vec<u8>,
        digest: DigestAlgorithm,
        signature_algorithm: AlgorithmIdentifierOwned,
        sign: &'a dyn Fn(&[u8]) -> Vec<u8>,
        sid: SignerIdentifier,
        certificates: Vec<Certificate>,
        signed_attributes: bool,
    }

    impl HandSigned<'_> {
        fn build(&self) -> Vec<u8> {
            let (signed_attrs, signature) = if self.signed_attributes {
                let attributes: SignedAttributes = SetOfVec::try_from(vec![
                    create_content_type_attribute(self.content_type).unwrap(),
                    create_message_digest_attribute(&self.digest.hash(&self.content)).unwrap(),
                ])
                .unwrap();
                let signature = (self.sign)(&attributes.to_der().unwrap());
                (Some(attributes), signature)
            } else {
                (None, (self.sign)(&self.content))
            };
            let version = match self.sid {
                SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
                SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
            };
            let signer_info = SignerInfo {
                version,
                sid: self.sid.clone(),
                digest_alg: digest_oid(self.digest),
                signed_attrs,
                signature_algorithm: self.signature_algorithm.clone(),
                signature: OctetString::new(signature).unwrap(),
                unsigned_attrs: None,
            };
            let certificates = (!self.certificates.is_empty()).then(|| {
                let choices = self
                    .certificates
                    .iter()
                    .map(|cert| CertificateChoices::Certificate(cert.clone()));
                CertificateSet(SetOfVec::try_from(choices.collect::<Vec<_>>()).unwrap())
            });
            let signed_data = SignedData {
                version: CmsVersion::V3,
                digest_algorithms: SetOfVec::try_from(vec![digest_oid(self.digest)]).unwrap(),
                encap_content_info: EncapsulatedContentInfo {
                    econtent_type: self.content_type,
                    econtent: Some(Any::new(Tag::OctetString, self.content.clone()).unwrap()),
                },
                certificates,
                crls: None,
                signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).unwrap()),
            };
            ContentInfo {
                content_type: rfc5911::ID_SIGNED_DATA,
                content: Any::encode_from(&signed_data).unwrap(),
            }
            .to_der()
            .unwrap()
        }
    }

    fn issuer_and_serial(cert: &Certificate) -> SignerIdentifier {
        SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        })
    }

    fn sign_p256(message: &[u8]) -> Vec<u8> {
        let signature: DerSignature = pki().p256_key.sign(message);
        signature.to_vec()
    }

    /// A P-256 hand-signed object over `content`; tests change one thing.
    fn hand_signed_p256(content: Vec<u8>) -> HandSigned<'static> {
        HandSigned {
            content_type: ELS_CONTENT_TYPE,
            content,
            digest: DigestAlgorithm::Sha256,
            signature_algorithm: algorithm(rfc5912::ECDSA_WITH_SHA_256, false),
            sign: &sign_p256,
            sid: issuer_and_serial(&pki().p256_cert),
            certificates: vec![pki().p256_cert.clone()],
            signed_attributes: true,
        }
    }

    fn run_openssl(args: &[&str], dir: &Path) -> std::process::Output {
        Command::new("/usr/bin/openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run /usr/bin/openssl")
    }

    // --- data and encoding -------------------------------------------------

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
    fn sign_then_verify_returns_the_same_data() {
        let verified = verify(&signed_sample(), &options()).unwrap();
        assert_eq!(verified.data, sample_data());
        assert_eq!(
            verified.signer_subject,
            pki().p256_cert.tbs_certificate.subject.to_string()
        );
    }

    #[test]
    fn sels_info_uses_the_card_tags() {
        let der = signed_sample();
        assert!(
            find(&der, &ELS_OID_BYTES).is_some(),
            "eContentType bytes missing"
        );

        let content = sels_der(&sample_data());
        assert!(
            find(&der, &content).is_some(),
            "SELSInfo is not attached verbatim"
        );
        let sels = AnyRef::from_der(&content).unwrap();
        assert_eq!(sels.tag(), Tag::Sequence);
        let mut fields = SliceReader::new(sels.value()).unwrap();
        let fields: Vec<AnyRef<'_>> = (0..9)
            .map(|_| AnyRef::decode(&mut fields).unwrap())
            .collect();
        let tags: Vec<u8> = fields.iter().map(|field| u8::from(field.tag())).collect();
        // wersja, numerSeryjnyUkladu, nazwaUczelni, nazwiskoStudenta, imionaStudenta,
        // numerAlbumu, numerEdycji, pesel, dataWaznosci
        assert_eq!(tags, [0x02, 0x13, 0x0C, 0x30, 0x30, 0x13, 0x13, 0x13, 0x18]);
        assert_eq!(fields[0].value(), [1]);
        assert_eq!(fields[1].value(), CHIP.as_bytes());
        assert_eq!(fields[8].value(), b"20270331215959Z");
        for names in &fields[3..5] {
            let mut entries = SliceReader::new(names.value()).unwrap();
            while !entries.is_finished() {
                assert_eq!(AnyRef::decode(&mut entries).unwrap().tag(), Tag::Utf8String);
            }
        }
    }

    #[test]
    fn signed_output_has_the_promised_cms_shape() {
        let der = signed_sample();
        let content_info = ContentInfo::from_der(&der).unwrap();
        let signed_data: SignedData = content_info.content.decode_as().unwrap();
        let certs = signed_data.certificates.as_ref().unwrap();
        assert!(
            certs
                .0
                .iter()
                .any(|c| matches!(c, CertificateChoices::Certificate(c) if *c == pki().p256_cert))
        );
        let signer = signed_data.signer_infos.0.get(0).unwrap();
        assert_eq!(signer.sid, issuer_and_serial(&pki().p256_cert));
        assert_eq!(signer.digest_alg.oid, rfc5912::ID_SHA_256);
        assert_eq!(signer.signature_algorithm.oid, rfc5912::ECDSA_WITH_SHA_256);
        let attribute_oids: Vec<_> = signer
            .signed_attrs
            .as_ref()
            .unwrap()
            .iter()
            .map(|a| a.oid)
            .collect();
        for oid in [
            rfc5911::ID_CONTENT_TYPE,
            rfc5911::ID_MESSAGE_DIGEST,
            rfc5911::ID_SIGNING_TIME,
        ] {
            assert!(
                attribute_oids.contains(&oid),
                "missing signed attribute {oid}"
            );
        }
    }

    #[test]
    fn sign_refuses_a_key_that_does_not_match_the_certificate() {
        let other_key = SigningKey::random(&mut OsRng);
        let err = sign(
            &sample_data(),
            &other_key,
            &pki().p256_cert,
            Certificates::Embed,
            TODAY,
        )
        .unwrap_err();
        assert!(
            matches!(err, SignError::KeyDoesNotMatchCertificate(_)),
            "{err:?}"
        );
    }

    #[test]
    fn sign_refuses_invalid_data() {
        let mut data = sample_data();
        data.pesel = "02070803629".into();
        let err = sign(
            &data,
            &pki().p256_key,
            &pki().p256_cert,
            Certificates::Embed,
            TODAY,
        )
        .unwrap_err();
        assert!(
            matches!(err, SignError::Invalid(ValidationError::Pesel(_))),
            "{err:?}"
        );
    }

    // --- tampering -----------------------------------------------------------

    #[test]
    fn every_single_byte_change_in_content_or_signature_fails() {
        let der = signed_sample();
        let signed_data: SignedData = ContentInfo::from_der(&der)
            .unwrap()
            .content
            .decode_as()
            .unwrap();
        let content = signed_data
            .encap_content_info
            .econtent
            .as_ref()
            .unwrap()
            .value()
            .to_vec();
        let signature = signed_data
            .signer_infos
            .0
            .get(0)
            .unwrap()
            .signature
            .as_bytes()
            .to_vec();
        let content_at = find(&der, &content).unwrap();
        let signature_at = find(&der, &signature).unwrap();
        let positions = (content_at..content_at + content.len())
            .chain(signature_at..signature_at + signature.len());

        let opts = options();
        let mut checked = 0;
        for position in positions {
            for mask in [0x01, 0x80, 0xFF] {
                let mut tampered = der.clone();
                tampered[position] ^= mask;
                match verify(&tampered, &opts) {
                    Err(VerifyError::Forged(_) | VerifyError::Malformed(_)) => checked += 1,
                    other => panic!("byte {position} ^ {mask:#04x} gave {other:?}"),
                }
            }
        }
        assert_eq!(checked, 3 * (content.len() + signature.len()));
    }

    #[test]
    fn random_input_and_mutations_never_panic() {
        let mut rng = StdRng::seed_from_u64(0x454C_5321);
        let opts = options();
        let valid = signed_sample();

        for _ in 0..10_000 {
            let length = rng.gen_range(0..1200);
            let mut input: Vec<u8> = (0..length).map(|_| rng.r#gen()).collect();
            if rng.gen_bool(0.5) && !input.is_empty() {
                // Get past the first tag check more often.
                input[0] = 0x30;
            }
            let _ = verify(&input, &opts);
        }

        for _ in 0..10_000 {
            let mut input = valid.clone();
            let position = rng.gen_range(0..input.len());
            input[position] = input[position].wrapping_add(rng.gen_range(1..=255));
            if rng.gen_bool(0.1) {
                input.truncate(rng.gen_range(0..input.len()));
            }
            let _ = verify(&input, &opts);
        }
    }

    // --- interoperability with OpenSSL ---------------------------------------

    #[test]
    fn openssl_accepts_what_sign_writes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("els.der"), signed_sample()).unwrap();
        std::fs::write(
            dir.path().join("ca.pem"),
            pki().ca_cert.to_pem(LineEnding::LF).unwrap(),
        )
        .unwrap();

        let output = run_openssl(
            &[
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-in",
                "els.der",
                "-CAfile",
                "ca.pem",
                "-purpose",
                "any",
                "-out",
                "content.der",
            ],
            dir.path(),
        );
        assert!(
            output.status.success(),
            "openssl cms -verify failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let content = std::fs::read(dir.path().join("content.der")).unwrap();
        assert_eq!(content, sels_der(&sample_data()));
    }

    #[test]
    fn verifies_what_openssl_signs_with_rsa_and_p384() {
        let pki = pki();
        let dir = tempfile::tempdir().unwrap();
        let write =
            |name: &str, contents: &[u8]| std::fs::write(dir.path().join(name), contents).unwrap();
        write("content.der", &sels_der(&sample_data()));
        write(
            "rsa.pem",
            pki.rsa_cert.to_pem(LineEnding::LF).unwrap().as_bytes(),
        );
        write(
            "rsa.key",
            pki.rsa_key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
        );
        write(
            "p384.pem",
            pki.p384_cert.to_pem(LineEnding::LF).unwrap().as_bytes(),
        );
        write(
            "p384.key",
            pki.p384_key
                .to_pkcs8_pem(LineEnding::LF)
                .unwrap()
                .as_bytes(),
        );

        for signer in ["rsa", "p384"] {
            for (digest, no_attributes) in [("sha256", false), ("sha256", true), ("sha384", false)]
            {
                let cert = format!("{signer}.pem");
                let key = format!("{signer}.key");
                let mut args = vec![
                    "cms",
                    "-sign",
                    "-binary",
                    "-nodetach",
                    "-outform",
                    "DER",
                    "-econtent_type",
                    "1.2.616.1.101.4.1.1.1",
                    "-md",
                    digest,
                    "-in",
                    "content.der",
                    "-signer",
                    &cert,
                    "-inkey",
                    &key,
                    "-out",
                    "els.der",
                ];
                if no_attributes {
                    args.push("-noattr");
                }
                let output = run_openssl(&args, dir.path());
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );

                let der = std::fs::read(dir.path().join("els.der")).unwrap();
                let verified = verify(&der, &options())
                    .unwrap_or_else(|e| panic!("{signer} {digest} noattr={no_attributes}: {e}"));
                assert_eq!(verified.data, sample_data());
            }
        }
    }

    // --- other signers -------------------------------------------------------

    /// Hand-signs the sample with and without signed attributes, checks both
    /// verify, and that swapping in other content is caught.
    fn assert_verifies_with_and_without_attributes(
        label: &str,
        sign: &dyn Fn(&[u8]) -> Vec<u8>,
        cert: &Certificate,
        digest: DigestAlgorithm,
        signature_algorithm: AlgorithmIdentifierOwned,
    ) {
        let original = sels_der(&sample_data());
        let mut other = sample_data();
        other.album_number = "654321".into();
        let other = sels_der(&other);
        assert_eq!(original.len(), other.len());

        for signed_attributes in [true, false] {
            let label = format!("{label}, signed attributes: {signed_attributes}");
            let der = HandSigned {
                digest,
                signature_algorithm: signature_algorithm.clone(),
                sign,
                sid: issuer_and_serial(cert),
                certificates: vec![cert.clone()],
                signed_attributes,
                ..hand_signed_p256(original.clone())
            }
            .build();
            let verified = verify(&der, &options()).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(verified.data, sample_data(), "{label}");

            let mut swapped = der.clone();
            let at = find(&der, &original).unwrap();
            swapped[at..at + other.len()].copy_from_slice(&other);
            let err = verify(&swapped, &options()).unwrap_err();
            assert_eq!(err.kind(), "forged", "{label}: {err}");
        }
    }

    #[test]
    fn verifies_rsa_and_p384_with_and_without_signed_attributes() {
        let pki = pki();
        let rsa_signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(pki.rsa_key.clone());
        let sign_rsa = |message: &[u8]| rsa_signer.sign(message).to_vec();
        let sign_p384 = |message: &[u8]| {
            let signature: p384::ecdsa::DerSignature = pki.p384_key.sign(message);
            signature.to_vec()
        };
        let sign_p384_sha256 = |message: &[u8]| {
            let signature: p384::ecdsa::Signature =
                pki.p384_key.sign_prehash(&Sha256::digest(message)).unwrap();
            signature.to_der().to_vec()
        };
        use DigestAlgorithm::{Sha256 as SHA256, Sha384 as SHA384};

        let sha256_rsa = algorithm(rfc5912::SHA_256_WITH_RSA_ENCRYPTION, true);
        assert_verifies_with_and_without_attributes(
            "RSA",
            &sign_rsa,
            &pki.rsa_cert,
            SHA256,
            sha256_rsa,
        );
        // OpenSSL and others name only the key algorithm in SignerInfo.
        let bare_rsa = algorithm(rfc5912::RSA_ENCRYPTION, true);
        assert_verifies_with_and_without_attributes(
            "bare RSA",
            &sign_rsa,
            &pki.rsa_cert,
            SHA256,
            bare_rsa,
        );
        let ecdsa_sha384 = algorithm(rfc5912::ECDSA_WITH_SHA_384, false);
        assert_verifies_with_and_without_attributes(
            "P-384",
            &sign_p384,
            &pki.p384_cert,
            SHA384,
            ecdsa_sha384,
        );
        let ecdsa_sha256 = algorithm(rfc5912::ECDSA_WITH_SHA_256, false);
        assert_verifies_with_and_without_attributes(
            "P-384/SHA-256",
            &sign_p384_sha256,
            &pki.p384_cert,
            SHA256,
            ecdsa_sha256,
        );
        let bare_ec = algorithm(rfc5912::ID_EC_PUBLIC_KEY, false);
        assert_verifies_with_and_without_attributes(
            "bare EC",
            &sign_p256,
            &pki.p256_cert,
            SHA256,
            bare_ec,
        );
    }

    #[test]
    fn verifies_rsa_signed_with_the_cms_builder() {
        let pki = pki();
        let rsa_signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(pki.rsa_key.clone());
        let encapsulated = EncapsulatedContentInfo {
            econtent_type: ELS_CONTENT_TYPE,
            econtent: Some(Any::new(Tag::OctetString, sels_der(&sample_data())).unwrap()),
        };
        let sha256 = digest_oid(DigestAlgorithm::Sha256);
        let signer_info = SignerInfoBuilder::new(
            &rsa_signer,
            issuer_and_serial(&pki.rsa_cert),
            sha256.clone(),
            &encapsulated,
            None,
        )
        .unwrap();
        let der = SignedDataBuilder::new(&encapsulated)
            .add_digest_algorithm(sha256)
            .unwrap()
            .add_certificate(CertificateChoices::Certificate(pki.rsa_cert.clone()))
            .unwrap()
            .add_signer_info::<_, rsa::pkcs1v15::Signature>(signer_info)
            .unwrap()
            .build()
            .unwrap()
            .to_der()
            .unwrap();
        assert_eq!(verify(&der, &options()).unwrap().data, sample_data());
    }

    // --- where the signer certificate comes from -----------------------------

    #[test]
    fn uses_card_certificate_when_signed_data_has_none() {
        let der = HandSigned {
            certificates: vec![],
            ..hand_signed_p256(sels_der(&sample_data()))
        }
        .build();
        let err = verify(&der, &options()).unwrap_err();
        assert_eq!(err.kind(), "malformed", "{err}");

        let opts = VerifyOptions {
            card_cert: Some(pki().p256_cert.clone()),
            ..options()
        };
        assert_eq!(verify(&der, &opts).unwrap().data, sample_data());
    }

    #[test]
    fn finds_signer_by_subject_key_identifier() {
        let cert = &pki().p256_cert;
        let (_, ski) = cert
            .tbs_certificate
            .get::<SubjectKeyIdentifier>()
            .unwrap()
            .unwrap();
        let der = HandSigned {
            sid: SignerIdentifier::SubjectKeyIdentifier(ski),
            // Another certificate first, so picking the wrong one would fail.
            certificates: vec![pki().p384_cert.clone(), cert.clone()],
            ..hand_signed_p256(sels_der(&sample_data()))
        }
        .build();
        assert_eq!(verify(&der, &options()).unwrap().data, sample_data());
    }

    #[test]
    fn card_certificate_of_another_key_is_forged() {
        let opts = VerifyOptions {
            card_cert: Some(pki().p384_cert.clone()),
            ..options()
        };
        // The sid still names the embedded P-256 certificate, so that is used.
        assert!(verify(&signed_sample(), &opts).is_ok());

        let der = HandSigned {
            certificates: vec![],
            ..hand_signed_p256(sels_der(&sample_data()))
        }
        .build();
        let err = verify(&der, &opts).unwrap_err();
        assert_eq!(err.kind(), "forged", "{err}");
    }

    // --- lenient decoding ----------------------------------------------------

    #[test]
    fn ignores_trailing_zero_padding_but_not_other_trailing_bytes() {
        let mut padded = signed_sample();
        padded.resize(padded.len() + 300, 0);
        assert!(verify(&padded, &options()).is_ok());

        padded.push(0x01);
        let err = verify(&padded, &options()).unwrap_err();
        assert_eq!(err.kind(), "malformed", "{err}");
    }

    #[test]
    fn accepts_any_string_type_and_time_of_day() {
        let data = sample_data();
        let content = SelsInfo {
            wersja: 1,
            numer_seryjny_ukladu: CardString {
                tag: Tag::Ia5String,
                text: data.chip_serial.clone(),
            },
            nazwa_uczelni: CardString::printable("Uniwersytet Warszawski").unwrap(),
            nazwisko_studenta: vec![CardString {
                tag: Tag::Ia5String,
                text: "Kowalska".into(),
            }],
            imiona_studenta: vec![
                CardString::utf8("Anna"),
                CardString::printable("Maria").unwrap(),
            ],
            numer_albumu: CardString::utf8(&data.album_number),
            numer_edycji: CardString {
                tag: Tag::Ia5String,
                text: data.edition.clone(),
            },
            pesel: CardString::utf8(&data.pesel),
            data_waznosci: ExpiryDate(data.expires),
        }
        .to_der()
        .unwrap();
        let der = hand_signed_p256(content).build();
        assert_eq!(verify(&der, &options()).unwrap().data, data);

        // A card writing midnight with fractional seconds still decodes to the date.
        let ours = sels_der(&data);
        let fields = AnyRef::from_der(&ours).unwrap().value();
        let time_field_len = 2 + b"20270331215959Z".len();
        let mut fields = fields[..fields.len() - time_field_len].to_vec();
        let midnight = Any::new(Tag::GeneralizedTime, b"20270331000000.000Z".to_vec()).unwrap();
        fields.extend(midnight.to_der().unwrap());
        let content = Any::new(Tag::Sequence, fields).unwrap().to_der().unwrap();
        let der = hand_signed_p256(content).build();
        assert_eq!(verify(&der, &options()).unwrap().data.expires, data.expires);
    }

    // --- each failure has its own kind ---------------------------------------

    #[test]
    fn wrong_chip_is_reported_with_both_serials() {
        let opts = VerifyOptions {
            chip_serial: Some("04FFFFFFFFFFFF".into()),
            ..options()
        };
        let err = verify(&signed_sample(), &opts).unwrap_err();
        assert_eq!(err.kind(), "wrong_chip");
        assert_eq!(
            err,
            VerifyError::WrongChip {
                card: "04FFFFFFFFFFFF".into(),
                data: CHIP.into()
            }
        );

        let lower_case = VerifyOptions {
            chip_serial: Some(CHIP.to_lowercase()),
            ..options()
        };
        assert!(verify(&signed_sample(), &lower_case).is_ok());
        let unbound = VerifyOptions {
            chip_serial: None,
            ..options()
        };
        assert!(verify(&signed_sample(), &unbound).is_ok());
    }

    #[test]
    fn expired_after_the_expiry_date_but_not_on_it() {
        let expires = sample_data().expires;
        let on_the_day = VerifyOptions {
            today: expires,
            ..options()
        };
        assert!(verify(&signed_sample(), &on_the_day).is_ok());

        let day_after = VerifyOptions {
            today: expires.next_day().unwrap(),
            ..options()
        };
        let err = verify(&signed_sample(), &day_after).unwrap_err();
        assert_eq!(err, VerifyError::Expired(expires));
        assert_eq!(err.kind(), "expired");
    }

    #[test]
    fn untrusted_issuer_when_no_trusted_certificate_vouches_for_the_signer() {
        let expect_untrusted = |trusted: &[Certificate]| {
            let opts = VerifyOptions {
                trusted,
                ..options()
            };
            let err = verify(&signed_sample(), &opts).unwrap_err();
            assert_eq!(err.kind(), "untrusted_issuer", "{err}");
            assert_eq!(
                err,
                VerifyError::UntrustedIssuer(pki().p256_cert.tbs_certificate.subject.to_string())
            );
        };
        expect_untrusted(&[]);

        // A different CA.
        let other_ca_key = SigningKey::random(&mut OsRng);
        let other_ca = issue(
            Profile::Root,
            9,
            "CN=Other CA,C=PL",
            spki_of(*other_ca_key.verifying_key()),
            &other_ca_key,
        );
        expect_untrusted(std::slice::from_ref(&other_ca));

        // Same name as the real CA, different key: the name alone is not enough.
        let impostor = issue(
            Profile::Root,
            1,
            "CN=ELS Test CA,O=Cardstation Test,C=PL",
            spki_of(*other_ca_key.verifying_key()),
            &other_ca_key,
        );
        expect_untrusted(std::slice::from_ref(&impostor));

        // A trusted end-entity certificate cannot issue others.
        let leaf_key = SigningKey::random(&mut OsRng);
        let trusted_leaf = issue_leaf(
            &pki().ca_cert,
            &pki().ca_key,
            10,
            "leaf",
            spki_of(*leaf_key.verifying_key()),
        );
        let by_leaf = issue_leaf(
            &trusted_leaf,
            &leaf_key,
            11,
            "by leaf",
            spki_of(*pki().p256_key.verifying_key()),
        );
        let der = HandSigned {
            sid: issuer_and_serial(&by_leaf),
            certificates: vec![by_leaf.clone()],
            ..hand_signed_p256(sels_der(&sample_data()))
        }
        .build();
        let opts = VerifyOptions {
            trusted: std::slice::from_ref(&trusted_leaf),
            ..options()
        };
        assert_eq!(verify(&der, &opts).unwrap_err().kind(), "untrusted_issuer");
    }

    #[test]
    fn signer_certificate_itself_may_be_the_trust_anchor() {
        let opts = VerifyOptions {
            trusted: std::slice::from_ref(&pki().p256_cert),
            ..options()
        };
        assert!(verify(&signed_sample(), &opts).is_ok());
    }

    #[test]
    fn malformed_inputs_are_named_malformed() {
        let expect_malformed = |der: &[u8], reason_part: &str| {
            let err = verify(der, &options()).unwrap_err();
            assert_eq!(err.kind(), "malformed", "{err}");
            assert!(err.to_string().contains(reason_part), "{err}");
        };
        expect_malformed(&[], "ContentInfo");
        expect_malformed(&[0u8; 944], "ContentInfo");
        expect_malformed(b"\x30\x03\x02\x01\x01", "ContentInfo");

        let not_signed_data = ContentInfo {
            content_type: rfc5911::ID_DATA,
            content: Any::new(Tag::OctetString, b"x".to_vec()).unwrap(),
        }
        .to_der()
        .unwrap();
        expect_malformed(&not_signed_data, "not SignedData");

        let other_type = HandSigned {
            content_type: rfc5911::ID_DATA,
            ..hand_signed_p256(sels_der(&sample_data()))
        }
        .build();
        expect_malformed(&other_type, "eContentType");

        let garbage_content = hand_signed_p256(b"\x30\x03\x02\x01\x01".to_vec()).build();
        expect_malformed(&garbage_content, "SELSInfo");

        let mut version_two = SelsInfo::from_els_data(&sample_data()).unwrap();
        version_two.wersja = 2;
        let version_two = hand_signed_p256(version_two.to_der().unwrap()).build();
        expect_malformed(&version_two, "version 2");

        let signed_data = |signer_infos: Vec<SignerInfo>| {
            let signed_data = SignedData {
                version: CmsVersion::V3,
                digest_algorithms: SetOfVec::new(),
                encap_content_info: EncapsulatedContentInfo {
                    econtent_type: ELS_CONTENT_TYPE,
                    econtent: Some(Any::new(Tag::OctetString, sels_der(&sample_data())).unwrap()),
                },
                certificates: None,
                crls: None,
                signer_infos: SignerInfos(SetOfVec::try_from(signer_infos).unwrap()),
            };
            ContentInfo {
                content_type: rfc5911::ID_SIGNED_DATA,
                content: Any::encode_from(&signed_data).unwrap(),
            }
            .to_der()
            .unwrap()
        };
        expect_malformed(&signed_data(vec![]), "no signer");
    }

    #[test]
    fn unsupported_algorithms_are_not_called_forged() {
        let sha1 = AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.3.14.3.2.26"),
            parameters: None,
        };
        let original = signed_sample();
        let mut signed_data: SignedData = ContentInfo::from_der(&original)
            .unwrap()
            .content
            .decode_as()
            .unwrap();
        let mut signer = signed_data.signer_infos.0.get(0).unwrap().clone();
        signer.digest_alg = sha1;
        signed_data.signer_infos = SignerInfos(SetOfVec::try_from(vec![signer]).unwrap());
        let der = ContentInfo {
            content_type: rfc5911::ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).unwrap(),
        }
        .to_der()
        .unwrap();
        let err = verify(&der, &options()).unwrap_err();
        assert_eq!(err.kind(), "unsupported_algorithm", "{err}");
    }

    // --- validation ------------------------------------------------------------

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
