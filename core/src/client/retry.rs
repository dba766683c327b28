//! [`RetryPolicy`] and the retry loop: which failures are transient (429, 5xx except 501,
//! timeouts, connection errors), how long to wait (full-jitter backoff or `Retry-After`).

use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::error::error_chain;
use super::{Client, ClientError};

/// Retry policy for transient failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Full-jitter backoff before retry number `retry` (1-based): uniform in
    /// `[0, min(max, initial × 2^(retry-1))]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self
            .initial_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::thread_rng().gen_range(0..=nanos))
    }
}

impl Client {
    /// Sends the request `build` makes, retrying transient failures; returns a successful reply
    /// or the error the last attempt produced. `what` names the target in logs (no secrets).
    pub(super) async fn execute(
        &self,
        what: &str,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ClientError>,
    ) -> Result<Reply, ClientError> {
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = match build()?.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => Ok(Reply {
                            status,
                            headers,
                            body,
                        }),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let wait = match outcome {
                Ok(reply) if reply.status.is_success() => {
                    tracing::debug!(target: "imgcloud::http", what, status = reply.status.as_u16(), attempt, "ok");
                    return Ok(reply);
                }
                Ok(reply) => {
                    let retryable = reply.status == StatusCode::TOO_MANY_REQUESTS
                        || (reply.status.is_server_error()
                            && reply.status != StatusCode::NOT_IMPLEMENTED);
                    tracing::debug!(target: "imgcloud::http", what, status = reply.status.as_u16(), attempt, retryable, "error status");
                    if !retryable || attempt >= max_attempts {
                        return Err(self.error_from_reply(what, reply));
                    }
                    retry_after(&reply.headers)
                        .map(|d| d.min(self.retry.max_retry_after))
                        .unwrap_or_else(|| self.retry.backoff(attempt))
                }
                Err(e) => {
                    let retryable =
                        e.is_timeout() || e.is_connect() || e.is_request() || e.is_body();
                    let detail = error_chain(&e);
                    tracing::debug!(target: "imgcloud::http", what, attempt, retryable, error = %detail, "request failed");
                    if !retryable || attempt >= max_attempts {
                        return Err(ClientError::Network {
                            server: self.target_name(what),
                            detail,
                        });
                    }
                    self.retry.backoff(attempt)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

/// `Retry-After` in seconds (HTTP dates are rare from our servers and are ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::test_stub::{fast_retry, response, stub};

    const ME: &str = r#"{"user_id":"u1","username":"ann"}"#;

    #[tokio::test]
    async fn retries_5xx_and_429_then_succeeds_with_one_idempotency_key() {
        let (url, seen) = stub(vec![
            response("503 Service Unavailable", "", "{}"),
            response("429 Too Many Requests", "Retry-After: 0\r\n", "{}"),
            response(
                "500 Internal Server Error",
                "",
                r#"{"error":{"code":"internal","message":"x"}}"#,
            ),
            response("200 OK", "", r#"{"existing":[]}"#),
        ])
        .await;
        let client = Client::new(&url, Some("tok".into()))
            .unwrap()
            .with_retry(fast_retry(10));
        let answer = client.check(&["ab".repeat(32)]).await.unwrap();
        assert!(answer.existing.is_empty());
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4);
        let keys: Vec<_> = seen
            .iter()
            .map(|s| s.header("idempotency-key").unwrap())
            .collect();
        assert!(
            keys.iter().all(|k| k == &keys[0] && k.len() == 24),
            "{keys:?}"
        );
        assert_eq!(
            seen[0].header("authorization").as_deref(),
            Some("Bearer tok")
        );
        assert!(String::from_utf8_lossy(&seen[3].body).contains(&"ab".repeat(32)));
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_with_the_server_message() {
        let (url, seen) = stub(vec![response(
            "502 Bad Gateway",
            "",
            r#"{"error":{"code":"upstream","message":"object store failed"}}"#,
        )])
        .await;
        let client = Client::new(&url, None).unwrap().with_retry(fast_retry(3));
        let err = client.me().await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Api { status: 502, code, message } if code == "upstream" && message == "object store failed"),
            "{err:?}"
        );
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn retries_dropped_connections() {
        // The first two connections are closed without an answer.
        let (url, seen) = stub(vec![
            String::new(),
            String::new(),
            response("200 OK", "", ME),
        ])
        .await;
        let client = Client::new(&url, None).unwrap().with_retry(fast_retry(5));
        assert_eq!(client.me().await.unwrap().username, "ann");
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn unreachable_server_is_a_network_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = Client::new(&format!("http://{addr}"), None)
            .unwrap()
            .with_retry(fast_retry(2));
        let err = client.me().await.unwrap_err();
        assert!(matches!(err, ClientError::Network { .. }), "{err:?}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[test]
    fn backoff_is_bounded_full_jitter() {
        let policy = RetryPolicy::default();
        for retry in 1..=12 {
            let cap = Duration::from_millis(10 * (1u64 << (retry - 1))).min(Duration::from_secs(2));
            for _ in 0..50 {
                assert!(policy.backoff(retry) <= cap);
            }
        }
        // Jitter: not always the cap.
        let samples: Vec<_> = (0..50).map(|_| policy.backoff(8)).collect();
        assert!(samples.iter().any(|d| *d < Duration::from_secs(1)));
    }
}
