//! An HTTP proxy that injects faults into a share of the requests it forwards: a 503, a reset
//! connection, a stall, or an answer cut short (or, for an empty answer, lost after the upstream
//! acted on the request). Requests keep their `Host` header, so SigV4 signatures made for the
//! proxy's address still verify upstream. For the chaos scenarios (R2), and for tests that need
//! one given request to fail ([`HttpFaultProxy::fail_next`]).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// The faults, in the order of [`FaultCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Status503,
    Reset,
    Stall,
    Short,
}

/// A fault for chosen requests ([`HttpFaultProxy::fail_next`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChosenFault {
    /// Answered 503 by the proxy; the upstream never sees the request.
    Status503,
    /// The upstream acts on the request; its answer is cut short (or lost, when empty).
    AnswerLost,
}

/// The next `remaining` requests with `method` whose path and query hold `needle`.
struct Rule {
    method: String,
    needle: String,
    fault: Fault,
    remaining: u32,
}

/// How many requests passed and how many got each fault.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FaultCounts {
    pub requests: u64,
    pub status_503: u64,
    pub resets: u64,
    pub stalls: u64,
    pub short_answers: u64,
}

impl FaultCounts {
    /// Requests that got a fault.
    pub fn faults(&self) -> u64 {
        self.status_503 + self.resets + self.stalls + self.short_answers
    }
}

struct Shared {
    upstream: SocketAddr,
    /// Faults per 1,000 requests.
    per_mille: AtomicU64,
    stall: Duration,
    rng: AtomicU64,
    counts: [AtomicU64; 5],
    rules: Mutex<Vec<Rule>>,
}

impl Shared {
    /// The fault a rule of [`HttpFaultProxy::fail_next`] gives this request, if any.
    fn chosen(&self, method: &str, path_and_query: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let rule = rules.iter_mut().find(|r| {
            r.remaining > 0 && r.method == method && path_and_query.contains(&r.needle)
        })?;
        rule.remaining -= 1;
        Some(rule.fault)
    }

    fn roll(&self) -> Option<Fault> {
        let mut x = self.rng.load(Ordering::Relaxed);
        let next = loop {
            let next = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            match self
                .rng
                .compare_exchange(x, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break next,
                Err(seen) => x = seen,
            }
        };
        let draw = (next >> 33) % 1000;
        if draw >= self.per_mille.load(Ordering::Relaxed) {
            return None;
        }
        Some(match (next >> 20) % 4 {
            0 => Fault::Status503,
            1 => Fault::Reset,
            2 => Fault::Stall,
            _ => Fault::Short,
        })
    }

    fn count(&self, index: usize) {
        self.counts[index].fetch_add(1, Ordering::Relaxed);
    }
}

/// A running proxy on 127.0.0.1 (its own runtime on a thread).
pub struct HttpFaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

impl HttpFaultProxy {
    /// Forwards to `upstream`, injecting a fault into `per_mille` of 1,000 requests (a stall
    /// lasts `stall`, then the request goes on). `seed` makes the sequence repeatable.
    pub fn start(
        upstream: SocketAddr,
        per_mille: u64,
        stall: Duration,
        seed: u64,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            per_mille: AtomicU64::new(per_mille),
            stall,
            rng: AtomicU64::new(seed),
            counts: Default::default(),
            rules: Mutex::default(),
        });
        let serving = shared.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            shared,
            _runtime: runtime,
        })
    }

    /// Changes the share of requests that get a fault (0 stops injecting).
    pub fn set_per_mille(&self, per_mille: u64) {
        self.shared.per_mille.store(per_mille, Ordering::Relaxed);
    }

    /// The next `count` requests with `method` whose path and query hold `needle` get `fault`,
    /// whatever the share of random faults.
    pub fn fail_next(&self, method: &str, needle: &str, fault: ChosenFault, count: u32) {
        self.shared.rules.lock().unwrap().push(Rule {
            method: method.to_string(),
            needle: needle.to_string(),
            fault: match fault {
                ChosenFault::Status503 => Fault::Status503,
                ChosenFault::AnswerLost => Fault::Short,
            },
            remaining: count,
        });
    }

    pub fn counts(&self) -> FaultCounts {
        let c = |i: usize| self.shared.counts[i].load(Ordering::Relaxed);
        FaultCounts {
            requests: c(4),
            status_503: c(0),
            resets: c(1),
            stalls: c(2),
            short_answers: c(3),
        }
    }
}

/// An embedded cloud whose own calls to its store, and the presigned URLs it hands out, go
/// through a fault proxy (`per_mille`, `stall`, `seed` as in [`HttpFaultProxy::start`]); parts
/// of 5 MiB from 6 MiB up.
pub fn embedded_cloud_behind_store_proxy(
    per_mille: u64,
    stall: Duration,
    seed: u64,
) -> anyhow::Result<(crate::EmbeddedCloud, HttpFaultProxy)> {
    const MIB: usize = 1024 * 1024;
    let s3_port = crate::daemon::free_port()?;
    let proxy = HttpFaultProxy::start(
        format!("127.0.0.1:{s3_port}").parse()?,
        per_mille,
        stall,
        seed,
    )?;
    let cloud = crate::EmbeddedCloud::start_with(&[
        "--s3-listen",
        &format!("127.0.0.1:{s3_port}"),
        "--s3-endpoint",
        &format!("http://{}", proxy.addr),
        "--multipart-cutoff",
        &(6 * MIB).to_string(),
        "--min-part-size",
        &(5 * MIB).to_string(),
    ])?;
    Ok((cloud, proxy))
}

fn injected(what: &str) -> std::io::Error {
    std::io::Error::other(format!("injected fault: {what}"))
}

type Body = BoxBody<Bytes, std::io::Error>;

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    shared.count(4);
    let chosen = shared.chosen(
        req.method().as_str(),
        req.uri().path_and_query().map_or("", |p| p.as_str()),
    );
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
        .to_bytes();
    let fault = chosen.or_else(|| shared.roll());
    match fault {
        Some(Fault::Status503) => {
            shared.count(0);
            let mut resp = Response::new(full(Bytes::from_static(b"injected 503")));
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return Ok(resp);
        }
        Some(Fault::Reset) => {
            shared.count(1);
            return Err(injected("reset"));
        }
        Some(Fault::Stall) => {
            shared.count(2);
            tokio::time::sleep(shared.stall).await;
        }
        Some(Fault::Short) => shared.count(3),
        None => {}
    }
    let mut forwarded = Request::from_parts(parts, Full::new(body));
    forwarded
        .headers_mut()
        .remove(hyper::header::TRANSFER_ENCODING);
    let resp = match forward(shared.upstream, forwarded).await {
        Ok(resp) => resp,
        Err(e) => {
            let mut resp = Response::new(full(Bytes::from(format!("proxy: {e}"))));
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            return Ok(resp);
        }
    };
    if fault != Some(Fault::Short) {
        return Ok(resp.map(full));
    }
    let (mut parts, whole) = resp.into_parts();
    if whole.is_empty() {
        // Nothing to cut: the upstream acted, and its answer is lost on the way back.
        return Err(injected("answer lost"));
    }
    parts.headers.remove(hyper::header::TRANSFER_ENCODING);
    parts.headers.insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(whole.len()),
    );
    // Half the body, then the connection breaks (the length header promised all of it).
    let half = whole.slice(..whole.len() / 2);
    let frames = futures::stream::iter([Ok(Frame::data(half)), Err(injected("answer cut short"))]);
    Ok(Response::from_parts(parts, StreamBody::new(frames).boxed()))
}

async fn forward(
    upstream: SocketAddr,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<Response<Bytes>> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}
