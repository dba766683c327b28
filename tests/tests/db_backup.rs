//! The backup drill on the embedded cloud (SQLite): back up while it runs, lose later uploads
//! to a restore, find their objects as orphans, and refuse damaged backup files without
//! touching the database.

use imgcloud_core::api::Image;
use imgcloud_core::client::{Client, ListParams};
use imgcloud_tests::uploads::upload_jpegs;
use imgcloud_tests::{EmbeddedCloud, fetch, sha256_hex};

async fn upload(cloud: &EmbeddedCloud, client: &Client, n: u64, seed: u64) -> Vec<(Image, String)> {
    upload_jpegs(client, &cloud.work_dir.join("b"), n, seed, (200, 150)).await
}

/// The image's link (asked again: the store's port changes with every start) serves its bytes.
async fn assert_serves(client: &Client, image: &Image, sha: &str) {
    let url = client.image(&image.id).await.expect("image").url;
    let served = fetch(&url).await.unwrap();
    assert_eq!(served.status, 200, "{url}");
    assert_eq!(sha256_hex(&served.body), sha, "{url}");
}

async fn listed_ids(client: &Client) -> Vec<String> {
    let page = client
        .list_images(&ListParams {
            limit: Some(200),
            ..ListParams::default()
        })
        .await
        .expect("list");
    page.items.into_iter().map(|i| i.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_backup_brings_the_library_back_and_later_uploads_become_orphans() {
    let mut cloud = EmbeddedCloud::start().unwrap();
    let client = cloud.client().unwrap();
    let before = upload(&cloud, &client, 5, 10).await;
    let dir = cloud.work_dir.join("backups");
    let dir_arg = dir.to_string_lossy().into_owned();
    let out = cloud.admin(&["backup", "--to", &dir_arg]).unwrap();
    assert_eq!(out.code, 0, "backup while the cloud runs:\n{out}");
    let file = out.stdout.trim().to_string();
    assert!(file.contains("imgcloud-sqlite-"), "{out}");
    let after = upload(&cloud, &client, 3, 20).await;

    // Damaged files are refused and change nothing.
    let bytes = std::fs::read(&file).unwrap();
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x20;
    for (name, damaged) in [
        ("truncated.backup", &bytes[..bytes.len() - 10]),
        ("flipped.backup", &flipped[..]),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, damaged).unwrap();
        let path = path.to_string_lossy().into_owned();
        let out = cloud.admin(&["backup", "verify", &path]).unwrap();
        assert_ne!(out.code, 0, "{name}: {out}");
        assert!(
            out.stderr.contains(name) && out.stderr.contains("damaged"),
            "{out}"
        );
        let out = cloud.admin(&["restore", "--force", &path]).unwrap();
        assert_ne!(out.code, 0, "{name}: {out}");
        assert!(out.stderr.contains(name), "{out}");
    }
    assert_eq!(listed_ids(&client).await.len(), 8, "nothing was restored");

    cloud.stop().unwrap();
    let out = cloud.admin(&["restore", &file]).unwrap();
    assert_ne!(out.code, 0, "the database is not empty:\n{out}");
    assert!(
        out.stderr.contains("not empty") && out.stderr.contains("--force"),
        "{out}"
    );
    let out = cloud.admin(&["restore", "--force", &file]).unwrap();
    assert_eq!(out.code, 0, "restore:\n{out}");
    assert!(out.stderr.contains("5 images"), "{out}");
    cloud.start_again().unwrap();

    let client = cloud.client().unwrap();
    let ids = listed_ids(&client).await;
    assert_eq!(ids.len(), 5, "{ids:?}");
    for (image, sha) in &before {
        assert!(ids.contains(&image.id));
        assert_serves(&client, image, sha).await;
    }

    cloud.stop().unwrap();
    let out = cloud
        .admin(&["orphans", "--min-age", "0s", "--json"])
        .unwrap();
    assert_eq!(out.code, 0, "orphans:\n{out}");
    let report = out.json();
    let keys: Vec<&str> = report["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    for (image, _) in &after {
        assert!(
            keys.iter()
                .any(|k| k.starts_with(&format!("i/{}/", image.id))),
            "{} not an orphan: {keys:?}",
            image.id
        );
    }
    assert!(
        before
            .iter()
            .all(|(i, _)| !keys.iter().any(|k| k.contains(&i.id))),
        "{keys:?}"
    );
    let objects_before = cloud.count_objects();
    let out = cloud
        .admin(&["orphans", "--min-age", "0s", "--delete"])
        .unwrap();
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(cloud.count_objects(), objects_before - keys.len());
    cloud.start_again().unwrap();
    let client = cloud.client().unwrap();
    for (image, sha) in &before {
        assert_serves(&client, image, sha).await;
    }
    // New uploads work on the restored database.
    assert_eq!(upload(&cloud, &client, 1, 30).await.len(), 1);
}
