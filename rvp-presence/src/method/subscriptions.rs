//! SUBSCRIPTIONS (PROTOCOL.md §2.3): the live subscriptions of one `Notification-Type` as
//! an `r:subscriptions` body with the seconds remaining.

use crate::caller::Caller;
use crate::clock::remaining_secs;
use crate::principal::NodeKey;
use crate::subscription::SubscriptionKind;
use rvp_proto::Right;
use std::sync::Arc;
use std::time::Instant;

use crate::engine::{Outcome, RequestId};

use rvp_proto::xml::{Subscription, Subscriptions};

use super::Cx;
use super::subscribe::kind_of;
use crate::engine::{Engine, Refusal, SubscriptionEntry};

pub(super) fn handle(e: &mut Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    let kind = if cx.head.unusable.contains("Notification-Type") {
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

impl Engine {
    /// SUBSCRIPTIONS (PROTOCOL.md §2.3): the live subscriptions of `kind` with remaining
    /// seconds; `kind: None` (header missing) → `412`.
    pub fn subscriptions(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        kind: Option<SubscriptionKind>,
    ) {
        self.advance(now);
        let r = self.node(node).and_then(|n| {
            let kind = kind.ok_or(Refusal::MissingNotificationType)?;
            self.check(caller, n, Right::Subscriptions)?;
            let owner = self.is_owner(caller, n);
            let list = self
                .subs
                .on_node(n, kind)
                .map(|r| SubscriptionEntry {
                    id: r.id,
                    href: if owner {
                        Arc::from(r.callback.as_str())
                    } else {
                        r.subscriber.clone()
                    },
                    principal: r.subscriber.clone(),
                    remaining_secs: remaining_secs(self.now, r.expires_ms),
                })
                .collect();
            Ok(Outcome::Subscriptions(list))
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }
}
