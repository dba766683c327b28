//! `GET /t/{id}/{file}`: one derivative of a public image, made on its first request. The CDN
//! asks the object store first and falls back here on a miss (see
//! `deploy/nginx/cdn.conf.template`); the answer is the JPEG itself.
//!
//! `GET /v/{id}/{file}?exp=…&sig=…`: the owner's signed view of an image without a public link
//! (private or trashed): its derivatives, or a redirect to its original.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use imgcloud_core::api::{DerivativeState, ErrorBody, PRESETS, Preset, Visibility};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::derivatives::{DeriveError, render};
use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::keys::{self, is_plausible_id};
use crate::links;
use crate::state::AppState;
use crate::store::{ImageRecord, StoreError};

/// Public, and short: a derivative's bytes never change, but its link stops serving when the
/// image is made private or trashed, and browsers and caches should notice within a minute.
pub const CACHE_CONTROL: &str = "public, max-age=60";

/// The preset a derivative file name (`320.jpg`, `1280.jpg`) names.
pub fn preset_of(file: &str) -> Result<Preset, ApiError> {
    file.strip_suffix(".jpg")
        .and_then(|size| size.parse::<u32>().ok())
        .and_then(Preset::by_size)
        .ok_or_else(|| {
            let known: Vec<String> = PRESETS
                .iter()
                .map(|p| format!("{}.jpg ({})", p.long_side, p.name))
                .collect();
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_preset",
                format!(
                    "no derivative named {file:?}: the presets are {}",
                    known.join(", ")
                ),
            )
        })
}

/// `GET /t/{id}/{file}`
#[utoipa::path(
    get, path = "/t/{id}/{file}", tag = "derivatives",
    params(
        ("id" = String, Path, description = "Image id"),
        ("file" = String, Path, description = "Preset: `320.jpg` (thumb) or `1280.jpg` (preview)"),
    ),
    responses(
        (status = 200, description = "The derivative: JPEG, upright, no metadata; cacheable for a year", content_type = "image/jpeg"),
        (status = 404, description = "No such image, or an unknown preset", body = ErrorBody),
        (status = 410, description = "The image is in the trash", body = ErrorBody),
        (status = 422, description = "The original cannot be decoded (the image is marked broken)", body = ErrorBody),
        (status = 502, body = ErrorBody), (status = 503, body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    ApiPath((id, file)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let preset = preset_of(&file)?;
    if !is_plausible_id(&id) {
        return Err(ApiError::not_found("image"));
    }
    let image = state.store.image_by_id(&id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("image"),
        other => other.into(),
    })?;
    // A private image has no public link (and a stranger learns nothing from the answer, not
    // even that it is in the trash).
    if image.visibility != Visibility::Public {
        return Err(ApiError::not_found("image"));
    }
    if image.deleted_at.is_some() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "gone",
            format!("image {id} is in the trash; restore it to see it again"),
        ));
    }
    answer(&state, &image, preset, CACHE_CONTROL).await
}

/// The derivative's bytes as an answer with `cache_control`.
pub async fn answer(
    state: &AppState,
    image: &ImageRecord,
    preset: Preset,
    cache_control: &'static str,
) -> ApiResult<Response> {
    let id = &image.id;
    if image.derivatives == DerivativeState::Broken {
        return Err(broken(id, image.derivatives_error.as_deref().unwrap_or("")));
    }
    let bytes = state
        .derivatives
        .get(image, preset)
        .await
        .map_err(|e| match e {
            DeriveError::Broken(message) => broken(id, &message),
            DeriveError::Gone => ApiError::not_found("image"),
            DeriveError::Transient(message) => ApiError::upstream(message),
        })?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(render::CONTENT_TYPE),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    Ok(response)
}

/// Query of a signed view (`/v/…`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignedQuery {
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Signature.
    pub sig: String,
}

/// Cache lifetime of a signed view's answer: private (the owner's browser only), short.
pub const SIGNED_CACHE_CONTROL: &str = "private, max-age=300";

/// `GET /v/{id}/{file}`
#[utoipa::path(
    get, path = "/v/{id}/{file}", tag = "derivatives",
    params(
        ("id" = String, Path, description = "Image id"),
        ("file" = String, Path, description = "`320.jpg` (thumb), `1280.jpg` (preview) or `original`"),
        SignedQuery,
    ),
    responses(
        (status = 200, description = "A derivative of an image without a public link (the owner's signed link)", content_type = "image/jpeg"),
        (status = 302, description = "The original: a redirect to a short-lived presigned URL of the object store"),
        (status = 403, description = "The signature is wrong or has expired: ask for the image again", body = ErrorBody),
        (status = 400, description = "A missing or malformed query parameter", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody),
    )
)]
pub async fn signed(
    State(state): State<AppState>,
    ApiPath((id, file)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<SignedQuery>,
) -> ApiResult<Response> {
    let path = format!("/v/{id}/{file}");
    if !state
        .signer
        .verify(&path, query.exp, &query.sig, OffsetDateTime::now_utc())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "expired_link",
            "this signed link is wrong or has expired: ask for the image again to get a fresh one",
        ));
    }
    let image = state.store.image_by_id(&id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("image"),
        other => other.into(),
    })?;
    if file == links::ORIGINAL_FILE {
        let key = keys::placed(&image.key, image.objects_public);
        let presigned = state
            .objects
            .presign_get(&key, ORIGINAL_REDIRECT_TTL)
            .map_err(ApiError::upstream)?;
        let mut response = StatusCode::FOUND.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::LOCATION,
            HeaderValue::from_str(&presigned.url).map_err(ApiError::internal)?,
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(response);
    }
    answer(&state, &image, preset_of(&file)?, SIGNED_CACHE_CONTROL).await
}

/// Lifetime of the presigned URL a signed view of an original redirects to.
const ORIGINAL_REDIRECT_TTL: std::time::Duration = std::time::Duration::from_secs(5 * 60);

fn broken(id: &str, message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "broken_image",
        format!("image {id} has no derivatives: its original cannot be decoded ({message})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_named_presets_exist() {
        assert_eq!(preset_of("320.jpg").unwrap().name, "thumb");
        assert_eq!(preset_of("1280.jpg").unwrap().name, "preview");
        for bad in [
            "321.jpg",
            "320.png",
            "0.jpg",
            "9999999999.jpg",
            "../x",
            "320",
        ] {
            let err = preset_of(bad).unwrap_err();
            assert_eq!(err.status, StatusCode::NOT_FOUND, "{bad}");
            assert!(err.message.contains("320.jpg (thumb)"), "{}", err.message);
        }
    }
}
