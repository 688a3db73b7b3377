//! The local SQLite store: persons, cardholders, cards, productions, trusted issuers, the
//! validations log, the hash-chained audit log, the outbox of pending server mutations and
//! the sync cursors.
//!
//! One file, WAL, foreign keys on, migrations run on open. `Store` is plain synchronous
//! rusqlite: call it from a worker thread or `spawn_blocking`, never from the UI thread.
//! Every local mutation writes its outbox row (and, for card changes, its audit row) in the
//! same transaction, so a crash can never leave a change the sync does not know about.

/// An enumeration stored as its server spelling (`TEXT` column, JSON string).
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::store::StoreError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::store::StoreError::Invalid(format!(
                        "{text:?} is not one of: {}",
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|err| rusqlite::types::FromSqlError::Other(Box::new(err)))
            }
        }
    };
}

mod audit;
mod cards;
mod error;
mod kiosk;
mod mobile;
mod operators;
mod outbox;
mod people;
pub mod photo_check;
mod photos;
mod print;
mod replica;
mod schema;
pub mod search;
pub mod trust;
mod usos;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use audit::{AuditEntry, AuditError};
pub use cards::{Card, CardStatus, CardType, NewCard, UidKind};
pub use error::StoreError;
pub use kiosk::{NewCrl, NewRevocation, Revocation, StoredCrl, TrustedIssuer, Verdict};
pub use mobile::MobileCard;
pub use operators::{
    LOCK_OUT, MAX_FAILED_ATTEMPTS, Operator, OperatorRole, SignInError, check_pin_format,
};
pub use outbox::{Operation, OutboxEntry, PushLock, Resource};
pub use people::{
    Cardholder, CardholderFields, CardholderStatus, ImportRefusal, ImportReport, ImportedPerson,
    Person, PersonFields,
};
pub use photos::summary as photo_summary;
pub use print::{
    Batch, HologramRefused, HologramStock, Printed, Production, ProductionStatus, QueueFilter,
    ranges,
};
pub use replica::{
    CONFLICT_SERVER_WINS, CONFLICT_STATION_STATUS_KEPT, Conflict, Marked, Upserted,
    production_update,
};
pub use usos::{ProlongationState, UsosProlongation};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How long a writer waits for another process (the sync, a second window) to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Open connection to the store. `Send`, not `Sync`: one per worker thread.
pub struct Store {
    conn: Connection,
}

/// Counts for `cardstation status` and the status bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreStatus {
    pub persons: i64,
    pub cardholders: i64,
    pub cards: i64,
    pub productions: i64,
    pub addresses: i64,
    pub anonymous_sets: i64,
    /// Rows of any resource the server no longer lists (kept, marked; see `replica`).
    pub deleted_remotely: i64,
    pub outbox_pending: i64,
    /// Most recent successful sync of any resource (RFC 3339), `None` if never synced.
    pub last_sync: Option<String>,
    /// Most recent complete revocation poll (RFC 3339), `None` if the fast path never ran.
    pub last_revocation_poll: Option<String>,
    /// Conflicts the sync resolved and kept (`Store::conflicts` lists them).
    pub conflicts: i64,
}

/// The sync state alone, for the status bar's refresh every few seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncSummary {
    /// Most recent successful sync of any resource (RFC 3339), `None` if never synced.
    pub last_sync: Option<String>,
    /// Local changes waiting to be pushed.
    pub outbox_pending: i64,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CannotOpen {
                path: path.to_owned(),
                source: source.into(),
            })?;
        }
        // Switching a brand-new file to WAL needs it to itself, and SQLite answers a second
        // opener busy at once there rather than waiting (a kiosk window and its
        // `sync --watch` started together); that opener tries again shortly.
        // Only a file still empty can be in that race; a store with data, held locked by
        // another process, reports `Locked` after one busy timeout, as before.
        let new_file = std::fs::metadata(path).map_or(true, |file| file.len() == 0);
        let mut attempt = 0;
        loop {
            let conn = Connection::open(path).map_err(|source| StoreError::CannotOpen {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
            match Self::prepare(conn, path) {
                Err(StoreError::Locked) if new_file && attempt < 20 => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(25 * attempt));
                }
                done => return done,
            }
        }
    }

    /// A private store in memory, for tests and demos.
    pub fn open_in_memory() -> Result<Self> {
        Self::prepare(Connection::open_in_memory()?, Path::new(":memory:"))
    }

    fn prepare(mut conn: Connection, path: &Path) -> Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Writers take the lock at BEGIN, so two processes never both read the audit chain
        // head and then fork it, and a busy database waits instead of failing mid-way.
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut conn, path)?;
        Ok(Self { conn })
    }

    /// Runs `change` in one write transaction and commits it: its outbox and audit rows
    /// land together with it or not at all. Inside [`Store::atomically`] it is a savepoint
    /// of that transaction instead, committed only with the whole.
    fn write<T>(&mut self, change: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if !self.conn.is_autocommit() {
            let savepoint = self.conn.savepoint()?;
            let value = change(&savepoint)?;
            savepoint.commit()?;
            return Ok(value);
        }
        let tx = self.conn.transaction()?;
        let value = change(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs several store changes as one transaction: all of them land, or (on an error, or
    /// a panic) none. For workflows whose steps are separate store calls, such as a desk
    /// issuance recording the new card, retiring the old one and auditing both.
    pub fn atomically<T, E: From<StoreError>>(
        &mut self,
        changes: impl FnOnce(&mut Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(StoreError::from)?;
        // A panic in `changes` must not leave the transaction open on this connection.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| changes(self)));
        let rollback = |store: &Store| {
            if let Err(err) = store.conn.execute_batch("ROLLBACK") {
                tracing::warn!(%err, "rolling back a failed store change failed");
            }
        };
        match outcome {
            Ok(Ok(value)) => match self.conn.execute_batch("COMMIT") {
                Ok(()) => Ok(value),
                Err(err) => {
                    rollback(self);
                    Err(StoreError::from(err).into())
                }
            },
            Ok(Err(err)) => {
                rollback(self);
                Err(err)
            }
            Err(panic) => {
                rollback(self);
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// When the last successful sync of any resource finished (RFC 3339), `None` if never:
    /// one indexed row read, cheap enough for the kiosk's every tap (unlike `status`, which
    /// counts whole tables).
    pub fn last_sync(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT max(last_sync_at) FROM sync_state")?
            .query_row([], |row| row.get(0))?)
    }

    /// How many local changes wait in the outbox. Pushed rows are deleted, so this walks the
    /// outbox's smallest index over the pending rows alone, never the register's tables.
    pub fn outbox_len(&self) -> Result<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM outbox")?
            .query_row([], |row| row.get(0))?)
    }

    /// Last sync and outbox length in one read: what the status bar shows, without the
    /// whole-table counts of [`Store::status`].
    pub fn sync_summary(&self) -> Result<SyncSummary> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT (SELECT max(last_sync_at) FROM sync_state), (SELECT count(*) FROM outbox)",
            )?
            .query_row([], |row| {
                Ok(SyncSummary {
                    last_sync: row.get(0)?,
                    outbox_pending: row.get(1)?,
                })
            })?)
    }

    pub fn status(&self) -> Result<StoreStatus> {
        let status = self.conn.query_row(
            "SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM cardholders),
                    (SELECT count(*) FROM cards), (SELECT count(*) FROM productions),
                    (SELECT count(*) FROM outbox), (SELECT max(last_sync_at) FROM sync_state),
                    (SELECT count(*) FROM addresses), (SELECT count(*) FROM anonymous_sets),
                    (SELECT (SELECT count(*) FROM persons WHERE deleted_remotely_at IS NOT NULL)
                          + (SELECT count(*) FROM addresses WHERE deleted_remotely_at IS NOT NULL)
                          + (SELECT count(*) FROM anonymous_sets WHERE deleted_remotely_at IS NOT NULL)
                          + (SELECT count(*) FROM cardholders WHERE deleted_remotely_at IS NOT NULL)
                          + (SELECT count(*) FROM cards WHERE deleted_remotely_at IS NOT NULL)
                          + (SELECT count(*) FROM productions WHERE deleted_remotely_at IS NOT NULL)),
                    (SELECT polled_at FROM revocation_poll), (SELECT count(*) FROM conflicts)",
            [],
            |row| {
                Ok(StoreStatus {
                    persons: row.get(0)?,
                    cardholders: row.get(1)?,
                    cards: row.get(2)?,
                    productions: row.get(3)?,
                    addresses: row.get(6)?,
                    anonymous_sets: row.get(7)?,
                    deleted_remotely: row.get(8)?,
                    outbox_pending: row.get(4)?,
                    last_sync: row.get(5)?,
                    last_revocation_poll: row.get(9)?,
                    conflicts: row.get(10)?,
                })
            },
        )?;
        Ok(status)
    }
}

/// The current time as stored everywhere in the database: RFC 3339, UTC.
fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// The row, or `NotFound` naming what was looked for.
fn found<T>(row: rusqlite::Result<T>, what: &'static str, id: i64) -> Result<T> {
    row.optional()?.ok_or(StoreError::NotFound { what, id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_changes_land_together_or_not_at_all() {
        let mut store = Store::open_in_memory().unwrap();
        let person = crate::store::people::tests::person("Anna", "Kowalska");
        let failed: std::result::Result<(), StoreError> = store.atomically(|store| {
            store.create_person(&person)?;
            store.audit_append("anna", "test.step", "person:1", &serde_json::json!({}))?;
            Err(StoreError::Invalid("the second step failed".into()))
        });
        assert!(failed.is_err());
        let status = store.status().unwrap();
        assert_eq!((status.persons, status.outbox_pending), (0, 0));
        assert_eq!(store.audit_verify().unwrap(), 0);

        let landed: std::result::Result<i64, StoreError> = store.atomically(|store| {
            let id = store.create_person(&person)?;
            store.audit_append(
                "anna",
                "test.step",
                &format!("person:{id}"),
                &serde_json::json!({}),
            )?;
            Ok(id)
        });
        landed.unwrap();
        assert_eq!(store.status().unwrap().persons, 1);
        assert_eq!(store.audit_verify().unwrap(), 1, "the step, chained");

        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: std::result::Result<(), StoreError> = store.atomically(|store| {
                store.create_person(&person)?;
                panic!("a bug mid-way");
            });
        }));
        assert!(panicked.is_err());
        assert_eq!(store.status().unwrap().persons, 1, "rolled back");
        store.create_person(&person).unwrap();
        assert_eq!(
            store.status().unwrap().persons,
            2,
            "the connection is usable again"
        );
    }

    #[test]
    fn a_new_store_is_empty_and_uses_wal_with_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sub/store.sqlite")).unwrap();
        let status = store.status().unwrap();
        assert_eq!(status.persons, 0);
        assert_eq!(status.outbox_pending, 0);
        assert_eq!(status.last_sync, None);
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let foreign_keys: bool = store
            .conn
            .pragma_query_value(None, "foreign_keys", |row| row.get(0))
            .unwrap();
        assert!(foreign_keys);
    }

    #[test]
    fn reopening_keeps_the_data_and_does_not_migrate_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        Store::open(&path)
            .unwrap()
            .audit_append("op", "test", "x", &serde_json::json!({}))
            .unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(store.audit_verify().unwrap(), 1);
    }
}
