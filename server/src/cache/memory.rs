//! In-process cache (embedded mode, or when no `cache.url` is configured).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::CacheBackend;

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
                // Drop the entry that would expire soonest.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
