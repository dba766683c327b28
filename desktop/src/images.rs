//! One image at a time: details, rename, tags, trash/restore, and its link in any format.
//!
//! Thin adapters over the API client (`GET/PATCH /v1/images/{id}`, trash, restore) and
//! `imgcloud_core::links`.

use imgcloud_core::api::{Image, ImagePatch};
use imgcloud_core::client::{Client, ClientError};
use imgcloud_core::links::{LinkFormat, format_link};
use tauri::State;

use crate::connection::Connection;
use crate::error::{CommandError, ErrorCode};

/// The format named by the UI (`url`, `markdown`, `html`, `bbcode`, `custom` with `template`),
/// or the configured default when `format` is absent.
pub fn link_format(
    connection: &Connection,
    format: Option<&str>,
    template: Option<&str>,
) -> Result<LinkFormat, CommandError> {
    match format.map(str::trim).filter(|f| !f.is_empty()) {
        None => connection.link_format(),
        Some(format) => LinkFormat::from_config(format, template)
            .map_err(|e| CommandError::new(ErrorCode::Invalid, e.to_string())),
    }
}

/// Tags as the user typed them: trimmed, blanks dropped, duplicates removed (first kept).
pub fn clean_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_string();
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

#[tauri::command]
pub async fn get_image(
    connection: State<'_, Connection>,
    id: String,
) -> Result<Image, CommandError> {
    connection
        .call("get_image", |c| async move { c.image(&id).await })
        .await
}

#[tauri::command]
pub async fn rename_image(
    connection: State<'_, Connection>,
    id: String,
    filename: String,
) -> Result<Image, CommandError> {
    let filename = filename.trim().to_string();
    if filename.is_empty() {
        return Err(CommandError::new(
            ErrorCode::Invalid,
            "the new name is empty: type a filename such as photo.jpg",
        ));
    }
    let patch = ImagePatch {
        filename: Some(filename),
        ..ImagePatch::default()
    };
    connection
        .call("rename_image", |c| async move {
            c.patch_image(&id, &patch).await
        })
        .await
}

#[tauri::command]
pub async fn set_tags(
    connection: State<'_, Connection>,
    id: String,
    tags: Vec<String>,
) -> Result<Image, CommandError> {
    let patch = ImagePatch {
        tags: Some(clean_tags(tags)),
        ..ImagePatch::default()
    };
    connection
        .call(
            "set_tags",
            |c| async move { c.patch_image(&id, &patch).await },
        )
        .await
}

/// Moves images to the trash, in order; stops at the first failure (those before it stay in
/// the trash; the UI reloads).
#[tauri::command]
pub async fn trash_images(
    connection: State<'_, Connection>,
    ids: Vec<String>,
) -> Result<Vec<Image>, CommandError> {
    for_each(&connection, ids, "trash_image", |c, id| async move {
        c.trash(&id).await
    })
    .await
}

/// Brings images back from the trash (also the "undo" of a delete).
#[tauri::command]
pub async fn restore_images(
    connection: State<'_, Connection>,
    ids: Vec<String>,
) -> Result<Vec<Image>, CommandError> {
    for_each(&connection, ids, "restore_image", |c, id| async move {
        c.restore(&id).await
    })
    .await
}

/// Runs `op` on each of `ids` in order through the connection; stops at the first failure.
async fn for_each<F, Fut>(
    connection: &Connection,
    ids: Vec<String>,
    what: &str,
    op: F,
) -> Result<Vec<Image>, CommandError>
where
    F: Fn(Client, String) -> Fut,
    Fut: std::future::Future<Output = Result<Image, ClientError>>,
{
    let mut done = Vec::with_capacity(ids.len());
    for id in ids {
        done.push(connection.call(what, |c| op(c, id)).await?);
    }
    Ok(done)
}

/// The links of `ids` in `format` (default: the configured one), in the order of `ids`,
/// joined by newlines by the caller for a batch copy.
#[tauri::command]
pub async fn image_links(
    connection: State<'_, Connection>,
    ids: Vec<String>,
    format: Option<String>,
    template: Option<String>,
) -> Result<Vec<String>, CommandError> {
    let format = link_format(&connection, format.as_deref(), template.as_deref())?;
    let mut links = Vec::with_capacity(ids.len());
    for id in ids {
        let image = connection
            .call("image_links", |c| async move { c.image(&id).await })
            .await?;
        links.push(format_link(&image, &format));
    }
    Ok(links)
}

/// Renders the link of an image the UI already has (no round trip).
#[tauri::command]
pub fn format_image_link(
    connection: State<'_, Connection>,
    image: Image,
    format: Option<String>,
    template: Option<String>,
) -> Result<String, CommandError> {
    let format = link_format(&connection, format.as_deref(), template.as_deref())?;
    Ok(format_link(&image, &format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_tags_trims_drops_blanks_and_duplicates() {
        let tags = vec![
            " cat ".into(),
            "".into(),
            "dog".into(),
            "cat".into(),
            "  ".into(),
        ];
        assert_eq!(clean_tags(tags), vec!["cat".to_string(), "dog".to_string()]);
    }
}
