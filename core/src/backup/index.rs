//! The backup index: which names and source paths each hash had, in `{root}/index.sqlite`
//! (WAL, so a reader such as `imgcloud backup verify` can run beside the daemon).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, params};
use time::OffsetDateTime;

use super::{BackupEntry, BackupError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    id       INTEGER PRIMARY KEY,
    sha256   TEXT    NOT NULL,
    name     TEXT    NOT NULL,
    source   BLOB    NOT NULL,
    size     INTEGER NOT NULL,
    added_at INTEGER NOT NULL,
    UNIQUE (sha256, source)
);
CREATE INDEX IF NOT EXISTS entries_by_source ON entries (source);
";

pub(super) struct Index {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Index {
    pub(super) fn open(path: &Path) -> Result<Self, BackupError> {
        let index = Self {
            path: path.to_path_buf(),
            conn: Mutex::new(Connection::open(path).map_err(|e| err(path, e))?),
        };
        {
            let conn = index.lock();
            conn.busy_timeout(Duration::from_secs(10))
                .map_err(|e| index.err(e))?;
            let mode: String = conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
                .map_err(|e| index.err(e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(BackupError::Index {
                    path: path.to_path_buf(),
                    message: format!(
                        "cannot use write-ahead logging (journal_mode = {mode}); keep the backup on a local disk"
                    ),
                });
            }
            conn.execute_batch(&format!("PRAGMA synchronous = NORMAL; {SCHEMA}"))
                .map_err(|e| index.err(e))?;
        }
        Ok(index)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn err(&self, e: rusqlite::Error) -> BackupError {
        err(&self.path, e)
    }

    /// Records that `source` held the bytes of `sha256` (once per hash and source).
    pub(super) fn record(&self, entry: &BackupEntry) -> Result<(), BackupError> {
        self.lock()
            .execute(
                "INSERT INTO entries (sha256, name, source, size, added_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sha256, source) DO UPDATE SET name = excluded.name, size = excluded.size, added_at = excluded.added_at",
                params![
                    entry.sha256,
                    entry.name,
                    path_to_blob(&entry.source),
                    i64::try_from(entry.size).unwrap_or(i64::MAX),
                    to_micros(entry.added_at),
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Every entry, oldest first.
    pub(super) fn entries(&self) -> Result<Vec<BackupEntry>, BackupError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare(
                "SELECT sha256, name, source, size, added_at FROM entries ORDER BY added_at, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(BackupEntry {
                    sha256: row.get(0)?,
                    name: row.get(1)?,
                    source: blob_to_path(row.get(2)?),
                    size: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                    added_at: from_micros(row.get(4)?),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

fn err(path: &Path, e: rusqlite::Error) -> BackupError {
    BackupError::Index {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn to_micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Paths are stored as their raw bytes where the OS has them, so no name is ever mangled.
#[cfg(unix)]
fn path_to_blob(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(unix)]
fn blob_to_path(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn path_to_blob(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

#[cfg(not(unix))]
fn blob_to_path(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}
