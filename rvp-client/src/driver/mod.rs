//! The tokio driver (feature `tokio`): a [`Session`] on real sockets.
//!
//! ```text
//!  Client::connect ─ resolve alias@domain (rvp-resolve; or ClientConfig::server)
//!     │             ─ first TCP connection → the local IP the server sees
//!     │             ─ call-back listener on that IP ─► Call-Back: http://ip:port
//!     ▼
//!  one task per client ("the loop") owns the Session:
//!     commands (Handle) ──► Session actions            Session::poll_event ──► Client::next_event
//!     Session::poll_transmit ──► lane task (Control) ──┐  keep-alive TCP, Digest with a reused
//!                            └─► lane task (Messages) ─┤  nonce and increasing nc, 302 followed
//!     lane answers ──► Session::handle_response ◄──────┘  and remembered (1 h)
//!     call-back listener ──NOTIFY bytes──► Session::handle_notify_bytes ──► answer written back
//!     Session::poll_timeout ──► sleep ──► Session::handle_timeout
//!     Event::Disconnected ──► back-off (1 s, 2 s, … ≤ 60 s; at most 10 tries) ──► sign_on again
//! ```
//!
//! The loop never waits on the network itself: lanes and call-back connections are tasks
//! of their own, so a slow answer never delays the answer to a NOTIFY. No thread per
//! client: thousands of clients can share one runtime.
//!
//! ```no_run
//! use rvp_client::driver::{Client, ClientConfig};
//! use rvp_client::Event;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ClientConfig::new("alice@localhost".parse()?, "alice-demo")?;
//! config.server = Some("127.0.0.1:8080".parse()?); // the demo server; else DNS
//! let mut client = Client::connect(config).await?;
//! while let Some(event) = client.next_event().await {
//!     match event {
//!         Event::Message { from, text, .. } => {
//!             client.handle().send_message(&from, &format!("you said: {text}")).await?;
//!         }
//!         Event::SignedOff => break,
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

mod callback;
mod dns;
mod http;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rvp_proto::PresenceState;
use rvp_proto::codec::Limits;
use rvp_proto::url::{LocalNodeUrl, LogicalUrl, UrlError};
use rvp_resolve::{Address, AddressError, Resolve, ResolveError, Resolver};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use dns::SystemDns;

use crate::config::{ConfigError, SessionConfig};
use crate::event::{Event, Failure};
use crate::request::{AclRule, Lane, RequestId};
use crate::session::{Phase, Session, SessionError};

/// How a [`Client`] connects. Build with [`ClientConfig::new`] and change fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The sign-in address, `alias@domain`.
    pub address: Address,
    /// The Digest username. Default: the alias (PROTOCOL.md §8.1: never `alias@domain`).
    pub username: String,
    /// The password.
    pub password: String,
    /// Connect here instead of resolving the domain (tests, a server on a loopback port).
    /// The identity stays `http://<domain>/instmsg/aliases/<alias>`. Default `None`.
    pub server: Option<SocketAddr>,
    /// The session's settings (watch list, state, lifetimes, limits...). Its `me` is set
    /// from the address (and from the SRV target when resolution names one).
    pub session: SessionConfig,
    /// IP address of the call-back listener. Default `None`: the local address of the
    /// first connection to the server (the address the server sees, which it requires of
    /// an IP call-back, PROTOCOL.md §2.1).
    pub callback_ip: Option<IpAddr>,
    /// Port of the call-back listener. Default 0 (any free port).
    pub callback_port: u16,
    /// Most call-back connections open at once; more are answered `503`. Default 64.
    pub callback_max_connections: usize,
    /// A call-back connection idle (or a write, or the session's answer) this long is
    /// closed. Default 30 s.
    pub callback_idle_timeout: Duration,
    /// Limits on answers read and NOTIFYs received. Default [`Limits::default`].
    pub limits: Limits,
    /// Connecting to the server. Default 5 s.
    pub connect_timeout: Duration,
    /// Waiting for one answer. Default 40 s (longer than the server's 30 s delivery
    /// timeout of deep-acknowledged messages).
    pub request_timeout: Duration,
    /// Redirects followed in a row. Default 5 (PROTOCOL.md §7.5).
    pub max_redirects: usize,
    /// How long a redirect is remembered. Default 1 h (PROTOCOL.md §7.1).
    pub redirect_ttl: Duration,
    /// Most redirects remembered. Default 256.
    pub max_routes: usize,
    /// First delay before signing on again after a disconnection; doubled each time.
    /// Default 1 s.
    pub reconnect_delay: Duration,
    /// Longest delay between sign-on attempts. Default 60 s.
    pub max_reconnect_delay: Duration,
    /// Sign-on attempts in a row after a disconnection before giving up. Default 10.
    pub max_reconnect_attempts: u32,
    /// Events buffered for [`Client::next_event`]. Default 1 024 (beyond it they wait in
    /// the session's own bounded queue).
    pub event_capacity: usize,
    /// Commands buffered for the loop. Default 256.
    pub command_capacity: usize,
    /// Longest wait for sign-off to finish in [`Client::sign_off`]. Default 10 s.
    pub sign_off_timeout: Duration,
}

impl ClientConfig {
    /// The defaults for `address` and `password` (see each field); an error only when the
    /// address makes no logical URL.
    pub fn new(address: Address, password: impl Into<String>) -> Result<ClientConfig, UrlError> {
        let me = address.logical_url()?;
        Ok(ClientConfig {
            username: address.alias().to_owned(),
            address,
            password: password.into(),
            server: None,
            session: SessionConfig::new(me),
            callback_ip: None,
            callback_port: 0,
            callback_max_connections: 64,
            callback_idle_timeout: Duration::from_secs(30),
            limits: Limits::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(40),
            max_redirects: 5,
            redirect_ttl: Duration::from_secs(3600),
            max_routes: 256,
            reconnect_delay: Duration::from_secs(1),
            max_reconnect_delay: Duration::from_secs(60),
            max_reconnect_attempts: 10,
            event_capacity: 1024,
            command_capacity: 256,
            sign_off_timeout: Duration::from_secs(10),
        })
    }
}

impl ClientConfig {
    /// Refuses delays beyond [`crate::MAX_DELAY`] and zero capacities.
    fn check(&self) -> Result<(), ConfigError> {
        for (name, d) in [
            ("reconnect_delay", self.reconnect_delay),
            ("max_reconnect_delay", self.max_reconnect_delay),
            ("redirect_ttl", self.redirect_ttl),
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("callback_idle_timeout", self.callback_idle_timeout),
            ("sign_off_timeout", self.sign_off_timeout),
        ] {
            if d > crate::MAX_DELAY {
                return Err(ConfigError::TooLong(name));
            }
        }
        for (name, n) in [
            ("callback_max_connections", self.callback_max_connections),
            ("max_routes", self.max_routes),
            ("event_capacity", self.event_capacity),
            ("command_capacity", self.command_capacity),
        ] {
            if n == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(())
    }
}

/// Why a client could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The address is not `alias@domain`.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// The domain could not be resolved.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A URL could not be built.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The session configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No server address accepted a connection.
    #[error("cannot connect to the server: {0}")]
    Connect(String),
    /// The call-back listener could not be opened.
    #[error("cannot open the call-back listener: {0}")]
    Listen(std::io::Error),
    /// The session refused an action.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Sign-on failed for good (credentials, refusal).
    #[error("sign-on failed: {0}")]
    SignOnFailed(Failure),
    /// The connection was lost and every reconnection attempt failed.
    #[error("gave up after {attempts} sign-on attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: Failure,
    },
    /// The client has stopped.
    #[error("the client has stopped")]
    Closed,
    /// Sign-off did not finish in time.
    #[error("sign-off did not finish in time")]
    Timeout,
}

type Job = Box<dyn FnOnce(&mut Session, Instant) + Send>;

enum Command {
    Run(Job),
    SignOff,
}

/// Sends commands to a running client; cheap to clone. When the [`Client`] and every
/// handle are dropped, the client signs off.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

/// What the loop knows about a watched principal (an owned [`crate::Buddy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuddyInfo {
    /// The principal.
    pub who: LogicalUrl,
    /// Its last known state.
    pub state: Option<PresenceState>,
    /// Its display name.
    pub display_name: Option<String>,
    /// Whether the watch is in place.
    pub watching: bool,
}

impl Handle {
    /// Runs `f` on the session inside the loop and returns its result (any action of
    /// [`Session`] is available this way).
    pub async fn with_session<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session, Instant) -> T + Send + 'static,
    ) -> Result<T, ClientError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |s, now| {
            let _ = tx.send(f(s, now));
        });
        self.tx
            .send(Command::Run(job))
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)
    }

    async fn act<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session, Instant) -> Result<T, SessionError> + Send + 'static,
    ) -> Result<T, ClientError> {
        Ok(self.with_session(f).await??)
    }

    /// [`Session::send_message`].
    pub async fn send_message(
        &self,
        to: &LogicalUrl,
        text: &str,
    ) -> Result<RequestId, ClientError> {
        let (to, text) = (to.clone(), text.to_owned());
        self.act(move |s, now| s.send_message(now, &to, &text))
            .await
    }

    /// [`Session::send_typing`].
    pub async fn send_typing(&self, to: &LogicalUrl) -> Result<RequestId, ClientError> {
        let to = to.clone();
        self.act(move |s, now| s.send_typing(now, &to)).await
    }

    /// [`Session::leave`].
    pub async fn leave(&self, to: &LogicalUrl) -> Result<RequestId, ClientError> {
        let to = to.clone();
        self.act(move |s, now| s.leave(now, &to)).await
    }

    /// [`Session::set_state`].
    pub async fn set_state(&self, state: PresenceState) -> Result<RequestId, ClientError> {
        self.act(move |s, now| s.set_state(now, state)).await
    }

    /// [`Session::watch`].
    pub async fn watch(&self, who: &LogicalUrl) -> Result<(), ClientError> {
        let who = who.clone();
        self.act(move |s, now| s.watch(now, who)).await
    }

    /// [`Session::unwatch`].
    pub async fn unwatch(&self, who: &LogicalUrl) -> Result<(), ClientError> {
        let who = who.clone();
        self.act(move |s, now| s.unwatch(now, &who)).await
    }

    /// [`Session::write_rule`]: allow, block or clear.
    pub async fn set_rule(
        &self,
        who: &LogicalUrl,
        rule: AclRule,
    ) -> Result<RequestId, ClientError> {
        let who = who.clone();
        self.act(move |s, now| s.write_rule(now, &who, rule)).await
    }

    /// The watch list with what is known about each principal.
    pub async fn buddies(&self) -> Result<Vec<BuddyInfo>, ClientError> {
        self.with_session(|s, _| {
            s.buddies()
                .map(|b| BuddyInfo {
                    who: b.who.clone(),
                    state: b.state.cloned(),
                    display_name: b.display_name.map(str::to_owned),
                    watching: b.watching,
                })
                .collect()
        })
        .await
    }

    /// Asks the client to sign off ([`Event::SignedOff`] follows, then the events end).
    pub async fn sign_off(&self) -> Result<(), ClientError> {
        self.tx
            .send(Command::SignOff)
            .await
            .map_err(|_| ClientError::Closed)
    }
}

/// A running client: one [`Session`] on tokio.
#[derive(Debug)]
pub struct Client {
    handle: Handle,
    events: mpsc::Receiver<Event>,
    task: Option<JoinHandle<Result<(), ClientError>>>,
    me: LogicalUrl,
    callback: SocketAddr,
    sign_off_timeout: Duration,
}

impl Client {
    /// Connects with the operating system's resolver (address records only: without
    /// [`ClientConfig::server`], the domain's own address on port 80; see
    /// [`Client::connect_with`] for SRV) and starts signing on.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        Client::connect_with(config, Resolver::new(SystemDns)).await
    }

    /// Connects, resolving the domain with `resolver` unless [`ClientConfig::server`] is
    /// set, and starts signing on. Returns once the call-back listener is open and the
    /// server accepted a connection; [`Event::SignedOn`] follows.
    pub async fn connect_with<R: Resolve + Send + Sync + 'static>(
        mut config: ClientConfig,
        resolver: Resolver<R>,
    ) -> Result<Client, ClientError> {
        config.check()?;
        let resolver = Arc::new(resolver);
        let home: Vec<SocketAddr> = match config.server {
            Some(addr) => vec![addr],
            None => {
                let resolution = resolver.resolve(&config.address).await?;
                let mut addrs = Vec::new();
                for target in resolution.plan.targets() {
                    if let Ok(ips) = resolver.addresses(&target.host).await {
                        addrs.extend(ips.into_iter().map(|ip| SocketAddr::new(ip, target.port)));
                    }
                }
                if config.session.me != resolution.logical_url {
                    config.session.me = resolution.logical_url.clone();
                }
                if addrs.is_empty() {
                    return Err(ClientError::Connect(format!(
                        "no address for any server of {}",
                        config.address.domain()
                    )));
                }
                addrs
            }
        };
        // The first connection: proves the server is there and tells the local address.
        let mut first = None;
        let mut last = String::from("no address");
        for addr in &home {
            match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    first = Some(s);
                    break;
                }
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: connect timed out"),
            }
        }
        let first = first.ok_or(ClientError::Connect(last))?;
        let _ = first.set_nodelay(true);
        let local_ip = match config.callback_ip {
            Some(ip) => ip,
            None => first
                .local_addr()
                .map_err(|e| ClientError::Connect(e.to_string()))?
                .ip(),
        };
        let listener = TcpListener::bind(SocketAddr::new(local_ip, config.callback_port))
            .await
            .map_err(ClientError::Listen)?;
        let callback = listener.local_addr().map_err(ClientError::Listen)?;
        let host = match callback.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let callback_url = LocalNodeUrl::new(&host, callback.port())?;

        let mut session_config = config.session.clone();
        if session_config.seed == 0 {
            session_config.seed = random_seed();
        }
        let me = session_config.me.clone();
        let session = Session::new(session_config)?;

        let shared = Arc::new(http::Shared::new(
            config.clone(),
            home,
            dns::HostLookup::new(Arc::clone(&resolver)),
        ));
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (messages_tx, messages_rx) = mpsc::unbounded_channel();
        let (outcome_tx, outcome_rx) = mpsc::unbounded_channel();
        tokio::spawn(
            http::Lane::new(Arc::clone(&shared), Some(first), random_seed())
                .run(control_rx, outcome_tx.clone()),
        );
        tokio::spawn(http::Lane::new(shared, None, random_seed()).run(messages_rx, outcome_tx));
        let (notify_tx, notify_rx) = mpsc::channel(config.callback_max_connections.max(1));
        tokio::spawn(callback::serve(
            listener,
            Arc::new(config.clone()),
            notify_tx,
        ));
        let (cmd_tx, cmd_rx) = mpsc::channel(config.command_capacity.max(1));
        let (event_tx, event_rx) = mpsc::channel(config.event_capacity.max(1));
        let sign_off_timeout = config.sign_off_timeout;
        let looper = Loop {
            session,
            config,
            callback: callback_url,
            control: control_tx,
            messages: messages_tx,
            leaving: false,
            reconnect_at: None,
            attempts: 0,
            fatal: None,
        };
        let task = tokio::spawn(looper.run(event_tx, cmd_rx, outcome_rx, notify_rx));
        Ok(Client {
            handle: Handle { tx: cmd_tx },
            events: event_rx,
            task: Some(task),
            me,
            callback,
            sign_off_timeout,
        })
    }

    /// The principal signed on.
    pub fn me(&self) -> &LogicalUrl {
        &self.me
    }

    /// The call-back listener's address.
    pub fn callback_addr(&self) -> SocketAddr {
        self.callback
    }

    /// A handle for commands (clone it into other tasks).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The next event; `None` once the client has stopped (signed off, sign-on failed,
    /// or gave up reconnecting: [`Client::finish`] says which).
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Signs off and waits (at most [`ClientConfig::sign_off_timeout`]) until it is done.
    pub async fn sign_off(mut self) -> Result<(), ClientError> {
        let timeout = self.sign_off_timeout;
        let _ = self.handle.sign_off().await;
        let drained = tokio::time::timeout(timeout, async {
            while self.events.recv().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            if let Some(task) = self.task.take() {
                task.abort();
            }
            return Err(ClientError::Timeout);
        }
        self.finish().await
    }

    /// Waits for the client's task to end and returns how it ended.
    pub async fn finish(mut self) -> Result<(), ClientError> {
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Err(ClientError::Closed)),
            None => Ok(()),
        }
    }
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: the clock is good enough for GUIDs and cnonces.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos());
        return u64::try_from(t & u128::from(u64::MAX)).unwrap_or(1) ^ 0x5DEE_CE66_D1CE_5EED;
    }
    u64::from_le_bytes(b)
}

/// The task that owns the session.
struct Loop {
    session: Session,
    config: ClientConfig,
    callback: LocalNodeUrl,
    control: mpsc::UnboundedSender<crate::Request>,
    messages: mpsc::UnboundedSender<crate::Request>,
    /// Sign-off was asked for (or every handle is gone).
    leaving: bool,
    reconnect_at: Option<Instant>,
    attempts: u32,
    fatal: Option<ClientError>,
}

impl Loop {
    async fn run(
        mut self,
        events: mpsc::Sender<Event>,
        mut commands: mpsc::Receiver<Command>,
        mut outcomes: mpsc::UnboundedReceiver<http::Outcome>,
        mut notifies: mpsc::Receiver<callback::Received>,
    ) -> Result<(), ClientError> {
        self.session
            .sign_on(Instant::now(), self.callback.clone())?;
        loop {
            self.flush();
            self.supervise();
            if let Some(e) = self.fatal.take() {
                self.drain_events(&events);
                return Err(e);
            }
            if self.session.phase() == Phase::SignedOff && !self.session.has_events() {
                return Ok(());
            }
            let deadline = [self.session.poll_timeout(), self.reconnect_at]
                .into_iter()
                .flatten()
                .min();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            let has_events = self.session.has_events();
            tokio::select! {
                permit = events.reserve(), if has_events => {
                    match permit {
                        Ok(permit) => {
                            if let Some(event) = self.session.poll_event() {
                                permit.send(event);
                            }
                        }
                        // Nobody listens: drop the events (the session still runs).
                        Err(_) => while self.session.poll_event().is_some() {},
                    }
                }
                command = commands.recv(), if !self.leaving => match command {
                    Some(Command::Run(job)) => job(&mut self.session, Instant::now()),
                    Some(Command::SignOff) | None => self.leave(),
                },
                Some((id, result)) = outcomes.recv() => {
                    let now = Instant::now();
                    match result {
                        Ok(reply) => self.session.handle_response(now, id, &reply),
                        Err(e) => self.session.handle_failure(now, id, e),
                    }
                }
                Some((bytes, answer)) = notifies.recv() => {
                    let a = self.session.handle_notify_bytes(Instant::now(), &bytes);
                    let _ = answer.send(a);
                }
                () = sleep => {
                    let now = Instant::now();
                    if self.reconnect_at.is_some_and(|t| now >= t) {
                        self.reconnect_at = None;
                        let _ = self.session.sign_on(now, self.callback.clone());
                    }
                    self.session.handle_timeout(now);
                }
            }
        }
    }

    fn leave(&mut self) {
        self.leaving = true;
        self.reconnect_at = None;
        let _ = self.session.sign_off(Instant::now());
    }

    /// Hands the session's requests to their lanes.
    fn flush(&mut self) {
        while let Some(request) = self.session.poll_transmit() {
            let lane = match request.lane() {
                Lane::Messages => &self.messages,
                _ => &self.control,
            };
            if let Err(e) = lane.send(request) {
                let id = e.0.id();
                self.session.handle_failure(
                    Instant::now(),
                    id,
                    crate::TransportError::Io("the lane has stopped".into()),
                );
            }
        }
    }

    /// Reacts to where the session is: reconnection with back-off, the end.
    fn supervise(&mut self) {
        match self.session.phase() {
            Phase::SignedOn => self.attempts = 0,
            Phase::Disconnected if self.leaving => {
                let _ = self.session.sign_off(Instant::now());
            }
            Phase::Disconnected if self.reconnect_at.is_none() => {
                self.attempts += 1;
                let last = self
                    .session
                    .last_failure()
                    .cloned()
                    .unwrap_or(Failure::Protocol("disconnected".into()));
                if self.attempts > self.config.max_reconnect_attempts {
                    self.fatal = Some(ClientError::GaveUp {
                        attempts: self.attempts - 1,
                        last,
                    });
                    return;
                }
                let factor = 1u32 << (self.attempts - 1).min(16);
                let delay = self.config.reconnect_delay.saturating_mul(factor).min(
                    self.config
                        .max_reconnect_delay
                        .max(self.config.reconnect_delay),
                );
                self.reconnect_at = Some(Instant::now() + delay);
            }
            Phase::SignedOff if !self.leaving && self.fatal.is_none() => {
                let last = self
                    .session
                    .last_failure()
                    .cloned()
                    .unwrap_or(Failure::Protocol("signed off".into()));
                self.fatal = Some(ClientError::SignOnFailed(last));
            }
            _ => {}
        }
    }

    /// Passes the remaining events on, as far as the channel has room.
    fn drain_events(&mut self, events: &mpsc::Sender<Event>) {
        while let Ok(permit) = events.try_reserve() {
            match self.session.poll_event() {
                Some(event) => permit.send(event),
                None => break,
            }
        }
    }
}
