//! Fan-out (PROTOCOL.md §5.4, §5.7): a change of a node's published state becomes one
//! propnotification per permitted `update/propchange` subscription, within
//! [`Policy::max_deliveries_per_change`](crate::Policy::max_deliveries_per_change).

use crate::engine::access::sees_presence;
use crate::engine::{Delivery, Output};

use std::collections::VecDeque;
use std::sync::Arc;

use rvp_proto::{PresenceState, Right};

use crate::delivery::{AckType, DeliveryId};
use crate::principal::{Directory, PrincipalId};
use crate::render::{NotifyBody, PropChangeBody, RenderedChange};
use crate::subscription::{SubscriptionKind, SubscriptionTable};

use super::Engine;

impl Engine {
    /// Recomputes the published state and fans out when it changed (§5.5).
    pub(crate) fn republish(&mut self, node: PrincipalId) {
        let n = &mut self.nodes[node.0 as usize];
        let agg = n.views.aggregate();
        if agg == n.published {
            return;
        }
        n.published = agg;
        self.fan_out_state(node);
    }

    pub(crate) fn fan_out_state(&mut self, node: PrincipalId) {
        let n = &self.nodes[node.0 as usize];
        let open = n.acl.open_to_all(Right::Presence);
        let acl = &n.acl;
        let state = &n.published;
        // Watchers denied `presence` hear nothing (§8.4).
        self.dropped_deliveries += fan_out_states(
            &self.directory,
            &self.subs,
            &mut self.out,
            &mut self.next_delivery,
            node,
            FanOutRules {
                budget: self.policy.max_deliveries_per_change,
                show_name: acl.open_to_all(Right::Read),
            },
            |rec| (open || sees_presence(acl, rec)).then(|| state.clone()),
        );
    }
}

/// The bounds of one fan-out: at most `budget` deliveries, and whether the node's display
/// name may be shown in its `r:description`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FanOutRules {
    pub(crate) budget: usize,
    pub(crate) show_name: bool,
}

/// Queues one state propnotification per `update/propchange` subscription on `node` for
/// which `state_for` names a state (`None`: that watcher hears nothing).
///
/// At most `budget` deliveries are queued; the number dropped beyond it is returned.
pub(crate) fn fan_out_states(
    directory: &Directory,
    subs: &SubscriptionTable,
    out: &mut VecDeque<Output>,
    seq: &mut u64,
    node: PrincipalId,
    FanOutRules { budget, show_name }: FanOutRules,
    mut state_for: impl FnMut(&crate::subscription::Record) -> Option<PresenceState>,
) -> u64 {
    let Some(p) = directory.get(node) else {
        return 0;
    };
    // The node's display name, in every r:contact's r:description, when anyone may read
    // it (a watcher denied `read` must not learn it from a notification).
    let from_name = p
        .properties()
        .display_name
        .as_deref()
        .filter(|_| show_name)
        .unwrap_or("");
    let mut left = budget;
    let mut dropped = 0u64;
    // At most two distinct renderings per fan-out (the published state, offline).
    let mut rendered: Vec<(PresenceState, Arc<RenderedChange>)> = Vec::new();
    for rec in subs.on_node(node, SubscriptionKind::PropChange) {
        let Some(state) = state_for(rec) else {
            continue;
        };
        let shared = match rendered.iter().find(|(s, _)| *s == state) {
            Some((_, r)) => Arc::clone(r),
            None => {
                let r = RenderedChange::state_change(
                    p.logical_url(),
                    from_name,
                    &state,
                    p.host().clone(),
                );
                rendered.push((state, Arc::clone(&r)));
                r
            }
        };
        match rec.local_target() {
            None if left == 0 => dropped += 1,
            None => {
                left -= 1;
                // r:notification-to is the call-back itself: no second reference.
                let body = NotifyBody::PropChange(PropChangeBody { shared, to: None });
                *seq += 1;
                out.push_back(Output::Deliver(Delivery {
                    id: DeliveryId {
                        seq: *seq,
                        subscription: rec.id,
                        txn: 0,
                    },
                    origin: rec.id,
                    callback: rec.callback.clone(),
                    hop_count: 1,
                    ack: AckType::SingleHop,
                    body,
                }));
            }
            Some(target) => {
                let body = NotifyBody::PropChange(PropChangeBody {
                    shared,
                    to: Some(rec.callback.clone()),
                });
                // Originated here (hop 1), relayed by the watcher's home (also here)
                // to its login call-backs (hop 2), §2.6-d.
                for login in subs.on_node(target, SubscriptionKind::Notify) {
                    if left == 0 {
                        dropped += 1;
                        continue;
                    }
                    left -= 1;
                    *seq += 1;
                    out.push_back(Output::Deliver(Delivery {
                        id: DeliveryId {
                            seq: *seq,
                            subscription: login.id,
                            txn: 0,
                        },
                        origin: rec.id,
                        callback: login.callback.clone(),
                        hop_count: 2,
                        ack: AckType::SingleHop,
                        body: body.clone(),
                    }));
                }
            }
        }
    }
    dropped
}
