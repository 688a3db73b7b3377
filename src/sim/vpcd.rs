//! The vsmartcard `vpcd` bridge: a program connected to vpcd's TCP port *is* the card in that
//! virtual reader. Frames are a 2-byte big-endian length and a payload; a 1-byte payload is a
//! control (0 power off, 1 power on, 2 reset, 4 get ATR), anything longer is an APDU.
//! Closing the connection removes the card.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{FaultClock, Faults, SharedCard, lock};

/// vpcd's first reader ("Virtual PCD 00 00"); the second is on the next port.
pub const DEFAULT_PORT: u16 = 35963;

/// The name pcscd gives the vpcd reader on `port` (the default configuration's two readers).
pub fn reader_name(port: u16) -> String {
    format!("Virtual PCD 00 {:02}", port.saturating_sub(DEFAULT_PORT))
}

/// Holds one virtual reader for this process: tests, benchmarks and demos in other
/// processes wait for it, so two of them never put cards into the same reader. Released on drop.
pub fn lock_reader(port: u16) -> io::Result<std::fs::File> {
    let path = std::env::temp_dir().join(format!("cardstation-vpcd-{port}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.lock()?;
    Ok(file)
}

const CTRL_POWER_OFF: u8 = 0;
const CTRL_POWER_ON: u8 = 1;
const CTRL_RESET: u8 = 2;
const CTRL_GET_ATR: u8 = 4;

/// How a card's time in the reader ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Taken out on request.
    Removed,
    /// Torn by the fault plan.
    Torn,
    /// vpcd closed the connection (pcscd stopped).
    ReaderClosed,
}

/// A card sitting in a vpcd reader, served by a background thread until removed.
pub struct InsertedCard {
    stream: TcpStream,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<Ended>>>,
}

/// Puts `card` into the vpcd reader listening on `127.0.0.1:port`, retrying the connection
/// until `connect_timeout` passes (pcscd may still be starting).
pub fn insert(
    card: SharedCard,
    port: u16,
    faults: Faults,
    connect_timeout: Duration,
) -> io::Result<InsertedCard> {
    let stream = connect(port, connect_timeout)?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = std::thread::Builder::new()
        .name(format!("vpcd-card-{port}"))
        .spawn({
            let stream = stream.try_clone()?;
            let stop = stop.clone();
            move || serve(stream, &card, faults, &stop)
        })?;
    Ok(InsertedCard {
        stream,
        stop,
        thread: Some(thread),
    })
}

fn connect(port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(err) if Instant::now() >= deadline => {
                return Err(io::Error::new(
                    err.kind(),
                    format!(
                        "no virtual reader listens on port {port} ({err}): is pcscd running with vsmartcard-vpcd installed?"
                    ),
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

impl InsertedCard {
    /// Takes the card out of the reader.
    pub fn remove(mut self) -> io::Result<Ended> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.stream.shutdown(Shutdown::Both);
        self.join()
    }

    /// Waits until the card leaves by itself (torn, or the reader went away).
    pub fn wait(mut self) -> io::Result<Ended> {
        self.join()
    }

    fn join(&mut self) -> io::Result<Ended> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the card thread panicked"))),
            None => Ok(Ended::Removed),
        }
    }
}

impl Drop for InsertedCard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.stream.shutdown(Shutdown::Both);
        let _ = self.join();
    }
}

fn serve(
    mut stream: TcpStream,
    card: &SharedCard,
    faults: Faults,
    stop: &AtomicBool,
) -> io::Result<Ended> {
    let mut clock = FaultClock::default();
    loop {
        let payload = match read_frame(&mut stream) {
            Ok(payload) => payload,
            Err(_) if stop.load(Ordering::SeqCst) => return Ok(Ended::Removed),
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                return Ok(Ended::ReaderClosed);
            }
            Err(err) => return Err(err),
        };
        match payload.as_slice() {
            [CTRL_POWER_OFF] => {}
            [CTRL_POWER_ON] | [CTRL_RESET] => lock(card).reset(),
            [CTRL_GET_ATR] => {
                let atr = lock(card).atr();
                write_frame(&mut stream, &atr)?;
            }
            [_] => {} // Unknown controls are ignored, as vicc does.
            apdu => {
                if clock.tears_now(&faults) {
                    lock(card).tear(apdu);
                    let _ = stream.shutdown(Shutdown::Both);
                    return Ok(Ended::Torn);
                }
                let response = lock(card).process(apdu);
                write_frame(&mut stream, &response)?;
            }
        }
    }
}

fn read_frame(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 2];
    acknowledge_at_once(stream);
    stream.read_exact(&mut length)?;
    let mut payload = vec![0u8; u16::from_be_bytes(length) as usize];
    stream.read_exact(&mut payload)?;
    Ok(payload)
}

/// vpcd sends a frame's length and its payload in two writes, so with Nagle on its side the
/// payload waits for our ACK of the length, which Linux delays by up to 40 ms: every APDU
/// took ~44 ms. Quick-ACK mode is not sticky, so it is re-armed before every read.
fn acknowledge_at_once(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        // Only a latency optimisation: a failure leaves the (slower) default in place.
        let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let length = u16::try_from(payload.len())
        .map_err(|_| io::Error::other("response larger than a vpcd frame"))?;
    let mut frame = Vec::with_capacity(2 + payload.len());
    frame.extend_from_slice(&length.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}
