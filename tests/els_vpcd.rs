//! ELS issuance through the real pcscd + vpcd with the simulated ELS chip, driven through the
//! `cardstation` binary and through the library, with signer keys made by openssl.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cardstation::card::els::{self, CardKey};
use cardstation::card::pcsc::{self, PcscTransport, Sharing};
use cardstation::config::keys;
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::crypto::els_sig::{Certificates, ElsData};
use cardstation::sim::{self, ElsCard, ElsCardState, Faults, SharedCard, vpcd};
use cardstation::station::issue::{self, ElsSource, Signer};
use common::{UID, assert_success, reader};
use zeroize::Zeroizing;

const CARD_KEY: &str = "00112233445566778899AABBCCDDEEFF";
const WAIT: Duration = Duration::from_secs(10);

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        common::make_signer_files(
            dir.path(),
            "/CN=osoba uprawniona do wystawiania legitymacji/O=Uniwersytet Testowy/C=PL",
        );
        std::fs::write(
            dir.path().join("data.json"),
            r#"{"chip_serial":"04A1B2C3D4E5F6","university":"Uniwersytet Łódzki","surnames":["Żółkiewska"],"given_names":["Anna","Maria"],"album_number":"123456","edition":"A","pesel":"02070803628","expires":"2031-03-31"}"#,
        )
        .unwrap();
        Self { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn signer(&self) -> Signer {
        Signer {
            key: keys::load_signing_key(&self.path("key.pem"), None).unwrap(),
            certificate: keys::load_certificate(&self.path("cert.pem")).unwrap(),
        }
    }
}

fn cardstation(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(args)
        .current_dir(dir)
        // `els read` and `els verify` check the store's revocations: the test's own store.
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("CARDSTATION_LOG_DIR", dir.join("logs"))
        .output()
        .unwrap()
}

/// `els write` of data.json, signed with the test signer, to the card in `reader`.
fn els_write(card_key: &str, reader: &str, dir: &Path) -> Output {
    cardstation(
        &[
            "els",
            "write",
            "--data",
            "data.json",
            "--key",
            "key.pem",
            "--cert",
            "cert.pem",
            "--card-key",
            card_key,
            "--reader",
            reader,
        ],
        dir,
    )
}

/// `els read --json` of the card in `reader`, checked against the test certificate.
fn els_read_json(reader: &str, dir: &Path) -> Output {
    cardstation(
        &[
            "els", "read", "--reader", reader, "--cert", "cert.pem", "--json",
        ],
        dir,
    )
}

/// The verdict `els read --json` prints as its last line.
fn verdict(read: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&read.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn card_key() -> CardKey {
    CardKey::Master {
        algorithm: KeyAlgorithm::Aes128,
        master: Zeroizing::new(hex::decode(CARD_KEY).unwrap()),
        system_id: b"ELS".to_vec(),
    }
}

fn personalised_card() -> SharedCard {
    sim::shared(ElsCard::new(ElsCardState::personalised(
        &UID,
        &card_key().for_card(&UID).unwrap(),
    )))
}

#[test]
fn openssl_accepts_what_els_sign_writes_and_els_verify_rejects_any_flipped_byte() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let signed = cardstation(
        &[
            "els",
            "sign",
            "--data",
            "data.json",
            "--key",
            "key.pem",
            "--cert",
            "cert.pem",
            "--out",
            "els.der",
        ],
        dir,
    );
    assert_success(&signed);
    let openssl = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            "els.der",
            "-CAfile",
            "cert.pem",
            "-purpose",
            "any",
            "-out",
            "content.der",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        openssl.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&openssl.stderr)
    );
    assert_eq!(
        std::fs::read(dir.join("content.der")).unwrap()[0],
        0x30,
        "the content is the SELSInfo SEQUENCE"
    );
    let ok = cardstation(
        &[
            "els",
            "verify",
            "els.der",
            "--cert",
            "cert.pem",
            "--chip-serial",
            "04A1B2C3D4E5F6",
        ],
        dir,
    );
    assert_success(&ok);

    let original = std::fs::read(dir.join("els.der")).unwrap();
    let content_at = original
        .windows(6)
        .position(|w| w == "123456".as_bytes())
        .expect("album number in the content");
    let signature_at = original.len() - 10;
    for (what, at) in [("content", content_at), ("signature", signature_at)] {
        let mut flipped = original.clone();
        flipped[at] ^= 0x01;
        std::fs::write(dir.join("flipped.der"), &flipped).unwrap();
        let out = cardstation(&["els", "verify", "flipped.der", "--cert", "cert.pem"], dir);
        assert_eq!(
            out.status.code(),
            Some(1),
            "a flipped {what} byte must fail"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("forged check failed") || stderr.contains("malformed check failed"),
            "{stderr}"
        );
    }
}

#[test]
fn els_write_then_read_json_through_pcscd_and_a_wrong_key_writes_nothing() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let reader = reader(35963);
    let card = personalised_card();
    let _in_reader = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();

    let wrong = els_write("FF112233445566778899AABBCCDDEEFF", &reader.name, dir);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("refused the write key"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let empty = els_read_json(&reader.name, dir);
    assert_eq!(empty.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&empty.stderr).contains("EF.ELS is empty"),
        "nothing was written"
    );

    assert_success(&els_write(CARD_KEY, &reader.name, dir));
    let read = els_read_json(&reader.name, dir);
    assert_success(&read);
    let verdict = verdict(&read);
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["uid"], "04A1B2C3D4E5F6");
    assert_eq!(verdict["data"]["surnames"][0], "Żółkiewska");
    assert_eq!(verdict["data"]["given_names"][1], "Maria");
    assert_eq!(verdict["data"]["pesel"], "02070803628");
    assert_eq!(verdict["data"]["expires"], "2031-03-31");
}

fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

fn student(pki: &Pki) -> cardstation::crypto::els_sig::ElsData {
    serde_json::from_str(&std::fs::read_to_string(pki.path("data.json")).unwrap()).unwrap()
}

#[test]
fn same_data_on_another_chip_reads_as_wrong_chip() {
    let pki = Pki::new();
    let reader = reader(35964);
    let signer = pki.signer();
    let trusted = [signer.certificate.clone()];
    let genuine = Arc::new(Mutex::new(ElsCard::new(ElsCardState::personalised(
        &UID,
        &card_key().for_card(&UID).unwrap(),
    ))));
    let source = ElsSource::Sign {
        data: student(&pki),
        signer: &signer,
    };
    issue::issue(
        &mut sim::SimTransport::insert(genuine.clone(), Faults::default()),
        source,
        &card_key(),
        &trusted,
        today(),
    )
    .unwrap();
    // A clone: the genuine card's files on a blank chip with another serial.
    let other_uid = [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
    let genuine_files = genuine.lock().unwrap().state().clone();
    let clone = ElsCardState {
        uid: other_uid.to_vec(),
        ..genuine_files
    };
    let _in_reader = vpcd::insert(
        sim::shared(ElsCard::new(clone)),
        reader.port,
        Faults::default(),
        WAIT,
    )
    .unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    let verdict = verdict(&els_read_json(&reader.name, pki.dir.path()));
    assert_eq!(verdict["valid"], false, "{verdict}");
    assert_eq!(verdict["reason"], "wrong_chip");
    assert_eq!(verdict["uid"], "04112233445566");
}

/// Through pcscd: the card torn at every APDU of the write never reads as valid, and the
/// same card put back is rewritten successfully.
#[test]
fn a_tear_at_every_apdu_of_a_write_through_pcscd() {
    let pki = Pki::new();
    let reader = reader(35963);
    let signer = pki.signer();
    let trusted = [signer.certificate.clone()];
    let connect = || {
        PcscTransport::connect(
            &pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap(),
            Sharing::Exclusive,
        )
        .unwrap()
    };
    // How many APDUs the write takes: the UID read plus els::write's.
    let write_apdus = {
        let card = personalised_card();
        let mut counter = sim::SimTransport::insert(card.clone(), Faults::default());
        let data = ElsData {
            chip_serial: "04A1B2C3D4E5F6".into(),
            ..student(&pki)
        };
        let structure = signer.sign(&data, Certificates::InEfCert, today()).unwrap();
        let cert = der::Encode::to_der(&signer.certificate).unwrap();
        els::write(
            &mut counter,
            Some(&card_key().for_card(&UID).unwrap()),
            &structure,
            Some(&cert),
        )
        .unwrap();
        1 + counter.answered()
    };
    for tear_after in 0..=write_apdus {
        let card = personalised_card();
        let torn = vpcd::insert(
            card.clone(),
            reader.port,
            Faults {
                tear_after: Some(tear_after),
                ..Faults::default()
            },
            WAIT,
        )
        .unwrap();
        let mut transport = connect();
        let source = ElsSource::Sign {
            data: student(&pki),
            signer: &signer,
        };
        let result = issue::issue(&mut transport, source, &card_key(), &trusted, today());
        assert!(
            result.is_err(),
            "the tear after {tear_after} APDUs interrupts the issuance"
        );
        drop(transport);
        assert_eq!(torn.wait().unwrap(), vpcd::Ended::Torn);
        common::wait_until(WAIT, || !common::card_present(&reader.name));

        let _back = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();
        let mut transport = connect();
        let reading = issue::read_and_verify(&mut transport, &trusted, today());
        let valid = matches!(reading, Ok(issue::Reading { verdict: Ok(_), .. }));
        assert!(
            !valid || tear_after >= write_apdus,
            "a tear after {tear_after} of {write_apdus} write APDUs left a valid card"
        );
        let source = ElsSource::Sign {
            data: student(&pki),
            signer: &signer,
        };
        issue::issue(&mut transport, source, &card_key(), &trusted, today())
            .unwrap_or_else(|err| panic!("rewrite after a tear at {tear_after} failed: {err}"));
        drop(transport);
        drop(_back);
        common::wait_until(WAIT, || !common::card_present(&reader.name));
    }
}

/// Runs the ELS workflows, successes and failures, with RUST_LOG=trace and checks that no key
/// material reaches stdout, stderr or the log files: the card key master (any case), the
/// per-card diversified key, the key passphrase, the private key's PEM body.
#[test]
fn no_secret_reaches_any_output_or_log_file() {
    let pki = Pki::new();
    let dir = pki.dir.path();
    let passphrase = "correct horse battery staple 42";
    let encrypted = Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-in",
            "key.pem",
            "-out",
            "key-enc.pem",
            "-passout",
            &format!("pass:{passphrase}"),
        ])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(encrypted.success());
    std::fs::set_permissions(
        pki.path("key-enc.pem"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let reader = reader(35963);
    let _in_reader =
        vpcd::insert(personalised_card(), reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();

    let logs = dir.join("logs");
    let run = |args: &[&str], card_key: &str, pass: &str| {
        Command::new(env!("CARGO_BIN_EXE_cardstation"))
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "trace")
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("CARDSTATION_LOG_DIR", &logs)
            .env("TEST_CARD_KEY", card_key)
            .env("TEST_PASS", pass)
            .output()
            .unwrap()
    };
    let write = [
        "els",
        "write",
        "--data",
        "data.json",
        "--key",
        "key-enc.pem",
        "--passphrase-env",
        "TEST_PASS",
        "--cert",
        "cert.pem",
        "--card-key-env",
        "TEST_CARD_KEY",
        "--reader",
        &reader.name,
    ];
    let outputs = [
        run(&write, CARD_KEY, passphrase),
        run(&write, "FF112233445566778899AABBCCDDEEFF", passphrase), // the card refuses the key
        run(&write, CARD_KEY, "wrong passphrase"),
        run(&write, "not hex at all", passphrase),
        run(
            &[
                "--log-json",
                "els",
                "read",
                "--reader",
                &reader.name,
                "--cert",
                "cert.pem",
                "--json",
            ],
            CARD_KEY,
            passphrase,
        ),
        run(
            &[
                "els",
                "sign",
                "--data",
                "data.json",
                "--key",
                "key-enc.pem",
                "--passphrase-env",
                "TEST_PASS",
                "--cert",
                "cert.pem",
                "--out",
                "out.der",
            ],
            CARD_KEY,
            passphrase,
        ),
    ];
    assert_success(&outputs[0]);
    assert_eq!(outputs[1].status.code(), Some(1));
    assert_eq!(outputs[2].status.code(), Some(1));
    assert_eq!(outputs[3].status.code(), Some(1));

    let diversified = card_key().for_card(&UID).unwrap();
    let pem_body: String = std::fs::read_to_string(pki.path("key.pem"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let secrets = [
        CARD_KEY.to_owned(),
        CARD_KEY.to_lowercase(),
        "FF112233445566778899AABBCCDDEEFF".to_owned(),
        hex::encode_upper(diversified.expose()),
        hex::encode(diversified.expose()),
        passphrase.to_owned(),
        pem_body[..40].to_owned(),
    ];
    let mut everything = String::new();
    for output in &outputs {
        everything.push_str(&String::from_utf8_lossy(&output.stdout));
        everything.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    let log_files: Vec<_> = std::fs::read_dir(&logs)
        .expect("a log directory was made")
        .flatten()
        .collect();
    assert!(!log_files.is_empty(), "the workflows wrote log files");
    for file in log_files {
        everything.push_str(&std::fs::read_to_string(file.path()).unwrap());
    }
    assert!(
        everything.contains("issue: card verified on the chip"),
        "the log has the workflow summary"
    );
    for secret in &secrets {
        assert!(
            !everything.contains(secret.as_str()),
            "a secret leaked: {}…",
            &secret[..6]
        );
    }
}
