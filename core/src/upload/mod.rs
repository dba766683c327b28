//! The upload pipeline: files and folders in, images (with links) out, in input order.
//!
//! Stages, overlapped so the CPU and the network are busy at the same time:
//! 1. **scan** (blocking pool): read each file once — SHA-256 of the whole file and, at or above
//!    `limits.multipart_cutoff`, of each part — then probe it (type by content, size, EXIF) and
//!    make sure it did not change while being read;
//! 2. **check**: the hashes that are ready go to `POST /v1/uploads/check` together, so files the
//!    user already has skip uploading;
//! 3. **upload** (at most `concurrency` files at once): `create_upload` → presigned PUTs of the
//!    original (single or parts, `part_concurrency` at once) → `complete_upload`. A failure
//!    after `create_upload` aborts the session.
//!
//! No pixel is decoded on the way (the critical path is hash + PUT + register): the cloud makes
//! the thumbnails, and the link is ready as soon as the original is stored.
//!
//! The sync daemon goes one file at a time instead, with resumable uploads: [`prepare_file`]
//! runs the scan stage for one file, and [`upload_prepared`] sends it from a
//! persisted [`Checkpoint`] (same session via the idempotency key, recorded parts skipped);
//! see the `single` module docs. Both paths share the object-store PUTs (`send`), and both go
//! through the client's bandwidth limit ([`Client::with_bandwidth_limit`]).
//!
//! Every failure is an [`UploadError`] naming the file, with a stable [`UploadError::code`]
//! and [`UploadError::is_transient`]: network trouble, 5xx, 429, 408 and a file that changed
//! while being read are worth retrying later; a file that is not an image, empty, truncated,
//! corrupt or too large, and any other 4xx answer, are not.

mod error;
mod inputs;
mod pipeline;
mod scan;
mod send;
mod single;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::Image;
use crate::client::Client;

pub use error::UploadError;
pub use inputs::expand_inputs;
pub use scan::{FileHashes, hash_file};
pub use single::{Checkpoint, Prepared, prepare_file, upload_prepared};

use error::clone_client_error;
use pipeline::run_pipeline;

/// Tuning of [`upload_paths`].
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Files uploading at once (default 4, like rclone's transfers).
    pub concurrency: usize,
    /// Parts of one multipart upload in flight at once (default 4).
    pub part_concurrency: usize,
    /// Threads hashing at once (default: the number of CPUs).
    pub cpu_workers: usize,
    /// Files up to this size are read into memory once and uploaded from there; larger ones
    /// are streamed from disk (default 16 MiB).
    pub in_memory_max: u64,
    /// Visibility of the new images (default: the account's default).
    pub visibility: Option<crate::api::Visibility>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            part_concurrency: 4,
            cpu_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            in_memory_max: 16 * 1024 * 1024,
            visibility: None,
        }
    }
}

/// What [`upload_paths`] reports while it works. `index` is the position in the result.
// Events are short-lived and sent one at a time; boxing the image would only cost callers.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum UploadEvent {
    Started {
        index: usize,
        path: PathBuf,
        bytes: u64,
    },
    /// Bytes of the original sent so far.
    Progress {
        index: usize,
        bytes_done: u64,
        bytes_total: u64,
    },
    Finished {
        index: usize,
        image: Image,
        existed: bool,
    },
    Failed {
        index: usize,
        path: PathBuf,
        error: String,
    },
}

/// A file that is in the library now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub image: Image,
    /// The user already had these bytes: nothing was uploaded.
    pub existed: bool,
}

/// The result for one file, in input order.
#[derive(Debug)]
pub struct UploadOutcome {
    pub path: PathBuf,
    pub result: Result<Uploaded, UploadError>,
}

/// Uploads files and folders (see [`expand_inputs`]); returns one outcome per file, in input
/// order. Never fails as a whole: every problem is attached to the file it concerns.
pub async fn upload_paths(
    client: &Client,
    inputs: &[PathBuf],
    options: &UploadOptions,
    events: impl Fn(UploadEvent) + Send + Sync,
) -> Vec<UploadOutcome> {
    let owned = inputs.to_vec();
    let files = match tokio::task::spawn_blocking(move || expand_inputs(&owned)).await {
        Ok(files) => files,
        Err(_) => expand_inputs(inputs),
    };
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|f| match f {
            Ok(path) => path.clone(),
            Err(e) => e.path().to_path_buf(),
        })
        .collect();
    let mut results: Vec<Option<Result<Uploaded, UploadError>>> =
        (0..files.len()).map(|_| None).collect();
    let report = |index: usize,
                  result: Result<Uploaded, UploadError>,
                  results: &mut Vec<Option<Result<Uploaded, UploadError>>>| {
        match &result {
            Ok(done) => events(UploadEvent::Finished {
                index,
                image: done.image.clone(),
                existed: done.existed,
            }),
            Err(e) => {
                tracing::info!(error = %e, "upload failed");
                events(UploadEvent::Failed {
                    index,
                    path: paths[index].clone(),
                    error: e.to_string(),
                })
            }
        }
        results[index] = Some(result);
    };

    let mut todo = Vec::new();
    for (index, file) in files.into_iter().enumerate() {
        match file {
            Ok(path) => todo.push((index, path)),
            Err(e) => report(index, Err(e), &mut results),
        }
    }

    if !todo.is_empty() {
        match client.limits().await {
            Err(e) => {
                let e = Arc::new(e);
                for (index, path) in todo {
                    let source = clone_client_error(&e);
                    report(
                        index,
                        Err(UploadError::Client { path, source }),
                        &mut results,
                    );
                }
            }
            Ok(limits) => {
                let done = run_pipeline(client, &limits, todo, options, &events).await;
                for (index, result) in done {
                    report(index, result, &mut results);
                }
            }
        }
    }

    paths
        .into_iter()
        .zip(results)
        .map(|(path, result)| UploadOutcome {
            result: result.unwrap_or_else(|| {
                Err(UploadError::Unreadable {
                    path: path.clone(),
                    source: io::Error::other("not processed"),
                })
            }),
            path,
        })
        .collect()
}
