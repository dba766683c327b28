//! Login throttling, shared by every replica through the database.
//!
//! Each attempt is counted *before* its password is checked, under three keys:
//! - the user name from the client's address: `per_name_and_address` tries per [`WINDOW`];
//! - the client's address across names: `per_address` tries (password spraying);
//! - everyone: past `global` failures (a spray from many addresses), an address that already
//!   failed in the window gets no more tries, while one that has not still does.
//!
//! Counting first makes the limits hold under concurrency and across replicas: the n-th
//! attempt to be recorded sees a count of at least n, so N parallel guesses get no more tries
//! than N sequential ones. A right password takes its own attempt back (and clears the pair's
//! failures); a wrong one stays counted. The keys carry the client's address, so someone
//! else's failures never block the right password from another address. IPv6 clients are
//! counted per /64, the block one subscriber usually holds.

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::config::LoginLimits;
use crate::store::{Store, StoreResult, now};

/// The throttling window.
pub const WINDOW: time::Duration = time::Duration::minutes(15);

/// An attempt counted under its keys, to be taken back if the password is right.
#[derive(Debug)]
pub struct Attempt {
    pair: String,
    address: String,
    at: OffsetDateTime,
}

/// Whether an attempt may check its password.
#[derive(Debug)]
pub enum Verdict {
    Go(Attempt),
    /// Too many tries; the message says whose.
    Throttled(&'static str),
}

const GLOBAL_KEY: &str = "global";

fn address_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => format!("ip:{v4}"),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "ip:unknown".to_string(),
    }
}

/// Counts an attempt of `username` from `ip`, then decides.
pub async fn begin(
    store: &dyn Store,
    limits: &LoginLimits,
    username: &str,
    ip: Option<IpAddr>,
) -> StoreResult<Verdict> {
    let address = address_key(ip);
    let pair = format!("user:{username}@{}", address.trim_start_matches("ip:"));
    // Microseconds: what both databases keep, so the attempt can be found again.
    let t = now();
    let at = t
        .replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .unwrap_or(t);
    store.record_login_failure(&pair, at).await?;
    store.record_login_failure(&address, at).await?;
    let since = at - WINDOW;
    let attempt = Attempt { pair, address, at };
    if store.login_failures_since(&attempt.pair, since).await? > limits.per_name_and_address {
        return Ok(Verdict::Throttled(
            "too many failed logins for this user from your address",
        ));
    }
    let from_address = store.login_failures_since(&attempt.address, since).await?;
    if from_address > limits.per_address {
        return Ok(Verdict::Throttled(
            "too many failed logins from your address",
        ));
    }
    // This attempt is one of `from_address`: more means an earlier failure.
    if from_address > 1 && store.login_failures_since(GLOBAL_KEY, since).await? >= limits.global {
        return Ok(Verdict::Throttled(
            "too many failed logins everywhere; addresses that failed must wait",
        ));
    }
    Ok(Verdict::Go(attempt))
}

/// The password was wrong: the attempt stays counted, and counts towards the global budget.
pub async fn failed(store: &dyn Store, attempt: Attempt) -> StoreResult<()> {
    store.record_login_failure(GLOBAL_KEY, attempt.at).await
}

/// The password was right: the attempt is taken back and the pair's failures forgotten.
pub async fn succeeded(store: &dyn Store, attempt: Attempt) -> StoreResult<()> {
    store.clear_login_failures(&attempt.pair).await?;
    store
        .forget_login_failure(&attempt.address, attempt.at)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_keyed_per_host_and_per_ipv6_64() {
        assert_eq!(
            address_key(Some("203.0.113.7".parse().unwrap())),
            "ip:203.0.113.7"
        );
        assert_eq!(
            address_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap())),
            address_key(Some("2001:db8:1:2:bbbb::9".parse().unwrap()))
        );
        assert_ne!(
            address_key(Some("2001:db8:1:2::1".parse().unwrap())),
            address_key(Some("2001:db8:1:3::1".parse().unwrap()))
        );
        assert_eq!(address_key(None), "ip:unknown");
    }
}
