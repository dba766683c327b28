//! End to end: the whole embedded cloud (API + embedded S3 store + SQLite) on loopback ports in
//! a temp dir, driven over HTTP exactly as a client would; the production-mode server also runs
//! on PostgreSQL (ignored without one; `scripts/test.sh` provides it).

use std::path::Path;
use std::time::Duration;

use imgcloud_core::api::{
    ChangeKind, ChangePage, CheckResponse, CompletedPart, CreateUploadResponse, ErrorBody, Image,
    ImagePage, Limits, Me, OriginalTarget, PresignedRequest,
};
use imgcloud_core::config::ClientConfig;
use imgcloud_core::credentials::Credentials;
use imgcloud_core::paths::Dirs;
use imgcloud_server::embedded::{EmbeddedCloud, EmbeddedOptions};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MIB: u64 = 1024 * 1024;
/// S3 (and the embedded store) refuse parts under 5 MiB except the last one.
const MIN_PART: u64 = 5 * MIB;
const CUTOFF: u64 = 6 * MIB;

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn random_bytes(len: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut v = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn,imgcloud_server=info")
        .try_init();
}

fn dirs(root: &Path) -> Dirs {
    Dirs {
        config: root.join("config"),
        data: root.join("data"),
        runtime: root.join("run"),
    }
}

fn options(root: &Path) -> EmbeddedOptions {
    let mut options = EmbeddedOptions::new(dirs(root));
    options.listen = "127.0.0.1:0".parse().unwrap();
    options.s3_listen = "127.0.0.1:0".parse().unwrap();
    options.multipart_cutoff = Some(CUTOFF);
    options.min_part_size = Some(MIN_PART);
    options.username = Some("alice".into());
    options
}

/// A file as the client would prepare it (the cloud makes the thumbnails).
struct Prepared {
    name: String,
    bytes: Vec<u8>,
}

impl Prepared {
    fn new(name: &str, size: usize) -> Self {
        Self {
            name: name.into(),
            bytes: random_bytes(size),
        }
    }

    fn body(&self) -> Value {
        let mut body = json!({
            "filename": self.name, "size": self.bytes.len(), "sha256": sha(&self.bytes),
            "content_type": "image/png", "width": 4000, "height": 2000,
            "taken_at": "2024-05-01T10:00:00Z",
        });
        if self.bytes.len() as u64 >= CUTOFF {
            let part =
                imgcloud_core::api::multipart_part_size(self.bytes.len() as u64, MIN_PART) as usize;
            let parts: Vec<String> = self.bytes.chunks(part).map(sha).collect();
            body["parts"] = json!(parts);
        }
        body
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn new(base: &str, token: Option<&str>) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.into(),
            token: token.map(str::to_string),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        idem: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(key) = idem {
            req = req.header("idempotency-key", key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> T {
        let (status, value) = self.call(method.clone(), path, body, None).await;
        assert!(status.is_success(), "{method} {path}: {status} {value}");
        serde_json::from_value(value).unwrap()
    }

    async fn create(&self, file: &Prepared, idem: Option<&str>) -> CreateUploadResponse {
        let (status, value) = self
            .call(Method::POST, "/v1/uploads", Some(file.body()), idem)
            .await;
        assert_eq!(status, StatusCode::OK, "{value}");
        serde_json::from_value(value).unwrap()
    }

    /// Sends the bytes to the presigned targets; returns the part ETags.
    async fn send(&self, response: &CreateUploadResponse, file: &Prepared) -> Vec<CompletedPart> {
        let CreateUploadResponse::Upload { original, .. } = response else {
            panic!("expected upload")
        };
        let mut etags = Vec::new();
        match original {
            OriginalTarget::Single { request } => {
                put(&self.http, request, file.bytes.clone()).await;
            }
            OriginalTarget::Multipart { parts, .. } => {
                for part in parts {
                    let bytes = file.bytes
                        [part.offset as usize..(part.offset + part.length) as usize]
                        .to_vec();
                    let etag = put(&self.http, &part.request, bytes).await;
                    etags.push(CompletedPart {
                        number: part.number,
                        etag,
                    });
                }
            }
        }
        etags
    }

    async fn complete(&self, upload_id: &str, parts: Vec<CompletedPart>) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("/v1/uploads/{upload_id}/complete"),
            Some(json!({ "parts": parts })),
            None,
        )
        .await
    }

    /// The whole protocol for one new file.
    async fn upload(&self, file: &Prepared) -> Image {
        let response = self
            .create(file, Some(&format!("idem-{}", sha(file.name.as_bytes()))))
            .await;
        let parts = self.send(&response, file).await;
        let CreateUploadResponse::Upload { upload_id, .. } = &response else {
            panic!("expected upload")
        };
        let (status, value) = self.complete(upload_id, parts).await;
        assert_eq!(status, StatusCode::OK, "{value}");
        serde_json::from_value(value).unwrap()
    }
}

/// Sends one presigned request as given; returns the ETag.
async fn put(http: &reqwest::Client, request: &PresignedRequest, body: Vec<u8>) -> String {
    let resp = try_put(http, request, body).await;
    assert!(
        resp.status().is_success(),
        "presigned PUT failed: {}",
        resp.status()
    );
    resp.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn try_put(
    http: &reqwest::Client,
    request: &PresignedRequest,
    body: Vec<u8>,
) -> reqwest::Response {
    let mut req = http.request(request.method.parse().unwrap(), &request.url);
    for (name, value) in &request.headers {
        req = req.header(name, value);
    }
    req.body(body).send().await.unwrap()
}

async fn fetch(url: &str) -> (StatusCode, Vec<u8>) {
    let resp = reqwest::get(url).await.unwrap();
    (resp.status(), resp.bytes().await.unwrap().to_vec())
}

fn error_code(value: &Value) -> String {
    serde_json::from_value::<ErrorBody>(value.clone())
        .map(|b| b.error.code)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_cloud_full_protocol() {
    logs();
    let tmp = tempfile::tempdir().unwrap();
    let cloud = EmbeddedCloud::start(options(tmp.path())).await.unwrap();
    let api = cloud.api_url.clone();

    // The client configuration and a 0600 credentials file were written for the local user.
    let dirs = dirs(tmp.path());
    let config = ClientConfig::load(&dirs.config_file()).unwrap();
    assert_eq!(
        (config.server.as_deref(), config.embedded),
        (Some(api.as_str()), true)
    );
    let token = Credentials::load(&dirs.credentials_file())
        .unwrap()
        .token(&api)
        .unwrap()
        .to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in [
            dirs.credentials_file(),
            dirs.embedded_cloud().join("cloud.toml"),
        ] {
            assert_eq!(
                std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
                0o600,
                "{}",
                file.display()
            );
        }
    }
    assert!(dirs.embedded_cloud().join("imgcloud.db").exists());

    let alice = Client::new(&api, Some(&token));
    let anon = Client::new(&api, None);

    // Ops endpoints.
    assert_eq!(
        anon.call(Method::GET, "/healthz", None, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        anon.call(Method::GET, "/readyz", None, None).await.0,
        StatusCode::OK
    );
    let (status, doc) = anon.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for (path, _) in imgcloud_server::routes::route_list() {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from /openapi.json"
        );
    }

    let me: Me = alice.ok(Method::GET, "/v1/me", None).await;
    assert_eq!(me.username, "alice");
    let limits: Limits = alice.ok(Method::GET, "/v1/limits", None).await;
    assert_eq!(
        (limits.multipart_cutoff, limits.min_part_size),
        (CUTOFF, MIN_PART)
    );

    // --- single upload -------------------------------------------------------------------
    let cat = Prepared::new("My Cat (1)+ü.png", 50_000);
    let image = alice.upload(&cat).await;
    assert_eq!(
        (image.filename.as_str(), image.size, image.sha256.as_str()),
        ("My Cat (1)+ü.png", 50_000, sha(&cat.bytes).as_str())
    );
    assert!(
        image.url.starts_with(&cloud.cdn_url),
        "{} vs {}",
        image.url,
        cloud.cdn_url
    );
    assert!(image.url.contains(&image.id));
    assert_eq!(fetch(&image.url).await, (StatusCode::OK, cat.bytes.clone()));
    // Random bytes are no picture: the cloud cannot make a thumbnail and says so (the image is
    // marked broken), through the same link a thumbnail would have.
    assert_eq!(
        fetch(&image.thumb_url).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let mut got: Image = alice
        .ok(Method::GET, &format!("/v1/images/{}", image.id), None)
        .await;
    assert_eq!(got.derivatives, imgcloud_core::api::DerivativeState::Broken);
    assert!(got.derivatives_error.is_some());
    got.derivatives = image.derivatives;
    got.derivatives_error = None;
    assert_eq!(got, image);

    // --- dedup via check and via create -----------------------------------------------------
    let check: CheckResponse = alice
        .ok(
            Method::POST,
            "/v1/uploads/check",
            Some(json!({ "sha256": [sha(&cat.bytes), sha(b"nothing")] })),
        )
        .await;
    assert_eq!(
        check
            .existing
            .iter()
            .map(|i| i.id.as_str())
            .collect::<Vec<_>>(),
        vec![image.id.as_str()]
    );
    match alice.create(&cat, Some("another-key")).await {
        CreateUploadResponse::Exists { image: existing } => assert_eq!(existing.id, image.id),
        other => panic!("expected exists, got {other:?}"),
    }

    // --- idempotency key retry; incomplete complete; corrupted bytes ------------------------
    let dog = Prepared::new("dog.png", 30_000);
    let first = alice.create(&dog, Some("dog-key")).await;
    let retry = alice.create(&dog, Some("dog-key")).await;
    let (
        CreateUploadResponse::Upload { upload_id: id1, .. },
        CreateUploadResponse::Upload { upload_id: id2, .. },
    ) = (&first, &retry)
    else {
        panic!("expected uploads")
    };
    assert_eq!(id1, id2, "same Idempotency-Key → same session");
    let (status, value) = alice
        .call(
            Method::POST,
            "/v1/uploads",
            Some(Prepared::new("x.png", 10).body()),
            Some("dog-key"),
        )
        .await;
    assert_eq!(
        (status, error_code(&value).as_str()),
        (StatusCode::CONFLICT, "conflict"),
        "{value}"
    );

    let (status, value) = alice.complete(id1, vec![]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{value}");
    let message = value["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("original: not uploaded") && !message.contains("thumbnail"),
        "{message}"
    );

    let CreateUploadResponse::Upload {
        original: OriginalTarget::Single { request },
        ..
    } = &first
    else {
        panic!()
    };
    let mut corrupted = dog.bytes.clone();
    corrupted[0] ^= 0xff;
    assert!(
        !try_put(&alice.http, request, corrupted)
            .await
            .status()
            .is_success(),
        "corrupted bytes must be refused"
    );
    let (status, _) = alice.complete(id1, vec![]).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "nothing was stored for the corrupted PUT"
    );

    alice.send(&retry, &dog).await;
    let (status, value) = alice.complete(id1, vec![]).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    let dog_image: Image = serde_json::from_value(value).unwrap();
    // Completing again (a retry whose answer was lost) returns the same image, once more.
    for _ in 0..2 {
        let (status, value) = alice.complete(id1, vec![]).await;
        assert_eq!(status, StatusCode::OK, "{value}");
        assert_eq!(serde_json::from_value::<Image>(value).unwrap(), dog_image);
    }

    // --- multipart --------------------------------------------------------------------------
    let big = Prepared::new("big.png", (11 * MIB + 12_345) as usize);
    let response = alice.create(&big, Some("big-key")).await;
    let CreateUploadResponse::Upload {
        upload_id,
        original: OriginalTarget::Multipart { part_size, parts },
        expires_at,
        ..
    } = &response
    else {
        panic!("expected a multipart upload: {response:?}")
    };
    assert_eq!((*part_size, parts.len()), (MIN_PART, 3));
    assert_eq!(parts[2].length, MIB + 12_345);
    assert!(*expires_at <= time::OffsetDateTime::now_utc() + Duration::from_secs(15 * 60 + 5));
    let etags = alice.send(&response, &big).await;
    let (status, value) = alice.complete(upload_id, etags[..2].to_vec()).await;
    assert_eq!(
        (status, error_code(&value).as_str()),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{value}"
    );
    let (status, value) = alice.complete(upload_id, etags).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    let big_image: Image = serde_json::from_value(value).unwrap();
    assert_eq!(
        fetch(&big_image.url).await,
        (StatusCode::OK, big.bytes.clone())
    );

    // --- abort ------------------------------------------------------------------------------
    let abandoned = Prepared::new("abandoned.png", 5_000);
    let response = alice.create(&abandoned, None).await;
    alice.send(&response, &abandoned).await;
    let CreateUploadResponse::Upload {
        upload_id,
        original: OriginalTarget::Single { request },
        ..
    } = &response
    else {
        panic!()
    };
    let thumb_url = request.url.split('?').next().unwrap().to_string();
    assert_eq!(fetch(&thumb_url).await.0, StatusCode::OK);
    let (status, _) = alice
        .call(
            Method::DELETE,
            &format!("/v1/uploads/{upload_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        fetch(&thumb_url).await.0,
        StatusCode::NOT_FOUND,
        "abort deletes uploaded objects"
    );
    assert_eq!(
        alice.complete(upload_id, vec![]).await.0,
        StatusCode::NOT_FOUND
    );
    let big_abandoned = Prepared::new("big-abandoned.png", (CUTOFF + 1000) as usize);
    let response = alice.create(&big_abandoned, None).await;
    let CreateUploadResponse::Upload { upload_id, .. } = &response else {
        panic!()
    };
    assert_eq!(
        alice
            .call(
                Method::DELETE,
                &format!("/v1/uploads/{upload_id}"),
                None,
                None
            )
            .await
            .0,
        StatusCode::NO_CONTENT
    );

    // --- validation -------------------------------------------------------------------------
    let mut bad = Prepared::new("ok.png", 100).body();
    bad["filename"] = json!("  \u{1}  ");
    let (status, value) = alice
        .call(Method::POST, "/v1/uploads", Some(bad), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("filename"),
        "{value}"
    );
    let mut bomb = Prepared::new("bomb.png", 100).body();
    bomb["width"] = json!(100_000);
    bomb["height"] = json!(100_000);
    assert_eq!(
        alice
            .call(Method::POST, "/v1/uploads", Some(bomb), None)
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, value) = alice
        .call(Method::POST, "/v1/uploads", Some(json!({"nope": 1})), None)
        .await;
    assert_eq!(
        (status, error_code(&value).as_str()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let huge = json!({ "sha256": vec!["a".repeat(64); 20_000] });
    let (status, value) = alice
        .call(Method::POST, "/v1/uploads/check", Some(huge), None)
        .await;
    assert_eq!(
        (status, error_code(&value).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );

    // --- list, paginate, search -------------------------------------------------------------
    let mut extra = Vec::new();
    for i in 0..4 {
        extra.push(
            alice
                .upload(&Prepared::new(&format!("Holiday_{i}.PNG"), 2_000 + i))
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/images?limit=2&cursor={c}"),
            None => "/v1/images?limit=2".to_string(),
        };
        let page: ImagePage = alice.ok(Method::GET, &path, None).await;
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|i| i.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "cat, dog, big and 4 holidays: {seen:?}");
    assert_eq!(seen[0], extra[3].id, "newest first");
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 7);
    let found: ImagePage = alice.ok(Method::GET, "/v1/images?q=holiday_", None).await;
    assert_eq!(found.items.len(), 4);
    let found: ImagePage = alice.ok(Method::GET, "/v1/images?q=%25", None).await;
    assert!(found.items.is_empty(), "% is literal");
    assert_eq!(
        alice
            .call(Method::GET, "/v1/images?cursor=garbage", None, None)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    // --- rename, tags -------------------------------------------------------------------------
    let patched: Image = alice
        .ok(
            Method::PATCH,
            &format!("/v1/images/{}", dog_image.id),
            Some(json!({"filename": " ../Good Dog.png ", "tags": ["pets", " pets", "x"]})),
        )
        .await;
    assert_eq!(patched.filename, ".._Good Dog.png");
    assert_eq!(patched.tags, vec!["pets", "x"]);
    assert_eq!(patched.url, dog_image.url, "rename never changes the link");
    let (status, value) = alice
        .call(
            Method::PATCH,
            &format!("/v1/images/{}", dog_image.id),
            Some(json!({"filename": " "})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");

    // --- trash, restore, purge ----------------------------------------------------------------
    let trashed: Image = alice
        .ok(Method::DELETE, &format!("/v1/images/{}", extra[0].id), None)
        .await;
    assert!(trashed.deleted_at.is_some());
    let library: ImagePage = alice.ok(Method::GET, "/v1/images?limit=200", None).await;
    assert!(!library.items.iter().any(|i| i.id == extra[0].id));
    let trash: ImagePage = alice.ok(Method::GET, "/v1/images?trash=true", None).await;
    assert_eq!(
        trash
            .items
            .iter()
            .map(|i| i.id.as_str())
            .collect::<Vec<_>>(),
        vec![extra[0].id.as_str()]
    );
    let restored: Image = alice
        .ok(
            Method::POST,
            &format!("/v1/images/{}/restore", extra[0].id),
            None,
        )
        .await;
    assert!(restored.deleted_at.is_none());
    let (status, _) = alice
        .call(
            Method::DELETE,
            &format!("/v1/images/{}/purge", extra[1].id),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        alice
            .call(
                Method::GET,
                &format!("/v1/images/{}", extra[1].id),
                None,
                None
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(&extra[1].url).await.0,
        StatusCode::NOT_FOUND,
        "purge deletes the original"
    );
    assert_eq!(
        fetch(&extra[1].thumb_url).await.0,
        StatusCode::NOT_FOUND,
        "purge deletes thumbnails"
    );

    // --- change feed --------------------------------------------------------------------------
    let feed: ChangePage = alice
        .ok(Method::GET, "/v1/changes?since=0&limit=1000", None)
        .await;
    assert!(!feed.has_more);
    let purge = feed
        .changes
        .iter()
        .find(|c| c.image_id == extra[1].id)
        .unwrap();
    assert!(purge.kind == ChangeKind::Purge && purge.image.is_none());
    let dog_change = feed
        .changes
        .iter()
        .find(|c| c.image_id == dog_image.id)
        .unwrap();
    assert_eq!(
        dog_change.image.as_ref().unwrap().filename,
        ".._Good Dog.png"
    );
    assert!(feed.changes.windows(2).all(|w| w[0].seq < w[1].seq));
    let small: ChangePage = alice
        .ok(Method::GET, "/v1/changes?since=0&limit=2", None)
        .await;
    assert!(small.has_more && small.changes.len() == 2 && small.next_since == small.changes[1].seq);
    let empty: ChangePage = alice
        .ok(
            Method::GET,
            &format!("/v1/changes?since={}", feed.next_since),
            None,
        )
        .await;
    assert!(empty.changes.is_empty() && empty.next_since == feed.next_since);

    // --- 401 on every /v1 route but login (the one that takes a password, not a token) -------
    let bad_token = Client::new(&api, Some("ic_not-a-real-token"));
    for (path, method) in imgcloud_server::routes::route_list()
        .into_iter()
        .filter(|(p, _)| p.starts_with("/v1") && *p != "/v1/auth/login")
    {
        let path = path.replace("{id}", &image.id);
        let method: Method = method.parse().unwrap();
        for client in [&anon, &bad_token] {
            let (status, value) = client
                .call(method.clone(), &path, Some(json!({})), None)
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(error_code(&value), "unauthorized", "{method} {path}");
        }
    }

    // --- another user sees none of it (404, never 403) ----------------------------------------
    let store = imgcloud_server::embedded::open_store(&dirs).await.unwrap();
    let (_, bob_token) = imgcloud_server::users::add_user(&store, "bob", "test")
        .await
        .unwrap();
    let bob = Client::new(&api, Some(&bob_token));
    let pending = alice
        .create(&Prepared::new("pending.png", 1_000), None)
        .await;
    let CreateUploadResponse::Upload {
        upload_id: pending_id,
        ..
    } = &pending
    else {
        panic!()
    };
    // Every route the router serves has a case here (a new route without one fails): bob
    // calls it with alice's ids, and everything of alice's answers 404 exactly like a missing
    // id; routes scoped to the caller are checked below for showing nothing of alice's.
    let alice_tokens: imgcloud_core::api::TokenList =
        alice.ok(Method::GET, "/v1/tokens", None).await;
    let alice_token_id = alice_tokens.tokens[0].id.clone();
    let alice_album: imgcloud_core::api::Album = alice
        .ok(
            Method::POST,
            "/v1/albums",
            Some(json!({"name": "Alice's trip"})),
        )
        .await;
    let _: imgcloud_core::api::Album = alice
        .ok(
            Method::POST,
            &format!("/v1/albums/{}/add", alice_album.id),
            Some(json!({"image_ids": [image.id]})),
        )
        .await;
    let alice_share: imgcloud_core::api::Share = alice
        .ok(
            Method::POST,
            "/v1/shares",
            Some(json!({"image_ids": [image.id], "label": "for carol"})),
        )
        .await;
    for (path, method) in imgcloud_server::routes::route_list() {
        let ids = match (method, path) {
            // No user data: health, metrics, the API description.
            ("GET", "/healthz" | "/readyz" | "/metrics" | "/openapi.json") => continue,
            // Takes a user name and password, no ids (throttling has its own tests).
            ("POST", "/v1/auth/login") => continue,
            // Public by design, like the original's CDN link: a public image's derivatives.
            ("GET", "/t/{id}/{file}") => continue,
            // A capability: the signature is the permission (tests/tests/visibility.rs shows a
            // signature opens one image's link only, until it expires).
            ("GET", "/v/{id}/{file}") => continue,
            // The caller's own things only: checked below.
            ("GET", "/v1/me" | "/v1/limits" | "/v1/tokens" | "/v1/images" | "/v1/changes")
            | ("POST", "/v1/uploads/check" | "/v1/uploads")
            | ("PATCH", "/v1/me/settings") => continue,
            ("DELETE", "/v1/tokens/{id}") => alice_token_id.as_str(),
            ("GET" | "PATCH" | "DELETE", "/v1/images/{id}")
            | ("POST", "/v1/images/{id}/restore")
            | ("DELETE", "/v1/images/{id}/purge") => image.id.as_str(),
            ("POST", "/v1/uploads/{id}/complete") | ("DELETE", "/v1/uploads/{id}") => {
                pending_id.as_str()
            }
            // The caller's own albums and links: checked below.
            ("GET" | "POST", "/v1/albums" | "/v1/shares") => continue,
            ("GET" | "PATCH" | "DELETE", "/v1/albums/{id}")
            | (
                "POST",
                "/v1/albums/{id}/add" | "/v1/albums/{id}/remove" | "/v1/albums/{id}/order",
            ) => alice_album.id.as_str(),
            ("DELETE", "/v1/shares/{id}") => alice_share.id.as_str(),
            // Capabilities: whoever holds a link's token sees what it shares (tests/tests/
            // sharing.rs); an owner's account plays no part.
            ("GET" | "POST", "/s/{token}")
            | ("GET", "/s/{token}/{image_id}/{file}" | "/oembed") => continue,
            _ => panic!("{method} {path} has no cross-user case: add one to this test"),
        };
        let body = match (method, path) {
            ("PATCH", "/v1/albums/{id}") => Some(json!({"name": "pwned"})),
            ("PATCH", _) => Some(json!({"filename": "pwned.png"})),
            ("POST", p) if p.starts_with("/v1/albums/") => Some(json!({"image_ids": [image.id]})),
            ("POST", _) => Some(json!({})),
            _ => None,
        };
        let method: Method = method.parse().unwrap();
        for id in [ids, "AAAAAAAAAAAAAAAA"] {
            let path = path.replace("{id}", id);
            let (status, value) = bob.call(method.clone(), &path, body.clone(), None).await;
            assert_eq!(
                (status, error_code(&value).as_str()),
                (StatusCode::NOT_FOUND, "not_found"),
                "bob {method} {path}"
            );
        }
    }
    // Bob's albums and links hold nothing of alice's, and he cannot share her images or album.
    let bob_albums: imgcloud_core::api::AlbumList = bob.ok(Method::GET, "/v1/albums", None).await;
    assert!(bob_albums.albums.is_empty());
    let bob_shares: imgcloud_core::api::ShareList = bob.ok(Method::GET, "/v1/shares", None).await;
    assert!(bob_shares.shares.is_empty());
    for (body, field) in [
        (json!({"image_ids": [image.id]}), "image_ids"),
        (json!({"album_id": alice_album.id}), "album_id"),
    ] {
        let (status, value) = bob.call(Method::POST, "/v1/shares", Some(body), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value}");
        assert!(value.to_string().contains(field), "{value}");
    }
    let album_after: imgcloud_core::api::AlbumDetail = alice
        .ok(Method::GET, &format!("/v1/albums/{}", alice_album.id), None)
        .await;
    assert_eq!(
        (album_after.album.name.as_str(), album_after.images.len()),
        ("Alice's trip", 1),
        "bob changed nothing of alice's album"
    );
    let shares_after: imgcloud_core::api::ShareList =
        alice.ok(Method::GET, "/v1/shares", None).await;
    assert_eq!(
        shares_after.shares[0].state,
        imgcloud_core::api::ShareState::Active,
        "bob revoked nothing of alice's"
    );
    let me: Me = bob.ok(Method::GET, "/v1/me", None).await;
    assert_eq!(me.username, "bob");
    let bob_tokens: imgcloud_core::api::TokenList = bob.ok(Method::GET, "/v1/tokens", None).await;
    assert!(
        bob_tokens.tokens.iter().all(|t| t.id != alice_token_id),
        "bob sees alice's token"
    );
    let still_tokens: imgcloud_core::api::TokenList =
        alice.ok(Method::GET, "/v1/tokens", None).await;
    assert!(
        still_tokens.tokens.iter().any(|t| t.id == alice_token_id),
        "bob revoked alice's token"
    );
    let mut still: Image = alice
        .ok(Method::GET, &format!("/v1/images/{}", image.id), None)
        .await;
    // The cloud's own derivative state moves on its own (random bytes: broken); the rest is
    // what alice left.
    (still.derivatives, still.derivatives_error) = (image.derivatives, None);
    assert_eq!(still, image, "bob changed nothing");
    assert_eq!(fetch(&image.url).await.0, StatusCode::OK);
    let bobs: ImagePage = bob.ok(Method::GET, "/v1/images", None).await;
    assert!(bobs.items.is_empty());
    let bob_check: CheckResponse = bob
        .ok(
            Method::POST,
            "/v1/uploads/check",
            Some(json!({ "sha256": [sha(&cat.bytes)] })),
        )
        .await;
    assert!(bob_check.existing.is_empty());
    let bob_feed: ChangePage = bob.ok(Method::GET, "/v1/changes", None).await;
    assert!(bob_feed.changes.is_empty());
    // Bob uploading the same bytes gets his own image.
    let bob_cat = bob.upload(&cat).await;
    assert_ne!(bob_cat.id, image.id);
    let (status, _) = alice
        .call(
            Method::DELETE,
            &format!("/v1/uploads/{pending_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // --- metrics ------------------------------------------------------------------------------
    let (status, metrics) = anon.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.contains(
            r#"imgcloud_http_requests_total{route="/v1/images/{id}",method="GET",status="200"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"imgcloud_http_errors_total{route="/v1/me",code="unauthorized"}"#),
        "{metrics}"
    );
    let hits: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("imgcloud_cache_hits_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(hits > 0, "token lookups are cached");

    cloud.shutdown().await.unwrap();

    // --- restart on new ports: the config follows, the token keeps working --------------------
    let cloud = EmbeddedCloud::start(options(tmp.path())).await.unwrap();
    assert_ne!(cloud.api_url, api);
    let config = ClientConfig::load(&dirs.config_file()).unwrap();
    assert_eq!(config.server.as_deref(), Some(cloud.api_url.as_str()));
    let credentials = Credentials::load(&dirs.credentials_file()).unwrap();
    assert_eq!(
        credentials.token(&cloud.api_url),
        Some(token.as_str()),
        "the token is carried over"
    );
    assert_eq!(credentials.tokens.len(), 1);
    let alice = Client::new(&cloud.api_url, Some(&token));
    let again: Image = alice
        .ok(Method::GET, &format!("/v1/images/{}", image.id), None)
        .await;
    assert_eq!(again.id, image.id);
    assert_eq!(
        fetch(&again.url).await,
        (StatusCode::OK, cat.bytes.clone()),
        "objects survive a restart"
    );

    // Lost credentials: a new token is issued.
    std::fs::remove_file(dirs.credentials_file()).unwrap();
    cloud.shutdown().await.unwrap();
    let cloud = EmbeddedCloud::start(options(tmp.path())).await.unwrap();
    let fresh = Credentials::load(&dirs.credentials_file())
        .unwrap()
        .token(&cloud.api_url)
        .unwrap()
        .to_string();
    assert_ne!(fresh, token);
    let me: Me = Client::new(&cloud.api_url, Some(&fresh))
        .ok(Method::GET, "/v1/me", None)
        .await;
    assert_eq!(me.username, "alice");
    cloud.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_completes_return_the_same_image() {
    logs();
    let tmp = tempfile::tempdir().unwrap();
    let cloud = EmbeddedCloud::start(options(tmp.path())).await.unwrap();
    let token = Credentials::load(&dirs(tmp.path()).credentials_file())
        .unwrap()
        .token(&cloud.api_url)
        .unwrap()
        .to_string();
    let alice = Client::new(&cloud.api_url, Some(&token));
    let file = Prepared::new("race.png", 10_000);
    // Two sessions for the same bytes (no idempotency key), both uploaded.
    let a = alice.create(&file, None).await;
    let b = alice.create(&file, None).await;
    alice.send(&a, &file).await;
    alice.send(&b, &file).await;
    let (
        CreateUploadResponse::Upload { upload_id: ida, .. },
        CreateUploadResponse::Upload { upload_id: idb, .. },
    ) = (&a, &b)
    else {
        panic!()
    };
    let (ra, rb) = tokio::join!(alice.complete(ida, vec![]), alice.complete(idb, vec![]));
    assert_eq!(
        (ra.0, rb.0),
        (StatusCode::OK, StatusCode::OK),
        "{ra:?} {rb:?}"
    );
    assert_eq!(ra.1["id"], rb.1["id"]);
    // either session, completed again, answers the same image
    for id in [ida, idb] {
        let (status, value) = alice.complete(id, vec![]).await;
        assert_eq!((status, &value["id"]), (StatusCode::OK, &ra.1["id"]));
    }
    let page: ImagePage = alice.ok(Method::GET, "/v1/images", None).await;
    assert_eq!(page.items.len(), 1);
    assert_eq!(
        fetch(&page.items[0].url).await,
        (StatusCode::OK, file.bytes.clone())
    );
    cloud.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn janitor_aborts_stale_uploads() {
    logs();
    let tmp = tempfile::tempdir().unwrap();
    let cloud = EmbeddedCloud::start(options(tmp.path())).await.unwrap();
    let token = Credentials::load(&dirs(tmp.path()).credentials_file())
        .unwrap()
        .token(&cloud.api_url)
        .unwrap()
        .to_string();
    let alice = Client::new(&cloud.api_url, Some(&token));
    let file = Prepared::new("stale.png", 3_000);
    let response = alice.create(&file, None).await;
    alice.send(&response, &file).await;
    let CreateUploadResponse::Upload {
        upload_id,
        original: OriginalTarget::Single { request },
        ..
    } = &response
    else {
        panic!()
    };
    let thumb_url = request.url.split('?').next().unwrap().to_string();
    // A completed session stays (a retried complete finds its image) until the janitor.
    let kept = Prepared::new("kept.png", 3_100);
    let kept_response = alice.create(&kept, None).await;
    alice.send(&kept_response, &kept).await;
    let CreateUploadResponse::Upload {
        upload_id: kept_id, ..
    } = &kept_response
    else {
        panic!()
    };
    let (status, value) = alice.complete(kept_id, vec![]).await;
    assert_eq!(status, StatusCode::OK, "{value}");
    let kept_image: Image = serde_json::from_value(value).unwrap();

    // A server whose sessions go stale at once, on the same database and object store.
    let store: std::sync::Arc<dyn imgcloud_server::store::Store> = std::sync::Arc::new(
        imgcloud_server::embedded::open_store(&dirs(tmp.path()))
            .await
            .unwrap(),
    );
    let mut config = cloud_config(&cloud, tmp.path());
    config.stale_upload_after = Duration::ZERO;
    let (_, state) = imgcloud_server::build_app_with_store(config, store).unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(imgcloud_server::janitor::sweep(&state).await, 2);
    assert_eq!(fetch(&thumb_url).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        alice.complete(upload_id, vec![]).await.0,
        StatusCode::NOT_FOUND
    );
    // the completed session lost only its row: the image and its bytes are untouched
    assert_eq!(
        alice.complete(kept_id, vec![]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(fetch(&kept_image.url).await, (StatusCode::OK, kept.bytes));
    // Its derivative links still reach the image (random bytes: the cloud answers that it
    // cannot make a thumbnail of them, not that the image is gone).
    for url in [&kept_image.thumb_url, &kept_image.preview_url] {
        assert_eq!(fetch(url).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    }
    cloud.shutdown().await.unwrap();
}

/// A production-style configuration pointing at a running embedded cloud's pieces.
fn cloud_config(cloud: &EmbeddedCloud, root: &Path) -> imgcloud_server::ServerConfig {
    #[derive(serde::Deserialize)]
    struct State {
        s3_access_key: String,
        s3_secret_key: String,
    }
    let state: State = toml::from_str(
        &std::fs::read_to_string(dirs(root).embedded_cloud().join("cloud.toml")).unwrap(),
    )
    .unwrap();
    let text = format!(
        r#"
        database_url = "sqlite://{db}"
        [s3]
        endpoint = "{s3}"
        region = "us-east-1"
        bucket = "imgcloud"
        access_key = "{ak}"
        secret_key = "{sk}"
        path_style = true
        [cdn]
        base_url = "{cdn}"
        "#,
        db = dirs(root).embedded_cloud().join("imgcloud.db").display(),
        s3 = cloud.s3_url,
        ak = state.s3_access_key,
        sk = state.s3_secret_key,
        cdn = cloud.cdn_url,
    );
    imgcloud_server::ServerConfig::from_toml(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_ready_and_adds_users() {
    use tokio::io::AsyncBufReadExt;
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_imgcloud-server");
    let env = |cmd: &mut tokio::process::Command| {
        cmd.env("IMGCLOUD_CONFIG_DIR", tmp.path().join("config"))
            .env("IMGCLOUD_DATA_DIR", tmp.path().join("data"))
            .env_remove("IMGCLOUD_SERVER_CONFIG")
            .env("USER", "dana");
    };
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["--listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    env(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let api = line
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("unexpected first stdout line {line:?}"))
        .to_string();
    assert!(
        api.starts_with("http://127.0.0.1:") && !api.ends_with(":0"),
        "{api}"
    );
    assert_eq!(
        reqwest::get(format!("{api}/healthz"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // The local user is $USER and its token is in the credentials file.
    let token = Credentials::load(&tmp.path().join("config/credentials.toml"))
        .unwrap()
        .token(&api)
        .unwrap()
        .to_string();
    let me: Me = Client::new(&api, Some(&token))
        .ok(Method::GET, "/v1/me", None)
        .await;
    assert_eq!(me.username, "dana");

    // `user add` against the embedded database prints only the token.
    let mut add = tokio::process::Command::new(bin);
    add.args(["user", "add", "erin"]);
    env(&mut add);
    let out = add.output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout_text = String::from_utf8(out.stdout).unwrap();
    let new_token = stdout_text.trim();
    assert_eq!(stdout_text.lines().count(), 1);
    let me: Me = Client::new(&api, Some(new_token))
        .ok(Method::GET, "/v1/me", None)
        .await;
    assert_eq!(me.username, "erin");

    // `token revoke` writes to the database past the running server's in-process cache (which
    // now holds erin's token): the server follows the auth epoch, so the token stops working
    // within about a second, not after the 30 s cache TTL.
    let mut revoke = tokio::process::Command::new(bin);
    revoke.args(["token", "revoke", "erin", "cli"]);
    env(&mut revoke);
    let out = revoke.output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked_at = std::time::Instant::now();
    let http = reqwest::Client::new();
    loop {
        let status = http
            .get(format!("{api}/v1/me"))
            .bearer_auth(new_token)
            .send()
            .await
            .unwrap()
            .status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(10),
            "the revoked token still works after {:?}",
            revoked_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Stops cleanly on SIGTERM.
    #[cfg(unix)]
    {
        let pid = child.id().unwrap();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(exit.success(), "{exit:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_mode_serves_and_reports_readiness() {
    let tmp = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", tmp.path().join("prod.db").display());
    production_mode(tmp.path(), &db).await;
}

/// The same production server on PostgreSQL: `IMGCLOUD_TEST_POSTGRES_URL` names a role that
/// may create databases (`scripts/with-postgres.sh` starts a private cluster and sets it); the
/// test runs in a database of its own, dropped at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL; scripts/test.sh starts one and runs it"]
async fn production_mode_on_postgres() {
    use sqlx::Connection;
    let admin = std::env::var("IMGCLOUD_TEST_POSTGRES_URL")
        .expect("IMGCLOUD_TEST_POSTGRES_URL (scripts/with-postgres.sh sets it)");
    let name = format!("imgcloud_e2e_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    let tmp = tempfile::tempdir().unwrap();
    production_mode(tmp.path(), url.as_str()).await;
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// A production-mode server (config file, external S3 store) on the database `db`.
async fn production_mode(tmp: &Path, db: &str) {
    logs();
    let (access_key, secret_key) = imgcloud_server::embedded_s3::generate_credentials();
    let s3 = imgcloud_server::embedded_s3::start(
        &tmp.join("objects"),
        "127.0.0.1:0".parse().unwrap(),
        &access_key,
        &secret_key,
    )
    .await
    .unwrap();
    let text = format!(
        r#"
        listen = "127.0.0.1:0"
        database_url = "{db}"
        upload_expiry = "10m"
        [s3]
        endpoint = "{endpoint}"
        region = "us-east-1"
        bucket = "prod"
        access_key = "{access_key}"
        secret_key = "{secret_key}"
        path_style = true
        [cdn]
        base_url = "https://cdn.example.com"
        url_suffix = "?x-oss-process=style/web"
        [limits]
        max_upload_bytes = 1000
        "#,
        endpoint = s3.endpoint(),
    );
    let config = imgcloud_server::ServerConfig::from_toml(&text).unwrap();
    imgcloud_server::objects::ObjectStore::new(config.s3.clone())
        .unwrap()
        .ensure_bucket()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(imgcloud_server::launch_with_listener(
        config,
        listener,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));

    // The schema exists once the server answers; add a user through the same database.
    let anon = Client::new(&api, None);
    let mut ready = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        if let Ok(resp) = reqwest::get(format!("{api}/readyz")).await {
            ready = resp.status();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready, StatusCode::OK);
    let store = imgcloud_server::store::open(db).await.unwrap();
    let (_, token) = imgcloud_server::users::add_user(store.as_ref(), "ops", "test")
        .await
        .unwrap();
    let client = Client::new(&api, Some(&token));
    let limits: Limits = client.ok(Method::GET, "/v1/limits", None).await;
    assert_eq!(limits.max_upload_bytes, 1000);
    let (status, value) = client
        .call(
            Method::POST,
            "/v1/uploads",
            Some(Prepared::new("a.png", 2000).body()),
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&value).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );

    // Links use the CDN base URL and suffix.
    let image = client.upload(&Prepared::new("a b.png", 900)).await;
    assert!(
        image.url.starts_with("https://cdn.example.com/i/"),
        "{}",
        image.url
    );
    assert!(
        image.url.ends_with("/a%20b.png?x-oss-process=style/web"),
        "{}",
        image.url
    );
    assert!(
        image
            .thumb_url
            .ends_with("/320.jpg?x-oss-process=style/web"),
        "{}",
        image.thumb_url
    );

    // Listing and case-insensitive search read it back from the database.
    let found: ImagePage = client.ok(Method::GET, "/v1/images?q=A%20B", None).await;
    assert_eq!(
        found
            .items
            .iter()
            .map(|i| i.id.as_str())
            .collect::<Vec<_>>(),
        vec![image.id.as_str()]
    );

    // Object store down → not ready once the last success is older than READY_REUSE (5 s;
    // probes in between do not each cost a HeadBucket), and uploads answer 502 `upstream`.
    s3.shutdown().await;
    let down_at = std::time::Instant::now();
    let (mut status, mut value) = anon.call(Method::GET, "/readyz", None, None).await;
    while status == StatusCode::OK {
        assert!(
            down_at.elapsed()
                < imgcloud_server::objects::READY_REUSE + std::time::Duration::from_secs(5),
            "still ready long after the object store went away"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        (status, value) = anon.call(Method::GET, "/readyz", None, None).await;
    }
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{value}");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("object store"),
        "{value}"
    );
    let (status, value) = client
        .call(
            Method::DELETE,
            &format!("/v1/images/{}/purge", image.id),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&value).as_str()),
        (StatusCode::BAD_GATEWAY, "upstream"),
        "{value}"
    );
    let still: Image = client
        .ok(Method::GET, &format!("/v1/images/{}", image.id), None)
        .await;
    assert_eq!(still.id, image.id, "a failed purge keeps the record");

    stop.send(true).unwrap();
    server.await.unwrap().unwrap();
}
