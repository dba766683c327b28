//! `imgcloud share ID…|--album NAME [options]`, `imgcloud share revoke URL|TOKEN|ID|--label L`
//! and `imgcloud shares`: share links with expiry, password, view limit and counts.

use std::process::ExitCode;

use anyhow::Context as _;
use imgcloud_core::api::{CreateShare, Share, ShareState};
use imgcloud_core::client::{Client, ClientError};
use imgcloud_core::share_terms::parse_expiry;
use time::OffsetDateTime;

use crate::cli::{DefaultsArgs, ShareAction, ShareArgs, SharesArgs};
use crate::context::Context;
use crate::exit::UsageError;
use crate::output;

/// Resolves an album name (or id) to its id.
pub async fn album_id(client: &Client, name: &str) -> anyhow::Result<String> {
    let albums = client.albums().await.context("cannot list your albums")?;
    albums
        .albums
        .iter()
        .find(|a| a.name == name)
        .or_else(|| albums.albums.iter().find(|a| a.id == name))
        .or_else(|| {
            albums
                .albums
                .iter()
                .find(|a| a.name.to_lowercase() == name.to_lowercase())
        })
        .map(|a| a.id.clone())
        .ok_or_else(|| {
            UsageError(format!(
                "you have no album named {name:?}: `imgcloud album ls` lists them"
            ))
            .into()
        })
}

pub async fn share(ctx: &Context, args: &ShareArgs) -> anyhow::Result<ExitCode> {
    if let Some(ShareAction::Revoke {
        target,
        label,
        json,
    }) = &args.action
    {
        return revoke(ctx, target.as_deref(), label.as_deref(), *json).await;
    }
    let expires = match &args.expires {
        Some(spec) => Some(
            parse_expiry(spec, OffsetDateTime::now_utc())
                .map_err(|e| UsageError(format!("--expires: {e}")))?,
        ),
        None => None,
    };
    let password = if args.password_stdin {
        let password = crate::commands::login::read_password_line(&mut std::io::stdin().lock())?;
        if password.is_empty() {
            return Err(UsageError("--password-stdin: the password is empty".into()).into());
        }
        Some(password)
    } else {
        None
    };
    let client = ctx.client()?;
    let album_id = match &args.album {
        Some(name) => Some(album_id(&client, name).await?),
        None => None,
    };
    let request = CreateShare {
        image_ids: args.ids.clone(),
        album_id,
        expires_at: expires.flatten(),
        never_expires: matches!(expires, Some(None)),
        password,
        max_views: args.max_views,
        allow_download: args.no_download.then_some(false),
        with_metadata: args.with_metadata,
        label: args.label.clone(),
    };
    let share = client
        .create_share(&request)
        .await
        .context("cannot create the share link")?;
    if args.json {
        output::print_json(&share)?;
    } else {
        output::print_lines(&[&share.url])?;
        eprintln!("{}", describe(&share));
    }
    if args.copy {
        crate::clipboard::report(&crate::clipboard::copy(&share.url), 1);
    }
    Ok(ExitCode::SUCCESS)
}

/// One line about a new link's terms.
fn describe(share: &Share) -> String {
    let mut terms = vec![match share.expires_at {
        Some(at) => format!("expires {}", output::short_date(at)),
        None => "never expires".into(),
    }];
    if share.has_password {
        terms.push("password".into());
    }
    if let Some(max) = share.max_views {
        terms.push(format!("{max} views"));
    }
    if !share.allow_download {
        terms.push("no download".into());
    }
    if share.with_metadata {
        terms.push("with metadata".into());
    }
    format!(
        "share link {} ({}); `imgcloud share revoke {}` ends it",
        share.id,
        terms.join(", "),
        share.id
    )
}

async fn revoke(
    ctx: &Context,
    target: Option<&str>,
    label: Option<&str>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    let ids: Vec<String> = match (target, label) {
        (_, Some(label)) => {
            let shares = client
                .shares()
                .await
                .context("cannot list your share links")?;
            let ids: Vec<String> = shares
                .shares
                .into_iter()
                .filter(|s| s.label == label && s.state != ShareState::Revoked)
                .map(|s| s.id)
                .collect();
            if ids.is_empty() {
                return Err(UsageError(format!(
                    "no live share link is labelled {label:?}: `imgcloud shares` lists them"
                ))
                .into());
            }
            ids
        }
        (Some(target), None) => {
            let target = target.trim().trim_end_matches('/');
            let token = target.rsplit_once("/s/").map_or(target, |(_, t)| t);
            if token.len() == 16 {
                vec![token.to_string()]
            } else {
                let shares = client
                    .shares()
                    .await
                    .context("cannot list your share links")?;
                let found = shares
                    .shares
                    .into_iter()
                    .find(|s| s.url.ends_with(&format!("/s/{token}")));
                match found {
                    Some(share) => vec![share.id],
                    None => {
                        return Err(UsageError(format!(
                            "none of your share links is {target:?}: `imgcloud shares` lists them"
                        ))
                        .into());
                    }
                }
            }
        }
        (None, None) => {
            return Err(UsageError("name the link to revoke, or --label".into()).into());
        }
    };
    let mut revoked = Vec::new();
    for id in ids {
        match client.revoke_share(&id).await {
            Ok(share) => revoked.push(share),
            Err(ClientError::NotFound { .. }) => {
                return Err(UsageError(format!(
                    "you have no share link {id}: `imgcloud shares` lists them"
                ))
                .into());
            }
            Err(e) => return Err(anyhow::Error::new(e).context("cannot revoke the link")),
        }
    }
    if json {
        output::print_json(&revoked)?;
    }
    for share in &revoked {
        eprintln!("share link {} revoked: its page answers 410 now", share.id);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn list(ctx: &Context, args: &SharesArgs) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    let shares = client
        .shares()
        .await
        .context("cannot list your share links")?;
    if args.json {
        output::print_json(&shares.shares)?;
        return Ok(ExitCode::SUCCESS);
    }
    if shares.shares.is_empty() {
        eprintln!("no share links yet: `imgcloud share ID` makes one");
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", table(&shares.shares));
    Ok(ExitCode::SUCCESS)
}

/// The `imgcloud shares` table.
pub fn table(shares: &[Share]) -> String {
    let rows: Vec<Vec<String>> = shares
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.state.as_str().to_string(),
                match s.max_views {
                    Some(max) => format!("{}/{max}", s.views),
                    None => s.views.to_string(),
                },
                s.visitors.to_string(),
                s.last_viewed_at.map_or("-".into(), output::short_date),
                s.expires_at.map_or("never".into(), output::short_date),
                if s.label.is_empty() {
                    "-".into()
                } else {
                    s.label.clone()
                },
                s.url.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "STATE",
            "VIEWS",
            "VISITORS",
            "LAST VIEW",
            "EXPIRES",
            "LABEL",
            "URL",
        ],
        &rows,
    )
}

/// `imgcloud defaults [--visibility public|private] [--share-expiry-days N] [--json]`.
pub async fn defaults(ctx: &Context, args: &DefaultsArgs) -> anyhow::Result<ExitCode> {
    use imgcloud_core::api::{SettingsPatch, Visibility};
    let visibility = match args.visibility.as_deref() {
        None => None,
        Some(name) => Some(
            Visibility::parse(&name.to_ascii_lowercase()).ok_or_else(|| {
                UsageError(format!(
                    "--visibility must be public or private (got {name:?})"
                ))
            })?,
        ),
    };
    let client = ctx.client()?;
    let settings = if visibility.is_some() || args.share_expiry_days.is_some() {
        client
            .update_settings(&SettingsPatch {
                default_visibility: visibility,
                share_expiry_days: args.share_expiry_days,
            })
            .await
            .context("cannot change the defaults")?
    } else {
        client
            .me()
            .await
            .context("cannot read the defaults")?
            .settings
    };
    if args.json {
        output::print_json(&settings)?;
    } else {
        output::print_lines(&[
            format!("visibility of new uploads: {}", settings.default_visibility),
            format!(
                "share links expire after: {} days",
                settings.share_expiry_days
            ),
        ])?;
    }
    Ok(ExitCode::SUCCESS)
}
