//! Who is asking: the identities a request presents (PROTOCOL.md §8.2).

use std::net::IpAddr;
use std::sync::Arc;

use rvp_proto::CredentialKind;
use rvp_proto::header::FromPrincipal;

use crate::principal::{NodeKey, principal_key};

/// One identity a caller presents: its canonical text (what ACLs and logs see) and, for a
/// principal URL, the node key it names — read once, when the caller is built, instead of
/// at every comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Presented {
    pub(crate) text: Arc<str>,
    pub(crate) key: Option<NodeKey>,
}

impl Presented {
    fn new(principal: &str) -> Presented {
        let text: Arc<str> = canonical_principal(principal).into();
        let key = principal_key(&text);
        Presented { text, key }
    }

    /// From the typed `RVP-From-Principal`: its text is canonical already and its
    /// logical URL (also of a physical one) is read, so nothing is parsed again.
    pub(crate) fn from_header(principal: &FromPrincipal) -> Presented {
        use std::fmt::Write as _;
        // Sized once: a principal URL is rarely longer than this.
        let mut text = String::with_capacity(96);
        let _ = write!(text, "{principal}");
        Presented {
            text: text.into(),
            key: principal
                .logical()
                .and_then(|l| NodeKey::new(l.host(), l.alias())),
        }
    }

    /// Whether this identity and `other` (with its key, if already known) are the same
    /// principal (PROTOCOL.md §8.2): equal node keys for principal URLs (host and alias
    /// case-insensitive, logical or physical form), else equal canonical strings.
    pub(crate) fn is(&self, other: &str, other_key: Option<&NodeKey>) -> bool {
        match (&self.key, other_key) {
            (Some(x), Some(y)) => x == y,
            (None, None) => *self.text == canonical_principal(other),
            _ => false,
        }
    }
}

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
    asserted: Option<Presented>,
    authenticated: Option<(Presented, CredentialKind)>,
    source: Option<IpAddr>,
}

impl Caller {
    /// An unauthenticated caller asserting `RVP-From-Principal: principal`.
    pub fn asserted(principal: &str) -> Caller {
        Caller {
            asserted: Some(Presented::new(principal)),
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
        Caller {
            asserted: None,
            authenticated: Some((Presented::new(principal), kind)),
            source: None,
        }
    }

    /// [`Caller::authenticated`] for a typed identity (a user's logical URL, a server's
    /// bare host): its canonical text and node key are read off it, not parsed again.
    pub fn authenticated_as(principal: &FromPrincipal, kind: CredentialKind) -> Caller {
        Caller {
            asserted: None,
            authenticated: Some((Presented::from_header(principal), kind)),
            source: None,
        }
    }

    /// [`Caller::authenticated_as`] asserting the same principal in `RVP-From-Principal`:
    /// the identity is read once and presented twice.
    pub(crate) fn authenticated_asserting(
        principal: &FromPrincipal,
        kind: CredentialKind,
    ) -> Caller {
        let presented = Presented::from_header(principal);
        Caller {
            asserted: Some(presented.clone()),
            authenticated: Some((presented, kind)),
            source: None,
        }
    }

    /// Replaces the asserted principal (`RVP-From-Principal`).
    pub fn with_asserted(mut self, principal: &str) -> Caller {
        self.asserted = Some(Presented::new(principal));
        self
    }

    /// Replaces the asserted principal with the typed `RVP-From-Principal`.
    pub(crate) fn with_asserted_header(mut self, principal: &FromPrincipal) -> Caller {
        self.asserted = Some(Presented::from_header(principal));
        self
    }

    /// Records the source IP address (used to bind view-less PROPPATCHes, §5.3).
    pub fn with_source(mut self, ip: IpAddr) -> Caller {
        self.source = Some(ip);
        self
    }

    /// The asserted principal, canonical (`RVP-From-Principal`).
    pub fn asserted_principal(&self) -> Option<&Arc<str>> {
        self.asserted.as_ref().map(|p| &p.text)
    }

    /// The authenticated principal and how it was proven.
    pub fn authenticated_principal(&self) -> Option<(&Arc<str>, CredentialKind)> {
        self.authenticated.as_ref().map(|(p, k)| (&p.text, *k))
    }

    /// The asserted identity with its node key.
    pub(crate) fn claimed(&self) -> Option<&Presented> {
        self.asserted.as_ref()
    }

    /// The proven identity with its node key.
    pub(crate) fn proven(&self) -> Option<&Presented> {
        self.authenticated.as_ref().map(|(p, _)| p)
    }

    /// The identity the caller acts as, with its node key (see [`Caller::principal`]).
    pub(crate) fn acting(&self) -> Option<&Presented> {
        self.proven().or(self.asserted.as_ref())
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
        self.acting().map(|p| &p.text)
    }

    /// The (principal, credential kind) pairs presented for ACL evaluation.
    pub fn presented(&self) -> impl Iterator<Item = (&str, CredentialKind)> + Clone {
        self.asserted
            .iter()
            .map(|p| (&*p.text, CredentialKind::Assertion))
            .chain(self.authenticated.iter().map(|(p, k)| (&*p.text, *k)))
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
    fn identities_compare_by_node_key_once_read() {
        let c = Caller::authenticated(
            "http://IM.example.com/instmsg/aliases/O%27Neil",
            CredentialKind::Digest,
        );
        let p = c.proven().expect("proven");
        // Read once, when the caller was built.
        assert_eq!(p.key.as_ref().map(NodeKey::alias), Some("o'neil"));
        for same in [
            "http://im.example.com/instmsg/aliases/o'neil",
            "http://im.example.com:80/instmsg/aliases/O'NEIL",
            "http://home1/instmsg/local/im.example.com/instmsg/aliases/o%27neil",
        ] {
            assert!(p.is(same, principal_key(same).as_ref()), "{same}");
        }
        for other in [
            "http://evil.example/instmsg/aliases/o'neil",
            "http://im.example.com/instmsg/aliases/oneil",
            "im.example.com",
        ] {
            assert!(!p.is(other, principal_key(other).as_ref()), "{other}");
        }
        // Bare hosts (servers) compare as canonical text.
        let server = Caller::asserted("im.example.com");
        let s = server.claimed().expect("asserted");
        assert!(s.key.is_none());
        assert!(s.is("im.example.com", None));
        assert!(!s.is("other.example.com", None));
    }

    #[test]
    fn a_typed_header_presents_what_its_text_would() {
        use rvp_proto::header::RvpHeader;
        for raw in [
            "http://IM.Example.com/instmsg/aliases/SteveM",
            "http://im.example.com:8080/instmsg/aliases/o%27neil",
            "http://home1/instmsg/local/im.example.com/instmsg/aliases/bob",
            "http://10.0.0.5:1234",
            "http://h/other/path",
            "IM.Example.com",
        ] {
            let typed = FromPrincipal::decode(raw.as_bytes()).expect(raw);
            let via_text = Presented::new(&typed.to_string());
            assert_eq!(Presented::from_header(&typed), via_text, "{raw}");
        }
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
