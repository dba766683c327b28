//! S3 SigV4 signing and presigning, shared by the server (which presigns uploads and talks to the
//! object store) and by tooling.
//!
//! Everything here is pure: no I/O, the clock is passed in. Signing is done by `aws-sigv4` with
//! the settings S3 needs (single percent-encoding, no URI path normalisation); this module owns
//! building the exact, already-encoded URLs it signs, so the URL that is signed is byte for byte
//! the URL that is sent.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign as sigv4_sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::PresignedRequest;

/// Payload hash placeholder for requests whose body is not covered by the signature
/// (every presigned URL; the body is then checked through a signed `x-amz-content-sha256`).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Hex SHA-256 of the empty body, the payload hash of bodiless requests (GET, HEAD, DELETE…).
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Longest validity of a presigned URL; longer requests are cut to this.
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(15 * 60);

/// Longest object key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// SigV4 service name.
const SERVICE: &str = "s3";

/// Name under which the configured keys are handed to `aws-sigv4`.
const CREDENTIALS_SOURCE: &str = "imgcloud-s3-config";

/// Bytes kept as they are in keys and query strings: RFC 3986 unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Same as [`UNRESERVED`] plus `/`, the segment separator of object keys.
const KEY_SAFE: &AsciiSet = &UNRESERVED.remove(b'/');

/// Errors of signing and presigning. None of them carries a secret or a signature.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("invalid header {name:?} for a signed S3 request: {reason}")]
    InvalidHeader { name: String, reason: &'static str },
    #[error(
        "invalid payload hash {value:?}: expected 64 lower-case hex digits or UNSIGNED-PAYLOAD"
    )]
    InvalidPayloadHash { value: String },
    #[error("S3 endpoint {endpoint} cannot be used: {reason}")]
    InvalidEndpoint {
        endpoint: String,
        reason: &'static str,
    },
    #[error("presigned URL expiry must be at least one second")]
    InvalidExpiry,
    #[error("SigV4 signing failed: {0}")]
    Signing(String),
}

/// Where and as whom to reach an S3-compatible bucket.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Base URL of the store, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:9000`.
    #[serde(with = "url_serde")]
    pub endpoint: url::Url,
    /// Signing region (`us-east-1` for most S3-compatible stores that ignore it).
    pub region: String,
    pub bucket: String,
    /// May be left out of a file and given by the environment (`IMGCLOUD_S3_ACCESS_KEY`).
    #[serde(default)]
    pub access_key: String,
    /// May be left out of a file and given by the environment (`IMGCLOUD_S3_SECRET_KEY`).
    #[serde(default)]
    pub secret_key: String,
    /// `true`: `endpoint/bucket/key` (MinIO, Ceph, the embedded store);
    /// `false`: virtual-host style `bucket.endpoint-host/key` (AWS, OSS, R2).
    pub path_style: bool,
}

/// (De)serialises a URL as its string form (the `url` crate's own serde feature is not enabled).
mod url_serde {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(url: &url::Url, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(url.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<url::Url, D::Error> {
        let text = String::deserialize(deserializer)?;
        url::Url::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid endpoint URL {text:?}: {e}")))
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key", &self.access_key)
            .field("secret_key", &"** redacted **")
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// What to presign: one request on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignInput {
    /// HTTP method, upper case (`PUT`, `GET`…).
    pub method: String,
    /// Object key, not encoded.
    pub key: String,
    /// Extra query parameters (not encoded), e.g. `partNumber`/`uploadId`; an empty value is
    /// sent as the bare name (`?uploads`).
    pub query: Vec<(String, String)>,
    /// Headers to sign; the client must send exactly these (returned in the result).
    pub headers: Vec<(String, String)>,
    /// Validity; cut to [`MAX_PRESIGN_EXPIRY`].
    pub expires_in: Duration,
}

/// Percent-encodes an object key for a URL path: every byte but RFC 3986 unreserved characters
/// and `/` (so `+` → `%2B`, space → `%20`, `ü` → `%C3%BC`).
pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY_SAFE).to_string()
}

/// Percent-encodes a query-string name or value: every byte but unreserved characters.
fn encode_query_component(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// Checks that `key` can be used as an object key in a URL: non-empty, at most
/// [`MAX_KEY_BYTES`], no control characters, and no `.`/`..` segment (URL parsers collapse
/// those, even percent-encoded, so the request would reach another key).
pub fn validate_key(key: &str) -> Result<(), S3Error> {
    let invalid = |reason| {
        Err(S3Error::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("the key is empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return invalid("the key is longer than 1024 bytes");
    }
    if key.chars().any(char::is_control) {
        return invalid("the key contains control characters");
    }
    if key
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return invalid("the key contains a `.` or `..` segment");
    }
    Ok(())
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// Converts a hex SHA-256 into the base64 form of `x-amz-checksum-sha256`.
pub fn sha256_base64_from_hex(sha256_hex: &str) -> Result<String, S3Error> {
    let bytes = parse_sha256_hex(sha256_hex)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn parse_sha256_hex(value: &str) -> Result<[u8; 32], S3Error> {
    let invalid = || S3Error::InvalidPayloadHash {
        value: value.to_owned(),
    };
    if value.len() != 64 || value.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(invalid());
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(value, &mut out).map_err(|_| invalid())?;
    Ok(out)
}

/// Builds a query string from raw (not encoded) pairs, every component strictly
/// percent-encoded; an empty value gives the bare name (`uploads`). Use it for the query of URLs
/// passed to [`S3Config::sign`].
pub fn encode_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode_query_component(name));
        if !value.is_empty() {
            out.push('=');
            out.push_str(&encode_query_component(value));
        }
    }
    out
}

impl S3Config {
    /// URL of the bucket itself (for CreateBucket / HeadBucket): `endpoint/bucket` in path
    /// style, `bucket.host/` in virtual-host style.
    pub fn bucket_url(&self) -> url::Url {
        let mut url = self.endpoint.clone();
        url.set_query(None);
        url.set_fragment(None);
        let base = self.endpoint.path().trim_end_matches('/');
        if self.path_style {
            url.set_path(&format!("{base}/{}", encode_key(&self.bucket)));
        } else {
            self.set_virtual_host(&mut url);
            url.set_path(&format!("{base}/"));
        }
        url
    }

    /// URL of one object (key encoded with [`encode_key`]). Keys are expected to pass
    /// [`validate_key`]; the signing functions check it.
    pub fn object_url(&self, key: &str) -> url::Url {
        let mut url = self.endpoint.clone();
        url.set_query(None);
        url.set_fragment(None);
        let base = self.endpoint.path().trim_end_matches('/');
        let key = encode_key(key);
        if self.path_style {
            url.set_path(&format!("{base}/{}/{key}", encode_key(&self.bucket)));
        } else {
            self.set_virtual_host(&mut url);
            url.set_path(&format!("{base}/{key}"));
        }
        url
    }

    fn set_virtual_host(&self, url: &mut url::Url) {
        if let Some(host) = self.endpoint.host_str() {
            let virtual_host = format!("{}.{host}", self.bucket);
            // A bucket name that is no valid host label leaves the endpoint host unchanged;
            // requests then fail at the store with a clear "NoSuchBucket"-style answer.
            let _ = url.set_host(Some(&virtual_host));
        }
    }

    fn check_endpoint(&self) -> Result<(), S3Error> {
        let invalid = |reason| {
            Err(S3Error::InvalidEndpoint {
                endpoint: self.endpoint.to_string(),
                reason,
            })
        };
        if !matches!(self.endpoint.scheme(), "http" | "https") {
            return invalid("the scheme must be http or https");
        }
        if self.endpoint.host_str().is_none() {
            return invalid("the URL has no host");
        }
        if !is_valid_bucket_name(&self.bucket) {
            return invalid(
                "the bucket name must be 3-63 lower-case letters, digits, `-` or `.`, \
                 starting and ending with a letter or digit",
            );
        }
        if !self.path_style
            && matches!(
                self.endpoint.host(),
                Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))
            )
        {
            return invalid("virtual-host style needs a DNS name; set path_style = true");
        }
        Ok(())
    }

    fn identity(&self) -> Identity {
        Credentials::new(
            self.access_key.clone(),
            self.secret_key.clone(),
            None,
            None,
            CREDENTIALS_SOURCE,
        )
        .into()
    }

    /// SigV4 parameters for this store's region and the S3 service.
    fn signing_params<'a>(
        &'a self,
        identity: &'a Identity,
        settings: SigningSettings,
        now: SystemTime,
    ) -> Result<aws_sigv4::http_request::SigningParams<'a>, S3Error> {
        Ok(v4::SigningParams::builder()
            .identity(identity)
            .region(&self.region)
            .name(SERVICE)
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| S3Error::Signing(e.to_string()))?
            .into())
    }

    /// Presigns one request as a query-string SigV4 URL with `UNSIGNED-PAYLOAD`. The given
    /// headers are signed and returned, so the client must send exactly them. `expires_in` is
    /// cut to [`MAX_PRESIGN_EXPIRY`].
    pub fn presign(
        &self,
        req: &PresignInput,
        now: SystemTime,
    ) -> Result<PresignedRequest, S3Error> {
        if req.expires_in < Duration::from_secs(1) {
            return Err(S3Error::InvalidExpiry);
        }
        self.presign_uncapped(req, req.expires_in.min(MAX_PRESIGN_EXPIRY), now)
    }

    fn presign_uncapped(
        &self,
        req: &PresignInput,
        expires_in: Duration,
        now: SystemTime,
    ) -> Result<PresignedRequest, S3Error> {
        self.check_endpoint()?;
        validate_key(&req.key)?;
        check_headers(&req.headers)?;
        let mut url = self.object_url(&req.key);
        let query = encode_query(req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        url.set_query((!query.is_empty()).then_some(query.as_str()));

        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);

        let identity = self.identity();
        let params = self.signing_params(&identity, settings, now)?;
        let signable = SignableRequest::new(
            &req.method,
            url.as_str(),
            req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| S3Error::Signing(e.to_string()))?;
        let (instructions, _signature) = sigv4_sign(signable, &params)
            .map_err(|e| S3Error::Signing(e.to_string()))?
            .into_parts();
        let (_, signing_params) = instructions.into_parts();

        let signing_query = encode_query(signing_params.iter().map(|(k, v)| (*k, v.as_ref())));
        let full_query = if query.is_empty() {
            signing_query
        } else {
            format!("{query}&{signing_query}")
        };
        url.set_query(Some(&full_query));
        Ok(PresignedRequest {
            method: req.method.clone(),
            url: url.to_string(),
            headers: req.headers.clone(),
        })
    }

    /// Signs one request in header mode (`Authorization` header). `url` must already be encoded
    /// as built by [`S3Config::object_url`] / [`S3Config::bucket_url`] (plus a strictly encoded
    /// query). Returns every header to send: the given ones plus `x-amz-date`,
    /// `x-amz-content-sha256` and `authorization` (`host` is left to the HTTP client).
    pub fn sign(
        &self,
        method: &str,
        url: &url::Url,
        headers: &[(String, String)],
        payload_sha256_hex: &str,
        now: SystemTime,
    ) -> Result<Vec<(String, String)>, S3Error> {
        self.check_endpoint()?;
        check_headers(headers)?;
        if payload_sha256_hex != UNSIGNED_PAYLOAD {
            parse_sha256_hex(payload_sha256_hex)?;
        }
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.signature_location = SignatureLocation::Headers;

        let identity = self.identity();
        let params = self.signing_params(&identity, settings, now)?;
        let body = if payload_sha256_hex == UNSIGNED_PAYLOAD {
            SignableBody::UnsignedPayload
        } else {
            SignableBody::Precomputed(payload_sha256_hex.to_owned())
        };
        let signable = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            body,
        )
        .map_err(|e| S3Error::Signing(e.to_string()))?;
        let (instructions, _signature) = sigv4_sign(signable, &params)
            .map_err(|e| S3Error::Signing(e.to_string()))?
            .into_parts();
        let (signing_headers, _) = instructions.into_parts();

        let mut out: Vec<(String, String)> = headers
            .iter()
            .filter(|(name, _)| {
                !signing_headers
                    .iter()
                    .any(|h| h.name().eq_ignore_ascii_case(name))
            })
            .cloned()
            .collect();
        out.extend(
            signing_headers
                .iter()
                .map(|h| (h.name().to_owned(), h.value().to_owned())),
        );
        Ok(out)
    }
}

/// S3's bucket naming rules (the subset every S3-compatible store accepts).
pub fn is_valid_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'.')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && !name.contains("..")
}

/// Rejects headers the signer would mangle or that must not be signed by the caller.
fn check_headers(headers: &[(String, String)]) -> Result<(), S3Error> {
    for (name, value) in headers {
        let invalid = |reason| {
            Err(S3Error::InvalidHeader {
                name: name.clone(),
                reason,
            })
        };
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return invalid("not a valid header name");
        }
        if http::HeaderValue::from_str(value).is_err() {
            return invalid("not a valid header value");
        }
        let lower = name.to_ascii_lowercase();
        if matches!(lower.as_str(), "authorization" | "host" | "x-amz-date") {
            return invalid("set by the signer");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The credentials and time of AWS's documented S3 SigV4 examples
    /// ("Signature Calculations for the Authorization Header" / "Query String Authentication").
    fn aws_example_config() -> S3Config {
        S3Config {
            endpoint: "https://s3.amazonaws.com".parse().unwrap(),
            region: "us-east-1".into(),
            bucket: "examplebucket".into(),
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            path_style: false,
        }
    }

    fn aws_example_time() -> SystemTime {
        // 20130524T000000Z
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn key_encoding_keeps_slashes_and_unreserved_only() {
        assert_eq!(
            encode_key("a/My Photo (1)+ü €.jpg"),
            "a/My%20Photo%20%281%29%2B%C3%BC%20%E2%82%AC.jpg"
        );
        assert_eq!(encode_key("A-z_0.9~/x"), "A-z_0.9~/x");
        assert_eq!(encode_key("test$file.text"), "test%24file.text");
    }

    #[test]
    fn object_url_is_not_reencoded_by_url_crate() {
        let mut cfg = aws_example_config();
        cfg.endpoint = "http://127.0.0.1:9000/".parse().unwrap();
        cfg.path_style = true;
        let url = cfg.object_url("a/My Photo (1)+ü €.jpg");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9000/examplebucket/a/My%20Photo%20%281%29%2B%C3%BC%20%E2%82%AC.jpg"
        );
        assert_eq!(
            cfg.bucket_url().as_str(),
            "http://127.0.0.1:9000/examplebucket"
        );
    }

    #[test]
    fn virtual_host_urls_put_the_bucket_in_the_host() {
        let cfg = aws_example_config();
        assert_eq!(
            cfg.object_url("i/x y.png").as_str(),
            "https://examplebucket.s3.amazonaws.com/i/x%20y.png"
        );
        assert_eq!(
            cfg.bucket_url().as_str(),
            "https://examplebucket.s3.amazonaws.com/"
        );
    }

    #[test]
    fn endpoint_base_path_is_kept() {
        let mut cfg = aws_example_config();
        cfg.endpoint = "http://localhost:8080/storage/".parse().unwrap();
        cfg.path_style = true;
        assert_eq!(
            cfg.object_url("k").as_str(),
            "http://localhost:8080/storage/examplebucket/k"
        );
    }

    #[test]
    fn validate_key_rejects_keys_urls_cannot_carry() {
        assert!(validate_key("i/abc/My Photo.jpg").is_ok());
        for bad in ["", "a/../b", "./a", "a/.", "a\nb", &"x".repeat(1025)] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn header_signing_matches_aws_get_object_example() {
        // AWS docs, "Example: GET Object": GET /test.txt, Range: bytes=0-9, empty payload.
        let cfg = aws_example_config();
        let url = cfg.object_url("test.txt");
        let headers = vec![("range".to_owned(), "bytes=0-9".to_owned())];
        let out = cfg
            .sign("GET", &url, &headers, EMPTY_SHA256, aws_example_time())
            .unwrap();
        assert_eq!(
            header(&out, "authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
                 Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            )
        );
        assert_eq!(header(&out, "x-amz-date"), Some("20130524T000000Z"));
        assert_eq!(header(&out, "x-amz-content-sha256"), Some(EMPTY_SHA256));
        assert_eq!(header(&out, "range"), Some("bytes=0-9"));
    }

    #[test]
    fn header_signing_matches_aws_put_object_example() {
        // AWS docs, "Example: PUT Object": PUT /test$file.text with a body, a Date header and
        // x-amz-storage-class; checks that `$` in the key is encoded as the signer expects.
        let cfg = aws_example_config();
        let url = cfg.object_url("test$file.text");
        let body = "Welcome to Amazon S3.";
        let hash = sha256_hex(body);
        assert_eq!(
            hash,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let headers = vec![
            (
                "date".to_owned(),
                "Fri, 24 May 2013 00:00:00 GMT".to_owned(),
            ),
            (
                "x-amz-storage-class".to_owned(),
                "REDUCED_REDUNDANCY".to_owned(),
            ),
        ];
        let out = cfg
            .sign("PUT", &url, &headers, &hash, aws_example_time())
            .unwrap();
        let auth = header(&out, "authorization").unwrap();
        assert!(
            auth.ends_with(
                "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, \
                 Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
            ),
            "{auth}"
        );
    }

    #[test]
    fn presign_matches_aws_query_string_example() {
        // AWS docs, "Authenticating Requests: Using Query Parameters": GET /test.txt, 86400 s.
        let cfg = aws_example_config();
        let input = PresignInput {
            method: "GET".into(),
            key: "test.txt".into(),
            query: vec![],
            headers: vec![],
            expires_in: Duration::from_secs(86_400),
        };
        let out = cfg
            .presign_uncapped(&input, input.expires_in, aws_example_time())
            .unwrap();
        assert_eq!(
            out.url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
        assert_eq!(out.method, "GET");
        assert!(out.headers.is_empty());
    }

    #[test]
    fn presign_caps_expiry_and_signs_given_headers() {
        let cfg = aws_example_config();
        let hash = sha256_hex(b"hello");
        let input = PresignInput {
            method: "PUT".into(),
            key: "i/a b+c.jpg".into(),
            query: vec![
                ("partNumber".into(), "3".into()),
                ("uploadId".into(), "a/b+c=".into()),
            ],
            headers: vec![
                ("content-type".into(), "image/jpeg".into()),
                ("x-amz-content-sha256".into(), hash.clone()),
            ],
            expires_in: Duration::from_secs(7 * 24 * 3600),
        };
        let out = cfg.presign(&input, aws_example_time()).unwrap();
        let url = url::Url::parse(&out.url).unwrap();
        assert_eq!(url.path(), "/i/a%20b%2Bc.jpg");
        let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("X-Amz-Expires"), Some("900"));
        assert_eq!(get("uploadId"), Some("a/b+c="));
        assert_eq!(get("partNumber"), Some("3"));
        assert_eq!(
            get("X-Amz-SignedHeaders"),
            Some("content-type;host;x-amz-content-sha256")
        );
        assert!(out.url.contains("uploadId=a%2Fb%2Bc%3D&"), "{}", out.url);
        assert_eq!(out.headers, input.headers);

        // A different body hash yields a different signature.
        let mut other = input.clone();
        other.headers[1].1 = sha256_hex(b"world");
        let other = cfg.presign(&other, aws_example_time()).unwrap();
        assert_ne!(other.url, out.url);
    }

    #[test]
    fn presign_rejects_bad_input() {
        let cfg = aws_example_config();
        let mut input = PresignInput {
            method: "PUT".into(),
            key: "a/../b".into(),
            query: vec![],
            headers: vec![],
            expires_in: Duration::from_secs(60),
        };
        assert!(matches!(
            cfg.presign(&input, aws_example_time()),
            Err(S3Error::InvalidKey { .. })
        ));
        input.key = "ok".into();
        input.expires_in = Duration::ZERO;
        assert!(matches!(
            cfg.presign(&input, aws_example_time()),
            Err(S3Error::InvalidExpiry)
        ));
        input.expires_in = Duration::from_secs(60);
        input.headers = vec![("host".into(), "evil".into())];
        assert!(matches!(
            cfg.presign(&input, aws_example_time()),
            Err(S3Error::InvalidHeader { .. })
        ));
    }

    #[test]
    fn endpoint_and_bucket_are_checked_before_signing() {
        let input = PresignInput {
            method: "GET".into(),
            key: "k".into(),
            query: vec![],
            headers: vec![],
            expires_in: Duration::from_secs(60),
        };
        let mut cfg = aws_example_config();
        for bad in ["b", "Upper", "-dash", "a..b", &"x".repeat(64)] {
            cfg.bucket = bad.into();
            assert!(
                matches!(
                    cfg.presign(&input, aws_example_time()),
                    Err(S3Error::InvalidEndpoint { .. })
                ),
                "bucket {bad:?} should be rejected"
            );
        }
        cfg.bucket = "my.bucket-1".into();
        assert!(cfg.presign(&input, aws_example_time()).is_ok());

        cfg.endpoint = "http://127.0.0.1:9000".parse().unwrap();
        assert!(cfg.presign(&input, aws_example_time()).is_err());
        cfg.path_style = true;
        assert!(cfg.presign(&input, aws_example_time()).is_ok());
    }

    #[test]
    fn sign_rejects_malformed_payload_hash() {
        let cfg = aws_example_config();
        let url = cfg.object_url("k");
        let err = cfg
            .sign("PUT", &url, &[], "not-a-hash", aws_example_time())
            .unwrap_err();
        assert!(matches!(err, S3Error::InvalidPayloadHash { .. }));
        assert!(
            cfg.sign("PUT", &url, &[], UNSIGNED_PAYLOAD, aws_example_time())
                .is_ok()
        );
    }

    #[test]
    fn sha256_helpers_agree() {
        let hex = sha256_hex(b"");
        assert_eq!(hex, EMPTY_SHA256);
        assert_eq!(
            sha256_base64_from_hex(&hex).unwrap(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert!(sha256_base64_from_hex("abc").is_err());
        assert!(sha256_base64_from_hex(&hex.to_uppercase()).is_err());
    }

    #[test]
    fn config_round_trips_through_serde() {
        let cfg = aws_example_config();
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(
            json.contains("\"endpoint\":\"https://s3.amazonaws.com/\""),
            "{json}"
        );
        let back: S3Config = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
        let bad = json.replace("https://s3.amazonaws.com/", "not a url");
        let err = serde_json::from_str::<S3Config>(&bad).unwrap_err();
        assert!(err.to_string().contains("invalid endpoint URL"), "{err}");
    }

    #[test]
    fn debug_redacts_secret_key() {
        let cfg = aws_example_config();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains(&cfg.secret_key));
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"));
    }
}
