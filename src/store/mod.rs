//! The local SQLite store: persons, cardholders, cards, productions, trusted issuers, the
//! validations log, the hash-chained audit log, the outbox of pending server mutations and
//! the sync cursors.
//!
//! One file, WAL, foreign keys on, migrations run on open. `Store` is plain synchronous
//! rusqlite: call it from a worker thread or `spawn_blocking`, never from the UI thread.
//! Every local mutation writes its outbox row (and, for card changes, its audit row) in the
//! same transaction, so a crash can never leave a change the sync does not know about.

mod error;
mod schema;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use error::StoreError;

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
    pub outbox_pending: i64,
    /// Most recent successful sync of any resource (RFC 3339), `None` if never synced.
    pub last_sync: Option<String>,
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
        let conn = Connection::open(path).map_err(|source| StoreError::CannotOpen {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        Self::prepare(conn, path)
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

    pub fn status(&self) -> Result<StoreStatus> {
        let status = self.conn.query_row(
            "SELECT (SELECT count(*) FROM persons), (SELECT count(*) FROM cardholders),
                    (SELECT count(*) FROM cards), (SELECT count(*) FROM productions),
                    (SELECT count(*) FROM outbox), (SELECT max(last_sync_at) FROM sync_state)",
            [],
            |row| {
                Ok(StoreStatus {
                    persons: row.get(0)?,
                    cardholders: row.get(1)?,
                    cards: row.get(2)?,
                    productions: row.get(3)?,
                    outbox_pending: row.get(4)?,
                    last_sync: row.get(5)?,
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


#[cfg(test)]
mod tests {
    use super::*;

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
}
