//! The wire format of RVP, the presence and instant-messaging protocol of Exchange 2000
//! Instant Messaging (Windows Messenger, the Exchange IM client, Pidgin's librvp), as a
//! sans-IO library: bytes and types in, bytes and types out, no sockets, no clock, no
//! async runtime.
//!
//! # Data flow
//!
//! ```text
//!   bytes from a socket (caller-owned buffer)
//!        │
//!        ▼
//!   codec::RequestParser / ResponseParser ──► Status::Partial (read more; not an error)
//!        │  httparse underneath; bare LF, any header case, Content-Length or close-delimited
//!        ▼
//!   RequestHead (zero-copy) ──typed()──► TypedRequest
//!        │                                 ├─ MethodClass   (7 RVP methods, 405, 501)   method
//!        │                                 ├─ RequestTarget (NodePath, LogicalUrl, ...)  url
//!        │                                 └─ RvpHeaders    (Subscription-Id, Call-Back,
//!        │                                                   RVP-Ack-Type, ...)           header
//!        ▼ body bytes
//!   xml::{PropFind, PropertyUpdate, MultiStatus, Notification, RvpAcl, Subscriptions}  (XmlBody)
//!        │  namespace-aware, prefix-agnostic; DOCTYPE refused; depth/size limits
//!        ▼ r:mime-data text (the raw byte range is kept for untouched forwarding)
//!   payload::Payload  (message, typing, join, leave, invitation; double-UTF-8 repair)
//!
//!   and back: Payload::write ─► XmlBody::write (Exchange style: d:/r:/a: on the root,
//!   single quotes, no whitespace) ─► codec::write_request / write_response / write_notify
//!   (Content-Length always, Exchange reason phrases, RVP-Notifications-Version: 0.2)
//! ```
//!
//! This crate knows bytes and types, not semantics: it never decides a status code. The
//! presence engine (`rvp-presence`) does that.
//!
//! # Example: a real librvp instant message, parsed and relayed
//!
//! ```
//! use rvp_proto::codec::{NotifyHead, RequestParser, Status, write_notify};
//! use rvp_proto::header::{AckType, HopCount};
//! use rvp_proto::payload::{Payload, decode_double_utf8};
//! use rvp_proto::xml::{Notification, XmlBody};
//! use rvp_proto::{Method, MethodClass};
//!
//! // librvp sends UTF-8 as Latin-1 code points inside UTF-8 XML ("double UTF-8"):
//! // "Grüße" arrives as "GrÃ¼Ã\u{9f}e".
//! let body = "<?xml version=\"1.0\"?>\n<r:notification xmlns:d=\"DAV:\" \
//!     xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:message><r:notification-from>\
//!     <r:contact><d:href>http://localhost/instmsg/aliases/alice</d:href></r:contact>\
//!     </r:notification-from><r:msgbody><r:mime-data><![CDATA[MIME-Version: 1.0\r\n\
//!     Content-Type: text/plain; charset=UTF-8\r\n\
//!     Session-Id: {D9727BE8-8678-0990-2CE7-BEC55B1ACC0C}\r\n\r\n\
//!     Gr\u{c3}\u{bc}\u{c3}\u{9f}e]]></r:mime-data></r:msgbody></r:message></r:notification>";
//! let wire = format!(
//!     "NOTIFY /instmsg/aliases/bob HTTP/1.1\r\nHost: localhost\r\n\
//!      RVP-From-Principal: http://localhost/instmsg/aliases/alice\r\n\
//!      RVP-Ack-Type: DeepOr\r\nRVP-Hop-Count: 1\r\nContent-Type: text/xml\r\n\
//!      Content-Length: {}\r\n\r\n{body}",
//!     body.len()
//! );
//!
//! // 1. Framing and typed headers.
//! let mut parser = RequestParser::default();
//! let Status::Complete(msg) = parser.parse(wire.as_bytes())? else { unreachable!() };
//! let head = msg.head().typed()?;
//! assert_eq!(head.method, MethodClass::Rvp(Method::Notify));
//! assert_eq!(head.target.path.alias(), Some("bob"));
//! assert_eq!(head.rvp.ack_type(), AckType::DeepOr);
//!
//! // 2. The XML body, then the MIME payload inside it.
//! let Notification::Message(im) = Notification::parse(msg.body())? else { unreachable!() };
//! assert_eq!(im.from.href, "http://localhost/instmsg/aliases/alice");
//! let Payload::Message(text) = Payload::parse(&decode_double_utf8(&im.mime_data.text))? else {
//!     unreachable!()
//! };
//! assert_eq!(text.text, "Grüße");
//!
//! // 3. Relay it to bob's callback the way a home server does: same body bytes, hop + 1.
//! let mut out = Vec::new();
//! let mut relay = NotifyHead::new("/", "127.0.0.1:43663", "http://localhost/instmsg/aliases/alice");
//! relay.hop_count = HopCount::ORIGIN.next();
//! relay.ack_type = Some(AckType::DeepOr);
//! write_notify(&mut out, &relay, msg.body());
//!
//! // ... and the relayed request parses back to the same body.
//! let Status::Complete(again) = parser.parse(&out)? else { unreachable!() };
//! assert_eq!(again.body(), body.as_bytes());
//! assert_eq!(again.head().typed()?.rvp.hop_count.map(HopCount::get), Some(2));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Limits
//!
//! Every parser is bounded: [`codec::Limits`] (head size, header count, body size),
//! [`xml::XmlLimits`] (input size, depth, element count, text size) and
//! [`payload::PayloadLimits`] (header count, line length, header block, body size). Each
//! has documented defaults; exceeding one is a typed error, never a panic.

// docs.rs builds with `--cfg docsrs` (Cargo.toml): items behind a feature say which.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod codec;
#[cfg(feature = "digest")]
#[cfg_attr(docsrs, doc(cfg(feature = "digest")))]
pub mod digest;
pub mod header;
pub mod method;
pub mod payload;
mod request_id;
pub mod rights;
pub mod state;
pub mod status;
pub mod url;
pub mod xml;

pub use method::{Method, MethodClass};
pub use payload::{Payload, PayloadError, PayloadLimits};
pub use request_id::RequestId;
pub use rights::{CredentialKind, CredentialSet, Right, RightSet};
pub use state::PresenceState;
pub use status::reason_phrase;

// Framing layer (codec, header, url).
pub use codec::{Limits, ParseError, RequestParser, ResponseParser, Status};
pub use header::{AckType, HeaderError, HopCount, NotificationType, RvpHeaders, SubscriptionId};
pub use url::{LocalNodeUrl, LogicalUrl, NodeUrl, PhysicalUrl, UrlError};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
