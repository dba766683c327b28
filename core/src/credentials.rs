//! The fallback credentials file (`credentials.toml`, mode 0600): API tokens by server URL.
//!
//! Used when no OS keyring is reachable (headless machines, CI) and by the embedded cloud for
//! its local user. The `secrets` module (client feature) tries the keyring first.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, write_atomic};

/// Tokens keyed by server base URL, and the PicGo endpoint's key. `Debug` never shows them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
    /// The key PicGo clients must send to the daemon's endpoint (`imgcloud picgo key`), when
    /// no keyring keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picgo_key: Option<String>,
    /// The PicGo key is in the OS keyring (not a secret: it tells that one is required even
    /// while the keyring cannot be read).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub picgo_key_in_keyring: bool,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("servers", &self.tokens.keys().collect::<Vec<_>>())
            .field("picgo_key", &self.picgo_key.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Normalises a server URL for use as a key (no trailing slash).
pub fn server_key(server: &str) -> String {
    server.trim_end_matches('/').to_string()
}

impl Credentials {
    /// Reads `path`; a missing file is empty.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        crate::config::load_toml(path)
    }

    pub fn token(&self, server: &str) -> Option<&str> {
        self.tokens.get(&server_key(server)).map(String::as_str)
    }

    pub fn set_token(&mut self, server: &str, token: &str) {
        self.tokens.insert(server_key(server), token.to_string());
    }

    /// Writes the file with mode 0600 (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self).expect("credentials serialise");
        write_atomic(path, text.as_bytes(), Some(0o600))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_file_is_user_only_and_debug_hides_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        let mut creds = Credentials::default();
        creds.set_token("http://h:1/", "secret-token");
        creds.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = Credentials::load(&path).unwrap();
        assert_eq!(loaded.token("http://h:1"), Some("secret-token"));
        assert!(!format!("{loaded:?}").contains("secret-token"));
    }
}
