use std::sync::Arc;
use std::time::{Duration, Instant};

use imgcloud_core::daemon_api::socket_path;
use imgcloud_daemon::cloud::CloudOptions;
use imgcloud_daemon::control::Control;
use imgcloud_daemon::engine::{Daemon, DaemonOptions};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::test_support::{Fixture, code, message, png};

/// The real daemon engine (hosting its own embedded cloud on free ports) answering on its
/// socket in the fixture's runtime dir, as `imgcloudd` does.
struct RunningDaemon {
    daemon: Daemon,
    quit: CancellationToken,
}

impl RunningDaemon {
    fn start(fx: &Fixture) -> Self {
        let mut options = DaemonOptions::new(fx.dirs());
        options.cloud = CloudOptions {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            s3_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..CloudOptions::default()
        };
        let socket = socket_path(&fx.dirs());
        let quit = CancellationToken::new();
        let stop = quit.clone();
        let daemon = tauri::async_runtime::block_on(async move {
            let daemon = Daemon::start(options).await.unwrap();
            let control: Arc<dyn Control> = Arc::new(daemon.clone());
            tokio::spawn(async move {
                imgcloud_daemon::ipc::serve(&socket, control, stop.cancelled_owned())
                    .await
                    .unwrap()
            });
            daemon
        });
        let fxs = socket_path(&fx.dirs());
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&fxs).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "daemon socket never answered"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { daemon, quit }
    }
}

impl Drop for RunningDaemon {
    fn drop(&mut self) {
        self.quit.cancel();
        let _ = tauri::async_runtime::block_on(self.daemon.shutdown());
    }
}

#[test]
fn without_a_daemon_sync_commands_say_it_is_not_running() {
    let fx = Fixture::unconfigured();
    for cmd in ["sync_status", "sync_pause", "sync_subscribe"] {
        let err = fx.invoke(cmd, json!({})).unwrap_err();
        assert_eq!(code(&err), "daemon_not_running", "{cmd}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains("imgcloudd"),
            "{err}"
        );
    }
}

#[test]
fn status_pause_resume_and_watched_folders_through_the_real_daemon() {
    let fx = Fixture::unconfigured();
    let _daemon = RunningDaemon::start(&fx);

    let status = fx.invoke("sync_status", json!({})).unwrap();
    assert_eq!(status["paused"], false, "{status}");
    assert_eq!(status["embedded"], true, "{status}");
    assert_eq!(fx.invoke("sync_pause", json!({})).unwrap()["paused"], true);
    assert_eq!(fx.invoke("sync_status", json!({})).unwrap()["paused"], true);
    assert_eq!(
        fx.invoke("sync_resume", json!({})).unwrap()["paused"],
        false
    );

    let folder = fx.dir.path().join("Screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    let folder = folder.canonicalize().unwrap();
    let folders = fx.invoke("watch_add", json!({ "path": folder })).unwrap();
    assert!(
        folders
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == json!(folder)),
        "{folders}"
    );
    let err = fx
        .invoke("watch_add", json!({ "path": "relative/dir" }))
        .unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");
    let err = fx
        .invoke(
            "watch_add",
            json!({ "path": fx.dir.path().join("missing") }),
        )
        .unwrap_err();
    assert_eq!(code(&err), "invalid", "{err}");

    // A file dropped into the watched folder is uploaded; its events reach the window.
    let events = fx.collect(crate::sync::SYNC_EVENT);
    assert_eq!(fx.invoke("sync_subscribe", json!({})).unwrap(), true);
    assert_eq!(
        fx.invoke("sync_subscribe", json!({})).unwrap(),
        false,
        "one forwarder per app"
    );
    std::fs::write(folder.join("shot.png"), png(12, 12, 42)).unwrap();
    let start = Instant::now();
    let uploaded: Value = loop {
        let found = events
            .lock()
            .unwrap()
            .iter()
            .find(|e| e["event"] == "uploaded")
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no upload event; saw {:?}",
            events.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(uploaded.to_string().contains("shot.png"), "{uploaded}");
    let queue = fx.invoke("sync_queue", json!({})).unwrap();
    assert!(queue.to_string().contains("shot.png"), "{queue}");

    let folders = fx
        .invoke("watch_remove", json!({ "path": folder }))
        .unwrap();
    assert!(
        !folders
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == json!(folder)),
        "{folders}"
    );
}

#[test]
fn without_the_dialog_plugin_the_folder_picker_says_to_type_the_path() {
    let fx = Fixture::unconfigured();
    let err = fx.invoke("pick_folder", json!({})).unwrap_err();
    assert_eq!(code(&err), "internal", "{err}");
    assert!(message(&err).contains("type the folder's path"), "{err}");
}
