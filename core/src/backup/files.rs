//! File plumbing of the backup store: copying while hashing, unique temp files, durable
//! renames (fsync of the file and of its directory) and installing without overwriting.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rand::Rng;
use sha2::{Digest, Sha256};

/// Copies `from` into `to` (an open, empty file), returning the bytes copied and their hex
/// SHA-256.
pub(super) fn copy_hashing(from: &mut File, to: &mut File) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut total = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Bytes and hex SHA-256 of the file at `path`.
pub(super) fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut total = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// A new, empty file in `dir` named `{prefix}.{random}.tmp`, created exclusively.
pub(super) fn temp_file(dir: &Path, prefix: &str) -> io::Result<(PathBuf, File)> {
    loop {
        let suffix: u64 = rand::thread_rng().r#gen();
        let path = dir.join(format!("{prefix}.{suffix:016x}.tmp"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Makes a rename or a new entry in `dir` durable.
#[cfg(unix)]
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened for syncing here; NTFS journals renames itself.
#[cfg(not(unix))]
pub(super) fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// Creates `dir` (and its parents); when it did not exist, syncs its parent so the new entry
/// survives a crash.
pub(super) fn ensure_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// What is at a path, compared with the bytes we have.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Existing {
    Absent,
    Same,
    Different,
}

/// Whether `path` holds the bytes of `sha256` (`size` bytes long).
pub(super) fn compare(path: &Path, sha256: &str, size: u64) -> io::Result<Existing> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Existing::Absent),
        Err(e) => return Err(e),
    };
    if !meta.is_file() || meta.len() != size {
        return Ok(Existing::Different);
    }
    let (_, actual) = hash_file(path)?;
    Ok(if actual == sha256 {
        Existing::Same
    } else {
        Existing::Different
    })
}

/// Moves the (synced) temp file `temp` to `target` unless something is already there: a hard
/// link fails atomically when the target exists; where links are not supported, a rename
/// after checking. `Ok(false)`: the target exists (the temp file is removed).
pub(super) fn install_new(temp: &Path, target: &Path) -> io::Result<bool> {
    let installed = match fs::hard_link(temp, target) {
        Ok(()) => {
            fs::remove_file(temp)?;
            true
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_file(temp);
            false
        }
        Err(_) => {
            if fs::symlink_metadata(target).is_ok() {
                let _ = fs::remove_file(temp);
                false
            } else {
                fs::rename(temp, target)?;
                true
            }
        }
    };
    if installed && let Some(dir) = target.parent() {
        sync_dir(dir)?;
    }
    Ok(installed)
}
