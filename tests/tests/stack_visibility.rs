//! On the production stack (nginx CDN in front of the object store, two replicas, PostgreSQL,
//! memcached): a public link cached by the CDN stops serving through the CDN when its image is
//! made private or trashed, and comes back when it is made public or restored. The issue asks
//! for 60 s; the CDN revalidates every 30 s, and the cloud's refresh makes it immediate.

use std::time::{Duration, Instant};

use imgcloud_core::api::{ImagePatch, Visibility};
use imgcloud_core::upload::{UploadOptions, upload_paths};
use imgcloud_tests::{Stack, fetch, jpeg, sha256_hex};

/// Longest wait for a link to change state (the bound).
const BOUND: Duration = Duration::from_secs(60);

/// Fetches `url` until `serves(status)` holds; how long that took.
async fn until(url: &str, serves: bool) -> Duration {
    let started = Instant::now();
    loop {
        let status = fetch(url).await.unwrap().status;
        if (status == 200) == serves {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < BOUND,
            "{url} still answers {status} after {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the production stack (PostgreSQL, memcached, nginx); run by scripts/test.sh"]
async fn private_and_trashed_images_stop_serving_through_the_cdn() {
    let stack = Stack::up().expect("stack up");
    let client = stack.client().unwrap();
    let bytes = jpeg(1200, 800, 41);
    let path = stack.write_file("vis/photo.jpg", &bytes);
    let image = upload_paths(&client, &[path], &UploadOptions::default(), |_| {})
        .await
        .remove(0)
        .result
        .expect("upload")
        .image;
    // Cached by the CDN: original and thumbnail.
    for url in [&image.url, &image.thumb_url] {
        assert_eq!(fetch(url).await.unwrap().status, 200, "{url}");
        let again = fetch(url).await.unwrap();
        assert_eq!(again.header("x-cache-status"), Some("HIT"), "{url}");
    }

    let private = ImagePatch {
        visibility: Some(Visibility::Private),
        ..ImagePatch::default()
    };
    let changed = client.patch_image(&image.id, &private).await.unwrap();
    assert_eq!(changed.visibility, Visibility::Private);
    for url in [&image.url, &image.thumb_url] {
        let took = until(url, false).await;
        println!("made private: {url} stopped serving through the CDN after {took:?}");
        assert!(
            took < Duration::from_secs(5),
            "the refresh should act at once: {took:?}"
        );
    }
    // The owner still sees it, through signed links that go past the CDN.
    let signed = fetch(&changed.url).await.unwrap();
    assert_eq!(sha256_hex(&signed.body), sha256_hex(&bytes));
    assert_eq!(fetch(&changed.thumb_url).await.unwrap().status, 200);

    let public = ImagePatch {
        visibility: Some(Visibility::Public),
        ..ImagePatch::default()
    };
    client.patch_image(&image.id, &public).await.unwrap();
    for url in [&image.url, &image.thumb_url] {
        let took = until(url, true).await;
        println!("made public again: {url} served after {took:?}");
    }
    assert_eq!(
        sha256_hex(&fetch(&image.url).await.unwrap().body),
        sha256_hex(&bytes),
        "the same link serves the same bytes"
    );

    client.trash(&image.id).await.unwrap();
    let took = until(&image.url, false).await;
    println!("trashed: stopped serving after {took:?}");
    client.restore(&image.id).await.unwrap();
    let took = until(&image.url, true).await;
    println!("restored: served again after {took:?}");
}
