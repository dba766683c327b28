//! Input validation against the configured limits: upload requests, hashes, tags, page sizes.
//! Every rejection names the offending field.

use imgcloud_core::api::{self, CreateUpload};

use crate::config::LimitsConfig;
use crate::error::ApiError;
use crate::keys::{FilenameError, sanitize_filename};

/// Content types accepted for originals.
pub const IMAGE_TYPES: [&str; 6] = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/tiff",
];

pub const MAX_TAGS: usize = 64;
pub const MAX_TAG_CHARS: usize = 64;
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// Checks a lower-case (or upper-case, normalised here) hex SHA-256.
pub fn sha256(field: &str, value: &str) -> Result<String, ApiError> {
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            field,
            "expected 64 hex digits (SHA-256)",
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// Sanitises a filename, naming `field` on failure.
pub fn filename(field: &str, value: &str, limits: &LimitsConfig) -> Result<String, ApiError> {
    sanitize_filename(value, limits.max_filename_bytes as usize).map_err(|e| match e {
        FilenameError::Empty => ApiError::bad_request(field, "must not be empty"),
        FilenameError::TooLong { max } => {
            ApiError::bad_request(field, format!("longer than {max} bytes"))
        }
    })
}

/// Most entries a tag list may hold before trimming and de-duplication. Checked before any
/// per-tag work, so a huge list (a 1 MiB body holds ~170,000 tags) costs nothing to refuse.
pub const MAX_TAG_ENTRIES: usize = 4 * MAX_TAGS;

/// Trims tags, drops empty ones and duplicates (keeping the first), bounds count and length.
/// The work is linear in the entries, and there are at most [`MAX_TAG_ENTRIES`].
pub fn tags(values: &[String]) -> Result<Vec<String>, ApiError> {
    if values.len() > MAX_TAG_ENTRIES {
        return Err(ApiError::bad_request(
            "tags",
            format!(
                "{} entries sent; send at most {MAX_TAGS} distinct tags ({MAX_TAG_ENTRIES} entries before duplicates are dropped)",
                values.len()
            ),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for tag in values {
        let tag: String = tag
            .chars()
            .filter(|c| !c.is_control())
            .collect::<String>()
            .trim()
            .to_string();
        if tag.is_empty() || seen.contains(&tag) {
            continue;
        }
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(ApiError::bad_request(
                "tags",
                format!("a tag is longer than {MAX_TAG_CHARS} characters"),
            ));
        }
        if out.len() == MAX_TAGS {
            return Err(ApiError::bad_request(
                "tags",
                format!("more than {MAX_TAGS} tags"),
            ));
        }
        seen.insert(tag.clone());
        out.push(tag);
    }
    Ok(out)
}

/// Checks an `Idempotency-Key` header value.
pub fn idempotency_key(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty()
        || value.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !value.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::bad_request(
            "Idempotency-Key",
            format!("expected 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable ASCII characters"),
        ));
    }
    Ok(value.to_string())
}

/// A `CreateUpload` that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidUpload {
    pub filename: String,
    pub sha256: String,
    /// Part size and part hashes, for multipart uploads.
    pub multipart: Option<(u64, Vec<String>)>,
}

/// Validates an upload request: size, hash, type, dimensions, filename and the part plan.
pub fn create_upload(req: &CreateUpload, limits: &LimitsConfig) -> Result<ValidUpload, ApiError> {
    if req.size == 0 {
        return Err(ApiError::bad_request("size", "must be greater than 0"));
    }
    if req.size > limits.max_upload_bytes {
        return Err(ApiError::payload_too_large(format!(
            "size: {} bytes is more than the limit of {} bytes",
            req.size, limits.max_upload_bytes
        )));
    }
    let sha256 = sha256("sha256", &req.sha256)?;
    if !IMAGE_TYPES.contains(&req.content_type.as_str()) {
        return Err(ApiError::invalid_image(format!(
            "content_type: {:?} is not supported; expected one of {}",
            req.content_type,
            IMAGE_TYPES.join(", ")
        )));
    }
    dimensions("", req.width, req.height, limits)?;
    let filename = filename("filename", &req.filename, limits)?;
    let multipart = parts(req.size, req.parts.as_deref(), limits)?;
    Ok(ValidUpload {
        filename,
        sha256,
        multipart,
    })
}

fn dimensions(
    prefix: &str,
    width: u32,
    height: u32,
    limits: &LimitsConfig,
) -> Result<(), ApiError> {
    if width == 0 || height == 0 {
        return Err(ApiError::invalid_image(format!(
            "{prefix}width and {prefix}height must be greater than 0"
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(ApiError::invalid_image(format!(
            "{prefix}width × {prefix}height = {pixels} pixels is more than the limit of {}",
            limits.max_pixels
        )));
    }
    Ok(())
}

fn parts(
    size: u64,
    parts: Option<&[String]>,
    limits: &LimitsConfig,
) -> Result<Option<(u64, Vec<String>)>, ApiError> {
    if size < limits.multipart_cutoff {
        if parts.is_some_and(|p| !p.is_empty()) {
            return Err(ApiError::bad_request(
                "parts",
                format!(
                    "must be absent for files smaller than the multipart cutoff ({} bytes)",
                    limits.multipart_cutoff
                ),
            ));
        }
        return Ok(None);
    }
    let part_size = api::multipart_part_size(size, limits.min_part_size);
    let count = api::multipart_part_count(size, part_size);
    let parts = parts.ok_or_else(|| {
        ApiError::bad_request(
            "parts",
            format!(
                "required for files of at least {} bytes (multipart upload)",
                limits.multipart_cutoff
            ),
        )
    })?;
    if parts.len() as u64 != count {
        return Err(ApiError::bad_request(
            "parts",
            format!(
                "expected {count} part hashes for parts of {part_size} bytes, got {}",
                parts.len()
            ),
        ));
    }
    let hashes = parts
        .iter()
        .enumerate()
        .map(|(i, h)| sha256(&format!("parts[{i}]"), h))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((part_size, hashes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(size: u64) -> CreateUpload {
        CreateUpload {
            filename: " cat.png ".into(),
            size,
            sha256: "AB".repeat(32),
            content_type: "image/png".into(),
            width: 4000,
            height: 3000,
            taken_at: None,
            parts: None,
            visibility: None,
        }
    }

    fn limits() -> LimitsConfig {
        LimitsConfig {
            multipart_cutoff: 1000,
            min_part_size: 300,
            ..LimitsConfig::default()
        }
    }

    #[test]
    fn valid_single_upload_is_normalised() {
        let ok = create_upload(&request(999), &limits()).unwrap();
        assert_eq!(ok.filename, "cat.png");
        assert_eq!(ok.sha256, "ab".repeat(32));
        assert!(ok.multipart.is_none());
    }

    #[test]
    fn multipart_plan_must_match() {
        let mut req = request(1000);
        assert_eq!(
            create_upload(&req, &limits()).unwrap_err().code,
            "bad_request"
        );
        req.parts = Some(vec!["c".repeat(64); 3]); // 1000 / 300 → 4 parts
        assert!(
            create_upload(&req, &limits())
                .unwrap_err()
                .message
                .contains("expected 4")
        );
        req.parts = Some(vec!["c".repeat(64); 4]);
        let (part_size, hashes) = create_upload(&req, &limits()).unwrap().multipart.unwrap();
        assert_eq!((part_size, hashes.len()), (300, 4));
        let mut small = request(10);
        small.parts = Some(vec!["c".repeat(64)]);
        assert!(create_upload(&small, &limits()).is_err());
    }

    #[test]
    fn rejections_name_the_field_and_use_the_right_code() {
        let l = limits();
        let mut r = request(0);
        assert!(
            create_upload(&r, &l)
                .unwrap_err()
                .message
                .starts_with("size")
        );
        r = request(l.max_upload_bytes + 1);
        assert_eq!(create_upload(&r, &l).unwrap_err().code, "payload_too_large");
        r = request(10);
        r.sha256 = "xyz".into();
        assert!(
            create_upload(&r, &l)
                .unwrap_err()
                .message
                .starts_with("sha256")
        );
        r = request(10);
        r.content_type = "text/html".into();
        assert_eq!(create_upload(&r, &l).unwrap_err().code, "invalid_image");
        r = request(10);
        r.width = 100_000;
        r.height = 100_000;
        assert_eq!(create_upload(&r, &l).unwrap_err().code, "invalid_image");
        r = request(10);
        r.height = 0;
        assert_eq!(create_upload(&r, &l).unwrap_err().code, "invalid_image");
        r = request(10);
        r.filename = " / ".into();
        assert_eq!(create_upload(&r, &l).unwrap().filename, "_");
        r.filename = "\u{1}  ".into();
        let err = create_upload(&r, &l).unwrap_err();
        assert_eq!(
            (err.code, err.message.starts_with("filename")),
            ("bad_request", true)
        );
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        let t = tags(&[" a ".into(), "a".into(), "".into(), "b".into()]).unwrap();
        assert_eq!(t, vec!["a", "b"]);
        assert!(tags(&["x".repeat(65)]).is_err());
        let many: Vec<String> = (0..65).map(|i| i.to_string()).collect();
        assert!(tags(&many).is_err());
        // duplicates up to the entry cap are fine
        let repeated = vec!["a".to_string(); MAX_TAG_ENTRIES];
        assert_eq!(tags(&repeated).unwrap(), vec!["a"]);
    }

    #[test]
    fn a_huge_tag_list_is_refused_before_any_per_tag_work() {
        // One entry past the cap is refused even though it would de-duplicate to one tag: the
        // count is checked first, so ~170,000 tags in a 1 MiB PATCH cost nothing.
        let repeated = vec!["a".to_string(); MAX_TAG_ENTRIES + 1];
        let err = tags(&repeated).unwrap_err();
        assert_eq!(err.code, "bad_request");
        assert!(
            err.message.contains("tags") && err.message.contains("257 entries"),
            "{}",
            err.message
        );
        let huge: Vec<String> = (0..170_000).map(|i| format!("t{i}")).collect();
        assert!(tags(&huge).unwrap_err().message.contains("170000 entries"));
    }

    #[test]
    fn idempotency_keys_are_bounded_printable_ascii() {
        assert_eq!(idempotency_key(" k-1 ").unwrap(), "k-1");
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key("a b").is_err());
        assert!(idempotency_key(&"k".repeat(129)).is_err());
    }
}
