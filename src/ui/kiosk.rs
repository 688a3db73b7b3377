//! The validation kiosk's screen: an idle screen that says what to do, then a large verdict
//! for a few seconds, with the holder's photo when the register knows the holder and the
//! photo folder has one. The decision runs on a blocking thread against the kiosk's own store
//! connection, the photo is found and decoded after it; the UI only shows what comes back.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use iced::widget::{button, column, container, image, row, text, text_input};
use iced::{Alignment, Background, Color, Element, Length, Task};
use zeroize::Zeroizing;

use super::i18n::{Text, t};
use super::photo::{self, Photo};
use super::{Db, blocking, theme};
use crate::card::pcsc::{PcscTransport, Sharing};
use crate::card::{ReaderEvent, TransportError};
use crate::config::{Language, Profile, Readers};
use crate::error::Failure;
use crate::station::validate::{self, Decision, LivePolicy, Reason, Staleness, Verdict};
use crate::store::{CardStatus, OperatorRole, Store};

/// The store connection and policy the kiosk decides with, opened once at start (the policy
/// then follows the store's trust list, see [`LivePolicy`]).
#[derive(Clone)]
pub struct Ready {
    db: Db,
    /// Kept in step with the store's trust list, so a revocation made elsewhere while the
    /// kiosk runs reaches its next tap.
    policy: Arc<Mutex<LivePolicy>>,
    /// The profile's holder photos, if it has a folder.
    photos: Option<std::path::PathBuf>,
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ready")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Starting,
    /// The kiosk cannot decide at all (no store, bad profile): says why, all the time.
    Broken(Failure),
    Idle,
    Checking,
    Verdict(Decision),
    /// The tap ended without a verdict, and why.
    NoVerdict(NoVerdict),
}

/// Why a tap ended without a verdict: each asks the holder (or staff) for something else.
#[derive(Debug, Clone, PartialEq)]
pub enum NoVerdict {
    /// The card left the reader before the answer: hold it still.
    CardRemoved,
    /// The reader, its driver or pcscd is gone: no tap works until staff see to it.
    ReaderGone(Failure),
    /// Anything else (the card answered wrongly, the reader is held by another program,
    /// the kiosk's store is unusable): the detail, with its next step, is for staff.
    Failed(Failure),
}

impl NoVerdict {
    pub fn of(err: &TransportError) -> Self {
        // Only staff read the detail: the holder's everyday case (card taken away) needs none.
        let detail = || Failure::of(err);
        match err {
            // No card by the time the kiosk connects: it left as soon as it arrived.
            TransportError::CardRemoved | TransportError::NoCard(_) => NoVerdict::CardRemoved,
            TransportError::NoService
            | TransportError::NoReaders
            | TransportError::NoSuchReader(_)
            | TransportError::ReaderGone(_)
            | TransportError::Subsystem(_) => NoVerdict::ReaderGone(detail()),
            TransportError::CardReset
            | TransportError::Busy(_)
            | TransportError::Timeout
            | TransportError::Protocol(_) => NoVerdict::Failed(detail()),
        }
    }

    /// The title and the lines under it.
    fn text(&self, language: Language) -> (&'static str, Vec<(String, f32)>) {
        match self {
            NoVerdict::CardRemoved => (
                t(language, Text::PleaseTapTheCardAgain),
                vec![(t(language, Text::HoldTheCardStill).to_owned(), 28.0)],
            ),
            NoVerdict::ReaderGone(detail) => (
                t(language, Text::ReaderNotAnswering),
                vec![
                    (
                        t(language, Text::UseAnotherKioskOrAskStaff).to_owned(),
                        28.0,
                    ),
                    (super::problem(language, detail), 18.0),
                ],
            ),
            NoVerdict::Failed(detail) => (
                t(language, Text::CardNotRead),
                vec![
                    (t(language, Text::TapAgainOrAskTheOffice).to_owned(), 28.0),
                    (super::problem(language, detail), 18.0),
                ],
            ),
        }
    }
}

/// The process's exit status after the administrator's exit, and only then. The kiosk's
/// systemd unit (packaging/cardstation-kiosk.service) restarts the kiosk after any other
/// end (`Restart=always`) but this one (`RestartPreventExitStatus=10`); 1 and 2 are the
/// CLI's failure and usage statuses, 101 a panic.
pub const ADMIN_EXIT_STATUS: u8 = 10;

const EXIT_NAME_ID: &str = "kiosk-exit-name";
const EXIT_PIN_ID: &str = "kiosk-exit-pin";

/// The administrator's way out of the fullscreen kiosk: Escape opens it, an admin PIN ends.
#[derive(Default)]
pub struct ExitPrompt {
    pub name: String,
    pin: Zeroizing<String>,
    pub error: Option<Failure>,
}

/// Size of the holder photo under a verdict (a 4:5 portrait).
const PHOTO_SIZE: (u32, u32) = (180, 225);

pub struct Kiosk {
    pub phase: Phase,
    /// The holder's photo for the verdict on screen.
    pub photo: Photo,
    pub exit: Option<ExitPrompt>,
    ready: Option<Ready>,
    /// The profile's `[readers]`: a card on any other reader on the box is not the kiosk's.
    readers: Readers,
    show_for: Duration,
    /// Bumped by every tap, so the timer of an earlier verdict does not clear a newer one.
    generation: u64,
}

/// What the kiosk tells the window, which acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An administrator's name and PIN were given: the window closes.
    Exit,
}

#[derive(Debug, Clone)]
pub enum Message {
    Opened(Result<Ready, Failure>),
    Reader(ReaderEvent),
    Decided {
        generation: u64,
        result: Result<Decision, NoVerdict>,
    },
    BackToIdle {
        generation: u64,
    },
    PhotoLoaded {
        generation: u64,
        photo: Photo,
    },
    AskExit,
    ExitName(String),
    /// Enter in the name field: on to the PIN.
    ExitNameDone,
    ExitPin(String),
    ExitSubmit,
    ExitCancel,
    ExitChecked(Result<(), Failure>),
}

impl Kiosk {
    pub fn boot(profile: &Profile, database: std::path::PathBuf) -> (Self, Task<Message>) {
        let readers = profile.readers.clone();
        let profile = profile.clone();
        let show_for = Duration::from_secs(u64::from(profile.kiosk.show_verdict_seconds.max(1)));
        let open = Task::perform(
            blocking("store", move || {
                let store = Store::open(&database).map_err(Failure::from)?;
                let policy = LivePolicy::for_station(&profile, &store).map_err(Failure::from)?;
                let photos = photo::folder_of(&profile, &crate::config::data_dir());
                Ok(Ready {
                    db: Db::new(store),
                    policy: Arc::new(Mutex::new(policy)),
                    photos,
                })
            }),
            Message::Opened,
        );
        (
            Self {
                phase: Phase::Starting,
                photo: Photo::None,
                exit: None,
                ready: None,
                readers,
                show_for,
                generation: 0,
            },
            open,
        )
    }

    /// Handles a message; what the window must act on comes back as an [`Event`].
    pub fn update(&mut self, message: Message) -> (Task<Message>, Option<Event>) {
        match message {
            Message::Opened(Ok(ready)) => {
                self.ready = Some(ready);
                self.phase = Phase::Idle;
            }
            Message::Opened(Err(reason)) => self.phase = Phase::Broken(reason),
            Message::Reader(ReaderEvent::CardInserted { reader, .. })
                if self.readers.includes(&reader) =>
            {
                let Some(ready) = self.ready.clone() else {
                    return (Task::none(), None);
                };
                self.generation += 1;
                self.phase = Phase::Checking;
                self.photo = Photo::None;
                let generation = self.generation;
                let decided = Task::perform(decide(reader, ready), move |result| {
                    Message::Decided { generation, result }
                });
                return (decided, None);
            }
            Message::Reader(_) => {}
            Message::Decided { generation, result } if generation == self.generation => {
                let photo = match &result {
                    Ok(decision) => self.load_photo(decision, generation),
                    Err(_) => Task::none(),
                };
                self.phase = match result {
                    Ok(decision) => Phase::Verdict(decision),
                    Err(reason) => Phase::NoVerdict(reason),
                };
                let show_for = self.show_for;
                let back = Task::perform(
                    // Made inside the future: a timer needs the runtime, which update() may not run in.
                    async move { tokio::time::sleep(show_for).await },
                    move |()| Message::BackToIdle { generation },
                );
                return (Task::batch([photo, back]), None);
            }
            Message::Decided { .. } => {}
            Message::BackToIdle { generation }
                if generation == self.generation && self.ready.is_some() =>
            {
                self.phase = Phase::Idle;
                self.photo = Photo::None;
            }
            Message::BackToIdle { .. } => {}
            Message::PhotoLoaded { generation, photo }
                if generation == self.generation && matches!(self.phase, Phase::Verdict(_)) =>
            {
                self.photo = photo;
            }
            Message::PhotoLoaded { .. } => {}
            // The keyboard is all an administrator has at a kiosk: the name field takes the
            // typing at once, Enter moves on to the PIN.
            Message::AskExit => {
                self.exit = Some(ExitPrompt::default());
                return (iced::widget::operation::focus(EXIT_NAME_ID), None);
            }
            Message::ExitNameDone => {
                return (iced::widget::operation::focus(EXIT_PIN_ID), None);
            }
            Message::ExitCancel => self.exit = None,
            Message::ExitName(name) => {
                if let Some(exit) = &mut self.exit {
                    exit.name = name;
                }
            }
            Message::ExitPin(pin) => {
                if let Some(exit) = &mut self.exit {
                    exit.pin =
                        Zeroizing::new(pin.chars().filter(char::is_ascii_digit).take(12).collect());
                }
            }
            Message::ExitSubmit => {
                let (Some(exit), Some(ready)) = (&mut self.exit, &self.ready) else {
                    return (Task::none(), None);
                };
                let name = exit.name.clone();
                let pin = std::mem::take(&mut exit.pin);
                let db = ready.db.clone();
                let checked = Task::perform(
                    blocking("store", move || admin_may_exit(&db, &name, &pin)),
                    Message::ExitChecked,
                );
                return (checked, None);
            }
            Message::ExitChecked(Ok(())) => return (Task::none(), Some(Event::Exit)),
            Message::ExitChecked(Err(err)) => {
                if let Some(exit) = &mut self.exit {
                    exit.error = Some(err);
                }
            }
        }
        (Task::none(), None)
    }

    /// The photo of the holder the register names for this verdict. Not for a forged or
    /// unknown card: a photo beside those would vouch for whoever holds it.
    fn load_photo(&mut self, decision: &Decision, generation: u64) -> Task<Message> {
        let shows_holder = matches!(
            decision.verdict,
            Verdict::Valid | Verdict::Expired | Verdict::Blocked
        );
        let holder = decision.holder_id.as_deref().and_then(|id| id.parse().ok());
        let (Some(ready), Some(holder), true) = (&self.ready, holder, shows_holder) else {
            return Task::none();
        };
        let folder = ready.photos.clone();
        self.photo = Photo::Loading;
        let db = ready.db.clone();
        let (width, height) = PHOTO_SIZE;
        Task::perform(
            photo::load(
                move || {
                    let store = db.lock().ok()?;
                    crate::station::photo::of_cardholder(&store, folder.as_deref(), holder)
                },
                width,
                height,
            ),
            move |photo| Message::PhotoLoaded { generation, photo },
        )
    }

    /// Escape asks for an administrator's PIN; nothing else leaves the kiosk.
    pub fn subscription(&self) -> iced::Subscription<Message> {
        iced::keyboard::listen().filter_map(|event| match event {
            iced::keyboard::Event::KeyPressed {
                key: iced::keyboard::Key::Named(iced::keyboard::key::Named::Escape),
                ..
            } => Some(Message::AskExit),
            _ => None,
        })
    }

    pub fn view(&self, language: Language) -> Element<'_, Message> {
        if let Some(exit) = &self.exit {
            return exit_view(exit, language);
        }
        let white = Color::WHITE;
        let faded = Color {
            a: 0.8,
            ..Color::WHITE
        };
        let (title, lines, background): (&str, Vec<(String, f32)>, Color) = match &self.phase {
            Phase::Starting => (t(language, Text::Starting), vec![], IDLE),
            Phase::Broken(reason) => (
                t(language, Text::KioskOutOfService),
                vec![(super::problem(language, reason), 24.0)],
                UNKNOWN,
            ),
            Phase::Idle => (
                t(language, Text::TapOrInsertYourCard),
                vec![(
                    t(language.other(), Text::TapOrInsertYourCard).to_owned(),
                    28.0,
                )],
                IDLE,
            ),
            Phase::Checking => (t(language, Text::CheckingCard), vec![], IDLE),
            Phase::NoVerdict(why) => {
                let (title, lines) = why.text(language);
                (title, lines, UNKNOWN)
            }
            Phase::Verdict(decision) => (
                verdict_title(decision.verdict, language),
                verdict_lines(decision, language),
                verdict_colour(decision.verdict),
            ),
        };
        let mut page = column![].spacing(20).align_x(Alignment::Center);
        // Colour, words and a shape: a verdict reads the same to the colour-blind. The
        // holder's photo, when there is one, stands beside the shape.
        if let Phase::Verdict(decision) = &self.phase {
            let shape = container(
                text(verdict_icon(decision.verdict))
                    .size(96)
                    .font(theme::BOLD)
                    .color(background),
            )
            .center(150)
            .style(|_| container::Style {
                background: Some(Background::Color(Color::WHITE)),
                border: iced::Border::default().rounded(75),
                ..container::Style::default()
            });
            let mut badges = row![shape].spacing(36).align_y(Alignment::Center);
            if let Some(handle) = self.photo.handle() {
                badges = badges.push(
                    container(
                        image(handle.clone())
                            .width(PHOTO_SIZE.0 as f32)
                            .height(PHOTO_SIZE.1 as f32)
                            .border_radius(10),
                    )
                    .padding(6)
                    .style(|_| container::Style {
                        background: Some(Background::Color(Color::WHITE)),
                        border: iced::Border::default().rounded(14),
                        ..container::Style::default()
                    }),
                );
            }
            page = page.push(badges);
        }
        // Full width and centred, so a long title or reason wraps instead of running off a
        // scaled-up kiosk screen.
        page = page.push(
            text(title)
                .size(64)
                .font(theme::BOLD)
                .color(white)
                .width(Length::Fill)
                .align_x(Alignment::Center),
        );
        for (line, size) in lines {
            page = page.push(
                text(line)
                    .size(size)
                    .color(if size >= 28.0 { white } else { faded })
                    .width(Length::Fill)
                    .align_x(Alignment::Center),
            );
        }
        container(page)
            .center(Length::Fill)
            .padding(48)
            .style(move |_| container::Style {
                background: Some(Background::Color(background)),
                ..container::Style::default()
            })
            .into()
    }
}

fn exit_view(exit: &ExitPrompt, language: Language) -> Element<'_, Message> {
    let mut form = column![
        text(t(language, Text::KioskExitTitle))
            .size(theme::TITLE_SIZE)
            .font(theme::BOLD),
        text_input(t(language, Text::Administrator), &exit.name)
            .id(EXIT_NAME_ID)
            .on_input(Message::ExitName)
            .on_submit(Message::ExitNameDone)
            .padding(10),
        text_input("PIN", &exit.pin)
            .id(EXIT_PIN_ID)
            .secure(true)
            .on_input(Message::ExitPin)
            .on_submit(Message::ExitSubmit)
            .padding(10),
        row![
            button(text(t(language, Text::CloseKiosk))).on_press(Message::ExitSubmit),
            button(text(t(language, Text::Cancel)))
                .style(button::secondary)
                .on_press(Message::ExitCancel),
        ]
        .spacing(10),
    ]
    .spacing(14)
    .width(360);
    if let Some(error) = &exit.error {
        form = form.push(text(super::problem(language, error)).color(theme::PROBLEM));
    }
    container(form).center(Length::Fill).into()
}

/// Only an administrator's name and PIN close the kiosk (failures count towards lock-out).
fn admin_may_exit(db: &Db, name: &str, pin: &str) -> Result<(), Failure> {
    let mut store = db.lock()?;
    let operator = store
        .sign_in(name, pin, time::OffsetDateTime::now_utc())
        .map_err(Failure::from)?;
    if operator.role == OperatorRole::Admin {
        Ok(())
    } else {
        Err(Failure::new(
            format!("{} is not an administrator", operator.name),
            "sign in with an administrator's name and PIN",
        )
        .with_polish(
            format!("{} nie jest administratorem.", operator.name),
            "Zaloguj się nazwą i PIN-em administratora.",
        ))
    }
}

/// Under the title: who (when the card proves it), until when, what to do, and the checks'
/// own words small for staff.
fn verdict_lines(decision: &Decision, language: Language) -> Vec<(String, f32)> {
    let mut lines = Vec::new();
    if let Some(name) = &decision.holder_name {
        lines.push((name.clone(), 40.0));
    }
    let until = decision.valid_until.map(|date| date.to_string());
    let advice = match (decision.verdict, until) {
        (Verdict::Valid, Some(date)) => {
            format!("{} {date}", t(language, Text::ValidUntilTitle))
        }
        (Verdict::Valid, None) => String::new(),
        (Verdict::Expired, Some(date)) => format!(
            "{} {date}. {}",
            t(language, Text::ExpiredOn),
            t(language, Text::HaveItProlongedAtThe)
        ),
        (Verdict::Expired, None) => t(language, Text::HaveItProlongedAtThe).to_owned(),
        (Verdict::Blocked, _) => t(language, Text::PleaseContactTheIDOffice).to_owned(),
        (Verdict::Unknown, _) => t(language, Text::ThisStationDoesNotKnow).to_owned(),
        (Verdict::Forged, _) => t(language, Text::TheCardFailedVerificationPlease).to_owned(),
    };
    if !advice.is_empty() {
        lines.push((advice, 28.0));
    }
    lines.push((reason_line(decision, language), 18.0));
    lines.push((
        format!(
            "UID {} · {:.0} ms",
            hex::encode_upper(&decision.uid),
            decision.elapsed.as_secs_f64() * 1e3
        ),
        theme::SMALL_SIZE,
    ));
    lines
}

/// The checks' own words for staff: the verdict's English reason, or its Polish text with the
/// reason's values and, for a valid card, what its evidence proves.
fn reason_line(decision: &Decision, language: Language) -> String {
    if language == Language::En {
        return decision.reason.clone();
    }
    let mut line = super::i18n::reason_pl(&decision.reason_key.key()).to_owned();
    if let Some(detail) = &decision.detail {
        line.push_str(if line.ends_with("do") || line.ends_with("status") {
            " "
        } else {
            ": "
        });
        if decision.reason_key == Reason::Refused {
            line.push_str(&refusal(detail, language));
        } else {
            line.push_str(detail);
        }
    }
    if decision.verdict == Verdict::Valid {
        line.push_str("; ");
        line.push_str(super::i18n::evidence_pl(decision.evidence));
    }
    if let Some(stale) = decision.stale {
        line.push_str(&format!(" ({})", staleness(stale, language)));
    }
    line
}

/// What the register says of a card it refuses: a card status, or the server's deletion.
fn refusal(register_says: &str, language: Language) -> String {
    if register_says == validate::DELETED_ON_THE_SERVER {
        return t(language, Text::DeletedOnTheServer).to_owned();
    }
    match register_says.parse::<CardStatus>() {
        Ok(status) => super::i18n::card_status_name(status, language).to_owned(),
        // A status this version does not know: the register's own word.
        Err(_) => register_says.to_owned(),
    }
}

/// How old the register (or the revocation poll) is that the verdict was decided with.
fn staleness(stale: Staleness, language: Language) -> String {
    match stale {
        Staleness::SyncedHoursAgo(hours) => format!(
            "{} {hours} {}",
            t(language, Text::RegisterSynced),
            t(language, Text::HoursAgo)
        ),
        Staleness::NeverSynced => t(language, Text::RegisterNeverSynced).to_owned(),
        Staleness::BlocksFetchedSecondsAgo { seconds, limit } => format!(
            "{} {seconds} {}, {} {limit} s",
            t(language, Text::BlocksFetched),
            t(language, Text::SecondsAgo),
            t(language, Text::OverTheLimit)
        ),
    }
}

const IDLE: Color = Color::from_rgb(0.13, 0.27, 0.47);
const VALID: Color = Color::from_rgb(0.09, 0.50, 0.24);
const EXPIRED: Color = Color::from_rgb(0.80, 0.47, 0.05);
const BLOCKED: Color = Color::from_rgb(0.72, 0.11, 0.11);
const UNKNOWN: Color = Color::from_rgb(0.35, 0.37, 0.40);

fn verdict_colour(verdict: Verdict) -> Color {
    match verdict {
        Verdict::Valid => VALID,
        Verdict::Expired => EXPIRED,
        Verdict::Blocked | Verdict::Forged => BLOCKED,
        Verdict::Unknown => UNKNOWN,
    }
}

fn verdict_icon(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Valid => "✔",
        Verdict::Expired => "⚠",
        Verdict::Blocked => "⊘",
        Verdict::Unknown => "?",
        Verdict::Forged => "✖",
    }
}

fn verdict_title(verdict: Verdict, language: Language) -> &'static str {
    match verdict {
        Verdict::Valid => t(language, Text::CardValid),
        Verdict::Expired => t(language, Text::CardExpired),
        Verdict::Blocked => t(language, Text::CardBlocked),
        Verdict::Unknown => t(language, Text::CardNotKnown),
        Verdict::Forged => t(language, Text::CardForged),
    }
}

/// Connects to the card and decides, on a blocking thread; logs the tap in the store.
async fn decide(reader: String, ready: Ready) -> Result<Decision, NoVerdict> {
    // The outer error is a stopped thread, the inner one the tap's own outcome.
    blocking("card", move || Ok(decide_now(&reader, &ready)))
        .await
        .unwrap_or_else(|stopped| Err(NoVerdict::Failed(stopped)))
}

/// Blocking: the tap's verdict, logged in the store.
fn decide_now(reader: &str, ready: &Ready) -> Result<Decision, NoVerdict> {
    let store = ready.db.lock().map_err(NoVerdict::Failed)?;
    // The checks only read the policy, and a reload replaces its trust list whole: a tap
    // that panicked cannot have left it half-changed.
    let mut live = ready.policy.lock().unwrap_or_else(PoisonError::into_inner);
    let policy = live
        .for_tap(&store)
        .map_err(|err| NoVerdict::Failed(Failure::from(err)))?;
    let mut card =
        PcscTransport::connect(reader, Sharing::Shared).map_err(|err| NoVerdict::of(&err))?;
    let decision = card
        .in_transaction(|t| validate::validate(t, &*store, policy))
        .map_err(|err| NoVerdict::of(&err))?;
    let holder = decision.holder_id.as_deref().and_then(|id| id.parse().ok());
    if let Err(err) =
        store.record_validation(&decision.uid, decision.verdict, &decision.reason, holder)
    {
        tracing::error!(%err, "the validation could not be logged");
    }
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::station::validate::Evidence;

    fn kiosk() -> Kiosk {
        Kiosk {
            exit: None,
            phase: Phase::Idle,
            photo: Photo::None,
            ready: None,
            readers: Readers::default(),
            show_for: Duration::from_secs(4),
            generation: 0,
        }
    }

    /// Trusts nothing, no DESFire, no register-age limit: only the register decides.
    fn open_policy(store: &Store) -> Arc<Mutex<LivePolicy>> {
        let policy = crate::station::validate::Policy {
            trusted: Vec::new(),
            revoked: Vec::new(),
            desfire: None,
            today: time::OffsetDateTime::now_utc().date(),
            max_register_age: None,
            when_stale: crate::config::WhenStale::Warn,
            accept_uid_only: false,
        };
        Arc::new(Mutex::new(LivePolicy::new(policy, store).unwrap()))
    }

    fn decision(verdict: Verdict) -> Decision {
        Decision {
            verdict,
            reason: "Jan Nowak, album 654321, until 2027-03-31".into(),
            reason_key: crate::station::validate::Reason::Valid,
            detail: Some("Jan Nowak, 654321, 2027-03-31".into()),
            stale: None,
            uid: vec![0x04, 0xA1],
            holder_id: None,
            holder_name: Some("Jan Nowak".into()),
            valid_until: None,
            evidence: Evidence::SignedChip,
            elapsed: Duration::from_millis(3),
        }
    }

    #[test]
    fn the_polish_kiosk_shows_a_polish_reason_with_its_values() {
        let valid = decision(Verdict::Valid);
        assert_eq!(
            reason_line(&valid, Language::Pl),
            "karta ważna: Jan Nowak, 654321, 2027-03-31; tylko podpis, chip nieuwierzytelniony"
        );
        assert_eq!(reason_line(&valid, Language::En), valid.reason);
        let revoked = Decision {
            verdict: Verdict::Forged,
            reason: "revoked: the signer's certificate is revoked".into(),
            reason_key: crate::station::validate::Reason::Signature("revoked"),
            detail: None,
            stale: Some(Staleness::SyncedHoursAgo(72)),
            ..decision(Verdict::Forged)
        };
        assert_eq!(
            reason_line(&revoked, Language::Pl),
            "certyfikat podpisującego został unieważniony (rejestr zsynchronizowany 72 h temu)"
        );
        let unheard_of = Decision {
            reason_key: crate::station::validate::Reason::Signature("quantum"),
            stale: None,
            ..revoked
        };
        assert_eq!(
            reason_line(&unheard_of, Language::Pl),
            "podpis nie przeszedł weryfikacji"
        );
    }

    #[test]
    fn a_late_timer_does_not_clear_a_newer_verdict() {
        let mut screen = kiosk();
        screen.generation = 2;
        let _ = screen.update(Message::Decided {
            generation: 1,
            result: Ok(decision(Verdict::Forged)),
        });
        assert_eq!(
            screen.phase,
            Phase::Idle,
            "an answer for an earlier tap is dropped"
        );
        let _ = screen.update(Message::Decided {
            generation: 2,
            result: Ok(decision(Verdict::Valid)),
        });
        assert_eq!(screen.phase, Phase::Verdict(decision(Verdict::Valid)));
        let _ = screen.update(Message::BackToIdle { generation: 1 });
        assert!(
            matches!(screen.phase, Phase::Verdict(_)),
            "the first tap's timer must not clear the second verdict"
        );
    }

    #[test]
    fn a_card_on_a_reader_the_profile_does_not_name_is_not_checked() {
        let mut screen = Kiosk {
            readers: Readers {
                contact: None,
                contactless: Some("Virtual PCD 00 01".into()),
            },
            ..kiosk()
        };
        let store = Store::open_in_memory().unwrap();
        screen.ready = Some(Ready {
            policy: open_policy(&store),
            db: Db::new(store),
            photos: None,
        });
        let (task, _) = screen.update(Message::Reader(ReaderEvent::CardInserted {
            reader: "Virtual PCD 00 00".into(),
            atr: vec![0x3B],
        }));
        assert_eq!(
            screen.phase,
            Phase::Idle,
            "another reader's card is ignored"
        );
        assert_eq!(screen.generation, 0);
        drop(task);
        let _ = screen.update(Message::Reader(ReaderEvent::CardInserted {
            reader: "Virtual PCD 00 01".into(),
            atr: vec![0x3B],
        }));
        assert_eq!(screen.phase, Phase::Checking, "the kiosk's own reader is");
    }

    #[test]
    fn a_broken_kiosk_says_why_and_stays_broken() {
        let mut screen = kiosk();
        let broken = Failure::new("cannot open the store", "check the profile");
        let _ = screen.update(Message::Opened(Err(broken.clone())));
        let _ = screen.update(Message::Reader(ReaderEvent::CardInserted {
            reader: "R".into(),
            atr: vec![],
        }));
        assert_eq!(screen.phase, Phase::Broken(broken), "no store, no verdicts");
    }

    #[test]
    fn only_an_administrators_pin_closes_the_kiosk() {
        let mut store = Store::open_in_memory().unwrap();
        store
            .set_operator("admin", OperatorRole::Admin, "0000", "test")
            .unwrap();
        store
            .set_operator("anna", OperatorRole::Operator, "1111", "test")
            .unwrap();
        let store = Db::new(store);
        assert!(admin_may_exit(&store, "admin", "0000").is_ok());
        assert_eq!(
            admin_may_exit(&store, "anna", "1111").map_err(|failure| failure.cause),
            Err("anna is not an administrator".to_owned())
        );
        assert!(admin_may_exit(&store, "admin", "1234").is_err());
    }

    /// Runs the task of an `update` until it has produced `messages` messages (the
    /// verdict's timer, which would come next, is left unrun), feeding each back into the
    /// kiosk, and returns the photo state after each one.
    fn run(
        runtime: &tokio::runtime::Runtime,
        kiosk: &mut Kiosk,
        (task, _event): (Task<Message>, Option<Event>),
        messages: usize,
    ) -> Vec<bool> {
        use iced::futures::StreamExt;
        let mut shown = Vec::new();
        let Some(mut stream) = iced_test::runtime::task::into_stream(task) else {
            return shown;
        };
        while shown.len() < messages
            && let Some(action) = runtime.block_on(stream.next())
        {
            if let iced_test::runtime::Action::Output(message) = action {
                let _ = kiosk.update(message);
                shown.push(kiosk.photo.is_shown());
            }
        }
        shown
    }

    #[test]
    fn a_known_holders_photo_stands_beside_the_verdict_and_leaves_with_it() {
        use crate::store::{CardholderFields, PersonFields};
        let dir = tempfile::tempdir().unwrap();
        let photos = crate::station::demo::ensure_photos(dir.path()).unwrap();
        let mut store = Store::open_in_memory().unwrap();
        let person = store
            .create_person(&PersonFields {
                person_number: None,
                first_name: "Anna".into(),
                middle_name: None,
                last_name: "Kowalska".into(),
                birth_date: time::macros::date!(2004 - 03 - 14),
                phone_number: None,
                mobile_number: None,
                album_number: Some("100231".into()),
                pesel: None,
            })
            .unwrap();
        let holder = store
            .create_cardholder(&CardholderFields::active(person))
            .unwrap();
        let mut screen = kiosk();
        // The verdict's end is sent by hand below: a timer racing the photo's decoding
        // would make the test depend on the machine's speed.
        screen.show_for = Duration::from_secs(3600);
        screen.ready = Some(Ready {
            policy: open_policy(&store),
            db: Db::new(store),
            photos: Some(photos),
        });
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let known = Decision {
            holder_id: Some(holder.to_string()),
            ..decision(Verdict::Valid)
        };

        screen.generation = 1;
        let task = screen.update(Message::Decided {
            generation: 1,
            result: Ok(known.clone()),
        });
        assert!(matches!(screen.photo, Photo::Loading));
        assert_eq!(
            run(&runtime, &mut screen, task, 1),
            [true],
            "the photo arrives with the verdict"
        );
        let _ = screen.update(Message::BackToIdle { generation: 1 });
        assert!(!screen.photo.is_shown(), "and leaves with it");
        assert_eq!(screen.phase, Phase::Idle);

        // A forged card gets no photo, even with a registered holder.
        screen.generation = 2;
        let _ = screen.update(Message::Decided {
            generation: 2,
            result: Ok(Decision {
                verdict: Verdict::Forged,
                ..known
            }),
        });
        assert!(
            matches!(screen.photo, Photo::None),
            "no photo is even looked for"
        );
    }

    #[test]
    fn escape_opens_the_exit_prompt_and_cancel_closes_it() {
        let mut kiosk = kiosk();
        let _ = kiosk.update(Message::AskExit);
        assert!(kiosk.exit.is_some());
        let _ = kiosk.update(Message::ExitCancel);
        assert!(kiosk.exit.is_none());
    }

    fn shows(kiosk: &Kiosk, wanted: &str) -> bool {
        let settings = iced_test::core::Settings {
            fonts: vec![theme::REGULAR_BYTES.into(), theme::BOLD_BYTES.into()],
            default_font: theme::REGULAR,
            ..iced_test::core::Settings::default()
        };
        iced_test::simulator::Simulator::with_settings(settings, kiosk.view(Language::En))
            .find(wanted)
            .is_ok()
    }

    #[test]
    fn only_a_card_taken_away_is_blamed_on_the_holder_and_a_lost_reader_says_what_to_do() {
        assert_eq!(
            NoVerdict::of(&TransportError::CardRemoved),
            NoVerdict::CardRemoved
        );
        assert_eq!(
            NoVerdict::of(&TransportError::NoCard("R".into())),
            NoVerdict::CardRemoved
        );
        for gone in [
            TransportError::NoService,
            TransportError::NoReaders,
            TransportError::ReaderGone("R".into()),
            TransportError::Subsystem("reader unplugged".into()),
        ] {
            assert!(
                matches!(NoVerdict::of(&gone), NoVerdict::ReaderGone(_)),
                "{gone}"
            );
        }
        assert!(matches!(
            NoVerdict::of(&TransportError::Protocol("6F00".into())),
            NoVerdict::Failed(_)
        ));

        let mut screen = kiosk();
        screen.generation = 1;
        let _ = screen.update(Message::Decided {
            generation: 1,
            result: Err(NoVerdict::CardRemoved),
        });
        assert!(shows(&screen, "Please tap the card again"));
        assert!(shows(&screen, "Hold the card still until the answer."));

        screen.generation = 2;
        let _ = screen.update(Message::Decided {
            generation: 2,
            result: Err(NoVerdict::of(&TransportError::NoService)),
        });
        assert!(shows(&screen, "The card reader is not answering"));
        assert!(shows(
            &screen,
            "Please use another kiosk or ask the staff for help."
        ));
        assert!(
            shows(
                &screen,
                "the smart-card service (pcscd) is not running. start the smart-card service: `pcscd` (install with `apt-get install pcscd`)"
            ),
            "staff see the cause and the next step"
        );
        assert!(!shows(&screen, "Hold the card still until the answer."));

        screen.generation = 3;
        let _ = screen.update(Message::Decided {
            generation: 3,
            result: Err(NoVerdict::of(&TransportError::Protocol("6F00".into()))),
        });
        assert!(shows(&screen, "The card could not be read"));
        assert!(!shows(&screen, "Hold the card still until the answer."));
    }

    #[test]
    fn a_polish_kiosk_tells_staff_why_in_polish() {
        let gone = NoVerdict::of(&TransportError::NoService);
        let (title, lines) = gone.text(Language::Pl);
        assert_eq!(title, "Czytnik kart nie odpowiada");
        let detail = &lines.last().unwrap().0;
        assert_eq!(
            detail,
            "Usługa kart (pcscd) nie działa. Uruchom usługę kart: pcscd (instalacja: apt-get install pcscd)."
        );
        let mut screen = kiosk();
        let _ = screen.update(Message::Opened(Err(Failure::from(
            crate::store::StoreError::Locked,
        ))));
        let Phase::Broken(reason) = &screen.phase else {
            panic!("broken: {:?}", screen.phase)
        };
        assert_eq!(
            super::super::problem(Language::Pl, reason),
            "Baza jest zablokowana przez inny proces. Inny Cardstation (lub synchronizacja) trzyma bazę: poczekaj na niego i powtórz."
        );
    }
}
