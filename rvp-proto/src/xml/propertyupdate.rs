//! `d:propertyupdate`, the body of PROPPATCH and the payload of `r:propnotification`
//! (PROTOCOL.md §2.5, §2.6-d).

use super::property::{PropName, Property, read_props_into, write_props};
use super::read::{Elem, Ns, Reader, parse_body, parse_mode};
use super::{ParseMode, XmlBody, XmlError, XmlLimits, write};

/// A property update: properties to set and (not used by RVP, kept for the engine to refuse
/// per property) names to remove.
///
/// ```
/// use rvp_proto::PresenceState;
/// use rvp_proto::xml::{Property, PropertyUpdate, StateValue, XmlBody};
///
/// // librvp's logout form: a bare state plus the view id.
/// let body = b"<?xml version=\"1.0\"?>\n<d:propertyupdate xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><d:set><d:prop><r:state><r:offline/><r:view-id>1009</r:view-id></r:state></d:prop></d:set></d:propertyupdate>";
/// let update = PropertyUpdate::parse(body)?;
/// assert_eq!(
///     update.set,
///     vec![Property::state(StateValue::bare(PresenceState::Offline).with_view_id("1009"))]
/// );
/// # Ok::<(), rvp_proto::xml::XmlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PropertyUpdate {
    /// The properties of every `d:set`, in order.
    pub set: Vec<Property>,
    /// The property names of every `d:remove`, in order.
    pub remove: Vec<PropName>,
}

impl PropertyUpdate {
    /// An update setting the given properties.
    pub fn set(props: Vec<Property>) -> PropertyUpdate {
        PropertyUpdate {
            set: props,
            remove: Vec::new(),
        }
    }

    /// The value of the first `r:state` set, if any.
    pub fn state(&self) -> Option<&super::StateValue> {
        self.set.iter().find_map(|p| match &p.value {
            super::PropValue::State(s) if p.name == PropName::State => Some(s),
            _ => None,
        })
    }

    /// Reads an opened `d:propertyupdate`.
    pub(crate) fn read(r: &mut Reader<'_>, root: &Elem<'_>) -> Result<PropertyUpdate, XmlError> {
        let mut update = PropertyUpdate::default();
        while let Some(e) = r.next_child(root, Self::ROOT)? {
            match (e.ns, e.local) {
                (Ns::Dav, "set") => {
                    while let Some(p) = r.next_child(&e, "d:set")? {
                        if p.is(Ns::Dav, "prop") {
                            read_props_into(r, &p, &mut update.set)?;
                        } else {
                            r.skip(&p)?;
                        }
                    }
                }
                (Ns::Dav, "remove") => {
                    while let Some(p) = r.next_child(&e, "d:remove")? {
                        if p.is(Ns::Dav, "prop") {
                            while let Some(n) = r.next_child(&p, "d:prop")? {
                                update.remove.push(PropName::from_elem(&n));
                                r.skip(&n)?;
                            }
                        } else {
                            r.skip(&p)?;
                        }
                    }
                }
                _ => r.skip(&e)?,
            }
        }
        Ok(update)
    }

    /// Writes `<d:propertyupdate>…` without prolog or namespace declarations.
    pub(crate) fn write_inner(&self, out: &mut Vec<u8>) {
        if !self.set.is_empty() {
            write::start(out, "d:set");
            write_props(out, &self.set);
            write::end(out, "d:set");
        }
        if !self.remove.is_empty() {
            write::start(out, "d:remove");
            write::start(out, "d:prop");
            for n in &self.remove {
                n.write_empty(out);
            }
            write::end(out, "d:prop");
            write::end(out, "d:remove");
        }
    }
}

impl XmlBody for PropertyUpdate {
    const ROOT: &'static str = "d:propertyupdate";

    fn parse_with(input: &[u8], limits: &XmlLimits) -> Result<Self, XmlError> {
        parse_body(input, limits, read_document)
    }

    fn parse_mode(input: &[u8], limits: &XmlLimits, mode: ParseMode) -> Result<Self, XmlError> {
        parse_mode(input, limits, mode, read_document)
    }

    fn write(&self, out: &mut Vec<u8>) {
        write::root_start(out, Self::ROOT);
        self.write_inner(out);
        write::end(out, Self::ROOT);
    }
}

/// The whole document, over either event source.
fn read_document(r: &mut Reader<'_>) -> Result<PropertyUpdate, XmlError> {
    const ROOT: &str = <PropertyUpdate as XmlBody>::ROOT;
    let root = r.root(Ns::Dav, "propertyupdate", ROOT)?;
    let update = PropertyUpdate::read(r, &root)?;
    r.finish(ROOT)?;
    Ok(update)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::PresenceState;
    use crate::xml::{PropValue, StateValue};

    #[test]
    fn reference_2_5() {
        let body = br#"<?xml version="1.0"?>
<d:propertyupdate xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/">
 <d:set><d:prop>
  <r:state>
   <r:leased-value>
    <r:value><r:online/></r:value>
    <r:default-value><r:offline/></r:default-value>
    <r:timeout>3600</r:timeout>
   </r:leased-value>
  </r:state>
 </d:prop></d:set>
</d:propertyupdate>"#;
        let u = PropertyUpdate::parse(body).unwrap();
        assert_eq!(
            u,
            PropertyUpdate::set(vec![Property::state(StateValue::leased(
                PresenceState::Online,
                PresenceState::Offline,
                Some(3600)
            ))])
        );
    }

    #[test]
    fn reference_2_5_real_and_refresh_golden() {
        let miranda = "<?xml version=\"1.0\"?><d:propertyupdate xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'><d:set><d:prop><r:state><r:leased-value><r:value><r:busy/></r:value><r:default-value><r:offline/></r:default-value><d:timeout>1200</d:timeout></r:leased-value></r:state></d:prop></d:set></d:propertyupdate>";
        let u = PropertyUpdate::parse(miranda.as_bytes()).unwrap();
        let want = PropertyUpdate::set(vec![Property::state(StateValue::leased(
            PresenceState::Busy,
            PresenceState::Offline,
            Some(1200),
        ))]);
        assert_eq!(u, want);
        // Our output is byte-identical to Windows Messenger's.
        assert_eq!(u.to_bytes(), miranda.as_bytes());

        let refresh = "<d:propertyupdate xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><d:set><d:prop><r:state><r:leased-value><r:value><r:online/></r:value><r:default-value><r:offline/></r:default-value><d:timeout>1200</d:timeout></r:leased-value><r:view-id>3577</r:view-id></r:state></d:prop></d:set></d:propertyupdate>";
        let u = PropertyUpdate::parse(refresh.as_bytes()).unwrap();
        assert_eq!(
            u.set,
            vec![Property::state(
                StateValue::leased(PresenceState::Online, PresenceState::Offline, Some(1200))
                    .with_view_id("3577")
            )]
        );
    }

    #[test]
    fn unknown_state_tokens_and_properties_round_trip() {
        let body = "<?xml version=\"1.0\"?><d:propertyupdate xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'><d:set><d:prop><r:state><r:in-meeting/></r:state><r:custom>x<r:y/>&amp;</r:custom><d:displayname></d:displayname></d:prop></d:set><d:remove><d:prop><r:email/></d:prop></d:remove></d:propertyupdate>";
        let u = PropertyUpdate::parse(body.as_bytes()).unwrap();
        assert_eq!(
            u.set[0],
            Property::state(StateValue::bare(PresenceState::Other("in-meeting".into())))
        );
        assert_eq!(u.set[1].value, PropValue::Raw("x<r:y/>&amp;".into()));
        assert_eq!(u.set[2].value, PropValue::Text(String::new()));
        assert_eq!(u.remove, vec![PropName::Email]);
        assert_eq!(
            u.state(),
            Some(&StateValue::bare(PresenceState::Other("in-meeting".into())))
        );
        assert_eq!(u.to_bytes(), body.as_bytes());
    }

    #[test]
    fn lease_errors() {
        let missing = b"<propertyupdate xmlns='DAV:'><set><prop><state xmlns='http://schemas.microsoft.com/rvp/'><leased-value><value><online/></value></leased-value></state></prop></set></propertyupdate>";
        assert_eq!(
            PropertyUpdate::parse(missing).unwrap_err(),
            XmlError::Missing {
                parent: "r:leased-value",
                child: "r:default-value"
            }
        );
        let nan = b"<propertyupdate xmlns='DAV:'><set><prop><state xmlns='http://schemas.microsoft.com/rvp/'><leased-value><value><online/></value><default-value><offline/></default-value><timeout>soon</timeout></leased-value></state></prop></set></propertyupdate>";
        assert!(matches!(
            PropertyUpdate::parse(nan),
            Err(XmlError::InvalidNumber { .. })
        ));
        let two = b"<propertyupdate xmlns='DAV:'><set><prop><state xmlns='http://schemas.microsoft.com/rvp/'><online/><busy/></state></prop></set></propertyupdate>";
        assert!(matches!(
            PropertyUpdate::parse(two),
            Err(XmlError::Duplicate { .. })
        ));
    }
}
