//! A file above the multipart cutoff goes up in parts and round-trips intact.

use imgcloud_tests::{EmbeddedCloud, fetch, head, images, sha256_hex};

const CUTOFF: u64 = 6 * 1024 * 1024;
const MIN_PART: u64 = 5 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread")]
async fn large_file_goes_up_as_multipart_and_round_trips() {
    let cloud = EmbeddedCloud::start_with(&[
        "--multipart-cutoff",
        &CUTOFF.to_string(),
        "--min-part-size",
        &MIN_PART.to_string(),
    ])
    .expect("start embedded cloud");

    let bytes = images::png_at_least(12 * 1024 * 1024 + 512 * 1024, 21);
    assert!(
        bytes.len() as u64 > 2 * MIN_PART,
        "at least three parts ({} bytes)",
        bytes.len()
    );
    cloud.write_file("big photo.png", &bytes);

    let out = cloud.run_cli(&["upload", "big photo.png"]);
    out.assert_success();
    let link = out.lines()[0].to_string();

    let served = fetch(&link).await.expect("fetch link");
    assert_eq!(served.status, 200);
    assert_eq!(served.body.len(), bytes.len());
    assert_eq!(
        sha256_hex(&served.body),
        sha256_hex(&bytes),
        "bytes round-trip intact"
    );

    // S3 gives multipart objects an ETag "<md5 of part md5s>-<part count>".
    let parts = bytes.len().div_ceil(MIN_PART as usize);
    let head = head(&link).await.expect("HEAD link");
    let etag = head
        .header("etag")
        .expect("ETag header")
        .trim_matches('"')
        .to_string();
    assert!(
        etag.ends_with(&format!("-{parts}")),
        "ETag {etag:?} should show {parts} parts"
    );
}
