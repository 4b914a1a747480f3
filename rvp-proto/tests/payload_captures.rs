//! Every `r:mime-data` payload in the interop captures parses, and the non-ASCII ones decode
//! to the text that was typed.
//!
//! The captures are read at test time from `$CARGO_MANIFEST_DIR/../testdata/captures`
//! or from `$RVP_CAPTURES_DIR`. A missing folder fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rvp_interop::captures::{capture_files, framed_messages};
use rvp_proto::payload::{
    Join, Leave, Payload, SessionId, TextMessage, Typing, decode_double_utf8, encode_double_utf8,
    is_double_utf8,
};
use rvp_proto::xml::{Notification, XmlBody};

/// One `r:mime-data` found in a capture.
struct Found {
    /// The block it was found in (file, line, direction, peer).
    block: String,
    /// The element's text as the product XML parser hands it over: CDATA sections
    /// concatenated, decoded as UTF-8 (the XML's encoding).
    text: String,
}

/// The `r:mime-data` texts of every NOTIFY in `file`, through the product framing and XML
/// parsers: the same path a client takes.
fn mime_data(file: &str) -> Vec<Found> {
    let found: Vec<Found> = framed_messages()
        .into_iter()
        .filter(|m| m.file == file && m.first_line.starts_with("NOTIFY "))
        .filter_map(|m| match Notification::parse(&m.body) {
            Ok(Notification::Message(msg)) => Some(Found {
                block: m.header,
                text: msg.mime_data.text,
            }),
            Ok(_) => None,
            Err(e) => panic!("{}: NOTIFY body does not parse: {e}", m.header),
        })
        .collect();
    found
}

fn sid(s: &str) -> SessionId {
    s.parse().unwrap()
}

fn parse_all(file: &str) -> Vec<(Found, Payload)> {
    let found = mime_data(file);
    found
        .into_iter()
        .map(|f| {
            let p = Payload::parse(&decode_double_utf8(&f.text))
                .unwrap_or_else(|e| panic!("{file} {}: {e}\n{:?}", f.block, f.text));
            // And what we write from it reads back the same.
            assert_eq!(Payload::parse(&p.write()).unwrap(), p, "{file} {}", f.block);
            (f, p)
        })
        .collect()
}

#[test]
fn every_capture_payload_parses() {
    let mut total = 0;
    for path in capture_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        total += parse_all(&name).len();
    }
    // 6 + 8 + 8 payloads in the three conversation captures (client sends and relays).
    assert!(total >= 22, "only {total} payloads found");
}

#[test]
fn librvp_non_ascii_message_decodes_to_the_typed_text() {
    let all = parse_all("netrvp-librvp-nonascii.wire.log");
    let id = sid("{D9727BE8-8678-0990-2CE7-BEC55B1ACC0C}");
    let messages: Vec<&(Found, Payload)> = all
        .iter()
        .filter(|(_, p)| matches!(p, Payload::Message(_)))
        .collect();
    assert_eq!(messages.len(), 4, "2 messages, each sent and relayed");

    // librvp's: double UTF-8 on the wire.
    let librvp: Vec<_> = messages
        .iter()
        .filter(|(f, _)| f.text.contains("librvp"))
        .collect();
    assert_eq!(librvp.len(), 2);
    for (f, p) in librvp {
        assert!(is_double_utf8(&f.text), "{}", f.block);
        assert_eq!(
            f.text.split("\r\n\r\n").nth(1),
            Some("Gr\u{c3}\u{bc}\u{c3}\u{9f}e aus librvp")
        );
        let Payload::Message(m) = p else {
            unreachable!()
        };
        assert_eq!(m.text, "Grüße aus librvp");
        assert_eq!(m.session_id, Some(id));
        assert_eq!(m.charset.as_deref(), Some("UTF-8"));
        assert_eq!(m.format.as_ref().unwrap().font_name, "MS Shell Dlg");
    }

    // Net::RVP's: plain UTF-8, left alone by the decoder.
    let netrvp: Vec<_> = messages
        .iter()
        .filter(|(f, _)| f.text.contains("Perl"))
        .collect();
    assert_eq!(netrvp.len(), 2);
    for (f, p) in netrvp {
        assert!(!is_double_utf8(&f.text), "{}", f.block);
        let mut want = TextMessage::new(id, "Grüße aus Perl");
        want.charset = Some("UTF-8".into());
        assert_eq!(p, &Payload::Message(want));
    }
}

#[test]
fn netrvp_join_and_leave() {
    let all = parse_all("netrvp-librvp-nonascii.wire.log");
    let id = sid("{D9727BE8-8678-0990-2CE7-BEC55B1ACC0C}");
    let joins = all
        .iter()
        .filter(|(_, p)| *p == Payload::Join(Join::new(id)))
        .count();
    let leaves = all
        .iter()
        .filter(|(_, p)| *p == Payload::Leave(Leave::new(id)))
        .count();
    assert_eq!((joins, leaves), (2, 2));
    // Net::RVP puts Session-Id before Content-Type and a CRLF in the body.
    assert!(
        all[0]
            .0
            .text
            .starts_with("MIME-Version: 1.0\r\nSession-Id: ")
    );
    assert!(all[0].0.text.ends_with("\r\n\r\n\r\n"));
}

#[test]
fn typing_from_both_clients() {
    let librvp = parse_all("librvp-alice-bob.wire.log");
    let id = sid("{AD60BC68-5217-1DD5-329A-B4F2E21D8A09}");
    let want = Payload::Typing(Typing::new(id, "alice@localhost"));
    assert_eq!(librvp.iter().filter(|(_, p)| *p == want).count(), 2);
    // librvp adds `; charset=UTF-8` to the control type.
    assert!(
        librvp[0]
            .0
            .text
            .contains("text/x-msmsgscontrol; charset=UTF-8\r\n")
    );

    let netrvp = parse_all("netrvp-carol-librvp-alice.wire.log");
    let id = sid("{C4706545-91E5-0097-D2F5-C78631D01104}");
    let want = Payload::Typing(Typing::new(id, "carol@localhost"));
    assert_eq!(netrvp.iter().filter(|(_, p)| *p == want).count(), 2);
}

#[test]
fn librvp_alice_bob_messages() {
    let all = parse_all("librvp-alice-bob.wire.log");
    let texts: Vec<&str> = all
        .iter()
        .filter_map(|(_, p)| match p {
            Payload::Message(m) => Some(m.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        texts,
        [
            "Hello Bob <b>bold</b> & ünïcødé",
            "Hello Bob <b>bold</b> & ünïcødé",
            "Hi Alice, got it",
            "Hi Alice, got it",
        ]
    );
}

#[test]
fn written_like_librvp_apart_from_its_doubled_percent() {
    // Our writer uses librvp's header order and line ends; encoded as double UTF-8 it gives
    // librvp's exact bytes, except that we escape the font name once (`%20`, not `%%20`).
    let mut compared = 0;
    for file in [
        "librvp-alice-bob.wire.log",
        "netrvp-librvp-nonascii.wire.log",
    ] {
        for (f, p) in parse_all(file) {
            if let Payload::Message(m) = &p
                && m.format.is_some()
            {
                let ours = encode_double_utf8(&p.write()).into_owned();
                assert_eq!(ours, f.text.replace("%%", "%"), "{file} {}", f.block);
                compared += 1;
            }
        }
    }
    assert_eq!(
        compared, 6,
        "librvp messages in the two captures, sent and relayed"
    );
}
