//! Desktop notifications through `notify-send` (libnotify), best effort, shared by the daemon
//! and the desktop app. Once `notify-send` has failed to start, later calls return at once.

use std::io;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

/// Sends notifications; remembers when `notify-send` is missing.
#[derive(Debug, Default)]
pub struct Notifier {
    missing: AtomicBool,
}

impl Notifier {
    pub const fn new() -> Self {
        Self {
            missing: AtomicBool::new(false),
        }
    }

    /// Shows `summary` / `body`: `Ok(true)` when `notify-send` started, `Ok(false)` when an
    /// earlier call found it missing, `Err` the first time it cannot start (for the caller to
    /// report once).
    pub fn show(&self, summary: &str, body: &str) -> io::Result<bool> {
        if self.missing.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let spawned = Command::new("notify-send")
            // `--` so a summary starting with '-' is not read as an option.
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
                // Reap it off the caller's thread, so no zombie is left.
                std::thread::spawn(move || child.wait());
                Ok(true)
            }
            Err(e) => {
                self.missing.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}
