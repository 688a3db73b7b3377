//! The print station's side of the store: the production queue, what a print (or a failed
//! encode) records, print batches and the numbered hologram stock. Every recorded change
//! writes its outbox and audit rows in the same transaction.

use rusqlite::{Connection, OptionalExtension, Row};
use serde_json::json;

use super::cards::move_card;
use super::outbox::{self, Operation, Resource};
use super::search::fold_polish;
use super::{CardStatus, CardType, NewCard, Result, Store, StoreError, audit, found, now};

text_enum! {
    /// CardExchange production status.
    pub enum ProductionStatus {
        ToBeCreated = "to_be_created",
        ToBeProduced = "to_be_produced",
        Produced = "produced",
        ToBeActivated = "to_be_activated",
        /// Local: an order cancelled before it was printed (the API has no such status).
        Cancelled = "cancelled",
        /// Local: a printed card taken back (the API has no such status).
        Withdrawn = "withdrawn",
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

/// Which queued productions a batch prints; the default lets the whole queue through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// Only these productions (the operator's selection); `None`: any.
    pub ids: Option<Vec<i64>>,
    pub card_type: Option<CardType>,
    /// Words each found in the name on the card, the holder's names, album or card number
    /// (any case, Polish letters or not); empty: any.
    pub search: String,
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

/// A hologram number no print batch reserved and no card carries yet.
const FREE: &str = "batch_id IS NULL AND production_id IS NULL AND card_id IS NULL";

/// Why a sticker number cannot go on a card at the desk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HologramRefused {
    #[error("sticker {0} is not in this station's hologram stock")]
    NotInStock(i64),
    #[error("sticker {number} is already on card {card_id}")]
    OnCard { number: i64, card_id: i64 },
    #[error("sticker {number} was already used by the print station (production {production_id})")]
    Printed { number: i64, production_id: i64 },
    #[error("sticker {number} is reserved by print batch {batch_id}")]
    Reserved { number: i64, batch_id: i64 },
}

/// What to do about a sticker refused for a prolongation (the desk's or USOS's).
impl crate::error::Problem for HologramRefused {
    fn next_step(&self) -> &'static str {
        match self {
            HologramRefused::NotInStock(_) => {
                "check the number on the sticker, or add the delivery to the stock (cardstation holograms add FIRST LAST)"
            }
            _ => "take the next sticker from the roll and scan its number",
        }
    }
}

/// Marks free hologram `number` as put on card `card_id`, inside the caller's transaction;
/// a number that is not free is refused with why.
pub(super) fn take_hologram_for_card(tx: &Connection, number: i64, card_id: i64) -> Result<()> {
    let taken = tx
        .prepare_cached(&format!(
            "UPDATE holograms SET card_id = ?1, prolonged_at = ?2 WHERE number = ?3 AND {FREE}"
        ))?
        .execute((card_id, now(), number))?;
    match (taken, hologram_refusal(tx, number)?) {
        (1, _) => Ok(()),
        (_, Some(refused)) => Err(StoreError::Sticker(refused)),
        (_, None) => Err(StoreError::Invalid(format!("sticker {number} is not free"))),
    }
}

fn hologram_refusal(conn: &Connection, number: i64) -> Result<Option<HologramRefused>> {
    let row: Option<(Option<i64>, Option<i64>, Option<i64>)> = conn
        .prepare_cached("SELECT card_id, production_id, batch_id FROM holograms WHERE number = ?1")?
        .query_row([number], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    Ok(match row {
        None => Some(HologramRefused::NotInStock(number)),
        Some((Some(card_id), _, _)) => Some(HologramRefused::OnCard { number, card_id }),
        Some((None, Some(production_id), _)) => Some(HologramRefused::Printed {
            number,
            production_id,
        }),
        Some((None, None, Some(batch_id))) => Some(HologramRefused::Reserved { number, batch_id }),
        Some((None, None, None)) => None,
    })
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

/// What a hand-made change to a production checks first.
struct ProductionState {
    status: ProductionStatus,
    card_id: i64,
    name_on_card: Option<String>,
    tries: i64,
}

fn production_state(conn: &Connection, id: i64) -> Result<ProductionState> {
    found(
        conn.prepare_cached(
            "SELECT status, card_id, name_on_card, number_of_tries FROM productions WHERE id = ?1",
        )?
        .query_row([id], |row| {
            Ok(ProductionState {
                status: row.get(0)?,
                card_id: row.get(1)?,
                name_on_card: row.get(2)?,
                tries: row.get(3)?,
            })
        }),
        "production",
        id,
    )
}

/// A reprint, cancel or withdrawal says why: the audit log keeps it.
fn required_reason<'a>(reason: &'a str, action: &str) -> Result<&'a str> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(StoreError::Invalid(format!(
            "a {action} needs a reason: say why (damaged, misprint, left the university...)"
        )));
    }
    Ok(reason)
}

fn refused(id: i64, why: &str) -> StoreError {
    StoreError::Invalid(format!("production {id} {why}"))
}

fn ended_refusal(id: i64, status: ProductionStatus) -> StoreError {
    refused(
        id,
        &format!("is {status}: it never prints again; order a new card at the desk"),
    )
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
        self.queue_matching(&QueueFilter::default(), limit)
    }

    /// The productions of the queue that `filter` lets through, oldest first: what a batch
    /// of chosen cards prints. A cancelled or withdrawn production is never in it.
    pub fn queue_matching(&self, filter: &QueueFilter, limit: usize) -> Result<Vec<Production>> {
        self.productions_matching("p.status = 'to_be_produced'", "p.id", filter, limit)
    }

    /// Printed productions `filter` lets through, the latest print first: what a reprint or
    /// a withdrawal picks from.
    pub fn printed_matching(&self, filter: &QueueFilter, limit: usize) -> Result<Vec<Production>> {
        self.productions_matching(
            "p.status IN ('produced', 'to_be_activated')",
            "p.printed_on DESC, p.id DESC",
            filter,
            limit,
        )
    }

    fn productions_matching(
        &self,
        status: &str,
        order: &str,
        filter: &QueueFilter,
        limit: usize,
    ) -> Result<Vec<Production>> {
        let columns = PRODUCTION_COLUMNS
            .split(',')
            .map(|column| format!("p.{}", column.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns}, concat_ws(' ', p.name_on_card, h.name_on_card, pe.first_name,
                    pe.middle_name, pe.last_name, pe.album_number, c.card_number)
             FROM productions p JOIN cards c ON c.id = p.card_id
             LEFT JOIN cardholders h ON h.id = coalesce(p.cardholder_id, c.cardholder_id)
             LEFT JOIN persons pe ON pe.id = h.person_id
             WHERE {status} AND (?1 IS NULL OR c.type = ?1)
               AND (?2 IS NULL OR p.id IN (SELECT value FROM json_each(?2)))
             ORDER BY {order}"
        );
        let ids = filter
            .ids
            .as_ref()
            .map(|ids| serde_json::Value::from(ids.clone()).to_string());
        let terms: Vec<String> = filter
            .search
            .split_whitespace()
            .map(|term| fold_polish(term).to_lowercase())
            .collect();
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map((filter.card_type, ids), |row| {
            Ok((production_from_row(row)?, row.get::<_, String>(11)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (production, text) = row?;
            let text = fold_polish(&text).to_lowercase();
            if terms.iter().all(|term| text.contains(term.as_str())) {
                out.push(production);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
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
                         WHERE number = ?3 AND batch_id IS ?4 AND production_id IS NULL
                            AND card_id IS NULL",
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

    /// Puts a printed card back into the queue (damaged, lost before hand-out): its next
    /// print counts as one more try. The API has no production status: a production exists
    /// while its card is `in_production`, so the card goes back there (the server opens a
    /// new production for it) and a queued production create links this one to it.
    pub fn request_reprint(&mut self, id: i64, operator: &str, reason: &str) -> Result<()> {
        let reason = required_reason(reason, "reprint")?;
        self.write(|tx| {
            let state = production_state(tx, id)?;
            match state.status {
                ProductionStatus::Produced | ProductionStatus::ToBeActivated => {}
                ProductionStatus::ToBeCreated | ProductionStatus::ToBeProduced => {
                    return Err(refused(id, "is still in the print queue: print it instead"));
                }
                ended => return Err(ended_refusal(id, ended)),
            }
            tx.prepare_cached(
                "UPDATE productions SET status = 'to_be_produced', printed_on = NULL,
                    deleted_remotely_at = NULL, updated_at = ?1
                 WHERE id = ?2",
            )?
            .execute((now(), id))?;
            let card_from = move_card(tx, state.card_id, CardStatus::InProduction)?;
            outbox::enqueue(
                tx,
                Resource::Productions,
                id,
                Operation::Create,
                json!({
                    "cardLocalId": state.card_id,
                    "nameOnCard": state.name_on_card,
                    "numberOfTries": state.tries,
                }),
            )?;
            let details = json!({"tries": state.tries, "reason": reason, "card_from": card_from});
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

    /// Cancels an order not yet printed: it leaves the queue for good and its card becomes
    /// `withdrawn` (the server then drops the card's production).
    pub fn cancel_production(&mut self, id: i64, operator: &str, reason: &str) -> Result<()> {
        let reason = required_reason(reason, "cancel")?;
        self.end_production(id, operator, reason, ProductionStatus::Cancelled)
    }

    /// Takes a printed card back: the production is `withdrawn`, its card too.
    pub fn withdraw_production(&mut self, id: i64, operator: &str, reason: &str) -> Result<()> {
        let reason = required_reason(reason, "withdraw")?;
        self.end_production(id, operator, reason, ProductionStatus::Withdrawn)
    }

    fn end_production(
        &mut self,
        id: i64,
        operator: &str,
        reason: &str,
        outcome: ProductionStatus,
    ) -> Result<()> {
        self.write(|tx| {
            let state = production_state(tx, id)?;
            let printed = matches!(
                state.status,
                ProductionStatus::Produced | ProductionStatus::ToBeActivated
            );
            match (outcome, state.status) {
                (_, ProductionStatus::Cancelled | ProductionStatus::Withdrawn) => {
                    return Err(ended_refusal(id, state.status));
                }
                (ProductionStatus::Cancelled, _) if printed => {
                    return Err(refused(
                        id,
                        "is already printed: withdraw the card instead of cancelling the order",
                    ));
                }
                (ProductionStatus::Withdrawn, _) if !printed => {
                    return Err(refused(
                        id,
                        "is not printed yet: cancel the order instead of withdrawing a card",
                    ));
                }
                _ => {}
            }
            tx.prepare_cached("UPDATE productions SET status = ?1, updated_at = ?2 WHERE id = ?3")?
                .execute((outcome, now(), id))?;
            let card_from = move_card(tx, state.card_id, CardStatus::Withdrawn)?;
            let action = match outcome {
                ProductionStatus::Cancelled => "production.cancel",
                _ => "production.withdraw",
            };
            let details = json!({"reason": reason, "card": state.card_id, "card_from": card_from});
            audit::append(tx, operator, action, &format!("production:{id}"), &details)?;
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
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT number FROM holograms WHERE {FREE} ORDER BY number"
        ))?;
        let free: Vec<i64> = statement
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let (reserved, used) = self.conn.query_row(
            "SELECT count(*) FILTER (WHERE production_id IS NULL AND batch_id IS NOT NULL),
                    count(*) FILTER (WHERE production_id IS NOT NULL OR card_id IS NOT NULL)
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
                .prepare_cached(&format!(
                    "SELECT number FROM holograms WHERE {FREE} ORDER BY number LIMIT ?1"
                ))?
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

    /// Why sticker `number` cannot go on a card now (`None`: it is free).
    pub fn hologram_refused(&self, number: i64) -> Result<Option<HologramRefused>> {
        hologram_refusal(&self.conn, number)
    }

    /// The sticker the desk last put on card `card_id` at a prolongation.
    pub fn hologram_on_card(&self, card_id: i64) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT number FROM holograms WHERE card_id = ?1
                 ORDER BY prolonged_at DESC, number DESC LIMIT 1",
            )?
            .query_row([card_id], |row| row.get(0))
            .optional()?)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::CardholderFields;
    use crate::store::people::tests::person;

    /// A store with one ordered card per name (student cards, the last one staff).
    fn store_with_orders(names: &[(&str, &str)]) -> (Store, Vec<i64>) {
        let mut store = Store::open_in_memory().unwrap();
        let mut productions = Vec::new();
        for (index, (first, last)) in names.iter().enumerate() {
            let person_id = store.create_person(&person(first, last)).unwrap();
            let holder = store
                .create_cardholder(&CardholderFields::active(person_id))
                .unwrap();
            let card_type = if index + 1 == names.len() {
                CardType::Staff
            } else {
                CardType::Student
            };
            productions.push(
                store
                    .order_card(holder, card_type, None, None, "ala")
                    .unwrap(),
            );
        }
        (store, productions)
    }

    fn print(store: &mut Store, id: i64) {
        store
            .record_printed(&Printed {
                production_id: id,
                chip_serial: "04A1B2C3D4E5F6".into(),
                contact_uid: None,
                contactless_uid: None,
                user_name: "ewa".into(),
                batch_id: None,
                hologram: None,
                job: "job-1".into(),
            })
            .unwrap();
    }

    /// The outbox rows and audit entries written since the counts `before`.
    fn written_since(store: &Store, before: (usize, usize)) -> (Vec<OutboxRow>, usize) {
        let outbox = store.outbox_pending(1000).unwrap();
        let audit = store.audit_entries("", 1000).unwrap().len();
        let rows = outbox[before.0..]
            .iter()
            .map(|entry| (entry.resource, entry.operation, entry.payload.clone()))
            .collect();
        (rows, audit - before.1)
    }

    type OutboxRow = (Resource, Operation, serde_json::Value);

    fn counts(store: &Store) -> (usize, usize) {
        (
            store.outbox_pending(1000).unwrap().len(),
            store.audit_entries("", 1000).unwrap().len(),
        )
    }

    fn card_status_of(store: &Store, production: i64) -> CardStatus {
        let card = store.get_production(production).unwrap().card_id;
        store.get_card(card).unwrap().fields.status
    }

    #[test]
    fn a_reprint_puts_the_card_back_in_production_and_queues_a_production_for_the_server() {
        let (mut store, ids) = store_with_orders(&[("Anna", "Nowak")]);
        print(&mut store, ids[0]);
        let before = counts(&store);

        store
            .request_reprint(ids[0], "ewa", "  damaged in the printer ")
            .unwrap();

        let (rows, audited) = written_since(&store, before);
        let card = store.get_production(ids[0]).unwrap().card_id;
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(
            (rows[0].0, rows[0].1, rows[0].2.clone()),
            (
                Resource::Cards,
                Operation::Update,
                json!({"status": "in_production"})
            )
        );
        assert_eq!(
            (rows[1].0, rows[1].1),
            (Resource::Productions, Operation::Create)
        );
        assert_eq!(rows[1].2["cardLocalId"], json!(card));
        assert_eq!(
            rows[1].2["numberOfTries"],
            json!(1),
            "the first print counted"
        );
        assert_eq!(audited, 1);
        let entry = &store.audit_entries("production.reprint", 1).unwrap()[0];
        assert!(
            entry
                .details
                .contains(r#""reason":"damaged in the printer""#),
            "{}",
            entry.details
        );
        let production = store.get_production(ids[0]).unwrap();
        assert_eq!(production.status, ProductionStatus::ToBeProduced);
        assert_eq!(production.printed_on, None);
        assert_eq!(card_status_of(&store, ids[0]), CardStatus::InProduction);
        assert_eq!(store.productions_to_produce(10).unwrap(), vec![production]);
    }

    #[test]
    fn a_cancelled_order_and_a_withdrawn_card_leave_the_queue_and_tell_the_server() {
        let (mut store, ids) = store_with_orders(&[("Anna", "Nowak"), ("Jan", "Wiśniewski")]);
        print(&mut store, ids[1]);

        let before = counts(&store);
        store
            .cancel_production(ids[0], "ewa", "ordered twice")
            .unwrap();
        let (rows, audited) = written_since(&store, before);
        assert_eq!(
            rows,
            vec![(
                Resource::Cards,
                Operation::Update,
                json!({"status": "withdrawn"})
            )]
        );
        assert_eq!(audited, 1);
        let entry = &store.audit_entries("production.cancel", 1).unwrap()[0];
        assert!(
            entry.details.contains(r#""reason":"ordered twice""#),
            "{}",
            entry.details
        );

        let before = counts(&store);
        store
            .withdraw_production(ids[1], "ewa", "left the university")
            .unwrap();
        let (rows, audited) = written_since(&store, before);
        assert_eq!(
            rows,
            vec![(
                Resource::Cards,
                Operation::Update,
                json!({"status": "withdrawn"})
            )]
        );
        assert_eq!(audited, 1);

        for (id, status) in [
            (ids[0], ProductionStatus::Cancelled),
            (ids[1], ProductionStatus::Withdrawn),
        ] {
            assert_eq!(store.get_production(id).unwrap().status, status);
            assert_eq!(card_status_of(&store, id), CardStatus::Withdrawn);
        }
        assert!(store.productions_to_produce(10).unwrap().is_empty());
        let chosen = QueueFilter {
            ids: Some(ids.clone()),
            ..QueueFilter::default()
        };
        assert!(store.queue_matching(&chosen, 10).unwrap().is_empty());
    }

    #[test]
    fn illegal_transitions_are_refused_and_write_nothing() {
        let (mut store, ids) = store_with_orders(&[("Anna", "Nowak"), ("Jan", "Kowal")]);
        let (queued, printed) = (ids[0], ids[1]);
        print(&mut store, printed);
        type Change = fn(&mut Store, i64, &str, &str) -> Result<()>;
        let reprint: Change = Store::request_reprint;
        let cancel: Change = Store::cancel_production;
        let withdraw: Change = Store::withdraw_production;
        let mut refusals: Vec<(Change, i64, &str, &str)> = vec![
            (reprint, queued, "damaged", "still in the print queue"),
            (cancel, printed, "damaged", "withdraw the card instead"),
            (withdraw, queued, "damaged", "cancel the order instead"),
            (reprint, printed, "  ", "needs a reason"),
            (cancel, queued, "", "needs a reason"),
            (withdraw, printed, "\t", "needs a reason"),
        ];
        let check = |store: &mut Store, refusals: &mut Vec<(Change, i64, &str, &str)>| {
            for (change, id, reason, says) in refusals.drain(..) {
                let before = counts(store);
                let status = store.get_production(id).unwrap().status;
                let card = card_status_of(store, id);
                let err = change(store, id, "ewa", reason).unwrap_err();
                assert!(err.to_string().contains(says), "{err}");
                assert_eq!(counts(store), before, "{err}: nothing written");
                assert_eq!(store.get_production(id).unwrap().status, status);
                assert_eq!(card_status_of(store, id), card);
            }
        };
        check(&mut store, &mut refusals);

        // Once ended, a production takes no further change.
        store
            .cancel_production(queued, "ewa", "ordered twice")
            .unwrap();
        store.withdraw_production(printed, "ewa", "lost").unwrap();
        let mut refusals: Vec<(Change, i64, &str, &str)> = vec![
            (
                reprint,
                queued,
                "damaged",
                "is cancelled: it never prints again",
            ),
            (cancel, queued, "damaged", "is cancelled"),
            (
                reprint,
                printed,
                "damaged",
                "is withdrawn: it never prints again",
            ),
            (withdraw, printed, "damaged", "is withdrawn"),
        ];
        check(&mut store, &mut refusals);
        let err = store.request_reprint(999, "ewa", "damaged").unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    }

    #[test]
    fn a_filter_chooses_by_id_card_type_and_words_of_the_name() {
        let (store, ids) =
            store_with_orders(&[("Anna", "Nowak"), ("Łucja", "Żółw"), ("Jan", "Nowakowski")]);
        let chosen = |filter: QueueFilter| -> Vec<i64> {
            store
                .queue_matching(&filter, 10)
                .unwrap()
                .iter()
                .map(|production| production.id)
                .collect()
        };
        let all = QueueFilter::default();
        assert_eq!(chosen(all.clone()), ids);
        let search = |text: &str| QueueFilter {
            search: text.into(),
            ..all.clone()
        };
        assert_eq!(chosen(search("nowak")), [ids[0], ids[2]]);
        assert_eq!(
            chosen(search("lucja ZOLW")),
            [ids[1]],
            "Polish letters fold"
        );
        assert_eq!(chosen(search("anna nowakowski")), [] as [i64; 0]);
        let staff = QueueFilter {
            card_type: Some(CardType::Staff),
            ..all.clone()
        };
        assert_eq!(chosen(staff), [ids[2]]);
        let picked = QueueFilter {
            ids: Some(vec![ids[2], ids[0], 999]),
            ..all.clone()
        };
        assert_eq!(
            chosen(picked),
            [ids[0], ids[2]],
            "queue order, unknown ids ignored"
        );
        assert_eq!(store.queue_matching(&all, 1).unwrap().len(), 1);
    }

    #[test]
    fn the_printed_list_holds_printed_cards_only_latest_first() {
        let (mut store, ids) =
            store_with_orders(&[("Anna", "Nowak"), ("Jan", "Nowak"), ("Ewa", "Lis")]);
        print(&mut store, ids[0]);
        print(&mut store, ids[1]);
        let printed: Vec<i64> = store
            .printed_matching(&QueueFilter::default(), 10)
            .unwrap()
            .iter()
            .map(|production| production.id)
            .collect();
        assert_eq!(printed, [ids[1], ids[0]]);
        store.withdraw_production(ids[1], "ewa", "lost").unwrap();
        let nowak = QueueFilter {
            search: "nowak".into(),
            ..QueueFilter::default()
        };
        let printed = store.printed_matching(&nowak, 10).unwrap();
        assert_eq!(printed.len(), 1);
        assert_eq!(printed[0].id, ids[0]);
    }
}
