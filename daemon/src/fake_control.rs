//! A [`Control`] for the tests of `ipc` and `picgo`: canned queue and errors, real paths for
//! uploads (a file uploads when it exists), and an event channel the test feeds.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use imgcloud_core::daemon_api::{
    Event, FileError, FileState, InFlight, QueueCounts, QueueEntry, Status, WatchedFolder,
};
use time::macros::datetime;
use tokio::sync::broadcast;

use crate::control::{Control, ControlError};

pub struct FakeControl {
    pub events: broadcast::Sender<Event>,
    pub paused: AtomicBool,
    pub rescans: AtomicU64,
    pub folders: Mutex<Vec<WatchedFolder>>,
    /// Every path `enqueue` was given.
    pub enqueued: Mutex<Vec<PathBuf>>,
    /// Every path `upload_files` was given.
    pub uploaded: Mutex<Vec<PathBuf>>,
    pub queue: Vec<QueueEntry>,
    pub errors: Vec<FileError>,
}

impl FakeControl {
    pub fn new() -> Self {
        let entry = |path: &str, state| QueueEntry {
            path: path.into(),
            state,
            size: 100,
            attempts: 0,
            last_error: None,
            next_attempt_at: None,
            image_id: None,
            url: None,
        };
        let error = |path: &str, code: &str| FileError {
            path: path.into(),
            code: code.into(),
            message: format!("{path}: {code}"),
            attempts: 1,
            permanent: true,
            next_attempt_at: None,
            at: datetime!(2026-01-31 14:05:09 UTC),
        };
        Self {
            events: broadcast::channel(16).0,
            paused: AtomicBool::new(false),
            rescans: AtomicU64::new(0),
            folders: Mutex::new(vec![WatchedFolder::new("/pics")]),
            enqueued: Mutex::new(Vec::new()),
            uploaded: Mutex::new(Vec::new()),
            queue: vec![
                entry("/pics/a.png", FileState::Discovered),
                entry("/pics/b.png", FileState::Uploading),
                entry("/pics/c.png", FileState::Discovered),
            ],
            errors: vec![
                error("/pics/new.txt", "not_an_image"),
                error("/pics/old.png", "truncated"),
            ],
        }
    }
}

#[async_trait::async_trait]
impl Control for FakeControl {
    fn status(&self) -> Status {
        Status {
            version: "0.0.0-test".into(),
            pid: std::process::id(),
            server: "http://cloud.test".into(),
            embedded: false,
            online: true,
            paused: self.paused.load(Ordering::SeqCst),
            folders: self.folders(),
            counts: QueueCounts {
                discovered: 2,
                uploading: 1,
                failed: 2,
                ..QueueCounts::default()
            },
            in_flight: vec![InFlight {
                path: "/pics/b.png".into(),
                bytes_done: 50,
                bytes_total: 100,
            }],
            recent_errors: self.errors.clone(),
            watch_warning: None,
            last_scan_at: None,
            backup_dir: None,
        }
    }

    fn queue(
        &self,
        state: Option<FileState>,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, ControlError> {
        Ok(self
            .queue
            .iter()
            .filter(|e| state.is_none_or(|s| e.state == s))
            .take(limit)
            .cloned()
            .collect())
    }

    fn errors(&self, limit: usize) -> Result<Vec<FileError>, ControlError> {
        Ok(self.errors.iter().take(limit).cloned().collect())
    }

    fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        let _ = self.events.send(Event::Paused);
    }

    fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
        let _ = self.events.send(Event::Resumed);
    }

    fn rescan(&self) {
        self.rescans.fetch_add(1, Ordering::SeqCst);
    }

    async fn enqueue(&self, paths: Vec<PathBuf>) -> Result<u64, ControlError> {
        if let Some(bad) = paths.iter().find(|p| !p.is_absolute()) {
            return Err(ControlError::BadRequest(format!(
                "paths: `{}` is not absolute",
                bad.display()
            )));
        }
        let n = paths.len() as u64;
        self.enqueued.lock().unwrap().extend(paths);
        Ok(n)
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    fn folders(&self) -> Vec<WatchedFolder> {
        self.folders.lock().unwrap().clone()
    }

    async fn add_folder(&self, folder: WatchedFolder) -> Result<Vec<WatchedFolder>, ControlError> {
        if !folder.path.is_absolute() {
            return Err(ControlError::BadRequest(format!(
                "path: `{}` must be absolute",
                folder.path.display()
            )));
        }
        let mut folders = self.folders.lock().unwrap();
        folders.retain(|f| f.path != folder.path);
        folders.push(folder);
        Ok(folders.clone())
    }

    async fn remove_folder(&self, path: &Path) -> Result<Vec<WatchedFolder>, ControlError> {
        let mut folders = self.folders.lock().unwrap();
        let before = folders.len();
        folders.retain(|f| f.path != path);
        if folders.len() == before {
            return Err(ControlError::BadRequest(format!(
                "`{}` is not a watched folder",
                path.display()
            )));
        }
        Ok(folders.clone())
    }

    async fn upload_files(&self, paths: Vec<PathBuf>) -> Vec<Result<String, String>> {
        self.uploaded.lock().unwrap().extend(paths.iter().cloned());
        paths
            .iter()
            .map(|path| match std::fs::metadata(path) {
                Ok(_) => Ok(format!(
                    "http://cdn.test/i/{}",
                    path.file_name().unwrap_or_default().to_string_lossy()
                )),
                Err(e) => Err(format!("cannot read it: {e}")),
            })
            .collect()
    }
}
