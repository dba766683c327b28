//! Database backups: `imgcloud-server backup --to DIR`, `backup verify FILE`, `backup list DIR`
//! and `restore FILE`.
//!
//! A backup is one file (see [`format`]): a consistent snapshot of the database, compressed,
//! with a manifest of what it holds (backend, schema version, rows per table) and a SHA-256 of
//! every section. `verify` reads it all back and checks it; `restore` verifies first and then
//! replaces the database in one step, so a damaged file never leaves a half-restored one.
//!
//! SQLite (the embedded cloud, or `database_url = "sqlite://…"`) is backed up with
//! `VACUUM INTO` while the server runs. PostgreSQL is not covered yet: use `pg_dump`.

pub mod format;
pub mod retention;
pub mod sqlite;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::store::Backend;
use format::Manifest;

/// Backup files are named `imgcloud-{backend}-{YYYYMMDDTHHMMSSZ}.backup`.
const PREFIX: &str = "imgcloud-";
const SUFFIX: &str = ".backup";

/// A backup just written.
#[derive(Debug)]
pub struct Created {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// The database's size before compression.
    pub raw_bytes: u64,
    /// The backup file's size.
    pub file_bytes: u64,
    pub elapsed: Duration,
}

/// Takes a backup of the database at `database_url` into a new file in `dir` (created if
/// missing). The file appears only once it is complete (written beside, synced, renamed), and
/// is readable by its owner only: it holds password and token hashes.
pub async fn create(database_url: &str, dir: &Path) -> anyhow::Result<Created> {
    let started = Instant::now();
    let db = match Backend::of_url(database_url)? {
        Backend::Sqlite => sqlite::path_of(database_url)?,
        Backend::Postgres => bail!(
            "backups of a PostgreSQL database are not built in yet: use `pg_dump -Fc` \
             (docs/operations.md, Backups)"
        ),
    };
    crate::embedded::create_private_dir(dir)?;
    let scratch =
        tempfile::tempdir_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    let copy = scratch.path().join("snapshot.sqlite");
    sqlite::snapshot(&db, &copy).await?;
    let (schema_version, tables) = sqlite::describe(&copy).await?;
    let raw_bytes = std::fs::metadata(&copy)?.len();
    let now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let manifest = Manifest {
        backend: "sqlite".into(),
        schema_version,
        created_at: now.format(&Rfc3339)?,
        tables,
        sections: Vec::new(),
    };
    let staged = tempfile::Builder::new()
        .prefix(".incomplete-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut writer = format::Writer::new(std::io::BufWriter::new(staged.as_file()))?;
    writer.section(sqlite::SECTION, raw_bytes, std::fs::File::open(&copy)?)?;
    let (mut out, manifest) = writer.finish(manifest)?;
    std::io::Write::flush(&mut out)?;
    drop(out);
    staged.as_file().sync_all()?;
    let path = dir.join(file_name("sqlite", now));
    staged
        .persist_noclobber(&path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot create {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    let file_bytes = std::fs::metadata(&path)?.len();
    Ok(Created {
        path,
        manifest,
        raw_bytes,
        file_bytes,
        elapsed: started.elapsed(),
    })
}

fn file_name(backend: &str, at: OffsetDateTime) -> String {
    format!(
        "{PREFIX}{backend}-{:04}{:02}{:02}T{:02}{:02}{:02}Z{SUFFIX}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The time in a backup's file name, if it is one of ours.
pub fn time_of(path: &Path) -> Option<OffsetDateTime> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (_, stamp) = stem.rsplit_once('-')?;
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(stamp, &format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// Reads `file` back completely and checks it: framing, SHA-256 of every section, SQLite's
/// integrity check, the schema version (known to this build) and the rows of every table
/// against the manifest.
pub async fn verify(file: &Path) -> anyhow::Result<Manifest> {
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    Ok(read_checked(file, scratch.path()).await?.manifest)
}

/// [`format::read`] of `file` into `scratch`, then the checks of [`verify`] on what it holds.
async fn read_checked(file: &Path, scratch: &Path) -> anyhow::Result<format::ReadBackup> {
    let read = format::read(file, scratch)?;
    check_contents(file, &read).await?;
    Ok(read)
}

async fn check_contents(file: &Path, read: &format::ReadBackup) -> anyhow::Result<()> {
    let manifest = &read.manifest;
    if manifest.backend != "sqlite" {
        bail!(
            "{}: a {} backup; this build restores SQLite backups only",
            file.display(),
            manifest.backend
        );
    }
    let db = read.sections.get(sqlite::SECTION).with_context(|| {
        format!(
            "{}: the database section is missing; the file is damaged",
            file.display()
        )
    })?;
    sqlite::integrity_check(db)
        .await
        .with_context(|| format!("{}: the database in it is damaged", file.display()))?;
    let (version, tables) = sqlite::describe(db).await?;
    let known = sqlite::known_schema_version();
    if version != manifest.schema_version {
        bail!(
            "{}: schema version {version}, the manifest says {}; the file is damaged",
            file.display(),
            manifest.schema_version
        );
    }
    if version > known {
        bail!(
            "{}: schema version {version} is newer than this build knows ({known}); restore it with a newer imgcloud-server",
            file.display()
        );
    }
    if tables != manifest.tables {
        bail!(
            "{}: the rows per table ({tables:?}) differ from the manifest ({:?}); the file is damaged",
            file.display(),
            manifest.tables
        );
    }
    Ok(())
}

/// Restores `file` as the database at `database_url`, after verifying it. Refuses a database
/// that holds any row unless `force`. Stop the server first.
pub async fn restore(file: &Path, database_url: &str, force: bool) -> anyhow::Result<Manifest> {
    let db = match Backend::of_url(database_url)? {
        Backend::Sqlite => sqlite::path_of(database_url)?,
        Backend::Postgres => bail!(
            "restoring into PostgreSQL is not built in yet: use `pg_restore` (docs/operations.md, Backups)"
        ),
    };
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let read = read_checked(file, scratch.path()).await?;
    if db.exists() && !force {
        let (_, tables) = sqlite::describe(&db).await.with_context(|| {
            format!(
                "{} exists but cannot be read as a database; pass --force to replace it",
                db.display()
            )
        })?;
        let rows: u64 = tables.values().sum();
        if rows > 0 {
            let count = |t: &str| tables.get(t).copied().unwrap_or(0);
            bail!(
                "{} is not empty ({} users, {} images, {rows} rows in all); restore refuses to replace it: pass --force to replace it",
                db.display(),
                count("users"),
                count("images")
            );
        }
    }
    sqlite::install(&read.sections[sqlite::SECTION], &db)?;
    Ok(read.manifest)
}

/// A backup file found by [`list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: PathBuf,
    pub created_at: OffsetDateTime,
    pub bytes: u64,
}

/// The backups in `dir`, newest first (by the time in their names; nothing is opened).
pub fn list(dir: &Path) -> anyhow::Result<Vec<Listed>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if let Some(created_at) = time_of(&path) {
            found.push(Listed {
                bytes: entry.metadata()?.len(),
                path,
                created_at,
            });
        }
    }
    found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.path.cmp(&a.path)));
    Ok(found)
}

/// `3 users, 120 images, …`: the rows of the tables people care about first.
pub fn summary(manifest: &Manifest) -> String {
    let mut parts: Vec<String> = [("users", "user"), ("images", "image"), ("tokens", "token")]
        .iter()
        .filter_map(|(table, one)| {
            let n = *manifest.tables.get(*table)?;
            Some(if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {table}")
            })
        })
        .collect();
    let total: u64 = manifest.tables.values().sum();
    parts.push(format!("{total} rows in {} tables", manifest.tables.len()));
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store as _;
    use crate::store::conformance;
    use crate::store::sqlite::SqliteStore;

    async fn library(path: &Path, images: usize) -> SqliteStore {
        let store = SqliteStore::open_path(path).await.unwrap();
        let user = store.create_user("ann").await.unwrap();
        for i in 0..images {
            let id = format!("img{i:05}");
            store
                .insert_image(&conformance::image(
                    &user.id,
                    &id,
                    &format!("{id}.png"),
                    &id,
                ))
                .await
                .unwrap();
        }
        store
    }

    fn url(path: &Path) -> String {
        format!("sqlite://{}", path.display())
    }

    #[tokio::test]
    async fn a_live_database_is_backed_up_verified_and_restored_into_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.db");
        let store = library(&db, 250).await;
        let backups = dir.path().join("backups");
        // Taken while the server's pool is open (WAL mode, uncheckpointed writes included).
        let created = create(&url(&db), &backups).await.unwrap();
        assert_eq!(created.manifest.tables["images"], 250);
        assert_eq!(created.manifest.tables["users"], 1);
        assert_eq!(
            created.manifest.schema_version,
            sqlite::known_schema_version()
        );
        assert!(created.file_bytes > 0 && created.file_bytes < created.raw_bytes);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&created.path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
        assert_eq!(list(&backups).unwrap()[0].path, created.path);
        // Nothing else is left in the directory (no scratch or incomplete files).
        assert_eq!(std::fs::read_dir(&backups).unwrap().count(), 1);

        let verified = verify(&created.path).await.unwrap();
        assert_eq!(verified, created.manifest);

        // Later writes are not in it; the restore brings the library as it was.
        let user = store.user_by_name("ann").await.unwrap();
        store
            .insert_image(&conformance::image(&user.id, "late", "late.png", "late"))
            .await
            .unwrap();
        let target = dir.path().join("restored/imgcloud.db");
        let restored = restore(&created.path, &url(&target), false).await.unwrap();
        assert_eq!(restored, created.manifest);
        let back = SqliteStore::open_path(&target).await.unwrap();
        let ann = back.user_by_name("ann").await.unwrap();
        assert_eq!(ann.id, user.id);
        assert_eq!(
            back.image(&ann.id, "img00042").await.unwrap().filename,
            "img00042.png"
        );
        assert!(
            back.image(&ann.id, "late").await.is_err(),
            "taken after the backup"
        );
    }

    #[tokio::test]
    async fn a_non_empty_database_is_replaced_only_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        drop(library(&db, 3).await);
        let created = create(&url(&db), &dir.path().join("b")).await.unwrap();
        let other = dir.path().join("other.db");
        drop(library(&other, 7).await);
        let err = restore(&created.path, &url(&other), false)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not empty") && err.contains("7 images") && err.contains("--force"),
            "{err}"
        );
        let (_, tables) = sqlite::describe(&other).await.unwrap();
        assert_eq!(tables["images"], 7, "untouched");
        restore(&created.path, &url(&other), true).await.unwrap();
        let (_, tables) = sqlite::describe(&other).await.unwrap();
        assert_eq!(tables["images"], 3);
    }

    #[tokio::test]
    async fn damaged_backups_are_refused_and_nothing_is_half_restored() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        drop(library(&db, 50).await);
        let created = create(&url(&db), &dir.path().join("b")).await.unwrap();
        let bytes = std::fs::read(&created.path).unwrap();
        let target = dir.path().join("t.db");
        drop(library(&target, 0).await); // empty: a restore would be allowed
        let before = std::fs::read(&target).unwrap();
        for (name, damaged) in [
            ("truncated.backup", bytes[..bytes.len() * 2 / 3].to_vec()),
            ("short-tail.backup", bytes[..bytes.len() - 4].to_vec()),
            ("flipped.backup", {
                let mut b = bytes.clone();
                let i = b.len() / 2;
                b[i] ^= 0x01;
                b
            }),
            ("empty.backup", Vec::new()),
        ] {
            let file = dir.path().join(name);
            std::fs::write(&file, &damaged).unwrap();
            let err = verify(&file).await.unwrap_err().to_string();
            assert!(err.contains(name), "{name}: {err}");
            let err = restore(&file, &url(&target), true)
                .await
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{name}: {err}");
            assert_eq!(
                std::fs::read(&target).unwrap(),
                before,
                "{name}: target untouched"
            );
        }
    }
}
