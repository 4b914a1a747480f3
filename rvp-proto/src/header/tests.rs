#![allow(clippy::unwrap_used)]

use std::fmt;

use super::set::RvpField;
use super::*;
use crate::url::NodeUrl;

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

/// The one name table ([`RvpField::from_name`]) knows every header by its canonical name in
/// any case, and nothing else of the same length.
#[test]
fn field_table_matches_every_name() {
    for field in RvpField::ALL {
        let name = field.name();
        assert_eq!(RvpField::from_name(name.as_bytes()), Some(field));
        assert_eq!(
            RvpField::from_name(name.to_ascii_uppercase().as_bytes()),
            Some(field)
        );
        assert_eq!(
            RvpField::from_name(name.to_ascii_lowercase().as_bytes()),
            Some(field)
        );
        let mut near = name.as_bytes().to_vec();
        let last = near.len() - 1;
        near[last] ^= 0x01;
        assert_eq!(RvpField::from_name(&near), None, "{near:?}");
    }
    assert_eq!(RvpField::from_name(b"content-length"), None);
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
    // 0 is librvp's reading of an id it could not parse: never minted, never accepted.
    assert_eq!(MintedSubscriptionId::new(0), None);
    assert_eq!(MintedSubscriptionId::parse("0"), None);
    assert_eq!(
        MintedSubscriptionId::parse(" 98210 ").map(|m| m.get()),
        Some(98210)
    );
    assert_eq!(
        MintedSubscriptionId::parse("2147483647").map(|m| m.get()),
        Some(MintedSubscriptionId::MAX)
    );
    for not_ours in [
        "2147483648",
        "99999999999",
        "{GUID}",
        "9A504",
        "-1",
        "",
        "+5",
    ] {
        assert_eq!(MintedSubscriptionId::parse(not_ours), None, "{not_ours}");
    }
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
    assert!(matches!(cb.url(), NodeUrl::LocalNode(_)));
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
