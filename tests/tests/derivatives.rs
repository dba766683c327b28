//! Derivatives on the real binaries (the embedded cloud: `imgcloud-server` and the CLI):
//! - right after `imgcloud upload` prints its link, `thumb_url` and `preview_url` serve upright
//!   JPEGs of the preset's size with no EXIF, cacheable for a year;
//! - background jobs survive a `kill -9` of the server and finish after the restart.

use std::time::{Duration, Instant};

use imgcloud_core::api::{DerivativeState, Image, ImagePage};
use imgcloud_tests::images::jpeg_with_orientation;
use imgcloud_tests::{EmbeddedCloud, fetch, jpeg};

async fn library(cloud: &EmbeddedCloud) -> Vec<Image> {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/images?limit=200", cloud.api_url))
        .bearer_auth(cloud.token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<ImagePage>().await.unwrap().items
}

async fn metric(cloud: &EmbeddedCloud, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", cloud.api_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    imgcloud_tests::metrics::sum(&text, name, &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_serve_upright_metadata_free_derivatives_right_after_upload() {
    let cloud = EmbeddedCloud::start().unwrap();
    // 1200×800 stored, EXIF orientation 6: shown as 800×1200.
    cloud.write_file("turned.jpg", &jpeg_with_orientation(1200, 800, 41, 6));
    let upload = cloud.run_cli(&["upload", "turned.jpg"]);
    upload.assert_success();
    let link = upload.lines()[0].to_string();
    let image = library(&cloud)
        .await
        .into_iter()
        .find(|i| i.url == link)
        .expect("the uploaded image");
    assert_eq!((image.width, image.height), (800, 1200));

    for (url, long_side) in [(&image.thumb_url, 320), (&image.preview_url, 1200)] {
        let got = fetch(url).await.unwrap();
        assert_eq!(got.status, 200, "{url}: {}", got.text());
        assert_eq!(got.header("content-type"), Some("image/jpeg"), "{url}");
        let decoded = image::load_from_memory(&got.body).unwrap();
        assert_eq!(
            decoded.width().max(decoded.height()),
            long_side,
            "{url}: never larger than the original, at most the preset"
        );
        assert!(
            decoded.height() > decoded.width(),
            "{url}: upright (portrait)"
        );
        assert!(
            !got.body.windows(4).any(|w| w == b"Exif"),
            "{url}: no EXIF in a derivative"
        );
    }
    // Served again from the store, the same bytes.
    let first = fetch(&image.thumb_url).await.unwrap();
    let again = fetch(&image.thumb_url).await.unwrap();
    assert_eq!((again.status, &again.body), (200, &first.body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_jobs_survive_kill_9_and_finish_after_restart() {
    let mut cloud = EmbeddedCloud::start().unwrap();
    const COUNT: u64 = 16;
    let mut names = Vec::new();
    for i in 0..COUNT {
        let name = format!("p{i:02}.jpg");
        cloud.write_file(&format!("batch/{name}"), &jpeg(1600, 1200, 900 + i));
        names.push(name);
    }
    cloud.run_cli(&["upload", "batch"]).assert_success();
    // Links are out; the queue has barely started (it waits for uploads to go quiet).
    let pending = metric(&cloud, "imgcloud_derivative_queue_depth").await;
    assert!(
        pending > 0.0,
        "the kill should land while jobs wait (depth {pending})"
    );
    cloud.kill9_and_restart().unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let images = library(&cloud).await;
        assert_eq!(images.len() as u64, COUNT);
        let ready = images
            .iter()
            .filter(|i| i.derivatives == DerivativeState::Ready)
            .count() as u64;
        if ready == COUNT {
            assert!(
                images
                    .iter()
                    .all(|i| i.thumbhash.as_ref().is_some_and(|h| !h.is_empty()))
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{ready} of {COUNT} ready after the restart; {:?}",
            images.iter().map(|i| i.derivatives).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(metric(&cloud, "imgcloud_derivative_queue_depth").await, 0.0);
    // `imgcloud ls --json` shows where each image's derivatives stand.
    let listed = cloud.run_cli(&["ls", "--json"]).json();
    let listed = listed.as_array().expect("an array of images");
    assert_eq!(listed.len() as u64, COUNT);
    for image in listed {
        assert_eq!(image["derivatives"], "ready", "{image}");
        assert!(image["thumbhash"].as_str().is_some_and(|h| !h.is_empty()));
    }
    // Every original has its two derivatives in the store: 3 objects per image.
    assert_eq!(cloud.count_objects() as u64, 3 * COUNT);
}
