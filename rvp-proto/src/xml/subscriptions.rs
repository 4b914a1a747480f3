//! `r:subscriptions`, the body of a SUBSCRIPTIONS answer (PROTOCOL.md §2.3).

use super::read::{Elem, Ns, Reader, parse_body, parse_mode};
use super::{ParseMode, XmlBody, XmlError, XmlLimits, write};

/// One `r:subscription`. Children are read in any order; `d:` is accepted for the
/// `subscription*` elements and `r:` for `principal`/`rvp-principal` (PROTOCOL.md §4.2, §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// `r:subscription-id`, an opaque token.
    pub id: String,
    /// `d:href`: the subscriber (callback URL for the node owner, logical URL otherwise).
    pub href: Option<String>,
    /// `a:principal/a:rvp-principal`: the subscriber's logical URL.
    pub principal: Option<String>,
    /// `d:timeout`: seconds remaining.
    pub timeout: Option<u32>,
}

/// An `r:subscriptions` body.
///
/// ```
/// use rvp_proto::xml::{Subscription, Subscriptions, XmlBody};
///
/// let s = Subscriptions {
///     subscriptions: vec![Subscription {
///         id: "456".into(),
///         href: Some("http://im.example.com/instmsg/aliases/bruceb".into()),
///         principal: Some("http://im.example.com/instmsg/aliases/bruceb".into()),
///         timeout: Some(4789),
///     }],
/// };
/// assert_eq!(Subscriptions::parse(&s.to_bytes())?, s);
/// # Ok::<(), rvp_proto::xml::XmlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Subscriptions {
    /// The subscriptions, in order.
    pub subscriptions: Vec<Subscription>,
}

fn rvp_or_dav(e: &Elem<'_>, local: &str) -> bool {
    matches!(e.ns, Ns::Rvp | Ns::Dav) && e.local == local
}

fn read_subscription(r: &mut Reader<'_>, e: &Elem<'_>) -> Result<Subscription, XmlError> {
    const P: &str = "r:subscription";
    let mut id = None;
    let mut href = None;
    let mut principal = None;
    let mut timeout = None;
    let dup = |child| XmlError::Duplicate { parent: P, child };
    while let Some(c) = r.next_child(e, P)? {
        match (c.ns, c.local) {
            (Ns::Rvp | Ns::Dav, "subscription-id") => {
                if id.replace(r.text(&c, "r:subscription-id")?).is_some() {
                    return Err(dup("r:subscription-id"));
                }
            }
            (Ns::Dav, "href") => {
                if href.replace(r.text(&c, "d:href")?).is_some() {
                    return Err(dup("d:href"));
                }
            }
            (Ns::Dav | Ns::Rvp, "timeout") => {
                if timeout.replace(r.seconds(&c, "d:timeout")?).is_some() {
                    return Err(dup("d:timeout"));
                }
            }
            (Ns::Acl | Ns::Rvp, "principal") => {
                while let Some(p) = r.next_child(&c, "a:principal")? {
                    if matches!(p.ns, Ns::Acl | Ns::Rvp) && p.local == "rvp-principal" {
                        if principal.replace(r.text(&p, "a:rvp-principal")?).is_some() {
                            return Err(dup("a:rvp-principal"));
                        }
                    } else {
                        r.skip(&p)?;
                    }
                }
            }
            _ => r.skip(&c)?,
        }
    }
    Ok(Subscription {
        id: id.ok_or(XmlError::Missing {
            parent: P,
            child: "r:subscription-id",
        })?,
        href,
        principal,
        timeout,
    })
}

impl XmlBody for Subscriptions {
    const ROOT: &'static str = "r:subscriptions";

    fn parse_with(input: &[u8], limits: &XmlLimits) -> Result<Self, XmlError> {
        parse_body(input, limits, read_document)
    }

    fn parse_mode(input: &[u8], limits: &XmlLimits, mode: ParseMode) -> Result<Self, XmlError> {
        parse_mode(input, limits, mode, read_document)
    }

    fn write(&self, out: &mut Vec<u8>) {
        write::root_start(out, Self::ROOT);
        for s in &self.subscriptions {
            write::start(out, "r:subscription");
            write::text_element(out, "r:subscription-id", &s.id);
            if let Some(h) = &s.href {
                write::text_element(out, "d:href", h);
            }
            if let Some(p) = &s.principal {
                write::start(out, "a:principal");
                write::text_element(out, "a:rvp-principal", p);
                write::end(out, "a:principal");
            }
            if let Some(t) = s.timeout {
                write::text_element(out, "d:timeout", &t.to_string());
            }
            write::end(out, "r:subscription");
        }
        write::end(out, Self::ROOT);
    }
}

/// The whole document, over either event source.
fn read_document(r: &mut Reader<'_>) -> Result<Subscriptions, XmlError> {
    const ROOT: &str = <Subscriptions as XmlBody>::ROOT;
    let root = r.root_any(ROOT, |e| rvp_or_dav(e, "subscriptions"))?;
    let mut subscriptions = Vec::new();
    while let Some(e) = r.next_child(&root, ROOT)? {
        if rvp_or_dav(&e, "subscription") {
            subscriptions.push(read_subscription(r, &e)?);
        } else {
            r.skip(&e)?;
        }
    }
    r.finish(ROOT)?;
    Ok(Subscriptions { subscriptions })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sub(id: &str, who: &str, timeout: u32) -> Subscription {
        Subscription {
            id: id.into(),
            href: Some(who.into()),
            principal: Some(who.into()),
            timeout: Some(timeout),
        }
    }

    #[test]
    fn reference_2_3() {
        let body = br#"<?xml version="1.0"?>
<r:subscriptions xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/"
                 xmlns:a="http://schemas.microsoft.com/rvp/acl/">
 <r:subscription>
  <r:subscription-id>456</r:subscription-id>
  <d:href>http://im.example.com/instmsg/aliases/bruceb</d:href>
  <a:principal><a:rvp-principal>http://im.example.com/instmsg/aliases/bruceb</a:rvp-principal></a:principal>
  <d:timeout>4789</d:timeout>
 </r:subscription>
 <r:subscription>
  <d:href>http://im.example.com/instmsg/aliases/stevem</d:href>
  <r:subscription-id>6656</r:subscription-id>
  <a:principal><a:rvp-principal>http://im.example.com/instmsg/aliases/stevem</a:rvp-principal></a:principal>
  <d:timeout>8752</d:timeout>
 </r:subscription>
</r:subscriptions>"#;
        let s = Subscriptions::parse(body).unwrap();
        let want = Subscriptions {
            subscriptions: vec![
                sub("456", "http://im.example.com/instmsg/aliases/bruceb", 4789),
                sub("6656", "http://im.example.com/instmsg/aliases/stevem", 8752),
            ],
        };
        assert_eq!(s, want);
        let golden = "<?xml version=\"1.0\"?><r:subscriptions xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'><r:subscription><r:subscription-id>456</r:subscription-id><d:href>http://im.example.com/instmsg/aliases/bruceb</d:href><a:principal><a:rvp-principal>http://im.example.com/instmsg/aliases/bruceb</a:rvp-principal></a:principal><d:timeout>4789</d:timeout></r:subscription><r:subscription><r:subscription-id>6656</r:subscription-id><d:href>http://im.example.com/instmsg/aliases/stevem</d:href><a:principal><a:rvp-principal>http://im.example.com/instmsg/aliases/stevem</a:rvp-principal></a:principal><d:timeout>8752</d:timeout></r:subscription></r:subscriptions>";
        assert_eq!(s.to_bytes(), golden.as_bytes());
    }

    #[test]
    fn dav_and_rvp_variants() {
        let body = b"<d:subscriptions xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><d:subscription><d:subscription-id> 7 </d:subscription-id><r:principal><r:rvp-principal>p</r:rvp-principal></r:principal></d:subscription></d:subscriptions>";
        let s = Subscriptions::parse(body).unwrap();
        assert_eq!(
            s.subscriptions,
            vec![Subscription {
                id: "7".into(),
                href: None,
                principal: Some("p".into()),
                timeout: None
            }]
        );
        let empty =
            b"<r:subscriptions xmlns:r='http://schemas.microsoft.com/rvp/'></r:subscriptions>";
        assert_eq!(
            Subscriptions::parse(empty).unwrap(),
            Subscriptions::default()
        );
        let no_id = b"<r:subscriptions xmlns:r='http://schemas.microsoft.com/rvp/'><r:subscription/></r:subscriptions>";
        assert!(matches!(
            Subscriptions::parse(no_id),
            Err(XmlError::Missing { .. })
        ));
    }
}
