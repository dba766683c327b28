//! Client of the sync daemon's local IPC (HTTP/JSON over its Unix socket); see
//! [`crate::daemon_api`] for the routes.
//!
//! One HTTP/1.1 connection per call (the socket is local, a connection costs microseconds), so a
//! [`DaemonClient`] is cheap to clone and holds no state but the socket path. A daemon that is
//! not running (no socket file, or nobody listening on it) is [`DaemonClientError::NotRunning`];
//! the daemon's `{"error":{"code","message"}}` answers are [`DaemonClientError::Api`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

use crate::api::ErrorBody;
use crate::daemon_api::{
    EnqueueRequest, EnqueueResponse, Event, FileError, FileState, QueueEntry, Status,
    WatchRemoveRequest, WatchedFolder,
};
use crate::paths::Dirs;

/// How long connecting to the socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default wait for a whole answer (not for the event stream, which is open-ended).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest event line accepted; a longer one means the peer is not an imgcloud daemon.
const MAX_EVENT_LINE: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DaemonClientError {
    /// Nobody listens on the socket.
    #[error(
        "the imgcloud daemon is not running (no socket at {socket}); start it with `imgcloudd`"
    )]
    NotRunning { socket: PathBuf },
    #[error("talking to the imgcloud daemon at {socket}: {message}")]
    Io { socket: PathBuf, message: String },
    /// The daemon answered with an error envelope.
    #[error("{message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the imgcloud daemon sent an answer this client does not understand: {0}")]
    Decode(String),
}

#[derive(Debug, Clone)]
pub struct DaemonClient {
    socket: PathBuf,
    timeout: Duration,
}

/// Events as they arrive on `GET /v1/events`.
pub struct EventStream {
    body: Incoming,
    buffer: BytesMut,
    socket: PathBuf,
    done: bool,
    /// Drives the HTTP connection; aborted when the stream is dropped.
    connection: JoinHandle<()>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("socket", &self.socket)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl EventStream {
    /// The next event; `None` when the daemon closed the stream.
    ///
    /// A line this client cannot decode (say, an event of a newer daemon) is
    /// `Some(Err(Decode))` and the stream goes on; a broken connection is `Some(Err(Io))`,
    /// after which the stream ends.
    pub async fn next(&mut self) -> Option<Result<Event, DaemonClientError>> {
        loop {
            if let Some(line) = take_line(&mut self.buffer) {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some(decode_event(&line));
            }
            if self.done {
                // A last line without its newline still counts.
                if self.buffer.iter().all(u8::is_ascii_whitespace) {
                    self.buffer.clear();
                    return None;
                }
                let line = self.buffer.split().freeze();
                return Some(decode_event(&line));
            }
            if self.buffer.len() > MAX_EVENT_LINE {
                self.done = true;
                self.buffer.clear();
                return Some(Err(DaemonClientError::Decode(format!(
                    "an event line longer than {MAX_EVENT_LINE} bytes"
                ))));
            }
            match self.body.frame().await {
                None => self.done = true,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    self.buffer.clear();
                    return Some(Err(DaemonClientError::Io {
                        socket: self.socket.clone(),
                        message: format!("the event stream broke: {e}"),
                    }));
                }
            }
        }
    }
}

/// Splits the first complete line (without its `\n`) off `buffer`.
fn take_line(buffer: &mut BytesMut) -> Option<Bytes> {
    let end = buffer.iter().position(|&b| b == b'\n')?;
    let mut line = buffer.split_to(end + 1);
    line.truncate(end);
    Some(line.freeze())
}

fn decode_event(line: &[u8]) -> Result<Event, DaemonClientError> {
    serde_json::from_slice(line).map_err(|e| {
        DaemonClientError::Decode(format!(
            "event line `{}`: {e}",
            String::from_utf8_lossy(&line[..line.len().min(200)])
        ))
    })
}

impl DaemonClient {
    pub fn new(socket: PathBuf) -> Self {
        Self {
            socket,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The daemon of these directories ([`crate::daemon_api::socket_path`]).
    pub fn from_dirs(dirs: &Dirs) -> Self {
        Self::new(crate::daemon_api::socket_path(dirs))
    }

    /// Waits at most `timeout` for each answer (default 2 minutes; the event stream is exempt
    /// once it has started).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub async fn status(&self) -> Result<Status, DaemonClientError> {
        self.json(Method::GET, "/v1/status", None::<&()>).await
    }

    pub async fn queue(
        &self,
        state: Option<FileState>,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, DaemonClientError> {
        let uri = match state {
            Some(state) => format!("/v1/queue?state={}&limit={limit}", state.as_str()),
            None => format!("/v1/queue?limit={limit}"),
        };
        self.json(Method::GET, &uri, None::<&()>).await
    }

    pub async fn errors(&self, limit: usize) -> Result<Vec<FileError>, DaemonClientError> {
        self.json(
            Method::GET,
            &format!("/v1/errors?limit={limit}"),
            None::<&()>,
        )
        .await
    }

    pub async fn pause(&self) -> Result<Status, DaemonClientError> {
        self.json(Method::POST, "/v1/pause", None::<&()>).await
    }

    pub async fn resume(&self) -> Result<Status, DaemonClientError> {
        self.json(Method::POST, "/v1/resume", None::<&()>).await
    }

    pub async fn rescan(&self) -> Result<(), DaemonClientError> {
        let (_, body) = self.call(Method::POST, "/v1/rescan", None::<&()>).await?;
        drop(body);
        Ok(())
    }

    pub async fn enqueue(&self, paths: Vec<PathBuf>) -> Result<EnqueueResponse, DaemonClientError> {
        self.json(Method::POST, "/v1/enqueue", Some(&EnqueueRequest { paths }))
            .await
    }

    pub async fn folders(&self) -> Result<Vec<WatchedFolder>, DaemonClientError> {
        self.json(Method::GET, "/v1/watch", None::<&()>).await
    }

    pub async fn add_folder(
        &self,
        folder: WatchedFolder,
    ) -> Result<Vec<WatchedFolder>, DaemonClientError> {
        self.json(Method::POST, "/v1/watch", Some(&folder)).await
    }

    pub async fn remove_folder(
        &self,
        path: &Path,
    ) -> Result<Vec<WatchedFolder>, DaemonClientError> {
        let request = WatchRemoveRequest {
            path: path.to_path_buf(),
        };
        self.json(Method::POST, "/v1/watch/remove", Some(&request))
            .await
    }

    pub async fn events(&self) -> Result<EventStream, DaemonClientError> {
        let request = self.request(Method::GET, "/v1/events", None::<&()>)?;
        let (mut sender, connection) = self.connect().await?;
        let response = tokio::time::timeout(self.timeout, sender.send_request(request))
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| self.io(format!("GET /v1/events: {e}")))?;
        let (parts, body) = response.into_parts();
        if !parts.status.is_success() {
            let bytes = self.collect(body).await?;
            connection.abort();
            return Err(api_error(parts.status, &bytes));
        }
        Ok(EventStream {
            body,
            buffer: BytesMut::new(),
            socket: self.socket.clone(),
            done: false,
            connection,
        })
    }

    /// One call whose answer is JSON of type `T`.
    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        uri: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, DaemonClientError> {
        let what = format!("{method} {}", uri.split('?').next().unwrap_or(uri));
        let (_, bytes) = self.call(method, uri, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            DaemonClientError::Decode(format!(
                "{what}: {e} (answer: `{}`)",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))
        })
    }

    /// Sends one request and reads the whole answer; error statuses become
    /// [`DaemonClientError::Api`].
    async fn call(
        &self,
        method: Method,
        uri: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(StatusCode, Bytes), DaemonClientError> {
        let request = self.request(method, uri, body)?;
        let exchange = async {
            let (mut sender, connection) = self.connect().await?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| self.io(format!("{uri}: {e}")));
            let result = match response {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    self.collect(body).await.map(|bytes| (parts.status, bytes))
                }
                Err(e) => Err(e),
            };
            connection.abort();
            result
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| self.timed_out())??;
        if !status.is_success() {
            return Err(api_error(status, &bytes));
        }
        Ok((status, bytes))
    }

    fn request(
        &self,
        method: Method,
        uri: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Request<Full<Bytes>>, DaemonClientError> {
        let builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::HOST, "imgcloudd")
            .header(hyper::header::ACCEPT, "application/json");
        let request = match body {
            Some(body) => {
                let json = serde_json::to_vec(body)
                    .map_err(|e| DaemonClientError::Decode(format!("encoding the request: {e}")))?;
                builder
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(json)))
            }
            None => builder.body(Full::new(Bytes::new())),
        };
        request.map_err(|e| self.io(format!("building the request for {uri}: {e}")))
    }

    /// Opens a connection; the returned task drives it.
    async fn connect(
        &self,
    ) -> Result<
        (
            hyper::client::conn::http1::SendRequest<Full<Bytes>>,
            JoinHandle<()>,
        ),
        DaemonClientError,
    > {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(&self.socket))
            .await
            .map_err(|_| self.io(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                    DaemonClientError::NotRunning {
                        socket: self.socket.clone(),
                    }
                }
                _ => self.io(e.to_string()),
            })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.io(e.to_string()))?;
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("daemon connection ended: {e}");
            }
        });
        Ok((sender, task))
    }

    async fn collect(&self, body: Incoming) -> Result<Bytes, DaemonClientError> {
        body.collect()
            .await
            .map(|collected| {
                let mut buf = collected.aggregate();
                buf.copy_to_bytes(buf.remaining())
            })
            .map_err(|e| self.io(format!("reading the answer: {e}")))
    }

    fn io(&self, message: String) -> DaemonClientError {
        DaemonClientError::Io {
            socket: self.socket.clone(),
            message,
        }
    }

    fn timed_out(&self) -> DaemonClientError {
        self.io(format!("no answer within {:?}", self.timeout))
    }
}

/// The daemon's error envelope, or a description of whatever else came back.
fn api_error(status: StatusCode, bytes: &[u8]) -> DaemonClientError {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => DaemonClientError::Api {
            status: status.as_u16(),
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => DaemonClientError::Api {
            status: status.as_u16(),
            code: format!("http_{}", status.as_u16()),
            message: format!(
                "the imgcloud daemon answered {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).trim()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_at_newlines_only() {
        let mut buffer = BytesMut::from(&b"{\"event\":\"idle\"}\n{\"event\":\"pa"[..]);
        assert_eq!(
            take_line(&mut buffer).as_deref(),
            Some(&b"{\"event\":\"idle\"}"[..])
        );
        assert_eq!(take_line(&mut buffer), None);
        assert_eq!(&buffer[..], b"{\"event\":\"pa");
    }

    #[test]
    fn error_envelopes_and_other_answers_become_api_errors() {
        let err = api_error(
            StatusCode::BAD_REQUEST,
            br#"{"error":{"code":"bad_request","message":"state: unknown"}}"#,
        );
        assert!(
            matches!(&err, DaemonClientError::Api { status: 400, code, message } if code == "bad_request" && message == "state: unknown"),
            "{err:?}"
        );
        let err = api_error(StatusCode::BAD_GATEWAY, b"upstream down");
        assert!(err.to_string().contains("upstream down"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_socket_means_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let client = DaemonClient::new(dir.path().join("imgcloudd.sock"));
        let err = client.status().await.unwrap_err();
        assert!(
            matches!(err, DaemonClientError::NotRunning { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("imgcloudd"), "{err}");
    }

    #[tokio::test]
    async fn a_stale_socket_means_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("imgcloudd.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let err = DaemonClient::new(path).pause().await.unwrap_err();
        assert!(
            matches!(err, DaemonClientError::NotRunning { .. }),
            "{err:?}"
        );
    }
}
