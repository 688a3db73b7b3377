//! `cardstation-sim`: puts a simulated ELS or DESFire card into a vsmartcard-vpcd virtual reader
//! and keeps it there until interrupted, so the station reaches it through the real pcscd. For
//! tests, benches and the demo (`scripts/demo.sh`); built only with the `sim` feature and never
//! packaged. Exit codes as the station's: 0 ok, 1 failed (cause and next step on stderr), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cardstation::card::els::{CardKey, WriteKey};
use cardstation::config::Secret;
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::error::Failure;
use cardstation::sim::{
    self, DesfireCard, DesfireCardState, ElsCard, ElsCardState, Faults, SharedCard, SimSerial, vpcd,
};
use clap::{Parser, ValueEnum};

#[derive(Parser)]
#[command(
    name = "cardstation-sim",
    version,
    about = "Put a simulated card into a vpcd virtual reader (until interrupted)"
)]
struct Args {
    /// Which card: an ELS contact chip or a MIFARE DESFire EV1.
    #[arg(long, value_enum)]
    card: SimCard,
    /// Chip UID in hex (4, 7 or 10 bytes).
    #[arg(long, value_name = "HEX")]
    uid: String,
    /// vpcd port of the reader: 35963 is "Virtual PCD 00 00", 35964 "Virtual PCD 00 01".
    #[arg(long, value_name = "PORT", default_value_t = vpcd::DEFAULT_PORT)]
    reader_port: u16,
    /// Keep the card's memory in this JSON file, so it can be taken out and put back.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Tear the card out instead of answering APDU number N+1.
    #[arg(long, value_name = "N")]
    tear_after: Option<u64>,
    /// Milliseconds the card takes for each APDU.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    delay_ms: u64,
    /// ELS card: largest READ BINARY answer in bytes (smaller values force chunked reads).
    #[arg(long, value_name = "BYTES")]
    max_response: Option<usize>,
    /// ELS card: answer T=0 style, 61xx with the data fetched by GET RESPONSE.
    #[arg(long)]
    t0: bool,
    /// ELS card: take short APDUs only, as a card or reader without extended lengths: an
    /// extended command, or a READ BINARY asking more than --max-response, gets 6700.
    #[arg(long)]
    short_apdus_only: bool,
    /// ELS card: be a contact card (contact ATR) that refuses the PC/SC `FF CA` (6E00), its
    /// chip serial in the CPLC (`cplc`, the default) or nowhere (`none`).
    #[arg(long, value_enum, value_name = "SERIAL", num_args = 0..=1, default_missing_value = "cplc")]
    contact: Option<SimSerial>,
    /// ELS card: personalise it with the write key diversified (AN10922) for its UID from the
    /// card_key master (hex) in this environment variable, as a card issuer would.
    #[arg(long, value_name = "VAR")]
    card_key_env: Option<String>,
    /// Type of that master key.
    #[arg(
        long,
        value_name = "ALG",
        default_value = "aes",
        requires = "card_key_env"
    )]
    key_alg: KeyAlgorithm,
    /// Diversification system identifier, text.
    #[arg(
        long,
        value_name = "TEXT",
        default_value = "ELS",
        requires = "card_key_env"
    )]
    system_id: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum SimCard {
    Els,
    Desfire,
}

fn main() -> ExitCode {
    match simulate(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn simulate(args: Args) -> Result<(), Failure> {
    let uid = parse_uid(&args.uid)?;
    let faults = Faults {
        tear_after: args.tear_after,
        delay: Duration::from_millis(args.delay_ms),
        ..Faults::default()
    };
    let (card, label): (SharedCard, String) = match args.card {
        SimCard::Els => {
            let card = els_card(&args, &uid)?;
            let label = match card.state().chip_serial() {
                Some(serial) => format!("ELS card, chip serial {}", hex::encode_upper(serial)),
                None => format!("ELS card {} (no chip serial)", hex::encode_upper(&uid)),
            };
            (sim::shared(card), label)
        }
        SimCard::Desfire
            if args.max_response.is_some()
                || args.t0
                || args.short_apdus_only
                || args.card_key_env.is_some()
                || args.contact.is_some() =>
        {
            return Err(Failure::new(
                "--max-response, --t0, --short-apdus-only, --contact and --card-key-env apply to the ELS card only",
                "leave them out with --card desfire",
            ));
        }
        SimCard::Desfire => {
            let card = match &args.state {
                Some(path) => DesfireCard::with_state_file(path, &uid).map_err(bad_state_file)?,
                None => DesfireCard::new(DesfireCardState::blank(&uid)),
            };
            let label = format!("DESFire card {}", hex::encode_upper(&card.state().uid));
            (sim::shared(card), label)
        }
    };
    keep_in_reader(card, &label, args.reader_port, faults)
}

fn els_card(args: &Args, uid: &[u8]) -> Result<ElsCard, Failure> {
    let mut card = match &args.state {
        Some(path) => ElsCard::with_state_file(path, uid).map_err(bad_state_file)?,
        None => ElsCard::new(ElsCardState::blank(uid)),
    };
    if let Some(max) = args.max_response {
        card.state_mut().max_response_len = max.clamp(1, 65_536);
    }
    card.state_mut().force_get_response |= args.t0;
    card.state_mut().short_apdus_only |= args.short_apdus_only;
    if let Some(serial) = args.contact {
        *card.state_mut() = card.state().clone().on_contact_reader(serial);
    }
    // A card put back from its state file keeps the key it was personalised with.
    if card.state().write_key.is_none()
        && let Some(variable) = &args.card_key_env
    {
        // Diversified for the serial the station will read (a card without one never gets
        // issued, whatever its key).
        let serial = card.state().chip_serial().unwrap_or_else(|| uid.to_vec());
        let key = write_key(variable, args.key_alg, &args.system_id, &serial)?;
        card.state_mut().write_key = ElsCardState::personalised(uid, &key).write_key;
    }
    Ok(card)
}

fn write_key(
    variable: &str,
    algorithm: KeyAlgorithm,
    system_id: &str,
    uid: &[u8],
) -> Result<WriteKey, Failure> {
    let master = Secret::lookup(variable)?;
    CardKey::master_from_hex(algorithm, master.expose(), system_id.as_bytes())
        .map_err(|cause| Failure::new(cause, format!("give the {algorithm} master key as hex")))?
        .for_card(uid)
        .map_err(|err| Failure::new(err.to_string(), "check --key-alg and --system-id"))
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
        let inserted =
            vpcd::insert(card.clone(), port, faults, Duration::from_secs(10)).map_err(|err| {
                Failure::new(
                    err.to_string(),
                    "start pcscd (`pcscd`) with vsmartcard-vpcd installed \
                     (`apt-get install vsmartcard-vpcd`)",
                )
            })?;
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
