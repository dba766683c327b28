//! Short-lived signed URLs for what has no public link: the owner's view of a private (or
//! trashed) image's derivatives, `/v/{id}/{file}?exp=…&sig=…`.
//!
//! The signature is an HMAC-SHA-256 (cut to 128 bits) of the path and the expiry under a key
//! derived from the object store's secret, which every replica has: any replica checks what any
//! other signed, and nobody without the secret can make one. No database row, no bearer token:
//! the URL works in an `<img src>` until it expires.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks URLs.
#[derive(Clone)]
pub struct UrlSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(..)")
    }
}

impl UrlSigner {
    /// A signer keyed from `secret` (the replicas' shared S3 secret key).
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"imgcloud signed urls v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, path: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(&expires.to_be_bytes());
        mac.update(path.as_bytes());
        mac
    }

    /// `?exp=…&sig=…` for `path`, valid until `expires`.
    pub fn query(&self, path: &str, expires: OffsetDateTime) -> String {
        let expires = expires.unix_timestamp();
        let tag = self.mac(path, expires).finalize().into_bytes();
        format!("exp={expires}&sig={}", hex::encode(&tag[..16]))
    }

    /// Whether `sig` signs `path` until `expires` and that time has not passed at `now`.
    pub fn verify(&self, path: &str, expires: i64, sig: &str, now: OffsetDateTime) -> bool {
        if expires < now.unix_timestamp() {
            return false;
        }
        let Ok(tag) = hex::decode(sig) else {
            return false;
        };
        tag.len() == 16 && self.mac(path, expires).verify_truncated_left(&tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> (i64, String) {
        let (exp, sig) = query.split_once('&').unwrap();
        (
            exp.strip_prefix("exp=").unwrap().parse().unwrap(),
            sig.strip_prefix("sig=").unwrap().to_string(),
        )
    }

    #[test]
    fn signatures_bind_path_expiry_and_key() {
        let now = OffsetDateTime::now_utc();
        let signer = UrlSigner::new(b"secret");
        let (exp, sig) = parse(&signer.query("/v/abc/320.jpg", now + time::Duration::hours(1)));
        assert!(signer.verify("/v/abc/320.jpg", exp, &sig, now));
        assert!(
            !signer.verify("/v/abd/320.jpg", exp, &sig, now),
            "other path"
        );
        assert!(
            !signer.verify("/v/abc/320.jpg", exp + 1, &sig, now),
            "other expiry"
        );
        assert!(
            !signer.verify("/v/abc/320.jpg", exp, &sig, now + time::Duration::hours(2)),
            "expired"
        );
        assert!(!UrlSigner::new(b"other").verify("/v/abc/320.jpg", exp, &sig, now));
        assert!(!signer.verify("/v/abc/320.jpg", exp, "zz", now));
        assert!(!signer.verify("/v/abc/320.jpg", exp, &sig[..30], now));
    }
}
