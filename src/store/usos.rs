//! USOS prolongations under way (`usos_prolongations`): what the station wrote on a chip from
//! USOS's structure and must still report with `mark_student_card_prolonged`. Kept in the
//! store so a USOS that did not answer, or a station killed in between, leaves a state a
//! retry can finish, instead of a card USOS was never told about. Each change has its audit
//! row (`usos.prolong_*`, subject `chip:<UID>`).

use rusqlite::OptionalExtension;
use serde_json::json;
use time::Date;

use super::{Result, Store, audit, now};

text_enum! {
    /// How far a prolongation got.
    pub enum ProlongationState {
        /// About to write: the chip may hold the old structure or USOS's newer one.
        Writing = "writing",
        /// Written and verified on the chip; USOS has not been told yet.
        Written = "written",
    }
}

/// A prolongation USOS has not been told about yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsosProlongation {
    /// The contact chip's UID, upper-case hex.
    pub chip: String,
    /// The expiry of the structure written (USOS's `expiration_date`).
    pub expires: Date,
    /// The date reported to USOS as `date_prolonged`: the day of the write.
    pub date_prolonged: Date,
    /// The hologram sticker named when the write began (`[holograms] prolong`): it leaves
    /// the stock when the write is recorded, and a retry takes no other.
    pub hologram: Option<i64>,
    pub state: ProlongationState,
    pub operator: String,
    /// Why USOS was not told at the last try.
    pub last_error: Option<String>,
    pub updated_at: String,
}

fn subject(chip: &str) -> String {
    format!("chip:{chip}")
}

impl Store {
    /// Records that USOS's structure expiring `expires` is about to be written to `chip`,
    /// with `hologram` to go on the card (replacing an earlier unfinished attempt on that
    /// chip).
    pub fn usos_prolongation_started(
        &mut self,
        chip: &str,
        expires: Date,
        date_prolonged: Date,
        hologram: Option<i64>,
        operator: &str,
    ) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO usos_prolongations
                     (chip, expires, date_prolonged, hologram, state, operator, last_error,
                      updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
            )?
            .execute((
                chip,
                expires,
                date_prolonged,
                hologram,
                ProlongationState::Writing,
                operator,
                now(),
            ))?;
            let mut details = json!({ "expires": expires.to_string() });
            if let Some(number) = hologram {
                details["hologram"] = number.into();
            }
            audit::append(
                tx,
                operator,
                "usos.prolong_started",
                &subject(chip),
                &details,
            )?;
            Ok(())
        })
    }

    /// The chip verified with the new structure: USOS is to be told next.
    pub fn usos_prolongation_written(&mut self, chip: &str, operator: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE usos_prolongations SET state = ?1, updated_at = ?2 WHERE chip = ?3",
            )?
            .execute((ProlongationState::Written, now(), chip))?;
            audit::append(
                tx,
                operator,
                "usos.prolong_written",
                &subject(chip),
                &json!({}),
            )?;
            Ok(())
        })
    }

    /// USOS was not told this time, for `cause`: kept for the next try.
    pub fn usos_prolongation_not_told(
        &mut self,
        chip: &str,
        cause: &str,
        operator: &str,
    ) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE usos_prolongations SET last_error = ?1, updated_at = ?2 WHERE chip = ?3",
            )?
            .execute((cause, now(), chip))?;
            let details = json!({ "cause": cause });
            audit::append(
                tx,
                operator,
                "usos.prolong_not_told",
                &subject(chip),
                &details,
            )?;
            Ok(())
        })
    }

    /// USOS has been told: the prolongation is finished.
    pub fn usos_prolongation_told(&mut self, chip: &str, operator: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM usos_prolongations WHERE chip = ?1")?
                .execute([chip])?;
            audit::append(
                tx,
                operator,
                "usos.prolong_reported",
                &subject(chip),
                &json!({}),
            )?;
            Ok(())
        })
    }

    /// The unfinished prolongation of `chip` (upper-case hex), if any.
    pub fn usos_prolongation(&self, chip: &str) -> Result<Option<UsosProlongation>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT chip, expires, date_prolonged, hologram, state, operator, last_error,
                        updated_at
                 FROM usos_prolongations WHERE chip = ?1",
            )?
            .query_row([chip], |row| {
                Ok(UsosProlongation {
                    chip: row.get(0)?,
                    expires: row.get(1)?,
                    date_prolonged: row.get(2)?,
                    hologram: row.get(3)?,
                    state: row.get(4)?,
                    operator: row.get(5)?,
                    last_error: row.get(6)?,
                    updated_at: row.get(7)?,
                })
            })
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    #[test]
    fn a_prolongation_goes_from_writing_to_written_to_gone_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let chip = "04A1B2C3D4E5F6";
        {
            let mut store = Store::open(&path).unwrap();
            assert_eq!(store.usos_prolongation(chip).unwrap(), None);
            store
                .usos_prolongation_started(
                    chip,
                    date!(2028 - 10 - 31),
                    date!(2026 - 12 - 04),
                    Some(7001),
                    "anna",
                )
                .unwrap();
            store.usos_prolongation_written(chip, "anna").unwrap();
            store
                .usos_prolongation_not_told(chip, "USOS answered 503", "anna")
                .unwrap();
        }
        // A station killed here finds the same state when it starts again.
        let mut store = Store::open(&path).unwrap();
        let pending = store.usos_prolongation(chip).unwrap().unwrap();
        assert_eq!(pending.state, ProlongationState::Written);
        assert_eq!(pending.expires, date!(2028 - 10 - 31));
        assert_eq!(pending.date_prolonged, date!(2026 - 12 - 04));
        assert_eq!(
            pending.hologram,
            Some(7001),
            "the sticker is kept for the retry"
        );
        assert_eq!(pending.last_error.as_deref(), Some("USOS answered 503"));
        store.usos_prolongation_told(chip, "anna").unwrap();
        assert_eq!(store.usos_prolongation(chip).unwrap(), None);
        let actions: Vec<_> = store
            .audit_entries("chip:04A1B2C3D4E5F6", 10)
            .unwrap()
            .into_iter()
            .map(|entry| entry.action)
            .collect();
        assert_eq!(
            actions,
            [
                "usos.prolong_reported",
                "usos.prolong_not_told",
                "usos.prolong_written",
                "usos.prolong_started"
            ]
        );
        store.audit_verify().unwrap();
    }
}
