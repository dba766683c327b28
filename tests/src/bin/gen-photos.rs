//! `gen-photos DIR COUNT [WIDTH HEIGHT QUALITY SEED]`: writes COUNT deterministic photo-like
//! JPEGs (`photo-0000.jpg`, …) into DIR for benchmarks. Files already there are kept, so a
//! second run is instant. Defaults: 3000×2000 at quality 92, seed 1 (≈3 MB each).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: gen-photos DIR COUNT [WIDTH HEIGHT QUALITY SEED]";
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{usage}");
        return Ok(());
    }
    // A dash-led DIR is almost surely a mistyped option: never fill a directory named so.
    if let Some(option) = args.first().filter(|a| a.starts_with('-')) {
        anyhow::bail!("unknown option {option:?}\n{usage}");
    }
    let dir = PathBuf::from(args.first().ok_or_else(|| anyhow::anyhow!(usage))?);
    let number = |i: usize, default: u64| -> anyhow::Result<u64> {
        match args.get(i) {
            Some(v) => v
                .parse()
                .map_err(|e| anyhow::anyhow!("argument {} ({v:?}): {e}\n{usage}", i + 1)),
            None => Ok(default),
        }
    };
    let count = number(1, 200)? as usize;
    let width = u32::try_from(number(2, 3000)?)?;
    let height = u32::try_from(number(3, 2000)?)?;
    let quality = u8::try_from(number(4, 92)?.clamp(1, 100))?;
    let seed = number(5, 1)?;
    std::fs::create_dir_all(&dir)?;

    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return Ok(());
                        }
                        let path = dir.join(format!("photo-{i:04}.jpg"));
                        if path.is_file() {
                            continue;
                        }
                        let bytes = imgcloud_tests::images::jpeg_quality(
                            width,
                            height,
                            seed + i as u64,
                            quality,
                        );
                        let tmp = path.with_extension("jpg.tmp");
                        std::fs::write(&tmp, &bytes)?;
                        std::fs::rename(&tmp, &path)?;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(())
}
