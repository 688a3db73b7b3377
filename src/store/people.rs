//! Persons and cardholders: local create / read / update with their outbox rows, the
//! search index kept in the same transactions, and the import of a CSV file's rows, which
//! recognises the persons it imported before.

use rusqlite::{Connection, Row, ToSql};
use serde_json::{Value, json};
use time::Date;

use super::outbox::{self, Operation, Resource};
use super::search::{fold_polish, prefix_query};
use super::{Result, Store, StoreError, audit, found, now};
use crate::crypto::pesel;

text_enum! {
    pub enum CardholderStatus {
        Activated = "activated",
        Blocked = "blocked",
        Expired = "expired",
        Blacklisted = "blacklisted",
        Linked = "linked",
        Unlinked = "unlinked",
    }
}

/// What the desk edits on a person. `album_number` and `pesel` travel in the server
/// object's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonFields {
    pub person_number: Option<String>,
    pub first_name: String,
    pub middle_name: Option<String>,
    pub last_name: String,
    pub birth_date: Date,
    pub phone_number: Option<String>,
    pub mobile_number: Option<String>,
    pub album_number: Option<String>,
    pub pesel: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: i64,
    pub remote_id: Option<String>,
    pub fields: PersonFields,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardholderFields {
    pub person_id: Option<i64>,
    /// The server's cardholder profile id; the sync fills it from the station profile.
    pub profile: Option<String>,
    pub email: Option<String>,
    pub status: CardholderStatus,
    pub name_on_card: Option<String>,
    pub start_date: Option<Date>,
    pub end_date: Option<Date>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cardholder {
    pub id: i64,
    pub remote_id: Option<String>,
    pub fields: CardholderFields,
    pub updated_at: String,
}

/// One good row of an import file: a person and the email of their cardholder. An optional
/// field left `None` is "not in the file": a person already in the store keeps theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPerson {
    pub line: u64,
    pub person: PersonFields,
    pub email: Option<String>,
}

/// Why the store refused one row of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportRefusal {
    /// The person the row names was deleted on the server: the desk does not bring them back.
    DeletedOnServer,
    /// The row's PESEL is that of a person with another person number.
    PeselOfAnother,
    /// Several persons in the store match the row, so it cannot say which one it updates.
    Ambiguous,
    /// A store rule refused it (its English text).
    Refused(String),
}

impl std::fmt::Display for ImportRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DeletedOnServer => f.write_str("the person was deleted on the server"),
            Self::PeselOfAnother => {
                f.write_str("the PESEL belongs to a person with another personNumber")
            }
            Self::Ambiguous => f.write_str("several persons in the store match the row"),
            Self::Refused(reason) => f.write_str(reason),
        }
    }
}

/// What an import did: persons created (each with a cardholder), persons updated, rows
/// that matched a person already as the file has them, and the lines refused, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Vec<(u64, ImportRefusal)>,
}

/// The person already in the store an import row is about, if any.
enum ImportMatch {
    New,
    Existing(Box<Person>),
    Refused(ImportRefusal),
}

const PERSON_COLUMNS: &str = "id, remote_id, person_number, first_name, middle_name, last_name,
    birth_date, phone_number, mobile_number, album_number, pesel, updated_at";
const CARDHOLDER_COLUMNS: &str = "id, remote_id, person_id, profile, email, status,
    name_on_card, start_date, end_date, note, updated_at";

impl PersonFields {
    fn validate(&self) -> Result<()> {
        for (field, value) in [
            ("firstName", &self.first_name),
            ("lastName", &self.last_name),
        ] {
            if value.trim().is_empty() {
                return Err(StoreError::Invalid(format!("{field} is empty")));
            }
        }
        if let Some(number) = &self.pesel {
            pesel::validate(number).map_err(|err| StoreError::Invalid(err.to_string()))?;
        }
        Ok(())
    }

    /// The person's columns in table order (person_number to pesel), then `updated_at` and
    /// `key` (the row's id or remote id): the parameters of every statement that writes a
    /// person's row, local or from the server, so they cannot disagree on the order.
    pub(super) fn row_params<'a>(
        &'a self,
        updated_at: &'a dyn ToSql,
        key: &'a dyn ToSql,
    ) -> [&'a dyn ToSql; 11] {
        [
            &self.person_number,
            &self.first_name,
            &self.middle_name,
            &self.last_name,
            &self.birth_date,
            &self.phone_number,
            &self.mobile_number,
            &self.album_number,
            &self.pesel,
            updated_at,
            key,
        ]
    }

    /// The CardExchange create/update body.
    pub(super) fn payload(&self) -> Value {
        json!({
            "firstName": self.first_name,
            "middleName": self.middle_name,
            "lastName": self.last_name,
            "birthDate": self.birth_date.to_string(),
            "phoneNumber": self.phone_number,
            "mobileNumber": self.mobile_number,
            "metadata": {
                "personNumber": self.person_number,
                "albumNumber": self.album_number,
                "pesel": self.pesel,
            },
        })
    }

    /// What the search index holds: every searchable field, Polish letters folded.
    pub(super) fn search_text(&self) -> String {
        let parts = [
            Some(&self.first_name),
            self.middle_name.as_ref(),
            Some(&self.last_name),
            self.person_number.as_ref(),
            self.album_number.as_ref(),
            self.pesel.as_ref(),
        ];
        let joined: Vec<&str> = parts.into_iter().flatten().map(String::as_str).collect();
        fold_polish(&joined.join(" "))
    }
}

impl CardholderFields {
    /// An active cardholder record of `person_id` with nothing else set (no profile, e-mail,
    /// name on card, dates or note).
    pub fn active(person_id: i64) -> Self {
        Self {
            person_id: Some(person_id),
            profile: None,
            email: None,
            status: CardholderStatus::Activated,
            name_on_card: None,
            start_date: None,
            end_date: None,
            note: None,
        }
    }

    fn payload(&self) -> Value {
        json!({
            "personLocalId": self.person_id,
            "profile": self.profile,
            "email": self.email,
            "status": self.status,
            "nameOnCard": self.name_on_card,
            "startDate": self.start_date.map(|date| date.to_string()),
            "endDate": self.end_date.map(|date| date.to_string()),
            "note": self.note,
        })
    }
}

fn person_from_row(row: &Row) -> rusqlite::Result<Person> {
    Ok(Person {
        id: row.get(0)?,
        remote_id: row.get(1)?,
        fields: PersonFields {
            person_number: row.get(2)?,
            first_name: row.get(3)?,
            middle_name: row.get(4)?,
            last_name: row.get(5)?,
            birth_date: row.get(6)?,
            phone_number: row.get(7)?,
            mobile_number: row.get(8)?,
            album_number: row.get(9)?,
            pesel: row.get(10)?,
        },
        updated_at: row.get(11)?,
    })
}

fn cardholder_from_row(row: &Row) -> rusqlite::Result<Cardholder> {
    Ok(Cardholder {
        id: row.get(0)?,
        remote_id: row.get(1)?,
        fields: CardholderFields {
            person_id: row.get(2)?,
            profile: row.get(3)?,
            email: row.get(4)?,
            status: row.get(5)?,
            name_on_card: row.get(6)?,
            start_date: row.get(7)?,
            end_date: row.get(8)?,
            note: row.get(9)?,
        },
        updated_at: row.get(10)?,
    })
}

pub(super) fn load_person(conn: &Connection, id: i64) -> Result<Person> {
    let sql = format!("SELECT {PERSON_COLUMNS} FROM persons WHERE id = ?1");
    found(
        conn.prepare_cached(&sql)?.query_row([id], person_from_row),
        "person",
        id,
    )
}

/// Writes the person's row (`id` None = new), its search entry and its outbox row.
fn save_person(conn: &Connection, id: Option<i64>, fields: &PersonFields) -> Result<i64> {
    fields.validate()?;
    // One parameter list for both statements: a NULL id makes SQLite pick a new one.
    let updated_at = now();
    let values = fields.row_params(&updated_at, &id);
    let (id, operation) = match id {
        None => {
            conn.prepare_cached(
                "INSERT INTO persons (person_number, first_name, middle_name, last_name,
                    birth_date, phone_number, mobile_number, album_number, pesel, updated_at, id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(values)?;
            (conn.last_insert_rowid(), Operation::Create)
        }
        Some(id) => {
            let changed = conn
                .prepare_cached(
                    "UPDATE persons SET person_number = ?1, first_name = ?2, middle_name = ?3,
                        last_name = ?4, birth_date = ?5, phone_number = ?6, mobile_number = ?7,
                        album_number = ?8, pesel = ?9, updated_at = ?10
                     WHERE id = ?11",
                )?
                .execute(values)?;
            if changed == 0 {
                return Err(StoreError::NotFound { what: "person", id });
            }
            conn.prepare_cached("DELETE FROM people_fts WHERE rowid = ?1")?
                .execute([id])?;
            (id, Operation::Update)
        }
    };
    conn.prepare_cached("INSERT INTO people_fts (rowid, text) VALUES (?1, ?2)")?
        .execute((id, fields.search_text()))?;
    outbox::enqueue(conn, Resource::Persons, id, operation, fields.payload())?;
    Ok(id)
}

/// Writes the cardholder's row (`id` None = new) and its outbox row.
fn save_cardholder(conn: &Connection, id: Option<i64>, fields: &CardholderFields) -> Result<i64> {
    let values = (
        fields.person_id,
        &fields.profile,
        &fields.email,
        fields.status,
        &fields.name_on_card,
        fields.start_date,
        fields.end_date,
        &fields.note,
        now(),
        id,
    );
    let (id, operation) = match id {
        None => {
            conn.prepare_cached(
                "INSERT INTO cardholders (person_id, profile, email, status, name_on_card,
                    start_date, end_date, note, updated_at, id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(values)?;
            (conn.last_insert_rowid(), Operation::Create)
        }
        Some(id) => {
            let changed = conn
                .prepare_cached(
                    "UPDATE cardholders SET person_id = ?1, profile = ?2, email = ?3, status = ?4,
                        name_on_card = ?5, start_date = ?6, end_date = ?7, note = ?8,
                        updated_at = ?9
                     WHERE id = ?10",
                )?
                .execute(values)?;
            if changed == 0 {
                return Err(StoreError::NotFound {
                    what: "cardholder",
                    id,
                });
            }
            (id, Operation::Update)
        }
    };
    outbox::enqueue(conn, Resource::Cardholders, id, operation, fields.payload())?;
    Ok(id)
}

/// A new person with the cardholder the desk issues cards to.
fn create_person_with_cardholder(
    conn: &Connection,
    person: &PersonFields,
    email: Option<String>,
) -> Result<(i64, i64)> {
    let person_id = save_person(conn, None, person)?;
    let cardholder = CardholderFields {
        email,
        name_on_card: Some(format!("{} {}", person.first_name, person.last_name)),
        ..CardholderFields::active(person_id)
    };
    let cardholder_id = save_cardholder(conn, None, &cardholder)?;
    Ok((person_id, cardholder_id))
}

impl Store {
    pub fn create_person(&mut self, fields: &PersonFields) -> Result<i64> {
        self.write(|tx| save_person(tx, None, fields))
    }

    /// A new person with the active cardholder record the desk issues cards to, both with
    /// their outbox rows, in one transaction. The sync gives the cardholder its profile.
    pub fn create_person_with_cardholder(&mut self, fields: &PersonFields) -> Result<(i64, i64)> {
        self.write(|tx| create_person_with_cardholder(tx, fields, None))
    }

    pub fn update_person(&mut self, id: i64, fields: &PersonFields) -> Result<()> {
        self.write(|tx| save_person(tx, Some(id), fields).map(drop))
    }

    pub fn get_person(&self, id: i64) -> Result<Person> {
        load_person(&self.conn, id)
    }

    pub fn create_cardholder(&mut self, fields: &CardholderFields) -> Result<i64> {
        self.write(|tx| save_cardholder(tx, None, fields))
    }

    pub fn update_cardholder(&mut self, id: i64, fields: &CardholderFields) -> Result<()> {
        self.write(|tx| save_cardholder(tx, Some(id), fields).map(drop))
    }

    pub fn get_cardholder(&self, id: i64) -> Result<Cardholder> {
        let sql = format!("SELECT {CARDHOLDER_COLUMNS} FROM cardholders WHERE id = ?1");
        found(
            self.conn
                .prepare_cached(&sql)?
                .query_row([id], cardholder_from_row),
            "cardholder",
            id,
        )
    }

    /// A person's cardholders (one per role or period), newest first.
    pub fn cardholders_of_person(&self, person_id: i64) -> Result<Vec<Cardholder>> {
        let sql = format!(
            "SELECT {CARDHOLDER_COLUMNS} FROM cardholders WHERE person_id = ?1 ORDER BY id DESC"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map([person_id], cardholder_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Search-as-you-type: persons with a word starting with each typed term, in any of
    /// names (with or without Polish letters), person number, album number or PESEL. Persons
    /// the server has deleted are left out: the desk must not issue them new cards.
    pub fn search_people(&self, query: &str, limit: usize) -> Result<Vec<Person>> {
        let Some(fts_query) = prefix_query(query) else {
            return Ok(Vec::new());
        };
        // The first `limit` matches in index order, then sorted by name: ranking every
        // match (thousands for one letter) would cost more than a keystroke may take,
        // and the operator narrows the list by typing on.
        let sql = format!(
            "SELECT {PERSON_COLUMNS}
             FROM (SELECT people_fts.rowid AS hit FROM people_fts
                   JOIN persons AS live ON live.id = people_fts.rowid
                   WHERE people_fts MATCH ?1 AND live.deleted_remotely_at IS NULL LIMIT ?2)
             JOIN persons ON persons.id = hit
             ORDER BY last_name, first_name, id"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map((fts_query, limit), person_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Imports rows of a file in one transaction with one audit row for them: a row about a
    /// person the store has (same person number, else PESEL, else album number, else name
    /// and birth date) updates them with what the row gives, any other creates a person
    /// with their cardholder; each with its outbox row. So importing a file again creates
    /// nobody twice. A row the store refuses is reported by line and leaves nothing behind;
    /// anything else (disk full...) imports nothing of these rows.
    pub fn import_persons(
        &mut self,
        source: &str,
        operator: &str,
        rows: &[ImportedPerson],
    ) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        let mut tx = self.conn.transaction()?;
        for row in rows {
            let savepoint = tx.savepoint()?;
            match import_row(&savepoint, row) {
                Ok(outcome) => {
                    savepoint.commit()?;
                    match outcome {
                        RowImported::Created => report.imported += 1,
                        RowImported::Updated => report.updated += 1,
                        RowImported::Unchanged => report.unchanged += 1,
                    }
                }
                Err(ImportRowError::Refused(refusal)) => report.rejected.push((row.line, refusal)),
                Err(ImportRowError::Store(
                    err @ (StoreError::Invalid(_) | StoreError::Constraint(_)),
                )) => {
                    report
                        .rejected
                        .push((row.line, ImportRefusal::Refused(err.to_string())));
                }
                Err(ImportRowError::Store(other)) => return Err(other),
            }
        }
        let lines = [rows.first(), rows.last()].map(|row| row.map(|row| row.line));
        let details = json!({
            "lines": lines,
            "imported": report.imported,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "rejected": report.rejected.len(),
        });
        audit::append(&tx, operator, "persons.import", source, &details)?;
        tx.commit()?;
        Ok(report)
    }
}

enum RowImported {
    Created,
    Updated,
    Unchanged,
}

enum ImportRowError {
    Refused(ImportRefusal),
    Store(StoreError),
}

impl From<StoreError> for ImportRowError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<rusqlite::Error> for ImportRowError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Store(err.into())
    }
}

/// Creates or updates the row's person.
fn import_row(
    conn: &Connection,
    row: &ImportedPerson,
) -> std::result::Result<RowImported, ImportRowError> {
    match import_match(conn, &row.person)? {
        ImportMatch::New => {
            create_person_with_cardholder(conn, &row.person, row.email.clone())?;
            Ok(RowImported::Created)
        }
        ImportMatch::Refused(refusal) => Err(ImportRowError::Refused(refusal)),
        ImportMatch::Existing(person) => {
            let given = &row.person;
            let keep = |new: &Option<String>, old: &Option<String>| new.clone().or(old.clone());
            let old = &person.fields;
            let merged = PersonFields {
                person_number: keep(&given.person_number, &old.person_number),
                first_name: given.first_name.clone(),
                middle_name: keep(&given.middle_name, &old.middle_name),
                last_name: given.last_name.clone(),
                birth_date: given.birth_date,
                phone_number: keep(&given.phone_number, &old.phone_number),
                mobile_number: keep(&given.mobile_number, &old.mobile_number),
                album_number: keep(&given.album_number, &old.album_number),
                pesel: keep(&given.pesel, &old.pesel),
            };
            if merged == *old {
                return Ok(RowImported::Unchanged);
            }
            save_person(conn, Some(person.id), &merged)?;
            Ok(RowImported::Updated)
        }
    }
}

/// Finds the person an import row is about, by its strongest key.
fn import_match(conn: &Connection, person: &PersonFields) -> Result<ImportMatch> {
    let select = |condition: &str, params: &[&dyn ToSql]| -> Result<Vec<(Person, bool)>> {
        let sql = format!(
            "SELECT {PERSON_COLUMNS}, deleted_remotely_at IS NOT NULL FROM persons
             WHERE {condition} LIMIT 2"
        );
        let mut statement = conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params, |row| Ok((person_from_row(row)?, row.get(12)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    };
    let one = |found: Vec<(Person, bool)>| match found.as_slice() {
        [] => ImportMatch::New,
        [(_, true)] => ImportMatch::Refused(ImportRefusal::DeletedOnServer),
        [(person, false)] => ImportMatch::Existing(Box::new(person.clone())),
        _ => ImportMatch::Refused(ImportRefusal::Ambiguous),
    };
    if let Some(number) = &person.person_number {
        let by_number = one(select("person_number = ?1", &[number])?);
        if !matches!(by_number, ImportMatch::New) {
            return Ok(by_number);
        }
        // A person imported before without a number gets it; one with another number is
        // someone else, whose PESEL this row cannot take.
        return Ok(match &person.pesel {
            None => ImportMatch::New,
            Some(pesel) => match one(select("pesel = ?1", &[pesel])?) {
                ImportMatch::Existing(found) if found.fields.person_number.is_some() => {
                    ImportMatch::Refused(ImportRefusal::PeselOfAnother)
                }
                other => other,
            },
        });
    }
    if let Some(pesel) = &person.pesel {
        return Ok(one(select("pesel = ?1", &[pesel])?));
    }
    if let Some(album) = &person.album_number {
        return Ok(one(select("album_number = ?1", &[album])?));
    }
    Ok(one(select(
        "last_name = ?1 AND first_name = ?2 AND birth_date = ?3
         AND person_number IS NULL AND pesel IS NULL AND album_number IS NULL",
        &[&person.last_name, &person.first_name, &person.birth_date],
    )?))
}

#[cfg(test)]
pub(super) mod tests {
    use time::macros::date;

    use super::*;

    pub(in crate::store) fn person(first: &str, last: &str) -> PersonFields {
        PersonFields {
            person_number: None,
            first_name: first.into(),
            middle_name: None,
            last_name: last.into(),
            birth_date: date!(2001 - 02 - 03),
            phone_number: None,
            mobile_number: None,
            album_number: None,
            pesel: None,
        }
    }

    fn names(hits: &[Person]) -> Vec<String> {
        let mut names: Vec<String> = hits
            .iter()
            .map(|hit| format!("{} {}", hit.fields.first_name, hit.fields.last_name))
            .collect();
        names.sort();
        names
    }

    fn outbox_rows(store: &Store, resource: &str) -> i64 {
        store
            .conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE resource = ?1",
                [resource],
                |row| row.get(0),
            )
            .unwrap()
    }

    #[test]
    fn persons_round_trip_and_each_change_queues_an_outbox_row() {
        let mut store = Store::open_in_memory().unwrap();
        let mut fields = person("Anna", "Kowalska");
        fields.pesel = Some("02070803628".into());
        fields.album_number = Some("123456".into());
        let id = store.create_person(&fields).unwrap();
        assert_eq!(store.get_person(id).unwrap().fields, fields);

        fields.last_name = "Nowak".into();
        store.update_person(id, &fields).unwrap();
        assert_eq!(store.get_person(id).unwrap().fields.last_name, "Nowak");

        let pending = store.outbox_pending(10).unwrap();
        let operations: Vec<_> = pending.iter().map(|entry| entry.operation).collect();
        assert_eq!(operations, [Operation::Create, Operation::Update]);
        assert_eq!(pending[0].payload["birthDate"], "2001-02-03");
        assert_eq!(pending[1].payload["lastName"], "Nowak");
        assert_eq!(pending[1].payload["metadata"]["pesel"], "02070803628");
        assert!(matches!(
            store.get_person(id + 1),
            Err(StoreError::NotFound { what: "person", .. })
        ));
        assert!(matches!(
            store.update_person(id + 1, &fields),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn invalid_persons_are_refused_without_an_outbox_row() {
        let mut store = Store::open_in_memory().unwrap();
        let mut fields = person(" ", "Kowalska");
        assert!(matches!(
            store.create_person(&fields),
            Err(StoreError::Invalid(_))
        ));
        fields.first_name = "Anna".into();
        fields.pesel = Some("02070803629".into());
        let err = store.create_person(&fields).unwrap_err();
        assert!(err.to_string().contains("check digit"), "{err}");
        assert_eq!(store.status().unwrap().outbox_pending, 0);
    }

    #[test]
    fn cardholders_round_trip_and_need_an_existing_person() {
        let mut store = Store::open_in_memory().unwrap();
        let person_id = store.create_person(&person("Jan", "Nowak")).unwrap();
        let mut fields = CardholderFields {
            person_id: Some(person_id),
            profile: None,
            email: Some("jan@uni.example".into()),
            status: CardholderStatus::Activated,
            name_on_card: Some("Jan Nowak".into()),
            start_date: Some(time::macros::date!(2025 - 10 - 01)),
            end_date: None,
            note: None,
        };
        let id = store.create_cardholder(&fields).unwrap();
        assert_eq!(store.get_cardholder(id).unwrap().fields, fields);
        fields.status = CardholderStatus::Blocked;
        store.update_cardholder(id, &fields).unwrap();
        assert_eq!(
            store.get_cardholder(id).unwrap().fields.status,
            CardholderStatus::Blocked
        );
        assert_eq!(outbox_rows(&store, "cardholders"), 2);

        fields.person_id = Some(person_id + 100);
        let err = store.create_cardholder(&fields).unwrap_err();
        assert!(matches!(err, StoreError::Constraint(_)), "{err:?}");
        assert_eq!(outbox_rows(&store, "cardholders"), 2);
    }

    #[test]
    fn search_finds_prefixes_with_and_without_polish_letters() {
        let mut store = Store::open_in_memory().unwrap();
        let mut kowalska = person("Łucja", "Kowalska");
        kowalska.pesel = Some("02070803628".into());
        kowalska.album_number = Some("s123456".into());
        kowalska.person_number = Some("P-0042".into());
        store.create_person(&kowalska).unwrap();
        store.create_person(&person("Zdzisław", "Łódź")).unwrap();
        store.create_person(&person("Jan", "Kowalski")).unwrap();
        store.create_person(&person("Ewa", "Nowak")).unwrap();

        let search = |query: &str| names(&store.search_people(query, 10).unwrap());
        assert_eq!(search("kowal"), ["Jan Kowalski", "Łucja Kowalska"]);
        assert_eq!(search("kowalska"), ["Łucja Kowalska"]);
        assert_eq!(search("lodz"), ["Zdzisław Łódź"]);
        assert_eq!(search("ŁÓDŹ"), ["Zdzisław Łódź"]);
        assert_eq!(search("zdzislaw"), ["Zdzisław Łódź"]);
        assert_eq!(search("lucja kow"), ["Łucja Kowalska"]);
        assert_eq!(search("0207080"), ["Łucja Kowalska"]);
        assert_eq!(search("s1234"), ["Łucja Kowalska"]);
        assert_eq!(search("P-004"), ["Łucja Kowalska"]);
        assert!(search("kowalskie").is_empty());
        assert_eq!(store.search_people("kowal", 1).unwrap().len(), 1);
    }

    #[test]
    fn the_search_index_follows_updates() {
        let mut store = Store::open_in_memory().unwrap();
        let mut fields = person("Anna", "Kowalska");
        let id = store.create_person(&fields).unwrap();
        fields.last_name = "Wiśniewska".into();
        store.update_person(id, &fields).unwrap();
        assert!(store.search_people("kowalska", 10).unwrap().is_empty());
        assert_eq!(store.search_people("wisn", 10).unwrap()[0].id, id);
    }

    #[test]
    fn hostile_search_input_never_breaks_the_query() {
        let mut store = Store::open_in_memory().unwrap();
        store.create_person(&person("Anna", "Near")).unwrap();
        for hostile in [
            "\"",
            "\"\"\"",
            "*",
            "a*b",
            "NEAR(anna near, 2)",
            "anna OR",
            "AND",
            "NOT anna",
            "text:anna",
            "{text}: anna",
            "^anna",
            "(anna",
            "anna)",
            "-anna",
            "+",
            "'; DROP TABLE persons; --",
            "\u{0}",
            "😀 anna",
            "",
            "   ",
        ] {
            let result = store.search_people(hostile, 10);
            assert!(result.is_ok(), "{hostile:?}: {result:?}");
        }
        assert_eq!(store.search_people("NEAR(anna", 10).unwrap().len(), 1);
        assert_eq!(store.search_people("text:anna", 10).unwrap().len(), 0);
        assert_eq!(store.status().unwrap().persons, 1);
    }

    #[test]
    fn an_import_keeps_good_rows_and_reports_bad_ones_by_line() {
        let mut store = Store::open_in_memory().unwrap();
        let row = |line: u64, first: &str, number: &str| {
            let mut person = person(first, "Kowalska");
            person.person_number = Some(number.into());
            person.pesel = Some("02070803628".into()).filter(|_| first == "Ewa");
            ImportedPerson {
                line,
                person,
                email: Some(format!("{first}@uni.example")),
            }
        };
        let rows = [row(2, "Anna", "1"), row(3, "Ola", "2")];
        let report = store.import_persons("people.csv", "cli", &rows).unwrap();
        assert_eq!((report.imported, report.rejected.len()), (2, 0));

        // Again, with Anna's new name, Ola as she is, and Ewa whose PESEL the store refuses
        // once it is someone else's.
        let mut anna = row(2, "Anna", "1");
        anna.person.last_name = "Nowak".into();
        let mut bad = row(4, "Ewa", "3");
        bad.person.pesel = Some("02070803629".into());
        let report = store
            .import_persons("people.csv", "cli", &[anna, row(3, "Ola", "2"), bad])
            .unwrap();
        assert_eq!(
            (report.imported, report.updated, report.unchanged),
            (0, 1, 1)
        );
        assert_eq!(report.rejected.len(), 1);
        assert_eq!(report.rejected[0].0, 4);
        assert!(
            report.rejected[0].1.to_string().contains("check digit"),
            "{report:?}"
        );

        let status = store.status().unwrap();
        assert_eq!((status.persons, status.cardholders), (2, 2));
        assert_eq!(
            outbox_rows(&store, "persons"),
            3,
            "two creates and one update"
        );
        assert_eq!(outbox_rows(&store, "cardholders"), 2);
        assert_eq!(store.search_people("nowak", 10).unwrap().len(), 1);
        assert_eq!(store.search_people("ewa", 10).unwrap().len(), 0);
        assert_eq!(store.audit_verify().unwrap(), 2, "one audit row per call");
    }

    #[test]
    fn an_import_finds_the_person_by_their_strongest_key() {
        let mut store = Store::open_in_memory().unwrap();
        let mut numbered = person("Anna", "Kowalska");
        numbered.person_number = Some("P-1".into());
        numbered.pesel = Some("02070803628".into());
        let mut unnumbered = person("Łucja", "Wiśniewska");
        unnumbered.pesel = Some("02270803624".into());
        let mut album_only = person("Jan", "Nowak");
        album_only.album_number = Some("s1".into());
        let bare = person("Ewa", "Lis");
        for fields in [&numbered, &unnumbered, &album_only, &bare] {
            store.create_person_with_cardholder(fields).unwrap();
        }
        let outcome = |store: &mut Store, person: PersonFields| {
            let row = ImportedPerson {
                line: 2,
                person,
                email: None,
            };
            store.import_persons("f.csv", "t", &[row]).unwrap()
        };
        let counts = |report: &ImportReport| {
            (
                report.imported,
                report.updated,
                report.unchanged,
                report.rejected.clone(),
            )
        };
        // Each as the store has it, with no optional field repeated: nothing changes.
        for fields in [&unnumbered, &album_only, &bare] {
            assert_eq!(
                counts(&outcome(&mut store, fields.clone())),
                (0, 0, 1, vec![])
            );
        }
        // The PESEL of a person without a number: they get the number.
        let mut numbering = unnumbered.clone();
        numbering.person_number = Some("P-2".into());
        assert_eq!(counts(&outcome(&mut store, numbering)), (0, 1, 0, vec![]));
        // Anna's PESEL with another number is not Anna.
        let mut other = numbered.clone();
        other.person_number = Some("P-9".into());
        assert_eq!(
            counts(&outcome(&mut store, other)),
            (0, 0, 0, vec![(2, ImportRefusal::PeselOfAnother)])
        );
        // Two persons with one name and birth date and no keys: which one is unknown.
        store.create_person(&bare).unwrap();
        assert_eq!(
            counts(&outcome(&mut store, bare.clone())),
            (0, 0, 0, vec![(2, ImportRefusal::Ambiguous)])
        );
        store
            .conn
            .execute(
                "UPDATE persons SET deleted_remotely_at = '2026-01-01T00:00:00Z'
                 WHERE album_number = 's1'",
                [],
            )
            .unwrap();
        assert_eq!(
            counts(&outcome(&mut store, album_only)),
            (0, 0, 0, vec![(2, ImportRefusal::DeletedOnServer)])
        );
        assert_eq!(store.status().unwrap().persons, 5);
    }
}
