//! Background clean-up, every `janitor_interval`: moves the objects of images whose visibility
//! changed when the object store could not (see `placement`), and drops upload sessions older
//! than `stale_upload_after`. A session that never completed is aborted (its multipart upload and
//! any objects already written are deleted); a completed one, kept so that a retried complete
//! finds its image, only loses its row.
//!
//! Safe with many replicas: each session is discarded idempotently, so two janitors racing on
//! the same session do no harm.

use std::time::Duration;

use crate::routes::uploads::{Discarded, discard};
use crate::state::AppState;
use crate::store::now;

const BATCH: u32 = 100;

/// One pass: discards every stale session (completed or not); returns how many.
pub async fn sweep(state: &AppState) -> usize {
    let before = now() - state.config.stale_upload_after;
    let mut discarded = 0;
    loop {
        let stale = match state.store.stale_uploads(before, BATCH).await {
            Ok(stale) => stale,
            Err(e) => {
                tracing::warn!(error = %e, "janitor: cannot list stale uploads");
                return discarded;
            }
        };
        let batch = stale.len();
        let mut progress = false;
        for upload in stale {
            match discard(state, &upload).await {
                Ok(outcome) => {
                    discarded += 1;
                    progress = true;
                    match outcome {
                        Discarded::Aborted => {
                            tracing::info!(upload_id = %upload.id, "janitor: aborted stale upload")
                        }
                        Discarded::Completed => {
                            tracing::debug!(upload_id = %upload.id, "janitor: dropped completed upload session")
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(upload_id = %upload.id, error = %e, "janitor: cannot abort stale upload")
                }
            }
        }
        if batch < BATCH as usize || !progress {
            return discarded;
        }
    }
}

/// Runs [`sweep`] every `janitor_interval` until `shutdown` resolves.
pub async fn run(state: AppState, shutdown: impl Future<Output = ()>) {
    let interval = state.config.janitor_interval.max(Duration::from_secs(1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => {
                sweep(&state).await;
                state.placement.sweep().await;
            }
        }
    }
}
