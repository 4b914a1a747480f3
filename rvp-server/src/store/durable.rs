//! [`DurableStore`]: the store as the server uses it — a write-ahead log in front of redb.
//!
//! ```text
//!  engine task                                   checkpointer thread
//!  ───────────                                   ───────────────────
//!  changes = engine.take_changes()
//!  ops     = encode(changes)
//!  wal.append(ops)        one write(2)
//!  fold ops by key (latest wins) ───shared───►  (no wake-up per batch)
//!  [fdatasync: sync = "always", or an ACL]       every interval: ONE redb transaction
//!  release the answers the batch covers            (Immediate) + "wal_seq" = last record
//!                                                delete log segments it covers
//!  at start-up: replay the records after the store's wal_seq into redb, then
//!  Engine::restore from redb (Store::load)
//! ```
//!
//! # What survives what
//!
//! An answer leaves only after the record of its changes was written to the log with
//! `write(2)`: it is then in the kernel and survives the death of the server process
//! (`kill -9`, a crash, the OOM killer) — the next start replays it. That is the
//! guarantee of both [`SyncMode`]s. They differ on a power loss or kernel crash:
//!
//! * [`SyncMode::Always`]: the log is `fdatasync`ed before the answers leave (group
//!   commit: one sync per engine batch). Nothing acknowledged is lost. Costs a disk flush
//!   per batch — on the order of a millisecond on an SSD.
//! * [`SyncMode::Interval`] (the default): the checkpointer makes everything durable at
//!   least every `checkpoint_interval` (default one second); a power loss loses at most
//!   the changes of that last interval — presence states and subscriptions that clients
//!   renew anyway. **ACL changes are always synced before their answer** (a user a client
//!   has denied stays denied, whatever happens to the machine).
//!
//! The same trade as Redis's `appendfsync always | everysec` or PostgreSQL's
//! `synchronous_commit`; chosen by `[server] storage_sync`.
//!
//! # Bounds
//!
//! Between two checkpoints the checkpointer holds one entry per key changed (a view, a
//! subscription, an ACL, the counters), the latest value only: memory follows the number
//! of distinct records changed in one interval, not the number of changes. On disk the
//! log is cut into segments of [`wal::SEGMENT_BYTES`]; a segment is deleted by the first
//! checkpoint covering it, so the log holds about one interval's worth of records plus
//! one segment. A record (one engine batch) is at most [`wal::MAX_RECORD_BYTES`].
//!
//! # Recovery
//!
//! [`DurableStore::open`] reads the log directory (`<storage>.wal`, beside the store
//! file): the records after the store's last one are applied to redb in one transaction,
//! then the segments are deleted and a new one is begun. A last record cut short (the
//! process died during its write, so it was never acknowledged) is ignored with a
//! warning. Damage before the end (a segment cut short or failing its checksum before the
//! last one) can only come from a power loss in [`SyncMode::Interval`] — the window that
//! mode gives up — or a failing disk. Record numbers tell whether it cost anything: replay
//! goes on while they follow each other from the store's last one, and stops at the first
//! gap; the loss is logged as an error and reported in [`RecoveryReport`], and the server
//! starts with everything before it.
//!
//! An ACL change synced in [`SyncMode::Interval`] makes everything before it durable too:
//! the closed segments not yet covered by a checkpoint are synced first, oldest first, and
//! the segments' directory entries — a power loss can never keep the ACL record and lose
//! one before it, which would leave a gap that stops the replay short of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rvp_presence::{Change, Engine, Records, RestoreReport};
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Checkpointer, Folded, Msg, Shared};
use super::wal::{self, Tail};
use super::{Store, StoreError, wal_error};

/// When the write-ahead log is flushed to disk; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SyncMode {
    /// `fdatasync` before every answer: survives power loss.
    Always,
    /// Written before every answer (survives `kill -9`), made durable at least every
    /// checkpoint interval; ACL changes synced before their answer.
    #[default]
    Interval,
}

/// How a [`DurableStore`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DurableOptions {
    /// When the log is synced. Default [`SyncMode::Interval`].
    pub sync: SyncMode,
    /// How often the checkpointer folds the log into redb (and, in
    /// [`SyncMode::Interval`], the most a power loss can lose). Default one second.
    pub checkpoint_interval: Duration,
    /// Size at which a log segment is closed. Default [`wal::SEGMENT_BYTES`].
    pub segment_bytes: u64,
}

impl Default for DurableOptions {
    fn default() -> Self {
        DurableOptions {
            sync: SyncMode::Interval,
            checkpoint_interval: Duration::from_secs(1),
            segment_bytes: wal::SEGMENT_BYTES,
        }
    }
}

impl DurableOptions {
    /// The defaults with another sync mode.
    pub fn with_sync(sync: SyncMode) -> DurableOptions {
        DurableOptions {
            sync,
            ..DurableOptions::default()
        }
    }
}

/// What [`DurableStore::open`] found in the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Log segments found.
    pub segments: usize,
    /// Records applied to the store (written and acknowledged before the last stop, not
    /// yet checkpointed).
    pub replayed: u64,
    /// Records found that the store already held.
    pub skipped: u64,
    /// A last record cut short, ignored (never acknowledged): where and why.
    pub torn_tail: Option<String>,
    /// Damage before the end of the log (a segment cut short or failing its checksum
    /// with another segment after it, a gap in the numbering): where and why. Only a
    /// power loss in [`SyncMode::Interval`] or a failing disk leaves it. Replay goes on
    /// past a damaged segment while the numbering stays whole (the lost bytes held only
    /// records the store already had), and stops at the first gap.
    pub damage: Option<String>,
    /// Valid records after a gap, not replayed.
    pub discarded: u64,
}

/// The log directory of a store file: `<file name>.wal` beside it.
pub fn wal_dir(store_path: &Path) -> PathBuf {
    let mut name = store_path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(".wal");
    store_path.with_file_name(name)
}

/// The store with its write-ahead log and checkpointer; see the [module docs](self).
#[derive(Debug)]
pub struct DurableStore {
    store: Arc<Store>,
    dir: PathBuf,
    writer: wal::Writer,
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    options: DurableOptions,
    recovery: RecoveryReport,
}

impl DurableStore {
    /// Opens (or creates) the store at `path` and its log directory, replays what the
    /// log holds beyond the store, and starts the checkpointer thread.
    pub fn open(
        path: impl AsRef<Path>,
        options: DurableOptions,
    ) -> Result<DurableStore, StoreError> {
        let store = Store::open(path)?;
        DurableStore::with_store(store, options)
    }

    /// [`DurableStore::open`] over an already opened [`Store`].
    pub fn with_store(store: Store, options: DurableOptions) -> Result<DurableStore, StoreError> {
        let dir = wal_dir(store.path());
        let io = |op| wal_error(&dir, op);
        std::fs::create_dir_all(&dir).map_err(io("create the directory"))?;
        let (recovery, stored_seq, last_segment) = recover(&store, &dir)?;
        if recovery.replayed > 0 || recovery.torn_tail.is_some() || recovery.damage.is_some() {
            tracing::info!(?recovery, wal = %dir.display(), "write-ahead log replayed");
        }
        let writer = wal::Writer::create(
            &dir,
            last_segment + 1,
            stored_seq + 1,
            options.segment_bytes,
            options.sync == SyncMode::Always,
        )
        .map_err(io("begin a segment"))?;
        let store = Arc::new(store);
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel();
        let worker = Checkpointer::new(
            Arc::clone(&store),
            dir.clone(),
            options.checkpoint_interval.max(Duration::from_millis(1)),
            Arc::clone(&shared),
            stored_seq,
        );
        let thread = std::thread::Builder::new()
            .name("rvp-checkpoint".into())
            .spawn(move || worker.run(&rx))
            .map_err(io("start the checkpointer thread"))?;
        Ok(DurableStore {
            store,
            dir,
            writer,
            tx,
            thread: Some(thread),
            shared,
            options,
            recovery,
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// The log directory.
    pub fn wal_path(&self) -> &Path {
        &self.dir
    }

    /// The options it runs with.
    pub fn options(&self) -> &DurableOptions {
        &self.options
    }

    /// What the open replayed.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    fn wal_err(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        wal_error(&self.dir, op)
    }

    fn check_checkpointer(&self) -> Result<(), StoreError> {
        match self.shared.failure() {
            Some(why) => Err(checkpoint::failed(&self.dir, why)),
            None => Ok(()),
        }
    }

    /// Whether committing `changes` flushes the disk before returning.
    pub fn syncs(&self, changes: &[Change]) -> bool {
        self.options.sync == SyncMode::Always
            || changes
                .iter()
                .any(|c| matches!(c, Change::PutAcl(_) | Change::DeleteAcl(_)))
    }

    /// Writes `changes` as one log record (and syncs it per the [`SyncMode`]). When this
    /// returns `Ok`, the batch survives the death of the process (and, when synced, a
    /// power loss); release the answers it covers only then. On `Err` the log is no
    /// longer usable: stop serving (nothing acknowledged is lost; the next start
    /// replays). An empty batch writes nothing.
    pub fn commit(&mut self, changes: &[Change]) -> Result<(), StoreError> {
        self.check_checkpointer()?;
        if changes.is_empty() {
            return Ok(());
        }
        let ops = self.store.ops_of(changes)?;
        let seq = self.writer.append(&ops).map_err(self.wal_err("append"))?;
        if self.syncs(changes) {
            self.writer.sync().map_err(self.wal_err("sync"))?;
        }
        self.shared.fold(seq, ops);
        // Closed segments a checkpoint made durable need no sync any more.
        self.writer.forget_covered(self.shared.stored());
        if let Some(closed) = self
            .writer
            .rotate_if_full()
            .map_err(self.wal_err("close a segment"))?
        {
            self.shared.closed(closed);
        }
        Ok(())
    }

    /// The commit step of the engine loop: takes the changes `engine` made since the last
    /// call, commits them, and returns how many of the engine's queued outputs the commit
    /// covers — poll exactly that many and send them. On `Err` nothing may be sent.
    /// `buf` is a reusable buffer.
    pub fn commit_engine(
        &mut self,
        engine: &mut Engine,
        buf: &mut Vec<Change>,
    ) -> Result<usize, StoreError> {
        let covered = engine.pending_outputs();
        buf.clear();
        engine.take_changes_into(buf);
        let r = self.commit(buf);
        buf.clear();
        r.map(|()| covered)
    }

    /// Start-up: turns `engine`'s journal on, restores it from the store at `now`, and
    /// commits what the restore dropped. Call it after registering the principals and
    /// before handling any request; then send the engine's queued outputs.
    pub fn restore_engine(
        &mut self,
        engine: &mut Engine,
        now: Instant,
    ) -> Result<RestoreReport, StoreError> {
        engine.enable_journal();
        let records = self.load()?;
        let report = engine
            .restore(now, records)
            .map_err(|e| StoreError::Restore {
                path: self.path().to_path_buf(),
                source: e,
            })?;
        self.commit(&engine.take_changes())?;
        Ok(report)
    }

    /// Waits until the store holds every record committed so far (one checkpoint), and
    /// returns the last record number it holds.
    pub fn checkpoint(&self) -> Result<u64, StoreError> {
        self.check_checkpointer()?;
        let (reply, rx) = mpsc::sync_channel(1);
        let gone = || checkpoint::failed(&self.dir, "the checkpointer thread has stopped".into());
        self.tx.send(Msg::Checkpoint(reply)).map_err(|_| gone())?;
        match rx.recv() {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(why)) => Err(checkpoint::failed(&self.dir, why)),
            Err(_) => Err(gone()),
        }
    }

    /// Everything committed so far (after a [`checkpoint`](Self::checkpoint)), ready for
    /// [`rvp_presence::Engine::restore`].
    pub fn load(&self) -> Result<Records, StoreError> {
        self.checkpoint()?;
        self.store.load()
    }

    /// Stops cleanly: a last checkpoint, then the log is emptied (the store holds it all).
    pub fn close(mut self) -> Result<(), StoreError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), StoreError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let r = self.checkpoint();
        let _ = self.tx.send(Msg::Stop);
        let _ = thread.join();
        let stored = r?;
        if stored + 1 == self.writer.next_seq() {
            // Everything written is in the store: no segment is needed any more.
            for (_, path) in wal::list_segments(&self.dir).map_err(self.wal_err("list"))? {
                std::fs::remove_file(&path).map_err(self.wal_err("delete a segment"))?;
            }
            wal::sync_dir(&self.dir).map_err(self.wal_err("sync the directory"))?;
        }
        Ok(())
    }
}

impl Drop for DurableStore {
    fn drop(&mut self) {
        if self.thread.is_some()
            && let Err(e) = self.shutdown()
        {
            tracing::error!("closing the store: {e}");
        }
    }
}

/// Replays the log in `dir` into `store`; returns the report, the store's last record
/// afterwards, and the highest segment number seen (0: none). Deletes the segments.
fn recover(store: &Store, dir: &Path) -> Result<(RecoveryReport, u64, u64), StoreError> {
    let io = |op| wal_error(dir, op);
    let segments = wal::list_segments(dir).map_err(io("list"))?;
    let stored = store.wal_seq()?;
    let mut report = RecoveryReport {
        segments: segments.len(),
        ..RecoveryReport::default()
    };
    let mut expected = stored + 1;
    // Set at the first gap in the numbering: nothing after it is replayed.
    let mut ended = false;
    let mut pending = Folded::default();
    let last_index = segments.len().saturating_sub(1);
    for (i, (_, path)) in segments.iter().enumerate() {
        let scan = wal::read_segment(path).map_err(io("read a segment"))?;
        for r in scan.records {
            if ended {
                report.discarded += 1;
            } else if r.seq < expected {
                report.skipped += 1;
            } else if r.seq != expected {
                // Records between are missing (a damaged segment before this one lost
                // some the store does not have): stop here.
                ended = true;
                report.discarded += 1;
                let gap = format!(
                    "{}: record {} where record {expected} was expected",
                    path.display(),
                    r.seq
                );
                report.damage = Some(match report.damage.take() {
                    Some(d) => format!("{d}; then {gap}"),
                    None => gap,
                });
            } else {
                pending.fold(r.ops);
                report.replayed += 1;
                expected += 1;
            }
        }
        if let Tail::Damaged { offset, why } = scan.tail
            && !ended
        {
            let at = format!("{} at byte {offset}: {why}", path.display());
            if i == last_index {
                report.torn_tail = Some(at);
            } else if report.damage.is_none() {
                // Whether it lost anything the store lacks shows at the next record:
                // replay goes on while the numbering stays whole.
                report.damage = Some(at);
            }
        }
    }
    if let Some(t) = &report.torn_tail {
        tracing::warn!(
            "write-ahead log ends in an incomplete record (being written when the process \
             stopped, never acknowledged), ignored: {t}"
        );
    }
    if let Some(d) = &report.damage {
        if report.discarded > 0 {
            tracing::error!(
                discarded = report.discarded,
                "write-ahead log damaged (a power loss with storage_sync = \"interval\", or a \
                 failing disk): replayed up to the damage, the records after it are lost: {d}"
            );
        } else {
            tracing::warn!(
                "write-ahead log segment damaged before its end, but no record the store \
                 lacks is missing after it (a power loss with storage_sync = \"interval\"?): {d}"
            );
        }
    }
    if report.replayed > 0 {
        pending.apply(store, expected - 1)?;
    }
    let last_segment = segments.last().map_or(0, |s| s.0);
    for (_, path) in &segments {
        std::fs::remove_file(path).map_err(io("delete a replayed segment"))?;
    }
    if !segments.is_empty() {
        wal::sync_dir(dir).map_err(io("sync the directory"))?;
    }
    Ok((report, expected - 1, last_segment))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rvp_presence::{Counters, LeasedState, NodeKey, ViewId, ViewRecord};
    use rvp_proto::PresenceState;

    use crate::test_support::TempDir;

    /// Batch `i`: view `i` (busy) and the counters.
    fn batch(i: u32, now: Instant) -> Vec<Change> {
        vec![
            Change::PutView(ViewRecord {
                node: NodeKey::new("im.example.com", "bob").unwrap(),
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
            Change::Counters(Counters {
                last_subscription_id: 0,
                last_view_id: i,
                last_set_order: u64::from(i),
            }),
        ]
    }

    fn views(r: &Records) -> Vec<u32> {
        let mut v: Vec<u32> = r.views.keys().map(|id| id.get()).collect();
        v.sort_unstable();
        v
    }

    /// Writes batches `range` to the log of the store at `path` the way a process that
    /// died before any checkpoint leaves it: records in segments of `segment_bytes`, the
    /// store untouched. Returns the segment files.
    fn crashed_log(
        path: &Path,
        range: std::ops::RangeInclusive<u32>,
        segment_bytes: u64,
    ) -> Vec<PathBuf> {
        let store = Store::open(path).unwrap();
        let dir = wal_dir(path);
        std::fs::create_dir_all(&dir).unwrap();
        let first_seq = store.wal_seq().unwrap() + 1;
        let first_segment = wal::list_segments(&dir)
            .unwrap()
            .last()
            .map_or(1, |s| s.0 + 1);
        let mut w =
            wal::Writer::create(&dir, first_segment, first_seq, segment_bytes, false).unwrap();
        let now = Instant::now();
        for i in range {
            w.append(&store.ops_of(&batch(i, now)).unwrap()).unwrap();
            w.rotate_if_full().unwrap();
        }
        wal::list_segments(&dir)
            .unwrap()
            .into_iter()
            .map(|s| s.1)
            .collect()
    }

    #[test]
    fn records_a_dead_process_left_in_the_log_are_replayed() {
        let dir = TempDir::new("replay");
        let segments = crashed_log(&dir.join("state.redb"), 1..=40, 512);
        assert!(segments.len() > 2, "{segments:?}");
        let ds = DurableStore::open(dir.join("state.redb"), DurableOptions::default()).unwrap();
        let rep = ds.recovery().clone();
        assert_eq!(rep.replayed, 40, "{rep:?}");
        assert_eq!(rep.segments, segments.len());
        assert_eq!((rep.torn_tail.clone(), rep.damage.clone()), (None, None));
        let r = ds.load().unwrap();
        assert_eq!(views(&r), (1..=40).collect::<Vec<_>>());
        assert_eq!(r.counters.last_view_id, 40);
        // The replayed segments are gone; one fresh segment is being written.
        assert_eq!(wal::list_segments(ds.wal_path()).unwrap().len(), 1);
        drop(ds);
        // A clean stop leaves no log at all, and the next open replays nothing.
        assert!(
            wal::list_segments(&wal_dir(&dir.join("state.redb")))
                .unwrap()
                .is_empty()
        );
        let ds = DurableStore::open(dir.join("state.redb"), DurableOptions::default()).unwrap();
        assert_eq!(ds.recovery().replayed, 0);
        assert_eq!(views(&ds.load().unwrap()).len(), 40);
    }

    #[test]
    fn a_record_cut_short_at_the_end_is_ignored() {
        let dir = TempDir::new("torn");
        let segments = crashed_log(&dir.join("state.redb"), 1..=5, wal::SEGMENT_BYTES);
        let last = segments.last().unwrap();
        let len = std::fs::metadata(last).unwrap().len();
        // Cut the last record in the middle: the process died during that write.
        let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
        f.set_len(len - 7).unwrap();
        drop(f);
        let ds = DurableStore::open(dir.join("state.redb"), DurableOptions::default()).unwrap();
        let rep = ds.recovery().clone();
        assert_eq!(rep.replayed, 4, "{rep:?}");
        assert!(rep.torn_tail.unwrap().contains("cut short"));
        assert_eq!(rep.damage, None);
        assert_eq!(views(&ds.load().unwrap()), vec![1, 2, 3, 4]);
    }

    #[test]
    fn damage_before_the_end_stops_the_replay_there_and_is_reported() {
        let dir = TempDir::new("damage");
        let segments = crashed_log(&dir.join("state.redb"), 1..=30, 512);
        assert!(segments.len() >= 3);
        // Flip a byte in the middle of the second segment.
        let victim = &segments[1];
        let mut bytes = std::fs::read(victim).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x55;
        std::fs::write(victim, &bytes).unwrap();
        let first_count = wal::read_segment(&segments[0]).unwrap().records.len() as u64;
        let ds = DurableStore::open(dir.join("state.redb"), DurableOptions::default()).unwrap();
        let rep = ds.recovery().clone();
        let damage = rep.damage.clone().unwrap();
        assert!(damage.contains(&*victim.to_string_lossy()), "{damage}");
        assert!(rep.replayed >= first_count && rep.replayed < 30, "{rep:?}");
        assert!(rep.discarded > 0, "{rep:?}");
        // Exactly the records before the damage, in order, nothing after it.
        let v = views(&ds.load().unwrap());
        assert_eq!(
            v,
            (1..=u32::try_from(rep.replayed).unwrap()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_damaged_segment_holding_only_stored_records_costs_nothing() {
        let dir = TempDir::new("harmless");
        let segments = crashed_log(&dir.join("state.redb"), 1..=30, 512);
        assert!(segments.len() >= 3);
        // The store already holds everything in the first segment (a checkpoint covered
        // it), and then that segment lost its tail.
        let first = wal::read_segment(&segments[0]).unwrap();
        let last_in_first = first.records.last().unwrap().seq;
        {
            let store = Store::open(dir.join("state.redb")).unwrap();
            let mut ops = Folded::default();
            for r in first.records {
                ops.fold(r.ops);
            }
            ops.apply(&store, last_in_first).unwrap();
        }
        let len = std::fs::metadata(&segments[0]).unwrap().len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&segments[0])
            .unwrap();
        f.set_len(len / 2).unwrap();
        drop(f);
        let ds = DurableStore::open(dir.join("state.redb"), DurableOptions::default()).unwrap();
        let rep = ds.recovery().clone();
        assert!(rep.damage.is_some(), "{rep:?}");
        assert_eq!(rep.discarded, 0, "{rep:?}");
        assert_eq!(rep.replayed, 30 - last_in_first, "{rep:?}");
        assert_eq!(views(&ds.load().unwrap()), (1..=30).collect::<Vec<_>>());
    }

    #[test]
    fn records_the_store_already_holds_are_skipped() {
        let dir = TempDir::new("skip");
        {
            let mut ds =
                DurableStore::open(dir.join("state.redb"), DurableOptions::default()).unwrap();
            for i in 1..=3 {
                ds.commit(&batch(i, Instant::now())).unwrap();
            }
            // Checkpointed, but the segment stays (as when killed right after a
            // checkpoint, before the segment was deleted).
            assert_eq!(ds.checkpoint().unwrap(), 3);
            let seg = wal::list_segments(ds.wal_path()).unwrap()[0].1.clone();
            let copy = std::fs::read(&seg).unwrap();
            ds.close().unwrap();
            std::fs::write(&seg, copy).unwrap();
        }
        // Records 4 and 5 follow in a later segment.
        crashed_log(&dir.join("state.redb"), 4..=5, wal::SEGMENT_BYTES);
        let ds = DurableStore::open(dir.join("state.redb"), DurableOptions::default()).unwrap();
        let rep = ds.recovery().clone();
        assert_eq!((rep.skipped, rep.replayed), (3, 2), "{rep:?}");
        assert_eq!(views(&ds.load().unwrap()), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn checkpoints_fold_the_log_into_the_store_and_delete_covered_segments() {
        let dir = TempDir::new("checkpoint");
        let o = DurableOptions {
            segment_bytes: 300,
            checkpoint_interval: Duration::from_secs(600),
            ..DurableOptions::default()
        };
        let mut ds = DurableStore::open(dir.join("state.redb"), o).unwrap();
        for i in 1..=50 {
            ds.commit(&batch(i, Instant::now())).unwrap();
        }
        assert!(wal::list_segments(ds.wal_path()).unwrap().len() > 5);
        // Nothing reached redb yet (the interval is long).
        assert_eq!(ds.store.wal_seq().unwrap(), 0);
        assert_eq!(ds.checkpoint().unwrap(), 50);
        assert_eq!(ds.store.wal_seq().unwrap(), 50);
        // Only the segment being written is left.
        assert_eq!(wal::list_segments(ds.wal_path()).unwrap().len(), 1);
        assert_eq!(views(&ds.store.load().unwrap()).len(), 50);
    }

    #[test]
    fn the_checkpointer_runs_on_its_own_every_interval() {
        let dir = TempDir::new("interval");
        let o = DurableOptions {
            checkpoint_interval: Duration::from_millis(20),
            ..DurableOptions::default()
        };
        let mut ds = DurableStore::open(dir.join("state.redb"), o).unwrap();
        ds.commit(&batch(1, Instant::now())).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while ds.store.wal_seq().unwrap() < 1 {
            assert!(Instant::now() < deadline, "no checkpoint within 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn acl_changes_are_synced_in_every_mode_the_rest_only_when_always() {
        let dir = TempDir::new("syncs");
        let acl = Change::DeleteAcl(NodeKey::new("im.example.com", "bob").unwrap());
        let b = batch(1, Instant::now());
        let ds = DurableStore::open(dir.join("state.redb"), DurableOptions::default()).unwrap();
        assert!(!ds.syncs(&b));
        assert!(ds.syncs(&[b[0].clone(), acl.clone()]));
        drop(ds);
        let ds = DurableStore::open(
            dir.join("state.redb"),
            DurableOptions::with_sync(SyncMode::Always),
        )
        .unwrap();
        assert!(ds.syncs(&b));
    }

    #[test]
    fn the_log_directory_sits_beside_the_store_file() {
        assert_eq!(
            wal_dir(Path::new("/var/lib/rvp/state.redb")),
            Path::new("/var/lib/rvp/state.redb.wal")
        );
        assert_eq!(wal_dir(Path::new("s.redb")), Path::new("s.redb.wal"));
    }
}
