//! Integration tests against a real DNS server (dnsmasq on 127.0.0.1), through
//! `HickoryResolver` and `Resolver`. Needs the `hickory` feature (see Cargo.toml).
//!
//! Under `CI=true` a missing dnsmasq fails these tests; elsewhere they skip loudly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rvp_interop::dnsmasq::Dnsmasq;
use rvp_resolve::{
    Address, Answer, HickoryResolver, LookupError, Resolve, ResolveError, Resolver, ResolverConfig,
    SrvRecord, TargetSource,
};

/// TTL dnsmasq gives its local records in these tests (seconds).
const LOCAL_TTL: u64 = 30;

fn zone_args() -> Vec<String> {
    [
        "--local=/example.test/",
        // Several priorities and weights.
        "--srv-host=_rvp._tcp.multi.example.test,im1.example.test,80,10,60",
        "--srv-host=_rvp._tcp.multi.example.test,im2.example.test,80,10,40",
        "--srv-host=_rvp._tcp.multi.example.test,backup.example.test,8080,20,0",
        // The "." target: no service here.
        "--srv-host=_rvp._tcp.none.example.test",
        "--host-record=none.example.test,127.0.0.9",
        // No SRV, but an address: the fallback.
        "--host-record=fallback.example.test,127.0.0.5",
        // Nothing for heur.example.test itself, an address for im.heur.example.test.
        "--host-record=im.heur.example.test,127.0.0.6",
        "--host-record=im1.example.test,127.0.0.2",
        "--host-record=im2.example.test,127.0.0.3",
        "--host-record=backup.example.test,127.0.0.4",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([format!("--local-ttl={LOCAL_TTL}")])
    .collect()
}

fn server(test: &str) -> Option<Dnsmasq> {
    Dnsmasq::start_or_skip(test, &zone_args())
}

/// A `Resolve` wrapper that counts the queries reaching the real server.
struct Counting {
    inner: HickoryResolver,
    srv: AtomicUsize,
    ip: AtomicUsize,
}

impl Counting {
    fn new(dns: &Dnsmasq) -> Self {
        Self {
            inner: HickoryResolver::with_nameserver(dns.addr).unwrap(),
            srv: AtomicUsize::new(0),
            ip: AtomicUsize::new(0),
        }
    }
    fn counts(&self) -> (usize, usize) {
        (
            self.srv.load(Ordering::SeqCst),
            self.ip.load(Ordering::SeqCst),
        )
    }
}

impl Resolve for Counting {
    fn lookup_srv(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<SrvRecord>, LookupError>> + Send {
        self.srv.fetch_add(1, Ordering::SeqCst);
        self.inner.lookup_srv(name)
    }
    fn lookup_ip(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Answer<IpAddr>, LookupError>> + Send {
        self.ip.fetch_add(1, Ordering::SeqCst);
        self.inner.lookup_ip(name)
    }
}

#[tokio::test]
async fn srv_records_come_back_with_their_ttl() {
    let Some(dns) = server("srv_records_come_back_with_their_ttl") else {
        return;
    };
    let h = HickoryResolver::with_nameserver(dns.addr).unwrap();
    let Answer::Records { mut records, ttl } =
        h.lookup_srv("_rvp._tcp.multi.example.test").await.unwrap()
    else {
        panic!("expected SRV records")
    };
    records.sort_by_key(|r| (r.priority, r.port, r.target.clone()));
    assert_eq!(
        records,
        vec![
            SrvRecord::new(10, 60, 80, "im1.example.test"),
            SrvRecord::new(10, 40, 80, "im2.example.test"),
            SrvRecord::new(20, 0, 8080, "backup.example.test"),
        ]
    );
    assert!(ttl <= Duration::from_secs(LOCAL_TTL), "{ttl:?}");
    assert!(ttl > Duration::ZERO, "{ttl:?}");

    let Answer::Records { records, .. } = h.lookup_ip("fallback.example.test").await.unwrap()
    else {
        panic!("expected an address")
    };
    assert_eq!(records, vec!["127.0.0.5".parse::<IpAddr>().unwrap()]);
}

#[tokio::test]
async fn nxdomain_nodata_and_refused_are_told_apart() {
    let Some(dns) = server("nxdomain_nodata_and_refused_are_told_apart") else {
        return;
    };
    let h = HickoryResolver::with_nameserver(dns.addr).unwrap();
    assert!(matches!(
        h.lookup_ip("gone.example.test").await,
        Ok(Answer::NxDomain { .. })
    ));
    assert!(matches!(
        h.lookup_srv("_rvp._tcp.gone.example.test").await,
        Ok(Answer::NxDomain { .. })
    ));
    // The name exists (it has an A record) but has no SRV record.
    assert!(matches!(
        h.lookup_srv("fallback.example.test").await,
        Ok(Answer::NoData { .. })
    ));
    // Outside the declared zone dnsmasq (no upstream) refuses: an error, not an answer.
    let err = h.lookup_srv("_rvp._tcp.elsewhere.org").await;
    assert!(matches!(err, Err(LookupError::Failed { .. })), "{err:?}");
}

#[tokio::test]
async fn address_resolves_through_srv_in_priority_order() {
    let Some(dns) = server("address_resolves_through_srv_in_priority_order") else {
        return;
    };
    let resolver = Resolver::new(HickoryResolver::with_nameserver(dns.addr).unwrap());
    let address: Address = "BruceB@Multi.Example.Test".parse().unwrap();
    let mut first_hosts = HashSet::new();
    for _ in 0..200 {
        let r = resolver.resolve(&address).await.unwrap();
        let t = r.plan.targets();
        assert_eq!(t.len(), 3);
        assert!(t.iter().all(|t| t.source == TargetSource::Srv));
        assert!(t[..2].iter().all(|t| t.port == 80));
        assert_eq!(t[2].to_string(), "backup.example.test:8080");
        assert_eq!(
            r.logical_url.to_string(),
            format!("http://{}/instmsg/aliases/bruceb", t[0].host)
        );
        // The backup target's URL carries its port (PROTOCOL.md §7.1: P ≠ 80).
        assert_eq!(
            r.plan.logical_url(&t[2], "bruceb").unwrap().to_string(),
            "http://backup.example.test:8080/instmsg/aliases/bruceb"
        );
        first_hosts.insert(t[0].host.to_string());
    }
    // Both weighted targets of the first priority come first some of the time.
    assert_eq!(first_hosts.len(), 2, "{first_hosts:?}");

    // Reverse mapping: URLs on the learned SRV targets display as the typed domain.
    for host in [
        "im1.example.test",
        "im2.example.test",
        "backup.example.test:8080",
    ] {
        let url = rvp_proto::url::LogicalUrl::new(host, "bruceb").unwrap();
        assert_eq!(
            resolver.display_address(&url).unwrap().to_string(),
            "bruceb@multi.example.test"
        );
    }
    let other = rvp_proto::url::LogicalUrl::new("im.other.test", "kevinf").unwrap();
    assert_eq!(
        resolver.display_address(&other).unwrap().to_string(),
        "kevinf@im.other.test"
    );
}

#[tokio::test]
async fn dot_target_means_no_service_and_no_fallback() {
    let Some(dns) = server("dot_target_means_no_service_and_no_fallback") else {
        return;
    };
    let resolver = Resolver::new(HickoryResolver::with_nameserver(dns.addr).unwrap());
    // none.example.test has an A record, but its SRV "." forbids the fallback.
    assert_eq!(
        resolver.plan("none.example.test").await,
        Err(ResolveError::NoService {
            domain: "none.example.test".into()
        })
    );
}

#[tokio::test]
async fn no_srv_falls_back_to_the_address_on_port_80() {
    let Some(dns) = server("no_srv_falls_back_to_the_address_on_port_80") else {
        return;
    };
    let resolver = Resolver::new(HickoryResolver::with_nameserver(dns.addr).unwrap());
    let r = resolver
        .resolve(&"kevinf@fallback.example.test".parse().unwrap())
        .await
        .unwrap();
    let t = r.plan.primary();
    assert_eq!(
        (&*t.host, t.port, t.source),
        ("fallback.example.test", 80, TargetSource::AddressFallback)
    );
    assert_eq!(
        r.logical_url.to_string(),
        "http://fallback.example.test/instmsg/aliases/kevinf"
    );
}

#[tokio::test]
async fn nxdomain_is_not_found_and_the_im_heuristic_is_opt_in() {
    let Some(dns) = server("nxdomain_is_not_found_and_the_im_heuristic_is_opt_in") else {
        return;
    };
    let off = Resolver::new(HickoryResolver::with_nameserver(dns.addr).unwrap());
    assert_eq!(
        off.plan("gone.example.test").await,
        Err(ResolveError::NotFound {
            domain: "gone.example.test".into()
        })
    );
    assert!(matches!(
        off.plan("heur.example.test").await,
        Err(ResolveError::NotFound { .. })
    ));
    let on = Resolver::with_config(
        HickoryResolver::with_nameserver(dns.addr).unwrap(),
        ResolverConfig::default().with_im_heuristic(true),
    );
    let plan = on.plan("heur.example.test").await.unwrap();
    assert_eq!(
        (&*plan.primary().host, plan.primary().source),
        ("im.heur.example.test", TargetSource::ImHeuristic)
    );
}

#[tokio::test]
async fn the_cache_honours_the_servers_ttls() {
    let Some(dns) = server("the_cache_honours_the_servers_ttls") else {
        return;
    };
    let resolver = Resolver::new(Counting::new(&dns));
    let t0 = Instant::now();
    let ttl = Duration::from_secs(LOCAL_TTL);

    // Positive SRV answer.
    resolver.plan_at("multi.example.test", t0).await.unwrap();
    assert_eq!(resolver.source().counts(), (1, 0));
    resolver
        .plan_at("multi.example.test", t0 + ttl - Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(resolver.source().counts(), (1, 0), "served from the cache");
    assert!(
        resolver
            .plan_cached("multi.example.test", t0 + ttl + Duration::from_secs(1))
            .is_none()
    );
    resolver
        .plan_at("multi.example.test", t0 + ttl + Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(resolver.source().counts(), (2, 0), "expired: asked again");

    // Negative answers are cached too (dnsmasq sends no SOA for local zones, so the
    // policy's default negative TTL, 60 s, applies).
    let _ = resolver.plan_at("gone.example.test", t0).await;
    assert_eq!(resolver.source().counts(), (3, 1));
    let _ = resolver
        .plan_at("gone.example.test", t0 + Duration::from_secs(59))
        .await;
    assert_eq!(resolver.source().counts(), (3, 1), "negative answer cached");
    let _ = resolver
        .plan_at("gone.example.test", t0 + Duration::from_secs(61))
        .await;
    assert_eq!(
        resolver.source().counts(),
        (4, 2),
        "negative answer expired"
    );

    // forget() drops a domain at once (connection failure, 404).
    resolver.forget("multi.example.test");
    resolver
        .plan_at("multi.example.test", t0 + ttl + Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(resolver.source().counts(), (5, 2));
}

#[tokio::test]
async fn refused_is_an_error_and_is_not_cached() {
    let Some(dns) = server("refused_is_an_error_and_is_not_cached") else {
        return;
    };
    let resolver = Resolver::new(Counting::new(&dns));
    for n in 1..=2 {
        let r = resolver.plan("elsewhere.org").await;
        assert!(matches!(r, Err(ResolveError::Lookup(_))), "{r:?}");
        assert_eq!(resolver.source().counts(), (n, 0));
    }
}

#[tokio::test]
async fn a_silent_nameserver_is_a_bounded_lookup_error() {
    // A UDP socket that never answers (and a closed TCP port next to nothing).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let h = HickoryResolver::with_nameservers(
        &[silent.local_addr().unwrap()],
        Duration::from_millis(200),
        1,
    )
    .unwrap();
    let started = Instant::now();
    let r = h.lookup_srv("_rvp._tcp.acme.test").await;
    assert!(r.is_err(), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let resolver = Resolver::new(h);
    assert!(matches!(
        resolver.plan("acme.test").await,
        Err(ResolveError::Lookup(_))
    ));
}
