//! PROPFIND (PROTOCOL.md §2.4): `Depth: 0` or `412`; `d:prop` selects properties (unknown
//! ones as `404` propstats, §2.4-c), `d:allprop` shows every readable property,
//! `d:propname` their names; an empty request → `400`. The same `d:multistatus` renderer
//! serves the `207` of a presence SUBSCRIBE.

use crate::caller::Caller;
use crate::principal::NodeKey;
use rvp_proto::Right;
use std::time::Instant;

use crate::engine::RequestId;

use http::StatusCode;
use rvp_proto::xml::{
    MultiStatus, PropFind, PropName, PropStat, Property, Response, StateValue, StatusLine,
};

use super::{Cx, Form, is_blank, parse_body};
use crate::engine::{Engine, NodeProperties, Outcome, Refusal};

pub(super) fn handle(e: &mut Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    let depth = if cx.head.unusable.contains("Depth") {
        Some("unusable")
    } else {
        cx.head.rvp.depth.map(|d| d.as_str())
    };
    if depth != Some("0") {
        // The engine answers 412 before looking at the body.
        e.propfind(
            cx.now,
            cx.request,
            cx.caller,
            cx.key,
            depth,
            PropfindScope::Named,
        );
        return Ok(());
    }
    let (scope, form) = if is_blank(cx.body) {
        (PropfindScope::Nothing, Form::Full)
    } else {
        match parse_body::<PropFind>(e, cx.body)? {
            PropFind::Prop(names) if names.is_empty() => (PropfindScope::Nothing, Form::Full),
            PropFind::Prop(names) => (PropfindScope::Named, Form::Select(names)),
            PropFind::AllProp => (PropfindScope::Enumerate, Form::Full),
            PropFind::PropName => (PropfindScope::Enumerate, Form::Names),
        }
    };
    e.next_form = Some((cx.request, form));
    e.propfind(cx.now, cx.request, cx.caller, cx.key, depth, scope);
    Ok(())
}

/// Every property of a node the caller may see, in Exchange's order (§2.1-b). The two
/// mobile properties belong to every principal (§4.4): without mobile data they read
/// `0` (no mobile device online) and an empty description, as in Exchange's example.
fn available(p: &NodeProperties) -> Vec<Property> {
    let mut v = vec![Property::state(StateValue::bare(p.state.clone()))];
    if let Some(d) = &p.directory {
        for (name, value) in [
            (PropName::DisplayName, &d.display_name),
            (PropName::Email, &d.email),
        ] {
            if let Some(text) = value {
                v.push(Property::text(name, &**text));
            }
        }
        v.push(Property::text(
            PropName::MobileState,
            d.mobile_state.as_deref().unwrap_or("0"),
        ));
        v.push(Property::text(
            PropName::MobileDescription,
            d.mobile_description.as_deref().unwrap_or(""),
        ));
    }
    v
}

/// The `d:multistatus` showing `p` shaped as `form`.
pub(crate) fn multistatus(p: &NodeProperties, form: &Form) -> MultiStatus {
    let all = available(p);
    let mut propstats = Vec::with_capacity(2);
    match form {
        Form::Full => propstats.push(PropStat {
            props: all,
            status: StatusLine::new(StatusCode::OK),
        }),
        Form::Names => propstats.push(PropStat {
            props: all.into_iter().map(|p| Property::empty(p.name)).collect(),
            status: StatusLine::new(StatusCode::OK),
        }),
        Form::Select(names) => {
            let (mut found, mut missing) = (Vec::new(), Vec::new());
            for n in names {
                match all.iter().find(|p| p.name == *n) {
                    Some(p) => found.push(p.clone()),
                    None => missing.push(Property::empty(n.clone())),
                }
            }
            for (props, code) in [(found, StatusCode::OK), (missing, StatusCode::NOT_FOUND)] {
                if !props.is_empty() {
                    propstats.push(PropStat {
                        props,
                        status: StatusLine::new(code),
                    });
                }
            }
        }
    }
    MultiStatus {
        responses: vec![Response {
            href: p.href.to_string(),
            propstats,
        }],
    }
}

/// What a PROPFIND asks for (the rights it needs differ, §8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropfindScope {
    /// Named properties (`d:prop`): needs `read`.
    Named,
    /// `d:allprop` or `d:propname`: needs `read` and `list`.
    Enumerate,
    /// No property asked for (empty or missing body): `400`.
    Nothing,
}

impl Engine {
    /// PROPFIND (PROTOCOL.md §2.4): the node's properties as the caller may see them
    /// (`presence` denied → state `offline`, §8.4). `depth` is the `Depth` header as
    /// received: anything but `0` (or its absence) → `412`; an empty request → `400`. The
    /// method layer selects the requested properties and reports unknown ones as `404`
    /// propstats.
    pub fn propfind(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        depth: Option<&str>,
        scope: PropfindScope,
    ) {
        self.advance(now);
        let checked = match (depth.map(str::trim), scope) {
            (Some("0"), PropfindScope::Nothing) => Err(Refusal::EmptyPropfind),
            (Some("0"), _) => Ok(()),
            _ => Err(Refusal::DepthNotZero),
        };
        let r = checked.and_then(|()| self.node(node)).and_then(|n| {
            self.check(caller, n, Right::Read)?;
            if scope == PropfindScope::Enumerate {
                self.check(caller, n, Right::List)?;
            }
            Ok(Outcome::Properties(self.properties_for(caller, n)))
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::DirectoryProperties;

    fn node(directory: bool) -> NodeProperties {
        NodeProperties {
            href: "http://h/instmsg/aliases/a".into(),
            state: rvp_proto::PresenceState::Busy,
            directory: directory.then(|| DirectoryProperties::new("A", "a@h")),
        }
    }

    fn codes(m: &MultiStatus) -> Vec<(u16, usize)> {
        m.responses[0]
            .propstats
            .iter()
            .map(|p| (p.status.code.as_u16(), p.props.len()))
            .collect()
    }

    #[test]
    fn forms() {
        // r:state, d:displayname, r:email, r:mobile-state, r:mobile-description.
        assert_eq!(codes(&multistatus(&node(true), &Form::Full)), [(200, 5)]);
        let full = multistatus(&node(true), &Form::Full);
        let props = &full.responses[0].propstats[0].props;
        assert_eq!(props[3], Property::text(PropName::MobileState, "0"));
        assert_eq!(props[4], Property::text(PropName::MobileDescription, ""));
        assert_eq!(codes(&multistatus(&node(false), &Form::Full)), [(200, 1)]);
        let names = multistatus(&node(true), &Form::Names);
        assert!(
            names.responses[0].propstats[0]
                .props
                .iter()
                .all(|p| p.value == rvp_proto::xml::PropValue::Empty)
        );
        let select = Form::Select(vec![
            PropName::Email,
            PropName::MobileState,
            PropName::State,
            PropName::Other {
                namespace: "urn:x".into(),
                local: "nope".into(),
            },
        ]);
        let m = multistatus(&node(true), &select);
        assert_eq!(codes(&m), [(200, 3), (404, 1)]);
        assert!(matches!(
            m.responses[0].propstats[1].props[0].name,
            PropName::Other { .. }
        ));
        // Read denied: only r:state can be found.
        let m = multistatus(&node(false), &select);
        assert_eq!(codes(&m), [(200, 1), (404, 3)]);
    }
}
