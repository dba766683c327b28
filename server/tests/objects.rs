//! The object-store client against a real embedded s3s store on a loopback port: presigned
//! uploads (single and multipart) with body verification, key scoping, expiry, anonymous
//! reads versus signed writes, and the server's own calls.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use imgcloud_core::api::{CompletedPart, PresignedRequest};
use imgcloud_core::s3::{PresignInput, S3Config, sha256_hex};
use imgcloud_server::embedded_s3::{self, EmbeddedS3};
use imgcloud_server::objects::{ObjectStore, ObjectStoreError};

const MIB: usize = 1024 * 1024;
const BUCKET: &str = "imgcloud-test";
const FIFTEEN_MIN: Duration = Duration::from_secs(15 * 60);

struct Fixture {
    _dir: tempfile::TempDir,
    s3: EmbeddedS3,
    store: ObjectStore,
    http: reqwest::Client,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (access_key, secret_key) = embedded_s3::generate_credentials();
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let s3 = embedded_s3::start(dir.path(), listen, &access_key, &secret_key)
        .await
        .unwrap();
    assert_ne!(s3.addr.port(), 0, "the real port is reported");
    let store = ObjectStore::new(S3Config {
        endpoint: s3.endpoint(),
        region: "us-east-1".into(),
        bucket: BUCKET.into(),
        access_key,
        secret_key,
        path_style: true,
    })
    .unwrap();
    store.ensure_bucket().await.unwrap();
    Fixture {
        _dir: dir,
        s3,
        store,
        http: reqwest::Client::new(),
    }
}

/// Deterministic, non-repeating-looking test bytes.
fn bytes_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

/// Sends a presigned request exactly as a client would: its method, URL and headers.
async fn send(http: &reqwest::Client, req: &PresignedRequest, body: Vec<u8>) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
    let mut builder = http.request(method, req.url.as_str()).body(body);
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    builder.send().await.unwrap()
}

/// `req` with the value of its header `name` replaced (as a client that does not follow the
/// presigned request would send it).
fn with_header(req: &PresignedRequest, name: &str, value: &str) -> PresignedRequest {
    let mut changed = req.clone();
    for (n, v) in &mut changed.headers {
        if n == name {
            *v = value.to_string();
        }
    }
    changed
}

async fn anonymous_get(fx: &Fixture, key: &str) -> reqwest::Response {
    fx.http
        .get(fx.store.config().object_url(key).as_str())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn presigned_put_round_trips_keys_with_spaces_unicode_and_plus() {
    let fx = fixture().await;
    for key in [
        "i/abc/My Photo (1)+ü €.jpg",
        "t/x/a+b=c&d%20e.jpg",
        "i/p/plain.png",
    ] {
        let body = bytes_of(100_000, key.len() as u8);
        let req = fx
            .store
            .presign_put(
                key,
                &sha256_hex(&body),
                body.len() as u64,
                "image/jpeg",
                FIFTEEN_MIN,
            )
            .unwrap();
        assert_eq!(req.method, "PUT");
        let resp = send(&fx.http, &req, body.clone()).await;
        assert!(resp.status().is_success(), "{key}: {}", resp.status());

        let got = anonymous_get(&fx, key).await;
        assert_eq!(got.status(), 200, "{key}");
        assert_eq!(got.bytes().await.unwrap().as_ref(), &body[..], "{key}");

        let meta = fx.store.head(key).await.unwrap().expect("object exists");
        assert_eq!(meta.size, body.len() as u64);
        assert_eq!(meta.content_type.as_deref(), Some("image/jpeg"));
        assert!(!meta.etag.is_empty());
    }
}

#[tokio::test]
async fn presigned_put_with_other_bytes_is_rejected_and_stores_nothing() {
    let fx = fixture().await;
    let key = "i/corrupt/photo.jpg";
    let good = bytes_of(200_000, 1);
    let mut bad = good.clone();
    bad[123_456] ^= 0x01; // same length, one bit flipped
    let req = fx
        .store
        .presign_put(
            key,
            &sha256_hex(&good),
            good.len() as u64,
            "image/jpeg",
            FIFTEEN_MIN,
        )
        .unwrap();
    let resp = send(&fx.http, &req, bad).await;
    assert!(
        !resp.status().is_success(),
        "corrupted body accepted: {}",
        resp.status()
    );
    assert_eq!(fx.store.head(key).await.unwrap(), None);
    assert_eq!(anonymous_get(&fx, key).await.status(), 404);

    // Leaving out the signed hash header breaks the signature.
    let mut stripped = req.clone();
    stripped
        .headers
        .retain(|(name, _)| name != "x-amz-content-sha256");
    let resp = send(&fx.http, &stripped, good.clone()).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(fx.store.head(key).await.unwrap(), None);

    // The same URL with the right bytes works.
    let resp = send(&fx.http, &req, good).await;
    assert!(resp.status().is_success(), "{}", resp.status());
}

/// The presigned PUT holds the body to its exact length and to a flexible SHA-256 checksum
/// too, the one AWS, R2 and most S3 servers verify (not every store checks
/// `x-amz-content-sha256` of a presigned URL).
#[tokio::test]
async fn presigned_put_signs_the_exact_length_and_a_sha256_checksum() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let fx = fixture().await;
    let key = "i/len/photo.jpg";
    let good = bytes_of(50_000, 7);
    let req = fx
        .store
        .presign_put(
            key,
            &sha256_hex(&good),
            good.len() as u64,
            "image/jpeg",
            FIFTEEN_MIN,
        )
        .unwrap();
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("content-length"), Some("50000".to_string()));
    let digest = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&good));
    assert_eq!(header("x-amz-checksum-sha256"), Some(digest));
    let signed = req
        .url
        .split("X-Amz-SignedHeaders=")
        .nth(1)
        .unwrap_or_default();
    for name in [
        "content-length",
        "x-amz-checksum-sha256",
        "x-amz-content-sha256",
    ] {
        assert!(signed.contains(name), "{name} is not signed: {}", req.url);
    }

    // A longer body (sent with its own true length) breaks the signature.
    let mut longer = good.clone();
    longer.extend_from_slice(b"extra");
    let relength = with_header(&req, "content-length", &longer.len().to_string());
    let resp = send(&fx.http, &relength, longer).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(fx.store.head(key).await.unwrap(), None);

    // So does another checksum.
    let other = base64::engine::general_purpose::STANDARD.encode([0u8; 32]);
    let rechecked = with_header(&req, "x-amz-checksum-sha256", &other);
    let resp = send(&fx.http, &rechecked, good.clone()).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(fx.store.head(key).await.unwrap(), None);

    // The store verified the checksum of the right bytes (a wrong value would be BadDigest).
    let resp = send(&fx.http, &req, good.clone()).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(
        anonymous_get(&fx, key)
            .await
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        &good[..]
    );
}

#[tokio::test]
async fn presigned_url_is_scoped_to_its_key_and_method() {
    let fx = fixture().await;
    let body = b"scoped".to_vec();
    let req = fx
        .store
        .presign_put(
            "i/x/one.png",
            &sha256_hex(&body),
            body.len() as u64,
            "image/png",
            FIFTEEN_MIN,
        )
        .unwrap();
    let mut other = req.clone();
    other.url = req.url.replace("/i/x/one.png?", "/i/x/two.png?");
    assert_ne!(other.url, req.url);
    let resp = send(&fx.http, &other, body.clone()).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(fx.store.head("i/x/two.png").await.unwrap(), None);

    let mut as_post = req.clone();
    as_post.method = "POST".into();
    let resp = send(&fx.http, &as_post, body.clone()).await;
    assert!(!resp.status().is_success(), "{}", resp.status());

    // A different content type than the signed one is refused too.
    let mut retyped = req.clone();
    retyped.headers[0].1 = "text/html".into();
    let resp = send(&fx.http, &retyped, body).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(fx.store.head("i/x/one.png").await.unwrap(), None);
}

#[tokio::test]
async fn expired_presigned_url_is_rejected() {
    let fx = fixture().await;
    let body = b"late".to_vec();
    let input = PresignInput {
        method: "PUT".into(),
        key: "i/late/x.png".into(),
        query: vec![],
        headers: vec![("x-amz-content-sha256".into(), sha256_hex(&body))],
        expires_in: Duration::from_secs(60),
    };
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let req = fx.store.config().presign(&input, an_hour_ago).unwrap();
    let resp = send(&fx.http, &req, body.clone()).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(fx.store.head("i/late/x.png").await.unwrap(), None);

    // Signed now, the same input works.
    let req = fx
        .store
        .config()
        .presign(&input, SystemTime::now())
        .unwrap();
    assert!(send(&fx.http, &req, body).await.status().is_success());
}

#[tokio::test]
async fn writes_need_a_signature_but_anonymous_reads_work() {
    let fx = fixture().await;
    let key = "i/pub/read.png";
    fx.store
        .put(key, Bytes::from_static(b"public bytes"), "image/png")
        .await
        .unwrap();
    let url = fx.store.config().object_url(key);

    let resp = fx
        .http
        .put(url.as_str())
        .body("overwrite")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = fx.http.delete(url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let resp = fx
        .http
        .get(fx.store.config().bucket_url().as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403, "anonymous listing is refused");

    let resp = anonymous_get(&fx, key).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"public bytes");
    let resp = fx.http.head(url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn multipart_upload_with_presigned_parts() {
    let fx = fixture().await;
    let key = "i/mp/big photo+1.tif";
    let parts = [
        bytes_of(5 * MIB, 7),
        bytes_of(5 * MIB, 8),
        bytes_of(MIB + 17, 9),
    ];
    let upload_id = fx.store.create_multipart(key, "image/tiff").await.unwrap();
    assert!(!upload_id.is_empty());

    let mut completed = Vec::new();
    let hashes: Vec<String> = parts.iter().map(sha256_hex).collect();
    for (i, part) in parts.iter().enumerate() {
        let number = i as u32 + 1;
        let req = fx
            .store
            .presign_part(
                key,
                &upload_id,
                number,
                &sha256_hex(part),
                part.len() as u64,
                FIFTEEN_MIN,
            )
            .unwrap();
        let resp = send(&fx.http, &req, part.clone()).await;
        assert!(
            resp.status().is_success(),
            "part {number}: {}",
            resp.status()
        );
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        completed.push(CompletedPart { number, etag });
    }
    // Nothing is visible before completion.
    assert_eq!(fx.store.head(key).await.unwrap(), None);
    fx.store
        .complete_multipart(key, &upload_id, &completed, &hashes)
        .await
        .unwrap();

    let whole: Vec<u8> = parts.concat();
    let got = anonymous_get(&fx, key).await;
    assert_eq!(got.status(), 200);
    let got = got.bytes().await.unwrap();
    assert_eq!(got.len(), whole.len());
    assert!(got.as_ref() == whole.as_slice(), "multipart bytes differ");
    let meta = fx.store.head(key).await.unwrap().unwrap();
    assert_eq!(meta.size, whole.len() as u64);
}

#[tokio::test]
async fn multipart_rejects_a_corrupted_part_and_can_be_aborted() {
    let fx = fixture().await;
    let key = "i/mp/aborted.png";
    let upload_id = fx.store.create_multipart(key, "image/png").await.unwrap();
    let good = bytes_of(MIB, 3);
    let mut bad = good.clone();
    bad[10] ^= 0xff;
    let req = fx
        .store
        .presign_part(
            key,
            &upload_id,
            1,
            &sha256_hex(&good),
            good.len() as u64,
            FIFTEEN_MIN,
        )
        .unwrap();
    let resp = send(&fx.http, &req, bad).await;
    assert!(
        !resp.status().is_success(),
        "corrupted part accepted: {}",
        resp.status()
    );
    // A part of another length (sent with its true length) breaks the signature.
    let shorter = with_header(&req, "content-length", &(good.len() - 1).to_string());
    let resp = send(&fx.http, &shorter, good[1..].to_vec()).await;
    assert_eq!(resp.status(), 403);

    // The same presigned part URL with the right bytes works.
    let resp = send(&fx.http, &req, good.clone()).await;
    assert!(resp.status().is_success(), "{}", resp.status());

    fx.store.abort_multipart(key, &upload_id).await.unwrap();
    // A part for the aborted upload is refused, and nothing was stored.
    let resp = send(&fx.http, &req, good).await;
    assert!(!resp.status().is_success(), "{}", resp.status());
    assert_eq!(fx.store.head(key).await.unwrap(), None);
}

#[tokio::test]
async fn completing_with_a_missing_part_fails() {
    let fx = fixture().await;
    let key = "i/mp/missing.png";
    let upload_id = fx.store.create_multipart(key, "image/png").await.unwrap();
    let err = fx
        .store
        .complete_multipart(
            key,
            &upload_id,
            &[CompletedPart {
                number: 1,
                etag: "\"0123\"".into(),
            }],
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ObjectStoreError::S3 { .. }), "{err}");
    assert_eq!(fx.store.head(key).await.unwrap(), None);
}

#[tokio::test]
async fn head_delete_bucket_and_ping() {
    let fx = fixture().await;
    fx.store.ping().await.unwrap();
    fx.store.ensure_bucket().await.unwrap(); // already there: still fine

    let key = "t/abc/320.jpg";
    assert_eq!(fx.store.head(key).await.unwrap(), None);
    fx.store
        .put(key, Bytes::from(vec![9u8; 4321]), "image/jpeg")
        .await
        .unwrap();
    let meta = fx.store.head(key).await.unwrap().unwrap();
    assert_eq!(meta.size, 4321);
    assert_eq!(meta.content_type.as_deref(), Some("image/jpeg"));
    fx.store.delete(key).await.unwrap();
    assert_eq!(fx.store.head(key).await.unwrap(), None);
    fx.store.delete(key).await.unwrap(); // missing: fine

    // A bucket that does not exist: ping fails, ensure_bucket creates it.
    let mut cfg = fx.store.config().clone();
    cfg.bucket = "other-bucket".into();
    let other = ObjectStore::new(cfg.clone()).unwrap();
    let err = other.ping().await.unwrap_err();
    assert_eq!(err.code(), Some("NoSuchBucket"), "{err}");
    other.ensure_bucket().await.unwrap();
    other.ping().await.unwrap();

    // Wrong secret: refused, and the error carries neither the secret nor a signature.
    cfg.secret_key = "wrong-secret-0123456789".into();
    let wrong = ObjectStore::new(cfg).unwrap();
    let err = wrong.ping().await.unwrap_err();
    assert!(
        matches!(err, ObjectStoreError::S3 { status: 403, .. }),
        "{err}"
    );
    let err = wrong
        .put("k.png", Bytes::from_static(b"x"), "image/png")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("wrong-secret"), "{text}");
    assert!(!text.contains("Signature="), "{text}");
}

#[tokio::test]
async fn stopped_store_is_reported_unreachable() {
    let fx = fixture().await;
    fx.store.ping().await.unwrap();
    let Fixture {
        s3, store, _dir, ..
    } = fx;
    s3.shutdown().await;
    let err = store.ping().await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
}
