//! A self-managed standby that follows the primary PostgreSQL through logical replication:
//! `imgcloud-server standby setup|status|promote`.
//!
//! The primary publishes every table (publication `imgcloud_standby`); the standby, whose
//! schema comes from our own migrations, subscribes to it (subscription and replication slot
//! `imgcloud_standby`). Promotion drops the subscription and advances the sequences past the
//! last value used, after which the replicas can point at the standby.
//!
//! Sequences, schema changes and [`NOT_REPLICATED`] tables do not travel: migrations run on
//! both sides (`standby setup` again after an upgrade adds new tables), and promotion takes
//! care of the sequences.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Serialize;
use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Row as _};

use crate::backup::postgres::{self as pg, describe_url};

/// The publication (on the primary), the subscription (on the standby) and its replication
/// slot (on the primary) all carry this name.
pub const NAME: &str = "imgcloud_standby";

/// Tables that stay behind: failed-login records are short-lived and have no primary key
/// (which UPDATE and DELETE replication would need).
pub const NOT_REPLICATED: &[&str] = &["login_failures"];

/// How long `setup` waits for the standby's first copy of every table.
pub const INITIAL_COPY_TIMEOUT: Duration = Duration::from_secs(1800);

/// What `setup` did.
#[derive(Debug)]
pub struct SetupReport {
    /// Tables replicated.
    pub tables: Vec<String>,
    /// Whether a subscription existed already (a refresh, e.g. after an upgrade).
    pub refreshed: bool,
    pub elapsed: Duration,
}

async fn replicated_tables(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    Ok(pg::tables(conn)
        .await?
        .into_iter()
        .filter(|t| !NOT_REPLICATED.contains(&t.as_str()))
        .collect())
}

fn table_list(tables: &[String]) -> String {
    tables
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn is_superuser(conn: &mut PgConnection) -> anyhow::Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Sets up (or refreshes) replication from `primary_url` to `standby_url`. The primary must
/// run with `wal_level = logical` and its role must be allowed to replicate; the standby's
/// role must be allowed to create subscriptions (a superuser before PostgreSQL 16). The
/// standby database must hold no users the first time. Waits for the first copy of every
/// table, telling `progress` how far it is.
pub async fn setup(
    primary_url: &str,
    standby_url: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<SetupReport> {
    let started = Instant::now();
    let primary_name = describe_url(primary_url);
    let standby_name = describe_url(standby_url);
    if primary_name == standby_name {
        bail!("the primary and the standby are the same database ({primary_name})");
    }
    let mut primary = pg::connect(primary_url).await?;
    let wal_level: String = sqlx::query_scalar("SHOW wal_level")
        .fetch_one(&mut primary)
        .await?;
    if wal_level != "logical" {
        bail!(
            "the primary ({primary_name}) runs with wal_level = {wal_level}: set wal_level = logical \
             (on a managed database, its logical replication setting) and restart it"
        );
    }
    let may_replicate: bool = sqlx::query_scalar(
        "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut primary)
    .await?;
    if !may_replicate {
        bail!(
            "the primary's role may not replicate: ALTER ROLE … REPLICATION (or the managed \
             database's replication role) for the user in the primary's URL"
        );
    }
    let known = pg::known_schema_version();
    match pg::schema_version(&mut primary).await? {
        Some(v) if v == known => {}
        Some(v) => bail!(
            "the primary ({primary_name}) is at schema version {v} and this imgcloud-server at {known}: run the same version as the replicas"
        ),
        None => bail!("the primary ({primary_name}) has no imgcloud schema (wrong database?)"),
    }
    let tables = replicated_tables(&mut primary).await?;
    let without_key: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c \
         WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind = 'r' \
         AND c.relname = ANY($1) AND c.relreplident = 'd' \
         AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)",
    )
    .bind(&tables)
    .fetch_all(&mut primary)
    .await?;
    if !without_key.is_empty() {
        bail!(
            "tables without a primary key cannot be replicated: {}",
            without_key.join(", ")
        );
    }
    let published: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
            .bind(NAME)
            .fetch_one(&mut primary)
            .await?;
    let statement = if published {
        format!("ALTER PUBLICATION {NAME} SET TABLE {}", table_list(&tables))
    } else {
        format!(
            "CREATE PUBLICATION {NAME} FOR TABLE {}",
            table_list(&tables)
        )
    };
    sqlx::raw_sql(&statement)
        .execute(&mut primary)
        .await
        .context("cannot publish the tables on the primary (does its role own them?)")?;
    progress(&format!(
        "primary: publication {NAME} of {} tables",
        tables.len()
    ));

    let mut standby = pg::connect(standby_url).await?;
    sqlx::migrate!("migrations/postgres")
        .run(&mut standby)
        .await
        .with_context(|| format!("migrating the standby ({standby_name})"))?;
    let subscribed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1)")
            .bind(NAME)
            .fetch_one(&mut standby)
            .await?;
    if subscribed {
        // Tables new since the last setup (an upgrade): rows the standby's migrations seeded
        // there would clash with their first copy from the primary.
        let followed: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_subscription_rel r \
             JOIN pg_subscription s ON s.oid = r.srsubid JOIN pg_class c ON c.oid = r.srrelid \
             WHERE s.subname = $1",
        )
        .bind(NAME)
        .fetch_all(&mut standby)
        .await?;
        let new: Vec<String> = tables
            .iter()
            .filter(|t| !followed.contains(t))
            .cloned()
            .collect();
        if !new.is_empty() {
            sqlx::raw_sql(&format!("TRUNCATE {}", table_list(&new)))
                .execute(&mut standby)
                .await?;
            progress(&format!("standby: new tables {}", new.join(", ")));
        }
        sqlx::raw_sql(&format!("ALTER SUBSCRIPTION {NAME} REFRESH PUBLICATION"))
            .execute(&mut standby)
            .await
            .context("cannot refresh the standby's subscription")?;
        progress("standby: subscription refreshed");
    } else {
        let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&mut standby)
            .await?;
        if users > 0 {
            bail!(
                "the standby ({standby_name}) already holds {users} users: a standby starts from an empty database"
            );
        }
        if !is_superuser(&mut standby).await? {
            let version: i32 = sqlx::query_scalar("SHOW server_version_num")
                .fetch_one(&mut standby)
                .await
                .map(|v: String| v.parse().unwrap_or(0))?;
            if version < 160000 {
                bail!(
                    "the standby's role is not a superuser: PostgreSQL before 16 lets only a \
                     superuser create a subscription (the standby is self-managed: use its \
                     superuser, or a role with pg_create_subscription on 16 and later)"
                );
            }
        }
        // Rows the migrations seeded (e.g. the auth epoch) come from the primary instead.
        sqlx::raw_sql(&format!("TRUNCATE {}", table_list(&tables)))
            .execute(&mut standby)
            .await?;
        // A slot of an earlier, abandoned standby would block the name.
        let stale: Option<bool> =
            sqlx::query_scalar("SELECT active FROM pg_replication_slots WHERE slot_name = $1")
                .bind(NAME)
                .fetch_optional(&mut primary)
                .await?;
        match stale {
            Some(true) => {
                bail!("another standby follows the primary (its replication slot {NAME} is in use)")
            }
            Some(false) => {
                sqlx::query("SELECT pg_drop_replication_slot($1)")
                    .bind(NAME)
                    .execute(&mut primary)
                    .await
                    .context("cannot drop the primary's unused replication slot")?;
                progress(&format!("primary: dropped the unused slot {NAME}"));
            }
            None => {}
        }
        // The statement holds the primary's password: keep it out of the standby's server log
        // (logged on error by default). Superusers may change these for their session; for
        // others the defaults stay (PostgreSQL 16's pg_create_subscription roles).
        for setting in [
            "SET log_min_error_statement = panic",
            "SET log_statement = 'none'",
        ] {
            let _ = sqlx::raw_sql(setting).execute(&mut standby).await;
        }
        // The connection string is the primary's URL as the standby's server reaches it.
        let conninfo = primary_url.replace('\'', "''");
        sqlx::raw_sql(&format!(
            "CREATE SUBSCRIPTION {NAME} CONNECTION '{conninfo}' PUBLICATION {NAME}"
        ))
        .execute(&mut standby)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot subscribe the standby to the primary (can the standby's server reach \
                 {primary_name}?): {}",
                e.to_string().replace(primary_url, "<primary url>")
            )
        })?;
        progress(&format!("standby: subscription {NAME} created"));
    }
    primary.close().await.ok();

    // The first copy of each table, then the standby is caught up.
    let deadline = Instant::now() + INITIAL_COPY_TIMEOUT;
    let mut said = String::new();
    loop {
        let (ready, total): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE r.srsubstate = 'r'), count(*) \
             FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid \
             WHERE s.subname = $1",
        )
        .bind(NAME)
        .fetch_one(&mut standby)
        .await?;
        let line = format!("standby: {ready} of {total} tables copied");
        if line != said {
            progress(&line);
            said = line;
        }
        if total > 0 && ready == total {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the standby has not copied every table after {} s; `imgcloud-server standby status` shows how far it is",
                INITIAL_COPY_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    standby.close().await.ok();
    Ok(SetupReport {
        tables,
        refreshed: subscribed,
        elapsed: started.elapsed(),
    })
}

/// How far the standby is behind, as the primary sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Lag {
    /// Whether the standby is connected (its slot is in use).
    pub connected: bool,
    /// WAL the standby has not confirmed yet.
    pub bytes: i64,
    /// Time between a change on the primary and its replay on the standby (the last one
    /// measured; 0 when nothing is pending).
    pub seconds: Option<f64>,
}

/// The standby's lag, read on the primary; `None` when no standby was set up.
pub async fn lag(conn: &mut PgConnection) -> anyhow::Result<Option<Lag>> {
    let row = sqlx::query(
        "SELECT s.active, \
           COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::bigint, \
           (SELECT EXTRACT(epoch FROM r.replay_lag)::float8 FROM pg_stat_replication r \
              WHERE r.pid = s.active_pid) \
         FROM pg_replication_slots s WHERE s.slot_name = $1",
    )
    .bind(NAME)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|row| {
        let bytes: i64 = row.get::<i64, _>(1).max(0);
        let seconds: Option<f64> = row.get(2);
        Lag {
            connected: row.get(0),
            bytes,
            seconds: if bytes == 0 { Some(0.0) } else { seconds },
        }
    }))
}

/// `imgcloud_standby_connected`, `imgcloud_standby_lag_bytes` and
/// `imgcloud_standby_lag_seconds` for `/metrics`.
pub fn render_metrics(lag: &Lag) -> String {
    let mut out = String::new();
    out.push_str("# HELP imgcloud_standby_connected Whether the standby follows (its replication slot is in use).\n");
    out.push_str("# TYPE imgcloud_standby_connected gauge\n");
    out.push_str(&format!(
        "imgcloud_standby_connected {}\n",
        u8::from(lag.connected)
    ));
    out.push_str("# HELP imgcloud_standby_lag_bytes WAL the standby has not confirmed yet.\n");
    out.push_str("# TYPE imgcloud_standby_lag_bytes gauge\n");
    out.push_str(&format!("imgcloud_standby_lag_bytes {}\n", lag.bytes));
    if let Some(seconds) = lag.seconds {
        out.push_str("# HELP imgcloud_standby_lag_seconds Time from a change on the primary to its replay on the standby.\n");
        out.push_str("# TYPE imgcloud_standby_lag_seconds gauge\n");
        out.push_str(&format!("imgcloud_standby_lag_seconds {seconds}\n"));
    }
    out
}

/// The rows of one table on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct TableRows {
    pub table: String,
    pub primary: Option<u64>,
    pub standby: u64,
    /// Both sides hold as many rows (unknown without the primary).
    pub matches: Option<bool>,
}

/// `standby status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Whether the standby still follows a primary (it has the subscription).
    pub following: bool,
    /// Whether the subscription is enabled.
    pub enabled: bool,
    /// The last WAL position the standby applied and reported, and when.
    pub last_applied_lsn: Option<String>,
    pub last_applied_at: Option<String>,
    /// Seen from the primary (when it was given and answered).
    pub lag: Option<Lag>,
    /// Why the primary could not be asked, when it could not.
    pub primary_error: Option<String>,
    pub tables: Vec<TableRows>,
    /// Every table holds as many rows on both sides.
    pub rows_match: Option<bool>,
}

/// Reads the standby's state and, when `primary_url` is given, the lag and the primary's rows.
pub async fn status(primary_url: Option<&str>, standby_url: &str) -> anyhow::Result<Status> {
    let mut standby = pg::connect(standby_url).await?;
    let sub = sqlx::query(
        "SELECT s.subenabled, st.latest_end_lsn::text, \
           to_char(st.latest_end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') \
         FROM pg_subscription s LEFT JOIN pg_stat_subscription st \
           ON st.subid = s.oid AND st.relid IS NULL \
         WHERE s.subname = $1",
    )
    .bind(NAME)
    .fetch_optional(&mut standby)
    .await?;
    let standby_rows = pg::row_counts(&mut standby).await?;
    standby.close().await.ok();

    let mut lag_seen = None;
    let mut primary_rows = None;
    let mut primary_error = None;
    if let Some(url) = primary_url {
        let asked = async {
            let mut conn = tokio::time::timeout(Duration::from_secs(5), pg::connect(url))
                .await
                .map_err(|_| {
                    anyhow::anyhow!("{} did not answer within 5 s", describe_url(url))
                })??;
            let lag = lag(&mut conn).await?;
            let rows = pg::row_counts(&mut conn).await?;
            conn.close().await.ok();
            anyhow::Ok((lag, rows))
        };
        match asked.await {
            Ok((lag, rows)) => {
                lag_seen = lag;
                primary_rows = Some(rows);
            }
            Err(e) => primary_error = Some(format!("{e:#}")),
        }
    }
    // Tables of either side: one only the primary has (not set up since an upgrade) differs.
    let mut names: Vec<&String> = standby_rows.keys().collect();
    if let Some(primary) = &primary_rows {
        names.extend(primary.keys().filter(|t| !standby_rows.contains_key(*t)));
    }
    names.sort();
    let tables: Vec<TableRows> = names
        .into_iter()
        .filter(|t| !NOT_REPLICATED.contains(&t.as_str()))
        .map(|table| {
            let standby = standby_rows.get(table).copied();
            let primary = primary_rows.as_ref().map(|p| p.get(table).copied());
            TableRows {
                table: table.clone(),
                primary: primary.flatten(),
                standby: standby.unwrap_or(0),
                matches: primary.map(|p| p.is_some() && p == standby),
            }
        })
        .collect();
    let rows_match = primary_rows
        .as_ref()
        .map(|_| tables.iter().all(|t| t.matches == Some(true)));
    Ok(Status {
        following: sub.is_some(),
        enabled: sub.as_ref().is_some_and(|r| r.get(0)),
        last_applied_lsn: sub.as_ref().and_then(|r| r.get(1)),
        last_applied_at: sub.as_ref().and_then(|r| r.get(2)),
        lag: lag_seen,
        primary_error,
        tables,
        rows_match,
    })
}

/// What `promote` did.
#[derive(Debug, Serialize)]
pub struct Promoted {
    /// Whether a subscription was dropped (false: it was promoted before).
    pub was_following: bool,
    /// `table.column → next value` of every sequence.
    pub sequences: BTreeMap<String, i64>,
    pub rows: BTreeMap<String, u64>,
    /// Whether the old primary's replication slot was dropped too (it was reachable).
    pub dropped_primary_slot: bool,
}

/// Makes the standby a primary: stops following (the subscription goes, without touching the
/// primary, which may be gone) and advances every sequence past the last value used. When
/// `primary_url` answers, its replication slot is dropped too, so it stops keeping WAL.
pub async fn promote(
    standby_url: &str,
    primary_url: Option<&str>,
    force: bool,
) -> anyhow::Result<Promoted> {
    let mut standby = pg::connect(standby_url).await?;
    let subscribed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1)")
            .bind(NAME)
            .fetch_one(&mut standby)
            .await?;
    if subscribed && !force {
        let copying: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_subscription_rel r \
             JOIN pg_subscription s ON s.oid = r.srsubid JOIN pg_class c ON c.oid = r.srrelid \
             WHERE s.subname = $1 AND r.srsubstate <> 'r' ORDER BY 1",
        )
        .bind(NAME)
        .fetch_all(&mut standby)
        .await?;
        if !copying.is_empty() {
            bail!(
                "the standby has not finished its first copy of {} (see `standby status`): promoting it now loses their rows; wait, or pass --force",
                copying.join(", ")
            );
        }
    }
    if subscribed {
        for statement in [
            format!("ALTER SUBSCRIPTION {NAME} DISABLE"),
            format!("ALTER SUBSCRIPTION {NAME} SET (slot_name = NONE)"),
            format!("DROP SUBSCRIPTION {NAME}"),
        ] {
            sqlx::raw_sql(&statement)
                .execute(&mut standby)
                .await
                .with_context(|| format!("promoting the standby: {statement}"))?;
        }
    }
    let mut tx = standby.begin().await?;
    let sequences = pg::advance_sequences(&mut tx).await?;
    pg::bump_auth_epoch(&mut tx).await?;
    tx.commit().await?;
    let rows = pg::row_counts(&mut standby).await?;
    standby.close().await.ok();
    let mut dropped_primary_slot = false;
    if let Some(url) = primary_url
        && let Ok(Ok(mut conn)) =
            tokio::time::timeout(Duration::from_secs(3), pg::connect(url)).await
    {
        dropped_primary_slot = sqlx::query(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
             WHERE slot_name = $1 AND NOT active",
        )
        .bind(NAME)
        .fetch_optional(&mut conn)
        .await
        .ok()
        .flatten()
        .is_some();
        conn.close().await.ok();
    }
    Ok(Promoted {
        was_following: subscribed,
        sequences,
        rows,
        dropped_primary_slot,
    })
}
