//! The print station's screen driven headlessly (iced_test simulator, tiny-skia): the
//! queue of the demo store, the preview of the selected card, and who may start a batch.
//! Tasks run for real, as in tests/ui_desk.rs.

#![cfg(feature = "gui")]

use cardstation::config::{Language, Profile};
use cardstation::ui::{App, Message, print, sign_in, theme};
use iced::Task;
use iced::futures::StreamExt;
use iced_test::core::Settings;
use iced_test::runtime::Action;
use iced_test::runtime::task::into_stream;
use iced_test::simulator::Simulator;

fn settings() -> Settings {
    Settings {
        fonts: vec![theme::REGULAR_BYTES.into(), theme::BOLD_BYTES.into()],
        default_font: theme::REGULAR,
        ..Settings::default()
    }
}

/// Runs `task` and every task its messages lead to.
fn settle(runtime: &tokio::runtime::Runtime, app: &mut App, task: Task<Message>) {
    let mut pending = vec![task];
    while let Some(task) = pending.pop() {
        let Some(stream) = into_stream(task) else {
            continue;
        };
        let actions: Vec<Action<Message>> = runtime.block_on(stream.collect());
        for action in actions {
            if let Action::Output(message) = action {
                pending.push(app.update(message));
            }
        }
    }
}

fn send(runtime: &tokio::runtime::Runtime, app: &mut App, message: Message) {
    let task = app.update(message);
    settle(runtime, app, task);
}

fn shows(app: &App, text: &str) -> bool {
    Simulator::with_settings(settings(), app.view())
        .find(text)
        .is_ok()
}

fn sign_in(runtime: &tokio::runtime::Runtime, app: &mut App, name: &str, pin: &str) {
    send(
        runtime,
        app,
        Message::SignIn(sign_in::Message::Name(name.into())),
    );
    send(
        runtime,
        app,
        Message::SignIn(sign_in::Message::Pin(pin.into())),
    );
    send(runtime, app, Message::SignIn(sign_in::Message::Submit));
}

#[test]
fn the_print_station_shows_the_queue_with_a_preview_and_only_printers_start_a_batch() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("print.sqlite");
    let mut profile = Profile::demo();
    profile.role = cardstation::config::Role::Print;
    profile.ui.language = Some(Language::En);
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
    let ui = Simulator::with_settings(settings(), app.view());
    drop(ui);
    let preview_sides = app.print.as_ref().unwrap().preview_sides();
    assert!(preview_sides >= 1, "the selected card is drawn");
}
