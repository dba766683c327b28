//! Cache-aside decorator around a [`Store`]: token lookups and image records are served from a
//! [`CacheBackend`] for a short TTL; every write through the decorator drops the keys it
//! affects.
//!
//! The backend only stores bytes, so an in-process map ([`MemoryCache`], embedded mode) and a
//! networked cache (memcached, production) are interchangeable. A backend failure is a miss:
//! the server keeps working, slower, when the cache is down.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::store::{
    ChangeRecord, ImageRecord, ListQuery, Store, StoreResult, TokenRecord, UploadRecord, User,
    UserSummary,
};

/// Bytes by key with a TTL. Implementations swallow their own failures (logging them) and
/// behave as a miss.
#[async_trait]
pub trait CacheBackend: Send + Sync + 'static {
    async fn get(&self, key: &str) -> Option<Vec<u8>>;
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration);
    async fn delete(&self, key: &str);
}

/// In-process cache with a capacity bound (expired entries are dropped first, then the oldest).
#[derive(Debug)]
pub struct MemoryCache {
    entries: std::sync::Mutex<HashMap<String, (Instant, Vec<u8>)>>,
    capacity: usize,
}

impl MemoryCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: std::sync::Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Vec<u8>)>> {
        // A panic while holding the lock cannot leave the map inconsistent: keep using it.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl CacheBackend for MemoryCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some((expires, value)) if *expires > Instant::now() => Some(value.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            let now = Instant::now();
            entries.retain(|_, (expires, _)| *expires > now);
            if entries.len() >= self.capacity {
                // Entries expire soonest in insertion order (one TTL): drop the oldest.
                if let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, (e, _))| *e)
                    .map(|(k, _)| k.clone())
                {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key.to_string(), (Instant::now() + ttl, value));
    }

    async fn delete(&self, key: &str) {
        self.lock().remove(key);
    }
}

/// Hit and miss counters (exported at `/metrics`).
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

impl CacheStats {
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

/// The decorator.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    cache: Arc<dyn CacheBackend>,
    ttl: Duration,
    stats: Arc<CacheStats>,
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

fn token_key(token_hash: &str) -> String {
    key("tok", &[token_hash])
}

fn image_key(owner: &str, id: &str) -> String {
    key("img", &[owner, id])
}

impl CachedStore {
    pub fn new(inner: Arc<dyn Store>, cache: Arc<dyn CacheBackend>, ttl: Duration) -> Self {
        Self {
            inner,
            cache,
            ttl,
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> Arc<CacheStats> {
        self.stats.clone()
    }

    async fn cached<T: Serialize + DeserializeOwned>(
        &self,
        key: String,
        load: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        if let Some(bytes) = self.cache.get(&key).await {
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
            Ok(bytes) => self.cache.set(&key, bytes, self.ttl).await,
            Err(e) => tracing::warn!(error = %e, "cannot serialise cache entry"),
        }
        Ok(value)
    }

    async fn forget_image(&self, owner: &str, id: &str) {
        self.cache.delete(&image_key(owner, id)).await;
    }
}

#[async_trait]
impl Store for CachedStore {
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
        self.cache.delete(&token_key(token_hash)).await;
        result
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<User> {
        self.cached(
            token_key(token_hash),
            self.inner.user_by_token_hash(token_hash),
        )
        .await
    }

    async fn revoke_tokens(&self, user_id: &str, name: &str) -> StoreResult<Vec<String>> {
        let revoked = self.inner.revoke_tokens(user_id, name).await?;
        for hash in &revoked {
            self.cache.delete(&token_key(hash)).await;
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
            self.cache.delete(&token_key(hash)).await;
        }
        Ok(hashes)
    }

    async fn list_users(&self) -> StoreResult<Vec<UserSummary>> {
        self.inner.list_users().await
    }

    async fn list_tokens(&self, user_id: &str) -> StoreResult<Vec<TokenRecord>> {
        self.inner.list_tokens(user_id).await
    }

    async fn revoke_token(&self, user_id: &str, token_id: &str) -> StoreResult<String> {
        let hash = self.inner.revoke_token(user_id, token_id).await?;
        self.cache.delete(&token_key(&hash)).await;
        Ok(hash)
    }

    async fn revoke_all_tokens(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let hashes = self.inner.revoke_all_tokens(user_id).await?;
        for hash in &hashes {
            self.cache.delete(&token_key(hash)).await;
        }
        Ok(hashes)
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
        self.inner.list_images(owner, query).await
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

    async fn purge_image(&self, owner: &str, id: &str) -> StoreResult<ImageRecord> {
        let result = self.inner.purge_image(owner, id).await;
        self.forget_image(owner, id).await;
        result
    }

    async fn changes(&self, owner: &str, since: i64, limit: u32) -> StoreResult<Vec<ChangeRecord>> {
        self.inner.changes(owner, since, limit).await
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

    #[tokio::test]
    async fn memory_cache_expires_and_stays_bounded() {
        let cache = MemoryCache::new(2);
        cache
            .set("a", b"1".to_vec(), Duration::from_millis(20))
            .await;
        assert_eq!(cache.get("a").await, Some(b"1".to_vec()));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(cache.get("a").await, None);
        for k in ["x", "y", "z"] {
            cache
                .set(k, k.as_bytes().to_vec(), Duration::from_secs(60))
                .await;
        }
        assert!(cache.lock().len() <= 2);
        assert_eq!(cache.get("z").await, Some(b"z".to_vec()));
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
