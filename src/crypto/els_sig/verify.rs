//! Verification of a card's EF.ELS: structure, signature, trust in the signer, chip binding
//! and expiry.

use std::borrow::Cow;
use std::time::SystemTime;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5911, rfc5912};
use der::asn1::BitString;
use der::referenced::OwnedToRef;
use der::{AnyRef, Decode, Encode, Reader, SliceReader, Tag, Tagged};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256, Sha384, Sha512};
use signature::hazmat::PrehashVerifier;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use thiserror::Error;
use time::{Date, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::time::Time;

use super::der::{SELS_INFO_VERSION, SelsInfo};
use super::path::{self, CLOCK_SKEW, Moments, PathInputs, Revoked, show_moment};
use super::{ELS_CONTENT_TYPE, ElsData};

/// What to check a card's EF.ELS against.
#[derive(Debug, Clone)]
pub struct VerifyOptions<'a> {
    /// The certificate read from EF.CERT, if any; otherwise the signer
    /// certificate is taken from `SignedData.certificates`.
    pub card_cert: Option<Certificate>,
    /// Trust anchors: the signer certificate must be one of these or chain to one of them
    /// through the structure's certificates (see `path.rs`). Borrowed: a kiosk checks every
    /// tap against the same list.
    pub trusted: &'a [Certificate],
    /// Certificates revoked by `trust revoke` or a loaded CRL: refused anywhere in the path.
    pub revoked: &'a [Revoked],
    /// The chip serial read from the card; `None` skips the binding check.
    pub chip_serial: Option<String>,
    /// The day the card's own expiry date (`dataWaznosci`) is compared with.
    pub today: Date,
    /// The moment the certificates are checked at (with the structure's signing time).
    pub now: OffsetDateTime,
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
    #[error(
        "certificate {subject} was not valid {when}: it is valid from {not_before} to {not_after}"
    )]
    CertificateNotValid {
        subject: String,
        when: String,
        not_before: String,
        not_after: String,
    },
    #[error("certificate {subject} (serial {serial}) is revoked")]
    Revoked { subject: String, serial: String },
    #[error("the key of certificate {subject} is not accepted: {reason}")]
    WeakKey { subject: String, reason: String },
    #[error("certificate {subject} may not have signed this: {reason}")]
    KeyUsage { subject: String, reason: String },
    #[error("certificate {subject} issued a certificate but is not a CA: {reason}")]
    NotACa { subject: String, reason: String },
    #[error(
        "certificate {subject} allows {allowed} intermediate CA certificate(s) below it, the path has {found}"
    )]
    PathLength {
        subject: String,
        allowed: u8,
        found: usize,
    },
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
            Self::CertificateNotValid { .. } => "certificate_not_valid",
            Self::Revoked { .. } => "revoked",
            Self::WeakKey { .. } => "weak_key",
            Self::KeyUsage { .. } => "key_usage",
            Self::NotACa { .. } => "not_a_ca",
            Self::PathLength { .. } => "path_length",
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
    let now = SystemTime::from(opts.now);
    let signed_at = signing_time(&parsed.signer)?;
    if let Some(signed_at) = signed_at
        && signed_at > now + CLOCK_SKEW
    {
        return Err(VerifyError::Forged(format!(
            "the structure claims to be signed at {}, later than now ({})",
            show_moment(signed_at),
            show_moment(now)
        )));
    }
    let intermediates = opts
        .card_cert
        .iter()
        .chain(embedded_certificates(&parsed.signed_data))
        .collect();
    path::check_path(
        signer_cert,
        &PathInputs {
            trusted: opts.trusted,
            intermediates,
            revoked: opts.revoked,
            at: Moments { now, signed_at },
        },
    )?;
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
    card_cert
        .into_iter()
        .chain(embedded_certificates(&parsed.signed_data))
        .chain(trusted)
        .find(|cert| identifies(&parsed.signer.sid, cert))
        // EF.CERT is the card's own statement of the signer; if its sid does
        // not match, the signature check below is what rejects it.
        .or(card_cert)
        .ok_or(VerifyError::MissingCertificate)
}

fn embedded_certificates(signed_data: &SignedData) -> impl Iterator<Item = &Certificate> {
    signed_data
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            CertificateChoices::Certificate(cert) => Some(cert),
            CertificateChoices::Other(_) => None,
        })
}

/// The signing-time signed attribute (RFC 5652 §11.3), if the structure has one.
fn signing_time(signer: &SignerInfo) -> Result<Option<SystemTime>, VerifyError> {
    let Some(attributes) = &signer.signed_attrs else {
        return Ok(None);
    };
    let mut matching = attributes
        .iter()
        .filter(|attr| attr.oid == rfc5911::ID_SIGNING_TIME);
    let Some(attribute) = matching.next() else {
        return Ok(None);
    };
    let value = match (matching.next(), attribute.values.len()) {
        (None, 1) => attribute.values.get(0),
        _ => None,
    };
    value
        .and_then(|value| Time::from_der(&value.to_der().ok()?).ok())
        .map(|time| Some(time.to_system_time()))
        .ok_or_else(|| malformed("the signing-time attribute is not a single time"))
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
            CryptoFailure::Refused(reason) => VerifyError::WeakKey {
                subject: signer_cert.tbs_certificate.subject.to_string(),
                reason,
            },
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
            CryptoFailure::Invalid(why) | CryptoFailure::Refused(why) => VerifyError::Forged(why),
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

/// Whether `issuer`'s key made `cert`'s signature over `tbs_der` (its TBSCertificate).
pub(super) fn verify_certificate_signature(
    cert: &Certificate,
    tbs_der: &[u8],
    issuer: &Certificate,
) -> Result<(), CryptoFailure> {
    if cert.signature_algorithm != cert.tbs_certificate.signature {
        return Err(CryptoFailure::Invalid(
            "inner and outer signature algorithms differ".into(),
        ));
    }
    verify_signed(
        &cert.signature_algorithm,
        tbs_der,
        &cert.signature,
        &issuer.tbs_certificate.subject_public_key_info,
    )
}

/// An X.509 signature (certificate or CRL) over `tbs_der` by the key in `spki`.
pub(super) fn verify_signed(
    algorithm: &AlgorithmIdentifierOwned,
    tbs_der: &[u8],
    signature: &BitString,
    spki: &SubjectPublicKeyInfoOwned,
) -> Result<(), CryptoFailure> {
    let oid = algorithm.oid;
    let (family, digest) = match signature_algorithm(&oid) {
        Some((family, Some(digest))) => (family, digest),
        _ => return Err(CryptoFailure::Unsupported(format!("signature {oid}"))),
    };
    let key = PublicKey::from_spki(spki)?;
    if key.family() != family {
        return Err(CryptoFailure::Invalid(
            "signature algorithm does not fit the issuer key".into(),
        ));
    }
    let signature = signature
        .as_bytes()
        .ok_or_else(|| CryptoFailure::Invalid("signature has unused bits".into()))?;
    key.verify(digest, tbs_der, signature)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DigestAlgorithm {
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

    pub(super) fn hash(self, data: &[u8]) -> Vec<u8> {
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

/// Why a key or signature could not be used: we do not implement it, it is wrong, or it is
/// too weak to be trusted (RSA under 2048 bits, curves other than P-256 and P-384).
pub(super) enum CryptoFailure {
    Unsupported(String),
    Invalid(String),
    Refused(String),
}

/// RSA moduli shorter than this are refused (NIST SP 800-131A: 2048 since 2014).
const MIN_RSA_BITS: usize = 2048;

pub(super) enum PublicKey {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    Rsa(RsaPublicKey),
}

impl PublicKey {
    pub(super) fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, CryptoFailure> {
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
                    other => Err(CryptoFailure::Refused(format!(
                        "elliptic curve {} (only P-256 and P-384 are accepted)",
                        const_oid::db::DB
                            .by_oid(&other)
                            .unwrap_or(&other.to_string())
                    ))),
                }
            }
            rfc5912::RSA_ENCRYPTION => {
                let key =
                    RsaPublicKey::try_from(spki.owned_to_ref()).map_err(|_| invalid("RSA"))?;
                let bits = key.n().bits();
                if bits < MIN_RSA_BITS {
                    return Err(CryptoFailure::Refused(format!(
                        "RSA key of {bits} bits (at least {MIN_RSA_BITS} are required)"
                    )));
                }
                Ok(Self::Rsa(key))
            }
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
    use cms::builder::{SignedDataBuilder, SignerInfoBuilder};
    use cms::content_info::CmsVersion;
    use cms::signed_data::{EncapsulatedContentInfo, SignerInfos};
    use der::asn1::SetOfVec;
    use der::pem::LineEnding;
    use der::{Any, EncodePem};
    use p256::ecdsa::SigningKey;
    use pkcs8::EncodePrivateKey;
    use rand::rngs::{OsRng, StdRng};
    use rand::{Rng, SeedableRng};
    use signature::hazmat::PrehashSigner;
    use signature::{SignatureEncoding, Signer};
    use spki::AlgorithmIdentifierOwned;
    use x509_cert::builder::Profile;

    use super::*;
    use crate::crypto::els_sig::test_fixtures::{
        CHIP, HandSigned, algorithm, digest_oid, find, hand_signed_p256, issuer_and_serial,
        options, pki, run_openssl, sample_data, sels_der, sign_p256, signed_sample,
    };
    use crate::crypto::test_pki::{issue, issue_leaf, spki_of};

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
        // The path exists, but a certificate that says cA = false issued in it.
        assert_eq!(verify(&der, &opts).unwrap_err().kind(), "not_a_ca");
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
}
