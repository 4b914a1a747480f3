//! NOTIFY (PROTOCOL.md §2.6, §6.5): the body is relayed byte for byte to the node's
//! `pragma/notify` subscriptions; deliveries are written as NOTIFY requests with
//! [`rvp_proto::codec::write_notify`]. The body is parsed only to check that its
//! `r:notification-from` is the sender (§6.1). A NOTIFY with no identity at all (neither
//! credentials nor `RVP-From-Principal`: nobody to relay it from) or without a body →
//! `400`.

use bytes::BufMut;
use rvp_proto::codec::{NotifyHead, WriteError, write_notify};
use rvp_proto::header::{self, HopCount, MintedSubscriptionId};

use rvp_proto::xml::Notification;

use super::{Cx, bad, is_blank, parse_body};
use crate::delivery::AckType;
use crate::engine::{Delivery, Engine, NotifyParams, Refusal, same_principal};
use crate::principal::principal_key;

pub(super) fn handle(e: &mut Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    if cx.caller.principal().is_none() {
        return Err(bad("NOTIFY without RVP-From-Principal"));
    }
    if is_blank(cx.body) {
        return Err(bad("NOTIFY without a body (an r:notification is expected)"));
    }
    check_sender(e, cx)?;
    let ack = match cx.head.rvp.ack_type() {
        header::AckType::DeepOr => AckType::DeepOr,
        header::AckType::DeepAnd => AckType::DeepAnd,
        _ => AckType::SingleHop,
    };
    let params = NotifyParams::new(cx.head.rvp.hop_count().get(), ack, cx.body.clone());
    e.notify(cx.now, cx.request, cx.caller, cx.key, params);
    Ok(())
}

/// The sender rule (PROTOCOL.md §6.1): the body's `r:notification-from` names the sender
/// — the proven principal, else the asserted one (a principal of another domain); a
/// server speaking as a bare host may send only for principals of its own domain. A body
/// that is not an `r:notification` → `400`; a different sender → `403`, nothing relayed.
fn check_sender(e: &Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    let Some(sender) = cx.caller.principal() else {
        return Err(bad("NOTIFY without RVP-From-Principal"));
    };
    let from = match parse_body::<Notification>(e, cx.body)? {
        Notification::Message(m) => m.from.href,
        Notification::PropNotification(p) => p.from.href,
        // Application XML carries no r:notification-from of ours to check.
        _ => return Ok(()),
    };
    let ok = if sender.contains('/') {
        same_principal(sender, &from)
    } else {
        principal_key(&from).is_some_and(|k| k.host().eq_ignore_ascii_case(sender))
    };
    if ok {
        Ok(())
    } else {
        Err(Refusal::SenderMismatch)
    }
}

/// Splits an `http://authority[/path]` call-back into (authority, request-target): `/`
/// for a client's local node (PROTOCOL.md §2.6-c).
fn split_callback(url: &str) -> (&str, &str) {
    let rest = url.get(7..).unwrap_or("");
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    }
}

impl Delivery {
    /// Where to send the NOTIFY: the call-back's authority (`ip:port` of a client's local
    /// node, or a logical host to resolve) and the request-target (`/` for a local node,
    /// the node path for a logical call-back).
    pub fn destination(&self) -> (&str, &str) {
        split_callback(self.callback())
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
        let id: Option<header::SubscriptionId> =
            MintedSubscriptionId::new(self.subscription().get()).map(Into::into);
        let mut head = NotifyHead::new(target, host, self.from_principal())
            .with_hop_count(HopCount::new(self.hop_count()).unwrap_or(HopCount::ORIGIN));
        if let Some(id) = &id {
            head = head.with_subscription_id(id);
        }
        match self.relayed_body() {
            Some(body) => {
                let ack = match self.ack() {
                    AckType::DeepOr => header::AckType::DeepOr,
                    AckType::DeepAnd => header::AckType::DeepAnd,
                    _ => header::AckType::SingleHop,
                };
                write_notify(out, &head.with_ack_type(ack), body)
            }
            None => write_notify(out, &head, &self.body_bytes()),
        }
    }

    /// The NOTIFY request as bytes (see [`Delivery::write_notify`]).
    pub fn to_notify_bytes(&self) -> Result<Vec<u8>, WriteError> {
        let mut out = Vec::with_capacity(256 + self.body_len());
        self.write_notify(&mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_split() {
        assert_eq!(
            split_callback("http://127.0.0.1:43663"),
            ("127.0.0.1:43663", "/")
        );
        assert_eq!(
            split_callback("http://im.acme.com/instmsg/aliases/bruceb"),
            ("im.acme.com", "/instmsg/aliases/bruceb")
        );
        assert_eq!(split_callback("http://h/"), ("h", "/"));
    }
}
