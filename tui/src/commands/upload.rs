//! `imgcloud upload PATH…`: upload files and directories, print one link per image in input
//! order (or one JSON document); each failure on stderr as it happens, then a summary.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use imgcloud_core::api::Image;
use imgcloud_core::links::{LinkFormat, format_link};
use imgcloud_core::upload::{UploadError, UploadEvent, UploadOptions, UploadOutcome, upload_paths};
use serde::Serialize;

use crate::cli::UploadArgs;
use crate::context::Context;
use crate::output;
use crate::progress::Progress;

/// What happened to one file, as printed by `--json`.
#[derive(Debug, Serialize)]
pub struct FileReport {
    pub path: PathBuf,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Why the file failed, without the path (e.g. `empty file (0 bytes)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Stable machine-readable failure code (`missing`, `not_an_image`, `truncated`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Uploaded,
    /// The library already had these bytes: nothing was sent.
    Exists,
    Failed,
}

/// `--json` output.
#[derive(Debug, Serialize)]
pub struct UploadReport {
    pub uploaded: usize,
    pub exists: usize,
    pub failed: usize,
    pub files: Vec<FileReport>,
}

pub async fn run(ctx: &Context, args: &UploadArgs) -> anyhow::Result<ExitCode> {
    let format = ctx.link_format(args.format.format.as_deref())?;
    let client = ctx.client()?;
    let concurrency = args
        .concurrency
        .map(usize::from)
        .unwrap_or(ctx.config.concurrency)
        .max(1);
    let options = UploadOptions {
        concurrency,
        visibility: args.visibility(),
        ..UploadOptions::default()
    };

    let progress = Progress::for_stderr();
    let outcomes = upload_paths(&client, &args.paths, &options, |event| match event {
        UploadEvent::Started { index, path, bytes } => progress.started(index, &path, bytes),
        UploadEvent::Progress {
            index, bytes_done, ..
        } => progress.progress(index, bytes_done),
        UploadEvent::Finished { index, .. } => progress.finished(index),
        UploadEvent::Failed { index, error, .. } => {
            progress.finished(index);
            // The message names the file: "PATH: reason".
            progress.message(&format!("error: {}", output::sanitize_for_terminal(&error)));
        }
    })
    .await;
    progress.clear();

    let report = build_report(outcomes, &format);
    let links: Vec<String> = report.files.iter().filter_map(|f| f.link.clone()).collect();
    if args.json {
        output::print_json(&report)?;
    } else {
        output::print_lines(&links)?;
    }
    if args.copy && !links.is_empty() {
        crate::clipboard::report(&crate::clipboard::copy(&links.join("\n")), links.len());
    }
    eprintln!("{}", summary(&report));
    Ok(if report.failed > 0 {
        ExitCode::from(crate::exit::PARTIAL_FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}

/// One [`FileReport`] per outcome, in input order.
pub fn build_report(outcomes: Vec<UploadOutcome>, format: &LinkFormat) -> UploadReport {
    let files: Vec<FileReport> = outcomes
        .into_iter()
        .map(|outcome| match outcome.result {
            Ok(done) => FileReport {
                path: outcome.path,
                status: if done.existed {
                    Status::Exists
                } else {
                    Status::Uploaded
                },
                link: Some(format_link(&done.image, format)),
                image: Some(done.image),
                error: None,
                code: None,
            },
            Err(error) => FileReport {
                error: Some(reason(&outcome.path, &error)),
                code: Some(error.code()),
                path: outcome.path,
                status: Status::Failed,
                link: None,
                image: None,
            },
        })
        .collect();
    let count = |status| files.iter().filter(|f| f.status == status).count();
    UploadReport {
        uploaded: count(Status::Uploaded),
        exists: count(Status::Exists),
        failed: count(Status::Failed),
        files,
    }
}

/// The error message without the leading `PATH: ` that [`UploadError`] messages carry.
fn reason(path: &Path, error: &UploadError) -> String {
    let message = error.to_string();
    let prefix = format!("{}: ", path.display());
    match message.strip_prefix(&prefix) {
        Some(reason) => reason.to_string(),
        None => message,
    }
}

/// "3 uploaded, 1 already there, 1 failed" (zero counts after the first are left out).
pub fn summary(report: &UploadReport) -> String {
    let mut parts = vec![format!("{} uploaded", report.uploaded)];
    if report.exists > 0 {
        parts.push(format!("{} already there", report.exists));
    }
    if report.failed > 0 {
        parts.push(format!("{} failed", report.failed));
    }
    if report.files.is_empty() {
        parts.push("no image files found".into());
    }
    parts.join(", ")
}
