//! Benchmarks of the presence engine (`rvp-presence`). Run with
//! `cargo bench --bench presence`. Every target is a ratio against a baseline measured in
//! the same run:
//!
//! * `fanout::engine` vs `fanout::floor`: one state change to 10 000 watchers, against a
//!   loop that clones one pre-rendered `Bytes` into 10 000 slots (target: within 3×, and
//!   at least 1 million NOTIFY per second). `fanout::engine_wire` additionally writes
//!   every delivery as NOTIFY request bytes (`Delivery::write_notify`).
//! * `request::propfind` vs `request::frame`: one PROPFIND through `handle_request` to
//!   response bytes, against framing the same request bytes.
//! * `expire::*`: one wake-up that expires E of N live subscriptions; the cost must follow
//!   E, not N (O(expired)).
//! * Memory (printed before the timings): heap bytes per live subscription, and the total
//!   for 100 000 principals with 20 subscriptions each, measured with a counting allocator.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap
)]

use std::alloc::System;
use std::time::{Duration, Instant};

use bytes::Bytes;
use divan::Bencher;
use divan::counter::ItemsCount;
use rvp::presence::{
    Caller, DirectoryProperties, Engine, NodeKey, Output, Policy, RequestId, StatePatch,
    SubscribeParams, SubscriptionKind,
};
use rvp::proto::{CredentialKind, PresenceState};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const WATCHERS: usize = 10_000;

/// Whether this is a real benchmark run (`cargo bench`) rather than `cargo test`.
fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn main() {
    if full() {
        report_memory();
    }
    divan::main();
}

fn policy() -> Policy {
    let mut p = Policy::default();
    p.max_subscriptions_per_node = 10_000_000;
    p
}

/// An engine with `nodes` principals and `subs` propchange subscriptions spread over them
/// from remote watchers (`watchers` distinct ones); `short` of them have the minimum
/// lifetime, the rest the maximum.
fn engine_with(nodes: usize, subs: usize, watchers: usize, short: usize) -> (Engine, Instant) {
    let t0 = Instant::now();
    let mut e = Engine::new(policy(), t0).unwrap();
    let keys: Vec<NodeKey> = (0..nodes)
        .map(|i| {
            let k = NodeKey::new("im.example.com", &format!("user{i}")).unwrap();
            e.register_principal(k.clone(), DirectoryProperties::new("User", "u@example.com"))
                .unwrap();
            k
        })
        .collect();
    let callers: Vec<(Caller, String)> = (0..watchers)
        .map(|w| {
            let url = format!("http://remote.example.org/instmsg/aliases/w{w}");
            (Caller::asserted(&url), url)
        })
        .collect();
    for i in 0..subs {
        let (caller, url) = &callers[i % watchers];
        let lifetime = if i < short { 60 } else { 14_400 };
        e.subscribe(
            t0,
            RequestId(i as u64),
            caller,
            &keys[i % nodes],
            SubscribeParams::new(SubscriptionKind::PropChange, url.parse().unwrap(), lifetime),
        );
        while e.poll_output().is_some() {}
    }
    (e, t0)
}

mod fanout {
    use super::*;

    /// Baseline: clone one pre-rendered body into 10 000 slots.
    #[divan::bench(sample_count = 200)]
    fn floor(bencher: Bencher<'_, '_>) {
        let (mut e, t0) = engine_with(1, 1, 1, 0);
        let owner = Caller::authenticated(
            "http://im.example.com/instmsg/aliases/user0",
            CredentialKind::Digest,
        );
        let key = NodeKey::new("im.example.com", "user0").unwrap();
        e.proppatch_state(
            t0,
            RequestId(0),
            &owner,
            &key,
            StatePatch::leased(PresenceState::Busy, 1200),
        );
        let body = e
            .poll_output()
            .into_iter()
            .chain(std::iter::from_fn(|| e.poll_output()))
            .find_map(|o| match o {
                Output::Deliver(d) => Some(d.body_bytes()),
                _ => None,
            })
            .unwrap();
        let body = Bytes::from(body.to_vec());
        bencher
            .counter(ItemsCount::new(WATCHERS))
            .with_inputs(|| Vec::<Bytes>::with_capacity(WATCHERS))
            .bench_local_refs(|slots| {
                for _ in 0..WATCHERS {
                    slots.push(body.clone());
                }
            });
    }

    /// What each iteration does with the deliveries besides pulling them.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Pull,
        Flatten,
        Wire,
    }

    fn engine_run(bencher: Bencher<'_, '_>, mode: Mode) {
        let (mut e, t0) = engine_with(1, WATCHERS, WATCHERS, 0);
        // One presentity (bound by source address): every set flips the published state.
        let owner = Caller::authenticated(
            "http://im.example.com/instmsg/aliases/user0",
            CredentialKind::Digest,
        )
        .with_source(std::net::IpAddr::from([192, 0, 2, 1]));
        let key = NodeKey::new("im.example.com", "user0").unwrap();
        let mut flip = false;
        let mut req = 0;
        bencher
            .counter(ItemsCount::new(WATCHERS))
            .with_inputs(|| {
                (
                    Vec::<Output>::with_capacity(WATCHERS + 1),
                    Vec::<Bytes>::with_capacity(WATCHERS),
                    bytes::BytesMut::with_capacity(if mode == Mode::Wire {
                        WATCHERS * 1024
                    } else {
                        0
                    }),
                )
            })
            .bench_local_refs(|(slots, flat, wire)| {
                flip = !flip;
                req += 1;
                let state = if flip {
                    PresenceState::Busy
                } else {
                    PresenceState::Online
                };
                e.proppatch_state(
                    t0,
                    RequestId(req),
                    &owner,
                    &key,
                    StatePatch::leased(state, 1200),
                );
                while let Some(o) = e.poll_output() {
                    if let Output::Deliver(d) = &o {
                        match mode {
                            Mode::Pull => {}
                            Mode::Flatten => flat.push(d.body_bytes()),
                            Mode::Wire => d.write_notify(wire).unwrap(),
                        }
                    }
                    slots.push(o);
                }
                assert_eq!(slots.len(), WATCHERS + 1);
            });
    }

    /// One state change to 10 000 watchers: the engine's rendered NOTIFY deliveries
    /// (shared prefix/suffix + the watcher's URL), pulled from `poll_output`.
    #[divan::bench(sample_count = 200)]
    fn engine(bencher: Bencher<'_, '_>) {
        engine_run(bencher, Mode::Pull);
    }

    /// The same, additionally flattening every body into one contiguous `Bytes`.
    #[divan::bench(sample_count = 100)]
    fn engine_flattened(bencher: Bencher<'_, '_>) {
        engine_run(bencher, Mode::Flatten);
    }

    /// The same, writing every delivery as a complete NOTIFY request
    /// (`Delivery::write_notify`: head with `Host`, hop count, `Subscription-Id`,
    /// `RVP-From-Principal`, then the body) into one buffer.
    #[divan::bench(sample_count = 100)]
    fn engine_wire(bencher: Bencher<'_, '_>) {
        engine_run(bencher, Mode::Wire);
    }
}

/// One request through the method layer, from a decoded `http::Request` to response
/// bytes, against the codec's own framing of the same bytes (baseline).
mod request {
    use super::*;
    use bytes::BytesMut;
    use rvp::proto::codec::{RequestParser, decode_request};

    const PROPFIND: &[u8] = b"PROPFIND /instmsg/aliases/user0 HTTP/1.1\r\nHost: im.example.com\r\n\
RVP-From-Principal: http://remote.example.org/instmsg/aliases/w0\r\nDepth: 0\r\n\
Content-Type: text/xml\r\nContent-Length: 148\r\n\r\n<?xml version=\"1.0\"?><d:propfind xmlns:d='DAV:' \
xmlns:r='http://schemas.microsoft.com/rvp/'><d:prop><r:state/><d:displayname/></d:prop></d:propfind>";

    fn decode(bytes: &[u8]) -> http::Request<Bytes> {
        let mut buf = BytesMut::from(bytes);
        decode_request(&mut RequestParser::default(), &mut buf)
            .unwrap()
            .unwrap()
    }

    /// Baseline: frame the request bytes into an `http::Request<Bytes>`.
    #[divan::bench]
    fn frame(bencher: Bencher<'_, '_>) {
        bencher.bench_local(|| decode(divan::black_box(PROPFIND)));
    }

    /// PROPFIND through `handle_request`, the answer written as response bytes.
    #[divan::bench]
    fn propfind(bencher: Bencher<'_, '_>) {
        let (mut e, t0) = engine_with(1, 1, 1, 0);
        let req = decode(PROPFIND);
        assert_eq!(req.body().len(), 148);
        let caller = Caller::from_request(&req, None, None);
        let mut out = Vec::with_capacity(1024);
        let mut n = 0;
        bencher.bench_local(|| {
            n += 1;
            e.handle_http(t0, RequestId(n), &caller, &req);
            out.clear();
            while let Some(o) = e.poll_output() {
                if let Output::Respond(a) = o {
                    a.write(&mut out);
                }
            }
            assert!(out.starts_with(b"HTTP/1.1 207"));
        });
    }
}

mod expire {
    use super::*;

    fn run(bencher: Bencher<'_, '_>, live: usize, expired: usize) {
        let scale = if full() { 1 } else { 100 };
        let (live, expired) = (live / scale, expired / scale);
        bencher
            .counter(ItemsCount::new(expired))
            .with_inputs(|| engine_with(1_000, live, 50_000, expired))
            .bench_local_refs(|(e, t0)| {
                e.handle_timeout(*t0 + Duration::from_secs(91));
                assert_eq!(e.subscription_count(), live - expired);
            });
    }

    /// E of 1 000 000 live subscriptions expire at one wake-up.
    #[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 5, sample_size = 1)]
    fn of_1m(bencher: Bencher<'_, '_>, expired: usize) {
        run(bencher, 1_000_000, expired);
    }

    /// E of 100 000 live subscriptions expire at one wake-up.
    #[divan::bench(args = [1_000, 10_000, 100_000], sample_count = 5, sample_size = 1)]
    fn of_100k(bencher: Bencher<'_, '_>, expired: usize) {
        run(bencher, 100_000, expired);
    }

    /// A wake-up with nothing to expire among 1 000 000 live subscriptions.
    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn nothing_of_1m(bencher: Bencher<'_, '_>) {
        let live = if full() { 1_000_000 } else { 10_000 };
        bencher
            .with_inputs(|| engine_with(1_000, live, 50_000, 0))
            .bench_local_refs(|(e, t0)| {
                e.handle_timeout(*t0 + Duration::from_secs(91));
                assert_eq!(e.subscription_count(), live);
            });
    }
}

fn live_bytes(r: &Region<'_, System>) -> isize {
    let c = r.change();
    c.bytes_allocated as isize - c.bytes_deallocated as isize
}

/// 100 000 principals, each watching 20 others with its own logical URL as call-back.
fn report_memory() {
    const PRINCIPALS: usize = 100_000;
    const PER: usize = 20;
    let region = Region::new(GLOBAL);
    let t0 = Instant::now();
    let mut e = Engine::new(policy(), t0).unwrap();
    let keys: Vec<NodeKey> = (0..PRINCIPALS)
        .map(|i| NodeKey::new("im.example.com", &format!("user{i:06}")).unwrap())
        .collect();
    for k in &keys {
        e.register_principal(
            k.clone(),
            DirectoryProperties::new("User Name", "user@example.com"),
        )
        .unwrap();
    }
    let after_directory = live_bytes(&region);
    let mut req = 0;
    for (i, k) in keys.iter().enumerate() {
        let url = k.logical_url();
        let caller = Caller::asserted(&url);
        for j in 1..=PER {
            req += 1;
            e.subscribe(
                t0,
                RequestId(req),
                &caller,
                &keys[(i + j) % PRINCIPALS],
                SubscribeParams::new(SubscriptionKind::PropChange, url.parse().unwrap(), 14_400),
            );
            while e.poll_output().is_some() {}
        }
    }
    drop(keys);
    let total = live_bytes(&region);
    let subs = e.subscription_count();
    let per_sub = (total - after_directory) as f64 / subs as f64;
    println!(
        "memory: {PRINCIPALS} principals, {subs} subscriptions: {:.1} MiB in all \
         ({:.1} MiB directory), {per_sub:.1} bytes per live subscription",
        total as f64 / 1_048_576.0,
        after_directory as f64 / 1_048_576.0,
    );
    drop(e);
}
