//! The imgcloud API client: JSON over HTTP(S) with retries, and presigned object-store PUTs.
//!
//! Retries follow rclone's low-level policy: up to 10 attempts with exponential backoff and full
//! jitter from 10 ms to 2 s on 429, 5xx, timeouts and connection errors, honouring
//! `Retry-After`. Every `POST` carries an `Idempotency-Key` that stays the same across retries.
//! The token never appears in `Debug` output, logs or errors, and presigned URLs are logged and
//! reported without their query (which holds the signature).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    ChangePage, CheckRequest, CheckResponse, CompleteUpload, CreateUpload, CreateUploadResponse,
    ErrorBody, IDEMPOTENCY_KEY_HEADER, Image, ImagePage, ImagePatch, Limits, Me, PresignedRequest,
};
use crate::config::ClientConfig;
use crate::paths::Dirs;

/// What to tell a user who has no server configured.
pub const NO_SERVER_HINT: &str = "no server configured: run `imgcloud login URL` or start the \
     embedded cloud (`imgcloudd`), or set IMGCLOUD_SERVER";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "{server} did not accept the credentials ({message}): run `imgcloud login {server}` to \
         sign in again, or set IMGCLOUD_TOKEN"
    )]
    Unauthorized { server: String, message: String },
    #[error("not found: {message}")]
    NotFound { message: String },
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error(
        "cannot reach {server}: {detail}; check that the server is running and the URL is right"
    )]
    Network { server: String, detail: String },
    #[error(
        "unexpected answer from {server}: {detail}; are the client and server versions compatible?"
    )]
    Decode { server: String, detail: String },
    #[error("cannot read {}: {source}", path.display())]
    Body {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

impl ClientError {
    /// HTTP status of an error answer, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { .. } => Some(401),
            Self::NotFound { .. } => Some(404),
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Retry policy for transient failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Full-jitter backoff before retry number `retry` (1-based): uniform in
    /// `[0, min(max, initial × 2^(retry-1))]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self
            .initial_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::thread_rng().gen_range(0..=nanos))
    }
}

/// The bearer token; `Debug` never shows it.
#[derive(Clone)]
struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `GET /v1/images` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    /// Case-insensitive filename substring.
    pub q: Option<String>,
    /// List the trash instead of the library.
    pub trash: bool,
}

/// The body of a presigned PUT.
#[derive(Debug, Clone)]
pub enum UploadBody {
    Bytes(Bytes),
    /// `len` bytes of the file at `path` starting at `offset`, streamed.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl UploadBody {
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An imgcloud API client. Cheap to clone (shares one connection pool).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<Token>,
    retry: RetryPolicy,
    request_timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("retry", &self.retry)
            .finish()
    }
}

const CHUNK: usize = 256 * 1024;

impl Client {
    /// A client for `server` (`http://host:port` or `https://…`, optionally with a path prefix).
    pub fn new(server: &str, token: Option<String>) -> Result<Client, ClientError> {
        let trimmed = server.trim().trim_end_matches('/');
        let url = url::Url::parse(trimmed).map_err(|e| {
            ClientError::Config(format!(
                "server URL `{trimmed}` is invalid ({e}); use e.g. http://127.0.0.1:8420"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(ClientError::Config(format!(
                "server URL `{trimmed}` must start with http:// or https:// and name a host"
            )));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("imgcloud/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(32)
            .build()
            .map_err(|e| ClientError::Config(format!("cannot set up HTTP: {}", error_chain(&e))))?;
        let token = token
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(Token);
        Ok(Client {
            http,
            server: trimmed.to_string(),
            token,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(60),
        })
    }

    /// A client from the configuration file + `IMGCLOUD_SERVER`, with the token from
    /// `IMGCLOUD_TOKEN`, the OS keyring or the credentials file.
    pub fn from_env(dirs: &Dirs) -> Result<Client, ClientError> {
        let mut config = ClientConfig::load(&dirs.config_file())
            .map_err(|e| ClientError::Config(e.to_string()))?;
        config.apply_env();
        let server = config
            .server
            .ok_or_else(|| ClientError::Config(NO_SERVER_HINT.to_string()))?;
        let token = crate::secrets::load_token(dirs, &server)
            .map_err(|e| ClientError::Config(e.to_string()))?
            .map(|(token, _)| token);
        Client::new(&server, token)
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Timeout of one API request (not of object-store uploads). Default 60 s.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Base URL, without a trailing slash.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    // ---- routes -------------------------------------------------------------------------

    pub async fn me(&self) -> Result<Me, ClientError> {
        self.api(Method::GET, "/v1/me", &[], None::<&()>, None)
            .await
    }

    pub async fn limits(&self) -> Result<Limits, ClientError> {
        self.api(Method::GET, "/v1/limits", &[], None::<&()>, None)
            .await
    }

    /// Which of these SHA-256s the user already has.
    pub async fn check(&self, sha256: &[String]) -> Result<CheckResponse, ClientError> {
        let body = CheckRequest {
            sha256: sha256.to_vec(),
        };
        self.api(Method::POST, "/v1/uploads/check", &[], Some(&body), None)
            .await
    }

    /// Starts an upload; a retry with the same `idempotency_key` returns the same session.
    pub async fn create_upload(
        &self,
        upload: &CreateUpload,
        idempotency_key: &str,
    ) -> Result<CreateUploadResponse, ClientError> {
        self.api(
            Method::POST,
            "/v1/uploads",
            &[],
            Some(upload),
            Some(idempotency_key),
        )
        .await
    }

    pub async fn complete_upload(
        &self,
        upload_id: &str,
        body: &CompleteUpload,
    ) -> Result<Image, ClientError> {
        let path = format!("/v1/uploads/{}/complete", segment(upload_id));
        self.api(Method::POST, &path, &[], Some(body), None).await
    }

    pub async fn abort_upload(&self, upload_id: &str) -> Result<(), ClientError> {
        let path = format!("/v1/uploads/{}", segment(upload_id));
        self.api_empty(Method::DELETE, &path).await
    }

    pub async fn list_images(&self, params: &ListParams) -> Result<ImagePage, ClientError> {
        let mut query = Vec::new();
        if let Some(cursor) = &params.cursor {
            query.push(("cursor", cursor.clone()));
        }
        if let Some(limit) = params.limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(q) = params.q.as_ref().filter(|q| !q.is_empty()) {
            query.push(("q", q.clone()));
        }
        if params.trash {
            query.push(("trash", "true".to_string()));
        }
        self.api(Method::GET, "/v1/images", &query, None::<&()>, None)
            .await
    }

    pub async fn image(&self, id: &str) -> Result<Image, ClientError> {
        self.api(
            Method::GET,
            &format!("/v1/images/{}", segment(id)),
            &[],
            None::<&()>,
            None,
        )
        .await
    }

    pub async fn patch_image(&self, id: &str, patch: &ImagePatch) -> Result<Image, ClientError> {
        self.api(
            Method::PATCH,
            &format!("/v1/images/{}", segment(id)),
            &[],
            Some(patch),
            None,
        )
        .await
    }

    /// Moves an image to the trash.
    pub async fn trash(&self, id: &str) -> Result<Image, ClientError> {
        self.api(
            Method::DELETE,
            &format!("/v1/images/{}", segment(id)),
            &[],
            None::<&()>,
            None,
        )
        .await
    }

    pub async fn restore(&self, id: &str) -> Result<Image, ClientError> {
        let path = format!("/v1/images/{}/restore", segment(id));
        self.api(Method::POST, &path, &[], None::<&()>, None).await
    }

    /// Deletes an image and its objects for good.
    pub async fn purge(&self, id: &str) -> Result<(), ClientError> {
        self.api_empty(Method::DELETE, &format!("/v1/images/{}/purge", segment(id)))
            .await
    }

    /// The change feed after `since` (0 for everything), oldest first.
    pub async fn changes(&self, since: i64, limit: Option<u32>) -> Result<ChangePage, ClientError> {
        let mut query = vec![("since", since.to_string())];
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        self.api(Method::GET, "/v1/changes", &query, None::<&()>, None)
            .await
    }

    /// Sends a presigned object-store request exactly as given (method, URL, headers) with
    /// `body`, retrying transient failures. `progress` gets the bytes of `body` sent so far in
    /// the current attempt (it restarts from 0 on a retry). Returns the `ETag`, if any.
    pub async fn send_presigned(
        &self,
        request: &PresignedRequest,
        body: &UploadBody,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Option<String>, ClientError> {
        let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            ClientError::Config(format!("invalid presigned method `{}`", request.method))
        })?;
        let url = url::Url::parse(&request.url)
            .map_err(|e| ClientError::Config(format!("invalid presigned URL ({e})")))?;
        let target = redacted_url(&url);
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ClientError::Config(format!("invalid presigned header name `{name}`"))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                ClientError::Config(format!("invalid value for presigned header `{name}`"))
            })?;
            headers.insert(name, value);
        }
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));

        let (tx, mut rx) = tokio::sync::watch::channel(0u64);
        let send = self.execute(&target, || {
            let body = match body {
                UploadBody::Bytes(bytes) => bytes_body(bytes.clone(), tx.clone()),
                UploadBody::File { path, offset, len } => {
                    file_body(path, *offset, *len, tx.clone())?
                }
            };
            tx.send_replace(0);
            Ok(self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .body(body))
        });
        tokio::pin!(send);
        let reply = loop {
            tokio::select! {
                reply = &mut send => break reply?,
                changed = rx.changed() => {
                    if changed.is_ok() {
                        let done = *rx.borrow_and_update();
                        progress(done);
                    }
                }
            }
        };
        progress(body.len());
        Ok(reply
            .headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }

    // ---- plumbing -----------------------------------------------------------------------

    async fn api<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<T, ClientError> {
        let reply = self
            .api_raw(method, path, query, body, idempotency_key)
            .await?;
        serde_json::from_slice(&reply.body).map_err(|e| ClientError::Decode {
            server: self.server.clone(),
            detail: format!("{path}: {e}"),
        })
    }

    async fn api_empty(&self, method: Method, path: &str) -> Result<(), ClientError> {
        self.api_raw(method, path, &[], None::<&()>, None)
            .await
            .map(|_| ())
    }

    async fn api_raw<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let url = format!("{}{}", self.server, path);
        let json = match body {
            Some(body) => Some(Bytes::from(
                serde_json::to_vec(body).map_err(|e| ClientError::Config(e.to_string()))?,
            )),
            None => None,
        };
        // Every POST carries one key, the same on every retry.
        let key = match (idempotency_key, method == Method::POST) {
            (Some(key), _) => Some(key.to_string()),
            (None, true) => Some(new_idempotency_key()),
            (None, false) => None,
        };
        self.execute(path, || {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .timeout(self.request_timeout);
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(token) = &self.token {
                request = request.bearer_auth(&token.0);
            }
            if let Some(key) = &key {
                request = request.header(IDEMPOTENCY_KEY_HEADER, key);
            }
            if let Some(json) = &json {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(json.clone());
            }
            Ok(request)
        })
        .await
    }

    /// Sends the request `build` makes, retrying transient failures; returns a successful reply
    /// or the error the last attempt produced. `what` names the target in logs (no secrets).
    async fn execute(
        &self,
        what: &str,
        build: impl Fn() -> Result<reqwest::RequestBuilder, ClientError>,
    ) -> Result<Reply, ClientError> {
        let max_attempts = self.retry.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = match build()?.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => Ok(Reply {
                            status,
                            headers,
                            body,
                        }),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let wait = match outcome {
                Ok(reply) if reply.status.is_success() => {
                    tracing::debug!(target: "imgcloud::http", what, status = reply.status.as_u16(), attempt, "ok");
                    return Ok(reply);
                }
                Ok(reply) => {
                    let retryable = reply.status == StatusCode::TOO_MANY_REQUESTS
                        || (reply.status.is_server_error()
                            && reply.status != StatusCode::NOT_IMPLEMENTED);
                    tracing::debug!(target: "imgcloud::http", what, status = reply.status.as_u16(), attempt, retryable, "error status");
                    if !retryable || attempt >= max_attempts {
                        return Err(self.error_from_reply(what, reply));
                    }
                    retry_after(&reply.headers)
                        .map(|d| d.min(self.retry.max_retry_after))
                        .unwrap_or_else(|| self.retry.backoff(attempt))
                }
                Err(e) => {
                    let retryable =
                        e.is_timeout() || e.is_connect() || e.is_request() || e.is_body();
                    let detail = error_chain(&e);
                    tracing::debug!(target: "imgcloud::http", what, attempt, retryable, error = %detail, "request failed");
                    if !retryable || attempt >= max_attempts {
                        return Err(ClientError::Network {
                            server: self.target_name(what),
                            detail,
                        });
                    }
                    self.retry.backoff(attempt)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The server for API paths, the (query-less) URL for presigned targets.
    fn target_name(&self, what: &str) -> String {
        if what.starts_with('/') {
            self.server.clone()
        } else {
            what.to_string()
        }
    }

    fn error_from_reply(&self, what: &str, reply: Reply) -> ClientError {
        let status = reply.status.as_u16();
        let (code, message) = parse_error_body(&reply.body).unwrap_or_else(|| {
            let reason = reply
                .status
                .canonical_reason()
                .unwrap_or("error")
                .to_string();
            (
                reason.to_ascii_lowercase().replace(' ', "_"),
                format!("{reason} from {}", self.target_name(what)),
            )
        });
        match reply.status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized {
                server: self.server.clone(),
                message,
            },
            StatusCode::NOT_FOUND => ClientError::NotFound { message },
            _ => ClientError::Api {
                status,
                code,
                message,
            },
        }
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// `{"error":{"code","message"}}` from the API, or `<Code>`/`<Message>` from an S3 store.
fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        return Some((parsed.error.code, parsed.error.message));
    }
    let text = std::str::from_utf8(body).ok()?;
    let tag = |name: &str| {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].trim().to_string())
    };
    let code = tag("Code")?;
    let message = tag("Message").unwrap_or_else(|| code.clone());
    Some((code, format!("object store: {message}")))
}

/// `Retry-After` in seconds (HTTP dates are rare from our servers and are ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// A reqwest error and its causes, without any URL (presigned URLs carry signatures).
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    let top = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    parts.push(top);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.contains("://") && parts.last() != Some(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

fn redacted_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// Percent-encodes one path segment.
fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A random URL-safe idempotency key (24 base62 characters, ~143 bits).
pub fn new_idempotency_key() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..24)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn bytes_body(bytes: Bytes, progress: tokio::sync::watch::Sender<u64>) -> reqwest::Body {
    let total = bytes.len();
    let chunks = (0..total.div_ceil(CHUNK)).map(move |i| {
        let end = ((i + 1) * CHUNK).min(total);
        let chunk = bytes.slice(i * CHUNK..end);
        progress.send_replace(end as u64);
        Ok::<_, std::io::Error>(chunk)
    });
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

fn file_body(
    path: &Path,
    offset: u64,
    len: u64,
    progress: tokio::sync::watch::Sender<u64>,
) -> Result<reqwest::Body, ClientError> {
    let body_err = |source| ClientError::Body {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(body_err)?;
    let actual = file.metadata().map_err(body_err)?.len();
    if actual < offset + len {
        return Err(body_err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the file shrank to {actual} bytes while being uploaded"),
        )));
    }
    let path = path.to_path_buf();
    let stream = futures::stream::once(async move {
        use tokio::io::AsyncSeekExt;
        let mut file = tokio::fs::File::from_std(file);
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::with_capacity(
            tokio::io::AsyncReadExt::take(file, len),
            CHUNK,
        ))
    })
    .map(move |opened| match opened {
        Ok(reader) => reader.left_stream(),
        Err(e) => futures::stream::once(async move { Err(e) }).right_stream(),
    })
    .flatten()
    .scan(0u64, move |sent, chunk| {
        if let Ok(chunk) = &chunk {
            *sent += chunk.len() as u64;
            progress.send_replace(*sent);
        }
        tracing::trace!(path = %path.display(), sent = *sent, "upload body");
        futures::future::ready(Some(chunk))
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// What the stub saw of one request.
    #[derive(Debug, Clone)]
    pub(crate) struct Seen {
        pub(crate) head: String,
        pub(crate) body: Vec<u8>,
    }

    impl Seen {
        /// `(method, path with query)`.
        pub(crate) fn line(&self) -> (String, String) {
            let mut parts = self.head.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            (method, parts.next().unwrap_or("").to_string())
        }

        pub(crate) fn header(&self, name: &str) -> Option<String> {
            self.head.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        }
    }

    /// A tiny HTTP/1.1 server answering each request with the next scripted raw response (the
    /// last one repeats).
    async fn stub(responses: Vec<String>) -> (String, Arc<Mutex<Vec<Seen>>>) {
        stub_with(Arc::new(move |_, index| {
            responses[index.min(responses.len() - 1)].clone()
        }))
        .await
    }

    pub(crate) type Handler = Arc<dyn Fn(&Seen, usize) -> String + Send + Sync>;

    /// A tiny HTTP/1.1 server: `handler(request, n)` makes the raw answer to the n-th request
    /// (an empty answer drops the connection).
    pub(crate) async fn stub_with(handler: Handler) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 65536];
                    let head_end = loop {
                        let n = socket.read(&mut tmp).await.unwrap_or(0);
                        if n == 0 {
                            break None;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break Some(p + 4);
                        }
                    };
                    let Some(head_end) = head_end else { return };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let mut seen = Seen {
                        head,
                        body: buf[head_end..].to_vec(),
                    };
                    let len: usize = seen
                        .header("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    while seen.body.len() < len {
                        let n = socket.read(&mut tmp).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        seen.body.extend_from_slice(&tmp[..n]);
                    }
                    let index = {
                        let mut log = log.lock().unwrap();
                        log.push(seen.clone());
                        log.len() - 1
                    };
                    let response = handler(&seen, index);
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        (format!("http://{addr}"), seen)
    }

    pub(crate) fn response(status: &str, extra: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    }

    fn fast_retry(attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts: attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_retry_after: Duration::from_secs(1),
        }
    }

    const ME: &str = r#"{"user_id":"u1","username":"ann"}"#;

    #[tokio::test]
    async fn retries_5xx_and_429_then_succeeds_with_one_idempotency_key() {
        let (url, seen) = stub(vec![
            response("503 Service Unavailable", "", "{}"),
            response("429 Too Many Requests", "Retry-After: 0\r\n", "{}"),
            response(
                "500 Internal Server Error",
                "",
                r#"{"error":{"code":"internal","message":"x"}}"#,
            ),
            response("200 OK", "", r#"{"existing":[]}"#),
        ])
        .await;
        let client = Client::new(&url, Some("tok".into()))
            .unwrap()
            .with_retry(fast_retry(10));
        let answer = client.check(&["ab".repeat(32)]).await.unwrap();
        assert!(answer.existing.is_empty());
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4);
        let keys: Vec<_> = seen
            .iter()
            .map(|s| s.header("idempotency-key").unwrap())
            .collect();
        assert!(
            keys.iter().all(|k| k == &keys[0] && k.len() == 24),
            "{keys:?}"
        );
        assert_eq!(
            seen[0].header("authorization").as_deref(),
            Some("Bearer tok")
        );
        assert!(String::from_utf8_lossy(&seen[3].body).contains(&"ab".repeat(32)));
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_with_the_server_message() {
        let (url, seen) = stub(vec![response(
            "502 Bad Gateway",
            "",
            r#"{"error":{"code":"upstream","message":"object store failed"}}"#,
        )])
        .await;
        let client = Client::new(&url, None).unwrap().with_retry(fast_retry(3));
        let err = client.me().await.unwrap_err();
        assert!(
            matches!(&err, ClientError::Api { status: 502, code, message } if code == "upstream" && message == "object store failed"),
            "{err:?}"
        );
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn client_errors_are_not_retried_and_are_typed() {
        let (url, seen) = stub(vec![response(
            "401 Unauthorized",
            "",
            r#"{"error":{"code":"unauthorized","message":"token revoked"}}"#,
        )])
        .await;
        let client = Client::new(&url, Some("secret-token-value".into()))
            .unwrap()
            .with_retry(fast_retry(5));
        let err = client.me().await.unwrap_err();
        assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
        assert!(err.to_string().contains("imgcloud login"), "{err}");
        assert_eq!(seen.lock().unwrap().len(), 1);

        let (url, _) = stub(vec![response(
            "404 Not Found",
            "",
            r#"{"error":{"code":"not_found","message":"no such image"}}"#,
        )])
        .await;
        let client = Client::new(&url, None).unwrap();
        assert!(matches!(
            client.image("x").await.unwrap_err(),
            ClientError::NotFound { .. }
        ));
    }

    #[tokio::test]
    async fn retries_dropped_connections() {
        // The first two connections are closed without an answer.
        let (url, seen) = stub(vec![
            String::new(),
            String::new(),
            response("200 OK", "", ME),
        ])
        .await;
        let client = Client::new(&url, None).unwrap().with_retry(fast_retry(5));
        assert_eq!(client.me().await.unwrap().username, "ann");
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn unreachable_server_is_a_network_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = Client::new(&format!("http://{addr}"), None)
            .unwrap()
            .with_retry(fast_retry(2));
        let err = client.me().await.unwrap_err();
        assert!(matches!(err, ClientError::Network { .. }), "{err:?}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }

    #[tokio::test]
    async fn presigned_put_streams_a_file_range_and_returns_the_etag() {
        let (url, seen) = stub(vec![
            response(
                "500 Internal Server Error",
                "",
                "<Error><Code>InternalError</Code></Error>",
            ),
            response("200 OK", "ETag: \"abc\"\r\n", ""),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let client = Client::new("http://api.invalid", None)
            .unwrap()
            .with_retry(fast_retry(3));
        let request = PresignedRequest {
            method: "PUT".into(),
            url: format!("{url}/bucket/i/x/a.jpg?X-Amz-Signature=sekrit"),
            headers: vec![("x-amz-content-sha256".into(), "deadbeef".into())],
        };
        let body = UploadBody::File {
            path: path.clone(),
            offset: 100_000,
            len: 500_000,
        };
        let last = Mutex::new(0u64);
        let etag = client
            .send_presigned(&request, &body, &|n| *last.lock().unwrap() = n)
            .await
            .unwrap();
        assert_eq!(etag.as_deref(), Some("\"abc\""));
        assert_eq!(*last.lock().unwrap(), 500_000);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].body, data[100_000..600_000]);
        assert_eq!(
            seen[1].header("x-amz-content-sha256").as_deref(),
            Some("deadbeef")
        );
        assert!(
            seen[1]
                .head
                .starts_with("PUT /bucket/i/x/a.jpg?X-Amz-Signature=sekrit ")
        );
    }

    #[tokio::test]
    async fn presigned_errors_never_show_the_signature() {
        let (url, _) = stub(vec![response(
            "403 Forbidden",
            "",
            "<Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error>",
        )])
        .await;
        let client = Client::new("http://api.invalid", None).unwrap();
        let request = PresignedRequest {
            method: "PUT".into(),
            url: format!("{url}/b/k?X-Amz-Signature=sekrit"),
            headers: vec![],
        };
        let err = client
            .send_presigned(
                &request,
                &UploadBody::Bytes(Bytes::from_static(b"hi")),
                &|_| {},
            )
            .await
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("SignatureDoesNotMatch") && !text.contains("sekrit"),
            "{text}"
        );

        let request = PresignedRequest {
            method: "PUT".into(),
            url: "http://127.0.0.1:1/b/k?X-Amz-Signature=sekrit".into(),
            headers: vec![],
        };
        let client = client.with_retry(fast_retry(1));
        let err = client
            .send_presigned(
                &request,
                &UploadBody::Bytes(Bytes::from_static(b"hi")),
                &|_| {},
            )
            .await
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            matches!(err, ClientError::Network { .. }) && !text.contains("sekrit"),
            "{text}"
        );
    }

    #[test]
    fn debug_never_shows_the_token_and_urls_are_validated() {
        let client = Client::new("http://h:1/", Some("very-secret".into())).unwrap();
        assert_eq!(client.server(), "http://h:1");
        assert!(!format!("{client:?}").contains("very-secret"));
        assert!(matches!(
            Client::new("ftp://h", None),
            Err(ClientError::Config(_))
        ));
        assert!(matches!(
            Client::new("not a url", None),
            Err(ClientError::Config(_))
        ));
    }

    #[test]
    fn backoff_is_bounded_full_jitter() {
        let policy = RetryPolicy::default();
        for retry in 1..=12 {
            let cap = Duration::from_millis(10 * (1u64 << (retry - 1))).min(Duration::from_secs(2));
            for _ in 0..50 {
                assert!(policy.backoff(retry) <= cap);
            }
        }
        // Jitter: not always the cap.
        let samples: Vec<_> = (0..50).map(|_| policy.backoff(8)).collect();
        assert!(samples.iter().any(|d| *d < Duration::from_secs(1)));
    }

    #[test]
    fn from_env_without_a_server_says_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = Dirs {
            config: tmp.path().join("c"),
            data: tmp.path().join("d"),
            runtime: tmp.path().join("r"),
        };
        if std::env::var_os("IMGCLOUD_SERVER").is_none() {
            let err = Client::from_env(&dirs).unwrap_err().to_string();
            assert!(err.contains("imgcloud login"), "{err}");
        }
        let config = ClientConfig {
            server: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        };
        config.save(&dirs.config_file()).unwrap();
        let client = Client::from_env(&dirs).unwrap();
        if std::env::var_os("IMGCLOUD_SERVER").is_none() {
            assert_eq!(client.server(), "http://127.0.0.1:9");
        }
    }
}
