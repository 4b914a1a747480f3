//! `RVP-Ack-Type` (PROTOCOL.md §2.6, §3.1).

use std::fmt;

use http::HeaderName;

use super::{HeaderError, RVP_ACK_TYPE, RvpHeader, trim};

/// `RVP-Ack-Type`: when the NOTIFY sender wants its acknowledgement (PROTOCOL.md §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AckType {
    /// When the first receiver has the notification (the default).
    #[default]
    SingleHop,
    /// When at least one final destination has it.
    DeepOr,
    /// When every final destination has it.
    DeepAnd,
}

impl AckType {
    /// The canonical wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            AckType::SingleHop => "SingleHop",
            AckType::DeepOr => "DeepOr",
            AckType::DeepAnd => "DeepAnd",
        }
    }
}

impl RvpHeader for AckType {
    header_name!(RVP_ACK_TYPE, "RVP-Ack-Type");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        let v = trim(value);
        let candidate = match v.len() {
            9 => AckType::SingleHop,
            6 => AckType::DeepOr,
            _ => AckType::DeepAnd,
        };
        Some(candidate)
            .filter(|a| v.eq_ignore_ascii_case(a.as_str().as_bytes()))
            .ok_or_else(|| {
                HeaderError::malformed(Self::NAME, "SingleHop, DeepOr or DeepAnd", value)
            })
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str(self.as_str())
    }
}
