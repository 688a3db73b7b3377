//! Shared set-up for tests that go through the real pcscd and the vpcd virtual readers, and
//! the people the tests store. A missing pcscd or vpcd fails the test with the command that
//! fixes it: these tests never skip silently.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::fs::File;
use std::process::Output;
use std::time::{Duration, Instant};

use cardstation::card::pcsc::{self, PcscTransport, Sharing};
use cardstation::sim::vpcd;
use cardstation::store::{CardholderFields, PersonFields, Printed, Store};
use time::macros::date;

pub const UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];

/// One vpcd reader held by this test until dropped.
pub struct Reader {
    pub port: u16,
    pub name: String,
    _lock: File,
}

/// Takes the vpcd reader on `port` after checking that pcscd really offers it.
pub fn reader(port: u16) -> Reader {
    let name = vpcd::reader_name(port);
    let lock = vpcd::lock_reader(port).expect("lock file in the temp directory");
    let readers = pcsc::list_readers().unwrap_or_else(|err| {
        panic!("pcscd is not usable ({err}); run scripts/test.sh, or: apt-get install pcscd vsmartcard-vpcd && pcscd")
    });
    assert!(
        readers.iter().any(|r| r.name == name),
        "pcscd does not offer the virtual reader \"{name}\" (readers: {readers:?}); install vsmartcard-vpcd and restart pcscd"
    );
    // A card left behind by a crashed run would confuse the test.
    wait_until(Duration::from_secs(5), || !card_present(&name));
    Reader {
        port,
        name,
        _lock: lock,
    }
}

/// Waits for a card in `reader` and connects to it (shared, as the station does).
pub fn connect(reader: &str) -> PcscTransport {
    let name = pcsc::wait_for_card(Some(reader), Duration::from_secs(10))
        .expect("the card shows up in pcscd");
    PcscTransport::connect(&name, Sharing::Shared).expect("connect to the card")
}

pub fn card_present(reader: &str) -> bool {
    pcsc::list_readers()
        .is_ok_and(|readers| readers.iter().any(|r| r.name == reader && r.card_present))
}

/// Fails the test with the command's stderr unless the command succeeded.
#[track_caller]
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls `condition` until it holds, failing the test after `timeout`.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "condition not reached within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A P-256 signer key (`key.pem`, mode 600) and a self-signed certificate (`cert.pem`) with
/// `subject`, made in `dir` by openssl, as an issuing office would.
pub fn make_signer_files(dir: &std::path::Path, subject: &str) {
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status();
        assert!(
            status
                .expect("openssl is installed (scripts/setup.sh)")
                .success(),
            "openssl {args:?}"
        );
    };
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "key.pem",
    ]);
    std::fs::set_permissions(
        dir.join("key.pem"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    run(&[
        "req", "-x509", "-new", "-key", "key.pem", "-subj", subject, "-days", "3650", "-out",
        "cert.pem",
    ]);
}

/// Jan Nowak's card data, bound to the chip [`UID`].
pub fn jan_nowak_on_uid() -> cardstation::crypto::els_sig::ElsData {
    cardstation::crypto::els_sig::ElsData {
        chip_serial: hex::encode_upper(UID),
        university: "Uniwersytet Testowy".into(),
        surnames: vec!["Nowak".into()],
        given_names: vec!["Jan".into()],
        album_number: "654321".into(),
        edition: "B".into(),
        pesel: "44051401359".into(),
        expires: date!(2031 - 06 - 30),
    }
}

/// [`jan_nowak_on_uid`] signed today with the signer files [`make_signer_files`] made in
/// `dir`, the certificate embedded: an EF.ELS.
pub fn signed_by_signer_files(dir: &std::path::Path) -> Vec<u8> {
    use cardstation::config::keys;
    cardstation::crypto::els_sig::sign(
        &jan_nowak_on_uid(),
        &keys::load_signing_key(&dir.join("key.pem"), None).unwrap(),
        &keys::load_certificate(&dir.join("cert.pem")).unwrap(),
        cardstation::crypto::els_sig::Certificates::Embed,
        time::OffsetDateTime::now_utc().date(),
    )
    .unwrap()
}

/// An ELS chip [`UID`] whose EF.ELS holds `structure`.
pub fn card_holding(structure: &[u8]) -> cardstation::sim::SharedCard {
    let mut state = cardstation::sim::ElsCardState::blank(&UID);
    state.ef_els[..structure.len()].copy_from_slice(structure);
    cardstation::sim::shared(cardstation::sim::ElsCard::new(state))
}

/// Anna Maria Żółkiewska: the reference server's USOS user 1001.
pub fn anna() -> PersonFields {
    PersonFields {
        person_number: None,
        first_name: "Anna".into(),
        middle_name: Some("Maria".into()),
        last_name: "Żółkiewska".into(),
        birth_date: date!(2002 - 07 - 08),
        phone_number: None,
        mobile_number: None,
        album_number: Some("123456".into()),
        pesel: Some("02070803628".into()),
    }
}

/// Jan Nowak: the reference server's USOS user 1002.
pub fn jan() -> PersonFields {
    PersonFields {
        person_number: None,
        first_name: "Jan".into(),
        middle_name: None,
        last_name: "Nowak".into(),
        birth_date: date!(1944 - 05 - 14),
        phone_number: None,
        mobile_number: None,
        album_number: Some("654321".into()),
        pesel: Some("44051401359".into()),
    }
}

/// Stores `person` as an active cardholder; the cardholder's id.
pub fn cardholder(store: &mut Store, person: &PersonFields) -> i64 {
    let person = store.create_person(person).unwrap();
    store
        .create_cardholder(&CardholderFields::active(person))
        .unwrap()
}

/// Leaves conflicts in `store` the way pulls do: a person from the server edited here and
/// there `edits` times (each edit's fields kept as conflicts, the server winning), then a
/// card blocked here while the server moved it on (the station's status kept, the newest
/// conflict). The number of conflicts the store then holds.
pub fn record_conflicts(store: &mut Store, edits: usize) -> i64 {
    use serde_json::{Value, json};
    fn from<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }
    let person = |first: &str| {
        from(
            json!({"id": "p-conflict", "firstName": first, "lastName": "Konfliktowa",
                    "birthDate": "2001-02-03", "metadata": {}}),
        )
    };
    store.upsert_remote_persons(&[person("Ewa")]).unwrap();
    store
        .upsert_remote_cardholders(&[from(json!({"id": "h-conflict", "person": "p-conflict"}))])
        .unwrap();
    let card = |status: &str| {
        from(
            json!({"id": "c-conflict", "cardholder": "h-conflict", "status": status,
                    "metadata": {"contactlessUid": "04C0FF11C7000A"}}),
        )
    };
    store.upsert_remote_cards(&[card("activated")]).unwrap();
    let person_id = store.search_people("Konfliktowa", 1).unwrap()[0].id;
    for edit in 0..edits {
        let mut fields = store.get_person(person_id).unwrap().fields;
        fields.first_name = format!("Local{edit}");
        store.update_person(person_id, &fields).unwrap();
        let upserted = store
            .upsert_remote_persons(&[person(&format!("Server{edit}"))])
            .unwrap();
        assert!(upserted.conflicts > 0, "{upserted:?}");
    }
    let card_id = store
        .find_card_by_uid(
            cardstation::store::UidKind::Contactless,
            &[0x04, 0xC0, 0xFF, 0x11, 0xC7, 0x00, 0x0A],
        )
        .unwrap()
        .unwrap()
        .id;
    store
        .set_card_status(
            card_id,
            cardstation::store::CardStatus::Blocked,
            "anna",
            "lost",
        )
        .unwrap();
    assert_eq!(
        store
            .upsert_remote_cards(&[card("issued")])
            .unwrap()
            .conflicts,
        1
    );
    store.status().unwrap().conflicts
}

/// An OpenSSL CA in `dir` that issues CRLs (`ca.pem`, `ca.key`, and the `openssl ca`
/// database), as an issuing office would run it; see [`openssl_gencrl`].
pub fn openssl_crl_ca(dir: &std::path::Path, subject: &str) {
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
         default_md = sha256\ndefault_crl_days = 7\n\
         [ca_ext]\nbasicConstraints = critical,CA:true\nkeyUsage = critical,keyCertSign,cRLSign\n",
    )
    .unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
    assert_success(
        &std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                subject,
                "-days",
                "30",
                "-config",
                "ca.cnf",
                "-extensions",
                "ca_ext",
            ])
            .current_dir(dir)
            .output()
            .expect("openssl is installed (scripts/setup.sh)"),
    );
}

/// A CRL of the [`openssl_crl_ca`] in `dir` revoking `serials` (hex), written to `out` as PEM.
pub fn openssl_gencrl(dir: &std::path::Path, serials: &[&str], out: &str) {
    let index: String = serials
        .iter()
        .map(|serial| format!("R\t491231235959Z\t260101000000Z\t{serial}\tunknown\t/CN=x\n"))
        .collect();
    std::fs::write(dir.join("index.txt"), index).unwrap();
    assert_success(
        &std::process::Command::new("openssl")
            .args([
                "ca", "-gencrl", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem",
                "-out", out,
            ])
            .current_dir(dir)
            .output()
            .expect("openssl is installed (scripts/setup.sh)"),
    );
}

/// What recording production `id` as printed takes when no printer is involved: a chip
/// serial, an operator, no batch or hologram.
pub fn printed(production_id: i64) -> Printed {
    Printed {
        production_id,
        chip_serial: "04A1B2C3D4E5F6".into(),
        contact_uid: None,
        contactless_uid: None,
        user_name: "ewa".into(),
        batch_id: None,
        hologram: None,
        job: "job-1".into(),
    }
}
