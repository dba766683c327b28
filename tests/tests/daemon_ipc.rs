//! The daemon's local interfaces: the IPC socket (mode 0600, `imgcloud status --json`, pause and
//! resume) and the PicGo-compatible endpoint Typora and Obsidian use.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use imgcloud_tests::daemon::free_port;
use imgcloud_tests::http::request;
use imgcloud_tests::{SyncDaemon, fetch, jpeg, png, sha256_hex};

#[test]
fn socket_is_private_and_status_reflects_queue_pause_and_errors() {
    let mut daemon = SyncDaemon::new(&[]).unwrap();
    daemon.start().unwrap();
    let socket = daemon.runtime_dir.join("imgcloudd.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");

    let status = daemon.status();
    assert_eq!(status.folders.len(), 1);
    assert_eq!(
        status.folders[0].path,
        daemon.watch_dir.canonicalize().unwrap()
    );
    assert!(!status.paused && status.embedded);

    daemon.cli(&["pause"]).assert_success();
    assert!(daemon.status().paused);
    std::fs::write(daemon.watch_dir.join("while-paused.jpg"), jpeg(120, 90, 1)).unwrap();
    std::fs::write(daemon.watch_dir.join("broken.png"), b"not a png at all").unwrap();
    daemon
        .wait_for(
            "the new files queued while paused",
            Duration::from_secs(30),
            |s| s.counts.pending() >= 1,
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let paused = daemon.status();
    assert_eq!(
        paused.counts.backed_up, 0,
        "nothing goes up while paused: {paused:#?}"
    );

    daemon.cli(&["resume"]).assert_success();
    let status = daemon
        .wait_for("synced after resume", Duration::from_secs(60), |s| {
            s.counts.backed_up == 1 && s.counts.failed == 1 && s.counts.pending() == 0
        })
        .unwrap();
    assert!(!status.paused);
    let error = &status.recent_errors[0];
    assert!(error.path.ends_with("broken.png"), "{error:?}");
    assert_eq!(error.code, "not_an_image", "{error:?}");
}

#[test]
fn picgo_endpoint_answers_like_picgo() {
    let port = free_port().unwrap();
    let mut daemon = SyncDaemon::new(&[]).unwrap();
    daemon
        .arg("--picgo-listen")
        .arg(&format!("127.0.0.1:{port}"));
    daemon.start().unwrap();
    let url = format!("http://127.0.0.1:{port}/upload");
    let rt = tokio::runtime::Runtime::new().unwrap();

    // A Typora request: absolute paths of files anywhere; links come back in order.
    let files: Vec<(std::path::PathBuf, Vec<u8>)> = (0..3u64)
        .map(|i| {
            let bytes = if i == 1 {
                png(90, 60, 70 + i)
            } else {
                jpeg(90, 60, 70 + i)
            };
            let path = daemon.outside_dir.join(format!(
                "typora image {i}.{}",
                if i == 1 { "png" } else { "jpg" }
            ));
            std::fs::write(&path, &bytes).unwrap();
            (path, bytes)
        })
        .collect();
    let list: Vec<String> = files.iter().map(|(p, _)| p.display().to_string()).collect();
    let answer = rt
        .block_on(request(
            "POST",
            &url,
            None,
            Some(&serde_json::json!({ "list": list })),
        ))
        .unwrap();
    assert_eq!(answer.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json["success"], true, "{json}");
    let result = json["result"].as_array().unwrap();
    assert_eq!(result.len(), 3, "{json}");
    for ((_, bytes), link) in files.iter().zip(result) {
        let got = rt.block_on(fetch(link.as_str().unwrap())).unwrap();
        assert_eq!(
            sha256_hex(&got.body),
            sha256_hex(bytes),
            "links in input order"
        );
    }

    // A missing file: success false, naming it.
    let missing = daemon.outside_dir.join("nope.png");
    let answer = rt
        .block_on(request(
            "POST",
            &url,
            None,
            Some(&serde_json::json!({ "list": [missing.display().to_string()] })),
        ))
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json["success"], false, "{json}");
    assert!(
        json["message"].as_str().unwrap().contains("nope.png"),
        "{json}"
    );

    // No list: the clipboard image. Without a display there is none: a clear message.
    let answer = rt.block_on(request("POST", &url, None, None)).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json["success"], false, "{json}");
    assert!(
        json["message"].as_str().unwrap().contains("clipboard"),
        "{json}"
    );

    // `imgcloud picgo key` makes a key: from then on the running daemon wants it.
    let made = daemon.cli(&["picgo", "key"]);
    assert_eq!(made.code, 0, "{made}");
    let key = made.stdout.trim().to_string();
    assert_eq!(key.len(), 32, "only the key on stdout: {made}");
    assert!(made.stderr.contains("/upload?key="), "{made}");
    assert_eq!(
        daemon.cli(&["picgo", "key"]).stdout.trim(),
        key,
        "the same key again"
    );
    let body = serde_json::json!({ "list": [files[0].0.display().to_string()] });
    let status_of = |url: &str| {
        rt.block_on(request("POST", url, None, Some(&body)))
            .unwrap()
            .status
    };
    // The daemon re-reads the key within 5 s: waits until `url` answers `status`.
    let until = |url: &str, status: u16, what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while status_of(url) != status {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    };
    let keyed = format!("{url}?key={key}");
    until(&url, 403, "the key was never asked for");
    assert_eq!(status_of(&format!("{url}?key=wrong")), 403);
    assert_eq!(status_of(&keyed), 200);
    assert!(
        !daemon.log().contains(&key),
        "the key never reaches the daemon's log"
    );
    // A new key retires the old one; --off takes the requirement away.
    let renewed = daemon.cli(&["picgo", "key", "--new"]);
    let new_key = renewed.stdout.trim().to_string();
    assert_ne!(new_key, key);
    until(&keyed, 403, "the old key still works");
    assert_eq!(status_of(&format!("{url}?key={new_key}")), 200);
    assert_eq!(daemon.cli(&["picgo", "key", "--off"]).code, 0);
    until(&url, 200, "--off did not take effect");
}
