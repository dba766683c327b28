//! The derivative service: thumbnails and previews are made by the cloud, never by the clients.
//!
//! - **Named presets only** ([`imgcloud_core::api::PRESETS`]), stored in the object store at
//!   `t/{image id}/{long side}.jpg` and linked through the CDN like originals. The CDN asks the
//!   store first; on a miss it falls back to this server (`GET /t/{id}/{file}`), which makes the
//!   derivative, stores it and answers. Keys never change, so every answer is cacheable for a
//!   year.
//! - **One maker per derivative across replicas**, as pict-rs does it: a row per (image, preset)
//!   is the claimed key ([`Store::claim_derivative`]). Whoever inserts it (or takes over a claim
//!   whose lease ran out, after a crash) makes the derivative; everyone else waits for it to be
//!   recorded as made and reads it from the store. Within one replica, concurrent requests for
//!   the same derivative share one future and never reach the database twice.
//! - **Bounded decoding**: on-demand renders take a permit of a pool as large as the machine
//!   has cores; the background queue ([`jobs`]) renders on one low-priority thread of its own.
//!   The pixel count comes from the original's own header and is checked before decoding.
//! - A broken original (not decodable, truncated, over the pixel limit) is marked `broken` in
//!   the library and answered with a clear 422; nothing is retried for it.

pub mod jobs;
mod metrics;
pub mod render;
pub mod shrink;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use imgcloud_core::api::{DerivativeState, PRESETS, Preset, THUMB};
use tokio::sync::{OnceCell, Semaphore};

pub use metrics::DerivativeStats;

use crate::keys;
use crate::objects::ObjectStore;
use crate::placement::Placement;
use crate::store::{Claim, DerivativeUpdate, ImageRecord, Store, StoreError, now};
use render::{RenderError, Renders};

/// How long a claim holds without being finished: a maker that died mid-way is replaced after
/// this long.
const CLAIM_LEASE: Duration = Duration::from_secs(120);
/// How often a waiter looks whether another worker has finished.
const WAIT_POLL: Duration = Duration::from_millis(15);
/// How long a request waits for another worker's derivative before giving up (the request
/// timeout would end it anyway; a retry finds it made, or the claim taken over).
const WAIT_LIMIT: Duration = Duration::from_secs(45);
/// Largest derivative read back from the store.
const MAX_DERIVATIVE_BYTES: u64 = 32 * 1024 * 1024;

/// Why a derivative could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeriveError {
    /// The original cannot be made into a derivative, ever (the image is marked broken).
    #[error("{0}")]
    Broken(String),
    /// The image is gone (purged while we worked).
    #[error("the image is gone")]
    Gone,
    /// Worth retrying: the object store or the database failed, or the wait timed out.
    #[error("{0}")]
    Transient(String),
}

impl From<StoreError> for DeriveError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::Gone,
            other => Self::Transient(format!("database: {other}")),
        }
    }
}

impl From<crate::objects::ObjectStoreError> for DeriveError {
    fn from(e: crate::objects::ObjectStoreError) -> Self {
        Self::Transient(e.to_string())
    }
}

impl From<RenderError> for DeriveError {
    fn from(e: RenderError) -> Self {
        if e.is_permanent() {
            Self::Broken(e.to_string())
        } else {
            Self::Transient(e.to_string())
        }
    }
}

/// Object key of a derivative (the key client-made thumbnails had, so older libraries keep
/// theirs).
pub fn key(image_id: &str, preset: Preset) -> String {
    keys::thumb_key(image_id, preset.long_side)
}

type Shared = Arc<OnceCell<Result<Bytes, DeriveError>>>;

/// The service; one per replica, shared by the request handlers and the background queue.
pub struct Derivatives {
    store: Arc<dyn Store>,
    objects: Arc<ObjectStore>,
    /// Moves a derivative stored while its image moved.
    placement: Arc<Placement>,
    /// Pixel limit (decompression-bomb guard).
    max_pixels: u64,
    /// Largest original read (the upload limit).
    max_original_bytes: u64,
    /// This replica's name in claims.
    holder: String,
    pool: Semaphore,
    inflight: Mutex<HashMap<(String, &'static str), Shared>>,
    stats: Arc<DerivativeStats>,
    /// When this replica last saw upload traffic (the background queue yields to it).
    last_upload: Mutex<Option<Instant>>,
}

impl Derivatives {
    pub fn new(
        store: Arc<dyn Store>,
        objects: Arc<ObjectStore>,
        placement: Arc<Placement>,
        max_pixels: u64,
        max_original_bytes: u64,
    ) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            store,
            objects,
            placement,
            max_pixels,
            max_original_bytes,
            holder: format!("replica-{}", keys::new_upload_id()),
            pool: Semaphore::new(cores),
            inflight: Mutex::default(),
            stats: Arc::default(),
            last_upload: Mutex::default(),
        }
    }

    pub fn stats(&self) -> Arc<DerivativeStats> {
        self.stats.clone()
    }

    /// Called by the upload routes: the background queue waits while uploads go on.
    pub fn note_upload(&self) {
        *self.last_upload.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    fn since_last_upload(&self) -> Option<Duration> {
        self.last_upload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }

    /// The bytes of one derivative of `image`, made now if need be (a request: rendered on the
    /// bounded pool). Concurrent calls for the same derivative share one answer.
    pub async fn get(&self, image: &ImageRecord, preset: Preset) -> Result<Bytes, DeriveError> {
        let slot = (image.id.clone(), preset.name);
        let cell = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            inflight.entry(slot.clone()).or_default().clone()
        };
        let result = cell
            .get_or_init(|| self.fetch_or_make(image, preset, Priority::Request))
            .await
            .clone();
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&slot);
        if let Err(DeriveError::Broken(message)) = &result {
            self.mark_broken(&image.id, message).await;
        }
        result
    }

    /// Records that the original cannot be made into derivatives (visible per image).
    async fn mark_broken(&self, image_id: &str, message: &str) {
        let update = DerivativeUpdate {
            state: DerivativeState::Broken,
            thumbhash: None,
            error: Some(message.to_string()),
        };
        if let Err(e) = self.store.set_derivatives(image_id, &update).await {
            tracing::warn!(image_id, error = %e, "could not mark an image broken");
        }
    }

    /// Claims, makes or waits for one derivative; its bytes.
    async fn fetch_or_make(
        &self,
        image: &ImageRecord,
        preset: Preset,
        priority: Priority,
    ) -> Result<Bytes, DeriveError> {
        let started = Instant::now();
        let key = key(&image.id, preset);
        let mut forgot = false;
        loop {
            let at = now();
            let claim = self
                .store
                .claim_derivative(&image.id, preset.name, &self.holder, at, at + CLAIM_LEASE)
                .await?;
            match claim {
                Claim::Ours => return self.make_claimed(image, preset, priority).await,
                Claim::Made => match self.read(image, &key, MAX_DERIVATIVE_BYTES).await? {
                    Some(bytes) => return Ok(bytes),
                    // Recorded as made but gone from the store (deleted by hand, a restore
                    // from an older bucket): make it again, once.
                    None if !forgot => {
                        forgot = true;
                        self.store.forget_derivative(&image.id, preset.name).await?;
                    }
                    None => {
                        return Err(DeriveError::Transient(format!(
                            "{key} is recorded as made but missing from the object store"
                        )));
                    }
                },
                Claim::Busy => {
                    if started.elapsed() > WAIT_LIMIT {
                        return Err(DeriveError::Transient(format!(
                            "waited {}s for another worker to make {key}",
                            WAIT_LIMIT.as_secs()
                        )));
                    }
                    self.stats.record_wait();
                    tokio::time::sleep(WAIT_POLL).await;
                }
            }
        }
    }

    /// Makes a derivative whose claim we hold: adopts it when the store has it already (a
    /// thumbnail uploaded by an older client, or our own PUT before a crash), renders it
    /// otherwise. The claim is always finished.
    async fn make_claimed(
        &self,
        image: &ImageRecord,
        preset: Preset,
        priority: Priority,
    ) -> Result<Bytes, DeriveError> {
        let result = self
            .make_together(image, &[preset], priority)
            .await
            .and_then(|mut made| {
                made.take(preset)
                    .ok_or_else(|| DeriveError::Transient("nothing rendered".into()))
            });
        let made = result.is_ok();
        if let Err(e) = self
            .store
            .finish_derivative(&image.id, preset.name, &self.holder, made)
            .await
        {
            tracing::warn!(image_id = %image.id, preset = preset.name, error = %e, "could not finish a derivative claim; its lease runs out");
            if made {
                return Err(e.into());
            }
        }
        result
    }

    /// The object whose public key is `key`, where `image`'s row says its objects are, or
    /// else where they were or are going (a move under way).
    async fn read(
        &self,
        image: &ImageRecord,
        key: &str,
        max: u64,
    ) -> Result<Option<Bytes>, DeriveError> {
        let here = keys::placed(key, image.objects_public);
        if let Some(bytes) = self.objects.get(&here, max).await? {
            return Ok(Some(bytes));
        }
        let there = keys::placed(key, !image.objects_public);
        Ok(self.objects.get(&there, max).await?)
    }

    /// The bytes of `image`'s original (a missing one makes the image broken).
    async fn original(&self, image: &ImageRecord) -> Result<Bytes, DeriveError> {
        self.read(image, &image.key, self.max_original_bytes)
            .await?
            .ok_or_else(|| {
                DeriveError::Broken(format!(
                    "the original {} is missing from the object store",
                    image.key
                ))
            })
    }

    /// Renders on the pool that fits the priority.
    async fn render(
        &self,
        original: Bytes,
        presets: Vec<Preset>,
        priority: Priority,
    ) -> Result<Renders, RenderError> {
        let max_pixels = self.max_pixels;
        let work = move || render::render(&original, &presets, max_pixels);
        let failed = |e: String| RenderError::Encode(format!("render worker failed: {e}"));
        match priority {
            Priority::Request => {
                let _permit = self
                    .pool
                    .acquire()
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                tokio::task::spawn_blocking(work)
                    .await
                    .map_err(|e| failed(e.to_string()))?
            }
            Priority::Background => jobs::render_in_background(work)
                .await
                .map_err(|e| failed(e.to_string()))?,
        }
    }

    /// Every preset of `image` (made, adopted or already there) and its ThumbHash: what a
    /// background job does. The presets this call claims are made from one decode of the
    /// original; the others are waited for (or taken over when their maker died).
    pub async fn make_all(&self, image: &ImageRecord) -> Result<Option<Vec<u8>>, DeriveError> {
        let at = now();
        let mut ours = Vec::new();
        for preset in PRESETS {
            let claim = self
                .store
                .claim_derivative(&image.id, preset.name, &self.holder, at, at + CLAIM_LEASE)
                .await?;
            if claim == Claim::Ours {
                ours.push(preset);
            }
        }
        let made = self.make_together(image, &ours, Priority::Background).await;
        for preset in &ours {
            if let Err(e) = self
                .store
                .finish_derivative(&image.id, preset.name, &self.holder, made.is_ok())
                .await
            {
                tracing::warn!(image_id = %image.id, preset = preset.name, error = %e, "could not finish a derivative claim; its lease runs out");
                if made.is_ok() {
                    return Err(e.into());
                }
            }
        }
        let mut made = made?;
        let (mut thumb, rendered_hash) = (made.take(THUMB), made.thumbhash);
        for preset in PRESETS {
            if !ours.contains(&preset) {
                self.wait_made(image, preset).await?;
            }
        }
        if rendered_hash.is_some() {
            return Ok(rendered_hash);
        }
        // The thumbnail was adopted or made elsewhere: its ThumbHash from its bytes.
        if thumb.is_none() {
            thumb = self
                .read(image, &key(&image.id, THUMB), MAX_DERIVATIVE_BYTES)
                .await?;
        }
        let Some(thumb) = thumb else {
            return Ok(None);
        };
        let max_pixels = self.max_pixels;
        let hash = jobs::render_in_background(move || render::thumbhash_of(&thumb, max_pixels))
            .await
            .map_err(|e| DeriveError::Transient(format!("ThumbHash worker failed: {e}")))?;
        // A thumbnail we cannot read back (an older client's) does not make the image broken.
        Ok(hash.ok())
    }

    /// Makes the claimed `presets` of `image`: adopts those already stored (a thumbnail
    /// uploaded by an older client, or our own PUT before a crash), renders the rest from one
    /// decode of the original on the pool of `priority`. Every preset's bytes, and the
    /// ThumbHash when something was rendered.
    async fn make_together(
        &self,
        image: &ImageRecord,
        presets: &[Preset],
        priority: Priority,
    ) -> Result<Made, DeriveError> {
        let mut made = Made::default();
        let mut to_render = Vec::new();
        for &preset in presets {
            match self
                .read(image, &key(&image.id, preset), MAX_DERIVATIVE_BYTES)
                .await?
            {
                Some(bytes) => {
                    self.stats.record_adopted();
                    made.bytes.push((preset, bytes));
                }
                None => to_render.push(preset),
            }
        }
        if to_render.is_empty() {
            return Ok(made);
        }
        let original = self.original(image).await?;
        let started = Instant::now();
        let renders = match self.render(original, to_render, priority).await {
            Ok(renders) => renders,
            Err(e) => {
                self.stats.record_failure(e.is_permanent());
                return Err(e.into());
            }
        };
        let each = started.elapsed().as_secs_f64() / renders.derivatives.len().max(1) as f64;
        for rendered in renders.derivatives {
            let bytes = Bytes::from(rendered.jpeg);
            let public_key = key(&image.id, rendered.preset);
            self.objects
                .put(
                    &keys::placed(&public_key, image.objects_public),
                    bytes.clone(),
                    render::CONTENT_TYPE,
                )
                .await?;
            self.placement
                .after_store(image, &public_key, image.objects_public)
                .await;
            self.stats.record_generated(rendered.preset, each);
            made.bytes.push((rendered.preset, bytes));
        }
        tracing::debug!(image_id = %image.id, ms = started.elapsed().as_millis() as u64, "derivatives made");
        made.thumbhash = Some(renders.thumbhash);
        Ok(made)
    }

    /// Returns once `preset` of `image` is made, by whoever holds its claim (or by us, when
    /// the claim's lease ran out).
    async fn wait_made(&self, image: &ImageRecord, preset: Preset) -> Result<(), DeriveError> {
        let started = Instant::now();
        loop {
            let at = now();
            match self
                .store
                .claim_derivative(&image.id, preset.name, &self.holder, at, at + CLAIM_LEASE)
                .await?
            {
                Claim::Made => return Ok(()),
                Claim::Ours => {
                    return self
                        .make_claimed(image, preset, Priority::Background)
                        .await
                        .map(drop);
                }
                Claim::Busy if started.elapsed() > WAIT_LIMIT => {
                    return Err(DeriveError::Transient(format!(
                        "waited {}s for another worker to make {}",
                        WAIT_LIMIT.as_secs(),
                        key(&image.id, preset)
                    )));
                }
                Claim::Busy => {
                    self.stats.record_wait();
                    tokio::time::sleep(WAIT_POLL).await;
                }
            }
        }
    }
}

/// What [`Derivatives::make_together`] made or found.
#[derive(Default)]
struct Made {
    bytes: Vec<(Preset, Bytes)>,
    thumbhash: Option<Vec<u8>>,
}

impl Made {
    fn take(&mut self, preset: Preset) -> Option<Bytes> {
        let at = self.bytes.iter().position(|(p, _)| *p == preset)?;
        Some(self.bytes.swap_remove(at).1)
    }
}

/// Who asked: a request (on the bounded pool, first) or the background queue (its own
/// low-priority thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Priority {
    Request,
    Background,
}
