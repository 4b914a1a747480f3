//! Where a NOTIFY goes: socket address, `Host` header and request-target.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rvp_proto::header::CallBack;
use rvp_proto::url::{LocalNodeUrl, NodeUrl};

/// Why a callback cannot be turned into a [`Destination`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DestinationError {
    /// The callback is a logical, physical or other node URL: it must first be mapped to a
    /// principal's login callbacks or resolved to a server (rvp-resolve).
    #[error("callback {0:?} is not a local node (http://ip:port); resolve it first")]
    NotLocalNode(String),
    /// The local node's host is a name, not an IP literal (names need resolving first).
    #[error("callback host {0:?} is not an IP address")]
    NotIpLiteral(String),
    /// The `Host` value or request-target would break the request line or a header.
    #[error("NOTIFY {field} {value:?} is empty or contains a space or control character")]
    InvalidField {
        /// `host` or `target`.
        field: &'static str,
        /// The value.
        value: String,
    },
}

/// One NOTIFY destination: the unit that gets its own queue and worker.
///
/// For a client's local node `http://ip:port` the request-target is `/` and `Host` is
/// `ip:port` (PROTOCOL.md §2.6, interop README item 5). [`Destination::new`] builds any other
/// destination (a node on another server, once resolved).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    addr: SocketAddr,
    host: Arc<str>,
    target: Arc<str>,
    /// Reached over TLS, the certificate checked against this name.
    tls: Option<Arc<str>>,
}

fn valid_field(value: &str) -> bool {
    !value.is_empty() && !value.bytes().any(|b| b <= 0x20 || b == 0x7f)
}

impl Destination {
    /// A destination from its parts. `host` is the `Host` header value, `target` the
    /// request-target (`/` or a node path).
    pub fn new(
        addr: SocketAddr,
        host: &str,
        target: &str,
    ) -> Result<Destination, DestinationError> {
        for (field, value) in [("host", host), ("target", target)] {
            if !valid_field(value) {
                return Err(DestinationError::InvalidField {
                    field,
                    value: value.to_owned(),
                });
            }
        }
        Ok(Destination {
            addr,
            host: host.into(),
            target: target.into(),
            tls: None,
        })
    }

    /// The same destination reached over TLS, the server's certificate checked against
    /// `server_name` (the call-back's IM domain, PROTOCOL.md §7.6). The name is part of the
    /// destination: NOTIFYs to one address under two names never share a connection.
    ///
    /// ```
    /// use rvp_server::delivery::Destination;
    ///
    /// let plain = Destination::new("192.0.2.7:443".parse()?, "acme.test", "/instmsg/aliases/x")?;
    /// let tls = plain.clone().with_tls("ACME.test")?;
    /// assert_eq!(tls.tls_name(), Some("acme.test"));
    /// assert_ne!(plain, tls);
    /// assert_eq!(tls.to_string(), "https://acme.test/instmsg/aliases/x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_tls(mut self, server_name: &str) -> Result<Destination, DestinationError> {
        let name = server_name
            .strip_suffix('.')
            .unwrap_or(server_name)
            .to_ascii_lowercase();
        let is_dns_name = !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && name.parse::<IpAddr>().is_err();
        if !is_dns_name {
            return Err(DestinationError::InvalidField {
                field: "tls name",
                value: server_name.to_owned(),
            });
        }
        self.tls = Some(name.into());
        Ok(self)
    }

    /// The name the server's certificate is checked against, when reached over TLS.
    pub fn tls_name(&self) -> Option<&str> {
        self.tls.as_deref()
    }

    /// The destination of a client's local node: its IP and port, `Host: ip:port`,
    /// request-target `/`.
    pub fn local_node(url: &LocalNodeUrl) -> Result<Destination, DestinationError> {
        let host = url.host();
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip: IpAddr = bare
            .parse()
            .map_err(|_| DestinationError::NotIpLiteral(host.to_owned()))?;
        Destination::new(SocketAddr::new(ip, url.port()), &url.authority(), "/")
    }

    /// The destination of a `Call-Back` that is a local node (`http://ip:port`): the
    /// call-back is typed already (parsed once, at SUBSCRIBE), so this only reads it.
    ///
    /// ```
    /// use rvp_proto::header::CallBack;
    /// use rvp_server::delivery::Destination;
    ///
    /// let cb: CallBack = "http://127.0.0.1:43663/".parse()?;
    /// let d = Destination::from_callback(&cb)?;
    /// assert_eq!(d.host(), "127.0.0.1:43663");
    /// assert_eq!(d.target(), "/");
    /// let principal: CallBack = "http://localhost/instmsg/aliases/bob".parse()?;
    /// assert!(Destination::from_callback(&principal).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_callback(callback: &CallBack) -> Result<Destination, DestinationError> {
        match callback.url() {
            NodeUrl::LocalNode(l) => Destination::local_node(l),
            _ => Err(DestinationError::NotLocalNode(callback.as_str().to_owned())),
        }
    }

    /// The socket address connected to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `Host` header value.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The request-target.
    pub fn target(&self) -> &str {
        &self.target
    }
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Destination({} {} via {}",
            self.host, self.target, self.addr
        )?;
        match &self.tls {
            Some(name) => write!(f, ", TLS as {name})"),
            None => f.write_str(")"),
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        if &*self.target == "/" {
            write!(f, "{scheme}://{}", self.host)
        } else {
            write!(f, "{scheme}://{}{}", self.host, self.target)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn local_nodes() {
        let d = Destination::from_callback(&"http://127.0.0.1:1234".parse().unwrap()).unwrap();
        assert_eq!(d.addr(), "127.0.0.1:1234".parse().unwrap());
        assert_eq!(d.to_string(), "http://127.0.0.1:1234");
        let d = Destination::from_callback(&"http://[::1]:99/".parse().unwrap()).unwrap();
        assert_eq!(d.addr(), "[::1]:99".parse().unwrap());
        assert_eq!(d.host(), "[::1]:99");
        let d = Destination::from_callback(&"http://10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(d.host(), "10.0.0.1:80");
        assert_eq!(
            Destination::from_callback(&"http://client.example:1234".parse().unwrap()),
            Err(DestinationError::NotIpLiteral("client.example".into()))
        );
        assert!(matches!(
            Destination::from_callback(&"http://localhost/instmsg/aliases/bob".parse().unwrap()),
            Err(DestinationError::NotLocalNode(_))
        ));
        let addr = "127.0.0.1:80".parse().unwrap();
        assert!(Destination::new(addr, "h", "/a b").is_err());
        assert!(Destination::new(addr, "h\r\nX: y", "/").is_err());
        let d = Destination::new(addr, "im.example.com", "/instmsg/aliases/bob").unwrap();
        assert_eq!(d.to_string(), "http://im.example.com/instmsg/aliases/bob");
        assert_eq!(d.tls_name(), None);
        // TLS names are DNS names (a certificate is checked against them).
        let t = d.clone().with_tls("Example.COM.").unwrap();
        assert_eq!(t.tls_name(), Some("example.com"));
        assert!(format!("{t:?}").contains("TLS as example.com"));
        for bad in [
            "",
            "192.0.2.1",
            "a b",
            "a..b",
            "-",
            "x_y.test",
            &"a".repeat(64),
        ] {
            assert!(d.clone().with_tls(bad).is_err(), "{bad:?}");
        }
    }
}
