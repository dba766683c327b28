//! What the live sync panel shows: the daemon's queue, the files uploading now with their
//! progress, the last links and the last errors. Filled from a status snapshot when the
//! daemon's event stream (re)connects, then kept current by its events.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use imgcloud_core::daemon_api::{Event, Status};

/// Links and errors kept (newest first).
const KEEP: usize = 20;

/// A file uploading now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub path: PathBuf,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncLink {
    pub path: PathBuf,
    pub link: String,
    pub existed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncError {
    pub path: PathBuf,
    pub message: String,
    pub permanent: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    /// The event stream is open.
    pub connected: bool,
    pub paused: bool,
    /// The daemon reaches the cloud (`None`: not known yet).
    pub online: Option<bool>,
    /// Why the cloud is unreachable.
    pub offline_reason: Option<String>,
    /// Files waiting (queued, hashing, uploading), from the last snapshot and the events since.
    pub pending: u64,
    /// Files found since the panel connected that are not done yet, oldest first.
    pub queue: VecDeque<PathBuf>,
    pub transfers: Vec<Transfer>,
    pub links: VecDeque<SyncLink>,
    pub errors: VecDeque<SyncError>,
    /// The folder being scanned.
    pub scanning: Option<PathBuf>,
    /// Why the event stream ended, while it is retried.
    pub lost: Option<String>,
}

impl SyncState {
    /// Starts over from a status snapshot (the stream just connected).
    pub fn connected(&mut self, status: &Status) {
        let links = std::mem::take(&mut self.links);
        *self = Self {
            connected: true,
            paused: status.paused,
            online: Some(status.online),
            pending: status.counts.pending(),
            transfers: status
                .in_flight
                .iter()
                .map(|f| Transfer {
                    path: f.path.clone(),
                    bytes_done: f.bytes_done,
                    bytes_total: f.bytes_total,
                })
                .collect(),
            errors: status
                .recent_errors
                .iter()
                .take(KEEP)
                .map(|e| SyncError {
                    message: without_path(&e.path, &e.message),
                    path: e.path.clone(),
                    permanent: e.permanent,
                })
                .collect(),
            // The daemon does not keep a history of links: those seen stay.
            links,
            ..Self::default()
        };
    }

    /// The stream ended (the daemon stopped): what is in progress is no longer known.
    pub fn disconnected(&mut self, reason: String) {
        self.connected = false;
        self.lost = Some(reason);
        self.transfers.clear();
        self.queue.clear();
        self.scanning = None;
    }

    pub fn apply(&mut self, event: Event) {
        match event {
            Event::Discovered { path, .. } => {
                if !self.queue.contains(&path) {
                    self.queue.push_back(path);
                    self.pending += 1;
                }
            }
            Event::Progress {
                path,
                bytes_done,
                bytes_total,
            } => match self.transfers.iter_mut().find(|t| t.path == path) {
                Some(transfer) => {
                    transfer.bytes_done = bytes_done;
                    transfer.bytes_total = bytes_total;
                }
                None => self.transfers.push(Transfer {
                    path,
                    bytes_done,
                    bytes_total,
                }),
            },
            Event::Uploaded {
                path,
                link,
                existed,
                ..
            } => {
                self.done(&path);
                self.errors.retain(|e| e.path != path);
                self.links.push_front(SyncLink {
                    path,
                    link,
                    existed,
                });
                self.links.truncate(KEEP);
            }
            Event::Failed {
                path,
                message,
                permanent,
                ..
            } => {
                if permanent {
                    self.done(&path);
                } else {
                    self.transfers.retain(|t| t.path != path);
                }
                self.errors.retain(|e| e.path != path);
                self.errors.push_front(SyncError {
                    message: without_path(&path, &message),
                    path,
                    permanent,
                });
                self.errors.truncate(KEEP);
            }
            Event::BackedUp { .. } => {}
            Event::Paused => self.paused = true,
            Event::Resumed => self.paused = false,
            Event::Online => {
                self.online = Some(true);
                self.offline_reason = None;
            }
            Event::Offline { reason } => {
                self.online = Some(false);
                self.offline_reason = Some(reason);
            }
            Event::ScanStarted { folder } => self.scanning = Some(folder),
            Event::ScanFinished { .. } => self.scanning = None,
            Event::Idle => {
                self.transfers.clear();
                self.queue.clear();
                self.pending = 0;
                self.scanning = None;
            }
        }
    }

    /// `path` left the queue.
    fn done(&mut self, path: &Path) {
        self.transfers.retain(|t| t.path != path);
        let before = self.queue.len();
        self.queue.retain(|p| p != path);
        if self.queue.len() < before || self.pending > self.queue.len() as u64 {
            self.pending = self.pending.saturating_sub(1);
        }
    }
}

/// The daemon's messages start with the file's path, which the panel shows already.
fn without_path(path: &Path, message: &str) -> String {
    let prefix = format!("{}: ", path.display());
    message.strip_prefix(&prefix).unwrap_or(message).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> PathBuf {
        PathBuf::from(format!("/photos/{name}"))
    }

    #[test]
    fn events_move_files_through_queue_progress_and_links() {
        let mut sync = SyncState::default();
        sync.apply(Event::Discovered {
            path: path("a.jpg"),
            size: 100,
        });
        sync.apply(Event::Discovered {
            path: path("b.jpg"),
            size: 50,
        });
        assert_eq!(sync.pending, 2);
        sync.apply(Event::Progress {
            path: path("a.jpg"),
            bytes_done: 40,
            bytes_total: 100,
        });
        sync.apply(Event::Progress {
            path: path("a.jpg"),
            bytes_done: 80,
            bytes_total: 100,
        });
        assert_eq!(sync.transfers.len(), 1);
        assert_eq!(sync.transfers[0].bytes_done, 80);
        sync.apply(Event::Uploaded {
            path: path("a.jpg"),
            image_id: "id1".into(),
            url: "https://cdn/a.jpg".into(),
            link: "![a](https://cdn/a.jpg)".into(),
            existed: false,
        });
        assert!(sync.transfers.is_empty());
        assert_eq!(sync.pending, 1);
        assert_eq!(sync.queue, [path("b.jpg")]);
        assert_eq!(sync.links[0].link, "![a](https://cdn/a.jpg)");
        sync.apply(Event::Failed {
            path: path("b.jpg"),
            code: "not_an_image".into(),
            message: "/photos/b.jpg: not an image".into(),
            permanent: true,
            next_attempt_at: None,
        });
        assert_eq!(sync.pending, 0);
        assert_eq!(sync.errors[0].message, "not an image");
        sync.apply(Event::Paused);
        assert!(sync.paused);
        sync.apply(Event::Offline {
            reason: "connection refused".into(),
        });
        assert_eq!(sync.online, Some(false));
        sync.apply(Event::Resumed);
        sync.apply(Event::Online);
        assert!(!sync.paused);
        assert_eq!(
            (sync.online, sync.offline_reason.clone()),
            (Some(true), None)
        );
    }

    #[test]
    fn a_transient_failure_keeps_the_file_queued_and_a_later_upload_clears_the_error() {
        let mut sync = SyncState::default();
        sync.apply(Event::Discovered {
            path: path("a.jpg"),
            size: 1,
        });
        sync.apply(Event::Failed {
            path: path("a.jpg"),
            code: "offline".into(),
            message: "cloud unreachable".into(),
            permanent: false,
            next_attempt_at: None,
        });
        assert_eq!(sync.pending, 1);
        sync.apply(Event::Uploaded {
            path: path("a.jpg"),
            image_id: "id".into(),
            url: "u".into(),
            link: "u".into(),
            existed: false,
        });
        assert!(sync.errors.is_empty());
        assert_eq!(sync.pending, 0);
    }

    #[test]
    fn idle_clears_the_work_and_disconnect_forgets_progress_but_keeps_links() {
        let mut sync = SyncState {
            connected: true,
            ..SyncState::default()
        };
        sync.apply(Event::Progress {
            path: path("a.jpg"),
            bytes_done: 1,
            bytes_total: 2,
        });
        sync.apply(Event::Uploaded {
            path: path("b.jpg"),
            image_id: "id".into(),
            url: "u".into(),
            link: "u".into(),
            existed: true,
        });
        sync.apply(Event::Progress {
            path: path("c.jpg"),
            bytes_done: 1,
            bytes_total: 2,
        });
        sync.disconnected("the daemon stopped".into());
        assert!(!sync.connected);
        assert!(sync.transfers.is_empty());
        assert_eq!(sync.links.len(), 1);
        sync.apply(Event::Progress {
            path: path("c.jpg"),
            bytes_done: 1,
            bytes_total: 2,
        });
        sync.apply(Event::Idle);
        assert!(sync.transfers.is_empty());
    }
}
