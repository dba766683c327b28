//! Client of the sync daemon's local IPC (HTTP/JSON over its Unix socket); see
//! [`crate::daemon_api`] for the routes.
//!
//! CONTRACT STUB — implemented by the IPC helper.

use std::path::{Path, PathBuf};

use crate::daemon_api::{
    EnqueueResponse, Event, FileError, FileState, QueueEntry, Status, WatchedFolder,
};
use crate::paths::Dirs;

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
}

/// Events as they arrive on `GET /v1/events`.
pub struct EventStream {
    _private: (),
}

impl EventStream {
    /// The next event; `None` when the daemon closed the stream.
    pub async fn next(&mut self) -> Option<Result<Event, DaemonClientError>> {
        unimplemented!("EventStream::next")
    }
}

impl DaemonClient {
    pub fn new(socket: PathBuf) -> Self {
        Self { socket }
    }

    /// The daemon of these directories ([`crate::daemon_api::socket_path`]).
    pub fn from_dirs(dirs: &Dirs) -> Self {
        Self::new(crate::daemon_api::socket_path(dirs))
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub async fn status(&self) -> Result<Status, DaemonClientError> {
        unimplemented!()
    }
    pub async fn queue(
        &self,
        state: Option<FileState>,
        limit: usize,
    ) -> Result<Vec<QueueEntry>, DaemonClientError> {
        let _ = (state, limit);
        unimplemented!()
    }
    pub async fn errors(&self, limit: usize) -> Result<Vec<FileError>, DaemonClientError> {
        let _ = limit;
        unimplemented!()
    }
    pub async fn pause(&self) -> Result<Status, DaemonClientError> {
        unimplemented!()
    }
    pub async fn resume(&self) -> Result<Status, DaemonClientError> {
        unimplemented!()
    }
    pub async fn rescan(&self) -> Result<(), DaemonClientError> {
        unimplemented!()
    }
    pub async fn enqueue(&self, paths: Vec<PathBuf>) -> Result<EnqueueResponse, DaemonClientError> {
        let _ = paths;
        unimplemented!()
    }
    pub async fn folders(&self) -> Result<Vec<WatchedFolder>, DaemonClientError> {
        unimplemented!()
    }
    pub async fn add_folder(
        &self,
        folder: WatchedFolder,
    ) -> Result<Vec<WatchedFolder>, DaemonClientError> {
        let _ = folder;
        unimplemented!()
    }
    pub async fn remove_folder(
        &self,
        path: &Path,
    ) -> Result<Vec<WatchedFolder>, DaemonClientError> {
        let _ = path;
        unimplemented!()
    }
    pub async fn events(&self) -> Result<EventStream, DaemonClientError> {
        unimplemented!()
    }
}
