//! The desk's CSV import, on the right in place of the panel: the file's path, the import
//! running as a task (read and checked, then written chunk by chunk, `station::import`)
//! with a progress bar, then the report: how many persons were imported, updated and left
//! as they were, and each refused row with what is wrong with it, in the window's language.

use iced::widget::{Column, button, column, progress_bar, row, scrollable, text, text_input};
use iced::{Alignment, Element, Length, Task};

use super::person::{label, problem_text};
use super::{Desk, Event, Message};
use crate::config::Language;
use crate::error::Failure;
use crate::station::import::{self, ImportReport, Key, Progress, Rejection, RowProblem};
use crate::store::ImportRefusal;
use crate::ui::i18n::{Text, t};
use crate::ui::{stopped, theme};

/// The import screen.
#[derive(Debug, Clone, Default)]
pub struct ImportScreen {
    pub path: String,
    pub state: ImportState,
}

#[derive(Debug, Clone, Default)]
pub enum ImportState {
    /// Waiting for a path.
    #[default]
    Idle,
    /// The file is being read and checked.
    Reading,
    Writing(Progress),
    Done(ImportReport),
    Failed(Failure),
}

impl ImportScreen {
    pub fn is_running(&self) -> bool {
        matches!(self.state, ImportState::Reading | ImportState::Writing(_))
    }
}

/// What the import task reports.
#[derive(Debug, Clone)]
pub enum ImportEvent {
    Progress(Progress),
    Finished(Result<ImportReport, Failure>),
}

/// The report lists this many refused rows; a file with more is mostly wrong, and the
/// operator fixes it from the first ones (the command line prints them all).
const SHOWN_REJECTIONS: usize = 500;
pub const IMPORT_PATH_ID: &str = "desk-import-path";

impl Desk {
    pub(super) fn open_import(&mut self) -> Task<Message> {
        self.import = Some(ImportScreen::default());
        iced::widget::operation::focus(IMPORT_PATH_ID)
    }

    /// Closes the import screen, unless an import is running: its report must be seen.
    pub(super) fn close_import(&mut self) {
        if !self
            .import
            .as_ref()
            .is_some_and(|screen| screen.is_running())
        {
            self.import = None;
        }
    }

    pub(super) fn import_path_changed(&mut self, path: String) {
        if let Some(screen) = &mut self.import {
            screen.path = path;
        }
    }

    /// Starts the import of the typed path on a worker thread, unless one is running.
    pub(super) fn start_import(&mut self) -> Task<Message> {
        let Some(screen) = &mut self.import else {
            return Task::none();
        };
        let path = screen.path.trim().to_owned();
        if path.is_empty() || screen.is_running() {
            return Task::none();
        }
        screen.state = ImportState::Reading;
        let (db, session) = (self.db.clone(), self.session.clone());
        let events = iced::stream::channel(16, async move |mut output| {
            use iced::futures::SinkExt;
            let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
            let worker = tokio::task::spawn_blocking(move || {
                let file = import::read_file(std::path::Path::new(&path))?;
                import::import(&session, &file, || db.lock(), &mut |progress| {
                    let _ = sender.send(ImportEvent::Progress(progress));
                })
            });
            while let Some(event) = receiver.recv().await {
                if output.send(event).await.is_err() {
                    return;
                }
            }
            let finished = worker.await.unwrap_or_else(|_| Err(stopped("import")));
            let _ = output.send(ImportEvent::Finished(finished)).await;
        });
        Task::run(events, Message::Importing)
    }

    pub(super) fn importing(&mut self, event: ImportEvent) -> Option<Event> {
        let screen = self.import.as_mut()?;
        match event {
            ImportEvent::Progress(progress) => {
                screen.state = ImportState::Writing(progress);
                None
            }
            ImportEvent::Finished(Ok(report)) => {
                screen.state = ImportState::Done(report);
                Some(Event::StoreChanged)
            }
            // The chunks before a failure may be saved: the outbox count may have moved.
            ImportEvent::Finished(Err(failure)) => {
                screen.state = ImportState::Failed(failure);
                Some(Event::StoreChanged)
            }
        }
    }

    pub(super) fn import_view<'a>(
        &'a self,
        screen: &'a ImportScreen,
        language: Language,
    ) -> Element<'a, Message> {
        let running = screen.is_running();
        let mut path = text_input(t(language, Text::ImportPathPlaceholder), &screen.path)
            .id(IMPORT_PATH_ID)
            .padding(8)
            .size(theme::BODY_SIZE);
        let mut start = button(text(t(language, Text::ImportStart))).style(button::primary);
        if !running {
            path = path
                .on_input(Message::ImportPathChanged)
                .on_submit(Message::StartImport);
            start = start.on_press(Message::StartImport);
        }
        let mut close = button(text(t(language, Text::Close))).style(button::secondary);
        if !running {
            close = close.on_press(Message::CloseImport);
        }
        let mut page = column![
            text(t(language, Text::ImportTitle))
                .size(theme::HEADING_SIZE)
                .font(theme::BOLD),
            text(t(language, Text::ImportColumns))
                .size(theme::SMALL_SIZE)
                .color(theme::MUTED),
            row![path, start, close]
                .spacing(10)
                .align_y(Alignment::Center),
        ]
        .spacing(14);
        match &screen.state {
            ImportState::Idle => {}
            ImportState::Reading => {
                page = page.push(text(t(language, Text::ImportReading)).color(theme::MUTED));
            }
            ImportState::Writing(progress) => {
                page = page.push(progress_view(*progress, language));
            }
            ImportState::Done(report) => page = page.push(report_view(report, language)),
            ImportState::Failed(failure) => {
                page = page.push(text(crate::ui::problem(language, failure)).color(theme::PROBLEM));
            }
        }
        page.padding(4).into()
    }
}

fn progress_view<'a>(progress: Progress, language: Language) -> Element<'a, Message> {
    column![
        progress_bar(0.0..=progress.total.max(1) as f32, progress.done as f32).girth(12),
        text(format!(
            "{} {} / {}",
            t(language, Text::ImportWritten),
            progress.done,
            progress.total
        ))
        .size(theme::SMALL_SIZE)
        .color(theme::MUTED),
    ]
    .spacing(6)
    .into()
}

fn report_view<'a>(report: &'a ImportReport, language: Language) -> Element<'a, Message> {
    let count = |key: Text, value: usize| format!("{}: {value}", t(language, key));
    let summary = [
        count(Text::ImportImported, report.imported),
        count(Text::ImportUpdated, report.updated),
        count(Text::ImportUnchanged, report.unchanged),
        count(Text::ImportRejected, report.rejected.len()),
    ]
    .join(" · ");
    let colour = if report.rejected.is_empty() {
        theme::OK
    } else {
        theme::PROBLEM
    };
    let mut page = column![text(summary).font(theme::BOLD).color(colour)].spacing(10);
    if report.rejected.is_empty() {
        return page.into();
    }
    let mut list = Column::new().spacing(4);
    for rejection in report.rejected.iter().take(SHOWN_REJECTIONS) {
        list = list.push(
            row![
                text(format!(
                    "{} {}",
                    t(language, Text::ImportLine),
                    rejection.line
                ))
                .font(theme::BOLD)
                .width(110),
                text(rejection_text(rejection, language)).width(Length::Fill),
            ]
            .spacing(10),
        );
    }
    if report.rejected.len() > SHOWN_REJECTIONS {
        list = list.push(
            text(format!(
                "{} {}",
                t(language, Text::ImportMoreRejected),
                report.rejected.len() - SHOWN_REJECTIONS
            ))
            .color(theme::MUTED),
        );
    }
    page = page
        .push(text(t(language, Text::ImportRejectedRows)).font(theme::BOLD))
        .push(scrollable(list).height(Length::Fill));
    page.into()
}

/// What is wrong with a refused row, in `language`.
pub fn rejection_text(rejection: &Rejection, language: Language) -> String {
    let problems: Vec<String> = rejection
        .problems
        .iter()
        .map(|problem| problem_in(problem, language))
        .collect();
    problems.join("; ")
}

fn problem_in(problem: &RowProblem, language: Language) -> String {
    let t = |key| t(language, key);
    match problem {
        RowProblem::Field(field, problem) => {
            format!("{}: {}", t(label(*field)), t(problem_text(*problem)))
        }
        RowProblem::NotUtf8 => t(Text::ImportNotUtf8).to_owned(),
        RowProblem::TooLong => format!(
            "{} {}",
            t(Text::ImportTooLong),
            import::MAX_ROW_BYTES / 1024
        ),
        RowProblem::FieldCount { found, expected } => format!(
            "{}: {found}, {}: {expected}",
            t(Text::ImportFieldsInRow),
            t(Text::ImportFieldsInHeader)
        ),
        RowProblem::SameAsLine { line, key } => {
            let same = match key {
                Key::PersonNumber => Text::ImportSamePersonNumber,
                Key::Pesel => Text::ImportSamePesel,
                Key::AlbumNumber => Text::ImportSameAlbumNumber,
                Key::NameAndBirthDate => Text::ImportSameNameAndBirthDate,
            };
            format!("{} {line}", t(same))
        }
        RowProblem::Store(refusal) => t(match refusal {
            ImportRefusal::DeletedOnServer => Text::ImportDeletedOnServer,
            ImportRefusal::PeselOfAnother => Text::ImportPeselOfAnother,
            ImportRefusal::Ambiguous => Text::ImportAmbiguous,
            ImportRefusal::Refused(_) => Text::ImportStoreRefused,
        })
        .to_owned(),
    }
}
