//! DESFire interoperability: the university application our issuance writes is read by an
//! independent EV1 client (tests/peers/desfire_ev1_client.py: pyscard + pycryptodome, written
//! from NXP's notes and public traces, checked against their vectors before it talks to a
//! card) through pcscd + vpcd, with the AN10922 key the issuance documents for reading the
//! record (key 1, from the read-key master, input UID ‖ AID ‖ system id ‖ 01), in the file's
//! own communication mode.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{UID, card_present, reader, wait_until};

const WAIT: Duration = Duration::from_secs(10);
const SYSTEM_PYTHON: &str = "/usr/bin/python3";
/// The demo profile's `[desfire]`: AID F54230, AES keys, system id "DEMO", record file 1.
const MASTER_HEX: &str = "00112233445566778899AABBCCDDEEFF";
const MASTER_ENV: &str = "CARDSTATION_DEMO_DESFIRE_KEY";
const READ_HEX: &str = "F0E1D2C3B4A5968778695A4B3C2D1E0F";
const READ_ENV: &str = "CARDSTATION_DEMO_DESFIRE_READ_KEY";
const READ_KEY_SYSID: &str = "44454D4F01";

fn client() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/desfire_ev1_client.py")
}

/// The client's self-test (its crypto against the published vectors); pyscard missing fails
/// the test in CI.
fn client_available() -> bool {
    let probe = Command::new(SYSTEM_PYTHON)
        .arg(client())
        .arg("--self-test")
        .output();
    let ok = probe.as_ref().is_ok_and(|out| out.status.success());
    if !ok {
        let why = probe.map_or_else(
            |e| e.to_string(),
            |out| String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        let fix = "install python3-pyscard and python3-pycryptodome (scripts/setup.sh)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the DESFire EV1 client cannot run ({why}); {fix}"
        );
        eprintln!("SKIPPED: the DESFire EV1 client cannot run ({why}); {fix}");
    }
    ok
}

fn read_with_client(reader: &str, master: &str) -> Output {
    Command::new(SYSTEM_PYTHON)
        .arg(client())
        .args(["--reader", reader, "--master", master, "--aid", "F54230"])
        .args(["--sysid", READ_KEY_SYSID, "--key-no", "1", "--file", "1"])
        .output()
        .unwrap()
}

#[test]
fn an_independent_ev1_client_reads_the_record_our_issuance_wrote() {
    if !client_available() {
        return;
    }
    let reader = reader(35964);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.json");
    let mut sim = Command::new(env!("CARGO_BIN_EXE_cardstation-sim"))
        .args(["--card", "desfire", "--uid", &hex::encode_upper(UID)])
        .args(["--reader-port", &reader.port.to_string()])
        .arg("--state")
        .arg(&state)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let issued = Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .args([
            "desfire",
            "issue",
            "--card-number",
            "77",
            "--barcode",
            "2900100000077",
        ])
        .args(["--holder-id", "USOS-4711", "--expires", "2099-09-30"])
        .args(["--reader", &reader.name, "--wait", "10"])
        .env(MASTER_ENV, MASTER_HEX)
        .env(READ_ENV, READ_HEX)
        // The demo's record signer is made in this data directory.
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .output()
        .unwrap();
    let read = read_with_client(&reader.name, READ_HEX);
    // The application master derives no read key: the kiosk's key is another master's.
    let wrong_master = read_with_client(&reader.name, MASTER_HEX);
    sim.kill().unwrap();
    sim.wait().unwrap();
    wait_until(WAIT, || !card_present(&reader.name));

    common::assert_success(&issued);
    common::assert_success(&read);
    let stdout = String::from_utf8_lossy(&read.stdout);
    let read: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(read["uid"], hex::encode_upper(UID));
    assert_eq!(
        read["settings"],
        serde_json::json!({
            "file_type": "backup", "comm_mode": "enciphered", "read_key": 1, "write_key": 0,
            "read_write_key": 0, "change_key": 0, "size": 128
        })
    );

    // Byte for byte what the issuance left in the card's record file.
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let written = card["applications"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|file| file["file_no"] == 1)
        .expect("the record file")["data"]
        .as_str()
        .unwrap()
        .to_uppercase();
    let data = hex::decode(read["data"].as_str().unwrap()).unwrap();
    assert_eq!(hex::encode_upper(&data), written);
    // And it says what was issued, in the documented layout.
    assert_eq!(data[0], 2, "layout version");
    assert_eq!(u64::from_be_bytes(data[1..9].try_into().unwrap()), 77);
    assert_eq!(&data[9..22], b"2900100000077");
    assert!(data[22..33].iter().all(|&b| b == 0));
    assert_eq!(&data[33..42], b"USOS-4711");
    assert_eq!(&data[57..61], &[0x08, 0x33, 9, 30], "2099-09-30");
    assert!(
        data[61..125].iter().any(|&b| b != 0),
        "the 64-byte record signature"
    );

    assert_eq!(wrong_master.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&wrong_master.stderr);
    assert!(stderr.contains("AuthenticateAES"), "{stderr}");
}
