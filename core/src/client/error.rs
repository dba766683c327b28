//! [`ClientError`] and how error answers (API JSON or S3 XML) and transport failures become one.

use std::path::PathBuf;

use reqwest::StatusCode;

use super::Client;
use super::retry::Reply;
use crate::api::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "{server} did not accept the credentials ({message}): run `imgcloud login {server}` to \
         sign in again, or set IMGCLOUD_TOKEN"
    )]
    Unauthorized { server: String, message: String },
    #[error("not found: {message}")]
    NotFound { message: String },
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error(
        "cannot reach {server}: {detail}; check that the server is running and the URL is right"
    )]
    Network { server: String, detail: String },
    #[error(
        "unexpected answer from {server}: {detail}; are the client and server versions compatible?"
    )]
    Decode { server: String, detail: String },
    #[error("cannot read {}: {source}", path.display())]
    Body {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    /// HTTP status of an error answer, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { .. } => Some(401),
            Self::NotFound { .. } => Some(404),
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl Client {
    /// The server for API paths, the (query-less) URL for presigned targets.
    pub(super) fn target_name(&self, what: &str) -> String {
        if what.starts_with('/') {
            self.server.clone()
        } else {
            what.to_string()
        }
    }

    pub(super) fn error_from_reply(&self, what: &str, reply: Reply) -> ClientError {
        let status = reply.status.as_u16();
        let (code, message) = parse_error_body(&reply.body).unwrap_or_else(|| {
            let reason = reply
                .status
                .canonical_reason()
                .unwrap_or("error")
                .to_string();
            (
                reason.to_ascii_lowercase().replace(' ', "_"),
                format!("{reason} from {}", self.target_name(what)),
            )
        });
        match reply.status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized {
                server: self.server.clone(),
                message,
            },
            StatusCode::NOT_FOUND => ClientError::NotFound { message },
            _ => ClientError::Api {
                status,
                code,
                message,
            },
        }
    }
}

/// `{"error":{"code","message"}}` from the API, or `<Code>`/`<Message>` from an S3 store.
fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        return Some((parsed.error.code, parsed.error.message));
    }
    let text = std::str::from_utf8(body).ok()?;
    let tag = |name: &str| {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].trim().to_string())
    };
    let code = tag("Code")?;
    let message = tag("Message").unwrap_or_else(|| code.clone());
    Some((code, format!("object store: {message}")))
}

/// A reqwest error and its causes, without any URL (presigned URLs carry signatures).
pub(super) fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let top = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    parts.push(top);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.contains("://") && parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::test_stub::{fast_retry, response, stub};

    #[tokio::test]
    async fn client_errors_are_not_retried_and_are_typed() {
        let (url, seen) = stub(vec![response(
            "401 Unauthorized",
            "",
            r#"{"error":{"code":"unauthorized","message":"token revoked"}}"#,
        )])
        .await;
        let client = Client::new(&url, Some("secret-token-value".into()))
            .unwrap()
            .with_retry(fast_retry(5));
        let err = client.me().await.unwrap_err();
        assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
        assert!(err.to_string().contains("imgcloud login"), "{err}");
        assert_eq!(seen.lock().unwrap().len(), 1);

        let (url, _) = stub(vec![response(
            "404 Not Found",
            "",
            r#"{"error":{"code":"not_found","message":"no such image"}}"#,
        )])
        .await;
        let client = Client::new(&url, None).unwrap();
        assert!(matches!(
            client.image("x").await.unwrap_err(),
            ClientError::NotFound { .. }
        ));
    }
}
