//! `CardFace`: everything a layout can print about one card holder, as plain values. The CLI
//! reads it from JSON; the store fills it from a cardholder (names, `profileNumber`,
//! `nameOnCard`, department, metadata) and its card / production (`cardNumber`, dates).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use time::Date;
use time::macros::format_description;

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardFace {
    /// Given names, as printed ("Anna Maria").
    #[serde(default)]
    pub first_name: String,
    /// Surnames, as printed ("Łągiewka-Ślęczkowska").
    #[serde(default)]
    pub last_name: String,
    /// CardExchange `nameOnCard`, when the office shortens long names.
    #[serde(default)]
    pub name_on_card: String,
    /// Student album (index) number.
    #[serde(default)]
    pub album_number: String,
    /// CardExchange `cardNumber`: the displayable card identifier.
    #[serde(default)]
    pub card_number: String,
    /// Value for barcodes when it differs from the card and album numbers.
    #[serde(default)]
    pub barcode_value: String,
    #[serde(default)]
    pub pesel: String,
    #[serde(default)]
    pub university: String,
    #[serde(default)]
    pub faculty: String,
    #[serde(default)]
    pub department: String,
    /// Staff job title.
    #[serde(default)]
    pub position: String,
    /// ISO dates (`2026-10-31`) in JSON; printed the Polish way (`31.10.2026`).
    #[serde(default, with = "iso_date::option")]
    pub issued: Option<Date>,
    #[serde(default, with = "iso_date::option")]
    pub expires: Option<Date>,
    /// A PNG or JPEG portrait; cropped to fill the layout's photo frame.
    #[serde(default)]
    pub photo: Option<PathBuf>,
    /// The store's photo of the holder (README "Photos"); drawn instead of `photo`.
    #[serde(skip)]
    pub stored_photo: Option<StoredPhoto>,
    /// Further values (CardExchange metadata), bound in layouts as `{extra.KEY}`.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// A stored photo's JPEG or PNG bytes; `Debug` shows their length only.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPhoto(pub Vec<u8>);

impl std::fmt::Debug for StoredPhoto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredPhoto({} bytes)", self.0.len())
    }
}

/// Field names a layout may bind besides `extra.KEY`.
pub const FIELD_NAMES: [&str; 14] = [
    "first_name",
    "last_name",
    "full_name",
    "name_on_card",
    "album_number",
    "card_number",
    "barcode_value",
    "pesel",
    "university",
    "faculty",
    "department",
    "position",
    "issued",
    "expires",
];

pub const EXTRA_PREFIX: &str = "extra.";

/// Whether a layout may bind `name`: one of [`FIELD_NAMES`] or `extra.KEY`.
pub fn is_field_name(name: &str) -> bool {
    FIELD_NAMES.contains(&name)
        || name
            .strip_prefix(EXTRA_PREFIX)
            .is_some_and(|key| !key.is_empty())
}

impl CardFace {
    /// Reads a face from JSON; a relative `photo` path is taken from the JSON file's folder.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read card data {}: {err}", path.display()))?;
        let mut face: CardFace = serde_json::from_str(&text)
            .map_err(|err| format!("card data {} is not valid: {err}", path.display()))?;
        if let (Some(photo), Some(dir)) = (&face.photo, path.parent()) {
            face.photo = Some(dir.join(photo));
        }
        Ok(face)
    }

    /// The printed value of a bound field; empty when the card holder has none.
    pub fn field(&self, name: &str) -> String {
        let text = |value: &str| value.trim().to_owned();
        match name {
            "first_name" => text(&self.first_name),
            "last_name" => text(&self.last_name),
            "full_name" => format!("{} {}", self.first_name.trim(), self.last_name.trim())
                .trim()
                .to_owned(),
            "name_on_card" => text(&self.name_on_card),
            "album_number" => text(&self.album_number),
            "card_number" => text(&self.card_number),
            "barcode_value" => text(&self.barcode_value),
            "pesel" => text(&self.pesel),
            "university" => text(&self.university),
            "faculty" => text(&self.faculty),
            "department" => text(&self.department),
            "position" => text(&self.position),
            "issued" => polish_date(self.issued),
            "expires" => polish_date(self.expires),
            _ => name
                .strip_prefix(EXTRA_PREFIX)
                .and_then(|key| self.extra.get(key))
                .map(|value| text(value))
                .unwrap_or_default(),
        }
    }
}

fn polish_date(date: Option<Date>) -> String {
    date.and_then(|date| {
        date.format(format_description!("[day].[month].[year]"))
            .ok()
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_and_dates_read_and_print() {
        let face: CardFace = serde_json::from_str(
            r#"{"first_name": " Żaneta ", "last_name": "Łągiewka-Ślęczkowska",
                "expires": "2026-10-31", "extra": {"room": "B-12"}}"#,
        )
        .unwrap();
        assert_eq!(face.field("first_name"), "Żaneta");
        assert_eq!(face.field("full_name"), "Żaneta Łągiewka-Ślęczkowska");
        assert_eq!(face.field("expires"), "31.10.2026");
        assert_eq!(face.field("issued"), "");
        assert_eq!(face.field("extra.room"), "B-12");
        assert_eq!(face.field("extra.missing"), "");
    }

    #[test]
    fn unknown_json_keys_are_refused_by_name() {
        let err = serde_json::from_str::<CardFace>(r#"{"frist_name": "Anna"}"#).unwrap_err();
        assert!(err.to_string().contains("frist_name"), "{err}");
    }

    #[test]
    fn bindable_names() {
        assert!(is_field_name("album_number"));
        assert!(is_field_name("extra.room"));
        assert!(!is_field_name("extra."));
        assert!(!is_field_name("photo"));
    }
}
