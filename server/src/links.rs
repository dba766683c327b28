//! CDN links: `{cdn.base_url}/{key}{cdn.url_suffix}`, key percent-encoded per segment.

use imgcloud_core::api;
use imgcloud_core::s3::encode_key;

use crate::config::CdnConfig;
use crate::derivatives;
use crate::store::ImageRecord;

/// Link of one object.
pub fn link(cdn: &CdnConfig, key: &str) -> String {
    format!(
        "{}/{}{}",
        cdn.base_url.trim_end_matches('/'),
        encode_key(key),
        cdn.url_suffix
    )
}

/// The API view of a stored image, with its links.
pub fn image(cdn: &CdnConfig, record: ImageRecord) -> api::Image {
    use base64::Engine;
    api::Image {
        url: link(cdn, &record.key),
        thumb_url: link(cdn, &derivatives::key(&record.id, api::THUMB)),
        preview_url: link(cdn, &derivatives::key(&record.id, api::PREVIEW)),
        thumbhash: record
            .thumbhash
            .filter(|hash| !hash.is_empty())
            .map(|hash| base64::engine::general_purpose::STANDARD.encode(hash)),
        derivatives: record.derivatives,
        derivatives_error: record.derivatives_error,
        id: record.id,
        filename: record.filename,
        size: record.size,
        sha256: record.sha256,
        content_type: record.content_type,
        width: record.width,
        height: record.height,
        taken_at: record.taken_at,
        created_at: record.created_at,
        updated_at: record.updated_at,
        deleted_at: record.deleted_at,
        tags: record.tags,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_encode_keys_and_append_the_suffix() {
        let cdn = CdnConfig {
            base_url: "https://cdn.example.com/".into(),
            url_suffix: "?x-oss-process=a".into(),
        };
        assert_eq!(
            link(&cdn, "i/abc/My Photo+1.jpg"),
            "https://cdn.example.com/i/abc/My%20Photo%2B1.jpg?x-oss-process=a"
        );
        let plain = CdnConfig {
            base_url: "http://h/bucket".into(),
            url_suffix: String::new(),
        };
        assert_eq!(
            link(&plain, "t/abc/320.jpg"),
            "http://h/bucket/t/abc/320.jpg"
        );
    }
}
