//! Everything a command needs from the environment: directories, the merged configuration
//! (defaults → file → `IMGCLOUD_*` → flags), the API client and the link format.

use anyhow::Context as _;
use imgcloud_core::client::Client;
use imgcloud_core::config::ClientConfig;
use imgcloud_core::links::LinkFormat;
use imgcloud_core::paths::Dirs;

use crate::cli::GlobalArgs;
use crate::exit::UsageError;

pub struct Context {
    pub dirs: Dirs,
    pub config: ClientConfig,
}

impl Context {
    /// Resolves directories and the effective configuration.
    pub fn load(global: &GlobalArgs) -> anyhow::Result<Self> {
        let dirs = Dirs::from_env().map_err(|e| UsageError(e.to_string()))?;
        let mut config =
            ClientConfig::load(&dirs.config_file()).map_err(|e| UsageError(e.to_string()))?;
        config.apply_env();
        if let Some(server) = &global.server {
            config.server = Some(server.clone());
        }
        Ok(Self { dirs, config })
    }

    /// The server URL, or a usage error that says how to set one.
    pub fn server(&self) -> anyhow::Result<String> {
        match self.config.server.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(server) => Ok(server.trim_end_matches('/').to_string()),
            None => Err(UsageError(format!(
                "no server configured: run `imgcloud login URL`, pass --server URL or set IMGCLOUD_SERVER \
                 (configuration file: {})",
                self.dirs.config_file().display()
            ))
            .into()),
        }
    }

    /// An API client for the configured server with the stored token
    /// (`IMGCLOUD_TOKEN` → OS keyring → credentials file).
    pub fn client(&self) -> anyhow::Result<Client> {
        let server = self.server()?;
        let token = imgcloud_core::secrets::load_token(&self.dirs, &server)
            .with_context(|| format!("cannot read the API token for {server}"))?
            .map(|(token, _source)| token)
            .ok_or_else(|| {
                UsageError(format!(
                    "not logged in to {server}: run `imgcloud login {server}` or set IMGCLOUD_TOKEN"
                ))
            })?;
        Client::new(&server, Some(token))
            .with_context(|| format!("cannot create an API client for {server}"))
    }

    /// The link format: `--format` if given, else the configuration's `format` (with its
    /// `template` for `custom`).
    pub fn link_format(&self, flag: Option<&str>) -> anyhow::Result<LinkFormat> {
        match flag {
            Some(spec) => spec
                .parse::<LinkFormat>()
                .map_err(|e| UsageError(format!("--format: {e}")).into()),
            None => LinkFormat::from_config(&self.config.format, self.config.template.as_deref())
                .map_err(|e| {
                    UsageError(format!(
                        "{e} (configuration file: {})",
                        self.dirs.config_file().display()
                    ))
                    .into()
                }),
        }
    }
}
