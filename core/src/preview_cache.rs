//! The on-disk cache of what previews need: thumbnails fetched from the CDN and the
//! [`PhotoInfo`] (camera, date taken) read from the first bytes of originals.
//!
//! Entries live as plain files in one directory (by default `previews/` under
//! [`Dirs::cache`](crate::paths::Dirs::cache)), named after a hash of the URL they came from —
//! CDN keys never change content, so a URL is a stable name. Writes go to a temp file and are
//! renamed into place, so a crash or two clients sharing the cache never leave half a file
//! under a real name. A file that is there but unusable (cut short, not an image, bad JSON) is
//! fetched again. The directory is bounded: when a write takes it past its limit, the entries
//! used least recently (reading one refreshes its modification time) are deleted until it is
//! back under 90 % of the limit.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::photo_info::{self, PhotoInfo, PhotoInfoError};

/// Default size limit of the cache directory.
pub const DEFAULT_MAX_BYTES: u64 = 200 * 1024 * 1024;
/// Largest thumbnail accepted from the CDN.
const MAX_THUMBNAIL_BYTES: usize = 16 * 1024 * 1024;

/// Why a thumbnail or photo info is not available.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("the CDN answered {status}")]
    Status { status: u16 },
    #[error("cannot reach the CDN: {0}")]
    Network(String),
    #[error("the CDN sent a thumbnail that is not a complete image ({0})")]
    NotAnImage(String),
    #[error("the thumbnail is larger than {} MiB", MAX_THUMBNAIL_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("cannot set up HTTP: {0}")]
    Http(String),
}

impl From<PhotoInfoError> for PreviewError {
    fn from(e: PhotoInfoError) -> Self {
        match e {
            PhotoInfoError::Status { status } => Self::Status { status },
            PhotoInfoError::Network(reason) => Self::Network(reason),
        }
    }
}

/// Thumbnails and photo info, fetched once and kept on disk.
pub struct PreviewCache {
    disk: DiskCache,
    http: reqwest::Client,
}

impl PreviewCache {
    /// A cache in `dir` (created when first written) holding at most `max_bytes`.
    pub fn new(dir: PathBuf, max_bytes: u64) -> Result<Self, PreviewError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("imgcloud/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| PreviewError::Http(photo_info::network_reason(&e)))?;
        Ok(Self {
            disk: DiskCache::new(dir, max_bytes),
            http,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.disk.dir
    }

    /// The thumbnail at `url` (a public CDN link): from the disk, else fetched and kept.
    pub async fn thumbnail(&self, url: &str) -> Result<Vec<u8>, PreviewError> {
        let name = entry_name(url, "thumb");
        if let Some(bytes) = self
            .disk
            .get(&name, |b| crate::probe::probe_bytes(b).is_ok())
        {
            return Ok(bytes);
        }
        let bytes = self.download(url).await?;
        crate::probe::probe_bytes(&bytes).map_err(|e| PreviewError::NotAnImage(e.to_string()))?;
        self.disk.put(&name, &bytes);
        Ok(bytes)
    }

    /// Camera and date of the original at `url`: from the disk, else read from its first
    /// bytes (an HTTP range request) and kept.
    pub async fn photo_info(&self, url: &str) -> Result<PhotoInfo, PreviewError> {
        let name = entry_name(url, "info");
        if let Some(bytes) = self
            .disk
            .get(&name, |b| serde_json::from_slice::<PhotoInfo>(b).is_ok())
            && let Ok(info) = serde_json::from_slice(&bytes)
        {
            return Ok(info);
        }
        let info = photo_info::fetch(&self.http, url).await?;
        if let Ok(json) = serde_json::to_vec(&info) {
            self.disk.put(&name, &json);
        }
        Ok(info)
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>, PreviewError> {
        let network = |e: reqwest::Error| PreviewError::Network(photo_info::network_reason(&e));
        let mut response = self
            .http
            .get(url)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(network)?;
        if !response.status().is_success() {
            return Err(PreviewError::Status {
                status: response.status().as_u16(),
            });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(network)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > MAX_THUMBNAIL_BYTES {
                return Err(PreviewError::TooLarge);
            }
        }
        Ok(bytes)
    }
}

/// The file name of the entry for `url`: a hash, so any URL makes a safe, fixed-length name.
fn entry_name(url: &str, kind: &str) -> String {
    let hash = hex::encode(Sha256::digest(url.as_bytes()));
    format!("{}.{kind}", &hash[..32])
}

/// A directory of small files bounded in total size, least recently used evicted first.
/// Disk errors are not fatal to a cache: a failed read is a miss, a failed write is skipped.
pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
    /// Bytes in the directory, counted on the first write.
    total: Mutex<Option<u64>>,
}

impl DiskCache {
    pub fn new(dir: PathBuf, max_bytes: u64) -> Self {
        Self {
            dir,
            max_bytes,
            total: Mutex::new(None),
        }
    }

    /// The entry `name` if it exists and `valid` accepts it; an invalid one is deleted.
    /// A hit counts as a use for eviction.
    pub fn get(&self, name: &str, valid: impl FnOnce(&[u8]) -> bool) -> Option<Vec<u8>> {
        let path = self.dir.join(name);
        let bytes = fs::read(&path).ok()?;
        if !valid(&bytes) {
            tracing::debug!(file = %path.display(), "unusable preview cache entry; fetching again");
            let mut total = self.lock();
            if fs::remove_file(&path).is_ok()
                && let Some(total) = total.as_mut()
            {
                *total = total.saturating_sub(bytes.len() as u64);
            }
            return None;
        }
        if let Ok(file) = fs::File::options().append(true).open(&path) {
            let _ = file.set_modified(SystemTime::now());
        }
        Some(bytes)
    }

    /// Stores `bytes` as `name` (atomically), then evicts if the directory is over its limit.
    pub fn put(&self, name: &str, bytes: &[u8]) {
        if let Err(e) = self.write(name, bytes) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write to the preview cache");
            return;
        }
        let mut total = self.lock();
        let counted = match *total {
            // The first write counts the whole directory (including this entry).
            None => scan(&self.dir).iter().map(|e| e.len).sum(),
            Some(before) => before + bytes.len() as u64,
        };
        *total = Some(counted);
        if counted > self.max_bytes {
            *total = Some(self.evict(name));
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let tmp = self
            .dir
            .join(format!(".{name}.{}.tmp", rand::random::<u64>()));
        let result = fs::File::create(&tmp)
            .and_then(|mut file| file.write_all(bytes))
            .and_then(|()| fs::rename(&tmp, self.dir.join(name)));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Deletes the least recently used entries (never `keep`, just written) until the
    /// directory is under 90 % of the limit; returns what remains.
    fn evict(&self, keep: &str) -> u64 {
        let mut entries = scan(&self.dir);
        let mut total: u64 = entries.iter().map(|e| e.len).sum();
        let target = self.max_bytes / 10 * 9;
        entries.sort_by_key(|e| e.modified);
        for entry in entries {
            if total <= target {
                break;
            }
            if entry.path.file_name().is_some_and(|n| n == keep) {
                continue;
            }
            if fs::remove_file(&entry.path).is_ok() {
                total -= entry.len;
            }
        }
        total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.total.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Entry {
    path: PathBuf,
    len: u64,
    modified: SystemTime,
}

/// The entries of `dir` (temp files of writes in progress left out).
fn scan(dir: &Path) -> Vec<Entry> {
    let Ok(read) = fs::read_dir(dir) else {
        return Vec::new();
    };
    read.flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            Some(Entry {
                path: e.path(),
                len: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
