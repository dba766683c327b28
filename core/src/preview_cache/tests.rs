use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::photo_info::tests::camera_exif;
use crate::probe::tests::{jpeg_bytes, with_exif};

fn age(dir: &Path, name: &str, seconds_ago: u64) {
    let file = fs::File::options()
        .append(true)
        .open(dir.join(name))
        .unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(seconds_ago))
        .unwrap();
}

#[test]
fn disk_cache_hit_and_miss() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::new(dir.path().join("previews"), 1 << 20);
    assert_eq!(cache.get("a.thumb", |_| true), None);
    cache.put("a.thumb", b"hello");
    assert_eq!(
        cache.get("a.thumb", |_| true).as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!(cache.get("b.thumb", |_| true), None);
    // No temp files are left behind.
    let names: Vec<_> = fs::read_dir(dir.path().join("previews"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec!["a.thumb"]);
}

#[test]
fn an_invalid_entry_is_deleted_and_missed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::new(dir.path().to_path_buf(), 1 << 20);
    cache.put("a.thumb", b"cut sho");
    assert_eq!(cache.get("a.thumb", |b| b.ends_with(b"end")), None);
    assert!(!dir.path().join("a.thumb").exists());
}

#[test]
fn eviction_removes_the_least_recently_used_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DiskCache::new(dir.path().to_path_buf(), 1000);
    for (name, ago) in [("old", 400), ("older", 500), ("used", 600), ("new", 300)] {
        cache.put(name, &[0u8; 240]);
        age(dir.path(), name, ago);
    }
    // "used" is the oldest write, but reading it makes it the most recently used.
    assert!(cache.get("used", |_| true).is_some());
    // 960 bytes so far; 240 more is over the limit: evict down to ≤ 900.
    cache.put("newest", &[0u8; 240]);
    let left = |name: &str| dir.path().join(name).exists();
    assert!(!left("older"), "the least recently used goes first");
    assert!(
        !left("old"),
        "then the next one, until under 90 % of the limit"
    );
    assert!(left("used") && left("new") && left("newest"));
    let total: u64 = scan(dir.path()).iter().map(|e| e.len).sum();
    assert!(total <= 900, "{total}");
}

#[test]
fn the_first_write_counts_what_is_already_there() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("earlier"), [0u8; 800]).unwrap();
    age(dir.path(), "earlier", 100);
    let cache = DiskCache::new(dir.path().to_path_buf(), 1000);
    cache.put("fresh", &[0u8; 300]);
    assert!(!dir.path().join("earlier").exists());
    assert!(dir.path().join("fresh").exists());
}

/// A tiny HTTP server answering from `routes` (path → status and body), honouring
/// `Range: bytes=0-N` with a 206; it records every request head.
struct Cdn {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Cdn {
    async fn start(routes: Vec<(&'static str, u16, Vec<u8>)>) -> Cdn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let routes = Arc::new(routes);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                let routes = Arc::clone(&routes);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.ends_with(b"\r\n\r\n") {
                        let n = socket.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        head.extend_from_slice(&buf[..n]);
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    seen.lock().unwrap().push(head.clone());
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    let (mut status, mut body) = routes
                        .iter()
                        .find(|(p, _, _)| *p == path)
                        .map(|(_, s, b)| (*s, b.clone()))
                        .unwrap_or((404, b"not found".to_vec()));
                    let range = head.lines().find_map(|l| {
                        l.to_lowercase()
                            .strip_prefix("range: bytes=0-")
                            .and_then(|n| n.trim().parse::<usize>().ok())
                    });
                    if let (200, Some(last)) = (status, range) {
                        body.truncate(last + 1);
                        status = 206;
                    }
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                });
            }
        });
        Cdn { base, requests }
    }

    fn count(&self, path: &str) -> usize {
        let needle = format!("GET {path} ");
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with(&needle))
            .count()
    }
}

#[tokio::test]
async fn thumbnails_are_fetched_once_and_refetched_when_corrupt() {
    let thumb = jpeg_bytes(32, 24);
    let cdn = Cdn::start(vec![
        ("/t/a/320.jpg", 200, thumb.clone()),
        ("/t/html/320.jpg", 200, b"<html>login</html>".to_vec()),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cache = PreviewCache::new(dir.path().join("previews"), DEFAULT_MAX_BYTES).unwrap();
    let url = format!("{}/t/a/320.jpg", cdn.base);

    assert_eq!(cache.thumbnail(&url).await.unwrap(), thumb, "miss");
    assert_eq!(cache.thumbnail(&url).await.unwrap(), thumb, "hit");
    assert_eq!(cdn.count("/t/a/320.jpg"), 1, "a hit does not fetch");

    // Cut the cached file short: it is fetched again and repaired.
    let file = dir.path().join("previews").join(entry_name(&url, "thumb"));
    fs::write(&file, &thumb[..thumb.len() / 2]).unwrap();
    assert_eq!(cache.thumbnail(&url).await.unwrap(), thumb);
    assert_eq!(cdn.count("/t/a/320.jpg"), 2);
    assert_eq!(fs::read(&file).unwrap(), thumb);

    // What is not an image is reported and not kept.
    let html = format!("{}/t/html/320.jpg", cdn.base);
    let err = cache.thumbnail(&html).await.unwrap_err();
    assert!(matches!(err, PreviewError::NotAnImage(_)), "{err}");
    assert!(
        !dir.path()
            .join("previews")
            .join(entry_name(&html, "thumb"))
            .exists()
    );

    let missing = format!("{}/t/gone/320.jpg", cdn.base);
    let err = cache.thumbnail(&missing).await.unwrap_err();
    assert!(matches!(err, PreviewError::Status { status: 404 }), "{err}");
}

#[tokio::test]
async fn photo_info_reads_the_first_bytes_only_and_is_kept() {
    // A large original: EXIF at the start, then far more image data than the head.
    let mut original = with_exif(
        &jpeg_bytes(16, 16),
        &camera_exif("Apple", "iPhone 15", "2024:08:09 10:11:12"),
    );
    original.resize(photo_info::HEAD_BYTES * 3, 0);
    let cdn = Cdn::start(vec![("/i/a/photo.jpg", 200, original)]).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = PreviewCache::new(dir.path().to_path_buf(), DEFAULT_MAX_BYTES).unwrap();
    let url = format!("{}/i/a/photo.jpg", cdn.base);

    let info = cache.photo_info(&url).await.unwrap();
    assert_eq!(info.camera.as_deref(), Some("Apple iPhone 15"));
    assert_eq!(
        info.taken_at,
        Some(time::macros::datetime!(2024-08-09 10:11:12 UTC))
    );
    let requests = cdn.requests.lock().unwrap().clone();
    assert!(
        requests[0]
            .to_lowercase()
            .contains(&format!("range: bytes=0-{}", photo_info::HEAD_BYTES - 1)),
        "{requests:?}"
    );

    assert_eq!(cache.photo_info(&url).await.unwrap(), info);
    assert_eq!(
        cdn.count("/i/a/photo.jpg"),
        1,
        "the second answer comes from disk"
    );

    // A damaged entry is read again from the CDN.
    fs::write(dir.path().join(entry_name(&url, "info")), b"{\"camera\": 4").unwrap();
    assert_eq!(cache.photo_info(&url).await.unwrap(), info);
    assert_eq!(cdn.count("/i/a/photo.jpg"), 2);

    let err = cache
        .photo_info(&format!("{}/i/gone/x.jpg", cdn.base))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "the CDN answered 404");
}
