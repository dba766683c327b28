//! The local backup store: content-addressed, verified copies of synced images.
//!
//! Layout under the store's root:
//! - `objects/{sha[0..2]}/{sha}`: one file per distinct content, named by its SHA-256;
//! - `index.sqlite`: which names and source paths each hash had, and when (WAL);
//! - `tmp/`: copies in progress; `corrupt/`: objects `verify` found damaged, moved aside.
//!
//! [`BackupStore::put`] copies a file into `tmp/` while hashing it, refuses it when the bytes
//! are not the expected ones (the file changed since it was hashed), then fsyncs the copy,
//! renames it into place and fsyncs the directory before recording it, so an object that
//! exists is always complete and verified. An object already present is not copied again.
//!
//! [`BackupStore::verify`] re-hashes every object. A damaged one is moved to `corrupt/`, so
//! [`BackupStore::contains`] no longer reports it and the next `put` of those bytes copies
//! them again.
//!
//! [`BackupStore::restore`] writes the originals back without ever replacing a file that
//! holds other bytes: through a temp file in the target's folder, fsynced, then moved into
//! place with a hard link (which fails if the target appeared meanwhile) or, where links are
//! not supported, a rename after a check.

mod files;
mod index;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

use files::{Existing, compare, copy_hashing, ensure_dir, install_new, sync_dir, temp_file};
use index::Index;

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

/// The backup store at one root; see the module docs. Safe to share between threads.
pub struct BackupStore {
    root: PathBuf,
    index: Index,
}

/// Temp files older than this are left over from a crash and removed on open.
const STALE_TEMP: Duration = Duration::from_secs(3600);

impl BackupStore {
    /// Opens (creating) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, BackupError> {
        for dir in [root.to_path_buf(), root.join("objects"), root.join("tmp")] {
            ensure_dir(&dir).map_err(|source| io_err(&dir, source))?;
        }
        remove_stale_temps(&root.join("tmp"));
        let index = Index::open(&root.join("index.sqlite"))?;
        Ok(Self {
            root: root.to_path_buf(),
            index,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object of `sha256` lives.
    pub fn object_path(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("__");
        self.root.join("objects").join(prefix).join(sha256)
    }

    /// Whether a verified object of `sha256` is present.
    pub fn contains(&self, sha256: &str) -> bool {
        is_sha256(sha256) && self.object_path(sha256).is_file()
    }

    /// Copies `source` into the store, checking its bytes hash to `sha256`, and records its
    /// name and path. An object already present is not copied again (the entry is still
    /// recorded). Returns the object's path.
    pub fn put(&self, source: &Path, sha256: &str) -> Result<PathBuf, BackupError> {
        self.install(source, sha256, |object| {
            self.copy_in(source, sha256, object)
        })
    }

    /// Same as [`Self::put`] for a file whose bytes are already in memory and were hashed to
    /// `sha256` (the upload pipeline's): the copy is written from them, so it is exactly what
    /// was hashed and uploaded, without reading or hashing the file again.
    pub fn put_bytes(
        &self,
        source: &Path,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<PathBuf, BackupError> {
        self.install(source, sha256, |object| {
            self.write_in(bytes, sha256, object)
        })
    }

    /// The object of `sha256`, made with `make` unless it is there already, and recorded in
    /// the index as a copy of `source`.
    fn install(
        &self,
        source: &Path,
        sha256: &str,
        make: impl FnOnce(&Path) -> Result<u64, BackupError>,
    ) -> Result<PathBuf, BackupError> {
        if !is_sha256(sha256) {
            return Err(io_err(
                source,
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("`{sha256}` is not a lower-case hex SHA-256"),
                ),
            ));
        }
        let object = self.object_path(sha256);
        let size = match fs::metadata(&object) {
            Ok(meta) if meta.is_file() => meta.len(),
            _ => make(&object)?,
        };
        self.index.record(&BackupEntry {
            sha256: sha256.to_string(),
            name: file_name(source),
            source: source.to_path_buf(),
            size,
            added_at: OffsetDateTime::now_utc(),
        })?;
        Ok(object)
    }

    /// Writes `bytes` to `object` through a synced temp file; returns their size.
    fn write_in(&self, bytes: &[u8], sha256: &str, object: &Path) -> Result<u64, BackupError> {
        use std::io::Write as _;
        let tmp_dir = self.root.join("tmp");
        let (temp, mut to) = temp_file(&tmp_dir, sha256).map_err(|e| io_err(&tmp_dir, e))?;
        let written = to
            .write_all(bytes)
            .and_then(|()| to.sync_all())
            .map_err(|e| io_err(&temp, e));
        drop(to);
        let installed = written.and_then(|()| {
            object
                .parent()
                .map_or(Ok(()), ensure_dir)
                .and_then(|()| fs::rename(&temp, object))
                .and_then(|()| object.parent().map_or(Ok(()), sync_dir))
                .map_err(|e| io_err(object, e))
        });
        if installed.is_err() {
            let _ = fs::remove_file(&temp);
        }
        installed.map(|()| bytes.len() as u64)
    }

    /// Copies `source` to `object` through a verified, synced temp file; returns its size.
    fn copy_in(&self, source: &Path, sha256: &str, object: &Path) -> Result<u64, BackupError> {
        let tmp_dir = self.root.join("tmp");
        let mut from = fs::File::open(source).map_err(|e| io_err(source, e))?;
        let (temp, mut to) = temp_file(&tmp_dir, sha256).map_err(|e| io_err(&tmp_dir, e))?;
        let copied = copy_hashing(&mut from, &mut to)
            .and_then(|done| to.sync_all().map(|()| done))
            .map_err(|e| io_err(source, e));
        drop(to);
        let (size, actual) = match copied {
            Ok(done) => done,
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
        };
        if actual != sha256 {
            let _ = fs::remove_file(&temp);
            return Err(BackupError::Mismatch {
                path: source.to_path_buf(),
                expected: sha256.to_string(),
                actual,
            });
        }
        let installed = object
            .parent()
            .map_or(Ok(()), ensure_dir)
            .and_then(|()| fs::rename(&temp, object))
            .and_then(|()| object.parent().map_or(Ok(()), sync_dir))
            .map_err(|e| io_err(object, e));
        if installed.is_err() {
            let _ = fs::remove_file(&temp);
        }
        installed.map(|()| size)
    }

    /// Every recorded entry, oldest first.
    pub fn entries(&self) -> Result<Vec<BackupEntry>, BackupError> {
        self.index.entries()
    }

    /// Re-hashes every object; `progress(done, total)` counts objects. Damaged objects are
    /// moved to `corrupt/` (see the module docs).
    pub fn verify(&self, progress: &dyn Fn(u64, u64)) -> Result<VerifyReport, BackupError> {
        let mut by_hash: BTreeMap<String, Vec<BackupEntry>> = BTreeMap::new();
        for entry in self.entries()? {
            by_hash.entry(entry.sha256.clone()).or_default().push(entry);
        }
        let total = by_hash.len() as u64;
        let mut report = VerifyReport::default();
        progress(0, total);
        for (done, (sha256, entries)) in by_hash.into_iter().enumerate() {
            let object = self.object_path(&sha256);
            match files::hash_file(&object) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => report.missing.extend(entries),
                Ok((_, actual)) if actual == sha256 => {
                    report.checked += 1;
                    report.ok += 1;
                }
                result => {
                    report.checked += 1;
                    match result {
                        Ok((_, actual)) => {
                            tracing::warn!(object = %object.display(), %actual, "backup object is corrupt; moved aside")
                        }
                        Err(e) => {
                            tracing::warn!(object = %object.display(), error = %e, "backup object cannot be read; moved aside")
                        }
                    }
                    self.quarantine(&object, &sha256);
                    report.corrupt.extend(entries);
                }
            }
            progress(done as u64 + 1, total);
        }
        Ok(report)
    }

    /// Moves a damaged object to `corrupt/` (best effort).
    fn quarantine(&self, object: &Path, sha256: &str) {
        let dir = self.root.join("corrupt");
        let moved = ensure_dir(&dir).and_then(|()| fs::rename(object, dir.join(sha256)));
        if let Err(e) = moved {
            tracing::warn!(object = %object.display(), error = %e, "could not move a corrupt backup object aside");
        }
    }

    /// Writes the originals back with their names: under `to` (keeping the path relative to
    /// the source's watched folder is not known here, so `to/{name}`, de-duplicated with a
    /// ` (2)` suffix), or to their source paths when `to` is None. Never overwrites a file with
    /// different bytes.
    ///
    /// Under `to`, every recorded version is restored (each distinct name and content once);
    /// to the source paths, the newest version of each path. Targets that already hold the
    /// same bytes count as unchanged; anything else that stops a file (a different file in the
    /// way, a missing or damaged object) is reported in `failed` with the reason.
    /// `progress(done, total)` counts files.
    pub fn restore(
        &self,
        to: Option<&Path>,
        progress: &dyn Fn(u64, u64),
    ) -> Result<RestoreReport, BackupError> {
        let entries = self.entries()?;
        let plan: Vec<BackupEntry> = match to {
            Some(dir) => {
                ensure_dir(dir).map_err(|e| io_err(dir, e))?;
                let mut seen = HashSet::new();
                entries
                    .into_iter()
                    .filter(|e| seen.insert((e.sha256.clone(), restore_name(e))))
                    .collect()
            }
            None => {
                let mut newest: HashMap<PathBuf, usize> = HashMap::new();
                for (i, entry) in entries.iter().enumerate() {
                    newest.insert(entry.source.clone(), i);
                }
                entries
                    .into_iter()
                    .enumerate()
                    .filter(|(i, e)| newest.get(&e.source) == Some(i))
                    .map(|(_, e)| e)
                    .collect()
            }
        };
        let total = plan.len() as u64;
        let mut report = RestoreReport::default();
        progress(0, total);
        for (done, entry) in plan.iter().enumerate() {
            match to {
                Some(dir) => self.restore_into(entry, dir, &mut report),
                None => match self.restore_to(entry, &entry.source) {
                    Ok(Outcome::Restored) => report.restored.push(entry.source.clone()),
                    Ok(Outcome::Unchanged) => report.unchanged.push(entry.source.clone()),
                    Ok(Outcome::InTheWay) => report.failed.push((
                        entry.source.clone(),
                        "a different file is already there; it was not overwritten (restore into a folder to get this version)".to_string(),
                    )),
                    Err(reason) => report.failed.push((entry.source.clone(), reason)),
                },
            }
            progress(done as u64 + 1, total);
        }
        Ok(report)
    }

    /// Restores `entry` as `dir/{name}`, or `dir/{stem} (n).{ext}` when other bytes hold the
    /// name.
    fn restore_into(&self, entry: &BackupEntry, dir: &Path, report: &mut RestoreReport) {
        let name = restore_name(entry);
        for n in 1..=10_000u32 {
            let target = dir.join(numbered(&name, n));
            match self.restore_to(entry, &target) {
                Ok(Outcome::Restored) => return report.restored.push(target),
                Ok(Outcome::Unchanged) => return report.unchanged.push(target),
                Ok(Outcome::InTheWay) => continue,
                Err(reason) => return report.failed.push((target, reason)),
            }
        }
        report.failed.push((
            dir.join(&name),
            "10,000 files of that name already exist with other bytes".to_string(),
        ));
    }

    /// Writes the object of `entry` to `target` unless a file is there already.
    fn restore_to(&self, entry: &BackupEntry, target: &Path) -> Result<Outcome, String> {
        let object = self.object_path(&entry.sha256);
        if !self.contains(&entry.sha256) {
            return Err(format!(
                "the backup copy (SHA-256 {}) is missing; run a backup verify",
                entry.sha256
            ));
        }
        let size = fs::metadata(&object).map_err(|e| e.to_string())?.len();
        let check = |target: &Path| {
            compare(target, &entry.sha256, size)
                .map_err(|e| format!("cannot check the file already there: {e}"))
        };
        match check(target)? {
            Existing::Same => return Ok(Outcome::Unchanged),
            Existing::Different => return Ok(Outcome::InTheWay),
            Existing::Absent => {}
        }
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        ensure_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let (temp, mut to) = temp_file(&dir, &format!(".{}.imgcloud-restore", entry.sha256))
            .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
        let copied = fs::File::open(&object)
            .and_then(|mut from| copy_hashing(&mut from, &mut to))
            .and_then(|done| to.sync_all().map(|()| done));
        drop(to);
        let fail = |reason: String| {
            let _ = fs::remove_file(&temp);
            Err(reason)
        };
        match copied {
            Err(e) => return fail(format!("cannot copy from the backup: {e}")),
            Ok((_, actual)) if actual != entry.sha256 => {
                self.quarantine(&object, &entry.sha256);
                return fail(format!(
                    "the backup copy is damaged (SHA-256 {actual}, expected {}); it was moved aside",
                    entry.sha256
                ));
            }
            Ok(_) => {}
        }
        match install_new(&temp, target) {
            Ok(true) => Ok(Outcome::Restored),
            // Something appeared meanwhile: never replace it.
            Ok(false) => match check(target)? {
                Existing::Same => Ok(Outcome::Unchanged),
                _ => Ok(Outcome::InTheWay),
            },
            Err(e) => fail(format!("cannot write the file: {e}")),
        }
    }
}

/// What restoring one file to one target did.
enum Outcome {
    Restored,
    Unchanged,
    /// Other bytes are at the target.
    InTheWay,
}

fn io_err(path: &Path, source: io::Error) -> BackupError {
    BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(|| "image".to_string(), |n| n.to_string_lossy().into_owned())
}

/// The entry's name, safe to join to a folder: a plain file name, never a path.
fn restore_name(entry: &BackupEntry) -> String {
    let name = entry.name.as_str();
    let plain =
        !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
    if plain {
        name.to_string()
    } else {
        entry.sha256.clone()
    }
}

/// `photo.jpg` → `photo.jpg`, `photo (2).jpg`, `photo (3).jpg`…
fn numbered(name: &str, n: u32) -> String {
    if n == 1 {
        return name.to_string();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
        _ => format!("{name} ({n})"),
    }
}

/// Removes temp files a crash left behind (older than [`STALE_TEMP`]).
fn remove_stale_temps(dir: &Path) {
    let Ok(listing) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in listing.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| now.duration_since(at).unwrap_or_default() > STALE_TEMP);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests;
