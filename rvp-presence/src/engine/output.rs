//! What the engine gives back: the [`Output`]s of [`Engine::poll_output`](super::Engine::poll_output) —
//! one [`Answer`] per request and the [`Delivery`]s of NOTIFYs — and the response model
//! ([`Outcome`], [`Refusal`]) the operations answer with.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use http::StatusCode;
use rvp_proto::{PresenceState, Right};

use rvp_proto::header::CallBack;
use rvp_proto::xml::PropName;

use crate::acl::{Acl, AclError};
use crate::delivery::{AckType, DeliveryId};
use crate::lease::{LeasedState, ViewId};
use crate::principal::DirectoryProperties;
use crate::render::{self, NotifyBody};
use crate::subscription::{SubscriptionId, SubscriptionKind};

/// Names one request; chosen by the embedder, echoed in its [`Answer`] (the shared
/// `rvp-proto` type).
pub use rvp_proto::RequestId;

/// The answer to one request.
///
/// [`Answer::to_http`] and [`Answer::write`] render it as the HTTP response to send
/// (see [`crate::method`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The request answered.
    pub request: RequestId,
    /// What to answer.
    pub outcome: Outcome,
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
    /// [`Engine::handle_delivery_result`](crate::Engine::handle_delivery_result).
    Deliver(Delivery),
}

/// A NOTIFY to send to a subscription's call-back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub(crate) id: DeliveryId,
    /// The subscription whose event this is: the watch, also when the change is delivered
    /// through the watcher's login subscription (then `id.subscription` is the login).
    pub(crate) origin: SubscriptionId,
    pub(crate) callback: Arc<CallBack>,
    pub(crate) hop_count: u32,
    pub(crate) ack: AckType,
    pub(crate) body: NotifyBody,
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

    /// Where to send it (the subscription's `Call-Back`, typed since its SUBSCRIBE).
    pub fn callback(&self) -> &Arc<CallBack> {
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
            NotifyBody::PropChange(p) => Some(p.to.as_deref().unwrap_or(&self.callback).as_str()),
        }
    }

    /// The body in three parts for vectored writes: a property change is a shared
    /// prefix, the watcher's URL and a shared suffix; a relay is its bytes and two empty
    /// parts. Write the middle part XML-escaped unless [`Delivery::middle_is_plain`].
    pub fn body_parts(&self) -> [&[u8]; 3] {
        self.body.parts(self.callback.as_str())
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

    /// The body in three parts, for a vectored write (see
    /// [`write_notify_parts`](rvp_proto::codec::write_notify_parts)): the shared rendered
    /// prefix and suffix of a property change (reference counted, not copied) around this
    /// watcher's escaped part; a relay's body and two empty parts.
    pub fn body_chunks(&self) -> [Bytes; 3] {
        self.body.chunks(self.callback.as_str())
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
pub enum Outcome {
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
        propstats: Vec<(PropName, StatusCode)>,
    },
    /// A refusal.
    Refused(Refusal),
}

impl Outcome {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Outcome::Subscribed {
                kind: SubscriptionKind::PropChange,
                ..
            }
            | Outcome::Properties(_)
            | Outcome::PropPatchRefused { .. }
            | Outcome::StateSet { .. } => StatusCode::MULTI_STATUS,
            Outcome::Refused(r) => r.status(),
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

/// How the body of an answer is shaped, as the request asked (PROPFIND `d:prop` selects,
/// `d:propname` lists names; everything else shows every readable property).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Form {
    /// Every property the caller may read (SUBSCRIBE 207, PROPFIND `d:allprop`).
    #[default]
    Full,
    /// Exactly these properties; unknown ones as `404` propstats.
    Select(Vec<PropName>),
    /// The names of the properties, without values (`d:propname`).
    Names,
}
