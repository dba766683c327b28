//! Albums and share links in the database, behind their own trait (implemented by each backend
//! beside its [`Store`](super::Store), reached through `Store::sharing`). Nothing here is
//! cached: a view count must be exact and a revocation must act at once.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ImageRecord, StoreResult};

/// An album as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlbumRecord {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    pub description: String,
    pub cover_image_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Images in the album (trash excluded); filled in by reads.
    pub image_count: u32,
}

/// What [`Sharing::update_album`] changes (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct AlbumUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the cover.
    pub cover_image_id: Option<Option<String>>,
}

/// A share link as stored (never its token: see `shares::token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRecord {
    /// Public id (16 base62), to list and revoke the link.
    pub id: String,
    pub owner_id: String,
    /// Lower-case hex SHA-256 of the token.
    pub token_hash: String,
    /// What the server derives the token from (with its secret).
    pub nonce: String,
    /// A link to an album; `None`: a link to `image_ids`.
    pub album_id: Option<String>,
    pub image_ids: Vec<String>,
    pub label: String,
    pub created_at: OffsetDateTime,
    /// `None`: never expires (asked for explicitly).
    pub expires_at: Option<OffsetDateTime>,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    pub max_views: Option<u64>,
    pub views: u64,
    pub visitors: u64,
    pub last_viewed_at: Option<OffsetDateTime>,
    pub allow_download: bool,
    pub with_metadata: bool,
    pub revoked_at: Option<OffsetDateTime>,
}

/// Where a link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareState {
    Active,
    Expired,
    /// Its views ran out.
    Exhausted,
    Revoked,
}

impl ShareRecord {
    /// The link's state at `now` (revoked first, then expired, then exhausted).
    pub fn state(&self, now: OffsetDateTime) -> ShareState {
        if self.revoked_at.is_some() {
            ShareState::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            ShareState::Expired
        } else if self.max_views.is_some_and(|max| self.views >= max) {
            ShareState::Exhausted
        } else {
            ShareState::Active
        }
    }
}

/// The answer to [`Sharing::record_share_view`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewOutcome {
    /// Counted (`first_visit`: this visitor had not viewed the link before).
    Counted { first_visit: bool },
    /// Not counted: the link has ended, and why.
    Ended(ShareState),
}

/// Albums and share links. Every method taking `owner` never reads or touches another
/// owner's rows (a foreign id is `NotFound`).
#[async_trait]
pub trait Sharing: Send + Sync {
    /// Creates the album; `Conflict` when the owner has one of that name.
    async fn create_album(&self, album: &AlbumRecord) -> StoreResult<AlbumRecord>;
    /// The owner's albums, by name.
    async fn albums(&self, owner: &str) -> StoreResult<Vec<AlbumRecord>>;
    async fn album(&self, owner: &str, id: &str) -> StoreResult<AlbumRecord>;
    async fn album_by_name(&self, owner: &str, name: &str) -> StoreResult<AlbumRecord>;
    /// `Conflict` on a taken name; the cover must be an image of the owner.
    async fn update_album(
        &self,
        owner: &str,
        id: &str,
        update: &AlbumUpdate,
    ) -> StoreResult<AlbumRecord>;
    /// Deletes the album (its images stay, and so do its links' images: the links go).
    async fn delete_album(&self, owner: &str, id: &str) -> StoreResult<()>;
    /// The album's images in order, trash excluded.
    async fn album_images(&self, owner: &str, id: &str) -> StoreResult<Vec<ImageRecord>>;
    /// Appends the images not in the album yet, in the order given; `NotFound` (and nothing
    /// added) when one is not the owner's.
    async fn add_to_album(&self, owner: &str, id: &str, image_ids: &[String]) -> StoreResult<()>;
    async fn remove_from_album(
        &self,
        owner: &str,
        id: &str,
        image_ids: &[String],
    ) -> StoreResult<()>;
    /// Puts `image_ids` first, in that order; the album's other images follow in their order.
    async fn reorder_album(&self, owner: &str, id: &str, image_ids: &[String]) -> StoreResult<()>;

    /// Creates the link; `NotFound` when an image or the album is not the owner's.
    async fn create_share(&self, share: &ShareRecord) -> StoreResult<ShareRecord>;
    /// The owner's links, newest first.
    async fn shares(&self, owner: &str) -> StoreResult<Vec<ShareRecord>>;
    async fn share(&self, owner: &str, id: &str) -> StoreResult<ShareRecord>;
    /// The link whose token hashes to `token_hash` (any owner: this is how visitors open it).
    async fn share_by_token_hash(&self, token_hash: &str) -> StoreResult<ShareRecord>;
    /// Revokes the link at `at` (a revoked one keeps its first revocation time).
    async fn revoke_share(
        &self,
        owner: &str,
        id: &str,
        at: OffsetDateTime,
    ) -> StoreResult<ShareRecord>;
    /// Counts one view of link `id` by `visitor` at `at`, unless the link has ended; exact
    /// under concurrency and across replicas (one conditional update decides).
    async fn record_share_view(
        &self,
        id: &str,
        at: OffsetDateTime,
        visitor: &str,
    ) -> StoreResult<ViewOutcome>;
    /// The images a link shows, in order, trash excluded (an album's current images).
    async fn share_images(&self, share: &ShareRecord) -> StoreResult<Vec<ImageRecord>>;
}
