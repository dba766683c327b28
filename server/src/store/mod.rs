//! Metadata storage behind one async trait, with one module per backend (each owning its
//! migrations) and the cache decorator in `crate::cache`. The backend is chosen from the
//! database URL at start-up ([`open`]). The PostgreSQL backend comes next and implements the same
//! trait; nothing here is SQLite-specific.

use async_trait::async_trait;
use time::OffsetDateTime;

pub mod sqlite;

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub disabled: bool,
}

/// An image row as stored (the API's `Image` adds CDN links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub id: String,
    pub owner_id: String,
    pub filename: String,
    /// Object key of the original (`i/{id}/{name}`).
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub taken_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub deleted_at: Option<OffsetDateTime>,
    pub tags: Vec<String>,
}

/// A pending upload session (stateless server: it lives in the DB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub id: String,
    pub owner_id: String,
    pub idempotency_key: Option<String>,
    /// Id the image will get on completion (so keys are known up front).
    pub image_id: String,
    pub key: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub taken_at: Option<OffsetDateTime>,
    /// S3 multipart upload id, for multipart uploads.
    pub multipart_id: Option<String>,
    pub part_size: Option<u64>,
    /// JSON of the thumbnails' `ThumbSpec`s.
    pub thumbs_json: String,
    pub created_at: OffsetDateTime,
}

/// One page query over a user's images, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
    pub limit: u32,
    /// Case-insensitive substring of the filename.
    pub search: Option<String>,
    /// List the trash instead of the library.
    pub trash: bool,
}

/// One stored change (`image` is `None` for purges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub seq: i64,
    pub image_id: String,
    pub image: Option<ImageRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid cursor")]
    BadCursor,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the API needs from the database. Every image method takes the owner and never
/// returns or touches another owner's rows (a foreign id is `NotFound`).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn ping(&self) -> StoreResult<()>;

    // users and tokens (tokens are stored as SHA-256 hashes, never in clear)
    async fn create_user(&self, username: &str) -> StoreResult<User>;
    async fn user_by_name(&self, username: &str) -> StoreResult<User>;
    async fn add_token(&self, user_id: &str, token_hash: &str, name: &str) -> StoreResult<()>;
    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<User>;

    // images
    async fn image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord>;
    /// Images of `owner` whose SHA-256 is in `hashes` (trash included).
    async fn images_by_sha256(&self, owner: &str, hashes: &[String]) -> StoreResult<Vec<ImageRecord>>;
    async fn list_images(&self, owner: &str, query: &ListQuery) -> StoreResult<(Vec<ImageRecord>, Option<String>)>;
    /// Inserts the image unless `owner` already has its SHA-256, in which case the existing row
    /// is returned (racing completes get the same image). Records a change.
    async fn insert_image(&self, image: &ImageRecord) -> StoreResult<ImageRecord>;
    async fn rename_image(&self, owner: &str, id: &str, filename: &str) -> StoreResult<ImageRecord>;
    async fn set_tags(&self, owner: &str, id: &str, tags: &[String]) -> StoreResult<ImageRecord>;
    /// `deleted_at = Some(now)` moves to the trash, `None` restores. Records a change.
    async fn set_deleted(&self, owner: &str, id: &str, deleted_at: Option<OffsetDateTime>) -> StoreResult<ImageRecord>;
    /// Removes the row for good and records a purge change; returns the removed row.
    async fn purge_image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord>;
    async fn changes(&self, owner: &str, since: i64, limit: u32) -> StoreResult<Vec<ChangeRecord>>;

    // upload sessions
    /// Inserts the session, or returns the existing one with the same (owner, idempotency key).
    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<UploadRecord>;
    async fn upload(&self, owner: &str, id: &str) -> StoreResult<UploadRecord>;
    async fn delete_upload(&self, owner: &str, id: &str) -> StoreResult<()>;
    /// Sessions created before `before` (for the janitor), any owner.
    async fn stale_uploads(&self, before: OffsetDateTime, limit: u32) -> StoreResult<Vec<UploadRecord>>;
}

/// Opens the backend named by `url` (`sqlite://PATH` or `sqlite::memory:`) and runs its
/// migrations.
pub async fn open(url: &str) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        return Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?));
    }
    anyhow::bail!("unsupported database URL {url:?}: expected sqlite://PATH (PostgreSQL support is coming)")
}
