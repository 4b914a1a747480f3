//! The redb store: open/apply/load round trips, restart with a later clock, the schema
//! check, corrupt records, and a journaling engine restored from the store.
#![allow(clippy::unwrap_used, missing_docs)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use redb::{Database, TableDefinition};
use rvp_presence::{
    Ace, AcePrincipal, Acl, AclRecord, Caller, Change, Counters, DirectoryProperties, Engine,
    LeasedState, NodeKey, Output, Policy, Records, RequestId, StatePatch, SubscribeParams,
    SubscriptionId, SubscriptionKind, SubscriptionRecord, ViewId, ViewRecord,
};
use rvp_proto::{CredentialKind, CredentialSet, PresenceState, Right, RightSet};
use rvp_server::store::{
    ClockAnchor, DurableOptions, DurableStore, SCHEMA_VERSION, Store, StoreError,
};

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p =
            std::env::temp_dir().join(format!("rvp-store-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn file(&self) -> PathBuf {
        self.0.join("state.redb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn key(alias: &str) -> NodeKey {
    NodeKey::new("im.example.com", alias).unwrap()
}

fn url(alias: &str) -> String {
    format!("http://im.example.com/instmsg/aliases/{alias}")
}

/// An anchor whose instant is `t` and wall clock a fixed date plus `offset`.
fn anchor(t: Instant, offset: Duration) -> ClockAnchor {
    ClockAnchor::new(
        t,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000) + offset,
    )
}

fn sample(t: Instant) -> Vec<Change> {
    vec![
        Change::PutSubscription(SubscriptionRecord {
            id: SubscriptionId::new(7).unwrap(),
            node: key("bob"),
            kind: SubscriptionKind::PropChange,
            callback: Arc::new(url("alice").parse().expect("a call-back")),
            subscriber: Arc::from(url("alice").as_str()),
            proof: Some(CredentialKind::Digest),
            granted_secs: 14_400,
            expires: t + Duration::from_secs(14_400),
            failures: 2,
            first_failure: Some(t + Duration::from_millis(1500)),
        }),
        Change::PutView(ViewRecord {
            node: key("bob"),
            id: ViewId::new(3).unwrap(),
            state: LeasedState {
                value: PresenceState::Busy,
                default: PresenceState::Offline,
                timeout_secs: 1200,
            },
            expires: t + Duration::from_secs(1200),
            set_order: 9,
            bound_to: Some((
                Arc::from(url("bob").as_str()),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
            )),
        }),
        Change::PutAcl(AclRecord {
            node: key("bob"),
            acl: Acl::from_aces(vec![Ace::deny(
                AcePrincipal::url(&url("carol")),
                CredentialSet::ANY,
                RightSet::of([Right::Presence, Right::SendTo]),
            )]),
        }),
        Change::Counters(Counters {
            last_subscription_id: 7,
            last_view_id: 3,
            last_set_order: 9,
        }),
    ]
}

#[test]
fn open_apply_load_round_trip() {
    let dir = TempDir::new("roundtrip");
    let t = Instant::now();
    let changes = sample(t);
    let mut expected = Records::default();
    expected.apply_all(changes.clone());
    {
        let store = Store::open_with_anchor(dir.file(), anchor(t, Duration::ZERO)).unwrap();
        assert!(store.load().unwrap().is_empty(), "a new store is empty");
        store.apply(&changes).unwrap();
        assert_eq!(store.load().unwrap(), expected);
        store.apply(&[]).unwrap();
    }
    // Reopened with the same anchor: the same records.
    let store = Store::open_with_anchor(dir.file(), anchor(t, Duration::ZERO)).unwrap();
    assert_eq!(store.load().unwrap(), expected);
    // Deletions, and the last of two puts wins.
    store
        .apply(&[
            Change::DeleteSubscription(SubscriptionId::new(7).unwrap()),
            Change::DeleteView(ViewId::new(3).unwrap()),
            Change::PutAcl(AclRecord {
                node: key("bob"),
                acl: Acl::default_for(&url("bob")),
            }),
            Change::DeleteAcl(key("bob")),
        ])
        .unwrap();
    let r = store.load().unwrap();
    assert!(r.subscriptions.is_empty() && r.views.is_empty() && r.acls.is_empty());
    assert_eq!(r.counters.last_subscription_id, 7);
}

/// After a "restart" an hour later (new anchor: a new monotonic clock whose instant `u`
/// is an hour later on the wall clock), every deadline is an hour closer.
#[test]
fn deadlines_keep_their_wall_clock_time() {
    let dir = TempDir::new("wallclock");
    let t = Instant::now();
    let store = Store::open_with_anchor(dir.file(), anchor(t, Duration::ZERO)).unwrap();
    store.apply(&sample(t)).unwrap();
    drop(store);
    let u = Instant::now() + Duration::from_secs(5);
    let later = Store::open_with_anchor(dir.file(), anchor(u, Duration::from_secs(3600))).unwrap();
    let r = later.load().unwrap();
    let sub = r.subscriptions.values().next().unwrap();
    assert_eq!(sub.expires, u + Duration::from_secs(14_400 - 3600));
    let view = r.views.values().next().unwrap();
    // The lease ended 40 minutes before the restart: a deadline in the past.
    assert_eq!(view.expires + Duration::from_secs(2400), u);
    assert_eq!(
        sub.first_failure.unwrap() + Duration::from_secs(3600) - Duration::from_millis(1500),
        u
    );
}

#[test]
fn anchor_conversions() {
    let t = Instant::now();
    let a = ClockAnchor::new(t, SystemTime::UNIX_EPOCH + Duration::from_millis(5_000));
    assert_eq!(a.to_unix_ms(t), 5_000);
    assert_eq!(a.to_unix_ms(t + Duration::from_millis(1_234)), 6_234);
    assert_eq!(
        a.to_unix_ms(t + Duration::from_micros(999)),
        5_000,
        "truncated to ms"
    );
    assert_eq!(a.to_instant(6_234), t + Duration::from_millis(1_234));
    if let Some(past) = t.checked_sub(Duration::from_millis(4_000)) {
        assert_eq!(a.to_unix_ms(past), 1_000);
        assert_eq!(a.to_instant(1_000), past);
    }
    // A wall clock before 1970 still converts.
    let b = ClockAnchor::new(t, SystemTime::UNIX_EPOCH - Duration::from_millis(10));
    assert_eq!(b.to_unix_ms(t), -10);
    // Absurd values do not panic.
    let _ = a.to_instant(i64::MAX);
    let _ = a.to_instant(i64::MIN);
}

#[test]
fn another_schema_version_is_refused() {
    let dir = TempDir::new("schema");
    drop(Store::open(dir.file()).unwrap());
    {
        let db = Database::create(dir.file()).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let meta: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("rvp_meta");
            let mut t = txn.open_table(meta).unwrap();
            t.insert("schema", (SCHEMA_VERSION + 1).to_le_bytes().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let err = Store::open(dir.file()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaMismatch { found, expected, .. } if found == SCHEMA_VERSION + 1 && expected == SCHEMA_VERSION),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("schema version 2") && msg.contains("state.redb"),
        "{msg}"
    );
}

#[test]
fn a_corrupt_record_is_named() {
    let dir = TempDir::new("corrupt");
    drop(Store::open(dir.file()).unwrap());
    {
        let db = Database::create(dir.file()).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let subs: TableDefinition<'_, u32, &[u8]> = TableDefinition::new("rvp_subscriptions");
            let mut t = txn.open_table(subs).unwrap();
            t.insert(42, [1u8, 2, 3].as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = Store::open(dir.file()).unwrap().load().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("rvp_subscriptions") && msg.contains("key 42") && msg.contains("ends early"),
        "{msg}"
    );
}

#[test]
fn not_a_database_is_refused_with_the_path() {
    let dir = TempDir::new("garbage");
    std::fs::write(dir.file(), b"this is not a redb file, just some text").unwrap();
    let err = Store::open(dir.file()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    assert!(err.to_string().contains("state.redb"), "{err}");
}

/// The whole loop: a journaling engine, its changes committed before its answers are
/// released, a restart (new process clock, 10 minutes later), restore: bob is still busy,
/// alice's watch is still there with 10 minutes less, carol is still denied, and new ids
/// continue after the old ones.
#[test]
fn engine_restored_from_the_store() {
    let dir = TempDir::new("engine");
    let people = ["alice", "bob", "carol"];
    let build = |now: Instant| {
        let mut e = Engine::new(Policy::default(), now).unwrap();
        e.enable_journal();
        for p in people {
            e.register_principal(key(p), DirectoryProperties::new(p, "x@y"))
                .unwrap();
        }
        e
    };
    let t0 = Instant::now();
    let mut e = build(t0);
    let mut store = DurableStore::with_store(
        Store::open_with_anchor(dir.file(), anchor(t0, Duration::ZERO)).unwrap(),
        DurableOptions::default(),
    )
    .unwrap();
    let alice = Caller::authenticated(&url("alice"), CredentialKind::Digest);
    let bob = Caller::authenticated(&url("bob"), CredentialKind::Digest);
    e.subscribe(
        t0,
        RequestId(1),
        &alice,
        &key("bob"),
        SubscribeParams::new(
            SubscriptionKind::PropChange,
            url("alice").parse().unwrap(),
            3600,
        ),
    );
    e.proppatch_state(
        t0,
        RequestId(2),
        &bob,
        &key("bob"),
        StatePatch::leased(PresenceState::Busy, 3600),
    );
    e.acl_write(
        t0,
        RequestId(3),
        &bob,
        &key("bob"),
        vec![Ace::deny(
            AcePrincipal::url(&url("carol")),
            CredentialSet::ANY,
            RightSet::of([Right::Presence]),
        )],
    );
    // Commit, then release.
    let mut buf = Vec::new();
    let covered = store.commit_engine(&mut e, &mut buf).unwrap();
    assert_eq!(covered, 3);
    assert_eq!(
        store.commit_engine(&mut e, &mut buf).unwrap(),
        3,
        "nothing new"
    );
    let mut sub_id = None;
    for _ in 0..covered {
        if let Some(Output::Respond(a)) = e.poll_output()
            && let rvp_presence::Outcome::Subscribed { id, .. } = a.outcome
        {
            sub_id = Some(id);
        }
    }
    let sub_id = sub_id.unwrap();
    drop(store);
    drop(e);

    // A new process: a new monotonic clock, ten wall-clock minutes later.
    let t1 = Instant::now() + Duration::from_secs(1);
    let mut store = DurableStore::with_store(
        Store::open_with_anchor(dir.file(), anchor(t1, Duration::from_secs(600))).unwrap(),
        DurableOptions::default(),
    )
    .unwrap();
    let mut r = build(t1);
    let report = store.restore_engine(&mut r, t1).unwrap();
    assert_eq!((report.subscriptions, report.views, report.acls), (1, 1, 1));
    assert!(!r.has_changes());
    // A second restore is refused, naming the store.
    let err = store.restore_engine(&mut r, t1).unwrap_err();
    assert!(matches!(err, StoreError::Restore { .. }), "{err}");
    let b = r.directory().lookup(&key("bob")).unwrap();
    assert_eq!(r.published_state(b), Some(&PresenceState::Busy));
    assert_eq!(r.subscription(sub_id).unwrap().remaining_secs, 3000);
    let carol = Caller::asserted(&url("carol"));
    assert!(!r.acl(b).unwrap().allows(&carol, Right::Presence));
    r.subscribe(
        t1,
        RequestId(4),
        &alice,
        &key("carol"),
        SubscribeParams::new(
            SubscriptionKind::PropChange,
            url("alice").parse().unwrap(),
            3600,
        ),
    );
    let Some(Output::Respond(a)) = r.poll_output() else {
        panic!("an answer")
    };
    let rvp_presence::Outcome::Subscribed { id, .. } = a.outcome else {
        panic!("{a:?}")
    };
    assert!(id.get() > sub_id.get());
}

#[test]
fn a_store_is_opened_by_one_process_only() {
    let dir = TempDir::new("lock");
    let _first = Store::open(dir.file()).unwrap();
    let err = Store::open(dir.file()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
}
