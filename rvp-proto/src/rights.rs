//! The vocabulary of RVP access control (PROTOCOL.md §4.6, §8): rights and credential kinds,
//! and compact sets of each.
//!
//! These types are shared by the `a:rvpacl` body ([`crate::xml::acl`]) and by the
//! presence engine's ACL evaluation.

use std::fmt;

/// One right of an ACE (PROTOCOL.md §4.6, §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Right {
    /// `a:read`: read properties.
    Read,
    /// `a:write`: update properties.
    Write,
    /// `a:readacl`: read the ACL.
    ReadAcl,
    /// `a:writeacl`: change the ACL.
    WriteAcl,
    /// `a:all`: every right.
    All,
    /// `a:send-to`: send NOTIFYs to the node.
    SendTo,
    /// `a:presence`: see presence information.
    Presence,
    /// `a:list`: list properties.
    List,
    /// `a:receive-from`: receive what is notified to the node.
    ReceiveFrom,
    /// `a:subscriptions`: list the node's subscriptions.
    Subscriptions,
    /// `a:subscribe-others`: subscribe with callbacks other than one's own logical URL.
    SubscribeOthers,
}

impl Right {
    /// Every right, in the order of the §4.6 grammar.
    pub const ALL_RIGHTS: [Right; 11] = [
        Right::Read,
        Right::Write,
        Right::ReadAcl,
        Right::WriteAcl,
        Right::All,
        Right::SendTo,
        Right::Presence,
        Right::List,
        Right::ReceiveFrom,
        Right::Subscriptions,
        Right::SubscribeOthers,
    ];

    /// The element's local name in the ACL namespace (`"send-to"`).
    pub const fn local_name(self) -> &'static str {
        match self {
            Right::Read => "read",
            Right::Write => "write",
            Right::ReadAcl => "readacl",
            Right::WriteAcl => "writeacl",
            Right::All => "all",
            Right::SendTo => "send-to",
            Right::Presence => "presence",
            Right::List => "list",
            Right::ReceiveFrom => "receive-from",
            Right::Subscriptions => "subscriptions",
            Right::SubscribeOthers => "subscribe-others",
        }
    }

    /// The right named by an ACL-namespace local name.
    pub fn from_local_name(name: &str) -> Option<Right> {
        Right::ALL_RIGHTS
            .into_iter()
            .find(|r| r.local_name() == name)
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.local_name())
    }
}

/// A set of [`Right`]s, in the order they are written on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RightSet(u16);

impl RightSet {
    /// The empty set.
    pub const EMPTY: RightSet = RightSet(0);

    /// A set holding the given rights.
    pub fn of(rights: impl IntoIterator<Item = Right>) -> RightSet {
        let mut s = RightSet::EMPTY;
        for r in rights {
            s.insert(r);
        }
        s
    }

    /// Adds a right.
    pub fn insert(&mut self, right: Right) {
        self.0 |= right.bit();
    }

    /// Removes a right.
    pub fn remove(&mut self, right: Right) {
        self.0 &= !right.bit();
    }

    /// Whether the right is literally in the set (`All` is not expanded).
    pub fn contains(self, right: Right) -> bool {
        self.0 & right.bit() != 0
    }

    /// Whether the set grants or denies `right`, counting `a:all` as every right.
    pub fn covers(self, right: Right) -> bool {
        self.contains(right) || self.contains(Right::All)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The rights in the set, in [`Right::ALL_RIGHTS`] order.
    pub fn iter(self) -> impl Iterator<Item = Right> {
        Right::ALL_RIGHTS
            .into_iter()
            .filter(move |r| self.contains(*r))
    }
}

impl fmt::Debug for RightSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Right> for RightSet {
    fn from_iter<I: IntoIterator<Item = Right>>(iter: I) -> Self {
        RightSet::of(iter)
    }
}

/// A kind of credential a caller presents (PROTOCOL.md §8.2) or an ACE accepts (§4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CredentialKind {
    /// `a:ntlm`: authenticated by NTLM or Negotiate.
    Ntlm,
    /// `a:digest`: authenticated by HTTP Digest.
    Digest,
    /// `a:assertion`: the unproven `RVP-From-Principal` header.
    Assertion,
    /// `a:internal`: a server-specific mechanism.
    Internal,
}

impl CredentialKind {
    /// The four kinds, in the order of the §4.6 grammar.
    pub const ALL_KINDS: [CredentialKind; 4] = [
        CredentialKind::Ntlm,
        CredentialKind::Digest,
        CredentialKind::Assertion,
        CredentialKind::Internal,
    ];

    /// The element's local name in the ACL namespace.
    pub const fn local_name(self) -> &'static str {
        match self {
            CredentialKind::Ntlm => "ntlm",
            CredentialKind::Digest => "digest",
            CredentialKind::Assertion => "assertion",
            CredentialKind::Internal => "internal",
        }
    }

    /// The kind named by an ACL-namespace local name (`a:any` is not a kind; see
    /// [`CredentialSet::ANY`]).
    pub fn from_local_name(name: &str) -> Option<CredentialKind> {
        CredentialKind::ALL_KINDS
            .into_iter()
            .find(|k| k.local_name() == name)
    }

    const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.local_name())
    }
}

/// The credential kinds an ACE accepts: `a:any`, or a set of kinds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CredentialSet(u8);

impl CredentialSet {
    const ANY_BIT: u8 = 1 << 7;

    /// No credential kind (an ACE with this set is invalid on the wire:
    /// `400 credentials not specified`).
    pub const EMPTY: CredentialSet = CredentialSet(0);

    /// `<a:any/>`: any valid credential kind.
    pub const ANY: CredentialSet = CredentialSet(Self::ANY_BIT);

    /// A set of the given kinds.
    pub fn of(kinds: impl IntoIterator<Item = CredentialKind>) -> CredentialSet {
        let mut s = CredentialSet::EMPTY;
        for k in kinds {
            s.insert(k);
        }
        s
    }

    /// Adds a kind.
    pub fn insert(&mut self, kind: CredentialKind) {
        self.0 |= kind.bit();
    }

    /// Whether the set is `a:any`.
    pub fn is_any(self) -> bool {
        self.0 & Self::ANY_BIT != 0
    }

    /// Whether a caller presenting `kind` is accepted (`a:any` accepts every kind).
    pub fn accepts(self, kind: CredentialKind) -> bool {
        self.is_any() || self.0 & kind.bit() != 0
    }

    /// Whether the set accepts nothing.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The listed kinds, in grammar order (empty for `a:any`).
    pub fn iter(self) -> impl Iterator<Item = CredentialKind> {
        CredentialKind::ALL_KINDS
            .into_iter()
            .filter(move |k| !self.is_any() && self.0 & k.bit() != 0)
    }
}

impl fmt::Debug for CredentialSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            f.write_str("{any}")
        } else {
            f.debug_set().entries(self.iter()).finish()
        }
    }
}

impl FromIterator<CredentialKind> for CredentialSet {
    fn from_iter<I: IntoIterator<Item = CredentialKind>>(iter: I) -> Self {
        CredentialSet::of(iter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_names_round_trip() {
        for r in Right::ALL_RIGHTS {
            assert_eq!(Right::from_local_name(r.local_name()), Some(r));
        }
        assert_eq!(Right::from_local_name("writeowner"), None);
    }

    #[test]
    fn right_set_ops() {
        let mut s = RightSet::of([Right::Read, Right::SendTo]);
        assert!(s.contains(Right::Read) && !s.contains(Right::Write));
        s.remove(Right::Read);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![Right::SendTo]);
        assert!(RightSet::of([Right::All]).covers(Right::Presence));
    }

    #[test]
    fn credential_sets() {
        let s = CredentialSet::of([CredentialKind::Digest, CredentialKind::Ntlm]);
        assert!(s.accepts(CredentialKind::Digest));
        assert!(!s.accepts(CredentialKind::Assertion));
        assert!(CredentialSet::ANY.accepts(CredentialKind::Internal));
        assert!(CredentialSet::EMPTY.is_empty());
        for k in CredentialKind::ALL_KINDS {
            assert_eq!(CredentialKind::from_local_name(k.local_name()), Some(k));
        }
    }
}
