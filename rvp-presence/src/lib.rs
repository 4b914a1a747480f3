//! The RVP home server's brain as a deterministic state machine.
//!
//! `rvp-presence` decides everything a home server decides (reference
//! `rvp-protocol.md` §1, §2, §5, §6.5, §8) with no I/O, no clock and no threads: the
//! embedder passes in a parsed request, the caller's identity and the current time; the
//! engine answers, changes its state and emits the notifications to send. A server wraps
//! it in sockets; gateways, simulators and tests embed it directly.
//!
//! ```text
//!                 inputs                               outputs (poll_output)
//!  ┌──────────────────────────────────────┐
//!  │ register_principal(key, props)       │      ┌────────────────────────────────────┐
//!  │ subscribe / unsubscribe /            │      │ Output::Respond(Answer)            │
//!  │ subscriptions / propfind /           │      │   exactly one per RequestId:       │
//!  │ proppatch_state / notify /           │─┐    │   Response::{Subscribed, Renewed,  │
//!  │ acl_read / acl_write  (now, req, ..) │ │    │   Properties, StateSet, Notified,  │
//!  │ handle_delivery_result(now, id, out) │ │    │   Acl, ..., Refused(Refusal)}      │
//!  │ handle_timeout(now)                  │ │    │ Output::Deliver(Delivery)          │
//!  └──────────────────────────────────────┘ │    │   NOTIFY to a call-back: relays    │
//!                                           ▼    │   (body untouched, hop + 1) and    │
//!   ┌──────────────────────── Engine ───────────┐│   property changes (rendered once, │
//!   │ Directory   principals, logical/physical ││   spliced per watcher)             │
//!   │ Acl         per node, §8.2–8.4 evaluation │└────────────────────────────────────┘
//!   │ Views       leased r:state per view,      │          ▲
//!   │             §5.3 binding, §5.4 aggregate  │──────────┘
//!   │ Subscriptions slab + ordered expiry set   │  poll_timeout() -> Option<Instant>:
//!   │ Ack tracking  §6.5 per deep NOTIFY        │  when to call handle_timeout next
//!   └───────────────────────────────────────────┘
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
//! What it leaves to its caller (the method layer): HTTP and XML parsing and rendering,
//! authentication (it receives a [`Caller`]), and sockets.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rvp_presence::{
//!     Caller, DirectoryProperties, Engine, NodeKey, Output, Policy, RequestId, Response,
//!     StatePatch, SubscribeParams, SubscriptionKind,
//! };
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
//!     SubscribeParams::new(SubscriptionKind::PropChange, watcher, 14_400),
//! );
//! let Some(Output::Respond(answer)) = engine.poll_output() else { panic!("an answer") };
//! assert_eq!(answer.response.status().as_u16(), 207);
//!
//! // Bob (authenticated) goes busy for 20 minutes: one answer, one NOTIFY to alice.
//! let me = Caller::authenticated("http://im.example.com/instmsg/aliases/bob", CredentialKind::Digest);
//! engine.proppatch_state(t0, RequestId(2), &me, &bob, StatePatch::leased(PresenceState::Busy, 1200));
//! let mut notifies = Vec::new();
//! while let Some(output) = engine.poll_output() {
//!     match output {
//!         Output::Respond(a) => assert!(matches!(a.response, Response::StateSet { .. })),
//!         Output::Deliver(d) => notifies.push(d),
//!         _ => {}
//!     }
//! }
//! assert_eq!(notifies.len(), 1);
//! assert_eq!(&**notifies[0].callback(), watcher);
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

pub mod acl;
pub mod caller;
mod clock;
pub mod delivery;
pub mod engine;
mod intern;
pub mod lease;
pub mod method;
pub mod policy;
pub mod principal;
pub mod render;
pub mod subscription;

pub use acl::{Ace, AcePrincipal, Acl, AclError};
pub use caller::Caller;
pub use delivery::{AckType, DeliveryId, DeliveryOutcome};
pub use engine::{
    Answer, Delivery, Engine, NodeProperties, NotifyParams, Output, PropfindScope, Refusal,
    RequestId, Response, StatePatch, SubscribeParams, SubscriptionEntry,
};
pub use lease::{LeasedState, ViewId};
pub use policy::{Policy, PolicyError};
pub use principal::{Directory, DirectoryProperties, NodeKey, PrincipalId};
pub use subscription::{SubscriptionId, SubscriptionInfo, SubscriptionKind};
