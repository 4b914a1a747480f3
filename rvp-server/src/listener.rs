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
//! * **Accept errors** (out of file descriptors, ...) are logged and the loop pauses
//!   [`ACCEPT_ERROR_PAUSE`] before accepting again, instead of spinning.
//! * **Drain.** [`Server::serve`] returns after its stop future resolves and the drain
//!   described in [`crate::shutdown`] is over: the semaphore doubles as the count of live
//!   connections (all permits back = all connections gone).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::conn::{self, ConnLimits};
use crate::log::ProtocolLog;
use crate::service::{ConnectionId, Handler, Peer};
use crate::shutdown::{Phase, PhaseWatch, phase_channel};

/// Pause after a failed `accept` (e.g. `EMFILE`) before the next one.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// After the drain time-out, how long aborted connections get to unwind.
pub const ABORT_GRACE: Duration = Duration::from_secs(1);

/// What the accept loop answers when [`ConnLimits::max_connections`] are open.
pub const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
RVP-Notifications-Version: 0.2\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 42\r\n\r\ntoo many connections, try again in a while\n";

/// A bound server: listeners, handler, limits, protocol log.
#[derive(Debug)]
pub struct Server<H> {
    listeners: Vec<TcpListener>,
    handler: Arc<H>,
    limits: ConnLimits,
    log: ProtocolLog,
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeReport {
    /// Connections accepted and served.
    pub connections: u64,
    /// Connections answered `503` because the limit was reached.
    pub refused_busy: u64,
    /// Connections still open when the drain time-out passed (dropped).
    pub aborted: usize,
}

struct Shared<H> {
    handler: Arc<H>,
    limits: ConnLimits,
    log: ProtocolLog,
    permits: Arc<Semaphore>,
    phase: PhaseWatch,
    next_id: AtomicU64,
    refused: AtomicU64,
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
            handler: Arc::new(handler),
            limits,
            log,
        }
    }

    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
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
        let drain_timeout = self.limits.drain_timeout;
        let shared = Arc::new(Shared {
            handler: self.handler,
            limits: self.limits,
            log: self.log,
            permits: Arc::new(Semaphore::new(max)),
            phase,
            next_id: AtomicU64::new(1),
            refused: AtomicU64::new(0),
        });
        let mut accept_tasks = JoinSet::new();
        for listener in self.listeners {
            accept_tasks.spawn(accept_loop(listener, Arc::clone(&shared)));
        }
        stop.await;
        tracing::info!("shutting down: no new connections; finishing requests in progress");
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
            aborted,
        }
    }
}

async fn accept_loop<H: Handler>(listener: TcpListener, shared: Arc<Shared<H>>) {
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
            tracing::debug!(peer = %addr, "connection limit reached: 503");
            refuse_busy(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let id = ConnectionId(shared.next_id.fetch_add(1, Ordering::Relaxed));
        let peer = Peer::new(addr, local.unwrap_or(addr), id);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _permit = permit;
            conn::serve_connection(
                stream,
                peer,
                &*shared.handler,
                &shared.limits,
                &shared.log,
                shared.phase.clone(),
            )
            .await;
        });
    }
}

/// Answers `503` without blocking and closes.
fn refuse_busy(stream: TcpStream) {
    let _ = stream.try_write(BUSY_RESPONSE);
    if let Ok(std) = stream.into_std() {
        let _ = std.shutdown(std::net::Shutdown::Write);
    }
}
