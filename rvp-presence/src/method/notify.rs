//! NOTIFY (PROTOCOL.md §2.6, §6.5): the body is relayed byte for byte to the node's
//! `pragma/notify` subscriptions; deliveries are written as NOTIFY requests with
//! [`rvp_proto::codec::write_notify`]. The body is parsed only to check that its
//! `r:notification-from` is the sender (§6.1). A NOTIFY with no identity at all (neither
//! credentials nor `RVP-From-Principal`: nobody to relay it from) or without a body →
//! `400`.

use crate::caller::Caller;
use crate::clock::duration_millis;
use crate::delivery::{AckTracker, DeliveryId};
use crate::principal::NodeKey;
use crate::render::NotifyBody;
use crate::subscription::{SubscriptionId, SubscriptionKind};
use bytes::Bytes;
use http::StatusCode;
use rvp_proto::Right;
use std::sync::Arc;
use std::time::Instant;

use crate::engine::{Output, RequestId, Txn};

use bytes::BufMut;
use rvp_proto::codec::{NotifyHead, WriteError, write_notify, write_notify_parts};
use rvp_proto::header::{self, CallBack, HopCount};

use rvp_proto::xml::Notification;

use super::{Cx, bad, is_blank, parse_body};
use crate::delivery::AckType;
use crate::engine::{Delivery, Engine, Refusal};
use crate::principal::{principal_key, principal_url_is};

pub(super) fn handle(e: &mut Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    if cx.caller.principal().is_none() {
        return Err(bad("NOTIFY without RVP-From-Principal"));
    }
    if is_blank(cx.body) {
        return Err(bad("NOTIFY without a body (an r:notification is expected)"));
    }
    check_sender(e, cx)?;
    let ack = cx.head.rvp.ack_type();
    let params = NotifyParams::new(cx.head.rvp.hop_count().get(), ack, cx.body.clone());
    e.notify(cx.now, cx.request, cx.caller, cx.key, params);
    Ok(())
}

/// The sender rule (PROTOCOL.md §6.1): the body's `r:notification-from` names the sender
/// — the proven principal, else the asserted one (a principal of another domain); a
/// server speaking as a bare host may send only for principals of its own domain. A body
/// that is not an `r:notification` → `400`; a different sender → `403`, nothing relayed.
fn check_sender(e: &Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    let Some(sender) = cx.caller.acting() else {
        return Err(bad("NOTIFY without RVP-From-Principal"));
    };
    let from = match parse_body::<Notification>(e, cx.body)? {
        Notification::Message(m) => m.from.href,
        Notification::PropNotification(p) => p.from.href,
        // Application XML carries no r:notification-from of ours to check.
        _ => return Ok(()),
    };
    let ok = match &sender.key {
        // A principal URL (every signed-on user): compared without building a key.
        Some(key) => principal_url_is(&from, key),
        None if sender.text.contains('/') => sender.is(&from, principal_key(&from).as_ref()),
        None => principal_key(&from).is_some_and(|k| k.host().eq_ignore_ascii_case(&sender.text)),
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::SenderMismatch)
    }
}

impl Delivery {
    /// Where to send the NOTIFY: the call-back's authority (`ip:port` of a client's local
    /// node, or a logical host to resolve) and the request-target (`/` for a local node,
    /// the node path for a logical call-back).
    pub fn destination(&self) -> (&str, &str) {
        self.callback().authority_and_target()
    }

    /// Writes the NOTIFY request (PROTOCOL.md §2.6-c, §2.6-d): `NOTIFY <target>`,
    /// `Host`, `RVP-Hop-Count`, `RVP-Ack-Type` (relays: as received), `Subscription-Id`,
    /// `RVP-From-Principal`, `Content-Type: text/xml`, `Content-Length` and the body (a
    /// relayed body exactly as received).
    ///
    /// Fails only when a field would break the framing (e.g. an empty
    /// `RVP-From-Principal`).
    pub fn write_notify(&self, out: &mut impl BufMut) -> Result<(), WriteError> {
        let (host, target) = self.destination();
        let id: header::SubscriptionId = self.subscription().into();
        let head = NotifyHead::new(target, host, self.from_principal())
            .with_hop_count(HopCount::new(self.hop_count()).unwrap_or(HopCount::ORIGIN))
            .with_subscription_id(&id);
        match self.relayed_body() {
            Some(body) => write_notify(out, &head.with_ack_type(self.ack()), body),
            None => {
                let [a, b, c] = self.body_chunks();
                write_notify_parts(out, &head, &[&a, &b, &c])
            }
        }
    }

    /// The NOTIFY request as bytes (see [`Delivery::write_notify`]).
    pub fn to_notify_bytes(&self) -> Result<Vec<u8>, WriteError> {
        let mut out = Vec::with_capacity(256 + self.body_len());
        self.write_notify(&mut out)?;
        Ok(out)
    }
}

/// A NOTIFY received for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotifyParams {
    /// Received `RVP-Hop-Count` (1 when absent).
    pub hop_count: u32,
    /// `RVP-Ack-Type` (`SingleHop` when absent).
    pub ack: AckType,
    /// The body, relayed untouched.
    pub body: Bytes,
}

impl NotifyParams {
    /// A NOTIFY with these header values.
    pub fn new(hop_count: u32, ack: AckType, body: Bytes) -> NotifyParams {
        NotifyParams {
            hop_count,
            ack,
            body,
        }
    }
}

impl Engine {
    /// NOTIFY to a node (PROTOCOL.md §2.6, §6.5, §7.5): relays the body untouched to the
    /// node's live `pragma/notify` subscriptions with hop count + 1 and answers according
    /// to the ack type — at once, or once the embedder reported enough outcomes. Never
    /// changes properties.
    pub fn notify(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        params: NotifyParams,
    ) {
        self.advance(now);
        let n = match self.node(node).and_then(|n| {
            if params.hop_count >= self.policy.max_hops {
                return Err(Refusal::HopLimit);
            }
            Ok(n)
        }) {
            Ok(n) => n,
            Err(e) => return self.refuse(request, e),
        };
        if let Err(e) = self.check(caller, n, Right::SendTo) {
            if self.policy.send_to_denied_status == StatusCode::PRECONDITION_FAILED {
                // Exactly what an offline recipient gives (nobody signed on): 200 for a
                // single hop, 412 for a deep acknowledgement; nothing is relayed.
                if let (_, Some(v)) = AckTracker::new(params.ack, 0) {
                    self.answer_verdict(request, v);
                }
                return;
            }
            return self.refuse(request, self.send_to_denied(e));
        }
        let targets: Vec<(SubscriptionId, Arc<CallBack>)> = self
            .subs
            .on_node(n, SubscriptionKind::Notify)
            .map(|r| (r.id, r.callback.clone()))
            .collect();
        let expected = u32::try_from(targets.len()).unwrap_or(u32::MAX);
        // A deep acknowledgement tells the sender whether anyone is signed on: never to a
        // sender denied `presence` (PROTOCOL.md §8.4), who is answered at once as for a
        // single hop, whatever the deliveries do.
        let answered_ack = if params.ack != AckType::SingleHop
            && !self.nodes[n.0 as usize].acl.allows(caller, Right::Presence)
        {
            AckType::SingleHop
        } else {
            params.ack
        };
        let (tracker, verdict) = AckTracker::new(answered_ack, expected);
        // Relayed as the proven sender when there is one (PROTOCOL.md §6.1).
        let from: Arc<str> = caller.principal().cloned().unwrap_or_else(|| Arc::from(""));
        let txn = if verdict.is_none() {
            self.next_txn += 1;
            self.next_txn
        } else {
            0
        };
        let mut pending = Vec::with_capacity(if txn == 0 { 0 } else { targets.len() });
        if let Some(v) = verdict {
            self.answer_verdict(request, v);
        }
        for (sub, callback) in targets {
            self.next_delivery += 1;
            let id = DeliveryId {
                seq: self.next_delivery,
                subscription: sub,
                txn,
            };
            if txn != 0 {
                pending.push((id.seq, sub));
            }
            self.out.push_back(Output::Deliver(Delivery {
                id,
                origin: sub,
                callback,
                hop_count: params.hop_count.saturating_add(1),
                ack: params.ack,
                body: NotifyBody::Relay {
                    from_principal: from.clone(),
                    bytes: params.body.clone(),
                },
            }));
        }
        if txn != 0 {
            let deadline = self.now + duration_millis(self.policy.delivery_timeout);
            self.txns.insert(
                txn,
                Txn {
                    request,
                    tracker,
                    pending,
                    deadline,
                },
            );
            self.txn_timers.insert((deadline, txn));
        }
    }

    /// A `send-to` refusal as [`Policy::send_to_denied_status`] wants it answered when
    /// that is not the default "like offline" (`412`, handled by the caller): `404` or
    /// `403`, with or without credentials — a challenge would tell a blocked sender from
    /// one writing to someone offline. (A local sender without proof never gets here: the
    /// proven-identity rule challenges it first, whoever the recipient.)
    pub(crate) fn send_to_denied(&self, refusal: Refusal) -> Refusal {
        match refusal {
            Refusal::Forbidden(Right::SendTo) | Refusal::Unauthorized(Right::SendTo) => {
                match self.policy.send_to_denied_status {
                    StatusCode::NOT_FOUND => Refusal::NotFound,
                    _ => Refusal::Forbidden(Right::SendTo),
                }
            }
            other => other,
        }
    }
}
