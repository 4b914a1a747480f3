//! Call-back addresses (PROTOCOL.md §1.4, §2.1): the shapes a `Call-Back` may take and
//! the addresses a server must not be made to connect to.

use crate::principal::NodeKey;

/// Whether `ip` is loopback, unspecified, link-local, multicast or broadcast: an address
/// that names this host or nobody's server. An IP call-back on such an address is
/// accepted only from a client on that very address (PROTOCOL.md §8.5), and a server
/// should never deliver to one because another domain's DNS says so.
pub fn is_special_address(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unicast_link_local()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_special_address(IpAddr::V4(v4)))
        }
    }
}

/// The IP address of an `http://<ip>[:port][/]` call-back.
pub(crate) fn callback_ip(url: &str) -> Option<std::net::IpAddr> {
    let rest = url.get(7..)?;
    if !url.get(..7)?.eq_ignore_ascii_case("http://") {
        return None;
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return None;
    }
    parse_host_ip(strip_authority_port(authority))
}

pub(crate) fn strip_authority_port(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

pub(crate) fn parse_host_ip(host: &str) -> Option<std::net::IpAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse().ok()
}

pub(crate) fn host_is_ip_literal(host: &str) -> bool {
    parse_host_ip(host).is_some()
}

/// The three shapes a `Call-Back` may have (PROTOCOL.md §1.4, §2.1).
#[derive(Debug)]
pub(crate) enum CallBackForm {
    /// A client's local node by address: `http://<ip>[:port]`.
    Ip(std::net::IpAddr),
    /// A client's local node by host name: `http://<name>[:port]`.
    HostNode,
    /// A principal URL (logical or physical form).
    Principal(NodeKey),
}

impl CallBackForm {
    /// `None` for anything else (other paths, other schemes): an invalid call-back.
    pub(crate) fn of(url: &str) -> Option<CallBackForm> {
        if !is_http_url(url) {
            return None;
        }
        if let Some(key) = crate::principal::principal_key(url) {
            return Some(CallBackForm::Principal(key));
        }
        let rest = &url[7..];
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains('/') {
            return None;
        }
        Some(match callback_ip(url) {
            Some(ip) => CallBackForm::Ip(ip),
            None => CallBackForm::HostNode,
        })
    }
}

pub(crate) fn is_http_url(s: &str) -> bool {
    s.len() > 7
        && s.as_bytes()[..7].eq_ignore_ascii_case(b"http://")
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}
