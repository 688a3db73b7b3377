//! Store commands: `status`, `import persons`, `audit verify`, `operator`.

use std::path::Path;

use cardstation::store::{AuditError, ImportedPerson, OperatorRole, PersonFields, Store};
use time::Date;
use time::macros::format_description;
use zeroize::Zeroizing;

use super::{Failure, operator};

/// Columns `import persons` understands (CardExchange field names, plus the Polish
/// registers kept in metadata); the first three are required.
const REQUIRED_COLUMNS: [&str; 3] = ["firstName", "lastName", "birthDate"];
const OPTIONAL_COLUMNS: [&str; 7] = [
    "middleName",
    "personNumber",
    "email",
    "phoneNumber",
    "mobileNumber",
    "albumNumber",
    "pesel",
];

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

pub fn import_persons(db: &Path, file: &Path) -> Result<(), Failure> {
    let unreadable_file = |err: &dyn std::fmt::Display| {
        Failure::new(
            format!("cannot read {}: {err}", file.display()),
            "check the path and that the file is UTF-8 CSV with a header line",
        )
    };
    let mut reader = csv::Reader::from_path(file).map_err(|err| unreadable_file(&err))?;
    let header = reader
        .headers()
        .map_err(|err| unreadable_file(&err))?
        .clone();
    let column = |name: &str| header.iter().position(|field| field.trim() == name);
    if let Some(missing) = REQUIRED_COLUMNS.iter().find(|name| column(name).is_none()) {
        return Err(Failure::new(
            format!("{} has no {missing} column", file.display()),
            format!(
                "the first line must name the columns: {} (optional: {})",
                REQUIRED_COLUMNS.join(","),
                OPTIONAL_COLUMNS.join(",")
            ),
        ));
    }
    for ignored in header.iter().filter(|field| {
        !REQUIRED_COLUMNS.contains(&field.trim()) && !OPTIONAL_COLUMNS.contains(&field.trim())
    }) {
        eprintln!("warning: column {ignored:?} is not imported");
    }

    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |position| position.line());
                let field = |name: &str| {
                    column(name)
                        .and_then(|index| record.get(index))
                        .map(str::trim)
                        .filter(|value| !value.is_empty())
                        .map(str::to_owned)
                };
                match person_from_fields(&field) {
                    Ok(person) => rows.push(ImportedPerson {
                        line,
                        person,
                        email: field("email"),
                    }),
                    Err(reason) => unreadable.push((line, reason)),
                }
            }
            Err(err) => {
                let line = err.position().map_or(0, |position| position.line());
                unreadable.push((line, format!("unreadable row: {err}")));
            }
        }
    }

    let mut store = Store::open(db)?;
    let source = file.display().to_string();
    let report = store.import_persons(&source, &operator(), &rows, unreadable)?;
    for (line, reason) in &report.rejected {
        eprintln!("line {line}: {reason}");
    }
    println!(
        "imported {} persons with their cardholders from {source}; {} lines rejected",
        report.imported,
        report.rejected.len()
    );
    Ok(())
}

/// The person in one CSV row, or why the row cannot be one.
fn person_from_fields(field: &dyn Fn(&str) -> Option<String>) -> Result<PersonFields, String> {
    let required = |name: &str| field(name).ok_or_else(|| format!("{name} is empty"));
    let birth_date = required("birthDate")?;
    let birth_date = Date::parse(&birth_date, format_description!("[year]-[month]-[day]"))
        .map_err(|_| format!("birthDate {birth_date:?} is not a date (YYYY-MM-DD)"))?;
    Ok(PersonFields {
        person_number: field("personNumber"),
        first_name: required("firstName")?,
        middle_name: field("middleName"),
        last_name: required("lastName")?,
        birth_date,
        phone_number: field("phoneNumber"),
        mobile_number: field("mobileNumber"),
        album_number: field("albumNumber"),
        pesel: field("pesel"),
    })
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
