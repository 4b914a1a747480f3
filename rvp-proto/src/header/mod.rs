//! Typed RVP headers (PROTOCOL.md §3.1, plus `Depth` from §3.2).
//!
//! Each header is a type implementing [`RvpHeader`]: it knows its name, decodes a raw
//! value strictly (a malformed value is a [`HeaderError`] naming the header) and encodes
//! itself canonically. [`RvpHeaders`] collects all of them from a message in one pass.
//!
//! | header | type | default when absent |
//! |---|---|---|
//! | `Subscription-Lifetime` | [`SubscriptionLifetime`] (seconds) | — |
//! | `Subscription-Id` | [`SubscriptionId`] (opaque); we mint [`MintedSubscriptionId`] | — |
//! | `Notification-Type` | [`NotificationType`] | — |
//! | `Call-Back` | [`CallBack`] (a [`NodeUrl`](crate::url::NodeUrl)) | — |
//! | `RVP-From-Principal` | [`FromPrincipal`] (URL or bare host) | anonymous |
//! | `RVP-Hop-Count` | [`HopCount`] (≥ 1) | 1 |
//! | `RVP-Ack-Type` | [`AckType`] (case-insensitive) | `SingleHop` |
//! | `RVP-Notifications-Version` | [`NotificationsVersion`] | — (we emit `0.2`) |
//! | `Depth` | [`Depth`] | — |
//!
//! Header *names* are matched case-insensitively; *values* are case-sensitive except
//! `RVP-Ack-Type` and `Depth: infinity` (PROTOCOL.md §3).
//!
//! ```
//! use rvp_proto::header::{AckType, HopCount, RvpHeader};
//!
//! assert_eq!(AckType::decode(b"deepor")?, AckType::DeepOr);
//! assert_eq!(HopCount::decode(b"2")?.get(), 2);
//! assert_eq!(
//!     HopCount::decode(b"0").unwrap_err().to_string(),
//!     "malformed RVP-Hop-Count header: expected a decimal number >= 1, got \"0\""
//! );
//! # Ok::<(), rvp_proto::header::HeaderError>(())
//! ```

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::url::UrlError;

/// `Subscription-Lifetime`.
pub const SUBSCRIPTION_LIFETIME: HeaderName = HeaderName::from_static("subscription-lifetime");
/// `Subscription-Id`.
pub const SUBSCRIPTION_ID: HeaderName = HeaderName::from_static("subscription-id");
/// `Notification-Type`.
pub const NOTIFICATION_TYPE: HeaderName = HeaderName::from_static("notification-type");
/// `Call-Back`.
pub const CALL_BACK: HeaderName = HeaderName::from_static("call-back");
/// `RVP-From-Principal`.
pub const RVP_FROM_PRINCIPAL: HeaderName = HeaderName::from_static("rvp-from-principal");
/// `RVP-Hop-Count`.
pub const RVP_HOP_COUNT: HeaderName = HeaderName::from_static("rvp-hop-count");
/// `RVP-Ack-Type`.
pub const RVP_ACK_TYPE: HeaderName = HeaderName::from_static("rvp-ack-type");
/// `RVP-Notifications-Version`.
pub const RVP_NOTIFICATIONS_VERSION: HeaderName =
    HeaderName::from_static("rvp-notifications-version");
/// `Depth`.
pub const DEPTH: HeaderName = HeaderName::from_static("depth");

/// A malformed or misplaced RVP header. Every variant names the header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The value does not have the header's syntax.
    #[error("malformed {header} header: expected {expected}, got {value:?}")]
    Malformed {
        /// Canonical header name, e.g. `RVP-Hop-Count`.
        header: &'static str,
        /// What the syntax requires.
        expected: &'static str,
        /// The offending value (lossily decoded, truncated to 100 bytes).
        value: String,
    },
    /// The value should be a URL but is not a valid one.
    #[error("malformed {header} header: {source}")]
    Url {
        /// Canonical header name.
        header: &'static str,
        /// What is wrong with the URL.
        source: UrlError,
    },
    /// The header occurs more than once.
    #[error("duplicate {0} header")]
    Duplicate(&'static str),
}

impl HeaderError {
    /// The canonical name of the header at fault.
    pub fn header(&self) -> &'static str {
        match self {
            HeaderError::Malformed { header, .. } | HeaderError::Url { header, .. } => header,
            HeaderError::Duplicate(h) => h,
        }
    }

    fn malformed(header: &'static str, expected: &'static str, value: &[u8]) -> HeaderError {
        let value = &value[..value.len().min(100)];
        HeaderError::Malformed {
            header,
            expected,
            value: String::from_utf8_lossy(value).into_owned(),
        }
    }
}

/// A typed RVP header.
pub trait RvpHeader: Sized {
    /// The canonical spelling of the header name (`RVP-Hop-Count`).
    const NAME: &'static str;

    /// The header name as an [`http::HeaderName`].
    fn header_name() -> HeaderName;

    /// Decodes a raw header value (surrounding whitespace is ignored).
    fn decode(value: &[u8]) -> Result<Self, HeaderError>;

    /// Writes the canonical value.
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result;

    /// The canonical value as an [`http::HeaderValue`].
    fn to_header_value(&self) -> HeaderValue {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_value(&mut s);
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Reads this header from a header map: `Ok(None)` when absent, an error when it is
    /// malformed or occurs more than once.
    fn from_map(map: &HeaderMap) -> Result<Option<Self>, HeaderError> {
        let mut it = map.get_all(Self::header_name()).iter();
        let Some(v) = it.next() else { return Ok(None) };
        if it.next().is_some() {
            return Err(HeaderError::Duplicate(Self::NAME));
        }
        Self::decode(v.as_bytes()).map(Some)
    }

    /// Inserts (replaces) this header in a header map.
    fn insert_into(&self, map: &mut HeaderMap) {
        map.insert(Self::header_name(), self.to_header_value());
    }
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

fn as_str<'a, H: RvpHeader>(v: &'a [u8], expected: &'static str) -> Result<&'a str, HeaderError> {
    std::str::from_utf8(trim(v)).map_err(|_| HeaderError::malformed(H::NAME, expected, v))
}

/// Parses `1*DIGIT` into a `u32`.
fn parse_u32(v: &[u8]) -> Option<u32> {
    if v.is_empty() || v.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    u32::try_from(n).ok()
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

macro_rules! header_name {
    ($konst:ident, $name:literal) => {
        const NAME: &'static str = $name;
        fn header_name() -> HeaderName {
            $konst
        }
    };
}

mod ack_type;
mod call_back;
mod depth;
mod from_principal;
mod hop_count;
mod notification_type;
mod notifications_version;
mod set;
mod subscription_id;
mod subscription_lifetime;
#[cfg(test)]
mod tests;

pub use ack_type::AckType;
pub use call_back::CallBack;
pub use depth::Depth;
pub use from_principal::{FromPrincipal, FromPrincipalRef};
pub use hop_count::HopCount;
pub use notification_type::NotificationType;
pub use notifications_version::NotificationsVersion;
pub(crate) use set::{FastAdd, RvpField, name_eq};
pub use set::{RvpHeaderSet, RvpHeaders, RvpHeadersRef};
pub use subscription_id::{MintedSubscriptionId, SubscriptionId, SubscriptionIdRef};
pub use subscription_lifetime::SubscriptionLifetime;
