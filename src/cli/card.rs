//! Reader and simulator commands: `readers`, `uid`, `sim`.

use std::path::Path;
use std::time::Duration;

use cardstation::card::pcsc::{self, PcscTransport, Sharing};
use cardstation::card::{TransportError, read_uid};
use cardstation::sim::{self, ElsCard, ElsCardState, Faults, vpcd};

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
    let mut card = PcscTransport::connect(&reader, Sharing::Shared)?;
    let uid = read_uid(&mut card)?;
    println!("{}", hex::encode_upper(uid));
    Ok(())
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
    let uid = hex::decode(uid_hex)
        .ok()
        .filter(|uid| [4, 7, 10].contains(&uid.len()))
        .ok_or_else(|| {
            Failure::new(
                format!("--uid {uid_hex} is not a 4, 7 or 10-byte hex UID"),
                "e.g. --uid 04A1B2C3D4E5F6",
            )
        })?;
    let mut card = match state {
        Some(path) => ElsCard::with_state_file(path, &uid)
            .map_err(|err| Failure::new(err.to_string(), "remove or fix the state file"))?,
        None => ElsCard::new(ElsCardState::blank(&uid)),
    };
    // A card put back from its state file keeps the key it was personalised with.
    if card.state().write_key.is_none()
        && let Some(key) = super::els::sim_write_key(card_key, &uid)?
    {
        card.state_mut().write_key = ElsCardState::personalised(&uid, &key).write_key;
    }
    if let Some(max) = max_response {
        card.state_mut().max_response_len = max.clamp(1, 65_536);
    }
    card.state_mut().force_get_response |= t0;
    let shown_uid = hex::encode_upper(&card.state().uid);
    let card = sim::shared(card);
    loop {
        let inserted = vpcd::insert(card.clone(), port, faults, Duration::from_secs(10)).map_err(|err| Failure::new(err.to_string(), "start pcscd (`pcscd`) with vsmartcard-vpcd installed (`apt-get install vsmartcard-vpcd`)"))?;
        eprintln!("simulated ELS card {shown_uid} is in the vpcd reader on port {port}");
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
