//! Crash test of the store: a child process (this test binary re-executed) commits
//! batches of changes in a loop and reports each one on stdout after the commit
//! returned; the parent kills it with SIGKILL at a random moment, reopens the store and
//! checks that every reported batch is there (and nothing but whole batches). 20 rounds
//! per mode, each continuing on the same file. Three modes:
//!
//! * `redb`: `Store::apply` (one redb transaction per batch);
//! * `wal-interval` and `wal-always`: `DurableStore::commit` (the server's path: the
//!   write-ahead log, synced per batch or not, folded into redb by the checkpointer), with
//!   tiny segments (4 KiB) and a checkpoint interval drawn per round (1–30 ms), so that
//!   kills land during appends, segment changes, checkpoints and segment deletions. The
//!   parent reopens with `DurableStore::open`, which replays the log.
//!
//! `harness = false`: the binary is its own main, so the child mode is not a test that
//! does nothing when run on its own. Reproduce a run with `RVP_CRASH_SEED=<seed>` (the
//! seed is printed on stderr).
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use rvp_presence::{
    Change, Counters, LeasedState, NodeKey, SubscriptionId, SubscriptionKind, SubscriptionRecord,
    ViewId, ViewRecord,
};
use rvp_proto::PresenceState;
use rvp_server::store::{DurableOptions, DurableStore, Store, SyncMode};

const CHILD_ENV: &str = "RVP_STORE_CRASH_CHILD";
const MODE_ENV: &str = "RVP_STORE_CRASH_MODE";
const INTERVAL_ENV: &str = "RVP_STORE_CRASH_CHECKPOINT_MS";
const MODES: [&str; 3] = ["redb", "wal-interval", "wal-always"];
const ROUNDS: usize = 20;
/// Upper bounds of one child: batches and running time (it is normally killed long
/// before either).
const CHILD_MAX_BATCHES: u32 = 100_000;
const CHILD_MAX_TIME: Duration = Duration::from_secs(30);
/// A batch deletes the subscription of the batch this many before it.
const DELETE_LAG: u32 = 3;

fn main() {
    match std::env::var_os(CHILD_ENV) {
        Some(path) => {
            let mode = std::env::var(MODE_ENV).unwrap();
            let ms = std::env::var(INTERVAL_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(10);
            child(Path::new(&path), &mode, ms);
        }
        None => parent(),
    }
}

fn batch(i: u32, now: Instant) -> Vec<Change> {
    let node = NodeKey::new("im.example.com", "bob").unwrap();
    let mut v = vec![
        Change::PutSubscription(SubscriptionRecord {
            id: SubscriptionId::new(i).unwrap(),
            node: node.clone(),
            kind: SubscriptionKind::Notify,
            callback: Arc::new(
                format!("http://192.0.2.1:{}", 1000 + i % 50_000)
                    .parse()
                    .expect("a call-back"),
            ),
            subscriber: Arc::from("http://im.example.com/instmsg/aliases/bob"),
            proof: None,
            granted_secs: 3600,
            expires: now + Duration::from_secs(3600),
            failures: 0,
            first_failure: None,
        }),
        Change::PutView(ViewRecord {
            node,
            id: ViewId::new(i).unwrap(),
            state: LeasedState {
                value: PresenceState::Busy,
                default: PresenceState::Offline,
                timeout_secs: 600,
            },
            expires: now + Duration::from_secs(600),
            set_order: u64::from(i),
            bound_to: None,
        }),
    ];
    if i > DELETE_LAG {
        v.push(Change::DeleteSubscription(
            SubscriptionId::new(i - DELETE_LAG).unwrap(),
        ));
    }
    v.push(Change::Counters(Counters {
        last_subscription_id: i,
        last_view_id: i,
        last_set_order: u64::from(i),
    }));
    v
}

/// The log options of a WAL mode.
fn wal_options(mode: &str, checkpoint_ms: u64) -> DurableOptions {
    let mut o = DurableOptions::with_sync(if mode == "wal-always" {
        SyncMode::Always
    } else {
        SyncMode::Interval
    });
    o.checkpoint_interval = Duration::from_millis(checkpoint_ms);
    o.segment_bytes = 4096;
    o
}

fn child(path: &Path, mode: &str, checkpoint_ms: u64) {
    type Commit = Box<dyn FnMut(&[Change])>;
    let mut commit: Commit;
    let first;
    if mode == "redb" {
        let store = Store::open(path).unwrap();
        first = store.load().unwrap().counters.last_subscription_id + 1;
        commit = Box::new(move |b| store.apply(b).unwrap());
    } else {
        let mut store = DurableStore::open(path, wal_options(mode, checkpoint_ms)).unwrap();
        first = store.load().unwrap().counters.last_subscription_id + 1;
        commit = Box::new(move |b| store.commit(b).unwrap());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {first}").unwrap();
    out.flush().unwrap();
    let start = Instant::now();
    for i in first..first + CHILD_MAX_BATCHES {
        if start.elapsed() > CHILD_MAX_TIME {
            break;
        }
        commit(&batch(i, Instant::now()));
        writeln!(out, "committed {i}").unwrap();
        out.flush().unwrap();
    }
}

/// xorshift64*: enough randomness for kill times, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn parent() {
    let seed = std::env::var("RVP_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs() ^ u64::from(d.subsec_nanos()) << 20)
                | 1
        });
    let mut err = std::io::stderr();
    writeln!(
        err,
        "store_crash: seed {seed} (RVP_CRASH_SEED={seed} reproduces the kill times)"
    )
    .unwrap();
    let mut rng = Rng(seed);
    for mode in MODES {
        run_mode(mode, seed, &mut rng);
    }
}

fn run_mode(mode: &str, seed: u64, rng: &mut Rng) {
    let mut err = std::io::stderr();
    let dir = std::env::temp_dir().join(format!(
        "rvp-store-crash-{}-{seed}-{mode}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("state.redb");
    let exe = std::env::current_exe().unwrap();

    let mut committed: Vec<u32> = Vec::new();
    // The batch number the store stood at after the previous reopen.
    let mut stored = 0u32;
    for round in 0..ROUNDS {
        let checkpoint_ms = 1 + rng.next() % 30;
        let mut c = Command::new(&exe)
            .env(CHILD_ENV, &path)
            .env(MODE_ENV, mode)
            .env(INTERVAL_ENV, checkpoint_ms.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = c.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| {
                let _ = c.kill();
                panic!("round {round}: the child did not start: {e}")
            });
        assert_eq!(ready, format!("ready {}", stored + 1), "round {round}");
        // Wait for the first commit (so every round exercises the store however slow the
        // machine), then kill at a random moment in the stream of commits.
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| {
                let _ = c.kill();
                panic!("round {round}: no commit within 30 s: {e}")
            });
        std::thread::sleep(Duration::from_millis(rng.next() % 40));
        c.kill().unwrap(); // SIGKILL on Unix
        let status = c.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: the child ended by itself"
        );
        reader.join().unwrap();
        let mut this_round = Vec::new();
        if let Some(n) = first.strip_prefix("committed ") {
            this_round.push(n.parse::<u32>().unwrap());
        }
        while let Ok(line) = rx.try_recv() {
            if let Some(n) = line.strip_prefix("committed ") {
                this_round.push(n.parse::<u32>().unwrap());
            }
        }
        committed.extend(&this_round);

        let r = if mode == "redb" {
            Store::open(&path).unwrap().load().unwrap()
        } else {
            let store = DurableStore::open(&path, wal_options(mode, checkpoint_ms)).unwrap();
            let report = store.recovery().clone();
            assert!(
                report.damage.is_none(),
                "round {round}: a SIGKILL left damage before the end of the log: {report:?}"
            );
            store.load().unwrap()
        };
        let reported = this_round.last().copied().unwrap_or(stored);
        let c = r.counters.last_subscription_id;
        // Every reported batch is there; at most one more (committed, killed before it
        // was reported).
        assert!(
            c == reported || c == reported + 1,
            "round {round}: store at batch {c}, last reported commit {reported}"
        );
        // Batches are applied in order, so the store holds exactly batches 1..=c, whole.
        assert_eq!(
            r.views.len(),
            c as usize,
            "round {round}: views of batches 1..={c}"
        );
        for i in 1..=c {
            assert!(
                r.views.contains_key(&ViewId::new(i).unwrap()),
                "round {round}: view of committed batch {i} missing after SIGKILL"
            );
            let has = r
                .subscriptions
                .contains_key(&SubscriptionId::new(i).unwrap());
            assert_eq!(
                has,
                i + DELETE_LAG > c,
                "round {round}: subscription {i} (deleted by batch {})",
                i + DELETE_LAG
            );
        }
        stored = c;
        writeln!(
            err,
            "store_crash: {mode} round {round}: {} batches reported, store at {c}",
            this_round.len()
        )
        .unwrap();
    }
    assert!(
        committed.len() >= ROUNDS,
        "{mode}: only {} batches committed in {ROUNDS} rounds: the test did not exercise the store",
        committed.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    writeln!(
        err,
        "store_crash: {mode} ok, {} batches over {ROUNDS} kills",
        committed.len()
    )
    .unwrap();
}
