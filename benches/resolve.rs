//! `rvp-resolve` benchmarks.
//!
//! * `cache_hit/*` (divan): a plan served from the resolver's cache, against the
//!   baseline of a bare `HashMap` lookup plus clone of the same targets.
//! * cold SRV lookup (printed before divan's table): `Resolver::plan` with an empty
//!   cache through `HickoryResolver` against a local dnsmasq, p50/p99 over a bounded
//!   number of lookups, against the baseline of a raw UDP DNS round trip to the same
//!   server. Skipped, with the reason printed, when dnsmasq is not installed.
//!
//! Run: `cargo bench --bench resolve`.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::expect_used)]

use rvp_interop::dnsmasq;

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::net::UdpSocket;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rvp_resolve::{HickoryResolver, Resolver, SrvRecord, StaticResolver, Target, TargetSource};

const TTL: Duration = Duration::from_secs(3600);
/// Number of cold lookups measured (bounded; about 1 ms each on loopback).
const COLD_LOOKUPS: usize = 1000;

fn main() {
    cold_srv_lookup_report();
    divan::main();
}

fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("static resolver futures complete at once"),
    }
}

fn srv_records() -> Vec<SrvRecord> {
    vec![
        SrvRecord::new(10, 60, 80, "im1.acme.test"),
        SrvRecord::new(10, 40, 80, "im2.acme.test"),
        SrvRecord::new(20, 0, 8080, "backup.acme.test"),
    ]
}

fn warm_resolver() -> Resolver<StaticResolver> {
    let dns = StaticResolver::new().with_srv("_rvp._tcp.acme.test", srv_records(), TTL);
    let r = Resolver::new(dns);
    now_or_never(r.plan("acme.test")).expect("resolves");
    r
}

mod cache_hit {
    use super::*;

    /// Baseline: look the domain up in a map and clone its (pre-ordered) targets.
    #[divan::bench]
    fn baseline_hashmap_clone(bencher: divan::Bencher<'_, '_>) {
        let targets: Vec<Target> = srv_records()
            .into_iter()
            .map(|r| Target {
                host: r.target,
                port: r.port,
                source: TargetSource::Srv,
            })
            .collect();
        let mut map = HashMap::new();
        map.insert(Box::<str>::from("_rvp._tcp.acme.test"), targets);
        bencher.bench_local(|| {
            let name = format!("_rvp._tcp.{}", black_box("acme.test"));
            map.get(name.as_str()).cloned()
        });
    }

    /// `Resolver::plan_cached` (sans-IO: time passed in, no clock read).
    #[divan::bench]
    fn plan_cached(bencher: divan::Bencher<'_, '_>) {
        let r = warm_resolver();
        let now = Instant::now();
        bencher.bench_local(|| r.plan_cached(black_box("acme.test"), now));
    }

    /// `Resolver::plan` (async; reads the clock), polled once.
    #[divan::bench]
    fn plan_async(bencher: divan::Bencher<'_, '_>) {
        let r = warm_resolver();
        bencher.bench_local(|| now_or_never(r.plan(black_box("acme.test"))));
    }
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or_default()
}

/// A raw DNS query for `_rvp._tcp.acme.test SRV`.
fn raw_srv_query(id: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in ["_rvp", "_tcp", "acme", "test"] {
        q.push(u8::try_from(label.len()).expect("short label"));
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 33, 0, 1]);
    q
}

fn cold_srv_lookup_report() {
    let args = [
        "--local=/acme.test/",
        "--srv-host=_rvp._tcp.acme.test,im1.acme.test,80,10,60",
        "--srv-host=_rvp._tcp.acme.test,im2.acme.test,80,10,40",
        "--srv-host=_rvp._tcp.acme.test,backup.acme.test,8080,20,0",
        "--host-record=im1.acme.test,127.0.0.2",
    ]
    .map(String::from);
    let dns = match dnsmasq::Dnsmasq::start(&args) {
        Ok(d) => d,
        Err(e) => {
            println!("cold SRV lookup: SKIPPED, dnsmasq unavailable ({e:?}); install dnsmasq-base");
            return;
        }
    };

    // Baseline: raw UDP round trip, same server, same question.
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut raw = Vec::with_capacity(COLD_LOOKUPS);
    let mut buf = [0u8; 1500];
    for i in 0..COLD_LOOKUPS {
        let q = raw_srv_query(u16::try_from(i % 65_536).unwrap_or(0));
        let t = Instant::now();
        sock.send_to(&q, dns.addr).expect("send");
        sock.recv_from(&mut buf).expect("answer");
        raw.push(t.elapsed());
    }
    raw.sort();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cold = rt.block_on(async {
        let resolver = Resolver::new(HickoryResolver::with_nameserver(dns.addr).expect("hickory"));
        // One warm-up (connection setup) outside the measurement.
        resolver.plan("acme.test").await.expect("warm-up lookup");
        let mut cold = Vec::with_capacity(COLD_LOOKUPS);
        for _ in 0..COLD_LOOKUPS {
            resolver.forget("acme.test");
            let t = Instant::now();
            let plan = resolver.plan("acme.test").await.expect("lookup");
            cold.push(t.elapsed());
            black_box(plan);
        }
        cold
    });
    let mut cold = cold;
    cold.sort();
    let (c50, c99) = (percentile(&cold, 50), percentile(&cold, 99));
    let (r50, r99) = (percentile(&raw, 50), percentile(&raw, 99));
    println!(
        "cold SRV lookup via HickoryResolver + Resolver, dnsmasq on {}:",
        dns.addr
    );
    println!("  {COLD_LOOKUPS} lookups: p50 {c50:?}, p99 {c99:?}");
    println!("  baseline raw UDP query: p50 {r50:?}, p99 {r99:?}");
    println!(
        "  ratio p50 {:.2}x, p99 {:.2}x",
        c50.as_secs_f64() / r50.as_secs_f64().max(1e-9),
        c99.as_secs_f64() / r99.as_secs_f64().max(1e-9)
    );
}
