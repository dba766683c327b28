//! SQLite snapshots: `VACUUM INTO` makes a consistent, compact copy of a live database (the
//! server may keep writing), which goes into the backup file as one section.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr as _;

use anyhow::{Context as _, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection as _, Row as _};

/// The section holding the database file.
pub const SECTION: &str = "database.sqlite";

/// A read-only connection to the database file at `path`.
async fn connect_read_only(path: &Path) -> anyhow::Result<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .create_if_missing(false);
    SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("cannot open {}", path.display()))
}

/// The database file of a `sqlite://PATH` URL.
pub fn path_of(url: &str) -> anyhow::Result<std::path::PathBuf> {
    let options = SqliteConnectOptions::from_str(url)
        .with_context(|| "invalid SQLite database URL (expected sqlite://PATH)")?;
    let path = options.get_filename().to_path_buf();
    if path.as_os_str().is_empty() || path.to_string_lossy().contains(":memory:") {
        bail!("an in-memory SQLite database has nothing to back up");
    }
    Ok(path)
}

/// Copies the live database at `db` into `out` (a new file).
pub async fn snapshot(db: &Path, out: &Path) -> anyhow::Result<()> {
    if !db.exists() {
        bail!(
            "{} does not exist: nothing to back up (is this the right configuration?)",
            db.display()
        );
    }
    let mut conn = connect_read_only(db).await?;
    let target = out
        .to_str()
        .context("the scratch directory's path is not UTF-8")?
        .replace('\'', "''");
    sqlx::query(&format!("VACUUM INTO '{target}'"))
        .execute(&mut conn)
        .await
        .with_context(|| format!("cannot copy {}", db.display()))?;
    conn.close().await?;
    Ok(())
}

/// What a database file holds: the newest migration and the rows of each table.
pub async fn describe(db: &Path) -> anyhow::Result<(i64, BTreeMap<String, u64>)> {
    let mut conn = connect_read_only(db).await?;
    let version: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .context("no migrations table: not an imgcloud database")?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut tables = BTreeMap::new();
    for name in names {
        let quoted = name.replace('"', "\"\"");
        let rows: i64 = sqlx::query(&format!("SELECT count(*) FROM \"{quoted}\""))
            .fetch_one(&mut conn)
            .await?
            .get(0);
        tables.insert(name, rows.max(0) as u64);
    }
    conn.close().await?;
    Ok((version.unwrap_or(0), tables))
}

/// Checks a restored or extracted database file: SQLite's own integrity check.
pub async fn integrity_check(db: &Path) -> anyhow::Result<()> {
    let mut conn = connect_read_only(db).await?;
    let result: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .context("the integrity check could not run")?;
    conn.close().await?;
    if result != ["ok"] {
        bail!(
            "SQLite's integrity check failed: {}",
            result.into_iter().take(5).collect::<Vec<_>>().join("; ")
        );
    }
    Ok(())
}

/// The newest migration this build knows.
pub fn known_schema_version() -> i64 {
    sqlx::migrate!("migrations/sqlite")
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Puts `from` (a checked database file) in place of the database at `db`, atomically: a
/// copy beside it, synced, then renamed over it. The old write-ahead log goes too.
pub fn install(from: &Path, db: &Path) -> anyhow::Result<()> {
    let dir = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let staged = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::fs::copy(from, staged.path())
        .with_context(|| format!("cannot write {}", staged.path().display()))?;
    staged.as_file().sync_all()?;
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("cannot remove {side:?}"));
            }
        }
    }
    staged
        .persist(db)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot put the restored database at {}", db.display()))?;
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}
