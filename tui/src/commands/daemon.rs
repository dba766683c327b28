//! `imgcloud status`, `watch add|rm|ls`, `pause`, `resume` and `rescan`: the sync daemon
//! through its local socket.
//!
//! `watch` also works while the daemon is stopped: it then edits `daemon.toml` directly, and
//! the daemon picks the change up at its next start. The other commands need a running daemon.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use imgcloud_core::daemon_api::{Event, Status, WatchedFolder};
use imgcloud_core::daemon_client::{DaemonClient, DaemonClientError};
use imgcloud_core::daemon_config::DaemonConfig;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::cli::{StatusArgs, WatchAction, WatchAddArgs, WatchArgs};
use crate::context::Context;
use crate::exit::UsageError;
use crate::output::{self, human_size, sanitize_for_terminal as clean};

/// `pause`, `resume`, `rescan`.
#[derive(Debug, Clone, Copy)]
pub enum Verb {
    Pause,
    Resume,
    Rescan,
}

pub async fn status(ctx: &Context, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let client = DaemonClient::from_dirs(&ctx.dirs);
    if args.follow {
        return follow(&client, args.json).await;
    }
    let status = client.status().await?;
    if args.json {
        output::print_json(&status)?;
    } else {
        output::print_lines(&[format_status(&status).trim_end()])?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints events until Ctrl-C (exit 0) or until the daemon goes away (exit 1).
async fn follow(client: &DaemonClient, json: bool) -> anyhow::Result<ExitCode> {
    let mut events = client.events().await?;
    if !json {
        eprintln!("following the imgcloud daemon's events (Ctrl-C to stop)");
    }
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let next = tokio::select! {
            _ = &mut interrupted => return Ok(ExitCode::SUCCESS),
            next = events.next() => next,
        };
        match next {
            None => anyhow::bail!("the imgcloud daemon closed the event stream (it stopped)"),
            Some(Ok(event)) => {
                let line = if json {
                    serde_json::to_string(&event).context("cannot encode an event")?
                } else {
                    match format_event(&event) {
                        Some(line) => line,
                        None => continue,
                    }
                };
                output::print_lines(&[line])?;
            }
            // An event of a newer daemon: say so, keep following.
            Some(Err(DaemonClientError::Decode(message))) => output::warn(message),
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

pub async fn verb(ctx: &Context, verb: Verb) -> anyhow::Result<ExitCode> {
    let client = DaemonClient::from_dirs(&ctx.dirs);
    match verb {
        Verb::Pause => {
            client.pause().await?;
            eprintln!("paused: new files are still queued; uploads wait for `imgcloud resume`");
        }
        Verb::Resume => {
            let status = client.resume().await?;
            eprintln!(
                "resumed: {} file(s) waiting to upload",
                status.counts.pending()
            );
        }
        Verb::Rescan => {
            client.rescan().await?;
            eprintln!("rescanning every watched folder (`imgcloud status -f` shows the progress)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn watch(ctx: &Context, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let client = DaemonClient::from_dirs(&ctx.dirs);
    let config_file = ctx.dirs.daemon_config_file();
    match &args.action {
        WatchAction::Add(add) => {
            let folder = folder_from_args(add)?;
            let shown = clean(&folder.path.display().to_string());
            match client.add_folder(folder.clone()).await {
                Ok(_) => eprintln!("watching {shown}"),
                Err(DaemonClientError::NotRunning { .. }) => {
                    let mut config = load_config(&config_file)?;
                    let new = config.add_folder(folder);
                    config
                        .validate()
                        .map_err(|e| UsageError(format!("{e} (in {})", config_file.display())))?;
                    save_config(&config, &config_file)?;
                    eprintln!(
                        "{} {shown} in {}; the daemon is not running and will watch it from its next start (`imgcloudd`)",
                        if new { "added" } else { "updated" },
                        config_file.display()
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        WatchAction::Rm(rm) => {
            let path = folder_path(&rm.dir)?;
            let shown = clean(&path.display().to_string());
            match client.remove_folder(&path).await {
                Ok(_) => eprintln!("stopped watching {shown} (nothing was deleted)"),
                Err(DaemonClientError::NotRunning { .. }) => {
                    let mut config = load_config(&config_file)?;
                    if !config.remove_folder(&path) {
                        anyhow::bail!(
                            "{shown} is not a watched folder (see `imgcloud watch ls`; file: {})",
                            config_file.display()
                        );
                    }
                    save_config(&config, &config_file)?;
                    eprintln!(
                        "removed {shown} from {}; the daemon is not running and will not watch it from its next start",
                        config_file.display()
                    );
                }
                Err(e) => return Err(e.into()),
            }
        }
        WatchAction::Ls(ls) => {
            let folders = match client.folders().await {
                Ok(folders) => folders,
                Err(DaemonClientError::NotRunning { .. }) => {
                    let config = load_config(&config_file)?;
                    eprintln!(
                        "the daemon is not running; folders from {}",
                        config_file.display()
                    );
                    config.folders
                }
                Err(e) => return Err(e.into()),
            };
            if ls.json {
                output::print_json(&folders)?;
            } else if folders.is_empty() {
                eprintln!("no watched folders: add one with `imgcloud watch add DIR`");
            } else {
                let lines: Vec<String> = folders.iter().map(format_folder).collect();
                output::print_lines(&lines)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load_config(path: &Path) -> anyhow::Result<DaemonConfig> {
    DaemonConfig::load(path).map_err(|e| UsageError(e.to_string()).into())
}

fn save_config(config: &DaemonConfig, path: &Path) -> anyhow::Result<()> {
    config
        .save(path)
        .with_context(|| format!("cannot save {}", path.display()))
}

fn folder_from_args(args: &WatchAddArgs) -> anyhow::Result<WatchedFolder> {
    let path = std::fs::canonicalize(&args.dir).map_err(|e| {
        UsageError(format!(
            "{}: {} (watch add needs an existing folder)",
            args.dir.display(),
            io_reason(&e)
        ))
    })?;
    if !path.is_dir() {
        return Err(UsageError(format!("{}: not a folder", args.dir.display())).into());
    }
    Ok(WatchedFolder {
        path,
        recursive: !args.no_recursive,
        album: args.album.clone().filter(|a| !a.trim().is_empty()),
        visibility: match (args.private, args.public) {
            (true, _) => Some(imgcloud_core::api::Visibility::Private),
            (_, true) => Some(imgcloud_core::api::Visibility::Public),
            _ => None,
        },
        include: args.include.clone(),
        exclude: args.exclude.clone(),
    })
}

/// The folder as stored: canonical when it still exists, else made absolute without touching
/// the disk (so a deleted folder can still be removed).
fn folder_path(dir: &Path) -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::fs::canonicalize(dir) {
        return Ok(path);
    }
    let absolute = std::path::absolute(dir)
        .with_context(|| format!("cannot make {} absolute", dir.display()))?;
    let mut clean = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    Ok(clean)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such folder".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// `/pics  (not recursive, album Screens, include *.png, exclude drafts/)`.
pub fn format_folder(folder: &WatchedFolder) -> String {
    let mut notes = Vec::new();
    if !folder.recursive {
        notes.push("not recursive".to_string());
    }
    if let Some(visibility) = folder.visibility {
        notes.push(visibility.to_string());
    }
    if let Some(album) = &folder.album {
        notes.push(format!("album {album}"));
    }
    if !folder.include.is_empty() {
        notes.push(format!("include {}", folder.include.join(" ")));
    }
    if !folder.exclude.is_empty() {
        notes.push(format!("exclude {}", folder.exclude.join(" ")));
    }
    let path = clean(&folder.path.display().to_string());
    if notes.is_empty() {
        path
    } else {
        clean(&format!("{path}  ({})", notes.join(", ")))
    }
}

/// The daemon's message without a leading `PATH: ` (the line shows the path already).
fn reason(path: &Path, message: &str) -> String {
    let prefix = format!("{}: ", path.display());
    clean(message.strip_prefix(&prefix).unwrap_or(message))
}

fn hhmm(at: OffsetDateTime) -> String {
    at.format(format_description!("[hour]:[minute]:[second]"))
        .unwrap_or_else(|_| at.to_string())
}

/// The human `imgcloud status`.
pub fn format_status(status: &Status) -> String {
    let mut text = String::new();
    let c = &status.counts;
    let _ = writeln!(text, "imgcloudd {} (pid {})", status.version, status.pid);
    let _ = writeln!(
        text,
        "server:    {}{} — {}",
        clean(&status.server),
        if status.embedded { " (embedded)" } else { "" },
        if status.online { "online" } else { "offline" }
    );
    let state = if status.paused {
        "paused (`imgcloud resume` to continue)"
    } else if !status.online && c.pending() > 0 {
        "waiting for the cloud"
    } else if c.pending() > 0 {
        "syncing"
    } else {
        "idle"
    };
    let _ = writeln!(text, "state:     {state}");
    if status.folders.is_empty() {
        let _ = writeln!(text, "folders:   none (`imgcloud watch add DIR`)");
    }
    for (i, folder) in status.folders.iter().enumerate() {
        let label = if i == 0 { "folders:" } else { "" };
        let _ = writeln!(text, "{label:<10} {}", format_folder(folder));
    }
    let mut queue = format!(
        "{} pending, {} backed up, {} failed",
        c.pending(),
        c.backed_up,
        c.failed
    );
    if c.pending() > 0 {
        let _ = write!(
            queue,
            " ({} new, {} hashed, {} uploading, {} uploaded",
            c.discovered, c.hashed, c.uploading, c.uploaded
        );
        if c.retrying > 0 {
            let _ = write!(queue, "; {} waiting to retry", c.retrying);
        }
        queue.push(')');
    }
    let _ = writeln!(text, "queue:     {queue}");
    if let Some(at) = status.last_scan_at {
        let _ = writeln!(text, "last scan: {} UTC", output::short_date(at));
    }
    if let Some(dir) = &status.backup_dir {
        let _ = writeln!(text, "backup:    {}", clean(&dir.display().to_string()));
    } else {
        let _ = writeln!(text, "backup:    off");
    }
    if let Some(warning) = &status.watch_warning {
        let _ = writeln!(text, "warning:   {}", clean(warning));
    }
    if !status.in_flight.is_empty() {
        let _ = writeln!(text, "uploading:");
        for file in &status.in_flight {
            let percent = file
                .bytes_done
                .saturating_mul(100)
                .checked_div(file.bytes_total)
                .unwrap_or(0)
                .min(100);
            let _ = writeln!(
                text,
                "  {:>3}%  {}  ({} of {})",
                percent,
                clean(&file.path.display().to_string()),
                human_size(file.bytes_done),
                human_size(file.bytes_total)
            );
        }
    }
    if !status.recent_errors.is_empty() {
        let _ = writeln!(text, "recent errors:");
        for error in &status.recent_errors {
            let when = if error.permanent {
                "retried when the file changes".to_string()
            } else {
                match error.next_attempt_at {
                    Some(at) => format!("attempt {}, next at {} UTC", error.attempts, hhmm(at)),
                    None => format!("attempt {}", error.attempts),
                }
            };
            let _ = writeln!(
                text,
                "  {}  {}: {} ({when})",
                clean(&error.path.display().to_string()),
                clean(&error.code),
                reason(&error.path, &error.message)
            );
        }
    }
    text
}

/// One line per event for `status --follow`; progress events are left out (too many for a
/// terminal; `--json` has them).
pub fn format_event(event: &Event) -> Option<String> {
    let p = |path: &Path| clean(&path.display().to_string());
    let line = match event {
        Event::Discovered { path, size } => {
            format!("{:<10} {}  ({})", "queued", p(path), human_size(*size))
        }
        Event::Progress { .. } => return None,
        Event::Uploaded {
            path,
            link,
            existed,
            ..
        } => format!(
            "{:<10} {}  {}{}",
            "uploaded",
            p(path),
            clean(link),
            if *existed {
                "  (already in the cloud)"
            } else {
                ""
            }
        ),
        Event::BackedUp { path, sha256 } => format!(
            "{:<10} {}  sha256:{}",
            "backed-up",
            p(path),
            &sha256[..sha256.len().min(12)]
        ),
        Event::Failed {
            path,
            code,
            message,
            permanent,
            next_attempt_at,
        } => {
            let retry = match (permanent, next_attempt_at) {
                (true, _) => " (retried when the file changes)".to_string(),
                (false, Some(at)) => format!(" (retry at {} UTC)", hhmm(*at)),
                (false, None) => String::new(),
            };
            format!(
                "{:<10} {}  {}: {}{retry}",
                "failed",
                p(path),
                clean(code),
                reason(path, message)
            )
        }
        Event::Paused => "paused".into(),
        Event::Resumed => "resumed".into(),
        Event::Online => "online     the cloud is reachable; the queue drains".into(),
        Event::Offline { reason } => format!("{:<10} {}", "offline", clean(reason)),
        Event::ScanStarted { folder } => format!("{:<10} {}", "scanning", p(folder)),
        Event::ScanFinished {
            folder,
            files,
            queued,
        } => format!(
            "{:<10} {}  ({files} files, {queued} queued)",
            "scanned",
            p(folder)
        ),
        Event::Idle => "idle       everything is synced".into(),
    };
    Some(line)
}

#[cfg(test)]
mod tests {
    use imgcloud_core::daemon_api::{FileError, InFlight, QueueCounts};
    use time::macros::datetime;

    use super::*;

    fn status() -> Status {
        Status {
            version: "1.2.3".into(),
            pid: 42,
            server: "http://127.0.0.1:8080".into(),
            embedded: true,
            online: true,
            paused: false,
            folders: vec![
                WatchedFolder::new("/home/me/Pictures"),
                WatchedFolder {
                    path: "/home/me/Shots".into(),
                    recursive: false,
                    album: Some("Screens".into()),
                    visibility: Some(imgcloud_core::api::Visibility::Private),
                    include: vec!["*.png".into()],
                    exclude: vec![],
                },
            ],
            counts: QueueCounts {
                discovered: 3,
                uploading: 1,
                backed_up: 120,
                failed: 2,
                retrying: 1,
                ..QueueCounts::default()
            },
            in_flight: vec![InFlight {
                path: "/home/me/Pictures/big.jpg".into(),
                bytes_done: 3 * 1024 * 1024,
                bytes_total: 4 * 1024 * 1024,
            }],
            recent_errors: vec![
                FileError {
                    path: "/home/me/Pictures/notes.png".into(),
                    code: "not_an_image".into(),
                    message: "not an image (it starts with text)".into(),
                    attempts: 1,
                    permanent: true,
                    next_attempt_at: None,
                    at: datetime!(2026-01-31 14:05:09 UTC),
                },
                FileError {
                    path: "/home/me/Pictures/x\x1b[2J.jpg".into(),
                    code: "offline".into(),
                    message: "the cloud cannot be reached".into(),
                    attempts: 3,
                    permanent: false,
                    next_attempt_at: Some(datetime!(2026-01-31 14:07:00 UTC)),
                    at: datetime!(2026-01-31 14:05:09 UTC),
                },
            ],
            watch_warning: None,
            last_scan_at: Some(datetime!(2026-01-31 14:00:00 UTC)),
            backup_dir: Some("/home/me/.local/share/imgcloud/backup".into()),
        }
    }

    #[test]
    fn the_status_summary_says_what_matters() {
        let text = format_status(&status());
        assert!(text.starts_with("imgcloudd 1.2.3 (pid 42)\n"), "{text}");
        assert!(
            text.contains("server:    http://127.0.0.1:8080 (embedded) — online"),
            "{text}"
        );
        assert!(text.contains("state:     syncing"), "{text}");
        assert!(text.contains("folders:   /home/me/Pictures\n"), "{text}");
        assert!(
            text.contains(
                "           /home/me/Shots  (not recursive, private, album Screens, include *.png)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "queue:     4 pending, 120 backed up, 2 failed (3 new, 0 hashed, 1 uploading, 0 uploaded; 1 waiting to retry)"
            ),
            "{text}"
        );
        assert!(
            text.contains("   75%  /home/me/Pictures/big.jpg  (3.0 MiB of 4.0 MiB)"),
            "{text}"
        );
        assert!(
            text.contains(
                "/home/me/Pictures/notes.png  not_an_image: not an image (it starts with text) (retried when the file changes)"
            ),
            "{text}"
        );
        assert!(
            text.contains("offline: the cloud cannot be reached (attempt 3, next at 14:07:00 UTC)"),
            "{text}"
        );
        assert!(!text.contains('\x1b'), "control characters are neutralised");
    }

    #[test]
    fn paused_offline_and_idle_states() {
        let mut s = status();
        s.paused = true;
        assert!(format_status(&s).contains("state:     paused"));
        s.paused = false;
        s.online = false;
        let text = format_status(&s);
        assert!(
            text.contains("— offline") && text.contains("waiting for the cloud"),
            "{text}"
        );
        s.counts = QueueCounts::default();
        s.in_flight.clear();
        s.recent_errors.clear();
        s.folders.clear();
        s.backup_dir = None;
        s.watch_warning =
            Some("inotify watch limit reached: raise fs.inotify.max_user_watches".into());
        let text = format_status(&s);
        assert!(text.contains("state:     idle"), "{text}");
        assert!(text.contains("folders:   none"), "{text}");
        assert!(text.contains("backup:    off"), "{text}");
        assert!(text.contains("warning:   inotify"), "{text}");
        assert!(
            !text.contains("uploading:") && !text.contains("recent errors"),
            "{text}"
        );
    }

    #[test]
    fn events_read_as_one_aligned_line() {
        let uploaded = format_event(&Event::Uploaded {
            path: "/p/a.png".into(),
            image_id: "abc".into(),
            url: "https://cdn/i/abc/a.png".into(),
            link: "https://cdn/i/abc/a.png".into(),
            existed: false,
        })
        .unwrap();
        assert_eq!(uploaded, "uploaded   /p/a.png  https://cdn/i/abc/a.png");
        let failed = format_event(&Event::Failed {
            path: "/p/b.png".into(),
            code: "truncated".into(),
            message: "/p/b.png: the file ends early".into(),
            permanent: false,
            next_attempt_at: Some(datetime!(2026-01-31 14:07:05 UTC)),
        })
        .unwrap();
        assert_eq!(
            failed,
            "failed     /p/b.png  truncated: the file ends early (retry at 14:07:05 UTC)"
        );
        assert_eq!(
            format_event(&Event::Offline {
                reason: "connection refused".into()
            })
            .unwrap(),
            "offline    connection refused"
        );
        assert!(
            format_event(&Event::Progress {
                path: "/p/a.png".into(),
                bytes_done: 1,
                bytes_total: 2
            })
            .is_none()
        );
    }

    #[test]
    fn removed_folders_are_resolved_without_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        assert_eq!(folder_path(dir.path()).unwrap(), real);
        let gone = folder_path(&real.join("gone/../gone2/./x")).unwrap();
        assert_eq!(gone, real.join("gone2/x"));
        assert!(folder_path(Path::new("relative")).unwrap().is_absolute());
    }
}
