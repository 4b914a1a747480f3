//! G8: simulated users online on one `rvp-server`, each a [`rvp_client::Session`] driven
//! by this process, with a state change every few minutes and occasional instant
//! messages; latency from a state change to each watcher's NOTIFY, server memory per user.
//!
//! # How the users are driven
//!
//! No thread and no task per user. Users are spread over `ips` shards, one per loopback
//! source address `127.0.x.y`; a shard is one tokio task owning its users' sessions (the
//! sans-IO core) and their Digest state, and talks to the server through a few keep-alive
//! connections per lane bound to its address (`conns` for the control lane, `conns` for
//! messages, as `rvp-client`'s driver keeps the two lanes apart; every user's requests
//! of one lane use the same connection, so they arrive in order and their Digest nonce
//! counts rise).
//!
//! # Call-back destinations
//!
//! A user's login call-back is a listener on its shard's address (`http://127.0.x.y:<port>`,
//! the address its requests come from, as the server requires of IP call-backs). The
//! server opens one delivery connection per call-back destination, as it would to one
//! client machine per user, and sends one NOTIFY at a time on it. With `callbacks` ≥
//! users each user has a listener of its own. This machine caps every process at 20,000
//! open files (hard limit, no `CAP_SYS_RESOURCE`), which neither this driver (one
//! listener and up to one delivery connection per destination) nor the server (up to one
//! delivery connection per destination) can pass: above `callbacks` users share
//! listeners, several users' logins naming the same call-back URL, like users sharing a
//! machine. The listener tells them apart by the NOTIFY's `Subscription-Id`, which the
//! server sets to the recipient's login subscription (learnt from the login's answer).
//! Accepting and reading a NOTIFY is a small task per connection; the NOTIFY itself is
//! handed to the shard, whose session answers it.
//!
//! # The scenario
//!
//! Users `u0`..`u{n-1}` (password Digest, `require_auth = true`), each watching
//! `contacts` others at fixed offsets (`u(i + off_k) mod n`), so each user is watched by
//! exactly `contacts` users. Sign-on is the client's full sequence (login SUBSCRIBE with
//! Digest, PROPPATCH, PROPFIND, SUBSCRIPTIONS, ACL, self-watch, then one SUBSCRIBE per
//! contact), at most `window` users signing on at once per shard; a user counts as on
//! when its last watch is answered. Then for `steady`
//! seconds each user changes state as a Poisson process with mean `change_every` and
//! sends an instant message to a random contact with mean `im_every`. Latency of a change
//! = from the call to `Session::set_state` to the instant a watcher's call-back has the
//! whole NOTIFY carrying it; every (change, watcher) pair counts once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rvp_client::digest::{Challenge, DigestAuth};
use rvp_client::{
    Event, Lane, Phase, Reply, Request, RequestId, RequestKind, Session, SessionConfig,
};
use rvp_client::{TransportError, Warning};
use rvp_proto::PresenceState;
use rvp_proto::codec::{RequestParser, Status};
use rvp_proto::url::{LocalNodeUrl, LogicalUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::net::{self, Conn};
use crate::server::{self, Server};
use crate::stats::{Rng, Samples};

/// The states a user cycles through (index 0 is the state at sign-on).
const STATES: [PresenceState; 5] = [
    PresenceState::Online,
    PresenceState::Busy,
    PresenceState::Away,
    PresenceState::OnPhone,
    PresenceState::AtLunch,
];
/// A call-back connection with nothing to read for this long is closed (the server's
/// delivery workers close theirs after 5 s idle).
const CALLBACK_IDLE: Duration = Duration::from_secs(30);
/// After the steady phase, how long NOTIFYs and message answers may still arrive.
const DRAIN: Duration = Duration::from_secs(10);
/// Low 56 bits of a change stamp: microseconds since the epoch.
const MICROS: u64 = (1 << 56) - 1;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) users: usize,
    pub(crate) ips: usize,
    pub(crate) conns: usize,
    pub(crate) contacts: usize,
    pub(crate) change_every: Duration,
    pub(crate) im_every: Duration,
    pub(crate) steady: Duration,
    pub(crate) signon_timeout: Duration,
    pub(crate) window: usize,
    pub(crate) callbacks: usize,
    pub(crate) nofile: u64,
}

/// What one size measured.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) signed_on: usize,
    pub(crate) signon_failed: usize,
    pub(crate) signon_secs: f64,
    pub(crate) signon_server_cpu: f64,
    pub(crate) signon_driver_cpu: f64,
    pub(crate) rss_configured_kib: u64,
    pub(crate) rss_signed_on_kib: u64,
    pub(crate) rss_end_kib: u64,
    pub(crate) server_fds: usize,
    pub(crate) steady_secs: f64,
    pub(crate) server_cpu: f64,
    pub(crate) driver_cpu: f64,
    pub(crate) stats: Stats,
    pub(crate) metrics: Vec<String>,
}

/// Counters and samples of one shard, summed over shards.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) latency: Samples,
    pub(crate) changes: u64,
    pub(crate) notifies: u64,
    pub(crate) stale: u64,
    pub(crate) duplicate: u64,
    pub(crate) im_sent: u64,
    pub(crate) im_delivered: u64,
    pub(crate) im_failed: u64,
    pub(crate) im_latency: Samples,
    pub(crate) challenges: u64,
    pub(crate) transport_failures: u64,
    pub(crate) disconnected: u64,
    pub(crate) watch_failed: u64,
    pub(crate) warnings: u64,
    pub(crate) refused_actions: u64,
    pub(crate) unroutable: u64,
    pub(crate) lag: Samples,
    pub(crate) first_error: Option<String>,
}

impl Stats {
    fn add(&mut self, o: Stats) {
        self.latency.extend(o.latency);
        self.im_latency.extend(o.im_latency);
        self.lag.extend(o.lag);
        self.changes += o.changes;
        self.notifies += o.notifies;
        self.stale += o.stale;
        self.duplicate += o.duplicate;
        self.im_sent += o.im_sent;
        self.im_delivered += o.im_delivered;
        self.im_failed += o.im_failed;
        self.challenges += o.challenges;
        self.transport_failures += o.transport_failures;
        self.disconnected += o.disconnected;
        self.watch_failed += o.watch_failed;
        self.warnings += o.warnings;
        self.refused_actions += o.refused_actions;
        self.unroutable += o.unroutable;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
}

/// What every shard reads.
#[derive(Debug)]
struct Shared {
    epoch: Instant,
    users: usize,
    offsets: Vec<usize>,
    /// Per user: its last state change during the steady phase, `(state index + 1) << 56 |
    /// microseconds since epoch`; 0 = none.
    changes: Vec<AtomicU64>,
    /// Users with the login and every watch in place.
    signed_on: AtomicUsize,
    /// Users whose sign-on failed, or one of whose watches was refused.
    signon_failed: AtomicUsize,
    stop: AtomicBool,
}

/// The contact offsets: `contacts` distinct values in `1..users`.
fn offsets(users: usize, contacts: usize) -> Vec<usize> {
    let step = ((users - 1) / contacts).max(1);
    (0..contacts).map(|k| 1 + k * step).collect()
}

enum ToShard {
    Answer {
        user: u32,
        attempt: u8,
        request: Request,
        result: Result<Reply, TransportError>,
    },
    Notify {
        /// The NOTIFY's `Subscription-Id`: whose login it is delivered through.
        login: Option<String>,
        bytes: Vec<u8>,
        at: Instant,
        answer: oneshot::Sender<Vec<u8>>,
    },
    SignOnAll,
    Measure {
        until: Instant,
    },
    Report(oneshot::Sender<Stats>),
}

struct Job {
    user: u32,
    attempt: u8,
    request: Request,
    bytes: Vec<u8>,
}

struct User {
    session: Session,
    /// One Digest state per lane (each lane has its own connection, hence its own nonce
    /// count order), as in `rvp-client`'s driver.
    auth: [DigestAuth; 2],
    callback: LocalNodeUrl,
    timer: Option<Instant>,
    /// Watches placed (the own node not counted).
    watching: usize,
    /// Its sign-on ended (every watch placed, or a failure).
    done: bool,
    changes: u32,
    /// Per watched contact: the stamp of its change last counted (one count per change).
    seen: Box<[u64]>,
}

struct Shard {
    index: usize,
    shards: usize,
    shared: Arc<Shared>,
    options: Arc<Options>,
    users: Vec<User>,
    lanes: [Vec<mpsc::UnboundedSender<Job>>; 2],
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    actions: BinaryHeap<Reverse<(Instant, u32, bool)>>,
    ims: HashMap<(u32, RequestId), Instant>,
    /// Login subscription id → user, for NOTIFYs on shared call-backs.
    logins: HashMap<String, u32>,
    waiting: VecDeque<u32>,
    signing: usize,
    measure_until: Option<Instant>,
    rng: Rng,
    stats: Stats,
}

fn lane_index(lane: Lane) -> usize {
    match lane {
        Lane::Messages => 1,
        _ => 0,
    }
}

impl Shard {
    fn gid(&self, user: u32) -> usize {
        usize::try_from(user).unwrap_or(0) * self.shards + self.index
    }

    fn handle(&mut self, msg: ToShard) {
        let now = Instant::now();
        match msg {
            ToShard::Answer {
                user,
                attempt,
                request,
                result,
            } => {
                let i = usize::try_from(user).unwrap_or(0);
                match result {
                    Ok(reply) if reply.status == 401 => {
                        self.stats.challenges += 1;
                        let lane = lane_index(request.lane());
                        let challenge =
                            Challenge::select(reply.challenges.iter().map(String::as_str));
                        match challenge {
                            Ok(c) if attempt < 2 => {
                                self.users[i].auth[lane].accept_challenge(c);
                                self.send(user, request, attempt + 1, now);
                            }
                            _ => self.users[i].session.handle_failure(
                                now,
                                request.id(),
                                TransportError::AuthRejected,
                            ),
                        }
                    }
                    Ok(reply) => {
                        if matches!(request.kind(), RequestKind::Login | RequestKind::RenewLogin)
                            && reply.is_success()
                            && let Some(id) = &reply.subscription_id
                        {
                            self.logins.insert(id.as_str().to_owned(), user);
                        }
                        self.users[i]
                            .session
                            .handle_response(now, request.id(), &reply);
                    }
                    Err(e) => {
                        self.stats.transport_failures += 1;
                        if self.stats.first_error.is_none() {
                            self.stats.first_error = Some(format!("transport: {e}"));
                        }
                        self.users[i].session.handle_failure(now, request.id(), e);
                    }
                }
                self.flush(user, now, None);
            }
            ToShard::Notify {
                login,
                bytes,
                at,
                answer,
            } => {
                self.stats.notifies += 1;
                let Some(&user) = login.as_ref().and_then(|l| self.logins.get(l)) else {
                    // Not (yet) known: answered so that the server does not count the
                    // call-back as failing, and counted.
                    self.stats.unroutable += 1;
                    let _ = answer.send(rvp_client::NotifyAnswer::OK.to_bytes());
                    return;
                };
                let i = usize::try_from(user).unwrap_or(0);
                let a = self.users[i].session.handle_notify_bytes(now, &bytes);
                let _ = answer.send(a.to_bytes());
                self.flush(user, now, Some(at));
            }
            ToShard::SignOnAll => {
                self.waiting = (0..self.users.len())
                    .filter_map(|u| u32::try_from(u).ok())
                    .collect();
                self.start_sign_ons(now);
            }
            ToShard::Measure { until } => {
                // The steady phase's counters start from zero (the first problem seen is
                // kept).
                let first_error = self.stats.first_error.take();
                self.stats = Stats {
                    first_error,
                    ..Stats::default()
                };
                self.measure_until = Some(until);
                for u in 0..self.users.len() {
                    let Ok(user) = u32::try_from(u) else { continue };
                    let at = now + self.rng.exp(self.options.change_every);
                    self.actions.push(Reverse((at, user, false)));
                    if !self.options.im_every.is_zero() {
                        let at = now + self.rng.exp(self.options.im_every);
                        self.actions.push(Reverse((at, user, true)));
                    }
                }
            }
            ToShard::Report(tx) => {
                let _ = tx.send(std::mem::take(&mut self.stats));
            }
        }
    }

    fn start_sign_ons(&mut self, now: Instant) {
        while self.signing < self.options.window {
            let Some(user) = self.waiting.pop_front() else {
                return;
            };
            let u = &mut self.users[usize::try_from(user).unwrap_or(0)];
            let callback = u.callback.clone();
            if u.session.sign_on(now, callback).is_ok() {
                self.signing += 1;
            }
            self.flush(user, now, None);
        }
    }

    fn send(&mut self, user: u32, request: Request, attempt: u8, now: Instant) {
        let lane = lane_index(request.lane());
        let u = &mut self.users[usize::try_from(user).unwrap_or(0)];
        let cnonce = u.session.cnonce();
        let authorization = match u.auth[lane].authorization(
            request.method().as_str(),
            request.target(),
            &cnonce,
        ) {
            Ok(a) => a,
            Err(e) => {
                u.session.handle_failure(
                    now,
                    request.id(),
                    TransportError::AuthUnsupported(e.to_string()),
                );
                return;
            }
        };
        let mut bytes = Vec::with_capacity(512 + request.body_bytes().len());
        request.write(authorization.as_deref(), &mut bytes);
        let conns = &self.lanes[lane];
        let conn = &conns[usize::try_from(user).unwrap_or(0) % conns.len()];
        let _ = conn.send(Job {
            user,
            attempt,
            request,
            bytes,
        });
    }

    /// Sends what the session has to send, takes its events, re-arms its timer.
    fn flush(&mut self, user: u32, now: Instant, notify_at: Option<Instant>) {
        let i = usize::try_from(user).unwrap_or(0);
        loop {
            while let Some(request) = self.users[i].session.poll_transmit() {
                self.send(user, request, 0, now);
            }
            let Some(event) = self.users[i].session.poll_event() else {
                break;
            };
            self.event(user, event, now, notify_at);
        }
        let t = self.users[i].session.poll_timeout();
        if t != self.users[i].timer {
            self.users[i].timer = t;
            if let Some(t) = t {
                self.timers.push(Reverse((t, user)));
            }
        }
    }

    fn event(&mut self, user: u32, event: Event, now: Instant, notify_at: Option<Instant>) {
        match event {
            Event::Watching { .. } => {
                // Signed on once the last watch is in place (the session reports SignedOn
                // before it places the watches).
                let u = &mut self.users[usize::try_from(user).unwrap_or(0)];
                u.watching += 1;
                if u.watching == self.shared.offsets.len() {
                    self.done(user, true, now);
                }
            }
            Event::SignOnFailed { reason } => {
                if self.stats.first_error.is_none() {
                    self.stats.first_error = Some(format!("sign-on failed: {reason}"));
                }
                self.done(user, false, now);
            }
            Event::Presence { who, state } => {
                if let Some(at) = notify_at {
                    self.presence(user, &who, &state, at);
                }
            }
            Event::Delivered { id, .. } => {
                if let Some(sent) = self.ims.remove(&(user, id)) {
                    self.stats.im_delivered += 1;
                    self.stats
                        .im_latency
                        .push(now.saturating_duration_since(sent));
                }
            }
            Event::NotDelivered { id, reason, .. } if self.ims.remove(&(user, id)).is_some() => {
                self.stats.im_failed += 1;
                if self.stats.first_error.is_none() {
                    self.stats.first_error = Some(format!("IM not delivered: {reason:?}"));
                }
            }
            Event::Disconnected { .. } => self.stats.disconnected += 1,
            Event::WatchFailed { reason, .. } => {
                self.stats.watch_failed += 1;
                if self.stats.first_error.is_none() {
                    self.stats.first_error = Some(format!("watch failed: {reason}"));
                }
                self.done(user, false, now);
            }
            Event::Warning(w) => {
                self.stats.warnings += 1;
                if self.stats.first_error.is_none() && !matches!(w, Warning::BadNotify(_)) {
                    self.stats.first_error = Some(format!("warning: {w:?}"));
                }
            }
            _ => {}
        }
    }

    /// The sign-on of `user` ended (once per user): the next one may start.
    fn done(&mut self, user: u32, ok: bool, now: Instant) {
        let u = &mut self.users[usize::try_from(user).unwrap_or(0)];
        if u.done {
            return;
        }
        u.done = true;
        let counter = if ok {
            &self.shared.signed_on
        } else {
            &self.shared.signon_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.signing = self.signing.saturating_sub(1);
        self.start_sign_ons(now);
    }

    /// A watcher's NOTIFY said `who` is in `state`: counts it against `who`'s last change.
    fn presence(&mut self, user: u32, who: &LogicalUrl, state: &PresenceState, at: Instant) {
        let Some(who) = server::index_of(who.alias()) else {
            return;
        };
        let me = self.gid(user);
        let n = self.shared.users;
        let Some(k) = self.shared.offsets.iter().position(|o| (me + o) % n == who) else {
            return;
        };
        let stamp = self.shared.changes[who].load(Ordering::Acquire);
        if stamp == 0 {
            return;
        }
        let state_index = usize::try_from(stamp >> 56).unwrap_or(0);
        if state_index == 0 || STATES.get(state_index - 1) != Some(state) {
            self.stats.stale += 1;
            return;
        }
        let u = &mut self.users[usize::try_from(user).unwrap_or(0)];
        if u.seen[k] == stamp {
            self.stats.duplicate += 1;
            return;
        }
        u.seen[k] = stamp;
        let changed = self.shared.epoch + Duration::from_micros(stamp & MICROS);
        self.stats
            .latency
            .push(at.saturating_duration_since(changed));
    }

    fn tick(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((t, user))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let i = usize::try_from(user).unwrap_or(0);
            if self.users[i].timer == Some(t) {
                self.users[i].timer = None;
                self.users[i].session.handle_timeout(now);
                self.flush(user, now, None);
            }
        }
        let Some(until) = self.measure_until else {
            return;
        };
        while let Some(Reverse((due, user, im))) = self.actions.peek().copied() {
            if due > now {
                break;
            }
            self.actions.pop();
            if due >= until || self.shared.stop.load(Ordering::Relaxed) {
                continue;
            }
            self.stats.lag.push(now.saturating_duration_since(due));
            if im {
                self.message(user, now);
                let next = now + self.rng.exp(self.options.im_every);
                self.actions.push(Reverse((next, user, true)));
            } else {
                self.change(user, now);
                let next = now + self.rng.exp(self.options.change_every);
                self.actions.push(Reverse((next, user, false)));
            }
        }
    }

    fn change(&mut self, user: u32, now: Instant) {
        let gid = self.gid(user);
        let u = &mut self.users[usize::try_from(user).unwrap_or(0)];
        if u.session.phase() != Phase::SignedOn {
            self.stats.refused_actions += 1;
            return;
        }
        u.changes += 1;
        let index = 1 + usize::try_from(u.changes - 1).unwrap_or(0) % (STATES.len() - 1);
        let micros =
            u64::try_from(now.duration_since(self.shared.epoch).as_micros()).unwrap_or(MICROS);
        let stamp = (u64::try_from(index + 1).unwrap_or(0) << 56) | (micros & MICROS);
        self.shared.changes[gid].store(stamp, Ordering::Release);
        if u.session.set_state(now, STATES[index].clone()).is_ok() {
            self.stats.changes += 1;
        } else {
            self.shared.changes[gid].store(0, Ordering::Release);
            self.stats.refused_actions += 1;
        }
        self.flush(user, now, None);
    }

    fn message(&mut self, user: u32, now: Instant) {
        let gid = self.gid(user);
        let k = self.rng.below(self.shared.offsets.len());
        let to = (gid + self.shared.offsets[k]) % self.shared.users;
        let Ok(to) = server::url(to).parse::<LogicalUrl>() else {
            return;
        };
        let u = &mut self.users[usize::try_from(user).unwrap_or(0)];
        match u
            .session
            .send_message(now, &to, "capacity bench: are you there?")
        {
            Ok(id) => {
                self.stats.im_sent += 1;
                self.ims.insert((user, id), now);
            }
            Err(_) => self.stats.refused_actions += 1,
        }
        self.flush(user, now, None);
    }
}

async fn shard_task(mut shard: Shard, mut rx: mpsc::UnboundedReceiver<ToShard>) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(m) => shard.handle(m),
                None => return,
            },
            _ = tick.tick() => shard.tick(),
        }
    }
}

/// One connection of a lane: jobs in order, one at a time; a kept-alive connection the
/// server closed while idle is replaced once.
async fn lane_conn(
    ip: IpAddr,
    server: SocketAddr,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    to_shard: mpsc::UnboundedSender<ToShard>,
) {
    let mut conn: Option<Conn> = None;
    while let Some(job) = jobs.recv().await {
        let result = round_trip(&mut conn, ip, server, &job.bytes).await;
        let answer = ToShard::Answer {
            user: job.user,
            attempt: job.attempt,
            request: job.request,
            result,
        };
        if to_shard.send(answer).is_err() {
            return;
        }
    }
}

async fn round_trip(
    conn: &mut Option<Conn>,
    ip: IpAddr,
    server: SocketAddr,
    bytes: &[u8],
) -> Result<Reply, TransportError> {
    for attempt in 0..2 {
        let reused = conn.is_some();
        let c = match conn {
            Some(c) => c,
            None => conn.insert(
                Conn::open(ip, server)
                    .await
                    .map_err(|e| TransportError::Connect(e.to_string()))?,
            ),
        };
        match c.exchange(bytes, false).await {
            Ok((reply, _)) => {
                if reply.closes {
                    *conn = None;
                }
                return Ok(reply);
            }
            Err(e) => {
                *conn = None;
                if !(reused && e.nothing_read && attempt == 0) {
                    return Err(TransportError::Io(e.error.to_string()));
                }
            }
        }
    }
    Err(TransportError::Io("connection closed".into()))
}

/// A login call-back (one user's, or shared): accepts the server's delivery connections.
async fn accept_loop(listener: TcpListener, to_shard: mpsc::UnboundedSender<ToShard>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(callback_conn(stream, to_shard.clone()));
    }
}

/// One delivery connection: each NOTIFY is handed to its recipient's session (found by
/// the login's `Subscription-Id`), which answers.
async fn callback_conn(mut stream: TcpStream, to_shard: mpsc::UnboundedSender<ToShard>) {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    let mut parser = RequestParser::default();
    loop {
        let framed = match parser.parse(&buf) {
            Ok(Status::Complete(m)) => Some((
                m.consumed(),
                m.head()
                    .headers()
                    .get_str("subscription-id")
                    .map(|s| s.trim().to_owned()),
            )),
            Ok(Status::Partial) => None,
            Err(_) => return,
        };
        if let Some((used, login)) = framed {
            let at = Instant::now();
            let bytes: Vec<u8> = buf.drain(..used).collect();
            let (tx, rx) = oneshot::channel();
            let notify = ToShard::Notify {
                login,
                bytes,
                at,
                answer: tx,
            };
            if to_shard.send(notify).is_err() {
                return;
            }
            let Ok(Ok(answer)) = tokio::time::timeout(CALLBACK_IDLE, rx).await else {
                return;
            };
            if stream.write_all(&answer).await.is_err() {
                return;
            }
            continue;
        }
        match tokio::time::timeout(CALLBACK_IDLE, stream.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// Runs one size: starts a server with `options.users` users, signs them all on, runs the
/// steady phase, reports.
pub(crate) fn run(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    options: &Options,
) -> io::Result<Outcome> {
    let n = options.users;
    if n <= options.contacts {
        return Err(io::Error::other(format!(
            "G8 needs more users ({n}) than contacts ({})",
            options.contacts
        )));
    }
    let shards = options.ips.min(n).max(1);
    let server = server::start(
        bin,
        dir,
        &server::Options {
            users: n,
            require_auth: true,
            max_connections: shards * 2 * options.conns + 1024,
            max_connections_per_ip: 2 * options.conns + 64,
            idle_timeout: "60s",
            nofile: options.nofile,
        },
    )?;
    let mut out = Outcome::default();
    std::thread::sleep(Duration::from_secs(1));
    out.rss_configured_kib = server.rss_kib();
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        users: n,
        offsets: offsets(n, options.contacts),
        changes: (0..n).map(|_| AtomicU64::new(0)).collect(),
        signed_on: AtomicUsize::new(0),
        signon_failed: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let opts = Arc::new(options.clone());
    let ips = net::source_ips(shards);
    let (senders, tasks) = rt.block_on(start_shards(&server, &shared, &opts, &ips))?;
    let result = drive(rt, &server, &shared, options, &senders, &mut out);
    shared.stop.store(true, Ordering::Relaxed);
    for t in &tasks {
        t.abort();
    }
    drop(senders);
    result?;
    drop(server);
    Ok(out)
}

type Started = (Vec<mpsc::UnboundedSender<ToShard>>, Vec<JoinHandle<()>>);

async fn start_shards(
    server: &Server,
    shared: &Arc<Shared>,
    options: &Arc<Options>,
    ips: &[IpAddr],
) -> io::Result<Started> {
    let n = shared.users;
    let shards = ips.len();
    let mut senders = Vec::with_capacity(shards);
    let mut tasks = Vec::new();
    let destinations = options.callbacks.clamp(1, n);
    for (index, ip) in ips.iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        // This shard's share of the call-back destinations, at least one.
        let mine = (destinations / shards + usize::from(index < destinations % shards)).max(1);
        let mut callbacks: Vec<LocalNodeUrl> = Vec::with_capacity(mine);
        let mut users = Vec::new();
        let mut gid = index;
        while gid < n {
            let local = users.len();
            if callbacks.len() < mine {
                let listener = TcpListener::bind((*ip, 0)).await?;
                callbacks.push(
                    format!("http://{}", listener.local_addr()?)
                        .parse()
                        .map_err(|e| io::Error::other(format!("call-back URL: {e:?}")))?,
                );
                tasks.push(tokio::spawn(accept_loop(listener, tx.clone())));
            }
            let callback = callbacks[local % callbacks.len()].clone();
            let me: LogicalUrl = server::url(gid)
                .parse()
                .map_err(|e| io::Error::other(format!("user URL: {e:?}")))?;
            let mut config = SessionConfig::new(me);
            for off in &shared.offsets {
                config.watch_list.push(
                    server::url((gid + off) % n)
                        .parse()
                        .map_err(|e| io::Error::other(format!("contact URL: {e:?}")))?,
                );
            }
            config.seed = u64::try_from(gid).unwrap_or(0) + 1;
            let session = Session::new(config).map_err(io::Error::other)?;
            let alias = server::alias(gid);
            users.push(User {
                session,
                auth: [
                    DigestAuth::new(alias.clone(), server::PASSWORD),
                    DigestAuth::new(alias, server::PASSWORD),
                ],
                callback,
                timer: None,
                watching: 0,
                done: false,
                changes: 0,
                seen: vec![0; shared.offsets.len()].into_boxed_slice(),
            });
            gid += shards;
        }
        let mut lanes: [Vec<mpsc::UnboundedSender<Job>>; 2] = [Vec::new(), Vec::new()];
        for lane in &mut lanes {
            for _ in 0..options.conns {
                let (jtx, jrx) = mpsc::unbounded_channel();
                tasks.push(tokio::spawn(lane_conn(*ip, server.addr, jrx, tx.clone())));
                lane.push(jtx);
            }
        }
        let shard = Shard {
            index,
            shards,
            shared: Arc::clone(shared),
            options: Arc::clone(options),
            users,
            lanes,
            timers: BinaryHeap::new(),
            actions: BinaryHeap::new(),
            ims: HashMap::new(),
            logins: HashMap::new(),
            waiting: VecDeque::new(),
            signing: 0,
            measure_until: None,
            rng: Rng::new(u64::try_from(index).unwrap_or(0)),
            stats: Stats::default(),
        };
        tasks.push(tokio::spawn(shard_task(shard, rx)));
        senders.push(tx);
    }
    Ok((senders, tasks))
}

fn drive(
    rt: &tokio::runtime::Runtime,
    server: &Server,
    shared: &Shared,
    options: &Options,
    senders: &[mpsc::UnboundedSender<ToShard>],
    out: &mut Outcome,
) -> io::Result<()> {
    let n = options.users;
    let started = Instant::now();
    let (server_cpu0, driver_cpu0) = (server.cpu_secs(), net::cpu_secs(std::process::id()));
    for s in senders {
        let _ = s.send(ToShard::SignOnAll);
    }
    let mut last_note = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let ok = shared.signed_on.load(Ordering::Relaxed);
        let failed = shared.signon_failed.load(Ordering::Relaxed);
        if ok + failed >= n || started.elapsed() >= options.signon_timeout {
            out.signed_on = ok;
            out.signon_failed = failed;
            break;
        }
        if last_note.elapsed() >= Duration::from_secs(15) {
            last_note = Instant::now();
            crate::note(&format!(
                "   ... {ok} of {n} signed on ({failed} failed) after {:.0} s",
                started.elapsed().as_secs_f64()
            ));
        }
    }
    out.signon_secs = started.elapsed().as_secs_f64();
    out.signon_server_cpu = (server.cpu_secs() - server_cpu0) / out.signon_secs;
    out.signon_driver_cpu = (net::cpu_secs(std::process::id()) - driver_cpu0) / out.signon_secs;
    // The sign-on's own NOTIFYs (a user coming online, to the watchers already on) drain.
    std::thread::sleep(Duration::from_secs(5));
    out.rss_signed_on_kib = server.rss_kib();
    let (server_cpu0, driver_cpu0) = (server.cpu_secs(), net::cpu_secs(std::process::id()));
    let t0 = Instant::now();
    let until = t0 + options.steady;
    for s in senders {
        let _ = s.send(ToShard::Measure { until });
    }
    std::thread::sleep(options.steady);
    out.steady_secs = t0.elapsed().as_secs_f64();
    out.server_cpu = (server.cpu_secs() - server_cpu0) / out.steady_secs;
    out.driver_cpu = (net::cpu_secs(std::process::id()) - driver_cpu0) / out.steady_secs;
    out.server_fds = net::fd_count(server.pid);
    std::thread::sleep(DRAIN);
    out.rss_end_kib = server.rss_kib();
    let mut stats = Stats::default();
    for s in senders {
        let (tx, rx) = oneshot::channel();
        if s.send(ToShard::Report(tx)).is_ok()
            && let Ok(Ok(part)) =
                rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), rx).await })
        {
            stats.add(part);
        }
    }
    out.stats = stats;
    out.metrics = rt.block_on(net::metrics(
        server.admin,
        &[
            "rvp_online_users",
            "rvp_subscriptions",
            "rvp_connections_open",
            "rvp_connections_refused_total",
            "rvp_auth_failures_total",
            "rvp_notify_outbound_total",
            "rvp_notify_dropped_total",
            "rvp_callback_failures_total",
            "rvp_delivery_callbacks",
        ],
    ));
    Ok(())
}

/// Checks the contact offsets (run at start-up).
pub(crate) fn self_check() {
    for (users, contacts) in [(21, 20), (1000, 20), (75_000, 20)] {
        let o = offsets(users, contacts);
        let mut sorted = o.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), contacts, "distinct offsets for {users}");
        assert!(
            o.iter().all(|&x| x >= 1 && x < users),
            "offsets in 1..{users}"
        );
    }
}
