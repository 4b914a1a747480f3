//! A bounded cache of DNS answers that honours their TTLs, sans-IO.
//!
//! The cache never reads a clock: every call takes `now: Instant`. Entries expire at
//! `now + ttl` (the TTL is clamped by a [`TtlPolicy`] first). Negative answers
//! (NXDOMAIN, no records) are cached like positive ones, with their own TTL.
//!
//! The size is bounded by a capacity (default [`DEFAULT_CAPACITY`]). Inserting a new
//! key into a full cache first drops expired entries, then, if still full, the entry
//! that expires soonest. That costs one pass over the entries, only when the cache is
//! full.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Default number of entries kept per cache.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Bounds applied to DNS TTLs before caching.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TtlPolicy {
    /// Shortest time a positive answer is kept (default 0: a TTL of 0 is not cached).
    pub positive_min: Duration,
    /// Longest time a positive answer is kept (default 1 day).
    pub positive_max: Duration,
    /// TTL of a negative answer that carried none (no SOA in the response; default 60 s).
    pub negative_default: Duration,
    /// Longest time a negative answer is kept (default 15 min, cf. RFC 2308's advice of
    /// 1–3 h upper bounds, shortened because a missing record is often a transient
    /// misconfiguration).
    pub negative_max: Duration,
}

impl Default for TtlPolicy {
    fn default() -> Self {
        Self {
            positive_min: Duration::ZERO,
            positive_max: Duration::from_secs(86_400),
            negative_default: Duration::from_secs(60),
            negative_max: Duration::from_secs(900),
        }
    }
}

impl TtlPolicy {
    /// The time a positive answer with DNS TTL `ttl` is kept.
    pub fn positive(&self, ttl: Duration) -> Duration {
        ttl.clamp(self.positive_min, self.positive_max.max(self.positive_min))
    }

    /// The time a negative answer with DNS TTL `ttl` (if any) is kept.
    pub fn negative(&self, ttl: Option<Duration>) -> Duration {
        ttl.unwrap_or(self.negative_default).min(self.negative_max)
    }
}

#[derive(Debug, Clone)]
struct Entry<V> {
    value: V,
    expires: Instant,
}

/// A map from names to values that expire, with a bound on the number of entries.
#[derive(Debug, Clone)]
pub struct TtlCache<K, V> {
    map: HashMap<K, Entry<V>>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> TtlCache<K, V> {
    /// An empty cache holding at most `capacity` entries (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::with_capacity(capacity.min(DEFAULT_CAPACITY)),
            capacity,
        }
    }

    /// The maximum number of entries.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of entries, expired ones included until they are purged.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache holds no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value for `key` if it has not expired at `now`, with its remaining lifetime.
    pub fn get<Q>(&self, key: &Q, now: Instant) -> Option<(&V, Duration)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let e = self.map.get(key)?;
        (e.expires > now).then(|| (&e.value, e.expires - now))
    }

    /// Stores `value` for `key` until `now + ttl`. A zero `ttl` or a zero capacity
    /// stores nothing (and drops any previous value for `key`).
    pub fn insert(&mut self, key: K, value: V, ttl: Duration, now: Instant) {
        if ttl.is_zero() || self.capacity == 0 {
            self.map.remove(&key);
            return;
        }
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            self.purge_expired(now);
            if self.map.len() >= self.capacity {
                self.evict_soonest();
            }
        }
        let expires = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(86_400));
        self.map.insert(key, Entry { value, expires });
    }

    /// Removes the entry for `key`, returning whether there was one.
    pub fn remove<Q>(&mut self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove(key).is_some()
    }

    /// Drops every entry that has expired at `now`.
    pub fn purge_expired(&mut self, now: Instant) {
        self.map.retain(|_, e| e.expires > now);
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    fn evict_soonest(&mut self) {
        let victim = self
            .map
            .iter()
            .min_by_key(|(_, e)| e.expires)
            .map(|(k, _)| k.clone());
        if let Some(victim) = victim {
            self.map.remove(&victim);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn entries_expire_at_their_ttl() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(4);
        c.insert("a", 1, 10 * S, t0);
        assert_eq!(c.get("a", t0), Some((&1, 10 * S)));
        assert_eq!(c.get("a", t0 + 9 * S), Some((&1, S)));
        assert_eq!(c.get("a", t0 + 10 * S), None);
        c.purge_expired(t0 + 10 * S);
        assert!(c.is_empty());
    }

    #[test]
    fn zero_ttl_and_zero_capacity_store_nothing() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(4);
        c.insert("a", 1, 10 * S, t0);
        c.insert("a", 2, Duration::ZERO, t0);
        assert_eq!(c.get("a", t0), None);
        let mut z = TtlCache::new(0);
        z.insert("a", 1, 10 * S, t0);
        assert!(z.is_empty());
    }

    #[test]
    fn full_cache_drops_expired_then_soonest() {
        let t0 = Instant::now();
        let mut c = TtlCache::new(2);
        c.insert("short", 1, S, t0);
        c.insert("long", 2, 100 * S, t0);
        // Full, nothing expired: the soonest-expiring entry goes.
        c.insert("new", 3, 50 * S, t0);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("short", t0), None);
        assert!(c.get("long", t0).is_some());
        // Later, "new" has expired: it is the one purged.
        c.insert("newer", 4, 50 * S, t0 + 60 * S);
        assert!(c.get("long", t0 + 60 * S).is_some());
        assert!(c.get("newer", t0 + 60 * S).is_some());
        assert_eq!(c.len(), 2);
        // Replacing an existing key never evicts.
        c.insert("long", 5, 100 * S, t0 + 60 * S);
        assert_eq!(c.len(), 2);
        assert!(c.get("newer", t0 + 60 * S).is_some());
    }

    #[test]
    fn ttl_policy_clamps() {
        let p = TtlPolicy::default();
        assert_eq!(p.positive(Duration::from_secs(10 * 86_400)), 86_400 * S);
        assert_eq!(p.positive(5 * S), 5 * S);
        assert_eq!(p.negative(None), 60 * S);
        assert_eq!(p.negative(Some(7 * S)), 7 * S);
        assert_eq!(p.negative(Some(86_400 * S)), 900 * S);
    }

    proptest! {
        #[test]
        fn size_bound_always_holds(
            cap in 0usize..8,
            ops in proptest::collection::vec((0u8..16, 0u64..20, 0u64..40), 0..100),
        ) {
            let t0 = Instant::now();
            let mut c = TtlCache::new(cap);
            for (k, ttl, at) in ops {
                let now = t0 + Duration::from_secs(at);
                c.insert(k, (), Duration::from_secs(ttl), now);
                prop_assert!(c.len() <= cap);
                if ttl > 0 && cap > 0 {
                    prop_assert!(c.get(&k, now).is_some());
                }
            }
        }
    }
}
