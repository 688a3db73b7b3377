//! A simulated Evolis card printer with a contact/contactless encoder, on a TCP socket: it
//! answers the commands `card::printer_evolis` sends (`ESC command CR`, answered `OK`), and
//! on "insert to an encoder station" (`Sis`, `Sic`) puts a new blank DESFire card into a vpcd
//! virtual reader, so the station reaches the chip through the real pcscd, as it reaches the
//! encoder of a real printer. `Ser` takes the card out into the reject box. A card left in
//! the encoder when the next one is asked for went on to the print head. Every command and
//! every card's fate is recorded for the tests; faults can be planned per card, and a silent
//! printer accepts connections but never answers.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{DesfireCard, DesfireCardState, Faults, SharedCard, vpcd};
use crate::card::pcsc;

/// Where a card the printer took from its hopper ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Still in the encoder station.
    InEncoder,
    /// Left in the printer for the print job: the next card was asked for.
    LeftForPrint,
    /// Moved into the reject box (`Ser`).
    Rejected,
}

/// A card the printer fed, with what became of it.
pub struct PrinterCard {
    pub uid: Vec<u8>,
    pub card: Arc<Mutex<DesfireCard>>,
    pub fate: Fate,
}

#[derive(Default)]
struct Printer {
    commands: Vec<String>,
    cards: Vec<PrinterCard>,
    in_encoder: Option<vpcd::InsertedCard>,
}

/// The running simulator; dropping it stops it and takes its card out of the reader.
pub struct EvolisSim {
    address: String,
    printer: Arc<Mutex<Printer>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// What the simulated printer puts into the reader and how it behaves.
struct Plan {
    vpcd_port: u16,
    /// UIDs are `04` followed by this number plus the card count, big-endian in 6 bytes.
    first_serial: u64,
    faults: BTreeMap<usize, Faults>,
    silent: bool,
}

/// How long a card may take to appear in, or leave, the virtual reader.
const READER_WAIT: Duration = Duration::from_secs(10);

impl EvolisSim {
    /// A printer on a free local port whose encoder is the vpcd reader on `vpcd_port`; card
    /// number `n` (from 1) shows `faults[n]`. Hold the reader's [`vpcd::lock_reader`].
    pub fn start(
        vpcd_port: u16,
        first_serial: u64,
        faults: impl IntoIterator<Item = (usize, Faults)>,
    ) -> io::Result<Self> {
        Self::run(Plan {
            vpcd_port,
            first_serial,
            faults: faults.into_iter().collect(),
            silent: false,
        })
    }

    /// A printer that takes connections and reads commands but never answers (hung
    /// firmware, a port that is not the command port).
    pub fn silent() -> io::Result<Self> {
        Self::run(Plan {
            vpcd_port: vpcd::DEFAULT_PORT,
            first_serial: 0,
            faults: BTreeMap::new(),
            silent: true,
        })
    }

    fn run(plan: Plan) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?.to_string();
        let printer = Arc::new(Mutex::new(Printer::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("evolis-sim".into())
            .spawn({
                let printer = printer.clone();
                let stop = stop.clone();
                move || serve(&listener, &plan, &printer, &stop)
            })?;
        Ok(Self {
            address,
            printer,
            stop,
            thread: Some(thread),
        })
    }

    /// `host:port` of the printer's command socket.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Every command received, in order, without the ESC/CR framing.
    pub fn commands(&self) -> Vec<String> {
        lock(&self.printer).commands.clone()
    }

    /// The fates of the cards fed so far, in order.
    pub fn fates(&self) -> Vec<Fate> {
        lock(&self.printer)
            .cards
            .iter()
            .map(|card| card.fate)
            .collect()
    }

    /// The card fed as number `n` (from 1): its UID and its chip's memory.
    pub fn card(&self, n: usize) -> Option<(Vec<u8>, Arc<Mutex<DesfireCard>>)> {
        lock(&self.printer)
            .cards
            .get(n.checked_sub(1)?)
            .map(|card| (card.uid.clone(), card.card.clone()))
    }
}

impl Drop for EvolisSim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(card) = lock(&self.printer).in_encoder.take() {
            let _ = card.remove();
        }
    }
}

/// A poisoned lock only means a test thread panicked; the record is still right.
fn lock(printer: &Mutex<Printer>) -> MutexGuard<'_, Printer> {
    printer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve(listener: &TcpListener, plan: &Plan, printer: &Mutex<Printer>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                // One station at a time, as a printer's command port serves one host.
                let _ = session(stream, plan, printer, stop);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Answers one connection's commands until it closes or the simulator stops.
fn session(
    mut stream: TcpStream,
    plan: &Plan,
    printer: &Mutex<Printer>,
    stop: &AtomicBool,
) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut frame: Option<Vec<u8>> = None;
    let mut byte = [0u8; 1];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut byte) {
            Ok(0) => return Ok(()),
            Ok(_) => match (byte[0], frame.as_mut()) {
                (0x1B, _) => frame = Some(Vec::new()),
                (b'\r', Some(_)) => {
                    let command =
                        String::from_utf8_lossy(&frame.take().unwrap_or_default()).into_owned();
                    lock(printer).commands.push(command.clone());
                    if !plan.silent {
                        let reply = answer(&command, plan, printer);
                        stream.write_all(reply.as_bytes())?;
                        stream.write_all(b"\r")?;
                    }
                }
                (other, Some(frame)) => frame.push(other),
                (_, None) => {} // Noise between commands.
            },
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// The printer's reply to one command.
fn answer(command: &str, plan: &Plan, printer: &Mutex<Printer>) -> String {
    let result = match command {
        // Parameter settings (`Pem;2` and the like) are taken as they come.
        parameter if parameter.starts_with('P') => Ok(()),
        "Sis" | "Sic" => insert(plan, printer),
        "Ser" => reject(printer),
        _ => Err("ERROR CDE".to_owned()),
    };
    match result {
        Ok(()) => "OK".to_owned(),
        Err(reply) => reply,
    }
}

/// A new blank card into the encoder; the card there before has gone on to be printed.
fn insert(plan: &Plan, printer: &Mutex<Printer>) -> Result<(), String> {
    let reader = vpcd::reader_name(plan.vpcd_port);
    let mut printer = lock(printer);
    if let Some(previous) = printer.in_encoder.take() {
        let _ = previous.remove();
        if let Some(card) = printer.cards.last_mut() {
            card.fate = Fate::LeftForPrint;
        }
    }
    wait_for_reader(&reader, false)?;
    let number = printer.cards.len() + 1;
    let serial = (plan.first_serial + number as u64).to_be_bytes();
    let mut uid = vec![0x04];
    uid.extend_from_slice(&serial[2..]);
    let card = Arc::new(Mutex::new(DesfireCard::new(DesfireCardState::blank(&uid))));
    let shared: SharedCard = card.clone();
    let faults = plan.faults.get(&number).copied().unwrap_or_default();
    let inserted = vpcd::insert(shared, plan.vpcd_port, faults, READER_WAIT)
        .map_err(|err| format!("ERROR ENCODER {err}"))?;
    printer.in_encoder = Some(inserted);
    printer.cards.push(PrinterCard {
        uid,
        card,
        fate: Fate::InEncoder,
    });
    wait_for_reader(&reader, true)
}

fn reject(printer: &Mutex<Printer>) -> Result<(), String> {
    let mut printer = lock(printer);
    let Some(card) = printer.in_encoder.take() else {
        return Err("ERROR NO CARD".to_owned());
    };
    // A torn card has left the reader already; either way it is in the reject box now.
    let _ = card.remove();
    if let Some(card) = printer.cards.last_mut() {
        card.fate = Fate::Rejected;
    }
    Ok(())
}

/// Waits until pcscd sees a card in `reader` (`present`) or none.
fn wait_for_reader(reader: &str, present: bool) -> Result<(), String> {
    let deadline = Instant::now() + READER_WAIT;
    loop {
        let seen = pcsc::list_readers()
            .is_ok_and(|readers| readers.iter().any(|r| r.name == reader && r.card_present));
        if seen == present {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("ERROR ENCODER reader {reader} did not follow"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
