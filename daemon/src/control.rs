//! What the local IPC server and the PicGo endpoint can ask of the running daemon.
//!
//! The engine implements [`Control`]; `ipc` and `picgo` only see this trait, so they are tested
//! with a fake.

use std::path::{Path, PathBuf};

use imgcloud_core::daemon_api::{Event, FileError, FileState, QueueEntry, Status, WatchedFolder};
use tokio::sync::broadcast;

/// A request the daemon refused, or could not carry out.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The caller's fault (names the field or path and what to do); HTTP 400.
    #[error("{0}")]
    BadRequest(String),
    /// The daemon's fault; HTTP 500.
    #[error("{0}")]
    Internal(String),
}

#[async_trait::async_trait]
pub trait Control: Send + Sync + 'static {
    fn status(&self) -> Status;
    fn queue(
        &self,
        state: Option<FileState>,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, ControlError>;
    /// Newest first.
    fn errors(&self, limit: usize) -> Result<Vec<FileError>, ControlError>;
    fn pause(&self);
    fn resume(&self);
    /// Starts a full rescan of every folder (returns at once).
    fn rescan(&self);
    /// Takes these files (folders are walked) as if they had just appeared; returns how many
    /// entered the queue.
    async fn enqueue(&self, paths: Vec<PathBuf>) -> Result<u64, ControlError>;
    fn subscribe(&self) -> broadcast::Receiver<Event>;
    fn folders(&self) -> Vec<WatchedFolder>;
    /// Watches a folder from now on and saves it in `daemon.toml`.
    async fn add_folder(&self, folder: WatchedFolder) -> Result<Vec<WatchedFolder>, ControlError>;
    async fn remove_folder(&self, path: &Path) -> Result<Vec<WatchedFolder>, ControlError>;
    /// Uploads these files now, whatever folder they are in (PicGo), and answers in input
    /// order: the link (configured format: plain URL) or the per-file error message.
    async fn upload_files(&self, paths: Vec<PathBuf>) -> Vec<Result<String, String>>;
}
