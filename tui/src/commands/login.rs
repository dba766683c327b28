//! `imgcloud login URL`: log in with a user name and password (prompted, hidden; or
//! `--username` + `--password-stdin` for scripts), or with an existing token
//! (`--token-stdin`); store the token (keyring, else the 0600 credentials file) and remember
//! the server in the configuration. `imgcloud tokens [revoke ID]`: the account's tokens.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context as _;
use imgcloud_core::api::TokenInfo;
use imgcloud_core::client::{Client, ClientError};
use imgcloud_core::credentials::server_key;
use imgcloud_core::secrets::{StoredIn, store_token};

use crate::cli::{LoginArgs, TokensAction, TokensArgs};
use crate::context::Context;
use crate::exit::UsageError;
use crate::output;

/// Longest password the server accepts, in bytes.
const MAX_PASSWORD_BYTES: usize = 1024;

pub async fn run(ctx: &Context, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let server = normalize_url(&args.url)?;
    let (token, username) = if args.token_stdin {
        let token = read_token_stdin()?;
        let client = Client::new(&server, Some(token.clone()))
            .with_context(|| format!("cannot create an API client for {server}"))?;
        let me = match client.me().await {
            Ok(me) => me,
            Err(ClientError::Unauthorized { message, .. }) => {
                anyhow::bail!(
                    "cannot log in to {server}: the server did not accept the token ({message})"
                )
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("cannot log in to {server}")));
            }
        };
        (token, me.username)
    } else {
        password_login(&server, args).await?
    };

    let stored = store_token(&ctx.dirs, &server, &token).context("cannot store the token")?;
    match &stored {
        StoredIn::Keyring => eprintln!("token stored in the OS keyring"),
        StoredIn::File(path) => output::warn(format_args!(
            "no OS keyring is reachable; the token is stored in {} (readable only by you)",
            path.display()
        )),
    }

    let path = ctx.dirs.config_file();
    let mut config = imgcloud_core::config::ClientConfig::load(&path)?;
    config.server = Some(server.clone());
    config.save(&path)?;
    eprintln!("logged in to {server} as {username}");
    Ok(ExitCode::SUCCESS)
}

/// Asks the server for a token with a user name and password; returns it with the user name.
async fn password_login(server: &str, args: &LoginArgs) -> anyhow::Result<(String, String)> {
    let interactive = console::Term::stderr().is_term() && std::io::stdin().is_terminal();
    let username = match &args.username {
        Some(name) => name.trim().to_string(),
        None if interactive && !args.password_stdin => {
            eprint!("User name for {server}: ");
            console::Term::stderr()
                .read_line()
                .context("cannot read the user name")?
                .trim()
                .to_string()
        }
        None => {
            return Err(UsageError(
                "no terminal to prompt for the user name: pass --username NAME".into(),
            )
            .into());
        }
    };
    if username.is_empty() {
        return Err(UsageError("the user name is empty".into()).into());
    }
    let password = if args.password_stdin {
        read_password_line(&mut std::io::stdin().lock())?
    } else if interactive {
        eprint!("Password for {username}: ");
        console::Term::stderr()
            .read_secure_line()
            .context("cannot read the password")?
    } else {
        return Err(UsageError(
            "no terminal to prompt for the password: pipe it in with --password-stdin \
             (or log in with a token: --token-stdin)"
                .into(),
        )
        .into());
    };
    if password.is_empty() {
        return Err(UsageError("the password is empty".into()).into());
    }
    let device = match &args.device {
        Some(device) => device.trim().to_string(),
        None => default_device_name(),
    };

    let client = Client::new(server, None)
        .with_context(|| format!("cannot create an API client for {server}"))?;
    match client.login(&username, &password, Some(&device)).await {
        Ok(answer) => Ok((answer.token, answer.username)),
        Err(ClientError::Unauthorized { message, .. }) => {
            anyhow::bail!("cannot log in to {server} as {username}: {message}")
        }
        Err(ClientError::Api {
            status: 429,
            message,
            ..
        }) => anyhow::bail!("cannot log in to {server} as {username}: {message}"),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot log in to {server}"))),
    }
}

/// This machine's name (what the token is called on the server), at most 64 characters.
fn default_device_name() -> String {
    let name: String = gethostname::gethostname()
        .to_string_lossy()
        .chars()
        .filter(|c| !c.is_control())
        .take(64)
        .collect();
    let name = name.trim();
    if name.is_empty() {
        "imgcloud".to_string()
    } else {
        name.to_string()
    }
}

/// One line of `input` without its line break; other spaces belong to the password.
pub(crate) fn read_password_line(input: &mut impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::Read::take(&mut *input, MAX_PASSWORD_BYTES as u64 + 3)
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let line = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    Ok(line.to_string())
}

/// `imgcloud tokens [--json]` and `imgcloud tokens revoke ID`.
pub async fn tokens(ctx: &Context, args: &TokensArgs) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match &args.action {
        Some(TokensAction::Revoke { id }) => {
            let id = id.trim().to_ascii_lowercase();
            match client.revoke_token(&id).await {
                Ok(()) => {
                    eprintln!("token {id} revoked");
                    Ok(ExitCode::SUCCESS)
                }
                Err(ClientError::NotFound { .. }) => Err(UsageError(format!(
                    "you have no token with id {id}: `imgcloud tokens` lists them"
                ))
                .into()),
                Err(e) => Err(anyhow::Error::new(e).context("cannot revoke the token")),
            }
        }
        None => {
            let list = client.tokens().await.context("cannot list the tokens")?;
            if args.json {
                output::print_json(&list.tokens)?;
            } else {
                print!("{}", token_table(&list.tokens));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn token_table(tokens: &[TokenInfo]) -> String {
    let width = tokens
        .iter()
        .map(|t| output::sanitize_for_terminal(&t.name).chars().count())
        .max()
        .unwrap_or(0)
        .max("NAME".len());
    let mut out = format!(
        "{:<16}  {:<width$}  {:<16}  LAST USED\n",
        "ID", "NAME", "CREATED"
    );
    for t in tokens {
        let last = t
            .last_used_at
            .map_or_else(|| "never".to_string(), output::short_date);
        out.push_str(&format!(
            "{:<16}  {:<width$}  {:<16}  {last}{}\n",
            t.id,
            output::sanitize_for_terminal(&t.name),
            output::short_date(t.created_at),
            if t.current { "  (this one)" } else { "" },
        ));
    }
    out
}

/// `https://img.example.com/` → `https://img.example.com`; rejects anything not http(s).
pub fn normalize_url(url: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(url.trim())
        .map_err(|e| UsageError(format!("{url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(UsageError(format!("{url:?} is not an http(s) server URL")).into());
    }
    Ok(server_key(parsed.as_str()))
}

fn read_token_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the token from stdin")?;
    check_token(line)
}

fn check_token(raw: String) -> anyhow::Result<String> {
    let token = raw.trim().to_string();
    if token.is_empty() {
        return Err(UsageError("the token is empty".into()).into());
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UsageError("the token contains spaces or control characters".into()).into());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized_and_checked() {
        assert_eq!(
            normalize_url("http://127.0.0.1:8420/").unwrap(),
            "http://127.0.0.1:8420"
        );
        assert_eq!(
            normalize_url(" https://img.example.com ").unwrap(),
            "https://img.example.com"
        );
        assert!(normalize_url("ftp://x").is_err());
        assert!(normalize_url("img.example.com").is_err());
    }

    #[test]
    fn password_lines_keep_spaces_and_lose_the_line_break() {
        let read = |s: &str| read_password_line(&mut std::io::Cursor::new(s.as_bytes().to_vec()));
        assert_eq!(read(" two words \n").unwrap(), " two words ");
        assert_eq!(read("crlf\r\n").unwrap(), "crlf");
        assert_eq!(read("").unwrap(), "");
        let device = default_device_name();
        assert!(!device.is_empty() && device.chars().count() <= 64);
    }

    #[test]
    fn tokens_are_trimmed_and_validated() {
        assert_eq!(check_token("abc\n".into()).unwrap(), "abc");
        assert!(check_token("\n".into()).is_err());
        assert!(check_token("a b".into()).is_err());
    }
}
