//! Originals without their metadata, for share links that do not keep it: EXIF (GPS, camera
//! serial numbers, dates), XMP, IPTC and comments are removed without re-encoding the pixels.
//! The EXIF orientation survives (as a minimal EXIF block holding only it), so the picture
//! still shows upright. ICC colour profiles stay: they describe colours, not people.
//!
//! JPEG, PNG and WebP are handled; for other types ([`strippable`] is false) a share link
//! without metadata offers no original.

use bytes::Bytes;
use img_parts::ImageEXIF;
use img_parts::jpeg::{Jpeg, markers};
use img_parts::png::Png;
use img_parts::webp::WebP;

#[derive(Debug, thiserror::Error)]
#[error("cannot read the original to remove its metadata: {0}")]
pub struct StripError(String);

/// Whether originals of `content_type` can be served without their metadata.
pub fn strippable(content_type: &str) -> bool {
    matches!(content_type, "image/jpeg" | "image/png" | "image/webp")
}

/// A minimal big-endian TIFF/EXIF block holding only the orientation tag (0x0112).
fn orientation_only(orientation: u8) -> Bytes {
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"MM\0\x2a"); // big-endian TIFF
    tiff.extend_from_slice(&8u32.to_be_bytes()); // IFD0 at offset 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // one value
    tiff.extend_from_slice(&u16::from(orientation).to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    Bytes::from(tiff)
}

/// The bytes up to the end of the first image (its EOI marker): what follows it (the secondary
/// images of an MPO, a phone maker's trailer) may carry metadata of its own. Inside the
/// entropy-coded data a 0xFF is always followed by 0x00 or a restart marker, so the first
/// `FF D9` after the first scan is the primary image's end.
fn primary_image_only(bytes: Bytes) -> Bytes {
    let scan = bytes.windows(2).position(|w| w == [0xFF, 0xDA]);
    let end = scan.and_then(|at| {
        bytes[at..]
            .windows(2)
            .position(|w| w == [0xFF, 0xD9])
            .map(|p| at + p + 2)
    });
    match end {
        Some(end) => bytes.slice(..end),
        None => bytes,
    }
}

/// `original` (of `content_type`) without its metadata. CPU and memory in proportion to the
/// file; run it on a blocking thread.
pub fn strip(original: Bytes, content_type: &str) -> Result<Bytes, StripError> {
    let orientation = imgcloud_core::probe::probe_bytes(&original)
        .map(|p| p.orientation)
        .unwrap_or(1);
    let keep = (orientation > 1 && orientation <= 8).then(|| orientation_only(orientation));
    match content_type {
        "image/jpeg" => {
            let mut jpeg = Jpeg::from_bytes(original).map_err(|e| StripError(e.to_string()))?;
            // An allow-list: of the application segments only JFIF (APP0), the ICC profile
            // (APP2 "ICC_PROFILE") and Adobe's colour transform (APP14) stay. Gone: EXIF and XMP
            // (APP1), MPF (APP2), C2PA/JUMBF (APP11), IPTC (APP13), comments, and the rest.
            jpeg.segments_mut()
                .retain(|segment| match segment.marker() {
                    markers::APP0 | markers::APP14 => true,
                    markers::APP2 => segment.contents().starts_with(b"ICC_PROFILE\0"),
                    markers::APP1..=markers::APP15 | markers::COM => false,
                    _ => true,
                });
            jpeg.set_exif(keep);
            Ok(primary_image_only(jpeg.encoder().bytes()))
        }
        "image/png" => {
            let mut png = Png::from_bytes(original).map_err(|e| StripError(e.to_string()))?;
            for kind in [*b"eXIf", *b"tEXt", *b"zTXt", *b"iTXt", *b"tIME"] {
                png.remove_chunks_by_type(kind);
            }
            png.set_exif(keep);
            Ok(png.encoder().bytes())
        }
        "image/webp" => {
            let mut webp = WebP::from_bytes(original).map_err(|e| StripError(e.to_string()))?;
            webp.set_exif(None);
            webp.remove_chunks_by_id(*b"XMP ");
            if keep.is_some() {
                webp.set_exif(keep);
            }
            Ok(webp.encoder().bytes())
        }
        other => Err(StripError(format!(
            "{other} originals cannot be served without their metadata"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_with_gps() -> Vec<u8> {
        let img = image::RgbImage::from_pixel(64, 32, image::Rgb([200, 10, 10]));
        let mut plain = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut plain)
            .encode_image(&img)
            .unwrap();
        // APP1 EXIF: orientation 6 and a GPS IFD pointer (little-endian TIFF).
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"II\x2a\0\x08\0\0\0");
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&0x0112u16.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&6u32.to_le_bytes());
        tiff.extend_from_slice(&0x8825u16.to_le_bytes()); // GPSInfo
        tiff.extend_from_slice(&4u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&38u32.to_le_bytes());
        tiff.extend_from_slice(&0u32.to_le_bytes());
        // GPS IFD: GPSLatitudeRef "N"
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&1u16.to_le_bytes());
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&2u32.to_le_bytes());
        tiff.extend_from_slice(b"N\0\0\0");
        tiff.extend_from_slice(&0u32.to_le_bytes());
        let mut jpeg = Jpeg::from_bytes(Bytes::from(plain)).unwrap();
        jpeg.set_exif(Some(Bytes::from(tiff)));
        jpeg.segments_mut().insert(
            1,
            img_parts::jpeg::JpegSegment::new_with_contents(
                markers::COM,
                Bytes::from_static(b"shot at 52.52N 13.40E"),
            ),
        );
        jpeg.encoder().bytes().to_vec()
    }

    fn gps_of(bytes: &[u8]) -> bool {
        let Ok(exif) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes))
        else {
            return false;
        };
        exif.fields()
            .any(|f| f.ifd_num == exif::In::PRIMARY && f.tag.context() == exif::Context::Gps)
    }

    #[test]
    fn jpeg_loses_gps_and_comments_but_keeps_orientation_and_pixels() {
        let original = jpeg_with_gps();
        assert!(gps_of(&original), "the fixture carries GPS");
        let stripped = strip(Bytes::from(original.clone()), "image/jpeg").unwrap();
        assert!(!gps_of(&stripped), "GPS removed");
        assert!(
            !stripped.windows(6).any(|w| w == b"52.52N"),
            "comment removed"
        );
        let probe = imgcloud_core::probe::probe_bytes(&stripped).unwrap();
        assert_eq!(probe.orientation, 6, "still shown upright");
        let before = image::load_from_memory(&original).unwrap().to_rgb8();
        let after = image::load_from_memory(&stripped).unwrap().to_rgb8();
        assert_eq!(before, after, "pixels untouched");
    }

    #[test]
    fn jpeg_keeps_only_its_first_image_and_its_colour_profile() {
        let first = jpeg_with_gps();
        // A phone's trailer: a second JPEG with its own GPS; an APP11 (C2PA) segment and an
        // ICC profile in the first image.
        let mut jpeg = Jpeg::from_bytes(Bytes::from(first.clone())).unwrap();
        jpeg.segments_mut().insert(
            1,
            img_parts::jpeg::JpegSegment::new_with_contents(
                markers::APP11,
                Bytes::from_static(b"JP\0\0c2pa claim by Alice"),
            ),
        );
        jpeg.segments_mut().insert(
            1,
            img_parts::jpeg::JpegSegment::new_with_contents(
                markers::APP2,
                Bytes::from_static(b"ICC_PROFILE\0\x01\x01profile"),
            ),
        );
        let mut with_trailer = jpeg.encoder().bytes().to_vec();
        with_trailer.extend_from_slice(&first);
        let stripped = strip(Bytes::from(with_trailer), "image/jpeg").unwrap();
        assert!(!gps_of(&stripped));
        assert!(!stripped.windows(4).any(|w| w == b"c2pa"), "APP11 removed");
        assert!(
            stripped.windows(11).any(|w| w == b"ICC_PROFILE"),
            "the colour profile stays"
        );
        let ends = stripped.windows(2).filter(|w| *w == [0xFF, 0xD9]).count();
        assert_eq!(ends, 1, "one image, nothing after it");
        assert!(stripped.ends_with(&[0xFF, 0xD9]));
        assert!(image::load_from_memory(&stripped).is_ok());
    }

    #[test]
    fn png_loses_text_chunks_and_other_types_are_refused() {
        let img = image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]));
        let mut bytes = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
        let mut png = Png::from_bytes(Bytes::from(bytes)).unwrap();
        let at = png.chunks().len() - 1;
        png.chunks_mut().insert(
            at,
            img_parts::png::PngChunk::new(*b"tEXt", Bytes::from_static(b"Author\0Alice")),
        );
        let with_text = png.encoder().bytes();
        assert!(with_text.windows(5).any(|w| w == b"Alice"));
        let stripped = strip(with_text, "image/png").unwrap();
        assert!(!stripped.windows(5).any(|w| w == b"Alice"));
        assert!(image::load_from_memory(&stripped).is_ok());
        assert!(!strippable("image/tiff"));
        assert!(strip(Bytes::from_static(b"x"), "image/tiff").is_err());
    }
}
