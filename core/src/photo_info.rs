//! What a photo says about itself that the server does not keep: the camera (EXIF `Make` +
//! `Model`) and the date it was taken, read from the first bytes of the original.
//!
//! EXIF sits at the start of a file (a JPEG's APP1 segment is at most 64 KiB and comes before
//! the image data; PNG's `eXIf`, WebP's `EXIF` and TIFF's IFD0 are near the start as well), so
//! [`fetch`] asks the CDN for the first [`HEAD_BYTES`] only, with an HTTP `Range` request, and
//! [`from_head`] parses what came back. Servers that ignore `Range` answer the whole file; only
//! the first [`HEAD_BYTES`] of it are read.

use std::io::Cursor;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How much of the original is fetched to find its EXIF.
pub const HEAD_BYTES: usize = 128 * 1024;

/// Camera and date from a photo's EXIF; `None` where the file does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoInfo {
    /// EXIF `DateTimeOriginal` (with its offset when the file gives one, else UTC).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub taken_at: Option<OffsetDateTime>,
    /// `Make` and `Model`, e.g. "Canon EOS R5" (the make is not repeated when the model
    /// already starts with it).
    #[serde(default)]
    pub camera: Option<String>,
}

/// Why the first bytes of an original could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum PhotoInfoError {
    #[error("the CDN answered {status} for the original")]
    Status { status: u16 },
    #[error("cannot reach the CDN: {0}")]
    Network(String),
}

/// Reads camera and date from the first bytes of an image file (JPEG, PNG, WebP, TIFF, HEIF).
/// Bytes that hold no EXIF, or are cut before its end, give an empty [`PhotoInfo`].
pub fn from_head(head: &[u8]) -> PhotoInfo {
    let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(head)) else {
        return PhotoInfo::default();
    };
    let text = |tag| {
        crate::probe::ascii(&exif, tag)
            .map(|bytes| {
                String::from_utf8_lossy(bytes)
                    .trim_matches(|c: char| c == '\0' || c.is_whitespace())
                    .to_string()
            })
            .filter(|s| !s.is_empty())
    };
    let camera = match (text(exif::Tag::Make), text(exif::Tag::Model)) {
        (Some(make), Some(model)) => {
            let first = make.split_whitespace().next().unwrap_or(&make);
            if model.to_lowercase().starts_with(&first.to_lowercase()) {
                Some(model)
            } else {
                Some(format!("{make} {model}"))
            }
        }
        (make, model) => make.or(model),
    };
    PhotoInfo {
        taken_at: crate::probe::taken_at(&exif),
        camera,
    }
}

/// The first [`HEAD_BYTES`] of the file at `url` (a public CDN link: no credentials are sent).
pub async fn fetch_head(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, PhotoInfoError> {
    let mut response = http
        .get(url)
        .header(
            reqwest::header::RANGE,
            format!("bytes=0-{}", HEAD_BYTES - 1),
        )
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| PhotoInfoError::Network(network_reason(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(PhotoInfoError::Status {
            status: status.as_u16(),
        });
    }
    let mut head = Vec::with_capacity(HEAD_BYTES.min(64 * 1024));
    while head.len() < HEAD_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => return Err(PhotoInfoError::Network(network_reason(&e))),
        }
    }
    head.truncate(HEAD_BYTES);
    Ok(head)
}

/// Camera and date of the original at `url`: [`fetch_head`] then [`from_head`].
pub async fn fetch(http: &reqwest::Client, url: &str) -> Result<PhotoInfo, PhotoInfoError> {
    Ok(from_head(&fetch_head(http, url).await?))
}

/// A reqwest error without its URL.
pub(crate) fn network_reason(e: &reqwest::Error) -> String {
    let mut reason = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.contains("://") {
            reason = format!("{reason}: {text}");
        }
        source = s.source();
    }
    reason
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probe::tests::{Field, exif_tiff, jpeg_bytes, png_bytes, with_exif};

    /// An EXIF block with Make, Model and DateTimeOriginal.
    pub(crate) fn camera_exif(make: &str, model: &str, date: &str) -> Vec<u8> {
        exif_tiff(
            &[(0x010F, Field::Ascii(make)), (0x0110, Field::Ascii(model))],
            &[(0x9003, Field::Ascii(date))],
        )
    }

    #[test]
    fn reads_camera_and_date_from_a_jpeg_head() {
        let jpeg = with_exif(
            &jpeg_bytes(64, 48),
            &camera_exif("FUJIFILM", "X-T4", "2023:04:01 18:20:30"),
        );
        let info = from_head(&jpeg);
        assert_eq!(info.camera.as_deref(), Some("FUJIFILM X-T4"));
        assert_eq!(
            info.taken_at,
            Some(time::macros::datetime!(2023-04-01 18:20:30 UTC))
        );
        // Only the first bytes are needed: the EXIF segment and a little more.
        let cut = &jpeg[..jpeg.len() / 2];
        assert_eq!(from_head(cut), info);
    }

    #[test]
    fn the_make_is_not_repeated_when_the_model_names_it() {
        let jpeg = with_exif(
            &jpeg_bytes(16, 16),
            &camera_exif("Canon", "Canon EOS R5", "2020:01:02 03:04:05"),
        );
        assert_eq!(from_head(&jpeg).camera.as_deref(), Some("Canon EOS R5"));
        let jpeg = with_exif(
            &jpeg_bytes(16, 16),
            &camera_exif("NIKON CORPORATION", "NIKON Z 6", "2020:01:02 03:04:05"),
        );
        assert_eq!(from_head(&jpeg).camera.as_deref(), Some("NIKON Z 6"));
    }

    #[test]
    fn files_without_exif_give_nothing() {
        assert_eq!(from_head(&jpeg_bytes(32, 32)), PhotoInfo::default());
        assert_eq!(from_head(&png_bytes(8, 8)), PhotoInfo::default());
        assert_eq!(from_head(b"not an image"), PhotoInfo::default());
        assert_eq!(from_head(&[]), PhotoInfo::default());
        // Cut inside the EXIF segment: nothing, and no panic.
        let jpeg = with_exif(
            &jpeg_bytes(16, 16),
            &camera_exif("A", "B", "2020:01:02 03:04:05"),
        );
        assert_eq!(from_head(&jpeg[..40]), PhotoInfo::default());
    }

    #[test]
    fn info_round_trips_through_json() {
        let info = PhotoInfo {
            taken_at: Some(time::macros::datetime!(2023-04-01 18:20:30 +02:00)),
            camera: Some("X-T4".into()),
        };
        let json = serde_json::to_string(&info).unwrap();
        assert_eq!(serde_json::from_str::<PhotoInfo>(&json).unwrap(), info);
    }
}
