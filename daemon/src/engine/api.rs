//! What the IPC socket and the PicGo endpoint can ask of the daemon ([`Control`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use imgcloud_core::daemon_api::{Event, FileError, FileState, QueueEntry, Status, WatchedFolder};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use super::folders::{FolderCmd, observe};
use super::{Daemon, FolderRt, Inner};
use crate::control::{Control, ControlError};
use crate::filter::Filter;
use crate::queue::FileStat;
use crate::scan::scan;

/// How long `upload_files` waits for its files.
pub const UPLOAD_FILES_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Recent errors in the status.
const STATUS_ERRORS: usize = 20;

fn internal(e: impl std::fmt::Display) -> ControlError {
    ControlError::Internal(e.to_string())
}

/// An absolute path (relative ones are taken from the daemon's working directory).
fn absolute(path: &Path) -> Result<PathBuf, ControlError> {
    std::path::absolute(path)
        .map_err(|e| ControlError::BadRequest(format!("{}: {e}", path.display())))
}

#[async_trait::async_trait]
impl Control for Daemon {
    fn status(&self) -> Status {
        let inner = &self.inner;
        let counts = inner
            .queue
            .counts(OffsetDateTime::now_utc())
            .unwrap_or_else(|e| {
                tracing::error!("cannot read the queue: {e}");
                Default::default()
            });
        let recent_errors = inner.queue.errors(STATUS_ERRORS).unwrap_or_default();
        let in_flight = inner.events.in_flight();
        let book = inner.events.book();
        Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            server: inner.server.clone(),
            embedded: inner.embedded,
            online: book.offline.is_none(),
            paused: book.paused,
            folders: inner.config().folders,
            counts,
            in_flight,
            recent_errors,
            watch_warning: book.watch_warning.clone(),
            last_scan_at: book.last_scan_at,
            backup_dir: inner.backup.as_ref().map(|b| b.root().to_path_buf()),
        }
    }

    fn queue(
        &self,
        state: Option<FileState>,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, ControlError> {
        self.inner.queue.list(state, limit).map_err(internal)
    }

    fn errors(&self, limit: usize) -> Result<Vec<FileError>, ControlError> {
        self.inner.queue.errors(limit).map_err(internal)
    }

    fn pause(&self) {
        let changed = !std::mem::replace(&mut self.inner.events.book().paused, true);
        if changed {
            tracing::info!("paused: uploads in flight finish, nothing new starts");
            self.inner.events.send(Event::Paused);
        }
    }

    fn resume(&self) {
        let changed = std::mem::replace(&mut self.inner.events.book().paused, false);
        if changed {
            tracing::info!("resumed");
            self.inner.events.send(Event::Resumed);
            self.inner.kick();
        }
    }

    fn rescan(&self) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            if let Err(e) = inner.db(|q| q.retry_now()).await {
                tracing::error!("cannot update the queue: {e}");
            }
            inner.kick();
        });
        let _ = self.inner.folder_cmds.send(FolderCmd::RescanAll);
    }

    async fn enqueue(&self, paths: Vec<PathBuf>) -> Result<u64, ControlError> {
        let mut items = Vec::new();
        for path in &paths {
            let path = absolute(path)?;
            let meta = std::fs::metadata(&path)
                .map_err(|e| ControlError::BadRequest(format!("{}: {e}", path.display())))?;
            if meta.is_dir() {
                items.extend(walk(&self.inner, path).await?);
            } else if meta.is_file() {
                let folder = self.inner.folder_of(&path).map(|f| f.folder.path.clone());
                items.push((path, folder, FileStat::of(&meta)));
            } else {
                return Err(ControlError::BadRequest(format!(
                    "{}: not a file or a folder",
                    path.display()
                )));
            }
        }
        Ok(observe(&self.inner, items).await)
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    fn folders(&self) -> Vec<WatchedFolder> {
        self.inner.config().folders
    }

    async fn add_folder(&self, folder: WatchedFolder) -> Result<Vec<WatchedFolder>, ControlError> {
        let mut folder = folder;
        folder.path = canonical_folder(&folder.path).map_err(ControlError::BadRequest)?;
        FolderRt::new(folder.clone()).map_err(ControlError::BadRequest)?;
        self.update_folders(|config| {
            config.add_folder(folder.clone());
            Ok(())
        })
        .await
    }

    async fn remove_folder(&self, path: &Path) -> Result<Vec<WatchedFolder>, ControlError> {
        let wanted = absolute(path)?;
        let canonical = wanted.canonicalize().ok();
        self.update_folders(|config| {
            let found = config
                .folders
                .iter()
                .find(|f| f.path == wanted || Some(&f.path) == canonical.as_ref())
                .map(|f| f.path.clone());
            match found {
                Some(p) => {
                    config.remove_folder(&p);
                    Ok(())
                }
                None => Err(ControlError::BadRequest(format!(
                    "{} is not a watched folder (see `imgcloud watch ls`)",
                    path.display()
                ))),
            }
        })
        .await
    }

    async fn upload_files(&self, paths: Vec<PathBuf>) -> Vec<Result<String, String>> {
        let waits = paths.into_iter().map(|path| {
            let inner = self.inner.clone();
            async move {
                match tokio::time::timeout(UPLOAD_FILES_TIMEOUT, upload_one(inner, &path)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!(
                        "{}: not uploaded within {} minutes; see `imgcloud status`",
                        path.display(),
                        UPLOAD_FILES_TIMEOUT.as_secs() / 60
                    )),
                }
            }
        });
        futures::future::join_all(waits).await
    }
}

impl Daemon {
    /// Changes the folder list, saves `daemon.toml`, and has the folder task apply it.
    async fn update_folders(
        &self,
        change: impl FnOnce(&mut imgcloud_core::daemon_config::DaemonConfig) -> Result<(), ControlError>,
    ) -> Result<Vec<WatchedFolder>, ControlError> {
        let inner = &self.inner;
        let path = inner.dirs.daemon_config_file();
        let folders = {
            let mut config = inner.config.lock().unwrap_or_else(|e| e.into_inner());
            let mut next = config.clone();
            change(&mut next)?;
            next.validate().map_err(ControlError::BadRequest)?;
            next.save(&path).map_err(internal)?;
            *config = next;
            config.folders.clone()
        };
        let _ = inner.folder_cmds.send(FolderCmd::Apply(folders.clone()));
        Ok(folders)
    }
}

/// An existing folder's absolute, canonical path.
pub fn canonical_folder(path: &Path) -> Result<PathBuf, String> {
    let canonical = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}; give an existing folder", path.display()))?;
    if !canonical.is_dir() {
        return Err(format!("{} is not a folder", path.display()));
    }
    Ok(canonical)
}

/// The files of a folder named by hand: with its watched folder's rules when it is inside
/// one, else with the default rules (hidden, temporary and partial files skipped).
async fn walk(
    inner: &Arc<Inner>,
    dir: PathBuf,
) -> Result<Vec<(PathBuf, Option<PathBuf>, FileStat)>, ControlError> {
    let folder = inner.folder_of(&dir).or_else(|| {
        inner
            .folder_list()
            .into_iter()
            .find(|f| f.folder.path == dir)
    });
    let follow = inner.config().follow_symlinks;
    tokio::task::spawn_blocking(move || -> Result<_, ControlError> {
        let found = |filter: &Filter, recursive: bool, owner: Option<PathBuf>| {
            scan(&dir, filter, recursive, follow)
                .files
                .into_iter()
                .map(|f| (f.path, owner.clone(), f.stat))
                .collect::<Vec<_>>()
        };
        Ok(match &folder {
            Some(f) => found(&f.filter, f.folder.recursive, Some(f.folder.path.clone())),
            None => {
                let filter =
                    Filter::new(&WatchedFolder::new(&dir)).map_err(ControlError::BadRequest)?;
                found(&filter, true, None)
            }
        })
    })
    .await
    .map_err(internal)?
}

/// Uploads one file now (ahead of the queue) and answers its URL or the error.
async fn upload_one(inner: Arc<Inner>, path: &Path) -> Result<String, String> {
    let path = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a file", path.display()));
    }
    let stat = FileStat::of(&meta);
    let folder = inner.folder_of(&path).map(|f| f.folder.path.clone());
    observe(&inner, vec![(path.clone(), folder, stat)]).await;
    let mut rx = inner.events.subscribe();
    let mut ran = 0;
    loop {
        let owned = path.clone();
        let entry = inner
            .db(move |q| q.get_by_path(&owned))
            .await
            .map_err(|e| e.to_string())?;
        let Some(entry) = entry else {
            return Err(format!("{}: not an image", path.display()));
        };
        match entry.state {
            FileState::Uploaded | FileState::BackedUp => {
                if let Some(url) = entry.url {
                    return Ok(url);
                }
            }
            FileState::Failed => {
                return Err(entry
                    .last_error
                    .unwrap_or_else(|| format!("{}: failed", path.display())));
            }
            _ if ran > 0 && entry.last_error.is_some() => {
                return Err(entry.last_error.unwrap_or_default());
            }
            _ => {}
        }
        if ran >= 3 {
            return Err(format!(
                "{}: it keeps changing; upload it once it is fully written",
                path.display()
            ));
        }
        let claimed = inner
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(entry.id);
        if claimed {
            let id = entry.id;
            super::worker::run(inner.clone(), entry).await;
            inner
                .busy
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            ran += 1;
        } else {
            // Someone else works on it: wait for news about it.
            let wait = async {
                loop {
                    match rx.recv().await {
                        Ok(Event::Uploaded { path: p, .. } | Event::Failed { path: p, .. })
                            if p == path =>
                        {
                            break;
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                        _ => {}
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_millis(500), wait).await;
        }
    }
}
