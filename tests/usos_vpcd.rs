//! Issuance and prolongation driven by the reference server's USOS data, through the real
//! pcscd and a vpcd virtual reader holding the simulated ELS chip: the card ends verified
//! on its chip and recorded, the holder is told, and USOS hears of the prolongation.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cardstation::card::Transport;
use cardstation::card::els::CardKey;
use cardstation::card::pcsc::{self, PcscTransport};
use cardstation::config::keys;
use cardstation::config::{CardReady, Secret};
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::remote::oauth1::Credential;
use cardstation::remote::retry::RetryPolicy;
use cardstation::remote::usos::UsosClient;
use cardstation::sim::{ElsCard, ElsCardState, vpcd};
use cardstation::station::issue::{Step, read_and_verify};
use cardstation::station::usos::{self, FindBy, UsosDesk, UsosIssueError};
use cardstation::store::{CardStatus, ProlongationState, Store, UidKind};
use cardstation_refserver::{
    ReferenceServer, ServerFaults, USOS_CONSUMER_KEY, USOS_CONSUMER_SECRET, UsosOptions,
};
use common::{UID, reader};
use der::Encode;
use time::{Duration as Days, OffsetDateTime};
use x509_cert::Certificate;
use zeroize::Zeroizing;

/// Not the reader els_vpcd's first tests take; readers are locked, so sharing one only waits.
const READER_PORT: u16 = 35964;
const CARD_KEY: &str = "00112233445566778899AABBCCDDEEFF";
const WAIT: Duration = Duration::from_secs(10);

fn master() -> CardKey {
    CardKey::Master {
        algorithm: KeyAlgorithm::Aes128,
        master: Zeroizing::new(hex::decode(CARD_KEY).unwrap()),
        system_id: b"ELS".to_vec(),
    }
}

fn blank_card(uid: &[u8]) -> Arc<Mutex<ElsCard>> {
    Arc::new(Mutex::new(ElsCard::new(ElsCardState::personalised(
        uid,
        &master().for_card(uid).unwrap(),
    ))))
}

/// The reference server with a signer made by openssl and the card key master; returns the
/// signer's certificate too.
/// Runs `work` on the card inside a PC/SC transaction, as the station does: another program
/// watching the reader cannot reset the card in the middle.
fn on_card<R>(transport: &mut PcscTransport, work: impl FnOnce(&mut dyn Transport) -> R) -> R {
    transport
        .in_transaction(|t| Ok(work(t)))
        .expect("a transaction on the card")
}

fn usos_server(pki: &Path) -> (ReferenceServer, Certificate) {
    common::make_signer_files(pki, "/CN=USOS test signer/O=Uniwersytet Testowy/C=PL");
    let certificate = keys::load_certificate(&pki.join("cert.pem")).unwrap();
    let server = ReferenceServer::start_with(
        0,
        None,
        ServerFaults::default(),
        UsosOptions {
            signer: Some((
                keys::load_signing_key(&pki.join("key.pem"), None).unwrap(),
                certificate.clone(),
            )),
            card_key: Some((
                KeyAlgorithm::Aes128,
                Zeroizing::new(hex::decode(CARD_KEY).unwrap()),
            )),
            ..UsosOptions::default()
        },
    )
    .unwrap();
    (server, certificate)
}

/// The client of the reference server's test consumer.
fn test_client(server: &ReferenceServer) -> UsosClient {
    UsosClient::new(
        &server.url(),
        Credential::new(USOS_CONSUMER_KEY, Secret::new(USOS_CONSUMER_SECRET)),
        RetryPolicy::default(),
    )
    .unwrap()
}

/// Anna's desk, checking written cards against `trusted`.
fn desk_of<'a>(client: &'a UsosClient, trusted: &'a [Certificate]) -> UsosDesk<'a> {
    UsosDesk {
        client,
        key_algorithm: KeyAlgorithm::Aes128,
        trusted,
        operator: "anna.operator",
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn usos_issuance_and_prolongation_through_pcscd() {
    let reader = reader(READER_PORT);
    let pki = tempfile::tempdir().unwrap();
    let (server, certificate) = usos_server(pki.path());
    let client = test_client(&server);
    let trusted = [certificate];
    let desk = desk_of(&client, &trusted);
    let store_dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&store_dir.path().join("desk.sqlite")).unwrap();
    let holder = common::cardholder(&mut store, &common::anna());
    let today = OffsetDateTime::now_utc().date();
    let runtime = runtime();

    // Issuance: USOS knows the chip, hands out the signed structure and the card's key.
    let card = blank_card(&UID);
    let inserted = vpcd::insert(card.clone(), reader.port, Default::default(), WAIT).unwrap();
    let mut transport = common::connect(&reader.name);
    // Refused before anything is written: another card's barcode, another person's card.
    let other_chip = on_card(&mut transport, |t| {
        runtime.block_on(usos::issue(
            &desk,
            t,
            &mut store,
            holder,
            &FindBy::Barcode("2900000654321".into()),
            today,
            &mut |_| {},
        ))
    })
    .unwrap_err();
    assert!(
        matches!(other_chip, UsosIssueError::OtherChip { .. }),
        "{other_chip}"
    );
    let jan = common::cardholder(&mut store, &common::jan());
    let other_holder = on_card(&mut transport, |t| {
        runtime.block_on(usos::issue(
            &desk,
            t,
            &mut store,
            jan,
            &FindBy::ChipUid,
            today,
            &mut |_| {},
        ))
    })
    .unwrap_err();
    assert!(
        matches!(other_holder, UsosIssueError::OtherHolder { .. }),
        "{other_holder}"
    );
    assert!(
        card.lock()
            .unwrap()
            .state()
            .ef_els
            .iter()
            .all(|byte| *byte == 0)
    );
    let mut steps = Vec::new();
    let issued = on_card(&mut transport, |t| {
        runtime.block_on(usos::issue(
            &desk,
            t,
            &mut store,
            holder,
            &FindBy::Barcode("2900000123456".into()),
            today,
            &mut |step| steps.push(step),
        ))
    })
    .unwrap();
    assert_eq!(steps, Step::ALL, "the desk's six steps, in order");
    let expires = issued.issued.verified.data.expires;
    assert_eq!(issued.issued.verified.data.chip_serial, "04A1B2C3D4E5F6");
    assert_eq!(
        expires.to_string(),
        issued.usos_card.expiration_date.clone().unwrap()
    );
    let reading = on_card(&mut transport, |t| read_and_verify(t, &trusted, today)).unwrap();
    assert_eq!(reading.verdict.unwrap().data.album_number, "123456");
    let recorded = store
        .find_card_by_uid(UidKind::Contact, &UID)
        .unwrap()
        .unwrap();
    assert_eq!(Some(recorded.id), issued.card_id);
    assert_eq!(recorded.fields.status, CardStatus::Personalized);
    assert_eq!(recorded.fields.barcode.as_deref(), Some("2900000123456"));
    assert_eq!(recorded.fields.card_number.as_deref(), Some("501"));
    assert_eq!(recorded.fields.expires, Some(expires));

    let sent = runtime
        .block_on(usos::send_card_ready(
            &client,
            &CardReady::default(),
            &issued.usos_card,
        ))
        .unwrap();
    let notifications = server.usos_notifications();
    assert_eq!(notifications.len(), 1);
    assert_eq!(notifications[0]["user_ids"][0], "1001");
    assert_eq!(
        notifications[0]["message_pl"],
        sent.message.pl.clone().unwrap()
    );
    assert!(sent.message.en.unwrap().contains(&expires.to_string()));

    // Prolongation: writing the same validity again is refused, a later one is written.
    let err = on_card(&mut transport, |t| {
        runtime.block_on(usos::prolong(&desk, t, &mut store, None, today))
    })
    .unwrap_err();
    assert!(matches!(err, UsosIssueError::NotLater { .. }), "{err}");
    let later = expires + Days::days(365);
    assert!(server.usos_set_expiration("04A1B2C3D4E5F6", later));
    // USOS fails the report: the card is written and verified, and the store remembers
    // that USOS has not been told.
    server.usos_fail_marks(true);
    let err = on_card(&mut transport, |t| {
        runtime.block_on(usos::prolong(&desk, t, &mut store, None, today))
    })
    .unwrap_err();
    assert!(matches!(err, UsosIssueError::NotTold { .. }), "{err}");
    assert!(err.to_string().contains("USOS was not told yet"), "{err}");
    let reading = on_card(&mut transport, |t| read_and_verify(t, &trusted, today)).unwrap();
    assert_eq!(reading.verdict.unwrap().data.expires, later);
    let pending = store.usos_prolongation("04A1B2C3D4E5F6").unwrap().unwrap();
    assert_eq!(pending.state, ProlongationState::Written);
    assert_eq!(pending.expires, later);
    assert!(
        pending
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("503"),
        "{pending:?}"
    );
    assert!(server.usos_prolonged().is_empty());
    // As if the station had been killed between the write and recording that it verified:
    // the chip holds the expiry of the prolongation begun, which is enough.
    store
        .usos_prolongation_started("04A1B2C3D4E5F6", later, today, None, "anna.operator")
        .unwrap();
    // The retry tells USOS instead of refusing the card as not later than USOS's structure.
    server.usos_fail_marks(false);
    let prolonged = on_card(&mut transport, |t| {
        runtime.block_on(usos::prolong(&desk, t, &mut store, None, today))
    })
    .unwrap();
    assert_eq!(prolonged.issued.verified.data.expires, later);
    assert_eq!(prolonged.card_id, issued.card_id, "the register follows");
    assert_eq!(
        store
            .get_card(issued.card_id.unwrap())
            .unwrap()
            .fields
            .expires,
        Some(later)
    );
    assert_eq!(
        server.usos_prolonged(),
        [("501".to_owned(), today)],
        "USOS accepted the prolongation exactly once"
    );
    assert_eq!(store.usos_prolongation("04A1B2C3D4E5F6").unwrap(), None);
    let marked = server
        .usos_calls()
        .into_iter()
        .rfind(|call| call.method == "cards/mark_student_card_prolonged")
        .unwrap();
    assert_eq!(marked.params["contact_chip_uid"], "04A1B2C3D4E5F6");
    assert_eq!(marked.params["date_prolonged"], today.to_string());
    // Once told, the same validity is refused again: nothing is left to tell.
    let err = on_card(&mut transport, |t| {
        runtime.block_on(usos::prolong(&desk, t, &mut store, None, today))
    })
    .unwrap_err();
    assert!(matches!(err, UsosIssueError::NotLater { .. }), "{err}");
    assert_eq!(server.usos_prolonged().len(), 1);
    drop(transport);
    inserted.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));

    // A card USOS has blocked is refused with USOS's reason and nothing is written.
    let blocked_uid = [0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66];
    let blocked = blank_card(&blocked_uid);
    let _inserted = vpcd::insert(blocked.clone(), reader.port, Default::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    let mut transport = common::connect(&reader.name);
    let err = on_card(&mut transport, |t| {
        runtime.block_on(usos::issue(
            &desk,
            t,
            &mut store,
            holder,
            &FindBy::ChipUid,
            today,
            &mut |_| {},
        ))
    })
    .unwrap_err();
    assert!(matches!(err, UsosIssueError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("zastrzeżona"), "{err}");
    assert!(
        blocked
            .lock()
            .unwrap()
            .state()
            .ef_els
            .iter()
            .all(|byte| *byte == 0)
    );
    assert!(
        store
            .find_card_by_uid(UidKind::Contact, &blocked_uid)
            .unwrap()
            .is_none()
    );
}

#[test]
fn usos_issue_and_prolong_commands_through_pcscd() {
    let reader = reader(READER_PORT);
    let dir = tempfile::tempdir().unwrap();
    let (server, certificate) = usos_server(dir.path());
    let db = dir.path().join("desk.sqlite");
    let holder = {
        let mut store = Store::open(&db).unwrap();
        store
            .add_trusted_issuer(&certificate.to_der().unwrap(), "test")
            .unwrap();
        common::cardholder(&mut store, &common::anna())
    };
    std::fs::write(
        dir.path().join("desk.toml"),
        format!(
            "role = \"issuance\"\ndatabase = \"{}\"\n[usos]\nurl = \"{}\"\nconsumer_key_env = \"USOS_TEST_KEY\"\nconsumer_secret_env = \"USOS_TEST_SECRET\"\n[usos.card_ready]\npl = \"{{first_name}}: legitymacja gotowa\"\nen = \"{{first_name}}: card ready\"\n",
            db.display(),
            server.url()
        ),
    )
    .unwrap();
    let cardstation = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cardstation"))
            .arg("--profile")
            .arg(dir.path().join("desk.toml"))
            .args(args)
            .env("USOS_TEST_KEY", USOS_CONSUMER_KEY)
            .env("USOS_TEST_SECRET", USOS_CONSUMER_SECRET)
            .output()
            .unwrap()
    };
    let _inserted = vpcd::insert(blank_card(&UID), reader.port, Default::default(), WAIT).unwrap();
    pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();

    let holder = holder.to_string();
    let issued = cardstation(&[
        "usos",
        "issue",
        "--cardholder",
        &holder,
        "--reader",
        &reader.name,
        "--notify",
    ]);
    let stdout = String::from_utf8_lossy(&issued.stdout);
    assert!(
        issued.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    assert!(
        stdout.contains("issued chip 04A1B2C3D4E5F6: Anna Maria Żółkiewska"),
        "{stdout}"
    );
    assert!(stdout.contains("notified USOS user 1001"), "{stdout}");
    assert_eq!(
        server.usos_notifications()[0]["message_en"],
        "Anna Maria: card ready"
    );

    let expires = OffsetDateTime::now_utc().date() + Days::days(800);
    assert!(server.usos_set_expiration("04A1B2C3D4E5F6", expires));
    server.usos_fail_marks(true);
    let not_told = cardstation(&["usos", "prolong", "--reader", &reader.name]);
    let stderr = String::from_utf8_lossy(&not_told.stderr);
    assert_eq!(not_told.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("is written (valid until") && stderr.contains("USOS was not told yet"),
        "{stderr}"
    );
    assert!(
        stderr.contains("next step: the card is done: retry"),
        "{stderr}"
    );
    server.usos_fail_marks(false);
    // The rerun tells USOS; it is not refused as "not later".
    let prolonged = cardstation(&["usos", "prolong", "--reader", &reader.name]);
    let stdout = String::from_utf8_lossy(&prolonged.stdout);
    assert!(
        prolonged.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&prolonged.stderr)
    );
    assert!(stdout.contains(&format!("until {expires}")), "{stdout}");
    assert_eq!(
        server.usos_prolonged().len(),
        1,
        "USOS accepted the prolongation once"
    );
    // The register follows the chip: the kiosk and the next sync see the new expiry.
    assert!(
        stdout.contains("in the register now expires then"),
        "{stdout}"
    );
    let card = Store::open(&db)
        .unwrap()
        .find_card_by_uid(UidKind::Contact, &hex::decode("04A1B2C3D4E5F6").unwrap())
        .unwrap()
        .expect("the issued card is in the register");
    assert_eq!(card.fields.expires, Some(expires));
}

/// With `[holograms] prolong`, a USOS prolongation takes the sticker named for it once: a
/// sticker that is not free is refused before the chip is written; the one given leaves the
/// stock with the recorded write; a failed report and the retries that follow (one naming
/// another sticker) take no second one.
#[test]
fn a_usos_prolongation_takes_its_sticker_once_across_a_failed_report_and_retries() {
    let reader = reader(READER_PORT);
    let pki = tempfile::tempdir().unwrap();
    let (server, certificate) = usos_server(pki.path());
    let client = test_client(&server);
    let trusted = [certificate];
    let desk = desk_of(&client, &trusted);
    let store_dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&store_dir.path().join("desk.sqlite")).unwrap();
    let holder = common::cardholder(&mut store, &common::anna());
    store.add_holograms(7001, 7003, "test").unwrap();
    let today = OffsetDateTime::now_utc().date();
    let runtime = runtime();
    let inserted = vpcd::insert(blank_card(&UID), reader.port, Default::default(), WAIT).unwrap();
    let mut transport = common::connect(&reader.name);
    let issued = on_card(&mut transport, |t| {
        runtime.block_on(usos::issue(
            &desk,
            t,
            &mut store,
            holder,
            &FindBy::ChipUid,
            today,
            &mut |_| {},
        ))
    })
    .unwrap();
    let card_id = issued.card_id.unwrap();
    let expires = issued.issued.verified.data.expires;
    let later = expires + Days::days(365);
    assert!(server.usos_set_expiration("04A1B2C3D4E5F6", later));
    let mut prolong = |store: &mut Store, sticker| {
        on_card(&mut transport, |t| {
            runtime.block_on(usos::prolong(&desk, t, store, Some(sticker), today))
        })
    };
    let on_chip = |transport: &mut PcscTransport| {
        on_card(transport, |t| read_and_verify(t, &trusted, today))
            .unwrap()
            .verdict
            .unwrap()
            .data
            .expires
    };

    // A number not in the stock: refused, the chip and the stock untouched.
    let err = prolong(&mut store, 9999).unwrap_err();
    assert!(
        err.to_string()
            .contains("sticker 9999 is not in this station's hologram stock: nothing was written"),
        "{err}"
    );
    assert_eq!(store.usos_prolongation("04A1B2C3D4E5F6").unwrap(), None);
    assert_eq!(store.hologram_stock().unwrap().free_count(), 3);

    // USOS fails the report: the write is recorded with its sticker, taken from the stock.
    server.usos_fail_marks(true);
    let err = prolong(&mut store, 7001).unwrap_err();
    assert!(matches!(err, UsosIssueError::NotTold { .. }), "{err}");
    let pending = store.usos_prolongation("04A1B2C3D4E5F6").unwrap().unwrap();
    assert_eq!(
        (pending.state, pending.hologram),
        (ProlongationState::Written, Some(7001))
    );
    assert_eq!(store.hologram_on_card(card_id).unwrap(), Some(7001));
    assert_eq!(store.hologram_stock().unwrap().free, [(7002, 7003)]);

    // Tried again while USOS still fails, naming another sticker: none is taken.
    let err = prolong(&mut store, 7002).unwrap_err();
    assert!(matches!(err, UsosIssueError::NotTold { .. }), "{err}");
    assert_eq!(store.hologram_stock().unwrap().free, [(7002, 7003)]);

    // USOS back: the retry tells it and reports the first write's sticker.
    server.usos_fail_marks(false);
    let prolonged = prolong(&mut store, 7002).unwrap();
    assert_eq!(prolonged.hologram, Some(7001));
    assert_eq!(prolonged.card_id, Some(card_id));
    assert_eq!(on_chip(&mut transport), later);
    assert_eq!(server.usos_prolonged(), [("501".to_owned(), today)]);
    assert_eq!(store.usos_prolongation("04A1B2C3D4E5F6").unwrap(), None);
    assert_eq!(store.hologram_on_card(card_id).unwrap(), Some(7001));
    assert_eq!(store.hologram_stock().unwrap().free, [(7002, 7003)]);
    let prolongations: Vec<_> = store
        .audit_entries(&format!("card:{card_id}"), 20)
        .unwrap()
        .into_iter()
        .filter(|entry| entry.action == "card.prolong")
        .collect();
    assert_eq!(prolongations.len(), 1, "{prolongations:?}");
    assert!(
        prolongations[0].details.contains("\"hologram\":7001")
            && prolongations[0]
                .details
                .contains(&format!("\"expires\":\"{later}\"")),
        "{:?}",
        prolongations[0]
    );
    let started = store.audit_entries("usos.prolong_started", 5).unwrap();
    assert!(
        started
            .iter()
            .any(|entry| entry.details.contains("\"hologram\":7001")),
        "{started:?}"
    );
    drop(transport);
    inserted.remove().unwrap();
    common::wait_until(WAIT, || !common::card_present(&reader.name));
}
