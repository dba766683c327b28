//! Native desktop notifications through `notify-send` (libnotify), best effort: where it is
//! missing (a bare machine, a headless test) the app logs that once and keeps its in-window
//! notices.

use imgcloud_core::notify_send::Notifier;

static NOTIFIER: Notifier = Notifier::new();

/// Shows `summary` / `body` as a desktop notification; `false` when none could be shown.
pub fn show(summary: &str, body: &str) -> bool {
    NOTIFIER.show(summary, body).unwrap_or_else(|e| {
        tracing::info!("no desktop notifications (notify-send: {e}); install libnotify-bin");
        false
    })
}

/// Shows a desktop notification; answers whether one was shown.
#[tauri::command]
pub fn notify(summary: String, body: Option<String>) -> bool {
    show(&summary, body.as_deref().unwrap_or(""))
}
