//! Times the pure-Rust JPEG decoders the derivative service could use, on a folder of JPEGs, one
//! thread (`scripts/bench/jpeg-decoders.sh` runs it beside libjpeg-turbo's `djpeg`, with and
//! without its SIMD, which is what a C build without NASM gives):
//!
//! - zune-jpeg, full size (what the service uses);
//! - jpeg-decoder, with its IDCT scaling to the smallest of 1/8, 1/4, 1/2 whose long side still
//!   covers the preview (1280 px), the trick that helps libjpeg most;
//! - the whole derivative pipeline (decode, shrink, turn, encode both presets, ThumbHash).
//!
//!   cargo run --release -p imgcloud-server --example jpeg_decoders -- DIR

use std::time::Instant;

use imgcloud_core::api::PRESETS;
use imgcloud_server::derivatives::render;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: jpeg_decoders DIR"))?;
    let mut files: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no .jpg in {dir}");
    let images: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let megapixels: f64 = images
        .iter()
        .map(|b| {
            let p = imgcloud_core::probe::probe_bytes(b).expect("a JPEG");
            p.pixels() as f64 / 1e6
        })
        .sum();

    let time = |name: &str, decode: &dyn Fn(&[u8]) -> usize| {
        let started = Instant::now();
        let mut checksum = 0usize;
        for bytes in &images {
            checksum = checksum.wrapping_add(decode(bytes));
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name:<44} {:>7.1} ms/image {:>6.1} MP/s  (checksum {checksum})",
            secs * 1000.0 / images.len() as f64,
            megapixels / secs
        );
    };

    time("zune-jpeg, full size", &|bytes| {
        let mut decoder = zune_jpeg::JpegDecoder::new(zune_core::bytestream::ZCursor::new(bytes));
        decoder.decode().expect("zune-jpeg decodes").len()
    });
    time("jpeg-decoder, IDCT scaled to >= 1280 px", &|bytes| {
        let mut decoder = jpeg_decoder::Decoder::new(bytes);
        decoder.read_info().expect("header");
        let info = decoder.info().expect("info");
        let (w, h) = (info.width, info.height);
        let long = w.max(h);
        let scale = [1u16, 2, 4]
            .into_iter()
            .find(|n| u32::from(long) * u32::from(*n) / 8 >= 1280)
            .unwrap_or(8);
        decoder
            .scale(
                ((u32::from(w) * u32::from(scale)).div_ceil(8)) as u16,
                ((u32::from(h) * u32::from(scale)).div_ceil(8)) as u16,
            )
            .expect("scale");
        decoder.decode().expect("jpeg-decoder decodes").len()
    });
    time("jpeg-decoder, full size", &|bytes| {
        jpeg_decoder::Decoder::new(bytes)
            .decode()
            .expect("jpeg-decoder decodes")
            .len()
    });
    time("derivative pipeline (zune, both presets)", &|bytes| {
        let made = render::render(bytes, &PRESETS, 250_000_000).expect("renders");
        made.derivatives.iter().map(|d| d.jpeg.len()).sum()
    });
    Ok(())
}
