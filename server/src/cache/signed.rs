//! Cache entries authenticated with the server's secret, for a cache others can write to.
//!
//! memcached has no access control: whoever reaches its port can store any value under any
//! key, for instance a token lookup naming another user. Every value stored through
//! [`Signed`] is prefixed with an HMAC-SHA-256 of its key and bytes under a key derived from
//! the object store's secret (which every replica has and a memcached writer does not). A
//! value whose tag does not verify is dropped and read as a miss, so a forged or moved entry
//! costs a database read, never a wrong answer.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::CacheBackend;

type HmacSha256 = Hmac<Sha256>;

const TAG_LEN: usize = 32;

/// `inner` with authenticated values.
pub struct Signed {
    inner: Arc<dyn CacheBackend>,
    key: [u8; 32],
}

impl Signed {
    /// Signs with a key derived from `secret` (the replicas' shared S3 secret key).
    pub fn new(inner: Arc<dyn CacheBackend>, secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"imgcloud cache entries v1");
        Self {
            inner,
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn tag(&self, key: &str, value: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(&(key.len() as u64).to_be_bytes());
        mac.update(key.as_bytes());
        mac.update(value);
        mac
    }
}

#[async_trait]
impl CacheBackend for Signed {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let stored = self.inner.get(key).await?;
        if stored.len() < TAG_LEN {
            tracing::warn!("dropping a cache entry without a valid signature");
            return None;
        }
        let (tag, value) = stored.split_at(TAG_LEN);
        if self.tag(key, value).verify_slice(tag).is_err() {
            tracing::warn!("dropping a cache entry without a valid signature");
            return None;
        }
        Some(value.to_vec())
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let tag = self.tag(key, &value).finalize().into_bytes();
        let mut stored = Vec::with_capacity(TAG_LEN + value.len());
        stored.extend_from_slice(&tag);
        stored.extend_from_slice(&value);
        self.inner.set(key, stored, ttl).await;
    }

    async fn delete(&self, key: &str) {
        self.inner.delete(key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;

    #[tokio::test]
    async fn values_round_trip_and_forged_or_moved_ones_are_misses() {
        let raw: Arc<dyn CacheBackend> = Arc::new(MemoryCache::new(100));
        let signed = Signed::new(raw.clone(), b"s3-secret");
        let ttl = Duration::from_secs(60);
        signed
            .set("tok:a", b"{\"user\":\"ann\"}".to_vec(), ttl)
            .await;
        assert_eq!(
            signed.get("tok:a").await.as_deref(),
            Some(&b"{\"user\":\"ann\"}"[..])
        );
        // someone with access to the cache writes a value of their own
        raw.set("tok:b", b"{\"user\":\"admin\"}".to_vec(), ttl)
            .await;
        assert_eq!(signed.get("tok:b").await, None);
        // or copies a signed value under another key
        let stolen = raw.get("tok:a").await.unwrap();
        raw.set("tok:c", stolen, ttl).await;
        assert_eq!(signed.get("tok:c").await, None);
        // a replica with another secret cannot read ours either
        let other = Signed::new(raw.clone(), b"another-secret");
        assert_eq!(other.get("tok:a").await, None);
        raw.set("tok:d", b"short".to_vec(), ttl).await;
        assert_eq!(signed.get("tok:d").await, None);
    }
}
