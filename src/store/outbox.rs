//! Local mutations waiting for the server. Rows are written in the same transaction as the
//! change they describe and pushed in id order, so updates to one object keep their order.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use rusqlite::Connection;
use serde_json::Value;
use uuid::Uuid;

use super::{Result, Store, StoreError, now};

text_enum! {
    /// A CardExchange resource (the path segment of its endpoint, `-` as `_`).
    pub enum Resource {
        Persons = "persons",
        Addresses = "addresses",
        Cardholders = "cardholders",
        Cards = "cards",
        Productions = "productions",
        AnonymousSets = "anonymous_sets",
    }
}

text_enum! {
    pub enum Operation {
        Create = "create",
        Update = "update",
        Delete = "delete",
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub resource: Resource,
    pub local_id: i64,
    pub operation: Operation,
    /// CardExchange field names; references to local rows as `<field>LocalId`.
    pub payload: Value,
    pub operation_id: String,
    pub created_at: String,
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// Queues `operation` on a local object. A create's payload gets the operation id in
/// `metadata.operationId`: after a crash the sync searches for it before creating again.
pub(super) fn enqueue(
    conn: &Connection,
    resource: Resource,
    local_id: i64,
    operation: Operation,
    mut payload: Value,
) -> Result<String> {
    let operation_id = Uuid::new_v4().to_string();
    if operation == Operation::Create
        && let Value::Object(fields) = &mut payload
        && let Value::Object(metadata) = fields
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()))
    {
        metadata.insert("operationId".into(), operation_id.clone().into());
    }
    conn.prepare_cached(
        "INSERT INTO outbox (resource, local_id, operation, payload, operation_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute((
        resource,
        local_id,
        operation,
        payload.to_string(),
        &operation_id,
        now(),
    ))?;
    Ok(operation_id)
}

/// Held while one sync pushes this store's outbox: two pushers at once (a `sync --once`
/// beside a window's background sync, or a wrapper's child left running after the wrapper
/// was killed) would both send a create neither has recorded, and the server would make it
/// twice. An advisory lock on `<store>-push.lock`, so the kernel drops it with a killed
/// process; released when dropped.
#[derive(Debug)]
pub struct PushLock {
    _file: Option<File>,
}

impl Store {
    /// Takes the push lock, or `None` while another connection holds it. A store in memory
    /// has no other connection and always gets it.
    pub fn try_lock_push(&self) -> Result<Option<PushLock>> {
        let Some(path) = self.conn.path().filter(|path| !path.is_empty()) else {
            return Ok(Some(PushLock { _file: None }));
        };
        let path = PathBuf::from(format!("{path}-push.lock"));
        let cannot_open = |source: std::io::Error| StoreError::CannotOpen {
            path: path.clone(),
            source: source.into(),
        };
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(cannot_open)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(PushLock { _file: Some(file) })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(err)) => Err(cannot_open(err)),
        }
    }

    /// The oldest `limit` pending mutations, in push order.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        self.outbox_pending_after(0, limit)
    }

    /// The next `limit` pending mutations after outbox row `after_id`, in push order: the
    /// push walks past rows the server refused, which stay queued.
    pub fn outbox_pending_after(&self, after_id: i64, limit: usize) -> Result<Vec<OutboxEntry>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id, resource, local_id, operation, payload, operation_id, created_at,
                    attempts, last_error
             FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement.query_map([after_id, limit], |row| {
            let payload: String = row.get(4)?;
            Ok(OutboxEntry {
                id: row.get(0)?,
                resource: row.get(1)?,
                local_id: row.get(2)?,
                operation: row.get(3)?,
                payload: serde_json::from_str(&payload).unwrap_or(Value::String(payload)),
                operation_id: row.get(5)?,
                created_at: row.get(6)?,
                attempts: row.get(7)?,
                last_error: row.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_create_carries_its_operation_id_in_metadata() {
        let store = Store::open_in_memory().unwrap();
        let id = enqueue(
            &store.conn,
            Resource::Persons,
            7,
            Operation::Create,
            json!({"firstName": "Anna", "metadata": {"pesel": "1"}}),
        )
        .unwrap();
        enqueue(
            &store.conn,
            Resource::Persons,
            7,
            Operation::Update,
            json!({"firstName": "Anna"}),
        )
        .unwrap();

        let pending = store.outbox_pending(10).unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].operation, Operation::Create);
        assert_eq!(pending[0].payload["metadata"]["operationId"], json!(id));
        assert_eq!(pending[0].payload["metadata"]["pesel"], json!("1"));
        assert_eq!(pending[1].operation, Operation::Update);
        assert_eq!(pending[1].payload.get("metadata"), None);
        assert_ne!(pending[1].operation_id, id);
        assert_eq!(pending[0].local_id, 7);
    }

    #[test]
    fn text_enums_round_trip_and_reject_unknown_spellings() {
        for resource in Resource::ALL {
            assert_eq!(resource.as_str().parse::<Resource>().unwrap(), *resource);
        }
        let err = "people".parse::<Resource>().unwrap_err();
        assert!(err.to_string().contains("persons, addresses"), "{err}");
    }
}
