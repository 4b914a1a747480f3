//! Durable storage: the engine's change journal kept in a [redb] database, behind a
//! write-ahead log.
//!
//! `rvp-presence` holds ACLs, subscriptions, leases and views in memory and, with its
//! journal on, hands out every change as a [`Change`] (see [`rvp_presence::journal`]).
//! The server keeps them in two layers:
//!
//! ```text
//!  engine task                       DurableStore (durable.rs)
//!  ───────────                       ─────────────────────────
//!  handle requests ...               wal.rs: <storage>.wal/NNN.wal   checksummed records,
//!  n = engine.pending_outputs()        one write(2) per batch         fdatasync per SyncMode
//!  changes = engine.take_changes() ─►  │
//!  commit(changes)                     ▼ checkpoint.rs: every interval, coalesced by key
//!  release the n outputs             Store (this file): redb
//!                                      rvp_meta           "schema" → 1, "counters", "wal_seq"
//!                                      rvp_subscriptions  id      → subscription
//!                                      rvp_views          view id → view
//!                                      rvp_acls           "host/alias" → ACL
//!  engine.restore(now, load()?) ◀──  at start-up: log replayed into redb, then read
//! ```
//!
//! [`DurableStore`] is what the server runs on: an answer leaves once its changes are in
//! the log (surviving `kill -9`; with [`SyncMode::Always`] also a power loss), and the
//! checkpointer folds the log into redb in the background. Its docs say exactly what
//! survives what. [`Store`] is the redb layer alone, usable by itself for tools and tests:
//!
//! # Durability of [`Store::apply`]
//!
//! [`Store::apply`] writes one batch of changes in **one** redb write transaction with
//! [`redb::Durability::Immediate`] (redb's default, set explicitly here): when it returns
//! `Ok`, the batch is on disk (`fsync`ed) and survives `kill -9` and power loss; when the
//! process dies during it, none of the batch is there after reopening (redb's commit is
//! atomic; a crash leaves the previous commit, which redb verifies by checksum and
//! repairs to on open). The checkpointer writes through the same path
//! (`Store::apply_ops`), together with the number of the last log record it covers.
//!
//! Committing to redb directly for every engine batch (the server's first design) costs
//! one redb commit — two disk flushes — per batch and kept PROPPATCH throughput at a
//! third of a minimal HTTP server's (BENCHMARKS.md); the log costs one `write(2)`.

//! # Time
//!
//! Deadlines are stored as wall-clock milliseconds since the Unix epoch. A
//! [`ClockAnchor`] — one reading of the monotonic and the wall clock, taken when the store
//! opens — converts the engine's `Instant`s to wall-clock time on write and back on load,
//! so a subscription granted for four hours ends four wall-clock hours after it was
//! granted, however long the server was down in between. (A wall clock stepped while the
//! server was down moves the stored deadlines with it; while it runs, one anchor keeps
//! every conversion consistent.)
//!
//! # Schema
//!
//! `rvp_meta["schema"]` holds [`SCHEMA_VERSION`]. A new file gets it; a file with
//! another version is refused with [`StoreError::SchemaMismatch`] rather than misread.
//! Record encoding: [`codec`].
//!
//! [redb]: https://docs.rs/redb

mod checkpoint;
pub mod codec;
pub mod durable;
pub mod wal;

pub use durable::{DurableOptions, DurableStore, RecoveryReport, SyncMode, wal_dir};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use rvp_presence::{AclRecord, Change, Records, RestoreError, SubscriptionRecord, ViewRecord};

use codec::{DecodeError, StoredSubscription, StoredView};
use wal::{Key, Op, Table};

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("rvp_meta");
const SUBSCRIPTIONS: TableDefinition<'_, u32, &[u8]> = TableDefinition::new("rvp_subscriptions");
const VIEWS: TableDefinition<'_, u32, &[u8]> = TableDefinition::new("rvp_views");
const ACLS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("rvp_acls");

const SCHEMA_KEY: &str = "schema";
const COUNTERS_KEY: &str = "counters";
const WAL_SEQ_KEY: &str = "wal_seq";

/// What went wrong with the store; every message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file could not be opened or created as a redb database (missing directory,
    /// permissions, not a redb file, already opened by another process...).
    #[error("cannot open the store {path}: {source}")]
    Open {
        /// The store file.
        path: PathBuf,
        /// redb's reason.
        #[source]
        source: Box<redb::DatabaseError>,
    },
    /// The file was written by a build with another schema version.
    #[error(
        "the store {path} has schema version {found}, this build reads version {expected}; \
         move the file away (the server then starts with empty state) or use a matching build"
    )]
    SchemaMismatch {
        /// The store file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// [`SCHEMA_VERSION`].
        expected: u32,
    },
    /// A database operation failed (I/O error, disk full...).
    #[error("store {path}: {op} failed: {source}")]
    Db {
        /// The store file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// redb's reason.
        #[source]
        source: Box<redb::Error>,
    },
    /// A stored record could not be decoded.
    #[error("store {path}: table {table}, key {key}: {source}")]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// The record's key.
        key: String,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
    /// The engine refused the restore (it was not fresh).
    #[error("store {path}: {source}")]
    Restore {
        /// The store file.
        path: PathBuf,
        /// The engine's reason.
        #[source]
        source: RestoreError,
    },
    /// The write-ahead log (the directory beside the store file) could not be read or
    /// written (I/O error, disk full, permissions), or its checkpointer failed.
    #[error("write-ahead log {path}: {op} failed: {source}")]
    Wal {
        /// The log directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// A change of a kind this build does not know how to store (a newer `rvp-presence`).
    #[error("store {path}: cannot store change {change}")]
    UnknownChange {
        /// The store file.
        path: PathBuf,
        /// The change, debug-printed.
        change: String,
    },
}

/// Maps an I/O error of the write-ahead log in `dir`, while doing `op`, to
/// [`StoreError::Wal`].
///
/// The path is copied only when there is an error: this runs on every commit.
pub(crate) fn wal_error<'a>(
    dir: &'a Path,
    op: &'static str,
) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Wal {
        path: dir.to_path_buf(),
        op,
        source,
    }
}

/// One simultaneous reading of the monotonic clock and the wall clock, converting
/// between the engine's `Instant`s and stored wall-clock milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockAnchor {
    instant: Instant,
    unix_ms: i64,
}

impl ClockAnchor {
    /// Reads both clocks now.
    pub fn now() -> ClockAnchor {
        ClockAnchor::new(Instant::now(), SystemTime::now())
    }

    /// The anchor "`instant` is `wall`".
    pub fn new(instant: Instant, wall: SystemTime) -> ClockAnchor {
        let unix_ms = match wall.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
        };
        ClockAnchor { instant, unix_ms }
    }

    /// The anchor's instant.
    pub fn instant(&self) -> Instant {
        self.instant
    }

    /// `t` as wall-clock milliseconds since the Unix epoch (truncated to the millisecond).
    pub fn to_unix_ms(&self, t: Instant) -> i64 {
        if t >= self.instant {
            let d = i64::try_from((t - self.instant).as_millis()).unwrap_or(i64::MAX);
            self.unix_ms.saturating_add(d)
        } else {
            let d = i64::try_from((self.instant - t).as_millis()).unwrap_or(i64::MAX);
            self.unix_ms.saturating_sub(d)
        }
    }

    /// The `Instant` of wall-clock `unix_ms`. A time the platform's `Instant` cannot
    /// represent (only possible on some platforms, and only for times far from the
    /// anchor) is replaced by one a day past the anchor in the same direction, or by the
    /// anchor itself: either way on the same side of every deadline the engine decides by.
    pub fn to_instant(&self, unix_ms: i64) -> Instant {
        let delta = i128::from(unix_ms) - i128::from(self.unix_ms);
        let ms = u64::try_from(delta.unsigned_abs()).unwrap_or(u64::MAX);
        let d = Duration::from_millis(ms);
        let day = Duration::from_secs(86_400);
        if delta >= 0 {
            self.instant
                .checked_add(d)
                .or_else(|| self.instant.checked_add(day))
                .unwrap_or(self.instant)
        } else {
            self.instant
                .checked_sub(d)
                .or_else(|| self.instant.checked_sub(day))
                .unwrap_or(self.instant)
        }
    }
}

/// The durable store of one server. See the [module documentation](self).
#[derive(Debug)]
pub struct Store {
    db: Database,
    anchor: ClockAnchor,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store at `path`, anchoring time conversions now.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with_anchor(path, ClockAnchor::now())
    }

    /// Opens (or creates) the store at `path` with a given clock anchor (tests, or a
    /// server that wants one anchor for several components).
    pub fn open_with_anchor(
        path: impl AsRef<Path>,
        anchor: ClockAnchor,
    ) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let db = Database::create(&path).map_err(|e| StoreError::Open {
            path: path.clone(),
            source: Box::new(e),
        })?;
        let store = Store { db, anchor, path };
        store.check_schema()?;
        Ok(store)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The clock anchor converting deadlines.
    pub fn anchor(&self) -> ClockAnchor {
        self.anchor
    }

    fn db_err<E: Into<redb::Error>>(&self, op: &'static str) -> impl FnOnce(E) -> StoreError {
        let path = self.path.clone();
        move |e| StoreError::Db {
            path,
            op,
            source: Box::new(e.into()),
        }
    }

    fn corrupt(&self, table: &'static str, key: String, source: DecodeError) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            table,
            key,
            source,
        }
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(self.db_err("begin write"))?;
        {
            let mut meta = txn.open_table(META).map_err(self.db_err("open rvp_meta"))?;
            let found = meta
                .get(SCHEMA_KEY)
                .map_err(self.db_err("read schema version"))?
                .map(|v| {
                    let b = v.value();
                    <[u8; 4]>::try_from(b).map(u32::from_le_bytes).map_err(|_| {
                        self.corrupt(
                            "rvp_meta",
                            SCHEMA_KEY.into(),
                            DecodeError {
                                what: format!("schema version of {} bytes", b.len()),
                            },
                        )
                    })
                })
                .transpose()?;
            match found {
                Some(SCHEMA_VERSION) => {}
                Some(found) => {
                    return Err(StoreError::SchemaMismatch {
                        path: self.path.clone(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
                None => {
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_le_bytes().as_slice())
                        .map_err(self.db_err("write schema version"))?;
                }
            }
            // Create every table, so that a read transaction finds them.
            txn.open_table(SUBSCRIPTIONS)
                .map_err(self.db_err("open rvp_subscriptions"))?;
            txn.open_table(VIEWS)
                .map_err(self.db_err("open rvp_views"))?;
            txn.open_table(ACLS).map_err(self.db_err("open rvp_acls"))?;
        }
        txn.commit().map_err(self.db_err("commit"))?;
        Ok(())
    }

    /// Writes `changes` in order in one durable transaction (module docs: when this
    /// returns `Ok`, every change is on disk; on `Err` none is, and the caller must not
    /// release the answers the batch covers). An empty batch writes nothing.
    pub fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let ops = self.ops_of(changes)?;
        self.apply_ops(
            ops.iter()
                .map(|op| (op.table, &op.key, op.value.as_deref())),
            None,
        )
    }

    /// The store operations `changes` stand for, in order (deadlines converted with the
    /// anchor).
    pub(crate) fn ops_of(&self, changes: &[Change]) -> Result<Vec<Op>, StoreError> {
        let mut ops = Vec::with_capacity(changes.len());
        for change in changes {
            let (table, key, value) = match change {
                Change::PutSubscription(r) => (
                    Table::Subscriptions,
                    Key::Id(r.id.get()),
                    Some(codec::encode_subscription(&self.stored_subscription(r))),
                ),
                Change::DeleteSubscription(id) => (Table::Subscriptions, Key::Id(id.get()), None),
                Change::PutView(r) => (
                    Table::Views,
                    Key::Id(r.id.get()),
                    Some(codec::encode_view(&self.stored_view(r))),
                ),
                Change::DeleteView(id) => (Table::Views, Key::Id(id.get()), None),
                Change::PutAcl(r) => (
                    Table::Acls,
                    Key::Name(codec::node_key_string(&r.node)),
                    Some(codec::encode_acl(&r.node, &r.acl)),
                ),
                Change::DeleteAcl(node) => {
                    (Table::Acls, Key::Name(codec::node_key_string(node)), None)
                }
                Change::Counters(c) => (
                    Table::Meta,
                    Key::Name(COUNTERS_KEY.into()),
                    Some(codec::encode_counters(c)),
                ),
                other => {
                    return Err(StoreError::UnknownChange {
                        path: self.path.clone(),
                        change: format!("{other:?}"),
                    });
                }
            };
            ops.push(Op { table, key, value });
        }
        Ok(ops)
    }

    /// Writes `ops` in one durable transaction ([`Durability::Immediate`]), and, with
    /// `wal_seq`, records that the store now holds the write-ahead log up to that record
    /// (in the same transaction). All or nothing.
    pub(crate) fn apply_ops<'a>(
        &self,
        ops: impl IntoIterator<Item = (Table, &'a Key, Option<&'a [u8]>)>,
        wal_seq: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(self.db_err("begin write"))?;
        txn.set_durability(Durability::Immediate)
            .map_err(self.db_err("set durability"))?;
        {
            let mut meta = txn.open_table(META).map_err(self.db_err("open rvp_meta"))?;
            let mut subs = txn
                .open_table(SUBSCRIPTIONS)
                .map_err(self.db_err("open rvp_subscriptions"))?;
            let mut views = txn
                .open_table(VIEWS)
                .map_err(self.db_err("open rvp_views"))?;
            let mut acls = txn.open_table(ACLS).map_err(self.db_err("open rvp_acls"))?;
            for (table, key, value) in ops {
                // Dropping the transaction on an error aborts it: nothing of the batch lands.
                match (table, key, value) {
                    (Table::Subscriptions, Key::Id(id), Some(v)) => {
                        subs.insert(*id, v)
                            .map_err(self.db_err("write subscription"))?;
                    }
                    (Table::Subscriptions, Key::Id(id), None) => {
                        subs.remove(*id)
                            .map_err(self.db_err("delete subscription"))?;
                    }
                    (Table::Views, Key::Id(id), Some(v)) => {
                        views.insert(*id, v).map_err(self.db_err("write view"))?;
                    }
                    (Table::Views, Key::Id(id), None) => {
                        views.remove(*id).map_err(self.db_err("delete view"))?;
                    }
                    (Table::Acls, Key::Name(k), Some(v)) => {
                        acls.insert(k.as_str(), v)
                            .map_err(self.db_err("write ACL"))?;
                    }
                    (Table::Acls, Key::Name(k), None) => {
                        acls.remove(k.as_str()).map_err(self.db_err("delete ACL"))?;
                    }
                    (Table::Meta, Key::Name(k), Some(v)) if k != SCHEMA_KEY && k != WAL_SEQ_KEY => {
                        meta.insert(k.as_str(), v)
                            .map_err(self.db_err("write meta"))?;
                    }
                    (table, key, value) => {
                        return Err(self.corrupt(
                            "write-ahead log",
                            format!("{table:?} {key:?}"),
                            DecodeError {
                                what: format!(
                                    "not a storable operation ({})",
                                    if value.is_some() { "put" } else { "delete" }
                                ),
                            },
                        ));
                    }
                }
            }
            if let Some(seq) = wal_seq {
                meta.insert(WAL_SEQ_KEY, seq.to_le_bytes().as_slice())
                    .map_err(self.db_err("write wal_seq"))?;
            }
        }
        txn.commit().map_err(self.db_err("commit"))?;
        Ok(())
    }

    /// The last write-ahead-log record this store holds (0: none).
    pub fn wal_seq(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(self.db_err("begin read"))?;
        let meta = txn.open_table(META).map_err(self.db_err("open rvp_meta"))?;
        let Some(v) = meta.get(WAL_SEQ_KEY).map_err(self.db_err("read wal_seq"))? else {
            return Ok(0);
        };
        let b = v.value();
        <[u8; 8]>::try_from(b).map(u64::from_le_bytes).map_err(|_| {
            self.corrupt(
                "rvp_meta",
                WAL_SEQ_KEY.into(),
                DecodeError {
                    what: format!("wal_seq of {} bytes", b.len()),
                },
            )
        })
    }

    /// Reads everything stored, deadlines converted to `Instant`s with the anchor, ready
    /// for [`rvp_presence::Engine::restore`].
    pub fn load(&self) -> Result<Records, StoreError> {
        let txn = self.db.begin_read().map_err(self.db_err("begin read"))?;
        let mut out = Records::default();

        let meta = txn.open_table(META).map_err(self.db_err("open rvp_meta"))?;
        if let Some(v) = meta
            .get(COUNTERS_KEY)
            .map_err(self.db_err("read counters"))?
        {
            out.counters = codec::decode_counters(v.value())
                .map_err(|e| self.corrupt("rvp_meta", COUNTERS_KEY.into(), e))?;
        }

        let subs = txn
            .open_table(SUBSCRIPTIONS)
            .map_err(self.db_err("open rvp_subscriptions"))?;
        for entry in subs.iter().map_err(self.db_err("read subscriptions"))? {
            let (k, v) = entry.map_err(self.db_err("read subscription"))?;
            let key = k.value();
            let s = codec::decode_subscription(v.value())
                .map_err(|e| self.corrupt("rvp_subscriptions", key.to_string(), e))?;
            if s.id.get() != key {
                return Err(self.corrupt(
                    "rvp_subscriptions",
                    key.to_string(),
                    DecodeError {
                        what: format!("holds subscription {}", s.id),
                    },
                ));
            }
            out.subscriptions.insert(s.id, self.subscription_record(s));
        }

        let views = txn
            .open_table(VIEWS)
            .map_err(self.db_err("open rvp_views"))?;
        for entry in views.iter().map_err(self.db_err("read views"))? {
            let (k, v) = entry.map_err(self.db_err("read view"))?;
            let key = k.value();
            let s = codec::decode_view(v.value())
                .map_err(|e| self.corrupt("rvp_views", key.to_string(), e))?;
            if s.id.get() != key {
                return Err(self.corrupt(
                    "rvp_views",
                    key.to_string(),
                    DecodeError {
                        what: format!("holds view {}", s.id),
                    },
                ));
            }
            out.views.insert(s.id, self.view_record(s));
        }

        let acls = txn.open_table(ACLS).map_err(self.db_err("open rvp_acls"))?;
        for entry in acls.iter().map_err(self.db_err("read ACLs"))? {
            let (k, v) = entry.map_err(self.db_err("read ACL"))?;
            let key = k.value().to_owned();
            let (node, acl) = codec::decode_acl(v.value())
                .map_err(|e| self.corrupt("rvp_acls", key.clone(), e))?;
            if codec::node_key_string(&node) != key {
                return Err(self.corrupt(
                    "rvp_acls",
                    key,
                    DecodeError {
                        what: format!("holds the ACL of {}", node.logical_url()),
                    },
                ));
            }
            out.acls.insert(node.clone(), AclRecord { node, acl });
        }
        Ok(out)
    }

    fn stored_subscription(&self, r: &SubscriptionRecord) -> StoredSubscription {
        StoredSubscription {
            id: r.id,
            node: r.node.clone(),
            kind: r.kind,
            callback: r.callback.clone(),
            subscriber: r.subscriber.clone(),
            proof: r.proof,
            granted_secs: r.granted_secs,
            expires_ms: self.anchor.to_unix_ms(r.expires),
            failures: r.failures,
            first_failure_ms: r.first_failure.map(|t| self.anchor.to_unix_ms(t)),
        }
    }

    fn subscription_record(&self, s: StoredSubscription) -> SubscriptionRecord {
        SubscriptionRecord {
            id: s.id,
            node: s.node,
            kind: s.kind,
            callback: s.callback,
            subscriber: s.subscriber,
            proof: s.proof,
            granted_secs: s.granted_secs,
            expires: self.anchor.to_instant(s.expires_ms),
            failures: s.failures,
            first_failure: s.first_failure_ms.map(|t| self.anchor.to_instant(t)),
        }
    }

    fn stored_view(&self, r: &ViewRecord) -> StoredView {
        StoredView {
            node: r.node.clone(),
            id: r.id,
            state: r.state.clone(),
            expires_ms: self.anchor.to_unix_ms(r.expires),
            set_order: r.set_order,
            bound_to: r.bound_to.clone(),
        }
    }

    fn view_record(&self, s: StoredView) -> ViewRecord {
        ViewRecord {
            node: s.node,
            id: s.id,
            state: s.state,
            expires: self.anchor.to_instant(s.expires_ms),
            set_order: s.set_order,
            bound_to: s.bound_to,
        }
    }
}
