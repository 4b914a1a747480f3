//! `Notification-Type` (PROTOCOL.md §1.4, §3.1).

use std::fmt;

use http::HeaderName;

use super::{HeaderError, NOTIFICATION_TYPE, RvpHeader, is_tchar, trim};

/// `Notification-Type`: the kind of subscription (PROTOCOL.md §1.4, §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotificationType {
    /// `update/propchange`: property-change notifications (buddy presence).
    Propchange,
    /// `pragma/notify`: everything NOTIFYed to the node (login subscription).
    Notify,
    /// Any other `token "/" token` value, as received.
    Extension(Box<str>),
}

impl NotificationType {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            NotificationType::Propchange => "update/propchange",
            NotificationType::Notify => "pragma/notify",
            NotificationType::Extension(s) => s,
        }
    }
}

impl RvpHeader for NotificationType {
    header_name!(NOTIFICATION_TYPE, "Notification-Type");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        let v = trim(value);
        match v {
            b"update/propchange" => return Ok(NotificationType::Propchange),
            b"pragma/notify" => return Ok(NotificationType::Notify),
            _ => {}
        }
        let well_formed = v.len() <= 128
            && v.iter().filter(|&&b| b == b'/').count() == 1
            && v.split(|&b| b == b'/')
                .all(|t| !t.is_empty() && t.iter().all(|&b| is_tchar(b)));
        match (well_formed, std::str::from_utf8(v)) {
            (true, Ok(s)) => Ok(NotificationType::Extension(s.into())),
            _ => Err(HeaderError::malformed(
                Self::NAME,
                "update/propchange, pragma/notify or token/token",
                value,
            )),
        }
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str(self.as_str())
    }
}

impl fmt::Display for NotificationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
