//! Presigned object-store requests: [`UploadBody`] (bytes or a file range, streamed with
//! progress) and [`Client::send_presigned`]. URLs are logged and reported without their query,
//! which holds the signature.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};

use super::bandwidth::{Bandwidth, throttle};
use super::{Client, ClientError};
use crate::api::PresignedRequest;

/// The body of a presigned PUT.
#[derive(Debug, Clone)]
pub enum UploadBody {
    Bytes(Bytes),
    /// `len` bytes of the file at `path` starting at `offset`, streamed.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

impl UploadBody {
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::File { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

const CHUNK: usize = 256 * 1024;

impl Client {
    /// Sends a presigned object-store request exactly as given (method, URL, headers) with
    /// `body`, retrying transient failures. `progress` gets the bytes of `body` sent so far in
    /// the current attempt (it restarts from 0 on a retry). Returns the `ETag`, if any.
    pub async fn send_presigned(
        &self,
        request: &PresignedRequest,
        body: &UploadBody,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<Option<String>, ClientError> {
        let method = Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            ClientError::Config(format!("invalid presigned method `{}`", request.method))
        })?;
        let url = url::Url::parse(&request.url)
            .map_err(|e| ClientError::Config(format!("invalid presigned URL ({e})")))?;
        let target = redacted_url(&url);
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ClientError::Config(format!("invalid presigned header name `{name}`"))
            })?;
            let value = HeaderValue::from_str(value).map_err(|_| {
                ClientError::Config(format!("invalid value for presigned header `{name}`"))
            })?;
            headers.insert(name, value);
        }
        headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));

        let (tx, mut rx) = tokio::sync::watch::channel(0u64);
        let send = self.execute(&target, || {
            let limit = self.bandwidth.clone();
            let body = match body {
                UploadBody::Bytes(bytes) => {
                    throttled_body(bytes_body(bytes.clone()), limit, tx.clone())
                }
                UploadBody::File { path, offset, len } => {
                    throttled_body(file_body(path, *offset, *len)?, limit, tx.clone())
                }
            };
            tx.send_replace(0);
            Ok(self
                .http
                .request(method.clone(), url.clone())
                .headers(headers.clone())
                .body(body))
        });
        tokio::pin!(send);
        let reply = loop {
            tokio::select! {
                reply = &mut send => break reply?,
                changed = rx.changed() => {
                    if changed.is_ok() {
                        let done = *rx.borrow_and_update();
                        progress(done);
                    }
                }
            }
        };
        progress(body.len());
        Ok(reply
            .headers
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }
}

fn redacted_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

fn bytes_body(bytes: Bytes) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let total = bytes.len();
    let chunks = (0..total.div_ceil(CHUNK))
        .map(move |i| Ok(bytes.slice(i * CHUNK..((i + 1) * CHUNK).min(total))));
    futures::stream::iter(chunks)
}

fn file_body(
    path: &Path,
    offset: u64,
    len: u64,
) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static, ClientError> {
    let body_err = |source| ClientError::Body {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(body_err)?;
    let actual = file.metadata().map_err(body_err)?.len();
    if actual < offset + len {
        return Err(body_err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the file shrank to {actual} bytes while being uploaded"),
        )));
    }
    Ok(futures::stream::once(async move {
        use tokio::io::AsyncSeekExt;
        let mut file = tokio::fs::File::from_std(file);
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        Ok::<_, std::io::Error>(tokio_util::io::ReaderStream::with_capacity(
            tokio::io::AsyncReadExt::take(file, len),
            CHUNK,
        ))
    })
    .map(move |opened| match opened {
        Ok(reader) => reader.left_stream(),
        Err(e) => futures::stream::once(async move { Err(e) }).right_stream(),
    })
    .flatten())
}

/// The request body: `chunks` under the client's bandwidth limit, reporting the bytes handed
/// to the connection so far.
fn throttled_body(
    chunks: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    limit: Arc<Bandwidth>,
    progress: tokio::sync::watch::Sender<u64>,
) -> reqwest::Body {
    let stream = throttle(chunks, limit).scan(0u64, move |sent, chunk| {
        if let Ok(chunk) = &chunk {
            *sent += chunk.len() as u64;
            progress.send_replace(*sent);
        }
        futures::future::ready(Some(chunk))
    });
    reqwest::Body::wrap_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::test_stub::{fast_retry, response, stub};
    use std::sync::Mutex;

    #[tokio::test]
    async fn presigned_put_streams_a_file_range_and_returns_the_etag() {
        let (url, seen) = stub(vec![
            response(
                "500 Internal Server Error",
                "",
                "<Error><Code>InternalError</Code></Error>",
            ),
            response("200 OK", "ETag: \"abc\"\r\n", ""),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.bin");
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let client = Client::new("http://api.invalid", None)
            .unwrap()
            .with_retry(fast_retry(3));
        let request = PresignedRequest {
            method: "PUT".into(),
            url: format!("{url}/bucket/i/x/a.jpg?X-Amz-Signature=sekrit"),
            headers: vec![("x-amz-content-sha256".into(), "deadbeef".into())],
        };
        let body = UploadBody::File {
            path: path.clone(),
            offset: 100_000,
            len: 500_000,
        };
        let last = Mutex::new(0u64);
        let etag = client
            .send_presigned(&request, &body, &|n| *last.lock().unwrap() = n)
            .await
            .unwrap();
        assert_eq!(etag.as_deref(), Some("\"abc\""));
        assert_eq!(*last.lock().unwrap(), 500_000);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].body, data[100_000..600_000]);
        assert_eq!(
            seen[1].header("x-amz-content-sha256").as_deref(),
            Some("deadbeef")
        );
        assert!(
            seen[1]
                .head
                .starts_with("PUT /bucket/i/x/a.jpg?X-Amz-Signature=sekrit ")
        );
    }

    #[tokio::test]
    async fn presigned_errors_never_show_the_signature() {
        let (url, _) = stub(vec![response(
            "403 Forbidden",
            "",
            "<Error><Code>SignatureDoesNotMatch</Code><Message>bad sig</Message></Error>",
        )])
        .await;
        let client = Client::new("http://api.invalid", None).unwrap();
        let request = PresignedRequest {
            method: "PUT".into(),
            url: format!("{url}/b/k?X-Amz-Signature=sekrit"),
            headers: vec![],
        };
        let err = client
            .send_presigned(
                &request,
                &UploadBody::Bytes(Bytes::from_static(b"hi")),
                &|_| {},
            )
            .await
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            text.contains("SignatureDoesNotMatch") && !text.contains("sekrit"),
            "{text}"
        );

        let request = PresignedRequest {
            method: "PUT".into(),
            url: "http://127.0.0.1:1/b/k?X-Amz-Signature=sekrit".into(),
            headers: vec![],
        };
        let client = client.with_retry(fast_retry(1));
        let err = client
            .send_presigned(
                &request,
                &UploadBody::Bytes(Bytes::from_static(b"hi")),
                &|_| {},
            )
            .await
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(
            matches!(err, ClientError::Network { .. }) && !text.contains("sekrit"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn presigned_bodies_obey_the_bandwidth_limit_shared_by_clones() {
        let (url, seen) = stub(vec![response("200 OK", "ETag: \"e\"\r\n", "")]).await;
        let client = Client::new("http://api.invalid", None)
            .unwrap()
            .with_bandwidth_limit(1_000_000);
        let clone = client.clone();
        assert_eq!(clone.bandwidth_limit(), 1_000_000);
        let request = PresignedRequest {
            method: "PUT".into(),
            url: format!("{url}/b/k"),
            headers: vec![],
        };
        let body = UploadBody::Bytes(Bytes::from(vec![1u8; 200_000]));
        let start = std::time::Instant::now();
        let (a, b) = tokio::join!(
            client.send_presigned(&request, &body, &|_| {}),
            clone.send_presigned(&request, &body, &|_| {})
        );
        a.unwrap();
        b.unwrap();
        // 400 kB at 1 MB/s, less the 100 ms burst: at least 0.3 s.
        let took = start.elapsed();
        assert!(
            took >= std::time::Duration::from_millis(290),
            "took {took:?}"
        );
        assert!(seen.lock().unwrap().iter().all(|s| s.body.len() == 200_000));

        // Unlimited again, for every clone.
        clone.set_bandwidth_limit(0);
        assert_eq!(client.bandwidth_limit(), 0);
        let start = std::time::Instant::now();
        client
            .send_presigned(&request, &body, &|_| {})
            .await
            .unwrap();
        assert!(start.elapsed() < std::time::Duration::from_millis(250));
    }
}
