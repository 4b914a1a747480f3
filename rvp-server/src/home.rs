//! The home server assembled: configuration → store → engine task → delivery → listener.
//!
//! ```text
//!   client ──TCP──► listener / conn.rs ──► RvpService::handle(peer, request, now)
//!                                            │ 1. Digest: Authenticator::authenticate
//!                                            │    (a refused answer → 401 + one challenge)
//!                                            │ 2. Caller::from_rvp_headers(asserted, proven, ip)
//!                                            ▼
//!                            EngineHandle::call ──► engine task (owns PresenceCore:
//!                                                    rvp_presence::Engine + DurableStore)
//!                                                     handle every ready input, then ONE
//!                                                     log write for all (group commit),
//!                                                     then release exactly the covered
//!                                                     outputs:
//!            answer ◄──────────────────────────────── Respond(answer)
//!            (401 after a verified Digest → 403;      Deliver(delivery) ──► Dispatch
//!             401 without credentials → challenge)                          │
//!                                                                           ▼
//!          Deliverer (per-callback queues) ◄── local node http://ip:port, or a logical
//!                │                              URL on another server resolved by DNS
//!                ▼                              ([resolve] nameserver; none = failure)
//!          DeliveryReport ──► forwarder task ──► EngineHandle::event
//!                                                 → Engine::handle_delivery_result
//! ```
//!
//! Durability follows the journal contract of `rvp-presence` ([`rvp_presence::journal`]):
//! no answer and no NOTIFY leaves before the changes that produced it are on disk
//! ([`crate::store`]). A commit failure stops the engine (nothing more is answered) and
//! the server shuts down.
//!
//! Start-up: [`DurableStore::open`] (replays the write-ahead log) → [`Engine::new`] → the configured users registered →
//! [`DurableStore::restore_engine`] → the outputs the restore queued (lapsed leases) are sent.
//! Shutdown: stop accepting, drain connections, stop the engine (final commit), give
//! queued NOTIFYs a moment ([`NOTIFY_FLUSH_GRACE`]), close the deliverer.

pub mod live;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use rvp_presence::{
    Answer, Caller, Change, Delivery, DeliveryId, DirectoryProperties, Engine, Output,
};
use rvp_proto::header::HopCount;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::archive::{ArchiveError, ArchiveOptions, ArchiveWriter};
use crate::auth::{AuthError, Authenticator, DigestConfig, Identity, NonceSecret, UserDirectory};
use crate::config::Config;
use crate::delivery::{
    Deliverer, DeliveryConfig, DeliveryOutcome, DeliveryReport, Destination, FailureReason,
    Notification, NotificationBody,
};
use crate::engine::{self, CommitFailed, Core, CoreOutput, EngineHandle, RequestId};
use crate::listener::{ServeReport, Server};
use crate::log::ProtocolLog;
use crate::metrics::{AuthFailure, Metrics, NotifyResult};
use crate::service::{Handler, LogPrincipal, Peer, Request, Response, text_response};
use crate::store::{DurableOptions, DurableStore, StoreError, SyncMode};
use crate::trust::ServerTrust;
use rvp_proto::header::FromPrincipal;

/// After the engine stopped, queued NOTIFYs get at most this long to go out before the
/// deliverer is closed.
pub const NOTIFY_FLUSH_GRACE: Duration = Duration::from_secs(2);

/// Why the server could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The store could not be opened, read or restored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The compliance archive could not be opened or closed.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The engine refused the policy built from `[policy]`.
    #[error("[policy]: {0}")]
    Policy(#[from] rvp_presence::PolicyError),
    /// A configured user could not be registered.
    #[error("users: {0}")]
    User(String),
    /// The authentication setup failed (user directory, randomness for nonces).
    #[error("authentication: {0}")]
    Auth(String),
    /// A listen address could not be bound.
    #[error("{0}")]
    Bind(std::io::Error),
    /// `[tls]`: a certificate, key or CA file could not be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A commit failed while serving: the server stopped.
    #[error("the store failed while serving, the server stopped: {0}")]
    Commit(String),
    /// The engine task panicked.
    #[error("the engine task failed: {0}")]
    EngineTask(String),
}

/// One request for the engine: who asks, and the request as the connection typed it
/// (once, leniently: `RequestHead::typed_lenient`), with its body.
#[derive(Debug)]
pub struct PresenceRequest {
    /// The caller (asserted and authenticated identities, source IP).
    pub caller: Caller,
    /// Method class, request-target and every RVP header, typed.
    pub typed: rvp_proto::codec::TypedRequest,
    /// The body (shared with the connection's buffer, not copied).
    pub body: Bytes,
}

/// The presence engine and its store, as the engine task's [`Core`].
pub struct PresenceCore {
    engine: Engine,
    store: Option<DurableStore>,
    buf: Vec<Change>,
    fatal: Option<oneshot::Sender<String>>,
    /// [`Engine::dropped_deliveries`] when last looked at (each increase is logged).
    dropped_seen: u64,
    /// The compliance archive, when on: relayed NOTIFYs, written in `commit` first.
    archive: Option<ArchiveWriter>,
}

impl std::fmt::Debug for PresenceCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceCore")
            .field("store", &self.store)
            .field("pending_outputs", &self.engine.pending_outputs())
            .finish_non_exhaustive()
    }
}

impl PresenceCore {
    /// A core over `engine`, committing to `store` (none: memory only, nothing
    /// survives a restart). `fatal` hears about a commit failure.
    pub fn new(
        engine: Engine,
        store: Option<DurableStore>,
        fatal: Option<oneshot::Sender<String>>,
    ) -> PresenceCore {
        PresenceCore {
            engine,
            store,
            buf: Vec::new(),
            fatal,
            dropped_seen: 0,
            archive: None,
        }
    }

    /// Archives every NOTIFY the engine relays into `archive`, in each commit before
    /// anything of the batch is released ([`crate::archive`]).
    pub fn with_archive(mut self, archive: ArchiveWriter) -> PresenceCore {
        self.archive = Some(archive);
        self
    }

    /// Closes the archive, if any (queued records written, synced). [`PresenceCore::close`]
    /// and dropping do it too, reporting an error only in the diagnostics.
    pub fn close_archive(&mut self) -> Result<(), ArchiveError> {
        self.archive.take().map_or(Ok(()), ArchiveWriter::close)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, to change it outside requests (a configuration reload, through
    /// [`EngineHandle::with_core`]): what it changes is committed before its outputs leave.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The store, if the core has one (the engine task stops when it fails).
    pub fn store(&self) -> Option<&DurableStore> {
        self.store.as_ref()
    }

    /// Stops the store cleanly (last checkpoint, log emptied). Dropping the core does
    /// the same, reporting an error only in the diagnostics.
    pub fn close(self) -> Result<(), StoreError> {
        match self.store {
            Some(s) => s.close(),
            None => Ok(()),
        }
    }
}

impl Core for PresenceCore {
    type Request = PresenceRequest;
    type Response = Box<Answer>;
    type Event = (DeliveryId, rvp_presence::DeliveryOutcome);
    type Effect = Delivery;

    fn handle_request(&mut self, now: Instant, id: RequestId, request: PresenceRequest) {
        let before = self.engine.pending_outputs();
        self.engine
            .handle_request(now, id, &request.caller, &request.typed, &request.body);
        if let Some(archive) = &mut self.archive
            && request.typed.method == rvp_proto::MethodClass::Rvp(rvp_proto::Method::Notify)
        {
            let added = self.engine.pending_outputs().saturating_sub(before);
            let time = std::time::SystemTime::now();
            if let Some(entry) = crate::archive::relayed_entry(&self.engine, added, time) {
                archive.push(entry);
            }
        }
    }

    fn handle_event(&mut self, now: Instant, (id, outcome): Self::Event) {
        self.engine.handle_delivery_result(now, id, outcome);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
    }

    fn poll_output(&mut self) -> Option<CoreOutput<Box<Answer>, Delivery>> {
        let dropped = self.engine.dropped_deliveries();
        if dropped != self.dropped_seen {
            tracing::warn!(
                dropped = dropped - self.dropped_seen,
                total = dropped,
                "a change wanted more NOTIFYs than policy.max_deliveries_per_change: the rest were dropped"
            );
            self.dropped_seen = dropped;
        }
        match self.engine.poll_output()? {
            Output::Respond(a) => Some(CoreOutput::Respond(a.request, a)),
            Output::Deliver(d) => Some(CoreOutput::Effect(d)),
            other => {
                tracing::warn!(?other, "unknown engine output ignored");
                self.poll_output()
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    fn commit(&mut self) -> Result<Option<usize>, CommitFailed> {
        // The archive first: the record of a relayed NOTIFY is written before anything of
        // its batch (a delivery, the sender's answer) leaves.
        if let Some(archive) = &mut self.archive
            && let Err(e) = waiting_for_disk(archive.commit_syncs(), || archive.commit())
        {
            return Err(self.failed(e.to_string()));
        }
        let Some(store) = &mut self.store else {
            return Ok(None);
        };
        let (engine, buf) = (&mut self.engine, &mut self.buf);
        // One write(2) unless `storage_sync = "always"` (an ACL change adds an fdatasync,
        // rarely enough not to hand the worker over).
        let syncs = engine.has_changes() && store.options().sync == SyncMode::Always;
        match waiting_for_disk(syncs, || store.commit_engine(engine, buf)) {
            Ok(covered) => Ok(Some(covered)),
            Err(e) => Err(self.failed(e.to_string())),
        }
    }
}

impl PresenceCore {
    /// A commit failed: tells whoever waits for that (the server stops).
    fn failed(&mut self, msg: String) -> CommitFailed {
        if let Some(tx) = self.fatal.take() {
            let _ = tx.send(msg.clone());
        }
        CommitFailed(msg)
    }
}

/// Runs `commit`, which waits for the disk when `syncs` (`storage_sync = "always"`): on a
/// multi-threaded runtime tokio is told this worker blocks, so that the connection tasks
/// queued on it move to another.
fn waiting_for_disk<T>(syncs: bool, commit: impl FnOnce() -> T) -> T {
    let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
    match flavor {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) if syncs => {
            tokio::task::block_in_place(commit)
        }
        _ => commit(),
    }
}

/// The [`Handler`] of the home server: authentication, then the engine.
#[derive(Debug, Clone)]
pub struct RvpService {
    engine: EngineHandle<PresenceCore>,
    auth: Arc<Authenticator>,
    trust: Arc<ServerTrust>,
    metrics: Arc<Metrics>,
    router: Option<Arc<crate::router::Router>>,
    /// Routers and reverse proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Arc<[std::net::IpAddr]>,
    /// The IM domain, and the addresses of the other servers of it (`[router.homes]`,
    /// `[resolve] peers` for the domain): they may speak as the domain.
    domain: Arc<str>,
    fellows: Arc<[std::net::IpAddr]>,
    /// The directory read per request ([`live`]), when the users come from one.
    live: Option<Arc<live::LiveUsers>>,
}

impl RvpService {
    /// A service over a running engine task and an authenticator.
    pub fn new(engine: EngineHandle<PresenceCore>, auth: Arc<Authenticator>) -> RvpService {
        RvpService {
            engine,
            auth,
            trust: Arc::new(ServerTrust::default()),
            metrics: Arc::new(Metrics::new()),
            router: None,
            trusted_proxies: Arc::from(Vec::new()),
            domain: Arc::from(""),
            fellows: Arc::from(Vec::new()),
            live: None,
        }
    }

    /// Reads the directory per request ([`live`]): users added, changed, moved or
    /// disabled there take effect while the server runs. Installs the layer's router
    /// (always consulted, since any user may turn out to live elsewhere).
    pub fn with_live_users(mut self, live: Arc<live::LiveUsers>) -> RvpService {
        self.router = Some(Arc::clone(live.router()));
        self.live = Some(live);
        self
    }

    /// The other servers of IM domain `domain`, by address: a request from one of them
    /// that speaks as the domain (`RVP-From-Principal: <domain>`, the property changes a
    /// home server sends for its users) is proven by that address.
    pub fn with_fellow_servers(
        mut self,
        domain: &str,
        addresses: &[std::net::IpAddr],
    ) -> RvpService {
        self.domain = Arc::from(domain);
        self.fellows = Arc::from(addresses.to_vec());
        self
    }

    /// Believes these routers' and reverse proxies' `X-Forwarded-For` for the client's
    /// address (`[router] trusted_proxies`): a home server behind a router judges the
    /// client the router forwards, not the router.
    pub fn with_trusted_proxies(mut self, proxies: &[std::net::IpAddr]) -> RvpService {
        self.trusted_proxies = Arc::from(proxies.to_vec());
        self
    }

    /// Routes requests for users whose home is another server ([`crate::router`]); a
    /// router with nothing to route is dropped.
    pub fn with_router(mut self, router: crate::router::Router) -> RvpService {
        self.router = router.routes_anything().then(|| Arc::new(router));
        self
    }

    /// Counts refused credentials into `metrics` (default: counters of its own).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> RvpService {
        self.metrics = metrics;
        self
    }

    /// Which other servers are believed (default: none).
    pub fn with_trust(mut self, trust: ServerTrust) -> RvpService {
        self.trust = Arc::new(trust);
        self
    }

    /// A `401` with one fresh challenge and the same body whatever the refusal was
    /// ([`crate::auth::UNAUTHORIZED_BODY`]): the reason is only logged (debug), so an answer
    /// never tells an unknown user from a wrong password.
    fn unauthorized(&self, now: Instant, after: Option<&AuthError>) -> Response {
        let mut res = text_response(StatusCode::UNAUTHORIZED, crate::auth::UNAUTHORIZED_BODY);
        let challenge = self.auth.challenge(now, after);
        res.headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, challenge.to_header_value());
        res
    }
}

impl Handler for RvpService {
    async fn handle(&self, peer: Peer, request: Request, now: Instant) -> Response {
        // The directory first (async, here in the server layer: the engine stays
        // sans-IO): the users the request names, as the directory says now.
        if let Some(live) = &self.live
            && let Some(answer) = live.check(&request).await.response()
        {
            return answer;
        }
        if let Some(router) = &self.router
            && let Some(routed) = crate::router::answer(router, peer.addr.ip(), &request).await
        {
            return routed;
        }
        let authorization = request
            .http
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        let target = request.http.uri().to_string();
        let identity =
            match self
                .auth
                .authenticate(now, request.method.as_str(), &target, authorization)
            {
                Ok(id) => id,
                Err(e) => {
                    self.metrics.auth_failure(AuthFailure::of(&e));
                    tracing::debug!(peer = %peer.addr, "authentication refused: {e}");
                    return self.unauthorized(now, Some(&e));
                }
            };
        // The client: the connection, or whom a trusted router or proxy forwards.
        let client = crate::router::client_ip(
            &self.trusted_proxies,
            peer.addr.ip(),
            request.http.headers().get("x-forwarded-for"),
        );
        let principal = identity.principal().map(ToString::to_string);
        let mut proven = match (&principal, identity.credential_kind()) {
            (Some(p), Some(k)) => Some((p.as_str(), k)),
            _ => None,
        };
        // Another home server of this domain speaks as the domain (property changes of its
        // users): proven by its address, `internal` credentials (PROTOCOL.md §8.2).
        let domain_host;
        if proven.is_none()
            && let Some(FromPrincipal::Host(host)) = &request.typed.rvp.from_principal
            && self.fellows.contains(&client)
            && host.eq_ignore_ascii_case(&self.domain)
        {
            domain_host = host.to_string();
            proven = Some((domain_host.as_str(), rvp_proto::CredentialKind::Internal));
        }
        // A request speaking as another server is believed only from where that server's
        // DNS (or the configuration) places it (crate::trust).
        if let Some(FromPrincipal::Host(host)) = &request.typed.rvp.from_principal
            && let Err(e) = self.trust.check_server(host, client).await
        {
            tracing::info!(peer = %peer.addr, "refused: {e}");
            return text_response(
                StatusCode::FORBIDDEN,
                "RVP-From-Principal names a server this address does not speak for",
            );
        }
        let caller = Caller::from_rvp_headers(&request.typed.rvp, proven, Some(client));
        let log_name: Option<Arc<str>> = match &identity {
            Identity::Authenticated(a) => Some(Arc::from(&*a.username)),
            _ => caller.asserted_principal().cloned(),
        };
        let answer = self
            .engine
            .call(PresenceRequest {
                caller,
                body: request.body().clone(),
                typed: request.typed,
            })
            .await;
        let mut res = match answer {
            Ok(a) => a.to_http(),
            Err(e) => text_response(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        };
        if res.status() == StatusCode::UNAUTHORIZED {
            if identity.is_authenticated() {
                // Never a second 401 for a verified Digest answer: librvp ends the account
                // on it. The caller is who they proved to be, and lacks the right.
                *res.status_mut() = StatusCode::FORBIDDEN;
            } else {
                // The same 401 as for refused credentials: what the engine wanted (which
                // right, which identity) goes to the debug log only.
                tracing::debug!(peer = %peer.addr, "401: {}", String::from_utf8_lossy(res.body()).trim_end());
                res = self.unauthorized(now, None);
            }
        }
        if let Some(name) = log_name {
            res.extensions_mut().insert(LogPrincipal(name));
        }
        res
    }
}

/// Turns the engine's deliveries into queued NOTIFYs.
struct Dispatch {
    deliverer: Deliverer<DeliveryId>,
    /// Deliveries that failed before reaching a queue (no route).
    failures: mpsc::UnboundedSender<DeliveryId>,
    resolver: Option<Arc<crate::resolve::ForeignResolver>>,
}

/// The NOTIFY for `d` to `destination`.
pub fn notification_for(d: &Delivery, destination: Destination) -> Notification<DeliveryId> {
    let hop = HopCount::new(d.hop_count()).unwrap_or(HopCount::ORIGIN);
    let sub: rvp_proto::header::SubscriptionId = d.subscription().into();
    let from = d.from_principal().clone();
    // The body's parts as the engine holds them: a property change's shared rendering is
    // not copied per watcher.
    let body = NotificationBody::from_parts(d.body_chunks());
    match d.relayed_body() {
        None => Notification::presence(d.id(), destination, from, sub, body)
            .with_hop_count(hop)
            .with_coalesce_key(d.origin().get()),
        Some(_) => Notification::message(d.id(), destination, from, body)
            .with_hop_count(hop)
            .with_ack_type(d.ack())
            .with_subscription_id(sub),
    }
}

impl engine::Effects<Delivery> for Dispatch {
    fn dispatch(&mut self, d: Delivery) {
        let (_, target) = d.destination();
        if target == "/" {
            match Destination::from_callback(d.callback()) {
                Ok(dest) => {
                    self.deliverer.submit(notification_for(&d, dest));
                }
                // A client's node named by host name rather than IP: look it up.
                Err(crate::delivery::DestinationError::NotIpLiteral(_))
                    if self.resolver.is_some() =>
                {
                    if let Some(r) = &self.resolver {
                        r.deliver(d, self.deliverer.clone(), self.failures.clone());
                    }
                }
                Err(e) => {
                    tracing::debug!(callback = %d.callback(), "NOTIFY not routable: {e}");
                    let _ = self.failures.send(d.id());
                }
            }
            return;
        }
        // A logical URL on another server (local ones are expanded by the engine).
        match &self.resolver {
            Some(r) => r.deliver(d, self.deliverer.clone(), self.failures.clone()),
            None => {
                tracing::debug!(
                    callback = %d.callback(),
                    "call-back on another server and no [resolve] nameserver: not delivered"
                );
                let _ = self.failures.send(d.id());
            }
        }
    }
}

/// Feeds delivery outcomes back to the engine until the engine is gone.
async fn forward_reports(
    mut reports: mpsc::UnboundedReceiver<DeliveryReport<DeliveryId>>,
    mut failures: mpsc::UnboundedReceiver<DeliveryId>,
    engine: engine::WeakEngineHandle<PresenceCore>,
    foreign: Option<Arc<crate::resolve::ForeignResolver>>,
    metrics: Arc<Metrics>,
) {
    use rvp_presence::DeliveryOutcome as Outcome;
    loop {
        let event = tokio::select! {
            r = reports.recv() => match r {
                Some(r) => {
                    metrics.notify_result(NotifyResult::of(&r.outcome));
                    if let Some(f) = &foreign {
                        f.outcome(r.id.seq(), unreachable(&r.outcome));
                    }
                    match engine_outcome(&r.outcome) {
                        Some(outcome) => (r.id, outcome),
                        // A newer presence update replaced it: its outcome stands for both.
                        None => continue,
                    }
                }
                None => break,
            },
            f = failures.recv() => match f {
                Some(id) => {
                    metrics.notify_result(NotifyResult::NotRoutable);
                    (id, Outcome::Failed)
                }
                None => break,
            },
        };
        if event.1 == Outcome::Failed {
            metrics.callback_failure();
        }
        let Some(handle) = engine.upgrade() else {
            break;
        };
        if handle.event(event).await.is_err() {
            break;
        }
    }
}

/// Whether a delivery found no server at its destination (PROTOCOL.md §7.1 step 5: a
/// cached route is dropped "on any connection failure or `404`").
fn unreachable(outcome: &DeliveryOutcome) -> bool {
    match outcome {
        DeliveryOutcome::Answered(s) => *s == StatusCode::NOT_FOUND,
        DeliveryOutcome::Failed(reason) => matches!(
            reason,
            FailureReason::Connect(_)
                | FailureReason::ConnectTimeout
                | FailureReason::ConnectionClosed
                | FailureReason::Io(_)
        ),
        _ => false,
    }
}

/// What the engine is told about a delivery report; `None` for a presence update that a
/// newer one replaced (the newer one's outcome stands for both).
///
/// Failures of our own side (a full queue, too many destinations, a message that waited
/// too long, shutdown, an unwritable request) are [`rvp_presence::DeliveryOutcome::NotSent`]:
/// they fail the sender's acknowledgement but are no evidence against the call-back, so a
/// flood of NOTIFYs to a user cannot get the user's login subscription discarded.
fn engine_outcome(outcome: &DeliveryOutcome) -> Option<rvp_presence::DeliveryOutcome> {
    use rvp_presence::DeliveryOutcome as Outcome;
    match outcome {
        DeliveryOutcome::Answered(s) => Some(Outcome::from_status(*s)),
        DeliveryOutcome::Failed(reason) => Some(match reason {
            FailureReason::QueueFull
            | FailureReason::TooManyDestinations
            | FailureReason::Expired
            | FailureReason::InvalidRequest(_)
            | FailureReason::ShuttingDown => Outcome::NotSent,
            _ => Outcome::Failed,
        }),
        _ => None,
    }
}

/// The delivery settings for a configuration.
pub fn delivery_config(config: &Config) -> DeliveryConfig {
    DeliveryConfig {
        connect_timeout: config.policy.delivery_connect_timeout,
        response_timeout: config.policy.delivery_timeout,
        message_max_wait: config.policy.delivery_timeout,
        ..DeliveryConfig::default()
    }
}

/// The archive settings of a configuration: `[archive]`, synced as `[server]
/// storage_sync` says (in `interval` mode every `storage_checkpoint_interval`).
pub fn archive_options(config: &Config) -> ArchiveOptions {
    let mut o = ArchiveOptions::with_sync(
        config.server.storage_sync,
        config.server.storage_checkpoint_interval,
    );
    o.retention = Some(config.archive.retention).filter(|r| !r.is_zero());
    o
}

/// The storage settings of a configuration.
pub fn durable_options(config: &Config) -> DurableOptions {
    let mut o = DurableOptions::with_sync(config.server.storage_sync);
    o.checkpoint_interval = config.server.storage_checkpoint_interval;
    o
}

/// The Digest users of a configuration's `[[users]]` that this server holds (see
/// [`crate::directory::user_directory`]: enabled users homed here).
pub fn user_directory(config: &Config) -> Result<UserDirectory, ServerError> {
    let file = crate::directory::FileDirectory::from_config(config)
        .map_err(|e| ServerError::User(e.to_string()))?;
    crate::directory::user_directory(
        &config.server.domain,
        config.realm(),
        &config.server.host_name,
        file.entries(),
    )
    .map_err(|e| ServerError::Auth(e.to_string()))
}

/// The directory properties of a configured user: its display name (else its alias) and
/// e-mail (else `alias@domain`).
pub fn user_properties(domain: &str, u: &crate::config::UserConfig) -> DirectoryProperties {
    let email = u
        .email
        .clone()
        .unwrap_or_else(|| format!("{}@{domain}", u.alias));
    let name = u.display_name.as_deref().unwrap_or(&u.alias);
    DirectoryProperties::new(name, &email)
}

/// The addresses of the other servers of this IM domain: its home servers
/// (`[router.homes]`) and `[resolve] peers` listed under the domain's own name.
pub fn fellow_servers(config: &Config) -> Vec<std::net::IpAddr> {
    let mut out: Vec<std::net::IpAddr> = config.router.homes.values().map(SocketAddr::ip).collect();
    for (host, addrs) in &config.resolve.peers {
        if host
            .trim_end_matches('.')
            .eq_ignore_ascii_case(&config.server.domain)
        {
            out.extend(addrs);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The users of a configuration's directory (`[directory] backend`): the `[[users]]` of
/// the file, or every entry the LDAP server lists (bounded by its `max_results`). Read
/// once at start-up; a directory that cannot answer stops the start. An address with more
/// than one entry is left out (logged at warn).
pub async fn directory_entries(
    config: &Config,
) -> Result<Vec<crate::directory::DirectoryEntry>, ServerError> {
    let directory = crate::directory::open(config)
        .map_err(|e| ServerError::User(format!("[directory]: {e}")))?;
    entries_of(&*directory).await
}

/// Every entry of `directory`, an address with more than one entry left out (logged).
pub async fn entries_of(
    directory: &dyn crate::directory::Directory,
) -> Result<Vec<crate::directory::DirectoryEntry>, ServerError> {
    let mut entries = directory
        .all()
        .await
        .map_err(|e| ServerError::User(format!("[directory] {}: {e}", directory.describe())))?;
    // An address with two entries is ambiguous: neither is served (which one would a
    // password prove?), and the start goes on for everyone else.
    let mut seen = std::collections::HashMap::new();
    for e in &entries {
        *seen
            .entry(e.address.to_string().to_ascii_lowercase())
            .or_insert(0u32) += 1;
    }
    entries.retain(|e| {
        let twice = seen
            .get(&e.address.to_string().to_ascii_lowercase())
            .is_some_and(|n| *n > 1);
        if twice {
            tracing::warn!(
                address = %e.address,
                origin = %e.origin,
                "the directory has more than one entry for this address: not served"
            );
        }
        !twice
    });
    Ok(entries)
}

/// A presence engine with the directory's users that this server holds registered: the
/// enabled entries of the IM domain whose home is this server (`[server] host_name`, or no
/// `home`). Users homed elsewhere are the router's business.
pub fn engine_with_users(
    config: &Config,
    entries: &[crate::directory::DirectoryEntry],
    now: Instant,
) -> Result<Engine, ServerError> {
    let policy = config.policy.engine_policy(config.auth.require_auth);
    let mut engine = Engine::new(policy, now)?;
    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret)
        .map_err(|e| ServerError::Auth(format!("randomness for subscription ids: {e}")))?;
    engine.set_subscription_id_secret(secret);
    for e in entries.iter().filter(|e| {
        e.enabled
            && e.is_homed_on(&config.server.host_name)
            && e.address
                .domain()
                .eq_ignore_ascii_case(&config.server.domain)
    }) {
        let key = e
            .node_key()
            .ok_or_else(|| ServerError::User(format!("invalid alias {:?}", e.alias())))?;
        engine
            .register_principal(key, e.directory_properties())
            .map_err(|err| ServerError::User(format!("{}: {err}", e.alias())))?;
    }
    Ok(engine)
}

/// A presence engine with the `[[users]]` of the configuration that this server holds
/// registered (no store yet); see [`engine_with_users`].
pub fn engine_for(config: &Config, now: Instant) -> Result<Engine, ServerError> {
    let file = crate::directory::FileDirectory::from_config(config)
        .map_err(|e| ServerError::User(e.to_string()))?;
    engine_with_users(config, file.entries(), now)
}

/// A started home server: listening, engine running, not yet serving connections.
#[derive(Debug)]
pub struct HomeServer {
    server: Server<RvpService>,
    engine: EngineHandle<PresenceCore>,
    task: JoinHandle<PresenceCore>,
    deliverer: Deliverer<DeliveryId>,
    fatal: oneshot::Receiver<String>,
    metrics: Arc<Metrics>,
    admin: Option<crate::admin::AdminServer>,
    reloader: crate::admin::Reloader,
}

impl HomeServer {
    /// Opens the store, restores the engine, binds the listen addresses
    /// (`config.server.listen`, and `admin.listen` when set) and starts the engine task.
    /// Call [`HomeServer::run`] to serve.
    ///
    /// The users: the directory's listing at start-up (every user registered before the
    /// store is restored, so that each keeps its stored state), then, for an LDAP
    /// directory, the directory read per request ([`live`]). The `[[users]]` of the file
    /// are read at start-up and on a reload.
    pub async fn start(config: &Config, log: ProtocolLog) -> Result<HomeServer, ServerError> {
        let directory = crate::directory::open(config)
            .map_err(|e| ServerError::User(format!("[directory]: {e}")))?;
        let live = (config.directory.backend != crate::directory::Backend::File)
            .then(|| Arc::clone(&directory));
        HomeServer::start_inner(config, log, &*directory, live).await
    }

    /// [`HomeServer::start`] with the users of `directory` (an embedder's own
    /// [`Directory`](crate::directory::Directory), e.g. its account database) instead of
    /// the one `[directory]` configures. Read once, at start-up
    /// ([`HomeServer::start_with_live_directory`] reads it per request as well).
    pub async fn start_with_directory(
        config: &Config,
        log: ProtocolLog,
        directory: &dyn crate::directory::Directory,
    ) -> Result<HomeServer, ServerError> {
        HomeServer::start_inner(config, log, directory, None).await
    }

    /// [`HomeServer::start_with_directory`], and `directory` read per request as well
    /// ([`live`]): users added, changed or disabled in it take effect while the server
    /// runs, within the cache's TTLs. A directory without a cache
    /// ([`Directory::cache_stats`](crate::directory::Directory::cache_stats) `None`) is
    /// put behind a [`CachedDirectory`](crate::directory::CachedDirectory) with the
    /// `[directory]` cache settings. Its users are not `[[users]]`: a configuration reload
    /// must not be given `[[users]]` for them.
    pub async fn start_with_live_directory(
        config: &Config,
        log: ProtocolLog,
        directory: Arc<dyn crate::directory::Directory>,
    ) -> Result<HomeServer, ServerError> {
        let directory: Arc<dyn crate::directory::Directory> = if directory.cache_stats().is_some() {
            directory
        } else {
            Arc::new(crate::directory::CachedDirectory::new(
                directory,
                crate::directory::CacheConfig::from(&config.directory),
            ))
        };
        HomeServer::start_inner(config, log, &*directory, Some(Arc::clone(&directory))).await
    }

    async fn start_inner(
        config: &Config,
        log: ProtocolLog,
        directory: &dyn crate::directory::Directory,
        live: Option<Arc<dyn crate::directory::Directory>>,
    ) -> Result<HomeServer, ServerError> {
        let now = Instant::now();
        let mut store = DurableStore::open(&config.server.storage, durable_options(config))?;
        // The users: from the directory (the [[users]] of the file, LDAP, or the embedder's).
        let entries = entries_of(directory).await?;
        let mut engine = engine_with_users(config, &entries, now)?;
        let report = store.restore_engine(&mut engine, Instant::now())?;
        tracing::info!(?report, store = %store.path().display(), "state restored");
        // Every server of the domain verifies every user of it (they share the directory,
        // as Exchange's home servers share Active Directory): a user of another home server
        // watching someone here proves itself here.
        let verifiable: Vec<_> = entries
            .iter()
            .cloned()
            .map(|mut e| {
                e.home = None;
                e
            })
            .collect();
        let users = crate::directory::user_directory(
            &config.server.domain,
            config.realm(),
            &config.server.host_name,
            &verifiable,
        )
        .map_err(|e| ServerError::Auth(e.to_string()))?;
        let mut digest = DigestConfig::new(config.realm());
        digest.nonce_lifetime = config.auth.nonce_lifetime;
        let secret = NonceSecret::generate().map_err(|e| ServerError::Auth(e.to_string()))?;
        let auth = Arc::new(Authenticator::new(digest, secret, users, now));

        let (reports_tx, reports_rx) = mpsc::unbounded_channel();
        let (failures_tx, failures_rx) = mpsc::unbounded_channel();
        let metrics = Arc::new(Metrics::new());
        let tls = crate::tls::ServerTls::from_config(&config.tls, &metrics)?;
        let deliverer = tls.deliverer(Deliverer::new(delivery_config(config), reports_tx));
        let resolver = match config.resolve.nameserver {
            Some(ns) => Some(Arc::new(
                crate::resolve::ForeignResolver::new(ns)
                    .map_err(|e| ServerError::Auth(format!("[resolve] nameserver: {e}")))?
                    .allow_loopback(config.resolve.allow_loopback)
                    .tls_when_published(tls.outbound()),
            )),
            None => None,
        };
        let dispatch = Dispatch {
            deliverer: deliverer.clone(),
            failures: failures_tx,
            resolver: resolver.clone(),
        };
        let (fatal_tx, fatal) = oneshot::channel();
        let mut core = PresenceCore::new(engine, Some(store), Some(fatal_tx));
        if config.archive.enabled() {
            let archive = ArchiveWriter::open(&config.archive.path, archive_options(config))?;
            core = core.with_archive(archive);
        }
        let (handle, task) = engine::spawn(core, dispatch, engine::DEFAULT_QUEUE);
        tokio::spawn(forward_reports(
            reports_rx,
            failures_rx,
            handle.downgrade(),
            resolver.clone(),
            Arc::clone(&metrics),
        ));
        let admin = match config.admin.listen {
            Some(addr) => {
                let sources = crate::admin::Sources {
                    metrics: Arc::clone(&metrics),
                    engine: handle.downgrade(),
                    auth: Arc::clone(&auth),
                    deliverer: deliverer.clone(),
                    resolver: resolver.clone(),
                    log: log.clone(),
                };
                Some(
                    crate::admin::AdminServer::bind(addr, sources, config.admin.clone())
                        .await
                        .map_err(ServerError::Bind)?,
                )
            }
            None => None,
        };
        let reloader = crate::admin::Reloader::new(
            handle.downgrade(),
            Arc::clone(&auth),
            Arc::clone(&metrics),
            config.clone(),
        );
        let trust = ServerTrust::new(
            &config.server.domain,
            &config.resolve.peers,
            resolver.clone(),
        );
        // A home server named in the directory but not in [router] homes is found in DNS
        // (its A/AAAA records, through [resolve] nameserver).
        let router = crate::router::from_entries(config, &entries).with_resolver(resolver);
        let mut service = RvpService::new(handle.clone(), Arc::clone(&auth))
            .with_trust(trust)
            .with_metrics(Arc::clone(&metrics))
            .with_trusted_proxies(&config.router.trusted_proxies)
            .with_fellow_servers(&config.server.domain, &fellow_servers(config));
        service = match live {
            Some(directory) => service.with_live_users(Arc::new(live::LiveUsers::new(
                config,
                directory,
                &entries,
                handle.clone(),
                auth,
                Arc::new(router),
            ))),
            None => service.with_router(router),
        };
        let server = Server::bind(
            &config.server.listen,
            service,
            config.limits.conn_limits(),
            log,
        )
        .await
        .map_err(ServerError::Bind)?
        .with_metrics(Arc::clone(&metrics));
        let server = tls.bind(server).await.map_err(ServerError::Bind)?;
        Ok(HomeServer {
            server,
            engine: handle,
            task,
            deliverer,
            fatal,
            metrics,
            admin,
            reloader,
        })
    }

    /// The address of the admin listener (`/metrics`, `/healthz`, `/readyz`), when
    /// `admin.listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|a| a.local_addr())
    }

    /// The server's counters ([`crate::metrics`]).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Applies new configurations while the server runs (users and `[policy]`;
    /// [`crate::admin::reload`]). Works until [`HomeServer::run`] has stopped the engine.
    pub fn reloader(&self) -> crate::admin::Reloader {
        self.reloader.clone()
    }

    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.server.local_addrs()
    }

    /// The TLS listener's addresses actually bound (`[tls] listen`; empty without).
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.server.tls_local_addrs()
    }

    /// Serves until `stop` resolves (or the store fails), then shuts down in order:
    /// drain connections, stop the engine (final commit), let queued NOTIFYs go out for
    /// up to [`NOTIFY_FLUSH_GRACE`], close the deliverer.
    pub async fn run(
        self,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<ServeReport, ServerError> {
        let HomeServer {
            server,
            engine,
            task,
            deliverer,
            mut fatal,
            metrics: _,
            admin,
            reloader: _,
        } = self;
        // The admin listener serves through the drain (`/readyz` then says "not
        // accepting") and stops with the listeners.
        let (admin_stop, admin_stopped) = tokio::sync::watch::channel(false);
        let admin_task = admin.map(|a| tokio::spawn(a.serve(admin_stopped)));
        let mut failure = None;
        let report = {
            let stop = async {
                tokio::select! {
                    () = stop => {}
                    r = &mut fatal => {
                        if let Ok(msg) = r {
                            failure = Some(msg);
                        }
                    }
                }
            };
            server.serve(stop).await
        };
        let _ = admin_stop.send(true);
        if let Some(t) = admin_task {
            // Bounded: the admin server gives its connections `admin.timeout`, then aborts.
            let _ = t.await;
        }
        let _ = engine.stop().await;
        drop(engine);
        let joined = task.await;
        let deadline = Instant::now() + NOTIFY_FLUSH_GRACE;
        while deliverer.pending() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        deliverer.close();
        let mut core = joined.map_err(|e| ServerError::EngineTask(e.to_string()))?;
        let archived = core.close_archive();
        let closed = core.close();
        match failure {
            Some(msg) => Err(ServerError::Commit(msg)),
            None => {
                archived?;
                closed.map(|()| report).map_err(ServerError::Store)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvp_presence::DeliveryOutcome as Outcome;

    #[test]
    fn connection_failures_and_404_mean_no_server_there() {
        let failed = |r| unreachable(&DeliveryOutcome::Failed(r));
        assert!(failed(FailureReason::Connect(
            std::io::ErrorKind::ConnectionRefused
        )));
        assert!(failed(FailureReason::ConnectTimeout));
        assert!(failed(FailureReason::ConnectionClosed));
        assert!(!failed(FailureReason::QueueFull));
        assert!(!failed(FailureReason::ResponseTimeout));
        assert!(unreachable(&DeliveryOutcome::Answered(
            StatusCode::NOT_FOUND
        )));
        assert!(!unreachable(&DeliveryOutcome::Answered(StatusCode::OK)));
        assert!(!unreachable(&DeliveryOutcome::Answered(
            StatusCode::PRECONDITION_FAILED
        )));
        assert!(!unreachable(&DeliveryOutcome::Superseded));
    }

    #[test]
    fn own_side_failures_are_not_held_against_the_call_back() {
        let failed = |r| engine_outcome(&DeliveryOutcome::Failed(r));
        for r in [
            FailureReason::QueueFull,
            FailureReason::TooManyDestinations,
            FailureReason::Expired,
            FailureReason::ShuttingDown,
        ] {
            assert_eq!(failed(r.clone()), Some(Outcome::NotSent), "{r:?}");
        }
        for r in [
            FailureReason::ConnectTimeout,
            FailureReason::ResponseTimeout,
            FailureReason::ConnectionClosed,
            FailureReason::Connect(std::io::ErrorKind::ConnectionRefused),
        ] {
            assert_eq!(failed(r.clone()), Some(Outcome::Failed), "{r:?}");
        }
        assert_eq!(
            engine_outcome(&DeliveryOutcome::Answered(StatusCode::OK)),
            Some(Outcome::Delivered)
        );
        assert_eq!(
            engine_outcome(&DeliveryOutcome::Answered(StatusCode::NOT_FOUND)),
            Some(Outcome::Failed)
        );
    }
}
