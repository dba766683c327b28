//! Fills a database with a library of N image rows (no objects) for the backup benchmark
//! (`scripts/bench/dbcopy.sh`): one user, N images with tags, each with its change-feed row,
//! written through the same store code the server uses.
//!
//!   cargo run --release -p imgcloud-server --example seed-library -- N
//!
//! The database is `IMGCLOUD_DATABASE_URL` (`postgres://…` or `sqlite://PATH`; it holds a
//! password, so it is never a command-line argument).

use std::time::Instant;

use anyhow::Context as _;
use futures::StreamExt as _;
use imgcloud_server::store::{self, ImageRecord};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args()
        .nth(1)
        .context("usage: seed-library N (database in IMGCLOUD_DATABASE_URL)")?
        .parse()
        .context("N must be a number of images")?;
    let url = std::env::var("IMGCLOUD_DATABASE_URL").context("IMGCLOUD_DATABASE_URL is not set")?;
    let store = store::open(&url).await?;
    let user = match store.user_by_name("bench").await {
        Ok(user) => user,
        Err(_) => store.create_user("bench").await?,
    };
    let started = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let results = futures::stream::iter(0..count)
        .map(|i| {
            let store = store.clone();
            let owner = user.id.clone();
            async move {
                let id = format!("seed{i:012}");
                let filename = format!("IMG_{i:06}.jpg");
                let record = ImageRecord {
                    key: format!("i/{id}/{filename}"),
                    id,
                    owner_id: owner,
                    filename,
                    size: 2_000_000 + (i as u64 % 997) * 1000,
                    sha256: format!("{:064x}", i as u128 * 2_654_435_761),
                    content_type: "image/jpeg".into(),
                    width: 4032,
                    height: 3024,
                    taken_at: Some(now),
                    created_at: now,
                    updated_at: now,
                    deleted_at: None,
                    tags: vec!["seed".into(), format!("batch-{}", i / 1000)],
                    thumbhash: None,
                    derivatives: Default::default(),
                    derivatives_error: None,
                    visibility: Default::default(),
                    objects_public: true,
                };
                store.insert_image(&record).await
            }
        })
        .buffer_unordered(8);
    let failed = results
        .filter(|r| std::future::ready(r.is_err()))
        .count()
        .await;
    anyhow::ensure!(failed == 0, "{failed} inserts failed");
    eprintln!(
        "seeded {count} images in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
