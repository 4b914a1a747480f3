//! Local node URLs: `http://<ip>:<port>`, a client's call-back listener (PROTOCOL.md §1.2).

use std::fmt;
use std::str::FromStr;

use super::UrlError;
use super::node::NodeUrl;
use super::syntax::{AuthorityRef, parse_authority};

/// A client's local node (its callback listener): `http://<ip>:<port>`, with or without a
/// trailing `/`; NOTIFYs to it use request-URI `/` (PROTOCOL.md §1.2).
///
/// The host is usually an IP literal but any host name is accepted; the port defaults to
/// 80 when absent. [`Display`](fmt::Display) always writes the port and no trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalNodeUrl {
    host: String,
    port: u16,
}

impl LocalNodeUrl {
    /// Builds a local node URL from a host (without port) and a port.
    pub fn new(host: &str, port: u16) -> Result<Self, UrlError> {
        if port == 0 {
            return Err(UrlError::InvalidPort("0".to_owned()));
        }
        let (host, p) = parse_authority(host)?;
        if p != 80 || host.contains(':') && !host.starts_with('[') {
            return Err(UrlError::InvalidHost(host));
        }
        Ok(LocalNodeUrl { host, port })
    }

    /// The lower-cased host (without port; IPv6 literals keep their brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, as a `Host` header for a NOTIFY to this node.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub(super) fn from_authority(auth: AuthorityRef<'_>) -> LocalNodeUrl {
        LocalNodeUrl {
            host: auth.host.to_ascii_lowercase(),
            port: auth.port,
        }
    }
}

impl fmt::Display for LocalNodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}:{}", self.host, self.port)
    }
}

impl FromStr for LocalNodeUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        match NodeUrl::parse(s)? {
            NodeUrl::LocalNode(l) => Ok(l),
            _ => Err(UrlError::NotLocalNode(s.to_owned())),
        }
    }
}
