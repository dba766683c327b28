//! Visibility and share links: thin adapters over the API client (`PATCH /v1/images/{id}`,
//! `/v1/shares`), with the same terms as `imgcloud share` (`imgcloud_core::share_terms`).

use imgcloud_core::api::{Album, CreateShare, Image, ImagePatch, Share, Visibility};
use serde::Deserialize;
use tauri::State;

use crate::connection::Connection;
use crate::error::{CommandError, ErrorCode};

/// The share dialog's fields, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareOptions {
    /// `12h`, `7d`, `2w`, `2027-01-31`, an RFC 3339 time, `never`; empty: the account's
    /// default (30 days).
    #[serde(default)]
    pub expires: String,
    /// Empty: none.
    #[serde(default)]
    pub password: String,
    pub max_views: Option<i64>,
    #[serde(default)]
    pub no_download: bool,
    #[serde(default)]
    pub with_metadata: bool,
    #[serde(default)]
    pub label: String,
}

/// The request for `options` sharing `image_ids`; a wrong expiry names the field.
pub fn share_request(
    image_ids: Vec<String>,
    options: ShareOptions,
    now: time::OffsetDateTime,
) -> Result<CreateShare, CommandError> {
    let expires = match options.expires.trim() {
        "" => None,
        spec => Some(
            imgcloud_core::share_terms::parse_expiry(spec, now)
                .map_err(|e| CommandError::new(ErrorCode::Invalid, format!("expires: {e}")))?,
        ),
    };
    let label = options.label.trim().to_string();
    Ok(CreateShare {
        image_ids,
        album_id: None,
        expires_at: expires.flatten(),
        never_expires: matches!(expires, Some(None)),
        password: (!options.password.is_empty()).then_some(options.password),
        max_views: options.max_views,
        allow_download: options.no_download.then_some(false),
        with_metadata: options.with_metadata,
        label: (!label.is_empty()).then_some(label),
    })
}

#[tauri::command]
pub async fn set_visibility(
    connection: State<'_, Connection>,
    id: String,
    visibility: Visibility,
) -> Result<Image, CommandError> {
    let patch = ImagePatch {
        visibility: Some(visibility),
        ..ImagePatch::default()
    };
    connection
        .call("set_visibility", |c| async move {
            c.patch_image(&id, &patch).await
        })
        .await
}

#[tauri::command]
pub async fn create_share(
    connection: State<'_, Connection>,
    image_ids: Vec<String>,
    album_id: Option<String>,
    options: ShareOptions,
) -> Result<Share, CommandError> {
    let mut request = share_request(image_ids, options, time::OffsetDateTime::now_utc())?;
    request.album_id = album_id;
    connection
        .call(
            "create_share",
            |c| async move { c.create_share(&request).await },
        )
        .await
}

#[tauri::command]
pub async fn list_shares(connection: State<'_, Connection>) -> Result<Vec<Share>, CommandError> {
    connection
        .call("list_shares", |c| async move {
            c.shares().await.map(|list| list.shares)
        })
        .await
}

#[tauri::command]
pub async fn revoke_share(
    connection: State<'_, Connection>,
    id: String,
) -> Result<Share, CommandError> {
    connection
        .call("revoke_share", |c| async move { c.revoke_share(&id).await })
        .await
}

#[tauri::command]
pub async fn list_albums(connection: State<'_, Connection>) -> Result<Vec<Album>, CommandError> {
    connection
        .call("list_albums", |c| async move {
            c.albums().await.map(|list| list.albums)
        })
        .await
}

/// The images of album `id`, in its order.
#[tauri::command]
pub async fn album_images(
    connection: State<'_, Connection>,
    id: String,
) -> Result<Vec<Image>, CommandError> {
    connection
        .call("album_images", |c| async move {
            c.album(&id).await.map(|detail| detail.images)
        })
        .await
}

/// Adds images to the album named `name`, creating it when there is none.
#[tauri::command]
pub async fn add_to_album(
    connection: State<'_, Connection>,
    name: String,
    image_ids: Vec<String>,
) -> Result<Album, CommandError> {
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(CommandError::new(
            ErrorCode::Invalid,
            "the album name is empty: type one, such as Trip",
        ));
    }
    connection
        .call("add_to_album", |c| async move {
            let id = c.ensure_album(&name).await?.id;
            c.edit_album(&id, "add", &image_ids).await
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dialog_fields_become_a_request() {
        let now = datetime!(2026-12-03 12:00 UTC);
        let request = share_request(
            vec!["a".into()],
            ShareOptions {
                expires: "7d".into(),
                password: "correct horse".into(),
                max_views: Some(3),
                no_download: true,
                with_metadata: false,
                label: "  for Alice ".into(),
            },
            now,
        )
        .unwrap();
        assert_eq!(request.expires_at, Some(datetime!(2026-12-10 12:00 UTC)));
        assert_eq!(request.password.as_deref(), Some("correct horse"));
        assert_eq!(
            (
                request.max_views,
                request.allow_download,
                request.label.as_deref()
            ),
            (Some(3), Some(false), Some("for Alice"))
        );
        let never = share_request(
            vec!["a".into()],
            ShareOptions {
                expires: "never".into(),
                ..ShareOptions::default()
            },
            now,
        )
        .unwrap();
        assert!(never.never_expires && never.expires_at.is_none() && never.password.is_none());
        let default = share_request(vec!["a".into()], ShareOptions::default(), now).unwrap();
        assert!(!default.never_expires && default.expires_at.is_none());
        let err = share_request(
            vec!["a".into()],
            ShareOptions {
                expires: "soon".into(),
                ..ShareOptions::default()
            },
            now,
        )
        .unwrap_err();
        assert!(err.message.contains("expires"), "{}", err.message);
    }
}
