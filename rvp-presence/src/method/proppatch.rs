//! PROPPATCH (PROTOCOL.md §2.5): `d:propertyupdate` → [`StatePatch`]. Only `r:state` may be
//! set; a request that also sets (or removes) anything else fails as a whole (WebDAV
//! atomicity): `207` with `403` for those properties and `424 Failed Dependency` for
//! `r:state`, nothing changed. The success `207` echoes the stored lease
//! (`r:leased-value` with `d:timeout`) and the `r:view-id`. A timeout outside the policy
//! is not declined but clamped (`Policy::lease_min`..`lease_max`); the echo carries the
//! granted value, which is what clients refresh by.

use crate::caller::Caller;
use crate::clock::{duration_millis, secs_millis};
use crate::lease::View;
use crate::principal::{NodeKey, PrincipalId};
use rvp_proto::PresenceState;
use std::time::Instant;

use crate::engine::RequestId;

use std::sync::Arc;

use http::StatusCode;
use rvp_proto::Right;
use rvp_proto::xml::{
    MultiStatus, PropName, PropStat, PropValue, Property, PropertyUpdate, Response, StateContent,
    StateValue, StatusLine,
};

use super::{Cx, bad, is_blank, parse_body};
use crate::engine::{Engine, Outcome, Refusal};
use crate::lease::{LeasedState, ViewId};

pub(super) fn handle(e: &mut Engine, cx: &Cx<'_>) -> Result<(), Refusal> {
    if is_blank(cx.body) {
        return Err(bad("PROPPATCH needs a <d:propertyupdate> body"));
    }
    let update: PropertyUpdate = parse_body(e, cx.body)?;
    if update.set.is_empty() && update.remove.is_empty() {
        return Err(bad("<d:propertyupdate> sets no property"));
    }
    e.check(cx.caller, cx.node, Right::Write)?;
    let mut states = update.set.iter().filter(|p| p.name == PropName::State);
    let state = states.next();
    if states.next().is_some() {
        return Err(bad("<d:propertyupdate> sets <r:state> more than once"));
    }
    let settable_only =
        update.remove.is_empty() && update.set.iter().all(|p| p.name == PropName::State);
    if !settable_only {
        let propstats = update
            .set
            .iter()
            .map(|p| {
                let code = if p.name == PropName::State {
                    StatusCode::FAILED_DEPENDENCY
                } else {
                    StatusCode::FORBIDDEN
                };
                (p.name.clone(), code)
            })
            .chain(
                update
                    .remove
                    .iter()
                    .map(|n| (n.clone(), StatusCode::FORBIDDEN)),
            )
            .collect();
        let href = e.logical_url(cx.node);
        e.respond(cx.request, Outcome::PropPatchRefused { href, propstats });
        return Ok(());
    }
    let value = match state.map(|p| &p.value) {
        Some(PropValue::State(v)) => v,
        _ => return Err(bad("<r:state> holds no state value")),
    };
    e.proppatch_state(cx.now, cx.request, cx.caller, cx.key, patch_of(value));
    Ok(())
}

/// The engine's patch for an `r:state` value: a lease, or the bare form (`r:offline` at
/// logout, no timeout: `Policy::unleased_timeout` applies). A view id that is not one of
/// ours is ignored (the view-less rules of §5.3 apply).
pub(crate) fn patch_of(v: &StateValue) -> StatePatch {
    let view = v.view_id.as_deref().and_then(ViewId::parse);
    let (value, default, timeout_secs) = match &v.content {
        StateContent::Leased(l) => (l.value.clone(), l.default_value.clone(), l.timeout),
        StateContent::Bare(s) => (s.clone(), PresenceState::Offline, None),
        _ => (PresenceState::Offline, PresenceState::Offline, None),
    };
    StatePatch {
        value,
        default,
        timeout_secs,
        view,
    }
}

fn one_response(href: &str, propstats: Vec<PropStat>) -> MultiStatus {
    MultiStatus {
        responses: vec![Response {
            href: href.to_owned(),
            propstats,
        }],
    }
}

/// Writes the `207` body of a stored lease (PROTOCOL.md §2.5 example) straight into
/// `out`, without building the `MultiStatus` it stands for: every state change is
/// answered with it.
pub(crate) fn write_echo(out: &mut Vec<u8>, href: &str, view: ViewId, state: &LeasedState) {
    let value = StateValue::leased(
        state.value.clone(),
        state.default.clone(),
        Some(state.timeout_secs),
    )
    .with_view_id(view.to_string());
    out.reserve(ECHO_BYTES + href.len());
    MultiStatus::write_one(out, href, &[Property::state(value)], StatusCode::OK);
}

/// Room for an echo besides its href: a few bytes more than the longest one (every state
/// token, a 10-digit lease and view id), so that it is written in one allocation.
const ECHO_BYTES: usize = 560;

/// The `207` body of a PROPPATCH refused as a whole: one propstat per status.
pub(crate) fn refused(href: &Arc<str>, propstats: &[(PropName, StatusCode)]) -> MultiStatus {
    let mut groups: Vec<PropStat> = Vec::new();
    for (name, code) in propstats {
        let prop = Property::empty(name.clone());
        match groups.iter_mut().find(|g| g.status.code == *code) {
            Some(g) => g.props.push(prop),
            None => groups.push(PropStat {
                props: vec![prop],
                status: StatusLine::new(*code),
            }),
        }
    }
    one_response(href, groups)
}

/// A PROPPATCH of `r:state`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatePatch {
    /// `r:value` (or the bare state element).
    pub value: PresenceState,
    /// `r:default-value` (`offline` when absent).
    pub default: PresenceState,
    /// `d:timeout`/`r:timeout` in seconds; `None` for the bare form
    /// (`Policy::unleased_timeout` applies).
    pub timeout_secs: Option<u32>,
    /// `r:view-id`.
    pub view: Option<ViewId>,
}

impl StatePatch {
    /// A leased value with default `offline`.
    pub fn leased(value: PresenceState, timeout_secs: u32) -> StatePatch {
        StatePatch {
            value,
            default: PresenceState::Offline,
            timeout_secs: Some(timeout_secs),
            view: None,
        }
    }

    /// The same patch bound to a view.
    pub fn in_view(mut self, view: ViewId) -> StatePatch {
        self.view = Some(view);
        self
    }
}

impl Engine {
    /// PROPPATCH of `r:state` (PROTOCOL.md §2.5, §5.2, §5.3): stores the lease in a view,
    /// republishes the aggregate and notifies watchers when it changed.
    pub fn proppatch_state(
        &mut self,
        now: Instant,
        request: RequestId,
        caller: &Caller,
        node: &NodeKey,
        patch: StatePatch,
    ) {
        self.advance(now);
        let r = self.node(node).and_then(|n| {
            self.check(caller, n, Right::Write)?;
            Ok(self.set_state(caller, n, patch))
        });
        match r {
            Ok(resp) => self.respond(request, resp),
            Err(e) => self.refuse(request, e),
        }
    }

    pub(crate) fn mint_view(&mut self) -> ViewId {
        self.next_view = self.next_view.checked_add(1).unwrap_or(1);
        ViewId(self.next_view)
    }

    pub(crate) fn set_state(
        &mut self,
        caller: &Caller,
        node: PrincipalId,
        patch: StatePatch,
    ) -> Outcome {
        let granted = self
            .policy
            .grant_lease(patch.timeout_secs.unwrap_or_else(|| {
                u32::try_from(self.policy.unleased_timeout.as_secs()).unwrap_or(u32::MAX)
            }));
        let lgrace = duration_millis(self.policy.lease_grace);
        let expires = self.now + secs_millis(granted);
        self.set_order += 1;
        let order = self.set_order;
        let binding = caller.principal().cloned().zip(caller.source());
        let bind = self.policy.bind_viewless_proppatch;
        let max_views = self.policy.max_views_per_principal;
        let n = &self.nodes[node.0 as usize];
        let existing = match (patch.view, &binding) {
            (Some(v), _) => n.views.find(v),
            (None, Some((p, ip))) if bind => n.views.find_bound(p, *ip),
            _ => None,
        };
        let state = LeasedState {
            value: patch.value,
            default: patch.default,
            timeout_secs: granted,
        };
        let view_id = match existing {
            Some(i) => {
                let n = &mut self.nodes[node.0 as usize];
                let v = &mut n.views.live[i];
                let old = (v.expires_ms.saturating_add(lgrace), node.0, v.id);
                v.state = state.clone();
                v.expires_ms = expires;
                v.last_set = order;
                let id = v.id;
                self.lease_timers.remove(&old);
                id
            }
            None => {
                let id = self.mint_view();
                let n = &mut self.nodes[node.0 as usize];
                if n.views.live.len() >= max_views {
                    // Evict the view that would expire first.
                    if let Some((i, _)) = n
                        .views
                        .live
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, v)| v.expires_ms)
                    {
                        let v = n.views.live.remove(i);
                        self.journal.view_gone(v.id);
                        self.lease_timers.remove(&(
                            v.expires_ms.saturating_add(lgrace),
                            node.0,
                            v.id,
                        ));
                    }
                }
                let n = &mut self.nodes[node.0 as usize];
                n.views.live.push(View {
                    id,
                    state: state.clone(),
                    expires_ms: expires,
                    last_set: order,
                    bound_to: binding,
                });
                id
            }
        };
        self.lease_timers
            .insert((expires.saturating_add(lgrace), node.0, view_id));
        self.journal_view(node, view_id);
        self.journal.counters_changed();
        self.republish(node);
        Outcome::StateSet {
            href: self.logical_url(node),
            view: view_id,
            state,
        }
    }
}

#[cfg(test)]
mod tests {
    use rvp_proto::PresenceState;

    use super::*;

    #[test]
    fn patches() {
        let p = patch_of(
            &StateValue::leased(PresenceState::Away, PresenceState::Online, Some(600))
                .with_view_id("7"),
        );
        assert_eq!(p.value, PresenceState::Away);
        assert_eq!(p.default, PresenceState::Online);
        assert_eq!(p.timeout_secs, Some(600));
        assert_eq!(p.view, ViewId::new(7));
        let p = patch_of(&StateValue::bare(PresenceState::Offline).with_view_id("9A"));
        assert_eq!(
            (p.timeout_secs, p.view),
            (None, None),
            "opaque view id ignored"
        );
    }

    /// The echo is the multistatus it stands for, and the longest one (every known
    /// state, the largest lease and view id) is written in one allocation.
    #[test]
    fn echoes_are_their_multistatus_in_one_allocation() {
        let href = "http://im.example.com/instmsg/aliases/someone";
        let view = ViewId::new(u32::MAX).expect("not 0");
        for value in PresenceState::KNOWN {
            for default in PresenceState::KNOWN {
                let state = LeasedState {
                    value: value.clone(),
                    default,
                    timeout_secs: u32::MAX,
                };
                let mut out = Vec::new();
                write_echo(&mut out, href, view, &state);
                assert!(
                    out.capacity() <= ECHO_BYTES + href.len(),
                    "{} grew",
                    out.len()
                );
                let built = MultiStatus {
                    responses: vec![Response {
                        href: href.into(),
                        propstats: vec![PropStat {
                            props: vec![Property::state(
                                StateValue::leased(
                                    state.value.clone(),
                                    state.default.clone(),
                                    Some(u32::MAX),
                                )
                                .with_view_id(view.to_string()),
                            )],
                            status: StatusLine::new(StatusCode::OK),
                        }],
                    }],
                };
                assert_eq!(out, rvp_proto::xml::XmlBody::to_bytes(&built));
            }
        }
    }

    #[test]
    fn refusals_group_by_status() {
        let m = refused(
            &Arc::from("http://h/instmsg/aliases/a"),
            &[
                (PropName::State, StatusCode::FAILED_DEPENDENCY),
                (PropName::DisplayName, StatusCode::FORBIDDEN),
                (PropName::Email, StatusCode::FORBIDDEN),
            ],
        );
        let groups: Vec<(u16, usize)> = m.responses[0]
            .propstats
            .iter()
            .map(|p| (p.status.code.as_u16(), p.props.len()))
            .collect();
        assert_eq!(groups, [(424, 1), (403, 2)]);
    }
}
