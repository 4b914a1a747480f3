//! Deliveries and acknowledgements: the §6.5 decision table as a small state machine per
//! NOTIFY, and the outcome vocabulary the embedder reports (§5.7).

use std::fmt;

use http::StatusCode;

use crate::subscription::SubscriptionId;

/// `RVP-Ack-Type` (PROTOCOL.md §2.6): the header's own type, which the acknowledgement
/// table below decides by.
pub use rvp_proto::header::AckType;

/// Names one NOTIFY the engine asked the embedder to send; report its outcome with
/// `Engine::handle_delivery_result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId {
    pub(crate) seq: u64,
    pub(crate) subscription: SubscriptionId,
    /// Acknowledgement transaction this delivery counts towards (0: none).
    pub(crate) txn: u64,
}

impl DeliveryId {
    /// The sequence number (unique per engine).
    pub fn seq(self) -> u64 {
        self.seq
    }

    /// The subscription whose call-back this delivery goes to.
    pub fn subscription(self) -> SubscriptionId {
        self.subscription
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "delivery {} (subscription {})",
            self.seq, self.subscription
        )
    }
}

/// What happened to one delivery (PROTOCOL.md §5.7 rule 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeliveryOutcome {
    /// The call-back answered 2xx.
    Delivered,
    /// The call-back answered `500` (the recipient left the conversation, §9.1).
    LeftConversation,
    /// Any other status, a connection failure or a timeout.
    Failed,
    /// The embedder never sent it: its own outbound queue for that call-back was full, it
    /// had too many destinations, the notification waited too long in its queue, or it was
    /// shutting down. A failure for the sender's acknowledgement (§6.5), but no evidence
    /// against the call-back, so it does not count toward discarding the subscription
    /// (§5.7): otherwise anyone allowed to flood a user with NOTIFYs could sign them out.
    NotSent,
}

impl DeliveryOutcome {
    /// The outcome of a call-back's HTTP answer.
    pub fn from_status(status: StatusCode) -> DeliveryOutcome {
        if status.is_success() {
            DeliveryOutcome::Delivered
        } else if status == StatusCode::INTERNAL_SERVER_ERROR {
            DeliveryOutcome::LeftConversation
        } else {
            DeliveryOutcome::Failed
        }
    }

    /// Whether this counts as success.
    pub fn is_success(self) -> bool {
        self == DeliveryOutcome::Delivered
    }
}

/// The answer to the sender of a NOTIFY, once decided (§6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AckVerdict {
    /// `200`: delivered in the sense of the ack type.
    Delivered,
    /// `412`: the principal is not available.
    NotDeliverable,
    /// `500`: a destination answered 500 (left the conversation).
    LeftConversation,
}

/// The §6.5 decision for one NOTIFY with `expected` final destinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckTracker {
    ack: AckType,
    expected: u32,
    reported: u32,
    ok: u32,
    got_500: bool,
    decided: bool,
}

impl AckTracker {
    /// A tracker; returns the immediate verdict when one is decidable before any outcome
    /// (`SingleHop` → delivered; deep ack types with no destination → 412).
    pub fn new(ack: AckType, expected: u32) -> (AckTracker, Option<AckVerdict>) {
        let mut t = AckTracker {
            ack,
            expected,
            reported: 0,
            ok: 0,
            got_500: false,
            decided: false,
        };
        let v = match (ack, expected) {
            (AckType::SingleHop, _) => Some(AckVerdict::Delivered),
            (_, 0) => Some(AckVerdict::NotDeliverable),
            _ => None,
        };
        t.decided = v.is_some();
        (t, v)
    }

    /// Whether the verdict was already given.
    pub fn is_decided(&self) -> bool {
        self.decided
    }

    /// Whether every destination has reported.
    pub fn is_complete(&self) -> bool {
        self.reported >= self.expected
    }

    /// Records one outcome; returns the verdict the first time it becomes decidable.
    pub fn record(&mut self, outcome: DeliveryOutcome) -> Option<AckVerdict> {
        self.reported = self.reported.saturating_add(1);
        match outcome {
            DeliveryOutcome::Delivered => self.ok += 1,
            DeliveryOutcome::LeftConversation => self.got_500 = true,
            DeliveryOutcome::Failed | DeliveryOutcome::NotSent => {}
        }
        if self.decided {
            return None;
        }
        let v = match self.ack {
            AckType::SingleHop => None,
            AckType::DeepOr => {
                if self.ok > 0 {
                    Some(AckVerdict::Delivered)
                } else if self.is_complete() {
                    Some(if self.got_500 {
                        AckVerdict::LeftConversation
                    } else {
                        AckVerdict::NotDeliverable
                    })
                } else {
                    None
                }
            }
            AckType::DeepAnd => {
                if self.got_500 {
                    Some(AckVerdict::LeftConversation)
                } else if self.is_complete() {
                    Some(if self.ok == self.expected {
                        AckVerdict::Delivered
                    } else {
                        AckVerdict::NotDeliverable
                    })
                } else {
                    None
                }
            }
        };
        self.decided = v.is_some();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AckVerdict as V;
    use DeliveryOutcome as O;

    fn run(ack: AckType, outcomes: &[O]) -> Vec<Option<V>> {
        let expected = u32::try_from(outcomes.len()).unwrap_or(u32::MAX);
        let (mut t, first) = AckTracker::new(ack, expected);
        let mut v = vec![first];
        v.extend(outcomes.iter().map(|o| t.record(*o)));
        v
    }

    #[test]
    fn decision_table() {
        // SingleHop: 200 at once, with or without destinations.
        assert_eq!(run(AckType::SingleHop, &[]), vec![Some(V::Delivered)]);
        assert_eq!(
            run(AckType::SingleHop, &[O::Failed]),
            vec![Some(V::Delivered), None]
        );
        // DeepOr.
        assert_eq!(run(AckType::DeepOr, &[]), vec![Some(V::NotDeliverable)]);
        assert_eq!(
            run(AckType::DeepOr, &[O::Failed, O::Delivered, O::Failed]),
            vec![None, None, Some(V::Delivered), None]
        );
        assert_eq!(
            run(AckType::DeepOr, &[O::LeftConversation, O::Failed]),
            vec![None, None, Some(V::LeftConversation)]
        );
        assert_eq!(
            run(AckType::DeepOr, &[O::Failed, O::Failed]),
            vec![None, None, Some(V::NotDeliverable)]
        );
        // DeepAnd.
        assert_eq!(run(AckType::DeepAnd, &[]), vec![Some(V::NotDeliverable)]);
        assert_eq!(
            run(AckType::DeepAnd, &[O::Delivered, O::Delivered]),
            vec![None, None, Some(V::Delivered)]
        );
        assert_eq!(
            run(AckType::DeepAnd, &[O::Failed, O::Delivered]),
            vec![None, None, Some(V::NotDeliverable)]
        );
        assert_eq!(
            run(
                AckType::DeepAnd,
                &[O::Delivered, O::LeftConversation, O::Delivered]
            ),
            vec![None, None, Some(V::LeftConversation), None]
        );
    }

    #[test]
    fn outcomes_from_status() {
        assert_eq!(DeliveryOutcome::from_status(StatusCode::OK), O::Delivered);
        assert_eq!(
            DeliveryOutcome::from_status(StatusCode::ACCEPTED),
            O::Delivered
        );
        assert_eq!(
            DeliveryOutcome::from_status(StatusCode::INTERNAL_SERVER_ERROR),
            O::LeftConversation
        );
        assert_eq!(
            DeliveryOutcome::from_status(StatusCode::NOT_FOUND),
            O::Failed
        );
    }
}
