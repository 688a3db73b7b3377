//! The print station's screen driven headlessly (iced_test simulator, tiny-skia): the
//! queue of the demo store, the preview of the selected card, and who may start a batch.
//! Tasks run for real, as in tests/ui_desk.rs.

#![cfg(feature = "gui")]

use cardstation::ui::{App, Message, print};
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
