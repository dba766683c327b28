//! The background queue: after an upload completes, a durable job (a row written in the same
//! transaction as the image) makes every preset and the ThumbHash, so galleries are warm.
//!
//! - Any replica claims due jobs ([`Store::claim_job`]: `FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL) with a lease; a replica killed mid-job leaves a lease that runs out, and the
//!   job is claimed again. Jobs live in the database, so they survive restarts.
//! - Lower priority than requests and uploads: one job per core at a time, rendered on threads
//!   of their own at the lowest CPU priority (nice 19), and the queue waits while this replica
//!   sees uploads (at most [`MAX_YIELD`] in a row, so it always moves on). Each job decodes
//!   the original once for every preset it makes.
//! - A failure is recorded on the image (`failed` with its reason, visible in the API, the CLI,
//!   the TUI and the desktop app) and the job retried with exponential back-off; a broken
//!   original is marked `broken` and never retried.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use imgcloud_core::api::DerivativeState;
use tokio::sync::oneshot;

use super::{Derivatives, DeriveError};
use crate::store::{DerivativeJob, DerivativeUpdate, Store, StoreError, now};

/// How long a claimed job is ours before another replica may take it.
const JOB_LEASE: Duration = Duration::from_secs(120);
/// Pause when the queue is empty (a new job is seen within this).
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Quiet time after the last upload before background work starts.
const UPLOAD_QUIET: Duration = Duration::from_millis(500);
/// Longest the queue yields to uploads before it takes one job anyway.
const MAX_YIELD: Duration = Duration::from_secs(20);
/// Attempts before a failing job is given up (the image stays `failed`).
pub const MAX_ATTEMPTS: u32 = 10;

/// Back-off before attempt `attempts + 1`: 5 s doubling, at most an hour.
pub fn backoff(attempts: u32) -> Duration {
    let secs = 5u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(10));
    Duration::from_secs(secs.min(3600))
}

type Work = Box<dyn FnOnce() + Send>;

/// The low-priority render threads (one per core), started on first use.
fn background_threads() -> &'static mpsc::Sender<Work> {
    static SENDER: std::sync::OnceLock<mpsc::Sender<Work>> = std::sync::OnceLock::new();
    SENDER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Work>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for n in 0..workers() {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("derivatives-bg-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let work = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match work {
                            Ok(work) => work(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a background derivative thread");
            }
        }
        tx
    })
}

/// Jobs run at once per replica, and render threads: one per core (all at the lowest priority,
/// so requests and uploads still come first).
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Nice 19 for the calling thread (Linux: per thread). Elsewhere the thread keeps the normal
/// priority; the queue still runs one job at a time and yields to uploads.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), 19) {
            tracing::debug!(error = %e, "cannot lower the background thread's priority");
        }
    }
}

/// Runs `work` on the background render thread.
pub async fn render_in_background<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, &'static str> {
    let (tx, rx) = oneshot::channel();
    background_threads()
        .send(Box::new(move || {
            let _ = tx.send(work());
        }))
        .map_err(|_| "the background thread is gone")?;
    rx.await
        .map_err(|_| "the background thread dropped the work")
}

/// Runs the queue ([`workers`] jobs at once) until `stop` turns true.
pub async fn run(
    derivatives: Arc<Derivatives>,
    store: Arc<dyn Store>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..workers() {
        running.spawn(work(derivatives.clone(), store.clone(), stop.clone()));
    }
    while running.join_next().await.is_some() {}
}

/// One worker: claims and runs jobs one at a time.
async fn work(
    derivatives: Arc<Derivatives>,
    store: Arc<dyn Store>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        yield_to_uploads(&derivatives).await;
        let at = now();
        let pause = match store.claim_job(at, at + JOB_LEASE).await {
            Ok(Some(job)) => {
                run_job(&derivatives, store.as_ref(), &job).await;
                Duration::ZERO
            }
            Ok(None) => IDLE_POLL,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim a derivative job");
                Duration::from_secs(2)
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

async fn yield_to_uploads(derivatives: &Derivatives) {
    let started = std::time::Instant::now();
    while started.elapsed() < MAX_YIELD {
        match derivatives.since_last_upload() {
            Some(since) if since < UPLOAD_QUIET => {
                tokio::time::sleep(UPLOAD_QUIET - since).await;
            }
            _ => return,
        }
    }
}

/// One job: every preset and the ThumbHash, then the image's state.
pub async fn run_job(derivatives: &Derivatives, store: &dyn Store, job: &DerivativeJob) {
    let image = match store.image_by_id(&job.image_id).await {
        Ok(image) => image,
        Err(StoreError::NotFound) => {
            // Purged: nothing to make (the row cascades away; this is for a racing purge).
            let _ = store.finish_job(&job.image_id).await;
            return;
        }
        Err(e) => {
            retry(derivatives, store, job, &format!("database: {e}")).await;
            return;
        }
    };
    let (update, done) = match derivatives.make_all(&image).await {
        Ok(thumbhash) => (
            DerivativeUpdate {
                state: DerivativeState::Ready,
                thumbhash,
                error: None,
            },
            true,
        ),
        Err(DeriveError::Gone) => {
            let _ = store.finish_job(&job.image_id).await;
            return;
        }
        Err(DeriveError::Broken(message)) => {
            tracing::info!(image_id = %job.image_id, %message, "original cannot be made into derivatives");
            (
                DerivativeUpdate {
                    state: DerivativeState::Broken,
                    thumbhash: None,
                    error: Some(message),
                },
                true,
            )
        }
        Err(DeriveError::Transient(message)) => {
            retry(derivatives, store, job, &message).await;
            return;
        }
    };
    if let Err(e) = store.set_derivatives(&job.image_id, &update).await
        && !matches!(e, StoreError::NotFound)
    {
        retry(derivatives, store, job, &format!("database: {e}")).await;
        return;
    }
    if let Err(e) = store.finish_job(&job.image_id).await {
        // The lease runs out and the job runs again: harmless, everything is made already.
        tracing::warn!(image_id = %job.image_id, error = %e, "cannot remove a finished job");
    }
    derivatives.stats.record_job(done);
}

/// Records the failure on the image and puts the job back with back-off (or gives up).
async fn retry(derivatives: &Derivatives, store: &dyn Store, job: &DerivativeJob, message: &str) {
    tracing::warn!(image_id = %job.image_id, attempts = job.attempts, %message, "derivative job failed");
    derivatives.stats.record_job(false);
    let update = DerivativeUpdate {
        state: DerivativeState::Failed,
        thumbhash: None,
        error: Some(message.to_string()),
    };
    let _ = store.set_derivatives(&job.image_id, &update).await;
    let result = if job.attempts >= MAX_ATTEMPTS {
        store.finish_job(&job.image_id).await
    } else {
        let run_after = now() + backoff(job.attempts);
        store.retry_job(&job.image_id, run_after, message).await
    };
    if let Err(e) = result {
        tracing::warn!(image_id = %job.image_id, error = %e, "cannot put a failed job back; its lease runs out");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_five_seconds_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(4), Duration::from_secs(40));
        assert_eq!(backoff(30), Duration::from_secs(3600));
    }

    #[tokio::test]
    async fn background_work_runs_on_its_own_thread() {
        let here = std::thread::current().id();
        let there = render_in_background(|| std::thread::current().id())
            .await
            .unwrap();
        assert_ne!(here, there);
    }
}
