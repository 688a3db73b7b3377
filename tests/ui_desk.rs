//! The issuance desk driven headlessly (iced_test simulator, ICED_TEST_BACKEND=tiny-skia):
//! sign in, search as you type, open a student, issue an ELS onto a simulated card, block it
//! (with a reason and a confirmation); create and edit a person with their fields checked;
//! import people from a CSV file and read the report of the rows refused.
//! Tasks run for real on a tokio runtime and their messages go back into `update`, as the
//! iced runtime would do; only widget operations (focus) are skipped.

#![cfg(feature = "gui")]

use cardstation::config::keys;
use cardstation::sim::{ElsCard, ElsCardState, Faults, SimTransport, shared};
use cardstation::station::desk::DeskSetup;
use cardstation::station::issue;
use cardstation::station::person::Field;
use cardstation::store::{CardStatus, Store};
use cardstation::ui::{App, CardAccess, Message, desk};
use iced_test::simulator::Simulator;
mod ui_harness;

use ui_harness::{DEMO_DESFIRE_KEYS, english_demo_signing_in, send, settings, shows, sign_in};

const CARD_KEY_VAR: &str = "CARDSTATION_UI_TEST_CARD_KEY";
const UID: [u8; 7] = [0x04, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA];
/// Another card, put on the reader instead of the one chosen.
const OTHER_UID: [u8; 7] = [0x04, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01];

/// Sets the card key variable, once for the whole binary: every test calls this first, so
/// the one write happens before any test has a thread of its own that could read the
/// environment.
fn set_card_key() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: see above; the other tests wait here until it is done.
    ONCE.call_once(|| unsafe {
        std::env::set_var(CARD_KEY_VAR, "42424242424242424242424242424242");
        for (var, value) in DEMO_DESFIRE_KEYS {
            std::env::set_var(var, value);
        }
    });
}

/// Where the window draws `text` (one text widget's whole content).
fn bounds_of(app: &App, text: &str) -> iced::Rectangle {
    Simulator::with_settings(settings(), app.view())
        .find(text)
        .unwrap_or_else(|_| panic!("{text:?} is not on screen"))
        .bounds()
}

fn outbox_rows(database: &std::path::Path) -> usize {
    Store::open(database)
        .unwrap()
        .outbox_pending(10_000)
        .unwrap()
        .len()
}

/// Searches for Zofia Wiśniewska by name and album number and opens her.
fn open_zofia(runtime: &tokio::runtime::Runtime, app: &mut App) {
    send(
        runtime,
        app,
        Message::Desk(desk::Message::QueryChanged("wiśniewska 100233".into())),
    );
    send(runtime, app, Message::Desk(desk::Message::OpenHighlighted));
}

/// The English demo desk over a store in `dir`, anna signed in; the store's path.
fn signed_in_desk(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
) -> (App, std::path::PathBuf) {
    let database = dir.join("desk.sqlite");
    let profile = english_demo_signing_in(dir, CARD_KEY_VAR);
    let (mut app, _boot) = App::boot(profile, Some(database.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    send(runtime, &mut app, Message::StoreOpened(opened));
    sign_in(runtime, &mut app, "anna", "1111");
    (app, database)
}

fn type_into(runtime: &tokio::runtime::Runtime, app: &mut App, field: Field, value: &str) {
    send(
        runtime,
        app,
        Message::Desk(desk::Message::FormEdited(field, value.into())),
    );
}

#[test]
fn an_operator_creates_a_person_with_a_checked_pesel_and_edits_them() {
    set_card_key();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut app, database) = signed_in_desk(&runtime, dir.path());
    let queued = outbox_rows(&database);

    // A new person with a PESEL whose check digit is wrong: the problem is beside the field
    // and nothing is saved.
    send(&runtime, &mut app, Message::Desk(desk::Message::NewPerson));
    assert!(shows(&app, "New person"));
    type_into(&runtime, &mut app, Field::FirstName, "Łucja");
    type_into(&runtime, &mut app, Field::LastName, "Żółkiewska-Nowak");
    type_into(&runtime, &mut app, Field::Pesel, "02270803625");
    type_into(&runtime, &mut app, Field::AlbumNumber, "s765432");
    type_into(&runtime, &mut app, Field::Phone, "+48 600 100 200");
    assert!(
        !shows(&app, "The PESEL's check digit is wrong"),
        "no problem is shown before a save is tried"
    );
    send(&runtime, &mut app, Message::Desk(desk::Message::SaveForm));
    assert!(shows(&app, "Correct the marked fields."));
    let label = bounds_of(&app, "PESEL");
    let problem = bounds_of(&app, "The PESEL's check digit is wrong");
    assert!(
        problem.x > label.x + label.width && (problem.center_y() - label.center_y()).abs() < 4.0,
        "the problem is on the PESEL's line, right of it: {label:?} {problem:?}"
    );
    assert_eq!(outbox_rows(&database), queued, "nothing was queued");
    let store = Store::open(&database).unwrap();
    assert!(store.search_people("zolkiewska", 10).unwrap().is_empty());
    drop(store);

    // The birth date must agree with the PESEL; fixed, it is saved with its outbox rows.
    type_into(&runtime, &mut app, Field::Pesel, "02270803624");
    assert!(
        !shows(&app, "The PESEL's check digit is wrong"),
        "checked as typed"
    );
    type_into(&runtime, &mut app, Field::BirthDate, "2002-07-09");
    assert!(shows(&app, "Differs from the date in the PESEL"));
    type_into(&runtime, &mut app, Field::BirthDate, "2002-07-08");
    send(&runtime, &mut app, Message::Desk(desk::Message::SaveForm));
    assert!(app.desk.as_ref().unwrap().form.is_none(), "the form closed");
    assert!(shows(&app, "Saved: Łucja Żółkiewska-Nowak"));
    assert!(
        shows(&app, "Łucja Żółkiewska-Nowak"),
        "the new person is open"
    );
    let store = Store::open(&database).unwrap();
    let hits = store.search_people("zolkiewska", 10).unwrap();
    assert_eq!(hits.len(), 1);
    let person = &hits[0];
    assert_eq!(person.fields.pesel.as_deref(), Some("02270803624"));
    assert_eq!(
        person.fields.birth_date,
        time::macros::date!(2002 - 07 - 08)
    );
    assert_eq!(store.cardholders_of_person(person.id).unwrap().len(), 1);
    let pending = store.outbox_pending(10_000).unwrap();
    assert_eq!(pending.len(), queued + 2, "a person and a cardholder row");
    let created = pending
        .iter()
        .find(|entry| entry.resource.as_str() == "persons" && entry.local_id == person.id)
        .expect("the person's outbox row");
    assert_eq!(created.payload["lastName"], "Żółkiewska-Nowak");
    assert_eq!(created.payload["metadata"]["albumNumber"], "s765432");
    drop(store);

    // Edit: the form comes filled in; a wrong phone is refused beside it, a good one saved.
    send(&runtime, &mut app, Message::Desk(desk::Message::EditPerson));
    assert!(shows(&app, "Editing a person"));
    let form = app.desk.as_ref().unwrap().form.as_ref().unwrap();
    assert_eq!(form.draft.pesel, "02270803624");
    type_into(&runtime, &mut app, Field::Phone, "600");
    send(&runtime, &mut app, Message::Desk(desk::Message::SaveForm));
    assert!(shows(&app, "9–15 digits, e.g. +48 600 100 200"));
    type_into(&runtime, &mut app, Field::Phone, "600 200 300");
    type_into(&runtime, &mut app, Field::LastName, "Nowak");
    send(&runtime, &mut app, Message::Desk(desk::Message::SaveForm));
    assert!(shows(&app, "Saved: Łucja Nowak"));
    let store = Store::open(&database).unwrap();
    let edited = store.get_person(person.id).unwrap().fields;
    assert_eq!(edited.last_name, "Nowak");
    assert_eq!(edited.phone_number.as_deref(), Some("600 200 300"));
    assert_eq!(store.outbox_pending(10_000).unwrap().len(), queued + 3);
}

/// A CSV file with two good rows and one of each kind of bad row the window must name.
const MIXED_IMPORT: &[u8] =
    b"\xEF\xBB\xBFfirstName;lastName;birthDate;pesel;albumNumber;personNumber\n\
\xC5\x81ucja;\xC5\xBB\xC3\xB3\xC5\x82kiewska-Nowak;;02270803624;s900001;P-900001\n\
Jan;Kowalski;;02270803625;s900002;P-900002\n\
Ewa;Nowak;8.07.2002;;s900003;P-900003\n\
Zdzis\xb3aw;\xa3\xf3d\x9f;2000-01-31;;s900004;P-900004\n\
Ola;Lis;2001-02-03;;s900005;P-900001\n\
Piotr;Mak;2001-02-03;;;\n";

/// Imports `csv` from the desk window; the messages the import sent back.
fn import_from_window(
    runtime: &tokio::runtime::Runtime,
    app: &mut App,
    csv: &std::path::Path,
) -> Vec<Message> {
    send(runtime, app, Message::Desk(desk::Message::OpenImport));
    send(
        runtime,
        app,
        Message::Desk(desk::Message::ImportPathChanged(csv.display().to_string())),
    );
    let task = app.update(Message::Desk(desk::Message::StartImport));
    assert!(
        matches!(
            app.desk.as_ref().unwrap().import.as_ref().unwrap().state,
            desk::ImportState::Reading
        ),
        "the window goes on while the file is read"
    );
    let messages = ui_harness::run(runtime, task);
    for message in messages.clone() {
        let task = app.update(message);
        ui_harness::settle(runtime, app, task);
    }
    messages
}

#[test]
fn an_operator_imports_a_csv_and_reads_which_rows_were_refused_and_why() {
    set_card_key();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let csv = dir.path().join("students.csv");
    std::fs::write(&csv, MIXED_IMPORT).unwrap();
    let profile = english_demo_signing_in(dir.path(), CARD_KEY_VAR);
    let (mut app, _boot) = App::boot(profile, Some(database.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "anna", "1111");
    let persons_before = Store::open(&database).unwrap().status().unwrap().persons;
    let queued = outbox_rows(&database);

    assert!(shows(&app, "Import CSV"), "an operator may import");
    let messages = import_from_window(&runtime, &mut app, &csv);
    let progress: Vec<(usize, usize)> = messages
        .iter()
        .filter_map(|message| match message {
            Message::Desk(desk::Message::Importing(desk::ImportEvent::Progress(p))) => {
                Some((p.done, p.total))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        progress,
        [(0, 2), (2, 2)],
        "progress as the rows are written"
    );
    assert!(
        shows(
            &app,
            "Imported: 2 · Updated: 0 · Unchanged: 0 · Rejected: 4"
        ),
        "the summary is shown"
    );
    for (line, why) in [
        (
            "Line 3",
            "PESEL: The PESEL's check digit is wrong; Birth date: Required",
        ),
        ("Line 4", "Birth date: A date as YYYY-MM-DD"),
        ("Line 5", "Not UTF-8 text: save the file as CSV UTF-8"),
        ("Line 6", "The same person number as line 2"),
    ] {
        assert!(shows(&app, line), "{line}");
        let row = bounds_of(&app, line);
        let reason = bounds_of(&app, why);
        assert!(
            reason.x > row.x && (reason.y - row.y).abs() < 4.0,
            "{why:?} beside {line}: {row:?} {reason:?}"
        );
    }

    let store = Store::open(&database).unwrap();
    assert_eq!(store.status().unwrap().persons, persons_before + 2);
    let lucja = &store.search_people("zolkiewska", 10).unwrap()[0];
    assert_eq!(lucja.fields.last_name, "Żółkiewska-Nowak");
    assert_eq!(lucja.fields.birth_date, time::macros::date!(2002 - 07 - 08));
    assert_eq!(store.cardholders_of_person(lucja.id).unwrap().len(), 1);
    assert!(
        store
            .search_people("kowalski 900002", 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        outbox_rows(&database),
        queued + 4,
        "a person and a cardholder each"
    );
    let audit = store.audit_entries("persons.import", 100).unwrap();
    assert!(
        audit
            .iter()
            .any(|entry| entry.action == "persons.import" && entry.operator == "anna"),
        "audited as anna's"
    );
    drop(store);

    // The same file again: nobody doubled, the same rows refused.
    import_from_window(&runtime, &mut app, &csv);
    assert!(shows(
        &app,
        "Imported: 0 · Updated: 0 · Unchanged: 2 · Rejected: 4"
    ));
    let store = Store::open(&database).unwrap();
    assert_eq!(store.status().unwrap().persons, persons_before + 2);
    assert_eq!(outbox_rows(&database), queued + 4);
    drop(store);

    // A path that is no file: said so, nothing changes.
    import_from_window(&runtime, &mut app, &dir.path().join("missing.csv"));
    assert!(
        shows(
            &app,
            &format!(
                "cannot read {}: No such file or directory (os error 2). check the path, and that the file is CSV saved as UTF-8 with a header line",
                dir.path().join("missing.csv").display()
            )
        ),
        "the failure is on screen"
    );
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::CloseImport),
    );
    assert!(app.desk.as_ref().unwrap().import.is_none());
}

#[test]
fn an_operator_finds_a_student_issues_a_card_that_verifies_and_blocks_it() {
    set_card_key();
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
    open_zofia(&runtime, &mut app);
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
    // Zofia has no card ordered, so no card number: the ELS only, and the desk says why.
    assert!(shows(
        &app,
        "The DESFire application was not written: the card has no number yet. Only the ELS was written."
    ));
    assert!(shows(
        &app,
        "→ Sync with the server, or order the card so production numbers it, then issue the card again."
    ));
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
    // The step asks for the new expiry, the default prefilled; no sticker without
    // `[holograms] prolong`.
    let prolonged = cardstation::station::issue::default_expiry(expires);
    assert!(shows(&app, "New expiry"));
    assert!(shows(&app, &prolonged.to_string()));
    assert!(!shows(&app, "Sticker number (hologram)"));
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::ConfirmProlong),
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
    // The step stays open with its fields; confirmed again with the chosen card, it writes.
    app.desk.as_mut().unwrap().access = CardAccess::Direct(SimTransport::connector(card.clone()));
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::ConfirmProlong),
    );
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

    // Block it from the panel: the desk asks why first, and blocks nothing without a reason.
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::AskBlock(card_id)),
    );
    assert!(shows(&app, "Why is the card blocked?"));
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::ConfirmBlock),
    );
    assert!(shows(&app, "Give a reason to block the card."));
    assert_eq!(
        Store::open(&database)
            .unwrap()
            .get_card(card_id)
            .unwrap()
            .fields
            .status,
        CardStatus::Personalized,
        "not blocked without a reason"
    );
    // Cancelling keeps the card as it was; asked again, the reason and confirmation block it.
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::CancelBlock),
    );
    assert!(!shows(&app, "Why is the card blocked?"));
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::AskBlock(card_id)),
    );
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::BlockReasonChanged(
            "stolen from a locker".into(),
        )),
    );
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::ConfirmBlock),
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
    let status = audit.iter().find(|e| e.action == "card.status").unwrap();
    assert!(
        status.details.to_string().contains("stolen from a locker"),
        "the operator's reason is in the audit: {}",
        status.details
    );
}

#[test]
fn a_reader_unplugged_mid_write_is_told_in_polish_and_the_card_is_finished_when_it_is_back() {
    set_card_key();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let mut profile = english_demo_signing_in(dir.path(), CARD_KEY_VAR);
    profile.ui.language = Some(cardstation::config::Language::Pl);

    let (mut app, _boot) = App::boot(profile.clone(), Some(database.clone()));
    let card_key = DeskSetup::card_key_from_profile(&profile).unwrap();
    let card = shared(ElsCard::new(ElsCardState::personalised(
        &UID,
        &card_key.for_card(&UID).unwrap(),
    )));
    // The first connection loses its reader a few APDUs into the write (past the chip
    // serial reads, the application select and the authentication); later ones do not.
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    app.card_access = CardAccess::Direct(std::sync::Arc::new({
        let card = card.clone();
        move || {
            let first = connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            let faults = Faults {
                unplug_after: first.then_some(8),
                ..Faults::default()
            };
            Ok(Box::new(SimTransport::insert(card.clone(), faults))
                as Box<dyn cardstation::card::Transport>)
        }
    }));
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "anna", "1111");
    open_zofia(&runtime, &mut app);
    let cards_before = Store::open(&database).unwrap().status().unwrap().cards;
    let outbox_before = outbox_rows(&database);

    send(&runtime, &mut app, Message::Desk(desk::Message::Issue));
    let issuance = app.desk.as_ref().unwrap().issuance.clone();
    assert_eq!(
        issuance,
        desk::Issuance::ReaderGone {
            reader: cardstation::sim::SIM_READER.into(),
            resume: Some(UID.to_vec()),
        }
    );
    assert!(shows(
        &app,
        "Czytnik odłączono w trakcie zapisu: karta może być zapisana tylko częściowo"
    ));
    assert!(shows(&app, cardstation::sim::SIM_READER));
    assert!(shows(
        &app,
        "→ Podłącz czytnik ponownie, z tą samą kartą: zostanie sprawdzona, a zapis dokończony lub powtórzony"
    ));
    assert!(
        !shows(
            &app,
            "Karta zabrana w trakcie zapisu: połóż ją z powrotem, aby dokończyć"
        ),
        "not told as a card taken off"
    );
    let store = Store::open(&database).unwrap();
    assert_eq!(
        store.status().unwrap().cards,
        cards_before,
        "nothing recorded"
    );
    assert_eq!(outbox_rows(&database), outbox_before);

    // The reader is plugged back in with the card on it: the issuance runs again on it.
    let atr = card.lock().unwrap().atr();
    for event in [
        cardstation::card::ReaderEvent::ReaderAdded {
            reader: cardstation::sim::SIM_READER.into(),
        },
        cardstation::card::ReaderEvent::CardInserted {
            reader: cardstation::sim::SIM_READER.into(),
            atr,
        },
    ] {
        send(&runtime, &mut app, Message::Reader(event));
    }
    let issuance = &app.desk.as_ref().unwrap().issuance;
    assert!(matches!(issuance, desk::Issuance::Done(_)), "{issuance:?}");
    assert_eq!(store.status().unwrap().cards, cards_before + 1);
    let cert = profile.els.as_ref().unwrap().signer_cert.as_ref().unwrap();
    let on_card = issue::read_and_verify(
        &mut SimTransport::insert(card.clone(), Faults::default()),
        &[keys::load_certificate(cert).unwrap()],
        time::OffsetDateTime::now_utc().date(),
    )
    .unwrap();
    assert_eq!(on_card.verdict.unwrap().data.surnames, ["Wiśniewska"]);
}

/// Issue 18 item 2 in the window: a holder whose printed card has its number (the demo's
/// ordered cards) gets the ELS and the DESFire application on one dual-interface card; the
/// window says so and the store records both chips on that card.
#[test]
fn the_desk_issues_a_dual_interface_card_with_its_number_and_says_so() {
    use cardstation::config::Profile;
    use cardstation::sim::{DesfireCard, DesfireCardState, DualInterfaceCard};
    use cardstation::station::desfire::{self, IssueKeys};

    set_card_key();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let profile = english_demo_signing_in(dir.path(), CARD_KEY_VAR);
    let (mut app, _boot) = App::boot(profile.clone(), Some(database.clone()));
    let card_key = DeskSetup::card_key_from_profile(&profile).unwrap();
    let card = shared(DualInterfaceCard::new(
        ElsCard::new(ElsCardState::personalised(
            &UID,
            &card_key.for_card(&UID).unwrap(),
        )),
        DesfireCard::new(DesfireCardState::blank(&UID)),
    ));
    app.card_access = CardAccess::Direct(SimTransport::connector(card.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "anna", "1111");
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::QueryChanged("pawlowska 100249".into())),
    );
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::OpenHighlighted),
    );
    assert!(shows(&app, "Katarzyna Pawłowska"));

    send(&runtime, &mut app, Message::Desk(desk::Message::Issue));
    let desk = app.desk.as_ref().unwrap();
    assert!(
        matches!(desk.issuance, desk::Issuance::Done(_)),
        "{:?}",
        desk.issuance
    );
    let serial = hex::encode_upper(UID);
    assert!(shows(
        &app,
        &format!("DESFire application written, contactless chip {serial}")
    ));

    let store = Store::open(&database).unwrap();
    let recorded = store
        .find_card_by_uid(cardstation::store::UidKind::Contactless, &UID)
        .unwrap()
        .expect("the contactless UID is recorded");
    assert_eq!(
        recorded.fields.contact_uid.as_deref(),
        Some(serial.as_str())
    );
    assert!(recorded.fields.desfire_issued);
    assert_eq!(recorded.fields.card_number.as_deref(), Some("2026100249"));
    // The record on the chip carries that number, signed by the desk.
    let app_section = Profile::demo().desfire.unwrap();
    let keys = IssueKeys::for_profile(&profile, &cardstation::config::data_dir()).unwrap();
    let read = desfire::read(
        SimTransport::insert(card, Faults::default()),
        &app_section,
        keys.reading(),
    )
    .unwrap();
    assert_eq!(read.record.card_number, 2026100249);
}

/// Clicks the button labelled `label` on the window and runs what it asks for.
fn click(runtime: &tokio::runtime::Runtime, app: &mut App, label: &str) {
    let mut ui = Simulator::with_settings(settings(), app.view());
    ui.click(label)
        .unwrap_or_else(|_| panic!("{label:?} is not on screen"));
    let messages: Vec<Message> = ui.into_messages().collect();
    assert!(!messages.is_empty(), "{label:?} does nothing");
    for message in messages {
        send(runtime, app, message);
    }
}

/// A `width` × `height` JPEG as a camera writes it, in `dir`.
fn camera_photo(dir: &std::path::Path, name: &str, width: u32, height: u32) -> std::path::PathBuf {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 140])
    });
    let path = dir.join(name);
    image
        .save_with_format(&path, image::ImageFormat::Jpeg)
        .unwrap();
    path
}

/// The photo editor shows the failure `key`, whose text says `why`.
#[track_caller]
fn assert_photo_refused(app: &App, key: &str, why: &str) {
    let edit = app.desk.as_ref().unwrap().photo_edit.as_ref().unwrap();
    let desk::PhotoStep::Failed(failure) = &edit.step else {
        panic!("not refused: {:?}", edit.step);
    };
    assert_eq!(failure.key, key);
    let shown = cardstation::ui::problem(cardstation::config::Language::En, failure);
    assert!(shown.contains(why), "{shown}");
    assert!(shows(app, &shown), "{shown} is not on screen");
}

#[test]
fn an_operator_sets_a_photo_from_a_file_sees_the_crop_and_the_store_keeps_it() {
    set_card_key();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut app, database) = signed_in_desk(&runtime, dir.path());
    open_zofia(&runtime, &mut app);
    let person_id = app.desk.as_ref().unwrap().panel.as_ref().unwrap().person.id;
    let queued = outbox_rows(&database);

    // A GIF is refused with the reason; nothing is stored.
    click(&runtime, &mut app, "Set photo from file");
    let gif = dir.path().join("photo.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
    let path_changed = |path: &std::path::Path| {
        Message::Desk(desk::Message::PhotoPathChanged(path.display().to_string()))
    };
    send(&runtime, &mut app, path_changed(&gif));
    click(&runtime, &mut app, "Load");
    assert_photo_refused(&app, "PhotoError.NotJpegOrPng", "not a JPEG or PNG");
    // Too small for 300 dpi: the minimum is named.
    let small = camera_photo(dir.path(), "small.jpg", 200, 250);
    send(&runtime, &mut app, path_changed(&small));
    click(&runtime, &mut app, "Load");
    assert_photo_refused(
        &app,
        "PhotoError.TooSmall",
        "needs at least 260×331 (300 dpi)",
    );

    // A landscape camera photo: the preview is the centred crop, 22:28 as the card's frame.
    let photo = camera_photo(dir.path(), "camera.jpg", 1600, 1200);
    send(&runtime, &mut app, path_changed(&photo));
    click(&runtime, &mut app, "Load");
    assert!(shows(
        &app,
        "Preview: the photo cropped to the card's frame"
    ));
    assert!(shows(&app, "Save photo"));
    let preview = bounds_of(&app, "Preview: the photo cropped to the card's frame");
    assert!(preview.width > 0.0);
    let edit = app.desk.as_ref().unwrap().photo_edit.clone().unwrap();
    let desk::PhotoStep::Preview { portrait, preview } = &edit.step else {
        panic!("no preview: {:?}", edit.step);
    };
    assert!(preview.is_shown());
    assert_eq!((portrait.width, portrait.height), (520, 662));
    let size = format!(
        "520×662 px · JPEG · {} kB",
        portrait.jpeg.len().div_ceil(1000)
    );
    assert!(shows(&app, &size), "{size}");
    assert_eq!(
        Store::open(&database)
            .unwrap()
            .person_photo(person_id)
            .unwrap(),
        None,
        "nothing is stored before Save"
    );

    click(&runtime, &mut app, "Save photo");
    let desk = app.desk.as_ref().unwrap();
    assert!(desk.photo_edit.is_none(), "the editor closed");
    assert!(desk.photo.is_shown(), "the panel shows the stored photo");
    assert!(shows(&app, "Photo saved: Zofia Wiśniewska"));
    let store = Store::open(&database).unwrap();
    let stored = store
        .person_photo(person_id)
        .unwrap()
        .expect("a stored photo");
    assert_eq!(stored, portrait.jpeg);
    let decoded = image::load_from_memory(&stored).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (520, 662));
    let pending = store.outbox_pending(10_000).unwrap();
    assert_eq!(pending.len(), queued + 1, "one person update");
    assert!(pending.last().unwrap().payload["photo"].is_string());
    assert_eq!(
        store.audit_entries("person.photo", 5).unwrap()[0].operator,
        "anna"
    );
}
