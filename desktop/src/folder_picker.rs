//! The native folder picker for watched folders (`tauri-plugin-dialog`, used from Rust only:
//! the page calls `pick_folder` like any command, so no plugin permission is granted to it).

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_dialog::{Dialog, DialogExt};

use crate::error::{CommandError, ErrorCode};

/// Registers the dialog plugin (not in tests: the mock runtime has no native dialogs).
pub fn install<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    app.plugin(tauri_plugin_dialog::init())
}

/// Asks for a folder with the system's dialog; `null` when the user cancels.
#[tauri::command]
pub async fn pick_folder<R: Runtime>(app: AppHandle<R>) -> Result<Option<String>, CommandError> {
    if app.try_state::<Dialog<R>>().is_none() {
        return Err(CommandError::new(
            ErrorCode::Internal,
            "no folder picker is available here: type the folder's path instead",
        ));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Folder to watch")
        .pick_folder(move |picked| {
            let _ = tx.send(picked);
        });
    let picked = rx.await.map_err(|_| {
        CommandError::new(
            ErrorCode::Internal,
            "the folder picker closed without an answer",
        )
    })?;
    match picked {
        None => Ok(None),
        Some(path) => path
            .into_path()
            .map(|p| Some(p.display().to_string()))
            .map_err(|e| {
                CommandError::new(
                    ErrorCode::Invalid,
                    format!("the picked folder is not a local path ({e}): type its path instead"),
                )
            }),
    }
}
