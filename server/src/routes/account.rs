//! Who am I, my defaults, and what this server accepts.

use axum::Json;
use axum::extract::State;
use imgcloud_core::api::{AccountSettings, ErrorBody, Limits, Me, SettingsPatch};

use crate::auth::Authenticated;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::state::AppState;

/// Longest default share-link expiry an account can choose (10 years).
pub const MAX_SHARE_EXPIRY_DAYS: u32 = 3650;

/// `GET /v1/me`
#[utoipa::path(
    get, path = "/v1/me", tag = "account",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn me(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
) -> ApiResult<Json<Me>> {
    let settings = state.store.account_settings(&user.id).await?;
    Ok(Json(Me {
        user_id: user.id,
        username: user.username,
        settings,
    }))
}

/// `PATCH /v1/me/settings`
#[utoipa::path(
    patch, path = "/v1/me/settings", tag = "account",
    request_body = SettingsPatch,
    responses(
        (status = 200, description = "The account's defaults after the change", body = AccountSettings),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_settings(
    State(state): State<AppState>,
    Authenticated(user): Authenticated,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> ApiResult<Json<AccountSettings>> {
    if let Some(days) = patch.share_expiry_days
        && !(1..=MAX_SHARE_EXPIRY_DAYS).contains(&days)
    {
        return Err(ApiError::bad_request(
            "share_expiry_days",
            format!("must be between 1 and {MAX_SHARE_EXPIRY_DAYS} days"),
        ));
    }
    let mut settings = state.store.account_settings(&user.id).await?;
    if let Some(visibility) = patch.default_visibility {
        settings.default_visibility = visibility;
    }
    if let Some(days) = patch.share_expiry_days {
        settings.share_expiry_days = days;
    }
    state
        .store
        .set_account_settings(&user.id, &settings)
        .await?;
    Ok(Json(settings))
}

/// `GET /v1/limits`
#[utoipa::path(
    get, path = "/v1/limits", tag = "account",
    responses((status = 200, body = Limits), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn limits(State(state): State<AppState>, _caller: Authenticated) -> Json<Limits> {
    Json(state.config.limits.to_api())
}
