//! The embedded all-in-one cloud: the default when the server runs with no configuration.
//!
//! Everything lives in [`Dirs::embedded_cloud`]: `imgcloud.db` (SQLite), `objects/` (the
//! embedded S3 store's root) and `cloud.toml` (generated S3 credentials and the local user,
//! mode 0600). The same code paths as production run: presigned uploads straight to the S3
//! store, SigV4, CDN-style links (the bucket URL, public read).
//!
//! On first start it creates the bucket, a user (`$USER`, else `local`) and a token named
//! `embedded`, and writes the client configuration (`server = <api url>`, `embedded = true`)
//! and the token (credentials file, 0600), so `imgcloud upload FILE` works right away. Later
//! starts re-point the client configuration when the port changed and re-issue the token when
//! the credentials file lost it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use imgcloud_core::config::ClientConfig;
use imgcloud_core::credentials::Credentials;
use imgcloud_core::paths::Dirs;
use imgcloud_core::s3::S3Config;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::{CacheConfig, CdnConfig, LimitsConfig, ServerConfig};
use crate::embedded_s3::{self, EmbeddedS3};
use crate::keys::token_hash;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError, User};
use crate::users;

/// Default API address.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8420);
/// Default address of the embedded S3 store (and CDN).
pub const DEFAULT_S3_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8421);
/// Name of the token the embedded cloud issues for its local user.
pub const TOKEN_NAME: &str = "embedded";
const BUCKET: &str = "imgcloud";
const REGION: &str = "us-east-1";

/// How to run the embedded cloud.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub dirs: Dirs,
    /// API address (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Embedded S3 store address (`127.0.0.1:0` picks a free port).
    pub s3_listen: SocketAddr,
    pub multipart_cutoff: Option<u64>,
    pub min_part_size: Option<u64>,
    /// Where the API and clients reach the embedded store, when not where it listens (a proxy,
    /// a tunnel, a fault injector in tests). Presigned URLs and links use it.
    pub s3_endpoint: Option<Url>,
    /// Name of the local user created on first start (default `$USER`, else `local`).
    pub username: Option<String>,
}

impl EmbeddedOptions {
    pub fn new(dirs: Dirs) -> Self {
        Self {
            dirs,
            listen: DEFAULT_LISTEN,
            s3_listen: DEFAULT_S3_LISTEN,
            multipart_cutoff: None,
            min_part_size: None,
            s3_endpoint: None,
            username: None,
        }
    }

    /// Directories from the environment (`IMGCLOUD_CONFIG_DIR`, `IMGCLOUD_DATA_DIR`, XDG) and
    /// `IMGCLOUD_MULTIPART_CUTOFF` / `IMGCLOUD_MIN_PART_SIZE`.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut options = Self::new(Dirs::from_env()?);
        let var = |name: &str| -> anyhow::Result<Option<u64>> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => {
                    Ok(Some(v.trim().parse().with_context(|| {
                        format!("{name} must be a number of bytes")
                    })?))
                }
                _ => Ok(None),
            }
        };
        options.multipart_cutoff = var("IMGCLOUD_MULTIPART_CUTOFF")?;
        options.min_part_size = var("IMGCLOUD_MIN_PART_SIZE")?;
        Ok(options)
    }

    /// The embedded cloud's directory.
    pub fn root(&self) -> PathBuf {
        self.dirs.embedded_cloud()
    }
}

/// `cloud.toml`: what the embedded cloud must remember between starts (0600: it holds the S3
/// secret key).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct CloudState {
    s3_access_key: String,
    s3_secret_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
}

impl CloudState {
    fn load(path: &Path) -> anyhow::Result<Option<Self>> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Some(toml::from_str(&text).with_context(|| {
                format!(
                    "{} is damaged; move it away to start a new embedded cloud",
                    path.display()
                )
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = toml::to_string_pretty(self)?;
        write_private(path, text.as_bytes())
    }
}

/// Writes a user-only (0600) file atomically.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    Ok(())
}

/// The local user's default name: `$USER` when it is a valid user name, else `local`.
fn default_username() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| users::validate_username(u).is_ok())
        .unwrap_or_else(|| "local".to_string())
}

/// Opens the embedded database (creating the directory).
/// The embedded cloud's bucket, for admin commands run while the cloud is stopped: its store
/// started on a free loopback port for as long as the returned [`embedded_s3::EmbeddedS3`] runs.
pub async fn object_store(
    options: &EmbeddedOptions,
) -> anyhow::Result<(crate::objects::ObjectStore, embedded_s3::EmbeddedS3)> {
    let root = options.root();
    let state = CloudState::load(&root.join("cloud.toml"))?.with_context(|| {
        format!(
            "no embedded cloud in {} yet (run imgcloud-server once)",
            root.display()
        )
    })?;
    let s3 = embedded_s3::start(
        &root.join("objects"),
        "127.0.0.1:0".parse()?,
        &state.s3_access_key,
        &state.s3_secret_key,
    )
    .await?;
    let objects = crate::objects::ObjectStore::new(S3Config {
        endpoint: s3.endpoint(),
        region: REGION.to_string(),
        bucket: BUCKET.to_string(),
        access_key: state.s3_access_key,
        secret_key: state.s3_secret_key,
        path_style: true,
    })?;
    Ok((objects, s3))
}

pub async fn open_store(dirs: &Dirs) -> anyhow::Result<SqliteStore> {
    let root = dirs.embedded_cloud();
    create_private_dir(&root)?;
    let db = root.join("imgcloud.db");
    SqliteStore::open_path(&db)
        .await
        .with_context(|| format!("cannot open {}", db.display()))
}

/// A running embedded cloud.
pub struct EmbeddedCloud {
    /// Base URL of the API, e.g. `http://127.0.0.1:8420`.
    pub api_url: String,
    /// Base URL of links (the bucket on the embedded S3 store).
    pub cdn_url: String,
    /// The embedded S3 store's endpoint.
    pub s3_url: String,
    pub data_dir: PathBuf,
    pub config_file: PathBuf,
    pub credentials_file: PathBuf,
    pub username: String,
    /// Set when an existing client configuration points at another server and was left alone.
    pub config_left_alone: bool,
    s3: EmbeddedS3,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl EmbeddedCloud {
    /// Starts the S3 store and the API, provisions the local user and writes the client
    /// configuration. Returns once both listen.
    pub async fn start(options: EmbeddedOptions) -> anyhow::Result<Self> {
        let dirs = &options.dirs;
        let root = options.root();
        create_private_dir(&root)?;
        let state_file = root.join("cloud.toml");
        let mut state = match CloudState::load(&state_file)? {
            Some(state) => state,
            None => {
                let (access_key, secret_key) = embedded_s3::generate_credentials();
                let state = CloudState {
                    s3_access_key: access_key,
                    s3_secret_key: secret_key,
                    ..Default::default()
                };
                state.save(&state_file)?;
                state
            }
        };

        let objects_root = root.join("objects");
        std::fs::create_dir_all(&objects_root)
            .with_context(|| format!("cannot create {}", objects_root.display()))?;
        let fallback = embedded_s3::DerivativeFallback::new(BUCKET);
        let s3 = embedded_s3::start_with_fallback(
            &objects_root,
            options.s3_listen,
            &state.s3_access_key,
            &state.s3_secret_key,
            Some(fallback.clone()),
        )
        .await
        .with_context(|| {
            format!(
                "cannot start the embedded S3 store on {}",
                options.s3_listen
            )
        })?;
        let s3_config = S3Config {
            endpoint: options.s3_endpoint.clone().unwrap_or_else(|| s3.endpoint()),
            region: REGION.to_string(),
            bucket: BUCKET.to_string(),
            access_key: state.s3_access_key.clone(),
            secret_key: state.s3_secret_key.clone(),
            path_style: true,
        };
        let cdn_url = s3_config
            .bucket_url()
            .to_string()
            .trim_end_matches('/')
            .to_string();

        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (another imgcloud running? try --listen 127.0.0.1:0)",
                    options.listen
                )
            })?;
        let addr = listener.local_addr()?;
        let api_url = format!("http://{addr}");
        fallback.set_origin(&api_url);

        let db = root.join("imgcloud.db");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open_path(&db)
                .await
                .with_context(|| format!("cannot open {}", db.display()))?,
        );

        let mut limits = LimitsConfig::default();
        if let Some(cutoff) = options.multipart_cutoff {
            limits.multipart_cutoff = cutoff;
        }
        if let Some(min_part) = options.min_part_size {
            limits.min_part_size = min_part;
        }
        let config = ServerConfig {
            listen: addr,
            public_url: Some(api_url.clone()),
            database_url: format!("sqlite://{}", db.display()),
            s3: s3_config,
            cdn: CdnConfig {
                base_url: cdn_url.clone(),
                url_suffix: String::new(),
                purge: Default::default(),
            },
            limits,
            cache: CacheConfig::default(),
            upload_expiry: Duration::from_secs(15 * 60),
            stale_upload_after: Duration::from_secs(24 * 3600),
            janitor_interval: Duration::from_secs(5 * 60),
            request_timeout: Duration::from_secs(60),
            max_body_bytes: 1024 * 1024,
            derivative_jobs: true,
            trusted_proxies: Vec::new(),
            login: Default::default(),
            // Its own store verifies x-amz-content-sha256 while receiving.
            upload_checksum: false,
            private_link_ttl: Duration::from_secs(60 * 60),
            // A daily snapshot of the database beside it (7 daily, 4 weekly kept).
            backup: Some(crate::backup::schedule::BackupSchedule::daily(
                root.join("backups"),
            )),
        };
        let (app, app_state) = crate::build_app_with_store(config, store.clone())?;
        app_state
            .objects
            .ensure_bucket()
            .await
            .context("cannot create the bucket in the embedded S3 store")?;

        let user = provision_user(
            store.as_ref(),
            &mut state,
            options.username.as_deref(),
            &state_file,
        )
        .await?;
        let config_left_alone = write_client_config(store.as_ref(), dirs, &user, &api_url).await?;

        let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(crate::serve(app, app_state, listener, async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        }));
        Ok(Self {
            api_url,
            cdn_url,
            s3_url: s3.endpoint().to_string(),
            data_dir: root,
            config_file: dirs.config_file(),
            credentials_file: dirs.credentials_file(),
            username: user.username,
            config_left_alone,
            s3,
            stop,
            server,
        })
    }

    /// Where it listens and how to use it (for stderr).
    pub fn banner(&self) -> String {
        let mut text = format!(
            "imgcloud embedded cloud\n  API:         {}\n  S3 / CDN:    {}\n  data:        {}\n  config:      {}\n  user:        {}\n",
            self.api_url,
            self.cdn_url,
            self.data_dir.display(),
            self.config_file.display(),
            self.username,
        );
        if self.config_left_alone {
            text.push_str(&format!(
                "  note: {} points at another server and was left unchanged;\n        use IMGCLOUD_SERVER={} to reach this one\n",
                self.config_file.display(),
                self.api_url
            ));
        }
        text.push_str("Upload with: imgcloud upload FILE…   (stop with Ctrl-C)\n");
        text
    }

    /// Stops the API (finishing in-flight requests) and the S3 store.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let result = self.server.await.context("API server task failed")?;
        self.s3.shutdown().await;
        result
    }
}

/// Makes sure the local user exists and returns it.
async fn provision_user(
    store: &dyn Store,
    state: &mut CloudState,
    username: Option<&str>,
    state_file: &Path,
) -> anyhow::Result<User> {
    if let Some(name) = state.username.clone() {
        match store.user_by_name(&name).await {
            Ok(user) => return Ok(user),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let name = username
        .map(str::to_string)
        .unwrap_or_else(default_username);
    users::validate_username(&name)?;
    let user = match store.user_by_name(&name).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => store.create_user(&name).await?,
        Err(e) => return Err(e.into()),
    };
    state.user_id = Some(user.id.clone());
    state.username = Some(user.username.clone());
    state.save(state_file)?;
    Ok(user)
}

/// Points the client configuration at `api_url` and makes sure the credentials file holds a
/// working token for it. Returns `true` when the configuration points at a non-embedded server
/// and was left alone.
async fn write_client_config(
    store: &dyn Store,
    dirs: &Dirs,
    user: &User,
    api_url: &str,
) -> anyhow::Result<bool> {
    let config_file = dirs.config_file();
    let mut config = ClientConfig::load(&config_file)?;
    let previous = config.server.clone();
    let left_alone = previous.is_some() && !config.embedded;

    let credentials_file = dirs.credentials_file();
    let mut credentials = Credentials::load(&credentials_file)?;
    let valid = async |token: Option<&str>| -> anyhow::Result<bool> {
        let Some(token) = token else { return Ok(false) };
        match store.user_by_token_hash(&token_hash(token)).await {
            Ok(owner) => Ok(owner.id == user.id),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    };
    let mut changed = false;
    if !valid(credentials.token(api_url)).await? {
        // The port changed: carry the token over from the previous URL when it still works.
        let carried = match previous
            .as_deref()
            .filter(|p| *p != api_url && config.embedded)
        {
            Some(old) => credentials.token(old).map(str::to_string),
            None => None,
        };
        let token = match carried {
            Some(token) if valid(Some(&token)).await? => token,
            _ => users::issue_token(store, &user.id, TOKEN_NAME).await?,
        };
        credentials.set_token(api_url, &token);
        changed = true;
    }
    if let Some(old) = previous
        .as_deref()
        .filter(|p| *p != api_url && config.embedded)
    {
        changed |= credentials
            .tokens
            .remove(&imgcloud_core::credentials::server_key(old))
            .is_some();
    }
    if changed {
        credentials.save(&credentials_file)?;
    }
    if !left_alone && (config.server.as_deref() != Some(api_url) || !config.embedded) {
        config.server = Some(api_url.to_string());
        config.embedded = true;
        config.save(&config_file)?;
    }
    Ok(left_alone)
}

/// Runs the embedded cloud until `shutdown` resolves: prints the banner to stderr and exactly
/// one line `ready <api_url>` to stdout once it serves.
pub async fn run(
    options: EmbeddedOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let cloud = EmbeddedCloud::start(options).await?;
    eprint!("{}", cloud.banner());
    {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "ready {}", cloud.api_url)?;
        stdout.flush()?;
    }
    shutdown.await;
    cloud.shutdown().await
}
