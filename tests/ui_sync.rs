//! The window's background sync against the reference server over HTTP (iced_test's
//! simulator, ICED_TEST_BACKEND=tiny-skia): the worker the window's Subscription starts is
//! run here and its reports go into `update`, as the iced runtime would. A change at the
//! desk reaches the server with no click; a failing server shows its cause and next step on
//! the status bar while the outbox keeps the change; "Sync now" sends it once the server is
//! back; a rate limit and a refused key each say what to do.

#![cfg(feature = "gui")]

use std::time::{Duration, Instant};

use cardstation::config::{Server, ServerKind};
use cardstation::store::{Resource, Store};
use cardstation::ui::{App, Message, desk, status};
use cardstation_refserver::ReferenceServer;
use serde_json::Value;
mod ui_harness;

use ui_harness::{SyncWorker, english_demo, send, shows, sign_in};

const KEY_VAR: &str = "CARDSTATION_UI_SYNC_KEY";
/// Holds a key the reference server refuses (it takes sk_test_ keys only).
const REFUSED_KEY_VAR: &str = "CARDSTATION_UI_SYNC_REFUSED_KEY";
const DEADLINE: Duration = Duration::from_secs(90);

fn server_card(server: &ReferenceServer, remote_id: &str) -> Value {
    server
        .objects("cards")
        .into_iter()
        .find(|card| card["id"] == remote_id)
        .expect("the card is on the server")
}

fn pending(app: &App) -> Option<i64> {
    match &app.status.store {
        Some(Ok(summary)) => Some(summary.outbox_pending),
        _ => None,
    }
}

#[test]
fn a_desk_change_reaches_the_server_by_itself_and_a_failing_server_keeps_it_queued() {
    let server = ReferenceServer::start(0, None, Default::default()).unwrap();
    // SAFETY: this test binary has one test and sets the variable before any thread reads it.
    unsafe {
        std::env::set_var(KEY_VAR, "sk_test_window_sync");
        std::env::set_var(REFUSED_KEY_VAR, "sk_live_not_for_this_server");
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let with_key = |api_key_env: &str| {
        let mut profile = english_demo();
        profile.server = Some(Server {
            kind: ServerKind::Cardexchange,
            url: server.url(),
            api_key_env: api_key_env.into(),
            cardholder_profile: Some("students".into()),
            request_timeout_ms: None,
        });
        profile
    };
    let profile = with_key(KEY_VAR);

    let (mut app, _boot) = App::boot(profile, Some(database.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "anna", "1111");
    assert!(app.desk.is_some(), "signed in");
    let demo_pending = runtime
        .block_on(async { Store::open(&database).unwrap().sync_summary() })
        .unwrap()
        .outbox_pending;
    assert!(
        demo_pending > 0,
        "the demo store starts with changes to push"
    );

    // The worker's first round is a full sync: the demo's people, cardholders and cards go
    // to the server, and the bar says when.
    let worker = SyncWorker::start(&runtime, &app);
    worker.pump_until(&runtime, &mut app, "first full sync", DEADLINE, |app| {
        app.sync.is_ready() && app.sync.running.is_none() && pending(app) == Some(0)
    });
    assert!(app.sync.failed.is_none(), "{:?}", app.sync.failed);
    assert!(shows(&app, "Sync now"));
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let last_sync = match &app.status.store {
        Some(Ok(summary)) => summary.last_sync.clone().unwrap(),
        other => panic!("{other:?}"),
    };
    assert!(last_sync.starts_with(&today), "{last_sync}");
    assert!(shows(
        &app,
        &format!(
            "Last sync: {} · 0 pending",
            last_sync[..16].replace('T', " ")
        )
    ));
    assert!(!server.objects("persons").is_empty());
    let (card_id, remote_id) = {
        let store = Store::open(&database).unwrap();
        let card = store.get_card(1).unwrap();
        (
            card.id,
            store.remote_id(Resource::Cards, card.id).unwrap().unwrap(),
        )
    };
    assert_ne!(server_card(&server, &remote_id)["status"], "blocked");

    // A block at the desk reaches the server with no click: the desk's change pushes.
    let blocked_at = Instant::now();
    for step in [
        desk::Message::AskBlock(card_id),
        desk::Message::BlockReasonChanged("lost".into()),
        desk::Message::ConfirmBlock,
    ] {
        send(&runtime, &mut app, Message::Desk(step));
    }
    worker.pump_until(
        &runtime,
        &mut app,
        "blocked card on the server",
        DEADLINE,
        |_| server_card(&server, &remote_id)["status"] == "blocked",
    );
    let took = blocked_at.elapsed();
    assert!(took < Duration::from_secs(10), "the push took {took:?}");
    eprintln!("desk block to server: {took:?}");

    // The server fails every request: the unblock stays queued, and the bar says why, what
    // to do, and when the window tries again.
    server.set_faults("error_rate=1".parse().unwrap());
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Unblock(card_id)),
    );
    worker.pump_until(&runtime, &mut app, "failure on the bar", DEADLINE, |app| {
        app.sync.failed.is_some() && app.sync.running.is_none()
    });
    let (failure, next_try) = app.sync.failed.clone().unwrap();
    assert_eq!(
        failure.next_step,
        "the server is failing: try again later; local changes stay queued"
    );
    assert!(
        shows(
            &app,
            &status::failure_line(&failure, next_try, cardstation::config::Language::En)
        ),
        "{failure:?}"
    );
    assert_eq!(pending(&app), Some(1), "the outbox keeps the unblock");
    assert!(shows(
        &app,
        &format!(
            "Last sync: {} · 1 pending",
            last_sync[..16].replace('T', " ")
        )
    ));
    assert_eq!(server_card(&server, &remote_id)["status"], "blocked");

    // Rate limited (429 with Retry-After on every request): said so, the change still kept.
    server.set_faults("429_every=1".parse().unwrap());
    send(
        &runtime,
        &mut app,
        Message::Status(status::Message::SyncNow),
    );
    worker.pump_until(
        &runtime,
        &mut app,
        "rate limit on the bar",
        DEADLINE,
        |app| {
            app.sync.running.is_none()
                && app.sync.failed.as_ref().is_some_and(|(failure, _)| {
                    failure
                        .next_step
                        .starts_with("the server is limiting requests")
                })
        },
    );
    assert_eq!(pending(&app), Some(1));

    // The server is back; "Sync now" sends the change.
    server.set_faults(Default::default());
    send(
        &runtime,
        &mut app,
        Message::Status(status::Message::SyncNow),
    );
    worker.pump_until(
        &runtime,
        &mut app,
        "unblock on the server",
        DEADLINE,
        |app| {
            server_card(&server, &remote_id)["status"] != "blocked"
                && app.sync.running.is_none()
                && app.sync.failed.is_none()
        },
    );
    assert_eq!(pending(&app), Some(0));

    // A key the server refuses: the bar says which setting to check, and the window works on.
    let refused_db = dir.path().join("refused.sqlite");
    let (mut refused, _boot) = App::boot(with_key(REFUSED_KEY_VAR), Some(refused_db.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(refused_db, true));
    send(&runtime, &mut refused, Message::StoreOpened(opened));
    let worker = SyncWorker::start(&runtime, &refused);
    worker.pump_until(
        &runtime,
        &mut refused,
        "refused key on the bar",
        DEADLINE,
        |app| app.sync.failed.is_some() && app.sync.running.is_none(),
    );
    let (failure, next_try) = refused.sync.failed.clone().unwrap();
    assert_eq!(
        failure.next_step,
        "check the API key in the variable named by [server] api_key_env"
    );
    assert!(shows(
        &refused,
        &status::failure_line(&failure, next_try, cardstation::config::Language::En)
    ));
    assert!(
        !failure.line().contains("sk_live_"),
        "the key is never shown"
    );
    sign_in(&runtime, &mut refused, "anna", "1111");
    assert!(refused.desk.is_some(), "the desk works without the server");
}
