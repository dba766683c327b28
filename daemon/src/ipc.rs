//! The local IPC server: HTTP/JSON on a Unix socket (mode 0600) in the runtime directory.
//! Routes: `imgcloud_core::daemon_api`.
//!
//! Start-up is careful about the socket file:
//! - the runtime directory is created with mode 0700 when missing;
//! - a lock file next to the socket (`imgcloudd.sock.lock`, held for the daemon's life) makes a
//!   second daemon on the same directories fail at once, even when both start together;
//! - a socket file nobody answers on is stale (a crash or `kill -9`) and is replaced; one a
//!   daemon answers on is never touched;
//! - the socket is bound under a temporary name, made 0600, then renamed into place, so it is
//!   never reachable with wider permissions; it is removed on the way out if it is still ours.
//!
//! `GET /v1/events` streams until the client leaves or the server shuts down; a client too slow
//! to keep up loses the events it missed (logged), never the stream.

use std::convert::Infallible;
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use imgcloud_core::api::{ErrorBody, ErrorDetail};
use imgcloud_core::daemon_api::{
    EnqueueRequest, EnqueueResponse, FileState, Status, WatchRemoveRequest, WatchedFolder,
};
use imgcloud_core::daemon_client::DaemonClient;
use serde::Deserialize;
use tokio::net::UnixListener;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::control::{Control, ControlError};

#[cfg(test)]
#[path = "fake_control.rs"]
pub(crate) mod fake_control;

/// Longest socket path the kernel accepts (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;
/// Rows of `GET /v1/queue` without `limit`.
const DEFAULT_QUEUE_LIMIT: usize = 100;
/// Rows of `GET /v1/errors` without `limit`.
const DEFAULT_ERRORS_LIMIT: usize = 20;
/// Most rows one request returns.
const MAX_LIMIT: usize = 10_000;
/// How long requests in progress may finish after shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Binds the socket (replacing a stale one, refusing when another daemon answers on it) and
/// serves until `shutdown` resolves; removes the socket file on the way out.
pub async fn serve(
    socket: &Path,
    control: Arc<dyn Control>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    bind(socket).await?.serve(control, shutdown).await
}

/// A bound IPC socket, not serving yet (so the daemon can fail early, before it starts work).
#[derive(Debug)]
pub struct IpcSocket {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of our socket file, to remove only our own on the way out.
    identity: (u64, u64),
    /// Held while the socket lives: the single-instance lock.
    _lock: File,
}

/// Creates the runtime directory, takes the single-instance lock, clears a stale socket and
/// binds a fresh one with mode 0600.
pub async fn bind(socket: &Path) -> anyhow::Result<IpcSocket> {
    let len = socket.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        bail!(
            "the socket path {} is {len} bytes long, more than the {MAX_SOCKET_PATH} a Unix socket allows; \
             set IMGCLOUD_RUNTIME_DIR to a shorter directory",
            socket.display()
        );
    }
    let dir = socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .with_context(|| format!("the socket path {} has no directory", socket.display()))?;
    let name = socket
        .file_name()
        .with_context(|| format!("the socket path {} has no file name", socket.display()))?;
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the runtime directory {}", dir.display()))?;
    }

    let mut lock_name = name.to_os_string();
    lock_name.push(".lock");
    let lock_path = dir.join(lock_name);
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open the lock file {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!("{}", already_running(socket).await);
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()));
        }
    }

    match std::fs::symlink_metadata(socket) {
        Ok(meta) if !meta.file_type().is_socket() => bail!(
            "{} exists and is not a socket; move it away so imgcloudd can listen there",
            socket.display()
        ),
        Ok(_) => {
            if tokio::net::UnixStream::connect(socket).await.is_ok() {
                bail!("{}", already_running(socket).await);
            }
            tracing::info!(socket = %socket.display(), "replacing a stale socket");
            std::fs::remove_file(socket)
                .with_context(|| format!("cannot remove the stale socket {}", socket.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", socket.display())),
    }

    // Bind under a short temporary name (shorter than the real one, so it fits whenever the
    // real one does), restrict it, then move it into place.
    let temp = dir.join(format!(".{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let listener = UnixListener::bind(&temp)
        .with_context(|| format!("cannot listen on {}", temp.display()))?;
    let placed = std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} private (mode 0600)", temp.display()))
        .and_then(|()| {
            std::fs::rename(&temp, socket)
                .with_context(|| format!("cannot move {} to {}", temp.display(), socket.display()))
        });
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    let meta = std::fs::symlink_metadata(socket)
        .with_context(|| format!("cannot inspect {}", socket.display()))?;
    tracing::info!(socket = %socket.display(), "IPC listening");
    Ok(IpcSocket {
        listener,
        path: socket.to_path_buf(),
        identity: (meta.dev(), meta.ino()),
        _lock: lock,
    })
}

/// The message for a socket another daemon answers on (with its pid when it says).
async fn already_running(socket: &Path) -> String {
    let client = DaemonClient::new(socket.to_path_buf()).with_timeout(Duration::from_secs(2));
    match client.status().await {
        Ok(status) => format!(
            "another imgcloudd is running (pid {}, socket {}); stop it first or give this one \
             other directories (IMGCLOUD_RUNTIME_DIR)",
            status.pid,
            socket.display()
        ),
        Err(_) => format!(
            "another imgcloudd is running (socket {}); stop it first or give this one other \
             directories (IMGCLOUD_RUNTIME_DIR)",
            socket.display()
        ),
    }
}

impl IpcSocket {
    /// Where it listens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves until `shutdown` resolves, then gives requests in progress a few seconds, ends
    /// the event streams and removes the socket file.
    pub async fn serve(
        self,
        control: Arc<dyn Control>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let app = router(control, stop.clone());
        let trigger = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            trigger.cancel();
        });
        let graceful = stop.clone();
        let server = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { graceful.cancelled().await });
        let result = tokio::select! {
            result = server => result.context("the IPC server failed"),
            () = async {
                stop.cancelled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => {
                tracing::warn!("IPC requests still running after {SHUTDOWN_GRACE:?}; closing them");
                Ok(())
            }
        };
        stop.cancel();
        remove_if_ours(&self.path, self.identity);
        result
    }
}

/// Removes the socket file unless another process has put its own there since.
fn remove_if_ours(path: &Path, identity: (u64, u64)) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if (meta.dev(), meta.ino()) == identity => {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(socket = %path.display(), "cannot remove the socket: {e}");
            }
        }
        _ => {}
    }
}

#[derive(Clone)]
struct Ctx {
    control: Arc<dyn Control>,
    stop: CancellationToken,
}

fn router(control: Arc<dyn Control>, stop: CancellationToken) -> axum::Router {
    axum::Router::new()
        .route("/v1/status", get(status))
        .route("/v1/queue", get(queue))
        .route("/v1/errors", get(errors))
        .route("/v1/pause", post(pause))
        .route("/v1/resume", post(resume))
        .route("/v1/rescan", post(rescan))
        .route("/v1/enqueue", post(enqueue))
        .route("/v1/events", get(events))
        .route("/v1/watch", get(folders).post(add_folder))
        .route("/v1/watch/remove", post(remove_folder))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .with_state(Ctx { control, stop })
}

/// An error answer in the `{"error":{"code","message"}}` envelope.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::BadRequest(message) => Self::bad_request(message),
            ControlError::Internal(message) => {
                tracing::error!("IPC request failed: {message}");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::bad_request(format!("request body: {}", e.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::bad_request(format!("query string: {}", e.body_text()))
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    state: Option<String>,
    limit: Option<String>,
}

impl ListQuery {
    fn limit(&self, default: usize) -> Result<usize, ApiError> {
        match self.limit.as_deref() {
            None | Some("") => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .map(|n| n.min(MAX_LIMIT))
                .map_err(|_| {
                    ApiError::bad_request(format!(
                        "limit: `{text}` is not a whole number (0 to {MAX_LIMIT})"
                    ))
                }),
        }
    }

    fn state(&self) -> Result<Option<FileState>, ApiError> {
        match self.state.as_deref() {
            None | Some("") => Ok(None),
            Some(text) => FileState::parse(text).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "state: `{text}` is not a queue state; use one of discovered, hashed, \
                     uploading, uploaded, backed_up, failed"
                ))
            }),
        }
    }
}

async fn status(State(ctx): State<Ctx>) -> Json<Status> {
    Json(ctx.control.status())
}

async fn queue(
    State(ctx): State<Ctx>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let entries = ctx
        .control
        .queue(query.state()?, query.limit(DEFAULT_QUEUE_LIMIT)?)?;
    Ok(Json(entries).into_response())
}

async fn errors(
    State(ctx): State<Ctx>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let errors = ctx.control.errors(query.limit(DEFAULT_ERRORS_LIMIT)?)?;
    Ok(Json(errors).into_response())
}

async fn pause(State(ctx): State<Ctx>) -> Json<Status> {
    ctx.control.pause();
    Json(ctx.control.status())
}

async fn resume(State(ctx): State<Ctx>) -> Json<Status> {
    ctx.control.resume();
    Json(ctx.control.status())
}

async fn rescan(State(ctx): State<Ctx>) -> StatusCode {
    ctx.control.rescan();
    StatusCode::ACCEPTED
}

async fn enqueue(
    State(ctx): State<Ctx>,
    body: Result<Json<EnqueueRequest>, JsonRejection>,
) -> Result<Json<EnqueueResponse>, ApiError> {
    let Json(request) = body?;
    let queued = ctx.control.enqueue(request.paths).await?;
    Ok(Json(EnqueueResponse { queued }))
}

async fn folders(State(ctx): State<Ctx>) -> Json<Vec<WatchedFolder>> {
    Json(ctx.control.folders())
}

async fn add_folder(
    State(ctx): State<Ctx>,
    body: Result<Json<WatchedFolder>, JsonRejection>,
) -> Result<Json<Vec<WatchedFolder>>, ApiError> {
    let Json(folder) = body?;
    Ok(Json(ctx.control.add_folder(folder).await?))
}

async fn remove_folder(
    State(ctx): State<Ctx>,
    body: Result<Json<WatchRemoveRequest>, JsonRejection>,
) -> Result<Json<Vec<WatchedFolder>>, ApiError> {
    let Json(request) = body?;
    Ok(Json(ctx.control.remove_folder(&request.path).await?))
}

/// `GET /v1/events`: one JSON event per line, as they happen.
async fn events(State(ctx): State<Ctx>) -> Response {
    let receiver = ctx.control.subscribe();
    let stream = futures::stream::unfold((receiver, ctx.stop), |(mut receiver, stop)| async move {
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return None,
                next = receiver.recv() => next,
            };
            match next {
                Ok(event) => match serde_json::to_vec(&event) {
                    Ok(mut line) => {
                        line.push(b'\n');
                        return Some((Ok::<_, Infallible>(Bytes::from(line)), (receiver, stop)));
                    }
                    Err(e) => tracing::error!("cannot encode an event: {e}"),
                },
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!("an event client was too slow and missed {missed} events");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    (
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use imgcloud_core::daemon_api::Event;
    use imgcloud_core::daemon_client::DaemonClientError;
    use tokio::sync::oneshot;

    use super::fake_control::FakeControl;
    use super::*;

    struct Running {
        _dir: tempfile::TempDir,
        socket: PathBuf,
        control: Arc<FakeControl>,
        client: DaemonClient,
        stop: Option<oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<anyhow::Result<()>>,
    }

    impl Running {
        async fn shut_down(mut self) -> anyhow::Result<()> {
            let _ = self.stop.take().unwrap().send(());
            self.task.await.unwrap()
        }
    }

    /// A server over a fake control on a socket in a fresh runtime dir (which does not exist
    /// yet, so `bind` creates it).
    async fn start() -> Running {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("run").join("imgcloudd.sock");
        let control = Arc::new(FakeControl::new());
        let bound = bind(&socket).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bound.serve(control.clone(), async move {
            let _ = stopped.await;
        }));
        Running {
            client: DaemonClient::new(socket.clone()),
            _dir: dir,
            socket,
            control,
            stop: Some(stop),
            task,
        }
    }

    fn api_code(err: DaemonClientError) -> (u16, String, String) {
        match err {
            DaemonClientError::Api {
                status,
                code,
                message,
            } => (status, code, message),
            other => panic!("not an API error: {other:?}"),
        }
    }

    #[tokio::test]
    async fn every_route_works_through_the_client() {
        let server = start().await;
        let client = &server.client;

        let status = client.status().await.unwrap();
        assert_eq!(status.pid, std::process::id());
        assert!(!status.paused);
        assert_eq!(status.in_flight[0].bytes_done, 50);

        assert!(client.pause().await.unwrap().paused);
        assert!(server.control.paused.load(Ordering::SeqCst));
        assert!(!client.resume().await.unwrap().paused);

        client.rescan().await.unwrap();
        client.rescan().await.unwrap();
        assert_eq!(server.control.rescans.load(Ordering::SeqCst), 2);

        let all = client.queue(None, 100).await.unwrap();
        assert_eq!(all.len(), 3);
        let discovered = client.queue(Some(FileState::Discovered), 1).await.unwrap();
        assert_eq!(discovered.len(), 1);
        assert_eq!(discovered[0].path, PathBuf::from("/pics/a.png"));
        let uploading = client.queue(Some(FileState::Uploading), 10).await.unwrap();
        assert_eq!(uploading[0].path, PathBuf::from("/pics/b.png"));

        let errors = client.errors(1).await.unwrap();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].code, "not_an_image");

        let queued = client
            .enqueue(vec!["/x/a.png".into(), "/x/dir".into()])
            .await
            .unwrap();
        assert_eq!(queued.queued, 2);
        assert_eq!(server.control.enqueued.lock().unwrap().len(), 2);
        let (status, code, message) =
            api_code(client.enqueue(vec!["rel.png".into()]).await.unwrap_err());
        assert_eq!((status, code.as_str()), (400, "bad_request"));
        assert!(message.contains("rel.png"), "{message}");

        assert_eq!(client.folders().await.unwrap().len(), 1);
        let mut folder = WatchedFolder::new("/shots");
        folder.album = Some("Screens".into());
        let folders = client.add_folder(folder.clone()).await.unwrap();
        assert_eq!(folders.len(), 2);
        assert_eq!(folders[1], folder);
        let folders = client.remove_folder(Path::new("/pics")).await.unwrap();
        assert_eq!(folders, vec![folder]);
        let (status, _, message) = api_code(
            client
                .remove_folder(Path::new("/nowhere"))
                .await
                .unwrap_err(),
        );
        assert_eq!(status, 400);
        assert!(message.contains("/nowhere"), "{message}");

        server.shut_down().await.unwrap();
    }

    #[tokio::test]
    async fn bad_queries_and_bodies_get_envelopes_naming_the_problem() {
        let server = start().await;
        let raw = |uri: &str| {
            let client = DaemonClient::new(server.socket.clone());
            let uri = uri.to_string();
            async move {
                // The typed client cannot send a bad state; go one level down.
                client_get(&client, &uri).await
            }
        };
        let (status, body) = raw("/v1/queue?state=done").await;
        assert_eq!(status, 400);
        let body: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.error.code, "bad_request");
        assert!(
            body.error.message.contains("state")
                && body.error.message.contains("done")
                && body.error.message.contains("backed_up"),
            "{}",
            body.error.message
        );
        let (status, body) = raw("/v1/errors?limit=many").await;
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains("limit"));
        let (status, body) = raw("/v1/nothing").await;
        assert_eq!(status, 404);
        assert!(serde_json::from_slice::<ErrorBody>(&body).is_ok());

        let (status, body) = client_post(
            &server.socket,
            "/v1/watch",
            br#"{"path":"/x","recusive":false}"#,
        )
        .await;
        assert_eq!(status, 400);
        let body: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert!(
            body.error.message.contains("recusive"),
            "{}",
            body.error.message
        );
        server.shut_down().await.unwrap();
    }

    /// A raw GET over the socket: (status, body).
    async fn client_get(client: &DaemonClient, uri: &str) -> (u16, Vec<u8>) {
        raw_request(client.socket(), "GET", uri, b"").await
    }

    async fn client_post(socket: &Path, uri: &str, body: &[u8]) -> (u16, Vec<u8>) {
        raw_request(socket, "POST", uri, body).await
    }

    async fn raw_request(socket: &Path, method: &str, uri: &str, body: &[u8]) -> (u16, Vec<u8>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
        let head = format!(
            "{method} {uri} HTTP/1.1\r\nHost: imgcloudd\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let text = String::from_utf8_lossy(&answer).to_string();
        let status: u16 = text[9..12].parse().unwrap();
        let split = text.find("\r\n\r\n").unwrap() + 4;
        let mut body = answer[split..].to_vec();
        if text[..split]
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        (status, body)
    }

    fn dechunk(mut data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                    .unwrap();
            if size == 0 {
                return out;
            }
            out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
            data = &data[line_end + 2 + size + 2..];
        }
    }

    #[tokio::test]
    async fn socket_is_private_in_a_private_directory_and_removed_on_shutdown() {
        let server = start().await;
        let meta = std::fs::symlink_metadata(&server.socket).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir = std::fs::metadata(server.socket.parent().unwrap()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
        // No temporary socket is left behind.
        let names: Vec<_> = std::fs::read_dir(server.socket.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(
            names.iter().all(|n| !n.starts_with('.')),
            "left over: {names:?}"
        );
        let socket = server.socket.clone();
        server.shut_down().await.unwrap();
        assert!(!socket.exists(), "the socket is removed on shutdown");
        let err = DaemonClient::new(socket).status().await.unwrap_err();
        assert!(
            matches!(err, DaemonClientError::NotRunning { .. }),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("imgcloudd.sock");
        // What a killed daemon leaves behind: a socket file nobody listens on.
        drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
        let bound = bind(&socket).await.unwrap();
        // A fresh socket (inode numbers may be reused, modes tell them apart).
        let mode = std::fs::symlink_metadata(&socket)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bound.serve(Arc::new(FakeControl::new()), async move {
            let _ = stopped.await;
        }));
        DaemonClient::new(socket.clone()).status().await.unwrap();
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_second_server_is_refused_and_leaves_the_first_alone() {
        let server = start().await;
        let err = bind(&server.socket).await.unwrap_err().to_string();
        assert!(
            err.contains("another imgcloudd is running")
                && err.contains(&server.socket.display().to_string())
                && err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        server.client.status().await.unwrap();
        server.shut_down().await.unwrap();
    }

    #[tokio::test]
    async fn a_live_socket_without_the_lock_is_not_taken_over() {
        // Someone (an older daemon, another tool) listens there without our lock file.
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("imgcloudd.sock");
        let _other = UnixListener::bind(&socket).unwrap();
        let err = bind(&socket).await.unwrap_err().to_string();
        assert!(err.contains("another imgcloudd is running"), "{err}");
        assert!(socket.exists());
    }

    #[tokio::test]
    async fn a_regular_file_in_the_way_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("imgcloudd.sock");
        std::fs::write(&socket, b"precious").unwrap();
        let err = bind(&socket).await.unwrap_err().to_string();
        assert!(err.contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&socket).unwrap(), b"precious");
    }

    #[tokio::test]
    async fn events_arrive_in_order_and_the_stream_ends_on_shutdown() {
        let server = start().await;
        let mut events = server.client.events().await.unwrap();
        let sent = vec![
            Event::Discovered {
                path: "/pics/a.png".into(),
                size: 10,
            },
            Event::Progress {
                path: "/pics/a.png".into(),
                bytes_done: 5,
                bytes_total: 10,
            },
            Event::Uploaded {
                path: "/pics/a.png".into(),
                image_id: "abc".into(),
                url: "http://cdn.test/a.png".into(),
                link: "http://cdn.test/a.png".into(),
                existed: false,
            },
            Event::Idle,
        ];
        for event in &sent {
            server.control.events.send(event.clone()).unwrap();
        }
        for expected in &sent {
            let got = tokio::time::timeout(Duration::from_secs(5), events.next())
                .await
                .expect("an event within 5 s")
                .expect("the stream is open")
                .unwrap();
            assert_eq!(&got, expected);
        }
        // Pausing through the API shows up on the stream too.
        server.client.pause().await.unwrap();
        let got = events.next().await.unwrap().unwrap();
        assert_eq!(got, Event::Paused);

        server.shut_down().await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("the stream ends with the server");
        assert!(end.is_none() || matches!(end, Some(Err(_))), "{end:?}");
    }

    #[tokio::test]
    async fn a_lagging_client_skips_but_keeps_its_stream() {
        let server = start().await;
        let mut events = server.client.events().await.unwrap();
        // More than the channel holds (16) before the client reads anything.
        for i in 0..40u64 {
            server
                .control
                .events
                .send(Event::Discovered {
                    path: format!("/pics/{i}.png").into(),
                    size: i,
                })
                .unwrap();
        }
        let first = events.next().await.unwrap().unwrap();
        let Event::Discovered { size, .. } = first else {
            panic!("{first:?}")
        };
        assert!(size > 0, "the oldest events were skipped");
        // The stream is alive: a later event still arrives.
        server.control.events.send(Event::Idle).unwrap();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(5), events.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if event == Event::Idle {
                break;
            }
        }
        server.shut_down().await.unwrap();
    }
}
