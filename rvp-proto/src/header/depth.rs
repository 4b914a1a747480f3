//! `Depth` (WebDAV; PROTOCOL.md §2.4).

use std::fmt;

use http::HeaderName;

use super::{DEPTH, HeaderError, RvpHeader, trim};

/// `Depth` (WebDAV): RVP allows only `0`, on PROPFIND (PROTOCOL.md §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Depth {
    /// `0`.
    Zero,
    /// `1`.
    One,
    /// `infinity` (case-insensitive).
    Infinity,
}

impl Depth {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Depth::Zero => "0",
            Depth::One => "1",
            Depth::Infinity => "infinity",
        }
    }
}

impl RvpHeader for Depth {
    header_name!(DEPTH, "Depth");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        match trim(value) {
            b"0" => Ok(Depth::Zero),
            b"1" => Ok(Depth::One),
            v if v.eq_ignore_ascii_case(b"infinity") => Ok(Depth::Infinity),
            _ => Err(HeaderError::malformed(
                Self::NAME,
                "0, 1 or infinity",
                value,
            )),
        }
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str(self.as_str())
    }
}
