//! CardExchange Cloud v1 client: typed models, create / retrieve / update / delete / list,
//! pagination, problem errors as messages, and retries (backoff with jitter on 5xx,
//! timeouts and truncated bodies; `Retry-After` on 429). The API key never leaves this
//! module except in the `Authorization` header.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;
use zeroize::Zeroizing;

use super::http::{self, Unreachable, content_type, excerpt, refuses_credentials};
pub use super::retry::RetryPolicy;
use super::retry::{Attempt, with_retries};
use crate::error::Problem;

/// Largest page the API serves.
pub const MAX_PER_PAGE: u32 = 100;

/// A CardExchange secret key. Printed as its mode only.
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(Zeroizing::new(key.into()))
    }

    /// Live keys touch real card data: the UI shows it so nobody works on live by mistake.
    pub fn is_live(&self) -> bool {
        self.0.starts_with("sk_live_")
    }

    pub fn is_test(&self) -> bool {
        self.0.starts_with("sk_test_")
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match (self.is_live(), self.is_test()) {
            (true, _) => "live",
            (_, true) => "test",
            _ => "unknown",
        };
        write!(f, "ApiKey({mode}, ***)")
    }
}

/// How the key is sent: Basic with the key as user name (the default) or Bearer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthScheme {
    #[default]
    Basic,
    Bearer,
}

#[derive(Debug, Error)]
pub enum RemoteError {
    #[error("cannot reach the CardExchange server at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("the CardExchange server refused the API key: {detail}")]
    Unauthorized { detail: String },
    /// A problem+json answer (or any 4xx/5xx), as the server explained it.
    #[error("{title} ({status}): {detail}{}", field_errors(.errors))]
    Problem {
        status: u16,
        title: String,
        detail: String,
        errors: Map<String, Value>,
    },
    #[error("the CardExchange server sent an unreadable answer to {what}: {cause}")]
    BadResponse { what: String, cause: String },
    #[error("the CardExchange server at {url} sent too much: {cause}")]
    TooLarge { url: String, cause: String },
}

impl Unreachable for RemoteError {
    fn unreachable(url: &str, cause: String) -> Self {
        RemoteError::Unreachable {
            url: url.to_owned(),
            cause,
        }
    }

    fn too_large(url: &str, cause: String) -> Self {
        RemoteError::TooLarge {
            url: url.to_owned(),
            cause,
        }
    }
}

fn field_errors(errors: &Map<String, Value>) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let fields: Vec<String> = errors
        .iter()
        .map(|(field, message)| match message {
            Value::Array(messages) => format!(
                "{field}: {}",
                messages
                    .iter()
                    .map(|message| message.as_str().unwrap_or("invalid"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            other => format!("{field}: {other}"),
        })
        .collect();
    format!(" [{}]", fields.join(", "))
}

impl RemoteError {
    /// Whether the same request may succeed later (server or network trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            RemoteError::Unreachable { .. } | RemoteError::BadResponse { .. } => true,
            RemoteError::Problem { status, .. } => *status >= 500 || *status == 429,
            RemoteError::Unauthorized { .. } | RemoteError::TooLarge { .. } => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, RemoteError::Problem { status: 404, .. })
    }
}

impl Problem for RemoteError {
    fn next_step(&self) -> &'static str {
        match self {
            RemoteError::Unreachable { .. } => {
                "check the network and [server] url in the profile; local changes stay queued"
            }
            RemoteError::Unauthorized { .. } => {
                "check the API key in the variable named by [server] api_key_env"
            }
            RemoteError::Problem { status, .. } if *status >= 500 => {
                "the server is failing: try again later; local changes stay queued"
            }
            RemoteError::Problem { status: 429, .. } => {
                "the server is limiting requests: sync again in a few minutes (or with a lower --concurrency); local changes stay queued"
            }
            RemoteError::Problem { .. } => "correct the record named above, then sync again",
            RemoteError::BadResponse { .. } => "try again later; if it persists, report it",
            RemoteError::TooLarge { .. } => {
                "check that [server] url names the CardExchange API (not a download or a proxy's page); if it does, report it to the server's operator"
            }
        }
    }
}

/// A problem+json body; every field optional so a bare error still reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProblemBody {
    title: Option<String>,
    detail: Option<String>,
    errors: Option<Map<String, Value>>,
}

/// The error an answer with a failing `status` means. A body that is not a problem document
/// (a proxy's HTML page) is summarised in one line: its content type and the start of its
/// text, never the page.
fn problem(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> RemoteError {
    let parsed: ProblemBody = serde_json::from_slice(body).unwrap_or_default();
    let title = parsed
        .title
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let detail = parsed.detail.unwrap_or_else(|| {
        let kind = content_type(headers);
        match excerpt(body) {
            text if text.is_empty() => format!("{kind} answer, empty"),
            text => format!("{kind} answer: {text}"),
        }
    });
    if refuses_credentials(status) {
        return RemoteError::Unauthorized { detail };
    }
    RemoteError::Problem {
        status: status.as_u16(),
        title,
        detail,
        errors: parsed.errors.unwrap_or_default(),
    }
}

/// A person as the server returns it. Unknown fields are ignored, missing ones are `None`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Person {
    pub id: String,
    pub person_number: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
    pub phone_number: Option<String>,
    pub mobile_number: Option<String>,
    pub status: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    /// The person's photo, base64 (JPEG or PNG; checked before it is stored). Any JSON
    /// value: a photo of the wrong type is refused alone, not the whole person.
    pub photo: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Address {
    pub id: String,
    pub person: Option<String>,
    /// `home`, `business` or `po_box`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub street_address: Option<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub metadata: Option<Map<String, Value>>,
}

/// A set of anonymous cardholders and cards. The API gives the members only inside the set
/// (`data`, person-shaped objects with their `cardholders`); cardholder objects do not name
/// their set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AnonymousSet {
    pub id: String,
    /// An id on the reference server; an object on the vendor's, as for cardholders.
    pub profile: Option<Value>,
    pub default_name: Option<String>,
    pub data: Vec<AnonymousMember>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AnonymousMember {
    pub cardholders: Vec<ObjectRef>,
}

/// A nested object of which only the id is read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ObjectRef {
    pub id: String,
}

impl AnonymousSet {
    /// Remote ids of the set's cardholders.
    pub fn cardholder_ids(&self) -> impl Iterator<Item = &str> {
        self.data
            .iter()
            .flat_map(|member| &member.cardholders)
            .map(|holder| holder.id.as_str())
            .filter(|id| !id.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Cardholder {
    pub id: String,
    pub person: Option<String>,
    /// An object on the vendor's server, an id on the reference server.
    pub profile: Option<Value>,
    pub profile_number: Option<String>,
    pub email: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub status: Option<String>,
    pub name_on_card: Option<String>,
    pub note: Option<String>,
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Card {
    pub id: String,
    pub cardholder: Option<String>,
    pub card_number: Option<String>,
    pub chipserial_number: Option<String>,
    pub status: Option<String>,
    pub end_date: Option<String>,
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Production {
    pub id: String,
    pub person: Option<String>,
    pub cardholder: Option<String>,
    pub card: Option<String>,
    pub name_on_card: Option<String>,
    pub chipserial_number: Option<String>,
    pub user_name: Option<String>,
    pub exported: Option<bool>,
    pub printed_on: Option<String>,
    pub number_of_tries: Option<i64>,
}

/// The last page to fetch: the `Link` header's, but never past what `X-Total-Count`
/// allows when both are sent (a wrong `Link` must not send a pull after pages that cannot
/// exist); the total's page count when there is no `Link`.
fn last_page(
    link_last: Option<u32>,
    header_total: Option<u64>,
    count: usize,
    per_page: u32,
) -> u32 {
    let total = header_total.unwrap_or(count as u64);
    // A server may serve fewer per page than asked: a short page with more objects in
    // total shows the size it uses, and the pages are counted in that size.
    let served = if (count as u64) < u64::from(per_page) && total > count as u64 {
        count.max(1) as u64
    } else {
        u64::from(per_page.max(1))
    };
    let by_total = u32::try_from(total.div_ceil(served).max(1)).unwrap_or(u32::MAX);
    match (link_last, header_total) {
        (Some(link), Some(_)) => link.clamp(1, by_total),
        (Some(link), None) => link.max(1),
        (None, _) => by_total,
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The `id` of every object on the page, readable or not: what a complete pull
    /// compares the local rows with.
    pub ids: Vec<String>,
    /// Objects the server had that did not fit the model (logged, not stored).
    pub unreadable: usize,
    /// `X-Total-Count`.
    pub total: u64,
    /// The last page number, from `Link` `rel="last"` or the total.
    pub last_page: u32,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: ApiKey,
    auth: AuthScheme,
    retry: RetryPolicy,
    max_body: u64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &self.key)
            .finish()
    }
}

enum Method {
    Get,
    Post,
    Delete,
}

impl Client {
    pub fn new(base_url: &str, key: ApiKey, retry: RetryPolicy) -> Result<Self, RemoteError> {
        Ok(Self {
            http: http::client::<RemoteError>(&retry, base_url)?,
            // Profiles may name the server root or its API root.
            base: base_url
                .trim_end_matches('/')
                .trim_end_matches("/api/v1")
                .to_owned(),
            key,
            auth: AuthScheme::default(),
            retry,
            max_body: http::DEFAULT_MAX_BODY,
        })
    }

    /// Answers longer than `bytes` are refused ([`http::DEFAULT_MAX_BODY`] by default).
    pub fn with_max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    pub fn with_auth(mut self, auth: AuthScheme) -> Self {
        self.auth = auth;
        self
    }

    pub fn is_live(&self) -> bool {
        self.key.is_live()
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// How long a request may take before this client gives up on its answer.
    pub fn request_timeout(&self) -> std::time::Duration {
        self.retry.request_timeout
    }

    /// Sends one request with retries; returns headers and the body parsed as JSON
    /// (`Value::Null` for an empty body). A body that does not parse is a truncated
    /// answer and is retried like a 5xx.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(HeaderMap, Value), RemoteError> {
        let url = format!("{}/api/v1/{path}", self.base);
        with_retries(&self.retry, &url, || {
            self.send_once(&method, &url, query, body)
        })
        .await
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(HeaderMap, Value), Attempt<RemoteError>> {
        let mut request = match method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
            Method::Delete => self.http.delete(url),
        };
        request = match self.auth {
            AuthScheme::Basic => request.basic_auth(self.key.0.as_str(), None::<&str>),
            AuthScheme::Bearer => request.bearer_auth(self.key.0.as_str()),
        };
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        let answer = http::send_limited(request, url, self.max_body).await?;
        if !answer.status.is_success() {
            let problem = problem(answer.status, &answer.headers, &answer.body);
            return Err(answer.failed(&self.retry, problem));
        }
        let body = answer.json(|cause| RemoteError::BadResponse {
            what: url.to_owned(),
            cause,
        })?;
        Ok((answer.headers, body))
    }

    pub async fn create(&self, resource: &str, fields: &Value) -> Result<Value, RemoteError> {
        self.send(Method::Post, resource, &[], Some(fields))
            .await
            .map(|(_, body)| body)
    }

    pub async fn retrieve(&self, resource: &str, id: &str) -> Result<Value, RemoteError> {
        self.send(Method::Get, &format!("{resource}/{id}"), &[], None)
            .await
            .map(|(_, body)| body)
    }

    pub async fn update(
        &self,
        resource: &str,
        id: &str,
        fields: &Value,
    ) -> Result<Value, RemoteError> {
        self.send(Method::Post, &format!("{resource}/{id}"), &[], Some(fields))
            .await
            .map(|(_, body)| body)
    }

    pub async fn delete(&self, resource: &str, id: &str) -> Result<(), RemoteError> {
        self.send(Method::Delete, &format!("{resource}/{id}"), &[], None)
            .await
            .map(drop)
    }

    /// One page of `resource`, filtered by `filters` (`q`, `person`, ...).
    pub async fn list<T: DeserializeOwned>(
        &self,
        resource: &str,
        page: u32,
        per_page: u32,
        filters: &[(&str, String)],
    ) -> Result<Page<T>, RemoteError> {
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let mut query = vec![
            ("page", page.to_string()),
            ("per_page", per_page.to_string()),
        ];
        query.extend(filters.iter().cloned());
        let (headers, body) = self.send(Method::Get, resource, &query, None).await?;
        let Value::Array(values) = body else {
            return Err(RemoteError::BadResponse {
                what: format!("the {resource} list"),
                cause: "not a JSON array".into(),
            });
        };
        let count = values.len();
        let ids = values
            .iter()
            .filter_map(|value| value.get("id")?.as_str().map(str::to_owned))
            .collect();
        let items: Vec<T> = values
            .into_iter()
            .filter_map(|value| serde_json::from_value(value).ok())
            .collect();
        let unreadable = count - items.len();
        if unreadable > 0 {
            tracing::warn!(
                resource,
                page,
                unreadable,
                "objects that do not fit the model were skipped"
            );
        }
        let header_total: Option<u64> = headers
            .get("x-total-count")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok());
        let link_last = headers
            .get(reqwest::header::LINK)
            .and_then(|value| value.to_str().ok())
            .and_then(last_page_from_link);
        let total = header_total.unwrap_or(count as u64);
        let last_page = last_page(link_last, header_total, count, per_page);
        Ok(Page {
            items,
            ids,
            unreadable,
            total,
            last_page,
        })
    }

    /// The object of `resource` whose `metadata.operationId` is `operation_id`: how a create
    /// retried after a lost answer or a crash finds what the first attempt made. Reads every
    /// page the search answers: a server whose search is looser than the id (or ignores `q`)
    /// lists other objects first, and the one sought may be past the first page.
    pub async fn find_by_operation_id(
        &self,
        resource: &str,
        operation_id: &str,
    ) -> Result<Option<Value>, RemoteError> {
        let filter = [("q", operation_id.to_owned())];
        let mut page_number = 1;
        loop {
            let page: Page<Value> = self
                .list(resource, page_number, MAX_PER_PAGE, &filter)
                .await?;
            let listed = page.items.len();
            let found = page.items.into_iter().find(|object| {
                object
                    .get("metadata")
                    .and_then(|metadata| metadata.get("operationId"))
                    .and_then(Value::as_str)
                    == Some(operation_id)
            });
            // A full page may have more behind it even when the headers say not (a server
            // without them counts only what it sent).
            let last = page_number >= page.last_page && listed < MAX_PER_PAGE as usize;
            if found.is_some() || listed == 0 || last {
                return Ok(found);
            }
            page_number += 1;
        }
    }

    /// Creates an object carrying `metadata.operationId`. Every try after the first, and the
    /// first when `maybe_sent_before` (an earlier run tried), looks the operation id up
    /// first: a try that failed may have created the object (a cut answer, a timeout, a 503
    /// from a proxy after the API handled it; even a 429 is not trusted to mean "not
    /// handled"), so the object is never made twice.
    pub async fn create_once(
        &self,
        resource: &str,
        fields: &Value,
        operation_id: &str,
        maybe_sent_before: bool,
    ) -> Result<Value, RemoteError> {
        let maybe_sent = AtomicBool::new(maybe_sent_before);
        let url = format!("{}/api/v1/{resource}", self.base);
        with_retries(&self.retry, &url, || async {
            if maybe_sent.load(Ordering::Relaxed) {
                match self.find_by_operation_id(resource, operation_id).await {
                    Ok(Some(existing)) => return Ok(existing),
                    Ok(None) => {}
                    Err(err) => return Err(Attempt::Final(err)),
                }
            }
            maybe_sent.store(true, Ordering::Relaxed);
            self.send_once(&Method::Post, &url, &[], Some(fields))
                .await
                .map(|(_, body)| body)
        })
        .await
    }
}

/// The `page` of the `rel="last"` link.
fn last_page_from_link(link: &str) -> Option<u32> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.contains("rel=\"last\"") && !params.contains("rel=last") {
            return None;
        }
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        let query = target.split_once('?')?.1;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("page="))
            .and_then(|page| page.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_page_never_passes_the_total() {
        assert_eq!(last_page(Some(4_000_000_000), Some(250), 100, 100), 3);
        assert_eq!(last_page(Some(2), Some(250), 100, 100), 2);
        assert_eq!(last_page(None, Some(250), 100, 100), 3);
        assert_eq!(last_page(Some(7), None, 100, 100), 7);
        assert_eq!(last_page(None, None, 0, 100), 1);
        assert_eq!(last_page(None, Some(u64::MAX), 100, 1), u32::MAX);
        // Asked for 100, served 50: the Link's 5 pages stand.
        assert_eq!(last_page(Some(5), Some(250), 50, 100), 5);
    }

    #[test]
    fn a_rate_limit_is_not_blamed_on_the_record() {
        let problem = |status| RemoteError::Problem {
            status,
            title: "t".into(),
            detail: "d".into(),
            errors: Map::new(),
        };
        assert!(problem(429).next_step().contains("limiting requests"));
        assert!(problem(422).next_step().contains("correct the record"));
        assert!(problem(503).next_step().contains("try again later"));
    }

    #[test]
    fn the_key_is_never_printed_and_its_mode_is_known() {
        let live = ApiKey::new("sk_live_secret123");
        assert!(live.is_live());
        assert!(!ApiKey::new("sk_test_secret123").is_live());
        let client = Client::new("http://127.0.0.1:1", live, RetryPolicy::default()).unwrap();
        let printed = format!("{client:?}");
        assert!(!printed.contains("secret123"), "{printed}");
        assert!(printed.contains("live"), "{printed}");
    }

    #[test]
    fn the_base_url_may_name_the_api_root() {
        for url in [
            "http://127.0.0.1:9/api/v1/",
            "http://127.0.0.1:9/",
            "http://127.0.0.1:9",
        ] {
            let client =
                Client::new(url, ApiKey::new("sk_test_x"), RetryPolicy::default()).unwrap();
            assert_eq!(client.base_url(), "http://127.0.0.1:9");
        }
    }

    #[test]
    fn the_last_page_comes_from_the_link_header() {
        let link = "</api/v1/persons?page=1&per_page=100>; rel=\"first\", \
                    </api/v1/persons?page=42&per_page=100>; rel=\"last\"";
        assert_eq!(last_page_from_link(link), Some(42));
        assert_eq!(last_page_from_link("garbage"), None);
        assert_eq!(last_page_from_link("<x?page=zz>; rel=\"last\""), None);
    }

    #[test]
    fn problems_become_messages_naming_the_fields() {
        let body = br#"{"title":"Bad Request","status":400,"detail":"birthDate is required","errors":{"birthDate":["is required"]}}"#;
        let error = problem(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert_eq!(
            error.to_string(),
            "Bad Request (400): birthDate is required [birthDate: is required]"
        );
        assert!(!error.is_transient());
        for hostile in [&b"{"[..], b"[]", b"null", b"{\"errors\": 5}", b"\xff\xfe"] {
            let error = problem(StatusCode::BAD_GATEWAY, &HeaderMap::new(), hostile);
            assert!(error.is_transient(), "{error}");
        }
    }

    #[test]
    fn hostile_objects_never_panic_and_fit_or_are_skipped() {
        for hostile in [
            "{}",
            r#"{"id": 5}"#,
            r#"{"id": "x", "metadata": []}"#,
            r#"{"id": "x", "firstName": {"a": 1}, "unknownField": [1, 2]}"#,
            "[]",
            "\"text\"",
        ] {
            let value: Value = serde_json::from_str(hostile).unwrap();
            let _ = serde_json::from_value::<Person>(value.clone());
            let _ = serde_json::from_value::<Card>(value.clone());
            let _ = serde_json::from_value::<Address>(value.clone());
            let _ = serde_json::from_value::<AnonymousSet>(value);
        }
        let person: Person =
            serde_json::from_str(r#"{"id": "p1", "firstName": "Anna", "extra": true}"#).unwrap();
        assert_eq!(person.first_name.as_deref(), Some("Anna"));
        let set: AnonymousSet = serde_json::from_str(
            r#"{"id": "s", "defaultName": "Visitors",
                "data": [{"cardholders": [{"id": "h1"}, {}]}, {"cardholders": [{"id": "h2"}]}]}"#,
        )
        .unwrap();
        assert_eq!(set.cardholder_ids().collect::<Vec<_>>(), ["h1", "h2"]);
    }
}
