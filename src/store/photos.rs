//! Holder photos (README "Photos"): one per person, in `person_photos` beside the person's
//! row. A photo set at the desk is audited (its size and hash, never its bytes) and queued
//! as a person update carrying `photo` in base64, as the CardExchange API takes it; one from
//! the server is stored by the pull (src/store/replica.rs) without either.

use rusqlite::{Connection, OptionalExtension};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::outbox::{self, Operation, Resource};
use super::photo_check as portrait;
use super::{Result, Store, StoreError, audit, now};

fn sha256_hex(image: &[u8]) -> String {
    hex::encode(Sha256::digest(image))
}

/// Keeps `image` as the person's photo; `false` when it is the one already kept.
pub(super) fn keep(conn: &Connection, person_id: i64, image: &[u8]) -> Result<bool> {
    let sha256 = sha256_hex(image);
    let changed = conn
        .prepare_cached(
            "INSERT INTO person_photos (person_id, image, sha256, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (person_id) DO UPDATE SET
                image = excluded.image, sha256 = excluded.sha256, updated_at = excluded.updated_at
             WHERE sha256 IS NOT excluded.sha256",
        )?
        .execute((person_id, image, &sha256, now()))?;
    Ok(changed > 0)
}

/// What a conflict or a log keeps of a photo value: its length, never its bytes.
pub fn summary(value: &Value) -> Value {
    match value {
        Value::String(text) => json!(format!("(photo, {} base64 characters)", text.len())),
        other => other.clone(),
    }
}

impl Store {
    /// Sets the person's photo as `operator` (a JPEG or PNG that passes
    /// [`portrait::check_stored`]), with its audit row and the outbox row that takes it to
    /// the server, in one transaction.
    pub fn set_person_photo(&mut self, person_id: i64, image: &[u8], operator: &str) -> Result<()> {
        let (width, height) =
            portrait::check_stored(image).map_err(|err| StoreError::Invalid(err.to_string()))?;
        self.write(|tx| {
            let person = super::people::load_person(tx, person_id)?;
            if !keep(tx, person_id, image)? {
                return Ok(());
            }
            let details = json!({
                "bytes": image.len(),
                "width": width,
                "height": height,
                "sha256": sha256_hex(image),
            });
            audit::append(
                tx,
                operator,
                "person.photo",
                &format!("person:{person_id}"),
                &details,
            )?;
            // The API's update takes the required fields with the photo.
            let mut payload = person.fields.payload();
            if let Value::Object(fields) = &mut payload {
                fields.insert("photo".into(), portrait::to_base64(image).into());
            }
            outbox::enqueue(tx, Resource::Persons, person_id, Operation::Update, payload)?;
            Ok(())
        })
    }

    /// The person's stored photo (JPEG or PNG bytes), if any.
    pub fn person_photo(&self, person_id: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT image FROM person_photos WHERE person_id = ?1")?
            .query_row([person_id], |row| row.get(0))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::people::tests::person;
    use crate::store::photo_check::tests::picture;

    #[test]
    fn a_photo_is_kept_audited_without_its_bytes_and_queued_for_the_server() {
        let mut store = Store::open_in_memory().unwrap();
        let id = store.create_person(&person("Anna", "Kowalska")).unwrap();
        assert_eq!(store.person_photo(id).unwrap(), None);
        let jpeg = picture(300, 382, image::ImageFormat::Jpeg);
        let queued = store.outbox_pending(100).unwrap().len();
        store.set_person_photo(id, &jpeg, "anna").unwrap();
        assert_eq!(store.person_photo(id).unwrap().as_deref(), Some(&jpeg[..]));

        let pending = store.outbox_pending(100).unwrap();
        assert_eq!(pending.len(), queued + 1);
        let update = pending.last().unwrap();
        assert_eq!(
            (update.resource, update.operation, update.local_id),
            (Resource::Persons, Operation::Update, id)
        );
        assert_eq!(update.payload["firstName"], "Anna");
        let sent = portrait::from_base64(update.payload["photo"].as_str().unwrap()).unwrap();
        assert_eq!(sent, jpeg);

        let audit = store.audit_entries("person.photo", 10).unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].operator, "anna");
        let details: Value = serde_json::from_str(&audit[0].details).unwrap();
        assert_eq!(details["bytes"], jpeg.len());
        assert_eq!(details["width"], 300);
        assert!(
            audit[0].details.len() < 200,
            "the audit row holds no photo bytes: {}",
            audit[0].details
        );

        // The same photo again changes nothing.
        store.set_person_photo(id, &jpeg, "anna").unwrap();
        assert_eq!(store.outbox_pending(100).unwrap().len(), queued + 1);
        assert_eq!(store.audit_entries("person.photo", 10).unwrap().len(), 1);
    }

    #[test]
    fn a_bad_photo_or_an_unknown_person_changes_nothing() {
        let mut store = Store::open_in_memory().unwrap();
        let id = store.create_person(&person("Anna", "Kowalska")).unwrap();
        let queued = store.outbox_pending(100).unwrap().len();
        let err = store.set_person_photo(id, b"GIF89a", "anna").unwrap_err();
        assert!(err.to_string().contains("not a JPEG or PNG"), "{err}");
        let jpeg = picture(300, 382, image::ImageFormat::Jpeg);
        assert!(matches!(
            store.set_person_photo(id + 1, &jpeg, "anna"),
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(store.person_photo(id).unwrap(), None);
        assert_eq!(store.outbox_pending(100).unwrap().len(), queued);
    }
}
