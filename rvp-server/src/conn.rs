//! One client connection: read, parse, answer, in order, within limits.
//!
//! ## Why not hyper
//!
//! The server speaks HTTP/1.1 through `rvp-proto`'s sans-IO codec and this small loop, not
//! through hyper. hyper cannot write the header name `RVP-Notifications-Version` the way
//! Exchange and every RVP client spell it: its header-case preservation map is private to
//! the crate, so a hyper server emits either `rvp-notifications-version` or the title-cased
//! `Rvp-Notifications-Version`. Header names are case-insensitive in HTTP, but RVP clients
//! are old and hand-written, and byte-exact output is what the interop captures prove. The
//! codec already gives exact bytes, accepts bare-LF requests, enforces the size limits with
//! typed errors and never produces chunked bodies, all of it tested; what a server adds on
//! top (time-outs, pipelining order, connection limits, shutdown) is the loop below.
//!
//! ## The loop
//!
//! ```text
//!  read into buf ──► RequestParser::parse_typed(buf)
//!     ▲                 ├─ Partial ──────────► flush answers, then read more (deadline below)
//!     │                 ├─ framing error ────► 400/411/413/431 + Connection: close, close
//!     │                 └─ Complete
//!     │                      ├─ not an RVP method ─► 501 / 405 (connection kept)
//!     │                      ├─ bad RVP header ────► 400 (connection kept: framing is sound)
//!     │                      └─ RVP request ───────► Handler::handle(peer, request, now).await
//!     │                                                   │
//!     └──── next pipelined request ◄── answer appended to the output buffer, logged
//! ```
//!
//! * **Order.** Requests on one connection are handled one after the other; answers go out
//!   in request order. RVP requests change state, so a pipelined PROPPATCH must not race
//!   the PROPFIND behind it.
//! * **Batching.** Answers to pipelined requests accumulate and are written together; the
//!   output is flushed before any read (a client may be waiting for it) and after
//!   [`ConnLimits::max_pipelined`] answers, which bounds the memory one connection can make
//!   the server hold.
//! * **Deadlines**, all fixed when a phase starts, never extended by a trickle of bytes
//!   (slowloris): the head must be complete [`ConnLimits::header_read_timeout`] after its
//!   first byte (for the first request: after the accept); the body
//!   [`ConnLimits::body_read_timeout`] after the head; a keep-alive connection with nothing
//!   pending closes after [`ConnLimits::idle_timeout`]; each write must finish within
//!   [`ConnLimits::write_timeout`] (a client that never reads); the handler must answer
//!   within [`ConnLimits::handler_timeout`] (`503`, connection closed).
//! * **Keep-alive.** HTTP/1.1 keeps the connection unless a side says `Connection: close`;
//!   HTTP/1.0 closes unless the client asked for `keep-alive`. librvp, Net::RVP and Miranda
//!   mostly open one connection per request, which is the same code path.
//! * **`Expect: 100-continue`.** When the head of an HTTP/1.1 request expecting it is
//!   complete and no body byte has arrived, `100 Continue` goes out before the wait for
//!   the body (curl waits a second for it otherwise); a body over the limit is refused
//!   from the head with `413` instead.
//! * **Memory.** A connection waiting for its next request holds no buffer: the read and
//!   write buffers are released before the wait and allocated again when bytes arrive
//!   (read first into a scratch array on the stack, see `read_some`), and the handler's
//!   future is boxed while a request runs, so an idle keep-alive connection costs its
//!   small task and its socket (issue 12, G11).
//! * **Errors that break framing** (the next message cannot be found) are answered and the
//!   connection is closed with a short *lingering close*: write side shut, then unread input
//!   discarded for at most [`LINGER_TIME`] / [`LINGER_BYTES`], so the client reads the 4xx
//!   instead of a TCP reset.

use std::borrow::Cow;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, StatusCode};
use rvp_proto::MethodClass;
use rvp_proto::codec::{Limits, ParseError, RequestHead, RequestParser, Status, write_response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Sleep, timeout_at};

use crate::log::{LogEntry, ProtocolLog};
use crate::metrics::Metrics;
use crate::service::{Handler, LogPrincipal, Peer, Request, Response, text_response};
use crate::shutdown::{Phase, PhaseWatch};

/// After an error that ends a connection, unread input is discarded for at most this long
/// before the socket is closed (so the client sees the answer, not a reset).
pub const LINGER_TIME: Duration = Duration::from_secs(2);

/// ... and at most this many bytes.
pub const LINGER_BYTES: usize = 1024 * 1024;

/// The `Allow` header of `405` answers: the seven RVP methods.
pub const ALLOW: &str = "SUBSCRIBE, UNSUBSCRIBE, SUBSCRIPTIONS, NOTIFY, PROPFIND, PROPPATCH, ACL";

/// Read buffer growth step.
const READ_CHUNK: usize = 8 * 1024;

/// Limits of the connection layer. Every one has a default; the config file's `[limits]`
/// table sets them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnLimits {
    /// The head of a request must be complete this long after its first byte (for the
    /// first request of a connection: after the accept). Default 10 s.
    pub header_read_timeout: Duration,
    /// The body must be complete this long after the head. Default 30 s.
    pub body_read_timeout: Duration,
    /// A keep-alive connection with nothing pending is closed after this. Default 60 s.
    pub idle_timeout: Duration,
    /// Writing a batch of answers must finish within this. Default 30 s.
    pub write_timeout: Duration,
    /// The handler must answer within this, else `503` and the connection closes. Default
    /// 60 s (above the 30 s delivery time-out a `DeepOr` NOTIFY may wait for).
    pub handler_timeout: Duration,
    /// On shutdown, requests in progress get this long. Default 10 s.
    pub drain_timeout: Duration,
    /// Head, header-count and body limits of the parser. Defaults: 16 KiB head, 64 header
    /// lines, 256 KiB body (IMs and multistatus bodies are a few KiB).
    pub codec: Limits,
    /// Open client connections. One more is answered `503 Service Unavailable`
    /// (`Connection: close`) straight from the accept loop, without reading its request,
    /// and closed. Default 512 (keep it below `ulimit -n`).
    pub max_connections: usize,
    /// Open client connections from one source address (an IPv4 address, or one IPv6
    /// address; an IPv4-mapped IPv6 address counts as the IPv4 address). One more is
    /// refused like one beyond `max_connections`. Default 64, so one address cannot take
    /// more than an eighth of the default `max_connections`; the smaller of the two
    /// applies.
    pub max_connections_per_ip: usize,
    /// Pipelined answers batched before they are written out. Default 16.
    pub max_pipelined: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            handler_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(10),
            codec: Limits::default().with_max_body_bytes(256 * 1024),
            max_connections: 512,
            max_connections_per_ip: 64,
            max_pipelined: 16,
        }
    }
}

/// What one parse step produced (owned: the parsed view borrows the buffer).
enum Step {
    /// More bytes needed.
    Partial,
    /// A request for the handler: typed; its bytes are the first `consumed` of the buffer
    /// (split off, not copied, into the [`Request`]: [`Step::into_request`]).
    Rvp {
        method: rvp_proto::Method,
        typed: Box<rvp_proto::codec::TypedRequest>,
        head_len: usize,
        target: std::ops::Range<usize>,
        authorization: Option<std::ops::Range<usize>>,
        keep_alive: KeepAlive,
        consumed: usize,
    },
    /// Answered by the connection loop; framing intact.
    Answer {
        response: Response,
        keep_alive: KeepAlive,
        consumed: usize,
        method: String,
        target: String,
    },
    /// Framing broken: answer and close.
    Fatal { response: Response },
}

/// What the client asked for about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeepAlive {
    /// Close after the answer.
    Close,
    /// Keep (HTTP/1.1 default).
    Default,
    /// Keep, and say so (HTTP/1.0 `Connection: keep-alive`).
    Explicit,
}

fn keep_alive(head: &RequestHead<'_, '_>) -> KeepAlive {
    // Noted by the parser while it scanned the head: no second walk over the headers.
    let options = head.connection_options();
    match (options.close, head.minor_version(), options.keep_alive) {
        (true, _, _) => KeepAlive::Close,
        (false, 0, true) => KeepAlive::Explicit,
        (false, 0, false) => KeepAlive::Close,
        (false, _, _) => KeepAlive::Default,
    }
}

/// The status for an error that breaks framing.
fn fatal_status(e: &ParseError) -> StatusCode {
    match e {
        ParseError::HeadTooLarge { .. } | ParseError::TooManyHeaders { .. } => {
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        }
        ParseError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ParseError::TransferEncoding(_) => StatusCode::LENGTH_REQUIRED,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn parse_step(parser: &mut RequestParser, buf: &[u8]) -> Step {
    let msg = match parser.parse_typed(buf) {
        Ok(Status::Partial) => return Step::Partial,
        Ok(Status::Complete(msg)) => msg,
        Err(e) => {
            return Step::Fatal {
                response: text_response(fatal_status(&e), e.to_string()),
            };
        }
    };
    let head = msg.head();
    let consumed = msg.consumed();
    let keep_alive = keep_alive(head);
    let answer = |response: Response| Step::Answer {
        response,
        keep_alive,
        consumed,
        method: head.method_token().to_owned(),
        target: head.target().to_owned(),
    };
    let method = match head.method_class() {
        MethodClass::Rvp(m) => m,
        MethodClass::NotAllowed => {
            let mut res = text_response(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{} is not allowed on RVP nodes", head.method_token()),
            );
            res.headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static(ALLOW));
            return answer(res);
        }
        _ => {
            return answer(text_response(
                StatusCode::NOT_IMPLEMENTED,
                format!("method {:?} is not an RVP method", head.method_token()),
            ));
        }
    };
    // Typed once, leniently: the headers the reference leaves to the method (a malformed
    // Call-Back, Notification-Type, Subscription-Id or Depth) are the engine's to answer
    // (mostly 412), not this layer's 400.
    let typed = match msg.typed_lenient() {
        Ok(t) => t,
        Err(e) => return answer(text_response(StatusCode::BAD_REQUEST, e.to_string())),
    };
    Step::Rvp {
        method,
        typed: Box::new(typed),
        head_len: head.head_len(),
        target: crate::service::range_in(buf, head.target().as_bytes()),
        authorization: head
            .authorization()
            .map(|v| crate::service::range_in(buf, v)),
        keep_alive,
        consumed,
    }
}

/// Why a connection ended (for diagnostics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnEnd {
    /// The client closed between requests.
    ClientClosed,
    /// `Connection: close` (either side) or HTTP/1.0.
    Close,
    /// Idle keep-alive time-out.
    Idle,
    /// Header or body read time-out (`408` sent).
    ReadTimeout,
    /// A write did not finish in time, or failed.
    WriteFailed,
    /// Reading failed, or the client closed in the middle of a request.
    ReadFailed,
    /// A request broke framing (4xx sent).
    BadRequest,
    /// The handler did not answer in time (`503` sent).
    HandlerTimeout,
    /// Shutdown: idle connection closed, or the answer in progress sent with
    /// `Connection: close`.
    Draining,
    /// Shutdown drain time-out.
    Aborted,
}

/// Reads what the stream has into `buf`; `Ok(0)` at the end of the stream.
///
/// With spare room in `buf` this is a plain read. With none (a buffer released while the
/// connection waited for its next request) the bytes land in a scratch array on the stack
/// of the poll that finds them, not in the connection's task, and only then go into a
/// buffer allocated for them: waiting costs no buffer. `poll_read` consumes nothing when it
/// answers `Pending` (the `AsyncRead` contract), so the scratch array can be dropped
/// between polls.
/// Sets the connection's timer to `deadline` (making it at the first use) and returns it.
///
/// One timer per connection, moved from deadline to deadline, instead of a new one per
/// wait: a wait that finishes in time (nearly all) would otherwise insert an entry into
/// tokio's timer wheel and remove it again, twice per request. Moving a registered timer to
/// a later deadline (the next request's, as time goes on) only updates it in place.
fn arm(timer: &mut Option<Pin<Box<Sleep>>>, deadline: Instant) -> Pin<&mut Sleep> {
    let deadline = tokio::time::Instant::from_std(deadline);
    let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
    if timer.deadline() != deadline {
        timer.as_mut().reset(deadline);
    }
    timer.as_mut()
}

async fn read_some<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut BytesMut) -> io::Result<usize> {
    if buf.capacity() > buf.len() {
        return stream.read_buf(buf).await;
    }
    std::future::poll_fn(|cx| {
        let mut scratch = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut read = ReadBuf::uninit(&mut scratch);
        ready!(Pin::new(&mut *stream).poll_read(cx, &mut read))?;
        let got = read.filled();
        if !got.is_empty() {
            // Sized to what arrived: a request that came whole (nearly all) then lives in
            // an allocation of its own size, which the handler keeps as `Bytes`, not in
            // 8 KiB; a request still arriving grows the buffer by a chunk per read.
            buf.reserve(got.len());
            buf.extend_from_slice(got);
        }
        Poll::Ready(Ok(got.len()))
    })
    .await
}

/// Serves one accepted connection until it ends. Generic over the byte stream: TCP
/// today, TLS or an in-memory pipe (tests) alike.
///
/// Not an `async fn`: an `async fn` keeps its arguments in its future besides the
/// connection it moves them into, so a TLS stream (over a kilobyte) would be held twice in
/// every connection's task.
pub(crate) fn serve_connection<'a, S, H>(
    stream: S,
    peer: Peer,
    handler: &'a H,
    limits: &'a ConnLimits,
    log: &'a ProtocolLog,
    metrics: &'a Metrics,
    phase: PhaseWatch,
) -> impl Future<Output = ConnEnd> + 'a
where
    S: AsyncRead + AsyncWrite + Unpin + 'a,
    H: Handler,
{
    let mut conn = Conn {
        stream,
        peer,
        limits,
        log,
        metrics,
        method: None,
        phase,
        parser: RequestParser::new(limits.codec),
        buf: BytesMut::new(),
        out: BytesMut::new(),
        scanned: 0,
        head_done: None,
        request_started: None,
        continue_checked: false,
        answered: 0,
        timer: None,
    };
    async move {
        let end = conn.run(handler).await;
        tracing::debug!(peer = %peer.addr, connection = peer.connection.0, ?end, "connection closed");
        end
    }
}

struct Conn<'a, S> {
    stream: S,
    peer: Peer,
    limits: &'a ConnLimits,
    log: &'a ProtocolLog,
    metrics: &'a Metrics,
    /// The RVP method of the request being answered (for the metrics: the log's method
    /// text is only made when the log is on).
    method: Option<rvp_proto::Method>,
    phase: PhaseWatch,
    parser: RequestParser,
    buf: BytesMut,
    out: BytesMut,
    /// How far `buf` has been searched for the end of the head.
    scanned: usize,
    /// When the head of the pending request was seen complete.
    head_done: Option<Instant>,
    /// When the first byte of the pending request arrived (or the accept, for the first).
    request_started: Option<Instant>,
    /// `Expect: 100-continue` of the pending request looked at (and answered if due).
    continue_checked: bool,
    answered: u64,
    /// The connection's one timer, for the read and handler time-outs in turn (see
    /// [`arm`]); made at the first wait.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<'_, S> {
    async fn run<H: Handler>(&mut self, handler: &H) -> ConnEnd {
        let accepted = Instant::now();
        self.request_started = Some(accepted);
        let mut idle_since = accepted;
        let mut batch = 0usize;
        loop {
            if self.buf.is_empty() && self.phase.get() >= Phase::Draining {
                return self.flush_then(ConnEnd::Draining).await;
            }
            let step = parse_step(&mut self.parser, &self.buf);
            // What to drop from the buffer once answered (an RVP request's bytes have left
            // it already).
            let mut advance = usize::MAX;
            let (response, keep, consumed, method, target, received) = match step {
                Step::Partial => {
                    self.continue_if_expected();
                    if !self.flush().await {
                        return ConnEnd::WriteFailed;
                    }
                    if batch > 0 {
                        idle_since = Instant::now();
                        batch = 0;
                    }
                    match self.read_more(idle_since).await {
                        Ok(()) => continue,
                        Err(end) => return end,
                    }
                }
                Step::Fatal { response } => {
                    let consumed = self.buf.len();
                    self.answer(response, consumed, "-", b"-", Instant::now(), true, None);
                    if self.flush().await {
                        self.linger().await;
                    }
                    return ConnEnd::BadRequest;
                }
                Step::Answer {
                    response,
                    keep_alive,
                    consumed,
                    method,
                    target,
                } => (
                    response,
                    keep_alive,
                    consumed,
                    Cow::Owned(method),
                    Bytes::from(target),
                    Instant::now(),
                ),
                Step::Rvp {
                    method,
                    typed,
                    head_len,
                    target,
                    authorization,
                    keep_alive,
                    consumed,
                } => {
                    let received = Instant::now();
                    // The request's bytes leave the buffer as they are (no copy of the
                    // body, no header map): the handler reads what it needs from them.
                    let wire = self.buf.split_to(consumed).freeze();
                    // Only the protocol log needs the target: a view of the same bytes.
                    let target_bytes = if self.log.is_enabled() {
                        wire.slice(target.clone())
                    } else {
                        Bytes::new()
                    };
                    let request =
                        Request::new(method, typed, wire, head_len, target, authorization);
                    advance = 0;
                    self.method = Some(request.method);
                    let (method, target) = (Cow::Borrowed(method.as_str()), target_bytes);
                    // Boxed: the handler's future (kilobytes) is then allocated while a
                    // request is handled, not carried in every idle connection's task.
                    let handling = Box::pin(handler.handle(self.peer, request, received));
                    let timer = arm(&mut self.timer, received + self.limits.handler_timeout);
                    let handled = tokio::select! {
                        biased;
                        () = self.phase.reached(Phase::Aborting) => return ConnEnd::Aborted,
                        r = handling => Some(r),
                        () = timer => None,
                    };
                    let Some(response) = handled else {
                        self.metrics.handler_timeout();
                        let res = text_response(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "the server did not answer in time",
                        );
                        self.answer(res, consumed, &method, &target, received, true, None);
                        return self.flush_then(ConnEnd::HandlerTimeout).await;
                    };
                    (response, keep_alive, consumed, method, target, received)
                }
            };
            let peer_close = keep == KeepAlive::Close;
            let handler_close = response
                .headers()
                .get(http::header::CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            let draining = self.phase.get() >= Phase::Draining;
            let close = peer_close || handler_close || draining;
            let explicit_keep = (keep == KeepAlive::Explicit).then_some(());
            self.answer(
                response,
                consumed,
                &method,
                &target,
                received,
                close,
                explicit_keep,
            );
            self.buf.advance(advance.min(consumed));
            self.reset_request_state();
            self.answered += 1;
            batch += 1;
            if close {
                let end = if draining && !peer_close && !handler_close {
                    ConnEnd::Draining
                } else {
                    ConnEnd::Close
                };
                return self.flush_then(end).await;
            }
            if batch >= self.limits.max_pipelined {
                if !self.flush().await {
                    return ConnEnd::WriteFailed;
                }
                idle_since = Instant::now();
                batch = 0;
            }
        }
    }

    fn reset_request_state(&mut self) {
        self.scanned = 0;
        self.head_done = None;
        self.request_started = None;
        self.continue_checked = false;
    }

    /// `Expect: 100-continue` (RFC 9110 §10.1.1): once the head of an HTTP/1.1 request
    /// carrying it is complete and none of its body has arrived, tells the client to send
    /// the body (curl, for one, otherwise waits a second before sending it). A body the
    /// limits refuse never gets here: its head alone is answered with `413`. Looked at once
    /// per request; an HTTP/1.0 request's expectation is ignored, as the RFC asks.
    fn continue_if_expected(&mut self) {
        if self.continue_checked || !self.head_complete() {
            return;
        }
        self.continue_checked = true;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        // More headers than that, or a broken head: the parser answers it; no 100.
        let Ok(httparse::Status::Complete(head_len)) = req.parse(&self.buf) else {
            return;
        };
        let value = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value.trim_ascii())
        };
        let expects = value("expect").is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
        let has_body = value("content-length").is_some_and(|v| v.iter().any(|&b| b != b'0'));
        if req.version == Some(1) && expects && has_body && self.buf.len() == head_len {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
    }

    /// Serialises an answer into the output buffer and logs it.
    #[allow(clippy::too_many_arguments)] // one per log column, private
    fn answer(
        &mut self,
        mut response: Response,
        bytes_in: usize,
        method: &str,
        target: &[u8],
        received: Instant,
        close: bool,
        explicit_keep: Option<()>,
    ) {
        *response.version_mut() = http::Version::HTTP_11;
        if close {
            response
                .headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        } else if explicit_keep.is_some() {
            response.headers_mut().insert(
                http::header::CONNECTION,
                HeaderValue::from_static("keep-alive"),
            );
        }
        let rvp_method = self
            .method
            .take()
            .or_else(|| rvp_proto::Method::from_token(method.as_bytes()));
        self.metrics
            .record_request(rvp_method, response.status().as_u16());
        let before = self.out.len();
        match response.extensions().get::<crate::service::RawResponse>() {
            // A home server's answer relayed by the router: its bytes, exactly.
            Some(raw) => self.out.extend_from_slice(&raw.0),
            None => {
                // One allocation for the answer (the buffer is released while idle): its
                // headers, the body, and room for the status line and the framing headers.
                let headers: usize = response
                    .headers()
                    .iter()
                    .map(|(n, v)| n.as_str().len() + v.len() + 4)
                    .sum();
                self.out.reserve(headers + response.body().len() + 128);
                write_response(&response, &mut self.out);
            }
        }
        if self.log.is_enabled() {
            let principal = response.extensions().get::<LogPrincipal>();
            self.log.record(&LogEntry::new(
                self.peer.addr,
                principal.map(|p| &*p.0),
                method,
                // The parser took only a UTF-8 target; `-` for anything else, to be sure.
                std::str::from_utf8(target).unwrap_or("-"),
                response.status().as_u16(),
                bytes_in,
                self.out.len() - before,
                received.elapsed(),
            ));
        }
    }

    /// Writes the output buffer; `false` if the write failed or timed out.
    async fn flush(&mut self) -> bool {
        if self.out.is_empty() {
            return true;
        }
        // An answer nearly always fits in the socket's send buffer: one attempt first,
        // without a timer or a shutdown watch (it is what `write_all` would try first).
        // `Pending` only leaves this task registered for writability.
        let first = std::future::poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut self.stream).poll_write(cx, &self.out) {
                Poll::Ready(r) => r,
                Poll::Pending => Ok(0),
            })
        })
        .await;
        match first {
            Ok(n) if n == self.out.len() => {
                self.out.clear();
                return true;
            }
            Ok(n) => self.out.advance(n),
            Err(_) => {
                self.out.clear();
                return false;
            }
        }
        let write =
            tokio::time::timeout(self.limits.write_timeout, self.stream.write_all(&self.out));
        let ok = tokio::select! {
            r = write => matches!(r, Ok(Ok(()))),
            () = self.phase.reached(Phase::Aborting) => false,
        };
        self.out.clear();
        ok
    }

    async fn flush_then(&mut self, end: ConnEnd) -> ConnEnd {
        if self.flush().await {
            let _ = self.stream.shutdown().await;
            end
        } else {
            ConnEnd::WriteFailed
        }
    }

    /// Whether the buffered bytes hold a complete head (searching only what is new).
    fn head_complete(&mut self) -> bool {
        if self.head_done.is_some() {
            return true;
        }
        let from = self.scanned.saturating_sub(2);
        let found = self.buf[from..].windows(2).enumerate().any(|(i, w)| {
            w == b"\n\n" || (w == b"\r\n" && from + i >= 1 && self.buf[from + i - 1] == b'\n')
        });
        self.scanned = self.buf.len();
        if found {
            self.head_done = Some(Instant::now());
        }
        found
    }

    /// Reads more bytes before the current deadline.
    async fn read_more(&mut self, idle_since: Instant) -> Result<(), ConnEnd> {
        let l = self.limits;
        let (deadline, idle) = if self.buf.is_empty() {
            match self.request_started {
                // First request: the header time-out runs from the accept.
                Some(start) => (start + l.header_read_timeout, false),
                None => (idle_since + l.idle_timeout, true),
            }
        } else {
            let start = *self.request_started.get_or_insert_with(Instant::now);
            if self.head_complete() {
                let head_done = self.head_done.unwrap_or(start);
                (head_done + l.body_read_timeout, false)
            } else {
                (start + l.header_read_timeout, false)
            }
        };
        let empty = self.buf.is_empty();
        if empty {
            // Nothing pending: wait holding no buffer at all (an idle keep-alive connection
            // costs its task and socket, not 8 KiB of buffers).
            self.buf = BytesMut::new();
            self.out = BytesMut::new();
        } else {
            self.buf.reserve(READ_CHUNK);
        }
        let timer = arm(&mut self.timer, deadline);
        let read = read_some(&mut self.stream, &mut self.buf);
        // Between requests, shutdown closes the connection; inside one, only the abort does.
        let stop_at = if empty {
            Phase::Draining
        } else {
            Phase::Aborting
        };
        let result = tokio::select! {
            biased;
            () = self.phase.reached(stop_at) => {
                return Err(if empty { ConnEnd::Draining } else { ConnEnd::Aborted });
            }
            r = read => Some(r),
            () = timer => None,
        };
        match result {
            Some(Ok(0)) if empty => Err(ConnEnd::ClientClosed),
            Some(Ok(0) | Err(_)) => Err(ConnEnd::ReadFailed),
            Some(Ok(_)) => {
                if empty && self.request_started.is_none() {
                    self.request_started = Some(Instant::now());
                }
                Ok(())
            }
            None if idle || empty => Err(ConnEnd::Idle),
            None => {
                let res = text_response(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request was not received in time",
                );
                let received = self.buf.len();
                self.answer(res, received, "-", b"-", Instant::now(), true, None);
                let _ = self.flush().await;
                Err(ConnEnd::ReadTimeout)
            }
        }
    }

    /// Shuts the write side, then discards input for a bounded time before closing.
    async fn linger(&mut self) {
        let _ = self.stream.shutdown().await;
        let deadline = tokio::time::Instant::now() + LINGER_TIME;
        let mut discarded = 0usize;
        // Read into the connection's buffer, not an array in this future: the array
        // would sit in every connection's task, idle or not.
        while discarded < LINGER_BYTES {
            self.buf.clear();
            self.buf.reserve(READ_CHUNK);
            match timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => discarded += n,
                _ => break,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn step(wire: &[u8]) -> Step {
        parse_step(&mut RequestParser::default(), wire)
    }

    #[test]
    fn keep_alive_rules() {
        let mut p = RequestParser::default();
        let cases: [(&[u8], KeepAlive); 5] = [
            (b"ACL / HTTP/1.1\r\n\r\n", KeepAlive::Default),
            (
                b"ACL / HTTP/1.1\r\nConnection: Close\r\n\r\n",
                KeepAlive::Close,
            ),
            (b"ACL / HTTP/1.0\r\n\r\n", KeepAlive::Close),
            (
                b"ACL / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                KeepAlive::Explicit,
            ),
            (
                b"ACL / HTTP/1.1\r\nConnection: te, close\r\n\r\n",
                KeepAlive::Close,
            ),
        ];
        for (wire, want) in cases {
            let msg = p.parse(wire).unwrap().complete().unwrap();
            assert_eq!(
                keep_alive(msg.head()),
                want,
                "{}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn steps() {
        assert!(matches!(step(b"ACL / HTTP/1.1\r\n"), Step::Partial));
        match step(b"GET / HTTP/1.1\r\n\r\n") {
            Step::Answer { response, .. } => assert_eq!(response.status(), 501),
            _ => panic!("GET"),
        }
        match step(b"MOVE / HTTP/1.1\r\n\r\n") {
            Step::Answer { response, .. } => {
                assert_eq!(response.status(), 405);
                assert_eq!(response.headers()["allow"], ALLOW);
            }
            _ => panic!("MOVE"),
        }
        match step(b"NOTIFY / HTTP/1.1\r\nRVP-Hop-Count: x\r\n\r\n") {
            Step::Answer { response, .. } => {
                assert_eq!(response.status(), 400);
                assert!(String::from_utf8_lossy(response.body()).contains("RVP-Hop-Count"));
            }
            _ => panic!("bad header"),
        }
        match step(b"NOTIFY / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") {
            Step::Fatal { response } => assert_eq!(response.status(), 411),
            _ => panic!("chunked"),
        }
        match step(b"NOTIFY / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi") {
            Step::Rvp {
                consumed,
                head_len,
                target,
                ..
            } => {
                assert_eq!(consumed, 42);
                assert_eq!(head_len, 40);
                assert_eq!(target, 7..8);
            }
            _ => panic!("NOTIFY"),
        }
    }

    /// Echoes `n METHOD target body-length` for each request.
    #[derive(Default)]
    struct Echo(std::sync::atomic::AtomicU64);

    impl Handler for Echo {
        async fn handle(&self, _peer: Peer, r: Request, _now: Instant) -> Response {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            Response::new(Bytes::from(format!(
                "{n} {} {} {}",
                r.method,
                r.target(),
                r.body().len()
            )))
        }
    }

    fn short_limits() -> ConnLimits {
        ConnLimits {
            header_read_timeout: Duration::from_millis(200),
            body_read_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(200),
            write_timeout: Duration::from_millis(200),
            handler_timeout: Duration::from_millis(200),
            codec: Limits::default().with_max_body_bytes(4096),
            ..ConnLimits::default()
        }
    }

    /// Runs one in-memory connection: writes `chunks` (then EOF), returns all output.
    fn run_in_memory(chunks: Vec<Vec<u8>>) -> (Vec<u8>, ConnEnd) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (mut client, server) = tokio::io::duplex(256 * 1024);
            let (_phase_tx, phase) = crate::shutdown::phase_channel();
            let a: std::net::SocketAddr = ([127, 0, 0, 1], 1).into();
            let peer = Peer::new(a, a, crate::service::ConnectionId(1));
            let limits = short_limits();
            let log = ProtocolLog::off();
            let echo = Echo::default();
            let metrics = Metrics::new();
            let conn = serve_connection(server, peer, &echo, &limits, &log, &metrics, phase);
            let feed = async move {
                for c in chunks {
                    if client.write_all(&c).await.is_err() {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                let _ = client.shutdown().await;
                let mut out = Vec::new();
                let _ = client.read_to_end(&mut out).await;
                out
            };
            let (end, out) =
                tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(conn, feed) })
                    .await
                    .expect("connection ends");
            (out, end)
        })
    }

    /// Reads one whole answer from `client`.
    async fn read_answer(client: &mut tokio::io::DuplexStream) -> Vec<u8> {
        let mut got = Vec::new();
        loop {
            let mut p = rvp_proto::codec::ResponseParser::default();
            if let Ok(Status::Complete(msg)) = p.parse(&got, false)
                && msg.consumed() == got.len()
            {
                return got;
            }
            let mut chunk = [0u8; 512];
            let n = client.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed before answering");
            got.extend_from_slice(&chunk[..n]);
        }
    }

    /// An idle keep-alive connection holds no read or write buffer (issue 12, G11: its
    /// memory is its task and socket); a request split across reads after the idle wait
    /// is still put together and answered.
    #[test]
    fn an_idle_connection_holds_no_buffer() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut client, server) = tokio::io::duplex(64 * 1024);
            let (_phase_tx, phase) = crate::shutdown::phase_channel();
            let a: std::net::SocketAddr = ([127, 0, 0, 1], 1).into();
            let limits = ConnLimits {
                idle_timeout: Duration::from_secs(3600),
                ..ConnLimits::default()
            };
            let (log, metrics, echo) = (ProtocolLog::off(), Metrics::new(), Echo::default());
            let mut conn = Conn {
                stream: server,
                peer: Peer::new(a, a, crate::service::ConnectionId(1)),
                limits: &limits,
                log: &log,
                metrics: &metrics,
                method: None,
                phase,
                parser: RequestParser::new(limits.codec),
                buf: BytesMut::new(),
                out: BytesMut::new(),
                scanned: 0,
                head_done: None,
                request_started: None,
                continue_checked: false,
                answered: 0,
                timer: None,
            };
            let request = b"NOTIFY /instmsg/aliases/bob HTTP/1.1\r\nHost: localhost\r\n\
                            Content-Length: 5\r\n\r\nhello";
            {
                let mut run = std::pin::pin!(conn.run(&echo));
                for (n, parts) in [
                    (1, vec![&request[..]]),
                    (2, vec![&request[..20], &request[20..]]),
                ] {
                    for part in parts {
                        client.write_all(part).await.unwrap();
                        // The connection takes what has arrived, then waits for more.
                        assert!(futures_poll_once(run.as_mut()).await.is_pending());
                    }
                    let answer = tokio::select! {
                        biased;
                        end = &mut run => panic!("the connection ended: {end:?}"),
                        answer = read_answer(&mut client) => answer,
                    };
                    let body = format!("{n} NOTIFY /instmsg/aliases/bob 5");
                    assert!(
                        answer.ends_with(body.as_bytes()),
                        "{}",
                        String::from_utf8_lossy(&answer)
                    );
                    // Answered: back to waiting for the next request.
                    assert!(futures_poll_once(run.as_mut()).await.is_pending());
                }
            }
            // The loop was stopped while idle: nothing buffered, nothing allocated.
            assert_eq!((conn.buf.capacity(), conn.out.capacity()), (0, 0));
            assert_eq!(conn.answered, 2);
        });
    }

    /// A connection's task stays small: nothing kilobytes-large lives across an await in
    /// the connection loop (the handler's future is boxed, scratch space is on the heap or
    /// the poll's stack). Every idle keep-alive connection carries this future.
    #[test]
    fn the_connection_future_is_small() {
        fn size_of_future<F: Future>(_: &F) -> usize {
            size_of::<F>()
        }
        let (_client, server) = tokio::io::duplex(64);
        let (_phase_tx, phase) = crate::shutdown::phase_channel();
        let a: std::net::SocketAddr = ([127, 0, 0, 1], 1).into();
        let peer = Peer::new(a, a, crate::service::ConnectionId(1));
        let (limits, log, metrics, echo) = (
            ConnLimits::default(),
            ProtocolLog::off(),
            Metrics::new(),
            Echo::default(),
        );
        let fut = serve_connection(server, peer, &echo, &limits, &log, &metrics, phase);
        let size = size_of_future(&fut);
        assert!(size <= 3072, "the connection future takes {size} bytes");
    }

    /// Polls `fut` once.
    async fn futures_poll_once<F: Future + Unpin>(mut fut: F) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut fut).poll(cx))).await
    }

    fn split(wire: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for p in points.into_iter().chain([wire.len()]) {
            if p > start {
                chunks.push(wire[start..p].to_vec());
                start = p;
            }
        }
        chunks
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn arbitrary_bytes_never_panic_the_parse_step(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse_step(&mut RequestParser::default(), &bytes);
        }

        #[test]
        fn arbitrary_input_ends_the_connection_cleanly(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            cuts in proptest::collection::vec(0usize..1000, 0..6),
        ) {
            let (out, _end) = run_in_memory(split(&bytes, &cuts));
            // Whatever was answered is well-framed responses only.
            let mut rest = &out[..];
            while !rest.is_empty() {
                let mut p = rvp_proto::codec::ResponseParser::default();
                let msg = p.parse(rest, true).unwrap().complete().unwrap();
                proptest::prop_assert!(msg.head().headers().get("rvp-notifications-version").is_some());
                rest = &rest[msg.consumed()..];
            }
        }

        #[test]
        fn pipelined_requests_split_anywhere_are_answered_in_order(
            reqs in proptest::collection::vec((0usize..7, 0usize..64, proptest::prelude::any::<bool>()), 1..8),
            cuts in proptest::collection::vec(0usize..4000, 0..10),
        ) {
            let mut wire = Vec::new();
            let mut want = Vec::new();
            for (i, (m, body_len, bare_lf)) in reqs.iter().enumerate() {
                let method = rvp_proto::Method::ALL[*m];
                let eol = if *bare_lf { "\n" } else { "\r\n" };
                wire.extend(format!(
                    "{method} /instmsg/aliases/u{i} HTTP/1.1{eol}Host: localhost{eol}Content-Length: {body_len}{eol}{eol}"
                ).into_bytes());
                wire.extend(std::iter::repeat_n(b'b', *body_len));
                want.push(format!("{} {method} /instmsg/aliases/u{i} {body_len}", i + 1));
            }
            let (out, end) = run_in_memory(split(&wire, &cuts));
            proptest::prop_assert_eq!(end, ConnEnd::ClientClosed);
            let mut rest = &out[..];
            let mut got = Vec::new();
            while !rest.is_empty() {
                let mut p = rvp_proto::codec::ResponseParser::default();
                let msg = p.parse(rest, true).unwrap().complete().unwrap();
                proptest::prop_assert_eq!(msg.head().code(), 200);
                got.push(String::from_utf8_lossy(msg.body()).into_owned());
                rest = &rest[msg.consumed()..];
            }
            proptest::prop_assert_eq!(got, want);
        }
    }
}
