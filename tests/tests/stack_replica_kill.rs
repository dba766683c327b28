//! Through the production stack's load balancer, a client uploads 200 images and lists them,
//! under the API benchmark's load (`bench-api run list` at a fixed rate), while one replica is
//! killed with SIGKILL: no client-visible failure, for the client or the benchmark, every image
//! listed once, no duplicate (the client's retries are idempotent).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use imgcloud_core::client::{Client, ListParams};
use imgcloud_core::upload::{UploadEvent, UploadOptions, upload_paths};
use imgcloud_tests::{Stack, jpeg, sha256_hex};

const IMAGES: usize = 200;
/// Originals sent before the replica is killed.
const KILL_AFTER: usize = 60;
/// The benchmark's load: list requests per second, and for how long (it must span the kill).
const LOAD_RATE: u32 = 200;
const LOAD_SECS: u64 = 25;

/// `bench-api run list` through the balancer for [`LOAD_SECS`] (its database counts read from
/// `survivor` only: the other replica will be dead when it ends).
fn start_bench_load(stack: &Stack, survivor: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_bench-api"))
        .args(["run", "list", "--connections", "8", "--warmup", "0"])
        .args(["--rate", &LOAD_RATE.to_string()])
        .args(["--duration", &LOAD_SECS.to_string()])
        .env("IMGCLOUD_SERVER", &stack.server)
        .env("IMGCLOUD_TOKEN", &stack.token)
        .env("IMGCLOUD_STACK_REPLICAS", survivor)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start bench-api")
}

/// `key=value` from the benchmark's line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// Every image of the library, page by page (50 a page).
async fn list_all(client: &Client) -> anyhow::Result<Vec<imgcloud_core::api::Image>> {
    let mut items = Vec::new();
    let mut params = ListParams {
        limit: Some(50),
        ..ListParams::default()
    };
    loop {
        let page = client.list_images(&params).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) => params.cursor = Some(cursor),
            None => return Ok(items),
        }
        anyhow::ensure!(items.len() <= 10 * IMAGES, "the listing does not end");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the production stack (PostgreSQL, memcached, nginx); run by scripts/test.sh"]
async fn uploads_and_lists_survive_a_replica_killed_mid_run() {
    let stack = Stack::up().expect("stack up");
    let client = stack.client().unwrap();
    let load_started = Instant::now();
    let load = start_bench_load(&stack, &stack.replicas[1]);

    let dir = stack.work_dir.join("photos");
    let mut expected = BTreeMap::new();
    for i in 0..IMAGES {
        let bytes = jpeg(96, 64, 10_000 + i as u64);
        let path = stack.write_file(&format!("photos/img-{i:03}.jpg"), &bytes);
        assert!(
            expected.insert(sha256_hex(&bytes), path).is_none(),
            "test images must be distinct"
        );
    }

    // A lister that pages through the library the whole time, as a second client would.
    let stop_listing = Arc::new(AtomicBool::new(false));
    let lister = {
        let client = client.clone();
        let stop = stop_listing.clone();
        tokio::spawn(async move {
            let (mut ok, mut failures) = (0usize, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match list_all(&client).await {
                    Ok(_) => ok += 1,
                    Err(e) => failures.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (ok, failures)
        })
    };

    // Originals fully sent to the object store (the upload is then about to complete).
    let sent = Mutex::new(BTreeSet::new());
    let upload_done = AtomicBool::new(false);
    let options = UploadOptions {
        concurrency: 4,
        ..UploadOptions::default()
    };
    let inputs = [dir];
    let upload = async {
        let outcomes = upload_paths(&client, &inputs, &options, |event| {
            if let UploadEvent::Progress {
                index,
                bytes_done,
                bytes_total,
            } = event
                && bytes_done == bytes_total
            {
                sent.lock().unwrap().insert(index);
            }
        })
        .await;
        upload_done.store(true, Ordering::SeqCst);
        outcomes
    };
    // Kill replica-1 once part of the uploads are through.
    let killer = async {
        let start = Instant::now();
        while sent.lock().unwrap().len() < KILL_AFTER && !upload_done.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(300),
                "uploads too slow: {} sent in 5 min",
                sent.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let killed_mid_run = !upload_done.load(Ordering::SeqCst);
        stack.kill("replica-1").expect("SIGKILL replica-1");
        let kill_time = load_started.elapsed();
        (sent.lock().unwrap().len(), killed_mid_run, kill_time)
    };
    let (outcomes, (killed_at, killed_mid_run, kill_time)) = tokio::join!(upload, killer);
    assert!(killed_mid_run, "the upload ended before the kill point");
    eprintln!(
        "replica-1 killed after {killed_at} of {IMAGES} originals were sent, {:.1}s into the \
         benchmark's load",
        kill_time.as_secs_f64()
    );
    // Keep listing a moment after the uploads, with the replica still dead.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_listing.store(true, Ordering::Relaxed);
    let (listings, list_failures) = lister.await.expect("lister task");
    let load = load.wait_with_output().await.expect("bench-api");
    let load_line = String::from_utf8_lossy(&load.stdout).trim().to_string();
    assert!(
        load.status.success(),
        "bench-api failed: {}{}",
        load_line,
        String::from_utf8_lossy(&load.stderr)
    );
    let load_requests: u64 = field(&load_line, "requests")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no requests= in {load_line:?}"));
    let load_errors: u64 = field(&load_line, "errors")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no errors= in {load_line:?}"));
    assert!(
        kill_time + Duration::from_secs(2) < Duration::from_secs(LOAD_SECS),
        "the kill came {:.1}s into a {LOAD_SECS}s load: too late to be under it",
        kill_time.as_secs_f64()
    );

    assert!(
        !stack.is_running("replica-1"),
        "replica-1 should still be dead"
    );
    let upload_failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().map(|e| e.to_string()))
        .collect();
    let listed = list_all(&client).await.expect("final listing");
    let shas: Vec<&str> = listed.iter().map(|i| i.sha256.as_str()).collect();
    let unique: BTreeSet<&str> = shas.iter().copied().collect();
    let lost = expected
        .keys()
        .filter(|sha| !unique.contains(sha.as_str()))
        .count();
    println!(
        "r3-replica-kill: {IMAGES} uploads, {tried_lists} listings and {load_requests} benchmark \
         requests tried, {ok} ok, lost {lost}, duplicated {dups}, client-visible failures \
         {visible}; replica-1 killed (SIGKILL) after {killed_at} originals were sent, {:.1}s \
         into the benchmark's {LOAD_SECS}s of GET /v1/images at {LOAD_RATE}/s (p99 {} ms)",
        kill_time.as_secs_f64(),
        field(&load_line, "p99_ms").unwrap_or("?"),
        tried_lists = listings + list_failures.len(),
        ok = IMAGES - upload_failures.len() + listings + load_requests as usize
            - load_errors as usize,
        dups = shas.len() - unique.len(),
        visible = upload_failures.len() + list_failures.len() + load_errors as usize,
    );
    assert_eq!(
        load_errors,
        0,
        "the benchmark's load saw failures: {load_line} {}",
        String::from_utf8_lossy(&load.stderr)
    );
    assert!(
        upload_failures.is_empty(),
        "{} of {IMAGES} uploads failed (replica killed after {killed_at}): {:?}",
        upload_failures.len(),
        &upload_failures[..upload_failures.len().min(5)]
    );
    assert_eq!(outcomes.len(), IMAGES);
    assert!(
        list_failures.is_empty(),
        "{} of {} listings failed: {:?}",
        list_failures.len(),
        listings + list_failures.len(),
        &list_failures[..list_failures.len().min(5)]
    );
    assert!(listings > 0, "the lister never completed a listing");

    assert_eq!(
        shas.len(),
        unique.len(),
        "duplicate images in the library (a retry was not idempotent)"
    );
    assert_eq!(listed.len(), IMAGES, "every image listed exactly once");
    let expected_shas: BTreeSet<&str> = expected.keys().map(String::as_str).collect();
    assert_eq!(
        unique, expected_shas,
        "the library holds exactly the uploaded images"
    );
    let ids: BTreeSet<&str> = listed.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), IMAGES, "ids are distinct");

    // The survivor alone serves the library; the killed replica comes back on its port.
    stack.start("replica-1").expect("restart replica-1");
    let replica_1 = stack.client_at(&stack.replicas[0], &stack.token).unwrap();
    assert_eq!(list_all(&replica_1).await.unwrap().len(), IMAGES);
}
