//! `a:rvpacl`, the body of ACL reads and writes (PROTOCOL.md §2.7, §4.6, §8.5).

use crate::rights::{CredentialKind, CredentialSet, Right, RightSet};

use super::read::{Elem, Ns, Reader, parse_body, parse_mode};
use super::{ParseMode, XmlBody, XmlError, XmlLimits, write};

/// `a:inheritance`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Inheritance {
    /// `none` (the only value seen; `<a:inheritance><a:none/></a:inheritance>` is read as
    /// this too).
    None,
    /// Any other text, kept.
    Other(String),
}

/// Who an ACE is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AcePrincipal {
    /// `a:rvp-principal`: a logical URL or a presence-service host name (never empty,
    /// whitespace trimmed).
    Url(String),
    /// `a:allprincipals`: everybody.
    AllPrincipals,
}

/// `a:ace`: one access-control entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ace {
    /// The principal.
    pub principal: AcePrincipal,
    /// `a:credentials`: the credential kinds under which the principal is matched (never
    /// empty on a parsed ACE).
    pub credentials: CredentialSet,
    /// `a:grant`.
    pub grant: RightSet,
    /// `a:deny`.
    pub deny: RightSet,
}

impl AcePrincipal {
    /// An `a:rvp-principal` in the canonical form of
    /// [`canonical_principal`](crate::url::canonical_principal) (trimmed, scheme and host
    /// lower-cased), the form ACL evaluation compares.
    pub fn url(url: &str) -> AcePrincipal {
        AcePrincipal::Url(crate::url::canonical_principal(url))
    }
}

impl Ace {
    /// An ACE granting `grant` to `principal` presenting one of `credentials`.
    pub fn grant(principal: AcePrincipal, credentials: CredentialSet, grant: RightSet) -> Ace {
        Ace {
            principal,
            credentials,
            grant,
            deny: RightSet::EMPTY,
        }
    }

    /// An ACE denying `deny` to `principal` presenting one of `credentials`.
    pub fn deny(principal: AcePrincipal, credentials: CredentialSet, deny: RightSet) -> Ace {
        Ace {
            principal,
            credentials,
            grant: RightSet::EMPTY,
            deny,
        }
    }
}

/// An `a:rvpacl` body: `a:rvpacl/a:acl` with an optional inheritance and the ACEs.
///
/// ```
/// use rvp_proto::xml::{AcePrincipal, RvpAcl, XmlBody, XmlError};
///
/// let no_credentials = b"<a:rvpacl xmlns:a='http://schemas.microsoft.com/rvp/acl/'><a:acl><a:ace>\
/// <a:principal><a:allprincipals/></a:principal><a:grant><a:presence/></a:grant><a:deny/></a:ace></a:acl></a:rvpacl>";
/// assert_eq!(RvpAcl::parse(no_credentials), Err(XmlError::CredentialsNotSpecified));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RvpAcl {
    /// `a:inheritance`, if present.
    pub inheritance: Option<Inheritance>,
    /// The ACEs, in order.
    pub aces: Vec<Ace>,
}

const UNSUPPORTED_RIGHTS: [&str; 4] = ["writeowner", "delete", "createchild", "deletechild"];

fn read_rights(r: &mut Reader<'_>, e: &Elem<'_>, name: &'static str) -> Result<RightSet, XmlError> {
    let mut set = RightSet::EMPTY;
    while let Some(c) = r.next_child(e, name)? {
        r.skip(&c)?;
        if c.ns != Ns::Acl {
            continue;
        }
        match Right::from_local_name(c.local) {
            Some(right) => set.insert(right),
            None => return Err(XmlError::UnsupportedRight(c.local.into())),
        }
    }
    Ok(set)
}

fn read_credentials(r: &mut Reader<'_>, e: &Elem<'_>) -> Result<CredentialSet, XmlError> {
    let mut set = CredentialSet::EMPTY;
    let mut any = false;
    while let Some(c) = r.next_child(e, "a:credentials")? {
        r.skip(&c)?;
        if c.ns != Ns::Acl {
            continue;
        }
        if c.local == "any" {
            any = true;
            continue;
        }
        match CredentialKind::from_local_name(c.local) {
            Some(k) => set.insert(k),
            None => {
                return Err(XmlError::Unexpected {
                    parent: "a:credentials",
                    element: c.local.into(),
                });
            }
        }
    }
    Ok(if any { CredentialSet::ANY } else { set })
}

fn read_principal(
    r: &mut Reader<'_>,
    e: &Elem<'_>,
) -> Result<(AcePrincipal, CredentialSet), XmlError> {
    let mut principal = None;
    let mut credentials = None;
    while let Some(c) = r.next_child(e, "a:principal")? {
        if c.ns != Ns::Acl && c.ns != Ns::Rvp {
            r.skip(&c)?;
            continue;
        }
        let who = match c.local {
            "rvp-principal" => {
                let url = r.text(&c, "a:rvp-principal")?;
                if url.is_empty() {
                    return Err(XmlError::InvalidPrincipal("empty a:rvp-principal"));
                }
                AcePrincipal::Url(url)
            }
            "allprincipals" => {
                r.skip(&c)?;
                AcePrincipal::AllPrincipals
            }
            "credentials" => {
                if credentials.replace(read_credentials(r, &c)?).is_some() {
                    return Err(XmlError::InvalidPrincipal("more than one a:credentials"));
                }
                continue;
            }
            _ => {
                r.skip(&c)?;
                continue;
            }
        };
        if principal.replace(who).is_some() {
            return Err(XmlError::InvalidPrincipal(
                "more than one a:rvp-principal or a:allprincipals",
            ));
        }
    }
    let principal = principal.ok_or(XmlError::InvalidPrincipal(
        "no a:rvp-principal or a:allprincipals",
    ))?;
    match credentials {
        Some(c) if !c.is_empty() => Ok((principal, c)),
        _ => Err(XmlError::CredentialsNotSpecified),
    }
}

fn read_ace(r: &mut Reader<'_>, e: &Elem<'_>) -> Result<Ace, XmlError> {
    const P: &str = "a:ace";
    let mut principal = None;
    let mut grant = None;
    let mut deny = None;
    while let Some(c) = r.next_child(e, P)? {
        match (c.ns, c.local) {
            (Ns::Acl | Ns::Rvp, "principal") => {
                if principal.replace(read_principal(r, &c)?).is_some() {
                    return Err(XmlError::Duplicate {
                        parent: P,
                        child: "a:principal",
                    });
                }
            }
            (Ns::Acl, "grant") => {
                if grant.replace(read_rights(r, &c, "a:grant")?).is_some() {
                    return Err(XmlError::Duplicate {
                        parent: P,
                        child: "a:grant",
                    });
                }
            }
            (Ns::Acl, "deny") => {
                if deny.replace(read_rights(r, &c, "a:deny")?).is_some() {
                    return Err(XmlError::Duplicate {
                        parent: P,
                        child: "a:deny",
                    });
                }
            }
            _ => r.skip(&c)?,
        }
    }
    let (principal, credentials) = principal.ok_or(XmlError::Missing {
        parent: P,
        child: "a:principal",
    })?;
    Ok(Ace {
        principal,
        credentials,
        grant: grant.unwrap_or_default(),
        deny: deny.unwrap_or_default(),
    })
}

fn read_inheritance(r: &mut Reader<'_>, e: &Elem<'_>) -> Result<Inheritance, XmlError> {
    // Text (`none`) or, as one test server wrote it, an element (`<a:none/>`).
    let (text, child) = r.text_and_child(e, "a:inheritance")?;
    let value = match child {
        Some(c) if text.is_empty() && c.ns == Ns::Acl => c.local.to_owned(),
        _ => text,
    };
    Ok(if value == "none" {
        Inheritance::None
    } else {
        Inheritance::Other(value)
    })
}

fn write_rights(out: &mut Vec<u8>, name: &str, set: RightSet) {
    if set.is_empty() {
        write::empty(out, name);
        return;
    }
    write::start(out, name);
    for right in set.iter() {
        out.extend_from_slice(b"<a:");
        out.extend_from_slice(right.local_name().as_bytes());
        out.extend_from_slice(b"/>");
    }
    write::end(out, name);
}

impl Ace {
    fn write(&self, out: &mut Vec<u8>) {
        write::start(out, "a:ace");
        write::start(out, "a:principal");
        match &self.principal {
            AcePrincipal::Url(u) => write::text_element(out, "a:rvp-principal", u),
            AcePrincipal::AllPrincipals => write::empty(out, "a:allprincipals"),
        }
        if self.credentials.is_empty() {
            write::empty(out, "a:credentials");
        } else {
            write::start(out, "a:credentials");
            if self.credentials.is_any() {
                write::empty(out, "a:any");
            }
            for k in self.credentials.iter() {
                out.extend_from_slice(b"<a:");
                out.extend_from_slice(k.local_name().as_bytes());
                out.extend_from_slice(b"/>");
            }
            write::end(out, "a:credentials");
        }
        write::end(out, "a:principal");
        write_rights(out, "a:grant", self.grant);
        write_rights(out, "a:deny", self.deny);
        write::end(out, "a:ace");
    }
}

impl XmlBody for RvpAcl {
    const ROOT: &'static str = "a:rvpacl";

    fn parse_with(input: &[u8], limits: &XmlLimits) -> Result<Self, XmlError> {
        parse_body(input, limits, read_document)
    }

    fn parse_mode(input: &[u8], limits: &XmlLimits, mode: ParseMode) -> Result<Self, XmlError> {
        parse_mode(input, limits, mode, read_document)
    }

    fn write(&self, out: &mut Vec<u8>) {
        write::root_start(out, Self::ROOT);
        write::start(out, "a:acl");
        match &self.inheritance {
            None => {}
            Some(Inheritance::None) => write::text_element(out, "a:inheritance", "none"),
            Some(Inheritance::Other(t)) => write::text_element(out, "a:inheritance", t),
        }
        for ace in &self.aces {
            ace.write(out);
        }
        write::end(out, "a:acl");
        write::end(out, Self::ROOT);
    }
}

/// Whether `name` is one of the WebDAV ACL rights RVP does not support.
pub fn is_unsupported_right(name: &str) -> bool {
    UNSUPPORTED_RIGHTS.contains(&name)
}

/// The whole document, over either event source.
fn read_document(r: &mut Reader<'_>) -> Result<RvpAcl, XmlError> {
    const ROOT: &str = <RvpAcl as XmlBody>::ROOT;
    let root = r.root(Ns::Acl, "rvpacl", ROOT)?;
    let mut acl = None;
    while let Some(e) = r.next_child(&root, ROOT)? {
        if !e.is(Ns::Acl, "acl") {
            r.skip(&e)?;
            continue;
        }
        let mut this = RvpAcl::default();
        while let Some(c) = r.next_child(&e, "a:acl")? {
            match (c.ns, c.local) {
                (Ns::Acl, "inheritance") => {
                    if this.inheritance.replace(read_inheritance(r, &c)?).is_some() {
                        return Err(XmlError::Duplicate {
                            parent: "a:acl",
                            child: "a:inheritance",
                        });
                    }
                }
                (Ns::Acl, "ace") => this.aces.push(read_ace(r, &c)?),
                _ => r.skip(&c)?,
            }
        }
        if acl.replace(this).is_some() {
            return Err(XmlError::Duplicate {
                parent: ROOT,
                child: "a:acl",
            });
        }
    }
    r.finish(ROOT)?;
    acl.ok_or(XmlError::Missing {
        parent: ROOT,
        child: "a:acl",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn kinds3() -> CredentialSet {
        CredentialSet::of([
            CredentialKind::Assertion,
            CredentialKind::Digest,
            CredentialKind::Ntlm,
        ])
    }

    #[test]
    fn reference_2_7() {
        let body = br#"<?xml version="1.0"?>
<a:rvpacl xmlns:a="http://schemas.microsoft.com/rvp/acl/">
 <a:acl>
  <a:inheritance>none</a:inheritance>
  <a:ace>
   <a:principal>
    <a:rvp-principal>http://im.example.com/instmsg/aliases/steveb/</a:rvp-principal>
    <a:credentials><a:assertion/><a:digest/><a:ntlm/></a:credentials>
   </a:principal>
   <a:grant/>
   <a:deny><a:send-to/><a:presence/></a:deny>
  </a:ace>
  <a:ace>
   <a:principal>
    <a:allprincipals/>
    <a:credentials><a:assertion/><a:digest/><a:ntlm/></a:credentials>
   </a:principal>
   <a:grant><a:list/><a:read/><a:send-to/><a:presence/></a:grant>
   <a:deny/>
  </a:ace>
  <a:ace>
   <a:principal>
    <a:rvp-principal>http://im.acme.com/instmsg/aliases/bruceb</a:rvp-principal>
    <a:credentials><a:assertion/></a:credentials>
   </a:principal>
   <a:grant><a:list/><a:read/><a:write/><a:send-to/><a:receive-from/><a:readacl/>
    <a:writeacl/><a:presence/><a:subscriptions/><a:subscribe-others/></a:grant>
   <a:deny/>
  </a:ace>
 </a:acl>
</a:rvpacl>"#;
        let acl = RvpAcl::parse(body).unwrap();
        let everything = RightSet::of(Right::ALL_RIGHTS.into_iter().filter(|r| *r != Right::All));
        assert_eq!(
            acl,
            RvpAcl {
                inheritance: Some(Inheritance::None),
                aces: vec![
                    Ace {
                        principal: AcePrincipal::Url(
                            "http://im.example.com/instmsg/aliases/steveb/".into()
                        ),
                        credentials: kinds3(),
                        grant: RightSet::EMPTY,
                        deny: RightSet::of([Right::SendTo, Right::Presence]),
                    },
                    Ace {
                        principal: AcePrincipal::AllPrincipals,
                        credentials: kinds3(),
                        grant: RightSet::of([
                            Right::List,
                            Right::Read,
                            Right::SendTo,
                            Right::Presence
                        ]),
                        deny: RightSet::EMPTY,
                    },
                    Ace {
                        principal: AcePrincipal::Url(
                            "http://im.acme.com/instmsg/aliases/bruceb".into()
                        ),
                        credentials: CredentialSet::of([CredentialKind::Assertion]),
                        grant: everything,
                        deny: RightSet::EMPTY,
                    },
                ],
            }
        );
        assert_eq!(RvpAcl::parse(&acl.to_bytes()).unwrap(), acl);
    }

    #[test]
    fn golden_and_namespace_variant() {
        let acl = RvpAcl {
            inheritance: Some(Inheritance::None),
            aces: vec![Ace {
                principal: AcePrincipal::Url("http://localhost/instmsg/aliases/bob".into()),
                credentials: CredentialSet::ANY,
                grant: RightSet::EMPTY,
                deny: RightSet::of([Right::Presence, Right::SendTo]),
            }],
        };
        let want = "<?xml version=\"1.0\"?><a:rvpacl xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'><a:acl><a:inheritance>none</a:inheritance><a:ace><a:principal><a:rvp-principal>http://localhost/instmsg/aliases/bob</a:rvp-principal><a:credentials><a:any/></a:credentials></a:principal><a:grant/><a:deny><a:send-to/><a:presence/></a:deny></a:ace></a:acl></a:rvpacl>";
        assert_eq!(acl.to_bytes(), want.as_bytes());
        let variant = b"<A:rvpacl xmlns:A=http://schemas.Microsoft.com/rvp/acl>";
        assert!(
            RvpAcl::parse(variant).is_err(),
            "unquoted attribute is malformed XML"
        );
        let variant = b"<A:rvpacl xmlns:A='http://schemas.Microsoft.com/rvp/acl'><A:acl><A:ace><A:principal><A:rvp-principal> http://x/y </A:rvp-principal><A:credentials><A:any/></A:credentials></A:principal></A:ace></A:acl></A:rvpacl>";
        let acl = RvpAcl::parse(variant).unwrap();
        assert_eq!(
            acl.aces[0].principal,
            AcePrincipal::Url("http://x/y".into())
        );
        assert_eq!(acl.aces[0].credentials, CredentialSet::ANY);
        assert_eq!(acl.inheritance, None);
    }

    #[test]
    fn odd_inheritance_form() {
        let body = b"<a:rvpacl xmlns:a='http://schemas.microsoft.com/rvp/acl/'><a:acl><a:inheritance><a:none/></a:inheritance></a:acl></a:rvpacl>";
        assert_eq!(
            RvpAcl::parse(body).unwrap().inheritance,
            Some(Inheritance::None)
        );
    }

    fn ace_body(principal: &str, rights: &str) -> Vec<u8> {
        format!("<a:rvpacl xmlns:a='http://schemas.microsoft.com/rvp/acl/'><a:acl><a:ace><a:principal>{principal}</a:principal><a:grant>{rights}</a:grant><a:deny/></a:ace></a:acl></a:rvpacl>").into_bytes()
    }

    #[test]
    fn typed_errors() {
        let creds = "<a:credentials><a:ntlm/></a:credentials>";
        for right in UNSUPPORTED_RIGHTS {
            assert!(is_unsupported_right(right));
            let b = ace_body(
                &format!("<a:allprincipals/>{creds}"),
                &format!("<a:{right}/>"),
            );
            assert_eq!(
                RvpAcl::parse(&b),
                Err(XmlError::UnsupportedRight(right.into()))
            );
        }
        let b = ace_body("<a:rvp-principal>http://x/a</a:rvp-principal>", "");
        assert_eq!(RvpAcl::parse(&b), Err(XmlError::CredentialsNotSpecified));
        let b = ace_body(
            "<a:rvp-principal>http://x/a</a:rvp-principal><a:credentials/>",
            "",
        );
        assert_eq!(RvpAcl::parse(&b), Err(XmlError::CredentialsNotSpecified));
        let b = ace_body(&format!("<a:rvp-principal> </a:rvp-principal>{creds}"), "");
        assert!(matches!(
            RvpAcl::parse(&b),
            Err(XmlError::InvalidPrincipal(_))
        ));
        let b = ace_body(
            &format!("<a:rvp-principal>x</a:rvp-principal><a:allprincipals/>{creds}"),
            "",
        );
        assert!(matches!(
            RvpAcl::parse(&b),
            Err(XmlError::InvalidPrincipal(_))
        ));
        let b = ace_body(creds, "");
        assert!(matches!(
            RvpAcl::parse(&b),
            Err(XmlError::InvalidPrincipal(_))
        ));
        let b = ace_body(&format!("<a:allprincipals/>{creds}{creds}"), "");
        assert!(matches!(
            RvpAcl::parse(&b),
            Err(XmlError::InvalidPrincipal(_))
        ));
        let b = ace_body(
            "<a:allprincipals/><a:credentials><a:kerberos/></a:credentials>",
            "",
        );
        assert!(matches!(
            RvpAcl::parse(&b),
            Err(XmlError::Unexpected { .. })
        ));
        // r:principal accepted beside a:principal inside subscriptions only; here the
        // rvp-principal may also be in the RVP namespace.
        let b = format!(
            "<a:rvpacl xmlns:a='http://schemas.microsoft.com/rvp/acl/' xmlns:r='http://schemas.microsoft.com/rvp/'><a:acl><a:ace><a:principal><r:rvp-principal>u</r:rvp-principal>{creds}</a:principal></a:ace></a:acl></a:rvpacl>"
        );
        assert_eq!(
            RvpAcl::parse(b.as_bytes()).unwrap().aces[0].principal,
            AcePrincipal::Url("u".into())
        );
    }
}
