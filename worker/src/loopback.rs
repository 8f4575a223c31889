//! Whether a request comes from this machine. Local development's features (`LOCAL_DEV`: the
//! `/__dev/` routes, the dev user, `X-Dev-User`, the GitHub stand-in) are honoured only then,
//! whatever the vars say ([`crate::config::Config::for_request`]).
//!
//! Both of these must hold:
//! - The request's URL names a loopback host (`localhost`, `127.0.0.0/8`, `::1`). On Cloudflare
//!   the URL is the hostname the request was routed by, which is never a loopback name.
//! - `CF-Connecting-IP`, when present, is a loopback address. On Cloudflare the edge sets it to
//!   the client's address and replaces whatever the client sent, so a request from the
//!   internet never carries a loopback one. Locally `wrangler dev` sets it from the socket when
//!   the client sent none, and some set-ups leave it out, so its absence alone is not a refusal.
//!
//! What a client can forge: locally, both (the `Host` header and `CF-Connecting-IP`), which is
//! why local development binds to `127.0.0.1` (`scripts/dev.sh`), so only this machine's
//! programs reach it at all; never combine `LOCAL_DEV=1` with `wrangler dev --ip 0.0.0.0`.
//! On Cloudflare, neither: the deployed Worker never sees a request it would take as local.

use std::net::IpAddr;

/// The header Cloudflare's edge (and `wrangler dev`) sets to the client's address.
pub(crate) const CONNECTING_IP_HEADER: &str = "cf-connecting-ip";

/// Whether a request to `url`, with `connecting_ip` as its `CF-Connecting-IP` header, comes
/// from this machine.
pub(crate) fn is_loopback_request(url: &url::Url, connecting_ip: Option<&str>) -> bool {
    let host_is_loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.to_canonical().is_loopback(),
        None => false,
    };
    host_is_loopback && connecting_ip.is_none_or(is_loopback_address)
}

/// Whether `text` is a loopback IP address (an IPv4-mapped IPv6 one included).
fn is_loopback_address(text: &str) -> bool {
    text.trim()
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> url::Url {
        url::Url::parse(text).unwrap()
    }

    #[test]
    fn loopback_hosts_without_an_address_or_with_a_loopback_one_are_local() {
        for base in [
            "http://127.0.0.1:8787/mcp",
            "http://127.1.2.3/mcp",
            "http://localhost:8787/mcp",
            "http://LOCALHOST/mcp",
            "http://[::1]:8787/mcp",
        ] {
            assert!(is_loopback_request(&url(base), None), "{base}");
            for address in ["127.0.0.1", "::1", "::ffff:127.0.0.1", " 127.0.0.2 "] {
                assert!(
                    is_loopback_request(&url(base), Some(address)),
                    "{base} {address}"
                );
            }
        }
    }

    #[test]
    fn another_address_or_host_is_not_local() {
        let local = url("http://127.0.0.1:8787/mcp");
        for address in [
            "203.0.113.7",
            "2001:db8::1",
            "10.0.0.1",
            "",
            "garbage",
            "127.0.0.1, 1.2.3.4",
        ] {
            assert!(!is_loopback_request(&local, Some(address)), "{address:?}");
        }
        for host in [
            "https://second-brain-mcp-dev.example.workers.dev/mcp",
            "http://192.168.1.20:8787/mcp",
            "http://localhost.example.com/mcp",
            "http://127.0.0.1.nip.io/mcp",
        ] {
            assert!(!is_loopback_request(&url(host), None), "{host}");
            assert!(
                !is_loopback_request(&url(host), Some("127.0.0.1")),
                "{host}"
            );
        }
    }
}
