//! "Open in browser": hands an image's link to the system's opener (`xdg-open`, `open`,
//! `start`, as the TUI does), or to the program named by `IMGCLOUD_OPENER` when set.

use std::time::Duration;

use tauri::State;

use crate::connection::Connection;
use crate::error::{CommandError, ErrorCode};

/// The opener for this system: program and the arguments before the link.
fn system_opener() -> (&'static str, &'static [&'static str]) {
    if cfg!(target_os = "macos") {
        ("open", &[])
    } else if cfg!(windows) {
        ("cmd", &["/C", "start", ""])
    } else {
        ("xdg-open", &[])
    }
}

/// Opens `url` (http or https only) in the default browser.
#[tauri::command]
pub async fn open_url(connection: State<'_, Connection>, url: String) -> Result<(), CommandError> {
    let url = url.trim();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(CommandError::new(
            ErrorCode::Invalid,
            format!("open_url: {url:?} is not an http(s) link"),
        ));
    }
    let custom = connection
        .env("IMGCLOUD_OPENER")
        .filter(|p| !p.trim().is_empty());
    let (program, before): (String, &[&str]) = match custom {
        Some(program) => (program, &[]),
        None => {
            let (program, before) = system_opener();
            (program.to_string(), before)
        }
    };
    let fail = |reason: String| {
        CommandError::new(
            ErrorCode::Internal,
            format!(
                "cannot open the link with {program}: {reason} (set IMGCLOUD_OPENER to a program that opens links)"
            ),
        )
    };
    let mut child = tokio::process::Command::new(&program)
        .args(before)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    // Openers return once the browser has the link; one that lingers has launched it.
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(fail(format!("it exited with {status}"))),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Ok(()),
    }
}
