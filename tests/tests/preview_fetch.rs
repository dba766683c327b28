//! What the TUI's preview reads from the cloud, against the real embedded cloud: the 320 px
//! thumbnail through the preview cache, and camera + date from the original's first bytes
//! with an HTTP range request (the embedded S3 store answers ranges with 206).

use imgcloud_core::preview_cache::{DEFAULT_MAX_BYTES, PreviewCache};
use imgcloud_tests::{EmbeddedCloud, jpeg};

/// Inserts an APP1 `Exif` segment with Make, Model and DateTimeOriginal after SOI.
fn with_camera(jpeg: &[u8], make: &str, model: &str, date: &str) -> Vec<u8> {
    // Little-endian TIFF: IFD0 (Make, Model, ExifIFDPointer), Exif IFD (DateTimeOriginal),
    // then the strings.
    let exif_ifd = 8 + 2 + 3 * 12 + 4;
    let mut data_at = exif_ifd + 2 + 12 + 4;
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    let mut strings = Vec::new();
    for (tag, value) in [(0x010Fu16, make), (0x0110, model)] {
        let len = value.len() + 1;
        tiff.extend_from_slice(&tag.to_le_bytes());
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&(len as u32).to_le_bytes());
        tiff.extend_from_slice(&(data_at as u32).to_le_bytes());
        strings.extend_from_slice(value.as_bytes());
        strings.push(0);
        data_at += len;
    }
    for field in [0x8769u16.to_le_bytes(), 4u16.to_le_bytes()] {
        tiff.extend_from_slice(&field);
    }
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&(exif_ifd as u32).to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x9003u16.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&20u32.to_le_bytes());
    tiff.extend_from_slice(&(data_at as u32).to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&strings);
    tiff.extend_from_slice(date.as_bytes());
    tiff.push(0);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn thumbnail_and_camera_come_from_the_cdn_links_of_an_uploaded_image() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    // Noisy and large: far more than the 128 KiB head the camera is read from.
    let original = with_camera(
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
