//! The print station: the production queue with a live preview of the selected card's sides,
//! and the batch (encode each chip, then print) with start / pause / resume / cancel, a
//! progress bar for the batch and the card in hand, and every failed card listed. A search
//! box and a card-type pick list filter the queue and the printed cards; ticked cards (or
//! all shown) make a batch;
//! an order can be cancelled, a printed card reprinted or withdrawn, each once a reason is
//! given (README "Print station"). With `[printer] holograms`, the stickers too: the batch's
//! reserved numbers, which sticker goes on each printed card, and the stock left (warned
//! when low, `[holograms] low_stock`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iced::widget::{
    Column, button, checkbox, column, container, image, pick_list, progress_bar, row, scrollable,
    text, text_input,
};
use iced::{Alignment, Element, Length, Task};

use super::i18n::{Text, t};
use super::{Db, blocking, stopped, theme};
use crate::config::Language;
use crate::error::Failure;
use crate::station::auth::{Action, Session};
use crate::station::print::{
    self, BatchPlan, BatchSummary, Control, PrintEvent, PrintStation, ProductionChange,
};
use crate::store::{CardType, Production, QueueFilter, Store};

const QUEUE_SHOWN: usize = 500;
/// Printed cards listed for a reprint or a withdrawal, the latest first.
const PRINTED_SHOWN: usize = 100;
const PREVIEW_WIDTH: u32 = 320;
/// How long the encoder may wait for the printer to feed a blank card.
const FEED_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    Idle,
    Running {
        total: usize,
        done: usize,
        current: Option<String>,
        paused: bool,
    },
    Finished(BatchSummary),
}

/// A reprint, cancel or withdrawal waiting for its reason and confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeAsk {
    pub production: i64,
    pub change: ProductionChange,
    pub reason: String,
    /// Confirm was pressed without a reason.
    pub reason_missing: bool,
}

pub struct PrintScreen {
    db: Db,
    /// The store's file: a batch opens its own connection on it (WAL lets the window's go on
    /// reading and writing meanwhile) rather than hold the window's for minutes.
    database: PathBuf,
    session: Session,
    /// The profile's readers: the encoder is one of them unless `[printer]` names its own.
    readers: crate::config::Readers,
    /// `None` while the printer set-up loads.
    station: Option<Result<Arc<PrintStation>, Failure>>,
    pub queue: Vec<Production>,
    /// Printed cards, for a reprint or a withdrawal.
    pub printed: Vec<Production>,
    /// What the search box holds: both lists show what matches it.
    pub search: String,
    /// The card type picked beside it (`None`: all types).
    pub card_type: Option<CardType>,
    /// Queued cards ticked for "Print selected".
    pub chosen: BTreeSet<i64>,
    pub ask: Option<ChangeAsk>,
    /// The last change made, and to which production.
    pub done: Option<(ProductionChange, i64)>,
    pub selected: Option<i64>,
    preview: Vec<image::Handle>,
    pub batch: Batch,
    control: Control,
    /// Cards that did not come out (the production), with why: the operator's retry list.
    pub failures: Vec<(i64, Failure)>,
    pub error: Option<Failure>,
    /// `None` when the printer puts no hologram stickers on its cards.
    pub stickers: Option<Stickers>,
}

/// The hologram stickers of the print station's batches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stickers {
    /// The running (or last) batch's reserved numbers, as ranges.
    pub reserved: Vec<(i64, i64)>,
    /// Each card printed in it, and the sticker that goes on it.
    pub printed: Vec<(String, i64)>,
    /// Free stickers in the stock, once counted.
    pub left: Option<i64>,
    low_stock: u32,
}

#[derive(Debug, Clone)]
pub enum Message {
    StationLoaded(Result<Arc<PrintStation>, Failure>),
    QueueLoaded(Result<Vec<Production>, Failure>),
    PrintedLoaded(Result<Vec<Production>, Failure>),
    Search(String),
    PickType(TypeChoice),
    Choose(i64, bool),
    Ask(ProductionChange, i64),
    AskReason(String),
    ConfirmAsk,
    CancelAsk,
    Changed(Result<(ProductionChange, i64), Failure>),
    Select(i64),
    Previewed {
        id: i64,
        result: Result<Vec<(u32, u32, Vec<u8>)>, Failure>,
    },
    /// Prints the queue, or all the search shows.
    Start,
    PrintSelected,
    Pause,
    Resume,
    Cancel,
    Event(PrintEvent),
    BatchFailed(Failure),
    StickerStock(Result<i64, Failure>),
}

fn load_sticker_stock(db: Db) -> Task<Message> {
    Task::perform(
        db.run(|store| store.hologram_stock().map(|stock| stock.free_count())),
        Message::StickerStock,
    )
}

/// One entry of the card-type pick list, labelled in the window's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeChoice {
    pub card_type: Option<CardType>,
    label: &'static str,
}

impl std::fmt::Display for TypeChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label)
    }
}

impl TypeChoice {
    /// All types, then each card type.
    pub fn all(language: Language) -> [TypeChoice; 4] {
        [
            (None, Text::AllCardTypes),
            (Some(CardType::Student), Text::StudentCards),
            (Some(CardType::Phd), Text::DoctoralCards),
            (Some(CardType::Staff), Text::StaffCards),
        ]
        .map(|(card_type, label)| TypeChoice {
            card_type,
            label: t(language, label),
        })
    }
}

/// Both lists, as the search and the card type show them.
fn load_lists(db: Db, search: &str, card_type: Option<CardType>) -> Task<Message> {
    let filter = QueueFilter {
        search: search.to_owned(),
        card_type,
        ..QueueFilter::default()
    };
    let printed = filter.clone();
    Task::batch([
        Task::perform(
            db.run(move |store| store.queue_matching(&filter, QUEUE_SHOWN)),
            Message::QueueLoaded,
        ),
        Task::perform(
            db.run(move |store| store.printed_matching(&printed, PRINTED_SHOWN)),
            Message::PrintedLoaded,
        ),
    ])
}

const REASON_ID: &str = "print-change-reason";

impl PrintScreen {
    /// Whether the lists show part of the queue (a search or a card type), so "all shown"
    /// is not the whole queue.
    fn filtered(&self) -> bool {
        !self.search.trim().is_empty() || self.card_type.is_some()
    }

    fn reload_lists(&self) -> Task<Message> {
        load_lists(self.db.clone(), &self.search, self.card_type)
    }

    pub fn new(
        db: Db,
        database: PathBuf,
        session: Session,
        profile: crate::config::Profile,
    ) -> (Self, Task<Message>) {
        let readers = profile.readers.clone();
        let stickers = profile
            .printer
            .as_ref()
            .is_some_and(|printer| printer.holograms)
            .then(|| Stickers {
                low_stock: profile.holograms.low_stock,
                ..Stickers::default()
            });
        let load_station = Task::perform(
            blocking("set-up", move || {
                PrintStation::from_profile(&profile).map(Arc::new)
            }),
            Message::StationLoaded,
        );
        let screen = Self {
            db: db.clone(),
            database,
            session,
            readers,
            station: None,
            queue: Vec::new(),
            printed: Vec::new(),
            search: String::new(),
            card_type: None,
            chosen: BTreeSet::new(),
            ask: None,
            done: None,
            selected: None,
            preview: Vec::new(),
            batch: Batch::Idle,
            control: Control::default(),
            failures: Vec::new(),
            error: None,
            stickers,
        };
        let count = screen.recount_stickers();
        (
            screen,
            Task::batch([load_station, load_lists(db, "", None), count]),
        )
    }

    pub fn update(&mut self, message: Message) -> Task<Message> {
        match message {
            Message::StationLoaded(station) => {
                self.station = Some(station);
                // The queue may have arrived first: draw the card it selected.
                if let Some(id) = self.selected {
                    return self.update(Message::Select(id));
                }
            }
            Message::QueueLoaded(Ok(queue)) => {
                self.queue = queue;
                // A ticked card that left the queue (printed, cancelled) is no longer chosen.
                let queued: BTreeSet<i64> = self.queue.iter().map(|p| p.id).collect();
                self.chosen.retain(|id| queued.contains(id));
                if self.selected.is_none()
                    && let Some(first) = self.queue.first()
                {
                    return self.update(Message::Select(first.id));
                }
            }
            Message::QueueLoaded(Err(err)) | Message::PrintedLoaded(Err(err)) => {
                self.error = Some(err)
            }
            Message::PrintedLoaded(Ok(printed)) => self.printed = printed,
            Message::Search(search) => {
                self.search = search;
                return self.reload_lists();
            }
            Message::PickType(choice) => {
                self.card_type = choice.card_type;
                return self.reload_lists();
            }
            Message::Choose(id, on) => {
                if on {
                    self.chosen.insert(id);
                } else {
                    self.chosen.remove(&id);
                }
            }
            Message::Ask(change, production) => {
                self.ask = Some(ChangeAsk {
                    production,
                    change,
                    reason: String::new(),
                    reason_missing: false,
                });
                return iced::widget::operation::focus(REASON_ID);
            }
            Message::AskReason(reason) => {
                if let Some(ask) = &mut self.ask {
                    ask.reason = reason;
                    ask.reason_missing = false;
                }
            }
            Message::CancelAsk => self.ask = None,
            Message::ConfirmAsk => return self.confirm_change(),
            Message::Changed(Ok(done)) => {
                self.done = Some(done);
                self.error = None;
                return self.reload_lists();
            }
            Message::Changed(Err(err)) => self.error = Some(err),
            Message::Select(id) => {
                self.selected = Some(id);
                let (Some(Ok(station)), db) = (self.station.clone(), self.db.clone()) else {
                    return Task::none();
                };
                let failed = |cause| {
                    Failure::new(
                        cause,
                        "select the card again; if it repeats, check its holder's record and the profile's card layout",
                    )
                    .with_polish(
                        "Nie można pokazać podglądu karty.",
                        "Wybierz kartę ponownie; jeśli to się powtarza, sprawdź rekord posiadacza i układ karty w profilu.",
                    )
                };
                return Task::perform(
                    async move {
                        // The store only while the face is read; the drawing runs beside it.
                        let for_face = station.clone();
                        let face = db
                            .run(move |store| for_face.preview_face(store, id).map_err(failed))
                            .await?;
                        blocking("preview", move || {
                            station.preview(&face, PREVIEW_WIDTH).map_err(failed)
                        })
                        .await
                    },
                    move |result| Message::Previewed { id, result },
                );
            }
            // An answer for a card no longer selected (quick clicks through the queue).
            Message::Previewed { id, .. } if self.selected != Some(id) => {}
            Message::Previewed {
                result: Ok(sides), ..
            } => {
                self.preview = sides
                    .into_iter()
                    .map(|(width, height, rgba)| image::Handle::from_rgba(width, height, rgba))
                    .collect();
            }
            Message::Previewed {
                result: Err(err), ..
            } => {
                self.preview.clear();
                self.error = Some(err);
            }
            Message::Start => {
                let plan = if !self.filtered() {
                    BatchPlan::queue(usize::MAX)
                } else {
                    BatchPlan::chosen(self.queue.iter().map(|p| p.id).collect())
                };
                return self.start(plan);
            }
            Message::PrintSelected if !self.chosen.is_empty() => {
                return self.start(BatchPlan::chosen(self.chosen.iter().copied().collect()));
            }
            Message::PrintSelected => {}
            Message::Pause => self.control.pause(),
            Message::Resume => self.control.resume(),
            Message::Cancel => self.control.cancel(),
            Message::Event(event) => return self.apply(event),
            Message::BatchFailed(err) => {
                self.error = Some(err);
                self.batch = Batch::Idle;
                return Task::batch([self.reload_lists(), self.recount_stickers()]);
            }
            Message::StickerStock(Ok(left)) => {
                if let Some(stickers) = &mut self.stickers {
                    stickers.left = Some(left);
                }
            }
            Message::StickerStock(Err(err)) => self.error = Some(err),
        }
        Task::none()
    }

    fn recount_stickers(&self) -> Task<Message> {
        match &self.stickers {
            Some(_) => load_sticker_stock(self.db.clone()),
            None => Task::none(),
        }
    }

    /// How many sides of the selected card are drawn.
    pub fn preview_sides(&self) -> usize {
        self.preview.len()
    }

    /// Applies the change asked about, once a reason is given.
    fn confirm_change(&mut self) -> Task<Message> {
        let Some(ask) = &mut self.ask else {
            return Task::none();
        };
        let reason = ask.reason.trim().to_owned();
        if reason.is_empty() {
            ask.reason_missing = true;
            return Task::none();
        }
        let (change, id) = (ask.change, ask.production);
        self.ask = None;
        let session = self.session.clone();
        Task::perform(
            self.db.run(move |store| {
                print::change_production(&session, store, change, id, &reason)
                    .map(|()| (change, id))
                    .map_err(Failure::from)
            }),
            Message::Changed,
        )
    }

    fn start(&mut self, plan: BatchPlan) -> Task<Message> {
        if !self.session.may(Action::PrintCards) || matches!(self.batch, Batch::Running { .. }) {
            return Task::none();
        }
        let Some(Ok(station)) = self.station.clone() else {
            return Task::none();
        };
        self.control = Control::default();
        self.failures.clear();
        self.error = None;
        if let Some(stickers) = &mut self.stickers {
            stickers.reserved.clear();
            stickers.printed.clear();
        }
        self.ask = None;
        self.batch = Batch::Running {
            total: plan.filter.ids.as_ref().map_or(self.queue.len(), Vec::len),
            done: 0,
            current: None,
            paused: false,
        };
        let (database, session, control) = (
            self.database.clone(),
            self.session.clone(),
            self.control.clone(),
        );
        let readers = self.readers.clone();
        let events = iced::stream::channel(64, async move |mut output| {
            use iced::futures::SinkExt;
            let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
            let worker = tokio::task::spawn_blocking(move || {
                let mut store = Store::open(&database).map_err(Failure::from)?;
                // The profile's feed, as `cardstation print` drives it: an Evolis printer
                // told where to move each card, or the encoder reader waited on.
                let mut feed = station.feed(&readers, FEED_WAIT);
                let mut cups = station.cups();
                let setup = station.setup(&session);
                print::run_batch(
                    &mut store,
                    &mut *feed,
                    &mut cups,
                    &setup,
                    &plan,
                    &control,
                    &mut |event| {
                        let _ = sender.send(event);
                    },
                )
                .map(drop)
                .map_err(Failure::from)
            });
            while let Some(event) = receiver.recv().await {
                if output.send(Message::Event(event)).await.is_err() {
                    return;
                }
            }
            if let Ok(Err(err)) | Err(err) = worker.await.map_err(|_| stopped("print")) {
                let _ = output.send(Message::BatchFailed(err)).await;
            }
        });
        Task::run(events, std::convert::identity)
    }

    fn apply(&mut self, event: PrintEvent) -> Task<Message> {
        let Batch::Running {
            total,
            done,
            current,
            paused,
        } = &mut self.batch
        else {
            return Task::none();
        };
        match event {
            PrintEvent::Started {
                total: all,
                holograms,
                ..
            } => {
                *total = all;
                if let Some(stickers) = &mut self.stickers {
                    stickers.reserved = holograms;
                }
                // The batch took its numbers out of the free stock.
                return self.recount_stickers();
            }
            PrintEvent::Card { name, .. } => *current = Some(name),
            PrintEvent::Printed { hologram, .. } => {
                *done += 1;
                if let (Some(stickers), Some(number)) = (&mut self.stickers, hologram) {
                    stickers
                        .printed
                        .push((current.clone().unwrap_or_default(), number));
                }
            }
            PrintEvent::FailedTry {
                production, reason, ..
            } => self.failures.push((production, reason)),
            PrintEvent::Skipped {
                production, reason, ..
            } => {
                *done += 1;
                self.failures.push((production, reason));
            }
            PrintEvent::Paused => *paused = true,
            PrintEvent::Resumed => *paused = false,
            PrintEvent::Finished(summary) => {
                self.batch = Batch::Finished(summary);
                return Task::batch([self.reload_lists(), self.recount_stickers()]);
            }
        }
        Task::none()
    }

    pub fn view(&self, language: Language) -> Element<'_, Message> {
        let may_change =
            self.session.may(Action::PrintCards) && !matches!(self.batch, Batch::Running { .. });
        let mut list = Column::new().spacing(2);
        for production in &self.queue {
            let chosen = self.chosen.contains(&production.id);
            let id = production.id;
            list = list.push(
                row![
                    checkbox(chosen).on_toggle(move |on| Message::Choose(id, on)),
                    self.production_line(production, language),
                    Self::change_button(
                        Text::CancelOrder,
                        ProductionChange::Cancel,
                        id,
                        may_change,
                        language
                    ),
                ]
                .spacing(8)
                .align_y(Alignment::Center),
            );
            list = self.push_ask(list, id, language);
        }
        let heading = |label: Text, count: usize| {
            text(format!("{} ({count})", t(language, label)))
                .size(theme::HEADING_SIZE)
                .font(theme::BOLD)
        };
        let queue = if self.queue.is_empty() {
            Element::from(text(t(language, Text::QueueEmpty)).color(theme::MUTED))
        } else {
            list.into()
        };
        let mut printed = Column::new().spacing(2);
        for production in &self.printed {
            let id = production.id;
            printed = printed.push(
                row![
                    self.production_line(production, language),
                    Self::change_button(
                        Text::Reprint,
                        ProductionChange::Reprint,
                        id,
                        may_change,
                        language
                    ),
                    Self::change_button(
                        Text::Withdraw,
                        ProductionChange::Withdraw,
                        id,
                        may_change,
                        language
                    ),
                ]
                .spacing(8)
                .align_y(Alignment::Center),
            );
            printed = self.push_ask(printed, id, language);
        }
        if self.printed.is_empty() {
            printed = printed.push(text(t(language, Text::NothingPrinted)).color(theme::MUTED));
        }
        let lists = column![
            heading(Text::PrintQueue, self.queue.len()),
            queue,
            heading(Text::PrintedCards, self.printed.len()),
            printed,
        ]
        .spacing(10);
        let choices = TypeChoice::all(language);
        let picked = choices
            .iter()
            .find(|choice| choice.card_type == self.card_type)
            .copied();
        let queue = column![
            row![
                text_input(t(language, Text::QueueSearch), &self.search)
                    .on_input(Message::Search)
                    .padding(8)
                    .size(theme::BODY_SIZE),
                pick_list(choices, picked, Message::PickType)
                    .padding(8)
                    .text_size(theme::BODY_SIZE),
            ]
            .spacing(8),
            scrollable(lists).height(Length::Fill),
        ]
        .spacing(10)
        .width(Length::FillPortion(2));

        let mut side = column![].spacing(14).width(Length::FillPortion(3));
        match &self.station {
            None => {}
            Some(Err(reason)) => {
                side = side.push(
                    text(format!(
                        "{} {}",
                        t(language, Text::PrinterUnavailable),
                        super::problem(language, reason)
                    ))
                    .color(theme::PROBLEM),
                );
            }
            Some(Ok(station)) => {
                side = side.push(
                    text(format!("CUPS: {}", station.printer.queue))
                        .size(theme::SMALL_SIZE)
                        .color(theme::MUTED),
                );
            }
        }
        let mut previews = row![].spacing(12);
        for handle in &self.preview {
            previews = previews.push(
                container(image(handle.clone()).width(PREVIEW_WIDTH as f32))
                    .style(container::bordered_box),
            );
        }
        side = side.push(previews);
        side = side.push(self.batch_view(language));
        if let Some(stickers) = &self.stickers {
            side = side.push(stickers_view(stickers, language));
        }
        if let Some(err) = &self.error {
            side = side.push(text(super::problem(language, err)).color(theme::PROBLEM));
        }
        if !self.failures.is_empty() {
            let mut failed =
                column![text(t(language, Text::FailedCards)).font(theme::BOLD)].spacing(4);
            for (production, reason) in &self.failures {
                failed = failed.push(
                    text(format!(
                        "#{production}: {}",
                        super::problem(language, reason)
                    ))
                    .size(theme::SMALL_SIZE)
                    .color(theme::PROBLEM),
                );
            }
            side = side.push(failed);
        }
        row![queue, scrollable(side).height(Length::Fill)]
            .spacing(20)
            .height(Length::Fill)
            .into()
    }

    /// A production's line: its id, name and tries; pressed, it shows its preview.
    fn production_line<'a>(
        &self,
        production: &'a Production,
        language: Language,
    ) -> Element<'a, Message> {
        let chosen = self.selected == Some(production.id);
        button(
            row![
                text(format!("#{}", production.id)).width(60),
                text(production.name_on_card.clone().unwrap_or_default()).font(theme::BOLD),
                text(if production.number_of_tries > 0 {
                    format!(
                        "· {} {}",
                        t(language, Text::Tries),
                        production.number_of_tries
                    )
                } else {
                    String::new()
                })
                .size(theme::SMALL_SIZE),
            ]
            .spacing(10),
        )
        .width(Length::Fill)
        .style(if chosen {
            button::primary
        } else {
            button::text
        })
        .on_press(Message::Select(production.id))
        .into()
    }

    fn change_button(
        label: Text,
        change: ProductionChange,
        id: i64,
        enabled: bool,
        language: Language,
    ) -> Element<'static, Message> {
        button(text(t(language, label)).size(theme::SMALL_SIZE))
            .style(button::secondary)
            .on_press_maybe(enabled.then_some(Message::Ask(change, id)))
            .into()
    }

    /// Under production `id`'s line while a change to it waits: why, and the button that
    /// confirms it.
    fn push_ask<'a>(
        &'a self,
        list: Column<'a, Message>,
        id: i64,
        language: Language,
    ) -> Column<'a, Message> {
        let Some(ask) = self.ask.as_ref().filter(|ask| ask.production == id) else {
            return list;
        };
        let (why, confirm, warning) = match ask.change {
            ProductionChange::Reprint => {
                (Text::ReprintWhy, Text::ConfirmReprint, Text::ReprintWarning)
            }
            ProductionChange::Cancel => (
                Text::CancelOrderWhy,
                Text::ConfirmCancelOrder,
                Text::CancelOrderWarning,
            ),
            ProductionChange::Withdraw => (
                Text::WithdrawWhy,
                Text::ConfirmWithdraw,
                Text::WithdrawWarning,
            ),
        };
        list.push(super::reason_ask::view(
            super::reason_ask::ReasonAsk {
                why,
                placeholder: Text::ChangeReasonPlaceholder,
                confirm,
                back: Text::Back,
                warning,
                needs_reason: Text::ChangeNeedsReason,
                reason: &ask.reason,
                reason_missing: ask.reason_missing,
                input_id: REASON_ID,
                on_input: Message::AskReason,
                on_confirm: Message::ConfirmAsk,
                on_back: Message::CancelAsk,
            },
            language,
        ))
    }

    fn batch_view(&self, language: Language) -> Element<'_, Message> {
        let may_print = self.session.may(Action::PrintCards) && matches!(self.station, Some(Ok(_)));
        match &self.batch {
            Batch::Running {
                total,
                done,
                current,
                paused,
            } => {
                let controls = if *paused {
                    row![
                        button(text(t(language, Text::Resume))).on_press(Message::Resume),
                        button(text(t(language, Text::Cancel)))
                            .style(button::danger)
                            .on_press(Message::Cancel),
                    ]
                } else {
                    row![
                        button(text(t(language, Text::Pause)))
                            .style(button::secondary)
                            .on_press(Message::Pause),
                        button(text(t(language, Text::Cancel)))
                            .style(button::danger)
                            .on_press(Message::Cancel),
                    ]
                };
                column![
                    text(format!("{done} / {total}")).size(theme::HEADING_SIZE),
                    progress_bar(0.0..=(*total).max(1) as f32, *done as f32),
                    text(current.clone().unwrap_or_default()).color(theme::MUTED),
                    controls.spacing(10),
                ]
                .spacing(8)
                .into()
            }
            Batch::Idle | Batch::Finished(_) => {
                let all = if !self.filtered() {
                    t(language, Text::StartBatch).to_owned()
                } else {
                    format!("{} ({})", t(language, Text::PrintShown), self.queue.len())
                };
                let mut page = column![
                    row![
                        button(text(all).size(theme::HEADING_SIZE))
                            .padding([10, 22])
                            .on_press_maybe(
                                (may_print && !self.queue.is_empty()).then_some(Message::Start)
                            ),
                        button(
                            text(format!(
                                "{} ({})",
                                t(language, Text::PrintSelected),
                                self.chosen.len()
                            ))
                            .size(theme::HEADING_SIZE)
                        )
                        .padding([10, 22])
                        .style(button::secondary)
                        .on_press_maybe(
                            (may_print && !self.chosen.is_empty())
                                .then_some(Message::PrintSelected)
                        ),
                    ]
                    .spacing(10)
                ]
                .spacing(8)
                .align_x(Alignment::Start);
                if let Batch::Finished(summary) = &self.batch {
                    page = page.push(
                        text(format!(
                            "{}: {} {} · {} {} · {} {}",
                            t(language, Text::BatchDone),
                            summary.printed,
                            t(language, Text::Printed),
                            summary.failed_tries,
                            t(language, Text::Rejected),
                            summary.left.len(),
                            t(language, Text::LeftInQueue)
                        ))
                        .color(if summary.left.is_empty() {
                            theme::OK
                        } else {
                            theme::PROBLEM
                        }),
                    );
                }
                if let Some((change, id)) = self.done {
                    let done = match change {
                        ProductionChange::Reprint => Text::ReprintDone,
                        ProductionChange::Cancel => Text::CancelOrderDone,
                        ProductionChange::Withdraw => Text::WithdrawDone,
                    };
                    page = page.push(text(format!("{} #{id}", t(language, done))).color(theme::OK));
                }
                if !self.session.may(Action::PrintCards) {
                    page = page.push(text(t(language, Text::MayNotPrint)).color(theme::MUTED));
                }
                page.into()
            }
        }
    }
}

/// The batch's reserved sticker numbers, the sticker of each card printed, the stock left.
fn stickers_view(stickers: &Stickers, language: Language) -> Element<'_, Message> {
    let mut lines = Column::new().spacing(4);
    if !stickers.reserved.is_empty() {
        let ranges: Vec<String> = stickers
            .reserved
            .iter()
            .map(|&(first, last)| match first == last {
                true => first.to_string(),
                false => format!("{first}–{last}"),
            })
            .collect();
        lines = lines.push(text(format!(
            "{} {}",
            t(language, Text::StickersReserved),
            ranges.join(", ")
        )));
    }
    for (name, number) in &stickers.printed {
        lines = lines.push(
            text(format!("{name} · {} {number}", t(language, Text::Sticker)))
                .size(theme::SMALL_SIZE),
        );
    }
    if let Some(left) = stickers.left {
        lines = lines.push(super::holograms::stock_view(
            language,
            left,
            stickers.low_stock,
        ));
    }
    lines.into()
}
