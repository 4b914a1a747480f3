//! Differential tests of the request-head scanner behind `RequestParser::parse_typed`
//! against httparse, the oracle: on arbitrary bytes, on generated heads full of what the
//! grammar allows and forbids, on every prefix of those and of the real-client requests,
//! with every header-slot count that matters, the scanner must give httparse's outcome
//! (`Complete` / `Partial` / the same error kind), the same head length, method, target,
//! version and header list. The fuzz target `head_scan` runs the same check.
//!
//! Then `parse_typed` (scanner) against `parse` (httparse) under small limits: the limits
//! sit outside the scanner and must act the same on both paths.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use rvp_interop::captures::{capture_files, read_blocks};
use rvp_proto::codec::{Limits, RequestParser, Status, scan_request_head};

/// A real NOTIFY sent by librvp (the benchmark fixture).
const NOTIFY: &[u8] = include_bytes!("../../benches/fixtures/librvp-notify-typing.http");

type Header = (Vec<u8>, Vec<u8>);

/// What a head parser concluded, in a form both parsers can be compared in.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Partial,
    Error(httparse::Error),
    Complete {
        head_len: usize,
        method: String,
        target: String,
        minor_version: u8,
        headers: Vec<Header>,
        host: Option<Vec<u8>>,
    },
}

/// httparse with `slots` header slots.
fn oracle(buf: &[u8], slots: usize) -> Outcome {
    let mut headers = vec![httparse::EMPTY_HEADER; slots];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Err(e) => Outcome::Error(e),
        Ok(httparse::Status::Partial) => Outcome::Partial,
        Ok(httparse::Status::Complete(head_len)) => {
            let headers: Vec<Header> = req
                .headers
                .iter()
                .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
                .collect();
            let host = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(b"host"))
                .map(|(_, v)| v.clone());
            Outcome::Complete {
                head_len,
                method: req.method.unwrap().to_owned(),
                target: req.path.unwrap().to_owned(),
                minor_version: req.version.unwrap(),
                headers,
                host,
            }
        }
    }
}

/// The scanner with at most `slots` header lines.
fn scanner(buf: &[u8], slots: usize) -> Outcome {
    match scan_request_head(buf, slots) {
        Err(e) => Outcome::Error(e),
        Ok(Status::Partial) => Outcome::Partial,
        Ok(Status::Complete(head)) => Outcome::Complete {
            head_len: head.head_len(),
            method: head.method_token().to_owned(),
            target: head.target().to_owned(),
            minor_version: head.minor_version(),
            headers: head
                .headers()
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
                .collect(),
            host: head.host().map(<[u8]>::to_vec),
        },
    }
}

fn assert_same(buf: &[u8], slots: usize) -> Result<(), TestCaseError> {
    let want = oracle(buf, slots);
    let got = scanner(buf, slots);
    prop_assert_eq!(
        &got,
        &want,
        "{} header slots, input {:?}",
        slots,
        String::from_utf8_lossy(buf)
    );
    Ok(())
}

/// [`assert_same`] on `buf` and on every prefix of it.
fn assert_same_prefixes(buf: &[u8], slots: usize) -> Result<(), TestCaseError> {
    for cut in 0..=buf.len() {
        assert_same(&buf[..cut], slots)?;
    }
    Ok(())
}

/// Header-slot counts: none, a few (so that `TooManyHeaders` happens), the parser's cap.
fn arb_slots() -> impl Strategy<Value = usize> {
    prop_oneof![Just(64usize), 0usize..10]
}

/// A piece of a head: mostly what the grammar allows, sometimes what it forbids.
fn pick(choices: &'static [&'static [u8]]) -> impl Strategy<Value = Vec<u8>> {
    proptest::sample::select(choices).prop_map(<[u8]>::to_vec)
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

fn arb_method() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => pick(&[b"NOTIFY", b"SUBSCRIBE", b"PROPFIND", b"ACL", b"GET", b"POST", b"M-SEARCH"]),
        1 => pick(&[b"", b"NOT(IFY", b"N\x00", b"M\xc3\xa9", b"GET\t", b"POS"]),
        1 => "[!-~]{1,8}".prop_map(String::into_bytes),
    ]
}

fn arb_target() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => pick(&[b"/", b"/instmsg/aliases/bob", b"http://im.x/instmsg/aliases/b", b"*"]),
        1 => pick(&[b"", b"/caf\xc3\xa9", b"/\xff\xfe", b"/a\x7fb", b"/a\tb", b"/\xc3", b"/a\x00"]),
        1 => "[!-~\u{80}-\u{10ffff}]{1,12}".prop_map(String::into_bytes),
        1 => arb_bytes(12),
    ]
}

fn arb_version() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => pick(&[b"HTTP/1.1", b"HTTP/1.0"]),
        1 => pick(&[b"HTTP/1.2", b"HTTP/2.0", b"http/1.1", b"HTTP/1", b"HTTP/1.1x", b"HTTP", b"HTTX/1.1", b""]),
    ]
}

fn arb_eol() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => pick(&[b"\r\n", b"\n"]),
        1 => pick(&[b"\r", b"\r\r\n", b" \r\n", b"\t\n", b"\n\r", b"\r\x00"]),
    ]
}

/// Field names: every name the scanner knows (in random case, also one byte short or
/// long), other tokens, and names that are not tokens.
fn arb_name() -> impl Strategy<Value = Vec<u8>> {
    let known: Vec<&'static str> = vec![
        "Content-Length",
        "Content-Type",
        "Connection",
        "Transfer-Encoding",
        "Host",
        "User-Agent",
        "Authorization",
        "RVP-Notifications-Version",
        "RVP-From-Principal",
        "RVP-Hop-Count",
        "RVP-Ack-Type",
        "Call-Back",
        "Notification-Type",
        "Subscription-Id",
        "Subscription-Lifetime",
        "Depth",
    ];
    let known =
        (proptest::sample::select(known), any::<u64>(), 0u8..8).prop_map(|(name, mask, edit)| {
            let mut n: Vec<u8> = name
                .bytes()
                .enumerate()
                .map(|(i, c)| {
                    if mask >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect();
            match edit {
                0 => {
                    n.pop();
                }
                1 => n.push(b's'),
                2 => n.push(b'_'),
                3 => {
                    // Not a case change: a byte differing in bit 0x20 that is not a letter.
                    let at = usize::from(edit) % n.len();
                    n[at] = match n[at] {
                        b'-' => b'\r',
                        c => c ^ 0x20,
                    };
                }
                _ => {}
            }
            n
        });
    prop_oneof![
        6 => known,
        2 => "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}".prop_map(String::into_bytes),
        1 => pick(&[b"", b"X Y", b"X\x00", b"Caf\xc3\xa9", b" Host", b"\tA", b"(A)", b"A\x7f"]),
    ]
}

fn arb_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => pick(&[
            b"724",
            b"0.2",
            b"localhost",
            b"http://localhost/instmsg/aliases/alice",
            b"text/xml",
            b"DeepOr",
            b"1",
            b"",
        ]),
        3 => "[ -~\t]{0,40}".prop_map(String::into_bytes),
        1 => "[ -~\t\u{80}-\u{ff}]{0,12}".prop_map(String::into_bytes),
        1 => pick(&[b"a\x00b", b"a\x7fb", b"a\rb", b"\x0c", b"a\r\n b", b"\xff\xfe", b"a\x1b"]),
    ]
}

prop_compose! {
    fn arb_field()(
        name in arb_name(),
        colon in prop_oneof![6 => pick(&[b":"]), 1 => pick(&[b" :", b"", b"::", b"\t:"])],
        space in "[ \t]{0,3}",
        value in arb_value(),
        trailing in "[ \t]{0,3}",
        eol in arb_eol(),
    ) -> Vec<u8> {
        [name, colon, space.into_bytes(), value, trailing.into_bytes(), eol].concat()
    }
}

prop_compose! {
    fn arb_head()(
        lead in proptest::collection::vec(pick(&[b"\r\n", b"\n", b"\r", b" "]), 0..2),
        method in arb_method(),
        sp1 in prop_oneof![6 => pick(&[b" "]), 1 => pick(&[b"  ", b"\t", b""])],
        target in arb_target(),
        sp2 in prop_oneof![6 => pick(&[b" "]), 1 => pick(&[b"  ", b"\t", b""])],
        version in arb_version(),
        eol in arb_eol(),
        fields in proptest::collection::vec(arb_field(), 0..10),
        end in prop_oneof![6 => pick(&[b"\r\n", b"\n"]), 1 => pick(&[b"", b"\r", b"\r\r\n", b" \r\n"])],
        body in pick(&[b"", b"<x/>", b"\r\n"]),
    ) -> Vec<u8> {
        [lead.concat(), method, sp1, target, sp2, version, eol, fields.concat(), end, body].concat()
    }
}

#[test]
fn real_notify_and_its_prefixes() {
    for slots in [64, 7, 6, 0] {
        assert_same_prefixes(NOTIFY, slots).unwrap();
    }
}

#[test]
fn every_client_request_of_the_captures_and_its_prefixes() {
    let mut n = 0;
    for file in capture_files() {
        for block in read_blocks(&file) {
            if !block.is_real_client() || block.is_response() {
                continue;
            }
            // The head and a little of the body (the scanner never looks further).
            let some = &block.bytes[..block.bytes.len().min(1024)];
            assert_same_prefixes(some, 64).unwrap();
            assert_same(&block.bytes, 3).unwrap();
            n += 1;
        }
    }
    assert!(n > 100, "only {n} requests in the captures");
}

#[test]
fn edge_cases() {
    let cases: &[&[u8]] = &[
        b"",
        b"\r",
        b"\r\n\r\n",
        b"\rX",
        b"\n\nGET / HTTP/1.1\n\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1 \r\n\r\n",
        b"GET /\xff HTTP/1.1\r\n\r\n",
        b"GET /\xc3",
        b"GET / HTTP/1.",
        b"GET / HTTP/1.1",
        b"GET / HTTP/1.1\r",
        b"GET / HTTP/1.1\rX",
        b"GET / HTTP/2",
        b"GET / HTTQ",
        b"GET / HTTP/1.1\r\nA:\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: \t \r\n\r\n",
        b"GET / HTTP/1.1\r\nA:\tb\t c \t\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
        b"GET / HTTP/1.1\r\nA : b\r\n\r\n",
        b"GET / HTTP/1.1\r\n:b\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n",
        b"GET / HTTP/1.1\r\nA:\rc\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: \x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: \xff\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nhost: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost:x\r\n\rX",
        b"GET / HTTP/1.1\r\nContent-Length\r:\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Lengt\xe8: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nRVP-Hop-Count\x0d: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost:\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost",
        b"GET / HTTP/1.1\r\nrvp-notifications-version",
    ];
    for case in cases {
        for slots in [64, 1, 0] {
            assert_same_prefixes(case, slots).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Generated heads, whole and cut at every byte.
    #[test]
    fn generated_heads(head in arb_head(), slots in arb_slots()) {
        assert_same_prefixes(&head, slots)?;
    }

    /// The real NOTIFY with a few bytes overwritten, inserted or removed.
    #[test]
    fn mutated_notify(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..5),
        slots in arb_slots(),
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
        assert_same(&wire, slots)?;
    }

    /// Arbitrary bytes, alone and after a valid request line.
    #[test]
    fn arbitrary_bytes(bytes in arb_bytes(300), slots in arb_slots()) {
        assert_same(&bytes, slots)?;
        let mut wire = b"NOTIFY / HTTP/1.1\r\n".to_vec();
        wire.extend_from_slice(&bytes);
        assert_same(&wire, slots)?;
    }

    /// `parse_typed` (the scanner) and `parse` (httparse) under small limits: same
    /// outcome, same error, same message.
    #[test]
    fn limits_act_the_same_on_both_paths(
        head in arb_head(),
        max_head in 0usize..400,
        max_headers in 0usize..12,
        max_body in 0usize..8,
    ) {
        let limits = Limits::default()
            .with_max_head_bytes(max_head)
            .with_max_headers(max_headers)
            .with_max_body_bytes(max_body);
        let (mut a, mut b) = (RequestParser::new(limits), RequestParser::new(limits));
        match (a.parse(&head), b.parse_typed(&head)) {
            (Err(e), Err(g)) => prop_assert_eq!(e, g),
            (Ok(Status::Partial), Ok(Status::Partial)) => {}
            (Ok(Status::Complete(e)), Ok(Status::Complete(g))) => {
                prop_assert_eq!(e.consumed(), g.consumed());
                prop_assert_eq!(e.head().target(), g.head().target());
                prop_assert!(e.head().headers().iter().eq(g.head().headers().iter()));
                prop_assert_eq!(e.head().view(), g.view().cloned());
            }
            (e, g) => prop_assert!(false, "parse {:?}, parse_typed {:?}", e, g),
        }
    }
}
