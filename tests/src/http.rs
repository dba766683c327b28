//! Plain HTTP requests for checking what links and routes serve.

use std::time::Duration;

/// Status, headers and body of one response.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Fetched {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// `GET url` (no auth).
pub async fn fetch(url: &str) -> anyhow::Result<Fetched> {
    send(http().get(url)).await
}

/// `HEAD url` (no auth).
pub async fn head(url: &str) -> anyhow::Result<Fetched> {
    send(http().head(url)).await
}

/// Any request, with an optional bearer token and JSON body.
pub async fn request(
    method: &str,
    url: &str,
    token: Option<&str>,
    json: Option<&serde_json::Value>,
) -> anyhow::Result<Fetched> {
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let mut builder = http().request(method, url);
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    if let Some(json) = json {
        builder = builder.json(json);
    }
    send(builder).await
}

async fn send(builder: reqwest::RequestBuilder) -> anyhow::Result<Fetched> {
    let response = builder.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    Ok(Fetched {
        status,
        headers,
        body,
    })
}
