//! The persistent queue: every file's progress in SQLite (WAL), written before and after each
//! step so a restart after a crash resumes where it stopped.
//!
//! CONTRACT STUB — implemented by the watch/queue helper.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use imgcloud_core::daemon_api::{FileError, FileState, QueueCounts, QueueEntry};
use time::OffsetDateTime;

/// What identifies an unchanged file without re-hashing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStat {
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i64,
    pub inode: u64,
}

impl FileStat {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        let _ = meta;
        unimplemented!()
    }
}

/// What [`Queue::observe_many`] made of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// Never seen: queued as `discovered`.
    New,
    /// Seen with another size/mtime/inode: queued again as `discovered`.
    Changed,
    /// Same as recorded: nothing to do.
    Unchanged,
}

/// A row of the queue, as the engine works on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub path: PathBuf,
    /// The watched folder it belongs to (None: enqueued by hand / PicGo).
    pub folder: Option<PathBuf>,
    pub stat: FileStat,
    pub state: FileState,
    pub sha256: Option<String>,
    pub attempts: u32,
    /// The upload checkpoint (JSON of `imgcloud_core::upload::Checkpoint`).
    pub checkpoint: Option<String>,
    pub image_id: Option<String>,
    pub url: Option<String>,
    pub last_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("daemon queue {path}: {message}")]
pub struct QueueError {
    pub path: PathBuf,
    pub message: String,
}

pub struct Queue {
    _private: (),
}

impl Queue {
    /// Opens (creating, migrating) the queue database.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        let _ = path;
        unimplemented!()
    }

    /// Records many files in one transaction; returns what each was, in order. New and
    /// changed files become `discovered`, due now, with attempts reset.
    pub fn observe_many(
        &self,
        files: &[(PathBuf, Option<PathBuf>, FileStat)],
    ) -> Result<Vec<Observed>, QueueError> {
        let _ = files;
        unimplemented!()
    }

    /// Every known path with its recorded stat (a restart's scan compares against this).
    pub fn known(&self) -> Result<HashMap<PathBuf, FileStat>, QueueError> {
        unimplemented!()
    }

    /// Unfinished entries (not `backed_up`, not `failed`) whose next attempt is due, oldest
    /// first, skipping `busy` ids.
    pub fn due(
        &self,
        now: OffsetDateTime,
        busy: &HashSet<i64>,
        limit: usize,
    ) -> Result<Vec<Entry>, QueueError> {
        let _ = (now, busy, limit);
        unimplemented!()
    }

    /// The earliest next attempt among unfinished entries.
    pub fn next_attempt_at(&self) -> Result<Option<OffsetDateTime>, QueueError> {
        unimplemented!()
    }

    pub fn get(&self, id: i64) -> Result<Option<Entry>, QueueError> {
        let _ = id;
        unimplemented!()
    }

    /// → `hashed`.
    pub fn set_hashed(&self, id: i64, sha256: &str) -> Result<(), QueueError> {
        let _ = (id, sha256);
        unimplemented!()
    }

    /// → `uploading`, with the checkpoint to resume from.
    pub fn set_checkpoint(&self, id: i64, checkpoint_json: &str) -> Result<(), QueueError> {
        let _ = (id, checkpoint_json);
        unimplemented!()
    }

    /// → `uploaded` (checkpoint cleared, error cleared).
    pub fn set_uploaded(&self, id: i64, image_id: &str, url: &str) -> Result<(), QueueError> {
        let _ = (id, image_id, url);
        unimplemented!()
    }

    /// → `backed_up` (done).
    pub fn set_backed_up(&self, id: i64) -> Result<(), QueueError> {
        let _ = id;
        unimplemented!()
    }

    /// A transient error: attempts + 1, state kept, due again at `next_attempt_at`.
    pub fn set_retry(
        &self,
        id: i64,
        code: &str,
        message: &str,
        next_attempt_at: OffsetDateTime,
    ) -> Result<(), QueueError> {
        let _ = (id, code, message, next_attempt_at);
        unimplemented!()
    }

    /// A permanent error: → `failed` until the file changes.
    pub fn set_failed(&self, id: i64, code: &str, message: &str) -> Result<(), QueueError> {
        let _ = (id, code, message);
        unimplemented!()
    }

    /// The file is gone locally: forget unfinished work on it (never deletes in the cloud).
    pub fn forget(&self, path: &Path) -> Result<(), QueueError> {
        let _ = path;
        unimplemented!()
    }

    /// Makes every retrying entry due now (the cloud came back, or a manual rescan).
    pub fn retry_now(&self) -> Result<(), QueueError> {
        unimplemented!()
    }

    pub fn counts(&self, now: OffsetDateTime) -> Result<QueueCounts, QueueError> {
        let _ = now;
        unimplemented!()
    }

    /// Rows for `GET /v1/queue` (all states when None), oldest first.
    pub fn list(
        &self,
        state: Option<FileState>,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, QueueError> {
        let _ = (state, limit);
        unimplemented!()
    }

    /// Entries with a last error (retrying or failed), newest first.
    pub fn errors(&self, limit: usize) -> Result<Vec<FileError>, QueueError> {
        let _ = limit;
        unimplemented!()
    }
}
