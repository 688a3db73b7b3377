//! An ELS card nobody here wrote: vsmartcard's vicc (Python ISO 7816 emulator) with DF.SELS,
//! EF.ELS and EF.CERT built from openssl output only (the SELSInfo DER by `asn1parse -genconf`,
//! the CMS by `cms -sign`, the certificates by `req`/`x509`), read through pcscd + vpcd by
//! `els read` and the kiosk's `validate`. vicc gives no chip serial (no FF CA, no CPLC), its
//! files end exactly where their content does, and one run answers READ BINARY in 59-byte
//! pieces.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::reader;

const WAIT: Duration = Duration::from_secs(10);
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// The SELSInfo of a student, in openssl's ASN1_generate_nconf language.
const SELS_CONF: &str = "asn1=SEQUENCE:sels
[sels]
wersja=INTEGER:1
serial=PRINTABLESTRING:04A1B2C3D4E5F6
uczelnia=FORMAT:UTF8,UTF8String:Uniwersytet Łódzki
nazwiska=SEQUENCE:nazwiska
imiona=SEQUENCE:imiona
album=PRINTABLESTRING:123456
edycja=PRINTABLESTRING:A
pesel=PRINTABLESTRING:02070803628
waznosc=GENERALIZEDTIME:20310331215959Z
[nazwiska]
n1=FORMAT:UTF8,UTF8String:Żółkiewska
[imiona]
i1=UTF8String:Anna
i2=UTF8String:Maria
";

/// vicc must be importable by the system Python; in CI its absence fails the test.
fn vicc_available() -> bool {
    let probe = Command::new(SYSTEM_PYTHON)
        .arg(peer("els_vicc_card.py"))
        .arg("--help")
        .output();
    let ok = probe.as_ref().is_ok_and(|out| out.status.success());
    if !ok {
        let why = probe.map_or_else(
            |e| e.to_string(),
            |out| String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        let fix = "install vsmartcard-vpicc and python3-pycryptodome (scripts/setup.sh)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "vicc is not usable ({why}); {fix}"
        );
        eprintln!("SKIPPED: vicc is not usable ({why}); {fix}");
    }
    ok
}

fn peer(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (P-256) and a signer certificate it issued (RSA 2048) with the ELS role; EF.ELS signed
/// by the signer with SHA-256 and no certificates inside (they live in EF.CERT).
fn openssl_card_files(dir: &Path) {
    std::fs::write(dir.join("sels.cnf"), SELS_CONF).unwrap();
    std::fs::write(
        dir.join("leaf.ext"),
        "keyUsage=critical,digitalSignature,nonRepudiation\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "asn1parse",
            "-genconf",
            "sels.cnf",
            "-out",
            "sels.der",
            "-noout",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-subj",
            "/CN=Test ELS CA/O=Uniwersytet Testowy/C=PL",
            "-days",
            "3650",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "signer.key",
            "-subj",
            "/CN=osoba uprawniona do wystawiania legitymacji/O=Uniwersytet Testowy/C=PL",
            "-out",
            "signer.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "signer.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            "leaf.ext",
            "-out",
            "signer.pem",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-in",
            "signer.pem",
            "-outform",
            "DER",
            "-out",
            "signer.der",
        ],
    );
    openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-nocerts",
            "-outform",
            "DER",
            "-econtent_type",
            "1.2.616.1.101.4.1.1.1",
            "-md",
            "sha256",
            "-in",
            "sels.der",
            "-signer",
            "signer.pem",
            "-inkey",
            "signer.key",
            "-out",
            "els.der",
        ],
    );
}

/// The vicc card with `els` in EF.ELS, in the vpcd reader on `port` until killed.
struct ViccCard(Child);

impl ViccCard {
    fn insert(dir: &Path, port: u16, els: &str, chunk: Option<u16>) -> Self {
        let mut command = Command::new(SYSTEM_PYTHON);
        command
            .arg(peer("els_vicc_card.py"))
            .args([
                "--port",
                &port.to_string(),
                "--els",
                els,
                "--cert",
                "signer.der",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(chunk) = chunk {
            command.args(["--chunk", &chunk.to_string()]);
        }
        Self(command.spawn().expect("start the vicc card"))
    }
}

impl Drop for ViccCard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cardstation(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .args(["--db", "station.sqlite"])
        .args(args)
        .current_dir(dir)
        .env("CARDSTATION_LOG_DIR", dir.join("logs"))
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

fn els_read(dir: &Path, reader: &str) -> serde_json::Value {
    last_json(&cardstation(
        dir,
        &[
            "els", "read", "--reader", reader, "--cert", "ca.pem", "--json",
        ],
    ))
}

fn tap(dir: &Path, reader: &str) -> serde_json::Value {
    last_json(&cardstation(
        dir,
        &[
            "validate", "--once", "--wait", "10", "--json", "--reader", reader,
        ],
    ))
}

#[test]
fn a_vicc_card_with_openssl_signed_files_verifies_and_a_tampered_copy_is_forged() {
    if !vicc_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl_card_files(dir);
    let genuine = std::fs::read(dir.join("els.der")).unwrap();
    // One byte of the album number (123456 → 123457), inside the signed content.
    let album = genuine
        .windows(6)
        .position(|w| w == b"123456")
        .expect("the album number is in EF.ELS");
    let mut tampered = genuine.clone();
    tampered[album + 5] = b'7';
    std::fs::write(dir.join("tampered.der"), &tampered).unwrap();
    common::assert_success(&cardstation(dir, &["trust", "add", "ca.pem"]));
    let reader = reader(35963);

    for chunk in [None, Some(59)] {
        let card = ViccCard::insert(dir, reader.port, "els.der", chunk);
        cardstation::card::pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
        let read = els_read(dir, &reader.name);
        assert_eq!(read["valid"], true, "chunk {chunk:?}: {read}");
        assert_eq!(read["chip_checked"], false);
        assert_eq!(read["data"]["surnames"][0], "Żółkiewska");
        assert_eq!(read["data"]["album_number"], "123456");
        assert!(
            read["signer"]
                .as_str()
                .unwrap()
                .contains("osoba uprawniona do wystawiania legitymacji"),
            "{read}"
        );
        let valid = tap(dir, &reader.name);
        assert_eq!(valid["verdict"], "valid", "chunk {chunk:?}: {valid}");
        assert_eq!(valid["evidence"], "signed_chip");
        let reason = valid["reason"].as_str().unwrap();
        assert!(reason.contains("Anna Maria Żółkiewska"), "{reason}");
        assert!(
            reason.contains("chip binding not checked (the reader gave no chip serial)"),
            "{reason}"
        );
        drop(card);
        common::wait_until(WAIT, || !common::card_present(&reader.name));
    }

    let _card = ViccCard::insert(dir, reader.port, "tampered.der", None);
    cardstation::card::pcsc::wait_for_card(Some(&reader.name), WAIT).unwrap();
    let read = els_read(dir, &reader.name);
    assert_eq!(read["valid"], false, "{read}");
    assert_eq!(read["reason"], "forged", "{read}");
    let forged = tap(dir, &reader.name);
    assert_eq!(forged["verdict"], "forged", "{forged}");
}
