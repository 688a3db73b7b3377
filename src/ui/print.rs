//! The print station: the production queue with a live preview of the selected card's sides,
//! and the batch (encode each chip, then print) with start / pause / resume / cancel, a
//! progress bar for the batch and the card in hand, and every failed card listed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iced::widget::{Column, button, column, container, image, progress_bar, row, scrollable, text};
use iced::{Alignment, Element, Length, Task};

use super::i18n::{Text, t};
use super::{Db, blocking, stopped, theme};
use crate::config::Language;
use crate::error::Failure;
use crate::station::auth::{Action, Session};
use crate::station::print::{self, BatchSummary, Control, PrintEvent, PrintStation};
use crate::store::{Production, Store};

const QUEUE_SHOWN: usize = 500;
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
    pub selected: Option<i64>,
    preview: Vec<image::Handle>,
    pub batch: Batch,
    control: Control,
    /// Cards that did not come out (the production), with why: the operator's retry list.
    pub failures: Vec<(i64, Failure)>,
    pub error: Option<Failure>,
}

#[derive(Debug, Clone)]
pub enum Message {
    StationLoaded(Result<Arc<PrintStation>, Failure>),
    QueueLoaded(Result<Vec<Production>, Failure>),
    Select(i64),
    Previewed {
        id: i64,
        result: Result<Vec<(u32, u32, Vec<u8>)>, Failure>,
    },
    Start,
    Pause,
    Resume,
    Cancel,
    Event(PrintEvent),
    BatchFailed(Failure),
}

fn load_queue(db: Db) -> Task<Message> {
    Task::perform(
        db.run(|store| store.productions_to_produce(QUEUE_SHOWN)),
        Message::QueueLoaded,
    )
}

impl PrintScreen {
    pub fn new(
        db: Db,
        database: PathBuf,
        session: Session,
        profile: crate::config::Profile,
    ) -> (Self, Task<Message>) {
        let readers = profile.readers.clone();
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
            selected: None,
            preview: Vec::new(),
            batch: Batch::Idle,
            control: Control::default(),
            failures: Vec::new(),
            error: None,
        };
        (screen, Task::batch([load_station, load_queue(db)]))
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
                if self.selected.is_none()
                    && let Some(first) = self.queue.first()
                {
                    return self.update(Message::Select(first.id));
                }
            }
            Message::QueueLoaded(Err(err)) => self.error = Some(err),
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
            Message::Start => return self.start(),
            Message::Pause => self.control.pause(),
            Message::Resume => self.control.resume(),
            Message::Cancel => self.control.cancel(),
            Message::Event(event) => return self.apply(event),
            Message::BatchFailed(err) => {
                self.error = Some(err);
                self.batch = Batch::Idle;
                return load_queue(self.db.clone());
            }
        }
        Task::none()
    }

    /// How many sides of the selected card are drawn.
    pub fn preview_sides(&self) -> usize {
        self.preview.len()
    }

    fn start(&mut self) -> Task<Message> {
        if !self.session.may(Action::PrintCards) || matches!(self.batch, Batch::Running { .. }) {
            return Task::none();
        }
        let Some(Ok(station)) = self.station.clone() else {
            return Task::none();
        };
        self.control = Control::default();
        self.failures.clear();
        self.error = None;
        self.batch = Batch::Running {
            total: self.queue.len(),
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
                    usize::MAX,
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
            PrintEvent::Started { total: all, .. } => *total = all,
            PrintEvent::Card { name, .. } => *current = Some(name),
            PrintEvent::Printed { .. } => *done += 1,
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
                return load_queue(self.db.clone());
            }
        }
        Task::none()
    }

    pub fn view(&self, language: Language) -> Element<'_, Message> {
        let mut list = Column::new().spacing(2);
        for production in &self.queue {
            let chosen = self.selected == Some(production.id);
            list = list.push(
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
                .on_press(Message::Select(production.id)),
            );
        }
        let queue = column![
            text(format!(
                "{} ({})",
                t(language, Text::PrintQueue),
                self.queue.len()
            ))
            .size(theme::HEADING_SIZE)
            .font(theme::BOLD),
        ]
        .push(if self.queue.is_empty() {
            Element::from(text(t(language, Text::QueueEmpty)).color(theme::MUTED))
        } else {
            scrollable(list).height(Length::Fill).into()
        })
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
                let mut page = column![
                    button(text(t(language, Text::StartBatch)).size(theme::HEADING_SIZE))
                        .padding([10, 22])
                        .on_press_maybe(
                            (may_print && !self.queue.is_empty()).then_some(Message::Start)
                        )
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
                if !self.session.may(Action::PrintCards) {
                    page = page.push(text(t(language, Text::MayNotPrint)).color(theme::MUTED));
                }
                page.into()
            }
        }
    }
}
