//! Serializers: `http` messages to bytes, plus a fast path for NOTIFY.
//!
//! Rules (PROTOCOL.md §2, §3.2, interop notes):
//! * `Content-Length` is always written, computed from the body (any `Content-Length` or
//!   `Transfer-Encoding` in the header map is dropped): never chunked.
//! * `RVP-Notifications-Version: 0.2` is added when the message has none.
//! * Status lines carry Exchange's reason phrases ([`crate::status::reason_phrase`]) unless
//!   the response has a [`ReasonPhrase`] extension.
//! * Header names are written in their conventional spelling (`Content-Length`,
//!   `RVP-Hop-Count`, `WWW-Authenticate`): the `http` crate stores them lower-case.

use std::borrow::Cow;

use bytes::BufMut;
use http::{HeaderMap, HeaderName};

use crate::header::{AckType, HopCount, RVP_NOTIFICATIONS_VERSION, SubscriptionId};
use crate::status::reason_phrase;

/// A custom reason phrase for a response, set as an extension:
/// `response.extensions_mut().insert(ReasonPhrase::new("credentials not specified")?)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReasonPhrase(Cow<'static, str>);

impl ReasonPhrase {
    /// `None` if the phrase contains a control character other than tab.
    pub fn new(phrase: impl Into<Cow<'static, str>>) -> Option<ReasonPhrase> {
        let phrase = phrase.into();
        let ok = phrase
            .bytes()
            .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
        ok.then_some(ReasonPhrase(phrase))
    }

    /// The phrase.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A field passed to [`write_notify`] would break the message framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The field is empty or contains a control character (or, for the target, a space).
    #[error("NOTIFY {field} is empty or contains a control character")]
    InvalidField {
        /// Which field (`target`, `host`, `from_principal`, `content_type`).
        field: &'static str,
    },
}

fn put_decimal(out: &mut impl BufMut, mut n: u64) {
    const DIGITS: &[u8; 10] = b"0123456789";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % 10) as usize];
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&buf[i..]);
}

fn put_len(out: &mut impl BufMut, n: usize) {
    put_decimal(out, u64::try_from(n).unwrap_or(u64::MAX));
}

/// Writes a header name in its conventional spelling: each `-`-separated word capitalised,
/// except `RVP`, `WWW`, `DAV`, `ID`-less specials which are all upper-case.
fn put_header_name(out: &mut impl BufMut, name: &HeaderName) {
    let s = name.as_str();
    let mut first = true;
    for word in s.split('-') {
        if !first {
            out.put_u8(b'-');
        }
        first = false;
        if matches!(word, "rvp" | "www" | "dav") {
            for b in word.bytes() {
                out.put_u8(b.to_ascii_uppercase());
            }
        } else if let Some((&head, tail)) = word.as_bytes().split_first() {
            out.put_u8(head.to_ascii_uppercase());
            out.put_slice(tail);
        }
    }
}

fn put_headers(out: &mut impl BufMut, headers: &HeaderMap, body_len: usize) {
    for (name, value) in headers {
        if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
            continue;
        }
        put_header_name(out, name);
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    if !headers.contains_key(RVP_NOTIFICATIONS_VERSION) {
        out.put_slice(b"RVP-Notifications-Version: 0.2\r\n");
    }
    out.put_slice(b"Content-Length: ");
    put_len(out, body_len);
    out.put_slice(b"\r\n\r\n");
}

fn version_str(v: http::Version) -> &'static [u8] {
    if v == http::Version::HTTP_10 {
        b"HTTP/1.0"
    } else {
        b"HTTP/1.1"
    }
}

/// Writes a request: request line, headers, `Content-Length`, body.
///
/// The request-target is the URI as given: absolute-form when it has a scheme and
/// authority, otherwise origin-form (`/` when empty). When there is no `Host` header and
/// the URI has an authority, `Host` is written from it.
pub fn write_request<B: AsRef<[u8]>>(req: &http::Request<B>, out: &mut impl BufMut) {
    let body = req.body().as_ref();
    out.put_slice(req.method().as_str().as_bytes());
    out.put_u8(b' ');
    let uri = req.uri();
    if uri.scheme().is_some() && uri.authority().is_some() {
        out.put_slice(uri.to_string().as_bytes());
    } else {
        out.put_slice(uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
    }
    out.put_u8(b' ');
    out.put_slice(version_str(req.version()));
    out.put_slice(b"\r\n");
    if let Some(a) = uri
        .authority()
        .filter(|_| !req.headers().contains_key(http::header::HOST))
    {
        out.put_slice(b"Host: ");
        out.put_slice(a.as_str().as_bytes());
        out.put_slice(b"\r\n");
    }
    put_headers(out, req.headers(), body.len());
    out.put_slice(body);
}

/// Writes a response: status line with the Exchange reason phrase, headers,
/// `Content-Length`, body.
pub fn write_response<B: AsRef<[u8]>>(res: &http::Response<B>, out: &mut impl BufMut) {
    let body = res.body().as_ref();
    out.put_slice(version_str(res.version()));
    out.put_u8(b' ');
    out.put_slice(res.status().as_str().as_bytes());
    out.put_u8(b' ');
    let reason = match res.extensions().get::<ReasonPhrase>() {
        Some(r) => r.as_str(),
        None => reason_phrase(res.status()),
    };
    out.put_slice(reason.as_bytes());
    out.put_slice(b"\r\n");
    put_headers(out, res.headers(), body.len());
    out.put_slice(body);
}

/// The head of a NOTIFY, for [`write_notify`]: the server's hottest output (relaying IMs
/// and sending property notifications), written without building an `http::Request`.
///
/// URL-valued fields are written verbatim: pass canonical strings (e.g. a
/// [`LogicalUrl`](crate::url::LogicalUrl) formatted once and kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotifyHead<'a> {
    /// Request-target (`/` for a local node, or a node path).
    pub target: &'a str,
    /// `Host` value (`ip:port` for a local node).
    pub host: &'a str,
    /// `RVP-From-Principal` value (logical URL or host name).
    pub from_principal: &'a str,
    /// `RVP-Hop-Count`.
    pub hop_count: HopCount,
    /// `RVP-Ack-Type` (omitted when `None`).
    pub ack_type: Option<AckType>,
    /// `Subscription-Id` (omitted when `None`).
    pub subscription_id: Option<&'a SubscriptionId>,
    /// `Content-Type` (default `text/xml`).
    pub content_type: &'a str,
}

impl<'a> NotifyHead<'a> {
    /// A head with hop count 1, no ack type, no subscription id, `Content-Type: text/xml`.
    pub fn new(target: &'a str, host: &'a str, from_principal: &'a str) -> NotifyHead<'a> {
        NotifyHead {
            target,
            host,
            from_principal,
            hop_count: HopCount::ORIGIN,
            ack_type: None,
            subscription_id: None,
            content_type: "text/xml",
        }
    }

    /// Sets the hop count.
    pub fn with_hop_count(mut self, hop_count: HopCount) -> Self {
        self.hop_count = hop_count;
        self
    }

    /// Sets the ack type.
    pub fn with_ack_type(mut self, ack_type: AckType) -> Self {
        self.ack_type = Some(ack_type);
        self
    }

    /// Sets the subscription id.
    pub fn with_subscription_id(mut self, id: &'a SubscriptionId) -> Self {
        self.subscription_id = Some(id);
        self
    }

    /// Sets the content type.
    pub fn with_content_type(mut self, content_type: &'a str) -> Self {
        self.content_type = content_type;
        self
    }
}

fn check_field(value: &str, field: &'static str, allow_space: bool) -> Result<(), WriteError> {
    // A branch-free fold (vectorises) rather than an early-exit `any`.
    let space = if allow_space { 0 } else { b' ' };
    let bad = value.is_empty()
        || value.bytes().fold(false, |acc, b| {
            acc | (b < 0x20) | (b == 0x7f) | (b == space)
        });
    if bad {
        Err(WriteError::InvalidField { field })
    } else {
        Ok(())
    }
}

/// Writes a NOTIFY request (head + body) with `Content-Length` and
/// `RVP-Notifications-Version: 0.2`.
///
/// ```
/// use rvp_proto::codec::{write_notify, NotifyHead};
/// use rvp_proto::header::{AckType, HopCount};
///
/// let mut out = Vec::new();
/// let head = NotifyHead::new("/", "127.0.0.1:43663", "http://localhost/instmsg/aliases/bob")
///     .with_ack_type(AckType::DeepOr)
///     .with_hop_count(HopCount::ORIGIN.next());
/// write_notify(&mut out, &head, b"<r:notification/>")?;
/// assert!(out.starts_with(b"NOTIFY / HTTP/1.1\r\nHost: 127.0.0.1:43663\r\n"));
/// assert!(out.ends_with(b"Content-Length: 17\r\n\r\n<r:notification/>"));
/// # Ok::<(), rvp_proto::codec::WriteError>(())
/// ```
pub fn write_notify(
    out: &mut impl BufMut,
    head: &NotifyHead<'_>,
    body: &[u8],
) -> Result<(), WriteError> {
    write_notify_parts(out, head, &[body])
}

/// [`write_notify`] with the body in parts, written one after the other (`Content-Length`
/// is their sum): the one NOTIFY writer, for bodies that are not in one buffer, such as a
/// property change rendered once and spliced per watcher (`rvp-presence`), which then
/// needs no per-watcher copy of the shared parts.
///
/// ```
/// use rvp_proto::codec::{write_notify, write_notify_parts, NotifyHead};
///
/// let head = NotifyHead::new("/", "127.0.0.1:43663", "http://localhost/instmsg/aliases/bob");
/// let (mut whole, mut parts) = (Vec::new(), Vec::new());
/// write_notify(&mut whole, &head, b"<r:notification/>")?;
/// write_notify_parts(&mut parts, &head, &[b"<r:notif", b"", b"ication/>"])?;
/// assert_eq!(whole, parts);
/// # Ok::<(), rvp_proto::codec::WriteError>(())
/// ```
pub fn write_notify_parts(
    out: &mut impl BufMut,
    head: &NotifyHead<'_>,
    body: &[&[u8]],
) -> Result<(), WriteError> {
    check_field(head.target, "target", false)?;
    check_field(head.host, "host", false)?;
    check_field(head.from_principal, "from_principal", false)?;
    check_field(head.content_type, "content_type", true)?;
    out.put_slice(b"NOTIFY ");
    out.put_slice(head.target.as_bytes());
    out.put_slice(b" HTTP/1.1\r\nHost: ");
    out.put_slice(head.host.as_bytes());
    out.put_slice(b"\r\nRVP-Notifications-Version: 0.2\r\n");
    if let Some(ack) = head.ack_type {
        out.put_slice(b"RVP-Ack-Type: ");
        out.put_slice(ack.as_str().as_bytes());
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"RVP-Hop-Count: ");
    put_decimal(out, u64::from(head.hop_count.get()));
    if let Some(id) = head.subscription_id {
        out.put_slice(b"\r\nSubscription-Id: ");
        out.put_slice(id.as_str().as_bytes());
    }
    out.put_slice(b"\r\nRVP-From-Principal: ");
    out.put_slice(head.from_principal.as_bytes());
    out.put_slice(b"\r\nContent-Type: ");
    out.put_slice(head.content_type.as_bytes());
    out.put_slice(b"\r\nContent-Length: ");
    put_len(out, body.iter().map(|p| p.len()).sum());
    out.put_slice(b"\r\n\r\n");
    for part in body {
        out.put_slice(part);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn response_reason_and_defaults() {
        let res = http::Response::builder()
            .status(207)
            .header("content-type", "text/xml")
            .header("subscription-id", "79")
            .header("content-length", "999")
            .header("www-authenticate", "NTLM")
            .body(&b"<x/>"[..])
            .unwrap();
        let mut out = Vec::new();
        write_response(&res, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 207 Multi-Status\r\nContent-Type: text/xml\r\nSubscription-Id: 79\r\n\
             WWW-Authenticate: NTLM\r\nRVP-Notifications-Version: 0.2\r\nContent-Length: 4\r\n\r\n<x/>"
        );
        let mut res = http::Response::new(Vec::<u8>::new());
        *res.status_mut() = http::StatusCode::BAD_REQUEST;
        res.extensions_mut()
            .insert(ReasonPhrase::new("credentials not specified").unwrap());
        res.headers_mut().insert(
            RVP_NOTIFICATIONS_VERSION,
            http::HeaderValue::from_static("1.0"),
        );
        let mut out = bytes::BytesMut::new();
        write_response(&res, &mut out);
        assert_eq!(
            &out[..],
            b"HTTP/1.1 400 credentials not specified\r\nRVP-Notifications-Version: 1.0\r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(ReasonPhrase::new("a\r\nb"), None);
    }

    #[test]
    fn request_forms() {
        let req = http::Request::builder()
            .method("SUBSCRIBE")
            .uri("http://im.example.com/instmsg/aliases/stevem")
            .header("call-back", "http://im.acme.com/instmsg/aliases/bruceb")
            .body(Vec::new())
            .unwrap();
        let mut out = Vec::new();
        write_request(&req, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "SUBSCRIBE http://im.example.com/instmsg/aliases/stevem HTTP/1.1\r\nHost: im.example.com\r\n\
             Call-Back: http://im.acme.com/instmsg/aliases/bruceb\r\nRVP-Notifications-Version: 0.2\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let req = http::Request::builder()
            .method("ACL")
            .uri("/instmsg/aliases/a")
            .header("transfer-encoding", "chunked")
            .body("xy")
            .unwrap();
        let mut out = Vec::new();
        write_request(&req, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ACL /instmsg/aliases/a HTTP/1.1\r\nRVP-Notifications-Version: 0.2\r\nContent-Length: 2\r\n\r\nxy"
        );
    }

    #[test]
    fn notify_fast_path() {
        let id = SubscriptionId::new("98210").unwrap();
        let head = NotifyHead::new(
            "/",
            "198.176.154.132:1234",
            "http://im.example.com/instmsg/aliases/stevem",
        )
        .with_ack_type(AckType::DeepOr)
        .with_hop_count(HopCount::new(2).unwrap())
        .with_subscription_id(&id);
        let mut out = Vec::new();
        write_notify(&mut out, &head, b"<b/>").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NOTIFY / HTTP/1.1\r\nHost: 198.176.154.132:1234\r\nRVP-Notifications-Version: 0.2\r\n\
             RVP-Ack-Type: DeepOr\r\nRVP-Hop-Count: 2\r\nSubscription-Id: 98210\r\n\
             RVP-From-Principal: http://im.example.com/instmsg/aliases/stevem\r\n\
             Content-Type: text/xml\r\nContent-Length: 4\r\n\r\n<b/>"
        );
        let bad = NotifyHead::new("/", "h\r\nX: y", "p");
        assert_eq!(
            write_notify(&mut Vec::new(), &bad, b""),
            Err(WriteError::InvalidField { field: "host" })
        );
        let bad = NotifyHead::new("/ x", "h", "p");
        assert_eq!(
            write_notify(&mut Vec::new(), &bad, b""),
            Err(WriteError::InvalidField { field: "target" })
        );
    }

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 1234567890, u64::MAX] {
            let mut v = Vec::new();
            put_decimal(&mut v, n);
            assert_eq!(v, n.to_string().into_bytes());
        }
    }
}
