//! The catalog's tables, versioned with SQLite's `user_version`.

use std::path::Path;

use rusqlite::Connection;

use super::{CatalogError, error};

/// The schema this build writes. A file with a higher version is refused.
pub const SCHEMA_VERSION: i64 = 4;

/// `name_key` and `search_key` are lower-cased in Rust (Unicode-aware) when a row is written:
/// sorting by name and searching never lower-case at query time.
const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS images (
    id           TEXT    PRIMARY KEY,
    seq          INTEGER NOT NULL,
    filename     TEXT    NOT NULL,
    name_key     TEXT    NOT NULL,
    search_key   TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    taken_at     INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER,
    date         INTEGER NOT NULL,
    trashed      INTEGER NOT NULL,
    tags         TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    thumb_url    TEXT    NOT NULL,
    preview_url  TEXT    NOT NULL,
    thumbhash    TEXT,
    derivatives  TEXT    NOT NULL DEFAULT 'pending',
    derivatives_error TEXT,
    visibility   TEXT    NOT NULL DEFAULT 'public'
);
CREATE INDEX IF NOT EXISTS images_by_date ON images (trashed, date DESC, id);
CREATE INDEX IF NOT EXISTS images_by_name ON images (trashed, name_key, id);
CREATE INDEX IF NOT EXISTS images_by_size ON images (trashed, size DESC, id);
CREATE TABLE IF NOT EXISTS albums (
    id    TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    json  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS album_images (
    album_id  TEXT NOT NULL,
    position  INTEGER NOT NULL,
    image_id  TEXT NOT NULL,
    PRIMARY KEY (album_id, position)
);
CREATE TABLE IF NOT EXISTS shares (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    json        TEXT NOT NULL
);
";

/// Version 1 → 2: the cloud's derivative state and ThumbHash of each image.
const MIGRATE_V2: &str = "
ALTER TABLE images ADD COLUMN thumbhash TEXT;
ALTER TABLE images ADD COLUMN derivatives TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE images ADD COLUMN derivatives_error TEXT;
";

/// Version 2 → 3: each image's visibility.
const MIGRATE_V3: &str = "
ALTER TABLE images ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
";

/// Version 3 → 4: albums and share links from the feed. The feed is read again from the start
/// (an older client skipped their entries).
const MIGRATE_V4: &str = "
CREATE TABLE IF NOT EXISTS albums (
    id    TEXT PRIMARY KEY,
    name  TEXT NOT NULL,
    json  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS album_images (
    album_id  TEXT NOT NULL,
    position  INTEGER NOT NULL,
    image_id  TEXT NOT NULL,
    PRIMARY KEY (album_id, position)
);
CREATE TABLE IF NOT EXISTS shares (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    json        TEXT NOT NULL
);
DELETE FROM meta WHERE key = 'since';
";

/// WAL mode, then creates the tables of a new file or checks the version of an existing one.
pub(super) fn prepare(conn: &Connection, path: &Path) -> Result<(), CatalogError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| error(path, e))?;
    if version > SCHEMA_VERSION {
        return Err(CatalogError::Newer {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(CatalogError::Sqlite {
            path: path.to_path_buf(),
            message: format!(
                "cannot use write-ahead logging (journal_mode = {mode}); keep the data folder on a local disk"
            ),
        });
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL")
        .map_err(|e| error(path, e))?;
    if version == 0 {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA_V1} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            error(path, e)
        })?;
    } else if version < SCHEMA_VERSION {
        let steps = [(1, MIGRATE_V2), (2, MIGRATE_V3), (3, MIGRATE_V4)]
            .iter()
            .filter(|(from, _)| *from >= version)
            .map(|(_, sql)| *sql)
            .collect::<String>();
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {steps} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            error(path, e)
        })?;
    }
    // Reading the tables finds a file whose pages are damaged.
    conn.query_row("SELECT count(*) FROM meta", [], |r| r.get::<_, i64>(0))
        .map_err(|e| match error(path, e) {
            CatalogError::Sqlite { path, message } => CatalogError::Corrupt { path, message },
            other => other,
        })?;
    Ok(())
}
