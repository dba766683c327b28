//! Where imgcloud keeps its files.
//!
//! Platform directories (XDG on Linux, via the `directories` crate), each redirectable by an
//! environment variable so several instances can run side by side in tests and benchmarks:
//!
//! | what | variable | Linux default |
//! |---|---|---|
//! | client config + credentials file | `IMGCLOUD_CONFIG_DIR` | `$XDG_CONFIG_HOME/imgcloud` |
//! | data (embedded cloud, catalog, backup) | `IMGCLOUD_DATA_DIR` | `$XDG_DATA_HOME/imgcloud` |
//! | runtime (sockets) | `IMGCLOUD_RUNTIME_DIR` | `$XDG_RUNTIME_DIR/imgcloud`, else the data dir |
//! | cache (previews; safe to delete) | `IMGCLOUD_CACHE_DIR` | `$XDG_CACHE_HOME/imgcloud`; `cache/` in `IMGCLOUD_DATA_DIR` when only that is set |

use std::path::{Path, PathBuf};

/// Resolved directories of one imgcloud instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub config: PathBuf,
    pub data: PathBuf,
    pub runtime: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot find a home directory for imgcloud's files; set IMGCLOUD_CONFIG_DIR and IMGCLOUD_DATA_DIR"
)]
pub struct NoHomeDir;

impl Dirs {
    /// Directories from the environment, falling back to the platform defaults.
    pub fn from_env() -> Result<Self, NoHomeDir> {
        Self::resolve(|name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// Same as [`Dirs::from_env`] with an explicit variable lookup (for tests).
    pub fn resolve(var: impl Fn(&str) -> Option<PathBuf>) -> Result<Self, NoHomeDir> {
        let project = directories::ProjectDirs::from("", "", "imgcloud");
        let config = match var("IMGCLOUD_CONFIG_DIR") {
            Some(dir) => dir,
            None => project
                .as_ref()
                .ok_or(NoHomeDir)?
                .config_dir()
                .to_path_buf(),
        };
        let data = match var("IMGCLOUD_DATA_DIR") {
            Some(dir) => dir,
            None => project.as_ref().ok_or(NoHomeDir)?.data_dir().to_path_buf(),
        };
        let runtime = var("IMGCLOUD_RUNTIME_DIR")
            .or_else(|| {
                project
                    .as_ref()
                    .and_then(|p| p.runtime_dir())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| data.join("run"));
        Ok(Self {
            config,
            data,
            runtime,
        })
    }

    /// The client configuration file (`config.toml`).
    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    /// The fallback credentials file (`credentials.toml`, mode 0600).
    pub fn credentials_file(&self) -> PathBuf {
        self.config.join("credentials.toml")
    }

    /// Where the embedded all-in-one cloud keeps its database, objects and settings.
    pub fn embedded_cloud(&self) -> PathBuf {
        self.data.join("cloud")
    }

    /// The sync daemon's settings (`daemon.toml`).
    pub fn daemon_config_file(&self) -> PathBuf {
        self.config.join("daemon.toml")
    }

    /// The sync daemon's own state: its persistent queue and logs.
    pub fn daemon_state(&self) -> PathBuf {
        self.data.join("daemon")
    }

    /// The local catalogs (one SQLite file per server and user, see `catalog::location`).
    pub fn catalogs(&self) -> PathBuf {
        self.data.join("catalog")
    }

    /// The default backup store (content-addressed copies of synced images).
    pub fn backup(&self) -> PathBuf {
        self.data.join("backup")
    }

    /// Disposable caches (thumbnails for previews): `IMGCLOUD_CACHE_DIR`; else `cache/` in the
    /// data dir when `IMGCLOUD_DATA_DIR` redirects it (so redirected instances share nothing);
    /// else the platform cache dir.
    pub fn cache(&self) -> PathBuf {
        self.cache_with(|name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// Same as [`Dirs::cache`] with an explicit variable lookup (for tests).
    pub fn cache_with(&self, var: impl Fn(&str) -> Option<PathBuf>) -> PathBuf {
        if let Some(dir) = var("IMGCLOUD_CACHE_DIR") {
            return dir;
        }
        if var("IMGCLOUD_DATA_DIR").is_some() {
            return self.data.join("cache");
        }
        directories::ProjectDirs::from("", "", "imgcloud")
            .map(|p| p.cache_dir().to_path_buf())
            .unwrap_or_else(|| self.data.join("cache"))
    }

    /// The preview cache (thumbnails and photo info fetched from the CDN).
    pub fn previews(&self) -> PathBuf {
        self.cache().join("previews")
    }
}

/// Creates `dir` (and its parents) and makes it private to its owner (0700 on Unix),
/// tightening it when it exists already: the daemon's state lists every synced file and its
/// log every link.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(dir)?.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn private_dirs_are_made_and_tightened_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a/b");
        ensure_private_dir(&fresh).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), 0o700);
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
    }

    #[test]
    fn variables_redirect_every_directory() {
        let dirs = Dirs::resolve(|name| match name {
            "IMGCLOUD_CONFIG_DIR" => Some("/c".into()),
            "IMGCLOUD_DATA_DIR" => Some("/d".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(dirs.config_file(), PathBuf::from("/c/config.toml"));
        assert_eq!(dirs.embedded_cloud(), PathBuf::from("/d/cloud"));
        assert!(dirs.runtime.is_absolute());
    }

    #[test]
    fn the_cache_follows_its_variable_or_a_redirected_data_dir() {
        let dirs = Dirs::resolve(|name| match name {
            "IMGCLOUD_CONFIG_DIR" => Some("/c".into()),
            "IMGCLOUD_DATA_DIR" => Some("/d".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            dirs.cache_with(|name| (name == "IMGCLOUD_CACHE_DIR").then(|| "/x".into())),
            PathBuf::from("/x")
        );
        assert_eq!(
            dirs.cache_with(|name| (name == "IMGCLOUD_DATA_DIR").then(|| "/d".into())),
            PathBuf::from("/d/cache")
        );
        assert!(dirs.cache_with(|_| None).is_absolute());
    }
}
