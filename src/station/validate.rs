//! The kiosk's decision on a tapped or inserted card, made offline from what the card proves
//! and what the local register says: valid, expired, blocked, unknown or forged, with the
//! reason. Nothing here touches the network.

use std::time::{Duration, Instant};

use serde::Serialize;
use time::Date;
use x509_cert::Certificate;

use super::desfire::{self, CardRecord, DesfireReadError, ReadKeys};
use super::issue::{self, Reading};
use crate::card::desfire::DesfireError;
use crate::card::els::ElsCardError;
use crate::card::{ChipSerial, Transport, TransportError, read_chip_serial};
use crate::config::{DesfireApp, WhenStale};
use crate::crypto::els_sig::{Revoked, VerifyError};
use crate::error::Problem;
use crate::store::{CardStatus, Store, UidKind};

/// The five verdicts; the store's type, so the validations log holds exactly these.
pub use crate::store::Verdict;

/// What the verdict rests on, strongest first (the derived order is the ranking: `a < b`
/// means `a` proves more). Its [`Evidence::detail`] ends the reason of every valid verdict.
///
/// 1. [`Evidence::SignedAndAuthenticatedChip`]: a dual-interface card whose ELS signature
///    verified and whose chip passed the DESFire challenge-response with its diversified read
///    key: genuine data on the genuine chip.
/// 2. [`Evidence::AuthenticatedChip`]: the DESFire challenge-response passed and the record's
///    signature verified: the chip holds a key only the desk could have put there.
/// 3. [`Evidence::SignedChip`]: the ELS signature verified and names this chip's serial, but
///    the public ELS format has no chip authentication: EF.ELS and EF.CERT are readable by
///    anyone, so an emulator that copies them and the UID passes. Signature only.
/// 4. [`Evidence::UidOnly`]: only the chip UID, which any emulator can report.
///
/// A card whose register entry says it was issued with a stronger proof than it shows is
/// `forged` (see [`RegisteredCard`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    SignedAndAuthenticatedChip,
    AuthenticatedChip,
    SignedChip,
    UidOnly,
}

impl Evidence {
    /// What this evidence proves, as the verdict's detail says it.
    pub fn detail(self) -> &'static str {
        match self {
            Self::SignedAndAuthenticatedChip => "signature and chip authenticated",
            Self::AuthenticatedChip => "chip authenticated, signed record",
            Self::SignedChip => "signature only, chip not authenticated",
            Self::UidOnly => "UID only, chip not authenticated",
        }
    }
}

/// Why the verdict is what it is: a stable key per reason (the kiosk window shows its text in
/// the kiosk's language; `key()` is what the JSON line and the catalogue use). Values such as
/// dates and names travel beside it in [`Decision::detail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Reason {
    /// The card's proof held and the register lets it in.
    Valid,
    /// The card's proof held; this station's register does not know the card.
    ValidNotInRegister,
    /// Valid on its UID alone, because the profile accepts that.
    ValidUidOnly,
    /// The register refuses the card (detail: the register's status).
    Refused,
    /// The card's own expiry date has passed (detail: the date).
    Expired,
    /// The ELS signature check failed; the `VerifyError::kind()` (revoked, wrong_chip, ...).
    Signature(&'static str),
    /// The ELS structure is signed with an algorithm this station does not verify.
    UnsupportedSignature,
    /// The chip's student-card data cannot be parsed.
    CardDataUnreadable,
    /// An ELS chip with no student-card data on it.
    NoCardData,
    /// The DESFire check failed; the `DesfireReadError::reason()` (authentication_refused,
    /// forged).
    Record(&'static str),
    /// A valid EF.ELS on a chip that fails (or lacks) the DESFire proof its register entry
    /// requires: a copied EF.ELS.
    CopiedEls,
    /// The register says the card has the DESFire application; this kiosk has no `[desfire]`.
    CannotCheckDesfire,
    /// A card with the DESFire application in a contact reader: its chip proves itself only
    /// contactless.
    TapContactless,
    /// Issued with a signed chip, shows only a UID.
    SignedChipMissing,
    /// Issued with the DESFire application, shows only a UID.
    DesfireMissing,
    /// Only a UID, and the profile does not accept UID-only cards.
    UidOnlyRefused,
    NotInRegister,
    /// Only a UID, and the register is too old to vouch for it.
    RegisterTooOld,
    /// The register cannot be read (detail: the store's error).
    RegisterUnreadable,
}

impl Reason {
    /// Every reason with a fixed key, and the signature kinds the kiosk knows, for the
    /// catalogue test (a signature kind not listed still gets the catalogue's fallback).
    pub const ALL: &[Reason] = &[
        Reason::Valid,
        Reason::ValidNotInRegister,
        Reason::ValidUidOnly,
        Reason::Refused,
        Reason::Expired,
        Reason::Signature("malformed"),
        Reason::Signature("forged"),
        Reason::Signature("untrusted_issuer"),
        Reason::Signature("wrong_chip"),
        Reason::Signature("revoked"),
        Reason::Signature("certificate_not_valid"),
        Reason::Signature("key_usage"),
        Reason::Signature("path_length"),
        Reason::Signature("weak_key"),
        Reason::Signature("not_a_ca"),
        Reason::UnsupportedSignature,
        Reason::CardDataUnreadable,
        Reason::NoCardData,
        Reason::Record("authentication_refused"),
        Reason::Record("forged"),
        Reason::CopiedEls,
        Reason::CannotCheckDesfire,
        Reason::TapContactless,
        Reason::SignedChipMissing,
        Reason::DesfireMissing,
        Reason::UidOnlyRefused,
        Reason::NotInRegister,
        Reason::RegisterTooOld,
        Reason::RegisterUnreadable,
    ];

    /// The stable key, e.g. `refused`, `signature.wrong_chip`, `record.forged`.
    pub fn key(self) -> String {
        let fixed = match self {
            Self::Signature(kind) => return format!("signature.{kind}"),
            Self::Record(kind) => return format!("record.{kind}"),
            Self::Valid => "valid",
            Self::ValidNotInRegister => "valid_not_in_register",
            Self::ValidUidOnly => "valid_uid_only",
            Self::Refused => "refused",
            Self::Expired => "expired",
            Self::UnsupportedSignature => "unsupported_signature",
            Self::CardDataUnreadable => "card_data_unreadable",
            Self::NoCardData => "no_card_data",
            Self::CopiedEls => "copied_els",
            Self::CannotCheckDesfire => "cannot_check_desfire",
            Self::TapContactless => "tap_contactless",
            Self::SignedChipMissing => "signed_chip_missing",
            Self::DesfireMissing => "desfire_missing",
            Self::UidOnlyRefused => "uid_only_refused",
            Self::NotInRegister => "not_in_register",
            Self::RegisterTooOld => "register_too_old",
            Self::RegisterUnreadable => "register_unreadable",
        };
        fixed.to_owned()
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> Self {
        reason.key()
    }
}

/// A card as the local register knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredCard {
    pub holder_id: Option<String>,
    /// `None` while the card may be used; otherwise why not (blocked, lost, withdrawn, ...).
    pub refused: Option<Refusal>,
    pub expires: Option<Date>,
    /// Issued with a signed chip (the register holds the chip serial the signature binds):
    /// such a card that shows no valid signature is a copy, whatever the policy says.
    pub signed_at_issue: bool,
    /// Issued with the university DESFire application: such a card must pass the DESFire
    /// challenge-response with its read key, whatever else it shows (a dual-interface card's
    /// valid EF.ELS without it is a copy).
    pub desfire_at_issue: bool,
}

/// The refusal of a card (or holder) the server no longer lists.
pub const DELETED_ON_THE_SERVER: &str = "deleted on the server";

/// Why the register refuses a card, whatever the card itself proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `Expired` for a card the register marks expired, `Blocked` for every other refusal.
    pub verdict: Verdict,
    /// What the register says, e.g. "blocked", "in_production", "deleted on the server".
    pub reason: String,
}

impl Refusal {
    pub fn blocked(reason: impl Into<String>) -> Self {
        Self {
            verdict: Verdict::Blocked,
            reason: reason.into(),
        }
    }

    /// The register's refusal of a card in `status`, if the status does not mean the card is
    /// in its holder's hands (an allow list: see [`CardStatus::in_holders_hands`]).
    pub fn of_status(status: CardStatus) -> Option<Self> {
        match status {
            _ if status.in_holders_hands() => None,
            CardStatus::Expired => Some(Self {
                verdict: Verdict::Expired,
                reason: status.to_string(),
            }),
            _ => Some(Self::blocked(status.to_string())),
        }
    }

    fn finding(&self, evidence: Evidence) -> Finding {
        Finding::new(
            self.verdict,
            Reason::Refused,
            format!("card {}", self.reason),
            evidence,
        )
        .with_detail(self.reason.clone())
    }
}

/// The offline knowledge a kiosk decides with. The store implements it; tests use a map.
pub trait Register {
    /// The card with this chip UID (contact or contactless, full length). `Err` when the
    /// register cannot be read: the kiosk then says so instead of calling the card unknown.
    fn card_by_uid(&self, uid: &[u8]) -> Result<Option<RegisteredCard>, String>;
    /// How old the register's data is (time since the last successful sync), if known.
    fn age(&self) -> Option<Duration>;
    /// The revocation fast path's last poll, when one is kept: how long ago, and how old it
    /// may get (`[kiosk] max_revocation_age_seconds`, recorded by the polling sync).
    fn revocations_age(&self) -> Option<(Duration, Duration)> {
        None
    }
}

/// The kiosk reads its register straight from the store: one connection on the kiosk's
/// worker thread, with the UID lookups prepared and cached.
impl Register for Store {
    fn card_by_uid(&self, uid: &[u8]) -> Result<Option<RegisteredCard>, String> {
        let card = match self
            .find_card_by_uid(UidKind::Contact, uid)
            .map_err(|e| e.to_string())?
        {
            Some(card) => Some(card),
            None => self
                .find_card_by_uid(UidKind::Contactless, uid)
                .map_err(|e| e.to_string())?,
        };
        Ok(card.map(|card| RegisteredCard {
            holder_id: Some(card.fields.cardholder_id.to_string()),
            // Deleted on the server (the card or its holder): refused, not unknown, so
            // the reader says why; see `store::Card::deleted_remotely_at`.
            refused: if card.deleted_remotely_at.is_some() {
                Some(Refusal::blocked(DELETED_ON_THE_SERVER))
            } else {
                Refusal::of_status(card.fields.status)
            },
            expires: card.fields.expires,
            signed_at_issue: card.fields.chip_serial_number.is_some(),
            desfire_at_issue: card.fields.desfire_issued,
        }))
    }

    fn age(&self) -> Option<Duration> {
        let last_sync = self.last_sync().ok()??;
        let synced =
            time::OffsetDateTime::parse(&last_sync, &time::format_description::well_known::Rfc3339)
                .ok()?;
        Some(Duration::try_from(time::OffsetDateTime::now_utc() - synced).unwrap_or_default())
    }

    fn revocations_age(&self) -> Option<(Duration, Duration)> {
        let (polled, limit) = self.revocation_poll().ok()??;
        let polled =
            time::OffsetDateTime::parse(&polled, &time::format_description::well_known::Rfc3339)
                .ok()?;
        let age = Duration::try_from(time::OffsetDateTime::now_utc() - polled).unwrap_or_default();
        Some((age, limit))
    }
}

/// The profile's DESFire university application and what a kiosk reads it with: the read-key
/// master and the record signer's public key (nothing that writes a card).
pub struct DesfireCheck {
    pub app: DesfireApp,
    pub keys: ReadKeys,
}

pub struct Policy {
    pub trusted: Vec<Certificate>,
    /// Certificates refused anywhere in a signer's path (`trust revoke`, `trust crl add`).
    pub revoked: Vec<Revoked>,
    pub desfire: Option<DesfireCheck>,
    pub today: Date,
    pub max_register_age: Option<Duration>,
    pub when_stale: WhenStale,
    /// `[kiosk] accept_uid_only`: a registered UID alone may make a card valid.
    pub accept_uid_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("a trusted issuer certificate in the store is damaged: {0}")]
    DamagedIssuer(der::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

impl Problem for PolicyError {
    fn next_step(&self) -> &'static str {
        match self {
            PolicyError::Store(err) => err.next_step(),
            PolicyError::DamagedIssuer(_) => {
                "remove it and add it again with `cardstation trust add`"
            }
            PolicyError::Config(err) => err.next_step(),
        }
    }
}

impl Policy {
    /// The station's policy: trusted issuers and revocations from the store, the DESFire check when the
    /// profile has `[desfire]` (its keys from their environment variables), the register-age
    /// rule from `[kiosk]`, and today's date.
    pub fn for_station(
        profile: &crate::config::Profile,
        store: &Store,
    ) -> Result<Self, PolicyError> {
        let TrustList { trusted, revoked } = TrustList::of(store)?;
        let desfire = match &profile.desfire {
            Some(app) => Some(DesfireCheck {
                app: app.clone(),
                keys: ReadKeys::for_profile(profile, &crate::config::data_dir())?,
            }),
            None => None,
        };
        Ok(Policy {
            trusted,
            revoked,
            desfire,
            today: time::OffsetDateTime::now_utc().date(),
            max_register_age: profile
                .kiosk
                .max_register_age_hours
                .map(|h| Duration::from_secs(u64::from(h) * 3600)),
            when_stale: profile.kiosk.when_stale,
            accept_uid_only: profile.kiosk.accept_uid_only,
        })
    }
}

/// The store's trust list as ELS verification takes it: the trusted issuers and every
/// revocation (by hand and from CRLs). What the kiosk and `els read`/`els verify` check with.
pub struct TrustList {
    pub trusted: Vec<Certificate>,
    pub revoked: Vec<Revoked>,
}

impl TrustList {
    pub fn of(store: &Store) -> Result<Self, PolicyError> {
        use der::Decode;
        let trusted = store
            .trusted_issuers()?
            .into_iter()
            .map(|issuer| Certificate::from_der(&issuer.certificate_der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(PolicyError::DamagedIssuer)?;
        Ok(Self {
            trusted,
            revoked: store.revoked()?,
        })
    }
}

/// A running station's policy, kept in step with the store's trust list: a `trust revoke`,
/// `trust remove` or `trust crl add` made by another process on the same store file reaches
/// the next tap, without a restart. Each tap reads one counter row
/// ([`Store::trust_generation`]); the certificates are read again only when it moved.
pub struct LivePolicy {
    policy: Policy,
    /// The trust generation `policy`'s issuers and revocations were read at.
    generation: i64,
}

impl LivePolicy {
    pub fn for_station(
        profile: &crate::config::Profile,
        store: &Store,
    ) -> Result<Self, PolicyError> {
        // Read before the list: a change landing in between shows as a newer generation, and
        // the next tap reads the list again.
        let generation = store.trust_generation()?;
        Ok(Self {
            policy: Policy::for_station(profile, store)?,
            generation,
        })
    }

    /// `policy` as it stands against `store`'s trust list now.
    pub fn new(policy: Policy, store: &Store) -> Result<Self, PolicyError> {
        Ok(Self {
            generation: store.trust_generation()?,
            policy,
        })
    }

    /// The policy for a tap now: today's date (a kiosk runs for days), and the trust list
    /// read again if it changed since. A trust list that cannot be read is an error, never
    /// the old list: a signer revoked a moment ago must not pass because the reload failed.
    pub fn for_tap(&mut self, store: &Store) -> Result<&Policy, PolicyError> {
        self.policy.today = time::OffsetDateTime::now_utc().date();
        let generation = store.trust_generation()?;
        if generation != self.generation {
            let TrustList { trusted, revoked } = TrustList::of(store)?;
            tracing::info!(
                issuers = trusted.len(),
                revocations = revoked.len(),
                "the trust list changed in the store: reloaded"
            );
            self.policy.trusted = trusted;
            self.policy.revoked = revoked;
            self.generation = generation;
        }
        Ok(&self.policy)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    /// The reason in English with its values, for staff, logs and the validations log.
    pub reason: String,
    /// The reason's stable key, which the kiosk window shows in its own language.
    pub reason_key: Reason,
    /// The values the reason names (a name, a date, the register's status), if any: no words,
    /// so any language's text can carry them.
    pub detail: Option<String>,
    /// Set when the register is older than the profile allows.
    pub stale: Option<Staleness>,
    #[serde(serialize_with = "hex_upper")]
    pub uid: Vec<u8>,
    pub holder_id: Option<String>,
    /// The name the card proves (from a verified ELS), for the kiosk screen.
    pub holder_name: Option<String>,
    /// The last day the card is valid, when the card or the register says.
    pub valid_until: Option<Date>,
    pub evidence: Evidence,
    /// Time from the first APDU to the verdict.
    #[serde(rename = "ms", serialize_with = "millis")]
    pub elapsed: Duration,
}

fn hex_upper<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode_upper(bytes))
}

fn millis<S: serde::Serializer>(elapsed: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((elapsed.as_secs_f64() * 1e5).round() / 1e2)
}

/// Decides on the card in the reader. `Err` only when the card could not be read at all
/// (pulled out, mute): a verdict needs a card.
pub fn validate<T: Transport + ?Sized>(
    card: &mut T,
    register: &dyn Register,
    policy: &Policy,
) -> Result<Decision, TransportError> {
    let started = Instant::now();
    let chip = read_chip_serial(card)?;
    // No serial (a contact reader and card that give none): the ELS is still checked.
    let uid = chip.bytes().map(<[u8]>::to_vec).unwrap_or_default();
    let registered = match register.card_by_uid(&uid) {
        Ok(registered) => registered,
        Err(err) => {
            let reason = format!("the register cannot be read: {err}");
            tracing::error!(%reason, "validate: no verdict possible");
            let finding = Finding::new(
                Verdict::Unknown,
                Reason::RegisterUnreadable,
                reason,
                Evidence::UidOnly,
            );
            return Ok(finding.decision(uid, None, started));
        }
    };
    let registered = registered.as_ref();
    // The register's age matters only where the profile limits it: no query otherwise.
    let age = policy.max_register_age.and_then(|_| register.age());
    let stale_revocations = stale_revocations(register);
    let mut by_signed_serial = None;
    let finding = match issue::read_els_and_verify(
        card,
        &chip,
        &policy.trusted,
        &policy.revoked,
        policy.today,
    ) {
        Ok(reading) => {
            by_signed_serial = registered_by_signed_serial(&reading, register);
            let registered = by_signed_serial.as_ref().or(registered);
            // A dual-interface card: its EF.ELS can be copied, its read key cannot.
            if reading.verdict.is_ok() && registered.is_some_and(|r| r.desfire_at_issue) {
                match chip_proof(&mut *card, policy)? {
                    None => els_finding(reading, registered, Evidence::SignedAndAuthenticatedChip),
                    Some(refusal) => refusal,
                }
            } else {
                els_finding(reading, registered, Evidence::SignedChip)
            }
        }
        Err(ElsCardError::NotAnElsCard) => match &policy.desfire {
            Some(check) => {
                match desfire::read_on(&mut *card, &check.app, &check.keys, policy.today) {
                    Ok(verified) => record_finding(&verified.record, registered),
                    Err(DesfireReadError::Card(DesfireError::Transport(err))) => return Err(err),
                    Err(err) => desfire_failure(err).unwrap_or_else(|| {
                        uid_finding(registered, age, stale_revocations.is_some(), policy)
                    }),
                }
            }
            None => uid_finding(registered, age, stale_revocations.is_some(), policy),
        },
        Err(ElsCardError::Transport(err)) => return Err(err),
        Err(ElsCardError::Empty) => Finding::new(
            Verdict::Unknown,
            Reason::NoCardData,
            "the card's chip holds no student-card data",
            Evidence::UidOnly,
        ),
        Err(err) => Finding::new(
            Verdict::Forged,
            Reason::CardDataUnreadable,
            format!("the card's data cannot be read as a student card: {err}"),
            Evidence::SignedChip,
        ),
    };
    let stale = is_stale(age, policy)
        .then_some(match age {
            Some(age) => Staleness::SyncedHoursAgo(age.as_secs() / 3600),
            None => Staleness::NeverSynced,
        })
        .or(stale_revocations);
    let finding = match stale {
        Some(stale) => Finding {
            reason: format!("{} ({stale})", finding.reason),
            stale: Some(stale),
            ..finding
        },
        None => finding,
    };
    let registered = by_signed_serial.as_ref().or(registered);
    let decision = finding.decision(uid, registered.and_then(|r| r.holder_id.clone()), started);
    tracing::info!(verdict = ?decision.verdict, evidence = ?decision.evidence, reason = %decision.reason,
        micros = decision.elapsed.as_micros() as u64, "validate: verdict");
    Ok(decision)
}

/// What the checks found, before it becomes a [`Decision`].
struct Finding {
    verdict: Verdict,
    key: Reason,
    reason: String,
    detail: Option<String>,
    stale: Option<Staleness>,
    evidence: Evidence,
    holder_name: Option<String>,
    valid_until: Option<Date>,
}

impl Finding {
    fn new(verdict: Verdict, key: Reason, reason: impl Into<String>, evidence: Evidence) -> Self {
        Self {
            verdict,
            key,
            reason: reason.into(),
            detail: None,
            stale: None,
            evidence,
            holder_name: None,
            valid_until: None,
        }
    }

    fn with_detail(self, detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..self
        }
    }

    fn until(self, valid_until: Option<Date>) -> Self {
        Self {
            valid_until,
            ..self
        }
    }

    fn decision(self, uid: Vec<u8>, holder_id: Option<String>, started: Instant) -> Decision {
        Decision {
            verdict: self.verdict,
            reason: self.reason,
            reason_key: self.key,
            detail: self.detail,
            stale: self.stale,
            uid,
            holder_id,
            holder_name: self.holder_name,
            valid_until: self.valid_until,
            evidence: self.evidence,
            elapsed: started.elapsed(),
        }
    }
}

/// A card read without a chip serial is looked up by the serial its genuine ELS names, so a
/// blocked card stays blocked on a reader that gives no serial.
fn registered_by_signed_serial(
    reading: &Reading,
    register: &dyn Register,
) -> Option<RegisteredCard> {
    if reading.chip != ChipSerial::Unavailable {
        return None;
    }
    let serial = hex::decode(&reading.verdict.as_ref().ok()?.data.chip_serial).ok()?;
    register
        .card_by_uid(&serial)
        .inspect_err(|err| tracing::warn!(%err, "validate: the register cannot be read"))
        .ok()
        .flatten()
}

/// The verdict on an ELS reading; `evidence` is what a verified signature amounts to on this
/// card (with or without its chip's DESFire proof).
fn els_finding(
    reading: Reading,
    registered: Option<&RegisteredCard>,
    evidence: Evidence,
) -> Finding {
    let verified = match reading.verdict {
        Ok(verified) => verified,
        Err(VerifyError::Expired(date)) => {
            return Finding::new(
                Verdict::Expired,
                Reason::Expired,
                format!("valid until {date}"),
                evidence,
            )
            .with_detail(date.to_string())
            .until(Some(date));
        }
        Err(err @ VerifyError::UnsupportedAlgorithm(_)) => {
            return Finding::new(
                Verdict::Unknown,
                Reason::UnsupportedSignature,
                err.to_string(),
                evidence,
            );
        }
        Err(err) => {
            return Finding::new(
                Verdict::Forged,
                Reason::Signature(err.kind()),
                format!("{}: {err}", err.kind()),
                evidence,
            );
        }
    };
    let name = format!(
        "{} {}",
        verified.data.given_names.join(" "),
        verified.data.surnames.join(" ")
    );
    let expires = Some(verified.data.expires);
    // A genuine signature says who the card was issued to; the register says whether it may
    // still be used (a lost card keeps a perfect signature).
    let (album, until) = (&verified.data.album_number, verified.data.expires);
    let mut valid = format!("{name}, album {album}, until {until}");
    if reading.chip == ChipSerial::Unavailable {
        valid = format!("{valid}; {}", issue::CHIP_NOT_CHECKED);
    }
    let finding = proven_finding(
        registered,
        evidence,
        valid,
        format!("{name}, {album}, {until}"),
    );
    Finding {
        holder_name: Some(name),
        ..finding.until(expires)
    }
}

/// The DESFire proof of presence a dual-interface card's EF.ELS needs, since anyone can read
/// and copy an EF.ELS: `None` when the chip passed the challenge-response with its diversified
/// read key and carries a genuine record, otherwise the finding that refuses the card.
fn chip_proof<T: Transport + ?Sized>(
    card: &mut T,
    policy: &Policy,
) -> Result<Option<Finding>, TransportError> {
    if !crate::card::chip_serial::is_contactless_atr(card.atr()) {
        return Ok(Some(Finding::new(
            Verdict::Unknown,
            Reason::TapContactless,
            "the card was issued with the university DESFire application, which proves the \
             chip only over the contactless interface: tap it on the contactless reader (its \
             EF.ELS alone can be copied)",
            Evidence::SignedChip,
        )));
    }
    let Some(check) = &policy.desfire else {
        return Ok(Some(Finding::new(
            Verdict::Unknown,
            Reason::CannotCheckDesfire,
            "the register says the card carries the university DESFire application, but this \
             station has no [desfire] to check it with (its EF.ELS alone can be copied)",
            Evidence::SignedChip,
        )));
    };
    match desfire::read_on(&mut *card, &check.app, &check.keys, policy.today) {
        // Expired by the record: the ELS verified, so the record is older (a prolongation
        // rewrites the ELS only); the chip proved itself, which is what is asked here.
        Ok(_) | Err(DesfireReadError::Expired(_)) => Ok(None),
        Err(DesfireReadError::Card(DesfireError::Transport(err))) => Err(err),
        Err(err) => Ok(Some(Finding::new(
            Verdict::Forged,
            Reason::CopiedEls,
            format!(
                "copied_els: the EF.ELS verifies, but the card was issued with the DESFire \
                 application and this chip fails it ({err})"
            ),
            Evidence::SignedChip,
        ))),
    }
}

fn record_finding(record: &CardRecord, registered: Option<&RegisteredCard>) -> Finding {
    let (number, holder, until) = (record.card_number, &record.holder_id, record.expires);
    let valid = format!("card {number}, holder {holder}, until {until}");
    let values = format!("{number}, {holder}, {until}");
    let finding = proven_finding(registered, Evidence::AuthenticatedChip, valid, values);
    finding.until(Some(record.expires))
}

/// The verdict for a card whose data proved genuine: refused if the register refuses it,
/// otherwise valid, saying so when the register does not know the card. A valid verdict's
/// reason ends with what the evidence proves.
fn proven_finding(
    registered: Option<&RegisteredCard>,
    evidence: Evidence,
    valid: String,
    values: String,
) -> Finding {
    let proof = evidence.detail();
    match registered {
        Some(RegisteredCard {
            refused: Some(refusal),
            ..
        }) => refusal.finding(evidence),
        Some(_) => Finding::new(
            Verdict::Valid,
            Reason::Valid,
            format!("{valid}; {proof}"),
            evidence,
        )
        .with_detail(values),
        None => Finding::new(
            Verdict::Valid,
            Reason::ValidNotInRegister,
            format!("{valid}; not in this station's register; {proof}"),
            evidence,
        )
        .with_detail(values),
    }
}

/// The finding of a failed DESFire check, or `None` when the card simply has no university
/// application (then its UID is all there is to go on).
fn desfire_failure(err: DesfireReadError) -> Option<Finding> {
    let evidence = Evidence::AuthenticatedChip;
    match err {
        DesfireReadError::NotOurApplication { .. }
        | DesfireReadError::UnsupportedUid(_)
        | DesfireReadError::Card(_) => None,
        DesfireReadError::Expired(verified) => {
            let expires = verified.record.expires;
            Some(
                Finding::new(
                    Verdict::Expired,
                    Reason::Expired,
                    format!("valid until {expires}"),
                    evidence,
                )
                .with_detail(expires.to_string())
                .until(Some(expires)),
            )
        }
        // Our application with keys that are not this card's, or a record whose signature fails.
        err @ (DesfireReadError::AuthenticationRefused { .. }
        | DesfireReadError::Forged { .. }
        | DesfireReadError::Unreadable { .. }) => Some(Finding::new(
            Verdict::Forged,
            Reason::Record(err.reason()),
            format!("{}: {err}", err.reason()),
            evidence,
        )),
    }
}

fn uid_finding(
    registered: Option<&RegisteredCard>,
    age: Option<Duration>,
    revocations_stale: bool,
    policy: &Policy,
) -> Finding {
    let evidence = Evidence::UidOnly;
    let Some(card) = registered else {
        return Finding::new(
            Verdict::Unknown,
            Reason::NotInRegister,
            "card not in the register",
            evidence,
        );
    };
    if (is_stale(age, policy) || revocations_stale)
        && policy.when_stale == WhenStale::UidCardsUnknown
    {
        return Finding::new(
            Verdict::Unknown,
            Reason::RegisterTooOld,
            "the register is too old to vouch for a card known only by its UID",
            evidence,
        );
    }
    let finding = match (&card.refused, card.expires) {
        (Some(refusal), _) => refusal.finding(evidence),
        (None, Some(expires)) if expires < policy.today => Finding::new(
            Verdict::Expired,
            Reason::Expired,
            format!("valid until {expires}"),
            evidence,
        )
        .with_detail(expires.to_string()),
        (None, _) if card.signed_at_issue => Finding::new(
            Verdict::Forged,
            Reason::SignedChipMissing,
            "the card was issued with a signed chip but shows none: only its UID matches, \
             which a card emulator can copy",
            evidence,
        ),
        (None, _) if card.desfire_at_issue && policy.desfire.is_none() => Finding::new(
            Verdict::Unknown,
            Reason::CannotCheckDesfire,
            "the register says the card carries the university DESFire application, but this \
             station has no [desfire] to check it with",
            evidence,
        ),
        (None, _) if card.desfire_at_issue => Finding::new(
            Verdict::Forged,
            Reason::DesfireMissing,
            "the card was issued with the university DESFire application but shows none: only \
             its UID matches, which a card emulator can copy",
            evidence,
        ),
        (None, _) if !policy.accept_uid_only => Finding::new(
            Verdict::Forged,
            Reason::UidOnlyRefused,
            "the card proves nothing but its UID, which a card emulator can copy \
             (no signed chip, no university record; [kiosk] accept_uid_only is off)",
            evidence,
        ),
        (None, _) => Finding::new(
            Verdict::Valid,
            Reason::ValidUidOnly,
            "known by its UID only (weaker than a signed chip)",
            evidence,
        ),
    };
    finding.until(card.expires)
}

fn is_stale(age: Option<Duration>, policy: &Policy) -> bool {
    match (age, policy.max_register_age) {
        (Some(age), Some(max)) => age > max,
        // Never synced while a limit is set: as stale as it gets.
        (None, Some(_)) => true,
        (_, None) => false,
    }
}

/// A revocation poll older than its limit: a block made at another station in the meantime
/// may not be here yet.
fn stale_revocations(register: &dyn Register) -> Option<Staleness> {
    let (age, limit) = register
        .revocations_age()
        .filter(|(age, limit)| age > limit)?;
    Some(Staleness::BlocksFetchedSecondsAgo {
        seconds: age.as_secs(),
        limit: limit.as_secs(),
    })
}

/// A register (or its revocation poll) older than the profile allows, as the verdict notes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Staleness {
    SyncedHoursAgo(u64),
    NeverSynced,
    BlocksFetchedSecondsAgo { seconds: u64, limit: u64 },
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SyncedHoursAgo(hours) => write!(f, "register last synced {hours} h ago"),
            Self::NeverSynced => f.write_str("register never synced"),
            Self::BlocksFetchedSecondsAgo { seconds, limit } => write!(
                f,
                "blocks last fetched {seconds} s ago, over the {limit} s limit ([kiosk] max_revocation_age_seconds)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use time::macros::date;
    use zeroize::Zeroizing;

    use super::*;
    use crate::card::els::CardKey;
    use crate::crypto::diversify::KeyAlgorithm;
    use crate::crypto::els_sig::ElsData;
    use crate::crypto::test_pki::els_signer;
    use crate::sim::{ElsCard, ElsCardState, Faults, SharedCard, SimTransport, shared};
    use crate::station::issue::{ElsSource, Signer, issue};

    const UID: [u8; 7] = [0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6];
    const TODAY: Date = date!(2026 - 11 - 22);

    #[derive(Default)]
    struct MapRegister {
        cards: HashMap<Vec<u8>, RegisteredCard>,
        age: Option<Duration>,
    }

    impl Register for MapRegister {
        fn card_by_uid(&self, uid: &[u8]) -> Result<Option<RegisteredCard>, String> {
            match uid {
                [0xDE, 0xAD, ..] => Err("disk I/O error".into()),
                _ => Ok(self.cards.get(uid).cloned()),
            }
        }
        fn age(&self) -> Option<Duration> {
            self.age
        }
    }

    fn card_key() -> CardKey {
        CardKey::Master {
            algorithm: KeyAlgorithm::Aes128,
            master: Zeroizing::new(vec![7; 16]),
            system_id: b"ELS".to_vec(),
        }
    }

    struct Kiosk {
        ca: Certificate,
        signer: Signer,
    }

    impl Kiosk {
        fn new() -> Self {
            let (ca, key, certificate) = els_signer();
            Self {
                ca,
                signer: Signer { key, certificate },
            }
        }
        fn policy(&self) -> Policy {
            Policy {
                trusted: vec![self.ca.clone()],
                revoked: Vec::new(),
                desfire: None,
                today: TODAY,
                max_register_age: Some(Duration::from_secs(24 * 3600)),
                when_stale: WhenStale::UidCardsUnknown,
                accept_uid_only: false,
            }
        }
        fn issued_card(&self, uid: &[u8], expires: Date) -> SharedCard {
            let card = shared(ElsCard::new(personalised(uid)));
            self.issue_els(&card, expires);
            card
        }
        /// A dual-interface card: the ELS signed by this desk, the DESFire application
        /// issued with the desk keys made from `desfire_byte`.
        fn dual_card(&self, desfire_byte: u8, expires: Date) -> SharedCard {
            let card = shared(crate::sim::DualInterfaceCard::new(
                ElsCard::new(personalised(&UID)),
                crate::sim::DesfireCard::new(crate::sim::DesfireCardState::blank(&UID)),
            ));
            self.issue_els(&card, expires);
            issue_desfire(&card, desfire_byte, expires);
            card
        }
        fn issue_els(&self, card: &SharedCard, expires: Date) {
            let data = ElsData {
                chip_serial: String::new(),
                university: "Uniwersytet Łódzki".into(),
                surnames: vec!["Nowak".into()],
                given_names: vec!["Jan".into()],
                album_number: "654321".into(),
                edition: "B".into(),
                pesel: "44051401359".into(),
                expires,
            };
            let issued_on = date!(2026 - 10 - 01);
            issue(
                &mut SimTransport::insert(card.clone(), Faults::default()),
                ElsSource::Sign {
                    data,
                    signer: &self.signer,
                },
                &card_key(),
                std::slice::from_ref(&self.ca),
                issued_on,
            )
            .unwrap();
        }
    }

    fn personalised(uid: &[u8]) -> ElsCardState {
        ElsCardState::personalised(uid, &card_key().for_card(uid).unwrap())
    }

    fn tap(card: &SharedCard, register: &MapRegister, policy: &Policy) -> Decision {
        validate(
            &mut SimTransport::insert(card.clone(), Faults::default()),
            register,
            policy,
        )
        .unwrap()
    }

    /// A kiosk's connection and an administrator's on one store file: each trust change the
    /// administrator makes decides the kiosk's next tap, with the policy made before it.
    #[test]
    fn a_running_kiosk_takes_each_trust_change_of_another_connection_at_the_next_tap() {
        use crate::store::NewRevocation;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let kiosk_store = Store::open(&path).unwrap();
        let mut admin = Store::open(&path).unwrap();
        let kiosk = Kiosk::new();
        let card = kiosk.issued_card(&UID, date!(2031 - 06 - 30));
        let mut live = LivePolicy::new(
            Policy {
                trusted: Vec::new(),
                max_register_age: None,
                ..kiosk.policy()
            },
            &kiosk_store,
        )
        .unwrap();
        let tap = |live: &mut LivePolicy| {
            let policy = live.for_tap(&kiosk_store).unwrap();
            let card = &mut SimTransport::insert(card.clone(), Faults::default());
            validate(card, &kiosk_store, policy).unwrap()
        };
        let before = tap(&mut live);
        assert_eq!(
            before.reason_key,
            Reason::Signature("untrusted_issuer"),
            "{before:?}"
        );

        let ca_der = der::Encode::to_der(&kiosk.ca).unwrap();
        admin.add_trusted_issuer(&ca_der, "admin").unwrap();
        let trusted = tap(&mut live);
        assert_eq!(trusted.verdict, Verdict::Valid, "{trusted:?}");

        let signer = &kiosk.signer.certificate.tbs_certificate;
        let revocation = NewRevocation {
            issuer_der: Some(der::Encode::to_der(&signer.issuer).unwrap()),
            issuer_subject: Some(signer.issuer.to_string()),
            serial_hex: hex::encode_upper(crate::crypto::els_sig::serial_bytes(
                signer.serial_number.as_bytes(),
            )),
            subject: Some(signer.subject.to_string()),
        };
        admin.revoke_certificate(&revocation, "admin").unwrap();
        let revoked = tap(&mut live);
        assert_eq!(revoked.verdict, Verdict::Forged, "{revoked:?}");
        assert_eq!(revoked.reason_key, Reason::Signature("revoked"));
        assert!(revoked.reason.contains("is revoked"), "{}", revoked.reason);
        assert_eq!(live.policy().revoked.len(), 1);

        let fingerprint = hex::encode_upper(<sha2::Sha256 as sha2::Digest>::digest(&ca_der));
        admin.remove_trusted_issuer(&fingerprint, "admin").unwrap();
        let untrusted = tap(&mut live);
        assert_eq!(untrusted.reason_key, Reason::Signature("untrusted_issuer"));
        assert!(live.policy().trusted.is_empty());
    }

    fn active(holder: &str) -> RegisteredCard {
        RegisteredCard {
            holder_id: Some(holder.into()),
            refused: None,
            expires: None,
            signed_at_issue: false,
            desfire_at_issue: false,
        }
    }

    #[test]
    fn a_genuine_card_in_the_register_is_valid() {
        let kiosk = Kiosk::new();
        let card = kiosk.issued_card(&UID, date!(2027 - 03 - 31));
        let register = MapRegister {
            cards: HashMap::from([(UID.to_vec(), active("H-1"))]),
            age: Some(Duration::from_secs(60)),
        };
        let decision = tap(&card, &register, &kiosk.policy());
        assert_eq!(decision.verdict, Verdict::Valid, "{}", decision.reason);
        assert_eq!(decision.evidence, Evidence::SignedChip);
        assert_eq!(decision.holder_id.as_deref(), Some("H-1"));
        assert!(decision.reason.contains("Jan Nowak"), "{}", decision.reason);
    }

    #[test]
    fn a_lost_card_with_a_perfect_signature_is_blocked() {
        let kiosk = Kiosk::new();
        let card = kiosk.issued_card(&UID, date!(2027 - 03 - 31));
        let lost = RegisteredCard {
            refused: Some(Refusal::blocked("lost")),
            ..active("H-1")
        };
        let register = MapRegister {
            cards: HashMap::from([(UID.to_vec(), lost)]),
            age: Some(Duration::from_secs(60)),
        };
        let decision = tap(&card, &register, &kiosk.policy());
        assert_eq!(
            (decision.verdict, decision.reason.as_str()),
            (Verdict::Blocked, "card lost")
        );
    }

    #[test]
    fn expired_and_copied_cards() {
        let kiosk = Kiosk::new();
        let register = MapRegister::default();
        let old = kiosk.issued_card(&UID, date!(2026 - 10 - 31));
        assert_eq!(
            tap(&old, &register, &kiosk.policy()).verdict,
            Verdict::Expired
        );
        // The genuine card's files copied onto another chip.
        let genuine = kiosk.issued_card(&UID, date!(2027 - 03 - 31));
        let mut copier = SimTransport::insert(genuine, Faults::default());
        let structure = crate::card::els::read_els(&mut copier).unwrap();
        let certificate = crate::card::els::read_cert(&mut copier).unwrap().unwrap();
        let mut clone = ElsCardState::blank(&[4, 9, 9, 9, 9, 9, 9]);
        clone.ef_els[..structure.len()].copy_from_slice(&structure);
        clone.ef_cert[..certificate.len()].copy_from_slice(&certificate);
        let decision = tap(&shared(ElsCard::new(clone)), &register, &kiosk.policy());
        assert_eq!(decision.verdict, Verdict::Forged);
        assert!(
            decision.reason.starts_with("wrong_chip"),
            "{}",
            decision.reason
        );
        // Signed by someone the kiosk does not trust.
        let stranger = Kiosk::new();
        let foreign = stranger.issued_card(&UID, date!(2027 - 03 - 31));
        let decision = tap(&foreign, &register, &kiosk.policy());
        assert_eq!(decision.verdict, Verdict::Forged);
        assert!(
            decision.reason.starts_with("untrusted_issuer"),
            "{}",
            decision.reason
        );
    }

    #[test]
    fn cards_known_only_by_uid_are_forged_unless_the_profile_accepts_them() {
        let kiosk = Kiosk::new();
        let plain = shared(ElsCard::new(ElsCardState::blank(&UID)));
        let mut register = MapRegister {
            cards: HashMap::from([(UID.to_vec(), active("H-2"))]),
            age: Some(Duration::from_secs(3600)),
        };
        let decision = tap(&plain, &register, &kiosk.policy());
        assert_eq!(
            (decision.verdict, decision.evidence),
            (Verdict::Unknown, Evidence::UidOnly),
            "an empty ELS chip proves nothing"
        );

        // An emulator (or any blank DESFire card) answering with a registered UID and
        // nothing else: no signed chip, no university record.
        let spoofed = shared(crate::sim::DesfireCard::new(
            crate::sim::DesfireCardState::blank(&UID),
        ));
        let decision = tap(&spoofed, &register, &kiosk.policy());
        assert_eq!(
            (decision.verdict, decision.evidence),
            (Verdict::Forged, Evidence::UidOnly),
            "{}",
            decision.reason
        );
        assert!(
            decision.reason.contains("accept_uid_only is off"),
            "{}",
            decision.reason
        );

        let accepting = Policy {
            accept_uid_only: true,
            ..kiosk.policy()
        };
        let decision = tap(&spoofed, &register, &accepting);
        assert_eq!(
            (decision.verdict, decision.evidence),
            (Verdict::Valid, Evidence::UidOnly),
            "{}",
            decision.reason
        );
        assert!(decision.reason.contains("UID only"), "{}", decision.reason);

        // A card issued with a signed chip never passes on its UID, opt-in or not.
        let signed = MapRegister {
            cards: HashMap::from([(
                UID.to_vec(),
                RegisteredCard {
                    signed_at_issue: true,
                    ..active("H-2")
                },
            )]),
            age: Some(Duration::from_secs(3600)),
        };
        let decision = tap(&spoofed, &signed, &accepting);
        assert_eq!(decision.verdict, Verdict::Forged, "{}", decision.reason);
        assert!(
            decision.reason.contains("issued with a signed chip"),
            "{}",
            decision.reason
        );

        register.age = Some(Duration::from_secs(3 * 24 * 3600));
        let decision = tap(&spoofed, &register, &accepting);
        assert_eq!(decision.verdict, Verdict::Unknown);
        assert!(
            decision.reason.contains("register last synced 72 h ago"),
            "{}",
            decision.reason
        );

        let decision = tap(&spoofed, &MapRegister::default(), &kiosk.policy());
        assert_eq!(
            (decision.verdict, decision.reason.as_str()),
            (
                Verdict::Unknown,
                "card not in the register (register never synced)"
            )
        );
    }

    fn demo_app() -> DesfireApp {
        crate::config::Profile::demo()
            .desfire
            .expect("the demo profile has [desfire]")
    }

    /// A kiosk's DESFire check for the desk keys made from `byte`.
    fn desfire_check(byte: u8) -> DesfireCheck {
        let app = demo_app();
        let keys = desfire::tests::kiosk_keys(&app, byte);
        DesfireCheck { app, keys }
    }

    /// A DESFire card issued with the desk keys made from `byte`.
    fn desfire_card(byte: u8, expires: Date) -> SharedCard {
        let card = shared(crate::sim::DesfireCard::new(
            crate::sim::DesfireCardState::blank(&UID),
        ));
        issue_desfire(&card, byte, expires);
        card
    }

    fn issue_desfire(card: &SharedCard, byte: u8, expires: Date) {
        let app = demo_app();
        let record = CardRecord {
            card_number: 77,
            barcode: "2900000000077".into(),
            holder_id: "USOS-42".into(),
            expires,
        };
        desfire::issue(
            SimTransport::insert(card.clone(), Faults::default()),
            &app,
            &desfire::tests::master_keys(&app, byte),
            &record,
        )
        .unwrap();
    }

    #[test]
    fn desfire_cards_are_judged_by_their_read_key_and_signed_record() {
        let kiosk = Kiosk::new();
        let policy = Policy {
            desfire: Some(desfire_check(0x11)),
            ..kiosk.policy()
        };
        let register = MapRegister {
            cards: HashMap::from([(UID.to_vec(), active("H-7"))]),
            age: Some(Duration::from_secs(60)),
        };

        let decision = tap(
            &desfire_card(0x11, date!(2027 - 09 - 30)),
            &register,
            &policy,
        );
        assert_eq!(
            (decision.verdict, decision.evidence),
            (Verdict::Valid, Evidence::AuthenticatedChip),
            "{}",
            decision.reason
        );
        assert!(
            decision.reason.contains("holder USOS-42"),
            "{}",
            decision.reason
        );

        let expired = tap(
            &desfire_card(0x11, date!(2026 - 10 - 31)),
            &register,
            &policy,
        );
        assert_eq!(expired.verdict, Verdict::Expired);

        let lost = MapRegister {
            cards: HashMap::from([(
                UID.to_vec(),
                RegisteredCard {
                    refused: Some(Refusal::blocked("blocked")),
                    ..active("H-7")
                },
            )]),
            ..MapRegister::default()
        };
        assert_eq!(
            tap(&desfire_card(0x11, date!(2027 - 09 - 30)), &lost, &policy).verdict,
            Verdict::Blocked
        );

        // Issued under another master key: our application, but not our keys.
        let foreign = desfire_card(0x22, date!(2027 - 09 - 30));
        let decision = tap(&foreign, &register, &policy);
        assert_eq!(
            (decision.verdict, decision.evidence),
            (Verdict::Forged, Evidence::AuthenticatedChip),
            "{}",
            decision.reason
        );
        assert!(
            decision.reason.starts_with("authentication_refused"),
            "{}",
            decision.reason
        );

        // A blank DESFire card has no application: only its UID speaks for it.
        let blank = shared(crate::sim::DesfireCard::new(
            crate::sim::DesfireCardState::blank(&UID),
        ));
        assert_eq!(tap(&blank, &register, &policy).evidence, Evidence::UidOnly);
    }

    #[test]
    fn a_dual_interface_card_must_authenticate_its_chip_and_a_copied_els_is_forged() {
        let kiosk = Kiosk::new();
        let policy = Policy {
            desfire: Some(desfire_check(0x11)),
            ..kiosk.policy()
        };
        let dual = RegisteredCard {
            signed_at_issue: true,
            desfire_at_issue: true,
            ..active("H-9")
        };
        let register = MapRegister {
            cards: HashMap::from([(UID.to_vec(), dual)]),
            age: Some(Duration::from_secs(60)),
        };
        let genuine = kiosk.dual_card(0x11, date!(2027 - 03 - 31));
        let decision = tap(&genuine, &register, &policy);
        assert_eq!(
            (decision.verdict, decision.evidence, decision.reason_key),
            (
                Verdict::Valid,
                Evidence::SignedAndAuthenticatedChip,
                Reason::Valid
            ),
            "{}",
            decision.reason
        );
        assert!(
            decision
                .reason
                .ends_with("; signature and chip authenticated"),
            "{}",
            decision.reason
        );

        // The genuine card's EF.ELS and EF.CERT served under its UID by a chip without the
        // DESFire application, and by one whose DESFire keys are another system's.
        let mut copier = SimTransport::insert(genuine, Faults::default());
        let structure = crate::card::els::read_els(&mut copier).unwrap();
        let certificate = crate::card::els::read_cert(&mut copier).unwrap().unwrap();
        let copy = || {
            let mut state = ElsCardState::blank(&UID);
            state.ef_els[..structure.len()].copy_from_slice(&structure);
            state.ef_cert[..certificate.len()].copy_from_slice(&certificate);
            ElsCard::new(state)
        };
        let els_only = shared(copy());
        let foreign_desfire = shared(crate::sim::DualInterfaceCard::new(
            copy(),
            crate::sim::DesfireCard::new(crate::sim::DesfireCardState::blank(&UID)),
        ));
        issue_desfire(&foreign_desfire, 0x22, date!(2027 - 03 - 31));
        for copied in [els_only, foreign_desfire] {
            let decision = tap(&copied, &register, &policy);
            assert_eq!(
                (decision.verdict, decision.reason_key),
                (Verdict::Forged, Reason::CopiedEls),
                "{}",
                decision.reason
            );
            assert!(
                decision.reason.starts_with("copied_els"),
                "{}",
                decision.reason
            );
        }

        // A kiosk without [desfire] cannot tell: not valid on the signature alone.
        let decision = tap(
            &copy_of_els(&structure, &certificate),
            &register,
            &kiosk.policy(),
        );
        assert_eq!(
            (decision.verdict, decision.reason_key),
            (Verdict::Unknown, Reason::CannotCheckDesfire)
        );

        // An ELS-only card (no DESFire at issue) is valid, and says what that is worth.
        let els_only_card = MapRegister {
            cards: HashMap::from([(
                UID.to_vec(),
                RegisteredCard {
                    signed_at_issue: true,
                    ..active("H-9")
                },
            )]),
            age: Some(Duration::from_secs(60)),
        };
        let decision = tap(
            &copy_of_els(&structure, &certificate),
            &els_only_card,
            &policy,
        );
        assert_eq!(
            (decision.verdict, decision.evidence),
            (Verdict::Valid, Evidence::SignedChip)
        );
        assert!(
            decision
                .reason
                .ends_with("; signature only, chip not authenticated"),
            "{}",
            decision.reason
        );
        assert!(Evidence::SignedAndAuthenticatedChip < Evidence::AuthenticatedChip);
        assert!(Evidence::AuthenticatedChip < Evidence::SignedChip);
        assert!(Evidence::SignedChip < Evidence::UidOnly);
    }

    fn copy_of_els(structure: &[u8], certificate: &[u8]) -> SharedCard {
        let mut state = ElsCardState::blank(&UID);
        state.ef_els[..structure.len()].copy_from_slice(structure);
        state.ef_cert[..certificate.len()].copy_from_slice(certificate);
        shared(ElsCard::new(state))
    }

    #[test]
    fn a_desfire_card_that_lost_its_application_is_forged_even_when_uid_only_is_accepted() {
        let kiosk = Kiosk::new();
        let policy = Policy {
            desfire: Some(desfire_check(0x11)),
            accept_uid_only: true,
            ..kiosk.policy()
        };
        let register = MapRegister {
            cards: HashMap::from([(
                UID.to_vec(),
                RegisteredCard {
                    desfire_at_issue: true,
                    ..active("H-3")
                },
            )]),
            age: Some(Duration::from_secs(60)),
        };
        let blank = shared(crate::sim::DesfireCard::new(
            crate::sim::DesfireCardState::blank(&UID),
        ));
        let decision = tap(&blank, &register, &policy);
        assert_eq!(
            (decision.verdict, decision.reason_key),
            (Verdict::Forged, Reason::DesfireMissing),
            "{}",
            decision.reason
        );
        // A kiosk that cannot run the DESFire check does not call the card anything.
        let without_desfire = Policy {
            desfire: None,
            ..policy
        };
        let decision = tap(&blank, &register, &without_desfire);
        assert_eq!(
            (decision.verdict, decision.reason_key),
            (Verdict::Unknown, Reason::CannotCheckDesfire)
        );
    }

    #[test]
    fn a_card_pulled_before_the_verdict_is_an_error_not_a_verdict() {
        let kiosk = Kiosk::new();
        let card = kiosk.issued_card(&UID, date!(2027 - 03 - 31));
        let mut torn = SimTransport::insert(
            card,
            Faults {
                tear_after: Some(2),
                ..Faults::default()
            },
        );
        assert_eq!(
            validate(&mut torn, &MapRegister::default(), &kiosk.policy()),
            Err(TransportError::CardRemoved)
        );
    }

    #[test]
    fn an_unreadable_register_gives_unknown_with_the_cause() {
        let kiosk = Kiosk::new();
        let dead_uid = [0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 1];
        let card = kiosk.issued_card(&dead_uid, date!(2027 - 03 - 31));
        let decision = tap(&card, &MapRegister::default(), &kiosk.policy());
        assert_eq!(decision.verdict, Verdict::Unknown);
        assert_eq!(
            decision.reason,
            "the register cannot be read: disk I/O error"
        );
    }

    /// A store with one person, cardholder and card with this contactless UID.
    fn store_with_card(uid: &[u8]) -> (Store, i64) {
        use crate::store::{CardStatus, CardType, CardholderFields, NewCard, PersonFields};
        let mut store = Store::open_in_memory().unwrap();
        let person = store
            .create_person(&PersonFields {
                person_number: None,
                first_name: "Jan".into(),
                middle_name: None,
                last_name: "Nowak".into(),
                birth_date: date!(1944 - 05 - 14),
                phone_number: None,
                mobile_number: None,
                album_number: Some("654321".into()),
                pesel: Some("44051401359".into()),
            })
            .unwrap();
        let holder = store
            .create_cardholder(&CardholderFields::active(person))
            .unwrap();
        let card = store
            .insert_card(
                &NewCard {
                    cardholder_id: holder,
                    card_number: Some("77".into()),
                    barcode: None,
                    card_type: CardType::Student,
                    contact_uid: None,
                    contactless_uid: Some(hex::encode_upper(uid)),
                    chip_serial_number: None,
                    status: CardStatus::Activated,
                    expires: Some(date!(2027 - 09 - 30)),
                    desfire_issued: false,
                },
                "test",
            )
            .unwrap();
        (store, card)
    }

    #[test]
    fn the_store_is_a_register() {
        let (mut store, card) = store_with_card(&UID);
        let found = store
            .card_by_uid(&UID)
            .unwrap()
            .expect("found by its contactless UID");
        assert_eq!(
            (found.refused, found.expires),
            (None, Some(date!(2027 - 09 - 30)))
        );
        assert_eq!(store.card_by_uid(&[4, 0, 0, 0, 0, 0, 1]).unwrap(), None);
        assert_eq!(store.age(), None, "never synced");
        store
            .set_card_status(
                card,
                crate::store::CardStatus::Blocked,
                "operator",
                "reported lost",
            )
            .unwrap();
        assert_eq!(
            store.card_by_uid(&UID).unwrap().unwrap().refused,
            Some(Refusal::blocked("blocked"))
        );

        let kiosk = Kiosk::new();
        let policy = Policy {
            max_register_age: None,
            ..kiosk.policy()
        };
        let contactless = shared(crate::sim::DesfireCard::new(
            crate::sim::DesfireCardState::blank(&UID),
        ));
        let decision = validate(
            &mut SimTransport::insert(contactless, Faults::default()),
            &store,
            &policy,
        )
        .unwrap();
        assert_eq!(
            (decision.verdict, decision.reason.as_str()),
            (Verdict::Blocked, "card blocked")
        );
    }

    #[test]
    fn only_a_card_in_its_holders_hands_passes_the_register() {
        let in_hands = [
            CardStatus::Personalized,
            CardStatus::Activated,
            CardStatus::Issued,
            CardStatus::Linked,
        ];
        for status in CardStatus::ALL {
            let refusal = Refusal::of_status(*status);
            if in_hands.contains(status) {
                assert_eq!(refusal, None, "{status}");
                continue;
            }
            let refusal = refusal.unwrap_or_else(|| panic!("{status} must be refused"));
            assert_eq!(refusal.reason, status.to_string());
            let expected = match status {
                CardStatus::Expired => Verdict::Expired,
                _ => Verdict::Blocked,
            };
            assert_eq!(refusal.verdict, expected, "{status}");
        }

        // Through the store, as the kiosk reads it: a card still in production is refused
        // by name even though its signature is perfect.
        let (mut store, card) = store_with_card(&UID);
        store
            .set_card_status(card, CardStatus::InProduction, "operator", "reprint")
            .unwrap();
        let kiosk = Kiosk::new();
        let policy = Policy {
            max_register_age: None,
            ..kiosk.policy()
        };
        let signed = kiosk.issued_card(&UID, date!(2027 - 03 - 31));
        let decision = validate(
            &mut SimTransport::insert(signed.clone(), Faults::default()),
            &store,
            &policy,
        )
        .unwrap();
        assert_eq!(
            (decision.verdict, decision.reason.as_str()),
            (Verdict::Blocked, "card in_production")
        );
        store
            .set_card_status(card, CardStatus::Expired, "operator", "semester over")
            .unwrap();
        let decision = validate(
            &mut SimTransport::insert(signed, Faults::default()),
            &store,
            &policy,
        )
        .unwrap();
        assert_eq!(
            (decision.verdict, decision.reason.as_str()),
            (Verdict::Expired, "card expired")
        );
    }

    #[test]
    fn the_json_line_has_the_fields_scripts_read() {
        let decision = Decision {
            verdict: Verdict::Blocked,
            reason: "card lost".into(),
            reason_key: Reason::Refused,
            detail: Some("lost".into()),
            stale: None,
            uid: UID.to_vec(),
            holder_id: Some("H-1".into()),
            holder_name: None,
            valid_until: None,
            evidence: Evidence::SignedChip,
            elapsed: Duration::from_micros(12_345),
        };
        let json = serde_json::to_value(&decision).unwrap();
        assert_eq!(json["verdict"], "blocked");
        assert_eq!(json["uid"], "04A1B2C3D4E5F6");
        assert_eq!(json["holder_id"], "H-1");
        assert_eq!(json["ms"], 12.35);
        assert_eq!(json["reason_key"], "refused");
    }

    #[test]
    fn a_revocation_poll_older_than_its_limit_is_stale_like_an_old_register() {
        let kiosk = Kiosk::new();
        let card = kiosk.issued_card(&UID, date!(2027 - 03 - 31));
        let (mut store, _) = store_with_card(&UID);
        let policy = Policy {
            max_register_age: None,
            ..kiosk.policy()
        };
        let decide = |store: &Store| {
            validate(
                &mut SimTransport::insert(card.clone(), Faults::default()),
                store,
                &policy,
            )
            .unwrap()
        };
        assert!(
            !decide(&store).reason.contains("blocks last fetched"),
            "no poll kept: no note"
        );
        store
            .record_revocation_poll(Duration::from_secs(60))
            .unwrap();
        let fresh = decide(&store);
        assert!(
            !fresh.reason.contains("blocks last fetched"),
            "{}",
            fresh.reason
        );
        store.record_revocation_poll(Duration::ZERO).unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        let stale = decide(&store);
        assert!(
            stale.reason.contains("blocks last fetched 1 s ago, over the 0 s limit ([kiosk] max_revocation_age_seconds)"),
            "{}",
            stale.reason
        );
        store.clear_revocation_poll().unwrap();
        assert!(!decide(&store).reason.contains("blocks last fetched"));
    }
}
