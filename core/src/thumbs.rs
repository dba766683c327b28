//! Thumbnails: 320 px and 1280 px long side, JPEG, upright (EXIF orientation applied), never
//! upscaled.
//!
//! Speed matters (a folder of photos goes through here), so JPEGs go through libjpeg-turbo
//! (`turbojpeg`, SIMD): decoded straight to RGB at the smallest DCT scale of 1/8, 1/4, 1/2 or 1
//! whose long side is still ≥ 1280 px (libjpeg-turbo's other n/8 scales have no SIMD inverse
//! DCT and decode slower than full size), area-averaged to the 1280, turned upright (on the 1280, the smallest
//! buffer that must be upright anyway), encoded, then the 320 is averaged from the upright 1280
//! and encoded. JPEGs libjpeg-turbo refuses (CMYK, 12-bit, or only a warning such as a
//! truncated scan) get a second chance with the pure-Rust `jpeg-decoder`, which fails on
//! truncated files too. Other formats go through the `image` crate. Images over `max_pixels`
//! are refused before any pixel is decoded.

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
    check_pixels(probe.width, probe.height, options.max_pixels)?;
    let decoded = match probe.format {
        ImageFormat::Jpeg => decode_jpeg(bytes, probe, options.max_pixels)?,
        other => decode_other(Cursor::new(bytes), other, probe)?,
    };
    thumbnails_from(decoded, probe, options)
}

/// Same as [`make_thumbnails`], reading the file at `path`.
pub fn make_thumbnails_from_file(
    path: &Path,
    probe: &Probe,
    options: &ThumbOptions,
) -> Result<Vec<Thumbnail>, ThumbError> {
    check_pixels(probe.width, probe.height, options.max_pixels)?;
    let decoded = match probe.format {
        // libjpeg-turbo decodes from memory; a photo is a few MB.
        ImageFormat::Jpeg => decode_jpeg(&std::fs::read(path)?, probe, options.max_pixels)?,
        other => {
            let file = std::fs::File::open(path)?;
            decode_other(BufReader::with_capacity(256 * 1024, file), other, probe)?
        }
    };
    thumbnails_from(decoded, probe, options)
}

/// The decompression-bomb guard.
fn check_pixels(width: u32, height: u32, max: u64) -> Result<(), ThumbError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max {
        return Err(ThumbError::TooManyPixels {
            width,
            height,
            pixels,
            max,
        });
    }
    Ok(())
}

/// Largest first, each from the previous (less work, and area averaging stays accurate); the
/// largest is turned upright before it is encoded, so the smaller ones are shrunk from an
/// upright image and need no turning of their own.
fn thumbnails_from(
    decoded: DynamicImage,
    probe: &Probe,
    options: &ThumbOptions,
) -> Result<Vec<Thumbnail>, ThumbError> {
    let mut sizes = THUMB_SIZES.to_vec();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let mut encoder = Encoder::new(options.quality)?;
    let mut current = decoded;
    let mut upright = false;
    let mut thumbs = Vec::with_capacity(sizes.len());
    for size in sizes {
        if let Some(smaller) = fit_within(&current, size) {
            recycle(std::mem::replace(&mut current, smaller));
        }
        if !upright {
            current.apply_orientation(orientation(probe.orientation));
            upright = true;
        }
        thumbs.push(encoder.encode(size, &current)?);
    }
    recycle(current);
    thumbs.reverse();
    Ok(thumbs)
}

thread_local! {
    /// Pixel buffers this thread used for earlier thumbnails (a photo's decode buffer alone is
    /// megabytes: a fresh one per photo costs a page fault per 4 KiB, zeroing, and returning
    /// the memory to the system again).
    static BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Buffers kept per thread: the decoded image, the large and the small thumbnail.
const POOLED_BUFFERS: usize = 3;

/// A buffer of `len` bytes whose contents are unspecified (stale pixels of an earlier image):
/// only for callers that overwrite every byte.
fn take_buffer(len: usize) -> Vec<u8> {
    let reused = BUFFERS.with(|pool| {
        let mut pool = pool.borrow_mut();
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        best.map(|i| pool.swap_remove(i))
    });
    let mut buffer = reused.unwrap_or_default();
    // Shortening keeps the old bytes; only growth is zeroed.
    buffer.resize(len, 0);
    buffer
}

/// Hands an image's pixel buffer back for [`take_buffer`].
fn recycle(image: DynamicImage) {
    let buffer = match image {
        DynamicImage::ImageRgb8(rgb) => rgb.into_raw(),
        DynamicImage::ImageLuma8(gray) => gray.into_raw(),
        _ => return,
    };
    BUFFERS.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOLED_BUFFERS {
            pool.push(buffer);
        } else if let Some(smallest) = pool.iter_mut().min_by_key(|b| b.capacity())
            && smallest.capacity() < buffer.capacity()
        {
            *smallest = buffer;
        }
    });
}

fn orientation(exif: u8) -> image::metadata::Orientation {
    image::metadata::Orientation::from_exif(exif)
        .unwrap_or(image::metadata::Orientation::NoTransforms)
}

/// Long side the JPEG decoders aim for: the largest thumbnail.
fn decode_target() -> u32 {
    THUMB_SIZES.iter().copied().max().unwrap_or(1280)
}

/// Decodes a JPEG with libjpeg-turbo, or with `jpeg-decoder` when libjpeg-turbo refuses it.
fn decode_jpeg(bytes: &[u8], probe: &Probe, max_pixels: u64) -> Result<DynamicImage, ThumbError> {
    let long_side = decode_target();
    match decode_jpeg_turbo(bytes, long_side, max_pixels) {
        Ok(image) => return Ok(image),
        Err(TurboOutcome::Refused(err)) => return Err(err),
        Err(TurboOutcome::Unsupported) => {}
        Err(TurboOutcome::Failed(detail)) => {
            tracing::debug!(%detail, "libjpeg-turbo cannot decode this JPEG; trying jpeg-decoder");
        }
    }
    decode_jpeg_scaled(Cursor::new(bytes), probe, long_side)
}

enum TurboOutcome {
    /// Not something libjpeg-turbo turns into RGB or grey (CMYK, YCCK).
    Unsupported,
    /// libjpeg-turbo reported an error or a warning (a truncated file is a warning).
    Failed(String),
    /// A definite refusal (the pixel guard).
    Refused(ThumbError),
}

/// Decodes with libjpeg-turbo at the smallest n/8 DCT scale whose long side is still
/// ≥ `long_side`, straight to RGB (grey JPEGs to grey). Any libjpeg-turbo warning counts as a
/// failure: that is how truncated data shows up.
fn decode_jpeg_turbo(
    bytes: &[u8],
    long_side: u32,
    max_pixels: u64,
) -> Result<DynamicImage, TurboOutcome> {
    let failed = |e: turbojpeg::Error| TurboOutcome::Failed(e.to_string());
    let mut decompressor = turbojpeg::Decompressor::new().map_err(failed)?;
    let header = decompressor.read_header(bytes).map_err(failed)?;
    let (w, h) = (
        u32::try_from(header.width).unwrap_or(u32::MAX),
        u32::try_from(header.height).unwrap_or(u32::MAX),
    );
    check_pixels(w, h, max_pixels).map_err(TurboOutcome::Refused)?;
    let (format, channels) = match header.colorspace {
        turbojpeg::Colorspace::Gray => (turbojpeg::PixelFormat::GRAY, 1),
        turbojpeg::Colorspace::YCbCr | turbojpeg::Colorspace::RGB => {
            (turbojpeg::PixelFormat::RGB, 3)
        }
        _ => return Err(TurboOutcome::Unsupported),
    };
    let eighths = dct_scale_eighths(w, h, long_side);
    let (dw, dh) = (scaled(w, eighths), scaled(h, eighths));
    let pitch = dw as usize * channels;
    let mut image = turbojpeg::Image {
        // libjpeg-turbo writes every pixel.
        pixels: take_buffer(pitch * dh as usize),
        width: dw as usize,
        pitch,
        height: dh as usize,
        format,
    };
    // Given the scaled size, libjpeg-turbo picks the largest scale that fits it: ours.
    decompressor
        .decompress(bytes, image.as_deref_mut())
        .map_err(failed)?;
    let short = || TurboOutcome::Failed("short pixel buffer".into());
    if channels == 1 {
        GrayImage::from_raw(dw, dh, image.pixels)
            .map(DynamicImage::ImageLuma8)
            .ok_or_else(short)
    } else {
        RgbImage::from_raw(dw, dh, image.pixels)
            .map(DynamicImage::ImageRgb8)
            .ok_or_else(short)
    }
}

/// The smallest n of 1, 2, 4 such that the image scaled by n/8 keeps a long side ≥ `long_side`,
/// else 8 (full size). libjpeg-turbo has SIMD inverse DCTs for these scales only: at 3/4 or 7/8
/// a 2000×1500 photo decodes about 30 % slower than at full size.
fn dct_scale_eighths(width: u32, height: u32, long_side: u32) -> u32 {
    let long = width.max(height);
    [1, 2, 4]
        .into_iter()
        .find(|&n| scaled(long, n) >= long_side)
        .unwrap_or(8)
}

/// `dim` scaled by `eighths`/8, rounded up (libjpeg's `TJSCALED`).
fn scaled(dim: u32, eighths: u32) -> u32 {
    u32::try_from((u64::from(dim) * u64::from(eighths)).div_ceil(8)).unwrap_or(u32::MAX)
}

/// Decodes a JPEG with `jpeg-decoder` at the smallest of 1/8, 1/4, 1/2, 1 whose long side is
/// still ≥ `long_side`, and proves the file is complete (the decoder must reach the end-of-image
/// marker).
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

/// `image` shrunk so its long side is at most `long_side`; `None` when it already fits (never
/// enlarges).
fn fit_within(image: &DynamicImage, long_side: u32) -> Option<DynamicImage> {
    let (w, h) = (image.width(), image.height());
    let long = w.max(h);
    if long <= long_side {
        return None;
    }
    let scale = |v: u32| {
        ((u64::from(v) * u64::from(long_side) + u64::from(long) / 2) / u64::from(long)).max(1)
            as u32
    };
    let (nw, nh) = (scale(w), scale(h));
    Some(match image {
        DynamicImage::ImageRgb8(rgb) => DynamicImage::ImageRgb8(shrink(rgb, nw, nh)),
        DynamicImage::ImageLuma8(gray) => DynamicImage::ImageLuma8(shrink(gray, nw, nh)),
        other => other.resize_exact(nw, nh, FilterType::Triangle),
    })
}

/// Area-averaging downscale: every output pixel is the coverage-weighted mean of the source
/// pixels under it (alias-free for reductions), separable, in 12-bit fixed point. Rows first
/// (whole rows at a time, which vectorises), then columns on the already fewer rows, streaming
/// one intermediate row; RGB columns are summed with the three channels packed in one `u64`.
fn shrink<P>(image: &ImageBuffer<P, Vec<u8>>, width: u32, height: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: image::Pixel<Subpixel = u8> + 'static,
{
    let fallback = || image::imageops::thumbnail(image, width, height);
    let channels = usize::from(P::CHANNEL_COUNT);
    let (sw, sh) = (image.width() as usize, image.height() as usize);
    let (dw, dh) = (width.max(1) as usize, height.max(1) as usize);
    if sw == 0 || sh == 0 {
        return fallback();
    }
    let src = image.as_raw();
    let src_row_len = sw * channels;
    let out_row_len = dw * channels;
    let rows = Taps::new(sh, dh);
    let columns = Taps::new(sw, dw);
    let mut acc = vec![0u32; if rows.taps > 5 { src_row_len } else { 0 }];
    let mut mid = vec![0u8; src_row_len];
    let mut packed = vec![0u64; if channels == 3 { sw } else { 0 }];
    // Every output row is written below.
    let mut out = take_buffer(dh * out_row_len);
    for (y, out_row) in out.chunks_exact_mut(out_row_len).enumerate() {
        // Vertical: the weighted sum of the source rows under output row `y`.
        let first = rows.starts[y];
        let weights = rows.weights_of(y);
        let band = &src[first * src_row_len..(first + rows.taps) * src_row_len];
        match rows.taps {
            1 => shrink_column_taps::<1>(band, weights, &mut mid),
            2 => shrink_column_taps::<2>(band, weights, &mut mid),
            3 => shrink_column_taps::<3>(band, weights, &mut mid),
            4 => shrink_column_taps::<4>(band, weights, &mut mid),
            5 => shrink_column_taps::<5>(band, weights, &mut mid),
            _ => {
                acc.fill(1u32 << (WEIGHT_BITS - 1));
                for (row, &w) in band.chunks_exact(src_row_len).zip(weights) {
                    for (a, &v) in acc.iter_mut().zip(row) {
                        *a += u32::from(v) * u32::from(w);
                    }
                }
                for (m, &a) in mid.iter_mut().zip(&acc) {
                    *m = to_u8(a);
                }
            }
        }
        // Horizontal, within that one row.
        match channels {
            1 => shrink_row::<1>(&mid, out_row, &columns),
            2 => shrink_row::<2>(&mid, out_row, &columns),
            3 => shrink_rgb_row(&mid, &mut packed, out_row, &columns),
            4 => shrink_row::<4>(&mid, out_row, &columns),
            _ => return fallback(),
        }
    }
    ImageBuffer::from_raw(dw as u32, dh as u32, out).unwrap_or_else(fallback)
}

/// One row of the vertical pass with `T` taps: `band` is the `T` source rows under the output
/// row, `mid` gets their weighted sum (one pass, no accumulator row).
fn shrink_column_taps<const T: usize>(band: &[u8], weights: &[u16], mid: &mut [u8]) {
    let len = mid.len();
    let rows: [&[u8]; T] = std::array::from_fn(|t| &band[t * len..(t + 1) * len]);
    let weights: [u32; T] = std::array::from_fn(|t| u32::from(weights[t]));
    for (i, m) in mid.iter_mut().enumerate() {
        let mut sum = 1u32 << (WEIGHT_BITS - 1);
        for t in 0..T {
            sum += u32::from(rows[t][i]) * weights[t];
        }
        *m = to_u8(sum);
    }
}

/// Bits per channel in a packed RGB pixel: a channel's weighted sum (at most
/// `255 << WEIGHT_BITS` plus the rounding half) fits, so the channels never carry into each other.
const LANE_BITS: u32 = 21;
const _: () = assert!((255 << WEIGHT_BITS) + (1 << (WEIGHT_BITS - 1)) < 1 << LANE_BITS);
const _: () = assert!(3 * LANE_BITS <= 64);

/// Shrinks one row of RGB pixels with the channels packed in one `u64` each: one multiply per
/// tap instead of three.
fn shrink_rgb_row(src: &[u8], packed: &mut [u64], dst: &mut [u8], columns: &Taps) {
    for (to, p) in packed.iter_mut().zip(src.chunks_exact(3)) {
        *to = u64::from(p[0]) | u64::from(p[1]) << LANE_BITS | u64::from(p[2]) << (2 * LANE_BITS);
    }
    match columns.taps {
        1 => shrink_packed_taps::<1>(packed, dst, columns),
        2 => shrink_packed_taps::<2>(packed, dst, columns),
        3 => shrink_packed_taps::<3>(packed, dst, columns),
        4 => shrink_packed_taps::<4>(packed, dst, columns),
        5 => shrink_packed_taps::<5>(packed, dst, columns),
        _ => shrink_row_any::<3>(src, dst, columns),
    }
}

fn shrink_packed_taps<const T: usize>(packed: &[u64], dst: &mut [u8], columns: &Taps) {
    let half = 1u64 << (WEIGHT_BITS - 1);
    let rounding = half | half << LANE_BITS | half << (2 * LANE_BITS);
    for ((out, &start), weights) in dst
        .chunks_exact_mut(3)
        .zip(&columns.starts)
        .zip(columns.weights.chunks_exact(T))
    {
        let pixels = &packed[start..start + T];
        let mut acc = rounding;
        for t in 0..T {
            acc += pixels[t] * u64::from(weights[t]);
        }
        for (c, byte) in out.iter_mut().enumerate() {
            // Each lane is at most 255 after the shift (see `to_u8`).
            *byte = (acc >> (c as u32 * LANE_BITS + WEIGHT_BITS)) as u8;
        }
    }
}

/// Shrinks one row of `C`-channel pixels (the tap count fixed at compile time where it is small,
/// which lets the compiler unroll the loops and drop the bounds checks).
fn shrink_row<const C: usize>(src: &[u8], dst: &mut [u8], columns: &Taps) {
    match columns.taps {
        1 => shrink_row_taps::<C, 1>(src, dst, columns),
        2 => shrink_row_taps::<C, 2>(src, dst, columns),
        3 => shrink_row_taps::<C, 3>(src, dst, columns),
        4 => shrink_row_taps::<C, 4>(src, dst, columns),
        5 => shrink_row_taps::<C, 5>(src, dst, columns),
        _ => shrink_row_any::<C>(src, dst, columns),
    }
}

fn shrink_row_taps<const C: usize, const T: usize>(src: &[u8], dst: &mut [u8], columns: &Taps) {
    for ((out, &start), weights) in dst
        .chunks_exact_mut(C)
        .zip(&columns.starts)
        .zip(columns.weights.chunks_exact(T))
    {
        let pixels = &src[start * C..start * C + T * C];
        let mut acc = [1u32 << (WEIGHT_BITS - 1); C];
        for t in 0..T {
            for c in 0..C {
                acc[c] += u32::from(pixels[t * C + c]) * u32::from(weights[t]);
            }
        }
        for c in 0..C {
            out[c] = to_u8(acc[c]);
        }
    }
}

fn shrink_row_any<const C: usize>(src: &[u8], dst: &mut [u8], columns: &Taps) {
    let taps = columns.taps;
    for ((out, &start), weights) in dst
        .chunks_exact_mut(C)
        .zip(&columns.starts)
        .zip(columns.weights.chunks_exact(taps))
    {
        let pixels = &src[start * C..(start + taps) * C];
        let mut acc = [1u32 << (WEIGHT_BITS - 1); C];
        for (pixel, &w) in pixels.chunks_exact(C).zip(weights) {
            for c in 0..C {
                acc[c] += u32::from(pixel[c]) * u32::from(w);
            }
        }
        for c in 0..C {
            out[c] = to_u8(acc[c]);
        }
    }
}

/// Area weights laid out for speed: every output position has the same number of taps
/// (`taps`, zero-padded), starting at `starts[d]`, and `starts[d] + taps` never passes the end
/// of the source.
struct Taps {
    taps: usize,
    starts: Vec<usize>,
    weights: Vec<u16>,
}

impl Taps {
    fn new(src: usize, dst: usize) -> Self {
        let exact = area_weights(src, dst);
        let taps = exact
            .iter()
            .map(|(_, w)| w.len())
            .max()
            .unwrap_or(1)
            .clamp(1, src.max(1));
        let mut starts = Vec::with_capacity(dst);
        let mut weights = vec![0u16; dst * taps];
        for (d, (first, exact)) in exact.iter().enumerate() {
            let start = (*first).min(src.saturating_sub(taps));
            let offset = d * taps + (first - start);
            for (to, &w) in weights[offset..offset + exact.len()].iter_mut().zip(exact) {
                // At most `1 << WEIGHT_BITS`, which fits.
                *to = u16::try_from(w).unwrap_or(u16::MAX);
            }
            starts.push(start);
        }
        Self {
            taps,
            starts,
            weights,
        }
    }

    fn weights_of(&self, d: usize) -> &[u16] {
        &self.weights[d * self.taps..(d + 1) * self.taps]
    }
}

const WEIGHT_BITS: u32 = 12;

/// A fixed-point sum back to a byte. The weights of every output sum to exactly
/// `1 << WEIGHT_BITS` and the sums start at half of that (rounding), so the result is at most
/// 255 + ½ before the shift: no clamping needed. 16-bit weights (products of u8 × u16) let the
/// compiler multiply eight lanes at once with SSE2. 12 bits (steps of 1/4096) are plenty for
/// 8-bit pixels and leave room to pack RGB in one `u64`.
fn to_u8(sum: u32) -> u8 {
    (sum >> WEIGHT_BITS) as u8
}

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

/// libjpeg-turbo JPEG encoder at a fixed quality, 4:2:0 chroma subsampling (grey stays grey).
struct Encoder {
    compressor: turbojpeg::Compressor,
    quality: i32,
}

impl Encoder {
    fn new(quality: u8) -> Result<Self, ThumbError> {
        let compressor =
            turbojpeg::Compressor::new().map_err(|e| ThumbError::Encode(e.to_string()))?;
        Ok(Self {
            compressor,
            quality: i32::from(quality.clamp(1, 100)),
        })
    }

    fn encode(&mut self, size: u32, image: &DynamicImage) -> Result<Thumbnail, ThumbError> {
        let (width, height) = (image.width(), image.height());
        let rgb;
        let (pixels, format, subsamp) = match image {
            DynamicImage::ImageLuma8(gray) => (
                gray.as_raw().as_slice(),
                turbojpeg::PixelFormat::GRAY,
                turbojpeg::Subsamp::Gray,
            ),
            DynamicImage::ImageRgb8(colour) => (
                colour.as_raw().as_slice(),
                turbojpeg::PixelFormat::RGB,
                turbojpeg::Subsamp::Sub2x2,
            ),
            other => {
                rgb = other.to_rgb8();
                (
                    rgb.as_raw().as_slice(),
                    turbojpeg::PixelFormat::RGB,
                    turbojpeg::Subsamp::Sub2x2,
                )
            }
        };
        self.compressor.set_quality(self.quality);
        self.compressor.set_subsamp(subsamp);
        let out = self
            .compressor
            .compress_to_vec(turbojpeg::Image {
                pixels,
                width: width as usize,
                pitch: width as usize * format.size(),
                height: height as usize,
                format,
            })
            .map_err(|e| ThumbError::Encode(e.to_string()))?;
        let sha256 = hex::encode(Sha256::digest(&out));
        Ok(Thumbnail {
            size,
            width,
            height,
            jpeg: out.into(),
            sha256,
        })
    }
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
            let header = turbojpeg::read_header(&t.jpeg).unwrap();
            assert_eq!(header.subsamp, turbojpeg::Subsamp::Sub2x2);
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
        let small = image::load_from_memory(&thumbs[0].jpeg).unwrap().to_rgb8();
        let (top, bottom) = (small.get_pixel(80, 10).0, small.get_pixel(80, 310).0);
        assert!(
            top[0] > 200 && top[2] < 60,
            "small top should be red: {top:?}"
        );
        assert!(bottom[2] > 200, "small bottom should be blue: {bottom:?}");
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

    #[test]
    fn dct_scale_is_the_smallest_fast_one_keeping_the_long_side() {
        assert_eq!(dct_scale_eighths(3000, 2000, 1280), 4);
        assert_eq!(dct_scale_eighths(2000, 6000, 1280), 2);
        // 3/4 would keep 1500 px, but full size decodes faster.
        assert_eq!(dct_scale_eighths(2000, 1000, 1280), 8);
        assert_eq!(dct_scale_eighths(1400, 900, 1280), 8);
        assert_eq!(dct_scale_eighths(1280, 100, 1280), 8);
        assert_eq!(dct_scale_eighths(12_000, 9_000, 1280), 1);
        // libjpeg-turbo really decodes at that scale.
        let image = decode_jpeg_turbo(&jpeg_bytes(3000, 1500), 1280, u64::MAX).ok();
        let size = image.map(|i| (i.width(), i.height()));
        assert_eq!(size, Some((1500, 750)));
    }

    #[test]
    fn libjpeg_turbo_itself_rejects_truncated_jpegs() {
        let bytes = jpeg_bytes(256, 256);
        assert!(decode_jpeg_turbo(&bytes, 1280, u64::MAX).is_ok());
        for cut in [bytes.len() - 2, bytes.len() / 2, 700] {
            let outcome = decode_jpeg_turbo(&bytes[..cut], 1280, u64::MAX);
            assert!(
                matches!(outcome, Err(TurboOutcome::Failed(_))),
                "cut at {cut} of {} was accepted",
                bytes.len()
            );
        }
    }

    #[test]
    fn grey_jpegs_give_grey_thumbnails() {
        let grey = GrayImage::from_fn(1600, 1000, |x, _| image::Luma([(x / 7) as u8]));
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(&grey)
            .unwrap();
        let probe = probe_bytes(&bytes).unwrap();
        let thumbs = make_thumbnails(&bytes, &probe, &ThumbOptions::default()).unwrap();
        let big = image::load_from_memory(&thumbs[1].jpeg).unwrap();
        assert_eq!(big.color(), image::ColorType::L8);
        assert_eq!((big.width(), big.height()), (1280, 800));
    }

    #[test]
    fn cmyk_jpegs_fall_back_to_the_rust_decoders() {
        // libjpeg-turbo cannot turn CMYK into RGB; the `image` crate can.
        let cmyk: Vec<u8> = (0..64 * 48).flat_map(|_| [0u8, 0, 0, 0]).collect();
        let mut compressor = turbojpeg::Compressor::new().unwrap();
        compressor.set_subsamp(turbojpeg::Subsamp::None);
        let bytes = compressor
            .compress_to_vec(turbojpeg::Image {
                pixels: cmyk.as_slice(),
                width: 64,
                pitch: 64 * 4,
                height: 48,
                format: turbojpeg::PixelFormat::CMYK,
            })
            .unwrap();
        let probe = probe_bytes(&bytes).unwrap();
        assert!(matches!(
            decode_jpeg_turbo(&bytes, 1280, u64::MAX),
            Err(TurboOutcome::Unsupported)
        ));
        let thumbs = make_thumbnails(&bytes, &probe, &ThumbOptions::default()).unwrap();
        assert_eq!((thumbs[0].width, thumbs[0].height), (64, 48));
        assert!(image::load_from_memory(&thumbs[0].jpeg).is_ok());
    }

    #[test]
    fn files_and_bytes_give_the_same_thumbnails() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = with_exif(
            &jpeg_bytes(1700, 900),
            &exif_block(8, "2022:01:01 00:00:00"),
        );
        let path = dir.path().join("photo.jpg");
        std::fs::write(&path, &bytes).unwrap();
        let probe = probe_bytes(&bytes).unwrap();
        let options = ThumbOptions::default();
        let from_file = make_thumbnails_from_file(&path, &probe, &options).unwrap();
        assert_eq!(
            from_file,
            make_thumbnails(&bytes, &probe, &options).unwrap()
        );
        assert_eq!((from_file[1].width, from_file[1].height), (678, 1280));
    }

    /// Per-photo cost on a bench-like photo (3000×2000 noisy gradient, q92). Run with
    /// `cargo test --release -p imgcloud-core --lib thumbs::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing, not a check; run by hand in release mode"]
    fn timing_bench_photo() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let img = RgbImage::from_fn(3000, 2000, |x, y| {
            let mut noise = || {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                ((state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as f32 - 128.0) * 0.09
            };
            let (fx, fy) = (x as f32 / 3000.0, y as f32 / 2000.0);
            Rgb([
                (204.0 * fx + noise()).clamp(0.0, 255.0) as u8,
                (178.0 * fy + 40.0 + noise()).clamp(0.0, 255.0) as u8,
                (255.0 * (1.0 - fx) * (0.5 + 0.5 * fy) + noise()).clamp(0.0, 255.0) as u8,
            ])
        });
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
            .encode_image(&img)
            .unwrap();
        let probe = probe_bytes(&bytes).unwrap();
        let options = ThumbOptions::default();
        make_thumbnails(&bytes, &probe, &options).unwrap();
        let runs = 20;
        let start = std::time::Instant::now();
        for _ in 0..runs {
            make_thumbnails(&bytes, &probe, &options).unwrap();
        }
        let per_photo = start.elapsed() / runs;
        println!(
            "{} KB photo: {per_photo:?} per photo for both thumbnails",
            bytes.len() / 1024
        );
        let time = |what: &str, f: &mut dyn FnMut()| {
            let start = std::time::Instant::now();
            for _ in 0..runs {
                f();
            }
            println!("  {what}: {:?}", start.elapsed() / runs);
        };
        let decoded = decode_jpeg(&bytes, &probe, options.max_pixels).unwrap();
        time("decode", &mut || {
            decode_jpeg(&bytes, &probe, options.max_pixels).unwrap();
        });
        time("decode with jpeg-decoder (the fallback)", &mut || {
            decode_jpeg_scaled(Cursor::new(&bytes), &probe, 1280).unwrap();
        });
        let big = fit_within(&decoded, 1280).unwrap_or_else(|| decoded.clone());
        time("shrink to 1280", &mut || {
            if let Some(small) = fit_within(&decoded, 1280) {
                recycle(small);
            }
        });
        time("shrink to 320", &mut || {
            if let Some(small) = fit_within(&big, 320) {
                recycle(small);
            }
        });
        let mut encoder = Encoder::new(80).unwrap();
        time("encode 1280", &mut || {
            encoder.encode(1280, &big).unwrap();
        });
    }
}
