//! Arbitrary bytes as a pipelined request stream: framing, typing and conversion to
//! `http::Request` never panic, and a converted request re-serialises to bytes that parse
//! to the same typed head and body (plus the `RVP-Notifications-Version` the writer adds).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvp_proto::codec::{Limits, RequestParser, Status, write_request};

fuzz_target!(|data: &[u8]| {
    let mut parser = RequestParser::default();
    let mut rest = data;
    // Bounded: each complete message consumes at least one byte.
    for _ in 0..16 {
        let (typed, body, http, consumed) = match parser.parse(rest) {
            Ok(Status::Complete(msg)) => (
                msg.head().typed(),
                msg.body().to_vec(),
                msg.to_http(),
                msg.consumed(),
            ),
            Ok(Status::Partial) | Err(_) => return,
        };
        assert!(consumed > 0 && consumed <= rest.len());
        if let (Ok(typed), Ok(http)) = (typed, http) {
            let mut again = Vec::new();
            write_request(&http, &mut again);
            // The writer adds `Content-Length`, `RVP-Notifications-Version` and (for an
            // absolute-form target) `Host` when they are absent: up to three more lines.
            let limits = Limits::default();
            let mut p2 = RequestParser::new(limits.with_max_headers(limits.max_headers + 3));
            match p2.parse(&again) {
                Ok(Status::Complete(msg2)) => {
                    assert_eq!(msg2.body(), &body[..]);
                    let mut typed2 = msg2.head().typed().expect("re-serialised head types");
                    assert_eq!(typed2.method, typed.method);
                    // The writer adds `RVP-Notifications-Version: 0.2` when it is absent.
                    if typed.rvp.notifications_version.is_none() {
                        typed2.rvp.notifications_version = None;
                    }
                    assert_eq!(typed2.rvp, typed.rvp);
                }
                other => panic!("re-serialised request does not parse: {other:?}"),
            }
        }
        rest = &rest[consumed..];
    }
});
