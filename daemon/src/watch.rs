//! Live watching with `notify` (inotify on Linux), turned into the few events the engine needs.
//!
//! CONTRACT STUB — implemented by the watch/queue helper.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// What happened in a watched folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The writer closed the file, or it was moved in: take it now (if it is stable).
    Closed(PathBuf),
    /// Created or modified: take it once it has settled.
    Changed(PathBuf),
    /// A directory appeared (created or moved in): walk it, its early events may be lost.
    DirAppeared(PathBuf),
    /// Deleted or moved away.
    Removed(PathBuf),
    /// Events were lost (the kernel queue overflowed): rescan everything.
    Rescan,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Out of inotify watches or instances; the message gives the `sysctl` fix.
    #[error("{0}")]
    Limit(String),
    #[error("cannot watch {path}: {message}")]
    Other { path: PathBuf, message: String },
}

pub struct Watcher {
    _private: (),
}

impl Watcher {
    /// A watcher sending its events to `tx`.
    pub fn new(tx: mpsc::UnboundedSender<WatchEvent>) -> Result<Self, WatchError> {
        let _ = tx;
        unimplemented!()
    }

    /// Starts watching `dir` (recursively or not).
    pub fn watch(&mut self, dir: &Path, recursive: bool) -> Result<(), WatchError> {
        let _ = (dir, recursive);
        unimplemented!()
    }

    pub fn unwatch(&mut self, dir: &Path) {
        let _ = dir;
        unimplemented!()
    }
}

/// Tracks files that changed but were not closed yet; a file is ready when its size and mtime
/// stayed the same for the settle time.
pub struct Settler {
    _private: (),
}

impl Settler {
    pub fn new(settle: Duration) -> Self {
        let _ = settle;
        unimplemented!()
    }

    /// The file changed at `now`.
    pub fn touch(&mut self, path: PathBuf, now: Instant) {
        let _ = (path, now);
        unimplemented!()
    }

    /// Stops tracking (closed, taken, or removed).
    pub fn forget(&mut self, path: &Path) {
        let _ = path;
        unimplemented!()
    }

    /// Files whose size and mtime did not change for the settle time (stat'ed now); files
    /// still changing are kept with a new deadline, vanished files are dropped.
    pub fn ready(&mut self, now: Instant) -> Vec<PathBuf> {
        let _ = now;
        unimplemented!()
    }

    /// When `ready` should be called next.
    pub fn next_deadline(&self) -> Option<Instant> {
        unimplemented!()
    }
}
