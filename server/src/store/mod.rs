//! Metadata storage behind one async trait, with one module per backend (each owning its
//! migrations) and the cache decorator in `crate::cache`. The backend is chosen from the
//! database URL at start-up ([`open`]): PostgreSQL (production) or SQLite (embedded). Nothing
//! here is specific to one backend; `conformance` is the behaviour both must have.

use async_trait::async_trait;
use imgcloud_core::api::{AccountSettings, DerivativeState, Visibility};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub mod postgres;
pub mod sharing;
pub mod sqlite;

pub use sharing::Sharing;

#[cfg(test)]
pub(crate) mod conformance;

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub disabled: bool,
}

/// A user as listed by the admin CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub user: User,
    pub has_password: bool,
    pub created_at: OffsetDateTime,
    /// Live (not revoked) tokens.
    pub tokens: u32,
}

/// A live API token as listed to its owner (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id: the first 16 hex digits of the token's SHA-256.
    pub id: String,
    pub name: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// An image row as stored (the API's `Image` adds CDN links). Times have microsecond precision
/// (what every backend keeps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// ThumbHash of the thumbnail, once the cloud has made it.
    #[serde(default)]
    pub thumbhash: Option<Vec<u8>>,
    /// Where the cloud's derivatives of the image stand.
    #[serde(default)]
    pub derivatives: DerivativeState,
    /// Why the last attempt failed (`failed`, `broken`).
    #[serde(default)]
    pub derivatives_error: Option<String>,
    #[serde(default)]
    pub visibility: Visibility,
    /// Whether the image's objects are under the public prefixes now (see
    /// `objects::placement`); they belong there when [`ImageRecord::served_publicly`].
    #[serde(default = "yes")]
    pub objects_public: bool,
}

fn yes() -> bool {
    true
}

impl ImageRecord {
    /// Whether the public link serves: public and not in the trash.
    pub fn served_publicly(&self) -> bool {
        self.visibility == Visibility::Public && self.deleted_at.is_none()
    }

    /// Whether the objects still have to move (the public link serves when it should not, or
    /// the other way round).
    pub fn misplaced(&self) -> bool {
        self.objects_public != self.served_publicly()
    }
}

/// What the derivative service records about an image ([`Store::set_derivatives`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivativeUpdate {
    pub state: DerivativeState,
    /// `None` keeps the stored ThumbHash.
    pub thumbhash: Option<Vec<u8>>,
    pub error: Option<String>,
}

/// The answer to [`Store::claim_derivative`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the claim: make the derivative, then [`Store::finish_derivative`].
    Ours,
    /// Made already.
    Made,
    /// Another worker (this replica or another) holds a live claim: wait for it.
    Busy,
}

/// A background job claimed by [`Store::claim_job`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivativeJob {
    pub image_id: String,
    /// Attempts so far, this one included.
    pub attempts: u32,
    pub created_at: OffsetDateTime,
}

/// The background queue at a glance (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JobStats {
    /// Jobs waiting or running.
    pub depth: u64,
    /// Age of the oldest job, seconds (0 when there is none).
    pub oldest_age_secs: f64,
    /// Jobs whose last attempt failed (waiting for their retry).
    pub failing: u64,
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
    /// JSON array of the parts' hex SHA-256s (`[]` for single-PUT uploads), so a retried
    /// create can presign the same parts again.
    pub parts_json: String,
    pub created_at: OffsetDateTime,
    /// Visibility of the image to be (private uploads go straight under `p/`).
    pub visibility: Visibility,
}

impl UploadRecord {
    /// Where the original goes: its key, under `p/` for a private upload.
    pub fn object_key(&self) -> String {
        crate::keys::placed(&self.key, self.visibility == Visibility::Public)
    }
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

/// What a change is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeEntity {
    #[default]
    Image,
    Album,
    Share,
}

impl ChangeEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Album => "album",
            Self::Share => "share",
        }
    }

    /// The entity named `name` (as stored); unknown names read as images.
    pub fn parse(name: &str) -> Self {
        match name {
            "album" => Self::Album,
            "share" => Self::Share,
            _ => Self::Image,
        }
    }
}

/// One stored change: an image (`image` is `None` for a purge), or an album or share link
/// (`image` is always `None`: the feed reads its current state, or finds it gone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub seq: i64,
    pub entity: ChangeEntity,
    /// The entity's id.
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

    /// Albums and share links (never cached).
    fn sharing(&self) -> &dyn Sharing;

    // users and tokens (tokens are stored as SHA-256 hashes, never in clear)
    async fn create_user(&self, username: &str) -> StoreResult<User>;
    async fn user_by_name(&self, username: &str) -> StoreResult<User>;
    async fn add_token(&self, user_id: &str, token_hash: &str, name: &str) -> StoreResult<()>;
    /// The user owning a live (not revoked) token of an enabled account; records the use.
    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<User>;
    /// Revokes every live token of `user_id` named `name`; returns their hashes (so caches can
    /// drop them).
    async fn revoke_tokens(&self, user_id: &str, name: &str) -> StoreResult<Vec<String>>;

    // accounts (passwords are stored as argon2id PHC strings, never in clear)
    /// Sets (or with `None` removes) the password hash of `user_id`; `NotFound` if no such user.
    async fn set_password_hash(&self, user_id: &str, hash: Option<&str>) -> StoreResult<()>;
    /// The user named `username` (disabled or not) and its password hash, if it has one.
    async fn login_record(&self, username: &str) -> StoreResult<(User, Option<String>)>;
    /// Disables or enables `user_id`; returns the hashes of its live tokens (so caches can drop
    /// them: a disabled user's tokens stop working at once). `NotFound` if no such user.
    async fn set_disabled(&self, user_id: &str, disabled: bool) -> StoreResult<Vec<String>>;
    /// The account's defaults; `NotFound` if no such user.
    async fn account_settings(&self, user_id: &str) -> StoreResult<AccountSettings>;
    async fn set_account_settings(
        &self,
        user_id: &str,
        settings: &AccountSettings,
    ) -> StoreResult<()>;
    /// Every user, by name.
    async fn list_users(&self) -> StoreResult<Vec<UserSummary>>;
    /// The live tokens of `user_id`, oldest first.
    async fn list_tokens(&self, user_id: &str) -> StoreResult<Vec<TokenRecord>>;
    /// Revokes the live token of `user_id` whose public id ([`token_id`]) is `token_id`;
    /// returns its hash. `NotFound` when there is none (or it belongs to someone else).
    async fn revoke_token(&self, user_id: &str, token_id: &str) -> StoreResult<String>;
    /// Revokes every live token of `user_id`; returns their hashes.
    async fn revoke_all_tokens(&self, user_id: &str) -> StoreResult<Vec<String>>;
    /// The auth epoch: a counter the database itself bumps (triggers, in the same transaction)
    /// with every token revoked and every account disabled or enabled, whoever writes it. A
    /// token cache no other writer can reach files its entries under it (see `CachedStore`).
    async fn auth_epoch(&self) -> StoreResult<i64>;

    // login throttling, shared by every replica (`key` is e.g. `user:NAME`)
    /// Records one failed login for `key` at `at` (and prunes failures older than
    /// [`LOGIN_FAILURE_RETENTION`], of every key).
    async fn record_login_failure(&self, key: &str, at: OffsetDateTime) -> StoreResult<()>;
    /// Failed logins for `key` at or after `since`.
    async fn login_failures_since(&self, key: &str, since: OffsetDateTime) -> StoreResult<u32>;
    /// Forgets the failed logins of `key` (after a successful login).
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
    /// Forgets one failure of `key` recorded at `at` (an attempt counted before its password
    /// was checked, which turned out right); the others stay.
    async fn forget_login_failure(&self, key: &str, at: OffsetDateTime) -> StoreResult<()>;

    // images
    async fn image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord>;
    /// Images of `owner` whose SHA-256 is in `hashes` (trash included).
    async fn images_by_sha256(
        &self,
        owner: &str,
        hashes: &[String],
    ) -> StoreResult<Vec<ImageRecord>>;
    async fn list_images(
        &self,
        owner: &str,
        query: &ListQuery,
    ) -> StoreResult<(Vec<ImageRecord>, Option<String>)>;
    /// Inserts the image unless `owner` already has its SHA-256, in which case the existing row
    /// is returned (racing completes get the same image). Records a change.
    async fn insert_image(&self, image: &ImageRecord) -> StoreResult<ImageRecord>;
    async fn rename_image(&self, owner: &str, id: &str, filename: &str)
    -> StoreResult<ImageRecord>;
    async fn set_tags(&self, owner: &str, id: &str, tags: &[String]) -> StoreResult<ImageRecord>;
    /// `deleted_at = Some(now)` moves to the trash, `None` restores. Records a change.
    async fn set_deleted(
        &self,
        owner: &str,
        id: &str,
        deleted_at: Option<OffsetDateTime>,
    ) -> StoreResult<ImageRecord>;
    /// Makes the image public or private. Records a change.
    async fn set_visibility(
        &self,
        owner: &str,
        id: &str,
        visibility: Visibility,
    ) -> StoreResult<ImageRecord>;
    /// Records where the image's objects are now (no change is recorded: clients see
    /// visibility, not placement).
    async fn set_objects_public(&self, owner: &str, id: &str, public: bool) -> StoreResult<()>;
    /// Takes the lease to move image `id`'s objects for `holder` until `until`: true when
    /// nobody holds an unexpired one at `now` (or `holder` does already). `NotFound` when the
    /// image is gone.
    async fn claim_placement(
        &self,
        id: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Gives `holder`'s lease back.
    async fn release_placement(&self, id: &str, holder: &str) -> StoreResult<()>;
    /// Images of any owner whose objects are not where they belong ([`ImageRecord::misplaced`]),
    /// for the janitor.
    async fn misplaced_images(&self, limit: u32) -> StoreResult<Vec<ImageRecord>>;
    /// Removes the row for good and records a purge change; returns the removed row.
    async fn purge_image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord>;
    async fn changes(&self, owner: &str, since: i64, limit: u32) -> StoreResult<Vec<ChangeRecord>>;

    // upload sessions
    /// Inserts the session, or returns the existing one with the same (owner, idempotency key).
    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<UploadRecord>;
    async fn upload(&self, owner: &str, id: &str) -> StoreResult<UploadRecord>;
    async fn delete_upload(&self, owner: &str, id: &str) -> StoreResult<()>;
    /// Sessions created before `before` (for the janitor), any owner.
    async fn stale_uploads(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<UploadRecord>>;

    // derivatives: made by the cloud, on demand and by a durable background queue
    /// The image `id` of any owner (derivative links are public, like the original's).
    async fn image_by_id(&self, id: &str) -> StoreResult<ImageRecord>;
    /// Records where the image's derivatives stand (and its ThumbHash); records a change, so
    /// every device learns it from the feed. `NotFound` when the image is gone.
    async fn set_derivatives(
        &self,
        id: &str,
        update: &DerivativeUpdate,
    ) -> StoreResult<ImageRecord>;
    /// Claims the making of one derivative for `holder` until `until`: [`Claim::Ours`] when
    /// there was no claim or the last one's lease ran out before `now`. One maker per
    /// derivative across every replica.
    async fn claim_derivative(
        &self,
        image_id: &str,
        preset: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Claim>;
    /// Ends `holder`'s claim: `made` records the derivative as made, otherwise the claim is
    /// dropped so another worker can try.
    async fn finish_derivative(
        &self,
        image_id: &str,
        preset: &str,
        holder: &str,
        made: bool,
    ) -> StoreResult<()>;
    /// Forgets that a derivative was made (its object vanished), so the next request makes it.
    async fn forget_derivative(&self, image_id: &str, preset: &str) -> StoreResult<()>;
    /// Claims the oldest due job (`run_after` ≤ `now`, not leased) until `lease_until`,
    /// counting an attempt; any replica may call it at any time.
    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Option<DerivativeJob>>;
    /// Removes a finished job.
    async fn finish_job(&self, image_id: &str) -> StoreResult<()>;
    /// Puts a failed job back, due again at `run_after`.
    async fn retry_job(
        &self,
        image_id: &str,
        run_after: OffsetDateTime,
        error: &str,
    ) -> StoreResult<()>;
    async fn job_stats(&self, now: OffsetDateTime) -> StoreResult<JobStats>;

    /// How far the standby following this database is behind (`None`: no standby was set
    /// up, or the backend has none).
    async fn standby_lag(&self) -> StoreResult<Option<crate::standby::Lag>> {
        Ok(None)
    }

    /// The ids of every image (trashed ones included) and of every upload still open: the
    /// objects whose keys name one of them are pointed at by a row (`imgcloud-server orphans`).
    async fn object_image_ids(&self) -> StoreResult<Vec<String>>;
}

/// The new order of an album: `first` in that order, then the rest of `current` in its order.
pub(crate) fn sharing_order(first: &[String], current: &[String]) -> Vec<String> {
    let mut order: Vec<String> = Vec::with_capacity(current.len());
    for id in first {
        if !order.contains(id) {
            order.push(id.clone());
        }
    }
    for id in current {
        if !first.contains(id) {
            order.push(id.clone());
        }
    }
    order
}

/// Opens the backend named by `url` and runs its migrations: `postgres://…` or
/// `postgresql://…` (PostgreSQL), `sqlite://PATH`, `sqlite:PATH` or `sqlite::memory:` (SQLite).
pub async fn open(url: &str) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    match Backend::of_url(url)? {
        Backend::Postgres => Ok(std::sync::Arc::new(
            postgres::PostgresStore::open(url).await?,
        )),
        Backend::Sqlite => Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?)),
    }
}

/// The database backends, as named by a database URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// `postgres` or `sqlite`, as backup files and messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }

    /// The backend for `url`, from its scheme (case-insensitive). The error names the scheme
    /// only: the rest of the URL may hold a password.
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "sqlite" => Ok(Self::Sqlite),
            "" => anyhow::bail!(
                "database URL has no scheme: expected postgres://…, postgresql://… or sqlite://PATH"
            ),
            other => anyhow::bail!(
                "unsupported database URL scheme {other:?}: expected postgres://…, \
                 postgresql://… or sqlite://PATH"
            ),
        }
    }
}

/// How long failed logins are kept (far longer than any throttling window).
pub const LOGIN_FAILURE_RETENTION: time::Duration = time::Duration::days(1);

/// Length of a token's public id.
pub const TOKEN_ID_LEN: usize = 16;

/// The public id of the token whose (hex SHA-256) hash is `token_hash`: its first 16 hex
/// digits. Safe to show and log: it cannot be turned back into the token.
pub fn token_id(token_hash: &str) -> String {
    token_hash.chars().take(TOKEN_ID_LEN).collect()
}

/// Whether `id` looks like a token id (16 lower-case hex digits).
pub fn is_token_id(id: &str) -> bool {
    id.len() == TOKEN_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The current time at the precision every backend keeps (microseconds).
pub fn now() -> OffsetDateTime {
    from_micros(to_micros(OffsetDateTime::now_utc()))
}

/// Microseconds since the Unix epoch (saturating far outside the years 1677–2262).
pub fn to_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(if t.year() < 1970 {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Inverse of [`to_micros`], in UTC.
pub fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Position in a newest-first listing: the last row seen (`created_at`, then `id`, both
/// descending). Serialised as opaque URL-safe base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCursor {
    pub created_at_micros: i64,
    pub id: String,
}

impl PageCursor {
    pub fn after(image: &ImageRecord) -> Self {
        Self {
            created_at_micros: to_micros(image.created_at),
            id: image.id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{}:{}", self.created_at_micros, self.id))
    }

    pub fn decode(cursor: &str) -> StoreResult<Self> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor.trim())
            .map_err(|_| StoreError::BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
        let (micros, id) = text.split_once(':').ok_or(StoreError::BadCursor)?;
        let created_at_micros = micros.parse().map_err(|_| StoreError::BadCursor)?;
        if id.is_empty() || id.len() > 64 {
            return Err(StoreError::BadCursor);
        }
        Ok(Self {
            created_at_micros,
            id: id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = PageCursor {
            created_at_micros: 1_700_000_000_123_456,
            id: "abcDEF0123456789".into(),
        };
        assert_eq!(PageCursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(matches!(
            PageCursor::decode("not base64!"),
            Err(StoreError::BadCursor)
        ));
        use base64::Engine;
        let no_colon = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("12345");
        assert!(matches!(
            PageCursor::decode(&no_colon),
            Err(StoreError::BadCursor)
        ));
    }

    #[test]
    fn backend_is_chosen_from_the_url_scheme() {
        for url in [
            "postgres://u:p@db.example:5432/imgcloud",
            "postgresql://u@localhost/imgcloud?sslmode=require",
            "PostgreSQL://host/db",
        ] {
            assert_eq!(Backend::of_url(url).unwrap(), Backend::Postgres, "{url}");
        }
        for url in [
            "sqlite:///var/lib/imgcloud/db",
            "sqlite:x.db",
            "sqlite::memory:",
        ] {
            assert_eq!(Backend::of_url(url).unwrap(), Backend::Sqlite, "{url}");
        }
        let err = Backend::of_url("mysql://root:hunter2@db/imgcloud")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"mysql\"") && err.contains("postgres://"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "no password in errors: {err}");
        assert!(Backend::of_url("/var/lib/imgcloud.db").is_err());
    }

    #[tokio::test]
    async fn open_rejects_unknown_schemes_before_connecting() {
        let err = open("redis://localhost/0").await.err().unwrap().to_string();
        assert!(err.contains("unsupported database URL scheme"), "{err}");
    }

    #[test]
    fn micros_round_trip_and_now_is_truncated() {
        let now = now();
        assert_eq!(now.nanosecond() % 1000, 0);
        assert_eq!(from_micros(to_micros(now)), now);
    }
}
