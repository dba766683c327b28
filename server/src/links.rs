//! Links of an image as its owner gets them. A public image has permanent CDN links:
//! `{cdn.base_url}/{key}{cdn.url_suffix}`, key percent-encoded per segment. An image without a
//! public link (private, or in the trash) has short-lived signed ones instead: a presigned GET
//! of its original, and `/v/{id}/{file}?exp=…&sig=…` for its derivatives (made on request, like
//! the CDN's).

use imgcloud_core::api;
use imgcloud_core::s3::encode_key;

use crate::config::CdnConfig;
use crate::derivatives;
use crate::state::AppState;
use crate::store::{ImageRecord, now};

/// Link of one object.
pub fn link(cdn: &CdnConfig, key: &str) -> String {
    format!(
        "{}/{}{}",
        cdn.base_url.trim_end_matches('/'),
        encode_key(key),
        cdn.url_suffix
    )
}

/// File name of the original in a signed view path (derivatives are `320.jpg`, `1280.jpg`).
pub const ORIGINAL_FILE: &str = "original";

/// The signed links of an image without a public one: (original, thumb, preview).
fn signed(state: &AppState, record: &ImageRecord) -> (String, String, String) {
    let expires = now() + state.config.private_link_ttl;
    let base = state.config.public_base();
    let view = |file: &str| {
        let path = format!("/v/{}/{file}", record.id);
        let query = state.signer.query(&path, expires);
        format!("{base}{path}?{query}")
    };
    let derivative = |preset: api::Preset| view(&format!("{}.jpg", preset.long_side));
    (
        view(ORIGINAL_FILE),
        derivative(api::THUMB),
        derivative(api::PREVIEW),
    )
}

/// The API view of a stored image, with its links.
pub fn image(state: &AppState, record: ImageRecord) -> api::Image {
    use base64::Engine;
    let cdn = &state.config.cdn;
    let (url, thumb_url, preview_url) = if record.served_publicly() {
        (
            link(cdn, &record.key),
            link(cdn, &derivatives::key(&record.id, api::THUMB)),
            link(cdn, &derivatives::key(&record.id, api::PREVIEW)),
        )
    } else {
        signed(state, &record)
    };
    api::Image {
        url,
        thumb_url,
        preview_url,
        visibility: record.visibility,
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
            purge: Default::default(),
        };
        assert_eq!(
            link(&cdn, "i/abc/My Photo+1.jpg"),
            "https://cdn.example.com/i/abc/My%20Photo%2B1.jpg?x-oss-process=a"
        );
        let plain = CdnConfig {
            base_url: "http://h/bucket".into(),
            url_suffix: String::new(),
            purge: Default::default(),
        };
        assert_eq!(
            link(&plain, "t/abc/320.jpg"),
            "http://h/bucket/t/abc/320.jpg"
        );
    }
}
