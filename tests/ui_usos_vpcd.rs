//! The issuance desk with a `[usos]` profile writing a card from USOS's data (iced_test
//! simulator, ICED_TEST_BACKEND=tiny-skia), through the real pcscd and a vpcd reader holding
//! the simulated ELS chip, against the in-process reference server: "Issue card" takes
//! USOS's signed structure and card key with the desk's six steps; "Prolong" writes USOS's
//! newer structure and tells USOS; a report USOS failed is shown as "written, USOS not told
//! yet", survives a restart of the window, and its Retry tells USOS exactly once. With
//! `[holograms] prolong`, "Prolong" asks for the sticker (USOS's expiry shown, not chosen),
//! refuses one not in stock before writing, and takes the one given once, however often
//! USOS is told again.

#![cfg(feature = "gui")]

mod common;
mod ui_harness;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cardstation::card::els::CardKey;
use cardstation::card::pcsc;
use cardstation::config::{Profile, keys};
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::sim::{ElsCard, ElsCardState, vpcd};
use cardstation::station::issue::{Step, read_and_verify};
use cardstation::store::{CardStatus, CardType, NewCard, PersonFields, Store, UidKind};
use cardstation::ui::{App, CardAccess, Message, desk};
use cardstation_refserver::{
    ReferenceServer, ServerFaults, USOS_CONSUMER_KEY, USOS_CONSUMER_SECRET, UsosOptions,
};
use common::UID;
use der::Encode;
use time::{Duration as Days, OffsetDateTime};
use ui_harness::{english_demo_signing_in, run, send, settle, shows, sign_in, usos_settings};
use zeroize::Zeroizing;

const KEY_VAR: &str = "CARDSTATION_UI_USOS_VPCD_CONSUMER_KEY";
const SECRET_VAR: &str = "CARDSTATION_UI_USOS_VPCD_CONSUMER_SECRET";
const DESK_KEY_VAR: &str = "CARDSTATION_UI_USOS_VPCD_DESK_KEY";
/// The master USOS derives each card's write key from (not the desk's own).
const USOS_CARD_KEY: &str = "00112233445566778899AABBCCDDEEFF";
/// The reference server's card 501 (user 1001, Anna Maria Żółkiewska).
const USOS_CHIP: &str = "04A1B2C3D4E5F6";
const READER_PORT: u16 = 35964;
const WAIT: Duration = Duration::from_secs(10);

fn usos_profile(url: &str, dir: &Path, reader: &str) -> Profile {
    let mut profile = english_demo_signing_in(dir, DESK_KEY_VAR);
    profile.usos = Some(usos_settings(url, KEY_VAR, SECRET_VAR));
    profile.readers.contact = Some(reader.to_owned());
    profile
}

/// Anna as the desk's store has her (USOS's card 501 in the register, as a sync brings
/// it), and USOS's signer trusted. Returns the local card's id.
fn seed(database: &Path, signer: &[u8]) -> i64 {
    let mut store = Store::open(database).unwrap();
    store.add_trusted_issuer(signer, "test").unwrap();
    let anna = PersonFields {
        person_number: Some("P-1001".into()),
        ..common::anna()
    };
    let holder = common::cardholder(&mut store, &anna);
    store
        .insert_card(
            &NewCard {
                cardholder_id: holder,
                card_number: Some("501".into()),
                barcode: Some("2900000123456".into()),
                card_type: CardType::Student,
                contact_uid: Some(USOS_CHIP.into()),
                contactless_uid: None,
                chip_serial_number: Some(USOS_CHIP.into()),
                status: CardStatus::Personalized,
                expires: None,
                desfire_issued: false,
            },
            "test",
        )
        .unwrap()
}

/// A window signed in as anna with Anna's panel open, writing to `reader` through pcscd.
fn desk_with_anna(
    runtime: &tokio::runtime::Runtime,
    profile: &Profile,
    database: &Path,
    reader: &str,
) -> App {
    let (mut app, _boot) = App::boot(profile.clone(), Some(database.to_owned()));
    app.card_access = CardAccess::Reader {
        contact: Some(reader.to_owned()),
        contactless: None,
    };
    let opened = runtime.block_on(cardstation::ui::open_store(database.to_owned(), true));
    send(runtime, &mut app, Message::StoreOpened(opened));
    sign_in(runtime, &mut app, "anna", "1111");
    assert!(app.desk.is_some(), "anna signed in");
    for message in [
        desk::Message::QueryChanged("zolkiewska".into()),
        desk::Message::OpenHighlighted,
    ] {
        send(runtime, &mut app, Message::Desk(message));
    }
    assert!(shows(&app, "Anna Żółkiewska"));
    app
}

fn notice(app: &App) -> String {
    match &app.desk.as_ref().unwrap().notice {
        Some(Ok((_, what))) => format!("ok: {what}"),
        Some(Err(failure)) => format!("error: {}", failure.line()),
        None => "none".to_owned(),
    }
}

#[test]
fn the_desk_issues_and_prolongs_from_usos_and_tells_usos_again_after_a_failed_report() {
    // SAFETY: set before the runtime or any other thread starts; this binary has one test.
    unsafe {
        std::env::set_var(KEY_VAR, USOS_CONSUMER_KEY);
        std::env::set_var(SECRET_VAR, USOS_CONSUMER_SECRET);
        std::env::set_var(DESK_KEY_VAR, "42424242424242424242424242424242");
    }
    let reader = common::reader(READER_PORT);
    let dir = tempfile::tempdir().unwrap();
    common::make_signer_files(
        dir.path(),
        "/CN=USOS test signer/O=Uniwersytet Testowy/C=PL",
    );
    let certificate = keys::load_certificate(&dir.path().join("cert.pem")).unwrap();
    let server = ReferenceServer::start_with(
        0,
        None,
        ServerFaults::default(),
        UsosOptions {
            signer: Some((
                keys::load_signing_key(&dir.path().join("key.pem"), None).unwrap(),
                certificate.clone(),
            )),
            card_key: Some((
                KeyAlgorithm::Aes128,
                Zeroizing::new(hex::decode(USOS_CARD_KEY).unwrap()),
            )),
            ..UsosOptions::default()
        },
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let database = dir.path().join("desk.sqlite");
    runtime
        .block_on(cardstation::ui::open_store(database.clone(), true))
        .unwrap();
    let card_id = seed(&database, &certificate.to_der().unwrap());
    let profile = usos_profile(&server.url(), dir.path(), &reader.name);

    // A blank card as the manufacturer delivers it, its write key from USOS's master.
    let usos_master = CardKey::Master {
        algorithm: KeyAlgorithm::Aes128,
        master: Zeroizing::new(hex::decode(USOS_CARD_KEY).unwrap()),
        system_id: b"ELS".to_vec(),
    };
    let card = Arc::new(Mutex::new(ElsCard::new(ElsCardState::personalised(
        &UID,
        &usos_master.for_card(&UID).unwrap(),
    ))));
    let inserted = vpcd::insert(card.clone(), reader.port, Default::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();

    let mut app = desk_with_anna(&runtime, &profile, &database, &reader.name);
    assert!(shows(&app, "USOS: may be written"));
    assert!(shows(
        &app,
        "Issuing from USOS's data: the structure USOS signed, the card key USOS gives."
    ));

    // "Issue card": the six steps as they run, then the card verifies with USOS's data.
    let task = app.update(Message::Desk(desk::Message::Issue));
    let mut steps = Vec::new();
    for message in run(&runtime, task) {
        if let Message::Desk(desk::Message::Issuing(desk::IssueEvent::Step(step))) = &message {
            steps.push(*step);
        }
        let next = app.update(message);
        settle(&runtime, &mut app, next);
    }
    assert_eq!(
        steps,
        Step::ALL,
        "{:?}",
        app.desk.as_ref().unwrap().issuance
    );
    let today = OffsetDateTime::now_utc().date();
    let expires = today + Days::days(365);
    assert!(
        shows(
            &app,
            &format!("Card issued {USOS_CHIP} · valid until {expires}")
        ),
        "{:?}",
        app.desk.as_ref().unwrap().issuance
    );
    let desk::Issuance::Done(issued) = &app.desk.as_ref().unwrap().issuance else {
        panic!("{:?}", app.desk.as_ref().unwrap().issuance);
    };
    assert_eq!((issued.card_id, issued.expires), (card_id, expires));
    let trusted = [certificate.clone()];
    let on_chip = || {
        let mut transport = common::connect(&reader.name);
        transport
            .in_transaction(|t| Ok(read_and_verify(t, &trusted, today)))
            .unwrap()
            .unwrap()
            .verdict
            .unwrap()
            .data
    };
    let written = on_chip();
    assert_eq!(written.album_number, "123456");
    assert_eq!(written.expires, expires);
    let methods: Vec<_> = server.usos_calls().into_iter().map(|c| c.method).collect();
    assert!(
        methods.iter().any(|m| m == "cards/student_card_data"),
        "{methods:?}"
    );

    // "Prolong" while USOS fails the report: the chip has USOS's newer structure, the desk
    // says USOS has not been told, and offers to retry.
    let later = expires + Days::days(365);
    assert!(server.usos_set_expiration(USOS_CHIP, later));
    server.usos_fail_marks(true);
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Prolong {
            card_id,
            expires: Some(expires),
        }),
    );
    let said = notice(&app);
    assert!(
        said.contains(&format!(
            "chip {USOS_CHIP} is written (valid until {later}), but USOS was not told yet"
        )),
        "{said}"
    );
    assert_eq!(on_chip().expires, later);
    let not_told = format!("written, USOS not told yet · valid until {later}");
    assert!(shows(&app, &not_told), "{said}");
    assert!(shows(&app, "Retry"));
    assert!(server.usos_prolonged().is_empty());

    // The station is closed (or killed) here; the card goes. Reopened, the desk still
    // knows USOS was not told.
    drop(app);
    inserted.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));
    let mut app = desk_with_anna(&runtime, &profile, &database, &reader.name);
    assert!(shows(&app, &not_told));

    // Retry, with USOS back and no card on the reader: USOS is told, once.
    server.usos_fail_marks(false);
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::RetryUsosMark(USOS_CHIP.into())),
    );
    assert!(
        shows(
            &app,
            &format!("USOS told of the prolongation of chip {USOS_CHIP}")
        ),
        "{}",
        notice(&app)
    );
    assert!(!shows(&app, &not_told));
    assert_eq!(
        server.usos_prolonged(),
        [("501".to_owned(), today)],
        "USOS accepted the prolongation exactly once"
    );
    let store = Store::open(&database).unwrap();
    assert_eq!(store.usos_prolongation(USOS_CHIP).unwrap(), None);
    let recorded = store
        .find_card_by_uid(UidKind::Contact, &UID)
        .unwrap()
        .unwrap();
    assert_eq!(recorded.fields.expires, Some(later), "the register follows");
    assert!(
        store
            .audit_entries("usos.prolong_reported", 5)
            .unwrap()
            .iter()
            .any(|entry| entry.operator == "anna"),
        "who told USOS is in the audit log"
    );

    // With `[holograms] prolong` the next prolongation from USOS asks for the sticker: USOS's
    // expiry is shown, not chosen, with the stock left.
    let mut store = store;
    store.add_holograms(7001, 7003, "test").unwrap();
    let mut profile = profile;
    profile.holograms.prolong = true;
    profile.holograms.low_stock = 5;
    let _inserted = vpcd::insert(card.clone(), reader.port, Default::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    drop(app);
    let mut app = desk_with_anna(&runtime, &profile, &database, &reader.name);
    let latest = later + Days::days(365);
    assert!(server.usos_set_expiration(USOS_CHIP, latest));
    server.usos_fail_marks(true);
    let prolong = desk::Message::Prolong {
        card_id,
        expires: Some(later),
    };
    send(&runtime, &mut app, Message::Desk(prolong.clone()));
    let ask = app
        .desk
        .as_ref()
        .unwrap()
        .prolong
        .clone()
        .expect("the step opens");
    assert!(ask.from_usos, "{ask:?}");
    assert!(shows(&app, "Sticker number (hologram)"));
    assert!(shows(&app, &format!("{latest} (signed by USOS)")));
    assert!(shows(&app, "Stickers left: 3"));
    assert!(shows(
        &app,
        "Stickers are running low: add a delivery to the stock (cardstation holograms add)."
    ));

    // A number not in the stock is refused beside its field; the chip is not written.
    let scan = |app: &mut App, sticker: &str| {
        for message in [
            desk::Message::ProlongSticker(sticker.into()),
            desk::Message::ConfirmProlong,
        ] {
            send(&runtime, app, Message::Desk(message));
        }
    };
    scan(&mut app, "9999");
    let ask = app
        .desk
        .as_ref()
        .unwrap()
        .prolong
        .clone()
        .expect("the step stays");
    assert!(
        matches!(&ask.sticker_problem, Some(desk::Note::Refused(failure))
            if failure.line().contains("sticker 9999 is not in this station's hologram stock: nothing was written")),
        "{ask:?}"
    );
    assert_eq!(on_chip().expires, later);

    // Sticker 7001, USOS failing the report: written, the sticker taken with the write.
    scan(&mut app, "7001");
    let said = notice(&app);
    assert!(said.contains("but USOS was not told yet"), "{said}");
    assert!(
        app.desk.as_ref().unwrap().prolong.is_none(),
        "the step closes"
    );
    assert_eq!(on_chip().expires, latest);
    let not_told = format!("written, USOS not told yet · valid until {latest} · sticker 7001");
    assert!(shows(&app, &not_told), "{said}");
    assert!(
        shows(&app, "sticker 7001"),
        "the card line shows its sticker"
    );
    assert_eq!(store.hologram_stock().unwrap().free, [(7002, 7003)]);

    // Prolong again: only USOS is left to tell, so no sticker is asked for or taken.
    send(&runtime, &mut app, Message::Desk(prolong));
    assert!(app.desk.as_ref().unwrap().prolong.is_none(), "no step");
    assert!(notice(&app).contains("but USOS was not told yet"));
    assert_eq!(store.hologram_stock().unwrap().free, [(7002, 7003)]);

    server.usos_fail_marks(false);
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::RetryUsosMark(USOS_CHIP.into())),
    );
    assert!(!shows(&app, &not_told), "{}", notice(&app));
    assert_eq!(server.usos_prolonged().len(), 2, "USOS told once more");
    assert_eq!(store.usos_prolongation(USOS_CHIP).unwrap(), None);
    assert_eq!(store.hologram_on_card(card_id).unwrap(), Some(7001));
    assert_eq!(store.hologram_stock().unwrap().free, [(7002, 7003)]);
    let recorded = store.get_card(card_id).unwrap();
    assert_eq!(recorded.fields.expires, Some(latest));
    let prolonged: Vec<_> = store
        .audit_entries(&format!("card:{card_id}"), 20)
        .unwrap()
        .into_iter()
        .filter(|entry| entry.action == "card.prolong" && entry.details.contains("hologram"))
        .collect();
    assert_eq!(prolonged.len(), 1, "{prolonged:?}");
    assert!(
        prolonged[0].details.contains("\"hologram\":7001"),
        "{prolonged:?}"
    );
}
