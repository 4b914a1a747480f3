//! The RVP home server's brain as a deterministic state machine.
//!
//! `rvp-presence` decides everything a home server decides (PROTOCOL.md
//! §1, §2, §5, §6.5, §8) with no I/O, no clock and no threads: the
//! embedder passes in a parsed request, the caller's identity and the current time; the
//! engine answers, changes its state and emits the notifications to send. A server wraps
//! it in sockets; gateways, simulators and tests embed it directly.
//!
//! ```text
//!  request bytes (socket)
//!     │ rvp_proto RequestParser ─► RequestHead::typed_lenient() ─► TypedRequest (typed once)
//!     │ Caller::from_rvp_headers(&req.rvp, authenticated identity, source IP)
//!     ▼
//!  Engine::handle_request(now, RequestId, &caller, &req, &body) ── method layer ([`method`])
//!     │  (Engine::handle_http: the same for an http::Request, typed by TypedRequest::from_http)
//!     │  501/405 · request-target → node (404) · headers the lenient typing left to the
//!     │  method (412) · XML body (400 names the element)
//!     │  one module per method: subscribe unsubscribe subscriptions propfind proppatch
//!     │                         notify acl
//!     ▼
//!  typed operations (also public, for embedders without HTTP):
//!     subscribe / unsubscribe / subscriptions / propfind / proppatch_state / notify /
//!     acl_read / acl_write (now, req, ..) · handle_delivery_result · handle_timeout
//!     │
//!   ┌─┴────────────────────── Engine ───────────┐
//!   │ Directory   principals, logical/physical  │
//!   │ Acl         per node, §8.2–8.4 evaluation │
//!   │ Views       leased r:state per view,      │
//!   │             §5.3 binding, §5.4 aggregate  │   poll_timeout() -> Option<Instant>:
//!   │ Subscriptions slab + ordered expiry set   │   when to call handle_timeout next
//!   │ Ack tracking  §6.5 per deep NOTIFY        │
//!   └─┬─────────────────────────────────────────┘
//!     ▼ poll_output()
//!  Output::Respond(Answer)   exactly one per RequestId ─► answer.write(&mut buf) ─► bytes
//!  Output::Deliver(Delivery) NOTIFY to a call-back     ─► d.write_notify(&mut buf) ─► bytes
//!                            (relays: body untouched, hop + 1; property changes:
//!                             rendered once, spliced per watcher) to d.destination();
//!                            report the outcome with handle_delivery_result
//! ```
//!
//! The shape follows quinn-proto and str0m: `handle_*(now, ..)` and the typed operations
//! go in, [`Engine::poll_output`] and [`Engine::poll_timeout`] come out. Every operation
//! queues exactly one [`Answer`] for its [`RequestId`] — at once, or, for a NOTIFY with
//! `RVP-Ack-Type: DeepOr`/`DeepAnd`, as soon as the delivery outcomes the embedder reports
//! decide it (or the delivery timeout does).
//!
//! What the engine holds and decides:
//!
//! * **Principals** ([`principal`]) registered by the embedder, addressable by logical
//!   (`/instmsg/aliases/<alias>`) and physical (`/instmsg/local/<host>/...`) URL.
//! * **Presence** ([`lease`]): leased `r:state` per view (§5.2), view-less PROPPATCHes bound
//!   by (principal, source IP) (§5.3), the published aggregate (§5.4); a change of the
//!   published value notifies every live, permitted `update/propchange` subscription; a
//!   refresh that does not change it notifies nobody; lease expiry reverts and notifies.
//! * **Subscriptions** ([`subscription`]): both kinds, lifetimes clamped to the
//!   [`Policy`], renewal, UNSUBSCRIBE, listing with remaining seconds, silent expiry in
//!   O(expired); decimal ids below 2^31, never reused while live.
//! * **NOTIFY** ([`delivery`]): relayed untouched to the node's `pragma/notify`
//!   subscriptions with hop count + 1, the hop limit enforced, acknowledged by the §6.5
//!   table; callback failures discard a subscription after 3 in a row or 5 minutes (§5.7).
//! * **ACLs** ([`acl`]): the default ACL, grant/deny evaluation over asserted and
//!   authenticated credentials, merge-by-principal writes; a presence-denied watcher sees
//!   `offline` and receives no state.
//!
//! * **Durability** ([`journal`]): an optional change journal of every durable change
//!   (subscriptions, views, ACLs, id counters) for the embedder to commit before it
//!   answers, and [`Engine::restore`] from the stored records after a restart.
//!
//! What it leaves to its embedder: sockets, authentication (it receives a [`Caller`]),
//! storage (it hands out changes to commit) and the clock.
//!
//! # Example: a login from raw bytes
//!
//! Bob's client logs in (login subscription, PROPPATCH online), Alice watches him, Bob
//! goes busy (one NOTIFY to Alice's client) and Alice sends him a message (relayed to
//! Bob's client untouched):
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use rvp_presence::{Caller, DirectoryProperties, Engine, NodeKey, Output, Policy, RequestId};
//! use rvp_proto::codec::{RequestParser, Status};
//! use rvp_proto::xml::{MultiStatus, Notification, XmlBody};
//! use rvp_proto::header::FromPrincipal;
//! use rvp_proto::{CredentialKind, PresenceState};
//!
//! let t0 = Instant::now();
//! let mut engine = Engine::new(Policy::default(), t0)?;
//! for (alias, name) in [("alice", "Alice"), ("bob", "Bob")] {
//!     let key = NodeKey::new("localhost", alias).expect("valid key");
//!     engine.register_principal(key, DirectoryProperties::new(name, &format!("{alias}@localhost")))?;
//! }
//!
//! // What a server does per request: frame, type the head once, build the caller, handle,
//! // write the outputs.
//! let mut n = 0;
//! let mut send = |engine: &mut Engine, who: &str, head: &str, body: &str| {
//!     let wire = format!("{head}\r\nHost: localhost\r\nRVP-From-Principal: http://localhost/instmsg/aliases/{who}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
//!     let mut parser = RequestParser::default();
//!     let Status::Complete(msg) = parser.parse(wire.as_bytes())? else {
//!         panic!("complete");
//!     };
//!     let req = msg.head().typed_lenient()?;
//!     let body = Bytes::copy_from_slice(msg.body());
//!     let me: FromPrincipal = format!("http://localhost/instmsg/aliases/{who}").parse()?;
//!     let caller = Caller::from_rvp_headers(&req.rvp, Some((&me, CredentialKind::Digest)), None);
//!     n += 1;
//!     engine.handle_request(t0, RequestId(n), &caller, &req, &body);
//!     let (mut response, mut notifies) = (Vec::new(), Vec::new());
//!     while let Some(output) = engine.poll_output() {
//!         match output {
//!             Output::Respond(answer) => answer.write(&mut response),
//!             Output::Deliver(d) => notifies.push(d),
//!             _ => {}
//!         }
//!     }
//!     Ok::<_, Box<dyn std::error::Error>>((String::from_utf8(response)?, notifies))
//! };
//!
//! // Bob's login subscription, then his state: 200, 207.
//! let (res, _) = send(&mut engine, "bob", "SUBSCRIBE /instmsg/aliases/bob HTTP/1.1\r\n\
//!     Notification-Type: pragma/notify\r\nCall-Back: http://192.0.2.7:4000\r\n\
//!     Subscription-Lifetime: 14400", "")?;
//! assert!(res.starts_with("HTTP/1.1 200 Successful\r\nSubscription-Id: "));
//! let online = "<d:propertyupdate xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'>\
//!     <d:set><d:prop><r:state><r:leased-value><r:value><r:online/></r:value>\
//!     <r:default-value><r:offline/></r:default-value><d:timeout>1200</d:timeout>\
//!     </r:leased-value></r:state></d:prop></d:set></d:propertyupdate>";
//! let (res, _) = send(&mut engine, "bob", "PROPPATCH /instmsg/aliases/bob HTTP/1.1", online)?;
//! assert!(res.starts_with("HTTP/1.1 207 Multi-Status\r\n") && res.contains("<r:view-id>"));
//!
//! // Alice (also logged in) watches Bob: 207 showing him online.
//! send(&mut engine, "alice", "SUBSCRIBE /instmsg/aliases/alice HTTP/1.1\r\n\
//!     Notification-Type: pragma/notify\r\nCall-Back: http://192.0.2.9:5000\r\n\
//!     Subscription-Lifetime: 14400", "")?;
//! let (res, _) = send(&mut engine, "alice", "SUBSCRIBE /instmsg/aliases/bob HTTP/1.1\r\n\
//!     Notification-Type: update/propchange\r\n\
//!     Call-Back: http://localhost/instmsg/aliases/alice\r\nSubscription-Lifetime: 14400", "")?;
//! let body = &res[res.find("<?xml").expect("a body")..];
//! assert!(MultiStatus::parse(body.as_bytes())?.responses[0].href.ends_with("/bob"));
//! assert!(body.contains("<r:state><r:online/></r:state>"));
//!
//! // Bob goes busy: the answer, and one NOTIFY to Alice's client (hop 2, §2.6-d).
//! let (_, notifies) = send(&mut engine, "bob", "PROPPATCH /instmsg/aliases/bob HTTP/1.1",
//!     &online.replace("r:online", "r:busy"))?;
//! assert_eq!(notifies.len(), 1);
//! assert_eq!(notifies[0].destination(), ("192.0.2.9:5000", "/"));
//! let mut wire = Vec::new();
//! notifies[0].write_notify(&mut wire)?;
//! assert!(wire.starts_with(b"NOTIFY / HTTP/1.1\r\nHost: 192.0.2.9:5000\r\n"));
//! let Notification::PropNotification(change) = Notification::parse(&notifies[0].body_bytes())?
//! else { panic!("a property change") };
//! assert_eq!(change.update.state(), Some(&rvp_proto::xml::StateValue::bare(PresenceState::Busy)));
//!
//! // Alice sends Bob a message (SingleHop: answered at once); Bob's client gets it as sent.
//! // Its r:notification-from must be Alice, the sender (§6.1).
//! let im = "<r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><r:message>\
//!     <r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/alice</d:href>\
//!     </r:contact></r:notification-from><r:msgbody><r:mime-data>MIME-Version: 1.0\r\n\r\nhi\
//!     </r:mime-data></r:msgbody></r:message></r:notification>";
//! let (res, notifies) = send(&mut engine, "alice", "NOTIFY /instmsg/aliases/bob HTTP/1.1\r\n\
//!     RVP-Hop-Count: 1\r\nContent-Type: text/xml", im)?;
//! assert!(res.starts_with("HTTP/1.1 200 Successful"));
//! assert_eq!(notifies[0].destination(), ("192.0.2.7:4000", "/"));
//! assert_eq!(notifies[0].relayed_body().map(|b| &b[..]), Some(im.as_bytes()));
//! assert_eq!(notifies[0].hop_count(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: the typed operations
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rvp_presence::{
//!     Caller, DirectoryProperties, Engine, NodeKey, Output, Policy, RequestId, Outcome,
//!     StatePatch, SubscribeParams, SubscriptionKind,
//! };
//! use rvp_proto::header::FromPrincipal;
//! use rvp_proto::{CredentialKind, PresenceState};
//!
//! let t0 = Instant::now();
//! let mut engine = Engine::new(Policy::default(), t0)?;
//! let bob = NodeKey::new("im.example.com", "bob").expect("valid key");
//! engine.register_principal(bob.clone(), DirectoryProperties::new("Bob", "bob@example.com"))?;
//!
//! // A remote watcher subscribes to bob's presence: 207 with bob's properties.
//! let watcher = "http://im.acme.com/instmsg/aliases/alice";
//! engine.subscribe(
//!     t0,
//!     RequestId(1),
//!     &Caller::asserted(watcher),
//!     &bob,
//!     SubscribeParams::new(SubscriptionKind::PropChange, watcher.parse().unwrap(), 14_400),
//! );
//! let Some(Output::Respond(answer)) = engine.poll_output() else { panic!("an answer") };
//! assert_eq!(answer.outcome.status().as_u16(), 207);
//!
//! // Bob (authenticated) goes busy for 20 minutes: one answer, one NOTIFY to alice.
//! let me = Caller::authenticated("http://im.example.com/instmsg/aliases/bob", CredentialKind::Digest);
//! engine.proppatch_state(t0, RequestId(2), &me, &bob, StatePatch::leased(PresenceState::Busy, 1200));
//! let mut notifies = Vec::new();
//! while let Some(output) = engine.poll_output() {
//!     match output {
//!         Output::Respond(a) => assert!(matches!(a.outcome, Outcome::StateSet { .. })),
//!         Output::Deliver(d) => notifies.push(d),
//!         _ => {}
//!     }
//! }
//! assert_eq!(notifies.len(), 1);
//! assert_eq!(notifies[0].callback().as_str(), watcher);
//! let body = String::from_utf8(notifies[0].body_bytes().to_vec())?;
//! assert!(body.contains("<r:state><r:busy/></r:state>"));
//!
//! // Hours pass in no time: the lease (plus its grace) ends, bob reverts to offline and
//! // alice is told.
//! let wake = engine.poll_timeout().expect("a lease is running");
//! assert_eq!(wake, t0 + Duration::from_secs(1200 + 10));
//! engine.handle_timeout(wake);
//! let Some(Output::Deliver(d)) = engine.poll_output() else { panic!("a NOTIFY") };
//! assert!(String::from_utf8(d.body_bytes().to_vec())?.contains("<r:offline/>"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// docs.rs builds with `--cfg docsrs` (Cargo.toml): items behind a feature say which.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod acl;
mod callback;
pub mod caller;
mod clock;
pub mod delivery;
pub mod engine;
mod intern;
pub mod journal;
pub mod lease;
pub mod method;
pub mod policy;
pub mod principal;
pub mod render;
pub mod subscription;

pub use acl::{Ace, AcePrincipal, Acl, AclError};
pub use callback::is_special_address;
pub use caller::Caller;
pub use delivery::{AckType, DeliveryId, DeliveryOutcome};
pub use engine::{
    Answer, Delivery, Engine, NodeProperties, Outcome, Output, Refusal, RequestId,
    SubscriptionEntry,
};
pub use journal::{
    AclRecord, Change, Counters, Records, RestoreError, RestoreReport, SubscriptionRecord,
    ViewRecord,
};
pub use lease::{LeasedState, ViewId};
pub use method::{NotifyParams, PropfindScope, StatePatch, SubscribeParams};
pub use policy::{Policy, PolicyError};
pub use principal::{Directory, DirectoryProperties, NodeKey, PrincipalId};
pub use subscription::{SubscriptionId, SubscriptionInfo, SubscriptionKind};
