//! `GET /t/{id}/{file}`: one derivative, made on its first request. The CDN asks the object
//! store first and falls back here on a miss (see `deploy/nginx/cdn.conf.template`); the answer
//! is the JPEG itself, cacheable for a year (its key never changes).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use imgcloud_core::api::{DerivativeState, ErrorBody, PRESETS, Preset};

use crate::derivatives::{DeriveError, render};
use crate::error::{ApiError, ApiPath, ApiResult};
use crate::keys::is_plausible_id;
use crate::state::AppState;
use crate::store::StoreError;

/// Long-lived and public: a derivative's URL names its bytes for good.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

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
    if image.deleted_at.is_some() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "gone",
            format!("image {id} is in the trash; restore it to see it again"),
        ));
    }
    if image.derivatives == DerivativeState::Broken {
        return Err(broken(
            &id,
            image.derivatives_error.as_deref().unwrap_or(""),
        ));
    }
    let bytes = state
        .derivatives
        .get(&image, preset)
        .await
        .map_err(|e| match e {
            DeriveError::Broken(message) => broken(&id, &message),
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
        HeaderValue::from_static(CACHE_CONTROL),
    );
    Ok(response)
}

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
