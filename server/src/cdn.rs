//! Telling the CDN that a public link stopped serving (an image made private, trashed or
//! purged), behind one small trait so a real CDN's purge API plugs in.
//!
//! The CDN never keeps an answer longer than its revalidation time (30 s in
//! `deploy/nginx/cdn.conf.template`), so a link that stopped serving at the origin stops
//! serving through the CDN within that time whatever happens here. A purge makes it immediate:
//! - [`PurgeMode::None`]: nothing is sent (no CDN, or one that revalidates often enough);
//! - [`PurgeMode::Refresh`]: `GET` of the link with `X-Imgcloud-Refresh: 1`; our nginx CDN
//!   answers it from the origin and keeps that answer (a 404 now) in place of the old one;
//! - [`PurgeMode::Purge`]: an HTTP `PURGE` of the link (Varnish, nginx's cache-purge module,
//!   Fastly).
//!
//! A failed purge is logged and counted, never an error for the user: the revalidation time
//! still bounds how long the old answer lives.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// How long the CDN may serve a cached answer before asking the origin again (what
/// `deploy/nginx/cdn.conf.template` sets; the longest a stopped link serves without a purge).
pub const REVALIDATE_AFTER: Duration = Duration::from_secs(30);

/// Header of a refresh request (see [`PurgeMode::Refresh`]).
pub const REFRESH_HEADER: &str = "x-imgcloud-refresh";

/// What the server sends the CDN when a link stops serving (`cdn.purge` in server.toml).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeMode {
    /// Nothing: rely on the CDN's revalidation time.
    #[default]
    None,
    /// `GET` with `X-Imgcloud-Refresh: 1` (our nginx CDN).
    Refresh,
    /// HTTP `PURGE` of each link.
    Purge,
}

/// Drops the CDN's copies of links that stopped serving.
#[async_trait]
pub trait CdnPurge: Send + Sync {
    /// Asks the CDN to forget `urls`; the error says which failed and why.
    async fn purge(&self, urls: &[String]) -> Result<(), String>;
}

/// [`PurgeMode::None`].
pub struct NoPurge;

#[async_trait]
impl CdnPurge for NoPurge {
    async fn purge(&self, _urls: &[String]) -> Result<(), String> {
        Ok(())
    }
}

/// [`PurgeMode::Refresh`] and [`PurgeMode::Purge`]: one HTTP request per link.
pub struct HttpPurge {
    http: reqwest::Client,
    mode: PurgeMode,
}

impl HttpPurge {
    pub fn new(mode: PurgeMode) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { http, mode }
    }
}

#[async_trait]
impl CdnPurge for HttpPurge {
    async fn purge(&self, urls: &[String]) -> Result<(), String> {
        let mut failed = Vec::new();
        for url in urls {
            let request = match self.mode {
                PurgeMode::Purge => self.http.request(
                    reqwest::Method::from_bytes(b"PURGE").expect("PURGE is a valid method"),
                    url,
                ),
                _ => self.http.get(url).header(REFRESH_HEADER, "1"),
            };
            match request.send().await {
                // The refresh answer is whatever the origin says now (404 is the point); a
                // purge answers 200 or 404 (nothing cached). Only the CDN failing is a failure.
                Ok(answer) if !answer.status().is_server_error() => {}
                Ok(answer) => failed.push(format!("{url}: HTTP {}", answer.status())),
                Err(e) => failed.push(format!("{url}: {e}")),
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(failed.join("; "))
        }
    }
}

/// The purger for `mode`.
pub fn purger(mode: PurgeMode) -> std::sync::Arc<dyn CdnPurge> {
    match mode {
        PurgeMode::None => std::sync::Arc::new(NoPurge),
        other => std::sync::Arc::new(HttpPurge::new(other)),
    }
}
