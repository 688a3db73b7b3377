//! The desk's left side: the people found as the operator types (without Polish letters if
//! they like), the arrow keys moving the highlight and Enter opening it.

use iced::widget::{Column, button, column, scrollable, text, text_input};
use iced::{Element, Length, Task};

use super::{Desk, Message};
use crate::config::Language;
use crate::error::Failure;
use crate::store::Person;
use crate::ui::i18n::{Text, t};
use crate::ui::{Db, theme};

/// How many hits the list shows; the operator narrows it by typing on.
const HITS: usize = 30;
pub const SEARCH_ID: &str = "desk-search";

impl Desk {
    /// Every keystroke is a new search, numbered so that only its answer is shown.
    pub(super) fn search(&mut self, query: String) -> Task<Message> {
        self.query = query.clone();
        self.generation += 1;
        let generation = self.generation;
        Task::perform(search_people(self.db.clone(), query), move |result| {
            Message::Searched { generation, result }
        })
    }

    pub(super) fn searched(&mut self, generation: u64, result: Result<Vec<Person>, Failure>) {
        // Only the answer to the latest keystroke counts; older ones arrive late.
        if generation != self.generation {
            return;
        }
        match result {
            Ok(hits) => {
                self.highlighted = (!hits.is_empty()).then_some(0);
                self.hits = hits;
                self.problem = None;
            }
            Err(err) => self.problem = Some(err),
        }
    }

    pub(super) fn move_highlight(&mut self, by: i32) {
        if !self.hits.is_empty() {
            let last = self.hits.len() as i32 - 1;
            let at = self.highlighted.map_or(0, |i| i as i32 + by).clamp(0, last);
            self.highlighted = Some(at as usize);
        }
    }

    pub(super) fn open_highlighted(&mut self) -> Task<Message> {
        let highlighted = self.highlighted.and_then(|i| self.hits.get(i));
        match highlighted.map(|person| person.id) {
            Some(person_id) => self.open(person_id),
            None => Task::none(),
        }
    }

    /// The search field, what it found (or why it failed) and the hint under it.
    pub(super) fn search_view(&self, language: Language) -> Element<'_, Message> {
        let search = text_input(t(language, Text::SearchPlaceholder), &self.query)
            .id(SEARCH_ID)
            .on_input(Message::QueryChanged)
            .on_submit(Message::OpenHighlighted)
            .padding(10)
            .size(theme::BODY_SIZE);
        let mut list = Column::new().spacing(2);
        for (i, person) in self.hits.iter().enumerate() {
            let fields = &person.fields;
            let line = column![
                text(format!("{} {}", fields.last_name, fields.first_name)).font(theme::BOLD),
                text(format!(
                    "{} {} · PESEL {}",
                    t(language, Text::Album),
                    fields.album_number.as_deref().unwrap_or("–"),
                    fields.pesel.as_deref().unwrap_or("–")
                ))
                .size(theme::SMALL_SIZE)
                .color(if self.highlighted == Some(i) {
                    theme::ON_ACCENT
                } else {
                    theme::MUTED
                }),
            ];
            let style = if self.highlighted == Some(i) {
                button::primary
            } else {
                button::text
            };
            list = list.push(
                button(line)
                    .on_press(Message::Open(person.id))
                    .width(Length::Fill)
                    .style(style),
            );
        }
        let hint = if self.query.trim().is_empty() {
            t(language, Text::SearchHint)
        } else if self.problem.is_some() {
            ""
        } else if self.hits.is_empty() {
            t(language, Text::NoMatches)
        } else {
            ""
        };
        let mut top = iced::widget::row![search].spacing(8);
        let mut under = iced::widget::row![
            text(hint)
                .size(theme::SMALL_SIZE)
                .color(theme::MUTED)
                .width(Length::Fill)
        ]
        .align_y(iced::Alignment::Center);
        if self.may_edit_people() {
            top = top.push(
                button(text(t(language, Text::NewPerson)))
                    .style(button::secondary)
                    .padding(10)
                    .on_press(Message::NewPerson),
            );
            under = under.push(
                button(text(t(language, Text::ImportCsv)).size(theme::SMALL_SIZE))
                    .style(button::secondary)
                    .padding([4, 10])
                    .on_press(Message::OpenImport),
            );
        }
        let mut left = column![top, under];
        if let Some(problem) = &self.problem {
            left = left.push(text(crate::ui::problem(language, problem)).color(theme::PROBLEM));
        }
        left.push(scrollable(list).height(Length::Fill))
            .spacing(8)
            .width(Length::FillPortion(2))
            .into()
    }
}

async fn search_people(db: Db, query: String) -> Result<Vec<Person>, Failure> {
    db.run(move |store| store.search_people(&query, HITS)).await
}

#[cfg(test)]
mod tests {
    use super::super::testing::{desk, messages, shows};
    use super::*;

    #[test]
    fn a_failing_search_says_why_with_nobody_open() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (mut desk, path) = desk(dir.path());
        // The search index is gone (a damaged store): every search fails.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE people_fts")
            .unwrap();
        let task = desk.update(Message::QueryChanged("wis".into()));
        for message in messages(&runtime, task) {
            let _ = desk.update(message);
        }
        assert!(desk.panel.is_none(), "nobody is open");
        let failure = desk.problem.clone().expect("the search failed");
        assert!(failure.cause.contains("people_fts"), "{failure:?}");
        let problem = crate::ui::problem(Language::En, &failure);
        assert!(
            shows(&desk, &problem),
            "the failure is on screen: {problem}"
        );
        assert!(!shows(&desk, "No matches"), "not passed off as no matches");
    }
}
