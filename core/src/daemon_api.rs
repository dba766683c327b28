//! Wire types of the sync daemon's local IPC (HTTP/JSON over a Unix socket).
//!
//! The daemon (`imgcloudd`) serves these on [`socket_path`]; the CLI, the TUI and the desktop
//! app read them through `daemon_client` (client feature). Routes:
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/status` | [`Status`] |
//! | `GET /v1/queue?state=&limit=` | `Vec<`[`QueueEntry`]`>` (oldest first) |
//! | `GET /v1/errors?limit=` | `Vec<`[`FileError`]`>` (newest first) |
//! | `POST /v1/pause`, `POST /v1/resume` | [`Status`] |
//! | `POST /v1/rescan` | 202, a full rescan of every folder starts |
//! | `POST /v1/enqueue` | [`EnqueueRequest`] → [`EnqueueResponse`] |
//! | `GET /v1/events` | newline-delimited JSON, one [`Event`] per line, until the client leaves |
//! | `GET /v1/watch` | `Vec<`[`WatchedFolder`]`>` |
//! | `POST /v1/watch` | [`WatchedFolder`] → `Vec<`[`WatchedFolder`]`>` (saved to `daemon.toml`) |
//! | `POST /v1/watch/remove` | [`WatchRemoveRequest`] → `Vec<`[`WatchedFolder`]`>` |
//!
//! Errors use the same `{"error":{"code","message"}}` envelope as the cloud API
//! ([`crate::api::ErrorBody`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::paths::Dirs;

/// File name of the daemon's socket in the runtime directory.
pub const SOCKET_NAME: &str = "imgcloudd.sock";

/// Where the daemon of these directories listens.
pub fn socket_path(dirs: &Dirs) -> PathBuf {
    dirs.runtime.join(SOCKET_NAME)
}

/// Where a file stands in the daemon's persistent queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Seen and stable; not hashed yet.
    Discovered,
    /// Hashed and probed.
    Hashed,
    /// An upload session exists; parts may be recorded.
    Uploading,
    /// In the cloud (link known); the backup copy is not made yet.
    Uploaded,
    /// In the cloud and in the backup: done.
    BackedUp,
    /// Cannot be uploaded as it is (not an image, truncated, rejected); retried when it changes.
    Failed,
}

impl FileState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Discovered => "discovered",
            Self::Hashed => "hashed",
            Self::Uploading => "uploading",
            Self::Uploaded => "uploaded",
            Self::BackedUp => "backed_up",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "discovered" => Self::Discovered,
            "hashed" => Self::Hashed,
            "uploading" => Self::Uploading,
            "uploaded" => Self::Uploaded,
            "backed_up" => Self::BackedUp,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// Files per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueCounts {
    pub discovered: u64,
    pub hashed: u64,
    pub uploading: u64,
    pub uploaded: u64,
    pub backed_up: u64,
    pub failed: u64,
    /// Files (in any unfinished state) waiting for their next attempt after an error.
    pub retrying: u64,
}

impl QueueCounts {
    /// Files not done yet (neither backed up nor failed).
    pub fn pending(&self) -> u64 {
        self.discovered + self.hashed + self.uploading + self.uploaded
    }
}

/// A file being uploaded right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub path: PathBuf,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// The last error of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileError {
    pub path: PathBuf,
    /// Machine-readable reason (`not_an_image`, `truncated`, `unreadable`, `offline`, …).
    pub code: String,
    /// What went wrong and what to do, for people.
    pub message: String,
    pub attempts: u32,
    /// `true`: retried only when the file changes. `false`: retried at `next_attempt_at`.
    pub permanent: bool,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// One row of the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub path: PathBuf,
    pub state: FileState,
    pub size: u64,
    pub attempts: u32,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub image_id: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// A watched folder (also the `[[folders]]` entries of `daemon.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchedFolder {
    pub path: PathBuf,
    /// Watch sub-folders too (default true).
    #[serde(default = "yes")]
    pub recursive: bool,
    /// Album every image from this folder joins (created when missing); the images are also
    /// tagged with its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    /// Visibility of the images uploaded from this folder; absent: the account's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<crate::api::Visibility>,
    /// Only files matching one of these globs (relative to the folder), when not empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Never files matching one of these globs (gitignore syntax, like `.imgcloudignore`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

fn yes() -> bool {
    true
}

impl WatchedFolder {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            recursive: true,
            album: None,
            visibility: None,
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    /// The cloud's API URL.
    pub server: String,
    /// The daemon hosts the embedded cloud itself.
    pub embedded: bool,
    /// The cloud answered the last request (false while it is unreachable).
    pub online: bool,
    pub paused: bool,
    pub folders: Vec<WatchedFolder>,
    pub counts: QueueCounts,
    pub in_flight: Vec<InFlight>,
    /// Newest first, at most 20.
    pub recent_errors: Vec<FileError>,
    /// Set when live watching is off (e.g. the inotify watch limit): what happened and the fix.
    /// The daemon then relies on periodic scans.
    #[serde(default)]
    pub watch_warning: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_scan_at: Option<OffsetDateTime>,
    /// Where the backup copies are kept (None when backups are off).
    #[serde(default)]
    pub backup_dir: Option<PathBuf>,
}

/// `POST /v1/enqueue`: files or folders to take now, as if they had just appeared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnqueueRequest {
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnqueueResponse {
    /// Files put in the queue (unchanged, already synced files are not counted).
    pub queued: u64,
}

/// `POST /v1/watch/remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRemoveRequest {
    pub path: PathBuf,
}

/// What the daemon reports on `GET /v1/events` (one JSON object per line, tagged by `event`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A new or changed file entered the queue.
    Discovered {
        path: PathBuf,
        size: u64,
    },
    /// Bytes of the original sent so far.
    Progress {
        path: PathBuf,
        bytes_done: u64,
        bytes_total: u64,
    },
    /// The file is in the cloud. `link` is formatted in the configured format.
    Uploaded {
        path: PathBuf,
        image_id: String,
        url: String,
        link: String,
        /// The cloud already had these bytes.
        existed: bool,
    },
    /// The verified backup copy is on disk.
    BackedUp {
        path: PathBuf,
        sha256: String,
    },
    Failed {
        path: PathBuf,
        code: String,
        message: String,
        permanent: bool,
        #[serde(default, with = "time::serde::rfc3339::option")]
        next_attempt_at: Option<OffsetDateTime>,
    },
    Paused,
    Resumed,
    /// The cloud is reachable again; the queue drains.
    Online,
    /// The cloud cannot be reached; the queue waits.
    Offline {
        reason: String,
    },
    ScanStarted {
        folder: PathBuf,
    },
    ScanFinished {
        folder: PathBuf,
        files: u64,
        queued: u64,
    },
    /// Nothing left to do.
    Idle,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_snake_case() {
        let json = serde_json::to_string(&Event::Uploaded {
            path: "/p/a.png".into(),
            image_id: "abc".into(),
            url: "http://cdn/a.png".into(),
            link: "http://cdn/a.png".into(),
            existed: false,
        })
        .unwrap();
        assert!(json.starts_with(r#"{"event":"uploaded","#), "{json}");
        let back: Event = serde_json::from_str(&json).unwrap();
        assert!(matches!(back, Event::Uploaded { .. }));
        let idle: Event = serde_json::from_str(r#"{"event":"idle"}"#).unwrap();
        assert_eq!(idle, Event::Idle);
    }

    #[test]
    fn folder_defaults_to_recursive_and_rejects_typos() {
        let f: WatchedFolder = serde_json::from_str(r#"{"path":"/x"}"#).unwrap();
        assert!(f.recursive);
        assert!(
            serde_json::from_str::<WatchedFolder>(r#"{"path":"/x","recusive":false}"#).is_err()
        );
    }

    #[test]
    fn states_round_trip_through_strings() {
        for s in [
            FileState::Discovered,
            FileState::Hashed,
            FileState::Uploading,
            FileState::Uploaded,
            FileState::BackedUp,
            FileState::Failed,
        ] {
            assert_eq!(FileState::parse(s.as_str()), Some(s));
        }
    }
}
