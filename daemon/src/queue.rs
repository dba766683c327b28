//! The persistent queue: every file's progress in SQLite (WAL), written before and after each
//! step so a restart after a crash resumes where it stopped.
//!
//! One row per path. The database survives a crash or `kill -9` of the daemon at any point
//! (WAL, `synchronous=NORMAL`: every committed step is on disk once the process is gone; only a
//! power loss may take back the last few commits). Paths are stored as their raw bytes, so any
//! file name the filesystem allows round-trips.
//!
//! Life of a row: [`Queue::observe_many`] inserts it as `discovered` (or resets it to
//! `discovered` when the file changed); the engine then records each step
//! ([`Queue::set_hashed`], [`Queue::set_checkpoint`], [`Queue::set_uploaded`],
//! [`Queue::set_backed_up`]) or an error ([`Queue::set_retry`], [`Queue::set_failed`]).
//! A successful step clears the last error; `attempts` counts the failed attempts at the current
//! state and starts again from 0 when the state moves on.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use imgcloud_core::daemon_api::{FileError, FileState, QueueCounts, QueueEntry};
use rusqlite::{Connection, OptionalExtension, Row, params};
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
    /// The stat of a file from its metadata (size, mtime in ns, inode).
    pub fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            size: meta.size(),
            mtime_ns: meta
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.mtime_nsec()),
            inode: meta.ino(),
        }
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

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// States that are done: never due again until the file changes.
const FINISHED: &str = "('backed_up', 'failed')";

const MIGRATION_1: &str = "
CREATE TABLE files (
    id              INTEGER PRIMARY KEY,
    path            BLOB NOT NULL UNIQUE,
    folder          BLOB,
    size            INTEGER NOT NULL,
    mtime_ns        INTEGER NOT NULL,
    inode           INTEGER NOT NULL,
    state           TEXT NOT NULL,
    sha256          TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error_code TEXT,
    last_error      TEXT,
    error_at        INTEGER,
    permanent       INTEGER NOT NULL DEFAULT 0,
    checkpoint      TEXT,
    image_id        TEXT,
    url             TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX files_state_next ON files (state, next_attempt_at);
-- The work list: unfinished rows in due order, read without sorting.
CREATE INDEX files_due ON files (next_attempt_at, id)
    WHERE state NOT IN ('backed_up', 'failed');
-- The few rows with an error, newest first.
CREATE INDEX files_errors ON files (error_at) WHERE last_error IS NOT NULL;
";

/// Columns read into an [`Entry`] (see [`entry_from_row`]).
const ENTRY_COLUMNS: &str = "id, path, folder, size, mtime_ns, inode, state, sha256, attempts, \
     checkpoint, image_id, url, last_error";

/// The persistent queue (one SQLite file). `Send + Sync`: calls are serialised on one
/// connection and each is short, except [`Queue::observe_many`] and [`Queue::known`] on big
/// batches (run those on a blocking thread).
pub struct Queue {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("path", &self.path).finish()
    }
}

fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn now_ms() -> i64 {
    ms(OffsetDateTime::now_utc())
}

fn path_bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

/// Every file the queue knows with its last stat, by path: what a scan compares with.
///
/// Keyed by the path's bytes: hashing a `Path` walks its components, and a restart over a
/// large library looks up every file once.
#[derive(Debug, Default)]
pub struct Known(HashMap<Vec<u8>, FileStat>);

impl Known {
    pub fn get(&self, path: &Path) -> Option<&FileStat> {
        self.0.get(path.as_os_str().as_bytes())
    }

    pub fn contains_key(&self, path: &Path) -> bool {
        self.get(path).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_keys(self) -> impl Iterator<Item = PathBuf> {
        self.0.into_keys().map(path_from)
    }
}

fn path_from(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes))
}

fn state_from(s: &str) -> rusqlite::Result<FileState> {
    FileState::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown file state `{s}`").into(),
        )
    })
}

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: row.get(0)?,
        path: path_from(row.get(1)?),
        folder: row.get::<_, Option<Vec<u8>>>(2)?.map(path_from),
        stat: FileStat {
            size: row.get::<_, i64>(3)? as u64,
            mtime_ns: row.get(4)?,
            inode: row.get::<_, i64>(5)? as u64,
        },
        state: state_from(&row.get::<_, String>(6)?)?,
        sha256: row.get(7)?,
        attempts: row.get::<_, i64>(8)?.clamp(0, i64::from(u32::MAX)) as u32,
        checkpoint: row.get(9)?,
        image_id: row.get(10)?,
        url: row.get(11)?,
        last_error: row.get(12)?,
    })
}

impl Queue {
    /// Opens (creating, migrating) the queue database.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        let err = |message: String| QueueError {
            path: path.to_path_buf(),
            message,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                err(format!(
                    "cannot create its directory {}: {e}",
                    parent.display()
                ))
            })?;
        }
        let conn = Connection::open(path).map_err(|e| {
            err(format!(
                "cannot open it: {e}; check the permissions of the data directory"
            ))
        })?;
        let queue = Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        };
        queue.setup()?;
        Ok(queue)
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn setup(&self) -> Result<(), QueueError> {
        let mut conn = self.conn();
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| self.err(e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(
                path = %self.path.display(),
                "the queue database is not in WAL mode (journal_mode = {mode})"
            );
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL;")
            .map_err(|e| self.err(e))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if version > SCHEMA_VERSION {
            return Err(self.msg(format!(
                "it was written by a newer imgcloudd (schema {version}, this one knows up to \
                 {SCHEMA_VERSION}); upgrade imgcloudd, or move the file away to start a new queue"
            )));
        }
        if version < 1 {
            let tx = conn.transaction().map_err(|e| self.err(e))?;
            tx.execute_batch(MIGRATION_1).map_err(|e| self.err(e))?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(|e| self.err(e))?;
            tx.commit().map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn err(&self, e: rusqlite::Error) -> QueueError {
        self.msg(e.to_string())
    }

    fn msg(&self, message: String) -> QueueError {
        QueueError {
            path: self.path.clone(),
            message,
        }
    }

    /// Runs an UPDATE of one row by id; an unknown id is an error.
    fn update_one(
        &self,
        id: i64,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<(), QueueError> {
        let conn = self.conn();
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&id];
        all.extend_from_slice(args);
        let changed = conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(all.as_slice()))
            .map_err(|e| self.err(e))?;
        if changed == 0 {
            return Err(self.msg(format!("no queue entry with id {id}")));
        }
        Ok(())
    }

    /// Records many files in one transaction; returns what each was, in order. New and
    /// changed files become `discovered`, due now, with attempts reset.
    ///
    /// A changed file (another size, mtime or inode) is a new version: its hash, link and error
    /// are cleared, whatever state it was in (also `failed` and `backed_up`); the old upload
    /// checkpoint is kept (the uploader drops a checkpoint whose hash differs). A `folder` of
    /// `None` keeps the folder already recorded.
    pub fn observe_many(
        &self,
        files: &[(PathBuf, Option<PathBuf>, FileStat)],
    ) -> Result<Vec<Observed>, QueueError> {
        let mut conn = self.conn();
        let now = now_ms();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(files.len());
        {
            let mut find = tx
                .prepare_cached(
                    "SELECT id, size, mtime_ns, inode, folder FROM files WHERE path = ?1",
                )
                .map_err(|e| self.err(e))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO files (path, folder, size, mtime_ns, inode, state, attempts,
                         next_attempt_at, permanent, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'discovered', 0, ?6, 0, ?6, ?6)",
                )
                .map_err(|e| self.err(e))?;
            let mut change = tx
                .prepare_cached(
                    "UPDATE files SET folder = coalesce(?2, folder), size = ?3, mtime_ns = ?4,
                         inode = ?5, state = 'discovered', sha256 = NULL, attempts = 0,
                         next_attempt_at = ?6, last_error_code = NULL, last_error = NULL,
                         error_at = NULL, permanent = 0, image_id = NULL, url = NULL,
                         updated_at = ?6
                     WHERE id = ?1",
                )
                .map_err(|e| self.err(e))?;
            let mut set_folder = tx
                .prepare_cached("UPDATE files SET folder = ?2, updated_at = ?3 WHERE id = ?1")
                .map_err(|e| self.err(e))?;
            for (path, folder, stat) in files {
                let folder_bytes = folder.as_deref().map(path_bytes);
                let found = find
                    .query_row([path_bytes(path)], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            FileStat {
                                size: r.get::<_, i64>(1)? as u64,
                                mtime_ns: r.get(2)?,
                                inode: r.get::<_, i64>(3)? as u64,
                            },
                            r.get::<_, Option<Vec<u8>>>(4)?,
                        ))
                    })
                    .optional()
                    .map_err(|e| self.err(e))?;
                let observed = match found {
                    None => {
                        insert
                            .execute(params![
                                path_bytes(path),
                                folder_bytes,
                                stat.size as i64,
                                stat.mtime_ns,
                                stat.inode as i64,
                                now
                            ])
                            .map_err(|e| self.err(e))?;
                        Observed::New
                    }
                    Some((id, old, _)) if old != *stat => {
                        change
                            .execute(params![
                                id,
                                folder_bytes,
                                stat.size as i64,
                                stat.mtime_ns,
                                stat.inode as i64,
                                now
                            ])
                            .map_err(|e| self.err(e))?;
                        Observed::Changed
                    }
                    Some((id, _, old_folder)) => {
                        if folder_bytes.is_some() && folder_bytes != old_folder.as_deref() {
                            set_folder
                                .execute(params![id, folder_bytes, now])
                                .map_err(|e| self.err(e))?;
                        }
                        Observed::Unchanged
                    }
                };
                out.push(observed);
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// Every known path with its recorded stat (a restart's scan compares against this).
    pub fn known(&self) -> Result<Known, QueueError> {
        let conn = self.conn();
        let count: i64 = conn
            .query_row("SELECT count(*) FROM files", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let mut map = HashMap::with_capacity(count.max(0) as usize);
        let mut stmt = conn
            .prepare_cached("SELECT path, size, mtime_ns, inode FROM files")
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let read = || -> rusqlite::Result<(Vec<u8>, FileStat)> {
                Ok((
                    row.get(0)?,
                    FileStat {
                        size: row.get::<_, i64>(1)? as u64,
                        mtime_ns: row.get(2)?,
                        inode: row.get::<_, i64>(3)? as u64,
                    },
                ))
            };
            let (path, stat) = read().map_err(|e| self.err(e))?;
            map.insert(path, stat);
        }
        Ok(Known(map))
    }

    /// Unfinished entries (not `backed_up`, not `failed`) whose next attempt is due, oldest
    /// first, skipping `busy` ids.
    ///
    /// "Oldest" is the earliest next attempt (then the earliest queued), so a file waiting
    /// after an error does not jump ahead of files queued before it became due.
    pub fn due(
        &self,
        now: OffsetDateTime,
        busy: &HashSet<i64>,
        limit: usize,
    ) -> Result<Vec<Entry>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM files INDEXED BY files_due
             WHERE state NOT IN {FINISHED} AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, id LIMIT ?2"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let fetch = limit.saturating_add(busy.len()).min(i64::MAX as usize) as i64;
        let rows = stmt
            .query_map(params![ms(now), fetch], entry_from_row)
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(limit.min(1024));
        for row in rows {
            let entry = row.map_err(|e| self.err(e))?;
            if busy.contains(&entry.id) {
                continue;
            }
            out.push(entry);
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    /// The earliest next attempt among unfinished entries.
    pub fn next_attempt_at(&self) -> Result<Option<OffsetDateTime>, QueueError> {
        let conn = self.conn();
        let sql = format!("SELECT min(next_attempt_at) FROM files WHERE state NOT IN {FINISHED}");
        let min: Option<i64> = conn
            .query_row(&sql, [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        Ok(min.map(from_ms))
    }

    /// The entry with this id.
    pub fn get(&self, id: i64) -> Result<Option<Entry>, QueueError> {
        let conn = self.conn();
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM files WHERE id = ?1");
        conn.prepare_cached(&sql)
            .and_then(|mut s| s.query_row([id], entry_from_row).optional())
            .map_err(|e| self.err(e))
    }

    /// The entry of this path (added: the engine and PicGo look files up by path).
    pub fn get_by_path(&self, path: &Path) -> Result<Option<Entry>, QueueError> {
        let conn = self.conn();
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM files WHERE path = ?1");
        conn.prepare_cached(&sql)
            .and_then(|mut s| s.query_row([path_bytes(path)], entry_from_row).optional())
            .map_err(|e| self.err(e))
    }

    /// → `hashed`.
    pub fn set_hashed(&self, id: i64, sha256: &str) -> Result<(), QueueError> {
        self.update_one(
            id,
            "UPDATE files SET sha256 = ?2,
                 attempts = CASE WHEN state = 'hashed' THEN attempts ELSE 0 END,
                 state = 'hashed', last_error_code = NULL, last_error = NULL, error_at = NULL,
                 permanent = 0, updated_at = ?3
             WHERE id = ?1",
            &[&sha256, &now_ms()],
        )
    }

    /// → `uploading`, with the checkpoint to resume from.
    pub fn set_checkpoint(&self, id: i64, checkpoint_json: &str) -> Result<(), QueueError> {
        self.update_one(
            id,
            "UPDATE files SET checkpoint = ?2,
                 attempts = CASE WHEN state = 'uploading' THEN attempts ELSE 0 END,
                 state = 'uploading', last_error_code = NULL, last_error = NULL,
                 error_at = NULL, permanent = 0, updated_at = ?3
             WHERE id = ?1",
            &[&checkpoint_json, &now_ms()],
        )
    }

    /// → `uploaded` (checkpoint cleared, error cleared).
    pub fn set_uploaded(&self, id: i64, image_id: &str, url: &str) -> Result<(), QueueError> {
        self.update_one(
            id,
            "UPDATE files SET image_id = ?2, url = ?3, checkpoint = NULL,
                 attempts = CASE WHEN state = 'uploaded' THEN attempts ELSE 0 END,
                 state = 'uploaded', last_error_code = NULL, last_error = NULL,
                 error_at = NULL, permanent = 0, updated_at = ?4
             WHERE id = ?1",
            &[&image_id, &url, &now_ms()],
        )
    }

    /// → `backed_up` (done).
    pub fn set_backed_up(&self, id: i64) -> Result<(), QueueError> {
        self.update_one(
            id,
            "UPDATE files SET state = 'backed_up', attempts = 0, checkpoint = NULL,
                 last_error_code = NULL, last_error = NULL, error_at = NULL, permanent = 0,
                 updated_at = ?2
             WHERE id = ?1",
            &[&now_ms()],
        )
    }

    /// A transient error: attempts + 1, state kept, due again at `next_attempt_at`.
    pub fn set_retry(
        &self,
        id: i64,
        code: &str,
        message: &str,
        next_attempt_at: OffsetDateTime,
    ) -> Result<(), QueueError> {
        let now = now_ms();
        self.update_one(
            id,
            "UPDATE files SET attempts = attempts + 1, last_error_code = ?2, last_error = ?3,
                 next_attempt_at = ?4, error_at = ?5, permanent = 0, updated_at = ?5
             WHERE id = ?1",
            &[&code, &message, &ms(next_attempt_at), &now],
        )
    }

    /// A permanent error: → `failed` until the file changes.
    pub fn set_failed(&self, id: i64, code: &str, message: &str) -> Result<(), QueueError> {
        let now = now_ms();
        self.update_one(
            id,
            "UPDATE files SET state = 'failed', attempts = attempts + 1, last_error_code = ?2,
                 last_error = ?3, error_at = ?4, permanent = 1, updated_at = ?4
             WHERE id = ?1",
            &[&code, &message, &now],
        )
    }

    /// The file is gone locally: forget unfinished work on it (never deletes in the cloud).
    ///
    /// Removes the rows of `path` and, when it was a directory, of every path below it, except
    /// `backed_up` rows (they stay as the record of what was synced).
    pub fn forget(&self, path: &Path) -> Result<(), QueueError> {
        let conn = self.conn();
        let exact = path_bytes(path);
        // Below `path/`: every byte string starting with `path/` sorts in [`path/`, `path0`).
        let mut lo = exact.to_vec();
        if lo.last() != Some(&b'/') {
            lo.push(b'/');
        }
        let mut hi = lo.clone();
        *hi.last_mut().expect("not empty") = b'/' + 1;
        conn.prepare_cached(
            "DELETE FROM files WHERE state != 'backed_up'
                 AND (path = ?1 OR (path >= ?2 AND path < ?3))",
        )
        .and_then(|mut s| s.execute(params![exact, lo, hi]))
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Makes every retrying entry due now (the cloud came back, or a manual rescan).
    pub fn retry_now(&self) -> Result<(), QueueError> {
        let conn = self.conn();
        let now = now_ms();
        let sql = format!(
            "UPDATE files SET next_attempt_at = ?1
             WHERE state NOT IN {FINISHED} AND next_attempt_at > ?1"
        );
        conn.execute(&sql, [now]).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Files per state, and the unfinished ones waiting after an error.
    pub fn counts(&self, now: OffsetDateTime) -> Result<QueueCounts, QueueError> {
        let conn = self.conn();
        let mut counts = QueueCounts::default();
        let mut stmt = conn
            .prepare_cached("SELECT state, count(*) FROM files GROUP BY state")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (state, n) = row.map_err(|e| self.err(e))?;
            let n = n.max(0) as u64;
            match FileState::parse(&state) {
                Some(FileState::Discovered) => counts.discovered = n,
                Some(FileState::Hashed) => counts.hashed = n,
                Some(FileState::Uploading) => counts.uploading = n,
                Some(FileState::Uploaded) => counts.uploaded = n,
                Some(FileState::BackedUp) => counts.backed_up = n,
                Some(FileState::Failed) => counts.failed = n,
                None => return Err(self.msg(format!("unknown file state `{state}` in the queue"))),
            }
        }
        let sql = format!(
            "SELECT count(*) FROM files INDEXED BY files_due
             WHERE state NOT IN {FINISHED} AND next_attempt_at > ?1 AND last_error IS NOT NULL"
        );
        let retrying: i64 = conn
            .query_row(&sql, [ms(now)], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        counts.retrying = retrying.max(0) as u64;
        Ok(counts)
    }

    /// Rows for `GET /v1/queue` (all states when None), oldest first.
    ///
    /// `next_attempt_at` is set for unfinished rows waiting after an error.
    pub fn list(
        &self,
        state: Option<FileState>,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, QueueError> {
        let conn = self.conn();
        let limit = limit.min(i64::MAX as usize) as i64;
        let columns = "path, state, size, attempts, last_error, next_attempt_at, image_id, url";
        let read = |r: &Row<'_>| -> rusqlite::Result<QueueEntry> {
            let state = state_from(&r.get::<_, String>(1)?)?;
            let last_error: Option<String> = r.get(4)?;
            let unfinished = !matches!(state, FileState::BackedUp | FileState::Failed);
            Ok(QueueEntry {
                path: path_from(r.get(0)?),
                state,
                size: r.get::<_, i64>(2)? as u64,
                attempts: r.get::<_, i64>(3)?.clamp(0, i64::from(u32::MAX)) as u32,
                next_attempt_at: (unfinished && last_error.is_some())
                    .then(|| r.get::<_, i64>(5).map(from_ms))
                    .transpose()?,
                last_error,
                image_id: r.get(6)?,
                url: r.get(7)?,
            })
        };
        let rows: rusqlite::Result<Vec<QueueEntry>> = match state {
            Some(state) => conn
                .prepare_cached(&format!(
                    "SELECT {columns} FROM files WHERE state = ?1 ORDER BY id LIMIT ?2"
                ))
                .and_then(|mut s| s.query_map(params![state.as_str(), limit], read)?.collect()),
            None => conn
                .prepare_cached(&format!("SELECT {columns} FROM files ORDER BY id LIMIT ?1"))
                .and_then(|mut s| s.query_map([limit], read)?.collect()),
        };
        rows.map_err(|e| self.err(e))
    }

    /// Entries with a last error (retrying or failed), newest first.
    pub fn errors(&self, limit: usize) -> Result<Vec<FileError>, QueueError> {
        let conn = self.conn();
        let limit = limit.min(i64::MAX as usize) as i64;
        conn.prepare_cached(
            "SELECT path, last_error_code, last_error, attempts, permanent, next_attempt_at,
                 error_at
             FROM files INDEXED BY files_errors WHERE last_error IS NOT NULL
             ORDER BY error_at DESC, id DESC LIMIT ?1",
        )
        .and_then(|mut s| {
            s.query_map([limit], |r| {
                let permanent = r.get::<_, i64>(4)? != 0;
                Ok(FileError {
                    path: path_from(r.get(0)?),
                    code: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    message: r.get(2)?,
                    attempts: r.get::<_, i64>(3)?.clamp(0, i64::from(u32::MAX)) as u32,
                    permanent,
                    next_attempt_at: (!permanent)
                        .then(|| r.get::<_, i64>(5).map(from_ms))
                        .transpose()?,
                    at: from_ms(r.get::<_, Option<i64>>(6)?.unwrap_or(0)),
                })
            })?
            .collect()
        })
        .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests;
