//! Rendering of server-originated notification bodies (PROTOCOL.md §2.6-d, §5.5).
//!
//! A property change to N watchers costs one render of everything but the watcher's URL
//! (a shared prefix and suffix) plus, per watcher, a reference to that shared part; the
//! watcher's URL is the delivery's call-back (or, for a watcher relayed through its login
//! subscriptions, its interned logical URL). `Delivery::write_body` splices them; an
//! embedder with vectored I/O writes `Delivery::body_parts` without copying.
//!
//! The splice is kept (rather than rendering each body with `rvp-proto`'s XML writer) for
//! the fan-out budget; `tests/methods.rs` checks that its output is byte for byte the XML
//! writer's rendering of the same `r:notification` and parses back with it.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use rvp_proto::PresenceState;
use rvp_proto::header::CallBack;

const HEAD: &str = "<?xml version=\"1.0\"?><r:notification xmlns:d='DAV:' \
xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'>\
<r:propnotification><r:notification-from><r:contact><d:href>";
const FROM_DESCRIPTION: &str = "</d:href><r:description>";
const FROM_TO: &str = "</r:description></r:contact></r:notification-from><r:notification-to>\
<r:contact><d:href>";
const FROM_NO_DESCRIPTION_TO: &str = "</d:href><r:description/></r:contact>\
</r:notification-from><r:notification-to><r:contact><d:href>";
/// The watcher's display name is not known here (it may be another domain's user):
/// an empty `r:description`, which every client we know accepts (Miranda's RVP plugin
/// dereferences the element without checking that it exists).
const AFTER_TO: &str = "</d:href><r:description/></r:contact></r:notification-to>\
<d:propertyupdate><d:set><d:prop><r:state><r:";
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
    /// Renders the parts of a `r:propnotification` from `from_href` (whose display name
    /// is `from_name`; empty: unknown or not to be shown) announcing `state`, sent with
    /// `RVP-From-Principal: from_principal`. Every `r:contact` carries an
    /// `r:description` (empty when unknown).
    pub fn state_change(
        from_href: &str,
        from_name: &str,
        state: &PresenceState,
        from_principal: Arc<str>,
    ) -> Arc<RenderedChange> {
        let mut prefix = BytesMut::with_capacity(
            HEAD.len() + from_href.len() + from_name.len() + FROM_NO_DESCRIPTION_TO.len() + 24,
        );
        prefix.put_slice(HEAD.as_bytes());
        escape_into(&mut prefix, from_href);
        if from_name.is_empty() {
            prefix.put_slice(FROM_NO_DESCRIPTION_TO.as_bytes());
        } else {
            prefix.put_slice(FROM_DESCRIPTION.as_bytes());
            escape_into(&mut prefix, from_name);
            prefix.put_slice(FROM_TO.as_bytes());
        }
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

/// The body of one property-change NOTIFY: the shared parts, plus the watcher's URL
/// (`r:notification-to`) when it differs from the delivery's call-back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PropChangeBody {
    pub(crate) shared: Arc<RenderedChange>,
    /// `None`: the delivery's call-back is the watcher's URL (no second reference needed).
    pub(crate) to: Option<Arc<CallBack>>,
}

/// The body of a NOTIFY the engine asks the embedder to send (see `Delivery` for how to
/// write it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum NotifyBody {
    /// A relayed body, byte for byte as received (PROTOCOL.md §2.6 step 3), with the
    /// original sender's `RVP-From-Principal`.
    Relay {
        from_principal: Arc<str>,
        bytes: Bytes,
    },
    /// A property-change notification rendered by the engine.
    PropChange(PropChangeBody),
}

impl NotifyBody {
    /// `RVP-From-Principal` of the NOTIFY.
    pub(crate) fn sender(&self) -> &Arc<str> {
        match self {
            NotifyBody::Relay { from_principal, .. } => from_principal,
            NotifyBody::PropChange(p) => &p.shared.from_principal,
        }
    }

    /// The three parts of the body; the middle one must be XML-escaped when written
    /// (see `needs_escape`).
    pub(crate) fn parts<'a>(&'a self, callback: &'a str) -> [&'a [u8]; 3] {
        match self {
            NotifyBody::Relay { bytes, .. } => [bytes, &[], &[]],
            NotifyBody::PropChange(p) => [
                &p.shared.prefix,
                p.to.as_deref()
                    .map_or(callback, CallBack::as_str)
                    .as_bytes(),
                &p.shared.suffix,
            ],
        }
    }
}

impl NotifyBody {
    /// The three parts as shared buffers: the rendered prefix and suffix are reference
    /// counted (no copy); only the per-watcher middle, escaped, is a new (small) buffer.
    pub(crate) fn chunks(&self, callback: &str) -> [Bytes; 3] {
        match self {
            NotifyBody::Relay { bytes, .. } => [bytes.clone(), Bytes::new(), Bytes::new()],
            NotifyBody::PropChange(p) => {
                let middle =
                    p.to.as_deref()
                        .map_or(callback, CallBack::as_str)
                        .as_bytes();
                let mut escaped = BytesMut::with_capacity(escaped_len_bytes(middle));
                escape_bytes_into(&mut escaped, middle);
                [
                    p.shared.prefix.clone(),
                    escaped.freeze(),
                    p.shared.suffix.clone(),
                ]
            }
        }
    }
}

/// Whether XML escaping changes `s`. Character data is escaped as `rvp_proto::xml`'s
/// writer escapes it (`<`, `>`, `&`; quotes are left alone), so that a spliced body is
/// byte for byte the writer's rendering (URLs reaching here hold no control characters).
pub(crate) fn needs_escape(s: &[u8]) -> bool {
    s.iter().any(|b| matches!(b, b'&' | b'<' | b'>'))
}

/// Length of `s` once escaped.
pub(crate) fn escaped_len_bytes(s: &[u8]) -> usize {
    escaped_len(std::str::from_utf8(s).unwrap_or(""))
}

/// Writes `s` escaped.
pub(crate) fn escape_bytes_into(out: &mut impl BufMut, s: &[u8]) {
    escape_into(out, std::str::from_utf8(s).unwrap_or(""));
}

fn escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'&' => 5,
            b'<' | b'>' => 4,
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

    fn render(body: &NotifyBody, callback: &str) -> Vec<u8> {
        let [a, b, c] = body.parts(callback);
        let mut out = Vec::new();
        out.extend_from_slice(a);
        escape_bytes_into(&mut out, b);
        out.extend_from_slice(c);
        assert_eq!(out.len(), a.len() + escaped_len_bytes(b) + c.len());
        out
    }

    #[test]
    fn exchange_style_body() {
        let shared = RenderedChange::state_change(
            "http://im.example.com/instmsg/aliases/stevem",
            "Steve Morgan",
            &PresenceState::Busy,
            "im.example.com".into(),
        );
        let body = NotifyBody::PropChange(PropChangeBody { shared, to: None });
        let expect = "<?xml version=\"1.0\"?><r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'><r:propnotification><r:notification-from><r:contact><d:href>http://im.example.com/instmsg/aliases/stevem</d:href><r:description>Steve Morgan</r:description></r:contact></r:notification-from><r:notification-to><r:contact><d:href>http://im.acme.com/instmsg/aliases/bruceb</d:href><r:description/></r:contact></r:notification-to><d:propertyupdate><d:set><d:prop><r:state><r:busy/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification></r:notification>";
        assert_eq!(
            render(&body, "http://im.acme.com/instmsg/aliases/bruceb"),
            expect.as_bytes()
        );
        assert_eq!(&**body.sender(), "im.example.com");
    }

    #[test]
    fn urls_are_escaped() {
        let shared = RenderedChange::state_change(
            "http://h/a?x=1&y='2'",
            "",
            &PresenceState::Online,
            "h".into(),
        );
        // A typed call-back's text never holds `<` (rvp-proto escapes aliases); the
        // writer escapes whatever it is given all the same.
        let body = NotifyBody::PropChange(PropChangeBody { shared, to: None });
        let s = String::from_utf8(render(&body, "http://h/<b>")).unwrap_or_default();
        assert!(s.contains("http://h/a?x=1&amp;y='2'"), "{s}");
        assert!(s.contains("http://h/&lt;b&gt;"), "{s}");
        assert!(
            s.contains("</d:href><r:description/></r:contact></r:notification-from>"),
            "{s}"
        );
        assert!(needs_escape(b"a&b") && !needs_escape(b"http://h/x"));
    }

    #[test]
    fn relays_are_untouched() {
        let body = NotifyBody::Relay {
            from_principal: "http://h/instmsg/aliases/a".into(),
            bytes: Bytes::from_static(b"<x>&amp;</x>"),
        };
        assert_eq!(body.parts("http://cb")[0], b"<x>&amp;</x>");
    }
}
