//! The change feed the clients' local catalogs follow.

use axum::Json;
use axum::extract::State;
use imgcloud_core::api::{self, Change, ChangeKind, ChangePage, ErrorBody};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ApiQuery, ApiResult};
use crate::links;
use crate::routes::{albums, shares};
use crate::state::AppState;
use crate::store::{ChangeEntity, ChangeRecord, StoreError};

pub const DEFAULT_CHANGES: u32 = 500;
pub const MAX_CHANGES: u32 = 1000;

/// Query of `GET /v1/changes`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeParams {
    /// Last `seq` seen (0 or absent: from the beginning).
    pub since: Option<i64>,
    /// Most changes returned, 1 to 1000 (default 500).
    pub limit: Option<u32>,
}

/// `GET /v1/changes`
#[utoipa::path(
    get, path = "/v1/changes", tag = "changes",
    params(ChangeParams),
    responses(
        (status = 200, description = "Changes after `since`, oldest first", body = ChangePage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiQuery(params): ApiQuery<ChangeParams>,
) -> ApiResult<Json<ChangePage>> {
    let since = params.since.unwrap_or(0).max(0);
    let limit = params
        .limit
        .unwrap_or(DEFAULT_CHANGES)
        .clamp(1, MAX_CHANGES);
    let mut records = state.store.changes(&user.id, since, limit + 1).await?;
    let has_more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let next_since = records.last().map_or(since, |c| c.seq);
    let mut changes = Vec::with_capacity(records.len());
    for record in records {
        changes.push(change(&state, &user.id, record).await?);
    }
    Ok(Json(ChangePage {
        changes,
        next_since,
        has_more,
    }))
}

/// `Ok(None)` for a missing row: the entity is gone.
fn gone<T>(e: StoreError) -> Result<Option<T>, StoreError> {
    match e {
        StoreError::NotFound => Ok(None),
        other => Err(other),
    }
}

/// One feed entry: an image as recorded, or an album or link as it is now (gone: a purge).
async fn change(state: &AppState, owner: &str, record: ChangeRecord) -> ApiResult<Change> {
    let mut change = Change {
        seq: record.seq,
        kind: ChangeKind::Purge,
        entity: api::ChangeEntity::Image,
        image_id: record.image_id,
        image: None,
        album: None,
        album_image_ids: None,
        share: None,
    };
    let sharing = state.store.sharing();
    match record.entity {
        ChangeEntity::Image => {
            change.image = record.image.map(|r| links::image(state, r));
        }
        ChangeEntity::Album => {
            change.entity = api::ChangeEntity::Album;
            if let Some(album) = sharing
                .album(owner, &change.image_id)
                .await
                .map(Some)
                .or_else(gone)?
            {
                // Deleted between the two reads: a purge, like a missing album.
                if let Some(images) = sharing
                    .album_images(owner, &change.image_id)
                    .await
                    .map(Some)
                    .or_else(gone)?
                {
                    change.album = Some(albums::view(album));
                    change.album_image_ids = Some(images.into_iter().map(|i| i.id).collect());
                }
            }
        }
        ChangeEntity::Share => {
            change.entity = api::ChangeEntity::Share;
            change.share = sharing
                .share(owner, &change.image_id)
                .await
                .map(Some)
                .or_else(gone)?
                .map(|share| shares::view(state, share));
        }
    }
    if change.image.is_some() || change.album.is_some() || change.share.is_some() {
        change.kind = ChangeKind::Upsert;
    }
    Ok(change)
}
