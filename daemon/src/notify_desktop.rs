//! Desktop comfort: the link of each new upload on the clipboard (`copy_links`) and a desktop
//! notification (`notifications`, through `notify-send` when it exists). Both are best effort:
//! a headless machine logs one line and carries on.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use imgcloud_core::notify_send::Notifier;

/// Clipboard and notifications. Cheap to call from any thread.
pub struct Desktop {
    /// The clipboard thread (it owns the clipboard: on X11/Wayland the text stays available
    /// only while its owner lives). Started on first use.
    clipboard: Mutex<Option<mpsc::Sender<String>>>,
    clipboard_failed: AtomicBool,
    notifier: Notifier,
}

impl Default for Desktop {
    fn default() -> Self {
        Self::new()
    }
}

impl Desktop {
    pub fn new() -> Self {
        Self {
            clipboard: Mutex::new(None),
            clipboard_failed: AtomicBool::new(false),
            notifier: Notifier::new(),
        }
    }

    /// Puts `text` on the clipboard (failures are logged once).
    pub fn copy(&self, text: &str) {
        if self.clipboard_failed.load(Ordering::Relaxed) {
            return;
        }
        let mut slot = self.clipboard.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            match start_clipboard_thread() {
                Ok(tx) => *slot = Some(tx),
                Err(e) => {
                    self.clipboard_failed.store(true, Ordering::Relaxed);
                    tracing::warn!(
                        "copy_links is on but the clipboard is not reachable ({e}); links are not copied"
                    );
                    return;
                }
            }
        }
        if let Some(tx) = slot.as_ref()
            && tx.send(text.to_string()).is_err()
        {
            *slot = None;
        }
    }

    /// Shows a desktop notification with `notify-send`, when it exists (best effort).
    pub fn notify(&self, summary: &str, body: &str) {
        if let Err(e) = self.notifier.show(summary, body) {
            tracing::warn!(
                "notifications are on but notify-send cannot run ({e}); install libnotify-bin to get them"
            );
        }
    }
}

fn start_clipboard_thread() -> Result<mpsc::Sender<String>, String> {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::Builder::new()
        .name("imgcloudd-clipboard".into())
        .spawn(move || {
            let mut clipboard = match arboard::Clipboard::new() {
                Ok(c) => {
                    let _ = ready_tx.send(Ok(()));
                    c
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let mut warned = false;
            for text in rx {
                if let Err(e) = clipboard.set_text(text)
                    && !warned
                {
                    warned = true;
                    tracing::warn!("cannot put the link on the clipboard: {e}");
                }
            }
        })
        .map_err(|e| e.to_string())?;
    ready_rx
        .recv()
        .map_err(|_| "the clipboard thread stopped".to_string())??;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_display_copy_fails_once_and_quietly() {
        if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
            return; // a real desktop: nothing to prove here
        }
        let desktop = Desktop::new();
        desktop.copy("http://example/a.png");
        assert!(desktop.clipboard_failed.load(Ordering::Relaxed));
        desktop.copy("again: returns at once");
    }
}
