//! `imgcloud login URL [--token-stdin]`: check a token against `/v1/me`, store it (keyring,
//! else the 0600 credentials file) and remember the server in the configuration.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context as _;
use imgcloud_core::client::{Client, ClientError};
use imgcloud_core::credentials::server_key;
use imgcloud_core::secrets::{StoredIn, store_token};

use crate::cli::LoginArgs;
use crate::context::Context;
use crate::exit::UsageError;
use crate::output;

pub async fn run(ctx: &Context, args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let server = normalize_url(&args.url)?;
    let token = if args.token_stdin {
        read_token_stdin()?
    } else {
        prompt_token(&server)?
    };

    let client = Client::new(&server, Some(token.clone()))
        .with_context(|| format!("cannot create an API client for {server}"))?;
    let me = match client.me().await {
        Ok(me) => me,
        Err(ClientError::Unauthorized { message, .. }) => {
            anyhow::bail!(
                "cannot log in to {server}: the server did not accept the token ({message})"
            )
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot log in to {server}"))),
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
    eprintln!("logged in to {server} as {}", me.username);
    Ok(ExitCode::SUCCESS)
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

fn prompt_token(server: &str) -> anyhow::Result<String> {
    let term = console::Term::stderr();
    if !term.is_term() || !std::io::stdin().is_terminal() {
        return Err(UsageError(
            "no terminal to prompt for the token: pass it with --token-stdin".into(),
        )
        .into());
    }
    eprint!("API token for {server}: ");
    let token = term.read_secure_line().context("cannot read the token")?;
    check_token(token)
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
    fn tokens_are_trimmed_and_validated() {
        assert_eq!(check_token("abc\n".into()).unwrap(), "abc");
        assert!(check_token("\n".into()).is_err());
        assert!(check_token("a b".into()).is_err());
    }
}
