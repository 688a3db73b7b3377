//! How a print station's printer moves a card past its encoder: the feed the print queue
//! drives (blank card in, chip connected, out to the print head or the reject tray), and its
//! PC/SC form for printers whose encoder is a plain reader. The simulated printer's feed for
//! tests is `sim::feed::VpcdFeed`.

use std::time::Duration;

use super::pcsc::{self, PcscTransport};
use super::{Transport, TransportError};

/// The printer's card path: a blank card into the encoder, and out again.
pub trait CardFeed {
    /// Brings the next blank card into the encoder and connects to its chip.
    fn next_card(&mut self) -> Result<Box<dyn Transport>, TransportError>;
    /// Sends the card in the encoder on: to the print head, or to the reject tray.
    fn eject(&mut self, to: Eject) -> Result<(), TransportError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eject {
    ToPrinter,
    Reject,
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
    fn next_card(&mut self) -> Result<Box<dyn Transport>, TransportError> {
        let name = pcsc::wait_for_card(self.reader.as_deref(), self.wait)?;
        Ok(Box::new(PcscTransport::connect_exclusive(
            &name, self.wait,
        )?))
    }

    fn eject(&mut self, _to: Eject) -> Result<(), TransportError> {
        let filter = self.reader.as_deref();
        let deadline = std::time::Instant::now() + self.wait;
        while pcsc::choose_reader(filter).is_ok_and(|reader| reader.card_present) {
            if std::time::Instant::now() >= deadline {
                return Err(TransportError::Timeout);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}
