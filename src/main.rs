//! `cardstation`: with no subcommand the window in the profile's role, otherwise a scriptable
//! command. Exit codes: 0 ok, 1 the operation failed (cause and next step on stderr), 2 usage,
//! 10 the kiosk window was closed by its administrator (`ui::kiosk::ADMIN_EXIT_STATUS`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use cardstation::config::Profile;
use cardstation::crypto::diversify::KeyAlgorithm;

mod cli;
use cli::Failure;

#[derive(Parser)]
#[command(
    name = "cardstation",
    version,
    about = "ID-card issuance desk, print station and validation kiosk",
    long_about = "ID-card issuance desk, print station and validation kiosk for Polish electronic \
student cards (ELS, ELD, ELN) and MIFARE DESFire university cards.\n\n\
Without a subcommand it opens the window in the role the profile names (issuance, print or \
kiosk); with one it runs a scriptable command. Readers are reached through pcscd.",
    after_long_help = "Exit status: 0 ok, 1 the operation failed (cause and next step on stderr), \
2 usage error, 10 the kiosk window was closed by an administrator (its systemd unit then \
leaves it stopped).\n\n\
Files: /etc/cardstation/*.toml are the installed station profiles; examples with every key are \
in /usr/share/cardstation/profiles/. A relative `database` path in a profile is taken in \
$XDG_DATA_HOME/cardstation (~/.local/share/cardstation); logs go to its logs/ folder, or \
to $CARDSTATION_LOG_DIR.\n\n\
Secrets (API keys, card master keys, PINs) are read from the environment variables the \
profile names, else from the kernel keyring entry of the same name (`cardstation secret set \
VAR`), never from the command line."
)]
struct Cli {
    /// Station profile (TOML). Without it the built-in demo profile is used.
    #[arg(long, global = true, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// SQLite store to use instead of the profile's.
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Write logs (stderr and the log file) as one JSON object per line.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// List readers, whether a card is present, and its ATR.
    Readers {
        /// Print one JSON array of the readers (name, card present, ATR).
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
    /// The signed student-card structure (ELS/ELD/ELN): sign, verify, read, write, prolong.
    Els {
        #[command(subcommand)]
        command: cli::els::ElsCommand,
    },
    /// The issuance desk without the window: issue a card to a cardholder.
    Desk {
        #[command(subcommand)]
        command: cli::desk::DeskCommand,
    },
    /// Draw a barcode to PNG (300 dpi) or SVG.
    Barcode(cli::render::BarcodeArgs),
    /// Draw a card from a layout and card data (a JSON file, or a store cardholder or
    /// production) to PNG (300 dpi) or PDF.
    Render(cli::render::RenderArgs),
    /// Print the production queue: encode each card's chip, print it through CUPS, record it.
    Print(cli::print::PrintArgs),
    /// The numbered hologram sticker stock the print queue takes from.
    Holograms {
        #[command(subcommand)]
        command: cli::print::HologramCommand,
    },
    /// Derive a card's key from a master key (NXP AN10922); prints it in hex.
    Diversify {
        #[arg(long, value_name = "aes|2k3des|3k3des")]
        alg: KeyAlgorithm,
        /// Master key, hex.
        #[arg(long, value_name = "HEX")]
        key: String,
        /// Card UID, hex.
        #[arg(long, value_name = "HEX")]
        uid: String,
        /// Application ID as stored on the card (3 bytes, least significant first), hex.
        #[arg(long, value_name = "HEX")]
        aid: String,
        /// System identifier, hex.
        #[arg(long, value_name = "HEX")]
        sysid: String,
    },
    /// The university application on a MIFARE DESFire card ([desfire] in the profile).
    Desfire {
        #[command(subcommand)]
        command: DesfireCommand,
    },
    /// Counts of what the store holds, pending pushes and the last sync.
    Status {
        /// One JSON object on the last line.
        #[arg(long)]
        json: bool,
    },
    /// Load records from a file into the store (pushed by the next sync).
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Replicate with the profile's CardExchange server: push local changes, pull the rest.
    Sync {
        /// Sync once and exit (default: again every --every seconds until interrupted; a
        /// server or network failure is reported and tried again next time).
        #[arg(long)]
        once: bool,
        /// Seconds between two syncs when not --once.
        #[arg(long, value_name = "SECS", default_value_t = 60,
              value_parser = clap::value_parser!(u32).range(1..=86_400))]
        every: u32,
        /// Pages fetched at once while pulling.
        #[arg(long, value_name = "N", default_value_t = cardstation::sync::DEFAULT_CONCURRENCY as u16,
              value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// One JSON object per sync on the last line: per-resource counts, outbox_pending, last_sync.
        #[arg(long)]
        json: bool,
        /// Run as the station's background sync: a full sync every [sync] pull_every_seconds
        /// and, between them, the outbox pushed and blocked cards fetched every [sync]
        /// revocation_every_seconds (instead of --every).
        #[arg(long, conflicts_with_all = ["once", "every"])]
        watch: bool,
        /// Mark what the server no longer lists even when that is most of the store (only
        /// after checking that the server really deleted it).
        #[arg(long)]
        accept_deletions: bool,
    },
    /// USOS API calls with the profile's [usos] consumer (and token, if set).
    Usos {
        #[command(subcommand)]
        command: UsosCommand,
    },
    /// Headless kiosk: wait for taps and print one verdict line per card.
    Validate {
        /// Reader name or part of it; default: every reader.
        #[arg(long, value_name = "R")]
        reader: Option<String>,
        /// One JSON object per line: verdict, reason, uid, holder_id, evidence, ms.
        #[arg(long)]
        json: bool,
        /// Stop after the first verdict.
        #[arg(long)]
        once: bool,
        /// With --once: give up after SECS seconds without a card.
        #[arg(long, value_name = "SECS", requires = "once")]
        wait: Option<f64>,
    },
    /// Issuer certificates the kiosk and `els read` trust.
    Trust {
        #[command(subcommand)]
        action: TrustCommand,
    },
    /// Who may sign in to the window, and in which role.
    Operator {
        #[command(subcommand)]
        action: OperatorCommand,
    },
    /// Secrets in the OS keyring (the kernel keyring): the fallback for the environment
    /// variables the profile names. Values are read from stdin and never printed.
    Secret {
        #[command(subcommand)]
        action: SecretCommand,
    },
    /// Write the manual pages (cardstation.1 and one per subcommand) into DIR; used by packaging.
    #[command(hide = true)]
    Manpages {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum OperatorCommand {
    /// Add an operator, or give an existing one a new role and PIN (lifts a lock-out). The
    /// PIN (4-12 digits) is read from $CARDSTATION_PIN, else from the first line of stdin.
    Set {
        /// The name the operator signs in with.
        name: String,
        #[arg(long, value_enum)]
        role: cli::store::RoleArg,
    },
    /// Operators with their roles and lock-outs.
    List {
        /// Print one JSON array of the operators.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Store a secret in the keyring under VAR; the value is the first line of stdin (not
    /// echoed on a terminal), never an argument. The environment variable still wins when set.
    Set {
        /// The environment variable the profile names for this secret (e.g.
        /// USOS_CONSUMER_SECRET); the keyring entry is service "cardstation", user VAR.
        #[arg(value_name = "VAR")]
        var: String,
    },
    /// Remove VAR's entry from the keyring.
    Delete {
        /// The environment variable name the entry was stored under.
        #[arg(value_name = "VAR")]
        var: String,
    },
    /// Say where VAR would be read from: the environment, the keyring, or nowhere (never
    /// the value).
    Status {
        /// The environment variable name to look up.
        #[arg(value_name = "VAR")]
        var: String,
    },
}

#[derive(Subcommand)]
enum UsosCommand {
    /// Call METHOD (e.g. cards/card or services/cards/card) with key=value parameters and
    /// print the answer; a USOS error goes to stderr with exit 1.
    Call {
        #[arg(value_name = "METHOD")]
        method: String,
        #[arg(value_name = "KEY=VALUE")]
        params: Vec<String>,
        /// The answer as one JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Write the card on the reader from USOS's student_card_data, verify it and record it
    /// for a store cardholder.
    Issue {
        #[arg(long, value_name = "ID")]
        cardholder: i64,
        /// Find the card in USOS by the barcode printed on it (default: by the chip UID).
        #[arg(long, value_name = "B")]
        barcode: Option<String>,
        #[arg(long, value_name = "R")]
        reader: Option<String>,
        /// Then send the [usos.card_ready] notification to the card's owner.
        #[arg(long)]
        notify: bool,
        #[command(flatten)]
        trust: cli::els::TrustArgs,
    },
    /// Write USOS's newer structure on the card on the reader, then mark it prolonged in USOS.
    Prolong {
        #[arg(long, value_name = "R")]
        reader: Option<String>,
        #[command(flatten)]
        trust: cli::els::TrustArgs,
    },
}

#[derive(Subcommand)]
enum TrustCommand {
    /// Trust a signer or issuer certificate (PEM or DER).
    Add {
        #[arg(value_name = "CERT.pem")]
        certificate: PathBuf,
    },
    /// List the trusted certificates (SHA-256, when added, subject), then the revoked
    /// certificates and the loaded CRLs.
    List,
    /// Stop trusting a certificate, given as its file or its SHA-256 (as `trust list` shows).
    Remove {
        #[arg(value_name = "CERT|FINGERPRINT")]
        certificate: String,
    },
    /// Refuse a certificate anywhere in a signer's path: give its file, or its serial number
    /// in hex (with --issuer to name who issued it; without, the serial is refused whoever
    /// issued it).
    Revoke {
        #[arg(value_name = "CERT|SERIAL")]
        certificate: String,
        /// The issuer of SERIAL: its certificate file or a trusted issuer's SHA-256.
        #[arg(long, value_name = "CERT|FINGERPRINT")]
        issuer: Option<String>,
    },
    /// Certificate revocation lists.
    Crl {
        #[command(subcommand)]
        action: CrlCommand,
    },
}

#[derive(Subcommand)]
enum CrlCommand {
    /// Load a CRL (DER or PEM) signed by a trusted certificate; its serials are refused
    /// from then on. It replaces an older CRL of the same issuer; an out-of-date CRL is
    /// refused.
    Add {
        #[arg(value_name = "FILE.crl")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum DesfireCommand {
    /// Create the application (or rewrite its record) on the card and set its keys.
    Issue {
        #[arg(long, value_name = "N")]
        card_number: u64,
        /// Barcode number printed on the card (up to 24 ASCII characters).
        #[arg(long, value_name = "B")]
        barcode: String,
        /// Cardholder identifier written on the card (up to 24 ASCII characters); with
        /// --cardholder it defaults to the person number or the cardholder's id.
        #[arg(long, value_name = "H", required_unless_present = "cardholder")]
        holder_id: Option<String>,
        /// The store cardholder the card is for: the card and its contactless UID are recorded.
        #[arg(long, value_name = "ID")]
        cardholder: Option<i64>,
        /// Last day the card is valid.
        #[arg(long, value_name = "YYYY-MM-DD")]
        expires: String,
        #[command(flatten)]
        card: CardChoice,
    },
    /// Read and check the record as the kiosk does: read key, signature, expiry.
    Read {
        /// One JSON object on the last line: valid, reason, uid, card_number, barcode, holder_id, expires.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        card: CardChoice,
    },
}

/// Which card a command talks to.
#[derive(clap::Args)]
struct CardChoice {
    /// Reader name or part of it; default: the profile's contactless reader.
    #[arg(long, value_name = "R")]
    reader: Option<String>,
    /// Wait up to SECS seconds for a card instead of failing at once.
    #[arg(long, value_name = "SECS")]
    wait: Option<f64>,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Persons (and their cardholders) from CSV with a header of CardExchange field names:
    /// firstName,lastName,birthDate required; middleName, personNumber, email, phoneNumber,
    /// mobileNumber, albumNumber, pesel optional. Bad rows are reported by line and skipped.
    Persons {
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
    },
    /// Mobile cards from ID123 ([id123] in the profile), every page, into the store.
    Id123 {
        /// Card template id; default: [id123] card_template_id.
        #[arg(long, value_name = "ID")]
        template: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the whole chain: exit 0 with the number of rows, or 1 naming the first bad row.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log_flush = cardstation::logging::init(cli.log_json);
    match run(cli) {
        Ok(status) => status,
        Err(failure) => failure.report(),
    }
}

fn load_profile(path: Option<&Path>) -> Result<Profile, Failure> {
    Ok(match path {
        Some(path) => Profile::load(path)?,
        None => Profile::demo(),
    })
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let profile = load_profile(cli.profile.as_deref())?;
    let db = profile.database_path(cli.db.as_deref());
    let done = match cli.command {
        None => return run_gui(profile, cli.db),
        Some(Command::Readers { json }) => cli::card::readers(json),
        Some(Command::Uid { reader, wait }) => cli::card::uid(reader.as_deref(), wait),
        Some(Command::Diversify {
            alg,
            key,
            uid,
            aid,
            sysid,
        }) => cli::desfire::diversify(alg, &key, &uid, &aid, &sysid),
        Some(Command::Desfire {
            command:
                DesfireCommand::Issue {
                    card_number,
                    barcode,
                    holder_id,
                    cardholder,
                    expires,
                    card,
                },
        }) => {
            cli::require(&profile, cardstation::station::auth::Action::IssueCard)?;
            let input = cli::desfire::RecordInput {
                card_number,
                barcode: &barcode,
                holder_id: holder_id.as_deref(),
                expires: &expires,
            };
            cli::desfire::issue(
                &profile,
                card.reader.as_deref(),
                card.wait,
                &input,
                cardholder,
                &db,
            )
        }
        Some(Command::Desfire {
            command: DesfireCommand::Read { json, card },
        }) => cli::desfire::read(&profile, card.reader.as_deref(), card.wait, json),
        Some(Command::Els { command }) => cli::els::run(command, &profile, &db),
        Some(Command::Desk { command }) => cli::desk::run(command, &profile, &db),
        Some(Command::Status { json }) => cli::store::status(&db, json),
        Some(Command::Import {
            what: ImportCommand::Persons { file },
        }) => cli::store::import_persons(&profile, &db, &file),
        Some(Command::Import {
            what: ImportCommand::Id123 { template },
        }) => cli::usos::import_id123(&profile, &db, template.as_deref()),
        Some(Command::Usos {
            command:
                UsosCommand::Call {
                    method,
                    params,
                    json,
                },
        }) => cli::usos::call(&profile, &method, &params, json),
        Some(Command::Usos {
            command:
                UsosCommand::Issue {
                    cardholder,
                    barcode,
                    reader,
                    notify,
                    trust,
                },
        }) => cli::usos::issue(
            &profile,
            &db,
            cardholder,
            barcode,
            reader.as_deref(),
            &trust,
            notify,
        ),
        Some(Command::Usos {
            command: UsosCommand::Prolong { reader, trust },
        }) => cli::usos::prolong(&profile, &db, reader.as_deref(), &trust),
        Some(Command::Audit {
            action: AuditCommand::Verify,
        }) => cli::store::audit_verify(&db),
        Some(Command::Validate {
            reader,
            json,
            once,
            wait,
        }) => cli::kiosk::validate(&profile, &db, reader.as_deref(), json, once, wait),
        Some(Command::Operator { action }) => match action {
            OperatorCommand::Set { name, role } => cli::store::set_operator(&db, &name, role),
            OperatorCommand::List { json } => cli::store::list_operators(&db, json),
        },
        Some(Command::Secret { action }) => match action {
            SecretCommand::Set { var } => cli::secret::set(&var),
            SecretCommand::Delete { var } => cli::secret::delete(&var),
            SecretCommand::Status { var } => cli::secret::status(&var),
        },
        Some(Command::Trust {
            action: TrustCommand::Add { certificate },
        }) => cli::kiosk::trust_add(&db, &certificate),
        Some(Command::Trust {
            action: TrustCommand::List,
        }) => cli::kiosk::trust_list(&db),
        Some(Command::Trust {
            action: TrustCommand::Remove { certificate },
        }) => cli::kiosk::trust_remove(&db, &certificate),
        Some(Command::Trust {
            action:
                TrustCommand::Revoke {
                    certificate,
                    issuer,
                },
        }) => cli::kiosk::trust_revoke(&db, &certificate, issuer.as_deref()),
        Some(Command::Trust {
            action:
                TrustCommand::Crl {
                    action: CrlCommand::Add { file },
                },
        }) => cli::kiosk::trust_crl_add(&db, &file),
        Some(Command::Barcode(args)) => cli::render::barcode(&args),
        Some(Command::Render(args)) => cli::render::render(&args, &profile, &db),
        Some(Command::Print(args)) => cli::print::print(&profile, &db, &args),
        Some(Command::Holograms { command }) => cli::print::holograms(&db, &command),
        Some(Command::Sync {
            once,
            every,
            concurrency,
            json,
            watch,
            accept_deletions,
        }) => cli::sync::sync(
            &profile,
            &db,
            &cli::sync::Run {
                every: match (watch, once) {
                    (true, _) => cli::sync::Every::Schedule,
                    (false, true) => cli::sync::Every::Once,
                    (false, false) => {
                        cli::sync::Every::Interval(Duration::from_secs(u64::from(every)))
                    }
                },
                concurrency: usize::from(concurrency),
                json,
                accept_deletions,
            },
        ),
        Some(Command::Manpages { dir }) => manpages(&dir),
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// The man pages come from the same clap tree as `--help`, so they cannot drift from it.
fn manpages(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
        .map_err(|err| {
            Failure::new(
                format!("cannot write the manual pages to {}: {err}", dir.display()),
                "give a writable directory",
            )
        })
}

/// The window's end as the exit status: the kiosk's administrator exit has its own, so that
/// the kiosk's systemd unit restarts the kiosk after every other end.
#[cfg(feature = "gui")]
fn run_gui(profile: Profile, db: Option<PathBuf>) -> Result<ExitCode, Failure> {
    use cardstation::ui::{Ended, kiosk::ADMIN_EXIT_STATUS, run};
    match run(profile, db) {
        Ok(Ended::Closed) => Ok(ExitCode::SUCCESS),
        Ok(Ended::AdminExit) => Ok(ExitCode::from(ADMIN_EXIT_STATUS)),
        Err(err) => Err(Failure::new(
            format!("the window could not start: {err}"),
            "run it in a graphical session (DISPLAY or WAYLAND_DISPLAY set); without a GPU set ICED_BACKEND=tiny-skia",
        )),
    }
}

#[cfg(not(feature = "gui"))]
fn run_gui(_profile: Profile, _db: Option<PathBuf>) -> Result<ExitCode, Failure> {
    Err(Failure::new(
        "this build has no window (built without the `gui` feature)",
        "use a subcommand (see `cardstation --help`) or install a build with the gui feature",
    ))
}
