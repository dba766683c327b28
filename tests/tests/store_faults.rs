//! Completing a multipart upload when the server's own calls to the object store fail: a
//! passing fault is retried by the client, never turned into a refusal that loses the file.
//! The embedded cloud talks to its store through a fault proxy that fails chosen requests.

use imgcloud_core::upload::{UploadOptions, upload_paths};
use imgcloud_tests::http_faults::{ChosenFault, HttpFaultProxy, embedded_cloud_behind_store_proxy};
use imgcloud_tests::{EmbeddedCloud, fetch, images, sha256_hex};

const MIB: usize = 1024 * 1024;

/// An embedded cloud whose store is reached through a proxy (no random faults).
fn cloud_behind_proxy() -> (EmbeddedCloud, HttpFaultProxy) {
    embedded_cloud_behind_store_proxy(0, std::time::Duration::from_secs(1), 1).unwrap()
}

/// Uploads one 11 MiB image in parts; its link then serves exactly its bytes.
fn upload_big_image(cloud: &EmbeddedCloud, seed: u64) {
    let bytes = images::png_at_least(11 * MIB, seed);
    let path = cloud.write_file("big.png", &bytes);
    let client = cloud.client().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let outcomes = rt.block_on(upload_paths(
        &client,
        &[path],
        &UploadOptions::default(),
        |_| {},
    ));
    let image = match &outcomes[0].result {
        Ok(outcome) => outcome.image.clone(),
        Err(e) => panic!("the upload failed: {e}"),
    };
    let served = rt.block_on(fetch(&image.url)).unwrap();
    assert_eq!(served.status, 200);
    assert_eq!(sha256_hex(&served.body), sha256_hex(&bytes));
}

/// CompleteMultipartUpload answered 503 once: the client's retry completes it.
#[test]
fn a_store_that_fails_the_completion_once_is_tried_again() {
    let (cloud, proxy) = cloud_behind_proxy();
    proxy.fail_next("POST", "uploadId=", ChosenFault::Status503, 1);
    upload_big_image(&cloud, 71);
    assert_eq!(proxy.counts().status_503, 1, "the completion met its fault");
}

/// The store completed it but its answer was lost; on the retry the store no longer knows the
/// upload, and the server's look at the object fails too: still retried, then found complete.
#[test]
fn a_completion_whose_answer_and_check_are_lost_is_tried_again() {
    let (cloud, proxy) = cloud_behind_proxy();
    proxy.fail_next("POST", "uploadId=", ChosenFault::AnswerLost, 1);
    proxy.fail_next("HEAD", "/", ChosenFault::Status503, 1);
    upload_big_image(&cloud, 72);
    let counts = proxy.counts();
    assert_eq!(
        (counts.short_answers, counts.status_503),
        (1, 1),
        "both faults were met"
    );
}
