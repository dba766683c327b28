//! Cache-aside decorator around a [`Store`]: token lookups, image records, list pages and the
//! change feed are served from a [`CacheBackend`] for a short TTL; every write through the
//! decorator drops the keys it affects.
//!
//! List pages and change-feed answers of one owner are keyed by that owner's *generation*, a
//! random value kept in the cache itself: every write that can change the owner's lists deletes
//! it, and the next read starts a fresh one (stored *before* that read queries the database, so
//! a page read before a write can never be filed under the generation in force after it). A
//! fresh random value rather than a counter, so an evicted or lost generation can never come
//! back with old pages under it.
//!
//! A token lookup also carries the database's *auth epoch* ([`Store::auth_epoch`]), which the
//! database bumps with every revocation and every account disabled or enabled, whoever makes
//! it (the admin CLI writes to the database directly). The epoch is re-read about once a
//! second, so such a change is seen within a second rather than after the TTL, even when the
//! delete of the cached lookup was lost. In a cache no other writer reaches (the in-process
//! one) the epoch is part of the key ([`EpochIn::Key`]); in memcached, whose keys every writer
//! deletes itself, it is inside the value and an entry older than the epoch is a miss
//! ([`EpochIn::Value`]).
//!
//! memcached entries are signed ([`signed`]): a value someone else wrote there is a miss.
//!
//! The backend only stores bytes, so an in-process map ([`MemoryCache`], embedded mode) and a
//! networked cache ([`MemcachedCache`], production) are interchangeable. A backend failure is
//! a miss: the server keeps working, slower, when the cache is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use imgcloud_core::api::{AccountSettings, Visibility};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::CacheConfig;
use crate::store::{
    ChangeRecord, Claim, DerivativeJob, DerivativeUpdate, ImageRecord, JobStats, ListQuery, Store,
    StoreResult, TokenRecord, UploadRecord, User, UserSummary,
};

pub mod memcached;
pub mod memory;
mod pages;
mod sharing;
pub mod signed;

use signed::Signed;

pub use memcached::MemcachedCache;
pub use memory::MemoryCache;

/// Bytes by key with a TTL. Implementations swallow their own failures (logging them) and
/// behave as a miss.
#[async_trait]
pub trait CacheBackend: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Option<Vec<u8>>;
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration);
    async fn delete(&self, key: &str);
}

/// Cache counters (exported at `/metrics`): hits and misses of the decorator, errors and
/// reachability of the backend.
#[derive(Debug)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Backend operations that failed, timed out or were skipped because it is down.
    pub errors: AtomicU64,
    /// Whether every cache server is reachable (as last seen).
    pub up: AtomicBool,
}

impl Default for CacheStats {
    fn default() -> Self {
        Self {
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            up: AtomicBool::new(true),
        }
    }
}

impl CacheStats {
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
    pub fn up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }
}

/// The backend `config` names: memcached when `cache.url` is set, else the in-process cache.
/// `stats` receives the backend's errors and reachability.
pub fn backend(
    config: &CacheConfig,
    secret: &[u8],
    stats: Arc<CacheStats>,
) -> anyhow::Result<Arc<dyn CacheBackend>> {
    match &config.url {
        Some(url) => {
            let cache = MemcachedCache::from_url(url, config.timeout, stats)
                .map_err(|e| anyhow::anyhow!("cache.url (IMGCLOUD_CACHE_URL) {e}"))?;
            tracing::info!(servers = ?cache.servers(), timeout = ?config.timeout, "using memcached");
            // Anyone reaching memcached can write to it: only signed entries are believed.
            Ok(Arc::new(Signed::new(Arc::new(cache), secret)))
        }
        None => Ok(Arc::new(MemoryCache::new(config.capacity))),
    }
}

/// `store` behind the shared cache when `config` names one (memcached), else `store` as is:
/// for the admin commands, which must invalidate what the replicas cached but have no use for
/// a private in-process cache.
pub fn shared_cache_around(
    store: Arc<dyn Store>,
    config: &CacheConfig,
    secret: &[u8],
) -> anyhow::Result<Arc<dyn Store>> {
    if config.url.is_none() {
        return Ok(store);
    }
    let stats = Arc::new(CacheStats::default());
    let cache = backend(config, secret, stats.clone())?;
    Ok(Arc::new(CachedStore::with_stats(
        store, cache, config.ttl, stats,
    )))
}

/// How often a server re-reads the auth epoch.
pub const AUTH_EPOCH_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Where a cached token lookup carries the auth epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochIn {
    /// In the key: for a cache only this process reaches (nobody else deletes its keys).
    Key,
    /// In the value: for a shared cache (memcached), whose `tok` keys every writer deletes
    /// itself; an entry filed under an older epoch is a miss.
    Value,
}

/// A token lookup filed with the epoch in force when it was read ([`EpochIn::Value`]).
#[derive(Serialize, Deserialize)]
struct EpochEntry {
    epoch: i64,
    user: User,
}

/// The decorator.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    cache: Arc<dyn CacheBackend>,
    ttl: Duration,
    stats: Arc<CacheStats>,
    /// Set when token lookups are filed under the auth epoch (see the module documentation).
    epoch: Option<EpochWatch>,
    sharing: sharing::InvalidatingSharing,
    /// Decoded list pages and change-feed answers (see [`pages`]).
    pages: pages::Pages,
}

/// How many records the decoded pages a server keeps in process may hold in all ([`pages`]):
/// some tens of MB at most.
const KEPT_RECORDS: usize = 20_000;
/// The part of the TTL an entry's lifetime may be shortened by ([`CachedStore::entry_ttl`]).
const TTL_JITTER: f64 = 0.2;

/// The auth epoch as last read from the database.
struct EpochWatch {
    every: Duration,
    placed: EpochIn,
    /// The value last read (`i64::MIN` before the first read).
    value: AtomicI64,
    /// When the last read started.
    checked: Mutex<Option<Instant>>,
}

impl EpochWatch {
    /// Whether a read is due now; if so, the caller makes it (others go on with the old value).
    fn due(&self) -> bool {
        let mut checked = self.checked.lock().unwrap_or_else(PoisonError::into_inner);
        let due = checked.is_none_or(|at| at.elapsed() >= self.every);
        if due {
            *checked = Some(Instant::now());
        }
        due
    }
}

/// A cache key safe for memcached (≤ 250 bytes, no spaces or control characters): parts that
/// are not plain ASCII identifiers are replaced by their hash.
fn key(kind: &str, parts: &[&str]) -> String {
    let mut out = format!("imgcloud:v1:{kind}");
    for part in parts {
        out.push(':');
        if !part.is_empty()
            && part.len() <= 80
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            out.push_str(part);
        } else {
            out.push('#');
            out.push_str(&crate::keys::token_hash(part)[..32]);
        }
    }
    out
}

fn image_key(owner: &str, id: &str) -> String {
    key("img", &[owner, id])
}

fn generation_key(owner: &str) -> String {
    key("gen", &[owner])
}

/// One page of `owner`'s images under generation `generation`.
fn list_key(owner: &str, generation: &str, query: &ListQuery) -> String {
    let limit = query.limit.to_string();
    // "-" for none; a prefix keeps `Some("")` and `None` apart
    let cursor = query.cursor.as_deref().map(|c| format!("c{c}"));
    let search = query.search.as_deref().map(|s| format!("q{s}"));
    key(
        "list",
        &[
            owner,
            generation,
            if query.trash { "trash" } else { "library" },
            &limit,
            cursor.as_deref().unwrap_or("-"),
            search.as_deref().unwrap_or("-"),
        ],
    )
}

fn changes_key(owner: &str, generation: &str, since: i64, limit: u32) -> String {
    key(
        "chg",
        &[owner, generation, &since.to_string(), &limit.to_string()],
    )
}

/// A fresh generation: 64 random bits, never reused.
fn new_generation() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// [`ChangeRecord`] as cached.
#[derive(Clone, Serialize, Deserialize)]
struct CachedChange {
    seq: i64,
    #[serde(default)]
    entity: crate::store::ChangeEntity,
    image_id: String,
    image: Option<ImageRecord>,
}

impl CachedStore {
    pub fn new(inner: Arc<dyn Store>, cache: Arc<dyn CacheBackend>, ttl: Duration) -> Self {
        Self::with_stats(inner, cache, ttl, Arc::default())
    }

    /// Like [`CachedStore::new`], counting into `stats` (shared with the backend, which counts
    /// its errors and reachability there).
    pub fn with_stats(
        inner: Arc<dyn Store>,
        cache: Arc<dyn CacheBackend>,
        ttl: Duration,
        stats: Arc<CacheStats>,
    ) -> Self {
        Self {
            sharing: sharing::InvalidatingSharing {
                inner: inner.clone(),
                cache: cache.clone(),
            },
            inner,
            cache,
            ttl,
            stats,
            epoch: None,
            pages: pages::Pages::new(KEPT_RECORDS),
        }
    }

    /// Files token lookups with the database's auth epoch (in the key or in the value, see
    /// [`EpochIn`]), re-read at most once per `every`, so a revocation or a disabled account
    /// written past this cache (the admin CLI, a lost delete) is seen within `every` instead of
    /// the TTL.
    pub fn watching_auth_epoch(mut self, every: Duration, placed: EpochIn) -> Self {
        self.epoch = Some(EpochWatch {
            every,
            placed,
            value: AtomicI64::new(i64::MIN),
            checked: Mutex::new(None),
        });
        self
    }

    /// Re-reads the auth epoch when due. A failed read keeps the old value (the lookup itself
    /// will meet the same database).
    async fn refresh_auth_epoch(&self) {
        let Some(watch) = &self.epoch else { return };
        if !watch.due() {
            return;
        }
        match self.inner.auth_epoch().await {
            Ok(value) => watch.value.store(value, Ordering::Relaxed),
            Err(e) => tracing::debug!(error = %e, "cannot read the auth epoch"),
        }
    }

    /// The cache key of a token lookup: under the auth epoch when it goes in the key.
    fn token_key(&self, token_hash: &str) -> String {
        match &self.epoch {
            Some(watch) if watch.placed == EpochIn::Key => {
                let epoch = watch.value.load(Ordering::Relaxed).to_string();
                key("tok", &[token_hash, &epoch])
            }
            _ => key("tok", &[token_hash]),
        }
    }

    /// A token lookup with the epoch in the value: an entry filed under an older epoch than
    /// the one last read is a miss.
    async fn user_by_token_in_epoch(&self, token_hash: &str, epoch: i64) -> StoreResult<User> {
        if epoch == i64::MIN {
            // The epoch was never read: no entry can be trusted (nor filed) yet.
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            return self.inner.user_by_token_hash(token_hash).await;
        }
        let key = self.token_key(token_hash);
        if let Some(bytes) = self.cache.get(&key).await
            && let Ok(entry) = serde_json::from_slice::<EpochEntry>(&bytes)
            && entry.epoch >= epoch
        {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(entry.user);
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let user = self.inner.user_by_token_hash(token_hash).await?;
        match serde_json::to_vec(&EpochEntry {
            epoch,
            user: user.clone(),
        }) {
            Ok(bytes) => self.cache.set(&key, bytes, self.entry_ttl()).await,
            Err(e) => tracing::warn!(error = %e, "cannot serialise cache entry"),
        }
        Ok(user)
    }

    pub fn stats(&self) -> Arc<CacheStats> {
        self.stats.clone()
    }

    /// The lifetime of one new entry: the TTL less a random part of up to a fifth, so entries
    /// filled together (a client paging through its library, a benchmark) do not all expire
    /// in the same instant and send their reads to the database at once. Never above the TTL,
    /// which stays the staleness bound.
    fn entry_ttl(&self) -> Duration {
        self.ttl.mul_f64(1.0 - TTL_JITTER * rand::random::<f64>())
    }

    async fn cached<T: Serialize + DeserializeOwned>(
        &self,
        key: String,
        load: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        self.cached_unless_new(key, false, load).await
    }

    /// Like [`Self::cached_unless_new`] for an entry filed under a generation (`new`: just
    /// created), whose content never changes: a copy decoded earlier by this process is served
    /// as it is ([`pages`]). `records` weighs a value for the bound on what is kept.
    async fn cached_page<T>(
        &self,
        key: String,
        new: bool,
        load: impl Future<Output = StoreResult<T>>,
        records: impl Fn(&T) -> usize,
    ) -> StoreResult<T>
    where
        T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        if !new && let Some(value) = self.pages.get::<T>(&key) {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(value);
        }
        let value = self.cached_unless_new(key.clone(), new, load).await?;
        // With memcached down every read gets a generation of its own: nothing to keep.
        if self.stats.up() {
            self.pages
                .put(&key, value.clone(), records(&value), self.entry_ttl());
        }
        Ok(value)
    }

    /// Cache-aside read of `key`; `known_absent` skips the lookup (a key under a generation
    /// that was just created cannot exist).
    async fn cached_unless_new<T: Serialize + DeserializeOwned>(
        &self,
        key: String,
        known_absent: bool,
        load: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        if !known_absent && let Some(bytes) = self.cache.get(&key).await {
            match serde_json::from_slice(&bytes) {
                Ok(value) => {
                    self.stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(e) => tracing::warn!(error = %e, "dropping undecodable cache entry"),
            }
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let value = load.await?;
        match serde_json::to_vec(&value) {
            Ok(bytes) => self.cache.set(&key, bytes, self.entry_ttl()).await,
            Err(e) => tracing::warn!(error = %e, "cannot serialise cache entry"),
        }
        Ok(value)
    }

    /// The owner's current list generation, and whether it was just created. A new one is
    /// stored before the caller reads the database (see the module documentation).
    async fn generation(&self, owner: &str) -> (String, bool) {
        let key = generation_key(owner);
        if let Some(bytes) = self.cache.get(&key).await
            && let Ok(generation) = String::from_utf8(bytes)
            && !generation.is_empty()
            && generation.len() <= 32
            && generation.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return (generation, false);
        }
        let generation = new_generation();
        self.cache
            .set(&key, generation.clone().into_bytes(), self.entry_ttl())
            .await;
        (generation, true)
    }

    /// After a write to one of `owner`'s images: drop the image and every cached list page and
    /// change-feed answer of the owner (by ending its generation).
    async fn forget_image(&self, owner: &str, id: &str) {
        self.cache.delete(&image_key(owner, id)).await;
        self.cache.delete(&generation_key(owner)).await;
    }
}

#[async_trait]
impl Store for CachedStore {
    fn sharing(&self) -> &dyn crate::store::Sharing {
        &self.sharing
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    async fn create_user(&self, username: &str) -> StoreResult<User> {
        self.inner.create_user(username).await
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<User> {
        self.inner.user_by_name(username).await
    }

    async fn add_token(&self, user_id: &str, token_hash: &str, name: &str) -> StoreResult<()> {
        let result = self.inner.add_token(user_id, token_hash, name).await;
        self.cache.delete(&self.token_key(token_hash)).await;
        result
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<User> {
        self.refresh_auth_epoch().await;
        if let Some(watch) = &self.epoch
            && watch.placed == EpochIn::Value
        {
            let epoch = watch.value.load(Ordering::Relaxed);
            return self.user_by_token_in_epoch(token_hash, epoch).await;
        }
        self.cached(
            self.token_key(token_hash),
            self.inner.user_by_token_hash(token_hash),
        )
        .await
    }

    async fn revoke_tokens(&self, user_id: &str, name: &str) -> StoreResult<Vec<String>> {
        let revoked = self.inner.revoke_tokens(user_id, name).await?;
        for hash in &revoked {
            self.cache.delete(&self.token_key(hash)).await;
        }
        Ok(revoked)
    }

    async fn set_password_hash(&self, user_id: &str, hash: Option<&str>) -> StoreResult<()> {
        self.inner.set_password_hash(user_id, hash).await
    }

    async fn login_record(&self, username: &str) -> StoreResult<(User, Option<String>)> {
        self.inner.login_record(username).await
    }

    async fn set_disabled(&self, user_id: &str, disabled: bool) -> StoreResult<Vec<String>> {
        let hashes = self.inner.set_disabled(user_id, disabled).await?;
        for hash in &hashes {
            self.cache.delete(&self.token_key(hash)).await;
        }
        Ok(hashes)
    }

    async fn account_settings(&self, user_id: &str) -> StoreResult<AccountSettings> {
        self.inner.account_settings(user_id).await
    }

    async fn set_account_settings(
        &self,
        user_id: &str,
        settings: &AccountSettings,
    ) -> StoreResult<()> {
        self.inner.set_account_settings(user_id, settings).await
    }

    async fn list_users(&self) -> StoreResult<Vec<UserSummary>> {
        self.inner.list_users().await
    }

    async fn list_tokens(&self, user_id: &str) -> StoreResult<Vec<TokenRecord>> {
        self.inner.list_tokens(user_id).await
    }

    async fn revoke_token(&self, user_id: &str, token_id: &str) -> StoreResult<String> {
        let hash = self.inner.revoke_token(user_id, token_id).await?;
        self.cache.delete(&self.token_key(&hash)).await;
        Ok(hash)
    }

    async fn revoke_all_tokens(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let hashes = self.inner.revoke_all_tokens(user_id).await?;
        for hash in &hashes {
            self.cache.delete(&self.token_key(hash)).await;
        }
        Ok(hashes)
    }

    async fn auth_epoch(&self) -> StoreResult<i64> {
        self.inner.auth_epoch().await
    }

    async fn record_login_failure(&self, key: &str, at: OffsetDateTime) -> StoreResult<()> {
        self.inner.record_login_failure(key, at).await
    }

    async fn login_failures_since(&self, key: &str, since: OffsetDateTime) -> StoreResult<u32> {
        self.inner.login_failures_since(key, since).await
    }

    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        self.inner.clear_login_failures(key).await
    }

    async fn forget_login_failure(&self, key: &str, at: OffsetDateTime) -> StoreResult<()> {
        self.inner.forget_login_failure(key, at).await
    }

    async fn image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord> {
        self.cached(image_key(owner, id), self.inner.image(owner, id))
            .await
    }

    async fn images_by_sha256(
        &self,
        owner: &str,
        hashes: &[String],
    ) -> StoreResult<Vec<ImageRecord>> {
        self.inner.images_by_sha256(owner, hashes).await
    }

    async fn list_images(
        &self,
        owner: &str,
        query: &ListQuery,
    ) -> StoreResult<(Vec<ImageRecord>, Option<String>)> {
        let (generation, new) = self.generation(owner).await;
        self.cached_page(
            list_key(owner, &generation, query),
            new,
            self.inner.list_images(owner, query),
            |(images, _)| images.len(),
        )
        .await
    }

    async fn insert_image(&self, image: &ImageRecord) -> StoreResult<ImageRecord> {
        let stored = self.inner.insert_image(image).await;
        self.forget_image(&image.owner_id, &image.id).await;
        stored
    }

    async fn rename_image(
        &self,
        owner: &str,
        id: &str,
        filename: &str,
    ) -> StoreResult<ImageRecord> {
        let result = self.inner.rename_image(owner, id, filename).await;
        self.forget_image(owner, id).await;
        result
    }

    async fn set_tags(&self, owner: &str, id: &str, tags: &[String]) -> StoreResult<ImageRecord> {
        let result = self.inner.set_tags(owner, id, tags).await;
        self.forget_image(owner, id).await;
        result
    }

    async fn set_deleted(
        &self,
        owner: &str,
        id: &str,
        deleted_at: Option<OffsetDateTime>,
    ) -> StoreResult<ImageRecord> {
        let result = self.inner.set_deleted(owner, id, deleted_at).await;
        self.forget_image(owner, id).await;
        result
    }

    async fn set_visibility(
        &self,
        owner: &str,
        id: &str,
        visibility: Visibility,
    ) -> StoreResult<ImageRecord> {
        let result = self.inner.set_visibility(owner, id, visibility).await;
        self.forget_image(owner, id).await;
        result
    }

    async fn set_objects_public(&self, owner: &str, id: &str, public: bool) -> StoreResult<()> {
        let result = self.inner.set_objects_public(owner, id, public).await;
        self.forget_image(owner, id).await;
        result
    }

    async fn claim_placement(
        &self,
        id: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.inner.claim_placement(id, holder, now, until).await
    }

    async fn release_placement(&self, id: &str, holder: &str) -> StoreResult<()> {
        self.inner.release_placement(id, holder).await
    }

    async fn misplaced_images(&self, limit: u32) -> StoreResult<Vec<ImageRecord>> {
        self.inner.misplaced_images(limit).await
    }

    async fn purge_image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord> {
        let result = self.inner.purge_image(owner, id).await;
        self.forget_image(owner, id).await;
        result
    }

    async fn changes(&self, owner: &str, since: i64, limit: u32) -> StoreResult<Vec<ChangeRecord>> {
        let (generation, new) = self.generation(owner).await;
        let load = async {
            let changes = self.inner.changes(owner, since, limit).await?;
            Ok(changes
                .into_iter()
                .map(|c| CachedChange {
                    seq: c.seq,
                    entity: c.entity,
                    image_id: c.image_id,
                    image: c.image,
                })
                .collect::<Vec<_>>())
        };
        let cached = self
            .cached_page(
                changes_key(owner, &generation, since, limit),
                new,
                load,
                Vec::len,
            )
            .await?;
        Ok(cached
            .into_iter()
            .map(|c| ChangeRecord {
                seq: c.seq,
                entity: c.entity,
                image_id: c.image_id,
                image: c.image,
            })
            .collect())
    }

    async fn create_upload(&self, upload: &UploadRecord) -> StoreResult<UploadRecord> {
        self.inner.create_upload(upload).await
    }

    async fn upload(&self, owner: &str, id: &str) -> StoreResult<UploadRecord> {
        self.inner.upload(owner, id).await
    }

    async fn delete_upload(&self, owner: &str, id: &str) -> StoreResult<()> {
        self.inner.delete_upload(owner, id).await
    }

    async fn stale_uploads(
        &self,
        before: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<UploadRecord>> {
        self.inner.stale_uploads(before, limit).await
    }

    async fn image_by_id(&self, id: &str) -> StoreResult<ImageRecord> {
        self.inner.image_by_id(id).await
    }

    async fn set_derivatives(
        &self,
        id: &str,
        update: &DerivativeUpdate,
    ) -> StoreResult<ImageRecord> {
        let result = self.inner.set_derivatives(id, update).await;
        if let Ok(image) = &result {
            self.forget_image(&image.owner_id, id).await;
        }
        result
    }

    async fn claim_derivative(
        &self,
        image_id: &str,
        preset: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Claim> {
        self.inner
            .claim_derivative(image_id, preset, holder, now, until)
            .await
    }

    async fn finish_derivative(
        &self,
        image_id: &str,
        preset: &str,
        holder: &str,
        made: bool,
    ) -> StoreResult<()> {
        self.inner
            .finish_derivative(image_id, preset, holder, made)
            .await
    }

    async fn forget_derivative(&self, image_id: &str, preset: &str) -> StoreResult<()> {
        self.inner.forget_derivative(image_id, preset).await
    }

    async fn claim_job(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<Option<DerivativeJob>> {
        self.inner.claim_job(now, lease_until).await
    }

    async fn finish_job(&self, image_id: &str) -> StoreResult<()> {
        self.inner.finish_job(image_id).await
    }

    async fn retry_job(
        &self,
        image_id: &str,
        run_after: OffsetDateTime,
        error: &str,
    ) -> StoreResult<()> {
        self.inner.retry_job(image_id, run_after, error).await
    }

    async fn job_stats(&self, now: OffsetDateTime) -> StoreResult<JobStats> {
        self.inner.job_stats(now).await
    }

    async fn standby_lag(&self) -> StoreResult<Option<crate::standby::Lag>> {
        self.inner.standby_lag().await
    }

    async fn object_image_ids(&self) -> StoreResult<Vec<String>> {
        self.inner.object_image_ids().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{StoreError, now};

    async fn setup() -> (tempfile::TempDir, Arc<dyn Store>, CachedStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let inner: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
        let cached = CachedStore::new(
            inner.clone(),
            Arc::new(MemoryCache::new(100)),
            Duration::from_secs(60),
        );
        (dir, inner, cached)
    }

    fn image(owner: &str, id: &str) -> ImageRecord {
        let t = now();
        ImageRecord {
            id: id.into(),
            owner_id: owner.into(),
            filename: "a.png".into(),
            key: format!("i/{id}/a.png"),
            size: 1,
            sha256: crate::keys::token_hash(id),
            content_type: "image/png".into(),
            width: 1,
            height: 1,
            taken_at: None,
            created_at: t,
            updated_at: t,
            deleted_at: None,
            tags: vec![],
            thumbhash: None,
            derivatives: Default::default(),
            derivatives_error: None,
            visibility: Default::default(),
            objects_public: true,
        }
    }

    #[tokio::test]
    async fn token_lookups_hit_the_cache_and_revocation_invalidates() {
        let (_dir, _inner, store) = setup().await;
        let user = store.create_user("ann").await.unwrap();
        store.add_token(&user.id, "h1", "laptop").await.unwrap();
        assert_eq!(store.user_by_token_hash("h1").await.unwrap(), user);
        assert_eq!(store.user_by_token_hash("h1").await.unwrap(), user);
        let stats = store.stats();
        assert_eq!((stats.hits(), stats.misses()), (1, 1));
        assert_eq!(
            store.revoke_tokens(&user.id, "laptop").await.unwrap(),
            vec!["h1".to_string()]
        );
        assert!(matches!(
            store.user_by_token_hash("h1").await,
            Err(StoreError::NotFound)
        ));
    }

    /// Revocations and disabled accounts written straight to the database (as the admin CLI
    /// does), past an in-process cache: seen within the epoch interval when the epoch is
    /// watched; without it the cached lookup is served until the TTL (the control).
    #[tokio::test]
    async fn changes_made_past_the_cache_are_seen_through_the_auth_epoch() {
        changes_made_past_the_cache(Arc::new(MemoryCache::new(100)), EpochIn::Key).await;
    }

    /// The same with the epoch inside the value (as with memcached, where the key stays the
    /// one every writer deletes): a lost delete lasts at most the epoch interval.
    #[tokio::test]
    async fn changes_made_past_a_shared_cache_are_seen_through_the_epoch_in_the_value() {
        changes_made_past_the_cache(Arc::new(MemoryCache::new(100)), EpochIn::Value).await;
    }

    /// [`changes_made_past_a_shared_cache_are_seen_through_the_epoch_in_the_value`] against a
    /// real memcached.
    #[tokio::test]
    #[ignore = "needs memcached; run by scripts/test.sh"]
    async fn changes_made_past_memcached_are_seen_through_the_epoch_in_the_value() {
        let addr = std::env::var("IMGCLOUD_TEST_MEMCACHED")
            .expect("IMGCLOUD_TEST_MEMCACHED=127.0.0.1:PORT (scripts/with-memcached.sh sets it)");
        let mut cfg = CacheConfig {
            url: Some(format!("memcached://{addr}")),
            ..CacheConfig::default()
        };
        cfg.timeout = Duration::from_millis(500);
        let memcached = backend(&cfg, b"test-secret", Arc::new(CacheStats::default())).unwrap();
        changes_made_past_the_cache(memcached, EpochIn::Value).await;
    }

    async fn changes_made_past_the_cache(shared: Arc<dyn CacheBackend>, placed: EpochIn) {
        let every = Duration::from_millis(200);
        // Unique token hashes: a shared memcached may hold other tests' entries.
        let run = new_generation();
        let (h1, h2) = (format!("h1{run}"), format!("h2{run}"));
        let (_dir, raw, db, store) = counted_setup(shared).await;
        let store = store.watching_auth_epoch(every, placed);
        let (_dir2, raw2, _db2, unwatched) = counted_setup(Arc::new(MemoryCache::new(100))).await;
        for inner in [&raw, &raw2] {
            let user = inner.create_user("ann").await.unwrap();
            inner.add_token(&user.id, &h1, "laptop").await.unwrap();
            inner.add_token(&user.id, &h2, "phone").await.unwrap();
        }
        for cached in [&store, &unwatched] {
            for hash in [&h1, &h2] {
                cached.user_by_token_hash(hash).await.unwrap();
                cached.user_by_token_hash(hash).await.unwrap();
            }
        }
        assert_eq!(db.get("user_by_token_hash"), 2, "served from the cache");
        assert_eq!(db.get("auth_epoch"), 1, "read once within the interval");

        // revoked past the cache: the watched store refuses it once the interval is over
        for inner in [&raw, &raw2] {
            let user = inner.user_by_name("ann").await.unwrap();
            inner.revoke_tokens(&user.id, "laptop").await.unwrap();
        }
        tokio::time::sleep(every + Duration::from_millis(50)).await;
        assert!(matches!(
            store.user_by_token_hash(&h1).await,
            Err(StoreError::NotFound)
        ));
        assert!(
            unwatched.user_by_token_hash(&h1).await.is_ok(),
            "control: without the epoch the revoked token is served until the TTL"
        );
        // the other token still works, and is cached again under the new epoch
        let before = db.get("user_by_token_hash");
        store.user_by_token_hash(&h2).await.unwrap();
        store.user_by_token_hash(&h2).await.unwrap();
        assert_eq!(db.get("user_by_token_hash"), before + 1);

        // disabled past the cache: refused too; enabled again: works again
        let user = raw.user_by_name("ann").await.unwrap();
        raw.set_disabled(&user.id, true).await.unwrap();
        tokio::time::sleep(every + Duration::from_millis(50)).await;
        assert!(store.user_by_token_hash(&h2).await.is_err());
        raw.set_disabled(&user.id, false).await.unwrap();
        tokio::time::sleep(every + Duration::from_millis(50)).await;
        assert_eq!(store.user_by_token_hash(&h2).await.unwrap().id, user.id);
    }

    #[tokio::test]
    async fn writes_invalidate_cached_images() {
        let (_dir, inner, store) = setup().await;
        let user = store.create_user("ann").await.unwrap();
        store.insert_image(&image(&user.id, "img1")).await.unwrap();
        assert_eq!(
            store.image(&user.id, "img1").await.unwrap().filename,
            "a.png"
        );
        // A write behind the decorator's back is not seen while cached…
        inner
            .rename_image(&user.id, "img1", "behind.png")
            .await
            .unwrap();
        assert_eq!(
            store.image(&user.id, "img1").await.unwrap().filename,
            "a.png"
        );
        // …but every write through it drops the entry.
        store.rename_image(&user.id, "img1", "b.png").await.unwrap();
        assert_eq!(
            store.image(&user.id, "img1").await.unwrap().filename,
            "b.png"
        );
        store
            .set_tags(&user.id, "img1", &["x".into()])
            .await
            .unwrap();
        assert_eq!(store.image(&user.id, "img1").await.unwrap().tags, vec!["x"]);
        store
            .set_deleted(&user.id, "img1", Some(now()))
            .await
            .unwrap();
        assert!(
            store
                .image(&user.id, "img1")
                .await
                .unwrap()
                .deleted_at
                .is_some()
        );
        store.purge_image(&user.id, "img1").await.unwrap();
        assert!(matches!(
            store.image(&user.id, "img1").await,
            Err(StoreError::NotFound)
        ));
        // other owners never see it, cached or not
        assert!(matches!(
            store.image("someone-else", "img1").await,
            Err(StoreError::NotFound)
        ));
    }

    /// sqlite ← query counter ← cache over `backend`.
    pub(crate) async fn counted_setup(
        backend: Arc<dyn CacheBackend>,
    ) -> (
        tempfile::TempDir,
        Arc<dyn Store>,
        Arc<crate::db_metrics::DbStats>,
        CachedStore,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let raw: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
        let counting = crate::db_metrics::CountingStore::new(raw.clone());
        let db = counting.stats();
        let cached = CachedStore::new(Arc::new(counting), backend, Duration::from_secs(60));
        (dir, raw, db, cached)
    }

    fn page(limit: u32) -> ListQuery {
        ListQuery {
            limit,
            ..ListQuery::default()
        }
    }

    /// List pages and change-feed answers are cached per owner and every kind of write ends
    /// them; shared by the in-process and the memcached backends.
    pub(crate) async fn lists_follow_writes(backend: Arc<dyn CacheBackend>) {
        let (_dir, raw, db, store) = counted_setup(backend.clone()).await;
        let ann = store.create_user("ann").await.unwrap();
        let bob = store.create_user("bob").await.unwrap();
        store.insert_image(&image(&ann.id, "img1")).await.unwrap();
        store.insert_image(&image(&bob.id, "bob1")).await.unwrap();
        let names = |(images, _): (Vec<ImageRecord>, Option<String>)| {
            images.into_iter().map(|i| i.filename).collect::<Vec<_>>()
        };
        assert_eq!(
            names(store.list_images(&ann.id, &page(10)).await.unwrap()),
            ["a.png"]
        );
        assert_eq!(
            names(store.list_images(&ann.id, &page(10)).await.unwrap()),
            ["a.png"]
        );
        assert_eq!(db.get("list_images"), 1, "second read is a hit");
        store.list_images(&bob.id, &page(10)).await.unwrap();
        assert_eq!(db.get("list_images"), 2);
        // a different query is a different entry
        store.list_images(&ann.id, &page(5)).await.unwrap();
        assert_eq!(db.get("list_images"), 3);
        assert_eq!(store.changes(&ann.id, 0, 100).await.unwrap().len(), 1);
        assert_eq!(store.changes(&ann.id, 0, 100).await.unwrap().len(), 1);
        assert_eq!(db.get("changes"), 1);

        // every kind of write is seen by the next read
        store.rename_image(&ann.id, "img1", "b.png").await.unwrap();
        assert_eq!(
            names(store.list_images(&ann.id, &page(10)).await.unwrap()),
            ["b.png"]
        );
        let changes = store.changes(&ann.id, 0, 100).await.unwrap();
        assert_eq!(changes[0].image.as_ref().unwrap().filename, "b.png");
        store
            .set_tags(&ann.id, "img1", &["t".into()])
            .await
            .unwrap();
        let (images, _) = store.list_images(&ann.id, &page(10)).await.unwrap();
        assert_eq!(images[0].tags, ["t"]);
        store
            .set_deleted(&ann.id, "img1", Some(now()))
            .await
            .unwrap();
        assert!(names(store.list_images(&ann.id, &page(10)).await.unwrap()).is_empty());
        let trash = ListQuery {
            trash: true,
            ..page(10)
        };
        assert_eq!(
            names(store.list_images(&ann.id, &trash).await.unwrap()),
            ["b.png"]
        );
        store.set_deleted(&ann.id, "img1", None).await.unwrap();
        assert!(names(store.list_images(&ann.id, &trash).await.unwrap()).is_empty());
        store.insert_image(&image(&ann.id, "img2")).await.unwrap();
        assert_eq!(
            store.list_images(&ann.id, &page(10)).await.unwrap().0.len(),
            2
        );
        store.purge_image(&ann.id, "img2").await.unwrap();
        assert_eq!(
            store.list_images(&ann.id, &page(10)).await.unwrap().0.len(),
            1
        );
        let changes = store.changes(&ann.id, 0, 100).await.unwrap();
        assert!(
            changes
                .iter()
                .any(|c| c.image_id == "img2" && c.image.is_none())
        );

        // ann's writes never dropped bob's pages
        let before = db.get("list_images");
        store.list_images(&bob.id, &page(10)).await.unwrap();
        assert_eq!(db.get("list_images"), before);

        // a lost generation (evicted, cache restarted) never brings old pages back
        raw.rename_image(&ann.id, "img1", "behind.png")
            .await
            .unwrap();
        assert_eq!(
            names(store.list_images(&ann.id, &page(10)).await.unwrap()),
            ["b.png"]
        );
        backend.delete(&generation_key(&ann.id)).await;
        assert_eq!(
            names(store.list_images(&ann.id, &page(10)).await.unwrap()),
            ["behind.png"]
        );
    }

    /// Repeated reads (token check, image, list page, change feed) need ≥ 90% fewer database
    /// queries with the cache.
    pub(crate) async fn repeated_reads_spare_the_database(backend: Arc<dyn CacheBackend>) {
        let (_dir, _raw, db, store) = counted_setup(backend).await;
        let user = store.create_user("ann").await.unwrap();
        store
            .add_token(&user.id, "tokhash", "laptop")
            .await
            .unwrap();
        for i in 0..30 {
            store
                .insert_image(&image(&user.id, &format!("img{i}")))
                .await
                .unwrap();
        }
        let before = db.total();
        let rounds = 50;
        for _ in 0..rounds {
            store.user_by_token_hash("tokhash").await.unwrap();
            store.image(&user.id, "img7").await.unwrap();
            let (first, cursor) = store.list_images(&user.id, &page(20)).await.unwrap();
            assert_eq!(first.len(), 20);
            let next = ListQuery { cursor, ..page(20) };
            assert_eq!(
                store.list_images(&user.id, &next).await.unwrap().0.len(),
                10
            );
            store.changes(&user.id, 0, 100).await.unwrap();
        }
        let queries = db.total() - before;
        let uncached = rounds * 5;
        assert!(
            queries * 10 <= uncached,
            "{queries} database queries for {uncached} reads"
        );
    }

    #[tokio::test]
    async fn memory_cache_lists_follow_writes() {
        lists_follow_writes(Arc::new(MemoryCache::new(1000))).await;
    }

    #[tokio::test]
    async fn memory_cache_spares_the_database() {
        repeated_reads_spare_the_database(Arc::new(MemoryCache::new(1000))).await;
    }

    /// The in-process cache, recording the keys read from it.
    struct RecordingCache {
        inner: MemoryCache,
        gets: Mutex<Vec<String>>,
    }

    impl RecordingCache {
        fn new() -> Self {
            Self {
                inner: MemoryCache::new(100),
                gets: Mutex::default(),
            }
        }

        /// Reads so far of keys of `kind` (`gen`, `list`, …).
        fn gets_of(&self, kind: &str) -> usize {
            let prefix = format!("imgcloud:v1:{kind}:");
            let gets = self.gets.lock().unwrap();
            gets.iter().filter(|k| k.starts_with(&prefix)).count()
        }
    }

    #[async_trait]
    impl CacheBackend for RecordingCache {
        async fn get(&self, key: &str) -> Option<Vec<u8>> {
            self.gets.lock().unwrap().push(key.to_string());
            self.inner.get(key).await
        }
        async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
            self.inner.set(key, value, ttl).await
        }
        async fn delete(&self, key: &str) {
            self.inner.delete(key).await
        }
    }

    #[tokio::test]
    async fn a_page_decoded_once_is_served_from_the_process_while_its_generation_lasts() {
        let backend = Arc::new(RecordingCache::new());
        let (_dir, _raw, db, store) = counted_setup(backend.clone()).await;
        let ann = store.create_user("ann").await.unwrap();
        store.insert_image(&image(&ann.id, "img1")).await.unwrap();
        for _ in 0..3 {
            assert_eq!(
                store.list_images(&ann.id, &page(10)).await.unwrap().0.len(),
                1
            );
            assert_eq!(store.changes(&ann.id, 0, 100).await.unwrap().len(), 1);
        }
        assert_eq!((db.get("list_images"), db.get("changes")), (1, 1));
        assert_eq!(
            backend.gets_of("gen"),
            6,
            "the generation is read every time"
        );
        // the list's generation was new (nothing to look up); the change feed's first read
        // missed in the shared cache: neither page is fetched from it again
        assert_eq!(backend.gets_of("list"), 0);
        assert_eq!(backend.gets_of("chg"), 1);

        // a write ends the generation: the next read goes to the database
        store.rename_image(&ann.id, "img1", "b.png").await.unwrap();
        let (images, _) = store.list_images(&ann.id, &page(10)).await.unwrap();
        assert_eq!(images[0].filename, "b.png");
        assert_eq!(db.get("list_images"), 2);
    }

    /// Records the lifetime of every entry stored.
    #[derive(Default)]
    struct TtlRecorder(Mutex<Vec<Duration>>);

    #[async_trait]
    impl CacheBackend for TtlRecorder {
        async fn get(&self, _: &str) -> Option<Vec<u8>> {
            None
        }
        async fn set(&self, _: &str, _: Vec<u8>, ttl: Duration) {
            self.0.lock().unwrap().push(ttl);
        }
        async fn delete(&self, _: &str) {}
    }

    /// Entries filled together must not expire together (a stampede on the database 30 s after
    /// a client read its library), and none may outlive the TTL.
    #[tokio::test]
    async fn entries_filled_together_expire_at_different_moments_within_the_ttl() {
        let backend = Arc::new(TtlRecorder::default());
        let (_dir, _raw, _db, store) = counted_setup(backend.clone()).await;
        let ann = store.create_user("ann").await.unwrap();
        for i in 0..50 {
            store
                .insert_image(&image(&ann.id, &format!("img{i}")))
                .await
                .unwrap();
        }
        for i in 0..50 {
            store.image(&ann.id, &format!("img{i}")).await.unwrap();
        }
        let ttls = backend.0.lock().unwrap().clone();
        assert_eq!(ttls.len(), 50);
        let ttl = Duration::from_secs(60);
        assert!(
            ttls.iter().all(|t| *t <= ttl && *t >= ttl.mul_f64(0.8)),
            "{ttls:?}"
        );
        let (min, max) = (ttls.iter().min().unwrap(), ttls.iter().max().unwrap());
        assert!(
            *max - *min >= Duration::from_secs(5),
            "50 entries spread over only {:?}",
            *max - *min
        );
    }

    /// memcached down: each read files its page under a generation no one reads again, so
    /// nothing is kept in process (it would only crowd out useful pages).
    #[tokio::test]
    async fn no_page_is_kept_while_the_shared_cache_is_down() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let db: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
        let stats = Arc::new(CacheStats::default());
        stats.up.store(false, Ordering::Relaxed);
        let store =
            CachedStore::with_stats(db, Arc::new(DownCache), Duration::from_secs(60), stats);
        let ann = store.create_user("ann").await.unwrap();
        store.insert_image(&image(&ann.id, "img1")).await.unwrap();
        for _ in 0..3 {
            assert_eq!(
                store.list_images(&ann.id, &page(10)).await.unwrap().0.len(),
                1
            );
        }
        assert!(
            store.pages.is_empty(),
            "pages were kept while memcached was down"
        );
    }

    /// Two replicas over one shared cache and one database: a write through one is seen by the
    /// next read through the other, although that one kept the page decoded in process.
    #[tokio::test]
    async fn a_write_through_one_replica_ends_the_pages_another_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let db: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
        let shared: Arc<dyn CacheBackend> = Arc::new(MemoryCache::new(100));
        let ttl = Duration::from_secs(60);
        let a = CachedStore::new(db.clone(), shared.clone(), ttl);
        let b = CachedStore::new(db.clone(), shared, ttl);
        let ann = a.create_user("ann").await.unwrap();
        a.insert_image(&image(&ann.id, "img1")).await.unwrap();
        async fn names(store: &CachedStore, owner: &str) -> Vec<String> {
            let (images, _) = store.list_images(owner, &page(10)).await.unwrap();
            images.into_iter().map(|i| i.filename).collect()
        }
        assert_eq!(names(&a, &ann.id).await, ["a.png"]);
        assert_eq!(names(&a, &ann.id).await, ["a.png"]);
        assert_eq!(a.changes(&ann.id, 0, 100).await.unwrap().len(), 1);

        b.rename_image(&ann.id, "img1", "b.png").await.unwrap();
        assert_eq!(names(&a, &ann.id).await, ["b.png"]);
        b.insert_image(&image(&ann.id, "img2")).await.unwrap();
        assert_eq!(names(&a, &ann.id).await.len(), 2);
        assert_eq!(a.changes(&ann.id, 0, 100).await.unwrap().len(), 2);
    }

    /// A backend that is always down: every read goes to the database and succeeds.
    struct DownCache;

    #[async_trait]
    impl CacheBackend for DownCache {
        async fn get(&self, _: &str) -> Option<Vec<u8>> {
            None
        }
        async fn set(&self, _: &str, _: Vec<u8>, _: Duration) {}
        async fn delete(&self, _: &str) {}
    }

    #[tokio::test]
    async fn a_cache_that_is_down_means_database_reads() {
        let (_dir, _raw, db, store) = counted_setup(Arc::new(DownCache)).await;
        let user = store.create_user("ann").await.unwrap();
        store.insert_image(&image(&user.id, "img1")).await.unwrap();
        for _ in 0..3 {
            assert_eq!(
                store
                    .list_images(&user.id, &page(10))
                    .await
                    .unwrap()
                    .0
                    .len(),
                1
            );
        }
        assert_eq!(db.get("list_images"), 3);
    }

    #[test]
    fn list_keys_tell_every_query_apart() {
        let base = ListQuery {
            cursor: None,
            limit: 50,
            search: None,
            trash: false,
        };
        let variants = [
            base.clone(),
            ListQuery {
                limit: 51,
                ..base.clone()
            },
            ListQuery {
                trash: true,
                ..base.clone()
            },
            ListQuery {
                search: Some(String::new()),
                ..base.clone()
            },
            ListQuery {
                search: Some("cat".into()),
                ..base.clone()
            },
            ListQuery {
                search: Some("Cat dog/…".into()),
                ..base.clone()
            },
            ListQuery {
                cursor: Some("MTcwMDAwOmFi".into()),
                ..base.clone()
            },
            ListQuery {
                cursor: Some("-".into()),
                ..base.clone()
            },
        ];
        let mut keys: Vec<String> = variants.iter().map(|q| list_key("o1", "g1", q)).collect();
        keys.push(list_key("o1", "g2", &base));
        keys.push(list_key("o2", "g1", &base));
        for k in &keys {
            assert!(
                k.len() <= 250 && k.bytes().all(|b| b.is_ascii_graphic()),
                "{k}"
            );
        }
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{keys:#?}");
        assert_ne!(changes_key("o", "g", 1, 10), changes_key("o", "g", 11, 0));
        assert_ne!(new_generation(), new_generation());
    }

    #[test]
    fn keys_are_memcached_safe() {
        let k = key("img", &["owner", "a b/../\u{1}"]);
        assert!(
            k.len() <= 250 && k.bytes().all(|b| b.is_ascii_graphic()),
            "{k}"
        );
        assert_ne!(key("img", &["o", "x y"]), key("img", &["o", "x z"]));
    }
}

/// The cache as wired by `build_app`, seen through HTTP and `/metrics`.
#[cfg(test)]
mod app_tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;

    fn config(cache_url: Option<&str>) -> crate::ServerConfig {
        let mut config = crate::ServerConfig::from_toml(
            r#"
            database_url = "sqlite::memory:"
            [s3]
            endpoint = "http://127.0.0.1:9"
            region = "us-east-1"
            bucket = "imgcloud"
            access_key = "test-access"
            secret_key = "test-secret-key"
            path_style = true
            [cdn]
            base_url = "http://127.0.0.1:9/imgcloud"
            [cache]
            timeout = "500ms"
            "#,
        )
        .unwrap();
        config
            .apply_vars(|name| {
                (name == "IMGCLOUD_CACHE_URL")
                    .then(|| cache_url.map(str::to_string))
                    .flatten()
            })
            .unwrap();
        config
    }

    async fn get(app: &axum::Router, path: &str, token: Option<&str>) -> (StatusCode, String) {
        let mut request = Request::builder().uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn metric(text: &str, name: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
            .parse()
            .unwrap()
    }

    async fn repeated_reads_through_http(cache_url: Option<&str>) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
        let (app, state) = crate::build_app_with_store(config(cache_url), store).unwrap();
        let (_, token) = crate::users::add_user(&*state.store, "ann", "test")
            .await
            .unwrap();
        for _ in 0..20 {
            let (status, body) = get(&app, "/v1/images?limit=10", Some(&token)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (_, text) = get(&app, "/metrics", None).await;
        assert_eq!(
            metric(&text, r#"imgcloud_db_queries_total{op="list_images"}"#),
            1,
            "{text}"
        );
        assert_eq!(
            metric(
                &text,
                r#"imgcloud_db_queries_total{op="user_by_token_hash"}"#
            ),
            1
        );
        assert!(metric(&text, "imgcloud_cache_hits_total") >= 38);
        assert_eq!(metric(&text, "imgcloud_cache_errors_total"), 0);
        assert_eq!(metric(&text, "imgcloud_cache_up"), 1);
        assert!(metric(&text, "imgcloud_db_queries_all_total") >= 2);
        assert_eq!(metric(&text, "imgcloud_http_request_body_bytes_total"), 0);
        assert!(metric(&text, "imgcloud_http_response_body_bytes_total") > 20 * 10);
    }

    #[tokio::test]
    async fn in_process_cache_spares_the_database_over_http() {
        repeated_reads_through_http(None).await;
    }

    #[tokio::test]
    #[ignore = "needs memcached; run by scripts/test.sh"]
    async fn memcached_spares_the_database_over_http() {
        let addr = std::env::var("IMGCLOUD_TEST_MEMCACHED")
            .expect("IMGCLOUD_TEST_MEMCACHED=127.0.0.1:PORT (scripts/with-memcached.sh sets it)");
        repeated_reads_through_http(Some(&format!("memcached://{addr}"))).await;
    }

    #[test]
    fn cache_url_comes_from_the_environment_and_bad_ones_are_named() {
        let good = config(Some("memcached://127.0.0.1:11211,127.0.0.1:11212"));
        assert_eq!(
            good.cache.url.as_deref(),
            Some("memcached://127.0.0.1:11211,127.0.0.1:11212")
        );
        assert_eq!(good.cache.timeout, std::time::Duration::from_millis(500));
        good.validate().unwrap();
        let err = config(Some("redis://127.0.0.1:6379"))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cache.url") && err.contains("IMGCLOUD_CACHE_URL"),
            "{err}"
        );
        let defaults = config(None);
        assert_eq!(defaults.cache.url, None);
        assert_eq!(defaults.cache.ttl, std::time::Duration::from_secs(30));
    }
}
