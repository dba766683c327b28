//! `kill -9` of the daemon at three moments while 300 files sync (one of them multipart with a
//! small part size), then a restart: every file ends up in the cloud exactly once and in the
//! backup, and the large file's multipart upload resumed instead of starting over.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use imgcloud_tests::daemon::images_by_sha;
use imgcloud_tests::images::png_at_least;
use imgcloud_tests::{SyncDaemon, jpeg, sha256_hex};

const MIB: usize = 1024 * 1024;

/// Polls until `cond` holds on the status (or the daemon finished everything, which would make
/// this kill moment meaningless: that fails the test with the reason).
fn wait_moment(
    daemon: &SyncDaemon,
    what: &str,
    cond: impl Fn(&imgcloud_core::daemon_api::Status) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        let status = daemon.status();
        if cond(&status) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moment `{what}` never came; status: {:#?}", daemon.status());
}

#[test]
fn kill_9_at_three_moments_loses_nothing_and_duplicates_nothing() {
    let mut daemon = SyncDaemon::new(&[]).unwrap();
    daemon
        .arg("--multipart-cutoff")
        .arg(&(6 * MIB).to_string())
        .arg("--min-part-size")
        .arg(&(5 * MIB).to_string());
    // Slow the network down so the kills land while work is in flight.
    daemon.write_daemon_config("bandwidth_limit = 4000000\n");
    daemon.start().unwrap();

    let big = png_at_least(26 * MIB, 7);
    assert!(big.len() >= 26 * MIB);
    let big_path = daemon.watch_dir.join("large.png");
    let mut expected = BTreeMap::new();
    expected.insert(sha256_hex(&big), big_path.clone());
    std::fs::write(&big_path, &big).unwrap();
    for i in 0..299u64 {
        let bytes = jpeg(96 + (i as u32 % 5) * 4, 64, 5000 + i);
        let path = daemon.watch_dir.join(format!("small-{i:03}.jpg"));
        std::fs::write(&path, &bytes).unwrap();
        expected.insert(sha256_hex(&bytes), path);
    }
    assert_eq!(expected.len(), 300);

    // Moment 1: early, while the first files go up and the large one has started.
    wait_moment(&daemon, "first files backed up", |s| {
        s.counts.backed_up >= 5
    });
    daemon.kill9();
    daemon.start().unwrap();

    // Moment 2: in the middle of the large file's multipart upload, after its first parts
    // (4 go at once: past 80 % of the bytes at least one of them has completed).
    wait_moment(&daemon, "large file 80% sent", |s| {
        s.in_flight
            .iter()
            .any(|f| f.path == big_path && f.bytes_done * 10 >= f.bytes_total * 8)
    });
    daemon.kill9();
    daemon.start().unwrap();

    // Moment 3: later, among the small files.
    wait_moment(&daemon, "200 backed up", |s| s.counts.backed_up >= 200);
    daemon.kill9();
    daemon.start().unwrap();

    daemon
        .wait_synced(300, Duration::from_secs(300))
        .expect("everything synced after the restarts");
    assert_eq!(daemon.starts(), 4);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let in_cloud = rt
        .block_on(images_by_sha(&daemon.client().unwrap()))
        .unwrap();
    assert_eq!(in_cloud.len(), 300, "distinct images in the cloud");
    for (sha, path) in &expected {
        assert_eq!(
            in_cloud.get(sha),
            Some(&1),
            "{} not exactly once",
            path.display()
        );
        let copy = std::fs::read(daemon.backup_object(sha))
            .unwrap_or_else(|e| panic!("no backup of {}: {e}", path.display()));
        assert_eq!(&sha256_hex(&copy), sha, "backup of {}", path.display());
    }
    assert_eq!(daemon.count_originals(), 300, "no duplicate objects");

    // The large file resumed: the server handed out the same multipart session after each
    // restart (the daemon asked again with its recorded idempotency key).
    let log = daemon.log();
    let sessions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("upload session") && l.contains("multipart=true"))
        .filter_map(|l| l.split("upload_id=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(
        sessions.len() >= 2,
        "the large file's session was asked for only {} time(s); log lines: {sessions:?}",
        sessions.len()
    );
    // Resuming means the recorded parts were skipped after a restart.
    let resumed_with_parts = log.lines().any(|l| {
        l.contains("resumed from the checkpoint")
            && l.contains("large.png")
            && l.split("parts_done=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n > 0)
    });
    assert!(
        resumed_with_parts,
        "the large file never resumed with parts already sent"
    );
    // The embedded store (s3s-fs) drops a multipart upload's id before it assembles the
    // object, so a kill inside its CompleteMultipartUpload leaves neither: then, and only
    // then, the daemon starts over with a new session (nothing lost or duplicated, as checked
    // above). Any other new session is a failure to resume.
    let mut distinct = sessions.clone();
    distinct.dedup();
    let gone_after_all_parts = log.contains("upload session is gone; starting over")
        && log.contains("could not complete the multipart upload");
    let allowed = if gone_after_all_parts { 2 } else { 1 };
    assert!(
        distinct.len() <= allowed,
        "the large file started over instead of resuming: sessions {sessions:?}"
    );
}
