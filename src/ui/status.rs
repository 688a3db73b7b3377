//! The status bar: readers and their cards, the store's sync state (last sync, changes
//! waiting in the outbox), the background sync (a round running with its progress, the last
//! failure with its cause, next step and next try, a "Sync now" button), whether the server
//! key is a test or a live one, and who is signed in. The sync state is refreshed off the UI thread every few seconds with one cheap read
//! (`Store::sync_summary`), not the whole-table counts of `Store::status`.

use std::time::Duration;

use iced::widget::{button, column, container, row, space, text};
use iced::{Color, Element, Length, Task};

use super::i18n::{Text, t};
use super::readers::Readers;
use super::sync::{Background, Running};
use super::{Db, theme};
use crate::config::{Language, Profile, Secret};
use crate::error::Failure;
use crate::station::auth::Session;
use crate::store::{OperatorRole, Resource, SyncSummary};
use crate::sync::Phase;

pub const REFRESH: Duration = Duration::from_secs(5);

/// Which data the server key reaches, from its prefix (the key itself is never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMode {
    None,
    Test,
    Live,
    /// The key variable is unset or the key has neither prefix.
    Unknown,
}

impl ServerMode {
    pub fn of(profile: &Profile) -> Self {
        let Some(server) = &profile.server else {
            return ServerMode::None;
        };
        match Secret::lookup(&server.api_key_env) {
            Ok(key) if key.expose().starts_with("sk_test_") => ServerMode::Test,
            Ok(key) if key.expose().starts_with("sk_live_") => ServerMode::Live,
            _ => ServerMode::Unknown,
        }
    }
}

pub struct Status {
    pub store: Option<Result<SyncSummary, Failure>>,
    pub server: ServerMode,
    pub operator: Option<Session>,
}

#[derive(Debug, Clone)]
pub enum Message {
    Tick,
    Counted(Result<SyncSummary, Failure>),
    /// The "Sync now" button (the root hands it to the sync worker).
    SyncNow,
}

pub fn refresh(db: Db) -> Task<Message> {
    Task::perform(db.run(|store| store.sync_summary()), Message::Counted)
}

impl Status {
    pub fn new(profile: &Profile) -> Self {
        Self {
            store: None,
            server: ServerMode::of(profile),
            operator: None,
        }
    }

    pub fn update(&mut self, message: Message, db: Option<Db>) -> Task<Message> {
        match message {
            Message::Tick => db.map(refresh).unwrap_or_else(Task::none),
            Message::Counted(result) => {
                self.store = Some(result);
                Task::none()
            }
            Message::SyncNow => Task::none(),
        }
    }

    pub fn view<'a>(
        &'a self,
        readers: &'a Readers,
        sync: &'a Background,
        language: Language,
    ) -> Element<'a, Message> {
        let small = |line: String, colour: Color| text(line).size(theme::SMALL_SIZE).color(colour);
        let with_card = readers
            .readers
            .values()
            .filter(|card| card.is_some())
            .count();
        let readers_line = if readers.readers.is_empty() {
            small(
                format!(
                    "{}: {}",
                    t(language, Text::Readers),
                    t(language, Text::NoReader)
                ),
                theme::PROBLEM,
            )
        } else {
            small(
                format!(
                    "{}: {} · {}: {with_card}",
                    t(language, Text::Readers),
                    readers.readers.len(),
                    t(language, Text::CardIn)
                ),
                theme::MUTED,
            )
        };
        let sync_line = match &self.store {
            None => small(String::new(), theme::MUTED),
            Some(Err(err)) => small(err.line(), theme::PROBLEM),
            Some(Ok(status)) => small(
                format!(
                    "{}: {} · {} {}",
                    t(language, Text::LastSync),
                    status
                        .last_sync
                        .as_deref()
                        .map(|at| at.get(..16).unwrap_or(at).replace('T', " "))
                        .unwrap_or_else(|| t(language, Text::Never).to_owned()),
                    status.outbox_pending,
                    t(language, Text::Pending)
                ),
                if status.outbox_pending > 0 {
                    theme::ACCENT
                } else {
                    theme::MUTED
                },
            ),
        };
        let server = match self.server {
            ServerMode::None | ServerMode::Unknown => {
                small(t(language, Text::NoServer).to_owned(), theme::MUTED)
            }
            ServerMode::Test => small(t(language, Text::TestMode).to_owned(), theme::ACCENT),
            ServerMode::Live => small(t(language, Text::LiveMode).to_owned(), theme::PROBLEM),
        };
        let operator = match &self.operator {
            Some(session) => small(
                format!(
                    "{} ({})",
                    session.operator,
                    t(language, operator_role_name(session.role))
                ),
                theme::MUTED,
            ),
            None => small(String::new(), theme::MUTED),
        };
        let mut line = row![readers_line, sync_line]
            .spacing(24)
            .align_y(iced::Alignment::Center);
        if let Some(running) = &sync.running {
            line = line.push(small(running_line(running, language), theme::ACCENT));
        }
        line = line.push(server).push(operator);
        if sync.is_ready() {
            // At the right end, where it stays while the line beside it changes.
            line = line.push(space::horizontal()).push(
                button(text(t(language, Text::SyncNow)).size(theme::SMALL_SIZE))
                    .style(button::secondary)
                    .on_press_maybe(sync.running.is_none().then_some(Message::SyncNow)),
            );
        }
        let mut bar = column![line].spacing(4);
        if let Some((failure, next_try)) = &sync.failed {
            bar = bar.push(small(
                failure_line(failure, *next_try, language),
                theme::PROBLEM,
            ));
        }
        if let Some(failure) = &sync.stopped {
            bar = bar.push(small(
                format!(
                    "{} {}",
                    t(language, Text::SyncOff),
                    super::problem(language, failure)
                ),
                theme::PROBLEM,
            ));
        }
        container(bar)
            .padding([6, 10])
            .width(Length::Fill)
            .style(container::rounded_box)
            .into()
    }
}

/// "Sync failed: <cause>. <next step> (next try 14:05 UTC)".
pub fn failure_line(
    failure: &Failure,
    next_try: time::OffsetDateTime,
    language: Language,
) -> String {
    format!(
        "{} {} ({} {})",
        t(language, Text::SyncFailed),
        super::problem(language, failure),
        t(language, Text::SyncNextTry),
        clock(next_try)
    )
}

/// "Sending changes 3/60", "Receiving cards 1200/5000", or "Syncing…" before the first step.
fn running_line(running: &Running, language: Language) -> String {
    let Some(progress) = running.progress else {
        return t(language, Text::SyncStarting).to_owned();
    };
    let counts = format!("{}/{}", progress.done, progress.total);
    match progress.phase {
        Phase::Push => format!("{} {counts}", t(language, Text::SyncSending)),
        Phase::Pull => format!(
            "{} {} {counts}",
            t(language, Text::SyncPulling),
            t(language, resource_name(progress.resource))
        ),
    }
}

fn operator_role_name(role: OperatorRole) -> Text {
    match role {
        OperatorRole::Operator => Text::RoleOperator,
        OperatorRole::Printer => Text::RolePrinter,
        OperatorRole::Admin => Text::RoleAdmin,
    }
}

pub(super) fn resource_name(resource: Resource) -> Text {
    match resource {
        Resource::Persons => Text::ResourcePersons,
        Resource::Addresses => Text::ResourceAddresses,
        Resource::Cardholders => Text::ResourceCardholders,
        Resource::Cards => Text::ResourceCards,
        Resource::Productions => Text::ResourceProductions,
        Resource::AnonymousSets => Text::ResourceAnonymousSets,
    }
}

/// The time of day (UTC, as the last sync is shown), to the minute.
fn clock(at: time::OffsetDateTime) -> String {
    format!("{:02}:{:02} UTC", at.hour(), at.minute())
}
