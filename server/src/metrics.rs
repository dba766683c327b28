//! Prometheus metrics, written by hand in the text exposition format:
//! `imgcloud_http_requests_total{route,method,status}`, `imgcloud_http_errors_total{route,code}`,
//! `imgcloud_http_request_duration_seconds_sum/count{route}`,
//! `imgcloud_http_request_body_bytes_total`, `imgcloud_http_response_body_bytes_total`,
//! `imgcloud_cache_hits_total`, `imgcloud_cache_misses_total`, `imgcloud_cache_errors_total`,
//! `imgcloud_cache_up`, `imgcloud_db_queries_total{op}` and `imgcloud_db_queries_all_total`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::cache::CacheStats;
use crate::db_metrics::DbStats;
use crate::error::ErrorCode;

#[derive(Debug, Default)]
struct Counters {
    requests: BTreeMap<(String, String, u16), u64>,
    errors: BTreeMap<(String, &'static str), u64>,
    durations: BTreeMap<String, (f64, u64)>,
}

/// Process-local counters (each replica is scraped on its own).
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
    cache: Option<Arc<CacheStats>>,
    db: Option<Arc<DbStats>>,
    request_body_bytes: AtomicU64,
    response_body_bytes: AtomicU64,
}

impl Metrics {
    pub fn new(cache: Option<Arc<CacheStats>>, db: Option<Arc<DbStats>>) -> Self {
        Self {
            counters: Mutex::default(),
            cache,
            db,
            request_body_bytes: AtomicU64::new(0),
            response_body_bytes: AtomicU64::new(0),
        }
    }

    /// Counts HTTP body bytes in and out (as declared by `Content-Length` or known from the
    /// body).
    pub fn record_body_bytes(&self, request: u64, response: u64) {
        self.request_body_bytes
            .fetch_add(request, Ordering::Relaxed);
        self.response_body_bytes
            .fetch_add(response, Ordering::Relaxed);
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(
        &self,
        route: &str,
        method: &str,
        status: u16,
        error_code: Option<&'static str>,
        seconds: f64,
    ) {
        let mut c = self.counters();
        *c.requests
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        if let Some(code) = error_code {
            *c.errors.entry((route.to_string(), code)).or_default() += 1;
        }
        let d = c.durations.entry(route.to_string()).or_default();
        d.0 += seconds;
        d.1 += 1;
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let c = self.counters();
        out.push_str(
            "# HELP imgcloud_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE imgcloud_http_requests_total counter\n");
        for ((route, method, status), n) in &c.requests {
            let _ = writeln!(
                out,
                "imgcloud_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                escape(route),
                escape(method)
            );
        }
        out.push_str("# HELP imgcloud_http_errors_total Error answers by route and error code.\n");
        out.push_str("# TYPE imgcloud_http_errors_total counter\n");
        for ((route, code), n) in &c.errors {
            let _ = writeln!(
                out,
                "imgcloud_http_errors_total{{route=\"{}\",code=\"{code}\"}} {n}",
                escape(route)
            );
        }
        out.push_str(
            "# HELP imgcloud_http_request_duration_seconds Time spent answering requests.\n",
        );
        out.push_str("# TYPE imgcloud_http_request_duration_seconds summary\n");
        for (route, (sum, count)) in &c.durations {
            let route = escape(route);
            let _ = writeln!(
                out,
                "imgcloud_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "imgcloud_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        drop(c);
        out.push_str(
            "# HELP imgcloud_http_request_body_bytes_total Bytes of HTTP request bodies received.\n",
        );
        out.push_str("# TYPE imgcloud_http_request_body_bytes_total counter\n");
        let _ = writeln!(
            out,
            "imgcloud_http_request_body_bytes_total {}",
            self.request_body_bytes.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP imgcloud_http_response_body_bytes_total Bytes of HTTP response bodies sent.\n",
        );
        out.push_str("# TYPE imgcloud_http_response_body_bytes_total counter\n");
        let _ = writeln!(
            out,
            "imgcloud_http_response_body_bytes_total {}",
            self.response_body_bytes.load(Ordering::Relaxed)
        );
        let (hits, misses, errors, up) = self
            .cache
            .as_ref()
            .map(|s| (s.hits(), s.misses(), s.errors(), s.up()))
            .unwrap_or((0, 0, 0, true));
        out.push_str("# HELP imgcloud_cache_hits_total Store lookups answered by the cache.\n");
        out.push_str("# TYPE imgcloud_cache_hits_total counter\n");
        let _ = writeln!(out, "imgcloud_cache_hits_total {hits}");
        out.push_str(
            "# HELP imgcloud_cache_misses_total Store lookups that went to the database.\n",
        );
        out.push_str("# TYPE imgcloud_cache_misses_total counter\n");
        let _ = writeln!(out, "imgcloud_cache_misses_total {misses}");
        out.push_str(
            "# HELP imgcloud_cache_errors_total Cache operations that failed, timed out or were \
             skipped because the cache was down.\n",
        );
        out.push_str("# TYPE imgcloud_cache_errors_total counter\n");
        let _ = writeln!(out, "imgcloud_cache_errors_total {errors}");
        out.push_str(
            "# HELP imgcloud_cache_up Whether every cache server is reachable (1) or not (0).\n",
        );
        out.push_str("# TYPE imgcloud_cache_up gauge\n");
        let _ = writeln!(out, "imgcloud_cache_up {}", u8::from(up));
        if let Some(db) = &self.db {
            out.push_str(
                "# HELP imgcloud_db_queries_total Store calls that reached the database, by method.\n",
            );
            out.push_str("# TYPE imgcloud_db_queries_total counter\n");
            for (op, n) in db.snapshot() {
                let _ = writeln!(out, "imgcloud_db_queries_total{{op=\"{op}\"}} {n}");
            }
            out.push_str(
                "# HELP imgcloud_db_queries_all_total Store calls that reached the database.\n",
            );
            out.push_str("# TYPE imgcloud_db_queries_all_total counter\n");
            let _ = writeln!(out, "imgcloud_db_queries_all_total {}", db.total());
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware counting every request by its route template (never the raw path, so ids do not
/// explode the label set).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().as_str().to_string();
    let request_bytes = body_len(request.headers(), request.body());
    let start = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    metrics.record_body_bytes(request_bytes, body_len(response.headers(), response.body()));
    let code = response
        .extensions()
        .get::<ErrorCode>()
        .map(|c| c.0)
        .or_else(|| {
            // Errors produced by layers (timeout, body limit) carry no code of ours.
            (status.is_client_error() || status.is_server_error()).then_some("other")
        });
    metrics.record(
        &route,
        &method,
        status.as_u16(),
        code,
        start.elapsed().as_secs_f64(),
    );
    response
}

/// A body's length: exact when known, else its `Content-Length`, else the lower bound.
fn body_len(headers: &header::HeaderMap, body: &axum::body::Body) -> u64 {
    let hint = axum::body::HttpBody::size_hint(body);
    hint.exact().unwrap_or_else(|| {
        headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(hint.lower())
    })
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text", body = String)))]
pub async fn handler(State(state): State<crate::state::AppState>) -> Response {
    let mut text = state.metrics.render();
    // The queue's figures come from the database (every replica sees the same queue).
    let queue = state.store.job_stats(crate::store::now()).await.ok();
    text.push_str(&state.derivatives.stats().render(queue));
    if let Ok(Some(lag)) = state.store.standby_lag().await {
        text.push_str(&crate::standby::render_metrics(&lag));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let stats = Arc::new(CacheStats::default());
        stats
            .hits
            .fetch_add(3, std::sync::atomic::Ordering::Relaxed);
        let db = Arc::new(DbStats::default());
        let m = Metrics::new(Some(stats), Some(db));
        m.record_body_bytes(10, 300);
        m.record("/v1/images/{id}", "GET", 200, None, 0.01);
        m.record("/v1/images/{id}", "GET", 200, None, 0.01);
        m.record("/v1/images/{id}", "GET", 404, Some("not_found"), 0.01);
        let text = m.render();
        assert!(text.contains(r#"imgcloud_http_requests_total{route="/v1/images/{id}",method="GET",status="200"} 2"#), "{text}");
        assert!(
            text.contains(
                r#"imgcloud_http_errors_total{route="/v1/images/{id}",code="not_found"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("imgcloud_cache_hits_total 3"));
        assert!(text.contains("imgcloud_cache_misses_total 0"));
        assert!(text.contains("imgcloud_cache_errors_total 0"));
        assert!(text.contains("imgcloud_cache_up 1"));
        assert!(text.contains("imgcloud_http_request_body_bytes_total 10"));
        assert!(text.contains("imgcloud_http_response_body_bytes_total 300"));
        assert!(text.contains(r#"imgcloud_db_queries_total{op="list_images"} 0"#));
        assert!(text.contains("imgcloud_db_queries_all_total 0"));
    }
}
