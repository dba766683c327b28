//! Chaos R1: a watched folder fills up while the daemon is `kill -9`ed again and again at random
//! moments (hashing, PUT, complete, backup, the queue's own writes: whatever it is doing).
//! Afterwards the library holds the folder's distinct contents exactly once each, and every
//! backup copy verifies. `scripts/chaos/r1-sync-kills.sh` runs the full size (1,000 files, 25
//! kills); `scripts/test.sh` the short one. Prints one `r1-sync-kills: …` line.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use imgcloud_tests::daemon::images_by_sha;
use imgcloud_tests::{SyncDaemon, jpeg, sha256_hex};

/// `(files, kills)`: `IMGCLOUD_CHAOS=full` for the harness, short otherwise.
fn size() -> (usize, usize) {
    match std::env::var("IMGCLOUD_CHAOS").as_deref() {
        Ok("full") => (1000, 25),
        _ => (120, 6),
    }
}

/// A small deterministic generator (no dependency): the kill moments.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, min: u64, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        min + (self.0 >> 33) % (max - min)
    }
}

#[test]
#[ignore = "chaos scenario: scripts/chaos/r1-sync-kills.sh (full) or scripts/test.sh (short)"]
fn r1_kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let (files, kills) = size();
    let seed = std::env::var("IMGCLOUD_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261203u64);
    let mut moments = Moments(seed);
    let mut daemon = SyncDaemon::new(&[]).unwrap();
    // Slow enough that kills land while files are in flight.
    daemon.write_daemon_config("bandwidth_limit = 3000000\n");
    daemon.start().unwrap();

    // The files arrive in as many batches as there are kills; one in 20 repeats an earlier
    // file's bytes under another name (the library keeps one image for both).
    let mut contents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let per_batch = files.div_ceil(kills);
    let mut written = 0;
    let mut in_flight_at_kill = 0;
    let mut busy_at_kill = 0;
    // Rounds whose status never answered within the deadline, and the first such failure.
    let mut unanswered = 0;
    let mut first_unanswered: Option<String> = None;
    let started = Instant::now();
    for round in 0..kills {
        let end = (written + per_batch).min(files);
        // Made first, then written together: encoding takes longer than syncing, so a batch
        // written as it is made would be synced before the kill below comes.
        let batch: Vec<(String, Vec<u8>)> = (written..end)
            .map(|i| {
                let seed = if i % 20 == 19 { i - 19 } else { i };
                (
                    format!("r{round:02}-{i:04}.jpg"),
                    jpeg(1200, 900, 90_000 + seed as u64),
                )
            })
            .collect();
        for (name, bytes) in batch {
            std::fs::write(daemon.watch_dir.join(&name), &bytes).unwrap();
            contents.entry(sha256_hex(&bytes)).or_default().push(name);
        }
        written = end;
        // Kill while it works: as soon as it has picked the batch up (hashing), or a random
        // moment later (uploading, completing, backing up, writing its queue).
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut seen = None;
        let mut answered = false;
        let mut last_failure = String::new();
        while Instant::now() < deadline {
            let out = daemon.cli(&["status", "--json"]);
            let status: Option<imgcloud_core::daemon_api::Status> =
                serde_json::from_str(&out.stdout).ok();
            answered |= status.is_some();
            if status.is_none() {
                last_failure = format!("exit {}: {}", out.code, out.stderr.trim());
            }
            let busy = |s: &imgcloud_core::daemon_api::Status| {
                s.counts.pending() > 0 || s.counts.retrying > 0 || !s.in_flight.is_empty()
            };
            if let Some(status) = status.filter(busy) {
                seen = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !answered {
            unanswered += 1;
            first_unanswered.get_or_insert(last_failure);
        }
        std::thread::sleep(Duration::from_millis(moments.next_ms(0, 400)));
        if let Some(status) = seen {
            busy_at_kill += 1;
            if !status.in_flight.is_empty() {
                in_flight_at_kill += 1;
            }
        }
        daemon.kill9();
        daemon.start().unwrap();
    }

    let distinct = contents.len() as u64;
    daemon
        .wait_for("everything synced", Duration::from_secs(600), |s| {
            s.counts.backed_up >= distinct && s.counts.pending() == 0 && s.in_flight.is_empty()
        })
        .expect("the folder syncs after the kills");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = daemon.client().unwrap();
    let in_cloud = rt.block_on(images_by_sha(&client)).unwrap();

    let mut lost = 0;
    let mut duplicated = 0;
    let mut bad_backups = 0;
    for (sha, names) in &contents {
        match in_cloud.get(sha) {
            None => {
                lost += 1;
                eprintln!("lost: {names:?}");
            }
            Some(1) => {}
            Some(n) => {
                duplicated += 1;
                eprintln!("{n} images of {names:?}");
            }
        }
        match std::fs::read(daemon.backup_object(sha)) {
            Ok(copy) if &sha256_hex(&copy) == sha => {}
            _ => {
                bad_backups += 1;
                eprintln!("backup of {names:?} missing or wrong");
            }
        }
    }
    let strangers = in_cloud
        .keys()
        .filter(|sha| !contents.contains_key(*sha))
        .count();
    let originals = daemon.count_originals();
    // The daemon's own check of its backup store, as a user would run it.
    let verify = daemon.cli(&["backup", "verify", "--json"]);
    let report = verify.json();
    let (checked, corrupt, missing) = (
        report["checked"].as_u64().unwrap_or(0),
        report["corrupt"].as_array().map_or(usize::MAX, Vec::len),
        report["missing"].as_array().map_or(usize::MAX, Vec::len),
    );
    println!(
        "r1-sync-kills: {files} files ({distinct} distinct) tried, {ok} ok, lost {lost}, \
         duplicated {duplicated}, {kills} kills ({busy_at_kill} while it worked, {in_flight_at_kill} of them \
         with an upload under way; {unanswered} with no status answer in 8 s), {starts} starts, \
         backups verified {checked} ({corrupt} corrupt, {missing} missing), {secs:.0} s",
        ok = distinct as usize - lost - duplicated,
        starts = daemon.starts(),
        secs = started.elapsed().as_secs_f64(),
    );
    if let Some(failure) = &first_unanswered {
        println!("r1-status: the first status that never answered: {failure}");
    }
    assert_eq!((lost, duplicated), (0, 0), "lost or duplicated");
    assert!(busy_at_kill >= 1, "no kill landed while the daemon worked");
    assert_eq!(strangers, 0, "images that are not the folder's");
    assert_eq!(bad_backups, 0, "backup copies missing or wrong");
    assert_eq!(
        originals, distinct as usize,
        "one original object per content"
    );
    assert_eq!((corrupt, missing), (0, 0), "backup verify:\n{verify}");
    assert!(checked >= distinct, "backup verify checked {checked}");
}
