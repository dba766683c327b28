//! Uploads through the core pipeline: files and folders (dropped or picked), and image bytes
//! pasted from the clipboard. Each file reports its progress as an `upload-progress` event;
//! the command answers with one result per file, in input order, each finished one with its
//! link in the chosen format.

use std::path::{Path, PathBuf};

use imgcloud_core::api::Image;
use imgcloud_core::links::{LinkFormat, format_link};
use imgcloud_core::upload::{UploadEvent, UploadOptions, upload_paths};
use serde::{Deserialize, Serialize};
use tauri::ipc::{InvokeBody, Request};
use tauri::{AppHandle, Emitter, Manager, Runtime, State};

use crate::clipboard::Clipboard;
use crate::connection::Connection;
use crate::error::{CommandError, ErrorCode};
use crate::images::link_format;

/// Name of the event carrying [`UploadProgress`].
pub const PROGRESS_EVENT: &str = "upload-progress";

/// Largest pasted image accepted (the server's own limit applies as well).
pub const MAX_PASTE_BYTES: usize = 256 * 1024 * 1024;

/// One step of one file of a batch. `batch` is the id the UI gave the upload; `index` the
/// file's position in the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UploadProgress {
    Started {
        batch: String,
        index: usize,
        path: String,
        bytes: u64,
    },
    Progress {
        batch: String,
        index: usize,
        bytes_done: u64,
        bytes_total: u64,
    },
    Finished {
        batch: String,
        index: usize,
        link: String,
        existed: bool,
    },
    Failed {
        batch: String,
        index: usize,
        path: String,
        error: String,
    },
}

/// Why a file did not upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadFailure {
    /// Stable reason (`not_an_image`, `too_large`, `network`…; see `UploadError::code`).
    pub code: String,
    pub message: String,
    /// Worth retrying as is (network trouble, 5xx, 429, a file that changed while read).
    pub retryable: bool,
}

/// The outcome of one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadResult {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// The link in the chosen format (set when `image` is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The user already had these bytes: nothing was sent.
    #[serde(default)]
    pub existed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<UploadFailure>,
}

/// Uploads `paths` (files, and folders recursively) and reports progress to the UI. `shown_as`
/// replaces every path in what the UI sees (a pasted image's temp file).
async fn upload<R: Runtime>(
    app: &AppHandle<R>,
    connection: &Connection,
    batch: &str,
    paths: Vec<PathBuf>,
    format: &LinkFormat,
    shown_as: Option<String>,
) -> Result<Vec<UploadResult>, CommandError> {
    let client = connection.client().await?;
    let options = UploadOptions {
        concurrency: connection
            .config()
            .map(|(c, _)| c.concurrency)
            .unwrap_or(4)
            .max(1),
        ..UploadOptions::default()
    };
    let display = move |path: &Path| match &shown_as {
        Some(name) => name.clone(),
        None => path.display().to_string(),
    };
    let events = {
        let (app, batch, format, display) = (
            app.clone(),
            batch.to_string(),
            format.clone(),
            display.clone(),
        );
        move |event| {
            let batch = batch.clone();
            let progress = match event {
                UploadEvent::Started { index, path, bytes } => UploadProgress::Started {
                    batch,
                    index,
                    path: display(&path),
                    bytes,
                },
                UploadEvent::Progress {
                    index,
                    bytes_done,
                    bytes_total,
                } => UploadProgress::Progress {
                    batch,
                    index,
                    bytes_done,
                    bytes_total,
                },
                UploadEvent::Finished {
                    index,
                    image,
                    existed,
                } => UploadProgress::Finished {
                    batch,
                    index,
                    link: format_link(&image, &format),
                    existed,
                },
                UploadEvent::Failed { index, path, error } => UploadProgress::Failed {
                    batch,
                    index,
                    path: display(&path),
                    error,
                },
            };
            if let Err(e) = app.emit(PROGRESS_EVENT, &progress) {
                tracing::debug!("cannot send upload progress: {e}");
            }
        }
    };
    // The pipeline's future is not `Send` as rustc sees it (borrows across its stream
    // stages), which a command's future must be: run it on a blocking thread of the runtime.
    let runtime = tokio::runtime::Handle::current();
    let outcomes = tokio::task::spawn_blocking(move || {
        runtime.block_on(upload_paths(&client, &paths, &options, events))
    })
    .await
    .map_err(|e| CommandError::new(ErrorCode::Internal, format!("the upload stopped: {e}")))?;
    let results: Vec<UploadResult> = outcomes
        .into_iter()
        .map(|outcome| match outcome.result {
            Ok(done) => UploadResult {
                path: display(&outcome.path),
                link: Some(format_link(&done.image, format)),
                image: Some(done.image),
                existed: done.existed,
                error: None,
            },
            Err(e) => UploadResult {
                path: display(&outcome.path),
                image: None,
                link: None,
                existed: false,
                error: Some(UploadFailure {
                    code: e.code().to_string(),
                    message: e.to_string(),
                    retryable: e.is_transient(),
                }),
            },
        })
        .collect();
    // A batch where every file failed on the network says the client is stale or the server
    // is gone: make a fresh one next time.
    if !results.is_empty()
        && results
            .iter()
            .all(|r| r.error.as_ref().is_some_and(|e| e.retryable))
    {
        connection.forget_client().await;
    }
    Ok(results)
}

/// Uploads dropped or picked files and folders.
#[tauri::command]
pub async fn upload_files<R: Runtime>(
    app: AppHandle<R>,
    connection: State<'_, Connection>,
    batch: String,
    paths: Vec<String>,
    format: Option<String>,
    template: Option<String>,
) -> Result<Vec<UploadResult>, CommandError> {
    if paths.is_empty() {
        return Err(CommandError::new(ErrorCode::Invalid, "no files to upload"));
    }
    let format = link_format(&connection, format.as_deref(), template.as_deref())?;
    let paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    upload(&app, &connection, &batch, paths, &format, None).await
}

/// Uploads image bytes pasted from the clipboard (or read from a file input). The bytes are
/// the raw request body; headers: `x-filename` (display name, e.g. `pasted-2026….png`),
/// `x-batch` (progress id), optional `x-link-format` / `x-link-template`.
#[tauri::command]
pub async fn upload_bytes<R: Runtime>(
    app: AppHandle<R>,
    connection: State<'_, Connection>,
    request: Request<'_>,
) -> Result<Vec<UploadResult>, CommandError> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let InvokeBody::Raw(bytes) = request.body() else {
        return Err(CommandError::new(
            ErrorCode::Invalid,
            "upload_bytes expects the image bytes as the raw request body",
        ));
    };
    if bytes.is_empty() {
        return Err(CommandError::new(
            ErrorCode::Invalid,
            "the pasted image is empty",
        ));
    }
    if bytes.len() > MAX_PASTE_BYTES {
        return Err(CommandError::new(
            ErrorCode::Invalid,
            format!(
                "the pasted image is {} bytes; at most {MAX_PASTE_BYTES} can be pasted, save it to a file and drop it instead",
                bytes.len()
            ),
        ));
    }
    let raw_name = header("x-filename").unwrap_or_default();
    // Header values are ASCII: the UI sends non-ASCII names percent-encoded.
    let name = if header("x-filename-encoding").as_deref() == Some("uri") {
        percent_decode(&raw_name)
    } else {
        raw_name
    };
    let name = safe_filename(&name);
    let batch = header("x-batch").unwrap_or_default();
    let format = link_format(
        &connection,
        header("x-link-format").as_deref(),
        header("x-link-template").as_deref(),
    )?;
    upload_named_bytes(&app, &connection, &batch, name, bytes, &format).await
}

/// Writes `bytes` as `name` in a private temp dir and uploads that file.
async fn upload_named_bytes<R: Runtime>(
    app: &AppHandle<R>,
    connection: &Connection,
    batch: &str,
    name: String,
    bytes: &[u8],
    format: &LinkFormat,
) -> Result<Vec<UploadResult>, CommandError> {
    let dir = tempfile::Builder::new()
        .prefix("imgcloud-paste-")
        .tempdir()
        .map_err(|e| {
            CommandError::new(
                ErrorCode::Internal,
                format!("cannot make a temporary folder for the pasted image: {e}"),
            )
        })?;
    let path = dir.path().join(&name);
    tokio::fs::write(&path, bytes).await.map_err(|e| {
        CommandError::new(
            ErrorCode::Internal,
            format!("cannot write the pasted image to {}: {e}", path.display()),
        )
    })?;
    let results = upload(app, connection, batch, vec![path], format, Some(name)).await;
    drop(dir);
    results
}

/// Uploads the image on the system clipboard (the tray's and the global shortcut's action);
/// on success its link (configured format) replaces it on the clipboard. Answers the result.
pub async fn upload_clipboard<R: Runtime>(
    app: &AppHandle<R>,
) -> Result<UploadResult, CommandError> {
    let connection = app.state::<Connection>();
    let clipboard = app.state::<Clipboard>();
    let png = clipboard.image_png()?;
    let format = connection.link_format()?;
    let name = format!("clipboard-{}.png", unix_time());
    let mut results =
        upload_named_bytes(app, &connection, "clipboard", name, &png, &format).await?;
    let result = results.pop().ok_or_else(|| {
        CommandError::new(ErrorCode::Internal, "the upload pipeline answered nothing")
    })?;
    if let Some(link) = &result.link {
        clipboard.set_text(link)?;
    }
    Ok(result)
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Uploads the image on the system clipboard; its link then replaces it there.
#[tauri::command]
pub async fn upload_clipboard_image<R: Runtime>(
    app: AppHandle<R>,
) -> Result<UploadResult, CommandError> {
    upload_clipboard(&app).await
}

/// Decodes `%XX` escapes (as `encodeURIComponent` writes them); invalid UTF-8 is replaced.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The last path component of `name` with control characters and separators removed; a
/// generic name when nothing usable is left.
pub fn safe_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        "pasted-image".to_string()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, safe_filename};

    #[test]
    fn safe_filename_keeps_the_last_component_only() {
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(safe_filename("C:\\x\\shot.png"), "shot.png");
        assert_eq!(safe_filename("a\u{0}b.png"), "ab.png");
        assert_eq!(safe_filename(".."), "pasted-image");
        assert_eq!(safe_filename("  "), "pasted-image");
        assert_eq!(safe_filename("Screenshot 1.png"), "Screenshot 1.png");
    }

    #[test]
    fn percent_decode_reads_what_encode_uri_component_writes() {
        assert_eq!(percent_decode("caf%C3%A9%20%E2%82%AC.png"), "café €.png");
        assert_eq!(percent_decode("100%.png"), "100%.png");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
