//! The library: list, get, rename/tag/visibility, trash, restore, purge.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use imgcloud_core::api::{ErrorBody, Image, ImagePage, ImagePatch};
use serde::Deserialize;

use crate::auth::Authenticated;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::keys::{self, is_plausible_id};
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
    Json(links::image(state, record))
}

/// Moves the image's objects where its new state says (its public link stops or comes back).
/// The change is recorded already: when the object store fails, the janitor finishes the move,
/// and the answer says so.
async fn settle(state: &AppState, owner: &str, image: ImageRecord) -> ApiResult<ImageRecord> {
    if !image.misplaced() {
        return Ok(image);
    }
    match state.placement.settle(owner, &image.id).await {
        Ok(settled) => Ok(settled),
        Err(crate::placement::SettleError::Store(StoreError::NotFound)) => {
            Err(ApiError::not_found("image"))
        }
        Err(e) => {
            tracing::warn!(image_id = %image.id, error = %e, "moving image objects failed; the janitor retries");
            Err(ApiError::upstream(format!(
                "the change is saved, but the object store could not move the image's files \
                 yet ({e}); the server retries on its own"
            )))
        }
    }
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
    Ok(Json(ImagePage {
        items: items.into_iter().map(|r| links::image(&state, r)).collect(),
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
    if let Some(visibility) = patch.visibility
        && visibility != image.visibility
    {
        image = state
            .store
            .set_visibility(&user.id, &id, visibility)
            .await
            .map_err(map_not_found)?;
        tracing::info!(image_id = %id, %visibility, "visibility changed");
        image = settle(&state, &user.id, image).await?;
    }
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
    let image = state
        .store
        .set_deleted(&user.id, &id, Some(now()))
        .await
        .map_err(map_not_found)?;
    Ok(view(&state, settle(&state, &user.id, image).await?))
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
    let image = state
        .store
        .set_deleted(&user.id, &id, None)
        .await
        .map_err(map_not_found)?;
    Ok(view(&state, settle(&state, &user.id, image).await?))
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
    // Objects first (wherever they are): if the store fails, the row stays and the purge can
    // be retried.
    for key in crate::placement::object_keys(&image) {
        for public in [true, false] {
            state.objects.delete(&keys::placed(&key, public)).await?;
        }
    }
    match state.store.purge_image(&user.id, &id).await {
        Ok(_) | Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    if image.objects_public {
        state.placement.purge_cdn(&image).await;
    }
    tracing::info!(image_id = %id, "image purged");
    Ok(StatusCode::NO_CONTENT)
}
