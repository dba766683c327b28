//! The PicGo-compatible endpoint (`POST /upload` on 127.0.0.1:36677), so Typora, Obsidian and
//! other PicGo clients upload through imgcloud unchanged.
//!
//! The protocol is PicGo's built-in server's:
//! - `POST /upload` with `{"list":["/abs/a.png", …]}` uploads those files and answers
//!   `{"success":true,"result":[link, …]}` in input order. When any file fails:
//!   `{"success":false,"message":"<file>: <reason>; …","result":[links of the others]}`.
//! - `POST /upload` with no body, an empty body, no `list` or an empty list uploads the image on
//!   the clipboard (saved first as `clipboard-<UTC time>.png` in the clipboard folder).
//! - `POST /heartbeat` answers `{"success":true,"result":"alive"}`.
//!
//! PicGo clients read the JSON, not the status, so upload failures are HTTP 200 with
//! `success:false`. The endpoint has no authentication, so it listens on loopback only and
//! refuses requests a web page could forge: a `Host` other than a loopback name (DNS
//! rebinding) and an `Origin` of a web site (`http(s)://` other than localhost, or `null`).
//! Desktop apps (Typora, Obsidian's `app://` origin, curl) send neither.
//!
//! Loopback is shared by every account on the machine, so on Linux a request is served only
//! when its connection belongs to the daemon's own OS user (looked up like identd, see
//! [`crate::peer_owner`]); anyone else gets a bare 403 `forbidden`. Where the owner of a
//! connection cannot be looked up (macOS, Windows), the user opts in to a key
//! (`imgcloud picgo key`, kept in the OS keyring): PicGo clients then call
//! `/upload?key=KEY`, as PicGo's own server expects, and a request without it gets the same
//! bare 403. A key, once made, is required on every system.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::control::Control;

/// How long requests in progress may finish after shutdown starts (uploads can be slow).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long the key read from the keyring stands: `imgcloud picgo key` takes effect within it.
const KEY_RECHECK: Duration = Duration::from_secs(5);

/// The key as read: `None` when no key was made, an error when it could not be read.
type KeyRead = Result<Option<String>, String>;

/// Where the endpoint finds its key.
pub struct KeySource {
    load: Arc<dyn Fn() -> KeyRead + Send + Sync>,
    cached: tokio::sync::Mutex<Option<(std::time::Instant, KeyRead)>>,
}

impl KeySource {
    /// The key `imgcloud picgo key` keeps for these directories (OS keyring, else the
    /// credentials file).
    pub fn of(dirs: imgcloud_core::paths::Dirs) -> Self {
        use imgcloud_core::secrets::{self, OsKeyring, SecretsError};
        Self::with(move || {
            secrets::load_picgo_key_with(&dirs, &OsKeyring).map_err(|e| match e {
                SecretsError::PicgoKeyUnreadable => e.to_string(),
                // A parse error may quote a line of the file, which holds secrets: its path only.
                SecretsError::File(_) => {
                    format!("{} cannot be read", dirs.credentials_file().display())
                }
            })
        })
    }

    pub fn with(load: impl Fn() -> KeyRead + Send + Sync + 'static) -> Self {
        Self {
            load: Arc::new(load),
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The key in force (read again after [`KEY_RECHECK`]); an error when it cannot be read,
    /// and then every request is refused.
    async fn current(&self) -> KeyRead {
        let mut cached = self.cached.lock().await;
        if let Some((at, value)) = cached.as_ref()
            && at.elapsed() < KEY_RECHECK
        {
            return value.clone();
        }
        // The keyring blocks: off the async threads.
        let load = self.load.clone();
        let value = tokio::task::spawn_blocking(move || load())
            .await
            .unwrap_or_else(|e| Err(format!("reading the key failed: {e}")));
        *cached = Some((std::time::Instant::now(), value.clone()));
        value
    }
}

/// Serves the endpoint on `listen` (loopback only) until `shutdown` resolves. Clipboard images
/// are saved under `clipboard_dir` before they are uploaded.
pub async fn serve(
    listen: SocketAddr,
    control: Arc<dyn Control>,
    clipboard_dir: PathBuf,
    key: KeySource,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = bind(listen).await?;
    serve_on(listener, control, clipboard_dir, key, shutdown).await
}

/// Listens on `listen`, which must be a loopback address (port 0 picks a free port; see
/// [`TcpListener::local_addr`]).
pub async fn bind(listen: SocketAddr) -> anyhow::Result<TcpListener> {
    if !listen.ip().is_loopback() {
        bail!(
            "the PicGo endpoint cannot listen on {listen}: it has no authentication, so it only \
             listens on a loopback address such as {} (set picgo_listen in daemon.toml)",
            imgcloud_core::daemon_config::DEFAULT_PICGO_LISTEN
        );
    }
    TcpListener::bind(listen).await.with_context(|| {
        format!(
            "the PicGo endpoint cannot listen on {listen} (is PicGo itself, or another imgcloudd, \
             running? set picgo_listen to another port or picgo = false in daemon.toml)"
        )
    })
}

/// Serves the endpoint on an already bound listener until `shutdown` resolves.
pub async fn serve_on(
    listener: TcpListener,
    control: Arc<dyn Control>,
    clipboard_dir: PathBuf,
    key: KeySource,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let local = listener.local_addr().ok();
    if let Some(addr) = local {
        tracing::info!(%addr, "PicGo endpoint listening");
    }
    if !cfg!(target_os = "linux") && matches!(key.current().await, Ok(None)) {
        tracing::warn!(
            "any local account can upload through the PicGo endpoint on this system: `imgcloud picgo key` makes a key PicGo clients must send"
        );
    }
    let gate = Arc::new(Gate { local, key });
    let app = axum::Router::new()
        .route("/upload", post(upload))
        .route("/heartbeat", post(heartbeat))
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(Answer::failed(
                    "no such route: PicGo clients POST to /upload".into(),
                    Vec::new(),
                )),
            )
        })
        .with_state(Arc::new(Ctx {
            control,
            clipboard_dir,
        }))
        .layer(axum::middleware::from_fn_with_state(gate, only_this_user));
    let stop = CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    let graceful = stop.clone();
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move { graceful.cancelled().await });
    tokio::select! {
        result = server => result.context("the PicGo endpoint failed"),
        () = async {
            stop.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("PicGo uploads still running after {SHUTDOWN_GRACE:?}; closing them");
            Ok(())
        }
    }
}

struct Ctx {
    control: Arc<dyn Control>,
    clipboard_dir: PathBuf,
}

/// What a request must pass before it is served.
struct Gate {
    local: Option<SocketAddr>,
    key: KeySource,
}

/// Lets through only connections of this process's OS user (Linux) that carry the key, when
/// one was made; see the module docs. The refusal says nothing of why.
async fn only_this_user(
    State(gate): State<Arc<Gate>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let refused = if !peer_is_this_user(gate.local, peer) {
        Some("from another OS account")
    } else {
        match gate.key.current().await {
            Ok(None) => None,
            Ok(Some(expected)) => {
                let given = request.uri().query().and_then(|query| {
                    url::form_urlencoded::parse(query.as_bytes())
                        .find(|(name, _)| name == "key")
                        .map(|(_, value)| value.into_owned())
                });
                match given {
                    Some(given) if imgcloud_core::secrets::same_secret(&expected, &given) => None,
                    Some(_) => Some("with a wrong key"),
                    None => Some("without the key"),
                }
            }
            Err(e) => {
                tracing::warn!("cannot read the PicGo key: {e}");
                Some("while the key cannot be read")
            }
        }
    };
    if refused.is_none() {
        return next.run(request).await;
    }
    tracing::warn!(%peer, "PicGo request {} refused", refused.unwrap_or_default());
    (
        StatusCode::FORBIDDEN,
        Json(Answer::failed("forbidden".into(), Vec::new())),
    )
        .into_response()
}

#[cfg(target_os = "linux")]
fn peer_is_this_user(local: Option<SocketAddr>, peer: SocketAddr) -> bool {
    use crate::peer_owner::{own_uid, uid_of_peer};
    match (local, own_uid()) {
        (Some(local), Some(me)) => uid_of_peer(local, peer) == Some(me),
        _ => false,
    }
}

/// Elsewhere the owner of a loopback connection cannot be looked up: loopback only.
#[cfg(not(target_os = "linux"))]
fn peer_is_this_user(_local: Option<SocketAddr>, _peer: SocketAddr) -> bool {
    true
}

/// PicGo's answer.
#[derive(Debug, Serialize)]
struct Answer {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Vec<String>>,
}

impl Answer {
    fn ok(links: Vec<String>) -> Self {
        Self {
            success: true,
            message: None,
            result: Some(links),
        }
    }

    /// A failure; the links that did work are kept when there are any.
    fn failed(message: String, links: Vec<String>) -> Self {
        Self {
            success: false,
            message: Some(message),
            result: (!links.is_empty()).then_some(links),
        }
    }
}

async fn heartbeat() -> Json<serde_json::Value> {
    Json(serde_json::json!({"success": true, "result": "alive"}))
}

async fn upload(
    State(ctx): State<Arc<Ctx>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(message) = check_caller(&headers) {
        tracing::warn!("PicGo request refused: {message}");
        return (
            StatusCode::FORBIDDEN,
            Json(Answer::failed(message, Vec::new())),
        )
            .into_response();
    }
    let answer = match body {
        Err(e) => Answer::failed(format!("cannot read the request body: {e}"), Vec::new()),
        Ok(body) => match imgcloud_core::picgo_request::parse(&body) {
            Err(message) => Answer::failed(message, Vec::new()),
            Ok(paths) if paths.is_empty() => upload_clipboard(&ctx).await,
            Ok(paths) => upload_paths(&ctx, paths).await,
        },
    };
    Json(answer).into_response()
}

/// Uploads the files; relative paths fail on their own without stopping the others.
async fn upload_paths(ctx: &Ctx, paths: Vec<String>) -> Answer {
    let absolute: Vec<PathBuf> = paths
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .collect();
    let mut uploaded = ctx.control.upload_files(absolute).await.into_iter();
    let mut links = Vec::new();
    let mut failures = Vec::new();
    for path in &paths {
        let outcome = if Path::new(path).is_absolute() {
            uploaded
                .next()
                .unwrap_or_else(|| Err("the daemon gave no answer for this file".into()))
        } else {
            Err("not an absolute path (PicGo clients send absolute paths)".into())
        };
        match outcome {
            Ok(link) => links.push(link),
            Err(reason) => failures.push(format!("{path}: {reason}")),
        }
    }
    if failures.is_empty() {
        Answer::ok(links)
    } else {
        tracing::warn!("PicGo upload failed: {}", failures.join("; "));
        Answer::failed(failures.join("; "), links)
    }
}

async fn upload_clipboard(ctx: &Ctx) -> Answer {
    let dir = ctx.clipboard_dir.clone();
    let saved = tokio::task::spawn_blocking(move || {
        let image = read_clipboard_image().map_err(|detail| {
            format!("no image on the clipboard: copy an image first ({detail})")
        })?;
        save_png(&dir, &image)
    })
    .await
    .unwrap_or_else(|e| Err(format!("reading the clipboard failed: {e}")));
    match saved {
        Err(message) => Answer::failed(message, Vec::new()),
        Ok(path) => upload_paths(ctx, vec![path.display().to_string()]).await,
    }
}

/// The image on the system clipboard, or why there is none.
fn read_clipboard_image() -> Result<arboard::ImageData<'static>, String> {
    let mut clipboard =
        arboard::Clipboard::new().map_err(|e| format!("no clipboard is available: {e}"))?;
    clipboard.get_image().map_err(|e| match e {
        arboard::Error::ContentNotAvailable => "the clipboard holds no image".to_string(),
        other => other.to_string(),
    })
}

/// Writes an RGBA clipboard image as `clipboard-<UTC time>.png` in `dir` (created when
/// missing); never overwrites an earlier one.
fn save_png(dir: &Path, image: &arboard::ImageData<'_>) -> Result<PathBuf, String> {
    use image::ImageEncoder as _;
    let width = u32::try_from(image.width).map_err(|_| "the clipboard image is too wide")?;
    let height = u32::try_from(image.height).map_err(|_| "the clipboard image is too tall")?;
    if image.bytes.len() != image.width * image.height * 4 {
        return Err(format!(
            "the clipboard image is malformed ({} bytes for {width}×{height} RGBA)",
            image.bytes.len()
        ));
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&image.bytes, width, height, image::ExtendedColorType::Rgba8)
        .map_err(|e| format!("cannot encode the clipboard image as PNG: {e}"))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the clipboard folder {}: {e}", dir.display()))?;
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .map_err(|e| e.to_string())?;
    for n in 1..1000 {
        let name = if n == 1 {
            format!("clipboard-{stamp}.png")
        } else {
            format!("clipboard-{stamp}-{n}.png")
        };
        let path = dir.join(name);
        match std::fs::File::create_new(&path) {
            Ok(mut file) => {
                use std::io::Write as _;
                return file
                    .write_all(&png)
                    .and_then(|()| file.sync_all())
                    .map(|()| path.clone())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
        }
    }
    Err(format!(
        "too many clipboard images named clipboard-{stamp}… in {}",
        dir.display()
    ))
}

/// Refuses what a web page could send: a non-loopback `Host` (DNS rebinding) or a web `Origin`.
fn check_caller(headers: &HeaderMap) -> Result<(), String> {
    if let Some(host) = headers.get(header::HOST) {
        let host = host.to_str().unwrap_or("");
        if !is_loopback_host(host) {
            return Err(format!(
                "Host `{host}` refused: the PicGo endpoint only answers requests addressed to localhost"
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let web = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        let refused = match web {
            Some(rest) => !is_loopback_host(rest.split('/').next().unwrap_or("")),
            None => origin == "null",
        };
        if refused {
            return Err(format!(
                "requests from web pages (Origin `{origin}`) are refused: only local apps may upload"
            ));
        }
    }
    Ok(())
}

/// `localhost`, `127.0.0.1:36677`, `[::1]:36677`, …
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;
    use crate::ipc::fake_control::FakeControl;

    struct Running {
        url: String,
        control: Arc<FakeControl>,
        clipboard_dir: PathBuf,
        dir: tempfile::TempDir,
        _stop: oneshot::Sender<()>,
    }

    async fn start() -> Running {
        start_with_key(None).await
    }

    async fn start_with_key(key: Option<&str>) -> Running {
        let key = key.map(str::to_string);
        let dir = tempfile::tempdir().unwrap();
        let clipboard_dir = dir.path().join("clipboard");
        let control = Arc::new(FakeControl::new());
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve_on(
            listener,
            control.clone(),
            clipboard_dir.clone(),
            KeySource::with(move || Ok(key.clone())),
            async move {
                let _ = stopped.await;
            },
        ));
        Running {
            url,
            control,
            clipboard_dir,
            dir,
            _stop: stop,
        }
    }

    async fn post(url: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let mut request = reqwest::Client::new().post(url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    fn headless() -> bool {
        std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none()
    }

    #[tokio::test]
    async fn a_typora_request_gets_its_links_in_order() {
        let server = start().await;
        let files: Vec<PathBuf> = ["b first.png", "a second.jpg", "c third.gif"]
            .iter()
            .map(|name| {
                let path = server.dir.path().join(name);
                std::fs::write(&path, b"image bytes").unwrap();
                path
            })
            .collect();
        let body = serde_json::json!({ "list": files }).to_string();
        let (status, answer) = post(&format!("{}/upload", server.url), Some(&body)).await;
        assert_eq!(status, 200);
        assert_eq!(answer["success"], true, "{answer}");
        let links: Vec<&str> = answer["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            links,
            [
                "http://cdn.test/i/b first.png",
                "http://cdn.test/i/a second.jpg",
                "http://cdn.test/i/c third.gif"
            ]
        );
        assert_eq!(*server.control.uploaded.lock().unwrap(), files);
    }

    #[tokio::test]
    async fn failures_are_named_and_the_other_links_kept() {
        let server = start().await;
        let good = server.dir.path().join("good.png");
        std::fs::write(&good, b"x").unwrap();
        let missing = server.dir.path().join("missing.png");
        let body = serde_json::json!({ "list": [missing, good, "relative.png"] }).to_string();
        let (status, answer) = post(&format!("{}/upload", server.url), Some(&body)).await;
        assert_eq!(status, 200, "PicGo clients read the JSON");
        assert_eq!(answer["success"], false, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{}: cannot read it", missing.display())),
            "{message}"
        );
        assert!(
            message.contains("relative.png: not an absolute path"),
            "{message}"
        );
        assert_eq!(message.matches("; ").count(), 1, "{message}");
        assert_eq!(
            answer["result"],
            serde_json::json!(["http://cdn.test/i/good.png"])
        );
        // The relative path never reached the daemon.
        assert_eq!(*server.control.uploaded.lock().unwrap(), [missing, good]);
    }

    #[tokio::test]
    async fn bad_bodies_are_explained() {
        let server = start().await;
        let url = format!("{}/upload", server.url);
        let (status, answer) = post(&url, Some("{list: nope")).await;
        assert_eq!(status, 200);
        assert_eq!(answer["success"], false);
        assert!(
            answer["message"].as_str().unwrap().contains("not JSON"),
            "{answer}"
        );
        let (_, answer) = post(&url, Some(r#"{"list":"/a.png"}"#)).await;
        assert!(
            answer["message"].as_str().unwrap().contains("`list`"),
            "{answer}"
        );
        let (_, answer) = post(&url, Some(r#"{"list":[3]}"#)).await;
        assert!(
            answer["message"].as_str().unwrap().contains("list[0]"),
            "{answer}"
        );
        assert!(server.control.uploaded.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn no_list_means_the_clipboard_and_headless_says_so() {
        if !headless() {
            eprintln!("skipped: a display is available, the clipboard is the user's");
            return;
        }
        let server = start().await;
        let url = format!("{}/upload", server.url);
        for body in [None, Some(""), Some("{}"), Some(r#"{"list":[]}"#)] {
            let (status, answer) = post(&url, body).await;
            assert_eq!(status, 200, "{body:?}");
            assert_eq!(answer["success"], false, "{body:?}: {answer}");
            let message = answer["message"].as_str().unwrap();
            assert!(
                message.starts_with("no image on the clipboard: copy an image first ("),
                "{message}"
            );
            assert!(answer.get("result").is_none(), "{answer}");
        }
        assert!(server.control.uploaded.lock().unwrap().is_empty());
        assert!(!server.clipboard_dir.exists());
    }

    #[tokio::test]
    async fn web_pages_are_refused() {
        let server = start().await;
        let good = server.dir.path().join("good.png");
        std::fs::write(&good, b"x").unwrap();
        let body = serde_json::json!({ "list": [good] }).to_string();
        let client = reqwest::Client::new();
        let url = format!("{}/upload", server.url);
        for origin in ["https://evil.example", "null"] {
            let response = client
                .post(&url)
                .header("origin", origin)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 403, "{origin}");
        }
        let response = client
            .post(&url)
            .header("host", "evil.example:36677")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert!(server.control.uploaded.lock().unwrap().is_empty());
        // Obsidian's app origin is a local app.
        let response = client
            .post(&url)
            .header("origin", "app://obsidian.md")
            .body(body)
            .send()
            .await
            .unwrap();
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["success"], true, "{answer}");
    }

    /// Another local account (`nobody`) asks the endpoint to upload a file this user can read:
    /// refused with a bare 403, nothing uploaded. Needs root to act as `nobody` (CI runs so);
    /// elsewhere it says why it checks nothing.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_os_account_is_refused() {
        if crate::peer_owner::own_uid() != Some(0) {
            eprintln!("skipped: acting as another OS account needs root");
            return;
        }
        let running = start().await;
        let secret = running.dir.path().join("private.png");
        std::fs::write(&secret, b"\x89PNG\r\n\x1a\n").unwrap();
        let body = serde_json::json!({ "list": [secret] }).to_string();
        let url = format!("{}/upload", running.url);
        let output = tokio::process::Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "curl",
                "-s",
                "-w",
                "\n%{http_code}",
                "-X",
                "POST",
                "-H",
                "content-type: application/json",
                "--data",
                &body,
                &url,
            ])
            .output()
            .await
            .expect("setpriv and curl run");
        let text = String::from_utf8_lossy(&output.stdout);
        let (answer, status) = text.rsplit_once('\n').expect("curl printed the status");
        assert_eq!(status, "403", "{text}");
        let answer: serde_json::Value = serde_json::from_str(answer).unwrap();
        assert_eq!(answer["success"], false);
        assert_eq!(answer["message"], "forbidden");
        assert!(
            running.control.uploaded.lock().unwrap().is_empty(),
            "nothing uploaded"
        );
        // the daemon's own user still gets through
        let (status, answer) = post(&format!("{}/heartbeat", running.url), None).await;
        assert_eq!((status, answer["success"].as_bool()), (200, Some(true)));
    }

    /// With a key made (`imgcloud picgo key`), a request without it or with a wrong one gets
    /// the bare 403 and uploads nothing; `?key=KEY` is served.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_a_key_only_requests_carrying_it_are_served() {
        let running = start_with_key(Some("s3cretKEY0123456789abcdefABCDEFgh")).await;
        let file = running.dir.path().join("a.png");
        std::fs::write(&file, b"image bytes").unwrap();
        let body = serde_json::json!({ "list": [file] }).to_string();
        for url in [
            format!("{}/upload", running.url),
            format!("{}/upload?key=wrong", running.url),
            format!("{}/upload?key=", running.url),
            format!("{}/heartbeat", running.url),
        ] {
            let (status, answer) = post(&url, Some(&body)).await;
            assert_eq!(status, 403, "{url}");
            assert_eq!(answer["message"], "forbidden", "{url}");
        }
        assert!(running.control.uploaded.lock().unwrap().is_empty());
        let url = format!(
            "{}/upload?key=s3cretKEY0123456789abcdefABCDEFgh",
            running.url
        );
        let (status, answer) = post(&url, Some(&body)).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["success"], true, "{answer}");
        assert_eq!(running.control.uploaded.lock().unwrap().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_key_that_cannot_be_read_refuses_everything() {
        let dir = tempfile::tempdir().unwrap();
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = format!("http://{}/heartbeat", listener.local_addr().unwrap());
        let (_stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(serve_on(
            listener,
            Arc::new(FakeControl::new()),
            dir.path().join("clipboard"),
            KeySource::with(|| Err("the credentials file is damaged".into())),
            async move {
                let _ = stopped.await;
            },
        ));
        let (status, answer) = post(&url, None).await;
        assert_eq!(
            (status, &answer["message"]),
            (403, &serde_json::json!("forbidden"))
        );
    }

    #[tokio::test]
    async fn heartbeat_and_non_loopback_addresses() {
        let server = start().await;
        let (status, answer) = post(&format!("{}/heartbeat", server.url), None).await;
        assert_eq!(
            (status, &answer["result"]),
            (200, &serde_json::json!("alive"))
        );
        let err = bind("0.0.0.0:0".parse().unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("loopback") && err.contains("0.0.0.0"), "{err}");
    }

    #[test]
    fn clipboard_images_are_saved_as_png_without_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("shots");
        let pixels: Vec<u8> = (0..2 * 3).flat_map(|i| [i * 40, 10, 200, 255]).collect();
        let image = arboard::ImageData {
            width: 2,
            height: 3,
            bytes: pixels.clone().into(),
        };
        let first = save_png(&target, &image).unwrap();
        let second = save_png(&target, &image).unwrap();
        assert_ne!(first, second);
        let name = first.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.starts_with("clipboard-") && name.ends_with("Z.png") && name.len() == 30,
            "{name}"
        );
        let decoded = image::open(&first).unwrap().to_rgba8();
        assert_eq!((decoded.width(), decoded.height()), (2, 3));
        assert_eq!(decoded.into_raw(), pixels);

        let bad = arboard::ImageData {
            width: 5,
            height: 5,
            bytes: vec![0; 7].into(),
        };
        assert!(save_png(&target, &bad).unwrap_err().contains("malformed"));
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "localhost:36677", "127.0.0.1:1", "[::1]:36677"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "10.0.0.1:36677",
            "localhost.evil.example",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
