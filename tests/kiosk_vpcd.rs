//! The issuance desk and the kiosk end to end through pcscd + vpcd, driven through the
//! `cardstation` binary: import a person, issue their card, trust the signer, tap.

mod common;

use std::path::Path;
use std::process::{Command, Output};
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
/// The DESFire application master (desk only) and read-key master (desk and kiosk).
const DESFIRE_MASTER: &str = "00112233445566778899AABBCCDDEEFF";
const DESFIRE_READ: &str = "F0E1D2C3B4A5968778695A4B3C2D1E0F";
/// The demo profile's university application, which the test profiles use too.
const DESFIRE_APP: &str = "aid = \"F54230\"\nkey_type = \"aes\"\nsystem_id = \"44454D4F\"\nrecord_file = 1\nrecord_size = 128\ncomm_mode = \"enciphered\"\nread_key_env = \"TEST_DESFIRE_READ_KEY\"\n";

/// The `cardstation` binary on `dir`'s store, with the test keys in its environment.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cardstation"));
    command
        .args(["--db", "station.sqlite"])
        .args(args)
        .current_dir(dir)
        .env("CARDSTATION_LOG_DIR", dir.join("logs"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("TEST_DESFIRE_KEY", DESFIRE_MASTER)
        .env("TEST_DESFIRE_READ_KEY", DESFIRE_READ);
    command
}

fn cardstation(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

/// The kiosk's profile in `dir`: the DESFire read-key master's variable and the record
/// signer's public key (from `key.pem`, see `common::make_signer_files`), nothing that writes.
fn write_kiosk_profile(dir: &Path) {
    let status = Command::new("openssl")
        .args([
            "pkey",
            "-in",
            "key.pem",
            "-pubout",
            "-out",
            "record.pub.pem",
        ])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        dir.join("kiosk.toml"),
        format!(
            "role = \"kiosk\"\ndatabase = \"unused.sqlite\"\n[desfire]\n{DESFIRE_APP}record_verify_key = \"record.pub.pem\"\n"
        ),
    )
    .unwrap();
}

/// The desk's DESFire keys as the kiosk profile expects them, the record signed by `key.pem`.
fn desk_desfire_keys(dir: &Path) -> cardstation::station::desfire::IssueKeys {
    use cardstation::card::desfire::DesfireKey;
    let app = cardstation::config::Profile::demo().desfire.unwrap();
    cardstation::station::desfire::IssueKeys::new(
        &app,
        &hex::decode(DESFIRE_MASTER).unwrap(),
        &hex::decode(DESFIRE_READ).unwrap(),
        DesfireKey::des([0; 8]),
        cardstation::config::keys::load_signing_key(&dir.join("key.pem"), None).unwrap(),
    )
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

/// One kiosk tap on the card in `reader`: the verdict `validate --once --json` prints with
/// the kiosk profile (see [`write_kiosk_profile`]).
fn tap(dir: &Path, reader: &str) -> serde_json::Value {
    last_json(&cardstation(
        dir,
        &[
            "--profile",
            "kiosk.toml",
            "validate",
            "--once",
            "--wait",
            "10",
            "--json",
            "--reader",
            reader,
        ],
    ))
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
    common::make_signer_files(
        dir,
        "/CN=osoba uprawniona do wystawiania legitymacji/O=Uniwersytet Testowy/C=PL",
    );
    write_kiosk_profile(dir);
    std::fs::write(
        dir.join("people.csv"),
        "firstName,lastName,birthDate,albumNumber,pesel\nJan,Nowak,1944-05-14,654321,44051401359\n",
    )
    .unwrap();
    let import = cardstation(dir, &["import", "persons", "people.csv"]);
    common::assert_success(&import);

    let reader = reader(35963);
    let card = sim::shared(ElsCard::new(personalised(&UID)));
    let in_reader = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    // The desk's profile names the signer files and the card key's variable.
    std::fs::write(
        dir.join("desk.toml"),
        format!(
            "role = \"issuance\"\ndatabase = \"unused.sqlite\"\n[els]\nsigner_key = \"{}\"\nsigner_cert = \"{}\"\ncard_key_env = \"TEST_ELS_CARD_KEY\"\nuniversity = \"Uniwersytet Łódzki\"\nedition = \"B\"\n",
            dir.join("key.pem").display(),
            dir.join("cert.pem").display()
        ),
    )
    .unwrap();
    let els_write = || {
        Command::new(env!("CARGO_BIN_EXE_cardstation"))
            .args([
                "--db",
                "station.sqlite",
                "--profile",
                "desk.toml",
                "els",
                "write",
                "--cardholder",
                "1",
                "--expires",
                "2031-06-30",
                "--reader",
                &reader.name,
            ])
            .current_dir(dir)
            .env("CARDSTATION_LOG_DIR", dir.join("logs"))
            .env("TEST_ELS_CARD_KEY", CARD_KEY)
            .output()
            .unwrap()
    };
    let write = els_write();
    common::assert_success(&write);
    assert!(String::from_utf8_lossy(&write.stdout).contains("recorded as card 1 of cardholder 1"));
    assert!(
        cardstation(dir, &["trust", "add", "cert.pem"])
            .status
            .success()
    );

    let valid = tap(dir, &reader.name);
    assert_eq!(valid["verdict"], "valid", "{valid}");
    assert_eq!(valid["evidence"], "signed_chip");
    assert_eq!(valid["holder_id"], "1");
    assert!(valid["reason"].as_str().unwrap().contains("Jan Nowak"));
    // An ELS-only card: the public format has no chip authentication, and the verdict says so.
    assert!(
        valid["reason"]
            .as_str()
            .unwrap()
            .ends_with("signature only, chip not authenticated"),
        "{valid}"
    );
    assert!(
        valid["ms"].as_f64().unwrap() < 300.0,
        "tap to verdict {} ms",
        valid["ms"]
    );

    // A second chip for the same cardholder while card 1 is in use is refused before
    // anything is written (the desk asks for a reason; the command line cannot).
    in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));
    let second_chip = sim::shared(ElsCard::new(personalised(&[
        0x04, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44,
    ])));
    let second_in_reader = vpcd::insert(second_chip, reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    let second = els_write();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second card was written");
    assert!(stderr.contains("already has card 1 in use"), "{stderr}");
    assert_eq!(
        Store::open(&dir.join("station.sqlite"))
            .unwrap()
            .cards_of_cardholder(1)
            .unwrap()
            .len(),
        1
    );
    second_in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));
    let in_reader = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();

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
    let blocked = tap(dir, &reader.name);
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
    let forged = tap(dir, &reader.name);
    assert_eq!(forged["verdict"], "forged", "{forged}");
    assert!(forged["reason"].as_str().unwrap().starts_with("wrong_chip"));

    // Every tap is in the validations log, and the audit chain holds.
    let status = cardstation(dir, &["audit", "verify"]);
    common::assert_success(&status);
}

/// The other verdicts through pcscd: an expired ELS card, a card the register does not know,
/// and a DESFire card whose record was altered by one byte.
#[test]
fn expired_unknown_and_tampered_desfire_through_pcscd() {
    use cardstation::config::Profile;
    use cardstation::station::desfire::{self, CardRecord};
    use cardstation::station::issue::{self, ElsSource, Signer};
    use std::sync::{Arc, Mutex};
    use time::macros::date;

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    common::make_signer_files(dir, "/CN=signer/O=Uniwersytet Testowy/C=PL");
    write_kiosk_profile(dir);
    assert!(
        cardstation(dir, &["trust", "add", "cert.pem"])
            .status
            .success()
    );
    let reader = reader(35964);

    // Issued in 2020, valid until the end of 2021.
    let signer = Signer {
        key: cardstation::config::keys::load_signing_key(&dir.join("key.pem"), None).unwrap(),
        certificate: cardstation::config::keys::load_certificate(&dir.join("cert.pem")).unwrap(),
    };
    let old = sim::shared(ElsCard::new(personalised(&UID)));
    let data = cardstation::crypto::els_sig::ElsData {
        chip_serial: String::new(),
        university: "Uniwersytet Testowy".into(),
        surnames: vec!["Nowak".into()],
        given_names: vec!["Jan".into()],
        album_number: "1".into(),
        edition: "A".into(),
        pesel: "44051401359".into(),
        expires: date!(2021 - 12 - 31),
    };
    let key = CardKey::Master {
        algorithm: KeyAlgorithm::Aes128,
        master: Zeroizing::new(hex::decode(CARD_KEY).unwrap()),
        system_id: b"ELS".to_vec(),
    };
    let mut transport = sim::SimTransport::insert(old.clone(), Faults::default());
    issue::issue(
        &mut transport,
        ElsSource::Sign {
            data,
            signer: &signer,
        },
        &key,
        std::slice::from_ref(&signer.certificate),
        date!(2020 - 10 - 01),
    )
    .unwrap();
    let in_reader = vpcd::insert(old, reader.port, Faults::default(), WAIT).unwrap();
    let expired = tap(dir, &reader.name);
    assert_eq!(expired["verdict"], "expired", "{expired}");
    in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));

    // A DESFire card issued with the demo profile's application and the desk's keys.
    let app = Profile::demo().desfire.unwrap();
    let keys = desk_desfire_keys(dir);
    let desfire_uid = [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
    let card = Arc::new(Mutex::new(sim::DesfireCard::new(
        sim::DesfireCardState::blank(&desfire_uid),
    )));
    let record = CardRecord {
        card_number: 7,
        barcode: "2900000000007".into(),
        holder_id: "USOS-7".into(),
        expires: date!(2031 - 09 - 30),
    };
    desfire::issue(
        sim::SimTransport::insert(card.clone(), Faults::default()),
        &app,
        &keys,
        &record,
    )
    .unwrap();
    let in_reader = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();
    let genuine = tap(dir, &reader.name);
    assert_eq!(
        (genuine["verdict"].as_str(), genuine["evidence"].as_str()),
        (Some("valid"), Some("authenticated_chip")),
        "{genuine}"
    );
    in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));

    // The same card with one byte of its record changed (the holder id).
    {
        let mut card = card.lock().unwrap();
        let state = card.state_mut();
        let application = state
            .applications
            .iter_mut()
            .find(|a| a.aid == app.aid)
            .unwrap();
        let file = application
            .files
            .iter_mut()
            .find(|f| f.file_no == app.record_file)
            .unwrap();
        let holder_at = file.data.windows(6).position(|w| w == b"USOS-7").unwrap();
        file.data[holder_at + 5] = b'8';
    }
    let _tampered = vpcd::insert(card, reader.port, Faults::default(), WAIT).unwrap();
    let forged = tap(dir, &reader.name);
    assert_eq!(forged["verdict"], "forged", "{forged}");
    assert!(
        forged["reason"].as_str().unwrap().starts_with("forged"),
        "{forged}"
    );

    // A blank card of another kind: only its UID, which nobody registered.
    drop(_tampered);
    common::wait_until(WAIT, || !common::card_present(&reader.name));
    let _blank = vpcd::insert(
        sim::shared(sim::DesfireCard::new(sim::DesfireCardState::blank(&[
            4, 9, 9, 9, 9, 9, 9,
        ]))),
        reader.port,
        Faults::default(),
        WAIT,
    )
    .unwrap();
    let unknown = tap(dir, &reader.name);
    assert_eq!(
        (unknown["verdict"].as_str(), unknown["reason"].as_str()),
        (Some("unknown"), Some("card not in the register"))
    );
}

/// `desfire issue --cardholder` records the card's contactless UID in the store, so the
/// kiosk finds the card registered to that holder.
#[test]
fn desfire_issue_for_a_cardholder_records_the_contactless_uid() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    common::make_signer_files(dir, "/CN=signer/O=Uniwersytet Testowy/C=PL");
    write_kiosk_profile(dir);
    std::fs::write(
        dir.join("desk.toml"),
        format!(
            "role = \"issuance\"\ndatabase = \"unused.sqlite\"\n[desfire]\n{DESFIRE_APP}master_key_env = \"TEST_DESFIRE_KEY\"\nrecord_signer_key = \"key.pem\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("people.csv"),
        "firstName,lastName,birthDate,personNumber\nEwa,Lis,1999-02-03,P-0042\n",
    )
    .unwrap();
    assert!(
        cardstation(dir, &["import", "persons", "people.csv"])
            .status
            .success()
    );
    let reader = reader(35963);
    let uid = [0x04, 0x21, 0x32, 0x43, 0x54, 0x65, 0x76];
    let _in_reader = vpcd::insert(
        sim::shared(sim::DesfireCard::new(sim::DesfireCardState::blank(&uid))),
        reader.port,
        Faults::default(),
        WAIT,
    )
    .unwrap();
    let issue = cardstation(
        dir,
        &[
            "--profile",
            "desk.toml",
            "desfire",
            "issue",
            "--cardholder",
            "1",
            "--card-number",
            "42",
            "--barcode",
            "2900000000042",
            "--expires",
            "2031-09-30",
            "--reader",
            &reader.name,
            "--wait",
            "10",
        ],
    );
    common::assert_success(&issue);
    assert!(String::from_utf8_lossy(&issue.stdout).contains("recorded as card 1 of cardholder 1"));
    let store = Store::open(&dir.join("station.sqlite")).unwrap();
    let card = store
        .find_card_by_uid(UidKind::Contactless, &uid)
        .unwrap()
        .expect("the contactless UID is recorded");
    assert_eq!(card.fields.card_number.as_deref(), Some("42"));
    assert!(
        card.fields.desfire_issued,
        "the kiosk will ask this card for its DESFire proof"
    );

    let verdict = tap(dir, &reader.name);
    assert_eq!(
        (verdict["verdict"].as_str(), verdict["evidence"].as_str()),
        (Some("valid"), Some("authenticated_chip")),
        "{verdict}"
    );
    assert_eq!(verdict["holder_id"], "1");
    assert!(
        verdict["reason"]
            .as_str()
            .unwrap()
            .contains("holder P-0042"),
        "the record names the person number: {verdict}"
    );

    // An attacker's emulator presenting the registered UID and nothing else: a blank chip
    // with the same UID, no university application. The register knows the UID, but a UID
    // proves nothing: forged, not valid.
    drop(_in_reader);
    common::wait_until(WAIT, || !common::card_present(&reader.name));
    let _spoofed = vpcd::insert(
        sim::shared(sim::DesfireCard::new(sim::DesfireCardState::blank(&uid))),
        reader.port,
        Faults::default(),
        WAIT,
    )
    .unwrap();
    let spoofed = tap(dir, &reader.name);
    assert_eq!(
        (spoofed["verdict"].as_str(), spoofed["evidence"].as_str()),
        (Some("forged"), Some("uid_only")),
        "{spoofed}"
    );
    assert!(
        spoofed["reason"].as_str().unwrap().contains("emulator"),
        "{spoofed}"
    );
}

/// Item 2 of the kiosk's threat list: a card registered as dual-interface (ELS contact chip
/// plus the DESFire application on one chip) must prove its chip with the DESFire
/// challenge-response; a chip serving that card's EF.ELS under its UID without the DESFire
/// application, or with another system's DESFire keys, is forged.
#[test]
fn a_copied_els_of_a_dual_interface_card_is_forged_through_pcscd() {
    use cardstation::config::Profile;
    use cardstation::station::desfire::{self, CardRecord};
    use cardstation::station::issue::{self, ElsSource, Signer};
    use cardstation::store::NewCard;
    use time::macros::date;

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    common::make_signer_files(dir, "/CN=signer/O=Uniwersytet Testowy/C=PL");
    write_kiosk_profile(dir);
    assert!(
        cardstation(dir, &["trust", "add", "cert.pem"])
            .status
            .success()
    );
    let reader = reader(35963);
    let signer = Signer {
        key: cardstation::config::keys::load_signing_key(&dir.join("key.pem"), None).unwrap(),
        certificate: cardstation::config::keys::load_certificate(&dir.join("cert.pem")).unwrap(),
    };
    let els_key = CardKey::Master {
        algorithm: KeyAlgorithm::Aes128,
        master: Zeroizing::new(hex::decode(CARD_KEY).unwrap()),
        system_id: b"ELS".to_vec(),
    };
    let app = Profile::demo().desfire.unwrap();
    let expires = date!(2031 - 09 - 30);

    // The desk issues both applications onto one chip.
    let dual = sim::shared(sim::DualInterfaceCard::new(
        ElsCard::new(personalised(&UID)),
        sim::DesfireCard::new(sim::DesfireCardState::blank(&UID)),
    ));
    let data = cardstation::crypto::els_sig::ElsData {
        chip_serial: String::new(),
        university: "Uniwersytet Testowy".into(),
        surnames: vec!["Nowak".into()],
        given_names: vec!["Jan".into()],
        album_number: "654321".into(),
        edition: "A".into(),
        pesel: "44051401359".into(),
        expires,
    };
    let issued = issue::issue(
        &mut sim::SimTransport::insert(dual.clone(), Faults::default()),
        ElsSource::Sign {
            data,
            signer: &signer,
        },
        &els_key,
        std::slice::from_ref(&signer.certificate),
        date!(2026 - 10 - 01),
    )
    .unwrap();
    let record = CardRecord {
        card_number: 9,
        barcode: "2900000000009".into(),
        holder_id: "USOS-9".into(),
        expires,
    };
    desfire::issue(
        sim::SimTransport::insert(dual.clone(), Faults::default()),
        &app,
        &desk_desfire_keys(dir),
        &record,
    )
    .unwrap();
    // The register's entry, as the desk records such a card.
    {
        let mut store = Store::open(&dir.join("station.sqlite")).unwrap();
        let holder = common::cardholder(&mut store, &common::jan());
        store
            .insert_card(
                &NewCard {
                    cardholder_id: holder,
                    card_number: Some("9".into()),
                    barcode: None,
                    card_type: cardstation::store::CardType::Student,
                    contact_uid: Some(hex::encode_upper(UID)),
                    contactless_uid: Some(hex::encode_upper(UID)),
                    chip_serial_number: Some(issued.verified.data.chip_serial.clone()),
                    status: CardStatus::Activated,
                    expires: Some(expires),
                    desfire_issued: true,
                },
                "desk",
            )
            .unwrap();
    }

    let in_reader = vpcd::insert(dual.clone(), reader.port, Faults::default(), WAIT).unwrap();
    let genuine = tap(dir, &reader.name);
    assert_eq!(
        (genuine["verdict"].as_str(), genuine["evidence"].as_str()),
        (Some("valid"), Some("signed_and_authenticated_chip")),
        "{genuine}"
    );
    assert!(
        genuine["reason"]
            .as_str()
            .unwrap()
            .ends_with("signature and chip authenticated"),
        "{genuine}"
    );
    in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));

    // What anyone can read off the genuine card without a key.
    let mut copier = sim::SimTransport::insert(dual, Faults::default());
    let structure = cardstation::card::els::read_els(&mut copier).unwrap();
    let certificate = cardstation::card::els::read_cert(&mut copier)
        .unwrap()
        .unwrap();
    let copied_els = || {
        let mut clone = ElsCardState::blank(&UID);
        clone.ef_els[..structure.len()].copy_from_slice(&structure);
        clone.ef_cert[..certificate.len()].copy_from_slice(&certificate);
        ElsCard::new(clone)
    };
    // With no DESFire application, and with one an attacker keyed himself.
    let without_desfire = sim::shared(copied_els());
    let foreign = sim::shared(sim::DualInterfaceCard::new(
        copied_els(),
        sim::DesfireCard::new(sim::DesfireCardState::blank(&UID)),
    ));
    let attacker_keys = cardstation::station::desfire::IssueKeys::new(
        &app,
        &[0x66; 16],
        &[0x77; 16],
        cardstation::card::desfire::DesfireKey::des([0; 8]),
        p256::ecdsa::SigningKey::from_slice(&[0x55; 32]).unwrap(),
    )
    .unwrap();
    desfire::issue(
        sim::SimTransport::insert(foreign.clone(), Faults::default()),
        &app,
        &attacker_keys,
        &record,
    )
    .unwrap();
    for (what, card) in [
        ("no DESFire application", without_desfire),
        ("another system's DESFire keys", foreign),
    ] {
        let in_reader = vpcd::insert(card, reader.port, Faults::default(), WAIT).unwrap();
        let forged = tap(dir, &reader.name);
        assert_eq!(forged["verdict"], "forged", "{what}: {forged}");
        assert_eq!(forged["reason_key"], "copied_els", "{what}: {forged}");
        in_reader.remove().unwrap();
        common::wait_until(WAIT, || !common::card_present(&reader.name));
    }
}

/// The signer certificates a kiosk must refuse, each on a card through pcscd and judged by
/// `validate --once --json`: expired, revoked by `trust revoke` and by an OpenSSL CRL
/// (`trust crl add`), issued by a certificate that is not a CA, and an RSA-1024 key.
#[test]
fn the_kiosk_calls_bad_signer_certificates_forged_with_the_reason() {
    use std::str::FromStr;
    use std::time::SystemTime;

    use cardstation::crypto::els_sig::{self, Certificates};
    use cms::cert::CertificateChoices;
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    use der::{Decode, Encode, EncodePem};
    use p256::ecdsa::{DerSignature, SigningKey};
    use p256::pkcs8::DecodePrivateKey;
    use rand::rngs::OsRng;
    use x509_cert::Certificate;
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::{Time, Validity};

    const DAY: Duration = Duration::from_secs(86_400);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // A kiosk with no [desfire]: these are ELS cards.
    std::fs::write(
        dir.join("kiosk.toml"),
        "role = \"kiosk\"\ndatabase = \"unused.sqlite\"\n",
    )
    .unwrap();
    // The university's CA, made by OpenSSL as a real one would be, with a CA database for
    // its CRL.
    common::openssl_crl_ca(dir, "/CN=Uczelnia Test CA/C=PL");
    let ca_key =
        SigningKey::from_pkcs8_pem(&std::fs::read_to_string(dir.join("ca.key")).unwrap()).unwrap();
    let ca = cardstation::config::keys::load_certificate(&dir.join("ca.pem")).unwrap();
    common::assert_success(&cardstation(dir, &["trust", "add", "ca.pem"]));

    let now = SystemTime::now();
    let validity = |from: SystemTime, to: SystemTime| Validity {
        not_before: Time::try_from(from).unwrap(),
        not_after: Time::try_from(to).unwrap(),
    };
    let current = validity(now - DAY, now + 365 * DAY);
    let leaf = |issuer: &Certificate| Profile::Leaf {
        issuer: issuer.tbs_certificate.subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    // A certificate for `spki`, issued with `issuer_key`.
    let issue = |profile: Profile,
                 serial: u32,
                 subject: &str,
                 validity: Validity,
                 spki: spki::SubjectPublicKeyInfoOwned,
                 issuer_key: &SigningKey| {
        CertificateBuilder::new(
            profile,
            SerialNumber::from(serial),
            validity,
            Name::from_str(subject).unwrap(),
            spki,
            issuer_key,
        )
        .unwrap()
        .build::<DerSignature>()
        .unwrap()
    };
    let p256_signer =
        |serial: u32, subject: &str, validity: Validity, issuer: (&Certificate, &SigningKey)| {
            let key = SigningKey::random(&mut OsRng);
            let spki = spki::SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap();
            let cert = issue(leaf(issuer.0), serial, subject, validity, spki, issuer.1);
            (key, cert)
        };
    let data = common::jan_nowak_on_uid();
    let today = time::OffsetDateTime::now_utc().date();
    // The structure signed now with `key`, `cert` and `extra` embedded.
    let structure = |key: &SigningKey, cert: &Certificate, extra: &[&Certificate]| {
        let signed = els_sig::sign(&data, key, cert, Certificates::Embed, today).unwrap();
        let mut content_info = ContentInfo::from_der(&signed).unwrap();
        let mut signed_data: SignedData = content_info.content.decode_as().unwrap();
        let certificates = signed_data.certificates.as_mut().unwrap();
        for cert in extra {
            certificates
                .0
                .insert(CertificateChoices::Certificate((*cert).clone()))
                .unwrap();
        }
        content_info.content = der::Any::encode_from(&signed_data).unwrap();
        content_info.to_der().unwrap()
    };

    let reader = reader(35963);
    let judge = |structure: &[u8]| {
        let in_reader = vpcd::insert(
            common::card_holding(structure),
            reader.port,
            Faults::default(),
            WAIT,
        )
        .unwrap();
        pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
        let verdict = tap(dir, &reader.name);
        in_reader.remove().unwrap();
        common::wait_until(WAIT, || !common::card_present(&reader.name));
        verdict
    };
    let expect_forged = |structure: &[u8], reason_part: &str| {
        let verdict = judge(structure);
        assert_eq!(verdict["verdict"], "forged", "{verdict}");
        assert_eq!(verdict["evidence"], "signed_chip", "{verdict}");
        let reason = verdict["reason"].as_str().unwrap();
        assert!(
            reason.contains(reason_part),
            "wanted {reason_part:?} in {verdict}"
        );
    };

    // A good signer first: the card is genuine (the register does not know it).
    let (good_key, good) = p256_signer(0x10, "CN=Signer A,C=PL", current, (&ca, &ca_key));
    let good_structure = structure(&good_key, &good, &[]);
    let valid = judge(&good_structure);
    assert_eq!(valid["verdict"], "valid", "{valid}");

    // Revoked by hand, from its certificate file.
    std::fs::write(
        dir.join("a.pem"),
        good.to_pem(der::pem::LineEnding::LF).unwrap(),
    )
    .unwrap();
    common::assert_success(&cardstation(dir, &["trust", "revoke", "a.pem"]));
    expect_forged(
        &good_structure,
        "revoked: certificate CN=Signer A,C=PL (serial 10) is revoked",
    );

    // Revoked by the CA's CRL.
    let (b_key, b) = p256_signer(0x11, "CN=Signer B,C=PL", current, (&ca, &ca_key));
    let b_structure = structure(&b_key, &b, &[]);
    assert_eq!(judge(&b_structure)["verdict"], "valid");
    common::openssl_gencrl(dir, &["11"], "ca.crl");
    let crl_add = cardstation(dir, &["trust", "crl", "add", "ca.crl"]);
    common::assert_success(&crl_add);
    assert!(
        String::from_utf8_lossy(&crl_add.stdout).contains("1 revoked certificate(s)"),
        "{}",
        String::from_utf8_lossy(&crl_add.stdout)
    );
    expect_forged(&b_structure, "CN=Signer B,C=PL (serial 11) is revoked");
    let list = String::from_utf8_lossy(&cardstation(dir, &["trust", "list"]).stdout).into_owned();
    assert!(
        list.contains("serial 10") && list.contains("serial 11"),
        "{list}"
    );
    assert!(
        list.contains("crl 1\t") && list.contains("1 revoked"),
        "{list}"
    );

    // Expired a month ago, so not valid when (now) the structure says it was signed.
    let (old_key, old) = p256_signer(
        0x12,
        "CN=Signer C,C=PL",
        validity(now - 400 * DAY, now - 30 * DAY),
        (&ca, &ca_key),
    );
    expect_forged(
        &structure(&old_key, &old, &[]),
        "certificate_not_valid: certificate CN=Signer C,C=PL was not valid when the structure was signed",
    );

    // Issued by an end-entity certificate of the CA, which embeds it as an "intermediate".
    let (middle_key, middle) = p256_signer(0x13, "CN=Not a CA,C=PL", current, (&ca, &ca_key));
    let (d_key, d) = p256_signer(0x14, "CN=Signer D,C=PL", current, (&middle, &middle_key));
    expect_forged(
        &structure(&d_key, &d, &[&middle]),
        "not_a_ca: certificate CN=Not a CA,C=PL issued a certificate but is not a CA",
    );

    // An RSA-1024 signer (issued by the CA), signing with the cms builder.
    let rsa_key = rsa::RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
    let rsa_cert = issue(
        leaf(&ca),
        0x15,
        "CN=Signer E,C=PL",
        current,
        spki::SubjectPublicKeyInfoOwned::from_key(rsa_key.to_public_key()).unwrap(),
        &ca_key,
    );
    let content = {
        let signed: SignedData = ContentInfo::from_der(&good_structure)
            .unwrap()
            .content
            .decode_as()
            .unwrap();
        signed.encap_content_info
    };
    let rsa_signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_key);
    let sha256 = spki::AlgorithmIdentifierOwned {
        oid: const_oid::db::rfc5912::ID_SHA_256,
        parameters: None,
    };
    let signer_info = cms::builder::SignerInfoBuilder::new(
        &rsa_signer,
        cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(
            cms::cert::IssuerAndSerialNumber {
                issuer: rsa_cert.tbs_certificate.issuer.clone(),
                serial_number: rsa_cert.tbs_certificate.serial_number.clone(),
            },
        ),
        sha256.clone(),
        &content,
        None,
    )
    .unwrap();
    let rsa_structure = cms::builder::SignedDataBuilder::new(&content)
        .add_digest_algorithm(sha256)
        .unwrap()
        .add_certificate(CertificateChoices::Certificate(rsa_cert))
        .unwrap()
        .add_signer_info::<_, rsa::pkcs1v15::Signature>(signer_info)
        .unwrap()
        .build()
        .unwrap()
        .to_der()
        .unwrap();
    expect_forged(
        &rsa_structure,
        "weak_key: the key of certificate CN=Signer E,C=PL is not accepted: RSA key of 1024 bits",
    );
}

/// A `cardstation validate --json` that keeps running (the headless kiosk), its verdict lines
/// read as they come; killed when dropped.
struct RunningKiosk {
    child: std::process::Child,
    verdicts: std::sync::mpsc::Receiver<String>,
}

impl RunningKiosk {
    fn start(dir: &Path, reader: &str) -> Self {
        let mut child = command(
            dir,
            &[
                "--profile",
                "kiosk.toml",
                "validate",
                "--json",
                "--reader",
                reader,
            ],
        )
        .env("RUST_LOG", "cardstation=info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.join("kiosk.stderr")).unwrap())
        .spawn()
        .unwrap();
        let (sender, verdicts) = std::sync::mpsc::channel();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in stdout.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, verdicts }
    }

    /// The verdict of the next tap, as its JSON line.
    fn next_verdict(&mut self, dir: &Path) -> serde_json::Value {
        let line = self.verdicts.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!(
                "no verdict from the running kiosk within {WAIT:?} (running: {}): {}",
                self.is_running(),
                std::fs::read_to_string(dir.join("kiosk.stderr")).unwrap_or_default()
            )
        });
        serde_json::from_str(&line).unwrap_or_else(|err| panic!("{err}: {line}"))
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for RunningKiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One kiosk process, started once: it finds a card valid, an administrator revokes the
/// card's signer with `trust revoke` from another process, and the same kiosk refuses the
/// same card at its next tap, without a restart; `els read` and `els verify` refuse it too
/// and say who revoked it. Then `trust remove` reaches the running kiosk the same way.
#[test]
fn a_running_kiosk_refuses_a_signer_revoked_by_another_process_without_a_restart() {
    use std::time::Instant;

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    common::make_signer_files(dir, "/CN=Signer Live/O=Uniwersytet Testowy/C=PL");
    std::fs::write(
        dir.join("kiosk.toml"),
        "role = \"kiosk\"\ndatabase = \"unused.sqlite\"\n",
    )
    .unwrap();
    common::assert_success(&cardstation(dir, &["trust", "add", "cert.pem"]));
    let structure = common::signed_by_signer_files(dir);
    std::fs::write(dir.join("els.der"), &structure).unwrap();
    let card = common::card_holding(&structure);

    let reader = reader(35963);
    let mut kiosk = RunningKiosk::start(dir, &reader.name);
    let tap_running = |kiosk: &mut RunningKiosk| {
        let in_reader = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();
        let verdict = kiosk.next_verdict(dir);
        (verdict, in_reader)
    };
    let took_out = |in_reader: vpcd::InsertedCard| {
        in_reader.remove().unwrap();
        common::wait_until(WAIT, || !common::card_present(&reader.name));
    };

    let (valid, in_reader) = tap_running(&mut kiosk);
    assert_eq!(valid["verdict"], "valid", "{valid}");
    took_out(in_reader);

    let revoke = cardstation(dir, &["trust", "revoke", "cert.pem"]);
    common::assert_success(&revoke);
    let revoked_at = Instant::now();
    let (refused, in_reader) = tap_running(&mut kiosk);
    let took = revoked_at.elapsed();
    assert_eq!(refused["verdict"], "forged", "{refused}");
    assert_eq!(refused["reason_key"], "signature.revoked", "{refused}");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("CN=Signer Live (serial"),
        "{refused}"
    );
    eprintln!(
        "trust revoke done -> the running kiosk's refusal (card inserted, read, judged): {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");

    // `els read` on the card the kiosk just refused, and `els verify` of its structure: the
    // same refusal, with where the revocation came from.
    let read = cardstation(dir, &["els", "read", "--reader", &reader.name, "--json"]);
    common::assert_success(&read);
    let read = last_json(&read);
    assert_eq!(read["valid"], false, "{read}");
    assert_eq!(read["reason"], "revoked", "{read}");
    assert!(
        read["message"].as_str().unwrap().contains("is revoked"),
        "{read}"
    );
    assert!(
        read["revoked_by"]
            .as_str()
            .unwrap()
            .starts_with("`trust revoke` at "),
        "{read}"
    );
    took_out(in_reader);
    let verify = cardstation(dir, &["els", "verify", "els.der"]);
    assert_eq!(verify.status.code(), Some(1), "a revoked signer verified");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        stderr.contains("revoked check failed: certificate ")
            && stderr.contains("CN=Signer Live (serial")
            && stderr.contains("(revoked by `trust revoke` at "),
        "{stderr}"
    );

    // No longer trusted at all: the running kiosk hears of that too.
    common::assert_success(&cardstation(dir, &["trust", "remove", "cert.pem"]));
    let (untrusted, in_reader) = tap_running(&mut kiosk);
    assert_eq!(untrusted["verdict"], "forged", "{untrusted}");
    assert_eq!(
        untrusted["reason_key"], "signature.untrusted_issuer",
        "{untrusted}"
    );
    took_out(in_reader);

    assert!(kiosk.is_running(), "the kiosk was never restarted");
    let log = std::fs::read_to_string(dir.join("kiosk.stderr")).unwrap();
    assert_eq!(
        log.matches("the trust list changed in the store: reloaded")
            .count(),
        2,
        "one reload per change: {log}"
    );
}

/// The desk's profile for `desk issue`: the ELS signer and card key, the `[desfire]` issue
/// keys (the record signed by `key.pem`, which the kiosk profile verifies) and its readers.
fn write_dual_desk_profile(dir: &Path, contact: &str, contactless: &str) {
    std::fs::write(
        dir.join("desk.toml"),
        format!(
            "role = \"issuance\"\ndatabase = \"unused.sqlite\"\n[readers]\ncontact = \"{contact}\"\ncontactless = \"{contactless}\"\n[els]\nsigner_key = \"key.pem\"\nsigner_cert = \"cert.pem\"\ncard_key_env = \"TEST_ELS_CARD_KEY\"\nuniversity = \"Uniwersytet Testowy\"\nedition = \"A\"\n[desfire]\n{DESFIRE_APP}master_key_env = \"TEST_DESFIRE_KEY\"\nrecord_signer_key = \"key.pem\"\n"
        ),
    )
    .unwrap();
}

/// `desk issue` for cardholder 1 with the desk profile.
fn desk_issue(dir: &Path) -> Output {
    command(
        dir,
        &[
            "--profile",
            "desk.toml",
            "desk",
            "issue",
            "--cardholder",
            "1",
            "--expires",
            "2031-09-30",
            "--wait",
            "10",
        ],
    )
    .env("TEST_ELS_CARD_KEY", CARD_KEY)
    .output()
    .unwrap()
}

/// Jan Nowak in the store with a card ordered for him (`card_number` as production gave it,
/// or none yet); returns the ordered card's id.
fn jan_with_an_ordered_card(dir: &Path, card_number: Option<&str>) -> i64 {
    let mut store = Store::open(&dir.join("station.sqlite")).unwrap();
    let holder = common::cardholder(&mut store, &common::jan());
    store
        .order_card(
            holder,
            cardstation::store::CardType::Student,
            card_number,
            None,
            "production",
        )
        .unwrap();
    store.cards_of_cardholder(holder).unwrap()[0].id
}

/// The DESFire record on `card`, read in-process with the kiosk's keys.
fn desfire_record_on(
    dir: &Path,
    card: sim::SharedCard,
) -> Result<
    cardstation::station::desfire::VerifiedRecord,
    cardstation::station::desfire::DesfireReadError,
> {
    cardstation::station::desfire::read_on(
        sim::SimTransport::insert(card, Faults::default()),
        &cardstation::config::Profile::demo().desfire.unwrap(),
        desk_desfire_keys(dir).reading(),
        time::macros::date!(2030 - 01 - 01),
    )
}

fn dual_card(uid: &[u8]) -> sim::SharedCard {
    sim::shared(sim::DualInterfaceCard::new(
        ElsCard::new(personalised(uid)),
        sim::DesfireCard::new(sim::DesfireCardState::blank(uid)),
    ))
}

/// Issue 18 item 2: one desk issuance of a dual-interface card writes the ELS and the DESFire
/// application (with the number production gave the card) and records both chips on the
/// ordered card, which the kiosk then finds valid by signature and chip authentication.
#[test]
fn the_desk_issues_both_chips_of_a_dual_interface_card_and_the_kiosk_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    common::make_signer_files(dir, "/CN=signer/O=Uniwersytet Testowy/C=PL");
    write_kiosk_profile(dir);
    common::assert_success(&cardstation(dir, &["trust", "add", "cert.pem"]));
    let ordered = jan_with_an_ordered_card(dir, Some("2031000017"));
    let reader = reader(35963);
    // One PC/SC reader for both interfaces, as a dual-interface card in one slot shows.
    write_dual_desk_profile(dir, &reader.name, &reader.name);
    let card = dual_card(&UID);
    let in_reader = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();

    let issued = desk_issue(dir);
    common::assert_success(&issued);
    let stdout = String::from_utf8_lossy(&issued.stdout);
    let serial = hex::encode_upper(UID);
    assert!(
        stdout.contains(&format!(
            "issued card {ordered} of cardholder 1: ELS on contact chip {serial}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "DESFire application issued on contactless chip {serial}"
        )),
        "{stdout}"
    );
    let store = Store::open(&dir.join("station.sqlite")).unwrap();
    let recorded = store.get_card(ordered).unwrap().fields;
    assert_eq!(recorded.contact_uid.as_deref(), Some(serial.as_str()));
    assert_eq!(recorded.contactless_uid.as_deref(), Some(serial.as_str()));
    assert_eq!(
        recorded.chip_serial_number.as_deref(),
        Some(serial.as_str())
    );
    assert!(recorded.desfire_issued);
    assert_eq!(recorded.card_number.as_deref(), Some("2031000017"));
    assert_eq!(recorded.status, CardStatus::Personalized);
    assert_eq!(
        store.cards_of_cardholder(1).unwrap().len(),
        1,
        "recorded on the ordered card, not beside it"
    );
    drop(store);

    let verdict = tap(dir, &reader.name);
    assert_eq!(
        (verdict["verdict"].as_str(), verdict["evidence"].as_str()),
        (Some("valid"), Some("signed_and_authenticated_chip")),
        "{verdict}"
    );
    in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));

    // The record carries the store's number, the barcode printed from it, and the holder.
    let read = desfire_record_on(dir, card).unwrap();
    assert_eq!(read.record.card_number, 2031000017);
    assert_eq!(read.record.barcode, "2031000017");
    assert_eq!(read.record.holder_id, "CH-1");
}

/// A holder's card that production has not numbered yet: the desk writes the ELS only, says
/// why the DESFire application is missing and what to do, and invents no number.
#[test]
fn the_desk_writes_the_els_only_when_the_card_has_no_number_yet() {
    use cardstation::station::desfire::DesfireReadError;

    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    common::make_signer_files(dir, "/CN=signer/O=Uniwersytet Testowy/C=PL");
    write_kiosk_profile(dir);
    let ordered = jan_with_an_ordered_card(dir, None);
    let reader = reader(35963);
    write_dual_desk_profile(dir, &reader.name, &reader.name);
    let card = dual_card(&UID);
    let in_reader = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();

    let issued = desk_issue(dir);
    common::assert_success(&issued);
    let stdout = String::from_utf8_lossy(&issued.stdout);
    assert!(
        stdout.contains(
            "DESFire application NOT written: the card has no card number yet. sync with the server, or order the card so production numbers it, then issue the card again"
        ),
        "{stdout}"
    );
    let store = Store::open(&dir.join("station.sqlite")).unwrap();
    let recorded = store.get_card(ordered).unwrap().fields;
    assert_eq!(
        recorded.contact_uid.as_deref(),
        Some(hex::encode_upper(UID).as_str())
    );
    assert_eq!(recorded.contactless_uid, None);
    assert!(!recorded.desfire_issued);
    assert_eq!(recorded.card_number, None, "no number invented");
    drop(store);
    in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));

    let read = desfire_record_on(dir, card.clone());
    assert!(
        matches!(read, Err(DesfireReadError::NotOurApplication { .. })),
        "nothing written to the DESFire chip: {read:?}"
    );
    let els =
        cardstation::card::els::read_els(&mut sim::SimTransport::insert(card, Faults::default()));
    assert!(els.is_ok(), "the ELS is written: {els:?}");
}

/// Two PC/SC readers (`[readers] contact` and `contactless` apart): the contact chip is read
/// and written on the contact reader, the DESFire application on the contactless one, and
/// each chip's own UID is recorded.
#[test]
fn with_two_readers_each_chip_is_issued_on_its_own_reader() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    common::make_signer_files(dir, "/CN=signer/O=Uniwersytet Testowy/C=PL");
    let ordered = jan_with_an_ordered_card(dir, Some("2031000018"));
    let contact = reader(35963);
    let contactless = reader(35964);
    write_dual_desk_profile(dir, &contact.name, &contactless.name);
    let contactless_uid = [0x04, 0x5C, 0x1E, 0x55, 0x00, 0x12, 0x34];
    // An ELS chip alone on one reader, a DESFire chip alone on the other: each step can only
    // succeed on its own reader.
    let _els = vpcd::insert(
        sim::shared(ElsCard::new(personalised(&UID))),
        contact.port,
        Faults::default(),
        WAIT,
    )
    .unwrap();
    let _desfire = vpcd::insert(
        sim::shared(sim::DesfireCard::new(sim::DesfireCardState::blank(
            &contactless_uid,
        ))),
        contactless.port,
        Faults::default(),
        WAIT,
    )
    .unwrap();
    pcsc::wait_for_card(Some(&contactless.name), WAIT).unwrap();

    let issued = desk_issue(dir);
    common::assert_success(&issued);
    let store = Store::open(&dir.join("station.sqlite")).unwrap();
    let recorded = store.get_card(ordered).unwrap().fields;
    assert_eq!(
        recorded.contact_uid.as_deref(),
        Some(hex::encode_upper(UID).as_str())
    );
    assert_eq!(
        recorded.contactless_uid.as_deref(),
        Some(hex::encode_upper(contactless_uid).as_str())
    );
    assert!(recorded.desfire_issued);
}
