//! The gallery's data source: pages of the library (or the trash), newest first.
//!
//! Today every page comes from the API (`GET /v1/images`). This is the one module to change
//! when the local catalog (`imgcloud_core::catalog`, fed by the change feed) lands: answer
//! [`Library::page`] from it, and the commands and UI stay as they are.

use imgcloud_core::api::ImagePage;
use imgcloud_core::client::ListParams;
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::connection::Connection;
use crate::error::CommandError;

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

/// Where gallery pages come from.
pub struct Library;

impl Library {
    /// One page, newest first; `query` searches filenames (blank lists all); `trash`
    /// lists the trash instead of the library.
    pub async fn page(
        connection: &Connection,
        cursor: Option<String>,
        query: Option<String>,
        trash: bool,
    ) -> Result<ImagePage, CommandError> {
        let params = ListParams {
            cursor: cursor.filter(|c| !c.is_empty()),
            limit: Some(PAGE_SIZE),
            q: query
                .map(|q| q.trim().to_string())
                .filter(|q| !q.is_empty()),
            trash,
        };
        connection
            .call("list_images", |client| async move {
                client.list_images(&params).await
            })
            .await
    }
}

#[tauri::command]
pub async fn list_images(
    connection: State<'_, Connection>,
    cursor: Option<String>,
    query: Option<String>,
    trash: Option<bool>,
) -> Result<ImagePage, CommandError> {
    Library::page(&connection, cursor, query, trash.unwrap_or(false)).await
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
