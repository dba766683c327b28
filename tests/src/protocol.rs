//! The upload protocol spoken by hand over HTTP with the wire types of `imgcloud_core::api`,
//! for scenarios that must do what a well-behaved client never does (send wrong bytes, touch
//! another user's session).

use imgcloud_core::api::{CreateUpload, CreateUploadResponse, PresignedRequest};

use crate::http::{Fetched, request};
use crate::images::sha256_hex;

/// A `CreateUpload` for `bytes` (single PUT).
pub fn create_upload_for(filename: &str, bytes: &[u8]) -> anyhow::Result<CreateUpload> {
    let probe = imgcloud_core::probe::probe_bytes(bytes)?;
    let body = CreateUpload {
        filename: filename.to_string(),
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
        content_type: probe.content_type().to_string(),
        width: probe.width,
        height: probe.height,
        taken_at: probe.taken_at,
        parts: None,
        visibility: None,
    };
    Ok(body)
}

/// `POST /v1/uploads` as `token`; the parsed answer, or the raw response when it is not 2xx.
pub async fn post_upload(
    api_url: &str,
    token: &str,
    body: &CreateUpload,
) -> anyhow::Result<Result<CreateUploadResponse, Fetched>> {
    let url = format!("{api_url}/v1/uploads");
    let response = request(
        "POST",
        &url,
        Some(token),
        Some(&serde_json::to_value(body)?),
    )
    .await?;
    if !(200..300).contains(&response.status) {
        return Ok(Err(response));
    }
    Ok(Ok(serde_json::from_slice(&response.body)?))
}

/// Sends a presigned request exactly as given (method, URL, headers) with `body`.
pub async fn send_presigned(target: &PresignedRequest, body: Vec<u8>) -> anyhow::Result<Fetched> {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(target.method.as_bytes())?;
    let mut builder = client.request(method, &target.url).body(body);
    for (name, value) in &target.headers {
        builder = builder.header(name, value);
    }
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
