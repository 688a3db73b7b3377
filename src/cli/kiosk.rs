//! `validate` (the headless kiosk: one verdict line per tap) and `trust` (the issuer
//! certificates the kiosk verifies ELS signatures against).

use std::path::Path;
use std::time::{Duration, Instant};

use cardstation::card::ReaderEvent;
use cardstation::card::pcsc::{PcscTransport, ReaderWatcher, Sharing};
use cardstation::config::Profile;
use cardstation::config::keys;
use cardstation::station::validate::{self, Decision, Policy};
use cardstation::store::Store;

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
    let mut policy = Policy::for_station(profile, &store)?;
    if policy.trusted.is_empty() && policy.desfire.is_none() {
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
                // The day can change while a kiosk runs.
                policy.today = time::OffsetDateTime::now_utc().date();
                match tap(&reader, &store, &policy) {
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

fn tap(reader: &str, store: &Store, policy: &Policy) -> Result<Decision, Failure> {
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
    for issuer in Store::open(db)?.trusted_issuers()? {
        println!("{}\t{}\t{}", issuer.sha256, issuer.added_at, issuer.subject);
    }
    Ok(())
}
