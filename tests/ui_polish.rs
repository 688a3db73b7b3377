//! The window in Polish shows no English: the desk's screens (sign-in, search, a student,
//! the prolongation step with its hologram sticker, readers, settings, the status bar) with the demo data and forced failures (a wrong PIN,
//! the card taken away mid-write, the wrong card, the server down, the store locked), each
//! text the simulator finds checked word by word against the Polish catalogue, the Polish
//! text of the failures forced, and the names the screen shows; and the CSV import's report
//! with a row refused for each reason (ICED_TEST_BACKEND=tiny-skia).

#![cfg(feature = "gui")]

use std::collections::HashSet;

use cardstation::card::ReaderEvent;
use cardstation::card::els::ElsCardError;
use cardstation::card::transport::TransportError;
use cardstation::config::{Language, Profile};
use cardstation::error::Failure;
use cardstation::remote::cardexchange::RemoteError;
use cardstation::station::desk::DeskError;
use cardstation::station::issue::IssueError;
use cardstation::station::print::ProductionChange;
use cardstation::store::StoreError;
use cardstation::sync::SyncError;
use cardstation::ui::i18n::{Text, t};
use cardstation::ui::{App, Message, Tab, desk, print, readers, sync};
use iced_test::selector::Candidate;
use iced_test::simulator::Simulator;
mod common;
mod ui_harness;

use ui_harness::{DEMO_DESFIRE_KEYS, send, settings, sign_in};

/// Every text widget's content on the window now.
fn displayed(app: &App) -> Vec<String> {
    let mut texts = Vec::new();
    let mut ui = Simulator::with_settings(settings(), app.view());
    // A selector that never matches visits the whole tree.
    let _ = ui.find(|candidate: Candidate<'_>| {
        if let Candidate::Text { content, .. } = candidate {
            texts.push(content.to_owned());
        }
        None::<()>
    });
    texts
}

/// The words the window may show in Polish: the catalogue's, the forced failures' Polish
/// text, and names from the data. A word is letters only: numbers, dates, UIDs and album
/// numbers (anything with a digit) carry no language.
struct Polish {
    words: HashSet<String>,
}

/// Abbreviations the window shows whatever its language.
const NOT_LANGUAGE: &str = "UTC ATR UID CUPS";

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.chars().count() >= 2 && !word.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
}

impl Polish {
    fn new() -> Self {
        let mut polish = Self {
            words: HashSet::new(),
        };
        for &key in Text::ALL {
            polish.learn(t(Language::Pl, key));
        }
        polish.learn(NOT_LANGUAGE);
        polish
    }

    fn learn(&mut self, text: &str) {
        self.words.extend(words(text));
    }

    /// The failure's Polish text is what the window may show for it.
    fn learn_failure(&mut self, failure: &Failure) {
        let polish = failure.polish.as_ref().expect("a failure with Polish");
        self.learn(&polish.cause);
        self.learn(&polish.next_step);
    }

    /// The texts on the window with a word that is not Polish, and the word.
    fn foreign(&self, app: &App) -> Vec<(String, String)> {
        displayed(app)
            .into_iter()
            .filter_map(|shown| {
                let word = words(&shown).find(|word| !self.words.contains(word))?;
                Some((shown, word))
            })
            .collect()
    }

    #[track_caller]
    fn assert_all_polish(&self, app: &App, screen: &str) {
        let shown = displayed(app);
        assert!(
            shown.len() > 3,
            "{screen}: the window shows something: {shown:?}"
        );
        let foreign = self.foreign(app);
        assert!(foreign.is_empty(), "{screen}: not Polish: {foreign:?}");
    }
}

fn polish_demo() -> Profile {
    let mut profile = Profile::demo();
    profile.ui.language = Some(Language::Pl);
    profile
}

const CARD_KEY_VAR: &str = "CARDSTATION_UI_POLISH_CARD_KEY";

/// The Polish demo profile able to issue: a demo signer made in `dir`, the card key in
/// [`CARD_KEY_VAR`] (set once, before any test reads the environment).
fn polish_demo_signing_in(dir: &std::path::Path) -> Profile {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: every test of this binary that boots a window passes here first.
    ONCE.call_once(|| unsafe {
        std::env::set_var(CARD_KEY_VAR, "42424242424242424242424242424242");
        for (var, value) in DEMO_DESFIRE_KEYS {
            std::env::set_var(var, value);
        }
    });
    let mut profile = polish_demo();
    let (key, cert) = cardstation::station::demo::ensure_signer(dir).unwrap();
    let els = profile.els.as_mut().unwrap();
    els.signer_key = Some(key);
    els.signer_cert = Some(cert);
    els.card_key_env = Some(CARD_KEY_VAR.to_owned());
    profile
}

#[test]
fn the_checker_finds_english_on_the_english_window() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let mut profile = polish_demo_signing_in(dir.path());
    profile.ui.language = Some(Language::En);
    let (mut app, _) = App::boot(profile, Some(database.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database, true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "anna", "9999");
    let foreign = Polish::new().foreign(&app);
    let shown: Vec<&str> = foreign.iter().map(|(shown, _)| shown.as_str()).collect();
    assert!(shown.contains(&"Sign in"), "{foreign:?}");
    assert!(
        shown
            .iter()
            .any(|text| text.starts_with("unknown operator or wrong PIN")),
        "an English failure is caught: {foreign:?}"
    );
}

#[test]
fn every_desk_screen_in_polish_shows_no_english_even_when_things_fail() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let mut polish = Polish::new();

    // The store another process holds: the window says so in Polish.
    let profile = polish_demo_signing_in(dir.path());
    let (mut app, _) = App::boot(profile.clone(), Some(database.clone()));
    let locked = Failure::from(StoreError::Locked);
    polish.learn_failure(&locked);
    send(&runtime, &mut app, Message::StoreOpened(Err(locked)));
    polish.assert_all_polish(&app, "store locked");

    let (mut app, _) = App::boot(profile, Some(database.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    polish.assert_all_polish(&app, "sign-in");

    // A wrong PIN.
    sign_in(&runtime, &mut app, "anna", "9999");
    let refused = Failure::from(cardstation::store::SignInError::Refused);
    polish.learn_failure(&refused);
    assert!(
        displayed(&app).contains(&cardstation::ui::problem(Language::Pl, &refused)),
        "the refusal is shown in Polish: {:?}",
        displayed(&app)
    );
    polish.assert_all_polish(&app, "wrong PIN");

    sign_in(&runtime, &mut app, "anna", "1111");
    assert!(app.desk.is_some(), "signed in");
    polish.learn("anna");
    polish.assert_all_polish(&app, "desk");

    // A search and the student it finds, named as the data names them.
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::QueryChanged("wis".into())),
    );
    let hits = app.desk.as_ref().unwrap().hits.clone();
    assert!(!hits.is_empty(), "the demo has a Wiśniewska");
    for person in &hits {
        polish.learn(&person.fields.first_name);
        polish.learn(&person.fields.last_name);
    }
    polish.assert_all_polish(&app, "search");
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Open(hits[0].id)),
    );
    assert!(
        app.desk.as_ref().unwrap().panel.is_some(),
        "the student is open"
    );
    polish.assert_all_polish(&app, "student");

    // Setting the student's photo from a file: a GIF refused, then a photo's crop preview.
    send(&runtime, &mut app, Message::Desk(desk::Message::SetPhoto));
    polish.assert_all_polish(&app, "set photo");
    let gif = dir.path().join("photo.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
    let not_a_photo = Failure::from(cardstation::render::portrait::PhotoError::NotJpegOrPng);
    polish.learn_failure(&not_a_photo);
    for path in [gif, dir.path().join("photo.jpg")] {
        if path.extension().is_some_and(|extension| extension == "jpg") {
            image::RgbImage::from_pixel(600, 800, image::Rgb([200, 180, 160]))
                .save(&path)
                .unwrap();
        }
        send(
            &runtime,
            &mut app,
            Message::Desk(desk::Message::PhotoPathChanged(path.display().to_string())),
        );
        send(
            &runtime,
            &mut app,
            Message::Desk(desk::Message::LoadPhotoFile),
        );
        // The path typed is the operator's, not the window's language.
        polish.learn(&path.display().to_string());
        polish.assert_all_polish(&app, "photo file");
    }
    assert!(
        matches!(
            app.desk.as_ref().unwrap().photo_edit.as_ref().unwrap().step,
            desk::PhotoStep::Preview { .. }
        ),
        "the preview is shown"
    );
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::CancelPhoto),
    );

    // The card taken off the reader mid-write, then the wrong card on it.
    let removed = Failure::from(DeskError::Issue(IssueError::Card(ElsCardError::Transport(
        TransportError::CardRemoved,
    ))));
    polish.learn_failure(&removed);
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Issuing(desk::IssueEvent::Finished(Err(
            desk::IssueFailure {
                failure: removed,
                card_removed: true,
                reader_gone: None,
                needs_reason: false,
                no_card: false,
            },
        )))),
    );
    polish.assert_all_polish(&app, "card removed");
    let wrong_card = Failure::from(DeskError::Issue(IssueError::WrongCard {
        card: "04010101010101".into(),
        data: "04556677889900".into(),
    }));
    polish.learn_failure(&wrong_card);
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Issuing(desk::IssueEvent::Finished(Err(
            desk::IssueFailure {
                failure: wrong_card.clone(),
                card_removed: false,
                reader_gone: None,
                needs_reason: false,
                no_card: false,
            },
        )))),
    );
    let (cause, _) = cardstation::ui::in_language(&wrong_card, Language::Pl);
    assert!(
        displayed(&app).iter().any(|shown| shown == cause),
        "the wrong card is named in Polish: {:?}",
        displayed(&app)
    );
    polish.assert_all_polish(&app, "wrong card");

    // The sync server is down.
    let down = Failure::from(SyncError::Remote(RemoteError::Unreachable {
        url: "https://cardexchange.invalid".into(),
        cause: "connection refused".into(),
    }));
    polish.learn_failure(&down);
    polish.learn("cardexchange invalid https");
    send(
        &runtime,
        &mut app,
        Message::Sync(sync::Message::Worker(sync::Report::Finished {
            round: sync::Round::Push,
            failed: Some(down),
            summary: None,
            next_try: time::OffsetDateTime::now_utc(),
        })),
    );
    polish.assert_all_polish(&app, "server down");

    // The readers, one of them with a card whose UID could not be read.
    let _ = app.update(Message::Tab(Tab::Readers));
    let reader = "Virtual PCD 00 00";
    polish.learn(reader);
    for event in [
        ReaderEvent::ServiceAvailable,
        ReaderEvent::ReaderAdded {
            reader: reader.into(),
        },
        ReaderEvent::CardInserted {
            reader: reader.into(),
            atr: vec![0x3B, 0x81],
        },
    ] {
        let _ = app.update(Message::Readers(readers::Message::Reader(event)));
    }
    let taken = Failure::from(TransportError::CardRemoved);
    polish.learn_failure(&taken);
    let _ = app.update(Message::Readers(readers::Message::UidRead {
        reader: reader.into(),
        atr: vec![0x3B, 0x81],
        result: Err(taken),
    }));
    polish.assert_all_polish(&app, "readers");

    // Settings: the store's path and the audit log's rows are data, shown as stored (action
    // codes and their JSON details).
    send(&runtime, &mut app, Message::Tab(Tab::Settings));
    polish.learn(&database.display().to_string());
    let Some(Ok(loaded)) = &app.settings.loaded else {
        panic!("the settings load")
    };
    assert!(
        !loaded.audit.is_empty(),
        "the audit log shows the demo's rows"
    );
    for entry in &loaded.audit {
        for data in [
            &entry.operator,
            &entry.action,
            &entry.subject,
            &entry.details,
        ] {
            polish.learn(data);
        }
    }
    polish.assert_all_polish(&app, "settings");
}

#[test]
fn the_prolongation_step_with_its_sticker_in_polish_shows_no_english() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let mut polish = Polish::new();
    let mut profile = polish_demo_signing_in(dir.path());
    profile.holograms.prolong = true;
    let (mut app, _) = App::boot(profile, Some(database.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    cardstation::store::Store::open(&database)
        .unwrap()
        .add_holograms(1, 5, "test")
        .unwrap();
    sign_in(&runtime, &mut app, "anna", "1111");
    polish.learn("anna");
    // Katarzyna Pawłowska has the card the demo ordered for her on her panel.
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::QueryChanged("pawlowska".into())),
    );
    let person = app.desk.as_ref().unwrap().hits[0].clone();
    polish.learn(&person.fields.first_name);
    polish.learn(&person.fields.last_name);
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Open(person.id)),
    );
    let card = app.desk.as_ref().unwrap().panel.as_ref().unwrap().cards[0].clone();
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::Prolong {
            card_id: card.id,
            expires: card.fields.expires,
        }),
    );
    let shown = displayed(&app);
    assert!(
        shown.iter().any(|text| text == "Naklejek w zapasie: 5"),
        "the stock, low: {shown:?}"
    );
    polish.assert_all_polish(&app, "prolongation step");

    // Both fields refused by the desk's own checks, then the sticker by the station.
    for message in [
        desk::Message::ProlongExpiry("2020-01-31".into()),
        desk::Message::ConfirmProlong,
    ] {
        send(&runtime, &mut app, Message::Desk(message));
    }
    let shown = displayed(&app);
    assert!(
        shown.iter().any(|text| text == "Ta data już minęła")
            && shown
                .iter()
                .any(|text| text == "Zeskanuj lub wpisz numer naklejki"),
        "{shown:?}"
    );
    polish.assert_all_polish(&app, "prolongation fields refused");
    let used = Failure::from(DeskError::Hologram(
        cardstation::store::HologramRefused::OnCard {
            number: 3,
            card_id: 9,
        },
    ));
    polish.learn_failure(&used);
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::ProlongDone(Err(
            desk::ProlongFailed::Sticker(used.clone()),
        ))),
    );
    assert!(
        displayed(&app).contains(&cardstation::ui::problem(Language::Pl, &used)),
        "{:?}",
        displayed(&app)
    );
    polish.assert_all_polish(&app, "sticker refused");
}

/// The print station in Polish: the queue with its search box and ticks, the printed list,
/// and a reprint's reason ask refused for want of a reason.
#[test]
fn the_print_station_in_polish_shows_no_english() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("print.sqlite");
    let mut profile = polish_demo();
    profile.role = cardstation::config::Role::Print;
    let opened = runtime.block_on(cardstation::ui::open_store(database.clone(), true));
    let mut store = cardstation::store::Store::open(&database).unwrap();
    let queue = store.productions_to_produce(10).unwrap();
    store.record_printed(&common::printed(queue[0].id)).unwrap();

    let (mut app, _boot) = App::boot(profile.clone(), Some(database));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "piotr", "2222");
    let mut polish = Polish::new();
    polish.learn("piotr");
    // The CUPS queue's name and the names on the cards are data.
    polish.learn(&profile.printer.as_ref().unwrap().queue);
    for production in &queue {
        polish.learn(production.name_on_card.as_deref().unwrap_or_default());
    }
    let print = |message| Message::Print(message);
    send(
        &runtime,
        &mut app,
        print(print::Message::Choose(queue[1].id, true)),
    );
    polish.assert_all_polish(&app, "print queue");

    send(
        &runtime,
        &mut app,
        print(print::Message::Ask(ProductionChange::Reprint, queue[0].id)),
    );
    send(&runtime, &mut app, print(print::Message::ConfirmAsk));
    assert!(
        displayed(&app).contains(&t(Language::Pl, Text::ChangeNeedsReason).to_owned()),
        "{:?}",
        displayed(&app)
    );
    polish.assert_all_polish(&app, "reprint reason");

    send(&runtime, &mut app, print(print::Message::CancelAsk));
    send(
        &runtime,
        &mut app,
        print(print::Message::Ask(ProductionChange::Cancel, queue[1].id)),
    );
    send(
        &runtime,
        &mut app,
        print(print::Message::Search("a".into())),
    );
    polish.assert_all_polish(&app, "cancel ask, searched");
}

#[test]
fn the_import_report_in_polish_names_every_refused_row_in_polish() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("desk.sqlite");
    let csv = dir.path().join("studenci.csv");
    let mut file = String::from("firstName,lastName,birthDate,pesel,albumNumber,personNumber\n");
    for row in [
        "Łucja,Żółkiewska,,02270803624,s1,P-1",
        "Jan,Kowalski,,02270803625,s2,P-2",
        "Ewa,Nowak,8.07.2002,,s3,P-3",
        ",Pusty,2001-01-01,0227080362,12 34,P-4",
        "Ola,Lis,2001-02-03,,s5,P-1",
        "Ala,Lis,2001-02-03,,s1,P-6",
        "Iza,Lis,2001-02-03,02270803624,,P-7",
        "Za,Dużo,2001-02-03,,,,",
    ] {
        file.push_str(row);
        file.push('\n');
    }
    let mut bytes = file.into_bytes();
    bytes.extend_from_slice(b"Zdzis\xb3aw,\xa3\xf3d\x9f,2000-01-31,,,\n");
    bytes.extend_from_slice(format!("{},Lis,2001-02-03,,,\n", "A".repeat(20_000)).as_bytes());
    std::fs::write(&csv, bytes).unwrap();

    let (mut app, _) = App::boot(polish_demo_signing_in(dir.path()), Some(database.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database, true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "anna", "1111");
    let mut polish = Polish::new();
    polish.learn("anna");
    send(&runtime, &mut app, Message::Desk(desk::Message::OpenImport));
    polish.assert_all_polish(&app, "import");
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::ImportPathChanged(csv.display().to_string())),
    );
    polish.learn(&csv.display().to_string());
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::StartImport),
    );
    let Some(desk::ImportState::Done(report)) = app
        .desk
        .as_ref()
        .unwrap()
        .import
        .as_ref()
        .map(|screen| &screen.state)
    else {
        panic!("the import finished")
    };
    assert_eq!(report.imported, 1);
    assert_eq!(report.rejected.len(), 9, "{:?}", report.rejected);
    assert!(
        displayed(&app).contains(
            &"Zaimportowano: 1 · Zaktualizowano: 0 · Bez zmian: 0 · Odrzucono: 9".to_owned()
        ),
        "{:?}",
        displayed(&app)
    );
    polish.assert_all_polish(&app, "import report");
}
