//! The delivery side: the engine's NOTIFYs handed to the deliverer (or to the foreign
//! resolver for call-backs on other servers), and the outcomes fed back to the engine.

use std::sync::Arc;

use http::StatusCode;
use rvp_presence::{Delivery, DeliveryId};
use tokio::sync::mpsc;

use crate::delivery::{
    Deliverer, DeliveryReport, Destination, FailureReason, SendOutcome, outbound_notify_for,
};
use crate::engine;
use crate::metrics::{Metrics, NotifyResult};
use crate::presence::PresenceCore;

/// Turns the engine's deliveries into queued NOTIFYs.
pub(super) struct Dispatch {
    pub(super) deliverer: Deliverer<DeliveryId>,
    /// Deliveries that failed before reaching a queue (no route).
    pub(super) failures: mpsc::UnboundedSender<DeliveryId>,
    pub(super) resolver: Option<Arc<crate::resolve::ForeignResolver>>,
}

impl engine::Effects<Delivery> for Dispatch {
    fn dispatch(&mut self, d: Delivery) {
        let (_, target) = d.destination();
        if target == "/" {
            match Destination::from_callback(d.callback()) {
                Ok(dest) => {
                    self.deliverer.submit(outbound_notify_for(&d, dest));
                }
                // A client's node named by host name rather than IP: look it up.
                Err(crate::delivery::DestinationError::NotIpLiteral(_))
                    if self.resolver.is_some() =>
                {
                    if let Some(r) = &self.resolver {
                        r.deliver(d, self.deliverer.clone(), self.failures.clone());
                    }
                }
                Err(e) => {
                    tracing::debug!(callback = %d.callback(), "NOTIFY not routable: {e}");
                    let _ = self.failures.send(d.id());
                }
            }
            return;
        }
        // A logical URL on another server (local ones are expanded by the engine).
        match &self.resolver {
            Some(r) => r.deliver(d, self.deliverer.clone(), self.failures.clone()),
            None => {
                tracing::debug!(
                    callback = %d.callback(),
                    "call-back on another server and no [resolve] nameserver: not delivered"
                );
                let _ = self.failures.send(d.id());
            }
        }
    }
}

/// Feeds delivery outcomes back to the engine until the engine is gone.
pub(super) async fn forward_reports(
    mut reports: mpsc::UnboundedReceiver<DeliveryReport<DeliveryId>>,
    mut failures: mpsc::UnboundedReceiver<DeliveryId>,
    engine: engine::WeakEngineHandle<PresenceCore>,
    foreign: Option<Arc<crate::resolve::ForeignResolver>>,
    metrics: Arc<Metrics>,
) {
    use rvp_presence::DeliveryOutcome as Outcome;
    loop {
        let event = tokio::select! {
            r = reports.recv() => match r {
                Some(r) => {
                    metrics.notify_result(r.outcome.notify_result());
                    if let Some(f) = &foreign {
                        f.outcome(r.id.seq(), unreachable(&r.outcome));
                    }
                    match engine_outcome(&r.outcome) {
                        Some(outcome) => (r.id, outcome),
                        // A newer presence update replaced it: its outcome stands for both.
                        None => continue,
                    }
                }
                None => break,
            },
            f = failures.recv() => match f {
                Some(id) => {
                    metrics.notify_result(NotifyResult::NotRoutable);
                    (id, Outcome::Failed)
                }
                None => break,
            },
        };
        if event.1 == Outcome::Failed {
            metrics.callback_failure();
        }
        let Some(handle) = engine.upgrade() else {
            break;
        };
        if handle.event(event).await.is_err() {
            break;
        }
    }
}

/// Whether a delivery found no server at its destination (PROTOCOL.md §7.1 step 5: a
/// cached route is dropped "on any connection failure or `404`").
pub(super) fn unreachable(outcome: &SendOutcome) -> bool {
    match outcome {
        SendOutcome::Answered(s) => *s == StatusCode::NOT_FOUND,
        SendOutcome::Failed(reason) => matches!(
            reason,
            FailureReason::Connect(_)
                | FailureReason::ConnectTimeout
                | FailureReason::ConnectionClosed
                | FailureReason::Io(_)
        ),
        _ => false,
    }
}

/// What the engine is told about a delivery report; `None` for a presence update that a
/// newer one replaced (the newer one's outcome stands for both).
///
/// Failures of our own side (a full queue, too many destinations, a message that waited
/// too long, shutdown, an unwritable request) are [`rvp_presence::DeliveryOutcome::NotSent`]:
/// they fail the sender's acknowledgement but are no evidence against the call-back, so a
/// flood of NOTIFYs to a user cannot get the user's login subscription discarded.
pub(super) fn engine_outcome(outcome: &SendOutcome) -> Option<rvp_presence::DeliveryOutcome> {
    use rvp_presence::DeliveryOutcome as Outcome;
    match outcome {
        SendOutcome::Answered(s) => Some(Outcome::from_status(*s)),
        SendOutcome::Failed(reason) => Some(match reason {
            FailureReason::QueueFull
            | FailureReason::TooManyDestinations
            | FailureReason::Expired
            | FailureReason::InvalidRequest(_)
            | FailureReason::ShuttingDown => Outcome::NotSent,
            _ => Outcome::Failed,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rvp_presence::DeliveryOutcome as Outcome;

    #[test]
    fn connection_failures_and_404_mean_no_server_there() {
        let failed = |r| unreachable(&SendOutcome::Failed(r));
        assert!(failed(FailureReason::Connect(
            std::io::ErrorKind::ConnectionRefused
        )));
        assert!(failed(FailureReason::ConnectTimeout));
        assert!(failed(FailureReason::ConnectionClosed));
        assert!(!failed(FailureReason::QueueFull));
        assert!(!failed(FailureReason::ResponseTimeout));
        assert!(unreachable(&SendOutcome::Answered(StatusCode::NOT_FOUND)));
        assert!(!unreachable(&SendOutcome::Answered(StatusCode::OK)));
        assert!(!unreachable(&SendOutcome::Answered(
            StatusCode::PRECONDITION_FAILED
        )));
        assert!(!unreachable(&SendOutcome::Superseded));
    }

    #[test]
    fn own_side_failures_are_not_held_against_the_call_back() {
        let failed = |r| engine_outcome(&SendOutcome::Failed(r));
        for r in [
            FailureReason::QueueFull,
            FailureReason::TooManyDestinations,
            FailureReason::Expired,
            FailureReason::ShuttingDown,
        ] {
            assert_eq!(failed(r.clone()), Some(Outcome::NotSent), "{r:?}");
        }
        for r in [
            FailureReason::ConnectTimeout,
            FailureReason::ResponseTimeout,
            FailureReason::ConnectionClosed,
            FailureReason::Connect(std::io::ErrorKind::ConnectionRefused),
        ] {
            assert_eq!(failed(r.clone()), Some(Outcome::Failed), "{r:?}");
        }
        assert_eq!(
            engine_outcome(&SendOutcome::Answered(StatusCode::OK)),
            Some(Outcome::Delivered)
        );
        assert_eq!(
            engine_outcome(&SendOutcome::Answered(StatusCode::NOT_FOUND)),
            Some(Outcome::Failed)
        );
    }
}
