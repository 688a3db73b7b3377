//! Persons and cardholders: local create / read / update with their outbox rows, the
//! search index kept in the same transactions, and the one-transaction CSV import.

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

/// One good row of an import file: a person and the email of their cardholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPerson {
    pub line: u64,
    pub person: PersonFields,
    pub email: Option<String>,
}

/// What an import did: how many persons it created and which lines it refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub rejected: Vec<(u64, String)>,
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

    /// Creates a person and a cardholder per row, all in one transaction with one audit
    /// row for the file. A row the store refuses (a duplicate person number, a bad PESEL)
    /// is reported by line and skipped, with the `unreadable` lines the caller could not
    /// parse; anything else (disk full...) imports nothing.
    pub fn import_persons(
        &mut self,
        source: &str,
        operator: &str,
        rows: &[ImportedPerson],
        unreadable: Vec<(u64, String)>,
    ) -> Result<ImportReport> {
        let mut report = ImportReport {
            imported: 0,
            rejected: unreadable,
        };
        let mut tx = self.conn.transaction()?;
        for row in rows {
            let savepoint = tx.savepoint()?;
            match create_person_with_cardholder(&savepoint, &row.person, row.email.clone()) {
                Ok(_) => {
                    savepoint.commit()?;
                    report.imported += 1;
                }
                Err(err @ (StoreError::Invalid(_) | StoreError::Constraint(_))) => {
                    report.rejected.push((row.line, err.to_string()));
                }
                Err(other) => return Err(other),
            }
        }
        report.rejected.sort_by_key(|(line, _)| *line);
        let details = json!({"imported": report.imported, "rejected": report.rejected.len()});
        audit::append(&tx, operator, "persons.import", source, &details)?;
        tx.commit()?;
        Ok(report)
    }
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
            ImportedPerson {
                line,
                person,
                email: Some(format!("{first}@uni.example")),
            }
        };
        let rows = [row(2, "Anna", "1"), row(4, "Ewa", "1"), row(5, "Ola", "2")];
        let unreadable = vec![(3, "birthDate is not a date".to_owned())];
        let report = store
            .import_persons("people.csv", "cli", &rows, unreadable)
            .unwrap();
        assert_eq!(report.imported, 2);
        let lines: Vec<u64> = report.rejected.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [3, 4]);
        assert!(report.rejected[1].1.contains("person_number"), "{report:?}");

        let status = store.status().unwrap();
        assert_eq!((status.persons, status.cardholders), (2, 2));
        assert_eq!(outbox_rows(&store, "persons"), 2);
        assert_eq!(outbox_rows(&store, "cardholders"), 2);
        assert_eq!(store.search_people("ewa", 10).unwrap().len(), 0);
        assert_eq!(store.audit_verify().unwrap(), 1);
    }
}
