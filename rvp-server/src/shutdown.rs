//! Graceful shutdown: stop accepting, let requests in progress finish (bounded by the
//! drain time-out), then flush.
//!
//! ```text
//!  SIGINT / SIGTERM ──► Phase::Draining ──► listeners dropped (new connections refused)
//!                            │               idle keep-alive connections close at once
//!                            │               a request in progress is answered, with
//!                            │               `Connection: close`, then its connection closes
//!                            ▼
//!           all connections gone, or drain_timeout ──► Phase::Aborting (stragglers dropped)
//!                            ▼
//!           Server::serve returns ──► engine task stopped ──► flush hook (storage)
//! ```
//!
//! The phase is one atomic every connection task reads, plus a waker slot per watch: a
//! connection waits for it alongside every read and every handler, so waiting must cost
//! next to nothing (one load, and the task's waker stored once). Setting it wakes every
//! watch that waits.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Poll, Waker};

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Serving.
    Running,
    /// Not accepting; finishing requests in progress.
    Draining,
    /// The drain time-out passed: connections still open are dropped.
    Aborting,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Running,
            1 => Phase::Draining,
            _ => Phase::Aborting,
        }
    }
}

/// What the sender and every watch share.
#[derive(Debug)]
struct Shared {
    phase: AtomicU8,
    /// The sender is gone (the server is gone): every wait resolves.
    closed: AtomicBool,
    /// The waker slots of the watches (dead ones are pruned as new ones arrive).
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    live: Vec<Weak<Slot>>,
    /// Prune dead slots when `live` reaches this length.
    prune_at: usize,
}

/// The waker of the task a watch last waited in, and how many times the sender has taken
/// one out of it.
#[derive(Debug, Default)]
struct Slot {
    waker: Mutex<Option<Waker>>,
    /// Bumped under the lock by the sender each time it takes the waker out. A watch that
    /// sees the count it saw when it stored its waker knows the waker is still there (see
    /// [`PhaseWatch::reached`]).
    taken: AtomicU64,
}

impl Shared {
    fn is_at(&self, phase: Phase) -> bool {
        // SeqCst pairs with `PhaseSender::set`: a waiter that stored its waker before this
        // load either sees the new phase here or has its waker taken by the sender.
        self.closed.load(Ordering::SeqCst) || self.phase.load(Ordering::SeqCst) >= phase as u8
    }

    fn wake_all(&self) {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        for slot in slots.live.iter().filter_map(Weak::upgrade) {
            let waker = {
                let mut stored = slot.waker.lock().unwrap_or_else(PoisonError::into_inner);
                slot.taken.fetch_add(1, Ordering::SeqCst);
                stored.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    fn new_slot(&self) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.live.len() >= slots.prune_at {
            slots.live.retain(|w| w.strong_count() > 0);
            slots.prune_at = (slots.live.len() * 2).max(64);
        }
        slots.live.push(Arc::downgrade(&slot));
        slot
    }
}

/// Sets the phase (held by the listener). Dropping it resolves every wait.
#[derive(Debug)]
pub(crate) struct PhaseSender(Arc<Shared>);

/// Observes the phase (one per connection; a clone has its own waker slot).
#[derive(Debug)]
pub(crate) struct PhaseWatch {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
    /// The waker this watch last stored in its slot, with the slot's `taken` count read
    /// under the same lock.
    stored: Option<(u64, Waker)>,
}

pub(crate) fn phase_channel() -> (PhaseSender, PhaseWatch) {
    let shared = Arc::new(Shared {
        phase: AtomicU8::new(Phase::Running as u8),
        closed: AtomicBool::new(false),
        slots: Mutex::new(Slots::default()),
    });
    let slot = shared.new_slot();
    (
        PhaseSender(Arc::clone(&shared)),
        PhaseWatch {
            shared,
            slot,
            stored: None,
        },
    )
}

impl PhaseSender {
    pub(crate) fn set(&self, phase: Phase) {
        self.0.phase.store(phase as u8, Ordering::SeqCst);
        self.0.wake_all();
    }
}

impl Drop for PhaseSender {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
        self.0.wake_all();
    }
}

impl Clone for PhaseWatch {
    fn clone(&self) -> Self {
        PhaseWatch {
            shared: Arc::clone(&self.shared),
            slot: self.shared.new_slot(),
            stored: None,
        }
    }
}

impl PhaseWatch {
    /// The current phase.
    pub(crate) fn get(&self) -> Phase {
        Phase::from_u8(self.shared.phase.load(Ordering::SeqCst))
    }

    /// Resolves once the phase is at least `phase` (immediately if it already is). If the
    /// sender is gone, the server is gone: resolves too.
    ///
    /// Polling it costs an atomic load and, while the waker stored in the slot is this
    /// task's and still there, one more load: no allocation, no registration in a shared
    /// list and no lock per wait. A connection task moves between worker threads, so a
    /// lock of its slot on every poll (as before) pulled the slot's cache line across
    /// cores twice per request (0.5 % of the server's CPU under load, on that one
    /// instruction).
    ///
    /// Why the second load suffices: the sender bumps the slot's `taken` count under the
    /// slot's lock whenever it takes the waker out, and wakes the waker after. A poll that
    /// reads the count this watch saw when it stored its waker ran before that take, so
    /// the waker it relies on is still in the slot and will be woken; a poll that reads a
    /// newer count stores the waker again (under the lock) and checks the phase again.
    pub(crate) async fn reached(&mut self, phase: Phase) {
        poll_fn(|cx| {
            if self.shared.is_at(phase) {
                return Poll::Ready(());
            }
            if let Some((seen, waker)) = &self.stored
                && *seen == self.slot.taken.load(Ordering::SeqCst)
                && waker.will_wake(cx.waker())
            {
                return Poll::Pending;
            }
            let seen = {
                let mut stored = self
                    .slot
                    .waker
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                match stored.as_mut() {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *stored = Some(cx.waker().clone()),
                }
                self.slot.taken.load(Ordering::SeqCst)
            };
            self.stored = Some((seen, cx.waker().clone()));
            if self.shared.is_at(phase) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (service managers).
    Terminate,
}

/// SIGINT and SIGTERM handlers, installed at once by [`Signals::install`] (so that a
/// signal arriving before anybody waits for it is not lost, nor kills the process).
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    handlers: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Installs the handlers now (inside a tokio runtime). If they cannot be installed,
    /// logs why; [`Signals::recv`] then waits for ever (or for Ctrl-C off Unix).
    pub fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Signals {
                    handlers: Some((int, term)),
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!("cannot install SIGINT/SIGTERM handlers: {e}");
                    Signals { handlers: None }
                }
            }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    /// Resolves on the first SIGINT or SIGTERM received since [`Signals::install`].
    pub async fn recv(mut self) -> Signal {
        #[cfg(unix)]
        {
            match &mut self.handlers {
                Some((int, term)) => {
                    tokio::select! {
                        _ = int.recv() => Signal::Interrupt,
                        _ = term.recv() => Signal::Terminate,
                    }
                }
                None => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!("cannot install the Ctrl-C handler: {e}");
                std::future::pending::<()>().await;
            }
            Signal::Interrupt
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM. If the handlers cannot be installed (no
/// signal support), logs why and waits for Ctrl-C only, or for ever. The handlers are
/// installed when this is first polled: use [`Signals::install`] to install them earlier.
pub async fn signal() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => Signal::Interrupt,
                    _ = term.recv() => Signal::Terminate,
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("cannot install SIGINT/SIGTERM handlers: {e}");
                std::future::pending().await
            }
        }
    }
    #[cfg(not(unix))]
    {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot install the Ctrl-C handler: {e}");
            std::future::pending::<()>().await;
        }
        Signal::Interrupt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watch_reaches_phases_in_order() {
        let (tx, mut rx) = phase_channel();
        assert_eq!(rx.get(), Phase::Running);
        tx.set(Phase::Aborting);
        // Reaching a phase at or below the current one is immediate.
        rx.reached(Phase::Draining).await;
        rx.reached(Phase::Aborting).await;
        drop(tx);
        let (tx2, mut rx2) = phase_channel();
        drop(tx2);
        rx2.reached(Phase::Draining).await; // sender gone: resolves
    }

    /// Every watch waiting in its own task wakes when the phase is set, each at the phase
    /// it waits for; watches dropped on the way are pruned, not woken.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn set_wakes_every_waiting_watch() {
        let (tx, rx) = phase_channel();
        let dropped: Vec<PhaseWatch> = (0..100).map(|_| rx.clone()).collect();
        let draining: Vec<_> = (0..50)
            .map(|_| {
                let mut w = rx.clone();
                tokio::spawn(async move { w.reached(Phase::Draining).await })
            })
            .collect();
        let mut aborting = rx.clone();
        let aborting = tokio::spawn(async move {
            aborting.reached(Phase::Aborting).await;
            aborting.get()
        });
        drop(dropped);
        // Let them all wait first.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        tx.set(Phase::Draining);
        for t in draining {
            tokio::time::timeout(std::time::Duration::from_secs(5), t)
                .await
                .expect("a Draining waiter was not woken")
                .expect("task");
        }
        assert!(!aborting.is_finished(), "woken before its phase");
        tx.set(Phase::Aborting);
        let seen = tokio::time::timeout(std::time::Duration::from_secs(5), aborting)
            .await
            .expect("the Aborting waiter was not woken")
            .expect("task");
        assert_eq!(seen, Phase::Aborting);
    }

    /// A watch polled again and again while it waits for a later phase (a connection
    /// polls it once or twice per request, mostly without a wake of its own) is still
    /// woken when that phase comes, after an earlier phase took its stored waker.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watch_polled_between_phases_still_wakes() {
        use tokio::sync::oneshot;
        let (tx, mut rx) = phase_channel();
        let (requests, mut incoming) = tokio::sync::mpsc::channel::<oneshot::Sender<()>>(1);
        let connection = tokio::spawn(async move {
            let mut served = 0u32;
            loop {
                tokio::select! {
                    biased;
                    () = rx.reached(Phase::Aborting) => return served,
                    Some(answer) = incoming.recv() => {
                        served += 1;
                        let _ = answer.send(());
                    }
                }
            }
        });
        for round in 0..40 {
            if round == 20 {
                tx.set(Phase::Draining);
            }
            let (answer, answered) = oneshot::channel();
            requests.send(answer).await.expect("the connection runs");
            answered.await.expect("answered");
        }
        // The connection now waits, woken by nothing but the phase.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        tx.set(Phase::Aborting);
        let served = tokio::time::timeout(std::time::Duration::from_secs(5), connection)
            .await
            .expect("the Aborting waiter was not woken")
            .expect("task");
        assert_eq!(served, 40);
    }

    /// A watch that waits in one task, then in another, is woken in the second.
    #[tokio::test]
    async fn a_watch_moved_between_waits_is_woken_where_it_waits() {
        let (tx, mut rx) = phase_channel();
        // First wait: polled once in this task, then abandoned.
        tokio::select! {
            biased;
            () = rx.reached(Phase::Draining) => panic!("not yet"),
            () = std::future::ready(()) => {}
        }
        let waiter = tokio::spawn(async move { rx.reached(Phase::Draining).await });
        tokio::task::yield_now().await;
        tx.set(Phase::Draining);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("not woken in its new task")
            .expect("task");
    }

    /// Dead slots do not pile up: a server that saw a million connections holds the
    /// slots of the live ones (and at most as many dead).
    #[test]
    fn dead_slots_are_pruned() {
        let (_tx, rx) = phase_channel();
        let keep: Vec<PhaseWatch> = (0..10).map(|_| rx.clone()).collect();
        for _ in 0..10_000 {
            drop(rx.clone());
        }
        let len = rx
            .shared
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .live
            .len();
        assert!(len <= 2 * 64, "{len} slots kept");
        drop(keep);
    }
}
