//! The change feed the clients' local catalogs follow.

use axum::Json;
use axum::extract::State;
use imgcloud_core::api::{Change, ChangeKind, ChangePage, ErrorBody};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ApiQuery, ApiResult};
use crate::links;
use crate::state::AppState;

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
    let changes = records
        .into_iter()
        .map(|c| Change {
            seq: c.seq,
            kind: if c.image.is_some() {
                ChangeKind::Upsert
            } else {
                ChangeKind::Purge
            },
            image_id: c.image_id,
            image: c.image.map(|r| links::image(&state, r)),
        })
        .collect();
    Ok(Json(ChangePage {
        changes,
        next_since,
        has_more,
    }))
}
