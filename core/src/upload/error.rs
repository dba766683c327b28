//! [`UploadError`]: why one file was not uploaded, and how lower-level errors map onto it.

use std::io;
use std::path::{Path, PathBuf};

use crate::client::ClientError;
use crate::probe::ProbeError;
use crate::thumbs::ThumbError;

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

    /// Stable machine-readable code (for `--json` output).
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
            Self::Client {
                source: ClientError::Unauthorized { .. },
                ..
            } => "unauthorized",
            Self::Client {
                source: ClientError::Network { .. },
                ..
            } => "network",
            Self::Client { .. } => "server",
        }
    }

    /// Whether trying again later may succeed (network trouble, server errors, a file that
    /// was still being written).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Changed { .. } => true,
            Self::Client { source, .. } => !matches!(
                source,
                ClientError::Unauthorized { .. } | ClientError::Config(_)
            ),
            _ => false,
        }
    }

    pub(super) fn from_client(path: &Path, e: ClientError) -> Self {
        match e {
            ClientError::Api {
                status, message, ..
            } if (400..500).contains(&status) && status != 429 => Self::Rejected {
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

pub(super) fn thumb_error(path: &Path, e: ThumbError) -> UploadError {
    let path = path.to_path_buf();
    match e {
        ThumbError::TooManyPixels { .. } => UploadError::TooLarge {
            path,
            detail: e.to_string(),
        },
        ThumbError::Decode { detail, .. }
            if detail.contains("EOF") || detail.contains("end of file") =>
        {
            UploadError::Truncated { path, detail }
        }
        ThumbError::Decode { format, detail } => UploadError::Corrupt {
            path,
            detail: format!("{format}: {detail}"),
        },
        ThumbError::Encode(detail) => UploadError::Corrupt { path, detail },
        ThumbError::Io(source) => UploadError::from_io(&path, source),
    }
}
