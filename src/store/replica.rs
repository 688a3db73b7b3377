//! What the sync writes: server objects upserted by remote id (one transaction per batch),
//! pushed outbox rows retired in the same transaction that records the remote id, and the
//! sync cursors.
//!
//! Conflict rule (DESIGN.md 4): the sync pushes before it pulls, so a local change still
//! pending when its object comes back from the server was refused or made during the sync.
//! The server wins and the dropped change is logged, except a card status the station
//! produced (personalized, blocked...), which is kept and pushed again.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value};
use time::Date;
use time::macros::format_description;

use super::cards::normalise_uid;
use super::outbox::{Operation, OutboxEntry, Resource};
use super::people::PersonFields;
use super::{CardStatus, CardType, CardholderStatus, Result, Store, now};
use crate::remote::cardexchange as remote;

/// What one batch did to the local copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Upserted {
    pub inserted: usize,
    pub updated: usize,
    /// Objects the store already held as the server has them (not written again).
    pub unchanged: usize,
    /// Objects the store cannot hold (missing required fields, unknown parent...), logged.
    pub skipped: usize,
    /// Objects changed on both sides: pending local changes the server's copy overrode, or
    /// the station's copy kept (a card status it set, a production it printed).
    pub conflicts: usize,
}

impl Upserted {
    pub fn add(&mut self, other: Upserted) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.conflicts += other.conflicts;
    }
}

/// A conflict the sync resolved: one field of a local change that met a different server
/// copy. Values are JSON text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Conflict {
    pub resource: Resource,
    pub local_id: i64,
    pub remote_id: Option<String>,
    pub field: String,
    pub local_value: Option<String>,
    pub server_value: Option<String>,
    pub rule: String,
    pub resolved_at: String,
}

/// What one `mark_deleted_remotely` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Marked {
    /// Rows newly stamped as deleted on the server.
    pub marked: usize,
    /// Rows the server no longer lists that were left alone for their pending changes.
    pub kept_pending: usize,
}

fn table(resource: Resource) -> &'static str {
    match resource {
        Resource::Persons => "persons",
        Resource::Addresses => "addresses",
        Resource::Cardholders => "cardholders",
        Resource::Cards => "cards",
        Resource::Productions => "productions",
        Resource::AnonymousSets => "anonymous_sets",
    }
}

fn local_id_of(conn: &Connection, resource: Resource, remote_id: &str) -> Result<Option<i64>> {
    let sql = format!("SELECT id FROM {} WHERE remote_id = ?1", table(resource));
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([remote_id], |row| row.get(0))
        .optional()?)
}

/// The local row of a server object: by remote id, or, for an object this station created
/// whose answer was lost (crash, truncated body), by the operation id in its metadata, in
/// which case the create is recorded as done.
fn find_local(
    conn: &Connection,
    resource: Resource,
    remote_id: &str,
    metadata: Option<&Map<String, Value>>,
) -> Result<Option<i64>> {
    if let Some(id) = local_id_of(conn, resource, remote_id)? {
        return Ok(Some(id));
    }
    let Some(operation_id) = metadata
        .and_then(|metadata| metadata.get("operationId"))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let created: Option<i64> = conn
        .prepare_cached(
            "SELECT local_id FROM outbox
             WHERE operation_id = ?1 AND resource = ?2 AND operation = 'create'",
        )?
        .query_row((operation_id, resource), |row| row.get(0))
        .optional()?;
    if let Some(local_id) = created {
        set_remote_id(conn, resource, local_id, remote_id)?;
        conn.prepare_cached("DELETE FROM outbox WHERE operation_id = ?1")?
            .execute([operation_id])?;
    }
    Ok(created)
}

fn set_remote_id(
    conn: &Connection,
    resource: Resource,
    local_id: i64,
    remote_id: &str,
) -> Result<()> {
    let sql = format!(
        "UPDATE {} SET remote_id = ?1 WHERE id = ?2",
        table(resource)
    );
    conn.prepare_cached(&sql)?.execute((remote_id, local_id))?;
    Ok(())
}

/// Local updates of one object still waiting to be pushed.
fn pending_updates(
    conn: &Connection,
    resource: Resource,
    local_id: i64,
) -> Result<Vec<(i64, Value)>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, payload FROM outbox
         WHERE resource = ?1 AND local_id = ?2 AND operation = 'update' ORDER BY id",
    )?;
    let rows = statement.query_map((resource, local_id), |row| {
        let payload: String = row.get(1)?;
        Ok((
            row.get(0)?,
            serde_json::from_str(&payload).unwrap_or(Value::Null),
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Server wins: drops the object's pending updates, each kept in `conflicts` (field by
/// field, with the server's value from `server`) and the audit log.
fn server_wins(
    conn: &Connection,
    resource: Resource,
    local_id: i64,
    server: &impl serde::Serialize,
) -> Result<usize> {
    let pending = pending_updates(conn, resource, local_id)?;
    if pending.is_empty() {
        return Ok(0);
    }
    let server = serde_json::to_value(server).unwrap_or(Value::Null);
    for (outbox_id, payload) in &pending {
        // The changed fields' names only: their values (names, PESEL) stay out of the log
        // above debug (they are in the conflicts table).
        let fields = payload
            .as_object()
            .map(|fields| {
                fields
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        tracing::warn!(
            %resource, local_id, outbox_id, fields,
            "conflict: the server's copy changed too; the server wins and this local change is dropped"
        );
        for (field, local) in payload.as_object().into_iter().flatten() {
            let on_server = field.strip_suffix("LocalId").unwrap_or(field);
            let on_server = server.get(on_server).unwrap_or(&Value::Null);
            // A photo is recorded by its length: the conflicts table holds no image bytes.
            let (local, on_server) = if field == "photo" {
                (
                    &super::photos::summary(local),
                    &super::photos::summary(on_server),
                )
            } else {
                (local, on_server)
            };
            record_conflict(
                conn,
                resource,
                local_id,
                field,
                local,
                on_server,
                CONFLICT_SERVER_WINS,
            )?;
        }
        conn.prepare_cached("DELETE FROM outbox WHERE id = ?1")?
            .execute([outbox_id])?;
    }
    Ok(pending.len())
}

/// The rules a [`Conflict`] records (its `rule`), as stored.
pub const CONFLICT_SERVER_WINS: &str = "server wins: the local change was dropped";
pub const CONFLICT_STATION_STATUS_KEPT: &str = "the station's card status is kept and pushed again";

/// Keeps one resolved conflict and its audit entry (field and rule; the values stay in the
/// table, out of the audit log's details).
fn record_conflict(
    conn: &Connection,
    resource: Resource,
    local_id: i64,
    field: &str,
    local: &Value,
    server: &Value,
    rule: &str,
) -> Result<()> {
    let remote_id: Option<String> = conn
        .prepare_cached(&format!(
            "SELECT remote_id FROM {} WHERE id = ?1",
            table(resource)
        ))?
        .query_row([local_id], |row| row.get(0))
        .optional()?
        .flatten();
    conn.prepare_cached(
        "INSERT INTO conflicts (resource, local_id, remote_id, field, local_value, server_value,
            rule, resolved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute((
        resource,
        local_id,
        &remote_id,
        field,
        local.to_string(),
        server.to_string(),
        rule,
        now(),
    ))?;
    super::audit::append(
        conn,
        "sync",
        "sync.conflict",
        &format!("{resource}:{local_id}"),
        &serde_json::json!({"field": field, "rule": rule, "remote_id": remote_id}),
    )?;
    Ok(())
}

fn text<'a>(metadata: Option<&'a Map<String, Value>>, key: &str) -> Option<&'a str> {
    metadata?.get(key)?.as_str()
}

/// A date from `YYYY-MM-DD` or the date part of a date-time.
fn date(value: Option<&str>) -> Option<Date> {
    let value = value?;
    Date::parse(
        value.get(..10)?,
        format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// Whether a write went through; a constraint the server's data breaks (a duplicate UID or person
/// number) is logged and skips that object instead of failing the batch.
fn tolerate_constraint(
    resource: Resource,
    remote_id: &str,
    done: rusqlite::Result<usize>,
) -> Result<bool> {
    match done {
        Ok(_) => Ok(true),
        Err(err) if err.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) => {
            tracing::warn!(%resource, remote_id, "server object not stored: {err}");
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}

/// Counts an upsert by what `done` reports; a constraint the server's data breaks skips it.
fn count_upsert(
    counts: &mut Upserted,
    resource: Resource,
    remote_id: &str,
    existed: bool,
    done: rusqlite::Result<usize>,
) -> Result<()> {
    if existed && matches!(done, Ok(0)) {
        // `DO UPDATE ... WHERE` found the row as the server has it: nothing written.
        counts.unchanged += 1;
    } else if !tolerate_constraint(resource, remote_id, done)? {
        counts.skipped += 1;
    } else if existed {
        counts.updated += 1;
    } else {
        counts.inserted += 1;
    }
    Ok(())
}

fn skip(resource: Resource, remote_id: &str, why: &str, counts: &mut Upserted) {
    tracing::warn!(%resource, remote_id, "server object not stored: {why}");
    counts.skipped += 1;
}

fn upsert_person(conn: &Connection, person: &remote::Person, counts: &mut Upserted) -> Result<()> {
    let resource = Resource::Persons;
    let metadata = person.metadata.as_ref();
    let (Some(first_name), Some(last_name), Some(birth_date)) = (
        person.first_name.clone(),
        person.last_name.clone(),
        date(person.birth_date.as_deref()),
    ) else {
        skip(
            resource,
            &person.id,
            "firstName, lastName or birthDate missing",
            counts,
        );
        return Ok(());
    };
    let fields = PersonFields {
        person_number: person.person_number.clone(),
        first_name,
        middle_name: person.middle_name.clone(),
        last_name,
        birth_date,
        phone_number: person.phone_number.clone(),
        mobile_number: person.mobile_number.clone(),
        album_number: text(metadata, "albumNumber").map(str::to_owned),
        pesel: text(metadata, "pesel").map(str::to_owned),
    };
    let local = find_local(conn, resource, &person.id, metadata)?;
    let updated_at = now();
    let values = fields.row_params(&updated_at, &person.id);
    let id = match local {
        Some(id) => {
            counts.conflicts += server_wins(conn, resource, id, person)?;
            let done = conn
                .prepare_cached(
                    "UPDATE persons SET person_number = ?1, first_name = ?2, middle_name = ?3,
                        last_name = ?4, birth_date = ?5, phone_number = ?6, mobile_number = ?7,
                        album_number = ?8, pesel = ?9, updated_at = ?10,
                        deleted_remotely_at = NULL
                     WHERE remote_id = ?11
                       AND ((person_number, first_name, middle_name, last_name, birth_date,
                             phone_number, mobile_number, album_number, pesel,
                             deleted_remotely_at)
                            IS NOT (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL))",
                )?
                .execute(values);
            let new_photo = absorb_photo(conn, id, person)?;
            if matches!(done, Ok(0)) {
                // The same as stored: no write, and the search entry stays as it is.
                if new_photo {
                    counts.updated += 1;
                } else {
                    counts.unchanged += 1;
                }
                return Ok(());
            }
            if !tolerate_constraint(resource, &person.id, done)? {
                counts.skipped += 1;
                return Ok(());
            }
            conn.prepare_cached("DELETE FROM people_fts WHERE rowid = ?1")?
                .execute([id])?;
            counts.updated += 1;
            id
        }
        None => {
            let done = conn
                .prepare_cached(
                    "INSERT INTO persons (person_number, first_name, middle_name, last_name,
                        birth_date, phone_number, mobile_number, album_number, pesel,
                        updated_at, remote_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?
                .execute(values);
            if !tolerate_constraint(resource, &person.id, done)? {
                counts.skipped += 1;
                return Ok(());
            }
            counts.inserted += 1;
            let id = conn.last_insert_rowid();
            absorb_photo(conn, id, person)?;
            id
        }
    };
    conn.prepare_cached("INSERT INTO people_fts (rowid, text) VALUES (?1, ?2)")?
        .execute((id, fields.search_text()))?;
    Ok(())
}

/// Keeps the server's photo of local person `id`; whether it was new. A photo the checks
/// refuse (not base64, too large, not a JPEG or PNG, absurd dimensions) is logged and left
/// out: the person is stored, and a photo kept before stays. No `photo` (or null, or
/// empty) leaves the stored one too: a server that does not carry photos never erases them.
fn absorb_photo(conn: &Connection, id: i64, person: &remote::Person) -> Result<bool> {
    let text = match &person.photo {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::String(text)) if text.is_empty() => return Ok(false),
        Some(Value::String(text)) => text,
        Some(_) => {
            tracing::warn!(
                resource = %Resource::Persons, remote_id = person.id,
                "server photo not stored: it is not a base64 string; correct the person's photo on the server"
            );
            return Ok(false);
        }
    };
    let checked = super::photo_check::from_base64(text).and_then(|image| {
        super::photo_check::check_stored(&image)?;
        Ok(image)
    });
    match checked {
        Ok(image) => super::photos::keep(conn, id, &image),
        Err(err) => {
            tracing::warn!(
                resource = %Resource::Persons, remote_id = person.id,
                "server photo not stored: {err}; correct the person's photo on the server"
            );
            Ok(false)
        }
    }
}

fn upsert_address(
    conn: &Connection,
    address: &remote::Address,
    counts: &mut Upserted,
) -> Result<()> {
    let resource = Resource::Addresses;
    let Some(person_id) = address
        .person
        .as_deref()
        .map(|person| local_id_of(conn, Resource::Persons, person))
        .transpose()?
        .flatten()
    else {
        skip(
            resource,
            &address.id,
            "its person is not in the store",
            counts,
        );
        return Ok(());
    };
    let (Some(kind), Some(street), Some(locality), Some(region), Some(postal_code), Some(country)) = (
        &address.kind,
        &address.street_address,
        &address.locality,
        &address.region,
        &address.postal_code,
        &address.country,
    ) else {
        skip(resource, &address.id, "a required field is missing", counts);
        return Ok(());
    };
    let metadata = address.metadata.clone().unwrap_or_default();
    let local = find_local(conn, resource, &address.id, Some(&metadata))?;
    if let Some(id) = local {
        counts.conflicts += server_wins(conn, resource, id, address)?;
    }
    let done = conn
        .prepare_cached(
            "INSERT INTO addresses (remote_id, person_id, type, street_address, locality, region,
                postal_code, country, metadata, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (remote_id) DO UPDATE SET person_id = ?2, type = ?3,
                street_address = ?4, locality = ?5, region = ?6, postal_code = ?7, country = ?8,
                metadata = ?9, updated_at = ?10, deleted_remotely_at = NULL
             WHERE (person_id, type, street_address, locality, region, postal_code, country,
                    metadata, deleted_remotely_at)
                   IS NOT (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL)",
        )?
        .execute((
            &address.id,
            person_id,
            kind,
            street,
            locality,
            region,
            postal_code,
            country,
            Value::Object(metadata.clone()).to_string(),
            now(),
        ));
    count_upsert(counts, resource, &address.id, local.is_some(), done)
}

/// A profile given as an id (reference server) or an object with one (vendor).
fn profile_id(profile: Option<&Value>) -> Option<String> {
    match profile {
        Some(Value::String(id)) => Some(id.clone()),
        Some(Value::Object(profile)) => {
            profile.get("id").and_then(Value::as_str).map(str::to_owned)
        }
        _ => None,
    }
}

/// Upserts a set and links its cardholders to it. The cardholders are pulled first (the API
/// names the set only from the set's side), so a member not yet stored is linked on the
/// next pull.
fn upsert_anonymous_set(
    conn: &Connection,
    set: &remote::AnonymousSet,
    counts: &mut Upserted,
) -> Result<()> {
    let resource = Resource::AnonymousSets;
    let (Some(profile), Some(default_name)) = (profile_id(set.profile.as_ref()), &set.default_name)
    else {
        skip(resource, &set.id, "profile or defaultName missing", counts);
        return Ok(());
    };
    let existed = local_id_of(conn, resource, &set.id)?.is_some();
    let done = conn
        .prepare_cached(
            "INSERT INTO anonymous_sets (remote_id, profile, default_name, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (remote_id) DO UPDATE SET profile = ?2, default_name = ?3,
                updated_at = ?4, deleted_remotely_at = NULL
             WHERE (profile, default_name, deleted_remotely_at) IS NOT (?2, ?3, NULL)",
        )?
        .execute((&set.id, profile, default_name, now()));
    count_upsert(counts, resource, &set.id, existed, done)?;
    let Some(set_id) = local_id_of(conn, resource, &set.id)? else {
        return Ok(());
    };
    let mut link = conn.prepare_cached(
        "UPDATE cardholders SET anonymous_set_id = ?1 WHERE remote_id = ?2
             AND anonymous_set_id IS NOT ?1",
    )?;
    for holder in set.cardholder_ids() {
        link.execute((set_id, holder))?;
    }
    Ok(())
}

fn upsert_cardholder(
    conn: &Connection,
    holder: &remote::Cardholder,
    counts: &mut Upserted,
) -> Result<()> {
    let resource = Resource::Cardholders;
    let person_id = match &holder.person {
        Some(person) => match local_id_of(conn, Resource::Persons, person)? {
            Some(id) => Some(id),
            None => {
                skip(
                    resource,
                    &holder.id,
                    "its person is not in the store",
                    counts,
                );
                return Ok(());
            }
        },
        None => None,
    };
    let status: CardholderStatus = match holder.status.as_deref().unwrap_or("activated").parse() {
        Ok(status) => status,
        Err(err) => {
            skip(resource, &holder.id, &err.to_string(), counts);
            return Ok(());
        }
    };
    let profile = profile_id(holder.profile.as_ref());
    let local = find_local(conn, resource, &holder.id, holder.metadata.as_ref())?;
    if let Some(id) = local {
        counts.conflicts += server_wins(conn, resource, id, holder)?;
    }
    let done = conn
        .prepare_cached(
            "INSERT INTO cardholders (remote_id, person_id, profile, profile_number, email, status,
                name_on_card, start_date, end_date, note, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (remote_id) DO UPDATE SET person_id = ?2, profile = ?3,
                profile_number = ?4, email = ?5, status = ?6, name_on_card = ?7,
                start_date = ?8, end_date = ?9, note = ?10, updated_at = ?11,
                deleted_remotely_at = NULL
             WHERE (person_id, profile, profile_number, email, status, name_on_card, start_date,
                    end_date, note, deleted_remotely_at)
                   IS NOT (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL)",
        )?
        .execute((
            &holder.id,
            person_id,
            profile,
            &holder.profile_number,
            &holder.email,
            status,
            &holder.name_on_card,
            date(holder.start_date.as_deref()),
            date(holder.end_date.as_deref()),
            &holder.note,
            now(),
        ));
    count_upsert(counts, resource, &holder.id, local.is_some(), done)
}

fn upsert_card(conn: &Connection, card: &remote::Card, counts: &mut Upserted) -> Result<()> {
    let resource = Resource::Cards;
    let metadata = card.metadata.as_ref();
    let Some(cardholder_id) = card
        .cardholder
        .as_deref()
        .map(|holder| local_id_of(conn, Resource::Cardholders, holder))
        .transpose()?
        .flatten()
    else {
        skip(
            resource,
            &card.id,
            "its cardholder is not in the store",
            counts,
        );
        return Ok(());
    };
    let mut status: CardStatus = match card.status.as_deref().unwrap_or("initialized").parse() {
        Ok(status) => status,
        Err(err) => {
            skip(resource, &card.id, &err.to_string(), counts);
            return Ok(());
        }
    };
    let card_type: CardType = text(metadata, "type")
        .and_then(|kind| kind.parse().ok())
        .unwrap_or(CardType::Student);
    let uid = |key| text(metadata, key).and_then(|uid| normalise_uid(uid).ok());
    let local = find_local(conn, resource, &card.id, metadata)?;
    if let Some(id) = local {
        let station_status = pending_updates(conn, resource, id)?
            .iter()
            .rev()
            .find_map(|(_, payload)| payload.get("status")?.as_str()?.parse::<CardStatus>().ok());
        match station_status {
            Some(kept) => {
                if kept != status {
                    tracing::warn!(
                        local_id = id, server = %status, station = %kept,
                        "conflict: card status changed on both sides; the station's status is kept and pushed again"
                    );
                    record_conflict(
                        conn,
                        resource,
                        id,
                        "status",
                        &kept.as_str().into(),
                        &status.as_str().into(),
                        CONFLICT_STATION_STATUS_KEPT,
                    )?;
                    counts.conflicts += 1;
                }
                status = kept;
            }
            None => counts.conflicts += server_wins(conn, resource, id, card)?,
        }
    }
    let done = conn
        .prepare_cached(
            "INSERT INTO cards (remote_id, cardholder_id, card_number, type, contact_uid,
                contactless_uid, chip_serial_number, status, expires, updated_at, desfire_issued)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (remote_id) DO UPDATE SET cardholder_id = ?2, card_number = ?3,
                type = ?4, contact_uid = ?5, contactless_uid = ?6, chip_serial_number = ?7,
                status = ?8, expires = ?9, updated_at = ?10, deleted_remotely_at = NULL,
                desfire_issued = ?11
             WHERE (cardholder_id, card_number, type, contact_uid, contactless_uid,
                    chip_serial_number, status, expires, deleted_remotely_at, desfire_issued)
                   IS NOT (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?11)",
        )?
        .execute((
            &card.id,
            cardholder_id,
            &card.card_number,
            card_type,
            uid("contactUid"),
            uid("contactlessUid"),
            &card.chipserial_number,
            status,
            date(card.end_date.as_deref()),
            now(),
            // What the issuing station pushed: the kiosks then ask these cards for the
            // DESFire proof.
            metadata
                .and_then(|m| m.get("desfireIssued"))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
        ));
    count_upsert(counts, resource, &card.id, local.is_some(), done)
}

/// The fields of a production the API lets a station set, without nulls: what a production
/// ordered here sends once it is linked to the server's (push and pull build it alike).
pub fn production_update(fields: &Value) -> Value {
    const SETTABLE: [&str; 5] = [
        "nameOnCard",
        "chipserialNumber",
        "userName",
        "printedOn",
        "numberOfTries",
    ];
    let settable = SETTABLE
        .iter()
        .filter_map(|name| Some((name.to_string(), fields.get(*name)?.clone())))
        .filter(|(_, value)| !value.is_null());
    Value::Object(settable.collect())
}

/// Records `remote_id` for a local object whose create the server has (made by this
/// station or, for a production, by the server itself) and turns that create's outbox row
/// into the update of the fields still to send, keeping its place in the queue.
fn create_became_update(
    conn: &Connection,
    resource: Resource,
    local_id: i64,
    outbox_id: i64,
    remote_id: &str,
    update: &Value,
) -> Result<()> {
    set_remote_id(conn, resource, local_id, remote_id)?;
    conn.prepare_cached(
        "UPDATE outbox SET operation = ?1, payload = ?2, attempts = 0, last_error = NULL
         WHERE id = ?3",
    )?
    .execute((Operation::Update, update.to_string(), outbox_id))?;
    Ok(())
}

/// The server opens a production itself when a card enters `in_production` (the API
/// cannot create one); a production this station ordered for that card becomes that one.
/// Its queued create turns into an update of the fields the API lets a station set.
fn adopt_production(conn: &Connection, card_id: i64, remote_id: &str) -> Result<Option<i64>> {
    let ordered: Option<i64> = conn
        .prepare_cached(
            // A reprinted production keeps the remote id of the server's production its
            // card's print dropped, and has a create queued for the new one.
            "SELECT id FROM productions WHERE card_id = ?1 AND (remote_id IS NULL OR id IN
                (SELECT local_id FROM outbox WHERE resource = 'productions' AND operation = 'create'))
             ORDER BY id LIMIT 1",
        )?
        .query_row([card_id], |row| row.get(0))
        .optional()?;
    let Some(local_id) = ordered else {
        return Ok(None);
    };
    let creates: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT id, payload FROM outbox
             WHERE resource = 'productions' AND local_id = ?1 AND operation = 'create'",
        )?
        .query_map([local_id], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    set_remote_id(conn, Resource::Productions, local_id, remote_id)?;
    for (outbox_id, payload) in creates {
        let payload = serde_json::from_str(&payload).unwrap_or(Value::Null);
        create_became_update(
            conn,
            Resource::Productions,
            local_id,
            outbox_id,
            remote_id,
            &production_update(&payload),
        )?;
    }
    tracing::info!(
        local_id,
        remote_id,
        "the server's production for this card is the one ordered here"
    );
    Ok(Some(local_id))
}

fn has_pending(conn: &Connection, resource: Resource, local_id: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE resource = ?1 AND local_id = ?2)",
        )?
        .query_row((resource, local_id), |row| row.get(0))?)
}

fn upsert_production(
    conn: &Connection,
    production: &remote::Production,
    counts: &mut Upserted,
) -> Result<()> {
    let resource = Resource::Productions;
    let lookup = |resource, remote_id: &Option<String>| -> Result<Option<i64>> {
        match remote_id {
            Some(remote_id) => local_id_of(conn, resource, remote_id),
            None => Ok(None),
        }
    };
    let Some(card_id) = lookup(Resource::Cards, &production.card)? else {
        skip(
            resource,
            &production.id,
            "its card is not in the store",
            counts,
        );
        return Ok(());
    };
    let local = match local_id_of(conn, resource, &production.id)? {
        Some(id) => Some(id),
        None => adopt_production(conn, card_id, &production.id)?,
    };
    if let Some(id) = local
        && has_pending(conn, resource, id)?
    {
        // The station's print record (printedOn, tries, chip serial) is newer than the
        // server's copy until pushed: the push sends it, the next pull reads it back.
        tracing::debug!(
            local_id = id,
            remote_id = production.id,
            "production kept: local changes wait to be pushed"
        );
        // The station's copy wins until pushed: counted where kept local changes are.
        counts.conflicts += 1;
        return Ok(());
    }
    let existed = local.is_some();
    let done = conn
        .prepare_cached(
            // A production the server shows as printed (at any station) leaves this
            // station's print queue; the API carries no status, so printedOn decides.
            "INSERT INTO productions (remote_id, person_id, cardholder_id, card_id, name_on_card,
                chip_serial_number, user_name, exported, printed_on, number_of_tries, updated_at,
                status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                CASE WHEN ?9 IS NULL THEN 'to_be_produced' ELSE 'produced' END)
             ON CONFLICT (remote_id) DO UPDATE SET person_id = ?2, cardholder_id = ?3,
                card_id = ?4, name_on_card = ?5, chip_serial_number = ?6, user_name = ?7,
                exported = ?8, printed_on = ?9, number_of_tries = ?10, updated_at = ?11,
                status = CASE WHEN ?9 IS NULL OR status IN ('cancelled', 'withdrawn')
                    THEN status ELSE 'produced' END,
                deleted_remotely_at = NULL
             WHERE (person_id, cardholder_id, card_id, name_on_card, chip_serial_number,
                    user_name, exported, printed_on, number_of_tries, deleted_remotely_at)
                   IS NOT (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL)",
        )?
        .execute((
            &production.id,
            lookup(Resource::Persons, &production.person)?,
            lookup(Resource::Cardholders, &production.cardholder)?,
            card_id,
            &production.name_on_card,
            &production.chipserial_number,
            &production.user_name,
            production.exported.unwrap_or(false),
            &production.printed_on,
            production.number_of_tries.unwrap_or(0).max(0),
            now(),
        ));
    count_upsert(counts, resource, &production.id, existed, done)
}

impl Store {
    /// Upserts one page of server objects in one transaction.
    fn upsert_batch<T>(
        &mut self,
        items: &[T],
        upsert_one: fn(&Connection, &T, &mut Upserted) -> Result<()>,
    ) -> Result<Upserted> {
        self.write(|tx| {
            let mut counts = Upserted::default();
            for item in items {
                upsert_one(tx, item, &mut counts)?;
            }
            Ok(counts)
        })
    }

    pub fn upsert_remote_persons(&mut self, persons: &[remote::Person]) -> Result<Upserted> {
        self.upsert_batch(persons, upsert_person)
    }

    pub fn upsert_remote_addresses(&mut self, addresses: &[remote::Address]) -> Result<Upserted> {
        self.upsert_batch(addresses, upsert_address)
    }

    pub fn upsert_remote_anonymous_sets(
        &mut self,
        sets: &[remote::AnonymousSet],
    ) -> Result<Upserted> {
        self.upsert_batch(sets, upsert_anonymous_set)
    }

    /// After a complete pull of `resource` that listed exactly `listed` (remote ids): stamps
    /// `deleted_remotely_at` on the local rows the server no longer has. Rows never pushed
    /// (no remote id) are not the server's to judge, and rows with pending outbox changes
    /// are left alone and logged: the push owns them (it drops an update the server answers
    /// 404 to, and the next complete pull marks the row). Never call it after a partial pull:
    /// an object on a page not read would be marked.
    pub fn mark_deleted_remotely(
        &mut self,
        resource: Resource,
        listed: &HashSet<String>,
    ) -> Result<Marked> {
        let table = table(resource);
        self.write(|tx| {
            let mut marked = Marked::default();
            let known: Vec<(i64, String)> = tx
                .prepare(&format!(
                    "SELECT id, remote_id FROM {table}
                     WHERE remote_id IS NOT NULL AND deleted_remotely_at IS NULL"
                ))?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let stamp = now();
            for (local_id, remote_id) in known {
                if listed.contains(&remote_id) {
                    continue;
                }
                if has_pending(tx, resource, local_id)? {
                    tracing::warn!(
                        %resource, local_id, remote_id,
                        "the server no longer lists this object, but it has local changes waiting to be pushed: not marked"
                    );
                    marked.kept_pending += 1;
                    continue;
                }
                tx.prepare_cached(&format!(
                    "UPDATE {table} SET deleted_remotely_at = ?1 WHERE id = ?2"
                ))?
                .execute((&stamp, local_id))?;
                tracing::info!(%resource, local_id, remote_id, "deleted on the server: marked");
                marked.marked += 1;
            }
            Ok(marked)
        })
    }

    pub fn upsert_remote_cardholders(
        &mut self,
        holders: &[remote::Cardholder],
    ) -> Result<Upserted> {
        self.upsert_batch(holders, upsert_cardholder)
    }

    pub fn upsert_remote_cards(&mut self, cards: &[remote::Card]) -> Result<Upserted> {
        self.upsert_batch(cards, upsert_card)
    }

    pub fn upsert_remote_productions(
        &mut self,
        productions: &[remote::Production],
    ) -> Result<Upserted> {
        self.upsert_batch(productions, upsert_production)
    }

    /// The server id of a local object, `None` until its create was pushed.
    pub fn remote_id(&self, resource: Resource, local_id: i64) -> Result<Option<String>> {
        let sql = format!("SELECT remote_id FROM {} WHERE id = ?1", table(resource));
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([local_id], |row| row.get(0))
            .optional()?
            .flatten())
    }

    /// Counts a push attempt before the request goes out: a later run that finds a create
    /// with attempts looks its operation id up on the server before creating again.
    /// Counts one more try of the row, durably committed before anything is sent, and says
    /// how long ago the try before it began if that try never ended (its run was killed
    /// while waiting; `Duration::MAX` if it ended), read now, not from the batch the push
    /// read earlier; `None` for a first try. A row tried before may have reached the server.
    pub fn begin_push_attempt(&mut self, outbox_id: i64) -> Result<Option<Duration>> {
        let now_ms = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis(),
        )
        .unwrap_or(i64::MAX);
        // Even a power cut must not forget that the request may have left: the next run
        // would then send it again without looking. One fsync per create.
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let earlier = self.write(|tx| {
            let (attempts, attempted_at_ms): (i64, Option<i64>) = tx
                .prepare_cached("SELECT attempts, attempted_at_ms FROM outbox WHERE id = ?1")?
                .query_row([outbox_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
            tx.prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, attempted_at_ms = ?1 WHERE id = ?2",
            )?
            .execute((now_ms, outbox_id))?;
            Ok((attempts > 0).then(|| match attempted_at_ms {
                Some(at) => Duration::from_millis(u64::try_from(now_ms - at).unwrap_or(0)),
                // The try ended with an answer or an error, or predates this column.
                None => Duration::MAX,
            }))
        });
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        earlier
    }

    /// The try ended with `error`: nothing of it is still in flight (a run that was killed
    /// mid-try never gets here, and its next run waits for what it sent).
    pub fn record_push_error(&mut self, outbox_id: i64, error: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE outbox SET last_error = ?1, attempted_at_ms = NULL WHERE id = ?2",
            )?
            .execute((error, outbox_id))?;
            Ok(())
        })
    }

    /// The server has the change: records the remote id of a create and retires the
    /// outbox row, in one transaction, so a crash leaves either both or neither.
    pub fn complete_push(&mut self, entry: &OutboxEntry, remote_id: Option<&str>) -> Result<()> {
        self.write(|tx| {
            if let (Operation::Create, Some(remote_id)) = (entry.operation, remote_id) {
                set_remote_id(tx, entry.resource, entry.local_id, remote_id)?;
            }
            tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?
                .execute([entry.id])?;
            Ok(())
        })
    }

    /// A create the server accepted whose other fields must follow in an update (a card's
    /// status): records the remote id and turns the outbox row into that update, in one
    /// transaction. The row keeps its place, so the object's later changes still follow
    /// it, and a refusal of the update never sends the create again.
    pub fn complete_create_then_update(
        &mut self,
        entry: &OutboxEntry,
        remote_id: &str,
        update: &Value,
    ) -> Result<OutboxEntry> {
        self.write(|tx| {
            create_became_update(
                tx,
                entry.resource,
                entry.local_id,
                entry.id,
                remote_id,
                update,
            )
        })?;
        Ok(OutboxEntry {
            operation: Operation::Update,
            payload: update.clone(),
            attempts: 0,
            last_error: None,
            ..entry.clone()
        })
    }

    /// The most recent `limit` conflicts the sync resolved, newest first.
    pub fn conflicts(&self, limit: usize) -> Result<Vec<Conflict>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT resource, local_id, remote_id, field, local_value, server_value, rule,
                    resolved_at
             FROM conflicts ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = statement.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |row| {
            Ok(Conflict {
                resource: row.get(0)?,
                local_id: row.get(1)?,
                remote_id: row.get(2)?,
                field: row.get(3)?,
                local_value: row.get(4)?,
                server_value: row.get(5)?,
                rule: row.get(6)?,
                resolved_at: row.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many rows of `resource` the station holds from the server (a remote id, not
    /// marked deleted), and how many of those are not in `listed`: what a complete pull that
    /// listed `listed` would mark, before it does.
    pub fn count_unlisted(
        &self,
        resource: Resource,
        listed: &HashSet<String>,
    ) -> Result<(usize, usize)> {
        let mut statement = self.conn.prepare(&format!(
            "SELECT remote_id FROM {} WHERE remote_id IS NOT NULL AND deleted_remotely_at IS NULL",
            table(resource)
        ))?;
        let mut rows = statement.query([])?;
        let (mut known, mut unlisted) = (0, 0);
        while let Some(row) = rows.next()? {
            known += 1;
            if !listed.contains(row.get_ref(0)?.as_str().unwrap_or_default()) {
                unlisted += 1;
            }
        }
        Ok((known, unlisted))
    }

    /// Notes a complete revocation poll (every card in a refusal status read and stored):
    /// the kiosk's verdicts say so once it is older than `stale_after`.
    pub fn record_revocation_poll(&mut self, stale_after: std::time::Duration) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO revocation_poll (id, polled_at, stale_after_seconds) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET polled_at = ?1, stale_after_seconds = ?2",
            )?
            .execute((now(), i64::try_from(stale_after.as_secs()).unwrap_or(i64::MAX)))?;
            Ok(())
        })
    }

    /// Forgets the lease: the fast path was turned off, so verdicts fall back to the
    /// register-age rule instead of calling every card stale.
    pub fn clear_revocation_poll(&mut self) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM revocation_poll", [])?;
            Ok(())
        })
    }

    /// When the last complete revocation poll finished (RFC 3339) and how old it may get,
    /// `None` if nobody polls: one row, cheap enough for every tap.
    pub fn revocation_poll(&self) -> Result<Option<(String, std::time::Duration)>> {
        Ok(self
            .conn
            .prepare_cached("SELECT polled_at, stale_after_seconds FROM revocation_poll")?
            .query_row([], |row| {
                let seconds: i64 = row.get(1)?;
                Ok((
                    row.get(0)?,
                    std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or(0)),
                ))
            })
            .optional()?)
    }

    /// Notes a completed pull of `resource` (what `status` reports as `last_sync`).
    pub fn record_sync(&mut self, resource: Resource) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO sync_state (resource, last_sync_at) VALUES (?1, ?2)
                 ON CONFLICT (resource) DO UPDATE SET last_sync_at = ?2",
            )?
            .execute((resource, now()))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::UidKind;
    use crate::store::people::tests::person;

    fn remote_person(id: &str, first: &str, metadata: Value) -> remote::Person {
        serde_json::from_value(json!({
            "id": id, "firstName": first, "lastName": "Kowalska", "birthDate": "2001-02-03",
            "metadata": metadata,
        }))
        .unwrap()
    }

    /// The server's JSON object as its model.
    fn from_server<T: serde::de::DeserializeOwned>(value: Value) -> T {
        serde_json::from_value(value).unwrap()
    }

    /// A store holding the server's person `p` and its cardholder `holder`.
    fn store_with_server_holder(holder: Value) -> Store {
        let mut store = Store::open_in_memory().unwrap();
        store
            .upsert_remote_persons(&[remote_person("p", "Anna", json!({}))])
            .unwrap();
        store
            .upsert_remote_cardholders(&[from_server(holder)])
            .unwrap();
        store
    }

    #[test]
    fn upserts_insert_then_update_by_remote_id_and_keep_search_in_step() {
        let mut store = Store::open_in_memory().unwrap();
        let counts = store
            .upsert_remote_persons(&[remote_person("r1", "Anna", json!({}))])
            .unwrap();
        assert_eq!(counts.inserted, 1);
        let counts = store
            .upsert_remote_persons(&[remote_person("r1", "Ewa", json!({}))])
            .unwrap();
        assert_eq!(counts.updated, 1);
        assert_eq!(store.status().unwrap().persons, 1);
        assert!(store.search_people("anna", 10).unwrap().is_empty());
        assert_eq!(store.search_people("ewa", 10).unwrap().len(), 1);
        let counts = store
            .upsert_remote_persons(&[remote_person("r1", "Ewa", json!({}))])
            .unwrap();
        assert_eq!((counts.updated, counts.unchanged), (0, 1));
        assert_eq!(store.search_people("ewa", 10).unwrap().len(), 1);
        assert_eq!(store.status().unwrap().outbox_pending, 0);
    }

    #[test]
    fn a_try_that_never_ended_is_timed_and_one_that_ended_is_not() {
        let mut store = Store::open_in_memory().unwrap();
        store.create_person(&person("Anna", "Kowalska")).unwrap();
        let row = store.outbox_pending(1).unwrap()[0].id;
        assert_eq!(store.begin_push_attempt(row).unwrap(), None, "a first try");
        // The run died mid-try: the next one knows it began moments ago.
        let ago = store.begin_push_attempt(row).unwrap().unwrap();
        assert!(ago < Duration::from_secs(5), "{ago:?}");
        store.record_push_error(row, "503").unwrap();
        assert_eq!(
            store.begin_push_attempt(row).unwrap(),
            Some(Duration::MAX),
            "an ended try leaves nothing in flight"
        );
        let synchronous: i64 = store
            .conn
            .query_row("PRAGMA synchronous", [], |row| row.get(0))
            .unwrap();
        assert_eq!(synchronous, 1, "back to NORMAL after the durable count");
    }

    #[test]
    fn a_lost_create_answer_is_linked_by_operation_id_not_duplicated() {
        let mut store = Store::open_in_memory().unwrap();
        let id = store.create_person(&person("Anna", "Kowalska")).unwrap();
        let operation_id = store.outbox_pending(1).unwrap()[0].operation_id.clone();
        let counts = store
            .upsert_remote_persons(&[remote_person(
                "r9",
                "Anna",
                json!({"operationId": operation_id}),
            )])
            .unwrap();
        // Linked to the local row, whose data is the server's already.
        assert_eq!(
            (counts.inserted, counts.updated, counts.unchanged),
            (0, 0, 1)
        );
        assert_eq!(
            store.remote_id(Resource::Persons, id).unwrap().as_deref(),
            Some("r9")
        );
        let status = store.status().unwrap();
        assert_eq!((status.persons, status.outbox_pending), (1, 0));
    }

    #[test]
    fn server_photos_are_stored_and_hostile_ones_refused_without_losing_the_person() {
        use crate::store::photo_check::{self as portrait, tests::picture, tests::png_bomb};
        let mut store = Store::open_in_memory().unwrap();
        let jpeg = picture(300, 382, image::ImageFormat::Jpeg);
        let with_photo = |id: &str, photo: Value| -> remote::Person {
            from_server(json!({
                "id": id, "firstName": "Anna", "lastName": "Kowalska",
                "birthDate": "2001-02-03", "photo": photo,
            }))
        };
        let counts = store
            .upsert_remote_persons(&[with_photo("p1", json!(portrait::to_base64(&jpeg)))])
            .unwrap();
        assert_eq!(counts.inserted, 1);
        let local = store.search_people("kowalska", 5).unwrap()[0].id;
        assert_eq!(store.person_photo(local).unwrap(), Some(jpeg.clone()));

        // Each hostile photo leaves the person and the photo kept before as they are.
        let huge = portrait::to_base64(&vec![0xFF; portrait::MAX_STORED_BYTES + 10]);
        for hostile in [
            json!("not base64 at all!"),
            json!(huge),
            json!(portrait::to_base64(b"GIF89a\x01\x00\x01\x00")),
            json!(portrait::to_base64(&png_bomb(60_000, 60_000))),
            json!(12),
            json!(null),
            json!(""),
        ] {
            let counts = store
                .upsert_remote_persons(&[with_photo("p1", hostile.clone())])
                .unwrap_or_else(|err| panic!("{hostile:.40}: {err}"));
            assert_eq!(
                counts.skipped + counts.updated,
                0,
                "{hostile:.40}: {counts:?}"
            );
            assert_eq!(store.person_photo(local).unwrap(), Some(jpeg.clone()));
        }
        // A person whose photo is refused on first sight is still stored.
        let counts = store
            .upsert_remote_persons(&[with_photo("p2", json!("%%%"))])
            .unwrap();
        assert_eq!(counts.inserted, 1);

        // A new photo alone is an update.
        let png = picture(400, 500, image::ImageFormat::Png);
        let counts = store
            .upsert_remote_persons(&[with_photo("p1", json!(portrait::to_base64(&png)))])
            .unwrap();
        assert_eq!(counts.updated, 1, "{counts:?}");
        assert_eq!(store.person_photo(local).unwrap(), Some(png));
    }

    #[test]
    fn hostile_objects_are_skipped_not_stored() {
        let mut store = Store::open_in_memory().unwrap();
        let no_birth_date: remote::Person =
            serde_json::from_value(json!({"id": "x", "firstName": "A", "lastName": "B"})).unwrap();
        let orphan_card: remote::Card =
            serde_json::from_value(json!({"id": "c", "cardholder": "nobody"})).unwrap();
        assert_eq!(
            store
                .upsert_remote_persons(&[no_birth_date])
                .unwrap()
                .skipped,
            1
        );
        assert_eq!(
            store.upsert_remote_cards(&[orphan_card]).unwrap().skipped,
            1
        );
        assert_eq!(store.status().unwrap().persons, 0);
    }

    #[test]
    fn the_server_wins_except_for_a_card_status_the_station_set() {
        let mut store = store_with_server_holder(json!({"id": "h", "person": "p"}));
        let card = |status: &str| -> remote::Card {
            serde_json::from_value(json!({"id": "c", "cardholder": "h", "status": status})).unwrap()
        };
        store.upsert_remote_cards(&[card("activated")]).unwrap();
        let card_id = store.find_local_card("c");
        store
            .set_card_status(card_id, CardStatus::Blocked, "test", "lost")
            .unwrap();
        let counts = store.upsert_remote_cards(&[card("issued")]).unwrap();
        assert_eq!(counts.conflicts, 1);
        assert_eq!(
            store.get_card(card_id).unwrap().fields.status,
            CardStatus::Blocked
        );
        assert_eq!(
            store.status().unwrap().outbox_pending,
            1,
            "the block is pushed again"
        );

        let person_id = store.search_people("anna", 1).unwrap()[0].id;
        let mut fields = store.get_person(person_id).unwrap().fields;
        fields.first_name = "Local".into();
        store.update_person(person_id, &fields).unwrap();
        let counts = store
            .upsert_remote_persons(&[remote_person("p", "Server", json!({}))])
            .unwrap();
        assert_eq!(counts.conflicts, 1);
        assert_eq!(
            store.get_person(person_id).unwrap().fields.first_name,
            "Server"
        );
        assert_eq!(store.status().unwrap().outbox_pending, 1);

        let kept = store.conflicts(100).unwrap();
        let status = kept.iter().find(|c| c.field == "status").unwrap();
        assert_eq!(
            (
                status.resource,
                status.local_value.as_deref(),
                status.server_value.as_deref()
            ),
            (Resource::Cards, Some("\"blocked\""), Some("\"issued\""))
        );
        assert_eq!(
            (status.rule.as_str(), status.remote_id.as_deref()),
            (CONFLICT_STATION_STATUS_KEPT, Some("c"))
        );
        let name = kept.iter().find(|c| c.field == "firstName").unwrap();
        assert_eq!(
            (
                name.local_value.as_deref(),
                name.server_value.as_deref(),
                name.rule.as_str()
            ),
            (Some("\"Local\""), Some("\"Server\""), CONFLICT_SERVER_WINS)
        );
        assert_eq!(store.status().unwrap().conflicts, kept.len() as i64);
        let audited: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM audit_log WHERE action = 'sync.conflict'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(audited, kept.len() as i64);
    }

    #[test]
    fn only_unlisted_rows_without_pending_changes_are_marked_and_an_upsert_clears_the_mark() {
        let mut store = Store::open_in_memory().unwrap();
        store
            .upsert_remote_persons(&[
                remote_person("a", "Anna", json!({})),
                remote_person("b", "Beata", json!({})),
                remote_person("c", "Celina", json!({})),
            ])
            .unwrap();
        // A local change waiting for the push, and a person never pushed.
        let beata = store.search_people("beata", 1).unwrap()[0].id;
        let mut fields = store.get_person(beata).unwrap().fields;
        fields.first_name = "Beata2".into();
        store.update_person(beata, &fields).unwrap();
        store.create_person(&person("Local", "Only")).unwrap();

        let listed = HashSet::from(["a".to_owned()]);
        let marked = store
            .mark_deleted_remotely(Resource::Persons, &listed)
            .unwrap();
        assert_eq!(
            marked,
            Marked {
                marked: 1,
                kept_pending: 1
            }
        );
        assert_eq!(store.status().unwrap().deleted_remotely, 1);
        assert!(
            store.search_people("celina", 5).unwrap().is_empty(),
            "the desk's search leaves a person deleted on the server out"
        );
        let again = store
            .mark_deleted_remotely(Resource::Persons, &listed)
            .unwrap();
        assert_eq!(again.marked, 0, "a marked row is not marked again");

        store
            .upsert_remote_persons(&[remote_person("c", "Celina", json!({}))])
            .unwrap();
        assert_eq!(store.status().unwrap().deleted_remotely, 0, "c came back");
        assert_eq!(store.search_people("celina", 5).unwrap().len(), 1);
    }

    #[test]
    fn a_card_reads_as_deleted_when_it_or_its_cardholder_is_marked() {
        let mut store = store_with_server_holder(json!({"id": "h", "person": "p"}));
        let card: remote::Card = serde_json::from_value(json!({
            "id": "c", "cardholder": "h", "status": "activated",
            "metadata": {"contactUid": "04a1b2c3"}}))
        .unwrap();
        store
            .upsert_remote_cards(std::slice::from_ref(&card))
            .unwrap();
        let uid = [0x04, 0xA1, 0xB2, 0xC3];
        let read = |store: &Store| {
            store
                .find_card_by_uid(UidKind::Contact, &uid)
                .unwrap()
                .unwrap()
                .deleted_remotely_at
        };
        assert_eq!(read(&store), None);
        store
            .mark_deleted_remotely(Resource::Cards, &HashSet::new())
            .unwrap();
        assert!(read(&store).is_some(), "the card itself");
        store.upsert_remote_cards(&[card]).unwrap();
        assert_eq!(read(&store), None);
        store
            .mark_deleted_remotely(Resource::Cardholders, &HashSet::new())
            .unwrap();
        assert!(read(&store).is_some(), "through its cardholder");
    }

    #[test]
    fn an_anonymous_set_links_its_cardholders_and_addresses_need_their_person() {
        let mut store = Store::open_in_memory().unwrap();
        let holder: remote::Cardholder =
            serde_json::from_value(json!({"id": "h", "profile": "visitors"})).unwrap();
        store.upsert_remote_cardholders(&[holder]).unwrap();
        let set: remote::AnonymousSet = serde_json::from_value(json!({
            "id": "s", "profile": {"id": "visitors"}, "defaultName": "Goście",
            "data": [{"cardholders": [{"id": "h"}, {"id": "unknown"}]}]}))
        .unwrap();
        let counts = store
            .upsert_remote_anonymous_sets(std::slice::from_ref(&set))
            .unwrap();
        assert_eq!(counts.inserted, 1);
        let again = store.upsert_remote_anonymous_sets(&[set]).unwrap();
        assert_eq!(
            (again.updated, again.unchanged),
            (0, 1),
            "the same set is not rewritten"
        );
        let linked: Option<i64> = store
            .conn
            .query_row(
                "SELECT anonymous_set_id FROM cardholders WHERE remote_id = 'h'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(
            linked,
            local_id_of(&store.conn, Resource::AnonymousSets, "s").unwrap()
        );

        let address = |person: &str| -> remote::Address {
            serde_json::from_value(json!({
                "id": "a", "person": person, "type": "home", "streetAddress": "Długa 1",
                "locality": "Kraków", "region": "małopolskie", "postalCode": "30-001",
                "country": "Polska"}))
            .unwrap()
        };
        assert_eq!(
            store
                .upsert_remote_addresses(&[address("p")])
                .unwrap()
                .skipped,
            1
        );
        store
            .upsert_remote_persons(&[remote_person("p", "Anna", json!({}))])
            .unwrap();
        assert_eq!(
            store
                .upsert_remote_addresses(&[address("p")])
                .unwrap()
                .inserted,
            1
        );
        assert_eq!(store.status().unwrap().addresses, 1);
    }

    impl Store {
        fn find_local_card(&self, remote_id: &str) -> i64 {
            local_id_of(&self.conn, Resource::Cards, remote_id)
                .unwrap()
                .unwrap()
        }
    }

    #[test]
    fn a_production_printed_elsewhere_leaves_the_print_queue() {
        let mut store =
            store_with_server_holder(json!({"id": "h", "person": "p", "status": "activated"}));
        store
            .upsert_remote_cards(&[from_server(
                json!({"id": "c", "cardholder": "h", "status": "in_production"}),
            )])
            .unwrap();
        let queued = json!({"id": "r", "person": "p", "cardholder": "h", "card": "c"});
        store
            .upsert_remote_productions(&[from_server(queued.clone())])
            .unwrap();
        assert_eq!(store.productions_to_produce(10).unwrap().len(), 1);
        let mut printed = queued;
        printed["printedOn"] = json!("2026-11-20T10:00:00Z");
        store
            .upsert_remote_productions(&[from_server(printed)])
            .unwrap();
        assert!(
            store.productions_to_produce(10).unwrap().is_empty(),
            "printed at another station: not printed again here"
        );
    }

    #[test]
    fn the_servers_production_for_a_card_ordered_here_is_adopted_not_duplicated() {
        let mut store =
            store_with_server_holder(json!({"id": "h", "person": "p", "status": "activated"}));
        let holder = local_id_of(&store.conn, Resource::Cardholders, "h")
            .unwrap()
            .unwrap();
        let ordered = store
            .order_card(holder, crate::store::CardType::Student, None, None, "anna")
            .unwrap();
        let card = store.get_production(ordered).unwrap().card_id;
        set_remote_id(&store.conn, Resource::Cards, card, "c").unwrap();

        let opened = json!({"id": "r", "person": "p", "cardholder": "h", "card": "c"});
        let counts = store
            .upsert_remote_productions(&[from_server(opened)])
            .unwrap();
        assert_eq!((counts.inserted, counts.conflicts), (0, 1), "{counts:?}");
        assert_eq!(store.status().unwrap().productions, 1);
        assert_eq!(
            store
                .remote_id(Resource::Productions, ordered)
                .unwrap()
                .as_deref(),
            Some("r")
        );
        let (operation, payload): (String, String) = store
            .conn
            .query_row(
                "SELECT operation, payload FROM outbox WHERE resource = 'productions'",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(operation, "update");
        assert!(
            !payload.contains("LocalId") && !payload.contains("operationId"),
            "{payload}"
        );
        assert!(payload.contains("numberOfTries"), "{payload}");
        assert!(
            !payload.contains("null"),
            "as the push builds it: {payload}"
        );
    }
}
