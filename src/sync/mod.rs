//! The replication engine: push the outbox, then pull every resource.
//!
//! Push walks the outbox in order (so one object's changes keep their order). A create
//! carries its operation id in `metadata`; one that may have reached the server before (a
//! lost answer, a crash) is looked up by that id before it is sent again. An outbox row is
//! retired only in the transaction that records the remote id. A change the server refuses
//! stays queued with its error and holds back that object's later changes.
//!
//! Every way a create can take effect without the station knowing, and what closes it:
//! - The answer is lost (a 200 cut short, a timeout, a 503 from a proxy after the API
//!   handled it, even a 429): every later try in the same run looks the operation id up
//!   before sending ([`Client::create_once`]).
//! - The process dies between sending and recording the answer: the try is counted and
//!   committed (with a sync to disk, so a power cut does not forget it) before the request
//!   leaves ([`Store::begin_push_attempt`], read fresh, not from the batch), so the next run
//!   looks up first; recording the remote id and retiring the row are one transaction.
//! - The process dies while its create is still being handled, and restarts at once: a
//!   server that finishes what it started makes the object after the new run's lookup.
//!   A try that never ended is timed, and the next run looks only once the request
//!   timeout has passed since it was sent.
//! - The lookup misses: it reads every page of the search, not the first ten objects, so a
//!   search looser than the id cannot hide the object. (It relies on the server's `q`
//!   reaching `metadata`, as the reference server's does.)
//! - Two pushes of one store at once (a `sync --once` beside a window's background sync, a
//!   killed wrapper's child still running): each sends creates the other has not recorded.
//!   A push holds the store's push lock ([`Store::try_lock_push`]); the kernel drops it
//!   with a killed process.
//! - A child whose parent's create was refused or is still queued: sent without the
//!   reference it would be made an orphan (a cardholder without its person), so it waits.
//! - A pull that meets an object carrying a queued create's operation id records the create
//!   as done instead of inserting a second local row (`store::replica`).
//!
//! Pull lists each resource with pages fetched concurrently (bounded), handed through a
//! bounded channel to the one store writer, one transaction per page, so memory stays flat
//! (but for the listed ids, kept to find what the server no longer has). Conflicts follow the
//! rule in `store::replica`. After a complete pull of a resource, local rows the server did
//! not list are marked `deleted_remotely_at` (never deleted); a partial pull marks nothing,
//! and neither does a complete one that would mark most of what the station holds (see
//! [`mass_deletion`]).
//!
//! The revocation fast path (`revocation`) reads only the cards in a refusal status, every
//! few seconds, between the full pulls; [`background::run`] schedules both.
//!
//! Store work runs through [`blocking`], so SQLite never stalls the runtime's workers (the
//! page fetchers keep running while a page is written).

pub mod background;
pub mod crl;
pub mod id123;
pub mod revocation;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use thiserror::Error;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::error::Problem;
use crate::remote::cardexchange::{Client, MAX_PER_PAGE, Page, RemoteError};
use crate::store::{Operation, OutboxEntry, PushLock, Resource, Store, StoreError, Upserted};

pub const DEFAULT_CONCURRENCY: usize = 8;
/// Outbox rows read per store query during a push.
const PUSH_BATCH: usize = 100;

#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Pages fetched at once during a pull.
    pub concurrency: usize,
    pub per_page: u32,
    /// Given to cardholders created here that have none (the server requires one).
    pub cardholder_profile: Option<String>,
    /// Mark what a complete pull did not list even when that is most of the store
    /// (`--accept-deletions`, after checking the server really deleted it).
    pub accept_deletions: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            per_page: MAX_PER_PAGE,
            cardholder_profile: None,
            accept_deletions: false,
        }
    }
}

/// Set from another thread (the UI's Cancel button, Ctrl-C) to stop a sync between pages
/// and between outbox rows; what was done stays done.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn check(&self) -> Result<(), SyncError> {
        if self.is_cancelled() {
            Err(SyncError::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Push,
    Pull,
}

/// How far a sync is: `done` of `total` objects of `resource` in `phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProgressEvent {
    pub phase: Phase,
    pub resource: Resource,
    pub done: u64,
    pub total: u64,
}

/// What moved for one resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Moved {
    /// Local changes the server accepted.
    pub pushed: usize,
    /// Local changes the server refused (kept in the outbox with the reason).
    pub refused: usize,
    /// Local changes dropped because the server no longer has the object (logged).
    pub gone: usize,
    /// Server objects read.
    pub pulled: usize,
    /// What storing them did (inserted, updated, unchanged, skipped, conflicts; flat in JSON).
    #[serde(flatten)]
    pub stored: Upserted,
    /// Local rows marked as deleted on the server by this (complete) pull.
    pub deleted_remotely: usize,
}

impl Moved {
    /// Takes the pull counts of `pulled`, keeping this entry's push counts.
    fn absorb_pull(&mut self, pulled: Moved) {
        *self = Moved {
            pushed: self.pushed,
            refused: self.refused,
            gone: self.gone,
            ..pulled
        };
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// By resource name.
    pub resources: BTreeMap<&'static str, Moved>,
}

impl SyncReport {
    fn entry(&mut self, resource: Resource) -> &mut Moved {
        self.resources.entry(resource.as_str()).or_default()
    }
}

#[derive(Debug, Error)]
pub enum SyncError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the sync was cancelled; what was done is kept")]
    Cancelled,
    #[error(
        "another sync of this station's store has been pushing its changes for {} s; this one pushed nothing",
        PUSH_LOCK_WAIT.as_secs()
    )]
    PushBusy,
    #[error(
        "the server lists {listed} {resource}, but {unlisted} of the {known} this station holds \
         from it are not among them: nothing is marked as deleted (a server that lost its data, \
         or a key for an empty environment, would otherwise make the station refuse every card)"
    )]
    MassDeletion {
        resource: Resource,
        listed: usize,
        known: usize,
        unlisted: usize,
    },
}

impl Problem for SyncError {
    fn next_step(&self) -> &'static str {
        match self {
            SyncError::Remote(err) => err.next_step(),
            SyncError::Store(err) => err.next_step(),
            SyncError::Cancelled => "run the sync again to finish it",
            SyncError::PushBusy => {
                "let the other sync (a window, `sync --watch`) finish, then sync again; local changes stay queued"
            }
            SyncError::MassDeletion { .. } => {
                "check [server] url and the API key in the profile (live or test environment); if the server really deleted them, run `cardstation sync --once --accept-deletions`"
            }
        }
    }
}

/// Fewer rows than this are too few to tell a wiped server from ordinary deletions.
const MASS_DELETION_MIN_ROWS: usize = 10;

/// Whether a complete pull that did not list `unlisted` of the `known` rows the station
/// holds from the server looks like a server fault rather than deletions: more than half
/// gone at once, out of at least [`MASS_DELETION_MIN_ROWS`]. CardExchange cannot delete
/// cards at all and staff delete persons one by one, so half the register vanishing between
/// two pulls is a server that lost its data, a restore from an old backup, or a profile
/// pointing at another environment; marking it would make a kiosk refuse every card.
pub fn mass_deletion(known: usize, unlisted: usize) -> bool {
    known >= MASS_DELETION_MIN_ROWS && unlisted * 2 > known
}

/// Runs store work without stalling the async runtime: on a multi-threaded runtime the
/// worker hands its other tasks to the other workers for the duration
/// (`block_in_place`); a current-thread runtime has no other worker, so it runs inline.
pub fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// The URL segment of a resource.
fn path(resource: Resource) -> &'static str {
    match resource {
        Resource::AnonymousSets => "anonymous-sets",
        other => other.as_str(),
    }
}

/// Pushes the outbox, then pulls persons, addresses, cardholders, anonymous sets, cards and
/// productions, marking what the server no longer lists.
pub async fn sync(
    store: &mut Store,
    client: &Client,
    options: &SyncOptions,
    progress: &(dyn Fn(ProgressEvent) + Sync),
    cancel: &Cancel,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    push(store, client, options, progress, cancel, &mut report).await?;
    pull(store, client, options, progress, cancel, &mut report).await?;
    Ok(report)
}

/// Pushes the outbox alone, with no pull: what the window does right after a local change.
pub async fn push_outbox(
    store: &mut Store,
    client: &Client,
    options: &SyncOptions,
    progress: &(dyn Fn(ProgressEvent) + Sync),
    cancel: &Cancel,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    push(store, client, options, progress, cancel, &mut report).await?;
    Ok(report)
}

/// What became of one outbox row.
enum Pushed {
    /// The server has the change.
    Done,
    /// The server no longer has the object: the change was dropped (and logged).
    Gone,
    /// The server refused it (the reason); it stays queued.
    Refused(String),
}

/// An outbox row's payload as the server wants it, or why it must wait.
enum ServerFields {
    Ready(Value),
    /// It names a local object not on the server yet (its create refused or still queued).
    WaitsFor(&'static str),
}

/// The payload as the server wants it: `<field>LocalId` references become `<field>` remote
/// ids, and a cardholder without a profile gets the configured one. A reference to a parent
/// not on the server yet makes the row wait: sent without it, a cardholder whose person's
/// create was refused would be made without its person, for good.
fn server_fields(
    store: &Store,
    entry: &OutboxEntry,
    options: &SyncOptions,
) -> Result<ServerFields, SyncError> {
    let Value::Object(fields) = &entry.payload else {
        return Ok(ServerFields::Ready(entry.payload.clone()));
    };
    let mut out = serde_json::Map::new();
    for (name, value) in fields {
        let Some(field) = name.strip_suffix("LocalId") else {
            out.insert(name.clone(), value.clone());
            continue;
        };
        let (target, waits_for) = match field {
            "person" => (Resource::Persons, "its person is not on the server yet"),
            "cardholder" => (
                Resource::Cardholders,
                "its cardholder is not on the server yet",
            ),
            "card" => (Resource::Cards, "its card is not on the server yet"),
            _ => continue,
        };
        let remote_id = match value.as_i64() {
            Some(local_id) => match store.remote_id(target, local_id)? {
                Some(remote_id) => Value::String(remote_id),
                None => return Ok(ServerFields::WaitsFor(waits_for)),
            },
            None => Value::Null,
        };
        out.insert(field.to_owned(), remote_id);
    }
    if entry.resource == Resource::Cardholders
        && out.get("profile").is_none_or(Value::is_null)
        && let Some(profile) = &options.cardholder_profile
    {
        out.insert("profile".into(), profile.clone().into());
    }
    Ok(ServerFields::Ready(Value::Object(out)))
}

/// Sends one outbox row.
async fn push_entry(
    store: &mut Store,
    client: &Client,
    entry: &OutboxEntry,
    fields: Value,
    cancel: &Cancel,
) -> Result<Pushed, SyncError> {
    let resource = path(entry.resource);
    let remote_id = blocking(|| store.remote_id(entry.resource, entry.local_id))?;
    // A create whose fields follow in an update becomes that update once created.
    let mut entry = entry.clone();
    let outcome = match (entry.operation, remote_id) {
        (Operation::Create, linked) if entry.resource == Resource::Productions => {
            // The API cannot create a production: the server opens one when the card enters
            // in_production. The ordered production becomes that one, its fields an update.
            // A reprint's create names the card again: the server's production then is a new
            // one, the one the station had was dropped when the card was printed.
            let Some(card) = fields.get("card").and_then(Value::as_str) else {
                return Ok(Pushed::Refused("it names no card".into()));
            };
            let found: Result<Page<Value>, RemoteError> = client
                .list(resource, 1, 10, &[("card", card.to_owned())])
                .await;
            // Only a production that names this card: a server that ignored the filter
            // must not make another holder's production ours.
            let this_cards = |page: Page<Value>| {
                page.items.into_iter().find_map(|production| {
                    (production.get("card").and_then(Value::as_str) == Some(card))
                        .then(|| production.get("id")?.as_str().map(str::to_owned))
                        .flatten()
                })
            };
            match found.map(this_cards) {
                Ok(Some(remote_id)) if linked.as_deref() == Some(remote_id.as_str()) => {
                    return Ok(Pushed::Refused(
                        "the server has not opened the reprint's production yet (its card is not back in_production there)".into(),
                    ));
                }
                Ok(Some(remote_id)) => {
                    let update = crate::store::production_update(&fields);
                    entry = blocking(|| {
                        store.complete_create_then_update(&entry, &remote_id, &update)
                    })?;
                    client.update(resource, &remote_id, &update).await.map(drop)
                }
                Ok(None) => {
                    return Ok(Pushed::Refused(
                        "the server has no production for its card yet (it opens one when the card enters in_production)".into(),
                    ));
                }
                Err(err) => Err(err),
            }
        }
        (Operation::Create, Some(remote_id)) => {
            // Recorded by a pull that recognised the operation id: already done.
            blocking(|| store.complete_push(&entry, Some(&remote_id)))?;
            return Ok(Pushed::Done);
        }
        (Operation::Create, None) => {
            // Counted (and committed) before the request leaves: a crash after it makes the
            // next run look the operation id up before sending again.
            let earlier_try = blocking(|| store.begin_push_attempt(entry.id))?;
            if let Some(ago) = earlier_try {
                // A run killed while it waited for the answer: a server that finishes what
                // it started may still be making the object. Look once it has had as long
                // as this client gives any answer.
                settle(client.request_timeout().saturating_sub(ago), cancel).await?;
            }
            let maybe_sent_before = earlier_try.is_some();
            let (create_fields, then_update) = split_card_create(resource, fields);
            let created = client
                .create_once(
                    resource,
                    &create_fields,
                    &entry.operation_id,
                    maybe_sent_before,
                )
                .await;
            match created {
                Ok(object) => match (object.get("id").and_then(Value::as_str), then_update) {
                    (Some(remote_id), None) => {
                        blocking(|| store.complete_push(&entry, Some(remote_id)))?;
                        return Ok(Pushed::Done);
                    }
                    (Some(remote_id), Some(update)) => {
                        entry = blocking(|| {
                            store.complete_create_then_update(&entry, remote_id, &update)
                        })?;
                        client.update(resource, remote_id, &update).await.map(drop)
                    }
                    (None, _) => Err(RemoteError::BadResponse {
                        what: format!("creating {resource}"),
                        cause: "the answer has no id".into(),
                    }),
                },
                Err(err) => Err(err),
            }
        }
        (Operation::Update | Operation::Delete, None) => {
            return Ok(Pushed::Refused(
                "the object is not on the server yet (its create is still queued)".into(),
            ));
        }
        (Operation::Update, Some(remote_id)) => {
            client.update(resource, &remote_id, &fields).await.map(drop)
        }
        (Operation::Delete, Some(remote_id)) => client.delete(resource, &remote_id).await,
    };
    match outcome {
        Ok(()) => {
            blocking(|| store.complete_push(&entry, None))?;
            Ok(Pushed::Done)
        }
        Err(err) if err.is_not_found() && entry.operation != Operation::Create => {
            // The fields name the change; their values (names, PESEL) stay out of the log
            // above debug.
            tracing::warn!(
                resource, local_id = entry.local_id, fields = %field_names(&entry.payload),
                "the server no longer has this object; the local change is dropped"
            );
            // A photo is logged by its length only, even at debug.
            let mut payload = entry.payload.clone();
            if let Some(photo) = payload.get_mut("photo") {
                *photo = crate::store::photo_summary(photo);
            }
            tracing::debug!(resource, local_id = entry.local_id, %payload, "dropped change");
            blocking(|| store.complete_push(&entry, None))?;
            Ok(Pushed::Gone)
        }
        Err(err) if err.is_transient() || matches!(err, RemoteError::Unauthorized { .. }) => {
            blocking(|| store.record_push_error(entry.id, &err.to_string()))?;
            Err(err.into())
        }
        Err(err) => Ok(Pushed::Refused(err.to_string())),
    }
}

/// Waits `wait`, cancellably.
async fn settle(wait: Duration, cancel: &Cancel) -> Result<(), SyncError> {
    if wait.is_zero() {
        return Ok(());
    }
    tracing::info!(
        wait_ms = wait.as_millis() as u64,
        "a create sent by a run that stopped mid-way may still be in flight; waiting before looking it up"
    );
    let until = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < until {
        cancel.check()?;
        tokio::time::sleep_until(
            until.min(tokio::time::Instant::now() + Duration::from_millis(100)),
        )
        .await;
    }
    Ok(())
}

/// The field names of a change, for a log line that must not carry their values.
pub(crate) fn field_names(payload: &Value) -> String {
    match payload {
        Value::Object(fields) => fields
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    }
}

/// A card is created with its cardholder and metadata only (the documented arguments);
/// its status and other fields follow in an update.
fn split_card_create(resource: &str, fields: Value) -> (Value, Option<Value>) {
    let Value::Object(mut fields) = fields else {
        return (fields, None);
    };
    if resource != "cards" {
        return (Value::Object(fields), None);
    }
    let mut create = serde_json::Map::new();
    for name in ["cardholder", "metadata"] {
        if let Some(value) = fields.remove(name) {
            create.insert(name.into(), value);
        }
    }
    fields.retain(|_, value| !value.is_null());
    let update = (!fields.is_empty()).then_some(Value::Object(fields));
    (Value::Object(create), update)
}

/// How long a push waits for another one on the same store to finish.
const PUSH_LOCK_WAIT: Duration = Duration::from_secs(30);

/// The store's push lock, waiting (cancellably) while another process or window pushes.
async fn lock_push(store: &Store, cancel: &Cancel) -> Result<PushLock, SyncError> {
    let started = tokio::time::Instant::now();
    loop {
        if let Some(lock) = blocking(|| store.try_lock_push())? {
            return Ok(lock);
        }
        if started.elapsed() >= PUSH_LOCK_WAIT {
            return Err(SyncError::PushBusy);
        }
        cancel.check()?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn push(
    store: &mut Store,
    client: &Client,
    options: &SyncOptions,
    progress: &(dyn Fn(ProgressEvent) + Sync),
    cancel: &Cancel,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let _lock = lock_push(store, cancel).await?;
    let total = u64::try_from(blocking(|| store.outbox_len())?).unwrap_or(0);
    let mut held_back: HashSet<(Resource, i64)> = HashSet::new();
    let mut after_id = 0;
    let mut done = 0;
    loop {
        let batch = blocking(|| store.outbox_pending_after(after_id, PUSH_BATCH))?;
        if batch.is_empty() {
            return Ok(());
        }
        for entry in batch {
            cancel.check()?;
            after_id = entry.id;
            done += 1;
            let object = (entry.resource, entry.local_id);
            if held_back.contains(&object) {
                continue;
            }
            let pushed = match blocking(|| server_fields(store, &entry, options))? {
                ServerFields::Ready(fields) => {
                    push_entry(store, client, &entry, fields, cancel).await?
                }
                ServerFields::WaitsFor(reason) => Pushed::Refused(reason.into()),
            };
            match pushed {
                Pushed::Done => report.entry(entry.resource).pushed += 1,
                Pushed::Gone => report.entry(entry.resource).gone += 1,
                Pushed::Refused(reason) => {
                    tracing::warn!(
                        resource = %entry.resource, local_id = entry.local_id,
                        "the server refused a local change; it stays queued: {reason}"
                    );
                    blocking(|| store.record_push_error(entry.id, &reason))?;
                    held_back.insert(object);
                    report.entry(entry.resource).refused += 1;
                }
            }
            progress(ProgressEvent {
                phase: Phase::Push,
                resource: entry.resource,
                done,
                total,
            });
        }
    }
}

/// What every resource's pull shares, and where its counts go.
struct Puller<'a> {
    store: &'a mut Store,
    report: &'a mut SyncReport,
    client: &'a Client,
    options: &'a SyncOptions,
    progress: &'a (dyn Fn(ProgressEvent) + Sync),
    cancel: &'a Cancel,
}

async fn pull(
    store: &mut Store,
    client: &Client,
    options: &SyncOptions,
    progress: &(dyn Fn(ProgressEvent) + Sync),
    cancel: &Cancel,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let mut puller = Puller {
        store,
        report,
        client,
        options,
        progress,
        cancel,
    };
    // Parents before children: an object's references resolve to rows already stored.
    // Anonymous sets come after cardholders: a set names its cardholders, not the reverse.
    puller
        .pull_and_absorb(Resource::Persons, Store::upsert_remote_persons)
        .await?;
    puller
        .pull_and_absorb(Resource::Addresses, Store::upsert_remote_addresses)
        .await?;
    puller
        .pull_and_absorb(Resource::Cardholders, Store::upsert_remote_cardholders)
        .await?;
    puller
        .pull_and_absorb(Resource::AnonymousSets, Store::upsert_remote_anonymous_sets)
        .await?;
    puller
        .pull_and_absorb(Resource::Cards, Store::upsert_remote_cards)
        .await?;
    puller
        .pull_and_absorb(Resource::Productions, Store::upsert_remote_productions)
        .await?;
    Ok(())
}

impl Puller<'_> {
    /// Lists every page of `resource` (page 1 first for the total, the rest by `concurrency`
    /// workers) and upserts each page in one transaction as it arrives. Only when every page
    /// was read (no error, no cancellation: those return early) and the pages agree on the
    /// total are local rows the server did not list marked as deleted there; pages that
    /// disagree (objects created or deleted while paging shift the offsets) mark nothing.
    /// The counts go into the report beside the resource's push counts.
    async fn pull_and_absorb<T>(
        &mut self,
        resource: Resource,
        upsert: impl Fn(&mut Store, &[T]) -> Result<Upserted, StoreError>,
    ) -> Result<(), SyncError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let (client, options, progress, cancel) =
            (self.client, self.options, self.progress, self.cancel);
        let store = &mut *self.store;
        let per_page = options.per_page.clamp(1, MAX_PER_PAGE);
        let first: Page<T> = client.list(path(resource), 1, per_page, &[]).await?;
        let total = first.total;
        let last_page = first.last_page;
        let mut moved = Moved::default();
        let mut listed: HashSet<String> = HashSet::new();
        let mut consistent = true;
        let mut store_page =
            |store: &mut Store, page: Page<T>, moved: &mut Moved| -> Result<(), SyncError> {
                consistent &= page.total == total;
                listed.extend(page.ids);
                moved.pulled += page.items.len();
                moved.stored.skipped += page.unreadable;
                moved.stored.add(blocking(|| upsert(store, &page.items))?);
                progress(ProgressEvent {
                    phase: Phase::Pull,
                    resource,
                    done: moved.pulled as u64,
                    total,
                });
                Ok(())
            };
        store_page(store, first, &mut moved)?;

        let workers = options.concurrency.max(1);
        let (sender, mut pages) = mpsc::channel::<Result<Page<T>, RemoteError>>(workers);
        let next_page = Arc::new(AtomicU32::new(2));
        // The API answers an empty list past the end: no page after it is asked for.
        let past_the_end = Arc::new(AtomicBool::new(false));
        let mut fetchers = JoinSet::new();
        for _ in 0..workers.min(last_page.saturating_sub(1) as usize) {
            let (client, sender, next_page, past_the_end, cancel) = (
                client.clone(),
                sender.clone(),
                next_page.clone(),
                past_the_end.clone(),
                cancel.clone(),
            );
            fetchers.spawn(async move {
                loop {
                    let page = next_page.fetch_add(1, Ordering::Relaxed);
                    if page > last_page
                        || past_the_end.load(Ordering::Relaxed)
                        || cancel.is_cancelled()
                    {
                        return;
                    }
                    let fetched: Result<Page<T>, _> =
                        client.list(path(resource), page, per_page, &[]).await;
                    if fetched
                        .as_ref()
                        .is_ok_and(|page| page.items.is_empty() && page.unreadable == 0)
                    {
                        past_the_end.store(true, Ordering::Relaxed);
                    }
                    if sender.send(fetched).await.is_err() {
                        return;
                    }
                }
            });
        }
        drop(sender);
        // Dropping `fetchers` on any early return aborts the workers.
        while let Some(fetched) = pages.recv().await {
            cancel.check()?;
            store_page(store, fetched?, &mut moved)?;
        }
        cancel.check()?;
        if consistent && listed.len() as u64 == total {
            let (known, unlisted) = blocking(|| store.count_unlisted(resource, &listed))?;
            if mass_deletion(known, unlisted) && !options.accept_deletions {
                return Err(SyncError::MassDeletion {
                    resource,
                    listed: listed.len(),
                    known,
                    unlisted,
                });
            }
            moved.deleted_remotely =
                blocking(|| store.mark_deleted_remotely(resource, &listed))?.marked;
        } else {
            tracing::warn!(
                %resource, total, listed = listed.len(),
                "the server's list changed while it was read: nothing is marked as deleted this time"
            );
        }
        blocking(|| store.record_sync(resource))?;
        self.report.entry(resource).absorb_pull(moved);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_card_is_created_bare_and_its_status_follows() {
        let fields = json!({"cardholder": "h1", "status": "personalized", "metadata": {"a": 1},
                            "endDate": null});
        let (create, update) = split_card_create("cards", fields);
        assert_eq!(create, json!({"cardholder": "h1", "metadata": {"a": 1}}));
        assert_eq!(update, Some(json!({"status": "personalized"})));
        let (create, update) = split_card_create("persons", json!({"firstName": "A"}));
        assert_eq!((create, update), (json!({"firstName": "A"}), None));
    }

    #[test]
    fn most_of_a_big_store_vanishing_at_once_is_a_server_fault() {
        assert!(mass_deletion(10, 10), "none of ten listed");
        assert!(mass_deletion(100_000, 50_001));
        assert!(!mass_deletion(100_000, 50_000), "half is still believed");
        assert!(!mass_deletion(9, 9), "too few to tell");
        assert!(!mass_deletion(0, 0));
        assert_eq!(
            field_names(&json!({"pesel": "44051401359", "lastName": "Nowak"})),
            "lastName,pesel"
        );
    }
}
