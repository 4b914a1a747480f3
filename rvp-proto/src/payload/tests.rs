//! Unit tests of the payload dispatcher: the examples of PROTOCOL.md §6.2 and the limits.

#![allow(clippy::unwrap_used)]

use super::*;

const SID: &str = "{79FC61B5-1234-1234-8A10-941F33CA4C90}";

fn sid() -> SessionId {
    SID.parse().unwrap()
}

#[test]
fn reference_instant_message() {
    let text = "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\
                X-MMS-IM-Format: FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22\r\n\
                Session-Id: {79FC61B5-1234-1234-8A10-941F33CA4C90}\r\n\r\nLets have lunch";
    let p = Payload::parse(text).unwrap();
    let want = TextMessage::new(sid(), "Lets have lunch").with_format(ImFormat::default());
    assert_eq!(p, Payload::Message(want));
    assert_eq!(p.write(), text);
    assert_eq!(p.session_id(), Some(sid()));
}

#[test]
fn reference_typing() {
    let text = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\n\
                TypingUser: bruceb@example.com\r\n\
                Session-Id: {79FC61B5-1234-1234-8A10-941F33CA4C90}\r\n\r\n";
    let p = Payload::parse(text).unwrap();
    assert_eq!(p, Typing::new(sid(), "bruceb@example.com").into());
    assert_eq!(p.write(), text);
}

#[test]
fn spec_typo_control_type_is_accepted_but_never_written() {
    let text = "MIME-Version: 1.0\nContent-Type: text/x-msmsscontrol\n\
                TypingUser: bruceb@example.com\nSession-Id: {79FC61B5-1234-1234-8A10-941F33CA4C90}\n\n";
    let p = Payload::parse(text).unwrap();
    assert_eq!(p, Payload::Typing(Typing::new(sid(), "bruceb@example.com")));
    assert!(p.write().contains("Content-Type: text/x-msmsgscontrol\r\n"));
}

#[test]
fn reference_join_and_leave() {
    let join = format!(
        "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\nSession-Id: {SID}\r\n\r\n"
    );
    let p = Payload::parse(&join).unwrap();
    assert_eq!(p, Payload::Join(Join::new(sid())));
    assert_eq!(p.write(), join);

    let leave =
        format!("MIME-Version: 1.0\r\nContent-Type: text/x-imleave\r\nSession-Id: {SID}\r\n\r\n");
    let p = Payload::parse(&leave).unwrap();
    assert_eq!(p, Payload::Leave(Leave::new(sid())));
    assert_eq!(p.write(), leave);
}

#[test]
fn reference_netmeeting_invitation() {
    let text = format!(
        "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\
         Session-Id: {SID}\r\n\r\n\
         Application-Name: NetMeeting.3.01\r\n\
         Application-GUID: {{44BBA842-CC51-11CF-AAFA-00AA00B6015C}}\r\n\
         Invitation-Command: INVITE\r\nInvitation-Cookie: 3\r\n\r\n"
    );
    let p = Payload::parse(&text).unwrap();
    let mut want = Invitation::new(sid(), InvitationCommand::Invite);
    want.application_name = Some("NetMeeting.3.01".into());
    want.application_guid = Some(Guid(0x44BBA842_CC51_11CF_AAFA_00AA00B6015C));
    want.cookie = Some("3".into());
    assert_eq!(p, Payload::Invitation(want));
    assert_eq!(p.write(), text);
}

fn invitation(body: &str) -> Invitation {
    let text = format!(
        "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\
         Session-Id: {SID}\r\n\r\n{body}"
    );
    match Payload::parse(&text).unwrap() {
        Payload::Invitation(i) => i,
        other => panic!("{other:?}"),
    }
}

#[test]
fn file_transfer_vocabulary() {
    let offer = invitation(
        "Application-Name: File Transfer\r\n\
         Application-GUID: {5D3E02AB-6190-11d3-BBBB-00C04F795683}\r\n\
         Invitation-Command: INVITE\r\nInvitation-Cookie: 12345\r\n\
         Application-File: report.pdf\r\nApplication-FileSize: 1048576\r\n\r\n",
    );
    assert_eq!(offer.application_name.as_deref(), Some("File Transfer"));
    assert_eq!(offer.application_guid, Some(FILE_TRANSFER_GUID));
    assert_eq!(offer.command, Some(InvitationCommand::Invite));
    assert_eq!(offer.cookie.as_deref(), Some("12345"));
    assert_eq!(offer.application_file.as_deref(), Some("report.pdf"));
    assert_eq!(offer.application_file_size, Some(1_048_576));

    let accept = invitation(
        "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 12345\r\n\
         Launch-Application: FALSE\r\nRequest-Data: IP-Address:\r\n\r\n",
    );
    assert_eq!(accept.command, Some(InvitationCommand::Accept));
    assert_eq!(accept.launch_application, Some(false));
    assert_eq!(accept.request_data.as_deref(), Some("IP-Address:"));

    let details = invitation(
        "Invitation-Command: ACCEPT\r\nInvitation-Cookie: 12345\r\n\
         IP-Address: 192.0.2.7\r\nPort: 6891\r\nAuthCookie: 98765\r\n\
         Launch-Application: FALSE\r\nRequest-Data: IP-Address:\r\n\r\n",
    );
    assert_eq!(details.ip_address.as_deref(), Some("192.0.2.7"));
    assert_eq!(details.port, Some(6891));
    assert_eq!(details.auth_cookie.as_deref(), Some("98765"));

    let cancel = invitation(
        "Invitation-Command: CANCEL\r\nInvitation-Cookie: 12345\r\nCancel-Code: REJECT\r\n\
         X-Unknown: kept\r\n\r\n",
    );
    assert_eq!(cancel.command, Some(InvitationCommand::Cancel));
    assert_eq!(cancel.cancel_code.as_deref(), Some("REJECT"));
    assert_eq!(
        cancel.other_fields,
        vec![MimeHeader::new("X-Unknown", "kept")]
    );
    // Unknown fields survive a write.
    let again = Payload::parse(&Payload::Invitation(cancel.clone()).write()).unwrap();
    assert_eq!(again, Payload::Invitation(cancel));
}

#[test]
fn invitation_bad_fields_are_named() {
    for (body, header) in [
        ("Port: 70000\r\n", "Port"),
        ("Application-FileSize: -1\r\n", "Application-FileSize"),
        ("Launch-Application: maybe\r\n", "Launch-Application"),
        ("Application-GUID: {nope}\r\n", "Application-GUID"),
    ] {
        let text =
            format!("MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite\r\n\r\n{body}\r\n");
        match Payload::parse(&text) {
            Err(PayloadError::InvalidHeaderValue { header: h, .. }) => assert_eq!(h, header),
            other => panic!("{body}: {other:?}"),
        }
    }
    let text = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite\r\n\r\nno colon\r\n";
    assert!(matches!(
        Payload::parse(text),
        Err(PayloadError::InInvitationBody { .. })
    ));
}

#[test]
fn missing_charset_means_latin1() {
    let p = Payload::parse("Content-Type: text/plain\r\n\r\nx").unwrap();
    let Payload::Message(m) = p else { panic!() };
    assert_eq!(m.charset, None);
    assert_eq!(m.effective_charset(), "ISO-8859-1");
    assert_eq!(m.session_id, None);
}

#[test]
fn missing_content_type_is_an_error() {
    let e =
        Payload::parse(&format!("MIME-Version: 1.0\r\nSession-Id: {SID}\r\n\r\nhi")).unwrap_err();
    assert_eq!(
        e,
        PayloadError::MissingHeader {
            header: "Content-Type"
        }
    );
}

#[test]
fn bad_session_id_is_named() {
    let e = Payload::parse("Content-Type: text/x-imleave\r\nSession-Id: {79FC61B5}\r\n\r\n")
        .unwrap_err();
    assert!(
        matches!(&e, PayloadError::InvalidHeaderValue { header, .. } if header == "Session-Id"),
        "{e:?}"
    );
    assert!(e.to_string().contains("Session-Id"));
}

#[test]
fn unknown_kind_keeps_headers_and_body() {
    let text = "MIME-Version: 1.0\r\nContent-Type: application/x-thing\r\nX-A: 1\r\n\r\nbody\r\n";
    let p = Payload::parse(text).unwrap();
    assert_eq!(
        p,
        Payload::Unknown {
            headers: vec![
                MimeHeader::new("Content-Type", "application/x-thing"),
                MimeHeader::new("X-A", "1")
            ],
            body: "body\r\n".into()
        }
    );
    assert_eq!(p.write(), text);
}

#[test]
fn extra_and_duplicate_headers_are_kept() {
    let text = format!(
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nSession-Id: {SID}\r\n\
         X-Client: test\r\nSession-Id: {SID}\r\n\r\nhi"
    );
    let Payload::Message(m) = Payload::parse(&text).unwrap() else {
        panic!()
    };
    assert_eq!(
        m.extra_headers,
        vec![
            MimeHeader::new("X-Client", "test"),
            MimeHeader::new("Session-Id", SID)
        ]
    );
}

#[test]
fn parse_repairing_reports_whether_it_applied() {
    let text = format!("Content-Type: text/plain; charset=UTF-8\r\nSession-Id: {SID}\r\n\r\n");
    let (p, applied) =
        Payload::parse_repairing_double_utf8(&format!("{text}Gr\u{c3}\u{bc}\u{c3}\u{9f}e"))
            .unwrap();
    assert!(applied);
    assert!(matches!(p, Payload::Message(m) if m.text == "Grüße"));
    let (p, applied) = Payload::parse_repairing_double_utf8(&format!("{text}Grüße")).unwrap();
    assert!(!applied);
    assert!(matches!(p, Payload::Message(m) if m.text == "Grüße"));
}

#[test]
fn bytes_follow_the_declared_charset() {
    let utf8 = "Content-Type: text/plain; charset=UTF-8\r\n\r\nGrüße".as_bytes();
    assert!(
        matches!(Payload::parse_bytes(utf8).unwrap(), Payload::Message(m) if m.text == "Grüße")
    );

    let latin1 = b"Content-Type: text/plain\r\n\r\nGr\xfc\xdfe";
    assert!(
        matches!(Payload::parse_bytes(latin1).unwrap(), Payload::Message(m) if m.text == "Grüße")
    );

    let cp = b"Content-Type: text/plain; charset=windows-1252\r\n\r\n\x80 \x93q\x94";
    assert!(matches!(Payload::parse_bytes(cp).unwrap(), Payload::Message(m) if m.text == "€ “q”"));

    let bad = b"Content-Type: text/plain; charset=utf-8\r\n\r\nab\xff";
    assert_eq!(
        Payload::parse_bytes(bad).unwrap_err(),
        PayloadError::InvalidText {
            charset: "utf-8".into(),
            offset: 45
        }
    );

    let ascii = b"Content-Type: text/plain; charset=us-ascii\r\n\r\n\xe9";
    assert!(matches!(
        Payload::parse_bytes(ascii),
        Err(PayloadError::InvalidText { offset: 46, .. })
    ));

    let other = b"Content-Type: text/plain; charset=koi8-r\r\n\r\nx";
    assert_eq!(
        Payload::parse_bytes(other).unwrap_err(),
        PayloadError::UnsupportedCharset {
            charset: "koi8-r".into()
        }
    );
}

// ---- one test per limit -------------------------------------------------------------------

#[test]
fn limit_max_headers() {
    let limits = PayloadLimits {
        max_headers: 3,
        ..PayloadLimits::default()
    };
    let ok = "Content-Type: text/x-imleave\r\nA: 1\r\nB: 2\r\n\r\n";
    assert!(Payload::parse_with(ok, &limits).is_ok());
    let too_many = "Content-Type: text/x-imleave\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(
        Payload::parse_with(too_many, &limits).unwrap_err(),
        PayloadError::TooManyHeaders { limit: 3 }
    );
    // The default is documented as 32.
    assert_eq!(PayloadLimits::default().max_headers, 32);
    let many: String = (0..33).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(
        Payload::parse(&format!("{many}\r\n")).unwrap_err(),
        PayloadError::TooManyHeaders { limit: 32 }
    );
}

#[test]
fn limit_max_headers_applies_to_invitation_body() {
    let limits = PayloadLimits {
        max_headers: 2,
        ..PayloadLimits::default()
    };
    let text = "Content-Type: text/x-msmsgsinvite\r\n\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_eq!(
        Payload::parse_with(text, &limits).unwrap_err(),
        PayloadError::InInvitationBody {
            source: Box::new(PayloadError::TooManyHeaders { limit: 2 })
        }
    );
}

#[test]
fn limit_max_line_len() {
    let limits = PayloadLimits {
        max_line_len: 40,
        ..PayloadLimits::default()
    };
    let line = format!("X-Long: {}", "a".repeat(32)); // exactly 40 bytes
    let ok = format!("Content-Type: text/x-imleave\r\n{line}\r\n\r\n");
    assert!(Payload::parse_with(&ok, &limits).is_ok());
    let long = format!("Content-Type: text/x-imleave\r\n{line}a\r\n\r\n");
    assert_eq!(
        Payload::parse_with(&long, &limits).unwrap_err(),
        PayloadError::LineTooLong { line: 2, limit: 40 }
    );
    // Folding does not get around the limit.
    let folded = format!("Content-Type: text/x-imleave\r\n{line}\r\n more\r\n\r\n");
    assert_eq!(
        Payload::parse_with(&folded, &limits).unwrap_err(),
        PayloadError::LineTooLong { line: 3, limit: 40 }
    );
    assert_eq!(PayloadLimits::default().max_line_len, 2048);
}

#[test]
fn limit_max_body_len() {
    let limits = PayloadLimits {
        max_body_len: 5,
        ..PayloadLimits::default()
    };
    assert!(Payload::parse_with("Content-Type: text/plain\r\n\r\n12345", &limits).is_ok());
    assert_eq!(
        Payload::parse_with("Content-Type: text/plain\r\n\r\n123456", &limits).unwrap_err(),
        PayloadError::BodyTooLarge { len: 6, limit: 5 }
    );
    assert_eq!(PayloadLimits::default().max_body_len, 131_072);
    let big = format!("Content-Type: text/plain\r\n\r\n{}", "x".repeat(131_073));
    assert!(matches!(
        Payload::parse(&big),
        Err(PayloadError::BodyTooLarge { len: 131_073, .. })
    ));
}

#[test]
fn unreadable_format_keeps_the_message() {
    let text = format!(
        "Content-Type: text/plain; charset=UTF-8\r\nX-MMS-IM-Format: EF=Q; CO=zz\r\n\
         Session-Id: {SID}\r\n\r\nstill here"
    );
    let Payload::Message(m) = Payload::parse(&text).unwrap() else {
        panic!()
    };
    assert_eq!(m.text, "still here");
    assert_eq!(m.format, None);
    assert_eq!(
        m.extra_headers,
        vec![MimeHeader::new("X-MMS-IM-Format", "EF=Q; CO=zz")]
    );
    let again = Payload::Message(m);
    assert_eq!(Payload::parse(&again.write()).unwrap(), again);
}

#[test]
fn white_space_before_the_header_blocks_is_skipped() {
    let text = format!("\n   \r\nContent-Type: text/x-imleave\r\nSession-Id: {SID}\r\n\r\n");
    assert_eq!(
        Payload::parse(&text).unwrap(),
        Payload::Leave(Leave::new(sid()))
    );
    let inv = invitation("\r\nInvitation-Command: CANCEL\r\n\r\n");
    assert_eq!(inv.command, Some(InvitationCommand::Cancel));
}

#[test]
fn limit_max_header_block_len() {
    let limits = PayloadLimits {
        max_header_block_len: 50,
        ..PayloadLimits::default()
    };
    // 30 + 18 + 2 = 50 bytes, closing empty line included.
    let ok = "Content-Type: text/x-imleave\r\nX-Padding: 12345\r\n\r\n";
    assert_eq!(ok.len(), 50);
    assert!(Payload::parse_with(ok, &limits).is_ok());
    assert!(Payload::parse_bytes_with(ok.as_bytes(), &limits).is_ok());
    let big = "Content-Type: text/x-imleave\r\nX-Padding: 123456\r\n\r\n";
    let err = PayloadError::HeaderBlockTooLarge { limit: 50 };
    assert_eq!(Payload::parse_with(big, &limits).unwrap_err(), err);
    assert_eq!(
        Payload::parse_bytes_with(big.as_bytes(), &limits).unwrap_err(),
        err
    );
    // Empty continuation lines add nothing to a header but still count.
    let folded = format!(
        "Content-Type: text/x-imleave\r\n{}\r\n",
        " \r\n".repeat(10_000)
    );
    assert_eq!(
        Payload::parse(&folded).unwrap_err(),
        PayloadError::HeaderBlockTooLarge { limit: 16_384 }
    );
    assert_eq!(PayloadLimits::default().max_header_block_len, 16_384);
}

#[test]
fn body_limit_is_checked_before_decoding_bytes() {
    let limits = PayloadLimits {
        max_body_len: 4,
        ..PayloadLimits::default()
    };
    let text = b"Content-Type: text/plain\r\n\r\n\xe9\xe9\xe9\xe9\xe9";
    assert_eq!(
        Payload::parse_bytes_with(text, &limits).unwrap_err(),
        PayloadError::BodyTooLarge { len: 5, limit: 4 }
    );
}

#[test]
fn bytes_with_leading_white_space() {
    let text = "\r\n Content-Type: text/plain; charset=UTF-8\r\n\r\nGrüße";
    assert!(
        matches!(Payload::parse_bytes(text.as_bytes()).unwrap(), Payload::Message(m) if m.text == "Grüße")
    );
}
