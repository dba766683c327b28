//! The global shortcut: Ctrl+Shift+U (Cmd+Shift+U on macOS) uploads the clipboard image from
//! anywhere, like the tray's menu item.

use tauri::{AppHandle, Runtime};
use tauri_plugin_global_shortcut::{Builder, GlobalShortcutExt, ShortcutState};

/// The accelerator, as the plugin parses it.
pub const UPLOAD_CLIPBOARD: &str = "CommandOrControl+Shift+U";

/// Registers the shortcut (not in tests: the mock runtime has no global shortcuts). A desktop
/// that refuses it (Wayland without the portal, another app holding it) only loses the shortcut.
pub fn install<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    app.plugin(
        Builder::new()
            .with_handler(|app, _shortcut, event| {
                if event.state() == ShortcutState::Pressed {
                    crate::tray::upload_clipboard_and_notify(app);
                }
            })
            .build(),
    )?;
    if let Err(e) = app.global_shortcut().register(UPLOAD_CLIPBOARD) {
        tracing::warn!("the {UPLOAD_CLIPBOARD} shortcut is not available: {e}");
    }
    Ok(())
}
