//! Retries shared by the remote clients: exponential backoff with full jitter for server and
//! network trouble, `Retry-After` on 429, and one loop that tells a retryable try from a final
//! one. Each client decides per answer which kind of failure it is (`super::http` has what
//! the three decide alike).

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Longest `Retry-After` honoured; a server asking for more is treated as down.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The retries and timeouts for the profile's `[server]`: its `request_timeout_ms` (at
    /// least 100 ms), the defaults otherwise.
    pub fn for_server(server: &crate::config::Server) -> Self {
        let default = Self::default();
        Self {
            request_timeout: server
                .request_timeout_ms
                .map_or(default.request_timeout, |ms| {
                    Duration::from_millis(ms.max(100).into())
                }),
            ..default
        }
    }

    /// Full jitter: a random wait up to the exponential bound, so clients do not retry in step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let bound = self
            .base_delay
            .saturating_mul(1 << attempt.min(16))
            .min(self.max_delay);
        bound.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    /// How to go on after a 429: wait as asked when the wait is reasonable, else give up.
    pub fn after_too_many<E>(&self, headers: &HeaderMap, error: E) -> Attempt<E> {
        let wait = retry_after(headers).unwrap_or(self.base_delay);
        if wait <= MAX_RETRY_AFTER {
            Attempt::RetryAfter(error, wait)
        } else {
            Attempt::Final(error)
        }
    }
}

/// The outcome of one failed try.
pub enum Attempt<E> {
    /// Server or network trouble: try again after the backoff.
    Retry(E),
    /// The server said when to come back.
    RetryAfter(E, Duration),
    /// Trying again cannot help.
    Final(E),
}

impl<E> Attempt<E> {
    pub fn into_error(self) -> E {
        match self {
            Attempt::Retry(error) | Attempt::RetryAfter(error, _) | Attempt::Final(error) => error,
        }
    }
}

/// Runs `once` until it succeeds, fails finally, or `policy.max_attempts` tries are spent.
/// `what` names the request in the debug log (never a secret).
pub async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    mut once: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match once().await {
            Ok(answer) => return Ok(answer),
            Err(Attempt::Final(error)) => return Err(error),
            Err(other) if attempt >= policy.max_attempts => return Err(other.into_error()),
            Err(Attempt::RetryAfter(_, wait)) => tokio::time::sleep(wait).await,
            Err(Attempt::Retry(error)) => {
                tracing::debug!(what, attempt, "retrying: {error}");
                tokio::time::sleep(policy.backoff(attempt)).await;
            }
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and falls back to backoff).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}
