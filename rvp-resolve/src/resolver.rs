//! [`Resolver`]: from a domain or an [`Address`] to an ordered [`Plan`] of targets.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use rvp_proto::url::{LogicalUrl, UrlError};

use crate::address::{Address, AddressError, normalize_domain, srv_name, tls_srv_name};
use crate::cache::{DEFAULT_CAPACITY, TtlCache, TtlPolicy};
use crate::source::{Answer, LookupError, Resolve};
use crate::srv::{SrvRecord, SrvVerdict, XorShift, order};

/// The port of the address-record fallback and of the `im.` heuristic (PROTOCOL.md §7.1).
pub const DEFAULT_PORT: u16 = 80;
/// Default number of learned `SRV target → domain` mappings kept for display.
pub const DEFAULT_LEARNED_CAPACITY: usize = 1024;

/// Why a domain or address could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The address or domain is malformed.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// `_rvp._tcp.<domain>` has only the `.` target: the domain says it has no RVP
    /// service, so no fallback is tried (RFC 2782).
    #[error("{domain} has no RVP service (its _rvp._tcp SRV record has the target \".\")")]
    NoService {
        /// The domain.
        domain: String,
    },
    /// No SRV record and no address record (nor, if enabled, one for `im.<domain>`).
    #[error("no _rvp._tcp SRV record and no address record for {domain}")]
    NotFound {
        /// The domain.
        domain: String,
    },
    /// A host name (a plan's target, or a host named in a URL) has no address record.
    #[error("no address record for {host}")]
    NoAddress {
        /// The host.
        host: String,
    },
    /// A DNS query failed (not cached; retrying may help).
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// A target or alias does not make a valid logical URL.
    #[error("cannot build the logical URL: {0}")]
    Url(#[from] UrlError),
}

/// Where a [`Target`] came from (PROTOCOL.md §7.1 steps 1–4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TargetSource {
    /// An `_rvp._tcp` SRV record.
    Srv,
    /// The domain's own address records, port 80.
    AddressFallback,
    /// The `im.<domain>` heuristic (off by default).
    ImHeuristic,
    /// A server named in the configuration.
    Manual,
    /// An `_rvps._tcp` SRV record: a TLS endpoint of the domain ([`Resolver::tls_plan`],
    /// our convention (R)).
    TlsSrv,
}

/// One place to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Host name to connect to (lower case, no trailing dot).
    pub host: Box<str>,
    /// TCP port.
    pub port: u16,
    /// How this target was found.
    pub source: TargetSource,
}

impl Target {
    /// `host` when the port is 80, `host:port` otherwise: the authority of URLs on it.
    pub fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

fn authority(host: &str, port: u16) -> String {
    if port == DEFAULT_PORT {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    }
}

/// The ordered targets for one domain: try the first, and on a connection failure the
/// next. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    domain: Box<str>,
    targets: Vec<Target>,
}

impl Plan {
    /// The domain that was resolved.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The targets, best first.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The first target.
    pub fn primary(&self) -> &Target {
        // Invariant: a Plan is only built with at least one target.
        &self.targets[0]
    }

    /// Iterates over the targets, best first.
    pub fn iter(&self) -> std::slice::Iter<'_, Target> {
        self.targets.iter()
    }

    /// The logical URL of `alias` when the principal is reached through `target`
    /// (PROTOCOL.md §7.1): `http://T/instmsg/aliases/alias` for an SRV target `T` (with
    /// `:P` only if `P ≠ 80`), `http://D/…` for the fallback, `http://im.D/…` for the
    /// heuristic, and `http://D/…` for a manual server (I: the server named by hand is
    /// where to connect, the IM domain stays the identity).
    pub fn logical_url(&self, target: &Target, alias: &str) -> Result<LogicalUrl, UrlError> {
        match target.source {
            // A TLS endpoint is where to connect, not a name for URLs: the domain stays.
            TargetSource::Manual | TargetSource::TlsSrv => LogicalUrl::new(&self.domain, alias),
            TargetSource::Srv | TargetSource::AddressFallback | TargetSource::ImHeuristic => {
                LogicalUrl::new(&target.authority(), alias)
            }
        }
    }
}

impl<'a> IntoIterator for &'a Plan {
    type Item = &'a Target;
    type IntoIter = std::slice::Iter<'a, Target>;

    fn into_iter(self) -> Self::IntoIter {
        self.targets.iter()
    }
}

impl IntoIterator for Plan {
    type Item = Target;
    type IntoIter = std::vec::IntoIter<Target>;

    fn into_iter(self) -> Self::IntoIter {
        self.targets.into_iter()
    }
}

/// An address resolved: its [`Plan`] and the logical URL through the first target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolution {
    /// The address that was resolved.
    pub address: Address,
    /// Where to connect, best first.
    pub plan: Plan,
    /// The logical URL of the principal through `plan.primary()`; use
    /// [`Plan::logical_url`] for the others.
    pub logical_url: LogicalUrl,
}

/// Settings of a [`Resolver`]. Build with [`ResolverConfig::default`] and the `with_*`
/// methods.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolverConfig {
    /// Try `im.<domain>` when the domain has neither SRV nor address records
    /// (PROTOCOL.md §7.1 step 3). Default `false`.
    pub im_heuristic: bool,
    /// Connect here for every domain, without any DNS query (step 4). Default none.
    pub manual_server: Option<(Box<str>, u16)>,
    /// Connect here for one domain (key: lower-case domain), without DNS. Default empty.
    pub domain_overrides: HashMap<Box<str>, (Box<str>, u16)>,
    /// Maximum number of cached answers, per record type. Default [`DEFAULT_CAPACITY`].
    pub cache_capacity: usize,
    /// Maximum number of learned `SRV target → domain` mappings. Default
    /// [`DEFAULT_LEARNED_CAPACITY`].
    pub learned_capacity: usize,
    /// Bounds on the TTLs of cached answers.
    pub ttl: TtlPolicy,
    /// Seed of the weighted-selection RNG; `None` (default) seeds from the OS.
    pub rng_seed: Option<u64>,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            im_heuristic: false,
            manual_server: None,
            domain_overrides: HashMap::new(),
            cache_capacity: DEFAULT_CAPACITY,
            learned_capacity: DEFAULT_LEARNED_CAPACITY,
            ttl: TtlPolicy::default(),
            rng_seed: None,
        }
    }
}

impl ResolverConfig {
    /// Enables or disables the `im.<domain>` heuristic.
    pub fn with_im_heuristic(mut self, on: bool) -> Self {
        self.im_heuristic = on;
        self
    }

    /// Connects every domain to `host:port`.
    pub fn with_manual_server(mut self, host: &str, port: u16) -> Self {
        self.manual_server = Some((host.to_ascii_lowercase().into(), port));
        self
    }

    /// Connects `domain` to `host:port`.
    pub fn with_domain_override(mut self, domain: &str, host: &str, port: u16) -> Self {
        let d = domain
            .strip_suffix('.')
            .unwrap_or(domain)
            .to_ascii_lowercase();
        self.domain_overrides
            .insert(d.into(), (host.to_ascii_lowercase().into(), port));
        self
    }

    /// Sets the cache capacity (per record type; 0 disables caching).
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Sets the TTL bounds.
    pub fn with_ttl_policy(mut self, ttl: TtlPolicy) -> Self {
        self.ttl = ttl;
        self
    }

    /// Makes the weighted SRV selection reproducible.
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = Some(seed);
        self
    }
}

/// Bounded FIFO map of learned `authority → domain` pairs (PROTOCOL.md §7.1).
#[derive(Debug)]
struct Learned {
    map: HashMap<Box<str>, Box<str>>,
    order: VecDeque<Box<str>>,
    capacity: usize,
}

impl Learned {
    fn insert(&mut self, authority: String, domain: &str) {
        if self.capacity == 0 {
            return;
        }
        let authority: Box<str> = authority.into();
        if let Some(d) = self.map.get_mut(&authority) {
            *d = domain.into();
            return;
        }
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.order.push_back(authority.clone());
        self.map.insert(authority, domain.into());
    }
}

#[derive(Debug)]
struct State {
    srv: TtlCache<Box<str>, Answer<SrvRecord>>,
    ip: TtlCache<Box<str>, Answer<IpAddr>>,
    learned: Learned,
    rng: XorShift,
}

/// Resolves RVP domains and addresses through a [`Resolve`] source, with a TTL cache.
///
/// The resolver is shared by reference (`&self` everywhere; internal state behind a
/// mutex that is never held across an `.await`). It reads the clock once per call and
/// passes it to the sans-IO cache; [`Resolver::plan_at`] takes the time explicitly.
#[derive(Debug)]
pub struct Resolver<R> {
    source: R,
    config: ResolverConfig,
    state: Mutex<State>,
}

/// Marker: the answer was needed but is not cached (only in cache-only mode).
struct Miss;

impl<R: Resolve> Resolver<R> {
    /// A resolver with the default configuration.
    pub fn new(source: R) -> Self {
        Self::with_config(source, ResolverConfig::default())
    }

    /// A resolver with `config`.
    pub fn with_config(source: R, config: ResolverConfig) -> Self {
        let rng = config
            .rng_seed
            .map_or_else(XorShift::from_entropy, XorShift::with_seed);
        let state = State {
            srv: TtlCache::new(config.cache_capacity),
            ip: TtlCache::new(config.cache_capacity),
            learned: Learned {
                map: HashMap::new(),
                order: VecDeque::new(),
                capacity: config.learned_capacity,
            },
            rng,
        };
        Self {
            source,
            config,
            state: Mutex::new(state),
        }
    }

    /// The DNS source.
    pub fn source(&self) -> &R {
        &self.source
    }

    /// The configuration.
    pub fn config(&self) -> &ResolverConfig {
        &self.config
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is consistent after any panic (single inserts), so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves `address`: its plan and the logical URL of the principal.
    pub async fn resolve(&self, address: &Address) -> Result<Resolution, ResolveError> {
        let plan = self.plan(address.domain()).await?;
        let logical_url = plan.logical_url(plan.primary(), address.alias())?;
        Ok(Resolution {
            address: address.clone(),
            plan,
            logical_url,
        })
    }

    /// The ordered targets for `domain`, reading the clock now.
    ///
    /// A failed DNS query ([`ResolveError::Lookup`]: timeout, `SERVFAIL`, `REFUSED`) is
    /// returned as such, without falling back to address records: only an answer that
    /// says "no SRV record" leads to the fallback. Errors are not cached.
    pub async fn plan(&self, domain: &str) -> Result<Plan, ResolveError> {
        self.plan_at(domain, Instant::now()).await
    }

    /// The ordered targets for `domain` at time `now` (cache expiry is judged at `now`).
    pub async fn plan_at(&self, domain: &str, now: Instant) -> Result<Plan, ResolveError> {
        match self.plan_inner(domain, now, false).await {
            Ok(r) => r,
            // Unreachable: misses are only reported in cache-only mode.
            Err(Miss) => Err(ResolveError::NotFound {
                domain: domain.to_owned(),
            }),
        }
    }

    /// The plan for `domain` from the cache alone, without any query: `None` when an
    /// answer it needs is missing or expired at `now`. Synchronous and cheap (the
    /// benchmark's "cache hit").
    pub fn plan_cached(&self, domain: &str, now: Instant) -> Option<Result<Plan, ResolveError>> {
        let fut = pin!(self.plan_inner(domain, now, true));
        // Cache-only mode never awaits the source, so one poll completes it.
        match fut.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(r)) => Some(r),
            Poll::Ready(Err(Miss)) | Poll::Pending => None,
        }
    }

    /// The addresses of `host` — a [`Target`] of a plan, or a host named in a URL — reading
    /// the clock now. Answers (negative ones too) are cached for their TTL, like the SRV
    /// answers behind a plan, so a server delivering to the same host again asks DNS
    /// once per TTL.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, ResolveError> {
        self.addresses_at(host, Instant::now()).await
    }

    /// [`Resolver::addresses`] at time `now` (cache expiry is judged at `now`).
    pub async fn addresses_at(
        &self,
        host: &str,
        now: Instant,
    ) -> Result<Vec<IpAddr>, ResolveError> {
        let host = normalize_domain(host)?;
        match self.ip_answer(&host, now, false).await {
            Ok(Ok(a)) if !a.is_negative() && !a.records().is_empty() => Ok(a.records().to_vec()),
            Ok(Ok(_)) | Err(Miss) => Err(ResolveError::NoAddress { host }),
            Ok(Err(e)) => Err(e.into()),
        }
    }

    /// Drops what is cached for `domain` (PROTOCOL.md §7.1 step 5: on a connection
    /// failure or a `404`, forget and ask DNS again).
    pub fn forget(&self, domain: &str) {
        let d = domain
            .strip_suffix('.')
            .unwrap_or(domain)
            .to_ascii_lowercase();
        let mut st = self.state();
        st.srv.remove(srv_name(&d).as_str());
        st.srv.remove(tls_srv_name(&d).as_str());
        st.ip.remove(d.as_str());
        st.ip.remove(format!("im.{d}").as_str());
    }

    /// The TLS endpoints of `domain`, reading the clock now: its `_rvps._tcp` SRV
    /// targets in RFC 2782 order ([`TargetSource::TlsSrv`]), or `None` when it publishes
    /// none (no such name, no SRV data, or only the `.` target). There is no address
    /// fallback: a domain speaks TLS only where it says so. A failed query is an error
    /// (not cached), as for [`Resolver::plan`]; answers are cached for their TTL beside
    /// the `_rvp._tcp` ones, and [`Resolver::forget`] drops both. A domain with a
    /// configured server ([`ResolverConfig::manual_server`], a domain override) asks no
    /// DNS and has none. PROTOCOL.md §7.6, our convention (R).
    pub async fn tls_plan(&self, domain: &str) -> Result<Option<Plan>, ResolveError> {
        self.tls_plan_at(domain, Instant::now()).await
    }

    /// [`Resolver::tls_plan`] at time `now` (cache expiry is judged at `now`).
    pub async fn tls_plan_at(
        &self,
        domain: &str,
        now: Instant,
    ) -> Result<Option<Plan>, ResolveError> {
        let domain = normalize_domain(domain)?;
        if self.config.domain_overrides.contains_key(domain.as_str())
            || self.config.manual_server.is_some()
        {
            return Ok(None);
        }
        let answer = match self
            .srv_answer_named(&domain, &tls_srv_name(&domain), now, false)
            .await
        {
            Ok(r) => r?,
            // Unreachable: misses are only reported in cache-only mode.
            Err(Miss) => return Ok(None),
        };
        if answer.is_negative() {
            return Ok(None);
        }
        let SrvVerdict::Targets(records) = order(answer.records(), &mut self.state().rng) else {
            return Ok(None);
        };
        let mut targets: Vec<Target> = Vec::with_capacity(records.len());
        for r in records {
            if !targets
                .iter()
                .any(|x| x.host == r.target && x.port == r.port)
            {
                targets.push(Target {
                    host: r.target,
                    port: r.port,
                    source: TargetSource::TlsSrv,
                });
            }
        }
        Ok((!targets.is_empty()).then(|| Plan {
            domain: domain.into(),
            targets,
        }))
    }

    /// The domain `D` for which `authority` (`T` or `T:P`) was seen as an SRV target.
    pub fn learned_domain(&self, authority: &str) -> Option<String> {
        let a = authority.to_ascii_lowercase();
        self.state()
            .learned
            .map
            .get(a.as_str())
            .map(|d| d.to_string())
    }

    /// The address a user should see for `url` (PROTOCOL.md §7.1, reverse mapping):
    /// `alias@D` if the URL's host is a known SRV target of `D`, else `alias@H` with the
    /// URL's host `H` (port dropped).
    pub fn display_address(&self, url: &LogicalUrl) -> Result<Address, AddressError> {
        match self.learned_domain(url.host()) {
            Some(d) => Address::new(url.alias(), &d),
            None => Address::from_logical_url(url),
        }
    }

    async fn plan_inner(
        &self,
        domain: &str,
        now: Instant,
        cache_only: bool,
    ) -> Result<Result<Plan, ResolveError>, Miss> {
        let domain = match normalize_domain(domain) {
            Ok(d) => d,
            Err(e) => return Ok(Err(e.into())),
        };
        let manual = self
            .config
            .domain_overrides
            .get(domain.as_str())
            .or(self.config.manual_server.as_ref());
        if let Some((host, port)) = manual {
            return Ok(Ok(Plan {
                domain: domain.into(),
                targets: vec![Target {
                    host: host.clone(),
                    port: *port,
                    source: TargetSource::Manual,
                }],
            }));
        }

        // 1. SRV.
        let srv = match self.srv_answer(&domain, now, cache_only).await? {
            Ok(a) => a,
            Err(e) => return Ok(Err(e.into())),
        };
        if !srv.is_negative() {
            let verdict = order(srv.records(), &mut self.state().rng);
            match verdict {
                SrvVerdict::NoService => return Ok(Err(ResolveError::NoService { domain })),
                SrvVerdict::Targets(t) if !t.is_empty() => {
                    // The same host:port listed twice is tried once, at its best place.
                    let mut targets: Vec<Target> = Vec::with_capacity(t.len());
                    for r in t {
                        if !targets
                            .iter()
                            .any(|x| x.host == r.target && x.port == r.port)
                        {
                            targets.push(Target {
                                host: r.target,
                                port: r.port,
                                source: TargetSource::Srv,
                            });
                        }
                    }
                    return Ok(Ok(Plan {
                        domain: domain.into(),
                        targets,
                    }));
                }
                SrvVerdict::Targets(_) => {}
            }
        }

        // 2. The domain's own address records.
        let candidates = [
            (domain.clone(), TargetSource::AddressFallback, true),
            (
                format!("im.{domain}"),
                TargetSource::ImHeuristic,
                self.config.im_heuristic && !domain.starts_with("im."),
            ),
        ];
        for (name, source, enabled) in candidates {
            if !enabled {
                continue;
            }
            match self.ip_answer(&name, now, cache_only).await? {
                Ok(a) if !a.is_negative() => {
                    return Ok(Ok(Plan {
                        domain: domain.into(),
                        targets: vec![Target {
                            host: name.into(),
                            port: DEFAULT_PORT,
                            source,
                        }],
                    }));
                }
                Ok(_) => {}
                Err(e) => return Ok(Err(e.into())),
            }
        }
        Ok(Err(ResolveError::NotFound { domain }))
    }

    async fn srv_answer(
        &self,
        domain: &str,
        now: Instant,
        cache_only: bool,
    ) -> Result<Result<Answer<SrvRecord>, LookupError>, Miss> {
        self.srv_answer_named(domain, &srv_name(domain), now, cache_only)
            .await
    }

    /// The SRV answer for `name` (`_rvp._tcp.<domain>` or `_rvps._tcp.<domain>`), cached.
    /// Only `_rvp._tcp` targets are learned for display (URLs name those, not the TLS
    /// endpoints).
    async fn srv_answer_named(
        &self,
        domain: &str,
        name: &str,
        now: Instant,
        cache_only: bool,
    ) -> Result<Result<Answer<SrvRecord>, LookupError>, Miss> {
        let learn = name.starts_with("_rvp._tcp.");
        if let Some((a, _)) = self.state().srv.get(name, now) {
            return Ok(Ok(a.clone()));
        }
        if cache_only {
            return Err(Miss);
        }
        let answer = match self.source.lookup_srv(name).await {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let mut st = self.state();
        let ttl = self.ttl_of(&answer);
        for r in answer.records() {
            if learn && !r.is_no_service() {
                st.learned.insert(authority(&r.target, r.port), domain);
            }
        }
        st.srv.insert(name.into(), answer.clone(), ttl, now);
        Ok(Ok(answer))
    }

    async fn ip_answer(
        &self,
        name: &str,
        now: Instant,
        cache_only: bool,
    ) -> Result<Result<Answer<IpAddr>, LookupError>, Miss> {
        if let Some((a, _)) = self.state().ip.get(name, now) {
            return Ok(Ok(a.clone()));
        }
        if cache_only {
            return Err(Miss);
        }
        let answer = match self.source.lookup_ip(name).await {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let ttl = self.ttl_of(&answer);
        self.state()
            .ip
            .insert(name.into(), answer.clone(), ttl, now);
        Ok(Ok(answer))
    }

    fn ttl_of<T>(&self, answer: &Answer<T>) -> std::time::Duration {
        match answer {
            Answer::Records { ttl, .. } => self.config.ttl.positive(*ttl),
            Answer::NxDomain { ttl } | Answer::NoData { ttl } => self.config.ttl.negative(*ttl),
        }
    }
}
