//! The client configuration file (`config.toml` in [`crate::paths::Dirs::config`]).
//!
//! Layering: defaults → file → environment (`IMGCLOUD_SERVER`, `IMGCLOUD_FORMAT`) → flags
//! (applied by each binary). Secrets never live here; see [`crate::credentials`] and
//! `secrets` (client feature).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Everything a client reads from `config.toml`. Unknown keys are kept out by `deny_unknown_fields`
/// so a typo is reported, not ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Base URL of the imgcloud server, e.g. `http://127.0.0.1:8420`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Default link format: `url`, `markdown`, `html`, `bbcode` or `custom`.
    pub format: String,
    /// Template for the `custom` format, e.g. `![{name}]({url})`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Concurrent file uploads.
    pub concurrency: usize,
    /// Set by the embedded cloud when it wrote this file for its local user.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub embedded: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            server: None,
            format: "url".into(),
            template: None,
            concurrency: 4,
            embedded: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid imgcloud configuration: {message}")]
    Parse { path: String, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl ClientConfig {
    /// Reads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        load_toml(path)
    }

    /// Parses the text of a `config.toml` (what [`ClientConfig::load`] does with a file's).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `IMGCLOUD_SERVER` and `IMGCLOUD_FORMAT` from the environment.
    pub fn apply_env(&mut self) {
        self.apply_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    }

    /// Same as [`ClientConfig::apply_env`] with an explicit lookup (for tests).
    pub fn apply_vars(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(server) = var("IMGCLOUD_SERVER") {
            self.server = Some(server);
        }
        if let Some(format) = var("IMGCLOUD_FORMAT") {
            self.format = format;
        }
    }

    /// Writes the file atomically (temp file + rename), creating the directory.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self).expect("config serialises");
        write_atomic(path, text.as_bytes(), None)
    }
}

/// Reads the TOML file at `path`; a missing file gives `T::default()`. Errors name the file.
pub(crate) fn load_toml<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
) -> Result<T, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            });
        }
    };
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Writes `bytes` to `path` via a temp file and rename; `mode` sets Unix permissions first.
pub(crate) fn write_atomic(
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
) -> Result<(), ConfigError> {
    let err = |source| ConfigError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        use std::io::Write;
        // A temp file left by a crash keeps the mode it was made with: start from a new one,
        // so `mode` holds for what the secrets are written into.
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
            _ => {}
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp).map_err(err)?;
        file.write_all(bytes).map_err(err)?;
        file.sync_all().map_err(err)?;
    }
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_leftover_temp_file_does_not_lend_its_mode_to_the_written_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        let leftover = dir
            .path()
            .join(format!(".credentials.toml.tmp{}", std::process::id()));
        std::fs::write(&leftover, "old").unwrap();
        std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&path, b"token = \"secret\"", Some(0o600)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "token = \"secret\""
        );
        assert!(!leftover.exists());
    }

    #[test]
    fn missing_file_gives_defaults_and_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ClientConfig::load(&dir.path().join("none.toml")).unwrap();
        assert_eq!(config, ClientConfig::default());
        config.apply_vars(|n| (n == "IMGCLOUD_SERVER").then(|| "http://h:1".to_string()));
        assert_eq!(config.server.as_deref(), Some("http://h:1"));
    }

    #[test]
    fn round_trips_and_rejects_typos_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        let config = ClientConfig {
            server: Some("http://x".into()),
            ..Default::default()
        };
        config.save(&path).unwrap();
        assert_eq!(ClientConfig::load(&path).unwrap(), config);
        std::fs::write(&path, "sever = \"http://x\"\n").unwrap();
        let err = ClientConfig::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("config.toml") && err.contains("sever"),
            "{err}"
        );
    }
}
