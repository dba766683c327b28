//! The local catalog: one account's images (library and trash) in a SQLite file (WAL), fed by
//! the server's change feed (`GET /v1/changes`).
//!
//! It stores the feed position with the images, so after a restart a sync asks only for what
//! changed, and a client can show the whole library at once, offline. It knows nothing of any
//! screen: the TUI and the desktop app read it through [`Catalog::images`] (a view, an order,
//! a filename/tag search and a page), [`Catalog::count`], [`Catalog::counts`] and
//! [`Catalog::get`], and feed it with [`Catalog::apply`].
//!
//! With the `client` feature, [`sync`] opens the catalog of the logged-in account and fetches
//! the feed into it.
//!
//! One file per server and user under [`Dirs::catalogs`](crate::paths::Dirs::catalogs)
//! (see [`location`]). The file is a cache: a damaged one is rebuilt from the server
//! ([`Catalog::open_or_rebuild`]); one written by a newer imgcloud is left alone with a clear
//! error.

mod feed;
pub mod location;
mod query;
mod row;
mod schema;
#[cfg(feature = "client")]
pub mod sync;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

pub use feed::Applied;
pub use query::{Counts, Query};
pub use row::{list_date, name_key, search_key};
pub use schema::SCHEMA_VERSION;

/// Which images: the library, or the trash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    Library,
    Trash,
}

/// Order of [`Catalog::images`]: dates (when taken, else when uploaded) and sizes newest /
/// largest first, names A→Z ignoring case; ties by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Date,
    Name,
    Size,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "the local catalog {path} was written by a newer imgcloud (schema version {found}, this one knows up to {supported}): upgrade imgcloud, or delete the file to rebuild it from the server"
    )]
    Newer {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "the local catalog {path} is damaged ({message}); delete it and it is rebuilt from the server"
    )]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot use the local catalog {path}: {message}")]
    Sqlite { path: PathBuf, message: String },
    #[error("cannot create or remove the local catalog {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// An open catalog file. Shareable between threads (one connection behind a mutex).
pub struct Catalog {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("path", &self.path).finish()
    }
}

/// Creates `path` readable by its owner only (0600 on Unix) unless it exists: the catalog lists
/// the user's library. SQLite gives its `-wal` and `-shm` files the same permissions.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl Catalog {
    /// Opens (creating it and its folder if needed) the catalog at `path`.
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| CatalogError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        create_private(path).map_err(|source| CatalogError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let conn = Connection::open(path).map_err(|e| error(path, e))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| error(path, e))?;
        schema::prepare(&conn, path)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// Opens the catalog at `path`; a damaged file is deleted and started afresh (it is a
    /// cache of the server). Returns why it was rebuilt, if it was.
    pub fn open_or_rebuild(path: &Path) -> Result<(Self, Option<String>), CatalogError> {
        match Self::open(path) {
            Ok(catalog) => Ok((catalog, None)),
            Err(CatalogError::Corrupt { message, .. }) => {
                remove(path)?;
                Ok((Self::open(path)?, Some(message)))
            }
            Err(e) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn err(&self, e: rusqlite::Error) -> CatalogError {
        error(&self.path, e)
    }
}

/// Deletes a catalog file with its WAL and shared-memory files.
pub fn remove(path: &Path) -> Result<(), CatalogError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(CatalogError::Io { path: file, source }),
        }
    }
    Ok(())
}

fn error(path: &Path, e: rusqlite::Error) -> CatalogError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => CatalogError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
        _ => CatalogError::Sqlite {
            path: path.to_path_buf(),
            message: e.to_string(),
        },
    }
}
