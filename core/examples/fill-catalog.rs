//! Fills the local catalog of SERVER + USER_ID with COUNT generated images (about 2% of them in
//! the trash), as if they had come from the change feed, and records USER_ID as the account last
//! seen on SERVER. Directories come from the environment (`IMGCLOUD_DATA_DIR`), as for imgcloud.
//! Used by `scripts/bench/tui.sh`.
//!
//!   cargo run --release -p imgcloud-core --example fill-catalog -- http://127.0.0.1:9 bench 100000

use std::process::ExitCode;

use imgcloud_core::api::{Change, ChangePage, Image};
use imgcloud_core::catalog::{Catalog, location};
use imgcloud_core::paths::Dirs;
use time::{Duration, OffsetDateTime};

const PAGE: usize = 1000;
const WORDS: &[&str] = &[
    "beach",
    "sunset",
    "cat",
    "dog",
    "receipt",
    "diagram",
    "screenshot",
    "family",
    "mountain",
    "city",
    "forest",
    "party",
    "invoice",
    "whiteboard",
    "garden",
    "snow",
    "river",
    "concert",
];
const TAGS: &[&str] = &[
    "holiday", "work", "pets", "family", "travel", "docs", "sea", "friends", "2023", "2024",
];
const EXTENSIONS: &[&str] = &["jpg", "png", "webp", "heic"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, user, count] = args.as_slice() else {
        eprintln!("usage: fill-catalog SERVER USER_ID COUNT");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<usize>() else {
        eprintln!("fill-catalog: COUNT must be a number, got {count:?}");
        return ExitCode::from(2);
    };
    match fill(server, user, count) {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fill-catalog: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fill(
    server: &str,
    user: &str,
    count: usize,
) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let dirs = Dirs::from_env()?;
    let path = location::file(&dirs, server, user);
    let catalog = Catalog::open(&path)?;
    let mut random = Lcg(0x5eed);
    let start = OffsetDateTime::now_utc() - Duration::days(3650);
    let mut seq = catalog.since()?;
    let mut made = 0;
    while made < count {
        let n = PAGE.min(count - made);
        let changes = (0..n)
            .map(|_| {
                made += 1;
                seq += 1;
                let image = image(made, start, &mut random);
                Change::image_upsert(seq, image)
            })
            .collect();
        catalog.apply(&ChangePage {
            changes,
            next_since: seq,
            has_more: made < count,
        })?;
    }
    location::remember_user(&dirs, server, user)?;
    Ok(path)
}

fn image(n: usize, start: OffsetDateTime, random: &mut Lcg) -> Image {
    let id = format!("bench{n:011}");
    let word = WORDS[random.below(WORDS.len())];
    let extension = EXTENSIONS[random.below(EXTENSIONS.len())];
    let filename = format!("{word}-{n:06}.{extension}");
    let created = start + Duration::seconds(random.below(3650 * 86_400) as i64);
    let tags = (0..random.below(3))
        .map(|_| TAGS[random.below(TAGS.len())].to_string())
        .collect();
    Image {
        visibility: Default::default(),
        url: format!("https://cdn.example.com/i/{id}/{filename}"),
        thumb_url: format!("https://cdn.example.com/t/{id}/320.webp"),
        preview_url: format!("https://cdn.example.com/t/{id}/1280.webp"),
        thumbhash: None,
        derivatives: Default::default(),
        derivatives_error: None,
        id,
        filename,
        size: 20_000 + random.below(8_000_000) as u64,
        sha256: format!("{:064x}", n),
        content_type: format!("image/{extension}"),
        width: 4032,
        height: 3024,
        taken_at: (random.below(4) > 0).then(|| created - Duration::hours(1)),
        created_at: created,
        updated_at: created,
        deleted_at: (random.below(50) == 0).then_some(created + Duration::days(1)),
        tags,
    }
}

/// A small deterministic generator (the same catalog every run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}
