//! The issuance desk: search-as-you-type over the people in the store, a cardholder panel
//! with their photo and cards (and, with a `[usos]` profile, what USOS has), and the "put
//! the card on the reader" issuance with its steps (from USOS's data when USOS says the
//! holder's card may be written). Searches, store changes, photos, card
//! and network work run as tasks; the screen only shows what returns.
//!
//! One state and one message type for the whole screen; each part handles its messages and
//! draws itself in its own file: `search` (the list on the left), `panel` (the holder on the
//! right: photo, cards, block and prolong), `prolong` (the new expiry and hologram sticker of
//! a prolongation), `photo_edit` (set the holder's photo from a file), `issuance` (writing a
//! card), `usos` (what USOS says about the holder) and `import` (people from a CSV file).

mod import;
mod issuance;
mod panel;
mod person;
mod photo_edit;
mod prolong;
mod search;
mod usos;

use std::path::PathBuf;
use std::sync::Arc;

use iced::widget::{container, row, text};
use iced::{Element, Length, Task};
use time::Date;

use super::i18n::{Text, t};
use super::photo::Photo;
use super::{CardAccess, Db, theme};
use crate::card::ReaderEvent;
use crate::config::{Language, Profile};
use crate::error::Failure;
use crate::remote::usos::UsosClient;
use crate::render::portrait::PhotoFrame;
use crate::station::auth::Session;
use crate::station::desk::{DeskSetup, DuplicateReason};
use crate::station::person::Field;
use crate::station::usos::HolderInUsos;
use crate::store::Person;

pub use import::{ImportEvent, ImportScreen, ImportState};
pub use issuance::{Issuance, IssueEvent, IssueFailure};
pub use panel::Panel;
pub use person::{BlockAsk, PersonForm};
pub use photo_edit::{PhotoEdit, PhotoStep};
pub use prolong::{Note, ProlongAsk, ProlongFailed};
pub use search::SEARCH_ID;
pub use usos::{NoticeState, UsosHolder, UsosSide};

pub struct Desk {
    db: Db,
    session: Session,
    /// Where the card is written; tests put another simulated card on the reader here.
    pub access: CardAccess,
    /// The profile's photo folder, once known (`None` inside: the profile has none).
    photos: Option<Option<PathBuf>>,
    /// The open holder's photo.
    pub photo: Photo,
    /// "Set photo from file" under way for the open holder.
    pub photo_edit: Option<PhotoEdit>,
    /// The card's photo frame, the shape photos are cropped to.
    photo_frame: PhotoFrame,
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
    /// A new person or the open one's details being typed, shown in place of the panel.
    pub form: Option<PersonForm>,
    /// A block waiting for its reason and confirmation.
    pub block: Option<BlockAsk>,
    /// A prolongation waiting for its expiry (and sticker) and confirmation.
    pub prolong: Option<ProlongAsk>,
    /// The profile's `[holograms]`: whether a prolongation takes a sticker.
    holograms: crate::config::Holograms,
    /// The CSV import, shown in place of the form and the panel.
    pub import: Option<ImportScreen>,
    pub issuance: Issuance,
    /// `None` while the signer and card key load.
    setup: Option<Result<Arc<DeskSetup>, Failure>>,
    duplicate: Option<DuplicateReason>,
    /// The outcome of the last block / unblock / prolong, on the panel of the card.
    /// The last change's outcome: what was done (its word and its object), or the problem.
    pub notice: Option<Result<(Text, String), Failure>>,
    /// A search or an "open" that failed: drawn above the results, where it is seen whether
    /// or not anyone is open.
    pub problem: Option<Failure>,
}

#[derive(Debug, Clone)]
pub enum Message {
    QueryChanged(String),
    Searched {
        generation: u64,
        result: Result<Vec<Person>, Failure>,
    },
    Move(i32),
    OpenHighlighted,
    Open(i64),
    Opened {
        /// The request this answers; answers to earlier ones are dropped.
        opening: u64,
        result: Result<Box<Panel>, Failure>,
    },
    SetupLoaded(Result<Arc<DeskSetup>, Failure>),
    Issue,
    Duplicate(DuplicateReason),
    Issuing(IssueEvent),
    /// Ask why this card is blocked, before blocking it.
    AskBlock(i64),
    BlockReasonChanged(String),
    /// Block the card asked about, if a reason was given.
    ConfirmBlock,
    CancelBlock,
    Unblock(i64),
    NewPerson,
    EditPerson,
    FormEdited(Field, String),
    SaveForm,
    CancelForm,
    /// The person saved (their id and name), or why not.
    FormSaved(Result<(i64, String), Failure>),
    OpenImport,
    ImportPathChanged(String),
    StartImport,
    Importing(ImportEvent),
    CloseImport,
    /// Prolong this card of the register, which must be the one on the reader: asks for the
    /// new expiry (and the hologram sticker), or with USOS writes what USOS signed.
    Prolong {
        card_id: i64,
        expires: Option<Date>,
    },
    ProlongSticker(String),
    ProlongExpiry(String),
    /// The free stickers in stock, counted when the step opened.
    StickerStock(Result<i64, Failure>),
    /// Write the prolongation asked for, once its fields are right.
    ConfirmProlong,
    CancelProlong,
    ProlongDone(Result<(Text, String), ProlongFailed>),
    /// Tell USOS again of the prolongation written on this chip.
    RetryUsosMark(String),
    Changed(Result<(Text, String), Failure>),
    Reader(ReaderEvent),
    PhotoFolder(Option<PathBuf>),
    PhotoLoaded {
        person_id: i64,
        photo: Photo,
    },
    PhotoFrame(PhotoFrame),
    /// Open "set photo from file" for the open holder.
    SetPhoto,
    PhotoPathChanged(String),
    LoadPhotoFile,
    PhotoPrepared {
        person_id: i64,
        result: photo_edit::Prepared,
    },
    SavePhoto,
    PhotoSaved {
        person_id: i64,
        result: Result<(), Failure>,
    },
    CancelPhoto,
    UsosClient(Result<UsosClient, Failure>),
    UsosLoaded {
        lookup: u64,
        result: Result<HolderInUsos, Failure>,
    },
    /// Send the "card ready" notice for the USOS card at this index of the loaded ones.
    SendCardReady(usize),
    CardReadySent {
        person_id: i64,
        result: Result<String, Failure>,
    },
}

/// What the desk tells the window, which acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A card was issued, a person saved, or a block, unblock or prolong came back: the
    /// outbox count on the status bar may have moved.
    StoreChanged,
}

impl Desk {
    pub fn new(
        db: Db,
        session: Session,
        access: CardAccess,
        profile: &Profile,
        setup: Task<Result<Arc<DeskSetup>, Failure>>,
    ) -> (Self, Task<Message>) {
        let photos = panel::photo_folder(profile);
        let frame = photo_edit::find_frame(profile);
        let (usos, client) = usos::start(profile);
        let desk = Self {
            db,
            session,
            access,
            photos: None,
            photo: Photo::None,
            photo_edit: None,
            photo_frame: PhotoFrame::STUDENT_CARD,
            usos,
            query: String::new(),
            generation: 0,
            hits: Vec::new(),
            highlighted: None,
            wanted: None,
            opening: 0,
            panel: None,
            form: None,
            block: None,
            prolong: None,
            holograms: profile.holograms.clone(),
            import: None,
            issuance: Issuance::Idle,
            setup: None,
            duplicate: None,
            notice: None,
            problem: None,
        };
        let focus = iced::widget::operation::focus(SEARCH_ID);
        (
            desk,
            Task::batch([
                setup.map(Message::SetupLoaded),
                photos,
                frame,
                client,
                focus,
            ]),
        )
    }

    /// Handles a message; what the window must act on comes back as an [`Event`].
    pub fn update(&mut self, message: Message) -> (Task<Message>, Option<Event>) {
        if matches!(
            message,
            Message::Open(_) | Message::OpenHighlighted | Message::NewPerson
        ) {
            self.close_import();
        }
        let task = match message {
            Message::QueryChanged(query) => self.search(query),
            Message::Searched { generation, result } => {
                self.searched(generation, result);
                Task::none()
            }
            Message::Move(by) => {
                self.move_highlight(by);
                Task::none()
            }
            Message::OpenHighlighted => self.open_highlighted(),
            Message::Open(person_id) => self.open(person_id),
            Message::Opened { opening, result } => self.opened(opening, result),
            Message::SetupLoaded(setup) => {
                self.setup = Some(setup);
                Task::none()
            }
            Message::Issue => self.start_issue(None),
            Message::Duplicate(reason) => {
                self.duplicate = Some(reason);
                Task::none()
            }
            Message::Issuing(event) => return self.issuing(event),
            Message::Reader(event) => self.reader(event),
            Message::AskBlock(card_id) => self.ask_block(card_id),
            Message::BlockReasonChanged(reason) => {
                self.block_reason_changed(reason);
                Task::none()
            }
            Message::ConfirmBlock => self.confirm_block(),
            Message::CancelBlock => {
                self.block = None;
                Task::none()
            }
            Message::Unblock(card_id) => {
                let reason = "found again; unblocked at the desk".to_owned();
                self.set_blocked(card_id, false, reason)
            }
            Message::NewPerson => self.new_person(),
            Message::EditPerson => self.edit_person(),
            Message::FormEdited(field, value) => {
                self.form_edited(field, value);
                Task::none()
            }
            Message::SaveForm => self.save_form(),
            Message::CancelForm => {
                self.form = None;
                Task::none()
            }
            Message::FormSaved(result) => return self.form_saved(result),
            Message::OpenImport => self.open_import(),
            Message::ImportPathChanged(path) => {
                self.import_path_changed(path);
                Task::none()
            }
            Message::StartImport => self.start_import(),
            Message::Importing(event) => return (Task::none(), self.importing(event)),
            Message::CloseImport => {
                self.close_import();
                Task::none()
            }
            Message::Prolong { card_id, expires } => self.prolong(card_id, expires),
            Message::ProlongSticker(sticker) => {
                self.prolong_edited(Some(sticker), None);
                Task::none()
            }
            Message::ProlongExpiry(expiry) => {
                self.prolong_edited(None, Some(expiry));
                Task::none()
            }
            Message::StickerStock(counted) => {
                self.sticker_stock(counted);
                Task::none()
            }
            Message::ConfirmProlong => self.confirm_prolong(),
            Message::CancelProlong => {
                self.prolong = None;
                Task::none()
            }
            Message::ProlongDone(outcome) => {
                let recorded = matches!(outcome, Ok(_) | Err(ProlongFailed::Written(_)));
                let task = self.prolong_done(outcome);
                return (task, recorded.then_some(Event::StoreChanged));
            }
            Message::RetryUsosMark(chip) => self.retry_usos_mark(chip),
            Message::Changed(result) => {
                return (self.changed(result), Some(Event::StoreChanged));
            }
            Message::PhotoFolder(folder) => self.photo_folder_found(folder),
            Message::PhotoLoaded { person_id, photo } => {
                self.photo_loaded(person_id, photo);
                Task::none()
            }
            Message::PhotoFrame(frame) => {
                self.photo_frame = frame;
                Task::none()
            }
            Message::SetPhoto => self.start_photo(),
            Message::PhotoPathChanged(path) => {
                self.photo_path_changed(path);
                Task::none()
            }
            Message::LoadPhotoFile => self.load_photo_file(),
            Message::PhotoPrepared { person_id, result } => {
                self.photo_prepared(person_id, result);
                Task::none()
            }
            Message::SavePhoto => self.save_photo(),
            Message::PhotoSaved { person_id, result } => {
                return self.photo_saved(person_id, result);
            }
            Message::CancelPhoto => {
                self.photo_edit = None;
                Task::none()
            }
            Message::UsosClient(client) => self.usos_client_made(client),
            Message::UsosLoaded { lookup, result } => {
                self.usos_loaded(lookup, result);
                Task::none()
            }
            Message::SendCardReady(index) => self.send_card_ready(index),
            Message::CardReadySent { person_id, result } => {
                self.card_ready_sent(person_id, result);
                Task::none()
            }
        };
        (task, None)
    }

    pub fn view(&self, language: Language) -> Element<'_, Message> {
        let right = match (&self.import, &self.form, &self.panel) {
            (Some(screen), _, _) => self.import_view(screen, language),
            (None, Some(form), _) => self.form_view(form, language),
            (None, None, Some(panel)) => self.panel_view(panel, language),
            (None, None, None) => {
                container(text(t(language, Text::PickSomeone)).color(theme::MUTED))
                    .center(Length::Fill)
                    .into()
            }
        };
        row![
            self.search_view(language),
            container(right).width(Length::FillPortion(3))
        ]
        .spacing(20)
        .height(Length::Fill)
        .into()
    }
}

/// What the desk's tests share: a desk over the demo store, and a way to run its tasks.
#[cfg(test)]
mod testing {
    use super::*;
    use crate::config::Role;
    use crate::store::{OperatorRole, Store};
    use iced::futures::StreamExt;

    /// A desk over the demo store in `dir`, as anna at the issuance desk.
    pub(super) fn desk(dir: &std::path::Path) -> (Desk, std::path::PathBuf) {
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

    /// Runs the task of an `update` to its end and returns its messages, without feeding
    /// them back.
    pub(super) fn messages(
        runtime: &tokio::runtime::Runtime,
        (task, _event): (Task<Message>, Option<Event>),
    ) -> Vec<Message> {
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

    pub(super) fn shows(desk: &Desk, wanted: &str) -> bool {
        let settings = iced_test::core::Settings {
            fonts: vec![theme::REGULAR_BYTES.into(), theme::BOLD_BYTES.into()],
            default_font: theme::REGULAR,
            ..iced_test::core::Settings::default()
        };
        iced_test::simulator::Simulator::with_settings(settings, desk.view(Language::En))
            .find(wanted)
            .is_ok()
    }
}
