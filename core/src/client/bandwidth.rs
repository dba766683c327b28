//! The upload bandwidth limit: one token bucket shared by every clone of a [`Client`], applied
//! to the bodies of presigned requests.
//!
//! Bodies are cut into small pieces (about 1/16 of a second of bandwidth, 4–256 KiB) and each
//! piece waits for its turn. Turns are handed out in the order they are asked for (a virtual
//! schedule, GCRA-style), so uploads running at the same time share the bandwidth evenly, and
//! a burst of at most 100 ms worth of bytes goes out at once after an idle period. The limit
//! can be changed while uploads run ([`Client::set_bandwidth_limit`]).
//!
//! [`Client`]: super::Client
//! [`Client::set_bandwidth_limit`]: super::Client::set_bandwidth_limit

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

/// Bytes that may go out at once after an idle period, in seconds of bandwidth.
const BURST_SECS: f64 = 0.1;
const MIN_PIECE: u64 = 4 * 1024;
const MAX_PIECE: u64 = 256 * 1024;

/// A shared upload rate limit; `0` bytes per second means unlimited.
#[derive(Debug, Default)]
pub(crate) struct Bandwidth {
    rate: AtomicU64,
    /// When the bytes granted so far will have gone out at the limit ("theoretical arrival
    /// time"); `None` after a change of the rate.
    schedule: Mutex<Option<Instant>>,
}

impl Bandwidth {
    pub(crate) fn new(bytes_per_sec: u64) -> Self {
        Self {
            rate: AtomicU64::new(bytes_per_sec),
            schedule: Mutex::new(None),
        }
    }

    /// Bytes per second; 0 = unlimited.
    pub(crate) fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    pub(crate) fn set_rate(&self, bytes_per_sec: u64) {
        self.rate.store(bytes_per_sec, Ordering::Relaxed);
        *self.schedule.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The largest piece of a body that waits for one turn.
    fn piece(&self) -> u64 {
        match self.rate() {
            0 => u64::MAX,
            rate => (rate / 16).clamp(MIN_PIECE, MAX_PIECE),
        }
    }

    /// Waits until `bytes` may be sent.
    pub(crate) async fn acquire(&self, bytes: u64) {
        let rate = self.rate();
        if rate == 0 || bytes == 0 {
            return;
        }
        let now = Instant::now();
        let deadline = {
            let mut schedule = self.schedule.lock().unwrap_or_else(|e| e.into_inner());
            let start = schedule.map_or(now, |at| at.max(now));
            let end = start + Duration::from_secs_f64(bytes as f64 / rate as f64);
            *schedule = Some(end);
            end.checked_sub(Duration::from_secs_f64(BURST_SECS))
                .unwrap_or(now)
        };
        if deadline > now {
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// `body` cut into pieces that each wait for their turn under `limit` (unchanged when
/// unlimited).
pub(crate) fn throttle<S>(
    body: S,
    limit: std::sync::Arc<Bandwidth>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static
where
    S: Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    let split = limit.clone();
    body.flat_map(move |chunk| {
        let pieces: Vec<io::Result<Bytes>> = match chunk {
            Ok(bytes) => {
                let piece = usize::try_from(split.piece()).unwrap_or(usize::MAX).max(1);
                if bytes.len() <= piece {
                    vec![Ok(bytes)]
                } else {
                    (0..bytes.len().div_ceil(piece))
                        .map(|i| Ok(bytes.slice(i * piece..((i + 1) * piece).min(bytes.len()))))
                        .collect()
                }
            }
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(pieces)
    })
    .then(move |piece| {
        let limit = limit.clone();
        async move {
            if let Ok(bytes) = &piece {
                limit.acquire(bytes.len() as u64).await;
            }
            piece
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const MB: usize = 1_000_000;

    async fn drain(limit: Arc<Bandwidth>, len: usize) -> (usize, Duration) {
        let start = Instant::now();
        let body = futures::stream::iter(
            Bytes::from(vec![7u8; len])
                .chunks(256 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        let got: Vec<io::Result<Bytes>> = throttle(body, limit).collect().await;
        let total = got.iter().map(|c| c.as_ref().unwrap().len()).sum();
        (total, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn three_megabytes_at_one_megabyte_per_second_take_about_three_seconds() {
        let limit = Arc::new(Bandwidth::new(MB as u64));
        let (sent, took) = drain(limit.clone(), 3 * MB).await;
        assert_eq!(sent, 3 * MB);
        assert!(
            took >= Duration::from_millis(2850) && took <= Duration::from_millis(3050),
            "took {took:?}"
        );

        // Unlimited: no waiting at all.
        limit.set_rate(0);
        let (_, took) = drain(limit, 3 * MB).await;
        assert_eq!(took, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_bodies_share_the_limit_fairly() {
        let limit = Arc::new(Bandwidth::new(MB as u64));
        let start = Instant::now();
        let (a, b) = tokio::join!(drain(limit.clone(), 2 * MB), drain(limit.clone(), 2 * MB));
        // Together they respect the limit…
        let all = start.elapsed();
        assert!(all >= Duration::from_millis(3850), "both took {all:?}");
        // …and neither finishes first by hogging it: both end near the 4 s mark.
        for (_, took) in [a, b] {
            assert!(
                took >= Duration::from_millis(3700),
                "one finished at {took:?}"
            );
        }

        // A third body that starts later still gets its share at once, not after the others.
        let limit = Arc::new(Bandwidth::new(MB as u64));
        let long = tokio::spawn(drain(limit.clone(), 4 * MB));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, short) = drain(limit.clone(), MB / 2).await;
        assert!(
            short <= Duration::from_millis(1200),
            "a late small body waited {short:?}"
        );
        let (_, long) = long.await.unwrap();
        assert!(
            long >= Duration::from_millis(4300),
            "long body took {long:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn changing_the_rate_applies_to_running_bodies() {
        let limit = Arc::new(Bandwidth::new(MB as u64));
        let running = tokio::spawn(drain(limit.clone(), 4 * MB));
        tokio::time::sleep(Duration::from_secs(1)).await;
        limit.set_rate(3 * MB as u64);
        let (_, took) = running.await.unwrap();
        // ~1 MB in the first second, the other ~3 MB at 3 MB/s.
        assert!(
            took >= Duration::from_millis(1700) && took <= Duration::from_millis(2300),
            "took {took:?}"
        );
    }
}
