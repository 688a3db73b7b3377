//! Station profiles: one TOML file says which role the station plays, where its store lives,
//! which readers it uses and which servers it talks to. Secrets are never in the file: the
//! profile names the environment variables that hold them, and `secrets` looks them up.

pub mod keys;
mod secrets;

pub use secrets::{KEYRING_SERVICE, Secret, SecretSource};

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::card::desfire::{Aid, CommMode};
use crate::card::desfire_record::RECORD_LEN;
use crate::crypto::diversify::KeyAlgorithm;
use crate::error::Problem;

/// The profile used when none is given: local store, simulated card, no server.
pub const DEMO_PROFILE: &str = include_str!("../../profiles/demo.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Issuance,
    Print,
    Kiosk,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Issuance => "issuance desk",
            Role::Print => "print station",
            Role::Kiosk => "validation kiosk",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub role: Role,
    /// The SQLite store; a relative path is inside the user's data directory.
    pub database: PathBuf,
    #[serde(default)]
    pub readers: Readers,
    pub server: Option<Server>,
    #[serde(default)]
    pub sync: SyncSchedule,
    pub usos: Option<Usos>,
    pub id123: Option<Id123>,
    #[serde(default)]
    pub ui: Ui,
    pub demo: Option<Demo>,
    pub desfire: Option<DesfireApp>,
    #[serde(default)]
    pub kiosk: Kiosk,
    #[serde(default)]
    pub trust: Trust,
    pub els: Option<Els>,
    pub printer: Option<Printer>,
    #[serde(default)]
    pub holograms: Holograms,
    /// Folder of holder photos named `<person number or album number>.jpg` (or `.png`)
    /// that the desk, the kiosk and the print station show; a relative path is taken
    /// from the profile's folder. `[printer] photos` is still read when this is absent.
    pub photos: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readers {
    /// Reader name or a substring of it, for the contact (ELS) chip.
    pub contact: Option<String>,
    /// Reader name or a substring of it, for the contactless chip.
    pub contactless: Option<String>,
}

impl Readers {
    /// Whether `reader` is one of these readers (a name or any part of it, either chip,
    /// ignoring case). A profile that names no reader takes every reader.
    pub fn includes(&self, reader: &str) -> bool {
        let reader = reader.to_lowercase();
        let mut named = [self.contact.as_deref(), self.contactless.as_deref()]
            .into_iter()
            .flatten()
            .peekable();
        named.peek().is_none() || named.any(|name| reader.contains(&name.to_lowercase()))
    }

    /// The contactless reader, when the profile names one apart from the contact reader (two
    /// readers, or the two PC/SC readers of one dual-interface reader). `None`: the contact
    /// reader's connection reaches both chips of a dual-interface card.
    pub fn separate_contactless(&self) -> Option<&str> {
        match (self.contact.as_deref(), self.contactless.as_deref()) {
            (Some(contact), Some(contactless)) if !contact.eq_ignore_ascii_case(contactless) => {
                Some(contactless)
            }
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    Cardexchange,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub kind: ServerKind,
    pub url: String,
    pub api_key_env: String,
    /// The server's cardholder profile id given to cardholders this station creates.
    #[serde(default)]
    pub cardholder_profile: Option<String>,
    /// Milliseconds a request may take before the station gives up on its answer (default
    /// 30000, at least 100). Also how long a sync restarted after a crash waits before
    /// looking up a create the crashed run may still have in flight.
    #[serde(default)]
    pub request_timeout_ms: Option<u32>,
}

/// When the station replicates with its `[server]` (`[sync]`): a full pull (every object) on
/// a slow interval, and the revocation fast path (only the cards in a refusal status) on a
/// fast one, so a card blocked at one station is refused at every kiosk within seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncSchedule {
    /// Seconds between two full pulls; none: the role's default (kiosk 900, else 60).
    pub pull_every_seconds: Option<u32>,
    /// Seconds between two revocation polls (also when local changes are pushed); 0 turns
    /// the fast path off.
    pub revocation_every_seconds: u32,
    /// Whether the window replicates in the background. Off for a station whose
    /// `cardstation-sync` unit does it instead, so two loops do not pull the same data.
    pub in_window: bool,
}

impl Default for SyncSchedule {
    fn default() -> Self {
        Self {
            pull_every_seconds: None,
            revocation_every_seconds: 5,
            in_window: true,
        }
    }
}

impl SyncSchedule {
    /// A kiosk only reads, and its refusals come by the fast path: a full pull every 15
    /// minutes is enough. Desks and print stations see new people and orders every minute.
    pub fn pull_every(&self, role: Role) -> std::time::Duration {
        let default = match role {
            Role::Kiosk => 900,
            Role::Issuance | Role::Print => 60,
        };
        std::time::Duration::from_secs(u64::from(self.pull_every_seconds.unwrap_or(default)))
    }

    /// `None` when the fast path is off.
    pub fn revocation_every(&self) -> Option<std::time::Duration> {
        (self.revocation_every_seconds > 0)
            .then(|| std::time::Duration::from_secs(u64::from(self.revocation_every_seconds)))
    }

    fn check(&self) -> Result<(), String> {
        if self
            .pull_every_seconds
            .is_some_and(|s| !(1..=86_400).contains(&s))
        {
            return Err("sync.pull_every_seconds must be 1 to 86400".into());
        }
        if self.revocation_every_seconds > 3600 {
            return Err("sync.revocation_every_seconds must be 0 (off) to 3600".into());
        }
        Ok(())
    }
}

/// Why `url` may not be a server's address, if it may not: https only, except plain http to
/// this machine (the reference server, a local proxy), where nothing crosses a network.
pub fn server_url_problem(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("https://") {
        return (rest.is_empty() || rest.starts_with('/'))
            .then(|| format!("\"{url}\" names no host"));
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Some(format!("must start with https:// (got \"{url}\")"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // user:password@ would come before the host; nobody should put credentials in a URL.
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!loopback || authority.contains('@')).then(|| {
        format!(
            "must start with https:// (got \"{url}\"); plain http:// is accepted only for this \
             machine (127.0.0.0/8, ::1, localhost), since keys and personal data would cross \
             the network unencrypted"
        )
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usos {
    pub url: String,
    pub consumer_key_env: String,
    pub consumer_secret_env: String,
    /// Variables with a user's access token and its secret, for the methods that act for a
    /// user (`cards/user`, `cards/mcard`...); the desk's administrative methods need none.
    pub token_env: Option<String>,
    pub token_secret_env: Option<String>,
    /// Type of the card write keys USOS hands out (`card_key` of `student_card_data`).
    #[serde(default = "default_card_key_type")]
    pub card_key_type: KeyAlgorithm,
    /// The "card ready" notification sent after an issuance.
    #[serde(default)]
    pub card_ready: CardReady,
}

/// Texts of the "card ready" notification. `{first_name}`, `{last_name}`, `{barcode}`,
/// `{expires}` and `{card_id}` are filled from the card.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardReady {
    pub pl: String,
    pub en: String,
    /// USOS event type; none: the server's default (`custom`).
    pub event_type_id: Option<String>,
}

impl Default for CardReady {
    fn default() -> Self {
        Self {
            pl: "{first_name}, Twoja legitymacja jest gotowa do odbioru (ważna do {expires})."
                .into(),
            en: "{first_name}, your student card is ready for collection (valid until {expires})."
                .into(),
            event_type_id: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Id123 {
    pub url: String,
    pub api_key_env: String,
    pub card_template_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ui {
    /// Multiplies every size; kiosks with large screens or wrong DPI guesses set it.
    pub scale: f32,
    /// None: the system locale's (Polish for `pl_*`, else English).
    pub language: Option<Language>,
}

impl Default for Ui {
    fn default() -> Self {
        Self {
            scale: 1.0,
            language: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Pl,
    En,
}

impl Language {
    /// The kiosk's idle screen says it in both: the other language under the chosen one.
    pub fn other(self) -> Self {
        match self {
            Language::Pl => Language::En,
            Language::En => Language::Pl,
        }
    }
}

/// The numbered hologram stickers (`[holograms]`): whether the desk's prolongation takes one
/// from this station's stock, and when the desk and the print window warn that it runs low.
/// The print station's own use is `[printer] holograms`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Holograms {
    /// The desk asks for (or scans) the sticker number at each prolongation and records it.
    pub prolong: bool,
    /// Stickers left at or below this: the desk and the print window say so.
    pub low_stock: u32,
}

impl Default for Holograms {
    fn default() -> Self {
        Self {
            prolong: false,
            low_stock: 20,
        }
    }
}

/// How the issuance desk signs and writes ELS cards. Paths and variable names only: the key
/// material stays in its files (mode 600) and environment variables.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Els {
    /// The signer's PKCS#8 PEM private key (ECDSA P-256).
    pub signer_key: Option<PathBuf>,
    /// The signer's certificate (PEM or DER), also written to EF.CERT.
    pub signer_cert: Option<PathBuf>,
    /// Environment variable with the passphrase of an encrypted signer key.
    pub signer_passphrase_env: Option<String>,
    /// Environment variable with the card_key master (hex) the per-card write keys derive from.
    pub card_key_env: Option<String>,
    #[serde(default = "default_card_key_type")]
    pub card_key_type: crate::crypto::diversify::KeyAlgorithm,
    /// AN10922 system identifier (text) for the write keys.
    #[serde(default = "default_els_system_id")]
    pub system_id: String,
    pub university: Option<String>,
    /// Series/edition code printed on the card.
    pub edition: Option<String>,
}

fn default_card_key_type() -> crate::crypto::diversify::KeyAlgorithm {
    crate::crypto::diversify::KeyAlgorithm::Aes128
}

fn default_els_system_id() -> String {
    "ELS".to_owned()
}

/// The card printer of a print station (`[printer]`): its CUPS queue, the layout it prints
/// and the chips its encoder writes before each card is printed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Printer {
    /// The CUPS queue (`lpstat -p` lists them).
    pub queue: String,
    /// Card layout (TOML); a relative path is taken from the profile's folder.
    pub layout: PathBuf,
    /// CUPS `media` option: the CR80 card as a custom size unless the driver names it.
    #[serde(default = "default_media")]
    pub media: String,
    /// The reader of the printer's encoder station (name or part of it); default: the
    /// contactless reader, else the contact one.
    pub encoder_reader: Option<String>,
    /// Chips written (and read back) before printing: "desfire" needs `[desfire]`, "els"
    /// needs `[els]` with its signer and card key.
    #[serde(default)]
    pub encode: Vec<Chip>,
    /// The older place of the profile's top-level `photos` (read when that is absent).
    pub photos: Option<PathBuf>,
    /// How long one card's print job may take before it counts as failed.
    #[serde(default = "default_job_timeout")]
    pub job_timeout_seconds: u32,
    /// Every card printed gets a numbered hologram sticker from the stock
    /// (`cardstation holograms add`); a batch reserves its numbers before it starts.
    #[serde(default)]
    pub holograms: bool,
    /// How blank cards reach the encoder: "reader" (the printer positions each card itself;
    /// the station waits for it in the encoder reader) or "evolis" (the station moves the
    /// card with Evolis printer commands sent to `feed_address`).
    #[serde(default)]
    pub feed: Feed,
    /// The printer's command socket, `host:port` (feed = "evolis").
    pub feed_address: Option<String>,
    /// The encoder station the card is moved to (feed = "evolis"): "contact" or
    /// "contactless"; default: contact when `encode` has "els", else contactless.
    pub feed_station: Option<crate::card::printer_evolis::EncoderStation>,
}

/// How the print station gets each blank card into the encoder (`[printer] feed`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Feed {
    #[default]
    Reader,
    Evolis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chip {
    Desfire,
    Els,
}

/// CR80, 85.60 × 53.98 mm, in CUPS's custom-size syntax.
pub const CARD_MEDIA: &str = "Custom.85.6x53.98mm";

fn default_media() -> String {
    CARD_MEDIA.to_owned()
}

fn default_job_timeout() -> u32 {
    120
}

impl Printer {
    fn check(&self, profile: &Profile) -> Result<(), String> {
        let plain = |text: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '#' | '\\'))
        };
        if !plain(&self.queue) {
            return Err(format!(
                "printer.queue \"{}\" is not a CUPS queue name (letters, digits, - and _)",
                self.queue
            ));
        }
        if !plain(&self.media) {
            return Err(format!(
                "printer.media \"{}\" is not a media name",
                self.media
            ));
        }
        if !(1..=3600).contains(&self.job_timeout_seconds) {
            return Err(format!(
                "printer.job_timeout_seconds {} is outside 1 to 3600",
                self.job_timeout_seconds
            ));
        }
        match (self.feed, &self.feed_address) {
            (Feed::Evolis, None) => {
                return Err(
                    "printer.feed is \"evolis\" but printer.feed_address (host:port) is missing"
                        .into(),
                );
            }
            (Feed::Evolis, Some(address)) => {
                let port = address
                    .rsplit_once(':')
                    .map(|(host, port)| (host, port.parse::<u16>()));
                if !matches!(port, Some((host, Ok(port))) if !host.is_empty() && port != 0) {
                    return Err(format!(
                        "printer.feed_address \"{address}\" is not host:port (e.g. \"192.168.10.20:9100\")"
                    ));
                }
            }
            (Feed::Reader, Some(_)) => {
                return Err(
                    "printer.feed_address is only used with printer.feed = \"evolis\"".into(),
                );
            }
            (Feed::Reader, None) if self.feed_station.is_some() => {
                return Err(
                    "printer.feed_station is only used with printer.feed = \"evolis\"".into(),
                );
            }
            (Feed::Reader, None) => {}
        }
        for chip in &self.encode {
            match chip {
                Chip::Desfire if profile.desfire.is_none() => {
                    return Err(
                        "printer.encode has \"desfire\" but the profile has no [desfire]".into(),
                    );
                }
                Chip::Els if profile.els.is_none() => {
                    return Err("printer.encode has \"els\" but the profile has no [els]".into());
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The encoder station an Evolis printer moves the card to: the setting, else the
    /// contact station for ELS chips, the contactless one for DESFire only.
    pub fn feed_station(&self) -> crate::card::printer_evolis::EncoderStation {
        use crate::card::printer_evolis::EncoderStation;
        self.feed_station
            .unwrap_or(if self.encode.contains(&Chip::Els) {
                EncoderStation::Contact
            } else {
                EncoderStation::Contactless
            })
    }

    /// The encoder's reader: its own setting, else the profile's contactless, then contact one.
    pub fn encoder<'a>(&'a self, readers: &'a Readers) -> Option<&'a str> {
        self.encoder_reader
            .as_deref()
            .or(readers.contactless.as_deref())
            .or(readers.contact.as_deref())
    }
}

/// How an unattended kiosk decides and shows its verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Kiosk {
    /// The register (last sync) may be this old before verdicts say so; none: no limit.
    pub max_register_age_hours: Option<u32>,
    /// What a too-old register changes: "warn" (the reason says so) or "uid_cards_unknown"
    /// (cards known only by UID are no longer vouched for).
    pub when_stale: WhenStale,
    /// How long a verdict stays on screen before the idle screen returns.
    pub show_verdict_seconds: u32,
    /// Whether a registered card that proves nothing but its UID (no signed chip, no signed
    /// record) may be valid. Off: any emulator can present a copied UID, so such a card is
    /// refused as forged; on, its verdict says it rests on the UID only.
    pub accept_uid_only: bool,
    /// The revocation fast path's last poll may be this old before verdicts say so and the
    /// stale-register rule (`when_stale`) applies; the sync that polls records it with each
    /// poll, so a kiosk whose sync stopped notices.
    pub max_revocation_age_seconds: u32,
}

impl Default for Kiosk {
    fn default() -> Self {
        Self {
            max_register_age_hours: None,
            when_stale: WhenStale::Warn,
            show_verdict_seconds: 4,
            accept_uid_only: false,
            // Twelve missed polls at the default 5 s: a server hiccup passes unnoticed, a
            // stopped sync shows within a minute.
            max_revocation_age_seconds: 60,
        }
    }
}

/// Where the signer revocation lists come from (`[trust]`): the background sync loads each
/// source at its start and then every `crl_every_seconds`, as `cardstation trust crl add`
/// would.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Trust {
    /// URLs (https, or http to this machine) and paths (a CRL file, or a directory whose
    /// `.crl`, `.pem` and `.der` files are CRLs); a relative path is taken from the profile's
    /// folder.
    pub crl_sources: Vec<CrlSource>,
    pub crl_every_seconds: u32,
}

impl Default for Trust {
    fn default() -> Self {
        Self {
            crl_sources: Vec::new(),
            crl_every_seconds: 3600,
        }
    }
}

impl Trust {
    /// `None` when no source is named.
    pub fn crl_every(&self) -> Option<std::time::Duration> {
        (!self.crl_sources.is_empty())
            .then(|| std::time::Duration::from_secs(u64::from(self.crl_every_seconds)))
    }

    fn check(&self) -> Result<(), String> {
        if !(60..=604_800).contains(&self.crl_every_seconds) {
            return Err("trust.crl_every_seconds must be 60 to 604800 (a week)".into());
        }
        Ok(())
    }
}

/// One `[trust] crl_sources` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum CrlSource {
    Url(String),
    Path(PathBuf),
}

impl TryFrom<String> for CrlSource {
    type Error = String;

    fn try_from(source: String) -> Result<Self, String> {
        if source.contains("://") {
            return match server_url_problem(&source) {
                Some(problem) => Err(format!("trust.crl_sources URL {problem}")),
                None => Ok(Self::Url(source)),
            };
        }
        if source.is_empty() {
            return Err("trust.crl_sources holds an empty path".into());
        }
        Ok(Self::Path(PathBuf::from(source)))
    }
}

impl fmt::Display for CrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => f.write_str(url),
            Self::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenStale {
    Warn,
    UidCardsUnknown,
}

/// The demo: a store seeded with made-up students, and a simulated card that `cardstation-sim`
/// (started by scripts/demo.sh) keeps in the contact reader, so the station can be tried
/// without hardware.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    /// Chip UID of the simulated card, hex.
    pub simulated_card_uid: String,
}

/// The university application on MIFARE DESFire cards (`[desfire]`). The card keys are
/// diversified per card (AN10922) from two independent masters held in environment variables:
/// the application master (writes) and the read-key master (reads). The card record is signed
/// with an ECDSA P-256 key file and verified with its public key (see `station::desfire`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesfireApp {
    /// The 24-bit application ID written as a number, e.g. "F54230" (the card stores it
    /// least significant byte first: 30 42 F5).
    #[serde(deserialize_with = "aid_from_hex")]
    pub aid: Aid,
    /// Type of the application keys.
    pub key_type: KeyAlgorithm,
    /// Environment variable holding the application master key (hex) the cards' write keys
    /// are derived from: desk and print station only, never a kiosk.
    pub master_key_env: Option<String>,
    /// Environment variable holding the read-key master (hex) the cards' read keys are
    /// derived from; it derives no write key.
    pub read_key_env: String,
    /// The record signer's PKCS#8 PEM private key (ECDSA P-256, mode 600): desk and print
    /// station only. The demo profile uses its demo signer.
    pub record_signer_key: Option<PathBuf>,
    /// Environment variable with the passphrase of an encrypted record signer key.
    pub record_signer_passphrase_env: Option<String>,
    /// The record signer's public key (PEM or DER SubjectPublicKeyInfo) or certificate (PEM
    /// or DER): what a kiosk verifies records with.
    pub record_verify_key: Option<PathBuf>,
    /// AN10922 system identifier, hex.
    #[serde(deserialize_with = "bytes_from_hex")]
    pub system_id: Vec<u8>,
    /// Environment variable holding the card (PICC) master key, hex; unset: the factory
    /// DES key of zeros. Desk and print station only.
    pub picc_key_env: Option<String>,
    /// Type of the PICC master key; 2k3des also covers a single DES key.
    #[serde(default = "default_picc_key_type")]
    pub picc_key_type: KeyAlgorithm,
    /// File number of the card record (a backup data file).
    pub record_file: u8,
    /// Size of the record file in bytes; the record takes the first bytes of it.
    pub record_size: u32,
    pub comm_mode: CommMode,
}

/// Largest file number of a DESFire EV1 application.
const MAX_FILE_NO: u8 = 31;
/// Largest record file the profile may ask for (the record itself is much smaller).
const MAX_RECORD_SIZE: u32 = 4096;
/// The real UID of a DESFire card, part of every diversification input.
const DESFIRE_UID_LEN: usize = 7;

fn default_picc_key_type() -> KeyAlgorithm {
    KeyAlgorithm::TwoKey3Des
}

fn bytes_from_hex<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    hex::decode(&text)
        .map_err(|_| serde::de::Error::custom(format!("\"{text}\" is not hex (e.g. \"4E585020\")")))
}

fn aid_from_hex<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Aid, D::Error> {
    let text = String::deserialize(deserializer)?;
    match hex::decode(&text) {
        Ok(bytes) if bytes.len() == 3 && bytes != [0, 0, 0] => {
            Ok(Aid(u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]])))
        }
        _ => Err(serde::de::Error::custom(format!(
            "aid \"{text}\" must be 6 hex digits, not 000000 (e.g. \"F54230\")"
        ))),
    }
}

impl DesfireApp {
    /// Bytes of AN10922 input left for the system identifier: the input is
    /// `UID ‖ AID ‖ system id ‖ key number` and must fit two cipher blocks minus the constant.
    pub fn max_system_id_len(key_type: KeyAlgorithm) -> usize {
        let block = match key_type {
            KeyAlgorithm::Aes128 => 16,
            KeyAlgorithm::TwoKey3Des | KeyAlgorithm::ThreeKey3Des => 8,
        };
        2 * block - 1 - DESFIRE_UID_LEN - 3 - 1
    }

    fn check(&self, record_len: usize) -> Result<(), String> {
        let max_id = Self::max_system_id_len(self.key_type);
        if !(1..=max_id).contains(&self.system_id.len()) {
            return Err(format!(
                "desfire.system_id is {} bytes; with key_type {} it must be 1 to {max_id}",
                self.system_id.len(),
                self.key_type
            ));
        }
        if self.record_file > MAX_FILE_NO {
            return Err(format!(
                "desfire.record_file {} is not a file number (0 to {MAX_FILE_NO})",
                self.record_file
            ));
        }
        if !(record_len as u32..=MAX_RECORD_SIZE).contains(&self.record_size) {
            return Err(format!(
                "desfire.record_size {} must be {record_len} to {MAX_RECORD_SIZE} bytes (the record takes {record_len})",
                self.record_size
            ));
        }
        let env_names = [
            self.master_key_env.as_ref(),
            Some(&self.read_key_env),
            self.picc_key_env.as_ref(),
            self.record_signer_passphrase_env.as_ref(),
        ];
        if env_names
            .into_iter()
            .flatten()
            .any(|name| !is_env_name(name))
        {
            return Err(
                "desfire.master_key_env, read_key_env, picc_key_env and record_signer_passphrase_env name environment variables (A-Z, 0-9, _), not keys"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// Also catches a key pasted where the variable's name belongs.
pub fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !hex::decode(name).is_ok_and(|bytes| bytes.len() >= 8)
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("profile {path} is not valid: {message}")]
    Invalid { path: String, message: String },
    #[error(
        "secret {0} (named in the profile) is neither set in the environment nor stored in the \
         keyring (service \"cardstation\", user \"{0}\")"
    )]
    MissingSecret(String),
    #[error("secret {var} does not hold {expected}")]
    BadSecret { var: String, expected: String },
    /// A kiosk profile names a key that writes cards or makes their data: a stolen kiosk
    /// would mint cards.
    #[error(
        "profile {path} is a kiosk's but names {}: keys that write cards or sign their data, \
         which a kiosk must never hold",
        keys.join(", ")
    )]
    KioskHoldsWriteKey {
        path: String,
        keys: Vec<&'static str>,
    },
    #[error("the profile has no {key}, which this needs")]
    MissingKey { key: &'static str },
    #[error("the DESFire record signer's key: {0}")]
    RecordKey(Box<keys::KeyError>),
    #[error(
        "desfire.record_verify_key is not the public key of desfire.record_signer_key: the \
         kiosks would call every card this station issues forged"
    )]
    RecordKeysDiffer,
    /// The kernel keyring refused an operation; the text is the keyring's, never a value.
    #[error("the keyring cannot {action} {var}: {reason}")]
    Keyring {
        action: &'static str,
        var: String,
        reason: String,
    },
}

impl Problem for ConfigError {
    fn next_step(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => "check the --profile path",
            ConfigError::Invalid { .. } => {
                "fix the profile; the examples in profiles/ show every key"
            }
            ConfigError::MissingSecret(_) => {
                "export the variable before starting cardstation, or store it in the keyring \
                 with `cardstation secret set VAR` (the value is read from stdin)"
            }
            ConfigError::BadSecret { .. } => {
                "export the variable (or `cardstation secret set` it) with a value of that form"
            }
            ConfigError::KioskHoldsWriteKey { .. } => {
                "remove those keys from the kiosk's profile (and its environment): a kiosk needs \
                 only desfire.read_key_env and desfire.record_verify_key (README, Keys)"
            }
            ConfigError::MissingKey { .. } => {
                "add it to the profile (see profiles/issuance-desk.toml); only a desk or print \
                 station profile writes cards"
            }
            ConfigError::RecordKey(err) => err.next_step(),
            ConfigError::RecordKeysDiffer => {
                "point desfire.record_verify_key at the signer's own public key, or remove it \
                 (the desk derives it from the signer)"
            }
            ConfigError::Keyring { .. } => {
                "the variable is not set in the environment: export it instead; the kernel \
                 keyring (keyctl show @s) may be unavailable in this session or container"
            }
        }
    }
}

impl Profile {
    pub fn demo() -> Self {
        Self::parse(DEMO_PROFILE, "profiles/demo.toml").expect("the built-in demo profile is valid")
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut profile = Self::parse(&text, &path.display().to_string())?;
        if let Some(dir) = path.parent() {
            profile.photos = profile.photos.as_ref().map(|photos| dir.join(photos));
            for source in &mut profile.trust.crl_sources {
                if let CrlSource::Path(path) = source {
                    *path = dir.join(&*path);
                }
            }
            if let Some(desfire) = profile.desfire.as_mut() {
                for path in [
                    &mut desfire.record_signer_key,
                    &mut desfire.record_verify_key,
                ]
                .into_iter()
                .flatten()
                {
                    *path = dir.join(&*path);
                }
            }
            if let Some(printer) = profile.printer.as_mut() {
                printer.layout = dir.join(&printer.layout);
                printer.photos = printer.photos.as_ref().map(|photos| dir.join(photos));
            }
        }
        Ok(profile)
    }

    /// Parses and checks a profile. Errors name the key and its line (toml's own message).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: origin.to_owned(),
            message,
        };
        let profile: Profile =
            toml::from_str(text).map_err(|err| invalid(err.to_string().trim_end().to_owned()))?;
        if !(0.3..=4.0).contains(&profile.ui.scale) {
            return Err(invalid(format!(
                "ui.scale {} is outside 0.3..=4.0",
                profile.ui.scale
            )));
        }
        let urls = [
            profile.server.as_ref().map(|s| ("server.url", &s.url)),
            profile.usos.as_ref().map(|s| ("usos.url", &s.url)),
            profile.id123.as_ref().map(|s| ("id123.url", &s.url)),
        ];
        for (key, url) in urls.into_iter().flatten() {
            if let Some(problem) = server_url_problem(url) {
                return Err(invalid(format!("{key} {problem}")));
            }
        }
        profile.sync.check().map_err(invalid)?;
        profile.trust.check().map_err(invalid)?;
        if let Some(demo) = &profile.demo {
            let uid = hex::decode(&demo.simulated_card_uid)
                .map_err(|_| invalid("demo.simulated_card_uid must be hex".to_owned()))?;
            if ![4, 7, 10].contains(&uid.len()) {
                return Err(invalid(
                    "demo.simulated_card_uid must be 4, 7 or 10 bytes".to_owned(),
                ));
            }
        }
        if let Some(usos) = &profile.usos {
            let names = [
                Some(&usos.consumer_key_env),
                Some(&usos.consumer_secret_env),
                usos.token_env.as_ref(),
                usos.token_secret_env.as_ref(),
            ];
            if names.into_iter().flatten().any(|name| !is_env_name(name)) {
                return Err(invalid(
                    "usos.*_env name environment variables (A-Z, 0-9, _), not keys or secrets"
                        .to_owned(),
                ));
            }
            if usos.token_env.is_some() != usos.token_secret_env.is_some() {
                return Err(invalid(
                    "usos.token_env and usos.token_secret_env go together".to_owned(),
                ));
            }
        }
        if let Some(desfire) = &profile.desfire {
            desfire.check(RECORD_LEN).map_err(invalid)?;
        }
        if profile.role == Role::Kiosk {
            let keys = profile.write_keys();
            if !keys.is_empty() {
                return Err(ConfigError::KioskHoldsWriteKey {
                    path: origin.to_owned(),
                    keys,
                });
            }
            if profile
                .desfire
                .as_ref()
                .is_some_and(|app| app.record_verify_key.is_none())
            {
                return Err(invalid(
                    "a kiosk's [desfire] needs record_verify_key: the public key (or certificate) \
                     of the desk's record signer"
                        .to_owned(),
                ));
            }
        }
        if let Some(printer) = &profile.printer {
            printer.check(&profile).map_err(invalid)?;
        }
        Ok(profile)
    }

    /// The keys this profile names that write cards or sign what goes on them.
    fn write_keys(&self) -> Vec<&'static str> {
        let desfire = self.desfire.as_ref();
        let els = self.els.as_ref();
        [
            (
                "desfire.master_key_env",
                desfire.is_some_and(|d| d.master_key_env.is_some()),
            ),
            (
                "desfire.picc_key_env",
                desfire.is_some_and(|d| d.picc_key_env.is_some()),
            ),
            (
                "desfire.record_signer_key",
                desfire.is_some_and(|d| d.record_signer_key.is_some()),
            ),
            (
                "els.card_key_env",
                els.is_some_and(|e| e.card_key_env.is_some()),
            ),
            (
                "els.signer_key",
                els.is_some_and(|e| e.signer_key.is_some()),
            ),
        ]
        .into_iter()
        .filter_map(|(key, named)| named.then_some(key))
        .collect()
    }

    /// Where the store lives: `--db` wins, then the profile, relative to the data directory.
    pub fn database_path(&self, override_path: Option<&Path>) -> PathBuf {
        match override_path {
            Some(path) => path.to_owned(),
            None if self.database.is_absolute() => self.database.clone(),
            None => data_dir().join(&self.database),
        }
    }
}

/// `$XDG_DATA_HOME/cardstation`, or `~/.local/share/cardstation`.
pub fn data_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("cardstation")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_profiles_readers_are_included_and_none_named_means_all() {
        let readers = Readers {
            contact: Some("Omnikey 3121".into()),
            contactless: Some("ACR1252".into()),
        };
        assert!(readers.includes("HID Global OMNIKEY 3121 [00] 00"));
        assert!(readers.includes("ACS ACR1252 1S CL Reader(1)"));
        assert!(
            !readers.includes("Virtual PCD 00 01"),
            "another reader on the box"
        );
        assert!(Readers::default().includes("Virtual PCD 00 01"));
    }

    #[test]
    fn shipped_profiles_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml")
                && path.file_stem().is_some_and(|s| s != "layout")
            {
                Profile::load(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
                seen += 1;
            }
        }
        assert!(
            seen >= 4,
            "demo, issuance-desk, print-station and kiosk ship as examples"
        );
        assert_eq!(Profile::demo().role, Role::Issuance);
        assert!(Profile::demo().server.is_none(), "the demo needs no server");
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        let text = "role = \"kiosk\"\ndatabase = \"k.sqlite\"\n\n[readers]\ncontact = \"ACS\"\ncontactles = \"x\"\n";
        let message = Profile::parse(text, "kiosk.toml").unwrap_err().to_string();
        assert!(message.contains("contactles"), "{message}");
        assert!(message.contains("line 6"), "{message}");
        assert!(message.contains("kiosk.toml"), "{message}");
    }

    #[test]
    fn bad_values_are_refused() {
        let bad_role = Profile::parse("role = \"cashier\"\ndatabase = \"x\"\n", "p")
            .unwrap_err()
            .to_string();
        assert!(bad_role.contains("cashier"), "{bad_role}");
        let bad_url = "role = \"issuance\"\ndatabase = \"x\"\n[server]\nkind = \"cardexchange\"\nurl = \"ftp://x\"\napi_key_env = \"K\"\n";
        assert!(
            Profile::parse(bad_url, "p")
                .unwrap_err()
                .to_string()
                .contains("server.url")
        );
        for (url, accepted) in [
            ("https://cx.example.edu.pl", true),
            ("http://127.0.0.1:8080/api/v1", true),
            ("http://127.3.4.5", true),
            ("http://[::1]:9000/", true),
            ("http://localhost:9000", true),
            ("http://cx.example.edu.pl", false),
            ("http://10.0.0.8:8080", false),
            ("http://localhost.example.com", false),
            ("http://127.0.0.1@evil.example.com/", false),
            ("http://user:pw@127.0.0.1/", false),
            ("https://", false),
        ] {
            let text = bad_url.replace("ftp://x", url);
            let parsed = Profile::parse(&text, "p");
            assert_eq!(parsed.is_ok(), accepted, "{url}: {parsed:?}");
            if let Err(err) = parsed {
                assert!(err.to_string().contains("server.url"), "{err}");
            }
        }
        let plain = Profile::parse(&bad_url.replace("ftp://x", "http://cx.example.edu.pl"), "p")
            .unwrap_err()
            .to_string();
        assert!(plain.contains("only for this machine"), "{plain}");
        let bad_scale = "role = \"kiosk\"\ndatabase = \"x\"\n[ui]\nscale = 9.0\n";
        assert!(
            Profile::parse(bad_scale, "p")
                .unwrap_err()
                .to_string()
                .contains("ui.scale")
        );
    }

    #[test]
    fn trust_crl_sources_are_urls_or_paths_from_the_profile_folder() {
        let kiosk = "role = \"kiosk\"\ndatabase = \"x\"\n";
        assert_eq!(Profile::parse(kiosk, "p").unwrap().trust.crl_every(), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kiosk.toml");
        std::fs::write(
            &path,
            format!(
                "{kiosk}[trust]\ncrl_sources = [\"https://pki.example.edu/els.crl\", \
                 \"http://127.0.0.1:8080/els.crl\", \"crl\", \"/var/lib/crl\"]\n\
                 crl_every_seconds = 600\n"
            ),
        )
        .unwrap();
        let trust = Profile::load(&path).unwrap().trust;
        assert_eq!(
            trust.crl_sources,
            [
                CrlSource::Url("https://pki.example.edu/els.crl".into()),
                CrlSource::Url("http://127.0.0.1:8080/els.crl".into()),
                CrlSource::Path(dir.path().join("crl")),
                CrlSource::Path("/var/lib/crl".into()),
            ]
        );
        assert_eq!(trust.crl_every(), Some(std::time::Duration::from_secs(600)));

        let error = |trust: &str| {
            Profile::parse(&format!("{kiosk}[trust]\n{trust}\n"), "p")
                .unwrap_err()
                .to_string()
        };
        let plain = error("crl_sources = [\"http://pki.example.edu/els.crl\"]");
        assert!(
            plain.contains("trust.crl_sources URL must start with https://"),
            "{plain}"
        );
        assert!(error("crl_sources = [\"ftp://pki/x.crl\"]").contains("https://"));
        assert!(error("crl_every_seconds = 5").contains("trust.crl_every_seconds"));
    }

    const DESFIRE: &str = "role = \"issuance\"\ndatabase = \"x\"\n[desfire]\naid = \"F54230\"\nkey_type = \"aes\"\nmaster_key_env = \"K\"\nread_key_env = \"R\"\nsystem_id = \"554E4956\"\nrecord_file = 1\nrecord_size = 128\ncomm_mode = \"maced\"\n";

    fn desfire_error(from: &str, to: &str) -> String {
        let text = DESFIRE.replace(from, to);
        assert_ne!(text, DESFIRE, "{from} is in the sample");
        Profile::parse(&text, "p").unwrap_err().to_string()
    }

    #[test]
    fn desfire_section_parses_and_is_checked() {
        let app = Profile::parse(DESFIRE, "p").unwrap().desfire.unwrap();
        assert_eq!(app.aid, Aid(0xF54230));
        assert_eq!(app.aid.to_bytes(), [0x30, 0x42, 0xF5]);
        assert_eq!(app.key_type, KeyAlgorithm::Aes128);
        assert_eq!(app.system_id, b"UNIV");
        assert_eq!(app.comm_mode, CommMode::Maced);
        assert_eq!(app.picc_key_type, KeyAlgorithm::TwoKey3Des);
        assert!(app.picc_key_env.is_none());

        let bad_aid = desfire_error("\"F54230\"", "\"F542\"");
        assert!(
            bad_aid.contains("aid \"F542\" must be 6 hex digits"),
            "{bad_aid}"
        );
        assert!(desfire_error("\"F54230\"", "\"000000\"").contains("not 000000"));
        let long_3des = DESFIRE
            .replace("\"aes\"", "\"3k3des\"")
            .replace("554E4956", "554E495601");
        let message = Profile::parse(&long_3des, "p").unwrap_err().to_string();
        assert!(
            message.contains("system_id is 5 bytes; with key_type 3k3des it must be 1 to 4"),
            "{message}"
        );
        assert!(desfire_error("554E4956", &"55".repeat(21)).contains("must be 1 to 20"));
        assert!(desfire_error("= 128", "= 96").contains("desfire.record_size 96"));
        assert!(desfire_error("record_file = 1", "record_file = 40").contains("record_file 40"));
        assert!(desfire_error("\"maced\"", "\"secret\"").contains("secret"));
        let key_in_file = desfire_error(
            "master_key_env = \"K\"",
            "master_key_env = \"00112233445566778899AABBCCDDEEFF\"",
        );
        assert!(
            key_in_file.contains("name environment variables"),
            "{key_in_file}"
        );
        assert!(!key_in_file.contains("0011223344"), "{key_in_file}");
        assert!(desfire_error("comm_mode", "com_mode").contains("com_mode"));
    }

    const PRINTER: &str = "role = \"print\"\ndatabase = \"x\"\n[desfire]\naid = \"F54230\"\nkey_type = \"aes\"\nmaster_key_env = \"K\"\nread_key_env = \"R\"\nrecord_signer_key = \"r.pem\"\nsystem_id = \"554E4956\"\nrecord_file = 1\nrecord_size = 128\ncomm_mode = \"maced\"\n[printer]\nqueue = \"Evolis\"\nlayout = \"l.toml\"\nencode = [\"desfire\"]\n";

    #[test]
    fn the_printer_feed_is_the_reader_unless_an_evolis_address_is_given() {
        use crate::card::printer_evolis::EncoderStation;
        let printer = Profile::parse(PRINTER, "p").unwrap().printer.unwrap();
        assert_eq!(printer.feed, Feed::Reader);
        let evolis = format!("{PRINTER}feed = \"evolis\"\nfeed_address = \"10.0.0.7:9100\"\n");
        let printer = Profile::parse(&evolis, "p").unwrap().printer.unwrap();
        assert_eq!(printer.feed, Feed::Evolis);
        assert_eq!(printer.feed_address.as_deref(), Some("10.0.0.7:9100"));
        assert_eq!(
            printer.feed_station(),
            EncoderStation::Contactless,
            "DESFire only"
        );
        let contact = format!("{evolis}feed_station = \"contact\"\n");
        let printer = Profile::parse(&contact, "p").unwrap().printer.unwrap();
        assert_eq!(printer.feed_station(), EncoderStation::Contact);

        let error = |text: &str| Profile::parse(text, "p").unwrap_err().to_string();
        let missing = error(&format!("{PRINTER}feed = \"evolis\"\n"));
        assert!(
            missing.contains("feed_address (host:port) is missing"),
            "{missing}"
        );
        let no_port = error(&format!(
            "{PRINTER}feed = \"evolis\"\nfeed_address = \"10.0.0.7\"\n"
        ));
        assert!(no_port.contains("is not host:port"), "{no_port}");
        let stray = error(&format!("{PRINTER}feed_address = \"10.0.0.7:9100\"\n"));
        assert!(
            stray.contains("only used with printer.feed = \"evolis\""),
            "{stray}"
        );
        assert!(error(&format!("{PRINTER}feed = \"zebra\"\n")).contains("zebra"));
    }

    #[test]
    fn a_kiosk_profile_with_a_key_that_writes_cards_is_refused() {
        let kiosk = DESFIRE
            .replace("\"issuance\"", "\"kiosk\"")
            .replace("master_key_env = \"K\"\n", "")
            + "[els]\ncard_key_env = \"ELS_KEY\"\n";
        let kiosk = kiosk.replace("[desfire]\n", "[desfire]\nrecord_verify_key = \"r.pub\"\n");
        let err = Profile::parse(&kiosk, "kiosk.toml").unwrap_err();
        assert!(
            matches!(&err, ConfigError::KioskHoldsWriteKey { keys, .. } if keys == &["els.card_key_env"]),
            "{err:?}"
        );
        let err = Profile::parse(
            &kiosk.replace(
                "[desfire]\n",
                "[desfire]\nmaster_key_env = \"K\"\npicc_key_env = \"P\"\n",
            ),
            "kiosk.toml",
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("desfire.master_key_env, desfire.picc_key_env, els.card_key_env"),
            "{message}"
        );
        assert!(message.contains("kiosk.toml"), "{message}");
        assert!(
            err.next_step().contains("read_key_env"),
            "{}",
            err.next_step()
        );

        // Without the write keys the kiosk profile parses, and it must say how to verify.
        let reading = kiosk.replace("[els]\ncard_key_env = \"ELS_KEY\"\n", "");
        let app = Profile::parse(&reading, "kiosk.toml")
            .unwrap()
            .desfire
            .unwrap();
        assert_eq!(app.master_key_env, None);
        assert_eq!(app.read_key_env, "R");
        let unverifiable = reading.replace("record_verify_key = \"r.pub\"\n", "");
        let message = Profile::parse(&unverifiable, "kiosk.toml")
            .unwrap_err()
            .to_string();
        assert!(message.contains("record_verify_key"), "{message}");
    }

    #[test]
    fn database_paths_resolve() {
        let profile = Profile::demo();
        assert_eq!(
            profile.database_path(Some(Path::new("/tmp/x.sqlite"))),
            PathBuf::from("/tmp/x.sqlite")
        );
        assert!(
            profile
                .database_path(None)
                .ends_with("cardstation/demo.sqlite")
        );
    }
}
