//! The prolongation step under a card's line: the new expiry (the end of the semester after
//! the current one unless the operator types another) and, when the profile has
//! `[holograms] prolong`, the number of the hologram sticker put on the card, typed or
//! scanned (a barcode scanner types the digits and Enter, which confirms), with the stock
//! left. Each field's problem is shown beside it; the card is written only once both are
//! right, and the sticker, refused by the store (not in stock, used, reserved), is shown
//! beside its field too. A card USOS knows is prolonged to the expiry USOS signed: the step
//! shows it and asks for the sticker only (`station::usos::prolong`).

use iced::widget::{button, column, row, text, text_input};
use iced::{Alignment, Element, Task};
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::{Desk, Message};
use crate::config::Language;
use crate::error::Failure;
use crate::station::desk::{self, DeskError, ExpiryRefused};
use crate::station::issue::{self, chip_serial};
use crate::station::usos::UsosIssueError;
use crate::ui::i18n::{Text, t};
use crate::ui::{blocking, holograms, theme};

/// A prolongation waiting for its expiry (and sticker) and the operator's confirmation.
#[derive(Debug, Clone)]
pub struct ProlongAsk {
    pub card_id: i64,
    /// The card's expiry in the register, which the new one must follow.
    pub current: Option<Date>,
    /// The new expiry typed (a USOS prolongation shows USOS's instead).
    pub expiry: String,
    /// Written from USOS's structure (the card is one USOS knows), not the desk's signer.
    pub from_usos: bool,
    pub sticker: String,
    /// Free stickers in this station's stock, once counted (holograms on only).
    pub stock: Option<i64>,
    pub expiry_problem: Option<Note>,
    pub sticker_problem: Option<Note>,
    /// The card is being written: confirming again does nothing.
    pub writing: bool,
}

/// What is wrong with a field: the desk's own check, or the station's refusal.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    Check(Text),
    Refused(Failure),
}

/// How a prolongation that was tried failed: a refused sticker or expiry goes beside its
/// field, anything else (the card, the reader, the store) on the panel.
#[derive(Debug, Clone)]
pub enum ProlongFailed {
    Sticker(Failure),
    Expiry(Failure),
    Other(Failure),
    /// The card is written and recorded, sticker and all, but something after failed
    /// (USOS was not told): the step closes, the failure goes on the panel.
    Written(Failure),
}

const STICKER_ID: &str = "desk-prolong-sticker";
const EXPIRY_ID: &str = "desk-prolong-expiry";

fn parse_date(text: &str) -> Option<Date> {
    Date::parse(text.trim(), format_description!("[year]-[month]-[day]")).ok()
}

impl Desk {
    /// Opens the step for card `card_id`, its expiry prefilled with the default (or, from
    /// USOS, showing USOS's).
    pub(super) fn ask_prolong(
        &mut self,
        card_id: i64,
        current: Option<Date>,
        from_usos: bool,
    ) -> Task<Message> {
        let today = OffsetDateTime::now_utc().date();
        let default = issue::default_expiry(current.map_or(today, |e| e.max(today)));
        self.notice = None;
        self.prolong = Some(ProlongAsk {
            card_id,
            current,
            from_usos,
            expiry: default.to_string(),
            sticker: String::new(),
            stock: None,
            expiry_problem: None,
            sticker_problem: None,
            writing: false,
        });
        if !self.holograms.prolong {
            return iced::widget::operation::focus(EXPIRY_ID);
        }
        let count = Task::perform(
            self.db
                .run(|store| store.hologram_stock().map(|s| s.free_count())),
            Message::StickerStock,
        );
        Task::batch([iced::widget::operation::focus(STICKER_ID), count])
    }

    pub(super) fn prolong_edited(&mut self, sticker: Option<String>, expiry: Option<String>) {
        let Some(ask) = &mut self.prolong else {
            return;
        };
        if let Some(sticker) = sticker {
            ask.sticker = sticker;
            ask.sticker_problem = None;
        }
        if let Some(expiry) = expiry {
            ask.expiry = expiry;
            ask.expiry_problem = None;
        }
    }

    pub(super) fn sticker_stock(&mut self, counted: Result<i64, Failure>) {
        match (counted, &mut self.prolong) {
            (Ok(left), Some(ask)) => ask.stock = Some(left),
            (Err(err), _) => self.notice = Some(Err(err)),
            (Ok(_), None) => {}
        }
    }

    /// Checks both fields and, if they are right, writes the card and records it.
    pub(super) fn confirm_prolong(&mut self) -> Task<Message> {
        if self.prolong.as_ref().is_some_and(|ask| ask.from_usos) {
            return self.confirm_usos_prolong();
        }
        let Some(Ok(setup)) = self.setup.clone() else {
            return Task::none();
        };
        let holograms = self.holograms.prolong;
        let Some(ask) = self.prolong.as_mut().filter(|ask| !ask.writing) else {
            return Task::none();
        };
        let today = OffsetDateTime::now_utc().date();
        let new_expiry = match parse_date(&ask.expiry) {
            None => Err(Text::ProblemNotADate),
            Some(date) => desk::check_new_expiry(date, ask.current, today)
                .map(|()| date)
                .map_err(|refused| match refused {
                    ExpiryRefused::InThePast(_) => Text::ProblemExpiryPast,
                    ExpiryRefused::NotLater { .. } => Text::ProblemExpiryNotLater,
                }),
        };
        let hologram = sticker_number(holograms, &ask.sticker);
        ask.expiry_problem = new_expiry.err().map(Note::Check);
        ask.sticker_problem = hologram.err().map(Note::Check);
        let (Ok(new_expiry), Ok(hologram)) = (new_expiry, hologram) else {
            return Task::none();
        };
        ask.writing = true;
        let card_id = ask.card_id;
        let (access, db, session) = (self.access.clone(), self.db.clone(), self.session.clone());
        self.notice = None;
        // The card first, then the store: the store is not held while the reader is waited for.
        let change = blocking("card", move || {
            let mut card = access.connect().map_err(Failure::from)?;
            let mut store = db.lock()?;
            let prolonged = desk::prolong_card(
                &session, &mut *card, &mut store, &setup, card_id, new_expiry, hologram, today,
            );
            Ok(match prolonged {
                Ok(card) => {
                    let mut done = format!("{} → {}", chip_serial(&card.uid), card.expires);
                    if let Some(number) = hologram {
                        done.push_str(&format!(" · {number}"));
                    }
                    Ok((Text::Prolonged, done))
                }
                Err(err @ DeskError::Hologram(_)) => Err(ProlongFailed::Sticker(err.into())),
                Err(err @ DeskError::Expiry(_)) => Err(ProlongFailed::Expiry(err.into())),
                Err(err) => Err(ProlongFailed::Other(err.into())),
            })
        });
        Task::perform(change, |outcome| {
            Message::ProlongDone(outcome.map_err(ProlongFailed::Other).and_then(|done| done))
        })
    }

    /// A USOS prolongation's sticker checked, the card is written from USOS's structure with
    /// it and USOS is told.
    fn confirm_usos_prolong(&mut self) -> Task<Message> {
        let holograms = self.holograms.prolong;
        let Some(ask) = self.prolong.as_mut().filter(|ask| !ask.writing) else {
            return Task::none();
        };
        let hologram = match sticker_number(holograms, &ask.sticker) {
            Ok(hologram) => hologram,
            Err(problem) => {
                ask.sticker_problem = Some(Note::Check(problem));
                return Task::none();
            }
        };
        let card_id = ask.card_id;
        let Some(prolongation) = self.usos_prolongation(card_id, hologram) else {
            return Task::none();
        };
        if let Some(ask) = &mut self.prolong {
            ask.writing = true;
        }
        self.notice = None;
        Task::perform(prolongation, |outcome| {
            Message::ProlongDone(match outcome {
                Err(failure) => Err(ProlongFailed::Other(failure)),
                Ok(Ok(done)) => Ok((Text::Prolonged, done)),
                Ok(Err(
                    err @ (UsosIssueError::Hologram(_) | UsosIssueError::StickerWithoutCard { .. }),
                )) => Err(ProlongFailed::Sticker(err.into())),
                Ok(Err(err @ UsosIssueError::NotTold { .. })) => {
                    Err(ProlongFailed::Written(err.into()))
                }
                Ok(Err(err)) => Err(ProlongFailed::Other(err.into())),
            })
        })
    }

    /// The prolongation came back: done, the step closes and the panel shows the card as it
    /// now is; refused, the step stays with the reason beside its field or on the panel.
    pub(super) fn prolong_done(
        &mut self,
        outcome: Result<(Text, String), ProlongFailed>,
    ) -> Task<Message> {
        let failed = match outcome {
            Ok(done) => {
                self.prolong = None;
                return self.changed(Ok(done));
            }
            Err(ProlongFailed::Written(err)) => {
                self.prolong = None;
                return self.changed(Err(err));
            }
            Err(failed) => failed,
        };
        let Some(ask) = &mut self.prolong else {
            return Task::none();
        };
        ask.writing = false;
        match failed {
            ProlongFailed::Sticker(err) => ask.sticker_problem = Some(Note::Refused(err)),
            ProlongFailed::Expiry(err) => ask.expiry_problem = Some(Note::Refused(err)),
            ProlongFailed::Other(err) | ProlongFailed::Written(err) => self.notice = Some(Err(err)),
        }
        Task::none()
    }

    /// Under a card's line while its prolongation waits.
    pub(super) fn prolong_view<'a>(
        &'a self,
        ask: &'a ProlongAsk,
        language: Language,
    ) -> Element<'a, Message> {
        let note = |problem: &Option<Note>| -> Element<'a, Message> {
            let line = match problem {
                None => String::new(),
                Some(Note::Check(key)) => t(language, *key).to_owned(),
                Some(Note::Refused(err)) => crate::ui::problem(language, err),
            };
            text(line)
                .size(theme::SMALL_SIZE)
                .color(theme::PROBLEM)
                .into()
        };
        let field = |label: Text, input: text_input::TextInput<'a, Message>, problem| {
            row![
                text(t(language, label)).width(LABEL_WIDTH),
                input.width(INPUT_WIDTH).padding(8).size(theme::BODY_SIZE),
                note(problem),
            ]
            .spacing(10)
            .align_y(Alignment::Center)
        };
        let mut step = column![text(t(language, Text::ProlongTitle)).font(theme::BOLD)].spacing(6);
        if self.holograms.prolong {
            step = step.push(field(
                Text::StickerNumber,
                text_input(t(language, Text::StickerPlaceholder), &ask.sticker)
                    .id(STICKER_ID)
                    .on_input(Message::ProlongSticker)
                    .on_submit(Message::ConfirmProlong),
                &ask.sticker_problem,
            ));
            if let Some(left) = ask.stock {
                step = step.push(holograms::stock_view(
                    language,
                    left,
                    self.holograms.low_stock,
                ));
            }
        }
        step = if ask.from_usos {
            step.push(
                row![
                    text(t(language, Text::NewExpiry)).width(LABEL_WIDTH),
                    text(format!(
                        "{} ({})",
                        self.usos_chip_of(ask.card_id)
                            .and_then(|chip| self.usos_expiry_of(&chip))
                            .unwrap_or_else(|| "–".to_owned()),
                        t(language, Text::ExpiryFromUsos)
                    )),
                ]
                .spacing(10)
                .align_y(Alignment::Center),
            )
        } else {
            step.push(field(
                Text::NewExpiry,
                text_input(t(language, Text::DatePlaceholderPlain), &ask.expiry)
                    .id(EXPIRY_ID)
                    .on_input(Message::ProlongExpiry)
                    .on_submit(Message::ConfirmProlong),
                &ask.expiry_problem,
            ))
        };
        let confirm = button(text(t(language, Text::ConfirmProlong)).size(theme::SMALL_SIZE))
            .on_press_maybe((!ask.writing).then_some(Message::ConfirmProlong));
        step.push(
            row![
                confirm,
                button(text(t(language, Text::Cancel)).size(theme::SMALL_SIZE))
                    .style(button::secondary)
                    .on_press(Message::CancelProlong),
                text(t(
                    language,
                    if ask.writing {
                        Text::ProlongWriting
                    } else {
                        Text::ProlongHint
                    }
                ))
                .size(theme::SMALL_SIZE)
                .color(theme::MUTED),
            ]
            .spacing(10)
            .align_y(Alignment::Center),
        )
        .padding([4, 10])
        .into()
    }
}

/// The sticker typed or scanned, when the desk uses them: digits only.
fn sticker_number(holograms: bool, typed: &str) -> Result<Option<i64>, Text> {
    match (holograms, typed.trim()) {
        (false, _) => Ok(None),
        (true, "") => Err(Text::ProblemStickerMissing),
        (true, digits) => digits
            .parse::<i64>()
            .ok()
            .filter(|_| digits.chars().all(|c| c.is_ascii_digit()))
            .map(Some)
            .ok_or(Text::ProblemStickerNotANumber),
    }
}

const LABEL_WIDTH: f32 = 230.0;
const INPUT_WIDTH: f32 = 200.0;
