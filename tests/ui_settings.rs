//! The Settings screen in iced_test's simulator (ICED_TEST_BACKEND=tiny-skia): the conflicts
//! the sync resolved, newest first and bounded, loaded by a task, in English and Polish.

#![cfg(feature = "gui")]

mod common;
mod ui_harness;

use cardstation::store::Store;
use cardstation::ui::settings::CONFLICT_ROWS;
use cardstation::ui::{App, Message, Tab};
use ui_harness::{english_demo, send, settle, shows, sign_in};

fn open_settings(runtime: &tokio::runtime::Runtime, app: &mut App) {
    let _ = app.update(Message::Tab(Tab::Work));
    let load = app.update(Message::Tab(Tab::Settings));
    settle(runtime, app, load);
}

#[test]
fn settings_list_the_sync_conflicts_newest_first_bounded_in_both_languages() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let (mut app, _boot) = App::boot(english_demo(), Some(database.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "anna", "1111");
    assert!(app.desk.is_some(), "signed in");

    // The store is read by a task, not by `update`: the screen shows once its answer is in.
    let load = app.update(Message::Tab(Tab::Settings));
    assert!(app.settings.loaded.is_none());
    settle(&runtime, &mut app, load);
    assert!(shows(&app, "Sync conflicts"));
    assert!(shows(&app, "No conflicts"));

    let newest = {
        let mut store = Store::open(&database).unwrap();
        common::record_conflicts(&mut store, 1);
        store.conflicts(1).unwrap().remove(0)
    };
    open_settings(&runtime, &mut app);
    let loaded = app.settings.loaded.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(loaded.conflicts[0], newest, "newest first");
    assert_eq!(newest.field, "status");
    for column in [
        "Time",
        "Object",
        "Field",
        "Local value",
        "Server value",
        "Rule applied",
    ] {
        assert!(shows(&app, column), "{column}");
    }
    // The card's status: the block made here is kept.
    let time = newest.resolved_at[..19].replace('T', " ");
    assert!(shows(&app, &time), "{time}");
    assert!(shows(&app, "cards c-conflict"));
    assert!(shows(&app, "blocked") && shows(&app, "issued"));
    assert!(shows(
        &app,
        "the station's card status is kept and pushed again"
    ));
    // The person's name: the server's copy wins.
    assert!(shows(&app, "persons p-conflict"));
    assert!(shows(&app, "firstName"));
    assert!(shows(&app, "Local0") && shows(&app, "Server0"));
    assert!(shows(&app, "server wins: the local change was dropped"));
    assert!(!shows(
        &app,
        &format!("Only the newest are shown: {CONFLICT_ROWS}")
    ));

    send(&runtime, &mut app, Message::ToggleLanguage);
    assert!(shows(&app, "Konflikty synchronizacji"));
    assert!(shows(&app, "Wartość na serwerze"));
    assert!(shows(&app, "wygrywa serwer: lokalna zmiana odrzucona"));
    // The object's kind in Polish too, its id as the server has it.
    assert!(shows(&app, "karty c-conflict") && shows(&app, "osoby p-conflict"));
    assert!(shows(
        &app,
        "status karty ze stanowiska zachowany i wysłany ponownie"
    ));

    // More than the screen lists: the newest, and a note that older ones are left out.
    let kept = {
        let mut store = Store::open(&database).unwrap();
        common::record_conflicts(&mut store, CONFLICT_ROWS)
    };
    assert!(kept > CONFLICT_ROWS as i64, "{kept}");
    open_settings(&runtime, &mut app);
    let loaded = app.settings.loaded.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(loaded.conflicts.len(), CONFLICT_ROWS);
    assert!(
        loaded
            .conflicts
            .windows(2)
            .all(|pair| pair[0].resolved_at >= pair[1].resolved_at)
    );
    assert!(shows(
        &app,
        &format!("Pokazano tylko najnowsze: {CONFLICT_ROWS}")
    ));
}
