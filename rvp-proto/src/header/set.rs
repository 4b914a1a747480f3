//! All RVP headers of one message, typed in one pass: [`RvpHeaders`] (owned) and
//! [`RvpHeadersRef`] (borrowed), with the name dispatch written once ([`RvpField`]).

use http::HeaderMap;

use super::{
    AckType, CallBack, Depth, FromPrincipal, FromPrincipalRef, HeaderError, HopCount,
    NotificationType, NotificationsVersion, RvpHeader, SubscriptionId, SubscriptionIdRef,
    SubscriptionLifetime, parse_u32, trim,
};
use crate::url::NodeUrlRef;

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
        let Some(field) = RvpField::from_name(n) else {
            return Ok(false);
        };
        self.add_known(field, value)?;
        Ok(true)
    }

    /// Types `value` as the header `field` (strictly; see [`RvpHeaders::add`]).
    fn add_known(&mut self, field: RvpField, value: &'b [u8]) -> Result<(), HeaderError> {
        let name = field.name();
        match field {
            RvpField::NotificationsVersion => {
                if self.notifications_version.is_none() {
                    self.notifications_version = NotificationsVersion::decode(value).ok();
                }
                Ok(())
            }
            RvpField::FromPrincipal => set_ref(
                &mut self.from_principal,
                name,
                value,
                FromPrincipalRef::parse,
            ),
            RvpField::CallBack => set_ref(&mut self.call_back, name, value, CallBack::parse_ref),
            RvpField::NotificationType => set_ref(
                &mut self.notification_type,
                name,
                value,
                NotificationType::decode,
            ),
            RvpField::SubscriptionId => set_ref(
                &mut self.subscription_id,
                name,
                value,
                SubscriptionIdRef::parse,
            ),
            RvpField::SubscriptionLifetime => set_ref(
                &mut self.subscription_lifetime,
                name,
                value,
                SubscriptionLifetime::decode,
            ),
            RvpField::AckType => set_ref(&mut self.ack_type, name, value, AckType::decode),
            RvpField::HopCount => set_ref(&mut self.hop_count, name, value, HopCount::decode),
            RvpField::Depth => set_ref(&mut self.depth, name, value, Depth::decode),
        }
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
            call_back: self
                .call_back
                .as_ref()
                .map(|u| CallBack::new(u.to_node_url())),
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
    /// Every field, in the order of [`RvpHeaders`]'s fields.
    #[cfg(test)]
    pub(crate) const ALL: [RvpField; 9] = ALL_FIELDS;

    /// The RVP header called `name` (case-insensitive), if it is one. The one table from
    /// header names to fields: every typing path ([`RvpHeaders::add`],
    /// [`RvpHeadersRef::add_raw`], the codec's fast path) goes through it.
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

    /// Whether a malformed or repeated value of this header is for the method to answer
    /// (PROTOCOL.md §2: treated as missing) rather than a `400` of the message.
    pub(crate) fn decided_by_method(self) -> bool {
        matches!(
            self,
            RvpField::CallBack
                | RvpField::NotificationType
                | RvpField::SubscriptionId
                | RvpField::Depth
        )
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The canonical spelling of the field's header name ([`RvpHeader::NAME`]).
    pub(crate) fn name(self) -> &'static str {
        match self {
            RvpField::NotificationsVersion => NotificationsVersion::NAME,
            RvpField::FromPrincipal => FromPrincipal::NAME,
            RvpField::CallBack => CallBack::NAME,
            RvpField::NotificationType => NotificationType::NAME,
            RvpField::SubscriptionId => SubscriptionId::NAME,
            RvpField::SubscriptionLifetime => SubscriptionLifetime::NAME,
            RvpField::AckType => AckType::NAME,
            RvpField::HopCount => HopCount::NAME,
            RvpField::Depth => Depth::NAME,
        }
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
        let Some(field) = RvpField::from_name(name.as_bytes()) else {
            return Ok(false);
        };
        match field {
            RvpField::NotificationsVersion => {
                if self.notifications_version.is_none() {
                    self.notifications_version = NotificationsVersion::decode(value).ok();
                }
            }
            RvpField::FromPrincipal => set_once(&mut self.from_principal, value)?,
            RvpField::CallBack => set_once(&mut self.call_back, value)?,
            RvpField::NotificationType => set_once(&mut self.notification_type, value)?,
            RvpField::SubscriptionId => set_once(&mut self.subscription_id, value)?,
            RvpField::SubscriptionLifetime => set_once(&mut self.subscription_lifetime, value)?,
            RvpField::AckType => set_once(&mut self.ack_type, value)?,
            RvpField::HopCount => set_once(&mut self.hop_count, value)?,
            RvpField::Depth => set_once(&mut self.depth, value)?,
        }
        Ok(true)
    }

    /// [`RvpHeaders::add`] in the lenient mode of PROTOCOL.md §2 (where the reference lets
    /// the method decide): a malformed or repeated `Call-Back`, `Notification-Type`,
    /// `Subscription-Id` or `Depth` does not fail the message; the header is left absent
    /// and recorded in `unusable`, and the method answers as the reference says (`412`
    /// for most). Any other malformed or repeated RVP header is still an error.
    pub fn add_lenient(
        &mut self,
        name: &str,
        value: &[u8],
        unusable: &mut RvpHeaderSet,
    ) -> Result<bool, HeaderError> {
        let Some(field) = RvpField::from_name(name.as_bytes()) else {
            return Ok(false);
        };
        if unusable.contains_field(field) {
            return Ok(true);
        }
        match self.add(name, value) {
            Ok(known) => Ok(known),
            Err(_) if field.decided_by_method() => {
                // The first of two copies may have been typed: neither counts.
                unusable.insert_field(field);
                self.clear(field);
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes the header `field`.
    fn clear(&mut self, field: RvpField) {
        match field {
            RvpField::NotificationsVersion => self.notifications_version = None,
            RvpField::FromPrincipal => self.from_principal = None,
            RvpField::CallBack => self.call_back = None,
            RvpField::NotificationType => self.notification_type = None,
            RvpField::SubscriptionId => self.subscription_id = None,
            RvpField::SubscriptionLifetime => self.subscription_lifetime = None,
            RvpField::AckType => self.ack_type = None,
            RvpField::HopCount => self.hop_count = None,
            RvpField::Depth => self.depth = None,
        }
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

/// A set of RVP header names: the headers a leniently typed request found present but
/// unusable (see [`RvpHeaders::add_lenient`]).
///
/// ```
/// use rvp_proto::header::{RvpHeaderSet, RvpHeaders};
///
/// let mut rvp = RvpHeaders::default();
/// let mut unusable = RvpHeaderSet::default();
/// rvp.add_lenient("Call-Back", b"not-a-url", &mut unusable)?;
/// assert!(rvp.call_back.is_none());
/// assert!(unusable.contains("call-back"));
/// assert_eq!(unusable.iter().collect::<Vec<_>>(), ["Call-Back"]);
/// // Other RVP headers stay strict.
/// assert!(rvp.add_lenient("RVP-Hop-Count", b"0", &mut unusable).is_err());
/// # Ok::<(), rvp_proto::header::HeaderError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RvpHeaderSet(u16);

impl RvpHeaderSet {
    /// Whether the RVP header called `name` (case-insensitive) is in the set.
    pub fn contains(&self, name: &str) -> bool {
        RvpField::from_name(name.as_bytes()).is_some_and(|f| self.contains_field(f))
    }

    /// Adds the RVP header called `name`; `false` when `name` is not an RVP header.
    pub fn insert(&mut self, name: &str) -> bool {
        RvpField::from_name(name.as_bytes())
            .map(|f| self.insert_field(f))
            .is_some()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The canonical names in the set, in [`RvpHeaders`] field order.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        ALL_FIELDS
            .into_iter()
            .filter(|f| self.contains_field(*f))
            .map(RvpField::name)
    }

    pub(crate) fn contains_field(&self, field: RvpField) -> bool {
        self.0 & field.bit() != 0
    }

    pub(crate) fn insert_field(&mut self, field: RvpField) {
        self.0 |= field.bit();
    }
}

const ALL_FIELDS: [RvpField; 9] = [
    RvpField::NotificationsVersion,
    RvpField::FromPrincipal,
    RvpField::CallBack,
    RvpField::NotificationType,
    RvpField::SubscriptionId,
    RvpField::SubscriptionLifetime,
    RvpField::AckType,
    RvpField::HopCount,
    RvpField::Depth,
];
