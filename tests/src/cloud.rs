//! An embedded all-in-one cloud: the real `imgcloud-server` binary in temp dirs on free ports.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use imgcloud_core::client::Client;
use imgcloud_core::credentials::Credentials;
use tempfile::TempDir;

use crate::cli::{self, CliOutput};

/// How long the server may take to print `ready <url>`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running embedded cloud; killed (and its dirs removed) on drop.
pub struct EmbeddedCloud {
    /// Base URL of the HTTP API, from the server's `ready <url>` line.
    pub api_url: String,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    /// A scratch directory for test files, removed with the cloud.
    pub work_dir: PathBuf,
    log_path: PathBuf,
    args: Vec<String>,
    child: Child,
    _root: TempDir,
}

impl EmbeddedCloud {
    /// Starts a fresh cloud with default settings on loopback ports.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts a fresh cloud with extra server flags (e.g. `--multipart-cutoff N`).
    pub fn start_with(extra_args: &[&str]) -> anyhow::Result<Self> {
        let root = tempfile::Builder::new().prefix("imgcloud-e2e-").tempdir()?;
        let config_dir = root.path().join("config");
        let data_dir = root.path().join("data");
        let work_dir = root.path().join("work");
        for dir in [&config_dir, &data_dir, &work_dir] {
            std::fs::create_dir_all(dir)?;
        }
        let log_path = root.path().join("server.log");
        let args: Vec<String> = extra_args.iter().map(|a| a.to_string()).collect();
        let (child, api_url) = spawn(&config_dir, &data_dir, &log_path, &args)?;
        Ok(Self {
            api_url,
            config_dir,
            data_dir,
            work_dir,
            log_path,
            args,
            child,
            _root: root,
        })
    }

    /// `kill -9` of the server, then a start on the same directories (new ports: the CLI's
    /// configuration is rewritten by the server, as on any start).
    pub fn kill9_and_restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        self.start_again()
    }

    /// Stops the server (SIGKILL), keeping its directories; [`Self::start_again`] brings it back.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Starts the server again on the same directories (after [`Self::stop`]).
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        let (child, api_url) = spawn(&self.config_dir, &self.data_dir, &self.log_path, &self.args)?;
        self.child = child;
        self.api_url = api_url;
        Ok(())
    }

    /// Runs `imgcloud-server ARGS` (admin commands) on this cloud's directories.
    pub fn admin(&self, args: &[&str]) -> anyhow::Result<CliOutput> {
        let binary = crate::bins::binary("imgcloud-server")?;
        cli::run(&binary, args, &self.env(), None, None)
    }

    /// The environment that points imgcloud programs at this cloud's dirs.
    pub fn env(&self) -> Vec<(String, OsString)> {
        dir_env(&self.config_dir, &self.data_dir)
    }

    /// Runs `imgcloud ARGS` as the cloud's local user (token from the credentials file the
    /// server wrote), in [`Self::work_dir`].
    pub fn run_cli(&self, args: &[&str]) -> CliOutput {
        self.run_cli_with(args, &[], None)
    }

    /// Runs `imgcloud ARGS` with extra environment variables and optional stdin.
    pub fn run_cli_with(
        &self,
        args: &[&str],
        extra_env: &[(&str, &str)],
        stdin: Option<&[u8]>,
    ) -> CliOutput {
        let binary = crate::bins::binary("imgcloud").expect("imgcloud binary");
        let mut env = self.env();
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), OsString::from(v))),
        );
        cli::run(&binary, args, &env, Some(&self.work_dir), stdin).expect("run imgcloud")
    }

    /// Runs `imgcloud ARGS` with `token` in `IMGCLOUD_TOKEN` (another user).
    pub fn run_cli_as(&self, token: &str, args: &[&str]) -> CliOutput {
        self.run_cli_with(args, &[("IMGCLOUD_TOKEN", token)], None)
    }

    /// The local user's API token, as the server stored it for the CLI.
    pub fn token(&self) -> anyhow::Result<String> {
        let path = self.config_dir.join("credentials.toml");
        let creds = Credentials::load(&path)?;
        creds
            .token(&self.api_url)
            .map(str::to_string)
            .or_else(|| creds.tokens.values().next().cloned())
            .with_context(|| format!("no token in {}", path.display()))
    }

    /// Creates a user with `imgcloud-server user add NAME` and returns its token.
    pub fn add_user(&self, name: &str) -> anyhow::Result<String> {
        let binary = crate::bins::binary("imgcloud-server")?;
        let output = cli::run(&binary, &["user", "add", name], &self.env(), None, None)?;
        anyhow::ensure!(
            output.code == 0,
            "`imgcloud-server user add {name}` failed:\n{output}"
        );
        let token = output.stdout.trim().to_string();
        anyhow::ensure!(
            !token.is_empty() && !token.contains(char::is_whitespace),
            "unexpected token output:\n{output}"
        );
        Ok(token)
    }

    /// An API client for the local user.
    pub fn client(&self) -> anyhow::Result<Client> {
        self.client_for(&self.token()?)
    }

    /// An API client with `token`.
    pub fn client_for(&self, token: &str) -> anyhow::Result<Client> {
        Ok(Client::new(&self.api_url, Some(token.to_string()))?)
    }

    /// The embedded cloud's own directory (database, objects, `cloud.toml`).
    pub fn cloud_dir(&self) -> PathBuf {
        self.data_dir.join("cloud")
    }

    /// Number of stored objects: files under the object store's directory, without the
    /// store's own hidden bookkeeping files.
    pub fn count_objects(&self) -> usize {
        count_files(&self.cloud_dir().join("objects"))
    }

    /// The server's log so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Writes `bytes` to `work_dir/name` (creating parent dirs) and returns the path.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.work_dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, bytes).expect("write test file");
        path
    }
}

impl Drop for EmbeddedCloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            print_log_tail("imgcloud-server", &self.log());
        }
    }
}

/// Prints the last 60 lines of `log` to stderr, headed with `name` (for a failing test).
pub fn print_log_tail(name: &str, log: &str) {
    let tail: Vec<&str> = log.lines().rev().take(60).collect();
    eprintln!("--- {name} log (last {} lines)", tail.len());
    for line in tail.iter().rev() {
        eprintln!("{line}");
    }
}

fn dir_env(config: &Path, data: &Path) -> Vec<(String, OsString)> {
    vec![
        ("IMGCLOUD_CONFIG_DIR".into(), config.into()),
        ("IMGCLOUD_DATA_DIR".into(), data.into()),
        ("IMGCLOUD_RUNTIME_DIR".into(), data.join("run").into()),
    ]
}

/// Regular files under `dir` whose names do not start with `.`, recursively (0 when `dir` does
/// not exist).
pub fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => count_files(&entry.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}

/// Starts `imgcloud-server` on `config`/`data` (appending to `log_path`) and waits for its
/// `ready <url>` line.
fn spawn(
    config_dir: &Path,
    data_dir: &Path,
    log_path: &Path,
    extra_args: &[String],
) -> anyhow::Result<(Child, String)> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)?;
    let binary = crate::bins::binary("imgcloud-server")?;
    let mut command = Command::new(&binary);
    command
        .args(["--listen", "127.0.0.1:0"])
        .args(
            (!extra_args.iter().any(|a| a == "--s3-listen"))
                .then_some(["--s3-listen", "127.0.0.1:0"])
                .into_iter()
                .flatten(),
        )
        .args(extra_args)
        .envs(dir_env(config_dir, data_dir))
        .env_remove("IMGCLOUD_TOKEN")
        .env_remove("IMGCLOUD_SERVER")
        .env(
            "RUST_LOG",
            std::env::var("IMGCLOUD_E2E_SERVER_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;

    // Read stdout on a thread so a silent server cannot hang the test.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("ready ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(url) => Ok((child, url.trim_end_matches('/').to_string())),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            anyhow::bail!(
                "imgcloud-server did not print `ready <url>` within {START_TIMEOUT:?}; its log:\n{log}"
            );
        }
    }
}
