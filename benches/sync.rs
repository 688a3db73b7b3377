//! Pull of N people (each with a cardholder, a card and a production) from the reference
//! server at 20 ms per request, default concurrency vs `--concurrency 1`, with times and
//! peak RSS. `SYNC_BENCH_PEOPLE` sets N (default 10 000). The server runs in this process
//! over a database file (so its data is not counted as the pull's memory); the peak is
//! reset before each pull (`/proc/self/clear_refs`), so it is the pull's own. Then the
//! revocation fast path on the same register: a first poll, a steady one, and one after a
//! block, with the requests each sends.

use std::time::{Duration, Instant};

use cardstation::remote::cardexchange::{ApiKey, Client, RetryPolicy};
use cardstation::store::Store;
use cardstation::sync::revocation::RevocationPoller;
use cardstation::sync::{self, Cancel, DEFAULT_CONCURRENCY, SyncOptions};
use cardstation_refserver::{ReferenceServer, ServerFaults};

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn pull(server: &ReferenceServer, store: &mut Store, concurrency: usize) -> (Duration, i64) {
    let client = Client::new(
        &server.url(),
        ApiKey::new("sk_test_bench"),
        RetryPolicy::default(),
    )
    .expect("client");
    let options = SyncOptions {
        concurrency,
        ..SyncOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    reset_peak_rss();
    let started = Instant::now();
    runtime
        .block_on(sync::sync(
            store,
            &client,
            &options,
            &|_| {},
            &Cancel::default(),
        ))
        .expect("pull");
    let elapsed = started.elapsed();
    (elapsed, store.status().expect("status").persons)
}

fn main() {
    let people: usize = std::env::var("SYNC_BENCH_PEOPLE")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(10_000);
    let faults = ServerFaults {
        delay: Duration::from_millis(20),
        ..ServerFaults::default()
    };
    let server_dir = tempfile::tempdir().expect("temp dir");
    let server = ReferenceServer::start(0, Some(&server_dir.path().join("server.sqlite")), faults)
        .expect("server");
    let seeding = Instant::now();
    server.seed_people(people).expect("seed");
    println!(
        "seeded {people} people (+ cardholders, cards, productions) in {:.1?}",
        seeding.elapsed()
    );

    let rss = || peak_rss_kib().map_or("?".into(), |kib| format!("{} MiB", kib / 1024));
    let mut times = Vec::new();
    for concurrency in [DEFAULT_CONCURRENCY, 1] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = Store::open(&dir.path().join("bench.sqlite")).expect("store");
        let (elapsed, persons) = pull(&server, &mut store, concurrency);
        println!(
            "pull {persons} people x4 resources into an empty store, concurrency {concurrency}: {elapsed:.2?}, peak RSS {}",
            rss()
        );
        times.push(elapsed);
        if concurrency == DEFAULT_CONCURRENCY {
            let (elapsed, _) = pull(&server, &mut store, concurrency);
            println!(
                "pull again with nothing changed, concurrency {concurrency}: {elapsed:.2?}, peak RSS {}",
                rss()
            );
        }
    }
    println!(
        "speed-up at concurrency {DEFAULT_CONCURRENCY}: {:.1}x",
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
    revocation_polls(&server);
}

/// A poll is a few requests whatever the register's size; only a status whose total moved
/// is read past page 1.
fn revocation_polls(server: &ReferenceServer) {
    let client = Client::new(
        &server.url(),
        ApiKey::new("sk_test_bench"),
        RetryPolicy::default(),
    )
    .expect("client");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("kiosk.sqlite")).expect("store");
    runtime
        .block_on(sync::sync(
            &mut store,
            &client,
            &SyncOptions::default(),
            &|_| {},
            &Cancel::default(),
        ))
        .expect("pull");
    let cards = server.objects("cards");
    // A register with history: 150 expired cards (two pages), then one block.
    for card in cards.iter().take(150) {
        let id = card["id"].as_str().expect("id");
        runtime
            .block_on(client.update("cards", id, &serde_json::json!({"status": "expired"})))
            .expect("expire");
    }
    let mut poller = RevocationPoller::default();
    let stale_after = Duration::from_secs(60);
    let mut poll = |what: &str| {
        let started = Instant::now();
        let polled = runtime
            .block_on(poller.poll(&mut store, &client, stale_after))
            .expect("poll");
        println!(
            "revocation poll, {what}: {} requests, {} cards read, {} updated, {:.2?}",
            polled.requests,
            polled.cards,
            polled.stored.updated,
            started.elapsed()
        );
    };
    poll("first (every page of every refusal status)");
    poll("steady (nothing changed)");
    let blocked = cards[200]["id"].as_str().expect("id");
    runtime
        .block_on(client.update("cards", blocked, &serde_json::json!({"status": "blocked"})))
        .expect("block");
    poll("after one block elsewhere");
}
