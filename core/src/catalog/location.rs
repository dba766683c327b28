//! Where catalogs live: `{data}/catalog/{server}/{user id}.sqlite`, the server folder named
//! after the URL (readable part plus a hash, so two URLs never share a folder), and an `account`
//! file beside the catalogs naming the user last seen on that server, so a client can open the
//! right catalog before it has reached the server.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::CatalogError;
use crate::credentials::server_key;
use crate::paths::Dirs;

/// The folder of one server's catalogs.
pub fn server_dir(dirs: &Dirs, server: &str) -> PathBuf {
    let key = server_key(server);
    let readable: String = key
        .split_once("://")
        .map_or(key.as_str(), |(_, rest)| rest)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let hash = hex::encode(&Sha256::digest(key.as_bytes())[..4]);
    dirs.catalogs().join(format!("{readable}-{hash}"))
}

/// The catalog file of `user_id` on `server`.
pub fn file(dirs: &Dirs, server: &str, user_id: &str) -> PathBuf {
    let safe: String = user_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    server_dir(dirs, server).join(format!("{safe}.sqlite"))
}

/// The user last seen on `server` (None: never, or the file is unreadable).
pub fn last_user(dirs: &Dirs, server: &str) -> Option<String> {
    std::fs::read_to_string(account_file(dirs, server))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Records `user_id` as the user last seen on `server`.
pub fn remember_user(dirs: &Dirs, server: &str, user_id: &str) -> Result<(), CatalogError> {
    let path = account_file(dirs, server);
    let io = |source| CatalogError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(io)?;
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, format!("{user_id}\n")).map_err(io)?;
    std::fs::rename(&temp, &path).map_err(io)
}

fn account_file(dirs: &Dirs, server: &str) -> PathBuf {
    server_dir(dirs, server).join("account")
}
