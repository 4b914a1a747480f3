//! The engine task: one tokio task that owns the sans-IO presence engine.
//!
//! ```text
//!  connection tasks ──(request, oneshot)──► bounded mpsc ──► engine task ──► Core::handle_request(now, id, req)
//!  delivery workers ──(event)─────────────►      │                       ──► Core::handle_event(now, ev)
//!                                                │  sleep until Core::poll_timeout() ──► handle_timeout(now)
//!                                                ▼
//!                      Core::poll_output() ──► Respond(id, answer) ──► that request's oneshot
//!                                          └─► Effect(e) ───────────► Effects::dispatch (delivery queues)
//! ```
//!
//! Why this shape:
//! * **One owner, no locks.** The presence engine is a deterministic state machine
//!   (`handle_*(now, ..)` in, `poll_*()` out). Exactly one task owns it, so it needs no
//!   mutex, every change happens in one total order (the order of the channel), and the
//!   engine never sees two requests at once. A request is a message; the answer comes back
//!   on a oneshot channel.
//! * **Answers may come later.** `handle_request` does not return the answer: the engine
//!   emits it from `poll_output` when it is decided, possibly after other inputs (a
//!   `DeepOr` NOTIFY is answered once the downstream delivery is acknowledged, reported
//!   through `handle_event`). The task keeps the pending oneshots by [`RequestId`].
//! * **Bounded.** The request channel holds [`DEFAULT_QUEUE`] messages by default; when
//!   the engine falls behind, callers wait in `send` (back-pressure reaches the sockets)
//!   instead of queueing without limit.
//! * **Batches.** The task takes the inputs waiting (at most 64) as one batch, commits
//!   once ([`Core::commit`]) and then releases the batch's outputs. When the first input
//!   of a batch finds the channel otherwise empty, the task yields once before closing the
//!   batch: the connection tasks that are ready to run (their requests read, parsed and
//!   authenticated) hand theirs over first and share the commit — one store write for a
//!   batch instead of one per request under load. A yield that brought nothing in (an
//!   idle server, one client) is not tried again for the next 8 batches, so a quiet
//!   server pays one more scheduler pass for one batch in nine. An input that leaves
//!   nothing to make durable ([`Core::is_committed`]: a NOTIFY to an offline user, a
//!   PROPFIND) neither yields nor waits: its outputs leave as soon as it is handled.
//! * **Time.** The engine task reads the clock itself when it hands an input over, so the
//!   engine sees non-decreasing instants even though connections run concurrently. It
//!   sleeps until the engine's earliest deadline (one timer, not one per subscription).
//! * **Effects never block the engine.** [`Effects::dispatch`] must return at once (push
//!   to a bounded per-callback queue, coalesce or drop per its own policy).
//! * **Stopping.** When every [`EngineHandle`] is dropped the channel closes; the task
//!   hands out what the engine still has to say and returns the core from its
//!   `JoinHandle`, so the caller can persist it.
//!
//! ```
//! use std::time::Instant;
//! use rvp_server::engine::{self, Core, CoreOutput, RequestId};
//!
//! /// Answers every request with its double.
//! #[derive(Default)]
//! struct Doubler(Vec<(RequestId, u32)>);
//!
//! impl Core for Doubler {
//!     type Request = u32;
//!     type Response = u32;
//!     type Event = ();
//!     type Effect = ();
//!     fn handle_request(&mut self, _now: Instant, id: RequestId, n: u32) {
//!         self.0.push((id, 2 * n));
//!     }
//!     fn handle_event(&mut self, _now: Instant, _event: ()) {}
//!     fn handle_timeout(&mut self, _now: Instant) {}
//!     fn poll_output(&mut self) -> Option<CoreOutput<u32, ()>> {
//!         self.0.pop().map(|(id, n)| CoreOutput::Respond(id, n))
//!     }
//!     fn poll_timeout(&self) -> Option<Instant> {
//!         None
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (handle, task) = engine::spawn(Doubler::default(), |_: ()| {}, engine::DEFAULT_QUEUE);
//! assert_eq!(handle.call(21).await, Ok(42));
//! drop(handle);
//! let _core: Doubler = task.await.expect("engine task");
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Default capacity of the request channel.
pub const DEFAULT_QUEUE: usize = 1024;

/// Inputs handled per wake-up before outputs are polled (fairness with timers).
const BATCH: usize = 64;

/// After a group-commit yield that brought no other input in, the batches that close
/// without yielding before it is tried again.
const YIELD_RETRY: u32 = 8;

/// Names one request inside the engine; chosen by the engine task, echoed by the core in
/// [`CoreOutput::Respond`] (the shared `rvp-proto` type, the one the presence engine
/// echoes too).
pub use rvp_proto::RequestId;

/// What a core wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoreOutput<R, E> {
    /// Answer request `id`.
    Respond(RequestId, R),
    /// Do something outside (deliver a NOTIFY, persist a change...).
    Effect(E),
}

/// A sans-IO state machine the engine task can own: the presence engine, behind a thin
/// adapter (its own request and output types map onto these).
///
/// Contract: every request handed in is eventually answered with exactly one
/// [`CoreOutput::Respond`] carrying its id.
pub trait Core: Send + 'static {
    /// A request (typed, plus whatever the auth layer established about the caller).
    type Request: Send + 'static;
    /// Its answer.
    type Response: Send + 'static;
    /// Inputs that are not requests (delivery outcomes).
    type Event: Send + 'static;
    /// Work for the outside world.
    type Effect: Send + 'static;

    /// Takes a request in.
    fn handle_request(&mut self, now: Instant, id: RequestId, request: Self::Request);
    /// Takes an event in.
    fn handle_event(&mut self, now: Instant, event: Self::Event);
    /// The deadline from [`Core::poll_timeout`] passed.
    fn handle_timeout(&mut self, now: Instant);
    /// The next output, if any.
    fn poll_output(&mut self) -> Option<CoreOutput<Self::Response, Self::Effect>>;
    /// The earliest instant [`Core::handle_timeout`] must be called at.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Makes the inputs handled so far durable before any of their outputs leaves (group
    /// commit: the engine task calls it once per batch of ready inputs, not per input).
    /// Returns how many of the queued outputs the commit covers — exactly that many are
    /// then polled and released; `None` releases everything (a core without storage, the
    /// default). An error stops the engine task at once, without releasing anything:
    /// the core's memory is ahead of its disk, so no answer may go out.
    fn commit(&mut self) -> Result<Option<usize>, CommitFailed> {
        Ok(None)
    }

    /// Whether [`Core::commit`] has nothing to write: every input handled so far is
    /// durable, so the outputs queued now may leave before the batch closes. `false` (the
    /// default) keeps every output until the batch's commit.
    fn is_committed(&self) -> bool {
        false
    }
}

/// [`Core::commit`] failed; the engine task stops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("commit failed: {0}")]
pub struct CommitFailed(pub String);

/// Where the engine's effects go. Must not block: the engine waits for it.
pub trait Effects<E>: Send + 'static {
    /// Takes one effect.
    fn dispatch(&mut self, effect: E);
}

impl<E, F: FnMut(E) + Send + 'static> Effects<E> for F {
    fn dispatch(&mut self, effect: E) {
        self(effect);
    }
}

/// The engine task is gone (it panicked, or the runtime is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the engine task is not running")]
pub struct EngineGone;

/// Work for the core outside requests and events ([`EngineHandle::with_core`]).
type CoreFn<C> = Box<dyn FnOnce(&mut C, Instant) + Send>;

enum Command<C: Core> {
    Request(C::Request, oneshot::Sender<C::Response>),
    Event(C::Event),
    With(CoreFn<C>),
    Stop,
}

/// A cheap, cloneable way to talk to the engine task.
pub struct EngineHandle<C: Core> {
    tx: mpsc::Sender<Command<C>>,
}

impl<C: Core> Clone for EngineHandle<C> {
    fn clone(&self) -> Self {
        EngineHandle {
            tx: self.tx.clone(),
        }
    }
}

impl<C: Core> fmt::Debug for EngineHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineHandle")
            .field("queued", &(self.tx.max_capacity() - self.tx.capacity()))
            .finish()
    }
}

impl<C: Core> EngineHandle<C> {
    /// Hands a request to the engine and waits for its answer. Waits for room in the
    /// channel when the engine is behind. Dropping the future abandons the answer (the
    /// engine still processes the request).
    pub async fn call(&self, request: C::Request) -> Result<C::Response, EngineGone> {
        // Room first, then the request: `Sender::send` would keep the request inside its
        // future while it waits, so the caller's future would hold it twice.
        let permit = self.tx.reserve().await.map_err(|_| EngineGone)?;
        let (tx, rx) = oneshot::channel();
        permit.send(Command::Request(request, tx));
        rx.await.map_err(|_| EngineGone)
    }

    /// Hands an event to the engine (waits for room in the channel).
    pub async fn event(&self, event: C::Event) -> Result<(), EngineGone> {
        self.tx
            .send(Command::Event(event))
            .await
            .map_err(|_| EngineGone)
    }

    /// Runs `f` on the core inside the engine task, in turn with the requests and events
    /// queued before it, and returns its result: to read the core (metrics) or change it
    /// outside the request path (a configuration reload). Whatever `f` changes is
    /// committed ([`Core::commit`]) before any output it causes is released, as for a
    /// request. `f` runs on the engine task: it must be quick and must not block.
    pub async fn with_core<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut C, Instant) -> R + Send + 'static,
    ) -> Result<R, EngineGone> {
        let (tx, rx) = oneshot::channel();
        let job: CoreFn<C> = Box::new(move |core, now| {
            let _ = tx.send(f(core, now));
        });
        self.tx
            .send(Command::With(job))
            .await
            .map_err(|_| EngineGone)?;
        rx.await.map_err(|_| EngineGone)
    }

    /// Inputs waiting in the channel for the engine task (at most the queue size given
    /// to [`spawn`]).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Asks the engine task to stop after the inputs queued before this one: it commits,
    /// releases what the commit covers and returns the core from its `JoinHandle`, even
    /// if other handles are still alive (their later calls fail with [`EngineGone`]).
    pub async fn stop(&self) -> Result<(), EngineGone> {
        self.tx.send(Command::Stop).await.map_err(|_| EngineGone)
    }
}

impl<C: Core> EngineHandle<C> {
    /// A handle that does not keep the engine task alive (for helpers such as a delivery
    /// report forwarder, which must not stop the task from ending when the server's own
    /// handles are dropped).
    pub fn downgrade(&self) -> WeakEngineHandle<C> {
        WeakEngineHandle {
            tx: self.tx.downgrade(),
        }
    }
}

/// See [`EngineHandle::downgrade`].
pub struct WeakEngineHandle<C: Core> {
    tx: mpsc::WeakSender<Command<C>>,
}

impl<C: Core> Clone for WeakEngineHandle<C> {
    fn clone(&self) -> Self {
        WeakEngineHandle {
            tx: self.tx.clone(),
        }
    }
}

impl<C: Core> fmt::Debug for WeakEngineHandle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakEngineHandle").finish_non_exhaustive()
    }
}

impl<C: Core> WeakEngineHandle<C> {
    /// A full handle, if the engine task still runs.
    pub fn upgrade(&self) -> Option<EngineHandle<C>> {
        self.tx.upgrade().map(|tx| EngineHandle { tx })
    }
}

/// The callers waiting for an answer, by request id.
type Pending<R> = HashMap<RequestId, oneshot::Sender<R>, BuildHasherDefault<IdHasher>>;

/// Hashes the engine's own request ids (sequential, never chosen by a caller) with one
/// multiplication instead of SipHash: the map is touched twice per request.
#[derive(Debug, Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing: consecutive ids spread over the high bits, which hashbrown
        // uses for its control bytes.
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Spawns the engine task on the current runtime. The task ends when every handle is
/// dropped, and returns the core.
pub fn spawn<C: Core, X: Effects<C::Effect>>(
    core: C,
    effects: X,
    queue: usize,
) -> (EngineHandle<C>, JoinHandle<C>) {
    let (tx, rx) = mpsc::channel(queue.max(1));
    let task = tokio::spawn(run(core, effects, rx));
    (EngineHandle { tx }, task)
}

async fn run<C: Core, X: Effects<C::Effect>>(
    mut core: C,
    mut effects: X,
    mut rx: mpsc::Receiver<Command<C>>,
) -> C {
    let mut pending: Pending<C::Response> = HashMap::default();
    let mut next_id = 0u64;
    let mut purge_at = 1024usize;
    // Group commit (see the module docs): batches left until the next yield is tried,
    // after a yield that brought nothing in (an idle server pays for one in
    // `YIELD_RETRY`).
    let mut yield_skip = 0u32;
    loop {
        if !commit_then_release(&mut core, &mut effects, &mut pending) {
            return core;
        }
        // Callers that gave up leave closed senders behind; the core answers them anyway,
        // but a misbehaving core must not grow the map for ever.
        if pending.len() >= purge_at {
            pending.retain(|_, tx| !tx.is_closed());
            purge_at = (pending.len() * 2).max(1024);
        }
        let deadline = core.poll_timeout();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                let mut next = Some(cmd);
                let mut n = 0;
                let mut stop = false;
                let mut yielded = false;
                while let Some(cmd) = next.take() {
                    let now = Instant::now();
                    match cmd {
                        Command::Request(req, tx) => {
                            let id = RequestId(next_id);
                            next_id += 1;
                            pending.insert(id, tx);
                            core.handle_request(now, id, req);
                        }
                        Command::Event(ev) => core.handle_event(now, ev),
                        Command::With(f) => f(&mut core, now),
                        Command::Stop => {
                            stop = true;
                            break;
                        }
                    }
                    n += 1;
                    // Nothing to make durable (a NOTIFY to an offline user, a PROPFIND):
                    // the outputs leave now instead of waiting for the batch to close.
                    let committed = core.is_committed();
                    if committed {
                        drain_outputs(&mut core, &mut effects, &mut pending, usize::MAX);
                    }
                    if n < BATCH {
                        next = rx.try_recv().ok();
                        // Group commit: when the first input is alone, the connection
                        // tasks that are ready run once before the batch closes, so that
                        // their requests share its commit (one store write for many).
                        if next.is_none() && !yielded && !committed {
                            yielded = true;
                            if yield_skip == 0 {
                                tokio::task::yield_now().await;
                                next = rx.try_recv().ok();
                                if next.is_none() {
                                    yield_skip = YIELD_RETRY;
                                }
                            } else {
                                yield_skip -= 1;
                            }
                        }
                    }
                }
                if stop {
                    break;
                }
            }
            () = sleep => core.handle_timeout(Instant::now()),
        }
    }
    commit_then_release(&mut core, &mut effects, &mut pending);
    core
}

/// [`Core::commit`], then exactly the outputs it covers. `false`: the commit failed.
fn commit_then_release<C: Core, X: Effects<C::Effect>>(
    core: &mut C,
    effects: &mut X,
    pending: &mut Pending<C::Response>,
) -> bool {
    match core.commit() {
        Ok(covered) => {
            drain_outputs(core, effects, pending, covered.unwrap_or(usize::MAX));
            true
        }
        Err(e) => {
            tracing::error!("{e}: the engine stops; nothing more is answered");
            false
        }
    }
}

fn drain_outputs<C: Core, X: Effects<C::Effect>>(
    core: &mut C,
    effects: &mut X,
    pending: &mut Pending<C::Response>,
    limit: usize,
) {
    let mut released = 0;
    while released < limit
        && let Some(out) = core.poll_output()
    {
        released += 1;
        match out {
            CoreOutput::Respond(id, answer) => match pending.remove(&id) {
                // The caller may have given up (client gone, handler time-out).
                Some(tx) => {
                    let _ = tx.send(answer);
                }
                None => tracing::warn!(id = id.0, "engine answered an unknown request"),
            },
            CoreOutput::Effect(e) => effects.dispatch(e),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;

    /// Consecutive ids land in different buckets and carry different control bytes (the
    /// hash's top 7 bits), so the pending map stays a one-probe lookup.
    #[test]
    fn request_ids_hash_apart() {
        let hash = |id: u64| {
            let mut h = IdHasher::default();
            std::hash::Hash::hash(&RequestId(id), &mut h);
            h.finish()
        };
        let tops: std::collections::HashSet<u64> = (0..1024).map(|i| hash(i) >> 57).collect();
        assert_eq!(tops.len(), 128, "every control byte used");
        let lows: std::collections::HashSet<u64> = (0..1024).map(|i| hash(i) & 1023).collect();
        assert!(lows.len() > 600, "{} of 1024 low-bit buckets", lows.len());
        let mut map: Pending<u64> = HashMap::default();
        let mut rxs = Vec::new();
        for i in 0..10_000 {
            let (tx, rx) = oneshot::channel();
            map.insert(RequestId(i), tx);
            rxs.push(rx);
        }
        for i in (0..10_000).step_by(3) {
            assert!(map.remove(&RequestId(i)).is_some());
        }
        assert_eq!(map.len(), 10_000 - 3334);
    }

    /// A fake engine: `Echo(n)` answers at once; `Later(n)` answers when event `n`
    /// arrives; `Timer(ms)` answers when its deadline passes; every request also emits an
    /// effect.
    #[derive(Default)]
    struct Fake {
        out: VecDeque<CoreOutput<String, u64>>,
        waiting: HashMap<u64, RequestId>,
        timers: Vec<(Instant, RequestId)>,
        timeouts_handled: usize,
    }

    enum Req {
        Echo(u64),
        Later(u64),
        Timer(u64),
    }

    impl Core for Fake {
        type Request = Req;
        type Response = String;
        type Event = u64;
        type Effect = u64;
        fn handle_request(&mut self, now: Instant, id: RequestId, req: Req) {
            match req {
                Req::Echo(n) => {
                    self.out.push_back(CoreOutput::Effect(n));
                    self.out
                        .push_back(CoreOutput::Respond(id, format!("echo {n}")));
                }
                Req::Later(n) => {
                    self.waiting.insert(n, id);
                }
                Req::Timer(ms) => self.timers.push((now + Duration::from_millis(ms), id)),
            }
        }
        fn handle_event(&mut self, _now: Instant, n: u64) {
            if let Some(id) = self.waiting.remove(&n) {
                self.out
                    .push_back(CoreOutput::Respond(id, format!("later {n}")));
            }
        }
        fn handle_timeout(&mut self, now: Instant) {
            self.timeouts_handled += 1;
            let (due, rest): (Vec<_>, Vec<_>) = self.timers.iter().partition(|(t, _)| *t <= now);
            self.timers = rest;
            for (_, id) in due {
                self.out.push_back(CoreOutput::Respond(id, "timer".into()));
            }
        }
        fn poll_output(&mut self) -> Option<CoreOutput<String, u64>> {
            self.out.pop_front()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.timers.iter().map(|(t, _)| *t).min()
        }
    }

    #[tokio::test]
    async fn requests_events_timers_effects() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let (h, task) = spawn(Fake::default(), move |e| sink.lock().unwrap().push(e), 4);
        assert_eq!(h.call(Req::Echo(7)).await.unwrap(), "echo 7");
        // An answer that waits for an event, while other requests proceed.
        let h2 = h.clone();
        let later = tokio::spawn(async move { h2.call(Req::Later(5)).await });
        assert_eq!(h.call(Req::Echo(8)).await.unwrap(), "echo 8");
        h.event(5).await.unwrap();
        assert_eq!(later.await.unwrap().unwrap(), "later 5");
        // An answer decided by the engine's timer.
        let t = tokio::time::timeout(Duration::from_secs(5), h.call(Req::Timer(20))).await;
        assert_eq!(t.unwrap().unwrap(), "timer");
        drop(h);
        let core = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert!(core.timeouts_handled >= 1);
        assert_eq!(*seen.lock().unwrap(), vec![7, 8]);
    }

    /// Answers each request at once, but releases outputs only as far as its "disk" says.
    #[derive(Default)]
    struct Journaled {
        out: VecDeque<CoreOutput<u64, u64>>,
        /// Outputs the next commit covers (`None`: everything queued).
        covers: Arc<Mutex<Option<usize>>>,
        fail: Arc<std::sync::atomic::AtomicBool>,
        /// What [`Core::is_committed`] says.
        clean: Arc<std::sync::atomic::AtomicBool>,
        commits: usize,
    }

    impl Core for Journaled {
        type Request = u64;
        type Response = u64;
        type Event = ();
        type Effect = u64;
        fn handle_request(&mut self, _now: Instant, id: RequestId, n: u64) {
            self.out.push_back(CoreOutput::Effect(n));
            self.out.push_back(CoreOutput::Respond(id, n));
        }
        fn handle_event(&mut self, _now: Instant, _event: ()) {}
        fn handle_timeout(&mut self, _now: Instant) {}
        fn poll_output(&mut self) -> Option<CoreOutput<u64, u64>> {
            self.out.pop_front()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn commit(&mut self) -> Result<Option<usize>, CommitFailed> {
            self.commits += 1;
            if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(CommitFailed("disk full".into()));
            }
            Ok(Some(self.covers.lock().unwrap().unwrap_or(self.out.len())))
        }
        fn is_committed(&self) -> bool {
            self.clean.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// A [`Journaled`] core on its task: the handle, the task, the knobs the tests turn
    /// and the effects released so far.
    struct Rig {
        h: EngineHandle<Journaled>,
        task: JoinHandle<Journaled>,
        covers: Arc<Mutex<Option<usize>>>,
        fail: Arc<std::sync::atomic::AtomicBool>,
        clean: Arc<std::sync::atomic::AtomicBool>,
        seen: Arc<Mutex<Vec<u64>>>,
    }

    /// Commits that cover nothing and a core that is never committed, until a test says
    /// otherwise.
    fn rig() -> Rig {
        let core = Journaled {
            covers: Arc::new(Mutex::new(Some(0))),
            ..Journaled::default()
        };
        let (covers, fail, clean) = (
            Arc::clone(&core.covers),
            Arc::clone(&core.fail),
            Arc::clone(&core.clean),
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let (h, task) = spawn(core, move |e| sink.lock().unwrap().push(e), 8);
        Rig {
            h,
            task,
            covers,
            fail,
            clean,
            seen,
        }
    }

    #[tokio::test]
    async fn a_committed_core_releases_at_once_and_an_uncommitted_one_waits() {
        // The commits cover nothing: only what `is_committed` lets go can leave.
        let Rig { h, clean, seen, .. } = rig();
        clean.store(true, std::sync::atomic::Ordering::SeqCst);
        let within = |f| tokio::time::timeout(Duration::from_secs(5), f);
        assert_eq!(
            within(h.call(1))
                .await
                .expect("nothing to commit: answered"),
            Ok(1)
        );
        assert_eq!(*seen.lock().unwrap(), vec![1]);
        clean.store(false, std::sync::atomic::Ordering::SeqCst);
        let r = tokio::time::timeout(Duration::from_millis(100), h.call(2)).await;
        assert!(r.is_err(), "answered before its commit");
        assert_eq!(*seen.lock().unwrap(), vec![1], "its effect waits too");
        // Once the core says everything is durable, what waited leaves with the next input.
        clean.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(within(h.call(3)).await.expect("released"), Ok(3));
        assert_eq!(*seen.lock().unwrap(), vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn only_committed_outputs_are_released_and_a_failed_commit_stops() {
        let Rig {
            h,
            task,
            covers,
            fail,
            seen,
            ..
        } = rig();
        // Nothing is covered: neither the effect nor the answer leaves.
        let r = tokio::time::timeout(Duration::from_millis(100), h.call(1)).await;
        assert!(r.is_err(), "answered before its commit");
        assert!(seen.lock().unwrap().is_empty());
        // Cover exactly one output: the effect of request 1 goes, its answer waits.
        *covers.lock().unwrap() = Some(1);
        h.event(()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(*seen.lock().unwrap(), vec![1]);
        // Cover everything.
        *covers.lock().unwrap() = None;
        assert_eq!(h.call(2).await.unwrap(), 2);
        assert_eq!(*seen.lock().unwrap(), vec![1, 2]);
        // A failed commit: the request is never answered and the task ends.
        fail.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(h.call(3).await, Err(EngineGone));
        let core = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert!(core.commits >= 3);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![1, 2],
            "nothing after the failure"
        );
    }

    #[tokio::test]
    async fn with_core_runs_in_turn_and_its_outputs_are_released() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let (h, task) = spawn(Fake::default(), move |e| sink.lock().unwrap().push(e), 8);
        assert_eq!(h.call(Req::Echo(1)).await.unwrap(), "echo 1");
        assert_eq!(h.queued(), 0);
        // Read the core.
        let timeouts = h.with_core(|c: &mut Fake, _| c.timeouts_handled).await;
        assert_eq!(timeouts, Ok(0));
        // Change it: the effect it queues goes out like a request's.
        h.with_core(|c: &mut Fake, _| c.out.push_back(CoreOutput::Effect(99)))
            .await
            .unwrap();
        assert_eq!(h.call(Req::Echo(2)).await.unwrap(), "echo 2");
        assert_eq!(*seen.lock().unwrap(), vec![1, 99, 2]);
        h.stop().await.unwrap();
        task.await.unwrap();
        assert_eq!(h.with_core(|_: &mut Fake, _| ()).await, Err(EngineGone));
    }

    #[tokio::test]
    async fn stop_ends_the_task_while_handles_live() {
        let (h, task) = spawn(Fake::default(), |_| {}, 8);
        assert_eq!(h.call(Req::Echo(1)).await.unwrap(), "echo 1");
        let weak = h.downgrade();
        assert!(weak.upgrade().is_some());
        h.stop().await.unwrap();
        let _core = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(h.call(Req::Echo(2)).await, Err(EngineGone));
        drop(h);
        assert!(weak.upgrade().is_none(), "no handle left");
    }

    #[tokio::test]
    async fn many_concurrent_callers_through_a_small_queue() {
        let (h, task) = spawn(Fake::default(), |_| {}, 2);
        let mut set = tokio::task::JoinSet::new();
        for n in 0..200u64 {
            let h = h.clone();
            set.spawn(async move { (n, h.call(Req::Echo(n)).await.unwrap()) });
        }
        let mut count = 0;
        while let Some(r) = set.join_next().await {
            let (n, answer) = r.unwrap();
            assert_eq!(answer, format!("echo {n}"));
            count += 1;
        }
        assert_eq!(count, 200);
        drop(h);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn abandoned_callers_do_not_break_the_engine() {
        let (h, task) = spawn(Fake::default(), |_| {}, 8);
        let r = tokio::time::timeout(Duration::from_millis(20), h.call(Req::Later(1))).await;
        assert!(r.is_err(), "never answered");
        h.event(1).await.unwrap(); // answers a caller that is gone
        assert_eq!(h.call(Req::Echo(2)).await.unwrap(), "echo 2");
        drop(h);
        let core = task.await.unwrap();
        assert!(core.waiting.is_empty());
    }
}
