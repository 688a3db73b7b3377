//! A simulated card printer's feed for the print queue: every card the station asks for is a
//! new blank DESFire card put into a vpcd virtual reader, so the station reaches it through
//! the real pcscd; faults can be planned per card (e.g. torn at card 10); ejecting takes the
//! card out again. Tests, the benchmark and `cardstation print --simulate` use it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{DesfireCard, DesfireCardState, Faults, SharedCard, vpcd};
use crate::card::feed::{CardFeed, Eject, FeedError};
use crate::card::pcsc;
use crate::card::{Transport, TransportError};

/// A card the feed put into the reader, with where it went.
pub struct FedCard {
    pub uid: Vec<u8>,
    pub card: Arc<Mutex<DesfireCard>>,
    pub ejected: Option<Eject>,
}

pub struct VpcdFeed {
    port: u16,
    reader: String,
    /// UIDs are `04` followed by this number plus the card count, big-endian in 6 bytes.
    first_serial: u64,
    faults: BTreeMap<usize, Faults>,
    fed: Vec<FedCard>,
    inserted: Option<vpcd::InsertedCard>,
    wait: Duration,
}

impl VpcdFeed {
    /// Feeds blank cards into the vpcd reader on `port`; their UIDs count up from
    /// `first_serial`. Hold the reader's [`vpcd::lock_reader`] while it runs.
    pub fn new(port: u16, first_serial: u64) -> Self {
        Self {
            port,
            reader: vpcd::reader_name(port),
            first_serial,
            faults: BTreeMap::new(),
            fed: Vec::new(),
            inserted: None,
            wait: Duration::from_secs(10),
        }
    }

    /// Card number `n` (from 1) of this feed shows `faults`.
    pub fn with_faults(mut self, n: usize, faults: Faults) -> Self {
        self.faults.insert(n, faults);
        self
    }

    /// Every card fed so far, in order.
    pub fn fed(&self) -> &[FedCard] {
        &self.fed
    }

    fn card_present(&self) -> bool {
        pcsc::list_readers().is_ok_and(|readers| {
            readers
                .iter()
                .any(|r| r.name == self.reader && r.card_present)
        })
    }

    fn wait_until_empty(&self) -> Result<(), TransportError> {
        let deadline = Instant::now() + self.wait;
        while self.card_present() {
            if Instant::now() >= deadline {
                return Err(TransportError::Timeout);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

impl CardFeed for VpcdFeed {
    fn next_card(&mut self) -> Result<Box<dyn Transport>, FeedError> {
        let number = self.fed.len() + 1;
        let serial = (self.first_serial + number as u64).to_be_bytes();
        let mut uid = vec![0x04];
        uid.extend_from_slice(&serial[2..]);
        let card = Arc::new(Mutex::new(DesfireCard::new(DesfireCardState::blank(&uid))));
        let shared: SharedCard = card.clone();
        let faults = self.faults.get(&number).copied().unwrap_or_default();
        let inserted = vpcd::insert(shared, self.port, faults, self.wait)
            .map_err(|err| TransportError::Subsystem(err.to_string()))?;
        self.inserted = Some(inserted);
        self.fed.push(FedCard {
            uid,
            card,
            ejected: None,
        });
        Ok(crate::card::feed::connect_encoder(
            Some(&self.reader),
            self.wait,
        )?)
    }

    fn eject(&mut self, to: Eject) -> Result<(), FeedError> {
        if let Some(inserted) = self.inserted.take() {
            // A torn card has left already; either way it is out.
            let _ = inserted.remove();
        }
        if let Some(card) = self.fed.last_mut() {
            card.ejected = Some(to);
        }
        Ok(self.wait_until_empty()?)
    }
}
