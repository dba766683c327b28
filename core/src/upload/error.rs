//! [`UploadError`]: why one file was not uploaded, and how lower-level errors map onto it.

use std::io;
use std::path::{Path, PathBuf};

use crate::client::ClientError;
use crate::probe::ProbeError;

/// Why one file was not uploaded. Every message starts with the file's path.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{}: no such file or directory", path.display())]
    Missing { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("{}: empty file (0 bytes)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: not an image ({detail})", path.display())]
    NotAnImage { path: PathBuf, detail: String },
    #[error("{}: truncated image ({detail}); was it fully written or downloaded?", path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error("{}: corrupt image ({detail})", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{}: too large: {detail}", path.display())]
    TooLarge { path: PathBuf, detail: String },
    #[error("{}: the file changed while it was being read; try again once it is fully written", path.display())]
    Changed { path: PathBuf },
    #[error("{}: server rejected the upload: {message}", path.display())]
    Rejected { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Client { path: PathBuf, source: ClientError },
}

impl UploadError {
    pub fn path(&self) -> &Path {
        match self {
            Self::Missing { path }
            | Self::Unreadable { path, .. }
            | Self::Empty { path }
            | Self::NotAnImage { path, .. }
            | Self::Truncated { path, .. }
            | Self::Corrupt { path, .. }
            | Self::TooLarge { path, .. }
            | Self::Changed { path }
            | Self::Rejected { path, .. }
            | Self::Client { path, .. } => path,
        }
    }

    /// Stable machine-readable code (for `--json` output and the daemon's failure list).
    ///
    /// | code | meaning | [`is_transient`](Self::is_transient) |
    /// |---|---|---|
    /// | `missing` | the file is gone | no |
    /// | `unreadable` | it cannot be read (permissions, I/O error) | only for timeouts and busy files |
    /// | `empty`, `not_an_image`, `truncated`, `corrupt`, `too_large` | the bytes cannot be uploaded | no |
    /// | `changed` | it changed while being read or sent | yes |
    /// | `rejected` | the server or store refused it (4xx other than 408/429) | no |
    /// | `unauthorized` | the token was refused | no (sign in again) |
    /// | `network` | no answer: connection refused or reset, timeout | yes |
    /// | `rate_limited` | HTTP 429 | yes |
    /// | `server` | HTTP 5xx (or 408) | yes |
    /// | `bad_response` | an answer the client does not understand | yes |
    /// | `config` | the client is misconfigured (e.g. an invalid server URL) | no |
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "missing",
            Self::Unreadable { .. } => "unreadable",
            Self::Empty { .. } => "empty",
            Self::NotAnImage { .. } => "not_an_image",
            Self::Truncated { .. } => "truncated",
            Self::Corrupt { .. } => "corrupt",
            Self::TooLarge { .. } => "too_large",
            Self::Changed { .. } => "changed",
            Self::Rejected { .. } => "rejected",
            Self::Client { source, .. } => match source {
                ClientError::Unauthorized { .. } => "unauthorized",
                ClientError::Network { .. } => "network",
                ClientError::Api { status: 429, .. } => "rate_limited",
                ClientError::Api { status, .. } if is_transient_status(*status) => "server",
                ClientError::Api { .. } | ClientError::NotFound { .. } => "rejected",
                ClientError::Decode { .. } => "bad_response",
                ClientError::Body { source, .. } if body_changed(source) => "changed",
                ClientError::Body { .. } => "unreadable",
                ClientError::Config(_) => "config",
            },
        }
    }

    /// Whether trying the same file again later may succeed, so a caller (the sync daemon)
    /// should retry it with backoff rather than report it as failed for good.
    ///
    /// Transient: network trouble (connection errors, resets, timeouts), HTTP 5xx, 429 and
    /// 408, answers the client could not understand, a file that changed (or shrank) while it
    /// was being read or sent, and reads that timed out or found the file busy. Permanent:
    /// a missing, empty, truncated, corrupt, non-image or too large file, any other 4xx
    /// ([`UploadError::Rejected`]), a refused token and a misconfigured client.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Changed { .. } => true,
            Self::Unreadable { source, .. } => is_transient_io(source),
            Self::Client { source, .. } => match source {
                ClientError::Network { .. } | ClientError::Decode { .. } => true,
                ClientError::Api { status, .. } => is_transient_status(*status),
                ClientError::Body { source, .. } => body_changed(source) || is_transient_io(source),
                ClientError::Unauthorized { .. }
                | ClientError::NotFound { .. }
                | ClientError::Config(_) => false,
            },
            Self::Missing { .. }
            | Self::Empty { .. }
            | Self::NotAnImage { .. }
            | Self::Truncated { .. }
            | Self::Corrupt { .. }
            | Self::TooLarge { .. }
            | Self::Rejected { .. } => false,
        }
    }

    pub(super) fn from_client(path: &Path, e: ClientError) -> Self {
        match e {
            ClientError::Api {
                status, message, ..
            } if (400..500).contains(&status) && !is_transient_status(status) => Self::Rejected {
                path: path.to_path_buf(),
                message,
            },
            ClientError::NotFound { message } => Self::Rejected {
                path: path.to_path_buf(),
                message,
            },
            source => Self::Client {
                path: path.to_path_buf(),
                source,
            },
        }
    }

    pub(super) fn from_probe(path: &Path, e: ProbeError) -> Self {
        let path = path.to_path_buf();
        match e {
            ProbeError::Empty => Self::Empty { path },
            ProbeError::NotAnImage(detail) => Self::NotAnImage { path, detail },
            ProbeError::Truncated { format, detail } => Self::Truncated {
                path,
                detail: format!("{format}: {detail}"),
            },
            ProbeError::Corrupt { format, detail } => Self::Corrupt {
                path,
                detail: format!("{format}: {detail}"),
            },
            ProbeError::Io(source) => Self::from_io(&path, source),
        }
    }

    pub(super) fn from_io(path: &Path, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound {
            Self::Missing {
                path: path.to_path_buf(),
            }
        } else {
            Self::Unreadable {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// 429 (rate limited), 408 (request timeout) and 5xx answers are worth retrying later.
fn is_transient_status(status: u16) -> bool {
    status == 429 || status == 408 || status >= 500
}

/// A read that failed because of timing, not because of the file itself.
fn is_transient_io(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::ResourceBusy
            | io::ErrorKind::StaleNetworkFileHandle
    )
}

/// The file shrank (or vanished) while its bytes were being sent.
fn body_changed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::NotFound
    )
}

/// `ClientError` is not `Clone` (it holds `io::Error`); rebuild an equivalent one for each file.
pub(super) fn clone_client_error(e: &ClientError) -> ClientError {
    match e {
        ClientError::Unauthorized { server, message } => ClientError::Unauthorized {
            server: server.clone(),
            message: message.clone(),
        },
        ClientError::NotFound { message } => ClientError::NotFound {
            message: message.clone(),
        },
        ClientError::Api {
            status,
            code,
            message,
        } => ClientError::Api {
            status: *status,
            code: code.clone(),
            message: message.clone(),
        },
        ClientError::Network { server, detail } => ClientError::Network {
            server: server.clone(),
            detail: detail.clone(),
        },
        ClientError::Decode { server, detail } => ClientError::Decode {
            server: server.clone(),
            detail: detail.clone(),
        },
        ClientError::Body { path, source } => ClientError::Body {
            path: path.clone(),
            source: io::Error::new(source.kind(), source.to_string()),
        },
        ClientError::Config(message) => ClientError::Config(message.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(source: ClientError) -> UploadError {
        UploadError::Client {
            path: "a.jpg".into(),
            source,
        }
    }

    fn api(status: u16) -> ClientError {
        ClientError::Api {
            status,
            code: "x".into(),
            message: "m".into(),
        }
    }

    #[test]
    fn transient_and_permanent_failures_are_told_apart() {
        let path = PathBuf::from("a.jpg");
        let transient = [
            UploadError::Changed { path: path.clone() },
            client(ClientError::Network {
                server: "s".into(),
                detail: "timed out".into(),
            }),
            client(api(503)),
            client(api(500)),
            UploadError::from_client(&path, api(429)),
            UploadError::from_client(&path, api(408)),
            client(ClientError::Body {
                path: path.clone(),
                source: io::Error::new(io::ErrorKind::UnexpectedEof, "shrank"),
            }),
            UploadError::Unreadable {
                path: path.clone(),
                source: io::Error::new(io::ErrorKind::TimedOut, "nfs"),
            },
        ];
        for e in &transient {
            assert!(e.is_transient(), "{e} ({})", e.code());
        }
        let permanent = [
            UploadError::NotAnImage {
                path: path.clone(),
                detail: "text".into(),
            },
            UploadError::Empty { path: path.clone() },
            UploadError::Truncated {
                path: path.clone(),
                detail: "eof".into(),
            },
            UploadError::TooLarge {
                path: path.clone(),
                detail: "big".into(),
            },
            UploadError::Missing { path: path.clone() },
            UploadError::from_client(&path, api(400)),
            UploadError::from_client(&path, api(409)),
            UploadError::from_client(
                &path,
                ClientError::NotFound {
                    message: "gone".into(),
                },
            ),
            client(api(403)),
            client(ClientError::Unauthorized {
                server: "s".into(),
                message: "revoked".into(),
            }),
            client(ClientError::Config("bad url".into())),
            UploadError::Unreadable {
                path: path.clone(),
                source: io::Error::new(io::ErrorKind::PermissionDenied, "no"),
            },
        ];
        for e in &permanent {
            assert!(!e.is_transient(), "{e} ({})", e.code());
        }
        let codes: Vec<&str> = [
            UploadError::from_client(&path, api(429)),
            client(api(502)),
            UploadError::from_client(&path, api(400)),
            client(ClientError::Decode {
                server: "s".into(),
                detail: "html".into(),
            }),
        ]
        .iter()
        .map(UploadError::code)
        .collect();
        assert_eq!(
            codes,
            ["rate_limited", "server", "rejected", "bad_response"]
        );
    }
}
