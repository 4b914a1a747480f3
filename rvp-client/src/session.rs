//! [`Session`]: one signed-on principal as a sans-IO state machine.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvp_proto::PresenceState;
use rvp_proto::codec::{ParsedRequest, RequestParser, Status};
use rvp_proto::header::SubscriptionId;
use rvp_proto::payload::{
    ImFormat, Invitation, Join, Leave, Payload, SessionId, TextMessage, Typing, encode_double_utf8,
};
use rvp_proto::rights::{CredentialKind, CredentialSet, Right, RightSet};
use rvp_proto::url::{LocalNodeUrl, LogicalUrl};
use rvp_proto::xml::{
    Ace, AcePrincipal, Contact, Inheritance, Message, MimeData, Notification, PropFind, PropName,
    Property, PropertyUpdate, RvpAcl, StateValue, XmlBody,
};

use crate::config::{ConfigError, SessionConfig, TextEncoding};
use crate::event::{Event, Failure, TransportError, Undelivered, Warning};
use crate::inbound::{Inbound, NotifyAnswer};
use crate::reply::{Interpreted, Reply, interpret};
use crate::request::{AclRule, MessageKind, Request, RequestId, RequestKind};
use crate::rng::SplitMix64;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Created, [`Session::sign_on`] not called yet.
    Idle,
    /// The sign-on sequence is running.
    SigningOn,
    /// Signed on.
    SignedOn,
    /// [`Session::sign_off`] was called; waiting for the last answers.
    SigningOff,
    /// Signed off (or sign-on failed for good). [`Session::sign_on`] may start again.
    SignedOff,
    /// The login was lost; [`Session::sign_on`] starts again (watches are kept).
    Disconnected,
}

/// An action the session cannot take now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Not signed on (or signing off).
    #[error("not signed on")]
    NotSignedOn,
    /// [`Session::sign_on`] while signing on, signed on or signing off.
    #[error("already signed on or signing on")]
    AlreadySignedOn,
    /// More unanswered requests than [`SessionConfig::max_pending`].
    #[error("more than {limit} requests are waiting for an answer")]
    TooManyPending {
        /// The limit.
        limit: usize,
    },
    /// The watch list is full ([`SessionConfig::max_watches`]).
    #[error("the watch list is full ({limit})")]
    TooManyWatches {
        /// The limit.
        limit: usize,
    },
    /// Not on the watch list.
    #[error("not watched")]
    NotWatched,
}

/// The sign-on steps after the login subscription (PROTOCOL.md §5.8, librvp's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Login,
    State,
    OwnProperties,
    Watchers,
    ReadAcl,
    SelfWatch,
}

/// A live subscription.
#[derive(Debug, Clone)]
struct Sub {
    id: SubscriptionId,
    expires: Instant,
}

/// A subscription slot: the subscription (if any) and when to act on it next.
#[derive(Debug, Clone, Default)]
struct Slot {
    sub: Option<Sub>,
    /// When to renew (or place again); `None`: nothing scheduled.
    next: Option<Instant>,
    in_flight: bool,
    failures: u32,
}

/// What the session knows about a watched principal.
#[derive(Debug, Clone, Default)]
struct Watched {
    slot: Slot,
    state: Option<PresenceState>,
    display_name: Option<String>,
    email: Option<String>,
}

/// A watched principal as the session knows it ([`Session::buddies`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Buddy<'a> {
    /// The principal.
    pub who: &'a LogicalUrl,
    /// Its last known state (`None`: not known yet).
    pub state: Option<&'a PresenceState>,
    /// Its display name, if known.
    pub display_name: Option<&'a str>,
    /// Its e-mail, if known.
    pub email: Option<&'a str>,
    /// Whether the watch subscription is in place.
    pub watching: bool,
}

/// One principal's client session, sans-IO: time is passed in, input goes through the
/// `handle_*` methods and output comes out of the `poll_*` methods.
///
/// ```text
///  application ── sign_on / set_state / watch / send_message / block / sign_off ──┐
///                                                                                 ▼
///  driver ── handle_response(id, Reply) ─►  ┌──────────── Session ────────────┐ ─► poll_transmit(): Request
///         ── handle_failure(id, error) ──►  │ sign-on steps, subscriptions,   │ ─► poll_event():    Event
///         ── handle_notify(NOTIFY) ──────►  │ lease, watch list, conversations│ ─► poll_timeout():  Instant
///            ◄── NotifyAnswer ───────────── │ (no I/O, no clock, no threads)  │
///         ── handle_timeout(now) ────────►  └─────────────────────────────────┘
/// ```
///
/// See the [crate documentation](crate) for a session driven by hand.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    from: Arc<str>,
    phase: Phase,
    step: Option<Step>,
    callback: Option<LocalNodeUrl>,
    next_id: u64,
    pending: HashMap<RequestId, RequestKind>,
    transmit: VecDeque<Request>,
    events: VecDeque<Event>,
    dropped_events: u64,
    login: Slot,
    state: PresenceState,
    view_id: Option<String>,
    lease_next: Option<Instant>,
    lease_in_flight: bool,
    lease_failures: u32,
    watches: BTreeMap<LogicalUrl, Watched>,
    display_name: Option<String>,
    /// Peer → conversation, most recently used first.
    conversations: VecDeque<(LogicalUrl, SessionId)>,
    /// Conversations this user left, most recent first.
    left: VecDeque<SessionId>,
    rng: SplitMix64,
    /// Sign-off requests not answered yet.
    signoff_waiting: usize,
    /// Why sign-on failed or the login was lost, last time.
    last_failure: Option<Failure>,
}

impl Session {
    /// A session for `config` (checked), in [`Phase::Idle`].
    pub fn new(config: SessionConfig) -> Result<Session, ConfigError> {
        config.check()?;
        let mut watches = BTreeMap::new();
        // The own node is watched too (like every real client, PROTOCOL.md §5.8).
        watches.insert(config.me.clone(), Watched::default());
        for w in &config.watch_list {
            watches.entry(w.clone()).or_default();
        }
        Ok(Session {
            from: Arc::from(config.me.to_string()),
            phase: Phase::Idle,
            step: None,
            callback: None,
            next_id: 1,
            pending: HashMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            dropped_events: 0,
            login: Slot::default(),
            state: config.initial_state.clone(),
            view_id: None,
            lease_next: None,
            lease_in_flight: false,
            lease_failures: 0,
            watches,
            display_name: config.display_name.clone(),
            conversations: VecDeque::new(),
            left: VecDeque::new(),
            rng: SplitMix64::new(config.seed),
            signoff_waiting: 0,
            last_failure: None,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The principal this session signs on as.
    pub fn me(&self) -> &LogicalUrl {
        &self.config.me
    }

    /// Where the session is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The own state as last set (or to be set at sign-on).
    pub fn state(&self) -> &PresenceState {
        &self.state
    }

    /// The own display name (configured, else as the server reported it).
    pub fn display_name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }

    /// The view id the server gave this client (PROTOCOL.md §1.4), echoed on every
    /// PROPPATCH.
    pub fn view_id(&self) -> Option<&str> {
        self.view_id.as_deref()
    }

    /// The watch list (without the own node), with what is known about each.
    pub fn buddies(&self) -> impl Iterator<Item = Buddy<'_>> {
        self.watches
            .iter()
            .filter(|(who, _)| **who != self.config.me)
            .map(|(who, w)| Buddy {
                who,
                state: w.state.as_ref(),
                display_name: w.display_name.as_deref(),
                email: w.email.as_deref(),
                watching: w.slot.sub.is_some(),
            })
    }

    /// Why sign-on failed or the login was lost, the last time it happened.
    pub fn last_failure(&self) -> Option<&Failure> {
        self.last_failure.as_ref()
    }

    /// Whether [`Session::poll_event`] has something.
    pub fn has_events(&self) -> bool {
        self.dropped_events > 0 || !self.events.is_empty()
    }

    /// How many requests wait for an answer.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// A fresh Digest cnonce from the session's generator (for a driver that has no random
    /// source of its own).
    pub fn cnonce(&mut self) -> String {
        self.rng.cnonce()
    }

    // ---- Actions -------------------------------------------------------------------

    /// Starts the sign-on sequence with `callback`, the address of the client's NOTIFY
    /// listener (`http://<ip>:<port>`; its IP must be the one the server sees the requests
    /// come from, PROTOCOL.md §2.1).
    pub fn sign_on(&mut self, now: Instant, callback: LocalNodeUrl) -> Result<(), SessionError> {
        match self.phase {
            Phase::Idle | Phase::SignedOff | Phase::Disconnected => {}
            _ => return Err(SessionError::AlreadySignedOn),
        }
        self.callback = Some(callback);
        self.phase = Phase::SigningOn;
        self.step = Some(Step::Login);
        self.login = Slot::default();
        self.send_login(now);
        Ok(())
    }

    /// Signs off: state `offline`, every watch and the login subscription cancelled
    /// (PROTOCOL.md §5.8 step 6). [`Event::SignedOff`] follows once they are answered.
    pub fn sign_off(&mut self, now: Instant) -> Result<(), SessionError> {
        let _ = now;
        match self.phase {
            Phase::SigningOn | Phase::SignedOn => {}
            Phase::SigningOff => return Ok(()),
            Phase::Idle | Phase::SignedOff | Phase::Disconnected => {
                self.finish_sign_off();
                return Ok(());
            }
        }
        self.phase = Phase::SigningOff;
        self.step = None;
        self.signoff_waiting = 0;
        if self.login.sub.is_some() || self.login.in_flight {
            let kind = RequestKind::SetState {
                state: PresenceState::Offline,
                renewal: false,
            };
            self.send_state(kind, PresenceState::Offline);
            self.signoff_waiting += 1;
        }
        self.lease_next = None;
        let subs: Vec<(LogicalUrl, SubscriptionId)> = self
            .watches
            .iter_mut()
            .filter_map(|(who, w)| {
                w.slot.next = None;
                w.slot.sub.take().map(|s| (who.clone(), s.id))
            })
            .collect();
        for (who, id) in subs {
            self.send_unsubscribe(RequestKind::Unwatch { who: who.clone() }, &who, &id);
            self.signoff_waiting += 1;
        }
        if let Some(sub) = self.login.sub.take() {
            let me = self.config.me.clone();
            self.send_unsubscribe(RequestKind::Logout, &me, &sub.id);
            self.signoff_waiting += 1;
        }
        self.login.next = None;
        if self.signoff_waiting == 0 {
            self.finish_sign_off();
        }
        Ok(())
    }

    /// Sets the own state (PROPPATCH with a lease, echoing the view id). While not signed
    /// on, the state is kept and set at the next sign-on.
    pub fn set_state(
        &mut self,
        now: Instant,
        state: PresenceState,
    ) -> Result<RequestId, SessionError> {
        let _ = now;
        if self.phase != Phase::SignedOn {
            self.state = state;
            return Err(SessionError::NotSignedOn);
        }
        self.check_room()?;
        self.state = state.clone();
        Ok(self.send_state(
            RequestKind::SetState {
                state: state.clone(),
                renewal: false,
            },
            state,
        ))
    }

    /// Adds `who` to the watch list and, when signed on, subscribes to its presence
    /// (`update/propchange`, call-back = the own logical URL, PROTOCOL.md §1.4).
    pub fn watch(&mut self, now: Instant, who: LogicalUrl) -> Result<(), SessionError> {
        let _ = now;
        if self.watches.contains_key(&who) {
            return Ok(());
        }
        if self.watches.len() > self.config.max_watches {
            return Err(SessionError::TooManyWatches {
                limit: self.config.max_watches,
            });
        }
        if self.phase == Phase::SignedOn {
            self.check_room()?;
            self.watches.insert(who.clone(), Watched::default());
            self.send_watch(&who);
        } else {
            self.watches.insert(who, Watched::default());
        }
        Ok(())
    }

    /// Removes `who` from the watch list and cancels its subscription.
    pub fn unwatch(&mut self, now: Instant, who: &LogicalUrl) -> Result<(), SessionError> {
        let _ = now;
        if *who == self.config.me {
            return Err(SessionError::NotWatched);
        }
        let w = self.watches.remove(who).ok_or(SessionError::NotWatched)?;
        if let Some(sub) = w.slot.sub
            && matches!(self.phase, Phase::SignedOn | Phase::SigningOn)
        {
            self.send_unsubscribe(RequestKind::Unwatch { who: who.clone() }, who, &sub.id);
        }
        Ok(())
    }

    /// Sends a text message to `to` (NOTIFY, `RVP-Ack-Type: DeepOr`, PROTOCOL.md §6.1) in
    /// the current conversation with `to` (a new one if there is none).
    /// [`Event::Delivered`] or [`Event::NotDelivered`] follows with the returned id.
    pub fn send_message(
        &mut self,
        now: Instant,
        to: &LogicalUrl,
        text: &str,
    ) -> Result<RequestId, SessionError> {
        let _ = now;
        self.check_signed_on()?;
        let session = self.conversation(to);
        let payload =
            Payload::Message(TextMessage::new(session, text).with_format(ImFormat::default()));
        Ok(self.send_payload(to, MessageKind::Text, &payload))
    }

    /// Tells `to` that this user is typing (send it every few seconds while typing,
    /// PROTOCOL.md §6.2). No event follows.
    pub fn send_typing(
        &mut self,
        now: Instant,
        to: &LogicalUrl,
    ) -> Result<RequestId, SessionError> {
        let _ = now;
        self.check_signed_on()?;
        let session = self.conversation(to);
        let payload = Payload::Typing(Typing::new(session, self.config.address.clone()));
        Ok(self.send_payload(to, MessageKind::Typing, &payload))
    }

    /// Tells `to` that this user joined the conversation.
    pub fn send_join(&mut self, now: Instant, to: &LogicalUrl) -> Result<RequestId, SessionError> {
        let _ = now;
        self.check_signed_on()?;
        let session = self.conversation(to);
        Ok(self.send_payload(to, MessageKind::Join, &Payload::Join(Join::new(session))))
    }

    /// Leaves the conversation with `to`: tells `to`, and from then on answers NOTIFYs of
    /// that conversation with `500` (PROTOCOL.md §6.2). The next message to `to` opens a
    /// new conversation.
    pub fn leave(&mut self, now: Instant, to: &LogicalUrl) -> Result<RequestId, SessionError> {
        let _ = now;
        self.check_signed_on()?;
        let session = self.conversation(to);
        self.conversations.retain(|(p, _)| p != to);
        self.left.push_front(session);
        self.left.truncate(self.config.max_left_conversations);
        Ok(self.send_payload(to, MessageKind::Leave, &Payload::Leave(Leave::new(session))))
    }

    /// Sends an application invitation (its `Session-Id` is set to the conversation with
    /// `to` when it has none).
    pub fn send_invitation(
        &mut self,
        now: Instant,
        to: &LogicalUrl,
        mut invitation: Invitation,
    ) -> Result<RequestId, SessionError> {
        let _ = now;
        self.check_signed_on()?;
        if invitation.session_id.is_none() {
            invitation.session_id = Some(self.conversation(to));
        }
        Ok(self.send_payload(
            to,
            MessageKind::Invitation,
            &Payload::Invitation(invitation),
        ))
    }

    /// Allows `who` to see this user's presence and send it messages (an ACL write,
    /// PROTOCOL.md §2.7).
    pub fn allow(&mut self, now: Instant, who: &LogicalUrl) -> Result<RequestId, SessionError> {
        self.write_rule(now, who, AclRule::Allow)
    }

    /// Blocks `who`: it sees this user offline and its messages are refused like those to
    /// an offline user (PROTOCOL.md §8.4).
    pub fn block(&mut self, now: Instant, who: &LogicalUrl) -> Result<RequestId, SessionError> {
        self.write_rule(now, who, AclRule::Block)
    }

    /// Writes one ACL rule about `who`.
    pub fn write_rule(
        &mut self,
        now: Instant,
        who: &LogicalUrl,
        rule: AclRule,
    ) -> Result<RequestId, SessionError> {
        let _ = now;
        self.check_signed_on()?;
        let rights = RightSet::of([Right::SendTo, Right::Presence]);
        let (grant, deny) = match rule {
            AclRule::Allow => (rights, RightSet::EMPTY),
            AclRule::Block => (RightSet::EMPTY, rights),
            AclRule::Clear => (RightSet::EMPTY, RightSet::EMPTY),
        };
        let acl = RvpAcl {
            inheritance: Some(Inheritance::None),
            aces: vec![Ace {
                principal: AcePrincipal::Url(who.to_string()),
                credentials: CredentialSet::of([
                    CredentialKind::Assertion,
                    CredentialKind::Digest,
                    CredentialKind::Ntlm,
                ]),
                grant,
                deny,
            }],
        };
        let me = self.config.me.clone();
        let id = self.emit(
            RequestKind::WriteAcl {
                who: who.clone(),
                rule,
            },
            &me,
            |r| r.header("Content-Type", "text/xml").body(acl.to_bytes()),
        );
        Ok(id)
    }

    /// Reads the own ACL ([`Event::Acl`] follows).
    pub fn read_acl(&mut self, now: Instant) -> Result<RequestId, SessionError> {
        let _ = now;
        self.check_signed_on()?;
        let me = self.config.me.clone();
        Ok(self.emit(RequestKind::ReadAcl, &me, |r| r))
    }

    /// Lists who watches this user ([`Event::Watchers`] follows).
    pub fn list_watchers(&mut self, now: Instant) -> Result<RequestId, SessionError> {
        let _ = now;
        self.check_signed_on()?;
        let me = self.config.me.clone();
        Ok(self.emit(RequestKind::Watchers, &me, |r| {
            r.header("Notification-Type", "update/propchange")
        }))
    }

    /// Reads `who`'s state, display name and e-mail ([`Event::Properties`] follows).
    pub fn look_up(&mut self, now: Instant, who: &LogicalUrl) -> Result<RequestId, SessionError> {
        let _ = now;
        self.check_signed_on()?;
        let body = PropFind::Prop(vec![
            PropName::State,
            PropName::DisplayName,
            PropName::Email,
        ])
        .to_bytes();
        Ok(
            self.emit(RequestKind::Properties { who: who.clone() }, who, |r| {
                r.header("Depth", "0")
                    .header("Content-Type", "text/xml")
                    .body(body)
            }),
        )
    }

    // ---- Input ---------------------------------------------------------------------

    /// The answer to request `id`. Answers to requests the session no longer waits for
    /// (after a disconnection or sign-off) are ignored.
    ///
    /// Authentication (`401`) and redirects (`302`) are the driver's business: hand over
    /// the final answer.
    pub fn handle_response(&mut self, now: Instant, id: RequestId, reply: &Reply) {
        let Some(kind) = self.pending.remove(&id) else {
            return;
        };
        let outcome = match interpret(&kind, reply, &self.config.xml_limits) {
            Ok(Interpreted::Refused(status)) => Err(Failure::Status(status)),
            Ok(answer) => Ok(answer),
            Err(e) => Err(Failure::Protocol(e.to_string())),
        };
        self.complete(now, id, kind, outcome);
    }

    /// Request `id` got no usable answer.
    pub fn handle_failure(&mut self, now: Instant, id: RequestId, error: TransportError) {
        let Some(kind) = self.pending.remove(&id) else {
            return;
        };
        self.complete(now, id, kind, Err(Failure::Transport(error)));
    }

    /// A NOTIFY received on the call-back: updates presence, queues events, and returns
    /// the answer to send back (PROTOCOL.md §2.6: `200`; `500` for a conversation this
    /// user left; `400`/`405` for what cannot be read).
    pub fn handle_notify(&mut self, now: Instant, request: &ParsedRequest<'_, '_>) -> NotifyAnswer {
        let _ = now;
        match Inbound::parse(
            request,
            &self.config.xml_limits,
            &self.config.payload_limits,
        ) {
            Ok(inbound) => self.inbound(inbound),
            Err(e) => {
                let status = e.status();
                self.push_event(Event::Warning(Warning::BadNotify(e.to_string())));
                NotifyAnswer::new(status)
            }
        }
    }

    /// [`Session::handle_notify`] on the bytes of one request (bare LF accepted); `400`
    /// when they are not one complete request.
    pub fn handle_notify_bytes(&mut self, now: Instant, bytes: &[u8]) -> NotifyAnswer {
        let mut parser = RequestParser::default();
        match parser.parse(bytes) {
            Ok(Status::Complete(m)) => self.handle_notify(now, &m),
            Ok(Status::Partial) => {
                self.push_event(Event::Warning(Warning::BadNotify(
                    "incomplete request".into(),
                )));
                NotifyAnswer::new(400)
            }
            Err(e) => {
                self.push_event(Event::Warning(Warning::BadNotify(e.to_string())));
                NotifyAnswer::new(400)
            }
        }
    }

    /// Time passed: renews what is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase != Phase::SignedOn {
            return;
        }
        // Login subscription.
        if !self.login.in_flight
            && let Some(at) = self.login.next
            && now >= at
        {
            match &self.login.sub {
                Some(sub) if now < sub.expires => self.send_login_renewal(now),
                _ => {
                    // Expired, or lost: place it again.
                    self.login.sub = None;
                    self.send_login(now);
                }
            }
        }
        // State lease.
        if !self.lease_in_flight
            && let Some(at) = self.lease_next
            && now >= at
        {
            let state = self.state.clone();
            self.send_state(
                RequestKind::SetState {
                    state: state.clone(),
                    renewal: true,
                },
                state,
            );
        }
        // Watches.
        let due: Vec<(LogicalUrl, bool)> = self
            .watches
            .iter()
            .filter(|(_, w)| !w.slot.in_flight && w.slot.next.is_some_and(|t| now >= t))
            .map(|(who, w)| {
                (
                    who.clone(),
                    w.slot.sub.as_ref().is_some_and(|s| now < s.expires),
                )
            })
            .collect();
        for (who, alive) in due {
            if alive {
                self.send_watch_renewal(&who);
            } else {
                if let Some(w) = self.watches.get_mut(&who) {
                    w.slot.sub = None;
                }
                self.send_watch(&who);
            }
        }
    }

    // ---- Output --------------------------------------------------------------------

    /// The next request to send.
    pub fn poll_transmit(&mut self) -> Option<Request> {
        self.transmit.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.dropped_events > 0 {
            let count = std::mem::take(&mut self.dropped_events);
            return Some(Event::EventsDropped { count });
        }
        self.events.pop_front()
    }

    /// When to call [`Session::handle_timeout`] next (`None`: nothing scheduled).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase != Phase::SignedOn {
            return None;
        }
        let login = self.login.next.filter(|_| !self.login.in_flight);
        let lease = self.lease_next.filter(|_| !self.lease_in_flight);
        let watches = self
            .watches
            .values()
            .filter(|w| !w.slot.in_flight)
            .filter_map(|w| w.slot.next)
            .min();
        [login, lease, watches].into_iter().flatten().min()
    }

    // ---- Internals -----------------------------------------------------------------

    fn check_signed_on(&self) -> Result<(), SessionError> {
        if self.phase != Phase::SignedOn {
            return Err(SessionError::NotSignedOn);
        }
        self.check_room()
    }

    fn check_room(&self) -> Result<(), SessionError> {
        if self.pending.len() >= self.config.max_pending {
            return Err(SessionError::TooManyPending {
                limit: self.config.max_pending,
            });
        }
        Ok(())
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= self.config.max_queued_events {
            self.events.pop_front();
            self.dropped_events += 1;
        }
        self.events.push_back(event);
    }

    fn emit(
        &mut self,
        kind: RequestKind,
        node: &LogicalUrl,
        build: impl FnOnce(Request) -> Request,
    ) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let request = build(Request::new(id, kind.clone(), node, Arc::clone(&self.from)));
        self.pending.insert(id, kind);
        self.transmit.push_back(request);
        id
    }

    fn send_login(&mut self, now: Instant) {
        let _ = now;
        let Some(callback) = self.callback.as_ref().map(ToString::to_string) else {
            return;
        };
        let me = self.config.me.clone();
        let lifetime = self.config.login_lifetime;
        self.login.in_flight = true;
        self.emit(RequestKind::Login, &me, |r| {
            r.header("Notification-Type", "pragma/notify")
                .header("Call-Back", callback)
                .header("Subscription-Lifetime", lifetime.to_string())
        });
    }

    fn send_login_renewal(&mut self, now: Instant) {
        let _ = now;
        let Some(id) = self.login.sub.as_ref().map(|s| s.id.clone()) else {
            return;
        };
        let me = self.config.me.clone();
        let lifetime = self.config.login_lifetime;
        self.login.in_flight = true;
        self.emit(RequestKind::RenewLogin, &me, |r| {
            r.header("Subscription-Id", id.as_str())
                .header("Subscription-Lifetime", lifetime.to_string())
        });
    }

    fn send_state(&mut self, kind: RequestKind, state: PresenceState) -> RequestId {
        let mut value = StateValue::leased(state, PresenceState::Offline, Some(self.config.lease));
        if let Some(v) = &self.view_id {
            value = value.with_view_id(v.clone());
        }
        let body = PropertyUpdate::set(vec![Property::state(value)]).to_bytes();
        if matches!(kind, RequestKind::SetState { renewal: true, .. }) {
            self.lease_in_flight = true;
        }
        let me = self.config.me.clone();
        self.emit(kind, &me, |r| {
            r.header("Content-Type", "text/xml").body(body)
        })
    }

    fn send_watch(&mut self, who: &LogicalUrl) {
        let me = self.from.to_string();
        let lifetime = self.config.watch_lifetime;
        if let Some(w) = self.watches.get_mut(who) {
            w.slot.in_flight = true;
        }
        self.emit(RequestKind::Watch { who: who.clone() }, who, |r| {
            r.header("Notification-Type", "update/propchange")
                .header("Call-Back", me)
                .header("Subscription-Lifetime", lifetime.to_string())
        });
    }

    fn send_watch_renewal(&mut self, who: &LogicalUrl) {
        let lifetime = self.config.watch_lifetime;
        let Some(w) = self.watches.get_mut(who) else {
            return;
        };
        let Some(id) = w.slot.sub.as_ref().map(|s| s.id.clone()) else {
            return;
        };
        w.slot.in_flight = true;
        self.emit(RequestKind::RenewWatch { who: who.clone() }, who, |r| {
            r.header("Subscription-Id", id.as_str())
                .header("Subscription-Lifetime", lifetime.to_string())
        });
    }

    fn send_unsubscribe(&mut self, kind: RequestKind, node: &LogicalUrl, id: &SubscriptionId) {
        let id = id.as_str().to_owned();
        self.emit(kind, node, |r| r.header("Subscription-Id", id));
    }

    fn send_payload(&mut self, to: &LogicalUrl, what: MessageKind, payload: &Payload) -> RequestId {
        let text = payload.write();
        let text = match self.config.text_encoding {
            TextEncoding::DoubleUtf8 => encode_double_utf8(&text).into_owned(),
            _ => text,
        };
        let body = Notification::Message(Message {
            from: Contact::new(
                self.from.to_string(),
                self.display_name.clone().unwrap_or_default(),
            ),
            to: vec![Contact::new(to.to_string(), "")],
            mime_data: MimeData::new(text),
        })
        .to_bytes();
        self.emit(
            RequestKind::Message {
                to: to.clone(),
                what,
            },
            to,
            |r| {
                r.header("Content-Type", "text/xml")
                    .header("RVP-Ack-Type", "DeepOr")
                    .header("RVP-Hop-Count", "1")
                    .body(body)
            },
        )
    }

    /// The conversation with `peer` (made up when there is none), moved to the front.
    fn conversation(&mut self, peer: &LogicalUrl) -> SessionId {
        if let Some(i) = self.conversations.iter().position(|(p, _)| p == peer)
            && let Some(entry) = self.conversations.remove(i)
        {
            let id = entry.1;
            self.conversations.push_front(entry);
            return id;
        }
        let id = SessionId::from_bytes(self.rng.guid().to_be_bytes());
        self.remember_conversation(peer, id);
        id
    }

    fn remember_conversation(&mut self, peer: &LogicalUrl, id: SessionId) {
        self.conversations.retain(|(p, _)| p != peer);
        self.conversations.push_front((peer.clone(), id));
        self.conversations.truncate(self.config.max_conversations);
    }

    /// When to renew something granted `granted` seconds at `now`, with `margin`.
    fn renew_at(now: Instant, granted: u32, margin: Duration) -> Instant {
        let g = Duration::from_secs(u64::from(granted.max(1)));
        let early = margin.min(g / 4);
        now + (g - early).max(Duration::from_secs(1))
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.min(16);
        self.config
            .retry_delay
            .saturating_mul(factor)
            .min(self.config.max_retry_delay.max(self.config.retry_delay))
    }

    fn next_step(&mut self, now: Instant) {
        let Some(step) = self.step else {
            return;
        };
        let me = self.config.me.clone();
        let next = match step {
            Step::Login => {
                let state = self.state.clone();
                self.send_state(
                    RequestKind::SetState {
                        state: state.clone(),
                        renewal: false,
                    },
                    state,
                );
                Step::State
            }
            Step::State => {
                let body = PropFind::Prop(vec![PropName::DisplayName]).to_bytes();
                self.emit(RequestKind::Properties { who: me.clone() }, &me, |r| {
                    r.header("Depth", "0")
                        .header("Content-Type", "text/xml")
                        .body(body)
                });
                Step::OwnProperties
            }
            Step::OwnProperties => {
                self.emit(RequestKind::Watchers, &me, |r| {
                    r.header("Notification-Type", "update/propchange")
                });
                Step::Watchers
            }
            Step::Watchers => {
                self.emit(RequestKind::ReadAcl, &me, |r| r);
                Step::ReadAcl
            }
            Step::ReadAcl => {
                let alive = self
                    .watches
                    .get(&me)
                    .and_then(|w| w.slot.sub.as_ref())
                    .is_some_and(|s| now < s.expires);
                if alive {
                    self.send_watch_renewal(&me);
                } else {
                    self.send_watch(&me);
                }
                Step::SelfWatch
            }
            Step::SelfWatch => {
                self.step = None;
                self.phase = Phase::SignedOn;
                self.push_event(Event::SignedOn {
                    display_name: self.display_name.clone(),
                });
                let others: Vec<(LogicalUrl, bool)> = self
                    .watches
                    .iter()
                    .filter(|(who, w)| **who != me && !w.slot.in_flight)
                    .map(|(who, w)| {
                        (
                            who.clone(),
                            w.slot.sub.as_ref().is_some_and(|s| now < s.expires),
                        )
                    })
                    .collect();
                for (who, alive) in others {
                    if alive {
                        self.send_watch_renewal(&who);
                    } else {
                        self.send_watch(&who);
                    }
                }
                return;
            }
        };
        self.step = Some(next);
    }

    fn disconnect(&mut self, reason: Failure) {
        self.last_failure = Some(reason.clone());
        self.phase = Phase::Disconnected;
        self.step = None;
        self.pending.clear();
        self.transmit.clear();
        self.login = Slot::default();
        self.lease_next = None;
        self.lease_in_flight = false;
        for w in self.watches.values_mut() {
            w.slot.in_flight = false;
            w.slot.next = None;
        }
        self.push_event(Event::Disconnected { reason });
    }

    fn fail_sign_on(&mut self, reason: Failure) {
        if matches!(&reason, Failure::Transport(t) if !t.is_permanent()) {
            self.disconnect(reason);
            return;
        }
        self.last_failure = Some(reason.clone());
        self.phase = Phase::SignedOff;
        self.step = None;
        self.pending.clear();
        self.transmit.clear();
        self.login = Slot::default();
        self.push_event(Event::SignOnFailed { reason });
    }

    fn finish_sign_off(&mut self) {
        self.phase = Phase::SignedOff;
        self.step = None;
        self.pending.clear();
        self.login = Slot::default();
        self.lease_next = None;
        self.lease_in_flight = false;
        for w in self.watches.values_mut() {
            w.slot = Slot::default();
        }
        self.push_event(Event::SignedOff);
    }

    fn signoff_answered(&mut self) {
        self.signoff_waiting = self.signoff_waiting.saturating_sub(1);
        if self.signoff_waiting == 0 {
            self.finish_sign_off();
        }
    }

    fn complete(
        &mut self,
        now: Instant,
        id: RequestId,
        kind: RequestKind,
        outcome: Result<Interpreted, Failure>,
    ) {
        if self.phase == Phase::SigningOff {
            self.complete_signing_off(kind, outcome);
            return;
        }
        match kind {
            RequestKind::Login => self.login_answered(now, outcome, false),
            RequestKind::RenewLogin => self.login_answered(now, outcome, true),
            RequestKind::SetState { state, renewal } => {
                self.state_answered(now, state, renewal, outcome);
            }
            RequestKind::Properties { who } => self.properties_answered(now, who, outcome),
            RequestKind::Watchers => {
                match outcome {
                    Ok(Interpreted::Subscriptions(subscriptions)) => {
                        self.push_event(Event::Watchers { subscriptions });
                    }
                    Ok(_) => {}
                    Err(failure) => self.step_warning("SUBSCRIPTIONS", failure),
                }
                if self.step == Some(Step::Watchers) {
                    self.next_step(now);
                }
            }
            RequestKind::ReadAcl => {
                match outcome {
                    Ok(Interpreted::Acl(acl)) => self.push_event(Event::Acl { acl }),
                    Ok(Interpreted::AclUnreadable(e)) => {
                        self.step_warning("ACL", Failure::Protocol(e.to_string()));
                    }
                    Ok(_) => {}
                    Err(failure) => self.step_warning("ACL", failure),
                }
                if self.step == Some(Step::ReadAcl) {
                    self.next_step(now);
                }
            }
            RequestKind::WriteAcl { who, rule } => match outcome {
                Ok(answer) => {
                    self.push_event(Event::RuleSet { who, rule });
                    if let Interpreted::Acl(acl) = answer {
                        self.push_event(Event::Acl { acl });
                    }
                }
                Err(failure) => self.push_event(Event::Warning(Warning::Request(failure))),
            },
            RequestKind::Watch { who } => self.watch_answered(now, who, outcome, false),
            RequestKind::RenewWatch { who } => self.watch_answered(now, who, outcome, true),
            RequestKind::Unwatch { .. } | RequestKind::Logout => {}
            RequestKind::Message { to, what } => {
                if what == MessageKind::Typing {
                    return;
                }
                let event = match outcome {
                    Ok(_) => Event::Delivered { id, to },
                    Err(Failure::Status(s)) => Event::NotDelivered {
                        id,
                        to,
                        reason: Undelivered::from_status(s),
                    },
                    Err(Failure::Transport(t)) => Event::NotDelivered {
                        id,
                        to,
                        reason: Undelivered::Transport(t),
                    },
                    Err(Failure::Protocol(_)) => Event::Delivered { id, to },
                };
                self.push_event(event);
            }
        }
    }

    fn complete_signing_off(&mut self, kind: RequestKind, outcome: Result<Interpreted, Failure>) {
        match kind {
            // A subscription that was being placed when sign-off began: cancel it too.
            RequestKind::Login | RequestKind::RenewLogin => {
                if let Ok(Interpreted::Subscribed { id, .. }) = outcome {
                    let me = self.config.me.clone();
                    self.send_unsubscribe(RequestKind::Logout, &me, &id);
                    self.signoff_waiting += 1;
                }
            }
            RequestKind::Watch { who } | RequestKind::RenewWatch { who } => {
                if let Ok(Interpreted::Subscribed { id, .. }) = outcome {
                    self.send_unsubscribe(RequestKind::Unwatch { who: who.clone() }, &who, &id);
                    self.signoff_waiting += 1;
                }
            }
            RequestKind::SetState {
                state: PresenceState::Offline,
                ..
            }
            | RequestKind::Unwatch { .. }
            | RequestKind::Logout => self.signoff_answered(),
            _ => {}
        }
    }

    fn step_warning(&mut self, step: &'static str, failure: Failure) {
        if self.step.is_some() {
            self.push_event(Event::Warning(Warning::SignOnStep { step, failure }));
        } else {
            self.push_event(Event::Warning(Warning::Request(failure)));
        }
    }

    fn login_answered(
        &mut self,
        now: Instant,
        outcome: Result<Interpreted, Failure>,
        renewal: bool,
    ) {
        self.login.in_flight = false;
        match outcome {
            Ok(Interpreted::Subscribed { id, lifetime, .. }) => {
                let granted = lifetime.unwrap_or(self.config.login_lifetime);
                self.login.sub = Some(Sub {
                    id,
                    expires: now + Duration::from_secs(u64::from(granted)),
                });
                self.login.next = Some(Self::renew_at(
                    now,
                    granted,
                    self.config.subscription_renew_margin,
                ));
                self.login.failures = 0;
                if self.step == Some(Step::Login) {
                    self.next_step(now);
                }
            }
            Ok(_) => {}
            Err(failure) => {
                if self.step == Some(Step::Login) {
                    self.fail_sign_on(failure);
                    return;
                }
                if renewal && failure == Failure::Status(412) {
                    // The server forgot it: subscribe afresh (PROTOCOL.md §5.6).
                    self.login.sub = None;
                    self.send_login(now);
                    return;
                }
                if !renewal && matches!(failure, Failure::Status(_)) {
                    self.disconnect(failure);
                    return;
                }
                if let Failure::Transport(t) = &failure
                    && t.is_permanent()
                {
                    self.disconnect(failure);
                    return;
                }
                let alive = self.login.sub.as_ref().is_some_and(|s| now < s.expires);
                let retry = now + self.backoff(self.login.failures);
                self.login.failures += 1;
                match &self.login.sub {
                    Some(sub) if alive && retry < sub.expires => {
                        self.push_event(Event::Warning(Warning::Renewal(failure)));
                        self.login.next = Some(retry);
                    }
                    _ => self.disconnect(failure),
                }
            }
        }
    }

    fn state_answered(
        &mut self,
        now: Instant,
        state: PresenceState,
        renewal: bool,
        outcome: Result<Interpreted, Failure>,
    ) {
        if renewal {
            self.lease_in_flight = false;
        }
        match outcome {
            Ok(Interpreted::Properties(p)) => {
                if let Some(v) = p.view_id {
                    self.view_id = Some(v);
                }
                let granted = p.lease.unwrap_or(self.config.lease);
                self.lease_next =
                    Some(Self::renew_at(now, granted, self.config.lease_renew_margin));
                self.lease_failures = 0;
                if !renewal {
                    self.push_event(Event::StateSet {
                        state,
                        lease: p.lease,
                    });
                }
                if self.step == Some(Step::State) {
                    self.next_step(now);
                }
            }
            Ok(_) => {}
            Err(failure) => {
                if self.step == Some(Step::State) {
                    self.fail_sign_on(failure);
                    return;
                }
                if renewal {
                    self.lease_next = Some(now + self.backoff(self.lease_failures));
                    self.lease_failures += 1;
                }
                self.push_event(Event::Warning(Warning::State(failure)));
            }
        }
    }

    fn properties_answered(
        &mut self,
        now: Instant,
        who: LogicalUrl,
        outcome: Result<Interpreted, Failure>,
    ) {
        let own_step = self.step == Some(Step::OwnProperties) && who == self.config.me;
        match outcome {
            Ok(Interpreted::Properties(p)) => {
                if own_step {
                    if self.config.display_name.is_none() {
                        self.display_name = p.display_name;
                    }
                } else {
                    if let Some(s) = &p.state {
                        self.note_state(&who, s.clone());
                    }
                    self.push_event(Event::Properties {
                        who,
                        display_name: p.display_name,
                        email: p.email,
                        state: p.state,
                    });
                }
            }
            Ok(_) => {}
            Err(failure) => {
                if own_step {
                    self.step_warning("PROPFIND", failure);
                } else {
                    self.push_event(Event::Warning(Warning::Request(failure)));
                }
            }
        }
        if own_step {
            self.next_step(now);
        }
    }

    fn watch_answered(
        &mut self,
        now: Instant,
        who: LogicalUrl,
        outcome: Result<Interpreted, Failure>,
        renewal: bool,
    ) {
        let is_me = who == self.config.me;
        let self_step = is_me && self.step == Some(Step::SelfWatch);
        let Some(failures) = self.watches.get(&who).map(|w| w.slot.failures) else {
            // Unwatched meanwhile: cancel what was just placed.
            if let Ok(Interpreted::Subscribed { id, .. }) = outcome
                && self.phase == Phase::SignedOn
            {
                self.send_unsubscribe(RequestKind::Unwatch { who: who.clone() }, &who, &id);
            }
            return;
        };
        let retry = now + self.backoff(failures);
        let margin = self.config.subscription_renew_margin;
        let default_lifetime = self.config.watch_lifetime;
        match outcome {
            Ok(Interpreted::Subscribed {
                id,
                lifetime,
                properties,
            }) => {
                let granted = lifetime.unwrap_or(default_lifetime);
                let mut changed = None;
                let mut watching = None;
                if let Some(w) = self.watches.get_mut(&who) {
                    w.slot.in_flight = false;
                    w.slot.failures = 0;
                    w.slot.sub = Some(Sub {
                        id,
                        expires: now + Duration::from_secs(u64::from(granted)),
                    });
                    w.slot.next = Some(Self::renew_at(now, granted, margin));
                    if let Some(p) = properties {
                        if p.display_name.is_some() {
                            w.display_name = p.display_name;
                        }
                        if p.email.is_some() {
                            w.email = p.email;
                        }
                        if let Some(s) = p.state
                            && w.state.as_ref() != Some(&s)
                        {
                            w.state = Some(s.clone());
                            changed = Some(s);
                        }
                    }
                    if !renewal {
                        watching = Some((w.display_name.clone(), w.email.clone()));
                    }
                }
                if let Some((display_name, email)) = watching
                    && !is_me
                {
                    self.push_event(Event::Watching {
                        who: who.clone(),
                        display_name,
                        email,
                    });
                }
                if let Some(state) = changed {
                    self.push_event(Event::Presence { who, state });
                }
            }
            Ok(_) => {}
            Err(failure) => {
                if renewal && failure == Failure::Status(412) {
                    // The server forgot it: watch afresh.
                    if let Some(w) = self.watches.get_mut(&who) {
                        w.slot.sub = None;
                    }
                    self.send_watch(&who);
                    return;
                }
                let transient = matches!(&failure, Failure::Transport(t) if !t.is_permanent());
                if let Some(w) = self.watches.get_mut(&who) {
                    w.slot.in_flight = false;
                    if transient {
                        w.slot.failures += 1;
                        w.slot.next = Some(retry);
                    } else if renewal {
                        // A refused renewal: place the watch again later.
                        w.slot.failures += 1;
                        w.slot.sub = None;
                        w.slot.next = Some(retry);
                    } else {
                        w.slot.next = None;
                    }
                }
                if is_me {
                    self.step_warning("self-watch", failure);
                } else if renewal || transient {
                    self.push_event(Event::Warning(Warning::Renewal(failure)));
                } else {
                    self.push_event(Event::WatchFailed {
                        who: who.clone(),
                        reason: failure,
                    });
                }
            }
        }
        if self_step {
            self.next_step(now);
        }
    }

    /// Records `who`'s state; an event when it changed.
    fn note_state(&mut self, who: &LogicalUrl, state: PresenceState) {
        if let Some(w) = self.watches.get_mut(who) {
            if w.state.as_ref() == Some(&state) {
                return;
            }
            w.state = Some(state.clone());
        }
        self.push_event(Event::Presence {
            who: who.clone(),
            state,
        });
    }

    fn inbound(&mut self, inbound: Inbound) -> NotifyAnswer {
        match inbound {
            Inbound::Presence {
                who,
                state,
                display_name,
            } => {
                if let Some(name) = display_name
                    && let Some(w) = self.watches.get_mut(&who)
                {
                    w.display_name = Some(name);
                }
                if let Some(state) = state {
                    self.note_state(&who, state);
                }
                NotifyAnswer::OK
            }
            Inbound::Message {
                from,
                from_name,
                payload,
            } => {
                let session = payload.session_id();
                if let Some(s) = session
                    && self.left.contains(&s)
                {
                    // This user left that conversation (PROTOCOL.md §6.2).
                    return NotifyAnswer::new(500);
                }
                if let Some(s) = session
                    && !matches!(*payload, Payload::Leave(_))
                {
                    self.remember_conversation(&from, s);
                }
                let event = match *payload {
                    Payload::Message(m) => Event::Message {
                        from,
                        from_name,
                        text: m.text,
                        session,
                        format: m.format,
                    },
                    Payload::Typing(_) => Event::Typing { from, session },
                    Payload::Join(_) => Event::Joined { from, session },
                    Payload::Leave(_) => {
                        self.conversations
                            .retain(|(p, s)| *p != from || Some(*s) != session);
                        Event::Left { from, session }
                    }
                    Payload::Invitation(invitation) => Event::Invitation {
                        from,
                        invitation: Box::new(invitation),
                    },
                    other => Event::OtherPayload {
                        from,
                        payload: Box::new(other),
                    },
                };
                self.push_event(event);
                NotifyAnswer::OK
            }
            Inbound::Application(xml) => {
                self.push_event(Event::Application { xml });
                NotifyAnswer::OK
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn url(alias: &str) -> LogicalUrl {
        format!("http://localhost/instmsg/aliases/{alias}")
            .parse()
            .unwrap()
    }

    fn reply(status: u16, headers: &str, body: &str) -> Reply {
        Reply::parse(
            format!(
                "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap()
    }

    fn ms(props: &str) -> String {
        format!(
            "<d:multistatus xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><d:response>\
             <d:href>x</d:href><d:propstat><d:prop>{props}</d:prop><d:status>HTTP/1.1 200 OK</d:status>\
             </d:propstat></d:response></d:multistatus>"
        )
    }

    /// A success answer for any request.
    fn ok(r: &Request, n: u64) -> Reply {
        match r.kind() {
            RequestKind::Login | RequestKind::RenewLogin | RequestKind::RenewWatch { .. } => reply(
                200,
                &format!("Subscription-Id: {n}\r\nSubscription-Lifetime: 600\r\n"),
                "",
            ),
            RequestKind::Watch { .. } => reply(
                207,
                &format!("Subscription-Id: {n}\r\nSubscription-Lifetime: 600\r\n"),
                &ms("<r:state><r:online/></r:state>"),
            ),
            RequestKind::SetState { .. } => reply(
                207,
                "",
                &ms(
                    "<r:state><r:leased-value><r:value><r:online/></r:value><r:default-value>\
                     <r:offline/></r:default-value><d:timeout>1200</d:timeout></r:leased-value>\
                     <r:view-id>77</r:view-id></r:state>",
                ),
            ),
            RequestKind::Properties { .. } => {
                reply(207, "", &ms("<d:displayname>A</d:displayname>"))
            }
            RequestKind::Watchers => reply(
                200,
                "",
                "<r:subscriptions xmlns:r='http://schemas.microsoft.com/rvp/'/>",
            ),
            RequestKind::ReadAcl | RequestKind::WriteAcl { .. } => reply(
                200,
                "",
                "<a:rvpacl xmlns:a='http://schemas.microsoft.com/rvp/acl/'><a:acl/></a:rvpacl>",
            ),
            _ => reply(200, "", ""),
        }
    }

    /// Answers everything the session sends with success; returns what was sent.
    fn answer_all(s: &mut Session, now: Instant) -> Vec<Request> {
        let mut sent = Vec::new();
        while let Some(r) = s.poll_transmit() {
            let n = r.id().0 + 100;
            s.handle_response(now, r.id(), &ok(&r, n));
            sent.push(r);
        }
        sent
    }

    fn signed_on(config: SessionConfig) -> (Session, Instant) {
        let t0 = Instant::now();
        let mut s = Session::new(config).unwrap();
        s.sign_on(t0, "http://127.0.0.1:4000".parse().unwrap())
            .unwrap();
        answer_all(&mut s, t0);
        assert_eq!(s.phase(), Phase::SignedOn);
        while s.poll_event().is_some() {}
        (s, t0)
    }

    fn notify(s: &mut Session, now: Instant, mime: &str) -> u16 {
        let body = format!(
            "<r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><r:message>\
             <r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/bob</d:href>\
             </r:contact></r:notification-from><r:msgbody><r:mime-data>{mime}</r:mime-data>\
             </r:msgbody></r:message></r:notification>"
        );
        let wire = format!(
            "NOTIFY / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.handle_notify_bytes(now, wire.as_bytes()).status()
    }

    fn session_of(r: &Request) -> String {
        let text = String::from_utf8(r.body_bytes().to_vec()).unwrap();
        let i = text.find("Session-Id: ").unwrap() + 12;
        text[i..i + 38].to_owned()
    }

    #[test]
    fn watch_list_limit() {
        let mut c = SessionConfig::new(url("alice"));
        c.max_watches = 2;
        c.watch_list = vec![url("bob"), url("carol")];
        let (mut s, t0) = signed_on(c);
        assert_eq!(
            s.watch(t0, url("dave")),
            Err(SessionError::TooManyWatches { limit: 2 })
        );
        s.unwatch(t0, &url("bob")).unwrap();
        s.watch(t0, url("dave")).unwrap();
        let mut c = SessionConfig::new(url("alice"));
        c.max_watches = 1;
        c.watch_list = vec![url("bob"), url("carol")];
        assert_eq!(
            Session::new(c).err(),
            Some(ConfigError::TooManyWatches { limit: 1 })
        );
    }

    #[test]
    fn pending_limit_refuses_actions_not_renewals() {
        let mut c = SessionConfig::new(url("alice"));
        c.max_pending = 2;
        let (mut s, t0) = signed_on(c);
        s.send_message(t0, &url("bob"), "1").unwrap();
        s.send_message(t0, &url("bob"), "2").unwrap();
        assert_eq!(
            s.send_message(t0, &url("bob"), "3"),
            Err(SessionError::TooManyPending { limit: 2 })
        );
        // Renewals still go out.
        let later = t0 + Duration::from_secs(10_000);
        s.handle_timeout(later);
        assert!(s.pending() > 2);
    }

    #[test]
    fn conversations_are_bounded_and_adopted() {
        let mut c = SessionConfig::new(url("alice"));
        c.max_conversations = 2;
        let (mut s, t0) = signed_on(c);
        let mut ids = Vec::new();
        for who in ["u1", "u2", "u1", "u3", "u1"] {
            s.send_message(t0, &url(who), "x").unwrap();
            ids.push(session_of(&s.poll_transmit().unwrap()));
        }
        assert_eq!(ids[0], ids[2], "the same conversation with u1");
        assert_ne!(ids[0], ids[1]);
        assert_eq!(ids[2], ids[4], "u1 was used recently: kept");
        // An incoming message's Session-Id is adopted.
        let sid = "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}";
        let mime =
            format!("MIME-Version: 1.0\r\nContent-Type: text/plain\r\nSession-Id: {sid}\r\n\r\nhi");
        assert_eq!(notify(&mut s, t0, &mime), 200);
        s.send_message(t0, &url("bob"), "back").unwrap();
        assert_eq!(session_of(&s.poll_transmit().unwrap()), sid);
    }

    #[test]
    fn a_left_conversation_answers_500_and_is_bounded() {
        let mut c = SessionConfig::new(url("alice"));
        c.max_left_conversations = 1;
        let (mut s, t0) = signed_on(c);
        let sid = "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}";
        let mime =
            format!("MIME-Version: 1.0\r\nContent-Type: text/plain\r\nSession-Id: {sid}\r\n\r\nhi");
        assert_eq!(notify(&mut s, t0, &mime), 200);
        s.leave(t0, &url("bob")).unwrap();
        let leave = s.poll_transmit().unwrap();
        assert_eq!(session_of(&leave), sid);
        assert_eq!(notify(&mut s, t0, &mime), 500, "this user left");
        // A new message to bob opens a new conversation.
        s.send_message(t0, &url("bob"), "again").unwrap();
        assert_ne!(session_of(&s.poll_transmit().unwrap()), sid);
        // Leaving another conversation pushes the first out of the bounded list.
        s.leave(t0, &url("carol")).unwrap();
        assert_eq!(notify(&mut s, t0, &mime), 200);
    }

    #[test]
    fn queued_events_are_bounded() {
        let mut c = SessionConfig::new(url("alice"));
        c.max_queued_events = 2;
        let (mut s, t0) = signed_on(c);
        let mime = "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhi";
        for _ in 0..5 {
            assert_eq!(notify(&mut s, t0, mime), 200);
        }
        assert_eq!(s.poll_event(), Some(Event::EventsDropped { count: 3 }));
        assert!(matches!(s.poll_event(), Some(Event::Message { .. })));
        assert!(matches!(s.poll_event(), Some(Event::Message { .. })));
        assert_eq!(s.poll_event(), None);
    }

    #[test]
    fn sign_on_failures() {
        let t0 = Instant::now();
        let cb: LocalNodeUrl = "http://127.0.0.1:4000".parse().unwrap();
        // A refused login: for good.
        let mut s = Session::new(SessionConfig::new(url("alice"))).unwrap();
        s.sign_on(t0, cb.clone()).unwrap();
        let r = s.poll_transmit().unwrap();
        s.handle_response(t0, r.id(), &reply(403, "", ""));
        assert_eq!(s.phase(), Phase::SignedOff);
        assert_eq!(
            s.poll_event(),
            Some(Event::SignOnFailed {
                reason: Failure::Status(403)
            })
        );
        // No answer: disconnected, and sign_on may start again.
        s.sign_on(t0, cb.clone()).unwrap();
        let r = s.poll_transmit().unwrap();
        s.handle_failure(t0, r.id(), TransportError::Timeout);
        assert_eq!(s.phase(), Phase::Disconnected);
        assert!(matches!(s.poll_event(), Some(Event::Disconnected { .. })));
        assert_eq!(s.sign_on(t0, cb.clone()), Ok(()));
        assert_eq!(s.sign_on(t0, cb), Err(SessionError::AlreadySignedOn));
        // A failed PROPFIND during sign-on is only a warning.
        let mut s = Session::new(SessionConfig::new(url("alice"))).unwrap();
        s.sign_on(t0, "http://127.0.0.1:4000".parse().unwrap())
            .unwrap();
        while let Some(r) = s.poll_transmit() {
            let answer = if matches!(r.kind(), RequestKind::Properties { .. }) {
                reply(500, "", "")
            } else {
                ok(&r, r.id().0)
            };
            s.handle_response(t0, r.id(), &answer);
        }
        assert_eq!(s.phase(), Phase::SignedOn);
        let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(events.iter().any(|e| matches!(
            e,
            Event::Warning(Warning::SignOnStep {
                step: "PROPFIND",
                ..
            })
        )));
    }

    #[test]
    fn renewals_use_the_granted_lifetimes_and_recover_from_412() {
        let (mut s, t0) = signed_on(SessionConfig::new(url("alice")));
        // Granted 600 s (answers above): renewed 150 s before the end (a quarter).
        let login_renewal = t0 + Duration::from_secs(450);
        // The lease: 1200 s granted, refreshed 60 s before.
        assert_eq!(s.poll_timeout(), Some(login_renewal));
        s.handle_timeout(login_renewal);
        let renewals: Vec<Request> = std::iter::from_fn(|| s.poll_transmit()).collect();
        assert!(
            renewals
                .iter()
                .any(|r| *r.kind() == RequestKind::RenewLogin)
        );
        assert!(
            renewals
                .iter()
                .any(|r| matches!(r.kind(), RequestKind::RenewWatch { .. }))
        );
        // The server forgot the login: a fresh login subscription with the call-back.
        for r in &renewals {
            s.handle_response(login_renewal, r.id(), &reply(412, "", ""));
        }
        let again: Vec<Request> = std::iter::from_fn(|| s.poll_transmit()).collect();
        let login = again
            .iter()
            .find(|r| *r.kind() == RequestKind::Login)
            .unwrap();
        assert!(
            String::from_utf8(login.to_bytes())
                .unwrap()
                .contains("Call-Back: http://127.0.0.1:4000\r\n")
        );
        assert!(
            again
                .iter()
                .any(|r| matches!(r.kind(), RequestKind::Watch { .. }))
        );
        assert_eq!(s.phase(), Phase::SignedOn);
        // The lease refresh echoes the view id.
        let lease = t0 + Duration::from_secs(1140);
        for r in again {
            s.handle_response(login_renewal, r.id(), &ok(&r, 900));
        }
        s.handle_timeout(lease);
        let refresh: Vec<Request> = std::iter::from_fn(|| s.poll_transmit()).collect();
        let state = refresh
            .iter()
            .find(|r| matches!(r.kind(), RequestKind::SetState { renewal: true, .. }))
            .unwrap();
        assert!(
            String::from_utf8(state.to_bytes())
                .unwrap()
                .contains("<r:view-id>77</r:view-id>")
        );
    }

    #[test]
    fn a_login_that_cannot_be_renewed_before_it_ends_disconnects() {
        let mut c = SessionConfig::new(url("alice"));
        c.retry_delay = Duration::from_secs(40);
        let (mut s, t0) = signed_on(c);
        let mut now = t0;
        for _ in 0..10 {
            let Some(t) = s.poll_timeout() else { break };
            now = t;
            s.handle_timeout(now);
            while let Some(r) = s.poll_transmit() {
                s.handle_failure(now, r.id(), TransportError::Connect("refused".into()));
            }
            if s.phase() == Phase::Disconnected {
                break;
            }
        }
        assert_eq!(s.phase(), Phase::Disconnected);
        assert!(
            now < t0 + Duration::from_secs(600),
            "before the login ended"
        );
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn sign_off_cancels_everything() {
        let mut c = SessionConfig::new(url("alice"));
        c.watch_list = vec![url("bob")];
        let (mut s, t0) = signed_on(c);
        s.sign_off(t0).unwrap();
        let sent: Vec<Request> = std::iter::from_fn(|| s.poll_transmit()).collect();
        let kinds: Vec<&RequestKind> = sent.iter().map(Request::kind).collect();
        assert!(matches!(
            kinds[0],
            RequestKind::SetState {
                state: PresenceState::Offline,
                ..
            }
        ));
        assert!(
            String::from_utf8(sent[0].to_bytes())
                .unwrap()
                .contains("<r:offline/>")
        );
        assert_eq!(
            kinds
                .iter()
                .filter(|k| matches!(k, RequestKind::Unwatch { .. }))
                .count(),
            2
        );
        assert_eq!(*kinds[kinds.len() - 1], RequestKind::Logout);
        assert_eq!(s.phase(), Phase::SigningOff);
        assert_eq!(
            s.send_message(t0, &url("bob"), "x"),
            Err(SessionError::NotSignedOn)
        );
        for r in &sent {
            s.handle_response(t0, r.id(), &ok(r, 1));
        }
        assert_eq!(s.phase(), Phase::SignedOff);
        assert_eq!(s.poll_event(), Some(Event::SignedOff));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn text_encodings() {
        let (mut s, t0) = signed_on(SessionConfig::new(url("alice")));
        s.send_message(t0, &url("bob"), "Grüße").unwrap();
        let body = String::from_utf8(s.poll_transmit().unwrap().body_bytes().to_vec()).unwrap();
        assert!(
            body.contains("Gr\u{c3}\u{bc}\u{c3}\u{9f}e"),
            "double UTF-8 by default: {body}"
        );
        let mut c = SessionConfig::new(url("alice"));
        c.text_encoding = TextEncoding::Utf8;
        let (mut s, t0) = signed_on(c);
        s.send_message(t0, &url("bob"), "Grüße").unwrap();
        let body = String::from_utf8(s.poll_transmit().unwrap().body_bytes().to_vec()).unwrap();
        assert!(body.contains("Grüße"), "{body}");
    }

    #[test]
    fn notify_answers() {
        let (mut s, t0) = signed_on(SessionConfig::new(url("alice")));
        assert_eq!(
            s.handle_notify_bytes(t0, b"GET / HTTP/1.1\r\n\r\n")
                .status(),
            405
        );
        assert_eq!(
            s.handle_notify_bytes(t0, b"NOTIFY / HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz")
                .status(),
            400
        );
        assert_eq!(
            s.handle_notify_bytes(t0, b"\x01\x02 garbage\r\n\r\n")
                .status(),
            400
        );
        assert_eq!(
            s.handle_notify_bytes(t0, b"NOTIFY / HTTP/1.1\r\nContent-Len")
                .status(),
            400
        );
        let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
        assert_eq!(events.len(), 4);
        assert!(
            events
                .iter()
                .all(|e| matches!(e, Event::Warning(Warning::BadNotify(_))))
        );
    }
}
