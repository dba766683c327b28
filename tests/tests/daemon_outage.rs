//! The object store refusing, then dropping, connections for 30 s (60 s with
//! `IMGCLOUD_CHAOS=full`, chaos R4): the daemon's queue waits, `imgcloud status` shows the errors
//! meanwhile, and everything completes once it is back. Prints one `r4-store-down: …` line.

use std::time::{Duration, Instant};

use imgcloud_tests::daemon::{images_by_sha, lost_and_duplicated};
use imgcloud_tests::fault_proxy::{FaultProxy, Mode};
use imgcloud_tests::{SyncDaemon, jpeg, sha256_hex};

#[test]
fn an_object_store_outage_of_30_s_is_waited_out_and_visible_in_status() {
    let mut daemon = SyncDaemon::new(&[]).unwrap();
    let upstream = format!("127.0.0.1:{}", daemon.s3_port).parse().unwrap();
    let proxy = FaultProxy::start("127.0.0.1:0".parse().unwrap(), upstream).unwrap();
    daemon
        .arg("--s3-endpoint")
        .arg(&format!("http://{}", proxy.addr));
    daemon.start().unwrap();

    // One file synced through the proxy first: the path works.
    let first = jpeg(160, 120, 900);
    std::fs::write(daemon.watch_dir.join("before.jpg"), &first).unwrap();
    daemon.wait_synced(1, Duration::from_secs(60)).unwrap();

    proxy.set_mode(Mode::Refuse);
    let mut shas = vec![sha256_hex(&first)];
    for i in 0..20u64 {
        let bytes = jpeg(160, 120, 901 + i);
        shas.push(sha256_hex(&bytes));
        std::fs::write(daemon.watch_dir.join(format!("during-{i:02}.jpg")), &bytes).unwrap();
    }

    // Half refused, half dropped; watch the status the whole time.
    let outage = match std::env::var("IMGCLOUD_CHAOS").as_deref() {
        Ok("full") => Duration::from_secs(60),
        _ => Duration::from_secs(30),
    };
    let mut saw_errors = false;
    let mut max_done_during = 0;
    let start = Instant::now();
    while start.elapsed() < outage {
        if start.elapsed() >= outage / 2 {
            proxy.set_mode(Mode::Drop);
        }
        let status = daemon.status();
        max_done_during = max_done_during.max(status.counts.backed_up);
        if !status.recent_errors.is_empty() && status.counts.pending() > 0 {
            saw_errors = true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        saw_errors,
        "no error was visible in `imgcloud status` during the outage"
    );
    assert_eq!(
        max_done_during, 1,
        "nothing can reach the store during the outage"
    );
    let out = daemon.cli(&["status"]);
    assert_eq!(out.code, 0, "{out}");

    proxy.set_mode(Mode::Pass);
    let back = std::time::Instant::now();
    daemon
        .wait_synced(21, Duration::from_secs(240))
        .expect("the queue drains once the store is back");
    let drained = back.elapsed();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let in_cloud = rt
        .block_on(images_by_sha(&daemon.client().unwrap()))
        .unwrap();
    let (lost, duplicated) = lost_and_duplicated(&shas, &in_cloud);
    println!(
        "r4-store-down: 21 files tried, {ok} ok, lost {lost}, duplicated {duplicated}; the store \
         refused then dropped connections for {outage:?}, 20 files queued meanwhile, drained \
         {drained:.1?} after it was back",
        ok = 21 - lost,
    );
    assert_eq!(in_cloud.len(), 21, "{in_cloud:?}");
    for sha in &shas {
        assert_eq!(in_cloud.get(sha), Some(&1));
    }
    assert_eq!(daemon.count_originals(), 21);
}
