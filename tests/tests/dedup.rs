//! Uploading the same file again gives the same link and stores nothing new.

use imgcloud_tests::{EmbeddedCloud, jpeg};

#[test]
fn second_upload_of_the_same_bytes_returns_the_same_link_and_stores_nothing() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    let bytes = jpeg(900, 600, 11);
    cloud.write_file("first.jpg", &bytes);

    let first = cloud.run_cli(&["upload", "first.jpg"]);
    first.assert_success();
    let link = first.lines()[0].to_string();
    // The original at once; the cloud's background queue adds the two derivatives.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while cloud.count_objects() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let objects = cloud.count_objects();
    assert_eq!(
        objects,
        3,
        "original + two derivatives made by the cloud (objects dir: {:?})",
        cloud.cloud_dir()
    );
    let images = cloud
        .run_cli(&["ls", "--json"])
        .json()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(images, 1);

    // Same path again, and the same bytes under another name: neither is a new image.
    cloud.write_file("copy of first.jpg", &bytes);
    let again = cloud.run_cli(&["upload", "first.jpg", "copy of first.jpg", "--json"]);
    again.assert_success();
    let report = again.json();
    let files = report["files"].as_array().expect("files array");
    assert_eq!(files.len(), 2);
    for file in files {
        assert_eq!(file["status"], "exists", "{again}");
        assert_eq!(file["link"], link.as_str(), "same link as the first upload");
    }
    assert_eq!(report["uploaded"], 0);
    assert_eq!(report["exists"], 2);
    assert!(again.stderr.contains("2 already there"), "{again}");

    assert_eq!(
        cloud
            .run_cli(&["ls", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        images,
        "no new image"
    );
    assert_eq!(cloud.count_objects(), objects, "no new object in the store");

    // Plain output is the same link as before.
    let plain = cloud.run_cli(&["upload", "first.jpg"]);
    plain.assert_success();
    assert_eq!(plain.lines(), [link.as_str()]);
}
