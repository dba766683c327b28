//! Who am I, and what does this server accept.

use axum::Json;
use axum::extract::State;
use imgcloud_core::api::{ErrorBody, Limits, Me};

use crate::auth::Authenticated;
use crate::state::AppState;

/// `GET /v1/me`
#[utoipa::path(
    get, path = "/v1/me", tag = "account",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn me(Authenticated(user): Authenticated) -> Json<Me> {
    Json(Me {
        user_id: user.id,
        username: user.username,
    })
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
