//! The random-operation model shared by the engine property tests (`invariants.rs`,
//! `journal.rs`): the operations, their strategy, and how one is applied to an engine.

use std::time::Instant;

use bytes::Bytes;
use proptest::prelude::*;
use rvp_presence::{
    Ace, AcePrincipal, AckType, Caller, DeliveryId, DeliveryOutcome, Engine, NotifyParams,
    RequestId, StatePatch, SubscribeParams, SubscriptionId, SubscriptionKind, ViewId,
};
use rvp_proto::{CredentialSet, PresenceState, Right, RightSet};

use super::{ip, key, me, url};

/// The three principals of the harness, indexed by the operations.
pub const PEOPLE: [&str; 3] = ["alice", "bob", "carol"];

/// The states a `SetState` picks from.
pub const STATES: [PresenceState; 6] = [
    PresenceState::Online,
    PresenceState::Offline,
    PresenceState::Busy,
    PresenceState::Away,
    PresenceState::Idle,
    PresenceState::Invisible,
];

/// The same alias as `PEOPLE[i]`, on a foreign server.
pub fn remote_url(i: usize) -> String {
    format!("http://remote.example.org/instmsg/aliases/{}", PEOPLE[i])
}

/// `PEOPLE[i]`'s URL, here or (`remote`) on a foreign server.
fn party(remote: bool, i: usize) -> String {
    if remote {
        remote_url(i)
    } else {
        url(PEOPLE[i])
    }
}

/// One random operation on the engine.
#[derive(Debug, Clone)]
pub enum Op {
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
        ack: AckType,
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
    /// The driver moves its clock forward by `secs` before applying this.
    Advance {
        secs: u32,
    },
}

/// Which NOTIFYs `op` generates.
#[derive(Debug, Clone, Copy)]
pub enum Notifies {
    /// Hop count 1..10 and any of the three ack types.
    AnyAck,
    /// Hop count 1 and `SingleHop` only (deep-ack deliveries in flight are not journaled).
    SingleHopOnly,
}

const ACKS: [AckType; 3] = [AckType::SingleHop, AckType::DeepOr, AckType::DeepAnd];

/// The operation strategy. Every arm draws its values in the same order as the
/// strategies this replaced, so the checked-in regression seeds still map to the same
/// operations.
pub fn op(notifies: Notifies) -> impl Strategy<Value = Op> {
    let notify = match notifies {
        Notifies::AnyAck => (
            0..3usize,
            0..3usize,
            1..10u32,
            (0..3usize).prop_map(|i| ACKS[i]),
        )
            .prop_map(|(from, to, hop, ack)| Op::Notify { from, to, hop, ack })
            .boxed(),
        Notifies::SingleHopOnly => (0..3usize, 0..3usize)
            .prop_map(|(from, to)| Op::Notify {
                from,
                to,
                hop: 1,
                ack: AckType::SingleHop,
            })
            .boxed(),
    };
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
        notify,
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

/// What the driver remembers from earlier answers and deliveries, for the operations
/// that pick one of them.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    pub ever: &'a [SubscriptionId],
    pub views: &'a [ViewId],
    pub deliveries: &'a [DeliveryId],
}

/// What `apply` handed to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A request, with the subscription it names (renewal, unsubscription).
    Request(RequestId, Option<SubscriptionId>),
    /// A delivery result.
    Report,
    /// `handle_timeout` (for `Advance`).
    Timeout,
    /// Nothing: the operation picks from an empty list.
    Nothing,
}

fn pick_of<T: Copy>(v: &[T], pick: usize) -> Option<T> {
    (!v.is_empty()).then(|| v[pick % v.len()])
}

/// Applies `op` at `now` (for `Advance`, the clock already moved on). `next_req` is
/// called once, and only when the operation sends a request.
pub fn apply(
    e: &mut Engine,
    now: Instant,
    op: &Op,
    known: Known<'_>,
    next_req: impl FnOnce() -> RequestId,
) -> Applied {
    let node_of = |e: &Engine, id: SubscriptionId| {
        e.subscription_node(id).map_or(key("alice"), |n| {
            e.directory().get(n).unwrap().key().clone()
        })
    };
    match op {
        Op::Login {
            who,
            port,
            lifetime,
        } => {
            let req = next_req();
            let cb = format!("http://{}:{}", ip(*port), 1000 + u32::from(*port));
            e.subscribe(
                now,
                req,
                &me(PEOPLE[*who]),
                &key(PEOPLE[*who]),
                SubscribeParams::new(SubscriptionKind::Notify, cb.parse().unwrap(), *lifetime),
            );
            Applied::Request(req, None)
        }
        Op::Watch {
            watcher,
            remote,
            target,
            lifetime,
        } => {
            let req = next_req();
            let w = party(*remote, *watcher);
            e.subscribe(
                now,
                req,
                &Caller::asserted(&w),
                &key(PEOPLE[*target]),
                SubscribeParams::new(SubscriptionKind::PropChange, w.parse().unwrap(), *lifetime),
            );
            Applied::Request(req, None)
        }
        Op::Renew { pick, lifetime } => {
            let Some(id) = pick_of(known.ever, *pick) else {
                return Applied::Nothing;
            };
            let req = next_req();
            let node = node_of(e, id);
            e.subscribe(
                now,
                req,
                &me("alice"),
                &node,
                SubscribeParams::renewal(id, *lifetime),
            );
            Applied::Request(req, Some(id))
        }
        Op::Unsubscribe { pick } => {
            let Some(id) = pick_of(known.ever, *pick) else {
                return Applied::Nothing;
            };
            let req = next_req();
            let node = node_of(e, id);
            let caller = e
                .subscription(id)
                .map_or(me("alice"), |i| Caller::asserted(&i.subscriber));
            e.unsubscribe(now, req, &caller, &node, Some(id));
            Applied::Request(req, Some(id))
        }
        Op::SetState {
            who,
            state,
            view,
            timeout,
            src,
        } => {
            let req = next_req();
            let mut p = StatePatch::leased(STATES[*state].clone(), *timeout);
            if let Some(v) = view.and_then(|v| pick_of(known.views, v)) {
                p = p.in_view(v);
            }
            let caller = me(PEOPLE[*who]).with_source(ip(*src));
            e.proppatch_state(now, req, &caller, &key(PEOPLE[*who]), p);
            Applied::Request(req, None)
        }
        Op::Notify { from, to, hop, ack } => {
            let req = next_req();
            e.notify(
                now,
                req,
                &Caller::asserted(&url(PEOPLE[*from])),
                &key(PEOPLE[*to]),
                NotifyParams::new(*hop, *ack, Bytes::from_static(b"<r:notification/>")),
            );
            Applied::Request(req, None)
        }
        Op::Report { pick, outcome } => {
            let Some(d) = pick_of(known.deliveries, *pick) else {
                return Applied::Nothing;
            };
            let o = [
                DeliveryOutcome::Delivered,
                DeliveryOutcome::Failed,
                DeliveryOutcome::LeftConversation,
            ][*outcome];
            e.handle_delivery_result(now, d, o);
            Applied::Report
        }
        Op::Acl {
            owner,
            about,
            remote,
            deny,
        } => {
            let req = next_req();
            let who = party(*remote, *about);
            let rights = RightSet::of([Right::Presence, Right::SendTo]);
            let ace = if *deny {
                Ace::deny(AcePrincipal::url(&who), CredentialSet::ANY, rights)
            } else {
                Ace::grant(AcePrincipal::url(&who), CredentialSet::ANY, rights)
            };
            e.acl_write(
                now,
                req,
                &me(PEOPLE[*owner]),
                &key(PEOPLE[*owner]),
                vec![ace],
            );
            Applied::Request(req, None)
        }
        Op::Advance { .. } => {
            e.handle_timeout(now);
            Applied::Timeout
        }
    }
}
