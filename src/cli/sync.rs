//! `sync`: replication with the profile's CardExchange server.

use std::path::Path;
use std::time::Duration;

use cardstation::config::{Profile, Secret};
use cardstation::error::Problem;
use cardstation::remote::cardexchange::{ApiKey, Client, RetryPolicy};
use cardstation::store::Store;
use cardstation::sync::{self, Cancel, ProgressEvent, SyncError, SyncOptions, SyncReport};

use super::Failure;

/// One sync, or (with `every`) one sync per interval until interrupted. In the repeating
/// mode a failure the next try may not meet (server or network down, rate limit) is
/// reported and the loop goes on; anything else (a refused key, the store) ends it.
pub fn sync(
    profile: &Profile,
    db: &Path,
    every: Option<Duration>,
    concurrency: usize,
    json: bool,
) -> Result<(), Failure> {
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
        RetryPolicy::default(),
    )?;
    if client.is_live() {
        eprintln!(
            "note: LIVE key: this sync changes real card data on {}",
            server.url
        );
    }
    let options = SyncOptions {
        concurrency,
        cardholder_profile: server.cardholder_profile.clone(),
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
    loop {
        let synced = runtime.block_on(sync::sync(
            &mut store, &client, &options, &progress, &cancel,
        ));
        let Some(interval) = every else {
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
