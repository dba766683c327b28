//! In-process copies of decoded cache entries whose content never changes under their key: list
//! pages and change-feed answers, which are filed under the owner's *generation* (see the
//! module documentation of [`super`]).
//!
//! Such a key is only reached through a generation read from the shared cache first, and a
//! write ends the generation for good (a fresh random value replaces it, never an old one), so a
//! copy kept here is exactly as current as the shared entry it was decoded from. A read that
//! finds the generation still in force then costs one small round trip to memcached instead of
//! fetching, verifying and decoding the whole page (the bulk of a list request's work).
//!
//! Bounded: entries expire after the cache TTL, and when full the expired go first, then the
//! soonest to expire.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

type Entry = (Instant, Arc<dyn Any + Send + Sync>);

/// Decoded values by key, bounded in count and age.
pub struct Pages {
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
}

impl Pages {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave the map inconsistent: keep using it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the value under `key`, if one of type `T` is kept and has not expired.
    pub fn get<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<T> {
        let value = {
            let mut entries = self.lock();
            match entries.get(key) {
                Some((expires, value)) if *expires > Instant::now() => value.clone(),
                Some(_) => {
                    entries.remove(key);
                    return None;
                }
                None => return None,
            }
        };
        // Cloned outside the lock: a page is dozens of records.
        value.downcast_ref::<T>().cloned()
    }

    /// Keeps `value` under `key` for `ttl`.
    pub fn put<T: Send + Sync + 'static>(&self, key: &str, value: T, ttl: Duration) {
        if self.capacity == 0 {
            return;
        }
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            entries.retain(|_, (expires, _)| *expires > now);
            if entries.len() >= self.capacity
                && let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, (expires, _))| *expires)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&soonest);
            }
        }
        entries.insert(key.to_string(), (now + ttl, Arc::new(value)));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_by_type_expire_and_stay_bounded() {
        let pages = Pages::new(2);
        pages.put("a", vec![1u32, 2], Duration::from_secs(60));
        assert_eq!(pages.get::<Vec<u32>>("a"), Some(vec![1, 2]));
        assert_eq!(pages.get::<String>("a"), None, "another type is a miss");
        assert_eq!(pages.get::<Vec<u32>>("b"), None);

        pages.put("short", 7u8, Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pages.get::<u8>("short"), None, "expired");

        for k in ["x", "y", "z"] {
            pages.put(k, k.to_string(), Duration::from_secs(60));
        }
        assert!(pages.len() <= 2);
        assert_eq!(pages.get::<String>("z"), Some("z".to_string()));

        let off = Pages::new(0);
        off.put("a", 1u8, Duration::from_secs(60));
        assert_eq!(off.get::<u8>("a"), None, "capacity 0 keeps nothing");
    }
}
