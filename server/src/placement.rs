//! Where an image's objects live, so that only a public image has a working public link.
//!
//! The bucket (and the CDN in front of it) serves anonymous reads of `i/` (originals) and `t/`
//! (derivatives) only. An image's objects live there while it is public and not in the trash,
//! and at the same keys under `p/` otherwise ([`keys::placed`]); the database records where
//! they are now (`objects_public`) beside where they belong ([`ImageRecord::served_publicly`]).
//!
//! [`Placement::settle`] moves them (copy on the store's side, then delete the source) and
//! records it; when a link stops serving it also purges the CDN's copies. It is idempotent and
//! safe to run anywhere at any time: visibility changes run it at once, and the janitor runs it
//! for rows a failure left behind.
//! - One mover per image at a time, across replicas: a lease in the image's row
//!   (`claim_placement`). Two opposite moves at once could otherwise each delete the copy the
//!   other just made.
//! - A failure half-way never leaves a public object the database does not know of: a move to
//!   the public prefixes records `objects_public = true` before copying, a move to `p/` records
//!   `false` only once everything moved. Whatever is left half-done is "misplaced", which the
//!   janitor finds.
//! - A change made while a move runs: the mover re-reads the row after moving and moves again
//!   until what it moved for is what the database says.
//! - A derivative stored while its image moves: the derivative service re-checks the row under
//!   the lease after each store ([`Placement::after_store`]).

use std::sync::Arc;

use imgcloud_core::api::PRESETS;

use crate::cdn::CdnPurge;
use crate::config::CdnConfig;
use crate::objects::{ObjectStore, ObjectStoreError};
use crate::store::{ImageRecord, Store, StoreError};
use crate::{derivatives, keys, links};

/// Most rounds of [`Placement::settle`] before it leaves the rest to the janitor.
const MAX_ROUNDS: usize = 4;
/// How long a mover's lease lasts (a few store calls per image need far less).
const LEASE: time::Duration = time::Duration::seconds(60);
/// How long a mover waits for another one to finish.
const LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
/// How often it looks.
const LEASE_POLL: std::time::Duration = std::time::Duration::from_millis(25);

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Objects(#[from] ObjectStoreError),
    #[error("another replica kept moving the image's files for {}s", LEASE_WAIT.as_secs())]
    Busy,
}

/// Moves images' objects where their visibility says.
pub struct Placement {
    store: Arc<dyn Store>,
    objects: Arc<ObjectStore>,
    purger: Arc<dyn CdnPurge>,
    cdn: CdnConfig,
    /// This replica's name in leases.
    holder: String,
}

/// The public keys of every object an image can have: its original, then each derivative.
pub fn object_keys(image: &ImageRecord) -> Vec<String> {
    let mut keys = vec![image.key.clone()];
    keys.extend(PRESETS.iter().map(|p| derivatives::key(&image.id, *p)));
    keys
}

impl Placement {
    pub fn new(
        store: Arc<dyn Store>,
        objects: Arc<ObjectStore>,
        purger: Arc<dyn CdnPurge>,
        cdn: CdnConfig,
    ) -> Self {
        Self {
            store,
            objects,
            purger,
            cdn,
            holder: format!("placement-{}", keys::new_upload_id()),
        }
    }

    /// Waits for and takes the lease on image `id`.
    async fn lease(&self, id: &str) -> Result<(), SettleError> {
        let started = std::time::Instant::now();
        loop {
            let now = crate::store::now();
            if self
                .store
                .claim_placement(id, &self.holder, now, now + LEASE)
                .await?
            {
                return Ok(());
            }
            if started.elapsed() > LEASE_WAIT {
                return Err(SettleError::Busy);
            }
            tokio::time::sleep(LEASE_POLL).await;
        }
    }

    async fn release(&self, id: &str) {
        if let Err(e) = self.store.release_placement(id, &self.holder).await {
            tracing::warn!(image_id = %id, error = %e, "cannot give back a placement lease; it runs out on its own");
        }
    }

    /// Moves `image`'s objects under the public prefixes (`public`) or under `p/`. A missing
    /// source was moved already, or never made (a derivative not asked for yet). Run under the
    /// lease only.
    async fn move_objects(&self, image: &ImageRecord, public: bool) -> Result<(), SettleError> {
        for key in object_keys(image) {
            let from = keys::placed(&key, !public);
            let to = keys::placed(&key, public);
            if self.objects.copy(&from, &to).await? {
                self.objects.delete(&from).await?;
            }
        }
        Ok(())
    }

    /// Makes the store match the database for `owner`'s image `id`; returns the row as
    /// settled. `NotFound` when the image is gone.
    pub async fn settle(&self, owner: &str, id: &str) -> Result<ImageRecord, SettleError> {
        self.lease(id).await?;
        let result = self.settle_leased(owner, id).await;
        self.release(id).await;
        result
    }

    async fn settle_leased(&self, owner: &str, id: &str) -> Result<ImageRecord, SettleError> {
        let mut image = self.store.image(owner, id).await?;
        for _ in 0..MAX_ROUNDS {
            if !image.misplaced() {
                return Ok(image);
            }
            let public = image.served_publicly();
            if public {
                // Recorded first: should the copy fail half-way, the objects already public
                // are known to be there (and moved back if the image is made private).
                self.store.set_objects_public(owner, id, true).await?;
                self.move_objects(&image, true).await?;
            } else {
                self.move_objects(&image, false).await?;
                self.store.set_objects_public(owner, id, false).await?;
                self.purge_cdn(&image).await;
            }
            tracing::info!(image_id = %id, public, "image objects moved");
            image = self.store.image(owner, id).await?;
            image.objects_public = public;
            if image.served_publicly() == public {
                return Ok(image);
            }
        }
        tracing::warn!(image_id = %id, "image visibility keeps changing; the janitor finishes moving its objects");
        Ok(image)
    }

    /// After the derivative service stored `key` (a public key) of `image` at the place
    /// `stored_public` says: under the lease, when the row says the objects are elsewhere now,
    /// moves it there; when the image is gone, deletes it.
    pub async fn after_store(&self, image: &ImageRecord, key: &str, stored_public: bool) {
        let stored = keys::placed(key, stored_public);
        match self.lease(&image.id).await {
            Ok(()) => {}
            Err(SettleError::Store(StoreError::NotFound)) => {
                self.delete_stray(&image.id, &stored).await;
                return;
            }
            Err(e) => {
                tracing::warn!(image_id = %image.id, error = %e, "cannot check where a new derivative belongs; the janitor will");
                self.mark_misplaced(image, stored_public).await;
                return;
            }
        }
        match self.store.image_by_id(&image.id).await {
            Ok(now) if now.objects_public != stored_public => {
                let to = keys::placed(key, now.objects_public);
                let moved = async {
                    if self.objects.copy(&stored, &to).await? {
                        self.objects.delete(&stored).await?;
                    }
                    Ok::<_, ObjectStoreError>(())
                };
                if let Err(e) = moved.await {
                    tracing::warn!(image_id = %image.id, error = %e, "cannot move a new derivative; the janitor will");
                    self.mark_misplaced(&now, stored_public).await;
                } else if !now.objects_public {
                    self.purge_cdn(&now).await;
                }
            }
            Ok(_) => {}
            Err(StoreError::NotFound) => self.delete_stray(&image.id, &stored).await,
            Err(e) => {
                tracing::warn!(image_id = %image.id, error = %e, "cannot check where a new derivative belongs; the janitor will");
                self.mark_misplaced(image, stored_public).await;
            }
        }
        self.release(&image.id).await;
    }

    /// Records that some of `image`'s objects are at the place `public` says, so the row reads
    /// as misplaced when they do not belong there and the janitor moves them.
    async fn mark_misplaced(&self, image: &ImageRecord, public: bool) {
        if image.served_publicly() != public
            && let Err(e) = self
                .store
                .set_objects_public(&image.owner_id, &image.id, public)
                .await
        {
            tracing::warn!(image_id = %image.id, error = %e, "cannot mark an image's objects misplaced");
        }
    }

    /// Deletes an object made for an image purged meanwhile.
    async fn delete_stray(&self, image_id: &str, key: &str) {
        if let Err(e) = self.objects.delete(key).await {
            tracing::warn!(%image_id, error = %e, "cannot delete a derivative of a purged image");
        }
    }

    /// Asks the CDN to forget the image's public links.
    pub async fn purge_cdn(&self, image: &ImageRecord) {
        let urls: Vec<String> = object_keys(image)
            .iter()
            .map(|key| links::link(&self.cdn, key))
            .collect();
        if let Err(e) = self.purger.purge(&urls).await {
            tracing::warn!(image_id = %image.id, error = %e, "CDN purge failed; the CDN stops serving the link when it revalidates");
        }
    }

    /// One janitor pass: settles every misplaced image; returns how many moved.
    pub async fn sweep(&self) -> usize {
        const BATCH: u32 = 100;
        let misplaced = match self.store.misplaced_images(BATCH).await {
            Ok(misplaced) => misplaced,
            Err(e) => {
                tracing::warn!(error = %e, "janitor: cannot list images to move");
                return 0;
            }
        };
        let mut moved = 0;
        for image in misplaced {
            match self.settle(&image.owner_id, &image.id).await {
                Ok(_) => moved += 1,
                Err(SettleError::Store(StoreError::NotFound)) => {}
                Err(e) => {
                    tracing::warn!(image_id = %image.id, error = %e, "janitor: cannot move image objects")
                }
            }
        }
        moved
    }
}
