//! The cloud the daemon syncs to: the configured remote server, or the embedded all-in-one
//! cloud hosted in-process.
//!
//! Resolution, in order:
//! 1. `IMGCLOUD_SERVER` set: that server (remote), whatever the configuration says;
//! 2. no server configured, or the configuration was written by the embedded cloud
//!    (`embedded = true`): start the embedded cloud here (it writes the client configuration
//!    and a token, so `imgcloud` and the desktop app find it). If that fails (its port is taken)
//!    and the configured URL answers `/healthz`, someone already runs it (`imgcloud-server`):
//!    use it as a remote;
//! 3. otherwise the configured server, with the token from `IMGCLOUD_TOKEN`, the OS keyring or
//!    the credentials file.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use imgcloud_core::client::Client;
use imgcloud_core::config::ClientConfig;
use imgcloud_core::credentials::Credentials;
use imgcloud_core::links::LinkFormat;
use imgcloud_core::paths::Dirs;
use imgcloud_server::embedded::{EmbeddedCloud, EmbeddedOptions};

/// How to host the embedded cloud, when it is the one (the `--listen`, `--s3-listen`,
/// `--s3-endpoint`, `--multipart-cutoff`, `--min-part-size` flags).
#[derive(Debug, Clone, Default)]
pub struct CloudOptions {
    /// API address (default 127.0.0.1:8420; `127.0.0.1:0` picks a free port).
    pub listen: Option<SocketAddr>,
    /// Embedded S3 store address (default 127.0.0.1:8421).
    pub s3_listen: Option<SocketAddr>,
    /// Where clients reach the embedded store when a proxy sits in front of it.
    pub s3_endpoint: Option<url::Url>,
    /// Files of at least this many bytes go up in parts.
    pub multipart_cutoff: Option<u64>,
    /// Smallest multipart part, in bytes.
    pub min_part_size: Option<u64>,
}

/// The resolved cloud.
pub struct Cloud {
    /// An API client with the user's token.
    pub client: Client,
    /// The API's base URL.
    pub server: String,
    /// Links of new uploads are rendered in this format (client configuration `format`).
    pub link_format: LinkFormat,
    /// Set when the daemon hosts the embedded cloud itself.
    pub embedded: Option<EmbeddedCloud>,
}

impl std::fmt::Debug for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloud")
            .field("server", &self.server)
            .field("embedded", &self.embedded.is_some())
            .finish()
    }
}

/// Where the cloud comes from, decided from the configuration alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloudChoice {
    /// Host the embedded cloud; the URL is the previously configured embedded one, if any
    /// (used as a remote when the embedded cloud's port is taken).
    Embedded { previous: Option<String> },
    /// Use this server.
    Remote(String),
}

/// Decides where the cloud comes from (`env_server`: `IMGCLOUD_SERVER`).
pub fn choose(config: &ClientConfig, env_server: Option<&str>) -> CloudChoice {
    if let Some(server) = env_server.map(str::trim).filter(|s| !s.is_empty()) {
        return CloudChoice::Remote(server.trim_end_matches('/').to_string());
    }
    match config
        .server
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => CloudChoice::Embedded { previous: None },
        Some(server) if config.embedded => CloudChoice::Embedded {
            previous: Some(server.trim_end_matches('/').to_string()),
        },
        Some(server) => CloudChoice::Remote(server.trim_end_matches('/').to_string()),
    }
}

impl Cloud {
    /// Resolves the cloud (see the module docs); starts the embedded one when it is the one.
    pub async fn resolve(dirs: &Dirs, options: &CloudOptions) -> anyhow::Result<Cloud> {
        let config_file = dirs.config_file();
        let config = ClientConfig::load(&config_file)?;
        let env_server = std::env::var("IMGCLOUD_SERVER").ok();
        match choose(&config, env_server.as_deref()) {
            CloudChoice::Remote(server) => Self::remote(dirs, &server),
            CloudChoice::Embedded { previous } => {
                match Self::embedded(dirs, options).await {
                    Ok(cloud) => Ok(cloud),
                    Err(e) => {
                        // Someone else (imgcloud-server, another daemon) may host it already.
                        if let Some(server) = previous
                            && answers_healthz(&server).await
                        {
                            tracing::warn!(
                                %server,
                                "the embedded cloud could not start here ({e:#}); {server} answers, so the daemon uses it"
                            );
                            return Self::remote(dirs, &server);
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    async fn embedded(dirs: &Dirs, options: &CloudOptions) -> anyhow::Result<Cloud> {
        let mut embedded = EmbeddedOptions::new(dirs.clone());
        if let Some(listen) = options.listen {
            embedded.listen = listen;
        }
        if let Some(s3_listen) = options.s3_listen {
            embedded.s3_listen = s3_listen;
        }
        embedded.s3_endpoint = options.s3_endpoint.clone();
        embedded.multipart_cutoff = options.multipart_cutoff;
        embedded.min_part_size = options.min_part_size;
        let cloud = EmbeddedCloud::start(embedded).await?;
        let server = cloud.api_url.clone();
        let credentials = Credentials::load(&dirs.credentials_file())?;
        let token = credentials
            .token(&server)
            .map(str::to_string)
            .with_context(|| {
                format!(
                    "the embedded cloud wrote no token for {server} into {}",
                    dirs.credentials_file().display()
                )
            })?;
        let client = Client::new(&server, Some(token))?;
        let link_format = link_format(dirs)?;
        Ok(Cloud {
            client,
            server,
            link_format,
            embedded: Some(cloud),
        })
    }

    fn remote(dirs: &Dirs, server: &str) -> anyhow::Result<Cloud> {
        let token = imgcloud_core::secrets::load_token(dirs, server)
            .with_context(|| format!("cannot read the API token for {server}"))?
            .map(|(token, _source)| token)
            .with_context(|| {
                format!(
                    "not logged in to {server}: run `imgcloud login {server}` or set IMGCLOUD_TOKEN"
                )
            })?;
        let client = Client::new(server, Some(token))
            .with_context(|| format!("cannot create an API client for {server}"))?;
        Ok(Cloud {
            client,
            server: server.to_string(),
            link_format: link_format(dirs)?,
            embedded: None,
        })
    }

    /// Stops the embedded cloud, if this daemon hosts it.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        match self.embedded {
            Some(cloud) => cloud.shutdown().await,
            None => Ok(()),
        }
    }
}

/// The link format of the client configuration (`format`, `template`, `IMGCLOUD_FORMAT`).
fn link_format(dirs: &Dirs) -> anyhow::Result<LinkFormat> {
    let path = dirs.config_file();
    let mut config = ClientConfig::load(&path)?;
    config.apply_env();
    LinkFormat::from_config(&config.format, config.template.as_deref())
        .with_context(|| format!("configuration file {}", path.display()))
}

/// Whether `{server}/healthz` answers 2xx within a few seconds.
pub async fn answers_healthz(server: &str) -> bool {
    let Ok(http) = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    else {
        return false;
    };
    let url = format!("{}/healthz", server.trim_end_matches('/'));
    matches!(http.get(url).send().await, Ok(r) if r.status().is_success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(server: Option<&str>, embedded: bool) -> ClientConfig {
        ClientConfig {
            server: server.map(str::to_string),
            embedded,
            ..ClientConfig::default()
        }
    }

    #[test]
    fn nothing_configured_or_embedded_config_hosts_the_embedded_cloud() {
        assert_eq!(
            choose(&config(None, false), None),
            CloudChoice::Embedded { previous: None }
        );
        assert_eq!(
            choose(&config(Some("http://127.0.0.1:8420/"), true), None),
            CloudChoice::Embedded {
                previous: Some("http://127.0.0.1:8420".into())
            }
        );
    }

    #[test]
    fn a_configured_remote_or_the_environment_wins() {
        assert_eq!(
            choose(&config(Some("https://img.example.com"), false), None),
            CloudChoice::Remote("https://img.example.com".into())
        );
        assert_eq!(
            choose(&config(None, false), Some("http://10.0.0.2:8420")),
            CloudChoice::Remote("http://10.0.0.2:8420".into())
        );
        assert_eq!(
            choose(&config(Some("http://x"), true), Some(" ")),
            CloudChoice::Embedded {
                previous: Some("http://x".into())
            }
        );
    }
}
