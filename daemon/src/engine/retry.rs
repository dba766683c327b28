//! What a failed attempt means for the file: try again later (with exponential backoff and
//! jitter), give up until the file changes, or the cloud is unreachable (the daemon goes
//! offline and probes until it answers).

use std::time::Duration;

use imgcloud_core::client::ClientError;
use imgcloud_core::upload::UploadError;

/// First retry delay.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(5 * 60);
/// A file modified this recently that looks truncated or undecodable may still be written:
/// the error is transient.
pub const RECENT_WRITE: Duration = Duration::from_secs(5);

/// Delay before the next attempt after `attempts` failed ones (0 for the first failure):
/// 1 s doubling up to 5 min, scaled by `jitter` in `[0, 1]` to between 50 % and 100 % of that
/// ("equal jitter": retries of many files spread out, none waits much less than planned).
pub fn backoff(attempts: u32, jitter: f64) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1u32 << attempts.min(16))
        .min(BACKOFF_CAP);
    exp.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// [`backoff`] with a random jitter.
pub fn backoff_random(attempts: u32) -> Duration {
    backoff(attempts, rand::random::<f64>())
}

/// What a failed attempt means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The cloud (API or object store) cannot be reached; `target` is the URL that failed
    /// (without query). The file is retried once the cloud answers again.
    Offline { message: String, target: String },
    /// Try again after a backoff.
    Transient { code: String, message: String },
    /// Give up until the file changes.
    Permanent { code: String, message: String },
}

impl Failure {
    pub fn transient(code: &str, message: impl Into<String>) -> Self {
        Self::Transient {
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub fn permanent(code: &str, message: impl Into<String>) -> Self {
        Self::Permanent {
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::Offline { .. } => "offline",
            Self::Transient { code, .. } | Self::Permanent { code, .. } => code,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Offline { message, .. }
            | Self::Transient { message, .. }
            | Self::Permanent { message, .. } => message,
        }
    }
}

/// Classifies an upload error. `recently_modified`: the file's mtime is within
/// [`RECENT_WRITE`] (a writer may still be at it, so content errors are transient).
pub fn classify(error: &UploadError, recently_modified: bool) -> Failure {
    let message = error.to_string();
    match error {
        UploadError::Client {
            source: ClientError::Network { server, .. },
            ..
        } => Failure::Offline {
            message,
            target: server.clone(),
        },
        UploadError::Client {
            source: ClientError::Unauthorized { .. },
            ..
        } => Failure::transient("unauthorized", message),
        UploadError::Client {
            source: ClientError::Config(_),
            ..
        } => Failure::transient("config", message),
        UploadError::NotAnImage { .. }
        | UploadError::Truncated { .. }
        | UploadError::Corrupt { .. }
        | UploadError::Empty { .. }
            if recently_modified =>
        {
            Failure::transient(error.code(), message)
        }
        e if e.is_transient() => Failure::transient(e.code(), message),
        e => Failure::permanent(e.code(), message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_and_is_capped_at_five_minutes() {
        assert_eq!(backoff(0, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(1, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(5, 1.0), Duration::from_secs(32));
        assert_eq!(backoff(9, 1.0), BACKOFF_CAP);
        assert_eq!(backoff(u32::MAX, 1.0), BACKOFF_CAP);
        assert_eq!(backoff(0, 0.0), Duration::from_millis(500));
        for attempts in 0..20 {
            let d = backoff_random(attempts);
            assert!(
                d >= backoff(attempts, 0.0) && d <= backoff(attempts, 1.0),
                "{d:?}"
            );
        }
    }

    #[test]
    fn network_errors_go_offline_and_content_errors_depend_on_recent_writes() {
        let path = std::path::PathBuf::from("/p/a.jpg");
        let network = UploadError::Client {
            path: path.clone(),
            source: ClientError::Network {
                server: "http://127.0.0.1:9/bucket/i/x/a.jpg".into(),
                detail: "connection failed".into(),
            },
        };
        assert!(matches!(
            classify(&network, false),
            Failure::Offline { target, .. } if target.starts_with("http://127.0.0.1:9/")
        ));
        let truncated = UploadError::Truncated {
            path: path.clone(),
            detail: "JPEG: no end marker".into(),
        };
        assert!(matches!(
            classify(&truncated, true),
            Failure::Transient { .. }
        ));
        let failure = classify(&truncated, false);
        assert!(matches!(failure, Failure::Permanent { .. }));
        assert_eq!(failure.code(), "truncated");
        assert!(failure.message().contains("/p/a.jpg"));
        let server = UploadError::Client {
            path: path.clone(),
            source: ClientError::Api {
                status: 503,
                code: "unavailable".into(),
                message: "busy".into(),
            },
        };
        assert!(matches!(
            classify(&server, false),
            Failure::Transient { .. }
        ));
        let rejected = UploadError::Rejected {
            path,
            message: "too big".into(),
        };
        assert!(matches!(
            classify(&rejected, true),
            Failure::Permanent { .. }
        ));
    }
}
