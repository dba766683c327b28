//! The embedded S3-compatible object store of the all-in-one mode: `s3s` + `s3s-fs` serving a
//! directory on a loopback port.
//!
//! It behaves like a public-read bucket behind a CDN: every request must carry a valid SigV4
//! signature (header or presigned URL) except anonymous `GetObject`/`HeadObject` of objects outside
//! `p/` (private and trashed images live there). Presigned
//! PUTs that sign `x-amz-content-sha256` have their body verified while it is received; a
//! mismatch is answered with an error (s3s-fs says 500) and nothing is stored.
//!
//! In the all-in-one mode the store also plays the CDN's part for derivatives: an anonymous
//! GET or HEAD of a missing `t/…` object is passed to the API ([`DerivativeFallback`]), which
//! makes the derivative, stores it and answers, as a CDN falls back to its second origin.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Result, s3_error};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use url::Url;

/// A running embedded store. Stops on [`EmbeddedS3::shutdown`] or when dropped.
#[derive(Debug)]
pub struct EmbeddedS3 {
    /// The address it listens on (the real port when started on port 0).
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl EmbeddedS3 {
    /// `http://{addr}`: the endpoint to put in an `S3Config` (path style).
    pub fn endpoint(&self) -> Url {
        Url::parse(&format!("http://{}", self.addr)).expect("a socket address forms a valid URL")
    }

    /// Stops accepting connections, closes the open ones and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Allows what a public-read bucket allows: anything signed, and anonymous reads of objects
/// outside `p/` (where private and trashed images live; see `keys::PRIVATE_PREFIX`).
/// Requests with a bad signature never get here (s3s rejects them first).
struct PublicReadAccess;

#[async_trait::async_trait]
impl S3Access for PublicReadAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_some() {
            return Ok(());
        }
        let public_object = match cx.s3_path() {
            s3s::path::S3Path::Object { key, .. } => crate::keys::publicly_readable(key),
            _ => false,
        };
        match cx.s3_op().name() {
            "GetObject" | "HeadObject" if public_object => Ok(()),
            _ => Err(s3_error!(
                AccessDenied,
                "this operation needs a SigV4-signed request"
            )),
        }
    }
}

/// Where anonymous reads of missing derivatives of `bucket` go: the API (set once it listens).
#[derive(Debug, Clone)]
pub struct DerivativeFallback {
    bucket: String,
    origin: Arc<OnceLock<String>>,
    http: reqwest::Client,
}

impl DerivativeFallback {
    pub fn new(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_string(),
            origin: Arc::default(),
            http: reqwest::Client::new(),
        }
    }

    /// The API's base URL (`http://127.0.0.1:8420`).
    pub fn set_origin(&self, api_url: &str) {
        let _ = self.origin.set(api_url.trim_end_matches('/').to_string());
    }

    /// The API URL of a derivative request, when `request` is one: an anonymous GET or HEAD of
    /// `/{bucket}/t/…` without a query.
    fn target(&self, request: &http::Request<hyper::body::Incoming>) -> Option<String> {
        let origin = self.origin.get()?;
        let reads = matches!(*request.method(), http::Method::GET | http::Method::HEAD);
        let anonymous = !request.headers().contains_key(http::header::AUTHORIZATION);
        let rest = request
            .uri()
            .path()
            .strip_prefix('/')?
            .strip_prefix(self.bucket.as_str())?;
        (reads && anonymous && request.uri().query().is_none() && rest.starts_with("/t/"))
            .then(|| format!("{origin}{rest}"))
    }

    /// The API's answer, as the store's.
    async fn fetch(&self, method: http::Method, url: &str) -> http::Response<s3s::Body> {
        let answer = match self.http.request(method, url).send().await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(error = %e, "embedded store: the API did not answer a derivative request");
                let mut response = http::Response::new(s3s::Body::empty());
                *response.status_mut() = http::StatusCode::BAD_GATEWAY;
                return response;
            }
        };
        let mut builder = http::Response::builder().status(answer.status().as_u16());
        for name in [
            http::header::CONTENT_TYPE,
            http::header::CACHE_CONTROL,
            http::header::CONTENT_LENGTH,
        ] {
            if let Some(value) = answer.headers().get(name.as_str()) {
                builder = builder.header(name, value.as_bytes());
            }
        }
        let body = answer.bytes().await.unwrap_or_default();
        builder
            .body(s3s::Body::from(body))
            .unwrap_or_else(|_| http::Response::new(s3s::Body::empty()))
    }
}

/// Starts the store on `listen` (e.g. `127.0.0.1:0`), keeping buckets as directories under
/// `root` (created if missing). Only `access_key`/`secret_key` can sign requests.
pub async fn start(
    root: &Path,
    listen: SocketAddr,
    access_key: &str,
    secret_key: &str,
) -> anyhow::Result<EmbeddedS3> {
    start_with_fallback(root, listen, access_key, secret_key, None).await
}

/// [`start`], passing missing derivatives to `fallback`'s origin.
pub async fn start_with_fallback(
    root: &Path,
    listen: SocketAddr,
    access_key: &str,
    secret_key: &str,
    fallback: Option<DerivativeFallback>,
) -> anyhow::Result<EmbeddedS3> {
    tokio::fs::create_dir_all(root).await.with_context(|| {
        format!(
            "cannot create the embedded object store directory {}",
            root.display()
        )
    })?;
    // s3s-fs errors implement neither Display nor Error: show their Debug form.
    let fs = s3s_fs::FileSystem::new(root).map_err(|err| {
        anyhow::anyhow!(
            "cannot open the embedded object store directory {}: {err:?}",
            root.display()
        )
    })?;
    let service = {
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        builder.set_access(PublicReadAccess);
        builder.build()
    };
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!("cannot listen on {listen} for the embedded object store (is the port in use?)")
    })?;
    let addr = listener
        .local_addr()
        .context("cannot read the embedded object store's listening address")?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, service, fallback, stopped));
    tracing::info!(%addr, root = %root.display(), "embedded object store listening");
    Ok(EmbeddedS3 {
        addr,
        stop,
        task: Some(task),
    })
}

async fn serve(
    listener: TcpListener,
    service: S3Service,
    fallback: Option<DerivativeFallback>,
    mut stopped: watch::Receiver<bool>,
) {
    // Connection tasks live in this set: when serving ends (or this task is aborted) the set
    // is dropped and every open connection is closed with it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        // Running out of file descriptors and similar: back off briefly.
                        tracing::warn!(error = %err, "embedded object store: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = service.clone();
                let fallback = fallback.clone();
                connections.spawn(async move {
                    let io = TokioIo::new(stream);
                    let handler = hyper::service::service_fn(move |request| {
                        let (service, fallback) = (service.clone(), fallback.clone());
                        async move { answer(&service, fallback.as_ref(), request).await }
                    });
                    if let Err(err) = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(io, handler)
                        .await
                    {
                        tracing::debug!(%peer, error = %err, "embedded object store: connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
    tracing::info!("embedded object store stopped");
}

/// The store's answer, or for a missing derivative the API's.
async fn answer(
    service: &S3Service,
    fallback: Option<&DerivativeFallback>,
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<s3s::Body>, s3s::HttpError> {
    let derivative = fallback.and_then(|f| Some((f, f.target(&request)?)));
    let method = request.method().clone();
    let response = service.call(request.map(s3s::Body::from)).await?;
    match derivative {
        Some((fallback, url)) if response.status() == http::StatusCode::NOT_FOUND => {
            Ok(fallback.fetch(method, &url).await)
        }
        _ => Ok(response),
    }
}

/// A random access key id (20 upper-case letters and digits, starting `IC`) and secret key
/// (40 alphanumerics, ≈ 238 bits) for the embedded store.
pub fn generate_credentials() -> (String, String) {
    let mut rng = rand::thread_rng();
    let access: String = std::iter::repeat_with(|| rng.sample(Alphanumeric))
        .map(|b| char::from(b).to_ascii_uppercase())
        .take(18)
        .collect();
    let secret: String = std::iter::repeat_with(|| rng.sample(Alphanumeric))
        .map(char::from)
        .take(40)
        .collect();
    (format!("IC{access}"), secret)
}
