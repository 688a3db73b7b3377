//! ID123 `list-cards` (API v2) client: cards of a template with limit/offset paging, and the
//! import of every page into the local store. The API key travels only in `X-API-KEY`.

use std::fmt;
use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{Value, json};
use thiserror::Error;

use super::http::{self, Unreachable, excerpt, refuses_credentials};
use super::retry::{Attempt, RetryPolicy, with_retries};
use crate::config::Secret;
use crate::error::Problem;

/// Cards per page the import asks for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

#[derive(Debug, Error)]
pub enum Id123Error {
    #[error("cannot reach ID123 at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("ID123 refused the API key: {message}")]
    Unauthorized { message: String },
    #[error("ID123 answered {code}: {message}")]
    Failure { code: String, message: String },
    #[error("ID123 sent an unreadable answer: {cause}")]
    BadResponse { cause: String },
}

impl Problem for Id123Error {
    fn next_step(&self) -> &'static str {
        match self {
            Id123Error::Unreachable { .. } => "check the network and [id123] url in the profile",
            Id123Error::Unauthorized { .. } => {
                "check the API key in the variable named by [id123] api_key_env"
            }
            Id123Error::Failure { .. } => "check the card template id",
            Id123Error::BadResponse { .. } => "try again later; if it persists, report it",
        }
    }
}

impl Unreachable for Id123Error {
    fn unreachable(url: &str, cause: String) -> Self {
        Id123Error::Unreachable {
            url: url.to_owned(),
            cause,
        }
    }
}

/// One `{key, value, label}` entry of a card's barcode, image or name fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Id123Field {
    pub key: String,
    pub value: Value,
    pub label: Option<String>,
}

impl Id123Field {
    /// The value as text: a string as it is, a number written out, nothing for the rest.
    pub fn text(&self) -> Option<String> {
        match &self.value {
            Value::String(text) if !text.is_empty() => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Id123Card {
    pub card_template_id: Option<String>,
    pub card_id: String,
    pub card_status: Option<String>,
    pub card_sub_status: Option<String>,
    pub institution: Option<String>,
    pub issuance_type: Option<String>,
    pub card_title: Option<String>,
    pub created_at: Option<String>,
    pub last_updated: Option<String>,
    pub card_expiration: Option<String>,
    pub barcode: Vec<Id123Field>,
    pub image: Vec<Id123Field>,
    pub name_fields: Vec<Id123Field>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Answer {
    status: String,
    code: Value,
    message: String,
    data: Vec<Value>,
}

#[derive(Clone)]
pub struct Id123Client {
    http: reqwest::Client,
    endpoint: String,
    key: Arc<Secret>,
    retry: RetryPolicy,
}

impl fmt::Debug for Id123Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Id123Client")
            .field("endpoint", &self.endpoint)
            .field("key", &self.key)
            .finish()
    }
}

impl Id123Client {
    /// `base_url` is the server root (`https://secure.id123.io`) or its `/api/v2/` endpoint.
    pub fn new(base_url: &str, key: Secret, retry: RetryPolicy) -> Result<Self, Id123Error> {
        let root = base_url.trim_end_matches('/').trim_end_matches("/api/v2");
        Ok(Self {
            http: http::client::<Id123Error>(&retry, base_url)?,
            endpoint: format!("{root}/api/v2/"),
            key: Arc::new(key),
            retry,
        })
    }

    /// One page: up to `limit` cards from `offset`, with the count of cards that did not
    /// fit the model.
    pub async fn list_cards(
        &self,
        template_id: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Id123Card>, usize), Id123Error> {
        let mut body = json!({"action": "list-cards", "limit": limit, "offset": offset});
        if let Some(template) = template_id {
            body["card-template-id"] = template.into();
        }
        let body = body.to_string();
        let values = with_retries(&self.retry, &self.endpoint, || self.send_once(&body)).await?;
        let count = values.len();
        let cards: Vec<Id123Card> = values
            .into_iter()
            .filter_map(|value| serde_json::from_value(value).ok())
            .filter(|card: &Id123Card| !card.card_id.is_empty())
            .collect();
        let unreadable = count - cards.len();
        if unreadable > 0 {
            tracing::warn!(
                offset,
                unreadable,
                "ID123 cards that do not fit the model were skipped"
            );
        }
        Ok((cards, unreadable))
    }

    async fn send_once(&self, body: &str) -> Result<Vec<Value>, Attempt<Id123Error>> {
        let request = self
            .http
            .post(&self.endpoint)
            .header("X-API-KEY", self.key.expose())
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        let response = http::send(request, &self.endpoint).await?;
        let status = response.status;
        let parsed: Option<Answer> = serde_json::from_slice(&response.body).ok();
        let message = parsed
            .as_ref()
            .map(|answer| answer.message.clone())
            .unwrap_or_else(|| excerpt(&response.body));
        if refuses_credentials(status) {
            return Err(Attempt::Final(Id123Error::Unauthorized { message }));
        }
        let failure = |code: String| Id123Error::Failure {
            code,
            message: message.clone(),
        };
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(response.failed(&self.retry, failure(status.as_u16().to_string())));
        }
        let Some(answer) = parsed else {
            return Err(Attempt::Retry(Id123Error::BadResponse {
                cause: "not the list-cards JSON".into(),
            }));
        };
        if !status.is_success() || answer.status != "success" {
            let code = match &answer.code {
                Value::String(code) => code.clone(),
                Value::Null => status.as_u16().to_string(),
                other => other.to_string(),
            };
            return Err(Attempt::Final(failure(code)));
        }
        Ok(answer.data)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A card as ID123's documentation shows one (the store's mapping test reads it too).
    pub(crate) const DOCUMENTED_CARD: &str = r#"{"card-template-id": "906c", "card-id": "c1", "card-status": "active",
                "card-sub-status": "claimed", "card-expiration": "2027-09-30",
                "barcode": [{"key": "barcode", "value": "1234567", "label": "Barcode Value"}],
                "image": [{"key": "id-photo", "value": "https://id123.test/p/c1.jpg", "label": "ID PHOTO"}],
                "name-fields": [{"key": "first-name", "value": "Anna", "label": "First"},
                                {"key": "last-name", "value": "Kowalska", "label": "Last"}],
                "front-fields": [{"key": "front-1", "label": "x", "type": "text", "value": "y"}]}"#;

    #[test]
    fn the_documented_card_is_read_and_the_key_never_shown() {
        let card: Id123Card = serde_json::from_str(DOCUMENTED_CARD).unwrap();
        assert_eq!(card.card_id, "c1");
        let client = Id123Client::new(
            "http://127.0.0.1:1/api/v2/",
            Secret::new("id123-s3cret"),
            RetryPolicy::default(),
        )
        .unwrap();
        assert!(!format!("{client:?}").contains("s3cret"));
        assert_eq!(client.endpoint, "http://127.0.0.1:1/api/v2/");
    }
}
