//! The engine's side of durability: journal hooks, snapshot and restore (see
//! [`crate::journal`] for the contract and the decisions).

use std::collections::BTreeMap;
use std::time::Instant;

use super::{Engine, PrincipalId};
use crate::acl::Acl;
use crate::clock::{Clock, Millis, duration_millis};
use crate::journal::{
    AclRecord, Change, Counters, Records, RestoreError, RestoreReport, SubscriptionRecord,
    ViewRecord,
};
use crate::lease::{View, ViewId, aggregate};
use crate::subscription::{NewSubscription, SubscriptionId, SubscriptionKind};

/// The pending changes (only collected once the embedder enabled the journal).
#[derive(Debug, Default)]
pub(crate) struct Journal {
    on: bool,
    changes: Vec<Change>,
    counters_dirty: bool,
}

impl Journal {
    pub(crate) fn push(&mut self, change: Change) {
        if self.on {
            self.changes.push(change);
        }
    }

    pub(crate) fn subscription_gone(&mut self, id: SubscriptionId) {
        self.push(Change::DeleteSubscription(id));
    }

    pub(crate) fn subscriptions_gone(&mut self, ids: &[SubscriptionId]) {
        if self.on {
            self.changes
                .extend(ids.iter().map(|id| Change::DeleteSubscription(*id)));
        }
    }

    pub(crate) fn view_gone(&mut self, id: ViewId) {
        self.push(Change::DeleteView(id));
    }

    pub(crate) fn counters_changed(&mut self) {
        self.counters_dirty |= self.on;
    }
}

impl Engine {
    // ----------------------------------------------------------------- journal API

    /// Turns the change journal on (see [`crate::journal`]): from now on, every change
    /// to durable state is kept until [`Engine::take_changes`]. Off by default, so that
    /// an embedder without a store pays nothing and holds no growing buffer. Turn it on
    /// before [`Engine::restore`] so that the records restore drops are journaled too.
    pub fn enable_journal(&mut self) {
        self.journal.on = true;
    }

    /// Whether the journal is on.
    pub fn journal_enabled(&self) -> bool {
        self.journal.on
    }

    /// Whether changes are waiting for [`Engine::take_changes`].
    pub fn has_changes(&self) -> bool {
        !self.journal.changes.is_empty() || self.journal.counters_dirty
    }

    /// Takes the changes made since the last call, in order. Apply them to the store in
    /// one transaction and only then release the outputs queued before this call
    /// (contract in [`crate::journal`]).
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut out = Vec::new();
        self.take_changes_into(&mut out);
        out
    }

    /// [`Engine::take_changes`] appending to a caller-owned buffer.
    pub fn take_changes_into(&mut self, out: &mut Vec<Change>) {
        out.append(&mut self.journal.changes);
        if std::mem::take(&mut self.journal.counters_dirty) {
            out.push(Change::Counters(self.counters()));
        }
    }

    /// The id counters as they stand.
    pub fn counters(&self) -> Counters {
        Counters {
            last_subscription_id: self.subs.last_id(),
            last_view_id: self.next_view,
            last_set_order: self.set_order,
        }
    }

    /// Everything durable as it stands: what a store holds after applying every change
    /// journaled so far. ACLs equal to their node's default are left out (a store holds
    /// an ACL only once it was written); use it for a first full write or a compaction.
    pub fn records(&self) -> Records {
        let mut r = Records {
            counters: self.counters(),
            ..Records::default()
        };
        for id in self.subs.ids() {
            if let Some(rec) = self.subscription_record(id) {
                r.subscriptions.insert(id, rec);
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let Some(p) = u32::try_from(i)
                .ok()
                .and_then(|i| self.directory.get(PrincipalId(i)))
            else {
                continue;
            };
            for v in &n.views.live {
                r.views.insert(v.id, self.view_record(p.key().clone(), v));
            }
            if n.acl
                != Acl::default_with_owner_assertion(
                    p.logical_url(),
                    self.policy.owner_accepts_assertion,
                )
            {
                r.acls.insert(
                    p.key().clone(),
                    AclRecord {
                        node: p.key().clone(),
                        acl: n.acl.clone(),
                    },
                );
            }
        }
        r
    }

    pub(crate) fn subscription_record(&self, id: SubscriptionId) -> Option<SubscriptionRecord> {
        let rec = self.subs.get(id)?;
        let node = self.directory.get(rec.node)?.key().clone();
        let (failures, first) = rec.failure_state();
        Some(SubscriptionRecord {
            id,
            node,
            kind: rec.kind,
            callback: rec.callback.clone(),
            subscriber: rec.subscriber.clone(),
            proof: rec.proof,
            granted_secs: rec.granted_secs,
            expires: self.clock.instant(rec.expires_ms),
            failures,
            first_failure: first.map(|ms| self.clock.instant(ms)),
        })
    }

    pub(crate) fn view_record(&self, node: crate::principal::NodeKey, v: &View) -> ViewRecord {
        ViewRecord {
            node,
            id: v.id,
            state: v.state.clone(),
            expires: self.clock.instant(v.expires_ms),
            set_order: v.last_set,
            bound_to: v.bound_to.clone(),
        }
    }

    pub(crate) fn journal_subscription(&mut self, id: SubscriptionId) {
        if self.journal.on
            && let Some(rec) = self.subscription_record(id)
        {
            self.journal.push(Change::PutSubscription(rec));
        }
    }

    pub(crate) fn journal_view(&mut self, node: PrincipalId, id: ViewId) {
        if !self.journal.on {
            return;
        }
        let Some(p) = self.directory.get(node) else {
            return;
        };
        let rec = self.nodes.get(node.0 as usize).and_then(|n| {
            n.views
                .find(id)
                .map(|i| self.view_record(p.key().clone(), &n.views.live[i]))
        });
        if let Some(rec) = rec {
            self.journal.push(Change::PutView(rec));
        }
    }

    pub(crate) fn journal_acl(&mut self, node: PrincipalId) {
        if !self.journal.on {
            return;
        }
        if let (Some(p), Some(n)) = (self.directory.get(node), self.nodes.get(node.0 as usize)) {
            let rec = AclRecord {
                node: p.key().clone(),
                acl: n.acl.clone(),
            };
            self.journal.push(Change::PutAcl(rec));
        }
    }

    // ----------------------------------------------------------------- restore

    /// Rebuilds the durable state from `records` at `now` (semantics and decisions in
    /// [`crate::journal`]): call it on a fresh engine, after registering the principals
    /// and (for a journaling embedder) [`Engine::enable_journal`], before any operation.
    ///
    /// Subscriptions and views that ended while the engine was down are dropped;
    /// principals whose published state changes by that get their watchers notified
    /// (outputs queued as usual). Dropped records are journaled as deletions.
    pub fn restore(
        &mut self,
        now: Instant,
        records: Records,
    ) -> Result<RestoreReport, RestoreError> {
        let views_live: usize = self.nodes.iter().map(|n| n.views.live.len()).sum();
        if self.subs.len() != 0 || views_live != 0 || !self.out.is_empty() || !self.txns.is_empty()
        {
            return Err(RestoreError::NotFresh {
                subscriptions: self.subs.len(),
                views: views_live,
                outputs: self.out.len(),
            });
        }
        let sgrace = self.policy.subscription_grace;
        let lgrace = self.policy.lease_grace;
        // A new epoch early enough that every deadline a live record may carry (a lifetime
        // ended less than a grace ago, a failure run of any age) is exact in milliseconds.
        let margin = sgrace.max(lgrace).max(self.policy.callback_failure_window);
        let mut epoch = now.checked_sub(margin).unwrap_or(now);
        for r in records.subscriptions.values() {
            if let Some(f) = r.first_failure {
                epoch = epoch.min(f);
            }
        }
        self.clock = Clock::new(epoch);
        self.now = self.clock.millis(now);
        let mut report = RestoreReport::default();

        for (key, rec) in records.acls {
            match self.directory.lookup(&key) {
                Some(n) => {
                    self.nodes[n.0 as usize].acl = rec.acl;
                    report.acls += 1;
                }
                None => {
                    report.unknown_node += 1;
                    self.journal.push(Change::DeleteAcl(key));
                }
            }
        }

        let sgrace_ms = duration_millis(sgrace);
        let mut max_sub = 0;
        for (id, rec) in records.subscriptions {
            max_sub = max_sub.max(id.get());
            let Some(node) = self.directory.lookup(&rec.node) else {
                report.unknown_node += 1;
                self.journal.subscription_gone(id);
                continue;
            };
            if rec.expires.checked_add(sgrace).is_none_or(|end| end <= now) {
                report.expired_subscriptions += 1;
                self.journal.subscription_gone(id);
                continue;
            }
            let expires_ms = self.clock.millis(rec.expires);
            let local_target = if rec.kind == SubscriptionKind::PropChange {
                match crate::callback::CallBackForm::of(&rec.callback) {
                    Some(crate::callback::CallBackForm::Principal(key)) => {
                        self.directory.lookup(&key)
                    }
                    _ => None,
                }
            } else {
                None
            };
            let inserted = self.subs.insert_with_id(
                id,
                NewSubscription {
                    node,
                    kind: rec.kind,
                    callback: &rec.callback,
                    subscriber: &rec.subscriber,
                    proof: rec.proof,
                    local_target,
                    granted_secs: rec.granted_secs,
                    expires_ms,
                    remove_at_ms: expires_ms.saturating_add(sgrace_ms),
                },
            );
            if inserted {
                let first: Option<Millis> = rec.first_failure.map(|f| self.clock.millis(f));
                self.subs.set_failure_state(id, rec.failures, first);
                report.subscriptions += 1;
            }
        }
        // The counter goes on where it stopped; the ids it maps to are keyed by a secret
        // that may have changed since (a restart draws a new one), and the table skips
        // any id that is live.
        self.subs.set_last_id(records.counters.last_subscription_id);

        let lgrace_ms = duration_millis(lgrace);
        let mut max_view = 0;
        let mut max_order = 0;
        // Per node: the state published before the stop (the aggregate of every stored
        // view), compared with the aggregate of the views still live now.
        let mut before: BTreeMap<u32, Vec<(rvp_proto::PresenceState, u64)>> = BTreeMap::new();
        for (id, rec) in records.views {
            max_view = max_view.max(id.get());
            max_order = max_order.max(rec.set_order);
            let Some(node) = self.directory.lookup(&rec.node) else {
                report.unknown_node += 1;
                self.journal.view_gone(id);
                continue;
            };
            before
                .entry(node.0)
                .or_default()
                .push((rec.state.value.clone(), rec.set_order));
            if rec.expires.checked_add(lgrace).is_none_or(|end| end <= now) {
                report.expired_views += 1;
                self.journal.view_gone(id);
                continue;
            }
            let expires_ms = self.clock.millis(rec.expires);
            self.nodes[node.0 as usize].views.live.push(View {
                id,
                state: rec.state,
                expires_ms,
                last_set: rec.set_order,
                bound_to: rec.bound_to,
            });
            self.lease_timers
                .insert((expires_ms.saturating_add(lgrace_ms), node.0, id));
            report.views += 1;
        }
        self.next_view = records.counters.last_view_id.max(max_view);
        self.set_order = records.counters.last_set_order.max(max_order);

        for (node, stored) in before {
            let was = aggregate(stored.iter().map(|(v, o)| (v, *o)));
            let n = &mut self.nodes[node as usize];
            n.published = n.views.aggregate();
            if n.published != was {
                report.republished += 1;
                self.fan_out_state(PrincipalId(node));
            }
        }
        Ok(report)
    }
}
