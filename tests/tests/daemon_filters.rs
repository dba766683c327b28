//! What the daemon never uploads (temp, partial, hidden, `.imgcloudignore`d files) and what it
//! reports as per-file errors (a non-image, a truncated image, an unreadable file) while the
//! rest syncs.

use std::path::Path;
use std::time::Duration;

use imgcloud_tests::daemon::images_by_sha;
use imgcloud_tests::{SyncDaemon, jpeg, png, sha256_hex};

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn ignored_files_never_go_up_and_bad_files_are_per_file_errors() {
    let mut daemon = SyncDaemon::new(&[]).unwrap();
    // As root every file is readable; the daemon then runs as `nobody` so one can be locked.
    let unprivileged = daemon.unprivileged_when_root().unwrap();
    daemon.start().unwrap();
    let w = daemon.watch_dir.clone();

    // Good ones, including a screenshot without an extension (recognised by content).
    let good = [
        (w.join("good.jpg"), jpeg(200, 100, 1)),
        (w.join("sub/nested.png"), png(120, 90, 2)),
        (w.join("Screenshot from today"), png(100, 80, 3)),
    ];
    // The ignore file first, so its rules hold when the files below appear.
    write(&w.join("sub/.imgcloudignore"), b"private/\n*.secret.jpg\n");
    std::thread::sleep(Duration::from_millis(300));
    let ignored = [
        (w.join("download.jpg.part"), jpeg(90, 90, 10)),
        (w.join("photo.jpg.crdownload"), jpeg(90, 90, 11)),
        (w.join("edit.jpg.tmp"), jpeg(90, 90, 12)),
        (w.join("photo.jpg~"), jpeg(90, 90, 13)),
        (w.join(".hidden.jpg"), jpeg(90, 90, 14)),
        (w.join(".cache/inside.jpg"), jpeg(90, 90, 15)),
        (w.join("sub/private/p.jpg"), jpeg(90, 90, 16)),
        (w.join("sub/x.secret.jpg"), jpeg(90, 90, 17)),
    ];
    let full = jpeg(300, 200, 20);
    let bad = [
        (
            w.join("notes.jpg"),
            b"these are my notes, not a picture".to_vec(),
        ),
        (w.join("truncated.jpg"), full[..full.len() / 2].to_vec()),
    ];
    for (path, bytes) in good.iter().chain(&ignored).chain(&bad) {
        write(path, bytes);
    }
    // A text file with a text name is none of our business: neither uploaded nor an error.
    write(&w.join("readme.txt"), b"hello");

    // Unreadable for the daemon's user.
    let locked = w.join("locked.jpg");
    write(&locked, &jpeg(90, 90, 30));
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        assert!(
            unprivileged || std::fs::read(&locked).is_err(),
            "locked.jpg must be unreadable for the daemon"
        );
    }
    let expected_failures = 3;

    let status = daemon
        .wait_for(
            "good files synced and bad ones failed",
            Duration::from_secs(120),
            |s| {
                s.counts.backed_up >= 3
                    && s.counts.failed >= expected_failures
                    && s.counts.pending() == 0
            },
        )
        .unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let in_cloud = rt
        .block_on(images_by_sha(&daemon.client().unwrap()))
        .unwrap();
    assert_eq!(in_cloud.len(), 3, "only the good files: {in_cloud:?}");
    for (path, bytes) in &good {
        assert_eq!(
            in_cloud.get(&sha256_hex(bytes)),
            Some(&1),
            "{}",
            path.display()
        );
    }
    for (path, bytes) in &ignored {
        assert!(
            !in_cloud.contains_key(&sha256_hex(bytes)),
            "{} was uploaded",
            path.display()
        );
    }

    // Each bad file is a per-file error naming it, with a reason; ignored files are not in the
    // queue at all.
    assert_eq!(status.counts.failed, expected_failures, "{status:#?}");
    let errors = daemon.cli(&["status", "--json"]);
    let status: imgcloud_core::daemon_api::Status = serde_json::from_str(&errors.stdout).unwrap();
    for path in bad.iter().map(|(p, _)| p).chain([&locked]) {
        let error = status
            .recent_errors
            .iter()
            .find(|e| &e.path == path)
            .unwrap_or_else(|| {
                panic!(
                    "no error for {}: {:#?}",
                    path.display(),
                    status.recent_errors
                )
            });
        assert!(error.permanent, "{error:?}");
        assert!(
            !error.message.is_empty() && !error.code.is_empty(),
            "{error:?}"
        );
    }
    let queue = daemon.cli(&["status", "--json"]).stdout;
    for (path, _) in &ignored {
        assert!(
            !queue.contains(&*path.to_string_lossy()),
            "{} is in the daemon's status",
            path.display()
        );
    }
    let human = daemon.cli(&["status"]);
    assert!(
        human.stdout.contains("notes.jpg") || human.stderr.contains("notes.jpg"),
        "human status names the failed file:\n{human}"
    );
}
