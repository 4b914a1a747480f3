//! `d:propfind`, the body of PROPFIND (PROTOCOL.md §2.4).

use super::property::PropName;
use super::read::{Ns, Reader, parse_body, parse_mode};
use super::{ParseMode, XmlBody, XmlError, XmlLimits, write};

/// What a PROPFIND asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PropFind {
    /// `d:prop`: the named properties.
    Prop(Vec<PropName>),
    /// `d:allprop`: every property.
    AllProp,
    /// `d:propname`: the names of every property.
    PropName,
}

impl XmlBody for PropFind {
    const ROOT: &'static str = "d:propfind";

    fn parse_with(input: &[u8], limits: &XmlLimits) -> Result<Self, XmlError> {
        parse_body(input, limits, read_document)
    }

    fn parse_mode(input: &[u8], limits: &XmlLimits, mode: ParseMode) -> Result<Self, XmlError> {
        parse_mode(input, limits, mode, read_document)
    }

    fn write(&self, out: &mut Vec<u8>) {
        write::root_start(out, Self::ROOT);
        match self {
            PropFind::Prop(names) if names.is_empty() => write::empty(out, "d:prop"),
            PropFind::Prop(names) => {
                write::start(out, "d:prop");
                for n in names {
                    n.write_empty(out);
                }
                write::end(out, "d:prop");
            }
            PropFind::AllProp => write::empty(out, "d:allprop"),
            PropFind::PropName => write::empty(out, "d:propname"),
        }
        write::end(out, Self::ROOT);
    }
}

/// The whole document, over either event source.
fn read_document(r: &mut Reader<'_>) -> Result<PropFind, XmlError> {
    const ROOT: &str = <PropFind as XmlBody>::ROOT;
    let root = r.root(Ns::Dav, "propfind", ROOT)?;
    let mut found: Option<PropFind> = None;
    while let Some(e) = r.next_child(&root, ROOT)? {
        let this = match (e.ns, e.local) {
            (Ns::Dav, "prop") => {
                let mut names = Vec::new();
                while let Some(p) = r.next_child(&e, "d:prop")? {
                    names.push(PropName::from_elem(&p));
                    r.skip(&p)?;
                }
                PropFind::Prop(names)
            }
            (Ns::Dav, "allprop") => {
                r.skip(&e)?;
                PropFind::AllProp
            }
            (Ns::Dav, "propname") => {
                r.skip(&e)?;
                PropFind::PropName
            }
            _ => {
                r.skip(&e)?;
                continue;
            }
        };
        if found.replace(this).is_some() {
            return Err(XmlError::Duplicate {
                parent: ROOT,
                child: "d:prop, d:allprop or d:propname",
            });
        }
    }
    r.finish(ROOT)?;
    found.ok_or(XmlError::Missing {
        parent: ROOT,
        child: "d:prop, d:allprop or d:propname",
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reference_2_4_a() {
        let body = br#"<?xml version="1.0"?>
<d:propfind xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/">
 <d:prop><d:displayname/></d:prop>
</d:propfind>"#;
        assert_eq!(
            PropFind::parse(body).unwrap(),
            PropFind::Prop(vec![PropName::DisplayName])
        );
    }

    #[test]
    fn allprop_propname_and_golden() {
        let p = PropFind::parse(b"<propfind xmlns='DAV:'><allprop/></propfind>").unwrap();
        assert_eq!(p, PropFind::AllProp);
        assert_eq!(
            p.to_bytes(),
            b"<?xml version=\"1.0\"?><d:propfind xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' \
xmlns:a='http://schemas.microsoft.com/rvp/acl/'><d:allprop/></d:propfind>"
        );
        let p = PropFind::parse(b"<x:propfind xmlns:x='DAV:'><x:propname/></x:propfind>").unwrap();
        assert_eq!(p, PropFind::PropName);
    }

    #[test]
    fn errors() {
        assert!(matches!(PropFind::parse(b""), Err(XmlError::NoRoot { .. })));
        assert!(matches!(
            PropFind::parse(b"<propfind xmlns='DAV:'/>"),
            Err(XmlError::Missing { .. })
        ));
        assert!(matches!(
            PropFind::parse(b"<propfind xmlns='urn:x'><prop/></propfind>"),
            Err(XmlError::WrongRoot { .. })
        ));
        assert!(matches!(
            PropFind::parse(b"<propfind xmlns='DAV:'><allprop/></propfind><x/>"),
            Err(XmlError::OutsideRoot { .. })
        ));
    }
}
