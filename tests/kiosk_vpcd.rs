//! The issuance desk and the kiosk end to end through pcscd + vpcd, driven through the
//! `cardstation` binary: import a person, issue their card, trust the signer, tap.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cardstation::card::els::CardKey;
use cardstation::card::pcsc;
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::sim::{self, ElsCard, ElsCardState, Faults, vpcd};
use cardstation::store::{CardStatus, Store, UidKind};
use common::{UID, reader};
use zeroize::Zeroizing;

const CARD_KEY: &str = "00112233445566778899AABBCCDDEEFF";
const WAIT: Duration = Duration::from_secs(10);

fn cardstation(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(["--db", "station.sqlite"])
        .args(args)
        .current_dir(dir)
        .env("CARDSTATION_LOG_DIR", dir.join("logs"))
        // The demo profile's [desfire] master key, as scripts/demo.sh sets it.
        .env(
            "CARDSTATION_DEMO_DESFIRE_KEY",
            "00112233445566778899AABBCCDDEEFF",
        )
        .output()
        .unwrap()
}

fn last_json(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| {
        panic!(
            "no output; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    serde_json::from_str(line).unwrap()
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status();
    assert!(
        status
            .expect("openssl is installed (scripts/setup.sh)")
            .success(),
        "openssl {args:?}"
    );
}

fn personalised(uid: &[u8]) -> ElsCardState {
    let key = CardKey::Master {
        algorithm: KeyAlgorithm::Aes128,
        master: Zeroizing::new(hex::decode(CARD_KEY).unwrap()),
        system_id: b"ELS".to_vec(),
    };
    ElsCardState::personalised(uid, &key.for_card(uid).unwrap())
}

#[test]
fn issue_for_a_cardholder_then_the_kiosk_says_valid_blocked_forged() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "key.pem",
        ],
    );
    std::fs::set_permissions(
        dir.join("key.pem"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "key.pem",
            "-subj",
            "/CN=osoba uprawniona do wystawiania legitymacji/O=Uniwersytet Testowy/C=PL",
            "-days",
            "3650",
            "-out",
            "cert.pem",
        ],
    );
    std::fs::write(
        dir.join("people.csv"),
        "firstName,lastName,birthDate,albumNumber,pesel\nJan,Nowak,1944-05-14,654321,44051401359\n",
    )
    .unwrap();
    let import = cardstation(dir, &["import", "persons", "people.csv"]);
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );

    let reader = reader(35963);
    let card = sim::shared(ElsCard::new(personalised(&UID)));
    let in_reader = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    let write = cardstation(
        dir,
        &[
            "els",
            "write",
            "--cardholder",
            "1",
            "--university",
            "Uniwersytet Łódzki",
            "--edition",
            "B",
            "--expires",
            "2031-06-30",
            "--key",
            "key.pem",
            "--cert",
            "cert.pem",
            "--card-key",
            CARD_KEY,
            "--reader",
            &reader.name,
        ],
    );
    assert!(
        write.status.success(),
        "{}",
        String::from_utf8_lossy(&write.stderr)
    );
    assert!(String::from_utf8_lossy(&write.stdout).contains("recorded as card 1 of cardholder 1"));
    assert!(
        cardstation(dir, &["trust", "add", "cert.pem"])
            .status
            .success()
    );

    let tap = || {
        cardstation(
            dir,
            &[
                "validate",
                "--once",
                "--wait",
                "10",
                "--json",
                "--reader",
                &reader.name,
            ],
        )
    };
    let valid = last_json(&tap());
    assert_eq!(valid["verdict"], "valid", "{valid}");
    assert_eq!(valid["evidence"], "signed_chip");
    assert_eq!(valid["holder_id"], "1");
    assert!(valid["reason"].as_str().unwrap().contains("Jan Nowak"));
    assert!(
        valid["ms"].as_f64().unwrap() < 300.0,
        "tap to verdict {} ms",
        valid["ms"]
    );

    // Reported lost at the desk: the signature is still perfect, the register says no.
    {
        let mut store = Store::open(&dir.join("station.sqlite")).unwrap();
        let card_id = store
            .find_card_by_uid(UidKind::Contact, &UID)
            .unwrap()
            .unwrap()
            .id;
        store
            .set_card_status(card_id, CardStatus::Blocked, "desk", "reported lost")
            .unwrap();
    }
    let blocked = last_json(&tap());
    assert_eq!(
        (blocked["verdict"].as_str(), blocked["reason"].as_str()),
        (Some("blocked"), Some("card blocked"))
    );

    // The card's files copied onto another chip.
    in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));
    let mut copier = sim::SimTransport::insert(card, Faults::default());
    let structure = cardstation::card::els::read_els(&mut copier).unwrap();
    let certificate = cardstation::card::els::read_cert(&mut copier)
        .unwrap()
        .unwrap();
    let mut clone = ElsCardState::blank(&[0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66]);
    clone.ef_els[..structure.len()].copy_from_slice(&structure);
    clone.ef_cert[..certificate.len()].copy_from_slice(&certificate);
    let _clone_in_reader = vpcd::insert(
        sim::shared(ElsCard::new(clone)),
        reader.port,
        Faults::default(),
        WAIT,
    )
    .unwrap();
    let forged = last_json(&tap());
    assert_eq!(forged["verdict"], "forged", "{forged}");
    assert!(forged["reason"].as_str().unwrap().starts_with("wrong_chip"));

    // Every tap is in the validations log, and the audit chain holds.
    let status = cardstation(dir, &["audit", "verify"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}
