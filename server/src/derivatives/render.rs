//! Turning an original into its derivatives: decode, shrink, turn upright, encode as JPEG with no
//! metadata, and the ThumbHash of the thumbnail. Pure Rust (zune-jpeg decodes JPEGs, the
//! `image` crate the other formats, jpeg-encoder encodes), so the server needs no system
//! library. Blocking and CPU-bound: callers run it on the derivative pool.
//!
//! The pixel count is checked from the original's own header (parsed here, never taken from
//! the client) before any pixel is decoded, and the decoders are held to that size.

use image::{DynamicImage, GrayImage, ImageBuffer, Rgb, RgbImage};
use imgcloud_core::api::Preset;
use imgcloud_core::probe::{ImageFormat, Probe, ProbeError, probe_bytes};
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

use super::shrink::fit_within;

/// JPEG quality of every derivative.
pub const QUALITY: u8 = 80;

/// Content type of every derivative.
pub const CONTENT_TYPE: &str = "image/jpeg";

/// Largest side the ThumbHash is computed from (the reference encoder's limit).
const THUMBHASH_INPUT: u32 = 100;

/// One encoded derivative.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    pub preset: Preset,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("preset", &self.preset.name)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.jpeg.len())
            .finish()
    }
}

/// What [`render`] made.
#[derive(Debug, Clone)]
pub struct Renders {
    /// One per preset asked for, in the order asked.
    pub derivatives: Vec<Rendered>,
    /// ThumbHash of the smallest derivative (≤ 25 bytes).
    pub thumbhash: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Over the server's pixel limit (decompression-bomb guard): never decoded.
    #[error("{width}×{height} is {pixels} pixels, more than the {max} this server decodes")]
    TooManyPixels {
        width: u32,
        height: u32,
        pixels: u64,
        max: u64,
    },
    /// The original is not a complete, decodable image.
    #[error("{0}")]
    Broken(String),
    #[error("cannot encode the derivative ({0})")]
    Encode(String),
}

impl RenderError {
    /// Whether the original itself is at fault (retrying cannot help).
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Encode(_))
    }
}

/// Makes `presets` (and the ThumbHash) from an original in memory.
pub fn render(
    original: &[u8],
    presets: &[Preset],
    max_pixels: u64,
) -> Result<Renders, RenderError> {
    let probe = probe_bytes(original).map_err(|e| broken(&e))?;
    check_pixels(&probe, max_pixels)?;
    let decoded = decode(original, &probe)?;
    derive(decoded, &probe, presets)
}

/// The ThumbHash of an already-made derivative (a thumbnail uploaded by an older client).
pub fn thumbhash_of(jpeg: &[u8], max_pixels: u64) -> Result<Vec<u8>, RenderError> {
    let probe = probe_bytes(jpeg).map_err(|e| broken(&e))?;
    check_pixels(&probe, max_pixels)?;
    let decoded = decode(jpeg, &probe)?;
    Ok(thumbhash(&decoded))
}

fn broken(e: &ProbeError) -> RenderError {
    RenderError::Broken(e.to_string())
}

/// The decompression-bomb guard, on the header's own numbers.
fn check_pixels(probe: &Probe, max: u64) -> Result<(), RenderError> {
    let pixels = probe.pixels();
    if pixels > max {
        return Err(RenderError::TooManyPixels {
            width: probe.width,
            height: probe.height,
            pixels,
            max,
        });
    }
    Ok(())
}

/// Decodes to 8-bit RGB or grey, alpha flattened on white (JPEG has none).
fn decode(bytes: &[u8], probe: &Probe) -> Result<DynamicImage, RenderError> {
    match probe.format {
        ImageFormat::Jpeg => decode_jpeg(bytes, probe),
        other => decode_other(bytes, other, probe),
    }
}

fn decode_jpeg(bytes: &[u8], probe: &Probe) -> Result<DynamicImage, RenderError> {
    let err = |detail: String| RenderError::Broken(format!("cannot decode the JPEG ({detail})"));
    let options = DecoderOptions::default()
        .set_max_width(probe.width.max(1) as usize)
        .set_max_height(probe.height.max(1) as usize)
        .set_strict_mode(true)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder
        .decode_headers()
        .map_err(|e| err(format!("{e:?}")))?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| err("no frame header".into()))?;
    let (width, height) = (width as u32, height as u32);
    // The frame header is what the decoder allocates for: hold it to the probed size.
    if u64::from(width) * u64::from(height) > probe.pixels().max(1) {
        return Err(err(format!(
            "the frame is {width}×{height}, the header said {}×{}",
            probe.width, probe.height
        )));
    }
    let pixels = decoder.decode().map_err(|e| err(format!("{e:?}")))?;
    let colorspace = decoder.output_colorspace().unwrap_or(ColorSpace::RGB);
    let image = match colorspace {
        ColorSpace::Luma => {
            GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        }
        ColorSpace::RGB => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
        other => return Err(err(format!("unexpected colour space {other:?}"))),
    };
    image.ok_or_else(|| err("short pixel buffer".into()))
}

fn decode_other(
    bytes: &[u8],
    format: ImageFormat,
    probe: &Probe,
) -> Result<DynamicImage, RenderError> {
    let err = |detail: String| {
        RenderError::Broken(format!("cannot decode the {} ({detail})", format.name()))
    };
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(bytes), format.image_format());
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(probe.width.max(1));
    limits.max_image_height = Some(probe.height.max(1));
    // Room for 16-bit RGBA of the probed size, and no more.
    limits.max_alloc = Some(probe.pixels().saturating_mul(8).saturating_add(1 << 20));
    reader.limits(limits);
    let image = reader.decode().map_err(|e| err(e.to_string()))?;
    Ok(match image {
        DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => image,
        other if other.color().has_alpha() => DynamicImage::ImageRgb8(flatten_on_white(&other)),
        DynamicImage::ImageLuma16(_) => DynamicImage::ImageLuma8(image.to_luma8()),
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    })
}

/// Composites an image with alpha over white.
fn flatten_on_white(image: &DynamicImage) -> RgbImage {
    let rgba = image.to_rgba8();
    ImageBuffer::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = u32::from(p[3]);
        let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    })
}

/// Largest preset first, each shrunk from the previous (less work, and area averaging stays
/// accurate); the largest is turned upright, so the smaller ones need no turning of their own.
fn derive(
    decoded: DynamicImage,
    probe: &Probe,
    presets: &[Preset],
) -> Result<Renders, RenderError> {
    let mut order: Vec<Preset> = presets.to_vec();
    order.sort_unstable_by_key(|p| std::cmp::Reverse(p.long_side));
    let mut current = decoded;
    let mut upright = false;
    let mut made = Vec::with_capacity(order.len());
    for preset in order {
        if let Some(smaller) = fit_within(&current, preset.long_side) {
            current = smaller;
        }
        if !upright {
            current.apply_orientation(orientation(probe.orientation));
            upright = true;
        }
        made.push(Rendered {
            preset,
            width: current.width(),
            height: current.height(),
            jpeg: encode(&current)?,
        });
    }
    let thumbhash = thumbhash(&current);
    let derivatives = presets
        .iter()
        .filter_map(|p| made.iter().find(|r| r.preset == *p).cloned())
        .collect();
    Ok(Renders {
        derivatives,
        thumbhash,
    })
}

fn orientation(exif: u8) -> image::metadata::Orientation {
    image::metadata::Orientation::from_exif(exif)
        .unwrap_or(image::metadata::Orientation::NoTransforms)
}

/// Baseline JPEG, 4:2:0 (grey stays grey), no metadata segment at all: nothing of the
/// original's EXIF (GPS included) reaches a derivative.
fn encode(image: &DynamicImage) -> Result<Vec<u8>, RenderError> {
    let (width, height) = (image.width(), image.height());
    let dims = |v: u32| u16::try_from(v).map_err(|_| RenderError::Encode(format!("{v} px")));
    let mut out = Vec::with_capacity((width * height / 4) as usize);
    let encoder = jpeg_encoder::Encoder::new(&mut out, QUALITY);
    let result = match image {
        DynamicImage::ImageLuma8(gray) => encoder.encode(
            gray.as_raw(),
            dims(width)?,
            dims(height)?,
            jpeg_encoder::ColorType::Luma,
        ),
        DynamicImage::ImageRgb8(rgb) => encoder.encode(
            rgb.as_raw(),
            dims(width)?,
            dims(height)?,
            jpeg_encoder::ColorType::Rgb,
        ),
        other => encoder.encode(
            other.to_rgb8().as_raw(),
            dims(width)?,
            dims(height)?,
            jpeg_encoder::ColorType::Rgb,
        ),
    };
    result.map_err(|e| RenderError::Encode(e.to_string()))?;
    Ok(out)
}

/// ThumbHash of an (upright) image, from a ≤ 100 px copy.
fn thumbhash(image: &DynamicImage) -> Vec<u8> {
    let small = fit_within(image, THUMBHASH_INPUT).unwrap_or_else(|| image.clone());
    let rgba = small.to_rgba8();
    thumbhash::rgba_to_thumb_hash(rgba.width() as usize, rgba.height() as usize, rgba.as_raw())
}

#[cfg(test)]
mod tests;
