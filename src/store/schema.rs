//! Schema migrations (SQLite `user_version` counts the ones applied). Append new migrations;
//! never edit one that has shipped.

use std::path::Path;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations, SchemaVersion};

use super::{Result, StoreError};

const MIGRATION_LIST: &[M] = &[
    M::up(include_str!("migrations/0001_initial.sql")),
    M::up(include_str!("migrations/0002_operators.sql")),
    M::up(include_str!("migrations/0003_print.sql")),
    M::up(include_str!("migrations/0004_mobile_cards.sql")),
    M::up(include_str!("migrations/0005_deleted_remotely.sql")),
    M::up(include_str!("migrations/0006_cards_barcode.sql")),
    M::up(include_str!("migrations/0007_revocations.sql")),
    M::up(include_str!("migrations/0008_revocation_poll.sql")),
    M::up(include_str!("migrations/0009_conflicts.sql")),
    M::up(include_str!("migrations/0010_cards_desfire.sql")),
    M::up(include_str!("migrations/0011_trust_generation.sql")),
    M::up(include_str!("migrations/0012_usos_prolongations.sql")),
    M::up(include_str!("migrations/0013_outbox_attempted_at.sql")),
    M::up(include_str!("migrations/0014_card_holograms.sql")),
    M::up(include_str!("migrations/0015_production_outcomes.sql")),
    M::up(include_str!("migrations/0016_persons_import_keys.sql")),
    M::up(include_str!("migrations/0017_person_photos.sql")),
    M::up(include_str!(
        "migrations/0018_usos_prolongation_hologram.sql"
    )),
];
const MIGRATIONS: Migrations = Migrations::from_slice(MIGRATION_LIST);

/// Applies the migrations this binary has not yet applied. A store written by a newer
/// binary is refused untouched: this one would not know what its extra columns mean.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    if let SchemaVersion::Outside(found) = MIGRATIONS.current_version(conn)? {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found: found.get(),
            known: MIGRATION_LIST.len(),
        });
    }
    if let Err(err) = MIGRATIONS.to_latest(conn) {
        // Two processes opening one new store (a kiosk window and its `sync --watch`) both
        // read version 0 before either writes; the second's transaction then fails on tables
        // the first has just made. The store is fine if the other one finished the job.
        match MIGRATIONS.current_version(conn)? {
            SchemaVersion::Inside(version) if version.get() == MIGRATION_LIST.len() => {}
            _ => return Err(err.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Problem;
    use crate::store::Store;

    #[test]
    fn migrations_are_valid() {
        MIGRATIONS.validate().unwrap();
    }

    #[test]
    fn stations_opening_one_new_store_at_once_all_succeed() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("new-{round}.sqlite"));
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Store::open(&path).map(drop)
                    })
                })
                .collect();
            for opener in openers {
                opener.join().unwrap().expect("every opener gets the store");
            }
            let version: i64 = Connection::open(&path)
                .unwrap()
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .unwrap();
            assert_eq!(version, MIGRATION_LIST.len() as i64);
        }
    }

    #[test]
    fn a_store_from_a_newer_binary_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        drop(Store::open(&path).unwrap());
        let newer = MIGRATION_LIST.len() + 1;
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", newer as i64)
            .unwrap();

        let err = Store::open(&path).err().unwrap();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, known, .. } if found == newer && known == MIGRATION_LIST.len())
        );
        assert!(err.to_string().contains("newer than this program knows"));
        assert!(err.next_step().contains("newer Cardstation"));
        let version: i64 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, newer as i64);
    }
}
