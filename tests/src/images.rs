//! Real image files for the scenarios: noisy gradients encoded as JPEG or PNG, and JPEGs with
//! an EXIF orientation written by hand.

use image::{ImageEncoder, RgbImage};
use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A deterministic photo-like RGB picture: smooth gradients plus per-pixel noise (noise keeps
/// JPEGs photo-sized). `seed` makes different pictures.
pub fn noisy_rgb(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
    };
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let tint = (seed % 200) as f32;
    RgbImage::from_fn(width, height, |x, y| {
        let fx = x as f32 / w;
        let fy = y as f32 / h;
        let noise = |n: u8| (n as f32 - 128.0) * 0.09;
        let r = 255.0 * fx * 0.8 + tint * 0.2 + noise(next());
        let g = 255.0 * fy * 0.7 + 40.0 + noise(next());
        let b = 255.0 * (1.0 - fx) * (0.5 + 0.5 * fy) + noise(next());
        image::Rgb([
            r.clamp(0.0, 255.0) as u8,
            g.clamp(0.0, 255.0) as u8,
            b.clamp(0.0, 255.0) as u8,
        ])
    })
}

/// A JPEG of `width`×`height` at `quality` (1–100).
pub fn jpeg_quality(width: u32, height: u32, seed: u64, quality: u8) -> Vec<u8> {
    let img = noisy_rgb(width, height, seed);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .expect("encode JPEG");
    out
}

/// A JPEG of `width`×`height` at quality 90.
pub fn jpeg(width: u32, height: u32, seed: u64) -> Vec<u8> {
    jpeg_quality(width, height, seed, 90)
}

/// A PNG of `width`×`height`.
pub fn png(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let img = noisy_rgb(width, height, seed);
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), width, height, image::ExtendedColorType::Rgb8)
        .expect("encode PNG");
    out
}

/// A square PNG of at least `min_bytes` (noise barely compresses), deterministic per `seed`.
pub fn png_at_least(min_bytes: usize, seed: u64) -> Vec<u8> {
    // Noisy RGB compresses to roughly 1.5 bytes per pixel; start a little below and grow.
    let mut side = ((min_bytes as f64 / 2.0).sqrt() as u32).max(16);
    loop {
        let bytes = png(side, side, seed);
        if bytes.len() >= min_bytes {
            return bytes;
        }
        let ratio = (min_bytes as f64 / bytes.len() as f64).sqrt();
        side = ((side as f64 * ratio * 1.02) as u32).max(side + 1);
    }
}

/// A JPEG whose stored pixels are `width`×`height` with an EXIF APP1 segment carrying
/// `orientation` (1–8) right after SOI. With 6 ("rotate 90° clockwise") a viewer shows it as
/// `height`×`width`.
pub fn jpeg_with_orientation(width: u32, height: u32, seed: u64, orientation: u16) -> Vec<u8> {
    insert_exif_orientation(&jpeg(width, height, seed), orientation)
}

/// Inserts an APP1 `Exif` segment with one IFD0 entry (Orientation, tag 0x0112) after SOI.
pub fn insert_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\x00\x2A"); // big-endian TIFF header
    tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 right after the header
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padded to 4 bytes
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend_from_slice(&tiff);
    let length = u16::try_from(payload.len() + 2).expect("small segment");
    let mut out = Vec::with_capacity(jpeg.len() + payload.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Inserts an APP1 `Exif` segment with Make, Model and DateTimeOriginal (`date` as EXIF writes
/// it, "YYYY:MM:DD HH:MM:SS") after SOI.
pub fn insert_exif_camera(jpeg: &[u8], make: &str, model: &str, date: &str) -> Vec<u8> {
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    // Little-endian TIFF: IFD0 (Make, Model, ExifIFDPointer), Exif IFD (DateTimeOriginal),
    // then the strings.
    let exif_ifd = 8 + 2 + 3 * 12 + 4;
    let mut data_at = exif_ifd + 2 + 12 + 4;
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    let mut strings = Vec::new();
    for (tag, value) in [(0x010Fu16, make), (0x0110, model)] {
        let len = value.len() + 1;
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&(len as u32).to_le_bytes());
        tiff.extend_from_slice(&(data_at as u32).to_le_bytes());
        strings.extend_from_slice(value.as_bytes());
        strings.push(0);
        data_at += len;
    }
    for field in [0x8769u16.to_le_bytes(), 4u16.to_le_bytes()] {
        tiff.extend_from_slice(&field);
    }
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&(exif_ifd as u32).to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x9003u16.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&20u32.to_le_bytes());
    tiff.extend_from_slice(&(data_at as u32).to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&strings);
    tiff.extend_from_slice(date.as_bytes());
    tiff.push(0);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Inserts an APP1 `Exif` segment after SOI with the Orientation and a GPS position
/// (GPSLatitudeRef "N", GPSLatitude 52°31'12"), as a phone writes for a photo.
pub fn insert_exif_gps(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    // Little-endian TIFF: IFD0 (Orientation, GPSInfo pointer), then the GPS IFD
    // (GPSLatitudeRef, GPSLatitude), then the latitude's three rationals.
    let gps_ifd: u32 = 8 + 2 + 2 * 12 + 4;
    let rationals: u32 = gps_ifd + 2 + 2 * 12 + 4;
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    let entry = |tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&kind.to_le_bytes());
        tiff.extend_from_slice(&count.to_le_bytes());
        tiff.extend_from_slice(&value);
    };
    let o = orientation.to_le_bytes();
    entry(&mut tiff, 0x0112, 3, 1, [o[0], o[1], 0, 0]);
    entry(&mut tiff, 0x8825, 4, 1, gps_ifd.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut tiff, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut tiff, 0x0002, 5, 3, rationals.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    for (numerator, denominator) in [(52u32, 1u32), (31, 1), (12, 1)] {
        tiff.extend_from_slice(&numerator.to_le_bytes());
        tiff.extend_from_slice(&denominator.to_le_bytes());
    }
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Whether `bytes` carry any EXIF GPS field.
pub fn has_gps(bytes: &[u8]) -> bool {
    exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(bytes))
        .is_ok_and(|exif| exif.fields().any(|f| f.tag.context() == exif::Context::Gps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gps_fixture_is_read_as_gps() {
        let bytes = insert_exif_gps(&jpeg(64, 32, 1), 6);
        assert!(has_gps(&bytes));
        assert!(!has_gps(&jpeg(64, 32, 1)));
        assert!(image::load_from_memory(&bytes).is_ok());
    }

    #[test]
    fn exif_orientation_is_readable_and_the_jpeg_still_decodes() {
        let bytes = jpeg_with_orientation(64, 32, 1, 6);
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (64, 32));
        let mut decoder =
            image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&bytes)).unwrap();
        use image::ImageDecoder;
        assert_eq!(
            decoder.orientation().unwrap(),
            image::metadata::Orientation::Rotate90
        );
    }

    #[test]
    fn different_seeds_give_different_pictures_of_the_right_size() {
        let a = jpeg(40, 30, 1);
        let b = jpeg(40, 30, 2);
        assert_ne!(sha256_hex(&a), sha256_hex(&b));
        assert_eq!(jpeg(40, 30, 1), a, "deterministic");
        let p = image::load_from_memory(&png(40, 30, 3)).unwrap();
        assert_eq!((p.width(), p.height()), (40, 30));
    }
}
