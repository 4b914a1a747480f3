//! One lane of requests to the server: a keep-alive connection, Digest answers (a nonce
//! reused with increasing `nc`), redirects followed and remembered.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rvp_proto::codec::{ResponseParser, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::ClientConfig;
use super::dns::{HostLookup, split_location};
use crate::digest::{Challenge, DigestAuth};
use crate::event::TransportError;
use crate::reply::Reply;
use crate::request::{Request, RequestId};
use crate::rng::SplitMix64;

/// Where a redirected request target now lives (PROTOCOL.md §2.9).
#[derive(Debug, Clone)]
struct Route {
    host: String,
    path: String,
    addrs: Vec<SocketAddr>,
    expires: Instant,
}

/// What the lanes of one client share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ClientConfig,
    /// The home server (or router): addresses to try in order.
    pub(crate) home: Vec<SocketAddr>,
    pub(crate) lookup: HostLookup,
    /// Redirects learned, by original request-target.
    routes: Mutex<HashMap<String, Route>>,
}

impl Shared {
    pub(crate) fn new(config: ClientConfig, home: Vec<SocketAddr>, lookup: HostLookup) -> Shared {
        Shared {
            config,
            home,
            lookup,
            routes: Mutex::new(HashMap::new()),
        }
    }

    fn route(&self, target: &str, now: Instant) -> Option<Route> {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        match routes.get(target) {
            Some(r) if r.expires > now => Some(r.clone()),
            Some(_) => {
                routes.remove(target);
                None
            }
            None => None,
        }
    }

    fn remember(&self, target: &str, route: Route, now: Instant) {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if routes.len() >= self.config.max_routes {
            routes.retain(|_, r| r.expires > now);
            if routes.len() >= self.config.max_routes {
                routes.clear();
            }
        }
        routes.insert(target.to_owned(), route);
    }

    fn forget(&self, target: &str) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(target);
    }
}

/// An open keep-alive connection.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
}

/// One lane: requests in order, answers back to the session loop.
#[derive(Debug)]
pub(crate) struct Lane {
    shared: Arc<Shared>,
    conn: Option<Conn>,
    auth: DigestAuth,
    rng: SplitMix64,
}

/// What a lane reports for each request.
pub(crate) type Outcome = (RequestId, Result<Reply, TransportError>);

impl Lane {
    pub(crate) fn new(shared: Arc<Shared>, first: Option<TcpStream>, seed: u64) -> Lane {
        let auth = DigestAuth::new(
            shared.config.username.clone(),
            shared.config.password.clone(),
        );
        let conn = first.and_then(|stream| {
            let peer = stream.peer_addr().ok()?;
            Some(Conn {
                stream,
                peer,
                buf: Vec::new(),
            })
        });
        Lane {
            shared,
            conn,
            auth,
            rng: SplitMix64::new(seed),
        }
    }

    /// Serves requests until the channel closes.
    pub(crate) async fn run(
        mut self,
        mut requests: mpsc::UnboundedReceiver<Request>,
        outcomes: mpsc::UnboundedSender<Outcome>,
    ) {
        while let Some(request) = requests.recv().await {
            let id = request.id();
            let result = self.exchange(request).await;
            if outcomes.send((id, result)).is_err() {
                return;
            }
        }
    }

    /// Sends one request to its final answer: Digest challenges answered, redirects
    /// followed (at most `max_redirects` in a row).
    async fn exchange(&mut self, mut request: Request) -> Result<Reply, TransportError> {
        let original = request.target().to_owned();
        let now = Instant::now();
        let mut dest = match self.shared.route(&original, now) {
            Some(route) => {
                request.redirect(&route.host, &route.path);
                route.addrs
            }
            None => self.shared.home.clone(),
        };
        let mut redirects = 0usize;
        let mut answered_fresh_challenge = false;
        loop {
            let cnonce = self.rng.cnonce();
            let authorization = self
                .auth
                .authorization(request.method().as_str(), request.target(), &cnonce)
                .map_err(|e| TransportError::AuthUnsupported(e.to_string()))?;
            let mut bytes = Vec::new();
            request.write(authorization.as_deref(), &mut bytes);
            let reply = match self.round_trip(&dest, &bytes).await {
                Ok(r) => r,
                Err(e) => {
                    if redirects == 0 && dest != self.shared.home {
                        // A remembered route that no longer answers: forget it.
                        self.shared.forget(&original);
                    }
                    return Err(e);
                }
            };
            match reply.status {
                401 => {
                    if answered_fresh_challenge {
                        return Err(TransportError::AuthRejected);
                    }
                    let challenge = Challenge::select(reply.challenges.iter().map(String::as_str))
                        .map_err(|e| TransportError::AuthUnsupported(e.to_string()))?;
                    self.auth.accept_challenge(challenge);
                    answered_fresh_challenge = true;
                }
                302 => {
                    redirects += 1;
                    if redirects > self.shared.config.max_redirects {
                        return Err(TransportError::TooManyRedirects);
                    }
                    let location = reply.location.clone().unwrap_or_default();
                    let (host_header, host, port, path) = split_location(&location)
                        .ok_or_else(|| TransportError::BadRedirect(location.clone()))?;
                    let addrs = self
                        .shared
                        .lookup
                        .lookup(&host, port)
                        .await
                        .map_err(TransportError::BadRedirect)?;
                    if addrs.is_empty() || !request.redirect(&host_header, &path) {
                        return Err(TransportError::BadRedirect(location));
                    }
                    self.shared.remember(
                        &original,
                        Route {
                            host: host_header,
                            path,
                            addrs: addrs.clone(),
                            expires: Instant::now() + self.shared.config.redirect_ttl,
                        },
                        Instant::now(),
                    );
                    dest = addrs;
                    // A new server: its own nonces.
                    self.auth.forget_challenge();
                    answered_fresh_challenge = false;
                }
                _ => return Ok(reply),
            }
        }
    }

    /// Writes `bytes` to one of `dest` (the open connection if it goes there) and reads
    /// one answer, within the request timeout. A kept-alive connection that turns out to
    /// be closed is replaced once.
    async fn round_trip(
        &mut self,
        dest: &[SocketAddr],
        bytes: &[u8],
    ) -> Result<Reply, TransportError> {
        let timeout = self.shared.config.request_timeout;
        match tokio::time::timeout(timeout, self.round_trip_inner(dest, bytes)).await {
            Ok(r) => r,
            Err(_) => {
                self.conn = None;
                Err(TransportError::Timeout)
            }
        }
    }

    async fn round_trip_inner(
        &mut self,
        dest: &[SocketAddr],
        bytes: &[u8],
    ) -> Result<Reply, TransportError> {
        for attempt in 0..2 {
            let reused = self.conn.as_ref().is_some_and(|c| dest.contains(&c.peer));
            if !reused {
                self.conn = Some(self.connect(dest).await?);
            }
            let Some(conn) = self.conn.as_mut() else {
                return Err(TransportError::Connect("no connection".into()));
            };
            conn.buf.clear();
            let result = exchange_on(conn, bytes, &self.shared.config).await;
            match result {
                Ok(reply) => {
                    if reply.closes {
                        self.conn = None;
                    }
                    return Ok(reply);
                }
                Err((e, nothing_read)) => {
                    self.conn = None;
                    if !(reused && nothing_read && attempt == 0) {
                        return Err(e);
                    }
                }
            }
        }
        Err(TransportError::Io("connection closed".into()))
    }

    async fn connect(&self, dest: &[SocketAddr]) -> Result<Conn, TransportError> {
        let mut last = String::from("no address");
        for addr in dest {
            match tokio::time::timeout(self.shared.config.connect_timeout, TcpStream::connect(addr))
                .await
            {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Conn {
                        stream,
                        peer: *addr,
                        buf: Vec::with_capacity(4096),
                    });
                }
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: connect timed out"),
            }
        }
        Err(TransportError::Connect(last))
    }
}

/// Writes and reads one answer; on failure, whether no byte of an answer had arrived.
async fn exchange_on(
    conn: &mut Conn,
    bytes: &[u8],
    config: &ClientConfig,
) -> Result<Reply, (TransportError, bool)> {
    if let Err(e) = conn.stream.write_all(bytes).await {
        return Err((TransportError::Io(e.to_string()), true));
    }
    let mut parser = ResponseParser::new(config.limits);
    let mut chunk = [0u8; 8192];
    loop {
        let n = match conn.stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => return Err((TransportError::Io(e.to_string()), conn.buf.is_empty())),
        };
        let eof = n == 0;
        conn.buf.extend_from_slice(&chunk[..n]);
        if eof && conn.buf.is_empty() {
            return Err((TransportError::Io("connection closed".into()), true));
        }
        match parser.parse(&conn.buf, eof) {
            Ok(Status::Complete(msg)) => {
                if msg.head().code() == 100 {
                    let used = msg.consumed();
                    conn.buf.drain(..used);
                    continue;
                }
                let mut reply = Reply::from_parsed(&msg);
                reply.closes |= eof;
                return Ok(reply);
            }
            Ok(Status::Partial) => {}
            Err(e) => return Err((TransportError::BadResponse(e.to_string()), false)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn routes_expire_and_are_bounded() {
        let mut config = ClientConfig::new("alice@localhost".parse().unwrap(), "pw").unwrap();
        config.max_routes = 2;
        let lookup = HostLookup::new(Arc::new(rvp_resolve::Resolver::new(
            rvp_resolve::StaticResolver::new(),
        )));
        let shared = Shared::new(config, Vec::new(), lookup);
        let t0 = Instant::now();
        let route = |path: &str, ttl: u64| Route {
            host: "home1".into(),
            path: path.into(),
            addrs: vec!["127.0.0.1:1".parse().unwrap()],
            expires: t0 + Duration::from_secs(ttl),
        };
        shared.remember("/a", route("/x/a", 10), t0);
        shared.remember("/b", route("/x/b", 100), t0);
        assert_eq!(shared.route("/a", t0).unwrap().path, "/x/a");
        // Expired routes are forgotten.
        assert!(shared.route("/a", t0 + Duration::from_secs(11)).is_none());
        // Full: expired ones go first, then everything, so at most max_routes are kept.
        shared.remember("/c", route("/x/c", 100), t0);
        shared.remember("/d", route("/x/d", 100), t0);
        let kept = ["/b", "/c", "/d"]
            .iter()
            .filter(|t| shared.route(t, t0).is_some())
            .count();
        assert!(kept <= 2, "{kept}");
        assert!(shared.route("/d", t0).is_some());
        shared.forget("/d");
        assert!(shared.route("/d", t0).is_none());
    }
}
