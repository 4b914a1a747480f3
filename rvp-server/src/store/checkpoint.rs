//! The checkpointer: a thread that folds write-ahead-log records into redb.
//!
//! ```text
//!  engine task ── after each log write: lock; fold ops into Pending; unlock
//!                                              │ (table, key) → latest value, last seq,
//!                                              │ closed segments
//!                                              ▼  every interval, on request, at stop:
//!  checkpointer thread: take Pending (swap) → Store::apply_ops(..., wal_seq = last seq)
//!                       (one redb transaction, fsync) → delete closed segments covered
//! ```
//!
//! Records are coalesced by key before they reach redb: a presence state set ten
//! thousand times between two checkpoints is written once. Handing a batch over costs
//! the engine task an uncontended lock and a few map inserts — no wake-up of this thread
//! per batch (that alone cost more than the log write). A checkpoint is one redb
//! transaction with [`redb::Durability::Immediate`] that also records the last log record
//! it contains, so it is all-or-nothing together with that number; a segment is deleted
//! only after a checkpoint covering its last record returned.
//!
//! A failed checkpoint is kept as the checkpointer's error ([`Shared::failure`]); the
//! engine's next commit reports it and the server stops. Nothing is lost: the log still
//! holds every record, and the next start replays them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::wal::{self, Closed, Key, Op, Table};
use super::{Store, StoreError};

/// What the engine side asks of the thread.
pub(crate) enum Msg {
    /// Checkpoint now and answer with the last record the store holds.
    Checkpoint(SyncSender<Result<u64, String>>),
    /// Checkpoint, end the thread.
    Stop,
}

/// Store operations folded by record: the latest value of each (table, key) wins, so a
/// record changed many times is written once.
#[derive(Debug, Default)]
///
/// Hashed with foldhash (two inserts per presence change; the keys are engine-chosen ids
/// and the server's own node names).
pub(crate) struct Folded(HashMap<(Table, Key), Option<Vec<u8>>, foldhash::fast::RandomState>);

impl Folded {
    /// Folds `ops` in, in order.
    pub(crate) fn fold(&mut self, ops: Vec<Op>) {
        for op in ops {
            self.0.insert((op.table, op.key), op.value);
        }
    }

    /// Writes the folded operations to `store` in one durable transaction that also
    /// records `wal_seq` as the last log record the store holds.
    pub(crate) fn apply(&self, store: &Store, wal_seq: u64) -> Result<(), StoreError> {
        store.apply_ops(
            self.0.iter().map(|((t, k), v)| (*t, k, v.as_deref())),
            Some(wal_seq),
        )
    }
}

/// Records written to the log and not yet taken by a checkpoint.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    ops: Folded,
    /// The last record folded in (0: none since the last take).
    last_seq: u64,
    closed: Vec<Closed>,
}

/// State shared between the engine side and the thread.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The first checkpoint failure; once set, the checkpointer does nothing more.
    failure: Mutex<Option<String>>,
    pending: Mutex<Pending>,
    /// The last record the store holds (published after each checkpoint).
    stored: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    fn fail(&self, why: String) {
        let mut f = lock(&self.failure);
        if f.is_none() {
            *f = Some(why);
        }
    }

    /// Record `seq` (its `ops`) was written to the log.
    pub(crate) fn fold(&self, seq: u64, ops: Vec<Op>) {
        let mut p = lock(&self.pending);
        p.ops.fold(ops);
        p.last_seq = seq;
    }

    /// A segment was closed; delete it once a checkpoint covers it.
    pub(crate) fn closed(&self, c: Closed) {
        lock(&self.pending).closed.push(c);
    }

    /// Sets the last record the store holds.
    fn set_stored(&self, seq: u64) {
        self.stored.store(seq, Ordering::Release);
    }

    /// The last record the store holds, as of the last checkpoint.
    pub(crate) fn stored(&self) -> u64 {
        self.stored.load(Ordering::Acquire)
    }
}

pub(crate) struct Checkpointer {
    store: Arc<Store>,
    dir: PathBuf,
    interval: Duration,
    shared: Arc<Shared>,
    /// The last record the store holds.
    stored_seq: u64,
    /// Closed segments not yet covered by a checkpoint.
    closed: Vec<Closed>,
}

impl Checkpointer {
    pub(crate) fn new(
        store: Arc<Store>,
        dir: PathBuf,
        interval: Duration,
        shared: Arc<Shared>,
        stored_seq: u64,
    ) -> Checkpointer {
        shared.set_stored(stored_seq);
        Checkpointer {
            store,
            dir,
            interval,
            shared,
            stored_seq,
            closed: Vec::new(),
        }
    }

    /// The thread's body: runs until [`Msg::Stop`] or until the sender is gone (both end
    /// with a last checkpoint).
    pub(crate) fn run(mut self, rx: &Receiver<Msg>) {
        let mut next = Instant::now() + self.interval;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                // Everything the engine side wrote before asking is already in Pending.
                Ok(Msg::Checkpoint(reply)) => {
                    let _ = reply.send(self.checkpoint());
                    next = Instant::now() + self.interval;
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.checkpoint();
                    next = Instant::now() + self.interval;
                }
            }
        }
        let _ = self.checkpoint();
    }

    /// Writes what is pending, then deletes the segments that are covered. Returns the
    /// last record the store holds.
    fn checkpoint(&mut self) -> Result<u64, String> {
        if let Some(f) = self.shared.failure() {
            return Err(f);
        }
        let taken = std::mem::take(&mut *lock(&self.shared.pending));
        self.closed.extend(taken.closed);
        if taken.last_seq > self.stored_seq {
            if let Err(e) = taken.ops.apply(&self.store, taken.last_seq) {
                let why = format!("checkpoint of the write-ahead log: {e}");
                tracing::error!("{why}");
                self.shared.fail(why.clone());
                return Err(why);
            }
            self.stored_seq = taken.last_seq;
            self.shared.set_stored(self.stored_seq);
        }
        let stored = self.stored_seq;
        let mut removed = false;
        let mut failed = None;
        self.closed.retain(|c| {
            if c.last_seq > stored {
                return true;
            }
            let path = self.dir.join(wal::segment_name(c.number));
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    removed = true;
                    false
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => {
                    // Not fatal: the segment is replayed (and skipped, being covered) at
                    // the next start. Try again at the next checkpoint.
                    failed = Some(format!("cannot delete {}: {e}", path.display()));
                    true
                }
            }
        });
        if let Some(why) = failed {
            tracing::warn!("{why}");
        }
        if removed {
            let _ = wal::sync_dir(&self.dir);
        }
        Ok(stored)
    }
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("dir", &self.dir)
            .field("stored_seq", &self.stored_seq)
            .finish_non_exhaustive()
    }
}

/// [`StoreError`] for a failed checkpointer, as the engine side reports it.
pub(crate) fn failed(dir: &std::path::Path, why: String) -> StoreError {
    super::wal_error(dir, "checkpoint")(std::io::Error::other(why))
}
