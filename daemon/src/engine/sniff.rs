//! The quick content check before a file is hashed: is it an image at all?
//!
//! Images are recognised by their first bytes, never by their name alone: a screenshot without
//! an extension is taken, a `.jpg` holding text is a per-file error (`not_an_image`), and a
//! file that is neither (a PDF or a text file next to the pictures) is none of the daemon's
//! business: it is forgotten, silently.

use std::io::Read;
use std::path::Path;

use imgcloud_core::probe::ImageFormat;

/// Bytes read for the check.
pub const HEADER_LEN: usize = 32;

/// Extensions that promise an image (a file with one that is not an image is an error).
const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "bmp", "tif", "tiff", "heic", "heif",
    "avif",
];

/// What to do with a file after its first bytes were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// An image type imgcloud accepts: hash and upload it.
    Image(ImageFormat),
    /// Promised to be an image (by its name, or because someone asked for it explicitly) but
    /// is not one: a per-file error with this code and message.
    Error { code: &'static str, message: String },
    /// Not an image and nobody said it was: forget it.
    Skip,
}

/// Whether the name says "image" (case-insensitive).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|k| k.eq_ignore_ascii_case(e)))
}

/// Decides from the first bytes. `explicit`: the file was named by someone (enqueue, PicGo),
/// so a non-image is an error whatever its name.
pub fn decide(header: &[u8], path: &Path, explicit: bool) -> Sniffed {
    if let Some(format) = ImageFormat::sniff(header) {
        return Sniffed::Image(format);
    }
    if !explicit && !has_image_extension(path) {
        return Sniffed::Skip;
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if header.is_empty() {
        return Sniffed::Error {
            code: "empty",
            message: format!(
                "{}: empty file (0 bytes); it is uploaded once it has content",
                path.display()
            ),
        };
    }
    let message = if is_heif_family(header) || matches!(ext.as_str(), "heic" | "heif" | "avif") {
        format!(
            "{}: HEIC/AVIF images are not supported yet; convert it to JPEG or PNG, or exclude it",
            path.display()
        )
    } else {
        format!(
            "{}: not an image (its content is none of JPEG, PNG, GIF, WebP, BMP, TIFF); \
             exclude it with .imgcloudignore if it belongs there",
            path.display()
        )
    };
    Sniffed::Error {
        code: "not_an_image",
        message,
    }
}

/// ISO-BMFF `ftyp` boxes of HEIC/AVIF.
fn is_heif_family(header: &[u8]) -> bool {
    header.len() >= 12
        && &header[4..8] == b"ftyp"
        && matches!(
            &header[8..12],
            b"heic" | b"heix" | b"mif1" | b"msf1" | b"avif" | b"avis" | b"hevc"
        )
}

/// Reads up to [`HEADER_LEN`] bytes (blocking).
pub fn read_header(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut header)?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn images_are_recognised_by_content_whatever_their_name() {
        assert_eq!(
            decide(PNG, Path::new("/p/Screenshot from today"), false),
            Sniffed::Image(ImageFormat::Png)
        );
        assert_eq!(
            decide(&[0xFF, 0xD8, 0xFF, 0xE0], Path::new("/p/x.png"), false),
            Sniffed::Image(ImageFormat::Jpeg)
        );
    }

    #[test]
    fn an_image_name_without_image_content_is_an_error_naming_the_file() {
        let Sniffed::Error { code, message } =
            decide(b"these are my notes", Path::new("/p/notes.JPG"), false)
        else {
            panic!("expected an error");
        };
        assert_eq!(code, "not_an_image");
        assert!(message.contains("/p/notes.JPG"), "{message}");
        let Sniffed::Error { message, .. } = decide(
            b"\0\0\0\x18ftypheic\0\0\0\0",
            Path::new("/p/IMG_1.HEIC"),
            false,
        ) else {
            panic!("expected an error");
        };
        assert!(message.contains("HEIC"), "{message}");
        assert!(matches!(
            decide(b"", Path::new("/p/a.png"), false),
            Sniffed::Error { code: "empty", .. }
        ));
    }

    #[test]
    fn other_files_are_skipped_unless_asked_for() {
        assert_eq!(
            decide(b"%PDF-1.7", Path::new("/p/doc.pdf"), false),
            Sniffed::Skip
        );
        assert_eq!(
            decide(b"hello", Path::new("/p/readme"), false),
            Sniffed::Skip
        );
        assert!(matches!(
            decide(b"%PDF-1.7", Path::new("/p/doc.pdf"), true),
            Sniffed::Error {
                code: "not_an_image",
                ..
            }
        ));
    }

    #[test]
    fn reads_at_most_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![7u8; 1000]).unwrap();
        assert_eq!(read_header(&path).unwrap().len(), HEADER_LEN);
        std::fs::write(&path, b"ab").unwrap();
        assert_eq!(read_header(&path).unwrap(), b"ab");
    }
}
