//! What the benchmark binaries share: a self-signed ELS signer made at run time, and a
//! simulated card in a vpcd reader connected through pcscd.

#![allow(dead_code)] // Each bench binary uses a different part of this module.

use std::str::FromStr;
use std::time::Duration;

use cardstation::card::pcsc::{self, PcscTransport, Sharing};
use cardstation::sim::{Faults, SharedCard, vpcd};
use cardstation::station::desfire::IssueKeys;
use cardstation::station::issue::Signer;
use p256::ecdsa::SigningKey;
use rand::rngs::OsRng;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};

/// A desk's DESFire keys made from `byte`: application master, another read-key master and a
/// fresh record signer.
pub fn desfire_keys(app: &cardstation::config::DesfireApp, byte: u8) -> IssueKeys {
    let len = app.key_type.key_len();
    IssueKeys::new(
        app,
        &vec![byte; len],
        &vec![byte ^ 0x5A; len],
        cardstation::card::desfire::DesfireKey::des([0; 8]),
        SigningKey::random(&mut OsRng),
    )
    .expect("key lengths")
}

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

/// `card` in the vpcd reader on `port`, connected exclusively through pcscd. The card stays in
/// the reader as long as the returned handle lives.
pub fn through_pcscd(card: SharedCard, port: u16) -> (vpcd::InsertedCard, PcscTransport) {
    let wait = Duration::from_secs(10);
    let inserted = vpcd::insert(card, port, Faults::default(), wait)
        .expect("pcscd with vsmartcard-vpcd must be running (scripts/setup.sh)");
    let reader = pcsc::wait_for_card(Some(&vpcd::reader_name(port)), wait)
        .expect("the card shows up in pcscd");
    let connection =
        PcscTransport::connect(&reader, Sharing::Exclusive).expect("connect to the card");
    (inserted, connection)
}
