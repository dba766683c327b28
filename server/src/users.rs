//! Accounts and API tokens, as used by the admin CLI (`imgcloud-server user …` / `token …`),
//! the login route and the embedded cloud.

use std::io::BufRead;

use crate::keys;
use crate::passwords::{self, PasswordError};
use crate::store::{Store, StoreError, User, UserSummary};

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
    Password(#[from] PasswordError),
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

/// The user named `name`, or [`UserError::NoSuchUser`].
pub async fn find_user(store: &dyn Store, name: &str) -> Result<User, UserError> {
    store.user_by_name(name).await.map_err(|e| match e {
        StoreError::NotFound => UserError::NoSuchUser(name.to_string()),
        other => other.into(),
    })
}

/// Creates user `name` with a first token named `token_name` and, if given, a password
/// (checked against the rules before the user is created).
pub async fn add_user_with_password(
    store: &dyn Store,
    name: &str,
    token_name: &str,
    password: Option<&str>,
) -> Result<(User, String), UserError> {
    validate_username(name)?;
    let hash = match password {
        Some(password) => Some(passwords::hash(password).await?),
        None => None,
    };
    let (user, token) = add_user(store, name, token_name).await?;
    if let Some(hash) = hash {
        store.set_password_hash(&user.id, Some(&hash)).await?;
    }
    Ok((user, token))
}

/// Sets the password of user `name` and revokes every token it has (so a leaked token or a
/// logged-in thief is out); returns how many tokens were revoked.
pub async fn reset_password(
    store: &dyn Store,
    name: &str,
    password: &str,
) -> Result<usize, UserError> {
    let user = find_user(store, name).await?;
    let hash = passwords::hash(password).await?;
    store.set_password_hash(&user.id, Some(&hash)).await?;
    Ok(store.revoke_all_tokens(&user.id).await?.len())
}

/// Disables (or enables) user `name`: a disabled user's tokens stop working and it cannot log
/// in; enabling brings back the tokens it had. Returns the user.
pub async fn set_disabled(
    store: &dyn Store,
    name: &str,
    disabled: bool,
) -> Result<User, UserError> {
    let mut user = find_user(store, name).await?;
    store.set_disabled(&user.id, disabled).await?;
    user.disabled = disabled;
    Ok(user)
}

/// Every user, as `imgcloud-server user list` prints it: a table, or JSON with `json`.
pub fn format_users(users: &[UserSummary], json: bool) -> String {
    if json {
        let rows: Vec<_> = users
            .iter()
            .map(|u| {
                serde_json::json!({
                    "id": u.user.id,
                    "username": u.user.username,
                    "disabled": u.user.disabled,
                    "has_password": u.has_password,
                    "tokens": u.tokens,
                    "created_at": u.created_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                })
            })
            .collect();
        let mut out = serde_json::to_string_pretty(&rows).unwrap_or_default();
        out.push('\n');
        return out;
    }
    let width = users
        .iter()
        .map(|u| u.user.username.chars().count())
        .max()
        .unwrap_or(0)
        .max("NAME".len());
    let mut out = format!(
        "{:<width$}  {:<8}  {:<8}  {:>6}  CREATED\n",
        "NAME", "STATUS", "PASSWORD", "TOKENS"
    );
    for u in users {
        let created = u
            .created_at
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<width$}  {:<8}  {:<8}  {:>6}  {created}\n",
            u.user.username,
            if u.user.disabled {
                "disabled"
            } else {
                "active"
            },
            if u.has_password { "set" } else { "none" },
            u.tokens,
        ));
    }
    out
}

/// Reads a new password for `user`: one line from stdin with `from_stdin` (for scripts: the
/// line break is not part of it), else a hidden prompt on the terminal, asked twice. Never
/// from the command line, where other users could see it.
pub fn read_new_password(user: &str, from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        read_password_line(&mut std::io::stdin().lock())?
    } else {
        let term = console::Term::stderr();
        if !term.is_term() || !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            anyhow::bail!(
                "no terminal to prompt for the password: pipe it in and pass --password-stdin"
            );
        }
        term.write_str(&format!("New password for {user}: "))?;
        let first = term.read_secure_line()?;
        passwords::validate(&first)?;
        term.write_str("Repeat it: ")?;
        let second = term.read_secure_line()?;
        if first != second {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        first
    };
    passwords::validate(&password)?;
    Ok(password)
}

/// One line of `input` without its line break (`\n` or `\r\n`); other spaces are kept.
pub fn read_password_line(input: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    // Bounded, so a wrong pipe cannot make this read forever into memory.
    std::io::Read::take(&mut *input, passwords::MAX_BYTES as u64 + 3)
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the password from stdin: {e}"))?;
    let line = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    if line.is_empty() {
        anyhow::bail!("no password on stdin: send it as one line");
    }
    Ok(line.to_string())
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

    #[tokio::test]
    async fn passwords_are_hashed_reset_revokes_tokens_and_disable_stops_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_path(&dir.path().join("u.db"))
            .await
            .unwrap();
        assert!(matches!(
            add_user_with_password(&store, "ann", "cli", Some("short")).await,
            Err(UserError::Password(PasswordError::TooShort))
        ));
        assert!(
            matches!(store.user_by_name("ann").await, Err(StoreError::NotFound)),
            "a bad password creates nothing"
        );
        let (user, token) = add_user_with_password(&store, "ann", "cli", Some("first secret"))
            .await
            .unwrap();
        let (_, hash) = store.login_record("ann").await.unwrap();
        let hash = hash.unwrap();
        assert!(hash.starts_with("$argon2id$") && !hash.contains("first secret"));
        assert!(passwords::verify("first secret", &hash).await);

        let second = issue_token(&store, &user.id, "laptop").await.unwrap();
        assert_eq!(
            reset_password(&store, "ann", "second secret")
                .await
                .unwrap(),
            2
        );
        for t in [&token, &second] {
            assert!(
                store
                    .user_by_token_hash(&keys::token_hash(t))
                    .await
                    .is_err()
            );
        }
        let (_, hash) = store.login_record("ann").await.unwrap();
        assert!(passwords::verify("second secret", &hash.unwrap()).await);
        assert!(matches!(
            reset_password(&store, "nobody", "second secret").await,
            Err(UserError::NoSuchUser(_))
        ));

        let third = issue_token(&store, &user.id, "laptop").await.unwrap();
        assert!(set_disabled(&store, "ann", true).await.unwrap().disabled);
        assert!(
            store
                .user_by_token_hash(&keys::token_hash(&third))
                .await
                .is_err()
        );
        set_disabled(&store, "ann", false).await.unwrap();
        assert!(
            store
                .user_by_token_hash(&keys::token_hash(&third))
                .await
                .is_ok()
        );

        let listed = store.list_users().await.unwrap();
        let table = format_users(&listed, false);
        assert!(table.starts_with("NAME"), "{table}");
        assert!(table.contains("ann") && table.contains("active") && table.contains("set"));
        let json: serde_json::Value = serde_json::from_str(&format_users(&listed, true)).unwrap();
        assert_eq!(json[0]["username"], "ann");
        assert_eq!(json[0]["has_password"], true);
        assert_eq!(json[0]["tokens"], 1);
        assert!(!format_users(&listed, true).contains("argon2"));
    }

    #[test]
    fn password_lines_lose_only_the_line_break() {
        let read = |s: &str| read_password_line(&mut std::io::Cursor::new(s.as_bytes().to_vec()));
        assert_eq!(read("  spaced out  \n").unwrap(), "  spaced out  ");
        assert_eq!(read("windows\r\n").unwrap(), "windows");
        assert_eq!(read("no newline").unwrap(), "no newline");
        assert_eq!(read("first\nsecond\n").unwrap(), "first");
        assert!(read("").is_err());
        assert!(read("\n").is_err());
    }
}
