//! Periodic backups taken by the server itself (`[backup]` in its configuration; on by
//! default in the embedded cloud): a snapshot every `interval` into `dir`, then the
//! retention. The embedded cloud and SQLite deployments get their database copy this way;
//! with PostgreSQL, run `imgcloud-server backup` from one machine's timer instead (every
//! replica would take its own otherwise).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::retention::Retention;

/// `[backup]`: where and how often.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BackupSchedule {
    /// Directory of the backups (created if missing, private to its owner).
    pub dir: PathBuf,
    /// Time between two backups (default 24 h).
    #[serde(default = "default_interval", with = "crate::config::duration")]
    pub interval: Duration,
    /// Keep the newest backup of each of the last N days (default 7).
    #[serde(default = "default_daily")]
    pub keep_daily: usize,
    /// Keep the newest backup of each of the last N ISO weeks (default 4).
    #[serde(default = "default_weekly")]
    pub keep_weekly: usize,
}

fn default_interval() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_daily() -> usize {
    Retention::default().daily
}
fn default_weekly() -> usize {
    Retention::default().weekly
}

impl BackupSchedule {
    /// Daily into `dir`, 7 daily and 4 weekly kept.
    pub fn daily(dir: PathBuf) -> Self {
        Self {
            dir,
            interval: default_interval(),
            keep_daily: default_daily(),
            keep_weekly: default_weekly(),
        }
    }
}

/// Longest wait for the first backup when the directory has none: a server that restarts
/// more often than its interval still takes backups.
const FIRST_WITHIN: Duration = Duration::from_secs(3600);
/// After a failure, the next try comes this soon (or at the interval, if shorter).
const RETRY_AFTER: Duration = Duration::from_secs(600);

/// How long to wait for the next backup: `interval` after the newest one, now if that is
/// past; without any, `interval` or [`FIRST_WITHIN`] after `started`, whichever is sooner.
pub fn wait_for_next(
    newest: Option<OffsetDateTime>,
    started: OffsetDateTime,
    now: OffsetDateTime,
    interval: Duration,
) -> Duration {
    let due = match newest {
        Some(at) => at + interval,
        None => started + interval.min(FIRST_WITHIN),
    };
    let wait = due - now;
    if wait.is_negative() {
        Duration::ZERO
    } else {
        wait.unsigned_abs()
    }
}

/// Takes a backup of `database_url` every `schedule.interval` until `stop` resolves.
pub async fn run(
    database_url: String,
    schedule: BackupSchedule,
    stop: impl std::future::Future<Output = ()>,
) {
    let started = OffsetDateTime::now_utc();
    tracing::info!(
        dir = %schedule.dir.display(),
        interval = ?schedule.interval,
        "periodic database backups on"
    );
    let work = async {
        let mut failed = false;
        loop {
            let wait = if failed {
                RETRY_AFTER.min(schedule.interval)
            } else {
                let newest = super::list(&schedule.dir)
                    .ok()
                    .and_then(|l| l.first().map(|b| b.created_at));
                wait_for_next(
                    newest,
                    started,
                    OffsetDateTime::now_utc(),
                    schedule.interval,
                )
            };
            tokio::time::sleep(wait).await;
            failed = !take_one(&database_url, &schedule).await;
        }
    };
    tokio::select! {
        () = work => {}
        () = stop => {}
    }
}

/// One backup and the retention; false when it failed (logged).
async fn take_one(database_url: &str, schedule: &BackupSchedule) -> bool {
    match super::create(database_url, &schedule.dir, &|_| {}).await {
        Ok(created) => {
            tracing::info!(
                path = %created.path.display(),
                bytes = created.file_bytes,
                seconds = created.elapsed.as_secs_f64(),
                "database backup taken: {}",
                super::summary(&created.manifest)
            );
            let retention = Retention {
                daily: schedule.keep_daily,
                weekly: schedule.keep_weekly,
            };
            match super::list(&schedule.dir) {
                Ok(listed) => {
                    for old in super::retention::expired(&listed, retention) {
                        match std::fs::remove_file(&old.path) {
                            Ok(()) => {
                                tracing::info!(path = %old.path.display(), "old backup removed (retention)")
                            }
                            Err(e) => {
                                tracing::warn!(path = %old.path.display(), "cannot remove an old backup: {e}")
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!("cannot list the backups: {e:#}"),
            }
            true
        }
        Err(e) => {
            tracing::error!(dir = %schedule.dir.display(), "database backup failed: {e:#}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_backup_comes_an_interval_after_the_newest() {
        let now = OffsetDateTime::now_utc();
        let day = Duration::from_secs(86_400);
        let hour = Duration::from_secs(3600);
        // The newest is 20 h old: 4 h to go.
        assert_eq!(
            wait_for_next(Some(now - hour * 20), now, now, day),
            hour * 4
        );
        // Overdue: now.
        assert_eq!(
            wait_for_next(Some(now - day * 3), now, now, day),
            Duration::ZERO
        );
        // None yet: within the hour of the start, or the interval when shorter.
        assert_eq!(wait_for_next(None, now, now, day), hour);
        assert_eq!(
            wait_for_next(None, now, now, Duration::from_secs(5)),
            Duration::from_secs(5)
        );
    }

    #[tokio::test]
    async fn the_server_takes_backups_and_drops_those_beyond_the_retention() {
        use crate::store::Store as _;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.db");
        let store = crate::store::sqlite::SqliteStore::open_path(&db)
            .await
            .unwrap();
        store.create_user("ann").await.unwrap();
        let backups = dir.path().join("backups");
        std::fs::create_dir_all(&backups).unwrap();
        // An older backup; the retention keeps the newest day only.
        let old = backups.join("imgcloud-sqlite-20001001T000000Z.backup");
        std::fs::write(&old, b"old").unwrap();
        let schedule = BackupSchedule {
            dir: backups.clone(),
            interval: Duration::from_millis(300),
            keep_daily: 1,
            keep_weekly: 0,
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(format!("sqlite://{}", db.display()), schedule, async {
            let _ = stop_rx.await;
        }));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let taken = loop {
            let listed = super::super::list(&backups).unwrap();
            if !old.exists() && listed.len() == 1 {
                break listed[0].path.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no backup: {listed:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        stop_tx.send(()).unwrap();
        task.await.unwrap();
        let manifest = super::super::verify(&taken).await.unwrap();
        assert_eq!(manifest.tables["users"], 1);
    }
}
