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
//! | `Call-Back` | [`CallBack`] (a [`NodeUrl`]) | — |
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

use crate::url::{NodeUrl, NodeUrlRef, UrlError};

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

// ---------------------------------------------------------------------------------------

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

/// A subscription id minted by us: a decimal number below 2^31 (librvp reads ids with
/// `atoi`, reference interop notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MintedSubscriptionId(u32);

impl MintedSubscriptionId {
    /// Largest mintable id (2^31 − 1).
    pub const MAX: u32 = i32::MAX as u32;

    /// `None` if `n` is not below 2^31.
    pub const fn new(n: u32) -> Option<MintedSubscriptionId> {
        if n <= Self::MAX {
            Some(MintedSubscriptionId(n))
        } else {
            None
        }
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

/// `Call-Back`: where NOTIFYs for a subscription go — the subscriber's logical URL or its
/// local node `http://ip:port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallBack(pub NodeUrl);

impl CallBack {
    /// Validates a raw `Call-Back` value without allocating (unless escaped).
    pub fn parse_ref(value: &[u8]) -> Result<NodeUrlRef<'_>, HeaderError> {
        let s = as_str::<Self>(value, "an absolute http URL")?;
        NodeUrlRef::parse(s).map_err(|source| HeaderError::Url {
            header: Self::NAME,
            source,
        })
    }
}

impl RvpHeader for CallBack {
    header_name!(CALL_BACK, "Call-Back");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        CallBack::parse_ref(value).map(|r| CallBack(r.to_node_url()))
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "{}", self.0)
    }
}

/// `RVP-From-Principal`: the originator — normally a logical URL, a bare host name for
/// server-originated notifications (PROTOCOL.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FromPrincipal {
    /// An absolute `http://` URL.
    Url(NodeUrl),
    /// A bare host name (lower-cased), e.g. `im.example.com`.
    Host(Box<str>),
}

impl FromPrincipal {
    /// The principal's logical URL, if it is one (or a physical URL of one).
    pub fn logical(&self) -> Option<&crate::url::LogicalUrl> {
        match self {
            FromPrincipal::Url(u) => u.logical(),
            FromPrincipal::Host(_) => None,
        }
    }
}

/// `RVP-From-Principal`, borrowed from the message (see [`FromPrincipal`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FromPrincipalRef<'a> {
    /// An absolute `http://` URL.
    Url(NodeUrlRef<'a>),
    /// A bare host name, as received.
    Host(&'a str),
}

impl<'a> FromPrincipalRef<'a> {
    /// Validates a raw header value without allocating (unless the URL is escaped).
    pub fn parse(value: &'a [u8]) -> Result<FromPrincipalRef<'a>, HeaderError> {
        const EXPECTED: &str = "an absolute http URL or a host name";
        let s = as_str::<FromPrincipal>(value, EXPECTED)?;
        if s.find(':').is_some_and(|i| s[i..].starts_with("://")) {
            return NodeUrlRef::parse(s)
                .map(FromPrincipalRef::Url)
                .map_err(|source| HeaderError::Url {
                    header: FromPrincipal::NAME,
                    source,
                });
        }
        let ok = !s.is_empty()
            && s.len() <= 255
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if ok {
            Ok(FromPrincipalRef::Host(s))
        } else {
            Err(HeaderError::malformed(FromPrincipal::NAME, EXPECTED, value))
        }
    }

    /// The owned, canonical value.
    pub fn to_from_principal(&self) -> FromPrincipal {
        match self {
            FromPrincipalRef::Url(u) => FromPrincipal::Url(u.to_node_url()),
            FromPrincipalRef::Host(h) => FromPrincipal::Host(h.to_ascii_lowercase().into()),
        }
    }
}

impl RvpHeader for FromPrincipal {
    header_name!(RVP_FROM_PRINCIPAL, "RVP-From-Principal");
    fn decode(value: &[u8]) -> Result<Self, HeaderError> {
        FromPrincipalRef::parse(value).map(|r| r.to_from_principal())
    }
    fn write_value(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            FromPrincipal::Url(u) => write!(out, "{u}"),
            FromPrincipal::Host(h) => out.write_str(h),
        }
    }
}

impl fmt::Display for FromPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_value(f)
    }
}

impl fmt::Display for CallBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<crate::url::LogicalUrl> for FromPrincipal {
    fn from(u: crate::url::LogicalUrl) -> Self {
        FromPrincipal::Url(NodeUrl::Logical(u))
    }
}

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

// ---------------------------------------------------------------------------------------

/// Every RVP header of one message, typed. Absent headers are `None`; use the accessors
/// for the protocol defaults ([`RvpHeaders::ack_type`], [`RvpHeaders::hop_count`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RvpHeaders {
    /// `RVP-Notifications-Version`.
    ///
    /// Per PROTOCOL.md §9.5 any value is accepted: a value that does not parse is ignored
    /// (left `None`) by [`RvpHeaders::add`] rather than failing the message.
    pub notifications_version: Option<NotificationsVersion>,
    /// `RVP-From-Principal`.
    pub from_principal: Option<FromPrincipal>,
    /// `Call-Back`.
    pub call_back: Option<CallBack>,
    /// `Notification-Type`.
    pub notification_type: Option<NotificationType>,
    /// `Subscription-Id`.
    pub subscription_id: Option<SubscriptionId>,
    /// `Subscription-Lifetime`.
    pub subscription_lifetime: Option<SubscriptionLifetime>,
    /// `RVP-Ack-Type`.
    pub ack_type: Option<AckType>,
    /// `RVP-Hop-Count`.
    pub hop_count: Option<HopCount>,
    /// `Depth`.
    pub depth: Option<Depth>,
}

/// Every RVP header of one message, typed but borrowed from the message: building it does
/// not allocate (except for percent-escaped URLs and extension notification types). See
/// [`RvpHeaders`] for the owned form and the field meanings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RvpHeadersRef<'b> {
    /// `RVP-Notifications-Version` (a malformed value is ignored, as in [`RvpHeaders`]).
    pub notifications_version: Option<NotificationsVersion>,
    /// `RVP-From-Principal`.
    pub from_principal: Option<FromPrincipalRef<'b>>,
    /// `Call-Back`.
    pub call_back: Option<NodeUrlRef<'b>>,
    /// `Notification-Type`.
    pub notification_type: Option<NotificationType>,
    /// `Subscription-Id`.
    pub subscription_id: Option<SubscriptionIdRef<'b>>,
    /// `Subscription-Lifetime`.
    pub subscription_lifetime: Option<SubscriptionLifetime>,
    /// `RVP-Ack-Type`.
    pub ack_type: Option<AckType>,
    /// `RVP-Hop-Count`.
    pub hop_count: Option<HopCount>,
    /// `Depth`.
    pub depth: Option<Depth>,
}

fn set_ref<'b, T>(
    slot: &mut Option<T>,
    name: &'static str,
    value: &'b [u8],
    parse: impl FnOnce(&'b [u8]) -> Result<T, HeaderError>,
) -> Result<(), HeaderError> {
    if slot.is_some() {
        return Err(HeaderError::Duplicate(name));
    }
    *slot = Some(parse(value)?);
    Ok(())
}

impl<'b> RvpHeadersRef<'b> {
    /// Records one header if it is an RVP header (name matched case-insensitively);
    /// returns whether it was one. Same rules as [`RvpHeaders::add`].
    pub fn add(&mut self, name: &str, value: &'b [u8]) -> Result<bool, HeaderError> {
        self.add_raw(name.as_bytes(), value)
    }

    /// [`RvpHeadersRef::add`] with the name as bytes.
    pub fn add_raw(&mut self, n: &[u8], value: &'b [u8]) -> Result<bool, HeaderError> {
        let is = |canonical: &str| n.eq_ignore_ascii_case(canonical.as_bytes());
        match n.len() {
            25 if is(NotificationsVersion::NAME) => {
                if self.notifications_version.is_none() {
                    self.notifications_version = NotificationsVersion::decode(value).ok();
                }
            }
            18 if is(FromPrincipal::NAME) => {
                set_ref(
                    &mut self.from_principal,
                    FromPrincipal::NAME,
                    value,
                    FromPrincipalRef::parse,
                )?;
            }
            9 if is(CallBack::NAME) => {
                set_ref(
                    &mut self.call_back,
                    CallBack::NAME,
                    value,
                    CallBack::parse_ref,
                )?;
            }
            17 if is(NotificationType::NAME) => {
                set_ref(
                    &mut self.notification_type,
                    NotificationType::NAME,
                    value,
                    NotificationType::decode,
                )?;
            }
            15 if is(SubscriptionId::NAME) => {
                set_ref(
                    &mut self.subscription_id,
                    SubscriptionId::NAME,
                    value,
                    SubscriptionIdRef::parse,
                )?;
            }
            21 if is(SubscriptionLifetime::NAME) => {
                set_ref(
                    &mut self.subscription_lifetime,
                    SubscriptionLifetime::NAME,
                    value,
                    SubscriptionLifetime::decode,
                )?;
            }
            12 if is(AckType::NAME) => {
                set_ref(&mut self.ack_type, AckType::NAME, value, AckType::decode)?
            }
            13 if is(HopCount::NAME) => {
                set_ref(&mut self.hop_count, HopCount::NAME, value, HopCount::decode)?
            }
            5 if is(Depth::NAME) => set_ref(&mut self.depth, Depth::NAME, value, Depth::decode)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `RVP-Ack-Type`, defaulting to `SingleHop`.
    pub fn ack_type(&self) -> AckType {
        self.ack_type.unwrap_or_default()
    }

    /// `RVP-Hop-Count`, defaulting to 1.
    pub fn hop_count(&self) -> HopCount {
        self.hop_count.unwrap_or_default()
    }

    /// The owned, canonical headers.
    pub fn to_rvp_headers(&self) -> RvpHeaders {
        RvpHeaders {
            notifications_version: self.notifications_version,
            from_principal: self
                .from_principal
                .as_ref()
                .map(FromPrincipalRef::to_from_principal),
            call_back: self.call_back.as_ref().map(|u| CallBack(u.to_node_url())),
            notification_type: self.notification_type.clone(),
            subscription_id: self.subscription_id.map(|s| s.to_subscription_id()),
            subscription_lifetime: self.subscription_lifetime,
            ack_type: self.ack_type,
            hop_count: self.hop_count,
            depth: self.depth,
        }
    }
}

/// Case-insensitive comparison of a header name with a canonical **lower-case** name made
/// of ASCII letters, digits and `-`: letters are compared with the case bit folded, every
/// other byte exactly. Branch-free, so short names compile to a few wide compares.
#[inline]
pub(crate) fn name_eq(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len()
        && name.iter().zip(lower).fold(0u8, |diff, (&n, &l)| {
            let fold = if l.is_ascii_lowercase() { 0x20 } else { 0 };
            diff | ((n | fold) ^ l)
        }) == 0
}

/// What [`RvpHeadersRef::add_field`] did with one header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FastAdd {
    /// Typed exactly as [`RvpHeadersRef::add_raw`] would.
    Typed,
    /// An RVP header the fast path does not handle (unusual shape, malformed, duplicate):
    /// type the whole head with the general path instead.
    Slow,
}

fn fast_set<T>(slot: &mut Option<T>, value: Option<T>) -> FastAdd {
    match (slot.is_none(), value) {
        (true, Some(v)) => {
            *slot = Some(v);
            FastAdd::Typed
        }
        _ => FastAdd::Slow,
    }
}

/// `RVP-From-Principal` in its common shapes (logical or local-node URL, bare host).
#[inline]
fn fast_from_principal(value: &[u8]) -> Option<FromPrincipalRef<'_>> {
    let s = std::str::from_utf8(trim(value)).ok()?;
    if let Some(url) = crate::url::fast_node_url(s) {
        return Some(FromPrincipalRef::Url(url));
    }
    // Not a common URL shape: a bare host, or else the general path (a URL has a `:`,
    // which no host byte is).
    let bare = !s.is_empty() && s.len() <= 255 && s.bytes().all(crate::url::is_host_byte);
    bare.then_some(FromPrincipalRef::Host(s))
}

/// The nine RVP header fields, for typing a header whose name is already known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RvpField {
    NotificationsVersion,
    FromPrincipal,
    CallBack,
    NotificationType,
    SubscriptionId,
    SubscriptionLifetime,
    AckType,
    HopCount,
    Depth,
}

impl RvpField {
    /// The RVP header called `name` (case-insensitive), if it is one.
    #[inline]
    pub(crate) fn from_name(name: &[u8]) -> Option<RvpField> {
        // Every RVP header name has a distinct length.
        Some(match name.len() {
            25 if name_eq(name, b"rvp-notifications-version") => RvpField::NotificationsVersion,
            18 if name_eq(name, b"rvp-from-principal") => RvpField::FromPrincipal,
            9 if name_eq(name, b"call-back") => RvpField::CallBack,
            17 if name_eq(name, b"notification-type") => RvpField::NotificationType,
            15 if name_eq(name, b"subscription-id") => RvpField::SubscriptionId,
            21 if name_eq(name, b"subscription-lifetime") => RvpField::SubscriptionLifetime,
            12 if name_eq(name, b"rvp-ack-type") => RvpField::AckType,
            13 if name_eq(name, b"rvp-hop-count") => RvpField::HopCount,
            5 if name_eq(name, b"depth") => RvpField::Depth,
            _ => return None,
        })
    }
}

impl<'b> RvpHeadersRef<'b> {
    /// [`RvpHeadersRef::add_raw`] for the hot path, for a header already known to be
    /// `field`: common value shapes are typed in one pass, anything else is
    /// [`FastAdd::Slow`] (never an error: the caller re-types with the general path, which
    /// reports it). Whenever it returns `Typed`, `add_raw` would have done the same.
    #[inline]
    pub(crate) fn add_field(&mut self, field: RvpField, value: &'b [u8]) -> FastAdd {
        match field {
            RvpField::NotificationsVersion => {
                let version = match value {
                    b"0.2" => Ok(NotificationsVersion::V0_2),
                    _ => NotificationsVersion::decode(value),
                };
                match version {
                    Ok(v) if self.notifications_version.is_none() => {
                        self.notifications_version = Some(v);
                        FastAdd::Typed
                    }
                    _ => FastAdd::Slow,
                }
            }
            RvpField::FromPrincipal => {
                fast_set(&mut self.from_principal, fast_from_principal(value))
            }
            RvpField::CallBack => {
                let url = std::str::from_utf8(trim(value))
                    .ok()
                    .and_then(crate::url::fast_node_url);
                fast_set(&mut self.call_back, url)
            }
            RvpField::NotificationType => {
                let t = match trim(value) {
                    b"update/propchange" => Some(NotificationType::Propchange),
                    b"pragma/notify" => Some(NotificationType::Notify),
                    _ => None,
                };
                fast_set(&mut self.notification_type, t)
            }
            RvpField::SubscriptionId => fast_set(
                &mut self.subscription_id,
                SubscriptionIdRef::parse(value).ok(),
            ),
            RvpField::SubscriptionLifetime => fast_set(
                &mut self.subscription_lifetime,
                parse_u32(trim(value)).map(SubscriptionLifetime),
            ),
            RvpField::AckType => {
                let ack = match value {
                    b"DeepOr" => Some(AckType::DeepOr),
                    b"DeepAnd" => Some(AckType::DeepAnd),
                    b"SingleHop" => Some(AckType::SingleHop),
                    _ => AckType::decode(value).ok(),
                };
                fast_set(&mut self.ack_type, ack)
            }
            RvpField::HopCount => fast_set(
                &mut self.hop_count,
                parse_u32(trim(value)).and_then(HopCount::new),
            ),
            RvpField::Depth => fast_set(&mut self.depth, Depth::decode(value).ok()),
        }
    }
}

fn set_once<T: RvpHeader>(slot: &mut Option<T>, value: &[u8]) -> Result<(), HeaderError> {
    if slot.is_some() {
        return Err(HeaderError::Duplicate(T::NAME));
    }
    *slot = Some(T::decode(value)?);
    Ok(())
}

impl RvpHeaders {
    /// Records one header if it is an RVP header (name matched case-insensitively);
    /// returns whether it was one. Malformed or duplicate RVP headers are errors (except
    /// `RVP-Notifications-Version`, see the field).
    pub fn add(&mut self, name: &str, value: &[u8]) -> Result<bool, HeaderError> {
        let n = name.as_bytes();
        let is = |canonical: &str| n.eq_ignore_ascii_case(canonical.as_bytes());
        // Dispatch on length first: every RVP header name has a distinct length.
        match n.len() {
            25 if is(NotificationsVersion::NAME) => {
                if self.notifications_version.is_none() {
                    self.notifications_version = NotificationsVersion::decode(value).ok();
                }
            }
            18 if is(FromPrincipal::NAME) => set_once(&mut self.from_principal, value)?,
            9 if is(CallBack::NAME) => set_once(&mut self.call_back, value)?,
            17 if is(NotificationType::NAME) => set_once(&mut self.notification_type, value)?,
            15 if is(SubscriptionId::NAME) => set_once(&mut self.subscription_id, value)?,
            21 if is(SubscriptionLifetime::NAME) => {
                set_once(&mut self.subscription_lifetime, value)?;
            }
            12 if is(AckType::NAME) => set_once(&mut self.ack_type, value)?,
            13 if is(HopCount::NAME) => set_once(&mut self.hop_count, value)?,
            5 if is(Depth::NAME) => set_once(&mut self.depth, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Collects the RVP headers of a header map.
    pub fn from_map(map: &HeaderMap) -> Result<RvpHeaders, HeaderError> {
        let mut h = RvpHeaders::default();
        for (name, value) in map {
            h.add(name.as_str(), value.as_bytes())?;
        }
        Ok(h)
    }

    /// `RVP-Ack-Type`, defaulting to `SingleHop`.
    pub fn ack_type(&self) -> AckType {
        self.ack_type.unwrap_or_default()
    }

    /// `RVP-Hop-Count`, defaulting to 1.
    pub fn hop_count(&self) -> HopCount {
        self.hop_count.unwrap_or_default()
    }

    /// Inserts every present header into `map` (replacing existing values).
    pub fn insert_into(&self, map: &mut HeaderMap) {
        fn put<T: RvpHeader>(v: &Option<T>, map: &mut HeaderMap) {
            if let Some(v) = v {
                v.insert_into(map);
            }
        }
        put(&self.notifications_version, map);
        put(&self.from_principal, map);
        put(&self.call_back, map);
        put(&self.notification_type, map);
        put(&self.subscription_id, map);
        put(&self.subscription_lifetime, map);
        put(&self.ack_type, map);
        put(&self.hop_count, map);
        put(&self.depth, map);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip<T: RvpHeader + PartialEq + fmt::Debug>(v: &T) {
        let hv = v.to_header_value();
        assert_eq!(&T::decode(hv.as_bytes()).unwrap(), v, "{hv:?}");
    }

    #[test]
    fn names_match_constants() {
        fn check<T: RvpHeader>() {
            assert_eq!(T::header_name().as_str(), T::NAME.to_ascii_lowercase());
        }
        check::<SubscriptionLifetime>();
        check::<SubscriptionId>();
        check::<NotificationType>();
        check::<CallBack>();
        check::<FromPrincipal>();
        check::<HopCount>();
        check::<AckType>();
        check::<NotificationsVersion>();
        check::<Depth>();
    }

    #[test]
    fn values() {
        assert_eq!(
            SubscriptionLifetime::decode(b" 14400 ").unwrap().seconds(),
            14400
        );
        assert!(SubscriptionLifetime::decode(b"-1").is_err());
        assert!(SubscriptionLifetime::decode(b"99999999999").is_err());
        assert_eq!(SubscriptionId::decode(b"9A504").unwrap().as_str(), "9A504");
        assert_eq!(
            SubscriptionId::decode(b"98210")
                .unwrap()
                .as_minted()
                .unwrap()
                .get(),
            98210
        );
        assert_eq!(
            SubscriptionId::decode(b"0098210").unwrap().as_minted(),
            None
        );
        assert_eq!(
            SubscriptionId::decode(b"3000000000").unwrap().as_minted(),
            None
        );
        assert!(SubscriptionId::decode(b"").is_err());
        assert!(SubscriptionId::decode(b"a b").is_err());
        assert_eq!(MintedSubscriptionId::new(1 << 31), None);
        assert_eq!(
            SubscriptionId::from(MintedSubscriptionId::new(7).unwrap()).as_str(),
            "7"
        );
        assert_eq!(
            NotificationType::decode(b"pragma/notify").unwrap(),
            NotificationType::Notify
        );
        assert_eq!(
            NotificationType::decode(b"update/propchange").unwrap(),
            NotificationType::Propchange
        );
        assert_eq!(
            NotificationType::decode(b"x/y").unwrap(),
            NotificationType::Extension("x/y".into())
        );
        for bad in [&b"pragma"[..], b"a/b/c", b"/x", b"a /b", b""] {
            assert_eq!(
                NotificationType::decode(bad).unwrap_err().header(),
                "Notification-Type"
            );
        }
        let cb = CallBack::decode(b"http://127.0.0.1:43663").unwrap();
        assert!(matches!(cb.0, NodeUrl::LocalNode(_)));
        let e = CallBack::decode(b"http://h/instmsg/aliases/%zz").unwrap_err();
        assert_eq!(e.header(), "Call-Back");
        assert!(
            e.to_string().starts_with("malformed Call-Back header: "),
            "{e}"
        );
        assert_eq!(
            FromPrincipal::decode(b"IM.example.com").unwrap(),
            FromPrincipal::Host("im.example.com".into())
        );
        assert_eq!(
            FromPrincipal::decode(b"http://localhost/instmsg/aliases/bob")
                .unwrap()
                .logical()
                .unwrap()
                .alias(),
            "bob"
        );
        assert!(FromPrincipal::decode(b"bob@example.com").is_err());
        assert_eq!(HopCount::decode(b"3").unwrap().next().get(), 4);
        assert!(HopCount::decode(b"0").is_err());
        assert_eq!(AckType::decode(b"DEEPAND").unwrap(), AckType::DeepAnd);
        assert!(AckType::decode(b"Deep").is_err());
        assert_eq!(
            NotificationsVersion::decode(b"0.2").unwrap(),
            NotificationsVersion::V0_2
        );
        assert_eq!(
            NotificationsVersion::decode(b"1.0").unwrap(),
            NotificationsVersion::V1_0
        );
        for bad in [&b"1"[..], b"1.", b".1", b"a.b", b"1.2.3", b"70000.1"] {
            assert!(NotificationsVersion::decode(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Depth::decode(b"Infinity").unwrap(), Depth::Infinity);
        assert!(Depth::decode(b"2").is_err());
    }

    #[test]
    fn collection() {
        let mut h = RvpHeaders::default();
        assert!(h.add("rvp-hop-count", b"2").unwrap());
        assert!(!h.add("Content-Length", b"2").unwrap());
        assert_eq!(
            h.add("RVP-HOP-COUNT", b"2"),
            Err(HeaderError::Duplicate("RVP-Hop-Count"))
        );
        assert!(h.add("RVP-Notifications-Version", b"garbage").unwrap());
        assert_eq!(h.notifications_version, None);
        assert_eq!(h.ack_type(), AckType::SingleHop);
        assert_eq!(h.hop_count().get(), 2);
        assert_eq!(RvpHeaders::default().hop_count(), HopCount::ORIGIN);
        let mut map = HeaderMap::new();
        h.insert_into(&mut map);
        assert_eq!(RvpHeaders::from_map(&map).unwrap(), h);
        assert_eq!(HopCount::from_map(&map).unwrap(), HopCount::new(2));
        map.append(RVP_HOP_COUNT, HeaderValue::from_static("3"));
        assert_eq!(
            HopCount::from_map(&map),
            Err(HeaderError::Duplicate("RVP-Hop-Count"))
        );
    }

    proptest! {
        #[test]
        fn typed_round_trips(n in any::<u32>(), tok in "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}",
                             ext in "[a-z]{1,8}/[a-z]{1,8}", maj in any::<u16>(), min in any::<u16>()) {
            round_trip(&SubscriptionLifetime(n));
            round_trip(&SubscriptionId::new(&tok).unwrap());
            if let Some(h) = HopCount::new(n) { round_trip(&h); }
            if let Some(m) = MintedSubscriptionId::new(n) {
                prop_assert_eq!(SubscriptionId::from(m).as_minted(), Some(m));
            }
            let t = NotificationType::decode(ext.as_bytes()).unwrap();
            round_trip(&t);
            round_trip(&NotificationsVersion { major: maj, minor: min });
            for a in [AckType::SingleHop, AckType::DeepOr, AckType::DeepAnd] { round_trip(&a); }
            for d in [Depth::Zero, Depth::One, Depth::Infinity] { round_trip(&d); }
        }

        #[test]
        fn arbitrary_values_never_panic(v in proptest::collection::vec(any::<u8>(), 0..80), name in "[A-Za-z-]{1,26}") {
            let mut h = RvpHeaders::default();
            let _ = h.add(&name, &v);
            let _ = SubscriptionLifetime::decode(&v);
            let _ = SubscriptionId::decode(&v);
            let _ = NotificationType::decode(&v);
            let _ = CallBack::decode(&v);
            let _ = FromPrincipal::decode(&v);
            let _ = HopCount::decode(&v);
            let _ = AckType::decode(&v);
            let _ = NotificationsVersion::decode(&v);
            let _ = Depth::decode(&v);
            if let Ok(p) = FromPrincipal::decode(&v) { round_trip(&p); }
            if let Ok(c) = CallBack::decode(&v) { round_trip(&c); }
        }
    }
}
