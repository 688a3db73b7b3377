//! Store commands: `status`, `import persons`, `audit verify`, `operator`.

use std::path::Path;
use std::sync::Mutex;

use cardstation::config::Profile;
use cardstation::station::import;
use cardstation::store::{AuditError, OperatorRole, Store};
use zeroize::Zeroizing;

use super::{Failure, operator};

pub fn status(db: &Path, json: bool) -> Result<(), Failure> {
    let status = Store::open(db)?.status()?;
    if json {
        let line = serde_json::to_string(&status)
            .map_err(|err| Failure::new(format!("cannot encode the status: {err}"), "report it"))?;
        println!("{line}");
    } else {
        println!("store\t{}", db.display());
        println!("persons\t{}", status.persons);
        println!("cardholders\t{}", status.cardholders);
        println!("cards\t{}", status.cards);
        println!("productions\t{}", status.productions);
        println!("addresses\t{}", status.addresses);
        println!("anonymous sets\t{}", status.anonymous_sets);
        println!("deleted on the server\t{}", status.deleted_remotely);
        println!("outbox pending\t{}", status.outbox_pending);
        println!(
            "last sync\t{}",
            status.last_sync.as_deref().unwrap_or("never")
        );
        println!(
            "last revocation poll\t{}",
            status.last_revocation_poll.as_deref().unwrap_or("never")
        );
        println!("conflicts\t{}", status.conflicts);
    }
    Ok(())
}

/// Imports the file with the checks of the desk's person form, the same as the window's
/// import (`station::import`), and prints each refused line on stderr.
pub fn import_persons(profile: &Profile, db: &Path, file: &Path) -> Result<(), Failure> {
    let read = import::read_file(file)?;
    for ignored in &read.ignored_columns {
        eprintln!("warning: column {ignored:?} is not imported");
    }
    let store = Mutex::new(Store::open(db)?);
    let lock = || {
        store
            .lock()
            .map_err(|_| Failure::new("an earlier chunk of the import failed", "report it"))
    };
    let report = import::import(&super::session(profile), &read, lock, &mut |_| {})?;
    for rejection in &report.rejected {
        eprintln!("{rejection}");
    }
    println!(
        "imported {} persons with their cardholders from {}, updated {}, unchanged {}; {} lines rejected",
        report.imported,
        read.source,
        report.updated,
        report.unchanged,
        report.rejected.len()
    );
    Ok(())
}

pub fn audit_verify(db: &Path) -> Result<(), Failure> {
    match Store::open(db)?.audit_verify() {
        Ok(rows) => {
            println!("audit log intact: {rows} rows checked");
            Ok(())
        }
        Err(AuditError::Tampered { row, what }) => Err(Failure::new(
            format!("audit row {row}: {what}"),
            "the log was altered outside Cardstation: keep a copy of this store file as evidence and report it",
        )),
        Err(AuditError::Store(err)) => Err(err.into()),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    Operator,
    Printer,
    Admin,
}

impl From<RoleArg> for OperatorRole {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Operator => OperatorRole::Operator,
            RoleArg::Printer => OperatorRole::Printer,
            RoleArg::Admin => OperatorRole::Admin,
        }
    }
}

/// The PIN from $CARDSTATION_PIN, else the first line of stdin; never from the command line,
/// where `ps` and the shell history would show it.
fn read_pin(name: &str) -> Result<Zeroizing<String>, Failure> {
    if let Ok(pin) = std::env::var("CARDSTATION_PIN") {
        return Ok(Zeroizing::new(pin));
    }
    let pin = super::secret::read_hidden_line(&format!("PIN for {name}"), "the PIN")?;
    Ok(Zeroizing::new(pin.trim().to_owned()))
}

pub fn set_operator(db: &Path, name: &str, role: RoleArg) -> Result<(), Failure> {
    let pin = read_pin(name)?;
    let mut store = Store::open(db)?;
    store.set_operator(name, role.into(), &pin, &operator())?;
    println!(
        "operator {name} set ({})",
        OperatorRole::from(role).as_str()
    );
    Ok(())
}

pub fn list_operators(db: &Path, json: bool) -> Result<(), Failure> {
    let store = Store::open(db)?;
    let operators = store.operators()?;
    if json {
        let list: Vec<_> = operators
            .iter()
            .map(|op| {
                serde_json::json!({
                    "name": op.name,
                    "role": op.role.as_str(),
                    "failed_attempts": op.failed_attempts,
                    "locked_until": op.locked_until.map(|at| at.to_string()),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    for op in operators {
        let lock = match op.locked_until {
            Some(until) if until > time::OffsetDateTime::now_utc() => {
                format!("  locked until {until}")
            }
            _ => String::new(),
        };
        println!("{:<20} {}{lock}", op.name, op.role.as_str());
    }
    Ok(())
}
