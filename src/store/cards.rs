//! Cards: binding to a cardholder, the kiosk's lookup by chip UID, and status changes,
//! each with its outbox and audit rows in the same transaction.

use rusqlite::{Connection, Row};
use serde_json::{Value, json};
use time::Date;

use super::outbox::{self, Operation, Resource};
use super::{Result, Store, StoreError, audit, found, now};

text_enum! {
    /// CardExchange card status.
    pub enum CardStatus {
        Initialized = "initialized",
        InProduction = "in_production",
        Personalized = "personalized",
        Withdrawn = "withdrawn",
        Activated = "activated",
        Blocked = "blocked",
        Expired = "expired",
        Blacklisted = "blacklisted",
        Issued = "issued",
        Returned = "returned",
        Destroyed = "destroyed",
        BulkBlocked = "bulk_blocked",
        Linked = "linked",
        Unlinked = "unlinked",
    }
}

impl CardStatus {
    /// Whether the card is in its holder's hands: the only statuses a kiosk accepts. An allow
    /// list, so a card still on its way (initialized, in production), unlinked, expired or
    /// stopped, and any status added later, is refused with its name.
    pub fn in_holders_hands(self) -> bool {
        matches!(
            self,
            CardStatus::Personalized
                | CardStatus::Activated
                | CardStatus::Issued
                | CardStatus::Linked
        )
    }

    /// Whether the card was stopped for good (lost cards are blocked): a desk may issue its
    /// holder a new one.
    pub fn refuses_entry(self) -> bool {
        matches!(
            self,
            CardStatus::Withdrawn
                | CardStatus::Blocked
                | CardStatus::Blacklisted
                | CardStatus::Returned
                | CardStatus::Destroyed
                | CardStatus::BulkBlocked
        )
    }
}

text_enum! {
    /// ELS (student), ELD (doctoral) or ELN (staff).
    pub enum CardType {
        Student = "student",
        Phd = "phd",
        Staff = "staff",
    }
}

impl CardType {
    /// The type a cardholder profile names, by our spelling or by the card's legal code
    /// (ELS, ELD, ELN), in any case; `None` for a profile that names no card type.
    pub fn of_profile(profile: &str) -> Option<Self> {
        let profile = profile.trim().to_lowercase();
        match profile.as_str() {
            "els" => Some(CardType::Student),
            "eld" => Some(CardType::Phd),
            "eln" => Some(CardType::Staff),
            _ => profile.parse().ok(),
        }
    }
}

/// Which chip a UID was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UidKind {
    Contact,
    Contactless,
}

/// A card as the desk records it. UIDs are upper-case hex of the full UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCard {
    pub cardholder_id: i64,
    pub card_number: Option<String>,
    pub barcode: Option<String>,
    pub card_type: CardType,
    pub contact_uid: Option<String>,
    pub contactless_uid: Option<String>,
    pub chip_serial_number: Option<String>,
    pub status: CardStatus,
    pub expires: Option<Date>,
    /// Issued with the university DESFire application (its read key and signed record).
    pub desfire_issued: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub id: i64,
    pub remote_id: Option<String>,
    pub fields: NewCard,
    pub updated_at: String,
    /// When a complete pull found the card, or its cardholder, gone from the server.
    /// Such a card is refused by the kiosk: the server is the register of record, and a
    /// card it no longer knows (or whose holder it deleted) is not one it vouches for. The
    /// row stays for the validations and productions that refer to it.
    pub deleted_remotely_at: Option<String>,
}

/// The columns `card_from_row` reads, as a literal for `concat!`.
macro_rules! card_columns {
    () => {
        "id, remote_id, cardholder_id, card_number, barcode, type, contact_uid,
         contactless_uid, chip_serial_number, status, expires, updated_at,
         coalesce(cards.deleted_remotely_at, (SELECT holder.deleted_remotely_at FROM cardholders
             AS holder WHERE holder.id = cards.cardholder_id)), desfire_issued"
    };
}

/// Chip UIDs are 4, 7 or 10 bytes; contact chip serials up to 16.
const UID_BYTES: std::ops::RangeInclusive<usize> = 4..=16;

/// `uid` as stored: upper-case hex, validated, whatever case it came in.
pub(super) fn normalise_uid(uid: &str) -> Result<String> {
    match hex::decode(uid) {
        Ok(bytes) if UID_BYTES.contains(&bytes.len()) => Ok(hex::encode_upper(bytes)),
        _ => Err(StoreError::Invalid(format!(
            "chip UID {uid:?} is not 4 to 16 bytes of hex"
        ))),
    }
}

impl NewCard {
    fn normalised(&self) -> Result<NewCard> {
        Ok(NewCard {
            contact_uid: self.contact_uid.as_deref().map(normalise_uid).transpose()?,
            contactless_uid: self
                .contactless_uid
                .as_deref()
                .map(normalise_uid)
                .transpose()?,
            ..self.clone()
        })
    }

    pub(super) fn payload(&self) -> Value {
        json!({
            "cardholderLocalId": self.cardholder_id,
            "status": self.status,
            "chipserialNumber": self.chip_serial_number,
            "endDate": self.expires.map(|date| date.to_string()),
            "metadata": {
                "cardNumber": self.card_number,
                "barcode": self.barcode,
                "type": self.card_type,
                "contactUid": self.contact_uid,
                "contactlessUid": self.contactless_uid,
                "desfireIssued": self.desfire_issued,
            },
        })
    }
}

fn card_from_row(row: &Row) -> rusqlite::Result<Card> {
    Ok(Card {
        id: row.get(0)?,
        remote_id: row.get(1)?,
        fields: NewCard {
            cardholder_id: row.get(2)?,
            card_number: row.get(3)?,
            barcode: row.get(4)?,
            card_type: row.get(5)?,
            contact_uid: row.get(6)?,
            contactless_uid: row.get(7)?,
            chip_serial_number: row.get(8)?,
            status: row.get(9)?,
            expires: row.get(10)?,
            desfire_issued: row.get(13)?,
        },
        updated_at: row.get(11)?,
        deleted_remotely_at: row.get(12)?,
    })
}

fn card_status(conn: &Connection, id: i64) -> Result<CardStatus> {
    found(
        conn.prepare_cached("SELECT status FROM cards WHERE id = ?1")?
            .query_row([id], |row| row.get(0)),
        "card",
        id,
    )
}

/// Sets a card's status with its outbox row (the caller audits); returns the status it had.
pub(super) fn move_card(conn: &Connection, id: i64, status: CardStatus) -> Result<CardStatus> {
    let previous = card_status(conn, id)?;
    conn.prepare_cached("UPDATE cards SET status = ?1, updated_at = ?2 WHERE id = ?3")?
        .execute((status, now(), id))?;
    outbox::enqueue(
        conn,
        Resource::Cards,
        id,
        Operation::Update,
        json!({ "status": status }),
    )?;
    Ok(previous)
}

impl Store {
    /// Records a card bound to its cardholder.
    pub fn insert_card(&mut self, card: &NewCard, operator: &str) -> Result<i64> {
        let card = card.normalised()?;
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO cards (cardholder_id, card_number, barcode, type, contact_uid,
                    contactless_uid, chip_serial_number, status, expires, updated_at,
                    desfire_issued)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute((
                card.cardholder_id,
                &card.card_number,
                &card.barcode,
                card.card_type,
                &card.contact_uid,
                &card.contactless_uid,
                &card.chip_serial_number,
                card.status,
                card.expires,
                now(),
                card.desfire_issued,
            ))?;
            let id = tx.last_insert_rowid();
            outbox::enqueue(tx, Resource::Cards, id, Operation::Create, card.payload())?;
            let details = json!({
                "cardholder": card.cardholder_id,
                "contactUid": card.contact_uid,
                "contactlessUid": card.contactless_uid,
                "status": card.status,
            });
            audit::append(tx, operator, "card.bind", &format!("card:{id}"), &details)?;
            Ok(id)
        })
    }

    pub fn get_card(&self, id: i64) -> Result<Card> {
        let sql = concat!("SELECT ", card_columns!(), " FROM cards WHERE id = ?1");
        found(
            self.conn
                .prepare_cached(sql)?
                .query_row([id], card_from_row),
            "card",
            id,
        )
    }

    /// A cardholder's cards, newest first.
    pub fn cards_of_cardholder(&self, cardholder_id: i64) -> Result<Vec<Card>> {
        let sql = concat!(
            "SELECT ",
            card_columns!(),
            " FROM cards WHERE cardholder_id = ?1 ORDER BY id DESC"
        );
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows = statement.query_map([cardholder_id], card_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The type of card `cardholder_id` holds: that of their newest card (an order from
    /// the print queue or the server carries it), else the one their cardholder profile
    /// names, else a student card.
    pub fn card_type_for(&self, cardholder_id: i64) -> Result<CardType> {
        if let Some(newest) = self.cards_of_cardholder(cardholder_id)?.first() {
            return Ok(newest.fields.card_type);
        }
        let profile = self.get_cardholder(cardholder_id)?.fields.profile;
        Ok(profile
            .as_deref()
            .and_then(CardType::of_profile)
            .unwrap_or(CardType::Student))
    }

    /// The kiosk's hot path: one indexed lookup through a cached prepared statement.
    pub fn find_card_by_uid(&self, kind: UidKind, uid: &[u8]) -> Result<Option<Card>> {
        let sql = match kind {
            UidKind::Contact => {
                concat!(
                    "SELECT ",
                    card_columns!(),
                    " FROM cards WHERE contact_uid = ?1"
                )
            }
            UidKind::Contactless => {
                concat!(
                    "SELECT ",
                    card_columns!(),
                    " FROM cards WHERE contactless_uid = ?1"
                )
            }
        };
        let mut statement = self.conn.prepare_cached(sql)?;
        let mut rows = statement.query([hex::encode_upper(uid)])?;
        Ok(rows.next()?.map(card_from_row).transpose()?)
    }

    /// Puts the chips just issued onto a card already in the register (the card printed for
    /// its holder, or a re-issue of the same chip): its UIDs, chip serial, status, expiry and
    /// whether it carries the DESFire application. Its number and barcode stay.
    pub fn record_card_chips(&mut self, id: i64, chips: &NewCard, operator: &str) -> Result<()> {
        let chips = chips.normalised()?;
        self.write(|tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE cards SET contact_uid = coalesce(?1, contact_uid),
                        contactless_uid = coalesce(?2, contactless_uid), chip_serial_number = ?3,
                        status = ?4, expires = ?5, desfire_issued = desfire_issued OR ?6,
                        updated_at = ?7
                     WHERE id = ?8",
                )?
                .execute((
                    &chips.contact_uid,
                    &chips.contactless_uid,
                    &chips.chip_serial_number,
                    chips.status,
                    chips.expires,
                    chips.desfire_issued,
                    now(),
                    id,
                ))?;
            if changed == 0 {
                return Err(StoreError::NotFound { what: "card", id });
            }
            let details = json!({
                "status": chips.status,
                "chipserialNumber": chips.chip_serial_number,
                "endDate": chips.expires.map(|date| date.to_string()),
                "metadata": {
                    "contactUid": chips.contact_uid,
                    "contactlessUid": chips.contactless_uid,
                    "desfireIssued": chips.desfire_issued,
                },
            });
            outbox::enqueue(tx, Resource::Cards, id, Operation::Update, details.clone())?;
            audit::append(tx, operator, "card.chips", &format!("card:{id}"), &details)?;
            Ok(())
        })
    }

    /// A prolongation written on the chip: the card's new expiry (its outbox row carries it
    /// to the server) and, when a hologram sticker went on the card, that number taken from
    /// the stock, with one audit row naming both, in one transaction. A sticker that is not
    /// free refuses the whole change.
    pub fn record_prolongation(
        &mut self,
        id: i64,
        expires: Date,
        hologram: Option<i64>,
        operator: &str,
    ) -> Result<()> {
        self.write(|tx| {
            let changed = tx
                .prepare_cached("UPDATE cards SET expires = ?1, updated_at = ?2 WHERE id = ?3")?
                .execute((expires, now(), id))?;
            if changed == 0 {
                return Err(StoreError::NotFound { what: "card", id });
            }
            outbox::enqueue(
                tx,
                Resource::Cards,
                id,
                Operation::Update,
                json!({ "endDate": expires.to_string() }),
            )?;
            let mut details = json!({ "expires": expires.to_string() });
            if let Some(number) = hologram {
                super::print::take_hologram_for_card(tx, number, id)?;
                details["hologram"] = number.into();
            }
            audit::append(
                tx,
                operator,
                "card.prolong",
                &format!("card:{id}"),
                &details,
            )?;
            Ok(())
        })
    }

    /// Blocks, unblocks or otherwise moves a card; returns the status it had.
    pub fn set_card_status(
        &mut self,
        id: i64,
        status: CardStatus,
        operator: &str,
        reason: &str,
    ) -> Result<CardStatus> {
        self.write(|tx| {
            let previous = move_card(tx, id, status)?;
            let details = json!({"from": previous, "to": status, "reason": reason});
            audit::append(tx, operator, "card.status", &format!("card:{id}"), &details)?;
            Ok(previous)
        })
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::store::CardholderFields;
    use crate::store::people::tests::person;

    fn store_with_cardholder() -> (Store, i64) {
        let mut store = Store::open_in_memory().unwrap();
        let person_id = store.create_person(&person("Anna", "Kowalska")).unwrap();
        let cardholder = store
            .create_cardholder(&CardholderFields::active(person_id))
            .unwrap();
        (store, cardholder)
    }

    fn card(cardholder_id: i64, contactless: &str) -> NewCard {
        NewCard {
            cardholder_id,
            card_number: None,
            barcode: Some("1234567890".into()),
            card_type: CardType::Student,
            contact_uid: None,
            contactless_uid: Some(contactless.into()),
            chip_serial_number: None,
            status: CardStatus::Activated,
            expires: Some(date!(2026 - 03 - 31)),
            desfire_issued: false,
        }
    }

    #[test]
    fn a_prolongation_takes_a_free_sticker_with_its_audit_and_outbox_rows_or_nothing() {
        let (mut store, holder) = store_with_cardholder();
        let card_id = store
            .insert_card(&card(holder, "04a1b2c3d4e5f6"), "anna")
            .unwrap();
        store.add_holograms(100, 104, "anna").unwrap();
        let batch = store.start_batch("piotr", 2).unwrap();
        assert_eq!(batch.holograms, [100, 101]);
        let later = date!(2027 - 03 - 31);
        let outbox_before = store.outbox_pending(1000).unwrap().len();

        // Reserved by the batch, not in stock: refused, and nothing is recorded.
        for (number, why) in [
            (101, "sticker 101 is reserved by print batch"),
            (999, "sticker 999 is not in this station's hologram stock"),
        ] {
            let err = store
                .record_prolongation(card_id, later, Some(number), "anna")
                .unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
            // Typed, so the window gives its cause and next step in Polish too.
            assert!(matches!(err, StoreError::Sticker(_)), "{err:?}");
        }
        assert_eq!(
            store.get_card(card_id).unwrap().fields.expires,
            card(holder, "").expires
        );
        assert_eq!(store.outbox_pending(1000).unwrap().len(), outbox_before);
        assert_eq!(store.hologram_stock().unwrap().free_count(), 3);

        store
            .record_prolongation(card_id, later, Some(103), "anna")
            .unwrap();
        assert_eq!(store.get_card(card_id).unwrap().fields.expires, Some(later));
        assert_eq!(store.hologram_on_card(card_id).unwrap(), Some(103));
        let stock = store.hologram_stock().unwrap();
        assert_eq!(
            (stock.free, stock.reserved, stock.used),
            (vec![(102, 102), (104, 104)], 2, 1)
        );
        let pushed = store.outbox_pending(1000).unwrap();
        let update = pushed.last().unwrap();
        assert_eq!(
            (update.resource, update.local_id),
            (Resource::Cards, card_id)
        );
        assert_eq!(update.payload["endDate"], "2027-03-31");
        let audit = &store.audit_entries("card.prolong", 1).unwrap()[0];
        let details: serde_json::Value = serde_json::from_str(&audit.details).unwrap();
        assert_eq!(details, json!({"expires": "2027-03-31", "hologram": 103}));

        // Used once, refused the second time, and a batch never reserves it.
        assert_eq!(
            store.hologram_refused(103).unwrap(),
            Some(crate::store::HologramRefused::OnCard {
                number: 103,
                card_id
            })
        );
        let err = store
            .record_prolongation(card_id, later, Some(103), "anna")
            .unwrap_err();
        assert!(
            err.to_string().contains("sticker 103 is already on card"),
            "{err}"
        );
        assert_eq!(store.start_batch("piotr", 2).unwrap().holograms, [102, 104]);
    }

    #[test]
    fn a_holders_card_type_comes_from_their_cards_then_their_profile() {
        let (mut store, holder) = store_with_cardholder();
        assert_eq!(store.card_type_for(holder).unwrap(), CardType::Student);

        let mut fields = store.get_cardholder(holder).unwrap().fields;
        fields.profile = Some("ELD".into());
        store.update_cardholder(holder, &fields).unwrap();
        assert_eq!(store.card_type_for(holder).unwrap(), CardType::Phd);
        fields.profile = Some("Staff".into());
        store.update_cardholder(holder, &fields).unwrap();
        assert_eq!(store.card_type_for(holder).unwrap(), CardType::Staff);
        fields.profile = Some("profile-17".into());
        store.update_cardholder(holder, &fields).unwrap();
        assert_eq!(store.card_type_for(holder).unwrap(), CardType::Student);

        // An ordered card says what the holder is, whatever the profile.
        let ordered = NewCard {
            card_type: CardType::Staff,
            ..card(holder, "04a1b2c3d4e5f6")
        };
        store.insert_card(&ordered, "anna").unwrap();
        assert_eq!(store.card_type_for(holder).unwrap(), CardType::Staff);
        assert!(matches!(
            store.card_type_for(holder + 1),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn cards_are_found_by_either_uid_in_full_length() {
        let (mut store, holder) = store_with_cardholder();
        let mut fields = card(holder, "04a1b2c3d4e5f6");
        fields.contact_uid = Some("0102030405060708".into());
        let id = store.insert_card(&fields, "anna").unwrap();

        let by_contactless = store
            .find_card_by_uid(
                UidKind::Contactless,
                &hex::decode("04A1B2C3D4E5F6").unwrap(),
            )
            .unwrap()
            .unwrap();
        assert_eq!(by_contactless.id, id);
        assert_eq!(
            by_contactless.fields.contactless_uid.as_deref(),
            Some("04A1B2C3D4E5F6")
        );
        assert_eq!(by_contactless.fields.expires, Some(date!(2026 - 03 - 31)));
        let by_contact = store
            .find_card_by_uid(UidKind::Contact, &[1, 2, 3, 4, 5, 6, 7, 8])
            .unwrap();
        assert_eq!(by_contact.map(|card| card.id), Some(id));
        // A prefix of the UID is another UID, not this card.
        let prefix = store
            .find_card_by_uid(UidKind::Contactless, &[0x04, 0xA1, 0xB2, 0xC3])
            .unwrap();
        assert_eq!(prefix, None);
        assert_eq!(store.get_card(id).unwrap(), by_contactless);
    }

    #[test]
    fn a_uid_belongs_to_one_card_and_must_be_hex() {
        let (mut store, holder) = store_with_cardholder();
        store
            .insert_card(&card(holder, "04A1B2C3"), "anna")
            .unwrap();
        let err = store
            .insert_card(&card(holder, "04a1b2c3"), "anna")
            .unwrap_err();
        assert!(matches!(err, StoreError::Constraint(_)), "{err:?}");
        for bad in ["04A1B2", "04A1B2CX", ""] {
            let err = store.insert_card(&card(holder, bad), "anna").unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{bad}: {err:?}");
        }
        assert_eq!(store.status().unwrap().cards, 1);
        assert_eq!(store.audit_verify().unwrap(), 1);
    }

    #[test]
    fn blocking_and_unblocking_write_outbox_and_audit_rows() {
        let (mut store, holder) = store_with_cardholder();
        let id = store
            .insert_card(&card(holder, "04A1B2C3"), "anna")
            .unwrap();
        let previous = store
            .set_card_status(id, CardStatus::Blocked, "anna", "reported lost")
            .unwrap();
        assert_eq!(previous, CardStatus::Activated);
        assert!(store.get_card(id).unwrap().fields.status.refuses_entry());
        store
            .set_card_status(id, CardStatus::Activated, "ewa", "found")
            .unwrap();

        let card_updates: Vec<Value> = store
            .outbox_pending(100)
            .unwrap()
            .into_iter()
            .filter(|entry| entry.resource == Resource::Cards)
            .map(|entry| entry.payload)
            .collect();
        assert_eq!(card_updates.len(), 3);
        assert_eq!(card_updates[1], json!({"status": "blocked"}));
        assert_eq!(card_updates[2], json!({"status": "activated"}));
        assert_eq!(store.audit_verify().unwrap(), 3);
        let last_operator: String = store
            .conn
            .query_row(
                "SELECT operator FROM audit_log ORDER BY id DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(last_operator, "ewa");
        assert!(matches!(
            store.set_card_status(id + 1, CardStatus::Blocked, "anna", ""),
            Err(StoreError::NotFound { what: "card", .. })
        ));
    }
}
