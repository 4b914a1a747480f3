//! The engine: typed operations in, answers and deliveries out.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use http::StatusCode;
use rvp_proto::{CredentialKind, PresenceState, Right};

use crate::acl::{Ace, Acl, AclError};
use crate::caller::{Caller, canonical_principal};
use crate::clock::{Clock, Millis, duration_millis, remaining_secs, secs_millis};
use crate::delivery::{AckTracker, AckType, AckVerdict, DeliveryId, DeliveryOutcome};
use crate::lease::{LeasedState, View, ViewId, Views};
use crate::method::Form;
use crate::policy::{Policy, PolicyError};
use crate::principal::{Directory, DirectoryError, DirectoryProperties, NodeKey, PrincipalId};
use crate::render::{self, NotifyBody, PropChangeBody, RenderedChange};
use crate::subscription::{
    NewSubscription, SubscriptionId, SubscriptionInfo, SubscriptionKind, SubscriptionTable,
};

mod persist;

/// Names one request; chosen by the embedder, echoed in its [`Answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// The answer to one request.
///
/// [`Answer::to_http`] and [`Answer::write`] render it as the HTTP response to send
/// (see [`crate::method`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The request answered.
    pub request: RequestId,
    /// What to answer.
    pub response: Response,
    /// How the method layer asked the body to be shaped (PROPFIND property selection).
    pub(crate) form: Form,
}

/// What the engine wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Output {
    /// Answer a request (boxed: answers are one per request, deliveries can be
    /// thousands per change, and the queue is as wide as its widest element).
    Respond(Box<Answer>),
    /// Send a NOTIFY to a call-back and report the outcome with
    /// [`Engine::handle_delivery_result`].
    Deliver(Delivery),
}

/// A NOTIFY to send to a subscription's call-back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    id: DeliveryId,
    /// The subscription whose event this is: the watch, also when the change is delivered
    /// through the watcher's login subscription (then `id.subscription` is the login).
    origin: SubscriptionId,
    callback: Arc<str>,
    hop_count: u32,
    ack: AckType,
    body: NotifyBody,
}

impl Delivery {
    /// Report the outcome under this id.
    pub fn id(&self) -> DeliveryId {
        self.id
    }

    /// The subscription the delivery is for (`Subscription-Id` header).
    pub fn subscription(&self) -> SubscriptionId {
        self.id.subscription
    }

    /// The subscription whose event this delivery carries: for a property change relayed
    /// to a local watcher's login subscriptions, the watch (not the login, which
    /// [`Delivery::subscription`] names). Two deliveries with different origins are
    /// different notifications, even to the same call-back under the same
    /// `Subscription-Id`: an embedder that coalesces presence updates keys them by this.
    pub fn origin(&self) -> SubscriptionId {
        self.origin
    }

    /// Where to send it (the subscription's `Call-Back`).
    pub fn callback(&self) -> &Arc<str> {
        &self.callback
    }

    /// `RVP-Hop-Count` to send.
    pub fn hop_count(&self) -> u32 {
        self.hop_count
    }

    /// `RVP-Ack-Type` to send.
    pub fn ack(&self) -> AckType {
        self.ack
    }

    /// `RVP-From-Principal` to send: the original sender for a relay, the node's logical
    /// host for a property change (PROTOCOL.md §2.6).
    pub fn from_principal(&self) -> &Arc<str> {
        self.body.sender()
    }

    /// For a relayed NOTIFY, the body exactly as received.
    pub fn relayed_body(&self) -> Option<&Bytes> {
        match &self.body {
            NotifyBody::Relay { bytes, .. } => Some(bytes),
            NotifyBody::PropChange(_) => None,
        }
    }

    /// For a property-change NOTIFY, the `r:notification-to` URL (the watching
    /// subscription's call-back).
    pub fn notification_to(&self) -> Option<&str> {
        match &self.body {
            NotifyBody::Relay { .. } => None,
            NotifyBody::PropChange(p) => Some(p.to.as_deref().unwrap_or(&self.callback)),
        }
    }

    /// The body in three parts for vectored writes: a property change is a shared
    /// prefix, the watcher's URL and a shared suffix; a relay is its bytes and two empty
    /// parts. Write the middle part XML-escaped unless [`Delivery::middle_is_plain`].
    pub fn body_parts(&self) -> [&[u8]; 3] {
        self.body.parts(&self.callback)
    }

    /// Whether [`Delivery::body_parts`]' middle part can be written as is.
    pub fn middle_is_plain(&self) -> bool {
        !render::needs_escape(self.body_parts()[1])
    }

    /// Length of the body in bytes.
    pub fn body_len(&self) -> usize {
        let [a, b, c] = self.body_parts();
        a.len() + render::escaped_len_bytes(b) + c.len()
    }

    /// Appends the body to `out`.
    pub fn write_body(&self, out: &mut impl BufMut) {
        let [a, b, c] = self.body_parts();
        out.put_slice(a);
        render::escape_bytes_into(out, b);
        out.put_slice(c);
    }

    /// The body as one buffer (a reference-count increment for a relay).
    pub fn body_bytes(&self) -> Bytes {
        if let Some(b) = self.relayed_body() {
            return b.clone();
        }
        let mut out = BytesMut::with_capacity(self.body_len());
        self.write_body(&mut out);
        out.freeze()
    }
}

/// The properties of a node as one caller may see them (PROPFIND, SUBSCRIBE 207).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProperties {
    /// The node's logical URL (`d:href`).
    pub href: Arc<str>,
    /// `r:state` as the caller may see it: `offline` when `presence` is denied (§8.4).
    pub state: PresenceState,
    /// Directory properties; `None` when `read` is denied.
    pub directory: Option<DirectoryProperties>,
}

/// One line of a SUBSCRIPTIONS answer (PROTOCOL.md §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionEntry {
    /// `r:subscription-id`.
    pub id: SubscriptionId,
    /// `d:href`: the call-back for the node owner, the subscriber's principal URL for
    /// anyone else (IP call-backs are never shown to others, §2.3).
    pub href: Arc<str>,
    /// `a:rvp-principal`: the subscriber.
    pub principal: Arc<str>,
    /// `d:timeout`: whole seconds remaining.
    pub remaining_secs: u32,
}

/// The successful or refused outcome of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// New subscription: `200` for `pragma/notify`, `207` with the node's properties for
    /// `update/propchange`.
    Subscribed {
        /// The new id.
        id: SubscriptionId,
        /// Its kind.
        kind: SubscriptionKind,
        /// Granted lifetime (`Subscription-Lifetime`).
        lifetime_secs: u32,
        /// For `update/propchange`: the 207 body's properties.
        properties: Option<NodeProperties>,
    },
    /// Renewal: `200`, no body.
    Renewed {
        /// The id.
        id: SubscriptionId,
        /// Granted lifetime.
        lifetime_secs: u32,
    },
    /// UNSUBSCRIBE done: `200`.
    Unsubscribed,
    /// SUBSCRIPTIONS: `200` with the list.
    Subscriptions(Vec<SubscriptionEntry>),
    /// PROPFIND: `207` with the properties.
    Properties(NodeProperties),
    /// PROPPATCH of `r:state`: `207` echoing the lease and the view id.
    StateSet {
        /// The node's logical URL.
        href: Arc<str>,
        /// The view the value was stored in.
        view: ViewId,
        /// The stored lease (with the granted timeout).
        state: LeasedState,
    },
    /// NOTIFY delivered in the sense of its ack type: `200`.
    Notified,
    /// ACL read or write: `200` with the complete stored ACL.
    Acl(Acl),
    /// PROPPATCH refused as a whole (WebDAV atomicity, PROTOCOL.md §2.5): `207` with one
    /// propstat per property: `403` for the ones that may not be set (directory-owned),
    /// `424 Failed Dependency` for the others. Nothing was changed.
    PropPatchRefused {
        /// The node's logical URL.
        href: Arc<str>,
        /// Each property of the request with its status.
        propstats: Vec<(rvp_proto::xml::PropName, StatusCode)>,
    },
    /// A refusal.
    Refused(Refusal),
}

impl Response {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Response::Subscribed {
                kind: SubscriptionKind::PropChange,
                ..
            }
            | Response::Properties(_)
            | Response::PropPatchRefused { .. }
            | Response::StateSet { .. } => StatusCode::MULTI_STATUS,
            Response::Refused(r) => r.status(),
            _ => StatusCode::OK,
        }
    }
}

/// Why a request was refused; each maps to one status (PROTOCOL.md §2, §9.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// `404`: no such node here.
    #[error("404: no such node")]
    NotFound,
    /// `401`: the ACL denies an unauthenticated caller; authenticating may help.
    #[error("401: {0} right required; authenticate")]
    Unauthorized(Right),
    /// `403`: the ACL denies an authenticated caller.
    #[error("403: {0} right denied")]
    Forbidden(Right),
    /// `400`: a new SUBSCRIBE (or renewal) without `Subscription-Lifetime`.
    #[error("400: static subscriptions are not accepted (Subscription-Lifetime missing)")]
    StaticSubscription,
    /// `412`: a new SUBSCRIBE without a (known) `Notification-Type`.
    #[error("412: Notification-Type missing or unknown")]
    MissingNotificationType,
    /// `412`: a new SUBSCRIBE without a usable `Call-Back`.
    #[error("412: Call-Back missing or invalid")]
    MissingCallBack,
    /// `412`: `Subscription-Id` unknown, expired, or on another node.
    #[error("412: unknown Subscription-Id")]
    UnknownSubscription,
    /// `400`: a renewal that changes the call-back or notification type.
    #[error("400: a renewal may change only the lifetime")]
    RenewalChanges,
    /// `400`: UNSUBSCRIBE without `Subscription-Id`.
    #[error("400: Subscription-Id missing")]
    MissingSubscriptionId,
    /// `400`: a `pragma/notify` subscription whose call-back is the node itself (§7.5).
    #[error("400: a pragma/notify call-back may not be the node itself")]
    SelfRelay,
    /// `400 credentials not specified` and other invalid ACL writes.
    #[error("400: {0}")]
    InvalidAcl(AclError),
    /// `412`: nobody to deliver a deep-acknowledged NOTIFY to.
    #[error("412: the principal is not available")]
    NotDeliverable,
    /// `500`: a destination answered 500 (left the conversation).
    #[error("500: the recipient left the conversation")]
    LeftConversation,
    /// `500`: hop count exceeded (§7.5).
    #[error("500: hop count exceeded")]
    HopLimit,
    /// `412`: PROPFIND without `Depth: 0` (§2.4).
    #[error("412: PROPFIND needs Depth: 0")]
    DepthNotZero,
    /// `400`: PROPFIND asking for no property (§2.4).
    #[error("400: PROPFIND asks for no property")]
    EmptyPropfind,
    /// `503`: the node holds `Policy::max_subscriptions_per_node` subscriptions.
    #[error("503: too many subscriptions on this node")]
    TooManySubscriptions,
    /// `503`: the subscriber holds `Policy::subscriber_quota_per_node` subscriptions on
    /// this node, or `Policy::subscriber_quota` in all.
    #[error("503: subscription quota of this subscriber reached")]
    SubscriberQuota,
    /// `401`: `RVP-From-Principal` names an identity of this server's domain and the
    /// request carries no proof of it (PROTOCOL.md §8.1).
    #[error("401: RVP-From-Principal names a local identity; authenticate as it")]
    IdentityNotProven,
    /// `403`: the request proved one identity and asserts another local one.
    #[error("403: RVP-From-Principal is not the authenticated principal")]
    NotYourIdentity,
    /// `403`: a NOTIFY whose `r:notification-from` is not its sender (PROTOCOL.md §6.1).
    #[error("403: r:notification-from is not the sender")]
    SenderMismatch,
    /// `400`: a malformed request (header, request-target or XML body); the text names
    /// what is wrong.
    #[error("400: {0}")]
    BadRequest(Box<str>),
    /// `501`: a method RVP does not implement (`GET`, `POST`, `LOCK`, unknown tokens...,
    /// PROTOCOL.md §2, S§5.8).
    #[error("501: method {0} is not implemented")]
    NotImplemented(Box<str>),
    /// `405`: `COPY` or `MOVE` (PROTOCOL.md §2, S§5.8).
    #[error("405: method {0} is not allowed")]
    MethodNotAllowed(Box<str>),
}

impl Refusal {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::Unauthorized(_) | Refusal::IdentityNotProven => StatusCode::UNAUTHORIZED,
            Refusal::Forbidden(_) | Refusal::NotYourIdentity | Refusal::SenderMismatch => {
                StatusCode::FORBIDDEN
            }
            Refusal::StaticSubscription
            | Refusal::RenewalChanges
            | Refusal::MissingSubscriptionId
            | Refusal::SelfRelay
            | Refusal::EmptyPropfind
            | Refusal::BadRequest(_)
            | Refusal::InvalidAcl(_) => StatusCode::BAD_REQUEST,
            Refusal::DepthNotZero
            | Refusal::MissingNotificationType
            | Refusal::MissingCallBack
            | Refusal::UnknownSubscription
            | Refusal::NotDeliverable => StatusCode::PRECONDITION_FAILED,
            Refusal::LeftConversation | Refusal::HopLimit => StatusCode::INTERNAL_SERVER_ERROR,
            Refusal::TooManySubscriptions | Refusal::SubscriberQuota => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Refusal::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Refusal::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The reason phrase to put on the status line, when it is not the usual one
    /// (`credentials not specified`, S§5.7.2).
    pub fn reason_override(&self) -> Option<&'static str> {
        match self {
            Refusal::InvalidAcl(AclError::CredentialsNotSpecified { .. }) => {
                Some(rvp_proto::status::CREDENTIALS_NOT_SPECIFIED)
            }
            Refusal::HopLimit => Some("hop count exceeded"),
            _ => None,
        }
    }
}

/// Parameters of SUBSCRIBE as the headers gave them (`None` = header absent).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SubscribeParams {
    /// `Notification-Type` (`None` when absent or unknown).
    pub kind: Option<SubscriptionKind>,
    /// `Call-Back`.
    pub callback: Option<String>,
    /// `Subscription-Lifetime` in seconds.
    pub lifetime_secs: Option<u32>,
    /// `Subscription-Id` (renewal).
    pub renew: Option<SubscriptionId>,
}

impl SubscribeParams {
    /// A new subscription.
    pub fn new(kind: SubscriptionKind, callback: &str, lifetime_secs: u32) -> SubscribeParams {
        SubscribeParams {
            kind: Some(kind),
            callback: Some(callback.to_owned()),
            lifetime_secs: Some(lifetime_secs),
            renew: None,
        }
    }

    /// A renewal.
    pub fn renewal(id: SubscriptionId, lifetime_secs: u32) -> SubscribeParams {
        SubscribeParams {
            kind: None,
            callback: None,
            lifetime_secs: Some(lifetime_secs),
            renew: Some(id),
        }
    }
}

/// A PROPPATCH of `r:state`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatePatch {
    /// `r:value` (or the bare state element).
    pub value: PresenceState,
    /// `r:default-value` (`offline` when absent).
    pub default: PresenceState,
    /// `d:timeout`/`r:timeout` in seconds; `None` for the bare form
    /// (`Policy::unleased_timeout` applies).
    pub timeout_secs: Option<u32>,
    /// `r:view-id`.
    pub view: Option<ViewId>,
}

impl StatePatch {
    /// A leased value with default `offline`.
    pub fn leased(value: PresenceState, timeout_secs: u32) -> StatePatch {
        StatePatch {
            value,
            default: PresenceState::Offline,
            timeout_secs: Some(timeout_secs),
            view: None,
        }
    }

    /// The same patch bound to a view.
    pub fn in_view(mut self, view: ViewId) -> StatePatch {
        self.view = Some(view);
        self
    }
}

/// What a PROPFIND asks for (the rights it needs differ, §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropfindScope {
    /// Named properties (`d:prop`): needs `read`.
    Named,
    /// `d:allprop` or `d:propname`: needs `read` and `list`.
    Enumerate,
    /// No property asked for (empty or missing body): `400`.
    Nothing,
}

/// A NOTIFY received for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotifyParams {
    /// Received `RVP-Hop-Count` (1 when absent).
    pub hop_count: u32,
    /// `RVP-Ack-Type` (`SingleHop` when absent).
    pub ack: AckType,
    /// The body, relayed untouched.
    pub body: Bytes,
}

impl NotifyParams {
    /// A NOTIFY with these header values.
    pub fn new(hop_count: u32, ack: AckType, body: Bytes) -> NotifyParams {
        NotifyParams {
            hop_count,
            ack,
            body,
        }
    }
}

#[derive(Debug)]
struct NodeState {
    acl: Acl,
    views: Views,
    published: PresenceState,
}

#[derive(Debug)]
struct Txn {
    request: RequestId,
    tracker: AckTracker,
    pending: Vec<(u64, SubscriptionId)>,
    deadline: Millis,
}

/// The presence engine. See the [crate documentation](crate) for the data flow.
#[derive(Debug)]
pub struct Engine {
    policy: Policy,
    clock: Clock,
    now: Millis,
    directory: Directory,
    nodes: Vec<NodeState>,
    subs: SubscriptionTable,
    lease_timers: BTreeSet<(Millis, u32, ViewId)>,
    txns: HashMap<u64, Txn>,
    txn_timers: BTreeSet<(Millis, u64)>,
    out: VecDeque<Output>,
    /// Deliveries dropped by [`Policy::max_deliveries_per_change`].
    dropped_deliveries: u64,
    /// Subscriptions discarded because their call-back kept failing (§5.7).
    discarded_subscriptions: u64,
    next_view: u32,
    next_delivery: u64,
    next_txn: u64,
    set_order: u64,
    expired: Vec<SubscriptionId>,
    journal: persist::Journal,
    /// The body shape the method layer asked for the answer to this request.
    pub(crate) next_form: Option<(RequestId, Form)>,
}

impl Engine {
    /// An engine with `policy`; `now` becomes its epoch.
    pub fn new(policy: Policy, now: Instant) -> Result<Engine, PolicyError> {
        policy.validate()?;
        Ok(Engine {
            policy,
            clock: Clock::new(now),
            now: 0,
            directory: Directory::default(),
            nodes: Vec::new(),
            subs: SubscriptionTable::default(),
            lease_timers: BTreeSet::new(),
            txns: HashMap::new(),
            txn_timers: BTreeSet::new(),
            out: VecDeque::new(),
            dropped_deliveries: 0,
            discarded_subscriptions: 0,
            next_view: 0,
            next_delivery: 0,
            next_txn: 0,
            set_order: 0,
            expired: Vec::new(),
            journal: persist::Journal::default(),
            next_form: None,
        })
    }

    /// Sets the secret that makes subscription ids unpredictable (random-looking decimal
    /// numbers below 2^31, never reused while live). The embedder draws it from the
    /// operating system at start-up; without it ids are a fixed permutation of a counter,
    /// which anyone can predict. Ids minted earlier are unaffected.
    pub fn set_subscription_id_secret(&mut self, secret: [u8; 16]) {
        self.subs.set_id_secret(secret);
    }

    /// NOTIFYs dropped so far because one change would have caused more than
    /// [`Policy::max_deliveries_per_change`].
    pub fn dropped_deliveries(&self) -> u64 {
        self.dropped_deliveries
    }

    /// Subscriptions discarded so far because their call-back kept failing
    /// ([`Policy::callback_failure_threshold`], [`Policy::callback_failure_window`];
    /// PROTOCOL.md §5.7).
    pub fn discarded_subscriptions(&self) -> u64 {
        self.discarded_subscriptions
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replaces the policy (an embedder reloading its configuration). A policy that
    /// [`Policy::validate`] refuses is refused and the one in force stays.
    ///
    /// The new policy governs what happens from now on: subscriptions and leases keep the
    /// lifetimes and expiries they were granted (a renewal is granted under the new
    /// bounds), views above a lowered [`Policy::max_views_per_principal`] stay until they
    /// end, and [`Policy::owner_accepts_assertion`] shapes only the default ACL of
    /// principals registered later (registered ACLs are state, not policy).
    pub fn set_policy(&mut self, policy: Policy) -> Result<(), PolicyError> {
        policy.validate()?;
        self.policy = policy;
        Ok(())
    }

    /// Registered principals that are signed on: at least one live view whose value is
    /// not `offline` (an `invisible` user is signed on). Counts every registered
    /// principal; `O(principals)`.
    pub fn online_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| {
                n.views
                    .live
                    .iter()
                    .any(|v| v.state.value != PresenceState::Offline)
            })
            .count()
    }

    /// The directory of principals.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Registers a principal with its directory properties and the default ACL (§8.3).
    pub fn register_principal(
        &mut self,
        key: NodeKey,
        properties: DirectoryProperties,
    ) -> Result<PrincipalId, DirectoryError> {
        let id = self.directory.insert(key, properties)?;
        let url = self
            .directory
            .get(id)
            .map(|p| p.logical_url().clone())
            .unwrap_or_else(|| Arc::from(""));
        self.nodes.push(NodeState {
            acl: Acl::default_with_owner_assertion(&url, self.policy.owner_accepts_assertion),
            views: Views::default(),
            published: PresenceState::Offline,
        });
        Ok(id)
    }

    /// Replaces a principal's directory properties (no notification: they are not leased).
    pub fn set_directory_properties(
        &mut self,
        node: PrincipalId,
        properties: DirectoryProperties,
    ) -> bool {
        match self.directory.get_mut(node) {
            Some(p) => {
                p.set_properties(properties);
                true
            }
            None => false,
        }
    }

    /// The published `r:state` of a node.
    pub fn published_state(&self, node: PrincipalId) -> Option<&PresenceState> {
        self.nodes.get(node.0 as usize).map(|n| &n.published)
    }

    /// The aggregate of a node's live views, recomputed (equals
    /// [`Engine::published_state`] at all times; exposed for invariant tests).
    pub fn aggregate_of_live_views(&self, node: PrincipalId) -> Option<PresenceState> {
        self.nodes.get(node.0 as usize).map(|n| n.views.aggregate())
    }

    /// The live views of a node: (id, leased state, announced expiry).
    pub fn views(&self, node: PrincipalId) -> Vec<(ViewId, LeasedState, Instant)> {
        self.nodes.get(node.0 as usize).map_or_else(Vec::new, |n| {
            n.views
                .live
                .iter()
                .map(|v| (v.id, v.state.clone(), self.clock.instant(v.expires_ms)))
                .collect()
        })
    }

    /// The ACL of a node.
    pub fn acl(&self, node: PrincipalId) -> Option<&Acl> {
        self.nodes.get(node.0 as usize).map(|n| &n.acl)
    }

    /// A live subscription, as of the engine's last `now`.
    pub fn subscription(&self, id: SubscriptionId) -> Option<SubscriptionInfo> {
        self.subs.get(id).map(|r| SubscriptionInfo {
            id: r.id,
            kind: r.kind,
            callback: r.callback.clone(),
            subscriber: r.subscriber.clone(),
            remaining_secs: remaining_secs(self.now, r.expires_ms),
        })
    }

    /// Number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Ids of every live subscription.
    pub fn subscription_ids(&self) -> Vec<SubscriptionId> {
        self.subs.ids().collect()
    }

    /// The node a live subscription is on.
    pub fn subscription_node(&self, id: SubscriptionId) -> Option<PrincipalId> {
        self.subs.get(id).map(|r| r.node)
    }

    // ----------------------------------------------------------------- time, outputs

    /// Advances time: expires leases (reverting views and notifying), subscriptions
    /// (silently) and unanswered tracked deliveries (counted as failures).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// When the engine next needs [`Engine::handle_timeout`], if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.subs.next_deadline(),
            self.lease_timers.first().map(|t| t.0),
            self.txn_timers.first().map(|t| t.0),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|ms| self.clock.instant(ms))
    }

    /// The next output, in the order produced.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Number of queued outputs.
    pub fn pending_outputs(&self) -> usize {
        self.out.len()
    }

    /// The queued outputs, oldest first, left in the queue (read-only): an embedder may
    /// look at what a request produced before it commits and releases it — the reference
    /// server archives the NOTIFYs it relays this way. The outputs a request added are the
    /// last `pending_outputs()` after minus before it.
    pub fn queued_outputs(&self) -> impl DoubleEndedIterator<Item = &Output> + ExactSizeIterator {
        self.out.iter()
    }

    pub(crate) fn advance(&mut self, now: Instant) {
        let ms = self.clock.millis(now).max(self.now);
        self.now = ms;
        // Subscriptions: silent removal.
        let grace = duration_millis(self.policy.subscription_grace);
        let mut expired = std::mem::take(&mut self.expired);
        expired.clear();
        self.subs.expire(ms, grace, &mut expired);
        self.journal.subscriptions_gone(&expired);
        self.expired = expired;
        // Tracked deliveries first, so that a subscription their failures discard gets
        // no notification from the lease expiries below.
        while let Some(&(deadline, txn)) = self.txn_timers.first() {
            if deadline > ms {
                break;
            }
            self.txn_timers.pop_first();
            let pending: Vec<(u64, SubscriptionId)> = self
                .txns
                .get(&txn)
                .map(|t| t.pending.clone())
                .unwrap_or_default();
            for (seq, sub) in pending {
                self.delivery_result(
                    DeliveryId {
                        seq,
                        subscription: sub,
                        txn,
                    },
                    DeliveryOutcome::Failed,
                );
            }
        }
        // Leases.
        let lgrace = duration_millis(self.policy.lease_grace);
        let mut touched = Vec::new();
        while let Some(&(deadline, node, view)) = self.lease_timers.first() {
            if deadline > ms {
                break;
            }
            self.lease_timers.pop_first();
            if let Some(n) = self.nodes.get_mut(node as usize)
                && let Some(i) = n.views.find(view)
                && n.views.live[i].expires_ms.saturating_add(lgrace) == deadline
            {
                n.views.live.remove(i);
                self.journal.view_gone(view);
                touched.push(PrincipalId(node));
            }
        }
        touched.dedup();
        for node in touched {
            self.republish(node);
        }
    }

    pub(crate) fn respond(&mut self, request: RequestId, response: Response) {
        let form = match self.next_form.take() {
            Some((r, f)) if r == request => f,
            other => {
                self.next_form = other;
                Form::Full
            }
        };
        self.out.push_back(Output::Respond(Box::new(Answer {
            request,
            response,
            form,
        })));
    }

    pub(crate) fn refuse(&mut self, request: RequestId, r: Refusal) {
        self.respond(request, Response::Refused(r));
    }

    pub(crate) fn node(&self, key: &NodeKey) -> Result<PrincipalId, Refusal> {
        self.directory.lookup(key).ok_or(Refusal::NotFound)
    }

    pub(crate) fn logical_url(&self, node: PrincipalId) -> Arc<str> {
        self.directory
            .get(node)
            .map(|p| p.logical_url().clone())
            .unwrap_or_else(|| Arc::from(""))
    }

    /// Whether the caller proved to be the node's owner.
    fn is_owner(&self, caller: &Caller, node: PrincipalId) -> bool {
        caller
            .authenticated_principal()
            .is_some_and(|(p, _)| self.directory.lookup_url(p) == Some(node))
    }

    /// The proven-identity rule (PROTOCOL.md §8.1): unless the policy accepts assertions
    /// ([`Policy::owner_accepts_assertion`]), a request whose `RVP-From-Principal` names
    /// an identity of this engine's domains (a local principal URL, registered or not, or
    /// a bare local host) must carry proof of exactly that identity. Without credentials →
    /// `401` (authenticating helps); proven as someone else → `403`.
    pub(crate) fn check_identity(&self, caller: &Caller) -> Result<(), Refusal> {
        if self.policy.owner_accepts_assertion {
            return Ok(());
        }
        let Some(asserted) = caller.asserted_principal() else {
            return Ok(());
        };
        if !self.directory.is_local_identity(asserted) {
            return Ok(());
        }
        match caller.authenticated_principal() {
            Some((proven, _)) if same_principal(proven, asserted) => Ok(()),
            Some(_) => Err(Refusal::NotYourIdentity),
            None => Err(Refusal::IdentityNotProven),
        }
    }

    /// Whether `caller` may renew or cancel a subscription of `subscriber` on `node`: the
    /// proven owner of the node, or the subscriber with the standing it had when it
    /// subscribed — proven again when it proved itself then (or is a local identity), the
    /// same assertion for a principal of another domain (which cannot be proven here), the
    /// same source address for an anonymous IP call-back.
    fn may_manage(
        &self,
        caller: &Caller,
        node: PrincipalId,
        subscriber: &str,
        proof: Option<CredentialKind>,
    ) -> Result<(), Refusal> {
        if self.is_owner(caller, node) {
            return Ok(());
        }
        let proven = caller
            .authenticated_principal()
            .is_some_and(|(p, _)| same_principal(p, subscriber));
        let asserted = || {
            caller
                .asserted_principal()
                .is_some_and(|p| same_principal(p, subscriber))
        };
        let allowed = if self.policy.owner_accepts_assertion {
            proven || asserted()
        } else if proof.is_some() || self.directory.is_local_identity(subscriber) {
            proven
        } else {
            match callback_ip(subscriber) {
                // An anonymous subscription names its IP call-back as subscriber.
                Some(ip) => asserted() && caller.source() == Some(ip),
                None => asserted(),
            }
        };
        if allowed {
            Ok(())
        } else if caller.is_authenticated() {
            Err(Refusal::Forbidden(Right::Subscriptions))
        } else {
            Err(Refusal::Unauthorized(Right::Subscriptions))
        }
    }

    pub(crate) fn check(
        &self,
        caller: &Caller,
        node: PrincipalId,
        right: Right,
    ) -> Result<(), Refusal> {
        let Some(n) = self.nodes.get(node.0 as usize) else {
            return Err(Refusal::NotFound);
        };
        let owner_keeps =
            matches!(right, Right::ReadAcl | Right::WriteAcl) && self.is_owner(caller, node);
        let allowed = if self.owner_needs_proof(right) {
            // Owner rights never come from an assertion, whatever the ACL lists (librvp
            // grants itself `assertion digest ntlm` at every login).
            n.acl.evaluate(
                caller
                    .presented()
                    .filter(|&(_, k)| k != CredentialKind::Assertion),
                right,
            )
        } else {
            n.acl.allows(caller, right)
        };
        if owner_keeps || allowed {
            Ok(())
        } else if caller.is_authenticated() {
            Err(Refusal::Forbidden(right))
        } else {
            Err(Refusal::Unauthorized(right))
        }
    }

    /// Whether `right` is an owner right, which only proven credentials can grant: the
    /// login subscription (`receive-from`), PROPPATCH of the state (`write`), reading and
    /// writing the ACL, listing subscriptions and subscribing with another call-back —
    /// unless [`Policy::owner_accepts_assertion`].
    fn owner_needs_proof(&self, right: Right) -> bool {
        !self.policy.owner_accepts_assertion
            && matches!(
                right,
                Right::ReceiveFrom
                    | Right::Write
                    | Right::WriteAcl
                    | Right::ReadAcl
                    | Right::Subscriptions
                    | Right::SubscribeOthers
            )
    }

    fn properties_for(&self, caller: &Caller, node: PrincipalId) -> NodeProperties {
        let n = &self.nodes[node.0 as usize];
        let state = if n.acl.allows(caller, Right::Presence) {
            n.published.clone()
        } else {
            PresenceState::Offline
        };
        NodeProperties {
            href: self.logical_url(node),
            state,
            directory: n
                .acl
                .allows(caller, Right::Read)
                .then(|| self.directory.get(node).map(|p| p.properties().clone()))
                .flatten(),
        }
    }

    // ----------------------------------------------------------------- SUBSCRIBE

    /// SUBSCRIBE (PROTOCOL.md §2.1): queues exactly one answer for `request`.
    pub fn subscribe(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        params: SubscribeParams,
    ) {
        self.advance(now);
        let r = self
            .node(node)
            .and_then(|n| self.do_subscribe(caller, n, params));
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }

    fn do_subscribe(
        &mut self,
        caller: &Caller,
        node: PrincipalId,
        params: SubscribeParams,
    ) -> Result<Response, Refusal> {
        let grace = duration_millis(self.policy.subscription_grace);
        if let Some(id) = params.renew {
            let rec = self
                .subs
                .get(id)
                .filter(|r| r.node == node)
                .ok_or(Refusal::UnknownSubscription)?;
            self.may_manage(caller, node, &rec.subscriber, rec.proof)?;
            if params.kind.is_some_and(|k| k != rec.kind)
                || params
                    .callback
                    .as_deref()
                    .is_some_and(|c| canonical_principal(c) != *rec.callback)
            {
                return Err(Refusal::RenewalChanges);
            }
            let lifetime = params.lifetime_secs.ok_or(Refusal::StaticSubscription)?;
            let granted = self.policy.grant_lifetime(lifetime);
            let expires = self.now + secs_millis(granted);
            self.subs
                .renew(id, granted, expires, expires + grace, grace);
            self.journal_subscription(id);
            return Ok(Response::Renewed {
                id,
                lifetime_secs: granted,
            });
        }
        let kind = params.kind.ok_or(Refusal::MissingNotificationType)?;
        let callback = params
            .callback
            .as_deref()
            .map(canonical_principal)
            .filter(|c| is_http_url(c))
            .ok_or(Refusal::MissingCallBack)?;
        let lifetime = params.lifetime_secs.ok_or(Refusal::StaticSubscription)?;
        let form = CallBackForm::of(&callback).ok_or(Refusal::MissingCallBack)?;
        if let CallBackForm::Principal(key) = &form
            && !self.directory.is_local_host(key.host())
            && host_is_ip_literal(key.host())
        {
            // Another domain's principal is reached where its DNS points, never at an
            // address the subscriber picked.
            return Err(Refusal::MissingCallBack);
        }
        let local_target = match &form {
            CallBackForm::Principal(key) => self.directory.lookup(key),
            _ => None,
        };
        if kind == SubscriptionKind::Notify && local_target == Some(node) {
            return Err(Refusal::SelfRelay);
        }
        if kind == SubscriptionKind::Notify {
            self.check(caller, node, Right::ReceiveFrom)?;
        }
        let own_url = caller.principal().is_some_and(|p| {
            same_principal(p, &callback)
                || self
                    .directory
                    .lookup_url(p)
                    .is_some_and(|id| Some(id) == local_target)
        });
        // An IP call-back must be the requesting connection's own address (the server
        // would otherwise connect wherever a caller says); a host-name local node cannot
        // be tied to it at all. Either needs a proven `subscribe-others`.
        let tied_to_source = match &form {
            CallBackForm::Ip(ip) => caller.source() == Some(*ip),
            CallBackForm::HostNode => false,
            CallBackForm::Principal(_) => true,
        };
        if !own_url || !tied_to_source {
            self.check(caller, node, Right::SubscribeOthers)?;
        }
        if let CallBackForm::Ip(ip) = &form
            && is_special_address(*ip)
            && caller.source() != Some(*ip)
        {
            // Loopback, link-local, unspecified...: only a client on that very address
            // may name it, whatever its rights (else the server could be aimed at its
            // own host's services).
            return Err(Refusal::Forbidden(Right::SubscribeOthers));
        }
        let subscriber = caller
            .principal()
            .map_or_else(|| callback.clone(), |p| p.to_string());
        let owner = self.is_owner(caller, node);
        if !owner && self.subs.count_on(node) >= self.policy.max_subscriptions_per_node {
            return Err(Refusal::TooManySubscriptions);
        }
        let (on_node, overall) = self.subs.subscriber_counts(node, &subscriber);
        // The proven owner's own subscriptions (its logins, after crashes and
        // reconnects) are bounded by the overall quota only.
        if (!owner && on_node as usize >= self.policy.subscriber_quota_per_node)
            || overall as usize >= self.policy.subscriber_quota
        {
            return Err(Refusal::SubscriberQuota);
        }
        let granted = self.policy.grant_lifetime(lifetime);
        let expires = self.now + secs_millis(granted);
        let id = self.subs.insert(NewSubscription {
            node,
            kind,
            callback: &callback,
            subscriber: &subscriber,
            proof: caller
                .authenticated_principal()
                .filter(|(p, _)| ***p == *subscriber)
                .map(|(_, k)| k),
            // Property changes for a local logical call-back are relayed in-engine.
            local_target: if kind == SubscriptionKind::PropChange {
                local_target
            } else {
                None
            },
            granted_secs: granted,
            expires_ms: expires,
            remove_at_ms: expires + grace,
        });
        self.journal_subscription(id);
        self.journal.counters_changed();
        Ok(Response::Subscribed {
            id,
            kind,
            lifetime_secs: granted,
            properties: (kind == SubscriptionKind::PropChange)
                .then(|| self.properties_for(caller, node)),
        })
    }

    // ----------------------------------------------------------------- UNSUBSCRIBE

    /// UNSUBSCRIBE (PROTOCOL.md §2.2): the subscriber or the node owner may cancel.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        id: Option<SubscriptionId>,
    ) {
        self.advance(now);
        let r = self.node(node).and_then(|n| {
            let id = id.ok_or(Refusal::MissingSubscriptionId)?;
            let rec = self
                .subs
                .get(id)
                .filter(|r| r.node == n)
                .ok_or(Refusal::UnknownSubscription)?;
            self.may_manage(caller, n, &rec.subscriber, rec.proof)?;
            self.subs
                .remove(id, duration_millis(self.policy.subscription_grace));
            self.journal.subscription_gone(id);
            Ok(Response::Unsubscribed)
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }

    // ----------------------------------------------------------------- SUBSCRIPTIONS

    /// SUBSCRIPTIONS (PROTOCOL.md §2.3): the live subscriptions of `kind` with remaining
    /// seconds; `kind: None` (header missing) → `412`.
    pub fn subscriptions(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        kind: Option<SubscriptionKind>,
    ) {
        self.advance(now);
        let r = self.node(node).and_then(|n| {
            let kind = kind.ok_or(Refusal::MissingNotificationType)?;
            self.check(caller, n, Right::Subscriptions)?;
            let owner = self.is_owner(caller, n);
            let list = self
                .subs
                .on_node(n, kind)
                .map(|r| SubscriptionEntry {
                    id: r.id,
                    href: if owner {
                        r.callback.clone()
                    } else {
                        r.subscriber.clone()
                    },
                    principal: r.subscriber.clone(),
                    remaining_secs: remaining_secs(self.now, r.expires_ms),
                })
                .collect();
            Ok(Response::Subscriptions(list))
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }

    // ----------------------------------------------------------------- PROPFIND

    /// PROPFIND (PROTOCOL.md §2.4): the node's properties as the caller may see them
    /// (`presence` denied → state `offline`, §8.4). `depth` is the `Depth` header as
    /// received: anything but `0` (or its absence) → `412`; an empty request → `400`. The
    /// method layer selects the requested properties and reports unknown ones as `404`
    /// propstats.
    pub fn propfind(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        depth: Option<&str>,
        scope: PropfindScope,
    ) {
        self.advance(now);
        let checked = match (depth.map(str::trim), scope) {
            (Some("0"), PropfindScope::Nothing) => Err(Refusal::EmptyPropfind),
            (Some("0"), _) => Ok(()),
            _ => Err(Refusal::DepthNotZero),
        };
        let r = checked.and_then(|()| self.node(node)).and_then(|n| {
            self.check(caller, n, Right::Read)?;
            if scope == PropfindScope::Enumerate {
                self.check(caller, n, Right::List)?;
            }
            Ok(Response::Properties(self.properties_for(caller, n)))
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }

    // ----------------------------------------------------------------- PROPPATCH

    /// PROPPATCH of `r:state` (PROTOCOL.md §2.5, §5.2, §5.3): stores the lease in a view,
    /// republishes the aggregate and notifies watchers when it changed.
    pub fn proppatch_state(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        patch: StatePatch,
    ) {
        self.advance(now);
        let r = self.node(node).and_then(|n| {
            self.check(caller, n, Right::Write)?;
            Ok(self.set_state(caller, n, patch))
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }

    fn mint_view(&mut self) -> ViewId {
        self.next_view = self.next_view.checked_add(1).unwrap_or(1);
        ViewId(self.next_view)
    }

    fn set_state(&mut self, caller: &Caller, node: PrincipalId, patch: StatePatch) -> Response {
        let granted = self
            .policy
            .grant_lease(patch.timeout_secs.unwrap_or_else(|| {
                u32::try_from(self.policy.unleased_timeout.as_secs()).unwrap_or(u32::MAX)
            }));
        let lgrace = duration_millis(self.policy.lease_grace);
        let expires = self.now + secs_millis(granted);
        self.set_order += 1;
        let order = self.set_order;
        let binding = caller.principal().cloned().zip(caller.source());
        let bind = self.policy.bind_viewless_proppatch;
        let max_views = self.policy.max_views_per_principal;
        let n = &self.nodes[node.0 as usize];
        let existing = match (patch.view, &binding) {
            (Some(v), _) => n.views.find(v),
            (None, Some((p, ip))) if bind => n.views.find_bound(p, *ip),
            _ => None,
        };
        let state = LeasedState {
            value: patch.value,
            default: patch.default,
            timeout_secs: granted,
        };
        let view_id = match existing {
            Some(i) => {
                let n = &mut self.nodes[node.0 as usize];
                let v = &mut n.views.live[i];
                let old = (v.expires_ms.saturating_add(lgrace), node.0, v.id);
                v.state = state.clone();
                v.expires_ms = expires;
                v.last_set = order;
                let id = v.id;
                self.lease_timers.remove(&old);
                id
            }
            None => {
                let id = self.mint_view();
                let n = &mut self.nodes[node.0 as usize];
                if n.views.live.len() >= max_views {
                    // Evict the view that would expire first.
                    if let Some((i, _)) = n
                        .views
                        .live
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, v)| v.expires_ms)
                    {
                        let v = n.views.live.remove(i);
                        self.journal.view_gone(v.id);
                        self.lease_timers.remove(&(
                            v.expires_ms.saturating_add(lgrace),
                            node.0,
                            v.id,
                        ));
                    }
                }
                let n = &mut self.nodes[node.0 as usize];
                n.views.live.push(View {
                    id,
                    state: state.clone(),
                    expires_ms: expires,
                    last_set: order,
                    bound_to: binding,
                });
                id
            }
        };
        self.lease_timers
            .insert((expires.saturating_add(lgrace), node.0, view_id));
        self.journal_view(node, view_id);
        self.journal.counters_changed();
        self.republish(node);
        Response::StateSet {
            href: self.logical_url(node),
            view: view_id,
            state,
        }
    }

    /// Recomputes the published state and fans out when it changed (§5.5).
    fn republish(&mut self, node: PrincipalId) {
        let n = &mut self.nodes[node.0 as usize];
        let agg = n.views.aggregate();
        if agg == n.published {
            return;
        }
        n.published = agg;
        self.fan_out_state(node);
    }

    fn fan_out_state(&mut self, node: PrincipalId) {
        let n = &self.nodes[node.0 as usize];
        let open = n.acl.open_to_all(Right::Presence);
        let acl = &n.acl;
        let state = &n.published;
        // Watchers denied `presence` hear nothing (§8.4).
        self.dropped_deliveries += fan_out_states(
            &self.directory,
            &self.subs,
            &mut self.out,
            &mut self.next_delivery,
            node,
            FanOutRules {
                budget: self.policy.max_deliveries_per_change,
                show_name: acl.open_to_all(Right::Read),
            },
            |rec| (open || sees_presence(acl, rec)).then(|| state.clone()),
        );
    }

    // ----------------------------------------------------------------- NOTIFY

    /// NOTIFY to a node (PROTOCOL.md §2.6, §6.5, §7.5): relays the body untouched to the
    /// node's live `pragma/notify` subscriptions with hop count + 1 and answers according
    /// to the ack type — at once, or once the embedder reported enough outcomes. Never
    /// changes properties.
    pub fn notify(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        params: NotifyParams,
    ) {
        self.advance(now);
        let n = match self.node(node).and_then(|n| {
            if params.hop_count >= self.policy.max_hops {
                return Err(Refusal::HopLimit);
            }
            Ok(n)
        }) {
            Ok(n) => n,
            Err(e) => return self.refuse(request, e),
        };
        if let Err(e) = self.check(caller, n, Right::SendTo) {
            if self.policy.send_to_denied_status == StatusCode::PRECONDITION_FAILED {
                // Exactly what an offline recipient gives (nobody signed on): 200 for a
                // single hop, 412 for a deep acknowledgement; nothing is relayed.
                if let (_, Some(v)) = AckTracker::new(params.ack, 0) {
                    self.answer_verdict(request, v);
                }
                return;
            }
            return self.refuse(request, self.send_to_denied(e));
        }
        let targets: Vec<(SubscriptionId, Arc<str>)> = self
            .subs
            .on_node(n, SubscriptionKind::Notify)
            .map(|r| (r.id, r.callback.clone()))
            .collect();
        let expected = u32::try_from(targets.len()).unwrap_or(u32::MAX);
        // A deep acknowledgement tells the sender whether anyone is signed on: never to a
        // sender denied `presence` (PROTOCOL.md §8.4), who is answered at once as for a
        // single hop, whatever the deliveries do.
        let answered_ack = if params.ack != AckType::SingleHop
            && !self.nodes[n.0 as usize].acl.allows(caller, Right::Presence)
        {
            AckType::SingleHop
        } else {
            params.ack
        };
        let (tracker, verdict) = AckTracker::new(answered_ack, expected);
        // Relayed as the proven sender when there is one (PROTOCOL.md §6.1).
        let from: Arc<str> = caller.principal().cloned().unwrap_or_else(|| Arc::from(""));
        let txn = if verdict.is_none() {
            self.next_txn += 1;
            self.next_txn
        } else {
            0
        };
        let mut pending = Vec::with_capacity(if txn == 0 { 0 } else { targets.len() });
        if let Some(v) = verdict {
            self.answer_verdict(request, v);
        }
        for (sub, callback) in targets {
            self.next_delivery += 1;
            let id = DeliveryId {
                seq: self.next_delivery,
                subscription: sub,
                txn,
            };
            if txn != 0 {
                pending.push((id.seq, sub));
            }
            self.out.push_back(Output::Deliver(Delivery {
                id,
                origin: sub,
                callback,
                hop_count: params.hop_count.saturating_add(1),
                ack: params.ack,
                body: NotifyBody::Relay {
                    from_principal: from.clone(),
                    bytes: params.body.clone(),
                },
            }));
        }
        if txn != 0 {
            let deadline = self.now + duration_millis(self.policy.delivery_timeout);
            self.txns.insert(
                txn,
                Txn {
                    request,
                    tracker,
                    pending,
                    deadline,
                },
            );
            self.txn_timers.insert((deadline, txn));
        }
    }

    /// A `send-to` refusal as [`Policy::send_to_denied_status`] wants it answered when
    /// that is not the default "like offline" (`412`, handled by the caller): `404` or
    /// `403`, with or without credentials — a challenge would tell a blocked sender from
    /// one writing to someone offline. (A local sender without proof never gets here: the
    /// proven-identity rule challenges it first, whoever the recipient.)
    fn send_to_denied(&self, refusal: Refusal) -> Refusal {
        match refusal {
            Refusal::Forbidden(Right::SendTo) | Refusal::Unauthorized(Right::SendTo) => {
                match self.policy.send_to_denied_status {
                    StatusCode::NOT_FOUND => Refusal::NotFound,
                    _ => Refusal::Forbidden(Right::SendTo),
                }
            }
            other => other,
        }
    }

    fn answer_verdict(&mut self, request: RequestId, v: AckVerdict) {
        let resp = match v {
            AckVerdict::Delivered => Response::Notified,
            AckVerdict::NotDeliverable => Response::Refused(Refusal::NotDeliverable),
            AckVerdict::LeftConversation => Response::Refused(Refusal::LeftConversation),
        };
        self.respond(request, resp);
    }

    /// Reports what happened to a delivery (PROTOCOL.md §5.7, §6.5). Unknown or repeated
    /// reports are ignored.
    pub fn handle_delivery_result(
        &mut self,
        now: Instant,
        id: DeliveryId,
        outcome: DeliveryOutcome,
    ) {
        self.advance(now);
        self.delivery_result(id, outcome);
    }

    fn delivery_result(&mut self, id: DeliveryId, outcome: DeliveryOutcome) {
        if id.txn != 0 {
            let Some(t) = self.txns.get_mut(&id.txn) else {
                return;
            };
            let Some(pos) = t.pending.iter().position(|(s, _)| *s == id.seq) else {
                return;
            };
            t.pending.swap_remove(pos);
            let verdict = t.tracker.record(outcome);
            let request = t.request;
            if t.pending.is_empty() {
                let deadline = t.deadline;
                self.txns.remove(&id.txn);
                self.txn_timers.remove(&(deadline, id.txn));
            }
            if let Some(v) = verdict {
                self.answer_verdict(request, v);
            }
        }
        if outcome == DeliveryOutcome::NotSent {
            // Our own side did not send it: says nothing about the call-back (§5.7).
            return;
        }
        let before = self
            .journal_enabled()
            .then(|| self.subs.get(id.subscription).map(|r| r.failure_state()))
            .flatten();
        let discard = self.subs.record_outcome(
            id.subscription,
            outcome.is_success(),
            self.now,
            self.policy.callback_failure_threshold,
            duration_millis(self.policy.callback_failure_window),
        );
        if discard {
            self.discarded_subscriptions += 1;
            self.subs.remove(
                id.subscription,
                duration_millis(self.policy.subscription_grace),
            );
            self.journal.subscription_gone(id.subscription);
        } else if before.is_some()
            && before != self.subs.get(id.subscription).map(|r| r.failure_state())
        {
            self.journal_subscription(id.subscription);
        }
    }

    // ----------------------------------------------------------------- ACL

    /// ACL read (PROTOCOL.md §2.7): needs `readacl` (the owner always has it).
    pub fn acl_read(&mut self, now: Instant, request: RequestId, caller: &Caller, node: &NodeKey) {
        self.advance(now);
        let r = self.node(node).and_then(|n| {
            self.check(caller, n, Right::ReadAcl)?;
            Ok(Response::Acl(self.nodes[n.0 as usize].acl.clone()))
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }

    /// After an ACL write on `node`: tells each watcher whose right to see presence
    /// flipped what it sees now (see [`acl_write`](Self::acl_write)).
    fn renotify_visibility(&mut self, node: PrincipalId, before: &Acl) {
        let n = &self.nodes[node.0 as usize];
        if n.published == PresenceState::Offline {
            return;
        }
        let published = n.published.clone();
        let after = &self.nodes[node.0 as usize].acl;
        self.dropped_deliveries += fan_out_states(
            &self.directory,
            &self.subs,
            &mut self.out,
            &mut self.next_delivery,
            node,
            FanOutRules {
                budget: self.policy.max_deliveries_per_change,
                show_name: after.open_to_all(Right::Read),
            },
            |rec| match (sees_presence(before, rec), sees_presence(after, rec)) {
                (true, false) => Some(PresenceState::Offline),
                (false, true) => Some(published.clone()),
                _ => None,
            },
        );
    }

    /// ACL write (PROTOCOL.md §2.7): merge by principal, needs `writeacl` (the owner always
    /// has it); answers with the complete stored ACL.
    ///
    /// A write that changes whether a current watcher may see presence changes the state
    /// that watcher sees (§8.4: a hidden state reads as offline), so that watcher alone gets
    /// one state propnotification: `offline` when presence is now denied, the published
    /// state when it is granted again. Nothing is sent when the published state is offline
    /// anyway, nor to watchers whose visibility did not change.
    pub fn acl_write(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        aces: Vec<Ace>,
    ) {
        self.advance(now);
        let max = self.policy.max_acl_entries;
        let r = self.node(node).and_then(|n| {
            self.check(caller, n, Right::WriteAcl)?;
            let before = self.nodes[n.0 as usize].acl.clone();
            let acl = &mut self.nodes[n.0 as usize].acl;
            acl.merge(aces, max).map_err(Refusal::InvalidAcl)?;
            let stored = acl.clone();
            self.journal_acl(n);
            self.renotify_visibility(n, &before);
            Ok(Response::Acl(stored))
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }
}

/// The bounds of one fan-out: at most `budget` deliveries, and whether the node's display
/// name may be shown in its `r:description`.
#[derive(Debug, Clone, Copy)]
struct FanOutRules {
    budget: usize,
    show_name: bool,
}

/// Queues one state propnotification per `update/propchange` subscription on `node` for
/// which `state_for` names a state (`None`: that watcher hears nothing).
///
/// At most `budget` deliveries are queued; the number dropped beyond it is returned.
fn fan_out_states(
    directory: &Directory,
    subs: &SubscriptionTable,
    out: &mut VecDeque<Output>,
    seq: &mut u64,
    node: PrincipalId,
    FanOutRules { budget, show_name }: FanOutRules,
    mut state_for: impl FnMut(&crate::subscription::Record) -> Option<PresenceState>,
) -> u64 {
    let Some(p) = directory.get(node) else {
        return 0;
    };
    // The node's display name, in every r:contact's r:description, when anyone may read
    // it (a watcher denied `read` must not learn it from a notification).
    let from_name = p
        .properties()
        .display_name
        .as_deref()
        .filter(|_| show_name)
        .unwrap_or("");
    let mut left = budget;
    let mut dropped = 0u64;
    // At most two distinct renderings per fan-out (the published state, offline).
    let mut rendered: Vec<(PresenceState, Arc<RenderedChange>)> = Vec::new();
    for rec in subs.on_node(node, SubscriptionKind::PropChange) {
        let Some(state) = state_for(rec) else {
            continue;
        };
        let shared = match rendered.iter().find(|(s, _)| *s == state) {
            Some((_, r)) => Arc::clone(r),
            None => {
                let r = RenderedChange::state_change(
                    p.logical_url(),
                    from_name,
                    &state,
                    p.host().clone(),
                );
                rendered.push((state, Arc::clone(&r)));
                r
            }
        };
        match rec.local_target() {
            None if left == 0 => dropped += 1,
            None => {
                left -= 1;
                // r:notification-to is the call-back itself: no second reference.
                let body = NotifyBody::PropChange(PropChangeBody { shared, to: None });
                *seq += 1;
                out.push_back(Output::Deliver(Delivery {
                    id: DeliveryId {
                        seq: *seq,
                        subscription: rec.id,
                        txn: 0,
                    },
                    origin: rec.id,
                    callback: rec.callback.clone(),
                    hop_count: 1,
                    ack: AckType::SingleHop,
                    body,
                }));
            }
            Some(target) => {
                let body = NotifyBody::PropChange(PropChangeBody {
                    shared,
                    to: Some(rec.callback.clone()),
                });
                // Originated here (hop 1), relayed by the watcher's home (also here)
                // to its login call-backs (hop 2), §2.6-d.
                for login in subs.on_node(target, SubscriptionKind::Notify) {
                    if left == 0 {
                        dropped += 1;
                        continue;
                    }
                    left -= 1;
                    *seq += 1;
                    out.push_back(Output::Deliver(Delivery {
                        id: DeliveryId {
                            seq: *seq,
                            subscription: login.id,
                            txn: 0,
                        },
                        origin: rec.id,
                        callback: login.callback.clone(),
                        hop_count: 2,
                        ack: AckType::SingleHop,
                        body: body.clone(),
                    }));
                }
            }
        }
    }
    dropped
}

/// Whether the watcher behind `rec` may see `r:state` under `acl` (the credentials it
/// proved when subscribing, and its asserted identity).
fn sees_presence(acl: &Acl, rec: &crate::subscription::Record) -> bool {
    let sub: &str = &rec.subscriber;
    let pairs =
        std::iter::once((sub, CredentialKind::Assertion)).chain(rec.proof.map(|k| (sub, k)));
    acl.evaluate(pairs, Right::Presence)
}

/// Whether two principal identities are the same (PROTOCOL.md §8.2): equal node keys for
/// principal URLs (host and alias case-insensitive, logical or physical form), else equal
/// canonical strings.
pub(crate) fn same_principal(a: &str, b: &str) -> bool {
    match (
        crate::principal::principal_key(a),
        crate::principal::principal_key(b),
    ) {
        (Some(x), Some(y)) => x == y,
        (None, None) => canonical_principal(a) == canonical_principal(b),
        _ => false,
    }
}

/// Whether `ip` is loopback, unspecified, link-local, multicast or broadcast: an address
/// that names this host or nobody's server. An IP call-back on such an address is
/// accepted only from a client on that very address (PROTOCOL.md §8.5), and a server
/// should never deliver to one because another domain's DNS says so.
pub fn is_special_address(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unicast_link_local()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_special_address(IpAddr::V4(v4)))
        }
    }
}

/// The IP address of an `http://<ip>[:port][/]` call-back.
fn callback_ip(url: &str) -> Option<std::net::IpAddr> {
    let rest = url.get(7..)?;
    if !url.get(..7)?.eq_ignore_ascii_case("http://") {
        return None;
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return None;
    }
    parse_host_ip(strip_authority_port(authority))
}

fn strip_authority_port(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

fn parse_host_ip(host: &str) -> Option<std::net::IpAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse().ok()
}

fn host_is_ip_literal(host: &str) -> bool {
    parse_host_ip(host).is_some()
}

/// The three shapes a `Call-Back` may have (PROTOCOL.md §1.4, §2.1).
#[derive(Debug)]
enum CallBackForm {
    /// A client's local node by address: `http://<ip>[:port]`.
    Ip(std::net::IpAddr),
    /// A client's local node by host name: `http://<name>[:port]`.
    HostNode,
    /// A principal URL (logical or physical form).
    Principal(NodeKey),
}

impl CallBackForm {
    /// `None` for anything else (other paths, other schemes): an invalid call-back.
    fn of(url: &str) -> Option<CallBackForm> {
        if !is_http_url(url) {
            return None;
        }
        if let Some(key) = crate::principal::principal_key(url) {
            return Some(CallBackForm::Principal(key));
        }
        let rest = &url[7..];
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains('/') {
            return None;
        }
        Some(match callback_ip(url) {
            Some(ip) => CallBackForm::Ip(ip),
            None => CallBackForm::HostNode,
        })
    }
}

fn is_http_url(s: &str) -> bool {
    s.len() > 7
        && s.as_bytes()[..7].eq_ignore_ascii_case(b"http://")
        && !s
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
}
