//! Mobile and digital cards imported from ID123: upserted by (source, remote id), one
//! transaction per page, linked to a local card that carries the same barcode.

use rusqlite::Row;
use serde_json::{Map, Value};

use super::{Result, Store, Upserted, now};
use crate::remote::id123::{Id123Card, Id123Field};

/// The local card a mobile card's barcode (`?6` of the upsert) names: the same text in the
/// upsert and in the test that checks it is an index lookup.
macro_rules! card_by_barcode {
    () => {
        "(SELECT id FROM cards WHERE barcode = ?6 AND ?6 IS NOT NULL LIMIT 1)"
    };
}

/// A mobile card as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MobileCard {
    /// Where it came from: `id123`.
    pub source: String,
    pub remote_id: String,
    pub template_id: Option<String>,
    pub status: Option<String>,
    pub sub_status: Option<String>,
    pub barcode: Option<String>,
    pub photo_url: Option<String>,
    /// The card's `name` field, or its name fields joined.
    pub name: Option<String>,
    /// Every name field, key to value.
    pub name_fields: Map<String, Value>,
    pub title: Option<String>,
    pub institution: Option<String>,
    pub expires: Option<String>,
    pub remote_updated_at: Option<String>,
    /// The local card with the same barcode, if any.
    pub card_id: Option<i64>,
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<MobileCard> {
    let name_fields: String = row.get(8)?;
    Ok(MobileCard {
        source: row.get(0)?,
        remote_id: row.get(1)?,
        template_id: row.get(2)?,
        status: row.get(3)?,
        sub_status: row.get(4)?,
        barcode: row.get(5)?,
        photo_url: row.get(6)?,
        name: row.get(7)?,
        name_fields: match serde_json::from_str(&name_fields) {
            Ok(Value::Object(fields)) => fields,
            _ => Map::new(),
        },
        title: row.get(9)?,
        institution: row.get(10)?,
        expires: row.get(11)?,
        remote_updated_at: row.get(12)?,
        card_id: row.get(13)?,
    })
}

/// The store's form of an ID123 card.
impl From<&Id123Card> for MobileCard {
    fn from(card: &Id123Card) -> Self {
        let first = |fields: &[Id123Field], key: &str| {
            fields
                .iter()
                .find(|field| field.key == key)
                .or(fields.first())
                .and_then(Id123Field::text)
        };
        let name_fields: Map<String, Value> = card
            .name_fields
            .iter()
            .map(|field| (field.key.clone(), field.value.clone()))
            .collect();
        let name = card
            .name_fields
            .iter()
            .find(|field| field.key == "name")
            .and_then(Id123Field::text)
            .or_else(|| {
                let joined: Vec<String> = card
                    .name_fields
                    .iter()
                    .filter_map(Id123Field::text)
                    .collect();
                (!joined.is_empty()).then(|| joined.join(" "))
            });
        Self {
            source: "id123".into(),
            remote_id: card.card_id.clone(),
            template_id: card.card_template_id.clone(),
            status: card.card_status.clone(),
            sub_status: card.card_sub_status.clone(),
            barcode: first(&card.barcode, "barcode"),
            photo_url: first(&card.image, "id-photo"),
            name,
            name_fields,
            title: card.card_title.clone(),
            institution: card.institution.clone(),
            expires: card.card_expiration.clone(),
            remote_updated_at: card.last_updated.clone(),
            card_id: None,
        }
    }
}

impl Store {
    /// Inserts or updates one page of mobile cards in one transaction.
    pub fn upsert_mobile_cards(&mut self, cards: &[MobileCard]) -> Result<Upserted> {
        self.write(|tx| {
            let mut counts = Upserted::default();
            for card in cards {
                let existed: bool = tx
                    .prepare_cached(
                        "SELECT count(*) FROM mobile_cards WHERE source = ?1 AND remote_id = ?2",
                    )?
                    .query_row((&card.source, &card.remote_id), |row| row.get(0))?;
                tx.prepare_cached(concat!(
                    "INSERT INTO mobile_cards (source, remote_id, template_id, status, sub_status,
                        barcode, photo_url, name, name_fields, title, institution, expires,
                        remote_updated_at, card_id, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ",
                    card_by_barcode!(),
                    ", ?14)
                     ON CONFLICT (source, remote_id) DO UPDATE SET template_id = ?3, status = ?4,
                        sub_status = ?5, barcode = ?6, photo_url = ?7, name = ?8, name_fields = ?9,
                        title = ?10, institution = ?11, expires = ?12, remote_updated_at = ?13,
                        card_id = excluded.card_id, updated_at = ?14"
                ))?
                .execute((
                    &card.source,
                    &card.remote_id,
                    &card.template_id,
                    &card.status,
                    &card.sub_status,
                    &card.barcode,
                    &card.photo_url,
                    &card.name,
                    Value::Object(card.name_fields.clone()).to_string(),
                    &card.title,
                    &card.institution,
                    &card.expires,
                    &card.remote_updated_at,
                    now(),
                ))?;
                if existed {
                    counts.updated += 1;
                } else {
                    counts.inserted += 1;
                }
            }
            Ok(counts)
        })
    }

    /// The mobile cards from `source`, in import order.
    pub fn mobile_cards(&self, source: &str) -> Result<Vec<MobileCard>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT source, remote_id, template_id, status, sub_status, barcode, photo_url, name,
                name_fields, title, institution, expires, remote_updated_at, card_id
             FROM mobile_cards WHERE source = ?1 ORDER BY id",
        )?;
        let rows = statement.query_map([source], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(remote_id: &str, status: &str) -> MobileCard {
        MobileCard {
            source: "id123".into(),
            remote_id: remote_id.into(),
            template_id: Some("tpl".into()),
            status: Some(status.into()),
            sub_status: None,
            barcode: Some(format!("B{remote_id}")),
            photo_url: Some("https://example.test/p.jpg".into()),
            name: Some("Anna Kowalska".into()),
            name_fields: Map::from_iter([("name".to_owned(), Value::from("Anna Kowalska"))]),
            title: None,
            institution: None,
            expires: None,
            remote_updated_at: None,
            card_id: None,
        }
    }

    #[test]
    fn the_documented_id123_card_maps_to_the_store() {
        let card: Id123Card =
            serde_json::from_str(crate::remote::id123::tests::DOCUMENTED_CARD).unwrap();
        let mobile = MobileCard::from(&card);
        assert_eq!(mobile.barcode.as_deref(), Some("1234567"));
        assert_eq!(
            mobile.photo_url.as_deref(),
            Some("https://id123.test/p/c1.jpg")
        );
        assert_eq!(mobile.name.as_deref(), Some("Anna Kowalska"));
        assert_eq!(mobile.sub_status.as_deref(), Some("claimed"));
        assert_eq!(mobile.remote_id, "c1");
    }

    #[test]
    fn mobile_cards_upsert_by_remote_id() {
        let mut store = Store::open_in_memory().unwrap();
        let first = store
            .upsert_mobile_cards(&[card("1", "active"), card("2", "active")])
            .unwrap();
        assert_eq!((first.inserted, first.updated), (2, 0));
        let again = store.upsert_mobile_cards(&[card("2", "revoked")]).unwrap();
        assert_eq!((again.inserted, again.updated), (0, 1));
        let stored = store.mobile_cards("id123").unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[1].status.as_deref(), Some("revoked"));
        assert_eq!(stored[0].name_fields["name"], "Anna Kowalska");
    }

    #[test]
    fn a_mobile_card_links_to_the_local_card_with_its_barcode() {
        use crate::store::people::tests::person;
        use crate::store::{CardStatus, CardType, CardholderFields, NewCard};
        let mut store = Store::open_in_memory().unwrap();
        let person = store.create_person(&person("Anna", "Kowalska")).unwrap();
        let holder = store
            .create_cardholder(&CardholderFields::active(person))
            .unwrap();
        let card_id = store
            .insert_card(
                &NewCard {
                    cardholder_id: holder,
                    card_number: None,
                    barcode: Some("B7".into()),
                    card_type: CardType::Student,
                    contact_uid: None,
                    contactless_uid: None,
                    chip_serial_number: None,
                    status: CardStatus::Personalized,
                    expires: None,
                    desfire_issued: false,
                },
                "test",
            )
            .unwrap();
        store
            .upsert_mobile_cards(&[card("7", "active"), card("8", "active")])
            .unwrap();
        let stored = store.mobile_cards("id123").unwrap();
        assert_eq!(stored[0].card_id, Some(card_id));
        assert_eq!(stored[1].card_id, None);
    }

    #[test]
    fn the_barcode_link_is_an_index_lookup_not_a_scan_of_the_cards() {
        let store = Store::open_in_memory().unwrap();
        // The upsert's own subquery, its `?6` bound as the upsert binds it.
        let query = concat!("EXPLAIN QUERY PLAN SELECT ", card_by_barcode!());
        let mut statement = store.conn.prepare(query).unwrap();
        statement.raw_bind_parameter(6, "B7").unwrap();
        let mut rows = statement.raw_query();
        let mut plan = String::new();
        while let Some(row) = rows.next().unwrap() {
            plan.push_str(&row.get::<_, String>(3).unwrap());
        }
        assert!(plan.contains("INDEX cards_barcode"), "{plan}");
    }
}
