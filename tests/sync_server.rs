//! Replication against the reference server over HTTP on 127.0.0.1: pull under injected
//! faults, push without duplicates, the server down, and `cardstation sync` killed with
//! SIGKILL at random moments.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cardstation::error::Problem;
use cardstation::remote::cardexchange::{ApiKey, Client, Page, RemoteError, RetryPolicy};
use cardstation::station::validate::Register;
use cardstation::store::{
    CardStatus, CardType, ImportedPerson, PersonFields, ProductionStatus, Resource, Store, UidKind,
};
use cardstation::sync::revocation::RevocationPoller;
use cardstation::sync::{self, Cancel, Phase, ProgressEvent, SyncError, SyncOptions, SyncReport};
use cardstation_refserver::{ReferenceServer, ServerFaults};
use rand::Rng;
use serde_json::{Value, json};

mod common;
use time::macros::date;

const KEY: &str = "sk_test_replication";
const PROFILE_ID: &str = "students";

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 10,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(100),
        request_timeout: Duration::from_secs(10),
    }
}

fn client(url: &str) -> Client {
    Client::new(url, ApiKey::new(KEY), quick_retries()).unwrap()
}

fn options(concurrency: usize, per_page: u32) -> SyncOptions {
    SyncOptions {
        concurrency,
        per_page,
        cardholder_profile: Some(PROFILE_ID.into()),
        accept_deletions: false,
    }
}

fn run_sync(
    store: &mut Store,
    client: &Client,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    run_sync_with(store, client, options, &|_| {}, &Cancel::default())
}

fn run_sync_with(
    store: &mut Store,
    client: &Client,
    options: &SyncOptions,
    progress: &(dyn Fn(ProgressEvent) + Sync),
    cancel: &Cancel,
) -> Result<SyncReport, SyncError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(sync::sync(store, client, options, progress, cancel))
}

fn faults(spec: &str) -> ServerFaults {
    spec.parse().unwrap()
}

fn import_people(store: &mut Store, count: usize, prefix: &str) {
    let rows: Vec<ImportedPerson> = (0..count)
        .map(|number| ImportedPerson {
            line: number as u64 + 2,
            person: PersonFields {
                person_number: None,
                first_name: format!("{prefix}{number}"),
                middle_name: None,
                last_name: "Importowana".into(),
                birth_date: date!(2002 - 03 - 04),
                phone_number: None,
                mobile_number: None,
                album_number: Some(format!("{prefix}-{number}")),
                pesel: None,
            },
            email: Some(format!("{prefix}{number}@uni.example")),
        })
        .collect();
    let report = store.import_persons("test.csv", "test", &rows).unwrap();
    assert_eq!(report.imported, count);
}

/// Every operation id on the server at most once: no create was made twice.
fn assert_no_duplicates(server: &ReferenceServer, resource: &str) -> usize {
    let mut seen = HashSet::new();
    for object in server.objects(resource) {
        if let Some(operation_id) = object["metadata"]["operationId"].as_str() {
            assert!(
                seen.insert(operation_id.to_owned()),
                "{resource} {operation_id} created twice"
            );
        }
    }
    seen.len()
}

#[test]
fn pull_converges_with_5xx_429_and_truncated_bodies() {
    let server = ReferenceServer::start(
        0,
        None,
        faults("error_rate=0.1,429_every=7,truncate_rate=0.05,seed=11"),
    )
    .unwrap();
    server.seed_people(240).unwrap();
    let mut store = Store::open_in_memory().unwrap();
    let events = std::sync::Mutex::new(Vec::new());
    let record = |event: ProgressEvent| events.lock().unwrap().push(event);
    let report = run_sync_with(
        &mut store,
        &client(&server.url()),
        &options(8, 20),
        &record,
        &Cancel::default(),
    )
    .unwrap();
    let events = events.into_inner().unwrap();
    let persons_done = events
        .iter()
        .filter(|event| event.phase == Phase::Pull && event.resource.as_str() == "persons")
        .map(|event| (event.done, event.total))
        .max();
    assert_eq!(persons_done, Some((240, 240)));

    let status = store.status().unwrap();
    assert_eq!(
        (
            status.persons,
            status.cardholders,
            status.cards,
            status.productions
        ),
        (240, 240, 240, 240),
        "{report:?}"
    );
    assert!(status.last_sync.is_some());
    assert_eq!(report.resources["persons"].stored.inserted, 240);

    // Nothing changed on the server: nothing is written again.
    let again = run_sync(&mut store, &client(&server.url()), &options(8, 20)).unwrap();
    for resource in ["persons", "cardholders", "cards", "productions"] {
        let moved = again.resources[resource];
        assert_eq!(
            (
                moved.stored.inserted,
                moved.stored.updated,
                moved.stored.unchanged
            ),
            (0, 0, 240),
            "{resource}: {moved:?}"
        );
    }
    assert_eq!(store.status().unwrap().persons, 240);
    assert_eq!(store.search_people("Kowal", 300).unwrap().len(), 240);
}

#[test]
fn imported_persons_are_pushed_once_even_when_answers_are_lost() {
    let server =
        ReferenceServer::start(0, None, faults("error_rate=0.1,truncate_rate=0.2,seed=5")).unwrap();
    let mut store = Store::open_in_memory().unwrap();
    import_people(&mut store, 40, "Push");
    let report = run_sync(&mut store, &client(&server.url()), &options(8, 100)).unwrap();

    assert_eq!(report.resources["persons"].pushed, 40, "{report:?}");
    assert_eq!(assert_no_duplicates(&server, "persons"), 40);
    assert_eq!(assert_no_duplicates(&server, "cardholders"), 40);
    assert_eq!(server.objects("persons").len(), 40);
    assert_eq!(server.objects("cardholders").len(), 40);
    for holder in server.objects("cardholders") {
        assert_eq!(holder["profile"], PROFILE_ID);
        assert!(holder["person"].is_string());
    }
    let status = store.status().unwrap();
    assert_eq!(
        (status.persons, status.cardholders, status.outbox_pending),
        (40, 40, 0)
    );
}

#[test]
fn a_server_that_is_down_gives_a_clear_error_and_loses_nothing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut store = Store::open_in_memory().unwrap();
    import_people(&mut store, 3, "Down");
    let client = Client::new(
        &format!("http://127.0.0.1:{port}"),
        ApiKey::new(KEY),
        RetryPolicy {
            max_attempts: 3,
            ..quick_retries()
        },
    )
    .unwrap();
    let err = run_sync(&mut store, &client, &options(8, 100)).unwrap_err();
    assert!(
        matches!(err, SyncError::Remote(RemoteError::Unreachable { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("cannot reach"), "{err}");
    assert!(!err.to_string().contains(KEY));
    assert!(err.next_step().contains("stay queued"));
    assert_eq!(store.status().unwrap().outbox_pending, 6);
}

#[test]
fn a_live_key_is_refused_by_the_reference_server_without_echoing_it() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    let client = Client::new(
        &server.url(),
        ApiKey::new("sk_live_secret42"),
        quick_retries(),
    )
    .unwrap();
    assert!(client.is_live());
    let mut store = Store::open_in_memory().unwrap();
    let err = run_sync(&mut store, &client, &options(1, 100)).unwrap_err();
    assert!(err.to_string().contains("test keys"), "{err}");
    assert!(!err.to_string().contains("secret42"));
}

fn write_profile(dir: &Path, url: &str) -> std::path::PathBuf {
    write_profile_with(dir, url, "")
}

/// A profile whose `[server]` also has the `server_lines`.
fn write_profile_with(dir: &Path, url: &str, server_lines: &str) -> std::path::PathBuf {
    let path = dir.join("profile.toml");
    let text = format!(
        "role = \"issuance\"\ndatabase = \"unused.sqlite\"\n[server]\nkind = \"cardexchange\"\n\
         url = \"{url}\"\napi_key_env = \"CARDSTATION_TEST_CX_KEY\"\ncardholder_profile = \"{PROFILE_ID}\"\n\
         {server_lines}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn cardstation_sync(profile: &Path, db: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cardstation"));
    command
        .arg("--profile")
        .arg(profile)
        .arg("--db")
        .arg(db)
        .args(["sync", "--once", "--json"])
        .env("CARDSTATION_TEST_CX_KEY", KEY)
        .env("CARDSTATION_LOG_DIR", db.parent().unwrap().join("logs"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The store after a crash: intact, every local object either on the server (remote id)
/// or with its create still queued.
fn assert_consistent(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let dangling: i64 = conn
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(dangling, 0);
    for table in ["persons", "cardholders"] {
        let lost: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {table} WHERE remote_id IS NULL AND id NOT IN
                     (SELECT local_id FROM outbox WHERE resource = '{table}' AND operation = 'create')"
                ),
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(lost, 0, "{table} neither on the server nor queued");
    }
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_duplicates_nothing() {
    const RUNS: usize = 24;
    const LATE_IMPORTS: usize = 8;
    let server =
        ReferenceServer::start(0, None, faults("delay_ms=3,error_rate=0.05,seed=9")).unwrap();
    server.seed_people(150).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.sqlite");
    let mut store = Store::open(&db).unwrap();
    import_people(&mut store, 60, "Crash");
    drop(store);
    let profile = write_profile(dir.path(), &server.url());

    let started = Instant::now();
    let mut rng = rand::thread_rng();
    let mut killed_while_running = 0;
    for run in 0..RUNS {
        // New imports before every run, so pushes are interrupted as well as pulls.
        import_people(
            &mut Store::open(&db).unwrap(),
            LATE_IMPORTS,
            &format!("Late{run}x"),
        );
        let mut child = cardstation_sync(&profile, &db).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..400)));
        if child.try_wait().unwrap().is_none() {
            killed_while_running += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert_consistent(&db);
        assert_no_duplicates(&server, "persons");
        assert_no_duplicates(&server, "cardholders");
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the crash runs take too long"
        );
    }
    assert!(
        killed_while_running >= RUNS / 2,
        "only {killed_while_running} runs were killed mid-sync"
    );

    let output = cardstation_sync(&profile, &db).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["outbox_pending"], 0, "{stdout}");
    assert!(last["last_sync"].is_string());
    // Per resource, one flat object of counts (the stored counts are not nested).
    let persons = &last["resources"]["persons"];
    for key in [
        "pushed",
        "refused",
        "gone",
        "pulled",
        "inserted",
        "updated",
        "unchanged",
        "skipped",
        "conflicts",
        "deleted_remotely",
    ] {
        assert!(persons[key].is_u64(), "{key} in {persons}");
    }

    let local = 60 + LATE_IMPORTS * RUNS;
    assert_eq!(assert_no_duplicates(&server, "persons"), local);
    assert_eq!(server.objects("persons").len(), 150 + local);
    assert_eq!(server.objects("cardholders").len(), 150 + local);
    let status = Store::open(&db).unwrap().status().unwrap();
    assert_eq!(status.persons as usize, 150 + local);
    assert_eq!(status.cardholders as usize, 150 + local);
    assert_eq!(status.cards, 150);
    assert_eq!(status.productions, 150);
}

#[test]
fn status_json_reports_the_last_sync() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    server.seed_people(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.sqlite");
    let profile = write_profile(dir.path(), &server.url());
    let output = cardstation_sync(&profile, &db).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status = Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .arg("--db")
        .arg(&db)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    let last: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["persons"], 2);
    assert!(last["last_sync"].is_string(), "{stdout}");
    assert_eq!(last["addresses"], 0, "{stdout}");
    assert_eq!(last["anonymous_sets"], 0, "{stdout}");
    assert_eq!(last["deleted_remotely"], 0, "{stdout}");
}

#[test]
fn a_cancelled_sync_stops_and_keeps_the_outbox() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    server.seed_people(30).unwrap();
    let mut store = Store::open_in_memory().unwrap();
    import_people(&mut store, 2, "Cancel");
    let cancel = Cancel::default();
    cancel.cancel();
    let err = run_sync_with(
        &mut store,
        &client(&server.url()),
        &options(8, 10),
        &|_| {},
        &cancel,
    )
    .unwrap_err();
    assert!(matches!(err, SyncError::Cancelled), "{err:?}");
    assert_eq!(store.status().unwrap().outbox_pending, 4);
    assert!(server.objects("persons").len() == 30);
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn id_of(object: &Value) -> String {
    object["id"].as_str().unwrap().to_owned()
}

#[test]
fn addresses_and_anonymous_sets_are_pulled_and_sets_own_their_cardholders() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    server.seed_people(2).unwrap();
    let client = client(&server.url());
    let person = id_of(&server.objects("persons")[0]);
    block_on(client.create(
        "addresses",
        &json!({"person": person, "type": "home", "streetAddress": "ul. Długa 1",
                "locality": "Kraków", "region": "małopolskie", "postalCode": "30-001",
                "country": "Polska"}),
    ))
    .unwrap();
    let set = block_on(client.create(
        "anonymous-sets",
        &json!({"profile": PROFILE_ID, "defaultName": "Goście", "quantity": 2}),
    ))
    .unwrap();
    assert_eq!(set["data"].as_array().unwrap().len(), 2);
    // Updating a set adds cards; a set cannot be deleted.
    let set =
        block_on(client.update("anonymous-sets", &id_of(&set), &json!({"quantity": 1}))).unwrap();
    assert_eq!(set["data"].as_array().unwrap().len(), 3);
    let refused = block_on(client.delete("anonymous-sets", &id_of(&set))).unwrap_err();
    assert!(
        matches!(refused, RemoteError::Problem { status: 405, .. }),
        "{refused}"
    );

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.sqlite");
    let mut store = Store::open(&db).unwrap();
    let report = run_sync(&mut store, &client, &options(4, 2)).unwrap();
    assert_eq!(
        report.resources["addresses"].stored.inserted, 1,
        "{report:?}"
    );
    assert_eq!(
        report.resources["anonymous_sets"].stored.inserted, 1,
        "{report:?}"
    );
    let status = store.status().unwrap();
    assert_eq!((status.addresses, status.anonymous_sets), (1, 1));
    assert_eq!((status.cardholders, status.cards), (5, 5));

    let conn = rusqlite::Connection::open(&db).unwrap();
    let members: i64 = conn
        .query_row(
            "SELECT count(*) FROM cardholders JOIN anonymous_sets AS s
             ON s.id = cardholders.anonymous_set_id
             WHERE s.default_name = 'Goście' AND cardholders.person_id IS NULL",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(members, 3);
    let (locality, owner): (String, String) = conn
        .query_row(
            "SELECT locality, persons.remote_id FROM addresses
             JOIN persons ON persons.id = addresses.person_id",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((locality.as_str(), owner), ("Kraków", person));

    // A second pull changes nothing and marks nothing.
    let again = run_sync(&mut store, &client, &options(4, 2)).unwrap();
    assert!(
        again
            .resources
            .values()
            .all(|moved| moved.stored.inserted == 0 && moved.deleted_remotely == 0),
        "{again:?}"
    );
}

#[test]
fn a_person_deleted_on_the_server_is_marked_after_the_next_sync() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    server.seed_people(5).unwrap();
    let client = client(&server.url());
    let mut store = Store::open_in_memory().unwrap();
    run_sync(&mut store, &client, &options(4, 2)).unwrap();
    let gone = id_of(&server.objects("persons")[3]);
    block_on(client.delete("persons", &gone)).unwrap();

    let report = run_sync(&mut store, &client, &options(4, 2)).unwrap();
    assert_eq!(
        report.resources["persons"].deleted_remotely, 1,
        "{report:?}"
    );
    assert_eq!(report.resources["cardholders"].deleted_remotely, 0);
    let status = store.status().unwrap();
    assert_eq!(
        (status.persons, status.deleted_remotely),
        (5, 1),
        "kept, marked"
    );

    let report = run_sync(&mut store, &client, &options(4, 2)).unwrap();
    assert_eq!(
        report.resources["persons"].deleted_remotely, 0,
        "marked once"
    );
    assert_eq!(store.status().unwrap().deleted_remotely, 1);
}

#[test]
fn a_pull_that_fails_midway_marks_nothing() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    server.seed_people(10).unwrap();
    let client = client(&server.url());
    let mut store = Store::open_in_memory().unwrap();
    run_sync(&mut store, &client, &options(2, 2)).unwrap();
    let persons = server.objects("persons");
    block_on(client.delete("persons", &id_of(&persons[9]))).unwrap();
    block_on(client.delete("persons", &id_of(&persons[0]))).unwrap();

    // Page 1 of persons and one more page answer; the server is down from then on.
    server.set_faults(faults("fail_after=2"));
    let err = run_sync(&mut store, &client, &options(2, 2)).unwrap_err();
    assert!(matches!(err, SyncError::Remote(_)), "{err:?}");
    assert_eq!(store.status().unwrap().deleted_remotely, 0);

    server.set_faults(ServerFaults::default());
    let report = run_sync(&mut store, &client, &options(2, 2)).unwrap();
    assert_eq!(
        report.resources["persons"].deleted_remotely, 2,
        "{report:?}"
    );
}

#[test]
fn a_card_whose_cardholder_was_deleted_on_the_server_is_refused_by_the_kiosk() {
    const UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    server.seed_people(2).unwrap();
    let client = client(&server.url());
    let card = id_of(&server.objects("cards")[0]);
    block_on(client.update(
        "cards",
        &card,
        &json!({"status": "activated",
                "metadata": {"type": "student", "contactUid": "04A1B2C3D4E5F6"}}),
    ))
    .unwrap();
    let mut store = Store::open_in_memory().unwrap();
    run_sync(&mut store, &client, &options(4, 10)).unwrap();
    let known = store.card_by_uid(&UID).unwrap().expect("the card is known");
    assert_eq!(known.refused, None);

    let holder = server.objects("cards")[0]["cardholder"]
        .as_str()
        .unwrap()
        .to_owned();
    block_on(client.delete("cardholders", &holder)).unwrap();
    let report = run_sync(&mut store, &client, &options(4, 10)).unwrap();
    assert_eq!(report.resources["cardholders"].deleted_remotely, 1);
    let refused = store.card_by_uid(&UID).unwrap().expect("still known");
    assert_eq!(
        refused.refused.map(|refusal| refusal.reason).as_deref(),
        Some("deleted on the server")
    );
    let card = store
        .find_card_by_uid(UidKind::Contact, &UID)
        .unwrap()
        .unwrap();
    assert!(card.deleted_remotely_at.is_some());
}

/// The server finds a page by position in a cached row order; a create or delete between
/// two listings must show in the next one (pages, total, last page).
#[test]
fn server_pages_follow_creates_and_deletes() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    server.seed_people(5).unwrap();
    let client = client(&server.url());
    let page_ids = |page: u32| {
        let listed: Page<Value> = block_on(client.list("persons", page, 2, &[])).unwrap();
        (listed.ids, listed.total, listed.last_page)
    };
    let all: Vec<String> = server.objects("persons").iter().map(id_of).collect();
    assert_eq!(page_ids(1), (all[0..2].to_vec(), 5, 3));
    assert_eq!(page_ids(3), (all[4..5].to_vec(), 5, 3));

    let created = block_on(client.create(
        "persons",
        &json!({"firstName": "Nowa", "lastName": "Osoba", "birthDate": "2001-02-03"}),
    ))
    .unwrap();
    assert_eq!(page_ids(3), (vec![all[4].clone(), id_of(&created)], 6, 3));

    block_on(client.delete("persons", &all[0])).unwrap();
    assert_eq!(page_ids(1), (all[1..3].to_vec(), 5, 3));
    assert_eq!(page_ids(4), (vec![], 5, 3));
}

/// `sync` without `--once` reports a server that is down and tries again at the next
/// interval, instead of exiting; once the server is back, the queued changes reach it.
#[test]
fn a_repeating_sync_outlives_a_server_that_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = dir.path().join("station.sqlite");
    import_people(&mut Store::open(&db).unwrap(), 3, "Loop");
    let profile = write_profile(dir.path(), &format!("http://127.0.0.1:{port}"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_cardstation"));
    command
        .arg("--profile")
        .arg(&profile)
        .arg("--db")
        .arg(&db)
        .args(["sync", "--every", "1", "--json"])
        .env("CARDSTATION_TEST_CX_KEY", KEY)
        .env("CARDSTATION_LOG_DIR", dir.path().join("logs"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut reported = Vec::new();
    while !reported
        .iter()
        .any(|line: &String| line.contains("trying again in 1 s"))
    {
        match received.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => reported.push(line),
            Err(err) => panic!("no failure reported: {err}; stderr: {reported:?}"),
        }
    }
    assert!(
        reported.iter().any(|line| line.contains("cannot reach")),
        "{reported:?}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "sync exited on the failure"
    );

    let server = ReferenceServer::start(port, None, ServerFaults::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Store::open(&db).unwrap().status().unwrap().outbox_pending > 0 {
        assert!(
            Instant::now() < deadline,
            "the queued people never reached the server"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(assert_no_duplicates(&server, "persons"), 3);
}

/// A card is created bare and its status follows in an update. When the server refuses
/// that update, the card stays created (no second create on the next sync), the update
/// waits in the outbox with the reason, and the rest of the sync goes on.
#[test]
fn a_refused_follow_up_update_of_a_new_card_waits_without_stopping_the_sync() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("station.sqlite");
    let mut store = Store::open(&db).unwrap();
    import_people(&mut store, 1, "Card");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let cardholder: i64 = conn
        .query_row("SELECT id FROM cardholders", [], |row| row.get(0))
        .unwrap();
    store
        .order_card(cardholder, CardType::Student, Some("C-1"), None, "test")
        .unwrap();
    let set_end_date = |end_date: &str| {
        conn.execute(
            "UPDATE outbox SET payload = json_set(payload, '$.endDate', ?1) WHERE resource = 'cards'",
            [end_date],
        )
        .unwrap()
    };
    // The server refuses the update (422), as it would a record it finds wrong.
    assert_eq!(set_end_date("end of term"), 1);
    let client = client(&server.url());

    for _ in 0..2 {
        let report = run_sync(&mut store, &client, &options(2, 100)).unwrap();
        assert_eq!(report.resources["cards"].refused, 1, "{report:?}");
        assert_eq!(
            server.objects("cards").len(),
            1,
            "the card was created again"
        );
        // The production waits for its card's status.
        assert_eq!(report.resources["productions"].refused, 1, "{report:?}");
        let (operation, error): (String, Option<String>) = conn
            .query_row(
                "SELECT operation, last_error FROM outbox WHERE resource = 'cards'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(operation, "update");
        assert!(error.unwrap().contains("endDate"));
    }

    set_end_date("2027-03-31");
    let report = run_sync(&mut store, &client, &options(2, 100)).unwrap();
    assert_eq!(report.resources["cards"].pushed, 1, "{report:?}");
    assert_eq!(report.resources["productions"].pushed, 1, "{report:?}");
    // The production the server opened is the one ordered here: one row on each side.
    assert_eq!(server.objects("productions").len(), 1);
    assert_eq!(store.status().unwrap().productions, 1);
    let report = run_sync(&mut store, &client, &options(2, 100)).unwrap();
    assert_eq!(
        report.resources["productions"].stored.inserted, 0,
        "{report:?}"
    );
    assert_eq!(store.status().unwrap().productions, 1);
    assert_eq!(store.status().unwrap().outbox_pending, 0);
    assert_eq!(server.objects("cards")[0]["status"], "in_production");
}

/// A server whose first card is activated with this contact UID, and a store synced with it.
fn server_with_a_known_card(people: usize) -> (ReferenceServer, Client, String) {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    server.seed_people(people).unwrap();
    let client = client(&server.url());
    let card = id_of(&server.objects("cards")[0]);
    block_on(client.update(
        "cards",
        &card,
        &json!({"status": "activated",
                "metadata": {"type": "student", "contactUid": "04A1B2C3D4E5F6"}}),
    ))
    .unwrap();
    (server, client, card)
}

const KNOWN_UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];

#[test]
fn a_block_at_a_desk_reaches_the_kiosk_in_one_revocation_poll() {
    let (server, client, _) = server_with_a_known_card(30);
    let mut desk = Store::open_in_memory().unwrap();
    let mut kiosk = Store::open_in_memory().unwrap();
    run_sync(&mut desk, &client, &options(4, 100)).unwrap();
    run_sync(&mut kiosk, &client, &options(4, 100)).unwrap();
    assert_eq!(
        kiosk.card_by_uid(&KNOWN_UID).unwrap().unwrap().refused,
        None
    );
    let mut poller = RevocationPoller::default();
    let first = block_on(poller.poll(&mut kiosk, &client, Duration::from_secs(60))).unwrap();
    assert_eq!(first.requests, 7, "one page per refusal status: {first:?}");

    let card = desk
        .find_card_by_uid(UidKind::Contact, &KNOWN_UID)
        .unwrap()
        .unwrap();
    desk.set_card_status(card.id, CardStatus::Blocked, "desk", "lost")
        .unwrap();
    let pushed = run_sync(&mut desk, &client, &options(4, 100)).unwrap();
    assert_eq!(pushed.resources["cards"].pushed, 1, "{pushed:?}");

    let before = server.requests();
    let polled = block_on(poller.poll(&mut kiosk, &client, Duration::from_secs(60))).unwrap();
    assert_eq!(
        (polled.requests, polled.stored.updated),
        (7, 1),
        "{polled:?}"
    );
    assert_eq!(server.requests() - before, 7);
    let refused = kiosk.card_by_uid(&KNOWN_UID).unwrap().unwrap().refused;
    assert!(refused.is_some(), "blocked at the kiosk after one poll");
    assert!(kiosk.status().unwrap().last_revocation_poll.is_some());
    let (age, limit) = kiosk.revocations_age().unwrap();
    assert!(age < Duration::from_secs(5) && limit == Duration::from_secs(60));
}

#[test]
fn a_status_with_more_than_one_page_is_read_whole_only_when_its_total_changes() {
    let (_server, client, _) = server_with_a_known_card(250);
    let cards: Vec<Value> = {
        let page: Page<Value> = block_on(client.list("cards", 1, 100, &[])).unwrap();
        page.items
    };
    for card in &cards[1..] {
        block_on(client.update("cards", &id_of(card), &json!({"status": "expired"}))).unwrap();
    }
    let mut kiosk = Store::open_in_memory().unwrap();
    run_sync(&mut kiosk, &client, &options(4, 100)).unwrap();
    let mut poller = RevocationPoller::default();
    let stale_after = Duration::from_secs(60);
    // 99 expired: one page; every other status: one (empty) page.
    assert_eq!(
        block_on(poller.poll(&mut kiosk, &client, stale_after))
            .unwrap()
            .requests,
        7
    );
    let more: Page<Value> = block_on(client.list("cards", 2, 100, &[])).unwrap();
    for card in &more.items[..50] {
        block_on(client.update("cards", &id_of(card), &json!({"status": "expired"}))).unwrap();
    }
    let grown = block_on(poller.poll(&mut kiosk, &client, stale_after)).unwrap();
    assert_eq!((grown.requests, grown.stored.updated), (8, 50), "{grown:?}");
    let steady = block_on(poller.poll(&mut kiosk, &client, stale_after)).unwrap();
    assert_eq!(
        (steady.requests, steady.stored.updated),
        (7, 0),
        "{steady:?}"
    );
    block_on(client.update(
        "cards",
        cards[0]["id"].as_str().unwrap(),
        &json!({"status": "expired"}),
    ))
    .unwrap();
    let one_more = block_on(poller.poll(&mut kiosk, &client, stale_after)).unwrap();
    assert_eq!(
        (one_more.requests, one_more.stored.updated),
        (8, 1),
        "{one_more:?}"
    );
    assert!(
        kiosk
            .card_by_uid(&KNOWN_UID)
            .unwrap()
            .unwrap()
            .refused
            .is_some()
    );
}

#[test]
fn the_background_sync_brings_a_block_to_the_kiosk_within_seconds() {
    let (_server, client, card) = server_with_a_known_card(10);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kiosk.sqlite");
    let profile = write_profile(dir.path(), client.base_url());
    let text = std::fs::read_to_string(&profile)
        .unwrap()
        .replace("issuance", "kiosk")
        + "[sync]\nrevocation_every_seconds = 1\n";
    std::fs::write(&profile, text).unwrap();
    let mut watch = Command::new(env!("CARGO_BIN_EXE_cardstation"));
    watch
        .arg("--profile")
        .arg(&profile)
        .arg("--db")
        .arg(&db)
        .args(["sync", "--watch"])
        .env("CARDSTATION_TEST_CX_KEY", KEY)
        .env("CARDSTATION_LOG_DIR", dir.path().join("logs"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = watch.spawn().unwrap();
    // Read-only and without `Store::open`, which would migrate the file the child is
    // creating: the card's status, once the first sync stored it.
    let refused = |db: &Path| {
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .ok()?;
        let status: String = conn
            .query_row(
                "SELECT status FROM cards WHERE contact_uid = '04A1B2C3D4E5F6'",
                [],
                |row| row.get(0),
            )
            .ok()?;
        Some(status != "activated")
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while refused(&db) != Some(false) {
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "the first full sync never finished: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    block_on(client.update("cards", &card, &json!({"status": "blocked"}))).unwrap();
    let blocked_at = Instant::now();
    while refused(&db) != Some(true) {
        assert!(
            blocked_at.elapsed() < Duration::from_secs(5),
            "the block did not arrive within 5 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = blocked_at.elapsed();
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("blocked cards every 1 s"), "{stderr}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

#[test]
fn plain_http_is_refused_for_any_server_off_this_machine() {
    let err = Client::new(
        "http://cx.example.edu.pl",
        ApiKey::new(KEY),
        quick_retries(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("https://") && err.contains("only for this machine"),
        "{err}"
    );
    for (section, keys) in [
        ("server", "kind = \"cardexchange\"\napi_key_env = \"K\""),
        (
            "usos",
            "consumer_key_env = \"K\"\nconsumer_secret_env = \"S\"",
        ),
        ("id123", "api_key_env = \"K\""),
    ] {
        for (url, accepted) in [
            ("http://usos.example.edu.pl", false),
            ("http://127.0.0.1:9", true),
        ] {
            let text = format!(
                "role = \"issuance\"\ndatabase = \"x\"\n[{section}]\nurl = \"{url}\"\n{keys}\n"
            );
            let parsed = cardstation::config::Profile::parse(&text, "p");
            assert_eq!(parsed.is_ok(), accepted, "{section} {url}: {parsed:?}");
            if let Err(err) = parsed {
                let message = err.to_string();
                assert!(
                    message.contains(&format!("{section}.url must start with https://")),
                    "{message}"
                );
                assert!(err.next_step().contains("fix the profile"));
            }
        }
    }
}

/// Peak resident memory of this test process, in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

#[test]
fn an_enormous_body_is_refused_without_reading_it_all() {
    let server = ReferenceServer::start(0, None, faults("huge_body=10000000000")).unwrap();
    let client = client(&server.url());
    let started = Instant::now();
    let err = block_on(client.list::<Value>("persons", 1, 100, &[])).unwrap_err();
    assert!(matches!(err, RemoteError::TooLarge { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("the answer is 9536 MiB, more than the 64 MiB"),
        "{err}"
    );
    assert!(err.next_step().contains("[server] url"));
    assert_eq!(server.requests(), 1, "not retried");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused by its length"
    );

    // No length: read until the limit, then refused; 2 GiB offered, 64 MiB held at most.
    server.set_faults(faults("huge_body_unsized=2000000000"));
    let err = block_on(client.list::<Value>("persons", 1, 100, &[])).unwrap_err();
    assert!(
        err.to_string()
            .contains("the answer is longer, more than the 64 MiB"),
        "{err}"
    );
    assert!(peak_rss_mib() < 1000, "peak {} MiB", peak_rss_mib());
    let small = client.clone().with_max_body(1 << 20);
    let err = block_on(small.list::<Value>("persons", 1, 100, &[])).unwrap_err();
    assert!(err.to_string().contains("more than the 1 MiB"), "{err}");

    let mut store = Store::open_in_memory().unwrap();
    let err = run_sync(&mut store, &small, &options(2, 100)).unwrap_err();
    assert!(
        matches!(err, SyncError::Remote(RemoteError::TooLarge { .. })),
        "{err:?}"
    );
}

#[test]
fn a_pull_that_lists_none_of_the_stores_objects_is_refused_and_marks_nothing() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    server.seed_people(20).unwrap();
    let mut store = Store::open_in_memory().unwrap();
    run_sync(&mut store, &client(&server.url()), &options(4, 100)).unwrap();
    let before = store.status().unwrap();
    assert_eq!(before.persons, 20);

    // Another, empty server behind the same profile (a wiped database, the test environment).
    let empty = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    let err = run_sync(&mut store, &client(&empty.url()), &options(4, 100)).unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::MassDeletion {
                listed: 0,
                known: 20,
                unlisted: 20,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with("the server lists 0 persons, but 20 of the 20"),
        "{message}"
    );
    assert!(
        err.next_step().contains("--accept-deletions"),
        "{}",
        err.next_step()
    );
    let after = store.status().unwrap();
    assert_eq!(after.deleted_remotely, 0);
    assert_eq!(
        (after.persons, after.cards, after.last_sync),
        (before.persons, before.cards, before.last_sync)
    );

    let accepting = SyncOptions {
        accept_deletions: true,
        ..options(4, 100)
    };
    let report = run_sync(&mut store, &client(&empty.url()), &accepting).unwrap();
    assert_eq!(
        report.resources["persons"].deleted_remotely, 20,
        "{report:?}"
    );
}

#[test]
fn an_html_error_page_is_summarised_in_one_line() {
    let server = ReferenceServer::start(0, None, faults("html_errors=true,fail_after=0")).unwrap();
    let client = Client::new(
        &server.url(),
        ApiKey::new(KEY),
        RetryPolicy {
            max_attempts: 2,
            ..quick_retries()
        },
    )
    .unwrap();
    let err = block_on(client.list::<Value>("persons", 1, 100, &[])).unwrap_err();
    let message = err.to_string();
    assert_eq!(
        message,
        "Service Unavailable (503): text/html answer: 503 Service Temporarily Unavailable \
         503 Service Temporarily Unavailable nginx"
    );
    assert!(err.is_transient());
}

/// Two pushes of one store at once (a `sync --once` beside a window's background sync, or
/// the child of a killed wrapper still running): the second waits for the first's lock, so
/// no create is sent by both.
#[test]
fn two_pushes_of_one_store_at_once_create_each_person_once() {
    const PEOPLE: usize = 30;
    let server = ReferenceServer::start(0, None, faults("delay_ms=5")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.sqlite");
    import_people(&mut Store::open(&db).unwrap(), PEOPLE, "Twice");
    let url = server.url();
    let pushes: Vec<_> = (0..2)
        .map(|_| {
            let (db, url) = (db.clone(), url.clone());
            std::thread::spawn(move || {
                let mut store = Store::open(&db).unwrap();
                run_sync(&mut store, &client(&url), &options(2, 100)).unwrap()
            })
        })
        .collect();
    let pushed: usize = pushes
        .into_iter()
        .map(|push| push.join().unwrap().resources["persons"].pushed)
        .sum();

    assert_eq!(assert_no_duplicates(&server, "persons"), PEOPLE);
    assert_eq!(server.objects("persons").len(), PEOPLE);
    assert_eq!(server.objects("cardholders").len(), PEOPLE);
    assert_eq!(pushed, PEOPLE, "each person pushed by one of the two");
    assert_eq!(
        Store::open(&db).unwrap().status().unwrap().outbox_pending,
        0
    );
}

/// A cardholder whose person the server refused waits for it instead of being made without
/// its person; once the person is corrected both go, linked.
#[test]
fn a_cardholder_waits_for_its_refused_person_instead_of_being_made_without_it() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.sqlite");
    let mut store = Store::open(&db).unwrap();
    import_people(&mut store, 1, "Orphan");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let set_birth_date = |birth_date: &str| {
        conn.execute(
            "UPDATE outbox SET payload = json_set(payload, '$.birthDate', ?1)
             WHERE resource = 'persons'",
            [birth_date],
        )
        .unwrap()
    };
    // The server refuses the person (422).
    assert_eq!(set_birth_date("spring of 2002"), 1);
    let client = client(&server.url());

    let report = run_sync(&mut store, &client, &options(2, 100)).unwrap();
    assert_eq!(report.resources["persons"].refused, 1, "{report:?}");
    assert_eq!(report.resources["cardholders"].refused, 1, "{report:?}");
    assert!(
        server.objects("cardholders").is_empty(),
        "made without its person"
    );
    let waiting: String = conn
        .query_row(
            "SELECT last_error FROM outbox WHERE resource = 'cardholders'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(waiting.contains("person is not on the server"), "{waiting}");

    set_birth_date("2002-03-04");
    let report = run_sync(&mut store, &client, &options(2, 100)).unwrap();
    assert_eq!(report.resources["cardholders"].pushed, 1, "{report:?}");
    let person = id_of(&server.objects("persons")[0]);
    assert_eq!(server.objects("cardholders")[0]["person"], person);
    assert_eq!(store.status().unwrap().outbox_pending, 0);
}

/// The lookup of a create whose answer was lost reads past the first page of the search:
/// a search looser than the id (here, objects whose names mention it) lists others first.
#[test]
fn a_lost_create_is_found_past_the_first_page_of_the_search() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    let client = client(&server.url());
    let operation_id = "7d0c4f0e-0000-4000-8000-00000000beef";
    let person = |first_name: &str, metadata: Value| {
        json!({"firstName": first_name, "lastName": "Szukana", "birthDate": "2001-01-01",
               "metadata": metadata})
    };
    block_on(async {
        for number in 0..120 {
            let mentions = person(&format!("{operation_id} {number}"), json!({}));
            client.create("persons", &mentions).await.unwrap();
        }
        let made = client
            .create(
                "persons",
                &person("Made", json!({"operationId": operation_id})),
            )
            .await
            .unwrap();
        let found = client
            .find_by_operation_id("persons", operation_id)
            .await
            .unwrap()
            .expect("the lost create is found");
        assert_eq!(found["id"], made["id"]);
        // A retried create (a run after a crash) takes the one made instead of a second.
        let again = client
            .create_once(
                "persons",
                &person("Made", json!({"operationId": operation_id})),
                operation_id,
                true,
            )
            .await
            .unwrap();
        assert_eq!(again["id"], made["id"]);
    });
    assert_eq!(server.objects("persons").len(), 121);
}

/// The outbox rows and the tries counted on them: either changes once a push has begun.
fn push_state(db: &Path) -> (i64, i64) {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT count(*), coalesce(sum(attempts), 0) FROM outbox",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap()
}

/// Rows in the outbox of the store at `db`.
fn outbox_pending(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT count(*) FROM outbox", [], |row| row.get(0))
        .unwrap()
}

/// Each local row of `table` on the server once: remote ids set and all different, and the
/// same set as the server's objects of that resource.
fn assert_one_to_one(db: &Path, server: &ReferenceServer, table: &str) -> usize {
    let conn = rusqlite::Connection::open(db).unwrap();
    let local: Vec<Option<String>> = conn
        .prepare(&format!("SELECT remote_id FROM {table}"))
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let local: Vec<String> = local
        .into_iter()
        .map(|id| id.unwrap_or_else(|| panic!("a local {table} row has no remote id")))
        .collect();
    let distinct: HashSet<&String> = local.iter().collect();
    assert_eq!(
        distinct.len(),
        local.len(),
        "two local {table} rows share one"
    );
    let on_server: HashSet<String> = server.objects(table).iter().map(id_of).collect();
    assert_eq!(on_server.len(), server.objects(table).len());
    assert_eq!(
        distinct,
        on_server.iter().collect(),
        "local {table} and the server's differ"
    );
    local.len()
}

/// `cardstation sync` killed with SIGKILL every few dozen milliseconds, over the whole push
/// of 200 new persons with their cardholders and ordered cards, against a server that fails
/// 10% of requests with 503, answers every 11th with 429 and cuts 2% of its answers in half
/// after doing what was asked: each object is made exactly once, and nothing is lost.
#[test]
fn a_push_killed_every_few_ms_makes_each_object_exactly_once() {
    const PEOPLE: usize = 200;
    const MIN_KILLS: usize = 50;
    // From the child's start: it opens the store and begins the push in about 40 ms (debug),
    // then waits up to the request timeout for a create the killed run had in flight; on a
    // loaded machine runs that get nowhere make the next ones wait longer.
    const KILL_AFTER: [u64; 4] = [250, 300, 350, 400];
    let mut slower = 0;
    let server = ReferenceServer::start(
        0,
        None,
        faults(
            "error_rate=0.10,429_every=11,retry_after_s=0,truncate_rate=0.02,delay_ms=2,seed=17",
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.sqlite");
    let mut store = Store::open(&db).unwrap();
    import_people(&mut store, PEOPLE, "Kill");
    let holders: Vec<i64> = rusqlite::Connection::open(&db)
        .unwrap()
        .prepare("SELECT id FROM cardholders ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for holder in holders {
        store
            .order_card(holder, CardType::Student, None, None, "test")
            .unwrap();
    }
    drop(store);
    // A run started after a kill waits this long for what the killed one had in flight.
    let profile = write_profile_with(dir.path(), &server.url(), "request_timeout_ms = 200\n");

    let started = Instant::now();
    let (mut kills, mut mid_push, mut with_progress) = (0, 0, 0);
    loop {
        let before = push_state(&db);
        let mut child = cardstation_sync(&profile, &db).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(
            KILL_AFTER[kills % KILL_AFTER.len()] + slower,
        ));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        kills += 1;
        let after = push_state(&db);
        // Killed after the push began (a try was counted or a row retired) and before it ended.
        if after.0 > 0 && after != before {
            mid_push += 1;
            with_progress += usize::from(after.0 < before.0);
        }
        slower = if after.0 == before.0 {
            slower + 10
        } else {
            slower.saturating_sub(10)
        };
        assert_consistent(&db);
        for resource in ["persons", "cardholders", "cards"] {
            assert_no_duplicates(&server, resource);
        }
        if after.0 == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "{kills} kills took too long"
        );
    }
    println!(
        "{kills} kills, {mid_push} of them mid-push ({with_progress} after it retired a row), \
         in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        mid_push >= MIN_KILLS,
        "only {mid_push} kills landed mid-push: lower KILL_AFTER or raise delay_ms"
    );

    // The clean sync with the usual timeout: its pull reads pages of 100.
    let profile = write_profile(dir.path(), &server.url());
    let output = cardstation_sync(&profile, &db).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(outbox_pending(&db), 0);
    for resource in ["persons", "cardholders", "cards"] {
        assert_eq!(
            assert_no_duplicates(&server, resource),
            PEOPLE,
            "{resource}"
        );
        assert_eq!(
            assert_one_to_one(&db, &server, resource),
            PEOPLE,
            "{resource}"
        );
    }
    assert_eq!(assert_one_to_one(&db, &server, "productions"), PEOPLE);
    let persons: HashSet<String> = server.objects("persons").iter().map(id_of).collect();
    let holders: HashSet<String> = server.objects("cardholders").iter().map(id_of).collect();
    for holder in server.objects("cardholders") {
        assert!(
            persons.contains(holder["person"].as_str().unwrap()),
            "{holder}"
        );
    }
    for card in server.objects("cards") {
        assert!(
            holders.contains(card["cardholder"].as_str().unwrap()),
            "{card}"
        );
        // The status that follows a card's create was not lost with an answer.
        assert_eq!(card["status"], "in_production", "{card}");
    }
}

/// `cardstation sync` killed while the server is still making its first create, and started
/// again at once: the new run waits for what the killed one sent before looking it up, so
/// a server that finishes what it started does not get the create twice.
#[test]
fn a_sync_restarted_while_the_killed_ones_create_is_still_being_made_makes_it_once() {
    let server = ReferenceServer::start(0, None, faults("create_delay_ms=600")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.sqlite");
    import_people(&mut Store::open(&db).unwrap(), 2, "InFlight");
    let profile = write_profile_with(dir.path(), &server.url(), "request_timeout_ms = 2000\n");
    let tried = || -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT max(attempts) FROM outbox", [], |row| row.get(0))
            .unwrap()
    };

    let mut child = cardstation_sync(&profile, &db).spawn().unwrap();
    let started = Instant::now();
    while tried() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the push never began"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // The first person's create is on its way, and takes the server 600 ms.
    std::thread::sleep(Duration::from_millis(100));
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    assert!(
        server.objects("persons").is_empty(),
        "killed after the create was made"
    );

    let output = cardstation_sync(&profile, &db).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(assert_no_duplicates(&server, "persons"), 2);
    assert_eq!(server.objects("persons").len(), 2);
    assert_eq!(server.objects("cardholders").len(), 2);
    assert_eq!(outbox_pending(&db), 0);
}

/// The server's object `id` of `resource`.
fn server_object(server: &ReferenceServer, resource: &str, id: &str) -> Option<Value> {
    server
        .objects(resource)
        .into_iter()
        .find(|object| object["id"] == id)
}

/// The server's production of card `card` (a remote id), if it has one.
fn production_of(server: &ReferenceServer, card: &str) -> Option<Value> {
    server
        .objects("productions")
        .into_iter()
        .find(|production| production["card"] == card)
}

#[test]
fn a_reprint_a_cancel_and_a_withdrawal_at_the_print_station_reach_the_server() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("station.sqlite")).unwrap();
    import_people(&mut store, 2, "Print");
    let cardholders: Vec<i64> = (1..=2)
        .map(|n| store.cardholders_of_person(n).unwrap()[0].id)
        .collect();
    let ordered: Vec<i64> = cardholders
        .iter()
        .map(|holder| {
            store
                .order_card(*holder, CardType::Student, None, None, "ala")
                .unwrap()
        })
        .collect();
    let (reprinted, cancelled) = (ordered[0], ordered[1]);
    let client = client(&server.url());
    run_sync(&mut store, &client, &options(2, 100)).unwrap();
    let card_of = |store: &Store, production: i64| {
        let card = store.get_production(production).unwrap().card_id;
        store
            .remote_id(Resource::Cards, card)
            .unwrap()
            .expect("the card is on the server")
    };
    let (card_a, card_b) = (card_of(&store, reprinted), card_of(&store, cancelled));
    assert_eq!(server.objects("productions").len(), 2);

    let printed = |store: &mut Store, id| store.record_printed(&common::printed(id)).unwrap();
    printed(&mut store, reprinted);
    run_sync(&mut store, &client, &options(2, 100)).unwrap();
    assert_eq!(
        server_object(&server, "cards", &card_a).unwrap()["status"],
        "personalized"
    );
    assert!(
        production_of(&server, &card_a).is_none(),
        "the API drops a production once its card leaves in_production"
    );

    store.request_reprint(reprinted, "ewa", "damaged").unwrap();
    store
        .cancel_production(cancelled, "ewa", "ordered twice")
        .unwrap();
    let report = run_sync(&mut store, &client, &options(2, 100)).unwrap();
    for resource in ["cards", "productions"] {
        assert_eq!(report.resources[resource].refused, 0, "{report:?}");
    }
    assert_eq!(store.status().unwrap().outbox_pending, 0, "{report:?}");
    // The reprint: the card is back in production, the server opened a production for it
    // and the station's is that one, with the first print's try counted.
    assert_eq!(
        server_object(&server, "cards", &card_a).unwrap()["status"],
        "in_production"
    );
    let reopened = production_of(&server, &card_a).expect("a production for the reprint");
    assert_eq!(reopened["numberOfTries"], 1);
    assert_eq!(
        store
            .remote_id(Resource::Productions, reprinted)
            .unwrap()
            .as_deref(),
        reopened["id"].as_str()
    );
    // The cancel: the card is withdrawn, its production gone.
    assert_eq!(
        server_object(&server, "cards", &card_b).unwrap()["status"],
        "withdrawn"
    );
    assert!(production_of(&server, &card_b).is_none());
    // The pull brought no second copy of the reprint into the queue.
    let queue: Vec<i64> = store
        .productions_to_produce(10)
        .unwrap()
        .iter()
        .map(|production| production.id)
        .collect();
    assert_eq!(queue, [reprinted]);
    assert_eq!(store.status().unwrap().productions, 2);
    assert_eq!(
        store.get_production(cancelled).unwrap().status,
        ProductionStatus::Cancelled
    );

    // The reprint prints (its second try), then the card is taken back.
    assert_eq!(printed(&mut store, reprinted).number_of_tries, 2);
    store
        .withdraw_production(reprinted, "ewa", "left the university")
        .unwrap();
    let report = run_sync(&mut store, &client, &options(2, 100)).unwrap();
    assert_eq!(store.status().unwrap().outbox_pending, 0, "{report:?}");
    assert_eq!(
        server_object(&server, "cards", &card_a).unwrap()["status"],
        "withdrawn"
    );
    assert!(server.objects("productions").is_empty());
    assert_eq!(
        store.get_production(reprinted).unwrap().status,
        ProductionStatus::Withdrawn
    );
    assert!(store.productions_to_produce(10).unwrap().is_empty());
}

/// A station offline from the order on: the card is ordered, printed and reprinted before
/// its first push. The push replays it in order and the reprint's production ends up linked
/// to the production the server opened last.
#[test]
fn an_order_printed_and_reprinted_before_its_first_push_ends_linked_to_the_servers_production() {
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("station.sqlite")).unwrap();
    import_people(&mut store, 1, "Offline");
    let holder = store.cardholders_of_person(1).unwrap()[0].id;
    let production = store
        .order_card(holder, CardType::Student, None, None, "ala")
        .unwrap();
    store.record_printed(&common::printed(production)).unwrap();
    store
        .request_reprint(production, "ewa", "misprint")
        .unwrap();

    let client = client(&server.url());
    let report = run_sync(&mut store, &client, &options(2, 100)).unwrap();
    assert_eq!(store.status().unwrap().outbox_pending, 0, "{report:?}");
    let card = store
        .remote_id(
            Resource::Cards,
            store.get_production(production).unwrap().card_id,
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        server_object(&server, "cards", &card).unwrap()["status"],
        "in_production"
    );
    let open = production_of(&server, &card).expect("the reprint's production");
    assert_eq!(open["numberOfTries"], 1);
    assert_eq!(
        store
            .remote_id(Resource::Productions, production)
            .unwrap()
            .as_deref(),
        open["id"].as_str()
    );
    assert_eq!(
        store.status().unwrap().productions,
        1,
        "no second copy pulled"
    );
    assert_eq!(store.productions_to_produce(10).unwrap().len(), 1);
}

/// A `width` × `height` JPEG, as a camera's file would be.
fn camera_jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(&image)
        .unwrap();
    bytes
}

#[test]
fn a_photo_set_at_one_desk_reaches_another_through_the_server_and_hostile_photos_are_refused() {
    use cardstation::render::portrait::{self, PhotoFrame};
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    let client = client(&server.url());
    let mut desk_a = Store::open_in_memory().unwrap();
    import_people(&mut desk_a, 1, "Foto");
    run_sync(&mut desk_a, &client, &options(2, 10)).unwrap();

    let person_a = desk_a.search_people("foto0", 1).unwrap()[0].id;
    let photo = portrait::prepare(&camera_jpeg(1200, 1600), PhotoFrame::STUDENT_CARD).unwrap();
    desk_a
        .set_person_photo(person_a, &photo.jpeg, "anna")
        .unwrap();
    let report = run_sync(&mut desk_a, &client, &options(2, 10)).unwrap();
    assert_eq!(report.resources["persons"].pushed, 1, "{report:?}");
    let on_server = server.objects("persons");
    assert_eq!(on_server.len(), 1);
    let remote_id = id_of(&on_server[0]);
    assert_eq!(
        portrait::from_base64(on_server[0]["photo"].as_str().unwrap()).unwrap(),
        photo.jpeg,
        "the server has the desk's photo"
    );

    // The server's API refuses a photo that is not one, naming the field.
    for (bad, why) in [
        (json!("%%% not base64"), "not base64"),
        (json!(portrait::to_base64(b"GIF89a..")), "not a JPEG or PNG"),
        (
            json!(portrait::to_base64(&vec![
                0xFF;
                portrait::MAX_STORED_BYTES + 1
            ])),
            "at most",
        ),
    ] {
        let fields =
            json!({"firstName": "A", "lastName": "B", "birthDate": "2001-02-03", "photo": bad});
        let err = block_on(client.update("persons", &remote_id, &fields)).unwrap_err();
        assert!(
            matches!(&err, RemoteError::Problem { status: 400, errors, .. } if errors.contains_key("photo")),
            "{err:?}"
        );
        assert!(err.to_string().contains(why), "{why}: {err}");
    }

    // Desk B gets the photo with the person; persons whose photos are hostile (as a faulty
    // server would send them) come with them, without a photo, and the pull goes on.
    server.seed_people(3).unwrap();
    let seeded: Vec<String> = server.objects("persons")[1..].iter().map(id_of).collect();
    let bomb = {
        // A PNG header declaring 60000 × 60000 pixels.
        let mut header = 60_000u32.to_be_bytes().to_vec();
        header.extend(60_000u32.to_be_bytes());
        header.extend([8, 2, 0, 0, 0]);
        let mut crc = crc32fast::Hasher::new();
        crc.update(b"IHDR");
        crc.update(&header);
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(&header);
        png.extend(crc.finalize().to_be_bytes());
        png
    };
    for (id, hostile) in seeded.iter().zip([
        json!("%%% not base64"),
        json!(portrait::to_base64(&bomb)),
        json!({"url": "http://example.invalid/p.jpg"}),
    ]) {
        assert!(server.put_person_photo_unchecked(id, hostile));
    }
    let mut desk_b = Store::open_in_memory().unwrap();
    let report = run_sync(&mut desk_b, &client, &options(2, 10)).unwrap();
    assert_eq!(report.resources["persons"].stored.inserted, 4, "{report:?}");
    assert_eq!(report.resources["persons"].stored.skipped, 0, "{report:?}");
    let person_b = desk_b.search_people("foto0", 1).unwrap()[0].id;
    assert_eq!(
        desk_b.person_photo(person_b).unwrap(),
        Some(photo.jpeg.clone())
    );
    let others = desk_b.search_people("kowalska", 10).unwrap();
    assert_eq!(others.len(), 3);
    for other in others {
        assert_eq!(desk_b.person_photo(other.id).unwrap(), None);
    }
}
