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

/// The longest part of an unexplained body an error message quotes (in characters, after
/// markup is dropped): one line of a log, never a whole error page.
const EXCERPT_CHARS: usize = 100;

/// The largest answer read by default: a full page of 100 objects is well under 1 MiB, so
/// this only stops a broken or hostile server from filling the station's memory.
pub const DEFAULT_MAX_BODY: u64 = 64 << 20;

/// A client's error for a server it cannot reach (connect, timeout, a body cut short).
pub trait Unreachable {
    fn unreachable(url: &str, cause: String) -> Self;

    /// An answer larger than the client reads (never retried: it would come back as large).
    fn too_large(url: &str, cause: String) -> Self
    where
        Self: Sized,
    {
        Self::unreachable(url, cause)
    }
}

/// An HTTP client with `policy`'s timeouts; one that cannot be made, or a `url` that is not
/// https (plain http only to this machine, as the profile check says), is unreachable at `url`.
pub fn client<E: Unreachable>(policy: &RetryPolicy, url: &str) -> Result<reqwest::Client, E> {
    if let Some(problem) = crate::config::server_url_problem(url) {
        return Err(E::unreachable(url, format!("the URL {problem}")));
    }
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

/// Sends `request` once and reads the answer to the end, up to [`DEFAULT_MAX_BODY`].
pub async fn send<E: Unreachable>(
    request: reqwest::RequestBuilder,
    url: &str,
) -> Result<Answer, Attempt<E>> {
    send_limited(request, url, DEFAULT_MAX_BODY).await
}

/// Sends `request` once and reads the answer to the end. A transport failure is unreachable
/// at `url` and worth another try; its cause leaves out the request's own URL, which may
/// carry a signature or a key. A body over `max_body` bytes is refused as soon as it shows:
/// by its `Content-Length` before any of it is read, else when the bytes read pass the limit
/// (so memory never holds more than `max_body` plus one chunk).
pub async fn send_limited<E: Unreachable>(
    request: reqwest::RequestBuilder,
    url: &str,
    max_body: u64,
) -> Result<Answer, Attempt<E>> {
    let unreachable =
        |err: reqwest::Error| Attempt::Retry(E::unreachable(url, err.without_url().to_string()));
    let too_large = |size: String| {
        Attempt::Final(E::too_large(
            url,
            format!(
                "the answer is {size}, more than the {} MiB this station reads",
                max_body >> 20
            ),
        ))
    };
    let mut response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    let headers = response.headers().clone();
    if let Some(length) = response
        .content_length()
        .filter(|length| *length > max_body)
    {
        return Err(too_large(format!("{} MiB", length >> 20)));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if (body.len() + chunk.len()) as u64 > max_body {
            return Err(too_large("longer".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        status,
        headers,
        body: body.freeze(),
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

/// The start of a body the server did not explain, as one line for an error message: an
/// HTML error page's tags, styles and scripts dropped, white space run together, at most
/// [`EXCERPT_CHARS`].
pub fn excerpt(body: &[u8]) -> String {
    // Enough of the page to find 100 characters of text after its <head>.
    let text = String::from_utf8_lossy(&body[..body.len().min(16 << 10)]);
    let mut plain = String::new();
    let mut rest = text.as_ref();
    while let Some(open) = rest.find('<') {
        plain.push_str(&rest[..open]);
        plain.push(' ');
        let tag = &rest[open..];
        let name: String = tag[1..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        // A style or script says nothing to a reader: skip to its closing tag.
        let end = match name.as_str() {
            "style" | "script" => tag
                .to_ascii_lowercase()
                .find(&format!("</{name}"))
                .and_then(|close| tag[close..].find('>').map(|end| close + end)),
            _ => tag.find('>'),
        };
        match end {
            Some(end) => rest = &tag[end + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    plain.push_str(rest);
    let line = plain
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match line.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    }
}

/// An answer's `Content-Type` without parameters, "no content type" when it has none.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map_or_else(
            || "no content type".to_owned(),
            |value| value.trim().to_owned(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_page_becomes_one_short_line() {
        let page = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title>\n<style>body{}</style></head>\n<body><h1>502   Bad\tGateway</h1><hr><center>nginx</center></body></html>";
        assert_eq!(excerpt(page), "502 Bad Gateway 502 Bad Gateway nginx");
        let long = "x".repeat(5000);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT_CHARS + 3);
        assert_eq!(excerpt(b"\xff\xfe line\none"), "\u{fffd}\u{fffd} line one");
        assert_eq!(
            excerpt("ą".repeat(300).as_bytes()).chars().count(),
            EXCERPT_CHARS + 3
        );
    }
}
