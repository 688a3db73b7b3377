//! One office against one reference server over HTTP: an issuance desk (the window in the
//! iced_test simulator, syncing with its own background worker), a print station and a kiosk
//! (headless, each synced by the `cardstation sync --watch` process the sync unit runs), each
//! with its own store file. A person ordered at the desk is printed at the print station
//! (encoded through pcscd + vpcd, printed by CUPS's cups-pdf queue), the kiosk validates the
//! card, the desk blocks it and the kiosk refuses it. Between the steps nothing moves data but
//! the stations' own syncs; each step is checked by what another station sees, with a deadline.

#![cfg(feature = "gui")]

mod common;
mod ui_harness;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use cardstation::card::desfire::DesfireKey;
use cardstation::config::{Profile, Role, Server, ServerKind};
use cardstation::render::card::CardRenderer;
use cardstation::render::cups::CupsPrinter;
use cardstation::render::layout::Layout;
use cardstation::sim::feed::VpcdFeed;
use cardstation::sim::{Faults, SharedCard, vpcd};
use cardstation::station::auth::Session;
use cardstation::station::desfire::IssueKeys;
use cardstation::station::print::{self, Control, PrintSetup};
use cardstation::store::{
    CardStatus, CardType, CardholderFields, CardholderStatus, OperatorRole, Store, UidKind,
};
use cardstation::ui::{App, Message, desk};
use cardstation_refserver::ReferenceServer;
use ui_harness::{SyncWorker, english_demo_signing_in, send, sign_in};

const KEY_VAR: &str = "CARDSTATION_THREE_STATIONS_KEY";
const KEY: &str = "sk_test_three_stations";
const CARD_KEY_VAR: &str = "CARDSTATION_THREE_STATIONS_CARD_KEY";
const DESFIRE_READ_KEY_VAR: &str = "CARDSTATION_THREE_STATIONS_DESFIRE_READ_KEY";
const DESFIRE_MASTER: &str = "00112233445566778899AABBCCDDEEFF";
const DESFIRE_READ_MASTER: &str = "F0E1D2C3B4A5968778695A4B3C2D1E0F";

/// The print station's record signer; the kiosk verifies with its public key.
fn record_signer() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap()
}
/// The print station's encoder; the kiosk's reader.
const ENCODER_PORT: u16 = 35964;
const KIOSK_PORT: u16 = 35963;
const QUEUE: &str = "cardstation-pdf";
/// How long a step may take to reach the next station.
const STEP: Duration = Duration::from_secs(60);

/// A `cardstation sync --watch` process (the sync unit's command; the profile's `[sync]`
/// gives it short intervals), killed when dropped.
struct SyncProcess {
    child: Child,
    log: PathBuf,
}

impl SyncProcess {
    fn start(dir: &Path, profile: &str, db: &str) -> Self {
        let log = dir.join(format!("{db}.sync.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_cardstation"))
            .args(["--profile", profile, "--db", db, "sync", "--watch"])
            .current_dir(dir)
            .env("CARDSTATION_LOG_DIR", dir.join("logs"))
            .env(KEY_VAR, KEY)
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("the cardstation binary runs");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SyncProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cups_ready() -> bool {
    let ready = Command::new("lpstat")
        .args(["-p", QUEUE])
        .output()
        .is_ok_and(|out| out.status.success());
    if !ready {
        let message = format!(
            "CUPS queue {QUEUE} is not available (cupsd not running?); run scripts/setup.sh"
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("skipping: {message}");
    }
    ready
}

/// The demo's DESFire application as a kiosk reads it: the read-key master from
/// `DESFIRE_READ_KEY_VAR`, the record signer's public key in `verify_key`.
fn desfire_section(verify_key: &Path) -> String {
    let app = Profile::demo().desfire.unwrap();
    format!(
        "[desfire]\naid = \"{:06X}\"\nkey_type = \"aes\"\nread_key_env = \"{DESFIRE_READ_KEY_VAR}\"\nrecord_verify_key = \"{}\"\nsystem_id = \"{}\"\nrecord_file = {}\nrecord_size = {}\ncomm_mode = \"enciphered\"\n",
        app.aid.0,
        verify_key.display(),
        hex::encode_upper(&app.system_id),
        app.record_file,
        app.record_size,
    )
}

fn server_section(url: &str) -> String {
    format!("[server]\nkind = \"cardexchange\"\nurl = \"{url}\"\napi_key_env = \"{KEY_VAR}\"\n")
}

/// The print station's schedule: a full sync every second (the order travels by it), the
/// printed card's changes pushed within a second.
const PRINT_SCHEDULE: &str = "[sync]\npull_every_seconds = 1\nrevocation_every_seconds = 1\n";
/// The kiosk's: a full sync every 20 s (the printed card travels by it), the revocation fast
/// path every second (the block travels by it).
const KIOSK_SCHEDULE: &str = "[sync]\npull_every_seconds = 20\nrevocation_every_seconds = 1\n";

/// One kiosk tap: the verdict `validate --once --json` prints for the card on `reader`.
fn tap(dir: &Path, reader: &str) -> serde_json::Value {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(["--profile", "kiosk.toml", "--db", "kiosk.sqlite"])
        .args([
            "validate", "--once", "--wait", "10", "--json", "--reader", reader,
        ])
        .current_dir(dir)
        .env("CARDSTATION_LOG_DIR", dir.join("logs"))
        .env(DESFIRE_READ_KEY_VAR, DESFIRE_READ_MASTER)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "no verdict; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_str(line).unwrap()
}

/// The card's status in the store at `db` (a second reader beside the station's own
/// connections), by its contactless UID.
fn status_at(db: &Path, uid: &[u8]) -> Option<CardStatus> {
    let store = Store::open(db).ok()?;
    let card = store.find_card_by_uid(UidKind::Contactless, uid).ok()??;
    Some(card.fields.status)
}

#[test]
fn ordered_at_the_desk_printed_validated_blocked_and_refused_by_background_sync_alone() {
    if !cups_ready() {
        return;
    }
    let encoder = common::reader(ENCODER_PORT);
    let kiosk_reader = common::reader(KIOSK_PORT);
    let server = ReferenceServer::start(0, None, Default::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // SAFETY: this test binary has one test and sets the variables before any thread reads them.
    unsafe {
        std::env::set_var(KEY_VAR, KEY);
        std::env::set_var(CARD_KEY_VAR, "42424242424242424242424242424242");
    }

    // The print station and the kiosk: their profiles, and their sync processes.
    let verify_key = dir.join("record.pub.pem");
    std::fs::write(
        &verify_key,
        p256::pkcs8::EncodePublicKey::to_public_key_pem(
            record_signer().verifying_key(),
            p256::pkcs8::LineEnding::LF,
        )
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("print.toml"),
        format!(
            "role = \"print\"\ndatabase = \"print.sqlite\"\n{}{PRINT_SCHEDULE}",
            server_section(&server.url())
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("kiosk.toml"),
        format!(
            "role = \"kiosk\"\ndatabase = \"kiosk.sqlite\"\n[readers]\ncontactless = \"{}\"\n{}{KIOSK_SCHEDULE}{}",
            kiosk_reader.name,
            server_section(&server.url()),
            desfire_section(&verify_key)
        ),
    )
    .unwrap();
    let print_sync = SyncProcess::start(dir, "print.toml", "print.sqlite");
    let kiosk_sync = SyncProcess::start(dir, "kiosk.toml", "kiosk.sqlite");

    // The desk: the window, its own store with one operator, its background worker.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let desk_db = dir.join("desk.sqlite");
    let mut profile = english_demo_signing_in(dir, CARD_KEY_VAR);
    profile.server = Some(Server {
        kind: ServerKind::Cardexchange,
        url: server.url(),
        api_key_env: KEY_VAR.into(),
        cardholder_profile: Some("students".into()),
        request_timeout_ms: None,
    });
    Store::open(&desk_db)
        .unwrap()
        .set_operator("anna", OperatorRole::Operator, "1111", "test")
        .unwrap();
    let (mut app, _boot) = App::boot(profile, Some(desk_db.clone()));
    let opened = runtime.block_on(cardstation::ui::open_store(desk_db.clone(), false));
    send(&runtime, &mut app, Message::StoreOpened(opened));
    sign_in(&runtime, &mut app, "anna", "1111");
    assert!(app.desk.is_some(), "signed in at the desk");
    let worker = SyncWorker::start(&runtime, &app);

    // 1. The desk orders a card for a new person; the print station's queue gets it.
    let ordered_at = Instant::now();
    let desk_card_id = {
        let mut store = Store::open(&desk_db).unwrap();
        let person = store.create_person(&common::anna()).unwrap();
        let holder = store
            .create_cardholder(&CardholderFields {
                person_id: Some(person),
                profile: None,
                email: Some("anna@uni.example".into()),
                status: CardholderStatus::Activated,
                name_on_card: None,
                start_date: None,
                end_date: None,
                note: None,
            })
            .unwrap();
        let expires =
            cardstation::station::issue::default_expiry(time::OffsetDateTime::now_utc().date());
        let production = store
            // The server numbers the card.
            .order_card(holder, CardType::Student, None, Some(expires), "anna")
            .unwrap();
        store.get_production(production).unwrap().card_id
    };
    let print_db = dir.join("print.sqlite");
    worker.pump_until(
        &runtime,
        &mut app,
        "order in the print station's queue",
        STEP,
        |_| {
            Store::open(&print_db)
                .and_then(|store| store.productions_to_produce(10))
                .is_ok_and(|queue| queue.len() == 1)
        },
    );
    eprintln!("desk order to print queue: {:.1?}", ordered_at.elapsed());

    // 2. The print station prints it: a blank DESFire card through the encoder, then CUPS.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let layout = Layout::load(&root.join("profiles/layouts/els-student.toml")).unwrap();
    let renderer = CardRenderer::new().unwrap();
    // The print room's photo folder, by album number.
    let photos = dir.join("photos");
    std::fs::create_dir(&photos).unwrap();
    std::fs::copy(
        root.join("tests/fixtures/render/photo.png"),
        photos.join("123456.png"),
    )
    .unwrap();
    let app_desfire = Profile::demo().desfire.unwrap();
    let keys = IssueKeys::new(
        &app_desfire,
        &hex::decode(DESFIRE_MASTER).unwrap(),
        &hex::decode(DESFIRE_READ_MASTER).unwrap(),
        DesfireKey::des([0; 8]),
        record_signer(),
    )
    .unwrap();
    let session = Session {
        operator: "piotr".into(),
        role: OperatorRole::Printer,
        station: Role::Print,
    };
    let setup = PrintSetup {
        layout: &layout,
        renderer: &renderer,
        desfire: Some((&app_desfire, &keys)),
        els: None,
        photos: Some(&photos),
        university: "Uniwersytet Testowy",
        holograms: false,
        session: &session,
    };
    let mut feed = VpcdFeed::new(ENCODER_PORT, 0x3A00_0000);
    let mut printer = CupsPrinter::new(QUEUE, "Custom.85.6x53.98mm", Duration::from_secs(60));
    let summary = {
        let mut store = Store::open(&print_db).unwrap();
        print::run_batch(
            &mut store,
            &mut feed,
            &mut printer,
            &setup,
            &print::BatchPlan::queue(usize::MAX),
            &Control::default(),
            &mut |event| eprintln!("print station: {event:?}"),
        )
        .unwrap()
    };
    assert_eq!(summary.printed, 1, "{summary:?}");
    drop(encoder);
    let printed = &feed.fed()[0];
    let uid = printed.uid.clone();
    let printed_at = Instant::now();
    let kiosk_db = dir.join("kiosk.sqlite");
    worker.pump_until(
        &runtime,
        &mut app,
        "printed card in the kiosk's register",
        STEP,
        |_| status_at(&kiosk_db, &uid) == Some(CardStatus::Personalized),
    );
    eprintln!("printed to kiosk register: {:.1?}", printed_at.elapsed());

    // 3. The kiosk lets the card in.
    let card: SharedCard = printed.card.clone();
    let in_reader = vpcd::insert(card, KIOSK_PORT, Faults::default(), Duration::from_secs(10))
        .expect("vpcd takes the printed card");
    let valid = tap(dir, &kiosk_reader.name);
    assert_eq!(valid["verdict"], "valid", "{valid}");
    let cards = server.objects("cards");
    assert_eq!(cards.len(), 1, "one card on the server");
    let number = cards[0]["cardNumber"].as_str().unwrap();
    assert!(
        valid["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("card {number}, ")),
        "{valid}"
    );
    assert_eq!(
        valid["evidence"], "authenticated_chip",
        "the chip the print station wrote"
    );

    // 4. The desk blocks it (the window pushes the change itself); the kiosk refuses it.
    let blocked_at = Instant::now();
    for step in [
        desk::Message::AskBlock(desk_card_id),
        desk::Message::BlockReasonChanged("lost".into()),
        desk::Message::ConfirmBlock,
    ] {
        send(&runtime, &mut app, Message::Desk(step));
    }
    worker.pump_until(
        &runtime,
        &mut app,
        "block in the kiosk's register",
        STEP,
        |_| status_at(&kiosk_db, &uid) == Some(CardStatus::Blocked),
    );
    let refused = tap(dir, &kiosk_reader.name);
    let block_to_refusal = blocked_at.elapsed();
    assert_ne!(refused["verdict"], "valid", "{refused}");
    assert!(
        refused["reason"].as_str().unwrap().contains("blocked"),
        "{refused}"
    );
    eprintln!("desk block to kiosk refusal: {block_to_refusal:.1?}");
    assert!(
        block_to_refusal < Duration::from_secs(10),
        "the block took {block_to_refusal:?}"
    );
    in_reader.remove().unwrap();
    drop(kiosk_reader);

    // The headless stations synced only by their own loops, and never failed; the block
    // reached the kiosk by its revocation poll (a round that stored one card), not by a pull.
    for (name, process) in [("print", &print_sync), ("kiosk", &kiosk_sync)] {
        let log = process.log();
        assert!(!log.contains("error:"), "{name} sync: {log}");
    }
    let kiosk_log = kiosk_sync.log();
    assert!(
        kiosk_log
            .lines()
            .any(|line| line.starts_with("revocations\t") && line.contains("updated 1")),
        "{kiosk_log}"
    );
    assert!(app.sync.failed.is_none(), "{:?}", app.sync.failed);
}
