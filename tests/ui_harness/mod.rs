//! What the window tests share: the simulator's settings with the embedded fonts, and a
//! runner that executes the tasks `update` returns (and the tasks their messages lead to) on
//! a tokio runtime, as the iced runtime would; widget operations (focus) are skipped.

use cardstation::ui::{App, Message, sign_in, theme};
use iced::Task;
use iced::futures::StreamExt;
use iced_test::core::Settings;
use iced_test::runtime::Action;
use iced_test::runtime::task::into_stream;
use iced_test::simulator::Simulator;

pub fn settings() -> Settings {
    Settings {
        fonts: vec![theme::REGULAR_BYTES.into(), theme::BOLD_BYTES.into()],
        default_font: theme::REGULAR,
        ..Settings::default()
    }
}

/// Runs `task` and every task its messages lead to.
pub fn settle(runtime: &tokio::runtime::Runtime, app: &mut App, task: Task<Message>) {
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

/// Sends `message` and settles what follows from it.
pub fn send(runtime: &tokio::runtime::Runtime, app: &mut App, message: Message) {
    let task = app.update(message);
    settle(runtime, app, task);
}

/// Whether the window shows `text` (one text widget's whole content).
pub fn shows(app: &App, text: &str) -> bool {
    Simulator::with_settings(settings(), app.view())
        .find(text)
        .is_ok()
}

/// Types a name and PIN into the sign-in screen and submits it.
pub fn sign_in(runtime: &tokio::runtime::Runtime, app: &mut App, name: &str, pin: &str) {
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
