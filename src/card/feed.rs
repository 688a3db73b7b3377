//! How a print station's printer moves a card past its encoder: the feed the print queue
//! drives (blank card in, chip connected, out to the print head or the reject tray). Two
//! forms: [`PcscFeed`] for printers that position each card themselves and whose encoder is
//! a plain PC/SC reader (the station only waits for the card), and
//! [`super::printer_evolis::EvolisFeed`] for printers the station tells where to move the
//! card. The simulated feeds for tests are `sim::feed::VpcdFeed` and `sim::printer`.

use std::time::Duration;

use super::pcsc::{self, PcscTransport};
use super::{Transport, TransportError};
use crate::error::Problem;

/// The printer's card path: a blank card into the encoder, and out again.
pub trait CardFeed {
    /// Brings the next blank card into the encoder and connects to its chip.
    fn next_card(&mut self) -> Result<Box<dyn Transport>, FeedError>;
    /// Sends the card in the encoder on: to the print head, or to the reject tray.
    fn eject(&mut self, to: Eject) -> Result<(), FeedError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eject {
    ToPrinter,
    Reject,
}

/// Why the feed could not move a card or reach its chip.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The encoder's reader (or pcscd) failed, or no card arrived in it.
    #[error("the encoder reader: {0}")]
    Reader(#[from] TransportError),
    /// Nothing answers at the printer's address.
    #[error("the printer at {address} does not answer: {cause}")]
    NoAnswer { address: String, cause: String },
    /// The printer answered, but refused or failed the command.
    #[error("the printer at {address} refused \"{command}\": {reply}")]
    Refused {
        address: String,
        command: String,
        reply: String,
    },
}

impl Problem for FeedError {
    fn next_step(&self) -> &'static str {
        match self {
            FeedError::Reader(TransportError::Timeout) => {
                "fill the printer's input hopper and check the encoder reader, then run the batch again"
            }
            FeedError::Reader(err) => err.next_step(),
            FeedError::NoAnswer { .. } => {
                "check that the printer is switched on and on the network, and that [printer] feed_address names it; then run the batch again"
            }
            FeedError::Refused { .. } => {
                "look at the printer (hopper empty, card jam, cover open), clear it, take out any card left inside, then run the batch again"
            }
        }
    }
}

/// Waits up to `wait` for a card in the encoder reader (`reader`: a name or part of it) and
/// connects to it exclusively, so no other program talks to the chip mid-encode.
pub fn connect_encoder(
    reader: Option<&str>,
    wait: Duration,
) -> Result<Box<dyn Transport>, TransportError> {
    let name = pcsc::wait_for_card(reader, wait)?;
    Ok(Box::new(PcscTransport::connect_exclusive(&name, wait)?))
}

/// A printer whose encoder is a PC/SC reader: the printer feeds the card there, the station
/// connects, and after the eject waits until the card has left the reader.
pub struct PcscFeed {
    reader: Option<String>,
    wait: Duration,
}

impl PcscFeed {
    /// `reader`: a reader name or part of it; `wait`: how long a card may take to arrive.
    pub fn new(reader: Option<&str>, wait: Duration) -> Self {
        Self {
            reader: reader.map(str::to_owned),
            wait,
        }
    }
}

impl CardFeed for PcscFeed {
    fn next_card(&mut self) -> Result<Box<dyn Transport>, FeedError> {
        Ok(connect_encoder(self.reader.as_deref(), self.wait)?)
    }

    fn eject(&mut self, _to: Eject) -> Result<(), FeedError> {
        let filter = self.reader.as_deref();
        let deadline = std::time::Instant::now() + self.wait;
        while pcsc::choose_reader(filter).is_ok_and(|reader| reader.card_present) {
            if std::time::Instant::now() >= deadline {
                return Err(TransportError::Timeout.into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}
