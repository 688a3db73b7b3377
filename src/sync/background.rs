//! Replication as a station runs it unattended: a full sync (push, then pull everything)
//! every `pull_every`, and between them, every `revocation_every`, the outbox pushed (when it
//! holds anything) and the refusal statuses polled. `cardstation sync --watch` runs it; the
//! window can run the same future on its own runtime.

use std::time::Duration;

use tokio::time::Instant;

use super::revocation::{Polled, RevocationPoller};
use super::{Cancel, ProgressEvent, SyncError, SyncOptions, SyncReport, blocking};
use crate::config::{CrlSource, Profile};
use crate::remote::cardexchange::Client;
use crate::remote::retry::RetryPolicy;
use crate::store::Store;

/// How often each part runs (`[sync]`, `[kiosk] max_revocation_age_seconds` and `[trust]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub pull_every: Duration,
    /// `None`: no fast path; the outbox is then pushed with each full sync only.
    pub revocation_every: Option<Duration>,
    /// How old a poll may get before the kiosk's verdicts say so.
    pub stale_after: Duration,
    /// `None`: the profile names no CRL source.
    pub crl_every: Option<Duration>,
    pub crl_sources: Vec<CrlSource>,
}

impl Schedule {
    pub fn for_profile(profile: &Profile) -> Self {
        Self {
            pull_every: profile.sync.pull_every(profile.role),
            revocation_every: profile.sync.revocation_every(),
            stale_after: Duration::from_secs(u64::from(profile.kiosk.max_revocation_age_seconds)),
            crl_every: profile.trust.crl_every(),
            crl_sources: profile.trust.crl_sources.clone(),
        }
    }
}

/// What one round did, for the caller to show or log.
#[derive(Debug)]
pub enum Event<'a> {
    Synced(&'a SyncReport),
    /// A fast round: what the push moved (empty when the outbox was) and what the poll read.
    Polled {
        pushed: &'a SyncReport,
        polled: &'a Polled,
    },
    /// A round failed in a way the next may not (server down, rate limit, a pull refused as
    /// a mass deletion); the loop goes on. The outbox keeps every change.
    Failed(&'a SyncError),
}

/// Whether the loop outlives `err`: anything the server may stop doing. A refused key or
/// a store that cannot be written ends it.
fn outlives(err: &SyncError) -> bool {
    match err {
        SyncError::Remote(err) => {
            err.is_transient()
                || matches!(
                    err,
                    crate::remote::cardexchange::RemoteError::TooLarge { .. }
                        | crate::remote::cardexchange::RemoteError::Problem { .. }
                )
        }
        // Blocks still arrive by the fast path while the full pull is refused.
        SyncError::MassDeletion { .. } => true,
        // The other sync finishes; the next round pushes what is left.
        SyncError::PushBusy => true,
        SyncError::Store(_) | SyncError::Cancelled => false,
    }
}

/// A failed full sync is tried again after this at most, not a whole `pull_every` later.
const RETRY_FULL_SYNC: Duration = Duration::from_secs(60);

/// Runs until `cancel` (then `Ok`) or a failure it does not outlive. The first round is a
/// full sync, after the CRL sources are pulled (then every `crl_every`; a CRL that fails is
/// logged and the loop goes on).
pub async fn run(
    store: &mut Store,
    client: &Client,
    options: &SyncOptions,
    schedule: &Schedule,
    on_event: &(dyn Fn(Event<'_>) + Sync),
    progress: &(dyn Fn(ProgressEvent) + Sync),
    cancel: &Cancel,
) -> Result<(), SyncError> {
    if schedule.revocation_every.is_none() {
        // A lease left by an earlier run with the fast path on would call every verdict stale.
        blocking(|| store.clear_revocation_poll())?;
    }
    let mut poller = RevocationPoller::default();
    let mut next_pull = Instant::now();
    let mut next_poll = Instant::now();
    let mut next_crl = Instant::now();
    loop {
        if let Some(every) = schedule.crl_every
            && Instant::now() >= next_crl
        {
            super::crl::pull(store, &schedule.crl_sources, &RetryPolicy::default()).await;
            next_crl = Instant::now() + every;
        }
        let started = Instant::now();
        let round = if started >= next_pull {
            let synced = super::sync(store, client, options, progress, cancel).await;
            next_pull = started
                + match synced {
                    Ok(_) => schedule.pull_every,
                    Err(_) => schedule.pull_every.min(RETRY_FULL_SYNC),
                };
            synced.and_then(|report| {
                // The pull read every card, the refused ones too: as fresh as a poll.
                if schedule.revocation_every.is_some() {
                    blocking(|| store.record_revocation_poll(schedule.stale_after))?;
                }
                on_event(Event::Synced(&report));
                Ok(())
            })
        } else if let Some(every) = schedule.revocation_every.filter(|_| started >= next_poll) {
            next_poll = started + every;
            fast_round(store, client, options, schedule, &mut poller, cancel)
                .await
                .map(|(pushed, polled)| {
                    on_event(Event::Polled {
                        pushed: &pushed,
                        polled: &polled,
                    })
                })
        } else {
            // Woken for the CRL sources only.
            Ok(())
        };
        match round {
            Ok(()) => {}
            Err(SyncError::Cancelled) => return Ok(()),
            Err(err) if outlives(&err) => on_event(Event::Failed(&err)),
            Err(err) => return Err(err),
        }
        let mut due = match schedule.revocation_every {
            Some(_) => next_pull.min(next_poll),
            None => next_pull,
        };
        if schedule.crl_every.is_some() {
            due = due.min(next_crl);
        }
        if !sleep_until(due, cancel).await {
            return Ok(());
        }
    }
}

/// Pushes what waits in the outbox (nothing is sent when it is empty), then polls. The
/// window's sync worker (`ui::sync`) runs it too, on its own schedule.
pub async fn fast_round(
    store: &mut Store,
    client: &Client,
    options: &SyncOptions,
    schedule: &Schedule,
    poller: &mut RevocationPoller,
    cancel: &Cancel,
) -> Result<(SyncReport, Polled), SyncError> {
    let mut pushed = SyncReport::default();
    if blocking(|| store.outbox_len())? > 0 {
        super::push(store, client, options, &|_| {}, cancel, &mut pushed).await?;
    }
    cancel.check()?;
    let polled = poller.poll(store, client, schedule.stale_after).await?;
    Ok((pushed, polled))
}

/// Sleeps until `due`, waking every 100 ms to notice `cancel`; false when cancelled.
async fn sleep_until(due: Instant, cancel: &Cancel) -> bool {
    const STEP: Duration = Duration::from_millis(100);
    loop {
        if cancel.is_cancelled() {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        tokio::time::sleep((due - now).min(STEP)).await;
    }
}
