//! Evolis card printers (Primacy, Zenius, Quantum…) as a card feed: the station tells the
//! printer to take a blank card from its hopper to the encoder station, encodes the chip
//! through the encoder's PC/SC reader, and then leaves the card in the printer for the print
//! job, or sends it to the reject box.
//!
//! The command set is Evolis's own and public: "Evolis Card Printers Programming Guide",
//! P/N A5013 Rev. E (Evolis, 2003–2004), also on Evolis's SDK pages. §3 "Communication
//! Protocol": a command is `ESC command ; parameter … CR`; §8 "S – Sequence Commands", §12
//! (smart card) and §14 (contactless station): the sequences that insert a card and move it
//! to the smart-card contact station or to the contactless station, and the reject. The
//! command names and the `OK` reply the station waits for are as open-source integrations
//! send and check them through the Evolis SDK's `evolis_command` (`Pem;2`, `Sis`, `Sic`,
//! `Ser`; any other reply is an error text such as `ERROR …`). Only our simulator
//! (`sim::printer`) has answered this code so far; no real printer has.
//!
//! Transport: a TCP socket to the printer's command port (`[printer] feed_address`). Which
//! port a given Evolis model offers for raw commands is not stated in the guide; check the
//! printer's network settings.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Deserialize;

use super::Transport;
use super::feed::{CardFeed, Eject, FeedError, connect_encoder};

/// Start of every command (guide §3).
const START: u8 = 0x1B;
/// End of every command (guide §3); our replies are read up to it too.
const STOP: u8 = b'\r';
/// `Pem;2`: "software manages the error": the printer reports a fault in its answer instead
/// of waiting for someone at its panel, so the station can tell the operator.
const SOFTWARE_ERROR_MANAGEMENT: &str = "Pem;2";
/// `Sis`: insert a card and move it to the smart-card contact station (guide §12).
const INSERT_TO_CONTACT: &str = "Sis";
/// `Sic`: insert a card and move it to the contactless station (guide §14).
const INSERT_TO_CONTACTLESS: &str = "Sic";
/// `Ser`: eject the card into the reject box (guide §8).
const REJECT: &str = "Ser";
/// The printer's answer to a command it carried out.
const DONE: &str = "OK";

/// How long connecting to the printer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A reply that does not end in CR is complete once the printer has been quiet this long.
const QUIET: Duration = Duration::from_millis(200);

/// Which of the printer's encoder stations the chip is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderStation {
    Contact,
    Contactless,
}

/// An Evolis printer reached over TCP, with its encoder reader.
pub struct EvolisFeed {
    address: String,
    station: EncoderStation,
    reader: Option<String>,
    wait: Duration,
    link: Option<TcpStream>,
}

impl EvolisFeed {
    /// `address`: the printer's `host:port`; `reader`: the encoder's reader name (or part);
    /// `wait`: how long moving a card, and the card reaching the reader, may take.
    pub fn new(
        address: &str,
        station: EncoderStation,
        reader: Option<&str>,
        wait: Duration,
    ) -> Self {
        Self {
            address: address.to_owned(),
            station,
            reader: reader.map(str::to_owned),
            wait,
            link: None,
        }
    }

    /// Sends one command and checks that the printer carried it out.
    fn run(&mut self, command: &str) -> Result<(), FeedError> {
        let reply = self.exchange(command).map_err(|err| {
            // A broken connection is opened anew by the next command.
            self.link = None;
            FeedError::NoAnswer {
                address: self.address.clone(),
                cause: match err.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                        format!("no reply to \"{command}\" within {:?}", self.wait)
                    }
                    _ => err.to_string(),
                },
            }
        })?;
        if reply == DONE {
            Ok(())
        } else {
            Err(FeedError::Refused {
                address: self.address.clone(),
                command: command.to_owned(),
                reply,
            })
        }
    }

    fn exchange(&mut self, command: &str) -> io::Result<String> {
        if self.link.is_none() {
            let link = self.connect()?;
            self.link = Some(link);
            let reply = self.exchange(SOFTWARE_ERROR_MANAGEMENT)?;
            if reply != DONE {
                return Err(io::Error::other(format!(
                    "it refused \"{SOFTWARE_ERROR_MANAGEMENT}\": {reply}"
                )));
            }
        }
        let Some(link) = self.link.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        let mut frame = Vec::with_capacity(command.len() + 2);
        frame.push(START);
        frame.extend_from_slice(command.as_bytes());
        frame.push(STOP);
        link.write_all(&frame)?;
        read_reply(link, self.wait)
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the address resolves to nothing");
        for addr in self.address.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(link) => {
                    link.set_write_timeout(Some(self.wait))?;
                    link.set_nodelay(true)?;
                    return Ok(link);
                }
                Err(err) => last = err,
            }
        }
        Err(last)
    }
}

/// One reply: up to CR, the connection's end, or a quiet pause after the first bytes.
fn read_reply(link: &mut TcpStream, wait: Duration) -> io::Result<String> {
    link.set_read_timeout(Some(wait))?;
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match link.read(&mut byte) {
            Ok(0) if reply.is_empty() => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "it closed the connection",
                ));
            }
            Ok(0) => break,
            Ok(_) if byte[0] == STOP => break,
            Ok(_) => {
                reply.push(byte[0]);
                link.set_read_timeout(Some(QUIET))?;
            }
            Err(err)
                if !reply.is_empty()
                    && matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
            {
                break;
            }
            Err(err) => return Err(err),
        }
    }
    Ok(String::from_utf8_lossy(&reply).trim().to_owned())
}

impl CardFeed for EvolisFeed {
    fn next_card(&mut self) -> Result<Box<dyn Transport>, FeedError> {
        self.run(match self.station {
            EncoderStation::Contact => INSERT_TO_CONTACT,
            EncoderStation::Contactless => INSERT_TO_CONTACTLESS,
        })?;
        Ok(connect_encoder(self.reader.as_deref(), self.wait)?)
    }

    fn eject(&mut self, to: Eject) -> Result<(), FeedError> {
        match to {
            // The card stays where it is, for the print job that follows; ejecting it (`Se`)
            // would send it out unprinted. That the printer's driver then prints the card it
            // holds instead of feeding another depends on its settings: not yet confirmed
            // on a real printer.
            Eject::ToPrinter => Ok(()),
            Eject::Reject => self.run(REJECT),
        }
    }
}
