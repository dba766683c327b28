//! What the TUI's preview reads from the cloud, against the real embedded cloud: the 320 px
//! thumbnail through the preview cache, and camera + date from the original's first bytes
//! with an HTTP range request (the embedded S3 store answers ranges with 206).

use imgcloud_core::preview_cache::{DEFAULT_MAX_BYTES, PreviewCache};
use imgcloud_tests::images::insert_exif_camera;
use imgcloud_tests::{EmbeddedCloud, jpeg};

#[tokio::test(flavor = "multi_thread")]
async fn thumbnail_and_camera_come_from_the_cdn_links_of_an_uploaded_image() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    // Noisy and large: far more than the 128 KiB head the camera is read from.
    let original = insert_exif_camera(
        &jpeg(1600, 1200, 7),
        "OLYMPUS",
        "E-M5",
        "2019:06:30 07:08:09",
    );
    assert!(original.len() > 3 * imgcloud_core::photo_info::HEAD_BYTES);
    cloud.write_file("camera.jpg", &original);
    cloud.run_cli(&["upload", "camera.jpg"]).assert_success();
    let json = cloud.run_cli(&["ls", "--json"]).json();
    let image = &json[0];
    let url = image["url"].as_str().unwrap_or_else(|| panic!("{json}"));
    let thumb_url = image["thumb_url"].as_str().unwrap();

    // The store answers a range request with just that range.
    let http = reqwest::Client::new();
    let head = http
        .get(url)
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 206);
    assert_eq!(head.bytes().await.unwrap(), original[..100]);

    let dir = tempfile::tempdir().unwrap();
    let cache = PreviewCache::new(dir.path().to_path_buf(), DEFAULT_MAX_BYTES).unwrap();
    let info = cache.photo_info(url).await.unwrap();
    assert_eq!(info.camera.as_deref(), Some("OLYMPUS E-M5"));
    assert_eq!(
        info.taken_at,
        Some(time::macros::datetime!(2019-06-30 07:08:09 UTC))
    );
    let thumb = cache.thumbnail(thumb_url).await.unwrap();
    let decoded = image::load_from_memory(&thumb).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (320, 240));

    // Both are on disk now, and small: the original itself was not downloaded.
    let cached: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(cached < 100_000, "{cached} bytes cached");
    drop(cloud);
    // With the cloud gone, both still come from the disk.
    assert_eq!(cache.photo_info(url).await.unwrap(), info);
    assert_eq!(cache.thumbnail(thumb_url).await.unwrap(), thumb);
}
