//! Reader commands: `readers`, `uid`, and connecting to a card.

use std::time::Duration;

use cardstation::card::els::ElsCardError;
use cardstation::card::pcsc::{self, PcscTransport, Sharing};
use cardstation::card::{ChipSerial, SerialSource, TransportError, read_chip_serial};

use super::Failure;

pub fn readers(json: bool) -> Result<(), Failure> {
    let readers = pcsc::list_readers()?;
    if json {
        println!(
            "{}",
            serde_json::to_string(&readers).expect("reader statuses serialise")
        );
        return Ok(());
    }
    if readers.is_empty() {
        println!("no readers");
    }
    for reader in readers {
        match reader.atr {
            Some(atr) => println!("{}\tcard\t{atr}", reader.name),
            None => println!("{}\tempty", reader.name),
        }
    }
    Ok(())
}

pub fn uid(filter: Option<&str>, wait: Option<f64>) -> Result<(), Failure> {
    let mut card = connect(filter, wait)?;
    // The serial issuance binds to: the reader's UID for a contactless card, the card's own
    // (CPLC first) for a contact one.
    match read_chip_serial(&mut card)? {
        ChipSerial::Read { bytes, source } => {
            println!("{}", hex::encode_upper(bytes));
            if source != SerialSource::ReaderUid {
                eprintln!("chip serial from the card's {source}");
            }
            Ok(())
        }
        ChipSerial::Unavailable => Err(ElsCardError::NoChipSerial.into()),
    }
}

/// Connects to the card on the reader `filter` names (default: the first holding a card),
/// waiting up to `wait` seconds for one.
pub fn connect(filter: Option<&str>, wait: Option<f64>) -> Result<PcscTransport, Failure> {
    let reader = match wait {
        Some(secs) if secs.is_finite() && secs >= 0.0 => {
            pcsc::wait_for_card(filter, Duration::from_secs_f64(secs))?
        }
        Some(_) => {
            return Err(Failure::new(
                "--wait takes a number of seconds",
                "e.g. --wait 10",
            ));
        }
        None => {
            let reader = pcsc::choose_reader(filter)?;
            if !reader.card_present {
                return Err(TransportError::NoCard(reader.name).into());
            }
            reader.name
        }
    };
    Ok(PcscTransport::connect(&reader, Sharing::Shared)?)
}
