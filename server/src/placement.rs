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
//! for rows a failure left behind. Two races are closed:
//! - two changes settling at once: each one re-reads the row after moving and settles again
//!   until what it moved for is what the database says;
//! - a derivative stored while its image moves: after recording a move, settle sweeps the old
//!   place once more, and the derivative service re-checks the row after each store (see
//!   [`Placement::after_store`]).

use std::sync::Arc;

use imgcloud_core::api::PRESETS;

use crate::cdn::CdnPurge;
use crate::config::CdnConfig;
use crate::objects::{ObjectStore, ObjectStoreError};
use crate::store::{ImageRecord, Store, StoreError};
use crate::{derivatives, keys, links};

/// Most rounds of [`Placement::settle`] before it leaves the rest to the janitor.
const MAX_ROUNDS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Objects(#[from] ObjectStoreError),
}

/// Moves images' objects where their visibility says.
pub struct Placement {
    store: Arc<dyn Store>,
    objects: Arc<ObjectStore>,
    purger: Arc<dyn CdnPurge>,
    cdn: CdnConfig,
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
        }
    }

    /// Moves `image`'s objects under the public prefixes (`public`) or under `p/`. A missing
    /// source was moved already, or never made (a derivative not asked for yet).
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
        let mut image = self.store.image(owner, id).await?;
        for _ in 0..MAX_ROUNDS {
            if !image.misplaced() {
                return Ok(image);
            }
            let public = image.served_publicly();
            self.move_objects(&image, public).await?;
            self.store.set_objects_public(owner, id, public).await?;
            // A derivative stored at the old place while we moved (its maker read the row
            // before we recorded the move) is moved now.
            self.move_objects(&image, public).await?;
            if !public {
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
    /// `stored_public` says: when the row says the objects are elsewhere now, moves it there.
    pub async fn after_store(&self, image: &ImageRecord, key: &str, stored_public: bool) {
        let now = match self.store.image_by_id(&image.id).await {
            Ok(now) => now,
            Err(StoreError::NotFound) => return,
            Err(e) => {
                tracing::warn!(image_id = %image.id, error = %e, "cannot re-check where a new derivative belongs");
                return;
            }
        };
        if now.objects_public == stored_public {
            return;
        }
        let from = keys::placed(key, stored_public);
        let to = keys::placed(key, now.objects_public);
        let moved = async {
            if self.objects.copy(&from, &to).await? {
                self.objects.delete(&from).await?;
            }
            Ok::<_, ObjectStoreError>(())
        };
        if let Err(e) = moved.await {
            tracing::warn!(image_id = %image.id, error = %e, "cannot move a new derivative; the janitor will");
            // Leave a trace the janitor finds: the row is marked misplaced.
            let _ = self
                .store
                .set_objects_public(&now.owner_id, &now.id, stored_public)
                .await;
        } else if !now.objects_public {
            self.purge_cdn(&now).await;
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
