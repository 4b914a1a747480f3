//! `rvp-resolve`: from what a user types (`alias@domain`) to where an RVP client
//! connects and which URL names the principal, the way Exchange 2000 Instant
//! Messaging did it with DNS SRV records (PROTOCOL.md §1.3, §7.1–7.2).
//!
//! # Data flow
//!
//! ```text
//!  "bruceb@acme.com"
//!        │ Address::parse
//!        ▼
//!  Address { alias, domain } ──────────────► Resolver::resolve
//!                                              │
//!        ┌─────────────────────────────────────┤ (manual override? → Manual target)
//!        ▼                                     │
//!  TtlCache (sans-IO, now passed in) ◄──miss── │ ── Resolve source (StaticResolver,
//!        │ hit                                 │    HickoryResolver → DNS server)
//!        ▼                                     ▼
//!  _rvp._tcp.acme.com SRV ── srv::order (RFC 2782) ──► Plan [Target, Target, …]
//!        │ none                                         │
//!        ▼                                              ▼
//!  A/AAAA of acme.com ──► Target(acme.com:80)    Plan::logical_url → LogicalUrl
//!        │ none                                  http://im.acme.com/instmsg/aliases/bruceb
//!        ▼
//!  (optional) A/AAAA of im.acme.com ──► Target(im.acme.com:80)
//! ```
//!
//! The resolver learns `SRV target → domain` pairs, so that an incoming
//! `http://im.acme.com/instmsg/aliases/bruceb` displays as `bruceb@acme.com`
//! ([`Resolver::display_address`]).
//!
//! # Example: an address resolved end to end
//!
//! ```
//! use std::time::Duration;
//! use rvp_resolve::{Address, Resolver, SrvRecord, StaticResolver, TargetSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ttl = Duration::from_secs(300);
//! let dns = StaticResolver::new()
//!     .with_srv(
//!         "_rvp._tcp.acme.test",
//!         vec![
//!             SrvRecord::new(10, 60, 80, "im1.acme.test"),
//!             SrvRecord::new(10, 40, 80, "im2.acme.test"),
//!             SrvRecord::new(20, 0, 8080, "backup.acme.test"),
//!         ],
//!         ttl,
//!     );
//! let resolver = Resolver::new(dns);
//!
//! let address: Address = "bruceb@acme.test".parse()?;
//! let resolved = resolver.resolve(&address).await?;
//!
//! // Try the targets in order; on a connection failure, take the next one.
//! let targets = resolved.plan.targets();
//! assert_eq!(targets.len(), 3);
//! assert!(targets[..2].iter().all(|t| t.host.starts_with("im")));
//! assert_eq!(targets[2].to_string(), "backup.acme.test:8080");
//! assert_eq!(targets[0].source, TargetSource::Srv);
//!
//! // The principal's identity is named after the chosen SRV target.
//! let url = &resolved.logical_url;
//! assert_eq!(url.to_string(), format!("http://{}/instmsg/aliases/bruceb", targets[0].host));
//!
//! // And an incoming URL on that target displays as the address the user typed.
//! assert_eq!(resolver.display_address(url)?, address);
//!
//! // A second resolution is served from the cache (no new DNS query).
//! let queries = resolver.source().queries();
//! resolver.resolve(&address).await?;
//! assert_eq!(resolver.source().queries(), queries);
//! # Ok(())
//! # }
//! ```
//!
//! With the `hickory` feature, the same resolver runs on real DNS; the nameserver is
//! given explicitly and the system configuration is never read:
//!
#![cfg_attr(feature = "hickory", doc = "```no_run")]
#![cfg_attr(not(feature = "hickory"), doc = "```ignore")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use rvp_resolve::{HickoryResolver, Resolver};
//!
//! let dns = HickoryResolver::with_nameserver("127.0.0.1:5353".parse()?)?;
//! let resolver = Resolver::new(dns);
//! let resolved = resolver.resolve(&"bruceb@acme.test".parse()?).await?;
//! for target in resolved.plan.targets() {
//!     // connect to target.host:target.port, stop at the first that answers
//! #   let _ = target;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! * `hickory` (off by default): `HickoryResolver`, a [`Resolve`] source on
//!   hickory-resolver and tokio.
//! * `system-config` (off by default, implies `hickory`):
//!   `HickoryResolver::from_system_conf`, which reads `/etc/resolv.conf`.
//!
//! # Limits
//!
//! Every limit has a default and a test: alias ≤ [`MAX_ALIAS_LEN`] bytes, domain ≤
//! [`MAX_DOMAIN_LEN`], cache ≤ [`cache::DEFAULT_CAPACITY`] answers per record type,
//! learned mappings ≤ [`DEFAULT_LEARNED_CAPACITY`], TTLs clamped by [`TtlPolicy`].

// docs.rs builds with `--cfg docsrs` (Cargo.toml): items behind a feature say which.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod address;
pub mod cache;
mod resolver;
pub mod source;
pub mod srv;
mod static_resolver;

#[cfg(feature = "hickory")]
#[cfg_attr(docsrs, doc(cfg(feature = "hickory")))]
pub mod hickory;

pub use address::{Address, AddressError, MAX_ALIAS_LEN, MAX_DOMAIN_LEN, tls_srv_name};
pub use cache::{TtlCache, TtlPolicy};
#[cfg(feature = "hickory")]
#[cfg_attr(docsrs, doc(cfg(feature = "hickory")))]
pub use hickory::HickoryResolver;
pub use resolver::{
    DEFAULT_LEARNED_CAPACITY, DEFAULT_PORT, Plan, Resolution, ResolveError, Resolver,
    ResolverConfig, Target, TargetSource,
};
pub use source::{Answer, LookupError, Resolve};
pub use srv::{RandomSource, SrvRecord, XorShift};
pub use static_resolver::StaticResolver;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
