//! MIFARE DESFire commands: `diversify`, `desfire issue`, `desfire read`.

use std::path::Path;

use time::Date;
use time::format_description::FormatItem;
use time::macros::format_description;
use zeroize::Zeroizing;

use cardstation::config::{DesfireApp, Profile};
use cardstation::crypto::diversify::{self, KeyAlgorithm};
use cardstation::station::desfire::{
    self, CardRecord, DesfireReadError, IssueKeys, ReadKeys, VerifiedRecord,
};

use cardstation::error::Problem;
use cardstation::station::issue::record_card;
use cardstation::store::{CardStatus, CardType, NewCard, Store, UidKind};

use super::Failure;
use super::card::connect;

/// Prints the AN10922 key for one card: the operator's way to check a key by hand.
pub fn diversify(
    alg: KeyAlgorithm,
    master_hex: &str,
    uid_hex: &str,
    aid_hex: &str,
    system_id_hex: &str,
) -> Result<(), Failure> {
    // The master key's text is never echoed back, not even when it is malformed.
    let master = Zeroizing::new(hex::decode(master_hex.trim()).map_err(|_| {
        Failure::new(
            "--key is not hex",
            format!("give the master key as {} hex digits", 2 * alg.key_len()),
        )
    })?);
    let uid = parse_hex("--uid", uid_hex, "e.g. --uid 04782E21801D80")?;
    let aid = parse_hex(
        "--aid",
        aid_hex,
        "e.g. --aid 3042F5 (3 bytes as stored on the card)",
    )?;
    let system_id = parse_hex("--sysid", system_id_hex, "e.g. --sysid 4E585020416275")?;
    let key = diversify::diversify(alg, &master, &uid, &aid, &system_id).map_err(|err| {
        Failure::new(
            err.to_string(),
            "check the key length for --alg and shorten --sysid if the input is too long",
        )
    })?;
    println!("{}", Zeroizing::new(hex::encode_upper(&key)).as_str());
    Ok(())
}

fn parse_hex(option: &str, text: &str, example: &str) -> Result<Vec<u8>, Failure> {
    hex::decode(text.trim())
        .map_err(|_| Failure::new(format!("{option} \"{text}\" is not hex"), example))
}

/// The `[desfire]` section, or why there is none.
fn application(profile: &Profile) -> Result<&DesfireApp, Failure> {
    profile.desfire.as_ref().ok_or_else(|| {
        Failure::new(
            "the profile has no [desfire] section",
            "use a profile with one (see profiles/issuance-desk.toml) via --profile",
        )
    })
}

/// The card record as the operator typed it. The local store will build the same
/// [`CardRecord`] from a cardholder (`--cardholder ID`) once it exists.
pub struct RecordInput<'a> {
    pub card_number: u64,
    pub barcode: &'a str,
    /// `None`: taken from the store cardholder.
    pub holder_id: Option<&'a str>,
    pub expires: &'a str,
}

impl RecordInput<'_> {
    fn to_record(&self, holder_from_store: Option<&str>) -> Result<CardRecord, Failure> {
        let holder_id = self
            .holder_id
            .or(holder_from_store)
            .ok_or_else(|| Failure::new("no holder id", "give --holder-id or --cardholder"))?;
        let expires = Date::parse(self.expires, DATE).map_err(|_| {
            Failure::new(
                format!("--expires \"{}\" is not a date", self.expires),
                "give it as YYYY-MM-DD, e.g. --expires 2027-09-30",
            )
        })?;
        Ok(CardRecord {
            card_number: self.card_number,
            barcode: self.barcode.to_owned(),
            holder_id: holder_id.to_owned(),
            expires,
        })
    }
}

const DATE: &[FormatItem<'_>] = format_description!("[year]-[month]-[day]");

pub fn issue(
    profile: &Profile,
    reader: Option<&str>,
    wait: Option<f64>,
    input: &RecordInput,
    cardholder: Option<i64>,
    db: &Path,
) -> Result<(), Failure> {
    let mut store = cardholder.map(|_| Store::open(db)).transpose()?;
    let holder_from_store = match (&store, cardholder) {
        (Some(store), Some(id)) => Some(desfire::holder_id(store, id)?),
        _ => None,
    };
    let record = input.to_record(holder_from_store.as_deref())?;
    let app = application(profile)?;
    let keys = IssueKeys::for_profile(profile, &cardstation::config::data_dir())?;
    let reader = reader.or(profile.readers.contactless.as_deref());
    let mut card = connect(reader, wait)?;
    let report = desfire::issue(&mut card, app, &keys, &record)?;
    println!(
        "issued application {} on card {}: card number {}, expires {} ({}{} APDUs)",
        app.aid,
        hex::encode_upper(&report.uid),
        record.card_number,
        record.expires,
        match (report.created_application, report.changed_keys) {
            (true, _) => "new application, keys set, ",
            (false, true) => "finished an interrupted issue, keys set, ",
            (false, false) => "record rewritten, ",
        },
        report.apdus,
    );
    if let (Some(store), Some(cardholder_id)) = (store.as_mut(), cardholder) {
        let card = NewCard {
            cardholder_id,
            card_number: Some(record.card_number.to_string()),
            barcode: Some(record.barcode.clone()),
            card_type: CardType::Student,
            contact_uid: None,
            contactless_uid: Some(hex::encode_upper(&report.uid)),
            chip_serial_number: None,
            status: CardStatus::Personalized,
            expires: Some(record.expires),
            desfire_issued: true,
        };
        let card_id = record_card(
            store,
            UidKind::Contactless,
            &report.uid,
            card,
            &super::operator(),
        )
        .map_err(|err| {
            Failure::new(
                format!("the card is issued, but recording it failed: {err}"),
                err.next_step(),
            )
        })?;
        println!("recorded as card {card_id} of cardholder {cardholder_id}");
    }
    Ok(())
}

pub fn read(
    profile: &Profile,
    reader: Option<&str>,
    wait: Option<f64>,
    json: bool,
) -> Result<(), Failure> {
    let app = application(profile)?;
    let keys = ReadKeys::for_profile(profile, &cardstation::config::data_dir())?;
    let reader = reader.or(profile.readers.contactless.as_deref());
    let mut card = connect(reader, wait)?;
    let result = desfire::read(&mut card, app, &keys);
    if json {
        println!("{}", verdict_json(&result));
    }
    let verified = result?;
    if !json {
        let record = &verified.record;
        println!(
            "valid: card {} number {}, barcode {}, holder {}, expires {}",
            hex::encode_upper(&verified.uid),
            record.card_number,
            record.barcode,
            record.holder_id,
            record.expires
        );
    }
    Ok(())
}

/// One JSON object: the verdict and what the card says (null where the check stopped first).
fn verdict_json(result: &Result<VerifiedRecord, DesfireReadError>) -> serde_json::Value {
    let (valid, reason, uid, record) = match result {
        Ok(verified) => (
            true,
            "valid",
            Some(&verified.uid[..]),
            Some(&verified.record),
        ),
        Err(DesfireReadError::Expired(verified)) => (
            false,
            "expired",
            Some(&verified.uid[..]),
            Some(&verified.record),
        ),
        Err(err) => (false, err.reason(), err.uid(), None),
    };
    serde_json::json!({
        "valid": valid,
        "reason": reason,
        "uid": uid.map(hex::encode_upper),
        "card_number": record.map(|r| r.card_number),
        "barcode": record.map(|r| &r.barcode),
        "holder_id": record.map(|r| &r.holder_id),
        "expires": record.map(|r| r.expires.to_string()),
    })
}
