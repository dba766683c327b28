//! Logging in with a password, and the caller's API tokens.
//!
//! `POST /v1/auth/login` needs no token. Its answer is the same 401 for an unknown user, a
//! wrong password, an account without a password and a disabled account, and takes about as
//! long in every case (an unknown user costs a dummy argon2id verification). Attempts are
//! counted before the password is checked, per user name and client address, per address and
//! overall, in the database so every replica sees them (see [`crate::login_throttle`]); past a
//! budget the answer is 429 `rate_limited` with a `Retry-After`. A successful login clears the
//! count of its name from its address.
//!
//! The request body (with the password) is never logged, and a malformed body is answered
//! without echoing any of it.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use imgcloud_core::api::{ErrorBody, LoginRequest, LoginResponse, TokenInfo, TokenList};

use std::net::IpAddr;

use crate::auth::{Authenticated, bearer_token};
use crate::client_ip;
use crate::error::{ApiError, ApiPath, ApiResult};
use crate::keys::token_hash;
use crate::login_throttle;
use crate::passwords;
use crate::state::AppState;
use crate::store::{StoreError, token_id};
use crate::users::{self, UserError};

/// The throttling window.
pub const LOGIN_WINDOW: time::Duration = login_throttle::WINDOW;
/// Largest login body (a user name, a password of at most 1 KiB, a device name, JSON).
pub const LOGIN_BODY_LIMIT: usize = 8 * 1024;
/// Token name when the login names no device.
pub const DEFAULT_DEVICE_NAME: &str = "login";

/// The one answer for every kind of failed login.
const LOGIN_FAILED: &str = "wrong user name or password";

fn login_failed() -> ApiError {
    ApiError::unauthorized(LOGIN_FAILED)
}

/// `POST /v1/auth/login`
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "A new token named after the device", body = LoginResponse),
        (status = 400, body = ErrorBody),
        (status = 401, description = "Unknown user, wrong password, no password or disabled account (one message for all)", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 429, description = "Too many failed logins for this user name from this address, from this address, or (for addresses that already failed) everywhere; see Retry-After (seconds)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    let client = client_ip::of_request(&request, &state.config.trusted_proxies);
    match login_inner(&state, client, request).await {
        Ok(answer) => Json(answer).into_response(),
        Err(response) => response,
    }
}

async fn login_inner(
    state: &AppState,
    client: Option<IpAddr>,
    request: Request,
) -> Result<LoginResponse, Response> {
    let body = axum::body::to_bytes(request.into_body(), LOGIN_BODY_LIMIT)
        .await
        .map_err(|_| {
            ApiError::payload_too_large(format!(
                "the login body is larger than {LOGIN_BODY_LIMIT} bytes"
            ))
            .into_response()
        })?;
    crate::error::ensure_json_object(&body).map_err(IntoResponse::into_response)?;
    // serde's messages can quote the input: answer with the position only.
    let login: LoginRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "body",
            format!(
                "expected JSON {{\"username\": string, \"password\": string, \
                 \"device_name\": string (optional)}} (problem at line {}, column {})",
                e.line(),
                e.column()
            ),
        )
        .into_response()
    })?;
    drop(body);
    let device = login
        .device_name
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or(DEFAULT_DEVICE_NAME);
    if device.len() > 64 || device.chars().any(char::is_control) {
        return Err(
            ApiError::bad_request("device_name", "use 1 to 64 printable characters")
                .into_response(),
        );
    }

    if users::validate_username(&login.username).is_err() {
        // Nobody can have this name: nothing to throttle, same answer and cost as a miss.
        passwords::dummy_verify(&login.password).await;
        return Err(login_failed().into_response());
    }
    let store = state.store.as_ref();
    let verdict = login_throttle::begin(store, &state.config.login, &login.username, client)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let attempt = match verdict {
        login_throttle::Verdict::Go(attempt) => attempt,
        login_throttle::Verdict::Throttled(whose) => {
            tracing::warn!(reason = whose, "login throttled");
            let seconds = LOGIN_WINDOW.whole_seconds();
            let error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("{whose}; try again in {} minutes", seconds / 60),
            );
            return Err(([(RETRY_AFTER, HeaderValue::from(seconds.max(1)))], error).into_response());
        }
    };

    let user = match state.store.login_record(&login.username).await {
        Ok((user, Some(hash))) => {
            let matches = passwords::verify(&login.password, &hash).await;
            (matches && !user.disabled).then_some(user)
        }
        Ok((_, None)) | Err(StoreError::NotFound) => {
            passwords::dummy_verify(&login.password).await;
            None
        }
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    let Some(user) = user else {
        tracing::info!("login failed");
        login_throttle::failed(store, attempt)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        return Err(login_failed().into_response());
    };

    if let Err(e) = login_throttle::succeeded(store, attempt).await {
        tracing::warn!(error = %e, "could not clear failed logins");
    }
    let token = users::issue_token(state.store.as_ref(), &user.id, device)
        .await
        .map_err(|e| match e {
            UserError::Store(e) => ApiError::from(e),
            other => ApiError::bad_request("device_name", other),
        })
        .map_err(IntoResponse::into_response)?;
    let token_id = token_id(&token_hash(&token));
    tracing::info!(user_id = %user.id, %token_id, "logged in");
    Ok(LoginResponse {
        token,
        token_id,
        user_id: user.id,
        username: user.username,
    })
}

/// The hash of the token this request carries (the extractor already checked it).
fn caller_token_hash(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    bearer_token(value).map(token_hash)
}

/// `GET /v1/tokens`
#[utoipa::path(
    get, path = "/v1/tokens", tag = "auth",
    responses(
        (status = 200, description = "The caller's live tokens, oldest first", body = TokenList),
        (status = 401, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    Authenticated(user): Authenticated,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<TokenList>> {
    let current = caller_token_hash(&headers).map(|hash| token_id(&hash));
    let tokens = state
        .store
        .list_tokens(&user.id)
        .await?
        .into_iter()
        .map(|t| TokenInfo {
            current: current.as_deref() == Some(t.id.as_str()),
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        })
        .collect();
    Ok(Json(TokenList { tokens }))
}

/// `DELETE /v1/tokens/{id}`
#[utoipa::path(
    delete, path = "/v1/tokens/{id}", tag = "auth",
    params(("id" = String, Path, description = "Token id (16 hex digits, from GET /v1/tokens)")),
    responses(
        (status = 204, description = "Revoked: it stops working at once, on every replica"),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such live token of the caller", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    Authenticated(user): Authenticated,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    match state.store.revoke_token(&user.id, &id).await {
        Ok(_) => {
            tracing::info!(user_id = %user.id, token_id = %id, "token revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        Err(StoreError::NotFound) => Err(ApiError::not_found("token")),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request as HttpRequest;
    use tower::ServiceExt;

    use super::*;
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;

    const PASSWORD: &str = "pa55word-Zebra-Quartz";

    async fn app() -> (axum::Router, Arc<dyn Store>) {
        app_with("").await
    }

    /// The test app, with `extra` TOML at the top level (before the tables).
    async fn app_with(extra: &str) -> (axum::Router, Arc<dyn Store>) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
        let config = crate::ServerConfig::from_toml(&format!(
            r#"
            database_url = "sqlite::memory:"
            {extra}
            [s3]
            endpoint = "http://127.0.0.1:9"
            region = "us-east-1"
            bucket = "imgcloud"
            access_key = "test-access"
            secret_key = "test-secret-key"
            path_style = true
            [cdn]
            base_url = "http://127.0.0.1:9/imgcloud"
            "#
        ))
        .unwrap();
        let (app, state) = crate::build_app_with_store(config, store).unwrap();
        (app, state.store)
    }

    /// A login over a connection from `peer`, with an optional `X-Forwarded-For`.
    async fn login_from(
        app: &axum::Router,
        peer: &str,
        forwarded_for: Option<&str>,
        username: &str,
        password: &str,
    ) -> StatusCode {
        let peer = std::net::SocketAddr::new(peer.parse().unwrap(), 40000);
        let mut request = HttpRequest::builder()
            .method("POST")
            .uri("/v1/auth/login")
            .header("content-type", "application/json");
        if let Some(xff) = forwarded_for {
            request = request.header("x-forwarded-for", xff);
        }
        let mut request = request
            .body(Body::from(login_body(username, password, None)))
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        app.clone().oneshot(request).await.unwrap().status()
    }

    async fn add_user(store: &Arc<dyn Store>, name: &str) {
        users::add_user_with_password(store.as_ref(), name, "setup", Some(PASSWORD))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_login_body_must_be_an_object() {
        let (app, store) = app().await;
        add_user(&store, "ann").await;
        let peer = std::net::SocketAddr::new("203.0.113.9".parse().unwrap(), 40000);
        let send = |body: String| {
            let app = app.clone();
            async move {
                let mut request = HttpRequest::builder()
                    .method("POST")
                    .uri("/v1/auth/login")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap();
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                app.oneshot(request).await.unwrap().status()
            }
        };
        // serde alone reads ["ann", PASSWORD] as the credentials.
        let array = serde_json::json!(["ann", PASSWORD]).to_string();
        assert_eq!(send(array).await, StatusCode::BAD_REQUEST);
        assert_eq!(
            send(login_body("ann", PASSWORD, None)).await,
            StatusCode::OK
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_wrong_passwords_get_no_more_tries_than_sequential_ones() {
        let (app, store) = app().await;
        add_user(&store, "ann").await;
        let tries = (0..40).map(|_| {
            let app = app.clone();
            tokio::spawn(
                async move { login_from(&app, "203.0.113.1", None, "ann", "nope-nope").await },
            )
        });
        let mut statuses = Vec::new();
        for t in tries {
            statuses.push(t.await.unwrap());
        }
        let evaluated = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let throttled = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!(evaluated + throttled, 40, "{statuses:?}");
        assert!(
            evaluated <= 5,
            "{evaluated} of 40 parallel guesses were evaluated"
        );
    }

    #[tokio::test]
    async fn someone_elses_failures_never_block_the_right_password_from_another_address() {
        let (app, store) = app().await;
        add_user(&store, "ann").await;
        for _ in 0..5 {
            assert_eq!(
                login_from(&app, "203.0.113.1", None, "ann", "nope-nope").await,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            login_from(&app, "203.0.113.1", None, "ann", PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        // the owner, elsewhere
        assert_eq!(
            login_from(&app, "198.51.100.7", None, "ann", PASSWORD).await,
            StatusCode::OK
        );
        // and an IPv6 client is one /64
        for _ in 0..5 {
            login_from(&app, "2001:db8:1:2::1", None, "ann", "nope-nope").await;
        }
        assert_eq!(
            login_from(&app, "2001:db8:1:2::99", None, "ann", PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            login_from(&app, "2001:db8:1:3::1", None, "ann", PASSWORD).await,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn one_address_has_a_budget_across_user_names() {
        let (app, store) = app_with("[login]\nper_address = 8").await;
        add_user(&store, "ann").await;
        for i in 0..8 {
            assert_eq!(
                login_from(&app, "203.0.113.1", None, &format!("user{i}"), "nope-nope").await,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            login_from(&app, "203.0.113.1", None, "ann", "nope-nope").await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            login_from(&app, "198.51.100.7", None, "ann", PASSWORD).await,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn past_the_global_budget_only_addresses_that_failed_wait() {
        let (app, store) = app_with("[login]\nglobal = 3").await;
        add_user(&store, "ann").await;
        for peer in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
            assert_eq!(
                login_from(&app, peer, None, "ann", "nope-nope").await,
                StatusCode::UNAUTHORIZED
            );
        }
        // a sprayer's address that failed waits, whatever the password
        assert_eq!(
            login_from(&app, "203.0.113.1", None, "ann", PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS
        );
        // a new address still gets its tries
        assert_eq!(
            login_from(&app, "203.0.113.4", None, "ann", "nope-nope").await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            login_from(&app, "198.51.100.7", None, "ann", PASSWORD).await,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn behind_a_trusted_load_balancer_the_forwarded_client_counts() {
        let (app, store) = app_with(r#"trusted_proxies = ["10.0.0.2"]"#).await;
        add_user(&store, "ann").await;
        for _ in 0..5 {
            login_from(&app, "10.0.0.2", Some("203.0.113.1"), "ann", "nope-nope").await;
        }
        // a forged left-most entry does not change who the balancer saw
        assert_eq!(
            login_from(
                &app,
                "10.0.0.2",
                Some("198.51.100.7, 203.0.113.1"),
                "ann",
                PASSWORD
            )
            .await,
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            login_from(&app, "10.0.0.2", Some("198.51.100.7"), "ann", PASSWORD).await,
            StatusCode::OK
        );
        // an untrusted peer cannot pick its address
        for _ in 0..5 {
            login_from(
                &app,
                "203.0.113.9",
                Some("198.51.100.1"),
                "ann",
                "nope-nope",
            )
            .await;
        }
        assert_eq!(
            login_from(&app, "203.0.113.9", Some("198.51.100.2"), "ann", PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    async fn call(
        app: &axum::Router,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = HttpRequest::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header("content-type", "application/json")
                .body(Body::from(body)),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn login_body(username: &str, password: &str, device: Option<&str>) -> String {
        serde_json::to_string(&LoginRequest {
            username: username.into(),
            password: password.into(),
            device_name: device.map(str::to_string),
        })
        .unwrap()
    }

    async fn login(
        app: &axum::Router,
        username: &str,
        password: &str,
    ) -> (StatusCode, HeaderMap, String) {
        let body = login_body(username, password, Some("laptop"));
        call(app, "POST", "/v1/auth/login", None, Some(body)).await
    }

    fn error_of(body: &str) -> (String, String) {
        let parsed: ErrorBody = serde_json::from_str(body).unwrap();
        (parsed.error.code, parsed.error.message)
    }

    #[tokio::test]
    async fn login_issues_a_named_token_and_every_failure_looks_the_same() {
        let (app, store) = app().await;
        users::add_user_with_password(store.as_ref(), "ann", "cli", Some(PASSWORD))
            .await
            .unwrap();
        users::add_user(store.as_ref(), "nopass", "cli")
            .await
            .unwrap();
        users::add_user_with_password(store.as_ref(), "gone", "cli", Some(PASSWORD))
            .await
            .unwrap();
        users::set_disabled(store.as_ref(), "gone", true)
            .await
            .unwrap();

        let (status, _, body) = login(&app, "ann", PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        let answer: LoginResponse = serde_json::from_str(&body).unwrap();
        assert_eq!(answer.username, "ann");
        assert_eq!(answer.token_id, token_hash(&answer.token)[..16]);
        let (status, _, me) = call(&app, "GET", "/v1/me", Some(&answer.token), None).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        let (_, _, list) = call(&app, "GET", "/v1/tokens", Some(&answer.token), None).await;
        let list: TokenList = serde_json::from_str(&list).unwrap();
        let mine = list.tokens.iter().find(|t| t.current).unwrap();
        assert_eq!(
            (mine.id.as_str(), mine.name.as_str()),
            (answer.token_id.as_str(), "laptop")
        );
        assert_eq!(list.tokens.iter().filter(|t| t.current).count(), 1);
        assert_eq!(list.tokens.len(), 2, "the first token (cli) and this one");

        // Unknown user, wrong password, no password, disabled, invalid name: one answer.
        let mut answers = Vec::new();
        for (user, password) in [
            ("zed", PASSWORD),
            ("ann", "wrong-password"),
            ("nopass", PASSWORD),
            ("gone", PASSWORD),
            ("not a valid name!", PASSWORD),
        ] {
            let (status, _, body) = login(&app, user, password).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{user}");
            assert!(!body.contains(password));
            answers.push(error_of(&body));
        }
        assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
        assert_eq!(answers[0].0, "unauthorized");

        // Default device name.
        let body = serde_json::json!({"username": "ann", "password": PASSWORD}).to_string();
        let (status, _, body) = call(&app, "POST", "/v1/auth/login", None, Some(body)).await;
        assert_eq!(status, StatusCode::OK);
        let answer: LoginResponse = serde_json::from_str(&body).unwrap();
        let (_, _, list) = call(&app, "GET", "/v1/tokens", Some(&answer.token), None).await;
        assert!(list.contains("\"name\":\"login\""), "{list}");
    }

    #[tokio::test]
    async fn five_failures_throttle_the_user_name_and_success_clears_them() {
        let (app, store) = app().await;
        users::add_user_with_password(store.as_ref(), "ann", "cli", Some(PASSWORD))
            .await
            .unwrap();
        users::add_user_with_password(store.as_ref(), "bob", "cli", Some(PASSWORD))
            .await
            .unwrap();
        // Four failures, then a success clears the count.
        for _ in 0..4 {
            assert_eq!(
                login(&app, "ann", "nope-nope").await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(login(&app, "ann", PASSWORD).await.0, StatusCode::OK);
        for _ in 0..5 {
            assert_eq!(
                login(&app, "ann", "nope-nope").await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        // The sixth attempt is throttled, even with the right password.
        for password in ["nope-nope", PASSWORD] {
            let (status, headers, body) = login(&app, "ann", password).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(error_of(&body).0, "rate_limited");
            let retry: u64 = headers[RETRY_AFTER].to_str().unwrap().parse().unwrap();
            assert!((1..=900).contains(&retry), "{retry}");
        }
        // Another user name is not affected; nor are unknown names throttled differently.
        assert_eq!(login(&app, "bob", PASSWORD).await.0, StatusCode::OK);
        for _ in 0..5 {
            assert_eq!(
                login(&app, "zed", "x-x-x-x-x").await.0,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            login(&app, "zed", "x-x-x-x-x").await.0,
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[tokio::test]
    async fn bad_login_bodies_never_echo_the_password() {
        let (app, _) = app().await;
        for body in [
            // a password where a string is not expected, malformed JSON, unknown fields
            r#"{"username": "ann", "password": "SECRET-PW-123", "device_name": 7}"#.to_string(),
            r#"{"username": "ann", "password": "SECRET-PW-123""#.to_string(),
            r#"{"username": "ann", "password": ["SECRET-PW-123"]}"#.to_string(),
            r#"{"username": "ann", "pass": "SECRET-PW-123"}"#.to_string(),
            r#"{"username": 5, "password": "x", "SECRET-PW-123": 1}"#.to_string(),
            r#""SECRET-PW-123""#.to_string(),
        ] {
            let (status, _, answer) = call(&app, "POST", "/v1/auth/login", None, Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
            assert!(!answer.contains("SECRET"), "{answer}");
        }
        let huge = login_body("ann", &"p".repeat(LOGIN_BODY_LIMIT), None);
        let (status, _, _) = call(&app, "POST", "/v1/auth/login", None, Some(huge)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        let long_device = login_body("ann", PASSWORD, Some(&"d".repeat(65)));
        let (status, _, answer) =
            call(&app, "POST", "/v1/auth/login", None, Some(long_device)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(answer.contains("device_name"), "{answer}");
    }

    #[tokio::test]
    async fn revoking_a_token_stops_it_at_once_and_only_its_owner_can() {
        let (app, store) = app().await;
        let (_, ann_cli) = users::add_user(store.as_ref(), "ann", "cli").await.unwrap();
        let ann_phone = users::add_token(store.as_ref(), "ann", "phone")
            .await
            .unwrap();
        let (_, bob) = users::add_user(store.as_ref(), "bob", "cli").await.unwrap();
        // Warm the cache with the phone token.
        assert_eq!(
            call(&app, "GET", "/v1/me", Some(&ann_phone), None).await.0,
            StatusCode::OK
        );
        let phone_id = token_hash(&ann_phone)[..16].to_string();

        // Bob cannot revoke ann's token: 404, and it keeps working.
        let path = format!("/v1/tokens/{phone_id}");
        let (status, _, body) = call(&app, "DELETE", &path, Some(&bob), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error_of(&body).0, "not_found");
        assert_eq!(
            call(&app, "GET", "/v1/me", Some(&ann_phone), None).await.0,
            StatusCode::OK
        );
        let (_, _, list) = call(&app, "GET", "/v1/tokens", Some(&bob), None).await;
        assert!(!list.contains(&phone_id), "bob does not see ann's tokens");

        // Ann revokes it from her other token: 204, then 401 at once (cache included).
        let (status, _, _) = call(&app, "DELETE", &path, Some(&ann_cli), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, body) = call(&app, "GET", "/v1/me", Some(&ann_phone), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(
            call(&app, "DELETE", &path, Some(&ann_cli), None).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&app, "DELETE", "/v1/tokens/not-an-id", Some(&ann_cli), None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        // Revoking the token in use logs out.
        let cli_id = token_hash(&ann_cli)[..16].to_string();
        let path = format!("/v1/tokens/{cli_id}");
        assert_eq!(
            call(&app, "DELETE", &path, Some(&ann_cli), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            call(&app, "GET", "/v1/tokens", Some(&ann_cli), None)
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        // Both routes need a token.
        assert_eq!(
            call(&app, "GET", "/v1/tokens", None, None).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&app, "DELETE", &path, None, None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
}
