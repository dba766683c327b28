//! Liveness and readiness for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "ok", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the database and the object store are reachable.
#[utoipa::path(
    get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "ready", body = String), (status = 503, body = imgcloud_core::api::ErrorBody))
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (db, objects) = tokio::join!(state.store.ping(), state.objects.ping());
    let mut down = Vec::new();
    if let Err(e) = db {
        tracing::warn!(error = %e, "readiness: database unreachable");
        down.push("database");
    }
    if let Err(e) = objects {
        tracing::warn!(error = %e, "readiness: object store unreachable");
        down.push("object store");
    }
    if down.is_empty() {
        return (StatusCode::OK, "ready").into_response();
    }
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        format!("not ready: {} unreachable", down.join(" and ")),
    )
    .into_response()
}
