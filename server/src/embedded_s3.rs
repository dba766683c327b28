//! The embedded S3-compatible object store of the all-in-one mode: `s3s` + `s3s-fs` serving a
//! directory on a loopback port.
//!
//! It behaves like a public-read bucket behind a CDN: every request must carry a valid SigV4
//! signature (header or presigned URL) except anonymous `GetObject`/`HeadObject`. Presigned
//! PUTs that sign `x-amz-content-sha256` have their body verified while it is received; a
//! mismatch is answered with an error (s3s-fs says 500) and nothing is stored.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Result, s3_error};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use url::Url;

/// A running embedded store. Stops on [`EmbeddedS3::shutdown`] or when dropped.
#[derive(Debug)]
pub struct EmbeddedS3 {
    /// The address it listens on (the real port when started on port 0).
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl EmbeddedS3 {
    /// `http://{addr}`: the endpoint to put in an `S3Config` (path style).
    pub fn endpoint(&self) -> Url {
        Url::parse(&format!("http://{}", self.addr)).expect("a socket address forms a valid URL")
    }

    /// Stops accepting connections, closes the open ones and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Allows what a public-read bucket allows: anything signed, and anonymous reads of objects.
/// Requests with a bad signature never get here (s3s rejects them first).
struct PublicReadAccess;

#[async_trait::async_trait]
impl S3Access for PublicReadAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.credentials().is_some() {
            return Ok(());
        }
        match cx.s3_op().name() {
            "GetObject" | "HeadObject" => Ok(()),
            _ => Err(s3_error!(
                AccessDenied,
                "this operation needs a SigV4-signed request"
            )),
        }
    }
}

/// Starts the store on `listen` (e.g. `127.0.0.1:0`), keeping buckets as directories under
/// `root` (created if missing). Only `access_key`/`secret_key` can sign requests.
pub async fn start(
    root: &Path,
    listen: SocketAddr,
    access_key: &str,
    secret_key: &str,
) -> anyhow::Result<EmbeddedS3> {
    tokio::fs::create_dir_all(root).await.with_context(|| {
        format!(
            "cannot create the embedded object store directory {}",
            root.display()
        )
    })?;
    // s3s-fs errors implement neither Display nor Error: show their Debug form.
    let fs = s3s_fs::FileSystem::new(root).map_err(|err| {
        anyhow::anyhow!(
            "cannot open the embedded object store directory {}: {err:?}",
            root.display()
        )
    })?;
    let service = {
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
        builder.set_access(PublicReadAccess);
        builder.build()
    };
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!("cannot listen on {listen} for the embedded object store (is the port in use?)")
    })?;
    let addr = listener
        .local_addr()
        .context("cannot read the embedded object store's listening address")?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, service, stopped));
    tracing::info!(%addr, root = %root.display(), "embedded object store listening");
    Ok(EmbeddedS3 {
        addr,
        stop,
        task: Some(task),
    })
}

async fn serve(listener: TcpListener, service: S3Service, mut stopped: watch::Receiver<bool>) {
    // Connection tasks live in this set: when serving ends (or this task is aborted) the set
    // is dropped and every open connection is closed with it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        // Running out of file descriptors and similar: back off briefly.
                        tracing::warn!(error = %err, "embedded object store: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = service.clone();
                connections.spawn(async move {
                    let io = TokioIo::new(stream);
                    if let Err(err) = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(io, service)
                        .await
                    {
                        tracing::debug!(%peer, error = %err, "embedded object store: connection ended with an error");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
    tracing::info!("embedded object store stopped");
}

/// A random access key id (20 upper-case letters and digits, starting `IC`) and secret key
/// (40 alphanumerics, ≈ 238 bits) for the embedded store.
pub fn generate_credentials() -> (String, String) {
    let mut rng = rand::thread_rng();
    let access: String = std::iter::repeat_with(|| rng.sample(Alphanumeric))
        .map(|b| char::from(b).to_ascii_uppercase())
        .take(18)
        .collect();
    let secret: String = std::iter::repeat_with(|| rng.sample(Alphanumeric))
        .map(char::from)
        .take(40)
        .collect();
    (format!("IC{access}"), secret)
}
