//! The window in Polish shows no English: every screen (sign-in, the desk's search and
//! student, readers, settings, the status bar, the print station's queue and batch, the
//! kiosk's verdicts and its exit prompt, the window title) with the demo data and forced
//! failures (a wrong PIN, the card taken away mid-write, the wrong card, the server down, the
//! store locked; a failed encode, a printer error, an empty hopper, a hologram stock too
//! small, a production that cannot be printed; every kiosk verdict, a stale register, the
//! reader gone; the desk's prolongation step with a refused hologram sticker, and the same
//! step for a card USOS knows with a USOS prolongation not told yet, the CSV
//! import's report with a row refused for each reason, the photo editor)
//! (ICED_TEST_BACKEND=tiny-skia).
//!
//! How a string is judged, in [`Polish::foreign`]: first the data the test put on the screen
//! (a name, a path, an audit row, a printer's reply) is cut out of it, wherever it appears.
//! What is left fails when (1) one of its words is not in the Polish vocabulary: the Polish
//! side of the [`Text`] catalogue, the verdict reasons' and evidence's Polish, and the Polish
//! text of the failures forced; or (2) one of its words is a common English word
//! ([`ENGLISH`], none of which is a Polish word: a test checks the list against the
//! vocabulary). (1) catches an English string the catalogue does not hold, and a Polish
//! literal outside the catalogue; (2) catches English that passes (1) because its words are
//! shared by both languages' texts (a failure's Polish naming a value in English). A word is
//! letters only: numbers, dates, UIDs and album numbers (anything with a digit) carry no
//! language, nor do profile names and commands (`[server]`, `printer.queue`).

#![cfg(feature = "gui")]

use std::collections::HashSet;
use std::time::Duration;

use cardstation::card::ReaderEvent;
use cardstation::card::desfire::DesfireError;
use cardstation::card::els::ElsCardError;
use cardstation::card::feed::FeedError;
use cardstation::card::transport::TransportError;
use cardstation::config::{Language, Profile, Role};
use cardstation::error::Failure;
use cardstation::remote::cardexchange::RemoteError;
use cardstation::render::cups::PrintError;
use cardstation::station::desfire::DesfireIssueError;
use cardstation::station::desk::DeskError;
use cardstation::station::issue::IssueError;
use cardstation::station::print::{
    BatchError, BatchSummary, CardFailure, PrepareError, PrintEvent, ProductionChange,
};
use cardstation::station::usos::UsosIssueError;
use cardstation::station::validate::{Decision, Evidence, Reason, Staleness, Verdict};
use cardstation::store::StoreError;
use cardstation::sync::SyncError;
use cardstation::ui::i18n::{Text, evidence_pl, reason_pl, t};
use cardstation::ui::kiosk::{self, NoVerdict};
use cardstation::ui::{App, Message, Tab, desk, print, readers, sync};
use iced_test::selector::Candidate;
use iced_test::simulator::Simulator;
mod common;
mod ui_harness;

use ui_harness::{DEMO_DESFIRE_KEYS, send, settings, settle, sign_in};

/// Every text widget's content on the window now, and the window's title.
fn displayed(app: &App) -> Vec<String> {
    let mut texts = vec![app.title()];
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

/// What the window may show in Polish: the vocabulary of [`Polish::new`], and the data the
/// test put on the screen.
struct Polish {
    words: HashSet<String>,
    /// Values shown as they are stored (a name, a path, an audit row, a printer's reply),
    /// alone or inside a sentence.
    data: HashSet<String>,
}

/// Abbreviations the window shows whatever its language.
const NOT_LANGUAGE: &str = "UTC ATR UID CUPS ms";

/// Common English words that are not Polish words: a string with one of them is English,
/// whatever else it holds.
const ENGLISH: &[&str] = &[
    "the",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "has",
    "have",
    "had",
    "not",
    "of",
    "and",
    "or",
    "for",
    "with",
    "from",
    "into",
    "in",
    "at",
    "this",
    "that",
    "these",
    "it",
    "its",
    "your",
    "you",
    "please",
    "card",
    "cards",
    "reader",
    "readers",
    "printer",
    "print",
    "printed",
    "failed",
    "failure",
    "error",
    "again",
    "check",
    "valid",
    "expired",
    "blocked",
    "unknown",
    "forged",
    "revoked",
    "until",
    "ago",
    "never",
    "synced",
    "register",
    "signature",
    "stock",
    "empty",
    "queue",
    "batch",
    "encoding",
    "encoded",
    "sign",
    "put",
    "try",
    "retry",
    "station",
    "store",
    "server",
    "cannot",
    "could",
    "should",
    "would",
    "will",
    "must",
    "can",
    "what",
    "when",
    "where",
    "which",
    "who",
    "why",
    "how",
    "next",
    "step",
    "run",
    "start",
    "stop",
    "open",
    "close",
    "cancel",
    "pause",
    "resume",
    "done",
    "issued",
    "issue",
    "holder",
    "file",
    "key",
    "keys",
    "missing",
    "found",
    "wrong",
    "removed",
    "taken",
    "left",
    "still",
    "only",
    "all",
    "any",
    "none",
    "yes",
    "off",
    "out",
    "up",
    "down",
    "over",
    "after",
    "before",
    "then",
    "than",
    "there",
    "here",
    "now",
    "new",
    "old",
    "date",
    "time",
    "number",
    "name",
    "student",
    "office",
    "staff",
    "ask",
    "use",
    "another",
    "tap",
    "insert",
    "hold",
    "answer",
    "read",
    "write",
    "written",
    "deleted",
    "last",
    "fetched",
    "blocks",
    "hours",
    "seconds",
    "sync",
    "pending",
    "tries",
    "rejected",
    "finished",
    "unavailable",
    "setup",
];

/// The words of `text`, lower case. Names from the profile and commands (`[server]`,
/// `printer.queue`, `job_timeout_seconds`, `profiles/print-station.toml`) are no words:
/// they read the same in every language.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split_whitespace()
        .filter(|token| !is_code(token))
        .flat_map(|token| token.split(|c: char| !c.is_alphanumeric()))
        .filter(|word| word.chars().count() >= 2 && !word.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
}

fn is_code(token: &str) -> bool {
    let inner = token.trim_end_matches(|c: char| c.is_ascii_punctuation());
    token.contains(['[', '_', '=', '`']) || inner.contains(['.', '/'])
}

impl Polish {
    /// The window's Polish vocabulary: the catalogue's Polish side, the kiosk's verdict
    /// reasons and evidence in Polish, and the abbreviations of [`NOT_LANGUAGE`].
    fn new() -> Self {
        let mut polish = Self {
            words: HashSet::new(),
            data: HashSet::new(),
        };
        for &key in Text::ALL {
            polish.learn(t(Language::Pl, key));
        }
        for reason in Reason::ALL {
            polish.learn(reason_pl(&reason.key()));
        }
        for evidence in [
            Evidence::SignedAndAuthenticatedChip,
            Evidence::AuthenticatedChip,
            Evidence::SignedChip,
            Evidence::UidOnly,
        ] {
            polish.learn(evidence_pl(evidence));
        }
        polish.learn(NOT_LANGUAGE);
        polish
    }

    fn learn(&mut self, text: &str) {
        self.words.extend(words(text));
    }

    /// A value shown as it is stored: wherever it appears it is data, not language.
    fn learn_data(&mut self, data: &str) {
        self.data.insert(data.to_owned());
    }

    /// The failure's Polish text is what the window may show for it.
    fn learn_failure(&mut self, failure: &Failure) {
        let polish = failure.polish.as_ref().expect("a failure with Polish");
        self.learn(&polish.cause);
        self.learn(&polish.next_step);
    }

    /// The texts on the window that are not Polish, and the word that gives each away.
    fn foreign(&self, app: &App) -> Vec<(String, String)> {
        let mut data: Vec<&String> = self.data.iter().collect();
        // The longest first, so a value inside another is not cut out of it.
        data.sort_by_key(|data| std::cmp::Reverse(data.len()));
        displayed(app)
            .into_iter()
            .filter_map(|shown| {
                let text = data
                    .iter()
                    .fold(shown.clone(), |text, data| text.replace(data.as_str(), " "));
                let word = words(&text)
                    .find(|word| !self.words.contains(word) || ENGLISH.contains(&word.as_str()))?;
                Some((shown, word))
            })
            .collect()
    }

    #[track_caller]
    fn assert_all_polish(&self, app: &App, screen: &str) {
        let shown = displayed(app);
        assert!(
            shown.len() > 2,
            "{screen}: the window shows something besides its title: {shown:?}"
        );
        let foreign = self.foreign(app);
        assert!(foreign.is_empty(), "{screen}: not Polish: {foreign:?}");
    }
}

#[test]
fn no_word_of_the_english_list_is_a_polish_word_of_the_catalogue() {
    let polish = Polish::new();
    let shared: Vec<&&str> = ENGLISH
        .iter()
        .filter(|word| polish.words.contains(**word))
        .collect();
    assert!(shared.is_empty(), "Polish words in ENGLISH: {shared:?}");
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
    polish.learn_data("anna");
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
        polish.learn_data(&person.fields.first_name);
        polish.learn_data(&person.fields.last_name);
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
    // The profile's readers, as the readers list and the settings name them.
    for reader in [reader, "Virtual PCD 00 01"] {
        polish.learn_data(reader);
    }
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
    polish.learn_data(&database.display().to_string());
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
            polish.learn_data(data);
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

    // The same step for a card USOS knows: the sticker only, USOS's expiry shown. Set
    // directly, as the step opens only once USOS has answered; its sticker refused for a
    // chip the register does not know, and a USOS prolongation not told yet with its sticker.
    let screen = app.desk.as_mut().unwrap();
    let mut ask = screen.prolong.clone().unwrap();
    ask.from_usos = true;
    ask.sticker_problem = None;
    ask.expiry_problem = None;
    screen.prolong = Some(ask);
    let chip = "04A1B2C3D4E5F6";
    let panel = screen.panel.as_mut().unwrap();
    panel.cards[0].fields.contact_uid = Some(chip.into());
    panel.not_told.push(cardstation::store::UsosProlongation {
        chip: chip.into(),
        expires: time::macros::date!(2028 - 10 - 31),
        date_prolonged: time::macros::date!(2026 - 12 - 04),
        hologram: Some(7001),
        state: cardstation::store::ProlongationState::Written,
        operator: "anna".into(),
        last_error: None,
        updated_at: "2026-12-04T12:00:00Z".into(),
    });
    let shown = displayed(&app);
    assert!(
        shown.iter().any(|text| text == "– (podpisana przez USOS)")
            && shown
                .iter()
                .any(|text| text.ends_with("· ważna do 2028-10-31 · naklejka 7001")),
        "{shown:?}"
    );
    polish.assert_all_polish(&app, "USOS prolongation step");
    let no_card = Failure::from(UsosIssueError::StickerWithoutCard { chip: chip.into() });
    polish.learn_failure(&no_card);
    send(
        &runtime,
        &mut app,
        Message::Desk(desk::Message::ProlongDone(Err(
            desk::ProlongFailed::Sticker(no_card.clone()),
        ))),
    );
    assert!(
        displayed(&app).contains(&cardstation::ui::problem(Language::Pl, &no_card)),
        "{:?}",
        displayed(&app)
    );
    polish.assert_all_polish(&app, "USOS sticker refused");
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
    let staff = print::TypeChoice::all(Language::Pl)[3];
    assert_eq!(staff.to_string(), "Legitymacje pracownicze");
    send(&runtime, &mut app, print(print::Message::PickType(staff)));
    polish.assert_all_polish(&app, "one card type picked");
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

/// What an Evolis printer answers when its hopper is empty: its own words, shown as they are.
const PRINTER_REPLY: &str = "ERR FEEDER EMPTY";

/// A printer's failure as the batch reports it.
fn job_failed(request: &str) -> PrintError {
    PrintError::Failed {
        request: request.into(),
        state: "stopped".into(),
        message: "media-empty-error".into(),
    }
}

#[test]
fn the_print_station_in_polish_shows_no_english_even_when_cards_fail() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("print.sqlite");
    let mut polish = Polish::new();
    let mut profile = polish_demo_signing_in(dir.path());
    profile.role = Role::Print;
    let (mut app, _) = App::boot(profile.clone(), Some(database.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(database, true));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "piotr", "2222");
    polish.learn_data("piotr");
    let screen = app.print.as_ref().expect("the print station");
    assert!(!screen.queue.is_empty(), "the demo's ordered cards");
    let queue: Vec<(i64, String)> = screen
        .queue
        .iter()
        .map(|production| {
            (
                production.id,
                production.name_on_card.clone().unwrap_or_default(),
            )
        })
        .collect();
    for (_, name) in &queue {
        polish.learn_data(name);
    }
    polish.learn_data(&format!(
        "CUPS: {}",
        profile.printer.as_ref().unwrap().queue
    ));
    polish.assert_all_polish(&app, "print queue");

    // A batch under way: one card's chip refused, one printed but the print failed, one
    // production that cannot be printed as it stands.
    app.print.as_mut().unwrap().batch = print::Batch::Running {
        total: queue.len(),
        done: 0,
        current: None,
        paused: false,
    };
    let (first, first_name) = queue[0].clone();
    let encode_failed = Failure::from(CardFailure::Desfire(DesfireIssueError::Card(
        DesfireError::Transport(TransportError::CardRemoved),
    )));
    let print_failed = Failure::from(CardFailure::Print(job_failed("cardstation-pdf-7")));
    let cannot_print = Failure::from(PrepareError::CardNumber("ABC-1".into()));
    let no_expiry = Failure::from(PrepareError::NoExpiry {
        card: 3,
        chip: cardstation::config::Chip::Els,
    });
    let holder_incomplete = Failure::from(PrepareError::Record(
        cardstation::station::issue::CardholderRecordError::Incomplete {
            cardholder_id: 4,
            missing: "an album number",
        },
    ));
    for failure in [
        &encode_failed,
        &print_failed,
        &cannot_print,
        &no_expiry,
        &holder_incomplete,
    ] {
        polish.learn_failure(failure);
    }
    for event in [
        PrintEvent::Card {
            index: 0,
            production: first,
            name: first_name,
        },
        PrintEvent::FailedTry {
            index: 0,
            production: first,
            reason: encode_failed.clone(),
            retrying: true,
        },
        PrintEvent::FailedTry {
            index: 0,
            production: first,
            reason: print_failed.clone(),
            retrying: false,
        },
        PrintEvent::Skipped {
            index: 1,
            production: queue[1].0,
            reason: cannot_print.clone(),
        },
        PrintEvent::Skipped {
            index: 2,
            production: queue[2].0,
            reason: no_expiry.clone(),
        },
        PrintEvent::Skipped {
            index: 3,
            production: queue[3].0,
            reason: holder_incomplete.clone(),
        },
        PrintEvent::Paused,
    ] {
        let _ = app.update(Message::Print(print::Message::Event(event)));
    }
    let shown = displayed(&app);
    let (cause, _) = cardstation::ui::in_language(&encode_failed, Language::Pl);
    assert!(
        shown.iter().any(|text| text.contains(cause)),
        "the refused chip is listed in Polish: {shown:?}"
    );
    assert_eq!(app.print.as_ref().unwrap().failures.len(), 5);
    polish.assert_all_polish(&app, "print batch with failed cards");

    // The batch's end, with what is left in the queue.
    let _ = app.update(Message::Print(print::Message::Event(PrintEvent::Finished(
        BatchSummary {
            batch: 1,
            printed: 2,
            failed_tries: 2,
            left: vec![first],
            cancelled: false,
            holograms_returned: 0,
        },
    ))));
    polish.assert_all_polish(&app, "print batch finished");

    // Failures that stop the batch: the printer, an empty hopper, too few hologram stickers.
    for failure in [
        Failure::from(BatchError::Print(job_failed("cardstation-pdf-8"))),
        Failure::from(BatchError::Feed(FeedError::Reader(TransportError::Timeout))),
        Failure::from(BatchError::Feed(FeedError::Refused {
            address: "192.0.2.7:9100".into(),
            command: "Sis".into(),
            reply: PRINTER_REPLY.into(),
        })),
        Failure::from(BatchError::Store(StoreError::HologramsShort {
            needed: 6,
            free: 0,
        })),
    ] {
        polish.learn_failure(&failure);
        polish.learn_data(PRINTER_REPLY);
        let _ = app.update(Message::Print(print::Message::BatchFailed(failure.clone())));
        let shown = displayed(&app);
        assert!(
            shown.contains(&cardstation::ui::problem(Language::Pl, &failure)),
            "{}: shown in Polish: {shown:?}",
            failure.key
        );
        polish.assert_all_polish(&app, &failure.key);
    }
}

/// A verdict as the kiosk's checks give it.
fn decision(verdict: Verdict, reason_key: Reason, detail: Option<&str>) -> Decision {
    Decision {
        verdict,
        reason: "(the English reason: not shown in Polish)".into(),
        reason_key,
        detail: detail.map(str::to_owned),
        stale: None,
        uid: vec![0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6],
        holder_id: None,
        holder_name: None,
        valid_until: None,
        evidence: Evidence::SignedChip,
        elapsed: Duration::from_millis(41),
    }
}

#[test]
fn the_kiosk_in_polish_shows_no_english_for_any_verdict_or_failure() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut polish = Polish::new();
    let profile = Profile {
        role: Role::Kiosk,
        els: None,
        desfire: None,
        ..polish_demo()
    };
    let database = dir.path().join("kiosk.sqlite");
    // The window's boot task also moves the window onto the monitor, which the simulator
    // never finishes: only the kiosk's own opening of its store is run.
    let (mut app, _) = App::boot(profile.clone(), Some(database.clone()));
    let (_, open) = kiosk::Kiosk::boot(&profile, database);
    settle(&runtime, &mut app, open.map(Message::Kiosk));
    assert_eq!(
        app.kiosk.as_ref().unwrap().phase,
        kiosk::Phase::Idle,
        "the kiosk opened its store"
    );
    // The idle screen invites in both languages on purpose: an exchange student reads the
    // second line. Only that line may be English.
    polish.learn_data(t(Language::En, Text::TapOrInsertYourCard));
    polish.assert_all_polish(&app, "kiosk idle");

    let until = time::macros::date!(2027 - 03 - 31);
    let valid = Decision {
        holder_name: Some("Zofia Wiśniewska".into()),
        valid_until: Some(until),
        ..decision(
            Verdict::Valid,
            Reason::Valid,
            Some("Zofia Wiśniewska, 654321, 2027-03-31"),
        )
    };
    polish.learn_data("Zofia Wiśniewska");
    let expired = Decision {
        valid_until: Some(time::macros::date!(2024 - 10 - 31)),
        ..decision(Verdict::Expired, Reason::Expired, Some("2024-10-31"))
    };
    let stale = |decision: Decision, stale: Staleness| Decision {
        stale: Some(stale),
        ..decision
    };
    let verdicts = [
        ("valid", valid.clone()),
        ("expired", expired),
        (
            "blocked",
            decision(Verdict::Blocked, Reason::Refused, Some("blocked")),
        ),
        (
            "withdrawn",
            decision(Verdict::Blocked, Reason::Refused, Some("withdrawn")),
        ),
        (
            "deleted on the server",
            decision(
                Verdict::Blocked,
                Reason::Refused,
                Some(cardstation::station::validate::DELETED_ON_THE_SERVER),
            ),
        ),
        (
            "forged",
            decision(Verdict::Forged, Reason::Signature("forged"), None),
        ),
        ("copied", decision(Verdict::Forged, Reason::CopiedEls, None)),
        (
            "unknown",
            decision(Verdict::Unknown, Reason::NotInRegister, None),
        ),
        (
            "revoked",
            decision(Verdict::Forged, Reason::Signature("revoked"), None),
        ),
        (
            "stale register",
            stale(valid.clone(), Staleness::SyncedHoursAgo(72)),
        ),
        (
            "never synced",
            stale(
                decision(Verdict::Unknown, Reason::RegisterTooOld, None),
                Staleness::NeverSynced,
            ),
        ),
        (
            "stale revocations",
            stale(
                valid,
                Staleness::BlocksFetchedSecondsAgo {
                    seconds: 95,
                    limit: 30,
                },
            ),
        ),
    ];
    for (screen, decision) in verdicts {
        // Straight to `update`: the verdict's timer back to the idle screen is not run.
        let _ = app.update(Message::Kiosk(kiosk::Message::Decided {
            generation: 0,
            result: Ok(decision),
        }));
        assert!(
            matches!(app.kiosk.as_ref().unwrap().phase, kiosk::Phase::Verdict(_)),
            "{screen}: a verdict on screen"
        );
        polish.assert_all_polish(&app, screen);
    }

    // Taps without a verdict: the card taken away, the reader gone, the card answering badly.
    for err in [
        TransportError::CardRemoved,
        TransportError::ReaderGone("Virtual PCD 00 01".into()),
        TransportError::NoService,
        TransportError::Protocol("6F00".into()),
    ] {
        let failure = Failure::from(err.clone());
        polish.learn_failure(&failure);
        let _ = app.update(Message::Kiosk(kiosk::Message::Decided {
            generation: 0,
            result: Err(NoVerdict::of(&err)),
        }));
        polish.assert_all_polish(&app, &failure.key);
    }

    // The administrator's exit, refused for an operator who is no administrator.
    let _ = app.update(Message::Kiosk(kiosk::Message::AskExit));
    polish.assert_all_polish(&app, "kiosk exit");
    let refused = Failure::from(cardstation::store::SignInError::Refused);
    polish.learn_failure(&refused);
    let _ = app.update(Message::Kiosk(kiosk::Message::ExitChecked(Err(refused))));
    polish.assert_all_polish(&app, "kiosk exit refused");

    // A kiosk that cannot decide at all.
    let locked = Failure::from(StoreError::Locked);
    polish.learn_failure(&locked);
    let _ = app.update(Message::Kiosk(kiosk::Message::ExitCancel));
    let _ = app.update(Message::Kiosk(kiosk::Message::Opened(Err(locked))));
    polish.assert_all_polish(&app, "kiosk out of service");
}
