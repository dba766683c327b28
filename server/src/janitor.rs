//! Background clean-up: aborts upload sessions older than `stale_upload_after` (their multipart
//! uploads and any objects already written), every `janitor_interval`.
//!
//! Safe with many replicas: each session is discarded idempotently, so two janitors racing on
//! the same session do no harm.

use std::time::Duration;

use crate::routes::uploads::discard;
use crate::state::AppState;
use crate::store::now;

const BATCH: u32 = 100;

/// One pass: discards every stale session; returns how many were discarded.
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
                Ok(()) => {
                    discarded += 1;
                    progress = true;
                    tracing::info!(upload_id = %upload.id, "janitor: aborted stale upload");
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
            }
        }
    }
}
