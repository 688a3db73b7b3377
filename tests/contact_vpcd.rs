//! ELS cards behind a contact reader, through pcscd + vpcd: the card refuses the PC/SC
//! `FF CA` (6E00) as a contact card does, so the chip serial comes from its CPLC, or from
//! nowhere. Issuance signs the CPLC serial in; a card with no serial is refused at the desk and
//! read at the kiosk without the chip binding.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cardstation::card::Transport;
use cardstation::card::els::CardKey;
use cardstation::card::pcsc;
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::sim::{self, ElsCard, ElsCardState, Faults, SharedCard, SimSerial, vpcd};
use cardstation::store::{CardStatus, Store, UidKind};
use common::{UID, reader};
use zeroize::Zeroizing;

const CARD_KEY: &str = "00112233445566778899AABBCCDDEEFF";
const WAIT: Duration = Duration::from_secs(10);
/// What the simulator's CPLC gives for [`UID`]: fabricator "CS", type "EL", the last four UID
/// bytes as IC serial, the first two as batch.
const CPLC_SERIAL: &str = "4353454CC3D4E5F604A1";

fn cardstation(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(["--db", "station.sqlite"])
        .args(args)
        .current_dir(dir)
        .env("CARDSTATION_LOG_DIR", dir.join("logs"))
        .env("TEST_ELS_CARD_KEY", CARD_KEY)
        // The demo profile's [desfire] read-key master, which the kiosk tries on non-ELS
        // cards (its record key is the demo signer made in this data directory).
        .env(
            "CARDSTATION_DEMO_DESFIRE_READ_KEY",
            "F0E1D2C3B4A5968778695A4B3C2D1E0F",
        )
        .env("XDG_DATA_HOME", dir.join("data"))
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

fn tap(dir: &Path, reader: &str) -> serde_json::Value {
    last_json(&cardstation(
        dir,
        &[
            "validate", "--once", "--wait", "10", "--json", "--reader", reader,
        ],
    ))
}

fn els_write(dir: &Path, reader: &str) -> Output {
    cardstation(
        dir,
        &[
            "--profile",
            "desk.toml",
            "els",
            "write",
            "--cardholder",
            "1",
            "--expires",
            "2031-06-30",
            "--reader",
            reader,
        ],
    )
}

/// A contact card personalised, as a card issuer would, with the write key for the chip
/// serial a reader reads from it.
fn contact_card(uid: &[u8], serial: SimSerial) -> SharedCard {
    sim::shared(ElsCard::new(contact_state(uid, serial)))
}

fn contact_state(uid: &[u8], serial: SimSerial) -> ElsCardState {
    let state = ElsCardState::blank(uid).on_contact_reader(serial);
    let chip = state.chip_serial().unwrap_or_else(|| uid.to_vec());
    let personalised = ElsCardState::personalised(uid, &card_key().for_card(&chip).unwrap());
    ElsCardState {
        write_key: personalised.write_key,
        ..state
    }
}

/// A desk with Jan Nowak imported, the test signer trusted and a desk profile naming it.
fn desk() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::make_signer_files(
        dir,
        "/CN=osoba uprawniona do wystawiania legitymacji/O=Uniwersytet Testowy/C=PL",
    );
    std::fs::write(
        dir.join("people.csv"),
        "firstName,lastName,birthDate,albumNumber,pesel\nJan,Nowak,1944-05-14,654321,44051401359\n",
    )
    .unwrap();
    common::assert_success(&cardstation(dir, &["import", "persons", "people.csv"]));
    common::assert_success(&cardstation(dir, &["trust", "add", "cert.pem"]));
    std::fs::write(
        dir.join("desk.toml"),
        format!(
            "role = \"issuance\"\ndatabase = \"unused.sqlite\"\n[els]\nsigner_key = \"{}\"\nsigner_cert = \"{}\"\ncard_key_env = \"TEST_ELS_CARD_KEY\"\nuniversity = \"Uniwersytet Łódzki\"\nedition = \"B\"\n",
            dir.join("key.pem").display(),
            dir.join("cert.pem").display()
        ),
    )
    .unwrap();
    tmp
}

#[test]
fn a_contact_card_is_issued_and_validated_with_its_cplc_serial() {
    let desk = desk();
    let dir = desk.path();
    let reader = reader(35963);
    let card = contact_card(&UID, SimSerial::Cplc);
    let in_reader = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();

    // The reader passes FF CA to the card, which refuses it; `uid` gives the CPLC serial.
    let uid = cardstation(dir, &["uid", "--reader", &reader.name]);
    common::assert_success(&uid);
    assert_eq!(String::from_utf8_lossy(&uid.stdout).trim(), CPLC_SERIAL);

    let write = els_write(dir, &reader.name);
    common::assert_success(&write);
    let written = String::from_utf8_lossy(&write.stdout);
    assert!(written.contains(CPLC_SERIAL), "{written}");
    let store = Store::open(&dir.join("station.sqlite")).unwrap();
    let recorded = store
        .find_card_by_uid(UidKind::Contact, &hex::decode(CPLC_SERIAL).unwrap())
        .unwrap()
        .expect("the card is recorded under its CPLC serial");
    assert_eq!(
        recorded.fields.chip_serial_number.as_deref(),
        Some(CPLC_SERIAL)
    );

    let read = cardstation(
        dir,
        &[
            "els",
            "read",
            "--reader",
            &reader.name,
            "--cert",
            "cert.pem",
            "--json",
        ],
    );
    let read = last_json(&read);
    assert_eq!(read["valid"], true, "{read}");
    assert_eq!(read["uid"], CPLC_SERIAL);
    assert_eq!(read["chip_checked"], true);

    let valid = tap(dir, &reader.name);
    assert_eq!(valid["verdict"], "valid", "{valid}");
    assert_eq!(valid["evidence"], "signed_chip");
    assert_eq!(valid["holder_id"], "1");
    assert_eq!(valid["uid"], CPLC_SERIAL);
    assert!(
        !valid["reason"].as_str().unwrap().contains("not checked"),
        "{valid}"
    );

    // The same files on another contact chip: its CPLC serial differs, the binding catches it.
    in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));
    let copy = copy_onto(
        &card,
        &[0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
        SimSerial::Cplc,
    );
    let _copy_in_reader = vpcd::insert(copy, reader.port, Faults::default(), WAIT).unwrap();
    let forged = tap(dir, &reader.name);
    assert_eq!(forged["verdict"], "forged", "{forged}");
    assert!(forged["reason"].as_str().unwrap().starts_with("wrong_chip"));
}

/// A chip with `card`'s EF.ELS and EF.CERT copied onto it.
fn copy_onto(card: &SharedCard, uid: &[u8], serial: SimSerial) -> SharedCard {
    let mut copier = sim::SimTransport::insert(card.clone(), Faults::default());
    cardstation::card::els::select_application(&mut copier).unwrap();
    let structure = cardstation::card::els::read_els(&mut copier).unwrap();
    let certificate = cardstation::card::els::read_cert(&mut copier)
        .unwrap()
        .unwrap();
    let mut clone = ElsCardState::blank(uid).on_contact_reader(serial);
    clone.ef_els[..structure.len()].copy_from_slice(&structure);
    clone.ef_cert[..certificate.len()].copy_from_slice(&certificate);
    sim::shared(ElsCard::new(clone))
}

#[test]
fn a_card_with_no_chip_serial_is_not_issued_but_is_read_without_the_chip_binding() {
    let desk = desk();
    let dir = desk.path();
    let reader = reader(35964);

    let mute = contact_card(&UID, SimSerial::None);
    let in_reader = vpcd::insert(mute.clone(), reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    let refused = els_write(dir, &reader.name);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("error: neither the reader nor the card gives this chip's serial number"),
        "{stderr}"
    );
    assert!(stderr.contains("next step: write the card on a reader that gives the chip serial"));
    in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));
    let mut unwritten = sim::SimTransport::insert(mute, Faults::default());
    assert!(
        matches!(
            cardstation::card::els::read_els(&mut unwritten),
            Err(cardstation::card::els::ElsCardError::Empty)
        ),
        "nothing was written"
    );

    // Issued on a contact reader with CPLC, then read where no serial can be had.
    let issued = contact_card(&UID, SimSerial::Cplc);
    let in_reader = vpcd::insert(issued.clone(), reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    common::assert_success(&els_write(dir, &reader.name));
    in_reader.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));
    let no_serial = copy_onto(&issued, &UID, SimSerial::None);
    let _in_reader = vpcd::insert(no_serial, reader.port, Faults::default(), WAIT).unwrap();

    let read = last_json(&cardstation(
        dir,
        &[
            "els",
            "read",
            "--reader",
            &reader.name,
            "--cert",
            "cert.pem",
            "--json",
        ],
    ));
    assert_eq!(read["valid"], true, "{read}");
    assert_eq!(read["uid"], serde_json::Value::Null);
    assert_eq!(read["chip_checked"], false);

    let valid = tap(dir, &reader.name);
    assert_eq!(valid["verdict"], "valid", "{valid}");
    assert_eq!(valid["evidence"], "signed_chip");
    let reason = valid["reason"].as_str().unwrap();
    assert!(reason.contains("Jan Nowak"), "{reason}");
    assert!(
        reason.contains("chip binding not checked (the reader gave no chip serial)"),
        "{reason}"
    );
    // The register finds the card by the serial its genuine data names: blocked stays blocked.
    assert_eq!(valid["holder_id"], "1", "{valid}");
    {
        let mut store = Store::open(&dir.join("station.sqlite")).unwrap();
        let card_id = store
            .find_card_by_uid(UidKind::Contact, &hex::decode(CPLC_SERIAL).unwrap())
            .unwrap()
            .unwrap()
            .id;
        store
            .set_card_status(card_id, CardStatus::Blocked, "desk", "reported lost")
            .unwrap();
    }
    let blocked = tap(dir, &reader.name);
    assert_eq!(blocked["verdict"], "blocked", "{blocked}");
}

#[test]
fn cardstation_sim_contact_mode_refuses_ff_ca_and_answers_its_cplc() {
    let reader = reader(35963);
    let mut sim = Command::new(env!("CARGO_BIN_EXE_cardstation-sim"))
        .args([
            "--card",
            "els",
            "--contact",
            "--uid",
            &hex::encode_upper(UID),
        ])
        .args(["--reader-port", &reader.port.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut card = common::connect(&reader.name);
    let atr = cardstation::card::Transport::atr(&card).to_vec();
    let answers = card.in_transaction(|t| {
        Ok((
            cardstation::card::read_uid(t),
            cardstation::card::read_chip_serial(t)?,
        ))
    });
    drop(card);
    let (uid, serial) = answers.unwrap();
    assert!(uid.unwrap_err().to_string().contains("6E00"));
    // `cardstation uid` reads the serial issuance binds to, and says where it came from.
    let dir = tempfile::tempdir().unwrap();
    let shown = cardstation(dir.path(), &["uid", "--reader", &reader.name]);
    sim.kill().unwrap();
    sim.wait().unwrap();
    common::assert_success(&shown);
    assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), CPLC_SERIAL);
    assert!(
        String::from_utf8_lossy(&shown.stderr).contains("chip serial from the card's CPLC"),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert_eq!(
        serial,
        cardstation::card::ChipSerial::Read {
            bytes: hex::decode(CPLC_SERIAL).unwrap(),
            source: cardstation::card::SerialSource::Cplc
        }
    );
    assert_eq!(hex::encode_upper(atr), cardstation::sim::CONTACT_ATR);
}

/// A T=0-only contact reader: every answer with data comes as `61xx` and is fetched with GET
/// RESPONSE (the CPLC too), and READ BINARY asked for more than 59 bytes answers `6C3B`.
#[test]
fn a_t0_contact_card_with_a_small_buffer_is_issued_and_validated() {
    issued_and_validated(
        ElsCardState {
            force_get_response: true,
            max_response_len: 59,
            ..contact_state(&UID, SimSerial::Cplc)
        },
        |_| {},
    );
}

/// Issues the card `state` describes at a desk (`els write`) through pcscd, then validates
/// it at a kiosk; `probe` talks to the card in the reader first.
fn issued_and_validated(state: ElsCardState, probe: impl FnOnce(&str)) {
    let desk = desk();
    let dir = desk.path();
    let reader = reader(35963);
    let card = sim::shared(ElsCard::new(state));
    let _in_reader = vpcd::insert(card, reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    probe(&reader.name);
    let write = els_write(dir, &reader.name);
    common::assert_success(&write);
    assert!(String::from_utf8_lossy(&write.stdout).contains(CPLC_SERIAL));
    let valid = tap(dir, &reader.name);
    assert_eq!(valid["verdict"], "valid", "{valid}");
    assert_eq!(valid["uid"], CPLC_SERIAL);
}

/// The simulator's vpcd connection drops in the middle of the write, as a contact reader's
/// cable pulled out would end it. What pcscd reports for that, measured here: the card removed
/// (`SCARD_W_REMOVED_CARD`), the reader still listed with no card, because vpcd keeps its
/// readers. So the station says the card was removed, not that the reader was disconnected,
/// records nothing, and finishes the same card once it is back.
#[test]
fn a_vpcd_connection_dropped_mid_write_is_a_card_removal_and_the_card_is_finished_after() {
    let desk = desk();
    let dir = desk.path();
    let reader = reader(35963);
    let card = contact_card(&UID, SimSerial::Cplc);
    // `els write` reads the chip serial, then issues: the serial again, then els::write,
    // whose UPDATE BINARYs (EF.CERT, select EF.ELS, EF.ELS) follow its selects and the
    // authentication. The connection drops at the second UPDATE BINARY of EF.CERT.
    let (serial_apdus, before_updates) = {
        let mut counter = sim::SimTransport::insert(card.clone(), Faults::default());
        cardstation::card::els::serial_to_bind(&mut counter).unwrap();
        let serial_apdus = counter.answered();
        let key = card_key()
            .for_card(&hex::decode(CPLC_SERIAL).unwrap())
            .unwrap();
        cardstation::card::els::write(&mut counter, Some(&key), &[0x30, 0x00], Some(&[0x30, 0x00]))
            .unwrap();
        (serial_apdus, counter.answered() - serial_apdus - 3)
    };
    let card = contact_card(&UID, SimSerial::Cplc);
    let dropped_at = 2 * serial_apdus + before_updates + 1;
    let dropping = vpcd::insert(
        card.clone(),
        reader.port,
        Faults {
            tear_after: Some(dropped_at),
            ..Faults::default()
        },
        WAIT,
    )
    .unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();

    let write = els_write(dir, &reader.name);
    assert!(!write.status.success());
    let stderr = String::from_utf8_lossy(&write.stderr);
    assert!(
        stderr.contains("the card was removed from the reader") && !stderr.contains("disconnected"),
        "{stderr}"
    );
    assert_eq!(dropping.wait().unwrap(), vpcd::Ended::Torn);
    let listed = pcsc::list_readers().unwrap();
    assert!(
        listed
            .iter()
            .any(|r| r.name == reader.name && !r.card_present),
        "pcscd keeps the vpcd reader, empty: {listed:?}"
    );
    let store = Store::open(&dir.join("station.sqlite")).unwrap();
    assert_eq!(store.status().unwrap().cards, 0, "nothing recorded");
    let half_written = cardstation::card::els::read_els(&mut sim::SimTransport::insert(
        card.clone(),
        Faults::default(),
    ));
    assert!(
        half_written.is_err(),
        "EF.ELS goes last, so the interrupted card holds no structure: {half_written:?}"
    );

    // Back in the reader: issued again, checked on the chip, recorded once.
    let _back = vpcd::insert(card.clone(), reader.port, Faults::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    common::assert_success(&els_write(dir, &reader.name));
    assert_eq!(store.status().unwrap().cards, 1);
    let valid = tap(dir, &reader.name);
    assert_eq!(valid["verdict"], "valid", "{valid}");
}

fn card_key() -> CardKey {
    CardKey::Master {
        algorithm: KeyAlgorithm::Aes128,
        master: Zeroizing::new(hex::decode(CARD_KEY).unwrap()),
        system_id: b"ELS".to_vec(),
    }
}

/// A card (with its reader) that takes short APDUs only, and answers `6700` with no `6Cxx`
/// hint to a READ BINARY asking more than its 100-byte buffer: issued and validated through
/// pcscd, the reads falling back to smaller lengths, nothing sent in extended form.
#[test]
fn a_card_without_extended_apdus_is_issued_and_validated_with_short_ones() {
    let state = ElsCardState {
        short_apdus_only: true,
        max_response_len: 100,
        ..contact_state(&UID, SimSerial::Cplc)
    };
    // Through pcscd the card refuses the extended form of a command it takes short.
    issued_and_validated(state, |reader| {
        let mut transport = pcsc::PcscTransport::connect(reader, pcsc::Sharing::Shared).unwrap();
        let mut select = |extended: bool| {
            let mut apdu = vec![0x00, 0xA4, 0x04, 0x0C];
            if extended {
                apdu.extend([0x00, 0x00, 0x07]);
            } else {
                apdu.push(0x07);
            }
            apdu.extend(cardstation::card::els::SELS_AID);
            transport.transmit(&apdu).unwrap()
        };
        assert_eq!(select(true), [0x67, 0x00], "extended refused");
        assert_eq!(select(false), [0x90, 0x00], "short taken");
    });
}
