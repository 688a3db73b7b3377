//! `els sign | verify | read | write | prolong`: the signed student-card structure, offline and
//! on the card in a reader.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;
use time::Date;
use x509_cert::Certificate;
use zeroize::Zeroizing;

use cardstation::card::els::{self, CardKey, ElsCardError};
use cardstation::card::pcsc::{self, PcscTransport};
use cardstation::card::read_chip_serial;
use cardstation::config::keys;
use cardstation::config::{Els, Profile, Secret};
use cardstation::crypto::diversify::KeyAlgorithm;
use cardstation::crypto::els_sig::{self, Certificates, ElsData, VerifyError, VerifyOptions};
use cardstation::station::desk::{self, DeskError};
use cardstation::station::issue::{self, ElsSource, IssueError, Signer};
use cardstation::station::validate::TrustList;
use cardstation::store::Store;

use super::Failure;
use cardstation::error::Problem;
use cardstation::station::auth::Action;

#[derive(Subcommand)]
pub enum ElsCommand {
    /// Sign card data offline into an EF.ELS structure (DER).
    Sign {
        /// Card data (JSON: chip_serial, university, surnames, given_names, album_number, edition, pesel, expires).
        #[arg(long, value_name = "FILE.json")]
        data: PathBuf,
        #[command(flatten)]
        signer: SignerArgs,
        #[arg(long, value_name = "ELS.der")]
        out: PathBuf,
    },
    /// Verify an EF.ELS structure offline, as the kiosk does (the store's revocations and
    /// CRLs refuse a signer); exit 1 names the failed check.
    Verify {
        #[arg(value_name = "ELS.der")]
        file: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        /// The chip serial the data must be bound to (hex); without it the binding is not checked.
        #[arg(long, value_name = "HEX")]
        chip_serial: Option<String>,
    },
    /// Read and verify the ELS on the card in the reader, as the kiosk does (the store's
    /// revocations and CRLs refuse a signer).
    Read {
        #[arg(long, value_name = "R")]
        reader: Option<String>,
        /// One JSON object on the last line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        trust: TrustArgs,
    },
    /// Issue: sign the data for the card in the reader, write it, read back and verify.
    /// With --cardholder the data comes from the store and the verified card is recorded there.
    Write {
        #[command(flatten)]
        content: ContentArgs,
        #[command(flatten)]
        signer: SignerArgs,
        #[command(flatten)]
        card_key: CardKeyArgs,
        #[arg(long, value_name = "R")]
        reader: Option<String>,
    },
    /// Prolong: rewrite the card's ELS with a new expiry date.
    Prolong {
        /// The new expiry date (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        expires: String,
        #[command(flatten)]
        signer: SignerArgs,
        #[command(flatten)]
        card_key: CardKeyArgs,
        #[arg(long, value_name = "R")]
        reader: Option<String>,
    },
}

#[derive(Args)]
pub struct SignerArgs {
    /// The signer's PKCS#8 PEM private key (ECDSA P-256), readable by its owner only
    /// (default: the profile's [els] signer_key).
    #[arg(long, value_name = "KEY.pem")]
    key: Option<PathBuf>,
    /// The signer's X.509 certificate (PEM or DER); it is also written to EF.CERT
    /// (default: the profile's [els] signer_cert).
    #[arg(long, value_name = "CERT.pem")]
    cert: Option<PathBuf>,
    /// Environment variable holding the passphrase of an encrypted key.
    #[arg(long, value_name = "VAR")]
    passphrase_env: Option<String>,
}

/// What goes on the card: a data file, or a store cardholder's data completed by the issuing
/// office (university and edition default to the profile's [els]).
#[derive(Args)]
pub struct ContentArgs {
    #[arg(long, value_name = "FILE.json", required_unless_present = "cardholder")]
    data: Option<PathBuf>,
    /// The cardholder (store id) the card is for; the verified card is recorded there.
    #[arg(long, value_name = "ID")]
    cardholder: Option<i64>,
    #[arg(long, value_name = "NAME")]
    university: Option<String>,
    /// Series/edition code printed on the card.
    #[arg(long, value_name = "CODE")]
    edition: Option<String>,
    /// Last day the card is valid (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    expires: Option<String>,
}

#[derive(Args)]
pub struct TrustArgs {
    /// The expected signer or issuer certificate; trusted as given when no --trust is given
    /// (without either: the store's trusted issuers, `cardstation trust add`).
    #[arg(long, value_name = "CERT.pem")]
    cert: Option<PathBuf>,
    /// A directory of trusted issuer certificates (*.pem, *.crt, *.der).
    #[arg(long, value_name = "DIR")]
    trust: Option<PathBuf>,
}

#[derive(Args)]
pub struct CardKeyArgs {
    /// The card_key master (hex), diversified per card (AN10922). Prefer --card-key-env: a
    /// command line is visible to other users of the machine.
    #[arg(long, value_name = "HEX", conflicts_with = "card_key_env")]
    card_key: Option<String>,
    /// Environment variable holding the card_key master (hex).
    #[arg(long, value_name = "VAR")]
    card_key_env: Option<String>,
    /// Key type (default: the profile's [els] card_key_type, else aes).
    #[arg(long, value_name = "ALG")]
    key_alg: Option<KeyAlgorithm>,
    /// Diversification system identifier, text (default: the profile's, else ELS).
    #[arg(long, value_name = "TEXT")]
    system_id: Option<String>,
}

const READER_WAIT: Duration = Duration::from_secs(5);

pub fn run(command: ElsCommand, profile: &Profile, db: &Path) -> Result<(), Failure> {
    match &command {
        ElsCommand::Write { .. } => super::require(profile, Action::IssueCard)?,
        ElsCommand::Prolong { .. } => super::require(profile, Action::ProlongCard)?,
        _ => {}
    }
    let els = profile.els.as_ref();
    match command {
        ElsCommand::Sign { data, signer, out } => sign(&data, &signer, els, &out),
        ElsCommand::Verify {
            file,
            trust,
            chip_serial,
        } => verify(&file, &trust, chip_serial, db),
        ElsCommand::Read {
            reader,
            json,
            trust,
        } => read(reader.as_deref(), json, &trust, db),
        ElsCommand::Write {
            content,
            signer,
            card_key,
            reader,
        } => write(&content, &signer, &card_key, reader.as_deref(), db, els),
        ElsCommand::Prolong {
            expires,
            signer,
            card_key,
            reader,
        } => prolong(&expires, &signer, &card_key, reader.as_deref(), db, els),
    }
}

pub(crate) fn today() -> Date {
    time::OffsetDateTime::now_utc().date()
}

fn load_data(path: &Path) -> Result<ElsData, Failure> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Failure::new(
            format!("cannot read {}: {err}", path.display()),
            "check the --data path",
        )
    })?;
    serde_json::from_str(&text).map_err(|err| {
        Failure::new(
            format!("{} is not valid card data: {err}", path.display()),
            "the keys are chip_serial, university, surnames, given_names, album_number, edition, pesel, expires (YYYY-MM-DD)",
        )
    })
}

/// The signer from the command line, else from the profile's [els] section.
fn load_signer(args: &SignerArgs, els: Option<&Els>) -> Result<Signer, Failure> {
    let missing = || {
        Failure::new(
            "no signer key and certificate given",
            "pass --key and --cert, or set signer_key and signer_cert in the profile's [els]",
        )
    };
    let key_path = args
        .key
        .as_deref()
        .or(els.and_then(|e| e.signer_key.as_deref()))
        .ok_or_else(missing)?;
    let cert_path = args
        .cert
        .as_deref()
        .or(els.and_then(|e| e.signer_cert.as_deref()))
        .ok_or_else(missing)?;
    let passphrase_env = args
        .passphrase_env
        .as_deref()
        .or(els.and_then(|e| e.signer_passphrase_env.as_deref()));
    let key = keys::load_signing_key(key_path, passphrase_env).map_err(key_failure)?;
    let certificate = keys::load_certificate(cert_path).map_err(key_failure)?;
    Ok(Signer { key, certificate })
}

pub(crate) fn key_failure(err: keys::KeyError) -> Failure {
    Failure::from(err)
}

pub(crate) fn load_trust(args: &TrustArgs) -> Result<Vec<Certificate>, Failure> {
    let mut trusted = Vec::new();
    if let Some(dir) = &args.trust {
        let entries = std::fs::read_dir(dir).map_err(|err| {
            Failure::new(
                format!("cannot read --trust {}: {err}", dir.display()),
                "give a directory of certificates",
            )
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path
                .extension()
                .is_some_and(|e| e == "pem" || e == "crt" || e == "der")
            {
                trusted.push(keys::load_certificate(&path).map_err(key_failure)?);
            }
        }
    } else if let Some(cert) = &args.cert {
        trusted.push(keys::load_certificate(cert).map_err(key_failure)?);
    }
    Ok(trusted)
}

/// The card_key master from the command line, else from the profile's [els] variable.
fn card_key(args: &CardKeyArgs, els: Option<&Els>) -> Result<CardKey, Failure> {
    let variable = args
        .card_key_env
        .as_deref()
        .or(els.and_then(|e| e.card_key_env.as_deref()));
    let hex_text = match (&args.card_key, variable) {
        (Some(hex_text), _) => Zeroizing::new(hex_text.clone()),
        (None, Some(var)) => Zeroizing::new(Secret::lookup(var)?.expose().to_owned()),
        (None, None) => {
            return Err(Failure::new(
                "no card key given",
                "pass --card-key-env VAR, or set card_key_env in the profile's [els]",
            ));
        }
    };
    let algorithm = args
        .key_alg
        .or(els.map(|e| e.card_key_type))
        .unwrap_or(KeyAlgorithm::Aes128);
    let system_id = args
        .system_id
        .clone()
        .or(els.map(|e| e.system_id.clone()))
        .unwrap_or_else(|| "ELS".to_owned());
    CardKey::master_from_hex(algorithm, &hex_text, system_id.as_bytes())
        .map_err(|cause| Failure::new(cause, format!("give the {algorithm} master key as hex")))
}

pub(crate) fn connect(filter: Option<&str>) -> Result<PcscTransport, Failure> {
    let reader = pcsc::wait_for_card(filter, READER_WAIT)?;
    Ok(PcscTransport::connect_exclusive(&reader, READER_WAIT)?)
}

fn issue_failure(err: IssueError) -> Failure {
    Failure::from(err)
}

fn sign(data: &Path, signer: &SignerArgs, els: Option<&Els>, out: &Path) -> Result<(), Failure> {
    let data = load_data(data)?;
    let signer = load_signer(signer, els)?;
    let structure = signer
        .sign(&data, Certificates::Embed, today())
        .map_err(|err| Failure::new(err.to_string(), "correct the card data"))?;
    std::fs::write(out, &structure).map_err(|err| {
        Failure::new(
            format!("cannot write {}: {err}", out.display()),
            "check the --out path and free space",
        )
    })?;
    eprintln!("signed {} bytes into {}", structure.len(), out.display());
    Ok(())
}

/// What `els verify` and `els read` check a structure against, as the kiosk does: the
/// certificates given with --cert/--trust, else the store's trusted issuers
/// (`cardstation trust add`), and always the store's revocations, by hand and from CRLs.
fn trust_list(args: &TrustArgs, store: &Store) -> Result<TrustList, Failure> {
    let mut list = TrustList::of(store)?;
    let given = load_trust(args)?;
    if !given.is_empty() {
        list.trusted = given;
    }
    Ok(list)
}

/// Where the store's revocation of `serial` came from, for a structure refused as revoked.
fn revoked_by(store: &Store, err: &VerifyError) -> Result<Option<String>, Failure> {
    let VerifyError::Revoked { serial, .. } = err else {
        return Ok(None);
    };
    let crls = store.crls()?;
    let sources: Vec<String> = store
        .revocations()?
        .into_iter()
        .filter(|revocation| revocation.serial_hex == *serial)
        .map(|revocation| match revocation.crl_id {
            None => format!("`trust revoke` at {}", revocation.added_at),
            Some(id) => match crls.iter().find(|crl| crl.id == id) {
                Some(crl) => format!(
                    "the CRL of {} issued {}",
                    crl.issuer_subject, crl.this_update
                ),
                None => format!("CRL {id}"),
            },
        })
        .collect();
    Ok((!sources.is_empty()).then(|| sources.join("; ")))
}

fn verify(
    file: &Path,
    trust: &TrustArgs,
    chip_serial: Option<String>,
    db: &Path,
) -> Result<(), Failure> {
    let structure = std::fs::read(file).map_err(|err| {
        Failure::new(
            format!("cannot read {}: {err}", file.display()),
            "check the file path",
        )
    })?;
    let card_cert = trust
        .cert
        .as_deref()
        .map(keys::load_certificate)
        .transpose()
        .map_err(key_failure)?;
    let store = Store::open(db)?;
    let list = trust_list(trust, &store)?;
    let options = VerifyOptions {
        card_cert,
        trusted: &list.trusted,
        revoked: &list.revoked,
        chip_serial,
        today: today(),
        now: time::OffsetDateTime::now_utc(),
    };
    match els_sig::verify(&structure, &options) {
        Ok(verified) => {
            println!(
                "valid: {} {} (album {}), expires {}, signed by {}",
                verified.data.given_names.join(" "),
                verified.data.surnames.join(" "),
                verified.data.album_number,
                verified.data.expires,
                verified.signer_subject
            );
            Ok(())
        }
        Err(err) => {
            let mut failure = verify_failure(&err);
            if let Some(source) = revoked_by(&store, &err)? {
                failure.cause = format!("{} (revoked by {source})", failure.cause);
            }
            Err(failure)
        }
    }
}

fn verify_failure(err: &VerifyError) -> Failure {
    let next = match err {
        VerifyError::UntrustedIssuer(_) | VerifyError::MissingCertificate => {
            "give the issuer certificate with --cert or --trust DIR, or trust it in the store (`cardstation trust add CERT.pem`)"
        }
        VerifyError::Revoked { .. } => {
            "treat the card as not valid: its signer's certificate is revoked (`cardstation trust list` shows the revocations)"
        }
        VerifyError::Expired(_) => "prolong the card",
        VerifyError::WrongChip { .. } => {
            "the data was copied from another card: treat the card as forged"
        }
        _ => "treat the card as not valid",
    };
    Failure::new(format!("{} check failed: {err}", err.kind()), next)
}

fn read(filter: Option<&str>, json: bool, trust: &TrustArgs, db: &Path) -> Result<(), Failure> {
    let store = Store::open(db)?;
    let list = trust_list(trust, &store)?;
    let mut card = connect(filter)?;
    let reading = card.in_transaction(|t| {
        let chip = read_chip_serial(t)?;
        Ok(issue::read_els_and_verify(
            t,
            &chip,
            &list.trusted,
            &list.revoked,
            today(),
        ))
    })??;
    let (valid, reason, data) = match &reading.verdict {
        Ok(verified) => (true, None, Some(verified.data.clone())),
        Err(err) => (
            false,
            Some(err),
            els_sig::decode_unverified(&reading.structure).ok(),
        ),
    };
    let revoked_by = reason
        .map(|err| revoked_by(&store, err))
        .transpose()?
        .flatten();
    if json {
        let object = json!({
            "valid": valid,
            "reason": reason.map(VerifyError::kind),
            "message": reason.map(ToString::to_string),
            "revoked_by": revoked_by,
            "uid": reading.chip.bytes().map(hex::encode_upper),
            "chip_checked": reading.chip.bytes().is_some(),
            "data": data,
            "signer": reading.verdict.as_ref().ok().map(|v| v.signer_subject.clone()),
        });
        println!("{object}");
    } else {
        match reading.chip.bytes() {
            Some(serial) => println!("chip      {}", hex::encode_upper(serial)),
            None => println!("chip      {}", issue::CHIP_NOT_CHECKED),
        }
        if let Some(data) = &data {
            println!(
                "name      {} {}",
                data.given_names.join(" "),
                data.surnames.join(" ")
            );
            println!("album     {}  edition {}", data.album_number, data.edition);
            println!("university {}", data.university);
            println!("expires   {}", data.expires);
        }
        match reason {
            None => println!("valid"),
            Some(err) => match &revoked_by {
                Some(source) => println!("NOT VALID ({}): {err} (revoked by {source})", err.kind()),
                None => println!("NOT VALID ({}): {err}", err.kind()),
            },
        }
    }
    Ok(())
}

pub(crate) fn parse_date(text: &str, flag: &str) -> Result<Date, Failure> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format)
        .map_err(|_| Failure::new(format!("{flag} {text} is not a date"), "use YYYY-MM-DD"))
}

fn write(
    content: &ContentArgs,
    signer: &SignerArgs,
    key: &CardKeyArgs,
    filter: Option<&str>,
    db: &Path,
    els: Option<&Els>,
) -> Result<(), Failure> {
    let cardholder = content.cardholder;
    let mut store = cardholder.map(|_| Store::open(db)).transpose()?;
    let data = match (&content.data, cardholder, &store) {
        (Some(path), _, _) => load_data(path)?,
        (None, Some(id), Some(store)) => {
            let university = content
                .university
                .as_ref()
                .or(els.and_then(|e| e.university.as_ref()));
            let edition = content
                .edition
                .as_ref()
                .or(els.and_then(|e| e.edition.as_ref()));
            let (Some(university), Some(edition), Some(expires)) =
                (university, edition, &content.expires)
            else {
                return Err(Failure::new(
                    "--cardholder without --data needs the university, edition and --expires",
                    "give --university/--edition (or set them in the profile's [els]) and --expires",
                ));
            };
            let expires = parse_date(expires, "--expires")?;
            issue::els_data_for(store, id, university, edition, expires)?
        }
        _ => {
            return Err(Failure::new(
                "nothing to write",
                "give --data FILE.json or --cardholder ID",
            ));
        }
    };
    let signer = load_signer(signer, els)?;
    let card_key = card_key(key, els)?;
    let trusted = [signer.certificate.clone()];
    let mut card = connect(filter)?;
    let issued = card.in_transaction(|t| {
        if let (Some(store), Some(id)) = (store.as_ref(), cardholder) {
            // The desk's rule: a second card beside one still in use needs a reason, which
            // only the desk asks for.
            let uid = match els::serial_to_bind(t) {
                Ok(uid) => uid,
                Err(ElsCardError::Transport(err)) => return Err(err),
                Err(err) => return Ok(Err(Failure::from(err))),
            };
            match desk::cards_in_use(store, id, &uid) {
                Ok(in_use) => {
                    if let Some(&card_id) = in_use.first() {
                        let refused = DeskError::NeedsDuplicateReason { card_id };
                        return Ok(Err(Failure::new(
                            format!("{refused}; nothing was written"),
                            refused.next_step(),
                        )));
                    }
                }
                Err(err) => return Ok(Err(Failure::from(err))),
            }
        }
        Ok(issue::issue(
            t,
            ElsSource::Sign {
                data,
                signer: &signer,
            },
            &card_key,
            &trusted,
            today(),
        )
        .map_err(issue_failure))
    })??;
    let name = format!(
        "{} {}",
        issued.verified.data.given_names.join(" "),
        issued.verified.data.surnames.join(" ")
    );
    println!(
        "issued chip {}: {name}, expires {}",
        hex::encode_upper(&issued.uid),
        issued.verified.data.expires
    );
    if let (Some(store), Some(id)) = (store.as_mut(), cardholder) {
        let card_id =
            issue::record_issued(store, id, &issued, &super::operator()).map_err(|err| {
                Failure::new(
                    format!("the card is written and verified, but recording it failed: {err}"),
                    err.next_step(),
                )
            })?;
        println!("recorded as card {card_id} of cardholder {id}");
    }
    Ok(())
}

fn prolong(
    expires: &str,
    signer: &SignerArgs,
    key: &CardKeyArgs,
    filter: Option<&str>,
    db: &Path,
    els: Option<&Els>,
) -> Result<(), Failure> {
    let new_expiry = parse_date(expires, "--expires")?;
    let signer = load_signer(signer, els)?;
    let card_key = card_key(key, els)?;
    let trusted = [signer.certificate.clone()];
    let mut card = connect(filter)?;
    let prolonged = card
        .in_transaction(|t| {
            Ok(issue::prolong(
                t,
                &signer,
                &card_key,
                new_expiry,
                &trusted,
                today(),
            ))
        })?
        .map_err(issue_failure)?;
    println!(
        "prolonged chip {} until {}",
        hex::encode_upper(&prolonged.uid),
        prolonged.verified.data.expires
    );
    report_recorded(issue::record_prolonged(
        &mut Store::open(db)?,
        &prolonged,
        None,
        &super::operator(),
    )?);
    Ok(())
}

/// What a prolongation changed in the register.
pub(crate) fn report_recorded(card_id: Option<i64>) {
    match card_id {
        Some(card_id) => println!("card {card_id} in the register now expires then"),
        None => println!("the chip is not in this station's register; nothing recorded"),
    }
}
