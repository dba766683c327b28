//! The sync daemon takes images arriving in a watched folder — copied, moved in from outside,
//! or written slowly — exactly once and complete, with their links and verified backups; files
//! added while it was stopped go up at the next start.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use imgcloud_tests::daemon::{images_by_sha, move_in};
use imgcloud_tests::{SyncDaemon, fetch, jpeg, sha256_hex};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Writes `bytes` to `path` in chunks spread over `duration`, then closes it.
fn slow_write(path: PathBuf, bytes: Vec<u8>, duration: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(&path).unwrap();
        let chunks = 30;
        let step = bytes.len().div_ceil(chunks);
        for chunk in bytes.chunks(step) {
            file.write_all(chunk).unwrap();
            file.flush().unwrap();
            std::thread::sleep(duration / chunks as u32);
        }
    })
}

#[test]
fn images_arriving_by_copy_move_and_slow_writer_are_each_uploaded_once_and_backed_up() {
    let mut daemon = SyncDaemon::new(&[]).unwrap();
    daemon.start().unwrap();

    let mut expected = Vec::new(); // (path in watched folder, sha256, bytes)
    let mut writers = Vec::new();
    for i in 0..100u64 {
        let bytes = jpeg(240 + (i as u32 % 7) * 8, 160, 1000 + i);
        let sha = sha256_hex(&bytes);
        let target = daemon.watch_dir.join(format!("img-{i:03}.jpg"));
        match i % 5 {
            // 40 copied in (`cp`: create, write, close in the folder).
            0 | 1 => {
                let source = daemon.outside_dir.join(format!("src-{i}.jpg"));
                std::fs::write(&source, &bytes).unwrap();
                std::fs::copy(&source, &target).unwrap();
            }
            // 40 moved in from outside (`mv`: appear complete, no write events).
            2 | 3 => move_in(&bytes, &daemon.outside_dir, &target).unwrap(),
            // 20 written slowly, over 3 s each.
            _ => writers.push(slow_write(
                target.clone(),
                bytes.clone(),
                Duration::from_secs(3),
            )),
        }
        expected.push((target, sha, bytes));
    }
    for w in writers {
        w.join().unwrap();
    }

    daemon
        .wait_synced(100, Duration::from_secs(240))
        .expect("all 100 synced");

    // Exactly once in the cloud, complete: one image per expected hash and nothing else (a
    // half-written upload would be an extra image with another hash).
    let rt = runtime();
    let client = daemon.client().unwrap();
    let in_cloud = rt.block_on(images_by_sha(&client)).unwrap();
    assert_eq!(in_cloud.len(), 100, "images in the cloud: {in_cloud:?}");
    for (path, sha, _) in &expected {
        assert_eq!(
            in_cloud.get(sha),
            Some(&1),
            "{} not exactly once",
            path.display()
        );
    }
    assert_eq!(
        daemon.count_originals(),
        100,
        "one stored original per image"
    );

    // An "uploaded" line with its link for each file, once; the link serves the same bytes.
    let lines = daemon.uploaded_lines();
    for (path, sha, _) in &expected {
        let links: Vec<&String> = lines
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, l)| l)
            .collect();
        assert_eq!(
            links.len(),
            1,
            "{}: uploaded lines {links:?}",
            path.display()
        );
        let got = rt.block_on(fetch(links[0])).unwrap();
        assert_eq!(got.status, 200, "{}", links[0]);
        assert_eq!(
            &sha256_hex(&got.body),
            sha,
            "{} served other bytes",
            links[0]
        );
    }

    // The backup holds each original with the right hash.
    for (path, sha, _) in &expected {
        let copy = std::fs::read(daemon.backup_object(sha))
            .unwrap_or_else(|e| panic!("no backup of {}: {e}", path.display()));
        assert_eq!(&sha256_hex(&copy), sha);
    }

    let status = daemon.status();
    assert_eq!(status.counts.failed, 0, "{status:#?}");
    assert_eq!(daemon.stop().unwrap(), Some(0), "SIGTERM exits cleanly");
}

#[test]
fn files_added_while_stopped_are_uploaded_at_the_next_start() {
    let mut daemon = SyncDaemon::new(&[]).unwrap();
    daemon.start().unwrap();
    let first = jpeg(200, 150, 1);
    std::fs::write(daemon.watch_dir.join("before.jpg"), &first).unwrap();
    daemon.wait_synced(1, Duration::from_secs(60)).unwrap();
    assert_eq!(daemon.stop().unwrap(), Some(0));

    let mut shas = vec![sha256_hex(&first)];
    let nested = daemon.watch_dir.join("while-stopped/deeper");
    std::fs::create_dir_all(&nested).unwrap();
    for i in 0..6u64 {
        let bytes = jpeg(180, 120, 50 + i);
        shas.push(sha256_hex(&bytes));
        let dir = if i % 2 == 0 {
            &daemon.watch_dir
        } else {
            &nested
        };
        std::fs::write(dir.join(format!("offline-{i}.jpg")), &bytes).unwrap();
    }

    daemon.start().unwrap();
    daemon.wait_synced(7, Duration::from_secs(90)).unwrap();
    let in_cloud = runtime()
        .block_on(images_by_sha(&daemon.client().unwrap()))
        .unwrap();
    assert_eq!(in_cloud.len(), 7, "{in_cloud:?}");
    for sha in &shas {
        assert_eq!(in_cloud.get(sha), Some(&1));
        assert!(daemon.backup_object(sha).is_file());
    }
}
