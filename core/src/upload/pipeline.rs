//! The stages after expansion: scan → bulk check → upload, overlapped and each with its own
//! bound. No pixel is decoded: the cloud makes the thumbnails.

use std::io;
use std::path::{Path, PathBuf};

use futures::{StreamExt, stream};
use tokio::sync::Semaphore;

use super::inputs::upload_filename;
use super::scan::{Scanned, scan_file, stat};
use super::send::{SendPlan, send_objects};
use super::{UploadError, UploadEvent, UploadOptions, Uploaded};
use crate::api::{CompleteUpload, CreateUpload, CreateUploadResponse, Image, Limits};
use crate::client::{Client, new_idempotency_key};

/// Runs blocking work on tokio's blocking pool.
///
/// Each stage bounds its own concurrency (the scan stage by `buffered`, the upload stage by a
/// semaphore only its own, always-polled futures wait on). Sharing one permit pool between stages
/// deadlocks: a finished scan future that nobody polls (the next stage is full) keeps its permit,
/// and the next stage waits for that permit forever.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T, UploadError> + Send + 'static,
) -> Result<T, UploadError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(UploadError::Unreadable {
            path: path.to_path_buf(),
            source: io::Error::other(format!("worker failed: {e}")),
        })
    })
}

/// Where a scanned file stands after the bulk check.
#[allow(clippy::large_enum_variant)]
enum Checked {
    Failed(UploadError),
    Existing(Image),
    New(Box<Scanned>),
}

pub(super) async fn run_pipeline(
    client: &Client,
    limits: &Limits,
    todo: Vec<(usize, PathBuf)>,
    options: &UploadOptions,
    events: &(impl Fn(UploadEvent) + Send + Sync),
) -> Vec<(usize, Result<Uploaded, UploadError>)> {
    let cpu_workers = options.cpu_workers.max(1);
    let concurrency = options.concurrency.max(1);
    let net = Semaphore::new(concurrency);
    let batch = (limits.max_batch as usize).clamp(1, 1000);

    let scanned = stream::iter(todo)
        .map(|(index, path)| {
            let limits = limits.clone();
            let in_memory_max = options.in_memory_max;
            async move {
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                events(UploadEvent::Started {
                    index,
                    path: path.clone(),
                    bytes,
                });
                let p = path.clone();
                let result = blocking(&path, move || scan_file(&p, &limits, in_memory_max)).await;
                (index, path, result)
            }
        })
        .buffered(cpu_workers * 2);

    let checked = scanned
        .ready_chunks(batch)
        .then(|chunk| async move {
            let hashes: Vec<String> = chunk
                .iter()
                .filter_map(|(_, _, r)| r.as_ref().ok().map(|s| s.hashes.sha256.clone()))
                .collect();
            let existing = if hashes.is_empty() {
                Ok(Vec::new())
            } else {
                client.check(&hashes).await.map(|answer| answer.existing)
            };
            let existing = match existing {
                Ok(images) => images,
                Err(e) => {
                    // Not fatal: create_upload also answers `exists`.
                    tracing::warn!(error = %e, "bulk check failed; uploading without it");
                    Vec::new()
                }
            };
            let items: Vec<(usize, PathBuf, Checked)> = chunk
                .into_iter()
                .map(|(index, path, result)| {
                    let state = match result {
                        Err(e) => Checked::Failed(e),
                        Ok(scanned) => match existing
                            .iter()
                            .find(|img| img.sha256 == scanned.hashes.sha256)
                        {
                            Some(image) => Checked::Existing(image.clone()),
                            None => Checked::New(Box::new(scanned)),
                        },
                    };
                    (index, path, state)
                })
                .collect();
            stream::iter(items)
        })
        .flatten();

    checked
        .map(|(index, path, state)| {
            let net = &net;
            async move {
                let result = match state {
                    Checked::Failed(e) => Err(e),
                    Checked::Existing(image) => Ok(Uploaded {
                        image,
                        existed: true,
                    }),
                    Checked::New(scanned) => {
                        upload_scanned(client, limits, *scanned, options, net, index, events).await
                    }
                };
                let _ = path;
                (index, result)
            }
        })
        .buffer_unordered(concurrency + cpu_workers)
        .collect()
        .await
}

/// The `POST /v1/uploads` body for a scanned file.
pub(super) fn create_request(
    scanned: &Scanned,
    limits: &Limits,
    options: &UploadOptions,
) -> CreateUpload {
    let (width, height) = scanned.probe.display_size();
    CreateUpload {
        filename: upload_filename(&scanned.path, limits.max_filename_bytes as usize),
        size: scanned.size,
        sha256: scanned.hashes.sha256.clone(),
        content_type: scanned.probe.content_type().to_string(),
        width,
        height,
        taken_at: scanned.probe.taken_at,
        parts: scanned.hashes.parts.clone(),
        visibility: options.visibility,
    }
}

#[allow(clippy::too_many_arguments)]
async fn upload_scanned(
    client: &Client,
    limits: &Limits,
    scanned: Scanned,
    options: &UploadOptions,
    net: &Semaphore,
    index: usize,
    events: &(impl Fn(UploadEvent) + Send + Sync),
) -> Result<Uploaded, UploadError> {
    let path = scanned.path.clone();
    let _permit = net.acquire().await.map_err(|_| UploadError::Unreadable {
        path: path.clone(),
        source: io::Error::other("upload cancelled"),
    })?;
    let create = create_request(&scanned, limits, options);
    let key = new_idempotency_key();
    let answer = client
        .create_upload(&create, &key)
        .await
        .map_err(|e| UploadError::from_client(&path, e))?;
    let (upload_id, original) = match answer {
        CreateUploadResponse::Exists { image } => {
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
    let sent = async {
        let plan = SendPlan {
            scanned: &scanned,
            original: &original,
            parts_done: &[],
        };
        let progress = |bytes_done: u64| {
            events(UploadEvent::Progress {
                index,
                bytes_done,
                bytes_total: scanned.size,
            })
        };
        let parts = send_objects(client, &plan, options, &progress, &mut |_| {})
            .await
            .map_err(|e| e.error)?;
        if stat(&path)? != (scanned.size, scanned.modified) {
            return Err(UploadError::Changed { path: path.clone() });
        }
        client
            .complete_upload(&upload_id, &CompleteUpload { parts })
            .await
            .map_err(|e| UploadError::from_client(&path, e))
    }
    .await;
    match sent {
        Ok(image) => Ok(Uploaded {
            image,
            existed: false,
        }),
        Err(e) => {
            if let Err(abort) = client.abort_upload(&upload_id).await {
                tracing::warn!(error = %abort, "could not abort the upload session; the server's janitor will");
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{UploadEvent, UploadOptions, upload_paths};
    use crate::client::Client;
    use crate::client::test_stub::{Handler, Seen, response, stub_with};
    use crate::probe::tests::jpeg_bytes;
    use sha2::{Digest, Sha256};
    use std::sync::{Arc, Mutex};

    fn image_json(id: &str, filename: &str, sha: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id, "filename": filename, "size": 1, "sha256": sha, "content_type": "image/jpeg",
            "width": 1, "height": 1, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "tags": [], "url": format!("http://cdn/i/{id}/{filename}"), "thumb_url": "t", "preview_url": "p"
        })
    }

    /// A fake API + object store: remembers created uploads, answers PUTs (failing those whose
    /// path contains `fail`), and completes with an image named after the upload.
    fn fake_cloud(existing_sha: String) -> Handler {
        let uploads: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let base: Arc<Mutex<String>> = Arc::default();
        Arc::new(move |seen: &Seen, _| {
            let (method, path) = seen.line();
            let host = seen.header("host").unwrap_or_default();
            *base.lock().unwrap() = format!("http://{host}");
            let ok = |v: serde_json::Value| response("200 OK", "", &v.to_string());
            match (method.as_str(), path.as_str()) {
                ("GET", "/v1/limits") => ok(serde_json::json!({
                    "max_upload_bytes": 1u64 << 30, "multipart_cutoff": 64u64 << 20, "min_part_size": 8u64 << 20,
                    "max_filename_bytes": 255, "max_pixels": 100_000_000u64, "max_batch": 100
                })),
                ("POST", "/v1/uploads/check") => {
                    let req: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
                    let hit = req["sha256"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|h| h == existing_sha.as_str());
                    let existing = if hit {
                        vec![image_json("EXISTING", "old.jpg", &existing_sha)]
                    } else {
                        vec![]
                    };
                    ok(serde_json::json!({ "existing": existing }))
                }
                ("POST", "/v1/uploads") => {
                    let req: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
                    let mut uploads = uploads.lock().unwrap();
                    let id = format!("U{}", uploads.len());
                    let name = req["filename"].as_str().unwrap().to_string();
                    uploads.push(req.clone());
                    let base = base.lock().unwrap().clone();
                    let put = |key: String| serde_json::json!({"method": "PUT", "url": format!("{base}/store/{key}?X-Amz-Signature=s"), "headers": [["x-amz-content-sha256", "h"]]});
                    // The critical path is hash + PUT + register: no thumbnail in the request.
                    assert!(req.get("thumbs").is_none(), "{req}");
                    ok(serde_json::json!({
                        "status": "upload", "upload_id": id, "expires_at": "2026-01-01T00:00:00Z",
                        "original": {"kind": "single", "request": put(format!("{id}/{name}"))}
                    }))
                }
                ("PUT", p) if p.contains("fail") => response(
                    "403 Forbidden",
                    "",
                    "<Error><Code>AccessDenied</Code></Error>",
                ),
                ("PUT", _) => response("200 OK", "ETag: \"e\"\r\n", ""),
                ("POST", p) if p.ends_with("/complete") => {
                    let id = p
                        .trim_start_matches("/v1/uploads/")
                        .trim_end_matches("/complete");
                    let index: usize = id[1..].parse().unwrap();
                    let req = uploads.lock().unwrap()[index].clone();
                    ok(image_json(
                        id,
                        req["filename"].as_str().unwrap(),
                        req["sha256"].as_str().unwrap(),
                    ))
                }
                ("DELETE", _) => "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_string(),
                _ => response(
                    "404 Not Found",
                    "",
                    r#"{"error":{"code":"not_found","message":"no route"}}"#,
                ),
            }
        })
    }

    /// Many files through narrow stages: a finished scan that nobody polls must not hold
    /// a permit the upload stage needs (this hung before the stages got separate bounds).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_files_through_narrow_stages_do_not_deadlock() {
        let dir = tempfile::tempdir().unwrap();
        let album = dir.path().join("album");
        std::fs::create_dir(&album).unwrap();
        for i in 0..24 {
            std::fs::write(album.join(format!("p{i:02}.jpg")), jpeg_bytes(64 + i, 48)).unwrap();
        }
        let (url, _seen) = stub_with(fake_cloud(String::new())).await;
        let client = Client::new(&url, Some("tok".into())).unwrap();
        let options = UploadOptions {
            concurrency: 1,
            cpu_workers: 1,
            ..UploadOptions::default()
        };
        let outcomes = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            upload_paths(&client, std::slice::from_ref(&album), &options, |_| {}),
        )
        .await
        .expect("upload pipeline stalled");
        assert_eq!(outcomes.len(), 24);
        let failed: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
        assert!(failed.is_empty(), "{failed:?}");
    }

    #[tokio::test]
    async fn uploads_new_files_skips_known_ones_and_reports_in_input_order() {
        let dir = tempfile::tempdir().unwrap();
        let album = dir.path().join("album");
        std::fs::create_dir(&album).unwrap();
        std::fs::write(album.join("b.jpg"), jpeg_bytes(900, 600)).unwrap();
        std::fs::write(album.join("a.jpg"), jpeg_bytes(300, 200)).unwrap();
        let known = jpeg_bytes(50, 50);
        std::fs::write(album.join("c.jpg"), &known).unwrap();
        std::fs::write(album.join("fail.jpg"), jpeg_bytes(40, 40)).unwrap();
        let text = dir.path().join("text.jpg");
        std::fs::write(&text, "hello").unwrap();

        let (url, seen) = stub_with(fake_cloud(hex::encode(Sha256::digest(&known)))).await;
        let client = Client::new(&url, Some("tok".into())).unwrap();
        let events = Mutex::new(Vec::new());
        let outcomes = upload_paths(
            &client,
            &[text.clone(), album.clone()],
            &UploadOptions::default(),
            |e| events.lock().unwrap().push(e),
        )
        .await;

        let summary: Vec<String> = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(u) => format!(
                    "{}:{}:{}",
                    o.path.file_name().unwrap().to_string_lossy(),
                    u.image.filename,
                    u.existed
                ),
                Err(e) => format!(
                    "{}:{}",
                    o.path.file_name().unwrap().to_string_lossy(),
                    e.code()
                ),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "text.jpg:not_an_image",
                "a.jpg:a.jpg:false",
                "b.jpg:b.jpg:false",
                "c.jpg:old.jpg:true",
                "fail.jpg:rejected"
            ]
        );

        let seen = seen.lock().unwrap();
        let lines: Vec<(String, String)> = seen.iter().map(Seen::line).collect();
        // The known file was never created; the failed one was aborted.
        let creates: Vec<serde_json::Value> = seen
            .iter()
            .filter(|s| s.line() == ("POST".into(), "/v1/uploads".into()))
            .map(|s| serde_json::from_slice(&s.body).unwrap())
            .collect();
        let mut names: Vec<&str> = creates
            .iter()
            .map(|c| c["filename"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["a.jpg", "b.jpg", "fail.jpg"]);
        let b = creates.iter().find(|c| c["filename"] == "b.jpg").unwrap();
        assert_eq!(
            (b["width"].as_u64(), b["height"].as_u64()),
            (Some(900), Some(600))
        );
        // Only originals are sent: one PUT per new file, nothing else.
        assert_eq!(
            seen.iter().filter(|s| s.line().0 == "PUT").count(),
            3,
            "a.jpg, b.jpg and fail.jpg"
        );
        let b_put = seen
            .iter()
            .find(|s| s.line().0 == "PUT" && s.line().1.contains("/b.jpg"))
            .unwrap();
        assert_eq!(b_put.body, std::fs::read(album.join("b.jpg")).unwrap());
        assert_eq!(
            lines
                .iter()
                .filter(|(m, p)| m == "POST" && p.ends_with("/complete"))
                .count(),
            2
        );
        assert_eq!(
            lines.iter().filter(|(m, _)| m == "DELETE").count(),
            1,
            "failed upload aborted"
        );
        assert!(seen.iter().all(|s| s.line().1.starts_with("/store")
            || s.header("authorization").as_deref() == Some("Bearer tok")));

        let events = events.lock().unwrap();
        let finished = events
            .iter()
            .filter(|e| matches!(e, UploadEvent::Finished { .. }))
            .count();
        let failed = events
            .iter()
            .filter(|e| matches!(e, UploadEvent::Failed { .. }))
            .count();
        assert_eq!((finished, failed), (3, 2));
        assert!(events.iter().any(|e| matches!(e, UploadEvent::Progress { index: 2, bytes_done, bytes_total } if bytes_done == bytes_total)));
    }
}
