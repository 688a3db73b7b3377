//! Block to refusal, and what a kiosk costs the server, on a 100k-person register at 20 ms
//! per request (the reference server in this process, over a database file).
//!
//! 1. A desk store blocks a card and pushes its outbox (what the desk does); a kiosk store,
//!    kept by the kiosk's own background loop (`sync::background::run`) with the schedule of
//!    the shipped `profiles/kiosk.toml` (a revocation poll every 5 s, a full pull every
//!    15 min), refuses it. The kiosk's verdict is `station::validate` against its store for
//!    the card (a UID-only chip, simulated in-process), asked every 20 ms. 50 blocks, started
//!    at random gaps so they fall anywhere in the poll interval; each latency runs from its
//!    own block (before the store write and the push) to the first refused verdict.
//! 2. Requests each kiosk sends, counted at the server over a window of its steady state:
//!    with the fast path (the window: 12 polls, no full pull in it; the full pull's requests
//!    counted on their own) and without it (a full pull every minute, the window two whole
//!    periods), then per kiosk-hour and the ratio.
//!
//!     cargo bench --bench revocation

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cardstation::config::{Profile, Role};
use cardstation::remote::cardexchange::{ApiKey, Client, RetryPolicy};
use cardstation::sim::{self, DesfireCard, DesfireCardState, Faults, SimTransport};
use cardstation::station::auth::Session;
use cardstation::station::desk;
use cardstation::station::validate::{Policy, Verdict, validate};
use cardstation::store::{OperatorRole, Store, UidKind};
use cardstation::sync::background::{self, Event, Schedule};
use cardstation::sync::{self, Cancel, SyncOptions};
use cardstation_refserver::{ReferenceServer, ServerFaults};
use rand::Rng;

const PEOPLE: usize = 100_000;
const LATENCY: Duration = Duration::from_millis(20);
const BLOCKS: usize = 50;
/// How often the kiosk's verdict on each blocked card is asked for.
const VERDICT_EVERY: Duration = Duration::from_millis(20);
/// Gaps between two blocks: random, so the blocks land at every phase of the 5 s poll.
const GAP_MS: std::ops::Range<u64> = 500..2_500;
const DEADLINE: Duration = Duration::from_secs(60);
/// The fast-path window, in polls.
const WINDOW_POLLS: usize = 12;
/// The no-fast-path window, in full-pull periods.
const WINDOW_PULLS: usize = 2;

/// What the kiosk loop did, with the server's request count at that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    Synced,
    Polled,
    Failed,
}

struct Mark {
    round: Round,
    at: Instant,
    requests: u64,
}

fn client(server: &ReferenceServer) -> Client {
    Client::new(
        &server.url(),
        ApiKey::new("sk_test_revocation_bench"),
        RetryPolicy::default(),
    )
    .expect("client")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn uid(number: usize) -> [u8; 7] {
    let [.., a, b] = (number as u32).to_be_bytes();
    [0x04, 0xB1, 0x0C, 0x4E, 0xD0, a, b]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let kiosk_profile = Profile::load(&root.join("profiles/kiosk.toml")).expect("kiosk profile");
    assert_eq!(kiosk_profile.role, Role::Kiosk);
    let schedule = Schedule::for_profile(&kiosk_profile);
    println!(
        "kiosk schedule (profiles/kiosk.toml defaults): revocation poll every {:?}, full pull every {:?}",
        schedule
            .revocation_every
            .expect("the fast path is on by default"),
        schedule.pull_every
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let faults = ServerFaults {
        delay: LATENCY,
        ..ServerFaults::default()
    };
    let server =
        ReferenceServer::start(0, Some(&dir.path().join("server.sqlite")), faults).expect("server");
    let seeding = Instant::now();
    server.seed_people(PEOPLE).expect("seed");
    // The cards to block: issued (activated) with a contactless UID the kiosk reads.
    let client = client(&server);
    let rt = runtime();
    let cards = server.objects("cards");
    for (number, card) in cards.iter().take(BLOCKS).enumerate() {
        let id = card["id"].as_str().expect("id");
        let fields = serde_json::json!({
            "status": "activated",
            "metadata": {"type": "student", "contactlessUid": hex::encode_upper(uid(number))},
        });
        rt.block_on(client.update("cards", id, &fields))
            .expect("issue");
    }
    println!(
        "seeded {PEOPLE} people (+ cardholders, cards), {BLOCKS} of the cards issued, in {:.1?}; {LATENCY:?} per request",
        seeding.elapsed()
    );

    let kiosk_db = dir.path().join("kiosk.sqlite");
    let desk_db = dir.path().join("desk.sqlite");
    let (marks, marked) = mpsc::channel::<Mark>();
    let cancel = Cancel::default();
    std::thread::scope(|scope| {
        let (started, start_requests) = (Instant::now(), server.requests());
        let kiosk = scope.spawn(|| {
            run_kiosk(&server, &kiosk_db, &schedule, &cancel, marks);
        });
        let first = wait_for(&marked, Round::Synced, 1);
        println!(
            "kiosk's first full pull (into an empty store): {} requests, {:.1?}",
            first.requests - start_requests,
            first.at - started
        );
        let pull_requests = first.requests - start_requests;

        block_to_refusal(&server, &client, &rt, &desk_db, &kiosk_db, &kiosk_profile);

        // Nothing else talks to the server now: every request counted is the kiosk's.
        let window = poll_window(&marked);
        cancel.cancel();
        kiosk.join().expect("kiosk loop");
        let fast_per_minute = window.per_minute();
        println!(
            "with the fast path: {} requests in {:.1?} ({WINDOW_POLLS} polls, no full pull): {fast_per_minute:.1} requests/min",
            window.requests, window.elapsed
        );
        let polls_per_hour = 3600.0 * window.requests as f64 / window.elapsed.as_secs_f64();
        let pulls_per_hour = 3600.0 / schedule.pull_every.as_secs_f64();
        let fast_per_hour = polls_per_hour + pulls_per_hour * pull_requests as f64;
        println!(
            "with the fast path, per kiosk-hour: {polls_per_hour:.0} (polls) + {pulls_per_hour:.0} x {pull_requests} (full pulls) = {fast_per_hour:.0} requests ({:.1} requests/min averaged over the hour)",
            fast_per_hour / 60.0
        );

        let slow = without_fast_path(&server, &kiosk_db, &kiosk_profile);
        let slow_per_minute = slow.per_minute();
        let slow_per_hour = slow_per_minute * 60.0;
        println!(
            "without it (a full pull every minute): {} requests in {:.1?} ({WINDOW_PULLS} periods): {slow_per_minute:.1} requests/min, {slow_per_hour:.0} per kiosk-hour",
            slow.requests, slow.elapsed
        );
        println!(
            "requests per kiosk-hour, full pull every minute / fast path: {:.1}x fewer (target: at least 10x)",
            slow_per_hour / fast_per_hour
        );
    });
}

/// The kiosk's background loop on its own runtime, as `cardstation sync --watch` runs it.
fn run_kiosk(
    server: &ReferenceServer,
    db: &Path,
    schedule: &Schedule,
    cancel: &Cancel,
    marks: mpsc::Sender<Mark>,
) {
    let mut store = Store::open(db).expect("kiosk store");
    let client = client(server);
    let mark = |round| {
        let _ = marks.send(Mark {
            round,
            at: Instant::now(),
            requests: server.requests(),
        });
    };
    let on_event = |event: Event<'_>| match event {
        Event::Synced(_) => mark(Round::Synced),
        Event::Polled { .. } => mark(Round::Polled),
        Event::Failed(err) => {
            eprintln!("kiosk round failed: {err}");
            mark(Round::Failed)
        }
    };
    runtime()
        .block_on(background::run(
            &mut store,
            &client,
            &SyncOptions::default(),
            schedule,
            &on_event,
            &|_| {},
            cancel,
        ))
        .expect("kiosk loop");
}

/// The `count`th mark of `round` from now (earlier ones and other rounds passed over).
fn wait_for(marked: &mpsc::Receiver<Mark>, round: Round, count: usize) -> Mark {
    let mut seen = 0;
    loop {
        let mark = marked
            .recv_timeout(Duration::from_secs(300))
            .expect("the kiosk loop goes on");
        assert_ne!(mark.round, Round::Failed, "a kiosk round failed");
        if mark.round == round {
            seen += 1;
            if seen == count {
                return mark;
            }
        }
    }
}

struct Window {
    requests: u64,
    elapsed: Duration,
}

impl Window {
    fn per_minute(&self) -> f64 {
        60.0 * self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn between(start: &Mark, end: &Mark) -> Self {
        Self {
            requests: end.requests - start.requests,
            elapsed: end.at - start.at,
        }
    }
}

/// From one poll's end to the end of the `WINDOW_POLLS`th after it.
fn poll_window(marked: &mpsc::Receiver<Mark>) -> Window {
    while marked.try_recv().is_ok() {}
    let start = wait_for(marked, Round::Polled, 1);
    let end = wait_for(marked, Round::Polled, WINDOW_POLLS);
    Window::between(&start, &end)
}

/// 50 blocks at the desk, each timed to the kiosk's refusal; prints p50/p99.
fn block_to_refusal(
    server: &ReferenceServer,
    client: &Client,
    rt: &tokio::runtime::Runtime,
    desk_db: &Path,
    kiosk_db: &Path,
    kiosk_profile: &Profile,
) {
    let mut desk_store = Store::open(desk_db).expect("desk store");
    let pulling = Instant::now();
    let before = server.requests();
    rt.block_on(sync::sync(
        &mut desk_store,
        client,
        &SyncOptions::default(),
        &|_| {},
        &Cancel::default(),
    ))
    .expect("desk pull");
    println!(
        "desk's full pull: {} requests (the kiosk's polls among them), {:.1?}",
        server.requests() - before,
        pulling.elapsed()
    );
    let desk_ids: Vec<i64> = (0..BLOCKS)
        .map(|number| {
            desk_store
                .find_card_by_uid(UidKind::Contactless, &uid(number))
                .expect("desk store")
                .expect("the desk knows the card")
                .id
        })
        .collect();
    let session = Session {
        operator: "anna".into(),
        role: OperatorRole::Operator,
        station: Role::Issuance,
    };

    // The kiosk's register: its own connection beside the loop's, as the kiosk window has.
    let register = Store::open(kiosk_db).expect("kiosk register");
    let policy = Policy {
        trusted: Vec::new(),
        revoked: Vec::new(),
        desfire: None,
        today: time::OffsetDateTime::now_utc().date(),
        max_register_age: None,
        when_stale: kiosk_profile.kiosk.when_stale,
        // The cards are UID-only chips: valid on the register's word until blocked.
        accept_uid_only: true,
    };
    let chips: Vec<_> = (0..BLOCKS)
        .map(|number| sim::shared(DesfireCard::new(DesfireCardState::blank(&uid(number)))))
        .collect();
    let verdict = |number: usize| {
        let mut card = SimTransport::insert(chips[number].clone(), Faults::default());
        validate(&mut card, &register, &policy)
            .expect("the chip answers")
            .verdict
    };
    for number in 0..BLOCKS {
        assert_eq!(
            verdict(number),
            Verdict::Valid,
            "card {number} before its block"
        );
    }

    let (blocked, blocks) = mpsc::channel::<(usize, Instant)>();
    let mut latencies = Vec::with_capacity(BLOCKS);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut rng = rand::thread_rng();
            for (number, &card_id) in desk_ids.iter().enumerate() {
                let at = Instant::now();
                desk::set_blocked(&session, &mut desk_store, card_id, true, "lost").expect("block");
                let pushed = rt
                    .block_on(sync::push_outbox(
                        &mut desk_store,
                        client,
                        &SyncOptions::default(),
                        &|_| {},
                        &Cancel::default(),
                    ))
                    .expect("push");
                assert_eq!(pushed.resources["cards"].pushed, 1, "{pushed:?}");
                blocked.send((number, at)).expect("verdicts watched");
                std::thread::sleep(Duration::from_millis(rng.gen_range(GAP_MS)));
            }
        });
        let mut waiting: Vec<(usize, Instant)> = Vec::new();
        let started = Instant::now();
        while latencies.len() < BLOCKS {
            waiting.extend(blocks.try_iter());
            waiting.retain(|&(number, at)| match verdict(number) {
                Verdict::Blocked => {
                    latencies.push(at.elapsed());
                    false
                }
                Verdict::Valid => {
                    assert!(at.elapsed() < DEADLINE, "card {number} still valid");
                    true
                }
                other => panic!("card {number}: {other:?}"),
            });
            std::thread::sleep(VERDICT_EVERY);
        }
        println!(
            "{BLOCKS} blocks in {:.1?} (random gaps of {GAP_MS:?} ms)",
            started.elapsed()
        );
    });
    latencies.sort();
    let at = |share: f64| latencies[((latencies.len() as f64 * share).ceil() as usize).max(1) - 1];
    println!(
        "desk block (store + push) to kiosk refusal, verdict asked every {VERDICT_EVERY:?}: p50 {:.2?}, p99 {:.2?}, min {:.2?}, max {:.2?} (target: p99 under 10 s)",
        at(0.50),
        at(0.99),
        latencies[0],
        latencies[BLOCKS - 1]
    );
}

/// The same kiosk with the fast path off (`revocation_every_seconds = 0`) and a full pull every
/// minute: the window runs from the end of one pull to the end of the `WINDOW_PULLS`th after.
fn without_fast_path(server: &ReferenceServer, db: &Path, profile: &Profile) -> Window {
    let mut profile = profile.clone();
    profile.sync.revocation_every_seconds = 0;
    profile.sync.pull_every_seconds = Some(60);
    let schedule = Schedule::for_profile(&profile);
    assert_eq!(schedule.revocation_every, None);
    let (marks, marked) = mpsc::channel::<Mark>();
    let cancel = Cancel::default();
    std::thread::scope(|scope| {
        let kiosk = scope.spawn(|| run_kiosk(server, db, &schedule, &cancel, marks));
        let start = wait_for(&marked, Round::Synced, 1);
        let end = wait_for(&marked, Round::Synced, WINDOW_PULLS);
        cancel.cancel();
        kiosk.join().expect("kiosk loop");
        Window::between(&start, &end)
    })
}
