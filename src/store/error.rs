//! What can go wrong with the store, in terms an operator can act on.

use std::path::PathBuf;

use crate::error::Problem;
use rusqlite::ErrorCode;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the store {}: {source}", path.display())]
    CannotOpen {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "the store {} has schema version {found}, newer than this program knows ({known})",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error("the disk holding the store is full")]
    DiskFull,
    #[error("the store is read-only")]
    ReadOnly,
    #[error("the store is locked by another process")]
    Locked,
    #[error("the store file is damaged or not a Cardstation database")]
    Corrupt,
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: i64 },
    /// A uniqueness or reference rule refused the change (duplicate UID, unknown cardholder...).
    #[error("refused by the store: {0}")]
    Constraint(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the batch needs {needed} hologram stickers but the stock has {free} free")]
    HologramsShort { needed: usize, free: usize },
    /// A sticker taken elsewhere between its check and the transaction that takes it.
    #[error("{0}: nothing was written")]
    Sticker(super::print::HologramRefused),
    #[error("store error: {0}")]
    Sqlite(rusqlite::Error),
}

impl Problem for StoreError {
    fn next_step(&self) -> &'static str {
        match self {
            StoreError::CannotOpen { .. } => {
                "check that the directory exists and is writable, or pass another file with --db"
            }
            StoreError::SchemaTooNew { .. } => {
                "install the newer Cardstation that wrote this store, or use another file with --db"
            }
            StoreError::DiskFull => {
                "free disk space, then repeat the operation (nothing was saved)"
            }
            StoreError::ReadOnly => {
                "make the store file and its directory writable by this user (nothing was saved)"
            }
            StoreError::Locked => {
                "another Cardstation (or the sync) holds the store: wait for it, then repeat"
            }
            StoreError::Corrupt => {
                "restore the store from a backup, or move it away and sync again from the server"
            }
            StoreError::NotFound { .. } => "check the id (it may have been removed by a sync)",
            StoreError::Constraint(_) => "check the input against the existing records",
            StoreError::Sticker(refused) => refused.next_step(),
            StoreError::Invalid(_) => "correct the input and repeat",
            StoreError::HologramsShort { .. } => {
                "add the numbers of the new sticker rolls (cardstation holograms add FIRST LAST), then start the batch again"
            }
            StoreError::Sqlite(_) => "repeat the operation; if it keeps failing, report it",
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => StoreError::DiskFull,
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked,
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt,
            Some(ErrorCode::ConstraintViolation) => StoreError::Constraint(match &err {
                rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
                _ => err.to_string(),
            }),
            _ => StoreError::Sqlite(err),
        }
    }
}

impl From<rusqlite_migration::Error> for StoreError {
    fn from(err: rusqlite_migration::Error) -> Self {
        match err {
            rusqlite_migration::Error::RusqliteError { err, .. } => err.into(),
            other => StoreError::Invalid(format!("schema migration failed: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::Store;

    fn write_marker(store: &Store) -> Result<(), StoreError> {
        store.conn.execute(
            "INSERT INTO sync_state (resource) VALUES (hex(randomblob(8)))",
            [],
        )?;
        Ok(())
    }

    #[test]
    fn a_full_disk_is_a_typed_error() {
        let store = Store::open_in_memory().unwrap();
        let pages: i64 = store
            .conn
            .pragma_query_value(None, "page_count", |row| row.get(0))
            .unwrap();
        store
            .conn
            .pragma_update(None, "max_page_count", pages)
            .unwrap();
        let err = (0..10_000)
            .find_map(|_| write_marker(&store).err())
            .unwrap();
        assert!(matches!(err, StoreError::DiskFull), "{err:?}");
        assert!(err.next_step().contains("free disk space"));
    }

    #[test]
    fn a_read_only_store_is_a_typed_error() {
        let store = Store::open_in_memory().unwrap();
        store.conn.pragma_update(None, "query_only", true).unwrap();
        let err = write_marker(&store).unwrap_err();
        assert!(matches!(err, StoreError::ReadOnly), "{err:?}");
    }

    #[test]
    fn a_store_locked_by_another_process_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut holder = Store::open(&path).unwrap();
        let waiter = Store::open(&path).unwrap();
        waiter.conn.busy_timeout(Duration::from_millis(20)).unwrap();
        let _lock = holder.conn.transaction().unwrap(); // IMMEDIATE: takes the write lock
        let err = write_marker(&waiter).unwrap_err();
        assert!(matches!(err, StoreError::Locked), "{err:?}");
    }
}
