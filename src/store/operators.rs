//! Station operators: names, roles and Argon2id PIN hashes, with a lock-out after repeated
//! failures. Every sign-in, failed or not, lands in the audit log; the PIN never does.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::LazyLock;

use argon2::Argon2;
use rusqlite::OptionalExtension;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::{Result, Store, StoreError, audit, now};
use crate::error::Problem;

text_enum! {
    /// What a signed-in person may do (the workflows check it, not only the screens).
    pub enum OperatorRole {
        /// Desk work: issue, prolong, block and unblock cards.
        Operator = "operator",
        /// Print station work: run print batches.
        Printer = "printer",
        /// Everything, and managing operators and trusted issuers.
        Admin = "admin",
    }
}

/// Failed PINs in a row before the name is locked.
pub const MAX_FAILED_ATTEMPTS: u32 = 5;
/// How long a locked name stays locked.
pub const LOCK_OUT: Duration = Duration::minutes(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub role: OperatorRole,
    pub failed_attempts: u32,
    pub locked_until: Option<OffsetDateTime>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignInError {
    /// Unknown names and wrong PINs read the same, so the screen does not confirm names.
    #[error(
        "unknown operator or wrong PIN ({MAX_FAILED_ATTEMPTS} wrong PINs in a row lock the name for a while)"
    )]
    Refused,
    #[error("this operator is locked after {MAX_FAILED_ATTEMPTS} wrong PINs until {until} UTC")]
    LockedOut { until: String },
    #[error("{0}")]
    Store(String),
}

impl Problem for SignInError {
    fn next_step(&self) -> &'static str {
        match self {
            SignInError::Refused => "check the name and type the PIN again",
            SignInError::LockedOut { .. } => {
                "wait until the lock-out ends, or ask an administrator to set a new PIN"
            }
            SignInError::Store(_) => "check the store (see the log), then sign in again",
        }
    }
}

impl From<StoreError> for SignInError {
    fn from(err: StoreError) -> Self {
        SignInError::Store(err.to_string())
    }
}

/// A PIN is 4 to 12 digits: typed on a kiosk keypad as well as a keyboard.
pub fn check_pin_format(pin: &str) -> Result<()> {
    if (4..=12).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::Invalid("a PIN is 4 to 12 digits".to_owned()))
    }
}

fn hash_pin(pin: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| StoreError::Invalid(format!("the PIN cannot be hashed: {err}")))
}

fn pin_matches(pin: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(pin.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

fn parse_time(text: Option<String>) -> Option<OffsetDateTime> {
    text.and_then(|text| OffsetDateTime::parse(&text, &Rfc3339).ok())
}

fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

impl Store {
    /// Adds an operator, or sets a new role and PIN for an existing name (which also lifts a
    /// lock-out). `by` is who did it, for the audit log.
    pub fn set_operator(
        &mut self,
        name: &str,
        role: OperatorRole,
        pin: &str,
        by: &str,
    ) -> Result<()> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(StoreError::Invalid(
                "an operator name is 1 to 64 characters".to_owned(),
            ));
        }
        check_pin_format(pin)?;
        let pin_hash = hash_pin(pin)?;
        self.write(|tx| {
            let at = now();
            tx.execute(
                "INSERT INTO operators (name, role, pin_hash, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (name) DO UPDATE SET role = ?2, pin_hash = ?3, failed_attempts = 0,
                     locked_until = NULL, updated_at = ?4",
                (name, role, &pin_hash, &at),
            )?;
            audit::append(
                tx,
                by,
                "operator.set",
                &format!("operator:{name}"),
                &json!({ "role": role.as_str() }),
            )?;
            Ok(())
        })
    }

    pub fn operators(&self) -> Result<Vec<Operator>> {
        let mut statement = self.conn.prepare(
            "SELECT name, role, failed_attempts, locked_until FROM operators ORDER BY name",
        )?;
        let rows = statement.query_map([], |row| {
            Ok(Operator {
                name: row.get(0)?,
                role: row.get(1)?,
                failed_attempts: row.get(2)?,
                locked_until: parse_time(row.get(3)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Checks a name and PIN at `at`. Success resets the failure count; the
    /// [`MAX_FAILED_ATTEMPTS`]th failure in a row locks the name for [`LOCK_OUT`].
    pub fn sign_in(
        &mut self,
        name: &str,
        pin: &str,
        at: OffsetDateTime,
    ) -> Result<Operator, SignInError> {
        let name = name.trim();
        let row = self
            .conn
            .query_row(
                "SELECT role, pin_hash, failed_attempts, locked_until FROM operators WHERE name = ?1",
                [name],
                |row| {
                    Ok((
                        row.get::<_, OperatorRole>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, u32>(2)?,
                        parse_time(row.get(3)?),
                    ))
                },
            )
            .optional()
            .map_err(StoreError::from)?;
        let Some((role, pin_hash, failed, locked_until)) = row else {
            // Same work as a real check, so the time taken does not tell which names exist.
            let _ = pin_matches(pin, &DUMMY_HASH);
            self.audit_append(
                name,
                "operator.sign_in_refused",
                &format!("operator:{name}"),
                &json!({ "reason": "unknown" }),
            )?;
            return Err(SignInError::Refused);
        };
        if let Some(until) = locked_until.filter(|until| *until > at) {
            self.audit_append(
                name,
                "operator.sign_in_refused",
                &format!("operator:{name}"),
                &json!({ "reason": "locked out" }),
            )?;
            return Err(SignInError::LockedOut {
                until: format_time(until),
            });
        }
        if pin_matches(pin, &pin_hash) {
            self.write(|tx| {
                tx.execute(
                    "UPDATE operators SET failed_attempts = 0, locked_until = NULL WHERE name = ?1",
                    [name],
                )?;
                audit::append(
                    tx,
                    name,
                    "operator.sign_in",
                    &format!("operator:{name}"),
                    &json!({ "role": role.as_str() }),
                )?;
                Ok(())
            })?;
            return Ok(Operator {
                name: name.to_owned(),
                role,
                failed_attempts: 0,
                locked_until: None,
            });
        }
        let failed = failed + 1;
        let lock = (failed >= MAX_FAILED_ATTEMPTS).then(|| at + LOCK_OUT);
        self.write(|tx| {
            tx.execute(
                "UPDATE operators SET failed_attempts = ?2, locked_until = ?3 WHERE name = ?1",
                (name, if lock.is_some() { 0 } else { failed }, lock.map(format_time)),
            )?;
            audit::append(
                tx,
                name,
                "operator.sign_in_refused",
                &format!("operator:{name}"),
                &json!({ "reason": "wrong PIN", "failed_attempts": failed, "locked": lock.is_some() }),
            )?;
            Ok(())
        })?;
        match lock {
            Some(until) => Err(SignInError::LockedOut {
                until: format_time(until),
            }),
            None => Err(SignInError::Refused),
        }
    }
}

/// An Argon2id hash of a random PIN, checked against for unknown names.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_pin(&format!(
        "{:012}",
        rand::random::<u64>() % 1_000_000_000_000
    ))
    .unwrap_or_default()
});

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with_anna() -> Store {
        let mut store = Store::open_in_memory().unwrap();
        store
            .set_operator("anna", OperatorRole::Operator, "4711", "admin")
            .unwrap();
        store
    }

    #[test]
    fn the_right_pin_signs_in_and_the_pin_is_stored_only_as_an_argon2id_hash() {
        let mut store = store_with_anna();
        let anna = store
            .sign_in("anna", "4711", OffsetDateTime::now_utc())
            .unwrap();
        assert_eq!(anna.role, OperatorRole::Operator);
        let stored: String = store
            .conn
            .query_row("SELECT pin_hash FROM operators", [], |row| row.get(0))
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("4711"));
        let audit: String = store
            .conn
            .query_row("SELECT group_concat(details) FROM audit_log", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert!(!audit.contains("4711"), "{audit}");
    }

    #[test]
    fn unknown_names_and_wrong_pins_are_refused_alike() {
        let mut store = store_with_anna();
        let now = OffsetDateTime::now_utc();
        // The same answer, word for word, so the screen does not confirm which names exist.
        let wrong_pin = store.sign_in("anna", "0000", now).unwrap_err().to_string();
        let unknown = store
            .sign_in("nobody", "4711", now)
            .unwrap_err()
            .to_string();
        assert_eq!(wrong_pin, unknown);
    }

    #[test]
    fn five_wrong_pins_lock_the_name_even_for_the_right_pin_until_the_lock_ends() {
        let mut store = store_with_anna();
        let start = OffsetDateTime::now_utc();
        for _ in 1..MAX_FAILED_ATTEMPTS {
            assert_eq!(
                store.sign_in("anna", "0000", start),
                Err(SignInError::Refused)
            );
        }
        assert!(matches!(
            store.sign_in("anna", "0000", start),
            Err(SignInError::LockedOut { .. })
        ));
        assert!(matches!(
            store.sign_in("anna", "4711", start + Duration::minutes(4)),
            Err(SignInError::LockedOut { .. })
        ));
        assert!(
            store
                .sign_in("anna", "4711", start + LOCK_OUT + Duration::seconds(1))
                .is_ok()
        );
        // The lock-out was recorded, with the operator and without the PIN.
        let refused: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'operator.sign_in_refused' AND operator = 'anna'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(refused, 6);
        assert_eq!(store.audit_verify().unwrap(), 8);
    }

    #[test]
    fn a_success_resets_the_count_of_failures() {
        let mut store = store_with_anna();
        let now = OffsetDateTime::now_utc();
        for _ in 0..MAX_FAILED_ATTEMPTS - 1 {
            store.sign_in("anna", "0000", now).unwrap_err();
        }
        store.sign_in("anna", "4711", now).unwrap();
        assert_eq!(
            store.sign_in("anna", "0000", now),
            Err(SignInError::Refused)
        );
    }

    #[test]
    fn pins_must_be_4_to_12_digits() {
        let mut store = Store::open_in_memory().unwrap();
        for bad in ["123", "12a4", "1234567890123", ""] {
            assert!(
                store
                    .set_operator("x", OperatorRole::Admin, bad, "t")
                    .is_err(),
                "{bad}"
            );
        }
        assert!(store.operators().unwrap().is_empty());
    }

    #[test]
    fn the_dummy_hash_parses_so_unknown_names_cost_a_real_check() {
        assert!(PasswordHash::new(&DUMMY_HASH).is_ok());
    }
}
