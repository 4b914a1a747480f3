//! Call-back addresses (PROTOCOL.md §1.4, §2.1): the shapes a `Call-Back` may take and
//! the addresses a server must not be made to connect to.

use std::net::IpAddr;

use rvp_proto::header::CallBack;
use rvp_proto::url::{NodeUrl, NodeUrlRef};

use crate::principal::NodeKey;

/// Whether `ip` is loopback, unspecified, link-local, multicast or broadcast: an address
/// that names this host or nobody's server. An IP call-back on such an address is
/// accepted only from a client on that very address (PROTOCOL.md §8.5), and a server
/// should never deliver to one because another domain's DNS says so.
pub fn is_special_address(ip: IpAddr) -> bool {
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

/// The IP address of a local node named by address (`http://<ip>[:port]`), read with
/// rvp-proto's parser from a URL still in text (a stored subscriber, which for an
/// anonymous subscription is its call-back's text); `None` for any other URL.
pub(crate) fn local_node_ip_of(url: &str) -> Option<IpAddr> {
    match NodeUrlRef::parse(url).ok()? {
        NodeUrlRef::LocalNode(a) => ip_literal(a.host()),
        _ => None,
    }
}

/// `host` as an IP address, IPv6 literals with or without their brackets.
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()
}

/// The three shapes a `Call-Back` may have (PROTOCOL.md §1.4, §2.1).
#[derive(Debug)]
pub(crate) enum CallBackForm {
    /// A client's local node by address: `http://<ip>[:port]`.
    Ip(IpAddr),
    /// A client's local node by host name: `http://<name>[:port]`.
    HostNode,
    /// A principal URL (logical or physical form).
    Principal(NodeKey),
}

impl CallBackForm {
    /// `None` for a URL that is neither a local node nor a principal (another path): not
    /// a call-back.
    pub(crate) fn of(callback: &CallBack) -> Option<CallBackForm> {
        match callback.url() {
            NodeUrl::LocalNode(l) => Some(match ip_literal(l.host()) {
                Some(ip) => CallBackForm::Ip(ip),
                None => CallBackForm::HostNode,
            }),
            NodeUrl::Logical(l) => NodeKey::new(l.host(), l.alias()).map(CallBackForm::Principal),
            NodeUrl::Physical(p) => {
                NodeKey::new(p.logical().host(), p.logical().alias()).map(CallBackForm::Principal)
            }
            _ => None,
        }
    }
}
