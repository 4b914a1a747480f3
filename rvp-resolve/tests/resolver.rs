//! `Resolver` behaviour over the `StaticResolver` source (no network).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rvp_proto::url::LogicalUrl;
use rvp_resolve::{
    Address, ResolveError, Resolver, ResolverConfig, SrvRecord, StaticResolver, TargetSource,
    TtlPolicy,
};

const TTL: Duration = Duration::from_secs(300);

/// Drives a future that never waits (the static source answers at once).
fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a StaticResolver-backed future must complete at once"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn acme() -> StaticResolver {
    StaticResolver::new()
        .with_srv(
            "_rvp._tcp.acme.test",
            vec![
                SrvRecord::new(0, 1, 80, "im1.acme.test."),
                SrvRecord::new(0, 1, 80, "im2.acme.test."),
            ],
            TTL,
        )
        .with_srv(
            "_rvp._tcp.closed.test",
            vec![SrvRecord::new(0, 0, 0, ".")],
            TTL,
        )
        .with_ip("closed.test", vec![ip("192.0.2.9")], TTL)
        .with_ip("plain.test", vec![ip("192.0.2.1")], TTL)
        .with_ip("im.guess.test", vec![ip("192.0.2.2")], TTL)
        .with_negative_ttl(Duration::from_secs(30))
}

#[test]
fn manual_server_and_domain_overrides_skip_dns() {
    let r = Resolver::with_config(
        acme(),
        ResolverConfig::default()
            .with_manual_server("Gateway.Corp.test", 8080)
            .with_domain_override("acme.test.", "im9.acme.test", 80),
    );
    let res = now_or_never(r.resolve(&"bruceb@acme.test".parse().unwrap())).unwrap();
    let t = res.plan.primary();
    assert_eq!(
        (&*t.host, t.port, t.source),
        ("im9.acme.test", 80, TargetSource::Manual)
    );
    // The identity stays in the IM domain the user typed.
    assert_eq!(
        res.logical_url.to_string(),
        "http://acme.test/instmsg/aliases/bruceb"
    );
    let p = now_or_never(r.plan("anything.test")).unwrap();
    assert_eq!(p.primary().to_string(), "gateway.corp.test:8080");
    assert_eq!(r.source().queries(), 0);
}

#[test]
fn srv_fallback_heuristic_and_errors() {
    let r = Resolver::new(acme());
    let p = now_or_never(r.plan("ACME.test")).unwrap();
    assert_eq!(p.domain(), "acme.test");
    assert_eq!(p.targets().len(), 2);
    assert!(p.iter().all(|t| t.source == TargetSource::Srv));

    assert_eq!(
        now_or_never(r.plan("closed.test")),
        Err(ResolveError::NoService {
            domain: "closed.test".into()
        })
    );
    let p = now_or_never(r.plan("plain.test")).unwrap();
    assert_eq!(p.primary().source, TargetSource::AddressFallback);
    assert_eq!(p.primary().to_string(), "plain.test:80");

    assert!(matches!(
        now_or_never(r.plan("guess.test")),
        Err(ResolveError::NotFound { .. })
    ));
    let h = Resolver::with_config(acme(), ResolverConfig::default().with_im_heuristic(true));
    let p = now_or_never(h.plan("guess.test")).unwrap();
    assert_eq!(
        (&*p.primary().host, p.primary().source),
        ("im.guess.test", TargetSource::ImHeuristic)
    );
    // The heuristic does not stack: im.im.x is never tried.
    assert!(matches!(
        now_or_never(h.plan("im.nothing.test")),
        Err(ResolveError::NotFound { .. })
    ));
    assert!(matches!(
        now_or_never(r.plan("bad..name")),
        Err(ResolveError::Address(_))
    ));
}

#[test]
fn cache_hits_ttl_expiry_and_negative_ttl() {
    let r = Resolver::new(acme());
    let t0 = Instant::now();
    assert!(r.plan_cached("acme.test", t0).is_none());
    now_or_never(r.plan_at("acme.test", t0)).unwrap();
    assert_eq!(r.source().queries(), 1);
    assert!(r.plan_cached("acme.test", t0 + TTL / 2).is_some());
    now_or_never(r.plan_at("acme.test", t0 + TTL / 2)).unwrap();
    assert_eq!(r.source().queries(), 1);
    now_or_never(r.plan_at("acme.test", t0 + TTL)).unwrap();
    assert_eq!(r.source().queries(), 2);

    // Negative answers: SRV NXDOMAIN + A NXDOMAIN, kept for the SOA TTL (30 s here).
    let _ = now_or_never(r.plan_at("nowhere.test", t0));
    assert_eq!(r.source().queries(), 4);
    assert!(matches!(
        r.plan_cached("nowhere.test", t0 + Duration::from_secs(29)),
        Some(Err(ResolveError::NotFound { .. }))
    ));
    assert!(
        r.plan_cached("nowhere.test", t0 + Duration::from_secs(30))
            .is_none()
    );
}

#[test]
fn host_addresses_are_cached_for_their_ttl_negative_answers_too() {
    let r = Resolver::new(acme());
    let t0 = Instant::now();
    assert_eq!(
        now_or_never(r.addresses_at("Plain.Test.", t0)).unwrap(),
        vec![ip("192.0.2.1")]
    );
    assert_eq!(r.source().queries(), 1);
    // Same host, any spelling, within the TTL: no query.
    now_or_never(r.addresses_at("plain.test", t0 + TTL / 2)).unwrap();
    assert_eq!(r.source().queries(), 1);
    now_or_never(r.addresses_at("plain.test", t0 + TTL)).unwrap();
    assert_eq!(r.source().queries(), 2);
    // No address: a typed error naming the host, cached for the negative TTL.
    let e = now_or_never(r.addresses_at("nowhere.test", t0)).unwrap_err();
    assert_eq!(
        e,
        ResolveError::NoAddress {
            host: "nowhere.test".into()
        }
    );
    assert_eq!(e.to_string(), "no address record for nowhere.test");
    let _ = now_or_never(r.addresses_at("nowhere.test", t0 + Duration::from_secs(29)));
    assert_eq!(r.source().queries(), 3);
    // A plan's SRV target is looked up the same way (and an address fallback's answer
    // is shared with the plan's).
    let plan = now_or_never(r.plan_at("acme.test", t0)).unwrap();
    let e = now_or_never(r.addresses_at(&plan.primary().host, t0)).unwrap_err();
    assert!(matches!(e, ResolveError::NoAddress { .. }), "{e}");
    now_or_never(r.plan_at("plain.test", t0)).unwrap();
    let before = r.source().queries();
    now_or_never(r.addresses_at("plain.test", t0)).unwrap();
    assert_eq!(r.source().queries(), before);
    // Not a host name at all.
    assert!(matches!(
        now_or_never(r.addresses_at("not a host", t0)),
        Err(ResolveError::Address(_))
    ));
}

#[test]
fn ttl_policy_bounds_apply() {
    let mut policy = TtlPolicy::default();
    policy.positive_max = Duration::from_secs(10);
    let r = Resolver::with_config(acme(), ResolverConfig::default().with_ttl_policy(policy));
    let t0 = Instant::now();
    now_or_never(r.plan_at("acme.test", t0)).unwrap();
    assert!(
        r.plan_cached("acme.test", t0 + Duration::from_secs(9))
            .is_some()
    );
    assert!(
        r.plan_cached("acme.test", t0 + Duration::from_secs(10))
            .is_none()
    );
}

#[test]
fn cache_capacity_is_a_bound() {
    let r = Resolver::with_config(acme(), ResolverConfig::default().with_cache_capacity(1));
    let t0 = Instant::now();
    now_or_never(r.plan_at("acme.test", t0)).unwrap();
    now_or_never(r.plan_at("plain.test", t0)).unwrap();
    // Only one SRV answer fits: acme.test's was evicted for plain.test's.
    assert!(r.plan_cached("acme.test", t0).is_none());
    assert!(r.plan_cached("plain.test", t0).is_some());
    let off = Resolver::with_config(acme(), ResolverConfig::default().with_cache_capacity(0));
    now_or_never(off.plan_at("acme.test", t0)).unwrap();
    now_or_never(off.plan_at("acme.test", t0)).unwrap();
    assert_eq!(off.source().queries(), 2);
}

#[test]
fn reverse_display_mapping() {
    let r = Resolver::new(acme());
    let res = now_or_never(r.resolve(&"BruceB@acme.test".parse().unwrap())).unwrap();
    assert_eq!(
        r.display_address(&res.logical_url).unwrap(),
        Address::new("bruceb", "acme.test").unwrap()
    );
    assert_eq!(
        r.learned_domain("IM2.acme.test").as_deref(),
        Some("acme.test")
    );
    // Unknown host: displayed as alias@host, port dropped.
    let url = LogicalUrl::new("im.other.test:8080", "kevinf").unwrap();
    assert_eq!(
        r.display_address(&url).unwrap().to_string(),
        "kevinf@im.other.test"
    );
}

#[test]
fn learned_mappings_are_bounded() {
    let mut config = ResolverConfig::default();
    config.learned_capacity = 1;
    let dns = acme().with_srv(
        "_rvp._tcp.beta.test",
        vec![SrvRecord::new(0, 0, 80, "im.beta.test")],
        TTL,
    );
    let r = Resolver::with_config(dns, config);
    now_or_never(r.plan("acme.test")).unwrap();
    now_or_never(r.plan("beta.test")).unwrap();
    assert_eq!(
        r.learned_domain("im.beta.test").as_deref(),
        Some("beta.test")
    );
    assert_eq!(r.learned_domain("im1.acme.test"), None);
    assert_eq!(r.learned_domain("im2.acme.test"), None);
}

#[test]
fn duplicate_targets_are_tried_once() {
    let dns = StaticResolver::new().with_srv(
        "_rvp._tcp.dup.test",
        vec![
            SrvRecord::new(5, 0, 80, "im.dup.test"),
            SrvRecord::new(1, 0, 80, "IM.dup.test."),
            SrvRecord::new(3, 0, 81, "im.dup.test"),
        ],
        TTL,
    );
    let r = Resolver::new(dns);
    let p = now_or_never(r.plan("dup.test")).unwrap();
    let got: Vec<String> = p.iter().map(ToString::to_string).collect();
    assert_eq!(got, ["im.dup.test:80", "im.dup.test:81"]);
}

#[test]
fn seeded_resolvers_are_reproducible() {
    let order = |seed| {
        let r = Resolver::with_config(acme(), ResolverConfig::default().with_rng_seed(seed));
        (0..20)
            .map(|_| {
                now_or_never(r.plan("acme.test"))
                    .unwrap()
                    .primary()
                    .host
                    .clone()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(order(5), order(5));
}

proptest! {
    #[test]
    fn plans_never_violate_priority_order(
        recs in proptest::collection::vec((0u16..4, 0u16..100, 1u16..3000, "[a-d]\\.test"), 1..12),
        seed in any::<u64>(),
    ) {
        // Distinct targets (duplicates are merged, see `duplicate_targets_are_tried_once`).
        let records: Vec<SrvRecord> = recs
            .iter()
            .enumerate()
            .map(|(i, (p, w, port, t))| SrvRecord::new(*p, *w, *port, &format!("{i}{t}")))
            .collect();
        let dns = StaticResolver::new().with_srv("_rvp._tcp.x.test", records.clone(), TTL);
        let r = Resolver::with_config(dns, ResolverConfig::default().with_rng_seed(seed));
        let plan = now_or_never(r.plan("x.test")).unwrap();
        prop_assert_eq!(plan.targets().len(), records.len());
        let prio = |t: &rvp_resolve::Target| {
            records
                .iter()
                .filter(|r| r.target == t.host && r.port == t.port)
                .map(|r| r.priority)
                .min()
                .unwrap()
        };
        let prios: Vec<u16> = plan.iter().map(prio).collect();
        prop_assert!(prios.windows(2).all(|w| w[0] <= w[1]), "{:?}", prios);
        // Every target makes a valid logical URL.
        for t in &plan {
            prop_assert!(plan.logical_url(t, "a").is_ok());
        }
    }

    #[test]
    fn resolving_arbitrary_input_never_panics(s in "\\PC{0,100}") {
        let r = Resolver::new(acme());
        let _ = now_or_never(r.plan(&s));
        if let Ok(a) = s.parse::<Address>() {
            let _ = now_or_never(r.resolve(&a));
        }
    }
}

#[test]
fn resolver_and_its_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let r = Resolver::new(acme());
    send_sync(&r);
    let address: Address = "a@acme.test".parse().unwrap();
    let fut = r.resolve(&address);
    send(&fut);
    assert!(now_or_never(fut).is_ok());
}

#[test]
fn tls_endpoints_come_from_rvps_srv_only() {
    let dns = acme()
        .with_srv(
            "_rvps._tcp.acme.test",
            vec![
                SrvRecord::new(10, 0, 8443, "backup.acme.test."),
                SrvRecord::new(0, 5, 443, "im1.acme.test."),
                SrvRecord::new(0, 5, 443, "im1.acme.test."),
            ],
            TTL,
        )
        .with_srv(
            "_rvps._tcp.closed.test",
            vec![SrvRecord::new(0, 0, 0, ".")],
            TTL,
        );
    let r = Resolver::new(dns);
    // Published: the targets in RFC 2782 order, each once, marked as TLS endpoints.
    let p = now_or_never(r.tls_plan("ACME.test.")).unwrap().unwrap();
    let got: Vec<_> = p.iter().map(|t| (&*t.host, t.port, t.source)).collect();
    assert_eq!(
        got,
        [
            ("im1.acme.test", 443, TargetSource::TlsSrv),
            ("backup.acme.test", 8443, TargetSource::TlsSrv)
        ]
    );
    // A TLS endpoint never names the principal's URL: the domain does.
    assert_eq!(
        p.logical_url(p.primary(), "bob").unwrap().to_string(),
        "http://acme.test/instmsg/aliases/bob"
    );
    // ... and it is not learned for display (only _rvp._tcp targets are).
    assert_eq!(r.learned_domain("backup.acme.test:8443"), None);
    // Not published: no fallback to address records (plain.test has one), nor for "."
    // (closed.test), nor for a name that does not exist.
    assert_eq!(now_or_never(r.tls_plan("plain.test")).unwrap(), None);
    assert_eq!(now_or_never(r.tls_plan("closed.test")).unwrap(), None);
    assert_eq!(now_or_never(r.tls_plan("nowhere.test")).unwrap(), None);
    // Cached beside the _rvp._tcp answers, negative ones too; forget drops both.
    let q = r.source().queries();
    now_or_never(r.tls_plan("acme.test")).unwrap();
    now_or_never(r.tls_plan("plain.test")).unwrap();
    assert_eq!(r.source().queries(), q);
    now_or_never(r.plan("acme.test")).unwrap();
    let q = r.source().queries();
    r.forget("acme.test");
    now_or_never(r.tls_plan("acme.test")).unwrap();
    now_or_never(r.plan("acme.test")).unwrap();
    assert_eq!(r.source().queries(), q + 2);
    // A configured server asks no DNS and has no TLS endpoint.
    let manual = Resolver::with_config(
        acme().with_srv(
            "_rvps._tcp.acme.test",
            vec![SrvRecord::new(0, 0, 443, "im1.acme.test")],
            TTL,
        ),
        ResolverConfig::default().with_domain_override("acme.test", "im9.acme.test", 80),
    );
    assert_eq!(now_or_never(manual.tls_plan("acme.test")).unwrap(), None);
    assert_eq!(manual.source().queries(), 0);
    // A malformed domain is a typed error.
    assert!(matches!(
        now_or_never(r.tls_plan("bad domain")),
        Err(ResolveError::Address(_))
    ));
}

#[test]
fn a_failed_rvps_query_is_an_error_and_not_cached() {
    /// Every query fails (a DNS server answering REFUSED).
    struct Refusing(std::sync::atomic::AtomicUsize);
    impl rvp_resolve::Resolve for Refusing {
        async fn lookup_srv(
            &self,
            name: &str,
        ) -> Result<rvp_resolve::Answer<SrvRecord>, rvp_resolve::LookupError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(rvp_resolve::LookupError::Failed {
                name: name.to_owned(),
                reason: "REFUSED".into(),
            })
        }
        async fn lookup_ip(
            &self,
            name: &str,
        ) -> Result<rvp_resolve::Answer<IpAddr>, rvp_resolve::LookupError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(rvp_resolve::LookupError::Timeout {
                name: name.to_owned(),
            })
        }
    }
    let r = Resolver::new(Refusing(Default::default()));
    for _ in 0..2 {
        assert!(matches!(
            now_or_never(r.tls_plan("acme.test")),
            Err(ResolveError::Lookup(_))
        ));
    }
    assert_eq!(r.source().0.load(std::sync::atomic::Ordering::Relaxed), 2);
}
