//! HTTP load generator of `scripts/bench/api.sh`, for the production stack (server and token
//! from `IMGCLOUD_SERVER` / `IMGCLOUD_TOKEN`, replicas from `IMGCLOUD_STACK_REPLICAS`).
//!
//! - `seed COUNT`: uploads COUNT small distinct images through the server (skipped when the
//!   library already holds at least COUNT), then waits until the cloud has made their
//!   derivatives, so what follows measures reads, not the background queue (`--no-wait`: the
//!   upload only, for a write load).
//! - `run ROUTE [--connections N] [--duration SECS] [--warmup SECS] [--rate R]`: drives
//!   `GET /v1/images?limit=50` (ROUTE `list`) or `GET /v1/images/{id}` over the seeded ids
//!   (ROUTE `get`) with N keep-alive connections for SECS seconds after a warm-up. Without
//!   `--rate` it is a closed loop (each connection sends its next request when the last one is
//!   answered: the most the stack can do); with `--rate R` it sends R requests/s in total on a
//!   fixed schedule and measures each latency from the moment it was due (no coordinated
//!   omission). Prints one line of `key=value` figures: requests/s, p50/p90/p99/max latency,
//!   errors, and database queries per request (delta of `imgcloud_db_queries_total` summed over
//!   the replicas, divided by the requests sent in the window).
//! - ROUTE `share` and `album`: the share page of a link to one seeded image, or of a link to an
//!   album of 24 of them, opened as a browser would (no token, a browser's user agent): every
//!   request is a counted view, so a write. (Share links are not cached and their queries are
//!   not in `imgcloud_db_queries_total`.)
//! - ROUTE `ceiling:FILE`: `GET /bench-ceiling/FILE` through the same load balancer, answered by
//!   nginx from a static file (the stack's lb.conf): the ceiling imgcloud's p99 is read against.
//! - `revoke COUNT`: COUNT times, creates a link, opens it, revokes it, and polls its page every
//!   2 ms until it answers 410; prints the time from the revoke request to the first 410
//!   (p50/p99/max).

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use imgcloud_core::api::{CreateAlbum, CreateShare, DerivativeState, Image, ImagePage};
use imgcloud_core::client::Client;
use imgcloud_core::upload::{UploadOptions, upload_paths};

#[derive(Debug, Clone)]
struct RunArgs {
    route: String,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    rate: Option<f64>,
}

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .with_context(|| {
            format!("{name} is not set: source the lines `scripts/stack.sh up` prints")
        })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let server = env("IMGCLOUD_SERVER")?.trim_end_matches('/').to_string();
    let token = env("IMGCLOUD_TOKEN")?;
    match args.first().map(String::as_str) {
        Some("seed") if args.len() == 2 => seed(&server, &token, args[1].parse()?, true).await,
        Some("seed") if args.len() == 3 && args[2] == "--no-wait" => {
            seed(&server, &token, args[1].parse()?, false).await
        }
        Some("revoke") if args.len() == 2 => revoke(&server, &token, args[1].parse()?).await,
        Some("run") if args.len() >= 2 => {
            let run = parse_run(&args[1..])?;
            let replicas: Vec<String> = env("IMGCLOUD_STACK_REPLICAS")?
                .split(',')
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty())
                .collect();
            bench(&server, &token, &replicas, &run).await
        }
        _ => bail!(
            "usage: bench-api seed COUNT [--no-wait] | revoke COUNT | run list|get|share|album|ceiling:FILE \
             [--connections N] [--duration SECS] [--warmup SECS] [--rate R]"
        ),
    }
}

fn parse_run(args: &[String]) -> anyhow::Result<RunArgs> {
    let route = args[0].clone();
    ensure!(
        ["list", "get", "share", "album"].contains(&route.as_str())
            || route
                .strip_prefix("ceiling:")
                .is_some_and(|f| !f.is_empty()),
        "ROUTE must be `list`, `get`, `share`, `album` or `ceiling:FILE`, not {route:?}"
    );
    let mut run = RunArgs {
        route,
        connections: 8,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        rate: None,
    };
    let mut rest = args[1..].iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--connections" => run.connections = value.parse()?,
            "--duration" => run.duration = Duration::from_secs_f64(value.parse()?),
            "--warmup" => run.warmup = Duration::from_secs_f64(value.parse()?),
            "--rate" => run.rate = Some(value.parse()?),
            _ => bail!("unknown option {flag}"),
        }
    }
    ensure!(run.connections > 0, "--connections must be > 0");
    ensure!(run.rate.is_none_or(|r| r > 0.0), "--rate must be > 0");
    Ok(run)
}

/// The ids of the library's images, newest first, up to about `max` (pages through it).
async fn library_ids(server: &str, token: &str, max: usize) -> anyhow::Result<Vec<String>> {
    Ok(library(server, token, max)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect())
}

/// The library's images, newest first, up to about `max` (pages through it).
async fn library(server: &str, token: &str, max: usize) -> anyhow::Result<Vec<Image>> {
    let http = reqwest::Client::new();
    let mut images = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = http
            .get(format!("{server}/v1/images"))
            .bearer_auth(token)
            .query(&[("limit", "200")]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let response = request.send().await?;
        ensure!(
            response.status().is_success(),
            "GET /v1/images answered {}",
            response.status()
        );
        let page: ImagePage = response.json().await?;
        images.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() || images.len() >= max {
            return Ok(images);
        }
    }
}

async fn seed(server: &str, token: &str, count: usize, wait: bool) -> anyhow::Result<()> {
    let have = library_ids(server, token, count).await?.len();
    if have >= count {
        println!("seeded 0 (library already holds {have})");
        return if wait {
            wait_for_derivatives(server, token, count).await
        } else {
            Ok(())
        };
    }
    let dir = tempfile::Builder::new()
        .prefix("imgcloud-bench-seed-")
        .tempdir()?;
    let mut paths = Vec::new();
    for i in have..count {
        let path = dir.path().join(format!("seed-{i:05}.jpg"));
        std::fs::write(&path, imgcloud_tests::jpeg(64, 48, 900_000 + i as u64))?;
        paths.push(path);
    }
    let client = Client::new(server, Some(token.to_string()))?;
    let options = UploadOptions {
        concurrency: 8,
        ..UploadOptions::default()
    };
    let start = Instant::now();
    let outcomes = upload_paths(&client, &paths, &options, |_| {}).await;
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| e.to_string()))
        .collect();
    ensure!(
        failed.is_empty(),
        "{} uploads failed, first: {}",
        failed.len(),
        failed[0]
    );
    println!(
        "seeded {} in {:.1} s",
        paths.len(),
        start.elapsed().as_secs_f64()
    );
    if wait {
        wait_for_derivatives(server, token, count).await
    } else {
        Ok(())
    }
}

/// Waits until the cloud's background work on the seeded images is over: no image's derivatives
/// still pending (a failed attempt is retried with back-off, or given up on: reported, not
/// waited for). Until then each finished job ends the owner's cached list
/// pages and takes CPU from the replicas, so a read benchmark started right after an upload
/// measures the derivative queue, not the reads.
async fn wait_for_derivatives(server: &str, token: &str, count: usize) -> anyhow::Result<()> {
    const PATIENCE: Duration = Duration::from_secs(600);
    let start = Instant::now();
    let mut last_report = start;
    loop {
        let images = library(server, token, count).await?;
        let count_in = |state| images.iter().filter(|i| i.derivatives == state).count();
        let waiting = count_in(DerivativeState::Pending);
        if waiting == 0 {
            let failed = count_in(DerivativeState::Failed) + count_in(DerivativeState::Broken);
            println!(
                "derivatives of {} images made ({failed} failed), {:.1} s after the upload",
                images.len() - failed,
                start.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        ensure!(
            start.elapsed() < PATIENCE,
            "{waiting} of {} images still have no derivatives after {} s: is the replicas' \
             derivative worker running (see their logs)?",
            images.len(),
            PATIENCE.as_secs()
        );
        if last_report.elapsed() >= Duration::from_secs(5) {
            eprintln!("waiting for the derivatives of {waiting} images");
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A browser's user agent (share pages do not count bots).
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// A new share link to `ids` (as an album when `album`), never expiring; its URL.
async fn share_link(
    server: &str,
    token: &str,
    ids: &[String],
    album: bool,
) -> anyhow::Result<String> {
    let client = Client::new(server, Some(token.to_string()))?;
    let mut share = CreateShare {
        never_expires: true,
        ..CreateShare::default()
    };
    if album {
        let name = format!("bench {}", imgcloud_core::client::new_idempotency_key());
        let created = client
            .create_album(&CreateAlbum {
                name,
                description: "the share-page benchmark's album".into(),
            })
            .await?;
        client.edit_album(&created.id, "add", ids).await?;
        share.album_id = Some(created.id);
    } else {
        share.image_ids = ids.to_vec();
    }
    Ok(client.create_share(&share).await?.url)
}

/// See the module documentation.
async fn revoke(server: &str, token: &str, count: usize) -> anyhow::Result<()> {
    let ids = library_ids(server, token, 1).await?;
    ensure!(
        !ids.is_empty(),
        "the library is empty: run `bench-api seed N` first"
    );
    let client = Client::new(server, Some(token.to_string()))?;
    let http = reqwest::Client::new();
    let status = |url: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .header(reqwest::header::USER_AGENT, BROWSER)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };
    let mut times = Vec::new();
    for _ in 0..count {
        let share = client
            .create_share(&CreateShare {
                image_ids: ids.clone(),
                ..CreateShare::default()
            })
            .await?;
        ensure!(
            status(share.url.clone()).await? == 200,
            "a new link must open"
        );
        let started = Instant::now();
        client.revoke_share(&share.id).await?;
        loop {
            if status(share.url.clone()).await? == 410 {
                break;
            }
            ensure!(
                started.elapsed() < Duration::from_secs(60),
                "still open 60 s after its revocation"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "revocations={count} revoke_to_410_p50_ms={:.1} revoke_to_410_p99_ms={:.1} revoke_to_410_max_ms={:.1}",
        pct(0.5),
        pct(0.99),
        times.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// `imgcloud_db_queries_total` summed over every replica.
async fn db_queries(replicas: &[String]) -> anyhow::Result<f64> {
    let http = reqwest::Client::new();
    let mut total = 0.0;
    for replica in replicas {
        let text = http
            .get(format!("{replica}/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        total += imgcloud_tests::metrics::sum(&text, "imgcloud_db_queries_total", &[]);
    }
    Ok(total)
}

/// What one connection measured: latencies in µs, errors.
#[derive(Default)]
struct Tally {
    latencies: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

async fn bench(
    server: &str,
    token: &str,
    replicas: &[String],
    run: &RunArgs,
) -> anyhow::Result<()> {
    let ceiling = run.route.strip_prefix("ceiling:");
    let ids = if run.route == "list" || ceiling.is_some() {
        Vec::new()
    } else {
        let ids = library_ids(server, token, 5000).await?;
        ensure!(
            !ids.is_empty(),
            "the library is empty: run `bench-api seed N` first"
        );
        ids
    };
    let urls: Vec<String> = match run.route.as_str() {
        _ if ceiling.is_some() => vec![format!(
            "{server}/bench-ceiling/{}",
            ceiling.unwrap_or_default()
        )],
        "list" => vec![format!("{server}/v1/images?limit=50")],
        "share" => vec![share_link(server, token, &ids[..1], false).await?],
        "album" => vec![share_link(server, token, &ids[..ids.len().min(24)], true).await?],
        _ => ids
            .iter()
            .map(|id| format!("{server}/v1/images/{id}"))
            .collect(),
    };
    let urls = std::sync::Arc::new(urls);
    // Share pages are opened as a visitor's browser would: no token.
    let token = if run.route == "share" || run.route == "album" {
        ""
    } else {
        token
    };

    // Warm-up (fills caches and connection pools), then the measured window.
    if !run.warmup.is_zero() {
        drive(token, &urls, run, run.warmup).await;
    }
    let queries_before = db_queries(replicas).await?;
    let started = Instant::now();
    let tallies = drive(token, &urls, run, run.duration).await;
    let elapsed = started.elapsed().as_secs_f64();
    let queries_after = db_queries(replicas).await?;

    let mut latencies: Vec<u32> = tallies.iter().flat_map(|t| t.latencies.clone()).collect();
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    if let Some(e) = tallies.iter().find_map(|t| t.first_error.clone()) {
        eprintln!("first error: {e}");
    }
    latencies.sort_unstable();
    let requests = latencies.len() as u64 + errors;
    ensure!(requests > 0, "no request was sent");
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[i]) / 1000.0
    };
    let mode = match run.rate {
        Some(r) => format!("rate={r}"),
        None => "closed".to_string(),
    };
    println!(
        "route={} mode={mode} connections={} seconds={elapsed:.1} requests={requests} \
         errors={errors} rps={:.0} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2} \
         db_queries_per_request={:.3}",
        run.route,
        run.connections,
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.90),
        pct(0.99),
        latencies
            .last()
            .map_or(f64::NAN, |&m| f64::from(m) / 1000.0),
        (queries_after - queries_before) / requests as f64,
    );
    Ok(())
}

/// Runs the connections for `duration`; one tally per connection.
async fn drive(
    token: &str,
    urls: &std::sync::Arc<Vec<String>>,
    run: &RunArgs,
    duration: Duration,
) -> Vec<Tally> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for connection in 0..run.connections {
        // One client per connection: one keep-alive connection each.
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let urls = urls.clone();
        let token = token.to_string();
        // Fixed rate: this connection's share of the schedule, staggered.
        let period = run
            .rate
            .map(|r| Duration::from_secs_f64(run.connections as f64 / r));
        let offset = period.map(|p| p.mul_f64(connection as f64 / run.connections as f64));
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut n: usize = connection;
            let mut k: u32 = 0;
            loop {
                let due = match (period, offset) {
                    (Some(p), Some(o)) => {
                        let due = start + o + p * k;
                        k += 1;
                        if due >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    _ => {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        now
                    }
                };
                let url = &urls[n % urls.len()];
                n = n.wrapping_add(7919);
                let mut request = http.get(url).header(reqwest::header::USER_AGENT, BROWSER);
                if !token.is_empty() {
                    request = request.bearer_auth(&token);
                }
                let outcome = match request.send().await {
                    Ok(response) => {
                        let status = response.status();
                        match response.bytes().await {
                            Ok(_) if status.is_success() => Ok(()),
                            Ok(_) => Err(format!("status {status}")),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Err(e) => Err(e.to_string()),
                };
                match outcome {
                    Ok(()) => tally
                        .latencies
                        .push(u32::try_from(due.elapsed().as_micros()).unwrap_or(u32::MAX)),
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert(e);
                    }
                }
            }
            tally
        }));
    }
    let mut tallies = Vec::new();
    for task in tasks {
        tallies.push(task.await.unwrap_or_default());
    }
    tallies
}
