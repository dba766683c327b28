//! Ids, object keys and filename sanitisation.
//!
//! Image ids are 16 base62 characters from the OS CSPRNG (≈ 95 bits). Originals live at
//! `i/{id}/{sanitized filename}` and thumbnails at `t/{id}/{size}.jpg`, so keys never collide
//! and the original filename stays readable in the link. The objects of an image without a
//! public link (private, or in the trash) live at the same keys under `p/`.

use rand::Rng;
use rand::distributions::Alphanumeric;

/// Length of an image id.
pub const IMAGE_ID_LEN: usize = 16;

fn random_base62(len: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A new image id: 16 base62 characters.
pub fn new_image_id() -> String {
    random_base62(IMAGE_ID_LEN)
}

/// A new upload session id (22 base62 characters).
pub fn new_upload_id() -> String {
    random_base62(22)
}

/// A new user id (22 base62 characters).
pub fn new_user_id() -> String {
    random_base62(22)
}

/// A new API token: `ic_` + 40 base62 characters (≈ 238 bits).
pub fn new_token() -> String {
    format!("ic_{}", random_base62(40))
}

/// What the database keeps of a token: its lower-case hex SHA-256.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Whether `id` looks like an id this server issued (base62, sane length); anything else is
/// answered with 404 without a database round trip.
pub fn is_plausible_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Object key of an original.
pub fn original_key(image_id: &str, sanitized_filename: &str) -> String {
    format!("i/{image_id}/{sanitized_filename}")
}

/// Object key of a thumbnail.
pub fn thumb_key(image_id: &str, size: u32) -> String {
    format!("t/{image_id}/{size}.jpg")
}

/// Prefix of objects that have no public link (private and trashed images): the bucket and
/// the CDN serve anonymous reads of `i/` and `t/` only.
pub const PRIVATE_PREFIX: &str = "p/";

/// Where the object whose public key is `key` lives: at `key` itself while its image's link
/// serves, under [`PRIVATE_PREFIX`] otherwise.
pub fn placed(key: &str, public: bool) -> String {
    if public {
        key.to_string()
    } else {
        format!("{PRIVATE_PREFIX}{key}")
    }
}

/// Whether anonymous reads of `key` are allowed: originals (`i/`) and derivatives (`t/`) only,
/// never `p/` (private and trashed images). A key with a `.`, `..` or empty segment, or a
/// backslash, is refused: a store that resolves `i/../p/…` on disk would otherwise serve a
/// private object.
pub fn publicly_readable(key: &str) -> bool {
    (key.starts_with("i/") || key.starts_with("t/"))
        && !key.contains('\\')
        && key
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilenameError {
    #[error("filename is empty")]
    Empty,
    #[error("filename is longer than {max} bytes")]
    TooLong { max: usize },
}

/// Makes a user-supplied filename safe as a display name and as the last segment of an object
/// key: path separators (`/`, `\`) become `_`, control characters are dropped, `..` segments
/// cannot appear, surrounding whitespace is trimmed. Unicode and inner spaces are kept. Names
/// longer than `max_bytes` are rejected (not silently cut).
pub fn sanitize_filename(name: &str, max_bytes: usize) -> Result<String, FilenameError> {
    let cleaned: String = name
        .chars()
        .filter(|c| !c.is_control() && !is_invisible_or_bidi(*c))
        .map(|c| if c == '/' || c == '\\' { '_' } else { c })
        .collect();
    let trimmed = cleaned.trim();
    // A name made only of dots (".", "..", "...") is a path segment, never a file name.
    let name = if trimmed.chars().all(|c| c == '.') {
        trimmed.replace('.', "_")
    } else {
        trimmed.to_string()
    };
    if name.is_empty() {
        return Err(FilenameError::Empty);
    }
    if name.len() > max_bytes {
        return Err(FilenameError::TooLong { max: max_bytes });
    }
    Ok(name)
}

/// Characters that change how a name is displayed without being seen: bidirectional
/// overrides and isolates (`photo\u{202E}gpj.exe` shows as `photoexe.jpg`), marks, zero-width
/// spaces, line separators, the BOM and tag characters. The zero-width joiner and non-joiner
/// stay: scripts and emoji need them, and they reorder nothing.
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_prefixes_without_dot_segments_are_publicly_readable() {
        for key in ["i/abc/cat.png", "t/abc/320.jpg", "i/abc/My Photo.v2.jpg"] {
            assert!(publicly_readable(key), "{key}");
        }
        for key in [
            "p/i/abc/cat.png",
            "i/../p/i/abc/cat.png",
            "t/./../p/t/abc/320.jpg",
            "i//p/x",
            "i/abc/..",
            "i\\..\\p\\x",
            "x/abc",
            "",
            "/i/abc",
        ] {
            assert!(!publicly_readable(key), "{key}");
        }
    }

    #[test]
    fn bidi_overrides_and_invisible_characters_are_dropped() {
        // shown as "photoexe.jpg" by a bidi-aware viewer
        assert_eq!(
            sanitize_filename("photo\u{202E}gpj.exe", 255).unwrap(),
            "photogpj.exe"
        );
        assert_eq!(
            sanitize_filename("\u{FEFF}a\u{200B}b\u{2066}c\u{2069}\u{200F}.png", 255).unwrap(),
            "abc.png"
        );
        // scripts and emoji keep their joiners
        assert_eq!(
            sanitize_filename("می\u{200C}خواهم 👨\u{200D}👩.jpg", 255).unwrap(),
            "می\u{200C}خواهم 👨\u{200D}👩.jpg"
        );
        // nothing left but invisible characters: empty
        assert!(sanitize_filename("\u{202E}\u{200B}", 255).is_err());
    }

    #[test]
    fn image_ids_are_base62_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_image_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        );
    }

    #[test]
    fn sanitize_removes_traversal_separators_and_controls() {
        assert_eq!(
            sanitize_filename("../../etc/passwd", 255).unwrap(),
            ".._.._etc_passwd"
        );
        assert_eq!(sanitize_filename("a\\b/c.png", 255).unwrap(), "a_b_c.png");
        assert_eq!(
            sanitize_filename("  bad\u{0}\n\u{7f}name.jpg \t", 255).unwrap(),
            "badname.jpg"
        );
        assert_eq!(sanitize_filename("..", 255).unwrap(), "__");
        let name = sanitize_filename("..", 255).unwrap();
        assert!(
            !original_key("x", &name)
                .split('/')
                .any(|seg| seg == ".." || seg == ".")
        );
    }

    #[test]
    fn sanitize_keeps_unicode_and_spaces() {
        assert_eq!(
            sanitize_filename("My Photo (1) ü €.jpg", 255).unwrap(),
            "My Photo (1) ü €.jpg"
        );
        assert_eq!(sanitize_filename("照片.png", 255).unwrap(), "照片.png");
    }

    #[test]
    fn sanitize_rejects_empty_and_too_long() {
        assert_eq!(sanitize_filename("   ", 255), Err(FilenameError::Empty));
        assert_eq!(
            sanitize_filename("\u{1}\u{2}", 255),
            Err(FilenameError::Empty)
        );
        let long = "é".repeat(128); // 256 bytes
        assert_eq!(
            sanitize_filename(&long, 255),
            Err(FilenameError::TooLong { max: 255 })
        );
        assert!(sanitize_filename(&"é".repeat(127), 255).is_ok());
    }

    #[test]
    fn keys_have_the_documented_shape() {
        assert_eq!(original_key("abc", "x y.png"), "i/abc/x y.png");
        assert_eq!(thumb_key("abc", 320), "t/abc/320.jpg");
        assert_eq!(token_hash("t").len(), 64);
        assert_ne!(token_hash("a"), token_hash("b"));
        assert!(new_token().starts_with("ic_"));
        assert!(is_plausible_id("abcXYZ019"));
        assert!(!is_plausible_id("../x"));
        assert!(!is_plausible_id(""));
    }
}
