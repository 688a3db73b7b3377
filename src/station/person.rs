//! A person as the desk types them in: the rules each field must meet (names with Polish
//! letters, PESEL with its check digit, a birth date that agrees with it, album number,
//! phone), each problem named by field so the window can show it beside that field, and
//! the save that writes the store and its outbox rows.

use time::Date;
use time::macros::format_description;

use super::auth::{Action, Session};
use super::desk::DeskError;
use crate::crypto::els_sig::MAX_ALBUM_CHARS;
use crate::crypto::pesel::{self, PeselError};
use crate::store::{PersonFields, Store, StoreError};

/// Longest name part the form takes: longer ones are typing accidents, and the card's
/// name line has room for far fewer.
const MAX_NAME_CHARS: usize = 64;

/// A field of the person form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    FirstName,
    MiddleName,
    LastName,
    Pesel,
    BirthDate,
    AlbumNumber,
    Phone,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::FirstName,
        Field::MiddleName,
        Field::LastName,
        Field::Pesel,
        Field::BirthDate,
        Field::AlbumNumber,
        Field::Phone,
    ];
}

/// Why a field's text cannot be saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    Required,
    /// Something other than letters, spaces, hyphens and apostrophes, or too long.
    NotAName,
    PeselLength,
    PeselNotDigits,
    /// The date part encodes no real day.
    PeselDate,
    PeselCheckDigit,
    /// Not a date written as YYYY-MM-DD.
    NotADate,
    /// The birth date differs from the one the PESEL encodes.
    NotThePeselDate,
    /// Letters, digits, `/` and `-`, at most [`MAX_ALBUM_CHARS`].
    NotAnAlbumNumber,
    /// Not 9 to 15 digits, with an optional leading `+` and spaces or hyphens between.
    NotAPhone,
}

/// The form's text, field by field, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonDraft {
    pub first_name: String,
    pub middle_name: String,
    pub last_name: String,
    pub pesel: String,
    pub birth_date: String,
    pub album_number: String,
    pub phone: String,
}

impl PersonDraft {
    /// The form filled with a person being edited.
    pub fn of(person: &PersonFields) -> Self {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        Self {
            first_name: person.first_name.clone(),
            middle_name: text(&person.middle_name),
            last_name: person.last_name.clone(),
            pesel: text(&person.pesel),
            birth_date: person.birth_date.to_string(),
            album_number: text(&person.album_number),
            phone: text(&person.phone_number),
        }
    }

    pub fn get(&self, field: Field) -> &str {
        match field {
            Field::FirstName => &self.first_name,
            Field::MiddleName => &self.middle_name,
            Field::LastName => &self.last_name,
            Field::Pesel => &self.pesel,
            Field::BirthDate => &self.birth_date,
            Field::AlbumNumber => &self.album_number,
            Field::Phone => &self.phone,
        }
    }

    pub fn set(&mut self, field: Field, value: String) {
        *match field {
            Field::FirstName => &mut self.first_name,
            Field::MiddleName => &mut self.middle_name,
            Field::LastName => &mut self.last_name,
            Field::Pesel => &mut self.pesel,
            Field::BirthDate => &mut self.birth_date,
            Field::AlbumNumber => &mut self.album_number,
            Field::Phone => &mut self.phone,
        } = value;
    }

    /// The person to save, or every field's problem. What the form does not show (person
    /// number, mobile number) is kept from `editing`. An empty birth date is taken from
    /// the PESEL.
    pub fn check(
        &self,
        editing: Option<&PersonFields>,
    ) -> Result<PersonFields, Vec<(Field, FieldProblem)>> {
        let mut problems = Vec::new();
        let mut note = |field, result: Result<(), FieldProblem>| {
            if let Err(problem) = result {
                problems.push((field, problem));
            }
        };
        note(Field::FirstName, name(&self.first_name, true));
        note(Field::MiddleName, name(&self.middle_name, false));
        note(Field::LastName, name(&self.last_name, true));
        let pesel_date = match optional(&self.pesel) {
            None => None,
            Some(number) => match pesel::birth_date(number) {
                Ok(date) => Some(date),
                Err(err) => {
                    note(Field::Pesel, Err(pesel_problem(&err)));
                    None
                }
            },
        };
        let typed_date = match optional(&self.birth_date) {
            None => None,
            Some(text) => match Date::parse(text, format_description!("[year]-[month]-[day]")) {
                Ok(date) => Some(date),
                Err(_) => {
                    note(Field::BirthDate, Err(FieldProblem::NotADate));
                    None
                }
            },
        };
        let birth_date = match (typed_date, pesel_date) {
            (Some(typed), Some(encoded)) if typed != encoded => {
                note(Field::BirthDate, Err(FieldProblem::NotThePeselDate));
                None
            }
            (Some(date), _) | (None, Some(date)) => Some(date),
            (None, None) => {
                if optional(&self.birth_date).is_none() {
                    note(Field::BirthDate, Err(FieldProblem::Required));
                }
                None
            }
        };
        note(Field::AlbumNumber, album_number(&self.album_number));
        note(Field::Phone, phone(&self.phone));
        match birth_date {
            Some(birth_date) if problems.is_empty() => Ok(PersonFields {
                person_number: editing.and_then(|person| person.person_number.clone()),
                first_name: self.first_name.trim().to_owned(),
                middle_name: optional(&self.middle_name).map(str::to_owned),
                last_name: self.last_name.trim().to_owned(),
                birth_date,
                phone_number: optional(&self.phone).map(str::to_owned),
                mobile_number: editing.and_then(|person| person.mobile_number.clone()),
                album_number: optional(&self.album_number).map(str::to_owned),
                pesel: optional(&self.pesel).map(str::to_owned),
            }),
            _ => Err(problems),
        }
    }
}

/// Saves a checked person: a new one (`id` None) with the cardholder record the desk issues
/// cards to, or the changes to person `id`. Both write their outbox rows in the same
/// transaction. Returns the person's id.
pub fn save(
    session: &Session,
    store: &mut Store,
    id: Option<i64>,
    person: &PersonFields,
) -> Result<i64, DeskError> {
    session.require(Action::EditPeople)?;
    let store_error = |err: StoreError| DeskError::Record(err.into());
    match id {
        None => store
            .create_person_with_cardholder(person)
            .map(|(person_id, _)| person_id)
            .map_err(store_error),
        Some(id) => store
            .update_person(id, person)
            .map(|()| id)
            .map_err(store_error),
    }
}

fn optional(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|text| !text.is_empty())
}

fn name(text: &str, required: bool) -> Result<(), FieldProblem> {
    let Some(text) = optional(text) else {
        return if required {
            Err(FieldProblem::Required)
        } else {
            Ok(())
        };
    };
    let allowed = |c: char| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '’');
    if text.chars().count() > MAX_NAME_CHARS
        || !text.chars().all(allowed)
        || !text.chars().any(char::is_alphabetic)
    {
        return Err(FieldProblem::NotAName);
    }
    Ok(())
}

fn pesel_problem(err: &PeselError) -> FieldProblem {
    match err {
        PeselError::WrongLength(_) => FieldProblem::PeselLength,
        PeselError::NotDigits => FieldProblem::PeselNotDigits,
        PeselError::InvalidMonth(_) | PeselError::InvalidBirthDate { .. } => {
            FieldProblem::PeselDate
        }
        PeselError::BadChecksum { .. } => FieldProblem::PeselCheckDigit,
    }
}

fn album_number(text: &str) -> Result<(), FieldProblem> {
    let Some(text) = optional(text) else {
        return Ok(());
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '-');
    if text.chars().count() > MAX_ALBUM_CHARS || !text.chars().all(allowed) {
        return Err(FieldProblem::NotAnAlbumNumber);
    }
    Ok(())
}

fn phone(text: &str) -> Result<(), FieldProblem> {
    let Some(text) = optional(text) else {
        return Ok(());
    };
    let rest = text.strip_prefix('+').unwrap_or(text);
    let digits = rest.chars().filter(char::is_ascii_digit).count();
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '-');
    if !(9..=15).contains(&digits) || !rest.chars().all(allowed) {
        return Err(FieldProblem::NotAPhone);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::config::Role;
    use crate::store::OperatorRole;

    fn draft() -> PersonDraft {
        PersonDraft {
            first_name: "Łucja".into(),
            middle_name: "Zofia".into(),
            last_name: "Żółkiewska-Nowak".into(),
            pesel: "02270803624".into(),
            birth_date: String::new(),
            album_number: "s123456".into(),
            phone: "+48 600 100 200".into(),
        }
    }

    fn problems(draft: &PersonDraft) -> Vec<(Field, FieldProblem)> {
        draft.check(None).unwrap_err()
    }

    #[test]
    fn a_good_draft_becomes_a_person_with_the_birth_date_of_the_pesel() {
        let person = draft().check(None).unwrap();
        assert_eq!(person.birth_date, date!(2002 - 07 - 08));
        assert_eq!(person.last_name, "Żółkiewska-Nowak");
        assert_eq!(person.phone_number.as_deref(), Some("+48 600 100 200"));
        let mut typed = draft();
        typed.birth_date = "2002-07-08".into();
        assert_eq!(typed.check(None).unwrap().birth_date, date!(2002 - 07 - 08));
        // Without a PESEL the typed date is the birth date; empty optional fields are None.
        let bare = PersonDraft {
            first_name: " Jan ".into(),
            last_name: "O'Brien".into(),
            birth_date: "1999-12-31".into(),
            ..PersonDraft::default()
        };
        let person = bare.check(None).unwrap();
        assert_eq!(person.first_name, "Jan");
        assert_eq!((person.pesel, person.album_number), (None, None));
    }

    #[test]
    fn each_bad_field_is_named_with_its_problem() {
        let mut bad = draft();
        bad.pesel = "02270803625".into();
        assert_eq!(
            problems(&bad),
            [
                (Field::Pesel, FieldProblem::PeselCheckDigit),
                (Field::BirthDate, FieldProblem::Required)
            ]
        );
        for (pesel, problem) in [
            ("0227080362", FieldProblem::PeselLength),
            ("0227080362x", FieldProblem::PeselNotDigits),
            ("02330803624", FieldProblem::PeselDate),
        ] {
            bad.pesel = pesel.into();
            bad.birth_date = "2002-07-08".into();
            assert_eq!(problems(&bad), [(Field::Pesel, problem)], "{pesel}");
        }

        let mut bad = draft();
        bad.birth_date = "2002-07-09".into();
        assert_eq!(
            problems(&bad),
            [(Field::BirthDate, FieldProblem::NotThePeselDate)]
        );
        bad.birth_date = "8.07.2002".into();
        assert_eq!(problems(&bad), [(Field::BirthDate, FieldProblem::NotADate)]);

        let bad = PersonDraft {
            first_name: "  ".into(),
            middle_name: "Anna2".into(),
            last_name: "-".into(),
            album_number: "12 34".into(),
            phone: "12345".into(),
            ..draft()
        };
        assert_eq!(
            problems(&bad),
            [
                (Field::FirstName, FieldProblem::Required),
                (Field::MiddleName, FieldProblem::NotAName),
                (Field::LastName, FieldProblem::NotAName),
                (Field::AlbumNumber, FieldProblem::NotAnAlbumNumber),
                (Field::Phone, FieldProblem::NotAPhone),
            ]
        );
        let long = PersonDraft {
            album_number: "1".repeat(MAX_ALBUM_CHARS + 1),
            phone: "+48 600-100-200 1234567".into(),
            ..draft()
        };
        assert_eq!(
            problems(&long),
            [
                (Field::AlbumNumber, FieldProblem::NotAnAlbumNumber),
                (Field::Phone, FieldProblem::NotAPhone),
            ]
        );
    }

    #[test]
    fn an_edit_keeps_what_the_form_does_not_show() {
        let mut before = draft().check(None).unwrap();
        before.person_number = Some("P-7".into());
        before.mobile_number = Some("600".into());
        let mut edited = PersonDraft::of(&before);
        assert_eq!(edited.check(Some(&before)).unwrap(), before);
        edited.set(Field::Phone, String::new());
        let after = edited.check(Some(&before)).unwrap();
        assert_eq!(after.phone_number, None);
        assert_eq!(after.person_number.as_deref(), Some("P-7"));
    }

    #[test]
    fn saving_writes_the_person_a_cardholder_and_their_outbox_rows() {
        let mut store = Store::open_in_memory().unwrap();
        let session = |role| Session {
            operator: "anna".into(),
            role,
            station: Role::Issuance,
        };
        let person = draft().check(None).unwrap();
        let printer = session(OperatorRole::Printer);
        assert!(matches!(
            save(&printer, &mut store, None, &person),
            Err(DeskError::Denied(_))
        ));
        assert_eq!(store.outbox_pending(10).unwrap().len(), 0);

        let anna = session(OperatorRole::Operator);
        let id = save(&anna, &mut store, None, &person).unwrap();
        assert_eq!(store.get_person(id).unwrap().fields, person);
        assert_eq!(store.cardholders_of_person(id).unwrap().len(), 1);
        let mut changed = person.clone();
        changed.last_name = "Nowak".into();
        assert_eq!(save(&anna, &mut store, Some(id), &changed).unwrap(), id);
        let resources: Vec<_> = store
            .outbox_pending(10)
            .unwrap()
            .iter()
            .map(|entry| (entry.resource.as_str(), entry.operation.as_str()))
            .collect();
        assert_eq!(
            resources,
            [
                ("persons", "create"),
                ("cardholders", "create"),
                ("persons", "update")
            ]
        );
    }
}
