//! Chaos R4, the daemon's disk full: its backup folder sits on a small tmpfs that a filler file
//! fills while it runs. Files still go to the cloud, `imgcloud status` says why the backup copies wait,
//! nothing is lost, and once space returns every copy is made without a restart. Needs root (it
//! mounts the tmpfs); prints one `r4-disk-full: …` line.

use std::process::Command;
use std::time::{Duration, Instant};

use imgcloud_tests::daemon::{images_by_sha, lost_and_duplicated};
use imgcloud_tests::{SyncDaemon, jpeg, sha256_hex};

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "imgcloud-chaos",
            ])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Self(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
#[ignore = "chaos scenario (needs root for a tmpfs): scripts/chaos/r4-outages.sh, scripts/test.sh"]
fn r4_a_full_disk_is_reported_loses_nothing_and_resumes_when_space_returns() {
    let mut daemon = SyncDaemon::new(&[]).unwrap();
    let full = daemon.outside_dir.join("small-disk");
    let _tmpfs = match Tmpfs::mount(&full, "2m") {
        Ok(tmpfs) => tmpfs,
        Err(e) => {
            println!(
                "r4-disk-full: SKIPPED: cannot mount a tmpfs (needs root): {}",
                e.trim()
            );
            return;
        }
    };
    let backup = full.join("backup");
    daemon.write_daemon_config(&format!("backup_dir = \"{}\"\n", backup.display()));
    daemon.start().unwrap();
    // The disk fills up while it runs, to the last byte.
    let filler = full.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 4 * 1024 * 1024]);

    let n = 12;
    let mut shas = Vec::new();
    for i in 0..n {
        let bytes = jpeg(400, 300, 70_000 + i);
        shas.push(sha256_hex(&bytes));
        std::fs::write(daemon.watch_dir.join(format!("f-{i:02}.jpg")), &bytes).unwrap();
    }

    // The copies cannot be written: status says so, by file.
    let stuck = daemon
        .wait_for(
            "a backup error in the status",
            Duration::from_secs(60),
            |s| {
                s.recent_errors.iter().any(|e| {
                    let m = e.message.to_lowercase();
                    m.contains("space") || m.contains("full")
                })
            },
        )
        .expect("the full disk is reported");
    let error = stuck
        .recent_errors
        .iter()
        .find(|e| e.message.to_lowercase().contains("space"))
        .or(stuck.recent_errors.first())
        .cloned()
        .unwrap();
    assert!(
        error.code == "disk_full" && error.message.contains(&backup.display().to_string()),
        "the error names the full backup folder: {error:?}"
    );
    assert!(
        stuck.counts.backed_up < n,
        "nothing fits on the full disk: {:?}",
        stuck.counts
    );

    // Space comes back: everything is copied, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let back = Instant::now();
    daemon
        .wait_synced(n, Duration::from_secs(300))
        .expect("the backups resume once there is space");
    let resumed = back.elapsed();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let in_cloud = rt
        .block_on(images_by_sha(&daemon.client().unwrap()))
        .unwrap();
    let (lost, duplicated) = lost_and_duplicated(&shas, &in_cloud);
    let bad_copies = shas
        .iter()
        .filter(|sha| {
            let copy = backup.join("objects").join(&sha[..2]).join(sha);
            std::fs::read(copy)
                .map(|b| &sha256_hex(&b) != *sha)
                .unwrap_or(true)
        })
        .count();
    println!(
        "r4-disk-full: {n} files tried, {ok} ok, lost {lost}, duplicated {duplicated}, backup \
         copies missing or wrong {bad_copies}; while full the status said \"{code}: {message}\"; \
         all copied {resumed:.1?} after space returned, {starts} start(s)",
        ok = n as usize - lost,
        code = error.code,
        message = error.message,
        starts = daemon.starts(),
    );
    assert_eq!((lost, duplicated, bad_copies), (0, 0, 0));
    assert_eq!(daemon.starts(), 1, "it resumed without a restart");
}
