//! One file at a time, resumable: what the sync daemon uses.
//!
//! [`prepare_file`] reads, hashes and probes a file (blocking), exactly as the batch pipeline's
//! scan stage does. [`upload_prepared`] sends it, reporting a
//! [`Checkpoint`] after each step so a caller that persists it can resume after a crash:
//!
//! 1. A checkpoint about other bytes (the file changed since) is replaced by a fresh one, and
//!    its session is aborted.
//! 2. `create_upload` is sent with the checkpoint's idempotency key: the server answers the same
//!    session for the same key (with fresh presigned URLs), or `exists` once the image is in
//!    the library. The session id is recorded (and `on_checkpoint` called) before any byte is
//!    sent; a different session id (the old one expired) drops the recorded parts.
//! 3. The original goes up in one PUT, or in parts, skipping the parts the checkpoint records;
//!    each part that is stored is recorded at once.
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

use super::pipeline::create_request;
use super::scan::{Scanned, scan_file, stat};
use super::send::{SendError, SendPlan, send_objects};
use super::{UploadError, UploadOptions, Uploaded};
use crate::api::{
    CompleteUpload, CompletedPart, CreateUpload, CreateUploadResponse, Limits, OriginalTarget,
};
use crate::client::{Client, ClientError, new_idempotency_key};

/// A file read, hashed and probed, ready to go up.
pub struct Prepared {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// Display size (EXIF orientation applied).
    pub width: u32,
    pub height: u32,
    scanned: Scanned,
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

    /// The file's bytes as read and hashed, when it was small enough to be kept in memory
    /// (`UploadOptions::in_memory_max`): what was uploaded, byte for byte.
    pub fn bytes(&self) -> Option<bytes::Bytes> {
        self.scanned.data.clone()
    }

    /// The content type found by probing the bytes.
    pub fn content_type(&self) -> &str {
        &self.create.content_type
    }
}

/// Reads `path` once (see the module docs of `upload`): hashes and probe. Fails with
/// the transient [`UploadError::Changed`] when the file changes while being read, and with
/// permanent errors for files that cannot be uploaded (empty, not an image, truncated, too
/// large for `limits`). Blocking: run it on a blocking thread.
pub fn prepare_file(
    path: &Path,
    limits: &Limits,
    options: &UploadOptions,
) -> Result<Prepared, UploadError> {
    let scanned = scan_file(path, limits, options.in_memory_max)?;
    let create = create_request(&scanned, limits, options);
    Ok(Prepared {
        path: scanned.path.clone(),
        size: scanned.size,
        sha256: scanned.hashes.sha256.clone(),
        width: create.width,
        height: create.height,
        scanned,
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
    let (upload_id, original) = match answer {
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
            ..
        } => (upload_id, original),
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
        original: &original,
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::api::{PartTarget, PresignedRequest, multipart_part_size};
    use crate::client::test_stub::{Seen, fast_retry, response, stub_with};
    use crate::probe::tests::jpeg_bytes;

    /// What the fake cloud does and remembers.
    #[derive(Default)]
    struct Cloud {
        /// idempotency key → session id.
        sessions: HashMap<String, String>,
        /// Answer `exists` for these hashes.
        existing: Vec<String>,
        /// PUTs of this part number answer 503.
        fail_part: Option<u32>,
        /// The next this many `complete`s answer 404 (the janitor removed the session).
        lose_completes: u32,
    }

    fn image_json(id: &str, sha: &str) -> String {
        serde_json::json!({
            "id": id, "filename": "big.jpg", "size": 1, "sha256": sha, "content_type": "image/jpeg",
            "width": 1, "height": 1, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "tags": [],
            "url": format!("http://cdn/i/{id}/big.jpg"), "thumb_url": "t", "preview_url": "p"
        })
        .to_string()
    }

    fn put(base: &str, path: &str) -> PresignedRequest {
        PresignedRequest {
            method: "PUT".into(),
            url: format!("{base}{path}"),
            headers: vec![],
        }
    }

    fn handle(cloud: &Mutex<Cloud>, seen: &Seen, min_part: u64) -> String {
        let (method, path) = seen.line();
        let base = format!("http://{}", seen.header("host").unwrap_or_default());
        let mut cloud = cloud.lock().unwrap();
        let ok = |body: String| response("200 OK", "", &body);
        let not_found = || {
            response(
                "404 Not Found",
                "",
                r#"{"error":{"code":"not_found","message":"upload not found"}}"#,
            )
        };
        match (method.as_str(), path.as_str()) {
            ("POST", "/v1/uploads") => {
                let create: CreateUpload = serde_json::from_slice(&seen.body).unwrap();
                if cloud.existing.contains(&create.sha256) {
                    return ok(serde_json::json!({"status": "exists", "image": serde_json::from_str::<serde_json::Value>(&image_json("old", &create.sha256)).unwrap()}).to_string());
                }
                let key = seen.header("idempotency-key").unwrap();
                let count = cloud.sessions.len();
                let id = cloud
                    .sessions
                    .entry(key)
                    .or_insert_with(|| format!("up{}", count + 1))
                    .clone();
                let part_size = multipart_part_size(create.size, min_part);
                let parts = create
                    .parts
                    .as_ref()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .map(|(i, _)| {
                        let offset = i as u64 * part_size;
                        PartTarget {
                            number: i as u32 + 1,
                            offset,
                            length: part_size.min(create.size - offset),
                            request: put(&base, &format!("/store/{id}/part/{}", i + 1)),
                        }
                    })
                    .collect();
                let answer = CreateUploadResponse::Upload {
                    upload_id: id.clone(),
                    expires_at: time::OffsetDateTime::now_utc(),
                    original: OriginalTarget::Multipart { part_size, parts },
                };
                ok(serde_json::to_string(&answer).unwrap())
            }
            ("PUT", p) if p.contains("/part/") => {
                let number: u32 = p.rsplit('/').next().unwrap().parse().unwrap();
                if cloud.fail_part == Some(number) {
                    return response(
                        "503 Service Unavailable",
                        "",
                        "<Error><Code>SlowDown</Code></Error>",
                    );
                }
                let id = p.split('/').nth(2).unwrap();
                response("200 OK", &format!("ETag: \"{id}-{number}\"\r\n"), "")
            }
            ("PUT", _) => response("200 OK", "ETag: \"t\"\r\n", ""),
            ("POST", p) if p.ends_with("/complete") => {
                if cloud.lose_completes > 0 {
                    cloud.lose_completes -= 1;
                    return not_found();
                }
                ok(image_json("new", "x"))
            }
            ("DELETE", _) => response("204 No Content", "", ""),
            _ => not_found(),
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        client: Client,
        cloud: Arc<Mutex<Cloud>>,
        seen: Arc<Mutex<Vec<Seen>>>,
        prepared: Prepared,
        options: UploadOptions,
    }

    /// A JPEG cut into three parts, and a fake cloud for it.
    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.jpg");
        let bytes = jpeg_bytes(300, 200);
        std::fs::write(&path, &bytes).unwrap();
        let min_part = (bytes.len() as u64).div_ceil(3);
        let limits = Limits {
            max_upload_bytes: 1 << 30,
            multipart_cutoff: 1024,
            min_part_size: min_part,
            max_filename_bytes: 255,
            max_pixels: 100_000_000,
            max_batch: 100,
        };
        let options = UploadOptions {
            part_concurrency: 1,
            ..UploadOptions::default()
        };
        let prepared = prepare_file(&path, &limits, &options).unwrap();
        assert_eq!(prepared.part_count(), Some(3));
        let cloud = Arc::new(Mutex::new(Cloud::default()));
        let state = cloud.clone();
        let (url, seen) = stub_with(Arc::new(move |seen: &Seen, _| {
            handle(&state, seen, min_part)
        }))
        .await;
        let client = Client::new(&url, Some("tok".into()))
            .unwrap()
            .with_retry(fast_retry(1));
        Fixture {
            _dir: dir,
            client,
            cloud,
            seen,
            prepared,
            options,
        }
    }

    impl Fixture {
        async fn upload(
            &self,
            checkpoint: &mut Checkpoint,
            saved: &Mutex<Vec<Checkpoint>>,
            progress: &Mutex<Vec<u64>>,
        ) -> Result<Uploaded, UploadError> {
            upload_prepared(
                &self.client,
                &self.prepared,
                checkpoint,
                &self.options,
                &|done, total| {
                    assert_eq!(total, self.prepared.size);
                    progress.lock().unwrap().push(done);
                },
                &|c| saved.lock().unwrap().push(c.clone()),
            )
            .await
        }

        /// `(method, path)` of every request so far, then forgets them.
        fn take_requests(&self) -> Vec<(String, String)> {
            std::mem::take(&mut *self.seen.lock().unwrap())
                .iter()
                .map(Seen::line)
                .collect()
        }

        fn part_puts(requests: &[(String, String)]) -> Vec<String> {
            requests
                .iter()
                .filter(|(m, p)| m == "PUT" && p.contains("/part/"))
                .map(|(_, p)| p.clone())
                .collect()
        }
    }

    #[tokio::test]
    async fn a_failed_part_resumes_without_sending_done_parts_again() {
        let fx = fixture().await;
        fx.cloud.lock().unwrap().fail_part = Some(3);
        let mut checkpoint = Checkpoint::new(&fx.prepared.sha256);
        let key = checkpoint.idempotency_key.clone();
        let saved = Mutex::new(Vec::new());
        let progress = Mutex::new(Vec::new());

        let err = fx
            .upload(&mut checkpoint, &saved, &progress)
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert_eq!(err.code(), "server", "{err}");
        // The session was recorded before any byte went out, then each part as it was stored.
        let saved_now: Vec<(Option<String>, usize)> = saved
            .lock()
            .unwrap()
            .iter()
            .map(|c| (c.upload_id.clone(), c.parts_done.len()))
            .collect();
        let up1 = Some("up1".to_string());
        assert_eq!(
            saved_now,
            [(up1.clone(), 0), (up1.clone(), 1), (up1.clone(), 2)]
        );
        assert_eq!(checkpoint.idempotency_key, key);
        assert_eq!(checkpoint.upload_id, up1);
        let requests = fx.take_requests();
        let first_put = requests.iter().position(|(m, _)| m == "PUT").unwrap();
        assert!(first_put > 0 && requests[0].1 == "/v1/uploads");
        assert!(
            !requests.iter().any(|(m, _)| m == "DELETE"),
            "a transient failure keeps the session"
        );

        // The checkpoint survives a restart as JSON.
        let mut resumed: Checkpoint =
            serde_json::from_str(&serde_json::to_string(&checkpoint).unwrap()).unwrap();
        assert_eq!(resumed, checkpoint);
        fx.cloud.lock().unwrap().fail_part = None;
        saved.lock().unwrap().clear();
        progress.lock().unwrap().clear();
        let done = fx.upload(&mut resumed, &saved, &progress).await.unwrap();
        assert!(!done.existed);
        let requests = fx.take_requests();
        assert_eq!(Fixture::part_puts(&requests), ["/store/up1/part/3"]);
        assert!(requests.contains(&("POST".into(), "/v1/uploads/up1/complete".into())));
        assert_eq!(resumed.parts_done.len(), 3);
        // Progress starts where the first attempt stopped and ends at the whole size.
        let progress = progress.lock().unwrap();
        let part_size = fx.prepared.size.div_ceil(3);
        let two_parts = 2 * part_size;
        assert_eq!(
            resumed.bytes_done(fx.prepared.size, part_size),
            fx.prepared.size
        );
        assert_eq!(progress.first(), Some(&two_parts));
        assert_eq!(progress.last(), Some(&fx.prepared.size));
        assert!(progress.iter().all(|&p| p >= two_parts));
    }

    #[tokio::test]
    async fn complete_sends_every_part_in_order_with_its_etag() {
        let fx = fixture().await;
        let mut checkpoint = Checkpoint::new(&fx.prepared.sha256);
        let saved = Mutex::new(Vec::new());
        let progress = Mutex::new(Vec::new());
        fx.upload(&mut checkpoint, &saved, &progress).await.unwrap();
        let seen = fx.seen.lock().unwrap();
        let complete = seen
            .iter()
            .find(|s| s.line().1.ends_with("/complete"))
            .unwrap();
        let body: CompleteUpload = serde_json::from_slice(&complete.body).unwrap();
        let parts: Vec<(u32, &str)> = body
            .parts
            .iter()
            .map(|p| (p.number, p.etag.as_str()))
            .collect();
        assert_eq!(
            parts,
            [(1, "\"up1-1\""), (2, "\"up1-2\""), (3, "\"up1-3\"")]
        );
        // Only the original went up: the cloud makes the thumbnails.
        assert!(!seen.iter().any(|s| s.line().1.contains("/thumb/")));
    }

    #[tokio::test]
    async fn a_checkpoint_of_other_bytes_is_aborted_and_replaced() {
        let fx = fixture().await;
        let mut checkpoint = Checkpoint {
            sha256: "0".repeat(64),
            idempotency_key: "old-key".into(),
            upload_id: Some("stale".into()),
            parts_done: vec![CompletedPart {
                number: 1,
                etag: "\"stale-1\"".into(),
            }],
        };
        let saved = Mutex::new(Vec::new());
        let progress = Mutex::new(Vec::new());
        fx.upload(&mut checkpoint, &saved, &progress).await.unwrap();
        let requests = fx.take_requests();
        assert_eq!(requests[0], ("DELETE".into(), "/v1/uploads/stale".into()));
        assert_eq!(checkpoint.sha256, fx.prepared.sha256);
        assert_ne!(checkpoint.idempotency_key, "old-key");
        assert_eq!(Fixture::part_puts(&requests).len(), 3, "nothing skipped");
        assert!(
            checkpoint
                .parts_done
                .iter()
                .all(|p| p.etag.starts_with("\"up1"))
        );
    }

    #[tokio::test]
    async fn a_session_gone_at_complete_starts_over_once() {
        let fx = fixture().await;
        fx.cloud.lock().unwrap().lose_completes = 1;
        let mut checkpoint = Checkpoint::new(&fx.prepared.sha256);
        let first_key = checkpoint.idempotency_key.clone();
        let saved = Mutex::new(Vec::new());
        let progress = Mutex::new(Vec::new());
        let done = fx.upload(&mut checkpoint, &saved, &progress).await.unwrap();
        assert!(!done.existed);
        let requests = fx.take_requests();
        let parts = Fixture::part_puts(&requests);
        assert_eq!(
            parts,
            [
                "/store/up1/part/1",
                "/store/up1/part/2",
                "/store/up1/part/3",
                "/store/up2/part/1",
                "/store/up2/part/2",
                "/store/up2/part/3"
            ]
        );
        assert_ne!(checkpoint.idempotency_key, first_key);
        assert_eq!(checkpoint.upload_id.as_deref(), Some("up2"));

        // Twice in a row: the second loss is reported, as a permanent rejection.
        fx.cloud.lock().unwrap().lose_completes = 2;
        let mut fresh = Checkpoint::new(&fx.prepared.sha256);
        let err = fx.upload(&mut fresh, &saved, &progress).await.unwrap_err();
        assert_eq!(err.code(), "rejected", "{err}");
        assert!(!err.is_transient());
    }

    #[tokio::test]
    async fn a_new_session_for_the_same_key_drops_recorded_parts_and_exists_ends_it() {
        let fx = fixture().await;
        let mut checkpoint = Checkpoint::new(&fx.prepared.sha256);
        // Recorded against a session the server no longer has (the key maps to a new one).
        checkpoint.upload_id = Some("expired".into());
        checkpoint.parts_done = vec![CompletedPart {
            number: 1,
            etag: "\"expired-1\"".into(),
        }];
        let saved = Mutex::new(Vec::new());
        let progress = Mutex::new(Vec::new());
        fx.upload(&mut checkpoint, &saved, &progress).await.unwrap();
        let requests = fx.take_requests();
        assert_eq!(Fixture::part_puts(&requests).len(), 3);
        assert_eq!(saved.lock().unwrap()[0].parts_done, []);

        // Once the image exists, a fresh checkpoint gets `existed` and sends nothing.
        fx.cloud
            .lock()
            .unwrap()
            .existing
            .push(fx.prepared.sha256.clone());
        let mut again = Checkpoint::new(&fx.prepared.sha256);
        let done = fx.upload(&mut again, &saved, &progress).await.unwrap();
        assert!(done.existed);
        let requests = fx.take_requests();
        assert_eq!(requests, [("POST".into(), "/v1/uploads".into())]);
    }

    #[tokio::test]
    async fn a_file_changed_after_prepare_is_a_transient_failure() {
        let fx = fixture().await;
        std::fs::write(&fx.prepared.path, jpeg_bytes(20, 20)).unwrap();
        let mut checkpoint = Checkpoint::new(&fx.prepared.sha256);
        let saved = Mutex::new(Vec::new());
        let progress = Mutex::new(Vec::new());
        let err = fx
            .upload(&mut checkpoint, &saved, &progress)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "changed", "{err}");
        assert!(err.is_transient());
        assert!(fx.take_requests().is_empty(), "nothing sent");
    }
}
