//! imgcloud's stateless HTTP API server.
//!
//! Entry points: [`build_app`] (router + state from a [`ServerConfig`]), [`launch_with_listener`]
//! (serve on a bound listener until a shutdown future resolves, with the upload janitor) and
//! [`embedded`] (the all-in-one local cloud: SQLite, in-process cache, embedded S3 store).

pub mod auth;
pub mod backup;
pub mod cache;
pub mod cdn;
pub mod client_ip;
pub mod config;
pub mod db_metrics;
pub mod derivatives;
pub mod embedded;
pub mod error;
pub mod janitor;
pub mod keys;
pub mod limits;
pub mod links;
pub mod login_throttle;
pub mod metrics;
pub mod openapi;
pub mod orphans;
pub mod passwords;
pub mod placement;
pub mod routes;
pub mod share_page;
pub mod shares;
pub mod signed_urls;
pub mod standby;
pub mod state;
pub mod store;
pub mod strip;
pub mod users;

pub mod embedded_s3;
pub mod objects;
pub mod s3_standalone;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use config::ServerConfig;
pub use state::AppState;

use crate::cache::{CacheStats, CachedStore};
use crate::db_metrics::CountingStore;
use crate::derivatives::Derivatives;
use crate::metrics::Metrics;
use crate::objects::ObjectStore;
use crate::placement::Placement;
use crate::store::Store;

/// Opens the database named by `config.database_url` (running its migrations) and builds the
/// application around it.
pub async fn build_app(config: ServerConfig) -> anyhow::Result<(axum::Router, AppState)> {
    let store = store::open(&config.database_url).await?;
    build_app_with_store(config, store)
}

/// Builds the application around an already opened store (wrapped in the cache here).
pub fn build_app_with_store(
    config: ServerConfig,
    store: Arc<dyn Store>,
) -> anyhow::Result<(axum::Router, AppState)> {
    config.validate()?;
    // database ← query counter ← cache (memcached when cache.url is set, else in-process)
    let counting = CountingStore::new(store);
    let db_stats = counting.stats();
    let cache_stats = Arc::new(CacheStats::default());
    let cached = CachedStore::with_stats(
        Arc::new(counting),
        cache::backend(
            &config.cache,
            config.s3.secret_key.as_bytes(),
            cache_stats.clone(),
        )?,
        config.cache.ttl,
        cache_stats,
    );
    // Token lookups follow the database's auth epoch, so a revocation written past the cache
    // (the admin CLI past an in-process cache, a lost delete in memcached) lasts at most a
    // second. In memcached the epoch goes in the value: the admin CLI deletes the keys itself,
    // and an epoch in the key would make its deletes miss them.
    let placed = if config.cache.url.is_none() {
        cache::EpochIn::Key
    } else {
        cache::EpochIn::Value
    };
    let cached = cached.watching_auth_epoch(cache::AUTH_EPOCH_CHECK_EVERY, placed);
    let metrics = Arc::new(Metrics::new(Some(cached.stats()), Some(db_stats)));
    let objects =
        Arc::new(ObjectStore::new(config.s3.clone())?.with_upload_checksum(config.upload_checksum));
    let store: Arc<dyn Store> = Arc::new(cached);
    let placement = Arc::new(Placement::new(
        store.clone(),
        objects.clone(),
        cdn::purger(config.cdn.purge),
        config.cdn.clone(),
    ));
    let derivatives = Arc::new(Derivatives::new(
        store.clone(),
        objects.clone(),
        placement.clone(),
        config.limits.max_pixels,
        config.limits.max_upload_bytes,
    ));
    let state = AppState {
        store,
        objects,
        metrics,
        derivatives,
        placement,
        signer: signed_urls::UrlSigner::new(config.s3.secret_key.as_bytes()),
        share_keys: shares::ShareKeys::new(config.s3.secret_key.as_bytes()),
        config: Arc::new(config),
    };
    Ok((routes::router(state.clone()), state))
}

/// Builds the application from `config` and serves it on `listener` until `shutdown` resolves
/// (in-flight requests are finished first). Runs the upload janitor meanwhile.
pub async fn launch_with_listener(
    config: ServerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (app, state) = build_app(config).await?;
    serve(app, state, listener, shutdown).await
}

/// Binds `config.listen` and serves until `shutdown` resolves.
pub async fn launch(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    launch_with_listener(config, listener, shutdown).await
}

/// Serves a built application on `listener` until `shutdown` resolves, with the janitor.
/// Same as [`serve_with_drain`] with no drain delay.
pub async fn serve(
    app: axum::Router,
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_with_drain(app, state, listener, shutdown, Duration::ZERO).await
}

/// Serves a built application on `listener` until `shutdown` resolves, with the janitor.
///
/// Shutdown in three steps: when `shutdown` resolves, `/readyz` answers 503 (`draining`) at
/// once, so a load balancer that probes it takes the replica out; the server keeps serving for
/// `drain_delay` (new connections too, for balancers that have not noticed yet); then it stops
/// accepting, lets in-flight requests finish (each is bounded by `request_timeout`) and returns.
pub async fn serve_with_drain(
    app: axum::Router,
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain_delay: Duration,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // With upload_checksum off (the embedded cloud, whose own store verifies the content hash)
    // there is no flexible checksum to probe.
    if state.config.upload_checksum {
        tokio::spawn(objects::report_checksum_verification(
            (*state.objects).clone(),
        ));
    }
    let jobs = state.config.derivative_jobs.then(|| {
        tokio::spawn(derivatives::jobs::run(
            state.derivatives.clone(),
            state.store.clone(),
            stop_rx.clone(),
        ))
    });
    if jobs.is_none() {
        tracing::info!(
            "the background derivative queue is off on this replica (derivative_jobs = false)"
        );
    }
    let backups = state.config.backup.clone().map(|schedule| {
        let mut rx = stop_rx.clone();
        tokio::spawn(backup::schedule::run(
            state.config.database_url.clone(),
            schedule,
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            },
        ))
    });
    let janitor = tokio::spawn(janitor::run(state, async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|stop| *stop).await;
    }));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "imgcloud API listening");
    }
    let draining = Arc::new(AtomicBool::new(false));
    let app = app.layer(axum::middleware::from_fn_with_state(
        draining.clone(),
        routes::ops::drain_gate,
    ));
    let graceful = async move {
        shutdown.await;
        draining.store(true, Ordering::SeqCst);
        if drain_delay.is_zero() {
            tracing::info!("draining: /readyz answers 503; finishing in-flight requests");
        } else {
            tracing::info!(
                delay = ?drain_delay,
                "draining: /readyz answers 503; still serving until the delay is over"
            );
            tokio::time::sleep(drain_delay).await;
            tracing::info!("drain delay over: no new connections; finishing in-flight requests");
        }
    };
    // The peer's address reaches the handlers (login throttling keys on it).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(graceful)
        .await;
    let _ = stop_tx.send(true);
    let _ = janitor.await;
    if let Some(backups) = backups {
        let _ = backups.await;
    }
    if let Some(jobs) = jobs {
        let _ = jobs.await;
    }
    tracing::info!("imgcloud API stopped");
    result.map_err(|e| anyhow::anyhow!("HTTP server failed: {e}"))
}

/// Opens the database like [`store::open`], but while it is unreachable (still starting, a
/// network blip) retries with backoff (0.25 s doubling to 4 s) until `wait` has passed, logging
/// each failure (the messages name host, port and database, never the password). Errors that a
/// retry cannot fix (bad URL, failed migration) fail at once.
pub async fn open_store_with_retry(url: &str, wait: Duration) -> anyhow::Result<Arc<dyn Store>> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(250);
    let mut attempt = 1u32;
    loop {
        match store::open(url).await {
            Ok(store) => {
                if attempt > 1 {
                    tracing::info!(attempt, "database reachable");
                }
                return Ok(store);
            }
            Err(err) => {
                let retryable = matches!(
                    err.downcast_ref::<store::StoreError>(),
                    Some(store::StoreError::Unavailable(_))
                );
                let elapsed = started.elapsed();
                if !retryable || elapsed + backoff > wait {
                    return Err(err.context(format!(
                        "database not reachable (gave up after {attempt} attempt(s) in {:.1} s); \
                         check database_url / IMGCLOUD_DATABASE_URL and that the database is up",
                        elapsed.as_secs_f64()
                    )));
                }
                tracing::warn!(
                    attempt,
                    retry_in = ?backoff,
                    error = %err,
                    "database not reachable yet; retrying"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(4));
                attempt += 1;
            }
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
