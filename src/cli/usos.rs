//! `usos call` (any USOS method, signed with the profile's consumer), `usos issue` /
//! `usos prolong` (the card on the reader from USOS's data) and `import id123` (mobile cards
//! into the store).

use std::path::Path;

use cardstation::config::{Profile, Secret, Usos};
use cardstation::remote::id123::{DEFAULT_PAGE_SIZE, Id123Client};
use cardstation::remote::retry::RetryPolicy;
use cardstation::remote::usos::UsosClient;
use cardstation::station::usos::{self, FindBy, UsosDesk, UsosIssueError};
use cardstation::store::Store;
use cardstation::sync::id123;
use x509_cert::Certificate;

use cardstation::error::Problem;
use cardstation::station::auth::Action;

use super::Failure;
use super::els::TrustArgs;

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            Failure::new(
                format!("cannot start the network client: {err}"),
                "report it",
            )
        })
}

/// The profile's USOS client: consumer from `[usos]`, and its access token when set.
pub fn usos_client(profile: &Profile) -> Result<UsosClient, Failure> {
    usos::client_from_profile(profile, RetryPolicy::default()).map_err(Failure::from)
}

/// Calls `method` with `key=value` parameters and prints the answer: pretty JSON, or with
/// `json` one line.
pub fn call(profile: &Profile, method: &str, params: &[String], json: bool) -> Result<(), Failure> {
    let params = params
        .iter()
        .map(|param| {
            param
                .split_once('=')
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .ok_or_else(|| {
                    Failure::new(
                        format!("parameter {param:?} is not key=value"),
                        "write parameters as e.g. contact_chip_uid=04A1B2C3D4E5F6 fields='id|type'",
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let client = usos_client(profile)?;
    let mut answer = runtime()?.block_on(client.call(method, &params))?;
    redact_secrets(&mut answer);
    if json {
        println!("{answer}");
    } else {
        println!(
            "{}",
            serde_json::to_string_pretty(&answer).unwrap_or_else(|_| answer.to_string())
        );
    }
    Ok(())
}

/// Fields of USOS answers that are keys or one-time credentials (`student_card_data`'s card
/// and system keys, an mLegitymacja order's token and distribution pass): a terminal or a
/// script's log is no place for them, so `usos call` prints them as `***`.
const SECRET_FIELDS: [&str; 4] = ["card_key", "system_key", "token", "distribution_pass"];

fn redact_secrets(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(fields) => {
            for (name, field) in fields.iter_mut() {
                if SECRET_FIELDS.contains(&name.as_str()) && !field.is_null() {
                    *field = serde_json::Value::String("***".into());
                } else {
                    redact_secrets(field);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// Imports every mobile card of the template (`--template`, else the profile's) into the store.
pub fn import_id123(profile: &Profile, db: &Path, template: Option<&str>) -> Result<(), Failure> {
    let Some(id123) = &profile.id123 else {
        return Err(Failure::new(
            "the profile has no [id123] section",
            "pass --profile with [id123] url and api_key_env",
        ));
    };
    let key = Secret::lookup(&id123.api_key_env)?;
    let client = Id123Client::new(&id123.url, key, RetryPolicy::default())?;
    let template = template.or(id123.card_template_id.as_deref());
    let mut store = Store::open(db)?;
    let summary = runtime()?.block_on(id123::import(
        &client,
        &mut store,
        template,
        DEFAULT_PAGE_SIZE,
    ))?;
    println!(
        "id123\tpages {}\tnew {}\tupdated {}\tunreadable {}",
        summary.pages, summary.stored.inserted, summary.stored.updated, summary.unreadable
    );
    Ok(())
}

/// The certificates a written card must verify against: `--cert`/`--trust`, else the store's
/// trusted issuers (`cardstation trust add`).
fn trusted(store: &Store, trust: &TrustArgs) -> Result<Vec<Certificate>, Failure> {
    let given = super::els::load_trust(trust)?;
    if !given.is_empty() {
        return Ok(given);
    }
    let from_store = usos::trusted_issuers(store)?;
    if from_store.is_empty() {
        return Err(Failure::new(
            "no trusted issuer: the written card could not be verified",
            "trust USOS's signer certificate (`cardstation trust add CERT.pem`) or give --cert",
        ));
    }
    Ok(from_store)
}

/// What `usos issue` and `usos prolong` work with, once the operator may do `action`: the
/// profile's USOS client and settings, the certificates the written card must verify
/// against, and who is at the desk.
struct UsosSession<'p> {
    client: UsosClient,
    settings: &'p Usos,
    trusted: Vec<Certificate>,
    operator: String,
}

impl<'p> UsosSession<'p> {
    /// Also opens the store (the trusted issuers may come from it).
    fn open(
        profile: &'p Profile,
        action: Action,
        db: &Path,
        trust: &TrustArgs,
    ) -> Result<(Self, Store), Failure> {
        super::require(profile, action)?;
        let client = usos_client(profile)?;
        let settings = profile.usos.as_ref().expect("usos_client checked [usos]");
        let store = Store::open(db)?;
        let trusted = trusted(&store, trust)?;
        let session = UsosSession {
            client,
            settings,
            trusted,
            operator: super::operator(),
        };
        Ok((session, store))
    }

    fn desk(&self) -> UsosDesk<'_> {
        UsosDesk {
            client: &self.client,
            key_algorithm: self.settings.card_key_type,
            trusted: &self.trusted,
            operator: &self.operator,
        }
    }
}

fn usos_failure(err: UsosIssueError) -> Failure {
    Failure::from(err)
}

/// `usos issue`: the card on the reader, from USOS's data, for store cardholder `cardholder`.
pub fn issue(
    profile: &Profile,
    db: &Path,
    cardholder: i64,
    barcode: Option<String>,
    reader: Option<&str>,
    trust: &TrustArgs,
    notify: bool,
) -> Result<(), Failure> {
    let (session, mut store) = UsosSession::open(profile, Action::IssueCard, db, trust)?;
    let desk = session.desk();
    let find_by = barcode.map_or(FindBy::ChipUid, FindBy::Barcode);
    let runtime = runtime()?;
    let mut card = super::els::connect(reader)?;
    let issued = card
        .in_transaction(|transport| {
            Ok(runtime.block_on(usos::issue(
                &desk,
                transport,
                &mut store,
                cardholder,
                &find_by,
                super::els::today(),
                &mut |_| {},
            )))
        })?
        .map_err(usos_failure)?;
    let data = &issued.issued.verified.data;
    println!(
        "issued chip {}: {} {}, expires {}; recorded as card {}",
        hex::encode_upper(&issued.issued.uid),
        data.given_names.join(" "),
        data.surnames.join(" "),
        data.expires,
        issued.card_id.unwrap_or_default()
    );
    if notify {
        let sent = runtime
            .block_on(usos::send_card_ready(
                &session.client,
                &session.settings.card_ready,
                &issued.usos_card,
            ))
            .map_err(|err| {
                Failure::new(
                    format!("the card is issued, but the notification failed: {err}"),
                    err.next_step(),
                )
            })?;
        println!("notified USOS user {}", sent.user_id);
    }
    Ok(())
}

/// `usos prolong`: writes USOS's newer structure on the card and reports the prolongation;
/// run again after USOS was not told, it tells USOS without writing the card again.
pub fn prolong(
    profile: &Profile,
    db: &Path,
    reader: Option<&str>,
    trust: &TrustArgs,
) -> Result<(), Failure> {
    let (session, mut store) = UsosSession::open(profile, Action::ProlongCard, db, trust)?;
    let desk = session.desk();
    let runtime = runtime()?;
    let mut card = super::els::connect(reader)?;
    let prolonged = card
        .in_transaction(|transport| {
            Ok(runtime.block_on(usos::prolong(
                &desk,
                transport,
                &mut store,
                None,
                super::els::today(),
            )))
        })?
        .map_err(usos_failure)?;
    println!(
        "prolonged chip {} until {}; USOS notified",
        hex::encode_upper(&prolonged.issued.uid),
        prolonged.issued.verified.data.expires
    );
    super::els::report_recorded(prolonged.card_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_in_an_answer_are_printed_as_stars_wherever_they_sit() {
        let mut answer = serde_json::json!({
            "card_key": "00112233445566778899AABBCCDDEEFF",
            "structure": "MIIB",
            "orders": [{"id": "7", "token": "T0KEN", "distribution_pass": "PASS"}],
            "system_key": null,
        });
        redact_secrets(&mut answer);
        let printed = answer.to_string();
        for secret in ["00112233", "T0KEN", "PASS"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert_eq!(answer["structure"], "MIIB");
        assert_eq!(answer["orders"][0]["id"], "7");
        assert!(answer["system_key"].is_null());
    }
}
