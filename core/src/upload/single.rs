//! One file at a time, resumable: what the sync daemon uses.
//!
//! CONTRACT STUB — implemented by the core helper.
//! [`prepare_file`] reads, hashes, probes and thumbnails a file (blocking). [`upload_prepared`]
//! sends it, reporting a [`Checkpoint`] before and after each step so a caller that persists
//! it can resume after a crash: the same idempotency key gets the same upload session back
//! (with fresh URLs), recorded parts are not sent again, and a completed upload answers
//! `exists`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{UploadError, UploadOptions, Uploaded};
use crate::api::{CompletedPart, Limits};
use crate::client::Client;

/// A file read, hashed, probed and thumbnailed, ready to go up.
pub struct Prepared {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub width: u32,
    pub height: u32,
}

/// Reads `path` once (see the module docs of `upload`): hashes, probe, thumbnails. Fails with
/// [`UploadError::Changed`]-like transient errors when the file changes while being read.
pub fn prepare_file(
    path: &Path,
    limits: &Limits,
    options: &UploadOptions,
) -> Result<Prepared, UploadError> {
    let _ = (path, limits, options);
    unimplemented!("prepare_file")
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
        let _ = sha256;
        unimplemented!("Checkpoint::new")
    }
}

/// Uploads a prepared file, resuming from `checkpoint`. `on_checkpoint` is called after every
/// change of the checkpoint (session created, each part done); `on_progress(done, total)` with
/// bytes of the original. When the checkpoint is about other bytes, its session is aborted
/// and the upload starts over.
pub async fn upload_prepared(
    client: &Client,
    prepared: &Prepared,
    checkpoint: &mut Checkpoint,
    options: &UploadOptions,
    on_progress: &(dyn Fn(u64, u64) + Send + Sync),
    on_checkpoint: &(dyn Fn(&Checkpoint) + Send + Sync),
) -> Result<Uploaded, UploadError> {
    let _ = (
        client,
        prepared,
        checkpoint,
        options,
        on_progress,
        on_checkpoint,
    );
    unimplemented!("upload_prepared")
}
