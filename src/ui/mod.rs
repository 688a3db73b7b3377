//! The iced window. Screens own their State / Message / update / view; a screen whose news
//! the root must act on (a signed-in operator, a changed store, a closed kiosk) returns it as
//! an `Event` from update, so the root never looks inside a screen's messages. The root routes
//! messages, runs store and card work as Tasks on blocking threads ([`blocking`], [`Db::run`]),
//! and listens to the reader watcher, the keyboard, a status timer and (with a `[server]`)
//! the background sync worker ([`sync`]) as Subscriptions.

pub mod desk;
pub mod holograms;
pub mod i18n;
pub mod kiosk;
pub mod photo;
pub mod print;
pub mod readers;
pub mod reason_ask;
pub mod settings;
pub mod sign_in;
pub mod status;
pub mod sync;
pub mod theme;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use iced::futures::SinkExt;
use iced::widget::{button, column, container, row, space, text};
use iced::{Element, Length, Subscription, Task};

use crate::card::pcsc::{self, PcscTransport, ReaderWatcher};
use crate::card::{Connect, ReaderEvent, Transport, TransportError};
use crate::config::{Language, Profile, Role};
use crate::error::Failure;
use crate::station::auth::Session;
use crate::station::desk::DeskSetup;
use crate::store::Store;
use i18n::{Text, t};

/// How the window ended, for the process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Closed by its user (every role but the kiosk, which ignores close requests).
    Closed,
    /// The kiosk's administrator exit: the kiosk unit must leave it stopped
    /// ([`kiosk::ADMIN_EXIT_STATUS`]).
    AdminExit,
}

/// Starts the window in the profile's role, and says how it ended.
pub fn run(profile: Profile, db: Option<PathBuf>) -> Result<Ended, iced::Error> {
    let scale = profile.ui.scale;
    let window = window_settings(profile.role);
    let admin_exit = Arc::new(AtomicBool::new(false));
    let exited = admin_exit.clone();
    iced::application(
        move || {
            let (mut app, task) = App::boot(profile.clone(), db.clone());
            app.admin_exit = exited.clone();
            (app, task)
        },
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
    .window(window)
    .run()?;
    Ok(if admin_exit.load(Ordering::SeqCst) {
        Ended::AdminExit
    } else {
        Ended::Closed
    })
}

/// The desk and the print station open a window of their own; the kiosk takes the whole
/// screen, with no title bar to close it by, and ignores close requests (Alt+F4, the window
/// manager's close): a passer-by must not be able to stop it.
fn window_settings(role: Role) -> iced::window::Settings {
    let desk = iced::window::Settings {
        size: iced::Size::new(1180.0, 760.0),
        ..iced::window::Settings::default()
    };
    match role {
        Role::Kiosk => iced::window::Settings {
            fullscreen: true,
            decorations: false,
            resizable: false,
            closeable: false,
            minimizable: false,
            exit_on_close_request: false,
            ..desk
        },
        Role::Issuance | Role::Print => desk,
    }
}

/// Fullscreen is a request the window manager carries out; a kiosk session with no window
/// manager (X started with the kiosk alone) would leave the window at its first size in the
/// corner. Sizing the window to its monitor covers the screen either way.
fn cover_the_monitor<T: Send + 'static>() -> Task<T> {
    iced::window::latest().and_then(|id| {
        iced::window::monitor_size(id).and_then(move |size| iced::window::resize(id, size))
    })
}

/// How long the desk waits for another program (the reader list reading a UID while the
/// Readers tab is open, another station's tool) to let go of the card.
const BUSY_WAIT: Duration = Duration::from_secs(1);

/// A worker thread that ended without an answer (it panicked).
pub fn stopped(thread: &str) -> Failure {
    Failure::new(
        format!("the {thread} thread stopped"),
        "see the log, then restart the station",
    )
    .with_polish(
        format!("Wątek {thread} się zatrzymał."),
        "Sprawdź dziennik, potem uruchom stanowisko ponownie.",
    )
}

/// A failure's cause and next step in `language` (English where it has no Polish).
pub fn in_language(failure: &Failure, language: Language) -> (&str, &str) {
    match language {
        Language::Pl => failure.in_polish(),
        Language::En => (&failure.cause, &failure.next_step),
    }
}

/// A failure as the window shows it, in the window's language: "what went wrong. what to do
/// next" (the command line prints the English [`Failure::report`]).
pub fn problem(language: Language, failure: &Failure) -> String {
    let (cause, next_step) = in_language(failure, language);
    let cause = cause.trim_end_matches('.');
    if next_step.is_empty() {
        format!("{cause}.")
    } else {
        format!("{cause}. {next_step}")
    }
}

/// The store connection the window's tasks share. Every use runs on a blocking thread.
#[derive(Clone)]
pub struct Db(Arc<Mutex<Store>>);

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Db")
    }
}

impl Db {
    pub fn new(store: Store) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    /// Waits for the connection; called on blocking threads only.
    pub fn lock(&self) -> Result<MutexGuard<'_, Store>, Failure> {
        self.0.lock().map_err(|_| {
            Failure::new("an earlier store task failed", "restart the station").with_polish(
                "Wcześniejsza czynność na bazie nie powiodła się.",
                "Uruchom stanowisko ponownie.",
            )
        })
    }

    /// Runs `work` with the store on a blocking thread. Every way it can fail (the work's
    /// own error, an unusable connection, a stopped thread) comes back as one [`Failure`]:
    /// the cause and the next step. The future owns what it needs, so it goes straight into
    /// `Task::perform`.
    pub fn run<T, E, W>(&self, work: W) -> impl Future<Output = Result<T, Failure>> + use<T, E, W>
    where
        W: FnOnce(&mut Store) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<Failure> + Send + 'static,
    {
        let db = self.clone();
        blocking("store", move || {
            let mut store = db.lock()?;
            work(&mut store).map_err(Into::into)
        })
    }
}

/// Runs `work` on tokio's blocking pool, so the window never waits on SQLite, a card or a
/// file. A thread that ends without an answer (it panicked) comes back as [`stopped`].
pub async fn blocking<T: Send + 'static>(
    thread: &'static str,
    work: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| Err(stopped(thread)))
}

/// Where the desk finds the card it writes: the profile's contact reader through pcscd (and
/// its contactless reader, when it names one of its own), or (in tests) a card reached some
/// other way, such as a simulated card in-process.
#[derive(Clone)]
pub enum CardAccess {
    Reader {
        contact: Option<String>,
        /// Only a contactless reader apart from the contact one (see
        /// [`crate::config::Readers::separate_contactless`]).
        contactless: Option<String>,
    },
    Direct(Connect),
}

impl fmt::Debug for CardAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardAccess::Reader {
                contact,
                contactless,
            } => write!(f, "Reader({contact:?}, {contactless:?})"),
            CardAccess::Direct(_) => f.write_str("Direct"),
        }
    }
}

impl CardAccess {
    /// Connects to the card, exclusively: nothing else may talk to it mid-write. A reader held
    /// by someone else (the Readers tab reading a UID) is waited for briefly.
    pub fn connect(&self) -> Result<Box<dyn Transport>, TransportError> {
        match self {
            CardAccess::Direct(connect) => connect(),
            CardAccess::Reader { contact, .. } => connect_exclusive(contact.as_deref()),
        }
    }

    /// The contactless reader's own connection, when it is a reader apart from the contact
    /// one; `None` when [`CardAccess::connect`] reaches both chips.
    pub fn connect_contactless(&self) -> Result<Option<Box<dyn Transport>>, TransportError> {
        match self {
            CardAccess::Reader {
                contactless: Some(contactless),
                ..
            } => connect_exclusive(Some(contactless)).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether a reader event concerns the card the desk writes.
    pub fn is_contact_reader(&self, reader: &str) -> bool {
        match self {
            CardAccess::Reader {
                contact: Some(filter),
                ..
            } => reader.to_lowercase().contains(&filter.to_lowercase()),
            CardAccess::Reader { contact: None, .. } => true,
            CardAccess::Direct(_) => true,
        }
    }
}

/// The card on the reader `filter` names, connected exclusively: nothing else may talk to it
/// mid-write. A reader held by someone else (the Readers tab reading a UID) is waited for
/// briefly.
fn connect_exclusive(filter: Option<&str>) -> Result<Box<dyn Transport>, TransportError> {
    let reader = pcsc::choose_reader(filter)?;
    if !reader.card_present {
        return Err(TransportError::NoCard(reader.name));
    }
    Ok(Box::new(PcscTransport::connect_exclusive(
        &reader.name,
        BUSY_WAIT,
    )?))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Work,
    Readers,
    Settings,
}

pub struct App {
    pub profile: Profile,
    pub database: PathBuf,
    pub language: Language,
    pub readers: readers::Readers,
    /// The kiosk screen, in the kiosk role.
    pub kiosk: Option<kiosk::Kiosk>,
    pub db: Option<Result<Db, Failure>>,
    pub tab: Tab,
    pub sign_in: sign_in::SignIn,
    pub session: Option<Session>,
    pub desk: Option<desk::Desk>,
    pub print: Option<print::PrintScreen>,
    pub settings: settings::Settings,
    pub status: status::Status,
    /// The background sync worker, as the status bar shows it.
    pub sync: sync::Background,
    /// Where the desk writes cards; tests swap in a simulated card.
    pub card_access: CardAccess,
    /// Set by the kiosk's administrator exit; [`run`] reads it once the window has closed.
    pub admin_exit: Arc<AtomicBool>,
}

#[derive(Debug, Clone)]
pub enum Message {
    /// From the reader watcher: the list, the kiosk and the desk each follow it.
    Reader(ReaderEvent),
    Readers(readers::Message),
    Kiosk(kiosk::Message),
    StoreOpened(Result<Db, Failure>),
    SignIn(sign_in::Message),
    Desk(desk::Message),
    Print(print::Message),
    Settings(settings::Message),
    Status(status::Message),
    Sync(sync::Message),
    Tab(Tab),
    ToggleLanguage,
    SignOut,
    Key(iced::keyboard::Key),
    /// Alt+F4 or the window manager's close, in the kiosk: ignored.
    CloseRequested,
}

impl App {
    pub fn boot(profile: Profile, db: Option<PathBuf>) -> (Self, Task<Message>) {
        let database = profile.database_path(db.as_deref());
        let language = profile.ui.language.unwrap_or_else(i18n::system_language);
        let (kiosk, kiosk_task, open_task) = match profile.role {
            Role::Kiosk => {
                let (kiosk, task) = kiosk::Kiosk::boot(&profile, database.clone());
                (Some(kiosk), task.map(Message::Kiosk), cover_the_monitor())
            }
            _ => (
                None,
                Task::none(),
                Task::perform(
                    open_store(database.clone(), profile.demo.is_some()),
                    Message::StoreOpened,
                ),
            ),
        };
        let card_access = CardAccess::Reader {
            contact: profile.readers.contact.clone(),
            contactless: profile.readers.separate_contactless().map(str::to_owned),
        };
        let app = Self {
            status: status::Status::new(&profile),
            profile,
            database,
            language,
            readers: readers::Readers::default(),
            kiosk,
            db: None,
            tab: Tab::Work,
            sign_in: sign_in::SignIn::default(),
            session: None,
            desk: None,
            print: None,
            settings: settings::Settings::default(),
            sync: sync::Background::default(),
            card_access,
            admin_exit: Arc::default(),
        };
        let focus = iced::widget::operation::focus(sign_in::NAME_ID);
        (app, Task::batch([kiosk_task, open_task, focus]))
    }

    /// "Cardstation: " and the station's role, in the window's language.
    pub fn title(&self) -> String {
        format!("Cardstation: {}", role_name(&self.profile, self.language))
    }

    fn ready_db(&self) -> Option<&Db> {
        self.db.as_ref().and_then(|db| db.as_ref().ok())
    }

    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::Reader(event) => Task::batch([
                self.update(Message::Kiosk(kiosk::Message::Reader(event.clone()))),
                self.update(Message::Desk(desk::Message::Reader(event.clone()))),
                self.update(Message::Readers(readers::Message::Reader(event))),
            ]),
            Message::Readers(message) => {
                // Reading a UID connects to the card: only while the list is on screen (never
                // in the kiosk), not under the desk's or the kiosk's own connection.
                let shown = self.tab == Tab::Readers && self.kiosk.is_none();
                self.readers.update(message, shown).map(Message::Readers)
            }
            Message::Kiosk(message) => {
                let Some(kiosk) = &mut self.kiosk else {
                    return Task::none();
                };
                let (task, event) = kiosk.update(message);
                let task = task.map(Message::Kiosk);
                match event {
                    Some(kiosk::Event::Exit) => {
                        tracing::info!("the kiosk was closed by an administrator");
                        self.admin_exit.store(true, Ordering::SeqCst);
                        Task::batch([task, iced::exit()])
                    }
                    None => task,
                }
            }
            Message::StoreOpened(result) => {
                let refresh = match &result {
                    Ok(db) => status::refresh(db.clone()).map(Message::Status),
                    Err(_) => Task::none(),
                };
                self.db = Some(result);
                refresh
            }
            Message::SignIn(message) => {
                let db = self.ready_db().cloned();
                let (task, event) = self.sign_in.update(message, db.as_ref());
                let task = task.map(Message::SignIn);
                match (event, db) {
                    (Some(sign_in::Event::SignedIn(operator)), Some(db)) => {
                        Task::batch([task, self.start_session(operator, db)])
                    }
                    _ => task,
                }
            }
            Message::Desk(message) => {
                let Some(desk) = &mut self.desk else {
                    return Task::none();
                };
                let (task, event) = desk.update(message);
                let task = task.map(Message::Desk);
                match (event, self.ready_db()) {
                    (Some(desk::Event::StoreChanged), Some(db)) => {
                        self.sync.push();
                        Task::batch([task, status::refresh(db.clone()).map(Message::Status)])
                    }
                    _ => task,
                }
            }
            Message::Print(message) => {
                // A printed, reprinted, cancelled or withdrawn card moves its production and
                // card on: the server hears it now.
                if matches!(
                    message,
                    print::Message::Event(
                        crate::station::print::PrintEvent::Printed { .. }
                            | crate::station::print::PrintEvent::Finished(_)
                    ) | print::Message::Changed(Ok(_))
                ) {
                    self.sync.push();
                }
                match &mut self.print {
                    Some(print) => print.update(message).map(Message::Print),
                    None => Task::none(),
                }
            }
            Message::Settings(message) => match self.ready_db() {
                Some(db) => self
                    .settings
                    .update(message, db.clone())
                    .map(Message::Settings),
                None => Task::none(),
            },
            Message::Status(status::Message::SyncNow) => {
                self.update(Message::Sync(sync::Message::SyncNow))
            }
            Message::Status(message) => {
                // Any screen's change that grew the outbox is pushed, not only those the
                // screens announce.
                if let (status::Message::Counted(Ok(counted)), Some(Ok(shown))) =
                    (&message, &self.status.store)
                    && counted.outbox_pending > shown.outbox_pending
                {
                    self.sync.push();
                }
                let db = self.ready_db().cloned();
                self.status.update(message, db).map(Message::Status)
            }
            Message::Sync(message) => {
                if let Some(summary) = self.sync.update(message) {
                    self.status.store = Some(Ok(summary));
                }
                Task::none()
            }
            Message::Tab(tab) => {
                self.tab = tab;
                match (tab, self.ready_db()) {
                    (Tab::Settings, Some(db)) => self
                        .settings
                        .update(settings::Message::Load, db.clone())
                        .map(Message::Settings),
                    (Tab::Readers, _) => self.readers.read_unread().map(Message::Readers),
                    _ => Task::none(),
                }
            }
            Message::ToggleLanguage => {
                self.language = self.language.other();
                Task::none()
            }
            Message::SignOut => {
                self.status.operator = None;
                if let (Some(session), Some(db)) = (self.session.take(), self.ready_db()) {
                    let db = db.clone();
                    self.desk = None;
                    self.print = None;
                    self.tab = Tab::Work;
                    return Task::perform(
                        async move {
                            let logged = db
                                .run(move |store| {
                                    store.audit_append(
                                        &session.operator,
                                        "operator.sign_out",
                                        &format!("operator:{}", session.operator),
                                        &serde_json::json!({}),
                                    )
                                })
                                .await;
                            if let Err(err) = logged {
                                tracing::error!(%err, "the sign-out could not be logged");
                            }
                        },
                        |()| Message::Tab(Tab::Work),
                    )
                    .chain(iced::widget::operation::focus(sign_in::NAME_ID));
                }
                Task::none()
            }
            Message::Key(key) => {
                use iced::keyboard::{Key, key::Named};
                match (&self.desk, self.tab, key) {
                    (Some(_), Tab::Work, Key::Named(Named::ArrowDown)) => {
                        self.update(Message::Desk(desk::Message::Move(1)))
                    }
                    (Some(_), Tab::Work, Key::Named(Named::ArrowUp)) => {
                        self.update(Message::Desk(desk::Message::Move(-1)))
                    }
                    _ => Task::none(),
                }
            }
            Message::CloseRequested => {
                tracing::info!(
                    "a close request (Alt+F4, the window manager) was ignored: only the administrator's exit (Escape, admin PIN) ends the kiosk"
                );
                Task::none()
            }
        }
    }

    /// A signed-in operator gets the screen of the station's role.
    fn start_session(&mut self, operator: crate::store::Operator, db: Db) -> Task<Message> {
        let session = Session::signed_in(operator, self.profile.role);
        self.status.operator = Some(session.clone());
        self.session = Some(session.clone());
        self.tab = Tab::Work;
        if self.profile.role == Role::Print {
            let (print, task) =
                print::PrintScreen::new(db, self.database.clone(), session, self.profile.clone());
            self.print = Some(print);
            return task.map(Message::Print);
        }
        if self.profile.role != Role::Issuance {
            return Task::none();
        }
        let profile = self.profile.clone();
        let setup = Task::perform(
            blocking("set-up", move || {
                DeskSetup::for_desk(&profile, &crate::config::data_dir())
                    .map(Arc::new)
                    .map_err(Failure::from)
            }),
            std::convert::identity,
        );
        let (desk, task) =
            desk::Desk::new(db, session, self.card_access.clone(), &self.profile, setup);
        self.desk = Some(desk);
        task.map(Message::Desk)
    }

    pub fn view(&self) -> Element<'_, Message> {
        let language = self.language;
        if let Some(kiosk) = &self.kiosk {
            return kiosk.view(language).map(Message::Kiosk);
        }
        let tab_button = |tab: Tab, label: Text| {
            button(text(t(language, label)))
                .style(if self.tab == tab {
                    button::primary
                } else {
                    button::text
                })
                .on_press(Message::Tab(tab))
        };
        let mut header = row![
            text("Cardstation")
                .size(theme::TITLE_SIZE)
                .font(theme::BOLD),
            text(role_name(&self.profile, language))
                .size(theme::HEADING_SIZE)
                .color(theme::MUTED),
            space::horizontal(),
            tab_button(Tab::Work, Text::TabWork),
            tab_button(Tab::Readers, Text::TabReaders),
        ]
        .spacing(14)
        .align_y(iced::Alignment::Center);
        if self.session.is_some() {
            header = header.push(tab_button(Tab::Settings, Text::TabSettings));
        }
        header = header.push(
            button(text(t(language, Text::Language)))
                .style(button::secondary)
                .on_press(Message::ToggleLanguage),
        );
        let body: Element<'_, Message> = match self.tab {
            Tab::Readers => {
                let mut page = column![].spacing(18);
                if let Some(demo) = self.demo_line(language) {
                    page = page.push(demo);
                }
                page = page.push(self.readers.view(language).map(Message::Readers));
                page.into()
            }
            Tab::Settings => self
                .settings
                .view(&self.profile, &self.database, language)
                .map(Message::Settings),
            Tab::Work => self.work_view(language),
        };
        let bar = self
            .status
            .view(&self.readers, &self.sync, language)
            .map(Message::Status);
        let mut bar_row = row![bar].align_y(iced::Alignment::Center).spacing(10);
        if self.session.is_some() {
            bar_row = bar_row.push(
                button(text(t(language, Text::SignOut)).size(theme::SMALL_SIZE))
                    .style(button::secondary)
                    .on_press(Message::SignOut),
            );
        }
        container(column![header, container(body).height(Length::Fill), bar_row].spacing(16))
            .padding(20)
            .width(Length::Fill)
            .height(Length::Fill)
            .into()
    }

    fn work_view(&self, language: Language) -> Element<'_, Message> {
        match &self.db {
            None => return text(t(language, Text::OpeningStore)).into(),
            Some(Err(err)) => {
                return text(format!(
                    "{} {}",
                    t(language, Text::StoreProblem),
                    problem(language, err)
                ))
                .color(theme::PROBLEM)
                .into();
            }
            Some(Ok(_)) => {}
        }
        if self.session.is_none() {
            return self
                .sign_in
                .view(language, self.profile.demo.is_some())
                .map(Message::SignIn);
        }
        match (&self.desk, &self.print) {
            (Some(desk), _) => desk.view(language).map(Message::Desk),
            (None, Some(print)) => print.view(language).map(Message::Print),
            (None, None) => column![self.readers.view(language).map(Message::Readers)].into(),
        }
    }

    /// The demo's card is put into the virtual reader by `cardstation-sim` (scripts/demo.sh),
    /// not by the window: the station binary holds no simulator. The line says whether the
    /// demo's reader has a card.
    fn demo_line(&self, language: Language) -> Option<Element<'_, Message>> {
        let demo = self.profile.demo.as_ref()?;
        let filter = self
            .profile
            .readers
            .contact
            .as_deref()
            .unwrap_or_default()
            .to_lowercase();
        let card_in_reader = self
            .readers
            .readers
            .iter()
            .any(|(name, card)| name.to_lowercase().contains(&filter) && card.is_some());
        let line = if card_in_reader {
            text(format!(
                "{} {} {}",
                t(language, Text::DemoModeSimulatedCard),
                demo.simulated_card_uid.to_uppercase(),
                t(language, Text::IsInTheVirtualReader),
            ))
            .color(theme::OK)
        } else {
            text(format!(
                "{} {}",
                t(language, Text::DemoModeTheSimulatedCard),
                t(language, Text::DemoStartTheSimulator),
            ))
            .color(theme::PROBLEM)
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
        let readers = Subscription::run(reader_events).map(Message::Reader);
        let sync = sync::subscription(&self.profile, &self.database)
            .map(|worker| worker.map(|report| Message::Sync(sync::Message::Worker(report))))
            .unwrap_or_else(Subscription::none);
        if let Some(kiosk) = &self.kiosk {
            // The kiosk's window does not close on request (see `window_settings`): the
            // requests are only logged.
            let close_requests = iced::window::close_requests().map(|_| Message::CloseRequested);
            return Subscription::batch([
                readers,
                kiosk.subscription().map(Message::Kiosk),
                close_requests,
                sync,
            ]);
        }
        let keys = iced::keyboard::listen().filter_map(|event| match event {
            iced::keyboard::Event::KeyPressed { key, .. } => Some(Message::Key(key)),
            _ => None,
        });
        let status =
            iced::time::every(status::REFRESH).map(|_| Message::Status(status::Message::Tick));
        Subscription::batch([readers, keys, status, sync])
    }
}

/// Opens the store; the demo profile fills an empty one with its students and operators.
pub async fn open_store(path: PathBuf, demo: bool) -> Result<Db, Failure> {
    blocking("store", move || {
        let mut store = Store::open(&path).map_err(Failure::from)?;
        if demo {
            crate::station::demo::seed(&mut store).map_err(Failure::from)?;
        }
        Ok(Db::new(store))
    })
    .await
}

fn role_name(profile: &Profile, language: Language) -> &'static str {
    match profile.role {
        Role::Issuance => t(language, Text::IssuanceDesk),
        Role::Print => t(language, Text::PrintStation),
        Role::Kiosk => t(language, Text::ValidationKiosk),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_kiosk_window_is_fullscreen_undecorated_and_deaf_to_close_requests() {
        let kiosk = window_settings(Role::Kiosk);
        assert!(kiosk.fullscreen && !kiosk.decorations && !kiosk.exit_on_close_request);
        for role in [Role::Issuance, Role::Print] {
            let desk = window_settings(role);
            assert!(!desk.fullscreen && desk.decorations && desk.exit_on_close_request);
            assert_eq!(desk.size, iced::Size::new(1180.0, 760.0));
        }
    }

    #[test]
    fn only_the_administrators_exit_marks_the_kiosk_as_ended_by_the_administrator() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile {
            role: Role::Kiosk,
            ..Profile::demo()
        };
        let (mut app, _boot) = App::boot(profile, Some(dir.path().join("kiosk.sqlite")));
        let _ = app.update(Message::CloseRequested);
        let _ = app.update(Message::Kiosk(kiosk::Message::AskExit));
        let _ = app.update(Message::Kiosk(kiosk::Message::ExitChecked(Err(
            Failure::new("wrong PIN", "type it again"),
        ))));
        assert!(!app.admin_exit.load(Ordering::SeqCst));
        let _ = app.update(Message::Kiosk(kiosk::Message::ExitChecked(Ok(()))));
        assert!(app.admin_exit.load(Ordering::SeqCst));
    }

    #[test]
    fn every_store_failure_reads_as_its_cause_then_the_next_step() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let db = Db::new(Store::open_in_memory().unwrap());
        let err = runtime
            .block_on(db.run(|store| store.get_person(999)))
            .unwrap_err();
        assert_eq!(
            err.line(),
            "no person with id 999. check the id (it may have been removed by a sync)"
        );
        assert_eq!(err.key, "StoreError.NotFound");
        // Work that panics leaves the connection unusable, and says so the same way.
        let _ = runtime.block_on(db.run(|_| -> Result<(), Failure> { panic!("a bug") }));
        assert_eq!(
            runtime
                .block_on(db.run(|store| store.get_person(1)))
                .unwrap_err()
                .line(),
            "an earlier store task failed. restart the station"
        );
    }
}
