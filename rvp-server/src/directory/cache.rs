//! A cache in front of a remote directory: found users for `cache_ttl`, unknown addresses
//! (and broken entries) for `cache_negative_ttl`, at most `cache_max_entries` answers,
//! at most [`CacheConfig::max_in_flight`] lookups at once, each bounded by
//! [`CacheConfig::lookup_timeout`], counted.
//!
//! ```text
//! lookup(address, now)
//!   ├─ fresh answer cached ─────────────────────────────► it        (hits)
//!   ├─ outage, next attempt not due ─┬─ stale user ─────► it        (stale_served)
//!   │                                └─ else ───────────► the outage's error
//!   ├─ a lookup of the same address in flight ──────────► its answer (coalesced)
//!   ├─ max_in_flight lookups in flight ─────────────────► DirectoryError::Busy (busy)
//!   └─ ask the directory (misses), ─┬─ answer ──────────► cache it, end any outage
//!      at most lookup_timeout       ├─ outage error ─┬─ stale user ► it (stale_served)
//!      (no answer: an outage)       │   (errors)     └─ else ─────► the error
//!                                   └─ other error (a broken or ambiguous entry)
//!                                        ──► the error, cached for the negative TTL
//! ```
//!
//! The server asks through this cache on every request that names a user of its domain
//! (`crate::home::live`), so these bounds are what an unauthenticated client can make
//! the directory do: a flood of made-up names costs at most `max_in_flight` directory
//! requests at a time (the rest are answered `Busy` at once), each name is asked at most
//! once per negative TTL, and those names are the first to leave a full cache.
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
use tokio::sync::watch;

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
    /// Lookups of different addresses sent to the directory at once, at most (at least
    /// 1); beyond it a lookup is answered [`DirectoryError::Busy`] without asking.
    /// Lookups of one address in flight together are one lookup. Default
    /// [`DEFAULT_MAX_IN_FLIGHT`].
    pub max_in_flight: usize,
    /// How long one lookup may take; no answer by then is an outage (the directory
    /// "cannot be reached"). Default [`DEFAULT_LOOKUP_TIMEOUT`].
    pub lookup_timeout: Duration,
}

/// Default [`CacheConfig::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// Default [`CacheConfig::lookup_timeout`] (the LDAP backend's own operation time-out is
/// `directory.ldap.timeout`, 5 s by default; this bounds connecting and binding too).
pub const DEFAULT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

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
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            lookup_timeout: DEFAULT_LOOKUP_TIMEOUT,
        }
    }
}

/// The cache's counters, for metrics. Every count is since the cache was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from a fresh cached answer (found, not found, or broken).
    pub hits: u64,
    /// Lookups that asked the directory.
    pub misses: u64,
    /// Lookups answered by another lookup of the same address already in flight.
    pub coalesced: u64,
    /// Lookups refused because `max_in_flight` lookups were in flight.
    pub busy: u64,
    /// Lookups in flight now.
    pub in_flight: usize,
    /// The most lookups ever in flight at once (never above `max_in_flight`).
    pub peak_in_flight: usize,
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

impl From<CacheStats> for crate::metrics::DirectoryGauges {
    fn from(c: CacheStats) -> Self {
        crate::metrics::DirectoryGauges {
            hits: c.hits,
            misses: c.misses,
            coalesced: c.coalesced,
            busy: c.busy,
            stale_served: c.stale_served,
            errors: c.errors,
            outages: c.outages,
            in_outage: c.in_outage,
            entries: c.entries,
            in_flight: c.in_flight,
        }
    }
}

/// What the directory answered for one address.
type Answer = Result<Option<DirectoryEntry>, DirectoryError>;

#[derive(Debug)]
struct Slot {
    /// `Ok(None)`: no such user; `Err`: a broken or ambiguous entry.
    answer: Answer,
    expires: Instant,
}

impl Slot {
    fn user(&self) -> Option<&DirectoryEntry> {
        self.answer.as_ref().ok().and_then(Option::as_ref)
    }
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
    /// Lookups being asked, by address: their answer once they have it.
    in_flight: HashMap<(String, String), watch::Receiver<Option<Answer>>>,
    peak_in_flight: usize,
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
    coalesced: AtomicU64,
    busy: AtomicU64,
}

/// What a lookup does next. Lives on the stack for one step: boxing the answer would
/// cost every cache hit an allocation.
#[allow(clippy::large_enum_variant)]
enum Step {
    /// Answered without asking.
    Done(Answer),
    /// Wait for the lookup of the same address in flight.
    Wait(watch::Receiver<Option<Answer>>),
    /// Ask the directory; the guard publishes the answer and ends the lookup.
    Ask(watch::Sender<Option<Answer>>),
}

/// A lookup in flight: removed from the table when dropped (answered, or abandoned when
/// the caller went away), after which its waiters see the answer or the sender gone.
struct InFlight<'a, D: Directory> {
    cache: &'a CachedDirectory<D>,
    key: (String, String),
    tx: watch::Sender<Option<Answer>>,
}

impl<D: Directory> Drop for InFlight<'_, D> {
    fn drop(&mut self) {
        self.cache.state().in_flight.remove(&self.key);
    }
}

/// How many times a lookup waits for another one that was abandoned before it asks
/// itself (or is answered `Busy`).
const MAX_ROUNDS: usize = 3;

impl<D: Directory> CachedDirectory<D> {
    /// `inner` behind a cache with `config` (a `max_entries` of 0 counts as 1).
    pub fn new(inner: D, mut config: CacheConfig) -> CachedDirectory<D> {
        config.max_entries = config.max_entries.max(1);
        config.max_in_flight = config.max_in_flight.max(1);
        CachedDirectory {
            inner,
            config,
            state: Mutex::new(State::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            outages: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            busy: AtomicU64::new(0),
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

    /// [`Directory::lookup`] at `now`. Needs a Tokio runtime with time enabled (the
    /// lookup is bounded by [`CacheConfig::lookup_timeout`]).
    pub async fn lookup_at(&self, address: &Address, now: Instant) -> Answer {
        let key = cache_key(address);
        for _ in 0..MAX_ROUNDS {
            match self.step(&key, now) {
                Step::Done(answer) => return answer,
                Step::Ask(tx) => {
                    let guard = InFlight {
                        cache: self,
                        key,
                        tx,
                    };
                    return self.ask(address, now, guard).await;
                }
                Step::Wait(mut rx) => {
                    self.coalesced.fetch_add(1, Ordering::Relaxed);
                    let waited = tokio::time::timeout(
                        self.config.lookup_timeout,
                        rx.wait_for(Option::is_some),
                    )
                    .await;
                    match waited {
                        Ok(Ok(answer)) => {
                            if let Some(a) = &*answer {
                                return a.clone();
                            }
                        }
                        // The lookup waited on was abandoned (its caller went away): again.
                        Ok(Err(_)) => {}
                        Err(_) => return Err(self.timed_out()),
                    }
                }
            }
        }
        self.busy.fetch_add(1, Ordering::Relaxed);
        Err(self.busy_error())
    }

    /// What the cache can say at `now` without asking, else whom to wait for or the
    /// right to ask (one lock, so two callers never both ask for one address).
    fn step(&self, key: &(String, String), now: Instant) -> Step {
        let mut state = self.state();
        if let Some(slot) = state.slots.get(key)
            && slot.expires > now
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Step::Done(slot.answer.clone());
        }
        if let Some(o) = &state.outage
            && now < o.next_attempt
        {
            return Step::Done(match stale(&state, key, now, self.config.max_stale) {
                Some(e) => {
                    self.stale_served.fetch_add(1, Ordering::Relaxed);
                    Ok(Some(e))
                }
                None => Err(o.error.clone()),
            });
        }
        if let Some(rx) = state.in_flight.get(key) {
            return Step::Wait(rx.clone());
        }
        if state.in_flight.len() >= self.config.max_in_flight {
            self.busy.fetch_add(1, Ordering::Relaxed);
            return Step::Done(Err(self.busy_error()));
        }
        let (tx, rx) = watch::channel(None);
        state.in_flight.insert(key.clone(), rx);
        state.peak_in_flight = state.peak_in_flight.max(state.in_flight.len());
        self.misses.fetch_add(1, Ordering::Relaxed);
        Step::Ask(tx)
    }

    /// Asks the directory (bounded by the lookup time-out), caches and publishes the
    /// answer.
    async fn ask(&self, address: &Address, now: Instant, guard: InFlight<'_, D>) -> Answer {
        let answer = match tokio::time::timeout(
            self.config.lookup_timeout,
            self.inner.lookup(address),
        )
        .await
        {
            Ok(answer) => answer,
            Err(_) => Err(self.timed_out()),
        };
        let answer = self.record(address, guard.key.clone(), now, answer);
        guard.tx.send_replace(Some(answer.clone()));
        drop(guard);
        answer
    }

    /// Caches what the directory answered (or, for an outage, serves a stale user).
    fn record(
        &self,
        address: &Address,
        key: (String, String),
        now: Instant,
        answer: Answer,
    ) -> Answer {
        let mut state = self.state();
        match answer {
            Ok(found) => {
                self.end_outage(&mut state, now);
                let ttl = if found.is_some() {
                    self.config.ttl
                } else {
                    self.config.negative_ttl
                };
                self.insert(&mut state, key, Ok(found.clone()), now + ttl);
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
                // A broken or ambiguous entry: the directory answered, and will answer the
                // same until someone fixes it; asked again after the negative TTL.
                self.errors.fetch_add(1, Ordering::Relaxed);
                self.end_outage(&mut state, now);
                tracing::debug!(%address, error = %e, "directory entry not usable");
                self.insert(
                    &mut state,
                    key,
                    Err(e.clone()),
                    now + self.config.negative_ttl,
                );
                Err(e)
            }
        }
    }

    fn timed_out(&self) -> DirectoryError {
        DirectoryError::Unavailable {
            directory: self.inner.describe(),
            reason: format!("no answer within {:?}", self.config.lookup_timeout),
        }
    }

    fn busy_error(&self) -> DirectoryError {
        DirectoryError::Busy {
            directory: self.inner.describe(),
            limit: self.config.max_in_flight,
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
                // An address listed twice is ambiguous, as its lookup would say.
                let mut listed: HashMap<(String, String), (usize, &DirectoryEntry)> =
                    HashMap::new();
                for e in &entries {
                    listed.entry(cache_key(&e.address)).or_insert((0, e)).0 += 1;
                }
                for (key, (count, e)) in listed.into_iter().take(self.config.max_entries) {
                    if count == 1 {
                        self.insert(&mut state, key, Ok(Some(e.clone())), now + self.config.ttl);
                    } else {
                        let ambiguous = DirectoryError::Ambiguous {
                            address: e.address.to_string(),
                            count,
                        };
                        let expires = now + self.config.negative_ttl;
                        self.insert(&mut state, key, Err(ambiguous), expires);
                    }
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
            coalesced: self.coalesced.load(Ordering::Relaxed),
            busy: self.busy.load(Ordering::Relaxed),
            in_flight: state.in_flight.len(),
            peak_in_flight: state.peak_in_flight,
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

    fn insert(&self, state: &mut State, key: (String, String), answer: Answer, expires: Instant) {
        if !state.slots.contains_key(&key) && state.slots.len() >= self.config.max_entries {
            // One pass, only when full: unknown addresses go first (a flood of made-up
            // names must not push real users out), then whatever expires soonest.
            let victim = state
                .slots
                .iter()
                .min_by_key(|(_, s)| (s.user().is_some(), s.expires))
                .map(|(k, _)| k.clone());
            if let Some(v) = victim {
                state.slots.remove(&v);
            }
        }
        state.slots.insert(key, Slot { answer, expires });
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
                let cached = state.slots.values().filter(|s| s.user().is_some()).count();
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
    let entry = slot.user()?;
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
            max_in_flight: 4,
            lookup_timeout: Duration::from_secs(30),
        }
    }

    fn block<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
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
        // An address listed twice is cached as the lookup would answer it: ambiguous.
        backend.add("BOB");
        block(async {
            assert_eq!(cache.all_at(t0).await.unwrap().len(), 3);
            let e = cache.lookup_at(&addr("bob"), t0).await.unwrap_err();
            assert!(
                matches!(e, DirectoryError::Ambiguous { count: 2, .. }),
                "{e}"
            );
            assert!(cache.lookup_at(&addr("alice"), t0).await.unwrap().is_some());
        });
        assert_eq!(backend.asked.load(Ordering::Relaxed), 0);
    }
    /// A directory whose lookups wait until the test opens the gate, counting them; one
    /// address is broken.
    #[derive(Debug, Default)]
    struct Gated {
        open: std::sync::atomic::AtomicBool,
        opened: tokio::sync::Notify,
        asked: AtomicU64,
    }

    impl Gated {
        fn open(&self) {
            self.open.store(true, Ordering::SeqCst);
            self.opened.notify_waiters();
        }
    }

    impl Directory for Gated {
        fn lookup<'a>(
            &'a self,
            address: &'a Address,
        ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                while !self.open.load(Ordering::SeqCst) {
                    let wait = self.opened.notified();
                    if self.open.load(Ordering::SeqCst) {
                        break;
                    }
                    wait.await;
                }
                if address.alias() == "broken" {
                    return Err(DirectoryError::Ambiguous {
                        address: address.to_string(),
                        count: 2,
                    });
                }
                Ok(None)
            })
        }

        fn all(&self) -> BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>> {
            Box::pin(async { Ok(Vec::new()) })
        }

        fn describe(&self) -> String {
            "gated".into()
        }
    }

    #[test]
    fn lookups_in_flight_are_coalesced_and_bounded() {
        let backend = Arc::new(Gated::default());
        let cache = Arc::new(CachedDirectory::new(Arc::clone(&backend), config(100)));
        let t0 = Instant::now();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let spawn = |name: String| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move { cache.lookup_at(&addr(&name), t0).await })
            };
            // Bounded wait until the spawned lookups have got as far as `ready` says.
            let settle = |ready: &dyn Fn(&CacheStats) -> bool| {
                let cache = Arc::clone(&cache);
                let ok = (0..2000).any(|_| {
                    if ready(&cache.stats()) {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                    false
                });
                assert!(ok, "{:?}", cache.stats());
            };
            // Ten lookups of one address, waiting on the directory: one request.
            let mut tasks: Vec<_> = (0..10).map(|_| spawn("same".into())).collect();
            settle(&|s| s.in_flight == 1 && s.coalesced == 9);
            // Four more addresses with a limit of four: three asked, one refused.
            tasks.extend((0..4).map(|i| spawn(format!("other{i}"))));
            settle(&|s| s.in_flight == 4 && s.busy == 1);
            // Refused at once, nothing asked.
            let e = cache.lookup_at(&addr("late"), t0).await.unwrap_err();
            assert!(matches!(e, DirectoryError::Busy { limit: 4, .. }), "{e}");
            assert!(!e.is_outage());
            assert_eq!(backend.asked.load(Ordering::SeqCst), 4);
            backend.open();
            let mut answers = Vec::new();
            for t in tasks {
                answers.push(t.await.unwrap());
            }
            let found = answers.iter().filter(|a| matches!(a, Ok(None))).count();
            let busy = answers
                .iter()
                .filter(|a| matches!(a, Err(DirectoryError::Busy { .. })))
                .count();
            assert_eq!((found, busy), (13, 1), "{answers:?}");
        });
        let s = cache.stats();
        assert_eq!((s.peak_in_flight, s.in_flight), (4, 0), "{s:?}");
        assert_eq!((s.misses, s.coalesced, s.busy), (4, 9, 2), "{s:?}");
        assert_eq!(backend.asked.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn a_lookup_without_an_answer_times_out_as_an_outage() {
        let backend = Arc::new(Gated::default());
        let mut c = config(100);
        c.lookup_timeout = Duration::from_millis(50);
        let cache = CachedDirectory::new(Arc::clone(&backend), c);
        let t0 = Instant::now();
        block(async {
            let e = cache.lookup_at(&addr("alice"), t0).await.unwrap_err();
            assert!(e.is_outage(), "{e}");
            assert!(e.to_string().contains("no answer within"), "{e}");
        });
        assert!(cache.in_outage());
        assert_eq!(cache.stats().in_flight, 0);
    }

    #[test]
    fn an_abandoned_lookup_is_not_left_in_flight() {
        let backend = Arc::new(Gated::default());
        let cache = CachedDirectory::new(Arc::clone(&backend), config(100));
        let t0 = Instant::now();
        block(async {
            // The caller goes away while the directory has not answered.
            let r = tokio::time::timeout(
                Duration::from_millis(20),
                cache.lookup_at(&addr("alice"), t0),
            )
            .await;
            assert!(r.is_err());
            assert_eq!(cache.stats().in_flight, 0);
            backend.open();
            assert_eq!(cache.lookup_at(&addr("alice"), t0).await.unwrap(), None);
        });
    }

    #[test]
    fn a_broken_entry_is_remembered_for_the_negative_ttl() {
        let backend = Arc::new(Gated::default());
        backend.open();
        let cache = CachedDirectory::new(Arc::clone(&backend), config(100));
        let t0 = Instant::now();
        block(async {
            for s in [0, 5, 9] {
                let e = cache
                    .lookup_at(&addr("broken"), t0 + Duration::from_secs(s))
                    .await
                    .unwrap_err();
                assert!(matches!(e, DirectoryError::Ambiguous { .. }), "{e}");
            }
            assert_eq!(backend.asked.load(Ordering::SeqCst), 1);
            assert!(!cache.in_outage());
            let _ = cache
                .lookup_at(&addr("broken"), t0 + Duration::from_secs(10))
                .await;
            assert_eq!(backend.asked.load(Ordering::SeqCst), 2);
        });
    }
}
