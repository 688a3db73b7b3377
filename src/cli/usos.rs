//! `usos call` (any USOS method, signed with the profile's consumer) and `import id123`
//! (mobile cards into the store).

use std::path::Path;

use cardstation::config::{Profile, Secret};
use cardstation::remote::id123::{DEFAULT_PAGE_SIZE, Id123Client, Id123Error};
use cardstation::remote::oauth1::Credential;
use cardstation::remote::retry::RetryPolicy;
use cardstation::remote::usos::{UsosClient, UsosError};
use cardstation::store::Store;

use super::Failure;

impl From<UsosError> for Failure {
    fn from(err: UsosError) -> Self {
        Failure::new(err.to_string(), err.next_step())
    }
}

impl From<Id123Error> for Failure {
    fn from(err: Id123Error) -> Self {
        Failure::new(err.to_string(), err.next_step())
    }
}

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
    let Some(usos) = &profile.usos else {
        return Err(Failure::new(
            "the profile has no [usos] section",
            "pass --profile with [usos] url, consumer_key_env and consumer_secret_env",
        ));
    };
    let consumer_key = Secret::from_env(&usos.consumer_key_env)?;
    let consumer = Credential::new(
        consumer_key.expose(),
        Secret::from_env(&usos.consumer_secret_env)?,
    );
    let mut client = UsosClient::new(&usos.url, consumer, RetryPolicy::default())?;
    if let (Some(token_env), Some(secret_env)) = (&usos.token_env, &usos.token_secret_env) {
        let token = Secret::from_env(token_env)?;
        client = client.with_token(Credential::new(
            token.expose(),
            Secret::from_env(secret_env)?,
        ));
    }
    Ok(client)
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
    let answer = runtime()?.block_on(client.call(method, &params))?;
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

/// Imports every mobile card of the template (`--template`, else the profile's) into the store.
pub fn import_id123(profile: &Profile, db: &Path, template: Option<&str>) -> Result<(), Failure> {
    let Some(id123) = &profile.id123 else {
        return Err(Failure::new(
            "the profile has no [id123] section",
            "pass --profile with [id123] url and api_key_env",
        ));
    };
    let key = Secret::from_env(&id123.api_key_env)?;
    let client = Id123Client::new(&id123.url, key, RetryPolicy::default())?;
    let template = template.or(id123.card_template_id.as_deref());
    let mut store = Store::open(db)?;
    let summary = runtime()?.block_on(client.import(&mut store, template, DEFAULT_PAGE_SIZE))?;
    println!(
        "id123\tpages {}\tnew {}\tupdated {}\tunreadable {}",
        summary.pages, summary.stored.inserted, summary.stored.updated, summary.unreadable
    );
    Ok(())
}
