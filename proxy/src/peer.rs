//! Who sent a request: whether its TCP peer is a trusted proxy, and the
//! client's address behind any chain of trusted proxies.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// True when `ip` is in one of `nets`.
pub fn is_trusted(ip: IpAddr, nets: &[IpNet]) -> bool {
    let ip = canonical(ip);
    nets.iter().any(|net| net.contains(&ip))
}

/// The client's address. A peer that is not a trusted proxy is the client.
/// Behind trusted proxies, `X-Forwarded-For` is read from the right (the hop
/// the nearest proxy appended), past every trusted proxy, to the first
/// address that is not one: the hops left of it are whatever the client
/// claimed. A hop that does not parse ends the walk at the last one believed.
pub fn client_address<'a>(peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>, nets: &[IpNet]) -> IpAddr {
    let mut client = canonical(peer);
    if !is_trusted(client, nets) {
        return client;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop.trim()) else { return client };
        client = ip;
        if !is_trusted(ip, nets) {
            break;
        }
    }
    client
}

/// The key the `/connect` limiter counts by: an IPv6 client by its /64
/// (one host usually owns a whole /64), an IPv4 one by its address.
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// `1.2.3.4`, `2001:db8::1`, and the forms with a port some proxies write
/// (`1.2.3.4:5678`, `[2001:db8::1]:5678`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip())).ok().map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(client_address(ip("203.0.113.7"), ["198.51.100.1"].into_iter(), &trusted), ip("203.0.113.7"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = nets(&["127.0.0.0/8", "10.0.0.0/8"]);
        // The client forged the first hop; the gateway appended the real one.
        let xff = ["1.1.1.1, 203.0.113.7", "10.0.0.2"];
        assert_eq!(client_address(ip("127.0.0.1"), xff.into_iter(), &trusted), ip("203.0.113.7"));
        assert_eq!(client_address(ip("127.0.0.1"), ["[2001:db8::5]:4711"].into_iter(), &trusted), ip("2001:db8::5"));
        // Only trusted hops: the left-most one is the best there is.
        assert_eq!(client_address(ip("127.0.0.1"), ["10.0.0.9, 10.0.0.2"].into_iter(), &trusted), ip("10.0.0.9"));
        // Garbage ends the walk at the last believed hop.
        assert_eq!(client_address(ip("127.0.0.1"), ["1.1.1.1, junk, 10.0.0.2"].into_iter(), &trusted), ip("10.0.0.2"));
        assert_eq!(client_address(ip("::ffff:127.0.0.1"), std::iter::empty(), &trusted), ip("127.0.0.1"));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        assert_eq!(rate_key(ip("2001:db8:1:2:aaaa::1")), rate_key(ip("2001:db8:1:2:bbbb::2")));
        assert_ne!(rate_key(ip("2001:db8:1:2::1")), rate_key(ip("2001:db8:1:3::1")));
        assert_eq!(rate_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}
