//! `cardstation-refserver`: the reference CardExchange, USOS and ID123 servers on 127.0.0.1 for
//! tests, benches and the demo. Exit codes as the station's: 0 ok, 1 failed (cause and next step
//! on stderr), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;

use cardstation::config::Secret;
use cardstation::config::keys;
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::error::Failure;
use cardstation_refserver::{ReferenceServer, ServerFaults, UsosOptions};
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "cardstation-refserver",
    version,
    about = "Reference CardExchange v1, USOS and ID123 servers on 127.0.0.1 (tests and demo only)"
)]
struct Args {
    /// 0 picks a free port; the address is printed on the first line.
    #[arg(long, value_name = "P", default_value_t = 8080)]
    port: u16,
    /// Keep the server's data in this SQLite file (default: in memory).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Faults to inject, e.g. error_rate=0.1,429_every=7,delay_ms=20,truncate_rate=0.05,seed=1
    /// (fail_after=N answers 503 to every request after the first N)
    #[arg(long, value_name = "SPEC")]
    faults: Option<String>,
    /// Seed N persons, each with a cardholder, a card in production and its production.
    #[arg(long, value_name = "N")]
    seed_people: Option<usize>,
    /// USOS student_card_data: sign ELS structures with this PKCS#8 PEM key...
    #[arg(long, value_name = "KEY.pem", requires = "usos_signer_cert")]
    usos_signer_key: Option<PathBuf>,
    /// ...and this certificate.
    #[arg(long, value_name = "CERT.pem", requires = "usos_signer_key")]
    usos_signer_cert: Option<PathBuf>,
    /// USOS student_card_data: hand out write keys derived from the card_key master (hex)
    /// in this environment variable.
    #[arg(long, value_name = "VAR")]
    usos_card_key_env: Option<String>,
    /// Type of that master key.
    #[arg(long, value_name = "aes|2k3des|3k3des", default_value = "aes")]
    usos_card_key_type: KeyAlgorithm,
    /// USOS answers every mark_student_card_prolonged with HTTP 503 (a prolongation written
    /// but never reported, for the desk's "USOS not told yet").
    #[arg(long)]
    usos_fail_marks: bool,
    /// Seed N ID123 mobile cards (template 906c56c2d85817633abc07978f4899ff89cff060).
    #[arg(long, value_name = "N")]
    seed_id123: Option<usize>,
}

fn main() -> ExitCode {
    match serve(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn serve(args: Args) -> Result<(), Failure> {
    let faults: ServerFaults =
        args.faults
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|err| {
                Failure::new(
                    format!("bad --faults: {err}"),
                    "use e.g. error_rate=0.1,429_every=7,delay_ms=20,truncate_rate=0.05,seed=1",
                )
            })?;
    let mut usos = UsosOptions::default();
    if let (Some(key), Some(cert)) = (&args.usos_signer_key, &args.usos_signer_cert) {
        let key_failure = Failure::from;
        usos.signer = Some((
            keys::load_signing_key(key, None).map_err(key_failure)?,
            keys::load_certificate(cert).map_err(key_failure)?,
        ));
    }
    if let Some(var) = &args.usos_card_key_env {
        let master = Secret::lookup(var)?;
        let master =
            zeroize::Zeroizing::new(hex::decode(master.expose().trim()).map_err(|_| {
                Failure::new(
                    format!("{var} does not hold a hex key"),
                    "export the card_key master as hex",
                )
            })?);
        usos.card_key = Some((args.usos_card_key_type, master));
    }
    let port = args.port;
    let server =
        ReferenceServer::start_with(port, args.db.as_deref(), faults, usos).map_err(|err| {
            Failure::new(
                format!("cannot start the reference server on 127.0.0.1:{port}: {err}"),
                "pick another --port (0 = any free one)",
            )
        })?;
    if let Some(count) = args.seed_people {
        server.seed_people(count).map_err(|err| {
            Failure::new(
                format!("cannot seed the server: {err}"),
                "check the --db file",
            )
        })?;
    }
    if let Some(count) = args.seed_id123 {
        server.seed_id123(count);
    }
    server.usos_fail_marks(args.usos_fail_marks);
    // Scripts read the address from this line.
    println!("listening on {}", server.url());
    server.wait();
    Ok(())
}
