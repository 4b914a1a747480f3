//! Operating a running server: the admin listener and configuration reload.
//!
//! ```text
//!  Prometheus ──GET /metrics──►┐
//!  load balancer ─GET /readyz─►├─ admin listener ([admin] listen; off by default)
//!  service manager GET /healthz┘      │  one short-lived task per connection, at most
//!                                     │  admin.max_connections, each within admin.timeout
//!                                     ▼
//!                     Metrics (counters) + gauges read now: a probe through the engine
//!                     task (online users, subscriptions; bounded by ENGINE_PROBE_TIMEOUT),
//!                     queues, directory and DNS lookups, protocol-log drops
//!
//!  SIGHUP (rvp-server binary) ──► Reloader::reload(new config) ──► users and [policy]
//!                                 applied without dropping a connection (reload module)
//! ```
//!
//! The admin listener speaks just enough HTTP/1.1 for scrapers and probes: `GET` or
//! `HEAD`, one request per connection, `Connection: close`. Paths:
//!
//! | path | answer |
//! |---|---|
//! | `/metrics` | `200`, every metric of [`crate::metrics::METRICS`] in the Prometheus text format |
//! | `/healthz` | `200 ok`: the process runs and answers |
//! | `/readyz` | `200 ready` when the store is open, the engine task answers and the listeners accept; else `503` naming what is not |
//! | other | `404`; other methods `405` |
//!
//! It has no authentication (what it shows is counts, never names or addresses): keep it
//! on a loopback or private address.

pub mod reload;

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rvp_presence::DeliveryId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::auth::Authenticator;
use crate::config::AdminConfig;
use crate::delivery::Deliverer;
use crate::engine::WeakEngineHandle;
use crate::log::ProtocolLog;
use crate::metrics::{self, EngineGauges, Gauges, Metrics};
use crate::presence::PresenceCore;
use crate::resolve::ForeignResolver;

pub use reload::{ReloadError, ReloadReport, Reloader};

/// How long a scrape or a readiness check waits for the engine task to answer its probe.
/// The answer of a connection beyond `admin.max_connections`.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 27\r\nConnection: close\r\n\r\n\
too many admin connections\n";

/// A busier engine is reported down (`rvp_engine_up 0`, `/readyz` 503) rather than
/// holding the scraper.
pub const ENGINE_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest request head the admin listener reads; a longer one is answered `431`.
pub const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;

/// What `/readyz` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readiness {
    /// The store is open (a failed write to it stops the engine, see `engine_running`).
    pub store_open: bool,
    /// The engine task answered a probe within [`ENGINE_PROBE_TIMEOUT`].
    pub engine_running: bool,
    /// The listeners accept connections (not yet, or no longer, when shutting down).
    pub accepting: bool,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.store_open && self.engine_running && self.accepting
    }

    /// One line per check: `store: open`, `engine: not answering`...
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "store: {}",
            if self.store_open { "open" } else { "not open" }
        );
        let _ = writeln!(
            s,
            "engine: {}",
            if self.engine_running {
                "running"
            } else {
                "not answering"
            }
        );
        let _ = writeln!(
            s,
            "listener: {}",
            if self.accepting {
                "accepting"
            } else {
                "not accepting"
            }
        );
        s
    }
}

/// Where the admin listener reads what it shows.
#[derive(Debug)]
pub(crate) struct Sources {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) engine: WeakEngineHandle<PresenceCore>,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) deliverer: Deliverer<DeliveryId>,
    pub(crate) resolver: Option<Arc<ForeignResolver>>,
    pub(crate) log: ProtocolLog,
    /// The directory read per request (LDAP), for its cache counters.
    pub(crate) directory: Option<Arc<dyn crate::directory::Directory>>,
}

impl Sources {
    /// Asks the engine task for its gauges and whether its store is open; `None` when it
    /// does not answer within [`ENGINE_PROBE_TIMEOUT`].
    async fn probe(&self) -> Option<(EngineGauges, bool)> {
        let handle = self.engine.upgrade()?;
        let probe = handle.with_core(|core: &mut PresenceCore, _now| {
            let e = core.engine();
            let g = EngineGauges {
                online_users: e.online_count() as u64,
                subscriptions: e.subscription_count() as u64,
                subscriptions_discarded: e.discarded_subscriptions(),
                deliveries_dropped: e.dropped_deliveries(),
            };
            (g, core.store().is_some())
        });
        tokio::time::timeout(ENGINE_PROBE_TIMEOUT, probe)
            .await
            .ok()?
            .ok()
    }

    /// The `/metrics` text.
    pub(crate) async fn render(&self) -> String {
        let (dns_lookups_ok, dns_lookups_failed) =
            self.resolver.as_ref().map_or((0, 0), |r| r.lookups());
        let g = Gauges {
            engine: self.probe().await.map(|(e, _)| e),
            users: self.auth.users().len() as u64,
            engine_queue: self.engine.upgrade().map_or(0, |h| h.queued() as u64),
            delivery_queue: self.deliverer.pending() as u64,
            delivery_callbacks: self.deliverer.active_destinations() as u64,
            directory_lookups: self.auth.directory_lookups(),
            dns_lookups_ok,
            dns_lookups_failed,
            log_lines_dropped: self.log.dropped(),
            directory_cache: self
                .directory
                .as_ref()
                .and_then(|d| d.cache_stats())
                .map(Into::into),
        };
        self.metrics.render(&g)
    }

    /// What `/readyz` reports.
    pub(crate) async fn readiness(&self) -> Readiness {
        let probe = self.probe().await;
        Readiness {
            store_open: probe.is_some_and(|(_, store)| store),
            engine_running: probe.is_some(),
            accepting: self.metrics.accepting(),
        }
    }
}

/// The bound admin listener.
#[derive(Debug)]
pub(crate) struct AdminServer {
    listener: TcpListener,
    sources: Arc<Sources>,
    config: AdminConfig,
}

impl AdminServer {
    /// Binds `addr`.
    pub(crate) async fn bind(
        addr: SocketAddr,
        sources: Sources,
        config: AdminConfig,
    ) -> io::Result<AdminServer> {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {addr} ([admin] listen): {e}"),
            )
        })?;
        if !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "the admin listener has no authentication and is not on a loopback address: \
                 keep it private (firewall)"
            );
        }
        Ok(AdminServer {
            listener,
            sources: Arc::new(sources),
            config,
        })
    }

    /// The address bound.
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `stop` turns `true`; then stops accepting and gives connections in
    /// progress at most `admin.timeout` before dropping them.
    pub(crate) async fn serve(self, mut stop: watch::Receiver<bool>) {
        let AdminServer {
            listener,
            sources,
            config,
        } = self;
        let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
        let mut tasks = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                r = listener.accept() => r,
                _ = stop.wait_for(|s| *s) => break,
            };
            // Reap finished connections so the set stays as small as the limit.
            while tasks.try_join_next().is_some() {}
            let (stream, peer) = match accepted {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("admin listener: accept failed: {e}; pausing");
                    tokio::time::sleep(crate::listener::ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                tracing::debug!(%peer, "admin listener: too many connections: 503");
                crate::listener::refuse(stream, TOO_MANY);
                continue;
            };
            let sources = Arc::clone(&sources);
            let limit = config.timeout;
            tasks.spawn(async move {
                let _permit = permit;
                if tokio::time::timeout(limit, answer(stream, &sources))
                    .await
                    .is_err()
                {
                    tracing::debug!(%peer, "admin connection timed out");
                }
            });
        }
        drop(listener);
        let drained = tokio::time::timeout(config.timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
        }
    }
}

/// Reads one request and answers it.
async fn answer(mut stream: TcpStream, sources: &Sources) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            break end + 2;
        }
        if buf.len() > MAX_REQUEST_HEAD_BYTES {
            let _ = stream
                .write_all(&simple(431, "request head too large\n"))
                .await;
            return;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let (method, path) = match req.parse(&buf[..head_end]) {
        Ok(httparse::Status::Complete(_)) => (
            req.method.unwrap_or_default().to_owned(),
            req.path.unwrap_or_default().to_owned(),
        ),
        _ => {
            let _ = stream.write_all(&simple(400, "bad request\n")).await;
            return;
        }
    };
    let head_only = method == "HEAD";
    let response = if method != "GET" && !head_only {
        response(
            405,
            "text/plain; charset=utf-8",
            &["Allow: GET, HEAD"],
            "only GET and HEAD\n",
            false,
        )
    } else {
        let path = path.split('?').next().unwrap_or_default();
        match path {
            "/metrics" => {
                let text = sources.render().await;
                response(200, metrics::CONTENT_TYPE, &[], &text, head_only)
            }
            "/healthz" => response(200, "text/plain; charset=utf-8", &[], "ok\n", head_only),
            "/readyz" => {
                let r = sources.readiness().await;
                let (status, first) = if r.is_ready() {
                    (200, "ready\n")
                } else {
                    (503, "not ready\n")
                };
                let body = format!("{first}{}", r.describe());
                response(status, "text/plain; charset=utf-8", &[], &body, head_only)
            }
            _ => response(
                404,
                "text/plain; charset=utf-8",
                &[],
                "not found: /metrics, /healthz, /readyz\n",
                head_only,
            ),
        }
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    }
}

/// An HTTP/1.1 answer with `Connection: close`.
fn response(
    status: u16,
    content_type: &str,
    extra: &[&str],
    body: &str,
    head_only: bool,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        reason(status),
        body.len()
    );
    for h in extra {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(body);
    }
    out.into_bytes()
}

fn simple(status: u16, body: &str) -> Vec<u8> {
    response(status, "text/plain; charset=utf-8", &[], body, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_the_usual_answer() {
        let usual =
            String::from_utf8(simple(503, "too many admin connections\n")).unwrap_or_default();
        let refusal = std::str::from_utf8(TOO_MANY).unwrap_or_default();
        assert!(
            refusal.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{refusal}"
        );
        assert!(
            refusal.ends_with("\r\n\r\ntoo many admin connections\n"),
            "{refusal}"
        );
        assert!(usual.contains("Content-Length: 27\r\n"), "{usual}");
        assert!(refusal.contains("Content-Length: 27\r\n"), "{refusal}");
    }

    #[test]
    fn answers_are_complete_http() {
        let r = String::from_utf8(response(503, "text/plain", &["Allow: GET"], "x\n", false))
            .unwrap_or_default();
        assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
        assert!(r.contains("Content-Length: 2\r\n"), "{r}");
        assert!(r.contains("Allow: GET\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\nx\n"), "{r}");
        let head =
            String::from_utf8(response(200, "text/plain", &[], "body", true)).unwrap_or_default();
        assert!(head.contains("Content-Length: 4\r\n") && head.ends_with("\r\n\r\n"));
    }

    #[test]
    fn readiness_names_what_is_not_ready() {
        let r = Readiness {
            store_open: true,
            engine_running: false,
            accepting: true,
        };
        assert!(!r.is_ready());
        assert!(r.describe().contains("engine: not answering"));
        assert!(r.describe().contains("store: open"));
    }
}
