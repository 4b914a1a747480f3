//! The on-disk form of the journal records (schema version 1).
//!
//! A small length-prefixed binary form, little-endian, written and read by hand (no
//! serde in the workspace): integers fixed-width, strings as a `u32` length and UTF-8
//! bytes, options as a `0`/`1` tag, enumerations by their protocol token (`busy`,
//! `digest`, `send-to`...) so that a reordering of a Rust enum never changes the meaning
//! of stored bytes. Deadlines are wall-clock milliseconds since the Unix epoch (`i64`),
//! converted from and to the engine's `Instant`s by a [`ClockAnchor`](super::ClockAnchor).
//!
//! Decoding is total: bad bytes give a [`DecodeError`] naming what was being read, never a
//! panic (property-tested on arbitrary bytes).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use rvp_presence::{
    Ace, AcePrincipal, Acl, Counters, LeasedState, NodeKey, SubscriptionId, SubscriptionKind,
    ViewId,
};
use rvp_proto::header::CallBack;
use rvp_proto::{CredentialKind, CredentialSet, PresenceState, Right, RightSet};

/// Bytes that are not a record of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad stored record: {what}")]
pub struct DecodeError {
    /// What was being read and why it failed.
    pub what: String,
}

fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError { what: what.into() }
}

/// Longest string accepted when decoding (a URL, a state token): 64 KiB.
pub const MAX_STRING: usize = 64 * 1024;
/// Most ACEs accepted in one stored ACL when decoding.
pub const MAX_ACES: usize = 65_536;

/// The stored form of a subscription: the engine record with wall-clock deadlines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredSubscription {
    pub(crate) id: SubscriptionId,
    pub(crate) node: NodeKey,
    pub(crate) kind: SubscriptionKind,
    pub(crate) callback: Arc<CallBack>,
    pub(crate) subscriber: Arc<str>,
    pub(crate) proof: Option<CredentialKind>,
    pub(crate) granted_secs: u32,
    pub(crate) expires_ms: i64,
    pub(crate) failures: u8,
    pub(crate) first_failure_ms: Option<i64>,
}

/// The stored form of a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredView {
    pub(crate) node: NodeKey,
    pub(crate) id: ViewId,
    pub(crate) state: LeasedState,
    pub(crate) expires_ms: i64,
    pub(crate) set_order: u64,
    pub(crate) bound_to: Option<(Arc<str>, IpAddr)>,
}

// ------------------------------------------------------------------------- writer

#[derive(Debug)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Default for Writer {
    /// Room for a typical record at once (a view, a subscription, the counters are 30 to
    /// 200 bytes): one allocation per record instead of four or five as it grows.
    fn default() -> Writer {
        Writer {
            buf: Vec::with_capacity(128),
        }
    }
}

impl Writer {
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        // Strings come from the engine, which holds request-sized values; a string longer
        // than u32::MAX cannot occur, and would be cut rather than wrap.
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        self.u32(len);
        self.buf.extend_from_slice(&s.as_bytes()[..len as usize]);
    }
    fn node(&mut self, n: &NodeKey) {
        self.str(n.host());
        self.str(n.alias());
    }
}

// ------------------------------------------------------------------------- reader

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(bad(format!("{what}: record ends early")));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn array8(&mut self, what: &str) -> Result<[u8; 8], DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(a)
    }
    fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array8(what)?))
    }
    fn i64(&mut self, what: &str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array8(what)?))
    }
    fn str(&mut self, what: &str) -> Result<&'a str, DecodeError> {
        let len = self.u32(what)? as usize;
        if len > MAX_STRING {
            return Err(bad(format!("{what}: {len} bytes, more than {MAX_STRING}")));
        }
        let b = self.take(len, what)?;
        std::str::from_utf8(b).map_err(|_| bad(format!("{what}: not UTF-8")))
    }
    fn flag(&mut self, what: &str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            t => Err(bad(format!("{what}: tag {t}, expected 0 or 1"))),
        }
    }
    fn node(&mut self) -> Result<NodeKey, DecodeError> {
        let host = self.str("node host")?;
        let alias = self.str("node alias")?;
        NodeKey::new(host, alias).ok_or_else(|| bad(format!("node key {host:?}/{alias:?}")))
    }
    fn state(&mut self, what: &str) -> Result<PresenceState, DecodeError> {
        let s = self.str(what)?;
        PresenceState::from_local_name(s).ok_or_else(|| bad(format!("{what}: empty")))
    }
    fn credential(&mut self, what: &str) -> Result<CredentialKind, DecodeError> {
        let s = self.str(what)?;
        CredentialKind::from_local_name(s).ok_or_else(|| bad(format!("{what}: {s:?}")))
    }
    pub(crate) fn finish(self, what: &str) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(bad(format!("{what}: {} trailing bytes", self.buf.len())))
        }
    }
}

// ------------------------------------------------------------------------- records

fn kind_tag(k: SubscriptionKind) -> u8 {
    match k {
        SubscriptionKind::Notify => 1,
        // PropChange and any later kind (the enum is non-exhaustive: a new kind needs a new
        // schema version anyway).
        _ => 0,
    }
}

pub(crate) fn encode_subscription(s: &StoredSubscription) -> Vec<u8> {
    let mut w = Writer::default();
    w.u32(s.id.get());
    w.node(&s.node);
    w.u8(kind_tag(s.kind));
    w.str(s.callback.as_str());
    w.str(&s.subscriber);
    match s.proof {
        Some(k) => {
            w.u8(1);
            w.str(k.local_name());
        }
        None => w.u8(0),
    }
    w.u32(s.granted_secs);
    w.i64(s.expires_ms);
    w.u8(s.failures);
    match s.first_failure_ms {
        Some(t) => {
            w.u8(1);
            w.i64(t);
        }
        None => w.u8(0),
    }
    w.into_bytes()
}

/// A stored call-back, typed again. Stores written before call-backs were typed kept the
/// text as received (canonical scheme and host only), so a principal URL may end in one
/// `/` that the URL parser refuses: that one is tolerated.
fn call_back(text: &str) -> Result<CallBack, DecodeError> {
    text.parse::<CallBack>()
        .or_else(|e| match text.strip_suffix('/') {
            Some(t) => t.parse::<CallBack>().map_err(|_| e),
            None => Err(e),
        })
        .map_err(|e| bad(format!("call-back {text:?}: {e}")))
}

pub(crate) fn decode_subscription(b: &[u8]) -> Result<StoredSubscription, DecodeError> {
    let mut r = Reader::new(b);
    let id = r.u32("subscription id")?;
    let id = SubscriptionId::new(id).ok_or_else(|| bad(format!("subscription id {id}")))?;
    let node = r.node()?;
    let kind = match r.u8("subscription kind")? {
        0 => SubscriptionKind::PropChange,
        1 => SubscriptionKind::Notify,
        t => return Err(bad(format!("subscription kind tag {t}"))),
    };
    let callback = Arc::new(call_back(r.str("call-back")?)?);
    let subscriber = r.str("subscriber")?.into();
    let proof = if r.flag("proof tag")? {
        Some(r.credential("proof")?)
    } else {
        None
    };
    let granted_secs = r.u32("granted lifetime")?;
    let expires_ms = r.i64("expiry")?;
    let failures = r.u8("failure count")?;
    let first_failure_ms = if r.flag("first failure tag")? {
        Some(r.i64("first failure")?)
    } else {
        None
    };
    r.finish("subscription")?;
    Ok(StoredSubscription {
        id,
        node,
        kind,
        callback,
        subscriber,
        proof,
        granted_secs,
        expires_ms,
        failures,
        first_failure_ms,
    })
}

pub(crate) fn encode_view(v: &StoredView) -> Vec<u8> {
    let mut w = Writer::default();
    w.u32(v.id.get());
    w.node(&v.node);
    w.str(v.state.value.local_name());
    w.str(v.state.default.local_name());
    w.u32(v.state.timeout_secs);
    w.i64(v.expires_ms);
    w.u64(v.set_order);
    match &v.bound_to {
        None => w.u8(0),
        Some((p, ip)) => {
            w.u8(1);
            w.str(p);
            match ip {
                IpAddr::V4(a) => {
                    w.u8(4);
                    w.buf.extend_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    w.u8(6);
                    w.buf.extend_from_slice(&a.octets());
                }
            }
        }
    }
    w.into_bytes()
}

pub(crate) fn decode_view(b: &[u8]) -> Result<StoredView, DecodeError> {
    let mut r = Reader::new(b);
    let id = r.u32("view id")?;
    let id = ViewId::new(id).ok_or_else(|| bad(format!("view id {id}")))?;
    let node = r.node()?;
    let value = r.state("view value")?;
    let default = r.state("view default")?;
    let timeout_secs = r.u32("view lease")?;
    let expires_ms = r.i64("view expiry")?;
    let set_order = r.u64("view set order")?;
    let bound_to = if r.flag("view binding tag")? {
        let p: Arc<str> = r.str("view binding principal")?.into();
        let ip = match r.u8("view binding address family")? {
            4 => {
                let o = r.take(4, "view binding IPv4 address")?;
                IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3]))
            }
            6 => {
                let o = r.take(16, "view binding IPv6 address")?;
                let mut a = [0u8; 16];
                a.copy_from_slice(o);
                IpAddr::V6(Ipv6Addr::from(a))
            }
            t => return Err(bad(format!("view binding address family {t}"))),
        };
        Some((p, ip))
    } else {
        None
    };
    r.finish("view")?;
    Ok(StoredView {
        node,
        id,
        state: LeasedState {
            value,
            default,
            timeout_secs,
        },
        expires_ms,
        set_order,
        bound_to,
    })
}

/// The kinds listed in a set that may also be `a:any` (kept exactly, so that a stored
/// ACL compares equal to the one written).
fn credential_kinds(set: CredentialSet) -> Vec<CredentialKind> {
    if !set.is_any() {
        return set.iter().collect();
    }
    let all = CredentialKind::ALL_KINDS;
    (0u8..16)
        .map(|mask| {
            all.iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, k)| *k)
                .collect::<Vec<_>>()
        })
        .find(|kinds| {
            let mut s = CredentialSet::ANY;
            kinds.iter().for_each(|k| s.insert(*k));
            s == set
        })
        .unwrap_or_default()
}

pub(crate) fn encode_acl(node: &NodeKey, acl: &Acl) -> Vec<u8> {
    let mut w = Writer::default();
    w.node(node);
    let aces = acl.aces();
    w.u32(u32::try_from(aces.len()).unwrap_or(u32::MAX));
    for ace in aces {
        match &ace.principal {
            AcePrincipal::AllPrincipals => w.u8(0),
            AcePrincipal::Url(u) => {
                w.u8(1);
                w.str(u);
            }
        }
        w.u8(u8::from(ace.credentials.is_any()));
        let kinds = credential_kinds(ace.credentials);
        w.u8(u8::try_from(kinds.len()).unwrap_or(0));
        for k in kinds {
            w.str(k.local_name());
        }
        for set in [ace.grant, ace.deny] {
            let rights: Vec<Right> = set.iter().collect();
            w.u8(u8::try_from(rights.len()).unwrap_or(0));
            for r in rights {
                w.str(r.local_name());
            }
        }
    }
    w.into_bytes()
}

pub(crate) fn decode_acl(b: &[u8]) -> Result<(NodeKey, Acl), DecodeError> {
    let mut r = Reader::new(b);
    let node = r.node()?;
    let n = r.u32("ACE count")? as usize;
    if n > MAX_ACES {
        return Err(bad(format!("ACE count {n}, more than {MAX_ACES}")));
    }
    let mut aces = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let principal = match r.u8("ACE principal tag")? {
            0 => AcePrincipal::AllPrincipals,
            1 => AcePrincipal::Url(r.str("ACE principal")?.into()),
            t => return Err(bad(format!("ACE principal tag {t}"))),
        };
        let mut credentials = if r.flag("ACE any-credential flag")? {
            CredentialSet::ANY
        } else {
            CredentialSet::EMPTY
        };
        for _ in 0..r.u8("ACE credential count")? {
            credentials.insert(r.credential("ACE credential")?);
        }
        let mut sets = [RightSet::EMPTY; 2];
        for set in &mut sets {
            for _ in 0..r.u8("ACE right count")? {
                let s = r.str("ACE right")?;
                set.insert(
                    Right::from_local_name(s).ok_or_else(|| bad(format!("ACE right {s:?}")))?,
                );
            }
        }
        let [grant, deny] = sets;
        aces.push(Ace {
            principal,
            credentials,
            grant,
            deny,
        });
    }
    r.finish("ACL")?;
    Ok((node, Acl::from_aces(aces)))
}

pub(crate) fn encode_counters(c: &Counters) -> Vec<u8> {
    let mut w = Writer::default();
    w.u32(c.last_subscription_id);
    w.u32(c.last_view_id);
    w.u64(c.last_set_order);
    w.into_bytes()
}

pub(crate) fn decode_counters(b: &[u8]) -> Result<Counters, DecodeError> {
    let mut r = Reader::new(b);
    let c = Counters {
        last_subscription_id: r.u32("last subscription id")?,
        last_view_id: r.u32("last view id")?,
        last_set_order: r.u64("last set order")?,
    };
    r.finish("counters")?;
    Ok(c)
}

/// The key of a node's ACL: `host/alias` (neither may contain `/`).
pub(crate) fn node_key_string(n: &NodeKey) -> String {
    format!("{}/{}", n.host(), n.alias())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn node() -> impl Strategy<Value = NodeKey> {
        ("[a-z0-9.-]{1,20}", "[a-z0-9_.-]{1,12}").prop_map(|(h, a)| NodeKey::new(&h, &a).unwrap())
    }

    fn call_back() -> impl Strategy<Value = Arc<CallBack>> {
        prop_oneof![
            (ip(), 1u16..).prop_map(|(ip, port)| {
                let url = std::net::SocketAddr::new(ip, port);
                Arc::new(format!("http://{url}").parse().unwrap())
            }),
            node().prop_filter_map("a logical URL rvp-proto accepts", |n| n
                .logical_url()
                .parse()
                .ok()
                .map(Arc::new)),
        ]
    }

    fn text() -> impl Strategy<Value = Arc<str>> {
        "\\PC{0,40}".prop_map(|s| Arc::from(s.as_str()))
    }

    fn state() -> impl Strategy<Value = PresenceState> {
        prop_oneof![
            Just(PresenceState::Online),
            Just(PresenceState::Offline),
            Just(PresenceState::Busy),
            Just(PresenceState::BackSoon),
            Just(PresenceState::Invisible),
            "[a-z-]{1,12}".prop_map(|s| PresenceState::from_local_name(&s).unwrap()),
        ]
    }

    fn kind() -> impl Strategy<Value = CredentialKind> {
        proptest::sample::select(CredentialKind::ALL_KINDS.to_vec())
    }

    fn rights() -> impl Strategy<Value = RightSet> {
        proptest::collection::vec(proptest::sample::select(Right::ALL_RIGHTS.to_vec()), 0..6)
            .prop_map(RightSet::of)
    }

    fn ace() -> impl Strategy<Value = Ace> {
        (
            proptest::option::of(text()),
            any::<bool>(),
            proptest::collection::vec(kind(), 0..4),
            rights(),
            rights(),
        )
            .prop_map(|(p, any, kinds, grant, deny)| {
                let mut credentials = if any {
                    CredentialSet::ANY
                } else {
                    CredentialSet::EMPTY
                };
                kinds.into_iter().for_each(|k| credentials.insert(k));
                Ace {
                    principal: p.map_or(AcePrincipal::AllPrincipals, |u| {
                        AcePrincipal::Url(u.to_string())
                    }),
                    credentials,
                    grant,
                    deny,
                }
            })
    }

    fn ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
        ]
    }

    prop_compose! {
        fn subscription()(
            id in 1..SubscriptionId::LIMIT,
            node in node(),
            notify in any::<bool>(),
            callback in call_back(),
            subscriber in text(),
            proof in proptest::option::of(kind()),
            granted_secs in any::<u32>(),
            expires_ms in any::<i64>(),
            failures in any::<u8>(),
            first_failure_ms in proptest::option::of(any::<i64>()),
        ) -> StoredSubscription {
            StoredSubscription {
                id: SubscriptionId::new(id).unwrap(),
                node,
                kind: if notify { SubscriptionKind::Notify } else { SubscriptionKind::PropChange },
                callback,
                subscriber,
                proof,
                granted_secs,
                expires_ms,
                failures,
                first_failure_ms,
            }
        }
    }

    prop_compose! {
        fn view()(
            id in 1..u32::MAX,
            node in node(),
            value in state(),
            default in state(),
            timeout_secs in any::<u32>(),
            expires_ms in any::<i64>(),
            set_order in any::<u64>(),
            bound_to in proptest::option::of((text(), ip())),
        ) -> StoredView {
            StoredView {
                node,
                id: ViewId::new(id).unwrap(),
                state: LeasedState { value, default, timeout_secs },
                expires_ms,
                set_order,
                bound_to,
            }
        }
    }

    proptest! {
        #[test]
        fn subscription_round_trip(s in subscription()) {
            prop_assert_eq!(decode_subscription(&encode_subscription(&s)).unwrap(), s);
        }

        #[test]
        fn view_round_trip(v in view()) {
            prop_assert_eq!(decode_view(&encode_view(&v)).unwrap(), v);
        }

        #[test]
        fn acl_round_trip(n in node(), aces in proptest::collection::vec(ace(), 0..6)) {
            let acl = Acl::from_aces(aces);
            prop_assert_eq!(decode_acl(&encode_acl(&n, &acl)).unwrap(), (n, acl));
        }

        #[test]
        fn counters_round_trip(a in any::<u32>(), b in any::<u32>(), c in any::<u64>()) {
            let k = Counters { last_subscription_id: a, last_view_id: b, last_set_order: c };
            prop_assert_eq!(decode_counters(&encode_counters(&k)).unwrap(), k);
        }

        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_subscription(&b);
            let _ = decode_view(&b);
            let _ = decode_acl(&b);
            let _ = decode_counters(&b);
        }

        #[test]
        fn truncated_or_extended_records_are_refused(s in subscription(), cut in any::<usize>()) {
            let bytes = encode_subscription(&s);
            let cut = cut % bytes.len();
            prop_assert!(decode_subscription(&bytes[..cut]).is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            let err = decode_subscription(&longer).unwrap_err();
            prop_assert!(err.to_string().contains("trailing"), "{}", err);
        }
    }

    #[test]
    fn errors_say_what_broke() {
        let mut b = encode_counters(&Counters::default());
        b.truncate(5);
        let e = decode_counters(&b).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad stored record: last view id: record ends early"
        );
        // A string longer than the limit is refused before any allocation.
        let mut w = Writer::default();
        w.u32(1);
        w.u32(u32::try_from(MAX_STRING + 1).unwrap());
        let e = decode_subscription(&w.into_bytes()).unwrap_err();
        assert!(e.to_string().contains("node host"), "{e}");
        assert!(e.to_string().contains("more than 65536"), "{e}");
        // Unknown subscription kind tag.
        let mut w = Writer::default();
        w.u32(7);
        w.node(&NodeKey::new("h", "a").unwrap());
        w.u8(9);
        let e = decode_subscription(&w.into_bytes()).unwrap_err();
        assert!(e.to_string().contains("subscription kind tag 9"), "{e}");
    }

    #[test]
    fn acl_entry_limit() {
        let mut w = Writer::default();
        w.node(&NodeKey::new("h", "a").unwrap());
        w.u32(u32::try_from(MAX_ACES + 1).unwrap());
        let e = decode_acl(&w.into_bytes()).unwrap_err();
        assert!(e.to_string().contains("more than 65536"), "{e}");
    }
}
