//! Where the app's settings come from and the API client made from them: the state every
//! command that talks to the cloud goes through.
//!
//! Settings are resolved the way every imgcloud client does (config file + `IMGCLOUD_SERVER`;
//! token from `IMGCLOUD_TOKEN`, the OS keyring, then the 0600 credentials file). The client is
//! made on first use and dropped after any failure, so the next call re-reads the settings
//! (after a login, say) instead of repeating the same failure.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use imgcloud_core::client::{Client, ClientError, NO_SERVER_HINT, RetryPolicy};
use imgcloud_core::config::ClientConfig;
use imgcloud_core::links::LinkFormat;
use imgcloud_core::paths::Dirs;
use imgcloud_core::secrets::{self, KeyStore, OsKeyring};
use imgcloud_server::embedded::{DEFAULT_LISTEN, DEFAULT_S3_LISTEN, EmbeddedCloud};
use tokio::sync::Mutex;

use crate::error::{CommandError, ErrorCode};

/// Someone is waiting: fail within seconds and let them retry, rather than the 10 attempts
/// background transfers get.
const INTERACTIVE_ATTEMPTS: u32 = 3;
const INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Reads an environment variable (injectable so tests do not depend on the process).
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where the embedded cloud listens when the app hosts it.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedPorts {
    pub api: SocketAddr,
    pub s3: SocketAddr,
}

impl Default for EmbeddedPorts {
    fn default() -> Self {
        Self {
            api: DEFAULT_LISTEN,
            s3: DEFAULT_S3_LISTEN,
        }
    }
}

/// App state: the settings' sources, the API client once one could be made, and the embedded
/// cloud when the app hosts it.
pub struct Connection {
    dirs: Dirs,
    env: EnvLookup,
    keys: Box<dyn KeyStore>,
    client: Mutex<Option<Client>>,
    pub(crate) embedded_ports: EmbeddedPorts,
    pub(crate) embedded: Mutex<Option<EmbeddedCloud>>,
}

impl Connection {
    /// Settings from the process environment and the OS keyring.
    pub fn new(dirs: Dirs) -> Self {
        Self::with_sources(
            dirs,
            Box::new(|name| std::env::var(name).ok().filter(|v| !v.is_empty())),
            Box::new(OsKeyring),
        )
    }

    /// Settings from an explicit environment and key store.
    pub fn with_sources(dirs: Dirs, env: EnvLookup, keys: Box<dyn KeyStore>) -> Self {
        Self {
            dirs,
            env,
            keys,
            client: Mutex::new(None),
            embedded_ports: EmbeddedPorts::default(),
            embedded: Mutex::new(None),
        }
    }

    /// Where the embedded cloud listens when the app hosts it (tests pick free ports).
    pub fn with_embedded_ports(mut self, ports: EmbeddedPorts) -> Self {
        self.embedded_ports = ports;
        self
    }

    pub fn dirs(&self) -> &Dirs {
        &self.dirs
    }

    pub(crate) fn keys(&self) -> &dyn KeyStore {
        self.keys.as_ref()
    }

    pub(crate) fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// The client configuration (file + environment) and the file's path.
    pub fn config(&self) -> Result<(ClientConfig, PathBuf), CommandError> {
        let path = self.dirs.config_file();
        let mut config = ClientConfig::load(&path)
            .map_err(|e| CommandError::new(ErrorCode::Config, e.to_string()))?;
        config.apply_vars(&self.env);
        Ok((config, path))
    }

    /// The configuration file alone (what settings changes are written over).
    pub(crate) fn file_config(&self) -> Result<(ClientConfig, PathBuf), CommandError> {
        let path = self.dirs.config_file();
        let config = ClientConfig::load(&path)
            .map_err(|e| CommandError::new(ErrorCode::Config, e.to_string()))?;
        Ok((config, path))
    }

    /// The link format chosen in the configuration (`format`, `template`).
    pub fn link_format(&self) -> Result<LinkFormat, CommandError> {
        let (config, path) = self.config()?;
        LinkFormat::from_config(&config.format, config.template.as_deref()).map_err(|e| {
            CommandError::new(
                ErrorCode::Config,
                format!("{}: format: {e}", path.display()),
            )
        })
    }

    /// Whether a token is stored for `server` (without revealing it).
    pub(crate) fn has_token(&self, server: &str) -> Result<bool, CommandError> {
        secrets::load_token_with(&self.dirs, server, self.keys.as_ref(), &self.env)
            .map(|found| found.is_some())
            .map_err(|e| CommandError::new(ErrorCode::Config, e.to_string()))
    }

    /// A client for the configured server with the stored token.
    fn connect(&self) -> Result<Client, CommandError> {
        let (config, _) = self.config()?;
        let server = config
            .server
            .ok_or_else(|| CommandError::new(ErrorCode::NotConfigured, NO_SERVER_HINT))?;
        let token = secrets::load_token_with(&self.dirs, &server, self.keys.as_ref(), &self.env)
            .map_err(|e| CommandError::new(ErrorCode::Config, e.to_string()))?
            .map(|(token, _source)| token)
            .ok_or_else(|| {
                CommandError::new(
                    ErrorCode::NotLoggedIn,
                    format!(
                        "not logged in to {server}: connect in Settings, run `imgcloud login {server}`, or set IMGCLOUD_TOKEN"
                    ),
                )
            })?;
        let client = Client::new(&server, Some(token)).map_err(command_error)?;
        Ok(client
            .with_retry(RetryPolicy {
                max_attempts: INTERACTIVE_ATTEMPTS,
                ..RetryPolicy::default()
            })
            .with_request_timeout(INTERACTIVE_TIMEOUT))
    }

    /// The API client, made on first use.
    pub async fn client(&self) -> Result<Client, CommandError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = self.connect()?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Drops the client: the next call re-reads the settings.
    pub async fn forget_client(&self) {
        *self.client.lock().await = None;
    }

    /// Runs one API call; a failure is logged (as `what`) and drops the client.
    pub async fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, CommandError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let result = match self.client().await {
            Ok(client) => f(client).await.map_err(command_error),
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            tracing::warn!(code = ?e.code, error = %e, "{what} failed");
            self.forget_client().await;
        }
        result
    }
}

/// Maps the client's errors to codes the UI explains; the messages already say what to do.
pub fn command_error(err: ClientError) -> CommandError {
    let code = match &err {
        ClientError::Unauthorized { .. } => ErrorCode::Unauthorized,
        ClientError::Network { .. } => ErrorCode::Unreachable,
        ClientError::NotFound { .. } => ErrorCode::NotFound,
        ClientError::Api { status, .. } if (400..500).contains(status) => ErrorCode::Invalid,
        ClientError::Api { .. } | ClientError::Decode { .. } => ErrorCode::Server,
        ClientError::Config(_) => ErrorCode::Config,
        ClientError::Body { .. } => ErrorCode::Internal,
    };
    CommandError::new(code, err.to_string())
}
