//! What the session tells the application ([`Event`]), and the failures it reports.

use rvp_proto::PresenceState;
use rvp_proto::payload::{ImFormat, Invitation, Payload, SessionId};
use rvp_proto::url::LogicalUrl;
use rvp_proto::xml::{RvpAcl, Subscription};

use crate::request::{AclRule, RequestId};

/// Why a request got no usable answer, as reported by the driver
/// ([`Session::handle_failure`](crate::Session::handle_failure)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No connection could be made to the server.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection failed while the request was sent or answered.
    #[error("connection failed: {0}")]
    Io(String),
    /// No answer in time.
    #[error("no answer in time")]
    Timeout,
    /// The server refused the Digest answer to a fresh challenge (wrong password or
    /// unknown user).
    #[error("the server refused the credentials")]
    AuthRejected,
    /// The server asks for an authentication this client cannot give.
    #[error("unsupported authentication: {0}")]
    AuthUnsupported(String),
    /// More redirects in a row than the driver follows.
    #[error("too many redirects")]
    TooManyRedirects,
    /// A `302` whose `Location` cannot be followed.
    #[error("cannot follow the redirect: {0}")]
    BadRedirect(String),
    /// The answer is not HTTP.
    #[error("unreadable answer: {0}")]
    BadResponse(String),
}

impl TransportError {
    /// Whether retrying cannot help (credentials or authentication scheme).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            TransportError::AuthRejected | TransportError::AuthUnsupported(_)
        )
    }
}

/// Why something the session asked for did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The server answered with this (non-`2xx`) status.
    #[error("the server answered {0}")]
    Status(u16),
    /// No usable answer.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A `2xx` answer the session could not read.
    #[error("unreadable answer: {0}")]
    Protocol(String),
}

/// Why a message was not delivered (PROTOCOL.md §2.6, §6.5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Undelivered {
    /// `412`: the recipient is not signed on (or blocks the sender: the two look the same,
    /// PROTOCOL.md §8.4).
    #[error("the recipient is offline")]
    Offline,
    /// `500`: the recipient left the conversation.
    #[error("the recipient left the conversation")]
    Left,
    /// `404`: no such principal.
    #[error("no such recipient")]
    NoSuchRecipient,
    /// `403` or `401`: refused.
    #[error("refused by the server")]
    Refused,
    /// Any other status.
    #[error("the server answered {0}")]
    Status(u16),
    /// No usable answer.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl Undelivered {
    pub(crate) fn from_status(status: u16) -> Undelivered {
        match status {
            412 => Undelivered::Offline,
            500 => Undelivered::Left,
            404 => Undelivered::NoSuchRecipient,
            401 | 403 => Undelivered::Refused,
            other => Undelivered::Status(other),
        }
    }
}

/// Something that went wrong without ending the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    /// A NOTIFY on the call-back could not be read (it was answered `400`/`405`).
    #[error("unreadable NOTIFY: {0}")]
    BadNotify(String),
    /// A sign-on step other than the login and the first state failed; sign-on went on.
    #[error("sign-on step {step} failed: {failure}")]
    SignOnStep {
        /// The step (`PROPFIND`, `SUBSCRIPTIONS`, `ACL`, self-watch).
        step: &'static str,
        /// What happened.
        failure: Failure,
    },
    /// A state change or lease refresh failed (retried for refreshes).
    #[error("setting the state failed: {0}")]
    State(Failure),
    /// A subscription renewal failed (retried while the subscription lives).
    #[error("renewing a subscription failed: {0}")]
    Renewal(Failure),
    /// A look-up, ACL or watcher-list request failed.
    #[error("request failed: {0}")]
    Request(Failure),
}

/// What the session tells the application. Poll with
/// [`Session::poll_event`](crate::Session::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Signed on: login subscription placed, state set, own properties read
    /// (PROTOCOL.md §5.8). Watches follow.
    SignedOn {
        /// The own `d:displayname`, as the server has it.
        display_name: Option<String>,
    },
    /// Sign-on failed for good (wrong credentials, a refusal of the login or the first
    /// state): the session is [`Phase::SignedOff`](crate::Phase::SignedOff).
    SignOnFailed {
        /// What happened.
        reason: Failure,
    },
    /// The session lost its login (the server could not be reached, or the login
    /// subscription could not be placed or renewed): it is
    /// [`Phase::Disconnected`](crate::Phase::Disconnected) and signs on again when
    /// [`Session::sign_on`](crate::Session::sign_on) is called (a driver does, with
    /// back-off). Watches are kept and renewed or placed again then.
    Disconnected {
        /// What happened.
        reason: Failure,
    },
    /// The own state was set (the server's answer to a change, not to a lease refresh).
    StateSet {
        /// The state.
        state: PresenceState,
        /// The lease granted, seconds.
        lease: Option<u32>,
    },
    /// A principal's presence became known or changed: from the answer to a watch, from a
    /// property-change NOTIFY (also about the own node, which the session watches), or
    /// from a look-up.
    Presence {
        /// Whose.
        who: LogicalUrl,
        /// The state.
        state: PresenceState,
    },
    /// A watch is in place (answer to its SUBSCRIBE).
    Watching {
        /// The watched principal.
        who: LogicalUrl,
        /// Its display name, if readable.
        display_name: Option<String>,
        /// Its e-mail, if readable.
        email: Option<String>,
    },
    /// A watch could not be placed (or kept); it stays on the watch list and is tried
    /// again at the next sign-on.
    WatchFailed {
        /// The principal.
        who: LogicalUrl,
        /// What happened.
        reason: Failure,
    },
    /// A text message.
    Message {
        /// The sender.
        from: LogicalUrl,
        /// The sender's display name, if given.
        from_name: Option<String>,
        /// The text (double UTF-8 repaired, line ends as sent).
        text: String,
        /// The conversation.
        session: Option<SessionId>,
        /// The formatting, if given.
        format: Option<ImFormat>,
    },
    /// The peer is typing.
    Typing {
        /// Who.
        from: LogicalUrl,
        /// The conversation.
        session: Option<SessionId>,
    },
    /// The peer joined the conversation.
    Joined {
        /// Who.
        from: LogicalUrl,
        /// The conversation.
        session: Option<SessionId>,
    },
    /// The peer left the conversation.
    Left {
        /// Who.
        from: LogicalUrl,
        /// The conversation.
        session: Option<SessionId>,
    },
    /// An application invitation (file transfer and the like; the transfer itself is not
    /// RVP's business).
    Invitation {
        /// Who.
        from: LogicalUrl,
        /// The invitation.
        invitation: Box<Invitation>,
    },
    /// A message payload of another type.
    OtherPayload {
        /// Who.
        from: LogicalUrl,
        /// The payload.
        payload: Box<Payload>,
    },
    /// An application notification (content of `r:notification`, verbatim).
    Application {
        /// The XML.
        xml: String,
    },
    /// A message NOTIFY was accepted (`200`: with `RVP-Ack-Type: DeepOr`, one of the
    /// recipient's clients took it).
    Delivered {
        /// The request that carried it.
        id: RequestId,
        /// The recipient.
        to: LogicalUrl,
    },
    /// A message NOTIFY was not delivered.
    NotDelivered {
        /// The request that carried it.
        id: RequestId,
        /// The recipient.
        to: LogicalUrl,
        /// Why.
        reason: Undelivered,
    },
    /// The own ACL as the server stores it (answer to a read or a write).
    Acl {
        /// The ACL.
        acl: RvpAcl,
    },
    /// An ACL rule was written.
    RuleSet {
        /// About whom.
        who: LogicalUrl,
        /// The rule.
        rule: AclRule,
    },
    /// Who watches this user (answer to SUBSCRIPTIONS).
    Watchers {
        /// The subscriptions on the own node, as the server lists them.
        subscriptions: Vec<Subscription>,
    },
    /// A principal's properties (answer to a look-up).
    Properties {
        /// Whose.
        who: LogicalUrl,
        /// Display name.
        display_name: Option<String>,
        /// E-mail.
        email: Option<String>,
        /// State.
        state: Option<PresenceState>,
    },
    /// Something went wrong without ending the session.
    Warning(Warning),
    /// Events were dropped because the application did not poll them (at most
    /// [`SessionConfig::max_queued_events`](crate::SessionConfig::max_queued_events) are
    /// kept).
    EventsDropped {
        /// How many.
        count: u64,
    },
    /// Signed off: state offline, subscriptions cancelled (or given up on).
    SignedOff,
}
