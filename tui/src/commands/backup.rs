//! `imgcloud backup verify|restore`: the sync daemon's local backup store, read directly (the
//! daemon need not run). The store is where `daemon.toml` says (`backup_dir`), by default
//! `backup/` in the data directory.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use imgcloud_core::backup::{BackupEntry, BackupStore, RestoreReport, VerifyReport};
use imgcloud_core::daemon_config::DaemonConfig;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use time::OffsetDateTime;

use crate::cli::{BackupAction, BackupArgs};
use crate::context::Context;
use crate::exit::{PARTIAL_FAILURE, UsageError};
use crate::output::{self, sanitize_for_terminal as clean};

pub async fn run(ctx: &Context, args: &BackupArgs) -> anyhow::Result<ExitCode> {
    let config_file = ctx.dirs.daemon_config_file();
    let config = DaemonConfig::load(&config_file).map_err(|e| UsageError(e.to_string()))?;
    let root = config.backup_root(&ctx.dirs);
    if !root.is_dir() {
        anyhow::bail!(
            "there is no backup store at {} (nothing backed up yet, or `backup_dir` in {} points elsewhere)",
            root.display(),
            config_file.display()
        );
    }
    match &args.action {
        BackupAction::Verify(verify) => {
            let report = with_progress("verifying", move |progress| {
                BackupStore::open(&root)?.verify(progress)
            })
            .await?;
            let failed = !report.corrupt.is_empty() || !report.missing.is_empty();
            if verify.json {
                output::print_json(&VerifyJson::from(&report))?;
            } else {
                output::print_lines(&verify_lines(&report))?;
                eprintln!("{}", verify_summary(&report));
            }
            Ok(exit_code(failed))
        }
        BackupAction::Restore(restore) => {
            let to = restore.to.clone();
            if let Some(to) = &to {
                std::fs::create_dir_all(to)
                    .with_context(|| format!("cannot create {}", to.display()))?;
            }
            let report = with_progress("restoring", move |progress| {
                BackupStore::open(&root)?.restore(to.as_deref(), progress)
            })
            .await?;
            if restore.json {
                output::print_json(&RestoreJson::from(&report))?;
            } else {
                let lines: Vec<String> = report
                    .restored
                    .iter()
                    .map(|p| clean(&p.display().to_string()))
                    .collect();
                output::print_lines(&lines)?;
                for (path, reason) in &report.failed {
                    output::error(format_args!(
                        "{}: {}",
                        clean(&path.display().to_string()),
                        reason
                    ));
                }
                eprintln!("{}", restore_summary(&report));
            }
            Ok(exit_code(!report.failed.is_empty()))
        }
    }
}

fn exit_code(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(PARTIAL_FAILURE)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs a blocking store operation off the async runtime, with a progress bar on a terminal.
async fn with_progress<T: Send + 'static>(
    what: &'static str,
    job: impl FnOnce(&dyn Fn(u64, u64)) -> Result<T, imgcloud_core::backup::BackupError>
    + Send
    + 'static,
) -> anyhow::Result<T> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} files, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(what);
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(bar)
    } else {
        None
    };
    let shown = bar.clone();
    let result = tokio::task::spawn_blocking(move || {
        job(&|done, total| {
            if let Some(bar) = &shown {
                bar.set_length(total);
                bar.set_position(done);
            }
        })
    })
    .await
    .context("the backup task failed")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result.with_context(|| format!("{what} the backup failed"))
}

/// Stdout of `verify`: one line per problem (`corrupt SHA SOURCE`, `missing SHA SOURCE`).
fn verify_lines(report: &VerifyReport) -> Vec<String> {
    let line = |kind: &str, entry: &BackupEntry| {
        clean(&format!(
            "{kind:<8} {}  {}",
            entry.sha256,
            entry.source.display()
        ))
    };
    report
        .corrupt
        .iter()
        .map(|e| line("corrupt", e))
        .chain(report.missing.iter().map(|e| line("missing", e)))
        .collect()
}

fn verify_summary(report: &VerifyReport) -> String {
    let mut text = format!(
        "checked {} backup copies: {} ok, {} corrupt, {} missing",
        report.checked,
        report.ok,
        report.corrupt.len(),
        report.missing.len()
    );
    if !report.corrupt.is_empty() || !report.missing.is_empty() {
        text.push_str(
            "; the cloud still has these images if they were uploaded, and the daemon copies a \
             source file again when it changes",
        );
    }
    text
}

fn restore_summary(report: &RestoreReport) -> String {
    format!(
        "restored {}, {} already in place, {} failed",
        report.restored.len(),
        report.unchanged.len(),
        report.failed.len()
    )
}

#[derive(Debug, Serialize)]
struct EntryJson<'a> {
    sha256: &'a str,
    name: &'a str,
    source: &'a Path,
    size: u64,
    #[serde(with = "time::serde::rfc3339")]
    added_at: OffsetDateTime,
}

impl<'a> From<&'a BackupEntry> for EntryJson<'a> {
    fn from(e: &'a BackupEntry) -> Self {
        Self {
            sha256: &e.sha256,
            name: &e.name,
            source: &e.source,
            size: e.size,
            added_at: e.added_at,
        }
    }
}

#[derive(Debug, Serialize)]
struct VerifyJson<'a> {
    checked: u64,
    ok: u64,
    corrupt: Vec<EntryJson<'a>>,
    missing: Vec<EntryJson<'a>>,
}

impl<'a> From<&'a VerifyReport> for VerifyJson<'a> {
    fn from(r: &'a VerifyReport) -> Self {
        Self {
            checked: r.checked,
            ok: r.ok,
            corrupt: r.corrupt.iter().map(EntryJson::from).collect(),
            missing: r.missing.iter().map(EntryJson::from).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct FailedJson<'a> {
    path: &'a Path,
    error: &'a str,
}

#[derive(Debug, Serialize)]
struct RestoreJson<'a> {
    restored: &'a [PathBuf],
    unchanged: &'a [PathBuf],
    failed: Vec<FailedJson<'a>>,
}

impl<'a> From<&'a RestoreReport> for RestoreJson<'a> {
    fn from(r: &'a RestoreReport) -> Self {
        Self {
            restored: &r.restored,
            unchanged: &r.unchanged,
            failed: r
                .failed
                .iter()
                .map(|(path, error)| FailedJson { path, error })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn entry(sha: &str, source: &str) -> BackupEntry {
        BackupEntry {
            sha256: sha.into(),
            name: "a.png".into(),
            source: source.into(),
            size: 10,
            added_at: datetime!(2026-01-31 14:05:09 UTC),
        }
    }

    #[test]
    fn verify_reports_problems_on_stdout_and_counts_on_stderr() {
        let report = VerifyReport {
            checked: 3,
            ok: 1,
            corrupt: vec![entry("aa", "/p/a.png")],
            missing: vec![entry("bb", "/p/b\x07.png")],
        };
        assert_eq!(
            verify_lines(&report),
            ["corrupt  aa  /p/a.png", "missing  bb  /p/b\u{FFFD}.png"]
        );
        let summary = verify_summary(&report);
        assert!(
            summary.starts_with("checked 3 backup copies: 1 ok, 1 corrupt, 1 missing;"),
            "{summary}"
        );
        let clean = VerifyReport {
            checked: 2,
            ok: 2,
            ..VerifyReport::default()
        };
        assert!(verify_lines(&clean).is_empty());
        assert_eq!(
            verify_summary(&clean),
            "checked 2 backup copies: 2 ok, 0 corrupt, 0 missing"
        );
    }

    #[test]
    fn json_reports_are_complete() {
        let report = VerifyReport {
            checked: 1,
            ok: 0,
            corrupt: vec![entry("aa", "/p/a.png")],
            missing: vec![],
        };
        let json = serde_json::to_value(VerifyJson::from(&report)).unwrap();
        assert_eq!(json["corrupt"][0]["sha256"], "aa");
        assert_eq!(json["corrupt"][0]["added_at"], "2026-01-31T14:05:09Z");
        let restore = RestoreReport {
            restored: vec!["/out/a.png".into()],
            unchanged: vec![],
            failed: vec![("/out/b.png".into(), "disk full".into())],
        };
        let json = serde_json::to_value(RestoreJson::from(&restore)).unwrap();
        assert_eq!(json["restored"][0], "/out/a.png");
        assert_eq!(json["failed"][0]["error"], "disk full");
        assert_eq!(
            restore_summary(&restore),
            "restored 1, 0 already in place, 1 failed"
        );
    }
}
