//! PostgreSQL snapshots: every table copied out with `COPY … TO STDOUT` (text format) inside
//! one `REPEATABLE READ READ ONLY` transaction, so all tables show the same moment while the
//! replicas keep writing. Each table is one section `table/NAME` of the backup file; its
//! columns are named in the manifest, so a restore never depends on column order.
//!
//! A restore migrates the target to the backup's schema version, then loads every table in
//! one transaction (truncate, copy in parents before children, advance the sequences) and
//! only then runs the newer migrations: a failure leaves the target as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use anyhow::{Context as _, bail};
use futures::TryStreamExt as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection as _, Row as _};
use tokio::io::AsyncWriteExt as _;

/// Prefix of a table's section: `table/images`.
pub const SECTION_PREFIX: &str = "table/";

/// The migrations table: part of the schema, not of the data (a restore makes its own).
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// How far past the largest value it holds a sequence is advanced after a restore or a
/// promotion: values a lost primary handed out after the copy was made (change-feed cursors
/// clients already hold) are never handed out again.
pub const SEQUENCE_GAP: i64 = 1_000_000;

fn options(url: &str) -> anyhow::Result<PgConnectOptions> {
    // The URL holds a password: never put it in an error.
    PgConnectOptions::from_str(url)
        .map_err(|e| anyhow::anyhow!("invalid PostgreSQL URL: {}", redact(&e.to_string(), url)))
}

/// `database "x" on host:port`, for messages (never the password).
pub fn describe_url(url: &str) -> String {
    match options(url) {
        Ok(o) => format!(
            "database {:?} on {}:{}",
            o.get_database().unwrap_or_default(),
            o.get_host(),
            o.get_port()
        ),
        Err(_) => "the PostgreSQL database".into(),
    }
}

/// `text` with any occurrence of `url` or its password removed.
fn redact(text: &str, url: &str) -> String {
    let mut out = text.replace(url, "<database url>");
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(password) = parsed.password().filter(|p| !p.is_empty())
    {
        out = out.replace(password, "***");
    }
    out
}

/// One connection to the database at `url`.
pub async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let options = options(url)?;
    PgConnection::connect_with(&options).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot connect to {}: {}",
            describe_url(url),
            redact(&e.to_string(), url)
        )
    })
}

/// The newest migration this build knows.
pub fn known_schema_version() -> i64 {
    migrator().iter().map(|m| m.version).max().unwrap_or(0)
}

fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("migrations/postgres")
}

/// The newest migration applied to the database; `None` when it has no migrations table.
pub async fn schema_version(conn: &mut PgConnection) -> anyhow::Result<Option<i64>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(MIGRATIONS_TABLE)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(None);
    }
    let version: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut *conn)
            .await?;
    Ok(Some(version.unwrap_or(0)))
}

/// The tables of the current schema (the migrations table left out), parents before the
/// tables whose foreign keys point at them, then by name.
pub async fn tables(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c \
         WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind = 'r' \
         AND c.relname <> $1 ORDER BY c.relname",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT ch.relname::text, pa.relname::text FROM pg_constraint k \
         JOIN pg_class ch ON ch.oid = k.conrelid JOIN pg_class pa ON pa.oid = k.confrelid \
         WHERE k.contype = 'f' AND ch.relnamespace = to_regnamespace(current_schema())",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(parents_first(names, &edges))
}

/// Orders `names` so that every table comes after the tables it references (`edges`: child,
/// parent); self-references and cycles do not block (the rest keeps name order).
fn parents_first(names: Vec<String>, edges: &[(String, String)]) -> Vec<String> {
    let mut pending: BTreeSet<String> = names.iter().cloned().collect();
    let mut order = Vec::with_capacity(names.len());
    while !pending.is_empty() {
        let ready: Vec<String> = pending
            .iter()
            .filter(|t| {
                !edges
                    .iter()
                    .any(|(child, parent)| child == *t && parent != *t && pending.contains(parent))
            })
            .cloned()
            .collect();
        // A cycle: take the first remaining table as it is.
        let ready = if ready.is_empty() {
            vec![pending.iter().next().cloned().unwrap_or_default()]
        } else {
            ready
        };
        for t in ready {
            pending.remove(&t);
            order.push(t);
        }
    }
    order
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The columns of `table`, in order.
async fn columns(conn: &mut PgConnection, table: &str) -> anyhow::Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_attribute a \
         WHERE a.attrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1)) \
         AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?)
}

/// The rows of every table.
pub async fn row_counts(conn: &mut PgConnection) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for table in tables(conn).await? {
        let n: i64 = sqlx::query(&format!("SELECT count(*) FROM {}", quote(&table)))
            .fetch_one(&mut *conn)
            .await?
            .get(0);
        counts.insert(table, n.max(0) as u64);
    }
    Ok(counts)
}

/// One table copied out.
pub struct Copied {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
    pub file: PathBuf,
}

/// A consistent copy of the database: its schema version and every table in `scratch`.
pub struct Snapshot {
    pub schema_version: i64,
    pub tables: Vec<Copied>,
}

/// Copies every table of the database at `url` into files in `scratch`, in one read-only
/// snapshot. `progress` hears each table as it is done.
pub async fn snapshot(
    url: &str,
    scratch: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Snapshot> {
    let mut conn = connect(url).await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let Some(schema_version) = schema_version(&mut tx).await? else {
        bail!(
            "{} has no imgcloud schema (no migrations table): nothing to back up (is this the right database?)",
            describe_url(url)
        );
    };
    let names = tables(&mut tx).await?;
    // As pg_dump does: no table can be rewritten or truncated (by a migration, say) while it
    // is copied, which would make it read as empty in this snapshot.
    if !names.is_empty() {
        let list = names
            .iter()
            .map(|t| quote(t))
            .collect::<Vec<_>>()
            .join(", ");
        let lock = format!("LOCK TABLE {list} IN ACCESS SHARE MODE");
        sqlx::query(&lock)
            .persistent(false)
            .execute(&mut *tx)
            .await
            .context("cannot lock the tables for the snapshot")?;
    }
    let mut copied = Vec::new();
    for (i, table) in names.into_iter().enumerate() {
        let columns = columns(&mut tx, &table).await?;
        let list = columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let file = scratch.join(format!("table-{i}"));
        let mut out = tokio::io::BufWriter::new(
            tokio::fs::File::create(&file)
                .await
                .with_context(|| format!("cannot write {}", file.display()))?,
        );
        let mut stream = tx
            .copy_out_raw(&format!("COPY {} ({list}) TO STDOUT", quote(&table)))
            .await
            .with_context(|| format!("cannot copy table {table}"))?;
        let (mut rows, mut bytes) = (0u64, 0u64);
        while let Some(chunk) = stream
            .try_next()
            .await
            .with_context(|| format!("copying table {table}"))?
        {
            // Text format: one line per row (newlines inside values are escaped).
            rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            bytes += chunk.len() as u64;
            out.write_all(&chunk).await?;
        }
        drop(stream);
        out.flush().await?;
        progress(&format!("{table}: {rows} rows"));
        copied.push(Copied {
            table,
            columns,
            rows,
            bytes,
            file,
        });
    }
    tx.commit().await?;
    conn.close().await.ok();
    Ok(Snapshot {
        schema_version,
        tables: copied,
    })
}

/// Rows in a table's section (text `COPY` format: one line per row).
pub fn rows_in(section: &Path) -> anyhow::Result<u64> {
    use std::io::Read as _;
    let mut file = std::io::BufReader::new(std::fs::File::open(section)?);
    let mut buf = vec![0u8; 1 << 16];
    let mut rows = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(rows);
        }
        rows += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
}

/// What a restore found in its target before touching it.
pub struct Target {
    /// The target's schema version (`None`: no imgcloud schema yet).
    pub schema_version: Option<i64>,
    pub rows: BTreeMap<String, u64>,
}

/// Looks at the database a restore would write to: its schema version and the rows of every
/// table in its schema (imgcloud's or not).
pub async fn inspect(url: &str) -> anyhow::Result<Target> {
    let mut conn = connect(url).await?;
    let schema_version = schema_version(&mut conn).await?;
    let rows = row_counts(&mut conn).await?;
    conn.close().await.ok();
    Ok(Target {
        schema_version,
        rows,
    })
}

/// Loads checked sections (`table name → (columns, file)`) of a backup at `version` into the
/// database at `url`: migrates it to `version` first (its newer migrations after), then one
/// transaction replaces every table's rows. The target's schema must not be newer than the
/// backup's.
pub async fn load(
    url: &str,
    version: i64,
    sections: &BTreeMap<String, (Vec<String>, PathBuf)>,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<()> {
    let mut conn = connect(url).await?;
    match schema_version(&mut conn).await? {
        Some(current) if current > version => bail!(
            "{} is at schema version {current}, newer than the backup's ({version}): restore into an empty database (no tables) instead",
            describe_url(url)
        ),
        Some(_) => {}
        None => {
            let foreign = tables(&mut conn).await?;
            if !foreign.is_empty() {
                bail!(
                    "{} holds tables that are not imgcloud's ({}): restore into an empty database",
                    describe_url(url),
                    foreign.join(", ")
                );
            }
        }
    }
    let full = migrator();
    let up_to = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            full.iter()
                .filter(|m| m.version <= version)
                .cloned()
                .collect(),
        ),
        ..migrator()
    };
    up_to
        .run(&mut conn)
        .await
        .with_context(|| format!("migrating {} to schema {version}", describe_url(url)))?;

    let order = tables(&mut conn).await?;
    let known: BTreeSet<&String> = order.iter().collect();
    if let Some(extra) = sections.keys().find(|t| !known.contains(t)) {
        bail!(
            "the backup holds table {extra:?}, which imgcloud's schema {version} does not have (a table added to the database by hand?); restore into a database that has it"
        );
    }
    let mut tx = conn.begin().await?;
    let all = order
        .iter()
        .map(|t| quote(t))
        .collect::<Vec<_>>()
        .join(", ");
    if !order.is_empty() {
        // Sequences keep their place: advance_sequences moves them past both the target's
        // values and the backup's.
        sqlx::raw_sql(&format!("TRUNCATE {all}"))
            .execute(&mut *tx)
            .await
            .context("cannot empty the target's tables")?;
    }
    for table in &order {
        let Some((columns, file)) = sections.get(table) else {
            continue;
        };
        let list = columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        // Triggers (e.g. the auth epoch's) would write rows the backup already holds.
        sqlx::raw_sql(&format!(
            "ALTER TABLE {} DISABLE TRIGGER USER",
            quote(table)
        ))
        .execute(&mut *tx)
        .await?;
        let source = tokio::fs::File::open(file).await?;
        let mut copy = tx
            .copy_in_raw(&format!("COPY {} ({list}) FROM STDIN", quote(table)))
            .await
            .with_context(|| format!("cannot load table {table}"))?;
        copy.read_from(source)
            .await
            .with_context(|| format!("loading table {table}"))?;
        let rows = copy
            .finish()
            .await
            .with_context(|| format!("loading table {table}"))?;
        sqlx::raw_sql(&format!("ALTER TABLE {} ENABLE TRIGGER USER", quote(table)))
            .execute(&mut *tx)
            .await?;
        progress(&format!("{table}: {rows} rows"));
    }
    advance_sequences(&mut tx).await?;
    bump_auth_epoch(&mut tx).await?;
    tx.commit().await.context("cannot commit the restore")?;
    migrator()
        .run(&mut conn)
        .await
        .with_context(|| format!("migrating {} after the restore", describe_url(url)))?;
    conn.close().await.ok();
    Ok(())
}

/// How far the auth epoch jumps after a restore or a promotion: token lookups cached under the
/// lost database's epoch (which may be ahead of the copy's) are never trusted again.
pub const AUTH_EPOCH_GAP: i64 = 1_000_000;

/// Moves the auth epoch [`AUTH_EPOCH_GAP`] forward.
pub async fn bump_auth_epoch(conn: &mut PgConnection) -> anyhow::Result<()> {
    if sqlx::query_scalar::<_, bool>("SELECT to_regclass('auth_epoch') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?
    {
        sqlx::query("UPDATE auth_epoch SET value = value + $1")
            .bind(AUTH_EPOCH_GAP)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Moves every sequence of the schema (identity and serial columns) [`SEQUENCE_GAP`] past the
/// largest value its column holds. Returns `table.column → next value`.
pub async fn advance_sequences(conn: &mut PgConnection) -> anyhow::Result<BTreeMap<String, i64>> {
    let owned: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT t.relname::text, a.attname::text, s.oid::regclass::text \
         FROM pg_depend d \
         JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
         JOIN pg_class t ON t.oid = d.refobjid \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid \
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
         AND d.deptype IN ('a', 'i') AND t.relnamespace = to_regnamespace(current_schema()) \
         ORDER BY 1, 2",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut advanced = BTreeMap::new();
    for (table, column, sequence) in owned {
        let max: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT max({})::bigint FROM {}",
            quote(&column),
            quote(&table)
        ))
        .fetch_one(&mut *conn)
        .await?;
        let current: i64 = sqlx::query_scalar(&format!(
            "SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM {sequence}"
        ))
        .fetch_one(&mut *conn)
        .await?;
        let next = max.unwrap_or(0).max(current) + SEQUENCE_GAP;
        sqlx::query("SELECT setval($1::regclass, $2, false)")
            .bind(&sequence)
            .bind(next)
            .execute(&mut *conn)
            .await?;
        advanced.insert(format!("{table}.{column}"), next);
    }
    Ok(advanced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_come_after_the_tables_they_reference() {
        let names = [
            "album_images",
            "albums",
            "images",
            "shares",
            "tokens",
            "users",
        ]
        .map(String::from)
        .to_vec();
        let edge = |c: &str, p: &str| (c.to_string(), p.to_string());
        let edges = [
            edge("tokens", "users"),
            edge("images", "users"),
            edge("albums", "users"),
            edge("albums", "images"),
            edge("album_images", "albums"),
            edge("album_images", "images"),
            edge("shares", "albums"),
            edge("shares", "shares"),
        ];
        let order = parents_first(names, &edges);
        let at = |t: &str| order.iter().position(|x| x == t).unwrap();
        for (child, parent) in &edges {
            if child != parent {
                assert!(at(child) > at(parent), "{child} before {parent}: {order:?}");
            }
        }
        assert_eq!(order.len(), 6);
    }

    #[test]
    fn urls_and_passwords_are_kept_out_of_messages() {
        let url = "postgres://ann:s3cret-pw@db.example:5433/imgcloud";
        assert_eq!(
            describe_url(url),
            "database \"imgcloud\" on db.example:5433"
        );
        let said = redact(&format!("failed for {url} (password s3cret-pw)"), url);
        assert!(!said.contains("s3cret-pw"), "{said}");
    }
}
