//! The whole daemon as `imgcloudd` runs it: the engine, the IPC socket, the PicGo endpoint,
//! the banner, and a graceful stop on SIGTERM/SIGINT.
//!
//! stdout carries results only (`<path>\t<link>` per upload with `print_links`); everything
//! for people (banner, `ready` line, logs) goes to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use imgcloud_core::daemon_api::{WatchedFolder, socket_path};
use imgcloud_core::daemon_config::DaemonConfig;
use imgcloud_core::paths::Dirs;
use tokio_util::sync::CancellationToken;

use crate::cloud::CloudOptions;
use crate::control::Control;
use crate::engine::{Daemon, DaemonOptions};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub dirs: Dirs,
    pub cloud: CloudOptions,
    /// Folders to add to `daemon.toml` before starting (`imgcloudd watch DIR…`).
    pub add_folders: Vec<PathBuf>,
    /// Print `<path>\t<link>` on stdout for each upload.
    pub print_links: bool,
    /// `--no-picgo`.
    pub no_picgo: bool,
    /// `--picgo-listen` (overrides `picgo_listen`, and turns the endpoint on).
    pub picgo_listen: Option<SocketAddr>,
    /// Where logs go (for the banner).
    pub log_dir: Option<PathBuf>,
}

/// Adds folders to `daemon.toml` (absolute, canonical, must exist); returns their paths.
pub fn add_folders(dirs: &Dirs, folders: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    if folders.is_empty() {
        return Ok(Vec::new());
    }
    let path = dirs.daemon_config_file();
    let mut config = DaemonConfig::load(&path)?;
    let mut added = Vec::new();
    for folder in folders {
        let canonical = crate::engine::canonical_folder(folder).map_err(anyhow::Error::msg)?;
        if !config.folders.iter().any(|f| f.path == canonical) {
            config.add_folder(WatchedFolder::new(&canonical));
        }
        added.push(canonical);
    }
    config.validate().map_err(anyhow::Error::msg)?;
    config
        .save(&path)
        .with_context(|| format!("cannot save {}", path.display()))?;
    Ok(added)
}

/// Runs until SIGTERM/SIGINT; then stops taking work, lets uploads in flight reach a
/// checkpoint, and returns.
pub async fn run(options: RunOptions) -> anyhow::Result<()> {
    // Before anything else: a SIGTERM during start-up must stop us gracefully too.
    let mut signals = Signals::install()?;
    let socket = socket_path(&options.dirs);
    // One daemon per queue: refuse before touching anything when another one answers.
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        anyhow::bail!(
            "another imgcloudd is running (it answers on {}); stop it first (`systemctl --user stop imgcloudd`), or use other IMGCLOUD_*_DIR directories",
            socket.display()
        );
    }
    add_folders(&options.dirs, &options.add_folders)?;
    let config = DaemonConfig::load(&options.dirs.daemon_config_file())?;
    let mut daemon_options = DaemonOptions::new(options.dirs.clone());
    daemon_options.cloud = options.cloud.clone();
    daemon_options.print_links = options.print_links;
    let picgo_listen = options.picgo_listen.unwrap_or(config.picgo_listen);
    let picgo_on = !options.no_picgo && (config.picgo || options.picgo_listen.is_some());
    if picgo_on && !picgo_listen.ip().is_loopback() {
        anyhow::bail!(
            "--picgo-listen {picgo_listen}: the PicGo endpoint has no authentication and must listen on a loopback address"
        );
    }
    let daemon = Daemon::start(daemon_options).await?;
    let control: Arc<dyn Control> = Arc::new(daemon.clone());
    let quit = CancellationToken::new();

    let picgo = if picgo_on {
        let clipboard_dir = options.dirs.daemon_state().join("clipboard");
        let control = control.clone();
        let quit = quit.clone();
        let key = crate::picgo::KeySource::of(options.dirs.clone());
        Some(tokio::spawn(async move {
            if let Err(e) = crate::picgo::serve(
                picgo_listen,
                control,
                clipboard_dir,
                key,
                quit.cancelled_owned(),
            )
            .await
            {
                tracing::warn!(
                    "the PicGo endpoint is off: {e:#} (is PicGo or another imgcloudd running? set picgo_listen in daemon.toml or pass --no-picgo)"
                );
            }
        }))
    } else {
        None
    };
    // Listening before the socket answers: whoever sees the daemon up can use PicGo too.
    if let Some(task) = &picgo {
        wait_listening(picgo_listen, task).await;
    }

    let mut ipc = {
        let (socket, control, quit) = (socket.clone(), control.clone(), quit.clone());
        tokio::spawn(
            async move { crate::ipc::serve(&socket, control, quit.cancelled_owned()).await },
        )
    };
    // serve() binds at once: a quick failure (another daemon on the socket) is fatal.
    if let Ok(joined) = tokio::time::timeout(Duration::from_millis(300), &mut ipc).await {
        let error = match joined {
            Ok(Ok(())) => anyhow::anyhow!("the IPC server stopped at once"),
            Ok(Err(e)) => e,
            Err(e) => anyhow::anyhow!("the IPC server failed: {e}"),
        };
        let _ = daemon.shutdown().await;
        return Err(error.context(format!("cannot serve {}", socket.display())));
    }

    eprint!(
        "{}",
        banner(
            &daemon,
            &socket,
            picgo_on.then_some(picgo_listen),
            options.log_dir.as_deref()
        )
    );

    let stopped_by_signal = tokio::select! {
        _ = signals.recv() => true,
        joined = &mut ipc => {
            match joined {
                Ok(Ok(())) => tracing::error!("the IPC server stopped"),
                Ok(Err(e)) => tracing::error!("the IPC server failed: {e:#}"),
                Err(e) => tracing::error!("the IPC server failed: {e}"),
            }
            false
        }
    };
    if stopped_by_signal {
        eprintln!("imgcloudd: stopping (uploads in flight get up to 10 s to reach a checkpoint)");
    }
    quit.cancel();
    daemon.shutdown().await?;
    let _ = tokio::time::timeout(Duration::from_secs(2), ipc).await;
    if let Some(picgo) = picgo {
        let _ = tokio::time::timeout(Duration::from_secs(2), picgo).await;
    }
    if stopped_by_signal {
        Ok(())
    } else {
        anyhow::bail!("the IPC server stopped; imgcloudd exits")
    }
}

/// Waits (at most 2 s) until `addr` accepts connections or the server task ended.
async fn wait_listening(addr: SocketAddr, task: &tokio::task::JoinHandle<()>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline && !task.is_finished() {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGTERM and SIGINT, caught from the moment they are installed.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

fn banner(
    daemon: &Daemon,
    socket: &std::path::Path,
    picgo: Option<SocketAddr>,
    log_dir: Option<&std::path::Path>,
) -> String {
    let status = daemon.status();
    let mut text = format!(
        "imgcloudd {}\n  cloud:    {} ({})\n",
        env!("CARGO_PKG_VERSION"),
        daemon.server(),
        if daemon.is_embedded() {
            "embedded, hosted by this daemon"
        } else {
            "remote"
        }
    );
    if status.folders.is_empty() {
        text.push_str(
            "  folders:  none yet (add one: imgcloudd watch DIR, or imgcloud watch add DIR)\n",
        );
    }
    for (i, folder) in status.folders.iter().enumerate() {
        let label = if i == 0 { "folders:" } else { "" };
        text.push_str(&format!("  {label:<9} {}\n", folder.path.display()));
    }
    text.push_str(&format!("  socket:   {}\n", socket.display()));
    match daemon.backup_dir() {
        Some(dir) => text.push_str(&format!("  backup:   {}\n", dir.display())),
        None => text.push_str("  backup:   off\n"),
    }
    match picgo {
        Some(addr) => text.push_str(&format!("  picgo:    http://{addr}/upload\n")),
        None => text.push_str("  picgo:    off\n"),
    }
    if let Some(dir) = log_dir {
        text.push_str(&format!("  logs:     {}\n", dir.display()));
    }
    text.push_str(
        "New images are uploaded as they arrive; each link is printed on stdout.\n\
         Status: imgcloud status [--follow]   Stop: Ctrl-C (or SIGTERM)\n",
    );
    text.push_str(&format!("ready {}\n", daemon.server()));
    text
}
