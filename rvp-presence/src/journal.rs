//! Durability: the change journal the engine keeps for its embedder, and the records it
//! is restored from.
//!
//! The engine holds its state in memory. An embedder that must survive a restart (the
//! reference server: "a restart, including `kill -9` under load, loses no acknowledged
//! change") turns the journal on with [`Engine::enable_journal`]. From then on every
//! operation that changes durable state — a subscription made, renewed, cancelled,
//! expired or discarded after callback failures; a view set, evicted or expired; an ACL
//! written; an id minted — appends [`Change`]s, which the embedder takes with
//! [`Engine::take_changes`] and writes to its store.
//!
//! # The contract: commit, then answer
//!
//! An answer (or a NOTIFY) must not leave the process before the changes that the engine
//! produced together with it are durable; otherwise a crash right after the answer loses
//! an acknowledged change. The engine keeps its outputs queued, in order, until they are
//! polled, so the embedder does:
//!
//! ```text
//!   handle requests / timeouts / delivery results   (one or many: group commit)
//!   let covered = engine.pending_outputs();         // outputs produced so far
//!   let changes = engine.take_changes();            // changes produced so far
//!   store.apply(&changes)?;                         // ONE transaction, durable on return
//!   for _ in 0..covered { release(engine.poll_output()) }
//! ```
//!
//! Outputs queued after `take_changes` belong to the next batch. The changes of one call
//! to `take_changes` must be applied atomically and in order (a later change to the same
//! record replaces an earlier one). If the commit fails, the embedder must not release
//! the covered outputs (the reference server stops: its memory is now ahead of its disk).
//!
//! What is durable: [`SubscriptionRecord`] (including the §5.7 callback-failure count, so
//! that a restart does not forgive a dead callback), [`ViewRecord`] (the leased states
//! and their §5.3 binding), [`AclRecord`] and the id [`Counters`] (subscription and view
//! ids are never reused, also across restarts). What is not: principals (the embedder
//! registers them from its configuration before restoring), tracked deep-ack deliveries
//! in flight and delivery sequence numbers (their connections die with the process).
//! NOTIFYs are at most once across a crash, as they are at any time (§5.7: no retries):
//! one queued after its commit but not yet sent when the process dies is not sent again.
//!
//! # Time
//!
//! The engine knows only [`Instant`]s, and so do the records: every deadline is the
//! `Instant` at which the engine would act. An `Instant` does not survive a restart; the
//! store converts deadlines to wall-clock time when it writes them, with an anchor pair
//! `(Instant, SystemTime)` read once at start-up, and back to `Instant`s of the new
//! process when it loads them (see `rvp-server`'s store). A deadline that passed while
//! the process was down becomes an `Instant` before the restore's `now`.
//!
//! # Restore
//!
//! [`Engine::restore`] rebuilds a freshly created engine (principals registered, nothing
//! else done) from [`Records`]: subscriptions keep their ids, granted lifetimes and
//! deadlines, views their leases, set order and binding, nodes their ACLs, and the id
//! counters continue where they stopped. What ended while the process was down is
//! settled as if the engine had been running, at the restore's `now`:
//!
//! * a subscription whose lifetime (plus the policy's grace) ended is dropped silently,
//!   as a running engine drops it (§5.6);
//! * a view whose lease (plus grace) ended is dropped, its principal's published state is
//!   recomputed from the remaining views, and when that differs from the state published
//!   before the stop (the aggregate of all stored views), the node's watchers get a
//!   NOTIFY, exactly as a lease expiry notifies in a running engine (§5.5) — late rather
//!   than never, so that watchers do not keep showing a state that lapsed;
//! * records naming a principal that is no longer registered are dropped.
//!
//! Every record dropped this way is also journaled as a deletion, so the store forgets it.
//! Restored subscriptions and leases keep what was granted even if the policy changed in
//! between (its limits apply to new requests); the §5.7 failure count carries over.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use rvp_presence::{
//!     Caller, DirectoryProperties, Engine, NodeKey, Output, Policy, Records, RequestId,
//!     StatePatch,
//! };
//! use rvp_proto::{CredentialKind, PresenceState};
//!
//! let bob = NodeKey::new("im.example.com", "bob").expect("valid key");
//! let start = |now: Instant| -> Result<Engine, Box<dyn std::error::Error>> {
//!     let mut e = Engine::new(Policy::default(), now)?;
//!     e.enable_journal();
//!     e.register_principal(bob.clone(), DirectoryProperties::new("Bob", "bob@example.com"))?;
//!     Ok(e)
//! };
//! let mut store = Records::default(); // stands in for a durable store
//!
//! let t0 = Instant::now();
//! let mut engine = start(t0)?;
//! let me = Caller::authenticated("http://im.example.com/instmsg/aliases/bob", CredentialKind::Digest);
//! engine.proppatch_state(t0, RequestId(1), &me, &bob, StatePatch::leased(PresenceState::Busy, 3600));
//! // Commit, then answer.
//! let covered = engine.pending_outputs();
//! store.apply_all(engine.take_changes());
//! for _ in 0..covered {
//!     let _answer = engine.poll_output();
//! }
//!
//! // The process dies; ten minutes later a new one restores bob's lease.
//! let t1 = t0 + Duration::from_secs(600);
//! let mut engine = start(t1)?;
//! let report = engine.restore(t1, store.clone())?;
//! assert_eq!(report.views, 1);
//! let id = engine.directory().lookup(&bob).expect("registered");
//! assert_eq!(engine.published_state(id), Some(&PresenceState::Busy));
//! assert_eq!(engine.poll_timeout(), Some(t0 + Duration::from_secs(3600 + 10)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Engine::enable_journal`]: crate::Engine::enable_journal
//! [`Engine::take_changes`]: crate::Engine::take_changes
//! [`Engine::restore`]: crate::Engine::restore

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use rvp_proto::CredentialKind;
use rvp_proto::header::CallBack;

use crate::acl::Acl;
use crate::lease::{LeasedState, ViewId};
use crate::principal::NodeKey;
use crate::subscription::{SubscriptionId, SubscriptionKind};

/// A live subscription as stored (upserted whenever any of its fields changes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriptionRecord {
    /// The id (the store's key).
    pub id: SubscriptionId,
    /// The node subscribed to.
    pub node: NodeKey,
    /// `update/propchange` or `pragma/notify`.
    pub kind: SubscriptionKind,
    /// The `Call-Back`.
    pub callback: Arc<CallBack>,
    /// The subscriber's principal URL.
    pub subscriber: Arc<str>,
    /// The credential kind the subscriber proved at SUBSCRIBE time, if any (used to
    /// evaluate the presence right at fan-out).
    pub proof: Option<CredentialKind>,
    /// The granted lifetime, in seconds.
    pub granted_secs: u32,
    /// End of the announced lifetime; the engine forgets the subscription
    /// `Policy::subscription_grace` later.
    pub expires: Instant,
    /// Consecutive failed deliveries to the call-back (§5.7).
    pub failures: u8,
    /// When the current run of failures started, if one is running.
    pub first_failure: Option<Instant>,
}

/// One live view of a principal's leased `r:state` (PROTOCOL.md §5.2, §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViewRecord {
    /// The principal.
    pub node: NodeKey,
    /// The view id (the store's key: view ids are unique engine-wide).
    pub id: ViewId,
    /// The value, its default and the granted lease.
    pub state: LeasedState,
    /// End of the announced lease; the view dies `Policy::lease_grace` later.
    pub expires: Instant,
    /// Global order of the last set (the most recent user-chosen state wins, §5.4).
    pub set_order: u64,
    /// The (authenticated or asserted principal, source IP) a view-less PROPPATCH bound
    /// the view to (§5.3), if any.
    pub bound_to: Option<(Arc<str>, IpAddr)>,
}

/// The ACL of one node (written whole after every ACL write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRecord {
    /// The node (the store's key).
    pub node: NodeKey,
    /// The complete stored ACL.
    pub acl: Acl,
}

/// The engine's id counters: the last ids minted. Restored counters make sure no id is
/// handed out twice, also across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Counters {
    /// The last subscription id minted (0: none yet).
    pub last_subscription_id: u32,
    /// The last view id minted (0: none yet).
    pub last_view_id: u32,
    /// The last view set order handed out.
    pub last_set_order: u64,
}

/// One durable change, in the order the engine made it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Insert or replace a subscription.
    PutSubscription(SubscriptionRecord),
    /// Delete a subscription (cancelled, expired or discarded).
    DeleteSubscription(SubscriptionId),
    /// Insert or replace a view.
    PutView(ViewRecord),
    /// Delete a view (expired, evicted).
    DeleteView(ViewId),
    /// Insert or replace a node's ACL.
    PutAcl(AclRecord),
    /// Delete a node's ACL (its principal is no longer registered).
    DeleteAcl(NodeKey),
    /// Replace the id counters.
    Counters(Counters),
}

/// Everything durable, keyed as a store keys it: the input of [`Engine::restore`] and,
/// with [`Records::apply`], an in-memory store (tests, embedders without a disk).
///
/// [`Engine::restore`]: crate::Engine::restore
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Records {
    /// Subscriptions by id.
    pub subscriptions: BTreeMap<SubscriptionId, SubscriptionRecord>,
    /// Views by id.
    pub views: BTreeMap<ViewId, ViewRecord>,
    /// ACLs by node.
    pub acls: BTreeMap<NodeKey, AclRecord>,
    /// The id counters.
    pub counters: Counters,
}

impl Records {
    /// Applies one change.
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::PutSubscription(r) => {
                self.subscriptions.insert(r.id, r);
            }
            Change::DeleteSubscription(id) => {
                self.subscriptions.remove(&id);
            }
            Change::PutView(r) => {
                self.views.insert(r.id, r);
            }
            Change::DeleteView(id) => {
                self.views.remove(&id);
            }
            Change::PutAcl(r) => {
                self.acls.insert(r.node.clone(), r);
            }
            Change::DeleteAcl(node) => {
                self.acls.remove(&node);
            }
            Change::Counters(c) => self.counters = c,
        }
    }

    /// Applies changes in order.
    pub fn apply_all(&mut self, changes: impl IntoIterator<Item = Change>) {
        for c in changes {
            self.apply(c);
        }
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
            && self.views.is_empty()
            && self.acls.is_empty()
            && self.counters == Counters::default()
    }
}

/// What [`Engine::restore`] did.
///
/// [`Engine::restore`]: crate::Engine::restore
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RestoreReport {
    /// Subscriptions restored.
    pub subscriptions: usize,
    /// Views restored.
    pub views: usize,
    /// ACLs restored.
    pub acls: usize,
    /// Subscriptions dropped because they ended while the engine was down.
    pub expired_subscriptions: usize,
    /// Views dropped because their lease ended while the engine was down.
    pub expired_views: usize,
    /// Records dropped because their principal is not registered (any kind).
    pub unknown_node: usize,
    /// Principals whose published state changed by the expiries (their watchers are
    /// notified).
    pub republished: usize,
}

/// Why [`Engine::restore`] refused.
///
/// [`Engine::restore`]: crate::Engine::restore
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The engine already holds subscriptions, views or queued outputs: restore only a
    /// fresh engine (principals registered, no operation handled yet).
    #[error(
        "restore needs a fresh engine: it already holds {subscriptions} subscriptions, \
         {views} views and {outputs} queued outputs"
    )]
    NotFresh {
        /// Live subscriptions found.
        subscriptions: usize,
        /// Live views found.
        views: usize,
        /// Queued outputs found.
        outputs: usize,
    },
}
