//! The print queue end to end: productions pulled into the store, blank DESFire cards fed
//! one by one into a vpcd reader (reached through the real pcscd), encoded and read back,
//! then printed through CUPS into PDF files by the cups-pdf queue that scripts/setup.sh
//! creates. Under CI=true a missing cupsd or queue fails the test; locally it skips with a
//! message.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use cardstation::card::desfire::DesfireKey;
use cardstation::card::feed::Eject;
use cardstation::config::{DesfireApp, Profile, Role};
use cardstation::remote::cardexchange as remote;
use cardstation::render::card::CardRenderer;
use cardstation::render::cups::CupsPrinter;
use cardstation::render::layout::Layout;
use cardstation::sim::Faults;
use cardstation::sim::feed::VpcdFeed;
use cardstation::station::auth::Session;
use cardstation::station::desfire::IssueKeys;
use cardstation::station::print::{self, Control, PrintEvent, PrintSetup};
use cardstation::store::OperatorRole;
use cardstation::store::{ProductionStatus, Resource, Store};
use serde_json::json;

/// The second vpcd reader; its lock keeps other tests' cards out while the batch runs.
const PORT: u16 = 35964;
const QUEUE: &str = "cardstation-pdf";
const CARDS: usize = 50;
/// The card whose chip is torn mid-encode.
const TORN_CARD: usize = 10;

fn cups_ready() -> bool {
    let ready = Command::new("lpstat")
        .args(["-p", QUEUE])
        .output()
        .is_ok_and(|out| out.status.success());
    if !ready {
        let message = format!(
            "CUPS queue {QUEUE} is not available (cupsd not running?); run scripts/setup.sh"
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("skipping: {message}");
    }
    ready
}

fn app() -> DesfireApp {
    Profile::demo()
        .desfire
        .expect("the demo profile has [desfire]")
}

fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// `count` persons with cardholders, cards in production and their productions, as the
/// sync would have pulled them from the server.
fn pulled_queue(store: &mut Store, count: usize) {
    let persons: Vec<remote::Person> = (0..count)
        .map(|n| {
            from(
                json!({"id": format!("p{n}"), "firstName": format!("Żaneta{n}"),
                "lastName": "Łągiewka", "birthDate": "2001-02-03",
                "personNumber": format!("P{n:04}"),
                "metadata": {"albumNumber": format!("4{n:05}")}}),
            )
        })
        .collect();
    let holders: Vec<remote::Cardholder> = (0..count)
        .map(|n| {
            from(json!({"id": format!("h{n}"), "person": format!("p{n}"), "status": "activated"}))
        })
        .collect();
    let cards: Vec<remote::Card> = (0..count)
        .map(|n| {
            from(json!({"id": format!("c{n}"), "cardholder": format!("h{n}"),
                "cardNumber": format!("{}", 700_000 + n), "status": "in_production",
                "endDate": "2099-09-30", "metadata": {"type": "student"}}))
        })
        .collect();
    let productions: Vec<remote::Production> = (0..count)
        .map(|n| {
            from(json!({"id": format!("r{n}"), "person": format!("p{n}"),
                "cardholder": format!("h{n}"), "card": format!("c{n}"), "numberOfTries": 0}))
        })
        .collect();
    store.upsert_remote_persons(&persons).unwrap();
    store.upsert_remote_cardholders(&holders).unwrap();
    store.upsert_remote_cards(&cards).unwrap();
    let upserted = store.upsert_remote_productions(&productions).unwrap();
    assert_eq!(upserted.inserted, count, "{upserted:?}");
}

/// The PDF cups-pdf wrote for `job` (`QUEUE-ID`), waiting briefly for the file.
fn output_of(job: &str) -> PathBuf {
    let id = job.rsplit('-').next().unwrap();
    let user = std::env::var("USER").unwrap_or_else(|_| "root".to_owned());
    let dirs = [
        PathBuf::from(format!("/var/spool/cups-pdf/{user}")),
        PathBuf::from("/var/spool/cups-pdf/root"),
    ];
    let prefix = format!("job_{id}-");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = dirs
            .iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".pdf"))
            });
        if let Some(path) = found {
            return path;
        }
        assert!(
            Instant::now() < deadline,
            "no cups-pdf output for job {job} in {dirs:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program} (poppler-utils, scripts/setup.sh): {err}"));
    assert!(out.status.success(), "{program} {args:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Width and height in points from `pdfinfo` output.
fn page_size(info: &str) -> (f64, f64) {
    let size = info
        .lines()
        .find_map(|line| line.strip_prefix("Page size:"))
        .expect("pdfinfo prints the page size");
    let numbers: Vec<f64> = size
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[test]
fn a_batch_of_50_encodes_prints_and_records_every_card_and_survives_a_torn_chip() {
    if !cups_ready() {
        return;
    }
    let reader = common::reader(PORT);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("print.sqlite")).unwrap();
    pulled_queue(&mut store, CARDS);
    store.add_holograms(5001, 5100, "test").unwrap();

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let layout = Layout::load(&root.join("profiles/layouts/els-student.toml")).unwrap();
    // Photos named by person number, as a card office exports them.
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for n in 0..CARDS {
        std::fs::copy(
            root.join("tests/fixtures/render/photo.png"),
            photos.join(format!("P{n:04}.png")),
        )
        .unwrap();
    }
    let renderer = CardRenderer::new().unwrap();
    let app = app();
    let keys = IssueKeys::new(
        &app,
        &hex::decode("00112233445566778899AABBCCDDEEFF").unwrap(),
        &hex::decode("F0E1D2C3B4A5968778695A4B3C2D1E0F").unwrap(),
        DesfireKey::des([0; 8]),
        p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap(),
    )
    .unwrap();
    let setup = PrintSetup {
        layout: &layout,
        renderer: &renderer,
        desfire: Some((&app, &keys)),
        els: None,
        photos: Some(&photos),
        university: "Uniwersytet Łódzki",
        holograms: true,
        session: &Session {
            operator: "anna.nowak".into(),
            role: OperatorRole::Printer,
            station: Role::Print,
        },
    };
    // Card 10's chip leaves the reader after 5 APDUs: mid-encode, before anything is printed.
    let torn = Faults {
        tear_after: Some(5),
        ..Faults::default()
    };
    let mut feed = VpcdFeed::new(PORT, 0x7A00_0000).with_faults(TORN_CARD, torn);
    let mut printer = CupsPrinter::new(QUEUE, "Custom.85.6x53.98mm", Duration::from_secs(60));
    let mut events = Vec::new();
    let started = Instant::now();
    let summary = print::run_batch(
        &mut store,
        &mut feed,
        &mut printer,
        &setup,
        &print::BatchPlan::queue(usize::MAX),
        &Control::default(),
        &mut |event| {
            if !matches!(event, PrintEvent::Card { .. } | PrintEvent::Printed { .. }) {
                eprintln!("{event:?}");
            }
            events.push(event);
        },
    )
    .unwrap();
    let elapsed = started.elapsed();
    eprintln!(
        "{CARDS} cards in {elapsed:.1?}: {:.1} cards/min",
        CARDS as f64 / elapsed.as_secs_f64() * 60.0
    );
    drop(reader);

    assert_eq!(summary.printed, CARDS, "{summary:?}");
    assert_eq!(summary.failed_tries, 1);
    assert!(summary.left.is_empty());
    assert_eq!(summary.holograms_returned, 0, "50 reserved, 50 used");

    // The torn card was rejected unprinted; its production took the next blank.
    let fed = feed.fed();
    assert_eq!(fed.len(), CARDS + 1);
    assert_eq!(fed[TORN_CARD - 1].ejected, Some(Eject::Reject));
    let failed: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            PrintEvent::FailedTry {
                production,
                retrying,
                ..
            } => Some((*production, *retrying)),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1);
    let (retried, retrying) = failed[0];
    assert!(retrying);

    let jobs: Vec<(i64, String, String)> = events
        .iter()
        .filter_map(|event| match event {
            PrintEvent::Printed {
                production,
                chip_serial,
                job,
                ..
            } => Some((*production, chip_serial.clone(), job.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(jobs.len(), CARDS);
    let printed_uids: Vec<String> = fed
        .iter()
        .filter(|card| card.ejected == Some(Eject::ToPrinter))
        .map(|card| hex::encode_upper(&card.uid))
        .collect();
    for (index, (production_id, chip, job)) in jobs.iter().enumerate() {
        let production = store.get_production(*production_id).unwrap();
        assert_eq!(production.status, ProductionStatus::Produced);
        assert_eq!(
            production.chip_serial_number.as_deref(),
            Some(chip.as_str())
        );
        // The chip recorded is the chip that went to the printer for this card, in order.
        assert_eq!(chip, &printed_uids[index]);
        assert_eq!(production.user_name.as_deref(), Some("anna.nowak"));
        assert!(production.printed_on.is_some());
        let tries = if *production_id == retried { 2 } else { 1 };
        assert_eq!(production.number_of_tries, tries);
        assert_eq!(
            store.hologram_of(*production_id).unwrap(),
            Some(5001 + index as i64),
            "holograms are used in order, none lost to the rejected card"
        );
        let card = store.get_card(production.card_id).unwrap();
        assert_eq!(card.fields.contactless_uid.as_deref(), Some(chip.as_str()));
        assert!(!job.is_empty());
    }
    // The simulated chips hold what the print says.
    let first = fed
        .iter()
        .find(|card| card.ejected == Some(Eject::ToPrinter))
        .unwrap();
    let mut sim = cardstation::sim::SimTransport::insert(first.card.clone(), Faults::default());
    let record = cardstation::station::desfire::read(&mut sim, &app, keys.reading()).unwrap();
    assert_eq!(record.record.card_number, 700_000);
    assert_eq!(record.record.holder_id, "P0000");

    // Every change is queued for the server and audited.
    let pending = store.outbox_pending(10_000).unwrap();
    let production_updates = pending
        .iter()
        .filter(|entry| entry.resource == Resource::Productions)
        .count();
    assert_eq!(production_updates, CARDS + 1, "50 prints and 1 failed try");
    assert!(store.audit_verify().unwrap() > CARDS);
    let stock = store.hologram_stock().unwrap();
    assert_eq!(stock.free, vec![(5051, 5100)]);
    assert_eq!(stock.used, 50);

    // 50 PDFs of card size, with the holder's text.
    let pdfs: Vec<PathBuf> = jobs.iter().map(|(_, _, job)| output_of(job)).collect();
    assert_eq!(pdfs.len(), CARDS);
    let info = tool("pdfinfo", &[pdfs[0].to_str().unwrap()]);
    // 85.60 × 53.98 mm = 242.65 × 153.01 pt; cups-pdf rounds to whole points.
    let (width, height) = page_size(&info);
    assert!(
        (width - 242.65).abs() < 1.0 && (height - 153.01).abs() < 1.0,
        "{info}"
    );
    assert!(
        info.contains("Pages:           2"),
        "front and back: {info}"
    );
    // cups-pdf turns the job into PostScript and back, which keeps the glyphs but drops
    // their text mapping, so the text is checked in the PDF the station sent to CUPS.
    let sent = print::prepare(&store, store.get_production(jobs[0].0).unwrap(), &setup).unwrap();
    let sent_pdf = dir.path().join("sent.pdf");
    std::fs::write(&sent_pdf, &sent.pdf).unwrap();
    let sent_info = tool("pdfinfo", &[sent_pdf.to_str().unwrap()]);
    let (width, height) = page_size(&sent_info);
    assert!(
        (width - 242.65).abs() < 0.01 && (height - 153.01).abs() < 0.01,
        "{sent_info}"
    );
    assert!(sent_info.contains("Pages:           2"), "{sent_info}");
    let text = tool("pdftotext", &[sent_pdf.to_str().unwrap(), "-"]);
    assert!(text.contains("Żaneta0"), "{text}");
    assert!(text.contains("LEGITYMACJA STUDENCKA"), "{text}");
    assert!(text.contains("700000"), "the card number: {text}");
    for pdf in &pdfs {
        std::fs::remove_file(pdf).unwrap();
    }
}
