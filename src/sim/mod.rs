//! Simulated cards. The same card model answers APDUs in-process (behind [`Transport`]) for
//! fast unit tests and through the real pcscd via the vsmartcard `vpcd` driver for
//! integration tests, the demo and benchmarks.

pub mod desfire_card;
pub mod dual_card;
pub mod els_card;
pub mod feed;
pub mod printer;
pub mod vpcd;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::card::{Transport, TransportError};

pub use desfire_card::{DesfireCard, DesfireCardState};
pub use dual_card::DualInterfaceCard;
pub use els_card::{CONTACT_ATR, ElsCard, ElsCardState, SimSerial};

/// Loads a card's memory from its state file, or makes a new card when there is none.
fn load_state<S: serde::de::DeserializeOwned>(
    path: &Path,
    new_card: impl FnOnce() -> S,
) -> Result<S, StateFileError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| StateFileError::Parse {
            path: path.to_owned(),
            source,
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(new_card()),
        Err(source) => Err(StateFileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Saves a card's memory; write-then-rename, so a crash never leaves half a card behind.
fn save_state<S: serde::Serialize>(path: &Path, state: &S) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(tmp, path)
}

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot read card state {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("card state {path} is not valid: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// A card as seen from the reader: it answers reset and APDUs.
pub trait VirtualCard: Send {
    fn atr(&self) -> Vec<u8>;
    /// Power-on or warm reset: volatile state (selected file, authentication) is lost.
    fn reset(&mut self);
    /// Answers one command APDU with response data + SW1 SW2.
    fn process(&mut self, apdu: &[u8]) -> Vec<u8>;
    /// The card loses power while executing `apdu`: whatever a real chip would have half-done
    /// by then. By default nothing happens.
    fn tear(&mut self, _apdu: &[u8]) {}
}

/// A card shared between the test that inspects it and the reader slot it sits in; taking
/// it out and putting it back keeps its memory, like a real card.
pub type SharedCard = Arc<Mutex<dyn VirtualCard>>;

pub fn shared(card: impl VirtualCard + 'static) -> SharedCard {
    Arc::new(Mutex::new(card))
}

/// Faults a simulated card can be told to show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Leave the reader instead of answering APDU number N+1: the first N are answered,
    /// the torn one is not executed.
    pub tear_after: Option<u64>,
    /// Time the card takes for each APDU.
    pub delay: Duration,
    /// The reader is unplugged instead of passing APDU number N+1, which the card never
    /// sees. In-process only: vpcd cannot take its readers away, and pcscd reports a vpcd
    /// card whose connection drops as removed, its reader still listed.
    pub unplug_after: Option<u64>,
}

/// What happens to the next APDU under the configured faults.
#[derive(Debug, Default)]
struct FaultClock {
    answered: u64,
}

impl FaultClock {
    /// True when this APDU is the one the card is torn at.
    fn tears_now(&mut self, faults: &Faults) -> bool {
        if faults.tear_after == Some(self.answered) {
            return true;
        }
        if !faults.delay.is_zero() {
            std::thread::sleep(faults.delay);
        }
        self.answered += 1;
        false
    }
}

/// The reader name an in-process card reports when its reader is unplugged.
pub const SIM_READER: &str = "Simulated reader";

/// A simulated card used directly, without pcscd: the fast path for unit tests.
pub struct SimTransport {
    card: SharedCard,
    atr: Vec<u8>,
    faults: Faults,
    clock: FaultClock,
    /// How the card was lost: every later APDU fails the same way.
    gone: Option<TransportError>,
}

impl SimTransport {
    /// Inserts the card (a power-on reset).
    pub fn insert(card: SharedCard, faults: Faults) -> Self {
        let atr = {
            let mut card = lock(&card);
            card.reset();
            card.atr()
        };
        Self {
            card,
            atr,
            faults,
            clock: FaultClock::default(),
            gone: None,
        }
    }

    /// Inserts the card anew, without faults, on every connect.
    pub fn connector(card: SharedCard) -> crate::card::Connect {
        Arc::new(move || Ok(Box::new(Self::insert(card.clone(), Faults::default()))))
    }

    /// APDUs the card answered so far.
    pub fn answered(&self) -> u64 {
        self.clock.answered
    }
}

/// A poisoned lock only means another test thread panicked mid-APDU; the card memory is
/// still the best description of the card.
fn lock(card: &SharedCard) -> std::sync::MutexGuard<'_, dyn VirtualCard + 'static> {
    card.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Transport for SimTransport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        if let Some(gone) = &self.gone {
            return Err(gone.clone());
        }
        if self.faults.unplug_after == Some(self.clock.answered) {
            return Err(self
                .gone
                .insert(TransportError::ReaderGone(SIM_READER.into()))
                .clone());
        }
        if self.clock.tears_now(&self.faults) {
            lock(&self.card).tear(apdu);
            return Err(self.gone.insert(TransportError::CardRemoved).clone());
        }
        Ok(lock(&self.card).process(apdu))
    }
    fn atr(&self) -> &[u8] {
        &self.atr
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        if let Some(gone) = &self.gone {
            return Err(gone.clone());
        }
        lock(&self.card).reset();
        Ok(())
    }
}
