//! Reader and simulator commands: `readers`, `uid`, `sim`, and connecting to a card.

use std::path::Path;
use std::time::Duration;

use cardstation::card::pcsc::{self, PcscTransport, Sharing};
use cardstation::card::{TransportError, read_uid};
use cardstation::sim::{
    self, DesfireCard, DesfireCardState, ElsCard, ElsCardState, Faults, SharedCard, vpcd,
};

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
    let uid = read_uid(&mut card)?;
    println!("{}", hex::encode_upper(uid));
    Ok(())
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

pub fn simulate_els(
    uid_hex: &str,
    port: u16,
    state: Option<&Path>,
    faults: Faults,
    max_response: Option<usize>,
    t0: bool,
    card_key: &super::els::CardKeyArgs,
) -> Result<(), Failure> {
    let uid = parse_uid(uid_hex)?;
    let mut card = match state {
        Some(path) => ElsCard::with_state_file(path, &uid).map_err(bad_state_file)?,
        None => ElsCard::new(ElsCardState::blank(&uid)),
    };
    if let Some(max) = max_response {
        card.state_mut().max_response_len = max.clamp(1, 65_536);
    }
    card.state_mut().force_get_response |= t0;
    // A card put back from its state file keeps the key it was personalised with.
    if card.state().write_key.is_none()
        && let Some(key) = super::els::sim_write_key(card_key, &uid)?
    {
        card.state_mut().write_key = ElsCardState::personalised(&uid, &key).write_key;
    }
    let label = format!("ELS card {}", hex::encode_upper(&card.state().uid));
    keep_in_reader(sim::shared(card), &label, port, faults)
}

pub fn simulate_desfire(
    uid_hex: &str,
    port: u16,
    state: Option<&Path>,
    faults: Faults,
) -> Result<(), Failure> {
    let uid = parse_uid(uid_hex)?;
    let card = match state {
        Some(path) => DesfireCard::with_state_file(path, &uid).map_err(bad_state_file)?,
        None => DesfireCard::new(DesfireCardState::blank(&uid)),
    };
    let label = format!("DESFire card {}", hex::encode_upper(&card.state().uid));
    keep_in_reader(sim::shared(card), &label, port, faults)
}

fn parse_uid(uid_hex: &str) -> Result<Vec<u8>, Failure> {
    hex::decode(uid_hex)
        .ok()
        .filter(|uid| [4, 7, 10].contains(&uid.len()))
        .ok_or_else(|| {
            Failure::new(
                format!("--uid {uid_hex} is not a 4, 7 or 10-byte hex UID"),
                "e.g. --uid 04A1B2C3D4E5F6",
            )
        })
}

fn bad_state_file(err: impl std::fmt::Display) -> Failure {
    Failure::new(err.to_string(), "remove or fix the state file")
}

/// Keeps `card` in the vpcd reader on `port` until it is torn or removed, putting it back
/// whenever pcscd restarts.
fn keep_in_reader(card: SharedCard, label: &str, port: u16, faults: Faults) -> Result<(), Failure> {
    loop {
        let inserted = vpcd::insert(card.clone(), port, faults, Duration::from_secs(10)).map_err(|err| Failure::new(err.to_string(), "start pcscd (`pcscd`) with vsmartcard-vpcd installed (`apt-get install vsmartcard-vpcd`)"))?;
        eprintln!("simulated {label} is in the vpcd reader on port {port}");
        match inserted.wait() {
            Ok(vpcd::Ended::Torn) => {
                eprintln!("the card was torn out as planned (--tear-after)");
                return Ok(());
            }
            // pcscd restarted: put the card back into the new reader.
            Ok(vpcd::Ended::ReaderClosed) => {
                eprintln!("the reader went away; re-inserting the card")
            }
            Ok(vpcd::Ended::Removed) => return Ok(()),
            Err(err) => eprintln!("connection to vpcd failed ({err}); re-inserting the card"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
