//! The engine task's core ([`crate::engine::Core`]): the presence engine with its durable
//! store (group commit: outputs released only once their changes are on disk) and the
//! compliance archive. The home server runs it; reloads and the admin listener reach it
//! through its [`EngineHandle`](crate::engine::EngineHandle).

use std::time::Instant;

use bytes::Bytes;
use rvp_presence::{Answer, Caller, Change, Delivery, DeliveryId, Engine, Output};
use tokio::sync::oneshot;

use crate::archive::{ArchiveError, ArchiveWriter};
use crate::engine::{CommitFailed, Core, CoreOutput, RequestId};
use crate::store::{DurableStore, StoreError, SyncMode};

/// One request for the engine: who asks, and the request as the connection typed it
/// (once, leniently: `RequestHead::typed_lenient`), with its body.
#[derive(Debug)]
pub struct PresenceRequest {
    /// The caller (asserted and authenticated identities, source IP).
    pub caller: Caller,
    /// Method class, request-target and every RVP header, typed (boxed: moved through the
    /// engine's channel as a pointer).
    pub typed: Box<rvp_proto::codec::TypedRequest>,
    /// The body (shared with the connection's buffer, not copied).
    pub body: Bytes,
}

/// The presence engine and its store, as the engine task's [`Core`].
pub struct PresenceCore {
    engine: Engine,
    store: Option<DurableStore>,
    buf: Vec<Change>,
    fatal: Option<oneshot::Sender<String>>,
    /// [`Engine::dropped_deliveries`] when last looked at (each increase is logged).
    dropped_seen: u64,
    /// The compliance archive, when on: relayed NOTIFYs, written in `commit` first.
    archive: Option<ArchiveWriter>,
}

impl std::fmt::Debug for PresenceCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceCore")
            .field("store", &self.store)
            .field("pending_outputs", &self.engine.pending_outputs())
            .finish_non_exhaustive()
    }
}

impl PresenceCore {
    /// A core over `engine`, committing to `store` (none: memory only, nothing
    /// survives a restart). `fatal` hears about a commit failure.
    pub fn new(
        engine: Engine,
        store: Option<DurableStore>,
        fatal: Option<oneshot::Sender<String>>,
    ) -> PresenceCore {
        PresenceCore {
            engine,
            store,
            buf: Vec::new(),
            fatal,
            dropped_seen: 0,
            archive: None,
        }
    }

    /// Archives every NOTIFY the engine relays into `archive`, in each commit before
    /// anything of the batch is released ([`crate::archive`]).
    pub fn with_archive(mut self, archive: ArchiveWriter) -> PresenceCore {
        self.archive = Some(archive);
        self
    }

    /// Closes the archive, if any (queued records written, synced). [`PresenceCore::close`]
    /// and dropping do it too, reporting an error only in the diagnostics.
    pub fn close_archive(&mut self) -> Result<(), ArchiveError> {
        self.archive.take().map_or(Ok(()), ArchiveWriter::close)
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, to change it outside requests (a configuration reload, through
    /// [`EngineHandle::with_core`](crate::engine::EngineHandle::with_core)): what it changes is committed before its outputs leave.
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The store, if the core has one (the engine task stops when it fails).
    pub fn store(&self) -> Option<&DurableStore> {
        self.store.as_ref()
    }

    /// Stops the store cleanly (last checkpoint, log emptied). Dropping the core does
    /// the same, reporting an error only in the diagnostics.
    pub fn close(self) -> Result<(), StoreError> {
        match self.store {
            Some(s) => s.close(),
            None => Ok(()),
        }
    }
}

impl Core for PresenceCore {
    type Request = PresenceRequest;
    type Response = Box<Answer>;
    type Event = (DeliveryId, rvp_presence::DeliveryOutcome);
    type Effect = Delivery;

    fn handle_request(&mut self, now: Instant, id: RequestId, request: PresenceRequest) {
        let before = self.engine.pending_outputs();
        self.engine
            .handle_request(now, id, &request.caller, &request.typed, &request.body);
        if let Some(archive) = &mut self.archive
            && request.typed.method == rvp_proto::MethodClass::Rvp(rvp_proto::Method::Notify)
        {
            let added = self.engine.pending_outputs().saturating_sub(before);
            let time = std::time::SystemTime::now();
            if let Some(entry) = crate::archive::relayed_entry(&self.engine, added, time) {
                archive.push(entry);
            }
        }
    }

    fn handle_event(&mut self, now: Instant, (id, outcome): Self::Event) {
        self.engine.handle_delivery_result(now, id, outcome);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
    }

    fn poll_output(&mut self) -> Option<CoreOutput<Box<Answer>, Delivery>> {
        let dropped = self.engine.dropped_deliveries();
        if dropped != self.dropped_seen {
            tracing::warn!(
                dropped = dropped - self.dropped_seen,
                total = dropped,
                "a change wanted more NOTIFYs than policy.max_deliveries_per_change: the rest were dropped"
            );
            self.dropped_seen = dropped;
        }
        match self.engine.poll_output()? {
            Output::Respond(a) => Some(CoreOutput::Respond(a.request, a)),
            Output::Deliver(d) => Some(CoreOutput::Effect(d)),
            other => {
                tracing::warn!(?other, "unknown engine output ignored");
                self.poll_output()
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    fn is_committed(&self) -> bool {
        !self.engine.has_changes() && self.archive.as_ref().is_none_or(|a| a.pending() == 0)
    }

    fn commit(&mut self) -> Result<Option<usize>, CommitFailed> {
        // The archive first: the record of a relayed NOTIFY is written before anything of
        // its batch (a delivery, the sender's answer) leaves.
        if let Some(archive) = &mut self.archive
            && let Err(e) = waiting_for_disk(archive.commit_syncs(), || archive.commit())
        {
            return Err(self.failed(e.to_string()));
        }
        let Some(store) = &mut self.store else {
            return Ok(None);
        };
        let (engine, buf) = (&mut self.engine, &mut self.buf);
        // One write(2) unless `storage_sync = "always"` (an ACL change adds an fdatasync,
        // rarely enough not to hand the worker over).
        let syncs = engine.has_changes() && store.options().sync == SyncMode::Always;
        match waiting_for_disk(syncs, || store.commit_engine(engine, buf)) {
            Ok(covered) => Ok(Some(covered)),
            Err(e) => Err(self.failed(e.to_string())),
        }
    }
}

impl PresenceCore {
    /// A commit failed: tells whoever waits for that (the server stops).
    fn failed(&mut self, msg: String) -> CommitFailed {
        if let Some(tx) = self.fatal.take() {
            let _ = tx.send(msg.clone());
        }
        CommitFailed(msg)
    }
}

/// Runs `commit`, which waits for the disk when `syncs` (`storage_sync = "always"`): on a
/// multi-threaded runtime tokio is told this worker blocks, so that the connection tasks
/// queued on it move to another.
pub(crate) fn waiting_for_disk<T>(syncs: bool, commit: impl FnOnce() -> T) -> T {
    let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
    match flavor {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) if syncs => {
            tokio::task::block_in_place(commit)
        }
        _ => commit(),
    }
}
