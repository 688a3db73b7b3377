//! The store commands end to end through the binary: import, status, audit verify, and
//! tampering by someone with write access to the database file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cardstation::store::Store;
use rusqlite::Connection;

mod common;

fn cardstation(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write_csv(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Someone with write access to the file, outside Cardstation.
fn as_attacker(db: &Path, sql: &str) {
    Connection::open(db).unwrap().execute_batch(sql).unwrap();
}

fn verify_fails_naming(db: &Path, expected: &str) {
    let output = cardstation(db, &["audit", "verify"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains(expected), "{}", stderr(&output));
}

fn import(db: &Path, csv: &Path) -> Output {
    cardstation(db, &["import", "persons", csv.to_str().unwrap()])
}

const MIXED_CSV: &str = "\
firstName,lastName,birthDate,personNumber,email,mobileNumber
Anna,Kowalska,2001-02-03,P-1,anna@uni.example,+48600100200
Jan,Nowak,2001-13-01,P-2,,
Łucja,Wiśniewska,2000-05-06,P-3,,
,Pusty,2000-01-01,P-4,,
Ewa,Duplikat,2000-01-01,P-1,,
\"Zofia Maria\",Zielińska,1999-12-31,,\"zofia@uni.example\",
Too,Many,2000-01-01,P-9,,,extra
";

/// A store with three audit rows: three imports.
fn store_with_audit_rows(dir: &Path) -> PathBuf {
    let db = dir.join("store.sqlite");
    let csv = write_csv(dir, "mixed.csv", MIXED_CSV);
    assert!(import(&db, &csv).status.success());
    for (n, name) in ["Ola", "Ala"].into_iter().enumerate() {
        let csv = write_csv(
            dir,
            &format!("more{n}.csv"),
            &format!("firstName,lastName,birthDate\n{name},Lis,2002-02-02\n"),
        );
        assert!(import(&db, &csv).status.success());
    }
    db
}

#[test]
fn import_reports_bad_lines_and_keeps_good_rows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let csv = write_csv(dir.path(), "mixed.csv", MIXED_CSV);

    let output = import(&db, &csv);
    assert!(output.status.success(), "{}", stderr(&output));
    let errors = stderr(&output);
    // The person form's own rules and words, field by field.
    assert!(
        errors.contains("line 3: birthDate: not a date written as YYYY-MM-DD"),
        "{errors}"
    );
    assert!(errors.contains("line 5: firstName: required"), "{errors}");
    assert!(
        errors.contains("line 6: the same personNumber as line 2"),
        "{errors}"
    );
    assert!(errors.contains("line 8: unreadable row"), "{errors}");
    assert!(
        !errors.contains("line 2:") && !errors.contains("line 4:"),
        "{errors}"
    );
    assert!(!errors.contains("line 7:"), "{errors}");
    let summary = stdout(&output);
    assert!(summary.contains("imported 3 persons"), "{summary}");
    assert!(summary.contains("4 lines rejected"), "{summary}");

    let output = cardstation(&db, &["status", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let status: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(status["persons"], 3);
    assert_eq!(status["cardholders"], 3);
    assert_eq!(status["cards"], 0);
    assert_eq!(status["productions"], 0);
    assert_eq!(status["outbox_pending"], 6);
    assert_eq!(status["last_sync"], serde_json::Value::Null);

    let output = cardstation(&db, &["audit", "verify"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("1 rows checked"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_file_without_the_required_columns_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let csv = write_csv(dir.path(), "bad.csv", "firstName,lastName\nAnna,Kowalska\n");
    let output = import(&db, &csv);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no birthDate column"),
        "{}",
        stderr(&output)
    );

    let output = import(&db, &dir.path().join("missing.csv"));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("next step:"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn an_edited_audit_row_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with_audit_rows(dir.path());
    let output = cardstation(&db, &["audit", "verify"]);
    assert!(
        stdout(&output).contains("3 rows checked"),
        "{}",
        stdout(&output)
    );

    // The trigger refuses the edit, so the attacker drops it first.
    let refused = Connection::open(&db)
        .unwrap()
        .execute("UPDATE audit_log SET operator = 'eve' WHERE id = 2", []);
    assert!(refused.is_err());
    as_attacker(
        &db,
        "DROP TRIGGER audit_log_no_update;
         UPDATE audit_log SET details = '{\"imported\":0,\"rejected\":0}' WHERE id = 2;",
    );
    verify_fails_naming(&db, "audit row 2: edited");
}

#[test]
fn a_deleted_audit_row_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with_audit_rows(dir.path());
    as_attacker(
        &db,
        "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 2;",
    );
    verify_fails_naming(&db, "audit row 2: deleted");
}

#[test]
fn a_deleted_last_audit_row_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_with_audit_rows(dir.path());
    as_attacker(
        &db,
        "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 3;",
    );
    verify_fails_naming(&db, "audit row 3: deleted");
}

#[test]
fn operators_are_set_with_a_pin_from_the_environment_or_stdin_never_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ops.sqlite");
    let set = Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .arg("--db")
        .arg(&db)
        .args(["operator", "set", "anna", "--role", "operator"])
        .env("CARDSTATION_PIN", "4711")
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", stderr(&set));
    let mut piped = Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .arg("--db")
        .arg(&db)
        .args(["operator", "set", "root", "--role", "admin"])
        .env_remove("CARDSTATION_PIN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    piped.stdin.take().unwrap().write_all(b"123456\n").unwrap();
    assert!(piped.wait_with_output().unwrap().status.success());
    let short = Command::new(env!("CARGO_BIN_EXE_cardstation"))
        .arg("--db")
        .arg(&db)
        .args(["operator", "set", "eve", "--role", "admin"])
        .env("CARDSTATION_PIN", "12")
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(1));
    assert!(
        stderr(&short).contains("a PIN is 4 to 12 digits"),
        "{}",
        stderr(&short)
    );

    let list = cardstation(&db, &["operator", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(stdout(&list).trim()).unwrap();
    let names: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|op| (op["name"].as_str().unwrap(), op["role"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [("anna", "operator"), ("root", "admin")]);
    let text = std::fs::read(&db).unwrap();
    let text = String::from_utf8_lossy(&text);
    assert!(
        !text.contains("4711") && !text.contains("123456"),
        "PINs are stored only hashed"
    );
    assert!(verify_ok(&db));
}

fn verify_ok(db: &Path) -> bool {
    cardstation(db, &["audit", "verify"]).status.success()
}

#[test]
fn a_kiosk_profile_refuses_to_write_cards() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kiosk.sqlite");
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/kiosk.toml");
    for args in [
        &[
            "--profile",
            profile,
            "els",
            "write",
            "--cardholder",
            "1",
            "--expires",
            "2027-03-31",
        ][..],
        &[
            "--profile",
            profile,
            "els",
            "prolong",
            "--expires",
            "2027-03-31",
        ][..],
        &["--profile", profile, "usos", "issue", "--cardholder", "1"][..],
        &["--profile", profile, "usos", "prolong"][..],
        &["--profile", profile, "print", "--batch"][..],
    ] {
        let output = cardstation(&db, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let err = stderr(&output);
        assert!(err.contains("a validation kiosk cannot"), "{err}");
    }
}

#[test]
fn status_says_when_blocks_were_last_fetched_and_how_many_conflicts_were_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.sqlite");
    let output = cardstation(&db, &["status"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("\nlast revocation poll\tnever\n"), "{text}");
    assert!(text.contains("\nconflicts\t0\n"), "{text}");

    let (kept, polled) = {
        let mut store = Store::open(&db).unwrap();
        let kept = common::record_conflicts(&mut store, 2);
        store
            .record_revocation_poll(Duration::from_secs(60))
            .unwrap();
        (kept, store.status().unwrap().last_revocation_poll.unwrap())
    };
    assert!(kept > 2, "{kept}");
    let output = cardstation(&db, &["status"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!("\nlast revocation poll\t{polled}\n")),
        "{text}"
    );
    assert!(text.contains(&format!("\nconflicts\t{kept}\n")), "{text}");
    let output = cardstation(&db, &["status", "--json"]);
    let status: serde_json::Value =
        serde_json::from_str(stdout(&output).lines().last().unwrap()).unwrap();
    assert_eq!(status["conflicts"], kept, "{status}");
    assert_eq!(status["last_revocation_poll"], polled.as_str(), "{status}");
}

/// `print --reprint/--cancel/--withdraw` through the binary at a print station: the reason is
/// required, each change writes its outbox row, and an illegal one is refused with nothing
/// written.
#[test]
fn print_reprint_cancel_and_withdraw_write_outbox_rows_and_need_a_reason() {
    use cardstation::store::{CardType, Operation, ProductionStatus, Resource, Store as Stored};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("print.sqlite");
    let profile = dir.path().join("print.toml");
    std::fs::write(
        &profile,
        cardstation::config::DEMO_PROFILE.replacen("role = \"issuance\"", "role = \"print\"", 1),
    )
    .unwrap();
    let mut store = Stored::open(&db).unwrap();
    let holder = common::cardholder(&mut store, &common::anna());
    let queued = store
        .order_card(holder, CardType::Student, None, None, "ala")
        .unwrap();
    let printed = store
        .order_card(holder, CardType::Student, None, None, "ala")
        .unwrap();
    store.record_printed(&common::printed(printed)).unwrap();
    let print = |args: &[&str]| {
        let mut all = vec!["--profile", profile.to_str().unwrap(), "print"];
        all.extend_from_slice(args);
        cardstation(&db, &all)
    };
    let pending = || store.outbox_pending(1000).unwrap();
    let (queued_id, printed_id) = (queued.to_string(), printed.to_string());

    let before = pending().len();
    for (args, says) in [
        (vec!["--cancel", &queued_id], "a cancel needs a reason"),
        (
            vec!["--cancel", &printed_id, "--reason", "x"],
            "withdraw the card instead",
        ),
        (
            vec!["--reprint", &queued_id, "--reason", "x"],
            "still in the print queue",
        ),
    ] {
        let output = print(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
        assert_eq!(pending().len(), before, "{args:?}: nothing written");
    }

    let output = print(&["--cancel", &queued_id, "--reason", "ordered twice"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("cancelled"), "{}", stdout(&output));
    let output = print(&["--reprint", &printed_id, "--reason", "damaged"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let added: Vec<_> = pending()[before..]
        .iter()
        .map(|entry| {
            (
                entry.resource,
                entry.operation,
                entry.payload["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        added,
        [
            (Resource::Cards, Operation::Update, "withdrawn".into()),
            (Resource::Cards, Operation::Update, "in_production".into()),
            (
                Resource::Productions,
                Operation::Create,
                serde_json::Value::Null
            ),
        ]
    );
    assert_eq!(
        store.get_production(queued).unwrap().status,
        ProductionStatus::Cancelled
    );
    assert_eq!(
        store.get_production(printed).unwrap().status,
        ProductionStatus::ToBeProduced
    );
    let output = print(&["--withdraw", &printed_id, "--reason", "x"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("cancel the order instead"),
        "{}",
        stderr(&output)
    );
}
