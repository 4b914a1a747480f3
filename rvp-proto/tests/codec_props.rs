//! Property tests of the framing layer: build → serialize → parse gives the same value;
//! arbitrary bytes never panic; a message split at any byte boundary is `Partial` until
//! complete.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rvp_proto::codec::{
    NotifyHead, RequestParser, ResponseParser, Status, write_notify, write_request, write_response,
};
use rvp_proto::header::{
    AckType, CallBack, Depth, FromPrincipal, HopCount, MintedSubscriptionId, NotificationType,
    NotificationsVersion, RvpHeaders, SubscriptionId, SubscriptionLifetime,
};
use rvp_proto::url::{LocalNodeUrl, LogicalUrl, NodeUrl, parse_target};
use rvp_proto::{Method, MethodClass, reason_phrase};

fn arb_logical() -> impl Strategy<Value = LogicalUrl> {
    (
        "[a-z][a-z0-9.-]{0,12}(:[1-9][0-9]{0,3})?",
        "[A-Za-z0-9._ %+-]{1,12}",
    )
        .prop_filter_map("valid", |(h, a)| LogicalUrl::new(&h, &a).ok())
}

fn arb_rvp() -> impl Strategy<Value = RvpHeaders> {
    (
        proptest::option::of((0u16..3, 0u16..10)),
        proptest::option::of(prop_oneof![
            arb_logical().prop_map(FromPrincipal::from),
            "[a-z]{1,8}\\.example\\.com".prop_map(|h| FromPrincipal::Host(h.into())),
        ]),
        proptest::option::of(prop_oneof![
            arb_logical().prop_map(|l| CallBack::new(NodeUrl::Logical(l))),
            (any::<[u8; 4]>(), 1u16..).prop_map(|(a, p)| CallBack::new(NodeUrl::LocalNode(
                LocalNodeUrl::new(&format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]), p).unwrap()
            ))),
        ]),
        proptest::option::of(prop_oneof![
            Just(NotificationType::Notify),
            Just(NotificationType::Propchange),
            "[a-z]{1,6}/[a-z]{1,6}".prop_map(|s| NotificationType::Extension(s.into())),
        ]),
        proptest::option::of(prop_oneof![
            (1u32..1 << 31)
                .prop_map(|n| SubscriptionId::from(MintedSubscriptionId::new(n).unwrap())),
            "[A-Z0-9]{1,10}".prop_map(|s| SubscriptionId::new(&s).unwrap()),
        ]),
        proptest::option::of(any::<u32>().prop_map(SubscriptionLifetime)),
        proptest::option::of(prop_oneof![
            Just(AckType::SingleHop),
            Just(AckType::DeepOr),
            Just(AckType::DeepAnd)
        ]),
        proptest::option::of((1u32..).prop_map(|n| HopCount::new(n).unwrap())),
        proptest::option::of(prop_oneof![
            Just(Depth::Zero),
            Just(Depth::One),
            Just(Depth::Infinity)
        ]),
    )
        .prop_map(|(v, fp, cb, nt, id, lt, ack, hop, depth)| {
            let mut h = RvpHeaders::default();
            h.notifications_version = v.map(|(major, minor)| NotificationsVersion { major, minor });
            h.from_principal = fp;
            h.call_back = cb;
            h.notification_type = nt;
            h.subscription_id = id;
            h.subscription_lifetime = lt;
            h.ack_type = ack;
            h.hop_count = hop;
            h.depth = depth;
            h
        })
}

fn arb_target() -> impl Strategy<Value = String> {
    prop_oneof![
        arb_logical().prop_map(|l| l.path()),
        Just("/".to_owned()),
        (arb_logical(), "[a-z]{1,8}").prop_map(|(l, home)| l.to_physical(&home).path()),
        arb_logical().prop_map(|l| l.to_string()),
        "/groups/[a-z]{1,8}",
    ]
}

fn arb_request() -> impl Strategy<Value = http::Request<Vec<u8>>> {
    (
        proptest::sample::select(Method::ALL.to_vec()),
        arb_target(),
        "[a-z][a-z0-9.]{0,10}",
        arb_rvp(),
        proptest::collection::btree_map("x-[a-z]{1,8}", "[ -~]{0,12}", 0..4),
        proptest::collection::vec(any::<u8>(), 0..120),
    )
        .prop_map(|(m, target, host, rvp, extra, body)| {
            let mut req = http::Request::new(body);
            *req.method_mut() = m.to_http();
            *req.uri_mut() = target.parse().unwrap();
            req.headers_mut()
                .insert(http::header::HOST, host.parse().unwrap());
            rvp.insert_into(req.headers_mut());
            for (k, v) in extra {
                req.headers_mut().append(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    http::HeaderValue::from_str(v.trim()).unwrap(),
                );
            }
            req
        })
}

fn expected_rvp(h: &http::HeaderMap) -> RvpHeaders {
    let mut rvp = RvpHeaders::from_map(h).unwrap();
    rvp.notifications_version
        .get_or_insert(NotificationsVersion::V0_2);
    rvp
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn request_round_trip(req in arb_request()) {
        let mut wire = Vec::new();
        write_request(&req, &mut wire);
        let mut p = RequestParser::default();
        let Status::Complete(m) = p.parse(&wire).unwrap() else { panic!("partial") };
        prop_assert_eq!(m.consumed(), wire.len());
        prop_assert_eq!(m.body(), &req.body()[..]);
        let t = m.head().typed().unwrap();
        prop_assert_eq!(t.method, MethodClass::classify(req.method().as_str().as_bytes()));
        let host = req.headers()[http::header::HOST].to_str().unwrap();
        prop_assert_eq!(&t.target, &parse_target(&req.uri().to_string(), Some(host)).unwrap());
        prop_assert_eq!(&t.rvp, &expected_rvp(req.headers()));
        // Re-serializing the parsed message gives the same bytes (canonical output).
        let again = m.to_http().unwrap();
        let mut wire2 = Vec::new();
        write_request(&again, &mut wire2);
        prop_assert_eq!(&wire, &wire2);
        // Incremental: every strict prefix is Partial.
        for cut in 0..wire.len() {
            prop_assert!(p.parse(&wire[..cut]).unwrap().is_partial(), "cut {}", cut);
        }
    }

    #[test]
    fn response_round_trip(
        code in proptest::sample::select(vec![200u16, 207, 302, 400, 401, 403, 404, 412, 500, 501]),
        rvp in arb_rvp(),
        body in proptest::collection::vec(any::<u8>(), 0..120),
        trailing in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut res = http::Response::new(body);
        *res.status_mut() = http::StatusCode::from_u16(code).unwrap();
        rvp.insert_into(res.headers_mut());
        let mut wire = Vec::new();
        write_response(&res, &mut wire);
        let len = wire.len();
        wire.extend_from_slice(&trailing);
        let mut p = ResponseParser::default();
        let Status::Complete(m) = p.parse(&wire, false).unwrap() else { panic!("partial") };
        prop_assert_eq!(m.consumed(), len);
        prop_assert_eq!(m.head().reason(), reason_phrase(res.status()));
        prop_assert_eq!(m.body(), &res.body()[..]);
        let t = m.head().typed().unwrap();
        prop_assert_eq!(t.status, res.status());
        prop_assert_eq!(&t.rvp, &expected_rvp(res.headers()));
        for cut in 0..len {
            prop_assert!(p.parse(&wire[..cut], false).unwrap().is_partial(), "cut {}", cut);
        }
    }

    #[test]
    fn close_delimited_response(body in proptest::collection::vec(any::<u8>(), 0..200), cut in 0usize..200) {
        let mut wire = b"HTTP/1.1 200 Successful\r\nRVP-Notifications-Version: 0.2\r\n\r\n".to_vec();
        let head_len = wire.len();
        wire.extend_from_slice(&body);
        let mut p = ResponseParser::default();
        prop_assert!(p.parse(&wire, false).unwrap().is_partial());
        let end = head_len + cut.min(body.len());
        let Status::Complete(m) = p.parse(&wire[..end], true).unwrap() else { panic!() };
        prop_assert!(m.is_close_delimited());
        prop_assert_eq!(m.body(), &wire[head_len..end]);
    }

    #[test]
    fn notify_fast_path_matches_parser(
        target in arb_target(),
        from in arb_logical(),
        hop in 1u32..10,
        ack in proptest::option::of(prop_oneof![Just(AckType::DeepOr), Just(AckType::DeepAnd)]),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let from_s = from.to_string();
        let mut head = NotifyHead::new(&target, "127.0.0.1:5000", &from_s).with_hop_count(HopCount::new(hop).unwrap());
        if let Some(a) = ack { head = head.with_ack_type(a); }
        let mut wire = Vec::new();
        write_notify(&mut wire, &head, &body).unwrap();
        let mut p = RequestParser::default();
        let Status::Complete(m) = p.parse(&wire).unwrap() else { panic!() };
        prop_assert_eq!(m.consumed(), wire.len());
        prop_assert_eq!(m.body(), &body[..]);
        let t = m.head().typed().unwrap();
        prop_assert_eq!(t.method, MethodClass::Rvp(Method::Notify));
        prop_assert_eq!(t.rvp.hop_count(), HopCount::new(hop).unwrap());
        prop_assert_eq!(t.rvp.ack_type, ack);
        prop_assert_eq!(t.rvp.from_principal.as_ref().and_then(|f| f.logical()), Some(&from));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), eof in any::<bool>()) {
        let mut p = RequestParser::default();
        if let Ok(Status::Complete(m)) = p.parse(&bytes) {
            prop_assert!(m.consumed() <= bytes.len());
            let _ = m.head().typed();
            let _ = m.to_http();
        }
        let mut r = ResponseParser::default();
        if let Ok(Status::Complete(m)) = r.parse(&bytes, eof) {
            prop_assert!(m.consumed() <= bytes.len());
            let _ = m.head().typed();
            let _ = m.to_http();
        }
    }

    #[test]
    fn mutated_messages_never_panic(req in arb_request(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut wire = Vec::new();
        write_request(&req, &mut wire);
        let i = pos.index(wire.len());
        wire[i] = byte;
        let mut p = RequestParser::default();
        if let Ok(Status::Complete(m)) = p.parse(&wire) {
            let _ = m.head().typed();
            let _ = m.to_http();
        }
    }
}
