//! The issuance desk driven headlessly (iced_test simulator, ICED_TEST_BACKEND=tiny-skia):
//! sign in, search as you type, open a student, issue an ELS onto a simulated card, block it.
//! Tasks run for real on a tokio runtime and their messages go back into `update`, as the
//! iced runtime would do; only widget operations (focus) are skipped.

#![cfg(feature = "gui")]

use cardstation::config::keys;
use cardstation::sim::{ElsCard, ElsCardState, Faults, SimTransport, shared};
use cardstation::station::desk::DeskSetup;
use cardstation::station::issue;
use cardstation::store::{CardStatus, Store};
use cardstation::ui::{App, CardAccess, Message, desk};
mod ui_harness;

use ui_harness::{english_demo_signing_in, send, shows, sign_in};

const CARD_KEY_VAR: &str = "CARDSTATION_UI_TEST_CARD_KEY";
const UID: [u8; 7] = [0x04, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA];
/// Another card, put on the reader instead of the one chosen.
const OTHER_UID: [u8; 7] = [0x04, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01];

#[test]
fn an_operator_finds_a_student_issues_a_card_that_verifies_and_blocks_it() {
    // SAFETY: this test binary has one test and sets the variable before any thread reads it.
    unsafe { std::env::set_var(CARD_KEY_VAR, "42424242424242424242424242424242") };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let profile = english_demo_signing_in(dir.path(), CARD_KEY_VAR);

    let (mut app, _boot) = App::boot(profile.clone(), Some(database.clone()));
    let card_key = DeskSetup::card_key_from_profile(&profile).unwrap();
    let card = shared(ElsCard::new(ElsCardState::personalised(
        &UID,
        &card_key.for_card(&UID).unwrap(),
    )));
    app.card_access = CardAccess::Direct(SimTransport::connector(card.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    assert!(shows(&app, "Sign in"), "the desk starts at the sign-in");
    assert!(
        shows(&app, "Last sync: never · 60 pending"),
        "the status bar shows the demo people, cardholders and ordered cards waiting to be pushed"
    );

    // An empty field is asked for, not silently ignored.
    sign_in(&runtime, &mut app, "anna", "");
    assert!(shows(&app, "Enter your name and PIN."));
    sign_in(&runtime, &mut app, "", "1111");
    assert!(shows(&app, "Enter your name and PIN."));
    assert!(app.session.is_none());

    // A wrong PIN is refused with the attempts left; the right one opens the desk.
    sign_in(&runtime, &mut app, "anna", "9999");
    assert!(!shows(&app, "Enter your name and PIN."));
    assert!(shows(
        &app,
        "unknown operator or wrong PIN (5 wrong PINs in a row lock the name for a while). check the name and type the PIN again"
    ));
    sign_in(&runtime, &mut app, "anna", "1111");
    assert!(app.desk.is_some(), "signed in");
    assert!(shows(&app, "anna (operator)"));

    // Search as you type, without Polish letters; the arrow keys move the highlight.
    for typed in ["w", "wi", "wis"] {
        send(
            &runtime,
            &mut app,
            Message::Desk(desk::Message::QueryChanged(typed.into())),
        );
    }
    let desk = app.desk.as_ref().unwrap();
    let names: Vec<_> = desk
        .hits
        .iter()
        .map(|p| p.fields.last_name.clone())
        .collect();
    assert_eq!(names, ["Wiśniewska"]);
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::QueryChanged("k".into())),
    );
    let hits = app.desk.as_ref().unwrap().hits.len();
    assert!(hits >= 3, "{hits} people with a word starting with k");
    send(
        &runtime,
        &mut app,
        Message::Key(iced::keyboard::Key::Named(
            iced::keyboard::key::Named::ArrowDown,
        )),
    );
    assert_eq!(app.desk.as_ref().unwrap().highlighted, Some(1));
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::QueryChanged("wiśniewska 100233".into())),
    );
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::OpenHighlighted),
    );
    assert!(shows(&app, "Zofia Wiśniewska"));
    assert!(shows(&app, "No cards yet"));
    assert!(
        app.desk.as_ref().unwrap().photo.is_shown(),
        "the demo profile's placeholder portrait (100233.png) is on the panel"
    );

    // Issue: every step runs against the simulated card, and the card is recorded.
    send(&runtime, &mut app, Message::Desk(desk::Message::Issue));
    let desk = app.desk.as_ref().unwrap();
    assert!(
        matches!(desk.issuance, desk::Issuance::Done(_)),
        "{:?}",
        desk.issuance
    );
    let expires =
        cardstation::station::issue::default_expiry(time::OffsetDateTime::now_utc().date());
    assert!(shows(
        &app,
        &format!("Card issued 045566778899AA · valid until {expires}")
    ));
    assert!(shows(&app, "✓ Record"));
    assert!(
        shows(&app, "045566778899AA"),
        "the card is listed on the panel"
    );

    // What is on the chip verifies, with the student's data.
    let cert = profile.els.as_ref().unwrap().signer_cert.as_ref().unwrap();
    let trusted = [keys::load_certificate(cert).unwrap()];
    let reading = issue::read_and_verify(
        &mut SimTransport::insert(card.clone(), Faults::default()),
        &trusted,
        time::OffsetDateTime::now_utc().date(),
    )
    .unwrap();
    assert_eq!(reading.verdict.unwrap().data.surnames, ["Wiśniewska"]);

    let card_id = {
        let store = Store::open(&database).unwrap();
        let card = store
            .find_card_by_uid(cardstation::store::UidKind::Contact, &UID)
            .unwrap()
            .unwrap();
        card.id
    };

    // Prolonging it with another card on the reader is refused and writes nothing.
    let other = shared(ElsCard::new(ElsCardState::personalised(
        &OTHER_UID,
        &card_key.for_card(&OTHER_UID).unwrap(),
    )));
    app.desk.as_mut().unwrap().access = CardAccess::Direct(SimTransport::connector(other.clone()));
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Prolong {
            card_id,
            expires: Some(expires),
        }),
    );
    assert!(
        shows(
            &app,
            &format!(
                "the card on the reader is chip 04010101010101, not card {card_id} (chip 045566778899AA): nothing was written. put the chosen card on the reader and prolong it again"
            )
        ),
        "{:?}",
        app.desk.as_ref().unwrap().notice
    );
    assert!(matches!(
        cardstation::card::els::read_els(&mut SimTransport::insert(
            other.clone(),
            Faults::default()
        )),
        Err(cardstation::card::els::ElsCardError::Empty)
    ));

    // Prolong it (same card on the reader) to the end of the following semester.
    app.desk.as_mut().unwrap().access = CardAccess::Direct(SimTransport::connector(card.clone()));
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Prolong {
            card_id,
            expires: Some(expires),
        }),
    );
    let prolonged = cardstation::station::issue::default_expiry(expires);
    assert!(prolonged > expires);
    assert!(
        shows(&app, &format!("Prolonged: 045566778899AA → {prolonged}")),
        "{:?}",
        app.desk.as_ref().unwrap().notice
    );
    let reading = issue::read_and_verify(
        &mut SimTransport::insert(card.clone(), Faults::default()),
        &trusted,
        time::OffsetDateTime::now_utc().date(),
    )
    .unwrap();
    assert_eq!(reading.verdict.unwrap().data.expires, prolonged);

    // Block it from the panel: the register says blocked, the audit log has who did it.
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::SetBlocked {
            card_id,
            blocked: true,
        }),
    );
    let store = Store::open(&database).unwrap();
    assert_eq!(
        store.get_card(card_id).unwrap().fields.status,
        CardStatus::Blocked
    );
    let audit = store.audit_entries("anna", 50).unwrap();
    let actions: Vec<_> = audit.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "operator.sign_in",
        "card.bind",
        "card.els_write",
        "card.status",
        "operator.sign_in_refused",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert!(shows(&app, "Unblock"));
    assert!(shows(&app, &format!("Blocked card {card_id}")));
}
