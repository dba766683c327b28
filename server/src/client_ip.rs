//! The address of the client behind a request.
//!
//! It is the TCP peer, unless the peer is one of the configured `trusted_proxies` (the load
//! balancer). Then it is the right-most address of `X-Forwarded-For` that is not a trusted proxy
//! itself: the one the outermost trusted proxy saw. Addresses further left were written by the
//! client and prove nothing. The load balancer must append to the header, as nginx's
//! `$proxy_add_x_forwarded_for` does.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};

/// The client's address, or `None` when the connection's peer is unknown (a request made
/// in-process, as in tests).
pub fn of_request<B>(request: &Request<B>, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
    Some(resolve(peer, request.headers(), trusted))
}

/// See the module docs.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut nearest = peer;
    // Several headers form one list, in order; walk it from the right.
    let values = headers.get_all("x-forwarded-for").iter().rev();
    for value in values.filter_map(|v| v.to_str().ok()) {
        for part in value.rsplit(',') {
            let Ok(ip) = part.trim().parse::<IpAddr>() else {
                // Not an address: stop at the last proxy that wrote one.
                return nearest;
            };
            let ip = ip.to_canonical();
            if !trusted.contains(&ip) {
                return ip;
            }
            nearest = ip;
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", v.parse().unwrap());
        }
        map
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let peer: IpAddr = "203.0.113.7".parse().unwrap();
        let lb: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(resolve(peer, &headers(&["198.51.100.1"]), &[lb]), peer);
        assert_eq!(resolve(peer, &headers(&[]), &[]), peer);
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_address_counts() {
        let lb: IpAddr = "10.0.0.2".parse().unwrap();
        let inner: IpAddr = "10.0.0.3".parse().unwrap();
        // the client forged "1.1.1.1"; the load balancer appended what it saw
        let h = headers(&["1.1.1.1, 203.0.113.7"]);
        assert_eq!(
            resolve(lb, &h, &[lb]),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        // two proxies in a row, and the list split over two headers
        let h = headers(&["1.1.1.1, 203.0.113.7", "10.0.0.3"]);
        assert_eq!(
            resolve(lb, &h, &[lb, inner]),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        // no header, or garbage: the nearest proxy
        assert_eq!(resolve(lb, &headers(&[]), &[lb]), lb);
        assert_eq!(resolve(lb, &headers(&["not-an-ip"]), &[lb]), lb);
        // IPv4-mapped IPv6 is the IPv4 address
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        assert_eq!(
            resolve(mapped, &headers(&["203.0.113.9"]), &[lb]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }
}
