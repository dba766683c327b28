//! The upload pipeline: files and folders in, images (with links) out, in input order.
//!
//! Stages, overlapped so the CPU and the network are busy at the same time:
//! 1. **scan** (blocking pool): read each file once — SHA-256 of the whole file and, at or above
//!    `limits.multipart_cutoff`, of each part — then probe it (type by content, size, EXIF) and
//!    make sure it did not change while being read;
//! 2. **check**: the hashes that are ready go to `POST /v1/uploads/check` together, so files the
//!    user already has skip thumbnailing and uploading;
//! 3. **thumbnails** (blocking pool, at most `cpu_workers` at once);
//! 4. **upload** (at most `concurrency` files at once): `create_upload` → presigned PUTs of the
//!    original (single or parts, `part_concurrency` at once) and the thumbnails →
//!    `complete_upload`. A failure after `create_upload` aborts the session.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::api::{
    CompleteUpload, CompletedPart, CreateUpload, CreateUploadResponse, Image, Limits,
    OriginalTarget, PartTarget, ThumbTarget, multipart_part_size,
};
use crate::client::{Client, ClientError, UploadBody, new_idempotency_key};
use crate::probe::{self, Probe, ProbeError, has_image_extension};
use crate::thumbs::{self, ThumbError, ThumbOptions, Thumbnail};

/// Tuning of [`upload_paths`].
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Files uploading at once (default 4, like rclone's transfers).
    pub concurrency: usize,
    /// Parts of one multipart upload in flight at once (default 4).
    pub part_concurrency: usize,
    /// Threads hashing and making thumbnails at once (default: the number of CPUs).
    pub cpu_workers: usize,
    /// JPEG quality of the thumbnails.
    pub thumb_quality: u8,
    /// Files up to this size are read into memory once and uploaded from there; larger ones
    /// are streamed from disk (default 16 MiB).
    pub in_memory_max: u64,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            part_concurrency: 4,
            cpu_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            thumb_quality: 80,
            in_memory_max: 16 * 1024 * 1024,
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

/// Why one file was not uploaded. Every message starts with the file's path.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{}: no such file or directory", path.display())]
    Missing { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("{}: empty file (0 bytes)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: not an image ({detail})", path.display())]
    NotAnImage { path: PathBuf, detail: String },
    #[error("{}: truncated image ({detail}); was it fully written or downloaded?", path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error("{}: corrupt image ({detail})", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{}: too large: {detail}", path.display())]
    TooLarge { path: PathBuf, detail: String },
    #[error("{}: the file changed while it was being read; try again once it is fully written", path.display())]
    Changed { path: PathBuf },
    #[error("{}: server rejected the upload: {message}", path.display())]
    Rejected { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Client { path: PathBuf, source: ClientError },
}

impl UploadError {
    pub fn path(&self) -> &Path {
        match self {
            Self::Missing { path }
            | Self::Unreadable { path, .. }
            | Self::Empty { path }
            | Self::NotAnImage { path, .. }
            | Self::Truncated { path, .. }
            | Self::Corrupt { path, .. }
            | Self::TooLarge { path, .. }
            | Self::Changed { path }
            | Self::Rejected { path, .. }
            | Self::Client { path, .. } => path,
        }
    }

    /// Stable machine-readable code (for `--json` output).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "missing",
            Self::Unreadable { .. } => "unreadable",
            Self::Empty { .. } => "empty",
            Self::NotAnImage { .. } => "not_an_image",
            Self::Truncated { .. } => "truncated",
            Self::Corrupt { .. } => "corrupt",
            Self::TooLarge { .. } => "too_large",
            Self::Changed { .. } => "changed",
            Self::Rejected { .. } => "rejected",
            Self::Client {
                source: ClientError::Unauthorized { .. },
                ..
            } => "unauthorized",
            Self::Client {
                source: ClientError::Network { .. },
                ..
            } => "network",
            Self::Client { .. } => "server",
        }
    }

    /// Whether trying again later may succeed (network trouble, server errors, a file that
    /// was still being written).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Changed { .. } => true,
            Self::Client { source, .. } => !matches!(
                source,
                ClientError::Unauthorized { .. } | ClientError::Config(_)
            ),
            _ => false,
        }
    }

    fn from_client(path: &Path, e: ClientError) -> Self {
        match e {
            ClientError::Api {
                status, message, ..
            } if (400..500).contains(&status) && status != 429 => Self::Rejected {
                path: path.to_path_buf(),
                message,
            },
            ClientError::NotFound { message } => Self::Rejected {
                path: path.to_path_buf(),
                message,
            },
            source => Self::Client {
                path: path.to_path_buf(),
                source,
            },
        }
    }

    fn from_probe(path: &Path, e: ProbeError) -> Self {
        let path = path.to_path_buf();
        match e {
            ProbeError::Empty => Self::Empty { path },
            ProbeError::NotAnImage(detail) => Self::NotAnImage { path, detail },
            ProbeError::Truncated { format, detail } => Self::Truncated {
                path,
                detail: format!("{format}: {detail}"),
            },
            ProbeError::Corrupt { format, detail } => Self::Corrupt {
                path,
                detail: format!("{format}: {detail}"),
            },
            ProbeError::Io(source) => Self::from_io(&path, source),
        }
    }

    fn from_io(path: &Path, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound {
            Self::Missing {
                path: path.to_path_buf(),
            }
        } else {
            Self::Unreadable {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// Expands inputs into the files to upload, in order: a file stands for itself (always tried,
/// whatever its extension); a directory for the image files under it (by extension, sorted by
/// path, hidden entries skipped); a missing path for an error.
pub fn expand_inputs(inputs: &[PathBuf]) -> Vec<Result<PathBuf, UploadError>> {
    let mut out = Vec::new();
    for input in inputs {
        match std::fs::metadata(input) {
            Err(e) => out.push(Err(UploadError::from_io(input, e))),
            Ok(meta) if meta.is_dir() => {
                let walker = walkdir::WalkDir::new(input)
                    .follow_links(true)
                    .sort_by_file_name()
                    .into_iter()
                    .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.file_name()));
                for entry in walker {
                    match entry {
                        Ok(entry)
                            if entry.file_type().is_file() && has_image_extension(entry.path()) =>
                        {
                            out.push(Ok(entry.into_path()))
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let path = e.path().map_or_else(|| input.clone(), Path::to_path_buf);
                            let source = e
                                .into_io_error()
                                .unwrap_or_else(|| io::Error::other("symbolic link loop"));
                            out.push(Err(UploadError::Unreadable { path, source }));
                        }
                    }
                }
            }
            Ok(_) => out.push(Ok(input.clone())),
        }
    }
    out
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with('.'))
}

/// The whole-file and per-part hashes of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    pub size: u64,
    pub sha256: String,
    /// Present when `size >= multipart_cutoff`: hex SHA-256 of each part.
    pub parts: Option<Vec<String>>,
    pub part_size: Option<u64>,
}

/// Hashes `len` bytes from `reader`: the whole, and per part when `part_size` is given.
fn hash_stream<R: Read>(
    mut reader: R,
    part_size: Option<u64>,
) -> io::Result<(u64, String, Option<Vec<String>>)> {
    let mut whole = Sha256::new();
    let mut part = Sha256::new();
    let mut in_part = 0u64;
    let mut parts = part_size.map(|_| Vec::new());
    let mut total = 0u64;
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        let mut chunk = &buf[..n];
        whole.update(chunk);
        if let (Some(size), Some(parts)) = (part_size, parts.as_mut()) {
            while !chunk.is_empty() {
                let take = (size - in_part).min(chunk.len() as u64) as usize;
                part.update(&chunk[..take]);
                in_part += take as u64;
                chunk = &chunk[take..];
                if in_part == size {
                    parts.push(hex::encode(part.finalize_reset()));
                    in_part = 0;
                }
            }
        }
    }
    if let Some(parts) = parts.as_mut()
        && (in_part > 0 || parts.is_empty())
    {
        parts.push(hex::encode(part.finalize()));
    }
    Ok((total, hex::encode(whole.finalize()), parts))
}

/// Hashes the file at `path` for an upload under `limits` (per-part hashes at or above the
/// multipart cutoff, cut at [`multipart_part_size`]).
pub fn hash_file(path: &Path, limits: &Limits) -> io::Result<FileHashes> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    let part_size =
        (size >= limits.multipart_cutoff).then(|| multipart_part_size(size, limits.min_part_size));
    let (read, sha256, parts) = hash_stream(file, part_size)?;
    Ok(FileHashes {
        size: read,
        sha256,
        parts,
        part_size,
    })
}

/// A file read, hashed and probed.
struct Scanned {
    path: PathBuf,
    size: u64,
    modified: Option<SystemTime>,
    hashes: FileHashes,
    probe: Probe,
    /// The bytes, when the file is small enough to keep.
    data: Option<Bytes>,
}

fn stat(path: &Path) -> Result<(u64, Option<SystemTime>), UploadError> {
    let meta = std::fs::metadata(path).map_err(|e| UploadError::from_io(path, e))?;
    if !meta.is_file() {
        return Err(UploadError::Unreadable {
            path: path.to_path_buf(),
            source: io::Error::other("not a regular file"),
        });
    }
    Ok((meta.len(), meta.modified().ok()))
}

fn scan_file(path: &Path, limits: &Limits, in_memory_max: u64) -> Result<Scanned, UploadError> {
    let (size, modified) = stat(path)?;
    if size == 0 {
        return Err(UploadError::Empty {
            path: path.to_path_buf(),
        });
    }
    if size > limits.max_upload_bytes {
        return Err(UploadError::TooLarge {
            path: path.to_path_buf(),
            detail: format!(
                "{size} bytes, the server accepts at most {}",
                limits.max_upload_bytes
            ),
        });
    }
    let io_err = |e| UploadError::from_io(path, e);
    let part_size =
        (size >= limits.multipart_cutoff).then(|| multipart_part_size(size, limits.min_part_size));
    let (hashes, data) = if size <= in_memory_max && part_size.is_none() {
        let mut data = Vec::with_capacity(size as usize + 1);
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(io_err)?;
        let (read, sha256, parts) = hash_stream(data.as_slice(), None).map_err(io_err)?;
        (
            FileHashes {
                size: read,
                sha256,
                parts,
                part_size,
            },
            Some(Bytes::from(data)),
        )
    } else {
        let file = File::open(path).map_err(io_err)?;
        let (read, sha256, parts) = hash_stream(file, part_size).map_err(io_err)?;
        (
            FileHashes {
                size: read,
                sha256,
                parts,
                part_size,
            },
            None,
        )
    };
    let probed = match &data {
        Some(bytes) => probe::probe_bytes(bytes),
        None => probe::probe_file(path),
    };
    if hashes.size != size || stat(path)? != (size, modified) {
        return Err(UploadError::Changed {
            path: path.to_path_buf(),
        });
    }
    let probe = probed.map_err(|e| UploadError::from_probe(path, e))?;
    if probe.pixels() > limits.max_pixels {
        return Err(UploadError::TooLarge {
            path: path.to_path_buf(),
            detail: format!(
                "{}×{} is {} pixels, the server accepts at most {}",
                probe.width,
                probe.height,
                probe.pixels(),
                limits.max_pixels
            ),
        });
    }
    Ok(Scanned {
        path: path.to_path_buf(),
        size,
        modified,
        hashes,
        probe,
        data,
    })
}

/// Runs blocking work on tokio's blocking pool.
///
/// Each stage bounds its own concurrency (the scan stage by `buffered`, the thumbnail stage by a
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

/// `ClientError` is not `Clone` (it holds `io::Error`); rebuild an equivalent one for each file.
fn clone_client_error(e: &ClientError) -> ClientError {
    match e {
        ClientError::Unauthorized { server, message } => ClientError::Unauthorized {
            server: server.clone(),
            message: message.clone(),
        },
        ClientError::NotFound { message } => ClientError::NotFound {
            message: message.clone(),
        },
        ClientError::Api {
            status,
            code,
            message,
        } => ClientError::Api {
            status: *status,
            code: code.clone(),
            message: message.clone(),
        },
        ClientError::Network { server, detail } => ClientError::Network {
            server: server.clone(),
            detail: detail.clone(),
        },
        ClientError::Decode { server, detail } => ClientError::Decode {
            server: server.clone(),
            detail: detail.clone(),
        },
        ClientError::Body { path, source } => ClientError::Body {
            path: path.clone(),
            source: io::Error::new(source.kind(), source.to_string()),
        },
        ClientError::Config(message) => ClientError::Config(message.clone()),
    }
}

/// Where a scanned file stands after the bulk check.
enum Checked {
    Failed(UploadError),
    Existing(Image),
    New(Box<Scanned>),
}

async fn run_pipeline(
    client: &Client,
    limits: &Limits,
    todo: Vec<(usize, PathBuf)>,
    options: &UploadOptions,
    events: &(impl Fn(UploadEvent) + Send + Sync),
) -> Vec<(usize, Result<Uploaded, UploadError>)> {
    let cpu_workers = options.cpu_workers.max(1);
    let concurrency = options.concurrency.max(1);
    let thumb_cpu = Semaphore::new(cpu_workers);
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
            let (thumb_cpu, net) = (&thumb_cpu, &net);
            async move {
                let result = match state {
                    Checked::Failed(e) => Err(e),
                    Checked::Existing(image) => Ok(Uploaded {
                        image,
                        existed: true,
                    }),
                    Checked::New(scanned) => {
                        upload_scanned(
                            client, limits, *scanned, options, thumb_cpu, net, index, events,
                        )
                        .await
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

#[allow(clippy::too_many_arguments)]
async fn upload_scanned(
    client: &Client,
    limits: &Limits,
    scanned: Scanned,
    options: &UploadOptions,
    thumb_cpu: &Semaphore,
    net: &Semaphore,
    index: usize,
    events: &(impl Fn(UploadEvent) + Send + Sync),
) -> Result<Uploaded, UploadError> {
    let path = scanned.path.clone();
    let thumb_options = ThumbOptions {
        max_pixels: limits.max_pixels,
        quality: options.thumb_quality,
    };
    let thumbs = {
        let (probe, data, p) = (scanned.probe.clone(), scanned.data.clone(), path.clone());
        let _permit = thumb_cpu
            .acquire()
            .await
            .map_err(|_| UploadError::Unreadable {
                path: path.clone(),
                source: io::Error::other("upload cancelled"),
            })?;
        blocking(&path, move || {
            let made = match &data {
                Some(bytes) => thumbs::make_thumbnails(bytes, &probe, &thumb_options),
                None => thumbs::make_thumbnails_from_file(&p, &probe, &thumb_options),
            };
            made.map_err(|e| thumb_error(&p, e))
        })
        .await?
    };

    let _permit = net.acquire().await.map_err(|_| UploadError::Unreadable {
        path: path.clone(),
        source: io::Error::other("upload cancelled"),
    })?;
    let (width, height) = scanned.probe.display_size();
    let create = CreateUpload {
        filename: upload_filename(&path, limits.max_filename_bytes as usize),
        size: scanned.size,
        sha256: scanned.hashes.sha256.clone(),
        content_type: scanned.probe.content_type().to_string(),
        width,
        height,
        taken_at: scanned.probe.taken_at,
        thumbs: thumbs.iter().map(Thumbnail::spec).collect(),
        parts: scanned.hashes.parts.clone(),
    };
    let key = new_idempotency_key();
    let answer = client
        .create_upload(&create, &key)
        .await
        .map_err(|e| UploadError::from_client(&path, e))?;
    let (upload_id, original, targets) = match answer {
        CreateUploadResponse::Exists { image } => {
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
    let sent = async {
        let parts = send_objects(
            client, &scanned, &thumbs, &original, &targets, options, index, events,
        )
        .await?;
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

fn thumb_error(path: &Path, e: ThumbError) -> UploadError {
    let path = path.to_path_buf();
    match e {
        ThumbError::TooManyPixels { .. } => UploadError::TooLarge {
            path,
            detail: e.to_string(),
        },
        ThumbError::Decode { detail, .. }
            if detail.contains("EOF") || detail.contains("end of file") =>
        {
            UploadError::Truncated { path, detail }
        }
        ThumbError::Decode { format, detail } => UploadError::Corrupt {
            path,
            detail: format!("{format}: {detail}"),
        },
        ThumbError::Encode(detail) => UploadError::Corrupt { path, detail },
        ThumbError::Io(source) => UploadError::from_io(&path, source),
    }
}

/// The filename to send: the path's last component, shortened (keeping the extension) to fit
/// `max_bytes`.
fn upload_filename(path: &Path, max_bytes: usize) -> String {
    let name = path
        .file_name()
        .map_or_else(|| "image".to_string(), |n| n.to_string_lossy().into_owned());
    if max_bytes == 0 || name.len() <= max_bytes {
        return name;
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= 16 => (&name[..dot], &name[dot..]),
        _ => (name.as_str(), ""),
    };
    let mut cut = max_bytes.saturating_sub(ext.len()).min(stem.len());
    while cut > 0 && !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &stem[..cut])
}

/// PUTs the original (single or parts) and the thumbnails; returns the parts for `complete`.
#[allow(clippy::too_many_arguments)]
async fn send_objects(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::tests::jpeg_bytes;

    fn limits() -> Limits {
        Limits {
            max_upload_bytes: 1 << 30,
            multipart_cutoff: 64 << 20,
            min_part_size: 8 << 20,
            max_filename_bytes: 255,
            max_pixels: 100_000_000,
            max_batch: 100,
        }
    }

    #[test]
    fn part_hashes_match_independent_slices() {
        let data: Vec<u8> = (0..2_500_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.bin");
        std::fs::write(&path, &data).unwrap();
        let limits = Limits {
            multipart_cutoff: 1_000_000,
            min_part_size: 1_000_000,
            ..limits()
        };
        let hashes = hash_file(&path, &limits).unwrap();
        assert_eq!(hashes.part_size, Some(1_000_000));
        let expected: Vec<String> = data
            .chunks(1_000_000)
            .map(|c| hex::encode(Sha256::digest(c)))
            .collect();
        assert_eq!(hashes.parts.as_ref().unwrap(), &expected);
        assert_eq!(expected.len(), 3);
        assert_eq!(hashes.sha256, hex::encode(Sha256::digest(&data)));

        // Below the cutoff: no parts.
        let small = hash_file(
            &path,
            &Limits {
                multipart_cutoff: 3_000_000,
                ..limits
            },
        )
        .unwrap();
        assert_eq!((small.parts, small.part_size), (None, None));
    }

    #[test]
    fn exact_multiple_of_the_part_size_has_no_empty_last_part() {
        let data = vec![5u8; 2 * 4096];
        let (_, _, parts) = hash_stream(data.as_slice(), Some(4096)).unwrap();
        let parts = parts.unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], hex::encode(Sha256::digest(&data[4096..])));
    }

    #[test]
    fn expands_directories_sorted_images_only_and_keeps_named_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("photos");
        std::fs::create_dir_all(root.join("b")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for name in [
            "b/2.JPG",
            "a.png",
            "c.txt",
            "b/1.jpeg",
            ".x.jpg",
            ".hidden/h.jpg",
        ] {
            std::fs::write(root.join(name), b"x").unwrap();
        }
        let named = dir.path().join("notes.txt");
        std::fs::write(&named, b"x").unwrap();
        let missing = dir.path().join("nope.jpg");
        let out = expand_inputs(&[named.clone(), root.clone(), missing.clone()]);
        let shown: Vec<String> = out
            .iter()
            .map(|r| match r {
                Ok(p) => p.strip_prefix(dir.path()).unwrap().display().to_string(),
                Err(e) => format!("error:{}", e.code()),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "notes.txt",
                "photos/a.png",
                "photos/b/1.jpeg",
                "photos/b/2.JPG",
                "error:missing"
            ]
        );
    }

    #[test]
    fn scan_rejects_bad_files_with_named_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, Vec<u8>, &str); 3] = [
            ("empty.jpg", vec![], "empty"),
            ("text.jpg", b"just some text".to_vec(), "not_an_image"),
            ("cut.jpg", jpeg_bytes(64, 64)[..300].to_vec(), "truncated"),
        ];
        for (name, bytes, code) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let err = scan_file(&path, &limits(), 1 << 20).err().unwrap();
            assert_eq!(err.code(), code, "{err}");
            assert!(err.to_string().contains(name), "{err}");
        }
        let big = dir.path().join("big.jpg");
        std::fs::write(&big, jpeg_bytes(100, 100)).unwrap();
        let err = scan_file(
            &big,
            &Limits {
                max_pixels: 9_999,
                ..limits()
            },
            1 << 20,
        )
        .err()
        .unwrap();
        assert_eq!(err.code(), "too_large", "{err}");
        let ok = scan_file(&big, &limits(), 1 << 20).unwrap();
        assert_eq!((ok.probe.width, ok.probe.height), (100, 100));
        assert!(ok.data.is_some());
        let streamed = scan_file(&big, &limits(), 10).unwrap();
        assert!(streamed.data.is_none());
        assert_eq!(streamed.hashes, ok.hashes);
    }

    #[test]
    fn long_filenames_are_shortened_keeping_the_extension() {
        let long = format!("{}.jpeg", "é".repeat(200));
        let name = upload_filename(Path::new(&long), 255);
        assert!(name.len() <= 255 && name.ends_with(".jpeg"), "{name}");
        assert_eq!(upload_filename(Path::new("dir/a.png"), 255), "a.png");
    }

    mod pipeline {
        use super::*;
        use crate::client::tests::{Seen, response, stub_with};
        use std::sync::Mutex;

        fn image_json(id: &str, filename: &str, sha: &str) -> serde_json::Value {
            serde_json::json!({
                "id": id, "filename": filename, "size": 1, "sha256": sha, "content_type": "image/jpeg",
                "width": 1, "height": 1, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                "tags": [], "url": format!("http://cdn/i/{id}/{filename}"), "thumb_url": "t", "preview_url": "p"
            })
        }

        /// A fake API + object store: remembers created uploads, answers PUTs (failing those whose
        /// path contains `fail`), and completes with an image named after the upload.
        fn fake_cloud(existing_sha: String) -> crate::client::tests::Handler {
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
                        let thumbs: Vec<_> = req["thumbs"].as_array().unwrap().iter()
                            .map(|t| serde_json::json!({"size": t["size"], "request": put(format!("{id}/{}", t["size"]))}))
                            .collect();
                        ok(serde_json::json!({
                            "status": "upload", "upload_id": id, "expires_at": "2026-01-01T00:00:00Z",
                            "original": {"kind": "single", "request": put(format!("{id}/{name}"))},
                            "thumbs": thumbs
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
                    ("DELETE", _) => {
                        "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_string()
                    }
                    _ => response(
                        "404 Not Found",
                        "",
                        r#"{"error":{"code":"not_found","message":"no route"}}"#,
                    ),
                }
            })
        }

        /// Many files through narrow stages: a finished scan that nobody polls must not hold
        /// a permit the thumbnail stage needs (this hung before the stages got separate bounds).
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
            let thumb_sizes: Vec<_> = b["thumbs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["size"].as_u64().unwrap(), t["width"].as_u64().unwrap()))
                .collect();
            assert_eq!(thumb_sizes, [(320, 320), (1280, 900)]);
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
}
