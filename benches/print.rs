//! The print station's pipeline: time to draw each card side at 300 dpi, and cards per
//! minute of the whole queue (render, feed a simulated blank DESFire card into a vpcd
//! reader, encode and read it back through pcscd, print through the CUPS queue that
//! scripts/setup.sh creates, record). Needs pcscd + vpcd and cupsd with `cardstation-pdf`.
//!
//!     CARGO_PROFILE_BENCH_DEBUG_ASSERTIONS=true cargo bench --no-default-features --bench print

use std::path::Path;
use std::time::{Duration, Instant};

use cardstation::card::desfire::DesfireKey;
use cardstation::config::{Profile, Role};
use cardstation::render::card::{CardFormat, CardRenderer};
use cardstation::render::cups::CupsPrinter;
use cardstation::render::face::CardFace;
use cardstation::render::layout::{Layout, SideName};
use cardstation::sim::feed::VpcdFeed;
use cardstation::sim::vpcd;
use cardstation::station::auth::Session;
use cardstation::station::desfire::IssueKeys;
use cardstation::station::print::{self, Control, PrintEvent, PrintSetup};
use cardstation::store::OperatorRole;
use cardstation::store::Store;
use serde_json::json;

const RUNS: usize = 20;
const CARDS: usize = 20;
const PORT: u16 = 35964;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time(mut work: impl FnMut()) -> Duration {
    work();
    median(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                work();
                started.elapsed()
            })
            .collect(),
    )
}

fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

fn queue(store: &mut Store, count: usize) {
    use cardstation::remote::cardexchange as remote;
    let persons: Vec<remote::Person> = (0..count)
        .map(|n| from(json!({"id": format!("p{n}"), "personNumber": format!("P{n}"), "firstName": "Żaneta", "lastName": format!("Łągiewka{n}"), "birthDate": "2001-02-03", "metadata": {"albumNumber": format!("5{n:05}")}})))
        .collect();
    let holders: Vec<remote::Cardholder> = (0..count)
        .map(|n| from(json!({"id": format!("h{n}"), "person": format!("p{n}")})))
        .collect();
    let cards: Vec<remote::Card> = (0..count)
        .map(|n| from(json!({"id": format!("c{n}"), "cardholder": format!("h{n}"), "cardNumber": format!("{}", 800_000 + n), "status": "in_production", "endDate": "2099-09-30"})))
        .collect();
    let productions: Vec<remote::Production> = (0..count)
        .map(|n| from(json!({"id": format!("r{n}"), "cardholder": format!("h{n}"), "card": format!("c{n}")})))
        .collect();
    store.upsert_remote_persons(&persons).unwrap();
    store.upsert_remote_cardholders(&holders).unwrap();
    store.upsert_remote_cards(&cards).unwrap();
    store.upsert_remote_productions(&productions).unwrap();
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layout = Layout::load(&root.join("profiles/layouts/els-student.toml")).unwrap();
    let face = CardFace::load(&root.join("tests/fixtures/render/student.json")).unwrap();
    let renderer = CardRenderer::new().unwrap();
    for side in [SideName::Front, SideName::Back] {
        let png = time(|| {
            renderer
                .render(&layout, &face, side, CardFormat::Png)
                .unwrap();
        });
        println!("{side} side to PNG 1012x638 (300 dpi): p50 {png:.1?} over {RUNS} runs");
    }
    let both = time(|| {
        renderer
            .pdf_pages(&layout, &face, &[SideName::Front, SideName::Back])
            .unwrap();
    });
    println!("front+back to one card-size PDF:      p50 {both:.1?} over {RUNS} runs");

    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    let mut store = Store::open(&dir.path().join("bench.sqlite")).unwrap();
    queue(&mut store, CARDS);
    let app = Profile::demo().desfire.unwrap();
    let keys = IssueKeys::new(
        &app,
        &[0x5A; 16],
        &[0xA5; 16],
        DesfireKey::des([0; 8]),
        p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).expect("a scalar"),
    )
    .expect("key lengths");
    // The student layout has a photo frame: every holder gets the fixture's portrait.
    for n in 0..CARDS {
        std::fs::copy(
            root.join("tests/fixtures/render/photo.png"),
            photos.join(format!("P{n}.png")),
        )
        .unwrap();
    }
    let setup = PrintSetup {
        layout: &layout,
        renderer: &renderer,
        desfire: Some((&app, &keys)),
        els: None,
        photos: Some(&photos),
        university: "Uniwersytet Łódzki",
        holograms: false,
        session: &Session {
            operator: "bench".into(),
            role: OperatorRole::Printer,
            station: Role::Print,
        },
    };
    let _lock = vpcd::lock_reader(PORT).unwrap();
    let mut feed = VpcdFeed::new(PORT, 0x5B00_0000);
    let mut printer = CupsPrinter::new(
        "cardstation-pdf",
        "Custom.85.6x53.98mm",
        Duration::from_secs(60),
    );
    let mut jobs = Vec::new();
    let started = Instant::now();
    let summary = print::run_batch(
        &mut store,
        &mut feed,
        &mut printer,
        &setup,
        &print::BatchPlan::queue(CARDS),
        &Control::default(),
        &mut |event| match event {
            PrintEvent::Printed { job, .. } => jobs.push(job),
            PrintEvent::Skipped { reason, .. } | PrintEvent::FailedTry { reason, .. } => {
                eprintln!("{reason}")
            }
            _ => {}
        },
    )
    .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(summary.printed, CARDS, "{summary:?}");
    println!(
        "whole pipeline (render, encode via pcscd, CUPS job completed, record): {CARDS} cards in {elapsed:.1?} = {:.1} cards/min, {:.0?} per card",
        CARDS as f64 / elapsed.as_secs_f64() * 60.0,
        elapsed / CARDS as u32
    );
    println!("CUPS jobs: {} .. {}", jobs[0], jobs[jobs.len() - 1]);
}
