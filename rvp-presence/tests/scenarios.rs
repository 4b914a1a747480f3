//! Scenario tests: one per rule of the reference the engine implements. Time runs on
//! `t0 + Duration`, so four-hour lifetimes pass in microseconds.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{H, claim, ip, key, me, url};
use http::StatusCode;
use rvp_presence::{
    Ace, AcePrincipal, AckType, DeliveryOutcome, NotifyParams, Outcome, Policy, PropfindScope,
    Refusal, StatePatch, SubscribeParams, SubscriptionId, SubscriptionKind, ViewId,
};
use rvp_proto::{CredentialKind, CredentialSet, PresenceState as S, Right, RightSet};

const PC: SubscriptionKind = SubscriptionKind::PropChange;
const NT: SubscriptionKind = SubscriptionKind::Notify;

fn with<T>(mut v: T, f: impl FnOnce(&mut T)) -> T {
    f(&mut v);
    v
}

fn subscribed(r: &Outcome) -> SubscriptionId {
    match r {
        Outcome::Subscribed { id, .. } => *id,
        other => panic!("expected Subscribed, got {other:?}"),
    }
}

fn refused(r: &Outcome) -> &Refusal {
    match r {
        Outcome::Refused(x) => x,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// `who` logs on to its own node with an IP call-back.
fn login(h: &mut H, who: &str, last: u8, lifetime: u32) -> SubscriptionId {
    let (now, req) = (h.now, h.req());
    let cb = format!("http://{}:1234", ip(last));
    h.e.subscribe(
        now,
        req,
        &me(who),
        &key(who),
        SubscribeParams::new(NT, cb.parse().unwrap(), lifetime),
    );
    let (r, _) = h.one();
    assert_eq!(r.status(), StatusCode::OK);
    subscribed(&r)
}

/// A principal of another domain, asserted (it cannot be proven here).
fn remote(watcher: &str) -> rvp_presence::Caller {
    rvp_presence::Caller::asserted(&format!(
        "http://remote.example.org/instmsg/aliases/{watcher}"
    ))
}

/// `watcher` watches `target` with a remote call-back (so deliveries go straight out).
fn watch_remote(h: &mut H, watcher: &str, target: &str, lifetime: u32) -> SubscriptionId {
    let (now, req) = (h.now, h.req());
    let cb = format!("http://remote.example.org/instmsg/aliases/{watcher}");
    let c = rvp_presence::Caller::asserted(&cb);
    h.e.subscribe(
        now,
        req,
        &c,
        &key(target),
        SubscribeParams::new(PC, cb.parse().unwrap(), lifetime),
    );
    let (r, _) = h.one();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    subscribed(&r)
}

fn set_state(
    h: &mut H,
    who: &str,
    state: S,
    view: Option<ViewId>,
) -> (ViewId, Vec<rvp_presence::Delivery>) {
    let (now, req) = (h.now, h.req());
    let mut p = StatePatch::leased(state, 1200);
    if let Some(v) = view {
        p = p.in_view(v);
    }
    h.e.proppatch_state(now, req, &me(who).with_source(ip(1)), &key(who), p);
    let (r, d) = h.one();
    match r {
        Outcome::StateSet { view, .. } => (view, d),
        other => panic!("expected StateSet, got {other:?}"),
    }
}

fn states(d: &[rvp_presence::Delivery]) -> Vec<String> {
    d.iter()
        .map(|x| {
            let b = String::from_utf8(x.body_bytes().to_vec()).unwrap();
            let i = b.find("<r:state><r:").unwrap() + "<r:state><r:".len();
            let j = b[i..].find('/').unwrap();
            b[i..i + j].to_owned()
        })
        .collect()
}

// ------------------------------------------------------------------- SUBSCRIBE (§2.1)

#[test]
fn login_subscription_is_200_with_clamped_lifetime() {
    let mut h = H::new();
    let a = login(&mut h, "alice", 10, 14_400);
    assert_eq!(h.e.subscription(a).unwrap().remaining_secs, 14_400);
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &me("alice"),
        &key("alice"),
        SubscribeParams::new(NT, "http://192.0.2.10:1".parse().unwrap(), 99_999),
    );
    match h.one().0 {
        Outcome::Subscribed {
            lifetime_secs,
            properties: None,
            ..
        } => assert_eq!(lifetime_secs, 14_400),
        other => panic!("{other:?}"),
    }
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &me("alice"),
        &key("alice"),
        SubscribeParams::new(NT, "http://192.0.2.10:1".parse().unwrap(), 5),
    );
    match h.one().0 {
        Outcome::Subscribed { lifetime_secs, .. } => assert_eq!(lifetime_secs, 60),
        other => panic!("{other:?}"),
    }
}

#[test]
fn propchange_subscription_is_207_with_properties() {
    let mut h = H::new();
    set_state(&mut h, "bob", S::Busy, None);
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &claim("alice"),
        &key("bob"),
        SubscribeParams::new(PC, url("alice").parse().unwrap(), 14_400),
    );
    let (r, _) = h.one();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    match r {
        Outcome::Subscribed {
            properties: Some(p),
            ..
        } => {
            assert_eq!(p.state, S::Busy);
            assert_eq!(&*p.href, url("bob"));
            assert_eq!(p.directory.unwrap().display_name.as_deref(), Some("BOB"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn subscribe_errors() {
    let mut h = H::new();
    let cases: Vec<(SubscribeParams, StatusCode)> = vec![
        (
            with(
                SubscribeParams::new(PC, url("alice").parse().unwrap(), 1),
                |p| p.lifetime_secs = None,
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            with(
                SubscribeParams::new(PC, url("alice").parse().unwrap(), 60),
                |p| p.kind = None,
            ),
            StatusCode::PRECONDITION_FAILED,
        ),
        (
            with(
                SubscribeParams::new(PC, url("alice").parse().unwrap(), 60),
                |p| p.callback = None,
            ),
            StatusCode::PRECONDITION_FAILED,
        ),
        // Well formed, but neither a local node nor a principal URL (an unparsable
        // value cannot be a `CallBack` at all: the request layer answers it, see
        // `methods.rs`).
        (
            SubscribeParams::new(PC, "http://elsewhere.example/x".parse().unwrap(), 60),
            StatusCode::PRECONDITION_FAILED,
        ),
        (
            SubscribeParams::renewal(SubscriptionId::new(424_242).unwrap(), 60),
            StatusCode::PRECONDITION_FAILED,
        ),
    ];
    for (p, status) in cases {
        let (now, req) = (h.now, h.req());
        h.e.subscribe(now, req, &claim("alice"), &key("bob"), p.clone());
        assert_eq!(h.one().0.status(), status, "{p:?}");
    }
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &claim("alice"),
        &key("nobody"),
        SubscribeParams::new(PC, url("alice").parse().unwrap(), 60),
    );
    assert_eq!(h.one().0.status(), StatusCode::NOT_FOUND);
    assert_eq!(h.e.subscription_count(), 0);
}

#[test]
fn pragma_notify_callback_to_the_node_itself_is_refused() {
    let mut h = H::new();
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &me("alice"),
        &key("alice"),
        SubscribeParams::new(NT, url("alice").parse().unwrap(), 60),
    );
    assert_eq!(refused(&h.one().0), &Refusal::SelfRelay);
    // A propchange self-watch is legitimate (§7.5).
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &me("alice"),
        &key("alice"),
        SubscribeParams::new(PC, url("alice").parse().unwrap(), 60),
    );
    assert_eq!(h.one().0.status(), StatusCode::MULTI_STATUS);
}

/// IP call-backs: one on the caller's own address needs nothing more; one elsewhere needs
/// a proven `subscribe-others` (PROTOCOL.md §8.5); one on a loopback, link-local or
/// unspecified address only ever from that very address, whatever the caller's rights.
#[test]
fn ip_call_backs_are_tied_to_the_source_address() {
    let mut h = H::new();
    let sub = |h: &mut H, caller: rvp_presence::Caller, cb: &str| {
        let (now, req) = (h.now, h.req());
        h.e.subscribe(
            now,
            req,
            &caller,
            &key("bob"),
            SubscribeParams::new(NT, cb.parse().unwrap(), 600),
        );
        h.one().0.status()
    };
    let from = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    // The owner: its own address, another ordinary address (it holds subscribe-others).
    let ok = sub(
        &mut h,
        me("bob").with_source(from("192.0.2.1")),
        "http://192.0.2.1:1",
    );
    assert_eq!(ok, StatusCode::OK);
    let ok = sub(
        &mut h,
        me("bob").with_source(from("192.0.2.1")),
        "http://192.0.2.9:1",
    );
    assert_eq!(ok, StatusCode::OK);
    // Loopback, link-local, unspecified: only from that address, even for the owner.
    for cb in [
        "http://127.0.0.1:22",
        "http://169.254.1.1:80",
        "http://0.0.0.0:1",
        "http://[::1]:22",
    ] {
        let r = sub(&mut h, me("bob").with_source(from("192.0.2.1")), cb);
        assert_eq!(r, StatusCode::FORBIDDEN, "{cb}");
    }
    let ok = sub(
        &mut h,
        me("bob").with_source(from("127.0.0.1")),
        "http://127.0.0.1:22",
    );
    assert_eq!(ok, StatusCode::OK);
    // Someone else (carol, proven) may not use an address that is not hers.
    let r = sub(
        &mut h,
        me("carol").with_source(from("192.0.2.7")),
        "http://192.0.2.9:1",
    );
    assert_eq!(r, StatusCode::FORBIDDEN);
}

#[test]
fn foreign_callbacks_need_subscribe_others() {
    let mut h = H::new();
    // Unauthenticated alice asserting herself, IP call-back: 401 (authenticating helps).
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &claim("alice"),
        &key("alice"),
        SubscribeParams::new(NT, "http://192.0.2.1:5".parse().unwrap(), 60),
    );
    assert_eq!(
        refused(&h.one().0),
        &Refusal::Unauthorized(Right::ReceiveFrom)
    );
    // Authenticated bob subscribing alice's node with carol's URL: 403.
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &me("bob"),
        &key("alice"),
        SubscribeParams::new(PC, url("carol").parse().unwrap(), 60),
    );
    assert_eq!(
        refused(&h.one().0),
        &Refusal::Forbidden(Right::SubscribeOthers)
    );
    // pragma/notify on someone else's node needs receive-from.
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &me("bob"),
        &key("alice"),
        SubscribeParams::new(NT, url("bob").parse().unwrap(), 60),
    );
    assert_eq!(refused(&h.one().0), &Refusal::Forbidden(Right::ReceiveFrom));
}

#[test]
fn duplicates_are_kept_apart() {
    let mut h = H::new();
    let a = watch_remote(&mut h, "w", "bob", 600);
    let b = watch_remote(&mut h, "w", "bob", 600);
    assert_ne!(a, b);
    let (_, d) = set_state(&mut h, "bob", S::Online, None);
    assert_eq!(d.len(), 2);
}

// ------------------------------------------------------------------- renewal, expiry (§5.6)

#[test]
fn renewal_and_grace() {
    let mut h = H::new();
    let id = watch_remote(&mut h, "w", "bob", 600);
    let now = h.at(300);
    let req = h.req();
    h.e.subscribe(
        now,
        req,
        &remote("w"),
        &key("bob"),
        SubscribeParams::renewal(id, 600),
    );
    assert_eq!(
        h.one().0,
        Outcome::Renewed {
            id,
            lifetime_secs: 600
        }
    );
    assert_eq!(h.e.subscription(id).unwrap().remaining_secs, 600);
    // Late by 20 s (librvp): still renewable thanks to the 30 s grace.
    let now = h.at(300 + 620);
    let req = h.req();
    h.e.subscribe(
        now,
        req,
        &remote("w"),
        &key("bob"),
        SubscribeParams::renewal(id, 600),
    );
    assert_eq!(h.one().0.status(), StatusCode::OK);
    // Late by 31 s: gone, 412.
    let now = h.at(920 + 631);
    let req = h.req();
    h.e.subscribe(
        now,
        req,
        &remote("w"),
        &key("bob"),
        SubscribeParams::renewal(id, 600),
    );
    assert_eq!(refused(&h.one().0), &Refusal::UnknownSubscription);
}

#[test]
fn renewal_may_change_only_the_lifetime() {
    let mut h = H::new();
    let id = watch_remote(&mut h, "w", "bob", 600);
    let (now, req) = (h.now, h.req());
    let p = with(
        SubscribeParams::new(PC, "http://elsewhere.example/x".parse().unwrap(), 60),
        |p| p.renew = Some(id),
    );
    h.e.subscribe(now, req, &remote("w"), &key("bob"), p);
    assert_eq!(refused(&h.one().0), &Refusal::RenewalChanges);
    // Same values tolerated.
    let (now, req) = (h.now, h.req());
    let p = with(
        SubscribeParams::new(
            PC,
            "http://remote.example.org/instmsg/aliases/w"
                .parse()
                .unwrap(),
            60,
        ),
        |p| p.renew = Some(id),
    );
    h.e.subscribe(now, req, &remote("w"), &key("bob"), p);
    assert_eq!(h.one().0.status(), StatusCode::OK);
    // Renewal on another node: 412.
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &remote("w"),
        &key("carol"),
        SubscribeParams::renewal(id, 60),
    );
    assert_eq!(refused(&h.one().0), &Refusal::UnknownSubscription);
    // Renewal without lifetime: static, 400.
    let (now, req) = (h.now, h.req());
    let p = with(SubscribeParams::renewal(id, 60), |p| p.lifetime_secs = None);
    h.e.subscribe(now, req, &remote("w"), &key("bob"), p);
    assert_eq!(refused(&h.one().0), &Refusal::StaticSubscription);
}

#[test]
fn expiry_is_silent_and_final() {
    let mut h = H::new();
    let id = watch_remote(&mut h, "w", "bob", 14_400);
    assert_eq!(h.e.poll_timeout(), Some(h.t0 + Duration::from_secs(14_430)));
    let now = h.at(14_430);
    h.e.handle_timeout(now);
    let (a, d) = h.drain();
    assert!(a.is_empty() && d.is_empty(), "expiry is silent");
    assert!(h.e.subscription(id).is_none());
    assert_eq!(h.e.poll_timeout(), None);
    let (_, d) = set_state(&mut h, "bob", S::Online, None);
    assert!(d.is_empty(), "no NOTIFY to an expired subscription");
}

// ------------------------------------------------------------------- UNSUBSCRIBE (§2.2)

#[test]
fn unsubscribe_rules() {
    let mut h = H::new();
    let id = watch_remote(&mut h, "w", "bob", 600);
    let (now, req) = (h.now, h.req());
    h.e.unsubscribe(now, req, &claim("alice"), &key("bob"), None);
    assert_eq!(refused(&h.one().0), &Refusal::MissingSubscriptionId);
    let (now, req) = (h.now, h.req());
    h.e.unsubscribe(now, req, &claim("carol"), &key("bob"), Some(id));
    assert_eq!(refused(&h.one().0).status(), StatusCode::UNAUTHORIZED);
    let (now, req) = (h.now, h.req());
    h.e.unsubscribe(now, req, &me("carol"), &key("bob"), Some(id));
    assert_eq!(refused(&h.one().0).status(), StatusCode::FORBIDDEN);
    let (now, req) = (h.now, h.req());
    h.e.unsubscribe(now, req, &me("bob"), &key("alice"), Some(id));
    assert_eq!(refused(&h.one().0), &Refusal::UnknownSubscription);
    // The node owner may cancel.
    let (now, req) = (h.now, h.req());
    h.e.unsubscribe(now, req, &me("bob"), &key("bob"), Some(id));
    assert_eq!(h.one().0, Outcome::Unsubscribed);
    let (now, req) = (h.now, h.req());
    h.e.unsubscribe(now, req, &me("bob"), &key("bob"), Some(id));
    assert_eq!(refused(&h.one().0), &Refusal::UnknownSubscription);
    // The subscriber may cancel, with the standing it subscribed with: proven for a
    // subscriber that proved itself (a claim is not enough), ...
    let l = login(&mut h, "alice", 7, 600);
    let (now, req) = (h.now, h.req());
    h.e.unsubscribe(now, req, &claim("alice"), &key("alice"), Some(l));
    assert_eq!(refused(&h.one().0).status(), StatusCode::UNAUTHORIZED);
    let (now, req) = (h.now, h.req());
    h.e.unsubscribe(now, req, &me("alice"), &key("alice"), Some(l));
    assert_eq!(h.one().0, Outcome::Unsubscribed);
    // ... the same assertion for a principal of another domain, never another one.
    let w = watch_remote(&mut h, "w", "bob", 600);
    let (now, req) = (h.now, h.req());
    h.e.unsubscribe(now, req, &remote("x"), &key("bob"), Some(w));
    assert_eq!(refused(&h.one().0).status(), StatusCode::UNAUTHORIZED);
    let (now, req) = (h.now, h.req());
    h.e.unsubscribe(now, req, &remote("w"), &key("bob"), Some(w));
    assert_eq!(h.one().0, Outcome::Unsubscribed);
    let (_, d) = set_state(&mut h, "bob", S::Online, None);
    assert!(d.is_empty(), "no NOTIFY to a cancelled subscription");
}

// ------------------------------------------------------------------- SUBSCRIPTIONS (§2.3)

#[test]
fn subscriptions_listing() {
    let mut h = H::new();
    let l = login(&mut h, "bob", 9, 14_400);
    let w = watch_remote(&mut h, "w", "bob", 3_600);
    let now = h.at(1_000);
    let req = h.req();
    h.e.subscriptions(now, req, &me("bob"), &key("bob"), Some(PC));
    match h.one().0 {
        Outcome::Subscriptions(list) => {
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].id, w);
            assert_eq!(list[0].remaining_secs, 2_600);
        }
        other => panic!("{other:?}"),
    }
    let req = h.req();
    h.e.subscriptions(now, req, &me("bob"), &key("bob"), Some(NT));
    match h.one().0 {
        Outcome::Subscriptions(list) => {
            assert_eq!(list[0].id, l);
            assert_eq!(
                &*list[0].href, "http://192.0.2.9:1234",
                "the owner sees its call-back"
            );
            assert_eq!(list[0].remaining_secs, 13_400);
        }
        other => panic!("{other:?}"),
    }
    let req = h.req();
    h.e.subscriptions(now, req, &me("bob"), &key("bob"), None);
    assert_eq!(refused(&h.one().0), &Refusal::MissingNotificationType);
    // Others lack the `subscriptions` right by default.
    let req = h.req();
    h.e.subscriptions(now, req, &me("alice"), &key("bob"), Some(NT));
    assert_eq!(
        refused(&h.one().0),
        &Refusal::Forbidden(Right::Subscriptions)
    );
    // Granted, a non-owner sees the principal URL, never the IP call-back.
    let req = h.req();
    h.e.acl_write(
        now,
        req,
        &me("bob"),
        &key("bob"),
        vec![Ace::grant(
            AcePrincipal::url(&url("alice")),
            CredentialSet::ANY,
            RightSet::of([Right::Subscriptions]),
        )],
    );
    assert_eq!(h.one().0.status(), StatusCode::OK);
    let req = h.req();
    h.e.subscriptions(now, req, &me("alice"), &key("bob"), Some(NT));
    match h.one().0 {
        Outcome::Subscriptions(list) => assert_eq!(&*list[0].href, url("bob")),
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------------- PROPFIND (§2.4, §8.4)

#[test]
fn propfind_and_presence_denied_reader() {
    let mut h = H::new();
    set_state(&mut h, "bob", S::Busy, None);
    let (now, req) = (h.now, h.req());
    h.e.propfind(
        now,
        req,
        &claim("alice"),
        &key("bob"),
        Some("0"),
        PropfindScope::Named,
    );
    match h.one().0 {
        Outcome::Properties(p) => assert_eq!(p.state, S::Busy),
        other => panic!("{other:?}"),
    }
    let (now, req) = (h.now, h.req());
    h.e.acl_write(
        now,
        req,
        &me("bob"),
        &key("bob"),
        vec![Ace::deny(
            AcePrincipal::url(&url("alice")),
            CredentialSet::ANY,
            RightSet::of([Right::Presence]),
        )],
    );
    h.one();
    let (now, req) = (h.now, h.req());
    h.e.propfind(
        now,
        req,
        &claim("alice"),
        &key("bob"),
        Some("0"),
        PropfindScope::Enumerate,
    );
    match h.one().0 {
        Outcome::Properties(p) => {
            assert_eq!(p.state, S::Offline, "indistinguishable from offline");
            assert!(p.directory.is_some());
        }
        other => panic!("{other:?}"),
    }
    let (now, req) = (h.now, h.req());
    h.e.propfind(
        now,
        req,
        &claim("alice"),
        &key("nobody"),
        Some("0"),
        PropfindScope::Named,
    );
    assert_eq!(h.one().0.status(), StatusCode::NOT_FOUND);
    let (now, req) = (h.now, h.req());
    h.e.propfind(
        now,
        req,
        &rvp_presence::Caller::anonymous(),
        &key("bob"),
        Some("0"),
        PropfindScope::Named,
    );
    assert_eq!(h.one().0.status(), StatusCode::UNAUTHORIZED);
    // Depth must be 0 (§2.4); at least one property must be asked for.
    for depth in [None, Some("1"), Some("infinity")] {
        let (now, req) = (h.now, h.req());
        h.e.propfind(
            now,
            req,
            &claim("alice"),
            &key("bob"),
            depth,
            PropfindScope::Named,
        );
        assert_eq!(refused(&h.one().0), &Refusal::DepthNotZero, "{depth:?}");
    }
    let (now, req) = (h.now, h.req());
    h.e.propfind(
        now,
        req,
        &claim("alice"),
        &key("bob"),
        Some("0"),
        PropfindScope::Nothing,
    );
    assert_eq!(refused(&h.one().0), &Refusal::EmptyPropfind);
}

// ------------------------------------------------------------------- PROPPATCH, views (§5.2–5.5)

#[test]
fn views_are_allocated_and_echoed() {
    let mut h = H::new();
    let (v1, _) = set_state(&mut h, "bob", S::Online, None);
    let (v2, _) = set_state(&mut h, "bob", S::Busy, Some(v1));
    assert_eq!(v1, v2);
    // Unknown view id: a fresh one.
    let (v3, _) = set_state(&mut h, "bob", S::Busy, ViewId::new(999_999));
    assert_ne!(v3, v1);
    assert_eq!(h.e.views(h.ids[1]).len(), 2);
    // Unauthenticated writer: 401.
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &claim("bob"),
        &key("bob"),
        StatePatch::leased(S::Away, 60),
    );
    assert_eq!(h.one().0.status(), StatusCode::UNAUTHORIZED);
    // Lease clamped to the policy.
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &me("bob"),
        &key("bob"),
        StatePatch::leased(S::Away, 14_400).in_view(v1),
    );
    match h.one().0 {
        Outcome::StateSet { state, .. } => assert_eq!(state.timeout_secs, 3_600),
        other => panic!("{other:?}"),
    }
}

#[test]
fn viewless_proppatch_binds_by_principal_and_source_ip() {
    let mut h = H::new();
    let patch = |s| StatePatch::leased(s, 1200);
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &me("bob").with_source(ip(1)),
        &key("bob"),
        patch(S::Online),
    );
    let Outcome::StateSet { view: a, .. } = h.one().0 else {
        panic!()
    };
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &me("bob").with_source(ip(1)),
        &key("bob"),
        patch(S::Offline),
    );
    let (r, _) = h.one();
    let Outcome::StateSet { view: b, .. } = r else {
        panic!()
    };
    assert_eq!(a, b, "logout without view-id hits the same view");
    assert_eq!(h.e.published_state(h.ids[1]), Some(&S::Offline));
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &me("bob").with_source(ip(2)),
        &key("bob"),
        patch(S::Online),
    );
    let Outcome::StateSet { view: c, .. } = h.one().0 else {
        panic!()
    };
    assert_ne!(a, c, "another source IP is another presentity");

    let mut h = H::with_policy(with(Policy::default(), |p| {
        p.bind_viewless_proppatch = false
    }));
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &me("bob").with_source(ip(1)),
        &key("bob"),
        patch(S::Online),
    );
    let Outcome::StateSet { view: a, .. } = h.one().0 else {
        panic!()
    };
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &me("bob").with_source(ip(1)),
        &key("bob"),
        patch(S::Offline),
    );
    let Outcome::StateSet { view: b, .. } = h.one().0 else {
        panic!()
    };
    assert_ne!(a, b);
    assert_eq!(
        h.e.published_state(h.ids[1]),
        Some(&S::Online),
        "the online view lives on"
    );
}

/// One change causes at most `Policy::max_deliveries_per_change` NOTIFYs, counting each
/// login of a local watcher its watch fans out to; the rest are dropped and counted.
/// Every `r:contact` of a property change carries `r:description` (Miranda reads it
/// without checking): the node's display name when everyone may read it, else empty.
#[test]
fn property_changes_describe_their_contacts() {
    let mut h = H::new();
    watch_remote(&mut h, "w", "bob", 600);
    let (_, d) = set_state(&mut h, "bob", S::Online, None);
    let body = String::from_utf8(d[0].body_bytes().to_vec()).unwrap();
    assert!(
        body.contains(
            "</d:href><r:description>BOB</r:description></r:contact></r:notification-from>"
        ),
        "{body}"
    );
    assert!(
        body.contains("</d:href><r:description/></r:contact></r:notification-to>"),
        "{body}"
    );
    // bob no longer lets everyone read his directory properties (presence still): the
    // name is not in notifications either.
    let (now, req) = (h.now, h.req());
    h.e.acl_write(
        now,
        req,
        &me("bob"),
        &key("bob"),
        vec![Ace::grant(
            AcePrincipal::AllPrincipals,
            CredentialSet::ANY,
            RightSet::of([Right::Presence, Right::SendTo, Right::List]),
        )],
    );
    h.one();
    let (_, d) = set_state(&mut h, "bob", S::Busy, None);
    let body = String::from_utf8(d[0].body_bytes().to_vec()).unwrap();
    assert!(!body.contains("BOB"), "{body}");
    assert!(
        body.contains("</d:href><r:description/></r:contact></r:notification-from>"),
        "{body}"
    );
}

/// Two identical subscriptions are two subscriptions (PROTOCOL.md §2.1): one NOTIFY each,
/// with its own `Subscription-Id` to a remote call-back; through a local watcher's login,
/// one each as well, told apart by [`Delivery::origin`] (same login `Subscription-Id`).
#[test]
fn identical_subscriptions_each_get_their_notify() {
    let mut h = H::new();
    let a = watch_remote(&mut h, "w", "bob", 600);
    let b = watch_remote(&mut h, "w", "bob", 600);
    let l = login(&mut h, "alice", 1, 600);
    let mut watches = Vec::new();
    for _ in 0..2 {
        let (now, req) = (h.now, h.req());
        h.e.subscribe(
            now,
            req,
            &me("alice"),
            &key("bob"),
            SubscribeParams::new(PC, url("alice").parse().unwrap(), 600),
        );
        watches.push(subscribed(&h.one().0));
    }
    let (_, d) = set_state(&mut h, "bob", S::Online, None);
    assert_eq!(d.len(), 4);
    let remote: Vec<_> = d.iter().filter(|x| x.subscription() != l).collect();
    let mut ids: Vec<_> = remote.iter().map(|x| x.subscription()).collect();
    ids.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(ids, want);
    assert!(remote.iter().all(|x| x.origin() == x.subscription()));
    let local: Vec<_> = d.iter().filter(|x| x.subscription() == l).collect();
    let mut origins: Vec<_> = local.iter().map(|x| x.origin()).collect();
    origins.sort();
    watches.sort();
    assert_eq!(origins, watches);
}

#[test]
fn deliveries_per_change_are_bounded() {
    let mut h = H::with_policy(with(Policy::default(), |p| p.max_deliveries_per_change = 5));
    // alice has three logins; her two watches on bob fan out to each of them (6), and
    // two remote watchers add 2: 8 wanted, 5 allowed.
    for last in [1, 2, 3] {
        login(&mut h, "alice", last, 600);
    }
    for _ in 0..2 {
        let (now, req) = (h.now, h.req());
        h.e.subscribe(
            now,
            req,
            &me("alice"),
            &key("bob"),
            SubscribeParams::new(PC, url("alice").parse().unwrap(), 600),
        );
        assert_eq!(h.one().0.status(), StatusCode::MULTI_STATUS);
    }
    watch_remote(&mut h, "w1", "bob", 600);
    watch_remote(&mut h, "w2", "bob", 600);
    let (_, d) = set_state(&mut h, "bob", S::Online, None);
    assert_eq!(d.len(), 5);
    assert_eq!(h.e.dropped_deliveries(), 3);
    // The next change gets its own budget.
    let (_, d) = set_state(&mut h, "bob", S::Busy, None);
    assert_eq!(d.len(), 5);
    assert_eq!(h.e.dropped_deliveries(), 6);
}

#[test]
fn change_notifies_every_watcher_once_and_refresh_notifies_nobody() {
    let mut h = H::new();
    let w1 = watch_remote(&mut h, "w1", "bob", 14_400);
    let w2 = watch_remote(&mut h, "w2", "bob", 14_400);
    watch_remote(&mut h, "w3", "carol", 14_400);
    let (v, d) = set_state(&mut h, "bob", S::Online, None);
    let mut subs: Vec<_> = d.iter().map(|x| x.subscription()).collect();
    subs.sort();
    assert_eq!(subs, vec![w1, w2]);
    assert_eq!(states(&d), vec!["online", "online"]);
    for x in &d {
        assert_eq!(x.hop_count(), 1);
        assert_eq!(x.ack(), AckType::SingleHop);
        assert_eq!(&**x.from_principal(), "im.example.com");
        let body = String::from_utf8(x.body_bytes().to_vec()).unwrap();
        assert!(body.contains(&format!("<d:href>{}</d:href>", url("bob"))));
        // notification-to names the watcher (its call-back here is its principal URL).
        assert!(body.contains(&format!(
            "<r:notification-to><r:contact><d:href>{}<",
            x.callback()
        )));
    }
    let (_, d) = set_state(&mut h, "bob", S::Online, Some(v));
    assert!(d.is_empty(), "refresh with the same value notifies nobody");
    let (_, d) = set_state(&mut h, "bob", S::Busy, Some(v));
    assert_eq!(states(&d), vec!["busy", "busy"]);
}

#[test]
fn aggregation_across_views() {
    let mut h = H::new();
    watch_remote(&mut h, "w", "bob", 14_400);
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &me("bob").with_source(ip(1)),
        &key("bob"),
        StatePatch::leased(S::Online, 3600),
    );
    h.one();
    let now = h.at(10);
    let req = h.req();
    h.e.proppatch_state(
        now,
        req,
        &me("bob").with_source(ip(2)),
        &key("bob"),
        StatePatch::leased(S::Busy, 600),
    );
    let (_, d) = h.one();
    assert_eq!(states(&d), vec!["busy"]);
    assert_eq!(h.e.published_state(h.ids[1]), Some(&S::Busy));
    // The busy view's lease ends (600 s + 10 s grace): back to online, notified.
    let now = h.at(10 + 610);
    h.e.handle_timeout(now);
    let (a, d) = h.drain();
    assert!(a.is_empty());
    assert_eq!(states(&d), vec!["online"]);
    assert_eq!(h.e.views(h.ids[1]).len(), 1);
}

#[test]
fn lease_expiry_reverts_and_notifies() {
    let mut h = H::new();
    watch_remote(&mut h, "w", "bob", 14_400);
    set_state(&mut h, "bob", S::Online, None);
    assert_eq!(h.e.poll_timeout(), Some(h.t0 + Duration::from_secs(1_210)));
    let now = h.at(1_209);
    h.e.handle_timeout(now);
    assert!(h.drain().1.is_empty());
    let now = h.at(1_210);
    h.e.handle_timeout(now);
    let (_, d) = h.drain();
    assert_eq!(states(&d), vec!["offline"]);
    assert_eq!(h.e.published_state(h.ids[1]), Some(&S::Offline));
    assert!(h.e.views(h.ids[1]).is_empty());
}

#[test]
fn refresh_just_after_lapse_gives_two_notifications() {
    let mut h = H::new();
    watch_remote(&mut h, "w", "bob", 14_400);
    let (v, _) = set_state(&mut h, "bob", S::Online, None);
    // The refresh arrives 1 s after the lease (and its grace) ran out; no wake-up came in
    // between: the engine expires first, then applies the refresh.
    h.at(1_211);
    let (v2, d) = set_state(&mut h, "bob", S::Online, Some(v));
    assert_ne!(v, v2, "the dead view's id is not reused");
    assert_eq!(states(&d), vec!["offline", "online"]);
}

// ------------------------------------------------------------------- NOTIFY (§2.6, §6.5, §7.5)

fn notify(
    h: &mut H,
    from: &str,
    to: &str,
    hop: u32,
    ack: AckType,
    body: &'static [u8],
) -> rvp_presence::RequestId {
    let (now, req) = (h.now, h.req());
    h.e.notify(
        now,
        req,
        &claim(from),
        &key(to),
        NotifyParams::new(hop, ack, Bytes::from_static(body)),
    );
    req
}

#[test]
fn notify_single_hop_relays_untouched_and_answers_at_once() {
    let mut h = H::new();
    let l1 = login(&mut h, "bob", 1, 14_400);
    let l2 = login(&mut h, "bob", 2, 14_400);
    watch_remote(&mut h, "w", "bob", 14_400);
    let body: &'static [u8] =
        b"<r:notification>\xc3\x83\xc2\xbc double utf-8 kept</r:notification>";
    notify(&mut h, "alice", "bob", 1, AckType::SingleHop, body);
    let (a, d) = h.drain();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].outcome, Outcome::Notified);
    assert_eq!(d.len(), 2, "only pragma/notify subscriptions get relays");
    for x in &d {
        assert!(x.subscription() == l1 || x.subscription() == l2);
        assert_eq!(x.hop_count(), 2);
        assert_eq!(x.body_bytes(), Bytes::from_static(body));
        assert_eq!(&**x.from_principal(), url("alice"));
        assert_eq!(x.ack(), AckType::SingleHop);
    }
    assert_eq!(
        h.e.published_state(h.ids[1]),
        Some(&S::Offline),
        "NOTIFY never changes properties"
    );
}

#[test]
fn notify_deep_or() {
    let mut h = H::new();
    // Nobody logged on: 412.
    notify(&mut h, "alice", "bob", 1, AckType::DeepOr, b"x");
    assert_eq!(refused(&h.one().0), &Refusal::NotDeliverable);
    login(&mut h, "bob", 1, 14_400);
    login(&mut h, "bob", 2, 14_400);
    // First failure, then success: 200 on the success.
    notify(&mut h, "alice", "bob", 1, AckType::DeepOr, b"x");
    let (a, d) = h.drain();
    assert!(a.is_empty(), "not decidable yet");
    let now = h.now;
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Failed);
    assert_eq!(h.e.pending_outputs(), 0);
    h.e.handle_delivery_result(now, d[1].id(), DeliveryOutcome::Delivered);
    assert_eq!(h.one().0, Outcome::Notified);
    // One 500 + one failure: 500.
    notify(&mut h, "alice", "bob", 1, AckType::DeepOr, b"x");
    let (_, d) = h.drain();
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::LeftConversation);
    h.e.handle_delivery_result(now, d[1].id(), DeliveryOutcome::Failed);
    assert_eq!(refused(&h.one().0), &Refusal::LeftConversation);
    // First success answers at once; a later report changes nothing.
    notify(&mut h, "alice", "bob", 1, AckType::DeepOr, b"x");
    let (_, d) = h.drain();
    h.e.handle_delivery_result(now, d[1].id(), DeliveryOutcome::Delivered);
    assert_eq!(h.one().0, Outcome::Notified);
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Delivered);
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Delivered);
    assert_eq!(h.e.pending_outputs(), 0, "exactly one answer per request");
}

#[test]
fn notify_deep_and_and_timeout() {
    let mut h = H::new();
    notify(&mut h, "alice", "bob", 1, AckType::DeepAnd, b"x");
    assert_eq!(refused(&h.one().0), &Refusal::NotDeliverable);
    login(&mut h, "bob", 1, 14_400);
    login(&mut h, "bob", 2, 14_400);
    let now = h.now;
    notify(&mut h, "alice", "bob", 1, AckType::DeepAnd, b"x");
    let (_, d) = h.drain();
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Delivered);
    assert_eq!(h.e.pending_outputs(), 0);
    h.e.handle_delivery_result(now, d[1].id(), DeliveryOutcome::Delivered);
    assert_eq!(h.one().0, Outcome::Notified);
    notify(&mut h, "alice", "bob", 1, AckType::DeepAnd, b"x");
    let (_, d) = h.drain();
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Failed);
    h.e.handle_delivery_result(now, d[1].id(), DeliveryOutcome::Delivered);
    assert_eq!(refused(&h.one().0), &Refusal::NotDeliverable);
    notify(&mut h, "alice", "bob", 1, AckType::DeepAnd, b"x");
    let (_, d) = h.drain();
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::LeftConversation);
    assert_eq!(refused(&h.one().0), &Refusal::LeftConversation);
    // Nobody reports: the delivery timeout (30 s) decides.
    let start = h.now;
    notify(&mut h, "alice", "bob", 1, AckType::DeepOr, b"x");
    h.drain();
    assert_eq!(h.e.poll_timeout(), Some(start + Duration::from_secs(30)));
    let now = h.at(30);
    h.e.handle_timeout(now);
    assert_eq!(refused(&h.one().0), &Refusal::NotDeliverable);
}

#[test]
fn notify_hop_limit_and_send_to() {
    let mut h = H::new();
    login(&mut h, "bob", 1, 14_400);
    notify(&mut h, "alice", "bob", 8, AckType::SingleHop, b"x");
    let (r, d) = h.one();
    assert_eq!(refused(&r), &Refusal::HopLimit);
    assert_eq!(refused(&r).reason_override(), Some("hop count exceeded"));
    assert!(d.is_empty());
    notify(&mut h, "alice", "bob", 7, AckType::SingleHop, b"x");
    let (r, d) = h.one();
    assert_eq!(r, Outcome::Notified);
    assert_eq!(d[0].hop_count(), 8);
    // send-to denied.
    let (now, req) = (h.now, h.req());
    h.e.acl_write(
        now,
        req,
        &me("bob"),
        &key("bob"),
        vec![Ace::deny(
            AcePrincipal::url(&url("alice")),
            CredentialSet::ANY,
            RightSet::of([Right::SendTo, Right::Presence]),
        )],
    );
    h.one();
    // Without credentials too, a denied sender is answered as for an offline recipient
    // (a challenge would tell a block from offline).
    notify(&mut h, "alice", "bob", 1, AckType::DeepOr, b"x");
    let (r, d) = h.one();
    assert_eq!(refused(&r), &Refusal::NotDeliverable);
    assert!(d.is_empty());
    let (now, req) = (h.now, h.req());
    h.e.notify(
        now,
        req,
        &me("alice"),
        &key("bob"),
        NotifyParams::new(1, AckType::DeepOr, Bytes::new()),
    );
    // Policy::send_to_denied_status (default 412, a deviation from §8.4's 403): the
    // denied sender sees what an offline recipient looks like.
    assert_eq!(refused(&h.one().0), &Refusal::NotDeliverable);
    notify(&mut h, "alice", "nobody", 1, AckType::DeepOr, b"x");
    assert_eq!(h.one().0.status(), StatusCode::NOT_FOUND);
}

#[test]
fn send_to_denied_status_is_configurable() {
    for (status, want) in [
        (StatusCode::FORBIDDEN, Refusal::Forbidden(Right::SendTo)),
        (StatusCode::NOT_FOUND, Refusal::NotFound),
        (StatusCode::PRECONDITION_FAILED, Refusal::NotDeliverable),
    ] {
        let mut h = H::with_policy(with(Policy::default(), |p| {
            p.send_to_denied_status = status;
        }));
        login(&mut h, "bob", 1, 14_400);
        let (now, req) = (h.now, h.req());
        h.e.acl_write(
            now,
            req,
            &me("bob"),
            &key("bob"),
            vec![Ace::deny(
                AcePrincipal::url(&url("alice")),
                CredentialSet::ANY,
                RightSet::of([Right::SendTo]),
            )],
        );
        h.one();
        let (now, req) = (h.now, h.req());
        h.e.notify(
            now,
            req,
            &me("alice"),
            &key("bob"),
            NotifyParams::new(1, AckType::DeepOr, Bytes::from_static(b"<x/>")),
        );
        let (r, d) = h.one();
        assert_eq!(refused(&r), &want, "{status}");
        assert_eq!(refused(&r).status(), status);
        assert!(d.is_empty());
        // A single hop: 412 means "as if offline", which is 200 with nothing relayed.
        let (now, req) = (h.now, h.req());
        h.e.notify(
            now,
            req,
            &me("alice"),
            &key("bob"),
            NotifyParams::new(1, AckType::SingleHop, Bytes::from_static(b"<x/>")),
        );
        let (r, d) = h.one();
        if status == StatusCode::PRECONDITION_FAILED {
            assert_eq!(r, Outcome::Notified);
        } else {
            assert_eq!(refused(&r), &want, "{status}");
        }
        assert!(d.is_empty());
        // Other refusals are untouched: carol is not denied, and is still allowed.
        notify(&mut h, "carol", "bob", 1, AckType::SingleHop, b"x");
        assert_eq!(h.one().0, Outcome::Notified);
    }
}

#[test]
fn an_owner_ace_accepting_assertion_does_not_waive_proof() {
    // librvp's self-grant at login: the owner ACE with `assertion digest ntlm`.
    let mut h = H::new();
    let (now, req) = (h.now, h.req());
    h.e.acl_write(
        now,
        req,
        &me("bob"),
        &key("bob"),
        vec![Ace::grant(
            AcePrincipal::url(&url("bob")),
            CredentialSet::of([
                CredentialKind::Assertion,
                CredentialKind::Digest,
                CredentialKind::Ntlm,
            ]),
            RightSet::of([Right::All]),
        )],
    );
    assert_eq!(h.one().0.status(), StatusCode::OK);
    // Claiming to be bob is still not enough for bob's owner-only operations.
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &claim("bob"),
        &key("bob"),
        SubscribeParams::new(
            SubscriptionKind::Notify,
            "http://192.0.2.66:4000".parse().unwrap(),
            600,
        ),
    );
    assert_eq!(refused(&h.one().0).status(), StatusCode::UNAUTHORIZED);
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &claim("bob"),
        &key("bob"),
        StatePatch::leased(S::Away, 600),
    );
    assert_eq!(h.one().0.status(), StatusCode::UNAUTHORIZED);
    let (now, req) = (h.now, h.req());
    h.e.acl_write(now, req, &claim("bob"), &key("bob"), Vec::new());
    assert_eq!(h.one().0.status(), StatusCode::UNAUTHORIZED);
    // Proven, it works; other rights granted by assertion stay usable (presence, read).
    login(&mut h, "bob", 1, 600);
    let (now, req) = (h.now, h.req());
    h.e.propfind(
        now,
        req,
        &claim("bob"),
        &key("bob"),
        Some("0"),
        PropfindScope::Named,
    );
    assert_eq!(h.one().0.status(), StatusCode::MULTI_STATUS);
}

#[test]
fn owner_needs_proof_unless_assertion_only_mode() {
    // Default: asserting to be bob is not enough for bob's login subscription.
    let mut h = H::new();
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &claim("bob"),
        &key("bob"),
        SubscribeParams::new(
            SubscriptionKind::Notify,
            "http://192.0.2.1:4000".parse().unwrap(),
            600,
        ),
    );
    assert_eq!(refused(&h.one().0).status(), StatusCode::UNAUTHORIZED);
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &claim("bob"),
        &key("bob"),
        StatePatch::leased(S::Online, 600),
    );
    assert_eq!(h.one().0.status(), StatusCode::UNAUTHORIZED);

    // Assertion-only mode: the owner entry accepts the asserted identity.
    let mut h = H::with_policy(with(Policy::default(), |p| {
        p.owner_accepts_assertion = true
    }));
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &claim("bob"),
        &key("bob"),
        SubscribeParams::new(
            SubscriptionKind::Notify,
            "http://192.0.2.1:4000".parse().unwrap(),
            600,
        ),
    );
    assert!(matches!(h.one().0, Outcome::Subscribed { .. }));
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &claim("bob"),
        &key("bob"),
        StatePatch::leased(S::Online, 600),
    );
    assert!(matches!(h.one().0, Outcome::StateSet { .. }));
    // ... but only for the owner: alice asserting cannot change bob's state.
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &claim("alice"),
        &key("bob"),
        StatePatch::leased(S::Busy, 600),
    );
    assert_eq!(h.one().0.status(), StatusCode::UNAUTHORIZED);
}

// ------------------------------------------------------------------- callback failures (§5.7)

#[test]
fn consecutive_failures_discard_the_subscription() {
    let mut h = H::new();
    let w = watch_remote(&mut h, "w", "bob", 14_400);
    let mut v = None;
    for (i, s) in [S::Online, S::Busy, S::Away].into_iter().enumerate() {
        let (view, d) = set_state(&mut h, "bob", s, v);
        v = Some(view);
        assert_eq!(d.len(), 1, "round {i}");
        let now = h.now;
        h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Failed);
    }
    assert!(h.e.subscription(w).is_none(), "three consecutive failures");
    let (_, d) = set_state(&mut h, "bob", S::Online, v);
    assert!(d.is_empty());
    assert_eq!(
        h.e.published_state(h.ids[1]),
        Some(&S::Online),
        "failures never change presence"
    );
}

#[test]
fn deliveries_the_embedder_never_sent_do_not_discard_the_subscription() {
    // A flood can fill the embedder's own queue for a call-back; those NOTIFYs come back
    // NotSent, which must not count against the call-back (else a flood signs users out).
    let mut h = H::new();
    let w = watch_remote(&mut h, "w", "bob", 14_400);
    let mut v = None;
    for (i, s) in [S::Online, S::Busy, S::Away, S::Online, S::Busy]
        .into_iter()
        .enumerate()
    {
        let (view, d) = set_state(&mut h, "bob", s, v);
        v = Some(view);
        assert_eq!(d.len(), 1, "round {i}");
        let now = h.now;
        h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::NotSent);
    }
    assert!(h.e.subscription(w).is_some(), "five NotSent outcomes");
    // Real failures still count from zero.
    for s in [S::Away, S::Online] {
        let (_, d) = set_state(&mut h, "bob", s, v);
        let now = h.now;
        h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Failed);
    }
    assert!(
        h.e.subscription(w).is_some(),
        "two failures are below the threshold"
    );
}

#[test]
fn success_resets_and_long_failure_discards() {
    let mut h = H::new();
    let w = watch_remote(&mut h, "w", "bob", 14_400);
    let (v, d) = set_state(&mut h, "bob", S::Online, None);
    let now = h.now;
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Failed);
    let (_, d) = set_state(&mut h, "bob", S::Busy, Some(v));
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Delivered);
    let (_, d) = set_state(&mut h, "bob", S::Away, Some(v));
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Failed);
    assert!(h.e.subscription(w).is_some());
    h.at(301);
    let (_, d) = set_state(&mut h, "bob", S::Busy, Some(v));
    let now = h.now;
    h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Failed);
    assert!(
        h.e.subscription(w).is_none(),
        "failing for more than 5 minutes"
    );
}

// ------------------------------------------------------------------- ACL (§2.7, §8)

#[test]
fn acl_read_write_and_owner_keeps_acl_rights() {
    let mut h = H::new();
    let (now, req) = (h.now, h.req());
    h.e.acl_read(now, req, &me("bob"), &key("bob"));
    assert_eq!(
        h.one().0,
        Outcome::Acl(rvp_presence::Acl::default_for(&url("bob")))
    );
    let (now, req) = (h.now, h.req());
    h.e.acl_read(now, req, &claim("bob"), &key("bob"));
    assert_eq!(h.one().0.status(), StatusCode::UNAUTHORIZED);
    let (now, req) = (h.now, h.req());
    h.e.acl_read(now, req, &me("alice"), &key("bob"));
    assert_eq!(h.one().0.status(), StatusCode::FORBIDDEN);
    // The owner denies itself everything: it still reads and writes its ACL.
    let (now, req) = (h.now, h.req());
    h.e.acl_write(
        now,
        req,
        &me("bob"),
        &key("bob"),
        vec![Ace::deny(
            AcePrincipal::url(&url("bob")),
            CredentialSet::ANY,
            RightSet::of([Right::All]),
        )],
    );
    assert_eq!(h.one().0.status(), StatusCode::OK);
    let (now, req) = (h.now, h.req());
    h.e.acl_read(now, req, &me("bob"), &key("bob"));
    assert_eq!(h.one().0.status(), StatusCode::OK);
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &me("bob"),
        &key("bob"),
        StatePatch::leased(S::Online, 60),
    );
    assert_eq!(
        h.one().0.status(),
        StatusCode::FORBIDDEN,
        "write is not kept"
    );
    // Credentials not specified.
    let (now, req) = (h.now, h.req());
    h.e.acl_write(
        now,
        req,
        &me("bob"),
        &key("bob"),
        vec![Ace::grant(
            AcePrincipal::AllPrincipals,
            CredentialSet::EMPTY,
            RightSet::of([Right::Read]),
        )],
    );
    let (r, _) = h.one();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        refused(&r).reason_override(),
        Some("credentials not specified")
    );
}

#[test]
fn presence_denied_watcher_sees_offline_and_gets_no_state() {
    let mut h = H::new();
    set_state(&mut h, "bob", S::Online, None);
    let spy = "http://remote.example.org/instmsg/aliases/spy";
    let (now, req) = (h.now, h.req());
    h.e.acl_write(
        now,
        req,
        &me("bob"),
        &key("bob"),
        vec![Ace::deny(
            AcePrincipal::url(spy),
            CredentialSet::of([CredentialKind::Assertion]),
            RightSet::of([Right::Presence]),
        )],
    );
    h.one();
    let friend = watch_remote(&mut h, "friend", "bob", 14_400);
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &rvp_presence::Caller::asserted(spy),
        &key("bob"),
        SubscribeParams::new(PC, spy.parse().unwrap(), 14_400),
    );
    match h.one().0 {
        Outcome::Subscribed {
            properties: Some(p),
            ..
        } => assert_eq!(p.state, S::Offline),
        other => panic!("{other:?}"),
    }
    let (_, d) = set_state(&mut h, "bob", S::Busy, None);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].subscription(), friend);
}

/// An ACL write that hides (or reveals) presence from a current watcher changes the state
/// that watcher sees, so it alone is told: `offline` on deny, the published state on grant
/// (librvp, like any client, otherwise keeps showing the last state it was sent).
#[test]
fn acl_change_tells_the_watchers_whose_view_changed() {
    let mut h = H::new();
    let (view, _) = set_state(&mut h, "bob", S::Busy, None);
    let friend = watch_remote(&mut h, "friend", "bob", 14_400);
    let spy_url = "http://remote.example.org/instmsg/aliases/spy";
    let spy = watch_remote(&mut h, "spy", "bob", 14_400);
    let write = |h: &mut H, ace: Ace| {
        let (now, req) = (h.now, h.req());
        h.e.acl_write(now, req, &me("bob"), &key("bob"), vec![ace]);
        let (r, d) = h.one();
        assert_eq!(r.status(), StatusCode::OK);
        d
    };
    let both = RightSet::of([Right::SendTo, Right::Presence]);

    // Deny: the spy alone hears `offline`; the friend hears nothing.
    let d = write(
        &mut h,
        Ace::deny(AcePrincipal::url(spy_url), CredentialSet::ANY, both),
    );
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].subscription(), spy);
    assert_eq!(states(&d), ["offline"]);
    // Writing the same deny again changes nobody's view: nothing.
    let d = write(
        &mut h,
        Ace::deny(AcePrincipal::url(spy_url), CredentialSet::ANY, both),
    );
    assert!(d.is_empty(), "{d:?}");
    // A state change still reaches only the friend.
    let (_, d) = set_state(&mut h, "bob", S::Away, Some(view));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].subscription(), friend);
    // Grant again: the spy hears the current state.
    let d = write(
        &mut h,
        Ace::grant(AcePrincipal::url(spy_url), CredentialSet::ANY, both),
    );
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].subscription(), spy);
    assert_eq!(states(&d), ["away"]);

    // While bob is offline, hiding him changes nothing anyone sees: nothing is sent.
    let (now, req) = (h.now, h.req());
    h.e.proppatch_state(
        now,
        req,
        &me("bob"),
        &key("bob"),
        StatePatch::leased(S::Offline, 1200).in_view(view),
    );
    let (_, d) = h.one();
    assert_eq!(d.len(), 2, "both watchers hear offline: {d:?}");
    let d = write(
        &mut h,
        Ace::deny(AcePrincipal::url(spy_url), CredentialSet::ANY, both),
    );
    assert!(d.is_empty(), "{d:?}");
}

// ------------------------------------------------------------------- local relay (§1.4, §2.6-d)

#[test]
fn propchange_to_a_local_logical_callback_goes_to_its_logins_with_hop_2() {
    let mut h = H::new();
    let la = login(&mut h, "alice", 5, 14_400);
    let (now, req) = (h.now, h.req());
    h.e.subscribe(
        now,
        req,
        &claim("alice"),
        &key("bob"),
        SubscribeParams::new(PC, url("alice").parse().unwrap(), 14_400),
    );
    let (r, _) = h.one();
    let w = subscribed(&r);
    let (_, d) = set_state(&mut h, "bob", S::Busy, None);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].subscription(), la);
    assert_eq!(d[0].callback().as_str(), "http://192.0.2.5:1234");
    assert_eq!(d[0].hop_count(), 2);
    let body = String::from_utf8(d[0].body_bytes().to_vec()).unwrap();
    assert!(body.contains(&format!(
        "<r:notification-to><r:contact><d:href>{}</d:href>",
        url("alice")
    )));
    assert!(h.e.subscription(w).is_some());
}

#[test]
fn poll_timeout_is_the_earliest_deadline() {
    let mut h = H::new();
    assert_eq!(h.e.poll_timeout(), None);
    watch_remote(&mut h, "w", "bob", 600);
    set_state(&mut h, "bob", S::Online, None);
    assert_eq!(h.e.poll_timeout(), Some(h.t0 + Duration::from_secs(630)));
    let now = h.at(630);
    h.e.handle_timeout(now);
    assert_eq!(h.e.poll_timeout(), Some(h.t0 + Duration::from_secs(1_210)));
}

// ------------------------------------------------------------------- limits

#[test]
fn subscriptions_per_node_limit() {
    let mut policy = Policy::default();
    policy.max_subscriptions_per_node = 2;
    let mut h = H::with_policy(policy);
    watch_remote(&mut h, "w1", "bob", 600);
    watch_remote(&mut h, "w2", "bob", 600);
    let (now, req) = (h.now, h.req());
    let cb = "http://remote.example.org/instmsg/aliases/w3";
    h.e.subscribe(
        now,
        req,
        &rvp_presence::Caller::asserted(cb),
        &key("bob"),
        SubscribeParams::new(PC, cb.parse().unwrap(), 600),
    );
    assert_eq!(refused(&h.one().0), &Refusal::TooManySubscriptions);
    assert_eq!(h.e.subscription_count(), 2);
    // Other nodes are not affected.
    watch_remote(&mut h, "w3", "carol", 600);
}

#[test]
fn views_per_principal_limit_evicts_the_soonest_to_expire() {
    let mut policy = Policy::default();
    policy.max_views_per_principal = 2;
    let mut h = H::with_policy(policy);
    let set = |h: &mut H, src: u8, s: S, timeout: u32| {
        let (now, req) = (h.now, h.req());
        h.e.proppatch_state(
            now,
            req,
            &me("bob").with_source(ip(src)),
            &key("bob"),
            StatePatch::leased(s, timeout),
        );
        match h.one().0 {
            Outcome::StateSet { view, .. } => view,
            other => panic!("{other:?}"),
        }
    };
    let a = set(&mut h, 1, S::Busy, 600);
    let b = set(&mut h, 2, S::Online, 3_000);
    let c = set(&mut h, 3, S::Online, 1_200);
    let live: Vec<ViewId> = h.e.views(h.ids[1]).into_iter().map(|v| v.0).collect();
    assert_eq!(live, vec![b, c], "{a} expired soonest and was evicted");
    assert_eq!(h.e.published_state(h.ids[1]), Some(&S::Online));
}

// ------------------------------------------------------------------- operating the engine

/// `Engine::set_policy`: a valid policy governs the next subscription; an invalid one is
/// refused and the policy in force stays.
#[test]
fn set_policy_applies_to_what_follows_and_refuses_an_invalid_policy() {
    let mut h = H::new();
    let before = login(&mut h, "alice", 1, 14_400);
    let granted = |h: &H, id| h.e.subscription(id).unwrap().remaining_secs;
    assert_eq!(granted(&h, before), 14_400);
    let shorter = with(Policy::default(), |p| {
        p.subscription_lifetime_max = Duration::from_secs(120);
    });
    h.e.set_policy(shorter.clone()).unwrap();
    assert_eq!(h.e.policy(), &shorter);
    let after = login(&mut h, "bob", 2, 14_400);
    assert_eq!(granted(&h, after), 120, "the new maximum");
    assert_eq!(granted(&h, before), 14_400, "granted lifetimes are kept");
    let invalid = with(Policy::default(), |p| p.max_hops = 0);
    assert_eq!(
        h.e.set_policy(invalid),
        Err(rvp_presence::PolicyError::Zero("max_hops"))
    );
    assert_eq!(h.e.policy(), &shorter, "the policy in force stays");
}

/// `Engine::online_count`: principals with a live view that is not offline.
#[test]
fn online_count_follows_views() {
    let mut h = H::new();
    assert_eq!(h.e.online_count(), 0);
    let (bob, _) = set_state(&mut h, "bob", S::Online, None);
    assert_eq!(h.e.online_count(), 1);
    set_state(&mut h, "alice", S::Invisible, None);
    assert_eq!(h.e.online_count(), 2, "invisible is signed on");
    set_state(&mut h, "bob", S::Offline, Some(bob));
    assert_eq!(h.e.online_count(), 1, "bob signed off");
    // Leases run out: nobody is left.
    h.at(1200 + 60);
    let now = h.now;
    h.e.handle_timeout(now);
    h.drain();
    assert_eq!(h.e.online_count(), 0);
}

/// `Engine::discarded_subscriptions` counts §5.7 discards, not NotSent outcomes.
#[test]
fn discarded_subscriptions_are_counted() {
    let mut h = H::new();
    watch_remote(&mut h, "w", "bob", 14_400);
    let mut v = None;
    for s in [S::Online, S::Busy] {
        let (view, d) = set_state(&mut h, "bob", s, v);
        v = Some(view);
        let now = h.now;
        h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::NotSent);
    }
    assert_eq!(h.e.discarded_subscriptions(), 0);
    for s in [S::Online, S::Busy, S::Away] {
        let (_, d) = set_state(&mut h, "bob", s, v);
        let now = h.now;
        h.e.handle_delivery_result(now, d[0].id(), DeliveryOutcome::Failed);
    }
    assert_eq!(h.e.discarded_subscriptions(), 1);
}
