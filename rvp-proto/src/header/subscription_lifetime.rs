//! `Subscription-Lifetime` (PROTOCOL.md §3.1).

use std::fmt;

use http::HeaderName;

use super::{HeaderError, RvpHeader, SUBSCRIPTION_LIFETIME, parse_u32, trim};

/// `Subscription-Lifetime: 1*DIGIT` — requested or granted lease length in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionLifetime(pub u32);

impl SubscriptionLifetime {
    /// The lifetime Exchange clients request (4 h).
    pub const EXCHANGE_DEFAULT: SubscriptionLifetime = SubscriptionLifetime(14400);

    /// The lifetime in seconds.
    pub fn seconds(self) -> u32 {
        self.0
    }

    /// As a [`std::time::Duration`].
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.0))
    }
}

impl RvpHeader for SubscriptionLifetime {
    header_name!(SUBSCRIPTION_LIFETIME, "Subscription-Lifetime");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        parse_u32(trim(value))
            .map(SubscriptionLifetime)
            .ok_or_else(|| {
                HeaderError::malformed(Self::NAME, "a number of seconds (decimal, < 2^32)", value)
            })
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "{}", self.0)
    }
}
