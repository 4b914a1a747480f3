//! Access control: ACLs per node, the default ACL, evaluation and the merge-by-principal
//! write rule (PROTOCOL.md §2.7, §8.2–§8.4).
//!
//! These are evaluation-friendly types; the wire `a:rvpacl` body lives in `rvp-proto`'s XML
//! module and the method layer converts between the two.

use rvp_proto::{CredentialKind, CredentialSet, Right, RightSet};

use crate::caller::Caller;

/// Who an ACE is about, and one access control entry: the `a:rvpacl` types of
/// `rvp-proto`, evaluated here as they are read from the wire (principals canonicalised
/// with [`AcePrincipal::url`]).
pub use rvp_proto::xml::{Ace, AcePrincipal};

/// Whether `ace` speaks about `principal` (canonical) presenting a `kind` credential.
fn applies_to(ace: &Ace, principal: &str, kind: CredentialKind) -> bool {
    ace.credentials.accepts(kind)
        && match &ace.principal {
            AcePrincipal::AllPrincipals => true,
            AcePrincipal::Url(u) => u == principal,
        }
}

/// Why an ACL write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclError {
    /// An ACE has no credential kind (`400 credentials not specified`, S§5.7.2).
    #[error("ACE for {principal} has no a:credentials (400 credentials not specified)")]
    CredentialsNotSpecified {
        /// The ACE's principal, for the message.
        principal: String,
    },
    /// An `a:rvp-principal` is empty.
    #[error("ACE has an empty a:rvp-principal")]
    EmptyPrincipal,
    /// The merged ACL would exceed the policy's entry limit.
    #[error("ACL would hold {len} entries, more than the limit of {max}")]
    TooManyEntries {
        /// Resulting size.
        len: usize,
        /// `Policy::max_acl_entries`.
        max: usize,
    },
}

/// The rights of the default owner ACE (PROTOCOL.md §8.3).
pub const OWNER_RIGHTS: [Right; 10] = [
    Right::List,
    Right::Read,
    Right::Write,
    Right::SendTo,
    Right::ReceiveFrom,
    Right::ReadAcl,
    Right::WriteAcl,
    Right::Presence,
    Right::Subscriptions,
    Right::SubscribeOthers,
];

/// The rights every principal gets by default (PROTOCOL.md §8.3).
pub const EVERYONE_RIGHTS: [Right; 4] = [Right::List, Right::Read, Right::SendTo, Right::Presence];

/// The access control list of one node: an unordered set of ACEs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Acl {
    aces: Vec<Ace>,
}

impl Acl {
    /// An ACL with exactly these entries.
    pub fn from_aces(aces: Vec<Ace>) -> Acl {
        Acl { aces }
    }

    /// The default ACL of a new principal node (PROTOCOL.md §8.3): the owner, proven by NTLM
    /// or Digest, gets every operational right; every principal presenting assertion,
    /// Digest or NTLM gets `list read send-to presence`.
    pub fn default_for(owner_logical_url: &str) -> Acl {
        Acl::default_with_owner_assertion(owner_logical_url, false)
    }

    /// The default ACL ([`Acl::default_for`]), with the owner entry also accepting
    /// `assertion` when `owner_accepts_assertion` (assertion-only mode,
    /// [`Policy::owner_accepts_assertion`](crate::Policy::owner_accepts_assertion)).
    pub fn default_with_owner_assertion(
        owner_logical_url: &str,
        owner_accepts_assertion: bool,
    ) -> Acl {
        let owner_credentials = if owner_accepts_assertion {
            CredentialSet::of([
                CredentialKind::Assertion,
                CredentialKind::Ntlm,
                CredentialKind::Digest,
            ])
        } else {
            CredentialSet::of([CredentialKind::Ntlm, CredentialKind::Digest])
        };
        Acl {
            aces: vec![
                Ace::grant(
                    AcePrincipal::url(owner_logical_url),
                    owner_credentials,
                    RightSet::of(OWNER_RIGHTS),
                ),
                Ace::grant(
                    AcePrincipal::AllPrincipals,
                    CredentialSet::of([
                        CredentialKind::Assertion,
                        CredentialKind::Digest,
                        CredentialKind::Ntlm,
                    ]),
                    RightSet::of(EVERYONE_RIGHTS),
                ),
            ],
        }
    }

    /// The entries.
    pub fn aces(&self) -> &[Ace] {
        &self.aces
    }

    /// Whether the presented (principal, credential kind) pairs hold `right` (§8.2, §8.3):
    /// among the ACEs matching any pair, a denial wins; otherwise a grant (or `all`) allows;
    /// otherwise the right is denied.
    pub fn evaluate<'a>(
        &self,
        presented: impl IntoIterator<Item = (&'a str, CredentialKind)> + Clone,
        right: Right,
    ) -> bool {
        let mut granted = false;
        for ace in &self.aces {
            let hit = presented
                .clone()
                .into_iter()
                .any(|(p, k)| applies_to(ace, p, k));
            if !hit {
                continue;
            }
            if ace.deny.covers(right) {
                return false;
            }
            granted |= ace.grant.covers(right);
        }
        granted
    }

    /// [`Acl::evaluate`] for a caller.
    pub fn allows(&self, caller: &Caller, right: Right) -> bool {
        self.evaluate(caller.presented(), right)
    }

    /// Whether `right` is granted to everybody whatever they present: an `allprincipals`
    /// ACE accepting assertion grants it and no ACE denies it. Lets fan-out skip the
    /// per-watcher evaluation in the common case.
    pub fn open_to_all(&self, right: Right) -> bool {
        let denied = self.aces.iter().any(|a| a.deny.covers(right));
        !denied
            && self.aces.iter().any(|a| {
                a.principal == AcePrincipal::AllPrincipals
                    && a.credentials.accepts(CredentialKind::Assertion)
                    && a.grant.covers(right)
            })
    }

    /// Applies an ACL write by the merge-by-principal rule (§2.7): each ACE replaces the
    /// stored ACE with the same principal or is appended; an ACE with empty grant and deny
    /// removes the stored one. The write is atomic: on error nothing changes.
    pub fn merge(
        &mut self,
        aces: impl IntoIterator<Item = Ace>,
        max_entries: usize,
    ) -> Result<(), AclError> {
        let mut next = self.aces.clone();
        for ace in aces {
            if let AcePrincipal::Url(u) = &ace.principal
                && u.trim().is_empty()
            {
                return Err(AclError::EmptyPrincipal);
            }
            if ace.credentials.is_empty() {
                return Err(AclError::CredentialsNotSpecified {
                    principal: match &ace.principal {
                        AcePrincipal::AllPrincipals => "a:allprincipals".to_owned(),
                        AcePrincipal::Url(u) => u.to_string(),
                    },
                });
            }
            let pos = next.iter().position(|a| a.principal == ace.principal);
            let remove = ace.grant.is_empty() && ace.deny.is_empty();
            match (pos, remove) {
                (Some(i), true) => {
                    next.remove(i);
                }
                (Some(i), false) => next[i] = ace,
                (None, true) => {}
                (None, false) => next.push(ace),
            }
        }
        if next.len() > max_entries {
            return Err(AclError::TooManyEntries {
                len: next.len(),
                max: max_entries,
            });
        }
        self.aces = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRUCE: &str = "http://im.acme.com/instmsg/aliases/bruceb";
    const STEVE: &str = "http://im.example.com/instmsg/aliases/steveb";

    #[test]
    fn default_acl_owner_needs_proof() {
        let acl = Acl::default_for(BRUCE);
        let asserted = Caller::asserted(BRUCE);
        let proven = Caller::authenticated(BRUCE, CredentialKind::Digest);
        assert!(acl.allows(&asserted, Right::Presence));
        assert!(acl.allows(&asserted, Right::SendTo));
        assert!(!acl.allows(&asserted, Right::Write));
        assert!(!acl.allows(&asserted, Right::WriteAcl));
        assert!(acl.allows(&proven, Right::Write));
        assert!(acl.allows(&proven, Right::SubscribeOthers));
        assert!(!acl.allows(&Caller::anonymous(), Right::Presence));
        assert!(acl.open_to_all(Right::Presence));
        assert!(!acl.open_to_all(Right::Write));
    }

    #[test]
    fn deny_wins_and_matching_is_exact() {
        let mut acl = Acl::default_for(BRUCE);
        acl.merge(
            [Ace::deny(
                AcePrincipal::url(&format!("{STEVE}/")),
                CredentialSet::of([CredentialKind::Assertion]),
                RightSet::of([Right::SendTo, Right::Presence]),
            )],
            100,
        )
        .expect("valid");
        // Trailing slash: does not match steveb (§2.7 example oddity).
        assert!(acl.allows(&Caller::asserted(STEVE), Right::Presence));
        acl.merge(
            [Ace::deny(
                AcePrincipal::url(" HTTP://IM.EXAMPLE.COM/instmsg/aliases/steveb "),
                CredentialSet::ANY,
                RightSet::of([Right::SendTo, Right::Presence]),
            )],
            100,
        )
        .expect("valid");
        assert!(!acl.allows(&Caller::asserted(STEVE), Right::Presence));
        assert!(!acl.allows(&Caller::asserted(STEVE), Right::SendTo));
        assert!(acl.allows(&Caller::asserted(STEVE), Right::Read));
        assert!(!acl.open_to_all(Right::Presence));
    }

    #[test]
    fn unlisted_credentials_are_unlisted() {
        let acl = Acl::from_aces(vec![Ace::grant(
            AcePrincipal::url(STEVE),
            CredentialSet::of([CredentialKind::Ntlm]),
            RightSet::of([Right::Read]),
        )]);
        assert!(!acl.allows(&Caller::asserted(STEVE), Right::Read));
        assert!(!acl.allows(
            &Caller::authenticated(STEVE, CredentialKind::Digest),
            Right::Read
        ));
        assert!(acl.allows(
            &Caller::authenticated(STEVE, CredentialKind::Ntlm),
            Right::Read
        ));
    }

    #[test]
    fn all_right_covers_everything() {
        let acl = Acl::from_aces(vec![Ace::grant(
            AcePrincipal::AllPrincipals,
            CredentialSet::ANY,
            RightSet::of([Right::All]),
        )]);
        for r in Right::ALL_RIGHTS {
            assert!(acl.allows(&Caller::asserted(STEVE), r));
        }
    }

    #[test]
    fn merge_by_principal() {
        let mut acl = Acl::default_for(BRUCE);
        let permit = Ace::grant(
            AcePrincipal::url(STEVE),
            CredentialSet::ANY,
            RightSet::of([Right::SendTo, Right::Presence]),
        );
        acl.merge([permit.clone()], 100).expect("valid");
        assert_eq!(acl.aces().len(), 3);
        let deny = Ace::deny(
            AcePrincipal::url(STEVE),
            CredentialSet::ANY,
            RightSet::of([Right::SendTo, Right::Presence]),
        );
        acl.merge([deny.clone()], 100).expect("valid");
        assert_eq!(acl.aces().len(), 3);
        assert_eq!(acl.aces()[2], deny);
        // Empty grant + deny removes.
        acl.merge(
            [Ace::grant(
                AcePrincipal::url(STEVE),
                CredentialSet::ANY,
                RightSet::EMPTY,
            )],
            100,
        )
        .expect("valid");
        assert_eq!(acl, Acl::default_for(BRUCE));
    }

    #[test]
    fn merge_errors_are_atomic() {
        let mut acl = Acl::default_for(BRUCE);
        let before = acl.clone();
        let good = Ace::grant(
            AcePrincipal::url(STEVE),
            CredentialSet::ANY,
            RightSet::of([Right::Read]),
        );
        let bad = Ace::grant(
            AcePrincipal::AllPrincipals,
            CredentialSet::EMPTY,
            RightSet::of([Right::Read]),
        );
        let e = acl
            .merge([good.clone(), bad], 100)
            .expect_err("no credentials");
        assert!(e.to_string().contains("credentials not specified"), "{e}");
        assert_eq!(acl, before);
        let e = acl
            .merge(
                [Ace::grant(
                    AcePrincipal::url("  "),
                    CredentialSet::ANY,
                    RightSet::EMPTY,
                )],
                100,
            )
            .expect_err("empty");
        assert_eq!(e, AclError::EmptyPrincipal);
        let e = acl.merge([good], 2).expect_err("limit");
        assert_eq!(e, AclError::TooManyEntries { len: 3, max: 2 });
        assert_eq!(acl, before);
    }
}
