//! The real `imgcloud-server` in production mode (a configuration file) on a SQLite file and an
//! S3-compatible store of someone else's: `scripts/with-s3-peer.sh` starts one (SeaweedFS,
//! moto) and names it in `IMGCLOUD_TEST_S3_*`.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use tempfile::TempDir;

use crate::cli::{self, CliOutput};

/// An S3-compatible store named by `scripts/with-s3-peer.sh`.
#[derive(Debug, Clone)]
pub struct PeerStore {
    /// `seaweedfs`, `moto`.
    pub name: String,
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    /// Whether the store refuses bytes that differ from their signed checksum.
    pub verifies: bool,
}

impl PeerStore {
    /// The store of `IMGCLOUD_TEST_S3_*`.
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| {
            std::env::var(name).with_context(|| {
                format!("{name} is not set: run this test through scripts/with-s3-peer.sh")
            })
        };
        Ok(Self {
            name: var("IMGCLOUD_TEST_S3_STORE")?,
            endpoint: var("IMGCLOUD_TEST_S3_ENDPOINT")?,
            bucket: var("IMGCLOUD_TEST_S3_BUCKET")?,
            access_key: var("IMGCLOUD_TEST_S3_ACCESS_KEY")?,
            secret_key: var("IMGCLOUD_TEST_S3_SECRET_KEY")?,
            verifies: var("IMGCLOUD_TEST_S3_VERIFIES")? == "1",
        })
    }

    /// The public URL of the bucket (what a CDN would front).
    pub fn bucket_url(&self) -> String {
        format!("{}/{}", self.endpoint.trim_end_matches('/'), self.bucket)
    }
}

/// A production-mode server on a [`PeerStore`]; killed (and its dirs removed) on drop.
pub struct ProductionServer {
    pub api_url: String,
    pub store: PeerStore,
    /// A scratch directory for test files (the CLI runs in it).
    pub work_dir: PathBuf,
    config_path: PathBuf,
    client_dir: PathBuf,
    log_path: PathBuf,
    child: Child,
    _root: TempDir,
}

impl ProductionServer {
    /// Starts the server on `store` with a SQLite database and these `[limits]` lines.
    pub fn start(store: &PeerStore, limits: &str) -> anyhow::Result<Self> {
        let root = tempfile::Builder::new()
            .prefix("imgcloud-prod-")
            .tempdir()?;
        let work_dir = root.path().join("work");
        let client_dir = root.path().join("client");
        std::fs::create_dir_all(&work_dir)?;
        std::fs::create_dir_all(&client_dir)?;
        let config_path = root.path().join("server.toml");
        // The key pair comes from the environment, never the file.
        let config = format!(
            r#"listen = "127.0.0.1:0"
database_url = "sqlite://{db}"

[s3]
endpoint = "{endpoint}"
region = "us-east-1"
bucket = "{bucket}"
path_style = true

[cdn]
base_url = "{cdn}"

[limits]
{limits}
"#,
            db = root.path().join("imgcloud.db").display(),
            endpoint = store.endpoint,
            bucket = store.bucket,
            cdn = store.bucket_url(),
        );
        std::fs::write(&config_path, config)?;
        let log_path = root.path().join("server.log");
        let log = std::fs::File::create(&log_path)?;
        let binary = crate::bins::binary("imgcloud-server")?;
        let mut child = Command::new(&binary)
            .arg("--config")
            .arg(&config_path)
            .env("IMGCLOUD_S3_ACCESS_KEY", &store.access_key)
            .env("IMGCLOUD_S3_SECRET_KEY", &store.secret_key)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("ready ") {
                    let _ = tx.send(url.trim().trim_end_matches('/').to_string());
                }
            }
        });
        let api_url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                anyhow::bail!("imgcloud-server did not print `ready <url>`; its log:\n{log}");
            }
        };
        Ok(Self {
            api_url,
            store: store.clone(),
            work_dir,
            config_path,
            client_dir,
            log_path,
            child,
            _root: root,
        })
    }

    /// `imgcloud-server --config … user add NAME`: the new user's token.
    pub fn add_user(&self, name: &str) -> anyhow::Result<String> {
        let binary = crate::bins::binary("imgcloud-server")?;
        let config = self.config_path.to_string_lossy().into_owned();
        let env = vec![
            (
                "IMGCLOUD_S3_ACCESS_KEY".to_string(),
                OsString::from(&self.store.access_key),
            ),
            (
                "IMGCLOUD_S3_SECRET_KEY".to_string(),
                OsString::from(&self.store.secret_key),
            ),
        ];
        let out = cli::run(
            &binary,
            &["--config", &config, "user", "add", name],
            &env,
            None,
            None,
        )?;
        anyhow::ensure!(out.code == 0, "user add {name} failed:\n{out}");
        Ok(out.stdout.trim().to_string())
    }

    /// Runs `imgcloud ARGS` as the holder of `token`, in [`ProductionServer::work_dir`], with a
    /// private configuration.
    pub fn run_cli(&self, token: &str, args: &[&str]) -> CliOutput {
        let binary = crate::bins::binary("imgcloud").expect("imgcloud binary");
        let dir = |name: &str| OsString::from(self.client_dir.join(name));
        let env = vec![
            ("IMGCLOUD_SERVER".to_string(), OsString::from(&self.api_url)),
            ("IMGCLOUD_TOKEN".to_string(), OsString::from(token)),
            ("IMGCLOUD_CONFIG_DIR".to_string(), dir("config")),
            ("IMGCLOUD_DATA_DIR".to_string(), dir("data")),
            ("IMGCLOUD_CACHE_DIR".to_string(), dir("cache")),
            ("IMGCLOUD_RUNTIME_DIR".to_string(), dir("run")),
        ];
        cli::run(&binary, args, &env, Some(&self.work_dir), None).expect("run imgcloud")
    }

    /// Writes `bytes` to `work_dir/name` and returns the path.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.work_dir.join(name);
        std::fs::write(&path, bytes).expect("write test file");
        path
    }

    /// The server's log so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for ProductionServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            crate::cloud::print_log_tail("imgcloud-server", &self.log());
        }
    }
}
