//! What the window tests and the desk typing benchmark share: the English demo profile, the
//! simulator's settings with the embedded fonts, and a runner that executes the tasks
//! `update` returns (and the tasks their messages lead to) on a tokio runtime, as the iced
//! runtime would; widget operations (focus) are skipped.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use cardstation::config::{CardReady, Language, Profile, Usos};
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::ui::{App, Message, sign_in, status, sync, theme};
use iced::Task;
use iced::futures::StreamExt;
use iced_test::core::Settings;
use iced_test::runtime::Action;
use iced_test::runtime::task::into_stream;
use iced_test::simulator::Simulator;

/// The demo profile in English, the language the tests read the window in.
pub fn english_demo() -> Profile {
    let mut profile = Profile::demo();
    profile.ui.language = Some(Language::En);
    profile
}

/// The English demo profile signing with a demo signer made in `dir` (the demo's own goes
/// into the data directory, which the tests must not share), the card key master read from
/// the variable `card_key_var`.
pub fn english_demo_signing_in(dir: &Path, card_key_var: &str) -> Profile {
    let mut profile = english_demo();
    let (key, cert) = cardstation::station::demo::ensure_signer(dir).unwrap();
    let els = profile.els.as_mut().unwrap();
    els.signer_key = Some(key);
    els.signer_cert = Some(cert);
    els.card_key_env = Some(card_key_var.to_owned());
    profile
}

/// `[usos]` for the reference server at `url`, the consumer read from `key_var` and
/// `secret_var`, AES write keys and the default "card ready" texts.
/// The variables the demo profile's `[desfire]` names, with `scripts/demo.sh`'s values: the
/// desk loads its DESFire issue keys with the ELS signer. Set them before any thread starts.
pub const DEMO_DESFIRE_KEYS: [(&str, &str); 2] = [
    (
        "CARDSTATION_DEMO_DESFIRE_KEY",
        "00112233445566778899AABBCCDDEEFF",
    ),
    (
        "CARDSTATION_DEMO_DESFIRE_READ_KEY",
        "F0E1D2C3B4A5968778695A4B3C2D1E0F",
    ),
];

pub fn usos_settings(url: &str, key_var: &str, secret_var: &str) -> Usos {
    Usos {
        url: url.to_owned(),
        consumer_key_env: key_var.into(),
        consumer_secret_env: secret_var.into(),
        token_env: None,
        token_secret_env: None,
        card_key_type: KeyAlgorithm::Aes128,
        card_ready: CardReady::default(),
    }
}

pub fn settings() -> Settings {
    Settings {
        fonts: vec![theme::REGULAR_BYTES.into(), theme::BOLD_BYTES.into()],
        default_font: theme::REGULAR,
        ..Settings::default()
    }
}

/// Runs `task` to its end; the messages it put out.
pub fn run(runtime: &tokio::runtime::Runtime, task: Task<Message>) -> Vec<Message> {
    let Some(stream) = into_stream(task) else {
        return Vec::new();
    };
    let actions: Vec<Action<Message>> = runtime.block_on(stream.collect());
    actions
        .into_iter()
        .filter_map(|action| match action {
            Action::Output(message) => Some(message),
            _ => None,
        })
        .collect()
}

/// Runs `task` and every task its messages lead to.
pub fn settle(runtime: &tokio::runtime::Runtime, app: &mut App, task: Task<Message>) {
    let mut pending = vec![task];
    while let Some(task) = pending.pop() {
        for message in run(runtime, task) {
            pending.push(app.update(message));
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

/// The window's background sync worker (`ui::sync`), started as the window's Subscription
/// starts it; its reports go into `update` as the iced runtime would send them.
pub struct SyncWorker {
    reports: mpsc::Receiver<sync::Report>,
}

impl SyncWorker {
    pub fn start(runtime: &tokio::runtime::Runtime, app: &App) -> Self {
        let worker = sync::Worker {
            profile: Arc::new(app.profile.clone()),
            database: app.database.clone(),
        };
        let (sender, reports) = mpsc::channel();
        runtime.spawn(async move {
            let mut stream = std::pin::pin!(worker.reports());
            while let Some(report) = stream.next().await {
                if sender.send(report).is_err() {
                    return;
                }
            }
        });
        Self { reports }
    }

    /// Feeds the worker's reports, and the status bar's timer every `status::REFRESH`, into
    /// the window until `done` holds; fails the test after `deadline`.
    pub fn pump_until(
        &self,
        runtime: &tokio::runtime::Runtime,
        app: &mut App,
        what: &str,
        deadline: Duration,
        mut done: impl FnMut(&App) -> bool,
    ) {
        let until = Instant::now() + deadline;
        let mut next_tick = Instant::now() + status::REFRESH;
        while !done(app) {
            let now = Instant::now();
            assert!(now < until, "no {what} within {deadline:?}");
            if now >= next_tick {
                send(runtime, app, Message::Status(status::Message::Tick));
                next_tick = now + status::REFRESH;
            }
            if let Ok(report) = self.reports.recv_timeout(Duration::from_millis(100)) {
                send(runtime, app, Message::Sync(sync::Message::Worker(report)));
            }
        }
    }
}
