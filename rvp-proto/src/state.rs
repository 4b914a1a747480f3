//! Presence state tokens: the children of `r:state`, `r:value` and `r:default-value`
//! (PROTOCOL.md §4.5).

use std::fmt;

/// A presence state, as carried by an element in the RVP namespace such as `<r:busy/>`.
///
/// Unknown tokens are kept by name ([`PresenceState::Other`]) so that a server stores and
/// relays them unchanged (PROTOCOL.md §4.5: the content model is `ANY`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PresenceState {
    /// `r:online`
    Online,
    /// `r:offline`
    Offline,
    /// `r:away`
    Away,
    /// `r:busy`
    Busy,
    /// `r:back-soon` ("be right back")
    BackSoon,
    /// `r:on-phone`
    OnPhone,
    /// `r:at-lunch`
    AtLunch,
    /// `r:idle` (observed, not in the spec's DTD)
    Idle,
    /// `r:invisible` (sent by the Miranda plugin only)
    Invisible,
    /// Any other element of the RVP namespace, by local name (never empty, never one of
    /// the names above).
    Other(Box<str>),
}

impl PresenceState {
    /// The known tokens, in the order of PROTOCOL.md §4.5.
    pub const KNOWN: [PresenceState; 9] = [
        PresenceState::Online,
        PresenceState::Offline,
        PresenceState::Away,
        PresenceState::Busy,
        PresenceState::BackSoon,
        PresenceState::OnPhone,
        PresenceState::AtLunch,
        PresenceState::Idle,
        PresenceState::Invisible,
    ];

    /// The element's local name (`"busy"` for `<r:busy/>`).
    pub fn local_name(&self) -> &str {
        match self {
            PresenceState::Online => "online",
            PresenceState::Offline => "offline",
            PresenceState::Away => "away",
            PresenceState::Busy => "busy",
            PresenceState::BackSoon => "back-soon",
            PresenceState::OnPhone => "on-phone",
            PresenceState::AtLunch => "at-lunch",
            PresenceState::Idle => "idle",
            PresenceState::Invisible => "invisible",
            PresenceState::Other(name) => name,
        }
    }

    /// The state named by an element local name. Element names are case-sensitive in XML;
    /// an unknown name becomes [`PresenceState::Other`]. Returns `None` only for an empty
    /// name.
    pub fn from_local_name(name: &str) -> Option<PresenceState> {
        Some(match name {
            "" => return None,
            "online" => PresenceState::Online,
            "offline" => PresenceState::Offline,
            "away" => PresenceState::Away,
            "busy" => PresenceState::Busy,
            "back-soon" => PresenceState::BackSoon,
            "on-phone" => PresenceState::OnPhone,
            "at-lunch" => PresenceState::AtLunch,
            "idle" => PresenceState::Idle,
            "invisible" => PresenceState::Invisible,
            other => PresenceState::Other(other.into()),
        })
    }

    /// Whether this is a principal-wide, user-chosen state for aggregation (PROTOCOL.md
    /// §5.4 rule 2): `busy`, `back-soon`, `away`, `on-phone`, `at-lunch` or any unknown
    /// token.
    pub fn is_user_chosen(&self) -> bool {
        matches!(
            self,
            PresenceState::Busy
                | PresenceState::BackSoon
                | PresenceState::Away
                | PresenceState::OnPhone
                | PresenceState::AtLunch
                | PresenceState::Other(_)
        )
    }
}

impl fmt::Display for PresenceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.local_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in PresenceState::KNOWN {
            assert_eq!(
                PresenceState::from_local_name(s.local_name()),
                Some(s.clone())
            );
        }
        assert_eq!(
            PresenceState::from_local_name("in-meeting"),
            Some(PresenceState::Other("in-meeting".into()))
        );
        assert_eq!(PresenceState::from_local_name(""), None);
        assert!(PresenceState::Other("x".into()).is_user_chosen());
        assert!(!PresenceState::Idle.is_user_chosen());
    }
}
