//! `RVP-Hop-Count` (PROTOCOL.md §3.1).

use std::fmt;

use http::HeaderName;

use super::{HeaderError, RVP_HOP_COUNT, RvpHeader, parse_u32, trim};

/// `RVP-Hop-Count: 1*DIGIT` (≥ 1): hops so far, the originator counting as 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HopCount(u32);

impl HopCount {
    /// The originator's hop count, and the value assumed when the header is absent.
    pub const ORIGIN: HopCount = HopCount(1);

    /// `None` for 0.
    pub const fn new(n: u32) -> Option<HopCount> {
        if n >= 1 { Some(HopCount(n)) } else { None }
    }

    /// The count.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The count a relay puts on the message it forwards (received + 1, saturating).
    pub const fn next(self) -> HopCount {
        HopCount(self.0.saturating_add(1))
    }
}

impl Default for HopCount {
    fn default() -> Self {
        HopCount::ORIGIN
    }
}

impl RvpHeader for HopCount {
    header_name!(RVP_HOP_COUNT, "RVP-Hop-Count");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        parse_u32(trim(value))
            .and_then(HopCount::new)
            .ok_or_else(|| HeaderError::malformed(Self::NAME, "a decimal number >= 1", value))
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "{}", self.0)
    }
}
