//! The local backup store: content-addressed, verified copies of synced images.
//!
//! CONTRACT STUB — implemented by the core helper. Layout: `{root}/objects/{sha[0..2]}/{sha}`
//! plus `{root}/index.sqlite` (which names and source paths each hash had). Writes go
//! temp file → fsync → rename → fsync dir, verified by SHA-256 while copying.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

/// One recorded copy: a hash and a name/source it was synced from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupEntry {
    pub sha256: String,
    /// File name at the time of the backup (used by restore).
    pub name: String,
    /// Where the original was.
    pub source: PathBuf,
    pub size: u64,
    pub added_at: OffsetDateTime,
}

/// What `verify` found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Objects re-hashed.
    pub checked: u64,
    pub ok: u64,
    /// Objects whose bytes no longer match their hash.
    pub corrupt: Vec<BackupEntry>,
    /// Recorded entries whose object is gone.
    pub missing: Vec<BackupEntry>,
}

/// What `restore` did.
#[derive(Debug, Clone, Default)]
pub struct RestoreReport {
    pub restored: Vec<PathBuf>,
    /// Targets that already held the same bytes.
    pub unchanged: Vec<PathBuf>,
    /// (target, reason)
    pub failed: Vec<(PathBuf, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} changed while it was copied into the backup (expected SHA-256 {expected}, read {actual}); it will be copied again"
    )]
    Mismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("backup index {path}: {message}")]
    Index { path: PathBuf, message: String },
}

pub struct BackupStore {
    root: PathBuf,
}

impl BackupStore {
    /// Opens (creating) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, BackupError> {
        let _ = root;
        unimplemented!("BackupStore::open")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object of `sha256` lives.
    pub fn object_path(&self, sha256: &str) -> PathBuf {
        let _ = sha256;
        unimplemented!("BackupStore::object_path")
    }

    /// Whether a verified object of `sha256` is present.
    pub fn contains(&self, sha256: &str) -> bool {
        let _ = sha256;
        unimplemented!("BackupStore::contains")
    }

    /// Copies `source` into the store, checking its bytes hash to `sha256`, and records its
    /// name and path. An object already present is not copied again (the entry is still
    /// recorded). Returns the object's path.
    pub fn put(&self, source: &Path, sha256: &str) -> Result<PathBuf, BackupError> {
        let _ = (source, sha256);
        unimplemented!("BackupStore::put")
    }

    /// Every recorded entry, oldest first.
    pub fn entries(&self) -> Result<Vec<BackupEntry>, BackupError> {
        unimplemented!("BackupStore::entries")
    }

    /// Re-hashes every object; `progress(done, total)`.
    pub fn verify(&self, progress: &dyn Fn(u64, u64)) -> Result<VerifyReport, BackupError> {
        let _ = progress;
        unimplemented!("BackupStore::verify")
    }

    /// Writes the originals back with their names: under `to` (keeping the path relative to
    /// the source's watched folder is not known here, so `to/{name}`, de-duplicated with a
    /// ` (2)` suffix), or to their source paths when `to` is None. Never overwrites a file with
    /// different bytes.
    pub fn restore(
        &self,
        to: Option<&Path>,
        progress: &dyn Fn(u64, u64),
    ) -> Result<RestoreReport, BackupError> {
        let _ = (to, progress);
        unimplemented!("BackupStore::restore")
    }
}
