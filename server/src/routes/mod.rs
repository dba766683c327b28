//! The HTTP routes, one module per feature, and the router with its layers.

pub mod account;
pub mod albums;
pub mod auth;
pub mod changes;
pub mod derivatives;
pub mod images;
pub mod ops;
pub mod share_pages;
pub mod shares;
pub mod uploads;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::{delete, get, patch, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The routes and, beside them, what was registered: one list, so tests and the OpenAPI
/// check walk exactly the routes the router serves.
struct Routes {
    router: Router<AppState>,
    list: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Self {
            router: Router::new(),
            list: Vec::new(),
        }
    }

    /// Registers `method` (`"GET"`, `"POST"`, `"PATCH"` or `"DELETE"`) of `path`.
    fn add<H, T>(mut self, method: &'static str, path: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let route = match method {
            "GET" => get(handler),
            "POST" => post(handler),
            "PATCH" => patch(handler),
            "DELETE" => delete(handler),
            other => panic!("no method router for {other}"),
        };
        self.router = self.router.route(path, route);
        self.list.push((path, method));
        self
    }
}

fn routes() -> Routes {
    Routes::new()
        .add("GET", "/healthz", ops::healthz)
        .add("GET", "/readyz", ops::readyz)
        .add("GET", "/metrics", crate::metrics::handler)
        .add("GET", "/openapi.json", crate::openapi::serve)
        .add("GET", "/v1/me", account::me)
        .add("PATCH", "/v1/me/settings", account::update_settings)
        .add("GET", "/v1/limits", account::limits)
        .add("POST", "/v1/auth/login", auth::login)
        .add("GET", "/v1/tokens", auth::list)
        .add("DELETE", "/v1/tokens/{id}", auth::revoke)
        .add("POST", "/v1/uploads/check", uploads::check)
        .add("POST", "/v1/uploads", uploads::create)
        .add("POST", "/v1/uploads/{id}/complete", uploads::complete)
        .add("DELETE", "/v1/uploads/{id}", uploads::abort)
        .add("GET", "/v1/images", images::list)
        .add("GET", "/v1/images/{id}", images::get)
        .add("PATCH", "/v1/images/{id}", images::patch)
        .add("DELETE", "/v1/images/{id}", images::trash)
        .add("POST", "/v1/images/{id}/restore", images::restore)
        .add("DELETE", "/v1/images/{id}/purge", images::purge)
        .add("GET", "/v1/changes", changes::list)
        .add("GET", "/v1/albums", albums::list)
        .add("POST", "/v1/albums", albums::create)
        .add("GET", "/v1/albums/{id}", albums::get)
        .add("PATCH", "/v1/albums/{id}", albums::patch)
        .add("DELETE", "/v1/albums/{id}", albums::delete)
        .add("POST", "/v1/albums/{id}/add", albums::add)
        .add("POST", "/v1/albums/{id}/remove", albums::remove)
        .add("POST", "/v1/albums/{id}/order", albums::order)
        .add("POST", "/v1/shares", shares::create)
        .add("GET", "/v1/shares", shares::list)
        .add("DELETE", "/v1/shares/{id}", shares::revoke)
        .add("GET", "/s/{token}", share_pages::page)
        .add("POST", "/s/{token}", share_pages::unlock)
        .add("GET", "/s/{token}/{image_id}/{file}", share_pages::image)
        .add("GET", "/oembed", share_pages::oembed)
        .add("GET", "/t/{id}/{file}", derivatives::get)
        .add("GET", "/v/{id}/{file}", derivatives::signed)
}

/// Every route the router serves, as (path template, method), in registration order.
pub fn route_list() -> Vec<(&'static str, &'static str)> {
    routes().list
}

/// The application: routes, body limit, timeout, metrics, tracing with request ids.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_body_bytes;
    let timeout = state.config.request_timeout.max(Duration::from_secs(1));
    let metrics = state.metrics.clone();
    routes()
        .router
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
