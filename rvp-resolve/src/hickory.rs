//! [`HickoryResolver`]: a [`Resolve`] source on hickory-resolver (feature `hickory`).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

use crate::source::{Answer, LookupError, Resolve};
use crate::srv::SrvRecord;

/// Default time allowed for one DNS query before it is retried or fails.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Default number of attempts per query.
pub const DEFAULT_ATTEMPTS: usize = 2;

/// Real DNS through hickory-resolver on tokio.
///
/// Built with [`HickoryResolver::with_nameserver`], it asks the given server only (UDP,
/// falling back to TCP for truncated answers), with no search domains and without
/// reading `/etc/resolv.conf` or `/etc/hosts`. `HickoryResolver::from_system_conf`
/// (feature `system-config`) uses the system configuration instead, when asked to.
///
/// hickory's own cache is disabled: [`crate::Resolver`] caches with the TTLs, so there
/// is exactly one cache and negative answers keep their SOA-derived TTL. Names are
/// queried as fully qualified (a trailing dot is added).
///
/// Must be used from within a tokio runtime.
#[derive(Debug, Clone)]
pub struct HickoryResolver {
    inner: TokioResolver,
}

impl HickoryResolver {
    /// A resolver asking only the nameserver at `addr` (UDP and TCP), with
    /// [`DEFAULT_QUERY_TIMEOUT`] and [`DEFAULT_ATTEMPTS`].
    pub fn with_nameserver(addr: SocketAddr) -> Result<Self, LookupError> {
        Self::with_nameservers(&[addr], DEFAULT_QUERY_TIMEOUT, DEFAULT_ATTEMPTS)
    }

    /// A resolver asking the nameservers `addrs` (UDP and TCP each), with a per-query
    /// `timeout` and `attempts` tries.
    pub fn with_nameservers(
        addrs: &[SocketAddr],
        timeout: Duration,
        attempts: usize,
    ) -> Result<Self, LookupError> {
        let servers = addrs
            .iter()
            .map(|a| {
                let mut udp = ConnectionConfig::udp();
                udp.port = a.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = a.port();
                NameServerConfig::new(a.ip(), true, vec![udp, tcp])
            })
            .collect();
        let config = ResolverConfig::from_parts(None, vec![], servers);
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = attempts;
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.ndots = 0;
        Self::build(config, opts)
    }

    /// A resolver using the operating system's DNS configuration (`/etc/resolv.conf` on
    /// Unix). Only this constructor reads it.
    #[cfg(feature = "system-config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "system-config")))]
    pub fn from_system_conf() -> Result<Self, LookupError> {
        let (config, mut opts) = hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| failed("system configuration", &e))?;
        opts.cache_size = 0;
        Self::build(config, opts)
    }

    fn build(config: ResolverConfig, opts: ResolverOpts) -> Result<Self, LookupError> {
        let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
        *builder.options_mut() = opts;
        let inner = builder.build().map_err(|e| failed("resolver setup", &e))?;
        Ok(Self { inner })
    }

    /// The underlying hickory resolver.
    pub fn inner(&self) -> &TokioResolver {
        &self.inner
    }
}

/// The fully qualified form of `name`, validated (so that a bad name is reported as
/// such and not as a transport failure).
fn fqdn(name: &str) -> Result<Name, LookupError> {
    let full = if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    Name::from_ascii(&full).map_err(|e| LookupError::InvalidName {
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

fn failed(name: &str, e: &NetError) -> LookupError {
    LookupError::Failed {
        name: name.to_owned(),
        reason: e.to_string(),
    }
}

/// Maps a hickory error to a negative answer (NXDOMAIN / NODATA with the SOA TTL) or a
/// lookup error.
fn negative<T>(name: &str, e: NetError) -> Result<Answer<T>, LookupError> {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(NoRecords {
            response_code,
            negative_ttl,
            ..
        })) => {
            let ttl = negative_ttl.map(|s| Duration::from_secs(u64::from(s)));
            if response_code == ResponseCode::NXDomain {
                Ok(Answer::NxDomain { ttl })
            } else {
                Ok(Answer::NoData { ttl })
            }
        }
        NetError::Timeout => Err(LookupError::Timeout {
            name: name.to_owned(),
        }),
        other => Err(failed(name, &other)),
    }
}

fn ttl_until(valid_until: Instant, ttls: impl Iterator<Item = u32>) -> Duration {
    ttls.min()
        .map(|s| Duration::from_secs(u64::from(s)))
        .unwrap_or_else(|| valid_until.saturating_duration_since(Instant::now()))
}

impl Resolve for HickoryResolver {
    fn lookup_srv(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<SrvRecord>, LookupError>> + Send {
        let name = name.to_owned();
        let inner = self.inner.clone();
        async move {
            let lookup = match inner.lookup(fqdn(&name)?, RecordType::SRV).await {
                Ok(l) => l,
                Err(e) => return negative(&name, e),
            };
            let records: Vec<SrvRecord> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(s) => Some(SrvRecord::new(
                        s.priority,
                        s.weight,
                        s.port,
                        &s.target.to_ascii(),
                    )),
                    _ => None,
                })
                .collect();
            if records.is_empty() {
                return Ok(Answer::NoData { ttl: None });
            }
            let ttl = ttl_until(
                lookup.valid_until(),
                lookup
                    .answers()
                    .iter()
                    .filter(|r| matches!(r.data, RData::SRV(_)))
                    .map(|r| r.ttl),
            );
            Ok(Answer::Records { records, ttl })
        }
    }

    fn lookup_ip(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<IpAddr>, LookupError>> + Send {
        let name = name.to_owned();
        let inner = self.inner.clone();
        async move {
            let lookup = match inner.lookup_ip(fqdn(&name)?).await {
                Ok(l) => l,
                Err(e) => return negative(&name, e),
            };
            let records: Vec<IpAddr> = lookup.iter().collect();
            if records.is_empty() {
                return Ok(Answer::NoData { ttl: None });
            }
            let ttl = ttl_until(
                lookup.valid_until(),
                lookup
                    .as_lookup()
                    .answers()
                    .iter()
                    .filter(|r| matches!(r.data, RData::A(_) | RData::AAAA(_)))
                    .map(|r| r.ttl),
            );
            Ok(Answer::Records { records, ttl })
        }
    }
}
