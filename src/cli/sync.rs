//! `sync`: replication with the profile's CardExchange server.

use std::path::Path;
use std::time::Duration;

use cardstation::config::{Profile, Secret};
use cardstation::error::Problem;
use cardstation::remote::cardexchange::{ApiKey, Client};
use cardstation::store::Store;
use cardstation::sync::background::{self, Event, Schedule};
use cardstation::sync::{self, Cancel, ProgressEvent, SyncError, SyncOptions, SyncReport};

use super::Failure;

/// When syncs run.
pub enum Every {
    Once,
    /// A full sync per interval (`--every`).
    Interval(Duration),
    /// The profile's `[sync]` schedule with the revocation fast path (`--watch`).
    Schedule,
}

pub struct Run {
    pub every: Every,
    pub concurrency: usize,
    pub json: bool,
    pub accept_deletions: bool,
}

/// One sync, one sync per interval, or the background schedule, until interrupted. In the
/// repeating modes a failure the next try may not meet (server or network down, rate limit)
/// is reported and the loop goes on; anything else (a refused key, the store) ends it.
pub fn sync(profile: &Profile, db: &Path, run: &Run) -> Result<(), Failure> {
    let Some(server) = &profile.server else {
        return Err(Failure::new(
            "the profile has no [server] to sync with",
            "pass --profile with a [server] section (kind, url, api_key_env)",
        ));
    };
    let key = Secret::lookup(&server.api_key_env)?;
    let client = Client::new(
        &server.url,
        ApiKey::new(key.expose()),
        cardstation::remote::retry::RetryPolicy::for_server(server),
    )?;
    if client.is_live() {
        eprintln!(
            "note: LIVE key: this sync changes real card data on {}",
            server.url
        );
    }
    let options = SyncOptions {
        concurrency: run.concurrency,
        cardholder_profile: server.cardholder_profile.clone(),
        accept_deletions: run.accept_deletions,
        ..SyncOptions::default()
    };
    let mut store = Store::open(db)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| Failure::new(format!("cannot start the sync: {err}"), "report it"))?;
    let cancel = Cancel::default();
    let on_interrupt = cancel.clone();
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let progress = |event: ProgressEvent| {
        tracing::info!(phase = ?event.phase, resource = %event.resource, event.done, event.total, "sync progress");
    };
    let json = run.json;
    let interval = match run.every {
        Every::Once => None,
        Every::Interval(interval) => Some(interval),
        Every::Schedule => {
            let schedule = Schedule::for_profile(profile);
            eprintln!(
                "note: full sync every {} s, blocked cards every {}",
                schedule.pull_every.as_secs(),
                schedule
                    .revocation_every
                    .map_or("(off)".to_owned(), |every| format!("{} s", every.as_secs()))
            );
            if let Some(every) = schedule.crl_every {
                eprintln!(
                    "note: {} CRL source(s) pulled every {} s",
                    schedule.crl_sources.len(),
                    every.as_secs()
                );
            }
            let on_event = |event: Event<'_>| report_event(&event, db, json);
            return Ok(runtime.block_on(background::run(
                &mut store, &client, &options, &schedule, &on_event, &progress, &cancel,
            ))?);
        }
    };
    loop {
        let synced = runtime.block_on(sync::sync(
            &mut store, &client, &options, &progress, &cancel,
        ));
        let Some(interval) = interval else {
            return print_report(&synced?, &store, json);
        };
        match synced {
            Ok(report) => print_report(&report, &store, json)?,
            Err(SyncError::Remote(err)) if err.is_transient() => {
                tracing::warn!(
                    "sync failed, trying again in {} s: {err}",
                    interval.as_secs()
                );
                eprintln!(
                    "error: {err}\nnext step: {} (trying again in {} s)",
                    err.next_step(),
                    interval.as_secs()
                );
            }
            Err(err) => return Err(err.into()),
        }
        let waited = runtime.block_on(async {
            tokio::select! {
                () = tokio::time::sleep(interval) => true,
                _ = tokio::signal::ctrl_c() => false,
            }
        });
        if !waited || cancel.is_cancelled() {
            return Ok(());
        }
    }
}

/// One line per round: a full sync as `print_report` prints it, a fast round only when it
/// moved something (a kiosk polls every few seconds), a failure with its next step.
fn report_event(event: &Event<'_>, db: &Path, json: bool) {
    let printed = match event {
        // The loop holds the store; the summary is read over a second connection (WAL
        // lets it read beside the writer), once per full sync.
        Event::Synced(report) => Store::open(db)
            .map_err(Failure::from)
            .and_then(|store| print_report(report, &store, json)),
        Event::Polled { pushed, polled } => {
            let pushed_any = pushed.resources.values().any(|moved| moved.pushed > 0);
            if pushed_any || polled.stored.inserted + polled.stored.updated > 0 {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"pushed": pushed.resources, "revocations": polled})
                    );
                } else {
                    println!(
                        "revocations\trequests {}\tcards {} (new {}, updated {})\tpushed {}",
                        polled.requests,
                        polled.cards,
                        polled.stored.inserted,
                        polled.stored.updated,
                        pushed
                            .resources
                            .values()
                            .map(|moved| moved.pushed)
                            .sum::<usize>()
                    );
                }
            }
            Ok(())
        }
        Event::Failed(err) => {
            tracing::warn!("sync round failed, the next one tries again: {err}");
            eprintln!("error: {err}\nnext step: {}", err.next_step());
            Ok(())
        }
    };
    if let Err(err) = printed {
        eprintln!("error: {}", err);
    }
}

fn print_report(report: &SyncReport, store: &Store, json: bool) -> Result<(), Failure> {
    let status = store.status()?;
    if json {
        let line = serde_json::json!({
            "resources": report.resources,
            "outbox_pending": status.outbox_pending,
            "last_sync": status.last_sync,
        });
        println!("{line}");
        return Ok(());
    }
    for (resource, moved) in &report.resources {
        println!(
            "{resource}\tpushed {} (refused {}, gone on the server {})\tpulled {} (new {}, updated {}, unchanged {}, skipped {})\tconflicts {}\tdeleted on the server {}",
            moved.pushed,
            moved.refused,
            moved.gone,
            moved.pulled,
            moved.stored.inserted,
            moved.stored.updated,
            moved.stored.unchanged,
            moved.stored.skipped,
            moved.stored.conflicts,
            moved.deleted_remotely
        );
    }
    println!("outbox pending\t{}", status.outbox_pending);
    Ok(())
}
