//! `Call-Back` (PROTOCOL.md §3.1).

use std::fmt;

use http::HeaderName;

use super::{CALL_BACK, HeaderError, RvpHeader, as_str};
use crate::url::{NodeUrl, NodeUrlRef};

/// `Call-Back`: where NOTIFYs for a subscription go — the subscriber's logical URL or its
/// local node `http://ip:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallBack(pub NodeUrl);

impl CallBack {
    /// Validates a raw `Call-Back` value without allocating (unless escaped).
    pub fn parse_ref(value: &[u8]) -> Result<NodeUrlRef<'_>, HeaderError> {
        let s = as_str::<Self>(value, "an absolute http URL")?;
        NodeUrlRef::parse(s).map_err(|source| HeaderError::Url {
            header: Self::NAME,
            source,
        })
    }
}

impl RvpHeader for CallBack {
    header_name!(CALL_BACK, "Call-Back");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        CallBack::parse_ref(value).map(|r| CallBack(r.to_node_url()))
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "{}", self.0)
    }
}

impl fmt::Display for CallBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
