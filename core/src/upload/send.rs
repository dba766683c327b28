//! The upload stage's object-store PUTs: the original (single or in parts) and the thumbnails.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt, stream};

use super::scan::Scanned;
use super::{UploadError, UploadEvent, UploadOptions};
use crate::api::{CompletedPart, OriginalTarget, PartTarget, ThumbTarget};
use crate::client::{Client, UploadBody};
use crate::thumbs::Thumbnail;

/// PUTs the original (single or parts) and the thumbnails; returns the parts for `complete`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn send_objects(
    client: &Client,
    scanned: &Scanned,
    thumbs: &[Thumbnail],
    original: &OriginalTarget,
    targets: &[ThumbTarget],
    options: &UploadOptions,
    index: usize,
    events: &(impl Fn(UploadEvent) + Send + Sync),
) -> Result<Vec<CompletedPart>, UploadError> {
    let path = &scanned.path;
    let total = scanned.size;
    let thumb_puts = async {
        stream::iter(targets)
            .map(|target| async move {
                let thumb = thumbs
                    .iter()
                    .find(|t| t.size == target.size)
                    .ok_or_else(|| UploadError::Rejected {
                        path: path.clone(),
                        message: format!(
                            "server asked for an unknown thumbnail size {}",
                            target.size
                        ),
                    })?;
                client
                    .send_presigned(
                        &target.request,
                        &UploadBody::Bytes(thumb.jpeg.clone()),
                        &|_| {},
                    )
                    .await
                    .map_err(|e| UploadError::from_client(path, e))
            })
            .buffer_unordered(targets.len().max(1))
            .try_collect::<Vec<_>>()
            .await
    };
    let original_put = async {
        match original {
            OriginalTarget::Single { request } => {
                let body = match &scanned.data {
                    Some(bytes) => UploadBody::Bytes(bytes.clone()),
                    None => UploadBody::File {
                        path: path.clone(),
                        offset: 0,
                        len: total,
                    },
                };
                let progress = |done: u64| {
                    events(UploadEvent::Progress {
                        index,
                        bytes_done: done,
                        bytes_total: total,
                    })
                };
                client
                    .send_presigned(request, &body, &progress)
                    .await
                    .map_err(|e| UploadError::from_client(path, e))?;
                Ok(Vec::new())
            }
            OriginalTarget::Multipart { parts, .. } => {
                send_parts(client, scanned, parts, options, index, events).await
            }
        }
    };
    let (parts, _) = futures::try_join!(original_put, thumb_puts)?;
    Ok(parts)
}

async fn send_parts(
    client: &Client,
    scanned: &Scanned,
    parts: &[PartTarget],
    options: &UploadOptions,
    index: usize,
    events: &(impl Fn(UploadEvent) + Send + Sync),
) -> Result<Vec<CompletedPart>, UploadError> {
    let path = &scanned.path;
    let total = scanned.size;
    let covered: u64 = parts.iter().map(|p| p.length).sum();
    if covered != total || parts.iter().any(|p| p.offset + p.length > total) {
        return Err(UploadError::Rejected {
            path: path.clone(),
            message: format!("server's part plan covers {covered} of {total} bytes"),
        });
    }
    let sent: Vec<AtomicU64> = parts.iter().map(|_| AtomicU64::new(0)).collect();
    let sent = &sent;
    let mut done: Vec<CompletedPart> = stream::iter(parts.iter().enumerate())
        .map(|(slot, part)| async move {
            let body = UploadBody::File {
                path: path.clone(),
                offset: part.offset,
                len: part.length,
            };
            let progress = |bytes: u64| {
                sent[slot].store(bytes, Ordering::Relaxed);
                let bytes_done = sent.iter().map(|s| s.load(Ordering::Relaxed)).sum();
                events(UploadEvent::Progress {
                    index,
                    bytes_done,
                    bytes_total: total,
                });
            };
            let etag = client
                .send_presigned(&part.request, &body, &progress)
                .await
                .map_err(|e| UploadError::from_client(path, e))?;
            let etag = etag.ok_or_else(|| UploadError::Rejected {
                path: path.clone(),
                message: format!("object store returned no ETag for part {}", part.number),
            })?;
            Ok::<_, UploadError>(CompletedPart {
                number: part.number,
                etag,
            })
        })
        .buffer_unordered(options.part_concurrency.max(1))
        .try_collect()
        .await?;
    done.sort_by_key(|p| p.number);
    Ok(done)
}
