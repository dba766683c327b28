//! One file at a time, resumable: what the sync daemon uses.
//!
//! [`prepare_file`] reads, hashes, probes and thumbnails a file (blocking), exactly as the batch
//! pipeline's scan and thumbnail stages do. [`upload_prepared`] sends it, reporting a
//! [`Checkpoint`] after each step so a caller that persists it can resume after a crash:
//!
//! 1. A checkpoint about other bytes (the file changed since) is replaced by a fresh one, and
//!    its session is aborted.
//! 2. `create_upload` is sent with the checkpoint's idempotency key: the server answers the same
//!    session for the same key (with fresh presigned URLs), or `exists` once the image is in
//!    the library. The session id is recorded (and `on_checkpoint` called) before any byte is
//!    sent; a different session id (the old one expired) drops the recorded parts.
//! 3. The original goes up in one PUT, or in parts, skipping the parts the checkpoint records;
//!    each part that is stored is recorded at once. Thumbnails are sent every time (they are
//!    small).
//! 4. `complete_upload` with every part, sorted by number.
//!
//! When the session is gone (a part PUT answers 404 `NoSuchUpload`, or `complete` answers 404
//! or 409, e.g. after the server's janitor removed an expired session), the upload starts over
//! once with a fresh checkpoint. When a presigned PUT answers 403 (its URL expired while it
//! waited), the session is asked for once more, which brings fresh URLs. A permanent failure
//! after the session was created aborts it and resets the checkpoint; a transient one (see
//! [`UploadError::is_transient`]) keeps both, to resume from.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::pipeline::{create_request, make_thumbs, thumb_options};
use super::scan::{Scanned, scan_file, stat};
use super::send::{SendError, SendPlan, send_objects};
use super::{UploadError, UploadOptions, Uploaded};
use crate::api::{
    CompleteUpload, CompletedPart, CreateUpload, CreateUploadResponse, Limits, OriginalTarget,
};
use crate::client::{Client, ClientError, new_idempotency_key};
use crate::thumbs::Thumbnail;

/// A file read, hashed, probed and thumbnailed, ready to go up.
pub struct Prepared {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// Display size (EXIF orientation applied).
    pub width: u32,
    pub height: u32,
    scanned: Scanned,
    thumbs: Vec<Thumbnail>,
    create: CreateUpload,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("path", &self.path)
            .field("size", &self.size)
            .field("sha256", &self.sha256)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("parts", &self.part_count())
            .finish()
    }
}

impl Prepared {
    /// Number of parts the original goes up in (`None`: one PUT).
    pub fn part_count(&self) -> Option<usize> {
        self.scanned.hashes.parts.as_ref().map(Vec::len)
    }

    /// The content type found by probing the bytes.
    pub fn content_type(&self) -> &str {
        &self.create.content_type
    }
}

/// Reads `path` once (see the module docs of `upload`): hashes, probe, thumbnails. Fails with
/// the transient [`UploadError::Changed`] when the file changes while being read, and with
/// permanent errors for files that cannot be uploaded (empty, not an image, truncated, too
/// large for `limits`). Blocking: run it on a blocking thread.
pub fn prepare_file(
    path: &Path,
    limits: &Limits,
    options: &UploadOptions,
) -> Result<Prepared, UploadError> {
    let scanned = scan_file(path, limits, options.in_memory_max)?;
    let thumbs = make_thumbs(
        &scanned.path,
        &scanned.probe,
        scanned.data.as_ref(),
        &thumb_options(limits, options),
    )?;
    let create = create_request(&scanned, &thumbs, limits);
    Ok(Prepared {
        path: scanned.path.clone(),
        size: scanned.size,
        sha256: scanned.hashes.sha256.clone(),
        width: create.width,
        height: create.height,
        scanned,
        thumbs,
        create,
    })
}

/// Recorded progress of one upload; persist it (e.g. as JSON) between calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The hash this checkpoint is about; a different file starts over.
    pub sha256: String,
    pub idempotency_key: String,
    #[serde(default)]
    pub upload_id: Option<String>,
    #[serde(default)]
    pub parts_done: Vec<CompletedPart>,
}

impl Checkpoint {
    /// A fresh checkpoint with a new idempotency key.
    pub fn new(sha256: &str) -> Self {
        Self {
            sha256: sha256.to_string(),
            idempotency_key: new_idempotency_key(),
            upload_id: None,
            parts_done: Vec::new(),
        }
    }

    /// Bytes of the original the recorded parts hold, for a file of `size` bytes cut into
    /// parts of `part_size` (to show where a resumed upload starts).
    pub fn bytes_done(&self, size: u64, part_size: u64) -> u64 {
        self.parts_done
            .iter()
            .map(|p| {
                let offset = u64::from(p.number.saturating_sub(1)) * part_size;
                part_size.min(size.saturating_sub(offset))
            })
            .sum()
    }
}

/// Uploads a prepared file, resuming from `checkpoint`. `on_checkpoint` is called after every
/// change of the checkpoint (session created, each part done); `on_progress(done, total)` with
/// bytes of the original in the store (parts done by an earlier call included). When the
/// checkpoint is about other bytes, its session is aborted and the upload starts over. See the
/// module docs for how a vanished session or expired URLs are handled.
pub async fn upload_prepared(
    client: &Client,
    prepared: &Prepared,
    checkpoint: &mut Checkpoint,
    options: &UploadOptions,
    on_progress: &(dyn Fn(u64, u64) + Send + Sync),
    on_checkpoint: &(dyn Fn(&Checkpoint) + Send + Sync),
) -> Result<Uploaded, UploadError> {
    if checkpoint.sha256 != prepared.sha256 || checkpoint.idempotency_key.is_empty() {
        if let Some(old) = checkpoint.upload_id.take() {
            abort_quietly(client, &old).await;
        }
        *checkpoint = Checkpoint::new(&prepared.sha256);
        on_checkpoint(checkpoint);
    }
    let mut started_over = false;
    let mut refreshed = false;
    loop {
        let error = match attempt(
            client,
            prepared,
            checkpoint,
            options,
            on_progress,
            on_checkpoint,
        )
        .await
        {
            Ok(done) => return Ok(done),
            Err(Failure::SessionGone(e)) if !started_over => {
                tracing::info!(path = %prepared.path.display(), error = %e, "upload session is gone; starting over");
                started_over = true;
                if let Some(old) = checkpoint.upload_id.take() {
                    abort_quietly(client, &old).await;
                }
                *checkpoint = Checkpoint::new(&prepared.sha256);
                on_checkpoint(checkpoint);
                continue;
            }
            Err(Failure::UrlsRefused(e)) if !refreshed => {
                tracing::info!(path = %prepared.path.display(), error = %e, "presigned URL refused; asking for fresh ones");
                refreshed = true;
                continue;
            }
            Err(Failure::SessionGone(e) | Failure::UrlsRefused(e) | Failure::Other(e)) => e,
        };
        if !error.is_transient()
            && error.code() != "unauthorized"
            && let Some(old) = checkpoint.upload_id.take()
        {
            // Trying again would fail the same way: do not leave the session to the janitor.
            abort_quietly(client, &old).await;
            *checkpoint = Checkpoint::new(&prepared.sha256);
            on_checkpoint(checkpoint);
        }
        return Err(error);
    }
}

/// How one attempt failed.
enum Failure {
    /// The session no longer exists (or cannot be completed): start over with a new one.
    SessionGone(UploadError),
    /// A presigned URL was refused (403): the same session with fresh URLs may work.
    UrlsRefused(UploadError),
    Other(UploadError),
}

async fn attempt(
    client: &Client,
    prepared: &Prepared,
    checkpoint: &mut Checkpoint,
    options: &UploadOptions,
    on_progress: &(dyn Fn(u64, u64) + Send + Sync),
    on_checkpoint: &(dyn Fn(&Checkpoint) + Send + Sync),
) -> Result<Uploaded, Failure> {
    let path = &prepared.path;
    check_unchanged(prepared).map_err(Failure::Other)?;
    let answer = client
        .create_upload(&prepared.create, &checkpoint.idempotency_key)
        .await
        .map_err(|e| Failure::Other(UploadError::from_client(path, e)))?;
    let (upload_id, original, targets) = match answer {
        CreateUploadResponse::Exists { image } => {
            if let Some(old) = checkpoint.upload_id.take() {
                // Usually already gone (our own completed session); otherwise a leftover.
                abort_quietly(client, &old).await;
            }
            return Ok(Uploaded {
                image,
                existed: true,
            });
        }
        CreateUploadResponse::Upload {
            upload_id,
            original,
            thumbs,
            ..
        } => (upload_id, original, thumbs),
    };
    if checkpoint.upload_id.as_deref() != Some(upload_id.as_str()) {
        checkpoint.upload_id = Some(upload_id.clone());
        checkpoint.parts_done.clear();
        on_checkpoint(checkpoint);
    }
    let multipart = matches!(original, OriginalTarget::Multipart { .. });
    let parts_done = if multipart {
        checkpoint.parts_done.clone()
    } else {
        Vec::new()
    };
    let plan = SendPlan {
        scanned: &prepared.scanned,
        thumbs: &prepared.thumbs,
        original: &original,
        targets: &targets,
        parts_done: &parts_done,
    };
    let total = prepared.size;
    let progress = |done: u64| on_progress(done, total);
    let mut on_part = |part: &CompletedPart| {
        checkpoint.parts_done.retain(|p| p.number != part.number);
        checkpoint.parts_done.push(part.clone());
        on_checkpoint(checkpoint);
    };
    let parts = match send_objects(client, &plan, options, &progress, &mut on_part).await {
        Ok(parts) => parts,
        Err(SendError {
            error,
            status: Some(404),
        }) if multipart => return Err(Failure::SessionGone(error)),
        Err(SendError {
            error,
            status: Some(403),
        }) => return Err(Failure::UrlsRefused(error)),
        Err(SendError { error, .. }) => return Err(Failure::Other(error)),
    };
    check_unchanged(prepared).map_err(Failure::Other)?;
    match client
        .complete_upload(&upload_id, &CompleteUpload { parts })
        .await
    {
        Ok(image) => Ok(Uploaded {
            image,
            existed: false,
        }),
        Err(e) if matches!(e.status(), Some(404 | 409)) => {
            Err(Failure::SessionGone(UploadError::from_client(path, e)))
        }
        Err(e) => Err(Failure::Other(UploadError::from_client(path, e))),
    }
}

/// The file must still be what was prepared (same size and modification time).
fn check_unchanged(prepared: &Prepared) -> Result<(), UploadError> {
    let scanned = &prepared.scanned;
    if stat(&scanned.path)? != (scanned.size, scanned.modified) {
        return Err(UploadError::Changed {
            path: scanned.path.clone(),
        });
    }
    Ok(())
}

/// Aborts a session, best effort: one already gone is fine, other failures are logged (the
/// server's janitor removes stale sessions).
async fn abort_quietly(client: &Client, upload_id: &str) {
    match client.abort_upload(upload_id).await {
        Ok(()) | Err(ClientError::NotFound { .. }) => {}
        Err(e) => {
            tracing::warn!(upload_id, error = %e, "could not abort an old upload session; the server's janitor will")
        }
    }
}
