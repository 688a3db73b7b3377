//! ELS write and read+verify: APDU count, bytes and time, in-process and through pcscd + vpcd.
//! Goals: a write of cert + data (~1.2 KB) in at most 14 APDUs with 255-byte chunks;
//! read+verify in at most 6 APDUs when the card gives 255+ byte reads.
//!
//!     cargo bench --bench els

use std::time::{Duration, Instant};

use cardstation::card::Transport;
use cardstation::card::els::{self, CardKey};
use cardstation::card::transport::Counting;
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::crypto::els_sig::{Certificates, ElsData};
use cardstation::sim::{self, ElsCard, ElsCardState, Faults, SimTransport, vpcd};
use cardstation::station::issue;
use common::signer;
use der::Encode;
use zeroize::Zeroizing;

mod common;

const UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
const ROUNDS: usize = 200;

fn main() {
    let signer = signer();
    let trusted = [signer.certificate.clone()];
    let key = CardKey::Master {
        algorithm: KeyAlgorithm::Aes128,
        master: Zeroizing::new(vec![0x42; 16]),
        system_id: b"ELS".to_vec(),
    };
    let today = time::OffsetDateTime::now_utc().date();
    let data = ElsData {
        chip_serial: hex::encode_upper(UID),
        university: "Uniwersytet Łódzki".into(),
        surnames: vec!["Żółkiewska-Brzęczyszczykiewicz".into()],
        given_names: vec!["Anna".into(), "Maria".into()],
        album_number: "123456".into(),
        edition: "A".into(),
        pesel: "02070803628".into(),
        expires: today.replace_year(today.year() + 1).unwrap(),
    };
    let structure = signer.sign(&data, Certificates::InEfCert, today).unwrap();
    let cert = signer.certificate.to_der().unwrap();
    println!(
        "EF.ELS {} bytes + EF.CERT {} bytes = {} bytes to write",
        structure.len(),
        cert.len(),
        structure.len() + cert.len()
    );
    let write_key = key.for_card(&UID).unwrap();
    let card = sim::shared(ElsCard::new(ElsCardState::personalised(&UID, &write_key)));

    let write =
        |t: &mut dyn Transport| els::write(t, Some(&write_key), &structure, Some(&cert)).unwrap();
    let read_verify = |t: &mut dyn Transport| {
        assert!(
            issue::read_and_verify(t, &trusted, today)
                .unwrap()
                .verdict
                .is_ok()
        )
    };

    let mut in_process = SimTransport::insert(card.clone(), Faults::default());
    measure("in-process     write", &mut in_process, write);
    measure("in-process     read+verify", &mut in_process, read_verify);

    let port = 35964;
    let _lock = vpcd::lock_reader(port).unwrap();
    let (_in_reader, mut connection) = common::through_pcscd(card.clone(), port);
    measure("pcscd + vpcd   write", &mut connection, write);
    measure("pcscd + vpcd   read+verify", &mut connection, read_verify);
}

fn measure(what: &str, transport: &mut dyn Transport, work: impl Fn(&mut dyn Transport)) {
    let mut counted = Counting::new(transport);
    work(&mut counted);
    let (apdus, sent, received) = (counted.apdus, counted.bytes_sent, counted.bytes_received);
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            work(&mut counted.inner);
            start.elapsed()
        })
        .collect();
    samples.sort();
    println!(
        "{what:<28} {apdus:>2} APDUs, {sent:>5} B sent, {received:>5} B received; p50 {:>9.1?} p99 {:>9.1?} (n={ROUNDS})",
        samples[ROUNDS / 2],
        samples[ROUNDS * 99 / 100]
    );
}
