//! Opening an image's link in the browser, for the TUI and the desktop app.
//!
//! Links come from the server, so they are checked first: only an absolute `http`/`https` URL
//! is opened, in its normalised form (the `url` crate percent-encodes what a URL may not hold
//! raw). It is handed over without any shell: to the program named by `IMGCLOUD_OPENER` as one
//! argument, or to the system's opener through the `open` crate (`ShellExecuteW` on Windows,
//! so `&` or `|` in a link is never a command separator; `open` on macOS; `xdg-open` and its
//! peers elsewhere).

use std::time::Duration;

/// `url` as it will be opened, or why not.
pub fn checked_link(url: &str) -> Result<String, String> {
    let trimmed = url.trim();
    let parsed = url::Url::parse(trimmed).map_err(|e| format!("{trimmed:?} is not a link: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{trimmed:?} is not an http(s) link; only those are opened"
        ));
    }
    Ok(parsed.to_string())
}

/// Opens `url` (checked with [`checked_link`]) with `custom` (a program taking the link as its
/// one argument, e.g. `IMGCLOUD_OPENER`) or the system's opener.
pub async fn open_link(url: &str, custom: Option<&str>) -> Result<(), String> {
    let url = checked_link(url)?;
    match custom.map(str::trim).filter(|p| !p.is_empty()) {
        Some(program) => run_opener(program, &url).await,
        None => {
            let link = url.clone();
            tokio::task::spawn_blocking(move || open::that_detached(&link))
                .await
                .map_err(|e| format!("the opener task failed: {e}"))?
                .map_err(|e| {
                    format!(
                        "cannot open {url}: {e} (set IMGCLOUD_OPENER to a program that opens links)"
                    )
                })
        }
    }
}

/// Runs `program URL`, its output discarded; an opener that lingers has launched the browser.
async fn run_opener(program: &str, url: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e} (IMGCLOUD_OPENER)"))?;
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("{program} failed ({status})")),
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_links_are_opened_and_in_normal_form() {
        assert_eq!(
            checked_link(" https://cdn.example/i/Ab/a b.jpg ").unwrap(),
            "https://cdn.example/i/Ab/a%20b.jpg"
        );
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ssh://host",
            "cdn.example/i/a.jpg",
            "http://",
            "",
        ] {
            assert!(checked_link(bad).is_err(), "{bad}");
        }
        // shell metacharacters stay inside the one argument (no shell is involved)
        let odd = checked_link("https://cdn.example/a&calc|b.jpg?x=1&y=2").unwrap();
        assert!(odd.starts_with("https://cdn.example/"), "{odd}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_custom_opener_gets_the_link_as_one_argument_and_bad_links_never_reach_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("args");
        let script = dir.path().join("opener.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$#\" \"$1\" > '{}'\n",
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let program = script.to_str().unwrap();
        open_link("https://cdn.example/a&b|c;d.jpg", Some(program))
            .await
            .unwrap();
        let args = std::fs::read_to_string(&log).unwrap();
        assert_eq!(args, "1\nhttps://cdn.example/a&b|c;d.jpg\n");
        std::fs::remove_file(&log).unwrap();
        assert!(
            open_link("file:///etc/passwd", Some(program))
                .await
                .is_err()
        );
        assert!(!log.exists(), "the opener never ran");
    }
}
