//! Starts workers on due files: at most `concurrency` at once, none while paused or shutting
//! down. While the cloud is unreachable it starts nothing and probes every few seconds; when
//! the cloud answers again every waiting file becomes due at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use imgcloud_core::daemon_api::Event;
use time::OffsetDateTime;
use tokio::time::Instant;

use super::Inner;
use super::events::Offline;

/// How often an offline daemon probes the cloud.
pub const PROBE_EVERY: Duration = Duration::from_secs(3);
/// Longest sleep between two looks at the queue.
const MAX_SLEEP: Duration = Duration::from_secs(30);

pub(crate) async fn run(inner: Arc<Inner>) {
    let running = Arc::new(AtomicUsize::new(0));
    let mut next_probe = Instant::now();
    loop {
        if inner.stop.is_cancelled() {
            break;
        }
        let (paused, offline) = {
            let book = inner.events.book();
            (book.paused, book.offline.clone())
        };
        let mut sleep = MAX_SLEEP;
        if let Some(offline) = offline {
            let now = Instant::now();
            if now >= next_probe {
                if probe(&inner, &offline).await {
                    go_online(&inner).await;
                    continue;
                }
                next_probe = Instant::now() + PROBE_EVERY;
            }
            sleep = next_probe.saturating_duration_since(Instant::now());
        } else if !paused {
            sleep = take_due(&inner, &running).await;
        }
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = inner.stop.cancelled() => break,
        }
    }
}

/// Starts workers on due files; returns how long to sleep before looking again.
async fn take_due(inner: &Arc<Inner>, running: &Arc<AtomicUsize>) -> Duration {
    let concurrency = inner.config().concurrency.max(1);
    let free = concurrency.saturating_sub(running.load(Ordering::SeqCst));
    let now = OffsetDateTime::now_utc();
    if free > 0 {
        let busy = inner.busy.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match inner.db(move |q| q.due(now, &busy, free)).await {
            Ok(entries) => {
                for entry in entries {
                    let claimed = inner
                        .busy
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(entry.id);
                    if !claimed {
                        continue;
                    }
                    running.fetch_add(1, Ordering::SeqCst);
                    let (inner2, running2) = (inner.clone(), running.clone());
                    let id = entry.id;
                    inner.workers.spawn(async move {
                        super::worker::run(inner2.clone(), entry).await;
                        inner2
                            .busy
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&id);
                        running2.fetch_sub(1, Ordering::SeqCst);
                        inner2.kick();
                    });
                }
            }
            Err(e) => {
                tracing::error!("cannot read the queue: {e}");
                return Duration::from_secs(5);
            }
        }
    }
    let next = match inner.db(|q| q.next_attempt_at()).await {
        Ok(next) => next,
        Err(e) => {
            tracing::error!("cannot read the queue: {e}");
            return Duration::from_secs(5);
        }
    };
    let idle = running.load(Ordering::SeqCst) == 0
        && inner
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
        && next.is_none();
    if idle {
        let announce = {
            let mut book = inner.events.book();
            let announce = !book.idle_announced && book.scans_running == 0;
            if announce {
                book.idle_announced = true;
            }
            announce
        };
        if announce {
            tracing::debug!("idle: nothing left to do");
            inner.events.send(Event::Idle);
        }
    }
    match next {
        // Due now but not taken: busy elsewhere, or no free worker; a finishing worker wakes us.
        Some(at) if at <= now => Duration::from_secs(1),
        Some(at) => {
            let wait = at - now;
            Duration::try_from(wait).unwrap_or(MAX_SLEEP).min(MAX_SLEEP) + Duration::from_millis(5)
        }
        None => MAX_SLEEP,
    }
}

/// The cloud could not be reached: stop taking work and probe until it answers.
pub(crate) fn go_offline(inner: &Inner, reason: &str, target: &str) {
    let target = probe_target(&inner.server, target);
    let newly = {
        let mut book = inner.events.book();
        match book.offline.as_mut() {
            Some(offline) => {
                if !offline.targets.contains(&target) {
                    offline.targets.push(target);
                }
                false
            }
            None => {
                book.offline = Some(Offline {
                    reason: reason.to_string(),
                    targets: vec![target],
                });
                true
            }
        }
    };
    if newly {
        tracing::warn!(
            "offline: {reason}; the queue waits and the daemon checks every {PROBE_EVERY:?}"
        );
        inner.events.send(Event::Offline {
            reason: reason.to_string(),
        });
    }
}

async fn go_online(inner: &Arc<Inner>) {
    inner.events.book().offline = None;
    tracing::info!("the cloud answers again; the queue drains");
    if let Err(e) = inner.db(|q| q.retry_now()).await {
        tracing::error!("cannot update the queue: {e}");
    }
    inner.events.send(Event::Online);
    inner.kick();
}

/// What to probe for a failed URL: the API's `/healthz`, or the origin of another host (the
/// object store), where any HTTP answer will do.
pub(crate) fn probe_target(server: &str, failed: &str) -> String {
    if failed.starts_with(server) {
        return format!("{}/healthz", server.trim_end_matches('/'));
    }
    match url::Url::parse(failed) {
        Ok(url) => format!("{}/", url.origin().ascii_serialization()),
        Err(_) => format!("{}/healthz", server.trim_end_matches('/')),
    }
}

/// Whether every target answers (the API with 2xx, other origins with any HTTP status).
async fn probe(inner: &Inner, offline: &Offline) -> bool {
    let health = format!("{}/healthz", inner.server.trim_end_matches('/'));
    for target in &offline.targets {
        let answered = match inner.probe_http.get(target).send().await {
            Ok(response) => *target != health || response.status().is_success(),
            Err(_) => false,
        };
        if !answered {
            tracing::debug!(%target, "still offline");
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_the_api_health_or_the_origin_of_the_store() {
        let server = "http://127.0.0.1:8420";
        assert_eq!(
            probe_target(server, "http://127.0.0.1:8420"),
            "http://127.0.0.1:8420/healthz"
        );
        assert_eq!(
            probe_target(server, "http://127.0.0.1:8421/imgcloud/i/abc/a.png"),
            "http://127.0.0.1:8421/"
        );
        assert_eq!(
            probe_target(server, "garbage"),
            "http://127.0.0.1:8420/healthz"
        );
    }
}
