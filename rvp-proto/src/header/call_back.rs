//! `Call-Back` (PROTOCOL.md §3.1).

use std::fmt;

use http::HeaderName;

use super::{CALL_BACK, HeaderError, RvpHeader, as_str};
use crate::url::{NodeUrl, NodeUrlRef};

/// `Call-Back`: where NOTIFYs for a subscription go — the subscriber's logical URL or its
/// local node `http://ip:port`.
///
/// A call-back is parsed once and stays typed wherever it travels (subscription tables,
/// journals, deliveries): [`CallBack::url`] is the classified URL and [`CallBack::as_str`]
/// its canonical text (the [`NodeUrl`]'s `Display`, kept beside it so that writing a
/// NOTIFY's `r:notification-to` or `Host` never formats or parses it again).
///
/// ```
/// use rvp_proto::header::CallBack;
/// use rvp_proto::url::NodeUrl;
///
/// let cb: CallBack = "http://10.0.0.5:4321/".parse()?;
/// assert!(matches!(cb.url(), NodeUrl::LocalNode(_)));
/// assert_eq!(cb.as_str(), "http://10.0.0.5:4321");
/// assert_eq!(cb.authority_and_target(), ("10.0.0.5:4321", "/"));
///
/// let cb: CallBack = "HTTP://IM.Example.com/instmsg/aliases/Bob".parse()?;
/// assert_eq!(cb.as_str(), "http://im.example.com/instmsg/aliases/bob");
/// assert_eq!(cb.authority_and_target(), ("im.example.com", "/instmsg/aliases/bob"));
/// # Ok::<(), rvp_proto::header::HeaderError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallBack {
    url: NodeUrl,
    /// `url`'s canonical text (a function of `url`, so the derives agree).
    text: Box<str>,
}

impl CallBack {
    /// A call-back to `url`.
    pub fn new(url: NodeUrl) -> CallBack {
        let text = url.to_string().into_boxed_str();
        CallBack { url, text }
    }

    /// Validates a raw `Call-Back` value without allocating (unless escaped).
    pub fn parse_ref(value: &[u8]) -> Result<NodeUrlRef<'_>, HeaderError> {
        let s = as_str::<Self>(value, "an absolute http URL")?;
        NodeUrlRef::parse(s).map_err(|source| HeaderError::Url {
            header: Self::NAME,
            source,
        })
    }

    /// The classified URL.
    pub fn url(&self) -> &NodeUrl {
        &self.url
    }

    /// The URL, giving up the text.
    pub fn into_url(self) -> NodeUrl {
        self.url
    }

    /// The canonical text: lower-cased scheme and host, the port of a local node always
    /// written, a logical alias lower-cased and escaped (PROTOCOL.md §8.2).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Where a NOTIFY to this call-back goes: the authority (`ip:port` of a local node, or
    /// the host of a principal URL, to be resolved) and the request-target (`/` for a
    /// local node, the node's path otherwise). Both borrow [`CallBack::as_str`].
    pub fn authority_and_target(&self) -> (&str, &str) {
        // The canonical text always starts with `http://` and is well formed.
        let rest = self.text.get("http://".len()..).unwrap_or("");
        match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        }
    }
}

impl From<NodeUrl> for CallBack {
    fn from(url: NodeUrl) -> CallBack {
        CallBack::new(url)
    }
}

impl std::str::FromStr for CallBack {
    type Err = HeaderError;
    fn from_str(s: &str) -> Result<CallBack, HeaderError> {
        CallBack::decode(s.as_bytes())
    }
}

impl AsRef<str> for CallBack {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl RvpHeader for CallBack {
    header_name!(CALL_BACK, "Call-Back");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        CallBack::parse_ref(value).map(|r| CallBack::new(r.to_node_url()))
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str(&self.text)
    }
}

impl fmt::Display for CallBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
