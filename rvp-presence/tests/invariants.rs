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

use bytes::Bytes;
use common::{H, ip, key, me, url};
use proptest::prelude::*;
use rvp_presence::{
    Ace, AcePrincipal, AckType, Caller, DeliveryId, DeliveryOutcome, NotifyParams, Output,
    RequestId, Response, StatePatch, SubscribeParams, SubscriptionId, SubscriptionKind, ViewId,
};
use rvp_proto::{CredentialKind, CredentialSet, PresenceState, Right, RightSet};

const PEOPLE: [&str; 3] = ["alice", "bob", "carol"];

#[derive(Debug, Clone)]
enum Op {
    Login {
        who: usize,
        port: u8,
        lifetime: u32,
    },
    Watch {
        watcher: usize,
        remote: bool,
        target: usize,
        lifetime: u32,
    },
    Renew {
        pick: usize,
        lifetime: u32,
    },
    Unsubscribe {
        pick: usize,
    },
    SetState {
        who: usize,
        state: usize,
        view: Option<usize>,
        timeout: u32,
        src: u8,
    },
    Notify {
        from: usize,
        to: usize,
        hop: u32,
        ack: usize,
    },
    Report {
        pick: usize,
        outcome: usize,
    },
    Acl {
        owner: usize,
        about: usize,
        remote: bool,
        deny: bool,
    },
    Advance {
        secs: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 1..4u8, 0..20_000u32).prop_map(|(who, port, lifetime)| Op::Login {
            who,
            port,
            lifetime
        }),
        (0..3usize, any::<bool>(), 0..3usize, 0..20_000u32).prop_map(
            |(watcher, remote, target, lifetime)| Op::Watch {
                watcher,
                remote,
                target,
                lifetime
            }
        ),
        (any::<usize>(), 0..20_000u32).prop_map(|(pick, lifetime)| Op::Renew { pick, lifetime }),
        any::<usize>().prop_map(|pick| Op::Unsubscribe { pick }),
        (
            0..3usize,
            0..6usize,
            proptest::option::of(any::<usize>()),
            0..5_000u32,
            1..3u8
        )
            .prop_map(|(who, state, view, timeout, src)| Op::SetState {
                who,
                state,
                view,
                timeout,
                src
            }),
        (0..3usize, 0..3usize, 1..10u32, 0..3usize).prop_map(|(from, to, hop, ack)| Op::Notify {
            from,
            to,
            hop,
            ack
        }),
        (any::<usize>(), 0..3usize).prop_map(|(pick, outcome)| Op::Report { pick, outcome }),
        (0..3usize, 0..3usize, any::<bool>(), any::<bool>()).prop_map(
            |(owner, about, remote, deny)| Op::Acl {
                owner,
                about,
                remote,
                deny
            }
        ),
        (0..8_000u32).prop_map(|secs| Op::Advance { secs }),
    ]
}

fn remote_url(i: usize) -> String {
    format!("http://remote.example.org/instmsg/aliases/{}", PEOPLE[i])
}

const STATES: [PresenceState; 6] = [
    PresenceState::Online,
    PresenceState::Offline,
    PresenceState::Busy,
    PresenceState::Away,
    PresenceState::Idle,
    PresenceState::Invisible,
];

struct Model {
    /// Live subscriptions as the model knows them: id → removal deadline (ms since t0).
    live: HashMap<SubscriptionId, u64>,
    ever: Vec<SubscriptionId>,
    views: Vec<ViewId>,
    deliveries: Vec<DeliveryId>,
    answers: HashMap<RequestId, u32>,
    asked: HashSet<RequestId>,
    now_ms: u64,
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
                match &a.response {
                    Response::Subscribed {
                        id, lifetime_secs, ..
                    } => {
                        prop_assert!(id.get() < (1 << 31));
                        prop_assert!(!m.live.contains_key(id), "id {id} reused while live");
                        m.live
                            .insert(*id, now + u64::from(*lifetime_secs) * 1000 + grace);
                        m.ever.push(*id);
                    }
                    Response::Renewed { id, lifetime_secs } => {
                        prop_assert!(m.live.contains_key(id), "renewed a dead subscription");
                        m.live
                            .insert(*id, now + u64::from(*lifetime_secs) * 1000 + grace);
                    }
                    Response::Unsubscribed => {
                        if let Some((_, Some(id))) = asked {
                            m.live.remove(&id);
                        }
                    }
                    Response::StateSet { view, .. } => m.views.push(*view),
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
    };
    for op in ops {
        let now = h.now;
        let mut asked = None;
        let ask = |h: &mut H, m: &mut Model| {
            let r = h.req();
            m.asked.insert(r);
            r
        };
        match op {
            Op::Login {
                who,
                port,
                lifetime,
            } => {
                let r = ask(&mut h, &mut m);
                let cb = format!("http://{}:{}", ip(port), 1000 + u32::from(port));
                h.e.subscribe(
                    now,
                    r,
                    &me(PEOPLE[who]),
                    &key(PEOPLE[who]),
                    SubscribeParams::new(SubscriptionKind::Notify, &cb, lifetime),
                );
                asked = Some((r, None));
            }
            Op::Watch {
                watcher,
                remote,
                target,
                lifetime,
            } => {
                let r = ask(&mut h, &mut m);
                let w = if remote {
                    remote_url(watcher)
                } else {
                    url(PEOPLE[watcher])
                };
                h.e.subscribe(
                    now,
                    r,
                    &Caller::asserted(&w),
                    &key(PEOPLE[target]),
                    SubscribeParams::new(SubscriptionKind::PropChange, &w, lifetime),
                );
                asked = Some((r, None));
            }
            Op::Renew { pick, lifetime } => {
                if m.ever.is_empty() {
                    continue;
                }
                let id = m.ever[pick % m.ever.len()];
                let r = ask(&mut h, &mut m);
                let node = h.e.subscription_node(id).map_or(key("alice"), |n| {
                    h.e.directory().get(n).unwrap().key().clone()
                });
                h.e.subscribe(
                    now,
                    r,
                    &me("alice"),
                    &node,
                    SubscribeParams::renewal(id, lifetime),
                );
                asked = Some((r, Some(id)));
            }
            Op::Unsubscribe { pick } => {
                if m.ever.is_empty() {
                    continue;
                }
                let id = m.ever[pick % m.ever.len()];
                let r = ask(&mut h, &mut m);
                let node = h.e.subscription_node(id).map_or(key("alice"), |n| {
                    h.e.directory().get(n).unwrap().key().clone()
                });
                let info = h.e.subscription(id);
                let caller = info.map_or(me("alice"), |i| Caller::asserted(&i.subscriber));
                h.e.unsubscribe(now, r, &caller, &node, Some(id));
                asked = Some((r, Some(id)));
            }
            Op::SetState {
                who,
                state,
                view,
                timeout,
                src,
            } => {
                let r = ask(&mut h, &mut m);
                let mut p = StatePatch::leased(STATES[state].clone(), timeout);
                if let Some(v) = view
                    && !m.views.is_empty()
                {
                    p = p.in_view(m.views[v % m.views.len()]);
                }
                h.e.proppatch_state(
                    now,
                    r,
                    &me(PEOPLE[who]).with_source(ip(src)),
                    &key(PEOPLE[who]),
                    p,
                );
                asked = Some((r, None));
            }
            Op::Notify { from, to, hop, ack } => {
                let r = ask(&mut h, &mut m);
                let ack = [AckType::SingleHop, AckType::DeepOr, AckType::DeepAnd][ack];
                h.e.notify(
                    now,
                    r,
                    &Caller::asserted(&url(PEOPLE[from])),
                    &key(PEOPLE[to]),
                    NotifyParams::new(hop, ack, Bytes::from_static(b"<r:notification/>")),
                );
                asked = Some((r, None));
            }
            Op::Report { pick, outcome } => {
                if m.deliveries.is_empty() {
                    continue;
                }
                let d = m.deliveries[pick % m.deliveries.len()];
                let o = [
                    DeliveryOutcome::Delivered,
                    DeliveryOutcome::Failed,
                    DeliveryOutcome::LeftConversation,
                ][outcome];
                h.e.handle_delivery_result(now, d, o);
            }
            Op::Acl {
                owner,
                about,
                remote,
                deny,
            } => {
                let r = ask(&mut h, &mut m);
                let who = if remote {
                    remote_url(about)
                } else {
                    url(PEOPLE[about])
                };
                let rights = RightSet::of([Right::Presence, Right::SendTo]);
                let ace = if deny {
                    Ace::deny(AcePrincipal::url(&who), CredentialSet::ANY, rights)
                } else {
                    Ace::grant(AcePrincipal::url(&who), CredentialSet::ANY, rights)
                };
                h.e.acl_write(now, r, &me(PEOPLE[owner]), &key(PEOPLE[owner]), vec![ace]);
                asked = Some((r, None));
            }
            Op::Advance { secs } => {
                let t = h.now + Duration::from_secs(u64::from(secs));
                m.now_ms = (t - h.t0).as_millis() as u64;
                h.now = t;
                h.e.handle_timeout(t);
            }
        }
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
    fn engine_invariants(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
