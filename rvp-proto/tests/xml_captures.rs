//! Every XML body in the interop captures (`shared/interop/captures/*.wire.log`) parses, and
//! survives write → parse unchanged. Client bodies are real client output; server bodies come
//! from a throw-away test server and are checked too, where they are valid.
//!
//! The captures directory is `$CARGO_MANIFEST_DIR/../../shared/interop/captures`, or
//! `$RVP_CAPTURES_DIR`. A missing directory fails the test.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::PathBuf;

use rvp_proto::PresenceState;
use rvp_proto::xml::{
    MultiStatus, Notification, PropFind, PropValue, PropertyUpdate, RvpAcl, StateContent,
    StateValue, Subscriptions, XmlBody, XmlError,
};

struct Body {
    file: String,
    direction: String,
    first_line: String,
    bytes: Vec<u8>,
}

fn captures_dir() -> PathBuf {
    match std::env::var_os("RVP_CAPTURES_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/interop/captures"),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits every capture into blocks and returns the XML bodies (by Content-Length).
fn bodies() -> Vec<Body> {
    let dir = captures_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "interop captures not found at {} ({e}); set RVP_CAPTURES_DIR",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".wire.log"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the five capture files in {}",
        dir.display()
    );
    let mut out = Vec::new();
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        // Block starts: "===== " at the start of a line.
        let mut starts: Vec<usize> = Vec::new();
        if data.starts_with(b"===== ") {
            starts.push(0);
        }
        let mut i = 0;
        while let Some(p) = find(&data[i..], b"\n===== ") {
            starts.push(i + p + 1);
            i += p + 1;
        }
        starts.push(data.len());
        for w in starts.windows(2) {
            let block = &data[w[0]..w[1]];
            let header_end = find(block, b"\n").unwrap();
            let header = String::from_utf8_lossy(&block[..header_end]).into_owned();
            let direction = header.split_whitespace().nth(2).unwrap_or("").to_owned();
            let raw = &block[header_end + 1..];
            let Some(head_end) = find(raw, b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let body = &raw[head_end + 4..];
            assert!(
                body.len() >= len,
                "{file}: truncated body in block {header}"
            );
            let body = &body[..len];
            let trimmed = body
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .map_or(&[][..], |p| &body[p..]);
            if !trimmed.starts_with(b"<?xml")
                && !trimmed.starts_with(b"<d:")
                && !trimmed.starts_with(b"<r:")
                && !trimmed.starts_with(b"<a:")
            {
                continue;
            }
            out.push(Body {
                file: file.clone(),
                direction,
                first_line: head.lines().next().unwrap_or("").to_owned(),
                bytes: body.to_vec(),
            });
        }
    }
    out
}

fn round_trip<T: XmlBody + PartialEq + std::fmt::Debug>(b: &Body) -> Result<T, XmlError> {
    let v = T::parse(&b.bytes)?;
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
                let raw = &b.bytes[m.mime_data.source_range().unwrap()];
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
        let text = String::from_utf8_lossy(&b.bytes);
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
                RvpAcl::parse(&b.bytes),
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
