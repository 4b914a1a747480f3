//! The engine: its state and its event loop. Typed operations in, answers and deliveries
//! out.
//!
//! This file holds the state ([`Engine`]: principals, per-node ACL and views, the
//! subscription table, lease and acknowledgement timers, the output queue) and the loop
//! around it: construction, registration, `handle_timeout`/`poll_timeout`,
//! `poll_output`, and `handle_delivery_result`. Everything else is in its own room:
//!
//! ```text
//!  engine/output.rs   what comes out: Output, Answer, Delivery, Outcome, Refusal
//!  engine/access.rs   who may do what: proven identity, owner rights, ACL checks
//!  engine/fanout.rs   a published change → one propnotification per permitted watcher
//!  engine/persist.rs  the journal of changes an embedder persists
//!  method/<name>.rs   each method's operation (Engine::subscribe, ::notify, ...) beside
//!                     the adapter that types its request; they use the engine, the
//!                     engine never uses them
//! ```

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rvp_proto::PresenceState;

use crate::acl::Acl;
use crate::clock::{Clock, Millis, duration_millis, remaining_secs};
use crate::delivery::{AckTracker, AckVerdict, DeliveryId, DeliveryOutcome};
use crate::lease::{LeasedState, ViewId, Views};
use crate::policy::{Policy, PolicyError};
use crate::principal::{Directory, DirectoryError, DirectoryProperties, NodeKey, PrincipalId};
use crate::subscription::{SubscriptionId, SubscriptionInfo, SubscriptionTable};

pub(crate) mod access;
pub(crate) mod fanout;
mod output;
pub(crate) mod persist;

pub(crate) use output::Form;
pub use output::{
    Answer, Delivery, NodeProperties, Outcome, Output, Refusal, RequestId, SubscriptionEntry,
};

#[derive(Debug)]
pub(crate) struct NodeState {
    pub(crate) acl: Acl,
    pub(crate) views: Views,
    pub(crate) published: PresenceState,
}

#[derive(Debug)]
pub(crate) struct Txn {
    pub(crate) request: RequestId,
    pub(crate) tracker: AckTracker,
    pub(crate) pending: Vec<(u64, SubscriptionId)>,
    pub(crate) deadline: Millis,
}

/// The presence engine. See the [crate documentation](crate) for the data flow.
#[derive(Debug)]
pub struct Engine {
    pub(crate) policy: Policy,
    pub(crate) clock: Clock,
    pub(crate) now: Millis,
    pub(crate) directory: Directory,
    pub(crate) nodes: Vec<NodeState>,
    pub(crate) subs: SubscriptionTable,
    pub(crate) lease_timers: BTreeSet<(Millis, u32, ViewId)>,
    pub(crate) txns: HashMap<u64, Txn>,
    pub(crate) txn_timers: BTreeSet<(Millis, u64)>,
    pub(crate) out: VecDeque<Output>,
    /// Deliveries dropped by [`Policy::max_deliveries_per_change`].
    pub(crate) dropped_deliveries: u64,
    /// Subscriptions discarded because their call-back kept failing (§5.7).
    pub(crate) discarded_subscriptions: u64,
    pub(crate) next_view: u32,
    pub(crate) next_delivery: u64,
    pub(crate) next_txn: u64,
    pub(crate) set_order: u64,
    pub(crate) expired: Vec<SubscriptionId>,
    pub(crate) journal: persist::Journal,
    /// The body shape the method layer asked for the answer to this request.
    pub(crate) next_form: Option<(RequestId, Form)>,
}

impl Engine {
    /// An engine with `policy`; `now` becomes its epoch.
    pub fn new(policy: Policy, now: Instant) -> Result<Engine, PolicyError> {
        policy.validate()?;
        Ok(Engine {
            policy,
            clock: Clock::new(now),
            now: 0,
            directory: Directory::default(),
            nodes: Vec::new(),
            subs: SubscriptionTable::default(),
            lease_timers: BTreeSet::new(),
            txns: HashMap::new(),
            txn_timers: BTreeSet::new(),
            out: VecDeque::new(),
            dropped_deliveries: 0,
            discarded_subscriptions: 0,
            next_view: 0,
            next_delivery: 0,
            next_txn: 0,
            set_order: 0,
            expired: Vec::new(),
            journal: persist::Journal::default(),
            next_form: None,
        })
    }

    /// Sets the secret that makes subscription ids unpredictable (random-looking decimal
    /// numbers below 2^31, never reused while live). The embedder draws it from the
    /// operating system at start-up; without it ids are a fixed permutation of a counter,
    /// which anyone can predict. Ids minted earlier are unaffected.
    pub fn set_subscription_id_secret(&mut self, secret: [u8; 16]) {
        self.subs.set_id_secret(secret);
    }

    /// NOTIFYs dropped so far because one change would have caused more than
    /// [`Policy::max_deliveries_per_change`].
    pub fn dropped_deliveries(&self) -> u64 {
        self.dropped_deliveries
    }

    /// Subscriptions discarded so far because their call-back kept failing
    /// ([`Policy::callback_failure_threshold`], [`Policy::callback_failure_window`];
    /// PROTOCOL.md §5.7).
    pub fn discarded_subscriptions(&self) -> u64 {
        self.discarded_subscriptions
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replaces the policy (an embedder reloading its configuration). A policy that
    /// [`Policy::validate`] refuses is refused and the one in force stays.
    ///
    /// The new policy governs what happens from now on: subscriptions and leases keep the
    /// lifetimes and expiries they were granted (a renewal is granted under the new
    /// bounds), views above a lowered [`Policy::max_views_per_principal`] stay until they
    /// end, and [`Policy::owner_accepts_assertion`] shapes only the default ACL of
    /// principals registered later (registered ACLs are state, not policy).
    pub fn set_policy(&mut self, policy: Policy) -> Result<(), PolicyError> {
        policy.validate()?;
        self.policy = policy;
        Ok(())
    }

    /// Registered principals that are signed on: at least one live view whose value is
    /// not `offline` (an `invisible` user is signed on). Counts every registered
    /// principal; `O(principals)`.
    pub fn online_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| {
                n.views
                    .live
                    .iter()
                    .any(|v| v.state.value != PresenceState::Offline)
            })
            .count()
    }

    /// The directory of principals.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// Registers a principal with its directory properties and the default ACL (§8.3).
    pub fn register_principal(
        &mut self,
        key: NodeKey,
        properties: DirectoryProperties,
    ) -> Result<PrincipalId, DirectoryError> {
        let id = self.directory.insert(key, properties)?;
        let url = self
            .directory
            .get(id)
            .map(|p| p.logical_url().clone())
            .unwrap_or_else(|| Arc::from(""));
        self.nodes.push(NodeState {
            acl: Acl::default_with_owner_assertion(&url, self.policy.owner_accepts_assertion),
            views: Views::default(),
            published: PresenceState::Offline,
        });
        Ok(id)
    }

    /// Replaces a principal's directory properties (no notification: they are not leased).
    pub fn set_directory_properties(
        &mut self,
        node: PrincipalId,
        properties: DirectoryProperties,
    ) -> bool {
        match self.directory.get_mut(node) {
            Some(p) => {
                p.set_properties(properties);
                true
            }
            None => false,
        }
    }

    /// The published `r:state` of a node.
    pub fn published_state(&self, node: PrincipalId) -> Option<&PresenceState> {
        self.nodes.get(node.0 as usize).map(|n| &n.published)
    }

    /// The aggregate of a node's live views, recomputed (equals
    /// [`Engine::published_state`] at all times; exposed for invariant tests).
    pub fn aggregate_of_live_views(&self, node: PrincipalId) -> Option<PresenceState> {
        self.nodes.get(node.0 as usize).map(|n| n.views.aggregate())
    }

    /// The live views of a node: (id, leased state, announced expiry).
    pub fn views(&self, node: PrincipalId) -> Vec<(ViewId, LeasedState, Instant)> {
        self.nodes.get(node.0 as usize).map_or_else(Vec::new, |n| {
            n.views
                .live
                .iter()
                .map(|v| (v.id, v.state.clone(), self.clock.instant(v.expires_ms)))
                .collect()
        })
    }

    /// The ACL of a node.
    pub fn acl(&self, node: PrincipalId) -> Option<&Acl> {
        self.nodes.get(node.0 as usize).map(|n| &n.acl)
    }

    /// A live subscription, as of the engine's last `now`.
    pub fn subscription(&self, id: SubscriptionId) -> Option<SubscriptionInfo> {
        self.subs.get(id).map(|r| SubscriptionInfo {
            id: r.id,
            kind: r.kind,
            callback: r.callback.clone(),
            subscriber: r.subscriber.clone(),
            remaining_secs: remaining_secs(self.now, r.expires_ms),
        })
    }

    /// Number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subs.len()
    }

    /// Ids of every live subscription.
    pub fn subscription_ids(&self) -> Vec<SubscriptionId> {
        self.subs.ids().collect()
    }

    /// The node a live subscription is on.
    pub fn subscription_node(&self, id: SubscriptionId) -> Option<PrincipalId> {
        self.subs.get(id).map(|r| r.node)
    }

    /// Advances time: expires leases (reverting views and notifying), subscriptions
    /// (silently) and unanswered tracked deliveries (counted as failures).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// When the engine next needs [`Engine::handle_timeout`], if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.subs.next_deadline(),
            self.lease_timers.first().map(|t| t.0),
            self.txn_timers.first().map(|t| t.0),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|ms| self.clock.instant(ms))
    }

    /// The next output, in the order produced.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Number of queued outputs.
    pub fn pending_outputs(&self) -> usize {
        self.out.len()
    }

    /// The queued outputs, oldest first, left in the queue (read-only): an embedder may
    /// look at what a request produced before it commits and releases it — the reference
    /// server archives the NOTIFYs it relays this way. The outputs a request added are the
    /// last `pending_outputs()` after minus before it.
    pub fn queued_outputs(&self) -> impl DoubleEndedIterator<Item = &Output> + ExactSizeIterator {
        self.out.iter()
    }

    pub(crate) fn advance(&mut self, now: Instant) {
        let ms = self.clock.millis(now).max(self.now);
        self.now = ms;
        // Subscriptions: silent removal.
        let grace = duration_millis(self.policy.subscription_grace);
        let mut expired = std::mem::take(&mut self.expired);
        expired.clear();
        self.subs.expire(ms, grace, &mut expired);
        self.journal.subscriptions_gone(&expired);
        self.expired = expired;
        // Tracked deliveries first, so that a subscription their failures discard gets
        // no notification from the lease expiries below.
        while let Some(&(deadline, txn)) = self.txn_timers.first() {
            if deadline > ms {
                break;
            }
            self.txn_timers.pop_first();
            let pending: Vec<(u64, SubscriptionId)> = self
                .txns
                .get(&txn)
                .map(|t| t.pending.clone())
                .unwrap_or_default();
            for (seq, sub) in pending {
                self.delivery_result(
                    DeliveryId {
                        seq,
                        subscription: sub,
                        txn,
                    },
                    DeliveryOutcome::Failed,
                );
            }
        }
        // Leases.
        let lgrace = duration_millis(self.policy.lease_grace);
        let mut touched = Vec::new();
        while let Some(&(deadline, node, view)) = self.lease_timers.first() {
            if deadline > ms {
                break;
            }
            self.lease_timers.pop_first();
            if let Some(n) = self.nodes.get_mut(node as usize)
                && let Some(i) = n.views.find(view)
                && n.views.live[i].expires_ms.saturating_add(lgrace) == deadline
            {
                n.views.live.remove(i);
                self.journal.view_gone(view);
                touched.push(PrincipalId(node));
            }
        }
        touched.dedup();
        for node in touched {
            self.republish(node);
        }
    }

    pub(crate) fn respond(&mut self, request: RequestId, outcome: Outcome) {
        let form = match self.next_form.take() {
            Some((r, f)) if r == request => f,
            other => {
                self.next_form = other;
                Form::Full
            }
        };
        self.out.push_back(Output::Respond(Box::new(Answer {
            request,
            outcome,
            form,
        })));
    }

    pub(crate) fn refuse(&mut self, request: RequestId, r: Refusal) {
        self.respond(request, Outcome::Refused(r));
    }

    pub(crate) fn node(&self, key: &NodeKey) -> Result<PrincipalId, Refusal> {
        self.directory.lookup(key).ok_or(Refusal::NotFound)
    }

    pub(crate) fn logical_url(&self, node: PrincipalId) -> Arc<str> {
        self.directory
            .get(node)
            .map(|p| p.logical_url().clone())
            .unwrap_or_else(|| Arc::from(""))
    }

    pub(crate) fn answer_verdict(&mut self, request: RequestId, v: AckVerdict) {
        let resp = match v {
            AckVerdict::Delivered => Outcome::Notified,
            AckVerdict::NotDeliverable => Outcome::Refused(Refusal::NotDeliverable),
            AckVerdict::LeftConversation => Outcome::Refused(Refusal::LeftConversation),
        };
        self.respond(request, resp);
    }

    /// Reports what happened to a delivery (PROTOCOL.md §5.7, §6.5). Unknown or repeated
    /// reports are ignored.
    pub fn handle_delivery_result(
        &mut self,
        now: Instant,
        id: DeliveryId,
        outcome: DeliveryOutcome,
    ) {
        self.advance(now);
        self.delivery_result(id, outcome);
    }

    pub(crate) fn delivery_result(&mut self, id: DeliveryId, outcome: DeliveryOutcome) {
        if id.txn != 0 {
            let Some(t) = self.txns.get_mut(&id.txn) else {
                return;
            };
            let Some(pos) = t.pending.iter().position(|(s, _)| *s == id.seq) else {
                return;
            };
            t.pending.swap_remove(pos);
            let verdict = t.tracker.record(outcome);
            let request = t.request;
            if t.pending.is_empty() {
                let deadline = t.deadline;
                self.txns.remove(&id.txn);
                self.txn_timers.remove(&(deadline, id.txn));
            }
            if let Some(v) = verdict {
                self.answer_verdict(request, v);
            }
        }
        if outcome == DeliveryOutcome::NotSent {
            // Our own side did not send it: says nothing about the call-back (§5.7).
            return;
        }
        let before = self
            .journal_enabled()
            .then(|| self.subs.get(id.subscription).map(|r| r.failure_state()))
            .flatten();
        let discard = self.subs.record_outcome(
            id.subscription,
            outcome.is_success(),
            self.now,
            self.policy.callback_failure_threshold,
            duration_millis(self.policy.callback_failure_window),
        );
        if discard {
            self.discarded_subscriptions += 1;
            self.subs.remove(
                id.subscription,
                duration_millis(self.policy.subscription_grace),
            );
            self.journal.subscription_gone(id.subscription);
        } else if before.is_some()
            && before != self.subs.get(id.subscription).map(|r| r.failure_state())
        {
            self.journal_subscription(id.subscription);
        }
    }
}
