//! The print station's side of the store: the production queue, what a print (or a failed
//! encode) records, print batches and the numbered hologram stock. Every recorded change
//! writes its outbox and audit rows in the same transaction.

use rusqlite::{Connection, OptionalExtension, Row};
use serde_json::json;

use super::outbox::{self, Operation, Resource};
use super::{CardStatus, CardType, NewCard, Result, Store, StoreError, audit, found, now};

text_enum! {
    /// CardExchange production status.
    pub enum ProductionStatus {
        ToBeCreated = "to_be_created",
        ToBeProduced = "to_be_produced",
        Produced = "produced",
        ToBeActivated = "to_be_activated",
    }
}

/// A card to produce (or produced), as the server's production object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Production {
    pub id: i64,
    pub remote_id: Option<String>,
    pub person_id: Option<i64>,
    pub cardholder_id: Option<i64>,
    pub card_id: i64,
    pub name_on_card: Option<String>,
    pub chip_serial_number: Option<String>,
    pub user_name: Option<String>,
    pub printed_on: Option<String>,
    pub number_of_tries: i64,
    pub status: ProductionStatus,
}

const PRODUCTION_COLUMNS: &str = "id, remote_id, person_id, cardholder_id, card_id, name_on_card,
    chip_serial_number, user_name, printed_on, number_of_tries, status";

fn production_from_row(row: &Row) -> rusqlite::Result<Production> {
    Ok(Production {
        id: row.get(0)?,
        remote_id: row.get(1)?,
        person_id: row.get(2)?,
        cardholder_id: row.get(3)?,
        card_id: row.get(4)?,
        name_on_card: row.get(5)?,
        chip_serial_number: row.get(6)?,
        user_name: row.get(7)?,
        printed_on: row.get(8)?,
        number_of_tries: row.get(9)?,
        status: row.get(10)?,
    })
}

/// What a card that was encoded, read back and printed records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    pub production_id: i64,
    /// The serial of the chip read back after encoding (`chipserialNumber`).
    pub chip_serial: String,
    /// UIDs of the chips encoded, upper-case hex: the card row gets them.
    pub contact_uid: Option<String>,
    pub contactless_uid: Option<String>,
    /// The operator (`userName`).
    pub user_name: String,
    /// The batch the card was printed in and the hologram it carries, if the batch uses them.
    pub batch_id: Option<i64>,
    pub hologram: Option<i64>,
    /// The printer's job id, for the audit log.
    pub job: String,
}

/// A run of the queue, with the hologram numbers reserved for it (lowest free first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub id: i64,
    pub holograms: Vec<i64>,
}

/// Hologram stock: free numbers as inclusive ranges, and how many are used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HologramStock {
    pub free: Vec<(i64, i64)>,
    pub reserved: i64,
    pub used: i64,
}

impl HologramStock {
    pub fn free_count(&self) -> i64 {
        self.free.iter().map(|(first, last)| last - first + 1).sum()
    }
}

/// `numbers` (sorted) as inclusive ranges of consecutive numbers.
pub fn ranges(numbers: &[i64]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &number in numbers {
        match out.last_mut() {
            Some((_, last)) if *last + 1 == number => *last = number,
            _ => out.push((number, number)),
        }
    }
    out
}

fn production_tries(conn: &Connection, id: i64) -> Result<i64> {
    found(
        conn.prepare_cached("SELECT number_of_tries FROM productions WHERE id = ?1")?
            .query_row([id], |row| row.get(0)),
        "production",
        id,
    )
}

impl Store {
    pub fn get_production(&self, id: i64) -> Result<Production> {
        let sql = format!("SELECT {PRODUCTION_COLUMNS} FROM productions WHERE id = ?1");
        found(
            self.conn
                .prepare_cached(&sql)?
                .query_row([id], production_from_row),
            "production",
            id,
        )
    }

    /// Orders a new card for a cardholder: a card in production and its production in the
    /// print queue, with their outbox and audit rows, in one transaction. Returns the
    /// production's id.
    pub fn order_card(
        &mut self,
        cardholder_id: i64,
        card_type: CardType,
        card_number: Option<&str>,
        expires: Option<time::Date>,
        operator: &str,
    ) -> Result<i64> {
        self.write(|tx| {
            let (person_id, name_on_card): (Option<i64>, Option<String>) = found(
                tx.prepare_cached("SELECT person_id, name_on_card FROM cardholders WHERE id = ?1")?
                    .query_row([cardholder_id], |row| Ok((row.get(0)?, row.get(1)?))),
                "cardholder",
                cardholder_id,
            )?;
            let card = NewCard {
                cardholder_id,
                card_number: card_number.map(str::to_owned),
                barcode: None,
                card_type,
                contact_uid: None,
                contactless_uid: None,
                chip_serial_number: None,
                status: CardStatus::InProduction,
                expires,
                desfire_issued: false,
            };
            let at = now();
            tx.prepare_cached(
                "INSERT INTO cards (cardholder_id, card_number, type, status, expires, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute((cardholder_id, card_number, card_type, card.status, expires, &at))?;
            let card_id = tx.last_insert_rowid();
            outbox::enqueue(tx, Resource::Cards, card_id, Operation::Create, card.payload())?;
            tx.prepare_cached(
                "INSERT INTO productions (person_id, cardholder_id, card_id, name_on_card, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute((person_id, cardholder_id, card_id, &name_on_card, &at))?;
            let production_id = tx.last_insert_rowid();
            outbox::enqueue(
                tx,
                Resource::Productions,
                production_id,
                Operation::Create,
                json!({
                    "personLocalId": person_id,
                    "cardholderLocalId": cardholder_id,
                    "cardLocalId": card_id,
                    "nameOnCard": name_on_card,
                    "numberOfTries": 0,
                }),
            )?;
            audit::append(
                tx,
                operator,
                "card.order",
                &format!("production:{production_id}"),
                &json!({ "cardholder": cardholder_id, "card": card_id }),
            )?;
            Ok(production_id)
        })
    }

    /// The print queue: productions still to be produced, oldest first.
    pub fn productions_to_produce(&self, limit: usize) -> Result<Vec<Production>> {
        let sql = format!(
            "SELECT {PRODUCTION_COLUMNS} FROM productions WHERE status = 'to_be_produced'
             ORDER BY id LIMIT ?1"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map([limit as i64], production_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A card that was encoded, verified and printed: the production becomes `produced` with
    /// its print date, one more try, the chip's serial and the operator; the card gets the
    /// chip UIDs and becomes `personalized`; the hologram is marked used.
    pub fn record_printed(&mut self, printed: &Printed) -> Result<Production> {
        let contact = printed
            .contact_uid
            .as_deref()
            .map(super::cards::normalise_uid)
            .transpose()?;
        let contactless = printed
            .contactless_uid
            .as_deref()
            .map(super::cards::normalise_uid)
            .transpose()?;
        let id = printed.production_id;
        self.write(|tx| {
            let tries = production_tries(tx, id)? + 1;
            let at = now();
            tx.prepare_cached(
                "UPDATE productions SET printed_on = ?1, number_of_tries = ?2,
                    chip_serial_number = ?3, user_name = ?4, status = 'produced', updated_at = ?1
                 WHERE id = ?5",
            )?
            .execute((&at, tries, &printed.chip_serial, &printed.user_name, id))?;
            outbox::enqueue(
                tx,
                Resource::Productions,
                id,
                Operation::Update,
                json!({
                    "printedOn": at,
                    "numberOfTries": tries,
                    "chipserialNumber": printed.chip_serial,
                    "userName": printed.user_name,
                }),
            )?;
            let card_id: i64 = tx
                .prepare_cached("SELECT card_id FROM productions WHERE id = ?1")?
                .query_row([id], |row| row.get(0))?;
            let status = CardStatus::Personalized;
            tx.prepare_cached(
                "UPDATE cards SET contact_uid = coalesce(?1, contact_uid),
                    contactless_uid = coalesce(?2, contactless_uid), chip_serial_number = ?3,
                    status = ?4, updated_at = ?5, desfire_issued = desfire_issued OR ?7
                 WHERE id = ?6",
            )?
            .execute((
                &contact,
                &contactless,
                &printed.chip_serial,
                status,
                &at,
                card_id,
                // The encoder sets the contactless UID only when it wrote the DESFire
                // application.
                contactless.is_some(),
            ))?;
            outbox::enqueue(
                tx,
                Resource::Cards,
                card_id,
                Operation::Update,
                json!({
                    "status": status,
                    "chipserialNumber": printed.chip_serial,
                    "metadata": {
                        "contactUid": contact,
                        "contactlessUid": contactless,
                        "desfireIssued": contactless.is_some(),
                    },
                }),
            )?;
            if let Some(hologram) = printed.hologram {
                let taken = tx
                    .prepare_cached(
                        "UPDATE holograms SET production_id = ?1, used_at = ?2
                         WHERE number = ?3 AND batch_id IS ?4 AND production_id IS NULL",
                    )?
                    .execute((id, &at, hologram, printed.batch_id))?;
                if taken != 1 {
                    return Err(StoreError::Invalid(format!(
                        "hologram {hologram} is not a free number of this batch"
                    )));
                }
            }
            let details = json!({
                "card": card_id,
                "chip": printed.chip_serial,
                "tries": tries,
                "hologram": printed.hologram,
                "batch": printed.batch_id,
                "job": printed.job,
            });
            audit::append(
                tx,
                &printed.user_name,
                "production.print",
                &format!("production:{id}"),
                &details,
            )?;
            Ok(())
        })?;
        self.get_production(id)
    }

    /// A try that produced no card (the encode failed, or the printer refused the job):
    /// one more try, the production stays in the queue. Returns the tries so far.
    pub fn record_failed_try(&mut self, id: i64, operator: &str, reason: &str) -> Result<i64> {
        self.write(|tx| {
            let tries = production_tries(tx, id)? + 1;
            tx.prepare_cached(
                "UPDATE productions SET number_of_tries = ?1, updated_at = ?2 WHERE id = ?3",
            )?
            .execute((tries, now(), id))?;
            outbox::enqueue(
                tx,
                Resource::Productions,
                id,
                Operation::Update,
                json!({ "numberOfTries": tries }),
            )?;
            let details = json!({"tries": tries, "reason": reason});
            audit::append(
                tx,
                operator,
                "production.failed_try",
                &format!("production:{id}"),
                &details,
            )?;
            Ok(tries)
        })
    }

    /// Puts a produced card back into the queue (damaged, lost before hand-out): its next
    /// print counts as one more try.
    pub fn request_reprint(&mut self, id: i64, operator: &str, reason: &str) -> Result<()> {
        self.write(|tx| {
            let tries = production_tries(tx, id)?;
            tx.prepare_cached(
                "UPDATE productions SET status = 'to_be_produced', updated_at = ?1 WHERE id = ?2",
            )?
            .execute((now(), id))?;
            let details = json!({"tries": tries, "reason": reason});
            audit::append(
                tx,
                operator,
                "production.reprint",
                &format!("production:{id}"),
                &details,
            )?;
            Ok(())
        })
    }

    /// Adds hologram numbers `first..=last` to the stock; a number already known is refused.
    pub fn add_holograms(&mut self, first: i64, last: i64, operator: &str) -> Result<i64> {
        if first < 1 || last < first {
            return Err(StoreError::Invalid(format!(
                "hologram numbers {first}..{last} are not a range of positive numbers"
            )));
        }
        self.write(|tx| {
            let at = now();
            let mut insert =
                tx.prepare_cached("INSERT INTO holograms (number, added_at) VALUES (?1, ?2)")?;
            for number in first..=last {
                insert.execute((number, &at))?;
            }
            let details = json!({"first": first, "last": last});
            audit::append(tx, operator, "holograms.add", "holograms", &details)?;
            Ok(last - first + 1)
        })
    }

    pub fn hologram_stock(&self) -> Result<HologramStock> {
        let mut statement = self.conn.prepare_cached(
            "SELECT number FROM holograms WHERE batch_id IS NULL AND production_id IS NULL
             ORDER BY number",
        )?;
        let free: Vec<i64> = statement
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let (reserved, used) = self.conn.query_row(
            "SELECT count(*) FILTER (WHERE production_id IS NULL AND batch_id IS NOT NULL),
                    count(*) FILTER (WHERE production_id IS NOT NULL)
             FROM holograms",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(HologramStock {
            free: ranges(&free),
            reserved,
            used,
        })
    }

    /// Starts a batch, reserving the `holograms` lowest free numbers for it; refused when
    /// the stock has fewer.
    pub fn start_batch(&mut self, operator: &str, holograms: usize) -> Result<Batch> {
        self.write(|tx| {
            tx.prepare_cached("INSERT INTO print_batches (operator, started_at) VALUES (?1, ?2)")?
                .execute((operator, now()))?;
            let id = tx.last_insert_rowid();
            let numbers: Vec<i64> = tx
                .prepare_cached(
                    "SELECT number FROM holograms WHERE batch_id IS NULL AND production_id IS NULL
                     ORDER BY number LIMIT ?1",
                )?
                .query_map([holograms as i64], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if numbers.len() < holograms {
                return Err(StoreError::HologramsShort {
                    needed: holograms,
                    free: numbers.len(),
                });
            }
            let mut reserve =
                tx.prepare_cached("UPDATE holograms SET batch_id = ?1 WHERE number = ?2")?;
            for number in &numbers {
                reserve.execute((id, number))?;
            }
            let details = json!({"holograms": ranges(&numbers)});
            audit::append(
                tx,
                operator,
                "batch.start",
                &format!("batch:{id}"),
                &details,
            )?;
            Ok(Batch {
                id,
                holograms: numbers,
            })
        })
    }

    /// Ends a batch: hologram numbers it reserved but did not use go back to stock.
    /// Returns how many went back.
    pub fn finish_batch(&mut self, id: i64, operator: &str) -> Result<usize> {
        self.write(|tx| {
            tx.prepare_cached("UPDATE print_batches SET finished_at = ?1 WHERE id = ?2")?
                .execute((now(), id))?;
            let returned = tx
                .prepare_cached(
                    "UPDATE holograms SET batch_id = NULL
                     WHERE batch_id = ?1 AND production_id IS NULL",
                )?
                .execute([id])?;
            let details = json!({"holograms_returned": returned});
            audit::append(
                tx,
                operator,
                "batch.finish",
                &format!("batch:{id}"),
                &details,
            )?;
            Ok(returned)
        })
    }

    /// The hologram a production's card carries (the last one, after reprints).
    pub fn hologram_of(&self, production_id: i64) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT number FROM holograms WHERE production_id = ?1
                 ORDER BY used_at DESC, number DESC LIMIT 1",
            )?
            .query_row([production_id], |row| row.get(0))
            .optional()?)
    }
}
