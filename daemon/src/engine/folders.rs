//! Watching and scanning: how files enter the queue.
//!
//! Watcher events: `Closed` → taken now (stat, queue); `Changed` → the settler, taken once its
//! size and mtime stayed put for `settle_ms`; `DirAppeared` → that directory is walked;
//! `Removed` → unfinished work on it is forgotten; `Rescan` → full rescan. A full rescan runs
//! at start, on `Rescan`, on request and every `rescan_interval_secs` (±10 %), or every 60 s
//! when live watching is incomplete (inotify limits). A rescan compares what it finds with
//! the queue in memory and records only new and changed files, so a restart with many
//! unchanged files is quick.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use imgcloud_core::daemon_api::{Event, WatchedFolder};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{FolderRt, Inner};
use crate::queue::{FileStat, Known, Observed, QueueError};
use crate::scan::scan;
use crate::watch::{Settler, WatchError, WatchEvent, Watcher};

/// Full rescans this often while live watching is incomplete.
pub const DEGRADED_RESCAN: Duration = Duration::from_secs(60);
/// Files recorded in one queue transaction.
const OBSERVE_CHUNK: usize = 2000;
/// Watcher events handled together.
const EVENT_BATCH: usize = 4096;

/// What the rest of the engine asks of the folder task.
#[derive(Debug)]
pub(crate) enum FolderCmd {
    /// A full rescan of every folder now.
    RescanAll,
    /// The watched folders are now these (added, removed or changed ones are handled).
    Apply(Vec<WatchedFolder>),
}

/// When the next periodic rescan is due: `interval_secs` (0: never) jittered by ±10 %
/// (`jitter` in `[-1, 1]`), at most [`DEGRADED_RESCAN`] while watching is degraded.
pub fn rescan_delay(interval_secs: u64, degraded: bool, jitter: f64) -> Option<Duration> {
    let base = match (interval_secs, degraded) {
        (0, false) => return None,
        (0, true) => DEGRADED_RESCAN,
        (secs, true) => Duration::from_secs(secs).min(DEGRADED_RESCAN),
        (secs, false) => Duration::from_secs(secs),
    };
    Some(base.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0)))
}

struct Folders {
    inner: Arc<Inner>,
    watcher: Option<Watcher>,
    settler: Settler,
    rewalks: Rewalks,
}

/// A directory that appeared is walked at once and once more [`REWALK_NEW_DIR_AFTER`] later.
/// The watcher reports a new directory before it has put a watch on it (notify adds the
/// watches of a batch after handing out its events), so a file created in between gives no
/// event, and the first walk can come too early to see it: `cp -al` of 1,000 photos into a
/// watched folder once lost the first 154 that way. The second walk picks them up.
pub const REWALK_NEW_DIR_AFTER: Duration = Duration::from_secs(1);

/// New directories waiting for their second walk.
#[derive(Debug, Default)]
struct Rewalks {
    due: Vec<(std::time::Instant, PathBuf)>,
}

impl Rewalks {
    fn add(&mut self, dir: PathBuf, now: std::time::Instant) {
        if !self.due.iter().any(|(_, d)| *d == dir) {
            self.due.push((now + REWALK_NEW_DIR_AFTER, dir));
        }
    }

    fn next_deadline(&self) -> Option<std::time::Instant> {
        self.due.iter().map(|(at, _)| *at).min()
    }

    /// The directories due at `now`, in the order they appeared.
    fn take_due(&mut self, now: std::time::Instant) -> Vec<PathBuf> {
        let (due, later): (Vec<_>, Vec<_>) = self.due.drain(..).partition(|(at, _)| *at <= now);
        self.due = later;
        due.into_iter().map(|(_, dir)| dir).collect()
    }
}

pub(crate) async fn run(
    inner: Arc<Inner>,
    mut cmds: mpsc::UnboundedReceiver<FolderCmd>,
    ready: oneshot::Sender<()>,
) {
    let config = inner.config();
    let (tx, mut events) = mpsc::unbounded_channel();
    let watcher = match Watcher::with_follow_symlinks(tx, config.follow_symlinks) {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            note_watch_error(&inner, &e);
            None
        }
    };
    let mut me = Folders {
        inner: inner.clone(),
        watcher,
        settler: Settler::new(Duration::from_millis(config.settle_ms)),
        rewalks: Rewalks::default(),
    };
    // What the queue knows is read while the watches are set up: both take a while with a
    // large library, and the first scan needs both.
    let known = inner.db(|q| q.known());
    for folder in inner.folder_list() {
        me.watch(&folder.folder);
    }
    let _ = ready.send(());

    me.full_rescan_with(known.await).await;
    let mut next_rescan = me.schedule_rescan();
    loop {
        if let Some(warning) = me.watcher.as_ref().and_then(Watcher::warning)
            && set_watch_warning(&inner, &warning)
        {
            next_rescan = me.schedule_rescan();
        }
        let settle_at = me.settler.next_deadline().map(Instant::from_std);
        let rewalk_at = me.rewalks.next_deadline().map(Instant::from_std);
        let far = Instant::now() + Duration::from_secs(24 * 3600);
        tokio::select! {
            event = events.recv(), if me.watcher.is_some() => {
                let Some(event) = event else {
                    me.watcher = None;
                    continue;
                };
                let mut batch = vec![event];
                while batch.len() < EVENT_BATCH {
                    match events.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                me.handle(batch).await;
            }
            cmd = cmds.recv() => match cmd {
                None => break,
                Some(FolderCmd::RescanAll) => me.full_rescan().await,
                Some(FolderCmd::Apply(list)) => me.apply(list).await,
            },
            _ = tokio::time::sleep_until(settle_at.unwrap_or(far)), if settle_at.is_some() => {
                let ready = me.settler.ready(std::time::Instant::now());
                me.take(ready).await;
            }
            _ = tokio::time::sleep_until(rewalk_at.unwrap_or(far)), if rewalk_at.is_some() => {
                for dir in me.rewalks.take_due(std::time::Instant::now()) {
                    if let Some(folder) = me.inner.folder_of(&dir).filter(|f| f.folder.recursive) {
                        me.scan_dir(folder, dir, None).await;
                    }
                }
            }
            _ = tokio::time::sleep_until(next_rescan.unwrap_or(far)), if next_rescan.is_some() => {
                me.full_rescan().await;
                next_rescan = me.schedule_rescan();
            }
            _ = inner.stop.cancelled() => break,
        }
    }
}

impl Folders {
    fn schedule_rescan(&self) -> Option<Instant> {
        let degraded = self.watcher.is_none() || self.inner.events.book().watch_warning.is_some();
        let jitter = rand::random::<f64>() * 2.0 - 1.0;
        rescan_delay(self.inner.config().rescan_interval_secs, degraded, jitter)
            .map(|d| Instant::now() + d)
    }

    fn watch(&mut self, folder: &WatchedFolder) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        if let Err(e) = watcher.watch(&folder.path, folder.recursive) {
            note_watch_error(&self.inner, &e);
        }
    }

    async fn handle(&mut self, batch: Vec<WatchEvent>) {
        let now = std::time::Instant::now();
        let mut take = Vec::new();
        let mut dirs = Vec::new();
        let mut removed = Vec::new();
        let mut rescan = false;
        for event in batch {
            match event {
                WatchEvent::Closed(path) => {
                    self.settler.forget(&path);
                    take.push(path);
                }
                WatchEvent::Changed(path) => {
                    if let Some(folder) = self.inner.folder_of(&path)
                        && !folder.filter.is_ignored(&path, false)
                    {
                        self.settler.touch(path, now);
                    }
                }
                WatchEvent::DirAppeared(dir) => dirs.push(dir),
                WatchEvent::Removed(path) => {
                    self.settler.forget_under(&path);
                    self.settler.forget(&path);
                    removed.push(path);
                }
                WatchEvent::Rescan => rescan = true,
            }
        }
        // Removals first: the takes look at what is on disk now, so a file removed and
        // created again within the batch is still taken.
        for path in removed {
            let owned = path.clone();
            if let Err(e) = self.inner.db(move |q| q.forget(&owned)).await {
                tracing::error!(path = %path.display(), "cannot update the queue: {e}");
            }
        }
        self.take(take).await;
        for dir in dirs {
            if let Some(folder) = self.inner.folder_of(&dir).filter(|f| f.folder.recursive) {
                self.scan_dir(folder, dir.clone(), None).await;
                self.rewalks.add(dir, std::time::Instant::now());
            }
        }
        if rescan {
            tracing::info!("the file watcher lost events; rescanning every folder");
            self.full_rescan().await;
        }
    }

    /// Records these files (stable now) when they belong to a folder and are not ignored.
    async fn take(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        let folders = self.inner.folder_list();
        let follow = self.inner.config().follow_symlinks;
        let items = tokio::task::spawn_blocking(move || {
            let mut seen = HashSet::new();
            paths
                .into_iter()
                .filter(|p| seen.insert(p.clone()))
                .filter_map(|path| {
                    let folder = folders
                        .iter()
                        .filter(|f| f.contains(&path))
                        .max_by_key(|f| f.folder.path.components().count())?;
                    if folder.filter.is_ignored(&path, false) {
                        return None;
                    }
                    let stat = regular_file_stat(&path, follow)?;
                    Some((path, Some(folder.folder.path.clone()), stat))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        observe(&self.inner, items).await;
    }

    async fn full_rescan(&mut self) {
        let known = self.inner.db(|q| q.known()).await;
        self.full_rescan_with(known).await;
    }

    /// A full rescan, given what the queue knew when it started.
    async fn full_rescan_with(&mut self, known: Result<Known, QueueError>) {
        self.inner.events.book().scans_running += 1;
        let started = std::time::Instant::now();
        let known = match known {
            Ok(known) => Some(Arc::new(known)),
            Err(e) => {
                tracing::error!("cannot read the queue: {e}");
                None
            }
        };
        let mut files = 0;
        let mut queued = 0;
        for folder in self.inner.folder_list() {
            let dir = folder.folder.path.clone();
            let (f, q) = self.scan_dir(folder, dir, known.clone()).await;
            files += f;
            queued += q;
        }
        drop(known);
        {
            let mut book = self.inner.events.book();
            book.scans_running -= 1;
            book.last_scan_at = Some(OffsetDateTime::now_utc());
        }
        tracing::info!(
            files,
            queued,
            "full scan done in {:.2} s",
            started.elapsed().as_secs_f64()
        );
        self.inner.kick();
    }

    /// Walks `dir` of `folder`; records new and changed files (compared with `known` when
    /// given, else every file is handed to the queue, which tells). Returns (files, queued).
    async fn scan_dir(
        &mut self,
        folder: Arc<FolderRt>,
        dir: PathBuf,
        known: Option<Arc<Known>>,
    ) -> (u64, u64) {
        self.inner.events.book().scans_running += 1;
        self.inner.events.send(Event::ScanStarted {
            folder: dir.clone(),
        });
        let follow = self.inner.config().follow_symlinks;
        let root = folder.folder.path.clone();
        let scan_dir = dir.clone();
        let result = tokio::task::spawn_blocking(move || {
            let result = scan(&scan_dir, &folder.filter, folder.folder.recursive, follow);
            let total = result.files.len() as u64;
            let items: Vec<_> = result
                .files
                .into_iter()
                .filter(|f| {
                    known
                        .as_ref()
                        .is_none_or(|k| k.get(&f.path) != Some(&f.stat))
                })
                .map(|f| (f.path, Some(root.clone()), f.stat))
                .collect();
            (total, items, result.errors)
        })
        .await;
        let (files, items, errors) = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(dir = %dir.display(), "scan failed: {e}");
                (0, Vec::new(), Vec::new())
            }
        };
        for (path, reason) in errors.iter().take(5) {
            tracing::warn!(path = %path.display(), "cannot scan: {reason}");
        }
        if errors.len() > 5 {
            tracing::warn!(dir = %dir.display(), "{} more paths could not be scanned", errors.len() - 5);
        }
        let queued = observe(&self.inner, items).await;
        self.inner.events.send(Event::ScanFinished {
            folder: dir,
            files,
            queued,
        });
        self.inner.events.book().scans_running -= 1;
        (files, queued)
    }

    /// Applies a new list of folders: unwatches removed ones (forgetting their unfinished
    /// work), watches and scans added or changed ones.
    async fn apply(&mut self, list: Vec<WatchedFolder>) {
        let old = self.inner.folder_list();
        let mut next = Vec::new();
        let mut fresh = Vec::new();
        for folder in list {
            match old.iter().find(|o| o.folder == folder) {
                Some(same) => next.push(same.clone()),
                None => match FolderRt::new(folder.clone()) {
                    Ok(rt) => {
                        let rt = Arc::new(rt);
                        next.push(rt.clone());
                        fresh.push(rt);
                    }
                    Err(e) => {
                        tracing::error!("folder {}: {e}; it is not watched", folder.path.display())
                    }
                },
            }
        }
        for gone in old
            .iter()
            .filter(|o| !next.iter().any(|n| Arc::ptr_eq(n, o)))
        {
            if let Some(watcher) = self.watcher.as_mut() {
                watcher.unwatch(&gone.folder.path);
            }
            self.settler.forget_under(&gone.folder.path);
            if !next.iter().any(|n| n.folder.path == gone.folder.path) {
                tracing::info!(folder = %gone.folder.path.display(), "no longer watched");
                let path = gone.folder.path.clone();
                if let Err(e) = self.inner.db(move |q| q.forget(&path)).await {
                    tracing::error!("cannot update the queue: {e}");
                }
            }
        }
        *self
            .inner
            .folders
            .write()
            .unwrap_or_else(|e| e.into_inner()) = next;
        for folder in fresh {
            tracing::info!(folder = %folder.folder.path.display(), "watching");
            self.watch(&folder.folder);
            let dir = folder.folder.path.clone();
            self.scan_dir(folder, dir, None).await;
        }
        self.inner.kick();
    }
}

/// Records files in the queue (in chunks); sends `Discovered` for new and changed ones and
/// wakes the scheduler. Returns how many were new or changed.
pub(crate) async fn observe(
    inner: &Arc<Inner>,
    items: Vec<(PathBuf, Option<PathBuf>, FileStat)>,
) -> u64 {
    let mut queued = 0;
    for chunk in items.chunks(OBSERVE_CHUNK) {
        let chunk = chunk.to_vec();
        let result = inner
            .db(move |q| q.observe_many(&chunk).map(|observed| (chunk, observed)))
            .await;
        match result {
            Ok((chunk, observed)) => {
                for ((path, _, stat), what) in chunk.into_iter().zip(observed) {
                    if matches!(what, Observed::New | Observed::Changed) {
                        queued += 1;
                        inner.events.send(Event::Discovered {
                            path,
                            size: stat.size,
                        });
                    }
                }
            }
            Err(e) => tracing::error!("cannot record files in the queue: {e}"),
        }
    }
    if queued > 0 {
        inner.kick();
    }
    queued
}

/// The stat of a regular file (symlinks only when followed).
pub(crate) fn regular_file_stat(path: &Path, follow_symlinks: bool) -> Option<FileStat> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let meta = if meta.file_type().is_symlink() {
        if !follow_symlinks {
            return None;
        }
        std::fs::metadata(path).ok()?
    } else {
        meta
    };
    meta.is_file().then(|| FileStat::of(&meta))
}

fn note_watch_error(inner: &Inner, error: &WatchError) {
    match error {
        WatchError::Limit(message) => {
            set_watch_warning(inner, message);
        }
        WatchError::Other { .. } => {
            tracing::warn!("{error}; changes there are found by the periodic rescans")
        }
    }
}

/// Records the watch warning; logs it the first time. Returns whether it is new.
fn set_watch_warning(inner: &Inner, message: &str) -> bool {
    let mut book = inner.events.book();
    if book.watch_warning.is_some() {
        return false;
    }
    tracing::warn!("{message}");
    book.watch_warning = Some(message.to_string());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescans_are_jittered_and_frequent_when_watching_is_degraded() {
        assert_eq!(
            rescan_delay(3600, false, 0.0),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            rescan_delay(3600, false, 1.0),
            Some(Duration::from_secs(3960))
        );
        assert_eq!(
            rescan_delay(3600, false, -1.0),
            Some(Duration::from_secs(3240))
        );
        assert_eq!(rescan_delay(0, false, 0.5), None);
        assert_eq!(rescan_delay(0, true, 0.0), Some(DEGRADED_RESCAN));
        assert_eq!(rescan_delay(3600, true, 0.0), Some(DEGRADED_RESCAN));
        assert_eq!(rescan_delay(10, true, 0.0), Some(Duration::from_secs(10)));
    }

    #[test]
    fn a_new_directory_is_walked_again_after_the_watch_is_surely_in_place() {
        let mut rewalks = Rewalks::default();
        let t0 = std::time::Instant::now();
        assert_eq!(rewalks.next_deadline(), None);
        rewalks.add("/pics/new".into(), t0);
        rewalks.add("/pics/new".into(), t0 + Duration::from_millis(10)); // once per directory
        rewalks.add("/pics/other".into(), t0 + Duration::from_millis(500));
        assert_eq!(rewalks.next_deadline(), Some(t0 + REWALK_NEW_DIR_AFTER));
        assert!(rewalks.take_due(t0 + Duration::from_millis(999)).is_empty());
        assert_eq!(
            rewalks.take_due(t0 + REWALK_NEW_DIR_AFTER),
            vec![PathBuf::from("/pics/new")]
        );
        assert_eq!(
            rewalks.take_due(t0 + Duration::from_secs(2)),
            vec![PathBuf::from("/pics/other")]
        );
        assert_eq!(rewalks.next_deadline(), None);
    }

    #[test]
    fn only_regular_files_are_taken_and_symlinks_when_followed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.png");
        std::fs::write(&file, b"x").unwrap();
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(regular_file_stat(&file, false).unwrap().size, 1);
        assert!(regular_file_stat(&link, false).is_none());
        assert!(regular_file_stat(&link, true).is_some());
        assert!(regular_file_stat(dir.path(), true).is_none());
        assert!(regular_file_stat(&dir.path().join("nope"), true).is_none());
    }
}
