//! Measures the heap bytes a live subscription costs, with a counting global allocator
//! (this test binary only). Target (issue): at most 256 bytes per live subscription.
//!
//! The counters are global, so this binary holds a single test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::print_stderr,
    missing_docs
)]

use std::alloc::System;
use std::time::{Duration, Instant};

use rvp_presence::{
    Caller, DirectoryProperties, Engine, NodeKey, Policy, RequestId, SubscribeParams,
    SubscriptionKind,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn live_bytes(r: &Region<'_, System>) -> isize {
    let c = r.change();
    // stats_alloc already folds realloc growth into bytes_allocated/bytes_deallocated.
    c.bytes_allocated as isize - c.bytes_deallocated as isize
}

/// `principals` principals, each watching the next `per_principal` ones (call-back = own
/// logical URL, as Exchange clients do). Returns (engine, net heap bytes of the
/// subscriptions, subscription count).
fn build(principals: u32, per_principal: u32) -> (Engine, isize, usize) {
    let t0 = Instant::now();
    let mut e = Engine::new(Policy::default(), t0).unwrap();
    let keys: Vec<NodeKey> = (0..principals)
        .map(|i| NodeKey::new("im.example.com", &format!("user{i:06}")).unwrap())
        .collect();
    for k in &keys {
        e.register_principal(
            k.clone(),
            DirectoryProperties::new("User", "user@example.com"),
        )
        .unwrap();
    }
    let callers: Vec<(Caller, String)> = keys
        .iter()
        .map(|k| (Caller::asserted(&k.logical_url()), k.logical_url()))
        .collect();
    let region = Region::new(GLOBAL);
    let mut req = 0;
    for (i, (caller, own)) in callers.iter().enumerate() {
        for j in 1..=per_principal as usize {
            let target = &keys[(i + j) % keys.len()];
            req += 1;
            e.subscribe(
                t0,
                RequestId(req),
                caller,
                target,
                SubscribeParams::new(SubscriptionKind::PropChange, own.parse().unwrap(), 14_400),
            );
            while e.poll_output().is_some() {}
        }
    }
    let bytes = live_bytes(&region);
    let n = e.subscription_count();
    (e, bytes, n)
}

#[test]
fn at_most_256_bytes_per_live_subscription() {
    let (mut e, bytes, n) = build(20_000, 20);
    assert_eq!(n, 400_000);
    let per = bytes as f64 / n as f64;
    eprintln!("{n} subscriptions: {bytes} bytes, {per:.1} bytes per live subscription");
    assert!(
        per <= 256.0,
        "{per:.1} bytes per live subscription (limit 256)"
    );
    assert!(
        per >= 40.0,
        "implausibly small: {per:.1} (is the allocator counting?)"
    );
    // Expiry frees them: what stays is capacity, not records.
    let region = Region::new(GLOBAL);
    let later = Instant::now() + Duration::from_secs(20_000);
    e.handle_timeout(later);
    assert_eq!(e.subscription_count(), 0);
    let freed = -live_bytes(&region);
    assert!(freed > 0, "expiry freed {freed} bytes");
}
