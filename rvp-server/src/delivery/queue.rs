//! The queue of one destination, without I/O: admission (capacity, bytes, coalescing) and
//! removal (expiry of waiting messages). Time is passed in.

use std::collections::VecDeque;
use std::time::Instant;

use super::{DeliveryConfig, FailureReason, NotifyKind, OutboundNotify};

/// What [`Queue::push`] did.
#[derive(Debug)]
pub(crate) enum Pushed<I> {
    /// Appended.
    Queued,
    /// Replaced a waiting presence update for the same subscription (whose id is given).
    Replaced(I),
}

#[derive(Debug)]
struct Waiting<I> {
    notification: OutboundNotify<I>,
    since: Instant,
}

/// Notifications waiting for one destination (the one being sent is not in here).
#[derive(Debug)]
pub(crate) struct Queue<I> {
    items: VecDeque<Waiting<I>>,
    bytes: usize,
}

impl<I> Default for Queue<I> {
    fn default() -> Self {
        Queue {
            items: VecDeque::new(),
            bytes: 0,
        }
    }
}

impl<I> Queue<I> {
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Admits a notification, or gives it back with the reason it was refused.
    ///
    /// * A presence update replaces a waiting presence update with the same
    ///   `Subscription-Id` in place (the watcher only needs the latest state), even when
    ///   the queue is full.
    /// * Otherwise it is appended unless that would exceed
    ///   [`DeliveryConfig::queue_capacity`] notifications or
    ///   [`DeliveryConfig::queue_bytes`] bytes of bodies (an empty queue takes any one
    ///   body, so a large message is never refused for size alone).
    #[allow(clippy::result_large_err)]
    pub(crate) fn push(
        &mut self,
        n: OutboundNotify<I>,
        now: Instant,
        config: &DeliveryConfig,
    ) -> Result<Pushed<I>, (OutboundNotify<I>, FailureReason)> {
        let len = n.body.len();
        let waiting = self.items.len();
        if n.kind == NotifyKind::Presence
            && let Some(key) = n.coalesce_key
            && let Some(w) = self.items.iter_mut().find(|w| {
                w.notification.kind == NotifyKind::Presence
                    && w.notification.coalesce_key == Some(key)
            })
        {
            let bytes = self.bytes - w.notification.body.len() + len;
            if bytes > config.queue_bytes && waiting > 1 {
                return Err((n, FailureReason::QueueFull));
            }
            self.bytes = bytes;
            let old = std::mem::replace(
                w,
                Waiting {
                    notification: n,
                    since: now,
                },
            );
            return Ok(Pushed::Replaced(old.notification.id));
        }
        let full = self.items.len() >= config.queue_capacity
            || (!self.items.is_empty() && self.bytes + len > config.queue_bytes);
        if full {
            return Err((n, FailureReason::QueueFull));
        }
        self.bytes += len;
        self.items.push_back(Waiting {
            notification: n,
            since: now,
        });
        Ok(Pushed::Queued)
    }

    /// The next notification to send. Messages that waited longer than
    /// [`DeliveryConfig::message_max_wait`] are moved to `expired` instead (an IM is
    /// perishable, PROTOCOL.md §5.7 rule 4); presence updates never expire here.
    pub(crate) fn pop(
        &mut self,
        now: Instant,
        config: &DeliveryConfig,
        expired: &mut Vec<OutboundNotify<I>>,
    ) -> Option<OutboundNotify<I>> {
        while let Some(w) = self.items.pop_front() {
            self.bytes -= w.notification.body.len();
            let too_old = now.saturating_duration_since(w.since) > config.message_max_wait;
            if w.notification.kind == NotifyKind::Message && too_old {
                expired.push(w.notification);
                continue;
            }
            return Some(w.notification);
        }
        None
    }

    /// Removes everything (shutdown).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = OutboundNotify<I>> + '_ {
        self.bytes = 0;
        self.items.drain(..).map(|w| w.notification)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use rvp_proto::SubscriptionId;

    use super::*;
    use crate::delivery::Destination;

    fn dest() -> Destination {
        Destination::from_callback(&"http://127.0.0.1:9".parse().unwrap()).unwrap()
    }

    fn presence(id: u32, sid: &str, body: &'static str) -> OutboundNotify<u32> {
        OutboundNotify::presence(
            id,
            dest(),
            "localhost",
            SubscriptionId::new(sid).unwrap(),
            Bytes::from_static(body.as_bytes()),
        )
    }

    fn message(id: u32, body: &'static str) -> OutboundNotify<u32> {
        OutboundNotify::message(
            id,
            dest(),
            "http://localhost/instmsg/aliases/a",
            Bytes::from_static(body.as_bytes()),
        )
    }

    fn ids(q: &mut Queue<u32>, now: Instant, c: &DeliveryConfig) -> Vec<u32> {
        let mut out = Vec::new();
        let mut expired = Vec::new();
        while let Some(n) = q.pop(now, c, &mut expired) {
            out.push(n.id);
        }
        out
    }

    #[test]
    fn coalesces_presence_in_place_keeps_message_order() {
        let c = DeliveryConfig::default();
        let t = Instant::now();
        let mut q = Queue::default();
        assert!(matches!(
            q.push(message(1, "m1"), t, &c),
            Ok(Pushed::Queued)
        ));
        assert!(matches!(
            q.push(presence(2, "7", "p"), t, &c),
            Ok(Pushed::Queued)
        ));
        assert!(matches!(
            q.push(message(3, "m3"), t, &c),
            Ok(Pushed::Queued)
        ));
        assert!(matches!(
            q.push(presence(4, "8", "p"), t, &c),
            Ok(Pushed::Queued)
        ));
        assert!(matches!(
            q.push(presence(5, "7", "pp"), t, &c),
            Ok(Pushed::Replaced(2))
        ));
        assert!(matches!(
            q.push(message(6, "m6"), t, &c),
            Ok(Pushed::Queued)
        ));
        assert_eq!(q.bytes, 2 + 2 + 1 + 2 + 2);
        assert_eq!(ids(&mut q, t, &c), [1, 5, 3, 4, 6]);
        assert_eq!(q.bytes, 0);
    }

    /// Two watches delivered through one login subscription share its `Subscription-Id`
    /// but are different subscriptions: their updates never replace each other.
    #[test]
    fn different_watches_under_one_subscription_id_are_not_merged() {
        let c = DeliveryConfig::default();
        let t = Instant::now();
        let mut q = Queue::default();
        let through_login = |id, watch, body| presence(id, "9", body).with_coalesce_key(watch);
        assert!(matches!(
            q.push(through_login(1, 100, "bob busy"), t, &c),
            Ok(Pushed::Queued)
        ));
        assert!(matches!(
            q.push(through_login(2, 200, "carol away"), t, &c),
            Ok(Pushed::Queued)
        ));
        assert!(matches!(
            q.push(through_login(3, 100, "bob away"), t, &c),
            Ok(Pushed::Replaced(1))
        ));
        assert_eq!(ids(&mut q, t, &c), [3, 2]);
    }

    #[test]
    fn capacity_and_bytes() {
        let c = DeliveryConfig {
            queue_capacity: 2,
            queue_bytes: 5,
            ..DeliveryConfig::default()
        };
        let t = Instant::now();
        let mut q = Queue::default();
        q.push(message(1, "aaaa"), t, &c).unwrap();
        // 4 + 2 > 5 bytes.
        let (n, why) = q.push(message(2, "bb"), t, &c).unwrap_err();
        assert_eq!((n.id, why), (2, FailureReason::QueueFull));
        q.push(presence(3, "1", "c"), t, &c).unwrap();
        let (n, _) = q.push(message(4, ""), t, &c).unwrap_err();
        assert_eq!(n.id, 4);
        // Full, but the same subscription still coalesces.
        assert!(matches!(
            q.push(presence(5, "1", "d"), t, &c),
            Ok(Pushed::Replaced(3))
        ));
        // An empty queue takes any size.
        let mut q = Queue::default();
        q.push(message(6, "0123456789"), t, &c).unwrap();
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn waiting_messages_expire_presence_does_not() {
        let c = DeliveryConfig {
            message_max_wait: Duration::from_secs(1),
            ..DeliveryConfig::default()
        };
        let t = Instant::now();
        let mut q = Queue::default();
        q.push(message(1, "m"), t, &c).unwrap();
        q.push(presence(2, "1", "p"), t, &c).unwrap();
        q.push(message(3, "m"), t + Duration::from_secs(2), &c)
            .unwrap();
        let mut expired = Vec::new();
        let later = t + Duration::from_millis(2500);
        assert_eq!(q.pop(later, &c, &mut expired).map(|n| n.id), Some(2));
        assert_eq!(q.pop(later, &c, &mut expired).map(|n| n.id), Some(3));
        assert!(q.is_empty());
        assert_eq!(expired.iter().map(|n| n.id).collect::<Vec<_>>(), [1]);
        q.push(message(4, "m"), t, &c).unwrap();
        assert_eq!(q.drain().count(), 1);
        assert_eq!(q.bytes, 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Message(usize),
        Presence(u8, usize),
        Pop,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0usize..6).prop_map(Op::Message),
            (0u8..4, 0usize..6).prop_map(|(s, l)| Op::Presence(s, l)),
            Just(Op::Pop),
        ]
    }

    proptest::proptest! {
        /// Bounded size and bytes; at most one waiting presence update per subscription;
        /// messages leave in submission order; every id ends up exactly once as refused,
        /// replaced, sent or still waiting.
        #[test]
        fn queue_invariants(ops in proptest::collection::vec(op(), 0..200), cap in 1usize..8, max_bytes in 1usize..24) {
            let c = DeliveryConfig { queue_capacity: cap, queue_bytes: max_bytes, ..DeliveryConfig::default() };
            let t = Instant::now();
            let mut q: Queue<u32> = Queue::default();
            let mut fates: std::collections::HashMap<u32, &str> = std::collections::HashMap::new();
            let mut last_message_sent: Option<u32> = None;
            let mut expired = Vec::new();
            for (i, op) in (0u32..).zip(ops) {
                let body = |l: usize| Bytes::from(vec![b'x'; l]);
                let n = match op {
                    Op::Pop => {
                        if let Some(n) = q.pop(t, &c, &mut expired) {
                            if n.kind == NotifyKind::Message {
                                proptest::prop_assert!(last_message_sent.is_none_or(|l| l < n.id));
                                last_message_sent = Some(n.id);
                            }
                            fates.insert(n.id, "sent");
                        }
                        continue;
                    }
                    Op::Message(l) => OutboundNotify::message(i, dest(), "p", body(l)),
                    Op::Presence(s, l) => OutboundNotify::presence(
                        i, dest(), "h", SubscriptionId::new(&s.to_string()).unwrap(), body(l)),
                };
                match q.push(n, t, &c) {
                    Ok(Pushed::Queued) => { fates.insert(i, "waiting"); }
                    Ok(Pushed::Replaced(old)) => {
                        proptest::prop_assert_eq!(fates.insert(old, "replaced"), Some("waiting"));
                        fates.insert(i, "waiting");
                    }
                    Err((n, why)) => {
                        proptest::prop_assert_eq!(why, FailureReason::QueueFull);
                        fates.insert(n.id, "refused");
                    }
                }
                proptest::prop_assert!(q.len() <= cap);
                let sum: usize = q.items.iter().map(|w| w.notification.body.len()).sum();
                proptest::prop_assert_eq!(sum, q.bytes);
                proptest::prop_assert!(q.len() <= 1 || q.bytes <= max_bytes);
                let mut sids: Vec<u32> = q.items.iter()
                    .filter(|w| w.notification.kind == NotifyKind::Presence)
                    .filter_map(|w| w.notification.coalesce_key).collect();
                let before = sids.len();
                sids.sort_unstable();
                sids.dedup();
                proptest::prop_assert_eq!(sids.len(), before);
            }
            proptest::prop_assert!(expired.is_empty());
            let waiting = fates.values().filter(|f| **f == "waiting").count();
            proptest::prop_assert_eq!(waiting, q.len());
        }
    }
}
