//! UNSUBSCRIBE (PROTOCOL.md §2.2): `Subscription-Id` missing → `400`, not one of ours or
//! unknown → `412`; the subscriber or the node owner may cancel.

use crate::caller::Caller;
use crate::clock::duration_millis;
use crate::principal::NodeKey;
use crate::subscription::SubscriptionId;
use std::time::Instant;

use crate::engine::{Outcome, RequestId};

use super::Cx;
use super::subscribe::subscription_id;
use crate::engine::{Engine, Refusal};

pub(super) fn handle(e: &mut Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    let id = subscription_id(cx)?;
    e.unsubscribe(cx.now, cx.request, cx.caller, cx.key, id);
    Ok(())
}

impl Engine {
    /// UNSUBSCRIBE (PROTOCOL.md §2.2): the subscriber or the node owner may cancel.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        id: Option<SubscriptionId>,
    ) {
        self.advance(now);
        let r = self.node(node).and_then(|n| {
            let id = id.ok_or(Refusal::MissingSubscriptionId)?;
            let rec = self
                .subs
                .get(id)
                .filter(|r| r.node == n)
                .ok_or(Refusal::UnknownSubscription)?;
            self.may_manage(caller, n, &rec.subscriber, rec.proof)?;
            self.subs
                .remove(id, duration_millis(self.policy.subscription_grace));
            self.journal.subscription_gone(id);
            Ok(Outcome::Unsubscribed)
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }
}
