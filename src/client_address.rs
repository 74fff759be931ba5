//! The client address a request came from, for the limits on failed
//! authentication.
//!
//! It is the connection's peer, unless that peer is one of
//! `EM_METRICS_TRUSTED_PROXIES`: then it is the address the proxies say, the
//! rightmost address of `X-Forwarded-For` that is not itself a trusted proxy.
//! Only the trusted proxies' word is taken: a client cannot pick its own
//! address by sending the header.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};

/// A network in CIDR form (`10.0.0.0/8`, `::1/128`), or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let base: IpAddr = address.parse().map_err(|_| format!("`{text}` is not an address or a CIDR network"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("`{text}`: bad prefix length"))?
            }
        };
        Ok(Self { base, prefix })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.base, address) {
            (IpAddr::V4(base), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(base) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(base) & mask == u128::from(a) & mask
            }
            // An IPv4 client seen through an IPv6 socket.
            (IpAddr::V4(_), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|a| self.contains(IpAddr::V4(a))),
            _ => false,
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// A comma-separated list of networks; empty trusts none.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(Network::parse).collect::<Result<_, _>>().map(Self)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(address))
    }

    /// The client of a request whose connection came from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in forwarded.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(address) => {
                    client = address;
                    if !self.trusts(address) {
                        break;
                    }
                }
                // Garbage from beyond the trusted proxies: stop at the last good one.
                Err(_) => break,
            }
        }
        client
    }
}

/// The connection's peer address as the server recorded it.
pub fn peer<B>(request: &Request<B>) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| addr.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(t: &str) -> IpAddr {
        t.parse().expect("ip")
    }

    #[test]
    fn only_a_trusted_proxy_may_name_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, ::1").expect("parse");
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9, 198.51.100.7, 10.1.2.3"));
        assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("198.51.100.7"), "the rightmost untrusted hop");
        assert_eq!(proxies.client(ip("192.0.2.1"), &h), ip("192.0.2.1"), "an untrusted peer's header is ignored");
        assert_eq!(proxies.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy").is_err());
        assert!(Network::parse("0.0.0.0/0").expect("any").contains(ip("8.8.8.8")));
        assert!(Network::parse("10.0.0.0/8").expect("net").contains(ip("::ffff:10.9.9.9")));
    }
}
