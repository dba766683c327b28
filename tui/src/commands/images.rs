//! `imgcloud ls`, `link`, `rm`, `restore` and `visibility`: library management by image id.

use std::process::ExitCode;

use anyhow::Context as _;
use imgcloud_core::api::{Image, ImagePatch, Visibility};
use imgcloud_core::client::{Client, ListParams};
use imgcloud_core::links::format_link;

use crate::cli::{IdsArgs, LinkArgs, LsArgs, VisibilityArgs};
use crate::context::Context;
use crate::output;

/// Largest page asked of the server.
const PAGE: u32 = 200;

pub async fn ls(ctx: &Context, args: &LsArgs) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    let images = list(&client, args).await?;
    if args.json {
        output::print_json(&images)?;
    } else if images.is_empty() {
        eprintln!(
            "{}",
            if args.trash {
                "the trash is empty"
            } else {
                "no images"
            }
        );
    } else {
        output::print_lines(&[output::image_table(&images).trim_end()])?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Follows the cursor until the library (or `--limit`) is exhausted.
async fn list(client: &Client, args: &LsArgs) -> anyhow::Result<Vec<Image>> {
    let mut images = Vec::new();
    let mut cursor = None;
    loop {
        let remaining = args
            .limit
            .map(|limit| limit.saturating_sub(images.len() as u32));
        if remaining == Some(0) {
            break;
        }
        let params = ListParams {
            cursor: cursor.take(),
            limit: Some(remaining.unwrap_or(PAGE).min(PAGE)),
            q: args.search.clone(),
            trash: args.trash,
        };
        let page = client
            .list_images(&params)
            .await
            .context("cannot list images")?;
        images.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    if let Some(limit) = args.limit {
        images.truncate(limit as usize);
    }
    Ok(images)
}

pub async fn link(ctx: &Context, args: &LinkArgs) -> anyhow::Result<ExitCode> {
    let format = ctx.link_format(args.format.format.as_deref())?;
    let client = ctx.client()?;
    let mut links = Vec::new();
    let mut failed = false;
    for id in &args.ids {
        match client.image(id).await {
            Ok(image) => links.push(format_link(&image, &format)),
            Err(e) => {
                output::error(format_args!("{id}: {e}"));
                failed = true;
            }
        }
    }
    output::print_lines(&links)?;
    if args.copy && !links.is_empty() {
        crate::clipboard::report(&crate::clipboard::copy(&links.join("\n")), links.len());
    }
    Ok(exit(failed))
}

/// Which state change `rm`/`restore` applies.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    Trash,
    Restore,
}

pub async fn change(ctx: &Context, args: &IdsArgs, change: Change) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    let mut changed = Vec::new();
    let mut failed = false;
    for id in &args.ids {
        let result = match change {
            Change::Trash => client.trash(id).await,
            Change::Restore => client.restore(id).await,
        };
        match result {
            Ok(image) => changed.push(image),
            Err(e) => {
                output::error(format_args!("{id}: {e}"));
                failed = true;
            }
        }
    }
    if args.json {
        output::print_json(&changed)?;
    }
    if !changed.is_empty() {
        let n = changed.len();
        let images = if n == 1 {
            "image".to_string()
        } else {
            format!("{n} images")
        };
        match change {
            Change::Trash => {
                eprintln!("moved {images} to the trash (undo with `imgcloud restore ID`)")
            }
            Change::Restore => eprintln!("restored {images} from the trash"),
        }
    }
    Ok(exit(failed))
}

pub async fn visibility(ctx: &Context, args: &VisibilityArgs) -> anyhow::Result<ExitCode> {
    let (last, ids) = args
        .words
        .split_last()
        .context("name image ids, then public or private")?;
    let Some(visibility) = Visibility::parse(&last.to_ascii_lowercase()) else {
        anyhow::bail!(
            "the last argument must be `public` or `private` (got {last:?}): \
             imgcloud visibility ID… public|private"
        );
    };
    let client = ctx.client()?;
    let patch = ImagePatch {
        visibility: Some(visibility),
        ..ImagePatch::default()
    };
    let mut changed = Vec::new();
    let mut failed = false;
    for id in ids {
        match client.patch_image(id, &patch).await {
            Ok(image) => changed.push(image),
            Err(e) => {
                output::error(format_args!("{id}: {e}"));
                failed = true;
            }
        }
    }
    if args.json {
        output::print_json(&changed)?;
    } else if !changed.is_empty() {
        let n = changed.len();
        let images = if n == 1 {
            "1 image is".to_string()
        } else {
            format!("{n} images are")
        };
        match visibility {
            Visibility::Public => eprintln!("{images} public: `imgcloud link ID` prints the link"),
            Visibility::Private => eprintln!(
                "{images} private: their public links stop serving within a minute \
                 (share them with `imgcloud share ID`)"
            ),
        }
    }
    Ok(exit(failed))
}

fn exit(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(crate::exit::PARTIAL_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}
