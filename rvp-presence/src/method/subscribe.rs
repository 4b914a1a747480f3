//! SUBSCRIBE (PROTOCOL.md §2.1): headers → [`SubscribeParams`]; the answer is `200` (login
//! subscription, renewal) or `207` with the node's properties (presence subscription).

use rvp_proto::header::NotificationType;

use super::Cx;
use crate::engine::{Engine, Refusal, SubscribeParams};
use crate::subscription::{SubscriptionId, SubscriptionKind};

/// The subscription kind a `Notification-Type` names (`None` for extensions: `412`).
pub(crate) fn kind_of(t: Option<&NotificationType>) -> Option<SubscriptionKind> {
    match t? {
        NotificationType::Propchange => Some(SubscriptionKind::PropChange),
        NotificationType::Notify => Some(SubscriptionKind::Notify),
        _ => None,
    }
}

/// The `Subscription-Id` of a request: `Ok(None)` when absent, `412` when present but not
/// one this engine could have minted.
pub(crate) fn subscription_id(cx: &Cx<'_>) -> Result<Option<SubscriptionId>, Refusal> {
    if cx.head.is_unusable("Subscription-Id") {
        return Err(Refusal::UnknownSubscription);
    }
    match &cx.head.rvp.subscription_id {
        None => Ok(None),
        Some(id) => SubscriptionId::parse(id.as_str())
            .map(Some)
            .ok_or(Refusal::UnknownSubscription),
    }
}

pub(super) fn handle(e: &mut Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    let h = &cx.head.rvp;
    let renew = subscription_id(cx)?;
    let kind = if cx.head.is_unusable("Notification-Type") {
        None
    } else {
        kind_of(h.notification_type.as_ref())
    };
    let callback = if cx.head.is_unusable("Call-Back") {
        None
    } else {
        h.call_back.as_ref().map(|c| c.0.to_string())
    };
    let params = SubscribeParams {
        kind,
        callback,
        lifetime_secs: h.subscription_lifetime.map(|l| l.seconds()),
        renew,
    };
    e.subscribe(cx.now, cx.request, cx.caller, cx.key, params);
    Ok(())
}
