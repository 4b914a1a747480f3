//! SUBSCRIPTIONS (PROTOCOL.md §2.3): the live subscriptions of one `Notification-Type` as
//! an `r:subscriptions` body with the seconds remaining.

use rvp_proto::xml::{Subscription, Subscriptions};

use super::Cx;
use super::subscribe::kind_of;
use crate::engine::{Engine, Refusal, SubscriptionEntry};

pub(super) fn handle(e: &mut Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    let kind = if cx.head.is_unusable("Notification-Type") {
        None
    } else {
        kind_of(cx.head.rvp.notification_type.as_ref())
    };
    e.subscriptions(cx.now, cx.request, cx.caller, cx.key, kind);
    Ok(())
}

/// The `r:subscriptions` body of a listing.
pub(crate) fn render(list: &[SubscriptionEntry]) -> Subscriptions {
    Subscriptions {
        subscriptions: list
            .iter()
            .map(|s| Subscription {
                id: s.id.to_string(),
                href: Some(s.href.to_string()),
                principal: Some(s.principal.to_string()),
                timeout: Some(s.remaining_secs),
            })
            .collect(),
    }
}
