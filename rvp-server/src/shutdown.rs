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
//! The phase is a [`tokio::sync::watch`] value every connection task holds a receiver of:
//! waking all of them is one send, and a connection that checks between requests sees the
//! latest phase without any lock.

use tokio::sync::watch;

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

/// Sets the phase (held by the listener).
#[derive(Debug)]
pub(crate) struct PhaseSender(watch::Sender<Phase>);

/// Observes the phase (one per connection).
#[derive(Debug, Clone)]
pub(crate) struct PhaseWatch(watch::Receiver<Phase>);

pub(crate) fn phase_channel() -> (PhaseSender, PhaseWatch) {
    let (tx, rx) = watch::channel(Phase::Running);
    (PhaseSender(tx), PhaseWatch(rx))
}

impl PhaseSender {
    pub(crate) fn set(&self, phase: Phase) {
        self.0.send_replace(phase);
    }
}

impl PhaseWatch {
    /// The current phase.
    pub(crate) fn get(&self) -> Phase {
        *self.0.borrow()
    }

    /// Resolves once the phase is at least `phase` (immediately if it already is). If the
    /// sender is gone, the server is gone: resolves too.
    pub(crate) async fn reached(&mut self, phase: Phase) {
        let _ = self.0.wait_for(|p| *p >= phase).await;
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
}
