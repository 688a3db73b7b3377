//! What the benchmark binaries share: a self-signed ELS signer made at run time.

use std::str::FromStr;
use std::time::Duration;

use cardstation::station::issue::Signer;
use p256::ecdsa::SigningKey;
use rand::rngs::OsRng;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};

pub fn signer() -> Signer {
    let key = SigningKey::random(&mut OsRng);
    let spki = spki::SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap();
    let certificate = CertificateBuilder::new(
        Profile::Root,
        x509_cert::serial_number::SerialNumber::from(7u32),
        x509_cert::time::Validity::from_now(Duration::from_secs(3 * 365 * 86_400)).unwrap(),
        x509_cert::name::Name::from_str(
            "CN=osoba uprawniona do wystawiania legitymacji studenckiej,O=Uniwersytet Łódzki,C=PL",
        )
        .unwrap(),
        spki,
        &key,
    )
    .unwrap()
    .build::<p256::ecdsa::DerSignature>()
    .unwrap();
    Signer { key, certificate }
}
