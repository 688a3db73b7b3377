//! Settings and logs: the profile in use (read-only), the trusted issuer certificates, the
//! conflicts the sync resolved (README "Sync") and the audit log with a filter and the result
//! of checking its hash chain.

use std::path::Path;

use iced::widget::{Column, column, row, scrollable, text, text_input};
use iced::{Element, Length, Task};

use super::i18n::{Text, t};
use super::{Db, theme};
use crate::config::{Language, Profile};
use crate::error::Failure;
use crate::store::{
    AuditEntry, AuditError, CONFLICT_SERVER_WINS, CONFLICT_STATION_STATUS_KEPT, Conflict,
    TrustedIssuer,
};

const AUDIT_ROWS: usize = 200;
/// The newest conflicts shown; `cardstation status` counts them all.
pub const CONFLICT_ROWS: usize = 100;
/// A value longer than this (a whole metadata object) is cut, to keep one line per conflict.
const VALUE_CHARS: usize = 60;

#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub issuers: Vec<TrustedIssuer>,
    /// Newest first, at most [`CONFLICT_ROWS`].
    pub conflicts: Vec<Conflict>,
    pub audit: Vec<AuditEntry>,
    /// Rows intact, or the row where the chain breaks and (in English) what broke.
    pub chain: Option<Result<usize, (i64, String)>>,
}

#[derive(Default)]
pub struct Settings {
    pub filter: String,
    pub loaded: Option<Result<Loaded, Failure>>,
}

#[derive(Debug, Clone)]
pub enum Message {
    Load,
    Filter(String),
    Loaded(Result<Loaded, Failure>),
}

impl Settings {
    pub fn update(&mut self, message: Message, db: Db) -> Task<Message> {
        match message {
            Message::Load => {}
            Message::Filter(filter) => self.filter = filter,
            Message::Loaded(loaded) => {
                self.loaded = Some(loaded);
                return Task::none();
            }
        }
        let filter = self.filter.clone();
        let load = db.run(move |store| {
            // A broken chain is a finding to show; a store that cannot be read fails.
            let chain = match store.audit_verify() {
                Ok(rows) => Ok(rows),
                Err(AuditError::Store(err)) => return Err(err),
                Err(tampered @ AuditError::Tampered { row, .. }) => {
                    Err((row, tampered.to_string()))
                }
            };
            Ok(Loaded {
                issuers: store.trusted_issuers()?,
                conflicts: store.conflicts(CONFLICT_ROWS)?,
                audit: store.audit_entries(&filter, AUDIT_ROWS)?,
                chain: Some(chain),
            })
        });
        Task::perform(load, Message::Loaded)
    }

    pub fn view<'a>(
        &'a self,
        profile: &'a Profile,
        database: &'a Path,
        language: Language,
    ) -> Element<'a, Message> {
        let heading = |key| {
            text(t(language, key))
                .size(theme::HEADING_SIZE)
                .font(theme::BOLD)
        };
        let fact = |label: Text, value: String| {
            row![
                text(t(language, label)).color(theme::MUTED).width(160),
                text(value)
            ]
            .spacing(10)
        };
        let mut page = column![
            heading(Text::Profile),
            fact(Text::Role, super::role_name(profile, language).to_owned()),
            fact(Text::Database, database.display().to_string()),
            fact(
                Text::Readers,
                format!(
                    "{} / {}",
                    profile.readers.contact.as_deref().unwrap_or("–"),
                    profile.readers.contactless.as_deref().unwrap_or("–")
                )
            ),
        ]
        .spacing(8);
        let Some(loaded) = &self.loaded else {
            return page.into();
        };
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(err) => {
                return page
                    .push(text(super::problem(language, err)).color(theme::PROBLEM))
                    .into();
            }
        };
        page = page.push(heading(Text::TrustedIssuers));
        if loaded.issuers.is_empty() {
            page = page.push(text(t(language, Text::NoTrustedIssuers)).color(theme::MUTED));
        }
        for issuer in &loaded.issuers {
            page = page.push(
                text(format!(
                    "{} · SHA-256 {}…",
                    issuer.subject,
                    &issuer.sha256[..16]
                ))
                .size(theme::SMALL_SIZE),
            );
        }
        page = page
            .push(heading(Text::Conflicts))
            .push(conflicts(&loaded.conflicts, language));
        page = page.push(heading(Text::AuditLog));
        page = page.push(match &loaded.chain {
            Some(Ok(rows)) => {
                text(format!("{} ({rows})", t(language, Text::AuditIntact))).color(theme::OK)
            }
            Some(Err((row, english))) => {
                // The English message names what broke; the Polish one the row.
                let detail = match language {
                    Language::Pl => format!("{} {row}", t(language, Text::AuditRow)),
                    Language::En => english.clone(),
                };
                text(format!("{} {detail}", t(language, Text::AuditBroken))).color(theme::PROBLEM)
            }
            None => text(""),
        });
        page = page.push(
            text_input(t(language, Text::AuditFilter), &self.filter)
                .on_input(Message::Filter)
                .padding(8),
        );
        let mut rows = Column::new().spacing(3);
        for entry in &loaded.audit {
            rows = rows.push(
                row![
                    text(shown_time(&entry.at))
                        .size(theme::SMALL_SIZE)
                        .color(theme::MUTED)
                        .width(150),
                    text(entry.operator.clone())
                        .size(theme::SMALL_SIZE)
                        .width(90),
                    text(entry.action.clone())
                        .size(theme::SMALL_SIZE)
                        .font(theme::BOLD)
                        .width(190),
                    text(entry.subject.clone())
                        .size(theme::SMALL_SIZE)
                        .width(130),
                    // The details are JSON without spaces: wrap anywhere rather than run off the edge.
                    text(entry.details.clone())
                        .size(theme::SMALL_SIZE)
                        .color(theme::MUTED)
                        .width(Length::Fill)
                        .wrapping(text::Wrapping::WordOrGlyph),
                ]
                .spacing(8),
            );
        }
        page = page.push(rows);
        // Embedded: a floating scrollbar would cover the end of each audit row.
        scrollable(page.padding(4))
            .spacing(6)
            .height(Length::Fill)
            .into()
    }
}

/// The resolved conflicts as a table: when, which object, the field, both values and the rule.
fn conflicts(conflicts: &[Conflict], language: Language) -> Element<'_, Message> {
    if conflicts.is_empty() {
        return text(t(language, Text::NoConflicts))
            .color(theme::MUTED)
            .into();
    }
    // Values without spaces (a metadata object) wrap inside their column.
    let cell = |value: String, width: u32| {
        text(value)
            .size(theme::SMALL_SIZE)
            .width(width)
            .wrapping(text::Wrapping::WordOrGlyph)
    };
    let header = |key: Text, width: u32| {
        text(t(language, key))
            .size(theme::SMALL_SIZE)
            .font(theme::BOLD)
            .color(theme::MUTED)
            .width(width)
    };
    let mut rows = Column::new().spacing(3);
    if conflicts.len() == CONFLICT_ROWS {
        rows = rows.push(
            text(format!(
                "{} {CONFLICT_ROWS}",
                t(language, Text::ConflictsNewestShown)
            ))
            .size(theme::SMALL_SIZE)
            .color(theme::MUTED),
        );
    }
    rows = rows.push(
        row![
            header(Text::ConflictTime, 150),
            header(Text::ConflictObject, 170),
            header(Text::ConflictField, 125),
            header(Text::ConflictLocalValue, 150),
            header(Text::ConflictServerValue, 150),
            header(Text::ConflictRule, 150),
        ]
        .spacing(8),
    );
    for conflict in conflicts {
        let resource = t(language, super::status::resource_name(conflict.resource));
        let object = match &conflict.remote_id {
            Some(remote_id) => format!("{resource} {remote_id}"),
            None => format!("{resource} #{}", conflict.local_id),
        };
        rows = rows.push(
            row![
                cell(shown_time(&conflict.resolved_at), 150).color(theme::MUTED),
                cell(object, 170),
                cell(conflict.field.clone(), 125).font(theme::BOLD),
                cell(shown_value(conflict.local_value.as_deref()), 150),
                cell(shown_value(conflict.server_value.as_deref()), 150),
                text(rule(&conflict.rule, language))
                    .size(theme::SMALL_SIZE)
                    .color(theme::MUTED),
            ]
            .spacing(8),
        );
    }
    rows.into()
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM:SS` (UTC, as stored).
fn shown_time(at: &str) -> String {
    at.get(..19).unwrap_or(at).replace('T', " ")
}

/// A value as stored (JSON text): a string without its quotes, nothing as a dash, long
/// values cut.
fn shown_value(value: Option<&str>) -> String {
    let shown = match value.map(serde_json::from_str::<serde_json::Value>) {
        None | Some(Ok(serde_json::Value::Null)) => return "–".into(),
        Some(Ok(serde_json::Value::String(text))) => text,
        Some(_) => value.unwrap_or_default().to_owned(),
    };
    match shown.char_indices().nth(VALUE_CHARS) {
        Some((cut, _)) => format!("{}…", &shown[..cut]),
        None => shown,
    }
}

/// The rule in the window's language; one this version does not know, as the store has it.
fn rule(rule: &str, language: Language) -> &str {
    match rule {
        CONFLICT_SERVER_WINS => t(language, Text::ConflictServerWins),
        CONFLICT_STATION_STATUS_KEPT => t(language, Text::ConflictStationStatusKept),
        other => other,
    }
}
