//! The subscription table (PROTOCOL.md §1.4, §2.1–§2.3, §5.6).
//!
//! Records live in a slab; a subscription costs one slab slot, one `id → slot` map entry,
//! one entry in its node's index and one entry in the expiry timer set. Call-back URLs and
//! subscriber principals are interned, so twenty subscriptions of one watcher share one
//! copy of each string.
//!
//! Expiry uses one ordered set of `(deadline, slot)`: a wake-up pops exactly the expired
//! entries, so its cost is O(expired · log n), independent of the live count.

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use rvp_proto::CredentialKind;
use rvp_proto::header::CallBack;

use crate::clock::Millis;
use crate::intern::Interner;
use crate::principal::PrincipalId;

/// A subscription id: a decimal integer in `1..2^31` (interop README point 1), unique
/// among live subscriptions and not reused within one engine run until 2^31 − 1 ids
/// have been minted. The wire crate's minted-id type, so the id the engine makes is the
/// one the `Subscription-Id` header carries, without a mapping.
pub use rvp_proto::header::MintedSubscriptionId as SubscriptionId;

/// The two kinds of subscription (PROTOCOL.md §1.4; `Notification-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubscriptionKind {
    /// `update/propchange`: property changes of the node.
    PropChange,
    /// `pragma/notify`: whatever is NOTIFYed to the node (the login subscription).
    Notify,
}

impl SubscriptionKind {
    /// The `Notification-Type` token.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionKind::PropChange => "update/propchange",
            SubscriptionKind::Notify => "pragma/notify",
        }
    }

    fn index(self) -> usize {
        match self {
            SubscriptionKind::PropChange => 0,
            SubscriptionKind::Notify => 1,
        }
    }
}

const NONE32: u32 = u32::MAX;
const NO_FAILURE: Millis = Millis::MAX;

/// One live subscription (the slab record). 72 bytes.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) id: SubscriptionId,
    pub(crate) node: PrincipalId,
    /// Local principal the call-back names (a logical URL hosted here), or `NONE32`.
    local_target: u32,
    pub(crate) granted_secs: u32,
    /// End of the announced lifetime (the record is removed `grace` later).
    pub(crate) expires_ms: Millis,
    first_failure_ms: Millis,
    pub(crate) callback: Arc<CallBack>,
    pub(crate) subscriber: Arc<str>,
    pub(crate) kind: SubscriptionKind,
    /// Credential kind the subscriber proved at SUBSCRIBE time, if any.
    pub(crate) proof: Option<CredentialKind>,
    failures: u8,
}

impl Record {
    pub(crate) fn local_target(&self) -> Option<PrincipalId> {
        (self.local_target != NONE32).then_some(PrincipalId(self.local_target))
    }

    /// Consecutive failures and the start of the failure run (§5.7).
    pub(crate) fn failure_state(&self) -> (u8, Option<Millis>) {
        (
            self.failures,
            (self.first_failure_ms != NO_FAILURE).then_some(self.first_failure_ms),
        )
    }
}

/// What a caller sees of a subscription (for SUBSCRIPTIONS and tests).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscriptionInfo {
    /// The id.
    pub id: SubscriptionId,
    /// `update/propchange` or `pragma/notify`.
    pub kind: SubscriptionKind,
    /// The `Call-Back`.
    pub callback: Arc<CallBack>,
    /// The subscriber's principal URL.
    pub subscriber: Arc<str>,
    /// Whole seconds left of the announced lifetime.
    pub remaining_secs: u32,
}

/// Multiplicative hashing for dense integer keys (ids are minted sequentially).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[derive(Debug)]
enum Slot {
    Free(u32),
    Used(Record),
}

/// The address of an interned string, as a map key.
fn arc_key(s: &Arc<str>) -> usize {
    Arc::as_ptr(s).cast::<u8>() as usize
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut IdMap<K, u32>, key: K) {
    if let std::collections::hash_map::Entry::Occupied(mut e) = map.entry(key) {
        if *e.get() <= 1 {
            e.remove();
        } else {
            *e.get_mut() -= 1;
        }
    }
}

/// Parameters of a new subscription, already validated by the caller.
#[derive(Debug, Clone)]
pub(crate) struct NewSubscription<'a> {
    pub(crate) node: PrincipalId,
    pub(crate) kind: SubscriptionKind,
    pub(crate) callback: &'a CallBack,
    pub(crate) subscriber: &'a str,
    pub(crate) proof: Option<CredentialKind>,
    pub(crate) local_target: Option<PrincipalId>,
    pub(crate) granted_secs: u32,
    pub(crate) expires_ms: Millis,
    pub(crate) remove_at_ms: Millis,
}

/// The table of live subscriptions.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionTable {
    slots: Vec<Slot>,
    free_head: Option<u32>,
    by_id: IdMap<u32, u32>,
    /// Per node: the slots of its propchange and notify subscriptions.
    by_node: Vec<[BTreeSet<u32>; 2]>,
    timers: BTreeSet<(Millis, u32)>,
    strings: Interner<str>,
    callbacks: Interner<CallBack>,
    /// Counter of minted ids; the id is a keyed permutation of it ([`IdCipher`]).
    last_id: u32,
    cipher: IdCipher,
    /// Live subscriptions per (node, subscriber), the subscriber named by the address of
    /// its interned string (stable while the count is above zero: a live record holds it).
    per_node_subscriber: IdMap<(u32, usize), u32>,
    /// Live subscriptions per subscriber, keyed the same way.
    per_subscriber: IdMap<usize, u32>,
}

/// Turns the id counter into unpredictable ids: a 4-round Feistel network over 32 bits
/// whose round function is SipHash of (secret, round, half), cycle-walked into
/// `1..SubscriptionId::LIMIT`. A permutation: distinct counter values give distinct ids
/// under one secret; across secrets (a restart) the table still refuses an id that is live.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdCipher {
    secret: [u64; 2],
}

impl IdCipher {
    pub(crate) fn new(secret: [u8; 16]) -> IdCipher {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&secret[..8]);
        b.copy_from_slice(&secret[8..]);
        IdCipher {
            secret: [u64::from_le_bytes(a), u64::from_le_bytes(b)],
        }
    }

    fn round(&self, round: u32, half: u32) -> u32 {
        use std::hash::Hasher as _;
        let mut h = std::hash::DefaultHasher::new();
        h.write_u64(self.secret[0]);
        h.write_u64(self.secret[1]);
        h.write_u32(round);
        h.write_u32(half);
        (h.finish() & 0xFFFF) as u32
    }

    fn permute32(&self, x: u32) -> u32 {
        let (mut l, mut r) = (x >> 16, x & 0xFFFF);
        for round in 0..4 {
            let next = l ^ self.round(round, r);
            l = r;
            r = next;
        }
        (l << 16) | r
    }

    /// The id of counter value `n` (`n < LIMIT`).
    pub(crate) fn id_of(&self, n: u32) -> u32 {
        let mut x = n;
        loop {
            x = self.permute32(x);
            if x != 0 && x < SubscriptionId::LIMIT {
                return x;
            }
        }
    }
}

impl SubscriptionTable {
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Sets the secret that makes ids unpredictable (the embedder draws it at start-up).
    pub(crate) fn set_id_secret(&mut self, secret: [u8; 16]) {
        self.cipher = IdCipher::new(secret);
    }

    fn mint_id(&mut self) -> SubscriptionId {
        loop {
            self.last_id = if self.last_id + 1 >= SubscriptionId::LIMIT {
                1
            } else {
                self.last_id + 1
            };
            let id = self.cipher.id_of(self.last_id);
            // The cipher permutes 1..LIMIT onto itself, so `new` always succeeds.
            if let Some(sid) = SubscriptionId::new(id)
                && !self.by_id.contains_key(&id)
            {
                return sid;
            }
        }
    }

    /// Live subscriptions of `subscriber` on `node`, and of `subscriber` overall.
    pub(crate) fn subscriber_counts(&self, node: PrincipalId, subscriber: &str) -> (u32, u32) {
        let Some(key) = self.strings.get(subscriber).map(arc_key) else {
            return (0, 0);
        };
        (
            self.per_node_subscriber
                .get(&(node.0, key))
                .copied()
                .unwrap_or(0),
            self.per_subscriber.get(&key).copied().unwrap_or(0),
        )
    }

    pub(crate) fn count_on(&self, node: PrincipalId) -> usize {
        self.by_node
            .get(node.0 as usize)
            .map_or(0, |s| s[0].len() + s[1].len())
    }

    pub(crate) fn insert(&mut self, new: NewSubscription<'_>) -> SubscriptionId {
        let id = self.mint_id();
        self.insert_with_id(id, new);
        id
    }

    /// Inserts under a given id (restore); `false` when the id is live already.
    pub(crate) fn insert_with_id(&mut self, id: SubscriptionId, new: NewSubscription<'_>) -> bool {
        if self.by_id.contains_key(&id.get()) {
            return false;
        }
        let rec = Record {
            id,
            node: new.node,
            local_target: new.local_target.map_or(NONE32, |p| p.0),
            granted_secs: new.granted_secs,
            expires_ms: new.expires_ms,
            first_failure_ms: NO_FAILURE,
            callback: self.callbacks.intern(new.callback),
            subscriber: self.strings.intern(new.subscriber),
            kind: new.kind,
            proof: new.proof,
            failures: 0,
        };
        let key = arc_key(&rec.subscriber);
        *self
            .per_node_subscriber
            .entry((new.node.0, key))
            .or_insert(0) += 1;
        *self.per_subscriber.entry(key).or_insert(0) += 1;
        let slot = match self.free_head {
            Some(s) => {
                let i = s as usize;
                self.free_head = match self.slots[i] {
                    Slot::Free(next) if next != NONE32 => Some(next),
                    _ => None,
                };
                self.slots[i] = Slot::Used(rec);
                s
            }
            None => {
                let s = u32::try_from(self.slots.len()).unwrap_or(NONE32);
                self.slots.push(Slot::Used(rec));
                s
            }
        };
        self.by_id.insert(id.get(), slot);
        let n = new.node.0 as usize;
        if self.by_node.len() <= n {
            self.by_node.resize_with(n + 1, Default::default);
        }
        self.by_node[n][new.kind.index()].insert(slot);
        self.timers.insert((new.remove_at_ms, slot));
        true
    }

    /// The last id minted (journal counters).
    pub(crate) fn last_id(&self) -> u32 {
        self.last_id
    }

    /// Continues minting after `last` (restore).
    pub(crate) fn set_last_id(&mut self, last: u32) {
        self.last_id = last.min(SubscriptionId::LIMIT - 1);
    }

    /// Restores the §5.7 failure accounting of a subscription.
    pub(crate) fn set_failure_state(
        &mut self,
        id: SubscriptionId,
        failures: u8,
        first_failure_ms: Option<Millis>,
    ) {
        if let Some(&slot) = self.by_id.get(&id.get())
            && let Some(rec) = self.record_mut(slot)
        {
            rec.failures = failures;
            rec.first_failure_ms = first_failure_ms.unwrap_or(NO_FAILURE);
        }
    }

    pub(crate) fn get(&self, id: SubscriptionId) -> Option<&Record> {
        let slot = *self.by_id.get(&id.get())?;
        self.record(slot)
    }

    fn record(&self, slot: u32) -> Option<&Record> {
        match self.slots.get(slot as usize) {
            Some(Slot::Used(r)) => Some(r),
            _ => None,
        }
    }

    fn record_mut(&mut self, slot: u32) -> Option<&mut Record> {
        match self.slots.get_mut(slot as usize) {
            Some(Slot::Used(r)) => Some(r),
            _ => None,
        }
    }

    /// Renews: new granted lifetime and deadlines.
    pub(crate) fn renew(
        &mut self,
        id: SubscriptionId,
        granted_secs: u32,
        expires_ms: Millis,
        remove_at_ms: Millis,
        grace_ms: Millis,
    ) -> bool {
        let Some(&slot) = self.by_id.get(&id.get()) else {
            return false;
        };
        let Some(rec) = self.record_mut(slot) else {
            return false;
        };
        let old = rec.expires_ms.saturating_add(grace_ms);
        rec.granted_secs = granted_secs;
        rec.expires_ms = expires_ms;
        self.timers.remove(&(old, slot));
        self.timers.insert((remove_at_ms, slot));
        true
    }

    /// Removes a subscription; returns whether it was live.
    pub(crate) fn remove(&mut self, id: SubscriptionId, grace_ms: Millis) -> bool {
        let Some(slot) = self.by_id.remove(&id.get()) else {
            return false;
        };
        let prev = std::mem::replace(
            &mut self.slots[slot as usize],
            Slot::Free(self.free_head.unwrap_or(NONE32)),
        );
        let Slot::Used(rec) = prev else {
            return false;
        };
        self.free_head = Some(slot);
        if let Some(sets) = self.by_node.get_mut(rec.node.0 as usize) {
            sets[rec.kind.index()].remove(&slot);
        }
        self.timers
            .remove(&(rec.expires_ms.saturating_add(grace_ms), slot));
        let key = arc_key(&rec.subscriber);
        decrement(&mut self.per_node_subscriber, (rec.node.0, key));
        decrement(&mut self.per_subscriber, key);
        let Record {
            callback,
            subscriber,
            ..
        } = rec;
        self.callbacks.release(callback);
        self.strings.release(subscriber);
        true
    }

    /// Removes every subscription whose removal deadline is at or before `now`, pushing
    /// their ids to `out`. Cost: O(expired · log n).
    pub(crate) fn expire(&mut self, now: Millis, grace_ms: Millis, out: &mut Vec<SubscriptionId>) {
        while let Some(&(deadline, slot)) = self.timers.first() {
            if deadline > now {
                break;
            }
            self.timers.pop_first();
            if let Some(id) = self.record(slot).map(|r| r.id) {
                // The timer entry is already gone; `remove` tolerates that.
                self.remove(id, grace_ms);
                out.push(id);
            }
        }
    }

    /// The earliest removal deadline.
    pub(crate) fn next_deadline(&self) -> Option<Millis> {
        self.timers.first().map(|(d, _)| *d)
    }

    /// Live subscriptions of one kind on a node, in slot order.
    pub(crate) fn on_node(
        &self,
        node: PrincipalId,
        kind: SubscriptionKind,
    ) -> impl Iterator<Item = &Record> + '_ {
        self.by_node
            .get(node.0 as usize)
            .into_iter()
            .flat_map(move |sets| sets[kind.index()].iter())
            .filter_map(|slot| self.record(*slot))
    }

    /// Ids of the live subscriptions of one kind on a node.
    #[cfg(test)]
    pub(crate) fn ids_on_node(
        &self,
        node: PrincipalId,
        kind: SubscriptionKind,
    ) -> Vec<SubscriptionId> {
        self.on_node(node, kind).map(|r| r.id).collect()
    }

    /// Every live id (tests, invariants).
    pub(crate) fn ids(&self) -> impl Iterator<Item = SubscriptionId> + '_ {
        self.by_id.keys().filter_map(|&k| SubscriptionId::new(k))
    }

    /// Records a delivery outcome; returns `true` when the subscription must be discarded
    /// (§5.7: `threshold` consecutive failures, or failing for longer than `window`).
    pub(crate) fn record_outcome(
        &mut self,
        id: SubscriptionId,
        ok: bool,
        now: Millis,
        threshold: u32,
        window_ms: Millis,
    ) -> bool {
        let Some(&slot) = self.by_id.get(&id.get()) else {
            return false;
        };
        let Some(rec) = self.record_mut(slot) else {
            return false;
        };
        if ok {
            rec.failures = 0;
            rec.first_failure_ms = NO_FAILURE;
            return false;
        }
        rec.failures = rec.failures.saturating_add(1);
        if rec.first_failure_ms == NO_FAILURE {
            rec.first_failure_ms = now;
        }
        u32::from(rec.failures) >= threshold || now.saturating_sub(rec.first_failure_ms) > window_ms
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    static W: std::sync::LazyLock<CallBack> =
        std::sync::LazyLock::new(|| "http://h/instmsg/aliases/w".parse().unwrap());

    fn new(node: u32, kind: SubscriptionKind, expires: Millis) -> NewSubscription<'static> {
        NewSubscription {
            node: PrincipalId(node),
            kind,
            callback: &W,
            subscriber: "http://h/instmsg/aliases/w",
            proof: None,
            local_target: None,
            granted_secs: 60,
            expires_ms: expires,
            remove_at_ms: expires,
        }
    }

    #[test]
    fn ids_parse_and_print_decimal() {
        assert_eq!(
            SubscriptionId::parse("98210").map(|i| i.to_string()),
            Some("98210".into())
        );
        assert_eq!(SubscriptionId::parse("0"), None);
        assert_eq!(SubscriptionId::parse("9A504"), None);
        assert_eq!(SubscriptionId::parse("2147483648"), None);
        assert_eq!(
            SubscriptionId::parse("2147483647").map(SubscriptionId::get),
            Some(2_147_483_647)
        );
        assert_eq!(SubscriptionId::parse("99999999999"), None);
    }

    #[test]
    fn insert_remove_expire() {
        let mut t = SubscriptionTable::default();
        let a = t.insert(new(0, SubscriptionKind::PropChange, 1000));
        let b = t.insert(new(0, SubscriptionKind::Notify, 2000));
        let c = t.insert(new(1, SubscriptionKind::PropChange, 3000));
        assert_ne!(a, b);
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.ids_on_node(PrincipalId(0), SubscriptionKind::PropChange),
            vec![a]
        );
        assert!(t.remove(b, 0));
        assert!(!t.remove(b, 0));
        let mut out = Vec::new();
        t.expire(999, 0, &mut out);
        assert!(out.is_empty());
        t.expire(1000, 0, &mut out);
        assert_eq!(out, vec![a]);
        assert_eq!(t.next_deadline(), Some(3000));
        // Slot reuse does not reuse ids.
        let d = t.insert(new(0, SubscriptionKind::PropChange, 5000));
        assert!(![a, b, c].contains(&d));
        assert!(t.renew(d, 60, 9000, 9000, 0));
        t.expire(5000, 0, &mut out);
        assert_eq!(out, vec![a, c]);
        assert_eq!(t.len(), 1);
        assert_eq!((t.strings.len(), t.callbacks.len()), (1, 1));
        t.remove(d, 0);
        assert_eq!((t.strings.len(), t.callbacks.len()), (0, 0));
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn id_counter_wraps_below_two_to_the_31_and_skips_live_ids() {
        let mut t = SubscriptionTable::default();
        let first = t.insert(new(0, SubscriptionKind::Notify, 10));
        assert_eq!(t.last_id, 1);
        t.last_id = SubscriptionId::LIMIT - 2;
        let top = t.insert(new(0, SubscriptionKind::Notify, 10));
        assert_eq!(t.last_id, SubscriptionId::LIMIT - 1);
        assert_eq!(top.get(), t.cipher.id_of(SubscriptionId::LIMIT - 1));
        // The counter wraps to 1, whose id is live: skipped, 2 is used.
        let wrapped = t.insert(new(0, SubscriptionKind::Notify, 10));
        assert_eq!(first.get(), t.cipher.id_of(1));
        assert_eq!(
            wrapped.get(),
            t.cipher.id_of(2),
            "1 is live, so it is skipped"
        );
        assert_eq!(t.last_id, 2);
    }

    #[test]
    fn ids_are_unpredictable_and_distinct() {
        let mut t = SubscriptionTable::default();
        t.set_id_secret(*b"0123456789abcdef");
        let ids: Vec<u32> = (0..2_000)
            .map(|_| t.insert(new(0, SubscriptionKind::Notify, 10)).get())
            .collect();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        assert!(ids.iter().all(|&i| i > 0 && i < SubscriptionId::LIMIT));
        // Not a counter: successive ids are never neighbours here, and they spread
        // over the whole range.
        assert!(ids.windows(2).all(|w| w[0].abs_diff(w[1]) > 1));
        assert!(ids.iter().any(|&i| i > SubscriptionId::LIMIT / 2));
        assert!(ids.iter().any(|&i| i < SubscriptionId::LIMIT / 2));
        // Another secret, another sequence.
        let mut u = SubscriptionTable::default();
        u.set_id_secret(*b"fedcba9876543210");
        let other: Vec<u32> = (0..8)
            .map(|_| u.insert(new(0, SubscriptionKind::Notify, 10)).get())
            .collect();
        assert_ne!(other[..], ids[..8]);
    }

    #[test]
    fn cipher_is_a_permutation_of_a_small_domain_sample() {
        // Distinct inputs give distinct outputs (spot check over 100 000 counters).
        let c = IdCipher::new([7; 16]);
        let mut seen = std::collections::HashSet::new();
        for n in 1..100_000 {
            let id = c.id_of(n);
            assert!(id > 0 && id < SubscriptionId::LIMIT);
            assert!(seen.insert(id), "collision at {n}");
        }
    }

    #[test]
    fn subscriber_counts_follow_inserts_and_removals() {
        let mut t = SubscriptionTable::default();
        let a = t.insert(new(0, SubscriptionKind::PropChange, 10));
        let b = t.insert(new(0, SubscriptionKind::PropChange, 10));
        let c = t.insert(new(1, SubscriptionKind::PropChange, 10));
        let sub = "http://h/instmsg/aliases/w";
        assert_eq!(t.subscriber_counts(PrincipalId(0), sub), (2, 3));
        assert_eq!(t.subscriber_counts(PrincipalId(1), sub), (1, 3));
        assert_eq!(t.subscriber_counts(PrincipalId(0), "other"), (0, 0));
        t.remove(a, 0);
        assert_eq!(t.subscriber_counts(PrincipalId(0), sub), (1, 2));
        let mut out = Vec::new();
        t.expire(10, 0, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(t.subscriber_counts(PrincipalId(0), sub), (0, 0));
        assert!(t.per_node_subscriber.is_empty() && t.per_subscriber.is_empty());
        let _ = (b, c);
    }

    #[test]
    fn failure_accounting() {
        let mut t = SubscriptionTable::default();
        let a = t.insert(new(0, SubscriptionKind::Notify, 10_000_000));
        assert!(!t.record_outcome(a, false, 0, 3, 300_000));
        assert!(!t.record_outcome(a, false, 1, 3, 300_000));
        assert!(!t.record_outcome(a, true, 2, 3, 300_000));
        assert!(!t.record_outcome(a, false, 3, 3, 300_000));
        assert!(!t.record_outcome(a, false, 4, 3, 300_000));
        assert!(t.record_outcome(a, false, 5, 3, 300_000));
        let b = t.insert(new(0, SubscriptionKind::Notify, 10_000_000));
        assert!(!t.record_outcome(b, false, 0, 3, 300_000));
        assert!(
            t.record_outcome(b, false, 300_001, 3, 300_000),
            "window exceeded"
        );
    }

    #[test]
    fn record_is_small() {
        assert!(size_of::<Slot>() <= 80, "{}", size_of::<Slot>());
    }
}
