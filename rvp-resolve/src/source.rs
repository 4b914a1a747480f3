//! The [`Resolve`] trait: where DNS answers come from.
//!
//! A source answers two questions, SRV records of a name and addresses of a name, and
//! reports negative answers as values ([`Answer::NxDomain`], [`Answer::NoData`]) so
//! that they can be cached. Transport trouble (timeouts, `SERVFAIL`, `REFUSED`) is a
//! [`LookupError`] and is never cached.
//!
//! # Why `impl Future` in the trait
//!
//! The methods return `impl Future + Send` (return-position `impl Trait` in traits,
//! stable since Rust 1.75) rather than a boxed future: a lookup through
//! [`crate::StaticResolver`] allocates nothing, and the `Send` bound lets a tokio
//! embedder spawn a [`crate::Resolver`] call on a multi-threaded runtime. The price is
//! that `dyn Resolve` is not possible; an embedder that needs dynamic dispatch wraps its
//! sources in an enum, or implements `Resolve` for a type that boxes internally.
//!
//! # Plugging in your own source
//!
//! ```
//! use std::future::{Future, ready};
//! use std::net::IpAddr;
//! use std::time::Duration;
//! use rvp_resolve::{Answer, LookupError, Resolve, Resolver, SrvRecord};
//!
//! /// Every domain is served by `rvp.<domain>` on port 80; no address records.
//! struct Convention;
//!
//! impl Resolve for Convention {
//!     fn lookup_srv(&self, name: &str)
//!         -> impl Future<Output = Result<Answer<SrvRecord>, LookupError>> + Send {
//!         let domain = name.trim_start_matches("_rvp._tcp.");
//!         let target = format!("rvp.{domain}");
//!         ready(Ok(Answer::Records {
//!             records: vec![SrvRecord::new(0, 0, 80, &target)],
//!             ttl: Duration::from_secs(60),
//!         }))
//!     }
//!
//!     fn lookup_ip(&self, _name: &str)
//!         -> impl Future<Output = Result<Answer<IpAddr>, LookupError>> + Send {
//!         ready(Ok(Answer::NxDomain { ttl: None }))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let resolver = Resolver::new(Convention);
//! let plan = resolver.plan("acme.test").await?;
//! assert_eq!(plan.primary().to_string(), "rvp.acme.test:80");
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use crate::srv::SrvRecord;

/// The answer to one DNS question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// The name has records of the asked type.
    Records {
        /// The records (never empty when produced by this crate's sources).
        records: Vec<T>,
        /// Their TTL (the smallest of the answer's TTLs).
        ttl: Duration,
    },
    /// The name does not exist (`NXDOMAIN`).
    NxDomain {
        /// How long the negative answer may be cached (from the SOA record), if known.
        ttl: Option<Duration>,
    },
    /// The name exists but has no record of the asked type (`NOERROR`, empty answer).
    NoData {
        /// How long the negative answer may be cached (from the SOA record), if known.
        ttl: Option<Duration>,
    },
}

impl<T> Answer<T> {
    /// The records, or an empty slice for a negative answer.
    pub fn records(&self) -> &[T] {
        match self {
            Answer::Records { records, .. } => records,
            Answer::NxDomain { .. } | Answer::NoData { .. } => &[],
        }
    }

    /// Whether this is a negative answer (or a positive one with no records).
    pub fn is_negative(&self) -> bool {
        self.records().is_empty()
    }
}

/// A DNS lookup that could not be answered. Not cached: the next call asks again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LookupError {
    /// No answer arrived in time.
    #[error("DNS query for {name} timed out")]
    Timeout {
        /// The queried name.
        name: String,
    },
    /// The name cannot be queried (not a valid DNS name).
    #[error("{name:?} is not a valid DNS name: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why the DNS layer rejected it.
        reason: String,
    },
    /// The server failed or refused (`SERVFAIL`, `REFUSED`), or the transport broke.
    #[error("DNS query for {name} failed: {reason}")]
    Failed {
        /// The queried name.
        name: String,
        /// What the DNS layer reported.
        reason: String,
    },
}

/// A source of DNS answers for [`crate::Resolver`].
///
/// Implementations: [`crate::StaticResolver`] (fixed tables) and, with the `hickory`
/// feature, `HickoryResolver` (real DNS over UDP/TCP).
pub trait Resolve {
    /// The SRV records of `name` (e.g. `_rvp._tcp.acme.com`).
    fn lookup_srv(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<SrvRecord>, LookupError>> + Send;

    /// The IPv4 and IPv6 addresses of `name`.
    fn lookup_ip(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<IpAddr>, LookupError>> + Send;
}

impl<R: Resolve + Sync> Resolve for &R {
    fn lookup_srv(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<SrvRecord>, LookupError>> + Send {
        (**self).lookup_srv(name)
    }

    fn lookup_ip(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<IpAddr>, LookupError>> + Send {
        (**self).lookup_ip(name)
    }
}

impl<R: Resolve + Send + Sync> Resolve for std::sync::Arc<R> {
    fn lookup_srv(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<SrvRecord>, LookupError>> + Send {
        (**self).lookup_srv(name)
    }

    fn lookup_ip(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<IpAddr>, LookupError>> + Send {
        (**self).lookup_ip(name)
    }
}
