//! Call-backs on other servers: a logical URL `http://H/instmsg/aliases/x` of a principal
//! that does not live here is delivered at the request-target `/instmsg/aliases/x` with
//! `Host: H`, to the server `rvp-resolve` finds for `H` (PROTOCOL.md §7.4: "DNS/SRV as in
//! §7.1 but starting from the URL host"):
//!
//! ```text
//!  H is an IP literal ─────────────► H, port from the URL or 80 (plain HTTP)
//!  H[:P], TLS on ([tls] outbound) ─► Resolver::tls_plan(H): _rvps._tcp.H SRV published?
//!        yes ──► the first target T:P with an address, over TLS, certificate checked
//!                against H (no plain HTTP, whatever happens next: PROTOCOL.md §7.6)
//!        no record, only ".", or the query failed ──► on as below
//!  H:P (a port in the URL) ────────► addresses of H (cached), port P
//!  H ──► Resolver::plan(H): _rvp._tcp.H SRV targets T:P in RFC 2782 order,
//!        else H's own address record, port 80 (cached for the DNS TTL)
//!        ──► the first target with an address: addresses of T (cached), port P
//! ```
//!
//! `_rvps._tcp.H` is asked for every host name, with or without a port in the URL (the
//! domain says where its TLS endpoints are; a URL's port names a plain HTTP one), once per
//! DNS TTL like the other answers. A query that fails (REFUSED, SERVFAIL, a time-out) is
//! not cached and counts as "not published" (R: a domain whose DNS cannot answer for
//! `_rvps._tcp` is reached as before); a published record whose targets have no address
//! fails the delivery rather than falling back.
//!
//! Answers are cached for their DNS TTL (negative ones too), so a busy presence fan-out to
//! another domain asks DNS once per TTL, not once per NOTIFY. A delivery that finds no
//! server there (connection refused or timed out, closed, or `404`) drops the cached
//! answers for its host (PROTOCOL.md §7.1 step 5), so the next NOTIFY asks DNS again
//! ([`ForeignResolver::outcome`]). The DNS server is the
//! configuration's `[resolve] nameserver`; without one the server makes no DNS query at
//! all and such deliveries are reported as failed to the engine (which answers a
//! deep-acknowledged NOTIFY `412` and, after repeated failures, discards the
//! subscription, PROTOCOL.md §5.7). An IP-literal host needs no lookup.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rvp_presence::{Delivery, DeliveryId};
#[cfg(feature = "dns")]
use rvp_resolve::HickoryResolver;
use rvp_resolve::{Answer, LookupError, Resolve, ResolveError, Resolver, SrvRecord};
use tokio::sync::mpsc;

use crate::delivery::{Deliverer, Destination, outbound_notify_for};

/// The port RVP servers listen on when nothing says otherwise.
pub const DEFAULT_PORT: u16 = 80;

/// Splits `host[:port]` (`[v6]` and `[v6]:port` accepted); the port is `None` when the
/// authority has none.
pub fn split_authority(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h, Some(p.parse().ok()?))),
        None => Some((authority, None)),
    }
}

/// Foreign deliveries remembered for their outcome, at most this many; the oldest are
/// forgotten first (successes are not looked up, and a delivery replaced by a newer
/// presence update never reports).
pub const MAX_PENDING_ROUTES: usize = 4096;

/// Delivers NOTIFYs to call-backs on other servers, finding their servers with an
/// `rvp-resolve` [`Resolver`] over the DNS source `R`.
#[derive(Debug)]
pub struct ForeignResolver<R = DnsSource> {
    resolver: Arc<Resolver<R>>,
    routes: Arc<Mutex<Routes>>,
    allow_special: bool,
    /// Ask `_rvps._tcp` and reach the domains that publish it over TLS.
    tls: bool,
    /// Host-name resolutions: [found an answer, failed] ([`ForeignResolver::lookups`]).
    lookups: Arc<[AtomicU64; 2]>,
}

/// Whether `ip` is an address a DNS answer for another domain must never send a NOTIFY
/// to (see [`rvp_presence::is_special_address`]): such answers would let anyone who
/// controls a zone aim this server at its own host's services.
pub use rvp_presence::is_special_address as is_special_destination;

/// Delivery sequence number → the host whose cached answers routed it.
#[derive(Debug, Default)]
struct Routes {
    host: HashMap<u64, Box<str>>,
    order: VecDeque<u64>,
}

impl Routes {
    fn insert(&mut self, seq: u64, host: &str) {
        while self.order.len() >= MAX_PENDING_ROUTES {
            match self.order.pop_front() {
                Some(old) => {
                    self.host.remove(&old);
                }
                None => break,
            }
        }
        if self.host.insert(seq, host.into()).is_none() {
            self.order.push_back(seq);
        }
    }

    fn take(&mut self, seq: u64) -> Option<Box<str>> {
        let host = self.host.remove(&seq)?;
        // Usually at the front (outcomes come back roughly in order).
        if let Some(i) = self.order.iter().position(|&s| s == seq) {
            self.order.remove(i);
        }
        Some(host)
    }
}

/// The DNS source of the server's [`ForeignResolver`] ([`ForeignResolver::new`]): hickory
/// with the `dns` feature, else [`NoDns`].
#[cfg(feature = "dns")]
pub type DnsSource = HickoryResolver;
/// The DNS source of the server's [`ForeignResolver`] ([`ForeignResolver::new`]): hickory
/// with the `dns` feature, else [`NoDns`].
#[cfg(not(feature = "dns"))]
pub type DnsSource = NoDns;

/// No DNS at all: the source of a server built without the `dns` feature. It has no
/// values, so no [`ForeignResolver`] over it exists ([`ForeignResolver::new`] fails) and
/// the server delivers nothing to other servers' call-backs and believes other servers
/// only as `[resolve] peers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDns {}

impl Resolve for NoDns {
    async fn lookup_srv(&self, _name: &str) -> Result<Answer<SrvRecord>, LookupError> {
        match *self {}
    }

    async fn lookup_ip(&self, _name: &str) -> Result<Answer<IpAddr>, LookupError> {
        match *self {}
    }
}

#[cfg(feature = "dns")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns")))]
impl ForeignResolver<HickoryResolver> {
    /// A resolver asking only the DNS server at `nameserver`.
    pub fn new(nameserver: SocketAddr) -> Result<Self, LookupError> {
        Ok(ForeignResolver::with_source(
            HickoryResolver::with_nameserver(nameserver)?,
        ))
    }
}

#[cfg(not(feature = "dns"))]
impl ForeignResolver<NoDns> {
    /// Always an error: this server was built without the `dns` feature, so it cannot
    /// ask the DNS server at `nameserver` (the configuration refuses the key already).
    pub fn new(nameserver: SocketAddr) -> Result<Self, LookupError> {
        Err(LookupError::Failed {
            name: nameserver.to_string(),
            reason: "rvp-server was built without the `dns` feature".into(),
        })
    }
}

impl<R: Resolve + Send + Sync + 'static> ForeignResolver<R> {
    /// A resolver over any DNS source (tests use `rvp_resolve::StaticResolver`).
    pub fn with_source(source: R) -> Self {
        ForeignResolver {
            resolver: Arc::new(Resolver::new(source)),
            routes: Arc::default(),
            allow_special: false,
            tls: false,
            lookups: Arc::default(),
        }
    }

    /// Reaches the domains that publish `_rvps._tcp` over TLS ([`Destination::with_tls`];
    /// PROTOCOL.md §7.6). Off by default: `_rvps._tcp` is then never asked. The server
    /// turns it on when it has a TLS client (`[tls] outbound = "when-published"`, the
    /// default, with the `tls` feature): the deliverer must have one
    /// ([`Deliverer::with_tls`]), or such deliveries fail.
    pub fn tls_when_published(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Lets deliveries go to loopback and the other [special destinations]
    /// (`[resolve] allow_loopback`: test set-ups where every server of several domains
    /// runs on one machine). Off by default.
    ///
    /// [special destinations]: is_special_destination
    pub fn allow_loopback(mut self, allow: bool) -> Self {
        self.allow_special = allow;
        self
    }

    /// Hears how a delivery of [`ForeignResolver::deliver`] ended (by its
    /// [`DeliveryId::seq`]); `unreachable`: no server answered there (connection refused,
    /// timed out or closed, or `404`). Then the cached answers for its host are dropped,
    /// and the next delivery there asks DNS again (PROTOCOL.md §7.1 step 5). Successes and
    /// other ids are ignored.
    pub fn outcome(&self, seq: u64, unreachable: bool) {
        // Successes change nothing: their entries age out of the bounded table, so the
        // common case (every delivery report, local ones included) takes no lock.
        if !unreachable {
            return;
        }
        let host = self
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(seq);
        if let Some(host) = host {
            tracing::debug!(%host, "call-back server unreachable: its DNS answers are dropped");
            self.resolver.forget(&host);
        }
    }

    fn remember(&self, seq: u64, host: &str) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(seq, host);
    }

    /// The resolver (its cache, its source).
    pub fn resolver(&self) -> &Resolver<R> {
        &self.resolver
    }

    /// Every address the RVP server of domain `host` may speak from: the addresses of
    /// the targets of its `_rvp._tcp` SRV records, and the domain's own address records
    /// (each cached for its DNS TTL). Used to believe a request that speaks as that
    /// server (`RVP-From-Principal: <host>`, PROTOCOL.md §8.1). Empty when DNS knows
    /// nothing; an error only when DNS could not be asked at all.
    pub async fn server_addresses(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let found = self.server_addresses_uncounted(host).await;
        self.count(found.as_ref().is_ok_and(|ips| !ips.is_empty()));
        found
    }

    /// Host-name resolutions asked of this resolver so far (for a delivery or to believe
    /// another server; answered from the TTL cache or by DNS): (found an answer, failed).
    pub fn lookups(&self) -> (u64, u64) {
        (
            self.lookups[0].load(Ordering::Relaxed),
            self.lookups[1].load(Ordering::Relaxed),
        )
    }

    fn count(&self, ok: bool) {
        self.lookups[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    async fn server_addresses_uncounted(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let mut out = Vec::new();
        let mut failure = None;
        // A domain's TLS endpoints are its servers too (they send from there as well).
        if self.tls
            && let Ok(Some(plan)) = self.resolver.tls_plan(host).await
        {
            for target in plan.targets() {
                if let Ok(ips) = self.resolver.addresses(&target.host).await {
                    out.extend(ips);
                }
            }
        }
        match self.resolver.plan(host).await {
            Ok(plan) => {
                for target in plan.targets() {
                    if let Ok(ips) = self.resolver.addresses(&target.host).await {
                        out.extend(ips);
                    }
                }
            }
            Err(e @ ResolveError::Lookup(_)) => failure = Some(e),
            Err(_) => {}
        }
        match self.resolver.addresses(host).await {
            Ok(ips) => out.extend(ips),
            Err(e @ ResolveError::Lookup(_)) => failure = failure.or(Some(e)),
            Err(_) => {}
        }
        out.sort_unstable();
        out.dedup();
        match failure {
            Some(e) if out.is_empty() => Err(e),
            _ => Ok(out),
        }
    }

    /// Where to connect for the logical host `host` (port `port` when the URL gave one):
    /// see the [module docs](self).
    pub async fn address(&self, host: &str, port: Option<u16>) -> Result<SocketAddr, ResolveError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port.unwrap_or(DEFAULT_PORT)));
        }
        let found = self.address_of_name(host, port).await;
        self.count(found.is_ok());
        found
    }

    async fn address_of_name(
        &self,
        host: &str,
        port: Option<u16>,
    ) -> Result<SocketAddr, ResolveError> {
        let first = |host: &str, ips: Vec<IpAddr>| {
            ips.first().copied().ok_or_else(|| ResolveError::NoAddress {
                host: host.to_owned(),
            })
        };
        if let Some(port) = port {
            let ips = self.resolver.addresses(host).await?;
            return Ok(SocketAddr::new(first(host, ips)?, port));
        }
        let plan = match self.resolver.plan(host).await {
            Ok(plan) => plan,
            // The SRV query failed (REFUSED, SERVFAIL, a time-out): the host's own
            // address on port 80 is what a client would try next (PROTOCOL.md §7.1).
            // (An answer saying "no such SRV record" already falls back inside the plan.)
            Err(e @ ResolveError::Lookup(_)) => {
                tracing::debug!(%host, "no usable _rvp._tcp answer ({e}); trying its address");
                let ips = self.resolver.addresses(host).await?;
                return Ok(SocketAddr::new(first(host, ips)?, DEFAULT_PORT));
            }
            Err(e) => return Err(e),
        };
        let mut last = None;
        for target in plan.targets() {
            match self.resolver.addresses(&target.host).await {
                Ok(ips) => return Ok(SocketAddr::new(first(&target.host, ips)?, target.port)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ResolveError::NoAddress {
            host: host.to_owned(),
        }))
    }

    /// Where to connect over TLS for the host `host` of a call-back: `Ok(None)` when it
    /// does not publish `_rvps._tcp` (or TLS is off here, or `host` is an IP literal, or
    /// the query failed); else the first of its TLS endpoints with an address, an error
    /// when none has one. See the [module docs](self).
    pub async fn tls_address(&self, host: &str) -> Result<Option<SocketAddr>, ResolveError> {
        if !self.tls || host.parse::<IpAddr>().is_ok() {
            return Ok(None);
        }
        let plan = match self.resolver.tls_plan(host).await {
            Ok(Some(plan)) => plan,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::debug!(%host, "no usable _rvps._tcp answer ({e}): plain HTTP");
                return Ok(None);
            }
        };
        let mut last = None;
        for target in plan.targets() {
            match self.resolver.addresses(&target.host).await {
                Ok(ips) if !ips.is_empty() => {
                    return Ok(Some(SocketAddr::new(ips[0], target.port)));
                }
                Ok(_) => {}
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ResolveError::NoAddress {
            host: host.to_owned(),
        }))
    }

    /// The destination of a call-back at `authority` (`host[:port]`) with request-target
    /// `target`: over TLS when the host publishes `_rvps._tcp`, else as before. `None`
    /// (logged) when there is none.
    pub async fn destination(&self, authority: &str, target: &str) -> Option<Destination> {
        let (host, port) = split_authority(authority)?;
        let (addr, tls_name) = match self.tls_address(host).await {
            Ok(Some(addr)) => {
                self.count(true);
                (Ok(addr), Some(host))
            }
            Ok(None) => (self.address(host, port).await, None),
            Err(e) => {
                self.count(false);
                (Err(e), Some(host))
            }
        };
        let via = if tls_name.is_some() { " (TLS)" } else { "" };
        match addr {
            Ok(addr) if !self.allow_special && is_special_destination(addr.ip()) => {
                tracing::warn!(
                    callback = %authority,
                    %addr,
                    "call-back not delivered: DNS points it{via} at a loopback, link-local \
                     or unspecified address ([resolve] allow_loopback is off)"
                );
                None
            }
            Ok(addr) => {
                let dest = Destination::new(addr, authority, target).ok()?;
                match tls_name {
                    None => Some(dest),
                    Some(name) => match dest.with_tls(name) {
                        Ok(d) => Some(d),
                        Err(e) => {
                            tracing::warn!(callback = %authority, "call-back not delivered{via}: {e}");
                            None
                        }
                    },
                }
            }
            Err(e) => {
                tracing::warn!(
                    callback = %authority,
                    "call-back not delivered, its server{via} was not found: {e}"
                );
                None
            }
        }
    }

    /// Looks the delivery's host up and queues it, in a task of its own (the engine task
    /// never waits for DNS); reports a failure on `failures` when it cannot be routed.
    pub fn deliver(
        &self,
        d: Delivery,
        deliverer: Deliverer<DeliveryId>,
        failures: mpsc::UnboundedSender<DeliveryId>,
    ) {
        let me = ForeignResolver {
            resolver: Arc::clone(&self.resolver),
            routes: Arc::clone(&self.routes),
            allow_special: self.allow_special,
            tls: self.tls,
            lookups: Arc::clone(&self.lookups),
        };
        tokio::spawn(async move {
            let (authority, target) = d.destination();
            let routed = me.destination(authority, target).await;
            if routed.is_some()
                && let Some((host, _)) = split_authority(authority)
                && host.parse::<IpAddr>().is_err()
            {
                me.remember(d.id().seq(), host);
            }
            match routed {
                Some(dest) => {
                    deliverer.submit(outbound_notify_for(&d, dest));
                }
                None => {
                    let _ = failures.send(d.id());
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rvp_resolve::{SrvRecord, StaticResolver};
    use std::time::Duration;

    const TTL: Duration = Duration::from_secs(60);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn foreign_servers_are_found_by_srv_then_address_and_cached() {
        let dns = StaticResolver::new()
            .with_srv(
                "_rvp._tcp.acme.test",
                vec![
                    SrvRecord::new(0, 0, 8081, "gone.acme.test."),
                    SrvRecord::new(1, 0, 8080, "im.acme.test."),
                ],
                TTL,
            )
            .with_ip("im.acme.test", vec![ip("192.0.2.7")], TTL)
            .with_ip("plain.test", vec![ip("192.0.2.8")], TTL)
            .with_negative_ttl(TTL);
        let f = ForeignResolver::with_source(dns);
        // SRV: the first target has no address, the next one is used, with its port.
        assert_eq!(
            f.address("acme.test", None).await.unwrap(),
            "192.0.2.7:8080".parse().unwrap()
        );
        // No SRV: the host's own address, port 80; with a port in the URL, that port.
        assert_eq!(
            f.address("plain.test", None).await.unwrap(),
            "192.0.2.8:80".parse().unwrap()
        );
        assert_eq!(
            f.address("plain.test", Some(81)).await.unwrap(),
            "192.0.2.8:81".parse().unwrap()
        );
        // IP literals need no DNS.
        let queries = f.resolver().source().queries();
        assert_eq!(
            f.address("192.0.2.9", None).await.unwrap(),
            "192.0.2.9:80".parse().unwrap()
        );
        assert_eq!(
            f.address("::1", Some(90)).await.unwrap(),
            "[::1]:90".parse().unwrap()
        );
        // Everything above is cached: asking again costs no query.
        f.address("acme.test", None).await.unwrap();
        f.address("plain.test", Some(81)).await.unwrap();
        assert_eq!(f.resolver().source().queries(), queries);
        // Nowhere: a typed error.
        let e = f.address("nowhere.test", None).await.unwrap_err();
        assert!(matches!(e, ResolveError::NotFound { .. }), "{e}");
        // Counted: five names resolved (cached or not), one failed; IP literals are not.
        assert_eq!(f.lookups(), (5, 1));

        // A delivery through acme.test's cached answers found nobody there: they are
        // dropped, and the next lookup asks DNS again. A success keeps them.
        f.remember(7, "acme.test");
        f.remember(8, "acme.test");
        let before = f.resolver().source().queries();
        f.outcome(7, false);
        f.address("acme.test", None).await.unwrap();
        assert_eq!(f.resolver().source().queries(), before);
        f.outcome(8, true);
        f.outcome(8, true); // reported once only; the second is ignored
        f.address("acme.test", None).await.unwrap();
        assert!(f.resolver().source().queries() > before);
    }

    #[tokio::test]
    async fn domains_that_publish_rvps_are_reached_over_tls_only() {
        let dns = || {
            StaticResolver::new()
                .with_srv(
                    "_rvps._tcp.secure.test",
                    vec![SrvRecord::new(0, 0, 8443, "tls.secure.test.")],
                    TTL,
                )
                .with_srv(
                    "_rvp._tcp.secure.test",
                    vec![SrvRecord::new(0, 0, 80, "plain.secure.test.")],
                    TTL,
                )
                .with_ip("tls.secure.test", vec![ip("192.0.2.10")], TTL)
                .with_ip("plain.secure.test", vec![ip("192.0.2.11")], TTL)
                .with_ip("plain.test", vec![ip("192.0.2.8")], TTL)
                // Published, but its target has no address: no plain fallback.
                .with_srv(
                    "_rvps._tcp.broken.test",
                    vec![SrvRecord::new(0, 0, 443, "nowhere.test.")],
                    TTL,
                )
                .with_ip("broken.test", vec![ip("192.0.2.9")], TTL)
                // Published, pointing at this host.
                .with_srv(
                    "_rvps._tcp.local.test",
                    vec![SrvRecord::new(0, 0, 443, "lo.local.test.")],
                    TTL,
                )
                .with_ip("lo.local.test", vec![ip("127.0.0.1")], TTL)
                .with_negative_ttl(TTL)
        };
        let target = "/instmsg/aliases/x";
        let f = ForeignResolver::with_source(dns()).tls_when_published(true);
        let d = f.destination("secure.test", target).await.unwrap();
        assert_eq!(d.addr(), "192.0.2.10:8443".parse().unwrap());
        assert_eq!(d.tls_name(), Some("secure.test"));
        assert_eq!(d.host(), "secure.test");
        assert_eq!(d.target(), target);
        // A port in the URL names a plain HTTP endpoint: the published TLS one wins.
        let d = f.destination("secure.test:81", target).await.unwrap();
        assert_eq!(d.addr(), "192.0.2.10:8443".parse().unwrap());
        assert_eq!(d.tls_name(), Some("secure.test"));
        assert_eq!(d.host(), "secure.test:81");
        // Not published: plain HTTP as before.
        let d = f.destination("plain.test", target).await.unwrap();
        assert_eq!(
            (d.addr(), d.tls_name()),
            ("192.0.2.8:80".parse().unwrap(), None)
        );
        let d = f.destination("192.0.2.5:90", target).await.unwrap();
        assert_eq!(
            (d.addr(), d.tls_name()),
            ("192.0.2.5:90".parse().unwrap(), None)
        );
        // Published without an address: not delivered at all (192.0.2.9 is never used).
        assert!(f.destination("broken.test", target).await.is_none());
        assert!(matches!(
            f.tls_address("broken.test").await,
            Err(ResolveError::NoAddress { .. })
        ));
        // A TLS endpoint on this host is refused like any other such answer...
        assert!(f.destination("local.test", target).await.is_none());
        // ... unless allowed.
        let lo = ForeignResolver::with_source(dns())
            .tls_when_published(true)
            .allow_loopback(true);
        let d = lo.destination("local.test", target).await.unwrap();
        assert_eq!(d.addr(), "127.0.0.1:443".parse().unwrap());
        // The TLS endpoints' addresses are the domain's servers too.
        let ips = f.server_addresses("secure.test").await.unwrap();
        assert!(ips.contains(&ip("192.0.2.10")) && ips.contains(&ip("192.0.2.11")));

        // TLS off: _rvps._tcp is never asked, everything goes plain.
        let off = ForeignResolver::with_source(dns());
        let d = off.destination("secure.test", target).await.unwrap();
        assert_eq!(
            (d.addr(), d.tls_name()),
            ("192.0.2.11:80".parse().unwrap(), None)
        );
        let d = off.destination("broken.test", target).await.unwrap();
        assert_eq!(
            (d.addr(), d.tls_name()),
            ("192.0.2.9:80".parse().unwrap(), None)
        );
        assert_eq!(off.tls_address("secure.test").await, Ok(None));
        assert!(
            !off.server_addresses("secure.test")
                .await
                .unwrap()
                .contains(&ip("192.0.2.10"))
        );
        // Exactly the _rvp._tcp and address queries: 3 names, 2 of them with SRV + A.
        assert_eq!(off.resolver().source().queries(), 5);
    }

    #[test]
    fn pending_routes_are_bounded() {
        let mut r = Routes::default();
        for seq in 0..(MAX_PENDING_ROUTES as u64 + 10) {
            r.insert(seq, "h.test");
        }
        assert_eq!(r.host.len(), MAX_PENDING_ROUTES);
        assert_eq!(r.order.len(), MAX_PENDING_ROUTES);
        assert!(r.take(0).is_none(), "the oldest were dropped");
        assert_eq!(
            r.take(MAX_PENDING_ROUTES as u64 + 9).as_deref(),
            Some("h.test")
        );
        assert_eq!(r.order.len(), MAX_PENDING_ROUTES - 1);
    }

    #[test]
    fn authorities() {
        assert_eq!(
            split_authority("im.example.com"),
            Some(("im.example.com", None))
        );
        assert_eq!(split_authority("h:8080"), Some(("h", Some(8080))));
        assert_eq!(split_authority("[::1]:81"), Some(("::1", Some(81))));
        assert_eq!(split_authority("[::1]"), Some(("::1", None)));
        assert_eq!(split_authority("h:x"), None);
        assert_eq!(split_authority("[::1]x"), None);
    }
}
