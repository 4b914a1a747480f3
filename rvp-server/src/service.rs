//! The request seam: what the connection loop hands over, and what it gets back.
//!
//! ```text
//!  conn.rs ── parse, limits, 501/405, 4xx ──► Handler::handle(peer, Request, now) ──► Response
//!                                                  │ (auth layer, then the engine task:
//!                                                  │  engine::EngineHandle::call)
//!                                                  ▼
//!                                       async: DeepOr NOTIFYs resolve only once the
//!                                       downstream delivery is acknowledged
//! ```
//!
//! The connection loop has already answered everything that is not an RVP request:
//! malformed framing (`400`, `411`, `413`, `431`, connection closed), unsupported methods
//! (`501`/`405`, per [`MethodClass`](rvp_proto::MethodClass)), malformed RVP headers or
//! request-targets (`400`). A [`Handler`] therefore only ever sees one of the seven methods
//! with typed headers and a complete body.
//!
//! The answer is a plain [`http::Response`]: the connection loop serialises it with
//! [`rvp_proto::codec::write_response`] (exact header spelling, `Content-Length`, never
//! chunked, `RVP-Notifications-Version: 0.2`, Exchange reason phrases). A handler that
//! wants the connection closed after its answer sets `Connection: close`; one that knows
//! who the caller is inserts a [`LogPrincipal`] extension for the protocol log.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;
use rvp_proto::Method;
use rvp_proto::codec::TypedRequest;

/// Identifies one accepted TCP connection for the life of the process (NTLM, which
/// authenticates connections rather than requests, keys its state on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// Our address the client connected to.
    pub local: SocketAddr,
    /// The connection.
    pub connection: ConnectionId,
}

impl Peer {
    /// A peer description (for handlers driven outside a real connection, e.g. tests).
    pub fn new(addr: SocketAddr, local: SocketAddr, connection: ConnectionId) -> Peer {
        Peer {
            addr,
            local,
            connection,
        }
    }
}

/// One well-formed RVP request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Request {
    /// The method (always one of the seven: others were answered `501`/`405` already).
    pub method: Method,
    /// Method, request-target and every RVP header, typed (boxed: the request moves from
    /// the connection through the handler to the engine task, a pointer instead of
    /// hundreds of bytes each time).
    pub typed: Box<TypedRequest>,
    /// The whole request as received, head and body: the connection's buffer, shared, not
    /// copied. Other headers are read from it when asked ([`Request::header`]).
    wire: Bytes,
    /// Where the head ends (the body starts).
    head_len: usize,
    /// The request-target as received (a range of `wire`).
    target: std::ops::Range<usize>,
    /// The value of the first `Authorization` header (a range of `wire`), noted when the
    /// head was parsed.
    authorization: Option<std::ops::Range<usize>>,
}

impl Request {
    /// A request over `wire`, the bytes of exactly one request whose head `head` (of the
    /// same bytes) was typed as `typed`.
    pub(crate) fn new(
        method: Method,
        typed: Box<TypedRequest>,
        wire: Bytes,
        head_len: usize,
        target: std::ops::Range<usize>,
        authorization: Option<std::ops::Range<usize>>,
    ) -> Request {
        Request {
            method,
            typed,
            wire,
            head_len,
            target,
            authorization,
        }
    }

    /// Builds a request from raw bytes holding exactly one request (tests, replay tools).
    /// `None` if the bytes are not one complete, well-formed RVP request.
    pub fn from_wire(wire: &[u8]) -> Option<Request> {
        let mut parser = rvp_proto::codec::RequestParser::default();
        let msg = parser.parse(wire).ok()?.complete()?;
        let method = msg.head().method()?;
        let typed = msg.head().typed_lenient().ok()?;
        let target = range_in(wire, msg.head().target().as_bytes());
        let authorization = msg.head().authorization().map(|v| range_in(wire, v));
        Some(Request::new(
            method,
            Box::new(typed),
            Bytes::copy_from_slice(&wire[..msg.consumed()]),
            msg.head().head_len(),
            target,
            authorization,
        ))
    }

    /// The value of the first `Authorization` header (what [`Request::header`] gives for
    /// it), found when the head was parsed: no second walk over the head.
    pub fn authorization(&self) -> Option<&[u8]> {
        self.authorization.clone().map(|r| &self.wire[r])
    }

    /// The body.
    pub fn body(&self) -> Bytes {
        self.wire.slice(self.head_len..)
    }

    /// The request-target exactly as received (what a Digest `uri` answers for).
    pub fn target(&self) -> &str {
        std::str::from_utf8(&self.wire[self.target.clone()]).unwrap_or("")
    }

    /// Bytes the request occupied on the wire (head and body).
    pub fn wire_len(&self) -> usize {
        self.wire.len()
    }

    /// The whole request as received.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }

    /// The value of the first header called `name` (ASCII case-insensitive), surrounding
    /// whitespace removed. Read from the head when asked: the connection builds no header
    /// map per request.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        let head = &self.wire[..self.head_len];
        let name = name.as_bytes();
        let n = name.len();
        // Line by line after the request line; a line is the header when its first colon
        // follows exactly `name` (checked without looking for the colon first: `name`
        // holds none).
        let mut rest = &head[memchr::memchr(b'\n', head)? + 1..];
        loop {
            let end = memchr::memchr(b'\n', rest);
            let line = &rest[..end.unwrap_or(rest.len())];
            if line.len() > n && line[n] == b':' && line[..n].eq_ignore_ascii_case(name) {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                return Some(line[n + 1..].trim_ascii());
            }
            rest = &rest[end? + 1..];
        }
    }

    /// The request as an [`http::Request`] (parsed again from the bytes): for the router's
    /// proxying, which forwards every header.
    pub fn to_http(&self) -> Option<http::Request<Bytes>> {
        let mut parser = rvp_proto::codec::RequestParser::default();
        let msg = parser.parse(&self.wire).ok()?.complete()?;
        let parts = msg.to_http().ok()?.into_parts().0;
        Some(http::Request::from_parts(parts, self.body()))
    }
}

/// The range `part` (a sub-slice of `whole`) occupies in `whole`.
pub(crate) fn range_in(whole: &[u8], part: &[u8]) -> std::ops::Range<usize> {
    let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
    let start = start.min(whole.len());
    start..(start + part.len()).min(whole.len())
}

/// A response whose bytes are written exactly as held (a relayed answer): the connection
/// writes these instead of rendering the `http::Response` it is attached to.
#[derive(Debug, Clone)]
pub struct RawResponse(pub Bytes);

/// The answer to a request. Serialised by the connection loop with
/// [`rvp_proto::codec::write_response`] (which adds `Content-Length` and
/// `RVP-Notifications-Version`).
pub type Response = http::Response<Bytes>;

/// Response extension: the principal the request was made by, for the protocol log's
/// principal column (e.g. the Digest user name). Absent = `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogPrincipal(pub Arc<str>);

/// The request seam between the connection loop and the server's logic.
///
/// Called once per RVP request, in order per connection (a pipelined request is handed
/// over only once the previous answer is decided: RVP requests change state, so they are
/// not processed concurrently within one connection). Different connections call it
/// concurrently, hence `&self` and `Sync`.
///
/// `now` is the instant the request was completely received; time-based logic uses it
/// rather than reading the clock.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(
        &self,
        peer: Peer,
        request: Request,
        now: Instant,
    ) -> impl Future<Output = Response> + Send;
}

impl<H: Handler> Handler for Arc<H> {
    fn handle(
        &self,
        peer: Peer,
        request: Request,
        now: Instant,
    ) -> impl Future<Output = Response> + Send {
        (**self).handle(peer, request, now)
    }
}

/// A response with `status`, the Exchange reason phrase and an empty body.
pub fn empty_response(status: StatusCode) -> Response {
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = status;
    res
}

/// A response with `status` and a short `text/plain` explanation (for errors found by the
/// server itself: the message says what broke).
pub fn text_response(status: StatusCode, message: impl Into<String>) -> Response {
    let mut text = message.into();
    text.push_str("\r\n");
    let mut res = Response::new(Bytes::from(text));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// A stand-in handler with no engine behind it: every RVP request gets
/// `503 Service Unavailable` with a body saying so. For exercising the listener, limits,
/// log and shutdown on their own (tests, benchmarks of the connection layer); the server's
/// handler is [`RvpService`](crate::home::RvpService).
#[derive(Debug, Clone, Copy, Default)]
pub struct NotWired;

impl Handler for NotWired {
    async fn handle(&self, _peer: Peer, request: Request, _now: Instant) -> Response {
        text_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} {}: no presence engine is wired into this listener",
                request.method,
                request.target()
            ),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Headers are read from the bytes as received: case-insensitive names, trimmed
    /// values, the first of two, bare-LF heads; the target is the raw request-target and
    /// the body shares the bytes.
    #[test]
    fn headers_target_and_body_from_the_wire() {
        let r = Request::from_wire(
            b"NOTIFY http://Example.com/instmsg/aliases/bob HTTP/1.1\r\nHost: example.com\r\n\
              authorization:   Digest username=\"a\"  \r\nX-Forwarded-For: 10.0.0.1\r\n\
              X-Forwarded-For: 10.0.0.2\r\nContent-Length: 2\r\n\r\nhi",
        )
        .unwrap();
        assert_eq!(
            r.header("Authorization"),
            Some(&b"Digest username=\"a\""[..])
        );
        assert_eq!(r.header("x-forwarded-for"), Some(&b"10.0.0.1"[..]));
        assert_eq!(r.header("cookie"), None);
        assert_eq!(r.target(), "http://Example.com/instmsg/aliases/bob");
        assert_eq!(r.body().as_ref(), b"hi");
        assert_eq!(r.wire_len(), r.wire().len());
        let http = r.to_http().unwrap();
        assert_eq!(http.headers().get_all("x-forwarded-for").iter().count(), 2);
        assert_eq!(http.body().as_ref(), b"hi");
        let lf = Request::from_wire(
            b"PROPFIND /instmsg/aliases/bob HTTP/1.1\nHost: h\nDepth: 0\nContent-Length: 0\n\n",
        )
        .unwrap();
        assert_eq!(lf.header("depth"), Some(&b"0"[..]));
        assert_eq!(lf.target(), "/instmsg/aliases/bob");
    }

    /// What `Request::header` answered before it skipped the colon search: the first line
    /// (after the request line) whose text before its first colon is `name`.
    fn header_by_lines<'a>(head: &'a [u8], name: &str) -> Option<&'a [u8]> {
        head.split(|&b| b == b'\n').skip(1).find_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = line.iter().position(|&b| b == b':')?;
            line[..colon]
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| line[colon + 1..].trim_ascii())
        })
    }

    proptest::proptest! {
        /// `Request::header` answers what the line-by-line reading answers, on heads made
        /// of header-like lines (names near the looked-up ones, colons, CR, LF, spaces).
        #[test]
        fn header_lookup_matches_line_reading(
            lines in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        "Authorization", "authorization", "X-Forwarded-For", "Host", "Auth",
                        "AUTHORIZATION ", ":", ": ", " ", "\t", "\r", "\n", "Digest x", "1.2.3.4",
                        ",", "\u{0b}", "é",
                    ]),
                    0..5,
                ),
                0..8,
            ),
            name in proptest::sample::select(vec!["authorization", "x-forwarded-for", "host", "x"]),
        ) {
            let mut wire = b"NOTIFY /instmsg/aliases/bob HTTP/1.1\r\n".to_vec();
            for l in &lines {
                wire.extend_from_slice(l.concat().as_bytes());
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"\r\n");
            let head_len = wire.len();
            let r = Request::new(
                Method::Notify,
                Request::from_wire(b"NOTIFY /instmsg/aliases/bob HTTP/1.1\r\n\r\n").unwrap().typed,
                Bytes::from(wire.clone()),
                head_len,
                0..0,
                None,
            );
            proptest::prop_assert_eq!(r.header(name), header_by_lines(&wire, name));
            // The value noted at parse time is the one read from the lines.
            let mut framed = wire.clone();
            framed.truncate(framed.len() - 2);
            framed.extend_from_slice(b"Content-Length: 0\r\n\r\n");
            if let Some(parsed) = Request::from_wire(&framed) {
                proptest::prop_assert_eq!(parsed.authorization(), parsed.header("authorization"));
            }
        }
    }

    #[test]
    fn from_wire() {
        let r = Request::from_wire(
            b"NOTIFY /instmsg/aliases/bob HTTP/1.1\nHost: localhost\nContent-Length: 2\n\nhi",
        )
        .unwrap();
        assert_eq!(r.method, Method::Notify);
        assert_eq!(r.body().as_ref(), b"hi");
        assert_eq!(r.typed.target.path.alias(), Some("bob"));
        assert!(Request::from_wire(b"GET / HTTP/1.1\r\n\r\n").is_none());
        assert!(Request::from_wire(b"NOTIFY / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab").is_none());
    }

    #[tokio::test]
    async fn not_wired_says_so() {
        let r = Request::from_wire(b"ACL /instmsg/aliases/a HTTP/1.1\r\n\r\n").unwrap();
        let a: SocketAddr = ([127, 0, 0, 1], 1).into();
        let res = NotWired
            .handle(Peer::new(a, a, ConnectionId(1)), r, Instant::now())
            .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(String::from_utf8_lossy(res.body()).contains("no presence engine"));
    }
}
