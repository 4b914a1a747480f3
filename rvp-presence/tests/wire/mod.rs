//! Wire-level helpers for the integration tests: requests from raw bytes through
//! `rvp_proto::codec`, answers and NOTIFYs back to bytes and through the parsers again.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use bytes::{Bytes, BytesMut};
use rvp_presence::{Answer, Caller, Delivery, Engine, Output, RequestId};
use rvp_proto::codec::{RequestParser, ResponseParser, decode_request, decode_response};

/// Raw request bytes: `head` (LF or CRLF lines, no `Content-Length`), then
/// `Content-Length` computed from `body`, a blank line and `body`.
pub fn wire(head: &str, body: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in head.trim().lines() {
        out.push_str(line.trim_end());
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    out.push_str(body);
    out.into_bytes()
}

/// Frames one complete request with the product parser.
pub fn request(bytes: &[u8]) -> http::Request<Bytes> {
    let mut buf = BytesMut::from(bytes);
    let mut p = RequestParser::default();
    let req = decode_request(&mut p, &mut buf)
        .expect("request frames")
        .expect("request complete");
    assert!(buf.is_empty(), "trailing bytes after the request");
    req
}

/// Frames one complete response (as written by `Answer::write`).
pub fn response(bytes: &[u8]) -> http::Response<Bytes> {
    let mut buf = BytesMut::from(bytes);
    let mut p = ResponseParser::default();
    let res = decode_response(&mut p, &mut buf, false)
        .expect("response frames")
        .expect("response complete");
    assert!(buf.is_empty(), "trailing bytes after the response");
    res
}

/// Frames one NOTIFY written by `Delivery::write_notify`.
pub fn notify(d: &Delivery) -> http::Request<Bytes> {
    request(&d.to_notify_bytes().expect("NOTIFY writes"))
}

/// Every output queued, split into answers and deliveries.
pub fn drain(e: &mut Engine) -> (Vec<Answer>, Vec<Delivery>) {
    let (mut answers, mut deliveries) = (Vec::new(), Vec::new());
    while let Some(o) = e.poll_output() {
        match o {
            Output::Respond(a) => answers.push(*a),
            Output::Deliver(d) => deliveries.push(d),
            other => panic!("unexpected output {other:?}"),
        }
    }
    (answers, deliveries)
}

/// The answer's bytes, framed back as a response.
pub fn answer_response(a: &Answer) -> http::Response<Bytes> {
    response(&a.to_bytes())
}

/// Sends raw request bytes as `caller`; returns the one answer for it (as a framed
/// response), the answer itself and the deliveries.
pub fn send(
    e: &mut Engine,
    now: std::time::Instant,
    id: u64,
    caller: &Caller,
    bytes: &[u8],
) -> (http::Response<Bytes>, Answer, Vec<Delivery>) {
    let req = request(bytes);
    e.handle_http(now, RequestId(id), caller, &req);
    let (mut answers, deliveries) = drain(e);
    assert_eq!(answers.len(), 1, "exactly one answer: {answers:?}");
    let a = answers.remove(0);
    assert_eq!(a.request, RequestId(id));
    (answer_response(&a), a, deliveries)
}

/// A response header as a string.
pub fn header<'a>(r: &'a http::Response<Bytes>, name: &str) -> Option<&'a str> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header"))
}
