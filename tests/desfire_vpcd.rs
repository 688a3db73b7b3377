//! The DESFire university application through the real PC/SC stack: pcscd + vsmartcard-vpcd
//! + our simulated DESFire card, both through the library and through the binary.

mod common;

use std::process::{Command as Process, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cardstation::card::desfire::{DesfireError, DesfireKey};
use cardstation::card::{Transport, TransportError};
use cardstation::config::{DesfireApp, Profile};
use cardstation::error::Problem;
use cardstation::sim::{DesfireCard, DesfireCardState, Faults, SharedCard, SimTransport, vpcd};
use cardstation::station::desfire::{
    self, CardRecord, DesfireIssueError, DesfireReadError, IssueKeys,
};
use common::{UID, card_present, connect, reader, wait_until};
use p256::ecdsa::SigningKey;
use time::macros::date;

const READER_0: u16 = 35963;
const READER_1: u16 = 35964;
const WAIT: Duration = Duration::from_secs(10);
const MASTER_HEX: &str = "00112233445566778899AABBCCDDEEFF";
const READ_HEX: &str = "F0E1D2C3B4A5968778695A4B3C2D1E0F";
const MASTER_ENV: &str = "CARDSTATION_DEMO_DESFIRE_KEY";
const READ_ENV: &str = "CARDSTATION_DEMO_DESFIRE_READ_KEY";

/// The demo profile's application: what `cardstation` uses without --profile.
fn app() -> DesfireApp {
    Profile::demo()
        .desfire
        .expect("the demo profile has [desfire]")
}

/// A desk's keys: the demo's application master, this read-key master, a fixed signer.
fn keys(read_master: &[u8]) -> IssueKeys {
    let master = hex::decode(MASTER_HEX).unwrap();
    let signer = SigningKey::from_slice(&[0x42; 32]).unwrap();
    IssueKeys::new(
        &app(),
        &master,
        read_master,
        DesfireKey::des([0; 8]),
        signer,
    )
    .unwrap()
}

fn right_keys() -> IssueKeys {
    keys(&hex::decode(READ_HEX).unwrap())
}

fn record(card_number: u64) -> CardRecord {
    CardRecord {
        card_number,
        barcode: format!("29001{card_number:08}"),
        holder_id: "USOS-4711".into(),
        expires: date!(2099 - 09 - 30),
    }
}

fn blank_card() -> Arc<Mutex<DesfireCard>> {
    Arc::new(Mutex::new(DesfireCard::new(DesfireCardState::blank(&UID))))
}

fn insert(card: &Arc<Mutex<DesfireCard>>, port: u16, faults: Faults) -> vpcd::InsertedCard {
    let shared: SharedCard = card.clone();
    vpcd::insert(shared, port, faults, WAIT).expect("vpcd accepts the card")
}

/// Takes the card out and waits until pcscd has seen it go.
fn take_out(inserted: vpcd::InsertedCard, reader: &str) {
    inserted.remove().expect("the card comes out");
    wait_until(WAIT, || !card_present(reader));
}

#[test]
fn issue_then_read_through_pcscd() {
    let reader = reader(READER_0);
    let card = blank_card();
    let inserted = insert(&card, reader.port, Faults::default());
    let mut transport = connect(&reader.name);
    let report = desfire::issue(&mut transport, &app(), &right_keys(), &record(1)).unwrap();
    assert_eq!(report.uid, UID);
    assert!(report.created_application && report.changed_keys);
    let verified = desfire::read(&mut transport, &app(), right_keys().reading()).unwrap();
    assert_eq!(verified.record, record(1));
    assert_eq!(verified.uid, UID);

    let wrong = keys(&[0x5A; 16]);
    let err = desfire::read(&mut transport, &app(), wrong.reading()).unwrap_err();
    assert!(
        matches!(err, DesfireReadError::AuthenticationRefused { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with("authentication refused"),
        "{err}"
    );
    drop(transport);
    take_out(inserted, &reader.name);
}

/// Records the APDUs a transport carries.
struct Recording<T> {
    inner: T,
    apdus: Vec<Vec<u8>>,
}

impl<T: Transport> Transport for Recording<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus.push(apdu.to_vec());
        self.inner.transmit(apdu)
    }
    fn atr(&self) -> &[u8] {
        self.inner.atr()
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        self.inner.reconnect()
    }
}

/// How many APDUs a re-issue of `card` sends before its CommitTransaction (run on a copy).
fn apdus_before_commit(card: &Arc<Mutex<DesfireCard>>) -> u64 {
    let copy: SharedCard = Arc::new(Mutex::new(DesfireCard::new(
        card.lock().unwrap().state().clone(),
    )));
    let mut recording = Recording {
        inner: SimTransport::insert(copy, Faults::default()),
        apdus: Vec::new(),
    };
    desfire::issue(&mut recording, &app(), &right_keys(), &record(2)).unwrap();
    let commit = recording
        .apdus
        .iter()
        .position(|apdu| apdu[..2] == [0x90, 0xC7])
        .expect("the issue commits");
    // WriteData and its continuation frames come right before.
    let write = recording.apdus[..commit]
        .iter()
        .rposition(|apdu| apdu[..2] == [0x90, 0x3D])
        .expect("the issue writes the record");
    assert!(
        recording.apdus[write + 1..commit]
            .iter()
            .all(|apdu| apdu[..2] == [0x90, 0xAF])
    );
    commit as u64
}

#[test]
fn a_tear_during_the_record_write_keeps_the_old_record_and_a_retry_works() {
    let reader = reader(READER_1);
    let card = blank_card();
    let inserted = insert(&card, reader.port, Faults::default());
    desfire::issue(
        &mut connect(&reader.name),
        &app(),
        &right_keys(),
        &record(1),
    )
    .unwrap();
    take_out(inserted, &reader.name);

    // Torn after the new record was written but before it was committed.
    let tear_after = apdus_before_commit(&card);
    let torn = insert(
        &card,
        reader.port,
        Faults {
            tear_after: Some(tear_after),
            ..Faults::default()
        },
    );
    let err = desfire::issue(
        &mut connect(&reader.name),
        &app(),
        &right_keys(),
        &record(2),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DesfireIssueError::Card(DesfireError::Transport(TransportError::CardRemoved))
        ),
        "{err:?}"
    );
    assert!(
        err.next_step().contains("issue again"),
        "{}",
        err.next_step()
    );
    assert_eq!(torn.wait().unwrap(), vpcd::Ended::Torn);
    wait_until(WAIT, || !card_present(&reader.name));

    let inserted = insert(&card, reader.port, Faults::default());
    let mut transport = connect(&reader.name);
    let after_tear = desfire::read(&mut transport, &app(), right_keys().reading()).unwrap();
    assert_eq!(
        after_tear.record,
        record(1),
        "the card rolled the torn write back"
    );
    let retry = desfire::issue(&mut transport, &app(), &right_keys(), &record(2)).unwrap();
    assert!(!retry.created_application && !retry.changed_keys);
    let after_retry = desfire::read(&mut transport, &app(), right_keys().reading()).unwrap();
    assert_eq!(after_retry.record, record(2));
    drop(transport);
    take_out(inserted, &reader.name);
}

/// The binary with the built-in demo profile, its application master and this read-key
/// master in the environment, and its demo record signer in a data directory of its own.
fn cardstation(read_hex: &str, args: &[&str]) -> Output {
    let data = std::env::temp_dir().join(format!("desfire-vpcd-data-{}", std::process::id()));
    Process::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(args)
        .env(MASTER_ENV, MASTER_HEX)
        .env(READ_ENV, read_hex)
        .env("XDG_DATA_HOME", data)
        .output()
        .expect("the binary runs")
}

fn last_line_json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {stdout:?}"))
}

#[test]
fn cli_issue_then_read_json_with_a_simulated_card_process() {
    let reader = reader(READER_0);
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Process::new(env!("CARGO_BIN_EXE_cardstation-sim"))
        .args(["--card", "desfire", "--uid", &hex::encode_upper(UID)])
        .args(["--reader-port", &reader.port.to_string()])
        .arg("--state")
        .arg(dir.path().join("card.json"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let on_reader = ["--reader", reader.name.as_str(), "--wait", "10"];
    let issued = cardstation(
        READ_HEX,
        &[
            &[
                "desfire",
                "issue",
                "--card-number",
                "77",
                "--barcode",
                "2900100000077",
            ],
            &["--holder-id", "USOS-4711", "--expires", "2099-09-30"][..],
            &on_reader[..],
        ]
        .concat(),
    );
    let read = cardstation(
        READ_HEX,
        &[&["desfire", "read", "--json"][..], &on_reader].concat(),
    );
    let wrong_key = cardstation(
        "FFEEDDCCBBAA99887766554433221100",
        &[&["desfire", "read", "--json"][..], &on_reader].concat(),
    );
    sim.kill().unwrap();
    sim.wait().unwrap();
    wait_until(WAIT, || !card_present(&reader.name));

    common::assert_success(&issued);
    let issued_text = String::from_utf8_lossy(&issued.stdout);
    assert!(
        issued_text.contains(&hex::encode_upper(UID)),
        "{issued_text}"
    );

    common::assert_success(&read);
    let verdict = last_line_json(&read);
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["reason"], "valid");
    assert_eq!(verdict["uid"], hex::encode_upper(UID));
    assert_eq!(verdict["card_number"], 77);
    assert_eq!(verdict["barcode"], "2900100000077");
    assert_eq!(verdict["holder_id"], "USOS-4711");
    assert_eq!(verdict["expires"], "2099-09-30");

    assert_eq!(wrong_key.status.code(), Some(1));
    let verdict = last_line_json(&wrong_key);
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["reason"], "authentication_refused");
    assert_eq!(verdict["card_number"], serde_json::Value::Null);
    let stderr = String::from_utf8_lossy(&wrong_key.stderr);
    assert!(stderr.contains("error: authentication refused"), "{stderr}");
    assert!(!stderr.contains("FFEEDDCC"), "{stderr}");
}
