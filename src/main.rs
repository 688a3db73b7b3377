//! `cardstation`: with no subcommand the window in the profile's role, otherwise a scriptable
//! command. Exit codes: 0 ok, 1 the operation failed (cause and next step on stderr), 2 usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use cardstation::card::pcsc::{self, PcscTransport, Sharing};
use cardstation::card::{TransportError, read_uid};
use cardstation::config::Profile;
use cardstation::sim::{self, ElsCard, ElsCardState, Faults, vpcd};

#[derive(Parser)]
#[command(
    name = "cardstation",
    version,
    about = "ID-card issuance desk, print station and validation kiosk"
)]
struct Cli {
    /// Station profile (TOML). Without it the built-in demo profile is used.
    #[arg(long, global = true, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// SQLite store to use instead of the profile's.
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List readers, whether a card is present, and its ATR.
    Readers {
        #[arg(long)]
        json: bool,
    },
    /// Print the chip UID (hex) of the card on a reader.
    Uid {
        /// Reader name or part of it; default: the first reader holding a card.
        #[arg(long, value_name = "R")]
        reader: Option<String>,
        /// Wait up to SECS seconds for a card instead of failing at once.
        #[arg(long, value_name = "SECS")]
        wait: Option<f64>,
    },
    /// Put a simulated card into a vpcd virtual reader (until interrupted).
    Sim {
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
        /// Largest READ BINARY answer in bytes (smaller values force chunked reads).
        #[arg(long, value_name = "BYTES")]
        max_response: Option<usize>,
        /// Answer T=0 style: 61xx, with the data fetched by GET RESPONSE.
        #[arg(long)]
        t0: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SimCard {
    Els,
}

/// A failed operation: what happened and what to do about it.
struct Failure {
    cause: String,
    next_step: String,
}

impl From<TransportError> for Failure {
    fn from(err: TransportError) -> Self {
        Failure {
            next_step: err.next_step().to_owned(),
            cause: err.to_string(),
        }
    }
}

impl From<cardstation::config::ConfigError> for Failure {
    fn from(err: cardstation::config::ConfigError) -> Self {
        Failure {
            next_step: err.next_step().to_owned(),
            cause: err.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.cause);
            eprintln!("next step: {}", failure.next_step);
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn load_profile(path: Option<&Path>) -> Result<Profile, Failure> {
    Ok(match path {
        Some(path) => Profile::load(path)?,
        None => Profile::demo(),
    })
}

fn run(cli: Cli) -> Result<(), Failure> {
    let profile = load_profile(cli.profile.as_deref())?;
    match cli.command {
        None => run_gui(profile, cli.db),
        Some(Command::Readers { json }) => readers(json),
        Some(Command::Uid { reader, wait }) => uid(reader.as_deref(), wait),
        Some(Command::Sim {
            card: SimCard::Els,
            uid,
            reader_port,
            state,
            tear_after,
            delay_ms,
            max_response,
            t0,
        }) => {
            let faults = Faults {
                tear_after,
                delay: Duration::from_millis(delay_ms),
            };
            simulate_els(
                &uid,
                reader_port,
                state.as_deref(),
                faults,
                max_response,
                t0,
            )
        }
    }
}

#[cfg(feature = "gui")]
fn run_gui(profile: Profile, db: Option<PathBuf>) -> Result<(), Failure> {
    cardstation::ui::run(profile, db).map_err(|err| Failure {
        cause: format!("the window could not start: {err}"),
        next_step: "run it in a graphical session (DISPLAY or WAYLAND_DISPLAY set); without a GPU set ICED_BACKEND=tiny-skia".into(),
    })
}

#[cfg(not(feature = "gui"))]
fn run_gui(_profile: Profile, _db: Option<PathBuf>) -> Result<(), Failure> {
    Err(Failure {
        cause: "this build has no window (built without the `gui` feature)".into(),
        next_step:
            "use a subcommand (see `cardstation --help`) or install a build with the gui feature"
                .into(),
    })
}

fn readers(json: bool) -> Result<(), Failure> {
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

fn uid(filter: Option<&str>, wait: Option<f64>) -> Result<(), Failure> {
    let reader = match wait {
        Some(secs) if secs.is_finite() && secs >= 0.0 => {
            pcsc::wait_for_card(filter, Duration::from_secs_f64(secs))?
        }
        Some(_) => {
            return Err(Failure {
                cause: "--wait takes a number of seconds".into(),
                next_step: "e.g. --wait 10".into(),
            });
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

fn simulate_els(
    uid_hex: &str,
    port: u16,
    state: Option<&Path>,
    faults: Faults,
    max_response: Option<usize>,
    t0: bool,
) -> Result<(), Failure> {
    let uid = hex::decode(uid_hex)
        .ok()
        .filter(|uid| [4, 7, 10].contains(&uid.len()))
        .ok_or_else(|| Failure {
            cause: format!("--uid {uid_hex} is not a 4, 7 or 10-byte hex UID"),
            next_step: "e.g. --uid 04A1B2C3D4E5F6".into(),
        })?;
    let mut card = match state {
        Some(path) => ElsCard::with_state_file(path, &uid).map_err(|err| Failure {
            cause: err.to_string(),
            next_step: "remove or fix the state file".into(),
        })?,
        None => ElsCard::new(ElsCardState::blank(&uid)),
    };
    if let Some(max) = max_response {
        card.state_mut().max_response_len = max.clamp(1, 65_536);
    }
    card.state_mut().force_get_response |= t0;
    let shown_uid = hex::encode_upper(&card.state().uid);
    let card = sim::shared(card);
    loop {
        let inserted = vpcd::insert(card.clone(), port, faults, Duration::from_secs(10)).map_err(|err| Failure {
            cause: err.to_string(),
            next_step: "start pcscd (`pcscd`) with vsmartcard-vpcd installed (`apt-get install vsmartcard-vpcd`)".into(),
        })?;
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
