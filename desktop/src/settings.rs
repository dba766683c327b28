//! Settings: which cloud the app talks to — a server (URL + username/password login, token in
//! the OS keyring) or the embedded local cloud hosted by the app — and the link format.

use imgcloud_core::client::{Client, ClientError};
use imgcloud_core::config::ClientConfig;
use imgcloud_core::links::LinkFormat;
use imgcloud_core::secrets::{self, StoredIn};
use imgcloud_server::embedded::{EmbeddedCloud, EmbeddedOptions};
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::connection::{Connection, command_error};
use crate::error::{CommandError, ErrorCode};
use crate::library::Library;

/// Name of the tokens the app creates (shown by `imgcloud tokens`).
const DEVICE_NAME: &str = "imgcloud desktop";

/// What the settings screen shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The server in use (configuration file, or `IMGCLOUD_SERVER`).
    pub server: Option<String>,
    /// The configured server is the embedded local cloud.
    pub embedded: bool,
    /// This app hosts the embedded local cloud right now.
    pub hosting_embedded: bool,
    /// A token is stored for `server`.
    pub logged_in: bool,
    /// Default link format (`url`, `markdown`, `html`, `bbcode`, `custom`).
    pub link_format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_template: Option<String>,
    pub config_file: String,
}

/// `settings_connect` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connected {
    pub settings: Settings,
    pub username: String,
    /// Set when no OS keyring was reachable and the token went to the 0600 credentials file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

async fn settings(connection: &Connection) -> Result<Settings, CommandError> {
    let (config, path) = connection.config()?;
    let logged_in = match &config.server {
        Some(server) => connection.has_token(server)?,
        None => false,
    };
    Ok(Settings {
        embedded: config.embedded,
        hosting_embedded: connection.embedded.lock().await.is_some(),
        logged_in,
        link_format: config.format.clone(),
        link_template: config.template.clone(),
        server: config.server,
        config_file: path.display().to_string(),
    })
}

/// `http(s)://host[:port][/path]` without a trailing slash, or why not.
pub fn normalize_server(server: &str) -> Result<String, CommandError> {
    let server = server.trim().trim_end_matches('/');
    let rest = server
        .strip_prefix("http://")
        .or_else(|| server.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {
            Ok(server.to_string())
        }
        _ => Err(CommandError::new(
            ErrorCode::Invalid,
            format!("`{server}` is not a server address: use http://host:port or https://host"),
        )),
    }
}

async fn stop_embedded(connection: &Connection) {
    if let Some(cloud) = connection.embedded.lock().await.take()
        && let Err(e) = cloud.shutdown().await
    {
        tracing::warn!("stopping the embedded cloud: {e:#}");
    }
}

#[tauri::command]
pub async fn settings_get(connection: State<'_, Connection>) -> Result<Settings, CommandError> {
    settings(&connection).await
}

/// Logs in to `server` with a username and password, keeps the token (OS keyring, else the
/// 0600 credentials file) and makes `server` the configured one.
#[tauri::command]
pub async fn settings_connect(
    connection: State<'_, Connection>,
    library: State<'_, Library>,
    server: String,
    username: String,
    password: String,
) -> Result<Connected, CommandError> {
    let server = normalize_server(&server)?;
    if username.trim().is_empty() || password.is_empty() {
        return Err(CommandError::new(
            ErrorCode::Invalid,
            "type your username and password",
        ));
    }
    let client = Client::new(&server, None)
        .map_err(|e| CommandError::new(ErrorCode::Invalid, e.to_string()))?;
    let login = client
        .login(username.trim(), &password, Some(DEVICE_NAME))
        .await
        .map_err(|e| match e {
            ClientError::Unauthorized { .. } => CommandError::new(
                ErrorCode::Unauthorized,
                format!("{server} did not accept this username and password"),
            ),
            other => command_error(other),
        })?;
    let stored =
        secrets::store_token_with(connection.dirs(), &server, &login.token, connection.keys())
            .map_err(|e| CommandError::new(ErrorCode::Config, e.to_string()))?;
    let (mut config, path) = connection.file_config()?;
    config.server = Some(server.clone());
    config.embedded = false;
    config
        .save(&path)
        .map_err(|e| CommandError::new(ErrorCode::Config, e.to_string()))?;
    stop_embedded(&connection).await;
    connection.forget_client().await;
    // Another user may have logged in: the gallery reopens the catalog of whoever it is.
    library.forget().await;
    let warning = match stored {
        StoredIn::Keyring => None,
        StoredIn::File(file) => Some(format!(
            "no OS keyring is reachable: the token is in {} (readable by you only)",
            file.display()
        )),
    };
    if connection.env("IMGCLOUD_SERVER").is_some() {
        tracing::warn!("IMGCLOUD_SERVER is set and overrides the server chosen in settings");
    }
    Ok(Connected {
        settings: settings(&connection).await?,
        username: login.username,
        warning,
    })
}

/// Uses the embedded local cloud: the app hosts it (SQLite + a local S3 store, on loopback),
/// and the configuration points at it. When it cannot start because another imgcloud
/// (the sync daemon, `imgcloud-server`) already hosts the configured embedded cloud, that one
/// is used.
#[tauri::command]
pub async fn settings_use_embedded(
    connection: State<'_, Connection>,
    library: State<'_, Library>,
) -> Result<Settings, CommandError> {
    if connection.embedded.lock().await.is_some() {
        return settings(&connection).await;
    }
    let (previous, path) = connection.file_config()?;
    let save = |config: &ClientConfig| {
        config
            .save(&path)
            .map_err(|e| CommandError::new(ErrorCode::Config, e.to_string()))
    };
    // The embedded cloud only points the configuration at itself when no other server is set.
    if previous.server.is_some() && !previous.embedded {
        save(&ClientConfig {
            server: None,
            ..previous.clone()
        })?;
    }
    let mut options = EmbeddedOptions::new(connection.dirs().clone());
    options.listen = connection.embedded_ports.api;
    options.s3_listen = connection.embedded_ports.s3;
    connection.forget_client().await;
    library.forget().await;
    match EmbeddedCloud::start(options).await {
        Ok(cloud) => {
            tracing::info!(api = %cloud.api_url, "hosting the embedded cloud");
            *connection.embedded.lock().await = Some(cloud);
        }
        Err(e) => {
            save(&previous)?;
            let hosted_elsewhere = previous.embedded
                && connection
                    .call("me", |c| async move { c.me().await })
                    .await
                    .is_ok();
            if !hosted_elsewhere {
                return Err(CommandError::new(
                    ErrorCode::Embedded,
                    format!("cannot start the embedded local cloud: {e:#}"),
                ));
            }
            tracing::info!("the embedded cloud runs elsewhere (the sync daemon?); using it");
        }
    }
    settings(&connection).await
}

/// Sets the default link format (`url`, `markdown`, `html`, `bbcode`, or `custom` with a
/// template such as `![{name}]({url})`).
#[tauri::command]
pub fn settings_set_link_format(
    connection: State<'_, Connection>,
    format: String,
    template: Option<String>,
) -> Result<(), CommandError> {
    let template = template.filter(|t| !t.trim().is_empty());
    let parsed = LinkFormat::from_config(format.trim(), template.as_deref())
        .map_err(|e| CommandError::new(ErrorCode::Invalid, e.to_string()))?;
    let (mut config, path) = connection.file_config()?;
    match parsed {
        LinkFormat::Custom(template) => {
            config.format = "custom".into();
            config.template = Some(template);
        }
        other => {
            config.format = other.to_string();
        }
    }
    config
        .save(&path)
        .map_err(|e| CommandError::new(ErrorCode::Config, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::normalize_server;

    #[test]
    fn server_addresses_are_normalized_or_refused() {
        assert_eq!(
            normalize_server(" http://127.0.0.1:8420/ ").unwrap(),
            "http://127.0.0.1:8420"
        );
        assert_eq!(
            normalize_server("https://img.example").unwrap(),
            "https://img.example"
        );
        for bad in ["", "127.0.0.1:8420", "ftp://x", "http://", "http://a b"] {
            assert!(normalize_server(bad).is_err(), "{bad}");
        }
    }
}
