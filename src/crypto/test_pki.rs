//! Test certificates made at run time: a CA, leaf signers, a ready ELS signer, and
//! certificates with exactly the validity and extensions a path-validation test needs.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use const_oid::AssociatedOid;
use der::Encode;
use der::asn1::{BitString, OctetString};
use p256::ecdsa::{DerSignature, SigningKey};
use rand::rngs::OsRng;
use signature::{SignatureEncoding, Signer};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

pub fn spki_of(key: impl spki::EncodePublicKey) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::from_key(key).unwrap()
}

pub fn issue(
    profile: Profile,
    serial: u32,
    subject: &str,
    spki: SubjectPublicKeyInfoOwned,
    issuer_key: &SigningKey,
) -> Certificate {
    let validity = Validity::from_now(Duration::from_secs(365 * 24 * 3600)).unwrap();
    CertificateBuilder::new(
        profile,
        SerialNumber::from(serial),
        validity,
        Name::from_str(subject).unwrap(),
        spki,
        issuer_key,
    )
    .unwrap()
    .build::<DerSignature>()
    .unwrap()
}

pub fn issue_leaf(
    issuer_cert: &Certificate,
    issuer_key: &SigningKey,
    serial: u32,
    label: &str,
    spki: SubjectPublicKeyInfoOwned,
) -> Certificate {
    let profile = Profile::Leaf {
        issuer: issuer_cert.tbs_certificate.subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let subject = format!(
        "CN=osoba uprawniona do wystawiania legitymacji studenckiej {label},O=Uniwersytet Testowy,C=PL"
    );
    issue(profile, serial, &subject, spki, issuer_key)
}

/// A test root CA: (its key, its certificate).
pub fn test_ca() -> (SigningKey, Certificate) {
    let ca_key = SigningKey::random(&mut OsRng);
    let subject = "CN=ELS Test CA,O=Cardstation Test,C=PL";
    let ca_cert = issue(
        Profile::Root,
        1,
        subject,
        spki_of(*ca_key.verifying_key()),
        &ca_key,
    );
    (ca_key, ca_cert)
}

/// A test CA and a P-256 ELS signer it issued: (CA certificate, signer key, signer certificate).
pub fn els_signer() -> (Certificate, SigningKey, Certificate) {
    let (ca_key, ca_cert) = test_ca();
    let signer_key = SigningKey::random(&mut OsRng);
    let signer_spki = spki_of(*signer_key.verifying_key());
    let signer_cert = issue_leaf(&ca_cert, &ca_key, 2, "P-256", signer_spki);
    (ca_cert, signer_key, signer_cert)
}

/// A certificate as a path test wants it: any validity, any extensions (none added
/// unasked), signed with ECDSA P-256 / SHA-256 by `issuer_key`.
pub struct Custom<'a> {
    pub serial: u32,
    pub subject: &'a str,
    /// `None`: self-issued (the subject names the issuer).
    pub issuer: Option<&'a Certificate>,
    pub spki: SubjectPublicKeyInfoOwned,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub extensions: Vec<Extension>,
}

impl Custom<'_> {
    pub fn sign(self, issuer_key: &SigningKey) -> Certificate {
        let subject = Name::from_str(self.subject).unwrap();
        let algorithm = AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ECDSA_WITH_SHA_256,
            parameters: None,
        };
        let tbs_certificate = TbsCertificate {
            version: Version::V3,
            serial_number: SerialNumber::from(self.serial),
            signature: algorithm.clone(),
            issuer: self.issuer.map_or_else(
                || subject.clone(),
                |issuer| issuer.tbs_certificate.subject.clone(),
            ),
            validity: Validity {
                not_before: Time::try_from(self.not_before).unwrap(),
                not_after: Time::try_from(self.not_after).unwrap(),
            },
            subject,
            subject_public_key_info: self.spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: (!self.extensions.is_empty()).then_some(self.extensions),
        };
        let signature: DerSignature = issuer_key.sign(&tbs_certificate.to_der().unwrap());
        Certificate {
            tbs_certificate,
            signature_algorithm: algorithm,
            signature: BitString::from_bytes(&signature.to_vec()).unwrap(),
        }
    }
}

/// From a day ago for a year: valid now.
pub fn valid_now() -> (SystemTime, SystemTime) {
    let now = SystemTime::now();
    (now - DAY, now + 365 * DAY)
}

pub const DAY: Duration = Duration::from_secs(24 * 3600);

pub fn basic_constraints(ca: bool, path_len_constraint: Option<u8>) -> Extension {
    extension(
        BasicConstraints::OID,
        &BasicConstraints {
            ca,
            path_len_constraint,
        },
    )
}

pub fn key_usage(usages: impl Into<der::flagset::FlagSet<KeyUsages>>) -> Extension {
    extension(KeyUsage::OID, &KeyUsage(usages.into()))
}

fn extension(oid: const_oid::ObjectIdentifier, value: &impl Encode) -> Extension {
    Extension {
        extn_id: oid,
        critical: true,
        extn_value: OctetString::new(value.to_der().unwrap()).unwrap(),
    }
}

/// The extensions of a CA that may have `path_len` intermediates below it.
pub fn ca_extensions(path_len: Option<u8>) -> Vec<Extension> {
    vec![
        basic_constraints(true, path_len),
        key_usage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
    ]
}

/// The extensions of an ELS signer.
pub fn signer_extensions() -> Vec<Extension> {
    vec![
        basic_constraints(false, None),
        key_usage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation),
    ]
}
