//! An RVP client: the presence and instant-messaging protocol of Exchange 2000 Instant
//! Messaging (Windows Messenger, Pidgin's librvp) from the client's side.
//!
//! Two layers:
//!
//! * [`Session`], a **sans-IO** state machine for one signed-on principal: the sign-on
//!   sequence real clients use (PROTOCOL.md §5.8), renewals of the login subscription, the
//!   watches and the state lease timed from what the server granted, the watch list,
//!   state changes, instant messages, typing, join/leave, invitations, allow/block through
//!   ACL writes, sign-off. It never reads a clock, opens a socket or spawns a thread, so a
//!   load generator can run thousands of sessions in one process and tests run hours in
//!   microseconds.
//! * `driver` (feature **`tokio`**): runs a [`Session`] on tokio with real sockets — Digest
//!   authentication, `alias@domain` resolution through `rvp-resolve` (or a fixed server
//!   address), redirects, its own call-back listener for the server's NOTIFYs, reconnection
//!   with bounded back-off.
//!
//! # Data flow
//!
//! ```text
//!  application ──sign_on / watch / set_state / send_message / block / sign_off──┐
//!                                                                              ▼
//!   ┌──────────────────────────────── Session (sans-IO) ─────────────────────────────┐
//!   │ sign-on steps · login/watch subscriptions · state lease + view id ·            │
//!   │ watch list (presence) · conversations (Session-Id) · left conversations       │
//!   └──┬───────────────────────┬────────────────────────┬─────────────────────┬──────┘
//!      │ poll_transmit()       │ poll_event()           │ poll_timeout()      ▲ handle_notify()
//!      ▼ Request {id, kind}    ▼ Event (typed)          ▼ next renewal        │ ─► NotifyAnswer
//!   driver: Request::write + Digest (digest::DigestAuth) ──TCP──► home server │
//!           302 → Request::redirect                                           │
//!           answer ─► Reply::from_parsed ─► Session::handle_response(id)      │
//!           call-back listener ◄──────────── NOTIFY / (presence, IMs) ────────┘
//! ```
//!
//! The wire format is `rvp-proto`'s: requests are written in librvp's shape, answers and
//! NOTIFYs are read with its parsers ([`reply`], [`inbound`]), message payloads are
//! [`rvp_proto::payload`] values.
//!
//! # Example: a session driven by hand
//!
//! What a driver does, with the server's answers written out:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rvp_client::{Event, Phase, Reply, RequestKind, Session, SessionConfig};
//! use rvp_proto::PresenceState;
//!
//! let t0 = Instant::now();
//! let bob = "http://localhost/instmsg/aliases/bob".parse()?;
//! let mut config = SessionConfig::new("http://localhost/instmsg/aliases/alice".parse()?);
//! config.watch_list.push(bob);
//! let mut session = Session::new(config)?;
//! session.sign_on(t0, "http://127.0.0.1:40311".parse()?)?;
//!
//! // The server's answer to each request of the sign-on sequence (PROTOCOL.md §5.8).
//! let ms = |props: &str| format!("<?xml version=\"1.0\"?><d:multistatus xmlns:d='DAV:' \
//!     xmlns:r='http://schemas.microsoft.com/rvp/'><d:response><d:href>x</d:href><d:propstat>\
//!     <d:prop>{props}</d:prop><d:status>HTTP/1.1 200 Successful</d:status></d:propstat>\
//!     </d:response></d:multistatus>");
//! let answer = |status: &str, headers: &str, body: &str| {
//!     Reply::parse(format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes())
//! };
//! let mut sent = Vec::new();
//! while let Some(request) = session.poll_transmit() {
//!     sent.push(format!("{} {}", request.method().as_str(), request.target()));
//!     let reply = match request.kind() {
//!         RequestKind::Login => answer("200 Successful", "Subscription-Id: 11\r\nSubscription-Lifetime: 14400\r\n", "")?,
//!         RequestKind::SetState { .. } => answer("207 Multi-Status", "", &ms(
//!             "<r:state><r:leased-value><r:value><r:online/></r:value><r:default-value><r:offline/>\
//!              </r:default-value><d:timeout>1200</d:timeout></r:leased-value><r:view-id>5</r:view-id></r:state>"))?,
//!         RequestKind::Properties { .. } => answer("207 Multi-Status", "", &ms("<d:displayname>Alice</d:displayname>"))?,
//!         RequestKind::Watchers => answer("200 Successful", "", "<r:subscriptions xmlns:r='http://schemas.microsoft.com/rvp/'/>")?,
//!         RequestKind::ReadAcl => answer("200 Successful", "", "<a:rvpacl xmlns:a='http://schemas.microsoft.com/rvp/acl/'><a:acl/></a:rvpacl>")?,
//!         RequestKind::Watch { who } if who.alias() == "bob" => answer("207 Multi-Status",
//!             "Subscription-Id: 13\r\nSubscription-Lifetime: 14400\r\n",
//!             &ms("<r:state><r:busy/></r:state><d:displayname>Bob</d:displayname>"))?,
//!         RequestKind::Watch { .. } => answer("207 Multi-Status", "Subscription-Id: 12\r\n", &ms("<r:state><r:online/></r:state>"))?,
//!         other => unreachable!("{other:?}"),
//!     };
//!     session.handle_response(t0, request.id(), &reply);
//! }
//! assert_eq!(sent, [
//!     "SUBSCRIBE /instmsg/aliases/alice", "PROPPATCH /instmsg/aliases/alice",
//!     "PROPFIND /instmsg/aliases/alice", "SUBSCRIPTIONS /instmsg/aliases/alice",
//!     "ACL /instmsg/aliases/alice", "SUBSCRIBE /instmsg/aliases/alice",
//!     "SUBSCRIBE /instmsg/aliases/bob",
//! ]);
//! assert_eq!(session.phase(), Phase::SignedOn);
//! assert_eq!(session.view_id(), Some("5"));
//! let events: Vec<Event> = std::iter::from_fn(|| session.poll_event()).collect();
//! assert!(events.contains(&Event::SignedOn { display_name: Some("Alice".into()) }));
//! assert!(events.iter().any(|e| matches!(e, Event::Presence { who, state: PresenceState::Busy } if who.alias() == "bob")));
//!
//! // Bob writes; the session answers the NOTIFY on its call-back and reports the text.
//! let im = "<r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><r:message>\
//!     <r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/bob</d:href></r:contact>\
//!     </r:notification-from><r:msgbody><r:mime-data>MIME-Version: 1.0\r\nContent-Type: text/plain; \
//!     charset=UTF-8\r\nSession-Id: {3F2504E0-4F89-11D3-9A0C-0305E82C3301}\r\n\r\nGr\u{c3}\u{bc}\u{c3}\u{9f}e!\
//!     </r:mime-data></r:msgbody></r:message></r:notification>";
//! let notify = format!("NOTIFY / HTTP/1.1\nHost: 127.0.0.1:40311\nContent-Length: {}\n\n{im}", im.len());
//! let answer = session.handle_notify_bytes(t0, notify.as_bytes());
//! assert_eq!(answer.status(), 200);
//! let Some(Event::Message { text, .. }) = session.poll_event() else { panic!("a message") };
//! assert_eq!(text, "Grüße!");
//!
//! // The lease (1200 s granted) is refreshed a minute before it ends, with the view id.
//! assert_eq!(session.poll_timeout(), Some(t0 + Duration::from_secs(1140)));
//! session.handle_timeout(t0 + Duration::from_secs(1140));
//! let refresh = session.poll_transmit().expect("a lease refresh");
//! assert!(String::from_utf8(refresh.to_bytes())?.contains("<r:view-id>5</r:view-id>"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! * default: none — the sans-IO core only (dependencies: `rvp-proto`, `http`, `md-5`,
//!   `thiserror`).
//! * `tokio`: the `driver` module (tokio, `rvp-resolve`, `getrandom`).
//! * `hickory`: real DNS for the driver (`rvp-resolve`'s hickory resolver).
//!
//! # Limits
//!
//! Every queue and table is bounded, with documented defaults in [`SessionConfig`]
//! (`max_watches`, `max_pending`, `max_conversations`, `max_left_conversations`,
//! `max_queued_events`, XML and payload limits) and, for the driver, its `ClientConfig`
//! (connection, answer and call-back limits and timeouts, redirects, reconnection
//! attempts). Bad input is a typed error or a `4xx` answer, never a panic.
//!
//! # Not done
//!
//! TLS; NTLM/Negotiate authentication (RVP servers offer Digest to non-Windows clients);
//! requests about principals of *other* domains go to the home server too (a federated
//! client would send them to the other domain's router, PROTOCOL.md §7.4).

#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
pub mod digest;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod driver;
mod event;
pub mod inbound;
pub mod reply;
mod request;
mod rng;
mod session;

pub use config::{ConfigError, MAX_DELAY, SessionConfig, TextEncoding};
pub use event::{Event, Failure, TransportError, Undelivered, Warning};
pub use inbound::{Inbound, InboundError, NotifyAnswer};
pub use reply::{Interpreted, Properties, Reply, ReplyError};
pub use request::{AclRule, Lane, MessageKind, Request, RequestId, RequestKind};
pub use session::{Buddy, Phase, Session, SessionError};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
