//! The ID123 import: every mobile card of a template, page by page, into the store. The
//! client (`remote::id123`) only speaks the API; this joins it to the store.

use thiserror::Error;

use crate::error::Problem;
use crate::remote::id123::{Id123Client, Id123Error};
use crate::store::{MobileCard, Store, StoreError, Upserted};

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub pages: u32,
    /// Cards the server sent that do not fit the model (logged, not stored).
    pub unreadable: usize,
    pub stored: Upserted,
}

#[derive(Debug, Error)]
pub enum ImportError {
    #[error(transparent)]
    Remote(#[from] Id123Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Problem for ImportError {
    fn next_step(&self) -> &'static str {
        match self {
            ImportError::Remote(err) => err.next_step(),
            ImportError::Store(err) => err.next_step(),
        }
    }
}

/// Every card of the template, page after page (`page_size` each) until a short page,
/// each page stored in one transaction as it arrives.
pub async fn import(
    client: &Id123Client,
    store: &mut Store,
    template_id: Option<&str>,
    page_size: u32,
) -> Result<ImportSummary, ImportError> {
    let page_size = page_size.max(1);
    let mut summary = ImportSummary::default();
    let mut offset = 0;
    loop {
        let (cards, unreadable) = client.list_cards(template_id, page_size, offset).await?;
        summary.pages += 1;
        summary.unreadable += unreadable;
        let mobile: Vec<MobileCard> = cards.iter().map(MobileCard::from).collect();
        summary.stored.add(store.upsert_mobile_cards(&mobile)?);
        let received = u32::try_from(cards.len() + unreadable).unwrap_or(u32::MAX);
        if received < page_size {
            return Ok(summary);
        }
        offset += received;
    }
}
