//! Test certificates made at run time: a CA, leaf signers, and a ready ELS signer.

use std::str::FromStr;
use std::time::Duration;

use p256::ecdsa::{DerSignature, SigningKey};
use rand::rngs::OsRng;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

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
