//! Accounts and API tokens, as used by `imgcloud-server user add` / `token add` and the
//! embedded cloud.

use crate::keys;
use crate::store::{Store, StoreError, User};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("invalid user name {0:?}: use 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidName(String),
    #[error("invalid token name {0:?}: use 1 to 64 printable characters")]
    InvalidTokenName(String),
    #[error("user {0:?} already exists")]
    Exists(String),
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a user name: 1–64 of `[A-Za-z0-9._-]`.
pub fn validate_username(name: &str) -> Result<&str, UserError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(name)
    } else {
        Err(UserError::InvalidName(name.to_string()))
    }
}

/// Creates a token named `token_name` for `user_id`; returns the token (shown once, stored
/// only as a hash).
pub async fn issue_token(
    store: &dyn Store,
    user_id: &str,
    token_name: &str,
) -> Result<String, UserError> {
    let token_name = token_name.trim();
    if token_name.is_empty() || token_name.len() > 64 || token_name.chars().any(char::is_control) {
        return Err(UserError::InvalidTokenName(token_name.to_string()));
    }
    let token = keys::new_token();
    store
        .add_token(user_id, &keys::token_hash(&token), token_name)
        .await?;
    Ok(token)
}

/// Creates user `name` with a first token named `token_name`.
pub async fn add_user(
    store: &dyn Store,
    name: &str,
    token_name: &str,
) -> Result<(User, String), UserError> {
    validate_username(name)?;
    let user = store.create_user(name).await.map_err(|e| match e {
        StoreError::Conflict(_) => UserError::Exists(name.to_string()),
        other => other.into(),
    })?;
    let token = issue_token(store, &user.id, token_name).await?;
    Ok((user, token))
}

/// A new token for the existing user `name`.
pub async fn add_token(
    store: &dyn Store,
    name: &str,
    token_name: &str,
) -> Result<String, UserError> {
    let user = store.user_by_name(name).await.map_err(|e| match e {
        StoreError::NotFound => UserError::NoSuchUser(name.to_string()),
        other => other.into(),
    })?;
    issue_token(store, &user.id, token_name).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn add_user_issues_a_working_token() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("u.db").display()))
            .await
            .unwrap();
        let (user, token) = add_user(&store, "ann", "cli").await.unwrap();
        assert_eq!(
            store
                .user_by_token_hash(&keys::token_hash(&token))
                .await
                .unwrap(),
            user
        );
        assert!(matches!(
            add_user(&store, "ann", "cli").await,
            Err(UserError::Exists(_))
        ));
        assert!(matches!(
            add_user(&store, "a b", "cli").await,
            Err(UserError::InvalidName(_))
        ));
        let second = add_token(&store, "ann", "laptop").await.unwrap();
        assert_ne!(second, token);
        assert!(matches!(
            add_token(&store, "bob", "x").await,
            Err(UserError::NoSuchUser(_))
        ));
    }
}
