//! Hologram stickers in the window (iced_test simulator, ICED_TEST_BACKEND=tiny-skia): the
//! desk's prolongation with `[holograms] prolong`, through the real pcscd and a vpcd reader
//! holding the simulated ELS chip: the sticker scanned (digits and Enter), refused when a
//! print batch reserved it, the expiry the operator chose written on the chip and recorded
//! with the sticker taken from the stock; and the print window showing the batch's reserved
//! numbers, the sticker of each printed card and the stock left. Tasks run for real, as in
//! tests/ui_desk.rs.

#![cfg(feature = "gui")]

mod common;
mod ui_harness;

use std::time::Duration;

use cardstation::card::pcsc;
use cardstation::config::{Holograms, Role, keys};
use cardstation::sim::{ElsCard, ElsCardState, shared, vpcd};
use cardstation::station::desk::DeskSetup;
use cardstation::station::issue::{default_expiry, read_and_verify};
use cardstation::station::print::PrintEvent;
use cardstation::store::{Resource, Store, UidKind, ranges};
use cardstation::ui::{App, CardAccess, Message, desk, print};
use time::OffsetDateTime;
use ui_harness::{DEMO_DESFIRE_KEYS, english_demo, english_demo_signing_in, send, shows, sign_in};

const CARD_KEY_VAR: &str = "CARDSTATION_UI_HOLOGRAMS_CARD_KEY";
const READER_PORT: u16 = 35963;
const WAIT: Duration = Duration::from_secs(10);
const LOW_WARNING: &str =
    "Stickers are running low: add a delivery to the stock (cardstation holograms add).";

/// Sets the key variables once for the whole binary, before any test thread reads them.
fn set_keys() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: every test calls this first; the others wait here until it is done.
    ONCE.call_once(|| unsafe {
        std::env::set_var(CARD_KEY_VAR, "42424242424242424242424242424242");
        for (var, value) in DEMO_DESFIRE_KEYS {
            std::env::set_var(var, value);
        }
    });
}

fn prolong(runtime: &tokio::runtime::Runtime, app: &mut App, sticker: &str, expiry: &str) {
    for message in [
        desk::Message::ProlongSticker(sticker.into()),
        desk::Message::ProlongExpiry(expiry.into()),
        // What the scanner's Enter (or the button) sends.
        desk::Message::ConfirmProlong,
    ] {
        send(runtime, app, Message::Desk(message));
    }
}

#[test]
fn the_desk_prolongs_with_a_scanned_sticker_from_the_stock_through_pcscd() {
    set_keys();
    let reader = common::reader(READER_PORT);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let mut profile = english_demo_signing_in(dir.path(), CARD_KEY_VAR);
    profile.holograms = Holograms {
        prolong: true,
        low_stock: 3,
    };
    profile.readers.contact = Some(reader.name.clone());
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    let reserved_batch = {
        let mut store = Store::open(&database).unwrap();
        store.add_holograms(7001, 7004, "test").unwrap();
        // The print station's running batch holds 7001.
        store.start_batch("piotr", 1).unwrap()
    };
    assert_eq!(reserved_batch.holograms, [7001]);

    let card_key = DeskSetup::card_key_from_profile(&profile).unwrap();
    let uid = common::UID;
    let card = shared(ElsCard::new(ElsCardState::personalised(
        &uid,
        &card_key.for_card(&uid).unwrap(),
    )));
    let _inserted = vpcd::insert(card, reader.port, Default::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();

    let (mut app, _boot) = App::boot(profile.clone(), Some(database.clone()));
    app.card_access = CardAccess::Reader {
        contact: Some(reader.name.clone()),
        contactless: None,
    };
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "anna", "1111");
    for message in [
        desk::Message::QueryChanged("wiśniewska 100233".into()),
        desk::Message::OpenHighlighted,
        desk::Message::Issue,
    ] {
        send(&runtime, &mut app, Message::Desk(message));
    }
    let issuance = &app.desk.as_ref().unwrap().issuance;
    assert!(matches!(issuance, desk::Issuance::Done(_)), "{issuance:?}");
    let today = OffsetDateTime::now_utc().date();
    let issued_until = default_expiry(today);
    let card_id = Store::open(&database)
        .unwrap()
        .find_card_by_uid(UidKind::Contact, &uid)
        .unwrap()
        .unwrap()
        .id;
    let cert = profile.els.as_ref().unwrap().signer_cert.clone().unwrap();
    let trusted = [keys::load_certificate(&cert).unwrap()];
    let on_chip = || {
        common::connect(&reader.name)
            .in_transaction(|t| Ok(read_and_verify(t, &trusted, today)))
            .unwrap()
            .unwrap()
            .verdict
            .unwrap()
            .data
            .expires
    };
    assert_eq!(on_chip(), issued_until);

    // "Prolong" opens the step: the sticker field, the stock left (3, at the warning
    // threshold) and the new expiry prefilled with the default.
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Prolong {
            card_id,
            expires: Some(issued_until),
        }),
    );
    assert!(shows(&app, "Sticker number (hologram)"));
    assert!(shows(&app, "Stickers left: 3"));
    assert!(shows(&app, LOW_WARNING));
    let default = default_expiry(issued_until);
    assert_eq!(
        app.desk.as_ref().unwrap().prolong.as_ref().unwrap().expiry,
        default.to_string()
    );

    // Refused beside their fields, nothing written: a sticker the batch reserved, one not
    // a number, an expiry in the past.
    prolong(&runtime, &mut app, "7001", &default.to_string());
    assert!(
        shows(
            &app,
            &format!(
                "sticker 7001 is reserved by print batch {}: nothing was written. take the next sticker from the roll and scan its number",
                reserved_batch.id
            )
        ),
        "{:?}",
        app.desk.as_ref().unwrap().prolong
    );
    prolong(&runtime, &mut app, "70O2", &default.to_string());
    assert!(shows(&app, "A sticker number has digits only"));
    prolong(&runtime, &mut app, "7002", "2020-01-31");
    assert!(shows(&app, "This date is in the past"));
    assert_eq!(on_chip(), issued_until, "nothing written so far");

    // The operator's own expiry (a semester later than the default) with sticker 7002.
    let chosen = default_expiry(default);
    prolong(&runtime, &mut app, "7002", &chosen.to_string());
    assert!(
        shows(
            &app,
            &format!("Prolonged: 04A1B2C3D4E5F6 → {chosen} · 7002")
        ),
        "{:?} {:?}",
        app.desk.as_ref().unwrap().notice,
        app.desk.as_ref().unwrap().prolong
    );
    assert!(
        app.desk.as_ref().unwrap().prolong.is_none(),
        "the step closed"
    );
    assert!(
        shows(&app, "sticker 7002"),
        "the card line names its sticker"
    );
    assert_eq!(on_chip(), chosen);
    let store = Store::open(&database).unwrap();
    assert_eq!(
        store.get_card(card_id).unwrap().fields.expires,
        Some(chosen)
    );
    assert_eq!(store.hologram_on_card(card_id).unwrap(), Some(7002));
    assert_eq!(store.hologram_stock().unwrap().free, [(7003, 7004)]);
    let audit = &store.audit_entries("card.prolong", 1).unwrap()[0];
    assert_eq!(audit.operator, "anna");
    assert!(
        audit.details.contains("\"hologram\":7002"),
        "{}",
        audit.details
    );
    let pending = store.outbox_pending(10_000).unwrap();
    let to_server = pending.last().unwrap();
    assert_eq!(
        (to_server.resource, to_server.local_id),
        (Resource::Cards, card_id)
    );
    assert_eq!(to_server.payload["endDate"], chosen.to_string());

    // Asked again, the stock shows the sticker gone.
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Prolong {
            card_id,
            expires: Some(chosen),
        }),
    );
    assert!(shows(&app, "Stickers left: 2"));
}

#[test]
fn the_print_window_shows_the_batch_stickers_each_cards_sticker_and_the_stock() {
    set_keys();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("print.sqlite");
    let mut profile = english_demo();
    profile.role = Role::Print;
    profile.printer.as_mut().unwrap().holograms = true;
    profile.holograms.low_stock = 8;
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    Store::open(&database)
        .unwrap()
        .add_holograms(300, 309, "test")
        .unwrap();

    let (mut app, _boot) = App::boot(profile, Some(database.clone()));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "piotr", "2222");
    assert!(shows(&app, "Stickers left: 10"));
    assert!(!shows(&app, LOW_WARNING));

    // The batch reserves two numbers and reports as `station::print::run_batch` does; the
    // window is put in the running state "Print the queue" starts (no printer here).
    let batch = Store::open(&database)
        .unwrap()
        .start_batch("piotr", 2)
        .unwrap();
    let queue = app.print.as_ref().unwrap().queue.clone();
    app.print.as_mut().unwrap().batch = print::Batch::Running {
        total: 2,
        done: 0,
        current: None,
        paused: false,
    };
    let mut events = vec![PrintEvent::Started {
        batch: batch.id,
        total: 2,
        holograms: ranges(&batch.holograms),
    }];
    for (index, (production, &hologram)) in queue.iter().zip(&batch.holograms).enumerate() {
        events.push(PrintEvent::Card {
            index,
            production: production.id,
            name: production.name_on_card.clone().unwrap(),
        });
        events.push(PrintEvent::Printed {
            index,
            production: production.id,
            chip_serial: format!("04000000000{index:03}"),
            hologram: Some(hologram),
            job: format!("job-{index}"),
        });
    }
    for event in events {
        send(
            &runtime,
            &mut app,
            Message::Print(print::Message::Event(event)),
        );
    }
    assert!(shows(&app, "Stickers reserved for the batch: 300–301"));
    assert!(
        shows(&app, "Stickers left: 8"),
        "counted again once the batch reserved"
    );
    assert!(shows(&app, LOW_WARNING), "8 is the profile's low_stock");
    for (production, number) in queue.iter().zip([300, 301]) {
        let name = production.name_on_card.as_deref().unwrap();
        assert!(
            shows(&app, &format!("{name} · sticker {number}")),
            "{name} {number}: {:?}",
            app.print.as_ref().unwrap().stickers
        );
    }

    // The batch finishes and gives back what it did not use (here: nothing printed was
    // recorded, so both numbers): the stock is counted again.
    let returned = Store::open(&database)
        .unwrap()
        .finish_batch(batch.id, "piotr")
        .unwrap();
    assert_eq!(returned, 2);
    send(
        &runtime,
        &mut app,
        Message::Print(print::Message::Event(PrintEvent::Finished(
            Default::default(),
        ))),
    );
    assert!(shows(&app, "Stickers left: 10"));
    assert!(!shows(&app, LOW_WARNING));
}
