//! The system clipboard (X11/Wayland/macOS/Windows through `arboard`).
//!
//! One clipboard handle lives as long as the app: on X11 the copied text is served by its
//! owner, so dropping the handle right after copying would lose it when no clipboard manager
//! runs.

use std::sync::Mutex;

use tauri::State;

use crate::error::{CommandError, ErrorCode};

#[derive(Default)]
pub struct Clipboard {
    handle: Mutex<Option<arboard::Clipboard>>,
}

impl Clipboard {
    pub fn set_text(&self, text: &str) -> Result<(), CommandError> {
        let mut slot = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        let result = match slot.as_mut() {
            Some(clipboard) => clipboard.set_text(text),
            None => arboard::Clipboard::new().and_then(|mut clipboard| {
                let result = clipboard.set_text(text);
                *slot = Some(clipboard);
                result
            }),
        };
        result.map_err(|e| {
            *slot = None;
            CommandError::new(
                ErrorCode::Clipboard,
                format!("cannot copy to the clipboard: {e}"),
            )
        })
    }
}

/// Puts `text` on the clipboard.
#[tauri::command]
pub fn copy_text(clipboard: State<'_, Clipboard>, text: String) -> Result<(), CommandError> {
    clipboard.set_text(&text)
}
