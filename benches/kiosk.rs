//! Tap to verdict: the kiosk's whole decision (UID, read, verify, register lookup) for an
//! ELS-only card, a DESFire-only card and a dual-interface card (ELS signature plus the DESFire
//! challenge-response on one chip), each tap reading the trust generation first as the kiosk
//! does (`LivePolicy::for_tap`), in-process and through pcscd + vpcd, against a store file
//! with 1,000,000 cards in which the three are registered as issued. Goal: p99 under 30 ms of
//! our own software time for the dual-interface card.
//!
//!     cargo bench --bench kiosk

use std::time::{Duration, Instant};

use cardstation::card::Transport;
use cardstation::card::els::CardKey;
use cardstation::config::{Profile, WhenStale};
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::crypto::els_sig::ElsData;
use cardstation::sim::{
    self, DesfireCard, DesfireCardState, DualInterfaceCard, ElsCard, ElsCardState, Faults,
    SharedCard, SimTransport, vpcd,
};
use cardstation::station::desfire::{self, CardRecord, IssueKeys};
use cardstation::station::issue::{self, ElsSource, Signer};
use cardstation::station::validate::{
    DesfireCheck, Evidence, LivePolicy, Policy, Verdict, validate,
};
use cardstation::store::{CardStatus, CardType, NewCard, Store};
use common::signer;
use zeroize::Zeroizing;

mod common;

const ROUNDS: usize = 500;
const ELS_UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
const DESFIRE_UID: [u8; 7] = [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
const DUAL_UID: [u8; 7] = [0x04, 0xD0, 0xA1, 0x17, 0x42, 0x99, 0x01];

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_cards(&dir.path().join("kiosk.sqlite"), 1_000_000);
    let today = time::OffsetDateTime::now_utc().date();
    let signer = signer();
    let app = Profile::demo()
        .desfire
        .expect("the demo profile has [desfire]");
    let keys = common::desfire_keys(&app, 0x11);
    let els_card = shared_els(&ELS_UID);
    issue_els(&els_card, &signer, today);
    let desfire_card = sim::shared(DesfireCard::new(DesfireCardState::blank(&DESFIRE_UID)));
    issue_desfire(&desfire_card, &app, &keys, today);
    let dual_card = sim::shared(DualInterfaceCard::new(
        ElsCard::new(personalised(&DUAL_UID)),
        DesfireCard::new(DesfireCardState::blank(&DUAL_UID)),
    ));
    let dual_serial = issue_els(&dual_card, &signer, today);
    issue_desfire(&dual_card, &app, &keys, today);
    let els_serial = hex::encode_upper(ELS_UID);
    register(&mut store, &ELS_UID, Some(&els_serial), false);
    register(&mut store, &DESFIRE_UID, None, true);
    register(&mut store, &DUAL_UID, Some(&dual_serial), true);
    let policy = Policy {
        trusted: vec![signer.certificate.clone()],
        revoked: Vec::new(),
        // What a kiosk holds: the read-key master and the record signer's public key.
        desfire: Some(DesfireCheck {
            app,
            keys: keys.into_reading(),
        }),
        today,
        max_register_age: None,
        when_stale: WhenStale::Warn,
        accept_uid_only: false,
    };
    // As the kiosk taps: the trust generation read before each tap (`LivePolicy::for_tap`).
    let mut policy = LivePolicy::new(policy, &store).unwrap();
    let cards = [
        ("ELS-only (signature only)", &els_card, Evidence::SignedChip),
        (
            "DESFire-only (authenticated)",
            &desfire_card,
            Evidence::AuthenticatedChip,
        ),
        (
            "dual-interface (both)",
            &dual_card,
            Evidence::SignedAndAuthenticatedChip,
        ),
    ];

    for (label, card, evidence) in cards {
        let mut transport = SimTransport::insert(card.clone(), Faults::default());
        measure(
            &format!("in-process    {label}"),
            &mut transport,
            &store,
            &mut policy,
            evidence,
        );
    }
    let port = 35964;
    let _lock = vpcd::lock_reader(port).unwrap();
    for (label, card, evidence) in cards {
        let (_in_reader, mut connection) = common::through_pcscd(card.clone(), port);
        measure(
            &format!("pcscd + vpcd  {label}"),
            &mut connection,
            &store,
            &mut policy,
            evidence,
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
    policy: &mut LivePolicy,
    evidence: Evidence,
) {
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            let decision = validate(card, store, policy.for_tap(store).unwrap()).unwrap();
            let elapsed = started.elapsed();
            assert_eq!(
                (decision.verdict, decision.evidence),
                (Verdict::Valid, evidence),
                "{}",
                decision.reason
            );
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

fn personalised(uid: &[u8]) -> ElsCardState {
    ElsCardState::personalised(uid, &els_key().for_card(uid).unwrap())
}

fn shared_els(uid: &[u8]) -> SharedCard {
    sim::shared(ElsCard::new(personalised(uid)))
}

fn els_key() -> CardKey {
    CardKey::Master {
        algorithm: KeyAlgorithm::Aes128,
        master: Zeroizing::new(vec![0x42; 16]),
        system_id: b"ELS".to_vec(),
    }
}

/// Signs and writes an ELS onto `card`; the chip serial it binds.
fn issue_els(card: &SharedCard, signer: &Signer, today: time::Date) -> String {
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
        &els_key(),
        std::slice::from_ref(&signer.certificate),
        today,
    )
    .unwrap()
    .verified
    .data
    .chip_serial
}

fn issue_desfire(
    card: &SharedCard,
    app: &cardstation::config::DesfireApp,
    keys: &IssueKeys,
    today: time::Date,
) {
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
}

/// Registers the card with this UID as issued (a signed chip when `chip_serial` is given,
/// the DESFire application when `desfire`).
fn register(store: &mut Store, uid: &[u8], chip_serial: Option<&str>, desfire: bool) {
    let uid = hex::encode_upper(uid);
    store
        .insert_card(
            &NewCard {
                cardholder_id: 1,
                card_number: None,
                barcode: None,
                card_type: CardType::Student,
                contact_uid: chip_serial.map(|_| uid.clone()),
                contactless_uid: desfire.then(|| uid.clone()),
                chip_serial_number: chip_serial.map(str::to_owned),
                status: CardStatus::Activated,
                expires: None,
                desfire_issued: desfire,
            },
            "bench",
        )
        .unwrap();
}
