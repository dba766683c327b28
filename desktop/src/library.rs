//! The library view: list the user's images and tell which server the app talks to.
//!
//! The only module that calls `imgcloud-core`'s API client. It resolves the server and token
//! the way every imgcloud client does (config file + `IMGCLOUD_SERVER`; `IMGCLOUD_TOKEN`, OS
//! keyring, credentials file) and maps failures to [`CommandError`] codes the UI explains.

use std::path::PathBuf;
use std::time::Duration;

use imgcloud_core::api::ImagePage;
use imgcloud_core::client::{Client, ClientError, ListParams, NO_SERVER_HINT, RetryPolicy};
use imgcloud_core::config::ClientConfig;
use imgcloud_core::paths::Dirs;
use imgcloud_core::secrets::{self, KeyStore, OsKeyring};
use serde::{Deserialize, Serialize};
use tauri::State;
use tokio::sync::Mutex;

use crate::error::{CommandError, ErrorCode};

/// Images per page of the gallery.
pub const PAGE_SIZE: u32 = 60;

/// Someone is waiting for the gallery: fail within seconds and let them retry, rather than
/// the 10 attempts background transfers get.
const INTERACTIVE_ATTEMPTS: u32 = 3;
const INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// `server_info` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Base URL of the configured server, if any.
    pub server: Option<String>,
    /// The configuration file (where `server` comes from unless `IMGCLOUD_SERVER` is set).
    pub config_file: String,
}

/// Reads an environment variable (injectable so tests do not depend on the process).
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// App state: where the settings come from, and the API client once one could be made.
pub struct Library {
    dirs: Dirs,
    env: EnvLookup,
    keys: Box<dyn KeyStore>,
    /// Made on first use. A failed call drops it, so the next call re-reads the configuration
    /// and token (after `imgcloud login`, say) instead of repeating the same failure.
    client: Mutex<Option<Client>>,
}

impl Library {
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
        }
    }

    fn config(&self) -> Result<(ClientConfig, PathBuf), CommandError> {
        let path = self.dirs.config_file();
        let mut config = ClientConfig::load(&path)
            .map_err(|e| CommandError::new(ErrorCode::Config, e.to_string()))?;
        config.apply_vars(&self.env);
        Ok((config, path))
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
                    format!("not logged in to {server}: run `imgcloud login {server}`, or set IMGCLOUD_TOKEN"),
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

    async fn client(&self) -> Result<Client, CommandError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = self.connect()?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// One page of the library, newest first; `query` searches filenames (blank lists all).
    pub async fn list(
        &self,
        cursor: Option<String>,
        query: Option<String>,
    ) -> Result<ImagePage, CommandError> {
        let result = async {
            let client = self.client().await?;
            let params = ListParams {
                cursor: cursor.filter(|c| !c.is_empty()),
                limit: Some(PAGE_SIZE),
                q: query
                    .map(|q| q.trim().to_string())
                    .filter(|q| !q.is_empty()),
                trash: false,
            };
            client.list_images(&params).await.map_err(command_error)
        }
        .await;
        if let Err(e) = &result {
            tracing::warn!(code = ?e.code, error = %e, "list_images failed");
            *self.client.lock().await = None;
        }
        result
    }

    /// The configured server and the configuration file's path.
    pub fn server_info(&self) -> Result<ServerInfo, CommandError> {
        let (config, path) = self.config()?;
        Ok(ServerInfo {
            server: config.server,
            config_file: path.display().to_string(),
        })
    }
}

/// Maps the client's errors to codes the UI explains; the messages already say what to do.
fn command_error(err: ClientError) -> CommandError {
    let code = match &err {
        ClientError::Unauthorized { .. } => ErrorCode::Unauthorized,
        ClientError::Network { .. } => ErrorCode::Unreachable,
        ClientError::NotFound { .. } | ClientError::Api { .. } | ClientError::Decode { .. } => {
            ErrorCode::Server
        }
        ClientError::Config(_) => ErrorCode::Config,
        ClientError::Body { .. } => ErrorCode::Internal,
    };
    CommandError::new(code, err.to_string())
}

#[tauri::command]
pub async fn list_images(
    library: State<'_, Library>,
    cursor: Option<String>,
    query: Option<String>,
) -> Result<ImagePage, CommandError> {
    library.list(cursor, query).await
}

#[tauri::command]
pub fn server_info(library: State<'_, Library>) -> Result<ServerInfo, CommandError> {
    library.server_info()
}

#[cfg(test)]
mod tests;
