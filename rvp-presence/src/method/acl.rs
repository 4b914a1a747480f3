//! ACL (PROTOCOL.md §2.7): an empty body reads the ACL, an `a:rvpacl` body writes it (merge
//! by principal); both answer `200` with the complete stored ACL. No `Content-Type` is
//! required (librvp sends none).

use crate::caller::Caller;
use crate::principal::{NodeKey, PrincipalId};
use rvp_proto::{PresenceState, Right};
use std::time::Instant;

use crate::engine::access::sees_presence;
use crate::engine::fanout::{FanOutRules, fan_out_states};
use crate::engine::{Outcome, RequestId};

use rvp_proto::xml::{Inheritance, RvpAcl, XmlBody, XmlError};

use super::{Cx, bad_xml, is_blank};
use crate::acl::{Ace, AcePrincipal, Acl, AclError};
use crate::engine::{Engine, Refusal};

pub(super) fn handle(e: &mut Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    if is_blank(cx.body) {
        e.acl_read(cx.now, cx.request, cx.caller, cx.key);
        return Ok(());
    }
    let wire = match RvpAcl::parse_with(cx.body, &e.policy().xml_limits) {
        Ok(w) => w,
        Err(XmlError::CredentialsNotSpecified) => {
            return Err(Refusal::InvalidAcl(AclError::CredentialsNotSpecified {
                principal: "an ACE".into(),
            }));
        }
        Err(err) => return Err(bad_xml(RvpAcl::ROOT, &err)),
    };
    let aces = acl_from_wire(&wire).map_err(Refusal::InvalidAcl)?;
    e.acl_write(cx.now, cx.request, cx.caller, cx.key, aces);
    Ok(())
}

/// The engine's ACEs for an `a:rvpacl` body (principals canonicalised, §8.2). An ACE
/// without credential kinds → [`AclError::CredentialsNotSpecified`] (`400 credentials
/// not specified`).
pub fn acl_from_wire(acl: &RvpAcl) -> Result<Vec<Ace>, AclError> {
    acl.aces
        .iter()
        .map(|a| {
            let principal = match &a.principal {
                AcePrincipal::Url(u) if u.trim().is_empty() => {
                    return Err(AclError::EmptyPrincipal);
                }
                AcePrincipal::Url(u) => AcePrincipal::url(u),
                AcePrincipal::AllPrincipals => AcePrincipal::AllPrincipals,
            };
            if a.credentials.is_empty() {
                return Err(AclError::CredentialsNotSpecified {
                    principal: match &principal {
                        AcePrincipal::Url(u) => u.clone(),
                        AcePrincipal::AllPrincipals => "a:allprincipals".into(),
                    },
                });
            }
            Ok(Ace {
                principal,
                ..a.clone()
            })
        })
        .collect()
}

/// The `a:rvpacl` body of a stored ACL (`a:inheritance` `none`, PROTOCOL.md §2.7).
pub fn acl_to_wire(acl: &Acl) -> RvpAcl {
    RvpAcl {
        inheritance: Some(Inheritance::None),
        aces: acl.aces().to_vec(),
    }
}

impl Engine {
    /// ACL read (PROTOCOL.md §2.7): needs `readacl` (the owner always has it).
    pub fn acl_read(&mut self, now: Instant, request: RequestId, caller: &Caller, node: &NodeKey) {
        self.advance(now);
        let r = self.node(node).and_then(|n| {
            self.check(caller, n, Right::ReadAcl)?;
            Ok(Outcome::Acl(self.nodes[n.0 as usize].acl.clone()))
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }

    /// After an ACL write on `node`: tells each watcher whose right to see presence
    /// flipped what it sees now (see [`acl_write`](Self::acl_write)).
    pub(crate) fn renotify_visibility(&mut self, node: PrincipalId, before: &Acl) {
        let n = &self.nodes[node.0 as usize];
        if n.published == PresenceState::Offline {
            return;
        }
        let published = n.published.clone();
        let after = &self.nodes[node.0 as usize].acl;
        self.dropped_deliveries += fan_out_states(
            &self.directory,
            &self.subs,
            &mut self.out,
            &mut self.next_delivery,
            node,
            FanOutRules {
                budget: self.policy.max_deliveries_per_change,
                show_name: after.open_to_all(Right::Read),
            },
            |rec| match (sees_presence(before, rec), sees_presence(after, rec)) {
                (true, false) => Some(PresenceState::Offline),
                (false, true) => Some(published.clone()),
                _ => None,
            },
        );
    }

    /// ACL write (PROTOCOL.md §2.7): merge by principal, needs `writeacl` (the owner always
    /// has it); answers with the complete stored ACL.
    ///
    /// A write that changes whether a current watcher may see presence changes the state
    /// that watcher sees (§8.4: a hidden state reads as offline), so that watcher alone gets
    /// one state propnotification: `offline` when presence is now denied, the published
    /// state when it is granted again. Nothing is sent when the published state is offline
    /// anyway, nor to watchers whose visibility did not change.
    pub fn acl_write(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        aces: Vec<Ace>,
    ) {
        self.advance(now);
        let max = self.policy.max_acl_entries;
        let r = self.node(node).and_then(|n| {
            self.check(caller, n, Right::WriteAcl)?;
            let before = self.nodes[n.0 as usize].acl.clone();
            let acl = &mut self.nodes[n.0 as usize].acl;
            acl.merge(aces, max).map_err(Refusal::InvalidAcl)?;
            let stored = acl.clone();
            self.journal_acl(n);
            self.renotify_visibility(n, &before);
            Ok(Outcome::Acl(stored))
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use rvp_proto::{CredentialKind, CredentialSet, Right, RightSet};

    use super::*;

    fn rights(bits: u16) -> RightSet {
        Right::ALL_RIGHTS
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, r)| *r)
            .collect()
    }

    fn creds(bits: u8) -> CredentialSet {
        CredentialKind::ALL_KINDS
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, k)| *k)
            .collect()
    }

    proptest! {
        /// Engine ACEs → `a:rvpacl` → bytes → `a:rvpacl` → engine ACEs is the identity.
        #[test]
        fn engine_aces_survive_the_wire(
            aces in proptest::collection::vec(
                (proptest::option::of("[a-z]{1,8}"), 1u8..16, any::<u16>(), any::<u16>()),
                0..6,
            )
        ) {
            let acl = Acl::from_aces(
                aces.iter()
                    .map(|(who, c, g, d)| Ace {
                        principal: match who {
                            Some(a) => AcePrincipal::url(&format!("http://im.example.com/instmsg/aliases/{a}")),
                            None => AcePrincipal::AllPrincipals,
                        },
                        credentials: creds(*c),
                        grant: rights(*g),
                        deny: rights(*d),
                    })
                    .collect(),
            );
            let wire = RvpAcl::parse(&acl_to_wire(&acl).to_bytes()).unwrap();
            prop_assert_eq!(acl_from_wire(&wire).unwrap(), acl.aces().to_vec());
        }
    }

    #[test]
    fn ace_without_credentials_is_named() {
        let wire = RvpAcl {
            inheritance: None,
            aces: vec![Ace {
                principal: AcePrincipal::Url("http://h/instmsg/aliases/x".into()),
                credentials: CredentialSet::EMPTY,
                grant: RightSet::EMPTY,
                deny: RightSet::EMPTY,
            }],
        };
        let e = acl_from_wire(&wire).unwrap_err();
        assert!(e.to_string().contains("http://h/instmsg/aliases/x"), "{e}");
    }
}
