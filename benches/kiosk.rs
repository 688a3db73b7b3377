//! Tap to verdict: the kiosk's whole decision (UID, read, verify, register lookup) for an ELS
//! card and a DESFire card, in-process and through pcscd + vpcd, against a store file with
//! 1,000,000 cards. Goal: p99 under 30 ms of our own software time.
//!
//!     cargo bench --bench kiosk

use std::time::{Duration, Instant};

use cardstation::card::Transport;
use cardstation::card::desfire::DesfireKey;
use cardstation::card::els::CardKey;
use cardstation::config::{Profile, WhenStale};
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::crypto::els_sig::ElsData;
use cardstation::sim::{
    self, DesfireCard, DesfireCardState, ElsCard, ElsCardState, Faults, SharedCard, SimTransport,
    vpcd,
};
use cardstation::station::desfire::{self, CardRecord, MasterKeys};
use cardstation::station::issue::{self, ElsSource, Signer};
use cardstation::station::validate::{DesfireCheck, Policy, Verdict, validate};
use cardstation::store::Store;
use common::signer;
use zeroize::Zeroizing;

mod common;

const ROUNDS: usize = 500;
const ELS_UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
const DESFIRE_UID: [u8; 7] = [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66];

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_cards(&dir.path().join("kiosk.sqlite"), 1_000_000);
    let today = time::OffsetDateTime::now_utc().date();
    let signer = signer();
    let app = Profile::demo()
        .desfire
        .expect("the demo profile has [desfire]");
    let keys = MasterKeys::new(
        &app,
        &vec![0x11; app.key_type.key_len()],
        DesfireKey::des([0; 8]),
    )
    .unwrap();
    let els_card = els_card(&signer, today);
    let desfire_card = desfire_card(&app, &keys, today);
    let policy = Policy {
        trusted: vec![signer.certificate.clone()],
        revoked: Vec::new(),
        desfire: Some(DesfireCheck { app, keys }),
        today,
        max_register_age: None,
        when_stale: WhenStale::Warn,
        accept_uid_only: false,
    };

    for (label, card, expected) in [
        ("ELS (signed chip)", &els_card, Verdict::Valid),
        ("DESFire (MACed record)", &desfire_card, Verdict::Valid),
    ] {
        let mut transport = SimTransport::insert(card.clone(), Faults::default());
        measure(
            &format!("in-process    {label}"),
            &mut transport,
            &store,
            &policy,
            expected,
        );
    }
    let port = 35964;
    let _lock = vpcd::lock_reader(port).unwrap();
    for (label, card, expected) in [
        ("ELS (signed chip)", &els_card, Verdict::Valid),
        ("DESFire (MACed record)", &desfire_card, Verdict::Valid),
    ] {
        let (_in_reader, mut connection) = common::through_pcscd(card.clone(), port);
        measure(
            &format!("pcscd + vpcd  {label}"),
            &mut connection,
            &store,
            &policy,
            expected,
        );
        drop(connection);
        drop(_in_reader);
        std::thread::sleep(Duration::from_millis(600));
    }
}

fn measure(
    what: &str,
    card: &mut dyn Transport,
    store: &Store,
    policy: &Policy,
    expected: Verdict,
) {
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            let decision = validate(card, store, policy).unwrap();
            let elapsed = started.elapsed();
            assert_eq!(decision.verdict, expected, "{}", decision.reason);
            elapsed
        })
        .collect();
    samples.sort();
    println!(
        "{what:<40} p50 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}  (n={ROUNDS})",
        samples[ROUNDS / 2],
        samples[ROUNDS * 99 / 100],
        samples[ROUNDS - 1]
    );
}

/// A store file with `count` cards (the kiosk looks up every tapped UID).
fn store_with_cards(path: &std::path::Path, count: u32) -> Store {
    let store = Store::open(path).unwrap();
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.execute_batch("BEGIN").unwrap();
    raw.execute("INSERT INTO persons (first_name, last_name, birth_date, updated_at) VALUES ('Jan', 'Nowak', '1990-01-01', '2026-01-01T00:00:00Z')", []).unwrap();
    raw.execute("INSERT INTO cardholders (person_id, status, updated_at) VALUES (1, 'activated', '2026-01-01T00:00:00Z')", []).unwrap();
    {
        let mut insert = raw
            .prepare("INSERT INTO cards (cardholder_id, type, contactless_uid, status, updated_at) VALUES (1, 'student', ?1, 'activated', '2026-01-01T00:00:00Z')")
            .unwrap();
        for n in 0..count {
            insert.execute([format!("04{n:012X}")]).unwrap();
        }
    }
    raw.execute_batch("COMMIT").unwrap();
    store
}

fn els_card(signer: &Signer, today: time::Date) -> SharedCard {
    let key = CardKey::Master {
        algorithm: KeyAlgorithm::Aes128,
        master: Zeroizing::new(vec![0x42; 16]),
        system_id: b"ELS".to_vec(),
    };
    let card = sim::shared(ElsCard::new(ElsCardState::personalised(
        &ELS_UID,
        &key.for_card(&ELS_UID).unwrap(),
    )));
    let data = ElsData {
        chip_serial: String::new(),
        university: "Uniwersytet Łódzki".into(),
        surnames: vec!["Żółkiewska".into()],
        given_names: vec!["Anna".into(), "Maria".into()],
        album_number: "123456".into(),
        edition: "A".into(),
        pesel: "02070803628".into(),
        expires: today.replace_year(today.year() + 1).unwrap(),
    };
    let mut transport = SimTransport::insert(card.clone(), Faults::default());
    issue::issue(
        &mut transport,
        ElsSource::Sign { data, signer },
        &key,
        std::slice::from_ref(&signer.certificate),
        today,
    )
    .unwrap();
    card
}

fn desfire_card(
    app: &cardstation::config::DesfireApp,
    keys: &MasterKeys,
    today: time::Date,
) -> SharedCard {
    let card = sim::shared(DesfireCard::new(DesfireCardState::blank(&DESFIRE_UID)));
    let record = CardRecord {
        card_number: 77,
        barcode: "2900000000077".into(),
        holder_id: "USOS-42".into(),
        expires: today.replace_year(today.year() + 1).unwrap(),
    };
    desfire::issue(
        SimTransport::insert(card.clone(), Faults::default()),
        app,
        keys,
        &record,
    )
    .unwrap();
    card
}
