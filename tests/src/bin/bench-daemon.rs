//! Helper of `scripts/bench/daemon.sh`; talks to a running `imgcloudd` through its socket
//! (directories from `IMGCLOUD_*` variables).
//!
//! - `latency WATCH_DIR PHOTOS_DIR COUNT`: copies photos into the watched folder one at a time
//!   and prints, for each, the time from the copy's close() to the daemon's `uploaded` event;
//!   then p50/p99.
//! - `seed DIR COUNT QUEUE_DB`: writes COUNT small files under DIR and records them in the
//!   daemon's queue as synced (backed up), as a daemon that synced them would have left it.
//! - `free-port`: prints a free TCP port on 127.0.0.1.
//! - `wait-idle`: returns once the daemon has finished its start scan and has nothing to do;
//!   prints `idle_at UNIX_SECONDS`, when that scan ended.
//! - `wait-done N`: returns once N files are uploaded (prints seconds), then once N are backed
//!   up (prints seconds).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use imgcloud_core::daemon_api::{Event, Status};
use imgcloud_core::daemon_client::DaemonClient;
use imgcloud_core::paths::Dirs;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client = DaemonClient::from_dirs(&Dirs::from_env()?);
    match args.first().map(String::as_str) {
        Some("latency") if args.len() == 4 => {
            latency(
                &client,
                Path::new(&args[1]),
                Path::new(&args[2]),
                args[3].parse()?,
            )
            .await
        }
        Some("seed") if args.len() == 4 => {
            seed(Path::new(&args[1]), args[2].parse()?, Path::new(&args[3]))
        }
        Some("free-port") => {
            println!(
                "{}",
                std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port()
            );
            Ok(())
        }
        Some("wait-idle") => {
            let status = wait(&client, Duration::from_secs(600), |s| {
                s.last_scan_at.is_some() && s.counts.pending() == 0 && s.in_flight.is_empty()
            })
            .await?;
            // When the start scan ended (nothing queued by it): the moment the daemon was
            // idle, free of this tool's polling interval.
            if let Some(at) = status.last_scan_at {
                println!("idle_at {:.3}", at.unix_timestamp_nanos() as f64 / 1e9);
            }
            Ok(())
        }
        Some("wait-done") if args.len() == 2 => {
            let n: u64 = args[1].parse()?;
            let start = Instant::now();
            wait(&client, Duration::from_secs(3600), |s| {
                s.counts.uploaded + s.counts.backed_up >= n
            })
            .await?;
            println!("uploaded {:.2}", start.elapsed().as_secs_f64());
            wait(&client, Duration::from_secs(3600), |s| {
                s.counts.backed_up >= n
            })
            .await?;
            println!("backed_up {:.2}", start.elapsed().as_secs_f64());
            Ok(())
        }
        _ => bail!(
            "usage: bench-daemon latency WATCH_DIR PHOTOS_DIR COUNT | seed DIR COUNT QUEUE_DB | free-port | wait-idle | wait-done N"
        ),
    }
}

async fn wait(
    client: &DaemonClient,
    timeout: Duration,
    done: impl Fn(&Status) -> bool,
) -> anyhow::Result<Status> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(status) = client.status().await
            && done(&status)
        {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn latency(
    client: &DaemonClient,
    watch: &Path,
    photos: &Path,
    count: usize,
) -> anyhow::Result<()> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(photos)
        .with_context(|| format!("cannot read {}", photos.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    sources.sort();
    anyhow::ensure!(
        sources.len() >= count,
        "need {count} photos in {}",
        photos.display()
    );
    let mut events = client.events().await?;
    let mut latencies = Vec::with_capacity(count);
    for (i, source) in sources.iter().take(count).enumerate() {
        let name = format!("latency-{i:03}.jpg");
        let target = watch.join(&name);
        std::fs::copy(source, &target)?; // open, write, close
        let closed = Instant::now();
        let deadline = closed + Duration::from_secs(60);
        loop {
            let event = tokio::time::timeout_at(deadline.into(), events.next())
                .await
                .with_context(|| format!("no uploaded event for {name} within 60 s"))?
                .context("the daemon closed its event stream")??;
            match event {
                Event::Uploaded { path, .. }
                    if path.file_name().is_some_and(|n| n == name.as_str()) =>
                {
                    break;
                }
                Event::Failed { path, message, .. }
                    if path.file_name().is_some_and(|n| n == name.as_str()) =>
                {
                    bail!("{name} failed: {message}")
                }
                _ => {}
            }
        }
        let ms = closed.elapsed().as_secs_f64() * 1000.0;
        eprintln!("{name}: {ms:.0} ms");
        latencies.push(ms);
        // One at a time, like a person saving screenshots: let the backup copy finish too.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies[(((latencies.len() as f64) * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    println!("latency_p50_ms {:.0}", pct(0.50));
    println!("latency_p99_ms {:.0}", pct(0.99));
    println!("latency_max_ms {:.0}", latencies[latencies.len() - 1]);
    Ok(())
}

fn seed(dir: &Path, count: usize, queue_db: &Path) -> anyhow::Result<()> {
    use imgcloud_daemon::queue::{FileStat, Queue};
    let queue = Queue::open(queue_db)?;
    let mut batch = Vec::with_capacity(count);
    for i in 0..count {
        let sub = dir.join(format!("d{:03}", i % 1000));
        if i < 1000 {
            std::fs::create_dir_all(&sub)?;
        }
        let path = sub.join(format!("f{i:06}.png"));
        std::fs::write(&path, format!("seeded file {i}"))?;
        let stat = FileStat::of(&std::fs::metadata(&path)?);
        batch.push((path, Some(dir.to_path_buf()), stat));
    }
    queue.observe_many(&batch)?;
    let mut ids = std::collections::HashSet::new();
    let far = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    loop {
        let due = queue.due(far, &ids, 10_000)?;
        if due.is_empty() {
            break;
        }
        for entry in due {
            let sha = format!("{:064x}", entry.id);
            queue.set_hashed(entry.id, &sha)?;
            queue.set_uploaded(
                entry.id,
                &format!("seed{:011}", entry.id),
                "http://seeded.invalid/",
            )?;
            queue.set_backed_up(entry.id)?;
            ids.insert(entry.id);
        }
    }
    println!("seeded {} files", ids.len());
    Ok(())
}
