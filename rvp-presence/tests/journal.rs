//! The change journal and restore:
//!
//! * property: after every operation, the journal replayed into a map equals the engine's
//!   durable state (`Engine::records`);
//! * property: an engine restored from that map at any point (at once or after a stop of
//!   any length) is observably the engine that kept running — same records, same
//!   published states, and the same outputs for the same operations from then on
//!   (NOTIFYs compared as a multiset per operation: their order across watchers follows
//!   slot order, which a restore does not keep);
//! * decisions: expiries while down, ids never reused, a denied user stays denied,
//!   records of unknown principals dropped, a fresh engine required.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::ops::{Known, Notifies, Op, PEOPLE, apply, op};
use common::{key, me, url};
use proptest::prelude::*;
use rvp_presence::{
    Ace, AcePrincipal, AckType, Acl, Caller, Change, DeliveryId, DirectoryProperties, Engine,
    NotifyParams, Outcome, Output, Policy, Records, RequestId, RestoreError, StatePatch,
    SubscribeParams, SubscriptionId, SubscriptionKind, ViewId,
};
use rvp_proto::{CredentialSet, PresenceState, Right, RightSet};

/// A fresh, journaling engine with the three principals.
fn fresh(now: Instant, people: &[&str]) -> Engine {
    let mut e = Engine::new(Policy::default(), now).unwrap();
    e.enable_journal();
    for a in people {
        e.register_principal(key(a), DirectoryProperties::new(a, &format!("{a}@x")))
            .unwrap();
    }
    e
}

/// Outputs with what a restore may legitimately change taken out: delivery sequence
/// numbers, the order of NOTIFYs within one operation, the order of a SUBSCRIPTIONS list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Norm {
    Answer(u64, String),
    Deliver {
        sub: u32,
        callback: String,
        hop: u32,
        body: Vec<u8>,
    },
}

fn normalize(e: &mut Engine) -> (Vec<Norm>, Vec<Norm>, Vec<rvp_presence::Delivery>) {
    let mut answers = Vec::new();
    let mut delivered = Vec::new();
    while let Some(o) = e.poll_output() {
        match o {
            Output::Respond(a) => {
                let mut r = a.outcome.clone();
                if let Outcome::Subscriptions(list) = &mut r {
                    list.sort_by_key(|s| s.id);
                }
                answers.push(Norm::Answer(a.request.0, format!("{r:?}")));
            }
            Output::Deliver(d) => delivered.push(d),
            _ => panic!("unexpected output"),
        }
    }
    let norm = |d: &rvp_presence::Delivery| Norm::Deliver {
        sub: d.subscription().get(),
        callback: d.callback().to_string(),
        hop: d.hop_count(),
        body: d.body_bytes().to_vec(),
    };
    delivered.sort_by_key(norm);
    let ds = delivered.iter().map(norm).collect();
    (answers, ds, delivered)
}

/// One side of the comparison: an engine and what its test driver remembers.
struct Side {
    e: Engine,
    ever: Vec<SubscriptionId>,
    views: Vec<ViewId>,
    deliveries: Vec<DeliveryId>,
}

impl Side {
    fn apply(&mut self, op: &Op, now: Instant, req: RequestId) -> (Vec<Norm>, Vec<Norm>) {
        let known = Known {
            ever: &self.ever,
            views: &self.views,
            deliveries: &self.deliveries,
        };
        apply(&mut self.e, now, op, known, || req);
        self.observe()
    }

    fn observe(&mut self) -> (Vec<Norm>, Vec<Norm>) {
        let (answers, ds, delivered) = normalize(&mut self.e);
        for a in &answers {
            if let Norm::Answer(_, text) = a {
                // Remember minted ids the way a client would: from the answers.
                if let Some(id) = text
                    .strip_prefix("Subscribed { id: SubscriptionId(")
                    .and_then(|t| t.split(')').next())
                    .and_then(|n| n.parse().ok())
                    .and_then(SubscriptionId::new)
                {
                    self.ever.push(id);
                }
                if let Some(v) = text
                    .split("view: ViewId(")
                    .nth(1)
                    .and_then(|t| t.split(')').next())
                    .and_then(|n| n.parse().ok())
                    .and_then(ViewId::new)
                {
                    self.views.push(v);
                }
            }
        }
        self.deliveries
            .extend(delivered.iter().map(rvp_presence::Delivery::id));
        (answers, ds)
    }
}

/// The journal's map with ACLs equal to the default left out (as `Engine::records`).
fn without_default_acls(mut r: Records) -> Records {
    r.acls
        .retain(|k, a| a.acl != Acl::default_for(&k.logical_url()));
    r
}

fn assert_same(a: &Engine, b: &Engine) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.records(), b.records());
    for p in PEOPLE {
        let na = a.directory().lookup(&key(p)).unwrap();
        let nb = b.directory().lookup(&key(p)).unwrap();
        prop_assert_eq!(a.published_state(na), b.published_state(nb));
        prop_assert_eq!(a.views(na), b.views(nb));
        prop_assert_eq!(a.acl(na), b.acl(nb));
    }
    let mut ids = a.subscription_ids();
    ids.sort();
    let mut idb = b.subscription_ids();
    idb.sort();
    prop_assert_eq!(&ids, &idb);
    for id in ids {
        prop_assert_eq!(a.subscription(id), b.subscription(id));
    }
    prop_assert_eq!(a.poll_timeout(), b.poll_timeout());
    Ok(())
}

fn run(ops: Vec<Op>, split: usize, down_secs: u32) -> Result<(), TestCaseError> {
    let t0 = Instant::now();
    let mut now = t0;
    let mut a = Side {
        e: fresh(t0, &PEOPLE),
        ever: Vec::new(),
        views: Vec::new(),
        deliveries: Vec::new(),
    };
    let mut journal = Records::default();
    let split = split % (ops.len() + 1);
    let mut req = 0u64;
    let step = |op: &Op, now: &mut Instant| {
        if let Op::Advance { secs } = op {
            *now += Duration::from_secs(u64::from(*secs));
        }
    };
    for op in &ops[..split] {
        step(op, &mut now);
        req += 1;
        a.apply(op, now, RequestId(req));
        journal.apply_all(a.e.take_changes());
        prop_assert_eq!(without_default_acls(journal.clone()), a.e.records());
    }

    // Stop, and start again `down_secs` later; the original instead just sleeps.
    now += Duration::from_secs(u64::from(down_secs));
    let mut b = Side {
        e: fresh(now, &PEOPLE),
        ever: a.ever.clone(),
        views: a.views.clone(),
        deliveries: Vec::new(),
    };
    a.deliveries.clear();
    b.e.restore(now, journal.clone()).unwrap();
    a.e.handle_timeout(now);
    prop_assert_eq!(a.observe(), b.observe());
    let mut journal_b = journal.clone();
    journal.apply_all(a.e.take_changes());
    journal_b.apply_all(b.e.take_changes());
    prop_assert_eq!(without_default_acls(journal_b.clone()), b.e.records());
    assert_same(&a.e, &b.e)?;

    for op in &ops[split..] {
        step(op, &mut now);
        req += 1;
        let oa = a.apply(op, now, RequestId(req));
        let ob = b.apply(op, now, RequestId(req));
        prop_assert_eq!(oa, ob, "after {:?}", op);
        journal.apply_all(a.e.take_changes());
        journal_b.apply_all(b.e.take_changes());
        prop_assert_eq!(without_default_acls(journal_b.clone()), b.e.records());
        assert_same(&a.e, &b.e)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn restore_of_the_journal_is_the_same_engine(
        ops in proptest::collection::vec(op(Notifies::SingleHopOnly), 1..60),
        split in any::<usize>(),
        down in prop_oneof![Just(0u32), 0..20_000u32],
    ) {
        run(ops, split, down)?;
    }
}

#[test]
fn journal_is_off_by_default() {
    let t0 = Instant::now();
    let mut e = Engine::new(Policy::default(), t0).unwrap();
    e.register_principal(key("bob"), DirectoryProperties::new("b", "b@x"))
        .unwrap();
    e.proppatch_state(
        t0,
        RequestId(1),
        &me("bob"),
        &key("bob"),
        StatePatch::leased(PresenceState::Busy, 600),
    );
    assert!(!e.journal_enabled());
    assert!(!e.has_changes());
    assert!(e.take_changes().is_empty());
    // The durable state is there all the same.
    assert_eq!(e.records().views.len(), 1);
}

#[test]
fn restore_needs_a_fresh_engine() {
    let t0 = Instant::now();
    let mut e = fresh(t0, &["bob"]);
    e.proppatch_state(
        t0,
        RequestId(1),
        &me("bob"),
        &key("bob"),
        StatePatch::leased(PresenceState::Busy, 600),
    );
    let err = e.restore(t0, Records::default()).unwrap_err();
    assert!(
        matches!(
            err,
            RestoreError::NotFresh {
                views: 1,
                outputs: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("fresh engine"));
}

/// A stop longer than bob's lease: on restore bob reverts to his default and zed (whose
/// watch outlived the stop) is told; yan's watch ended during the stop and is dropped
/// without a word; both drops are journaled.
#[test]
fn expiries_while_down() {
    let t0 = Instant::now();
    let mut e = fresh(t0, &PEOPLE);
    let watcher = |who: &str| format!("http://remote.example.org/instmsg/aliases/{who}");
    let watch = |e: &mut Engine, who: &str, life: u32, r: u64| {
        let w = watcher(who);
        e.subscribe(
            t0,
            RequestId(r),
            &Caller::asserted(&w),
            &key("bob"),
            SubscribeParams::new(SubscriptionKind::PropChange, w.parse().unwrap(), life),
        );
    };
    watch(&mut e, "zed", 14_400, 1);
    watch(&mut e, "yan", 60, 2);
    e.proppatch_state(
        t0,
        RequestId(3),
        &me("bob"),
        &key("bob"),
        StatePatch::leased(PresenceState::Busy, 600),
    );
    let mut store = Records::default();
    store.apply_all(e.take_changes());
    assert_eq!(store.subscriptions.len(), 2);
    assert_eq!(store.views.len(), 1);

    let later = t0 + Duration::from_secs(3600);
    let mut r = fresh(later, &PEOPLE);
    let report = r.restore(later, store.clone()).unwrap();
    assert_eq!(report.subscriptions, 1);
    assert_eq!(report.expired_subscriptions, 1);
    assert_eq!(report.expired_views, 1);
    assert_eq!(report.republished, 1);
    let bob = r.directory().lookup(&key("bob")).unwrap();
    assert_eq!(r.published_state(bob), Some(&PresenceState::Offline));
    let Some(Output::Deliver(d)) = r.poll_output() else {
        panic!("a NOTIFY to zed")
    };
    assert_eq!(d.callback().as_str(), watcher("zed"));
    assert!(
        String::from_utf8(d.body_bytes().to_vec())
            .unwrap()
            .contains("<r:offline/>")
    );
    assert!(r.poll_output().is_none(), "nothing for yan");
    let alice_sub = *store.subscriptions.keys().next().unwrap();
    let info = r.subscription(alice_sub).unwrap();
    assert_eq!(info.remaining_secs, 14_400 - 3600, "same wall-clock end");
    store.apply_all(r.take_changes());
    assert_eq!(store.subscriptions.len(), 1);
    assert!(store.views.is_empty());
}

/// Within the grace after its announced end, a subscription survives a restart (a late
/// renewal still finds it), with 0 seconds remaining.
#[test]
fn subscription_in_its_grace_survives() {
    let t0 = Instant::now();
    let mut e = fresh(t0, &["bob"]);
    let cb = "http://192.0.2.9:1000";
    e.subscribe(
        t0,
        RequestId(1),
        &me("bob"),
        &key("bob"),
        SubscribeParams::new(SubscriptionKind::Notify, cb.parse().unwrap(), 60),
    );
    let mut store = Records::default();
    store.apply_all(e.take_changes());
    let id = *store.subscriptions.keys().next().unwrap();
    let later = t0 + Duration::from_secs(60 + 20);
    let mut r = fresh(later, &["bob"]);
    r.restore(later, store).unwrap();
    assert_eq!(r.subscription(id).unwrap().remaining_secs, 0);
    r.subscribe(
        later,
        RequestId(2),
        &me("bob"),
        &key("bob"),
        SubscribeParams::renewal(id, 600),
    );
    let Some(Output::Respond(a)) = r.poll_output() else {
        panic!("an answer")
    };
    assert!(matches!(
        a.outcome,
        Outcome::Renewed {
            lifetime_secs: 600,
            ..
        }
    ));
    assert_eq!(
        r.poll_timeout(),
        Some(later + Duration::from_secs(600 + 30))
    );
}

/// Ids are never reused across a restart, even when every record carrying them is gone.
#[test]
fn ids_are_not_reused_across_restarts() {
    let t0 = Instant::now();
    let mut e = fresh(t0, &["bob"]);
    let cb = "http://192.0.2.9:1000";
    e.subscribe(
        t0,
        RequestId(1),
        &me("bob"),
        &key("bob"),
        SubscribeParams::new(SubscriptionKind::Notify, cb.parse().unwrap(), 600),
    );
    e.proppatch_state(
        t0,
        RequestId(2),
        &me("bob"),
        &key("bob"),
        StatePatch::leased(PresenceState::Busy, 60),
    );
    let mut first = Vec::new();
    while let Some(Output::Respond(a)) = e.poll_output() {
        first.push(a.outcome);
    }
    let (Outcome::Subscribed { id: sub, .. }, Outcome::StateSet { view, .. }) =
        (&first[0], &first[1])
    else {
        panic!("{first:?}")
    };
    e.unsubscribe(t0, RequestId(3), &me("bob"), &key("bob"), Some(*sub));
    let t1 = t0 + Duration::from_secs(200);
    e.handle_timeout(t1);
    let mut store = Records::default();
    store.apply_all(e.take_changes());
    assert!(store.subscriptions.is_empty() && store.views.is_empty());
    assert!(!store.is_empty(), "the counters are stored");

    let mut r = fresh(t1, &["bob"]);
    r.restore(t1, store).unwrap();
    r.subscribe(
        t1,
        RequestId(4),
        &me("bob"),
        &key("bob"),
        SubscribeParams::new(SubscriptionKind::Notify, cb.parse().unwrap(), 600),
    );
    r.proppatch_state(
        t1,
        RequestId(5),
        &me("bob"),
        &key("bob"),
        StatePatch::leased(PresenceState::Away, 60),
    );
    let mut second = Vec::new();
    while let Some(o) = r.poll_output() {
        if let Output::Respond(a) = o {
            second.push(a.outcome);
        }
    }
    let (Outcome::Subscribed { id: sub2, .. }, Outcome::StateSet { view: view2, .. }) =
        (&second[0], &second[1])
    else {
        panic!("{second:?}")
    };
    assert!(sub2.get() > sub.get());
    assert!(view2.get() > view.get());
}

/// A user bob denied stays denied after a restart: alice's PROPFIND sees him offline.
#[test]
fn a_denied_user_stays_denied() {
    let t0 = Instant::now();
    let mut e = fresh(t0, &["alice", "bob"]);
    let deny = Ace::deny(
        AcePrincipal::url(&url("alice")),
        CredentialSet::ANY,
        RightSet::of([Right::Presence, Right::SendTo]),
    );
    e.acl_write(t0, RequestId(1), &me("bob"), &key("bob"), vec![deny]);
    e.proppatch_state(
        t0,
        RequestId(2),
        &me("bob"),
        &key("bob"),
        StatePatch::leased(PresenceState::Online, 3600),
    );
    let mut store = Records::default();
    let changes = e.take_changes();
    assert!(changes.iter().any(|c| matches!(c, Change::PutAcl(_))));
    store.apply_all(changes);

    let t1 = t0 + Duration::from_secs(5);
    let mut r = fresh(t1, &["alice", "bob"]);
    r.restore(t1, store).unwrap();
    r.propfind(
        t1,
        RequestId(3),
        &me("alice"),
        &key("bob"),
        Some("0"),
        rvp_presence::PropfindScope::Named,
    );
    let Some(Output::Respond(a)) = r.poll_output() else {
        panic!("an answer")
    };
    let Outcome::Properties(p) = a.outcome else {
        panic!("{a:?}")
    };
    assert_eq!(p.state, PresenceState::Offline);
    r.notify(
        t1,
        RequestId(4),
        &me("alice"),
        &key("bob"),
        NotifyParams::new(1, AckType::DeepOr, Bytes::from_static(b"<x/>")),
    );
    let Some(Output::Respond(a)) = r.poll_output() else {
        panic!("an answer")
    };
    // send-to denied: answered as an offline recipient would be (Policy::
    // send_to_denied_status): 412 for a deep acknowledgement ...
    assert_eq!(a.outcome.status().as_u16(), 412);
    r.notify(
        t1,
        RequestId(5),
        &me("alice"),
        &key("bob"),
        NotifyParams::new(1, AckType::SingleHop, Bytes::from_static(b"<x/>")),
    );
    let Some(Output::Respond(a)) = r.poll_output() else {
        panic!("an answer")
    };
    // ... 200 for a single hop, and nothing is relayed.
    assert_eq!(a.outcome.status().as_u16(), 200);
    assert!(r.poll_output().is_none(), "nothing relayed to a blocker");
}

/// Records of a principal no longer in the directory are dropped and journaled as gone.
#[test]
fn records_of_unknown_principals_are_dropped() {
    let t0 = Instant::now();
    let mut e = fresh(t0, &["alice", "bob"]);
    let cb = "http://192.0.2.9:1000";
    e.subscribe(
        t0,
        RequestId(1),
        &me("bob"),
        &key("bob"),
        SubscribeParams::new(SubscriptionKind::Notify, cb.parse().unwrap(), 600),
    );
    e.proppatch_state(
        t0,
        RequestId(2),
        &me("bob"),
        &key("bob"),
        StatePatch::leased(PresenceState::Busy, 600),
    );
    let deny = Ace::deny(
        AcePrincipal::AllPrincipals,
        CredentialSet::ANY,
        RightSet::of([Right::Presence]),
    );
    e.acl_write(t0, RequestId(3), &me("bob"), &key("bob"), vec![deny]);
    let mut store = Records::default();
    store.apply_all(e.take_changes());
    let mut r = fresh(t0, &["alice"]);
    let report = r.restore(t0, store.clone()).unwrap();
    assert_eq!(report.unknown_node, 3);
    store.apply_all(r.take_changes());
    assert!(store.subscriptions.is_empty() && store.views.is_empty() && store.acls.is_empty());
}
