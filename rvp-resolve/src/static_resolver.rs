//! [`StaticResolver`]: DNS answers from fixed tables (tests, fixed deployments).

use std::collections::HashMap;
use std::future::{Future, ready};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::source::{Answer, LookupError, Resolve};
use crate::srv::SrvRecord;

/// A [`Resolve`] source answering from tables filled at construction.
///
/// Names are matched case-insensitively, with or without a trailing dot. A name with no
/// entry at all is `NXDOMAIN`; a name that has an entry of the other type only is
/// `NODATA`. Lookups complete immediately and count themselves ([`Self::queries`]),
/// which lets tests check that a cache in front of it works.
///
/// ```
/// use rvp_resolve::{StaticResolver, SrvRecord};
/// use std::time::Duration;
///
/// let dns = StaticResolver::new()
///     .with_srv("_rvp._tcp.acme.test", vec![SrvRecord::new(0, 0, 80, "im.acme.test")], Duration::from_secs(300))
///     .with_ip("im.acme.test", vec!["192.0.2.1".parse().unwrap()], Duration::from_secs(300));
/// # let _ = dns;
/// ```
#[derive(Debug, Default)]
pub struct StaticResolver {
    srv: HashMap<Box<str>, (Vec<SrvRecord>, Duration)>,
    ip: HashMap<Box<str>, (Vec<IpAddr>, Duration)>,
    negative_ttl: Option<Duration>,
    queries: AtomicUsize,
}

fn key(name: &str) -> Box<str> {
    name.strip_suffix('.')
        .unwrap_or(name)
        .to_ascii_lowercase()
        .into()
}

impl StaticResolver {
    /// An empty table: every name is `NXDOMAIN`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds SRV records for `name` with the given TTL.
    pub fn with_srv(mut self, name: &str, records: Vec<SrvRecord>, ttl: Duration) -> Self {
        self.srv.insert(key(name), (records, ttl));
        self
    }

    /// Adds addresses for `name` with the given TTL.
    pub fn with_ip(mut self, name: &str, addrs: Vec<IpAddr>, ttl: Duration) -> Self {
        self.ip.insert(key(name), (addrs, ttl));
        self
    }

    /// The TTL reported with negative answers (default: none, as if no SOA came back).
    pub fn with_negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = Some(ttl);
        self
    }

    /// How many lookups were made so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::Relaxed)
    }

    fn answer<T: Clone>(
        &self,
        table: &HashMap<Box<str>, (Vec<T>, Duration)>,
        name: &str,
    ) -> Answer<T> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let k = key(name);
        match table.get(&k) {
            Some((records, ttl)) if !records.is_empty() => Answer::Records {
                records: records.clone(),
                ttl: *ttl,
            },
            Some(_) => Answer::NoData {
                ttl: self.negative_ttl,
            },
            None if self.srv.contains_key(&k) || self.ip.contains_key(&k) => Answer::NoData {
                ttl: self.negative_ttl,
            },
            None => Answer::NxDomain {
                ttl: self.negative_ttl,
            },
        }
    }
}

impl Resolve for StaticResolver {
    fn lookup_srv(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<SrvRecord>, LookupError>> + Send {
        ready(Ok(self.answer(&self.srv, name)))
    }

    fn lookup_ip(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<IpAddr>, LookupError>> + Send {
        ready(Ok(self.answer(&self.ip, name)))
    }
}
