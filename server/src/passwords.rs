//! Password hashing: argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane),
//! stored as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`). Hashing runs on the
//! blocking thread pool, a few at a time, so logins never stall the async workers and a flood
//! of logins cannot take all the memory. Passwords are never logged, stored or echoed.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Shortest password, in characters.
pub const MIN_CHARS: usize = 8;
/// Longest password, in bytes (UTF-8).
pub const MAX_BYTES: usize = 1024;

/// argon2id memory cost in KiB (19 MiB).
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Why a password cannot be used. The messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_CHARS} characters")]
    TooShort,
    #[error("the password is too long: use at most {MAX_BYTES} bytes")]
    TooLong,
    #[error("the password contains control characters (such as a tab or a line break)")]
    ControlCharacters,
}

/// Checks the password rules: at least [`MIN_CHARS`] characters, at most [`MAX_BYTES`] bytes,
/// no control characters.
pub fn validate(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.chars().any(char::is_control) {
        return Err(PasswordError::ControlCharacters);
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(M_COST_KIB, T_COST, P_COST, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most this many hashes run at once in this process (each takes 19 MiB).
fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        Semaphore::new(cpus.clamp(2, 16))
    })
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let _permit = permits()
        .acquire()
        .await
        .expect("the semaphore is never closed");
    tokio::task::spawn_blocking(work)
        .await
        .expect("password hashing panicked")
}

/// Hashes `password` (after checking the rules) into a PHC string with a fresh random salt.
pub async fn hash(password: &str) -> Result<String, PasswordError> {
    validate(password)?;
    let password = password.to_owned();
    Ok(blocking(move || hash_blocking(&password)).await)
}

fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing of a bounded password cannot fail")
        .to_string()
}

/// Whether `password` matches the PHC string `hash` (with the parameters stored in it). An
/// unparsable hash matches nothing (and is logged, without the hash).
pub async fn verify(password: &str, hash: &str) -> bool {
    if password.len() > MAX_BYTES {
        // Same work as a real check, so the answer time does not tell.
        dummy_verify(password).await;
        return false;
    }
    let password = password.to_owned();
    let hash = hash.to_owned();
    blocking(move || verify_blocking(&password, &hash)).await
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash is not a valid PHC string");
            false
        }
    }
}

/// Does the work of a verification against a hash no password matches, so answering for an
/// unknown user (or one without a password) takes as long as for a wrong password.
pub async fn dummy_verify(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let bounded: String = password.chars().take(MAX_BYTES / 4).collect();
    blocking(move || {
        let hash = DUMMY.get_or_init(|| {
            // A random password nobody knows.
            let secret = SaltString::generate(&mut OsRng);
            hash_blocking(secret.as_str())
        });
        verify_blocking(&bounded, hash);
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_salted_argon2id_and_verify() {
        let password = "correct horse battery staple";
        let first = hash(password).await.unwrap();
        let second = hash(password).await.unwrap();
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "OWASP parameters in the PHC string"
        );
        assert_ne!(first, second, "every hash has its own salt");
        assert!(!first.contains(password));
        assert!(verify(password, &first).await);
        assert!(verify(password, &second).await);
        assert!(!verify("correct horse battery stapler", &first).await);
        assert!(!verify("", &first).await);
        assert!(!verify(password, "not a phc string").await);
        assert!(!verify(&"x".repeat(MAX_BYTES + 1), &first).await);
        dummy_verify(password).await;
    }

    #[test]
    fn password_rules_have_clear_errors() {
        assert_eq!(validate("1234567"), Err(PasswordError::TooShort));
        assert_eq!(validate("12345678"), Ok(()));
        // characters, not bytes
        assert_eq!(validate("ééééééé"), Err(PasswordError::TooShort));
        assert_eq!(validate("éééééééé"), Ok(()));
        assert_eq!(validate(&"a".repeat(MAX_BYTES)), Ok(()));
        assert_eq!(
            validate(&"a".repeat(MAX_BYTES + 1)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            validate("new\nline-password"),
            Err(PasswordError::ControlCharacters)
        );
        assert!(PasswordError::TooShort.to_string().contains("at least 8"));
    }

    #[tokio::test]
    async fn hashing_checks_the_rules() {
        assert_eq!(hash("short").await, Err(PasswordError::TooShort));
    }
}
