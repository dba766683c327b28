//! `daemon.toml` changes applied without a restart: folders, concurrency, bandwidth limit,
//! rescan interval, `copy_links` and `notifications` take effect at once; a file that does not
//! parse is logged with the error and the previous settings stay.
//!
//! The file is polled (its mtime, size and inode every 2 s): editors replace files in many
//! ways and a poll sees them all.

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;

use imgcloud_core::daemon_config::DaemonConfig;

use super::Inner;
use super::folders::FolderCmd;

/// How often `daemon.toml` is looked at.
pub const POLL: Duration = Duration::from_secs(2);

/// What identifies a version of the file.
type Version = Option<(i64, i64, u64, u64)>;

fn version(path: &std::path::Path) -> Version {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.mtime(), m.mtime_nsec(), m.size(), m.ino()))
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let path = inner.dirs.daemon_config_file();
    let mut seen = version(&path);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = inner.stop.cancelled() => return,
        }
        let now = version(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let loaded = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || DaemonConfig::load(&path)).await
        };
        match loaded {
            Ok(Ok(config)) => apply(&inner, config),
            Ok(Err(e)) => tracing::error!("{e}; keeping the previous settings until it is fixed"),
            Err(e) => tracing::error!("cannot reload {}: {e}", path.display()),
        }
    }
}

/// Applies a new configuration (see the module docs for what needs a restart).
pub(crate) fn apply(inner: &Inner, new: DaemonConfig) {
    let old = inner.config();
    if old == new {
        return;
    }
    tracing::info!(
        "{} changed; applying it",
        inner.dirs.daemon_config_file().display()
    );
    if old.bandwidth_limit != new.bandwidth_limit {
        inner.set_bandwidth_limit(new.bandwidth_limit);
    }
    let folders_changed = old.folders != new.folders;
    let restart_needed: Vec<&str> = [
        ("backup", old.backup != new.backup),
        ("backup_dir", old.backup_dir != new.backup_dir),
        ("picgo", old.picgo != new.picgo),
        ("picgo_listen", old.picgo_listen != new.picgo_listen),
        (
            "follow_symlinks",
            old.follow_symlinks != new.follow_symlinks,
        ),
        ("settle_ms", old.settle_ms != new.settle_ms),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect();
    if !restart_needed.is_empty() {
        tracing::info!(
            "{} take effect at the next start of imgcloudd",
            restart_needed.join(", ")
        );
    }
    let folders = new.folders.clone();
    *inner.config.lock().unwrap_or_else(|e| e.into_inner()) = new;
    if folders_changed {
        let _ = inner.folder_cmds.send(FolderCmd::Apply(folders));
    }
    inner.kick();
}
