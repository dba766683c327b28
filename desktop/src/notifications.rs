//! Native desktop notifications through `notify-send` (libnotify), best effort: where it is
//! missing (a bare machine, a headless test) the app logs that once and keeps its in-window
//! notices.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

static MISSING: AtomicBool = AtomicBool::new(false);

/// Shows `summary` / `body` as a desktop notification; `false` when none could be shown.
pub fn show(summary: &str, body: &str) -> bool {
    if MISSING.load(Ordering::Relaxed) {
        return false;
    }
    let spawned = Command::new("notify-send")
        .args([
            "--app-name=imgcloud",
            "--expire-time=5000",
            "--",
            summary,
            body,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            // Reap it off the caller's thread.
            std::thread::spawn(move || child.wait());
            true
        }
        Err(e) => {
            MISSING.store(true, Ordering::Relaxed);
            tracing::info!("no desktop notifications (notify-send: {e}); install libnotify-bin");
            false
        }
    }
}

/// Shows a desktop notification; answers whether one was shown.
#[tauri::command]
pub fn notify(summary: String, body: Option<String>) -> bool {
    show(&summary, body.as_deref().unwrap_or(""))
}
