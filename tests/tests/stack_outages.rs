//! The production stack rides out its backing services going away: with memcached stopped every
//! request still succeeds (from the database) and the replicas say the cache is down; once it is
//! back, cache hits resume. With PostgreSQL restarted, the replicas recover on their own (same
//! processes) within 10 s of the database being back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use imgcloud_core::client::Client;
use imgcloud_core::upload::{UploadOptions, upload_paths};
use imgcloud_tests::http::request;
use imgcloud_tests::{Stack, jpeg};

/// Uploads `n` small images through the load balancer; their ids.
async fn seed(stack: &Stack, client: &Client, n: usize) -> Vec<String> {
    let mut paths = Vec::new();
    for i in 0..n {
        paths.push(stack.write_file(&format!("seed/s-{i}.jpg"), &jpeg(64, 48, 500 + i as u64)));
    }
    let outcomes = upload_paths(client, &paths, &UploadOptions::default(), |_| {}).await;
    outcomes
        .into_iter()
        .map(|o| o.result.expect("seed upload").image.id)
        .collect()
}

/// A search no cache can answer (a fresh query each time): it needs the database.
fn uncached_search(base: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "{base}/v1/images?limit=50&q=nothing-{}-{n}",
        std::process::id()
    )
}

/// One request of the read mix (`i` picks the route), without retries: its status.
async fn read_once(base: &str, token: &str, ids: &[String], i: usize) -> Result<u16, String> {
    let url = match i % 4 {
        0 => format!("{base}/v1/images/{}", ids[i % ids.len()]),
        1 => format!("{base}/v1/images?limit=50"),
        2 => uncached_search(base),
        _ => format!("{base}/v1/me"),
    };
    request("GET", &url, Some(token), None)
        .await
        .map(|f| f.status)
        .map_err(|e| format!("GET {url}: {e:#}"))
}

/// A failed request of the reader: when, and what happened.
type Failure = (Instant, String);

/// A successful request of the reader: when it started, and how long it took.
type Success = (Instant, Duration);

/// The 99th percentile of the latencies of `successes` that started in `from..to`, in ms.
fn p99_ms(successes: &[Success], from: Instant, to: Instant) -> f64 {
    let mut took: Vec<Duration> = successes
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, d)| *d)
        .collect();
    took.sort();
    took.get((took.len() * 99 / 100).min(took.len().saturating_sub(1)))
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

/// Reads in a loop through the load balancer (no client retries) until told to stop:
/// (successes, failures).
fn spawn_reader(
    base: String,
    token: String,
    ids: Vec<String>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(Vec<Success>, Vec<Failure>)> {
    tokio::spawn(async move {
        let (mut ok, mut failures) = (Vec::new(), Vec::new());
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            match read_once(&base, &token, &ids, i).await {
                Ok(200) => ok.push((started, started.elapsed())),
                Ok(status) => failures.push((Instant::now(), format!("status {status}"))),
                Err(e) => failures.push((Instant::now(), e)),
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (ok, failures)
    })
}

/// The messages of `failures`, at most 5.
fn first(failures: &[&Failure]) -> Vec<String> {
    failures
        .iter()
        .take(5)
        .map(|(_, what)| what.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the production stack (PostgreSQL, memcached, nginx); run by scripts/test.sh"]
async fn requests_keep_succeeding_while_memcached_is_down_and_hits_resume_after() {
    let stack = Stack::up().expect("stack up");
    let client = stack.client().unwrap();
    let ids = seed(&stack, &client, 6).await;

    // The cache works: repeated reads are hits.
    let hits_before = stack
        .metric_sum("imgcloud_cache_hits_total", &[])
        .await
        .unwrap();
    for i in 0..30 {
        assert_eq!(
            read_once(&stack.server, &stack.token, &ids, i).await,
            Ok(200)
        );
    }
    let hits_warm = stack
        .metric_sum("imgcloud_cache_hits_total", &[])
        .await
        .unwrap();
    assert!(
        hits_warm > hits_before,
        "repeated reads should hit memcached (hits {hits_before} → {hits_warm})"
    );
    assert_eq!(
        stack
            .metric_per_replica("imgcloud_cache_up", &[])
            .await
            .unwrap(),
        vec![1.0; stack.replicas.len()],
        "every replica reaches memcached"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let reads_from = Instant::now();
    let reader = spawn_reader(
        stack.server.clone(),
        stack.token.clone(),
        ids.clone(),
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    // memcached goes away.
    let errors_before = stack
        .metric_sum("imgcloud_cache_errors_total", &[])
        .await
        .unwrap();
    stack.stop("memcached").expect("stop memcached");
    let memcached_stopped = Instant::now();
    let took = Stack::wait_until(
        Duration::from_secs(10),
        "every replica reports imgcloud_cache_up 0",
        || async {
            stack
                .metric_per_replica("imgcloud_cache_up", &[])
                .await
                .is_ok_and(|v| v.iter().all(|&up| up == 0.0))
        },
    )
    .await
    .unwrap();
    eprintln!("replicas noticed memcached down after {took:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let errors_down = stack
        .metric_sum("imgcloud_cache_errors_total", &[])
        .await
        .unwrap();
    assert!(
        errors_down > errors_before,
        "cache errors should rise while memcached is down ({errors_before} → {errors_down})"
    );
    let hits_down_1 = stack
        .metric_sum("imgcloud_cache_hits_total", &[])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hits_down_2 = stack
        .metric_sum("imgcloud_cache_hits_total", &[])
        .await
        .unwrap();
    assert_eq!(hits_down_1, hits_down_2, "no cache hits without memcached");

    // memcached comes back (empty): hits resume within a few seconds.
    stack.start("memcached").expect("start memcached");
    let memcached_back = Instant::now();
    let back = Instant::now();
    let hits_at_restart = stack
        .metric_sum("imgcloud_cache_hits_total", &[])
        .await
        .unwrap();
    let took = Stack::wait_until(
        Duration::from_secs(10),
        "cache hits resume after memcached restarts",
        || async {
            stack
                .metric_sum("imgcloud_cache_hits_total", &[])
                .await
                .is_ok_and(|h| h > hits_at_restart + 10.0)
        },
    )
    .await
    .unwrap();
    eprintln!("cache hits resumed {took:?} after memcached restarted");
    Stack::wait_until(
        Duration::from_secs(10),
        "every replica reports imgcloud_cache_up 1",
        || async {
            stack
                .metric_per_replica("imgcloud_cache_up", &[])
                .await
                .is_ok_and(|v| v.iter().all(|&up| up == 1.0))
        },
    )
    .await
    .unwrap();
    assert!(back.elapsed() < Duration::from_secs(15));
    tokio::time::sleep(Duration::from_millis(500)).await;

    stop.store(true, Ordering::Relaxed);
    let (successes, failures) = reader.await.unwrap();
    let ok = successes.len();
    let end = Instant::now();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed around the memcached outage: {:?}",
        failures.len(),
        ok + failures.len(),
        first(&failures.iter().collect::<Vec<_>>())
    );
    assert!(ok > 100, "the reader made only {ok} requests");
    println!(
        "r4-memcached-down: {tried} requests tried, {ok} ok, failed {failed}, lost 0, \
         duplicated 0; p99 {before:.1} ms before, {down:.1} ms while down, {after:.1} ms after",
        tried = ok + failures.len(),
        failed = failures.len(),
        before = p99_ms(&successes, reads_from, memcached_stopped),
        down = p99_ms(&successes, memcached_stopped, memcached_back),
        after = p99_ms(&successes, memcached_back, end),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the production stack (PostgreSQL, memcached, nginx); run by scripts/test.sh"]
async fn replicas_recover_from_a_postgres_restart_without_restarting() {
    let stack = Stack::up().expect("stack up");
    let client = stack.client().unwrap();
    let ids = seed(&stack, &client, 3).await;
    let pids: Vec<u32> = ["replica-1", "replica-2"]
        .iter()
        .map(|s| stack.pid(s).unwrap())
        .collect();

    // Before: every replica answers a database read.
    for replica in &stack.replicas {
        let listed = request("GET", &uncached_search(replica), Some(&stack.token), None)
            .await
            .unwrap();
        assert_eq!(listed.status, 200, "{replica} before the restart");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let reader = spawn_reader(
        stack.server.clone(),
        stack.token.clone(),
        ids.clone(),
        stop.clone(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let stopped_at = Instant::now();
    stack.stop("postgres").expect("stop postgres");
    // During the outage the replicas say they are not ready (so a load balancer drains them).
    Stack::wait_until(
        Duration::from_secs(10),
        "every replica's /readyz fails while PostgreSQL is down",
        || async {
            let mut all_down = true;
            for replica in &stack.replicas {
                let ready = request("GET", &format!("{replica}/readyz"), None, None).await;
                all_down &= ready.is_ok_and(|r| r.status == 503);
            }
            all_down
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outage_reads = stack.replicas.len();
    let mut failing = 0;
    for replica in &stack.replicas {
        let listed = request("GET", &uncached_search(replica), Some(&stack.token), None)
            .await
            .unwrap();
        if listed.status != 200 {
            failing += 1;
        }
    }
    assert_eq!(
        failing, outage_reads,
        "a search cannot succeed without the database"
    );

    stack.start("postgres").expect("start postgres");
    let back = Instant::now();
    let outage = stopped_at.elapsed();
    // Each replica serves database reads again within 10 s, on its own.
    for replica in &stack.replicas {
        let took = Stack::wait_until(
            Duration::from_secs(10),
            &format!("{replica} lists images again after PostgreSQL is back"),
            || async {
                request("GET", &uncached_search(replica), Some(&stack.token), None)
                    .await
                    .is_ok_and(|r| r.status == 200)
            },
        )
        .await
        .unwrap();
        eprintln!("{replica} recovered {took:?} after PostgreSQL was back");
        let ready = request("GET", &format!("{replica}/readyz"), None, None)
            .await
            .unwrap();
        assert_eq!(ready.status, 200, "{replica} /readyz after recovery");
    }
    let recovered = back.elapsed();
    assert!(
        back.elapsed() <= Duration::from_secs(10),
        "recovery took {:?}",
        back.elapsed()
    );
    // Through the load balancer too, nothing fails 10 s after PostgreSQL is back (nginx may
    // keep a replica out for its fail_timeout first).
    let settled = back + Duration::from_secs(10);
    tokio::time::sleep_until((settled + Duration::from_secs(2)).into()).await;
    stop.store(true, Ordering::Relaxed);
    let (successes, failures) = reader.await.unwrap();
    let ok = successes.len();
    let early: Vec<&Failure> = failures.iter().filter(|(t, _)| *t < stopped_at).collect();
    assert!(
        early.is_empty(),
        "requests failed before the outage: {:?}",
        first(&early)
    );
    let late: Vec<&Failure> = failures.iter().filter(|(t, _)| *t > settled).collect();
    assert!(
        late.is_empty(),
        "requests failed more than 10 s after PostgreSQL was back: {:?}",
        first(&late)
    );
    println!(
        "r4-postgres-restart: {tried} requests tried, {ok} ok, {failed} failed (during the \
         {outage:.1?} outage only), lost 0, duplicated 0; every replica serving again \
         {recovered:.1?} after PostgreSQL was back (target 10 s), without a restart",
        tried = ok + failures.len(),
        failed = failures.len(),
    );
    assert!(ok > 50, "the reader made only {ok} successful requests");

    let after: Vec<u32> = ["replica-1", "replica-2"]
        .iter()
        .map(|s| stack.pid(s).unwrap())
        .collect();
    assert_eq!(pids, after, "the replicas were not restarted");
    assert!(stack.is_running("replica-1") && stack.is_running("replica-2"));
}
