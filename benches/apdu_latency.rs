//! APDU round-trip latency, in-process and through pcscd + vpcd: the floor under every later
//! performance goal. Needs pcscd with vsmartcard-vpcd (scripts/setup.sh).
//!
//!     cargo bench --bench apdu_latency

use std::time::{Duration, Instant};

use cardstation::card::Transport;
use cardstation::sim::{self, ElsCard, ElsCardState, Faults, SimTransport, vpcd};

mod common;

const ROUNDS: usize = 1000;
const WARM_UP: usize = 50;
const UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
const SELECT_SELS: &[u8] = &[
    0x00, 0xA4, 0x04, 0x0C, 0x07, 0xD6, 0x16, 0x00, 0x00, 0x30, 0x01, 0x01,
];
const SELECT_EF_ELS: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x02];

fn main() {
    let card = sim::shared(ElsCard::new(ElsCardState::blank(&UID)));
    let mut in_process = SimTransport::insert(card, Faults::default());
    report(
        "in-process, FF CA (UID, 7 B)",
        &measure(&mut in_process, &[0xFF, 0xCA, 0, 0, 0]),
    );
    prepare(&mut in_process);
    report(
        "in-process, READ BINARY 255 B",
        &measure(&mut in_process, &[0x00, 0xB0, 0, 0, 0xFF]),
    );

    let port = 35964;
    let _reader = vpcd::lock_reader(port).expect("reader lock");
    let card = sim::shared(ElsCard::new(ElsCardState::blank(&UID)));
    let (_inserted, mut through_pcscd) = common::through_pcscd(card, port);
    report(
        "pcscd + vpcd, FF CA (UID, 7 B)",
        &measure(&mut through_pcscd, &[0xFF, 0xCA, 0, 0, 0]),
    );
    prepare(&mut through_pcscd);
    report(
        "pcscd + vpcd, READ BINARY 255 B",
        &measure(&mut through_pcscd, &[0x00, 0xB0, 0, 0, 0xFF]),
    );
}

fn prepare(card: &mut impl Transport) {
    for apdu in [SELECT_SELS, SELECT_EF_ELS] {
        assert_eq!(card.transmit(apdu).unwrap(), [0x90, 0x00]);
    }
}

fn measure(card: &mut impl Transport, apdu: &[u8]) -> Vec<Duration> {
    for _ in 0..WARM_UP {
        card.transmit(apdu).unwrap();
    }
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let answer = card.transmit(apdu).unwrap();
        samples.push(start.elapsed());
        assert_eq!(answer[answer.len() - 2..], [0x90, 0x00]);
    }
    samples.sort();
    samples
}

fn report(what: &str, sorted: &[Duration]) {
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    let mean = sorted.iter().sum::<Duration>() / sorted.len() as u32;
    println!(
        "{what:<34} n={} p50={:>9.1?} p99={:>9.1?} mean={:>9.1?} max={:>9.1?}",
        sorted.len(),
        at(0.50),
        at(0.99),
        mean,
        sorted[sorted.len() - 1]
    );
}
