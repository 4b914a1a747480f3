//! Every XML body in the interop captures (`testdata/captures/*.wire.log`) parses, and
//! survives write → parse unchanged. Client bodies are real client output; server bodies come
//! from a throw-away test server and are checked too, where they are valid.
//!
//! The captures directory is `$CARGO_MANIFEST_DIR/../testdata/captures`, or
//! `$RVP_CAPTURES_DIR`. A missing directory fails the test.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use rvp_proto::PresenceState;
use rvp_proto::xml::{
    MultiStatus, Notification, PropFind, PropValue, PropertyUpdate, RvpAcl, StateContent,
    StateValue, Subscriptions, XmlBody, XmlError,
};

use rvp_interop::captures::{Framed, framed_messages};

/// The XML bodies of every captured message (framed by the product parsers).
fn bodies() -> Vec<Framed> {
    let out: Vec<Framed> = framed_messages()
        .into_iter()
        .filter(|m| {
            let trimmed = m.body.trim_ascii_start();
            [&b"<?xml"[..], b"<d:", b"<r:", b"<a:"]
                .iter()
                .any(|p| trimmed.starts_with(p))
        })
        .collect();
    assert!(
        out.len() >= 50,
        "too few XML bodies in the captures: {}",
        out.len()
    );
    out
}

fn round_trip<T: XmlBody + PartialEq + std::fmt::Debug>(b: &Framed) -> Result<T, XmlError> {
    let v = T::parse(&b.body)?;
    let again = T::parse(&v.to_bytes())
        .unwrap_or_else(|e| panic!("{}: {}: rewritten body fails: {e}", b.file, b.first_line));
    assert_eq!(again, v, "{}: {}", b.file, b.first_line);
    Ok(v)
}

#[test]
fn every_client_body_parses() {
    let all = bodies();
    let mut counts = [0usize; 4];
    let mut logout_forms = 0;
    let mut leased = 0;
    for b in all.iter().filter(|b| b.direction == "CLIENT->SERVER") {
        let method = b.first_line.split(' ').next().unwrap_or("");
        let what = format!("{}: {}", b.file, b.first_line);
        match method {
            "PROPPATCH" => {
                let u: PropertyUpdate = round_trip(b).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(u.set.len(), 1, "{what}");
                match &u.set[0].value {
                    PropValue::State(StateValue {
                        content: StateContent::Bare(PresenceState::Offline),
                        view_id: Some(_),
                    }) => logout_forms += 1,
                    PropValue::State(StateValue {
                        content: StateContent::Leased(l),
                        ..
                    }) => {
                        assert!(l.timeout.is_some(), "{what}");
                        leased += 1;
                    }
                    PropValue::State(_) => {}
                    other => panic!("{what}: {other:?}"),
                }
                counts[0] += 1;
            }
            "PROPFIND" => {
                let _: PropFind = round_trip(b).unwrap_or_else(|e| panic!("{what}: {e}"));
                counts[1] += 1;
            }
            "ACL" => {
                let acl: RvpAcl = round_trip(b).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(acl.aces.len(), 1, "{what}");
                counts[2] += 1;
            }
            "NOTIFY" => {
                let n: Notification = round_trip(b).unwrap_or_else(|e| panic!("{what}: {e}"));
                let Notification::Message(m) = n else {
                    panic!("{what}: not a message")
                };
                // The recorded range is the raw content of r:mime-data.
                let raw = &b.body[m.mime_data.source_range().unwrap()];
                assert!(raw.starts_with(b"<![CDATA[MIME-Version: 1.0"), "{what}");
                assert!(raw.ends_with(b"]]>"), "{what}");
                assert_eq!(
                    &raw[9..raw.len() - 3],
                    m.mime_data.text.as_bytes(),
                    "{what}"
                );
                counts[3] += 1;
            }
            other => panic!("{what}: unexpected XML body for {other}"),
        }
    }
    eprintln!(
        "client bodies: proppatch {} propfind {} acl {} notify {}",
        counts[0], counts[1], counts[2], counts[3]
    );
    assert!(
        counts.iter().all(|&c| c >= 5),
        "too few client bodies found: {counts:?}"
    );
    assert!(
        logout_forms >= 2,
        "bare logout form not seen ({logout_forms})"
    );
    assert!(leased >= 10, "leased form not seen enough ({leased})");
}

#[test]
fn server_bodies_parse_where_valid() {
    let mut seen = 0;
    for b in bodies().iter().filter(|b| b.direction == "SERVER->CLIENT") {
        let what = format!("{}: {}", b.file, b.first_line);
        let text = String::from_utf8_lossy(&b.body);
        if text.contains("<d:multistatus") {
            let _: MultiStatus = round_trip(b).unwrap_or_else(|e| panic!("{what}: {e}"));
        } else if text.contains("<r:subscriptions") {
            let _: Subscriptions = round_trip(b).unwrap_or_else(|e| panic!("{what}: {e}"));
        } else if text.contains("<r:notification") {
            let n: Notification = round_trip(b).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(!matches!(n, Notification::Application(_)), "{what}");
        } else if text.contains("<a:rvpacl") {
            // The test server wrote an ACE without credentials: the typed error the engine
            // turns into `400 credentials not specified`.
            assert_eq!(
                RvpAcl::parse(&b.body),
                Err(XmlError::CredentialsNotSpecified),
                "{what}"
            );
        } else {
            panic!("{what}: unknown XML body");
        }
        seen += 1;
    }
    assert!(seen >= 20, "too few server bodies ({seen})");
}
