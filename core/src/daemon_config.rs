//! The sync daemon's settings (`daemon.toml` in [`crate::paths::Dirs::config`]).
//!
//! The daemon reloads this file when it changes; `imgcloud watch add|rm` edits it (through the
//! daemon when it runs, directly otherwise). Unknown keys are errors that name the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, load_toml, write_atomic};
use crate::daemon_api::WatchedFolder;
use crate::paths::Dirs;

/// Default address of the PicGo-compatible endpoint (PicGo's own port).
pub const DEFAULT_PICGO_LISTEN: &str = "127.0.0.1:36677";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaemonConfig {
    /// Files in flight at once (hashed, uploaded, backed up). Each spends most of its time
    /// waiting (three round trips, the store's write, the backup's fsync), so more than the
    /// cores: 8 kept two cores busy where 4 left them idle part of the time.
    pub concurrency: usize,
    /// Upload bandwidth limit in bytes per second; 0 means unlimited.
    pub bandwidth_limit: u64,
    /// How long a file's size and mtime must stay unchanged before it is taken, when the
    /// platform does not say that the writer closed it (milliseconds).
    pub settle_ms: u64,
    /// Full rescan of every folder this often (seconds, jittered by ±10 %); 0 turns it off.
    pub rescan_interval_secs: u64,
    /// Follow symbolic links while scanning (off by default).
    pub follow_symlinks: bool,
    /// Keep a verified copy of every synced image in the backup store.
    pub backup: bool,
    /// Where the backup store lives (default: `backup/` in the data directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_dir: Option<PathBuf>,
    /// Put the link of each new upload on the clipboard (for a screenshots folder).
    pub copy_links: bool,
    /// Show a desktop notification for each new upload, when a notification service exists.
    pub notifications: bool,
    /// Serve the PicGo-compatible endpoint (Typora, Obsidian, …).
    pub picgo: bool,
    /// Where it listens; must be a loopback address.
    pub picgo_listen: SocketAddr,
    #[serde(rename = "folders")]
    pub folders: Vec<WatchedFolder>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            concurrency: 8,
            bandwidth_limit: 0,
            settle_ms: 1000,
            rescan_interval_secs: 3600,
            follow_symlinks: false,
            backup: true,
            backup_dir: None,
            copy_links: false,
            notifications: false,
            picgo: true,
            picgo_listen: DEFAULT_PICGO_LISTEN.parse().expect("valid address"),
            folders: Vec::new(),
        }
    }
}

impl DaemonConfig {
    /// Reads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let config: Self = load_toml(path)?;
        config.validate().map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })?;
        Ok(config)
    }

    /// Parses and validates the text of a `daemon.toml` (what [`DaemonConfig::load`] does with
    /// a file's).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: ranges and the loopback-only PicGo address.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".into());
        }
        if !self.picgo_listen.ip().is_loopback() {
            return Err(format!(
                "picgo_listen = \"{}\": the PicGo endpoint has no authentication and must listen on a loopback address such as {DEFAULT_PICGO_LISTEN}",
                self.picgo_listen
            ));
        }
        for folder in &self.folders {
            if !folder.path.is_absolute() {
                return Err(format!(
                    "folder `{}` must be an absolute path",
                    folder.path.display()
                ));
            }
        }
        Ok(())
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self).expect("daemon config serialises");
        write_atomic(path, text.as_bytes(), None)
    }

    /// The backup store's directory.
    pub fn backup_root(&self, dirs: &Dirs) -> PathBuf {
        self.backup_dir.clone().unwrap_or_else(|| dirs.backup())
    }

    /// Adds a folder (replacing one with the same path); returns whether it was new.
    pub fn add_folder(&mut self, folder: WatchedFolder) -> bool {
        match self.folders.iter_mut().find(|f| f.path == folder.path) {
            Some(existing) => {
                *existing = folder;
                false
            }
            None => {
                self.folders.push(folder);
                true
            }
        }
    }

    /// Removes the folder with this path; returns whether it was there.
    pub fn remove_folder(&mut self, path: &Path) -> bool {
        let before = self.folders.len();
        self.folders.retain(|f| f.path != path);
        self.folders.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_and_typos_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.toml");
        assert_eq!(DaemonConfig::load(&path).unwrap(), DaemonConfig::default());
        let mut config = DaemonConfig::default();
        assert!(config.add_folder(WatchedFolder::new("/pics")));
        assert!(!config.add_folder(WatchedFolder::new("/pics")));
        config.save(&path).unwrap();
        assert_eq!(DaemonConfig::load(&path).unwrap(), config);
        std::fs::write(&path, "concurrencyy = 2\n").unwrap();
        let err = DaemonConfig::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("daemon.toml") && err.contains("concurrencyy"),
            "{err}"
        );
    }

    #[test]
    fn picgo_must_stay_on_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.toml");
        std::fs::write(&path, "picgo_listen = \"0.0.0.0:36677\"\n").unwrap();
        let err = DaemonConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("loopback"), "{err}");
    }

    #[test]
    fn relative_folders_are_refused() {
        let mut config = DaemonConfig::default();
        config.add_folder(WatchedFolder::new("pics"));
        assert!(config.validate().unwrap_err().contains("absolute"));
        assert!(config.remove_folder(Path::new("pics")));
        assert!(config.validate().is_ok());
    }
}
