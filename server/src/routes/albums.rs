//! The owner's albums: create, list, show (with images in order), rename/describe/cover,
//! delete (the images stay), add, remove, reorder. An image can be in many albums.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use imgcloud_core::api::{
    Album, AlbumDetail, AlbumImages, AlbumList, AlbumPatch, CreateAlbum, ErrorBody,
};

use crate::auth::Authenticated;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::keys::{self, is_plausible_id};
use crate::links;
use crate::state::AppState;
use crate::store::sharing::{AlbumRecord, AlbumUpdate};
use crate::store::{StoreError, now};

/// Longest album name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 5000;
/// Most images one add/remove/order request may name.
pub const MAX_IMAGES_PER_REQUEST: usize = 10_000;

pub fn view(record: AlbumRecord) -> Album {
    Album {
        id: record.id,
        name: record.name,
        description: record.description,
        cover_image_id: record.cover_image_id,
        image_count: record.image_count,
        created_at: record.created_at,
        updated_at: record.updated_at,
    }
}

fn name(field: &str, name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_request(field, "is empty"));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(
            field,
            format!("{chars} characters; at most {MAX_NAME_CHARS}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            field,
            "control characters are not allowed",
        ));
    }
    Ok(name.to_string())
}

fn description(text: &str) -> ApiResult<String> {
    let chars = text.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::bad_request(
            "description",
            format!("{chars} characters; at most {MAX_DESCRIPTION_CHARS}"),
        ));
    }
    Ok(text.trim().to_string())
}

fn image_ids(ids: &[String]) -> ApiResult<()> {
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "image_ids",
            "name at least one image",
        ));
    }
    if ids.len() > MAX_IMAGES_PER_REQUEST {
        return Err(ApiError::bad_request(
            "image_ids",
            format!("at most {MAX_IMAGES_PER_REQUEST} per request"),
        ));
    }
    if let Some(bad) = ids.iter().find(|id| !is_plausible_id(id)) {
        return Err(ApiError::bad_request(
            "image_ids",
            format!("{bad:?} is not an image id"),
        ));
    }
    Ok(())
}

fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("album"),
        StoreError::Conflict(_) => ApiError::conflict("you have an album of that name already"),
        other => other.into(),
    }
}

fn check_id(id: &str) -> ApiResult<()> {
    if is_plausible_id(id) {
        Ok(())
    } else {
        Err(ApiError::not_found("album"))
    }
}

/// `GET /v1/albums`
#[utoipa::path(
    get, path = "/v1/albums", tag = "albums",
    responses((status = 200, description = "Your albums, by name", body = AlbumList), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<AlbumList>> {
    let albums = state.store.sharing().albums(&user.id).await?;
    Ok(Json(AlbumList {
        albums: albums.into_iter().map(view).collect(),
    }))
}

/// `POST /v1/albums`
#[utoipa::path(
    post, path = "/v1/albums", tag = "albums",
    request_body = CreateAlbum,
    responses(
        (status = 200, body = Album), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "You have an album of that name", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(req): ApiJson<CreateAlbum>,
) -> ApiResult<Json<Album>> {
    let name = name("name", &req.name)?;
    let description = description(&req.description)?;
    let at = now();
    let record = AlbumRecord {
        id: keys::new_image_id(),
        owner_id: user.id.clone(),
        name,
        description,
        cover_image_id: None,
        created_at: at,
        updated_at: at,
        image_count: 0,
    };
    let album = state
        .store
        .sharing()
        .create_album(&record)
        .await
        .map_err(not_found)?;
    Ok(Json(view(album)))
}

/// `GET /v1/albums/{id}`
#[utoipa::path(
    get, path = "/v1/albums/{id}", tag = "albums",
    params(("id" = String, Path, description = "Album id")),
    responses((status = 200, body = AlbumDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AlbumDetail>> {
    check_id(&id)?;
    let sharing = state.store.sharing();
    let album = sharing.album(&user.id, &id).await.map_err(not_found)?;
    let images = sharing
        .album_images(&user.id, &id)
        .await
        .map_err(not_found)?;
    Ok(Json(AlbumDetail {
        album: view(album),
        images: images
            .into_iter()
            .map(|image| links::image(&state, image))
            .collect(),
    }))
}

/// `PATCH /v1/albums/{id}`
#[utoipa::path(
    patch, path = "/v1/albums/{id}", tag = "albums",
    params(("id" = String, Path, description = "Album id")),
    request_body = AlbumPatch,
    responses(
        (status = 200, body = Album), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn patch(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AlbumPatch>,
) -> ApiResult<Json<Album>> {
    check_id(&id)?;
    let update = AlbumUpdate {
        name: req.name.as_deref().map(|n| name("name", n)).transpose()?,
        description: req.description.as_deref().map(description).transpose()?,
        cover_image_id: match req.cover_image_id.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(cover) if is_plausible_id(cover) => Some(Some(cover.to_string())),
            Some(cover) => {
                return Err(ApiError::bad_request(
                    "cover_image_id",
                    format!("{cover:?} is not an image id"),
                ));
            }
        },
    };
    let sharing = state.store.sharing();
    if let Some(Some(cover)) = &update.cover_image_id {
        let images = sharing
            .album_images(&user.id, &id)
            .await
            .map_err(not_found)?;
        if !images.iter().any(|image| &image.id == cover) {
            return Err(ApiError::bad_request(
                "cover_image_id",
                "the cover must be one of the album's images",
            ));
        }
    }
    let album = sharing
        .update_album(&user.id, &id, &update)
        .await
        .map_err(not_found)?;
    Ok(Json(view(album)))
}

/// `DELETE /v1/albums/{id}`
#[utoipa::path(
    delete, path = "/v1/albums/{id}", tag = "albums",
    params(("id" = String, Path, description = "Album id")),
    responses(
        (status = 204, description = "Deleted; its images stay in the library, its share links end"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    check_id(&id)?;
    state
        .store
        .sharing()
        .delete_album(&user.id, &id)
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which change [`edit`] makes.
#[derive(Clone, Copy)]
enum Edit {
    Add,
    Remove,
    Order,
}

async fn edit(
    state: &AppState,
    owner: &str,
    id: &str,
    ids: &[String],
    edit: Edit,
) -> ApiResult<Json<Album>> {
    check_id(id)?;
    image_ids(ids)?;
    let sharing = state.store.sharing();
    let result = match edit {
        Edit::Add => sharing.add_to_album(owner, id, ids).await,
        Edit::Remove => sharing.remove_from_album(owner, id, ids).await,
        Edit::Order => sharing.reorder_album(owner, id, ids).await,
    };
    match result {
        Ok(()) => {}
        // The album exists (checked below) but an image is not the owner's (add) or not in
        // the album (order): name the field.
        Err(StoreError::NotFound) if sharing.album(owner, id).await.is_ok() => {
            return Err(ApiError::bad_request(
                "image_ids",
                match edit {
                    Edit::Order => "every image must be in the album",
                    _ => "one of the images is not in your library",
                },
            ));
        }
        Err(e) => return Err(not_found(e)),
    }
    Ok(Json(view(
        sharing.album(owner, id).await.map_err(not_found)?,
    )))
}

/// `POST /v1/albums/{id}/add`
#[utoipa::path(
    post, path = "/v1/albums/{id}/add", tag = "albums",
    params(("id" = String, Path, description = "Album id")),
    request_body = AlbumImages,
    responses(
        (status = 200, description = "Appended (images already in the album stay where they are)", body = Album),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn add(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AlbumImages>,
) -> ApiResult<Json<Album>> {
    edit(&state, &user.id, &id, &req.image_ids, Edit::Add).await
}

/// `POST /v1/albums/{id}/remove`
#[utoipa::path(
    post, path = "/v1/albums/{id}/remove", tag = "albums",
    params(("id" = String, Path, description = "Album id")),
    request_body = AlbumImages,
    responses(
        (status = 200, description = "Removed from the album (the images stay in the library)", body = Album),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AlbumImages>,
) -> ApiResult<Json<Album>> {
    edit(&state, &user.id, &id, &req.image_ids, Edit::Remove).await
}

/// `POST /v1/albums/{id}/order`
#[utoipa::path(
    post, path = "/v1/albums/{id}/order", tag = "albums",
    params(("id" = String, Path, description = "Album id")),
    request_body = AlbumImages,
    responses(
        (status = 200, description = "These images first, in this order; the others follow", body = Album),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn order(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AlbumImages>,
) -> ApiResult<Json<Album>> {
    edit(&state, &user.id, &id, &req.image_ids, Edit::Order).await
}
