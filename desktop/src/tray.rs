//! The tray menu: upload the clipboard image, pause/resume the sync daemon, open the window,
//! quit. Results are reported to the window as `notice` events (shown as notices there).

use imgcloud_core::daemon_client::DaemonClient;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::connection::Connection;
use crate::upload::upload_clipboard;

/// A short text for the window to show (payload: string).
pub const NOTICE_EVENT: &str = "notice";
/// The library changed outside the window's own actions (payload: none).
pub const LIBRARY_CHANGED_EVENT: &str = "library-changed";

/// Adds the tray icon and its menu (not in tests: the mock runtime has no tray).
pub fn install<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let item = |id: &str, text: &str| MenuItem::with_id(app, id, text, true, None::<&str>);
    let upload = item("upload-clipboard", "Upload clipboard image")?;
    let pause = item("pause", "Pause sync")?;
    let resume = item("resume", "Resume sync")?;
    let open = item("open", "Open imgcloud")?;
    let quit = item("quit", "Quit")?;
    let first = PredefinedMenuItem::separator(app)?;
    let second = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(
        app,
        &[&upload, &first, &pause, &resume, &second, &open, &quit],
    )?;
    let mut tray = TrayIconBuilder::with_id("main")
        .tooltip("imgcloud")
        .menu(&menu)
        .on_menu_event(|app, event| on_menu(app, event.id().as_ref()));
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    match id {
        "upload-clipboard" => upload_clipboard_and_notify(app),
        "pause" | "resume" => {
            let app = app.clone();
            let pause = id == "pause";
            tauri::async_runtime::spawn(async move {
                let daemon = DaemonClient::from_dirs(app.state::<Connection>().dirs());
                let result = if pause {
                    daemon.pause().await
                } else {
                    daemon.resume().await
                };
                notify(
                    &app,
                    match result {
                        Ok(s) if s.paused => "Sync paused".to_string(),
                        Ok(_) => "Sync resumed".to_string(),
                        Err(e) => e.to_string(),
                    },
                );
            });
        }
        "open" => {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.show();
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
        }
        "quit" => app.exit(0),
        _ => {}
    }
}

/// Tells the window (an in-window notice) and the desktop (a native notification): the tray's
/// actions usually happen while the window is hidden.
/// Uploads the clipboard image and says how it went (tray menu, global shortcut).
pub fn upload_clipboard_and_notify<R: Runtime>(app: &AppHandle<R>) {
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let text = match upload_clipboard(&app).await {
            Ok(result) => match (&result.link, &result.error) {
                (Some(_), _) => {
                    let _ = app.emit(LIBRARY_CHANGED_EVENT, ());
                    "Uploaded the clipboard image: link copied".to_string()
                }
                (None, Some(e)) => format!("Clipboard upload failed: {}", e.message),
                (None, None) => "Clipboard upload gave no link".to_string(),
            },
            Err(e) => format!("Clipboard upload failed: {}", e.message),
        };
        notify(&app, text);
    });
}

fn notify<R: Runtime>(app: &AppHandle<R>, text: String) {
    tracing::info!("{text}");
    crate::notifications::show("imgcloud", &text);
    let _ = app.emit(NOTICE_EVENT, text);
}
