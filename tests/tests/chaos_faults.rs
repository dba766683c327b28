//! Chaos R2: uploads through fault-injecting proxies in front of both the API and the object
//! store, 20 % of requests failing (503, reset, stall, answer cut short or lost): every upload
//! completes, every link serves exactly the bytes of its file, and nothing is duplicated.
//! `scripts/chaos/r2-faulty-network.sh` runs 500 files; `scripts/test.sh` a short run. Prints one
//! `r2-faulty-network: …` line.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use imgcloud_core::client::Client;
use imgcloud_core::upload::{UploadOptions, upload_paths};
use imgcloud_tests::daemon::{images_by_sha, lost_and_duplicated};
use imgcloud_tests::http_faults::{HttpFaultProxy, embedded_cloud_behind_store_proxy};
use imgcloud_tests::{fetch, images, jpeg, sha256_hex};

const MIB: usize = 1024 * 1024;

fn files() -> usize {
    match std::env::var("IMGCLOUD_CHAOS").as_deref() {
        Ok("full") => 500,
        _ => 60,
    }
}

#[test]
#[ignore = "chaos scenario: scripts/chaos/r2-faulty-network.sh (full) or scripts/test.sh (short)"]
fn r2_uploads_through_a_faulty_network_complete_intact() {
    // The proxies run their own runtimes: the test drives the client from another one.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let n = files();
    let stall = Duration::from_secs(2);
    let (cloud, s3_proxy) = embedded_cloud_behind_store_proxy(200, stall, 7).unwrap();
    let api_upstream = cloud.api_url.trim_start_matches("http://").parse().unwrap();
    let api_proxy = HttpFaultProxy::start(api_upstream, 200, stall, 11).unwrap();
    let token = cloud.token().unwrap();
    let client = Client::new(&format!("http://{}", api_proxy.addr), Some(token.clone())).unwrap();

    // Mostly photos, a few large enough to go up in parts, a few repeats of earlier bytes.
    let mut paths = Vec::new();
    let mut expected: HashMap<String, Vec<u8>> = HashMap::new();
    for i in 0..n {
        let bytes = if i % 50 == 25 {
            images::png_at_least(11 * MIB, 3000 + i as u64)
        } else if i % 25 == 24 {
            jpeg(400, 300, 2000 + i as u64 - 1)
        } else {
            jpeg(400, 300, 2000 + i as u64)
        };
        paths.push(cloud.write_file(&format!("f-{i:04}.jpg"), &bytes));
        expected.insert(sha256_hex(&bytes), bytes);
    }

    let started = Instant::now();
    let outcomes = rt.block_on(upload_paths(
        &client,
        &paths,
        &UploadOptions::default(),
        |_| {},
    ));
    let elapsed = started.elapsed();
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.result
                .as_ref()
                .err()
                .map(|e| format!("{}: {e}", o.path.display()))
        })
        .collect();
    let (s3_faults, api_faults) = (s3_proxy.counts(), api_proxy.counts());

    // Check through the same proxies with the faults off.
    s3_proxy.set_per_mille(0);
    api_proxy.set_per_mille(0);
    let (corrupted, counts) = rt.block_on(async {
        let mut corrupted = 0;
        for outcome in outcomes.iter().filter_map(|o| o.result.as_ref().ok()) {
            let served = fetch(&outcome.image.url).await.unwrap();
            let want = &outcome.image.sha256;
            if served.status != 200
                || &sha256_hex(&served.body) != want
                || !expected.contains_key(want)
            {
                corrupted += 1;
                eprintln!(
                    "{}: {} served other bytes",
                    outcome.image.id, outcome.image.url
                );
            }
        }
        let counts = images_by_sha(&client).await.unwrap();
        (corrupted, counts)
    });
    let (lost, duplicated) = lost_and_duplicated(expected.keys(), &counts);
    println!(
        "r2-faulty-network: {n} files ({distinct} distinct) tried, {ok} ok, lost {lost}, \
         duplicated {duplicated}, corrupted {corrupted}; faults injected: API {api} of {api_req} \
         requests, store {s3} of {s3_req} ({s503} × 503, {reset} resets, {stalls} stalls of \
         {stall:?}, {short} answers cut or lost; {retries} retries forced); {elapsed:.1?}",
        distinct = expected.len(),
        ok = n - failed.len(),
        api = api_faults.faults(),
        api_req = api_faults.requests,
        s3 = s3_faults.faults(),
        s3_req = s3_faults.requests,
        s503 = api_faults.status_503 + s3_faults.status_503,
        reset = api_faults.resets + s3_faults.resets,
        stalls = api_faults.stalls + s3_faults.stalls,
        short = api_faults.short_answers + s3_faults.short_answers,
        retries = api_faults.faults() + s3_faults.faults() - api_faults.stalls - s3_faults.stalls,
    );
    assert!(failed.is_empty(), "uploads failed:\n{}", failed.join("\n"));
    assert_eq!((lost, duplicated, corrupted), (0, 0, 0));
    assert!(
        api_faults.faults() > 0 && s3_faults.faults() > 0,
        "no fault was injected"
    );
}
