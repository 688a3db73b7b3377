//! The issuance desk: search-as-you-type over the people in the store, a cardholder panel
//! with their photo and cards (and, with a `[usos]` profile, what USOS has), and the "put
//! the card on the reader" issuance with its steps. Searches, store changes, photos, card
//! and network work run as tasks; the screen only shows what returns.

use std::path::PathBuf;
use std::sync::Arc;

use iced::widget::{
    Column, button, column, container, image, row, scrollable, space, text, text_input,
};
use iced::{Alignment, Element, Length, Task};
use time::{Date, OffsetDateTime};

use super::i18n::{Text, t};
use super::photo::{self, Photo};
use super::{CardAccess, Db, problem, stopped, theme};
use crate::card::{ReaderEvent, read_uid};
use crate::config::{CardReady, Language, Profile};
use crate::error::Problem;
use crate::remote::retry::RetryPolicy;
use crate::remote::usos::{UsosCard, UsosClient};
use crate::station::auth::{Action, Session};
use crate::station::desk::{self, DeskError, DeskSetup, DuplicateReason, IssueRequest, IssuedCard};
use crate::station::issue::{self, Step, chip_serial};
use crate::station::usos::{self as usos_flow, CardInUsos, HolderInUsos};
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

/// Size of the holder photo on the panel (a 4:5 portrait).
const PHOTO_SIZE: (u32, u32) = (96, 120);

/// The desk's USOS side, present when the profile has `[usos]`.
pub struct UsosSide {
    /// None while the client is being made (secrets may come from the keyring).
    client: Option<Result<UsosClient, String>>,
    card_ready: CardReady,
    /// What USOS says about the open holder.
    pub holder: UsosHolder,
    /// The last "card ready" notice for the open holder.
    pub notice: Option<NoticeState>,
    /// The number of the latest lookup: only its answer is shown (a slow earlier one, for
    /// this holder or another, must not replace it).
    lookup: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum UsosHolder {
    Idle,
    Loading,
    Loaded(HolderInUsos),
    Failed { cause: String, next_step: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum NoticeState {
    Sending,
    /// Sent to this USOS user.
    Sent(String),
    Failed {
        cause: String,
        next_step: String,
    },
}

pub struct Desk {
    db: Db,
    session: Session,
    /// Where the card is written; tests put another simulated card on the reader here.
    pub access: CardAccess,
    /// The profile's photo folder, once known (`None` inside: the profile has none).
    photos: Option<Option<PathBuf>>,
    /// The open holder's photo.
    pub photo: Photo,
    pub usos: Option<UsosSide>,
    pub query: String,
    generation: u64,
    pub hits: Vec<Person>,
    pub highlighted: Option<usize>,
    /// The person last asked for, and the number of that request: only its answer is shown,
    /// so a slow answer to an earlier click never replaces a later one.
    wanted: Option<i64>,
    opening: u64,
    pub panel: Option<Panel>,
    pub issuance: Issuance,
    setup: Result<Arc<DeskSetup>, String>,
    duplicate: Option<DuplicateReason>,
    /// The outcome of the last block / unblock / prolong, on the panel of the card.
    /// The last change's outcome: what was done (its word and its object), or the problem.
    pub notice: Option<Result<(Text, String), String>>,
    /// A search or an "open" that failed: drawn above the results, where it is seen whether
    /// or not anyone is open.
    pub problem: Option<String>,
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
    Opened {
        /// The request this answers; answers to earlier ones are dropped.
        opening: u64,
        result: Result<Box<Panel>, String>,
    },
    SetupLoaded(Result<Arc<DeskSetup>, String>),
    Issue,
    Duplicate(DuplicateReason),
    Issuing(IssueEvent),
    SetBlocked {
        card_id: i64,
        blocked: bool,
    },
    /// Prolong this card of the register, which must be the one on the reader, to the end
    /// of the semester after its current expiry.
    Prolong {
        card_id: i64,
        expires: Option<Date>,
    },
    Changed(Result<(Text, String), String>),
    Reader(ReaderEvent),
    PhotoFolder(Option<PathBuf>),
    PhotoLoaded {
        person_id: i64,
        photo: Photo,
    },
    UsosClient(Result<UsosClient, String>),
    UsosLoaded {
        lookup: u64,
        result: Result<HolderInUsos, (String, String)>,
    },
    /// Send the "card ready" notice for the USOS card at this index of the loaded ones.
    SendCardReady(usize),
    CardReadySent {
        person_id: i64,
        result: Result<String, (String, String)>,
    },
}

/// The desk waits for USOS briefly: an unreachable server is reported, not waited out.
fn desk_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 2,
        request_timeout: std::time::Duration::from_secs(10),
        ..RetryPolicy::default()
    }
}

impl Desk {
    pub fn new(
        db: Db,
        session: Session,
        access: CardAccess,
        profile: &Profile,
        setup: Task<Result<Arc<DeskSetup>, String>>,
    ) -> (Self, Task<Message>) {
        let for_photos = profile.clone();
        let photos = Task::perform(
            async move {
                tokio::task::spawn_blocking(move || {
                    photo::folder_of(&for_photos, &crate::config::data_dir())
                })
                .await
                .unwrap_or_default()
            },
            Message::PhotoFolder,
        );
        let (usos, client) = match &profile.usos {
            None => (None, Task::none()),
            Some(settings) => {
                let profile = profile.clone();
                let client = Task::perform(
                    async move {
                        tokio::task::spawn_blocking(move || {
                            usos_flow::client_from_profile(&profile, desk_retry())
                                .map_err(|err| problem(&err))
                        })
                        .await
                        .unwrap_or_else(|_| Err(stopped("USOS set-up")))
                    },
                    Message::UsosClient,
                );
                let side = UsosSide {
                    client: None,
                    card_ready: settings.card_ready.clone(),
                    holder: UsosHolder::Idle,
                    notice: None,
                    lookup: 0,
                };
                (Some(side), client)
            }
        };
        let desk = Self {
            db,
            session,
            access,
            photos: None,
            photo: Photo::None,
            usos,
            query: String::new(),
            generation: 0,
            hits: Vec::new(),
            highlighted: None,
            wanted: None,
            opening: 0,
            panel: None,
            issuance: Issuance::Idle,
            setup: Err(String::new()),
            duplicate: None,
            notice: None,
            problem: None,
        };
        let focus = iced::widget::operation::focus(SEARCH_ID);
        (
            desk,
            Task::batch([setup.map(Message::SetupLoaded), photos, client, focus]),
        )
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
                        self.problem = None;
                    }
                    Err(err) => self.problem = Some(err),
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
                self.wanted = Some(person_id);
                return self.reopen();
            }
            Message::Opened { opening, .. } if opening != self.opening => {}
            Message::Opened {
                result: Ok(panel), ..
            } => {
                let same_person = self
                    .panel
                    .as_ref()
                    .is_some_and(|open| open.person.id == panel.person.id);
                self.panel = Some(*panel);
                self.problem = None;
                let photo = if same_person && !matches!(self.photo, Photo::None) {
                    Task::none()
                } else {
                    self.load_photo()
                };
                if !same_person && let Some(usos) = &mut self.usos {
                    usos.notice = None;
                }
                // Again after a reopen too: a card just issued is now one USOS can find.
                return Task::batch([photo, self.load_usos()]);
            }
            Message::Opened {
                result: Err(err), ..
            } => self.problem = Some(err),
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
            Message::Prolong { card_id, expires } => {
                let Ok(setup) = self.setup.clone() else {
                    return Task::none();
                };
                let today = OffsetDateTime::now_utc().date();
                let new_expiry = issue::default_expiry(expires.map_or(today, |e| e.max(today)));
                let (access, db, session) =
                    (self.access.clone(), self.db.clone(), self.session.clone());
                self.notice = None;
                return Task::perform(
                    async move {
                        tokio::task::spawn_blocking(move || {
                            let mut card = access.connect().map_err(|err| problem(&err))?;
                            let mut store = db.lock().map_err(|err| problem(&err))?;
                            desk::prolong_card(
                                &session, &mut *card, &mut store, &setup, card_id, new_expiry,
                                today,
                            )
                            .map(|card| {
                                let done = format!("{} → {}", chip_serial(&card.uid), card.expires);
                                (Text::Prolonged, done)
                            })
                            .map_err(|err| problem(&err))
                        })
                        .await
                        .unwrap_or_else(|_| Err(stopped("card")))
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
                            let done = if blocked {
                                Text::BlockedCard
                            } else {
                                Text::UnblockedCard
                            };
                            desk::set_blocked(&session, store, card_id, blocked, reason)
                                .map(|_| (done, card_id.to_string()))
                        })
                        .await
                    },
                    Message::Changed,
                );
            }
            Message::Changed(result) => {
                self.notice = Some(result);
                return self.reopen();
            }
            Message::PhotoFolder(folder) => {
                self.photos = Some(folder);
                if self.panel.is_some() {
                    return self.load_photo();
                }
            }
            Message::PhotoLoaded { person_id, photo } => {
                if self.open_person() == Some(person_id) {
                    self.photo = photo;
                }
            }
            Message::UsosClient(client) => {
                if let Some(usos) = &mut self.usos {
                    usos.client = Some(client);
                    return self.load_usos();
                }
            }
            Message::UsosLoaded { lookup, result } => {
                if let Some(usos) = self.usos.as_mut().filter(|usos| usos.lookup == lookup) {
                    usos.holder = match result {
                        Ok(holder) => UsosHolder::Loaded(holder),
                        Err((cause, next_step)) => UsosHolder::Failed { cause, next_step },
                    };
                }
            }
            Message::SendCardReady(index) => return self.send_card_ready(index),
            Message::CardReadySent { person_id, result } => {
                let current = self.open_person() == Some(person_id);
                if let (Some(usos), true) = (&mut self.usos, current) {
                    usos.notice = Some(match result {
                        Ok(user) => NoticeState::Sent(user),
                        Err((cause, next_step)) => NoticeState::Failed { cause, next_step },
                    });
                }
            }
        }
        Task::none()
    }

    fn open_person(&self) -> Option<i64> {
        self.panel.as_ref().map(|panel| panel.person.id)
    }

    /// Looks for the open holder's photo once the folder is known.
    fn load_photo(&mut self) -> Task<Message> {
        let (Some(panel), Some(folder)) = (&self.panel, &self.photos) else {
            self.photo = Photo::None;
            return Task::none();
        };
        let Some(folder) = folder.clone() else {
            self.photo = Photo::Missing;
            return Task::none();
        };
        self.photo = Photo::Loading;
        let person_id = panel.person.id;
        let person = panel.person.fields.clone();
        let (width, height) = PHOTO_SIZE;
        Task::perform(
            photo::load(
                move || crate::station::photo::find(&folder, &person),
                width,
                height,
            ),
            move |photo| Message::PhotoLoaded { person_id, photo },
        )
    }

    /// Asks USOS about the open holder's cards and phones, when the client is ready.
    fn load_usos(&mut self) -> Task<Message> {
        let Some(panel) = &self.panel else {
            return Task::none();
        };
        let Some(usos) = &mut self.usos else {
            return Task::none();
        };
        let client = match &usos.client {
            None => return Task::none(),
            Some(Err(err)) => {
                usos.holder = UsosHolder::Failed {
                    cause: err.clone(),
                    next_step: String::new(),
                };
                return Task::none();
            }
            Some(Ok(client)) => client.clone(),
        };
        usos.holder = UsosHolder::Loading;
        usos.lookup += 1;
        let lookup = usos.lookup;
        let cards = panel.cards.clone();
        Task::perform(
            async move {
                usos_flow::holder_in_usos(&client, &cards)
                    .await
                    .map_err(|err| (err.to_string(), err.next_step().to_owned()))
            },
            move |result| Message::UsosLoaded { lookup, result },
        )
    }

    fn send_card_ready(&mut self, index: usize) -> Task<Message> {
        let Some(person_id) = self.open_person() else {
            return Task::none();
        };
        let Some(usos) = &mut self.usos else {
            return Task::none();
        };
        let (Some(Ok(client)), UsosHolder::Loaded(holder)) = (&usos.client, &usos.holder) else {
            return Task::none();
        };
        let Some(card) = holder.cards.get(index).map(|found| found.card.clone()) else {
            return Task::none();
        };
        if matches!(usos.notice, Some(NoticeState::Sending)) {
            return Task::none();
        }
        usos.notice = Some(NoticeState::Sending);
        let (client, templates) = (client.clone(), usos.card_ready.clone());
        let (session, db) = (self.session.clone(), self.db.clone());
        Task::perform(
            send_notice(session, db, client, templates, card),
            move |result| Message::CardReadySent { person_id, result },
        )
    }

    /// (Re)loads the person last asked for, as a new request: an answer to any earlier one,
    /// still on its way, is dropped when it comes.
    fn reopen(&mut self) -> Task<Message> {
        let Some(person_id) = self.wanted else {
            return Task::none();
        };
        self.opening += 1;
        let opening = self.opening;
        Task::perform(open(self.db.clone(), person_id), move |result| {
            Message::Opened { opening, result }
        })
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
        } else if self.problem.is_some() {
            ""
        } else if self.hits.is_empty() {
            t(language, Text::NoMatches)
        } else {
            ""
        };
        let mut left = column![
            search,
            text(hint).size(theme::SMALL_SIZE).color(theme::MUTED)
        ];
        if let Some(problem) = &self.problem {
            left = left.push(text(problem.clone()).color(theme::PROBLEM));
        }
        let left = left
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
        let avatar: Element<'a, Message> = match self.photo.handle() {
            Some(handle) => container(
                image(handle.clone())
                    .width(PHOTO_SIZE.0 as f32)
                    .height(PHOTO_SIZE.1 as f32)
                    .border_radius(8),
            )
            .style(container::bordered_box)
            .into(),
            None => container(
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
            })
            .into(),
        };
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
        if let Some(usos) = &self.usos {
            page = page.push(self.usos_view(usos, panel, language));
        }
        if let Some(notice) = &self.notice {
            page = page.push(match notice {
                Ok((done, what)) => text(format!("{} {what}", t(language, *done))).color(theme::OK),
                Err(err) => text(err.clone()).color(theme::PROBLEM),
            });
        }
        page = page.push(self.issuance_view(panel, language));
        scrollable(page.padding(4)).height(Length::Fill).into()
    }

    fn usos_view<'a>(
        &'a self,
        usos: &'a UsosSide,
        panel: &'a Panel,
        language: Language,
    ) -> Element<'a, Message> {
        let mut page = column![text(t(language, Text::Usos)).font(theme::BOLD)].spacing(6);
        let muted = |line: String| text(line).size(theme::SMALL_SIZE).color(theme::MUTED);
        match (&usos.client, &usos.holder) {
            (None, _) => page = page.push(muted(t(language, Text::UsosConnecting).to_owned())),
            (_, UsosHolder::Idle | UsosHolder::Loading) => {
                page = page.push(muted(t(language, Text::UsosLoading).to_owned()));
            }
            (_, UsosHolder::Failed { cause, next_step }) => {
                page = page.push(
                    text(format!("{} {cause}", t(language, Text::UsosUnavailable)))
                        .color(theme::PROBLEM),
                );
                if !next_step.is_empty() {
                    page = page.push(text(format!("→ {next_step}")));
                }
            }
            (_, UsosHolder::Loaded(holder)) => {
                if panel
                    .cards
                    .iter()
                    .all(|c| usos_flow::lookup_of(c).is_none())
                {
                    page = page.push(muted(t(language, Text::UsosNoLocalCards).to_owned()));
                } else if holder.cards.is_empty() {
                    page = page.push(muted(t(language, Text::UsosNoneFound).to_owned()));
                }
                let may_notify = self.session.may(Action::NotifyHolder);
                let sending = matches!(usos.notice, Some(NoticeState::Sending));
                for (index, found) in holder.cards.iter().enumerate() {
                    let mut line = row![usos_card_view(found, language)]
                        .spacing(10)
                        .align_y(Alignment::Center);
                    if may_notify {
                        line = line.push(
                            button(text(t(language, Text::SendCardReady)).size(theme::SMALL_SIZE))
                                .style(button::secondary)
                                .on_press_maybe(
                                    (!sending).then_some(Message::SendCardReady(index)),
                                ),
                        );
                    }
                    page = page.push(
                        container(line)
                            .padding([6, 10])
                            .style(container::rounded_box),
                    );
                }
                if !holder.cards.is_empty() && !may_notify {
                    page = page.push(muted(t(language, Text::MayNotNotify).to_owned()));
                }
                if holder.not_in_usos > 0 {
                    page = page.push(muted(format!(
                        "{} {}",
                        t(language, Text::UsosNotKnown),
                        holder.not_in_usos
                    )));
                }
                if !holder.cards.is_empty() {
                    let phones = match &holder.phones {
                        Err(why) => format!("{} ({why})", t(language, Text::UsosPhonesUnavailable)),
                        Ok(phones) if phones.is_empty() => {
                            t(language, Text::UsosNoPhones).to_owned()
                        }
                        Ok(phones) => phones
                            .iter()
                            .map(|phone| {
                                let comment = match language {
                                    Language::Pl => phone.comment.pl.as_deref(),
                                    Language::En => phone.comment.en.as_deref(),
                                }
                                .or(phone.comment.pl.as_deref())
                                .unwrap_or_default();
                                if comment.is_empty() {
                                    phone.number.clone()
                                } else {
                                    format!("{} ({comment})", phone.number)
                                }
                            })
                            .collect::<Vec<_>>()
                            .join(" · "),
                    };
                    page = page.push(text(format!("{} {phones}", t(language, Text::UsosPhones))));
                }
            }
        }
        match &usos.notice {
            None => {}
            Some(NoticeState::Sending) => {
                page = page.push(muted(t(language, Text::SendingNotice).to_owned()));
            }
            Some(NoticeState::Sent(user)) => {
                page = page.push(
                    text(format!("{} {user}", t(language, Text::NoticeSent))).color(theme::OK),
                );
            }
            Some(NoticeState::Failed { cause, next_step }) => {
                page = page.push(
                    text(format!("{} {cause}", t(language, Text::NoticeNotSent)))
                        .color(theme::PROBLEM),
                );
                page = page.push(text(format!("→ {next_step}")));
            }
        }
        page = page.push(muted(t(language, Text::UsosMcardNote).to_owned()));
        container(page)
            .padding(12)
            .width(Length::Fill)
            .style(container::bordered_box)
            .into()
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
                        card_id: card.id,
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

/// One USOS card: id, type, validity, barcode, owner and whether USOS lets it be written.
fn usos_card_view<'a>(found: &CardInUsos, language: Language) -> Element<'a, Message> {
    let card = &found.card;
    let dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "–".to_owned());
    let mut first = format!("{} {}", t(language, Text::UsosCard), dash(&card.id));
    if let Some(kind) = &card.card_type {
        first.push_str(&format!(" · {}", usos_card_type(kind, language)));
    }
    if let Some(expires) = &card.expiration_date {
        first.push_str(&format!(" · {} {expires}", t(language, Text::ValidUntil)));
    }
    let mut second = Vec::new();
    if let Some(barcode) = &card.barcode_number {
        second.push(format!("{} {barcode}", t(language, Text::UsosBarcode)));
    }
    if let Some(issued) = &card.date_of_issue {
        second.push(format!("{} {issued}", t(language, Text::UsosIssuedOn)));
    }
    if let Some(user) = &card.user {
        let name = [&user.first_name, &user.last_name]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        second.push(format!(
            "{} {name} (id {})",
            t(language, Text::UsosOwner),
            dash(&user.id)
        ));
    }
    let mut lines = column![
        text(first).font(theme::BOLD),
        text(second.join(" · "))
            .size(theme::SMALL_SIZE)
            .color(theme::MUTED),
    ]
    .spacing(2)
    // Filled last, so the notice button beside it keeps its one line.
    .width(Length::Fill);
    match found.can_be_written {
        Some(true) => {
            lines = lines.push(
                text(t(language, Text::UsosMayBeWritten))
                    .size(theme::SMALL_SIZE)
                    .color(theme::OK),
            );
        }
        Some(false) => {
            let reason = found
                .why_not
                .as_ref()
                .and_then(|why| match language {
                    Language::Pl => why.pl.clone(),
                    Language::En => why.en.clone(),
                })
                .or_else(|| found.why_not.as_ref().map(|why| why.text().to_owned()))
                .filter(|reason| !reason.is_empty());
            let line = match reason {
                Some(reason) => format!("{}: {reason}", t(language, Text::UsosMayNotBeWritten)),
                None => t(language, Text::UsosMayNotBeWritten).to_owned(),
            };
            lines = lines.push(text(line).size(theme::SMALL_SIZE).color(theme::PROBLEM));
        }
        None => {}
    }
    lines.into()
}

/// USOS's card types in the operator's language; others as USOS names them.
fn usos_card_type(kind: &str, language: Language) -> String {
    let key = match kind {
        "student" => Text::CardTypeStudent,
        "phd" => Text::CardTypePhd,
        "staff" => Text::CardTypeStaff,
        "graduate" => Text::CardTypeGraduate,
        "academic_teacher" => Text::CardTypeTeacher,
        other => return other.to_owned(),
    };
    t(language, key).to_owned()
}

/// Sends the "card ready" notice (the workflow checks the operator's role) and records who
/// told whom in the audit log. Returns the USOS user notified.
async fn send_notice(
    session: Session,
    db: Db,
    client: UsosClient,
    templates: CardReady,
    card: UsosCard,
) -> Result<String, (String, String)> {
    let sent = usos_flow::notify_card_ready(&session, &client, &templates, &card)
        .await
        .map_err(|err| (err.to_string(), err.next_step().to_owned()))?;
    let user = sent.user_id.clone();
    let subject = format!("usos_user:{user}");
    let details = serde_json::json!({"usos_card": card.id, "event_type": sent.event_type_id});
    let logged = db
        .run(move |store| {
            store.audit_append(&session.operator, "usos.card_ready", &subject, &details)
        })
        .await;
    if let Err(err) = logged {
        tracing::error!(%err, "the card ready notice was sent but could not be logged");
    }
    Ok(user)
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
    db.run(move |store| store.search_people(&query, HITS)).await
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
        let mut store = self.db.lock().map_err(|failed| Failure {
            cause: failed.cause,
            next_step: failed.next_step,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Role;
    use crate::store::{OperatorRole, Store};
    use iced::futures::StreamExt;

    /// A desk over the demo store in `dir`, as anna at the issuance desk.
    fn desk(dir: &std::path::Path) -> (Desk, std::path::PathBuf) {
        let path = dir.join("desk.sqlite");
        let mut store = Store::open(&path).unwrap();
        crate::station::demo::seed(&mut store).unwrap();
        let session = Session {
            operator: "anna".to_owned(),
            role: OperatorRole::Operator,
            station: Role::Issuance,
        };
        let card = crate::sim::shared(crate::sim::ElsCard::new(crate::sim::ElsCardState::blank(
            &[4, 1, 2, 3, 4, 5, 6],
        )));
        let (desk, _) = Desk::new(
            Db::new(store),
            session,
            CardAccess::Direct(crate::sim::SimTransport::connector(card)),
            &Profile::demo(),
            Task::none(),
        );
        (desk, path)
    }

    /// Runs `task` to its end and returns its messages, without feeding them back.
    fn messages(runtime: &tokio::runtime::Runtime, task: Task<Message>) -> Vec<Message> {
        let Some(stream) = iced_test::runtime::task::into_stream(task) else {
            return Vec::new();
        };
        runtime
            .block_on(stream.collect::<Vec<_>>())
            .into_iter()
            .filter_map(|action| match action {
                iced_test::runtime::Action::Output(message) => Some(message),
                _ => None,
            })
            .collect()
    }

    fn shows(desk: &Desk, wanted: &str) -> bool {
        let settings = iced_test::core::Settings {
            fonts: vec![theme::REGULAR_BYTES.into(), theme::BOLD_BYTES.into()],
            default_font: theme::REGULAR,
            ..iced_test::core::Settings::default()
        };
        iced_test::simulator::Simulator::with_settings(settings, desk.view(Language::En))
            .find(wanted)
            .is_ok()
    }

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
        let problem = desk.problem.clone().expect("the search failed");
        assert!(problem.contains("people_fts"), "{problem}");
        assert!(
            shows(&desk, &problem),
            "the failure is on screen: {problem}"
        );
        assert!(!shows(&desk, "No matches"), "not passed off as no matches");
    }

    fn person(desk: &Desk, query: &str) -> i64 {
        desk.db.lock().unwrap().search_people(query, 1).unwrap()[0].id
    }

    fn opened(message: &Message) -> Option<i64> {
        match message {
            Message::Opened {
                result: Ok(panel), ..
            } => Some(panel.person.id),
            _ => None,
        }
    }

    #[test]
    fn of_two_quick_clicks_the_later_one_stays_open_whatever_order_the_answers_come_in() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (mut desk, _) = desk(dir.path());
        let (first, second) = (person(&desk, "wisniewska"), person(&desk, "kowalska"));
        assert_ne!(first, second);

        // The answers come back the other way round: the first click's arrives last.
        let to_first = messages(&runtime, desk.update(Message::Open(first)));
        let to_second = messages(&runtime, desk.update(Message::Open(second)));
        assert_eq!(to_first.iter().find_map(opened), Some(first));
        for message in to_second.into_iter().chain(to_first.clone()) {
            let _ = desk.update(message);
        }
        assert_eq!(
            desk.open_person(),
            Some(second),
            "the late answer is dropped"
        );

        // In order, the earlier answer is dropped as well and the later one opens.
        let to_first = messages(&runtime, desk.update(Message::Open(first)));
        let to_second = messages(&runtime, desk.update(Message::Open(second)));
        for message in to_first {
            let _ = desk.update(message);
        }
        assert_eq!(
            desk.open_person(),
            Some(second),
            "the first click's answer does not replace what is open"
        );
        for message in to_second {
            let _ = desk.update(message);
        }
        assert_eq!(desk.open_person(), Some(second));

        // A failure for an earlier click is dropped too.
        let _ = desk.update(Message::Open(first));
        let _ = desk.update(Message::Opened {
            opening: desk.opening - 1,
            result: Err("late".into()),
        });
        assert_eq!(desk.problem, None);
    }

    #[test]
    fn only_the_latest_usos_lookup_is_shown() {
        let dir = tempfile::tempdir().unwrap();
        let (mut desk, _) = desk(dir.path());
        desk.usos = Some(UsosSide {
            client: None,
            card_ready: crate::config::CardReady::default(),
            holder: UsosHolder::Loading,
            notice: None,
            lookup: 2,
        });
        let found = HolderInUsos {
            cards: Vec::new(),
            not_in_usos: 3,
            phones: Ok(Vec::new()),
        };
        let _ = desk.update(Message::UsosLoaded {
            lookup: 1,
            result: Err(("an older answer".into(), String::new())),
        });
        assert_eq!(desk.usos.as_ref().unwrap().holder, UsosHolder::Loading);
        let _ = desk.update(Message::UsosLoaded {
            lookup: 2,
            result: Ok(found.clone()),
        });
        assert_eq!(
            desk.usos.as_ref().unwrap().holder,
            UsosHolder::Loaded(found)
        );
    }
}
