//! The engine in-process against the embedded cloud: images copied into a watched folder are
//! uploaded (an `uploaded` event with the link each), backed up, and listed by the cloud.

use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use imgcloud_core::client::ListParams;
use imgcloud_core::daemon_api::{Event, WatchedFolder};
use imgcloud_core::daemon_config::DaemonConfig;
use imgcloud_core::paths::Dirs;
use imgcloud_daemon::control::Control;
use imgcloud_daemon::engine::{Daemon, DaemonOptions};

/// A small PNG, different for each seed.
fn png(seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(64 + seed, 48, |x, y| {
        image::Rgb([
            (x * 7 + seed * 31) as u8,
            (y * 5 + seed * 17) as u8,
            (x ^ y ^ seed) as u8,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn dirs(root: &Path) -> Dirs {
    Dirs {
        config: root.join("config"),
        data: root.join("data"),
        runtime: root.join("run"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn images_copied_into_a_watched_folder_are_uploaded_and_backed_up() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path());
    let watched = root.path().join("watched");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&watched).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let watched = watched.canonicalize().unwrap();

    let mut config = DaemonConfig {
        picgo: false,
        ..DaemonConfig::default()
    };
    config.add_folder(WatchedFolder::new(&watched));
    config.save(&dirs.daemon_config_file()).unwrap();

    let mut options = DaemonOptions::new(dirs.clone());
    options.cloud.listen = Some("127.0.0.1:0".parse().unwrap());
    options.cloud.s3_listen = Some("127.0.0.1:0".parse().unwrap());
    let daemon = Daemon::start(options).await.expect("daemon starts");
    assert!(daemon.is_embedded());
    #[cfg(unix)]
    {
        // its state lists every synced file: the owner's only
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dirs.daemon_state())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
    let mut events = daemon.events();

    // Five images copied in (`cp`), plus a text file that is none of the daemon's business.
    let mut expected: HashMap<PathBuf, Vec<u8>> = HashMap::new();
    for i in 0..5u32 {
        let bytes = png(i);
        let source = outside.join(format!("src-{i}.png"));
        std::fs::write(&source, &bytes).unwrap();
        let target = watched.join(format!("image {i}.png"));
        std::fs::copy(&source, &target).unwrap();
        expected.insert(target, bytes);
    }
    std::fs::write(watched.join("notes.txt"), b"not a picture").unwrap();

    let mut uploaded: HashMap<PathBuf, (String, String)> = HashMap::new();
    let mut backed_up: HashSet<PathBuf> = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while uploaded.len() < 5 || backed_up.len() < 5 {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "timed out: uploaded {uploaded:?}, backed up {backed_up:?}, status {:#?}",
                    daemon.status()
                )
            })
            .expect("event stream open");
        match event {
            Event::Uploaded {
                path, url, link, ..
            } => {
                assert!(expected.contains_key(&path), "unexpected upload {path:?}");
                assert!(
                    uploaded.insert(path.clone(), (url, link)).is_none(),
                    "{path:?} uploaded twice"
                );
            }
            Event::BackedUp { path, .. } => {
                backed_up.insert(path);
            }
            Event::Failed { path, message, .. } => panic!("{path:?} failed: {message}"),
            _ => {}
        }
    }

    // The default link format is the plain URL.
    for (url, link) in uploaded.values() {
        assert_eq!(url, link);
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    }

    // The cloud lists exactly these five images.
    let page = daemon
        .client()
        .list_images(&ListParams {
            limit: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5, "{:?}", page.items);
    let backup = daemon.backup_dir().expect("backups on by default");
    for image in &page.items {
        let copy = backup
            .join("objects")
            .join(&image.sha256[..2])
            .join(&image.sha256);
        assert!(copy.is_file(), "no backup copy {}", copy.display());
    }

    let status = daemon.status();
    assert_eq!(status.counts.backed_up, 5, "{status:#?}");
    assert_eq!(status.counts.pending(), 0, "{status:#?}");
    assert_eq!(status.counts.failed, 0, "{status:#?}");
    assert!(status.online && status.embedded);
    daemon.shutdown().await.unwrap();
}

/// Waits for an `uploaded` event of `path`; returns its URL.
async fn uploaded_url(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    path: &Path,
    daemon: &Daemon,
) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(Event::Uploaded { path: p, url, .. })) if p == path => return url,
            Ok(Ok(Event::Failed {
                path: p, message, ..
            })) if p == path => {
                panic!("{} failed: {message}", p.display())
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("event stream: {e}"),
            Err(_) => panic!(
                "no upload of {} in time; status {:#?}",
                path.display(),
                daemon.status()
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn picgo_uploads_pause_and_folder_changes_through_control_and_daemon_toml() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path());
    let outside = root.path().join("outside");
    let later = root.path().join("later");
    let reloaded = root.path().join("reloaded");
    for dir in [&outside, &later, &reloaded] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut options = DaemonOptions::new(dirs.clone());
    options.cloud.listen = Some("127.0.0.1:0".parse().unwrap());
    options.cloud.s3_listen = Some("127.0.0.1:0".parse().unwrap());
    let daemon = Daemon::start(options).await.expect("daemon starts");
    let mut events = daemon.events();

    // PicGo: files anywhere, answers in input order; errors name the file.
    let a = outside.join("typora a.png");
    std::fs::write(&a, png(40)).unwrap();
    let notes = outside.join("notes.txt");
    std::fs::write(&notes, b"not a picture at all, just some words").unwrap();
    let missing = outside.join("nope.png");
    let answers = daemon
        .upload_files(vec![a.clone(), missing.clone(), notes.clone()])
        .await;
    let url = answers[0].as_ref().expect("the image uploads");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with(".png"),
        "{url}"
    );
    let err = answers[1].as_ref().unwrap_err();
    assert!(err.contains("nope.png"), "{err}");
    let err = answers[2].as_ref().unwrap_err();
    assert!(
        err.contains("notes.txt") && err.contains("not an image"),
        "{err}"
    );
    // The same file again: the same link, nothing uploaded twice.
    assert_eq!(
        daemon.upload_files(vec![a.clone()]).await[0].as_ref(),
        Ok(url)
    );

    // Enqueued by hand (a folder outside the watched ones): only new files count.
    let sub = outside.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let d = sub.join("d.png");
    std::fs::write(&d, png(43)).unwrap();
    std::fs::write(sub.join(".hidden.png"), png(44)).unwrap();
    assert_eq!(daemon.enqueue(vec![outside.clone()]).await.unwrap(), 1);
    uploaded_url(&mut events, &d, &daemon).await;
    assert!(daemon.enqueue(vec![outside.join("gone")]).await.is_err());

    // Paused: files enter the queue, nothing goes up; resumed: it goes up.
    daemon.pause();
    assert!(daemon.status().paused);
    let later = later.canonicalize().unwrap();
    let folders = daemon.add_folder(WatchedFolder::new(&later)).await.unwrap();
    assert_eq!(folders.len(), 1);
    let saved = DaemonConfig::load(&dirs.daemon_config_file()).unwrap();
    assert_eq!(saved.folders, folders, "saved to daemon.toml");
    let b = later.join("b.png");
    std::fs::write(&b, png(41)).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while daemon.status().counts.pending() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:#?}",
            daemon.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = daemon.status();
    assert_eq!(
        status.counts.pending(),
        1,
        "nothing goes up while paused: {status:#?}"
    );
    daemon.resume();
    uploaded_url(&mut events, &b, &daemon).await;

    // daemon.toml edited by hand: applied without a restart.
    let reloaded = reloaded.canonicalize().unwrap();
    let mut config = DaemonConfig::load(&dirs.daemon_config_file()).unwrap();
    config.add_folder(WatchedFolder::new(&reloaded));
    config.concurrency = 2;
    config.save(&dirs.daemon_config_file()).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while daemon.folders().len() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "daemon.toml not reloaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = reloaded.join("c.png");
    std::fs::write(&c, png(42)).unwrap();
    uploaded_url(&mut events, &c, &daemon).await;

    // A broken daemon.toml is refused; the previous settings stay.
    std::fs::write(dirs.daemon_config_file(), "concurrency = 0\n").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(daemon.folders().len(), 2);

    // Removing a folder saves it and stops watching it.
    let folders = daemon.remove_folder(&reloaded).await.unwrap();
    assert_eq!(folders, vec![WatchedFolder::new(&later)]);
    assert!(daemon.remove_folder(&reloaded).await.is_err());
    daemon.shutdown().await.unwrap();
}
