//! What the three HTTP clients do alike with one request: make the HTTP client, send the
//! request and read the answer to the end (a transport failure is the client's "cannot
//! reach", worth another try), tell a rate limit or server trouble from a final refusal, and
//! quote a body the server did not explain. Each client reads its own error bodies.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::retry::{Attempt, RetryPolicy};

/// The longest part of an unexplained body an error message quotes.
const EXCERPT_BYTES: usize = 200;

/// A client's error for a server it cannot reach (connect, timeout, a body cut short).
pub trait Unreachable {
    fn unreachable(url: &str, cause: String) -> Self;
}

/// An HTTP client with `policy`'s timeouts; one that cannot be made is unreachable at `url`.
pub fn client<E: Unreachable>(policy: &RetryPolicy, url: &str) -> Result<reqwest::Client, E> {
    reqwest::Client::builder()
        .timeout(policy.request_timeout)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|err| E::unreachable(url, err.to_string()))
}

/// One answer read to the end.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Sends `request` once and reads the answer to the end. A transport failure is unreachable
/// at `url` and worth another try; its cause leaves out the request's own URL, which may
/// carry a signature or a key.
pub async fn send<E: Unreachable>(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<Answer, Attempt<E>> {
    let unreachable =
        |err: reqwest::Error| Attempt::Retry(E::unreachable(url, err.without_url().to_string()));
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(unreachable)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

impl Answer {
    /// How to go on after this answer failed with `error`: after the wait a 429 asks for,
    /// after the backoff on server trouble, and not at all on any other refusal.
    pub fn failed<E>(&self, policy: &RetryPolicy, error: E) -> Attempt<E> {
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            policy.after_too_many(&self.headers, error)
        } else {
            by_status(self.status, error)
        }
    }

    /// The body as JSON, `Value::Null` when empty. A body that does not parse is a
    /// truncated answer and is retried like a 5xx.
    pub fn json<E>(&self, unreadable: impl FnOnce(String) -> E) -> Result<Value, Attempt<E>> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body)
            .map_err(|err| Attempt::Retry(unreadable(err.to_string())))
    }
}

/// Server trouble (5xx) is worth another try; any other refusal is final.
pub fn by_status<E>(status: StatusCode, error: E) -> Attempt<E> {
    if status.is_server_error() {
        Attempt::Retry(error)
    } else {
        Attempt::Final(error)
    }
}

/// Whether the server refused the credentials (401 or 403).
pub fn refuses_credentials(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

/// The start of a body the server did not explain, as text for an error message.
pub fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]).into_owned()
}
