//! The production stack (`scripts/stack.sh`): PostgreSQL, memcached, the standalone S3 store,
//! two `imgcloud-server` replicas and nginx as load balancer and CDN, all on loopback, in a
//! private state directory under a temp dir. Brought `down` on drop.
//!
//! The stack script is told where the binaries are (`IMGCLOUD_BIN_DIR`, the directory
//! [`crate::bins::binary`] finds `imgcloud-server` in), so it builds nothing itself.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use imgcloud_core::client::Client;
use tempfile::TempDir;

use crate::cli::{self, CliOutput};
use crate::http::{Fetched, request};

/// Services `stop`/`start`/`kill` accept.
pub const SERVICES: &[&str] = &[
    "postgres",
    "memcached",
    "s3",
    "replica-1",
    "replica-2",
    "nginx",
];

/// How long `stack.sh up` may take (a fresh PostgreSQL cluster is the slow part).
const UP_TIMEOUT: Duration = Duration::from_secs(240);

/// A running stack; `scripts/stack.sh down` on drop.
pub struct Stack {
    /// The load balancer's URL (`IMGCLOUD_SERVER`).
    pub server: String,
    /// The demo user's token (`IMGCLOUD_TOKEN`).
    pub token: String,
    /// The CDN's base URL (`IMGCLOUD_STACK_CDN`).
    pub cdn: String,
    /// The object store's URL (`IMGCLOUD_STACK_S3`).
    pub s3: String,
    /// PostgreSQL URL (`IMGCLOUD_STACK_DATABASE_URL`); holds a password: never print it.
    pub database_url: String,
    /// `host:port` of memcached (`IMGCLOUD_STACK_MEMCACHED`).
    pub memcached: String,
    /// Each replica's own URL (`IMGCLOUD_STACK_REPLICAS`), replica-1 first.
    pub replicas: Vec<String>,
    /// Name of the demo user (`IMGCLOUD_STACK_DEMO_USER`).
    pub demo_user: String,
    /// The stack's state directory (`IMGCLOUD_STACK_DIR`).
    pub state_dir: PathBuf,
    /// A scratch directory for test files, removed with the stack.
    pub work_dir: PathBuf,
    /// Every `NAME=value` line `up` printed.
    pub env: BTreeMap<String, String>,
    bin_dir: PathBuf,
    down: bool,
    _root: TempDir,
}

/// `scripts/stack.sh` of this workspace.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("stack.sh")
}

/// `value` as a TOML basic string.
fn toml_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Parses `NAME=value` lines (optionally `export NAME=value`, optionally quoted).
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .map(|l| l.strip_prefix("export ").unwrap_or(l))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                .unwrap_or(v);
            (k.to_string(), v.to_string())
        })
        .collect()
}

impl Stack {
    /// Brings a fresh stack up.
    pub fn up() -> anyhow::Result<Self> {
        Self::up_with(&[])
    }

    /// Brings a fresh stack up with extra environment for `stack.sh` (e.g.
    /// `IMGCLOUD_STACK_NO_MEMCACHED=1`).
    pub fn up_with(extra_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("imgcloud-stack-e2e-")
            .tempdir()?;
        let state_dir = root.path().join("stack");
        let work_dir = root.path().join("work");
        std::fs::create_dir_all(&work_dir)?;
        let server_bin = crate::bins::binary("imgcloud-server")?;
        let bin_dir = server_bin
            .parent()
            .context("imgcloud-server has no parent directory")?
            .to_path_buf();
        let mut stack = Self {
            server: String::new(),
            token: String::new(),
            cdn: String::new(),
            s3: String::new(),
            database_url: String::new(),
            memcached: String::new(),
            replicas: Vec::new(),
            demo_user: String::new(),
            state_dir,
            work_dir,
            env: BTreeMap::new(),
            bin_dir,
            down: false,
            _root: root,
        };
        // From here on, drop brings down whatever `up` managed to start.
        let output = stack.script_run(&["up"], extra_env, UP_TIMEOUT)?;
        if output.code != 0 {
            bail!(
                "`stack.sh up` failed (exit code {}):\n--- stderr\n{}\n{}",
                output.code,
                output.stderr,
                stack.logs_tail(40)
            );
        }
        let mut env = parse_env(&output.stdout);
        if let Ok(file) = std::fs::read_to_string(stack.state_dir.join("stack.env")) {
            for (k, v) in parse_env(&file) {
                env.entry(k).or_insert(v);
            }
        }
        let get = |name: &str| -> anyhow::Result<String> {
            env.get(name)
                .cloned()
                .filter(|v| !v.is_empty())
                .with_context(|| format!("`stack.sh up` did not print {name}=…"))
        };
        stack.server = get("IMGCLOUD_SERVER")?.trim_end_matches('/').to_string();
        stack.token = get("IMGCLOUD_TOKEN")?;
        stack.cdn = get("IMGCLOUD_STACK_CDN")?.trim_end_matches('/').to_string();
        stack.s3 = get("IMGCLOUD_STACK_S3")?.trim_end_matches('/').to_string();
        stack.database_url = get("IMGCLOUD_STACK_DATABASE_URL")?;
        stack.memcached = env
            .get("IMGCLOUD_STACK_MEMCACHED")
            .cloned()
            .unwrap_or_default();
        stack.replicas = get("IMGCLOUD_STACK_REPLICAS")?
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        ensure!(
            stack.replicas.len() >= 2,
            "IMGCLOUD_STACK_REPLICAS names fewer than two replicas"
        );
        stack.demo_user = env
            .get("IMGCLOUD_STACK_DEMO_USER")
            .cloned()
            .unwrap_or_else(|| "demo".into());
        stack.env = env;
        Ok(stack)
    }

    /// Runs `scripts/stack.sh ARGS` for this stack, waiting at most `timeout`.
    fn script_run(
        &self,
        args: &[&str],
        extra_env: &[(&str, &str)],
        timeout: Duration,
    ) -> anyhow::Result<CliOutput> {
        let log_dir = self._root.path().join("script-output");
        std::fs::create_dir_all(&log_dir)?;
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let tag = format!(
            "{}-{}",
            RUNS.fetch_add(1, Ordering::Relaxed),
            args.join("-")
        );
        let out_path = log_dir.join(format!("{tag}.out"));
        let err_path = log_dir.join(format!("{tag}.err"));
        let mut command = Command::new("bash");
        command.arg(script()).args(args);
        for (name, _) in std::env::vars_os() {
            if name
                .to_str()
                .is_some_and(|n| n.starts_with("IMGCLOUD_") || n == "RUST_LOG")
            {
                command.env_remove(&name);
            }
        }
        command
            .env("IMGCLOUD_STACK_DIR", &self.state_dir)
            .env("IMGCLOUD_BIN_DIR", &self.bin_dir)
            .envs(extra_env.iter().copied())
            .stdin(Stdio::null())
            // Files, not pipes: daemons the script starts inherit its stdout/stderr and would
            // keep a pipe open forever.
            .stdout(std::fs::File::create(&out_path)?)
            .stderr(std::fs::File::create(&err_path)?);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot run {}", script().display()))?;
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "`stack.sh {}` did not finish within {timeout:?}; stderr:\n{}",
                    args.join(" "),
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(CliOutput {
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
            code: status.code().unwrap_or(-1),
        })
    }

    fn service_command(&self, verb: &str, service: &str) -> anyhow::Result<()> {
        ensure!(SERVICES.contains(&service), "unknown service {service:?}");
        let output = self.script_run(&[verb, service], &[], Duration::from_secs(120))?;
        ensure!(
            output.code == 0,
            "`stack.sh {verb} {service}` failed:\n{output}"
        );
        Ok(())
    }

    /// `stack.sh stop SERVICE`: stops one service, keeping its port and data.
    pub fn stop(&self, service: &str) -> anyhow::Result<()> {
        self.service_command("stop", service)
    }

    /// `stack.sh start SERVICE`: starts a stopped service again on the same port.
    pub fn start(&self, service: &str) -> anyhow::Result<()> {
        self.service_command("start", service)
    }

    /// The pid in `$STATE/pids/SERVICE.pid`.
    pub fn pid(&self, service: &str) -> anyhow::Result<u32> {
        let path = self.state_dir.join("pids").join(format!("{service}.pid"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        text.trim()
            .parse()
            .with_context(|| format!("{} does not hold a pid", path.display()))
    }

    /// Sends SIGKILL to SERVICE (no chance to drain or say goodbye).
    pub fn kill(&self, service: &str) -> anyhow::Result<()> {
        let pid = self.pid(service)?;
        let status = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .context("cannot run kill")?;
        ensure!(status.success(), "kill -KILL {pid} ({service}) failed");
        Ok(())
    }

    /// Whether the process in SERVICE's pid file is alive.
    pub fn is_running(&self, service: &str) -> bool {
        self.pid(service)
            .map(|pid| Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid))
            .unwrap_or(false)
    }

    /// An API client through the load balancer, as the demo user.
    pub fn client(&self) -> anyhow::Result<Client> {
        self.client_at(&self.server, &self.token)
    }

    /// An API client for `url` with `token`.
    pub fn client_at(&self, url: &str, token: &str) -> anyhow::Result<Client> {
        Ok(Client::new(url, Some(token.to_string()))?)
    }

    /// `GET {replica}/metrics`.
    pub async fn metrics(&self, replica: &str) -> anyhow::Result<String> {
        let fetched = request("GET", &format!("{replica}/metrics"), None, None).await?;
        ensure!(
            fetched.status == 200,
            "GET {replica}/metrics answered {}",
            fetched.status
        );
        Ok(fetched.text())
    }

    /// Each replica's value of `name` (summed over samples whose labels contain every one of
    /// `labels`), in replica order.
    pub async fn metric_per_replica(
        &self,
        name: &str,
        labels: &[&str],
    ) -> anyhow::Result<Vec<f64>> {
        let mut values = Vec::new();
        for replica in &self.replicas {
            let text = self.metrics(replica).await?;
            values.push(crate::metrics::sum(&text, name, labels));
        }
        Ok(values)
    }

    /// `name` summed over every replica.
    pub async fn metric_sum(&self, name: &str, labels: &[&str]) -> anyhow::Result<f64> {
        Ok(self.metric_per_replica(name, labels).await?.iter().sum())
    }

    /// Whether every replica's `/metrics` names `name` at all.
    pub async fn has_metric(&self, name: &str) -> anyhow::Result<bool> {
        for replica in &self.replicas {
            let text = self.metrics(replica).await?;
            if !crate::metrics::parse(&text).iter().any(|s| s.name == name) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// An authenticated request (`token`) to `url`.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        json: Option<&serde_json::Value>,
    ) -> anyhow::Result<Fetched> {
        request(method, url, token, json).await
    }

    /// The environment that points the `imgcloud` CLI at the load balancer as the demo user,
    /// with private config/data dirs.
    pub fn cli_env(&self) -> Vec<(String, OsString)> {
        let home = self._root.path().join("cli");
        vec![
            ("IMGCLOUD_SERVER".into(), self.server.clone().into()),
            ("IMGCLOUD_TOKEN".into(), self.token.clone().into()),
            ("IMGCLOUD_CONFIG_DIR".into(), home.join("config").into()),
            ("IMGCLOUD_DATA_DIR".into(), home.join("data").into()),
            ("IMGCLOUD_RUNTIME_DIR".into(), home.join("run").into()),
        ]
    }

    /// Runs `imgcloud ARGS` against the load balancer as the demo user, in [`Self::work_dir`].
    pub fn run_cli(&self, args: &[&str]) -> anyhow::Result<CliOutput> {
        let binary = crate::bins::binary("imgcloud")?;
        cli::run(&binary, args, &self.cli_env(), Some(&self.work_dir), None)
    }

    /// The replicas' server configuration files in the state directory (`replica-N.toml`).
    pub fn replica_config(&self, n: usize) -> PathBuf {
        self.state_dir.join(format!("replica-{n}.toml"))
    }

    /// Runs `imgcloud-server --config replica-1.toml ARGS` (admin commands on the stack's
    /// database).
    pub fn admin(&self, args: &[&str]) -> anyhow::Result<CliOutput> {
        let binary = crate::bins::binary("imgcloud-server")?;
        let config = self.replica_config(1);
        let config = config.to_string_lossy().into_owned();
        let mut full = vec!["--config", config.as_str()];
        full.extend_from_slice(args);
        cli::run(&binary, &full, &[], None, None)
    }

    /// Runs `imgcloud-server --config replica-1.toml ARGS` with extra environment (e.g. a
    /// database URL, which must never be on a command line another user can read).
    pub fn admin_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<CliOutput> {
        let binary = crate::bins::binary("imgcloud-server")?;
        let config = self.replica_config(1);
        let config = config.to_string_lossy().into_owned();
        let mut full = vec!["--config", config.as_str()];
        full.extend_from_slice(args);
        let env: Vec<(String, OsString)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        cli::run(&binary, &full, &env, None, None)
    }

    /// The second PostgreSQL's URL (a stack brought up with `IMGCLOUD_STACK_STANDBY=1`); holds
    /// a password: never print it.
    pub fn standby_database_url(&self) -> anyhow::Result<String> {
        self.env
            .get("IMGCLOUD_STACK_STANDBY_DATABASE_URL")
            .cloned()
            .context("this stack has no standby PostgreSQL (IMGCLOUD_STACK_STANDBY=1 at up)")
    }

    /// Rewrites `database_url` in both replicas' configuration (and so in [`Self::admin`]'s);
    /// the replicas read it when they start next.
    pub fn set_database_url(&self, url: &str) -> anyhow::Result<()> {
        for n in 1..=self.replicas.len() {
            let path = self.replica_config(n);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut found = false;
            let rewritten: Vec<String> = text
                .lines()
                .map(|line| {
                    if line.trim_start().starts_with("database_url") {
                        found = true;
                        format!("database_url = {}", toml_string(url))
                    } else {
                        line.to_string()
                    }
                })
                .collect();
            ensure!(found, "{} has no database_url line", path.display());
            std::fs::write(&path, rewritten.join("\n") + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    /// Creates another token for the demo user (`imgcloud-server token add`).
    pub fn add_token(&self, name: &str) -> anyhow::Result<String> {
        let output = self.admin(&["token", "add", &self.demo_user, "--name", name])?;
        ensure!(
            output.code == 0,
            "`imgcloud-server token add` failed:\n{}",
            output.stderr
        );
        let token = output.stdout.trim().to_string();
        ensure!(
            !token.is_empty() && !token.contains(char::is_whitespace),
            "`imgcloud-server token add` printed no token"
        );
        Ok(token)
    }

    /// Writes `bytes` to `work_dir/name` and returns the path.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.work_dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, bytes).expect("write test file");
        path
    }

    /// Log files in the state directory (`*.log`, recursively), sorted.
    pub fn log_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        collect_logs(&self.state_dir, &mut out, 0);
        out.sort();
        out
    }

    /// The concatenated logs of one service (files whose name starts with SERVICE).
    pub fn service_log(&self, service: &str) -> String {
        self.log_files()
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(service))
            })
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect()
    }

    /// The last `lines` lines of every log file, for failure reports.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for path in self.log_files() {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let is_access_log = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("access"));
            let keep = if is_access_log { lines.min(8) } else { lines };
            let tail: Vec<&str> = text.lines().rev().take(keep).collect();
            out.push_str(&format!(
                "--- {} (last {} lines)\n",
                path.file_name().unwrap_or_default().to_string_lossy(),
                tail.len()
            ));
            for line in tail.iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Polls `check` every 100 ms until it returns true or `timeout` passes; how long it took.
    pub async fn wait_until<F, Fut>(
        timeout: Duration,
        what: &str,
        mut check: F,
    ) -> anyhow::Result<Duration>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        loop {
            if check().await {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                bail!("{what}: not within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Brings the stack down now (also done on drop).
    pub fn down(&mut self) -> anyhow::Result<()> {
        if self.down {
            return Ok(());
        }
        self.down = true;
        let output = self.script_run(&["down"], &[], Duration::from_secs(120))?;
        ensure!(output.code == 0, "`stack.sh down` failed:\n{output}");
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs_tail(25));
        }
        if let Err(e) = self.down() {
            eprintln!("stack down: {e:#}");
        }
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

fn collect_logs(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 3 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                // Not into PostgreSQL's data directory or the object store.
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if !["pgdata", "objects", "s3", "data", "cache", "nginx-cache"]
                    .contains(&name.as_ref())
                {
                    collect_logs(&path, out, depth + 1);
                }
            }
            Ok(t) if t.is_file() && path.extension().is_some_and(|e| e == "log") => {
                out.push(path);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lines_parse_with_or_without_export_and_quotes() {
        let env = parse_env(
            "==> starting\nIMGCLOUD_SERVER=http://127.0.0.1:1\nexport IMGCLOUD_TOKEN='abc'\n\
             IMGCLOUD_STACK_REPLICAS=\"http://a,http://b\"\nnot a line\n",
        );
        assert_eq!(env["IMGCLOUD_SERVER"], "http://127.0.0.1:1");
        assert_eq!(env["IMGCLOUD_TOKEN"], "abc");
        assert_eq!(env["IMGCLOUD_STACK_REPLICAS"], "http://a,http://b");
        assert_eq!(env.len(), 3);
    }
}
