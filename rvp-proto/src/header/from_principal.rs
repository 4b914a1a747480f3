//! `RVP-From-Principal` (PROTOCOL.md §3.1).

use std::fmt;

use http::HeaderName;

use super::{HeaderError, RVP_FROM_PRINCIPAL, RvpHeader, as_str};
use crate::url::{NodeUrl, NodeUrlRef};

/// `RVP-From-Principal`: the originator — normally a logical URL, a bare host name for
/// server-originated notifications (PROTOCOL.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FromPrincipal {
    /// An absolute `http://` URL.
    Url(NodeUrl),
    /// A bare host name (lower-cased), e.g. `im.example.com`.
    Host(Box<str>),
}

impl FromPrincipal {
    /// The principal's logical URL, if it is one (or a physical URL of one).
    pub fn logical(&self) -> Option<&crate::url::LogicalUrl> {
        match self {
            FromPrincipal::Url(u) => u.logical(),
            FromPrincipal::Host(_) => None,
        }
    }
}

/// `RVP-From-Principal`, borrowed from the message (see [`FromPrincipal`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FromPrincipalRef<'a> {
    /// An absolute `http://` URL.
    Url(NodeUrlRef<'a>),
    /// A bare host name, as received.
    Host(&'a str),
}

impl<'a> FromPrincipalRef<'a> {
    /// Validates a raw header value without allocating (unless the URL is escaped).
    pub fn parse(value: &'a [u8]) -> Result<FromPrincipalRef<'a>, HeaderError> {
        const EXPECTED: &str = "an absolute http URL or a host name";
        let s = as_str::<FromPrincipal>(value, EXPECTED)?;
        if s.find(':').is_some_and(|i| s[i..].starts_with("://")) {
            return NodeUrlRef::parse(s)
                .map(FromPrincipalRef::Url)
                .map_err(|source| HeaderError::Url {
                    header: FromPrincipal::NAME,
                    source,
                });
        }
        let ok = !s.is_empty()
            && s.len() <= 255
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if ok {
            Ok(FromPrincipalRef::Host(s))
        } else {
            Err(HeaderError::malformed(FromPrincipal::NAME, EXPECTED, value))
        }
    }

    /// The owned, canonical value.
    pub fn to_from_principal(&self) -> FromPrincipal {
        match self {
            FromPrincipalRef::Url(u) => FromPrincipal::Url(u.to_node_url()),
            FromPrincipalRef::Host(h) => FromPrincipal::Host(h.to_ascii_lowercase().into()),
        }
    }
}

impl RvpHeader for FromPrincipal {
    header_name!(RVP_FROM_PRINCIPAL, "RVP-From-Principal");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        FromPrincipalRef::parse(value).map(|r| r.to_from_principal())
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            FromPrincipal::Url(u) => write!(out, "{u}"),
            FromPrincipal::Host(h) => out.write_str(h),
        }
    }
}

impl fmt::Display for FromPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FromPrincipal::Url(u) => fmt::Display::fmt(u, f),
            FromPrincipal::Host(h) => f.write_str(h),
        }
    }
}

impl std::str::FromStr for FromPrincipal {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<FromPrincipal, HeaderError> {
        FromPrincipal::decode(s.as_bytes())
    }
}

impl From<crate::url::LogicalUrl> for FromPrincipal {
    fn from(u: crate::url::LogicalUrl) -> Self {
        FromPrincipal::Url(NodeUrl::Logical(u))
    }
}
