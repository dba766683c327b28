use super::*;
use image::{ImageEncoder, Rgba, RgbaImage};
use imgcloud_core::api::{PREVIEW, THUMB};

const MAX: u64 = 250_000_000;

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    // Left half red, right half blue: orientation shows in where the colours end up.
    let image = RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 20, 220])
        }
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            image.as_raw(),
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

/// A little-endian TIFF with IFD0 {Orientation, GPS pointer} and a GPS IFD {GPSLatitudeRef}.
fn exif_with_orientation_and_gps(orientation: u16) -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend(8u32.to_le_bytes());
    // IFD0 at 8: 2 entries (2 + 2·12 + 4 = 30 bytes), GPS IFD at 38.
    t.extend(2u16.to_le_bytes());
    t.extend(0x0112u16.to_le_bytes());
    t.extend(3u16.to_le_bytes());
    t.extend(1u32.to_le_bytes());
    t.extend(u32::from(orientation).to_le_bytes());
    t.extend(0x8825u16.to_le_bytes());
    t.extend(4u16.to_le_bytes());
    t.extend(1u32.to_le_bytes());
    t.extend(38u32.to_le_bytes());
    t.extend(0u32.to_le_bytes());
    // GPS IFD: GPSLatitudeRef = "N".
    t.extend(1u16.to_le_bytes());
    t.extend(0x0001u16.to_le_bytes());
    t.extend(2u16.to_le_bytes());
    t.extend(2u32.to_le_bytes());
    t.extend([b'N', 0, 0, 0]);
    t.extend(0u32.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(t);
    app1
}

/// `jpeg` with an APP1 EXIF segment right after SOI.
fn with_app1(jpeg: &[u8], app1: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

#[test]
fn makes_every_preset_without_enlarging() {
    let made = render(&jpeg(3000, 1500), &[THUMB, PREVIEW], MAX).unwrap();
    let sizes: Vec<_> = made
        .derivatives
        .iter()
        .map(|d| (d.preset.name, d.width, d.height))
        .collect();
    assert_eq!(sizes, [("thumb", 320, 160), ("preview", 1280, 640)]);
    for d in &made.derivatives {
        let decoded = image::load_from_memory(&d.jpeg).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (d.width, d.height));
    }
    let small = render(&jpeg(200, 100), &[PREVIEW], MAX).unwrap();
    assert_eq!(
        (small.derivatives[0].width, small.derivatives[0].height),
        (200, 100)
    );
}

#[test]
fn derivatives_are_upright_and_carry_no_exif_or_gps() {
    let original = with_app1(&jpeg(400, 200), &exif_with_orientation_and_gps(6));
    assert!(original.windows(4).any(|w| w == b"Exif"));
    let made = render(&original, &[THUMB], MAX).unwrap();
    let thumb = &made.derivatives[0];
    // Orientation 6 turns a 400×200 into a 200×400 portrait: red (left) ends up on top.
    assert_eq!((thumb.width, thumb.height), (160, 320));
    let decoded = image::load_from_memory(&thumb.jpeg).unwrap().to_rgb8();
    let top = decoded.get_pixel(80, 20).0;
    let bottom = decoded.get_pixel(80, 300).0;
    assert!(top[0] > 150 && top[2] < 100, "top {top:?}");
    assert!(bottom[2] > 150 && bottom[0] < 100, "bottom {bottom:?}");
    // No APP1 (EXIF/XMP) segment, no GPS: nothing of the original's metadata.
    assert!(!thumb.jpeg.windows(4).any(|w| w == b"Exif"));
    assert!(!thumb.jpeg.windows(2).any(|w| w == [0xFF, 0xE1]));
}

#[test]
fn bombs_are_refused_from_the_header_before_decoding() {
    // A PNG whose header claims 100000 × 100000 (10¹⁰ pixels), with almost no data.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    png.extend(0u32.to_be_bytes());
    png.extend(b"IEND");
    png.extend(crc32(b"IEND").to_be_bytes());
    let err = render(&png, &[THUMB], MAX).unwrap_err();
    assert!(
        matches!(
            err,
            RenderError::TooManyPixels {
                pixels: 10_000_000_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_permanent());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn truncated_and_fake_originals_are_broken() {
    let full = jpeg(640, 480);
    let truncated = &full[..full.len() / 2];
    let err = render(truncated, &[THUMB], MAX).unwrap_err();
    assert!(matches!(err, RenderError::Broken(_)), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    let err = render(b"not an image at all", &[THUMB], MAX).unwrap_err();
    assert!(matches!(err, RenderError::Broken(_)), "{err}");
}

#[test]
fn transparent_png_is_flattened_on_white_and_thumbhash_is_small() {
    let image = RgbaImage::from_pixel(300, 200, Rgba([0, 0, 0, 0]));
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(image.as_raw(), 300, 200, image::ExtendedColorType::Rgba8)
        .unwrap();
    let made = render(&png, &[THUMB], MAX).unwrap();
    let decoded = image::load_from_memory(&made.derivatives[0].jpeg)
        .unwrap()
        .to_rgb8();
    assert!(decoded.get_pixel(10, 10).0.iter().all(|&c| c > 245));
    assert!(
        (1..=25).contains(&made.thumbhash.len()),
        "{}",
        made.thumbhash.len()
    );
}

#[test]
fn thumbhash_tracks_the_colours_and_can_be_read_from_a_stored_thumbnail() {
    let made = render(&jpeg(800, 400), &[THUMB], MAX).unwrap();
    let (r, _, b, _) = thumbhash::thumb_hash_to_average_rgba(&made.thumbhash).unwrap();
    // Half red, half blue: both channels well present.
    assert!(r > 0.3 && b > 0.3, "{r} {b}");
    let again = thumbhash_of(&made.derivatives[0].jpeg, MAX).unwrap();
    assert!(again.len() <= 25);
}
