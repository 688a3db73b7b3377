//! The issuance desk: search-as-you-type over the people in the store, a cardholder panel
//! with their cards, and the "put the card on the reader" issuance with its steps. Searches,
//! store changes and card work run on blocking threads; the screen only shows what returns.

use std::sync::Arc;

use iced::widget::{Column, button, column, container, row, scrollable, space, text, text_input};
use iced::{Alignment, Element, Length, Task};
use time::{Date, OffsetDateTime};

use super::i18n::{Text, t};
use super::{CardAccess, Db, theme};
use crate::card::{ReaderEvent, read_uid};
use crate::config::Language;
use crate::station::auth::{Action, Session};
use crate::station::desk::{self, DeskError, DeskSetup, DuplicateReason, IssueRequest, IssuedCard};
use crate::station::issue::{Step, chip_serial};
use crate::store::{Card, CardStatus, Cardholder, CardholderStatus, Person};

/// How many hits the list shows; the operator narrows it by typing on.
const HITS: usize = 30;
pub const SEARCH_ID: &str = "desk-search";

/// The selected person with their cardholder record and cards.
#[derive(Debug, Clone)]
pub struct Panel {
    pub person: Person,
    pub cardholder: Option<Cardholder>,
    pub cards: Vec<Card>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Issuance {
    Idle,
    /// Waiting for a card on the contact reader; `resume` is the chip a torn write started on.
    WaitingForCard {
        resume: Option<Vec<u8>>,
        why: String,
    },
    Running {
        uid: Option<Vec<u8>>,
        done: Vec<Step>,
        current: Step,
    },
    Done(IssuedCard),
    Failed {
        cause: String,
        next_step: String,
        needs_reason: bool,
    },
}

/// What the issuance thread reports as it goes.
#[derive(Debug, Clone)]
pub enum IssueEvent {
    Uid(Vec<u8>),
    Step(Step),
    Finished(Result<IssuedCard, Failure>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub cause: String,
    pub next_step: String,
    pub card_removed: bool,
    pub needs_reason: bool,
    /// No card on the reader yet: wait for one rather than call it a failure.
    pub no_card: bool,
}

impl Failure {
    fn of(err: &DeskError) -> Self {
        Self {
            cause: err.to_string(),
            next_step: err.next_step().to_owned(),
            card_removed: err.card_removed(),
            needs_reason: matches!(err, DeskError::NeedsDuplicateReason { .. }),
            no_card: false,
        }
    }
}

pub struct Desk {
    db: Db,
    session: Session,
    access: CardAccess,
    pub query: String,
    generation: u64,
    pub hits: Vec<Person>,
    pub highlighted: Option<usize>,
    pub panel: Option<Panel>,
    pub issuance: Issuance,
    setup: Result<Arc<DeskSetup>, String>,
    duplicate: Option<DuplicateReason>,
    /// The outcome of the last block / unblock, or a store error.
    pub notice: Option<Result<String, String>>,
}

#[derive(Debug, Clone)]
pub enum Message {
    QueryChanged(String),
    Searched {
        generation: u64,
        result: Result<Vec<Person>, String>,
    },
    Move(i32),
    OpenHighlighted,
    Open(i64),
    Opened(Result<Box<Panel>, String>),
    SetupLoaded(Result<Arc<DeskSetup>, String>),
    Issue,
    Duplicate(DuplicateReason),
    Issuing(IssueEvent),
    SetBlocked {
        card_id: i64,
        blocked: bool,
    },
    /// Prolong the card on the reader to the end of the semester after its current expiry.
    Prolong {
        expires: Option<Date>,
    },
    Changed(Result<String, String>),
    Reader(ReaderEvent),
}

impl Desk {
    pub fn new(
        db: Db,
        session: Session,
        access: CardAccess,
        setup: Task<Result<Arc<DeskSetup>, String>>,
    ) -> (Self, Task<Message>) {
        let desk = Self {
            db,
            session,
            access,
            query: String::new(),
            generation: 0,
            hits: Vec::new(),
            highlighted: None,
            panel: None,
            issuance: Issuance::Idle,
            setup: Err(String::new()),
            duplicate: None,
            notice: None,
        };
        let focus = iced::widget::operation::focus(SEARCH_ID);
        (desk, Task::batch([setup.map(Message::SetupLoaded), focus]))
    }

    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::QueryChanged(query) => {
                self.query = query.clone();
                self.generation += 1;
                let generation = self.generation;
                return Task::perform(search(self.db.clone(), query), move |result| {
                    Message::Searched { generation, result }
                });
            }
            // Only the answer to the latest keystroke counts; older ones arrive late.
            Message::Searched { generation, result } if generation == self.generation => {
                match result {
                    Ok(hits) => {
                        self.highlighted = (!hits.is_empty()).then_some(0);
                        self.hits = hits;
                    }
                    Err(err) => self.notice = Some(Err(err)),
                }
            }
            Message::Searched { .. } => {}
            Message::Move(by) => {
                if !self.hits.is_empty() {
                    let last = self.hits.len() as i32 - 1;
                    let at = self.highlighted.map_or(0, |i| i as i32 + by).clamp(0, last);
                    self.highlighted = Some(at as usize);
                }
            }
            Message::OpenHighlighted => {
                if let Some(person) = self.highlighted.and_then(|i| self.hits.get(i)) {
                    return self.update(Message::Open(person.id));
                }
            }
            Message::Open(person_id) => {
                self.issuance = Issuance::Idle;
                self.duplicate = None;
                self.notice = None;
                if let Some(i) = self.hits.iter().position(|p| p.id == person_id) {
                    self.highlighted = Some(i);
                }
                return Task::perform(open(self.db.clone(), person_id), Message::Opened);
            }
            Message::Opened(Ok(panel)) => self.panel = Some(*panel),
            Message::Opened(Err(err)) => self.notice = Some(Err(err)),
            Message::SetupLoaded(setup) => self.setup = setup,
            Message::Duplicate(reason) => self.duplicate = Some(reason),
            Message::Issue => return self.start_issue(None),
            Message::Issuing(event) => return self.issuing(event),
            Message::Reader(ReaderEvent::CardInserted { reader, .. })
                if self.access.is_contact_reader(&reader) =>
            {
                if let Issuance::WaitingForCard { resume, .. } = &self.issuance {
                    let resume = resume.clone();
                    return self.start_issue(resume);
                }
            }
            Message::Reader(_) => {}
            Message::Prolong { expires } => {
                let Ok(setup) = self.setup.clone() else {
                    return Task::none();
                };
                let today = OffsetDateTime::now_utc().date();
                let new_expiry = desk::default_expiry(expires.map_or(today, |e| e.max(today)));
                let (access, db, session) =
                    (self.access.clone(), self.db.clone(), self.session.clone());
                self.notice = None;
                return Task::perform(
                    async move {
                        tokio::task::spawn_blocking(move || {
                            let mut card = access
                                .connect()
                                .map_err(|err| format!("{err}: {}", err.next_step()))?;
                            let mut store = db.lock()?;
                            desk::prolong_card(
                                &session, &mut *card, &mut store, &setup, new_expiry, today,
                            )
                            .map(|card| format!("{} → {}", chip_serial(&card.uid), card.expires))
                            .map_err(|err| format!("{err}: {}", err.next_step()))
                        })
                        .await
                        .unwrap_or_else(|_| Err("the card thread stopped".to_owned()))
                    },
                    Message::Changed,
                );
            }
            Message::SetBlocked { card_id, blocked } => {
                let session = self.session.clone();
                let db = self.db.clone();
                let reason = if blocked {
                    "reported lost at the desk"
                } else {
                    "found again; unblocked at the desk"
                };
                return Task::perform(
                    async move {
                        db.run(move |store| {
                            desk::set_blocked(&session, store, card_id, blocked, reason)
                                .map(|_| format!("card {card_id}"))
                                .map_err(|err| format!("{err}: {}", err.next_step()))
                        })
                        .await
                        .and_then(|result| result)
                    },
                    Message::Changed,
                );
            }
            Message::Changed(result) => {
                self.notice = Some(result);
                return self.reopen();
            }
        }
        Task::none()
    }

    fn reopen(&self) -> Task<Message> {
        match &self.panel {
            Some(panel) => Task::perform(open(self.db.clone(), panel.person.id), Message::Opened),
            None => Task::none(),
        }
    }

    fn start_issue(&mut self, resume: Option<Vec<u8>>) -> Task<Message> {
        let Some(cardholder) = self.panel.as_ref().and_then(|p| p.cardholder.as_ref()) else {
            return Task::none();
        };
        let setup = match &self.setup {
            Ok(setup) => setup.clone(),
            Err(_) => return Task::none(),
        };
        let today = OffsetDateTime::now_utc().date();
        let request = IssueRequest {
            cardholder_id: cardholder.id,
            expires: desk::default_expiry(today),
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

    fn issuing(&mut self, event: IssueEvent) -> Task<Message> {
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
                return self.reopen();
            }
            IssueEvent::Finished(Err(failure)) => {
                let started_on = match &self.issuance {
                    Issuance::Running { uid, .. } => uid.clone(),
                    _ => None,
                };
                self.issuance = if failure.no_card || failure.card_removed {
                    Issuance::WaitingForCard {
                        resume: started_on.filter(|_| failure.card_removed),
                        why: failure.cause,
                    }
                } else {
                    Issuance::Failed {
                        cause: failure.cause,
                        next_step: failure.next_step,
                        needs_reason: failure.needs_reason,
                    }
                };
            }
        }
        Task::none()
    }

    pub fn view(&self, language: Language) -> Element<'_, Message> {
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
        } else if self.hits.is_empty() {
            t(language, Text::NoMatches)
        } else {
            ""
        };
        let left = column![
            search,
            text(hint).size(theme::SMALL_SIZE).color(theme::MUTED)
        ]
        .push(scrollable(list).height(Length::Fill))
        .spacing(8)
        .width(Length::FillPortion(2));
        let right = match &self.panel {
            Some(panel) => self.panel_view(panel, language),
            None => container(text(t(language, Text::PickSomeone)).color(theme::MUTED))
                .center(Length::Fill)
                .into(),
        };
        row![left, container(right).width(Length::FillPortion(3))]
            .spacing(20)
            .height(Length::Fill)
            .into()
    }

    fn panel_view<'a>(&'a self, panel: &'a Panel, language: Language) -> Element<'a, Message> {
        let person = &panel.person.fields;
        let initials: String = [&person.first_name, &person.last_name]
            .iter()
            .filter_map(|name| name.chars().next())
            .collect();
        let avatar = container(
            text(initials)
                .size(34)
                .font(theme::BOLD)
                .color(iced::Color::WHITE),
        )
        .center(84)
        .style(|_| container::Style {
            background: Some(theme::ACCENT.into()),
            border: iced::Border::default().rounded(42),
            ..container::Style::default()
        });
        let facts = column![
            text(format!("{} {}", person.first_name, person.last_name))
                .size(theme::HEADING_SIZE)
                .font(theme::BOLD),
            text(format!(
                "{} {} · PESEL {} · {} {}",
                t(language, Text::Album),
                person.album_number.as_deref().unwrap_or("–"),
                person.pesel.as_deref().unwrap_or("–"),
                t(language, Text::Born),
                person.birth_date
            )),
            text(match &panel.cardholder {
                Some(cardholder) => format!(
                    "{} {} · {}",
                    t(language, Text::Cardholder),
                    cardholder.id,
                    cardholder_status_name(cardholder.fields.status, language)
                ),
                None => t(language, Text::NoCardholder).to_owned(),
            })
            .size(theme::SMALL_SIZE)
            .color(theme::MUTED),
        ]
        .spacing(4);
        let mut cards = Column::new().spacing(6);
        cards = cards.push(text(t(language, Text::Cards)).font(theme::BOLD));
        if panel.cards.is_empty() {
            cards = cards.push(text(t(language, Text::NoCards)).color(theme::MUTED));
        }
        for card in &panel.cards {
            cards = cards.push(self.card_line(card, language));
        }
        let mut page = column![
            row![avatar, facts].spacing(16).align_y(Alignment::Center),
            cards
        ]
        .spacing(18);
        if let Some(notice) = &self.notice {
            page = page.push(match notice {
                Ok(what) => text(format!("{} {what}", t(language, Text::Saved))).color(theme::OK),
                Err(err) => text(err.clone()).color(theme::PROBLEM),
            });
        }
        page = page.push(self.issuance_view(panel, language));
        scrollable(page.padding(4)).height(Length::Fill).into()
    }

    fn card_line<'a>(&self, card: &'a Card, language: Language) -> Element<'a, Message> {
        let fields = &card.fields;
        let blocked = fields.status.refuses_entry();
        let what = column![
            text(
                fields
                    .contact_uid
                    .clone()
                    .or(fields.contactless_uid.clone())
                    .or(fields.card_number.clone())
                    .unwrap_or_else(|| format!("#{}", card.id))
            )
            .font(theme::BOLD),
            row![
                text(card_status_name(fields.status, language)).color(if blocked {
                    theme::PROBLEM
                } else {
                    theme::OK
                }),
                text(match fields.expires {
                    Some(date) => format!("{} {date}", t(language, Text::ValidUntil)),
                    None => String::new(),
                })
                .color(theme::MUTED),
            ]
            .spacing(10),
        ]
        .spacing(2);
        let mut line = row![what, space::horizontal()]
            .spacing(10)
            .align_y(Alignment::Center);
        if !blocked && self.session.may(Action::ProlongCard) && self.setup.is_ok() {
            line = line.push(
                button(text(t(language, Text::Prolong)).size(theme::SMALL_SIZE))
                    .style(button::secondary)
                    .on_press(Message::Prolong {
                        expires: fields.expires,
                    }),
            );
        }
        let action = if blocked {
            Action::UnblockCard
        } else {
            Action::BlockCard
        };
        if self.session.may(action) {
            let label = if blocked {
                t(language, Text::Unblock)
            } else {
                t(language, Text::Block)
            };
            line = line.push(
                button(text(label).size(theme::SMALL_SIZE))
                    .style(if blocked {
                        button::secondary
                    } else {
                        button::danger
                    })
                    .on_press(Message::SetBlocked {
                        card_id: card.id,
                        blocked: !blocked,
                    }),
            );
        }
        container(line)
            .padding([6, 10])
            .style(container::rounded_box)
            .into()
    }

    fn issuance_view<'a>(&'a self, panel: &'a Panel, language: Language) -> Element<'a, Message> {
        if !self.session.may(Action::IssueCard) {
            return text(t(language, Text::MayNotIssue))
                .color(theme::MUTED)
                .into();
        }
        if let Err(reason) = &self.setup {
            return text(if reason.is_empty() {
                t(language, Text::LoadingSigner).to_owned()
            } else {
                format!("{} {reason}", t(language, Text::CannotIssue))
            })
            .color(theme::PROBLEM)
            .into();
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
                    text(why.clone())
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
                cause,
                next_step,
                needs_reason,
            } => {
                page = page.push(text(cause.clone()).color(theme::PROBLEM));
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

/// The statuses a desk sees daily in the operator's language; the rarer ones as the server
/// names them.
fn card_status_name(status: CardStatus, language: Language) -> &'static str {
    let key = match status {
        CardStatus::Personalized => Text::StatusPersonalized,
        CardStatus::Activated | CardStatus::Issued => Text::StatusActive,
        CardStatus::Blocked | CardStatus::BulkBlocked => Text::StatusBlocked,
        CardStatus::Withdrawn => Text::StatusWithdrawn,
        CardStatus::Expired => Text::StatusExpired,
        _ => return status.as_str(),
    };
    t(language, key)
}

fn cardholder_status_name(status: CardholderStatus, language: Language) -> &'static str {
    let key = match status {
        CardholderStatus::Activated => Text::StatusActive,
        CardholderStatus::Blocked => Text::StatusBlocked,
        CardholderStatus::Expired => Text::StatusExpired,
        _ => return status.as_str(),
    };
    t(language, key)
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

pub async fn search(db: Db, query: String) -> Result<Vec<Person>, String> {
    db.run(move |store| store.search_people(&query, HITS).map_err(|e| e.to_string()))
        .await
        .and_then(|result| result)
}

pub async fn open(db: Db, person_id: i64) -> Result<Box<Panel>, String> {
    db.run(move |store| {
        let person = store.get_person(person_id)?;
        let cardholder = store.cardholders_of_person(person_id)?.into_iter().next();
        let cards = match &cardholder {
            Some(cardholder) => store.cards_of_cardholder(cardholder.id)?,
            None => Vec::new(),
        };
        Ok::<_, crate::store::StoreError>(Box::new(Panel {
            person,
            cardholder,
            cards,
        }))
    })
    .await
    .and_then(|result| result.map_err(|e| format!("{e} ({})", e.next_step())))
}

/// One issuance, run on a blocking thread.
pub struct IssueWork {
    pub access: CardAccess,
    pub db: Db,
    pub session: Session,
    pub setup: Arc<DeskSetup>,
    pub request: IssueRequest,
    pub today: Date,
}

impl IssueWork {
    /// Runs the issuance, telling `emit` the chip, each step and the outcome.
    pub fn run(self, emit: &mut dyn FnMut(IssueEvent)) {
        let outcome = self.issue(emit);
        emit(IssueEvent::Finished(outcome));
    }

    fn issue(&self, emit: &mut dyn FnMut(IssueEvent)) -> Result<IssuedCard, Failure> {
        let mut card = self.access.connect().map_err(|err| Failure {
            no_card: matches!(
                err,
                crate::card::TransportError::NoCard(_) | crate::card::TransportError::CardRemoved
            ),
            cause: err.to_string(),
            next_step: err.next_step().to_owned(),
            card_removed: false,
            needs_reason: false,
        })?;
        let uid = read_uid(&mut *card).map_err(|err| Failure::of(&DeskError::Issue(err.into())))?;
        emit(IssueEvent::Uid(uid));
        let mut store = self.db.lock().map_err(|cause| Failure {
            cause,
            next_step: "restart the station".to_owned(),
            card_removed: false,
            needs_reason: false,
            no_card: false,
        })?;
        desk::issue_card(
            &self.session,
            &mut *card,
            &mut store,
            &self.setup,
            &self.request,
            self.today,
            &mut |step| emit(IssueEvent::Step(step)),
        )
        .map_err(|err| Failure::of(&err))
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
            let _ = worker.await;
        })
    }
}
