//! `Subscription-Id` (PROTOCOL.md §3.1, §9.5): the opaque token as received, and the
//! decimal ids this implementation mints.

use std::fmt;

use http::HeaderName;

use super::{HeaderError, RvpHeader, SUBSCRIPTION_ID, is_tchar, parse_u32, trim};

/// `Subscription-Id`: an opaque token as received (PROTOCOL.md §9.5: ids are opaque).
///
/// Exchange and our server mint decimal ids ([`MintedSubscriptionId`]); the spec also shows
/// `9A504`. Any non-empty HTTP token of at most 64 bytes is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(Box<str>);

impl SubscriptionId {
    /// Longest accepted id, in bytes.
    pub const MAX_LEN: usize = 64;

    /// Builds an id from a token; `None` if it is empty, too long or not an HTTP token.
    pub fn new(token: &str) -> Option<SubscriptionId> {
        let ok = !token.is_empty() && token.len() <= Self::MAX_LEN && token.bytes().all(is_tchar);
        ok.then(|| SubscriptionId(token.into()))
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as one of ours, if it is a decimal number below 2^31 in canonical form.
    pub fn as_minted(&self) -> Option<MintedSubscriptionId> {
        let n = parse_u32(self.0.as_bytes())?;
        let m = MintedSubscriptionId::new(n)?;
        // "007" is not the canonical spelling of 7: keep such ids opaque.
        (m.to_string() == *self.0).then_some(m)
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated `Subscription-Id` borrowed from the message (see [`SubscriptionId`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionIdRef<'a>(&'a str);

impl<'a> SubscriptionIdRef<'a> {
    /// Validates a raw header value.
    pub fn parse(value: &'a [u8]) -> Result<SubscriptionIdRef<'a>, HeaderError> {
        const EXPECTED: &str = "a token of 1 to 64 characters";
        let v = trim(value);
        let ok =
            !v.is_empty() && v.len() <= SubscriptionId::MAX_LEN && v.iter().all(|&b| is_tchar(b));
        match std::str::from_utf8(v) {
            Ok(s) if ok => Ok(SubscriptionIdRef(s)),
            _ => Err(HeaderError::malformed(
                SubscriptionId::NAME,
                EXPECTED,
                value,
            )),
        }
    }

    /// The token.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// The owned id.
    pub fn to_subscription_id(&self) -> SubscriptionId {
        SubscriptionId(self.0.into())
    }
}

impl RvpHeader for SubscriptionId {
    header_name!(SUBSCRIPTION_ID, "Subscription-Id");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        SubscriptionIdRef::parse(value).map(|r| r.to_subscription_id())
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        out.write_str(&self.0)
    }
}

/// A subscription id as this implementation mints them: a decimal number in
/// `1..2^31` (librvp reads ids with `atoi`, reference interop notes; `0` is what it makes
/// of an id it could not read, so it is never minted).
///
/// The same value on both sides: `rvp-presence` names its subscriptions with it (as
/// `rvp_presence::SubscriptionId`), and it becomes the header's opaque
/// [`SubscriptionId`] with `From`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MintedSubscriptionId(u32);

impl MintedSubscriptionId {
    /// Largest id plus one (2^31).
    pub const LIMIT: u32 = 1 << 31;
    /// Largest mintable id (2^31 − 1).
    pub const MAX: u32 = Self::LIMIT - 1;

    /// The id with this value, if it is in `1..2^31`.
    pub const fn new(n: u32) -> Option<MintedSubscriptionId> {
        if n != 0 && n < Self::LIMIT {
            Some(MintedSubscriptionId(n))
        } else {
            None
        }
    }

    /// Parses the decimal wire form (`Subscription-Id: 98210`, surrounding whitespace
    /// ignored). Anything else, including `0` and ids of another implementation's form
    /// (`{GUID}`, `9A504`), is `None`: not an id this implementation could have minted.
    pub fn parse(s: &str) -> Option<MintedSubscriptionId> {
        parse_u32(s.trim().as_bytes()).and_then(MintedSubscriptionId::new)
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for MintedSubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<MintedSubscriptionId> for SubscriptionId {
    fn from(m: MintedSubscriptionId) -> SubscriptionId {
        SubscriptionId(m.to_string().into())
    }
}
