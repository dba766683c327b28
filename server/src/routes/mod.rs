//! The HTTP routes, one module per feature, and the router with its layers.

pub mod account;
pub mod auth;
pub mod changes;
pub mod derivatives;
pub mod images;
pub mod ops;
pub mod uploads;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::{delete, get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// Every route (path template, method), for tests and the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("/healthz", "GET"),
    ("/readyz", "GET"),
    ("/metrics", "GET"),
    ("/openapi.json", "GET"),
    ("/v1/me", "GET"),
    ("/v1/limits", "GET"),
    ("/v1/auth/login", "POST"),
    ("/v1/tokens", "GET"),
    ("/v1/tokens/{id}", "DELETE"),
    ("/v1/uploads/check", "POST"),
    ("/v1/uploads", "POST"),
    ("/v1/uploads/{id}/complete", "POST"),
    ("/v1/uploads/{id}", "DELETE"),
    ("/v1/images", "GET"),
    ("/v1/images/{id}", "GET"),
    ("/v1/images/{id}", "PATCH"),
    ("/v1/images/{id}", "DELETE"),
    ("/v1/images/{id}/restore", "POST"),
    ("/v1/images/{id}/purge", "DELETE"),
    ("/v1/changes", "GET"),
    ("/t/{id}/{file}", "GET"),
];

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The application: routes, body limit, timeout, metrics, tracing with request ids.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let timeout = state.config.request_timeout.max(Duration::from_secs(1));
    let metrics = state.metrics.clone();
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(crate::metrics::handler))
        .route("/openapi.json", get(crate::openapi::serve))
        .route("/v1/me", get(account::me))
        .route("/v1/limits", get(account::limits))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/tokens", get(auth::list))
        .route("/v1/tokens/{id}", delete(auth::revoke))
        .route("/v1/uploads/check", post(uploads::check))
        .route("/v1/uploads", post(uploads::create))
        .route("/v1/uploads/{id}/complete", post(uploads::complete))
        .route("/v1/uploads/{id}", delete(uploads::abort))
        .route("/v1/images", get(images::list))
        .route("/v1/images/{id}", get(images::get).patch(images::patch).delete(images::trash))
        .route("/v1/images/{id}/restore", post(images::restore))
        .route("/v1/images/{id}/purge", delete(images::purge))
        .route("/v1/changes", get(changes::list))
        .route("/t/{id}/{file}", get(derivatives::get))
        .fallback(crate::error::not_found_route)
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout))
        .layer(axum::middleware::map_response(crate::error::json_errors))
        .route_layer(axum::middleware::from_fn_with_state(metrics, crate::metrics::track))
        .layer(
            // Spans carry the method, the path (never headers, so never the token) and the id.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
