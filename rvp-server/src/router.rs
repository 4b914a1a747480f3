//! The router role (PROTOCOL.md §1.5, §2.9, §7.3): the server that answers for an IM
//! domain in DNS but does not hold the user asked for sends the request on to the user's
//! home server — a `302` to the user's physical URL for clients inside the organisation,
//! a proxied request for clients outside it.
//!
//! ```text
//!  request for /instmsg/aliases/<alias> (or a logical URL of our domain)
//!     │
//!     ├─ not our domain, or no such user ─────────────────────────► 404
//!     ├─ the user's home is this server (role home or both) ──────► the engine, as usual
//!     ├─ client inside ([router] inside CIDRs; none = everyone) ──► 302 Location:
//!     │                                http://<home>/instmsg/local/<domain>/instmsg/aliases/<alias>
//!     └─ client outside ──► proxy to the home server: same request-target (the client's
//!                            Digest answer covers it), RVP-Hop-Count + 1, the answer relayed
//!                            byte for byte; at most [router] max_in_flight at once, else 503
//! ```
//!
//! The client address is the connection's, or, when the connection comes from one of
//! `[router] trusted_proxies`, the last address of its `X-Forwarded-For` header.
//!
//! librvp follows a `302` on every method but does not remember it, and reuses its socket
//! when the host name stays the same: the `Location` therefore names the home server by
//! its own host name (`[[users]] home`), never by the name the client used.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, StatusCode};
use rvp_proto::codec::{ResponseParser, Status, write_request};
use rvp_proto::url::{NodePath, RequestTarget};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// What this server is for its IM domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// Hosts users; answers only for them (another server routes to it).
    Home,
    /// Hosts nobody: refers or proxies every request to the user's home server.
    Router,
    /// Both (the default, and the single-server set-up): users whose `home` is another
    /// server are routed, the others served here.
    #[default]
    Both,
}

/// An address range in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A CIDR range that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address range (a.b.c.d/n or an IPv6 prefix)")]
pub struct CidrError(String);

impl Cidr {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let bad = || CidrError(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `[router]`: how requests for users of other home servers are routed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RouterConfig {
    /// Client addresses inside the organisation (answered with a `302`); empty (the
    /// default): everyone is inside, as in Exchange.
    pub inside: Vec<Cidr>,
    /// Reverse proxies whose `X-Forwarded-For` is believed for the client address.
    pub trusted_proxies: Vec<IpAddr>,
    /// Where home servers listen, by the host name users' `home` names (`"im1.example.org"
    /// = "192.0.2.11:80"`); a home not listed is looked up in DNS (`[resolve]
    /// nameserver`) on port 80, or used as is when it is an `ip:port`.
    pub homes: BTreeMap<String, SocketAddr>,
    /// Most requests being proxied at once (Exchange's inbound queue: 1 024); more → 503.
    pub max_in_flight: usize,
    /// How long a proxied request may take in all (connect, send, answer).
    #[serde(with = "crate::duration")]
    pub proxy_timeout: Duration,
    /// Largest answer relayed from a home server, in bytes.
    pub max_answer_bytes: usize,
    /// Kept-alive connections to each home server waiting for the next proxied request.
    pub max_idle_per_home: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            inside: Vec::new(),
            trusted_proxies: Vec::new(),
            homes: BTreeMap::new(),
            max_in_flight: 1024,
            proxy_timeout: Duration::from_secs(30),
            max_answer_bytes: 1 << 20,
            max_idle_per_home: 64,
        }
    }
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// Served here.
    Local,
    /// `302` to this physical URL.
    Redirect(String),
    /// Proxied to the home server named `home`.
    Proxy {
        /// The home server's host name (`[[users]] home`).
        home: String,
    },
    /// `404`: not a user of our domain (or, on a pure router, not a routable target).
    NotFound,
}

/// Why a proxied request got no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The home server's address is unknown.
    #[error("home server {0} not found: {1}")]
    NoAddress(String, String),
    /// Connecting, writing or reading failed.
    #[error("home server {0}: {1}")]
    Io(String, std::io::Error),
    /// The whole exchange took longer than `[router] proxy_timeout`.
    #[error("home server {0} did not answer in time")]
    Timeout(String),
    /// The answer was not HTTP, or larger than `[router] max_answer_bytes`.
    #[error("home server {0} answered badly: {1}")]
    BadAnswer(String, String),
}

/// The body of the `404` for a name that is not a user of the IM domain (the same
/// whether it never was one or is disabled).
pub const NO_SUCH_USER: &str = "no such user in this IM domain";

/// The router of one IM domain.
#[derive(Debug)]
pub struct Router {
    role: Role,
    domain: String,
    /// alias (lower case) → home host, `None` for users hosted here. Kept up to date
    /// from the directory while serving ([`crate::home::live`]).
    users: std::sync::RwLock<HashMap<String, Option<String>>>,
    config: RouterConfig,
    in_flight: Arc<Semaphore>,
    /// Kept-alive connections to home servers, by address.
    idle: std::sync::Mutex<HashMap<SocketAddr, Vec<TcpStream>>>,
    max_hops: u32,
    resolver: Option<Arc<crate::resolve::ForeignResolver>>,
}

impl Router {
    /// A router for `domain` whose users live where `users` says (alias → home host, or
    /// `None` for this server).
    pub fn new(
        role: Role,
        domain: &str,
        users: impl IntoIterator<Item = (String, Option<String>)>,
        config: RouterConfig,
    ) -> Router {
        Router {
            role,
            domain: domain.to_ascii_lowercase(),
            users: std::sync::RwLock::new(
                users
                    .into_iter()
                    .map(|(a, h)| (a.to_ascii_lowercase(), h))
                    .collect(),
            ),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            idle: std::sync::Mutex::default(),
            max_hops: 8,
            config,
            resolver: None,
        }
    }

    /// A request arriving with at least this `RVP-Hop-Count` is not routed on (`500`,
    /// PROTOCOL.md §7.5; default 8, the engine's `policy.max_hops`).
    pub fn with_max_hops(mut self, max_hops: u32) -> Self {
        self.max_hops = max_hops;
        self
    }

    /// The hop limit (see [`Router::with_max_hops`]).
    pub fn max_hops(&self) -> u32 {
        self.max_hops
    }

    /// Looks home servers up in DNS through `resolver` when `[router] homes` does not
    /// list them.
    pub fn with_resolver(mut self, resolver: Option<Arc<crate::resolve::ForeignResolver>>) -> Self {
        self.resolver = resolver;
        self
    }

    /// Whether any request can leave this server (a router role, or users at home
    /// elsewhere): without that, the service skips the router.
    pub fn routes_anything(&self) -> bool {
        self.role == Role::Router || self.users().values().any(Option::is_some)
    }

    fn users(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Option<String>>> {
        self.users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records where user `alias` lives now: `home` (its home server's host), or `None`
    /// for this server. Takes the write lock only when that changes.
    pub fn set_user(&self, alias: &str, home: Option<String>) {
        let alias = alias.to_ascii_lowercase();
        if self.users().get(&alias) == Some(&home) {
            return;
        }
        self.users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(alias, home);
    }

    /// Forgets user `alias` (no longer in the directory, or disabled): a router answers
    /// `404` for it.
    pub fn remove_user(&self, alias: &str) {
        let alias = alias.to_ascii_lowercase();
        if !self.users().contains_key(&alias) {
            return;
        }
        self.users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&alias);
    }

    /// Whether user `alias` is in the table.
    pub fn knows(&self, alias: &str) -> bool {
        self.users().contains_key(&alias.to_ascii_lowercase())
    }

    /// The client's address: the connection's, or the last `X-Forwarded-For` entry when
    /// the connection comes from a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&[u8]>) -> IpAddr {
        client_ip(&self.config.trusted_proxies, peer, forwarded_for)
    }

    fn is_inside(&self, client: IpAddr) -> bool {
        self.config.inside.is_empty() || self.config.inside.iter().any(|c| c.contains(client))
    }

    /// Where a request for `target` from `client` goes.
    pub fn route(&self, target: &RequestTarget, client: IpAddr) -> Route {
        let alias = match &target.path {
            NodePath::Alias(alias) => {
                // A logical URL names its domain; an origin-form target is ours.
                let ours = target.authority.as_deref().is_none_or(|a| {
                    let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
                    host.eq_ignore_ascii_case(&self.domain)
                        || self.role != Role::Router
                        || a.parse::<SocketAddr>().is_ok()
                        || host.parse::<IpAddr>().is_ok()
                });
                if !ours {
                    return Route::NotFound;
                }
                alias.to_ascii_lowercase()
            }
            // Physical URLs name a home server: only that server answers them.
            NodePath::Local(_) if self.role != Role::Router => return Route::Local,
            _ if self.role != Role::Router => return Route::Local,
            _ => return Route::NotFound,
        };
        let known = self.users().get(&alias).cloned();
        let home = match known {
            Some(Some(home)) => home,
            Some(None) if self.role != Role::Router => return Route::Local,
            // Unknown here: the engine answers 404 on a home server; a router says so.
            None if self.role != Role::Router => return Route::Local,
            _ => return Route::NotFound,
        };
        if self.is_inside(client) {
            Route::Redirect(format!(
                "http://{home}/instmsg/local/{}/instmsg/aliases/{alias}",
                self.domain
            ))
        } else {
            Route::Proxy { home }
        }
    }

    async fn home_addr(&self, home: &str) -> Result<SocketAddr, ProxyError> {
        if let Some(a) = self.config.homes.get(home) {
            return Ok(*a);
        }
        if let Ok(a) = home.parse::<SocketAddr>() {
            return Ok(a);
        }
        if let Some(r) = &self.resolver {
            let (host, port) = crate::resolve::split_authority(home)
                .ok_or_else(|| ProxyError::NoAddress(home.to_owned(), "bad host".into()))?;
            let ips = r
                .resolver()
                .addresses(host)
                .await
                .map_err(|e| ProxyError::NoAddress(home.to_owned(), e.to_string()))?;
            let ip = ips
                .first()
                .copied()
                .ok_or_else(|| ProxyError::NoAddress(home.to_owned(), "no address".into()))?;
            return Ok(SocketAddr::new(ip, port.unwrap_or(80)));
        }
        Err(ProxyError::NoAddress(
            home.to_owned(),
            "not in [router] homes and no [resolve] nameserver".into(),
        ))
    }

    /// Sends `request` to `home` with `RVP-Hop-Count` one higher and `X-Forwarded-For:
    /// <client>` (a home server that lists this router in its `[router] trusted_proxies`
    /// judges the client, not the router: another server's identity, an IP call-back),
    /// and returns the answer's bytes as received. `None` when `[router] max_in_flight`
    /// requests are already being proxied (answer `503`).
    pub async fn proxy(
        &self,
        home: &str,
        client: IpAddr,
        request: &http::Request<Bytes>,
    ) -> Option<Result<Bytes, ProxyError>> {
        let _permit = Arc::clone(&self.in_flight).try_acquire_owned().ok()?;
        let fut = self.proxy_inner(home, client, request);
        Some(
            match tokio::time::timeout(self.config.proxy_timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err(ProxyError::Timeout(home.to_owned())),
            },
        )
    }

    async fn proxy_inner(
        &self,
        home: &str,
        client: IpAddr,
        request: &http::Request<Bytes>,
    ) -> Result<Bytes, ProxyError> {
        let io = |e| ProxyError::Io(home.to_owned(), e);
        let addr = self.home_addr(home).await?;
        let mut forwarded = request.clone();
        let hops = forwarded
            .headers()
            .get("rvp-hop-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(1);
        let headers = forwarded.headers_mut();
        headers.insert("rvp-hop-count", HeaderValue::from(hops.saturating_add(1)));
        if let Ok(v) = HeaderValue::from_str(&client.to_string()) {
            headers.insert("x-forwarded-for", v);
        }
        let mut out = BytesMut::new();
        write_request(&forwarded, &mut out);
        // A kept-alive connection the home server has closed in the meantime fails before
        // any byte of an answer: then once more on a fresh connection.
        for attempt in 0..2 {
            let (mut stream, reused) = match self.take_idle(addr) {
                Some(s) if attempt == 0 => (s, true),
                _ => (TcpStream::connect(addr).await.map_err(io)?, false),
            };
            match self.exchange(home, &mut stream, &out).await {
                Ok((answer, reusable)) => {
                    if reusable {
                        self.put_idle(addr, stream);
                    }
                    return Ok(answer);
                }
                Err(Exchange::NothingBack(_)) if reused => continue,
                Err(Exchange::NothingBack(e) | Exchange::Failed(e)) => return Err(e),
            }
        }
        Err(ProxyError::BadAnswer(home.to_owned(), "no answer".into()))
    }

    fn take_idle(&self, addr: SocketAddr) -> Option<TcpStream> {
        let mut pool = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pool.get_mut(&addr)?.pop()
    }

    fn put_idle(&self, addr: SocketAddr, stream: TcpStream) {
        let mut pool = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let idle = pool.entry(addr).or_default();
        if idle.len() < self.config.max_idle_per_home {
            idle.push(stream);
        }
    }

    /// Writes `request` and reads one answer; whether the connection can carry another.
    async fn exchange(
        &self,
        home: &str,
        stream: &mut TcpStream,
        request: &[u8],
    ) -> Result<(Bytes, bool), Exchange> {
        let nothing = |e| Exchange::NothingBack(ProxyError::Io(home.to_owned(), e));
        stream.write_all(request).await.map_err(nothing)?;
        let mut buf = BytesMut::with_capacity(4096);
        let mut eof = false;
        loop {
            let mut parser = ResponseParser::default();
            match parser.parse(&buf, eof) {
                Ok(Status::Complete(r)) => {
                    let n = r.consumed();
                    let answer = buf.split_to(n).freeze();
                    let reusable = !eof && buf.is_empty() && !says_close(&answer);
                    return Ok((answer, reusable));
                }
                Ok(_) => {}
                Err(_) if eof && buf.is_empty() => {
                    return Err(Exchange::NothingBack(ProxyError::BadAnswer(
                        home.to_owned(),
                        "closed without answering".into(),
                    )));
                }
                Err(e) => {
                    return Err(Exchange::Failed(ProxyError::BadAnswer(
                        home.to_owned(),
                        e.to_string(),
                    )));
                }
            }
            if buf.len() > self.config.max_answer_bytes {
                return Err(Exchange::Failed(ProxyError::BadAnswer(
                    home.to_owned(),
                    format!("larger than {} bytes", self.config.max_answer_bytes),
                )));
            }
            match stream.read_buf(&mut buf).await {
                Ok(n) => eof = n == 0,
                Err(e) if buf.is_empty() => return Err(nothing(e)),
                Err(e) => return Err(Exchange::Failed(ProxyError::Io(home.to_owned(), e))),
            }
        }
    }
}

/// How one exchange with a home server failed.
enum Exchange {
    /// Before any byte of an answer (a stale kept-alive connection looks like this).
    NothingBack(ProxyError),
    /// After part of an answer: not retried.
    Failed(ProxyError),
}

/// Whether an answer's head carries `Connection: close`.
fn says_close(answer: &[u8]) -> bool {
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(answer.len());
    answer[..head_end].split(|&b| b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line.iter().position(|&b| b == b':') {
            Some(i) => {
                line[..i].eq_ignore_ascii_case(b"connection")
                    && line[i + 1..]
                        .split(|&b| b == b',')
                        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
            }
            None => false,
        }
    })
}

/// The client's address behind `trusted` proxies: the connection's address `peer`, or,
/// when `peer` is one of `trusted` (a router, a reverse proxy), the last address of its
/// `X-Forwarded-For`.
pub fn client_ip(trusted: &[IpAddr], peer: IpAddr, forwarded_for: Option<&[u8]>) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    forwarded_for
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or(peer)
}

/// A relayed answer's bytes (defined with the connection seam that writes them).
pub use crate::service::RawResponse;

/// Answers a request for a user of another home server: a `302` inside, the proxied
/// answer outside, `404` for nobody of ours, `500` past the hop limit, `503` when too many
/// requests are being proxied, `502` when the home server does not answer; `None` when
/// the request is served here.
pub async fn answer(
    router: &Router,
    peer: IpAddr,
    request: &crate::service::Request,
) -> Option<crate::service::Response> {
    use crate::service::text_response;
    let client = router.client_ip(peer, request.header("x-forwarded-for"));
    match router.route(&request.typed.target, client) {
        Route::Local => None,
        Route::NotFound => Some(text_response(StatusCode::NOT_FOUND, NO_SUCH_USER)),
        Route::Redirect(location) => Some(redirect(&location)),
        Route::Proxy { home } => {
            if request.typed.rvp.hop_count().get() >= router.max_hops() {
                let mut res =
                    text_response(StatusCode::INTERNAL_SERVER_ERROR, "hop count exceeded");
                if let Some(r) = rvp_proto::codec::ReasonPhrase::new("hop count exceeded") {
                    res.extensions_mut().insert(r);
                }
                return Some(res);
            }
            let Some(http) = request.to_http() else {
                return Some(text_response(StatusCode::BAD_REQUEST, "malformed request"));
            };
            Some(match router.proxy(&home, client, &http).await {
                None => text_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many requests being routed; try again",
                ),
                Some(Ok(raw)) => {
                    let mut res = crate::service::Response::new(Bytes::new());
                    *res.status_mut() = raw_status(&raw);
                    res.extensions_mut().insert(RawResponse(raw));
                    res
                }
                Some(Err(e)) => {
                    tracing::warn!(%peer, "not routed: {e}");
                    text_response(
                        StatusCode::BAD_GATEWAY,
                        "the user's home server did not answer",
                    )
                }
            })
        }
    }
}

/// The status of a raw answer (`HTTP/1.1 302 ...`), `502` when it has none.
pub fn raw_status(raw: &[u8]) -> StatusCode {
    raw.get(9..12)
        .and_then(|code| StatusCode::from_bytes(code).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

/// The `302` for a redirect.
pub fn redirect(location: &str) -> crate::service::Response {
    let mut res = crate::service::text_response(StatusCode::FOUND, "Object moved");
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(http::header::LOCATION, v);
    }
    res
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn target(path: &str) -> RequestTarget {
        rvp_proto::url::parse_target(path, Some("im.example.org")).unwrap()
    }

    #[test]
    fn cidrs() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains(ip("10.1.2.3")) && !c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.9.9")));
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")) && !all.contains(ip("::1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        for bad in ["10.0.0.0/33", "10.0.0.0/", "x/8", "10.0.0.0/-1", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert_eq!(c.to_string(), "10.1.0.0/16");
    }

    fn router(role: Role, inside: &[&str]) -> Router {
        let config = RouterConfig {
            inside: inside.iter().map(|c| c.parse().unwrap()).collect(),
            trusted_proxies: vec![ip("127.0.0.5")],
            ..RouterConfig::default()
        };
        Router::new(
            role,
            "IM.example.org",
            [
                ("alice".to_owned(), Some("im1.example.org".to_owned())),
                ("bob".to_owned(), None),
            ],
            config,
        )
    }

    #[test]
    fn inside_redirects_outside_proxies() {
        let r = router(Role::Both, &["10.0.0.0/8"]);
        assert_eq!(
            r.route(&target("/instmsg/aliases/Alice"), ip("10.1.1.1")),
            Route::Redirect(
                "http://im1.example.org/instmsg/local/im.example.org/instmsg/aliases/alice".into()
            )
        );
        assert_eq!(
            r.route(&target("/instmsg/aliases/alice"), ip("203.0.113.9")),
            Route::Proxy {
                home: "im1.example.org".into()
            }
        );
        // bob lives here; unknown users are the engine's (404) on a home server.
        assert_eq!(
            r.route(&target("/instmsg/aliases/bob"), ip("10.1.1.1")),
            Route::Local
        );
        assert_eq!(
            r.route(&target("/instmsg/aliases/zed"), ip("10.1.1.1")),
            Route::Local
        );
        // No ranges: everyone is inside.
        let open = router(Role::Both, &[]);
        assert!(matches!(
            open.route(&target("/instmsg/aliases/alice"), ip("203.0.113.9")),
            Route::Redirect(_)
        ));
    }

    #[test]
    fn a_pure_router_serves_nothing_itself() {
        let r = router(Role::Router, &[]);
        assert_eq!(
            r.route(&target("/instmsg/aliases/bob"), ip("10.1.1.1")),
            Route::NotFound
        );
        assert_eq!(
            r.route(&target("/instmsg/aliases/zed"), ip("10.1.1.1")),
            Route::NotFound
        );
        // Another domain's logical URL.
        let other =
            rvp_proto::url::parse_target("http://other.example/instmsg/aliases/alice", None)
                .unwrap();
        assert_eq!(r.route(&other, ip("10.1.1.1")), Route::NotFound);
        assert!(r.routes_anything());
        let home = Router::new(
            Role::Home,
            "d",
            [("a".to_owned(), None)],
            RouterConfig::default(),
        );
        assert!(!home.routes_anything());
    }

    /// A fake home server: answers every request with a 200 (Content-Length framing) and,
    /// when `close_after` is set, closes the connection after each answer without saying so.
    async fn fake_home(close_after: bool) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = s.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let answer = b"HTTP/1.1 200 Successful\r\nContent-Length: 2\r\n\r\nok";
                            if s.write_all(answer).await.is_err() || close_after {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn get() -> http::Request<Bytes> {
        http::Request::builder()
            .method("PROPFIND")
            .uri("/instmsg/aliases/alice")
            .header("host", "im.example.org")
            .body(Bytes::new())
            .unwrap()
    }

    #[tokio::test]
    async fn proxied_requests_reuse_connections_and_survive_stale_ones() {
        use std::sync::atomic::Ordering::SeqCst;
        for close_after in [false, true] {
            let (addr, accepted) = fake_home(close_after).await;
            let r = Router::new(
                Role::Router,
                "im.example.org",
                [("alice".to_owned(), Some(addr.to_string()))],
                RouterConfig::default(),
            );
            for _ in 0..5 {
                let answer = r
                    .proxy(&addr.to_string(), "127.0.0.1".parse().unwrap(), &get())
                    .await
                    .unwrap()
                    .unwrap();
                assert!(answer.ends_with(b"ok"), "{answer:?}");
                // Let a closing home's FIN arrive before the next request.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Kept alive: one connection; closed after each answer: the stale pooled
            // connection is noticed and a fresh one is used, every time.
            let want = if close_after { 5 } else { 1 };
            assert_eq!(accepted.load(SeqCst), want, "close_after {close_after}");
        }
    }

    #[test]
    fn connection_close_is_seen_in_the_head_only() {
        assert!(says_close(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
        assert!(says_close(
            b"HTTP/1.1 200 OK\r\nconnection: Keep-Alive, CLOSE\r\n\r\n"
        ));
        assert!(!says_close(
            b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\nConnection: close"
        ));
        assert!(!says_close(
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"
        ));
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let r = router(Role::Both, &[]);
        let xff: &[u8] = b"198.51.100.1, 10.9.9.9";
        assert_eq!(r.client_ip(ip("127.0.0.5"), Some(xff)), ip("10.9.9.9"));
        assert_eq!(r.client_ip(ip("127.0.0.6"), Some(xff)), ip("127.0.0.6"));
        let junk: &[u8] = b"not an address";
        assert_eq!(r.client_ip(ip("127.0.0.5"), Some(junk)), ip("127.0.0.5"));
    }
}
