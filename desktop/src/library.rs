//! The gallery's data source: pages of the library (or the trash), newest first, read from
//! the local catalog (`imgcloud_core::catalog`, one SQLite file per server and user, fed by
//! the server's change feed).
//!
//! The catalog of the logged-in user is opened on the first page request (or, when the server
//! cannot be reached, the catalog of the user last seen there), and brought up to date from
//! the change feed before every first page (a refresh, a new search, the app's own changes:
//! the UI reloads from the top after each). Later pages are read from the catalog alone, so
//! scrolling never waits on the network and the gallery works offline; a first page waits
//! for the server at most [`SYNC_WAIT`], then answers from the file while the sync goes on. Search matches
//! filenames and tags. The cursor is the offset of the next page, opaque to the UI.

use std::sync::Arc;
use std::time::Duration;

use imgcloud_core::api::ImagePage;
use imgcloud_core::catalog::sync::{self, SyncError};
use imgcloud_core::catalog::{Catalog, Query, Sort, View, location};
use serde::{Deserialize, Serialize};
use tauri::State;
use tokio::sync::Mutex;

use crate::connection::{Connection, command_error};
use crate::error::{CommandError, ErrorCode};

/// Images per page of the gallery.
pub const PAGE_SIZE: u32 = 60;

/// `server_info` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Base URL of the configured server, if any.
    pub server: Option<String>,
    /// The configuration file (where `server` comes from unless `IMGCLOUD_SERVER` is set).
    pub config_file: String,
}

/// The open catalog and the server it mirrors.
struct Open {
    server: String,
    catalog: Arc<Catalog>,
}

/// Where gallery pages come from (app state).
#[derive(Default)]
pub struct Library {
    open: Mutex<Option<Open>>,
}

impl Library {
    /// Closes the catalog: the next page opens the one of whoever is logged in then.
    pub async fn forget(&self) {
        *self.open.lock().await = None;
    }

    /// One page, newest first; `query` searches filenames and tags (blank lists all);
    /// `trash` lists the trash instead of the library; `cursor` is the offset a previous
    /// page returned (absent or empty: the first page, after a sync with the server).
    pub async fn page(
        &self,
        connection: &Connection,
        cursor: Option<String>,
        query: Option<String>,
        trash: bool,
    ) -> Result<ImagePage, CommandError> {
        let offset = match cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => 0,
            Some(c) => c.parse::<usize>().map_err(|_| {
                CommandError::new(
                    ErrorCode::Invalid,
                    format!("list_images: cursor {c:?} is not a page offset; reload the gallery"),
                )
            })?,
        };
        let catalog = self.catalog(connection, offset == 0).await?;
        let search = query.map(|q| q.trim().to_string()).unwrap_or_default();
        let limit = PAGE_SIZE as usize;
        let query = Query {
            view: if trash { View::Trash } else { View::Library },
            sort: Sort::Date,
            search,
            offset,
            limit: limit + 1,
        };
        let mut items = tauri::async_runtime::spawn_blocking(move || catalog.images(&query))
            .await
            .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?
            .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
        let next_cursor = (items.len() > limit).then(|| (offset + limit).to_string());
        items.truncate(limit);
        Ok(ImagePage { items, next_cursor })
    }

    /// The catalog for the configured server, synced first when `refresh`. A server that
    /// cannot be reached leaves the catalog as it is (offline); other failures are returned.
    async fn catalog(
        &self,
        connection: &Connection,
        refresh: bool,
    ) -> Result<Arc<Catalog>, CommandError> {
        let client = connection.client().await?;
        let server = client.server().to_string();
        let mut open = self.open.lock().await;
        if let Some(current) = open.as_ref().filter(|o| o.server == server) {
            let catalog = Arc::clone(&current.catalog);
            if refresh {
                let (syncing, client) = (Arc::clone(&catalog), client.clone());
                match waited(async move { syncing.sync(&client).await.map(|_| ()) }).await {
                    Ok(result) => offline_or(connection, result?).await?,
                    Err(_still_syncing) => {
                        tracing::info!("the server is slow: showing the local catalog meanwhile");
                    }
                }
            }
            return Ok(catalog);
        }
        let (dirs, opening) = (connection.dirs().clone(), client.clone());
        let opened = waited(async move {
            let (catalog, _me) = sync::open_for(&dirs, &opening).await?;
            let synced = catalog.sync(&opening).await.map(|_| ());
            Ok::<_, SyncError>((catalog, synced))
        })
        .await;
        let last_catalog = || -> Result<Option<Arc<Catalog>>, CommandError> {
            let Some(user) = location::last_user(connection.dirs(), &server) else {
                return Ok(None);
            };
            let path = location::file(connection.dirs(), &server, &user);
            let (catalog, _) = Catalog::open_or_rebuild(&path)
                .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?;
            Ok(Some(Arc::new(catalog)))
        };
        let opened = match opened {
            Ok(result) => result?,
            Err(task) => {
                // A slow server: the last user's catalog now (not kept, so the next first
                // page checks who is logged in again); without one, wait for the server.
                if let Some(catalog) = last_catalog()? {
                    tracing::info!("the server is slow: showing the local catalog meanwhile");
                    return Ok(catalog);
                }
                task.await
                    .map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))?
            }
        };
        let catalog = match opened {
            Ok((catalog, synced)) => {
                offline_or(connection, synced).await?;
                catalog
            }
            Err(e) => {
                let error = sync_error(e);
                connection.forget_client().await;
                let last = if error.code == ErrorCode::Unreachable {
                    last_catalog()?
                } else {
                    None
                };
                let Some(catalog) = last else {
                    return Err(error);
                };
                tracing::warn!(error = %error, "server unreachable: showing the local catalog");
                catalog
            }
        };
        *open = Some(Open {
            server,
            catalog: Arc::clone(&catalog),
        });
        Ok(catalog)
    }
}

/// How long a first page waits for the server before it is answered from the catalog as it
/// is (the sync goes on in the background and lands in the file).
const SYNC_WAIT: Duration = Duration::from_millis(1500);

/// Runs `work` as a task: `Ok(its result)` if it ends within [`SYNC_WAIT`], else
/// `Err(the task)`, still running. A task that panicked is an internal error.
async fn waited<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> Result<Result<T, CommandError>, tokio::task::JoinHandle<T>> {
    let mut task = tokio::spawn(work);
    match tokio::time::timeout(SYNC_WAIT, &mut task).await {
        Ok(joined) => Ok(joined.map_err(|e| CommandError::new(ErrorCode::Internal, e.to_string()))),
        Err(_) => Err(task),
    }
}

/// Passes an unreachable server (the catalog is shown as it is) and returns other failures.
async fn offline_or(
    connection: &Connection,
    result: Result<(), SyncError>,
) -> Result<(), CommandError> {
    let Err(e) = result else { return Ok(()) };
    let error = sync_error(e);
    connection.forget_client().await;
    if error.code == ErrorCode::Unreachable {
        tracing::warn!(error = %error, "server unreachable: showing the local catalog");
        return Ok(());
    }
    tracing::warn!(code = ?error.code, error = %error, "syncing the local catalog failed");
    Err(error)
}

fn sync_error(e: SyncError) -> CommandError {
    match e {
        SyncError::Client(e) => command_error(e),
        other => CommandError::new(ErrorCode::Internal, other.to_string()),
    }
}

#[tauri::command]
pub async fn list_images(
    connection: State<'_, Connection>,
    library: State<'_, Library>,
    cursor: Option<String>,
    query: Option<String>,
    trash: Option<bool>,
) -> Result<ImagePage, CommandError> {
    library
        .page(&connection, cursor, query, trash.unwrap_or(false))
        .await
}

#[tauri::command]
pub fn server_info(connection: State<'_, Connection>) -> Result<ServerInfo, CommandError> {
    let (config, path) = connection.config()?;
    Ok(ServerInfo {
        server: config.server,
        config_file: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests;
