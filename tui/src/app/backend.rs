//! The outside world the TUI talks to — the cloud, the sync daemon, the clipboard — behind one
//! trait so the state machine is tested with a fake. [`perform`] runs an [`Effect`] and turns
//! its outcome into the [`Action`] that reports it.
//!
//! The library is read from the server's change feed (`GET /v1/changes`), which carries both
//! library and trash. The live backend keeps it in the local catalog ([`super::local`]) as it
//! goes, and reads the catalog back at start ([`Backend::catalog`]).

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use imgcloud_core::api::{Album, AlbumDetail, ChangePage, CreateShare, Image, ImagePatch, Share};
use imgcloud_core::client::Client;
use imgcloud_core::daemon_api::Status;
use imgcloud_core::daemon_client::{DaemonClient, DaemonClientError};
use imgcloud_core::upload::{UploadEvent, UploadOptions, upload_paths};

use super::action::{Action, DaemonCommand, Effect, FileUpload};
use super::complete;
use super::local::Local;
use super::path_list;
use super::state::Daemon;

/// Change-feed entries asked for per request.
const PAGE: u32 = 1000;

pub trait Backend: Send + Sync + 'static {
    /// The change feed after `since` (0: everything).
    fn changes(&self, since: i64) -> impl Future<Output = Result<ChangePage, String>> + Send;
    /// Every image of the local catalog (none without one).
    fn catalog(&self) -> impl Future<Output = Result<Vec<Image>, String>> + Send {
        std::future::ready(Ok(Vec::new()))
    }
    fn trash(&self, id: &str) -> impl Future<Output = Result<Image, String>> + Send;
    fn restore(&self, id: &str) -> impl Future<Output = Result<Image, String>> + Send;
    fn daemon(&self) -> impl Future<Output = Daemon> + Send;
    /// Copies `text`; says where it went ("to the clipboard") or why it could not.
    fn copy(&self, text: &str) -> Result<String, String>;
    /// Changes an image's name and/or tags.
    fn patch(
        &self,
        id: &str,
        patch: ImagePatch,
    ) -> impl Future<Output = Result<Image, String>> + Send;
    /// Makes a share link.
    fn share(&self, request: CreateShare) -> impl Future<Output = Result<Share, String>> + Send;
    /// The account's albums, by name.
    fn albums(&self) -> impl Future<Output = Result<Vec<Album>, String>> + Send;
    /// One album and its images, in order.
    fn album(&self, id: &str) -> impl Future<Output = Result<AlbumDetail, String>> + Send;
    /// The account's share links, newest first, with their counts.
    fn shares(&self) -> impl Future<Output = Result<Vec<Share>, String>> + Send;
    /// Revokes share link `id`.
    fn revoke_share(&self, id: &str) -> impl Future<Output = Result<Share, String>> + Send;
    /// Uploads files and folders through the core pipeline, reporting progress to `events`;
    /// one result per file, in input order.
    fn upload(
        &self,
        paths: Vec<PathBuf>,
        events: impl Fn(UploadEvent) + Send + Sync + 'static,
    ) -> impl Future<Output = Vec<FileUpload>> + Send;
    /// Opens `url` in the browser.
    fn open(&self, url: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// Pauses, resumes or rescans the daemon; says what it did.
    fn daemon_command(
        &self,
        command: DaemonCommand,
    ) -> impl Future<Output = Result<String, String>> + Send;
    /// Follows the daemon's event stream: reports [`Action::SyncConnected`] once connected,
    /// then one [`Action::SyncEvent`] per event; returns why it ended.
    fn follow(&self, report: impl Fn(Action) + Send + Sync) -> impl Future<Output = String> + Send;
}

/// Runs `effect` and reports its outcome as an action.
pub async fn perform<B: Backend>(backend: &B, effect: Effect) -> Action {
    match effect {
        Effect::Load { since } => match backend.changes(since).await {
            Ok(page) => Action::Loaded {
                // A page that moved nowhere ends the load, unless it carried changes (the
                // catalog's swap to another account does, at that account's position).
                more: page.has_more && (page.next_since > since || !page.changes.is_empty()),
                changes: page.changes,
                next_since: page.next_since,
            },
            Err(reason) => Action::LoadFailed(reason),
        },
        Effect::LoadCatalog => Action::CatalogLoaded(backend.catalog().await),
        Effect::Trash { id } => match backend.trash(&id).await {
            Ok(image) => Action::Trashed(image),
            Err(reason) => Action::ChangeFailed {
                what: format!("moving {id} to the trash"),
                reason,
            },
        },
        Effect::Restore { id } => match backend.restore(&id).await {
            Ok(image) => Action::Restored(image),
            Err(reason) => Action::ChangeFailed {
                what: format!("restoring {id}"),
                reason,
            },
        },
        Effect::Copy { text, what } => Action::Copied {
            what,
            result: backend.copy(&text),
        },
        Effect::Complete { text } => {
            let completion = tokio::task::spawn_blocking(move || {
                complete::complete(&text, complete::home().as_deref())
            })
            .await;
            match completion {
                Ok(completion) => Action::Completed(completion),
                Err(e) => Action::ChangeFailed {
                    what: "completing the path".to_string(),
                    reason: e.to_string(),
                },
            }
        }
        Effect::Upload { text } => upload(backend, &text, |_| {}).await,
        Effect::LoadAlbums => Action::AlbumsLoaded(backend.albums().await),
        Effect::LoadAlbum { id } => Action::AlbumLoaded(backend.album(&id).await),
        Effect::LoadShares => Action::SharesLoaded(backend.shares().await),
        Effect::RevokeShare { id } => Action::ShareRevoked(backend.revoke_share(&id).await),
        Effect::Share { request, what } => Action::Shared {
            what,
            result: backend.share(request).await,
        },
        Effect::Patch {
            id,
            filename,
            tags,
            visibility,
            doing,
            done,
        } => match backend
            .patch(
                &id,
                ImagePatch {
                    filename,
                    tags,
                    visibility,
                },
            )
            .await
        {
            Ok(image) => Action::Patched { what: done, image },
            Err(reason) => Action::ChangeFailed {
                what: doing,
                reason,
            },
        },
        Effect::Open { url, what } => Action::Opened {
            what,
            result: backend.open(&url).await,
        },
        Effect::Daemon(command) => Action::DaemonDone(backend.daemon_command(command).await),
    }
}

/// Uploads what the prompt's `text` names (one path, or a list: see [`path_list::resolve`]),
/// reporting each pipeline event to `report` as an [`Action::UploadProgress`]; ends with
/// [`Action::UploadDone`].
pub async fn upload<B: Backend>(
    backend: &B,
    text: &str,
    report: impl Fn(Action) + Send + Sync + 'static,
) -> Action {
    let paths = match path_list::resolve(text, complete::home().as_deref()) {
        Ok(paths) => paths,
        Err(reason) => {
            return Action::UploadDone(vec![FileUpload {
                path: PathBuf::from(text.trim()),
                result: Err(reason),
            }]);
        }
    };
    let files = backend
        .upload(paths, move |event| report(Action::UploadProgress(event)))
        .await;
    Action::UploadDone(files)
}

/// Follows the daemon's event stream for as long as the TUI runs: when the stream ends (or
/// the daemon is not running) it says so once with [`Action::SyncLost`] and tries again every
/// `retry`, so the panel comes back by itself when the daemon does.
pub async fn follow_daemon<B: Backend>(
    backend: &B,
    report: impl Fn(Action) + Send + Sync,
    retry: Duration,
) {
    let connected = std::sync::atomic::AtomicBool::new(false);
    loop {
        let reason = backend
            .follow(|action| {
                connected.store(true, std::sync::atomic::Ordering::Relaxed);
                report(action)
            })
            .await;
        if connected.swap(false, std::sync::atomic::Ordering::Relaxed) {
            report(Action::SyncLost(reason));
        }
        tokio::time::sleep(retry).await;
    }
}

/// The real thing: the API client, the local catalog, the daemon's socket, the OS clipboard or
/// OSC 52.
pub struct Live {
    pub client: Client,
    pub local: Local,
    pub daemon: DaemonClient,
    /// Files uploading at once (the configuration's `concurrency`).
    pub concurrency: usize,
}

impl Backend for Live {
    async fn changes(&self, since: i64) -> Result<ChangePage, String> {
        self.local.changes(&self.client, since, PAGE).await
    }

    async fn catalog(&self) -> Result<Vec<Image>, String> {
        self.local.all().await
    }

    async fn trash(&self, id: &str) -> Result<Image, String> {
        let image = self.client.trash(id).await.map_err(|e| e.to_string())?;
        self.local.put(&image);
        Ok(image)
    }

    async fn restore(&self, id: &str) -> Result<Image, String> {
        let image = self.client.restore(id).await.map_err(|e| e.to_string())?;
        self.local.put(&image);
        Ok(image)
    }

    async fn daemon(&self) -> Daemon {
        let daemon = self.daemon.clone().with_timeout(Duration::from_secs(3));
        match daemon.status().await {
            Ok(status) => Daemon::Running {
                summary: summary(&status),
            },
            Err(e) => Daemon::Down {
                reason: e.to_string(),
            },
        }
    }

    fn copy(&self, text: &str) -> Result<String, String> {
        let over_ssh =
            std::env::var_os("SSH_TTY").is_some() || std::env::var_os("SSH_CONNECTION").is_some();
        let system = if over_ssh {
            Err("the session runs over SSH".to_string())
        } else {
            crate::clipboard::system_copy(text)
        };
        match system {
            Ok(()) => Ok("to the clipboard".to_string()),
            // The terminal itself is the clipboard of last resort (works over SSH when the
            // terminal supports OSC 52, as kitty, iTerm2, WezTerm, foot and tmux do).
            Err(reason) => {
                let mut out = std::io::stdout().lock();
                out.write_all(crate::clipboard::osc52_sequence(text).as_bytes())
                    .and_then(|()| out.flush())
                    .map(|()| "to the terminal's clipboard (OSC 52)".to_string())
                    .map_err(|e| format!("{reason}; OSC 52 failed too: {e}"))
            }
        }
    }

    async fn patch(&self, id: &str, patch: ImagePatch) -> Result<Image, String> {
        self.client
            .patch_image(id, &patch)
            .await
            .map_err(|e| e.to_string())
    }

    async fn share(&self, request: CreateShare) -> Result<Share, String> {
        self.client
            .create_share(&request)
            .await
            .map_err(|e| e.to_string())
    }

    async fn albums(&self) -> Result<Vec<Album>, String> {
        self.client
            .albums()
            .await
            .map(|list| list.albums)
            .map_err(|e| e.to_string())
    }

    async fn album(&self, id: &str) -> Result<AlbumDetail, String> {
        self.client.album(id).await.map_err(|e| e.to_string())
    }

    async fn shares(&self) -> Result<Vec<Share>, String> {
        self.client
            .shares()
            .await
            .map(|list| list.shares)
            .map_err(|e| e.to_string())
    }

    async fn revoke_share(&self, id: &str) -> Result<Share, String> {
        self.client
            .revoke_share(id)
            .await
            .map_err(|e| e.to_string())
    }

    async fn upload(
        &self,
        paths: Vec<PathBuf>,
        events: impl Fn(UploadEvent) + Send + Sync + 'static,
    ) -> Vec<FileUpload> {
        self.upload_files(paths, events).await
    }

    async fn open(&self, url: &str) -> Result<(), String> {
        open_in_browser(url).await
    }

    async fn daemon_command(&self, command: DaemonCommand) -> Result<String, String> {
        let daemon = self.daemon.clone().with_timeout(Duration::from_secs(10));
        let result = match command {
            DaemonCommand::Pause => daemon
                .pause()
                .await
                .map(|_| "sync paused: new files wait in the queue (p resumes)".to_string()),
            DaemonCommand::Resume => daemon.resume().await.map(|status| {
                format!(
                    "sync resumed: {} file(s) waiting to upload",
                    status.counts.pending()
                )
            }),
            DaemonCommand::Rescan => daemon
                .rescan()
                .await
                .map(|()| "rescanning the watched folders".to_string()),
        };
        result.map_err(|e| e.to_string())
    }

    async fn follow(&self, report: impl Fn(Action) + Send + Sync) -> String {
        let daemon = self.daemon.clone().with_timeout(Duration::from_secs(5));
        // Subscribe first, then read the status: nothing between the two is missed.
        let mut events = match daemon.events().await {
            Ok(events) => events,
            Err(e) => return e.to_string(),
        };
        match daemon.status().await {
            Ok(status) => report(Action::SyncConnected(Box::new(status))),
            Err(e) => return e.to_string(),
        }
        loop {
            match events.next().await {
                None => {
                    return "the imgcloud daemon closed the event stream (it stopped)".to_string();
                }
                Some(Ok(event)) => report(Action::SyncEvent(event)),
                // An event of a newer daemon: skip it, keep following.
                Some(Err(DaemonClientError::Decode(message))) => {
                    tracing::debug!("skipping a daemon event: {message}")
                }
                Some(Err(e)) => return e.to_string(),
            }
        }
    }
}

impl Live {
    async fn upload_files(
        &self,
        paths: Vec<PathBuf>,
        events: impl Fn(UploadEvent) + Send + Sync + 'static,
    ) -> Vec<FileUpload> {
        let options = UploadOptions {
            concurrency: self.concurrency.max(1),
            ..UploadOptions::default()
        };
        let client = self.client.clone();
        let inputs = paths.clone();
        // The pipeline's future is not provably `Send` (a compiler limit with its borrowed
        // closures), so it runs on a blocking thread of its own, driven by this runtime.
        let runtime = tokio::runtime::Handle::current();
        let outcomes = tokio::task::spawn_blocking(move || {
            runtime.block_on(upload_paths(&client, &inputs, &options, events))
        })
        .await;
        let outcomes = match outcomes {
            Ok(outcomes) => outcomes,
            Err(e) => {
                return paths
                    .into_iter()
                    .map(|path| FileUpload {
                        path,
                        result: Err(format!("the upload task ended: {e}")),
                    })
                    .collect();
            }
        };
        outcomes
            .into_iter()
            .map(|outcome| FileUpload {
                result: outcome
                    .result
                    .map_err(|e| without_path(&outcome.path, &e.to_string())),
                path: outcome.path,
            })
            .collect()
    }
}

/// Upload errors read "PATH: reason"; the TUI shows the file name itself.
fn without_path(path: &Path, message: &str) -> String {
    let prefix = format!("{}: ", path.display());
    message.strip_prefix(&prefix).unwrap_or(message).to_string()
}

/// Opens `url` (http(s) only, checked first) with `IMGCLOUD_OPENER` or the system's opener,
/// without a shell and with its output discarded so it cannot scribble over the screen.
async fn open_in_browser(url: &str) -> Result<(), String> {
    let custom = std::env::var("IMGCLOUD_OPENER").ok();
    imgcloud_core::opener::open_link(url, custom.as_deref()).await
}

/// One line about the daemon: "sync running · 3 pending · 1 failed".
pub fn summary(status: &Status) -> String {
    let mut parts = vec![if status.paused {
        "sync paused".to_string()
    } else {
        "sync running".to_string()
    }];
    let pending = status.counts.pending();
    parts.push(if pending == 0 {
        "up to date".to_string()
    } else {
        format!("{pending} pending")
    });
    if status.counts.failed > 0 {
        parts.push(format!("{} failed", status.counts.failed));
    }
    if !status.online {
        parts.push("cloud unreachable".to_string());
    }
    parts.join(" · ")
}
