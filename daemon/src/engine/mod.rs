//! The engine: takes files from the watched folders through the persistent queue — sniffed,
//! hashed, uploaded (resumably), backed up — and answers the local API ([`Control`]).
//!
//! - [`folders`]: watching, settling and scanning; files enter the queue there;
//! - [`scheduler`]: starts workers on due files (bounded concurrency, pause, offline probing);
//! - [`worker`]: one file through the steps, each recorded in the queue before it moves on;
//! - [`retry`]: what an error means (backoff, permanent, offline);
//! - [`events`]: the event broadcast and the in-memory status;
//! - [`reload`]: `daemon.toml` changes applied without a restart.
//!
//! Restart safety: every step is in the queue before the next starts, and the upload
//! checkpoint (idempotency key, session, parts done) is persisted before any byte is sent, so
//! a restart after `kill -9` resumes the same session and never creates a second image.

mod api;
pub mod events;
mod folders;
mod reload;
pub mod retry;
mod scheduler;
pub mod sniff;
mod worker;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use imgcloud_core::api::{Image, Limits};
use imgcloud_core::backup::BackupStore;
use imgcloud_core::client::Client;
use imgcloud_core::daemon_api::{Event, WatchedFolder};
use imgcloud_core::daemon_config::DaemonConfig;
use imgcloud_core::links::{LinkFormat, format_link};
use imgcloud_core::paths::Dirs;
use imgcloud_core::upload::UploadOptions;
use imgcloud_server::embedded::EmbeddedCloud;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cloud::{Cloud, CloudOptions};
use crate::filter::Filter;
use crate::notify_desktop::Desktop;
use crate::queue::{Queue, QueueError};

pub use api::canonical_folder;
use events::Events;
use folders::FolderCmd;

/// File name of the queue database in [`Dirs::daemon_state`].
pub const QUEUE_FILE: &str = "queue.db";

/// How long in-flight uploads get to finish or reach a checkpoint at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How to start the daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub dirs: Dirs,
    /// How to host the embedded cloud, when it is the one.
    pub cloud: CloudOptions,
    /// Print `<path>\t<link>` on stdout for every upload (`imgcloudd watch`).
    pub print_links: bool,
    /// Watch `daemon.toml` and apply its changes without a restart (default true).
    pub reload_config: bool,
}

impl DaemonOptions {
    pub fn new(dirs: Dirs) -> Self {
        Self {
            dirs,
            cloud: CloudOptions::default(),
            print_links: false,
            reload_config: true,
        }
    }
}

/// A watched folder as the engine uses it.
pub(crate) struct FolderRt {
    pub folder: WatchedFolder,
    pub filter: Filter,
}

impl FolderRt {
    pub fn new(folder: WatchedFolder) -> Result<Self, String> {
        let filter = Filter::new(&folder)?;
        Ok(Self { folder, filter })
    }

    /// Whether `path` is inside this folder (directly, when it is not recursive).
    pub fn contains(&self, path: &Path) -> bool {
        if self.folder.recursive {
            path.starts_with(&self.folder.path) && path != self.folder.path
        } else {
            path.parent() == Some(self.folder.path.as_path())
        }
    }
}

/// Shared state of a running daemon.
pub(crate) struct Inner {
    pub dirs: Dirs,
    pub server: String,
    pub embedded: bool,
    pub link_format: LinkFormat,
    /// With the configured bandwidth limit (shared by its clones).
    client: Client,
    pub queue: Arc<Queue>,
    pub backup: Option<Arc<BackupStore>>,
    pub config: Mutex<DaemonConfig>,
    pub folders: RwLock<Vec<Arc<FolderRt>>>,
    pub events: Events,
    pub desktop: Desktop,
    /// Wakes the scheduler (work arrived, a worker finished, resumed, online again).
    pub wake: Notify,
    pub folder_cmds: mpsc::UnboundedSender<FolderCmd>,
    /// Queue ids being worked on.
    pub busy: Mutex<HashSet<i64>>,
    limits: tokio::sync::Mutex<Option<Limits>>,
    pub upload_options: UploadOptions,
    /// Album ids by name, for the folders that feed an album.
    pub album_ids: tokio::sync::Mutex<std::collections::HashMap<String, String>>,
    /// Cancelled at shutdown: nothing new starts.
    pub stop: CancellationToken,
    /// Every worker, so shutdown can wait for them.
    pub workers: TaskTracker,
    /// For offline probes.
    pub probe_http: reqwest::Client,
    embedded_cloud: Mutex<Option<EmbeddedCloud>>,
}

impl Inner {
    /// The API client (with the configured bandwidth limit).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Changes the upload bandwidth limit (uploads in flight included; 0 = unlimited).
    pub fn set_bandwidth_limit(&self, bytes_per_sec: u64) {
        self.client.set_bandwidth_limit(bytes_per_sec);
    }

    pub fn config(&self) -> DaemonConfig {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn folder_list(&self) -> Vec<Arc<FolderRt>> {
        self.folders
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The watched folder a path belongs to (the deepest one when folders nest).
    pub fn folder_of(&self, path: &Path) -> Option<Arc<FolderRt>> {
        self.folder_list()
            .into_iter()
            .filter(|f| f.contains(path))
            .max_by_key(|f| f.folder.path.components().count())
    }

    /// Runs a queue call on the blocking pool (big scans hold its lock for a while). The call
    /// starts at once, before the returned future is awaited.
    pub fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Queue) -> Result<T, QueueError> + Send + 'static,
    ) -> impl Future<Output = Result<T, QueueError>> + Send + 'static {
        let queue = self.queue.clone();
        let path = queue.path().to_path_buf();
        let task = tokio::task::spawn_blocking(move || f(&queue));
        async move {
            task.await.unwrap_or_else(|e| {
                Err(QueueError {
                    path,
                    message: format!("queue task failed: {e}"),
                })
            })
        }
    }

    /// The server's limits (asked once, then cached).
    pub async fn limits(&self) -> Result<Limits, imgcloud_core::client::ClientError> {
        let mut cached = self.limits.lock().await;
        if let Some(limits) = cached.as_ref() {
            return Ok(limits.clone());
        }
        let limits = self.client().limits().await?;
        *cached = Some(limits.clone());
        Ok(limits)
    }

    /// Wakes the scheduler.
    pub fn kick(&self) {
        self.wake.notify_one();
    }

    /// Records an upload: the event (link in the configured format), the clipboard and the
    /// notification when configured.
    pub fn announce_upload(&self, path: &Path, image: &Image, existed: bool, from_folder: bool) {
        let link = format_link(image, &self.link_format);
        tracing::info!(path = %path.display(), url = %image.url, existed, "uploaded");
        let config = self.config();
        if config.copy_links && from_folder {
            self.desktop.copy(&link);
        }
        if config.notifications && !existed {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let body = if config.copy_links && from_folder {
                format!("{name}: link copied")
            } else {
                name
            };
            self.desktop.notify("Uploaded to imgcloud", &body);
        }
        self.events.send(Event::Uploaded {
            path: path.to_path_buf(),
            image_id: image.id.clone(),
            url: image.url.clone(),
            link,
            existed,
        });
    }
}

/// A running daemon. Cheap to clone (a handle); implements [`crate::control::Control`].
#[derive(Clone)]
pub struct Daemon {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("server", &self.inner.server)
            .finish()
    }
}

impl Daemon {
    /// Resolves the cloud (hosting the embedded one when it is the one), opens the queue and
    /// the backup store, starts watching the configured folders, and starts syncing: the
    /// first full scan and the uploads run in the background.
    pub async fn start(options: DaemonOptions) -> anyhow::Result<Daemon> {
        let dirs = options.dirs.clone();
        let config_file = dirs.daemon_config_file();
        let config = DaemonConfig::load(&config_file)?;
        let state_dir = dirs.daemon_state();
        imgcloud_core::paths::ensure_private_dir(&state_dir)
            .with_context(|| format!("cannot create {}", state_dir.display()))?;
        let queue_path = state_dir.join(QUEUE_FILE);
        let queue = Arc::new(tokio::task::spawn_blocking(move || Queue::open(&queue_path)).await??);
        let backup = if config.backup {
            let root = config.backup_root(&dirs);
            let store = tokio::task::spawn_blocking(move || BackupStore::open(&root))
                .await?
                .context("cannot open the backup store (set backup_dir in daemon.toml, or backup = false)")?;
            Some(Arc::new(store))
        } else {
            None
        };
        let mut folders = Vec::new();
        for folder in &config.folders {
            let rt = FolderRt::new(folder.clone())
                .map_err(|e| anyhow::anyhow!("{}: {e}", config_file.display()))?;
            folders.push(Arc::new(rt));
        }

        let cloud = Cloud::resolve(&dirs, &options.cloud).await?;
        let Cloud {
            client,
            server,
            link_format,
            embedded,
        } = cloud;
        let (folder_cmds, folder_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            dirs: dirs.clone(),
            server,
            embedded: embedded.is_some(),
            link_format,
            client: client.with_bandwidth_limit(config.bandwidth_limit),
            queue,
            backup,
            config: Mutex::new(config),
            folders: RwLock::new(folders),
            events: Events::new(options.print_links),
            desktop: Desktop::new(),
            wake: Notify::new(),
            folder_cmds,
            busy: Mutex::new(HashSet::new()),
            limits: tokio::sync::Mutex::new(None),
            upload_options: UploadOptions::default(),
            album_ids: Default::default(),
            stop: CancellationToken::new(),
            workers: TaskTracker::new(),
            probe_http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .context("cannot set up HTTP")?,
            embedded_cloud: Mutex::new(embedded),
        });

        // Watches are set up before this returns (so nothing written from now on is missed);
        // the first full scan runs in the background.
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(folders::run(inner.clone(), folder_rx, ready_tx));
        let _ = ready_rx.await;
        tokio::spawn(scheduler::run(inner.clone()));
        if options.reload_config {
            tokio::spawn(reload::run(inner.clone()));
        }
        Ok(Daemon { inner })
    }

    /// The cloud's API URL.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    /// Whether this daemon hosts the embedded cloud.
    pub fn is_embedded(&self) -> bool {
        self.inner.embedded
    }

    /// Where backup copies go (None: backups off).
    pub fn backup_dir(&self) -> Option<PathBuf> {
        self.inner.backup.as_ref().map(|b| b.root().to_path_buf())
    }

    /// An API client for the cloud (the daemon's user).
    pub fn client(&self) -> Client {
        self.inner.client()
    }

    /// Every event from now on.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Stops taking work, gives in-flight uploads up to [`SHUTDOWN_GRACE`] to finish or reach
    /// their next checkpoint, then stops the embedded cloud. Idempotent.
    pub async fn shutdown(&self) -> anyhow::Result<()> {
        self.inner.stop.cancel();
        self.inner.workers.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.inner.workers.wait())
            .await
            .is_err()
        {
            tracing::info!(
                "in-flight uploads did not finish within {SHUTDOWN_GRACE:?}; they resume from their checkpoint at the next start"
            );
        }
        let cloud = self
            .inner
            .embedded_cloud
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(cloud) = cloud {
            cloud.shutdown().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_contain_their_files_and_non_recursive_ones_only_direct_children() {
        let mut folder = WatchedFolder::new("/pics");
        let rt = FolderRt::new(folder.clone()).unwrap();
        assert!(rt.contains(Path::new("/pics/a.png")));
        assert!(rt.contains(Path::new("/pics/sub/a.png")));
        assert!(!rt.contains(Path::new("/pics")));
        assert!(!rt.contains(Path::new("/picsx/a.png")));
        folder.recursive = false;
        let rt = FolderRt::new(folder).unwrap();
        assert!(rt.contains(Path::new("/pics/a.png")));
        assert!(!rt.contains(Path::new("/pics/sub/a.png")));
    }
}
