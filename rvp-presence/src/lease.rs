//! Leased presence: views, the per-view state machine (§5.2), view-less binding (§5.3)
//! and aggregation into the published state (§5.4).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use rvp_proto::PresenceState;

use crate::clock::Millis;

/// An `r:view-id`: decimal, minted by the engine, never reused within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ViewId(pub(crate) u32);

impl ViewId {
    /// The view id with this value (any `u32` but 0).
    pub fn new(value: u32) -> Option<ViewId> {
        (value != 0).then_some(ViewId(value))
    }

    /// Parses the decimal wire form.
    pub fn parse(s: &str) -> Option<ViewId> {
        let s = s.trim();
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u32>().ok().and_then(ViewId::new)
    }

    /// The numeric value.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ViewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A leased value of `r:state` as held for one view (PROTOCOL.md §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeasedState {
    /// The current value.
    pub value: PresenceState,
    /// What the value reverts to when the lease ends.
    pub default: PresenceState,
    /// The granted lease, in seconds.
    pub timeout_secs: u32,
}

/// One live view of a principal.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub(crate) id: ViewId,
    pub(crate) state: LeasedState,
    /// End of the announced lease (the view dies `lease_grace` later).
    pub(crate) expires_ms: Millis,
    /// Global order of the last set (for §5.4 rule 2).
    pub(crate) last_set: u64,
    /// The (principal, source IP) that created the view (§5.3).
    pub(crate) bound_to: Option<(Arc<str>, IpAddr)>,
}

/// The live views of one principal.
#[derive(Debug, Clone, Default)]
pub(crate) struct Views {
    pub(crate) live: Vec<View>,
}

impl Views {
    pub(crate) fn find(&self, id: ViewId) -> Option<usize> {
        self.live.iter().position(|v| v.id == id)
    }

    pub(crate) fn find_bound(&self, principal: &str, ip: IpAddr) -> Option<usize> {
        self.live.iter().position(|v| {
            v.bound_to
                .as_ref()
                .is_some_and(|(p, i)| **p == *principal && *i == ip)
        })
    }

    /// The published `r:state` (§5.4).
    pub(crate) fn aggregate(&self) -> PresenceState {
        aggregate(self.live.iter().map(|v| (&v.state.value, v.last_set)))
    }
}

/// The published state of a principal from its live views' (value, set order) pairs
/// (PROTOCOL.md §5.4):
///
/// 1. no live view other than `offline` (or `invisible`) → `offline`;
/// 2. else the most recently set user-chosen state (`busy`, `away`, ... or unknown);
/// 3. else `online` if any view is online;
/// 4. else `idle`.
pub fn aggregate<'a>(views: impl IntoIterator<Item = (&'a PresenceState, u64)>) -> PresenceState {
    let mut chosen: Option<(&PresenceState, u64)> = None;
    let mut online = false;
    let mut idle = false;
    for (value, order) in views {
        match value {
            PresenceState::Offline | PresenceState::Invisible => {}
            PresenceState::Online => online = true,
            PresenceState::Idle => idle = true,
            v if v.is_user_chosen() && chosen.is_none_or(|(_, o)| order >= o) => {
                chosen = Some((v, order));
            }
            _ => {}
        }
    }
    match (chosen, online, idle) {
        (Some((v, _)), _, _) => v.clone(),
        (None, true, _) => PresenceState::Online,
        (None, false, true) => PresenceState::Idle,
        _ => PresenceState::Offline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PresenceState as S;

    #[test]
    fn aggregation_rules() {
        assert_eq!(aggregate([]), S::Offline);
        assert_eq!(aggregate([(&S::Offline, 1)]), S::Offline);
        assert_eq!(aggregate([(&S::Invisible, 1)]), S::Offline);
        assert_eq!(aggregate([(&S::Idle, 1), (&S::Online, 2)]), S::Online);
        assert_eq!(aggregate([(&S::Idle, 1), (&S::Offline, 2)]), S::Idle);
        assert_eq!(aggregate([(&S::Online, 3), (&S::Busy, 1)]), S::Busy);
        assert_eq!(aggregate([(&S::Away, 2), (&S::Busy, 1)]), S::Away);
        assert_eq!(aggregate([(&S::Away, 1), (&S::Busy, 2)]), S::Busy);
        let other = S::Other("gone-fishing".into());
        assert_eq!(aggregate([(&other, 5), (&S::Busy, 2)]), other);
    }

    #[test]
    fn view_ids() {
        assert_eq!(ViewId::parse("3577").map(ViewId::get), Some(3577));
        assert_eq!(ViewId::parse("0"), None);
        assert_eq!(ViewId::parse("x"), None);
        assert_eq!(ViewId::new(7).map(|v| v.to_string()), Some("7".into()));
    }
}
