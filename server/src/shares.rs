//! Share links' secrets and visitors: token derivation, unlock and view cookies, who counts as
//! a view.
//!
//! A link's token is derived, never stored: `base62(HMAC(key, id ‖ nonce))` (192 bits) under a
//! key derived from the object store's secret. The database keeps the token's SHA-256 (to find
//! the link) and the random nonce (so the owner can list the link again); a stolen database
//! gives neither the tokens nor the links.

use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::sharing::ShareRecord;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of HMAC output in a token (192 bits).
const TOKEN_BYTES: usize = 24;

/// Derives tokens and cookies; one per replica, keyed like the others from the shared secret.
#[derive(Clone)]
pub struct ShareKeys {
    key: [u8; 32],
}

impl std::fmt::Debug for ShareKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareKeys(..)")
    }
}

fn base62(bytes: &[u8]) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // Big-endian bytes to base 62, by repeated division (short inputs only).
    let mut number = bytes.to_vec();
    let mut out = Vec::new();
    while number.iter().any(|&b| b != 0) {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        out.push(DIGITS[remainder as usize]);
    }
    out.reverse();
    String::from_utf8(out).expect("base62 digits are ASCII")
}

impl ShareKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"imgcloud share links v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The token of link `id` with `nonce`.
    pub fn token(&self, id: &str, nonce: &str) -> String {
        base62(&self.mac(&[b"token", id.as_bytes(), nonce.as_bytes()])[..TOKEN_BYTES])
    }

    /// The token of `share`, when this server's secret still derives it.
    pub fn token_of(&self, share: &ShareRecord) -> Option<String> {
        let token = self.token(&share.id, &share.nonce);
        (crate::keys::token_hash(&token) == share.token_hash).then_some(token)
    }

    fn cookie_mac(&self, kind: &[u8], share: &ShareRecord, expires: i64) -> HmacSha256 {
        let hash = share.password_hash.as_deref().unwrap_or("");
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        for part in [kind, share.id.as_bytes(), hash.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.update(&expires.to_be_bytes());
        mac
    }

    fn cookie(&self, kind: &[u8], share: &ShareRecord, expires: i64) -> String {
        let tag = self
            .cookie_mac(kind, share, expires)
            .finalize()
            .into_bytes();
        format!("{expires}.{}", hex::encode(&tag[..16]))
    }

    /// Whether `value` is a cookie of `kind` for `share` that has not expired at `now`
    /// (checked in constant time).
    fn cookie_holds(&self, kind: &[u8], share: &ShareRecord, value: &str, now: i64) -> bool {
        let Some((expires, tag)) = value.split_once('.') else {
            return false;
        };
        let (Ok(expires), Ok(tag)) = (expires.parse::<i64>(), hex::decode(tag)) else {
            return false;
        };
        expires >= now
            && tag.len() == 16
            && self
                .cookie_mac(kind, share, expires)
                .verify_truncated_left(&tag)
                .is_ok()
    }

    /// Value of the cookie that unlocks a password-protected link until `expires` (Unix
    /// seconds): bound to the link and to its password hash (a new password locks every
    /// browser out again).
    pub fn unlock_cookie(&self, share: &ShareRecord, expires: i64) -> String {
        self.cookie(b"unlock", share, expires)
    }

    pub fn unlocks(&self, share: &ShareRecord, value: &str, now: i64) -> bool {
        self.cookie_holds(b"unlock", share, value, now)
    }

    /// Value of the cookie a counted view leaves until `expires`, so the page's images still
    /// load once the link's views run out.
    pub fn viewed_cookie(&self, share: &ShareRecord, expires: i64) -> String {
        self.cookie(b"viewed", share, expires)
    }

    pub fn viewed(&self, share: &ShareRecord, value: &str, now: i64) -> bool {
        self.cookie_holds(b"viewed", share, value, now)
    }

    /// An opaque, stable id of a visitor (address, /64 for IPv6, and user agent), keyed so the
    /// database never holds addresses.
    pub fn visitor(&self, ip: Option<IpAddr>, user_agent: &str) -> String {
        let address = match ip {
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Some(v4) => v4.to_string(),
            None => String::new(),
        };
        hex::encode(&self.mac(&[b"visitor", address.as_bytes(), user_agent.as_bytes()])[..16])
    }
}

/// Link-preview and crawler user agents: they get the page (for its OpenGraph tags) but are
/// never counted as views.
const BOTS: &[&str] = &[
    "slackbot",
    "slack-imgproxy",
    "discordbot",
    "twitterbot",
    "facebookexternalhit",
    "facebot",
    "whatsapp",
    "telegrambot",
    "linkedinbot",
    "skypeuripreview",
    "microsoftpreview",
    "mattermost",
    "redditbot",
    "pinterest",
    "embedly",
    "iframely",
    "vkshare",
    "applebot",
    "googlebot",
    "bingbot",
    "duckduckbot",
    "yandexbot",
    "baiduspider",
    "mastodon",
    "bluesky",
    "cardyb",
    "zulip",
    "preview",
    "crawler",
    "spider",
    "bot/",
];

/// Whether `user_agent` is a link-preview bot or a crawler (an empty one counts as a bot: a
/// browser always sends one).
pub fn is_bot(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    ua.trim().is_empty() || BOTS.iter().any(|bot| ua.contains(bot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_stable_and_keyed() {
        let keys = ShareKeys::new(b"secret");
        let token = keys.token("id1", "nonce1");
        assert!(token.len() >= 32, "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(token, keys.token("id1", "nonce1"));
        assert_ne!(token, keys.token("id1", "nonce2"));
        assert_ne!(token, ShareKeys::new(b"other").token("id1", "nonce1"));
        assert_eq!(base62(&[0, 61]), "z");
        assert_eq!(base62(&[0, 62]), "10");
    }

    #[test]
    fn cookies_are_bound_to_their_link_kind_password_and_time() {
        let keys = ShareKeys::new(b"secret");
        let share = ShareRecord {
            id: "share1".into(),
            owner_id: "u".into(),
            token_hash: String::new(),
            nonce: String::new(),
            album_id: None,
            image_ids: vec![],
            label: String::new(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            expires_at: None,
            password_hash: Some("$argon2id$one".into()),
            max_views: None,
            views: 0,
            visitors: 0,
            last_viewed_at: None,
            allow_download: true,
            with_metadata: false,
            revoked_at: None,
        };
        let cookie = keys.unlock_cookie(&share, 1000);
        assert!(keys.unlocks(&share, &cookie, 999));
        assert!(!keys.unlocks(&share, &cookie, 1001), "expired");
        assert!(!keys.viewed(&share, &cookie, 999), "another kind");
        let forged = cookie.replacen("1000", "9999", 1);
        assert!(
            !keys.unlocks(&share, &forged, 999),
            "a longer life is not ours to take"
        );
        let mut other = share.clone();
        other.password_hash = Some("$argon2id$two".into());
        assert!(
            !keys.unlocks(&other, &cookie, 999),
            "a new password locks it again"
        );
        other = share.clone();
        other.id = "share2".into();
        assert!(!keys.unlocks(&other, &cookie, 999), "another link");
        assert!(!keys.unlocks(&share, "garbage", 0));
    }

    #[test]
    fn preview_bots_are_told_apart_from_browsers() {
        for bot in [
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "Twitterbot/1.0",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "WhatsApp/2.23.20.0",
            "TelegramBot (like TwitterBot)",
            "",
        ] {
            assert!(is_bot(bot), "{bot:?}");
        }
        for browser in [
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "curl/8.5.0",
        ] {
            assert!(!is_bot(browser), "{browser:?}");
        }
    }

    #[test]
    fn visitors_are_keyed_per_address_and_agent() {
        let keys = ShareKeys::new(b"secret");
        let ip = Some("203.0.113.9".parse().unwrap());
        assert_eq!(keys.visitor(ip, "ua"), keys.visitor(ip, "ua"));
        assert_ne!(keys.visitor(ip, "ua"), keys.visitor(ip, "other"));
        let a = Some("2001:db8:1:2::1".parse().unwrap());
        let b = Some("2001:db8:1:2::99".parse().unwrap());
        assert_eq!(keys.visitor(a, "ua"), keys.visitor(b, "ua"));
        assert!(!keys.visitor(ip, "ua").contains("203"));
    }
}
