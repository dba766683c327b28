//! Server configuration: a TOML file (see `deploy/` for an example) overridden by
//! `IMGCLOUD_*` environment variables.
//!
//! Durations are written as seconds (`900`) or with a unit (`"500ms"`, `"30s"`, `"15m"`,
//! `"24h"`, `"7d"`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use imgcloud_core::api::Limits;
use imgcloud_core::s3::S3Config;
use serde::{Deserialize, Serialize};

const MIB: u64 = 1024 * 1024;

/// Everything one server process needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `0.0.0.0:8420`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Public base URL of the API (as clients reach it through the load balancer), for logs
    /// and generated client configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` (or `postgresql://…`) or `sqlite://PATH`; the
    /// scheme picks the backend.
    pub database_url: String,
    pub s3: S3Config,
    pub cdn: CdnConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    /// Lifetime of presigned upload URLs (capped at 15 minutes).
    #[serde(default = "default_upload_expiry", with = "duration")]
    pub upload_expiry: Duration,
    /// Upload sessions older than this are dropped by the janitor (unfinished ones aborted).
    #[serde(default = "default_stale_upload_after", with = "duration")]
    pub stale_upload_after: Duration,
    /// How often the janitor looks for stale upload sessions.
    #[serde(default = "default_janitor_interval", with = "duration")]
    pub janitor_interval: Duration,
    /// Longest time one API request may take.
    #[serde(default = "default_request_timeout", with = "duration")]
    pub request_timeout: Duration,
    /// Largest accepted JSON request body.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Whether this replica runs the background derivative queue (default true). Every replica
    /// makes derivatives on request either way; turn the queue off on API replicas to keep it
    /// on dedicated workers (or to measure cold derivatives).
    #[serde(default = "default_true")]
    pub derivative_jobs: bool,
    /// Addresses of the load balancers in front of this replica. Only a request coming from
    /// one of them may name its client in `X-Forwarded-For`; login throttling is keyed on the
    /// client's address, so leave this empty when clients connect directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    #[serde(default)]
    pub login: LoginLimits,
    /// Whether presigned uploads (a whole object, and each part of a multipart upload, which
    /// is then created with `x-amz-checksum-algorithm: SHA256` and completed with every part's
    /// checksum) also sign the flexible checksum `x-amz-checksum-sha256` (default true). Keep it on for any store you did not write:
    /// not every one verifies `x-amz-content-sha256` on a presigned URL, while AWS, R2 and most
    /// others verify the checksum. The embedded cloud turns it off: its store verifies the
    /// content hash while it receives the body, and would hash every upload twice.
    #[serde(default = "default_true")]
    pub upload_checksum: bool,
    /// Lifetime of the signed links an owner gets for a private or trashed image (default 1
    /// hour, at most 7 days: SigV4's limit). Clients ask for the image again for fresh ones.
    #[serde(default = "default_private_link_ttl", with = "duration")]
    pub private_link_ttl: Duration,
    /// Periodic database backups taken by this server (`[backup]`: dir, interval, keep_daily,
    /// keep_weekly); off unless set. With PostgreSQL, prefer one machine's timer running
    /// `imgcloud-server backup` (each replica with `[backup]` takes its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<crate::backup::schedule::BackupSchedule>,
}

/// Failed-login budgets per 15 minutes (see `routes::auth`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LoginLimits {
    /// Tries for one user name from one client address.
    pub per_name_and_address: u32,
    /// Tries from one client address, across user names.
    pub per_address: u32,
    /// Failed logins of everyone; past it an address that already failed gets no more tries,
    /// while one that has not (the right password from a new place) still gets its tries.
    pub global: u32,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_name_and_address: 5,
            per_address: 50,
            global: 10_000,
        }
    }
}

fn default_true() -> bool {
    true
}

/// How links are built: `{base_url}/{key}{url_suffix}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdnConfig {
    pub base_url: String,
    /// Appended to image links, e.g. `?x-oss-process=image/auto-orient,1`.
    #[serde(default)]
    pub url_suffix: String,
    /// What the CDN is sent when a public link stops serving: `none` (it revalidates within
    /// 30 s), `refresh` (our nginx CDN) or `purge` (HTTP PURGE). See `cdn.rs`.
    #[serde(default)]
    pub purge: crate::cdn::PurgeMode,
}

/// Upload limits (served at `/v1/limits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_upload_bytes: u64,
    pub multipart_cutoff: u64,
    pub min_part_size: u64,
    pub max_filename_bytes: u32,
    pub max_pixels: u64,
    pub max_batch: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 512 * MIB,
            multipart_cutoff: 64 * MIB,
            min_part_size: 8 * MIB,
            max_filename_bytes: 255,
            max_pixels: 200_000_000,
            max_batch: 1000,
        }
    }
}

impl LimitsConfig {
    pub fn to_api(&self) -> Limits {
        Limits {
            max_upload_bytes: self.max_upload_bytes,
            multipart_cutoff: self.multipart_cutoff,
            min_part_size: self.min_part_size,
            max_filename_bytes: self.max_filename_bytes,
            max_pixels: self.max_pixels,
            max_batch: self.max_batch,
        }
    }
}

/// The cache in front of the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// `memcached://host:port[,host:port…]`: memcached (keys spread over the servers). Absent:
    /// an in-process cache (one replica only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Longest time one memcached operation may take (connecting included); slower is a miss.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// How long a cached token, image, list page or change-feed answer may be served.
    #[serde(with = "duration")]
    pub ttl: Duration,
    /// Most entries kept by the in-process cache.
    pub capacity: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            url: None,
            timeout: Duration::from_millis(100),
            ttl: Duration::from_secs(30),
            capacity: 10_000,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8420))
}
fn default_upload_expiry() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_stale_upload_after() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_janitor_interval() -> Duration {
    Duration::from_secs(5 * 60)
}
fn default_private_link_ttl() -> Duration {
    Duration::from_secs(60 * 60)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_body_bytes() -> usize {
    MIB as usize
}

/// Smallest part S3 accepts (all but the last part of a multipart upload).
pub const S3_MIN_PART_SIZE: u64 = 5 * MIB;

/// Longest presigned URL lifetime the server hands out.
pub const MAX_UPLOAD_EXPIRY: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read server configuration {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid imgcloud server configuration: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
    #[error("invalid server configuration: {0}")]
    Invalid(String),
}

impl ServerConfig {
    /// Reads `path`, then applies the environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.display().to_string(),
            message,
        })?;
        config.apply_env()?;
        config.validate()?;
        Ok(config)
    }

    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Applies `IMGCLOUD_LISTEN`, `IMGCLOUD_PUBLIC_URL`, `IMGCLOUD_DATABASE_URL`,
    /// `IMGCLOUD_S3_ENDPOINT`, `IMGCLOUD_S3_REGION`, `IMGCLOUD_S3_BUCKET`,
    /// `IMGCLOUD_S3_ACCESS_KEY`, `IMGCLOUD_S3_SECRET_KEY`, `IMGCLOUD_S3_PATH_STYLE` (`true` /
    /// `false`), `IMGCLOUD_CDN_BASE_URL`, `IMGCLOUD_CDN_URL_SUFFIX`,
    /// `IMGCLOUD_MULTIPART_CUTOFF`, `IMGCLOUD_MIN_PART_SIZE`, `IMGCLOUD_CACHE_URL`,
    /// `IMGCLOUD_DERIVATIVE_JOBS` (`true` / `false`) and `IMGCLOUD_TRUSTED_PROXIES` (addresses
    /// separated by commas).
    pub fn apply_env(&mut self) -> Result<(), ConfigError> {
        self.apply_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Same as [`ServerConfig::apply_env`] with an explicit lookup (for tests).
    pub fn apply_vars(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.parse().map_err(|e: T::Err| ConfigError::Env {
                name,
                message: e.to_string(),
            })
        }
        if let Some(v) = var("IMGCLOUD_LISTEN") {
            self.listen = parse("IMGCLOUD_LISTEN", &v)?;
        }
        if let Some(v) = var("IMGCLOUD_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = var("IMGCLOUD_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = var("IMGCLOUD_S3_ENDPOINT") {
            self.s3.endpoint = parse("IMGCLOUD_S3_ENDPOINT", &v)?;
        }
        if let Some(v) = var("IMGCLOUD_S3_REGION") {
            self.s3.region = v;
        }
        if let Some(v) = var("IMGCLOUD_DERIVATIVE_JOBS") {
            self.derivative_jobs = boolean("IMGCLOUD_DERIVATIVE_JOBS", &v)?;
        }
        if let Some(v) = var("IMGCLOUD_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| parse("IMGCLOUD_TRUSTED_PROXIES", a))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = var("IMGCLOUD_S3_PATH_STYLE") {
            self.s3.path_style = match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError::Env {
                        name: "IMGCLOUD_S3_PATH_STYLE",
                        message: format!(
                            "{v:?} is not a boolean: use true (endpoint/bucket/key) or false \
                             (virtual-host style bucket.endpoint/key)"
                        ),
                    });
                }
            };
        }
        if let Some(v) = var("IMGCLOUD_S3_BUCKET") {
            self.s3.bucket = v;
        }
        if let Some(v) = var("IMGCLOUD_S3_ACCESS_KEY") {
            self.s3.access_key = v;
        }
        if let Some(v) = var("IMGCLOUD_S3_SECRET_KEY") {
            self.s3.secret_key = v;
        }
        if let Some(v) = var("IMGCLOUD_CDN_BASE_URL") {
            self.cdn.base_url = v;
        }
        if let Some(v) = var("IMGCLOUD_CDN_URL_SUFFIX") {
            self.cdn.url_suffix = v;
        }
        if let Some(v) = var("IMGCLOUD_MULTIPART_CUTOFF") {
            self.limits.multipart_cutoff = parse("IMGCLOUD_MULTIPART_CUTOFF", &v)?;
        }
        if let Some(v) = var("IMGCLOUD_MIN_PART_SIZE") {
            self.limits.min_part_size = parse("IMGCLOUD_MIN_PART_SIZE", &v)?;
        }
        if let Some(v) = var("IMGCLOUD_CACHE_URL") {
            self.cache.url = Some(v);
        }
        Ok(())
    }

    /// Checks the values that would otherwise fail later, naming the setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if l.max_upload_bytes == 0 {
            return bad("limits.max_upload_bytes must be > 0");
        }
        if l.min_part_size < S3_MIN_PART_SIZE {
            return bad(
                "limits.min_part_size must be at least 5 MiB (5242880): S3 refuses smaller parts",
            );
        }
        if l.multipart_cutoff == 0 {
            return bad("limits.multipart_cutoff must be > 0");
        }
        if l.max_filename_bytes == 0 || l.max_batch == 0 || l.max_pixels == 0 {
            return bad(
                "limits.max_filename_bytes, limits.max_batch and limits.max_pixels must be > 0",
            );
        }
        if let Some(backup) = &self.backup
            && backup.interval < Duration::from_secs(60)
        {
            return bad("backup.interval must be at least 1 minute (e.g. \"24h\")");
        }
        if !is_http_url(&self.cdn.base_url) {
            return bad(
                "cdn.base_url (IMGCLOUD_CDN_BASE_URL) must be an absolute http(s) URL such as \
                 https://cdn.example.com",
            );
        }
        if let Some(public_url) = &self.public_url
            && !is_http_url(public_url)
        {
            return bad(
                "public_url (IMGCLOUD_PUBLIC_URL) must be an absolute http(s) URL such as \
                 https://api.example.com",
            );
        }
        if self.s3.region.trim().is_empty() {
            return bad(
                "s3.region (IMGCLOUD_S3_REGION) must not be empty: use the bucket's region, or \
                 us-east-1 for stores that ignore it",
            );
        }
        if self.s3.bucket.trim().is_empty() {
            return bad("s3.bucket (IMGCLOUD_S3_BUCKET) must not be empty");
        }
        if self.s3.access_key.is_empty() || self.s3.secret_key.is_empty() {
            return bad(
                "s3.access_key and s3.secret_key must be set: put them in the environment \
                 (IMGCLOUD_S3_ACCESS_KEY, IMGCLOUD_S3_SECRET_KEY) or in the [s3] table",
            );
        }
        if !matches!(self.s3.endpoint.scheme(), "http" | "https") {
            return bad("s3.endpoint (IMGCLOUD_S3_ENDPOINT) must be an http(s) URL");
        }
        if !self.s3.path_style
            && matches!(
                self.s3.endpoint.host(),
                Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))
            )
        {
            return bad(
                "s3.path_style = false (virtual-host style) needs a DNS name in s3.endpoint; \
                 set s3.path_style = true (IMGCLOUD_S3_PATH_STYLE=true) for an IP address",
            );
        }
        if self.upload_expiry.is_zero() {
            return bad("upload_expiry must be > 0");
        }
        if self.janitor_interval.is_zero() {
            return bad("janitor_interval must be > 0");
        }
        if self.private_link_ttl < Duration::from_secs(60)
            || self.private_link_ttl > Duration::from_secs(7 * 24 * 3600)
        {
            return bad("private_link_ttl must be between 1m and 7d");
        }
        if self.limits.max_upload_bytes > 5 * 1024 * MIB {
            return bad(
                "limits.max_upload_bytes must be at most 5 GiB (images move between prefixes \
                 with S3 CopyObject when their visibility changes)",
            );
        }
        if let Some(url) = &self.cache.url
            && let Err(e) = crate::cache::memcached::parse_url(url)
        {
            return Err(ConfigError::Invalid(format!(
                "cache.url (or IMGCLOUD_CACHE_URL) {e}"
            )));
        }
        if self.cache.timeout.is_zero() || self.cache.ttl.is_zero() {
            return bad("cache.timeout and cache.ttl must be > 0");
        }
        Ok(())
    }

    /// The API's public base URL, without a trailing slash: `public_url`, or this replica's
    /// own address when none is set.
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Presigned URL lifetime actually used (≤ 15 minutes).
    pub fn presign_expiry(&self) -> Duration {
        self.upload_expiry.min(MAX_UPLOAD_EXPIRY)
    }
}

fn is_http_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

/// Parses `900`, `"500ms"`, `"30s"`, `"15m"`, `"24h"` or `"7d"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: expected e.g. 30s, 15m, 24h"))?;
    let secs = |mult: u64| {
        n.checked_mul(mult)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("duration {text:?} is too large"))
    };
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86400),
        other => Err(format!(
            "invalid duration unit {other:?} in {text:?}: use ms, s, m, h or d"
        )),
    }
}

/// Serde for durations: integer seconds or a string with a unit.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.subsec_millis() != 0 {
            s.serialize_str(&format!("{}ms", d.as_millis()))
        } else {
            s.serialize_str(&format!("{}s", d.as_secs()))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(n) => Ok(Duration::from_secs(n)),
            Raw::Text(t) => super::parse_duration(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// A boolean environment value.
fn boolean(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Env {
            name,
            message: format!("{value:?} is not a boolean: use true or false"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        database_url = "sqlite:///tmp/x.db"
        [s3]
        endpoint = "http://127.0.0.1:9000"
        region = "us-east-1"
        bucket = "imgcloud"
        access_key = "ak"
        secret_key = "sk"
        path_style = true
        [cdn]
        base_url = "https://cdn.example.com"
    "#;

    #[test]
    fn minimal_file_gets_documented_defaults() {
        let config = ServerConfig::from_toml(MINIMAL).unwrap();
        assert_eq!(config.limits.max_upload_bytes, 512 * MIB);
        assert_eq!(config.limits.multipart_cutoff, 64 * MIB);
        assert_eq!(config.limits.min_part_size, 8 * MIB);
        assert_eq!(config.stale_upload_after, Duration::from_secs(86400));
        assert_eq!(config.listen.port(), 8420);
        config.validate().unwrap();
        let mut small_parts = config.clone();
        small_parts.limits.min_part_size = 1000;
        assert!(
            small_parts
                .validate()
                .unwrap_err()
                .to_string()
                .contains("min_part_size")
        );
    }

    #[test]
    fn durations_accept_units_and_expiry_is_capped() {
        let text = format!("{MINIMAL}\n");
        let text = text.replace(
            "database_url",
            "upload_expiry = \"1h\"\nstale_upload_after = 7200\ndatabase_url",
        );
        let config = ServerConfig::from_toml(&text).unwrap();
        assert_eq!(config.upload_expiry, Duration::from_secs(3600));
        assert_eq!(config.presign_expiry(), MAX_UPLOAD_EXPIRY);
        assert_eq!(config.stale_upload_after, Duration::from_secs(7200));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("5 fortnights").is_err());
    }

    #[test]
    fn env_overrides_and_names_bad_values() {
        let mut config = ServerConfig::from_toml(MINIMAL).unwrap();
        config
            .apply_vars(|n| match n {
                "IMGCLOUD_MULTIPART_CUTOFF" => Some("1000".into()),
                "IMGCLOUD_S3_SECRET_KEY" => Some("other".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.limits.multipart_cutoff, 1000);
        assert_eq!(config.s3.secret_key, "other");
        let err = config
            .apply_vars(|n| (n == "IMGCLOUD_LISTEN").then(|| "nope".into()))
            .unwrap_err();
        assert!(err.to_string().contains("IMGCLOUD_LISTEN"), "{err}");
    }

    #[test]
    fn s3_region_style_and_public_url_come_from_env() {
        let mut config = ServerConfig::from_toml(MINIMAL).unwrap();
        config
            .apply_vars(|n| match n {
                "IMGCLOUD_S3_REGION" => Some("eu-central-1".into()),
                "IMGCLOUD_S3_PATH_STYLE" => Some("false".into()),
                "IMGCLOUD_S3_ENDPOINT" => Some("https://s3.eu-central-1.amazonaws.com".into()),
                "IMGCLOUD_PUBLIC_URL" => Some("https://api.example.com".into()),
                "IMGCLOUD_CDN_BASE_URL" => Some("https://cdn.example.com".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.s3.region, "eu-central-1");
        assert!(!config.s3.path_style);
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://api.example.com")
        );
        config.validate().unwrap();
        assert_eq!(
            config.s3.object_url("i/abc/a b.png").as_str(),
            "https://imgcloud.s3.eu-central-1.amazonaws.com/i/abc/a%20b.png"
        );
        let err = config
            .apply_vars(|n| (n == "IMGCLOUD_S3_PATH_STYLE").then(|| "maybe".into()))
            .unwrap_err();
        assert!(err.to_string().contains("IMGCLOUD_S3_PATH_STYLE"), "{err}");
    }

    #[test]
    fn bad_urls_and_virtual_host_on_an_ip_are_named() {
        let base = ServerConfig::from_toml(MINIMAL).unwrap();
        let mut c = base.clone();
        c.public_url = Some("api.example.com".into());
        assert!(c.validate().unwrap_err().to_string().contains("public_url"));
        let mut c = base.clone();
        c.cdn.base_url = "ftp://cdn.example.com".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("cdn.base_url")
        );
        let mut c = base.clone();
        c.s3.path_style = false;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("path_style"), "{err}");
        let mut c = base;
        c.s3.region = String::new();
        assert!(c.validate().unwrap_err().to_string().contains("s3.region"));
    }

    #[test]
    fn typos_are_rejected() {
        let err =
            ServerConfig::from_toml(&MINIMAL.replace("database_url", "databse_url")).unwrap_err();
        assert!(err.contains("databse_url"), "{err}");
    }

    #[test]
    fn the_s3_keys_may_be_left_out_of_the_file_for_the_environment() {
        let text = r#"
            database_url = "sqlite:///var/lib/imgcloud/imgcloud.db"
            [s3]
            endpoint = "http://127.0.0.1:9000"
            region = "us-east-1"
            bucket = "imgcloud"
            path_style = true
            [cdn]
            base_url = "http://127.0.0.1:9000/imgcloud"
        "#;
        let mut config = ServerConfig::from_toml(text).unwrap();
        let missing = config.validate().unwrap_err().to_string();
        assert!(missing.contains("IMGCLOUD_S3_ACCESS_KEY"), "{missing}");
        config
            .apply_vars(|n| match n {
                "IMGCLOUD_S3_ACCESS_KEY" => Some("ak".into()),
                "IMGCLOUD_S3_SECRET_KEY" => Some("sk".into()),
                _ => None,
            })
            .unwrap();
        config.validate().unwrap();
    }

    /// `deploy/server.example.toml` parses, holds no secret, validates once the secrets come
    /// from the environment, and names every key the configuration has (so it cannot drift).
    #[test]
    fn deploy_example_is_valid_complete_and_secret_free() {
        use std::collections::BTreeSet;

        const EXAMPLE: &str = include_str!("../../deploy/server.example.toml");
        fn keys(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
            if let toml::Value::Table(table) = value {
                for (name, inner) in table {
                    let path = format!("{prefix}{name}");
                    keys(inner, &format!("{path}."), out);
                    out.insert(path);
                }
            }
        }

        let mut config = ServerConfig::from_toml(EXAMPLE).unwrap();
        assert!(config.s3.access_key.is_empty() && config.s3.secret_key.is_empty());
        let missing = config.validate().unwrap_err().to_string();
        assert!(
            missing.contains("IMGCLOUD_S3_SECRET_KEY"),
            "without the keys in the environment: {missing}"
        );
        let database = url::Url::parse(&config.database_url).unwrap();
        assert_eq!(
            database.password(),
            None,
            "no database password in the example"
        );
        config
            .apply_vars(|n| match n {
                "IMGCLOUD_DATABASE_URL" => {
                    Some("postgres://imgcloud:pw@db.internal:5432/imgcloud".into())
                }
                "IMGCLOUD_S3_ACCESS_KEY" => Some("example-access".into()),
                "IMGCLOUD_S3_SECRET_KEY" => Some("example-secret".into()),
                _ => None,
            })
            .unwrap();
        config.validate().unwrap();
        assert_eq!(config.s3.secret_key, "example-secret");

        let (mut written, mut accepted) = (BTreeSet::new(), BTreeSet::new());
        keys(&toml::from_str(EXAMPLE).unwrap(), "", &mut written);
        keys(&toml::Value::try_from(&config).unwrap(), "", &mut accepted);
        assert_eq!(
            written, accepted,
            "deploy/server.example.toml vs ServerConfig"
        );
    }
}
