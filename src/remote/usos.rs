//! USOS API client: `services/cards` (all ten methods), `services/events2` (the notification
//! and the read-only event type and channel methods) and `services/phones` (`select`,
//! `replace`), OAuth 1.0a signed (consumer only for administrative methods, consumer + token
//! for methods that act for a user). Read-only methods are GETs with the parameters in the
//! query, changes are POSTs with a form body. Retries follow [`super::retry`]; a nonce the
//! server has already seen is retried with a fresh one (every try is signed anew).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use thiserror::Error;
use zeroize::Zeroizing;

use super::http::{self, Unreachable, by_status, excerpt, refuses_credentials};
use super::oauth1::{self, Credential};
use super::retry::{Attempt, RetryPolicy, with_retries};
use crate::card::els::{CardKey, WriteKey};
use crate::crypto::diversify::KeyAlgorithm;
use crate::error::Problem;

/// Methods that change something: sent as POST with a form body.
const CHANGES: &[&str] = &[
    "cards/mark_student_card_prolonged",
    "cards/make_mcard_order",
    "cards/revoke_mcard",
    "events2/send_notification",
    "phones/replace",
];

#[derive(Debug, Error)]
pub enum UsosError {
    #[error("cannot reach the USOS API at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    /// A bad signature, an unknown consumer or token, a stale timestamp or a used nonce.
    #[error("the USOS API refused the OAuth authentication ({cause}): {message}")]
    Authentication { cause: String, message: String },
    #[error("USOS has no such object (object_not_found): {message}")]
    NotFound { message: String },
    #[error("USOS refused parameter {param} (param_invalid): {message}")]
    ParamInvalid { param: String, message: String },
    #[error("the USOS API answered {code} (HTTP {status}): {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the USOS API sent an unreadable answer to {what}: {cause}")]
    BadResponse { what: String, cause: String },
    #[error("{method} acts for a user and needs an OAuth token; the client has none")]
    TokenRequired { method: String },
}

impl UsosError {
    pub fn is_authentication(&self) -> bool {
        matches!(self, UsosError::Authentication { .. })
    }
}

impl Problem for UsosError {
    fn next_step(&self) -> &'static str {
        match self {
            UsosError::Unreachable { .. } => "check the network and [usos] url in the profile",
            UsosError::Authentication { .. } => {
                "check the consumer key and secret in the variables named by [usos] (and the station clock)"
            }
            UsosError::NotFound { .. } => "check the card or user named above in USOS",
            UsosError::ParamInvalid { .. } => "correct the parameter named above",
            UsosError::Api { status, .. } if *status >= 500 => "USOS is failing: try again later",
            UsosError::Api { .. } => "see the USOS message above",
            UsosError::BadResponse { .. } => "try again later; if it persists, report it",
            UsosError::TokenRequired { .. } => {
                "set [usos] token_env and token_secret_env to a user's access token"
            }
        }
    }
}

impl Unreachable for UsosError {
    fn unreachable(url: &str, cause: String) -> Self {
        UsosError::Unreachable {
            url: url.to_owned(),
            cause,
        }
    }
}

/// A USOS error body: `{"message": ..., "error": "object_not_found", "param_name": ...}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorBody {
    message: Option<String>,
    error: Option<String>,
    param_name: Option<String>,
}

/// The error an answer means, and whether trying again (signed anew) may help.
fn usos_error(status: StatusCode, body: &[u8]) -> Attempt<UsosError> {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = parsed.message.unwrap_or_else(|| excerpt(body));
    let code = parsed.error.unwrap_or_default();
    if refuses_credentials(status) {
        let error = UsosError::Authentication {
            cause: if code.is_empty() {
                "refused".into()
            } else {
                code.clone()
            },
            message,
        };
        // A nonce seen before (a retry of a lost answer, a clash): a fresh one will do.
        return match code.as_str() {
            "nonce_used" => Attempt::Retry(error),
            _ => Attempt::Final(error),
        };
    }
    let error = match code.as_str() {
        "object_not_found" => UsosError::NotFound { message },
        "param_invalid" | "param_missing" => UsosError::ParamInvalid {
            param: parsed.param_name.unwrap_or_else(|| "?".into()),
            message,
        },
        _ => UsosError::Api {
            status: status.as_u16(),
            code: if code.is_empty() {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                code
            },
            message,
        },
    };
    by_status(status, error)
}

/// Text the server sends that must not be printed or kept: write keys, mObywatel tokens.
#[derive(Clone, Default, PartialEq)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(Zeroizing::new(String::deserialize(deserializer)?)))
    }
}

/// USOS text in Polish and English.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LangDict {
    pub pl: Option<String>,
    pub en: Option<String>,
}

impl LangDict {
    /// Polish, else English, else empty: for one-line messages.
    pub fn text(&self) -> &str {
        self.pl
            .as_deref()
            .or(self.en.as_deref())
            .unwrap_or_default()
    }
}

/// The primary fields of `services/users/user` that cards carry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UsosUser {
    pub id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// `services/cards/card`; only the selected fields are `Some`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct UsosCard {
    pub id: Option<String>,
    pub user: Option<UsosUser>,
    pub contact_chip_uid: Option<String>,
    pub contactless_chip_uid: Option<String>,
    pub barcode_number: Option<String>,
    /// student, phd, staff, graduate or academic_teacher.
    #[serde(rename = "type")]
    pub card_type: Option<String>,
    pub expiration_date: Option<String>,
    pub date_of_issue: Option<String>,
    pub student_number: Option<String>,
}

/// `services/cards/student_card_data`: what to write on an ELS chip. `structure` and
/// `certificate` are base64 DER.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct StudentCardData {
    pub certificate: Option<String>,
    pub system_key: Option<SecretText>,
    /// The card's own write key, hex.
    pub card_key: Option<SecretText>,
    pub structure: Option<String>,
    pub expiration_date: Option<String>,
    pub date_of_write: Option<String>,
    pub student_number: Option<String>,
    pub can_be_written: Option<bool>,
    pub card: Option<UsosCard>,
    /// Why not, when `can_be_written` is false (sent by the reference server; other
    /// servers may leave it out).
    pub why_cannot_write: Option<LangDict>,
}

impl StudentCardData {
    fn binary(field: &'static str, value: Option<&String>) -> Result<Vec<u8>, UsosError> {
        let text = value.ok_or_else(|| UsosError::BadResponse {
            what: "student_card_data".into(),
            cause: format!("no {field} (ask for it in fields)"),
        })?;
        BASE64
            .decode(text.trim())
            .map_err(|err| UsosError::BadResponse {
                what: "student_card_data".into(),
                cause: format!("{field} is not base64: {err}"),
            })
    }

    /// The signed EF.ELS structure, DER.
    pub fn structure_der(&self) -> Result<Vec<u8>, UsosError> {
        Self::binary("structure", self.structure.as_ref())
    }

    /// The signer's certificate for EF.CERT, DER, if sent.
    pub fn certificate_der(&self) -> Result<Option<Vec<u8>>, UsosError> {
        match &self.certificate {
            None => Ok(None),
            some => Self::binary("certificate", some.as_ref()).map(Some),
        }
    }

    /// The card's write key as a [`CardKey`] of `algorithm`.
    pub fn card_key(&self, algorithm: KeyAlgorithm) -> Result<CardKey, UsosError> {
        let bad = |cause: String| UsosError::BadResponse {
            what: "student_card_data".into(),
            cause,
        };
        let text = self
            .card_key
            .as_ref()
            .ok_or_else(|| bad("no card_key (ask for it in fields)".into()))?;
        let key = Zeroizing::new(
            hex::decode(text.expose().trim()).map_err(|_| bad("card_key is not hex".into()))?,
        );
        WriteKey::card_specific(algorithm, key)
            .map(CardKey::Specific)
            .map_err(|err| bad(format!("card_key: {err}")))
    }
}

/// `services/cards/mcard`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Mcard {
    pub why_cannot_order: Option<LangDict>,
    pub why_cannot_revoke: Option<LangDict>,
    pub orders: Option<Vec<McardOrder>>,
}

/// `services/cards/mcard_order`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct McardOrder {
    pub id: Option<String>,
    pub order_date: Option<String>,
    /// pending, in_progress, ready_to_receive, error, received or revoked.
    pub status: Option<String>,
    pub token: Option<SecretText>,
    pub distribution_pass: Option<SecretText>,
    pub student_number: Option<String>,
    pub expiration_date: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Success {
    pub success: bool,
}

/// `services/events2/event_type`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct EventType {
    pub id: Option<String>,
    pub name: Option<LangDict>,
    pub description: Option<LangDict>,
    pub is_enabled: Option<bool>,
    pub is_mandatory: Option<bool>,
    pub send_by_default: Option<bool>,
    pub default_message: Option<LangDict>,
}

/// `services/events2/distribution_channel` and `notification_channels_index` entries.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Channel {
    pub id: Option<String>,
    pub name: Option<LangDict>,
    pub description: Option<LangDict>,
}

/// `services/events2/event_channel`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct EventChannel {
    pub id: Option<String>,
    pub channel: Option<Channel>,
    pub event_type: Option<EventType>,
    pub is_enabled: Option<bool>,
    pub is_mandatory: Option<bool>,
    pub send_by_default: Option<bool>,
}

/// A phone number of `services/phones`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Phone {
    pub number: String,
    pub comment: LangDict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_id: Option<String>,
}

/// Which card a `services/cards` method is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardLookup {
    Id(String),
    ContactChipUid(String),
    ContactlessChipUid(String),
    Barcode(String),
}

impl CardLookup {
    fn param(&self) -> (&'static str, &str) {
        match self {
            CardLookup::Id(id) => ("id", id),
            CardLookup::ContactChipUid(uid) => ("contact_chip_uid", uid),
            CardLookup::ContactlessChipUid(uid) => ("contactless_chip_uid", uid),
            CardLookup::Barcode(barcode) => ("barcode_number", barcode),
        }
    }
}

/// A notification (`events2/send_notification`) to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub user_id: String,
    pub message: LangDict,
    /// None: the server's default (`custom`).
    pub event_type_id: Option<String>,
}

type NonceSource = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
pub struct UsosClient {
    http: reqwest::Client,
    base: String,
    consumer: Arc<Credential>,
    token: Option<Arc<Credential>>,
    retry: RetryPolicy,
    nonces: NonceSource,
}

impl fmt::Debug for UsosClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsosClient")
            .field("base", &self.base)
            .field("consumer", &self.consumer)
            .field("token", &self.token)
            .finish()
    }
}

/// Parameters as owned pairs; `fields` joined with `|` when given.
fn with_fields(
    mut params: Vec<(String, String)>,
    fields: Option<&[&str]>,
) -> Vec<(String, String)> {
    if let Some(fields) = fields {
        params.push(("fields".into(), fields.join("|")));
    }
    params
}

fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

impl UsosClient {
    /// `base_url` is the installation root (e.g. `https://usosapps.example.edu.pl/`).
    pub fn new(
        base_url: &str,
        consumer: Credential,
        retry: RetryPolicy,
    ) -> Result<Self, UsosError> {
        Ok(Self {
            http: http::client::<UsosError>(&retry, base_url)?,
            base: base_url
                .trim_end_matches('/')
                .trim_end_matches("/services")
                .to_owned(),
            consumer: Arc::new(consumer),
            token: None,
            retry,
            nonces: Arc::new(oauth1::new_nonce),
        })
    }

    /// Acts for the user who granted `token` (needed by `user`, `user_cards`, `mcard`...).
    pub fn with_token(mut self, token: Credential) -> Self {
        self.token = Some(Arc::new(token));
        self
    }

    /// Where nonces come from (tests replay one to see the server refuse it).
    pub fn with_nonces(mut self, nonces: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.nonces = Arc::new(nonces);
        self
    }

    /// Calls `method` (`cards/card` or `services/cards/card`) with `params` and returns the
    /// answer as JSON. Changes are POSTed, the rest are GETs.
    pub async fn call(
        &self,
        method: &str,
        params: &[(String, String)],
    ) -> Result<Value, UsosError> {
        self.request(method, params, false).await
    }

    async fn request(
        &self,
        method: &str,
        params: &[(String, String)],
        needs_token: bool,
    ) -> Result<Value, UsosError> {
        let method = method
            .trim_start_matches('/')
            .trim_start_matches("services/");
        if needs_token && self.token.is_none() {
            return Err(UsosError::TokenRequired {
                method: method.to_owned(),
            });
        }
        let url = format!("{}/services/{method}", self.base);
        let post = CHANGES.contains(&method);
        with_retries(&self.retry, &url, || self.send_once(&url, post, params)).await
    }

    async fn typed<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Vec<(String, String)>,
        needs_token: bool,
    ) -> Result<T, UsosError> {
        let value = self.request(method, &params, needs_token).await?;
        serde_json::from_value(value).map_err(|err| UsosError::BadResponse {
            what: method.to_owned(),
            cause: err.to_string(),
        })
    }

    async fn send_once(
        &self,
        url: &str,
        post: bool,
        params: &[(String, String)],
    ) -> Result<Value, Attempt<UsosError>> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let http_method = if post { "POST" } else { "GET" };
        let oauth = oauth1::sign(
            http_method,
            url,
            params,
            &self.consumer,
            self.token.as_deref(),
            &(self.nonces)(),
            timestamp,
        );
        let mut all = params.to_vec();
        all.extend(oauth);
        let encoded = oauth1::encode_pairs(&all);
        let request = if post {
            self.http
                .post(url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(encoded)
        } else {
            self.http.get(format!("{url}?{encoded}"))
        };
        let answer = http::send(request, url).await?;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            return Err(self.retry.after_too_many(
                &answer.headers,
                UsosError::Api {
                    status: 429,
                    code: "throttled".into(),
                    message: "too many requests".into(),
                },
            ));
        }
        if !answer.status.is_success() {
            return Err(usos_error(answer.status, &answer.body));
        }
        answer.json(|cause| UsosError::BadResponse {
            what: url.to_owned(),
            cause,
        })
    }

    // ---- services/cards ----

    /// `cards/card` (administrative).
    pub async fn card(
        &self,
        lookup: &CardLookup,
        fields: Option<&[&str]>,
    ) -> Result<UsosCard, UsosError> {
        let (name, value) = lookup.param();
        self.typed(
            "cards/card",
            with_fields(vec![pair(name, value)], fields),
            false,
        )
        .await
    }

    /// `cards/user`: the token holder's cards.
    pub async fn user(&self, fields: Option<&[&str]>) -> Result<Vec<UsosCard>, UsosError> {
        self.typed("cards/user", with_fields(Vec::new(), fields), true)
            .await
    }

    /// `cards/user_cards`: the token holder's card data, inactive cards too.
    pub async fn user_cards(
        &self,
        fields: Option<&[&str]>,
    ) -> Result<Vec<StudentCardData>, UsosError> {
        self.typed("cards/user_cards", with_fields(Vec::new(), fields), true)
            .await
    }

    /// `cards/student_card_data` (administrative).
    pub async fn student_card_data(
        &self,
        lookup: &CardLookup,
        fields: Option<&[&str]>,
    ) -> Result<StudentCardData, UsosError> {
        let (name, value) = lookup.param();
        self.typed(
            "cards/student_card_data",
            with_fields(vec![pair(name, value)], fields),
            false,
        )
        .await
    }

    /// `cards/mark_student_card_prolonged` (administrative); `date_prolonged` is YYYY-MM-DD.
    pub async fn mark_student_card_prolonged(
        &self,
        lookup: &CardLookup,
        date_prolonged: &str,
    ) -> Result<(), UsosError> {
        let (name, value) = lookup.param();
        self.request(
            "cards/mark_student_card_prolonged",
            &[pair(name, value), pair("date_prolonged", date_prolonged)],
            false,
        )
        .await
        .map(drop)
    }

    /// `cards/check_orders_status` (administrative).
    pub async fn check_orders_status(&self) -> Result<(), UsosError> {
        self.request("cards/check_orders_status", &[], false)
            .await
            .map(drop)
    }

    /// `cards/mcard`: the token holder's mLegitymacja and its orders.
    pub async fn mcard(&self, fields: Option<&[&str]>) -> Result<Mcard, UsosError> {
        self.typed("cards/mcard", with_fields(Vec::new(), fields), true)
            .await
    }

    /// `cards/mcard_order`.
    pub async fn mcard_order(
        &self,
        order_id: &str,
        fields: Option<&[&str]>,
    ) -> Result<McardOrder, UsosError> {
        self.typed(
            "cards/mcard_order",
            with_fields(vec![pair("order_id", order_id)], fields),
            true,
        )
        .await
    }

    /// `cards/make_mcard_order`.
    pub async fn make_mcard_order(&self) -> Result<Success, UsosError> {
        self.typed("cards/make_mcard_order", Vec::new(), true).await
    }

    /// `cards/revoke_mcard`.
    pub async fn revoke_mcard(&self, order_id: &str) -> Result<Success, UsosError> {
        self.typed("cards/revoke_mcard", vec![pair("order_id", order_id)], true)
            .await
    }

    // ---- services/events2 ----

    /// `events2/send_notification` (administrative).
    pub async fn send_notification(&self, notification: &Notification) -> Result<(), UsosError> {
        let mut params = vec![pair("user_id", &notification.user_id)];
        if let Some(pl) = &notification.message.pl {
            params.push(pair("message_pl", pl));
        }
        if let Some(en) = &notification.message.en {
            params.push(pair("message_en", en));
        }
        if let Some(event_type) = &notification.event_type_id {
            params.push(pair("event_type_id", event_type));
        }
        self.request("events2/send_notification", &params, false)
            .await
            .map(drop)
    }

    pub async fn event_type(
        &self,
        id: &str,
        fields: Option<&[&str]>,
    ) -> Result<EventType, UsosError> {
        self.typed(
            "events2/event_type",
            with_fields(vec![pair("id", id)], fields),
            false,
        )
        .await
    }

    pub async fn event_types_index(
        &self,
        fields: Option<&[&str]>,
    ) -> Result<Vec<EventType>, UsosError> {
        self.typed(
            "events2/event_types_index",
            with_fields(Vec::new(), fields),
            false,
        )
        .await
    }

    pub async fn notification_channels_index(
        &self,
        fields: Option<&[&str]>,
    ) -> Result<Vec<Channel>, UsosError> {
        self.typed(
            "events2/notification_channels_index",
            with_fields(Vec::new(), fields),
            false,
        )
        .await
    }

    pub async fn distribution_channel(
        &self,
        id: &str,
        fields: Option<&[&str]>,
    ) -> Result<Channel, UsosError> {
        self.typed(
            "events2/distribution_channel",
            with_fields(vec![pair("id", id)], fields),
            false,
        )
        .await
    }

    pub async fn event_channel(
        &self,
        event_type_id: &str,
        channel_id: &str,
        fields: Option<&[&str]>,
    ) -> Result<EventChannel, UsosError> {
        self.typed(
            "events2/event_channel",
            with_fields(
                vec![
                    pair("event_type_id", event_type_id),
                    pair("channel_id", channel_id),
                ],
                fields,
            ),
            false,
        )
        .await
    }

    // ---- services/phones ----

    /// `phones/select` (administrative): personal numbers of each user.
    pub async fn phones_select(
        &self,
        user_ids: &[&str],
        fields: Option<&[&str]>,
    ) -> Result<BTreeMap<String, Vec<Phone>>, UsosError> {
        self.typed(
            "phones/select",
            with_fields(vec![pair("user_ids", &user_ids.join("|"))], fields),
            false,
        )
        .await
    }

    /// `phones/replace` (administrative): all of a user's personal numbers at once; on a
    /// refusal none is changed.
    pub async fn phones_replace(&self, user_id: &str, phones: &[Phone]) -> Result<(), UsosError> {
        let data = serde_json::to_string(phones).map_err(|err| UsosError::BadResponse {
            what: "phones/replace".into(),
            cause: err.to_string(),
        })?;
        let answer: Success = self
            .typed(
                "phones/replace",
                vec![pair("user_id", user_id), pair("data", &data)],
                false,
            )
            .await?;
        if answer.success {
            Ok(())
        } else {
            Err(UsosError::Api {
                status: 200,
                code: "not_saved".into(),
                message: "phones/replace did not report success".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn secrets_never_print() {
        let client = UsosClient::new(
            "http://127.0.0.1:1/",
            Credential::new("station", Secret::new("consumer-s3cret")),
            RetryPolicy::default(),
        )
        .unwrap()
        .with_token(Credential::new("tok", Secret::new("token-s3cret")));
        let printed = format!("{client:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        let data: StudentCardData = serde_json::from_str(
            r#"{"card_key": "00112233445566778899AABBCCDDEEFF", "system_key": "AABB"}"#,
        )
        .unwrap();
        let printed = format!("{data:?}");
        assert!(
            !printed.contains("0011") && !printed.contains("AABB"),
            "{printed}"
        );
        assert!(data.card_key(KeyAlgorithm::Aes128).is_ok());
        assert!(data.card_key(KeyAlgorithm::ThreeKey3Des).is_err());
    }

    #[test]
    fn error_bodies_become_typed_errors() {
        let not_found = usos_error(
            StatusCode::BAD_REQUEST,
            br#"{"message": "Card not found", "error": "object_not_found"}"#,
        )
        .into_error();
        assert!(matches!(not_found, UsosError::NotFound { .. }));
        assert!(not_found.to_string().contains("object_not_found"));
        let invalid = usos_error(
            StatusCode::BAD_REQUEST,
            br#"{"message": "bad date", "error": "param_invalid", "param_name": "date_prolonged"}"#,
        )
        .into_error();
        assert!(invalid.to_string().contains("date_prolonged"), "{invalid}");
        assert!(matches!(
            usos_error(StatusCode::UNAUTHORIZED, br#"{"error": "nonce_used"}"#),
            Attempt::Retry(UsosError::Authentication { .. })
        ));
        assert!(matches!(
            usos_error(StatusCode::UNAUTHORIZED, b"\xff"),
            Attempt::Final(UsosError::Authentication { .. })
        ));
        assert!(matches!(
            usos_error(StatusCode::BAD_GATEWAY, b"{"),
            Attempt::Retry(UsosError::Api { status: 502, .. })
        ));
    }

    #[test]
    fn selected_fields_fill_only_their_members() {
        let card: UsosCard = serde_json::from_str(
            r#"{"id": "17", "type": "student", "user": {"id": "5", "first_name": "Anna"}}"#,
        )
        .unwrap();
        assert_eq!(card.card_type.as_deref(), Some("student"));
        assert_eq!(card.user.unwrap().first_name.as_deref(), Some("Anna"));
        assert!(card.barcode_number.is_none());
    }
}
