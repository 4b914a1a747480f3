//! Directory benchmarks (issue 11): what reading the user directory per request costs.
//!
//! * `cache_hit/*` (divan): a user served from `CachedDirectory` — `lookup_at` (time passed
//!   in, polled once: a hit never waits) and `dyn_lookup` (`Directory::lookup` through an
//!   `Arc<dyn Directory>`, what the server calls for every name a request carries: boxed
//!   future, clock read) — against the baselines `baseline_hashmap_get` (a plain `HashMap`
//!   lookup of the same, prebuilt key) and `baseline_hashmap_get_clone` (the same plus a
//!   clone of the entry, which the cache hands out owned). **Target: a hit < 1 µs.**
//! * the hit against the plain `HashMap` get as a ratio (printed before divan's table):
//!   both timed here in the same run, median of batches.
//! * uncached LDAP lookup (printed before divan's table): `LdapDirectory::lookup` of
//!   existing users against a real OpenLDAP slapd started by the bench (the rvpUser schema
//!   of `contrib/ldap`, 1,000 users), on its kept connection, p50/p99 over
//!   [`LDAP_LOOKUPS`] lookups; baseline: the same search through `ldap3` directly (no
//!   entry reading), interleaved with ours so that both see slapd in the same state. Skipped with a loud message when slapd is not installed (panics
//!   under `CI=true`).
//!
//! Run: `cargo bench --bench directory`.

#![allow(
    missing_docs,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rvp_interop::slapd::{SERVICE_DN, SERVICE_PW, Slapd, StartError, in_ci};
use rvp_resolve::Address;
use rvp_server::auth::digest::Ha1;
use rvp_server::directory::{
    BoxFuture, CacheConfig, CachedDirectory, Credentials, DigestHa1, Directory, DirectoryEntry,
    DirectoryError, LdapConfig, LdapDirectory, Secret,
};

/// Uncached LDAP lookups measured (bounded; well under 1 ms each on loopback).
const LDAP_LOOKUPS: usize = 2000;
/// Users in the benchmark's slapd.
const LDAP_USERS: usize = 1000;
const DOMAIN: &str = "im.example.org";
const BASE: &str = "ou=people,dc=example,dc=org";

fn main() {
    hit_ratio_report();
    ldap_lookup_report();
    divan::main();
}

fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a cache hit completes at once"),
    }
}

/// A user as the LDAP backend gives it: display name, e-mail, one HA1.
fn entry(alias: &str) -> DirectoryEntry {
    let mut e = DirectoryEntry::new(Address::new(alias, DOMAIN).unwrap(), "bench").unwrap();
    e.display_name = Some(format!("{alias} Liddell"));
    e.email = Some(format!("{alias}@example.org"));
    e.credentials = Credentials::Ha1(vec![DigestHa1::new(Ha1::from_password(
        alias, DOMAIN, "pw",
    ))]);
    e
}

/// A directory holding fixed users (never asked once the cache holds them).
#[derive(Debug)]
struct Fixed(HashMap<String, DirectoryEntry>);

impl Directory for Fixed {
    fn lookup<'a>(
        &'a self,
        address: &'a Address,
    ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>> {
        let found = self.0.get(&address.alias().to_ascii_lowercase()).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn all(&self) -> BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>> {
        let all = self.0.values().cloned().collect();
        Box::pin(async move { Ok(all) })
    }

    fn describe(&self) -> String {
        "fixed".into()
    }
}

/// A cache holding 1,000 users (filled by a listing), and the address of one of them.
fn warm_cache() -> (Arc<CachedDirectory<Fixed>>, Address) {
    let users = (0..1000)
        .map(|i| {
            let alias = format!("user{i:04}");
            (alias.clone(), entry(&alias))
        })
        .collect();
    let cache = Arc::new(CachedDirectory::new(Fixed(users), CacheConfig::default()));
    now_or_never(cache.all()).unwrap();
    (cache, Address::new("User0042", DOMAIN).unwrap())
}

/// The baseline map: the same users under the cache's key (canonical alias, domain).
fn baseline_map() -> (HashMap<(String, String), DirectoryEntry>, (String, String)) {
    let map = (0..1000)
        .map(|i| {
            let alias = format!("user{i:04}");
            ((alias.clone(), DOMAIN.to_owned()), entry(&alias))
        })
        .collect();
    (map, ("user0042".to_owned(), DOMAIN.to_owned()))
}

#[divan::bench_group(sample_count = 200, sample_size = 1000)]
mod cache_hit {
    use super::*;

    /// Baseline: a plain `HashMap` get of the same key (prebuilt).
    #[divan::bench]
    fn baseline_hashmap_get(bencher: divan::Bencher<'_, '_>) {
        let (map, key) = baseline_map();
        bencher.bench_local(|| map.get(black_box(&key)));
    }

    /// Baseline: the same get and a clone of the entry (the cache hands out owned ones).
    #[divan::bench]
    fn baseline_hashmap_get_clone(bencher: divan::Bencher<'_, '_>) {
        let (map, key) = baseline_map();
        bencher.bench_local(|| map.get(black_box(&key)).cloned());
    }

    /// `CachedDirectory::lookup_at`: key from the address, lock, get, clone.
    #[divan::bench]
    fn lookup_at(bencher: divan::Bencher<'_, '_>) {
        let (cache, address) = warm_cache();
        let now = Instant::now();
        bencher.bench_local(|| now_or_never(cache.lookup_at(black_box(&address), now)).unwrap());
    }

    /// `Directory::lookup` through `Arc<dyn Directory>`: what the server does per name.
    #[divan::bench]
    fn dyn_lookup(bencher: divan::Bencher<'_, '_>) {
        let (cache, address) = warm_cache();
        let directory: Arc<dyn Directory> = cache;
        bencher.bench_local(|| now_or_never(directory.lookup(black_box(&address))).unwrap());
    }
}

/// Median time per call of `f` over `batches` batches of `per_batch` calls.
fn median_per_call(batches: usize, per_batch: u32, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            t.elapsed() / per_batch
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn hit_ratio_report() {
    let (cache, address) = warm_cache();
    let directory: Arc<dyn Directory> = Arc::clone(&cache) as Arc<dyn Directory>;
    let (map, key) = baseline_map();
    let now = Instant::now();
    // Warm up every path once.
    for _ in 0..10_000 {
        black_box(map.get(black_box(&key)));
        black_box(now_or_never(cache.lookup_at(&address, now)).unwrap());
    }
    let base = median_per_call(501, 1_000, || {
        black_box(map.get(black_box(&key)));
    });
    let base_clone = median_per_call(501, 1_000, || {
        black_box(map.get(black_box(&key)).cloned());
    });
    let hit = median_per_call(501, 1_000, || {
        black_box(now_or_never(cache.lookup_at(black_box(&address), now)).unwrap());
    });
    let dyn_hit = median_per_call(501, 1_000, || {
        black_box(now_or_never(directory.lookup(black_box(&address))).unwrap());
    });
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-12);
    println!("directory cache hit (median of 501 batches of 1,000 lookups, same run):");
    println!("  baseline HashMap get          {base:>10.1?}");
    println!("  baseline HashMap get + clone  {base_clone:>10.1?}");
    println!(
        "  CachedDirectory::lookup_at    {hit:>10.1?}  = {:.1}x the get, {:.2}x get + clone",
        ratio(hit, base),
        ratio(hit, base_clone)
    );
    println!(
        "  Directory::lookup (dyn)       {dyn_hit:>10.1?}  = {:.1}x the get, {:.2}x get + clone",
        ratio(dyn_hit, base),
        ratio(dyn_hit, base_clone)
    );
    println!(
        "  target < 1 µs: {}",
        if dyn_hit < Duration::from_micros(1) {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn ldif() -> String {
    let mut out = format!(
        "dn: dc=example,dc=org\nobjectClass: dcObject\nobjectClass: organization\no: Example\n\
         dc: example\n\ndn: {SERVICE_DN}\nobjectClass: person\ncn: rvp-server\nsn: service\n\
         userPassword: {SERVICE_PW}\n\ndn: {BASE}\nobjectClass: organizationalUnit\nou: people\n\n"
    );
    for i in 0..LDAP_USERS {
        let alias = format!("user{i:04}");
        let ha1 = Ha1::from_password(&alias, DOMAIN, "pw").to_hex();
        out.push_str(&format!(
            "dn: uid={alias},{BASE}\nobjectClass: inetOrgPerson\nobjectClass: rvpUser\n\
             uid: {alias}\ncn: {alias}\nsn: {alias}\ndisplayName: {alias} Liddell\n\
             mail: {alias}@example.org\nrvpIMAddress: {alias}@{DOMAIN}\nrvpIMEnabled: TRUE\n\
             rvpDigestHA1: {ha1}\n\n"
        ));
    }
    out
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or_default()
}

fn ldap_lookup_report() {
    let server = match Slapd::start(&ldif()) {
        Ok(s) => s,
        Err(StartError::Missing(what)) if !in_ci() => {
            eprintln!(
                "\n*** uncached LDAP lookup: SKIPPED, {what} not found (apt-get install slapd \
                 ldap-utils, or bash .ci/install-deps) ***\n"
            );
            return;
        }
        Err(e) => panic!("uncached LDAP lookup: slapd did not start: {e:?}"),
    };
    let mut config = LdapConfig::new(server.url(), BASE);
    config.bind_dn = SERVICE_DN.into();
    config.bind_password = Some(Secret::new(SERVICE_PW));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let attrs = config.attributes.requested();
    let (ours, raw) = rt.block_on(async {
        let directory = LdapDirectory::new(&config).expect("LDAP directory");
        let address = |i: usize| Address::new(&format!("user{:04}", i % LDAP_USERS), DOMAIN);
        // Connect and bind outside the measurement.
        let first = directory
            .lookup(&address(0).unwrap())
            .await
            .expect("lookup");
        assert!(first.is_some(), "user0000 in slapd");
        // Baseline: the same searches through ldap3 alone, on a connection of its own.
        let (conn, mut ldap) = ldap3::LdapConnAsync::new(&server.url())
            .await
            .expect("connect");
        tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        ldap.simple_bind(SERVICE_DN, SERVICE_PW)
            .await
            .and_then(ldap3::LdapResult::success)
            .expect("bind");
        // Interleaved, alternating which goes first, so that both see slapd in the same
        // state (its caches warm up over the run).
        let mut ours = Vec::with_capacity(LDAP_LOOKUPS);
        let mut raw = Vec::with_capacity(LDAP_LOOKUPS);
        for i in 0..LDAP_LOOKUPS {
            let n = (i * 7) % LDAP_USERS;
            let a = address(n).unwrap();
            let filter = format!("(&(objectClass=rvpUser)(rvpIMAddress=user{n:04}@{DOMAIN}))");
            for turn in 0..2 {
                if (turn + i) % 2 == 0 {
                    let t = Instant::now();
                    let found = directory.lookup(&a).await.expect("lookup");
                    ours.push(t.elapsed());
                    assert!(black_box(found).is_some());
                } else {
                    let t = Instant::now();
                    let (entries, _) = ldap
                        .search(BASE, ldap3::Scope::Subtree, &filter, attrs.clone())
                        .await
                        .and_then(ldap3::SearchResult::success)
                        .expect("search");
                    raw.push(t.elapsed());
                    assert_eq!(black_box(entries).len(), 1);
                }
            }
        }
        let _ = ldap.unbind().await;
        (ours, raw)
    });
    let (mut ours, mut raw) = (ours, raw);
    ours.sort();
    raw.sort();
    let (o50, o99) = (percentile(&ours, 50), percentile(&ours, 99));
    let (r50, r99) = (percentile(&raw, 50), percentile(&raw, 99));
    println!(
        "uncached LDAP lookup, slapd on {} ({LDAP_USERS} rvpUser entries):",
        server.url()
    );
    println!("  LdapDirectory::lookup, {LDAP_LOOKUPS} lookups: p50 {o50:?}, p99 {o99:?}");
    println!("  baseline ldap3 search alone: p50 {r50:?}, p99 {r99:?}");
    println!(
        "  ratio p50 {:.2}x, p99 {:.2}x",
        o50.as_secs_f64() / r50.as_secs_f64().max(1e-9),
        o99.as_secs_f64() / r99.as_secs_f64().max(1e-9)
    );
}
