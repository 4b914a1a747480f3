//! A cache in front of a remote directory: found users for `cache_ttl`, unknown addresses
//! for `cache_negative_ttl`, at most `cache_max_entries` answers, counted.
//!
//! ```text
//! lookup(address, now)
//!   ├─ fresh answer cached ─────────────────────────────► it        (hits)
//!   ├─ outage, next attempt not due ─┬─ stale user ─────► it        (stale_served)
//!   │                                └─ else ───────────► the outage's error
//!   └─ ask the directory (misses) ─┬─ answer ───────────► cache it, end any outage
//!                                  ├─ outage error ─┬─ stale user ► it (stale_served)
//!                                  │   (errors)     └─ else ─────► the error
//!                                  └─ other error ──────► the error, nothing cached
//! ```
//!
//! An outage ([`DirectoryError::is_outage`]: unreachable, or refusing) is logged at warn
//! when it starts, once, and at info when the directory answers again; in between the
//! directory is asked at most once per `retry_interval`, so a dead server does not cost
//! every request a time-out. A user found before the outage is served up to
//! `cache_max_stale` past its TTL. An address answered "unknown" is never served past its
//! negative TTL: during an outage it is an error, so a user added meanwhile is not turned
//! away for longer than the negative TTL once the directory is back.
//!
//! Time is an argument ([`CachedDirectory::lookup_at`]); the [`Directory`] methods pass
//! `Instant::now()`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rvp_proto::url::canonical_alias;
use rvp_resolve::Address;

use super::{BoxFuture, Directory, DirectoryConfig, DirectoryEntry, DirectoryError};

/// The cache's limits and lifetimes (the `[directory]` keys of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Lifetime of a found user.
    pub ttl: Duration,
    /// Lifetime of "no such user".
    pub negative_ttl: Duration,
    /// Answers kept at most (at least 1).
    pub max_entries: usize,
    /// How long past its TTL a user is served while the directory is out.
    pub max_stale: Duration,
    /// While the directory is out, it is asked at most this often.
    pub retry_interval: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig::from(&DirectoryConfig::default())
    }
}

impl From<&DirectoryConfig> for CacheConfig {
    fn from(c: &DirectoryConfig) -> Self {
        CacheConfig {
            ttl: c.cache_ttl,
            negative_ttl: c.cache_negative_ttl,
            max_entries: c.cache_max_entries,
            max_stale: c.cache_max_stale,
            retry_interval: c.retry_interval,
        }
    }
}

/// The cache's counters, for metrics. Every count is since the cache was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from a fresh cached answer (found or not found).
    pub hits: u64,
    /// Lookups that asked the directory.
    pub misses: u64,
    /// Directory requests (lookups and listings) that failed.
    pub errors: u64,
    /// Lookups answered with a user past its TTL because the directory was out.
    pub stale_served: u64,
    /// Outages begun (each logged once at warn).
    pub outages: u64,
    /// Answers cached now (expired ones included until they are replaced).
    pub entries: usize,
    /// Whether the directory is out now (its last answer was an outage error).
    pub in_outage: bool,
}

#[derive(Debug)]
struct Slot {
    /// `None`: no such user.
    entry: Option<DirectoryEntry>,
    expires: Instant,
}

#[derive(Debug)]
struct Outage {
    error: DirectoryError,
    since: Instant,
    next_attempt: Instant,
    failures: u64,
}

#[derive(Debug, Default)]
struct State {
    /// (canonical alias, domain) → answer.
    slots: HashMap<(String, String), Slot>,
    outage: Option<Outage>,
}

/// A [`Directory`] with a cache in front: see the [module docs](self).
#[derive(Debug)]
pub struct CachedDirectory<D> {
    inner: D,
    config: CacheConfig,
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    stale_served: AtomicU64,
    outages: AtomicU64,
}

/// What the cache can say without asking the directory.
enum Cached {
    Answer(Option<DirectoryEntry>),
    Stale(DirectoryEntry),
    Error(DirectoryError),
    Ask,
}

impl<D: Directory> CachedDirectory<D> {
    /// `inner` behind a cache with `config` (a `max_entries` of 0 counts as 1).
    pub fn new(inner: D, mut config: CacheConfig) -> CachedDirectory<D> {
        config.max_entries = config.max_entries.max(1);
        CachedDirectory {
            inner,
            config,
            state: Mutex::new(State::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            outages: AtomicU64::new(0),
        }
    }

    /// The directory behind the cache.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The limits in force.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Directory::lookup`] at `now`.
    pub async fn lookup_at(
        &self,
        address: &Address,
        now: Instant,
    ) -> Result<Option<DirectoryEntry>, DirectoryError> {
        let key = cache_key(address);
        match self.cached(&key, now) {
            Cached::Answer(a) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(a);
            }
            Cached::Stale(e) => {
                self.stale_served.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(e));
            }
            Cached::Error(e) => return Err(e),
            Cached::Ask => {}
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let answer = self.inner.lookup(address).await;
        let mut state = self.state();
        match answer {
            Ok(found) => {
                self.end_outage(&mut state, now);
                let ttl = if found.is_some() {
                    self.config.ttl
                } else {
                    self.config.negative_ttl
                };
                self.insert(&mut state, key, found.clone(), now + ttl);
                Ok(found)
            }
            Err(e) if e.is_outage() => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.note_outage(&mut state, &e, now);
                match stale(&state, &key, now, self.config.max_stale) {
                    Some(entry) => {
                        self.stale_served.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(
                            %address, error = %e,
                            "directory out: serving the cached entry past its TTL"
                        );
                        Ok(Some(entry))
                    }
                    None => Err(e),
                }
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// [`Directory::all`] at `now`: always asks the directory (a listing is never served
    /// from the cache); what it returns refreshes the cache.
    pub async fn all_at(&self, now: Instant) -> Result<Vec<DirectoryEntry>, DirectoryError> {
        let answer = self.inner.all().await;
        let mut state = self.state();
        match answer {
            Ok(entries) => {
                self.end_outage(&mut state, now);
                for e in entries.iter().take(self.config.max_entries) {
                    let key = cache_key(&e.address);
                    self.insert(&mut state, key, Some(e.clone()), now + self.config.ttl);
                }
                Ok(entries)
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if e.is_outage() {
                    self.note_outage(&mut state, &e, now);
                }
                Err(e)
            }
        }
    }

    /// Forgets every cached answer (a configuration reload, an operator's request); the
    /// counters and the outage state stay.
    pub fn clear(&self) {
        self.state().slots.clear();
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        let state = self.state();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            stale_served: self.stale_served.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
            entries: state.slots.len(),
            in_outage: state.outage.is_some(),
        }
    }

    /// Lookups answered from a fresh cached answer.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that asked the directory.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Directory requests that failed.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Lookups answered past the TTL during an outage.
    pub fn stale_served(&self) -> u64 {
        self.stale_served.load(Ordering::Relaxed)
    }

    /// Outages begun.
    pub fn outages(&self) -> u64 {
        self.outages.load(Ordering::Relaxed)
    }

    /// Whether the directory is out now.
    pub fn in_outage(&self) -> bool {
        self.state().outage.is_some()
    }

    /// Answers cached now.
    pub fn len(&self) -> usize {
        self.state().slots.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn cached(&self, key: &(String, String), now: Instant) -> Cached {
        let state = self.state();
        if let Some(slot) = state.slots.get(key)
            && slot.expires > now
        {
            return Cached::Answer(slot.entry.clone());
        }
        match &state.outage {
            Some(o) if now < o.next_attempt => {
                match stale(&state, key, now, self.config.max_stale) {
                    Some(e) => Cached::Stale(e),
                    None => Cached::Error(o.error.clone()),
                }
            }
            _ => Cached::Ask,
        }
    }

    fn insert(
        &self,
        state: &mut State,
        key: (String, String),
        entry: Option<DirectoryEntry>,
        expires: Instant,
    ) {
        if !state.slots.contains_key(&key) && state.slots.len() >= self.config.max_entries {
            // One pass, only when full: unknown addresses go first (a flood of made-up
            // names must not push real users out), then whatever expires soonest.
            let victim = state
                .slots
                .iter()
                .min_by_key(|(_, s)| (s.entry.is_some(), s.expires))
                .map(|(k, _)| k.clone());
            if let Some(v) = victim {
                state.slots.remove(&v);
            }
        }
        state.slots.insert(key, Slot { entry, expires });
    }

    fn note_outage(&self, state: &mut State, error: &DirectoryError, now: Instant) {
        let next_attempt = now + self.config.retry_interval;
        match &mut state.outage {
            Some(o) => {
                o.failures += 1;
                o.error = error.clone();
                o.next_attempt = next_attempt;
                tracing::debug!(%error, failures = o.failures, "directory still out");
            }
            None => {
                self.outages.fetch_add(1, Ordering::Relaxed);
                let cached = state.slots.values().filter(|s| s.entry.is_some()).count();
                tracing::warn!(
                    directory = %self.inner.describe(),
                    %error,
                    cached_users = cached,
                    retry_interval = ?self.config.retry_interval,
                    max_stale = ?self.config.max_stale,
                    "directory unavailable: serving cached users, unknown ones get an error \
                     until it answers again"
                );
                state.outage = Some(Outage {
                    error: error.clone(),
                    since: now,
                    next_attempt,
                    failures: 1,
                });
            }
        }
    }

    fn end_outage(&self, state: &mut State, now: Instant) {
        if let Some(o) = state.outage.take() {
            tracing::info!(
                directory = %self.inner.describe(),
                after = ?now.saturating_duration_since(o.since),
                failed_requests = o.failures,
                "directory answers again"
            );
        }
    }
}

/// A user cached before an outage, within `max_stale` past its TTL.
fn stale(
    state: &State,
    key: &(String, String),
    now: Instant,
    max_stale: Duration,
) -> Option<DirectoryEntry> {
    let slot = state.slots.get(key)?;
    let entry = slot.entry.as_ref()?;
    (now < slot.expires + max_stale).then(|| entry.clone())
}

fn cache_key(address: &Address) -> (String, String) {
    let alias =
        canonical_alias(address.alias()).unwrap_or_else(|_| address.alias().to_ascii_lowercase());
    (alias, address.domain().to_ascii_lowercase())
}

impl<D: Directory> Directory for CachedDirectory<D> {
    fn lookup<'a>(
        &'a self,
        address: &'a Address,
    ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>> {
        Box::pin(self.lookup_at(address, Instant::now()))
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>> {
        Box::pin(self.all_at(Instant::now()))
    }

    fn describe(&self) -> String {
        format!("{} (cached)", self.inner.describe())
    }

    fn cache_stats(&self) -> Option<CacheStats> {
        Some(self.stats())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::Arc;

    /// A directory whose answers the test sets, counting the requests it gets.
    #[derive(Debug, Default)]
    struct Scripted {
        users: Mutex<Vec<DirectoryEntry>>,
        down: std::sync::atomic::AtomicBool,
        asked: AtomicU64,
    }

    impl Scripted {
        fn add(&self, alias: &str) {
            let a = Address::new(alias, "im.example.org").unwrap();
            self.users
                .lock()
                .unwrap()
                .push(DirectoryEntry::new(a, alias).unwrap());
        }
    }

    impl Directory for Scripted {
        fn lookup<'a>(
            &'a self,
            address: &'a Address,
        ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            let r = if self.down.load(Ordering::Relaxed) {
                Err(DirectoryError::Unavailable {
                    directory: "scripted".into(),
                    reason: "down".into(),
                })
            } else {
                Ok(self
                    .users
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|e| e.address.alias().eq_ignore_ascii_case(address.alias()))
                    .cloned())
            };
            Box::pin(async move { r })
        }

        fn all(&self) -> BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>> {
            let r = self.users.lock().unwrap().clone();
            Box::pin(async move { Ok(r) })
        }

        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    fn addr(alias: &str) -> Address {
        Address::new(alias, "im.example.org").unwrap()
    }

    fn config(max_entries: usize) -> CacheConfig {
        CacheConfig {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(10),
            max_entries,
            max_stale: Duration::from_secs(600),
            retry_interval: Duration::from_secs(5),
        }
    }

    fn block<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn ttl_negative_ttl_and_counters() {
        let backend = Arc::new(Scripted::default());
        backend.add("alice");
        let cache = CachedDirectory::new(Arc::clone(&backend), config(100));
        let t0 = Instant::now();
        block(async {
            assert!(cache.lookup_at(&addr("Alice"), t0).await.unwrap().is_some());
            assert!(
                cache
                    .lookup_at(&addr("alice"), t0 + Duration::from_secs(59))
                    .await
                    .unwrap()
                    .is_some()
            );
            assert!(cache.lookup_at(&addr("bob"), t0).await.unwrap().is_none());
            backend.add("bob");
            // Still "unknown" within the negative TTL, found after it.
            assert!(
                cache
                    .lookup_at(&addr("bob"), t0 + Duration::from_secs(9))
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                cache
                    .lookup_at(&addr("bob"), t0 + Duration::from_secs(10))
                    .await
                    .unwrap()
                    .is_some()
            );
            // Past the TTL alice is asked again.
            assert!(
                cache
                    .lookup_at(&addr("alice"), t0 + Duration::from_secs(60))
                    .await
                    .unwrap()
                    .is_some()
            );
        });
        let s = cache.stats();
        assert_eq!(
            (s.hits, s.misses, s.errors, s.entries),
            (2, 4, 0, 2),
            "{s:?}"
        );
        assert_eq!(backend.asked.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn bounded_and_unknown_addresses_go_first() {
        let backend = Arc::new(Scripted::default());
        backend.add("alice");
        backend.add("bob");
        let cache = CachedDirectory::new(Arc::clone(&backend), config(3));
        let t0 = Instant::now();
        block(async {
            cache.lookup_at(&addr("alice"), t0).await.unwrap();
            cache.lookup_at(&addr("bob"), t0).await.unwrap();
            for i in 0..50 {
                cache
                    .lookup_at(&addr(&format!("nobody{i}")), t0)
                    .await
                    .unwrap();
                assert!(cache.len() <= 3);
            }
            // The flood of unknown names did not push the users out.
            let asked = backend.asked.load(Ordering::Relaxed);
            cache.lookup_at(&addr("alice"), t0).await.unwrap();
            cache.lookup_at(&addr("bob"), t0).await.unwrap();
            assert_eq!(backend.asked.load(Ordering::Relaxed), asked);
        });
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn an_outage_serves_known_users_and_asks_once_per_retry_interval() {
        let backend = Arc::new(Scripted::default());
        backend.add("alice");
        let cache = CachedDirectory::new(Arc::clone(&backend), config(100));
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        block(async {
            cache.lookup_at(&addr("alice"), t0).await.unwrap();
            cache.lookup_at(&addr("bob"), t0).await.unwrap();
            backend.down.store(true, Ordering::Relaxed);
            // Past the TTL: asked, fails, the cached user is served.
            assert!(
                cache
                    .lookup_at(&addr("alice"), at(100))
                    .await
                    .unwrap()
                    .is_some()
            );
            assert!(cache.in_outage());
            // An unknown address (negative answer expired): an error, not "no such user".
            assert!(cache.lookup_at(&addr("bob"), at(101)).await.is_err());
            assert!(cache.lookup_at(&addr("carol"), at(101)).await.is_err());
            // None of these asked the directory again before retry_interval.
            assert_eq!(backend.asked.load(Ordering::Relaxed), 3);
            assert!(
                cache
                    .lookup_at(&addr("alice"), at(106))
                    .await
                    .unwrap()
                    .is_some()
            );
            assert_eq!(backend.asked.load(Ordering::Relaxed), 4);
            // Beyond max_stale even alice is an error.
            assert!(cache.lookup_at(&addr("alice"), at(60 + 600)).await.is_err());
            backend.down.store(false, Ordering::Relaxed);
            assert!(
                cache
                    .lookup_at(&addr("alice"), at(700))
                    .await
                    .unwrap()
                    .is_some()
            );
            assert!(!cache.in_outage());
        });
        let s = cache.stats();
        assert_eq!(s.outages, 1, "{s:?}");
        assert_eq!(s.errors, 3, "{s:?}");
        assert_eq!(s.stale_served, 2, "{s:?}");
    }

    #[test]
    fn a_listing_refreshes_the_cache() {
        let backend = Arc::new(Scripted::default());
        backend.add("alice");
        backend.add("bob");
        let cache = CachedDirectory::new(Arc::clone(&backend), config(100));
        let t0 = Instant::now();
        block(async {
            assert_eq!(cache.all_at(t0).await.unwrap().len(), 2);
            assert!(cache.lookup_at(&addr("BOB"), t0).await.unwrap().is_some());
        });
        assert_eq!(backend.asked.load(Ordering::Relaxed), 0);
        assert_eq!(cache.hits(), 1);
        cache.clear();
        assert!(cache.is_empty());
    }
}
