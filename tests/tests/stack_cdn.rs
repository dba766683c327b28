//! On the production stack, image links point at the CDN (nginx caching the object store): the
//! second fetch of a link is a cache HIT with the original bytes, and no image byte goes through
//! the API replicas (their body-byte counters stay far below what was uploaded and fetched).
//! Range requests (the TUI reads EXIF from an original's first bytes) get 206 and those bytes.

use imgcloud_core::upload::{UploadOptions, upload_paths};
use imgcloud_tests::images::png_at_least;
use imgcloud_tests::{Stack, fetch, sha256_hex};

const IMAGES: u64 = 8;
const MIN_BYTES: usize = 200_000;

/// Request plus response body bytes, summed over the replicas.
async fn replica_body_bytes(stack: &Stack) -> f64 {
    let request = stack
        .metric_sum("imgcloud_http_request_body_bytes_total", &[])
        .await
        .unwrap();
    let response = stack
        .metric_sum("imgcloud_http_response_body_bytes_total", &[])
        .await
        .unwrap();
    request + response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the production stack (PostgreSQL, memcached, nginx); run by scripts/test.sh"]
async fn cdn_serves_cached_intact_images_that_never_pass_through_the_replicas() {
    let stack = Stack::up().expect("stack up");
    let client = stack.client().unwrap();
    for name in [
        "imgcloud_http_request_body_bytes_total",
        "imgcloud_http_response_body_bytes_total",
    ] {
        assert!(
            stack.has_metric(name).await.unwrap(),
            "every replica's /metrics should expose {name}"
        );
    }

    let mut originals = Vec::new();
    let mut paths = Vec::new();
    for i in 0..IMAGES {
        let bytes = png_at_least(MIN_BYTES, 700 + i);
        paths.push(stack.write_file(&format!("big/b-{i}.png"), &bytes));
        originals.push(bytes);
    }
    let uploaded: usize = originals.iter().map(Vec::len).sum();

    let before = replica_body_bytes(&stack).await;
    let outcomes = upload_paths(&client, &paths, &UploadOptions::default(), |_| {}).await;
    let images: Vec<_> = outcomes
        .into_iter()
        .map(|o| o.result.expect("upload through the stack").image)
        .collect();

    let mut fetched_bytes = 0usize;
    for (image, original) in images.iter().zip(&originals) {
        assert!(
            image.url.starts_with(&format!("{}/", stack.cdn)),
            "image links point at the CDN ({}), got {}",
            stack.cdn,
            image.url
        );
        assert_eq!(image.sha256, sha256_hex(original));

        let first = fetch(&image.url).await.unwrap();
        assert_eq!(first.status, 200, "first fetch of {}", image.url);
        assert_eq!(
            sha256_hex(&first.body),
            image.sha256,
            "bytes intact on a cache miss"
        );
        assert_eq!(
            first.header("x-cache-status"),
            Some("MISS"),
            "first fetch of {} goes to the object store",
            image.url
        );

        let second = fetch(&image.url).await.unwrap();
        assert_eq!(second.status, 200);
        assert_eq!(
            second.header("x-cache-status"),
            Some("HIT"),
            "second fetch of {} is served from the CDN cache",
            image.url
        );
        assert_eq!(
            sha256_hex(&second.body),
            image.sha256,
            "bytes intact from the CDN cache"
        );
        assert_eq!(second.body.len(), original.len());
        fetched_bytes += first.body.len() + second.body.len();

        // Thumbnails are CDN links as well.
        assert!(image.thumb_url.starts_with(&format!("{}/", stack.cdn)));
        let thumb = fetch(&image.thumb_url).await.unwrap();
        assert_eq!(thumb.status, 200, "thumbnail through the CDN");
    }

    // The TUI reads the camera from an original's first bytes with a range request: the CDN
    // answers with just those bytes, on a cold cache (the 1280 px thumbnail was not fetched
    // yet) as on a warm one (the original).
    let http = reqwest::Client::new();
    for url in [&images[0].preview_url, &images[0].url] {
        let response = http
            .get(url.as_str())
            .header("range", "bytes=0-99")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 206, "range request on {url}");
        let head = response.bytes().await.unwrap();
        let full = fetch(url).await.unwrap();
        assert_eq!(head[..], full.body[..100], "first bytes of {url}");
    }

    let through_replicas = replica_body_bytes(&stack).await - before;
    let image_bytes = (uploaded + fetched_bytes) as f64;
    eprintln!(
        "image bytes uploaded + fetched: {image_bytes}, body bytes through the replicas: {through_replicas}"
    );
    assert!(
        through_replicas > 0.0,
        "the replicas' body-byte counters should count the API's own JSON"
    );
    assert!(
        through_replicas < 0.10 * uploaded as f64,
        "image bytes pass through the replicas: {through_replicas} body bytes for {uploaded} \
         uploaded image bytes"
    );
}
