//! memcached backend: a small client of memcached's text protocol (`get`, `set`, `delete`)
//! over tokio, with a pool of idle connections per server and keys spread over the servers by
//! rendezvous hashing (stable: the same key always goes to the same server, whatever the order
//! of the servers in the URL, and removing a server only moves that server's keys).
//!
//! Every operation, connecting included, is bounded by one timeout. A failure is a miss (or a
//! skipped write) for the caller: the server keeps answering from the database. A server that
//! fails is marked down (one warning in the log, `imgcloud_cache_up` 0) and is not tried again
//! for [`RETRY_EVERY`]; then one request probes it, and when it answers it is up again (one log
//! line). Invalidations (deletes) that could not reach a server are remembered (up to
//! [`MAX_PENDING_DELETES`]) and replayed when it is back, so a server that was only unreachable
//! (not restarted) does not keep serving what a write replaced.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{CacheBackend, CacheStats};

/// A server that failed is not tried again before this long.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Idle connections kept per server.
const MAX_IDLE: usize = 32;
/// memcached's default item size limit is 1 MiB (key and item header included).
const MAX_VALUE: usize = 1024 * 1024 - 512;
/// Deletes remembered per server while it is down.
pub const MAX_PENDING_DELETES: usize = 10_000;
/// Longest reply line we accept (a `VALUE` header is well below this).
const MAX_LINE: usize = 1024;

/// Parses `memcached://host:port[,host:port…]` (port 11211 when omitted) into `host:port`
/// addresses. The error says what is wrong with the URL.
pub fn parse_url(url: &str) -> Result<Vec<String>, String> {
    let rest = url.strip_prefix("memcached://").ok_or_else(|| {
        "must start with memcached:// (e.g. memcached://127.0.0.1:11211)".to_string()
    })?;
    let rest = rest.trim_end_matches('/');
    let mut servers = Vec::new();
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            return Err("lists an empty server: write memcached://host:port[,host:port]".into());
        }
        if part.contains(['/', '@', '?', '#', ' ']) {
            return Err(format!(
                "server {part:?} is not host:port: write memcached://host:port[,host:port]"
            ));
        }
        let (host, port) = match part.rsplit_once(':') {
            // `[::1]:11211`, `host:11211`; a bare IPv6 address needs brackets.
            Some((host, port))
                if !host.is_empty() && (!host.contains(':') || host.ends_with(']')) =>
            {
                let port: u16 = port
                    .parse()
                    .map_err(|_| format!("server {part:?} has an invalid port {port:?}"))?;
                (host.to_string(), port)
            }
            Some(_) if !part.starts_with('[') => {
                return Err(format!(
                    "server {part:?} is not host:port (write IPv6 addresses as [addr]:port)"
                ));
            }
            _ => (part.to_string(), 11211),
        };
        if port == 0 {
            return Err(format!("server {part:?} has port 0"));
        }
        let addr = format!("{host}:{port}");
        if !servers.contains(&addr) {
            servers.push(addr);
        }
    }
    Ok(servers)
}

/// The memcached cache.
pub struct MemcachedCache {
    servers: Vec<Arc<Server>>,
    timeout: Duration,
    stats: Arc<CacheStats>,
}

impl std::fmt::Debug for MemcachedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedCache")
            .field(
                "servers",
                &self.servers.iter().map(|s| &s.addr).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

struct Server {
    addr: String,
    idle: Mutex<Vec<Conn>>,
    down: AtomicBool,
    /// `health.pending_deletes` is not empty.
    has_pending: AtomicBool,
    health: Mutex<Health>,
}

#[derive(Default)]
struct Health {
    /// While down: no attempt before this instant.
    next_attempt: Option<Instant>,
    /// Keys whose delete did not reach the server; they stay here (and reads of them are
    /// misses) until a replayed delete succeeds.
    pending_deletes: HashSet<String>,
    /// A replay of pending deletes is running.
    replaying: bool,
}

type Conn = BufReader<TcpStream>;

#[derive(Debug)]
enum Cmd<'a> {
    Get(&'a str),
    Set(&'a str, &'a [u8], u32),
    Delete(&'a str),
}

#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Value(Option<Vec<u8>>),
    Stored,
    Deleted,
}

#[derive(Debug, thiserror::Error)]
enum OpError {
    /// The server cannot be reached or broke the connection: it is down.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server answered with an error (e.g. out of memory): it is up, this one op failed.
    #[error("memcached answered {0:?}")]
    Reply(String),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// 64-bit FNV-1a: stable across processes, versions and platforms.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // separator, so ("ab","c") and ("a","bc") differ
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // final avalanche (splitmix64) so close inputs spread well
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Rendezvous (highest random weight) choice of a server for `key`.
fn pick<'a>(servers: impl IntoIterator<Item = &'a str>, key: &str) -> usize {
    servers
        .into_iter()
        .enumerate()
        .max_by_key(|(_, s)| fnv1a(&[s.as_bytes(), key.as_bytes()]))
        .map_or(0, |(i, _)| i)
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 250 && key.bytes().all(|b| b.is_ascii_graphic())
}

impl MemcachedCache {
    /// A cache over `servers` (`host:port`, see [`parse_url`]). Connections are opened lazily;
    /// `stats` receives the error count and the up gauge.
    pub fn new(servers: Vec<String>, timeout: Duration, stats: Arc<CacheStats>) -> Self {
        let servers = servers
            .into_iter()
            .map(|addr| {
                Arc::new(Server {
                    addr,
                    idle: Mutex::default(),
                    down: AtomicBool::new(false),
                    has_pending: AtomicBool::new(false),
                    health: Mutex::default(),
                })
            })
            .collect();
        stats.up.store(true, Ordering::Relaxed);
        Self {
            servers,
            timeout,
            stats,
        }
    }

    /// From a `memcached://…` URL.
    pub fn from_url(url: &str, timeout: Duration, stats: Arc<CacheStats>) -> Result<Self, String> {
        Ok(Self::new(parse_url(url)?, timeout, stats))
    }

    /// The server addresses, in URL order.
    pub fn servers(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.addr.clone()).collect()
    }

    /// The server `key` is stored on.
    pub fn server_for(&self, key: &str) -> &str {
        &self.servers[self.index_for(key)].addr
    }

    fn index_for(&self, key: &str) -> usize {
        if self.servers.len() == 1 {
            return 0;
        }
        pick(self.servers.iter().map(|s| s.addr.as_str()), key)
    }

    /// Whether every server is up (as last seen).
    pub fn is_up(&self) -> bool {
        self.servers.iter().all(|s| !s.down.load(Ordering::Relaxed))
    }

    fn update_gauge(&self) {
        self.stats.up.store(self.is_up(), Ordering::Relaxed);
    }

    async fn run(&self, cmd: Cmd<'_>) -> Option<Reply> {
        let key = match &cmd {
            Cmd::Get(k) | Cmd::Set(k, _, _) | Cmd::Delete(k) => *k,
        };
        if !valid_key(key) {
            tracing::debug!("not a memcached key, skipped");
            return None;
        }
        let server = &self.servers[self.index_for(key)];
        let remember_delete = |server: &Server| {
            if let Cmd::Delete(k) = &cmd {
                server.remember_delete(k);
            }
        };
        // A key whose invalidation has not reached the server yet must not be served.
        if let Cmd::Get(k) = &cmd
            && server.has_pending.load(Ordering::Relaxed)
            && lock(&server.health).pending_deletes.contains(*k)
        {
            return None;
        }
        if !server.admit() {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
            remember_delete(server);
            return None;
        }
        match server.exec(&cmd, self.timeout).await {
            Ok(reply) => {
                if server.mark_up() {
                    tracing::info!(server = %server.addr, "memcached is reachable again; caching resumes");
                    self.update_gauge();
                }
                self.replay_pending(server);
                Some(reply)
            }
            Err(OpError::Reply(message)) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(server = %server.addr, %message, "memcached refused an operation");
                remember_delete(server);
                None
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                remember_delete(server);
                if server.mark_down() {
                    tracing::warn!(
                        server = %server.addr, error = %e,
                        "memcached unreachable; serving from the database until it is back \
                         (retrying every {}s)", RETRY_EVERY.as_secs()
                    );
                    self.update_gauge();
                }
                None
            }
        }
    }

    /// Replays the deletes remembered while `server` was down, in the background (stopping at
    /// the first failure; the rest stay pending).
    fn replay_pending(&self, server: &Arc<Server>) {
        if !server.has_pending.load(Ordering::Relaxed) {
            return;
        }
        let keys: Vec<String> = {
            let mut health = lock(&server.health);
            if health.pending_deletes.is_empty() || health.replaying {
                return;
            }
            health.replaying = true;
            health.pending_deletes.iter().cloned().collect()
        };
        let server = server.clone();
        let timeout = self.timeout;
        let stats = self.stats.clone();
        tokio::spawn(async move {
            let total = keys.len();
            let mut done = 0;
            for key in keys {
                if let Err(e) = server.exec(&Cmd::Delete(&key), timeout).await {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(server = %server.addr, error = %e, "replaying a delete failed");
                    break;
                }
                let mut health = lock(&server.health);
                health.pending_deletes.remove(&key);
                server
                    .has_pending
                    .store(!health.pending_deletes.is_empty(), Ordering::Relaxed);
                done += 1;
            }
            lock(&server.health).replaying = false;
            tracing::info!(
                server = %server.addr, replayed = done, of = total,
                "replayed the invalidations missed while memcached was unreachable"
            );
        });
    }
}

impl Server {
    fn remember_delete(&self, key: &str) {
        let mut health = lock(&self.health);
        if health.pending_deletes.len() < MAX_PENDING_DELETES {
            health.pending_deletes.insert(key.to_string());
            self.has_pending.store(true, Ordering::Relaxed);
        } else if !health.pending_deletes.contains(key) {
            tracing::debug!(server = %self.addr, "too many missed invalidations; the TTL bounds staleness");
        }
    }

    /// Whether an operation may be tried now: always while up; while down, once per
    /// [`RETRY_EVERY`] (that operation probes the server).
    fn admit(&self) -> bool {
        if !self.down.load(Ordering::Relaxed) {
            return true;
        }
        let mut health = lock(&self.health);
        let now = Instant::now();
        match health.next_attempt {
            Some(at) if at > now => false,
            _ => {
                health.next_attempt = Some(now + RETRY_EVERY);
                true
            }
        }
    }

    /// Marks the server down; true when it was up.
    fn mark_down(&self) -> bool {
        lock(&self.idle).clear();
        let mut health = lock(&self.health);
        health.next_attempt = Some(Instant::now() + RETRY_EVERY);
        !self.down.swap(true, Ordering::Relaxed)
    }

    /// Marks the server up; true when it was down.
    fn mark_up(&self) -> bool {
        if !self.down.load(Ordering::Relaxed) {
            return false;
        }
        lock(&self.health).next_attempt = None;
        self.down.swap(false, Ordering::Relaxed)
    }

    async fn exec(&self, cmd: &Cmd<'_>, timeout: Duration) -> Result<Reply, OpError> {
        match tokio::time::timeout(timeout, self.exec_unbounded(cmd)).await {
            Ok(result) => result,
            Err(_) => Err(OpError::Timeout(timeout)),
        }
    }

    async fn exec_unbounded(&self, cmd: &Cmd<'_>) -> Result<Reply, OpError> {
        // A pooled connection may have been closed by a server restart: on an I/O error with
        // one, drop every idle connection and try once more on a fresh one.
        let pooled = lock(&self.idle).pop();
        if let Some(mut conn) = pooled {
            match roundtrip(&mut conn, cmd).await {
                Ok(reply) => {
                    self.put_back(conn);
                    return Ok(reply);
                }
                Err(OpError::Io(_)) => lock(&self.idle).clear(),
                Err(e) => return Err(e),
            }
        }
        let stream = TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        let mut conn = BufReader::new(stream);
        let reply = roundtrip(&mut conn, cmd).await?;
        self.put_back(conn);
        Ok(reply)
    }

    fn put_back(&self, conn: Conn) {
        let mut idle = lock(&self.idle);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

/// Sends one command and reads its reply. Any error leaves the connection in an unknown state:
/// the caller drops it (it is only put back after a complete exchange).
async fn roundtrip(conn: &mut Conn, cmd: &Cmd<'_>) -> Result<Reply, OpError> {
    let mut request = Vec::new();
    match cmd {
        Cmd::Get(key) => request.extend_from_slice(format!("get {key}\r\n").as_bytes()),
        Cmd::Set(key, value, ttl) => {
            request.reserve(value.len() + 64);
            request.extend_from_slice(format!("set {key} 0 {ttl} {}\r\n", value.len()).as_bytes());
            request.extend_from_slice(value);
            request.extend_from_slice(b"\r\n");
        }
        Cmd::Delete(key) => request.extend_from_slice(format!("delete {key}\r\n").as_bytes()),
    }
    conn.get_mut().write_all(&request).await?;
    let line = read_line(conn).await?;
    match cmd {
        Cmd::Get(key) => {
            if line == "END" {
                return Ok(Reply::Value(None));
            }
            let mut fields = line.split(' ');
            let (Some("VALUE"), Some(k), Some(_flags), Some(len), None) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                return Err(reply_error(line));
            };
            let len: usize = len.parse().map_err(|_| reply_error(line.clone()))?;
            if k != *key || len > 64 * 1024 * 1024 {
                return Err(reply_error(line));
            }
            let mut data = vec![0; len + 2];
            conn.read_exact(&mut data).await?;
            if !data.ends_with(b"\r\n") {
                return Err(OpError::Reply("value not followed by CRLF".into()));
            }
            data.truncate(len);
            let end = read_line(conn).await?;
            if end != "END" {
                return Err(reply_error(end));
            }
            Ok(Reply::Value(Some(data)))
        }
        Cmd::Set(..) if line == "STORED" => Ok(Reply::Stored),
        Cmd::Delete(_) if line == "DELETED" || line == "NOT_FOUND" => Ok(Reply::Deleted),
        _ => Err(reply_error(line)),
    }
}

fn reply_error(line: String) -> OpError {
    let mut line = line;
    line.truncate(120);
    OpError::Reply(line)
}

async fn read_line(conn: &mut Conn) -> Result<String, OpError> {
    let mut buf = Vec::new();
    let n = (&mut *conn)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Err(OpError::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed by memcached",
        )));
    }
    if !buf.ends_with(b"\r\n") {
        return Err(OpError::Reply("reply line too long or truncated".into()));
    }
    buf.truncate(buf.len() - 2);
    String::from_utf8(buf).map_err(|_| OpError::Reply("reply line is not UTF-8".into()))
}

#[async_trait]
impl CacheBackend for MemcachedCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        match self.run(Cmd::Get(key)).await {
            Some(Reply::Value(value)) => value,
            _ => None,
        }
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        if value.len() > MAX_VALUE {
            tracing::debug!(
                bytes = value.len(),
                "value too large for memcached, not cached"
            );
            return;
        }
        // memcached counts whole seconds (rounded up: a 2.6 s lifetime is 3 s, not 2); 0 would
        // mean "never expires". Longer than 30 days would be read as a Unix time.
        let secs = ttl.as_secs_f64().ceil().clamp(1.0, 30.0 * 86400.0) as u32;
        self.run(Cmd::Set(key, &value, secs)).await;
    }

    async fn delete(&self, key: &str) {
        self.run(Cmd::Delete(key)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn urls_parse_into_servers_or_say_what_is_wrong() {
        assert_eq!(
            parse_url("memcached://127.0.0.1:11211,cache-2:11212").unwrap(),
            vec!["127.0.0.1:11211", "cache-2:11212"]
        );
        assert_eq!(parse_url("memcached://cache").unwrap(), vec!["cache:11211"]);
        assert_eq!(
            parse_url("memcached://[::1]:1234/").unwrap(),
            vec!["[::1]:1234"]
        );
        assert!(
            parse_url("redis://x:1")
                .unwrap_err()
                .contains("memcached://")
        );
        assert!(parse_url("memcached://").unwrap_err().contains("empty"));
        assert!(
            parse_url("memcached://a:1,,b:2")
                .unwrap_err()
                .contains("empty")
        );
        assert!(parse_url("memcached://a:x").unwrap_err().contains("port"));
        assert!(parse_url("memcached://a:0").unwrap_err().contains("port 0"));
        assert!(parse_url("memcached://u:p@a:1").is_err());
        assert!(parse_url("memcached://::1:11211").is_err());
    }

    #[test]
    fn keys_spread_stably_over_servers() {
        let servers: Vec<String> = (0..3).map(|i| format!("10.0.0.{i}:11211")).collect();
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            counts[pick(
                servers.iter().map(String::as_str),
                &format!("imgcloud:v1:img:owner:{i}"),
            )] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "uneven spread {counts:?}");
        }
        // the same key lands on the same server whatever the order of the list
        let reversed: Vec<String> = servers.iter().rev().cloned().collect();
        for i in 0..100 {
            let key = format!("k{i}");
            assert_eq!(
                servers[pick(servers.iter().map(String::as_str), &key)],
                reversed[pick(reversed.iter().map(String::as_str), &key)]
            );
        }
        // removing a server only moves that server's keys
        let two = &servers[..2];
        for i in 0..300 {
            let key = format!("k{i}");
            let before = pick(servers.iter().map(String::as_str), &key);
            if before < 2 {
                assert_eq!(pick(two.iter().map(String::as_str), &key), before);
            }
        }
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_fast_miss_and_marked_down() {
        // A port nothing listens on: bind, learn the port, close.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let stats = Arc::new(CacheStats::default());
        let cache = MemcachedCache::new(vec![addr], Duration::from_millis(100), stats.clone());
        let start = Instant::now();
        assert_eq!(cache.get("k").await, None);
        cache.set("k", b"v".to_vec(), Duration::from_secs(5)).await;
        cache.delete("k").await;
        assert!(start.elapsed() < Duration::from_millis(500));
        assert!(!stats.up());
        assert_eq!(stats.errors(), 3);
        assert!(lock(&cache.servers[0].health).pending_deletes.contains("k"));
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let _accepter = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let stats = Arc::new(CacheStats::default());
        let cache = MemcachedCache::new(vec![addr], Duration::from_millis(100), stats.clone());
        let start = Instant::now();
        assert_eq!(cache.get("k").await, None);
        let first = start.elapsed();
        assert!(
            first >= Duration::from_millis(90) && first < Duration::from_millis(400),
            "{first:?}"
        );
        assert!(!stats.up());
        // while down, operations are skipped without waiting (well under the 100 ms timeout;
        // the margin is for a loaded machine)
        let start = Instant::now();
        assert_eq!(cache.get("k").await, None);
        assert!(start.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn invalid_keys_are_refused_locally() {
        assert!(valid_key("imgcloud:v1:tok:abc"));
        assert!(!valid_key("has space"));
        assert!(!valid_key(""));
        assert!(!valid_key(&"x".repeat(251)));
    }

    // ---- against a real memcached (run by scripts/test.sh under scripts/with-memcached.sh) ----

    /// The shared memcached of `scripts/with-memcached.sh`.
    fn shared_server() -> String {
        std::env::var("IMGCLOUD_TEST_MEMCACHED")
            .expect("IMGCLOUD_TEST_MEMCACHED=127.0.0.1:PORT (scripts/with-memcached.sh sets it)")
    }

    fn unique(prefix: &str) -> String {
        format!("imgcloud:test:{prefix}:{:016x}", rand::random::<u64>())
    }

    /// A private memcached (binary from PATH) on a free loopback port, killed on drop.
    struct Private {
        child: std::process::Child,
        port: u16,
    }

    /// Whether every thread of `pid` is stopped (state `T` in `/proc/PID/task/*/stat`).
    fn stopped(pid: u32) -> bool {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return false;
        };
        tasks.flatten().all(|task| {
            std::fs::read_to_string(task.path().join("stat"))
                .ok()
                .and_then(|stat| {
                    stat.rsplit_once(')')
                        .map(|(_, rest)| rest.trim_start().starts_with(['T', 't']))
                })
                .unwrap_or(false)
        })
    }

    /// Ports this test process has handed out. A port freed by a test that restarts its
    /// memcached on it (`start_on`) must not be picked meanwhile by a test running beside it.
    static TAKEN_PORTS: Mutex<Vec<u16>> = Mutex::new(Vec::new());

    impl Private {
        fn start() -> Self {
            for _ in 0..5 {
                let port = loop {
                    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                    let port = l.local_addr().unwrap().port();
                    let mut taken = lock(&TAKEN_PORTS);
                    if !taken.contains(&port) {
                        taken.push(port);
                        break port;
                    }
                };
                if let Some(server) = Self::try_start_on(port) {
                    return server;
                }
            }
            panic!("memcached did not start on any of 5 free ports");
        }

        fn start_on(port: u16) -> Self {
            Self::try_start_on(port)
                .unwrap_or_else(|| panic!("memcached did not start on port {port}"))
        }

        /// Starts memcached on `port` and waits until that very process answers there (its
        /// `stats` pid), so a listener of another process on the port is never mistaken for it.
        fn try_start_on(port: u16) -> Option<Self> {
            use std::os::unix::fs::MetadataExt;
            let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
            let mut cmd = std::process::Command::new("memcached");
            cmd.args([
                "-l",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "0",
                "-m",
                "16",
            ]);
            if root {
                cmd.args(["-u", "root"]);
            }
            cmd.stdout(std::process::Stdio::null());
            cmd.stderr(std::process::Stdio::null());
            let child = cmd
                .spawn()
                .expect("cannot run memcached: install it (apt-get install memcached)");
            let mut server = Self { child, port };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if server.child.try_wait().ok().flatten().is_some() {
                    return None; // exited: the port was taken
                }
                if stats_pid(port) == Some(server.child.id()) {
                    return Some(server);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            server.kill();
            None
        }

        fn addr(&self) -> String {
            format!("127.0.0.1:{}", self.port)
        }

        fn signal(&self, signal: &str) {
            let pid = self.child.id();
            let status = std::process::Command::new("kill")
                .args([signal, &pid.to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            if signal == "-STOP" {
                // kill returns once the signal is sent, not once every thread has stopped: a
                // request sent meanwhile could still be answered.
                let deadline = Instant::now() + Duration::from_secs(5);
                while !stopped(pid) {
                    assert!(Instant::now() < deadline, "memcached {pid} did not stop");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }

        fn kill(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Drop for Private {
        fn drop(&mut self) {
            self.kill();
        }
    }

    /// The pid the memcached listening on `port` reports in `stats`, if one answers.
    fn stats_pid(port: u16) -> Option<u32> {
        use std::io::{BufRead, Write};
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        (&stream).write_all(b"stats\r\n").ok()?;
        let reader = std::io::BufReader::new(&stream);
        for line in reader.lines() {
            let line = line.ok()?;
            if let Some(pid) = line.trim_end().strip_prefix("STAT pid ") {
                return pid.parse().ok();
            }
            if line.starts_with("END") {
                break;
            }
        }
        None
    }

    #[test]
    #[ignore = "needs memcached; run by scripts/test.sh"]
    fn real_private_server_is_never_another_process_on_its_port() {
        let first = Private::start();
        assert_eq!(stats_pid(first.port), Some(first.child.id()));
        // a second memcached on the same port cannot listen; the first's answer is not taken
        // for it (the outage tests signal and kill their own process)
        assert!(Private::try_start_on(first.port).is_none());
        let second = Private::start();
        assert_ne!(second.port, first.port);
    }

    #[tokio::test]
    #[ignore = "needs memcached; run by scripts/test.sh"]
    async fn real_get_set_delete_and_ttl() {
        let stats = Arc::new(CacheStats::default());
        let cache = MemcachedCache::new(
            vec![shared_server()],
            Duration::from_millis(500),
            stats.clone(),
        );
        let key = unique("basic");
        assert_eq!(cache.get(&key).await, None);
        // binary-safe values, CRLF included
        let value: Vec<u8> = (0..=255u8).chain(*b"\r\nEND\r\n").collect();
        cache
            .set(&key, value.clone(), Duration::from_secs(60))
            .await;
        assert_eq!(cache.get(&key).await, Some(value));
        cache
            .set(&key, b"v2".to_vec(), Duration::from_secs(60))
            .await;
        assert_eq!(cache.get(&key).await, Some(b"v2".to_vec()));
        cache.delete(&key).await;
        assert_eq!(cache.get(&key).await, None);
        cache.delete(&key).await; // deleting a missing key is fine
        // a large (but allowed) value
        let big = vec![7u8; 512 * 1024];
        cache.set(&key, big.clone(), Duration::from_secs(60)).await;
        assert_eq!(cache.get(&key).await, Some(big));
        // TTL
        let short = unique("ttl");
        cache
            .set(&short, b"x".to_vec(), Duration::from_secs(1))
            .await;
        assert_eq!(cache.get(&short).await, Some(b"x".to_vec()));
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(cache.get(&short).await, None);
        // many concurrent operations over the pool
        let cache = Arc::new(cache);
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let cache = cache.clone();
                let key = format!("{key}:{i}");
                tokio::spawn(async move {
                    cache
                        .set(&key, i.to_string().into_bytes(), Duration::from_secs(60))
                        .await;
                    cache.get(&key).await
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), Some(i.to_string().into_bytes()));
        }
        assert_eq!(stats.errors(), 0);
        assert!(stats.up());
    }

    #[tokio::test]
    #[ignore = "needs memcached; run by scripts/test.sh"]
    async fn real_cache_aside_lists_follow_writes_and_spare_the_database() {
        let stats = Arc::new(CacheStats::default());
        let cache = Arc::new(MemcachedCache::new(
            vec![shared_server()],
            Duration::from_millis(500),
            stats.clone(),
        ));
        crate::cache::tests::lists_follow_writes(cache.clone()).await;
        crate::cache::tests::repeated_reads_spare_the_database(cache).await;
        assert_eq!(stats.errors(), 0);
    }

    #[tokio::test]
    #[ignore = "needs memcached; run by scripts/test.sh"]
    async fn real_keys_spread_over_servers() {
        let (a, b) = (Private::start(), Private::start());
        let stats = Arc::new(CacheStats::default());
        let both = MemcachedCache::new(vec![a.addr(), b.addr()], Duration::from_millis(500), stats);
        let only = |addr: String| {
            MemcachedCache::new(vec![addr], Duration::from_millis(500), Arc::default())
        };
        let (only_a, only_b) = (only(a.addr()), only(b.addr()));
        let mut on_a = 0;
        for i in 0..200 {
            let key = format!("imgcloud:test:spread:{i}");
            both.set(&key, b"v".to_vec(), Duration::from_secs(60)).await;
            assert_eq!(both.get(&key).await, Some(b"v".to_vec()));
            let (in_a, in_b) = (
                only_a.get(&key).await.is_some(),
                only_b.get(&key).await.is_some(),
            );
            assert!(in_a != in_b, "{key} must be on exactly one server");
            assert_eq!(
                both.server_for(&key),
                if in_a { a.addr() } else { b.addr() }
            );
            on_a += usize::from(in_a);
        }
        assert!(
            (60..140).contains(&on_a),
            "{on_a} of 200 keys on the first server"
        );
    }

    #[tokio::test]
    #[ignore = "needs memcached; run by scripts/test.sh"]
    async fn real_outage_is_a_bounded_miss_and_hits_resume_after_restart() {
        let mut server = Private::start();
        let port = server.port;
        let timeout = Duration::from_millis(100);
        let stats = Arc::new(CacheStats::default());
        let cache = Arc::new(MemcachedCache::new(
            vec![server.addr()],
            timeout,
            stats.clone(),
        ));
        let (_dir, _raw, db, store) = crate::cache::tests::counted_setup(cache.clone()).await;
        let user = store.create_user("ann").await.unwrap();
        store
            .add_token(&user.id, "tokhash", "laptop")
            .await
            .unwrap();
        store.user_by_token_hash("tokhash").await.unwrap();
        store.user_by_token_hash("tokhash").await.unwrap();
        assert_eq!(db.get("user_by_token_hash"), 1, "served from memcached");
        cache.set("k", b"v".to_vec(), Duration::from_secs(60)).await;
        assert_eq!(cache.get("k").await, Some(b"v".to_vec()));
        assert!(stats.up());

        // killed: misses within the timeout, the store answers from the database
        server.kill();
        let start = Instant::now();
        assert_eq!(cache.get("k").await, None);
        assert!(start.elapsed() < timeout * 3, "{:?}", start.elapsed());
        assert!(!stats.up());
        assert!(stats.errors() >= 1);
        for _ in 0..20 {
            let start = Instant::now();
            assert_eq!(store.user_by_token_hash("tokhash").await.unwrap(), user);
            assert!(start.elapsed() < Duration::from_secs(1));
        }
        assert_eq!(
            db.get("user_by_token_hash"),
            21,
            "every lookup went to the database"
        );
        // a revocation while memcached is down is remembered and replayed
        store.revoke_tokens(&user.id, "laptop").await.unwrap();

        // restarted on the same port (empty): hits resume within a few seconds
        let _server = Private::start_on(port);
        let start = Instant::now();
        loop {
            cache
                .set("k", b"again".to_vec(), Duration::from_secs(60))
                .await;
            if cache.get("k").await.is_some() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "hits did not resume"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(stats.up());
        let user2 = store.create_user("bob").await.unwrap();
        store.add_token(&user2.id, "tok2", "phone").await.unwrap();
        let before = db.get("user_by_token_hash");
        for _ in 0..5 {
            store.user_by_token_hash("tok2").await.unwrap();
        }
        assert_eq!(db.get("user_by_token_hash"), before + 1, "hits again");
        assert!(
            store.user_by_token_hash("tokhash").await.is_err(),
            "revoked stays revoked"
        );
    }

    #[tokio::test]
    #[ignore = "needs memcached; run by scripts/test.sh"]
    async fn real_frozen_server_times_out_and_missed_deletes_are_replayed() {
        let server = Private::start();
        let timeout = Duration::from_millis(100);
        let stats = Arc::new(CacheStats::default());
        let cache = MemcachedCache::new(vec![server.addr()], timeout, stats.clone());
        let observer =
            MemcachedCache::new(vec![server.addr()], Duration::from_secs(2), Arc::default());
        // On a loaded machine the first set may itself outlast the short timeout and mark the
        // server down; the test starts from a server seen up, holding the key.
        let start = Instant::now();
        loop {
            cache
                .set("stale", b"old".to_vec(), Duration::from_secs(60))
                .await;
            if stats.up() && observer.get("stale").await.as_deref() == Some(&b"old"[..]) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "memcached never took the first set"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // frozen (not restarted: its data survives): operations time out
        server.signal("-STOP");
        let start = Instant::now();
        assert_eq!(cache.get("other").await, None);
        let waited = start.elapsed();
        // bounded by the timeout, not by the observer's 2 s (slack for a loaded machine)
        assert!(waited >= timeout / 2 && waited < timeout * 10, "{waited:?}");
        assert!(!stats.up());
        // while down, an invalidation is not sent but remembered, and the key is a miss
        let start = Instant::now();
        cache.delete("stale").await;
        assert!(start.elapsed() < timeout / 2);
        server.signal("-CONT");
        assert_eq!(cache.get("stale").await, None);
        // back: the missed delete is replayed
        let start = Instant::now();
        loop {
            let _ = cache.get("probe").await;
            // the replay deletes on the server first, then clears the pending set
            if stats.up()
                && observer.get("stale").await.is_none()
                && !cache.servers[0].has_pending.load(Ordering::Relaxed)
            {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(4),
                "the missed delete was not replayed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
