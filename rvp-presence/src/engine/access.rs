//! Who may do what (PROTOCOL.md §8): proven identity, owner rights, ACL checks, and the
//! properties a caller may read.

use crate::callback::local_node_ip_of;
use crate::engine::{NodeProperties, Refusal};

use rvp_proto::{CredentialKind, PresenceState, Right};

use crate::acl::Acl;
use crate::caller::Caller;
use crate::principal::{PrincipalId, principal_key};

use super::Engine;

impl Engine {
    /// Whether the caller proved to be the node's owner.
    pub(crate) fn is_owner(&self, caller: &Caller, node: PrincipalId) -> bool {
        caller
            .proven()
            .and_then(|p| p.key.as_ref())
            .is_some_and(|k| self.directory.lookup(k) == Some(node))
    }

    /// The proven-identity rule (PROTOCOL.md §8.1): unless the policy accepts assertions
    /// ([`Policy::owner_accepts_assertion`]), a request whose `RVP-From-Principal` names
    /// an identity of this engine's domains (a local principal URL, registered or not, or
    /// a bare local host) must carry proof of exactly that identity. Without credentials →
    /// `401` (authenticating helps); proven as someone else → `403`.
    pub(crate) fn check_identity(&self, caller: &Caller) -> Result<(), Refusal> {
        if self.policy.owner_accepts_assertion {
            return Ok(());
        }
        let Some(asserted) = caller.claimed() else {
            return Ok(());
        };
        let local = match &asserted.key {
            Some(key) => self.directory.is_local_host(key.host()),
            None => self.directory.is_local_identity(&asserted.text),
        };
        if !local {
            return Ok(());
        }
        match caller.proven() {
            Some(proven) if proven.is(&asserted.text, asserted.key.as_ref()) => Ok(()),
            Some(_) => Err(Refusal::NotYourIdentity),
            None => Err(Refusal::IdentityNotProven),
        }
    }

    /// Whether `caller` may renew or cancel a subscription of `subscriber` on `node`: the
    /// proven owner of the node, or the subscriber with the standing it had when it
    /// subscribed — proven again when it proved itself then (or is a local identity), the
    /// same assertion for a principal of another domain (which cannot be proven here), the
    /// same source address for an anonymous IP call-back.
    pub(crate) fn may_manage(
        &self,
        caller: &Caller,
        node: PrincipalId,
        subscriber: &str,
        proof: Option<CredentialKind>,
    ) -> Result<(), Refusal> {
        if self.is_owner(caller, node) {
            return Ok(());
        }
        let key = principal_key(subscriber);
        let proven = caller
            .proven()
            .is_some_and(|p| p.is(subscriber, key.as_ref()));
        let asserted = || {
            caller
                .claimed()
                .is_some_and(|p| p.is(subscriber, key.as_ref()))
        };
        let allowed = if self.policy.owner_accepts_assertion {
            proven || asserted()
        } else if proof.is_some() || self.directory.is_local_identity(subscriber) {
            proven
        } else {
            match local_node_ip_of(subscriber) {
                // An anonymous subscription names its IP call-back as subscriber.
                Some(ip) => asserted() && caller.source() == Some(ip),
                None => asserted(),
            }
        };
        if allowed {
            Ok(())
        } else if caller.is_authenticated() {
            Err(Refusal::Forbidden(Right::Subscriptions))
        } else {
            Err(Refusal::Unauthorized(Right::Subscriptions))
        }
    }

    pub(crate) fn check(
        &self,
        caller: &Caller,
        node: PrincipalId,
        right: Right,
    ) -> Result<(), Refusal> {
        let Some(n) = self.nodes.get(node.0 as usize) else {
            return Err(Refusal::NotFound);
        };
        let owner_keeps =
            matches!(right, Right::ReadAcl | Right::WriteAcl) && self.is_owner(caller, node);
        let allowed = if self.owner_needs_proof(right) {
            // Owner rights never come from an assertion, whatever the ACL lists (librvp
            // grants itself `assertion digest ntlm` at every login).
            n.acl.evaluate(
                caller
                    .presented()
                    .filter(|&(_, k)| k != CredentialKind::Assertion),
                right,
            )
        } else {
            n.acl.allows(caller, right)
        };
        if owner_keeps || allowed {
            Ok(())
        } else if caller.is_authenticated() {
            Err(Refusal::Forbidden(right))
        } else {
            Err(Refusal::Unauthorized(right))
        }
    }

    /// Whether `right` is an owner right, which only proven credentials can grant: the
    /// login subscription (`receive-from`), PROPPATCH of the state (`write`), reading and
    /// writing the ACL, listing subscriptions and subscribing with another call-back —
    /// unless [`Policy::owner_accepts_assertion`].
    pub(crate) fn owner_needs_proof(&self, right: Right) -> bool {
        !self.policy.owner_accepts_assertion
            && matches!(
                right,
                Right::ReceiveFrom
                    | Right::Write
                    | Right::WriteAcl
                    | Right::ReadAcl
                    | Right::Subscriptions
                    | Right::SubscribeOthers
            )
    }

    pub(crate) fn properties_for(&self, caller: &Caller, node: PrincipalId) -> NodeProperties {
        let n = &self.nodes[node.0 as usize];
        let state = if n.acl.allows(caller, Right::Presence) {
            n.published.clone()
        } else {
            PresenceState::Offline
        };
        NodeProperties {
            href: self.logical_url(node),
            state,
            directory: n
                .acl
                .allows(caller, Right::Read)
                .then(|| self.directory.get(node).map(|p| p.properties().clone()))
                .flatten(),
        }
    }
}

/// Whether the watcher behind `rec` may see `r:state` under `acl` (the credentials it
/// proved when subscribing, and its asserted identity).
pub(crate) fn sees_presence(acl: &Acl, rec: &crate::subscription::Record) -> bool {
    let sub: &str = &rec.subscriber;
    let pairs =
        std::iter::once((sub, CredentialKind::Assertion)).chain(rec.proof.map(|k| (sub, k)));
    acl.evaluate(pairs, Right::Presence)
}
