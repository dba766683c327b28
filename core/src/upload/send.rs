//! The upload stage's object-store PUTs of the original (single or in parts).
//!
//! Shared by the batch pipeline and the resumable single-file path: parts already done (from a
//! checkpoint) are skipped, and each part that finishes is reported as soon as it does.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, stream};

use super::UploadError;
use super::UploadOptions;
use super::scan::Scanned;
use crate::api::{CompletedPart, OriginalTarget, PartTarget};
use crate::client::{Client, ClientError, UploadBody};

/// Why a PUT failed: the error for the user, and the HTTP status of the object store's answer
/// (when it answered) so callers can tell an expired URL or a vanished multipart upload apart.
#[derive(Debug)]
pub(super) struct SendError {
    pub(super) error: UploadError,
    pub(super) status: Option<u16>,
}

impl From<UploadError> for SendError {
    fn from(error: UploadError) -> Self {
        Self {
            error,
            status: None,
        }
    }
}

impl SendError {
    fn client(path: &std::path::Path, e: ClientError) -> Self {
        Self {
            status: e.status(),
            error: UploadError::from_client(path, e),
        }
    }
}

/// What to send and what is already there.
pub(super) struct SendPlan<'a> {
    pub(super) scanned: &'a Scanned,
    pub(super) original: &'a OriginalTarget,
    /// Parts recorded as sent by an earlier attempt of the same session: not sent again.
    pub(super) parts_done: &'a [CompletedPart],
}

/// PUTs the original (single or the parts not yet done).
///
/// `progress(done)` gets the bytes of the original that are in the store, parts done before
/// included. `on_part` is called once for each part this call sends, as soon as it is stored.
/// Returns every part (earlier ones included) sorted by number, for `complete`.
pub(super) async fn send_objects(
    client: &Client,
    plan: &SendPlan<'_>,
    options: &UploadOptions,
    progress: &(dyn Fn(u64) + Send + Sync),
    on_part: &mut (dyn FnMut(&CompletedPart) + Send),
) -> Result<Vec<CompletedPart>, SendError> {
    let scanned = plan.scanned;
    let path = &scanned.path;
    let total = scanned.size;
    match plan.original {
        OriginalTarget::Single { request } => {
            let body = match &scanned.data {
                Some(bytes) => UploadBody::Bytes(bytes.clone()),
                None => UploadBody::File {
                    path: path.clone(),
                    offset: 0,
                    len: total,
                },
            };
            client
                .send_presigned(request, &body, progress)
                .await
                .map_err(|e| SendError::client(path, e))?;
            Ok(Vec::new())
        }
        OriginalTarget::Multipart { parts, .. } => {
            send_parts(
                client,
                scanned,
                parts,
                plan.parts_done,
                options,
                progress,
                on_part,
            )
            .await
        }
    }
}

async fn send_parts(
    client: &Client,
    scanned: &Scanned,
    parts: &[PartTarget],
    parts_done: &[CompletedPart],
    options: &UploadOptions,
    progress: &(dyn Fn(u64) + Send + Sync),
    on_part: &mut (dyn FnMut(&CompletedPart) + Send),
) -> Result<Vec<CompletedPart>, SendError> {
    let path = &scanned.path;
    let total = scanned.size;
    let covered: u64 = parts.iter().map(|p| p.length).sum();
    if covered != total || parts.iter().any(|p| p.offset + p.length > total) {
        return Err(UploadError::Rejected {
            path: path.clone(),
            message: format!("server's part plan covers {covered} of {total} bytes"),
        }
        .into());
    }
    let is_done = |number: u32| parts_done.iter().any(|p| p.number == number);
    let mut all: Vec<CompletedPart> = parts_done
        .iter()
        .filter(|p| parts.iter().any(|t| t.number == p.number))
        .cloned()
        .collect();
    let todo: Vec<&PartTarget> = parts.iter().filter(|p| !is_done(p.number)).collect();
    let already: u64 = parts
        .iter()
        .filter(|p| is_done(p.number))
        .map(|p| p.length)
        .sum();
    if !todo.is_empty() || already > 0 {
        progress(already);
    }
    let sent: Vec<AtomicU64> = todo.iter().map(|_| AtomicU64::new(0)).collect();
    let sent = &sent;
    let mut running = stream::iter(todo.into_iter().enumerate())
        .map(|(slot, part)| async move {
            let body = UploadBody::File {
                path: path.clone(),
                offset: part.offset,
                len: part.length,
            };
            let part_progress = |bytes: u64| {
                sent[slot].store(bytes, Ordering::Relaxed);
                let in_flight: u64 = sent.iter().map(|s| s.load(Ordering::Relaxed)).sum();
                progress(already + in_flight);
            };
            let etag = client
                .send_presigned(&part.request, &body, &part_progress)
                .await
                .map_err(|e| SendError::client(path, e))?;
            let etag = etag.ok_or_else(|| UploadError::Rejected {
                path: path.clone(),
                message: format!("object store returned no ETag for part {}", part.number),
            })?;
            Ok::<_, SendError>(CompletedPart {
                number: part.number,
                etag,
            })
        })
        .buffer_unordered(options.part_concurrency.max(1));
    while let Some(part) = running.next().await {
        let part = part?;
        on_part(&part);
        all.push(part);
    }
    all.sort_by_key(|p| p.number);
    Ok(all)
}
