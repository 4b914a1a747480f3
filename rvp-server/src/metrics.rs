//! Counters and gauges of a running server, written in the Prometheus text format.
//!
//! What Exchange 2000 IM showed its administrators as the `MSExchangeIM` performance
//! object (Current Online Users, Current Subscriptions, Inbound SUBSCRIBEs/sec and the
//! other per-method rates, Failed Authentications/sec, Failed Request/sec "including
//! those rejected because of server load", IM Task Queue Backlog, Current Outbound
//! Connections, DNS Lookups/sec, DS Hits/sec), here as counters and gauges a Prometheus
//! server scrapes from the admin listener ([`crate::admin`]). A rate is
//! `rate(counter[5m])` there.
//!
//! ```text
//!  conn.rs ────── request answered (method, status) ──┐
//!  listener.rs ── accepted / refused for load ────────┤  Metrics: atomics, no lock,
//!  home.rs ────── failed authentication, NOTIFY ──────┤  one relaxed add per event
//!                 outcome, call-back failure ─────────┘
//!                                                       │
//!  admin scrape ── Gauges (engine task probe, queues, ──┴──► Metrics::render ──► text
//!                  directory and DNS lookups, log)
//! ```
//!
//! Counters ([`Metrics`]) are pushed by the parts of the server as things happen; gauges
//! and counters other parts already keep ([`Gauges`]) are read at scrape time. Every
//! metric, its type and its meaning is in [`METRICS`], which the README's table follows.
//!
//! ```
//! use rvp_server::metrics::{Gauges, Metrics};
//!
//! let m = Metrics::new();
//! m.record_request(Some(rvp_proto::Method::Subscribe), 200);
//! let text = m.render(&Gauges::default());
//! assert!(text.contains("rvp_requests_total{method=\"SUBSCRIBE\",code=\"200\"} 1\n"));
//! ```

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rvp_proto::Method;

use crate::auth::{AuthError, VerifyError};

/// The `Content-Type` of the exposition (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Status codes counted per method: `100..=599`; anything else (never written by this
/// server) is clamped into that range.
const CODES: usize = 500;

/// Method labels: the seven RVP methods ([`Method::ALL`] order), then `other` (a
/// method that is not RVP, or a request too broken to name one).
const METHOD_LABELS: [&str; 8] = [
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "SUBSCRIPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "NOTIFY",
    "ACL",
    "other",
];

fn method_index(method: Option<Method>) -> usize {
    method
        .and_then(|m| Method::ALL.iter().position(|x| *x == m))
        .unwrap_or(METHOD_LABELS.len() - 1)
}

/// Why credentials were refused (`rvp_auth_failures_total{reason}`). Clients are only
/// ever told `401` (the same body for all); the admin sees which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No such user.
    UnknownUser,
    /// The Digest response was wrong (a wrong password).
    WrongPassword,
    /// The nonce had expired (the client retries with a fresh one).
    StaleNonce,
    /// A nonce count already used.
    Replay,
    /// A nonce this server never issued.
    ForgedNonce,
    /// Another scheme than Digest (`Basic`, `NTLM`...).
    OtherScheme,
    /// A malformed or unsupported Digest answer.
    Malformed,
}

impl AuthFailure {
    /// Every reason, in label order.
    pub const ALL: [AuthFailure; 7] = [
        AuthFailure::UnknownUser,
        AuthFailure::WrongPassword,
        AuthFailure::StaleNonce,
        AuthFailure::Replay,
        AuthFailure::ForgedNonce,
        AuthFailure::OtherScheme,
        AuthFailure::Malformed,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthFailure::UnknownUser => "unknown_user",
            AuthFailure::WrongPassword => "wrong_password",
            AuthFailure::StaleNonce => "stale_nonce",
            AuthFailure::Replay => "replay",
            AuthFailure::ForgedNonce => "forged_nonce",
            AuthFailure::OtherScheme => "other_scheme",
            AuthFailure::Malformed => "malformed",
        }
    }

    /// The reason of a refusal.
    pub fn of(error: &AuthError) -> AuthFailure {
        match error {
            AuthError::UnsupportedScheme(_) => AuthFailure::OtherScheme,
            AuthError::Digest(VerifyError::UnknownUser(_)) => AuthFailure::UnknownUser,
            AuthError::Digest(VerifyError::WrongResponse(_)) => AuthFailure::WrongPassword,
            AuthError::Digest(VerifyError::StaleNonce) => AuthFailure::StaleNonce,
            AuthError::Digest(VerifyError::Replay { .. }) => AuthFailure::Replay,
            AuthError::Digest(VerifyError::ForgedNonce) => AuthFailure::ForgedNonce,
            _ => AuthFailure::Malformed,
        }
    }

    fn index(self) -> usize {
        AuthFailure::ALL
            .iter()
            .position(|x| *x == self)
            .unwrap_or(AuthFailure::ALL.len() - 1)
    }
}

/// What became of one outbound NOTIFY (`rvp_notify_outbound_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotifyResult {
    /// The call-back answered 2xx.
    Delivered,
    /// The call-back answered another status (`500` is a client that left the
    /// conversation, `404` no such node there).
    ErrorStatus,
    /// No connection: refused, unreachable, or not within the connect time-out.
    Unreachable,
    /// The connection failed or closed before the answer.
    ConnectionLost,
    /// No complete answer within the delivery time-out.
    Timeout,
    /// An answer that is not HTTP or too large.
    BadAnswer,
    /// Not sent: the call-back's queue was full, or too many call-backs had queues.
    QueueFull,
    /// Not sent: a message waited longer than the delivery time-out.
    Expired,
    /// Not sent: no route (a call-back that is not an address, or on another server
    /// without DNS, or DNS found no usable address).
    NotRoutable,
    /// Not sent: the server was stopping, or the request could not be written.
    NotSent,
    /// Replaced by a newer presence update for the same watcher before it was sent.
    Superseded,
    /// Not delivered: the TLS handshake with a server that publishes `_rvps._tcp` failed
    /// (its certificate refused, or the handshake broke or timed out); never retried over
    /// plain HTTP.
    TlsFailed,
}

impl NotifyResult {
    /// Every result, in label order.
    pub const ALL: [NotifyResult; 12] = [
        NotifyResult::Delivered,
        NotifyResult::ErrorStatus,
        NotifyResult::Unreachable,
        NotifyResult::ConnectionLost,
        NotifyResult::Timeout,
        NotifyResult::BadAnswer,
        NotifyResult::QueueFull,
        NotifyResult::Expired,
        NotifyResult::NotRoutable,
        NotifyResult::NotSent,
        NotifyResult::Superseded,
        NotifyResult::TlsFailed,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotifyResult::Delivered => "delivered",
            NotifyResult::ErrorStatus => "error_status",
            NotifyResult::Unreachable => "unreachable",
            NotifyResult::ConnectionLost => "connection_lost",
            NotifyResult::Timeout => "timeout",
            NotifyResult::BadAnswer => "bad_answer",
            NotifyResult::QueueFull => "queue_full",
            NotifyResult::Expired => "expired",
            NotifyResult::NotRoutable => "not_routable",
            NotifyResult::NotSent => "not_sent",
            NotifyResult::Superseded => "superseded",
            NotifyResult::TlsFailed => "tls_failed",
        }
    }

    fn index(self) -> usize {
        NotifyResult::ALL
            .iter()
            .position(|x| *x == self)
            .unwrap_or(NotifyResult::ALL.len() - 1)
    }
}

/// The counters the server pushes as things happen. One per server, shared by `Arc`;
/// every update is one relaxed atomic add (no lock on the request path).
#[derive(Debug)]
pub struct Metrics {
    /// `[method][status - 100]`.
    requests: Box<[AtomicU64]>,
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    refused_max_connections: AtomicU64,
    refused_per_ip: AtomicU64,
    handler_timeouts: AtomicU64,
    auth_failures: [AtomicU64; AuthFailure::ALL.len()],
    notify: [AtomicU64; NotifyResult::ALL.len()],
    callback_failures: AtomicU64,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    /// `[direction][ok, failed]`.
    tls_handshakes: [[AtomicU64; 2]; 2],
    accepting: AtomicBool,
    started: SystemTime,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All counters at zero; the start time is now.
    pub fn new() -> Metrics {
        Metrics {
            requests: (0..METHOD_LABELS.len() * CODES)
                .map(|_| AtomicU64::new(0))
                .collect(),
            connections_accepted: AtomicU64::new(0),
            connections_open: AtomicU64::new(0),
            refused_max_connections: AtomicU64::new(0),
            refused_per_ip: AtomicU64::new(0),
            handler_timeouts: AtomicU64::new(0),
            auth_failures: Default::default(),
            notify: Default::default(),
            callback_failures: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            tls_handshakes: Default::default(),
            accepting: AtomicBool::new(false),
            started: SystemTime::now(),
        }
    }

    /// A request answered with `status` (`None`: not one of the RVP methods).
    pub fn record_request(&self, method: Option<Method>, status: u16) {
        let code = usize::from(status.clamp(100, 599)) - 100;
        if let Some(c) = self.requests.get(method_index(method) * CODES + code) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests answered so far with `status` for `method` (`None`: `other`).
    pub fn requests(&self, method: Option<Method>, status: u16) -> u64 {
        let code = usize::from(status.clamp(100, 599)) - 100;
        self.requests
            .get(method_index(method) * CODES + code)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// A connection was accepted (and is now open).
    pub fn connection_opened(&self) {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    /// An accepted connection ended.
    pub fn connection_closed(&self) {
        let _ = self
            .connections_open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// A connection refused (`503`) because `limits.max_connections` were open.
    pub fn refused_max_connections(&self) {
        self.refused_max_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection refused (`503`) because `limits.max_connections_per_ip` were open
    /// from its address.
    pub fn refused_per_ip(&self) {
        self.refused_per_ip.fetch_add(1, Ordering::Relaxed);
    }

    /// A request the handler did not answer within `limits.handler_timeout` (`503`).
    pub fn handler_timeout(&self) {
        self.handler_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Credentials refused.
    pub fn auth_failure(&self, why: AuthFailure) {
        self.auth_failures[why.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Failed authentications so far for `why`.
    pub fn auth_failures(&self, why: AuthFailure) -> u64 {
        self.auth_failures[why.index()].load(Ordering::Relaxed)
    }

    /// What became of one outbound NOTIFY.
    pub fn notify_result(&self, result: NotifyResult) {
        self.notify[result.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Outbound NOTIFYs so far with `result`.
    pub fn notify_results(&self, result: NotifyResult) -> u64 {
        self.notify[result.index()].load(Ordering::Relaxed)
    }

    /// A delivery reported to the engine as the call-back's failure (counted towards
    /// `policy.callback_failure_threshold`).
    pub fn callback_failure(&self) {
        self.callback_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// A configuration reload: applied (`true`) or refused.
    pub fn reload(&self, applied: bool) {
        let c = if applied {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A TLS handshake finished: `ok`, or failed (or timed out).
    pub fn tls_handshake(&self, direction: Direction, ok: bool) {
        self.tls_handshakes[tls_index(direction)][usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// TLS handshakes so far in `direction` that succeeded (`ok`) or failed.
    pub fn tls_handshakes(&self, direction: Direction, ok: bool) -> u64 {
        self.tls_handshakes[tls_index(direction)][usize::from(!ok)].load(Ordering::Relaxed)
    }

    /// Whether the listeners accept connections (set by the listener).
    pub fn set_accepting(&self, accepting: bool) {
        self.accepting.store(accepting, Ordering::Relaxed);
    }

    /// Whether the listeners accept connections.
    pub fn accepting(&self) -> bool {
        self.accepting.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn connections_open(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    /// The exposition: every metric of [`METRICS`], these counters and `gauges`.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut w = Writer(String::with_capacity(8 * 1024));
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for m in METRICS {
            w.head(m);
            match m.name {
                "rvp_build_info" => {
                    w.labelled(m.name, &[("version", env!("CARGO_PKG_VERSION"))], 1);
                }
                "rvp_start_time_seconds" => w.value(
                    m.name,
                    self.started
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs()),
                ),
                "rvp_requests_total" => {
                    for (mi, method) in METHOD_LABELS.iter().enumerate() {
                        for code in 0..CODES {
                            let n = self.requests.get(mi * CODES + code).map_or(0, load);
                            if n > 0 {
                                let code = (code + 100).to_string();
                                w.labelled(m.name, &[("method", method), ("code", &code)], n);
                            }
                        }
                    }
                }
                "rvp_connections_accepted_total" => {
                    w.value(m.name, load(&self.connections_accepted));
                }
                "rvp_connections_open" => w.value(m.name, load(&self.connections_open)),
                "rvp_connections_refused_total" => {
                    w.labelled(
                        m.name,
                        &[("limit", "max_connections")],
                        load(&self.refused_max_connections),
                    );
                    w.labelled(
                        m.name,
                        &[("limit", "max_connections_per_ip")],
                        load(&self.refused_per_ip),
                    );
                }
                "rvp_handler_timeouts_total" => w.value(m.name, load(&self.handler_timeouts)),
                "rvp_listener_accepting" => w.value(m.name, u64::from(self.accepting())),
                "rvp_auth_failures_total" => {
                    for why in AuthFailure::ALL {
                        w.labelled(m.name, &[("reason", why.as_str())], self.auth_failures(why));
                    }
                }
                "rvp_notify_outbound_total" => {
                    for r in NotifyResult::ALL {
                        w.labelled(m.name, &[("result", r.as_str())], self.notify_results(r));
                    }
                }
                "rvp_callback_failures_total" => {
                    w.value(m.name, load(&self.callback_failures));
                }
                "rvp_config_reloads_total" => {
                    w.labelled(m.name, &[("result", "applied")], load(&self.reloads_ok));
                    w.labelled(m.name, &[("result", "refused")], load(&self.reloads_failed));
                }
                "rvp_tls_handshakes_total" => {
                    for d in Direction::ALL {
                        for (result, ok) in [("ok", true), ("failed", false)] {
                            w.labelled(
                                m.name,
                                &[("direction", d.as_str()), ("result", result)],
                                self.tls_handshakes(d, ok),
                            );
                        }
                    }
                }
                "rvp_engine_up" => w.value(m.name, u64::from(gauges.engine.is_some())),
                "rvp_online_users" => {
                    if let Some(e) = &gauges.engine {
                        w.value(m.name, e.online_users);
                    }
                }
                "rvp_subscriptions" => {
                    if let Some(e) = &gauges.engine {
                        w.value(m.name, e.subscriptions);
                    }
                }
                "rvp_subscriptions_discarded_total" => {
                    if let Some(e) = &gauges.engine {
                        w.value(m.name, e.subscriptions_discarded);
                    }
                }
                "rvp_notify_dropped_total" => {
                    if let Some(e) = &gauges.engine {
                        w.value(m.name, e.deliveries_dropped);
                    }
                }
                "rvp_users" => w.value(m.name, gauges.users),
                "rvp_engine_queue_depth" => w.value(m.name, gauges.engine_queue),
                "rvp_delivery_queue_depth" => w.value(m.name, gauges.delivery_queue),
                "rvp_delivery_callbacks" => w.value(m.name, gauges.delivery_callbacks),
                "rvp_directory_lookups_total" => w.value(m.name, gauges.directory_lookups),
                "rvp_dns_lookups_total" => {
                    w.labelled(m.name, &[("result", "ok")], gauges.dns_lookups_ok);
                    w.labelled(m.name, &[("result", "failed")], gauges.dns_lookups_failed);
                }
                "rvp_protocol_log_dropped_lines_total" => {
                    w.value(m.name, gauges.log_lines_dropped);
                }
                "rvp_directory_cache_lookups_total" => {
                    if let Some(c) = &gauges.directory_cache {
                        for (result, n) in [
                            ("hit", c.hits),
                            ("miss", c.misses),
                            ("coalesced", c.coalesced),
                            ("busy", c.busy),
                            ("stale", c.stale_served),
                        ] {
                            w.labelled(m.name, &[("result", result)], n);
                        }
                    }
                }
                "rvp_directory_errors_total" => {
                    if let Some(c) = &gauges.directory_cache {
                        w.value(m.name, c.errors);
                    }
                }
                "rvp_directory_outages_total" => {
                    if let Some(c) = &gauges.directory_cache {
                        w.value(m.name, c.outages);
                    }
                }
                "rvp_directory_outage" => {
                    if let Some(c) = &gauges.directory_cache {
                        w.value(m.name, u64::from(c.in_outage));
                    }
                }
                "rvp_directory_cache_entries" => {
                    if let Some(c) = &gauges.directory_cache {
                        w.value(m.name, c.entries as u64);
                    }
                }
                "rvp_directory_lookups_in_flight" => {
                    if let Some(c) = &gauges.directory_cache {
                        w.value(m.name, c.in_flight as u64);
                    }
                }
                _ => {}
            }
        }
        w.0
    }
}

/// A TLS handshake direction (`rvp_tls_handshakes_total{direction}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Direction {
    /// A client (or another server) connected to our TLS listener.
    Inbound,
    /// We delivered a NOTIFY to another server over TLS.
    Outbound,
}

impl Direction {
    /// Both, in exposition order.
    pub const ALL: [Direction; 2] = [Direction::Inbound, Direction::Outbound];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the engine task reported when probed at scrape time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineGauges {
    /// Registered principals signed on ([`rvp_presence::Engine::online_count`]).
    pub online_users: u64,
    /// Live subscriptions.
    pub subscriptions: u64,
    /// Subscriptions discarded for a failing call-back.
    pub subscriptions_discarded: u64,
    /// NOTIFYs dropped by `policy.max_deliveries_per_change`.
    pub deliveries_dropped: u64,
}

/// What is read at scrape time from the parts that keep it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gauges {
    /// The engine task's answer to the probe; `None`: it did not answer in time (or is
    /// gone): `rvp_engine_up 0` and its gauges are left out.
    pub engine: Option<EngineGauges>,
    /// Users who can sign in (the `[[users]]` in force).
    pub users: u64,
    /// Inputs waiting for the engine task.
    pub engine_queue: u64,
    /// NOTIFYs waiting or in flight over all call-backs.
    pub delivery_queue: u64,
    /// Call-backs with a delivery queue (each with at most one outbound connection).
    pub delivery_callbacks: u64,
    /// User directory reads by Digest verification.
    pub directory_lookups: u64,
    /// Host-name resolutions for other servers that found an answer (cached or asked).
    pub dns_lookups_ok: u64,
    /// ... and that failed.
    pub dns_lookups_failed: u64,
    /// Protocol log lines dropped because the writer could not keep up.
    pub log_lines_dropped: u64,
    /// The directory cache's counters, when the directory is read per request (LDAP);
    /// `None`: the `rvp_directory_cache_*` series are left out.
    pub directory_cache: Option<DirectoryGauges>,
}

/// What the directory cache reports at scrape time (its `CacheStats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectoryGauges {
    /// Lookups answered from a fresh cached answer.
    pub hits: u64,
    /// Lookups that asked the directory.
    pub misses: u64,
    /// Lookups answered by another lookup of the same address in flight.
    pub coalesced: u64,
    /// Lookups refused at the in-flight bound.
    pub busy: u64,
    /// Lookups answered with a user past its TTL during an outage.
    pub stale_served: u64,
    /// Directory requests that failed.
    pub errors: u64,
    /// Outages begun.
    pub outages: u64,
    /// Whether the directory is out now.
    pub in_outage: bool,
    /// Answers cached now.
    pub entries: usize,
    /// Lookups in flight now.
    pub in_flight: usize,
}

/// The Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Only goes up (until a restart).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    /// `counter` or `gauge`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// One metric: name, type, meaning and the `MSExchangeIM` counter it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricInfo {
    /// The metric name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// What it counts (the `# HELP` text).
    pub help: &'static str,
    /// The Exchange 2000 IM counter of the same meaning, when there is one.
    pub exchange: Option<&'static str>,
}

const fn metric(
    name: &'static str,
    kind: Kind,
    help: &'static str,
    exchange: Option<&'static str>,
) -> MetricInfo {
    MetricInfo {
        name,
        kind,
        help,
        exchange,
    }
}

/// Every metric the admin listener's `/metrics` serves, in exposition order.
pub const METRICS: &[MetricInfo] = &[
    metric(
        "rvp_build_info",
        Kind::Gauge,
        "Always 1; the version label names the running rvp-server.",
        None,
    ),
    metric(
        "rvp_start_time_seconds",
        Kind::Gauge,
        "When the server started, in seconds since the Unix epoch.",
        None,
    ),
    metric(
        "rvp_online_users",
        Kind::Gauge,
        "Users of this domain signed on: a live view whose state is not offline.",
        Some("Current Online Users"),
    ),
    metric(
        "rvp_subscriptions",
        Kind::Gauge,
        "Live subscriptions (logins and watches).",
        Some("Current Subscriptions"),
    ),
    metric(
        "rvp_users",
        Kind::Gauge,
        "Users who can sign in (the [[users]] in force).",
        None,
    ),
    metric(
        "rvp_requests_total",
        Kind::Counter,
        "Requests answered, by method (other: not an RVP method, or unreadable) and status code.",
        Some("Inbound SUBSCRIBEs/sec ... Inbound ACLs/sec; Failed Request/sec"),
    ),
    metric(
        "rvp_auth_failures_total",
        Kind::Counter,
        "Credentials refused with 401, by reason.",
        Some("Failed Authentications/sec"),
    ),
    metric(
        "rvp_connections_accepted_total",
        Kind::Counter,
        "Client connections accepted and served.",
        None,
    ),
    metric(
        "rvp_connections_open",
        Kind::Gauge,
        "Client connections open.",
        None,
    ),
    metric(
        "rvp_connections_refused_total",
        Kind::Counter,
        "Client connections refused with 503 for load, by the limit reached.",
        Some("Failed Request/sec (rejected because of server load)"),
    ),
    metric(
        "rvp_handler_timeouts_total",
        Kind::Counter,
        "Requests answered 503 because the engine did not answer within limits.handler_timeout.",
        Some("Failed Request/sec (rejected because of server load)"),
    ),
    metric(
        "rvp_listener_accepting",
        Kind::Gauge,
        "1 while the listeners accept connections, 0 before and once shutting down.",
        None,
    ),
    metric(
        "rvp_engine_up",
        Kind::Gauge,
        "1 if the engine task answered the scrape's probe in time.",
        None,
    ),
    metric(
        "rvp_engine_queue_depth",
        Kind::Gauge,
        "Requests and delivery reports waiting for the engine task.",
        Some("IM Task Queue Backlog"),
    ),
    metric(
        "rvp_delivery_queue_depth",
        Kind::Gauge,
        "Outbound NOTIFYs waiting or in flight, over all call-backs.",
        None,
    ),
    metric(
        "rvp_delivery_callbacks",
        Kind::Gauge,
        "Call-backs with a delivery queue (each with at most one outbound connection).",
        Some("Current Outbound Connections"),
    ),
    metric(
        "rvp_notify_outbound_total",
        Kind::Counter,
        "Outbound NOTIFYs by result.",
        None,
    ),
    metric(
        "rvp_tls_handshakes_total",
        Kind::Counter,
        "TLS handshakes: inbound on the [tls] listener, outbound with servers that publish _rvps._tcp; by result.",
        None,
    ),
    metric(
        "rvp_callback_failures_total",
        Kind::Counter,
        "Deliveries counted against their call-back (towards policy.callback_failure_threshold).",
        None,
    ),
    metric(
        "rvp_subscriptions_discarded_total",
        Kind::Counter,
        "Subscriptions discarded because their call-back kept failing.",
        None,
    ),
    metric(
        "rvp_notify_dropped_total",
        Kind::Counter,
        "NOTIFYs not sent because one change wanted more than policy.max_deliveries_per_change.",
        None,
    ),
    metric(
        "rvp_directory_lookups_total",
        Kind::Counter,
        "User directory reads made to verify Digest answers.",
        Some("DS Hits/sec, DS Hits since startup"),
    ),
    metric(
        "rvp_directory_cache_lookups_total",
        Kind::Counter,
        "Lookups of the directory read per request (LDAP), by how the cache answered: hit, miss (the directory was asked), coalesced (with a lookup in flight), busy (refused: [directory] lookups at their bound), stale (a user past its TTL served through an outage).",
        None,
    ),
    metric(
        "rvp_directory_errors_total",
        Kind::Counter,
        "Directory requests (lookups and listings) that failed.",
        None,
    ),
    metric(
        "rvp_directory_outages_total",
        Kind::Counter,
        "Directory outages begun (each logged once at warn).",
        None,
    ),
    metric(
        "rvp_directory_outage",
        Kind::Gauge,
        "1 while the directory is out (its last answer was an outage), else 0.",
        None,
    ),
    metric(
        "rvp_directory_cache_entries",
        Kind::Gauge,
        "Answers held by the directory cache.",
        None,
    ),
    metric(
        "rvp_directory_lookups_in_flight",
        Kind::Gauge,
        "Directory lookups in flight now.",
        None,
    ),
    metric(
        "rvp_dns_lookups_total",
        Kind::Counter,
        "Host-name resolutions for other servers (answered from the TTL cache or by DNS), by result.",
        Some("DNS Lookups/sec"),
    ),
    metric(
        "rvp_protocol_log_dropped_lines_total",
        Kind::Counter,
        "Protocol log lines dropped because the log could not be written fast enough.",
        None,
    ),
    metric(
        "rvp_config_reloads_total",
        Kind::Counter,
        "Configuration reloads (SIGHUP) applied or refused.",
        None,
    ),
];

fn tls_index(direction: Direction) -> usize {
    match direction {
        Direction::Inbound => 0,
        Direction::Outbound => 1,
    }
}

/// Writes exposition lines.
struct Writer(String);

impl Writer {
    fn head(&mut self, m: &MetricInfo) {
        let _ = writeln!(self.0, "# HELP {} {}", m.name, escape_help(m.help));
        let _ = writeln!(self.0, "# TYPE {} {}", m.name, m.kind.as_str());
    }

    fn value(&mut self, name: &str, v: u64) {
        let _ = writeln!(self.0, "{name} {v}");
    }

    fn labelled(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        self.0.push_str(name);
        self.0.push('{');
        for (i, (k, val)) in labels.iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            let _ = write!(self.0, "{k}=\"{}\"", escape_label(val));
        }
        let _ = writeln!(self.0, "}} {v}");
    }
}

/// `\` and newline escaped, as the text format asks of `# HELP` lines.
fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// `\`, `"` and newline escaped, as the text format asks of label values.
fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_help_and_type_and_distinct_names() {
        let text = Metrics::new().render(&Gauges {
            engine: Some(EngineGauges::default()),
            directory_cache: Some(Default::default()),
            ..Gauges::default()
        });
        let mut names = std::collections::HashSet::new();
        for m in METRICS {
            assert!(names.insert(m.name), "{} twice", m.name);
            assert!(m.name.starts_with("rvp_"), "{}", m.name);
            assert_eq!(
                m.kind == Kind::Counter,
                m.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                m.name
            );
            assert!(text.contains(&format!("# TYPE {} {}\n", m.name, m.kind.as_str())));
            assert!(text.contains(&format!("# HELP {} ", m.name)));
        }
        // Every sample line names a declared metric and ends in an integer.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let name = series.split('{').next().unwrap();
            assert!(names.contains(name), "{line}");
            value.parse::<u64>().unwrap();
        }
    }

    #[test]
    fn requests_are_counted_by_method_and_code() {
        let m = Metrics::new();
        m.record_request(Some(Method::Notify), 412);
        m.record_request(Some(Method::Notify), 412);
        m.record_request(Some(Method::Acl), 200);
        m.record_request(None, 501);
        m.record_request(None, 42); // out of range: counted as 100
        assert_eq!(m.requests(Some(Method::Notify), 412), 2);
        assert_eq!(m.requests(None, 100), 1);
        let text = m.render(&Gauges::default());
        assert!(text.contains("rvp_requests_total{method=\"NOTIFY\",code=\"412\"} 2\n"));
        assert!(text.contains("rvp_requests_total{method=\"ACL\",code=\"200\"} 1\n"));
        assert!(text.contains("rvp_requests_total{method=\"other\",code=\"501\"} 1\n"));
        assert!(!text.contains("code=\"404\""), "zero series are left out");
    }

    #[test]
    fn directory_cache_series_only_with_a_cached_directory() {
        let text = Metrics::new().render(&Gauges::default());
        assert!(
            !text.contains("\nrvp_directory_cache_lookups_total{"),
            "{text}"
        );
        let stats = DirectoryGauges {
            hits: 7,
            misses: 2,
            busy: 1,
            in_outage: true,
            entries: 9,
            ..Default::default()
        };
        let text = Metrics::new().render(&Gauges {
            directory_cache: Some(stats),
            ..Gauges::default()
        });
        for line in [
            "rvp_directory_cache_lookups_total{result=\"hit\"} 7\n",
            "rvp_directory_cache_lookups_total{result=\"miss\"} 2\n",
            "rvp_directory_cache_lookups_total{result=\"busy\"} 1\n",
            "rvp_directory_outage 1\n",
            "rvp_directory_cache_entries 9\n",
        ] {
            assert!(text.contains(line), "{line}: {text}");
        }
    }

    #[test]
    fn engine_gauges_are_left_out_when_the_engine_does_not_answer() {
        let text = Metrics::new().render(&Gauges::default());
        assert!(text.contains("rvp_engine_up 0\n"));
        assert!(!text.contains("\nrvp_online_users "), "{text}");
        let text = Metrics::new().render(&Gauges {
            engine: Some(EngineGauges {
                online_users: 3,
                subscriptions: 7,
                ..EngineGauges::default()
            }),
            ..Gauges::default()
        });
        assert!(text.contains("rvp_engine_up 1\n"));
        assert!(text.contains("rvp_online_users 3\n"));
        assert!(text.contains("rvp_subscriptions 7\n"));
    }

    #[test]
    fn tls_handshakes_are_counted_by_direction_and_result() {
        use Direction;
        let m = Metrics::new();
        m.tls_handshake(Direction::Inbound, true);
        m.tls_handshake(Direction::Outbound, false);
        m.tls_handshake(Direction::Outbound, false);
        assert_eq!(m.tls_handshakes(Direction::Inbound, true), 1);
        assert_eq!(m.tls_handshakes(Direction::Inbound, false), 0);
        assert_eq!(m.tls_handshakes(Direction::Outbound, false), 2);
        let text = m.render(&Gauges::default());
        assert!(text.contains("rvp_tls_handshakes_total{direction=\"inbound\",result=\"ok\"} 1\n"));
        assert!(
            text.contains("rvp_tls_handshakes_total{direction=\"outbound\",result=\"failed\"} 2\n")
        );
    }

    #[test]
    fn labels_and_help_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }

    #[test]
    fn connections_open_never_goes_below_zero() {
        let m = Metrics::new();
        m.connection_closed();
        assert_eq!(m.connections_open(), 0);
        m.connection_opened();
        m.connection_opened();
        m.connection_closed();
        assert_eq!(m.connections_open(), 1);
    }

    #[test]
    fn the_readme_documents_every_metric() {
        let readme = include_str!("../README.md");
        for m in METRICS {
            assert!(
                readme.contains(&format!("`{}`", m.name))
                    || readme.contains(&format!("`{}{{", m.name)),
                "rvp-server/README.md does not document {}",
                m.name
            );
        }
    }
}
