//! `validate` (the headless kiosk: one verdict line per tap) and `trust` (the issuer
//! certificates the kiosk verifies ELS signatures against, and the revocations it refuses).

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use cardstation::card::ReaderEvent;
use cardstation::card::pcsc::{PcscTransport, ReaderWatcher, Sharing};
use cardstation::config::Profile;
use cardstation::config::keys;
use cardstation::crypto::els_sig::serial_bytes;
use cardstation::station::validate::{self, Decision, LivePolicy, Policy};
use cardstation::store::trust;
use cardstation::store::{NewRevocation, Store};
use der::Decode;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use super::Failure;

/// Waits for taps and prints one line per verdict, logging each in the store. With `once`,
/// returns after the first verdict (or fails after `wait` without one).
pub fn validate(
    profile: &Profile,
    db: &Path,
    filter: Option<&str>,
    json: bool,
    once: bool,
    wait: Option<f64>,
) -> Result<(), Failure> {
    let store = Store::open(db)?;
    // Trust changes made while it runs (`trust revoke` from another shell, a sync) reach
    // the next tap.
    let mut policy = LivePolicy::for_station(profile, &store)?;
    if policy.policy().trusted.is_empty() && policy.policy().desfire.is_none() {
        eprintln!(
            "warning: no trusted issuer in the store and no [desfire] in the profile: only UIDs can be checked (`cardstation trust add CERT.pem`)"
        );
    }
    let deadline = wait.map(|secs| Instant::now() + Duration::from_secs_f64(secs.max(0.0)));
    let (_watcher, events) = ReaderWatcher::spawn();
    loop {
        let event = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match recv_timeout(&events, left) {
                    Some(event) => event,
                    None => {
                        return Err(Failure::new(
                            "no card was presented in time",
                            "tap a card on one of the profile's [readers] (or the --reader given)",
                        ));
                    }
                }
            }
            None => events
                .recv_blocking()
                .map_err(|_| Failure::new("the reader watcher stopped", "restart cardstation"))?,
        };
        match event {
            // `--reader` narrows the profile's readers; a card on any other reader on the box
            // is not the kiosk's.
            ReaderEvent::CardInserted { reader, .. }
                if profile.readers.includes(&reader)
                    && filter.is_none_or(|f| reader.to_lowercase().contains(&f.to_lowercase())) =>
            {
                match tap(&reader, &store, &mut policy) {
                    Ok(decision) => {
                        print_decision(&decision, json);
                        if once {
                            return Ok(());
                        }
                    }
                    // A card pulled away too soon: no verdict, just wait for the next tap.
                    Err(failure) => {
                        eprintln!("no verdict: {} ({})", failure.cause, failure.next_step)
                    }
                }
            }
            ReaderEvent::CardInserted { reader, .. } if !profile.readers.includes(&reader) => {
                eprintln!(
                    "a card on {reader} was not checked: the profile's [readers] do not name it \
                     (add it there to validate on it)"
                )
            }
            ReaderEvent::ServiceLost => {
                eprintln!("the smart-card service stopped; waiting for it to come back")
            }
            _ => {}
        }
    }
}

fn recv_timeout(
    events: &async_channel::Receiver<ReaderEvent>,
    timeout: Duration,
) -> Option<ReaderEvent> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(event) = events.try_recv() {
            return Some(event);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn tap(reader: &str, store: &Store, policy: &mut LivePolicy) -> Result<Decision, Failure> {
    let policy: &Policy = policy.for_tap(store)?;
    let mut card = PcscTransport::connect(reader, Sharing::Shared)?;
    let decision = card.in_transaction(|t| validate::validate(t, store, policy))?;
    let holder = decision.holder_id.as_deref().and_then(|id| id.parse().ok());
    // The verdict stands even if the log write fails (full disk): the kiosk must answer.
    if let Err(err) =
        store.record_validation(&decision.uid, decision.verdict, &decision.reason, holder)
    {
        tracing::error!(%err, "the validation could not be logged");
    }
    Ok(decision)
}

fn print_decision(decision: &Decision, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string(decision).expect("a decision serialises")
        );
    } else {
        println!(
            "{:<8} {}  {}  ({:.1} ms)",
            decision.verdict.as_str().to_uppercase(),
            hex::encode_upper(&decision.uid),
            decision.reason,
            decision.elapsed.as_secs_f64() * 1e3
        );
    }
}

/// `trust add CERT`: the kiosk and `els read` will accept ELS structures signed by this
/// certificate or by certificates it issued.
pub fn trust_add(db: &Path, certificate: &Path) -> Result<(), Failure> {
    let certificate = keys::load_certificate(certificate)
        .map_err(|err| Failure::new(err.to_string(), "give an X.509 certificate in PEM or DER"))?;
    let der = der::Encode::to_der(&certificate)
        .map_err(|err| Failure::new(err.to_string(), "check the certificate"))?;
    let mut store = Store::open(db)?;
    store.add_trusted_issuer(&der, "cli")?;
    println!("trusted: {}", certificate.tbs_certificate.subject);
    Ok(())
}

pub fn trust_list(db: &Path) -> Result<(), Failure> {
    let store = Store::open(db)?;
    for issuer in store.trusted_issuers()? {
        println!("{}\t{}\t{}", issuer.sha256, issuer.added_at, issuer.subject);
    }
    let crls = store.crls()?;
    for revocation in store.revocations()? {
        let source = match revocation.crl_id {
            Some(id) => format!("crl {id}"),
            None => "by hand".to_owned(),
        };
        println!(
            "revoked\t{}\t{}\tserial {}\t{}\t{source}",
            revocation.added_at,
            revocation.subject.as_deref().unwrap_or("-"),
            revocation.serial_hex,
            revocation.issuer_subject.as_deref().map_or_else(
                || "any issuer".to_owned(),
                |issuer| format!("issuer {issuer}")
            ),
        );
    }
    let now = rfc3339(SystemTime::now());
    for crl in crls {
        let next = match &crl.next_update {
            Some(next) if *next < now => {
                format!("next update {next} (out of date: load a newer CRL)")
            }
            Some(next) => format!("next update {next}"),
            None => "no next update".to_owned(),
        };
        println!(
            "crl {}\t{}\t{}\tissued {}\t{next}\t{} revoked",
            crl.id, crl.added_at, crl.issuer_subject, crl.this_update, crl.revoked
        );
    }
    Ok(())
}

/// `trust remove CERT|FINGERPRINT`.
pub fn trust_remove(db: &Path, certificate: &str) -> Result<(), Failure> {
    let fingerprint = fingerprint_of(certificate)?;
    match Store::open(db)?.remove_trusted_issuer(&fingerprint, &super::operator())? {
        Some(issuer) => {
            println!("no longer trusted: {}", issuer.subject);
            Ok(())
        }
        None => Err(Failure::new(
            format!("no trusted certificate has the SHA-256 {fingerprint}"),
            "`cardstation trust list` shows the trusted certificates and their SHA-256",
        )),
    }
}

/// `trust revoke CERT|SERIAL [--issuer CERT|FINGERPRINT]`.
pub fn trust_revoke(db: &Path, certificate: &str, issuer: Option<&str>) -> Result<(), Failure> {
    let mut store = Store::open(db)?;
    let revocation =
        if Path::new(certificate).is_file() {
            if issuer.is_some() {
                return Err(Failure::new(
                    "--issuer is for a serial number: a certificate file names its issuer",
                    "leave out --issuer",
                ));
            }
            let cert = load_certificate(Path::new(certificate))?;
            let tbs = &cert.tbs_certificate;
            NewRevocation {
                issuer_der: Some(encode(&tbs.issuer)?),
                issuer_subject: Some(tbs.issuer.to_string()),
                serial_hex: hex::encode_upper(serial_bytes(tbs.serial_number.as_bytes())),
                subject: Some(tbs.subject.to_string()),
            }
        } else {
            let digits: String = certificate
                .trim()
                .trim_start_matches("0x")
                .chars()
                .filter(|c| *c != ':')
                .collect();
            let padded = if digits.len() % 2 == 1 {
                format!("0{digits}")
            } else {
                digits
            };
            let serial = hex::decode(&padded).ok().filter(|bytes| !bytes.is_empty()).ok_or_else(|| {
            Failure::new(
                format!("{certificate} is neither a certificate file nor a serial number in hex"),
                "give the certificate file, or its serial as `openssl x509 -serial` prints it",
            )
        })?;
            let issuer = issuer
                .map(|issuer| issuer_certificate(&store, issuer))
                .transpose()?;
            NewRevocation {
                issuer_der: issuer
                    .as_ref()
                    .map(|cert| encode(&cert.tbs_certificate.subject))
                    .transpose()?,
                issuer_subject: issuer.map(|cert| cert.tbs_certificate.subject.to_string()),
                serial_hex: hex::encode_upper(serial_bytes(&serial)),
                subject: None,
            }
        };
    store.revoke_certificate(&revocation, &super::operator())?;
    println!(
        "revoked: serial {} ({}{})",
        revocation.serial_hex,
        revocation.issuer_subject.as_deref().map_or_else(
            || "any issuer".to_owned(),
            |issuer| format!("issuer {issuer}")
        ),
        revocation
            .subject
            .as_deref()
            .map(|subject| format!(", {subject}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// `trust crl add FILE`: checked against the trusted certificates, then its serials stored.
pub fn trust_crl_add(db: &Path, file: &Path) -> Result<(), Failure> {
    let bytes = std::fs::read(file).map_err(|err| {
        Failure::new(
            format!("cannot read {}: {err}", file.display()),
            "check the file path",
        )
    })?;
    let mut store = Store::open(db)?;
    let crl = trust::add_crl(&mut store, &bytes, &super::operator(), SystemTime::now())?;
    println!(
        "CRL of {}: {} revoked certificate(s), {}",
        crl.issuer_subject,
        crl.serials_hex.len(),
        crl.next_update.as_deref().map_or_else(
            || "no next update".to_owned(),
            |next| format!("next update {next}")
        )
    );
    Ok(())
}

fn load_certificate(path: &Path) -> Result<Certificate, Failure> {
    keys::load_certificate(path)
        .map_err(|err| Failure::new(err.to_string(), "give an X.509 certificate in PEM or DER"))
}

fn encode(value: &impl der::Encode) -> Result<Vec<u8>, Failure> {
    value
        .to_der()
        .map_err(|err| Failure::new(err.to_string(), "check the certificate"))
}

/// The SHA-256 of a certificate file's DER, or the fingerprint given (colons allowed).
fn fingerprint_of(certificate: &str) -> Result<String, Failure> {
    if Path::new(certificate).is_file() {
        let der = encode(&load_certificate(Path::new(certificate))?)?;
        return Ok(hex::encode_upper(Sha256::digest(der)));
    }
    let fingerprint: String = certificate.chars().filter(|c| *c != ':').collect();
    if fingerprint.len() != 64 || !fingerprint.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Failure::new(
            format!("{certificate} is neither a certificate file nor a SHA-256 fingerprint"),
            "give the certificate file or the SHA-256 `cardstation trust list` shows",
        ));
    }
    Ok(fingerprint.to_uppercase())
}

/// An issuer named by its certificate file or by a trusted certificate's SHA-256.
fn issuer_certificate(store: &Store, issuer: &str) -> Result<Certificate, Failure> {
    if Path::new(issuer).is_file() {
        return load_certificate(Path::new(issuer));
    }
    let fingerprint = fingerprint_of(issuer)?;
    store
        .trusted_issuers()?
        .into_iter()
        .find(|trusted| trusted.sha256 == fingerprint)
        .and_then(|trusted| Certificate::from_der(&trusted.certificate_der).ok())
        .ok_or_else(|| {
            Failure::new(
                format!("no trusted certificate has the SHA-256 {fingerprint}"),
                "give the issuer's certificate file, or a SHA-256 `cardstation trust list` shows",
            )
        })
}

fn rfc3339(moment: SystemTime) -> String {
    time::OffsetDateTime::from(moment)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "?".into())
}
