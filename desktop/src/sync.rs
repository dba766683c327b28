//! The sync daemon (`imgcloudd`) through its local socket: status, queue, pause/resume,
//! watched folders, and its live event stream forwarded to the UI as `sync-event` events.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use imgcloud_core::daemon_api::{QueueEntry, Status, WatchedFolder};
use imgcloud_core::daemon_client::{DaemonClient, DaemonClientError};
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::connection::Connection;
use crate::error::{CommandError, ErrorCode};

/// Name of the event carrying the daemon's `Event`s.
pub const SYNC_EVENT: &str = "sync-event";
/// Sent (with the reason as payload) when the event stream ends; the UI subscribes again.
pub const SYNC_EVENTS_ENDED: &str = "sync-events-ended";

/// Quick answers for a window someone looks at; the event stream is open-ended anyway.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a forwarder of the daemon's events runs (one per app).
#[derive(Default)]
pub struct SyncEvents {
    running: AtomicBool,
}

fn daemon(connection: &Connection) -> DaemonClient {
    DaemonClient::from_dirs(connection.dirs()).with_timeout(DAEMON_TIMEOUT)
}

fn daemon_error(err: DaemonClientError) -> CommandError {
    let code = match &err {
        DaemonClientError::NotRunning { .. } => ErrorCode::DaemonNotRunning,
        DaemonClientError::Api { status, .. } if (400..500).contains(status) => ErrorCode::Invalid,
        _ => ErrorCode::Daemon,
    };
    CommandError::new(code, err.to_string())
}

#[tauri::command]
pub async fn sync_status(connection: State<'_, Connection>) -> Result<Status, CommandError> {
    daemon(&connection).status().await.map_err(daemon_error)
}

/// The files waiting or in progress, oldest first (at most `limit`, default 200).
#[tauri::command]
pub async fn sync_queue(
    connection: State<'_, Connection>,
    limit: Option<usize>,
) -> Result<Vec<QueueEntry>, CommandError> {
    daemon(&connection)
        .queue(None, limit.unwrap_or(200).clamp(1, 10_000))
        .await
        .map_err(daemon_error)
}

#[tauri::command]
pub async fn sync_pause(connection: State<'_, Connection>) -> Result<Status, CommandError> {
    daemon(&connection).pause().await.map_err(daemon_error)
}

#[tauri::command]
pub async fn sync_resume(connection: State<'_, Connection>) -> Result<Status, CommandError> {
    daemon(&connection).resume().await.map_err(daemon_error)
}

/// Watches `path` (recursively); answers the watched folders.
#[tauri::command]
pub async fn watch_add(
    connection: State<'_, Connection>,
    path: String,
) -> Result<Vec<WatchedFolder>, CommandError> {
    let path = PathBuf::from(path.trim());
    if !path.is_absolute() {
        return Err(CommandError::new(
            ErrorCode::Invalid,
            format!("{}: pick a folder by its full path", path.display()),
        ));
    }
    daemon(&connection)
        .add_folder(WatchedFolder::new(path))
        .await
        .map_err(daemon_error)
}

/// Stops watching `path`; answers the watched folders.
#[tauri::command]
pub async fn watch_remove(
    connection: State<'_, Connection>,
    path: String,
) -> Result<Vec<WatchedFolder>, CommandError> {
    daemon(&connection)
        .remove_folder(&PathBuf::from(path))
        .await
        .map_err(daemon_error)
}

/// Starts forwarding the daemon's events to the UI (`sync-event`), unless already forwarding.
/// Fails at once when the daemon cannot be reached; when the stream ends later,
/// `sync-events-ended` says why and the UI may subscribe again.
#[tauri::command]
pub async fn sync_subscribe<R: Runtime>(
    app: AppHandle<R>,
    connection: State<'_, Connection>,
    events: State<'_, SyncEvents>,
) -> Result<bool, CommandError> {
    if events.running.swap(true, Ordering::SeqCst) {
        return Ok(false);
    }
    let stream = match DaemonClient::from_dirs(connection.dirs()).events().await {
        Ok(stream) => stream,
        Err(e) => {
            events.running.store(false, Ordering::SeqCst);
            return Err(daemon_error(e));
        }
    };
    tauri::async_runtime::spawn(forward(app, stream));
    Ok(true)
}

async fn forward<R: Runtime>(
    app: AppHandle<R>,
    mut stream: imgcloud_core::daemon_client::EventStream,
) {
    let reason = loop {
        match stream.next().await {
            Some(Ok(event)) => {
                if let Err(e) = app.emit(SYNC_EVENT, &event) {
                    break format!("cannot reach the window: {e}");
                }
            }
            Some(Err(e)) => break e.to_string(),
            None => break "the imgcloud daemon stopped".to_string(),
        }
    };
    if let Some(events) = tauri::Manager::try_state::<SyncEvents>(&app) {
        events.running.store(false, Ordering::SeqCst);
    }
    let _ = app.emit(SYNC_EVENTS_ENDED, reason);
}
