//! Rendering of server-originated notification bodies (reference §2.6-d, §5.5).
//!
//! A property change to N watchers costs one render of everything but the watcher's URL
//! (a shared prefix and suffix) plus, per watcher, a reference to that shared part and to
//! the watcher's interned URL. [`PropChangeBody::write_to`] splices them; an embedder with
//! vectored I/O can write the three parts without copying.
//!
//! All rendering lives here so that it can later switch to `rvp-proto`'s XML writer.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use rvp_proto::PresenceState;

const HEAD: &str = "<?xml version=\"1.0\"?><r:notification xmlns:d='DAV:' \
xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'>\
<r:propnotification><r:notification-from><r:contact><d:href>";
const FROM_TO: &str = "</d:href></r:contact></r:notification-from><r:notification-to>\
<r:contact><d:href>";
const AFTER_TO: &str = "</d:href></r:contact></r:notification-to><d:propertyupdate><d:set>\
<d:prop><r:state><r:";
const TAIL: &str = "/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification>\
</r:notification>";

/// The shared, pre-rendered part of one property change, with the `RVP-From-Principal`
/// its NOTIFYs carry.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RenderedChange {
    prefix: Bytes,
    suffix: Bytes,
    from_principal: Arc<str>,
}

impl RenderedChange {
    /// Renders the parts of a `r:propnotification` from `from_href` announcing `state`,
    /// sent with `RVP-From-Principal: from_principal`.
    pub fn state_change(
        from_href: &str,
        state: &PresenceState,
        from_principal: Arc<str>,
    ) -> Arc<RenderedChange> {
        let mut prefix = BytesMut::with_capacity(HEAD.len() + from_href.len() + FROM_TO.len());
        prefix.put_slice(HEAD.as_bytes());
        escape_into(&mut prefix, from_href);
        prefix.put_slice(FROM_TO.as_bytes());
        let name = state.local_name();
        let mut suffix = BytesMut::with_capacity(AFTER_TO.len() + name.len() + TAIL.len());
        suffix.put_slice(AFTER_TO.as_bytes());
        escape_into(&mut suffix, name);
        suffix.put_slice(TAIL.as_bytes());
        Arc::new(RenderedChange {
            prefix: prefix.freeze(),
            suffix: suffix.freeze(),
            from_principal,
        })
    }
}

/// The body of one property-change NOTIFY: the shared parts + the watcher's URL
/// (`r:notification-to`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PropChangeBody {
    shared: Arc<RenderedChange>,
    to: Arc<str>,
}

impl PropChangeBody {
    pub(crate) fn new(shared: Arc<RenderedChange>, to: Arc<str>) -> PropChangeBody {
        PropChangeBody { shared, to }
    }

    /// The `r:notification-to` URL (unescaped).
    pub fn to(&self) -> &str {
        &self.to
    }

    /// `RVP-From-Principal` of the NOTIFY.
    pub fn from_principal(&self) -> &Arc<str> {
        &self.shared.from_principal
    }

    /// The three parts (the middle one is the unescaped URL: use [`PropChangeBody::write_to`]
    /// unless [`PropChangeBody::needs_escape`] is false).
    pub fn parts(&self) -> [&[u8]; 3] {
        [&self.shared.prefix, self.to.as_bytes(), &self.shared.suffix]
    }

    /// Whether the watcher URL contains a character that XML escaping changes.
    pub fn needs_escape(&self) -> bool {
        self.to
            .bytes()
            .any(|b| matches!(b, b'&' | b'<' | b'>' | b'\'' | b'"'))
    }

    /// Length of the rendered body in bytes.
    pub fn len(&self) -> usize {
        self.shared.prefix.len() + escaped_len(&self.to) + self.shared.suffix.len()
    }

    /// Whether the body is empty (never).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Appends the rendered body to `out`.
    pub fn write_to(&self, out: &mut impl BufMut) {
        out.put_slice(&self.shared.prefix);
        escape_into(out, &self.to);
        out.put_slice(&self.shared.suffix);
    }

    /// The rendered body as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.len());
        self.write_to(&mut b);
        b.freeze()
    }
}

/// The body of a NOTIFY the engine asks the embedder to send.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotifyBody {
    /// A relayed body, byte for byte as received (reference §2.6 step 3), with the
    /// original sender's `RVP-From-Principal`.
    Relay {
        /// The original `RVP-From-Principal`.
        from_principal: Arc<str>,
        /// The body bytes, untouched.
        bytes: Bytes,
    },
    /// A property-change notification rendered by the engine.
    PropChange(PropChangeBody),
}

impl NotifyBody {
    /// The body as one buffer (a cheap clone for [`NotifyBody::Relay`]).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            NotifyBody::Relay { bytes, .. } => bytes.clone(),
            NotifyBody::PropChange(p) => p.to_bytes(),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            NotifyBody::Relay { bytes, .. } => bytes.len(),
            NotifyBody::PropChange(p) => p.len(),
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `RVP-From-Principal` of the NOTIFY.
    pub fn from_principal(&self) -> &Arc<str> {
        match self {
            NotifyBody::Relay { from_principal, .. } => from_principal,
            NotifyBody::PropChange(p) => p.from_principal(),
        }
    }

    /// Appends the body to `out`.
    pub fn write_to(&self, out: &mut impl BufMut) {
        match self {
            NotifyBody::Relay { bytes, .. } => out.put_slice(bytes),
            NotifyBody::PropChange(p) => p.write_to(out),
        }
    }
}

fn escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'&' => 5,
            b'<' | b'>' => 4,
            b'\'' | b'"' => 6,
            _ => 1,
        })
        .sum()
}

fn escape_into(out: &mut impl BufMut, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\'' => b"&apos;",
            b'"' => b"&quot;",
            _ => continue,
        };
        out.put_slice(&bytes[start..i]);
        out.put_slice(rep);
        start = i + 1;
    }
    out.put_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_style_body() {
        let shared = RenderedChange::state_change(
            "http://im.example.com/instmsg/aliases/stevem",
            &PresenceState::Busy,
            "im.example.com".into(),
        );
        let body = PropChangeBody::new(shared, "http://im.acme.com/instmsg/aliases/bruceb".into());
        let expect = "<?xml version=\"1.0\"?><r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'><r:propnotification><r:notification-from><r:contact><d:href>http://im.example.com/instmsg/aliases/stevem</d:href></r:contact></r:notification-from><r:notification-to><r:contact><d:href>http://im.acme.com/instmsg/aliases/bruceb</d:href></r:contact></r:notification-to><d:propertyupdate><d:set><d:prop><r:state><r:busy/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification></r:notification>";
        assert_eq!(body.to_bytes(), expect.as_bytes());
        assert_eq!(body.len(), expect.len());
        assert!(!body.needs_escape());
        assert_eq!(body.parts().concat(), expect.as_bytes());
    }

    #[test]
    fn urls_are_escaped() {
        let shared = RenderedChange::state_change(
            "http://h/a?x=1&y='2'",
            &PresenceState::Online,
            "h".into(),
        );
        let body = PropChangeBody::new(shared, "http://h/<b>".into());
        let s = String::from_utf8(body.to_bytes().to_vec()).unwrap_or_default();
        assert!(s.contains("http://h/a?x=1&amp;y=&apos;2&apos;"), "{s}");
        assert!(s.contains("http://h/&lt;b&gt;"), "{s}");
        assert_eq!(body.len(), s.len());
        assert!(body.needs_escape());
    }
}
