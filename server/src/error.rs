//! The one error type of the HTTP API: `{"error":{"code","message"}}` with the right status.
//!
//! Internal failures (database, object store, bugs) are logged with their detail and answered
//! with a generic message, so nothing internal leaks to clients.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use imgcloud_core::api::{ErrorBody, ErrorDetail};

use crate::objects::ObjectStoreError;
use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 400 naming the offending field.
    pub fn bad_request(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{field}: {problem}"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn invalid_image(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_image", message)
    }

    /// 500 with a generic message; `detail` goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// 502: the object store failed; `detail` goes to the log only.
    pub fn upstream(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "object store error");
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream",
            "the object store failed; try again later",
        )
    }

    /// 503: a dependency is down; `detail` goes to the log only.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "service temporarily unavailable; try again later",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.clone(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        // Lets the metrics layer count errors by code without parsing the body.
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

/// Response extension set on every error answer.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::not_found("resource"),
            StoreError::Conflict(message) => {
                tracing::info!(%message, "store conflict");
                Self::conflict("the request conflicts with the current state; retry")
            }
            StoreError::BadCursor => Self::bad_request(
                "cursor",
                "invalid or expired cursor; start from the first page",
            ),
            StoreError::Unavailable(detail) => Self::unavailable(detail),
            StoreError::Other(detail) => Self::internal(detail),
        }
    }
}

impl From<ObjectStoreError> for ApiError {
    fn from(e: ObjectStoreError) -> Self {
        Self::upstream(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Self::payload_too_large("request body is too large");
        }
        if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            return unsupported_media_type();
        }
        Self::bad_request("body", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request("query", rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request("path", rejection.body_text())
    }
}

/// `Json` whose rejections are [`ApiError`]s, for bodies that are JSON objects: every request
/// body of the API is one, and serde would otherwise take an array for a struct
/// (`["name","d"]` as an album), so anything but an object is a 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if !has_json_content_type(req.headers()) {
            return Err(unsupported_media_type());
        }
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::payload_too_large("request body is too large")
                } else {
                    ApiError::bad_request("body", rejection.body_text())
                }
            })?;
        ensure_json_object(&body)?;
        let Json(value) = Json::<T>::from_bytes(&body)?;
        Ok(Self(value))
    }
}

impl<T, S> axum::extract::OptionalFromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// No `Content-Type` → `None` (an empty body is allowed where the body is optional).
    async fn from_request(
        req: axum::extract::Request,
        state: &S,
    ) -> Result<Option<Self>, ApiError> {
        if !req.headers().contains_key(axum::http::header::CONTENT_TYPE) {
            return Ok(None);
        }
        <Self as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send a JSON body with Content-Type: application/json",
    )
}

/// `application/json` or any `…+json`, as axum's `Json` accepts.
fn has_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A 400 unless `body` is a JSON object (judged by its first non-blank byte; the parser
/// checks the rest).
pub fn ensure_json_object(body: &[u8]) -> Result<(), ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(ApiError::bad_request(
            "body",
            "expected a JSON object ({…}) as the request body",
        )),
    }
}

/// `Query` whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Path` whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Fallback for unknown routes.
pub async fn not_found_route() -> ApiError {
    ApiError::not_found("route")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn json_bodies_must_be_objects() {
        use tower::ServiceExt as _;
        #[derive(serde::Deserialize)]
        struct Named {
            #[allow(dead_code)]
            name: Option<String>,
        }
        async fn handler(ApiJson(_): ApiJson<Named>) -> &'static str {
            "ok"
        }
        let app = axum::Router::new().route("/", axum::routing::post(handler));
        let call = |content_type: Option<&'static str>, body: &'static str| {
            let app = app.clone();
            async move {
                let mut req = axum::http::Request::post("/");
                if let Some(ct) = content_type {
                    req = req.header("content-type", ct);
                }
                let resp = app
                    .oneshot(req.body(axum::body::Body::from(body)).unwrap())
                    .await
                    .unwrap();
                resp.status().as_u16()
            }
        };
        assert_eq!(call(Some("application/json"), r#"{"name":"a"}"#).await, 200);
        assert_eq!(
            call(Some("application/json; charset=utf-8"), " {}").await,
            200
        );
        // serde alone takes an array for a struct.
        assert_eq!(call(Some("application/json"), r#"["a"]"#).await, 400);
        assert_eq!(call(Some("application/json"), "[null]").await, 400);
        assert_eq!(call(Some("application/json"), "null").await, 400);
        assert_eq!(call(Some("application/json"), r#"{"name":1}"#).await, 400);
        assert_eq!(call(Some("text/plain"), "{}").await, 415);
        assert_eq!(call(None, "{}").await, 415);
    }

    #[tokio::test]
    async fn internal_errors_hide_their_detail() {
        let response =
            ApiError::from(StoreError::Other("secret table xyz broke".into())).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(!text.contains("xyz"), "{text}");
        let body: ErrorBody = serde_json::from_str(&text).unwrap();
        assert_eq!(body.error.code, "internal");
    }

    #[test]
    fn store_errors_map_to_statuses() {
        assert_eq!(
            ApiError::from(StoreError::NotFound).status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::from(StoreError::BadCursor).status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::from(StoreError::Unavailable("x".into())).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from(StoreError::Conflict("x".into())).status,
            StatusCode::CONFLICT
        );
        assert!(
            ApiError::bad_request("size", "must be > 0")
                .message
                .starts_with("size")
        );
    }
}

/// Middleware: gives error answers that did not come from an [`ApiError`] (a tower layer's
/// timeout, a body-limit rejection, …) the same JSON envelope, so clients parse one shape.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<ErrorCode>().is_some()
    {
        return response;
    }
    let (code, message) = match status {
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => {
            ("unavailable", "the request took too long; try again later")
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "this route does not take that method")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "bad_request",
            "send the body as JSON with `content-type: application/json`",
        ),
        s if s.is_client_error() => ("bad_request", "the request is not valid"),
        _ => ("internal", "internal error"),
    };
    ApiError::new(status, code, message).into_response()
}

#[cfg(test)]
mod json_errors_tests {
    use super::*;

    #[tokio::test]
    async fn bare_error_answers_get_the_json_envelope_and_api_errors_are_untouched() {
        let bare = StatusCode::SERVICE_UNAVAILABLE.into_response();
        let fixed = json_errors(bare).await;
        assert_eq!(fixed.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(fixed.into_body(), 1 << 16)
            .await
            .unwrap();
        let parsed: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.error.code, "unavailable");

        let api = ApiError::conflict("exactly this").into_response();
        let kept = json_errors(api).await;
        let body = axum::body::to_bytes(kept.into_body(), 1 << 16)
            .await
            .unwrap();
        let parsed: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed.error.message, "exactly this");

        let ok = json_errors(StatusCode::NO_CONTENT.into_response()).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    }
}
