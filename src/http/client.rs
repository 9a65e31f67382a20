//! Who a request comes from. Behind a reverse proxy every request's peer is the proxy; the
//! client is then named by `X-Forwarded-For`, to which each proxy appends the address it got the
//! request from. Only what trusted proxies appended can be believed — anything further left was
//! sent by the client and may be forged — so the client is the rightmost address that is not a
//! trusted proxy (`[http] trusted_proxies`). Without that setting, or from a peer not in it, the
//! header is ignored.

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::config::TrustedProxy;

/// The client of a request whose connection came from `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|proxy| proxy.contains(address));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(address) if is_trusted(address) => continue,
            Some(address) => return address,
            // Garbage where a trusted proxy should have written an address: trust nothing left of it.
            None => return peer,
        }
    }
    // Every hop is a trusted proxy (or there is no header): the leftmost one is the client.
    hops.first().and_then(|hop| parse_hop(hop)).unwrap_or(peer)
}

/// An address as proxies write it: `203.0.113.5`, `2001:db8::1`, `[2001:db8::1]:443`, `203.0.113.5:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address);
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|socket| socket.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn proxies(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter()
            .map(|p| TrustedProxy(p.parse::<ipnet::IpNet>().unwrap_or_else(|_| p.parse::<IpAddr>().unwrap().into())))
            .collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let forged = headers(&["198.51.100.7"]);
        assert_eq!(client_ip(ip("203.0.113.5"), &forged, &[]), ip("203.0.113.5"), "no proxies configured");
        assert_eq!(client_ip(ip("203.0.113.5"), &forged, &proxies(&["127.0.0.1"])), ip("203.0.113.5"), "not a proxy");
        assert_eq!(client_ip(ip("127.0.0.1"), &forged, &proxies(&["127.0.0.1"])), ip("198.51.100.7"));
    }

    #[test]
    fn the_client_is_the_rightmost_address_that_is_not_a_trusted_proxy() {
        let trusted = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        // The client forged the first entry; the two proxies appended the real one and theirs.
        let chain = headers(&["1.2.3.4, 198.51.100.7", "10.1.2.3"]);
        assert_eq!(client_ip(ip("127.0.0.1"), &chain, &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("127.0.0.1"), &headers(&["[2001:db8::1]:443"]), &trusted), ip("2001:db8::1"));
        assert_eq!(client_ip(ip("127.0.0.1"), &headers(&["198.51.100.7:5000"]), &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("127.0.0.1"), &headers(&["garbage, 10.0.0.1"]), &trusted), ip("127.0.0.1"));
        assert_eq!(client_ip(ip("127.0.0.1"), &headers(&["10.0.0.9"]), &trusted), ip("10.0.0.9"), "all trusted");
        assert_eq!(client_ip(ip("127.0.0.1"), &HeaderMap::new(), &trusted), ip("127.0.0.1"), "no header");
    }
}
