//! `RVP-Notifications-Version` (PROTOCOL.md §3.1, §9.5).

use std::fmt;

use http::HeaderName;

use super::{HeaderError, RVP_NOTIFICATIONS_VERSION, RvpHeader, parse_u32, trim};

/// `RVP-Notifications-Version: 1*DIGIT "." 1*DIGIT`, compared numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotificationsVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl NotificationsVersion {
    /// `0.2`: what every real client sends and what we always emit.
    pub const V0_2: NotificationsVersion = NotificationsVersion { major: 0, minor: 2 };
    /// `1.0`: what the specification's examples show.
    pub const V1_0: NotificationsVersion = NotificationsVersion { major: 1, minor: 0 };
}

impl Default for NotificationsVersion {
    fn default() -> Self {
        Self::V0_2
    }
}

impl fmt::Display for NotificationsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl RvpHeader for NotificationsVersion {
    header_name!(RVP_NOTIFICATIONS_VERSION, "RVP-Notifications-Version");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        let bad = || HeaderError::malformed(Self::NAME, "DIGITS.DIGITS (e.g. 0.2)", value);
        let v = trim(value);
        let dot = v.iter().position(|&b| b == b'.').ok_or_else(bad)?;
        let num = |d: &[u8]| parse_u32(d).and_then(|n| u16::try_from(n).ok());
        match (num(&v[..dot]), num(&v[dot + 1..])) {
            (Some(major), Some(minor)) => Ok(NotificationsVersion { major, minor }),
            _ => Err(bad()),
        }
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "{self}")
    }
}
