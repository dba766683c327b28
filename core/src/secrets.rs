//! API tokens: `IMGCLOUD_TOKEN` → OS keyring → 0600 credentials file; and the PicGo
//! endpoint's key (OS keyring → the same file).
//!
//! Tokens are stored in the OS keyring (service `imgcloud`, user = the server URL without a
//! trailing slash). When no keyring is reachable (headless servers, CI) they go to the
//! credentials file ([`crate::credentials`]) and the caller warns the user. Secrets are never
//! logged.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::credentials::{Credentials, server_key};
use crate::paths::Dirs;

/// Keyring service name.
pub const KEYRING_SERVICE: &str = "imgcloud";
/// Keyring user of the PicGo endpoint's key of the instance whose configuration is in `dirs`
/// (instances with their own directories have their own keys).
pub fn picgo_key_user(dirs: &Dirs) -> String {
    format!("picgo-key:{}", dirs.config.display())
}
/// Environment variable that overrides every stored token.
pub const TOKEN_ENV: &str = "IMGCLOUD_TOKEN";

/// Where a loaded token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Env,
    Keyring,
    File(PathBuf),
}

/// Where [`store_token`] put the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredIn {
    Keyring,
    /// No keyring was reachable: the token is in this 0600 file. Warn the user.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(transparent)]
    File(#[from] ConfigError),
    /// A PicGo key was made and kept in the OS keyring, which cannot be read now.
    #[error(
        "the PicGo key is kept in the OS keyring, which cannot be read now (is the keyring unlocked?)"
    )]
    PicgoKeyUnreadable,
}

/// A keyring failure; the message never contains the secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct KeyStoreError(pub String);

/// Access to a secret store keyed by (service, user); injectable for tests.
pub trait KeyStore: Send + Sync {
    /// `Ok(None)` when there is no entry; `Err` when the store is unreachable.
    fn get(&self, service: &str, user: &str) -> Result<Option<String>, KeyStoreError>;
    fn set(&self, service: &str, user: &str, secret: &str) -> Result<(), KeyStoreError>;
    /// Deleting a missing entry is not an error.
    fn delete(&self, service: &str, user: &str) -> Result<(), KeyStoreError>;
}

/// The OS keyring via the `keyring` crate: on Linux the kernel keyring (keyutils) backed by the
/// Secret Service, both in pure Rust (zbus, no libdbus), so nothing needs a system library.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsKeyring;

/// Runs one keyring call on a thread of its own. The Secret Service client drives its own async
/// runtime and blocks; inside a caller's tokio runtime that can deadlock (the `keyring` crate
/// warns of it), so it never runs on the caller's thread.
fn on_own_thread<T: Send>(call: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(call).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

impl KeyStore for OsKeyring {
    fn get(&self, service: &str, user: &str) -> Result<Option<String>, KeyStoreError> {
        on_own_thread(|| {
            let entry = keyring::Entry::new(service, user).map_err(keyring_error)?;
            match entry.get_password() {
                Ok(secret) => Ok(Some(secret)),
                Err(keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(keyring_error(e)),
            }
        })
    }

    fn set(&self, service: &str, user: &str, secret: &str) -> Result<(), KeyStoreError> {
        on_own_thread(|| {
            let entry = keyring::Entry::new(service, user).map_err(keyring_error)?;
            entry.set_password(secret).map_err(keyring_error)
        })
    }

    fn delete(&self, service: &str, user: &str) -> Result<(), KeyStoreError> {
        on_own_thread(|| {
            let entry = keyring::Entry::new(service, user).map_err(keyring_error)?;
            match entry.delete_credential() {
                Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(keyring_error(e)),
            }
        })
    }
}

fn keyring_error(e: keyring::Error) -> KeyStoreError {
    // keyring's messages describe the platform failure, never the secret.
    KeyStoreError(e.to_string())
}

/// Loads the token for `server`: `IMGCLOUD_TOKEN`, then the OS keyring, then the credentials
/// file. `Ok(None)` when there is none (the caller suggests `imgcloud login`).
pub fn load_token(
    dirs: &Dirs,
    server: &str,
) -> Result<Option<(String, TokenSource)>, SecretsError> {
    load_token_with(dirs, server, &OsKeyring, |name| {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    })
}

/// [`load_token`] with an explicit key store and environment (for tests and embedders).
pub fn load_token_with(
    dirs: &Dirs,
    server: &str,
    store: &dyn KeyStore,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, TokenSource)>, SecretsError> {
    if let Some(token) = env(TOKEN_ENV) {
        return Ok(Some((token.trim().to_string(), TokenSource::Env)));
    }
    let user = server_key(server);
    match store.get(KEYRING_SERVICE, &user) {
        Ok(Some(token)) => return Ok(Some((token, TokenSource::Keyring))),
        Ok(None) => {}
        Err(e) => {
            tracing::debug!(error = %e, "OS keyring unavailable; trying the credentials file")
        }
    }
    let path = dirs.credentials_file();
    let credentials = Credentials::load(&path)?;
    Ok(credentials
        .token(server)
        .map(|token| (token.to_string(), TokenSource::File(path))))
}

/// Stores `token` for `server`: in the OS keyring when reachable, else in the 0600 credentials
/// file (returning [`StoredIn::File`] so the caller can warn).
pub fn store_token(dirs: &Dirs, server: &str, token: &str) -> Result<StoredIn, SecretsError> {
    store_token_with(dirs, server, token, &OsKeyring)
}

/// [`store_token`] with an explicit key store.
pub fn store_token_with(
    dirs: &Dirs,
    server: &str,
    token: &str,
    store: &dyn KeyStore,
) -> Result<StoredIn, SecretsError> {
    let user = server_key(server);
    let stored_in_keyring = kept_in_keyring(store, &user, token);
    let path = dirs.credentials_file();
    let mut credentials = Credentials::load(&path)?;
    if stored_in_keyring {
        // Do not leave an older token for the same server on disk.
        if credentials.tokens.remove(&user).is_some() {
            credentials.save(&path)?;
        }
        Ok(StoredIn::Keyring)
    } else {
        // A stale keyring entry would shadow the file: remove it if we can.
        let _ = store.delete(KEYRING_SERVICE, &user);
        credentials.set_token(server, token);
        credentials.save(&path)?;
        Ok(StoredIn::File(path))
    }
}

/// Writes `secret` to the keyring under `user` and reads it back: whether the keyring keeps it.
fn kept_in_keyring(store: &dyn KeyStore, user: &str, secret: &str) -> bool {
    match store.set(KEYRING_SERVICE, user, secret) {
        // Some backends accept a write they cannot read back (no session keyring): verify.
        Ok(()) => match store.get(KEYRING_SERVICE, user) {
            Ok(Some(read)) if read == secret => true,
            Ok(_) => {
                tracing::debug!("OS keyring did not keep the secret; using the credentials file");
                false
            }
            Err(e) => {
                tracing::debug!(error = %e, "OS keyring unreadable; using the credentials file");
                false
            }
        },
        Err(e) => {
            tracing::debug!(error = %e, "OS keyring unavailable; using the credentials file");
            false
        }
    }
}

/// The PicGo endpoint's key, when one was made (`imgcloud picgo key`): the keyring's, else the
/// credentials file's.
pub fn load_picgo_key_with(
    dirs: &Dirs,
    store: &dyn KeyStore,
) -> Result<Option<String>, SecretsError> {
    match store.get(KEYRING_SERVICE, &picgo_key_user(dirs)) {
        Ok(Some(key)) => return Ok(Some(key)),
        Ok(None) => {}
        Err(e) => {
            tracing::debug!(error = %e, "OS keyring unavailable; trying the credentials file")
        }
    }
    let credentials = Credentials::load(&dirs.credentials_file())?;
    match credentials.picgo_key {
        Some(key) => Ok(Some(key)),
        // Made, but the keyring does not give it now: never "no key" (that would open the
        // endpoint to everyone).
        None if credentials.picgo_key_in_keyring => Err(SecretsError::PicgoKeyUnreadable),
        None => Ok(None),
    }
}

/// Makes a new PicGo key (32 random letters and digits, replacing any older one) and keeps it
/// in the keyring, else in the credentials file.
pub fn new_picgo_key_with(
    dirs: &Dirs,
    store: &dyn KeyStore,
) -> Result<(String, StoredIn), SecretsError> {
    use rand::Rng as _;
    let key: String = rand::rngs::OsRng
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let path = dirs.credentials_file();
    let mut credentials = Credentials::load(&path)?;
    let user = picgo_key_user(dirs);
    if kept_in_keyring(store, &user, &key) {
        credentials.picgo_key = None;
        credentials.picgo_key_in_keyring = true;
        credentials.save(&path)?;
        Ok((key, StoredIn::Keyring))
    } else {
        let _ = store.delete(KEYRING_SERVICE, &user);
        credentials.picgo_key = Some(key.clone());
        credentials.picgo_key_in_keyring = false;
        credentials.save(&path)?;
        Ok((key, StoredIn::File(path)))
    }
}

/// Forgets the PicGo key (keyring and file); whether there was one.
pub fn delete_picgo_key_with(dirs: &Dirs, store: &dyn KeyStore) -> Result<bool, SecretsError> {
    let user = picgo_key_user(dirs);
    let in_keyring = matches!(store.get(KEYRING_SERVICE, &user), Ok(Some(_)));
    if in_keyring && let Err(e) = store.delete(KEYRING_SERVICE, &user) {
        tracing::warn!(error = %e, "could not remove the PicGo key from the OS keyring");
    }
    let path = dirs.credentials_file();
    let mut credentials = Credentials::load(&path)?;
    let in_file = credentials.picgo_key.take().is_some();
    let marked = std::mem::take(&mut credentials.picgo_key_in_keyring);
    if in_file || marked {
        credentials.save(&path)?;
    }
    Ok(in_keyring || in_file)
}

/// Whether `given` is `expected`, compared through their SHA-256 (no timing that tells how
/// much of a guess was right).
pub fn same_secret(expected: &str, given: &str) -> bool {
    use sha2::{Digest as _, Sha256};
    Sha256::digest(expected.as_bytes()) == Sha256::digest(given.as_bytes())
}

/// Removes the stored token for `server` from the keyring and the credentials file
/// (`imgcloud logout`). Returns whether one was found.
pub fn delete_token(dirs: &Dirs, server: &str) -> Result<bool, SecretsError> {
    delete_token_with(dirs, server, &OsKeyring)
}

/// [`delete_token`] with an explicit key store.
pub fn delete_token_with(
    dirs: &Dirs,
    server: &str,
    store: &dyn KeyStore,
) -> Result<bool, SecretsError> {
    let user = server_key(server);
    let in_keyring = matches!(store.get(KEYRING_SERVICE, &user), Ok(Some(_)));
    if in_keyring && let Err(e) = store.delete(KEYRING_SERVICE, &user) {
        tracing::warn!(error = %e, "could not remove the token from the OS keyring");
    }
    let path = dirs.credentials_file();
    let mut credentials = Credentials::load(&path)?;
    let in_file = credentials.tokens.remove(&user).is_some();
    if in_file {
        credentials.save(&path)?;
    }
    Ok(in_keyring || in_file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// A keyring that is unreachable.
    struct NoKeyring;
    impl KeyStore for NoKeyring {
        fn get(&self, _: &str, _: &str) -> Result<Option<String>, KeyStoreError> {
            Err(KeyStoreError("no secret service".into()))
        }
        fn set(&self, _: &str, _: &str, _: &str) -> Result<(), KeyStoreError> {
            Err(KeyStoreError("no secret service".into()))
        }
        fn delete(&self, _: &str, _: &str) -> Result<(), KeyStoreError> {
            Err(KeyStoreError("no secret service".into()))
        }
    }

    /// An in-memory keyring.
    #[derive(Default)]
    struct MemKeyring(Mutex<HashMap<(String, String), String>>);
    impl KeyStore for MemKeyring {
        fn get(&self, s: &str, u: &str) -> Result<Option<String>, KeyStoreError> {
            Ok(self.0.lock().unwrap().get(&(s.into(), u.into())).cloned())
        }
        fn set(&self, s: &str, u: &str, secret: &str) -> Result<(), KeyStoreError> {
            self.0
                .lock()
                .unwrap()
                .insert((s.into(), u.into()), secret.into());
            Ok(())
        }
        fn delete(&self, s: &str, u: &str) -> Result<(), KeyStoreError> {
            self.0.lock().unwrap().remove(&(s.into(), u.into()));
            Ok(())
        }
    }

    fn dirs(root: &std::path::Path) -> Dirs {
        Dirs {
            config: root.join("config"),
            data: root.join("data"),
            runtime: root.join("run"),
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn falls_back_to_a_user_only_file_without_a_keyring() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        let stored = store_token_with(&dirs, "http://h:1/", "tok-1", &NoKeyring).unwrap();
        assert_eq!(stored, StoredIn::File(dirs.credentials_file()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dirs.credentials_file())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (token, source) = load_token_with(&dirs, "http://h:1", &NoKeyring, no_env)
            .unwrap()
            .unwrap();
        assert_eq!(token, "tok-1");
        assert_eq!(source, TokenSource::File(dirs.credentials_file()));
        assert!(
            load_token_with(&dirs, "http://other:2", &NoKeyring, no_env)
                .unwrap()
                .is_none()
        );
        assert!(delete_token_with(&dirs, "http://h:1", &NoKeyring).unwrap());
        assert!(
            load_token_with(&dirs, "http://h:1", &NoKeyring, no_env)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn env_overrides_keyring_which_overrides_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        store_token_with(&dirs, "http://h:1", "file-token", &NoKeyring).unwrap();
        let keyring = MemKeyring::default();
        keyring
            .set(KEYRING_SERVICE, "http://h:1", "keyring-token")
            .unwrap();

        let (token, source) = load_token_with(&dirs, "http://h:1/", &keyring, no_env)
            .unwrap()
            .unwrap();
        assert_eq!(
            (token.as_str(), source),
            ("keyring-token", TokenSource::Keyring)
        );

        let env = |name: &str| (name == TOKEN_ENV).then(|| "env-token".to_string());
        let (token, source) = load_token_with(&dirs, "http://h:1", &keyring, env)
            .unwrap()
            .unwrap();
        assert_eq!((token.as_str(), source), ("env-token", TokenSource::Env));
    }

    #[test]
    fn storing_in_the_keyring_removes_a_stale_file_token() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        store_token_with(&dirs, "http://h:1", "old", &NoKeyring).unwrap();
        let keyring = MemKeyring::default();
        assert_eq!(
            store_token_with(&dirs, "http://h:1", "new", &keyring).unwrap(),
            StoredIn::Keyring
        );
        let creds = Credentials::load(&dirs.credentials_file()).unwrap();
        assert_eq!(creds.token("http://h:1"), None);
        let (token, _) = load_token_with(&dirs, "http://h:1", &keyring, no_env)
            .unwrap()
            .unwrap();
        assert_eq!(token, "new");
    }

    /// The real OS keyring (keyring's `linux-native-sync-persistent` store needs both the
    /// Secret Service and a kernel session keyring). Run with `IMGCLOUD_TEST_KEYRING=1` inside
    /// `dbus-run-session -- sh -c 'printf pw | gnome-keyring-daemon --unlock
    /// --components=secrets; keyctl session - cargo test …'`.
    #[test]
    fn real_keyring_round_trip_when_enabled() {
        if std::env::var("IMGCLOUD_TEST_KEYRING").ok().as_deref() != Some("1") {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        let server = format!("http://keyring-test-{}:1", std::process::id());
        assert_eq!(
            store_token(&dirs, &server, "real-token").unwrap(),
            StoredIn::Keyring
        );
        let (token, source) = load_token_with(&dirs, &server, &OsKeyring, no_env)
            .unwrap()
            .unwrap();
        assert_eq!(
            (token.as_str(), source),
            ("real-token", TokenSource::Keyring)
        );
        assert!(delete_token(&dirs, &server).unwrap());
        assert!(
            load_token_with(&dirs, &server, &OsKeyring, no_env)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_picgo_key_goes_to_the_keyring_or_else_the_file_and_can_be_forgotten() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        let keyring = MemKeyring::default();
        assert_eq!(load_picgo_key_with(&dirs, &keyring).unwrap(), None);
        let (key, stored) = new_picgo_key_with(&dirs, &keyring).unwrap();
        assert_eq!(stored, StoredIn::Keyring);
        assert_eq!(key.len(), 32);
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(
            load_picgo_key_with(&dirs, &keyring).unwrap(),
            Some(key.clone())
        );
        let (again, _) = new_picgo_key_with(&dirs, &keyring).unwrap();
        assert_ne!(again, key, "a new key replaces the old one");
        // Made in the keyring, which then cannot be read (locked): required, not absent.
        assert!(matches!(
            load_picgo_key_with(&dirs, &NoKeyring),
            Err(SecretsError::PicgoKeyUnreadable)
        ));
        assert!(delete_picgo_key_with(&dirs, &keyring).unwrap());
        assert_eq!(load_picgo_key_with(&dirs, &keyring).unwrap(), None);
        assert_eq!(load_picgo_key_with(&dirs, &NoKeyring).unwrap(), None);

        let (key, stored) = new_picgo_key_with(&dirs, &NoKeyring).unwrap();
        assert_eq!(stored, StoredIn::File(dirs.credentials_file()));
        assert_eq!(
            load_picgo_key_with(&dirs, &NoKeyring).unwrap(),
            Some(key.clone())
        );
        let text = std::fs::read_to_string(dirs.credentials_file()).unwrap();
        assert!(text.contains(&key));
        assert!(
            !format!("{:?}", Credentials::load(&dirs.credentials_file()).unwrap()).contains(&key)
        );
        assert!(delete_picgo_key_with(&dirs, &NoKeyring).unwrap());
        assert!(
            !std::fs::read_to_string(dirs.credentials_file())
                .unwrap()
                .contains(&key)
        );
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", ""));
        assert!(!same_secret("abc", "abcd"));
    }
}
