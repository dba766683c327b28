//! The library: list, get, rename/tag, trash, restore, purge.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use imgcloud_core::api::{self, ErrorBody, Image, ImagePage, ImagePatch};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::keys::is_plausible_id;
use crate::state::AppState;
use crate::store::{ImageRecord, ListQuery, StoreError, now};
use crate::{limits, links};

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

/// Query of `GET /v1/images`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// Case-insensitive substring of the filename.
    pub q: Option<String>,
    /// `true` lists the trash.
    #[serde(default)]
    pub trash: bool,
}

fn map_not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("image"),
        other => other.into(),
    }
}

async fn load(state: &AppState, owner: &str, id: &str) -> ApiResult<ImageRecord> {
    if !is_plausible_id(id) {
        return Err(ApiError::not_found("image"));
    }
    state.store.image(owner, id).await.map_err(map_not_found)
}

fn view(state: &AppState, record: ImageRecord) -> Json<Image> {
    Json(links::image(&state.config.cdn, record))
}

/// `GET /v1/images`
#[utoipa::path(
    get, path = "/v1/images", tag = "images",
    params(ListParams),
    responses(
        (status = 200, description = "One page, newest first", body = ImagePage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ImagePage>> {
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 {
        return Err(ApiError::bad_request("limit", "must be at least 1"));
    }
    let search = params
        .q
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty());
    if search.as_ref().is_some_and(|q| q.len() > 1024) {
        return Err(ApiError::bad_request("q", "longer than 1024 bytes"));
    }
    let query = ListQuery {
        cursor: params.cursor,
        limit: limit.min(MAX_PAGE),
        search,
        trash: params.trash,
    };
    let (items, next_cursor) = state.store.list_images(&user.id, &query).await?;
    let cdn = &state.config.cdn;
    Ok(Json(ImagePage {
        items: items.into_iter().map(|r| links::image(cdn, r)).collect(),
        next_cursor,
    }))
}

/// `GET /v1/images/{id}`
#[utoipa::path(
    get, path = "/v1/images/{id}", tag = "images",
    params(("id" = String, Path, description = "Image id")),
    responses((status = 200, body = Image), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Image>> {
    Ok(view(&state, load(&state, &user.id, &id).await?))
}

/// `PATCH /v1/images/{id}`
#[utoipa::path(
    patch, path = "/v1/images/{id}", tag = "images",
    params(("id" = String, Path, description = "Image id")),
    request_body = ImagePatch,
    responses(
        (status = 200, body = Image), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn patch(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<ImagePatch>,
) -> ApiResult<Json<Image>> {
    // Validate everything before changing anything.
    let filename = patch
        .filename
        .as_deref()
        .map(|f| limits::filename("filename", f, &state.config.limits))
        .transpose()?;
    let tags = patch.tags.as_deref().map(limits::tags).transpose()?;
    let mut image = load(&state, &user.id, &id).await?;
    if let Some(filename) = filename
        && filename != image.filename
    {
        image = state
            .store
            .rename_image(&user.id, &id, &filename)
            .await
            .map_err(map_not_found)?;
    }
    if let Some(tags) = tags
        && tags != image.tags
    {
        image = state
            .store
            .set_tags(&user.id, &id, &tags)
            .await
            .map_err(map_not_found)?;
    }
    Ok(view(&state, image))
}

/// `DELETE /v1/images/{id}`
#[utoipa::path(
    delete, path = "/v1/images/{id}", tag = "images",
    params(("id" = String, Path, description = "Image id")),
    responses(
        (status = 200, description = "Moved to the trash", body = Image),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn trash(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Image>> {
    let image = load(&state, &user.id, &id).await?;
    if image.deleted_at.is_some() {
        return Ok(view(&state, image));
    }
    Ok(view(
        &state,
        state
            .store
            .set_deleted(&user.id, &id, Some(now()))
            .await
            .map_err(map_not_found)?,
    ))
}

/// `POST /v1/images/{id}/restore`
#[utoipa::path(
    post, path = "/v1/images/{id}/restore", tag = "images",
    params(("id" = String, Path, description = "Image id")),
    responses(
        (status = 200, description = "Out of the trash", body = Image),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn restore(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Image>> {
    let image = load(&state, &user.id, &id).await?;
    if image.deleted_at.is_none() {
        return Ok(view(&state, image));
    }
    Ok(view(
        &state,
        state
            .store
            .set_deleted(&user.id, &id, None)
            .await
            .map_err(map_not_found)?,
    ))
}

/// `DELETE /v1/images/{id}/purge`
#[utoipa::path(
    delete, path = "/v1/images/{id}/purge", tag = "images",
    params(("id" = String, Path, description = "Image id")),
    responses(
        (status = 204, description = "Objects and record deleted for good"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 502, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn purge(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let image = load(&state, &user.id, &id).await?;
    // Objects first: if the store fails, the row stays and the purge can be retried.
    state.objects.delete(&image.key).await?;
    for preset in api::PRESETS {
        state
            .objects
            .delete(&crate::derivatives::key(&image.id, preset))
            .await?;
    }
    match state.store.purge_image(&user.id, &id).await {
        Ok(_) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    tracing::info!(image_id = %id, "image purged");
    Ok(StatusCode::NO_CONTENT)
}
