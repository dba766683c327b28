//! Albums and share links are never cached, but their writes record changes in the feed, whose
//! pages are cached under the owner's generation: every write ends the generation, as image
//! writes do (see the module documentation of `cache`).

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{CacheBackend, generation_key};
use crate::store::sharing::{AlbumRecord, AlbumUpdate, ShareRecord, ViewOutcome};
use crate::store::{ImageRecord, Sharing, Store, StoreResult};

/// The inner store's [`Sharing`], ending the owner's cached feed pages after each write.
pub struct InvalidatingSharing {
    pub(super) inner: Arc<dyn Store>,
    pub(super) cache: Arc<dyn CacheBackend>,
}

impl InvalidatingSharing {
    async fn wrote<T>(&self, owner: &str, result: StoreResult<T>) -> StoreResult<T> {
        self.cache.delete(&generation_key(owner)).await;
        result
    }
}

#[async_trait]
impl Sharing for InvalidatingSharing {
    async fn create_album(&self, album: &AlbumRecord) -> StoreResult<AlbumRecord> {
        let result = self.inner.sharing().create_album(album).await;
        self.wrote(&album.owner_id, result).await
    }

    async fn albums(&self, owner: &str) -> StoreResult<Vec<AlbumRecord>> {
        self.inner.sharing().albums(owner).await
    }

    async fn album(&self, owner: &str, id: &str) -> StoreResult<AlbumRecord> {
        self.inner.sharing().album(owner, id).await
    }

    async fn album_by_name(&self, owner: &str, name: &str) -> StoreResult<AlbumRecord> {
        self.inner.sharing().album_by_name(owner, name).await
    }

    async fn update_album(
        &self,
        owner: &str,
        id: &str,
        update: &AlbumUpdate,
    ) -> StoreResult<AlbumRecord> {
        let result = self.inner.sharing().update_album(owner, id, update).await;
        self.wrote(owner, result).await
    }

    async fn delete_album(&self, owner: &str, id: &str) -> StoreResult<()> {
        let result = self.inner.sharing().delete_album(owner, id).await;
        self.wrote(owner, result).await
    }

    async fn album_images(&self, owner: &str, id: &str) -> StoreResult<Vec<ImageRecord>> {
        self.inner.sharing().album_images(owner, id).await
    }

    async fn add_to_album(&self, owner: &str, id: &str, image_ids: &[String]) -> StoreResult<()> {
        let result = self
            .inner
            .sharing()
            .add_to_album(owner, id, image_ids)
            .await;
        self.wrote(owner, result).await
    }

    async fn remove_from_album(
        &self,
        owner: &str,
        id: &str,
        image_ids: &[String],
    ) -> StoreResult<()> {
        let result = self
            .inner
            .sharing()
            .remove_from_album(owner, id, image_ids)
            .await;
        self.wrote(owner, result).await
    }

    async fn reorder_album(&self, owner: &str, id: &str, image_ids: &[String]) -> StoreResult<()> {
        let result = self
            .inner
            .sharing()
            .reorder_album(owner, id, image_ids)
            .await;
        self.wrote(owner, result).await
    }

    async fn create_share(&self, share: &ShareRecord) -> StoreResult<ShareRecord> {
        let result = self.inner.sharing().create_share(share).await;
        self.wrote(&share.owner_id, result).await
    }

    async fn shares(&self, owner: &str) -> StoreResult<Vec<ShareRecord>> {
        self.inner.sharing().shares(owner).await
    }

    async fn share(&self, owner: &str, id: &str) -> StoreResult<ShareRecord> {
        self.inner.sharing().share(owner, id).await
    }

    async fn share_by_token_hash(&self, token_hash: &str) -> StoreResult<ShareRecord> {
        self.inner.sharing().share_by_token_hash(token_hash).await
    }

    async fn revoke_share(
        &self,
        owner: &str,
        id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<ShareRecord> {
        let result = self.inner.sharing().revoke_share(owner, id, at).await;
        self.wrote(owner, result).await
    }

    // Views change counts, not the feed.
    async fn record_share_view(
        &self,
        id: &str,
        at: OffsetDateTime,
        visitor: &str,
    ) -> StoreResult<ViewOutcome> {
        self.inner
            .sharing()
            .record_share_view(id, at, visitor)
            .await
    }

    async fn share_images(&self, share: &ShareRecord) -> StoreResult<Vec<ImageRecord>> {
        self.inner.sharing().share_images(share).await
    }
}
