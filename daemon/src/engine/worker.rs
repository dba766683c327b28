//! One file through the steps: sniff → hash (prepare) → upload (resumable) → backup.
//!
//! Each step is recorded in the queue before the next one starts; the upload checkpoint is
//! persisted before any byte is sent. Before each step the file's stat must still match the
//! queue row: a changed file is recorded as a new version (queued again) and this attempt
//! stops without an error; a vanished file is forgotten (nothing is deleted in the cloud or
//! the backup).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use imgcloud_core::api::{ImagePatch, Limits};
use imgcloud_core::backup::BackupError;
use imgcloud_core::daemon_api::{Event, FileState, WatchedFolder};
use imgcloud_core::upload::{
    Checkpoint, Prepared, UploadError, UploadOptions, Uploaded, prepare_file, upload_prepared,
};
use time::OffsetDateTime;

use super::Inner;
use super::retry::{self, Failure, RECENT_WRITE};
use super::sniff::{self, Sniffed};
use crate::queue::{Entry, FileStat, Observed, QueueError};

/// Runs one attempt on a claimed entry (its id is in `busy`), records the outcome and wakes
/// the scheduler. The caller releases the claim.
pub(crate) async fn run(inner: Arc<Inner>, entry: Entry) {
    let id = entry.id;
    let path = entry.path.clone();
    let attempts = entry.attempts;
    inner.events.flight_started(id, &path, entry.stat.size);
    let outcome = attempt(&inner, entry).await;
    inner.events.flight_finished(id);
    if let Err(failure) = outcome {
        record_failure(&inner, id, &path, attempts, failure).await;
    }
    inner.kick();
}

/// `Ok` covers done, changed (queued again) and gone; `Err` is a failure to record.
async fn attempt(inner: &Arc<Inner>, mut entry: Entry) -> Result<(), Failure> {
    if entry.state != FileState::Uploaded {
        let Some(meta) = check_stat(inner, &entry).await? else {
            return Ok(());
        };
        let recent = recently_modified(&meta);

        // 1. A quick look at the content.
        let path = entry.path.clone();
        let header = blocking(move || sniff::read_header(&path)).await?;
        let header = match header {
            Ok(header) => header,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                forget(inner, &entry.path).await;
                return Ok(());
            }
            Err(e) => return Err(unreadable(&entry.path, &e)),
        };
        match sniff::decide(&header, &entry.path, entry.folder.is_none()) {
            Sniffed::Image(_) => {}
            Sniffed::Skip => {
                tracing::debug!(path = %entry.path.display(), "not an image: skipped");
                forget(inner, &entry.path).await;
                return Ok(());
            }
            // A short file written just now may still be growing into an image.
            Sniffed::Error { code, message } if recent && header.len() < sniff::HEADER_LEN => {
                return Err(Failure::transient(
                    code,
                    format!(
                        "{message} (it was modified just now; trying again in case it is still being written)"
                    ),
                ));
            }
            Sniffed::Error { code, message } => return Err(Failure::permanent(code, message)),
        }

        // 2. Hash and probe (blocking pool); no pixel is decoded.
        let limits = inner.limits().await.map_err(|source| {
            retry::classify(
                &UploadError::Client {
                    path: entry.path.clone(),
                    source,
                },
                false,
            )
        })?;
        let (path, l, options) = (
            entry.path.clone(),
            limits.clone(),
            UploadOptions {
                visibility: folder_of(inner, &entry).and_then(|f| f.visibility),
                ..inner.upload_options.clone()
            },
        );
        let prepared = match blocking(move || prepare_file(&path, &l, &options)).await? {
            Ok(prepared) => prepared,
            Err(UploadError::Missing { .. }) => {
                forget(inner, &entry.path).await;
                return Ok(());
            }
            Err(e) => return Err(retry::classify(&e, recent)),
        };
        if check_stat(inner, &entry).await?.is_none() {
            return Ok(());
        }
        if entry.state == FileState::Discovered
            || entry.sha256.as_deref() != Some(prepared.sha256.as_str())
        {
            let sha = prepared.sha256.clone();
            let id = entry.id;
            inner
                .db(move |q| q.set_hashed(id, &sha))
                .await
                .map_err(queue_failure)?;
            entry.sha256 = Some(prepared.sha256.clone());
        }

        // 3. Upload, resumable.
        if inner.stop.is_cancelled() {
            return Ok(());
        }
        // The backup copy of what was hashed goes to disk while the upload is on the network
        // (from memory: nothing is read or hashed again); it is recorded after the upload, in
        // the queue's order. A crash between the two makes it again: it is content-addressed.
        let early_backup = match (inner.backup.clone(), prepared.bytes()) {
            (Some(store), Some(bytes)) => {
                let (path, sha) = (entry.path.clone(), prepared.sha256.clone());
                Some(tokio::task::spawn_blocking(move || {
                    store.put_bytes(&path, &bytes, &sha)
                }))
            }
            _ => None,
        };
        let uploaded = upload(inner, &entry, prepared, &limits).await?;
        let image = tag_album(inner, &entry, uploaded.image).await;
        let (id, image_id, url) = (entry.id, image.id.clone(), image.url.clone());
        inner
            .db(move |q| q.set_uploaded(id, &image_id, &url))
            .await
            .map_err(queue_failure)?;
        inner.announce_upload(
            &entry.path,
            &image,
            uploaded.existed,
            entry.folder.is_some(),
        );
        entry.state = FileState::Uploaded;
        if let Some(early) = early_backup {
            match early.await {
                Ok(Ok(_)) => return record_backed_up(inner, &entry).await,
                Ok(Err(e)) => {
                    tracing::debug!(path = %entry.path.display(), error = %e, "backup from memory failed; copying the file");
                }
                Err(e) => tracing::debug!(error = %e, "backup worker failed; copying the file"),
            }
        }
    }

    // 4. The backup copy.
    if check_stat(inner, &entry).await?.is_none() {
        return Ok(());
    }
    backup(inner, &entry).await
}

async fn upload(
    inner: &Arc<Inner>,
    entry: &Entry,
    prepared: Prepared,
    limits: &Limits,
) -> Result<Uploaded, Failure> {
    let id = entry.id;
    let multipart = prepared.size >= limits.multipart_cutoff;
    let recorded = entry
        .checkpoint
        .as_deref()
        .and_then(|json| serde_json::from_str::<Checkpoint>(json).ok());
    let mut checkpoint = match recorded {
        Some(checkpoint) => {
            if let Some(upload_id) = &checkpoint.upload_id {
                tracing::info!(
                    upload_id = %upload_id,
                    multipart,
                    parts_done = checkpoint.parts_done.len(),
                    path = %entry.path.display(),
                    "upload session resumed from the checkpoint"
                );
            }
            checkpoint
        }
        None => {
            // Persist the idempotency key before the first request: a restart asks for the
            // same session instead of starting a second one.
            let checkpoint = Checkpoint::new(&prepared.sha256);
            let json = serde_json::to_string(&checkpoint).map_err(|e| {
                Failure::transient("queue", format!("cannot encode the checkpoint: {e}"))
            })?;
            inner
                .db(move |q| q.set_checkpoint(id, &json))
                .await
                .map_err(queue_failure)?;
            checkpoint
        }
    };
    let logged = Mutex::new(checkpoint.upload_id.clone());
    let queue = inner.queue.clone();
    let path = entry.path.clone();
    let on_checkpoint = move |checkpoint: &Checkpoint| {
        match serde_json::to_string(checkpoint) {
            Ok(json) => {
                if let Err(e) = queue.set_checkpoint(id, &json) {
                    tracing::error!(path = %path.display(), "cannot record the upload checkpoint: {e}");
                }
            }
            Err(e) => tracing::error!("cannot encode the upload checkpoint: {e}"),
        }
        if let Some(upload_id) = &checkpoint.upload_id {
            let mut last = logged.lock().unwrap_or_else(|e| e.into_inner());
            if last.as_deref() != Some(upload_id.as_str()) {
                tracing::info!(
                    upload_id = %upload_id,
                    multipart,
                    path = %path.display(),
                    "upload session"
                );
                *last = Some(upload_id.clone());
            }
        }
    };
    // The upload future is driven on a blocking thread with `block_on`: rustc cannot prove
    // it `Send` (closures over borrowed targets inside the core upload code, rust-lang/rust
    // #102211), so it cannot be spawned as a task; blocking threads are plentiful and only
    // `concurrency` uploads run at once.
    let client = inner.client();
    let options = inner.upload_options.clone();
    let events = inner.clone();
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::spawn_blocking(move || {
        let on_progress = |done: u64, total: u64| events.events.flight_progress(id, done, total);
        handle.block_on(upload_prepared(
            &client,
            &prepared,
            &mut checkpoint,
            &options,
            &on_progress,
            &on_checkpoint,
        ))
    })
    .await
    .map_err(|e| Failure::transient("internal", format!("upload task failed: {e}")))?;
    match outcome {
        Ok(uploaded) => Ok(uploaded),
        Err(UploadError::Missing { path }) => {
            forget(inner, &path).await;
            Err(Failure::transient(
                "missing",
                format!("{}: deleted while it was uploaded", path.display()),
            ))
        }
        Err(e) => Err(retry::classify(&e, false)),
    }
}

/// The configuration of the watched folder `entry` came from.
fn folder_of(inner: &Arc<Inner>, entry: &Entry) -> Option<WatchedFolder> {
    let folder = entry.folder.as_deref()?;
    inner
        .folder_list()
        .into_iter()
        .find(|f| f.folder.path == folder)
        .map(|f| f.folder.clone())
}

/// Puts the image in its folder's album (created when missing) and tags it with the album's
/// name; best effort: the upload itself succeeded.
async fn tag_album(
    inner: &Arc<Inner>,
    entry: &Entry,
    image: imgcloud_core::api::Image,
) -> imgcloud_core::api::Image {
    let album = folder_of(inner, entry).and_then(|f| f.album);
    let Some(album) = album.filter(|a| !a.trim().is_empty()) else {
        return image;
    };
    if let Err(e) = add_to_album(inner, album.trim(), &image.id).await {
        tracing::warn!(path = %entry.path.display(), %album, "cannot add the image to its album: {e}");
    }
    if image.tags.contains(&album) {
        return image;
    }
    let mut tags = image.tags.clone();
    tags.push(album.clone());
    let patch = ImagePatch {
        tags: Some(tags),
        ..ImagePatch::default()
    };
    match inner.client().patch_image(&image.id, &patch).await {
        Ok(tagged) => tagged,
        Err(e) => {
            tracing::warn!(path = %entry.path.display(), %album, "cannot tag the image with its album: {e}");
            image
        }
    }
}

/// Adds `image_id` to the album named `name`, creating it when the user has none of that name.
async fn add_to_album(inner: &Arc<Inner>, name: &str, image_id: &str) -> anyhow::Result<()> {
    let client = inner.client();
    let ids = [image_id.to_string()];
    let cached = inner.album_ids.lock().await.get(name).cloned();
    if let Some(id) = cached {
        match client.edit_album(&id, "add", &ids).await {
            Ok(_) => return Ok(()),
            // Deleted or renamed meanwhile: look it up again.
            Err(imgcloud_core::client::ClientError::NotFound { .. }) => {
                inner.album_ids.lock().await.remove(name);
            }
            Err(e) => return Err(e.into()),
        }
    }
    let id = client.ensure_album(name).await?.id;
    client.edit_album(&id, "add", &ids).await?;
    inner.album_ids.lock().await.insert(name.to_string(), id);
    Ok(())
}

async fn backup(inner: &Arc<Inner>, entry: &Entry) -> Result<(), Failure> {
    let id = entry.id;
    let (Some(store), Some(sha)) = (inner.backup.clone(), entry.sha256.clone()) else {
        if inner.backup.is_some() {
            tracing::warn!(path = %entry.path.display(), "no hash recorded: the backup copy is skipped");
        }
        return inner
            .db(move |q| q.set_backed_up(id))
            .await
            .map_err(queue_failure);
    };
    let (path, hash) = (entry.path.clone(), sha.clone());
    let backup_root = store.root().to_path_buf();
    match blocking(move || store.put(&path, &hash)).await? {
        Ok(_) => record_backed_up(inner, entry).await,
        Err(BackupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(path = %entry.path.display(), "deleted before its backup copy was made; it stays in the cloud");
            forget(inner, &entry.path).await;
            Ok(())
        }
        Err(e @ BackupError::Mismatch { .. }) => Err(Failure::transient("changed", e.to_string())),
        Err(BackupError::Io { source, .. })
            if matches!(
                source.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) =>
        {
            Err(Failure::transient(
                "disk_full",
                format!(
                    "{}: no room for its backup copy: the backup folder {} is full. Free some \
                     space there (or set backup_dir in daemon.toml to a larger disk); the copy \
                     is made again once there is room. The file is in the cloud already.",
                    entry.path.display(),
                    backup_root.display()
                ),
            ))
        }
        Err(e) => Err(Failure::transient(
            "backup",
            format!("{}: cannot make the backup copy: {e}", entry.path.display()),
        )),
    }
}

/// Records the backup copy as made and tells the listeners.
async fn record_backed_up(inner: &Arc<Inner>, entry: &Entry) -> Result<(), Failure> {
    let id = entry.id;
    inner
        .db(move |q| q.set_backed_up(id))
        .await
        .map_err(queue_failure)?;
    inner.events.send(Event::BackedUp {
        path: entry.path.clone(),
        sha256: entry.sha256.clone().unwrap_or_default(),
    });
    Ok(())
}

/// The file's metadata when it still matches the row. A changed file is recorded as a new
/// version (and `None` returned); a vanished one is forgotten.
async fn check_stat(
    inner: &Arc<Inner>,
    entry: &Entry,
) -> Result<Option<std::fs::Metadata>, Failure> {
    match std::fs::metadata(&entry.path) {
        Ok(meta) if meta.is_file() => {
            let stat = FileStat::of(&meta);
            if stat == entry.stat {
                return Ok(Some(meta));
            }
            let item = vec![(entry.path.clone(), None, stat)];
            let observed = inner
                .db(move |q| q.observe_many(&item))
                .await
                .map_err(queue_failure)?;
            if matches!(observed.first(), Some(Observed::New | Observed::Changed)) {
                inner.events.send(Event::Discovered {
                    path: entry.path.clone(),
                    size: stat.size,
                });
            }
            Ok(None)
        }
        Ok(_) => {
            forget(inner, &entry.path).await;
            Ok(None)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            forget(inner, &entry.path).await;
            Ok(None)
        }
        Err(e) => Err(unreadable(&entry.path, &e)),
    }
}

/// Records a failure: retry later, offline, or failed until the file changes.
async fn record_failure(inner: &Arc<Inner>, id: i64, path: &Path, attempts: u32, failure: Failure) {
    let permanent = matches!(failure, Failure::Permanent { .. });
    let next = OffsetDateTime::now_utc() + retry::backoff_random(attempts);
    let (code, message) = (failure.code().to_string(), failure.message().to_string());
    let recorded = {
        let (code, message) = (code.clone(), message.clone());
        if permanent {
            inner.db(move |q| q.set_failed(id, &code, &message)).await
        } else {
            inner
                .db(move |q| q.set_retry(id, &code, &message, next))
                .await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(path = %path.display(), "cannot record the error in the queue: {e}");
    }
    match &failure {
        Failure::Offline { message, target } => {
            tracing::info!(path = %path.display(), "{message}");
            super::scheduler::go_offline(inner, message, target);
        }
        Failure::Transient { .. } => {
            tracing::info!(path = %path.display(), code, "{message}; trying again at {next}")
        }
        Failure::Permanent { .. } => tracing::warn!(path = %path.display(), code, "{message}"),
    }
    inner.events.send(Event::Failed {
        path: path.to_path_buf(),
        code,
        message,
        permanent,
        next_attempt_at: (!permanent).then_some(next),
    });
}

/// Forgets unfinished work on a path that is gone (never deletes in the cloud or backup).
async fn forget(inner: &Arc<Inner>, path: &Path) {
    let owned = path.to_path_buf();
    if let Err(e) = inner.db(move |q| q.forget(&owned)).await {
        tracing::error!(path = %path.display(), "cannot update the queue: {e}");
    }
}

/// Whether the file was modified within [`RECENT_WRITE`] (a writer may still be at it).
fn recently_modified(meta: &std::fs::Metadata) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_none_or(|age| age < RECENT_WRITE)
}

fn unreadable(path: &Path, e: &std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        Failure::permanent(
            "unreadable",
            format!(
                "{}: cannot read: permission denied; give the daemon's user read access (chmod u+r), it is retried when the file changes",
                path.display()
            ),
        )
    } else {
        Failure::transient(
            "unreadable",
            format!("{}: cannot read: {e}", path.display()),
        )
    }
}

fn queue_failure(e: QueueError) -> Failure {
    Failure::transient("queue", e.to_string())
}

/// Runs blocking work on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure::transient("internal", format!("worker task failed: {e}")))
}
