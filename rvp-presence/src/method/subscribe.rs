//! SUBSCRIBE (PROTOCOL.md §2.1): headers → [`SubscribeParams`]; the answer is `200` (login
//! subscription, renewal) or `207` with the node's properties (presence subscription).

use crate::caller::Caller;
use crate::clock::{duration_millis, secs_millis};
use crate::principal::{NodeKey, PrincipalId};
use crate::subscription::NewSubscription;
use rvp_proto::Right;
use std::time::Instant;

use crate::callback::{CallBackForm, ip_literal, is_special_address};
use crate::engine::{Outcome, RequestId};

use rvp_proto::header::{CallBack, NotificationType};

use super::Cx;
use crate::engine::{Engine, Refusal};
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
    if cx.head.unusable.contains("Subscription-Id") {
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
    let kind = if cx.head.unusable.contains("Notification-Type") {
        None
    } else {
        kind_of(h.notification_type.as_ref())
    };
    let callback = if cx.head.unusable.contains("Call-Back") {
        None
    } else {
        h.call_back.clone()
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

/// Parameters of SUBSCRIBE as the headers gave them (`None` = header absent).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SubscribeParams {
    /// `Notification-Type` (`None` when absent or unknown).
    pub kind: Option<SubscriptionKind>,
    /// `Call-Back`.
    pub callback: Option<CallBack>,
    /// `Subscription-Lifetime` in seconds.
    pub lifetime_secs: Option<u32>,
    /// `Subscription-Id` (renewal).
    pub renew: Option<SubscriptionId>,
}

impl SubscribeParams {
    /// A new subscription.
    pub fn new(kind: SubscriptionKind, callback: CallBack, lifetime_secs: u32) -> SubscribeParams {
        SubscribeParams {
            kind: Some(kind),
            callback: Some(callback),
            lifetime_secs: Some(lifetime_secs),
            renew: None,
        }
    }

    /// A renewal.
    pub fn renewal(id: SubscriptionId, lifetime_secs: u32) -> SubscribeParams {
        SubscribeParams {
            kind: None,
            callback: None,
            lifetime_secs: Some(lifetime_secs),
            renew: Some(id),
        }
    }
}

impl Engine {
    /// SUBSCRIBE (PROTOCOL.md §2.1): queues exactly one answer for `request`.
    pub fn subscribe(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        params: SubscribeParams,
    ) {
        self.advance(now);
        let r = self
            .node(node)
            .and_then(|n| self.do_subscribe(caller, n, params));
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }

    pub(crate) fn do_subscribe(
        &mut self,
        caller: &Caller,
        node: PrincipalId,
        params: SubscribeParams,
    ) -> Result<Outcome, Refusal> {
        let grace = duration_millis(self.policy.subscription_grace);
        if let Some(id) = params.renew {
            let rec = self
                .subs
                .get(id)
                .filter(|r| r.node == node)
                .ok_or(Refusal::UnknownSubscription)?;
            self.may_manage(caller, node, &rec.subscriber, rec.proof)?;
            if params.kind.is_some_and(|k| k != rec.kind)
                || params
                    .callback
                    .as_ref()
                    .is_some_and(|c| *c != *rec.callback)
            {
                return Err(Refusal::RenewalChanges);
            }
            let lifetime = params.lifetime_secs.ok_or(Refusal::StaticSubscription)?;
            let granted = self.policy.grant_lifetime(lifetime);
            let expires = self.now + secs_millis(granted);
            self.subs
                .renew(id, granted, expires, expires + grace, grace);
            self.journal_subscription(id);
            return Ok(Outcome::Renewed {
                id,
                lifetime_secs: granted,
            });
        }
        let kind = params.kind.ok_or(Refusal::MissingNotificationType)?;
        let callback = params.callback.ok_or(Refusal::MissingCallBack)?;
        let lifetime = params.lifetime_secs.ok_or(Refusal::StaticSubscription)?;
        let form = CallBackForm::of(&callback).ok_or(Refusal::MissingCallBack)?;
        if let CallBackForm::Principal(key) = &form
            && !self.directory.is_local_host(key.host())
            && ip_literal(key.host()).is_some()
        {
            // Another domain's principal is reached where its DNS points, never at an
            // address the subscriber picked.
            return Err(Refusal::MissingCallBack);
        }
        let local_target = match &form {
            CallBackForm::Principal(key) => self.directory.lookup(key),
            _ => None,
        };
        if kind == SubscriptionKind::Notify && local_target == Some(node) {
            return Err(Refusal::SelfRelay);
        }
        if kind == SubscriptionKind::Notify {
            self.check(caller, node, Right::ReceiveFrom)?;
        }
        let callback_key = match &form {
            CallBackForm::Principal(key) => Some(key),
            _ => None,
        };
        let own_url = caller.acting().is_some_and(|p| {
            p.is(callback.as_str(), callback_key)
                || p.key
                    .as_ref()
                    .and_then(|k| self.directory.lookup(k))
                    .is_some_and(|id| Some(id) == local_target)
        });
        // An IP call-back must be the requesting connection's own address (the server
        // would otherwise connect wherever a caller says); a host-name local node cannot
        // be tied to it at all. Either needs a proven `subscribe-others`.
        let tied_to_source = match &form {
            CallBackForm::Ip(ip) => caller.source() == Some(*ip),
            CallBackForm::HostNode => false,
            CallBackForm::Principal(_) => true,
        };
        if !own_url || !tied_to_source {
            self.check(caller, node, Right::SubscribeOthers)?;
        }
        if let CallBackForm::Ip(ip) = &form
            && is_special_address(*ip)
            && caller.source() != Some(*ip)
        {
            // Loopback, link-local, unspecified...: only a client on that very address
            // may name it, whatever its rights (else the server could be aimed at its
            // own host's services).
            return Err(Refusal::Forbidden(Right::SubscribeOthers));
        }
        let subscriber = caller
            .principal()
            .map_or_else(|| callback.as_str().to_owned(), |p| p.to_string());
        let owner = self.is_owner(caller, node);
        if !owner && self.subs.count_on(node) >= self.policy.max_subscriptions_per_node {
            return Err(Refusal::TooManySubscriptions);
        }
        let (on_node, overall) = self.subs.subscriber_counts(node, &subscriber);
        // The proven owner's own subscriptions (its logins, after crashes and
        // reconnects) are bounded by the overall quota only.
        if (!owner && on_node as usize >= self.policy.subscriber_quota_per_node)
            || overall as usize >= self.policy.subscriber_quota
        {
            return Err(Refusal::SubscriberQuota);
        }
        let granted = self.policy.grant_lifetime(lifetime);
        let expires = self.now + secs_millis(granted);
        let id = self.subs.insert(NewSubscription {
            node,
            kind,
            callback: &callback,
            subscriber: &subscriber,
            proof: caller
                .authenticated_principal()
                .filter(|(p, _)| ***p == *subscriber)
                .map(|(_, k)| k),
            // Property changes for a local logical call-back are relayed in-engine.
            local_target: if kind == SubscriptionKind::PropChange {
                local_target
            } else {
                None
            },
            granted_secs: granted,
            expires_ms: expires,
            remove_at_ms: expires + grace,
        });
        self.journal_subscription(id);
        self.journal.counters_changed();
        Ok(Outcome::Subscribed {
            id,
            kind,
            lifetime_secs: granted,
            properties: (kind == SubscriptionKind::PropChange)
                .then(|| self.properties_for(caller, node)),
        })
    }
}
