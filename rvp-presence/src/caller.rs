//! Who is asking: the identities a request presents (PROTOCOL.md §8.2).

use std::net::IpAddr;
use std::sync::Arc;

use rvp_proto::CredentialKind;

/// The caller of one request, as established by the embedder (authentication happens
/// outside the engine).
///
/// A caller presents up to two (principal, credential-kind) pairs for ACL evaluation:
/// the asserted `RVP-From-Principal` with [`CredentialKind::Assertion`], when the request
/// carries that header, and the authenticated principal with the kind of its proof (NTLM,
/// Digest, internal), when the request was authenticated (PROTOCOL.md §8.2). A request
/// without `RVP-From-Principal` presents only its proven identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Caller {
    asserted: Option<Arc<str>>,
    authenticated: Option<(Arc<str>, CredentialKind)>,
    source: Option<IpAddr>,
}

impl Caller {
    /// An unauthenticated caller asserting `RVP-From-Principal: principal`.
    pub fn asserted(principal: &str) -> Caller {
        Caller {
            asserted: Some(canonical_principal(principal).into()),
            authenticated: None,
            source: None,
        }
    }

    /// A caller with no `RVP-From-Principal` and no credentials.
    pub fn anonymous() -> Caller {
        Caller {
            asserted: None,
            authenticated: None,
            source: None,
        }
    }

    /// A caller authenticated as `principal` by `kind`, asserting nothing
    /// ([`Caller::with_asserted`] adds the `RVP-From-Principal` it sent).
    pub fn authenticated(principal: &str, kind: CredentialKind) -> Caller {
        let p: Arc<str> = canonical_principal(principal).into();
        Caller {
            asserted: None,
            authenticated: Some((p, kind)),
            source: None,
        }
    }

    /// Replaces the asserted principal (`RVP-From-Principal`).
    pub fn with_asserted(mut self, principal: &str) -> Caller {
        self.asserted = Some(canonical_principal(principal).into());
        self
    }

    /// Records the source IP address (used to bind view-less PROPPATCHes, §5.3).
    pub fn with_source(mut self, ip: IpAddr) -> Caller {
        self.source = Some(ip);
        self
    }

    /// The asserted principal, canonical (`RVP-From-Principal`).
    pub fn asserted_principal(&self) -> Option<&Arc<str>> {
        self.asserted.as_ref()
    }

    /// The authenticated principal and how it was proven.
    pub fn authenticated_principal(&self) -> Option<(&Arc<str>, CredentialKind)> {
        self.authenticated.as_ref().map(|(p, k)| (p, *k))
    }

    /// The source IP address, if the embedder gave one.
    pub fn source(&self) -> Option<IpAddr> {
        self.source
    }

    /// Whether the request carried verified credentials.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated.is_some()
    }

    /// The principal the caller acts as: the authenticated one if any, else the asserted
    /// one.
    pub fn principal(&self) -> Option<&Arc<str>> {
        self.authenticated
            .as_ref()
            .map(|(p, _)| p)
            .or(self.asserted.as_ref())
    }

    /// The (principal, credential kind) pairs presented for ACL evaluation.
    pub fn presented(&self) -> impl Iterator<Item = (&str, CredentialKind)> + Clone {
        self.asserted
            .iter()
            .map(|p| (&**p, CredentialKind::Assertion))
            .chain(self.authenticated.iter().map(|(p, k)| (&**p, *k)))
    }
}

/// The canonical form of a principal URL for comparison (PROTOCOL.md §8.2); defined in
/// `rvp-proto`, beside the URL forms.
pub use rvp_proto::url::canonical_principal;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form() {
        assert_eq!(
            canonical_principal("  HTTP://IM.Example.com/instmsg/aliases/SteveM "),
            "http://im.example.com/instmsg/aliases/SteveM"
        );
        assert_eq!(canonical_principal("im.example.com"), "im.example.com");
        assert_eq!(canonical_principal("http://H"), "http://h");
    }

    #[test]
    fn presented_pairs() {
        let c = Caller::authenticated("http://h/instmsg/aliases/a", CredentialKind::Digest)
            .with_asserted("http://h/instmsg/aliases/b");
        let pairs: Vec<_> = c.presented().collect();
        assert_eq!(
            pairs,
            vec![
                ("http://h/instmsg/aliases/b", CredentialKind::Assertion),
                ("http://h/instmsg/aliases/a", CredentialKind::Digest)
            ]
        );
        assert_eq!(
            c.principal().map(|p| &**p),
            Some("http://h/instmsg/aliases/a")
        );
        assert_eq!(Caller::anonymous().presented().count(), 0);
        // No RVP-From-Principal: only the proven pair.
        let proven = Caller::authenticated("http://h/instmsg/aliases/a", CredentialKind::Digest);
        assert_eq!(
            proven.presented().collect::<Vec<_>>(),
            vec![("http://h/instmsg/aliases/a", CredentialKind::Digest)]
        );
        assert_eq!(proven.asserted_principal(), None);
    }
}
