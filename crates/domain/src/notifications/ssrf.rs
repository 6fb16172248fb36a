//! Where notifications may go. A workspace administrator chooses the URL, so without care the
//! server would POST wherever they like, from inside its own network: the cloud's metadata
//! service, its own API, the database's host. The address is checked when the URL is given
//! and again after resolution at delivery, and the delivery connects only to the address
//! checked (a name that resolves elsewhere the second time cannot slip past).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the site allows besides public addresses.
#[derive(Debug, Clone, Default)]
pub struct Destinations {
    /// `--allow-private-notification-urls`: loopback, private ranges and this server itself
    /// (tests, single-tenant servers whose receivers are on the same network).
    pub allow_private: bool,
    /// The addresses this server listens on (refused like loopback).
    pub own: Vec<SocketAddr>,
}

/// Why a destination address is refused, or `None` when it is allowed.
pub fn refused(ip: IpAddr, site: &Destinations) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    // Never: the metadata services (169.254.169.254, fd00:ec2::254 is ULA below) live here.
    if is_link_local(ip) {
        return Some("a link-local address (where cloud metadata services answer)");
    }
    if ip.is_unspecified() || ip.is_multicast() || is_broadcast(ip) {
        return Some("an unspecified, multicast or broadcast address");
    }
    if site.allow_private {
        return None;
    }
    if ip.is_loopback() {
        return Some("a loopback address (this server's own machine)");
    }
    // Any port: the server's other listeners (metrics, a sidecar) are no one's receivers.
    if site.own.iter().any(|own| own.ip() == ip) {
        return Some("this server's own address");
    }
    if is_private(ip) {
        return Some("a private network address");
    }
    None
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn is_broadcast(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4 == Ipv4Addr::BROADCAST)
}

/// RFC 1918, carrier-grade NAT, and IPv6 unique local addresses.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || (a == 100 && (64..128).contains(&b)) || a == 0
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00 || v6 == Ipv6Addr::LOCALHOST,
    }
}

/// The host and port a notification URL names (`None`: not an http(s) URL with a host).
pub fn host_and_port(url: &str) -> Option<(String, u16)> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = match parsed.host()? {
        url::Host::Domain(d) => d.to_string(),
        url::Host::Ipv4(v4) => v4.to_string(),
        url::Host::Ipv6(v6) => v6.to_string(),
    };
    Some((host, parsed.port_or_known_default()?))
}

/// Resolves `host` (an address stays itself); an empty list when it does not resolve.
pub async fn resolve(host: &str, port: u16) -> Vec<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![SocketAddr::new(ip, port)];
    }
    let lookup = tokio::net::lookup_host((host, port));
    match tokio::time::timeout(std::time::Duration::from_secs(5), lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ip: &str, allow_private: bool) -> Option<&'static str> {
        let site = Destinations {
            allow_private,
            own: vec!["203.0.113.7:8443".parse().unwrap()],
        };
        refused(ip.parse().unwrap(), &site)
    }

    #[test]
    fn metadata_and_unspecified_addresses_are_always_refused() {
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "0.0.0.0",
            "::",
            "::ffff:169.254.169.254",
        ] {
            assert!(check(ip, false).is_some(), "{ip}");
            assert!(check(ip, true).is_some(), "{ip}");
        }
    }

    #[test]
    fn loopback_private_and_self_only_with_the_setting() {
        for ip in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "203.0.113.7",
        ] {
            assert!(check(ip, false).is_some(), "{ip}");
            assert!(check(ip, true).is_none(), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        assert!(check("93.184.215.14", false).is_none());
        assert!(check("2606:2800:21f:cb07:6820:80da:af6b:8b2c", false).is_none());
    }

    #[test]
    fn urls_name_their_host_and_port() {
        assert_eq!(
            host_and_port("https://hooks.example.com/x"),
            Some(("hooks.example.com".into(), 443))
        );
        assert_eq!(
            host_and_port("http://[::1]:8080/"),
            Some(("::1".into(), 8080))
        );
        assert_eq!(host_and_port("ftp://example.com/"), None);
        assert_eq!(host_and_port("not a url"), None);
    }
}
