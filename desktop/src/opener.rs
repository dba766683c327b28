//! "Open in browser": hands an image's link to the system's opener, or to the program named by
//! `IMGCLOUD_OPENER` when set, through `imgcloud_core::opener` (http(s) links only, no shell).

use tauri::State;

use crate::connection::Connection;
use crate::error::{CommandError, ErrorCode};

/// Opens `url` (http or https only) in the default browser.
#[tauri::command]
pub async fn open_url(connection: State<'_, Connection>, url: String) -> Result<(), CommandError> {
    if let Err(reason) = imgcloud_core::opener::checked_link(&url) {
        return Err(CommandError::new(
            ErrorCode::Invalid,
            format!("open_url: {reason}"),
        ));
    }
    let custom = connection.env("IMGCLOUD_OPENER");
    imgcloud_core::opener::open_link(&url, custom.as_deref())
        .await
        .map_err(|reason| CommandError::new(ErrorCode::Internal, format!("open_url: {reason}")))
}
