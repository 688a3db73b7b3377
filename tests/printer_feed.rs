//! The print queue driving an Evolis printer's card path over its command socket: our
//! simulated Evolis printer (`sim::printer`) moves each blank card into its encoder station,
//! which is a vpcd reader reached through the real pcscd; the station encodes the chip, leaves
//! the card for printing or sends it to the reject box. A printer that does not answer stops
//! the batch with the operator's next step and leaves the queue as it was.

mod common;

use std::time::{Duration, Instant};

use cardstation::card::desfire::DesfireKey;
use cardstation::card::feed::FeedError;
use cardstation::card::printer_evolis::{EncoderStation, EvolisFeed};
use cardstation::config::{Profile, Role};
use cardstation::error::Problem;
use cardstation::remote::cardexchange as remote;
use cardstation::render::card::CardRenderer;
use cardstation::render::cups::PrintError;
use cardstation::render::layout::Layout;
use cardstation::sim::printer::{EvolisSim, Fate};
use cardstation::sim::{Faults, SimTransport};
use cardstation::station::auth::Session;
use cardstation::station::desfire::IssueKeys;
use cardstation::station::print::{self, BatchError, Control, PrintSetup, Printer};
use cardstation::store::{OperatorRole, ProductionStatus, Store};
use serde_json::json;

/// The second vpcd reader, as the other print tests use: its lock keeps their cards out.
const PORT: u16 = 35964;

const LAYOUT: &str = r##"name = "t"
[front]
background = { colour = "#ffffff" }
[[front.elements]]
kind = "text"
frame = { x = 4, y = 4, width = 60, height = 6 }
text = "{card_number}"
size_pt = 10
[back]
"##;

/// `count` cards in production, as the sync would have pulled them.
fn queue(count: usize) -> Store {
    let mut store = Store::open_in_memory().unwrap();
    let from = |value| serde_json::from_value::<remote::Card>(value).unwrap();
    for n in 0..count {
        store
            .upsert_remote_cardholders(&[
                serde_json::from_value(json!({"id": format!("h{n}")})).unwrap()
            ])
            .unwrap();
        store
            .upsert_remote_cards(&[from(json!({"id": format!("c{n}"),
                "cardholder": format!("h{n}"), "cardNumber": format!("{}", 800 + n),
                "status": "in_production", "endDate": "2099-01-31"}))])
            .unwrap();
        store
            .upsert_remote_productions(&[serde_json::from_value(
                json!({"id": format!("r{n}"), "card": format!("c{n}")}),
            )
            .unwrap()])
            .unwrap();
    }
    store.add_holograms(1, 20, "test").unwrap();
    store
}

/// Completes every job; records the titles it printed.
#[derive(Default)]
struct Jobs(Vec<String>);

impl Printer for Jobs {
    fn print(&mut self, title: &str, pdf: &[u8]) -> Result<String, PrintError> {
        assert!(pdf.starts_with(b"%PDF"));
        self.0.push(title.to_owned());
        Ok(format!("job-{}", self.0.len()))
    }
}

fn session() -> Session {
    Session {
        operator: "ewa".into(),
        role: OperatorRole::Printer,
        station: Role::Print,
    }
}

/// A print station's keys: an application master, a read-key master and a record signer.
fn keys(app: &cardstation::config::DesfireApp) -> IssueKeys {
    let signer = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    IssueKeys::new(app, &[7; 16], &[9; 16], DesfireKey::des([0; 8]), signer).unwrap()
}

#[test]
fn an_evolis_printer_feeds_each_card_to_the_encoder_and_rejects_the_one_that_fails() {
    let reader = common::reader(PORT);
    let mut store = queue(3);
    let layout = Layout::parse(LAYOUT, std::path::Path::new(".")).unwrap();
    let renderer = CardRenderer::new().unwrap();
    let app = Profile::demo().desfire.unwrap();
    let keys = keys(&app);
    let session = session();
    let setup = PrintSetup {
        layout: &layout,
        renderer: &renderer,
        desfire: Some((&app, &keys)),
        els: None,
        photos: None,
        university: "U",
        holograms: true,
        session: &session,
    };
    // Card 2's chip leaves after 3 APDUs, mid-encode: it must go to the reject box.
    let torn = Faults {
        tear_after: Some(3),
        ..Faults::default()
    };
    let printer = EvolisSim::start(PORT, 0x6E00_0000, [(2, torn)]).unwrap();
    let mut feed = EvolisFeed::new(
        printer.address(),
        EncoderStation::Contactless,
        Some(&reader.name),
        Duration::from_secs(10),
    );
    let mut jobs = Jobs::default();
    let started = Instant::now();
    let summary = print::run_batch(
        &mut store,
        &mut feed,
        &mut jobs,
        &setup,
        &print::BatchPlan::queue(10),
        &Control::default(),
        &mut |_| {},
    )
    .unwrap();
    eprintln!("3 productions, 4 cards in {:.1?}", started.elapsed());

    assert_eq!(summary.printed, 3, "{summary:?}");
    assert_eq!(summary.failed_tries, 1);
    assert!(summary.left.is_empty());
    assert_eq!(
        printer.commands(),
        ["Pem;2", "Sic", "Sic", "Ser", "Sic", "Sic"],
        "error management once, then one insert per card and a reject for the torn one"
    );
    assert_eq!(
        printer.fates(),
        [
            Fate::LeftForPrint,
            Fate::Rejected,
            Fate::LeftForPrint,
            Fate::InEncoder,
        ],
        "the last card waits in the printer for its print job"
    );
    assert_eq!(jobs.0, ["production-1", "production-2", "production-3"]);

    // Each production records the chip that stayed in the printer, never the rejected one.
    let printed_cards = [1, 3, 4];
    for (production_id, card) in (1..=3).zip(printed_cards) {
        let production = store.get_production(production_id).unwrap();
        assert_eq!(production.status, ProductionStatus::Produced);
        let (uid, _) = printer.card(card).unwrap();
        assert_eq!(
            production.chip_serial_number.as_deref(),
            Some(hex::encode_upper(&uid).as_str())
        );
        let tries = if production_id == 2 { 2 } else { 1 };
        assert_eq!(production.number_of_tries, tries);
    }
    // The chip holds the record the card was printed with.
    let (_, chip) = printer.card(3).unwrap();
    let mut sim = SimTransport::insert(chip, Faults::default());
    let record = cardstation::station::desfire::read(&mut sim, &app, keys.reading()).unwrap();
    assert_eq!(record.record.card_number, 801);
    drop(printer);
    drop(reader);
}

#[test]
fn a_printer_that_does_not_answer_stops_the_batch_with_a_next_step_and_changes_nothing() {
    let layout = Layout::parse(LAYOUT, std::path::Path::new(".")).unwrap();
    let renderer = CardRenderer::new().unwrap();
    let session = session();
    let setup = PrintSetup {
        layout: &layout,
        renderer: &renderer,
        desfire: None,
        els: None,
        photos: None,
        university: "U",
        holograms: true,
        session: &session,
    };
    // A printer that takes the connection but never replies, and an address nothing
    // listens on (a port just freed).
    let silent = EvolisSim::silent().unwrap();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    for (address, cause) in [
        (silent.address(), "no reply to \"Sis\""),
        (&closed, "refused"),
    ] {
        let mut store = queue(2);
        let free_before = store.hologram_stock().unwrap().free_count();
        let mut feed = EvolisFeed::new(
            address,
            EncoderStation::Contact,
            Some("no reader needed"),
            Duration::from_millis(500),
        );
        let mut jobs = Jobs::default();
        let err = print::run_batch(
            &mut store,
            &mut feed,
            &mut jobs,
            &setup,
            &print::BatchPlan::queue(10),
            &Control::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(
            matches!(err, BatchError::Feed(FeedError::NoAnswer { .. })),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(address), "{message}");
        assert!(message.contains(cause), "{message}");
        assert!(
            err.next_step().contains("switched on") && err.next_step().contains("feed_address"),
            "{}",
            err.next_step()
        );
        assert!(jobs.0.is_empty(), "nothing printed");
        for id in 1..=2 {
            let production = store.get_production(id).unwrap();
            assert_eq!(production.status, ProductionStatus::ToBeProduced);
            assert_eq!(production.number_of_tries, 0, "no card was used");
        }
        assert_eq!(
            store.hologram_stock().unwrap().free_count(),
            free_before,
            "the batch's holograms went back to stock"
        );
    }
    assert_eq!(silent.commands(), ["Pem;2"]);
}
