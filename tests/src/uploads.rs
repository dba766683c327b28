//! Uploading a batch of generated photos through a client, for the drills that check what a
//! database copy kept.

use std::path::Path;

use imgcloud_core::api::Image;
use imgcloud_core::client::Client;
use imgcloud_core::upload::{UploadOptions, upload_paths};

/// Writes `n` distinct `width`×`height` JPEGs (seeds `seed`, `seed + 1`, …) into `dir` and
/// uploads them one by one: each image with the SHA-256 of its bytes.
pub async fn upload_jpegs(
    client: &Client,
    dir: &Path,
    n: u64,
    seed: u64,
    (width, height): (u32, u32),
) -> Vec<(Image, String)> {
    std::fs::create_dir_all(dir).expect("create the upload folder");
    let mut uploaded = Vec::new();
    for i in 0..n {
        let bytes = crate::jpeg(width, height, seed + i);
        let path = dir.join(format!("{}.jpg", seed + i));
        std::fs::write(&path, &bytes).expect("write a test photo");
        let image = upload_paths(client, &[path], &UploadOptions::default(), |_| {})
            .await
            .remove(0)
            .result
            .expect("upload")
            .image;
        uploaded.push((image, crate::sha256_hex(&bytes)));
    }
    uploaded
}
