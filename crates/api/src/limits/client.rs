//! Who the client is: the peer address, or behind trusted proxies the right-most address of
//! `X-Forwarded-For` that is not one of them. Addresses are counted by what one client
//! controls: an IPv4 address, or an IPv6 /64 (one host usually has a whole /64).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use axum::http::HeaderMap;

/// An address range, `10.0.0.0/8` or `fd00::/8`; a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => mask(
                u32::from(network).into(),
                u32::from(address).into(),
                self.prefix,
                32,
            ),
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                mask(u128::from(network), u128::from(address), self.prefix, 128)
            }
            _ => false,
        }
    }
}

/// Whether `a` and `b` agree on their first `prefix` of `bits` bits.
fn mask(a: u128, b: u128, prefix: u8, bits: u8) -> bool {
    let ignored = u32::from(bits - prefix);
    a.checked_shr(ignored).unwrap_or(0) == b.checked_shr(ignored).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("{address:?} is not an IP address"))?;
        let network = network.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{prefix:?} is not a prefix length up to {bits}"))?,
            None => bits,
        };
        Ok(Cidr { network, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The client's address, as the rate limiter and the sign-in throttle count it; handlers
/// read it from the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// What one client controls: the IPv4 address, or the IPv6 /64 it is in.
    pub fn key(&self) -> String {
        match self.0.to_canonical() {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let network = Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1));
                format!("{network}/64")
            }
        }
    }
}

/// The client of a request from `peer`: the peer itself unless it is a trusted proxy; then
/// the right-most `X-Forwarded-For` address that is not a trusted proxy (each proxy appends
/// the address it got the request from, so the addresses left of that one are whatever the
/// client wrote). Without a peer (in tests) the unspecified address.
pub fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let Some(peer) = peer.map(|p| p.to_canonical()) else {
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    let is_trusted = |address: IpAddr| trusted.iter().any(|cidr| cidr.contains(address));
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
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            // An address a trusted proxy vouches for: further left only if it is a proxy too.
            Some(address) => {
                client = address;
                if !is_trusted(address) {
                    break;
                }
            }
            // Garbage: nothing left of it can be believed.
            None => break,
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[::1]:5678`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(address) = hop.parse::<IpAddr>() {
        return Some(address.to_canonical());
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn ranges_parse_and_contain_their_addresses() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped addresses");
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")) && !all.contains(ip("2001:db8::1")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert_eq!(net.to_string(), "10.1.0.0/16");
        for bad in ["10.0.0.0/33", "nonsense/8", "::/129", "10.0.0.0/x", ""] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            client_address(Some(ip("198.51.100.1")), &headers, &[]),
            ip("198.51.100.1")
        );
        let trusted = cidrs(&["10.0.0.0/8"]);
        assert_eq!(
            client_address(Some(ip("198.51.100.1")), &headers, &trusted),
            ip("198.51.100.1"),
            "a peer outside the trusted proxies is the client, whatever it forwards"
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &headers, &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = cidrs(&["10.0.0.0/8", "127.0.0.1"]);
        let peer = Some(ip("127.0.0.1"));
        // The client wrote a fake first hop; the proxies appended the real one and themselves.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "10.0.0.5"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("203.0.113.9"));
        // Ports and IPv4-mapped forms are understood.
        let headers = forwarded(&["203.0.113.9:4711, [::ffff:10.0.0.5]:80"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("203.0.113.9"));
        // All hops trusted: the left-most is as far as the chain goes.
        let headers = forwarded(&["10.0.0.7, 10.0.0.5"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("10.0.0.7"));
        // Garbage stops the walk at the last believable hop.
        let headers = forwarded(&["203.0.113.9, garbage, 10.0.0.5"]);
        assert_eq!(client_address(peer, &headers, &trusted), ip("10.0.0.5"));
        // No header: the proxy itself.
        assert_eq!(
            client_address(peer, &HeaderMap::new(), &trusted),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(
            ClientAddr(ip("2001:db8:1:2:aaaa::1")).key(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(ClientAddr(ip("::ffff:192.0.2.1")).key(), "192.0.2.1");
        assert_eq!(ClientAddr(ip("192.0.2.1")).key(), "192.0.2.1");
    }
}
