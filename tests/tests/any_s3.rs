//! imgcloud on S3-compatible stores that are not its own: `scripts/with-s3-peer.sh` starts
//! SeaweedFS or moto, and the production server runs on it. Upload (single and multipart),
//! dedup, the cloud's derivatives and delete work the same on each; bytes that differ from their
//! signed SHA-256 are refused by a store that verifies checksums, and the server says at start
//! whether the store does.

use std::time::{Duration, Instant};

use imgcloud_core::api::{CompletedPart, CreateUploadResponse, OriginalTarget};
use imgcloud_core::client::Client;
use imgcloud_tests::http::request;
use imgcloud_tests::production::{PeerStore, ProductionServer};
use imgcloud_tests::protocol::{create_upload_for, post_upload, send_presigned};
use imgcloud_tests::{fetch, images, jpeg, sha256_hex};

const MIB: usize = 1024 * 1024;
const LIMITS: &str = "multipart_cutoff = 6291456\nmin_part_size = 5242880";

fn server() -> ProductionServer {
    let store = PeerStore::from_env().expect("a peer store");
    ProductionServer::start(&store, LIMITS).expect("start imgcloud-server")
}

/// Polls `url` until it answers `status` (derivatives are made in the background).
async fn wait_status(url: &str, status: u16) -> imgcloud_tests::Fetched {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = fetch(url).await.expect("fetch");
        if got.status == status || Instant::now() > deadline {
            assert_eq!(got.status, status, "{url}: {}", got.text());
            return got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3 peer; scripts/test.sh runs it through scripts/with-s3-peer.sh"]
async fn upload_multipart_dedup_derivatives_and_delete() {
    let server = server();
    let token = server.add_user("alice").unwrap();
    let small = jpeg(640, 480, 71);
    let big = images::png_at_least(12 * MIB + 300 * 1024, 72);
    server.write_file("small.jpg", &small);
    server.write_file("big.png", &big);

    let out = server.run_cli(&token, &["upload", "small.jpg", "big.png"]);
    out.assert_success();
    let links: Vec<String> = out.lines().iter().map(|l| l.to_string()).collect();
    assert_eq!(links.len(), 2, "{out}");
    for (link, bytes) in links.iter().zip([&small, &big]) {
        assert!(link.starts_with(&server.store.bucket_url()), "{link}");
        let served = fetch(link).await.unwrap();
        assert_eq!(served.status, 200, "{link}");
        assert_eq!(sha256_hex(&served.body), sha256_hex(bytes), "{link}");
    }

    // The same bytes again, under another name too: the same links, nothing new.
    server.write_file("copy.png", &big);
    let again = server.run_cli(&token, &["upload", "big.png", "copy.png", "small.jpg"]);
    again.assert_success();
    assert_eq!(again.lines(), [&*links[1], &*links[1], &*links[0]]);
    let client = Client::new(&server.api_url, Some(token.clone())).unwrap();
    let listed = client.list_images(&Default::default()).await.unwrap().items;
    assert_eq!(listed.len(), 2, "{listed:?}");

    // The cloud makes and stores the derivatives on this store.
    for image in &listed {
        let thumb = wait_status(&image.thumb_url, 200).await;
        assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
        assert!(thumb.body.starts_with(&[0xFF, 0xD8]), "a JPEG thumbnail");
    }

    // Delete for good: the original and its derivatives leave the store.
    for image in &listed {
        client.trash(&image.id).await.unwrap();
        client.purge(&image.id).await.unwrap();
        wait_status(&image.url, 404).await;
        wait_status(&image.thumb_url, 404).await;
    }
    assert!(
        client
            .list_images(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3 peer; scripts/test.sh runs it through scripts/with-s3-peer.sh"]
async fn bytes_that_differ_from_their_checksum() {
    let server = server();
    let token = server.add_user("bob").unwrap();
    let store = server.store.clone();

    // Single PUT: one byte flipped, same length.
    let bytes = jpeg(800, 600, 73);
    let answer = post_upload(
        &server.api_url,
        &token,
        &create_upload_for("a.jpg", &bytes).unwrap(),
    )
    .await
    .unwrap()
    .expect("create upload");
    let CreateUploadResponse::Upload {
        upload_id,
        original: OriginalTarget::Single { request: target },
        ..
    } = answer
    else {
        panic!("a small file goes up in one PUT: {answer:?}")
    };
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x55;
    let put = send_presigned(&target, flipped).await.unwrap();
    let complete = request(
        "POST",
        &format!("{}/v1/uploads/{upload_id}/complete", server.api_url),
        Some(&token),
        Some(&serde_json::json!({ "parts": [] })),
    )
    .await
    .unwrap();
    if store.verifies {
        assert!(
            put.status >= 400,
            "{} accepted wrong bytes: {}",
            store.name,
            put.status
        );
        assert!(
            complete.status >= 400,
            "complete without the original: {}",
            complete.text()
        );
    } else {
        // What such a store does: it takes them, and only the size check stands.
        assert_eq!(put.status, 200, "{}", put.text());
    }

    // Multipart: the second part's bytes flipped.
    let big = images::png_at_least(11 * MIB, 74);
    let mut body = create_upload_for("big.png", &big).unwrap();
    let part_size = imgcloud_core::api::multipart_part_size(big.len() as u64, 5 * MIB as u64);
    body.parts = Some(big.chunks(part_size as usize).map(sha256_hex).collect());
    let answer = post_upload(&server.api_url, &token, &body)
        .await
        .unwrap()
        .expect("create");
    let CreateUploadResponse::Upload {
        upload_id,
        original: OriginalTarget::Multipart { parts, .. },
        ..
    } = answer
    else {
        panic!("a big file goes up in parts: {answer:?}")
    };
    assert!(parts.len() >= 2, "{parts:?}");
    let mut completed = Vec::new();
    let mut refused = Vec::new();
    for part in &parts {
        let start = part.offset as usize;
        let mut chunk = big[start..start + part.length as usize].to_vec();
        if part.number == 2 {
            chunk[7] ^= 0x01;
        }
        let sent = send_presigned(&part.request, chunk).await.unwrap();
        if (200..300).contains(&sent.status) {
            let etag = sent.header("etag").expect("ETag").to_string();
            completed.push(CompletedPart {
                number: part.number,
                etag,
            });
        } else {
            refused.push(part.number);
        }
    }
    if store.verifies {
        assert_eq!(
            refused,
            [2],
            "{} must refuse exactly the flipped part",
            store.name
        );
        // The right bytes through the same URL go in; then the upload completes intact.
        let start = parts[1].offset as usize;
        let good = big[start..start + parts[1].length as usize].to_vec();
        let sent = send_presigned(&parts[1].request, good).await.unwrap();
        assert_eq!(sent.status, 200, "{}", sent.text());
        completed.insert(
            1,
            CompletedPart {
                number: 2,
                etag: sent.header("etag").unwrap().to_string(),
            },
        );
        let done = request(
            "POST",
            &format!("{}/v1/uploads/{upload_id}/complete", server.api_url),
            Some(&token),
            Some(&serde_json::json!({ "parts": completed })),
        )
        .await
        .unwrap();
        assert_eq!(done.status, 200, "{}", done.text());
        let image: imgcloud_core::api::Image = serde_json::from_slice(&done.body).unwrap();
        let served = fetch(&image.url).await.unwrap();
        assert_eq!(sha256_hex(&served.body), sha256_hex(&big), "served intact");
    } else {
        assert!(refused.is_empty(), "{refused:?}");
    }

    // The server said at start which kind of store this is.
    let deadline = Instant::now() + Duration::from_secs(30);
    let decided =
        |log: String| log.contains("verifies uploads") || log.contains("not verify uploads");
    while !decided(server.log()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = server.log();
    let said = |needle: &str| log.contains(needle);
    assert!(!said("could not find out"), "{log}");
    if store.verifies {
        assert!(
            said("the object store verifies uploads: it refused"),
            "{log}"
        );
    } else {
        assert!(
            said("WARN") && said("the object store does not verify uploads"),
            "{log}"
        );
    }
}
