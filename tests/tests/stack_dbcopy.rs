//! The database copy drills on the production stack with a second PostgreSQL
//! (`IMGCLOUD_STACK_STANDBY=1`): a standby follows the primary, the primary is `kill -9`ed, the
//! standby is promoted and the replicas move to it; and the same from a backup file, with the
//! objects uploaded after the backup found (and removed) as orphans.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use imgcloud_core::api::Image;
use imgcloud_core::client::{Client, ListParams};
use imgcloud_tests::uploads::upload_jpegs;
use imgcloud_tests::{Stack, fetch, sha256_hex};

/// Uploads `n` new JPEGs (seeds from `seed`) through the load balancer.
async fn upload(stack: &Stack, client: &Client, n: u64, seed: u64) -> Vec<(Image, String)> {
    upload_jpegs(client, &stack.work_dir.join("db"), n, seed, (320, 240)).await
}

/// Every image of the library, by id.
async fn library(client: &Client) -> BTreeMap<String, Image> {
    let mut all = BTreeMap::new();
    let mut params = ListParams {
        limit: Some(200),
        ..ListParams::default()
    };
    loop {
        let page = client.list_images(&params).await.expect("list");
        for image in page.items {
            all.insert(image.id.clone(), image);
        }
        match page.next_cursor {
            Some(cursor) => params.cursor = Some(cursor),
            None => return all,
        }
    }
}

/// The replicas come back (on whatever database their configuration names now).
fn restart_replicas(stack: &Stack) {
    for replica in ["replica-1", "replica-2"] {
        stack.stop(replica).unwrap();
    }
    for replica in ["replica-1", "replica-2"] {
        stack.start(replica).unwrap();
    }
}

/// Every image of `before` is listed with its name and size, and its link serves its bytes.
async fn assert_still_served(client: &Client, before: &[(Image, String)]) {
    let listed = library(client).await;
    for (image, sha) in before {
        let found = listed
            .get(&image.id)
            .unwrap_or_else(|| panic!("{} ({}) is no longer listed", image.id, image.filename));
        assert_eq!(found.filename, image.filename);
        assert_eq!(found.size, image.size);
        let served = fetch(&image.url).await.unwrap();
        assert_eq!(served.status, 200, "{}", image.url);
        assert_eq!(&sha256_hex(&served.body), sha, "{}", image.url);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the production stack with two PostgreSQL clusters; run by scripts/test.sh"]
async fn a_promoted_standby_serves_everything_uploaded_before_the_primary_was_killed() {
    let stack = Stack::up_with(&[("IMGCLOUD_STACK_STANDBY", "1")]).expect("stack up");
    let standby = stack.standby_database_url().unwrap();
    let env = [("IMGCLOUD_STANDBY_DATABASE_URL", standby.as_str())];
    let client = stack.client().unwrap();
    let mut before = upload(&stack, &client, 8, 100).await;
    let other_token = stack.add_token("laptop").unwrap();

    let setup = stack.admin_with_env(&["standby", "setup"], &env).unwrap();
    assert_eq!(setup.code, 0, "standby setup:\n{setup}");
    assert!(setup.stdout.contains("follows the primary"), "{setup}");
    assert!(
        !setup.stdout.contains(&standby) && !setup.stderr.contains(&standby),
        "the URL (and its password) is never printed"
    );

    // More uploads while the standby follows.
    before.extend(upload(&stack, &client, 6, 200).await);
    let feed_before = client.changes(0, Some(1000)).await.unwrap();
    let last_seq = feed_before.changes.iter().map(|c| c.seq).max().unwrap();

    // Caught up: no lag and as many rows on both sides.
    let started = Instant::now();
    let status = loop {
        let out = stack
            .admin_with_env(&["standby", "status", "--json"], &env)
            .unwrap();
        assert_eq!(out.code, 0, "standby status:\n{out}");
        let status = out.json();
        if status["rows_match"] == true && status["lag"]["bytes"] == 0 {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the standby did not catch up: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "standby caught up after {:?}: lag {}",
        started.elapsed(),
        status["lag"]
    );
    assert_eq!(status["following"], true);
    assert!(status["last_applied_lsn"].is_string(), "{status:#}");
    let images = status["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "images")
        .unwrap()
        .clone();
    assert_eq!(images["standby"], 14, "{images}");
    let metrics = stack.metrics(&stack.replicas[0]).await.unwrap();
    assert!(
        metrics.contains("imgcloud_standby_lag_bytes ")
            && metrics.contains("imgcloud_standby_connected 1"),
        "the lag is at /metrics"
    );

    // The primary dies; the standby takes over.
    stack.kill("postgres").unwrap();
    let promoted = stack
        .admin_with_env(&["standby", "promote", "--json"], &env)
        .unwrap();
    assert_eq!(promoted.code, 0, "standby promote:\n{promoted}");
    let promoted = promoted.json();
    assert_eq!(promoted["was_following"], true);
    assert!(promoted["sequences"]["changes.seq"].as_i64().unwrap() > last_seq + 1);
    stack.set_database_url(&standby).unwrap();
    restart_replicas(&stack);

    assert_still_served(&client, &before).await;
    // Tokens still work: the demo user's and the other one.
    let other = stack.client_at(&stack.server, &other_token).unwrap();
    assert_eq!(
        other.image(&before[0].0.id).await.unwrap().id,
        before[0].0.id
    );
    // New writes go on after every change the old primary handed out.
    let after = upload(&stack, &client, 2, 300).await;
    let feed = client.changes(last_seq, Some(100)).await.unwrap();
    let ids: Vec<&str> = feed.changes.iter().map(|c| c.image_id.as_str()).collect();
    for (image, _) in &after {
        assert!(ids.contains(&image.id.as_str()), "{ids:?}");
    }
    // Status on a promoted standby says it follows no one.
    let out = stack
        .admin_with_env(&["standby", "status", "--json"], &env)
        .unwrap();
    assert_eq!(out.json()["following"], false, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the production stack with two PostgreSQL clusters; run by scripts/test.sh"]
async fn a_backup_restored_after_the_primary_was_killed_serves_what_it_held() {
    let stack = Stack::up_with(&[("IMGCLOUD_STACK_STANDBY", "1")]).expect("stack up");
    let fresh = stack.standby_database_url().unwrap();
    let client = stack.client().unwrap();
    let before = upload(&stack, &client, 8, 400).await;
    let dir = stack.work_dir.join("backups");
    let dir_arg = dir.to_string_lossy().into_owned();

    let out = stack.admin(&["backup", "--to", &dir_arg]).unwrap();
    assert_eq!(out.code, 0, "backup:\n{out}");
    let file = out.stdout.trim().to_string();
    assert!(file.contains("imgcloud-postgres-"), "{out}");
    assert!(out.stderr.contains("images: 8 rows"), "progress:\n{out}");
    let verified = stack.admin(&["backup", "verify", &file]).unwrap();
    assert_eq!(verified.code, 0, "verify:\n{verified}");
    assert!(verified.stdout.contains("8 images"), "{verified}");

    // Uploaded after the backup: lost with the primary.
    let after = upload(&stack, &client, 3, 500).await;

    // A damaged copy of the file is refused, naming it.
    let bytes = std::fs::read(&file).unwrap();
    let truncated = dir.join("truncated.backup");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let truncated_arg = truncated.to_string_lossy().into_owned();
    let out = stack.admin(&["backup", "verify", &truncated_arg]).unwrap();
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("truncated.backup") && out.stderr.contains("damaged"),
        "{out}"
    );

    stack.kill("postgres").unwrap();
    for replica in ["replica-1", "replica-2"] {
        stack.stop(replica).unwrap();
    }
    stack.set_database_url(&fresh).unwrap();
    let out = stack.admin(&["restore", &truncated_arg]).unwrap();
    assert_ne!(out.code, 0, "a truncated backup is refused:\n{out}");
    assert!(out.stderr.contains("truncated.backup"), "{out}");
    let out = stack.admin(&["restore", &file]).unwrap();
    assert_eq!(out.code, 0, "restore:\n{out}");
    assert!(out.stderr.contains("8 images"), "{out}");
    // A second restore finds the database in use.
    let again = stack.admin(&["restore", &file]).unwrap();
    assert_ne!(again.code, 0);
    assert!(
        again.stderr.contains("not empty") && again.stderr.contains("--force"),
        "{again}"
    );
    for replica in ["replica-1", "replica-2"] {
        stack.start(replica).unwrap();
    }

    assert_still_served(&client, &before).await;
    let listed = library(&client).await;
    for (image, _) in &after {
        assert!(
            !listed.contains_key(&image.id),
            "{} is newer than the backup",
            image.id
        );
    }

    // What the database no longer knows is in the bucket still: orphans.
    let out = stack
        .admin(&["orphans", "--min-age", "0s", "--json"])
        .unwrap();
    assert_eq!(out.code, 0, "orphans:\n{out}");
    let report = out.json();
    let orphans: Vec<String> = report["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    for (image, _) in &after {
        assert!(
            orphans
                .iter()
                .any(|k| k.starts_with(&format!("i/{}/", image.id))),
            "{} not found as an orphan: {orphans:?}",
            image.id
        );
    }
    for (image, _) in &before {
        assert!(
            !orphans.iter().any(|k| k.contains(&image.id)),
            "{} is pointed at by a row",
            image.id
        );
    }
    // The default minimum age keeps just-uploaded objects.
    let out = stack.admin(&["orphans", "--json"]).unwrap();
    assert_eq!(out.json()["orphans"].as_array().unwrap().len(), 0, "{out}");
    let out = stack
        .admin(&["orphans", "--min-age", "0s", "--delete", "--json"])
        .unwrap();
    assert_eq!(out.code, 0, "orphans --delete:\n{out}");
    assert_eq!(out.json()["deleted"], orphans.len());
    for (image, _) in &after {
        let direct = format!("{}/imgcloud/i/{}/{}", stack.s3, image.id, image.filename);
        assert_eq!(
            fetch(&direct).await.unwrap().status,
            404,
            "{direct} deleted"
        );
    }
    assert_still_served(&client, &before).await;
    let out = stack
        .admin(&["orphans", "--min-age", "0s", "--json"])
        .unwrap();
    assert_eq!(out.json()["orphans"].as_array().unwrap().len(), 0, "{out}");
}
