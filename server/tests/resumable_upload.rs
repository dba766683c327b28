//! End to end: a multipart upload through the real client (`upload_prepared`) against the
//! embedded cloud (API + embedded S3 store + SQLite), stopped after its first part as a crash
//! would stop it, then resumed from the persisted checkpoint.

use std::path::Path;
use std::sync::{Arc, Mutex};

use imgcloud_core::client::{Client, ListParams};
use imgcloud_core::credentials::Credentials;
use imgcloud_core::paths::Dirs;
use imgcloud_core::upload::{Checkpoint, UploadOptions, prepare_file, upload_prepared};
use imgcloud_server::embedded::{EmbeddedCloud, EmbeddedOptions};
use sha2::{Digest, Sha256};

const MIB: u64 = 1024 * 1024;
/// S3 (and the embedded store) refuse parts under 5 MiB except the last one.
const MIN_PART: u64 = 5 * MIB;
const CUTOFF: u64 = 6 * MIB;

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

/// A PNG of random noise (it barely compresses): about 11.2 MiB, so three parts.
fn noisy_png(path: &Path) {
    use rand::RngCore;
    let (width, height) = (2000u32, 1960u32);
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    rand::thread_rng().fill_bytes(&mut pixels);
    let image = image::RgbImage::from_raw(width, height, pixels).unwrap();
    image.save(path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_resumes_from_its_checkpoint_without_resending_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let cloud = EmbeddedCloud::start(options(tmp.path())).await.unwrap();
    let token = Credentials::load(&dirs(tmp.path()).credentials_file())
        .unwrap()
        .token(&cloud.api_url)
        .unwrap()
        .to_string();
    let client = Client::new(&cloud.api_url, Some(token.clone())).unwrap();
    let limits = client.limits().await.unwrap();
    assert_eq!(
        (limits.multipart_cutoff, limits.min_part_size),
        (CUTOFF, MIN_PART)
    );

    let file = tmp.path().join("noise.png");
    noisy_png(&file);
    let bytes = std::fs::read(&file).unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    let upload_options = UploadOptions {
        part_concurrency: 1,
        ..UploadOptions::default()
    };
    let prepared = {
        let (file, limits, upload_options) = (file.clone(), limits.clone(), upload_options.clone());
        tokio::task::spawn_blocking(move || prepare_file(&file, &limits, &upload_options))
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(prepared.sha256, sha);
    assert_eq!(prepared.size, bytes.len() as u64);
    assert!(prepared.size > 2 * MIN_PART, "{} bytes", prepared.size);
    assert_eq!(prepared.part_count(), Some(3));
    assert_eq!((prepared.width, prepared.height), (2000, 1960));

    // --- first attempt: stopped (its future dropped) once part 1 is recorded ----------------
    let saved: Arc<Mutex<Vec<Checkpoint>>> = Arc::default();
    let part_one = Arc::new(tokio::sync::Notify::new());
    let mut checkpoint = Checkpoint::new(&prepared.sha256);
    {
        let (saved, notify) = (saved.clone(), part_one.clone());
        let on_checkpoint = move |c: &Checkpoint| {
            saved.lock().unwrap().push(c.clone());
            if c.parts_done.len() == 1 {
                notify.notify_one();
            }
        };
        let upload = upload_prepared(
            &client,
            &prepared,
            &mut checkpoint,
            &upload_options,
            &|_, _| {},
            &on_checkpoint,
        );
        tokio::select! {
            biased;
            () = part_one.notified() => {}
            result = upload => panic!("the upload was meant to be stopped, it ended with {result:?}"),
        }
    }
    // What a daemon would have persisted last: the session and part 1.
    let persisted = serde_json::to_string(saved.lock().unwrap().last().unwrap()).unwrap();
    let first_events: Vec<(Option<String>, Vec<u32>)> = saved
        .lock()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c.upload_id.clone(),
                c.parts_done.iter().map(|p| p.number).collect(),
            )
        })
        .collect();
    let session = first_events[0].0.clone();
    assert!(session.is_some(), "the session is recorded first");
    assert_eq!(
        first_events,
        [(session.clone(), vec![]), (session.clone(), vec![1])],
        "the session is recorded before any byte, then part 1"
    );

    // --- resume, as after a restart: a new client and the checkpoint read back -------------
    let mut resumed: Checkpoint = serde_json::from_str(&persisted).unwrap();
    let etag_one = resumed.parts_done[0].etag.clone();
    let client = Client::new(&cloud.api_url, Some(token)).unwrap();
    let events: Arc<Mutex<Vec<Checkpoint>>> = Arc::default();
    let progress: Arc<Mutex<Vec<u64>>> = Arc::default();
    let uploaded = {
        let (events, progress) = (events.clone(), progress.clone());
        upload_prepared(
            &client,
            &prepared,
            &mut resumed,
            &upload_options,
            &move |done, total| {
                assert_eq!(total, bytes.len() as u64);
                progress.lock().unwrap().push(done);
            },
            &move |c| events.lock().unwrap().push(c.clone()),
        )
        .await
        .unwrap()
    };
    assert!(!uploaded.existed);
    assert_eq!(resumed.upload_id, session, "the same session came back");

    // Part 1 was not sent again: the session was not re-recorded, parts 2 and 3 were added to
    // the recorded part 1 (same ETag), and progress started at part 1's end.
    let events: Vec<Vec<(u32, String)>> = events
        .lock()
        .unwrap()
        .iter()
        .map(|c| {
            let mut parts: Vec<(u32, String)> = c
                .parts_done
                .iter()
                .map(|p| (p.number, p.etag.clone()))
                .collect();
            parts.sort();
            parts
        })
        .collect();
    let numbers: Vec<Vec<u32>> = events
        .iter()
        .map(|parts| parts.iter().map(|(n, _)| *n).collect())
        .collect();
    assert_eq!(numbers, [vec![1, 2], vec![1, 2, 3]]);
    assert!(events.iter().all(|parts| parts[0].1 == etag_one));
    let progress = progress.lock().unwrap().clone();
    assert_eq!(progress.first(), Some(&MIN_PART), "{progress:?}");
    assert!(progress.iter().all(|&done| done >= MIN_PART));
    assert_eq!(progress.last(), Some(&prepared.size));

    // The image round-trips through the CDN-style link.
    let image = uploaded.image;
    assert_eq!(image.sha256, sha);
    let got = reqwest::get(&image.url).await.unwrap();
    assert!(
        got.status().is_success(),
        "GET {}: {}",
        image.url,
        got.status()
    );
    let got = got.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&got)), sha);
    let thumb = reqwest::get(&image.thumb_url).await.unwrap();
    assert!(thumb.status().is_success(), "thumbnail: {}", thumb.status());

    // Exactly one image, and the bytes are known now: a fresh checkpoint gets `existed`.
    let page = client.list_images(&ListParams::default()).await.unwrap();
    assert_eq!(page.items.len(), 1, "{:?}", page.items);
    assert_eq!(page.items[0].id, image.id);
    let mut fresh = Checkpoint::new(&prepared.sha256);
    let again = upload_prepared(
        &client,
        &prepared,
        &mut fresh,
        &upload_options,
        &|_, _| {},
        &|_| {},
    )
    .await
    .unwrap();
    assert!(again.existed);
    assert_eq!(again.image.id, image.id);

    cloud.shutdown().await.unwrap();
}
