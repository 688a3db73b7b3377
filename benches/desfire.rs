//! APDU count and time of the DESFire university application: issuance (blank card to
//! verified record) and the kiosk read (auth + read + MAC check), in-process and through
//! pcscd + vpcd. Needs pcscd with vsmartcard-vpcd (scripts/setup.sh).
//!
//!     cargo bench --bench desfire

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cardstation::card::Transport;
use cardstation::card::desfire::DesfireKey;
use cardstation::card::pcsc::{self, PcscTransport, Sharing};
use cardstation::config::{DesfireApp, Profile};
use cardstation::sim::{DesfireCard, DesfireCardState, Faults, SharedCard, SimTransport, vpcd};
use cardstation::station::desfire::{self, CardRecord, IssueKeys};
use time::macros::date;

const ISSUES: usize = 10;
const READS: usize = 50;
const UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
const PORT: u16 = 35964;

fn main() {
    let app = Profile::demo()
        .desfire
        .expect("the demo profile has [desfire]");
    let keys = IssueKeys::new(
        &app,
        &[0x11; 16],
        &[0x4B; 16],
        DesfireKey::des([0; 8]),
        p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).expect("a scalar"),
    )
    .expect("key lengths");
    let record = CardRecord {
        card_number: 1,
        barcode: "2900100000001".into(),
        holder_id: "USOS-4711".into(),
        expires: date!(2099 - 09 - 30),
    };
    let bench = Bench {
        app: &app,
        keys: &keys,
        record: &record,
    };

    bench.run("in-process", |card| Connected {
        transport: Box::new(SimTransport::insert(card, Faults::default())),
        _in_reader: None,
    });

    let _reader = vpcd::lock_reader(PORT).expect("reader lock");
    let reader = vpcd::reader_name(PORT);
    bench.run("pcscd + vpcd", |card| {
        wait_until_empty(&reader);
        let inserted = vpcd::insert(card, PORT, Faults::default(), Duration::from_secs(10))
            .expect("pcscd with vsmartcard-vpcd must be running (scripts/setup.sh)");
        let name =
            pcsc::wait_for_card(Some(&reader), Duration::from_secs(10)).expect("card in pcscd");
        let transport = PcscTransport::connect(&name, Sharing::Exclusive).expect("connect");
        Connected {
            transport: Box::new(transport),
            _in_reader: Some(inserted),
        }
    });
}

/// The previous card must be gone before the next goes in.
fn wait_until_empty(reader: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pcsc::list_readers()
        .is_ok_and(|readers| readers.iter().any(|r| r.name == reader && r.card_present))
    {
        assert!(
            Instant::now() < deadline,
            "the previous card stays in {reader}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A card to talk to, and its place in a vpcd reader (it leaves when this is dropped).
struct Connected {
    transport: Box<dyn Transport>,
    _in_reader: Option<vpcd::InsertedCard>,
}

struct Bench<'a> {
    app: &'a DesfireApp,
    keys: &'a IssueKeys,
    record: &'a CardRecord,
}

impl Bench<'_> {
    fn run(&self, path: &str, mut connect: impl FnMut(SharedCard) -> Connected) {
        let mut issue_times = Vec::with_capacity(ISSUES);
        let mut issue_apdus = 0;
        let mut issued = None;
        for _ in 0..ISSUES {
            // Out with the previous card before the next goes in.
            drop(issued.take());
            let card: SharedCard =
                Arc::new(Mutex::new(DesfireCard::new(DesfireCardState::blank(&UID))));
            let mut connected = connect(card.clone());
            let start = Instant::now();
            let report = desfire::issue(&mut connected.transport, self.app, self.keys, self.record)
                .expect("issue works");
            issue_times.push(start.elapsed());
            issue_apdus = report.apdus;
            issued = Some((card, connected));
        }
        report(
            &format!("{path}, issue (blank card)"),
            issue_apdus,
            issue_times,
        );

        let (_card, mut connected) = issued.expect("at least one issue");
        let mut read_times = Vec::with_capacity(READS);
        let mut read_apdus = 0;
        for _ in 0..READS {
            let start = Instant::now();
            let verified = desfire::read(&mut connected.transport, self.app, self.keys.reading())
                .expect("read works");
            read_times.push(start.elapsed());
            read_apdus = verified.apdus;
        }
        report(&format!("{path}, kiosk read"), read_apdus, read_times);
    }
}

fn report(what: &str, apdus: u64, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{what:<34} apdus={apdus:>3} n={:>3} p50={:>9.2?} p99={:>9.2?} max={:>9.2?}",
        samples.len(),
        at(0.50),
        at(0.99),
        samples[samples.len() - 1]
    );
}
