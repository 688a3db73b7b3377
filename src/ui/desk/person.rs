//! The desk's person form, on the right in place of the panel: a new person or the open one's
//! details, each field's problem beside it (the rules are in `station::person`), saved
//! through the store with its outbox rows. Also the block confirmation on a card's line,
//! which asks why before anything is blocked.

use iced::widget::{Column, button, column, container, row, text, text_input};
use iced::{Alignment, Element, Length, Task};

use super::{Desk, Event, Message};
use crate::config::Language;
use crate::error::Failure;
use crate::station::auth::Action;
use crate::station::desk;
use crate::station::person::{self, Field, FieldProblem, PersonDraft};
use crate::store::PersonFields;
use crate::ui::i18n::{Text, t};
use crate::ui::theme;

/// The person being typed in.
#[derive(Debug, Clone)]
pub struct PersonForm {
    /// The person edited; `None` for a new one.
    pub editing: Option<(i64, PersonFields)>,
    pub draft: PersonDraft,
    /// Shown once a save was tried, then kept current as the operator types.
    pub problems: Option<Vec<(Field, FieldProblem)>>,
    pub saving: bool,
    pub failure: Option<Failure>,
}

/// A block waiting for its reason and confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockAsk {
    pub card_id: i64,
    pub reason: String,
    /// Confirm was pressed without a reason.
    pub reason_missing: bool,
}

const LABEL_WIDTH: f32 = 140.0;
const INPUT_WIDTH: f32 = 260.0;

impl Desk {
    pub(super) fn new_person(&mut self) -> Task<Message> {
        self.form = Some(PersonForm {
            editing: None,
            draft: PersonDraft::default(),
            problems: None,
            saving: false,
            failure: None,
        });
        iced::widget::operation::focus(field_id(Field::FirstName))
    }

    pub(super) fn edit_person(&mut self) -> Task<Message> {
        let Some(panel) = &self.panel else {
            return Task::none();
        };
        let person = &panel.person;
        self.form = Some(PersonForm {
            editing: Some((person.id, person.fields.clone())),
            draft: PersonDraft::of(&person.fields),
            problems: None,
            saving: false,
            failure: None,
        });
        iced::widget::operation::focus(field_id(Field::FirstName))
    }

    pub(super) fn form_edited(&mut self, field: Field, value: String) {
        if let Some(form) = &mut self.form {
            form.draft.set(field, value);
            if form.problems.is_some() {
                form.problems = Some(form.check().err().unwrap_or_default());
            }
        }
    }

    /// Checks the form and, when every field is right, saves it on a store thread.
    pub(super) fn save_form(&mut self) -> Task<Message> {
        let Some(form) = &mut self.form else {
            return Task::none();
        };
        if form.saving {
            return Task::none();
        }
        let fields = match form.check() {
            Ok(fields) => fields,
            Err(problems) => {
                form.problems = Some(problems);
                return Task::none();
            }
        };
        form.problems = Some(Vec::new());
        form.saving = true;
        form.failure = None;
        let id = form.editing.as_ref().map(|(id, _)| *id);
        let session = self.session.clone();
        let name = format!("{} {}", fields.first_name, fields.last_name);
        let save = self
            .db
            .run(move |store| person::save(&session, store, id, &fields));
        Task::perform(save, move |result| {
            Message::FormSaved(result.map(|id| (id, name.clone())))
        })
    }

    pub(super) fn form_saved(
        &mut self,
        result: Result<(i64, String), Failure>,
    ) -> (Task<Message>, Option<Event>) {
        let Some(form) = &mut self.form else {
            return (Task::none(), None);
        };
        match result {
            Ok((person_id, name)) => {
                self.form = None;
                let open = self.open(person_id);
                self.notice = Some(Ok((Text::PersonSaved, name)));
                let search = if self.query.trim().is_empty() {
                    Task::none()
                } else {
                    self.search(self.query.clone())
                };
                (Task::batch([open, search]), Some(Event::StoreChanged))
            }
            Err(err) => {
                form.saving = false;
                form.failure = Some(err);
                (Task::none(), None)
            }
        }
    }

    pub(super) fn ask_block(&mut self, card_id: i64) -> Task<Message> {
        self.block = Some(BlockAsk {
            card_id,
            reason: String::new(),
            reason_missing: false,
        });
        iced::widget::operation::focus(BLOCK_REASON_ID)
    }

    pub(super) fn block_reason_changed(&mut self, reason: String) {
        if let Some(ask) = &mut self.block {
            ask.reason = reason;
            ask.reason_missing = false;
        }
    }

    /// Blocks the card asked about, once a reason is given.
    pub(super) fn confirm_block(&mut self) -> Task<Message> {
        let Some(ask) = &mut self.block else {
            return Task::none();
        };
        let reason = ask.reason.trim().to_owned();
        if reason.is_empty() {
            ask.reason_missing = true;
            return Task::none();
        }
        let card_id = ask.card_id;
        self.block = None;
        self.set_blocked(card_id, true, reason)
    }

    pub(super) fn form_view<'a>(
        &'a self,
        form: &'a PersonForm,
        language: Language,
    ) -> Element<'a, Message> {
        let title = if form.editing.is_some() {
            Text::EditingPerson
        } else {
            Text::NewPerson
        };
        let mut fields = Column::new().spacing(10);
        for field in Field::ALL {
            let problem = form
                .problems
                .iter()
                .flatten()
                .find(|(wrong, _)| *wrong == field)
                .map(|(_, problem)| t(language, problem_text(*problem)));
            let input = text_input(placeholder(field, language), form.draft.get(field))
                .id(field_id(field))
                .on_input(move |value| Message::FormEdited(field, value))
                .on_submit(Message::SaveForm)
                .padding(8)
                .width(INPUT_WIDTH)
                .size(theme::BODY_SIZE);
            fields = fields.push(
                row![
                    text(t(language, label(field))).width(LABEL_WIDTH),
                    input,
                    text(problem.unwrap_or(""))
                        .size(theme::SMALL_SIZE)
                        .color(theme::PROBLEM)
                        .width(Length::Fill),
                ]
                .spacing(12)
                .align_y(Alignment::Center),
            );
        }
        let save = if form.saving {
            button(text(t(language, Text::Saving)))
        } else {
            button(text(t(language, Text::Save))).on_press(Message::SaveForm)
        };
        let buttons = row![
            save.style(button::primary),
            button(text(t(language, Text::Cancel)))
                .style(button::secondary)
                .on_press(Message::CancelForm),
        ]
        .spacing(10);
        let mut page = column![
            text(t(language, title))
                .size(theme::HEADING_SIZE)
                .font(theme::BOLD),
            fields,
            row![container("").width(LABEL_WIDTH), buttons].spacing(12),
        ]
        .spacing(18);
        if form.problems.as_ref().is_some_and(|p| !p.is_empty()) {
            page = page.push(text(t(language, Text::FixTheMarkedFields)).color(theme::PROBLEM));
        }
        if let Some(failure) = &form.failure {
            page = page.push(text(crate::ui::problem(language, failure)).color(theme::PROBLEM));
        }
        page.padding(4).into()
    }

    /// Under a card's line while its block waits: why, and the button that blocks.
    pub(super) fn block_view<'a>(
        &'a self,
        ask: &'a BlockAsk,
        language: Language,
    ) -> Element<'a, Message> {
        crate::ui::reason_ask::view(
            crate::ui::reason_ask::ReasonAsk {
                why: Text::BlockWhy,
                placeholder: Text::BlockReasonPlaceholder,
                confirm: Text::ConfirmBlock,
                back: Text::Cancel,
                warning: Text::BlockWarning,
                needs_reason: Text::BlockNeedsReason,
                reason: &ask.reason,
                reason_missing: ask.reason_missing,
                input_id: BLOCK_REASON_ID,
                on_input: Message::BlockReasonChanged,
                on_confirm: Message::ConfirmBlock,
                on_back: Message::CancelBlock,
            },
            language,
        )
    }

    /// Whether the open session may create and edit people.
    pub(super) fn may_edit_people(&self) -> bool {
        self.session.may(Action::EditPeople)
    }

    /// Blocks (with the operator's reason) or unblocks a card of the register.
    pub(super) fn set_blocked(
        &mut self,
        card_id: i64,
        blocked: bool,
        reason: String,
    ) -> Task<Message> {
        let session = self.session.clone();
        let change = self.db.run(move |store| {
            let done = if blocked {
                Text::BlockedCard
            } else {
                Text::UnblockedCard
            };
            desk::set_blocked(&session, store, card_id, blocked, &reason)
                .map(|_| (done, card_id.to_string()))
        });
        Task::perform(change, Message::Changed)
    }
}

impl PersonForm {
    fn check(&self) -> Result<PersonFields, Vec<(Field, FieldProblem)>> {
        self.draft
            .check(self.editing.as_ref().map(|(_, fields)| fields))
    }
}

const BLOCK_REASON_ID: &str = "desk-block-reason";

fn field_id(field: Field) -> iced::widget::Id {
    iced::widget::Id::new(match field {
        Field::FirstName => "person-first-name",
        Field::MiddleName => "person-middle-name",
        Field::LastName => "person-last-name",
        Field::Pesel => "person-pesel",
        Field::BirthDate => "person-birth-date",
        Field::AlbumNumber => "person-album",
        Field::Phone => "person-phone",
    })
}

pub(super) fn label(field: Field) -> Text {
    match field {
        Field::FirstName => Text::FirstName,
        Field::MiddleName => Text::MiddleName,
        Field::LastName => Text::LastName,
        Field::Pesel => Text::PeselField,
        Field::BirthDate => Text::BirthDate,
        Field::AlbumNumber => Text::AlbumNumber,
        Field::Phone => Text::Phone,
    }
}

fn placeholder(field: Field, language: Language) -> &'static str {
    match field {
        Field::BirthDate => t(language, Text::DatePlaceholder),
        Field::FirstName | Field::LastName => "",
        Field::Phone => "+48 600 100 200",
        Field::MiddleName | Field::Pesel | Field::AlbumNumber => t(language, Text::Optional),
    }
}

pub(super) fn problem_text(problem: FieldProblem) -> Text {
    match problem {
        FieldProblem::Required => Text::ProblemRequired,
        FieldProblem::NotAName => Text::ProblemNotAName,
        FieldProblem::PeselLength => Text::ProblemPeselLength,
        FieldProblem::PeselNotDigits => Text::ProblemPeselNotDigits,
        FieldProblem::PeselDate => Text::ProblemPeselDate,
        FieldProblem::PeselCheckDigit => Text::ProblemPeselCheckDigit,
        FieldProblem::NotADate => Text::ProblemNotADate,
        FieldProblem::NotThePeselDate => Text::ProblemNotThePeselDate,
        FieldProblem::NotAnAlbumNumber => Text::ProblemNotAnAlbumNumber,
        FieldProblem::NotAPhone => Text::ProblemNotAPhone,
    }
}
