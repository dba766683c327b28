//! Liveness and readiness for load balancers and orchestrators.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "ok", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Longest time `/readyz` waits for each of the database and the object store: a hung database
/// must make the replica not ready, not hang the load balancer's probe.
pub const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /readyz`: the database and the object store are reachable (each answers within
/// [`READY_CHECK_TIMEOUT`]); 503 otherwise, and 503 `draining` once shutdown has begun. The
/// object store is asked at most once per [`crate::objects::READY_REUSE`] while it answers.
#[utoipa::path(
    get, path = "/readyz", tag = "ops",
    responses((status = 200, description = "ready", body = String), (status = 503, body = imgcloud_core::api::ErrorBody))
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (db, objects) = tokio::join!(
        tokio::time::timeout(READY_CHECK_TIMEOUT, state.store.ping()),
        tokio::time::timeout(READY_CHECK_TIMEOUT, state.objects.ping_recent())
    );
    let mut down = Vec::new();
    match db {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            down.push("database");
        }
        Err(_) => {
            tracing::warn!(timeout = ?READY_CHECK_TIMEOUT, "readiness: database did not answer in time");
            down.push("database");
        }
    }
    match objects {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: object store unreachable");
            down.push("object store");
        }
        Err(_) => {
            tracing::warn!(timeout = ?READY_CHECK_TIMEOUT, "readiness: object store did not answer in time");
            down.push("object store");
        }
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

/// Middleware installed by [`crate::serve_with_drain`]: once shutdown has begun (`draining` is
/// set), `/readyz` answers 503 with code `draining` without checking anything; every other
/// request is served as usual.
pub async fn drain_gate(
    State(draining): State<Arc<AtomicBool>>,
    request: Request,
    next: Next,
) -> Response {
    if draining.load(Ordering::SeqCst) && request.uri().path() == "/readyz" {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "not ready: shutting down (draining)",
        )
        .into_response();
    }
    next.run(request).await
}
