//! The append-only audit log. Each row stores `hash = sha256(prev_hash ‖ content)`, where
//! content is the row's id and fields, each length-prefixed so no two rows encode alike.
//! Triggers refuse UPDATE and DELETE; `audit_verify` catches whoever drops them first.

use rusqlite::{Connection, OptionalExtension, Row};
use serde_json::Value;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::{Result, Store, StoreError, now};

/// The `prev_hash` of the first row.
const GENESIS: [u8; 32] = [0; 32];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub operator: String,
    pub action: String,
    pub subject: String,
    /// JSON text.
    pub details: String,
}

impl AuditEntry {
    /// Reads `id, at, operator, action, subject, details`, in that order.
    fn from_row(row: &Row) -> rusqlite::Result<Self> {
        Ok(AuditEntry {
            id: row.get(0)?,
            at: row.get(1)?,
            operator: row.get(2)?,
            action: row.get(3)?,
            subject: row.get(4)?,
            details: row.get(5)?,
        })
    }

    fn chained_hash(&self, prev_hash: &[u8; 32]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash);
        hasher.update(self.id.to_be_bytes());
        for field in [
            &self.at,
            &self.operator,
            &self.action,
            &self.subject,
            &self.details,
        ] {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field.as_bytes());
        }
        hasher.finalize().into()
    }
}

#[derive(Debug, Error)]
pub enum AuditError {
    /// The chain is broken at `row`: it was edited, or it is missing.
    #[error("audit row {row}: {what}")]
    Tampered { row: i64, what: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AuditError {
    fn from(err: rusqlite::Error) -> Self {
        AuditError::Store(err.into())
    }
}

/// Appends one row after the current head. Call inside the write transaction of the
/// change it records (IMMEDIATE, so no other writer can append between read and insert).
pub(super) fn append(
    conn: &Connection,
    operator: &str,
    action: &str,
    subject: &str,
    details: &Value,
) -> Result<i64> {
    // AUTOINCREMENT's counter, not max(id): ids are never reused, even after a deletion.
    let last_id: i64 = conn
        .prepare_cached("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'")?
        .query_row([], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    let prev_hash = match conn
        .prepare_cached("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")?
        .query_row([], |row| row.get::<_, String>(0))
        .optional()?
    {
        Some(hex_hash) => decode_hash(&hex_hash)
            .ok_or_else(|| StoreError::Invalid("the last audit row has a malformed hash".into()))?,
        None => GENESIS,
    };
    let entry = AuditEntry {
        id: last_id + 1,
        at: now(),
        operator: operator.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        details: details.to_string(),
    };
    let hash = entry.chained_hash(&prev_hash);
    conn.prepare_cached(
        "INSERT INTO audit_log (id, at, operator, action, subject, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute((
        entry.id,
        &entry.at,
        &entry.operator,
        &entry.action,
        &entry.subject,
        &entry.details,
        hex::encode(prev_hash),
        hex::encode(hash),
    ))?;
    Ok(entry.id)
}

fn decode_hash(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

impl Store {
    /// Records an operator action (`action` like `card.block`, `subject` like `card:42`).
    pub fn audit_append(
        &mut self,
        operator: &str,
        action: &str,
        subject: &str,
        details: &Value,
    ) -> Result<i64> {
        self.write(|tx| append(tx, operator, action, subject, details))
    }

    /// The newest `limit` entries whose operator, action or subject contains `filter`
    /// (case-insensitive; empty: all), newest first.
    pub fn audit_entries(&self, filter: &str, limit: usize) -> Result<Vec<AuditEntry>> {
        let pattern = format!(
            "%{}%",
            filter
                .trim()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let mut statement = self.conn.prepare_cached(
            "SELECT id, at, operator, action, subject, details FROM audit_log
             WHERE operator LIKE ?1 ESCAPE '\\' OR action LIKE ?1 ESCAPE '\\'
                OR subject LIKE ?1 ESCAPE '\\'
             ORDER BY id DESC LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement.query_map((pattern, limit), AuditEntry::from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Walks the whole chain; returns how many rows are intact, or the first broken row.
    pub fn audit_verify(&self) -> Result<usize, AuditError> {
        let mut statement = self.conn.prepare(
            "SELECT id, at, operator, action, subject, details, prev_hash, hash
             FROM audit_log ORDER BY id",
        )?;
        let mut rows = statement.query([])?;
        let mut prev_hash = GENESIS;
        let mut last_id = 0;
        let mut checked = 0;
        while let Some(row) = rows.next()? {
            let entry = AuditEntry::from_row(row)?;
            let tampered = |what: String| AuditError::Tampered {
                row: entry.id,
                what,
            };
            if entry.id != last_id + 1 {
                return Err(AuditError::Tampered {
                    row: last_id + 1,
                    what: format!("deleted (row {} follows row {last_id})", entry.id),
                });
            }
            let stored_prev: String = row.get(6)?;
            if decode_hash(&stored_prev) != Some(prev_hash) {
                return Err(tampered(format!(
                    "its prev_hash does not match row {last_id}"
                )));
            }
            let hash = entry.chained_hash(&prev_hash);
            let stored_hash: String = row.get(7)?;
            if decode_hash(&stored_hash) != Some(hash) {
                return Err(tampered(
                    "edited (its content does not match its hash)".into(),
                ));
            }
            prev_hash = hash;
            last_id = entry.id;
            checked += 1;
        }
        let highest_written: i64 = self
            .conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'",
                [],
                |row| row.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if highest_written > last_id {
            return Err(AuditError::Tampered {
                row: last_id + 1,
                what: format!(
                    "deleted (the log ends at row {last_id}, but row {highest_written} was written)"
                ),
            });
        }
        Ok(checked)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn store_with_rows(count: usize) -> Store {
        let mut store = Store::open_in_memory().unwrap();
        for n in 0..count {
            store
                .audit_append("anna", "card.block", &format!("card:{n}"), &json!({"n": n}))
                .unwrap();
        }
        store
    }

    fn tampered_row(store: &Store) -> i64 {
        match store.audit_verify() {
            Err(AuditError::Tampered { row, .. }) => row,
            other => panic!("expected tampering, got {other:?}"),
        }
    }

    #[test]
    fn an_intact_log_verifies() {
        assert_eq!(store_with_rows(0).audit_verify().unwrap(), 0);
        assert_eq!(store_with_rows(5).audit_verify().unwrap(), 5);
    }

    #[test]
    fn triggers_refuse_updates_and_deletes() {
        let store = store_with_rows(2);
        for sql in [
            "UPDATE audit_log SET operator = 'eve' WHERE id = 1",
            "DELETE FROM audit_log WHERE id = 2",
        ] {
            let err = StoreError::from(store.conn.execute(sql, []).unwrap_err());
            assert!(err.to_string().contains("append-only"), "{err}");
        }
        assert_eq!(store.audit_verify().unwrap(), 2);
    }

    #[test]
    fn an_edited_row_is_named() {
        let store = store_with_rows(4);
        store
            .conn
            .execute_batch(
                "DROP TRIGGER audit_log_no_update;
                 UPDATE audit_log SET details = '{\"n\":99}' WHERE id = 3;",
            )
            .unwrap();
        assert_eq!(tampered_row(&store), 3);
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
        let store = store_with_rows(4);
        let mut entry: AuditEntry = store
            .conn
            .query_row(
                "SELECT id, at, operator, action, subject, details FROM audit_log WHERE id = 2",
                [],
                AuditEntry::from_row,
            )
            .unwrap();
        let prev: String = store
            .conn
            .query_row("SELECT hash FROM audit_log WHERE id = 1", [], |row| {
                row.get(0)
            })
            .unwrap();
        entry.operator = "eve".into();
        let forged = hex::encode(entry.chained_hash(&decode_hash(&prev).unwrap()));
        store
            .conn
            .execute_batch("DROP TRIGGER audit_log_no_update")
            .unwrap();
        store
            .conn
            .execute(
                "UPDATE audit_log SET operator = 'eve', hash = ?1 WHERE id = 2",
                [forged],
            )
            .unwrap();
        assert_eq!(tampered_row(&store), 3);
    }

    #[test]
    fn deleted_rows_are_named_in_the_middle_and_at_the_end() {
        let store = store_with_rows(4);
        store
            .conn
            .execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 2;")
            .unwrap();
        assert_eq!(tampered_row(&store), 2);

        let store = store_with_rows(4);
        store
            .conn
            .execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE id = 4;")
            .unwrap();
        assert_eq!(tampered_row(&store), 4);
    }

    #[test]
    fn the_viewer_filters_by_operator_action_or_subject_newest_first() {
        let mut store = Store::open_in_memory().unwrap();
        store
            .audit_append("anna", "card.block", "card:1", &json!({}))
            .unwrap();
        store
            .audit_append("piotr", "print", "production:7", &json!({}))
            .unwrap();
        store
            .audit_append("anna", "card.els_write", "card:2", &json!({}))
            .unwrap();
        let anna: Vec<i64> = store
            .audit_entries("ANNA", 10)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(anna, [3, 1]);
        assert_eq!(
            store.audit_entries("production", 10).unwrap()[0].operator,
            "piotr"
        );
        assert_eq!(store.audit_entries("", 2).unwrap().len(), 2);
        assert!(
            store.audit_entries("%", 10).unwrap().is_empty(),
            "% is a literal"
        );
    }
}
