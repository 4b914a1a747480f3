//! The property model shared by `d:propfind`, `d:propertyupdate`, `d:multistatus` and
//! `r:propnotification` (PROTOCOL.md §4.3, §4.4).

use crate::state::PresenceState;

use super::read::{Content, Elem, Ns, Reader};
use super::write;
use super::{ACL_NS, DAV_NS, RVP_NS, XmlError};

/// The name of a property of a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropName {
    /// `r:state`: presence state.
    State,
    /// `d:displayname`
    DisplayName,
    /// `r:email`
    Email,
    /// `r:mobile-state` (`0` or `1`)
    MobileState,
    /// `r:mobile-description`
    MobileDescription,
    /// `r:view-id` (as a property name; inside `r:state` see [`StateValue::view_id`])
    ViewId,
    /// Any other property, by namespace URI (`""` for none) and local name.
    Other {
        /// Namespace URI (canonical for the DAV, RVP and ACL namespaces).
        namespace: Box<str>,
        /// Local name.
        local: Box<str>,
    },
}

impl PropName {
    /// The namespace URI.
    pub fn namespace(&self) -> &str {
        match self {
            PropName::DisplayName => DAV_NS,
            PropName::Other { namespace, .. } => namespace,
            _ => RVP_NS,
        }
    }

    /// The local name.
    pub fn local_name(&self) -> &str {
        match self {
            PropName::State => "state",
            PropName::DisplayName => "displayname",
            PropName::Email => "email",
            PropName::MobileState => "mobile-state",
            PropName::MobileDescription => "mobile-description",
            PropName::ViewId => "view-id",
            PropName::Other { local, .. } => local,
        }
    }

    /// The property named by a namespace URI and a local name. The RVP and ACL namespace
    /// variants the parser accepts (other case, no trailing slash) are made canonical.
    pub fn new(namespace: &str, local: &str) -> PropName {
        let namespace = match super::read::classify(namespace) {
            Ns::Rvp => RVP_NS,
            Ns::Acl => ACL_NS,
            _ => namespace,
        };
        match (namespace, local) {
            (RVP_NS, "state") => PropName::State,
            (DAV_NS, "displayname") => PropName::DisplayName,
            (RVP_NS, "email") => PropName::Email,
            (RVP_NS, "mobile-state") => PropName::MobileState,
            (RVP_NS, "mobile-description") => PropName::MobileDescription,
            (RVP_NS, "view-id") => PropName::ViewId,
            _ => PropName::Other {
                namespace: namespace.into(),
                local: local.into(),
            },
        }
    }

    pub(crate) fn from_elem(e: &Elem<'_>) -> PropName {
        match (e.ns, e.local) {
            (Ns::Rvp, "state") => PropName::State,
            (Ns::Dav, "displayname") => PropName::DisplayName,
            (Ns::Rvp, "email") => PropName::Email,
            (Ns::Rvp, "mobile-state") => PropName::MobileState,
            (Ns::Rvp, "mobile-description") => PropName::MobileDescription,
            (Ns::Rvp, "view-id") => PropName::ViewId,
            _ => PropName::Other {
                namespace: e.namespace().into(),
                local: e.local.into(),
            },
        }
    }

    fn prefix(&self) -> Option<&'static str> {
        match self.namespace() {
            DAV_NS => Some("d:"),
            RVP_NS => Some("r:"),
            ACL_NS => Some("a:"),
            "" => Some(""),
            _ => None,
        }
    }

    /// Writes `<name` (no `>`), declaring a foreign namespace with prefix `p`.
    fn open(&self, out: &mut Vec<u8>) {
        out.push(b'<');
        match self.prefix() {
            Some(p) => out.extend_from_slice(p.as_bytes()),
            None => out.extend_from_slice(b"p:"),
        }
        out.extend_from_slice(self.local_name().as_bytes());
        if self.prefix().is_none() {
            out.extend_from_slice(b" xmlns:p='");
            write::escape_attr(out, self.namespace());
            out.push(b'\'');
        }
    }

    pub(crate) fn write_empty(&self, out: &mut Vec<u8>) {
        self.open(out);
        out.extend_from_slice(b"/>");
    }

    pub(crate) fn write_start(&self, out: &mut Vec<u8>) {
        self.open(out);
        out.push(b'>');
    }

    pub(crate) fn write_end(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"</");
        out.extend_from_slice(self.prefix().unwrap_or("p:").as_bytes());
        out.extend_from_slice(self.local_name().as_bytes());
        out.push(b'>');
    }
}

/// A lease on a value (`r:leased-value`, PROTOCOL.md §2.5, §5.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeasedValue {
    /// `r:value`: the state while the lease runs.
    pub value: PresenceState,
    /// `r:default-value`: the state once the lease ends.
    pub default_value: PresenceState,
    /// `r:timeout` or `d:timeout`: the lease length in seconds (written as `d:timeout`).
    pub timeout: Option<u32>,
}

/// What `r:state` holds: a bare state element or a lease.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StateContent {
    /// `<r:state><r:busy/></r:state>`: the effective state (results, notifications, and the
    /// bare logout form of PROPPATCH).
    Bare(PresenceState),
    /// `<r:state><r:leased-value>…</r:leased-value></r:state>`.
    Leased(LeasedValue),
}

/// The value of `r:state`: its content plus an optional `r:view-id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateValue {
    /// The state element or lease.
    pub content: StateContent,
    /// `r:view-id`, an opaque token.
    pub view_id: Option<String>,
}

impl StateValue {
    /// A bare state, `<r:state><r:…/></r:state>`.
    pub fn bare(state: PresenceState) -> StateValue {
        StateValue {
            content: StateContent::Bare(state),
            view_id: None,
        }
    }

    /// A leased state.
    pub fn leased(
        value: PresenceState,
        default_value: PresenceState,
        timeout: Option<u32>,
    ) -> StateValue {
        StateValue {
            content: StateContent::Leased(LeasedValue {
                value,
                default_value,
                timeout,
            }),
            view_id: None,
        }
    }

    /// The same value with an `r:view-id`.
    pub fn with_view_id(mut self, view_id: impl Into<String>) -> StateValue {
        self.view_id = Some(view_id.into());
        self
    }

    fn write(&self, out: &mut Vec<u8>) {
        match &self.content {
            StateContent::Bare(s) => write_state_token(out, s),
            StateContent::Leased(l) => {
                write::start(out, "r:leased-value");
                write::start(out, "r:value");
                write_state_token(out, &l.value);
                write::end(out, "r:value");
                write::start(out, "r:default-value");
                write_state_token(out, &l.default_value);
                write::end(out, "r:default-value");
                if let Some(t) = l.timeout {
                    write::text_element(out, "d:timeout", &t.to_string());
                }
                write::end(out, "r:leased-value");
            }
        }
        if let Some(v) = &self.view_id {
            write::text_element(out, "r:view-id", v);
        }
    }
}

fn write_state_token(out: &mut Vec<u8>, s: &PresenceState) {
    out.extend_from_slice(b"<r:");
    out.extend_from_slice(s.local_name().as_bytes());
    out.extend_from_slice(b"/>");
}

/// The value of a property.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropValue {
    /// An empty element, `<d:displayname/>`: a name without a value (PROPFIND requests,
    /// `404` propstats).
    Empty,
    /// Text content, trimmed (`<d:displayname>Bob</d:displayname>`; `Text("")` is written
    /// `<d:displayname></d:displayname>`).
    Text(String),
    /// The value of `r:state`.
    State(StateValue),
    /// The raw source of the element's content, kept verbatim so it round-trips: unknown
    /// properties, and known text properties whose content has child elements. Prefixes it
    /// uses must be `d`, `r`, `a` or be declared inside it.
    Raw(String),
}

/// A property: name and value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Property {
    /// The name.
    pub name: PropName,
    /// The value ([`PropValue::State`] goes with [`PropName::State`] only).
    pub value: PropValue,
}

impl Property {
    /// `r:state` with the given value.
    pub fn state(value: StateValue) -> Property {
        Property {
            name: PropName::State,
            value: PropValue::State(value),
        }
    }

    /// A text property.
    pub fn text(name: PropName, text: impl Into<String>) -> Property {
        Property {
            name,
            value: PropValue::Text(text.into()),
        }
    }

    /// A property name without value.
    pub fn empty(name: PropName) -> Property {
        Property {
            name,
            value: PropValue::Empty,
        }
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match &self.value {
            PropValue::Empty => self.name.write_empty(out),
            PropValue::Text(t) => {
                self.name.write_start(out);
                write::escape_text(out, t);
                self.name.write_end(out);
            }
            PropValue::State(s) => {
                self.name.write_start(out);
                s.write(out);
                self.name.write_end(out);
            }
            PropValue::Raw(r) => {
                self.name.write_start(out);
                out.extend_from_slice(r.as_bytes());
                self.name.write_end(out);
            }
        }
    }

    /// Parses one property element (already opened).
    pub(crate) fn read(r: &mut Reader<'_>, e: &Elem<'_>) -> Result<Property, XmlError> {
        let name = PropName::from_elem(e);
        let value = if e.empty {
            PropValue::Empty
        } else {
            match name {
                PropName::State => read_state(r, e)?,
                PropName::Other { .. } => PropValue::Raw(r.raw_inner(e, "d:prop")?.to_owned()),
                _ => match r.content(e, "d:prop")? {
                    Content::Text(t) => PropValue::Text(super::read::trim(&t).to_owned()),
                    Content::Mixed(raw) => PropValue::Raw(raw.to_owned()),
                },
            }
        };
        Ok(Property { name, value })
    }
}

/// Reads the children of `d:prop` as properties.
pub(crate) fn read_props(r: &mut Reader<'_>, prop: &Elem<'_>) -> Result<Vec<Property>, XmlError> {
    let mut props = Vec::new();
    read_props_into(r, prop, &mut props)?;
    Ok(props)
}

/// [`read_props`], appending to `props` (a `d:propertyupdate` gathers every `d:set`'s
/// properties in one list).
pub(crate) fn read_props_into(
    r: &mut Reader<'_>,
    prop: &Elem<'_>,
    props: &mut Vec<Property>,
) -> Result<(), XmlError> {
    while let Some(e) = r.next_child(prop, "d:prop")? {
        props.push(Property::read(r, &e)?);
    }
    Ok(())
}

/// Writes `<d:prop>…</d:prop>`.
pub(crate) fn write_props(out: &mut Vec<u8>, props: &[Property]) {
    if props.is_empty() {
        write::empty(out, "d:prop");
        return;
    }
    write::start(out, "d:prop");
    for p in props {
        p.write(out);
    }
    write::end(out, "d:prop");
}

/// Reads the single RVP state element inside `parent`.
fn read_token(
    r: &mut Reader<'_>,
    parent: &Elem<'_>,
    name: &'static str,
) -> Result<PresenceState, XmlError> {
    let mut found = None;
    while let Some(e) = r.next_child(parent, name)? {
        r.skip(&e)?;
        if e.ns == Ns::Rvp {
            if found.is_some() {
                return Err(XmlError::Duplicate {
                    parent: name,
                    child: "state element",
                });
            }
            found = PresenceState::from_local_name(e.local);
        }
    }
    found.ok_or(XmlError::Missing {
        parent: name,
        child: "state element",
    })
}

fn read_state(r: &mut Reader<'_>, state: &Elem<'_>) -> Result<PropValue, XmlError> {
    let mut content = None;
    let mut view_id = None;
    let mut any_child = false;
    while let Some(e) = r.next_child(state, "r:state")? {
        any_child = true;
        if e.ns != Ns::Rvp {
            r.skip(&e)?;
            continue;
        }
        let new = match e.local {
            "view-id" => {
                if view_id.is_some() {
                    return Err(XmlError::Duplicate {
                        parent: "r:state",
                        child: "r:view-id",
                    });
                }
                view_id = Some(r.text(&e, "r:view-id")?);
                continue;
            }
            "leased-value" => StateContent::Leased(read_lease(r, &e)?),
            token => {
                r.skip(&e)?;
                match PresenceState::from_local_name(token) {
                    Some(s) => StateContent::Bare(s),
                    None => continue,
                }
            }
        };
        if content.replace(new).is_some() {
            return Err(XmlError::Duplicate {
                parent: "r:state",
                child: "state element",
            });
        }
    }
    match content {
        Some(content) => Ok(PropValue::State(StateValue { content, view_id })),
        None if !any_child => Ok(PropValue::Empty),
        None => Err(XmlError::Missing {
            parent: "r:state",
            child: "r:leased-value",
        }),
    }
}

fn read_lease(r: &mut Reader<'_>, lease: &Elem<'_>) -> Result<LeasedValue, XmlError> {
    let mut value = None;
    let mut default_value = None;
    let mut timeout = None;
    while let Some(e) = r.next_child(lease, "r:leased-value")? {
        match (e.ns, e.local) {
            (Ns::Rvp, "value") => {
                let v = read_token(r, &e, "r:value")?;
                if value.replace(v).is_some() {
                    return Err(XmlError::Duplicate {
                        parent: "r:leased-value",
                        child: "r:value",
                    });
                }
            }
            (Ns::Rvp, "default-value") => {
                let v = read_token(r, &e, "r:default-value")?;
                if default_value.replace(v).is_some() {
                    return Err(XmlError::Duplicate {
                        parent: "r:leased-value",
                        child: "r:default-value",
                    });
                }
            }
            (Ns::Rvp | Ns::Dav, "timeout") => {
                let t = r.seconds(&e, "d:timeout")?;
                if timeout.replace(t).is_some() {
                    return Err(XmlError::Duplicate {
                        parent: "r:leased-value",
                        child: "d:timeout",
                    });
                }
            }
            _ => r.skip(&e)?,
        }
    }
    Ok(LeasedValue {
        value: value.ok_or(XmlError::Missing {
            parent: "r:leased-value",
            child: "r:value",
        })?,
        default_value: default_value.ok_or(XmlError::Missing {
            parent: "r:leased-value",
            child: "r:default-value",
        })?,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonical() {
        assert_eq!(
            PropName::new("http://schemas.Microsoft.com/rvp", "state"),
            PropName::State
        );
        assert_eq!(
            PropName::new("http://schemas.microsoft.com/rvp/ACL", "x").namespace(),
            ACL_NS
        );
        assert_eq!(PropName::new(DAV_NS, "displayname"), PropName::DisplayName);
        let other = PropName::new("urn:x", "y");
        assert_eq!((other.namespace(), other.local_name()), ("urn:x", "y"));
        let mut out = Vec::new();
        Property::text(other, "<&>").write(&mut out);
        assert_eq!(out, b"<p:y xmlns:p='urn:x'>&lt;&amp;&gt;</p:y>");
    }
}
