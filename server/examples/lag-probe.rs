//! Measures how far behind the standby is, end to end, for the backup benchmark
//! (`scripts/bench/dbcopy.sh`): every 100 ms it reads the newest change-feed position on the
//! primary and, when it moved, polls the standby every 2 ms until that change is there, and
//! records the time it took (from seeing it committed on the primary to reading it on the
//! standby). Runs until stdin closes, then prints `samples=N p50_ms=… p99_ms=… max_ms=…`.
//!
//!   lag-probe < fifo     (IMGCLOUD_PRIMARY_DATABASE_URL, IMGCLOUD_STANDBY_DATABASE_URL)

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

async fn connect(var: &str) -> anyhow::Result<PgConnection> {
    let url = std::env::var(var).with_context(|| format!("{var} is not set"))?;
    let options = PgConnectOptions::from_str(&url)
        .map_err(|_| anyhow::anyhow!("{var} is not a PostgreSQL URL"))?;
    Ok(PgConnection::connect_with(&options).await?)
}

async fn newest(conn: &mut PgConnection) -> anyhow::Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT coalesce(max(seq), 0)::bigint FROM changes")
            .fetch_one(conn)
            .await?,
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut primary = connect("IMGCLOUD_PRIMARY_DATABASE_URL").await?;
    let mut standby = connect("IMGCLOUD_STANDBY_DATABASE_URL").await?;
    let (done_tx, mut done) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = done_tx.send(());
    });
    let mut lags: Vec<f64> = Vec::new();
    let mut last = newest(&mut primary).await?;
    loop {
        let target = newest(&mut primary).await?;
        // Only new changes count: an idle primary would measure nothing.
        if target > last {
            let seen = Instant::now();
            while newest(&mut standby).await? < target {
                tokio::time::sleep(Duration::from_millis(2)).await;
                if seen.elapsed() > Duration::from_secs(120) {
                    anyhow::bail!("change {target} did not reach the standby in 120 s");
                }
            }
            lags.push(seen.elapsed().as_secs_f64() * 1000.0);
            last = target;
        }
        tokio::select! {
            _ = &mut done => break,
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    anyhow::ensure!(
        !lags.is_empty(),
        "no change was written while the probe ran"
    );
    lags.sort_by(f64::total_cmp);
    let at = |q: f64| lags[((q * lags.len() as f64).ceil() as usize).clamp(1, lags.len()) - 1];
    println!(
        "samples={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        lags.len(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
    Ok(())
}
