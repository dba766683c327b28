//! The real backend's daemon side ([`Live`]) against a stand-in daemon on a Unix socket: the
//! real IPC client, HTTP and event-stream parsing, only the daemon itself is scripted.

use std::path::Path;
use std::sync::{Arc, Mutex};

use imgcloud_core::client::Client;
use imgcloud_core::daemon_api::Event;
use imgcloud_core::daemon_client::DaemonClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

use super::action::{Action, DaemonCommand};
use super::backend::{Backend, Live};
use super::tests_actions::daemon_status;

fn live(socket: &Path) -> Live {
    // No catalog: the socket's directory is fresh, so no user was ever seen there.
    let data = socket.parent().unwrap().join("data");
    let dirs = imgcloud_core::paths::Dirs::resolve(|name| match name {
        "IMGCLOUD_CONFIG_DIR" | "IMGCLOUD_DATA_DIR" => Some(data.clone()),
        _ => None,
    })
    .unwrap();
    let (local, _) = super::local::Local::open(&dirs, "http://127.0.0.1:9");
    Live {
        client: Client::new("http://127.0.0.1:9", None).unwrap(),
        local,
        daemon: DaemonClient::new(socket.to_path_buf()),
        concurrency: 1,
    }
}

/// Answers each connection on `socket` by its request line: `/v1/events` gets `events` as
/// newline-delimited JSON (then the stream ends), `/v1/status` and `/v1/pause` the status.
/// Returns the request lines seen.
fn stand_in_daemon(socket: &Path, events: Vec<Event>) -> Arc<Mutex<Vec<String>>> {
    let listener = UnixListener::bind(socket).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&request).to_string();
            let line = text.lines().next().unwrap_or_default().to_string();
            log.lock().unwrap().push(line.clone());
            let body = if line.contains("/v1/events") {
                events
                    .iter()
                    .map(|e| serde_json::to_string(e).unwrap() + "\n")
                    .collect::<String>()
            } else {
                serde_json::to_string(&daemon_status()).unwrap()
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    seen
}

#[tokio::test]
async fn follow_subscribes_then_reads_the_status_then_forwards_events() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("imgcloudd.sock");
    let uploaded = Event::Uploaded {
        path: "/p/a.jpg".into(),
        image_id: "i1".into(),
        url: "https://cdn/a.jpg".into(),
        link: "https://cdn/a.jpg".into(),
        existed: false,
    };
    let seen = stand_in_daemon(&socket, vec![Event::Paused, uploaded.clone()]);
    let reported = Mutex::new(Vec::new());
    let reason = live(&socket)
        .follow(|action| reported.lock().unwrap().push(action))
        .await;
    assert!(reason.contains("closed the event stream"), "{reason}");
    let reported = reported.into_inner().unwrap();
    assert!(
        matches!(&reported[0], Action::SyncConnected(status) if **status == daemon_status()),
        "{reported:?}"
    );
    assert!(matches!(&reported[1], Action::SyncEvent(Event::Paused)));
    assert!(matches!(&reported[2], Action::SyncEvent(e) if *e == uploaded));
    assert_eq!(reported.len(), 3);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["GET /v1/events HTTP/1.1", "GET /v1/status HTTP/1.1"],
        "subscribed before reading the status, so no event falls in between"
    );
}

#[tokio::test]
async fn daemon_commands_report_what_the_daemon_did() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("imgcloudd.sock");
    let seen = stand_in_daemon(&socket, vec![]);
    let live = live(&socket);
    let paused = live.daemon_command(DaemonCommand::Pause).await.unwrap();
    assert!(paused.starts_with("sync paused"), "{paused}");
    let resumed = live.daemon_command(DaemonCommand::Resume).await.unwrap();
    assert_eq!(resumed, "sync resumed: 2 file(s) waiting to upload");
    assert_eq!(
        seen.lock().unwrap().clone(),
        ["POST /v1/pause HTTP/1.1", "POST /v1/resume HTTP/1.1"]
    );
}

#[tokio::test]
async fn without_a_daemon_commands_and_the_stream_say_how_to_start_it() {
    let dir = tempfile::tempdir().unwrap();
    let live = live(&dir.path().join("imgcloudd.sock"));
    let reason = live
        .daemon_command(DaemonCommand::Rescan)
        .await
        .unwrap_err();
    assert!(
        reason.contains("not running") && reason.contains("imgcloudd"),
        "{reason}"
    );
    let reason = live.follow(|_| panic!("nothing to report")).await;
    assert!(reason.contains("not running"), "{reason}");
}
