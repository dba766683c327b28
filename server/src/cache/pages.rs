//! In-process copies of decoded cache entries whose content never changes under their key: list
//! pages and change-feed answers, which are filed under the owner's *generation* (see the
//! module documentation of [`super`]).
//!
//! Such a key is only reached through a generation read from the shared cache first, and a
//! write ends the generation for good (a fresh random value replaces it, never an old one), so a
//! copy kept here is never served after its generation ended, nor longer than the TTL. A read
//! that finds the generation still in force then costs one small round trip to memcached instead
//! of fetching, verifying and decoding the whole page (the bulk of a list request's work).
//!
//! Bounded by the records kept (a page weighs as many records as it holds): when full, the
//! expired go first, then the soonest to expire. A value heavier than the whole bound is not
//! kept.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

struct Entry {
    expires: Instant,
    weight: usize,
    value: Arc<dyn Any + Send + Sync>,
}

#[derive(Default)]
struct Kept {
    entries: HashMap<String, Entry>,
    weight: usize,
}

impl Kept {
    fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            self.weight -= entry.weight;
        }
    }
}

/// Decoded values by key, bounded in total weight and in age.
pub struct Pages {
    kept: Mutex<Kept>,
    max_weight: usize,
}

impl Pages {
    /// Keeps values weighing at most `max_weight` in all (0: keeps nothing).
    pub fn new(max_weight: usize) -> Self {
        Self {
            kept: Mutex::default(),
            max_weight,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        // A panic while holding the lock cannot leave the map inconsistent: keep using it.
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A copy of the value under `key`, if one of type `T` is kept and has not expired.
    pub fn get<T: Clone + Send + Sync + 'static>(&self, key: &str) -> Option<T> {
        let value = {
            let mut kept = self.lock();
            match kept.entries.get(key) {
                Some(entry) if entry.expires > Instant::now() => entry.value.clone(),
                Some(_) => {
                    kept.remove(key);
                    return None;
                }
                None => return None,
            }
        };
        // Cloned outside the lock: a page is dozens of records.
        value.downcast_ref::<T>().cloned()
    }

    /// Keeps `value`, weighing `weight`, under `key` for `ttl`.
    pub fn put<T: Send + Sync + 'static>(&self, key: &str, value: T, weight: usize, ttl: Duration) {
        let weight = weight.max(1);
        if weight > self.max_weight {
            return;
        }
        let now = Instant::now();
        let mut kept = self.lock();
        kept.remove(key);
        if kept.weight + weight > self.max_weight {
            let expired: Vec<String> = kept
                .entries
                .iter()
                .filter(|(_, e)| e.expires <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for k in expired {
                kept.remove(&k);
            }
        }
        while kept.weight + weight > self.max_weight {
            let Some(soonest) = kept
                .entries
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            kept.remove(&soonest);
        }
        kept.weight += weight;
        kept.entries.insert(
            key.to_string(),
            Entry {
                expires: now + ttl,
                weight,
                value: Arc::new(value),
            },
        );
    }

    #[cfg(test)]
    fn weight(&self) -> usize {
        self.lock().weight
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_by_type_and_expire() {
        let pages = Pages::new(100);
        pages.put("a", vec![1u32, 2], 2, Duration::from_secs(60));
        assert_eq!(pages.get::<Vec<u32>>("a"), Some(vec![1, 2]));
        assert_eq!(pages.get::<String>("a"), None, "another type is a miss");
        assert_eq!(pages.get::<Vec<u32>>("b"), None);

        pages.put("short", 7u8, 1, Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(pages.get::<u8>("short"), None, "expired");
        assert_eq!(pages.weight(), 2, "the expired entry no longer weighs");
    }

    #[test]
    fn the_weight_kept_stays_bounded() {
        let pages = Pages::new(10);
        pages.put("a", 'a', 4, Duration::from_secs(10));
        pages.put("b", 'b', 4, Duration::from_secs(20));
        pages.put("c", 'c', 4, Duration::from_secs(30));
        assert!(pages.weight() <= 10);
        assert_eq!(
            pages.get::<char>("a"),
            None,
            "the soonest to expire went first"
        );
        assert_eq!(pages.get::<char>("c"), Some('c'));
        // replacing a key does not count it twice
        pages.put("c", 'C', 4, Duration::from_secs(30));
        assert_eq!(pages.weight(), 8);
        pages.put("huge", 'h', 11, Duration::from_secs(60));
        assert_eq!(
            pages.get::<char>("huge"),
            None,
            "heavier than the bound: not kept"
        );
        assert_eq!(pages.weight(), 8);

        let off = Pages::new(0);
        off.put("a", 1u8, 1, Duration::from_secs(60));
        assert_eq!(off.get::<u8>("a"), None, "0 keeps nothing");
    }
}
