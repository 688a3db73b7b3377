//! Pull of N people (each with a cardholder, a card and a production) from the reference
//! server at 20 ms per request, default concurrency vs `--concurrency 1`, with times and
//! peak RSS. `SYNC_BENCH_PEOPLE` sets N (default 10 000). The server runs in this process
//! over a database file (so its data is not counted as the pull's memory); the peak is
//! reset before each pull (`/proc/self/clear_refs`), so it is the pull's own.

use std::time::{Duration, Instant};

use cardstation::remote::cardexchange::{ApiKey, Client, RetryPolicy};
use cardstation::store::Store;
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
}
