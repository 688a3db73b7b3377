//! The issuance desk with a `[usos]` profile against the in-process reference server
//! (iced_test simulator, ICED_TEST_BACKEND=tiny-skia): the holder's photo on the panel, the
//! holder's USOS cards and phone numbers, the "card ready" notice (which the server records),
//! who may send it, and an unreachable USOS that leaves the desk working. Tasks run for real,
//! as in tests/ui_desk.rs. The server runs in this process, so a broken one fails the test.

#![cfg(feature = "gui")]

use std::path::Path;

use cardstation::config::Profile;
use cardstation::store::{CardStatus, CardType, NewCard, PersonFields, Store};
use cardstation::ui::{App, Message, desk};
use cardstation_refserver::{
    ReferenceServer, ServerFaults, USOS_CONSUMER_KEY, USOS_CONSUMER_SECRET,
};
use time::{Duration as Days, OffsetDateTime};
mod common;
mod ui_harness;

use ui_harness::{DEMO_DESFIRE_KEYS, english_demo_signing_in, send, shows, sign_in, usos_settings};

const KEY_VAR: &str = "CARDSTATION_UI_USOS_CONSUMER_KEY";
const SECRET_VAR: &str = "CARDSTATION_UI_USOS_CONSUMER_SECRET";
const CARD_KEY_VAR: &str = "CARDSTATION_UI_USOS_CARD_KEY";
/// The reference server's card 501 (user 1001, Anna Maria Żółkiewska).
const USOS_CHIP: &str = "04A1B2C3D4E5F6";

/// Anna as the desk's store has her: person number P-1001, USOS's card 501 and an old card
/// USOS never heard of.
fn seed_anna(database: &Path) {
    let mut store = Store::open(database).unwrap();
    let anna = PersonFields {
        person_number: Some("P-1001".into()),
        ..common::anna()
    };
    let holder = common::cardholder(&mut store, &anna);
    for (uid, status) in [
        (USOS_CHIP, CardStatus::Personalized),
        ("04DEADBEEF0001", CardStatus::Withdrawn),
    ] {
        store
            .insert_card(
                &NewCard {
                    cardholder_id: holder,
                    card_number: None,
                    barcode: None,
                    card_type: CardType::Student,
                    contact_uid: Some(uid.into()),
                    contactless_uid: None,
                    chip_serial_number: Some(uid.into()),
                    status,
                    expires: None,
                    desfire_issued: false,
                },
                "test",
            )
            .unwrap();
    }
}

fn usos_profile(url: &str, photos: &Path, signer_dir: &Path) -> Profile {
    let mut profile = english_demo_signing_in(signer_dir, CARD_KEY_VAR);
    profile.usos = Some(usos_settings(url, KEY_VAR, SECRET_VAR));
    profile.photos = Some(photos.to_owned());
    profile
}

/// A desk signed in as `operator` with Anna's panel open.
fn desk_with_anna(
    runtime: &tokio::runtime::Runtime,
    profile: &Profile,
    database: &Path,
    operator: (&str, &str),
) -> App {
    let (mut app, _boot) = App::boot(profile.clone(), Some(database.to_owned()));
    let opened = runtime.block_on(cardstation::ui::open_store(database.to_owned(), true));
    send(runtime, &mut app, Message::StoreOpened(opened));
    sign_in(runtime, &mut app, operator.0, operator.1);
    assert!(app.desk.is_some(), "{} signed in", operator.0);
    send(
        runtime,
        &mut app,
        Message::Desk(desk::Message::QueryChanged("zolkiewska".into())),
    );
    send(
        runtime,
        &mut app,
        Message::Desk(desk::Message::OpenHighlighted),
    );
    assert!(shows(&app, "Anna Żółkiewska"));
    app
}

#[test]
fn the_desk_shows_the_holders_photo_usos_cards_and_phones_and_sends_the_card_ready_notice() {
    // SAFETY: set before the runtime or any other thread starts; this binary has one test.
    unsafe {
        std::env::set_var(KEY_VAR, USOS_CONSUMER_KEY);
        std::env::set_var(SECRET_VAR, USOS_CONSUMER_SECRET);
        std::env::set_var(CARD_KEY_VAR, "42424242424242424242424242424242");
        for (var, value) in DEMO_DESFIRE_KEYS {
            std::env::set_var(var, value);
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = ReferenceServer::start(0, None, ServerFaults::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    // Photos are named by person number (or album number): Anna's is P-1001.png.
    let portraits = cardstation::station::demo::ensure_photos(&dir.path().join("demo")).unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::copy(portraits.join("100231.png"), photos.join("P-1001.png")).unwrap();
    let profile = usos_profile(&server.url(), &photos, dir.path());
    runtime
        .block_on(cardstation::ui::open_store(database.clone(), true))
        .unwrap();
    seed_anna(&database);

    let mut app = desk_with_anna(&runtime, &profile, &database, ("anna", "1111"));
    let desk = app.desk.as_ref().unwrap();
    assert!(desk.photo.is_shown(), "P-1001.png is on the panel");

    // USOS finds card 501 by its chip UID, says it may be written, and gives the phones.
    let expires = OffsetDateTime::now_utc().date() + Days::days(365);
    assert!(
        shows(
            &app,
            &format!("USOS card 501 · student · valid until {expires}")
        ),
        "{:?}",
        app.desk.as_ref().unwrap().usos.as_ref().map(|u| &u.holder)
    );
    assert!(shows(&app, "USOS: may be written"));
    assert!(shows(&app, "Phones in USOS: +48 600 100 200 (mobile)"));
    assert!(
        shows(&app, "Cards USOS does not know: 1"),
        "the withdrawn card"
    );
    assert!(shows(&app, "Send card ready notice"));
    assert!(shows(
        &app,
        "mLegitymacja: shown to the student only (needs their own USOS token)."
    ));
    let looked_up: Vec<_> = server
        .usos_calls()
        .into_iter()
        .map(|call| call.method)
        .collect();
    assert!(
        looked_up.iter().any(|m| m == "cards/card")
            && looked_up.iter().any(|m| m == "phones/select"),
        "{looked_up:?}"
    );

    // The notice goes to USOS user 1001 in both languages; the server has it.
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::SendCardReady(0)),
    );
    assert!(
        shows(&app, "Notice sent to USOS user 1001"),
        "{:?}",
        app.desk.as_ref().unwrap().usos.as_ref().map(|u| &u.notice)
    );
    let notifications = server.usos_notifications();
    assert_eq!(notifications.len(), 1, "{notifications:?}");
    assert_eq!(notifications[0]["user_ids"][0], "1001");
    assert_eq!(
        notifications[0]["message_pl"],
        format!("Anna Maria, Twoja legitymacja jest gotowa do odbioru (ważna do {expires}).")
    );
    assert!(
        notifications[0]["message_en"]
            .as_str()
            .unwrap()
            .contains("ready for collection"),
        "{notifications:?}"
    );
    let store = Store::open(&database).unwrap();
    let audit = store.audit_entries("anna", 50).unwrap();
    assert!(
        audit
            .iter()
            .any(|entry| entry.action == "usos.card_ready" && entry.subject == "usos_user:1001"),
        "who told whom is in the audit log"
    );

    // A printer operator sees the USOS data but gets no button, and the workflow itself
    // refuses the notice.
    let mut app = desk_with_anna(&runtime, &profile, &database, ("piotr", "2222"));
    assert!(shows(
        &app,
        &format!("USOS card 501 · student · valid until {expires}")
    ));
    assert!(shows(&app, "Your role may not send notices."));
    assert!(!shows(&app, "Send card ready notice"));
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::SendCardReady(0)),
    );
    assert!(shows(
        &app,
        "The notice was not sent: piotr signed in as printer may not send notices to cardholders"
    ));
    assert_eq!(
        server.usos_notifications().len(),
        1,
        "nothing more was sent"
    );

    // USOS down: the panel says so and what to do; the rest of the desk works on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let profile = usos_profile(&dead_url, &photos, dir.path());
    let app = desk_with_anna(&runtime, &profile, &database, ("anna", "1111"));
    let desk = app.desk.as_ref().unwrap();
    assert!(
        matches!(
            desk.usos.as_ref().unwrap().holder,
            desk::UsosHolder::Failed(_)
        ),
        "{:?}",
        desk.usos.as_ref().unwrap().holder
    );
    assert!(shows_prefix(
        &app,
        &format!("USOS unavailable (the desk works on): cannot reach the USOS API at {dead_url}/")
    ));
    assert!(shows(
        &app,
        "→ check the network and [usos] url in the profile"
    ));
    assert!(shows(&app, USOS_CHIP), "the local cards are still listed");
    assert!(desk.photo.is_shown());
    assert!(shows(&app, "Issue card"));
}

/// Whether some text of the window starts with `prefix` (error texts end in the OS's words).
fn shows_prefix(app: &App, prefix: &str) -> bool {
    let usos = app.desk.as_ref().and_then(|desk| desk.usos.as_ref());
    match usos.map(|usos| &usos.holder) {
        Some(desk::UsosHolder::Failed(failure)) => {
            let cause = &failure.cause;
            shows(
                app,
                &format!("USOS unavailable (the desk works on): {cause}"),
            ) && format!("USOS unavailable (the desk works on): {cause}").starts_with(prefix)
        }
        _ => false,
    }
}
