//! The owner's share links: create, list (with their counts), revoke.

use axum::Json;
use axum::extract::State;
use imgcloud_core::api::{CreateShare, ErrorBody, Share, ShareList, ShareState};
use time::Duration;

use crate::auth::Authenticated;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::keys::{self, is_plausible_id};
use crate::state::AppState;
use crate::store::sharing::{self, ShareRecord};
use crate::store::{StoreError, now};
use crate::{passwords, store};

/// Most images one link may show.
pub const MAX_IMAGES: usize = 1000;
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Most views a link may allow.
pub const MAX_VIEWS: i64 = 1_000_000_000;

/// The owner's view of a stored link.
pub fn view(state: &AppState, record: ShareRecord) -> Share {
    let url = state
        .share_keys
        .token_of(&record)
        .map(|token| format!("{}/s/{token}", state.config.public_base()))
        .unwrap_or_default();
    Share {
        state: api_state(record.state(now())),
        url,
        has_password: record.password_hash.is_some(),
        id: record.id,
        label: record.label,
        album_id: record.album_id,
        image_ids: record.image_ids,
        created_at: record.created_at,
        expires_at: record.expires_at,
        max_views: record.max_views,
        views: record.views,
        visitors: record.visitors,
        last_viewed_at: record.last_viewed_at,
        allow_download: record.allow_download,
        with_metadata: record.with_metadata,
        revoked_at: record.revoked_at,
    }
}

pub fn api_state(state: sharing::ShareState) -> ShareState {
    match state {
        sharing::ShareState::Active => ShareState::Active,
        sharing::ShareState::Expired => ShareState::Expired,
        sharing::ShareState::Exhausted => ShareState::Exhausted,
        sharing::ShareState::Revoked => ShareState::Revoked,
    }
}

/// Checks a request's fields, cheapest first, before anything is read or hashed.
fn validate(req: &CreateShare) -> ApiResult<()> {
    match (req.image_ids.is_empty(), &req.album_id) {
        (true, None) => {
            return Err(ApiError::bad_request(
                "image_ids",
                "name the images to share (or an album_id)",
            ));
        }
        (false, Some(_)) => {
            return Err(ApiError::bad_request(
                "album_id",
                "a link shares either images or an album, not both",
            ));
        }
        _ => {}
    }
    if req.image_ids.len() > MAX_IMAGES {
        return Err(ApiError::bad_request(
            "image_ids",
            format!("at most {MAX_IMAGES} images per link; share an album instead"),
        ));
    }
    if let Some(label) = &req.label {
        let chars = label.chars().count();
        if chars > MAX_LABEL_CHARS {
            return Err(ApiError::bad_request(
                "label",
                format!("{chars} characters; at most {MAX_LABEL_CHARS}"),
            ));
        }
        if label.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "label",
                "control characters are not allowed",
            ));
        }
    }
    if let Some(max) = req.max_views
        && !(1..=MAX_VIEWS).contains(&max)
    {
        return Err(ApiError::bad_request(
            "max_views",
            format!("{max}: must be between 1 and {MAX_VIEWS}"),
        ));
    }
    if req.never_expires && req.expires_at.is_some() {
        return Err(ApiError::bad_request(
            "expires_at",
            "give an expiry or never_expires, not both",
        ));
    }
    if let Some(at) = req.expires_at
        && at <= now()
    {
        return Err(ApiError::bad_request(
            "expires_at",
            format!("{at} is in the past: give a future time (or never_expires)"),
        ));
    }
    if let Some(password) = &req.password {
        passwords::validate(password).map_err(|e| ApiError::bad_request("password", e))?;
    }
    Ok(())
}

/// `POST /v1/shares`
#[utoipa::path(
    post, path = "/v1/shares", tag = "shares",
    request_body = CreateShare,
    responses(
        (status = 200, description = "The new link (its url is the one to send)", body = Share),
        (status = 400, description = "A field is wrong or names an unknown image or album", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(req): ApiJson<CreateShare>,
) -> ApiResult<Json<Share>> {
    validate(&req)?;
    if let Some(bad) = req.image_ids.iter().find(|id| !is_plausible_id(id)) {
        return Err(ApiError::bad_request(
            "image_ids",
            format!("{bad:?} is not an image id"),
        ));
    }
    if let Some(album) = &req.album_id
        && !is_plausible_id(album)
    {
        return Err(ApiError::bad_request(
            "album_id",
            format!("no album {album:?}"),
        ));
    }
    let created_at = now();
    let expires_at = if req.never_expires {
        None
    } else {
        match req.expires_at {
            Some(at) => Some(store::from_micros(store::to_micros(at))),
            None => {
                let days = state
                    .store
                    .account_settings(&user.id)
                    .await?
                    .share_expiry_days;
                Some(created_at + Duration::days(i64::from(days.max(1))))
            }
        }
    };
    let password_hash = match &req.password {
        Some(password) => Some(
            passwords::hash(password)
                .await
                .map_err(|e| ApiError::bad_request("password", e))?,
        ),
        None => None,
    };
    let id = keys::new_image_id();
    let nonce = keys::new_upload_id();
    let token = state.share_keys.token(&id, &nonce);
    let record = ShareRecord {
        token_hash: keys::token_hash(&token),
        id,
        nonce,
        owner_id: user.id.clone(),
        album_id: req.album_id.clone(),
        image_ids: req.image_ids.clone(),
        label: req.label.clone().unwrap_or_default().trim().to_string(),
        created_at,
        expires_at,
        password_hash,
        max_views: req.max_views.map(|n| n as u64),
        views: 0,
        visitors: 0,
        last_viewed_at: None,
        allow_download: req.allow_download.unwrap_or(true),
        with_metadata: req.with_metadata,
        revoked_at: None,
    };
    let stored = state
        .store
        .sharing()
        .create_share(&record)
        .await
        .map_err(|e| match e {
            StoreError::NotFound if record.album_id.is_some() => {
                ApiError::bad_request("album_id", "no such album")
            }
            StoreError::NotFound => {
                ApiError::bad_request("image_ids", "one of the images is not in your library")
            }
            other => other.into(),
        })?;
    tracing::info!(share_id = %stored.id, images = stored.image_ids.len(), album = stored.album_id.is_some(), "share link created");
    Ok(Json(view(&state, stored)))
}

/// `GET /v1/shares`
#[utoipa::path(
    get, path = "/v1/shares", tag = "shares",
    responses((status = 200, description = "Your links, newest first, with their counts", body = ShareList), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<ShareList>> {
    let shares = state.store.sharing().shares(&user.id).await?;
    Ok(Json(ShareList {
        shares: shares.into_iter().map(|s| view(&state, s)).collect(),
    }))
}

/// `DELETE /v1/shares/{id}`
#[utoipa::path(
    delete, path = "/v1/shares/{id}", tag = "shares",
    params(("id" = String, Path, description = "The link's id (not its token)")),
    responses(
        (status = 200, description = "Revoked: its page answers 410 at once", body = Share),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Share>> {
    if !is_plausible_id(&id) {
        return Err(ApiError::not_found("share link"));
    }
    let revoked = state
        .store
        .sharing()
        .revoke_share(&user.id, &id, now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("share link"),
            other => other.into(),
        })?;
    tracing::info!(share_id = %id, "share link revoked");
    Ok(Json(view(&state, revoked)))
}
