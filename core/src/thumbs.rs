//! Thumbnails: 320 px and 1280 px long side, JPEG, upright (EXIF orientation applied), never
//! upscaled.
//!
//! Speed matters (a folder of photos goes through here): JPEGs are decoded at reduced scale by
//! `jpeg-decoder`'s DCT scaling (the smallest of 1/8, 1/4, 1/2, 1 that keeps the long side
//! ≥ 1280 px), the 1280 is area-averaged from that, and the 320 from the 1280. Other formats go
//! through the `image` crate. Images over `max_pixels` are refused before any pixel is decoded.

use std::io::{BufRead, BufReader, Cursor, Seek};
use std::path::Path;

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageBuffer, Rgb, RgbImage};
use sha2::{Digest, Sha256};

use crate::api::{THUMB_SIZES, ThumbSpec};
use crate::probe::{ImageFormat, Probe};

/// Thumbnail content type.
pub const THUMB_CONTENT_TYPE: &str = "image/jpeg";

#[derive(Debug, Clone)]
pub struct ThumbOptions {
    /// Refuse images with more pixels than this (decompression-bomb guard); use
    /// `Limits::max_pixels`.
    pub max_pixels: u64,
    /// JPEG quality 1–100.
    pub quality: u8,
}

impl Default for ThumbOptions {
    fn default() -> Self {
        Self {
            max_pixels: 250_000_000,
            quality: 80,
        }
    }
}

/// One encoded thumbnail.
#[derive(Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// Requested long side (one of [`THUMB_SIZES`]).
    pub size: u32,
    pub width: u32,
    pub height: u32,
    pub jpeg: bytes::Bytes,
    /// Lower-case hex SHA-256 of `jpeg`.
    pub sha256: String,
}

impl std::fmt::Debug for Thumbnail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thumbnail")
            .field("size", &self.size)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.jpeg.len())
            .finish()
    }
}

impl Thumbnail {
    /// The wire description for `CreateUpload::thumbs`.
    pub fn spec(&self) -> ThumbSpec {
        ThumbSpec {
            size: self.size,
            content_type: THUMB_CONTENT_TYPE.to_string(),
            bytes: self.jpeg.len() as u64,
            sha256: self.sha256.clone(),
            width: self.width,
            height: self.height,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ThumbError {
    #[error("{width}×{height} is {pixels} pixels, more than the {max} this server accepts")]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        max: u64,
    },
    #[error("cannot decode the {format} image ({detail})")]
    Decode {
        format: &'static str,
        detail: String,
    },
    #[error("cannot encode the thumbnail ({0})")]
    Encode(String),
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

/// Makes one thumbnail per entry of [`THUMB_SIZES`] (ascending) from an image in memory.
pub fn make_thumbnails(
    bytes: &[u8],
    probe: &Probe,
    options: &ThumbOptions,
) -> Result<Vec<Thumbnail>, ThumbError> {
    make_from_reader(Cursor::new(bytes), probe, options)
}

/// Same as [`make_thumbnails`], reading the file at `path`.
pub fn make_thumbnails_from_file(
    path: &Path,
    probe: &Probe,
    options: &ThumbOptions,
) -> Result<Vec<Thumbnail>, ThumbError> {
    let file = std::fs::File::open(path)?;
    make_from_reader(BufReader::with_capacity(256 * 1024, file), probe, options)
}

fn make_from_reader<R: BufRead + Seek>(
    reader: R,
    probe: &Probe,
    options: &ThumbOptions,
) -> Result<Vec<Thumbnail>, ThumbError> {
    if probe.pixels() > options.max_pixels {
        return Err(ThumbError::TooManyPixels {
            width: probe.width,
            height: probe.height,
            pixels: probe.pixels(),
            max: options.max_pixels,
        });
    }
    let largest = THUMB_SIZES.iter().copied().max().unwrap_or(1280);
    let decoded = match probe.format {
        ImageFormat::Jpeg => decode_jpeg_scaled(reader, probe, largest)?,
        other => decode_other(reader, other, probe)?,
    };
    // Largest first, each from the previous: less work, and area averaging stays accurate.
    let mut sizes = THUMB_SIZES.to_vec();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut current = decoded;
    let mut thumbs = Vec::with_capacity(sizes.len());
    for size in sizes {
        current = fit_within(current, size);
        let mut upright = current.clone();
        upright.apply_orientation(orientation(probe.orientation));
        thumbs.push(encode(size, &upright, options.quality)?);
    }
    thumbs.reverse();
    Ok(thumbs)
}

fn orientation(exif: u8) -> image::metadata::Orientation {
    image::metadata::Orientation::from_exif(exif)
        .unwrap_or(image::metadata::Orientation::NoTransforms)
}

/// Decodes a JPEG at the smallest DCT scale whose long side is still ≥ `long_side`, and proves
/// the file is complete (the decoder must reach the end-of-image marker).
fn decode_jpeg_scaled<R: BufRead + Seek>(
    mut reader: R,
    probe: &Probe,
    long_side: u32,
) -> Result<DynamicImage, ThumbError> {
    let err = |detail: String| ThumbError::Decode {
        format: "JPEG",
        detail,
    };
    let mut decoder = jpeg_decoder::Decoder::new(&mut reader);
    decoder.read_info().map_err(|e| err(e.to_string()))?;
    let info = decoder
        .info()
        .ok_or_else(|| err("no frame header".into()))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let long = w.max(h);
    if long > long_side {
        let req_w = (u64::from(w) * u64::from(long_side))
            .div_ceil(u64::from(long))
            .min(u64::from(u16::MAX)) as u16;
        let req_h = (u64::from(h) * u64::from(long_side))
            .div_ceil(u64::from(long))
            .min(u64::from(u16::MAX)) as u16;
        decoder
            .scale(req_w, req_h)
            .map_err(|e| err(e.to_string()))?;
    }
    let pixels = decoder.decode().map_err(|e| err(e.to_string()))?;
    let info = decoder
        .info()
        .ok_or_else(|| err("no frame header".into()))?;
    let (dw, dh) = (u32::from(info.width), u32::from(info.height));
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => {
            RgbImage::from_raw(dw, dh, pixels).map(DynamicImage::ImageRgb8)
        }
        jpeg_decoder::PixelFormat::L8 => {
            GrayImage::from_raw(dw, dh, pixels).map(DynamicImage::ImageLuma8)
        }
        // CMYK and 16-bit JPEGs are rare: let the `image` crate handle their colour conversion.
        _ => {
            drop(decoder);
            reader.rewind()?;
            return decode_other(reader, ImageFormat::Jpeg, probe);
        }
    };
    image.ok_or_else(|| err("decoder returned a short pixel buffer".into()))
}

fn decode_other<R: BufRead + Seek>(
    reader: R,
    format: ImageFormat,
    probe: &Probe,
) -> Result<DynamicImage, ThumbError> {
    let err = |detail: String| ThumbError::Decode {
        format: format.name(),
        detail,
    };
    let mut image_reader = image::ImageReader::with_format(reader, format.image_format());
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(probe.width.max(1));
    limits.max_image_height = Some(probe.height.max(1));
    // Room for 16-bit RGBA of the declared size, and no more.
    limits.max_alloc = Some(probe.pixels().saturating_mul(8).saturating_add(1 << 20));
    image_reader.limits(limits);
    let image = image_reader.decode().map_err(|e| err(e.to_string()))?;
    Ok(match image {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => image,
        other if other.color().has_alpha() => DynamicImage::ImageRgb8(flatten_on_white(&other)),
        DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(image.to_luma8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    })
}

/// Composites an image with alpha over white (JPEG has no alpha).
fn flatten_on_white(image: &DynamicImage) -> RgbImage {
    let rgba = image.to_rgba8();
    ImageBuffer::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u32::from(p[3]);
        let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    })
}

/// Shrinks `image` so its long side is at most `long_side` (never enlarges).
fn fit_within(image: DynamicImage, long_side: u32) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let long = w.max(h);
    if long <= long_side {
        return image;
    }
    let scale = |v: u32| {
        ((u64::from(v) * u64::from(long_side) + u64::from(long) / 2) / u64::from(long)).max(1)
            as u32
    };
    let (nw, nh) = (scale(w), scale(h));
    match image {
        DynamicImage::ImageRgb8(rgb) => DynamicImage::ImageRgb8(shrink(&rgb, nw, nh)),
        DynamicImage::ImageLuma8(gray) => DynamicImage::ImageLuma8(shrink(&gray, nw, nh)),
        other => other.resize_exact(nw, nh, FilterType::Triangle),
    }
}

/// Area-averaging downscale: every output pixel is the coverage-weighted mean of the source
/// pixels under it (alias-free for reductions), separable, in 14-bit fixed point.
fn shrink<P>(image: &ImageBuffer<P, Vec<u8>>, width: u32, height: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: image::Pixel<Subpixel = u8> + 'static,
{
    let channels = usize::from(P::CHANNEL_COUNT);
    let (sw, sh) = (image.width() as usize, image.height() as usize);
    let (dw, dh) = (width.max(1) as usize, height.max(1) as usize);
    let src = image.as_raw();
    // Horizontal pass: sh rows of dw pixels.
    let columns = area_weights(sw, dw);
    let mut mid = vec![0u8; sh * dw * channels];
    for (src_row, mid_row) in src
        .chunks_exact(sw * channels)
        .zip(mid.chunks_exact_mut(dw * channels))
    {
        for (x, (start, weights)) in columns.iter().enumerate() {
            for c in 0..channels {
                let mut acc = 1u32 << (WEIGHT_BITS - 1);
                for (i, &w) in weights.iter().enumerate() {
                    acc += u32::from(src_row[(start + i) * channels + c]) * w;
                }
                mid_row[x * channels + c] = (acc >> WEIGHT_BITS).min(255) as u8;
            }
        }
    }
    // Vertical pass: whole rows at a time (cache friendly).
    let rows = area_weights(sh, dh);
    let row_len = dw * channels;
    let mut out = vec![0u8; dh * row_len];
    let mut acc = vec![0u32; row_len];
    for (out_row, (start, weights)) in out.chunks_exact_mut(row_len).zip(&rows) {
        acc.fill(1u32 << (WEIGHT_BITS - 1));
        for (i, &w) in weights.iter().enumerate() {
            let row = &mid[(start + i) * row_len..(start + i + 1) * row_len];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += u32::from(v) * w;
            }
        }
        for (o, &a) in out_row.iter_mut().zip(&acc) {
            *o = (a >> WEIGHT_BITS).min(255) as u8;
        }
    }
    ImageBuffer::from_raw(dw as u32, dh as u32, out)
        .unwrap_or_else(|| image::imageops::thumbnail(image, width, height))
}

const WEIGHT_BITS: u32 = 14;

/// For each of `dst` output positions: the first source index and the fixed-point weights
/// (summing to `1 << WEIGHT_BITS`) of the source pixels it covers.
fn area_weights(src: usize, dst: usize) -> Vec<(usize, Vec<u32>)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let lo = d as f64 * scale;
            let hi = ((d + 1) as f64 * scale).min(src as f64);
            let first = lo.floor() as usize;
            let last = (hi.ceil() as usize).clamp(first + 1, src);
            let mut weights: Vec<f64> = (first..last)
                .map(|s| ((s + 1) as f64).min(hi) - (s as f64).max(lo))
                .map(|w| w.max(0.0))
                .collect();
            let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
            weights.iter_mut().for_each(|w| *w /= total);
            let mut fixed: Vec<u32> = weights
                .iter()
                .map(|w| (w * f64::from(1u32 << WEIGHT_BITS)).round() as u32)
                .collect();
            // Make the weights sum exactly to one so flat areas stay flat.
            let sum: u32 = fixed.iter().sum();
            if let Some(max) = fixed.iter_mut().max() {
                *max = (*max + (1 << WEIGHT_BITS)).saturating_sub(sum);
            }
            (first, fixed)
        })
        .collect()
}

fn encode(size: u32, image: &DynamicImage, quality: u8) -> Result<Thumbnail, ThumbError> {
    let mut out = Vec::with_capacity((image.width() * image.height() / 4) as usize);
    let mut encoder =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
    encoder
        .encode_image(image)
        .map_err(|e| ThumbError::Encode(e.to_string()))?;
    let sha256 = hex::encode(Sha256::digest(&out));
    Ok(Thumbnail {
        size,
        width: image.width(),
        height: image.height(),
        jpeg: out.into(),
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::probe_bytes;
    use crate::probe::tests::{exif_block, jpeg_bytes, png_bytes, with_exif};

    #[test]
    fn makes_both_sizes_without_upscaling() {
        let bytes = jpeg_bytes(3000, 1500);
        let probe = probe_bytes(&bytes).unwrap();
        let thumbs = make_thumbnails(&bytes, &probe, &ThumbOptions::default()).unwrap();
        let sizes: Vec<_> = thumbs.iter().map(|t| (t.size, t.width, t.height)).collect();
        assert_eq!(sizes, vec![(320, 320, 160), (1280, 1280, 640)]);
        for t in &thumbs {
            let decoded = image::load_from_memory(&t.jpeg).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (t.width, t.height));
            assert_eq!(t.sha256, hex::encode(Sha256::digest(&t.jpeg)));
        }

        let small = png_bytes(200, 100);
        let probe = probe_bytes(&small).unwrap();
        let thumbs = make_thumbnails(&small, &probe, &ThumbOptions::default()).unwrap();
        assert!(thumbs.iter().all(|t| (t.width, t.height) == (200, 100)));
    }

    #[test]
    fn exif_orientation_6_gives_upright_thumbnails() {
        // Stored landscape 400×200, left half red, right half blue; orientation 6 = rotate 90° CW
        // for display, so the upright image is portrait with red on top.
        let img = RgbImage::from_fn(400, 200, |x, _| {
            if x < 200 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
            .encode_image(&img)
            .unwrap();
        let bytes = with_exif(&jpeg, &exif_block(6, "2022:01:01 00:00:00"));
        let probe = probe_bytes(&bytes).unwrap();
        let thumbs = make_thumbnails(&bytes, &probe, &ThumbOptions::default()).unwrap();
        let t = image::load_from_memory(&thumbs[1].jpeg).unwrap().to_rgb8();
        assert_eq!((t.width(), t.height()), (200, 400));
        let top = t.get_pixel(100, 20).0;
        let bottom = t.get_pixel(100, 380).0;
        assert!(top[0] > 200 && top[2] < 60, "top should be red: {top:?}");
        assert!(
            bottom[2] > 200 && bottom[0] < 60,
            "bottom should be blue: {bottom:?}"
        );
        assert_eq!((thumbs[0].width, thumbs[0].height), (160, 320));
    }

    #[test]
    fn refuses_decompression_bombs_before_decoding() {
        let bytes = png_bytes(100, 100);
        let probe = probe_bytes(&bytes).unwrap();
        let options = ThumbOptions {
            max_pixels: 9_999,
            ..Default::default()
        };
        let err = make_thumbnails(&bytes, &probe, &options).unwrap_err();
        assert!(
            matches!(err, ThumbError::TooManyPixels { pixels: 10_000, .. }),
            "{err}"
        );
    }

    #[test]
    fn truncated_jpeg_fails_to_decode() {
        let bytes = jpeg_bytes(256, 256);
        let probe = probe_bytes(&bytes).unwrap();
        let err = make_thumbnails(&bytes[..bytes.len() / 2], &probe, &ThumbOptions::default())
            .unwrap_err();
        assert!(
            matches!(err, ThumbError::Decode { .. } | ThumbError::Io(_)),
            "{err}"
        );
    }

    #[test]
    fn shrink_averages_areas_and_keeps_flat_colours() {
        let flat = RgbImage::from_pixel(1999, 1001, Rgb([10, 128, 250]));
        let small = shrink(&flat, 640, 321);
        assert_eq!((small.width(), small.height()), (640, 321));
        assert!(small.pixels().all(|p| p.0 == [10, 128, 250]));
        // 2:1 of alternating black/white columns is mid grey, not aliased stripes.
        let stripes = GrayImage::from_fn(200, 10, |x, _| {
            image::Luma([if x % 2 == 0 { 0 } else { 255 }])
        });
        let half = shrink(&stripes, 100, 5);
        assert!(
            half.pixels().all(|p| (127..=128).contains(&p.0[0])),
            "{:?}",
            half.as_raw()
        );
        // A horizontal gradient stays monotonic.
        let gradient = GrayImage::from_fn(1000, 4, |x, _| image::Luma([(x / 4) as u8]));
        let g = shrink(&gradient, 300, 2);
        assert!(g.as_raw()[..300].windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn transparent_png_is_flattened_on_white() {
        let img = image::RgbaImage::from_pixel(50, 50, image::Rgba([0, 0, 0, 0]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        let bytes = out.into_inner();
        let probe = probe_bytes(&bytes).unwrap();
        let thumbs = make_thumbnails(&bytes, &probe, &ThumbOptions::default()).unwrap();
        let t = image::load_from_memory(&thumbs[0].jpeg).unwrap().to_rgb8();
        assert!(t.get_pixel(25, 25).0.iter().all(|&c| c > 240));
    }
}
