//! Live watching with `notify` (inotify on Linux), turned into the few events the engine needs.
//!
//! What inotify (through notify 8) reports, and what it becomes here:
//!
//! | notify event | inotify | [`WatchEvent`] |
//! |---|---|---|
//! | `Access(Close(Write))` | `IN_CLOSE_WRITE` | `Closed` |
//! | `Create(File)` | `IN_CREATE` | `Changed` (a symlink: nothing, unless followed) |
//! | `Create(Folder)` | `IN_CREATE` + `IN_ISDIR` | `DirAppeared` |
//! | `Modify(Data(Any))` | `IN_MODIFY` (one per write) | `Changed` |
//! | `Modify(Name(To))` | `IN_MOVED_TO` | `Closed` for a file, `DirAppeared` for a directory |
//! | `Modify(Name(From))` | `IN_MOVED_FROM`, `IN_MOVE_SELF` | `Removed` |
//! | `Modify(Name(Both))` | (sent after `To` for a move inside the watch) | nothing: `From` and `To` came already |
//! | `Remove(_)` | `IN_DELETE`, `IN_DELETE_SELF` | `Removed` (a file or a directory) |
//! | `Other` + `Flag::Rescan` | `IN_Q_OVERFLOW` | `Rescan` |
//! | `Modify(Metadata)`, `Access(Open)`, `Access(Close(Read))` | `IN_ATTRIB`, `IN_OPEN`, `IN_CLOSE_NOWRITE` | nothing |
//!
//! A file written in place gives `Changed` (create), `Changed` per write (repeats within
//! [`CHANGED_COALESCE`] are dropped) and `Closed` when the writer closes it. A hard link or a
//! file written through `mmap` may never give `Closed`: the [`Settler`] takes those once they
//! stop changing. Files created in a new directory before its watch is in place give no event:
//! walk the directory on `DirAppeared`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use walkdir::WalkDir;

use crate::queue::FileStat;

/// Repeated `Changed` events for the same file closer together than this are sent once (a
/// large copy gives one inotify event per write).
pub const CHANGED_COALESCE: Duration = Duration::from_millis(50);

/// The value suggested for `fs.inotify.max_user_watches`.
pub const SUGGESTED_MAX_WATCHES: u32 = 524_288;

/// What happened in a watched folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The writer closed the file, or it was moved in: take it now (if it is stable).
    Closed(PathBuf),
    /// Created or modified: take it once it has settled.
    Changed(PathBuf),
    /// A directory appeared (created or moved in): walk it, its early events may be lost.
    DirAppeared(PathBuf),
    /// Deleted or moved away.
    Removed(PathBuf),
    /// Events were lost (the kernel queue overflowed): rescan everything.
    Rescan,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Out of inotify watches or instances; the message gives the `sysctl` fix.
    #[error("{0}")]
    Limit(String),
    #[error("cannot watch {path}: {message}")]
    Other { path: PathBuf, message: String },
}

/// Live watching of folders; events go to the channel given to [`Watcher::new`]. Dropping it
/// stops watching.
///
/// Each directory has a watch of its own (inotify watches one directory at a time). Watching a
/// tree walks its directories only, by their directory entries' types: notify's own
/// recursive mode stats every file of the tree first, which doubled the daemon's start over a
/// large library. Directories that appear later in a recursively watched tree are watched by a
/// helper thread as soon as their `DirAppeared` is seen.
pub struct Watcher {
    shared: Arc<Shared>,
}

/// What the watcher and its helper thread share.
struct Shared {
    notify: Mutex<notify::RecommendedWatcher>,
    /// Roots watched recursively: new directories under them get watches too.
    roots: Mutex<Vec<PathBuf>>,
    /// Every directory given a watch (to unwatch a tree).
    watched: Mutex<HashSet<PathBuf>>,
    warning: Arc<Mutex<Option<String>>>,
    follow_symlinks: bool,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Watcher {
    /// A watcher sending its events to `tx`.
    ///
    /// Symbolic links are not followed (as [`crate::scan::scan`] by default); see
    /// [`Watcher::with_follow_symlinks`].
    pub fn new(tx: mpsc::UnboundedSender<WatchEvent>) -> Result<Self, WatchError> {
        Self::with_follow_symlinks(tx, false)
    }

    /// A watcher that also watches symlinked directories and reports symlinked files when
    /// `follow_symlinks`.
    pub fn with_follow_symlinks(
        tx: mpsc::UnboundedSender<WatchEvent>,
        follow_symlinks: bool,
    ) -> Result<Self, WatchError> {
        let warning = Arc::new(Mutex::new(None));
        let (appeared_tx, appeared_rx) = std::sync::mpsc::channel();
        let mut handler = Handler {
            tx,
            appeared: appeared_tx,
            follow_symlinks,
            warning: Arc::clone(&warning),
            last_changed: None,
        };
        let config = notify::Config::default().with_follow_symlinks(follow_symlinks);
        let notify = notify::RecommendedWatcher::new(
            move |res: notify::Result<notify::Event>| handler.handle(res),
            config,
        )
        .map_err(|e| to_watch_error(e, Path::new("")))?;
        let shared = Arc::new(Shared {
            notify: Mutex::new(notify),
            roots: Mutex::default(),
            watched: Mutex::default(),
            warning,
            follow_symlinks,
        });
        // Ends when the watcher is dropped: the handler (inside notify's watcher) holds the
        // only sender.
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("imgcloud-watch-dirs".into())
            .spawn(move || watch_appearing_dirs(&weak, &appeared_rx))
            .map_err(|e| WatchError::Other {
                path: PathBuf::new(),
                message: format!("cannot start the watcher's thread: {e}"),
            })?;
        Ok(Self { shared })
    }

    /// Starts watching `dir` (recursively or not).
    ///
    /// With `recursive`, directories created later are watched too. When the watch limit is
    /// reached part way, the directories watched so far stay watched and
    /// [`WatchError::Limit`] says how to raise the limit.
    pub fn watch(&mut self, dir: &Path, recursive: bool) -> Result<(), WatchError> {
        self.shared.watch_one(dir)?;
        if recursive {
            lock(&self.shared.roots).push(dir.to_path_buf());
            self.shared.watch_below(dir)?;
        }
        Ok(())
    }

    /// Stops watching `dir` (and what was watched below it).
    pub fn unwatch(&mut self, dir: &Path) {
        lock(&self.shared.roots).retain(|root| root != dir);
        let below: Vec<PathBuf> = {
            let mut watched = lock(&self.shared.watched);
            let below = watched
                .iter()
                .filter(|d| d.starts_with(dir))
                .cloned()
                .collect();
            watched.retain(|d| !d.starts_with(dir));
            below
        };
        let mut notify = lock(&self.shared.notify);
        for path in below {
            // A directory deleted since has lost its watch already.
            if let Err(e) = notify.unwatch(&path) {
                tracing::debug!("unwatch {}: {e}", path.display());
            }
        }
    }

    /// The last watch-limit problem, also one found after [`Watcher::watch`] returned (a new
    /// directory that could not be watched): what happened and the `sysctl` fix. For
    /// `Status::watch_warning`.
    pub fn warning(&self) -> Option<String> {
        lock(&self.shared.warning).clone()
    }
}

impl Shared {
    /// One directory's watch (not its subdirectories').
    fn watch_one(&self, dir: &Path) -> Result<(), WatchError> {
        let added = lock(&self.notify).watch(dir, RecursiveMode::NonRecursive);
        added.map_err(|e| {
            let err = to_watch_error(e, dir);
            if let WatchError::Limit(message) = &err {
                set_warning(&self.warning, message);
            }
            err
        })?;
        lock(&self.watched).insert(dir.to_path_buf());
        Ok(())
    }

    /// Watches every directory below `dir` (not `dir` itself). Stops at the watch limit;
    /// a subdirectory that cannot be watched (gone, no permission) is skipped.
    fn watch_below(&self, dir: &Path) -> Result<(), WatchError> {
        let dirs = WalkDir::new(dir)
            .min_depth(1)
            .follow_links(self.follow_symlinks)
            .into_iter()
            .filter_entry(|e| e.file_type().is_dir());
        for entry in dirs.flatten() {
            match self.watch_one(entry.path()) {
                Ok(()) => {}
                Err(e @ WatchError::Limit(_)) => return Err(e),
                Err(e) => tracing::debug!("{e}"),
            }
        }
        Ok(())
    }

    /// A directory that appeared: watched with what is below it, when it is in a tree
    /// watched recursively.
    fn appeared(&self, dir: &Path) {
        let in_tree = lock(&self.roots).iter().any(|root| dir.starts_with(root));
        if !in_tree {
            return;
        }
        let result = self.watch_one(dir).and_then(|()| self.watch_below(dir));
        match result {
            Ok(()) => {}
            Err(WatchError::Limit(message)) => tracing::warn!("{message}"),
            Err(e) => tracing::debug!("{e}"),
        }
    }
}

/// The helper thread: watches directories as they appear, until the watcher is dropped.
fn watch_appearing_dirs(shared: &Weak<Shared>, appeared: &std::sync::mpsc::Receiver<PathBuf>) {
    while let Ok(dir) = appeared.recv() {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.appeared(&dir);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn set_warning(slot: &Mutex<Option<String>>, message: &str) {
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(message.to_string());
}

/// Runs on notify's thread: maps and forwards events.
struct Handler {
    tx: mpsc::UnboundedSender<WatchEvent>,
    /// New directories, for the thread that watches them.
    appeared: std::sync::mpsc::Sender<PathBuf>,
    follow_symlinks: bool,
    warning: Arc<Mutex<Option<String>>>,
    last_changed: Option<(PathBuf, Instant)>,
}

impl Handler {
    fn handle(&mut self, res: notify::Result<notify::Event>) {
        let event = match res {
            Ok(event) => event,
            Err(e) => {
                let path = e.paths.first().cloned().unwrap_or_default();
                match to_watch_error(e, &path) {
                    WatchError::Limit(message) => {
                        tracing::warn!("{message}");
                        set_warning(&self.warning, &message);
                    }
                    other => tracing::warn!("file watcher: {other}"),
                }
                return;
            }
        };
        for ev in map_event(&event, self.follow_symlinks) {
            if let WatchEvent::Changed(path) = &ev {
                let now = Instant::now();
                if let Some((last, at)) = &self.last_changed
                    && last == path
                    && now.duration_since(*at) < CHANGED_COALESCE
                {
                    continue;
                }
                self.last_changed = Some((path.clone(), now));
            } else {
                self.last_changed = None;
            }
            if let WatchEvent::DirAppeared(dir) = &ev {
                let _ = self.appeared.send(dir.clone());
            }
            if self.tx.send(ev).is_err() {
                return; // the engine is gone
            }
        }
    }
}

/// What one notify event means for the engine (see the module table).
pub fn map_event(event: &notify::Event, follow_symlinks: bool) -> Vec<WatchEvent> {
    if event.need_rescan() {
        return vec![WatchEvent::Rescan];
    }
    let paths = event.paths.iter();
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {
            paths.cloned().map(WatchEvent::Closed).collect()
        }
        EventKind::Create(CreateKind::Folder) => {
            paths.cloned().map(WatchEvent::DirAppeared).collect()
        }
        EventKind::Create(_) => paths
            .filter_map(|p| classify(p, follow_symlinks, WatchEvent::Changed))
            .collect(),
        EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => {
            paths.cloned().map(WatchEvent::Changed).collect()
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
            paths.cloned().map(WatchEvent::Removed).collect()
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => paths
            .filter_map(|p| classify(p, follow_symlinks, WatchEvent::Closed))
            .collect(),
        // inotify sends `From` and `To` besides `Both`.
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => Vec::new(),
        // Other platforms only say "renamed": whether it is here now tells which side it was.
        EventKind::Modify(ModifyKind::Name(_)) => paths
            .map(|p| {
                classify(p, follow_symlinks, WatchEvent::Closed)
                    .unwrap_or_else(|| WatchEvent::Removed(p.clone()))
            })
            .collect(),
        EventKind::Remove(_) => paths.cloned().map(WatchEvent::Removed).collect(),
        _ => Vec::new(),
    }
}

/// A path that appeared: a directory, a file (`file_event`), or nothing (gone already, a
/// symlink not followed, a socket or FIFO).
fn classify(
    path: &Path,
    follow_symlinks: bool,
    file_event: fn(PathBuf) -> WatchEvent,
) -> Option<WatchEvent> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let meta = if meta.file_type().is_symlink() {
        if !follow_symlinks {
            return None;
        }
        std::fs::metadata(path).ok()?
    } else {
        meta
    };
    if meta.is_dir() {
        Some(WatchEvent::DirAppeared(path.to_path_buf()))
    } else if meta.is_file() {
        Some(file_event(path.to_path_buf()))
    } else {
        None
    }
}

fn read_limit(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The message for "out of inotify watches".
fn watches_message(path: &Path) -> String {
    let at = if path.as_os_str().is_empty() {
        String::new()
    } else {
        format!(" while watching {}", path.display())
    };
    format!(
        "out of inotify watches{at}: the system allows fs.inotify.max_user_watches = {} \
         (one per watched directory, shared by every program of this user). Live watching is \
         incomplete; changes are still found by the periodic rescans. To fix it, run \
         `sudo sysctl fs.inotify.max_user_watches={SUGGESTED_MAX_WATCHES}`, and to keep it after \
         a reboot `echo fs.inotify.max_user_watches={SUGGESTED_MAX_WATCHES} | sudo tee \
         /etc/sysctl.d/90-imgcloud-inotify.conf`; then restart imgcloudd",
        read_limit("max_user_watches")
    )
}

/// The message for "too many inotify instances / open files".
fn instances_message(error: &std::io::Error) -> String {
    format!(
        "cannot start inotify ({error}): this user has reached fs.inotify.max_user_instances = \
         {} or the process's open-file limit (`ulimit -n`). Live watching is off; changes are \
         still found by the periodic rescans. To fix it, run \
         `sudo sysctl fs.inotify.max_user_instances=1024` (to keep it after a reboot: \
         `echo fs.inotify.max_user_instances=1024 | sudo tee \
         /etc/sysctl.d/90-imgcloud-inotify.conf`) or raise the open-file limit, and check \
         `sudo sysctl fs.inotify.max_user_watches` is at least {SUGGESTED_MAX_WATCHES}; then \
         restart imgcloudd",
        read_limit("max_user_instances")
    )
}

// Linux errno values.
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;
const ENOSPC: i32 = 28;

/// Turns a notify error into a [`WatchError`]; inotify limits become [`WatchError::Limit`].
pub fn to_watch_error(error: notify::Error, path: &Path) -> WatchError {
    let path = error
        .paths
        .first()
        .cloned()
        .unwrap_or_else(|| path.to_path_buf());
    match &error.kind {
        notify::ErrorKind::MaxFilesWatch => WatchError::Limit(watches_message(&path)),
        notify::ErrorKind::Io(io) => match io.raw_os_error() {
            Some(ENOSPC) => WatchError::Limit(watches_message(&path)),
            Some(EMFILE | ENFILE) => WatchError::Limit(instances_message(io)),
            _ if io.kind() == std::io::ErrorKind::PermissionDenied => WatchError::Other {
                path,
                message: "permission denied; give the daemon's user read access to it".into(),
            },
            _ => WatchError::Other {
                path,
                message: io.to_string(),
            },
        },
        notify::ErrorKind::PathNotFound => WatchError::Other {
            path,
            message: "it does not exist; create it, or remove it from the watched folders".into(),
        },
        _ => WatchError::Other {
            path,
            message: error.to_string(),
        },
    }
}

/// Tracks files that changed but were not closed yet; a file is ready when its size and mtime
/// stayed the same for the settle time.
///
/// Each [`Settler::touch`] stats the file and moves its deadline to `now + settle`; at the
/// deadline [`Settler::ready`] stats it again: the same stat means it is ready, another one
/// starts a new wait. So events may be coalesced or lost without taking a file too early.
#[derive(Debug)]
pub struct Settler {
    settle: Duration,
    files: HashMap<PathBuf, Tracked>,
}

#[derive(Debug)]
struct Tracked {
    /// The stat at the last touch or check (None: could not stat it then).
    stat: Option<FileStat>,
    deadline: Instant,
}

fn stat_file(path: &Path) -> Option<FileStat> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| FileStat::of(&m))
}

impl Settler {
    /// A settler waiting `settle` (`DaemonConfig::settle_ms`) of no change.
    pub fn new(settle: Duration) -> Self {
        Self {
            settle,
            files: HashMap::new(),
        }
    }

    /// The file changed at `now`.
    pub fn touch(&mut self, path: PathBuf, now: Instant) {
        let stat = stat_file(&path);
        let deadline = now + self.settle;
        self.files.insert(path, Tracked { stat, deadline });
    }

    /// Stops tracking (closed, taken, or removed).
    pub fn forget(&mut self, path: &Path) {
        self.files.remove(path);
    }

    /// Stops tracking every file under `dir` (a directory was removed).
    pub fn forget_under(&mut self, dir: &Path) {
        self.files.retain(|p, _| !p.starts_with(dir));
    }

    /// Whether `path` is being tracked.
    pub fn contains(&self, path: &Path) -> bool {
        self.files.contains_key(path)
    }

    /// How many files are tracked.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file is tracked.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Files whose size and mtime did not change for the settle time (stat'ed now); files
    /// still changing are kept with a new deadline, vanished files are dropped.
    pub fn ready(&mut self, now: Instant) -> Vec<PathBuf> {
        let mut ready = Vec::new();
        let settle = self.settle;
        self.files.retain(|path, tracked| {
            if tracked.deadline > now {
                return true;
            }
            match stat_file(path) {
                None => false,
                Some(stat) if tracked.stat == Some(stat) => {
                    ready.push(path.clone());
                    false
                }
                Some(stat) => {
                    tracked.stat = Some(stat);
                    tracked.deadline = now + settle;
                    true
                }
            }
        });
        ready.sort();
        ready
    }

    /// When `ready` should be called next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.files.values().map(|t| t.deadline).min()
    }
}

#[cfg(test)]
mod tests;
