//! Property tests of the payload layer: build → write → parse gives the same value for every
//! payload kind, and no input makes a parser panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use rvp_proto::payload::{
    Effects, Guid, ImFormat, Invitation, InvitationCommand, Join, Leave, MimeHeader, MimePart,
    Payload, PayloadLimits, SessionId, TextMessage, Typing, decode_double_utf8, encode_double_utf8,
};

fn session() -> impl Strategy<Value = Option<SessionId>> {
    proptest::option::weighted(0.9, any::<u128>().prop_map(Guid))
}

/// A header value as the parser returns it: no CR or LF, no
/// surrounding white space.
fn value() -> impl Strategy<Value = String> {
    "[^\\s]([^\\r\\n]{0,20}[^\\s])?"
}

/// Extra headers whose names are not modelled by any payload type.
fn extras() -> impl Strategy<Value = Vec<MimeHeader>> {
    proptest::collection::vec(
        ("X-Ext-[A-Za-z0-9-]{0,10}", value()).prop_map(|(n, v)| MimeHeader::new(n, v)),
        0..3,
    )
}

fn im_format() -> impl Strategy<Value = ImFormat> {
    (
        any::<String>(),
        any::<[bool; 4]>(),
        any::<u32>(),
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(("[A-Z]{2,3}", "[A-Za-z0-9]{0,5}"), 0..2),
    )
        .prop_filter("known keys are not `other`", |t| {
            t.5.iter()
                .all(|(k, _)| !["FN", "EF", "CO", "CS", "PF"].contains(&k.as_str()))
        })
        .prop_map(|(font, ef, co, cs, pf, other)| {
            let mut f = ImFormat::default();
            f.font_name = font;
            let mut e = Effects::NONE;
            [e.bold, e.italic, e.underline, e.strikethrough] = ef;
            f.effects = e;
            f.color = co;
            f.charset = cs;
            f.pitch_family = pf;
            f.other = other;
            f
        })
}

fn message() -> impl Strategy<Value = Payload> {
    (
        session(),
        proptest::option::of("[A-Za-z0-9_-]{1,12}"),
        proptest::option::of(im_format()),
        any::<String>(),
        extras(),
    )
        .prop_map(|(sid, charset, format, text, extra)| {
            let mut m = TextMessage::new(Guid(0), text);
            m.session_id = sid;
            m.charset = charset;
            m.format = format;
            m.extra_headers = extra;
            Payload::Message(m)
        })
}

fn typing() -> impl Strategy<Value = Payload> {
    (session(), value(), extras()).prop_map(|(sid, user, extra)| {
        let mut t = Typing::new(Guid(0), user);
        t.session_id = sid;
        t.extra_headers = extra;
        Payload::Typing(t)
    })
}

fn join() -> impl Strategy<Value = Payload> {
    (session(), extras()).prop_map(|(sid, extra)| {
        let mut j = Join::new(Guid(0));
        j.session_id = sid;
        j.extra_headers = extra;
        Payload::Join(j)
    })
}

fn leave() -> impl Strategy<Value = Payload> {
    (session(), extras()).prop_map(|(sid, extra)| {
        let mut l = Leave::new(Guid(0));
        l.session_id = sid;
        l.extra_headers = extra;
        Payload::Leave(l)
    })
}

fn command() -> impl Strategy<Value = InvitationCommand> {
    prop_oneof![
        Just(InvitationCommand::Invite),
        Just(InvitationCommand::Accept),
        Just(InvitationCommand::Cancel),
        value()
            .prop_map(|v| InvitationCommand::parse(&v))
            .prop_filter("Other only", |c| matches!(c, InvitationCommand::Other(_))),
    ]
}

fn invitation() -> impl Strategy<Value = Payload> {
    use proptest::option::of;
    (
        (
            session(),
            of(value()),
            of(any::<u128>().prop_map(Guid)),
            of(command()),
        ),
        (of(value()), of(value()), of(any::<u64>()), of(value())),
        (
            of(any::<u16>()),
            of(value()),
            of(any::<bool>()),
            of(value()),
            of(value()),
        ),
        (extras(), extras()),
    )
        .prop_map(
            |(
                (sid, name, guid, cmd),
                (cookie, file, size, ip),
                (port, auth, launch, req, cancel),
                (fields, extra),
            )| {
                let mut i = Invitation::default();
                i.session_id = sid;
                i.application_name = name;
                i.application_guid = guid;
                i.command = cmd;
                i.cookie = cookie;
                i.application_file = file;
                i.application_file_size = size;
                i.ip_address = ip;
                i.port = port;
                i.auth_cookie = auth;
                i.launch_application = launch;
                i.request_data = req;
                i.cancel_code = cancel;
                i.other_fields = fields;
                i.extra_headers = extra;
                Payload::Invitation(i)
            },
        )
}

fn unknown() -> impl Strategy<Value = Payload> {
    ("application/x-[a-z]{1,8}", extras(), any::<String>()).prop_map(|(ct, extra, body)| {
        let mut headers = vec![MimeHeader::new("Content-Type", ct)];
        headers.extend(extra);
        Payload::Unknown { headers, body }
    })
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        message(),
        typing(),
        join(),
        leave(),
        invitation(),
        unknown()
    ]
}

/// Text that looks enough like a payload to reach the typed parsers.
fn payload_like() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("MIME-Version: 1.0".to_owned()),
        "Content-Type: (text/plain|text/x-msmsgscontrol|text/x-imleave|text/x-msmsgsinvite)(; charset=[a-zA-Z0-9-]{0,8})?",
        "Session-Id: \\{?[0-9A-Fa-f-]{0,40}\\}?",
        "TypingUser: .{0,10}",
        "X-MMS-IM-Format: ((FN|EF|CO|CS|PF|XX)=[%A-Za-z0-9]{0,6}; ){0,6}",
        "(Port|Application-FileSize|Launch-Application|Application-GUID|Invitation-Command): .{0,12}",
        "[ \\t].{0,10}",
        ".{0,20}",
        Just(String::new()),
    ];
    (
        proptest::collection::vec(line, 0..12),
        prop_oneof![Just("\r\n"), Just("\n")],
    )
        .prop_map(|(lines, eol)| lines.join(eol))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn write_then_parse_is_identity(p in payload()) {
        let text = p.write();
        prop_assert!(text.starts_with("MIME-Version: 1.0\r\n"));
        let back = Payload::parse(&text);
        prop_assert_eq!(back, Ok(p));
    }

    #[test]
    fn write_then_double_utf8_round_trip(p in payload()) {
        // What a client imitating librvp sends, and what a receiver repairs.
        let wire = p.write();
        let enc = encode_double_utf8(&wire);
        let dec = decode_double_utf8(&enc);
        prop_assert_eq!(dec.as_ref(), wire.as_str());
    }

    #[test]
    fn mime_part_round_trip(
        headers in proptest::collection::vec(
            ("[A-Za-z][A-Za-z0-9-]{0,12}", value()).prop_map(|(n, v)| MimeHeader::new(n, v)),
            0..6,
        ),
        body in any::<String>(),
    ) {
        let part = MimePart { headers, body };
        prop_assert_eq!(MimePart::parse(&part.write(), &PayloadLimits::default()), Ok(part));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Payload::parse_bytes(&bytes);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = Payload::parse(&s);
        let _ = MimePart::parse(&s, &PayloadLimits::default());
        let _ = ImFormat::parse(&s);
        let _ = s.parse::<Guid>();
        let _ = decode_double_utf8(&s);
    }

    #[test]
    fn payload_like_text_never_panics(s in payload_like()) {
        if let Ok(p) = Payload::parse(&s) {
            // Whatever parsed writes out as something that parses to the same value.
            prop_assert_eq!(Payload::parse(&p.write()), Ok(p));
        }
        let _ = Payload::parse_bytes(s.as_bytes());
        let tight = PayloadLimits::default();
        let _ = Payload::parse_with(&s, &tight);
    }
}
