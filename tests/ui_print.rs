//! The print station's screen driven headlessly (iced_test simulator, tiny-skia): the
//! queue of the demo store, the preview of the selected card, who may start a batch, and a
//! batch of the ticked cards or of one card type.
//! Tasks run for real, as in tests/ui_desk.rs.

#![cfg(feature = "gui")]

use cardstation::config::Language;
use cardstation::sim::printer::EvolisSim;
use cardstation::station::print::ProductionChange;
use cardstation::store::{CardType, Operation, ProductionStatus, Resource, Store};
use cardstation::ui::{App, Message, print};
mod common;
mod ui_harness;

use ui_harness::{english_demo, send, shows, sign_in};

#[test]
fn the_print_station_shows_the_queue_with_a_preview_and_only_printers_start_a_batch() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("print.sqlite");
    let mut profile = english_demo();
    profile.role = cardstation::config::Role::Print;
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));

    // A desk operator at the print station sees the queue but may not print.
    let (mut app, _boot) = App::boot(profile.clone(), Some(database.clone()));
    send(&runtime, &mut app, Message::StoreOpened(opened.clone()));
    sign_in(&runtime, &mut app, "anna", "1111");
    assert!(shows(&app, "Print queue (6)"));
    assert!(shows(&app, "Your role may not print cards."));
    send(&runtime, &mut app, Message::Print(print::Message::Start));
    assert_eq!(
        app.print.as_ref().unwrap().batch,
        print::Batch::Idle,
        "refused"
    );

    // The printer operator gets the queue, the first card selected and its sides drawn.
    let (mut app, _boot) = App::boot(profile, Some(database));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "piotr", "2222");
    let screen = app
        .print
        .as_ref()
        .expect("the print role opens the print screen");
    assert_eq!(screen.queue.len(), 6);
    assert_eq!(screen.selected, Some(screen.queue[0].id));
    assert_eq!(screen.error, None);
    assert!(shows(&app, "Katarzyna Pawłowska"));
    assert!(shows(&app, "Print the queue"));
    assert!(!shows(&app, "Your role may not print cards."));
    assert_eq!(
        app.print.as_ref().unwrap().preview_sides(),
        2,
        "the selected card's front and back are drawn"
    );

    // A late answer for a card no longer selected (quick clicks) is dropped.
    let first = app.print.as_ref().unwrap().queue[0].id;
    let second = app.print.as_ref().unwrap().queue[1].id;
    send(
        &runtime,
        &mut app,
        Message::Print(print::Message::Select(second)),
    );
    send(
        &runtime,
        &mut app,
        Message::Print(print::Message::Previewed {
            id: first,
            result: Ok(Vec::new()),
        }),
    );
    assert_eq!(
        app.print.as_ref().unwrap().preview_sides(),
        2,
        "the second card's sides stay"
    );
}

/// The window's batch drives the feed the profile names, as `cardstation print` does: with
/// `[printer] feed = "evolis"` it talks to the printer at `feed_address` (here an address
/// nobody listens on), and says so with the next step, the queue left as it was.
#[test]
fn the_print_window_drives_the_evolis_feed_the_profile_names() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("print.sqlite");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().to_string()
    };
    let mut profile = english_demo();
    profile.role = cardstation::config::Role::Print;
    let printer = profile.printer.as_mut().expect("the demo has a [printer]");
    printer.feed = cardstation::config::Feed::Evolis;
    printer.feed_address = Some(closed.clone());
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));

    let (mut app, _boot) = App::boot(profile, Some(database));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "piotr", "2222");
    assert_eq!(app.print.as_ref().unwrap().queue.len(), 6);
    send(&runtime, &mut app, Message::Print(print::Message::Start));
    let screen = app.print.as_ref().unwrap();
    assert_eq!(screen.batch, print::Batch::Idle, "the batch stopped");
    let error = screen.error.clone().expect("the batch says why it stopped");
    let line = error.line();
    assert!(
        line.contains(&format!("the printer at {closed} does not answer"))
            && line.contains("feed_address"),
        "{line}"
    );
    assert!(
        shows(
            &app,
            &cardstation::ui::problem(cardstation::config::Language::En, &error)
        ),
        "{line}"
    );
    assert_eq!(screen.queue.len(), 6, "nothing was printed");
}

/// The vpcd reader the print tests share; its lock keeps other tests' cards out.
const ENCODER_PORT: u16 = 35964;

/// The print station's profile feeding blanks through the simulated Evolis `printer` to the
/// encoder reader `encoder`.
fn evolis_print_profile(printer: &EvolisSim, encoder: &str) -> cardstation::config::Profile {
    let mut profile = english_demo();
    profile.role = cardstation::config::Role::Print;
    let settings = profile.printer.as_mut().unwrap();
    settings.feed = cardstation::config::Feed::Evolis;
    settings.feed_address = Some(printer.address().to_owned());
    settings.encoder_reader = Some(encoder.to_owned());
    profile
}

/// Two of three queued cards ticked, "Print selected": the window's batch feeds exactly two
/// blanks through the simulated Evolis printer (its encoder a vpcd reader behind the real
/// pcscd) and prints them through CUPS (the cups-pdf queue of scripts/setup.sh); the third
/// stays in the queue.
#[test]
fn the_print_window_prints_only_the_ticked_cards() {
    let reader = common::reader(ENCODER_PORT);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("print.sqlite");
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    // Three of the demo's six orders stay queued.
    let mut store = Store::open(&database).unwrap();
    let queued = store.productions_to_produce(10).unwrap();
    for production in &queued[3..] {
        store
            .cancel_production(production.id, "anna", "ordered twice")
            .unwrap();
    }
    let printer = EvolisSim::start(ENCODER_PORT, 0x6E10_0000, []).unwrap();
    let profile = evolis_print_profile(&printer, &reader.name);

    let (mut app, _boot) = App::boot(profile, Some(database));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "piotr", "2222");
    assert!(shows(&app, "Print queue (3)"));
    assert!(shows(&app, "Print selected (0)"));
    let (first, second, third) = (queued[0].id, queued[1].id, queued[2].id);
    for id in [first, third] {
        send(
            &runtime,
            &mut app,
            Message::Print(print::Message::Choose(id, true)),
        );
    }
    assert!(shows(&app, "Print selected (2)"));
    send(
        &runtime,
        &mut app,
        Message::Print(print::Message::PrintSelected),
    );

    let screen = app.print.as_ref().unwrap();
    assert_eq!(screen.error, None);
    let print::Batch::Finished(summary) = &screen.batch else {
        panic!("the batch finished: {:?}", screen.batch);
    };
    assert_eq!(summary.printed, 2, "{summary:?}");
    assert!(summary.left.is_empty(), "{summary:?}");
    assert_eq!(
        screen.queue.iter().map(|p| p.id).collect::<Vec<_>>(),
        [second],
        "the unticked card is still queued"
    );
    assert!(
        screen.chosen.is_empty(),
        "printed cards are no longer ticked"
    );
    assert_eq!(
        printer.commands().iter().filter(|c| *c == "Sic").count(),
        2,
        "two blanks fed: {:?}",
        printer.commands()
    );
    let store = Store::open(&dir.path().join("print.sqlite")).unwrap();
    for (id, status) in [
        (first, ProductionStatus::Produced),
        (second, ProductionStatus::ToBeProduced),
        (third, ProductionStatus::Produced),
    ] {
        assert_eq!(store.get_production(id).unwrap().status, status, "#{id}");
    }
    assert!(shows(&app, "Printed (2)"));
    drop(printer);
    drop(reader);
}

/// A printed card put back in the queue from the window: the reason is required (nothing
/// changes without it), then the card is queued again with its outbox rows and the reason in
/// the audit log.
#[test]
fn a_printed_card_is_reprinted_from_the_window_once_a_reason_is_given() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("print.sqlite");
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    let mut store = Store::open(&database).unwrap();
    let printed = store.productions_to_produce(1).unwrap()[0].id;
    store.record_printed(&common::printed(printed)).unwrap();
    let mut profile = english_demo();
    profile.role = cardstation::config::Role::Print;

    let (mut app, _boot) = App::boot(profile, Some(database));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "piotr", "2222");
    assert!(shows(&app, "Print queue (5)"));
    assert!(shows(&app, "Printed (1)"));
    let outbox_before = store.outbox_pending(1000).unwrap().len();

    let ask = |change| Message::Print(print::Message::Ask(change, printed));
    send(&runtime, &mut app, ask(ProductionChange::Reprint));
    assert!(shows(&app, "Why is the card printed again?"));
    send(
        &runtime,
        &mut app,
        Message::Print(print::Message::ConfirmAsk),
    );
    assert!(
        shows(&app, "Give a reason to go on."),
        "no reason, no reprint"
    );
    assert_eq!(
        store.get_production(printed).unwrap().status,
        ProductionStatus::Produced
    );
    send(
        &runtime,
        &mut app,
        Message::Print(print::Message::AskReason("ribbon smeared".into())),
    );
    send(
        &runtime,
        &mut app,
        Message::Print(print::Message::ConfirmAsk),
    );

    assert!(shows(&app, &format!("Back in the queue: #{printed}")));
    assert!(shows(&app, "Print queue (6)"));
    assert!(shows(&app, "Printed (0)"));
    let screen = app.print.as_ref().unwrap();
    assert_eq!(screen.ask, None);
    assert_eq!(screen.error, None);
    assert_eq!(
        store.get_production(printed).unwrap().status,
        ProductionStatus::ToBeProduced
    );
    let outbox = store.outbox_pending(1000).unwrap();
    let added: Vec<_> = outbox[outbox_before..]
        .iter()
        .map(|entry| (entry.resource, entry.operation))
        .collect();
    assert_eq!(
        added,
        [
            (Resource::Cards, Operation::Update),
            (Resource::Productions, Operation::Create)
        ]
    );
    let audit = store.audit_entries("production.reprint", 1).unwrap();
    assert_eq!(audit[0].operator, "piotr");
    assert!(audit[0].details.contains("ribbon smeared"), "{audit:?}");
}

/// The card-type pick list beside the search box: "Staff cards" lists only the staff orders
/// (queued and printed alike), "Print all shown" prints exactly those through the simulated
/// Evolis printer, its vpcd encoder and CUPS, and the student and doctoral orders stay queued.
#[test]
fn the_print_window_filters_by_card_type_and_prints_only_that_type() {
    let reader = common::reader(ENCODER_PORT);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("print.sqlite");
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    // Of the demo's six student orders, one is printed and two stay queued; two holders
    // also have a staff card ordered, one a doctoral card.
    let mut store = Store::open(&database).unwrap();
    let demo = store.productions_to_produce(10).unwrap();
    store.record_printed(&common::printed(demo[0].id)).unwrap();
    for production in &demo[3..] {
        store
            .cancel_production(production.id, "anna", "ordered twice")
            .unwrap();
    }
    let holder = |index: usize| demo[index].cardholder_id.unwrap();
    let expires = store.get_card(demo[1].card_id).unwrap().fields.expires;
    for (index, card_type, number) in [
        (1, CardType::Staff, "2026900001"),
        (2, CardType::Staff, "2026900002"),
        (1, CardType::Phd, "2026900003"),
    ] {
        store
            .order_card(holder(index), card_type, Some(number), expires, "anna")
            .unwrap();
    }
    let queued = store.productions_to_produce(10).unwrap();
    assert_eq!(queued.len(), 5);
    let staff: Vec<i64> = queued[2..4].iter().map(|p| p.id).collect();
    let printer = EvolisSim::start(ENCODER_PORT, 0x6E20_0000, []).unwrap();
    let profile = evolis_print_profile(&printer, &reader.name);

    let (mut app, _boot) = App::boot(profile, Some(database.clone()));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "piotr", "2222");
    assert!(shows(&app, "Print queue (5)"));
    assert!(shows(&app, "Printed (1)"));
    assert!(shows(&app, "Print the queue"));
    let pick = |language| {
        print::TypeChoice::all(language)
            .into_iter()
            .find(|choice| choice.card_type == Some(CardType::Staff))
            .unwrap()
    };
    send(
        &runtime,
        &mut app,
        Message::Print(print::Message::PickType(pick(Language::En))),
    );
    let screen = app.print.as_ref().unwrap();
    assert_eq!(
        screen.queue.iter().map(|p| p.id).collect::<Vec<_>>(),
        staff,
        "only the staff orders are listed"
    );
    assert!(screen.printed.is_empty(), "the printed card is a student's");
    assert!(shows(&app, "Print queue (2)"));
    assert!(shows(&app, "Printed (0)"));
    assert!(shows(&app, "Print all shown (2)"));

    send(&runtime, &mut app, Message::Print(print::Message::Start));
    let screen = app.print.as_ref().unwrap();
    assert_eq!(screen.error, None);
    let print::Batch::Finished(summary) = &screen.batch else {
        panic!("the batch finished: {:?}", screen.batch);
    };
    assert_eq!(summary.printed, 2, "{summary:?} {:?}", screen.failures);
    assert!(screen.queue.is_empty(), "no staff order is left");
    assert!(shows(&app, "Printed (2)"), "the staff cards just printed");
    assert_eq!(
        printer.commands().iter().filter(|c| *c == "Sic").count(),
        2,
        "two blanks fed: {:?}",
        printer.commands()
    );
    let store = Store::open(&database).unwrap();
    for production in &queued {
        let expected = if staff.contains(&production.id) {
            ProductionStatus::Produced
        } else {
            ProductionStatus::ToBeProduced
        };
        assert_eq!(
            store.get_production(production.id).unwrap().status,
            expected,
            "#{}",
            production.id
        );
    }

    // All types again: the student and doctoral orders are still queued.
    let all = print::TypeChoice::all(Language::En)[0];
    assert_eq!(all.card_type, None);
    send(
        &runtime,
        &mut app,
        Message::Print(print::Message::PickType(all)),
    );
    assert!(shows(&app, "Print queue (3)"));
    assert!(shows(&app, "Printed (3)"));
    assert!(shows(&app, "Print the queue"));
    drop(printer);
    drop(reader);
}
