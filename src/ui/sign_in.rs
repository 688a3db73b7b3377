//! Operator sign-in: name and PIN, checked against the Argon2id hashes in the store on a
//! blocking thread (a check takes tens of milliseconds on purpose).

use iced::widget::{button, column, container, text, text_input};
use iced::{Alignment, Element, Length, Task};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::i18n::{Text, t};
use super::{Db, theme};
use crate::config::Language;
use crate::error::Failure;
use crate::store::Operator;

pub const NAME_ID: &str = "sign-in-name";
const PIN_ID: &str = "sign-in-pin";

#[derive(Default)]
pub struct SignIn {
    pub name: String,
    pin: Zeroizing<String>,
    pub checking: bool,
    /// Submitted without a name or a PIN: asks for both.
    pub incomplete: bool,
    pub error: Option<Failure>,
}

#[derive(Debug, Clone)]
pub enum Message {
    Name(String),
    Pin(String),
    NameDone,
    Submit,
    Checked(Result<Operator, Failure>),
}

/// What the sign-in tells the window, which acts on it.
#[derive(Debug, Clone)]
pub enum Event {
    /// The name and PIN were right: the window starts this operator's session.
    SignedIn(Operator),
}

impl SignIn {
    pub fn update(&mut self, message: Message, db: Option<&Db>) -> (Task<Message>, Option<Event>) {
        match message {
            Message::Name(name) => {
                self.name = name;
                self.incomplete = false;
            }
            Message::Pin(pin) => {
                self.incomplete = false;
                // Digits only: the field never holds anything a PIN cannot be.
                self.pin =
                    Zeroizing::new(pin.chars().filter(char::is_ascii_digit).take(12).collect());
            }
            Message::NameDone => return (iced::widget::operation::focus(PIN_ID), None),
            Message::Submit => {
                if self.checking {
                    return (Task::none(), None);
                }
                if self.name.trim().is_empty() || self.pin.is_empty() {
                    self.incomplete = true;
                    self.error = None;
                    let empty = if self.name.trim().is_empty() {
                        NAME_ID
                    } else {
                        PIN_ID
                    };
                    return (iced::widget::operation::focus(empty), None);
                }
                let Some(db) = db.cloned() else {
                    return (Task::none(), None);
                };
                self.checking = true;
                self.error = None;
                let name = self.name.clone();
                let pin = std::mem::take(&mut self.pin);
                let check =
                    db.run(move |store| store.sign_in(&name, &pin, OffsetDateTime::now_utc()));
                return (Task::perform(check, Message::Checked), None);
            }
            Message::Checked(result) => {
                self.checking = false;
                match result {
                    Ok(operator) => {
                        self.name.clear();
                        return (Task::none(), Some(Event::SignedIn(operator)));
                    }
                    Err(err) => {
                        self.error = Some(err);
                        return (iced::widget::operation::focus(PIN_ID), None);
                    }
                }
            }
        }
        (Task::none(), None)
    }

    pub fn view(&self, language: Language, demo: bool) -> Element<'_, Message> {
        let name = text_input(t(language, Text::OperatorName), &self.name)
            .id(NAME_ID)
            .on_input(Message::Name)
            .on_submit(Message::NameDone)
            .padding(10);
        let pin = text_input(t(language, Text::Pin), &self.pin)
            .id(PIN_ID)
            .secure(true)
            .on_input(Message::Pin)
            .on_submit(Message::Submit)
            .padding(10);
        let label = if self.checking {
            t(language, Text::SigningIn)
        } else {
            t(language, Text::SignIn)
        };
        let mut form = column![
            text(t(language, Text::SignInTitle))
                .size(theme::TITLE_SIZE)
                .font(theme::BOLD),
            name,
            pin,
            button(text(label))
                .padding([10, 24])
                .on_press_maybe((!self.checking).then_some(Message::Submit)),
        ]
        .spacing(14)
        .width(360)
        .align_x(Alignment::Start);
        if self.incomplete {
            form = form.push(text(t(language, Text::EnterNameAndPin)).color(theme::PROBLEM));
        }
        if let Some(error) = &self.error {
            form = form.push(text(super::problem(language, error)).color(theme::PROBLEM));
        }
        if demo {
            form = form.push(
                text(t(language, Text::DemoOperators))
                    .size(theme::SMALL_SIZE)
                    .color(theme::MUTED),
            );
        }
        container(form).center(Length::Fill).into()
    }
}
