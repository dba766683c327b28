//! A tiny scripted HTTP/1.1 server for tests of the client and of the upload pipeline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::RetryPolicy;

/// What the stub saw of one request.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl Seen {
    /// `(method, path with query)`.
    pub(crate) fn line(&self) -> (String, String) {
        let mut parts = self.head.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        (method, parts.next().unwrap_or("").to_string())
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// A tiny HTTP/1.1 server answering each request with the next scripted raw response (the
/// last one repeats).
pub(crate) async fn stub(responses: Vec<String>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    stub_with(Arc::new(move |_, index| {
        responses[index.min(responses.len() - 1)].clone()
    }))
    .await
}

pub(crate) type Handler = Arc<dyn Fn(&Seen, usize) -> String + Send + Sync>;

/// A tiny HTTP/1.1 server: `handler(request, n)` makes the raw answer to the n-th request
/// (an empty answer drops the connection).
pub(crate) async fn stub_with(handler: Handler) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let handler = handler.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 65536];
                let head_end = loop {
                    let n = socket.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break Some(p + 4);
                    }
                };
                let Some(head_end) = head_end else { return };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut seen = Seen {
                    head,
                    body: buf[head_end..].to_vec(),
                };
                let len: usize = seen
                    .header("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while seen.body.len() < len {
                    let n = socket.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    seen.body.extend_from_slice(&tmp[..n]);
                }
                let index = {
                    let mut log = log.lock().unwrap();
                    log.push(seen.clone());
                    log.len() - 1
                };
                let response = handler(&seen, index);
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

pub(crate) fn response(status: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    )
}

pub(crate) fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(1),
    }
}
