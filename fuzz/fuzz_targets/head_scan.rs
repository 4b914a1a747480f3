//! Differential: the request-head scanner behind `RequestParser::parse_typed` against
//! httparse, the oracle. The first byte picks the number of header slots (so that
//! `TooManyHeaders` is reached), the rest is the input. Both must give the same outcome
//! (`Complete` / `Partial` / the same error kind) and, when complete, the same head length,
//! method, target, version, header list and first `Host`. Then `parse_typed` must agree
//! with `parse` (httparse plus framing): same result, same message, same typed view.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvp_proto::codec::{RequestParser, Status, scan_request_head};

type Header<'b> = (&'b [u8], &'b [u8]);

fuzz_target!(|data: &[u8]| {
    let Some((&first, buf)) = data.split_first() else {
        return;
    };
    let slots = match first {
        0..=199 => usize::from(first % 12),
        _ => 64,
    };

    let mut slot_buf = vec![httparse::EMPTY_HEADER; slots];
    let mut req = httparse::Request::new(&mut slot_buf);
    let want = req.parse(buf);
    let got = scan_request_head(buf, slots);
    match (&want, &got) {
        (Err(w), Err(g)) => assert_eq!(w, g, "error kind"),
        (Ok(httparse::Status::Partial), Ok(Status::Partial)) => {}
        (Ok(httparse::Status::Complete(len)), Ok(Status::Complete(head))) => {
            assert_eq!(*len, head.head_len(), "head length");
            assert_eq!(req.method, Some(head.method_token()), "method");
            assert_eq!(req.path, Some(head.target()), "target");
            assert_eq!(req.version, Some(head.minor_version()), "version");
            let want_headers: Vec<Header<'_>> = req
                .headers
                .iter()
                .map(|h| (h.name.as_bytes(), h.value))
                .collect();
            let got_headers: Vec<Header<'_>> = head
                .headers()
                .iter()
                .map(|(n, v)| (n.as_bytes(), v))
                .collect();
            assert_eq!(want_headers, got_headers, "headers");
            let host = want_headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(b"host"))
                .map(|&(_, v)| v);
            assert_eq!(host, head.host(), "host");
        }
        _ => panic!("outcomes differ: httparse {want:?}, scanner {got:?}"),
    }

    let (mut reference, mut fused) = (RequestParser::default(), RequestParser::default());
    match (reference.parse(buf), fused.parse_typed(buf)) {
        (Err(e), Err(g)) => assert_eq!(e, g),
        (Ok(Status::Partial), Ok(Status::Partial)) => {}
        (Ok(Status::Complete(e)), Ok(Status::Complete(g))) => {
            assert_eq!(e.consumed(), g.consumed());
            assert_eq!(e.head().method_token(), g.head().method_token());
            assert_eq!(e.head().target(), g.head().target());
            assert_eq!(e.head().host(), g.head().host());
            assert!(e.head().headers().iter().eq(g.head().headers().iter()));
            assert_eq!(e.head().view(), g.view().cloned());
        }
        (e, g) => panic!("parse {e:?}, parse_typed {g:?}"),
    }
});
