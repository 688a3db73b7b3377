//! Importing people from a CSV file, for the command line and the desk window alike: each
//! row is checked by the person form's own rules ([`PersonDraft::check`]), so a row the
//! form would refuse is refused here, named by line, field and reason. The good rows are
//! written in chunks, each one transaction with its outbox and audit rows, so the window
//! shows progress and the store is free between chunks; a row already imported (same
//! person number, PESEL, album number, or name and birth date) updates its person instead
//! of doubling them, so a file can be imported again after a stop.
//!
//! The file: UTF-8 (a byte-order mark is skipped), comma- or semicolon-separated (as a
//! spreadsheet in a Polish locale saves it; the header line decides), with a header line
//! naming the columns; README, "Importing people".

use std::collections::HashMap;
use std::ops::DerefMut;
use std::path::Path;

use super::auth::{Action, Denied, Session};
use super::person::{Field, FieldProblem, PersonDraft};
use crate::error::{Failure, Problem};
use crate::store::{ImportRefusal, ImportedPerson, Store, StoreError};

/// Columns the import reads (CardExchange field names, plus the Polish registers kept in
/// metadata); a file must have the first three.
pub const REQUIRED_COLUMNS: [&str; 3] = ["firstName", "lastName", "birthDate"];
pub const OPTIONAL_COLUMNS: [&str; 7] = [
    "middleName",
    "personNumber",
    "email",
    "phoneNumber",
    "mobileNumber",
    "albumNumber",
    "pesel",
];

/// A longer row is no person's data (a broken quote swallowing the file, or garbage): it
/// is refused whole, its text never shown.
pub const MAX_ROW_BYTES: usize = 16 * 1024;
/// Files are read whole before the first row is written; a register this large is split.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Rows per transaction: small enough that the progress moves and the desk's other work
/// gets the store between chunks, large enough that a big file commits quickly.
pub const CHUNK_ROWS: usize = 200;

/// The column a form field is read from.
pub fn column_of(field: Field) -> &'static str {
    match field {
        Field::FirstName => "firstName",
        Field::MiddleName => "middleName",
        Field::LastName => "lastName",
        Field::Pesel => "pesel",
        Field::BirthDate => "birthDate",
        Field::AlbumNumber => "albumNumber",
        Field::Phone => "phoneNumber",
    }
}

/// The key by which two rows, or a row and a person in the store, are the same person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    PersonNumber,
    Pesel,
    AlbumNumber,
    /// For rows with none of the others.
    NameAndBirthDate,
}

/// What is wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    /// A field the person form would refuse, for the same reason.
    Field(Field, FieldProblem),
    /// Bytes that are not UTF-8 (a file saved as Windows-1250, say).
    NotUtf8,
    /// Longer than [`MAX_ROW_BYTES`].
    TooLong,
    /// Not as many fields as the header has columns.
    FieldCount { found: u64, expected: u64 },
    /// The same person as an earlier row of the file, by this key.
    SameAsLine { line: u64, key: Key },
    /// The store refused it.
    Store(ImportRefusal),
}

impl std::fmt::Display for RowProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Field(field, problem) => {
                write!(f, "{}: {}", column_of(*field), english(*problem))
            }
            Self::NotUtf8 => f.write_str("unreadable row: not UTF-8 text"),
            Self::TooLong => write!(f, "unreadable row: longer than {MAX_ROW_BYTES} bytes"),
            Self::FieldCount { found, expected } => write!(
                f,
                "unreadable row: {found} fields where the header has {expected}"
            ),
            Self::SameAsLine { line, key } => {
                let key = match key {
                    Key::PersonNumber => "personNumber",
                    Key::Pesel => "pesel",
                    Key::AlbumNumber => "albumNumber",
                    Key::NameAndBirthDate => "name and birthDate",
                };
                write!(f, "the same {key} as line {line}")
            }
            Self::Store(refusal) => refusal.fmt(f),
        }
    }
}

fn english(problem: FieldProblem) -> &'static str {
    match problem {
        FieldProblem::Required => "required",
        FieldProblem::NotAName => "letters, spaces, hyphens and apostrophes only",
        FieldProblem::PeselLength => "a PESEL has 11 digits",
        FieldProblem::PeselNotDigits => "a PESEL has digits only",
        FieldProblem::PeselDate => "the PESEL holds no real birth date",
        FieldProblem::PeselCheckDigit => "the PESEL's check digit is wrong",
        FieldProblem::NotADate => "not a date written as YYYY-MM-DD",
        FieldProblem::NotThePeselDate => "differs from the date in the PESEL",
        FieldProblem::NotAnAlbumNumber => "letters, digits, / and - only, up to 20 characters",
        FieldProblem::NotAPhone => "9 to 15 digits, such as +48 600 100 200",
    }
}

/// A refused row: its line in the file and everything wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub problems: Vec<RowProblem>,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: ", self.line)?;
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            problem.fmt(f)?;
        }
        Ok(())
    }
}

/// A file read and checked, nothing written yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFile {
    /// What the audit log names as the source: the path.
    pub source: String,
    pub rows: Vec<ImportedPerson>,
    pub rejected: Vec<Rejection>,
    /// Header columns the import does not read.
    pub ignored_columns: Vec<String>,
}

/// How far the writing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// By line.
    pub rejected: Vec<Rejection>,
}

#[derive(Debug, thiserror::Error)]
pub enum CsvImportError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("cannot read {source_name}: {reason}")]
    Unreadable { source_name: String, reason: String },
    #[error("{source_name} is larger than {} MiB", MAX_FILE_BYTES / 1024 / 1024)]
    TooLarge { source_name: String },
    #[error("{source_name} has no {missing} column")]
    NoColumn {
        source_name: String,
        missing: &'static str,
    },
    /// Chunks before this one are saved; this one and the rest are not.
    #[error("the import stopped after {done} of {total} rows: {cause}")]
    Stopped {
        done: usize,
        total: usize,
        cause: StoreError,
    },
}

impl Problem for CsvImportError {
    fn next_step(&self) -> &'static str {
        match self {
            Self::Denied(denied) => denied.next_step(),
            Self::Unreadable { .. } => {
                "check the path, and that the file is CSV saved as UTF-8 with a header line"
            }
            Self::TooLarge { .. } => "split the file into smaller ones and import each",
            Self::NoColumn { .. } => {
                "the first line must name the columns: firstName, lastName, birthDate (optional: middleName, personNumber, email, phoneNumber, mobileNumber, albumNumber, pesel)"
            }
            Self::Stopped { .. } => {
                "the rows before are saved: fix the cause, then import the same file again (rows already imported are recognised, not doubled)"
            }
        }
    }
}

/// Reads and checks the file at `path`.
pub fn read_file(path: &Path) -> Result<ImportFile, CsvImportError> {
    let source_name = path.display().to_string();
    let unreadable = |err: std::io::Error| CsvImportError::Unreadable {
        source_name: source_name.clone(),
        reason: err.to_string(),
    };
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > MAX_FILE_BYTES {
        return Err(CsvImportError::TooLarge { source_name });
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    read_csv(&source_name, &bytes)
}

/// Reads and checks a CSV file's bytes; `source_name` names it in errors and the audit log.
pub fn read_csv(source_name: &str, bytes: &[u8]) -> Result<ImportFile, CsvImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let unreadable = |reason: String| CsvImportError::Unreadable {
        source_name: source_name.to_owned(),
        reason,
    };
    let header_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |separator: u8| header_line.iter().filter(|&&b| b == separator).count();
    let delimiter = if count(b';') > count(b',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|err| unreadable(err.to_string()))?
        .clone();
    let columns: Vec<&str> = header.iter().map(str::trim).collect();
    let column = |name: &str| columns.iter().position(|column| *column == name);
    if let Some(missing) = REQUIRED_COLUMNS
        .into_iter()
        .find(|name| column(name).is_none())
    {
        return Err(CsvImportError::NoColumn {
            source_name: source_name.to_owned(),
            missing,
        });
    }
    let ignored_columns = columns
        .iter()
        .filter(|name| !REQUIRED_COLUMNS.contains(name) && !OPTIONAL_COLUMNS.contains(name))
        .map(|name| (*name).to_owned())
        .collect();

    let mut file = ImportFile {
        source: source_name.to_owned(),
        rows: Vec::new(),
        rejected: Vec::new(),
        ignored_columns,
    };
    let mut seen = HashMap::new();
    for record in reader.byte_records() {
        let (line, result) = match record {
            Ok(record) => {
                let line = record.position().map_or(0, |position| position.line());
                (line, person_of(&record, &column))
            }
            Err(err) => {
                let line = err.position().map_or(0, |position| position.line());
                match err.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => (
                        line,
                        Err(vec![RowProblem::FieldCount {
                            found: *len,
                            expected: *expected_len,
                        }]),
                    ),
                    _ => return Err(unreadable(err.to_string())),
                }
            }
        };
        match result.and_then(|row| first_time(&mut seen, line, row)) {
            Ok(row) => file.rows.push(row),
            Err(problems) => file.rejected.push(Rejection { line, problems }),
        }
    }
    Ok(file)
}

/// The person in one row, checked by the form's rules, or everything wrong with it.
fn person_of(
    record: &csv::ByteRecord,
    column: &dyn Fn(&str) -> Option<usize>,
) -> Result<ImportedPerson, Vec<RowProblem>> {
    if record.as_slice().len() > MAX_ROW_BYTES {
        return Err(vec![RowProblem::TooLong]);
    }
    let mut fields = Vec::with_capacity(record.len());
    for field in record {
        fields.push(std::str::from_utf8(field).map_err(|_| vec![RowProblem::NotUtf8])?);
    }
    let text = |name: &str| -> String {
        column(name)
            .and_then(|index| fields.get(index))
            .map_or_else(String::new, |value| value.trim().to_owned())
    };
    let optional = |name: &str| Some(text(name)).filter(|value| !value.is_empty());
    let mut draft = PersonDraft::default();
    for field in Field::ALL {
        draft.set(field, text(column_of(field)));
    }
    let mut person = draft.check(None).map_err(|problems| {
        problems
            .into_iter()
            .map(|(field, problem)| RowProblem::Field(field, problem))
            .collect::<Vec<_>>()
    })?;
    person.person_number = optional("personNumber");
    person.mobile_number = optional("mobileNumber");
    Ok(ImportedPerson {
        line: record.position().map_or(0, |position| position.line()),
        person,
        email: optional("email"),
    })
}

/// The row, unless an earlier row of the file is the same person by one of its keys.
fn first_time(
    seen: &mut HashMap<(Key, String), u64>,
    line: u64,
    row: ImportedPerson,
) -> Result<ImportedPerson, Vec<RowProblem>> {
    let person = &row.person;
    let mut keys: Vec<(Key, String)> = [
        (Key::PersonNumber, &person.person_number),
        (Key::Pesel, &person.pesel),
        (Key::AlbumNumber, &person.album_number),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.clone().map(|value| (key, value)))
    .collect();
    if keys.is_empty() {
        let name = format!(
            "{}\n{}\n{}",
            person.last_name, person.first_name, person.birth_date
        );
        keys.push((Key::NameAndBirthDate, name));
    }
    if let Some((key, earlier)) = keys
        .iter()
        .find_map(|key| seen.get(key).map(|line| (key.0, *line)))
    {
        return Err(vec![RowProblem::SameAsLine { line: earlier, key }]);
    }
    for key in keys {
        seen.insert(key, line);
    }
    Ok(row)
}

/// Writes the file's good rows, [`CHUNK_ROWS`] per transaction, taking the store from
/// `lock` for each chunk only; `progress` hears after each. A store failure stops the
/// import: what the chunks before it wrote stays, complete with its outbox and audit rows.
pub fn import<G: DerefMut<Target = Store>>(
    session: &Session,
    file: &ImportFile,
    mut lock: impl FnMut() -> Result<G, Failure>,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport, Failure> {
    session
        .require(Action::EditPeople)
        .map_err(CsvImportError::from)?;
    let total = file.rows.len();
    let mut report = ImportReport {
        rejected: file.rejected.clone(),
        ..ImportReport::default()
    };
    let mut done = 0;
    progress(Progress { done, total });
    // A file without a good row still leaves its audit row: who imported what, and when.
    let mut chunks: Vec<&[ImportedPerson]> = file.rows.chunks(CHUNK_ROWS).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for chunk in chunks {
        let written = lock()?
            .import_persons(&file.source, &session.operator, chunk)
            .map_err(|cause| CsvImportError::Stopped { done, total, cause })?;
        report.imported += written.imported;
        report.updated += written.updated;
        report.unchanged += written.unchanged;
        report.rejected.extend(
            written
                .rejected
                .into_iter()
                .map(|(line, refusal)| Rejection {
                    line,
                    problems: vec![RowProblem::Store(refusal)],
                }),
        );
        done += chunk.len();
        progress(Progress { done, total });
    }
    report.rejected.sort_by_key(|rejection| rejection.line);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use time::macros::date;

    use super::*;
    use crate::config::Role;
    use crate::store::OperatorRole;

    const HEADER: &str = "firstName,middleName,lastName,pesel,birthDate,albumNumber,phoneNumber,personNumber,email\n";

    fn read(text: &str) -> ImportFile {
        read_csv("people.csv", text.as_bytes()).unwrap()
    }

    fn lines(rejected: &[Rejection]) -> Vec<(u64, Vec<RowProblem>)> {
        rejected
            .iter()
            .map(|rejection| (rejection.line, rejection.problems.clone()))
            .collect()
    }

    fn anna() -> Session {
        Session {
            operator: "anna".into(),
            role: OperatorRole::Operator,
            station: Role::Issuance,
        }
    }

    /// Imports `file` into `store`, chunk by chunk as the window does; returns the report and
    /// the progress heard.
    fn import_into(
        store: &Mutex<Store>,
        session: &Session,
        file: &ImportFile,
    ) -> (Result<ImportReport, Failure>, Vec<Progress>) {
        let mut heard = Vec::new();
        let lock = || Ok(store.lock().unwrap());
        let report = import(session, file, lock, &mut |progress| heard.push(progress));
        (report, heard)
    }

    #[test]
    fn rows_are_checked_by_the_person_forms_rules() {
        let file = read(&format!(
            "{HEADER}\
             Łucja,Zofia,Żółkiewska-Nowak,02270803624,,s123456,+48 600 100 200,P-1,lucja@uni.example\n\
             Jan,,Kowalski,02270803625,,,,,\n\
             Ewa,,Nowak,,2002-07-09,,12345,,\n\
             ,,Pusta,,8.07.2002,12 34,,,\n\
             Ola,,Lis,02270803624,2002-07-09,,,,\n"
        ));
        assert_eq!(file.rows.len(), 1, "{:?}", file.rejected);
        let lucja = &file.rows[0];
        assert_eq!(lucja.line, 2);
        assert_eq!(lucja.person.last_name, "Żółkiewska-Nowak");
        assert_eq!(
            lucja.person.birth_date,
            date!(2002 - 07 - 08),
            "from the PESEL"
        );
        assert_eq!(lucja.person.person_number.as_deref(), Some("P-1"));
        assert_eq!(lucja.email.as_deref(), Some("lucja@uni.example"));
        use FieldProblem as P;
        assert_eq!(
            lines(&file.rejected),
            [
                (
                    3,
                    vec![
                        RowProblem::Field(Field::Pesel, P::PeselCheckDigit),
                        RowProblem::Field(Field::BirthDate, P::Required),
                    ]
                ),
                (4, vec![RowProblem::Field(Field::Phone, P::NotAPhone)]),
                (
                    5,
                    vec![
                        RowProblem::Field(Field::FirstName, P::Required),
                        RowProblem::Field(Field::BirthDate, P::NotADate),
                        RowProblem::Field(Field::AlbumNumber, P::NotAnAlbumNumber),
                    ]
                ),
                (
                    6,
                    vec![RowProblem::Field(Field::BirthDate, P::NotThePeselDate)]
                ),
            ]
        );
        assert_eq!(
            file.rejected[0].to_string(),
            "line 3: pesel: the PESEL's check digit is wrong; birthDate: required"
        );
    }

    #[test]
    fn a_missing_column_refuses_the_file_and_unknown_ones_are_named() {
        let err = read_csv("p.csv", b"firstName,lastName\nAnna,Nowak\n").unwrap_err();
        assert!(
            matches!(
                err,
                CsvImportError::NoColumn {
                    missing: "birthDate",
                    ..
                }
            ),
            "{err:?}"
        );
        let file = read("firstName,lastName,birthDate,shoeSize\nAnna,Nowak,2001-02-03,38\n");
        assert_eq!(file.ignored_columns, ["shoeSize"]);
        assert_eq!(file.rows.len(), 1);
        let err = read_file(Path::new("/nonexistent/people.csv")).unwrap_err();
        assert!(matches!(err, CsvImportError::Unreadable { .. }), "{err:?}");
    }

    #[test]
    fn a_bom_and_semicolons_as_a_polish_spreadsheet_saves_them_are_read() {
        let text = "\u{FEFF}firstName;lastName;birthDate;albumNumber\n\
                    Zdzisław;Łódź;2000-01-31;s7\n\
                    \"Anna Maria\";\"Nowak; Kowalska\";2000-02-01;s8\n";
        let file = read(text);
        assert_eq!(file.rows.len(), 1, "{:?}", file.rejected);
        assert_eq!(file.rows[0].person.first_name, "Zdzisław");
        // A semicolon is no part of a name: the form refuses it, and so does the import.
        assert_eq!(
            lines(&file.rejected),
            [(
                3,
                vec![RowProblem::Field(Field::LastName, FieldProblem::NotAName)]
            )]
        );
    }

    #[test]
    fn a_person_twice_in_one_file_is_refused_the_second_time() {
        let file = read(
            "firstName,lastName,birthDate,personNumber,pesel,albumNumber\n\
             Anna,Nowak,2002-07-08,P-1,,\n\
             Anna,Nowak,2002-07-08,P-1,,\n\
             Ewa,Lis,2002-07-08,P-2,02270803624,\n\
             Ewa,Lis,2002-07-08,P-3,02270803624,\n\
             Jan,Bak,2001-01-01,,,s9\n\
             Jan,Bąk,2001-01-01,,,s9\n\
             Ola,Mak,2001-01-01,,,\n\
             Ola,Mak,2001-01-01,,,\n\
             Ola,Mak,2001-01-02,,,\n",
        );
        let same = |line, key| vec![RowProblem::SameAsLine { line, key }];
        assert_eq!(
            lines(&file.rejected),
            [
                (3, same(2, Key::PersonNumber)),
                (5, same(4, Key::Pesel)),
                (7, same(6, Key::AlbumNumber)),
                (9, same(8, Key::NameAndBirthDate)),
            ]
        );
        assert_eq!(file.rows.len(), 5);
    }

    #[test]
    fn hostile_rows_are_refused_one_by_one_without_their_text() {
        let mut text = String::from("firstName,lastName,birthDate\n");
        text.push_str("Anna,Nowak,2001-02-03\n");
        text.push_str(&format!(
            "{},Long,2001-02-03\n",
            "A".repeat(10 * 1024 * 1024)
        ));
        text.push_str("Ewa,Lis,2001-02-03,extra\n");
        let mut bytes = text.into_bytes();
        // Windows-1250: "Łódź" as a spreadsheet on an older Windows saves it.
        bytes.extend_from_slice(b"Zdzis\xb3aw,\xa3\xf3d\x9f,2000-01-31\n");
        bytes.extend_from_slice(b"Ola,Mak,2001-01-01\n");
        let file = read_csv("hostile.csv", &bytes).unwrap();
        assert_eq!(
            lines(&file.rejected),
            [
                (3, vec![RowProblem::TooLong]),
                (
                    4,
                    vec![RowProblem::FieldCount {
                        found: 4,
                        expected: 3
                    }]
                ),
                (5, vec![RowProblem::NotUtf8]),
            ]
        );
        let names: Vec<_> = file.rows.iter().map(|row| row.line).collect();
        assert_eq!(names, [2, 6], "the rows around them are kept");
        let shown: String = file.rejected.iter().map(ToString::to_string).collect();
        assert!(shown.len() < 300, "no row's text is repeated: {shown}");
        // Not CSV at all (its header is no UTF-8), and an empty file: the file is refused.
        let err = read_csv("garbage.csv", b"\x00\xff\xfe\x00garbage").unwrap_err();
        assert!(
            matches!(&err, CsvImportError::Unreadable { reason, .. } if reason.contains("utf-8")),
            "{err:?}"
        );
        let err = read_csv("empty.csv", b"").unwrap_err();
        assert!(matches!(err, CsvImportError::NoColumn { .. }), "{err:?}");
    }

    #[test]
    fn an_import_writes_in_chunks_and_a_second_import_doubles_nobody() {
        let mut text = String::from("firstName,lastName,birthDate,albumNumber,email\n");
        let count = CHUNK_ROWS * 2 + 7;
        for n in 0..count {
            text.push_str(&format!(
                "Łucja,Wiśniewska,2001-02-03,s{n},l{n}@uni.example\n"
            ));
        }
        text.push_str("Jan,Nowak,2001-13-01,x1,\n");
        let file = read(&text);
        let store = Mutex::new(Store::open_in_memory().unwrap());
        let (report, heard) = import_into(&store, &anna(), &file);
        let report = report.unwrap();
        assert_eq!(
            (report.imported, report.updated, report.unchanged),
            (count, 0, 0)
        );
        assert_eq!(report.rejected.len(), 1);
        let done: Vec<usize> = heard.iter().map(|progress| progress.done).collect();
        assert_eq!(done, [0, CHUNK_ROWS, CHUNK_ROWS * 2, count]);
        assert!(heard.iter().all(|progress| progress.total == count));
        {
            let store = store.lock().unwrap();
            let status = store.status().unwrap();
            let count = count as i64;
            assert_eq!((status.persons, status.cardholders), (count, count));
            assert_eq!(status.outbox_pending, 2 * count);
            assert_eq!(store.audit_verify().unwrap(), 3, "one audit row per chunk");
        }

        // The same file again, one row corrected: nobody new, one update.
        let again = read(&text.replace(
            "Łucja,Wiśniewska,2001-02-03,s5,",
            "Łucja,Nowak,2001-02-03,s5,",
        ));
        let report = import_into(&store, &anna(), &again).0.unwrap();
        assert_eq!(
            (report.imported, report.updated, report.unchanged),
            (0, 1, count - 1)
        );
        let store = store.lock().unwrap();
        let status = store.status().unwrap();
        assert_eq!(status.persons, count as i64);
        assert_eq!(status.outbox_pending, 2 * count as i64 + 1);
        assert_eq!(
            store.search_people("s5", 1).unwrap()[0].fields.last_name,
            "Nowak"
        );
    }

    #[test]
    fn a_printer_cannot_import_and_nothing_is_written() {
        let file = read("firstName,lastName,birthDate\nAnna,Nowak,2001-02-03\n");
        let store = Mutex::new(Store::open_in_memory().unwrap());
        let printer = Session {
            role: OperatorRole::Printer,
            ..anna()
        };
        let (report, heard) = import_into(&store, &printer, &file);
        let failure = report.unwrap_err();
        assert!(failure.cause.contains("may not edit people"), "{failure:?}");
        assert!(heard.is_empty());
        assert_eq!(store.lock().unwrap().status().unwrap().persons, 0);
    }

    #[test]
    fn a_store_failure_mid_file_keeps_the_chunks_before_it_whole() {
        let mut text = String::from("firstName,lastName,birthDate,albumNumber\n");
        for n in 0..CHUNK_ROWS + 3 {
            text.push_str(&format!("Anna,Nowak,2001-02-03,a{n}\n"));
        }
        let file = read(&text);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let store = Mutex::new(Store::open(&path).unwrap());
        let mut heard = Vec::new();
        let lock = || {
            let guard = store.lock().unwrap();
            // After the first chunk the store breaks (as a full disk would): the outbox
            // is gone, which no row can be blamed for.
            if guard.status().unwrap().persons > 0 {
                outbox(&path, "ALTER TABLE outbox RENAME TO outbox_away");
            }
            Ok(guard)
        };
        let failure = import(&anna(), &file, lock, &mut |p| heard.push(p)).unwrap_err();
        assert!(
            failure
                .cause
                .contains(&format!("after {CHUNK_ROWS} of {}", CHUNK_ROWS + 3)),
            "{failure:?}"
        );
        assert!(failure.next_step.contains("import the same file again"));
        outbox(&path, "ALTER TABLE outbox_away RENAME TO outbox");
        let store = Store::open(&path).unwrap();
        let status = store.status().unwrap();
        let chunk = CHUNK_ROWS as i64;
        assert_eq!((status.persons, status.cardholders), (chunk, chunk));
        assert_eq!(
            status.outbox_pending,
            2 * chunk,
            "each person with their outbox rows"
        );
        assert_eq!(
            store.audit_verify().unwrap(),
            1,
            "and their chunk's audit row"
        );
    }

    fn outbox(path: &Path, sql: &str) {
        rusqlite::Connection::open(path)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
}
