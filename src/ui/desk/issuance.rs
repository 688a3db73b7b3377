//! Issuing a card at the desk: "put the card on the reader", the six steps as they run on
//! a blocking thread, and what to do when one fails (put a torn card back to resume, say
//! why a duplicate is made).

use std::sync::Arc;

use iced::widget::{button, column, container, row, text};
use iced::{Alignment, Element, Length, Task};
use time::{Date, OffsetDateTime};

use super::{Desk, Event, Message, Panel};
use crate::card::{ReaderEvent, els};
use crate::config::Language;
use crate::error::Failure;
use crate::station::auth::{Action, Session};
use crate::station::desk::{self, DeskError, DeskSetup, DuplicateReason, IssueRequest, IssuedCard};
use crate::station::issue::{self, Step, chip_serial};
use crate::ui::i18n::{Text, t};
use crate::ui::{CardAccess, Db, stopped, theme};

#[derive(Debug, Clone, PartialEq)]
pub enum Issuance {
    Idle,
    /// Waiting for a card on the contact reader; `resume` is the chip a torn write started on.
    WaitingForCard {
        resume: Option<Vec<u8>>,
        why: Failure,
    },
    Running {
        uid: Option<Vec<u8>>,
        done: Vec<Step>,
        current: Step,
    },
    Done(IssuedCard),
    Failed {
        failure: Failure,
        needs_reason: bool,
    },
}

/// What the issuance thread reports as it goes.
#[derive(Debug, Clone)]
pub enum IssueEvent {
    Uid(Vec<u8>),
    Step(Step),
    Finished(Result<IssuedCard, IssueFailure>),
}

/// A failed issuance, with what the desk does about it beyond showing it.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueFailure {
    pub failure: Failure,
    /// Taken off the reader mid-write: wait for the same chip to come back.
    pub card_removed: bool,
    pub needs_reason: bool,
    /// No card on the reader yet: wait for one rather than call it a failure.
    pub no_card: bool,
}

impl IssueFailure {
    fn of(err: DeskError) -> Self {
        Self {
            card_removed: err.card_removed(),
            needs_reason: matches!(err, DeskError::NeedsDuplicateReason { .. }),
            no_card: false,
            failure: err.into(),
        }
    }

    /// A failure that only needs showing.
    fn shown(failure: Failure) -> Self {
        Self {
            failure,
            card_removed: false,
            needs_reason: false,
            no_card: false,
        }
    }
}

impl Desk {
    /// A card put on the contact reader resumes an issuance that waits for one.
    pub(super) fn reader(&mut self, event: ReaderEvent) -> Task<Message> {
        let ReaderEvent::CardInserted { reader, .. } = event else {
            return Task::none();
        };
        if !self.access.is_contact_reader(&reader) {
            return Task::none();
        }
        match &self.issuance {
            Issuance::WaitingForCard { resume, .. } => {
                let resume = resume.clone();
                self.start_issue(resume)
            }
            _ => Task::none(),
        }
    }

    pub(super) fn start_issue(&mut self, resume: Option<Vec<u8>>) -> Task<Message> {
        let Some(cardholder) = self.panel.as_ref().and_then(|p| p.cardholder.as_ref()) else {
            return Task::none();
        };
        let Some(Ok(setup)) = self.setup.clone() else {
            return Task::none();
        };
        let today = OffsetDateTime::now_utc().date();
        let request = IssueRequest {
            cardholder_id: cardholder.id,
            expires: issue::default_expiry(today),
            expected_uid: resume.clone(),
            duplicate: self.duplicate,
        };
        self.issuance = Issuance::Running {
            uid: resume,
            done: Vec::new(),
            current: Step::ReadUid,
        };
        let work = IssueWork {
            access: self.access.clone(),
            db: self.db.clone(),
            session: self.session.clone(),
            setup,
            request,
            today,
        };
        Task::run(work.events(), Message::Issuing)
    }

    /// Follows the issuance thread; a card issued is news for the window (see [`Event`]).
    pub(super) fn issuing(&mut self, event: IssueEvent) -> (Task<Message>, Option<Event>) {
        match event {
            IssueEvent::Uid(read) => {
                if let Issuance::Running { uid, .. } = &mut self.issuance {
                    *uid = Some(read);
                }
            }
            IssueEvent::Step(step) => {
                if let Issuance::Running { done, current, .. } = &mut self.issuance {
                    if *current != step {
                        done.push(*current);
                    }
                    *current = step;
                }
            }
            IssueEvent::Finished(Ok(issued)) => {
                self.issuance = Issuance::Done(issued);
                self.duplicate = None;
                return (self.reopen(), Some(Event::StoreChanged));
            }
            IssueEvent::Finished(Err(failure)) => {
                let started_on = match &self.issuance {
                    Issuance::Running { uid, .. } => uid.clone(),
                    _ => None,
                };
                self.issuance = if failure.no_card || failure.card_removed {
                    Issuance::WaitingForCard {
                        resume: started_on.filter(|_| failure.card_removed),
                        why: failure.failure,
                    }
                } else {
                    Issuance::Failed {
                        failure: failure.failure,
                        needs_reason: failure.needs_reason,
                    }
                };
            }
        }
        (Task::none(), None)
    }

    pub(super) fn issuance_view<'a>(
        &'a self,
        panel: &'a Panel,
        language: Language,
    ) -> Element<'a, Message> {
        if !self.session.may(Action::IssueCard) {
            return text(t(language, Text::MayNotIssue))
                .color(theme::MUTED)
                .into();
        }
        if let Some(problem) = match &self.setup {
            None => Some(t(language, Text::LoadingSigner).to_owned()),
            Some(Err(failure)) => Some(format!(
                "{} {}",
                t(language, Text::CannotIssue),
                crate::ui::problem(language, failure)
            )),
            Some(Ok(_)) => None,
        } {
            return text(problem).color(theme::PROBLEM).into();
        }
        let busy = matches!(self.issuance, Issuance::Running { .. });
        let issue = button(text(t(language, Text::IssueCard)).size(theme::HEADING_SIZE))
            .padding([10, 22])
            .on_press_maybe((!busy && panel.cardholder.is_some()).then_some(Message::Issue));
        let mut page = column![issue].spacing(12);
        match &self.issuance {
            Issuance::Idle => {}
            Issuance::WaitingForCard { resume, why } => {
                let ask = if resume.is_some() {
                    t(language, Text::PutBackToResume)
                } else {
                    t(language, Text::PutCardOnReader)
                };
                page = page.push(text(ask).size(theme::HEADING_SIZE).color(theme::ACCENT));
                page = page.push(
                    text(why.in_language(language).0.to_owned())
                        .size(theme::SMALL_SIZE)
                        .color(theme::MUTED),
                );
            }
            Issuance::Running { uid, done, current } => {
                page = page.push(steps_view(done, Some(*current), uid.as_deref(), language));
            }
            Issuance::Done(issued) => {
                page = page.push(steps_view(&Step::ALL, None, Some(&issued.uid), language));
                page = page.push(
                    text(format!(
                        "{} {} · {} {}",
                        t(language, Text::Issued),
                        chip_serial(&issued.uid),
                        t(language, Text::ValidUntil),
                        issued.expires
                    ))
                    .size(theme::HEADING_SIZE)
                    .color(theme::OK),
                );
            }
            Issuance::Failed {
                failure,
                needs_reason,
            } => {
                let (cause, next_step) = failure.in_language(language);
                page = page.push(text(cause.to_owned()).color(theme::PROBLEM));
                page = page.push(text(format!("→ {next_step}")));
                if *needs_reason {
                    page = page.push(
                        row![
                            button(text(t(language, Text::DuplicateLost)))
                                .style(button::secondary)
                                .on_press(Message::Duplicate(DuplicateReason::Lost)),
                            button(text(t(language, Text::DuplicateDamaged)))
                                .style(button::secondary)
                                .on_press(Message::Duplicate(DuplicateReason::Damaged)),
                        ]
                        .spacing(10),
                    );
                }
            }
        }
        if let Some(reason) = self.duplicate {
            page = page.push(
                text(match reason {
                    DuplicateReason::Lost => t(language, Text::DuplicateLostChosen),
                    DuplicateReason::Damaged => t(language, Text::DuplicateDamagedChosen),
                })
                .color(theme::ACCENT),
            );
        }
        container(page)
            .padding(14)
            .width(Length::Fill)
            .style(container::bordered_box)
            .into()
    }
}

/// The six steps with a mark each: done ✓, current ▶, still to come ·.
fn steps_view<'a, M: 'a>(
    done: &[Step],
    current: Option<Step>,
    uid: Option<&[u8]>,
    language: Language,
) -> Element<'a, M> {
    let mut line = row![].spacing(14).align_y(Alignment::Center);
    for step in Step::ALL {
        let (mark, colour) = if done.contains(&step) {
            ("✓", theme::OK)
        } else if current == Some(step) {
            ("▶", theme::ACCENT)
        } else {
            ("·", theme::MUTED)
        };
        line = line.push(text(format!("{mark} {}", step_name(step, language))).color(colour));
    }
    let mut page = column![line].spacing(6);
    if let Some(uid) = uid {
        page = page.push(
            text(format!("UID {}", chip_serial(uid)))
                .size(theme::SMALL_SIZE)
                .color(theme::MUTED),
        );
    }
    page.into()
}

fn step_name(step: Step, language: Language) -> &'static str {
    t(
        language,
        match step {
            Step::ReadUid => Text::StepUid,
            Step::TakeData => Text::StepData,
            Step::Sign => Text::StepSign,
            Step::Write => Text::StepWrite,
            Step::Verify => Text::StepVerify,
            Step::Record => Text::StepRecord,
        },
    )
}

/// One issuance, run on a blocking thread.
struct IssueWork {
    access: CardAccess,
    db: Db,
    session: Session,
    setup: Arc<DeskSetup>,
    request: IssueRequest,
    today: Date,
}

impl IssueWork {
    /// Runs the issuance, telling `emit` the chip, each step and the outcome.
    fn run(self, emit: &mut dyn FnMut(IssueEvent)) {
        let outcome = self.issue(emit);
        emit(IssueEvent::Finished(outcome));
    }

    fn issue(&self, emit: &mut dyn FnMut(IssueEvent)) -> Result<IssuedCard, IssueFailure> {
        let mut card = self.access.connect().map_err(|err| IssueFailure {
            no_card: matches!(
                err,
                crate::card::TransportError::NoCard(_) | crate::card::TransportError::CardRemoved
            ),
            ..IssueFailure::shown(err.into())
        })?;
        let uid = els::serial_to_bind(&mut *card)
            .map_err(|err| IssueFailure::of(DeskError::Issue(err.into())))?;
        emit(IssueEvent::Uid(uid));
        let mut store = self.db.lock().map_err(IssueFailure::shown)?;
        desk::issue_card(
            &self.session,
            &mut *card,
            &mut store,
            &self.setup,
            &self.request,
            self.today,
            &mut |step| emit(IssueEvent::Step(step)),
        )
        .map_err(IssueFailure::of)
    }

    fn events(self) -> impl iced::futures::Stream<Item = IssueEvent> {
        iced::stream::channel(16, async move |mut output| {
            let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
            let worker = tokio::task::spawn_blocking(move || {
                self.run(&mut |event| {
                    let _ = sender.send(event);
                })
            });
            use iced::futures::SinkExt;
            while let Some(event) = receiver.recv().await {
                if output.send(event).await.is_err() {
                    break;
                }
            }
            // A worker that panicked sent no Finished: say so, or the desk waits forever.
            if worker.await.is_err() {
                let stopped = IssueEvent::Finished(Err(IssueFailure::shown(stopped("issuance"))));
                let _ = output.send(stopped).await;
            }
        })
    }
}
