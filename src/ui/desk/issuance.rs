//! Issuing a card at the desk: "put the card on the reader", the six steps as they run on
//! a blocking thread, and what to do when one fails (put a torn card back to resume, say
//! why a duplicate is made). When USOS says the holder's card may be written, the card gets
//! USOS's signed structure and card key (`station::usos::issue`, as `usos issue`), with the
//! same steps. Otherwise, with a `[desfire]` profile the card also gets the DESFire
//! application (on the contactless reader when the profile names one apart); the outcome says
//! so, or that it was not written because the holder's card has no number yet.

use std::sync::Arc;

use iced::widget::{button, column, container, row, text};
use iced::{Alignment, Element, Length, Task};
use time::{Date, OffsetDateTime};

use super::usos::usos_trusted;
use super::{Desk, Event, Message, Panel};
use crate::card::{ReaderEvent, Transport, els};
use crate::config::Language;
use crate::crypto::diversify::KeyAlgorithm;
use crate::error::Failure;
use crate::remote::usos::UsosClient;
use crate::station::auth::{Action, Session};
use crate::station::desk::{
    self, DesfireOutcome, DeskError, DeskSetup, DuplicateReason, IssueRequest, IssuedCard,
};
use crate::station::issue::{self, Step, chip_serial};
use crate::station::usos::{self as usos_flow, FindBy, UsosDesk, UsosIssueError};
use crate::store::Store;
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
    /// The reader went away mid-write; `resume` is the chip the write started on, issued
    /// again (checked, then finished or rewritten) when the reader is back with it.
    ReaderGone {
        reader: String,
        resume: Option<Vec<u8>>,
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
    /// The reader named went away mid-write: wait for it and the same chip to come back.
    pub reader_gone: Option<String>,
    pub needs_reason: bool,
    /// No card on the reader yet: wait for one rather than call it a failure.
    pub no_card: bool,
}

impl IssueFailure {
    fn of(err: DeskError) -> Self {
        Self {
            card_removed: err.card_removed(),
            reader_gone: err.reader_gone_during_write().map(str::to_owned),
            needs_reason: matches!(err, DeskError::NeedsDuplicateReason { .. }),
            no_card: false,
            failure: err.into(),
        }
    }

    fn of_usos(err: UsosIssueError) -> Self {
        Self {
            card_removed: err.card_removed(),
            ..Self::shown(err.into())
        }
    }

    /// A failure that only needs showing.
    fn shown(failure: Failure) -> Self {
        Self {
            failure,
            card_removed: false,
            reader_gone: None,
            needs_reason: false,
            no_card: false,
        }
    }

    /// A reader that could not be connected: with no card on it yet, the desk waits for one.
    fn not_connected(err: crate::card::TransportError) -> Self {
        Self {
            no_card: matches!(
                err,
                crate::card::TransportError::NoCard(_) | crate::card::TransportError::CardRemoved
            ),
            ..Self::shown(err.into())
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
            Issuance::WaitingForCard { resume, .. } | Issuance::ReaderGone { resume, .. } => {
                let resume = resume.clone();
                self.start_issue(resume)
            }
            _ => Task::none(),
        }
    }

    /// USOS's side of an issuance, when USOS says the open holder's card may be written:
    /// the card is then looked up by its barcode (so only that card is written), or by the
    /// chip on the reader when USOS gives none.
    fn usos_issuance(&self) -> Option<UsosIssuance> {
        let usos = self.usos.as_ref()?;
        let card = usos.writable_card()?;
        Some(UsosIssuance {
            client: usos.client()?.clone(),
            key_algorithm: usos.key_algorithm,
            find_by: card
                .barcode_number
                .clone()
                .map_or(FindBy::ChipUid, FindBy::Barcode),
        })
    }

    pub(super) fn start_issue(&mut self, resume: Option<Vec<u8>>) -> Task<Message> {
        let Some(cardholder) = self.panel.as_ref().and_then(|p| p.cardholder.as_ref()) else {
            return Task::none();
        };
        let today = OffsetDateTime::now_utc().date();
        let source = match (self.usos_issuance(), self.setup.clone()) {
            (Some(usos), _) => Source::Usos(usos),
            (None, Some(Ok(setup))) => Source::Desk(setup),
            (None, _) => return Task::none(),
        };
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
            source,
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
                self.issuance = if let Some(reader) = failure.reader_gone {
                    Issuance::ReaderGone {
                        reader,
                        resume: started_on,
                    }
                } else if failure.no_card || failure.card_removed {
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
        let from_usos = self.usos_issuance().is_some();
        if let Some(problem) = match &self.setup {
            _ if from_usos => None,
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
        if from_usos {
            page = page.push(
                text(t(language, Text::UsosIssuance))
                    .size(theme::SMALL_SIZE)
                    .color(theme::MUTED),
            );
        }
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
                    text(crate::ui::in_language(why, language).0.to_owned())
                        .size(theme::SMALL_SIZE)
                        .color(theme::MUTED),
                );
            }
            Issuance::ReaderGone { reader, .. } => {
                page = page.push(
                    text(t(language, Text::ReaderGoneMidWrite))
                        .size(theme::HEADING_SIZE)
                        .color(theme::PROBLEM),
                );
                page = page.push(
                    text(reader.clone())
                        .size(theme::SMALL_SIZE)
                        .color(theme::MUTED),
                );
                page = page.push(text(format!(
                    "→ {}",
                    t(language, Text::PlugReaderBackToFinish)
                )));
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
                match &issued.desfire {
                    DesfireOutcome::NotWritten => {}
                    DesfireOutcome::Issued { contactless_uid } => {
                        page = page.push(
                            text(format!(
                                "{} {}",
                                t(language, Text::DesfireIssued),
                                chip_serial(contactless_uid)
                            ))
                            .color(theme::OK),
                        );
                    }
                    DesfireOutcome::NoCardNumber => {
                        page = page
                            .push(text(t(language, Text::DesfireNoNumber)).color(theme::PROBLEM));
                        page = page.push(text(format!(
                            "→ {}",
                            t(language, Text::DesfireNoNumberNext)
                        )));
                    }
                }
            }
            Issuance::Failed {
                failure,
                needs_reason,
            } => {
                let (cause, next_step) = crate::ui::in_language(failure, language);
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

/// Where the structure written comes from.
enum Source {
    /// Signed here with the profile's signer.
    Desk(Arc<DeskSetup>),
    /// USOS's `student_card_data`.
    Usos(UsosIssuance),
}

struct UsosIssuance {
    client: UsosClient,
    key_algorithm: KeyAlgorithm,
    find_by: FindBy,
}

/// One issuance, run on a blocking thread.
struct IssueWork {
    access: CardAccess,
    db: Db,
    session: Session,
    source: Source,
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
        let mut card = self.access.connect().map_err(IssueFailure::not_connected)?;
        let uid = els::serial_to_bind(&mut *card)
            .map_err(|err| IssueFailure::of(DeskError::Issue(err.into())))?;
        emit(IssueEvent::Uid(uid));
        let mut contactless = self
            .access
            .connect_contactless()
            .map_err(IssueFailure::not_connected)?;
        let mut store = self.db.lock().map_err(IssueFailure::shown)?;
        match &self.source {
            Source::Desk(setup) => desk::issue_card(
                &self.session,
                &mut *card,
                contactless
                    .as_deref_mut()
                    .map(|chip| chip as &mut dyn Transport),
                &mut store,
                setup,
                &self.request,
                self.today,
                &mut |step| emit(IssueEvent::Step(step)),
            )
            .map_err(IssueFailure::of),
            Source::Usos(usos) => self.issue_from_usos(usos, &mut *card, &mut store, emit),
        }
    }

    /// The issuance `usos issue` makes, for the signed-in operator.
    fn issue_from_usos(
        &self,
        usos: &UsosIssuance,
        card: &mut dyn Transport,
        store: &mut Store,
        emit: &mut dyn FnMut(IssueEvent),
    ) -> Result<IssuedCard, IssueFailure> {
        self.session
            .require(Action::IssueCard)
            .map_err(|denied| IssueFailure::shown(denied.into()))?;
        let trusted = usos_trusted(store).map_err(IssueFailure::shown)?;
        let usos_desk = UsosDesk {
            client: &usos.client,
            key_algorithm: usos.key_algorithm,
            trusted: &trusted,
            operator: &self.session.operator,
        };
        let issued = tokio::runtime::Handle::current()
            .block_on(usos_flow::issue(
                &usos_desk,
                card,
                store,
                self.request.cardholder_id,
                &usos.find_by,
                self.today,
                &mut |step| emit(IssueEvent::Step(step)),
            ))
            .map_err(IssueFailure::of_usos)?;
        Ok(IssuedCard {
            card_id: issued.card_id.unwrap_or_default(),
            uid: issued.issued.uid,
            expires: issued.issued.verified.data.expires,
            desfire: DesfireOutcome::NotWritten,
        })
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
