//! The one error type every command returns, serialised to the frontend as
//! `{"code": "...", "message": "..."}` (see `ui/src/lib/types.ts`).

use serde::{Deserialize, Serialize};

/// Stable, machine-readable reason of a failed command; the UI picks its help text from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No server in the configuration file or `IMGCLOUD_SERVER`.
    NotConfigured,
    /// A server is configured but no token is stored for it.
    NotLoggedIn,
    /// The server could not be reached (connection refused, DNS, timeout).
    Unreachable,
    /// The server rejected the token.
    Unauthorized,
    /// The image (or another named thing) does not exist, or not for this user.
    NotFound,
    /// The request was refused as given (bad filename, tags, link format, login rate limit…).
    Invalid,
    /// The server answered with another error.
    Server,
    /// The sync daemon is not running (its socket does not answer).
    DaemonNotRunning,
    /// The sync daemon answered with an error, or could not be talked to.
    Daemon,
    /// The embedded local cloud could not be started.
    Embedded,
    /// The system clipboard cannot be used (no display, no clipboard owner).
    Clipboard,
    /// The configuration or credentials file cannot be read.
    Config,
    /// Anything else (a bug, an unexpected answer).
    Internal,
}

/// What a command answers when it fails. `message` is safe to show: it never carries tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_code_and_message() {
        let err = CommandError::new(ErrorCode::NotLoggedIn, "log in to http://h:1");
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "not_logged_in", "message": "log in to http://h:1"})
        );
        assert_eq!(err.to_string(), "log in to http://h:1");
    }
}
