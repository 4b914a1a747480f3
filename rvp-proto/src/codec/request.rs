//! Request parsing.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};

use super::head::{self, Headers};
use super::limits::MAX_HEADERS_CAP;
use super::scan::{self, Field, OnHeader};
use super::{Limits, ParseError, Status};
use crate::header::{FastAdd, HeaderError, RvpField, RvpHeaderSet, RvpHeaders, RvpHeadersRef};
use crate::method::{Method, MethodClass};
use crate::url::{NodePathRef, RequestTarget, RequestTargetRef, fast_target_ref, parse_target_ref};

/// An incremental request parser. Keep one per connection (it holds the limits); parsing
/// allocates nothing. Parsed messages borrow the parser and the buffer.
#[derive(Debug, Clone, Default)]
pub struct RequestParser {
    limits: Limits,
}

impl RequestParser {
    /// A parser with the given limits.
    pub fn new(limits: Limits) -> RequestParser {
        RequestParser { limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Parses one request from the start of `buf`.
    ///
    /// `Ok(Status::Partial)` means the message is incomplete: read more bytes, append them
    /// and call again with the whole buffer. On `Complete`, the message occupies
    /// `consumed()` bytes; anything after belongs to the next message.
    pub fn parse<'p, 'b>(
        &'p mut self,
        buf: &'b [u8],
    ) -> Result<Status<ParsedRequest<'p, 'b>>, ParseError> {
        let limits = self.limits;
        let window = head::head_window(buf, &limits);
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
        let mut req = httparse::Request::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut req,
            window,
            &mut slots[..limits.header_slots()],
        );
        let head_len = match parsed.map_err(|e| head::syntax_error(e, &limits))? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => {
                head::partial_head(buf, &limits)?;
                return Ok(Status::Partial);
            }
        };
        let framing = head::framing(buf, req.headers)?;
        let body_len = framing.content_length.unwrap_or(0);
        head::check_body_len(body_len, &limits)?;
        let Some(end) = head_len.checked_add(body_len).filter(|&e| e <= buf.len()) else {
            return Ok(Status::Partial);
        };
        let head = RequestHead {
            method: req.method.unwrap_or(""),
            target: req.path.unwrap_or(""),
            minor_version: req.version.unwrap_or(1),
            headers: Headers::lines(
                buf,
                head::headers_start(buf, req.headers),
                req.headers.len(),
            ),
            host: framing.host.map(|r| head::slice(buf, r)),
            head_len,
            gathered: None,
        };
        Ok(Status::Complete(ParsedRequest {
            head,
            body: &buf[head_len..end],
        }))
    }
}

impl RequestParser {
    /// Parses one request from the start of `buf` **and types its head in the same pass**:
    /// the hot path of a server. Framing is exactly [`RequestParser::parse`]'s (same
    /// `Partial`, same errors, same message), but done by a head scanner of our own that
    /// frames like httparse and hands over each header line as soon as it has found it;
    /// the typed view is exactly what [`RequestHead::view`] gives, but computed during
    /// that scan, with the
    /// common value shapes (logical and local-node URLs, `/instmsg/aliases/<alias>` and `/`
    /// targets, plain `Host`) recognised in one pass over their bytes. Anything unusual is
    /// handed to the general typing code, so the result never differs. Allocates nothing
    /// (unless a URL has percent-escapes or the `Notification-Type` is an extension, as with
    /// `view`).
    ///
    /// A message whose framing is fine but whose RVP header or target is malformed is still
    /// `Complete`: [`TypedParsedRequest::view`] then reports the error (answer `400` and
    /// keep the connection).
    ///
    /// ```
    /// use rvp_proto::codec::{RequestParser, Status};
    /// use rvp_proto::header::{AckType, FromPrincipalRef};
    /// use rvp_proto::{Method, MethodClass};
    ///
    /// let wire = b"NOTIFY /instmsg/aliases/bob HTTP/1.1\r\nHost: localhost\r\n\
    ///              RVP-From-Principal: http://localhost/instmsg/aliases/alice\r\n\
    ///              RVP-Ack-Type: DeepOr\r\nContent-Length: 2\r\n\r\nhi";
    /// let mut parser = RequestParser::default();
    /// let Status::Complete(msg) = parser.parse_typed(wire)? else { panic!("complete") };
    /// let view = msg.view()?;
    /// assert_eq!(view.method, MethodClass::Rvp(Method::Notify));
    /// assert_eq!(view.target.alias(), Some("bob"));
    /// assert_eq!(view.rvp.ack_type(), AckType::DeepOr);
    /// let Some(FromPrincipalRef::Url(from)) = &view.rvp.from_principal else { panic!("a URL") };
    /// assert_eq!(from.alias(), Some("alice"));
    /// assert_eq!(msg.body(), b"hi");
    /// assert_eq!(view.to_typed(), msg.head().typed()?);
    /// # Ok::<(), rvp_proto::codec::ParseError>(())
    /// ```
    #[inline(always)]
    pub fn parse_typed<'p, 'b>(
        &'p mut self,
        buf: &'b [u8],
    ) -> Result<Status<TypedParsedRequest<'p, 'b>>, ParseError> {
        // The result is a few hundred bytes: it is built in place in `ret` and filled in
        // rather than assembled and moved.
        let mut ret = Ok(Status::Partial);
        if let Err(e) = self.parse_typed_into(buf, &mut ret) {
            ret = Err(e);
        }
        ret
    }

    /// [`RequestParser::parse_typed`], writing into `ret` (left `Ok(Partial)` when more
    /// bytes are needed).
    #[inline(always)]
    fn parse_typed_into<'p, 'b>(
        &'p mut self,
        buf: &'b [u8],
        ret: &mut Result<Status<TypedParsedRequest<'p, 'b>>, ParseError>,
    ) -> Result<(), ParseError> {
        let limits = self.limits;
        let window = head::head_window(buf, &limits);
        *ret = Ok(Status::Complete(TypedParsedRequest {
            message: ParsedRequest {
                head: RequestHead {
                    method: "",
                    target: "",
                    minor_version: 1,
                    headers: Headers::lines(buf, 0, 0),
                    host: None,
                    head_len: 0,
                    gathered: None,
                },
                body: &[],
            },
            view: Ok(RequestView {
                method: MethodClass::NotImplemented,
                target: RequestTargetRef {
                    authority: None,
                    absolute: false,
                    path: NodePathRef::Root,
                },
                rvp: RvpHeadersRef::default(),
            }),
        }));
        let Ok(Status::Complete(out)) = ret else {
            return Ok(());
        };
        // Framing and RVP typing of each header line as the scanner finds it.
        let mut typing = Typing {
            rvp: out.view.as_mut().ok().map(|v| &mut v.rvp),
            content_length: None,
            host: None,
            gathered: Gathered::default(),
            framing: Ok(()),
        };
        let scanned = scan::scan(window, limits.header_slots(), &mut typing);
        let scanned = match scanned.map_err(|e| head::syntax_error(e, &limits))? {
            Status::Complete(h) => h,
            Status::Partial => {
                *ret = Ok(Status::Partial);
                return head::partial_head(buf, &limits);
            }
        };
        let Typing {
            rvp,
            content_length,
            host,
            gathered,
            framing,
        } = typing;
        framing?;
        let fast = rvp.is_some();
        let body_len = content_length.unwrap_or(0);
        head::check_body_len(body_len, &limits)?;
        let head_len = scanned.head_len;
        let Some(end) = head_len.checked_add(body_len).filter(|&e| e <= buf.len()) else {
            *ret = Ok(Status::Partial);
            return Ok(());
        };
        out.message.head = RequestHead {
            method: scanned.method,
            target: scanned.target,
            minor_version: scanned.minor_version,
            headers: Headers::lines(buf, scanned.headers_start, scanned.headers_len),
            host,
            head_len,
            gathered: Some(gathered),
        };
        out.message.body = &buf[head_len..end];
        let fast_target = if fast {
            fast_target_ref(scanned.target, host)
        } else {
            None
        };
        match (fast_target, &mut out.view) {
            (Some(t), Ok(view)) => {
                view.method = MethodClass::classify(scanned.method.as_bytes());
                view.target = t;
            }
            _ => out.view = out.message.head.view(),
        }
        Ok(())
    }
}

/// **Not a stable API** (hidden from the documentation): the request-head scanner of
/// [`RequestParser::parse_typed`] on its own, for the differential fuzz target and tests
/// that compare it with httparse. Frames the head at the start of `buf` with at most
/// `max_headers` header lines, exactly as httparse's `Request::parse` does with that many
/// header slots: same outcome, same error kind, same head. No limit other than
/// `max_headers` applies and nothing is typed; `host()` is the first `Host` header.
#[doc(hidden)]
pub fn scan_request_head<'b>(
    buf: &'b [u8],
    max_headers: usize,
) -> Result<Status<RequestHead<'static, 'b>>, httparse::Error> {
    let mut host = FirstHost(None);
    let scanned = scan::scan(buf, max_headers, &mut host)?;
    let host = host.0;
    Ok(match scanned {
        Status::Partial => Status::Partial,
        Status::Complete(h) => Status::Complete(RequestHead {
            method: h.method,
            target: h.target,
            minor_version: h.minor_version,
            headers: Headers::lines(buf, h.headers_start, h.headers_len),
            host,
            head_len: h.head_len,
            gathered: None,
        }),
    })
}

/// What [`RequestParser::parse_typed`] gathers from the header lines while they are
/// scanned: the framing headers and the RVP headers, typed.
struct Typing<'r, 'b> {
    /// `None` once a header needs the general typing code.
    rvp: Option<&'r mut RvpHeadersRef<'b>>,
    content_length: Option<usize>,
    /// The first `Host`.
    host: Option<&'b [u8]>,
    /// The `Connection` options and the first `Authorization`.
    gathered: Gathered<'b>,
    /// The first framing error; reported only if the head is complete (a syntax error or a
    /// partial head later on takes precedence, as in `parse`).
    framing: Result<(), ParseError>,
}

impl<'b> OnHeader<'b> for &mut Typing<'_, 'b> {
    #[inline(always)]
    fn header(&mut self, field: Field, _name: &'b [u8], value: &'b [u8]) {
        if self.framing.is_err() {
            return;
        }
        match field {
            Field::ContentLength => match head::parse_content_length(value) {
                Ok(n) => match self.content_length {
                    Some(old) if old != n => {
                        self.framing = Err(ParseError::ConflictingContentLength);
                    }
                    _ => self.content_length = Some(n),
                },
                Err(e) => self.framing = Err(e),
            },
            Field::TransferEncoding => {
                self.framing = Err(ParseError::TransferEncoding(
                    String::from_utf8_lossy(value).into_owned(),
                ));
            }
            Field::Host => {
                if self.host.is_none() {
                    self.host = Some(value);
                }
            }
            Field::Connection => self.gathered.connection.add(value),
            Field::Authorization => {
                if self.gathered.authorization.is_none() {
                    self.gathered.authorization = Some(value);
                }
            }
            Field::Rvp(f) => {
                if let Some(r) = self.rvp.as_deref_mut()
                    && r.add_field(f, value) == FastAdd::Slow
                {
                    self.rvp = None;
                }
            }
            Field::Other => {}
        }
    }
}

/// The first `Host` header, for [`scan_request_head`].
struct FirstHost<'b>(Option<&'b [u8]>);

impl<'b> OnHeader<'b> for &mut FirstHost<'b> {
    #[inline(always)]
    fn header(&mut self, field: Field, _name: &'b [u8], value: &'b [u8]) {
        if field == Field::Host && self.0.is_none() {
            self.0 = Some(value);
        }
    }
}

/// A request framed and typed in one pass by [`RequestParser::parse_typed`]: the message
/// (as [`RequestParser::parse`] gives it) and its typed view (as [`RequestHead::view`]
/// gives it).
#[derive(Debug, Clone)]
pub struct TypedParsedRequest<'p, 'b> {
    message: ParsedRequest<'p, 'b>,
    view: Result<RequestView<'b>, ParseError>,
}

impl<'p, 'b> TypedParsedRequest<'p, 'b> {
    /// The framed message.
    pub fn message(&self) -> &ParsedRequest<'p, 'b> {
        &self.message
    }

    /// The head, untyped (raw headers, method token...).
    pub fn head(&self) -> &RequestHead<'p, 'b> {
        &self.message.head
    }

    /// The body (`Content-Length` bytes).
    pub fn body(&self) -> &'b [u8] {
        self.message.body
    }

    /// How many bytes of the buffer this message occupies (head + body).
    pub fn consumed(&self) -> usize {
        self.message.consumed()
    }

    /// The typed head, or what is malformed in it (exactly [`RequestHead::view`]'s result).
    pub fn view(&self) -> Result<&RequestView<'b>, ParseError> {
        self.view.as_ref().map_err(Clone::clone)
    }

    /// The head typed in the lenient mode ([`RequestHead::typed_lenient`]): the typed view
    /// made while scanning when it succeeded, else the lenient typing of the head (only
    /// a message with a malformed header pays for a second pass).
    pub fn typed_lenient(&self) -> Result<TypedRequest, ParseError> {
        match &self.view {
            Ok(view) => Ok(view.to_typed()),
            Err(ParseError::Header(e)) if is_decided_by_method(e) => {
                self.message.head.typed_lenient()
            }
            Err(e) => Err(e.clone()),
        }
    }

    /// The message and the typed head (or its error), by value.
    pub fn into_parts(self) -> (ParsedRequest<'p, 'b>, Result<RequestView<'b>, ParseError>) {
        (self.message, self.view)
    }
}

/// A complete request: zero-copy head and body.
#[derive(Debug, Clone, Copy)]
pub struct ParsedRequest<'p, 'b> {
    head: RequestHead<'p, 'b>,
    body: &'b [u8],
}

impl<'p, 'b> ParsedRequest<'p, 'b> {
    /// The head.
    pub fn head(&self) -> &RequestHead<'p, 'b> {
        &self.head
    }

    /// The body (`Content-Length` bytes).
    pub fn body(&self) -> &'b [u8] {
        self.body
    }

    /// How many bytes of the buffer this message occupies (head + body).
    pub fn consumed(&self) -> usize {
        self.head.head_len + self.body.len()
    }

    /// Copies the request into an [`http::Request`].
    pub fn to_http(&self) -> Result<http::Request<Bytes>, ParseError> {
        let parts = self.head.http_parts()?;
        Ok(http::Request::from_parts(
            parts,
            Bytes::copy_from_slice(self.body),
        ))
    }
}

/// A request head: a zero-copy view of the start line and the headers.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'p, 'b> {
    method: &'b str,
    target: &'b str,
    minor_version: u8,
    headers: Headers<'p, 'b>,
    host: Option<&'b [u8]>,
    head_len: usize,
    /// What [`RequestParser::parse_typed`] noted while scanning (`None`: the other
    /// parsers, whose callers read the headers again).
    gathered: Option<Gathered<'b>>,
}

/// Headers [`RequestParser::parse_typed`] notes as it scans, so that a server does not
/// walk the head again for them.
#[derive(Debug, Clone, Copy, Default)]
struct Gathered<'b> {
    connection: ConnectionOptions,
    authorization: Option<&'b [u8]>,
}

/// The persistence options of a message's `Connection` headers (RFC 9112 §9.3): whether
/// any of them lists `close`, and whether any lists `keep-alive` (HTTP/1.0), every
/// `Connection` header and comma-separated option counted, in any case.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ConnectionOptions {
    /// An option `close`.
    pub close: bool,
    /// An option `keep-alive`.
    pub keep_alive: bool,
}

impl ConnectionOptions {
    /// Adds the options of one `Connection` header value.
    fn add(&mut self, value: &[u8]) {
        for option in value.split(|&b| b == b',') {
            let option = option.trim_ascii();
            self.close |= option.eq_ignore_ascii_case(b"close");
            self.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
        }
    }
}

impl<'p, 'b> RequestHead<'p, 'b> {
    /// The method token exactly as received.
    pub fn method_token(&self) -> &'b str {
        self.method
    }

    /// How a server must treat the method (RVP method, 405, or 501).
    pub fn method_class(&self) -> MethodClass {
        MethodClass::classify(self.method.as_bytes())
    }

    /// The RVP method, if the token is one.
    pub fn method(&self) -> Option<Method> {
        Method::from_token(self.method.as_bytes())
    }

    /// The request-target exactly as received.
    pub fn target(&self) -> &'b str {
        self.target
    }

    /// The HTTP minor version (`1` for HTTP/1.1, `0` for HTTP/1.0).
    pub fn minor_version(&self) -> u8 {
        self.minor_version
    }

    /// The headers.
    pub fn headers(&self) -> &Headers<'p, 'b> {
        &self.headers
    }

    /// The first `Host` header, if any.
    pub fn host(&self) -> Option<&'b [u8]> {
        self.host
    }

    /// Length of the head in bytes (start of the body).
    pub fn head_len(&self) -> usize {
        self.head_len
    }

    /// The options of the `Connection` headers. Noted while scanning by
    /// [`RequestParser::parse_typed`]; read from the headers otherwise.
    pub fn connection_options(&self) -> ConnectionOptions {
        if let Some(g) = &self.gathered {
            return g.connection;
        }
        let mut options = ConnectionOptions::default();
        for (name, value) in self.headers.iter_raw() {
            if name.eq_ignore_ascii_case(b"connection") {
                options.add(value);
            }
        }
        options
    }

    /// The value of the first `Authorization` header, if any (surrounding spaces and tabs
    /// removed). Noted while scanning by [`RequestParser::parse_typed`]; read from the
    /// headers otherwise.
    pub fn authorization(&self) -> Option<&'b [u8]> {
        match &self.gathered {
            Some(g) => g.authorization,
            None => self.headers.get("authorization"),
        }
    }

    /// Types the head without allocating: method class, request-target and every RVP
    /// header, borrowed from the buffer. This is the hot path a server runs per request.
    ///
    /// Errors name what is malformed: [`ParseError::Target`] for the target or `Host`,
    /// [`ParseError::Header`] for an RVP header. Callers that answer unknown methods with
    /// `501`/`405` should check [`RequestHead::method_class`] first.
    pub fn view(&self) -> Result<RequestView<'b>, ParseError> {
        let host = match self.host {
            Some(h) => Some(std::str::from_utf8(h).map_err(|_| {
                ParseError::Target(crate::url::UrlError::InvalidHost(
                    String::from_utf8_lossy(h).into_owned(),
                ))
            })?),
            None => None,
        };
        let target = parse_target_ref(self.target, host)?;
        let mut rvp = RvpHeadersRef::default();
        for (name, value) in self.headers.iter_raw() {
            rvp.add_raw(name, value)?;
        }
        Ok(RequestView {
            method: self.method_class(),
            target,
            rvp,
        })
    }

    /// Types the head into owned, canonical values ([`RequestHead::view`], then owned).
    pub fn typed(&self) -> Result<TypedRequest, ParseError> {
        Ok(self.view()?.to_typed())
    }

    /// Types the head as [`RequestHead::typed`] does, in the lenient mode PROTOCOL.md §2
    /// gives the methods: a malformed or repeated `Call-Back`, `Notification-Type`,
    /// `Subscription-Id` or `Depth` is left absent and listed in
    /// [`TypedRequest::unusable`] (the method answers it, mostly `412`); anything else
    /// malformed is an error (`400`). This is what a server hands its presence engine.
    pub fn typed_lenient(&self) -> Result<TypedRequest, ParseError> {
        let host = match self.host {
            Some(h) => Some(std::str::from_utf8(h).map_err(|_| {
                ParseError::Target(crate::url::UrlError::InvalidHost(
                    String::from_utf8_lossy(h).into_owned(),
                ))
            })?),
            None => None,
        };
        let target = crate::url::parse_target(self.target, host)?;
        let mut rvp = RvpHeaders::default();
        let mut unusable = RvpHeaderSet::default();
        for (name, value) in self.headers.iter_raw() {
            // Header names are tokens (ASCII) once framed; a non-UTF-8 name is no RVP header.
            // Only the RVP headers' names are needed as text: the others are passed over
            // without a UTF-8 check each.
            if RvpField::from_name(name).is_some()
                && let Ok(name) = std::str::from_utf8(name)
            {
                rvp.add_lenient(name, value, &mut unusable)?;
            }
        }
        Ok(TypedRequest {
            method: self.method_class(),
            target,
            rvp,
            unusable,
        })
    }

    fn http_parts(&self) -> Result<http::request::Parts, ParseError> {
        let method = http::Method::from_bytes(self.method.as_bytes())
            .map_err(|_| ParseError::Http(format!("invalid method {:?}", self.method)))?;
        let uri: http::Uri = self
            .target
            .parse()
            .map_err(|_| ParseError::Http(format!("invalid request-target {:?}", self.target)))?;
        let mut req = http::Request::new(());
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.version_mut() = if self.minor_version == 0 {
            http::Version::HTTP_10
        } else {
            http::Version::HTTP_11
        };
        *req.headers_mut() = self.headers.to_header_map()?;
        Ok(req.into_parts().0)
    }
}

/// A request head with everything RVP cares about typed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TypedRequest {
    /// The method, classified.
    pub method: MethodClass,
    /// The request-target (authority from an absolute target or `Host`).
    pub target: RequestTarget,
    /// Every RVP header.
    pub rvp: RvpHeaders,
    /// RVP headers present but unusable, left out of `rvp` (only from the lenient typing,
    /// [`RequestHead::typed_lenient`]; always empty from the strict one).
    pub unusable: RvpHeaderSet,
}

impl TypedRequest {
    /// Types an [`http::Request`] the way [`RequestHead::typed_lenient`] types a parsed
    /// head: for embedders (and tests) that hold requests as `http` values. The
    /// request-target is the URI (absolute or origin form) with the `Host` header.
    pub fn from_http<B>(req: &http::Request<B>) -> Result<TypedRequest, ParseError> {
        let host = match req.headers().get(http::header::HOST) {
            Some(h) => Some(h.to_str().map_err(|_| {
                ParseError::Target(crate::url::UrlError::InvalidHost(
                    String::from_utf8_lossy(h.as_bytes()).into_owned(),
                ))
            })?),
            None => None,
        };
        let uri = req.uri();
        let raw_target = if uri.scheme().is_some() {
            std::borrow::Cow::Owned(uri.to_string())
        } else {
            std::borrow::Cow::Borrowed(uri.path_and_query().map_or("/", |p| p.as_str()))
        };
        let target = crate::url::parse_target(&raw_target, host)?;
        let mut rvp = RvpHeaders::default();
        let mut unusable = RvpHeaderSet::default();
        for (name, value) in req.headers() {
            rvp.add_lenient(name.as_str(), value.as_bytes(), &mut unusable)?;
        }
        Ok(TypedRequest {
            method: MethodClass::classify(req.method().as_str().as_bytes()),
            target,
            rvp,
            unusable,
        })
    }
}

/// Whether a header error is one the lenient mode leaves to the method.
fn is_decided_by_method(e: &HeaderError) -> bool {
    RvpField::from_name(e.header().as_bytes()).is_some_and(RvpField::decided_by_method)
}

/// A request head typed without allocating, borrowed from the buffer (see
/// [`RequestHead::view`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestView<'b> {
    /// The method, classified.
    pub method: MethodClass,
    /// The validated request-target.
    pub target: RequestTargetRef<'b>,
    /// Every RVP header, validated.
    pub rvp: RvpHeadersRef<'b>,
}

impl RequestView<'_> {
    /// The owned, canonical form.
    pub fn to_typed(&self) -> TypedRequest {
        TypedRequest {
            method: self.method,
            target: self.target.to_request_target(),
            rvp: self.rvp.to_rvp_headers(),
            unusable: RvpHeaderSet::default(),
        }
    }
}

/// Parses one request from the front of `buf` and, when complete, splits it off as an
/// [`http::Request`] whose body shares `buf`'s allocation (no copy).
///
/// `Ok(None)` means more bytes are needed; `buf` is then left untouched.
pub fn decode_request(
    parser: &mut RequestParser,
    buf: &mut BytesMut,
) -> Result<Option<http::Request<Bytes>>, ParseError> {
    let (parts, head_len, consumed) = match parser.parse(buf)? {
        Status::Partial => return Ok(None),
        Status::Complete(msg) => (msg.head.http_parts()?, msg.head.head_len, msg.consumed()),
    };
    let body = buf.split_to(consumed).freeze().slice(head_len..);
    Ok(Some(http::Request::from_parts(parts, body)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::header::{AckType, HopCount, NotificationType};
    use crate::url::NodePath;

    fn complete<'p, 'b>(p: &'p mut RequestParser, b: &'b [u8]) -> ParsedRequest<'p, 'b> {
        match p.parse(b).unwrap() {
            Status::Complete(m) => m,
            Status::Partial => panic!("partial: {:?}", String::from_utf8_lossy(b)),
        }
    }

    #[test]
    fn bare_lf_and_header_case() {
        let wire = b"SUBSCRIBE /instmsg/aliases/Bob HTTP/1.1\ncontent-LENGTH: 0\nrvp-hop-count: 3\nhost: LocalHost\nNOTIFICATION-TYPE: pragma/notify\n\n";
        let mut p = RequestParser::default();
        let m = complete(&mut p, wire);
        assert_eq!(m.consumed(), wire.len());
        let t = m.head().typed().unwrap();
        assert_eq!(t.method, MethodClass::Rvp(Method::Subscribe));
        assert_eq!(t.target.path, NodePath::Alias("bob".into()));
        assert_eq!(t.target.authority.as_deref(), Some("localhost"));
        assert_eq!(t.rvp.hop_count, HopCount::new(3));
        assert_eq!(t.rvp.notification_type, Some(NotificationType::Notify));
        assert_eq!(t.rvp.ack_type(), AckType::SingleHop);
    }

    #[test]
    fn mixed_line_endings() {
        let wire = b"ACL /instmsg/aliases/a HTTP/1.1\r\nHost: h\nContent-Length: 1\r\n\nx";
        let mut p = RequestParser::default();
        assert_eq!(complete(&mut p, wire).body(), b"x");
    }

    #[test]
    fn pipelined() {
        let one = b"UNSUBSCRIBE /instmsg/aliases/a HTTP/1.1\r\nSubscription-Id: 5\r\nContent-Length: 0\r\n\r\n";
        let mut wire = one.to_vec();
        wire.extend_from_slice(b"NOTIFY / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        let mut p = RequestParser::default();
        let n = complete(&mut p, &wire).consumed();
        assert_eq!(n, one.len());
        let m = complete(&mut p, &wire[n..]);
        assert_eq!(
            (m.head().method(), m.body()),
            (Some(Method::Notify), &b"abc"[..])
        );
    }

    #[test]
    fn limits_are_enforced() {
        let wire = b"NOTIFY / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 10\r\n\r\n";
        let mut p = RequestParser::new(Limits::default().with_max_headers(3));
        assert_eq!(
            p.parse(wire).unwrap_err(),
            ParseError::TooManyHeaders { limit: 3 }
        );
        let mut p = RequestParser::new(Limits::default().with_max_body_bytes(9));
        assert_eq!(
            p.parse(wire).unwrap_err(),
            ParseError::BodyTooLarge {
                length: 10,
                limit: 9
            }
        );
        let mut p = RequestParser::new(Limits::default().with_max_head_bytes(20));
        assert_eq!(
            p.parse(wire).unwrap_err(),
            ParseError::HeadTooLarge { limit: 20 }
        );
        // A partial head already over the limit is rejected without waiting for more.
        assert_eq!(
            p.parse(&wire[..30]).unwrap_err(),
            ParseError::HeadTooLarge { limit: 20 }
        );
        // The header-count limit is capped at MAX_HEADERS_CAP.
        let many: String = (0..70).map(|i| format!("X-{i}: v\r\n")).collect();
        let big = format!("NOTIFY / HTTP/1.1\r\n{many}\r\n");
        let mut p = RequestParser::new(Limits::default().with_max_headers(1000));
        assert_eq!(
            p.parse(big.as_bytes()).unwrap_err(),
            ParseError::TooManyHeaders {
                limit: MAX_HEADERS_CAP
            }
        );
        let mut p = RequestParser::default();
        assert_eq!(
            p.parse(big.as_bytes()).unwrap_err(),
            ParseError::TooManyHeaders {
                limit: Limits::DEFAULT.max_headers
            }
        );
        assert!(p.parse(&wire[..30]).unwrap().is_partial());
        assert!(p.parse(wire).unwrap().is_partial(), "body missing");
    }

    #[test]
    fn framing_errors() {
        let mut p = RequestParser::default();
        let e = p
            .parse(b"NOTIFY / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap_err();
        assert_eq!(e, ParseError::TransferEncoding("chunked".into()));
        let e = p
            .parse(b"NOTIFY / HTTP/1.1\r\nContent-Length: x\r\n\r\n")
            .unwrap_err();
        assert!(matches!(e, ParseError::InvalidContentLength(_)));
        let e = p
            .parse(b"NOTIFY / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            .unwrap_err();
        assert_eq!(e, ParseError::ConflictingContentLength);
        let e = p.parse(b"NOTIFY / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n");
        assert!(matches!(e, Err(ParseError::InvalidContentLength(_))));
        assert!(matches!(
            p.parse(b"NOT IFY / HTTP/1.1\r\n\r\n"),
            Err(ParseError::Syntax(_))
        ));
    }

    #[test]
    fn view_borrows_and_matches_typed() {
        let wire = b"NOTIFY /instmsg/aliases/Bob HTTP/1.1\r\nHost: h\r\nSubscription-Id: 9A504\r\n\
                     Call-Back: http://H/instmsg/aliases/%41l\r\nRVP-From-Principal: IM.x\r\n\r\n";
        let mut p = RequestParser::default();
        let m = complete(&mut p, wire);
        let v = m.head().view().unwrap();
        assert_eq!(v.target.alias(), Some("Bob"));
        assert_eq!(v.rvp.subscription_id.unwrap().as_str(), "9A504");
        assert_eq!(v.rvp.call_back.as_ref().unwrap().alias(), Some("Al"));
        let t = v.to_typed();
        assert_eq!(t, m.head().typed().unwrap());
        assert_eq!(t.target.path.alias(), Some("bob"));
        assert_eq!(
            t.rvp.call_back.unwrap().to_string(),
            "http://h/instmsg/aliases/al"
        );
        assert_eq!(t.rvp.from_principal.unwrap().to_string(), "im.x");
    }

    /// The common shapes of real client requests are typed by the fast recognisers (not
    /// handed to the general path); the agreement with the general path is property-tested
    /// in `tests/parse_typed.rs`.
    #[test]
    fn common_shapes_take_the_fast_path() {
        use crate::header::{FastAdd, RvpField};
        let mut rvp = RvpHeadersRef::default();
        let headers: [(&str, &[u8]); 10] = [
            (
                "RVP-From-Principal",
                b"http://localhost/instmsg/aliases/alice",
            ),
            ("call-back", b"http://127.0.0.1:43663"),
            ("Subscription-Id", b"1001"),
            ("Subscription-Lifetime", b"14400"),
            ("Notification-Type", b"pragma/notify"),
            ("RVP-Hop-Count", b"1"),
            ("RVP-Ack-Type", b"DeepOr"),
            ("RVP-Notifications-Version", b"0.2"),
            ("Depth", b"0"),
            ("Content-Type", b"text/xml"),
        ];
        for (n, v) in headers {
            match RvpField::from_name(n.as_bytes()) {
                Some(f) => assert_eq!(rvp.add_field(f, v), FastAdd::Typed, "{n}"),
                None => assert_eq!(n, "Content-Type"),
            }
        }
        let mut general = RvpHeadersRef::default();
        for (n, v) in headers {
            general.add(n, v).unwrap();
        }
        assert_eq!(rvp, general);
        assert!(fast_target_ref("/instmsg/aliases/bob", Some(b"localhost")).is_some());
        assert!(fast_target_ref("/", Some(b"127.0.0.1:43663")).is_some());
        assert!(fast_target_ref("/instmsg/aliases/b%6Fb", None).is_none());
        assert_eq!(
            rvp.add_field(RvpField::HopCount, b"2"),
            FastAdd::Slow,
            "duplicates go to the general path"
        );
    }

    #[test]
    fn typed_errors_name_the_header() {
        let mut p = RequestParser::default();
        let m = complete(&mut p, b"NOTIFY / HTTP/1.1\r\nRVP-Hop-Count: zero\r\n\r\n");
        let e = m.head().typed().unwrap_err();
        assert!(e.to_string().contains("RVP-Hop-Count"), "{e}");
        let m = complete(&mut p, b"NOTIFY /instmsg/aliases/%zz HTTP/1.1\r\n\r\n");
        assert!(matches!(m.head().typed(), Err(ParseError::Target(_))));
    }

    #[test]
    fn unknown_methods_still_frame() {
        let mut p = RequestParser::default();
        let m = complete(&mut p, b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(
            m.head().method_class().rejection_status(),
            Some(http::StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(m.head().minor_version(), 0);
        let m = complete(&mut p, b"subscribe / HTTP/1.1\r\n\r\n");
        assert_eq!(m.head().method(), None);
    }

    #[test]
    fn to_http_and_decode() {
        let wire = b"PROPFIND http://im.example.com/instmsg/aliases/x HTTP/1.1\r\nDepth: 0\r\nContent-Length: 2\r\n\r\nab!";
        let mut p = RequestParser::default();
        let req = complete(&mut p, wire).to_http().unwrap();
        assert_eq!(req.method().as_str(), "PROPFIND");
        assert_eq!(req.uri().host(), Some("im.example.com"));
        assert_eq!(req.headers()["depth"], "0");
        assert_eq!(req.body().as_ref(), b"ab");
        let mut buf = BytesMut::from(&wire[..]);
        let r = decode_request(&mut p, &mut buf).unwrap().unwrap();
        assert_eq!(r.body().as_ref(), b"ab");
        assert_eq!(&buf[..], b"!");
        assert!(decode_request(&mut p, &mut buf).unwrap().is_none());
        assert_eq!(&buf[..], b"!");
    }

    /// The lenient mode (PROTOCOL.md §2): the four headers a method decides are left
    /// absent and listed; any other malformed RVP header is still an error; the scanning
    /// path, the head path and the `http` path agree.
    #[test]
    fn lenient_typing_leaves_method_headers_to_the_method() {
        let cases: [(&[u8], &[&str]); 4] = [
            (b"SUBSCRIBE /instmsg/aliases/bob HTTP/1.1\r\nHost: h\r\nCall-Back: not-a-url\r\nNotification-Type: pragma/notify\r\nContent-Length: 0\r\n\r\n", &["Call-Back"]),
            (b"UNSUBSCRIBE /instmsg/aliases/bob HTTP/1.1\r\nHost: h\r\nSubscription-Id: 5\r\nSubscription-Id: 6\r\nContent-Length: 0\r\n\r\n", &["Subscription-Id"]),
            (b"PROPFIND /instmsg/aliases/bob HTTP/1.1\r\nHost: h\r\nDepth: 7\r\nNotification-Type: a b\r\nContent-Length: 0\r\n\r\n", &["Notification-Type", "Depth"]),
            (b"SUBSCRIBE /instmsg/aliases/bob HTTP/1.1\r\nHost: h\r\nCall-Back: http://10.0.0.1:81\r\nContent-Length: 0\r\n\r\n", &[]),
        ];
        for (wire, bad) in cases {
            let mut p = RequestParser::new(Limits::default());
            let msg = complete(&mut p, wire);
            let lenient = msg.head().typed_lenient().unwrap();
            assert_eq!(lenient.unusable.iter().collect::<Vec<_>>(), bad);
            assert_eq!(lenient.rvp.call_back.is_some(), bad.is_empty());
            assert_eq!(msg.head().typed().is_ok(), bad.is_empty());
            // The scanning parser gives the same, falling back only when needed.
            let mut p2 = RequestParser::new(Limits::default());
            let Status::Complete(scanned) = p2.parse_typed(wire).unwrap() else {
                panic!("complete")
            };
            assert_eq!(scanned.typed_lenient().unwrap(), lenient);
            // And an `http` request of the same message types the same.
            let http = msg.to_http().unwrap();
            assert_eq!(TypedRequest::from_http(&http).unwrap(), lenient);
        }
    }

    #[test]
    fn lenient_typing_keeps_other_headers_strict() {
        for wire in [
            &b"NOTIFY /instmsg/aliases/bob HTTP/1.1\r\nHost: h\r\nRVP-Hop-Count: 0\r\nContent-Length: 0\r\n\r\n"[..],
            b"NOTIFY /instmsg/aliases/bob HTTP/1.1\r\nHost: h\r\nRVP-Ack-Type: Sometimes\r\nContent-Length: 0\r\n\r\n",
            b"NOTIFY /instmsg/aliases/bob HTTP/1.1\r\nHost: h\r\nRVP-From-Principal: a b\r\nContent-Length: 0\r\n\r\n",
            b"SUBSCRIBE /instmsg/aliases/bob HTTP/1.1\r\nHost: h\r\nSubscription-Lifetime: soon\r\nContent-Length: 0\r\n\r\n",
            b"SUBSCRIBE /instmsg/aliases/bob?x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        ] {
            let mut p = RequestParser::new(Limits::default());
            let msg = complete(&mut p, wire);
            assert!(msg.head().typed_lenient().is_err(), "{:?}", String::from_utf8_lossy(wire));
            let mut p2 = RequestParser::new(Limits::default());
            let Status::Complete(scanned) = p2.parse_typed(wire).unwrap() else {
                panic!("complete")
            };
            assert!(scanned.typed_lenient().is_err());
        }
    }
}
