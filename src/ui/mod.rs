//! The iced window. Screens own their State / Message / update / view; the root routes
//! messages, runs blocking work as Tasks and listens to the reader watcher as a Subscription.

pub mod i18n;
pub mod kiosk;
pub mod readers;
pub mod theme;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iced::futures::SinkExt;
use iced::widget::{column, container, row, text};
use iced::{Element, Length, Subscription, Task};

use crate::card::ReaderEvent;
use crate::card::pcsc::ReaderWatcher;
use crate::config::{Language, Profile, Role};
use crate::sim::vpcd::{self, InsertedCard};
use crate::sim::{self, ElsCard, ElsCardState, Faults};
use i18n::tr;

/// Starts the window in the profile's role.
pub fn run(profile: Profile, db: Option<PathBuf>) -> iced::Result {
    let scale = profile.ui.scale;
    iced::application(
        move || App::boot(profile.clone(), db.clone()),
        App::update,
        App::view,
    )
    .title(App::title)
    .subscription(App::subscription)
    .theme(|_: &App| theme::theme())
    .scale_factor(move |_| scale)
    .font(theme::REGULAR_BYTES)
    .font(theme::BOLD_BYTES)
    .default_font(theme::REGULAR)
    .window_size((900.0, 620.0))
    .run()
}

/// The demo's simulated card, kept in the reader for as long as the window lives.
#[derive(Clone)]
pub struct DemoCard {
    _in_reader: Arc<InsertedCard>,
}

impl fmt::Debug for DemoCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DemoCard")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Demo {
    /// The profile has no demo card.
    Off,
    Inserting,
    Inserted {
        uid: String,
    },
    Unavailable {
        reason: String,
    },
}

pub struct App {
    pub profile: Profile,
    pub database: PathBuf,
    pub readers: readers::Readers,
    /// The kiosk screen, in the kiosk role.
    pub kiosk: Option<kiosk::Kiosk>,
    pub demo: Demo,
    demo_card: Option<DemoCard>,
}

#[derive(Debug, Clone)]
pub enum Message {
    Readers(readers::Message),
    Kiosk(kiosk::Message),
    DemoCard(Result<DemoCard, String>),
}

impl App {
    pub fn boot(profile: Profile, db: Option<PathBuf>) -> (Self, Task<Message>) {
        let database = profile.database_path(db.as_deref());
        let (demo, task) = match &profile.demo {
            None => (Demo::Off, Task::none()),
            Some(settings) => {
                let uid = settings.simulated_card_uid.clone();
                let port = settings.simulated_card_port;
                (
                    Demo::Inserting,
                    Task::perform(insert_demo_card(uid, port), Message::DemoCard),
                )
            }
        };
        let (kiosk, kiosk_task) = match profile.role {
            Role::Kiosk => {
                let (kiosk, task) = kiosk::Kiosk::boot(&profile, database.clone());
                (Some(kiosk), task.map(Message::Kiosk))
            }
            _ => (None, Task::none()),
        };
        let app = Self {
            profile,
            database,
            readers: readers::Readers::default(),
            kiosk,
            demo,
            demo_card: None,
        };
        (app, Task::batch([task, kiosk_task]))
    }

    pub fn title(&self) -> String {
        format!("Cardstation: {}", self.profile.role)
    }

    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Readers(message) => {
                // The kiosk reacts to the same reader events the reader list shows.
                let for_kiosk = match (&mut self.kiosk, &message) {
                    (Some(kiosk), readers::Message::Reader(event)) => kiosk
                        .update(kiosk::Message::Reader(event.clone()))
                        .map(Message::Kiosk),
                    _ => Task::none(),
                };
                Task::batch([
                    self.readers.update(message).map(Message::Readers),
                    for_kiosk,
                ])
            }
            Message::Kiosk(message) => match &mut self.kiosk {
                Some(kiosk) => kiosk.update(message).map(Message::Kiosk),
                None => Task::none(),
            },
            Message::DemoCard(Ok(card)) => {
                let uid = self
                    .profile
                    .demo
                    .as_ref()
                    .map(|d| d.simulated_card_uid.to_uppercase())
                    .unwrap_or_default();
                self.demo = Demo::Inserted { uid };
                self.demo_card = Some(card);
                Task::none()
            }
            Message::DemoCard(Err(reason)) => {
                self.demo = Demo::Unavailable { reason };
                Task::none()
            }
        }
    }

    pub fn view(&self) -> Element<'_, Message> {
        let language = self.profile.ui.language;
        if let Some(kiosk) = &self.kiosk {
            return kiosk.view(language).map(Message::Kiosk);
        }
        let header = row![
            text("Cardstation")
                .size(theme::TITLE_SIZE)
                .font(theme::BOLD),
            text(role_name(&self.profile, language))
                .size(theme::HEADING_SIZE)
                .color(theme::MUTED),
        ]
        .spacing(14)
        .align_y(iced::Alignment::Center);
        let mut page = column![header].spacing(18);
        if let Some(demo) = self.demo_line(language) {
            page = page.push(demo);
        }
        page = page.push(self.readers.view(language).map(Message::Readers));
        page = page.push(
            text(format!(
                "{}: {}",
                tr(language, "Baza danych", "Database"),
                self.database.display()
            ))
            .size(theme::SMALL_SIZE)
            .color(theme::MUTED),
        );
        container(page)
            .padding(24)
            .width(Length::Fill)
            .height(Length::Fill)
            .into()
    }

    fn demo_line(&self, language: Language) -> Option<Element<'_, Message>> {
        let line = match &self.demo {
            Demo::Off => return None,
            Demo::Inserting => text(tr(
                language,
                "Wkładanie karty symulowanej…",
                "Inserting the simulated card…",
            )),
            Demo::Inserted { uid } => text(format!(
                "{} {uid} {}",
                tr(
                    language,
                    "Tryb demo: karta symulowana",
                    "Demo mode: simulated card"
                ),
                tr(
                    language,
                    "jest w czytniku wirtualnym.",
                    "is in the virtual reader."
                ),
            ))
            .color(theme::OK),
            Demo::Unavailable { reason } => text(format!(
                "{} {reason}",
                tr(
                    language,
                    "Tryb demo: nie włożono karty symulowanej:",
                    "Demo mode: the simulated card is not inserted:"
                ),
            ))
            .color(theme::PROBLEM),
        };
        Some(
            container(line)
                .padding(10)
                .width(Length::Fill)
                .style(container::rounded_box)
                .into(),
        )
    }

    pub fn subscription(&self) -> Subscription<Message> {
        Subscription::run(reader_events)
            .map(|event| Message::Readers(readers::Message::Reader(event)))
    }
}

fn role_name(profile: &Profile, language: Language) -> &'static str {
    match profile.role {
        Role::Issuance => tr(language, "Stanowisko wydawania", "Issuance desk"),
        Role::Print => tr(language, "Stanowisko druku", "Print station"),
        Role::Kiosk => tr(language, "Kiosk weryfikacji", "Validation kiosk"),
    }
}

/// The reader watcher thread as a stream; dropping the subscription stops the thread.
fn reader_events() -> impl iced::futures::Stream<Item = ReaderEvent> {
    iced::stream::channel(64, async |mut output| {
        let (_watcher, events) = ReaderWatcher::spawn();
        while let Ok(event) = events.recv().await {
            if output.send(event).await.is_err() {
                break;
            }
        }
    })
}

async fn insert_demo_card(uid_hex: String, port: u16) -> Result<DemoCard, String> {
    let uid =
        hex::decode(&uid_hex).map_err(|_| format!("the profile's UID {uid_hex} is not hex"))?;
    let inserted = tokio::task::spawn_blocking(move || {
        let card = sim::shared(ElsCard::new(ElsCardState::blank(&uid)));
        vpcd::insert(card, port, Faults::default(), Duration::from_secs(3))
    })
    .await
    .map_err(|_| "the simulator thread stopped".to_owned())?;
    inserted
        .map(|card| DemoCard {
            _in_reader: Arc::new(card),
        })
        .map_err(|err| err.to_string())
}
