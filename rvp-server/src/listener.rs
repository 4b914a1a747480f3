//! Accepting connections: the listeners, the connection limit, the drain on shutdown.
//!
//! ```text
//!  TcpListener (one task per address) ──accept──► permit? ──yes──► task: conn::serve_connection
//!                                                     │
//!                                                     └─no──► 503 written without blocking, closed
//! ```
//!
//! * **Connection limit.** A semaphore of [`ConnLimits::max_connections`] permits; each
//!   connection task holds one for its life. When none is left, the accept loop writes a
//!   fixed `503 Service Unavailable` + `Connection: close` answer with one non-blocking
//!   write (a fresh socket's send buffer always has room for it), shuts the socket and
//!   drops it: no task, no read, no waiting, so a flood of connections costs the server
//!   one accept and one write each. Accepting and answering, rather than leaving
//!   connections in the kernel's backlog, tells an honest client at once that the server
//!   is busy.
//! * **Per-address limit.** Below it, at most [`ConnLimits::max_connections_per_ip`]
//!   connections per source address (an IPv4 address or one IPv6 address; IPv4-mapped
//!   IPv6 addresses count as IPv4), refused the same way, so one address cannot take every
//!   connection. A table of live counts, one entry per address with a connection open
//!   (so never more than `max_connections` entries), each released when its connection
//!   task ends.
//! * **Accept errors** (out of file descriptors, ...) are logged and the loop pauses
//!   [`ACCEPT_ERROR_PAUSE`] before accepting again, instead of spinning.
//! * **Drain.** [`Server::serve`] returns after its stop future resolves and the drain
//!   described in [`crate::shutdown`] is over: the semaphore doubles as the count of live
//!   connections (all permits back = all connections gone).
//! * **TLS listeners** (feature `tls`, [`Server::bind_tls`]): accept loops of their own
//!   that share the semaphore, the per-address table and the handler with the plain ones.
//!   A TLS connection takes its permit and slot at accept, like any other, then has
//!   [`crate::tls::TlsAcceptor::handshake_timeout`] for its handshake; a failed or late
//!   handshake is counted (`rvp_tls_handshakes_total`) and the connection closed. Beyond a
//!   limit a TLS connection is closed without an answer (a plain `503` would be noise to
//!   a TLS client). The [`Peer`] is the TCP source address, as on the plain listener.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::conn::{self, ConnLimits};
use crate::log::ProtocolLog;
use crate::metrics::Metrics;
use crate::service::{ConnectionId, Handler, Peer};
use crate::shutdown::{Phase, PhaseWatch, phase_channel};

/// Pause after a failed `accept` (e.g. `EMFILE`) before the next one.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// After the drain time-out, how long aborted connections get to unwind.
pub const ABORT_GRACE: Duration = Duration::from_secs(1);

/// What the accept loop answers when [`ConnLimits::max_connections`] are open, or
/// [`ConnLimits::max_connections_per_ip`] from the caller's address.
pub const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
RVP-Notifications-Version: 0.2\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 42\r\n\r\ntoo many connections, try again in a while\n";

/// A bound server: listeners, handler, limits, protocol log.
#[derive(Debug)]
pub struct Server<H> {
    listeners: Vec<TcpListener>,
    /// TLS listeners and their acceptor ([`Server::bind_tls`]).
    #[cfg(feature = "tls")]
    tls: Option<(Vec<TcpListener>, crate::tls::TlsAcceptor)>,
    handler: Arc<H>,
    limits: ConnLimits,
    log: ProtocolLog,
    metrics: Arc<Metrics>,
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeReport {
    /// Connections accepted and served.
    pub connections: u64,
    /// Connections answered `503` because [`ConnLimits::max_connections`] were open.
    pub refused_busy: u64,
    /// Connections answered `503` because [`ConnLimits::max_connections_per_ip`] were open
    /// from the same address.
    pub refused_per_ip: u64,
    /// Connections still open when the drain time-out passed (dropped).
    pub aborted: usize,
}

struct Shared<H> {
    handler: Arc<H>,
    limits: ConnLimits,
    log: ProtocolLog,
    permits: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
    phase: PhaseWatch,
    next_id: AtomicU64,
    refused: AtomicU64,
    refused_per_ip: AtomicU64,
    metrics: Arc<Metrics>,
}

/// Open connections per source address ([`ConnLimits::max_connections_per_ip`]). Only
/// addresses with a connection open have an entry. The lock is held for one map update,
/// never across an await.
#[derive(Debug)]
struct PerIp {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`PerIp`]; dropping it (when the connection task ends)
/// releases the place.
#[derive(Debug)]
struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn new(limit: usize) -> PerIp {
        PerIp {
            limit: limit.max(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A place for one more connection from `ip`, unless `limit` are open.
    fn try_take(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: Arc::clone(self),
            ip,
        })
    }

    #[cfg(test)]
    fn open_from(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&ip.to_canonical()).copied().unwrap_or(0)
    }

    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl<H: Handler> Server<H> {
    /// Binds every address (all or nothing).
    pub async fn bind(
        addrs: &[SocketAddr],
        handler: H,
        limits: ConnLimits,
        log: ProtocolLog,
    ) -> io::Result<Server<H>> {
        let mut listeners = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            listeners.push(l);
        }
        Ok(Server::from_listeners(listeners, handler, limits, log))
    }

    /// A server on listeners bound elsewhere (e.g. handed over by a service manager).
    pub fn from_listeners(
        listeners: Vec<TcpListener>,
        handler: H,
        limits: ConnLimits,
        log: ProtocolLog,
    ) -> Server<H> {
        Server {
            listeners,
            #[cfg(feature = "tls")]
            tls: None,
            handler: Arc::new(handler),
            limits,
            log,
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Counts connections and answers into `metrics` (default: counters of its own).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Server<H> {
        self.metrics = metrics;
        self
    }

    /// The counters this server updates.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Adds TLS listeners on `addrs` (all or nothing), served with `acceptor`; a second
    /// call replaces the first's.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub async fn bind_tls(
        mut self,
        addrs: &[SocketAddr],
        acceptor: crate::tls::TlsAcceptor,
    ) -> io::Result<Server<H>> {
        let mut listeners = Vec::with_capacity(addrs.len());
        for addr in addrs {
            let l = TcpListener::bind(addr).await.map_err(|e| {
                io::Error::new(e.kind(), format!("cannot listen for TLS on {addr}: {e}"))
            })?;
            listeners.push(l);
        }
        self.tls = Some((listeners, acceptor));
        Ok(self)
    }

    /// This server with `tls`'s listener bound too (unchanged when `[tls] listen` has no
    /// addresses, or without the `tls` feature).
    pub async fn bind_server_tls(self, tls: &crate::tls::ServerTls) -> io::Result<Self> {
        #[cfg(feature = "tls")]
        if let Some((addrs, acceptor)) = tls.listener() {
            let server = self.bind_tls(addrs, acceptor.clone()).await?;
            tracing::info!(addrs = ?server.tls_local_addrs(), "TLS listener bound");
            return Ok(server);
        }
        let _ = tls;
        Ok(self)
    }

    /// The TLS listeners' addresses actually bound (empty without any).
    pub fn tls_local_addrs(&self) -> Vec<SocketAddr> {
        #[cfg(feature = "tls")]
        if let Some((listeners, _)) = &self.tls {
            return listeners
                .iter()
                .filter_map(|l| l.local_addr().ok())
                .collect();
        }
        Vec::new()
    }

    /// The handler.
    pub fn handler(&self) -> &Arc<H> {
        &self.handler
    }

    /// Serves until `stop` resolves, then drains: stops accepting, lets requests in
    /// progress finish for up to [`ConnLimits::drain_timeout`], drops what is left.
    pub async fn serve(self, stop: impl Future<Output = ()> + Send) -> ServeReport {
        let (phase_tx, phase) = phase_channel();
        let max = self.limits.max_connections.max(1);
        let per_ip = self.limits.max_connections_per_ip.min(max);
        let drain_timeout = self.limits.drain_timeout;
        let shared = Arc::new(Shared {
            handler: self.handler,
            limits: self.limits,
            log: self.log,
            permits: Arc::new(Semaphore::new(max)),
            per_ip: Arc::new(PerIp::new(per_ip)),
            phase,
            next_id: AtomicU64::new(1),
            refused: AtomicU64::new(0),
            refused_per_ip: AtomicU64::new(0),
            metrics: self.metrics,
        });
        let mut accept_tasks = JoinSet::new();
        for listener in self.listeners {
            accept_tasks.spawn(accept_loop(listener, Arc::clone(&shared), Security::Plain));
        }
        #[cfg(feature = "tls")]
        if let Some((listeners, acceptor)) = self.tls {
            for listener in listeners {
                let security = Security::Tls(acceptor.clone());
                accept_tasks.spawn(accept_loop(listener, Arc::clone(&shared), security));
            }
        }
        shared.metrics.set_accepting(true);
        stop.await;
        tracing::info!("shutting down: no new connections; finishing requests in progress");
        shared.metrics.set_accepting(false);
        phase_tx.set(Phase::Draining);
        // Accept loops end on the phase change and drop their listeners.
        while accept_tasks.join_next().await.is_some() {}
        let all = u32::try_from(max).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(drain_timeout, shared.permits.acquire_many(all)).await;
        let mut aborted = 0;
        if drained.is_err() {
            aborted = max - shared.permits.available_permits();
            tracing::warn!(aborted, "drain time-out: dropping connections still open");
            phase_tx.set(Phase::Aborting);
            let _ = tokio::time::timeout(ABORT_GRACE, shared.permits.acquire_many(all)).await;
        }
        ServeReport {
            connections: shared.next_id.load(Ordering::Relaxed) - 1,
            refused_busy: shared.refused.load(Ordering::Relaxed),
            refused_per_ip: shared.refused_per_ip.load(Ordering::Relaxed),
            aborted,
        }
    }
}

/// What an accept loop's connections speak.
#[derive(Debug, Clone)]
enum Security {
    /// HTTP on TCP.
    Plain,
    /// HTTP in TLS.
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsAcceptor),
}

impl Security {
    /// Refuses a connection for load: the `503` on plain HTTP; on TLS, a close.
    fn refuse_busy(&self, stream: TcpStream) {
        match self {
            Security::Plain => refuse_busy(stream),
            #[cfg(feature = "tls")]
            Security::Tls(_) => drop(stream),
        }
    }
}

async fn accept_loop<H: Handler>(
    listener: TcpListener,
    shared: Arc<Shared<H>>,
    security: Security,
) {
    let local = listener.local_addr().ok();
    let mut phase = shared.phase.clone();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = phase.reached(Phase::Draining) => break,
        };
        let (stream, addr) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(?local, "accept failed: {e}; pausing");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&shared.permits).try_acquire_owned() else {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            shared.metrics.refused_max_connections();
            tracing::debug!(peer = %addr, "connection limit reached: 503");
            security.refuse_busy(stream);
            continue;
        };
        let Some(slot) = shared.per_ip.try_take(addr.ip()) else {
            drop(permit);
            shared.refused_per_ip.fetch_add(1, Ordering::Relaxed);
            shared.metrics.refused_per_ip();
            tracing::debug!(peer = %addr, "per-address connection limit reached: 503");
            security.refuse_busy(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let id = ConnectionId(shared.next_id.fetch_add(1, Ordering::Relaxed));
        let peer = Peer::new(addr, local.unwrap_or(addr), id);
        let shared = Arc::clone(&shared);
        let security = security.clone();
        shared.metrics.connection_opened();
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            match security {
                Security::Plain => {
                    conn::serve_connection(
                        stream,
                        peer,
                        &*shared.handler,
                        &shared.limits,
                        &shared.log,
                        &shared.metrics,
                        shared.phase.clone(),
                    )
                    .await;
                }
                #[cfg(feature = "tls")]
                Security::Tls(acceptor) => {
                    // The handshake ends early on shutdown (nothing was asked yet).
                    let mut phase = shared.phase.clone();
                    let accepted = tokio::select! {
                        r = acceptor.accept(stream, &shared.metrics) => Some(r),
                        () = phase.reached(Phase::Draining) => None,
                    };
                    match accepted {
                        Some(Ok(tls)) => {
                            conn::serve_connection(
                                tls,
                                peer,
                                &*shared.handler,
                                &shared.limits,
                                &shared.log,
                                &shared.metrics,
                                shared.phase.clone(),
                            )
                            .await;
                        }
                        Some(Err(why)) => {
                            tracing::debug!(peer = %peer.addr, connection = peer.connection.0, "{why}");
                        }
                        None => {}
                    }
                }
            }
            shared.metrics.connection_closed();
        });
    }
}

/// Answers `503` without blocking and closes.
fn refuse_busy(stream: TcpStream) {
    refuse(stream, BUSY_RESPONSE);
}

/// Refused connections whose close lingers at once, at most (a refusal answers and then
/// drains what the client sent, so the client reads the answer instead of a reset).
pub const MAX_LINGERING: usize = 64;
/// How long a refused connection's close lingers, at most.
pub const LINGER: Duration = Duration::from_millis(500);

/// Writes `answer` without blocking and closes gracefully: the write side is shut, and
/// what the client had already sent is read and thrown away for up to [`LINGER`] before the
/// socket is dropped, so that its request does not turn the close into a reset that would
/// destroy the answer before the client reads it. At most [`MAX_LINGERING`] refused
/// connections linger at once (a flood of them is exactly what a refusal answers); beyond
/// that the socket is dropped at once.
pub(crate) fn refuse(stream: TcpStream, answer: &'static [u8]) {
    static LINGERING: Semaphore = Semaphore::const_new(MAX_LINGERING);
    let _ = stream.try_write(answer);
    let Ok(std) = stream.into_std() else {
        return;
    };
    let _ = std.shutdown(std::net::Shutdown::Write);
    let Ok(permit) = LINGERING.try_acquire() else {
        return;
    };
    let Ok(mut stream) = TcpStream::from_std(std) else {
        return;
    };
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let _permit = permit;
        let mut sink = [0u8; 1024];
        let _ = tokio::time::timeout(LINGER, async {
            let mut total = 0usize;
            while let Ok(n) = stream.read(&mut sink).await {
                total += n;
                if n == 0 || total > 64 * 1024 {
                    break;
                }
            }
        })
        .await;
    });
}

/// Runs the whole stop sequence: serve until `stop` resolves, drain (see
/// [`Server::serve`]), then run `flush` (persist storage,
/// stop the engine task...). Returns the drain report and the flush result.
pub async fn serve_then_flush<H, S, F, Fut, E>(
    server: Server<H>,
    stop: S,
    flush: F,
) -> (ServeReport, Result<(), E>)
where
    H: Handler,
    S: Future<Output = ()> + Send,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let report = server.serve(stop).await;
    let flushed = flush().await;
    (report, flushed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::Ipv6Addr;
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpSocket;

    use super::*;
    use crate::service::{Request, Response};

    const WAIT: Duration = Duration::from_secs(10);

    /// Answers every request `200 ok`.
    struct Ok200;

    impl Handler for Ok200 {
        async fn handle(&self, _peer: Peer, _request: Request, _now: Instant) -> Response {
            Response::new(bytes::Bytes::from_static(b"ok"))
        }
    }

    /// A connection to `to` from the loopback address `from` (any port).
    async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((from, 0))).unwrap();
        tokio::time::timeout(WAIT, socket.connect(to))
            .await
            .expect("connect in time")
            .unwrap()
    }

    /// Sends one request (keep-alive) and returns the status code of the answer, `None` if
    /// the connection ends first. Reads until the answer's head is in.
    async fn status_of_request(s: &mut TcpStream) -> Option<u16> {
        let _ = s
            .write_all(b"ACL /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n")
            .await;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]);
                return head.get(9..12).and_then(|c| c.parse().ok());
            }
            let n = tokio::time::timeout(WAIT, s.read(&mut chunk))
                .await
                .expect("an answer in time")
                .ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Whether the server closes `s` (after whatever it wrote).
    async fn closed(s: &mut TcpStream) -> bool {
        let mut chunk = [0u8; 1024];
        loop {
            match tokio::time::timeout(WAIT, s.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }

    #[tokio::test]
    async fn one_address_gets_max_connections_per_ip_others_still_get_in() {
        let limits = ConnLimits {
            max_connections: 16,
            max_connections_per_ip: 2,
            ..ConnLimits::default()
        };
        let server = Server::bind(
            &[SocketAddr::from(([127, 0, 0, 1], 0))],
            Ok200,
            limits,
            ProtocolLog::off(),
        )
        .await
        .unwrap();
        let addr = server.local_addrs()[0];
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stop_rx.await;
        }));

        // Two connections from 127.0.0.1, both served (so both were accepted).
        let mut a = connect_from([127, 0, 0, 1], addr).await;
        let mut b = connect_from([127, 0, 0, 1], addr).await;
        assert_eq!(status_of_request(&mut a).await, Some(200));
        assert_eq!(status_of_request(&mut b).await, Some(200));
        // The third from the same address: the accept loop's 503, then the close.
        let mut third = connect_from([127, 0, 0, 1], addr).await;
        let mut answer = Vec::new();
        tokio::time::timeout(WAIT, third.read_to_end(&mut answer))
            .await
            .expect("refused in time")
            .unwrap();
        assert_eq!(answer, BUSY_RESPONSE);
        // Another address still gets in, and past the limit of the first.
        let mut c = connect_from([127, 0, 0, 2], addr).await;
        let mut d = connect_from([127, 0, 0, 2], addr).await;
        assert_eq!(status_of_request(&mut c).await, Some(200));
        assert_eq!(status_of_request(&mut d).await, Some(200));
        // Closing one of 127.0.0.1's connections frees its place (bounded retries: the
        // server sees the close a moment later).
        drop(a);
        let mut served = false;
        for _ in 0..100 {
            let mut e = connect_from([127, 0, 0, 1], addr).await;
            if status_of_request(&mut e).await == Some(200) {
                served = true;
                break;
            }
            assert!(closed(&mut e).await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(served, "127.0.0.1 never got its place back");
        drop((b, c, d));
        let _ = stop_tx.send(());
        let report = tokio::time::timeout(WAIT, task)
            .await
            .expect("server stops")
            .unwrap();
        assert!(report.refused_per_ip >= 1, "{report:?}");
        assert_eq!(report.refused_busy, 0, "{report:?}");
    }

    /// The TLS listener: the same per-address limit as the plain one (shared), a bounded
    /// handshake, refusals closed without a plain-text answer, and real TLS clients served.
    #[cfg(feature = "tls")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tls_listener_shares_the_limits_and_bounds_the_handshake() {
        use crate::tls::Direction;
        use std::sync::Arc as StdArc;
        use tokio_rustls::rustls;

        let (acceptor, ca) = crate::tls::test_acceptor("im.test", Duration::from_millis(300));

        let limits = ConnLimits {
            max_connections: 16,
            max_connections_per_ip: 1,
            ..ConnLimits::default()
        };
        let server = Server::bind(
            &[SocketAddr::from(([127, 0, 0, 1], 0))],
            Ok200,
            limits,
            ProtocolLog::off(),
        )
        .await
        .unwrap()
        .bind_tls(&[SocketAddr::from(([127, 0, 0, 1], 0))], acceptor)
        .await
        .unwrap();
        let plain = server.local_addrs()[0];
        let tls = server.tls_local_addrs()[0];
        assert_ne!(plain, tls);
        let metrics = StdArc::clone(server.metrics());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(async move {
            let _ = stop_rx.await;
        }));

        // A connection that never starts its handshake is closed once the time-out is
        // over, and counted.
        let mut silent = connect_from([127, 0, 0, 2], tls).await;
        assert!(closed(&mut silent).await);
        for _ in 0..400 {
            if metrics.tls_handshakes(Direction::Inbound, false) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(metrics.tls_handshakes(Direction::Inbound, false), 1);

        // 127.0.0.3 holds its one place on the plain listener: its TLS connection is
        // closed without a byte (a plain 503 would be noise to a TLS client).
        let mut held = connect_from([127, 0, 0, 3], plain).await;
        assert_eq!(status_of_request(&mut held).await, Some(200));
        let mut refused = connect_from([127, 0, 0, 3], tls).await;
        let mut got = Vec::new();
        tokio::time::timeout(WAIT, refused.read_to_end(&mut got))
            .await
            .expect("closed in time")
            .unwrap();
        assert!(got.is_empty(), "{got:?}");

        // A TLS client from another address is served.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        #[allow(deprecated)] // ring (crate::tls says why)
        let provider = StdArc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let tcp = connect_from([127, 0, 0, 4], tls).await;
        let name = rustls::pki_types::ServerName::try_from("im.test").unwrap();
        let mut client = tokio_rustls::TlsConnector::from(StdArc::new(config))
            .connect(name, tcp)
            .await
            .unwrap();
        client
            .write_all(b"ACL /x HTTP/1.1\r\nHost: im.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(WAIT, client.read_to_end(&mut answer))
            .await
            .expect("answered in time");
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
        assert_eq!(metrics.tls_handshakes(Direction::Inbound, true), 1);

        drop((held, refused, client));
        let _ = stop_tx.send(());
        let report = tokio::time::timeout(WAIT, task)
            .await
            .expect("server stops")
            .unwrap();
        assert_eq!(report.refused_per_ip, 1, "{report:?}");
    }

    #[test]
    fn per_ip_table_counts_canonical_addresses_and_forgets_closed_ones() {
        let table = Arc::new(PerIp::new(2));
        let v4 = IpAddr::from([192, 0, 2, 7]);
        let mapped = IpAddr::from(Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0207]));
        let v6 = IpAddr::from(Ipv6Addr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]));
        let s1 = table.try_take(v4).unwrap();
        let s2 = table.try_take(mapped).unwrap();
        assert_eq!(table.open_from(v4), 2);
        // The mapped address is the same IPv4 address: full.
        assert!(table.try_take(v4).is_none());
        assert!(table.try_take(mapped).is_none());
        // Other addresses, IPv6 included, have their own count.
        let s3 = table.try_take(v6).unwrap();
        let s4 = table.try_take(v6).unwrap();
        assert!(table.try_take(v6).is_none());
        assert_eq!(table.addresses(), 2);
        drop(s1);
        assert_eq!(table.open_from(v4), 1);
        let s5 = table.try_take(v4).unwrap();
        drop((s2, s3, s4, s5));
        // Every place released: no entry left behind.
        assert_eq!(table.addresses(), 0);
        // A limit of 0 would refuse everything: it counts as 1.
        let one = Arc::new(PerIp::new(0));
        let only = one.try_take(v4).unwrap();
        assert!(one.try_take(v4).is_none());
        drop(only);
    }
}
