//! The print queue as plain logic: productions still to be produced, oldest first; for each
//! card the chip is encoded first (DESFire and/or ELS, per profile) in the printer's encoder,
//! read back, and only then printed; the production then records `printedOn`,
//! `numberOfTries`, `chipserialNumber` (of the chip read back, never of the data meant for
//! it) and `userName`. A failed encode sends the card to the reject tray unprinted and
//! records a try; the card is tried again with a fresh blank, up to [`MAX_TRIES`] times per
//! batch. A batch reports progress as events and can be paused, resumed and cancelled from
//! another thread through its [`Control`].

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use time::{Date, OffsetDateTime};
use x509_cert::Certificate;

use crate::card::Transport;
use crate::card::els::CardKey;
use crate::card::feed::{CardFeed, Eject, FeedError};
use crate::config::{Chip, DesfireApp};
use crate::error::{Failure, Problem};
use crate::render::card::{CardRenderer, RenderError};
use crate::render::cups::{CupsPrinter, PrintError};
use crate::render::face::{CardFace, StoredPhoto};
use crate::render::layout::{Layout, SideName};
use crate::station::auth::{Action, Denied, Session};
use crate::station::desfire::{self, CardRecord, DesfireIssueError, IssueKeys};
use crate::station::issue::{
    self, CardholderRecordError, ElsSource, IssueError, Signer, chip_serial,
};
use crate::station::photo::Found;
use crate::store::{
    Card, Printed, Production, ProductionStatus, QueueFilter, Store, StoreError, ranges,
};

/// Blank cards one production may use in one batch before the batch moves on without it.
pub const MAX_TRIES: u32 = 3;

/// Where a card's PDF goes once its chip is encoded.
pub trait Printer {
    /// Prints the card (one page per side) and returns the job's id once it completed.
    fn print(&mut self, title: &str, pdf: &[u8]) -> Result<String, PrintError>;
}

impl Printer for CupsPrinter {
    fn print(&mut self, title: &str, pdf: &[u8]) -> Result<String, PrintError> {
        CupsPrinter::print(self, title, pdf).map(|job| job.request)
    }
}

/// The ELS the encoder writes: the local signer and the card key its write keys derive from.
pub struct ElsEncoding<'a> {
    pub signer: &'a Signer,
    pub card_key: &'a CardKey,
    pub trusted: &'a [Certificate],
    pub university: &'a str,
    pub edition: &'a str,
}

/// Everything a batch needs besides the store, the feed and the printer.
pub struct PrintSetup<'a> {
    pub layout: &'a Layout,
    pub renderer: &'a CardRenderer,
    pub desfire: Option<(&'a DesfireApp, &'a IssueKeys)>,
    pub els: Option<ElsEncoding<'a>>,
    /// Holder photos named `<person number or album number>.jpg|.png`.
    pub photos: Option<&'a Path>,
    /// Printed on the card (`{university}`) when there is no ELS university.
    pub university: &'a str,
    /// Each card gets a numbered hologram sticker, reserved from stock for the batch.
    pub holograms: bool,
    /// Who prints: the batch checks the role, and records the operator as `userName` and
    /// in the audit log.
    pub session: &'a Session,
}

/// What a print station loads once from its profile and keeps: the `[printer]` section, the
/// layout, the renderer with its fonts, and the keys of the chips it encodes.
pub struct PrintStation {
    pub printer: crate::config::Printer,
    pub layout: Layout,
    pub renderer: CardRenderer,
    desfire: Option<(DesfireApp, IssueKeys)>,
    els: Option<crate::station::desk::DeskSetup>,
    university: String,
}

/// The chip keys stay out of logs and error messages.
impl std::fmt::Debug for PrintStation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrintStation")
            .field("queue", &self.printer.queue)
            .finish_non_exhaustive()
    }
}

impl PrintStation {
    /// Loads everything the profile names; an error says what is wrong and what to do.
    pub fn from_profile(profile: &crate::config::Profile) -> Result<Self, Failure> {
        let printer = profile.printer.clone().ok_or_else(|| {
            Failure::new(
                "the profile has no [printer] section",
                "use the profile of a print station (see profiles/print-station.toml)",
            )
            .with_polish(
                "Profil nie ma sekcji [printer].",
                "Użyj profilu stanowiska druku (zob. profiles/print-station.toml).",
            )
        })?;
        let layout = Layout::load(&printer.layout)?;
        let renderer = CardRenderer::new()?;
        let desfire = match (&profile.desfire, printer.encode.contains(&Chip::Desfire)) {
            (Some(app), true) => Some((
                app.clone(),
                IssueKeys::for_profile(profile, &crate::config::data_dir())?,
            )),
            _ => None,
        };
        let els = if printer.encode.contains(&Chip::Els) {
            Some(crate::station::desk::DeskSetup::from_profile(
                profile,
                &crate::config::data_dir(),
            )?)
        } else {
            None
        };
        let university = profile
            .els
            .as_ref()
            .and_then(|els| els.university.clone())
            .unwrap_or_default();
        let mut printer = printer;
        printer.photos = crate::station::photo::folder(profile, &crate::config::data_dir())
            .map_err(|err| {
                Failure::new(
                    format!("the demo photos cannot be made: {err}"),
                    "check that the data directory is writable",
                )
                .with_polish(
                    "Nie można przygotować zdjęć demo.",
                    "Sprawdź, czy w katalogu danych można pisać.",
                )
            })?;
        Ok(Self {
            printer,
            layout,
            renderer,
            desfire,
            els,
            university,
        })
    }

    /// The batch set-up for `session`, borrowing what the station holds.
    pub fn setup<'a>(&'a self, session: &'a Session) -> PrintSetup<'a> {
        PrintSetup {
            layout: &self.layout,
            renderer: &self.renderer,
            desfire: self.desfire.as_ref().map(|(app, keys)| (app, keys)),
            els: self.els.as_ref().map(|els| ElsEncoding {
                signer: &els.signer,
                card_key: &els.card_key,
                trusted: &els.trusted,
                university: &els.university,
                edition: &els.edition,
            }),
            photos: self.printer.photos.as_deref(),
            university: &self.university,
            holograms: self.printer.holograms,
            session,
        }
    }

    /// The feed the profile's `[printer] feed` names: an Evolis printer told where to move
    /// each card, or a printer that positions cards itself while the station waits for
    /// them in the encoder reader. `wait`: how long a card may take to reach the encoder.
    pub fn feed(&self, readers: &crate::config::Readers, wait: Duration) -> Box<dyn CardFeed> {
        let reader = self.printer.encoder(readers);
        match (self.printer.feed, &self.printer.feed_address) {
            (crate::config::Feed::Evolis, Some(address)) => {
                Box::new(crate::card::printer_evolis::EvolisFeed::new(
                    address,
                    self.printer.feed_station(),
                    reader,
                    wait,
                ))
            }
            // The profile check refuses an Evolis feed without an address.
            _ => Box::new(crate::card::feed::PcscFeed::new(reader, wait)),
        }
    }

    /// The profile's CUPS queue.
    pub fn cups(&self) -> CupsPrinter {
        CupsPrinter::new(
            &self.printer.queue,
            &self.printer.media,
            Duration::from_secs(u64::from(self.printer.job_timeout_seconds)),
        )
    }

    /// What the queue's preview of a production shows: read from the store (quick; the
    /// drawing, [`Self::preview`], needs no store).
    pub fn preview_face(&self, store: &Store, production_id: i64) -> Result<CardFace, String> {
        let production = store
            .get_production(production_id)
            .map_err(|err| err.to_string())?;
        production_face(
            store,
            &production,
            &self.university,
            self.printer.photos.as_deref(),
        )
        .map(|found| found.face)
        .map_err(|err| err.to_string())
    }

    /// A face's printed sides as RGBA pixels `width` wide, for the queue's preview.
    pub fn preview(&self, face: &CardFace, width: u32) -> Result<Vec<(u32, u32, Vec<u8>)>, String> {
        printed_sides(&self.layout)
            .iter()
            .map(|side| {
                self.renderer
                    .rgba(&self.layout, face, *side, width)
                    .map_err(|err| err.to_string())
            })
            .collect()
    }
}

/// Pause, resume and cancel a running batch from another thread. Cheap to clone.
#[derive(Clone, Default)]
pub struct Control(Arc<(Mutex<ControlState>, Condvar)>);

#[derive(Default)]
struct ControlState {
    paused: bool,
    cancelled: bool,
}

impl Control {
    /// The batch stops before its next card (the card in progress is finished).
    pub fn pause(&self) {
        self.update(|state| state.paused = true);
    }

    pub fn resume(&self) {
        self.update(|state| state.paused = false);
    }

    /// The batch ends before its next card; a paused batch ends at once.
    pub fn cancel(&self) {
        self.update(|state| state.cancelled = true);
    }

    pub fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ControlState> {
        self.0
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut ControlState)) {
        change(&mut self.lock());
        self.0.1.notify_all();
    }

    /// Blocks while paused, reporting the pause; false when the batch must stop.
    fn proceed(&self, events: &mut dyn FnMut(PrintEvent)) -> bool {
        let mut state = self.lock();
        if state.paused && !state.cancelled {
            events(PrintEvent::Paused);
            while state.paused && !state.cancelled {
                state = self
                    .0
                    .1
                    .wait(state)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if !state.cancelled {
                events(PrintEvent::Resumed);
            }
        }
        !state.cancelled
    }
}

/// What a batch reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrintEvent {
    Started {
        batch: i64,
        total: usize,
        /// Hologram numbers reserved for the batch, as ranges.
        holograms: Vec<(i64, i64)>,
    },
    /// Card `index` (from 0) of the batch goes into the encoder.
    Card {
        index: usize,
        production: i64,
        name: String,
    },
    Printed {
        index: usize,
        production: i64,
        chip_serial: String,
        hologram: Option<i64>,
        job: String,
    },
    /// A blank card went to the reject tray (or its print failed); no card was produced.
    FailedTry {
        index: usize,
        production: i64,
        reason: Failure,
        retrying: bool,
    },
    /// The production cannot be printed as it stands (data, photo, layout); no card was used.
    Skipped {
        index: usize,
        production: i64,
        reason: Failure,
    },
    Paused,
    Resumed,
    Finished(BatchSummary),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSummary {
    pub batch: i64,
    pub printed: usize,
    /// Blank cards rejected or wasted by a failed print.
    pub failed_tries: usize,
    /// Productions left in the queue: skipped, or out of tries.
    pub left: Vec<i64>,
    pub cancelled: bool,
    pub holograms_returned: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the printer fed no card into the encoder: {0}")]
    Feed(FeedError),
    #[error(transparent)]
    Print(PrintError),
}

impl Problem for BatchError {
    fn next_step(&self) -> &'static str {
        match self {
            BatchError::Denied(denied) => denied.next_step(),
            BatchError::Store(err) => err.next_step(),
            BatchError::Feed(err) => err.next_step(),
            BatchError::Print(err) => err.next_step(),
        }
    }
}

/// Why one card of a production was not produced.
#[derive(Debug, thiserror::Error)]
pub enum CardFailure {
    #[error("DESFire encoding failed: {0}")]
    Desfire(#[from] DesfireIssueError),
    #[error("ELS encoding failed: {0}")]
    Els(#[from] IssueError),
    #[error("the card was encoded but not printed: {0}")]
    Print(#[from] PrintError),
}

impl Problem for CardFailure {
    fn next_step(&self) -> &'static str {
        match self {
            CardFailure::Desfire(err) => err.next_step(),
            CardFailure::Els(err) => err.next_step(),
            CardFailure::Print(err) => err.next_step(),
        }
    }
}

/// Why a production cannot be printed as it stands: no card is used for it.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Record(#[from] CardholderRecordError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("card {card} has no expiry date for the {}", match chip {
        Chip::Els => "ELS",
        Chip::Desfire => "DESFire record",
    })]
    NoExpiry { card: i64, chip: Chip },
    #[error("card number {0:?} is not a number the DESFire record can carry")]
    CardNumber(String),
    /// Cancelled or withdrawn (at another window, another station) since the batch started.
    #[error("production {production} is {status} now")]
    NoLongerQueued {
        production: i64,
        status: ProductionStatus,
    },
}

impl Problem for PrepareError {
    fn next_step(&self) -> &'static str {
        match self {
            PrepareError::Store(err) => err.next_step(),
            PrepareError::Record(err) => err.next_step(),
            PrepareError::Render(err) => err.next_step(),
            PrepareError::NoExpiry { .. } => {
                "give the card an expiry date (sync it from the server), then run the batch again"
            }
            PrepareError::CardNumber(_) => {
                "give the card a numeric card number (sync it from the server), then run the batch again"
            }
            PrepareError::NoLongerQueued { .. } => {
                "nothing to do: it was taken out of the queue and was not printed"
            }
        }
    }
}

/// One production ready to go: the printed PDF and what its chips get, all from the same
/// store rows, so the print and the chip cannot disagree.
pub struct Prepared {
    pub production: Production,
    pub card: Card,
    pub title: String,
    pub name: String,
    pub pdf: Vec<u8>,
    pub desfire: Option<CardRecord>,
    pub els: Option<crate::crypto::els_sig::ElsData>,
}

/// A production's printed face, the one the preview shows, the print queue prints and
/// `render --production` writes: its card, its cardholder (the card's when the production
/// names none), its name on card. Also returns the card and the holder id a DESFire record
/// names.
pub fn production_face(
    store: &Store,
    production: &Production,
    university: &str,
    photos: Option<&Path>,
) -> Result<ProductionFace, PrepareError> {
    let card = store.get_card(production.card_id)?;
    let cardholder_id = production
        .cardholder_id
        .unwrap_or(card.fields.cardholder_id);
    let (face, holder_id) = card_face(
        store,
        cardholder_id,
        Some(&card),
        production.name_on_card.as_deref(),
        university,
        photos,
    )?;
    Ok(ProductionFace {
        face,
        card,
        cardholder_id,
        holder_id,
    })
}

/// What [`production_face`] found.
pub struct ProductionFace {
    pub face: CardFace,
    pub card: Card,
    pub cardholder_id: i64,
    /// The holder id a DESFire record names.
    pub holder_id: String,
}

/// A holder's printed face: names, numbers and photo from the store, with `card`'s number,
/// barcode and expiry. Also returns the holder id a DESFire record names.
pub fn card_face(
    store: &Store,
    cardholder_id: i64,
    card: Option<&Card>,
    name_on_card: Option<&str>,
    university: &str,
    photos: Option<&Path>,
) -> Result<(CardFace, String), PrepareError> {
    let cardholder = store.get_cardholder(cardholder_id)?;
    let person = cardholder
        .fields
        .person_id
        .map(|id| store.get_person(id))
        .transpose()?;
    let card_number = card
        .and_then(|card| card.fields.card_number.clone())
        .unwrap_or_default();
    let mut face = CardFace {
        barcode_value: card
            .and_then(|card| card.fields.barcode.clone())
            .unwrap_or(card_number.clone()),
        card_number,
        name_on_card: name_on_card
            .map(str::to_owned)
            .or(cardholder.fields.name_on_card)
            .unwrap_or_default(),
        university: university.to_owned(),
        issued: Some(OffsetDateTime::now_utc().date()),
        expires: card.and_then(|card| card.fields.expires),
        ..CardFace::default()
    };
    let mut holder_id = format!("CH-{cardholder_id}");
    if let Some(person) = person {
        match crate::station::photo::of_person(store, photos, &person) {
            Some(Found::Stored(image)) => face.stored_photo = Some(StoredPhoto(image)),
            Some(Found::File(path)) => face.photo = Some(path),
            None => {}
        }
        let person = person.fields;
        face.first_name = std::iter::once(person.first_name.as_str())
            .chain(person.middle_name.as_deref())
            .collect::<Vec<_>>()
            .join(" ");
        face.last_name = person.last_name;
        face.album_number = person.album_number.clone().unwrap_or_default();
        face.pesel = person.pesel.unwrap_or_default();
        if let Some(number) = person.person_number {
            holder_id = number;
        }
    }
    Ok((face, holder_id))
}

/// The sides a layout prints: the back only when it has elements.
pub fn printed_sides(layout: &Layout) -> &'static [SideName] {
    if layout.back.elements.is_empty() {
        &[SideName::Front]
    } else {
        &[SideName::Front, SideName::Back]
    }
}

/// Loads a production's card and holder and renders its PDF (front, and back when the
/// layout's back has elements). Refuses what the chips could not carry.
pub fn prepare(
    store: &Store,
    production: Production,
    setup: &PrintSetup<'_>,
) -> Result<Prepared, PrepareError> {
    let university = setup
        .els
        .as_ref()
        .map_or(setup.university, |els| els.university);
    let ProductionFace {
        face,
        card,
        cardholder_id,
        holder_id,
    } = production_face(store, &production, university, setup.photos)?;
    let name = format!("{} {}", face.first_name, face.last_name)
        .trim()
        .to_owned();
    let pdf = setup
        .renderer
        .pdf_pages(setup.layout, &face, printed_sides(setup.layout))?;
    let expiry = |chip| {
        face.expires.ok_or(PrepareError::NoExpiry {
            card: card.id,
            chip,
        })
    };
    let desfire = match setup.desfire {
        Some(_) => Some(CardRecord {
            card_number: face
                .card_number
                .parse()
                .map_err(|_| PrepareError::CardNumber(face.card_number.clone()))?,
            barcode: face.barcode_value.clone(),
            holder_id,
            expires: expiry(Chip::Desfire)?,
        }),
        None => None,
    };
    let els = match &setup.els {
        Some(els) => Some(issue::els_data_for(
            store,
            cardholder_id,
            els.university,
            els.edition,
            expiry(Chip::Els)?,
        )?),
        None => None,
    };
    Ok(Prepared {
        title: format!("production-{}", production.id),
        production,
        card,
        name,
        pdf,
        desfire,
        els,
    })
}

/// The chips written and read back.
struct Encoded {
    chip_serial: String,
    contact_uid: Option<String>,
    contactless_uid: Option<String>,
}

fn encode(
    card: &mut Box<dyn Transport>,
    job: &Prepared,
    setup: &PrintSetup<'_>,
    today: Date,
) -> Result<Encoded, CardFailure> {
    let mut encoded = Encoded {
        chip_serial: String::new(),
        contact_uid: None,
        contactless_uid: None,
    };
    if let (Some((app, keys)), Some(record)) = (setup.desfire, &job.desfire) {
        let report = desfire::issue(&mut *card, app, keys, record)?;
        encoded.chip_serial = chip_serial(&report.uid);
        encoded.contactless_uid = Some(chip_serial(&report.uid));
    }
    if let (Some(els), Some(data)) = (&setup.els, &job.els) {
        let source = ElsSource::Sign {
            data: data.clone(),
            signer: els.signer,
        };
        let issued = issue::issue(&mut **card, source, els.card_key, els.trusted, today)?;
        encoded.contact_uid = Some(chip_serial(&issued.uid));
        // The ELS binds its data to this serial: it is the card's chip serial number.
        encoded.chip_serial = issued.verified.data.chip_serial;
    }
    Ok(encoded)
}

/// What an operator does by hand to a production, with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductionChange {
    /// A printed card back into the queue.
    Reprint,
    /// An order not printed yet dropped: it never prints.
    Cancel,
    /// A printed card taken back.
    Withdraw,
}

/// Applies `change` to production `id` for `session` (printers and admins), its outbox and
/// audit rows written with it.
pub fn change_production(
    session: &Session,
    store: &mut Store,
    change: ProductionChange,
    id: i64,
    reason: &str,
) -> Result<(), BatchError> {
    session.require(Action::PrintCards)?;
    let operator = &session.operator;
    match change {
        ProductionChange::Reprint => store.request_reprint(id, operator, reason)?,
        ProductionChange::Cancel => store.cancel_production(id, operator, reason)?,
        ProductionChange::Withdraw => store.withdraw_production(id, operator, reason)?,
    }
    Ok(())
}

/// Which cards a batch prints: the queued productions `filter` lets through (a selection,
/// a card type, a name), oldest first, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    pub filter: QueueFilter,
    pub limit: usize,
}

impl BatchPlan {
    /// The whole queue, oldest first, up to `limit` cards.
    pub fn queue(limit: usize) -> Self {
        Self {
            filter: QueueFilter::default(),
            limit,
        }
    }

    /// The productions `ids` that are still in the queue.
    pub fn chosen(ids: Vec<i64>) -> Self {
        Self {
            filter: QueueFilter {
                ids: Some(ids),
                ..QueueFilter::default()
            },
            limit: usize::MAX,
        }
    }
}

/// Runs the productions `plan` chooses, each encoded, then printed, then recorded.
pub fn run_batch(
    store: &mut Store,
    feed: &mut dyn CardFeed,
    printer: &mut dyn Printer,
    setup: &PrintSetup<'_>,
    plan: &BatchPlan,
    control: &Control,
    events: &mut dyn FnMut(PrintEvent),
) -> Result<BatchSummary, BatchError> {
    setup.session.require(Action::PrintCards)?;
    let operator = setup.session.operator.as_str();
    let queue = store.queue_matching(&plan.filter, plan.limit)?;
    let holograms = if setup.holograms { queue.len() } else { 0 };
    let batch = store.start_batch(operator, holograms)?;
    events(PrintEvent::Started {
        batch: batch.id,
        total: queue.len(),
        holograms: ranges(&batch.holograms),
    });
    let mut holograms = batch.holograms.into_iter().peekable();
    let mut summary = BatchSummary {
        batch: batch.id,
        ..BatchSummary::default()
    };
    let outcome = (|| -> Result<(), BatchError> {
        for (index, production) in queue.into_iter().enumerate() {
            if !control.proceed(events) {
                summary.cancelled = true;
                return Ok(());
            }
            let production_id = production.id;
            // Cancelled or withdrawn (at another window, another station) since the batch
            // started: it never prints.
            let production = store.get_production(production_id)?;
            if production.status != ProductionStatus::ToBeProduced {
                events(PrintEvent::Skipped {
                    index,
                    production: production_id,
                    reason: Failure::from(PrepareError::NoLongerQueued {
                        production: production_id,
                        status: production.status,
                    }),
                });
                continue;
            }
            let job = match prepare(store, production, setup) {
                Ok(job) => job,
                Err(reason) => {
                    events(PrintEvent::Skipped {
                        index,
                        production: production_id,
                        reason: Failure::from(reason),
                    });
                    summary.left.push(production_id);
                    continue;
                }
            };
            events(PrintEvent::Card {
                index,
                production: production_id,
                name: job.name.clone(),
            });
            let mut tries = 0;
            loop {
                tries += 1;
                let hologram = holograms.peek().copied();
                match produce(store, feed, printer, setup, &job, batch.id, hologram) {
                    Ok((printed, job_id)) => {
                        if hologram.is_some() {
                            holograms.next();
                        }
                        summary.printed += 1;
                        events(PrintEvent::Printed {
                            index,
                            production: production_id,
                            chip_serial: printed.chip_serial_number.unwrap_or_default(),
                            hologram,
                            job: job_id,
                        });
                        break;
                    }
                    Err(CardOutcome::Batch(err)) => return Err(err),
                    Err(CardOutcome::Card(failure)) => {
                        summary.failed_tries += 1;
                        let reason = Failure::from(failure);
                        store.record_failed_try(production_id, operator, &reason.cause)?;
                        let retrying = tries < MAX_TRIES && !control.is_cancelled();
                        events(PrintEvent::FailedTry {
                            index,
                            production: production_id,
                            reason,
                            retrying,
                        });
                        if !retrying {
                            summary.left.push(production_id);
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    })();
    summary.holograms_returned = store.finish_batch(batch.id, operator)?;
    outcome?;
    events(PrintEvent::Finished(summary.clone()));
    Ok(summary)
}

/// Why one card did not come out, and whether the batch may go on.
enum CardOutcome {
    /// This card failed; the next blank may succeed.
    Card(CardFailure),
    /// The batch cannot go on.
    Batch(BatchError),
}

/// One blank card: into the encoder, encoded and read back, out to the printer (or the
/// reject tray), printed, recorded.
fn produce(
    store: &mut Store,
    feed: &mut dyn CardFeed,
    printer: &mut dyn Printer,
    setup: &PrintSetup<'_>,
    job: &Prepared,
    batch: i64,
    hologram: Option<i64>,
) -> Result<(Production, String), CardOutcome> {
    let mut card = feed
        .next_card()
        .map_err(|err| CardOutcome::Batch(BatchError::Feed(err)))?;
    let encoded = encode(&mut card, job, setup, OffsetDateTime::now_utc().date());
    drop(card);
    let encoded = match encoded {
        Ok(encoded) => encoded,
        Err(failure) => {
            feed.eject(Eject::Reject)
                .map_err(|err| CardOutcome::Batch(BatchError::Feed(err)))?;
            return Err(CardOutcome::Card(failure));
        }
    };
    feed.eject(Eject::ToPrinter)
        .map_err(|err| CardOutcome::Batch(BatchError::Feed(err)))?;
    let printed_job = printer
        .print(&job.title, &job.pdf)
        .map_err(|err| match err {
            // Printed or not, nobody knows: no try is charged, and the batch stops for the
            // operator to look before a second card of the same production can come out.
            PrintError::Unknown { .. } => CardOutcome::Batch(BatchError::Print(err)),
            err => CardOutcome::Card(err.into()),
        })?;
    let printed = Printed {
        production_id: job.production.id,
        chip_serial: encoded.chip_serial,
        contact_uid: encoded.contact_uid,
        contactless_uid: encoded.contactless_uid,
        user_name: setup.session.operator.clone(),
        batch_id: Some(batch),
        hologram,
        job: printed_job.clone(),
    };
    let production = store
        .record_printed(&printed)
        .map_err(|err| CardOutcome::Batch(err.into()))?;
    Ok((production, printed_job))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;
    use crate::config::Profile;
    use crate::remote::cardexchange as remote;
    use crate::sim::{DesfireCard, DesfireCardState, Faults, SimTransport};

    /// Blank DESFire cards in-process; card `torn` (from 1) leaves after 3 APDUs.
    struct SimFeed {
        fed: usize,
        torn: usize,
        ejected: Vec<Eject>,
    }

    impl SimFeed {
        /// A feed of blank cards; card `torn` (from 1; 0: none) is torn mid-encode.
        fn tearing(torn: usize) -> Self {
            Self {
                fed: 0,
                torn,
                ejected: Vec::new(),
            }
        }
    }

    impl CardFeed for SimFeed {
        fn next_card(&mut self) -> Result<Box<dyn Transport>, FeedError> {
            self.fed += 1;
            let uid = [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, self.fed as u8];
            let card = Arc::new(Mutex::new(DesfireCard::new(DesfireCardState::blank(&uid))));
            let faults = Faults {
                tear_after: (self.fed == self.torn).then_some(3),
                ..Faults::default()
            };
            Ok(Box::new(SimTransport::insert(card, faults)))
        }

        fn eject(&mut self, to: Eject) -> Result<(), FeedError> {
            self.ejected.push(to);
            Ok(())
        }
    }

    /// Refuses its `fail`-th job (from 1), completes the others.
    struct FakePrinter {
        jobs: usize,
        fail: usize,
    }

    impl Printer for FakePrinter {
        fn print(&mut self, title: &str, pdf: &[u8]) -> Result<String, PrintError> {
            assert!(pdf.starts_with(b"%PDF"));
            self.jobs += 1;
            if self.jobs == self.fail {
                return Err(PrintError::Failed {
                    request: format!("fake-{}", self.jobs),
                    state: "aborted".into(),
                    message: "ribbon out".into(),
                });
            }
            Ok(format!("fake-{}-{title}", self.jobs))
        }
    }

    fn store_with_queue(count: usize) -> Store {
        let mut store = Store::open_in_memory().unwrap();
        fill_queue(&mut store, count);
        store
    }

    /// `count` productions from the server, each with its holder and card.
    fn fill_queue(store: &mut Store, count: usize) {
        let from = |value| serde_json::from_value::<remote::Card>(value).unwrap();
        for n in 0..count {
            store
                .upsert_remote_cardholders(&[serde_json::from_value(
                    json!({"id": format!("h{n}")}),
                )
                .unwrap()])
                .unwrap();
            store
                .upsert_remote_cards(&[from(json!({"id": format!("c{n}"),
                    "cardholder": format!("h{n}"), "cardNumber": format!("{}", 100 + n),
                    "status": "in_production", "endDate": "2099-01-31"}))])
                .unwrap();
            store
                .upsert_remote_productions(&[serde_json::from_value(
                    json!({"id": format!("r{n}"), "card": format!("c{n}")}),
                )
                .unwrap()])
                .unwrap();
        }
    }

    const LAYOUT: &str = r##"name = "t"
[front]
background = { colour = "#ffffff" }
[[front.elements]]
kind = "text"
frame = { x = 4, y = 4, width = 60, height = 6 }
text = "{card_number}"
size_pt = 10
[back]
"##;

    #[test]
    fn failures_cost_a_try_each_and_cancel_stops_before_the_next_card() {
        let mut store = store_with_queue(4);
        let layout = Layout::parse(LAYOUT, Path::new(".")).unwrap();
        let renderer = CardRenderer::new().unwrap();
        let app = Profile::demo().desfire.unwrap();
        let keys = crate::station::desfire::tests::master_keys(&app, 7);
        store.add_holograms(1, 10, "t").unwrap();
        let session = printer_session();
        let setup = PrintSetup {
            desfire: Some((&app, &keys)),
            holograms: true,
            ..plain_setup(&layout, &renderer, &session)
        };
        // Card 2 is torn mid-encode, print job 3 fails: production 1 prints, production 2
        // takes two blanks, production 3's first card is encoded but not printed.
        let mut feed = SimFeed::tearing(2);
        let mut printer = FakePrinter { jobs: 0, fail: 3 };
        let control = Control::default();
        let mut events = Vec::new();
        let summary = run_batch(
            &mut store,
            &mut feed,
            &mut printer,
            &setup,
            &BatchPlan::queue(10),
            &control,
            &mut |event| {
                if matches!(event, PrintEvent::Printed { production: 3, .. }) {
                    control.cancel();
                }
                events.push(event);
            },
        )
        .unwrap();
        assert_eq!(summary.printed, 3);
        assert_eq!(summary.failed_tries, 2);
        assert!(summary.cancelled);
        assert_eq!(summary.holograms_returned, 1, "4 reserved, 3 used");
        assert_eq!(feed.ejected[1], Eject::Reject);
        assert_eq!(feed.fed, 5);

        let tries: Vec<i64> = (1..=4)
            .map(|id| store.get_production(id).unwrap().number_of_tries)
            .collect();
        assert_eq!(tries, [1, 2, 2, 0]);
        let produced = store.get_production(2).unwrap();
        assert_eq!(produced.status, ProductionStatus::Produced);
        assert_eq!(
            produced.chip_serial_number.as_deref(),
            Some("04112233445503")
        );
        assert_eq!(store.hologram_of(3).unwrap(), Some(3));
        assert_eq!(
            store.get_production(4).unwrap().status,
            ProductionStatus::ToBeProduced
        );
        assert_eq!(store.hologram_stock().unwrap().free, vec![(4, 10)]);
    }

    /// A set-up that prints the bare layout: no chips, photos or holograms.
    fn plain_setup<'a>(
        layout: &'a Layout,
        renderer: &'a CardRenderer,
        session: &'a Session,
    ) -> PrintSetup<'a> {
        PrintSetup {
            layout,
            renderer,
            desfire: None,
            els: None,
            photos: None,
            university: "U",
            holograms: false,
            session,
        }
    }

    /// Runs the whole queue with nobody pausing, and returns the feed to look at.
    fn run_plainly(
        store: &mut Store,
        setup: &PrintSetup<'_>,
        printer: &mut dyn Printer,
    ) -> (Result<BatchSummary, BatchError>, SimFeed) {
        let mut feed = SimFeed::tearing(0);
        let outcome = run_batch(
            store,
            &mut feed,
            printer,
            setup,
            &BatchPlan::queue(10),
            &Control::default(),
            &mut |_| {},
        );
        (outcome, feed)
    }

    fn printer_session() -> Session {
        Session {
            operator: "ewa".into(),
            role: crate::store::OperatorRole::Printer,
            station: crate::config::Role::Print,
        }
    }

    #[test]
    fn only_a_print_station_prints_and_only_for_a_printer_or_admin() {
        let mut store = store_with_queue(1);
        let layout = Layout::parse(LAYOUT, Path::new(".")).unwrap();
        let renderer = CardRenderer::new().unwrap();
        for session in [
            Session {
                role: crate::store::OperatorRole::Operator,
                ..printer_session()
            },
            Session {
                station: crate::config::Role::Kiosk,
                ..printer_session()
            },
        ] {
            let setup = plain_setup(&layout, &renderer, &session);
            let (outcome, feed) = run_plainly(&mut store, &setup, &mut UnknownOutcomePrinter);
            let err = outcome.unwrap_err();
            assert!(matches!(err, BatchError::Denied(_)), "{err}");
            assert_eq!(feed.fed, 0, "no card was taken");
        }
    }

    /// Sends every job to a CUPS that then cannot say what became of it.
    struct UnknownOutcomePrinter;

    impl Printer for UnknownOutcomePrinter {
        fn print(&mut self, _title: &str, _pdf: &[u8]) -> Result<String, PrintError> {
            Err(PrintError::Unknown {
                request: "fake-1".into(),
                cause: "ipptool: Unable to connect to localhost".into(),
                cancelled: false,
            })
        }
    }

    #[test]
    fn the_stored_photo_is_printed_before_the_folders_file() {
        let mut store = Store::open_in_memory().unwrap();
        let (person, holder) = store
            .create_person_with_cardholder(&crate::store::PersonFields {
                person_number: Some("P-1".into()),
                first_name: "Anna".into(),
                middle_name: None,
                last_name: "Kowalska".into(),
                birth_date: time::macros::date!(2001 - 02 - 03),
                phone_number: None,
                mobile_number: None,
                album_number: None,
                pesel: None,
            })
            .unwrap();
        let folder = tempfile::tempdir().unwrap();
        let white = image::RgbImage::from_pixel(300, 382, image::Rgb([255, 255, 255]));
        white.save(folder.path().join("P-1.png")).unwrap();
        let (face, _) = card_face(&store, holder, None, None, "U", Some(folder.path())).unwrap();
        assert_eq!(face.photo, Some(folder.path().join("P-1.png")));

        let mut black = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut black)
            .encode_image(&image::RgbImage::new(300, 382))
            .unwrap();
        store.set_person_photo(person, &black, "anna").unwrap();
        let (face, _) = card_face(&store, holder, None, None, "U", Some(folder.path())).unwrap();
        assert_eq!(face.stored_photo, Some(StoredPhoto(black)));
        assert_eq!(face.photo, None);

        // Drawn in the layout's photo frame (x 4..26 mm, y 11..39 mm of 85.6 × 53.98).
        let layout = Layout::parse(
            "name = \"t\"\n[front]\nbackground = { colour = \"#ffffff\" }\n\
             [[front.elements]]\nkind = \"photo\"\nframe = { x = 4, y = 11, width = 22, height = 28 }\n[back]\n",
            Path::new("."),
        )
        .unwrap();
        let renderer = CardRenderer::new().unwrap();
        let (width, _, rgba) = renderer.rgba(&layout, &face, SideName::Front, 856).unwrap();
        let pixel = |x: u32, y: u32| &rgba[((y * width + x) * 4) as usize..][..3];
        assert_eq!(pixel(150, 250), [0, 0, 0], "the stored photo, black");
        assert_eq!(pixel(600, 250), [255, 255, 255], "the card beside it");
    }

    #[test]
    fn a_job_whose_outcome_is_unknown_stops_the_batch_without_charging_a_try() {
        let mut store = store_with_queue(2);
        let layout = Layout::parse(LAYOUT, Path::new(".")).unwrap();
        let renderer = CardRenderer::new().unwrap();
        let app = Profile::demo().desfire.unwrap();
        let keys = crate::station::desfire::tests::master_keys(&app, 7);
        let session = printer_session();
        let setup = PrintSetup {
            desfire: Some((&app, &keys)),
            ..plain_setup(&layout, &renderer, &session)
        };
        let (outcome, feed) = run_plainly(&mut store, &setup, &mut UnknownOutcomePrinter);
        let err = outcome.unwrap_err();
        assert!(
            matches!(err, BatchError::Print(PrintError::Unknown { .. })),
            "{err}"
        );
        assert!(err.next_step().contains("output tray"));
        assert_eq!(feed.fed, 1, "no second card after an unknown outcome");
        let first = store.get_production(1).unwrap();
        assert_eq!(first.number_of_tries, 0);
        assert_eq!(first.status, ProductionStatus::ToBeProduced);
    }

    #[test]
    fn a_paused_batch_waits_and_a_cancel_ends_it() {
        let mut store = store_with_queue(2);
        let layout = Layout::parse(LAYOUT, Path::new(".")).unwrap();
        let renderer = CardRenderer::new().unwrap();
        let session = printer_session();
        let setup = plain_setup(&layout, &renderer, &session);
        let mut feed = SimFeed::tearing(0);
        let mut printer = FakePrinter { jobs: 0, fail: 0 };
        let control = Control::default();
        control.pause();
        let remote = control.clone();
        let waiter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            remote.cancel();
        });
        let mut events = Vec::new();
        let summary = run_batch(
            &mut store,
            &mut feed,
            &mut printer,
            &setup,
            &BatchPlan::queue(10),
            &control,
            &mut |event| events.push(event),
        )
        .unwrap();
        waiter.join().unwrap();
        assert!(summary.cancelled);
        assert_eq!(summary.printed, 0);
        assert!(events.contains(&PrintEvent::Paused));
        assert_eq!(feed.fed, 0);
    }

    #[test]
    fn a_batch_prints_only_the_chosen_cards_and_never_one_cancelled_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("print.sqlite");
        let mut store = Store::open(&path).unwrap();
        fill_queue(&mut store, 4);
        store.cancel_production(2, "ewa", "ordered twice").unwrap();
        let layout = Layout::parse(LAYOUT, Path::new(".")).unwrap();
        let renderer = CardRenderer::new().unwrap();
        let session = printer_session();
        let setup = plain_setup(&layout, &renderer, &session);
        let mut feed = SimFeed::tearing(0);
        let mut printer = FakePrinter { jobs: 0, fail: 0 };
        let mut events = Vec::new();
        // Chosen: 1, 2 (cancelled before), 3 (cancelled at another window while 1 prints).
        let summary = run_batch(
            &mut store,
            &mut feed,
            &mut printer,
            &setup,
            &BatchPlan::chosen(vec![1, 2, 3]),
            &Control::default(),
            &mut |event| {
                if matches!(event, PrintEvent::Printed { production: 1, .. }) {
                    let mut other = Store::open(&path).unwrap();
                    other.cancel_production(3, "ala", "holder left").unwrap();
                }
                events.push(event);
            },
        )
        .unwrap();
        assert_eq!(summary.printed, 1);
        assert_eq!(printer.jobs, 1);
        assert!(matches!(events[0], PrintEvent::Started { total: 2, .. }));
        assert!(events.iter().any(|event| matches!(event,
            PrintEvent::Skipped { production: 3, reason, .. } if reason.cause.contains("cancelled"))));
        let status = |id| store.get_production(id).unwrap().status;
        assert_eq!(status(1), ProductionStatus::Produced);
        assert_eq!(status(3), ProductionStatus::Cancelled);
        assert_eq!(status(4), ProductionStatus::ToBeProduced, "not chosen");
    }
}
