//! Callback delivery: the outbound NOTIFY client (PROTOCOL.md §2.6, §5.7, §6.5).
//!
//! ```text
//!  engine task ── Deliverer::submit(OutboundNotify { id, destination, kind, .. })
//!                      │  (never blocks, never awaits)
//!                      ▼
//!        one lane per Destination (http://ip:port → NOTIFY / , Host: ip:port)
//!        ┌───────────────────────────────────────────────┐
//!        │ bounded queue: presence coalesced per          │   worker task (spawned on
//!        │ Subscription-Id, messages FIFO, caps on count  │── demand, exits when idle):
//!        │ and bytes, waiting messages expire             │   connect / reuse, write the
//!        └───────────────────────────────────────────────┘   exact bytes, read the answer
//!                      │
//!                      ▼
//!  engine task ◄── DeliveryReport { id, destination, outcome } on an mpsc channel
//!                  (Answered(status) | Failed(reason) | Superseded)
//! ```
//!
//! * **Isolation**: each destination has its own queue and worker task; a stalled or dead
//!   callback holds only its own worker, for at most the connect and response timeouts per
//!   NOTIFY, and never delays other callbacks.
//! * **Bounded memory**: at most [`DeliveryConfig::queue_capacity`] notifications and
//!   [`DeliveryConfig::queue_bytes`] bytes of bodies wait per destination (plus the one in
//!   flight), and at most [`DeliveryConfig::max_destinations`] destinations have a lane.
//! * **Overflow**: a presence update for a subscription that already has one waiting
//!   replaces it in place (the watcher only needs the latest state; the replaced one is
//!   reported [`SendOutcome::Superseded`]). Any other notification that does not fit
//!   is refused at once with [`FailureReason::QueueFull`] — for a message, the engine turns
//!   that failure into `412` per its §6.5 table.
//! * **Order**: one NOTIFY at a time per destination, in submission order. A presence
//!   update that replaces a waiting one takes its place in the queue; messages are never
//!   reordered.
//! * **Messages are perishable** (PROTOCOL.md §5.7 rule 4): never retried, and one that
//!   waited longer than [`DeliveryConfig::message_max_wait`] behind a slow callback fails
//!   with [`FailureReason::Expired`] without being sent.
//! * **Wire**: bytes written by `rvp_proto::codec::write_notify` (always `Content-Length`);
//!   answers read by `rvp_proto`'s response parser: `Content-Length` or close-delimited
//!   bodies (librvp answers that way), bare-LF lines. A connection is kept for the next
//!   NOTIFY when the answer allows it (HTTP/1.1, `Content-Length`, no `Connection: close`),
//!   otherwise each NOTIFY gets its own connection. A kept connection that turns out to be
//!   closed before any answer byte arrives is replaced once by a fresh one (a transport
//!   retry, not a delivery retry).
//! * **TLS** (feature `tls`): a [`Destination`] with a TLS name ([`Destination::with_tls`],
//!   set by [`crate::resolve`] for a domain that publishes `_rvps._tcp`) is reached over
//!   TLS through the deliverer's [`crate::tls::TlsClient`] ([`Deliverer::with_tls`]), the
//!   certificate checked against that name. The TLS name is part of the destination, so a
//!   kept connection is only ever reused for the same address *and* name. A failed
//!   handshake fails the NOTIFY ([`FailureReason::Tls`], logged at `warn`); nothing is
//!   ever sent over plain HTTP instead.
//!
//! Outcomes are reports, not decisions: the engine keeps the §6.5 acknowledgement tables
//! and the §5.7 failure accounting.
//!
//! ```no_run
//! use bytes::Bytes;
//! use rvp_server::delivery::{Deliverer, DeliveryConfig, Destination, OutboundNotify};
//! use tokio::sync::mpsc;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let (reports_tx, mut reports) = mpsc::unbounded_channel();
//! let deliverer = Deliverer::<u64>::new(DeliveryConfig::default(), reports_tx);
//! let dest = Destination::from_callback(&"http://127.0.0.1:43663".parse().unwrap())?;
//! deliverer.submit(OutboundNotify::message(
//!     1,
//!     dest,
//!     "http://localhost/instmsg/aliases/bob",
//!     Bytes::from_static(b"<r:notification/>"),
//! ));
//! let report = reports.recv().await.ok_or("deliverer gone")?;
//! assert_eq!(report.id, 1);
//! # Ok(()) }
//! ```

mod conn;
mod destination;
mod queue;

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use rvp_proto::ParseError;
use rvp_proto::codec::{Limits, NotifyHead, WriteError, write_notify_parts};
use rvp_proto::header::{AckType, HopCount, SubscriptionId};
use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc};

pub use destination::{Destination, DestinationError};

/// Why a NOTIFY to a TLS destination failed (defined beside the TLS client).
pub use crate::tls::TlsFailure;

use queue::{Pushed, Queue};

/// Delivery settings: every time and size limit, each with a default.
///
/// One NOTIFY occupies its destination's worker for at most `connect_timeout +
/// response_timeout` (plus one more `response_timeout` in the rare case where a kept
/// connection turns out dead and is replaced). Other destinations are never affected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryConfig {
    /// Longest wait for a TCP connection. Default 30 s (PROTOCOL.md §9.6).
    pub connect_timeout: Duration,
    /// Longest wait from the first byte written to the complete answer. Default 30 s
    /// (PROTOCOL.md §9.6; librvp gives up on its own requests after 30 s too).
    pub response_timeout: Duration,
    /// A worker with nothing to send for this long exits and closes its kept connection.
    /// Default 5 s.
    pub idle_timeout: Duration,
    /// Most notifications waiting per destination (the one in flight not counted).
    /// Default 64.
    pub queue_capacity: usize,
    /// Most bytes of bodies waiting per destination. Default 1 MiB. An empty queue takes
    /// one body of any size.
    pub queue_bytes: usize,
    /// Most destinations with a queue at once. Default 65 536.
    pub max_destinations: usize,
    /// A message that waited longer than this before its turn fails with
    /// [`FailureReason::Expired`] unsent. Default 30 s (the sender's own timeout).
    pub message_max_wait: Duration,
    /// Limits on a callback's answer. Default: 16 KiB head, 64 headers, 64 KiB body
    /// (Miranda answers a small HTML page).
    pub response_limits: Limits,
    /// Reuse a connection when the answer allows it. Default `true`.
    pub keep_alive: bool,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            connect_timeout: Duration::from_secs(30),
            response_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(5),
            queue_capacity: 64,
            queue_bytes: 1024 * 1024,
            max_destinations: 65_536,
            message_max_wait: Duration::from_secs(30),
            response_limits: Limits::DEFAULT.with_max_body_bytes(64 * 1024),
            keep_alive: true,
        }
    }
}

/// What a notification carries, which decides its queueing rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotifyKind {
    /// A property change (`r:propnotification`): coalesced per
    /// [`OutboundNotify::coalesce_key`] (the watch it reports on).
    Presence,
    /// An instant message, typing or invitation (`r:message`) or any other relayed
    /// notification: never reordered, never coalesced, never retried.
    Message,
}

/// One NOTIFY request to send (its `r:notification` body, if it has one, is
/// [`rvp_proto::xml::Notification`]). `I` is the engine's delivery id, handed back in the
/// report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutboundNotify<I> {
    /// Reported back with the outcome.
    pub id: I,
    /// Where it goes.
    pub destination: Destination,
    /// Queueing rules.
    pub kind: NotifyKind,
    /// `RVP-From-Principal`.
    pub from_principal: Arc<str>,
    /// `RVP-Hop-Count`.
    pub hop_count: HopCount,
    /// `RVP-Ack-Type` (omitted when `None`).
    pub ack_type: Option<AckType>,
    /// `Subscription-Id` (omitted when `None`).
    pub subscription_id: Option<SubscriptionId>,
    /// Presence updates with the same key replace each other while they wait: the
    /// subscription whose changes they report (the watch, also when it is delivered
    /// through a login subscription under the login's `Subscription-Id`). Two different
    /// subscriptions are never merged, even to one call-back (PROTOCOL.md §2.1).
    pub coalesce_key: Option<u32>,
    /// The `text/xml` body, sent byte for byte.
    pub body: NotificationBody,
}

/// A NOTIFY body in parts, written one after the other
/// ([`rvp_proto::codec::write_notify_parts`]): a property change
/// arrives as the engine rendered it once for every watcher (shared prefix and suffix
/// around this watcher's part, `rvp_presence::Delivery::body_chunks`), so queueing one
/// costs no copy of the shared parts; a relayed message is one part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotificationBody([Bytes; 3]);

impl NotificationBody {
    /// A body in three parts.
    pub fn from_parts(parts: [Bytes; 3]) -> NotificationBody {
        NotificationBody(parts)
    }

    /// Length in bytes (the `Content-Length`).
    pub fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Bytes::is_empty)
    }

    /// The parts, in order.
    pub fn parts(&self) -> [&[u8]; 3] {
        [&self.0[0], &self.0[1], &self.0[2]]
    }

    /// The body in one buffer (a copy unless it is in one part already).
    pub fn to_bytes(&self) -> Bytes {
        match &self.0 {
            [one, b, c] if b.is_empty() && c.is_empty() => one.clone(),
            parts => Bytes::from(parts.concat()),
        }
    }
}

impl From<Bytes> for NotificationBody {
    fn from(body: Bytes) -> NotificationBody {
        NotificationBody([body, Bytes::new(), Bytes::new()])
    }
}

impl PartialEq<[u8]> for NotificationBody {
    fn eq(&self, other: &[u8]) -> bool {
        let [a, b, c] = self.parts();
        other.len() == self.len()
            && other.starts_with(a)
            && other[a.len()..].starts_with(b)
            && other[a.len() + b.len()..] == *c
    }
}

impl<I> OutboundNotify<I> {
    /// A property-change notification for subscription `subscription_id`: hop count 1,
    /// `RVP-Ack-Type: SingleHop` (PROTOCOL.md §5.5).
    pub fn presence(
        id: I,
        destination: Destination,
        from_principal: impl Into<Arc<str>>,
        subscription_id: SubscriptionId,
        body: impl Into<NotificationBody>,
    ) -> OutboundNotify<I> {
        OutboundNotify {
            id,
            destination,
            kind: NotifyKind::Presence,
            from_principal: from_principal.into(),
            hop_count: HopCount::ORIGIN,
            ack_type: Some(AckType::SingleHop),
            coalesce_key: subscription_id.as_str().parse().ok(),
            subscription_id: Some(subscription_id),
            body: body.into(),
        }
    }

    /// A relayed message: hop count 1 and no ack type until set with the `with_` methods
    /// (a relay sends the received hop count + 1 and the received ack type, §2.6).
    pub fn message(
        id: I,
        destination: Destination,
        from_principal: impl Into<Arc<str>>,
        body: impl Into<NotificationBody>,
    ) -> OutboundNotify<I> {
        OutboundNotify {
            id,
            destination,
            kind: NotifyKind::Message,
            from_principal: from_principal.into(),
            hop_count: HopCount::ORIGIN,
            ack_type: None,
            subscription_id: None,
            coalesce_key: None,
            body: body.into(),
        }
    }

    /// Sets `RVP-Hop-Count`.
    pub fn with_hop_count(mut self, hop_count: HopCount) -> Self {
        self.hop_count = hop_count;
        self
    }

    /// Sets `RVP-Ack-Type`.
    pub fn with_ack_type(mut self, ack_type: AckType) -> Self {
        self.ack_type = Some(ack_type);
        self
    }

    /// Sets `Subscription-Id`.
    pub fn with_subscription_id(mut self, id: SubscriptionId) -> Self {
        self.subscription_id = Some(id);
        self
    }

    /// Sets the key under which presence updates coalesce (default: the
    /// `Subscription-Id` of [`OutboundNotify::presence`]).
    pub fn with_coalesce_key(mut self, key: u32) -> Self {
        self.coalesce_key = Some(key);
        self
    }

    /// The request bytes: `NOTIFY <target> HTTP/1.1`, `Host`, RVP headers, `Content-Type:
    /// text/xml`, `Content-Length`, body.
    pub fn to_request_bytes(&self) -> Result<Vec<u8>, WriteError> {
        let mut head = NotifyHead::new(
            self.destination.target(),
            self.destination.host(),
            &self.from_principal,
        )
        .with_hop_count(self.hop_count);
        if let Some(a) = self.ack_type {
            head = head.with_ack_type(a);
        }
        if let Some(s) = &self.subscription_id {
            head = head.with_subscription_id(s);
        }
        let mut out = Vec::with_capacity(256 + self.body.len());
        write_notify_parts(&mut out, &head, &self.body.parts())?;
        Ok(out)
    }
}

/// The NOTIFY the presence engine asked for with `d`, to `destination` (where `d`'s
/// call-back was found to be): a property change with its `Subscription-Id`, coalescing
/// per watched subscription, or a relayed message with the received hop count and ack
/// type.
pub fn outbound_notify_for(
    d: &rvp_presence::Delivery,
    destination: Destination,
) -> OutboundNotify<rvp_presence::DeliveryId> {
    let hop = HopCount::new(d.hop_count()).unwrap_or(HopCount::ORIGIN);
    let sub: SubscriptionId = d.subscription().into();
    let from = d.from_principal().clone();
    // The body's parts as the engine holds them: a property change's shared rendering is
    // not copied per watcher.
    let body = NotificationBody::from_parts(d.body_chunks());
    match d.relayed_body() {
        None => OutboundNotify::presence(d.id(), destination, from, sub, body)
            .with_hop_count(hop)
            .with_coalesce_key(d.origin().get()),
        Some(_) => OutboundNotify::message(d.id(), destination, from, body)
            .with_hop_count(hop)
            .with_ack_type(d.ack())
            .with_subscription_id(sub),
    }
}

/// Why a notification was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailureReason {
    /// The TCP connection failed (refused, unreachable...).
    #[error("connecting to the callback failed: {0}")]
    Connect(io::ErrorKind),
    /// No TCP connection within [`DeliveryConfig::connect_timeout`].
    #[error("connecting to the callback timed out")]
    ConnectTimeout,
    /// No complete answer within [`DeliveryConfig::response_timeout`].
    #[error("the callback did not answer in time")]
    ResponseTimeout,
    /// Reading or writing failed after connecting.
    #[error("connection to the callback failed: {0}")]
    Io(io::ErrorKind),
    /// The callback closed the connection without answering.
    #[error("the callback closed the connection without answering")]
    ConnectionClosed,
    /// The answer is not HTTP, or exceeds [`DeliveryConfig::response_limits`].
    #[error("unreadable answer from the callback: {0}")]
    BadResponse(ParseError),
    /// The destination's queue is full ([`DeliveryConfig::queue_capacity`] or
    /// [`DeliveryConfig::queue_bytes`]).
    #[error("the callback's delivery queue is full")]
    QueueFull,
    /// [`DeliveryConfig::max_destinations`] destinations already have a queue.
    #[error("too many callbacks with pending deliveries")]
    TooManyDestinations,
    /// A message waited longer than [`DeliveryConfig::message_max_wait`].
    #[error("the message waited too long behind earlier deliveries")]
    Expired,
    /// A header value would break the request (see [`WriteError`]).
    #[error("cannot write the NOTIFY: {0}")]
    InvalidRequest(WriteError),
    /// [`Deliverer::close`] was called.
    #[error("the deliverer is shutting down")]
    ShuttingDown,
    /// The destination asks for TLS and it failed (never retried over plain HTTP).
    #[error("TLS with the call-back's server failed: {0}")]
    Tls(TlsFailure),
}

/// What happened when one NOTIFY was sent: the transport's detailed view (the status,
/// why it failed). The presence engine's view of the same event is
/// `rvp_presence::DeliveryOutcome`, which the home server derives from this one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendOutcome {
    /// The callback answered with this status (2xx is success; `500` means "left the
    /// conversation", §2.6).
    Answered(StatusCode),
    /// It was not delivered.
    Failed(FailureReason),
    /// A newer presence update for the same subscription replaced it before it was sent:
    /// neither a success nor a failure (the newer one's outcome stands for both).
    Superseded,
}

impl SendOutcome {
    /// How `rvp_notify_outbound_total` counts this outcome.
    pub fn notify_result(&self) -> crate::metrics::NotifyResult {
        use crate::metrics::NotifyResult;
        match self {
            SendOutcome::Answered(s) if s.is_success() => NotifyResult::Delivered,
            SendOutcome::Answered(_) => NotifyResult::ErrorStatus,
            SendOutcome::Superseded => NotifyResult::Superseded,
            SendOutcome::Failed(reason) => match reason {
                FailureReason::Connect(_) | FailureReason::ConnectTimeout => {
                    NotifyResult::Unreachable
                }
                FailureReason::Io(_) | FailureReason::ConnectionClosed => {
                    NotifyResult::ConnectionLost
                }
                FailureReason::ResponseTimeout => NotifyResult::Timeout,
                FailureReason::BadResponse(_) => NotifyResult::BadAnswer,
                FailureReason::QueueFull | FailureReason::TooManyDestinations => {
                    NotifyResult::QueueFull
                }
                FailureReason::Expired => NotifyResult::Expired,
                FailureReason::InvalidRequest(_) | FailureReason::ShuttingDown => {
                    NotifyResult::NotSent
                }
                FailureReason::Tls(_) => NotifyResult::TlsFailed,
            },
        }
    }

    /// Whether the callback answered 2xx.
    pub fn is_success(&self) -> bool {
        matches!(self, SendOutcome::Answered(s) if s.is_success())
    }

    /// The callback's status, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            SendOutcome::Answered(s) => Some(*s),
            _ => None,
        }
    }
}

/// One outcome, sent to the engine task.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport<I> {
    /// The notification's id.
    pub id: I,
    /// Where it was going.
    pub destination: Destination,
    /// What happened.
    pub outcome: SendOutcome,
}

/// What [`Deliverer::submit`] did with a notification. The outcome is always reported on
/// the channel too (a refusal at once), so the engine needs only the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// Queued (or handed to the destination's idle worker).
    Queued,
    /// Replaced a waiting presence update for the same subscription.
    Replaced,
    /// Refused; reported as [`SendOutcome::Failed`] with this reason.
    Refused(FailureReason),
}

struct LaneState<I> {
    queue: Queue<I>,
    /// Notifications handed to the worker and not yet reported (0 or 1).
    in_flight: usize,
}

struct Lane<I> {
    state: Mutex<LaneState<I>>,
    wake: Notify,
}

struct Shared<I> {
    config: DeliveryConfig,
    reports: mpsc::UnboundedSender<DeliveryReport<I>>,
    lanes: Mutex<HashMap<Destination, Arc<Lane<I>>>>,
    closed: std::sync::atomic::AtomicBool,
    runtime: Handle,
    /// How TLS destinations are reached ([`Deliverer::with_tls`]).
    #[cfg(feature = "tls")]
    tls: std::sync::OnceLock<Arc<crate::tls::TlsClient>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<I> Shared<I> {
    fn report(&self, id: I, destination: &Destination, outcome: SendOutcome) {
        if let SendOutcome::Failed(why) = &outcome {
            tracing::debug!(%destination, reason = %why, "NOTIFY not delivered");
        }
        // A closed channel means the engine is gone: nothing left to tell.
        let _ = self.reports.send(DeliveryReport {
            id,
            destination: destination.clone(),
            outcome,
        });
    }
}

/// The outbound NOTIFY client: per-destination bounded queues and workers. Cheap to clone
/// (all clones share the queues).
///
/// Reports travel on an unbounded channel so that a worker never waits for the engine;
/// the channel stays bounded in practice because every report answers one submitted
/// notification and admissions are capped by the queue limits. The engine task should
/// drain it in the same `select!` loop that submits.
pub struct Deliverer<I> {
    shared: Arc<Shared<I>>,
}

impl<I> Clone for Deliverer<I> {
    fn clone(&self) -> Self {
        Deliverer {
            shared: self.shared.clone(),
        }
    }
}

impl<I> std::fmt::Debug for Deliverer<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("config", &self.shared.config)
            .field("destinations", &self.active_destinations())
            .finish_non_exhaustive()
    }
}

impl<I: Send + 'static> Deliverer<I> {
    /// A deliverer sending outcomes to `reports`.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (workers are spawned on the current runtime); use
    /// [`Deliverer::with_runtime`] to name one.
    pub fn new(config: DeliveryConfig, reports: mpsc::UnboundedSender<DeliveryReport<I>>) -> Self {
        Self::with_runtime(config, reports, Handle::current())
    }

    /// A deliverer whose workers run on `runtime`.
    pub fn with_runtime(
        config: DeliveryConfig,
        reports: mpsc::UnboundedSender<DeliveryReport<I>>,
        runtime: Handle,
    ) -> Self {
        Deliverer {
            shared: Arc::new(Shared {
                config,
                reports,
                lanes: Mutex::new(HashMap::new()),
                closed: std::sync::atomic::AtomicBool::new(false),
                runtime,
                #[cfg(feature = "tls")]
                tls: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Reaches TLS destinations ([`Destination::with_tls`]) through `client`. Set once,
    /// before the first submission; a second call is ignored. Without it such
    /// destinations fail with [`TlsFailure::Unavailable`].
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn with_tls(self, client: Arc<crate::tls::TlsClient>) -> Self {
        let _ = self.shared.tls.set(client);
        self
    }

    /// This deliverer reaching TLS destinations with `tls`'s client (unchanged when the
    /// configuration has none, or without the `tls` feature).
    pub fn with_server_tls(self, tls: &crate::tls::ServerTls) -> Self {
        #[cfg(feature = "tls")]
        if let Some(c) = tls.client() {
            return self.with_tls(Arc::clone(c));
        }
        let _ = tls;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &DeliveryConfig {
        &self.shared.config
    }

    /// Queues a notification for its destination and returns at once. Its outcome arrives
    /// on the report channel (also when it is refused here).
    pub fn submit(&self, n: OutboundNotify<I>) -> Admission {
        self.submit_at(n, Instant::now())
    }

    fn submit_at(&self, n: OutboundNotify<I>, now: Instant) -> Admission {
        let shared = &self.shared;
        if shared.closed.load(std::sync::atomic::Ordering::Acquire) {
            return self.refuse(n, FailureReason::ShuttingDown);
        }
        let mut lanes = lock(&shared.lanes);
        let (lane, spawn) = match lanes.get(&n.destination) {
            Some(l) => (l.clone(), false),
            None if lanes.len() >= shared.config.max_destinations => {
                drop(lanes);
                return self.refuse(n, FailureReason::TooManyDestinations);
            }
            None => {
                let l = Arc::new(Lane {
                    state: Mutex::new(LaneState {
                        queue: Queue::default(),
                        in_flight: 0,
                    }),
                    wake: Notify::new(),
                });
                lanes.insert(n.destination.clone(), l.clone());
                (l, true)
            }
        };
        let destination = n.destination.clone();
        let pushed = lock(&lane.state).queue.push(n, now, &shared.config);
        drop(lanes);
        let admission = match pushed {
            Ok(Pushed::Queued) => Admission::Queued,
            Ok(Pushed::Replaced(old)) => {
                shared.report(old, &destination, SendOutcome::Superseded);
                Admission::Replaced
            }
            Err((n, why)) => return self.refuse(n, why),
        };
        if spawn {
            let worker = Worker {
                shared: shared.clone(),
                destination,
                lane,
                conn: None,
            };
            shared.runtime.spawn(worker.run());
        } else {
            lane.wake.notify_one();
        }
        admission
    }

    fn refuse(&self, n: OutboundNotify<I>, why: FailureReason) -> Admission {
        self.shared
            .report(n.id, &n.destination, SendOutcome::Failed(why.clone()));
        Admission::Refused(why)
    }
}

impl<I> Deliverer<I> {
    /// Number of destinations that currently have a worker.
    pub fn active_destinations(&self) -> usize {
        lock(&self.shared.lanes).len()
    }

    /// Notifications waiting or in flight, over all destinations.
    pub fn pending(&self) -> usize {
        let lanes = lock(&self.shared.lanes);
        lanes
            .values()
            .map(|l| {
                let s = lock(&l.state);
                s.queue.len() + s.in_flight
            })
            .sum()
    }
}

impl<I: Send + 'static> Deliverer<I> {
    /// Stops accepting notifications ([`FailureReason::ShuttingDown`]) and fails every
    /// waiting one the same way. NOTIFYs already in flight finish and are reported.
    pub fn close(&self) {
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        let lanes: Vec<(Destination, Arc<Lane<I>>)> = lock(&self.shared.lanes)
            .iter()
            .map(|(d, l)| (d.clone(), l.clone()))
            .collect();
        for (dest, lane) in lanes {
            let drained: Vec<OutboundNotify<I>> = lock(&lane.state).queue.drain().collect();
            for n in drained {
                self.shared.report(
                    n.id,
                    &dest,
                    SendOutcome::Failed(FailureReason::ShuttingDown),
                );
            }
            lane.wake.notify_one();
        }
    }
}

/// The task that sends one destination's notifications, one at a time.
struct Worker<I> {
    shared: Arc<Shared<I>>,
    destination: Destination,
    lane: Arc<Lane<I>>,
    conn: Option<conn::Conn>,
}

impl<I: Send + 'static> Worker<I> {
    async fn run(mut self) {
        let config = self.shared.config.clone();
        let mut expired = Vec::new();
        loop {
            let next = {
                let mut s = lock(&self.lane.state);
                let n = s.queue.pop(Instant::now(), &config, &mut expired);
                if n.is_some() {
                    s.in_flight = 1;
                }
                n
            };
            for n in expired.drain(..) {
                self.shared.report(
                    n.id,
                    &self.destination,
                    SendOutcome::Failed(FailureReason::Expired),
                );
            }
            match next {
                Some(n) => {
                    let request = n.to_request_bytes();
                    let outcome = self.send(request, &config).await;
                    lock(&self.lane.state).in_flight = 0;
                    self.shared.report(n.id, &self.destination, outcome);
                }
                None => {
                    let idle = tokio::time::timeout(config.idle_timeout, self.lane.wake.notified());
                    if idle.await.is_err() && self.retire() {
                        return;
                    }
                }
            }
        }
    }

    async fn send(
        &mut self,
        request: Result<Vec<u8>, WriteError>,
        config: &DeliveryConfig,
    ) -> SendOutcome {
        let request = match request {
            Ok(r) => r,
            Err(e) => return SendOutcome::Failed(FailureReason::InvalidRequest(e)),
        };
        #[cfg(feature = "tls")]
        let tls = self.shared.tls.get().map(|c| &**c);
        #[cfg(not(feature = "tls"))]
        let tls = None;
        match conn::exchange(&mut self.conn, &self.destination, &request, config, tls).await {
            Ok(status) => SendOutcome::Answered(status),
            Err(why) => SendOutcome::Failed(why),
        }
    }

    /// Removes the lane if nothing arrived meanwhile; `false` means keep working.
    fn retire(&self) -> bool {
        let mut lanes = lock(&self.shared.lanes);
        let state = lock(&self.lane.state);
        if !state.queue.is_empty() {
            return false;
        }
        if lanes
            .get(&self.destination)
            .is_some_and(|l| Arc::ptr_eq(l, &self.lane))
        {
            lanes.remove(&self.destination);
        }
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let d = Destination::from_callback(&"http://127.0.0.1:4321".parse().unwrap()).unwrap();
        let n = OutboundNotify::presence(
            1u8,
            d,
            "localhost",
            SubscriptionId::new("17").unwrap(),
            Bytes::from_static(b"<x/>"),
        );
        assert_eq!(
            String::from_utf8(n.to_request_bytes().unwrap()).unwrap(),
            "NOTIFY / HTTP/1.1\r\nHost: 127.0.0.1:4321\r\nRVP-Notifications-Version: 0.2\r\n\
             RVP-Ack-Type: SingleHop\r\nRVP-Hop-Count: 1\r\nSubscription-Id: 17\r\n\
             RVP-From-Principal: localhost\r\nContent-Type: text/xml\r\nContent-Length: 4\r\n\r\n<x/>"
        );
        let d = Destination::from_callback(&"http://127.0.0.1:4321".parse().unwrap()).unwrap();
        let bad = OutboundNotify::message(2u8, d, "a b", Bytes::new());
        assert!(bad.to_request_bytes().is_err());
    }

    #[test]
    fn a_tls_failure_counts_as_tls_failed() {
        assert_eq!(
            SendOutcome::Failed(FailureReason::Tls(TlsFailure::Timeout)).notify_result(),
            crate::metrics::NotifyResult::TlsFailed
        );
    }

    /// A body in parts is written as the same bytes as the body in one buffer, and its
    /// length and equality are those of the whole.
    #[test]
    fn bodies_in_parts() {
        let parts = NotificationBody::from_parts([
            Bytes::from_static(b"<a>"),
            Bytes::from_static(b"x&amp;y"),
            Bytes::from_static(b"</a>"),
        ]);
        let whole = NotificationBody::from(Bytes::from_static(b"<a>x&amp;y</a>"));
        assert_eq!(parts.len(), 14);
        assert_eq!(parts.to_bytes(), whole.to_bytes());
        assert!(parts == *b"<a>x&amp;y</a>".as_slice());
        assert!(parts != *b"<a>x&amp;y</b>".as_slice() && parts != *b"<a>".as_slice());
        let sub = SubscriptionId::new("9").unwrap();
        let d = || Destination::from_callback(&"http://127.0.0.1:4321".parse().unwrap()).unwrap();
        let a = OutboundNotify::presence(1u8, d(), "localhost", sub.clone(), parts);
        let b = OutboundNotify::presence(1u8, d(), "localhost", sub, whole);
        assert_eq!(a.to_request_bytes().unwrap(), b.to_request_bytes().unwrap());
        assert!(NotificationBody::default().is_empty());
    }

    #[test]
    fn outcomes() {
        assert!(SendOutcome::Answered(StatusCode::OK).is_success());
        assert!(!SendOutcome::Answered(StatusCode::INTERNAL_SERVER_ERROR).is_success());
        assert!(!SendOutcome::Superseded.is_success());
        assert_eq!(
            SendOutcome::Answered(StatusCode::ACCEPTED).status(),
            Some(StatusCode::ACCEPTED)
        );
        assert_eq!(SendOutcome::Failed(FailureReason::QueueFull).status(), None);
    }

    /// A TLS destination and a deliverer without a TLS client: refused before any
    /// connection is made (nothing may reach it in the clear).
    #[tokio::test]
    async fn a_tls_destination_without_a_tls_client_gets_no_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dest = Destination::new(addr, "peer.test", "/instmsg/aliases/x")
            .unwrap()
            .with_tls("peer.test")
            .unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let d = Deliverer::new(DeliveryConfig::default(), tx);
        d.submit(OutboundNotify::message(
            1u8,
            dest,
            "peer.test",
            Bytes::new(),
        ));
        let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            r.outcome,
            SendOutcome::Failed(FailureReason::Tls(TlsFailure::Unavailable))
        );
        // Nobody connected (a connection would be waiting in the backlog).
        let accepted = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "a connection was made");
    }

    /// NOTIFYs over TLS: one handshake for several NOTIFYs (the connection is kept), the
    /// certificate checked against the destination's TLS name.
    #[cfg(feature = "tls")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tls_notifies_share_one_handshake_and_check_the_name() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use crate::metrics::Metrics;
        use crate::tls::{Direction, TlsClient};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        // A throw-away CA and a certificate for peer.test.
        let (acceptor, ca) = crate::tls::test_acceptor("peer.test", Duration::from_secs(5));

        // The peer: answers every NOTIFY 200, keep-alive; counts TLS sessions.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sessions = Arc::new(AtomicUsize::new(0));
        let server_metrics = Arc::new(Metrics::new());
        let (s2, m2) = (Arc::clone(&sessions), Arc::clone(&server_metrics));
        let server = tokio::spawn(async move {
            for _ in 0..16 {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, sessions, metrics) =
                    (acceptor.clone(), Arc::clone(&s2), Arc::clone(&m2));
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp, &metrics).await else {
                        return;
                    };
                    sessions.fetch_add(1, Ordering::SeqCst);
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    for _ in 0..64 {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let len: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                buf.drain(..end + 4 + len);
                                let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                                if tls.write_all(ok).await.is_err() || tls.flush().await.is_err() {
                                    return;
                                }
                                continue;
                            }
                        }
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });

        let client_metrics = Arc::new(Metrics::new());
        let client = TlsClient::with_roots(vec![ca.clone()])
            .unwrap()
            .with_metrics(Arc::clone(&client_metrics));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let d = Deliverer::new(DeliveryConfig::default(), tx).with_tls(Arc::new(client));
        let plain = Destination::new(addr, "peer.test", "/instmsg/aliases/x").unwrap();
        let good = plain.clone().with_tls("peer.test").unwrap();
        let mut next = async || {
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap()
                .outcome
        };
        for id in 0..3u8 {
            d.submit(OutboundNotify::message(
                id,
                good.clone(),
                "peer.test",
                Bytes::from_static(b"<x/>"),
            ));
            assert_eq!(next().await, SendOutcome::Answered(StatusCode::OK));
        }
        assert_eq!(client_metrics.tls_handshakes(Direction::Outbound, true), 1);
        assert_eq!(
            sessions.load(Ordering::SeqCst),
            1,
            "one kept TLS connection"
        );
        // The same address under another name is another lane, and that name fails.
        let wrong = plain.with_tls("other.test").unwrap();
        d.submit(OutboundNotify::message(9, wrong, "peer.test", Bytes::new()));
        match next().await {
            SendOutcome::Failed(FailureReason::Tls(TlsFailure::Certificate(why))) => {
                assert!(why.contains("not valid for name"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(client_metrics.tls_handshakes(Direction::Outbound, false), 1);
        assert_eq!(sessions.load(Ordering::SeqCst), 1);
        // Trusting the system's store (read now, at the first handshake): the test CA is
        // not in it, so the same server is refused.
        let (tx, mut rx) = mpsc::unbounded_channel();
        let system = Deliverer::new(DeliveryConfig::default(), tx)
            .with_tls(Arc::new(TlsClient::system_roots()));
        system.submit(OutboundNotify::message(10, good, "peer.test", Bytes::new()));
        let outcome = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap()
            .outcome;
        assert!(
            matches!(
                outcome,
                SendOutcome::Failed(FailureReason::Tls(TlsFailure::Certificate(_)))
            ),
            "{outcome:?}"
        );
        assert_eq!(sessions.load(Ordering::SeqCst), 1);
        server.abort();
    }
}
