//! Every request and response of the interop captures parses, and typing succeeds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rvp_interop::captures::{Block, capture_files, read_blocks};
use rvp_proto::codec::{RequestParser, ResponseParser, Status};
use rvp_proto::header::{AckType, NotificationType};
use rvp_proto::{Method, MethodClass};

/// Parses every message of a block; returns how many.
fn check_block(file: &str, b: &Block, req: &mut RequestParser, res: &mut ResponseParser) -> usize {
    let ctx = format!("{file}:{} ({} {})", b.line, b.direction, b.peer);
    let mut rest = &b.bytes[..];
    let mut n = 0;
    while !rest.is_empty() {
        let consumed = if rest.starts_with(b"HTTP/") {
            let Status::Complete(m) = res
                .parse(rest, true)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"))
            else {
                panic!("{ctx}: partial response")
            };
            let t = m.head().typed().unwrap_or_else(|e| panic!("{ctx}: {e}"));
            if t.status == http::StatusCode::OK && m.head().reason() == "Successful" {
                assert!(t.rvp.notifications_version.is_some(), "{ctx}: version");
            }
            m.to_http().unwrap_or_else(|e| panic!("{ctx}: {e}"));
            m.consumed()
        } else {
            let Status::Complete(m) = req.parse(rest).unwrap_or_else(|e| panic!("{ctx}: {e}"))
            else {
                panic!("{ctx}: partial request")
            };
            let t = m.head().typed().unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let MethodClass::Rvp(method) = t.method else {
                panic!("{ctx}: not an RVP method")
            };
            match method {
                Method::Subscribe => assert!(t.rvp.subscription_lifetime.is_some(), "{ctx}"),
                Method::Unsubscribe => assert!(t.rvp.subscription_id.is_some(), "{ctx}"),
                Method::Subscriptions => assert!(t.rvp.notification_type.is_some(), "{ctx}"),
                Method::Propfind => assert!(t.rvp.depth.is_some(), "{ctx}"),
                Method::Notify => assert!(t.rvp.hop_count.is_some(), "{ctx}"),
                _ => {}
            }
            if b.is_real_client() {
                assert!(t.rvp.from_principal.is_some(), "{ctx}: RVP-From-Principal");
            }
            assert_eq!(
                m.body().len(),
                m.head()
                    .headers()
                    .get_str("content-length")
                    .map_or(0, |v| v.trim().parse().unwrap())
            );
            m.to_http().unwrap_or_else(|e| panic!("{ctx}: {e}"));
            m.consumed()
        };
        rest = &rest[consumed..];
        // Tolerate stray line ends between or after messages.
        while rest.first().is_some_and(|c| *c == b'\r' || *c == b'\n') {
            rest = &rest[1..];
        }
        n += 1;
    }
    n
}

#[test]
fn every_capture_message_parses() {
    let mut req = RequestParser::default();
    let mut res = ResponseParser::default();
    let mut total = 0;
    for path in capture_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let blocks = read_blocks(&path);
        let mut n = 0;
        for b in blocks.iter().filter(|b| b.is_message()) {
            n += check_block(&name, b, &mut req, &mut res);
        }
        assert!(n >= 10, "{name}: only {n} messages found");
        total += n;
    }
    assert!(total >= 250, "only {total} messages in all captures");
}

#[test]
fn typed_values_of_known_requests() {
    let path = capture_files()
        .into_iter()
        .find(|p| p.ends_with("librvp-alice-bob.wire.log"))
        .expect("librvp-alice-bob capture");
    let blocks = read_blocks(&path);
    let mut p = RequestParser::default();
    let mut saw_login = false;
    let mut saw_im = false;
    for b in blocks.iter().filter(|b| b.is_message() && !b.is_response()) {
        let Status::Complete(m) = p.parse(&b.bytes).unwrap() else {
            panic!()
        };
        let t = m.head().typed().unwrap();
        if t.rvp.notification_type == Some(NotificationType::Notify) {
            saw_login = true;
            assert!(matches!(
                t.rvp.call_back.as_ref().unwrap().url(),
                rvp_proto::url::NodeUrl::LocalNode(_)
            ));
            assert_eq!(t.rvp.subscription_lifetime.unwrap().seconds(), 14000);
        }
        if t.method == MethodClass::Rvp(Method::Notify) && t.target.path.alias().is_some() {
            saw_im |= t.rvp.ack_type() == AckType::DeepOr;
            assert_eq!(t.rvp.hop_count().get(), 1);
            assert!(t.rvp.from_principal.as_ref().unwrap().logical().is_some());
        }
    }
    assert!(saw_login && saw_im);
}

/// Splitting every real request at every byte boundary gives `Partial`, then the same
/// message (incremental correctness on real bytes).
#[test]
fn captures_split_at_every_byte() {
    let mut p = RequestParser::default();
    let mut checked = 0;
    for path in capture_files() {
        for b in read_blocks(&path)
            .iter()
            .filter(|b| b.is_message() && !b.is_response())
        {
            let full = {
                let Status::Complete(m) = p.parse(&b.bytes).unwrap() else {
                    panic!()
                };
                (m.consumed(), m.head().typed().unwrap(), m.body().to_vec())
            };
            for cut in 0..full.0 {
                assert!(
                    p.parse(&b.bytes[..cut]).unwrap().is_partial(),
                    "cut at {cut}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 100);
}
