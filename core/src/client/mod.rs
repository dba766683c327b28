//! The imgcloud API client: JSON over HTTP(S) with retries, and presigned object-store PUTs.
//!
//! Retries follow rclone's low-level policy: up to 10 attempts with exponential backoff and full
//! jitter from 10 ms to 2 s on 429, 5xx, timeouts and connection errors, honouring
//! `Retry-After`. Every `POST` carries an `Idempotency-Key` that stays the same across retries.
//! The token never appears in `Debug` output, logs or errors, and presigned URLs are logged and
//! reported without their query (which holds the signature).
//!
//! Presigned uploads can be held to a bandwidth limit shared by all clones of a client
//! ([`Client::with_bandwidth_limit`], changeable live with [`Client::set_bandwidth_limit`]).

mod bandwidth;
mod error;
mod presigned;
mod retry;
mod sharing;
#[cfg(test)]
pub(crate) mod test_stub;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    ChangePage, CheckRequest, CheckResponse, CompleteUpload, CreateUpload, CreateUploadResponse,
    IDEMPOTENCY_KEY_HEADER, Image, ImagePage, ImagePatch, Limits, LoginRequest, LoginResponse, Me,
    TokenList,
};
use crate::config::ClientConfig;
use crate::paths::Dirs;

pub use error::ClientError;
pub use presigned::UploadBody;
pub use retry::RetryPolicy;

use error::error_chain;
use retry::Reply;

/// What to tell a user who has no server configured.
pub const NO_SERVER_HINT: &str = "no server configured: run `imgcloud login URL` or start the \
     embedded cloud (`imgcloudd`), or set IMGCLOUD_SERVER";

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

/// An imgcloud API client. Cheap to clone (shares one connection pool).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<Token>,
    retry: RetryPolicy,
    request_timeout: Duration,
    /// Upload bandwidth limit, shared by clones.
    bandwidth: Arc<bandwidth::Bandwidth>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("retry", &self.retry)
            .field("bandwidth_limit", &self.bandwidth.rate())
            .finish()
    }
}

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
            bandwidth: Arc::new(bandwidth::Bandwidth::new(0)),
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

    /// Limits the bytes per second of presigned uploads (object-store PUT bodies: originals
    /// and parts) to `bytes_per_sec` in total; `0` means unlimited. The limit is
    /// shared by this client and every clone made from it afterwards, and split evenly between
    /// uploads running at the same time. API requests are not limited.
    pub fn with_bandwidth_limit(mut self, bytes_per_sec: u64) -> Self {
        self.bandwidth = Arc::new(bandwidth::Bandwidth::new(bytes_per_sec));
        self
    }

    /// Changes the bandwidth limit of this client and of every clone sharing it, uploads in
    /// flight included (`0` = unlimited).
    pub fn set_bandwidth_limit(&self, bytes_per_sec: u64) {
        self.bandwidth.set_rate(bytes_per_sec);
    }

    /// The upload bandwidth limit in bytes per second (`0` = unlimited).
    pub fn bandwidth_limit(&self) -> u64 {
        self.bandwidth.rate()
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

    /// Logs in with a password (`POST /v1/auth/login`, no token needed) and returns a new
    /// token named `device_name` (the server's default `login` when `None`). Not retried: a
    /// 429 (too many failed logins) comes back at once as [`ClientError::Api`] with code
    /// `rate_limited`, and a wrong password as [`ClientError::Unauthorized`].
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        device_name: Option<&str>,
    ) -> Result<LoginResponse, ClientError> {
        let body = LoginRequest {
            username: username.to_string(),
            password: password.to_string(),
            device_name: device_name.map(str::to_string),
        };
        let once = Client {
            retry: RetryPolicy::none(),
            token: None,
            ..self.clone()
        };
        once.api(Method::POST, "/v1/auth/login", &[], Some(&body), None)
            .await
    }

    /// The caller's live tokens (`GET /v1/tokens`), oldest first.
    pub async fn tokens(&self) -> Result<TokenList, ClientError> {
        self.api(Method::GET, "/v1/tokens", &[], None::<&()>, None)
            .await
    }

    /// Revokes one of the caller's tokens by its id (`DELETE /v1/tokens/{id}`); it stops
    /// working at once. Revoking the token in use logs this client out.
    pub async fn revoke_token(&self, id: &str) -> Result<(), ClientError> {
        self.api_empty(Method::DELETE, &format!("/v1/tokens/{}", segment(id)))
            .await
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn login_posts_the_password_once_without_a_token_and_does_not_retry_429() {
        use crate::client::test_stub::{response, stub};
        let ok =
            r#"{"token":"tok-new","token_id":"0123456789abcdef","user_id":"u1","username":"ann"}"#;
        let (url, seen) = stub(vec![response("200 OK", "", ok)]).await;
        let client = Client::new(&url, Some("old-token".into())).unwrap();
        let answer = client
            .login("ann", "pass word 123", Some("laptop"))
            .await
            .unwrap();
        assert_eq!(answer.token, "tok-new");
        assert!(!format!("{answer:?}").contains("tok-new"));
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen[0].line(), ("POST".into(), "/v1/auth/login".into()));
            assert_eq!(seen[0].header("authorization"), None);
            let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
            assert_eq!(
                body,
                serde_json::json!({"username": "ann", "password": "pass word 123", "device_name": "laptop"})
            );
        }

        let limited = r#"{"error":{"code":"rate_limited","message":"too many failed logins"}}"#;
        let (url, seen) = stub(vec![response(
            "429 Too Many Requests",
            "Retry-After: 900\r\n",
            limited,
        )])
        .await;
        let err = Client::new(&url, None)
            .unwrap()
            .login("ann", "x", None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ClientError::Api { status: 429, code, .. } if code == "rate_limited"),
            "{err:?}"
        );
        assert_eq!(seen.lock().unwrap().len(), 1, "no retry");
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
