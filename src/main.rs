//! `cardstation`: with no subcommand the window in the profile's role, otherwise a scriptable
//! command. Exit codes: 0 ok, 1 the operation failed (cause and next step on stderr), 2 usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use cardstation::config::Profile;
use cardstation::sim::{Faults, vpcd};

mod cli;
use cli::Failure;

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
        /// Personalise the card with a write key diversified from this card_key master.
        #[command(flatten)]
        card_key: cli::els::CardKeyArgs,
    },
    /// The signed student-card structure (ELS/ELD/ELN): sign, verify, read, write, prolong.
    Els {
        #[command(subcommand)]
        command: cli::els::ElsCommand,
    },
    /// Draw a barcode to PNG (300 dpi) or SVG.
    Barcode(cli::render::BarcodeArgs),
    /// Draw one side of a card from a layout and card data to PNG (300 dpi) or PDF.
    Render(cli::render::RenderArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum SimCard {
    Els,
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
        Some(Command::Readers { json }) => cli::card::readers(json),
        Some(Command::Uid { reader, wait }) => cli::card::uid(reader.as_deref(), wait),
        Some(Command::Sim {
            card: SimCard::Els,
            uid,
            reader_port,
            state,
            tear_after,
            delay_ms,
            max_response,
            t0,
            card_key,
        }) => {
            let faults = Faults {
                tear_after,
                delay: Duration::from_millis(delay_ms),
            };
            cli::card::simulate_els(
                &uid,
                reader_port,
                state.as_deref(),
                faults,
                max_response,
                t0,
                &card_key,
            )
        }
        Some(Command::Els { command }) => cli::els::run(command),
        Some(Command::Barcode(args)) => cli::render::barcode(&args),
        Some(Command::Render(args)) => cli::render::render(&args),
    }
}

#[cfg(feature = "gui")]
fn run_gui(profile: Profile, db: Option<PathBuf>) -> Result<(), Failure> {
    cardstation::ui::run(profile, db).map_err(|err| Failure::new(format!("the window could not start: {err}"), "run it in a graphical session (DISPLAY or WAYLAND_DISPLAY set); without a GPU set ICED_BACKEND=tiny-skia"))
}

#[cfg(not(feature = "gui"))]
fn run_gui(_profile: Profile, _db: Option<PathBuf>) -> Result<(), Failure> {
    Err(Failure::new(
        "this build has no window (built without the `gui` feature)",
        "use a subcommand (see `cardstation --help`) or install a build with the gui feature",
    ))
}
