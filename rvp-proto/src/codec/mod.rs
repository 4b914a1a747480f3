//! Framing: incremental request/response parsing and serialization (PROTOCOL.md §2, §3).
//!
//! The parsers work on bytes the caller owns and never do I/O:
//!
//! ```text
//!  socket bytes ──► caller buffer ──► RequestParser::parse_typed(buf) ──► Status::Partial  (read more)
//!                                          │   (hot path: frames and types in one pass)
//!                                          └─► Status::Complete(TypedParsedRequest)
//!                                                 ├─ view(): RequestView, typed but borrowed (no allocation)
//!                                                 ├─ head(), body(), consumed(): as below
//!                                                 └─ message(): the ParsedRequest
//!
//!                      RequestParser::parse(buf) ──► Status::Complete(ParsedRequest)   (framing only)
//!                                                 ├─ head(): zero-copy RequestHead (method, target, headers)
//!                                                 │     ├─ view():  RequestView, typed but borrowed (no allocation)
//!                                                 │     └─ typed(): TypedRequest, owned and canonical
//!                                                 ├─ body(): &[u8]
//!                                                 └─ consumed(): drop this many bytes, parse the next message
//!
//!  http::Request / http::Response ──► write_request / write_response ──► bytes (Content-Length, never chunked)
//!  NotifyHead + body ──────────────► write_notify (fast path, no http::Request built)
//! ```
//!
//! * Incomplete input is [`Status::Partial`], not an error. A complete message reports
//!   how many bytes it used, so pipelined and keep-alive streams work.
//! * Bare-LF line endings, origin-form and absolute-form targets and any header-name case
//!   are accepted (PROTOCOL.md §0.3, §9.5).
//! * Request bodies are delimited by `Content-Length` (absent = no body). Response bodies
//!   by `Content-Length`, or, when it is absent, by the end of the connection: librvp
//!   answers NOTIFYs that way, so [`ResponseParser::parse`] takes an `eof` flag.
//! * `Transfer-Encoding` (chunked or any other) is **rejected** with
//!   [`ParseError::TransferEncoding`]: RVP always uses `Content-Length` (PROTOCOL.md §3.2),
//!   and librvp cannot read chunked bodies; we never produce them either.
//! * Every size is bounded by [`Limits`].
//! * Typing is explicit ([`RequestHead::view`] borrows and does not allocate;
//!   [`RequestHead::typed`] gives owned canonical values): a well-framed message with a
//!   malformed RVP header is still a complete message (the server can answer `400` and
//!   keep the connection); the typed step reports a [`ParseError::Header`] naming the
//!   header.
//! * [`RequestParser::parse_typed`] is the main way for a server: it frames and types in
//!   one pass with its own head scanner (`scan.rs`), which frames exactly like httparse
//!   (the oracle: `parse` uses httparse, and the two are compared on arbitrary bytes by
//!   the `head_scan` fuzz target and `tests/head_scan.rs`), recognises the known header
//!   names with a few word compares and hands each line to the typing code as soon as it
//!   is found. It gives exactly what `parse` followed by `view` gives — anything the
//!   one-pass recognisers do not handle (escaped aliases, physical or absolute targets,
//!   IPv6 hosts, malformed or duplicate headers...) is typed by the general code. Use
//!   `parse` when only framing is needed (relays, proxies).
//!
//! ```
//! use rvp_proto::codec::{RequestParser, Status};
//! use rvp_proto::header::AckType;
//! use rvp_proto::{Method, MethodClass};
//!
//! let wire = b"NOTIFY /instmsg/aliases/bob HTTP/1.1\nHost: localhost\nRVP-Ack-Type: DeepOr\n\
//!              Content-Length: 2\n\nhiSUBSCRIBE /...";
//! let mut parser = RequestParser::default();
//! let Status::Complete(msg) = parser.parse(wire)? else { panic!("complete") };
//! let typed = msg.head().typed()?;
//! assert_eq!(typed.method, MethodClass::Rvp(Method::Notify));
//! assert_eq!(typed.target.path.alias(), Some("bob"));
//! assert_eq!(typed.rvp.ack_type(), AckType::DeepOr);
//! assert_eq!(msg.body(), b"hi");
//! assert_eq!(&wire[msg.consumed()..], b"SUBSCRIBE /...");
//! # Ok::<(), rvp_proto::codec::ParseError>(())
//! ```

mod head;
mod limits;
mod request;
mod response;
mod scan;
mod write;

pub use head::Headers;
pub use limits::{Limits, MAX_HEADERS_CAP};
#[doc(hidden)]
pub use request::scan_request_head;
pub use request::{
    ConnectionOptions, ParsedRequest, RequestHead, RequestParser, RequestView, TypedParsedRequest,
    TypedRequest, decode_request,
};
pub use response::{ParsedResponse, ResponseHead, ResponseParser, TypedResponse, decode_response};
pub use write::{
    NotifyHead, ReasonPhrase, WriteError, write_notify, write_notify_parts, write_request,
    write_response,
};

use crate::header::HeaderError;
use crate::url::UrlError;

/// The result of feeding bytes to a parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// A complete message.
    Complete(T),
    /// More bytes are needed (not an error).
    Partial,
}

impl<T> Status<T> {
    /// The complete value, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(t) => Some(t),
            Status::Partial => None,
        }
    }

    /// Whether more bytes are needed.
    pub fn is_partial(&self) -> bool {
        matches!(self, Status::Partial)
    }
}

/// Why a message could not be parsed (framing) or typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The start line or a header line is not valid HTTP/1.x.
    #[error("malformed HTTP message: {0}")]
    Syntax(&'static str),
    /// The head is longer than [`Limits::max_head_bytes`].
    #[error("message head exceeds the limit of {limit} bytes")]
    HeadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// More header lines than [`Limits::max_headers`].
    #[error("more than {limit} header lines")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The body is longer than [`Limits::max_body_bytes`].
    #[error("body of {length} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// Declared (or, for close-delimited bodies, received) length.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// `Content-Length` is not a decimal number.
    #[error("malformed Content-Length header: {0:?}")]
    InvalidContentLength(String),
    /// Several `Content-Length` headers with different values.
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
    /// `Transfer-Encoding` present: RVP bodies always carry `Content-Length`.
    #[error("Transfer-Encoding {0:?} not supported: RVP messages use Content-Length")]
    TransferEncoding(String),
    /// The connection ended inside a message.
    #[error("connection closed in the middle of a message")]
    UnexpectedEof,
    /// A malformed RVP header (typing step).
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// A malformed request-target or `Host` (typing step).
    #[error("malformed request-target: {0}")]
    Target(#[from] UrlError),
    /// The message cannot be represented with the `http` crate's types.
    #[error("cannot convert to http types: {0}")]
    Http(String),
}
