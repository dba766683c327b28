//! A sync daemon under test: the real `imgcloudd` binary hosting its embedded cloud, in temp
//! dirs, on ports chosen once so links stay valid across restarts.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use imgcloud_core::client::Client;
use imgcloud_core::credentials::Credentials;
use imgcloud_core::daemon_api::Status;
use tempfile::TempDir;

use crate::cli::{self, CliOutput};

/// How long a start may take until `imgcloud status` answers.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One `imgcloudd` instance (restartable) and everything it owns.
pub struct SyncDaemon {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub runtime_dir: PathBuf,
    /// The watched folder.
    pub watch_dir: PathBuf,
    /// A folder outside the watched one (for `mv` into it, and test inputs).
    pub outside_dir: PathBuf,
    pub api_port: u16,
    pub s3_port: u16,
    args: Vec<String>,
    child: Option<Child>,
    /// `<path>\t<link>` lines from stdout, across restarts.
    uploaded: Arc<Mutex<Vec<(PathBuf, String)>>>,
    log_path: PathBuf,
    starts: u32,
    /// Run the daemon as `nobody` (see [`SyncDaemon::unprivileged_when_root`]).
    unprivileged: bool,
    _root: TempDir,
}

impl SyncDaemon {
    /// Creates the dirs and picks ports; `extra_args` go to every start.
    pub fn new(extra_args: &[&str]) -> anyhow::Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("imgcloud-daemon-")
            .tempdir()?;
        let dir = |name: &str| -> anyhow::Result<PathBuf> {
            let path = root.path().join(name);
            std::fs::create_dir_all(&path)?;
            Ok(path)
        };
        Ok(Self {
            config_dir: dir("config")?,
            data_dir: dir("data")?,
            runtime_dir: dir("run")?,
            watch_dir: dir("watched")?,
            outside_dir: dir("outside")?,
            api_port: free_port()?,
            s3_port: free_port()?,
            args: extra_args.iter().map(|s| s.to_string()).collect(),
            child: None,
            uploaded: Arc::default(),
            log_path: root.path().join("daemon.log"),
            starts: 0,
            unprivileged: false,
            _root: root,
        })
    }

    /// Adds flags for every following start.
    pub fn arg(&mut self, arg: &str) -> &mut Self {
        self.args.push(arg.to_string());
        self
    }

    /// When the tests run as root, runs the daemon as `nobody` (via `setpriv`), so permissions
    /// apply to it as they do to a real user (root reads a `chmod 000` file). Opens the
    /// instance's directories to it. Returns whether it switched.
    pub fn unprivileged_when_root(&mut self) -> anyhow::Result<bool> {
        let uid = Command::new("id").arg("-u").output()?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Ok(false);
        }
        use std::os::unix::fs::PermissionsExt;
        let open = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        };
        open(self._root.path(), 0o755)?;
        for dir in [&self.config_dir, &self.data_dir, &self.runtime_dir] {
            open(dir, 0o777)?;
        }
        for dir in [&self.watch_dir, &self.outside_dir] {
            open(dir, 0o755)?;
        }
        self.unprivileged = true;
        Ok(true)
    }

    /// Writes `daemon.toml` (before the first start; `watch DIR` adds the folder to it).
    pub fn write_daemon_config(&self, toml: &str) {
        std::fs::write(self.config_dir.join("daemon.toml"), toml).expect("write daemon.toml");
    }

    /// The environment pointing imgcloud programs at this instance's dirs.
    pub fn env(&self) -> Vec<(String, OsString)> {
        vec![
            ("IMGCLOUD_CONFIG_DIR".into(), self.config_dir.clone().into()),
            ("IMGCLOUD_DATA_DIR".into(), self.data_dir.clone().into()),
            (
                "IMGCLOUD_RUNTIME_DIR".into(),
                self.runtime_dir.clone().into(),
            ),
        ]
    }

    /// Starts `imgcloudd watch WATCH_DIR` and waits until its socket answers.
    pub fn start(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "already running");
        let binary = crate::bins::binary("imgcloudd")?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let mut command = if self.unprivileged {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&binary);
            c
        } else {
            Command::new(&binary)
        };
        if !self.args.iter().any(|a| a == "--picgo-listen") {
            command.arg("--no-picgo");
        }
        command
            .arg("watch")
            .arg(&self.watch_dir)
            .args(["--listen", &format!("127.0.0.1:{}", self.api_port)])
            .args(["--s3-listen", &format!("127.0.0.1:{}", self.s3_port)])
            .args(&self.args)
            .envs(self.env())
            .env_remove("IMGCLOUD_TOKEN")
            .env_remove("IMGCLOUD_SERVER")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env(
                "RUST_LOG",
                std::env::var("IMGCLOUD_E2E_DAEMON_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let uploaded = self.uploaded.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((path, link)) = line.split_once('\t') {
                    uploaded
                        .lock()
                        .unwrap()
                        .push((PathBuf::from(path), link.trim().to_string()));
                }
            }
        });
        self.child = Some(child);
        self.starts += 1;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(exit)) = self.child.as_mut().unwrap().try_wait() {
                self.child = None;
                anyhow::bail!("imgcloudd exited at start ({exit}); log:\n{}", self.log());
            }
            if self.try_status().is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "imgcloudd did not answer within {START_TIMEOUT:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub fn stop(&mut self) -> anyhow::Result<Option<i32>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("imgcloudd did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Runs `imgcloud ARGS` against this instance.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let binary = crate::bins::binary("imgcloud").expect("imgcloud binary");
        cli::run(&binary, args, &self.env(), Some(&self.outside_dir), None).expect("run imgcloud")
    }

    fn try_status(&self) -> anyhow::Result<Status> {
        let out = self.cli(&["status", "--json"]);
        anyhow::ensure!(out.code == 0, "imgcloud status failed:\n{out}");
        serde_json::from_str(&out.stdout)
            .with_context(|| format!("imgcloud status --json printed:\n{out}"))
    }

    /// `imgcloud status --json`, parsed.
    pub fn status(&self) -> Status {
        self.try_status().expect("imgcloud status --json")
    }

    /// Polls the status until `done` holds; fails with the last status and the log.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Status) -> bool,
    ) -> anyhow::Result<Status> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            if let Ok(status) = self.try_status() {
                if done(&status) {
                    return Ok(status);
                }
                last = Some(status);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        anyhow::bail!(
            "timed out after {timeout:?} waiting for {what}; last status: {last:#?}\nlog tail:\n{}",
            tail(&self.log(), 80)
        )
    }

    /// Waits until `n` files are backed up and nothing is pending.
    pub fn wait_synced(&self, n: u64, timeout: Duration) -> anyhow::Result<Status> {
        self.wait_for(&format!("{n} files backed up"), timeout, |s| {
            s.counts.backed_up >= n && s.counts.pending() == 0 && s.in_flight.is_empty()
        })
    }

    /// `(path, link)` of every upload the daemon printed, across restarts.
    pub fn uploaded_lines(&self) -> Vec<(PathBuf, String)> {
        self.uploaded.lock().unwrap().clone()
    }

    /// The API URL (fixed across restarts).
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// An API client for the embedded cloud's local user.
    pub fn client(&self) -> anyhow::Result<Client> {
        let path = self.config_dir.join("credentials.toml");
        let creds = Credentials::load(&path)?;
        let token = creds
            .token(&self.api_url())
            .map(str::to_string)
            .or_else(|| creds.tokens.values().next().cloned())
            .with_context(|| format!("no token in {}", path.display()))?;
        Ok(Client::new(&self.api_url(), Some(token))?)
    }

    /// Originals stored in the embedded object store (`i/{id}/{name}` keys).
    pub fn count_originals(&self) -> usize {
        crate::cloud::count_files(&self.data_dir.join("cloud/objects/imgcloud/i"))
    }

    /// The backup store's object of `sha256`, if present.
    pub fn backup_object(&self, sha256: &str) -> PathBuf {
        self.data_dir
            .join("backup/objects")
            .join(&sha256[..2])
            .join(sha256)
    }

    /// The daemon's stderr so far (all starts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// How many times it was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }
}

impl Drop for SyncDaemon {
    fn drop(&mut self) {
        let _ = self.stop();
        if std::thread::panicking() {
            eprintln!("--- imgcloudd log (tail)\n{}", tail(&self.log(), 80));
        }
    }
}

/// Every image of the user, trash included, by SHA-256 → count (duplicates show as > 1).
pub async fn images_by_sha(client: &Client) -> anyhow::Result<HashMap<String, usize>> {
    let mut counts = HashMap::new();
    for trash in [false, true] {
        let mut cursor = None;
        loop {
            let page = client
                .list_images(&imgcloud_core::client::ListParams {
                    cursor: cursor.clone(),
                    limit: Some(500),
                    trash,
                    ..Default::default()
                })
                .await?;
            for image in page.items {
                *counts.entry(image.sha256).or_insert(0) += 1;
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(counts)
}

/// Of the `expected` SHA-256s, how many the library lacks, and how many of its contents it holds
/// more than once: `(lost, duplicated)`.
pub fn lost_and_duplicated<'a>(
    expected: impl IntoIterator<Item = &'a String>,
    in_cloud: &HashMap<String, usize>,
) -> (usize, usize) {
    let lost = expected
        .into_iter()
        .filter(|sha| !in_cloud.contains_key(*sha))
        .count();
    let duplicated = in_cloud.values().filter(|n| **n > 1).count();
    (lost, duplicated)
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Writes `bytes` to `path` through a temp name in another folder and a rename (like `mv`).
pub fn move_in(bytes: &[u8], staging: &Path, target: &Path) -> std::io::Result<()> {
    let tmp = staging.join(format!(
        "staging-{}",
        target.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, target)
}
