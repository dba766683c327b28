//! `imgcloud album …`: albums by name (or id).

use std::process::ExitCode;

use anyhow::Context as _;
use imgcloud_core::api::{Album, AlbumPatch, CreateAlbum};

use crate::cli::AlbumAction;
use crate::commands::share::album_id;
use crate::context::Context;
use crate::output;

fn table(albums: &[Album]) -> String {
    let rows: Vec<Vec<String>> = albums
        .iter()
        .map(|a| {
            vec![
                a.id.clone(),
                a.name.clone(),
                a.image_count.to_string(),
                output::short_date(a.updated_at),
                a.description.lines().next().unwrap_or("").to_string(),
            ]
        })
        .collect();
    output::table(&["ID", "NAME", "IMAGES", "UPDATED", "DESCRIPTION"], &rows)
}

pub async fn run(ctx: &Context, action: &AlbumAction) -> anyhow::Result<ExitCode> {
    let client = ctx.client()?;
    match action {
        AlbumAction::Ls { json } => {
            let albums = client.albums().await.context("cannot list your albums")?;
            if *json {
                output::print_json(&albums.albums)?;
            } else if albums.albums.is_empty() {
                eprintln!("no albums yet: `imgcloud album create NAME` makes one");
            } else {
                print!("{}", table(&albums.albums));
            }
        }
        AlbumAction::Create {
            name,
            description,
            json,
        } => {
            let album = client
                .create_album(&CreateAlbum {
                    name: name.clone(),
                    description: description.clone().unwrap_or_default(),
                })
                .await
                .with_context(|| format!("cannot create the album {name:?}"))?;
            if *json {
                output::print_json(&album)?;
            } else {
                eprintln!(
                    "album {:?} created ({}); `imgcloud album add {:?} ID…` fills it",
                    album.name, album.id, album.name
                );
            }
        }
        AlbumAction::Show { album, json } => {
            let id = album_id(&client, album).await?;
            let detail = client.album(&id).await.context("cannot read the album")?;
            if *json {
                output::print_json(&detail)?;
            } else {
                eprintln!(
                    "{} — {} images",
                    output::sanitize_for_terminal(&detail.album.name),
                    detail.album.image_count
                );
                if !detail.images.is_empty() {
                    print!("{}", output::image_table(&detail.images));
                }
            }
        }
        AlbumAction::Rename { album, new_name } => {
            patch(
                &client,
                album,
                AlbumPatch {
                    name: Some(new_name.clone()),
                    ..AlbumPatch::default()
                },
            )
            .await?;
        }
        AlbumAction::Describe { album, text } => {
            patch(
                &client,
                album,
                AlbumPatch {
                    description: Some(text.clone()),
                    ..AlbumPatch::default()
                },
            )
            .await?;
        }
        AlbumAction::Cover { album, image } => {
            patch(
                &client,
                album,
                AlbumPatch {
                    cover_image_id: Some(image.clone()),
                    ..AlbumPatch::default()
                },
            )
            .await?;
        }
        AlbumAction::Add { album, ids } => edit(&client, album, "add", ids).await?,
        AlbumAction::Remove { album, ids } => edit(&client, album, "remove", ids).await?,
        AlbumAction::Order { album, ids } => edit(&client, album, "order", ids).await?,
        AlbumAction::Rm { album } => {
            let id = album_id(&client, album).await?;
            client
                .delete_album(&id)
                .await
                .context("cannot delete the album")?;
            eprintln!("album {album:?} deleted (its images stay in your library)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn patch(
    client: &imgcloud_core::client::Client,
    album: &str,
    patch: AlbumPatch,
) -> anyhow::Result<()> {
    let id = album_id(client, album).await?;
    let album = client
        .patch_album(&id, &patch)
        .await
        .context("cannot change the album")?;
    eprintln!("album {:?} updated", album.name);
    Ok(())
}

async fn edit(
    client: &imgcloud_core::client::Client,
    album: &str,
    edit: &str,
    ids: &[String],
) -> anyhow::Result<()> {
    let id = album_id(client, album).await?;
    let album = client
        .edit_album(&id, edit, ids)
        .await
        .with_context(|| format!("cannot {edit} images of the album"))?;
    eprintln!(
        "album {:?}: {} images",
        output::sanitize_for_terminal(&album.name),
        album.image_count
    );
    Ok(())
}
