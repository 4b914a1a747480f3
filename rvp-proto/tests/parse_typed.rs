//! The one-pass `RequestParser::parse_typed` against the two-step reference
//! (`RequestParser::parse`, then `RequestHead::view` / `RequestHead::typed`): same framing
//! (status, errors, consumed bytes, body), same typed view, same owned values, on real
//! client requests, generated heads full of unusual values and arbitrary mutations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rvp_proto::codec::{ParseError, RequestParser, Status};
use rvp_proto::header::HeaderError;

/// A real NOTIFY sent by librvp (the benchmark fixture).
const NOTIFY: &[u8] = include_bytes!("../../benches/fixtures/librvp-notify-typing.http");

/// Asserts that `parse_typed` and the two-step path agree on `buf`; returns whether the
/// message was complete and typed without error.
fn assert_agree(buf: &[u8]) -> Result<bool, TestCaseError> {
    let mut reference = RequestParser::default();
    let mut fused = RequestParser::default();
    let expected = reference.parse(buf);
    let got = fused.parse_typed(buf);
    match (expected, got) {
        (Err(e), Err(g)) => {
            prop_assert_eq!(e, g);
            Ok(false)
        }
        (Ok(Status::Partial), Ok(Status::Partial)) => Ok(false),
        (Ok(Status::Complete(e)), Ok(Status::Complete(g))) => {
            prop_assert_eq!(e.consumed(), g.consumed());
            prop_assert_eq!(e.body(), g.body());
            prop_assert_eq!(e.head().method_token(), g.head().method_token());
            prop_assert_eq!(e.head().target(), g.head().target());
            prop_assert_eq!(e.head().host(), g.head().host());
            prop_assert_eq!(e.head().head_len(), g.head().head_len());
            prop_assert_eq!(e.head().minor_version(), g.head().minor_version());
            prop_assert!(e.head().headers().iter().eq(g.head().headers().iter()));
            // What the scan notes is what reading the headers again finds.
            prop_assert_eq!(e.head().connection_options(), g.head().connection_options());
            prop_assert_eq!(e.head().authorization(), g.head().authorization());
            // The fused view is the reference view, and so is what it converts to.
            let view = g.view();
            prop_assert_eq!(&view.clone().cloned(), &e.head().view());
            prop_assert_eq!(g.head().view(), e.head().view());
            prop_assert_eq!(view.map(|v| v.to_typed()), e.head().typed());
            Ok(g.view().is_ok())
        }
        (e, g) => Err(TestCaseError::fail(format!(
            "framing disagrees: parse {e:?}, parse_typed {g:?}"
        ))),
    }
}

fn head_of(start: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut out = start.as_bytes().to_vec();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// Header names in random case: every RVP header, the framing ones and others.
fn arb_name() -> impl Strategy<Value = String> {
    let names = vec![
        "RVP-From-Principal",
        "Call-Back",
        "Subscription-Id",
        "Subscription-Lifetime",
        "Notification-Type",
        "RVP-Hop-Count",
        "RVP-Ack-Type",
        "RVP-Notifications-Version",
        "Depth",
        "Host",
        "Content-Type",
        "Connection",
        "Authorization",
        "X-Other",
        "RVP-From-Principals",
        "Call-Backs",
    ];
    (proptest::sample::select(names), any::<u64>()).prop_map(|(n, mask)| {
        n.chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    })
}

/// Values of every shape the fast recognisers must either get right or hand over.
fn arb_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("http://localhost/instmsg/aliases/alice".to_owned()),
        Just("HTTP://IM.Example.com:8080/instmsg/aliases/Bob".to_owned()),
        Just("http://h/instmsg/aliases/%41l".to_owned()),
        Just("http://h/instmsg/aliases/%zz".to_owned()),
        Just("http://h/instmsg/local/im.x/instmsg/aliases/b".to_owned()),
        Just("http://127.0.0.1:43663".to_owned()),
        Just("http://127.0.0.1:43663/".to_owned()),
        Just("http://127.0.0.1:0".to_owned()),
        Just("http://127.0.0.1:99999".to_owned()),
        Just("http://[::1]:80/instmsg/aliases/a".to_owned()),
        Just("http://h/groups/sales".to_owned()),
        Just("http://h/instmsg/aliases/a/".to_owned()),
        Just("http://h/instmsg/aliases/..".to_owned()),
        Just("http://u@h/instmsg/aliases/a".to_owned()),
        Just("IM.example.com".to_owned()),
        Just("ftp://h/x".to_owned()),
        Just("localhost".to_owned()),
        Just("localhost:8080".to_owned()),
        Just("pragma/notify".to_owned()),
        Just("update/propchange".to_owned()),
        Just("x/y".to_owned()),
        Just("DeepOr".to_owned()),
        Just("deepand".to_owned()),
        Just("SingleHop".to_owned()),
        Just("0.2".to_owned()),
        Just("1.".to_owned()),
        Just("infinity".to_owned()),
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("14400".to_owned()),
        Just("9A504".to_owned()),
        Just("close".to_owned()),
        Just("Keep-Alive".to_owned()),
        Just("te, CLOSE".to_owned()),
        Just(" keep-alive ,x,".to_owned()),
        Just("closed, keep-alives".to_owned()),
        Just("Digest username=\"alice\", nc=00000001".to_owned()),
        Just("99999999999".to_owned()),
        "[a-zA-Z0-9:/.%_@-]{0,24}",
        "[ -~]{0,16}",
    ]
}

fn arb_target() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_owned()),
        Just("/instmsg/aliases/bob".to_owned()),
        Just("/instmsg/aliases/B%6Fb".to_owned()),
        Just("/aliases/bob".to_owned()),
        Just("/instmsg/local/im.x/instmsg/aliases/b".to_owned()),
        Just("http://im.x/instmsg/aliases/b".to_owned()),
        Just("*".to_owned()),
        "/instmsg/aliases/[a-zA-Z0-9.%~:-]{0,10}",
        "/[a-z/.%?]{0,12}",
    ]
}

#[test]
fn real_notify_agrees_and_is_typed() {
    assert!(assert_agree(NOTIFY).unwrap());
    let mut p = RequestParser::default();
    let Status::Complete(m) = p.parse_typed(NOTIFY).unwrap() else {
        panic!("complete")
    };
    let v = m.view().unwrap();
    assert_eq!(v.target.alias(), Some("bob"));
    assert_eq!(v.rvp.hop_count().get(), 1);
    assert_eq!(m.consumed(), NOTIFY.len());
}

#[test]
fn unusual_shapes_fall_back_to_the_general_path() {
    let cases: [&[u8]; 6] = [
        // Escaped alias in the target and in Call-Back (the general path decodes them).
        b"SUBSCRIBE /instmsg/aliases/B%6Fb HTTP/1.1\r\nHost: h\r\nCall-Back: http://h/instmsg/aliases/%41l\r\n\r\n",
        // Physical target, IPv6 Host.
        b"NOTIFY /instmsg/local/im.x/instmsg/aliases/b HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
        // Extension notification type, malformed version (ignored, not an error).
        b"SUBSCRIBE /instmsg/aliases/b HTTP/1.1\r\nNotification-Type: x/y\r\nRVP-Notifications-Version: 1.\r\n\r\n",
        // Absolute-form target.
        b"PROPFIND http://im.x/instmsg/aliases/b HTTP/1.1\r\nDepth: 0\r\n\r\n",
        // Bare-host principal and a group node.
        b"NOTIFY /groups/sales HTTP/1.1\r\nRVP-From-Principal: IM.x\r\n\r\n",
        // No Host at all.
        b"NOTIFY / HTTP/1.1\r\nRVP-Hop-Count: 2\r\n\r\n",
    ];
    for wire in cases {
        assert!(
            assert_agree(wire).unwrap(),
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
}

#[test]
fn typing_errors_are_reported_and_the_message_still_frames() {
    let wire = b"NOTIFY / HTTP/1.1\r\nRVP-Hop-Count: 1\r\nrvp-hop-count: 2\r\nContent-Length: 1\r\n\r\nxNEXT";
    assert!(!assert_agree(wire).unwrap());
    let mut p = RequestParser::default();
    let Status::Complete(m) = p.parse_typed(wire).unwrap() else {
        panic!("complete")
    };
    assert_eq!(m.body(), b"x");
    assert_eq!(
        m.view().unwrap_err(),
        ParseError::Header(HeaderError::Duplicate("RVP-Hop-Count"))
    );
    let (msg, view) = m.into_parts();
    assert_eq!(msg.consumed(), wire.len() - 4);
    assert!(view.is_err());
    for bad in [
        &b"NOTIFY /instmsg/aliases/%zz HTTP/1.1\r\n\r\n"[..],
        b"NOTIFY / HTTP/1.1\r\nHost: bad host\r\n\r\n",
        b"NOTIFY / HTTP/1.1\r\nRVP-From-Principal: http://h:0/instmsg/aliases/a\r\n\r\n",
        b"NOTIFY / HTTP/1.1\r\nRVP-Ack-Type: Deep\r\n\r\n",
    ] {
        assert!(
            !assert_agree(bad).unwrap(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn framing_errors_and_partial_are_the_same() {
    for wire in [
        &b"NOTIFY / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"NOTIFY / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"NOTIFY / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"NOT IFY / HTTP/1.1\r\n\r\n",
        b"NOTIFY / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab",
        b"NOTIFY / HTTP/1.1\r\nHost: h\r\n",
    ] {
        assert!(!assert_agree(wire).unwrap());
    }
    // Every prefix of the real NOTIFY.
    for cut in 0..NOTIFY.len() {
        assert!(!assert_agree(&NOTIFY[..cut]).unwrap());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Generated heads: every RVP header in any case, duplicated or not, with values of
    /// every shape (common, escaped, physical, IPv6, malformed...).
    #[test]
    fn fast_path_agrees_on_generated_heads(
        method in proptest::sample::select(vec!["NOTIFY", "SUBSCRIBE", "PROPFIND", "ACL", "GET", "COPY"]),
        target in arb_target(),
        headers in proptest::collection::vec((arb_name(), arb_value()), 0..9),
        body in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let wire = head_of(&format!("{method} {target} HTTP/1.1\r\n"), &headers, &body);
        assert_agree(&wire)?;
    }

    /// The real NOTIFY with a few bytes overwritten, inserted or removed.
    #[test]
    fn fast_path_agrees_on_mutated_notify(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut wire = NOTIFY.to_vec();
        for (at, byte, kind) in edits {
            let i = at.index(wire.len());
            match kind {
                0 => wire[i] = byte,
                1 => wire.insert(i, byte),
                _ => {
                    wire.remove(i);
                }
            }
        }
        assert_agree(&wire)?;
    }

    /// Arbitrary bytes.
    #[test]
    fn fast_path_agrees_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        assert_agree(&bytes)?;
    }
}
