//! The derivative service end to end on a real server, a real SQLite file and the embedded S3
//! store acting as the CDN (its fallback passes missing derivatives to the API):
//! - a library made by the previous design (schema before migration 0004, thumbnails uploaded
//!   by the client at `t/{id}/{size}.jpg`) keeps its thumbnails after the upgrade: they are
//!   served as they were, adopted by the background queue (never rendered again), and get a
//!   ThumbHash; an old image whose thumbnails are missing gets them made on demand;
//! - a decompression bomb and a truncated original are answered with a clear 422 and marked
//!   broken, and the server keeps serving;
//! - an unknown preset is a 404 naming the presets.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use image::{ImageEncoder, Rgb, RgbImage};
use imgcloud_core::api::{DerivativeState, Image};
use imgcloud_server::embedded_s3::{self, DerivativeFallback};
use imgcloud_server::objects::ObjectStore;

const BUCKET: &str = "imgcloud";

fn jpeg(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    let image = RgbImage::from_pixel(width, height, Rgb(colour));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            image.as_raw(),
            width,
            height,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    out
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A server on `db` with the embedded store as S3 and CDN; stops when dropped.
struct Cloud {
    api: String,
    cdn: String,
    objects: ObjectStore,
    stop: tokio::sync::watch::Sender<bool>,
    _s3: embedded_s3::EmbeddedS3,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Cloud {
    /// The object store and its fallback, started before the server (as the embedded cloud
    /// does), so the old library can be written first.
    async fn store(
        root: &std::path::Path,
    ) -> (embedded_s3::EmbeddedS3, DerivativeFallback, String, String) {
        let (ak, sk) = embedded_s3::generate_credentials();
        let fallback = DerivativeFallback::new(BUCKET);
        let s3 = embedded_s3::start_with_fallback(
            &root.join("objects"),
            "127.0.0.1:0".parse().unwrap(),
            &ak,
            &sk,
            Some(fallback.clone()),
        )
        .await
        .unwrap();
        (s3, fallback, ak, sk)
    }

    fn config(
        db: &str,
        s3: &embedded_s3::EmbeddedS3,
        ak: &str,
        sk: &str,
    ) -> imgcloud_server::ServerConfig {
        let endpoint = s3.endpoint().to_string();
        let text = format!(
            r#"
            listen = "127.0.0.1:0"
            database_url = "{db}"
            [s3]
            endpoint = "{endpoint}"
            region = "us-east-1"
            bucket = "{BUCKET}"
            access_key = "{ak}"
            secret_key = "{sk}"
            path_style = true
            [cdn]
            base_url = "{base}/{BUCKET}"
            "#,
            base = endpoint.trim_end_matches('/'),
        );
        imgcloud_server::ServerConfig::from_toml(&text).unwrap()
    }

    async fn start(
        db: &str,
        s3: embedded_s3::EmbeddedS3,
        fallback: DerivativeFallback,
        ak: &str,
        sk: &str,
    ) -> Self {
        let config = Self::config(db, &s3, ak, sk);
        let cdn = config.cdn.base_url.clone();
        let objects = ObjectStore::new(config.s3.clone()).unwrap();
        objects.ensure_bucket().await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        fallback.set_origin(&api);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let server = tokio::spawn(imgcloud_server::launch_with_listener(
            config,
            listener,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        for _ in 0..200 {
            if reqwest::get(format!("{api}/readyz"))
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            api,
            cdn,
            objects,
            stop,
            _s3: s3,
            server: Some(server),
        }
    }

    async fn image(&self, token: &str, id: &str) -> Image {
        reqwest::Client::new()
            .get(format!("{}/v1/images/{id}", self.api))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the background queue has finished with `id`.
    async fn settled(&self, token: &str, id: &str) -> Image {
        for _ in 0..300 {
            let image = self.image(token, id).await;
            if matches!(
                image.derivatives,
                DerivativeState::Ready | DerivativeState::Broken
            ) {
                return image;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "image {id} never settled: {:?}",
            self.image(token, id).await
        );
    }

    async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.api))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn get(url: &str) -> (u16, Option<String>, Vec<u8>) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, cache, response.bytes().await.unwrap().to_vec())
}

/// Runs the SQLite migrations an older build had (up to `last`), as that build did.
async fn old_schema(db: &str, last: i64) {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(db)
        .unwrap()
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    let all = sqlx::migrate!("migrations/sqlite");
    let older = sqlx::migrate::Migrator {
        migrations: Cow::Owned(
            all.migrations
                .iter()
                .filter(|m| m.version <= last)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    older.run(&mut conn).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_library_made_the_old_way_keeps_its_thumbnails_after_the_upgrade() {
    let root = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", root.path().join("imgcloud.db").display());
    let (s3, fallback, ak, sk) = Cloud::store(root.path()).await;

    // The library as the previous design left it: schema 0001–0003, a user with a token, two
    // images, the first with the thumbnails its client made (green, so they can be told apart
    // from anything the cloud would render from the red original), the second without any.
    old_schema(&db, 3).await;
    let objects = ObjectStore::new(Cloud::config(&db, &s3, &ak, &sk).s3).unwrap();
    objects.ensure_bucket().await.unwrap();
    let original = jpeg(1600, 1200, [220, 20, 20]);
    let old_thumb = jpeg(320, 240, [20, 200, 20]);
    let old_preview = jpeg(1280, 960, [20, 200, 20]);
    for (key, bytes) in [
        ("i/OldImageAAAAAAA/red.jpg", &original),
        ("t/OldImageAAAAAAA/320.jpg", &old_thumb),
        ("t/OldImageAAAAAAA/1280.jpg", &old_preview),
        ("i/OldImageBBBBBBB/red2.jpg", &original),
    ] {
        objects
            .put(key, Bytes::from(bytes.clone()), "image/jpeg")
            .await
            .unwrap();
    }
    {
        let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
        sqlx::query(
            "INSERT INTO users (id, username, disabled, created_at) VALUES ('u1', 'old', 0, 1)",
        )
        .execute(&pool)
        .await
        .unwrap();
        for (id, key, name, sha256) in [
            (
                "OldImageAAAAAAA",
                "i/OldImageAAAAAAA/red.jpg",
                "red.jpg",
                sha(&original),
            ),
            (
                "OldImageBBBBBBB",
                "i/OldImageBBBBBBB/red2.jpg",
                "red2.jpg",
                "b".repeat(64),
            ),
        ] {
            sqlx::query(
                "INSERT INTO images (id, owner_id, filename, filename_folded, key, size, sha256, \
                 content_type, width, height, created_at, updated_at) \
                 VALUES (?, 'u1', ?, ?, ?, ?, ?, 'image/jpeg', 1600, 1200, 1, 1)",
            )
            .bind(id)
            .bind(name)
            .bind(name)
            .bind(key)
            .bind(original.len() as i64)
            .bind(sha256)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }
    let store = imgcloud_server::store::open(&db).await.unwrap();
    let (_, token) = imgcloud_server::users::add_user(store.as_ref(), "old2", "test")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    drop(store);

    // The upgrade: the new server migrates the database and runs its queue.
    let cloud = Cloud::start(&db, s3, fallback, &ak, &sk).await;
    let owner_token = {
        let store = imgcloud_server::store::open(&db).await.unwrap();
        let token = imgcloud_server::keys::new_token();
        let hash = imgcloud_server::keys::token_hash(&token);
        store.add_token("u1", &hash, "old device").await.unwrap();
        token
    };
    let _ = token;

    let a = cloud.settled(&owner_token, "OldImageAAAAAAA").await;
    assert_eq!(a.derivatives, DerivativeState::Ready, "{a:?}");
    assert!(a.thumb_url.starts_with(&cloud.cdn));
    // The client-made thumbnails are still what the links serve (green, not re-rendered red).
    let (status, _, thumb) = get(&a.thumb_url).await;
    assert_eq!(status, 200);
    assert_eq!(thumb, old_thumb, "the old thumbnail, byte for byte");
    assert_eq!(get(&a.preview_url).await.2, old_preview);
    // …adopted by the queue, which made its ThumbHash from it (mostly green).
    let hash = a
        .thumbhash
        .as_deref()
        .expect("a ThumbHash for the old image");
    use base64::Engine;
    let hash = base64::engine::general_purpose::STANDARD
        .decode(hash)
        .unwrap();
    assert!(hash.len() <= 25);
    let (r, g, _, _) = thumbhash::thumb_hash_to_average_rgba(&hash).unwrap();
    assert!(g > r, "ThumbHash of the green thumbnail: r {r} g {g}");

    // The old image without thumbnails gets them from the cloud: red, upright, 320 px.
    let b = cloud.settled(&owner_token, "OldImageBBBBBBB").await;
    assert_eq!(b.derivatives, DerivativeState::Ready, "{b:?}");
    let (status, cache, made) = get(&b.thumb_url).await;
    assert_eq!(status, 200);
    let decoded = image::load_from_memory(&made).unwrap().to_rgb8();
    assert_eq!(decoded.dimensions(), (320, 240));
    assert!(decoded.get_pixel(10, 10).0[0] > 150);
    assert!(cache.is_none() || cache.as_deref().is_some_and(|c| c.contains("max-age")));
    assert_eq!(
        cloud.metric("imgcloud_derivatives_adopted_total").await,
        2.0
    );
    assert_eq!(
        cloud.metric("imgcloud_derivatives_generated_total").await,
        2.0,
        "only the image without thumbnails was rendered (both presets)"
    );
    assert_eq!(cloud.metric("imgcloud_derivative_queue_depth").await, 0.0);
    let _ = cloud
        .objects
        .head("t/OldImageBBBBBBB/1280.jpg")
        .await
        .unwrap()
        .unwrap();
}

/// Uploads `bytes` by hand (single PUT), claiming `width`×`height`: what a client that does
/// not check its files (or lies) could send.
async fn upload_raw(
    cloud: &Cloud,
    token: &str,
    name: &str,
    bytes: &[u8],
    width: u32,
    height: u32,
    content_type: &str,
) -> Image {
    let http = reqwest::Client::new();
    let body = serde_json::json!({
        "filename": name, "size": bytes.len(), "sha256": sha(bytes),
        "content_type": content_type, "width": width, "height": height,
    });
    let answer: serde_json::Value = http
        .post(format!("{}/v1/uploads", cloud.api))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let request = &answer["original"]["request"];
    let mut put = http
        .put(request["url"].as_str().unwrap())
        .body(bytes.to_vec());
    for pair in request["headers"].as_array().unwrap() {
        put = put.header(pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
    }
    assert!(put.send().await.unwrap().status().is_success());
    http.post(format!(
        "{}/v1/uploads/{}/complete",
        cloud.api,
        answer["upload_id"].as_str().unwrap()
    ))
    .bearer_auth(token)
    .json(&serde_json::json!({}))
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

fn bomb_png() -> Vec<u8> {
    // A PNG whose header claims 100000 × 100000 (10¹⁰ pixels), with a few bytes of data.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut body = kind.to_vec();
        body.extend(data);
        png.extend(&body);
        png.extend(crc32(&body).to_be_bytes());
    };
    let mut ihdr = 100_000u32.to_be_bytes().to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    png
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bombs_truncated_originals_and_unknown_presets_get_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", root.path().join("imgcloud.db").display());
    let (s3, fallback, ak, sk) = Cloud::store(root.path()).await;
    let cloud = Cloud::start(&db, s3, fallback, &ak, &sk).await;
    let store = imgcloud_server::store::open(&db).await.unwrap();
    let (_, token) = imgcloud_server::users::add_user(store.as_ref(), "ann", "test")
        .await
        .unwrap();

    // The bomb claims 400×300 to the API; its own header says 100000×100000.
    let bomb = upload_raw(
        &cloud,
        &token,
        "bomb.png",
        &bomb_png(),
        400,
        300,
        "image/png",
    )
    .await;
    let full = jpeg(800, 600, [10, 10, 200]);
    let truncated = upload_raw(
        &cloud,
        &token,
        "cut.jpg",
        &full[..full.len() / 2],
        800,
        600,
        "image/jpeg",
    )
    .await;
    let good = upload_raw(&cloud, &token, "ok.jpg", &full, 800, 600, "image/jpeg").await;

    for (image, expect) in [(&bomb, "pixels"), (&truncated, "truncated")] {
        let response = reqwest::get(&image.thumb_url).await.unwrap();
        assert_eq!(response.status(), 422, "{}", image.filename);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "broken_image", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&image.id) && message.contains(expect),
            "{message}"
        );
        let settled = cloud.settled(&token, &image.id).await;
        assert_eq!(settled.derivatives, DerivativeState::Broken);
        assert!(settled.derivatives_error.unwrap().contains(expect));
    }
    // The server is fine and keeps making derivatives of good images.
    let (status, _, thumb) = get(&good.thumb_url).await;
    assert_eq!(status, 200);
    assert_eq!(image::load_from_memory(&thumb).unwrap().width(), 320);
    assert_eq!(
        reqwest::get(format!("{}/healthz", cloud.api))
            .await
            .unwrap()
            .status(),
        200
    );
    // Named presets only.
    let unknown = format!("{}/t/{}/640.jpg", cloud.cdn, good.id);
    let response = reqwest::get(&unknown).await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unknown_preset");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("320.jpg (thumb)")
    );
    // No such image.
    let missing = format!("{}/t/NoSuchImage00000/320.jpg", cloud.cdn);
    assert_eq!(reqwest::get(&missing).await.unwrap().status(), 404);
    // A trashed image's missing derivative: 410.
    let fresh = upload_raw(
        &cloud,
        &token,
        "fresh.jpg",
        &jpeg(500, 400, [1, 2, 3]),
        500,
        400,
        "image/jpeg",
    )
    .await;
    let trashed = reqwest::Client::new()
        .delete(format!("{}/v1/images/{}", cloud.api, fresh.id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(trashed.status().is_success());
    let direct = format!("{}/t/{}/1280.jpg", cloud.api, fresh.id);
    assert_eq!(reqwest::get(&direct).await.unwrap().status(), 410);
}
