//! `photo_info` against the real embedded cloud: camera and date from an uploaded JPEG's
//! EXIF (a range request on the original), none for a PNG without EXIF, and from the disk
//! cache once the cloud is gone.

use serde_json::{Value, json};

use crate::test_support::{Fixture, code, jpeg_with_camera, png};

fn upload(fx: &Fixture, name: &str, bytes: Vec<u8>) -> String {
    let results = fx
        .invoke_raw(
            "upload_bytes",
            bytes,
            &[("x-filename", name), ("x-batch", "b1")],
        )
        .unwrap();
    assert!(results[0].get("error").is_none(), "{results}");
    results[0]["image"]["url"].as_str().unwrap().to_string()
}

fn info(fx: &Fixture, url: &str) -> Result<Value, Value> {
    fx.invoke("photo_info", json!({ "url": url }))
}

#[test]
fn camera_and_date_taken_come_from_the_originals_exif() {
    let mut fx = Fixture::with_cloud();
    let jpeg = jpeg_with_camera(640, 480, "OLYMPUS", "E-M5", "2019:06:30 07:08:09");
    let url = upload(&fx, "camera.jpg", jpeg);
    let plain = upload(&fx, "plain.png", png(20, 10, 1));

    let found = info(&fx, &url).unwrap();
    assert_eq!(
        found,
        json!({ "taken_at": "2019-06-30T07:08:09Z", "camera": "OLYMPUS E-M5" })
    );
    assert_eq!(
        info(&fx, &plain).unwrap(),
        json!({ "taken_at": null, "camera": null })
    );
    let err = info(&fx, "file:///etc/passwd").unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");

    // Kept on disk: with the cloud stopped the answer is the same.
    let cloud = fx.cloud.take().unwrap();
    tauri::async_runtime::block_on(cloud.shutdown()).unwrap();
    assert_eq!(info(&fx, &url).unwrap(), found);
}
