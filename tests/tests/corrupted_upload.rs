//! Bytes that do not match the announced SHA-256 are rejected by the object store itself, and
//! no image comes into existence.

use imgcloud_core::api::{CreateUploadResponse, OriginalTarget};
use imgcloud_tests::http::request;
use imgcloud_tests::protocol::{create_upload_for, post_upload, send_presigned};
use imgcloud_tests::{EmbeddedCloud, jpeg};

#[tokio::test(flavor = "multi_thread")]
async fn corrupted_bytes_through_a_presigned_url_are_rejected_and_no_image_exists() {
    let cloud = EmbeddedCloud::start().expect("start embedded cloud");
    let token = cloud.token().expect("local token");
    let bytes = jpeg(800, 600, 31);
    let body = create_upload_for("photo.jpg", &bytes).unwrap();

    let answer = post_upload(&cloud.api_url, &token, &body)
        .await
        .unwrap()
        .expect("create upload");
    let CreateUploadResponse::Upload {
        upload_id,
        original,
        ..
    } = answer
    else {
        panic!("a fresh cloud cannot already have the image")
    };
    let OriginalTarget::Single { request: target } = original else {
        panic!("small files go up in one PUT")
    };

    // Same length, one byte flipped in the middle.
    let mut corrupted = bytes.clone();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0x55;
    let rejected = send_presigned(&target, corrupted).await.unwrap();
    assert!(
        !(200..300).contains(&rejected.status),
        "the store accepted corrupted bytes: {}",
        rejected.status
    );
    assert_eq!(
        cloud.count_objects(),
        0,
        "nothing stored after the rejected PUT"
    );

    let complete = request(
        "POST",
        &format!("{}/v1/uploads/{upload_id}/complete", cloud.api_url),
        Some(&token),
        Some(&serde_json::json!({ "parts": [] })),
    )
    .await
    .unwrap();
    assert!(
        complete.status >= 400,
        "complete must fail without the original: {} {}",
        complete.status,
        complete.text()
    );
    let error: serde_json::Value = serde_json::from_slice(&complete.body).expect("JSON error body");
    assert!(error["error"]["code"].is_string(), "{error}");

    let ls = cloud.run_cli(&["ls", "--json"]);
    ls.assert_success();
    assert_eq!(
        ls.json().as_array().map(Vec::len),
        Some(0),
        "no image exists"
    );

    // The very same presigned request with the right bytes is accepted: it was the bytes.
    let accepted = send_presigned(&target, bytes).await.unwrap();
    assert!(
        (200..300).contains(&accepted.status),
        "right bytes rejected: {} {}",
        accepted.status,
        accepted.text()
    );

    let abort = request(
        "DELETE",
        &format!("{}/v1/uploads/{upload_id}", cloud.api_url),
        Some(&token),
        None,
    )
    .await
    .unwrap();
    assert_eq!(abort.status, 204, "{}", abort.text());
    assert_eq!(cloud.count_objects(), 0, "abort deletes what was uploaded");
}
