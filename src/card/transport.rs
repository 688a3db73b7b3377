//! The seam between card logic and card access: a tiny transport trait (the openpgp-card
//! `card-backend` model), its errors, and the reader events the watcher emits.

use crate::error::Problem;

/// Sends raw command APDUs to one card and returns the raw response (data + SW1 SW2).
/// PC/SC, the in-process simulator and scripted fakes all implement it, so every workflow
/// runs the same against a real reader and in a unit test.
pub trait Transport: Send {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// The card's answer to reset.
    fn atr(&self) -> &[u8];

    /// Reconnects to the same card after it was reset by someone else. The card's security
    /// state and current file are gone afterwards: callers restart their sequence.
    fn reconnect(&mut self) -> Result<(), TransportError>;
}

/// Opens a new transport to one card each time it is called: how a workflow is given a card
/// that is not behind a PC/SC reader (in tests, a simulated card in-process).
pub type Connect =
    std::sync::Arc<dyn Fn() -> Result<Box<dyn Transport>, TransportError> + Send + Sync>;

impl<T: Transport + ?Sized> Transport for &mut T {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
    fn atr(&self) -> &[u8] {
        (**self).atr()
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        (**self).reconnect()
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
    fn atr(&self) -> &[u8] {
        (**self).atr()
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        (**self).reconnect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The card left the reader (pulled out, or torn mid-command). Nothing after the last
    /// answered APDU is known to have happened.
    #[error("the card was removed from the reader")]
    CardRemoved,
    /// The reader itself went away (unplugged, or its USB link lost) while a card in it was
    /// being talked to. As with [`TransportError::CardRemoved`], nothing after the last
    /// answered APDU is known to have happened.
    #[error("the reader \"{0}\" was disconnected")]
    ReaderGone(String),
    #[error("the card was reset by another program; the operation must start again")]
    CardReset,
    #[error("no card in reader \"{0}\"")]
    NoCard(String),
    #[error("no reader matches \"{0}\"")]
    NoSuchReader(String),
    #[error("no smart-card reader is connected")]
    NoReaders,
    #[error("the smart-card service (pcscd) is not running")]
    NoService,
    #[error("reader \"{0}\" is in use by another program")]
    Busy(String),
    #[error("timed out waiting for a card")]
    Timeout,
    #[error("card protocol error: {0}")]
    Protocol(String),
    #[error("smart-card subsystem error: {0}")]
    Subsystem(String),
}

impl Problem for TransportError {
    /// What the operator should do next.
    fn next_step(&self) -> &'static str {
        match self {
            TransportError::CardRemoved => "put the card back on the reader and try again",
            TransportError::ReaderGone(_) => "plug the reader back in and try again",
            TransportError::CardReset => "try again; close other programs that use the reader",
            TransportError::NoCard(_) | TransportError::Timeout => "put a card on the reader",
            TransportError::NoSuchReader(_) => "run `cardstation readers` to see the reader names",
            TransportError::NoReaders => "connect a reader",
            TransportError::NoService => {
                "start the smart-card service: `pcscd` (install with `apt-get install pcscd`)"
            }
            TransportError::Busy(_) => "close the other program that holds the reader",
            TransportError::Protocol(_) => {
                "take the card off, put it back and try again; if it repeats, the card may be faulty"
            }
            TransportError::Subsystem(_) => "restart pcscd and try again",
        }
    }
}

/// What the reader watcher reports, in the order it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    ReaderAdded {
        reader: String,
    },
    ReaderRemoved {
        reader: String,
    },
    CardInserted {
        reader: String,
        atr: Vec<u8>,
    },
    CardRemoved {
        reader: String,
    },
    /// pcscd went away; the watcher keeps trying to reconnect.
    ServiceLost,
    /// pcscd is reachable (again).
    ServiceAvailable,
}

/// Counts APDUs and bytes going through a transport: benchmarks and reports use it to show
/// how many round trips a workflow really takes.
pub struct Counting<T> {
    pub inner: T,
    pub apdus: u64,
    pub bytes_sent: usize,
    pub bytes_received: usize,
}

impl<T: Transport> Counting<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            apdus: 0,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }
}

impl<T: Transport> Transport for Counting<T> {
    /// Counts every APDU handed on, answered or not (a torn one was still sent).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus += 1;
        self.bytes_sent += apdu.len();
        let response = self.inner.transmit(apdu)?;
        self.bytes_received += response.len();
        Ok(response)
    }
    fn atr(&self) -> &[u8] {
        self.inner.atr()
    }
    fn reconnect(&mut self) -> Result<(), TransportError> {
        self.inner.reconnect()
    }
}
