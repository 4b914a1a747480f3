//! Property tests of the engine's invariants over random operation sequences:
//!
//! * no NOTIFY ever goes to an expired or cancelled subscription;
//! * a presence-denied watcher never receives any state but `offline` (the one it is sent
//!   when an ACL write hides the state from it);
//! * the published state always equals the aggregate of the live views, and the last state
//!   notification a watcher receives carries what it may see: the published value, or
//!   `offline` when presence is denied to it;
//! * subscription ids are unique among live subscriptions and below 2^31;
//! * every request gets exactly one answer.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation, missing_docs)]

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::H;
use common::ops::{Applied, Known, Notifies, Op, apply, op};
use proptest::prelude::*;
use rvp_presence::{DeliveryId, Outcome, Output, RequestId, SubscriptionId, ViewId};
use rvp_proto::{CredentialKind, Right};

struct Model {
    /// Live subscriptions as the model knows them: id → removal deadline (ms since t0).
    live: HashMap<SubscriptionId, u64>,
    ever: Vec<SubscriptionId>,
    views: Vec<ViewId>,
    deliveries: Vec<DeliveryId>,
    answers: HashMap<RequestId, u32>,
    asked: HashSet<RequestId>,
    now_ms: u64,
    /// The last request id handed out.
    next_req: u64,
}

fn check_outputs(
    h: &mut H,
    m: &mut Model,
    asked: Option<(RequestId, Option<SubscriptionId>)>,
) -> Result<(), TestCaseError> {
    let grace = h.e.policy().subscription_grace.as_millis() as u64;
    // Drop model entries the engine may have expired by now (removal deadline passed).
    let now = m.now_ms;
    m.live.retain(|_, deadline| *deadline > now);
    let mut outs = Vec::new();
    while let Some(o) = h.e.poll_output() {
        outs.push(o);
    }
    for o in &outs {
        match o {
            Output::Respond(a) => {
                prop_assert!(m.asked.contains(&a.request), "answer to an unknown request");
                *m.answers.entry(a.request).or_default() += 1;
                match &a.outcome {
                    Outcome::Subscribed {
                        id, lifetime_secs, ..
                    } => {
                        prop_assert!(id.get() < (1 << 31));
                        prop_assert!(!m.live.contains_key(id), "id {id} reused while live");
                        m.live
                            .insert(*id, now + u64::from(*lifetime_secs) * 1000 + grace);
                        m.ever.push(*id);
                    }
                    Outcome::Renewed { id, lifetime_secs } => {
                        prop_assert!(m.live.contains_key(id), "renewed a dead subscription");
                        m.live
                            .insert(*id, now + u64::from(*lifetime_secs) * 1000 + grace);
                    }
                    Outcome::Unsubscribed => {
                        if let Some((_, Some(id))) = asked {
                            m.live.remove(&id);
                        }
                    }
                    Outcome::StateSet { view, .. } => m.views.push(*view),
                    _ => {}
                }
            }
            Output::Deliver(d) => {
                prop_assert!(
                    h.e.subscription(d.subscription()).is_some(),
                    "NOTIFY to a dead subscription"
                );
                prop_assert!(
                    m.live.contains_key(&d.subscription()),
                    "NOTIFY to an expired or cancelled subscription"
                );
                m.deliveries.push(d.id());
                // The vectored parts are the body, and the NOTIFY written from them is
                // the NOTIFY written from the body in one buffer.
                prop_assert_eq!(d.body_chunks().concat(), d.body_bytes().to_vec());
                prop_assert_eq!(
                    d.body_chunks().iter().map(|c| c.len()).sum::<usize>(),
                    d.body_len()
                );
                if let Some(to) = d.notification_to() {
                    let body = String::from_utf8(d.body_bytes().to_vec()).unwrap();
                    let from = between(&body, "<r:notification-from><r:contact><d:href>", "<");
                    let node = h.e.directory().lookup_url(&from).unwrap();
                    let acl = h.e.acl(node).unwrap();
                    let state = between(&body, "<r:state><r:", "/");
                    prop_assert!(
                        state == "offline"
                            || acl.evaluate([(to, CredentialKind::Assertion)], Right::Presence),
                        "presence-denied watcher {} got state {} of {}",
                        to,
                        state,
                        from
                    );
                }
            }
            _ => {}
        }
    }
    // The last state notification per node and watcher carries what that watcher may see.
    let mut last: HashMap<(String, String), String> = HashMap::new();
    for o in &outs {
        if let Output::Deliver(d) = o
            && let Some(to) = d.notification_to()
        {
            let body = String::from_utf8(d.body_bytes().to_vec()).unwrap();
            last.insert(
                (
                    between(&body, "<r:notification-from><r:contact><d:href>", "<"),
                    to.to_owned(),
                ),
                between(&body, "<r:state><r:", "/"),
            );
        }
    }
    for ((node_url, to), state) in last {
        let node = h.e.directory().lookup_url(&node_url).unwrap();
        let visible = if h
            .e
            .acl(node)
            .unwrap()
            .evaluate([(to.as_str(), CredentialKind::Assertion)], Right::Presence)
        {
            h.e.published_state(node).unwrap().local_name()
        } else {
            "offline"
        };
        prop_assert_eq!(
            visible,
            state.as_str(),
            "last state {} sent to {}",
            node_url,
            to
        );
    }
    for who in &h.ids {
        prop_assert_eq!(
            h.e.published_state(*who).cloned(),
            h.e.aggregate_of_live_views(*who)
        );
        for (_, _, expires) in h.e.views(*who) {
            prop_assert!(
                expires + h.e.policy().lease_grace > h.now,
                "a dead view is still live"
            );
        }
    }
    let ids = h.e.subscription_ids();
    let unique: HashSet<_> = ids.iter().collect();
    prop_assert_eq!(unique.len(), ids.len());
    for id in &ids {
        prop_assert!(m.live.contains_key(id) || h.e.subscription(*id).is_none());
    }
    Ok(())
}

fn between(s: &str, start: &str, end: &str) -> String {
    let i = s.find(start).map(|i| i + start.len()).unwrap_or(0);
    let j = s[i..].find(end).map_or(s.len(), |j| i + j);
    s[i..j].to_owned()
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut h = H::new();
    let mut m = Model {
        live: HashMap::new(),
        ever: Vec::new(),
        views: Vec::new(),
        deliveries: Vec::new(),
        answers: HashMap::new(),
        asked: HashSet::new(),
        now_ms: 0,
        next_req: 0,
    };
    for op in ops {
        if let Op::Advance { secs } = op {
            let t = h.now + Duration::from_secs(u64::from(secs));
            m.now_ms = (t - h.t0).as_millis() as u64;
            h.now = t;
        }
        let known = Known {
            ever: &m.ever,
            views: &m.views,
            deliveries: &m.deliveries,
        };
        let (next_req, asked_set) = (&mut m.next_req, &mut m.asked);
        let asked = match apply(&mut h.e, h.now, &op, known, || {
            *next_req += 1;
            let r = RequestId(*next_req);
            asked_set.insert(r);
            r
        }) {
            Applied::Nothing => continue,
            Applied::Request(r, id) => Some((r, id)),
            Applied::Report | Applied::Timeout => None,
        };
        check_outputs(&mut h, &mut m, asked)?;
        if let Some((r, _)) = asked {
            // Deep acks may still be pending; everything else is answered at once.
            prop_assert!(m.answers.get(&r).copied().unwrap_or(0) <= 1);
        }
    }
    // Let every pending delivery time out: then each request has exactly one answer.
    let t = h.now + h.e.policy().delivery_timeout + Duration::from_secs(1);
    m.now_ms = (t - h.t0).as_millis() as u64;
    h.now = t;
    h.e.handle_timeout(t);
    check_outputs(&mut h, &mut m, None)?;
    for r in &m.asked {
        prop_assert_eq!(m.answers.get(r).copied(), Some(1), "request {:?}", r);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn engine_invariants(ops in proptest::collection::vec(op(Notifies::AnyAck), 1..80)) {
        run(ops)?;
    }
}
