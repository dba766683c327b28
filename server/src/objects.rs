//! The server's client for its S3-compatible object store: presigning uploads for clients, and
//! the few calls the server makes itself (multipart bookkeeping, HEAD, DELETE, bucket checks).
//!
//! Requests are signed with [`imgcloud_core::s3`] and sent with reqwest. Errors tell apart an
//! unreachable store, an S3 error answer and a malformed answer; they never carry signatures.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use imgcloud_core::api::{CompletedPart, PresignedRequest};
use imgcloud_core::s3::{
    EMPTY_SHA256, PresignInput, S3Config, S3Error, encode_query, sha256_hex, validate_key,
};
use reqwest::{Method, StatusCode};

/// Connect timeout of every request to the store.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Overall timeout of every request to the store.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest S3 error message kept in an error (the rest is cut).
const MAX_MESSAGE_CHARS: usize = 200;

/// What can go wrong talking to the object store.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreError {
    /// Network failure or timeout: the store could not be reached or did not answer in time.
    #[error("object store unreachable during {operation}: {message}")]
    Unreachable {
        operation: &'static str,
        message: String,
    },
    /// The store answered with an S3 error.
    #[error("object store refused {operation} on {target:?}: HTTP {status} {code}: {message}")]
    S3 {
        operation: &'static str,
        target: String,
        status: u16,
        /// S3 error code (`NoSuchKey`, `AccessDenied`…), or `Http{status}` when the answer had
        /// no error document (HEAD).
        code: String,
        message: String,
    },
    /// The store answered success but the answer could not be understood.
    #[error("object store gave an unexpected answer to {operation}: {detail}")]
    BadResponse {
        operation: &'static str,
        detail: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the object store HTTP client: {message}")]
    Client { message: String },
    /// The request could not be signed (bad key, header or hash).
    #[error(transparent)]
    Signing(#[from] S3Error),
}

impl ObjectStoreError {
    /// The S3 error code, when the store answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::S3 { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True for network failures and timeouts (worth retrying, and a `/readyz` failure).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// True when trying again may succeed: the store was unreachable, or answered a 5xx or one
    /// of the error codes S3 documents as transient (also inside a 200 answer).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::S3 { status, code, .. } => {
                *status >= 500
                    || matches!(
                        code.as_str(),
                        "InternalError" | "SlowDown" | "ServiceUnavailable" | "RequestTimeout"
                    )
            }
            _ => false,
        }
    }
}

type Result<T, E = ObjectStoreError> = std::result::Result<T, E>;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
    /// When the store last wrote it (`None` if it did not say).
    pub last_modified: Option<time::OffsetDateTime>,
}

/// What HEAD tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    /// As the store sent it, quotes removed.
    pub etag: String,
    pub content_type: Option<String>,
}

/// The server's S3 client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    cfg: S3Config,
    http: reqwest::Client,
    /// Readiness probes within this long of a successful one are answered from it.
    reachable: std::sync::Arc<RecentSuccess>,
    /// Whether uploads (whole objects and parts) also sign `x-amz-checksum-sha256`.
    upload_checksum: bool,
}

/// How long a successful readiness check of the store stands for the next ones: a balancer
/// probing every replica every second would otherwise send the store a request per probe.
pub const READY_REUSE: std::time::Duration = std::time::Duration::from_secs(5);

/// Remembers when a check last succeeded; [`RecentSuccess::check`] runs the check again only
/// when that was more than `reuse` ago. Failures are never remembered: while it fails, every
/// call checks.
#[derive(Debug)]
pub struct RecentSuccess {
    reuse: std::time::Duration,
    last_ok: std::sync::Mutex<Option<std::time::Instant>>,
}

impl RecentSuccess {
    pub fn new(reuse: std::time::Duration) -> Self {
        Self {
            reuse,
            last_ok: std::sync::Mutex::new(None),
        }
    }

    pub async fn check<E, F: std::future::Future<Output = std::result::Result<(), E>>>(
        &self,
        run: impl FnOnce() -> F,
    ) -> std::result::Result<(), E> {
        let fresh =
            |last: &Option<std::time::Instant>| last.is_some_and(|t| t.elapsed() < self.reuse);
        if fresh(&self.last_ok.lock().unwrap_or_else(|p| p.into_inner())) {
            return Ok(());
        }
        let result = run().await;
        if result.is_ok() {
            *self.last_ok.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(std::time::Instant::now());
        }
        result
    }
}

/// One signed request the store is sent.
struct Call<'a> {
    operation: &'static str,
    method: Method,
    url: url::Url,
    /// Key or bucket, for error messages.
    target: &'a str,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl ObjectStore {
    /// A client for `cfg`, with the connect and request timeouts above. Fails only when the
    /// HTTP client cannot be built (TLS backend unavailable).
    pub fn new(cfg: S3Config) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| ObjectStoreError::Client {
                message: describe_reqwest_error(err),
            })?;
        Ok(Self {
            cfg,
            http,
            reachable: std::sync::Arc::new(RecentSuccess::new(READY_REUSE)),
            upload_checksum: true,
        })
    }

    /// Whether whole-object PUTs also sign the flexible checksum `x-amz-checksum-sha256`
    /// (on by default; see `ServerConfig::upload_checksum`).
    pub fn with_upload_checksum(mut self, on: bool) -> Self {
        self.upload_checksum = on;
        self
    }

    /// The configuration this client uses.
    pub fn config(&self) -> &S3Config {
        &self.cfg
    }

    /// Presigned `PUT` of a whole object of exactly `size` bytes. Signs `content-type`,
    /// `content-length`, `x-amz-content-sha256: <sha256_hex>` and the flexible checksum
    /// `x-amz-checksum-sha256` (base64 of the same digest), so whichever of the two a store
    /// enforces (the embedded store checks both; AWS, R2 and others check the checksum) refuses
    /// other bytes, and any body of another length breaks the signature. The client must send
    /// exactly `headers` of the result. `expires` is cut to 15 minutes.
    pub fn presign_put(
        &self,
        key: &str,
        sha256_hex: &str,
        size: u64,
        content_type: &str,
        expires: Duration,
    ) -> Result<PresignedRequest> {
        let checksum = imgcloud_core::s3::sha256_base64_from_hex(sha256_hex)?;
        let mut headers = vec![
            ("content-type".into(), content_type.into()),
            ("content-length".into(), size.to_string()),
        ];
        if self.upload_checksum {
            headers.push(("x-amz-checksum-sha256".into(), checksum));
        }
        headers.push(("x-amz-content-sha256".into(), sha256_hex.into()));
        let input = PresignInput {
            method: "PUT".into(),
            key: key.into(),
            query: vec![],
            headers,
            expires_in: expires,
        };
        Ok(self.cfg.presign(&input, SystemTime::now())?)
    }

    /// Presigned `PUT` of one part (1-based `part_number`, exactly `length` bytes) of a
    /// multipart upload: signs `content-length`, `x-amz-content-sha256: <sha256_hex>` and (with
    /// `upload_checksum`) the part's flexible checksum `x-amz-checksum-sha256`, like
    /// [`ObjectStore::presign_put`]. [`ObjectStore::create_multipart`] names the checksum
    /// algorithm, which S3 requires before it takes part checksums.
    pub fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        sha256_hex: &str,
        length: u64,
        expires: Duration,
    ) -> Result<PresignedRequest> {
        check_sha256(sha256_hex)?;
        let input = PresignInput {
            method: "PUT".into(),
            key: key.into(),
            query: vec![
                ("partNumber".into(), part_number.to_string()),
                ("uploadId".into(), upload_id.into()),
            ],
            headers: self.part_headers(sha256_hex, length)?,
            expires_in: expires,
        };
        Ok(self.cfg.presign(&input, SystemTime::now())?)
    }

    fn part_headers(&self, sha256_hex: &str, length: u64) -> Result<Vec<(String, String)>> {
        let mut headers = vec![("content-length".into(), length.to_string())];
        if self.upload_checksum {
            let checksum = imgcloud_core::s3::sha256_base64_from_hex(sha256_hex)?;
            headers.push(("x-amz-checksum-sha256".into(), checksum));
        }
        headers.push(("x-amz-content-sha256".into(), sha256_hex.into()));
        Ok(headers)
    }

    /// Whether the store refuses a presigned upload whose bytes differ from the SHA-256 signed
    /// into it, exactly as a client's upload URL is made (`x-amz-content-sha256` and, with
    /// `upload_checksum`, `x-amz-checksum-sha256`; the right length). First the right bytes must
    /// go in (else the store's answer says nothing about checksums: an error); then wrong bytes
    /// of the same length are refused when their answer is not a success and nothing was
    /// stored. It writes to probe keys under `_imgcloud/checksum-probe/` and deletes them.
    pub async fn refuses_wrong_checksums(&self) -> Result<bool> {
        const OP: &str = "checksum probe";
        let signed: &[u8] = b"imgcloud checksum probe: the signed bytes";
        let wrong: &[u8] = b"imgcloud checksum probe: other bytes!!!!!";
        debug_assert_eq!(signed.len(), wrong.len());
        let probe_key = || {
            format!(
                "_imgcloud/checksum-probe/{}",
                hex::encode(rand::random::<[u8; 8]>())
            )
        };
        let control = probe_key();
        let status = self.put_presigned(OP, &control, signed, signed).await?;
        if !status.is_success() {
            return Err(ObjectStoreError::BadResponse {
                operation: OP,
                detail: format!("the store refused a correct presigned upload: HTTP {status}"),
            });
        }
        self.delete_probe(&control).await;
        let key = probe_key();
        let status = self.put_presigned(OP, &key, signed, wrong).await?;
        // Refused: 400 BadDigest (AWS, SeaweedFS), 403 (a broken signature), or 500 from s3s-fs
        // (the embedded store). What counts is that nothing was stored.
        let stored = status.is_success() || self.head(&key).await?.is_some();
        if stored {
            self.delete_probe(&key).await;
        }
        Ok(!stored)
    }

    /// Sends `body` to `key` through a presigned PUT signed for `signed`: the answer's status.
    async fn put_presigned(
        &self,
        operation: &'static str,
        key: &str,
        signed: &[u8],
        body: &[u8],
    ) -> Result<StatusCode> {
        let req = self.presign_put(
            key,
            &sha256_hex(signed),
            signed.len() as u64,
            "application/octet-stream",
            Duration::from_secs(60),
        )?;
        let mut request = self.http.put(&req.url);
        for (name, value) in &req.headers {
            request = request.header(name, value);
        }
        let resp = request.body(body.to_vec()).send().await.map_err(|err| {
            ObjectStoreError::Unreachable {
                operation,
                message: describe_reqwest_error(err),
            }
        })?;
        Ok(resp.status())
    }

    async fn delete_probe(&self, key: &str) {
        if let Err(e) = self.delete(key).await {
            tracing::warn!(key, error = %e, "could not delete a checksum probe object");
        }
    }

    /// Presigned anonymous-style `GET` of an object (for private buckets; the embedded store
    /// and a CDN-fronted bucket serve GETs without it).
    pub fn presign_get(&self, key: &str, expires: Duration) -> Result<PresignedRequest> {
        let input = PresignInput {
            method: "GET".into(),
            key: key.into(),
            query: vec![],
            headers: vec![],
            expires_in: expires,
        };
        Ok(self.cfg.presign(&input, SystemTime::now())?)
    }

    /// Starts a multipart upload; returns its upload id. With `upload_checksum` it names SHA-256
    /// as the checksum algorithm, so the store takes (and checks) each part's checksum.
    pub async fn create_multipart(&self, key: &str, content_type: &str) -> Result<String> {
        const OP: &str = "CreateMultipartUpload";
        validate_key(key)?;
        let mut headers = vec![("content-type".into(), content_type.into())];
        if self.upload_checksum {
            headers.push(("x-amz-checksum-algorithm".into(), "SHA256".into()));
        }
        let resp = self
            .send(Call {
                operation: OP,
                method: Method::POST,
                url: self.object_url_with_query(key, &[("uploads", "")]),
                target: key,
                headers,
                body: Bytes::new(),
            })
            .await?;
        let body = read_text(OP, resp).await?;
        xml_text(&body, "UploadId")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ObjectStoreError::BadResponse {
                operation: OP,
                detail: "no UploadId in the answer".into(),
            })
    }

    /// Completes a multipart upload from its parts (in part order). `part_sha256` holds the
    /// parts' hex SHA-256s (in the same order) when they were signed into the part uploads: S3
    /// wants them back here for an upload created with a checksum algorithm.
    pub async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
        part_sha256: &[String],
    ) -> Result<()> {
        const OP: &str = "CompleteMultipartUpload";
        validate_key(key)?;
        let mut xml = String::from("<CompleteMultipartUpload>");
        for (i, part) in parts.iter().enumerate() {
            let etag = part.etag.trim_matches('"');
            let checksum = match part_sha256.get(i) {
                Some(hex) if self.upload_checksum => format!(
                    "<ChecksumSHA256>{}</ChecksumSHA256>",
                    imgcloud_core::s3::sha256_base64_from_hex(hex)?
                ),
                _ => String::new(),
            };
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag>{checksum}</Part>",
                part.number,
                xml_escape(etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let resp = self
            .send(Call {
                operation: OP,
                method: Method::POST,
                url: self.object_url_with_query(key, &[("uploadId", upload_id)]),
                target: key,
                headers: vec![("content-type".into(), "application/xml".into())],
                body: Bytes::from(xml),
            })
            .await?;
        // S3 may answer 200 and still fail: the error is then in the body.
        let body = read_text(OP, resp).await?;
        if let Some(code) = xml_text(&body, "Code").filter(|_| body.contains("<Error>")) {
            return Err(ObjectStoreError::S3 {
                operation: OP,
                target: key.to_owned(),
                status: 200,
                code,
                message: short_message(xml_text(&body, "Message").unwrap_or_default()),
            });
        }
        Ok(())
    }

    /// Aborts a multipart upload and drops its parts. An unknown upload (`NoSuchUpload`) is
    /// fine. Note: the embedded s3s-fs store answers `AccessDenied` (403) for an unknown or
    /// already finished upload id instead, which is returned as an error.
    pub async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        validate_key(key)?;
        let result = self
            .send(Call {
                operation: "AbortMultipartUpload",
                method: Method::DELETE,
                url: self.object_url_with_query(key, &[("uploadId", upload_id)]),
                target: key,
                headers: vec![],
                body: Bytes::new(),
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("NoSuchUpload") => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Size, ETag and type of an object; `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        const OP: &str = "HeadObject";
        validate_key(key)?;
        let result = self
            .send(Call {
                operation: OP,
                method: Method::HEAD,
                url: self.cfg.object_url(key),
                target: key,
                headers: vec![],
                body: Bytes::new(),
            })
            .await;
        let resp = match result {
            Ok(resp) => resp,
            Err(ObjectStoreError::S3 { status: 404, .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        let headers = resp.headers();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let size = header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| ObjectStoreError::BadResponse {
                operation: OP,
                detail: "no valid Content-Length".into(),
            })?;
        let etag = header("etag")
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default();
        Ok(Some(ObjectMeta {
            size,
            etag,
            content_type: header("content-type"),
        }))
    }

    /// The bytes of an object, at most `max` of them; `None` when it does not exist. A larger
    /// object is refused before its body is read.
    pub async fn get(&self, key: &str, max: u64) -> Result<Option<Bytes>> {
        const OP: &str = "GetObject";
        validate_key(key)?;
        let result = self
            .send(Call {
                operation: OP,
                method: Method::GET,
                url: self.cfg.object_url(key),
                target: key,
                headers: vec![],
                body: Bytes::new(),
            })
            .await;
        let resp = match result {
            Ok(resp) => resp,
            Err(ObjectStoreError::S3 { status: 404, .. }) => return Ok(None),
            Err(err) => return Err(err),
        };
        if resp.content_length().is_some_and(|len| len > max) {
            return Err(ObjectStoreError::BadResponse {
                operation: OP,
                detail: format!("{key} is larger than {max} bytes"),
            });
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|err| ObjectStoreError::Unreachable {
                operation: OP,
                message: describe_reqwest_error(err),
            })?;
        if bytes.len() as u64 > max {
            return Err(ObjectStoreError::BadResponse {
                operation: OP,
                detail: format!("{key} is larger than {max} bytes"),
            });
        }
        Ok(Some(bytes))
    }

    /// Deletes an object; a missing one is fine.
    pub async fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        let result = self
            .send(Call {
                operation: "DeleteObject",
                method: Method::DELETE,
                url: self.cfg.object_url(key),
                target: key,
                headers: vec![],
                body: Bytes::new(),
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.code() == Some("NoSuchKey") => Ok(()),
            Err(ObjectStoreError::S3 { status: 404, .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Copies `from` to `to` inside the bucket, on the store's side (no bytes pass through the
    /// server); `false` when `from` does not exist. Objects up to 5 GiB (S3's CopyObject
    /// limit; `limits.max_upload_bytes` stays below it).
    pub async fn copy(&self, from: &str, to: &str) -> Result<bool> {
        const OP: &str = "CopyObject";
        validate_key(from)?;
        validate_key(to)?;
        let source = format!(
            "/{}/{}",
            self.cfg.bucket,
            imgcloud_core::s3::encode_key(from)
        );
        let result = self
            .send(Call {
                operation: OP,
                method: Method::PUT,
                url: self.cfg.object_url(to),
                target: to,
                headers: vec![("x-amz-copy-source".into(), source)],
                body: Bytes::new(),
            })
            .await;
        let resp = match result {
            Ok(resp) => resp,
            Err(err) if err.code() == Some("NoSuchKey") => return Ok(false),
            Err(ObjectStoreError::S3 { status: 404, .. }) => return Ok(false),
            Err(err) => return Err(err),
        };
        // S3 may answer 200 and still fail the copy: the error is then in the body.
        let body = resp.text().await.unwrap_or_default();
        if body.contains("<Error>") {
            let code = xml_text(&body, "Code").unwrap_or_else(|| "InternalError".into());
            if code == "NoSuchKey" {
                return Ok(false);
            }
            return Err(ObjectStoreError::S3 {
                operation: OP,
                status: 200,
                message: xml_text(&body, "Message").unwrap_or_default(),
                code,
                target: to.to_string(),
            });
        }
        Ok(true)
    }

    /// Uploads an object from the server itself (header-signed; for tooling and tests).
    pub async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<()> {
        validate_key(key)?;
        self.send(Call {
            operation: "PutObject",
            method: Method::PUT,
            url: self.cfg.object_url(key),
            target: key,
            headers: vec![("content-type".into(), content_type.into())],
            body: bytes,
        })
        .await?;
        Ok(())
    }

    /// One page (up to 1,000) of the objects whose keys start with `prefix`, in key order
    /// (ListObjectsV2), and the token of the next page when there is one.
    pub async fn list_page(
        &self,
        prefix: &str,
        token: Option<&str>,
    ) -> Result<(Vec<ListedObject>, Option<String>)> {
        const OP: &str = "ListObjectsV2";
        let mut query = vec![("list-type", "2"), ("prefix", prefix)];
        if let Some(token) = token {
            query.push(("continuation-token", token));
        }
        let mut url = self.cfg.bucket_url();
        url.set_query(Some(&encode_query(query.iter().copied())));
        let resp = self
            .send(Call {
                operation: OP,
                method: Method::GET,
                url,
                target: &self.cfg.bucket,
                headers: vec![],
                body: Bytes::new(),
            })
            .await?;
        let body = read_text(OP, resp).await?;
        let mut objects = Vec::new();
        for block in body.split("<Contents>").skip(1) {
            let block = block.split("</Contents>").next().unwrap_or_default();
            let key = xml_text(block, "Key").ok_or_else(|| ObjectStoreError::BadResponse {
                operation: OP,
                detail: "an object without a key".into(),
            })?;
            objects.push(ListedObject {
                key,
                size: xml_text(block, "Size")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                last_modified: xml_text(block, "LastModified").and_then(|t| {
                    time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                        .ok()
                }),
            });
        }
        let truncated = xml_text(&body, "IsTruncated").is_some_and(|t| t == "true");
        let next = xml_text(&body, "NextContinuationToken").filter(|_| truncated);
        if truncated && next.is_none() {
            return Err(ObjectStoreError::BadResponse {
                operation: OP,
                detail: "a truncated listing without a continuation token".into(),
            });
        }
        Ok((objects, next))
    }

    /// Creates the bucket unless it exists (and is ours).
    pub async fn ensure_bucket(&self) -> Result<()> {
        if self.bucket_exists().await? {
            return Ok(());
        }
        // Outside us-east-1, AWS wants the region spelled out.
        let body = if self.cfg.region.is_empty() || self.cfg.region == "us-east-1" {
            Bytes::new()
        } else {
            Bytes::from(format!(
                "<CreateBucketConfiguration><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                xml_escape(&self.cfg.region)
            ))
        };
        let result = self
            .send(Call {
                operation: "CreateBucket",
                method: Method::PUT,
                url: self.cfg.bucket_url(),
                target: &self.cfg.bucket,
                headers: vec![],
                body,
            })
            .await;
        match result {
            Ok(_) => {
                tracing::info!(bucket = %self.cfg.bucket, "object store: bucket created");
                Ok(())
            }
            // Created meanwhile by another replica.
            Err(err) if err.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Readiness check: the bucket answers a signed HEAD.
    /// Like [`Self::ping`], but a success within [`READY_REUSE`] stands for a new one (for
    /// `/readyz`).
    pub async fn ping_recent(&self) -> Result<()> {
        self.reachable.check(|| self.ping()).await
    }

    pub async fn ping(&self) -> Result<()> {
        if self.bucket_exists().await? {
            Ok(())
        } else {
            Err(ObjectStoreError::S3 {
                operation: "HeadBucket",
                target: self.cfg.bucket.clone(),
                status: 404,
                code: "NoSuchBucket".into(),
                message: "the configured bucket does not exist".into(),
            })
        }
    }

    async fn bucket_exists(&self) -> Result<bool> {
        let result = self
            .send(Call {
                operation: "HeadBucket",
                method: Method::HEAD,
                url: self.cfg.bucket_url(),
                target: &self.cfg.bucket,
                headers: vec![],
                body: Bytes::new(),
            })
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(ObjectStoreError::S3 { status: 404, .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    fn object_url_with_query(&self, key: &str, query: &[(&str, &str)]) -> url::Url {
        let mut url = self.cfg.object_url(key);
        url.set_query(Some(&encode_query(query.iter().copied())));
        url
    }

    /// Signs and sends one request; non-2xx answers become [`ObjectStoreError::S3`].
    async fn send(&self, call: Call<'_>) -> Result<reqwest::Response> {
        let payload_hash = if call.body.is_empty() {
            EMPTY_SHA256.to_owned()
        } else {
            sha256_hex(&call.body)
        };
        let headers = self.cfg.sign(
            call.method.as_str(),
            &call.url,
            &call.headers,
            &payload_hash,
            SystemTime::now(),
        )?;
        let mut request = self.http.request(call.method.clone(), call.url.as_str());
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        if !call.body.is_empty() || call.method == Method::PUT || call.method == Method::POST {
            request = request.body(call.body);
        }
        let resp = request
            .send()
            .await
            .map_err(|err| ObjectStoreError::Unreachable {
                operation: call.operation,
                message: describe_reqwest_error(err),
            })?;
        let status = resp.status();
        tracing::debug!(
            operation = call.operation,
            target = call.target,
            status = status.as_u16(),
            "object store call"
        );
        if status.is_success() {
            return Ok(resp);
        }
        Err(s3_error(call.operation, call.target, status, resp).await)
    }
}

/// At start: finds out whether the store verifies what uploads sign
/// ([`ObjectStore::refuses_wrong_checksums`]) and says so in the log, with a warning when it does
/// not. Retries for a minute while the store cannot be reached (it may be starting too).
pub async fn report_checksum_verification(store: ObjectStore) {
    let endpoint = store.config().endpoint.clone();
    let mut tries = 0;
    let result = loop {
        match store.refuses_wrong_checksums().await {
            Err(e) if e.is_unreachable() && tries < 12 => {
                tries += 1;
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            other => break other,
        }
    };
    match result {
        Ok(true) => tracing::info!(
            %endpoint,
            "the object store verifies uploads: it refused bytes that differ from their signed SHA-256"
        ),
        Ok(false) => tracing::warn!(
            %endpoint,
            "the object store does not verify uploads: it accepted bytes that differ from \
             their signed SHA-256 (it checks neither x-amz-checksum-sha256 nor \
             x-amz-content-sha256). imgcloud still checks each upload's size, but corrupted \
             bytes of the right length would be stored as they are. Use a store that verifies \
             checksums (see docs/operations.md, \"Which object stores verify uploads\")"
        ),
        Err(e) => tracing::warn!(
            %endpoint,
            error = %e,
            "could not find out whether the object store verifies uploads"
        ),
    }
}

/// Turns a non-2xx answer into an error, reading the S3 error document when there is one.
async fn s3_error(
    operation: &'static str,
    target: &str,
    status: StatusCode,
    resp: reqwest::Response,
) -> ObjectStoreError {
    let body = resp.text().await.unwrap_or_default();
    let code = xml_text(&body, "Code").unwrap_or_else(|| format!("Http{}", status.as_u16()));
    let message = xml_text(&body, "Message")
        .or_else(|| status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    ObjectStoreError::S3 {
        operation,
        target: target.to_owned(),
        status: status.as_u16(),
        code,
        message: short_message(message),
    }
}

async fn read_text(operation: &'static str, resp: reqwest::Response) -> Result<String> {
    resp.text()
        .await
        .map_err(|err| ObjectStoreError::Unreachable {
            operation,
            message: describe_reqwest_error(err),
        })
}

/// A reqwest error without its URL (which may hold a presigned signature), with its causes.
fn describe_reqwest_error(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let err = err.without_url();
    let mut message = format!("{kind}: {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn check_sha256(value: &str) -> Result<(), S3Error> {
    // Reuses core's validation of a hex SHA-256.
    imgcloud_core::s3::sha256_base64_from_hex(value).map(|_| ())
}

fn short_message(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        message
    } else {
        let mut cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// Text of the first `<tag>…</tag>` element, XML entities decoded. S3 answers are flat enough
/// that this is all the XML reading the server needs.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(xml_unescape(&xml[start..end]))
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_recent_success_stands_for_the_next_checks_and_failures_are_not_remembered() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let recent = RecentSuccess::new(std::time::Duration::from_secs(60));
        let calls = AtomicU32::new(0);
        let fail = |calls: &AtomicU32| {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Err::<(), &str>("down"))
        };
        let succeed = |calls: &AtomicU32| {
            calls.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok::<(), &str>(()))
        };
        // failing: every call checks
        assert!(recent.check(|| fail(&calls)).await.is_err());
        assert!(recent.check(|| fail(&calls)).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        // one success, then 100 probes cost nothing
        recent.check(|| succeed(&calls)).await.unwrap();
        for _ in 0..100 {
            recent.check(|| fail(&calls)).await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // with no reuse, each probe checks
        let every = RecentSuccess::new(std::time::Duration::ZERO);
        every.check(|| succeed(&calls)).await.unwrap();
        assert!(every.check(|| fail(&calls)).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn xml_text_reads_and_unescapes_first_element() {
        let xml = "<?xml version=\"1.0\"?><InitiateMultipartUploadResult><Bucket>b</Bucket>\
                   <UploadId>a&amp;b&lt;c</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(xml_text(xml, "UploadId").as_deref(), Some("a&b<c"));
        assert_eq!(xml_text(xml, "Key"), None);
        assert_eq!(xml_unescape(&xml_escape("a&<>\"'")), "a&<>\"'");
    }

    #[test]
    fn long_messages_are_cut() {
        let cut = short_message("x".repeat(500));
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert_eq!(short_message("short".into()), "short");
    }

    /// A client for bucket `imgcloud` at `endpoint` (path style, test keys).
    fn store_at(endpoint: &str) -> ObjectStore {
        ObjectStore::new(S3Config {
            endpoint: endpoint.parse().unwrap(),
            region: "us-east-1".into(),
            bucket: "imgcloud".into(),
            access_key: "ak".into(),
            secret_key: "sk".into(),
            path_style: true,
        })
        .unwrap()
    }

    #[test]
    fn presign_rejects_a_malformed_hash() {
        let store = store_at("http://127.0.0.1:9");
        let err = store
            .presign_put("k", "zz", 2, "image/png", Duration::from_secs(60))
            .unwrap_err();
        assert!(matches!(err, ObjectStoreError::Signing(_)), "{err}");
    }

    #[test]
    fn the_flexible_checksum_is_signed_unless_turned_off() {
        let store = store_at("http://127.0.0.1:9");
        let sha = "a".repeat(64);
        let names = |store: &ObjectStore| -> Vec<String> {
            let req = store
                .presign_put("k", &sha, 3, "image/png", Duration::from_secs(60))
                .unwrap();
            req.headers.into_iter().map(|(n, _)| n).collect()
        };
        assert_eq!(
            names(&store),
            [
                "content-type",
                "content-length",
                "x-amz-checksum-sha256",
                "x-amz-content-sha256"
            ]
        );
        assert_eq!(
            names(&store.with_upload_checksum(false)),
            ["content-type", "content-length", "x-amz-content-sha256"]
        );
    }

    #[test]
    fn part_checksums_are_signed_unless_turned_off() {
        let store = store_at("http://127.0.0.1:9");
        let sha = "b".repeat(64);
        let headers = |store: &ObjectStore| -> Vec<(String, String)> {
            let req = store
                .presign_part("k", "up", 2, &sha, 5, Duration::from_secs(60))
                .unwrap();
            req.headers
        };
        let checksum = imgcloud_core::s3::sha256_base64_from_hex(&sha).unwrap();
        assert_eq!(
            headers(&store),
            [
                ("content-length".to_string(), "5".to_string()),
                ("x-amz-checksum-sha256".to_string(), checksum),
                ("x-amz-content-sha256".to_string(), sha.clone()),
            ]
        );
        let names: Vec<String> = headers(&store.clone().with_upload_checksum(false))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["content-length", "x-amz-content-sha256"]);
    }

    #[tokio::test]
    async fn unreachable_store_is_reported_as_such() {
        // Bind then drop a listener: the port is closed, connections are refused.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let store = store_at(&format!("http://127.0.0.1:{port}"));
        let err = store.ping().await.unwrap_err();
        assert!(err.is_unreachable(), "{err}");
    }
}
