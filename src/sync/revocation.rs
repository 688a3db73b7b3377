//! The revocation fast path: between two full pulls, read only the cards in a status a
//! kiosk refuses, so a card blocked at one station is refused at every kiosk within one
//! poll instead of one full pull (about 5,000 requests at 100k people).
//!
//! CardExchange's `GET /cards` filters by one exact `status` per request and has no
//! "changed since" parameter (its other filters are dates of validity, type, layout), so
//! one poll asks page 1
//! of each refusal status: 7 requests. Its `X-Total-Count` tells whether that status gained
//! or lost cards since the last poll; only then are its other pages read. A status with at
//! most one page (100 cards) is therefore read whole every poll. The one change this does not
//! see at once is a swap inside one larger status within one interval (one card leaves it
//! as another enters): that card waits for the full pull, as every card did before.

use std::collections::HashMap;
use std::time::Duration;

use super::{SyncError, blocking};
use crate::remote::cardexchange::{Card, Client, MAX_PER_PAGE, Page};
use crate::store::{Store, Upserted};

/// The card statuses a kiosk refuses (`store::CardStatus`), as the API spells them.
pub const REFUSAL_STATUSES: [&str; 7] = [
    "blocked",
    "blacklisted",
    "bulk_blocked",
    "withdrawn",
    "destroyed",
    "returned",
    "expired",
];

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Polled {
    /// Requests sent (one per status, plus the further pages of statuses that changed).
    pub requests: usize,
    /// Cards read in a refusal status.
    pub cards: usize,
    #[serde(flatten)]
    pub stored: Upserted,
}

/// Polls the refusal statuses; remembers each status's total between polls (a new poller,
/// after a restart, reads every page once).
#[derive(Debug, Default)]
pub struct RevocationPoller {
    totals: HashMap<&'static str, u64>,
}

impl RevocationPoller {
    /// One poll: every refusal status read (changed ones whole), the cards stored as a pull
    /// stores them, then the poll recorded with `stale_after` (`[kiosk]
    /// max_revocation_age_seconds`) for the kiosk's verdicts. A failure records nothing, so
    /// the kiosk's lease runs out if the server stays unreachable.
    pub async fn poll(
        &mut self,
        store: &mut Store,
        client: &Client,
        stale_after: Duration,
    ) -> Result<Polled, SyncError> {
        let mut polled = Polled::default();
        for status in REFUSAL_STATUSES {
            let filter = [("status", status.to_owned())];
            let first: Page<Card> = client.list("cards", 1, MAX_PER_PAGE, &filter).await?;
            polled.requests += 1;
            let total = first.total;
            let last_page = first.last_page;
            let changed = self.totals.get(status) != Some(&total);
            store_page(store, status, first, &mut polled)?;
            if changed {
                for page in 2..=last_page {
                    let next: Page<Card> =
                        client.list("cards", page, MAX_PER_PAGE, &filter).await?;
                    polled.requests += 1;
                    if next.items.is_empty() && next.unreadable == 0 {
                        break;
                    }
                    store_page(store, status, next, &mut polled)?;
                }
            }
            self.totals.insert(status, total);
        }
        blocking(|| store.record_revocation_poll(stale_after))?;
        Ok(polled)
    }
}

fn store_page(
    store: &mut Store,
    status: &str,
    page: Page<Card>,
    polled: &mut Polled,
) -> Result<(), SyncError> {
    // A server that ignores the filter still sends each card's true status, which is what
    // is stored; the poll then only costs more.
    if page
        .items
        .iter()
        .any(|card| card.status.as_deref() != Some(status))
    {
        tracing::warn!(
            status,
            "the server answered cards of other statuses to a status filter"
        );
    }
    polled.cards += page.items.len();
    polled.stored.skipped += page.unreadable;
    polled
        .stored
        .add(blocking(|| store.upsert_remote_cards(&page.items))?);
    Ok(())
}
