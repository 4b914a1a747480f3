//! Arbitrary bytes as a stream of requests to a presence engine with two registered,
//! logged-in principals, with time advancing: the engine never panics, every complete
//! request gets exactly one answer, and every answer and NOTIFY it writes frames back.
#![no_main]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rvp_presence::{Caller, DirectoryProperties, Engine, NodeKey, Output, Policy, RequestId};
use rvp_proto::CredentialKind;
use rvp_proto::codec::{RequestParser, ResponseParser, Status, decode_request};

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let Ok(mut engine) = Engine::new(Policy::default(), t0) else {
        return;
    };
    for alias in ["alice", "bob"] {
        let key = NodeKey::new("localhost", alias).expect("valid key");
        let _ = engine.register_principal(key, DirectoryProperties::new(alias, "x@localhost"));
    }
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::from(data);
    for n in 0..32u64 {
        let Ok(Some(req)) = decode_request(&mut parser, &mut buf) else {
            return;
        };
        let now = t0 + Duration::from_secs(n * 97);
        engine.handle_timeout(now);
        // Alternate an authenticated owner, an asserted caller and an anonymous one.
        let who = if n % 2 == 0 { "alice" } else { "bob" };
        let me = format!("http://localhost/instmsg/aliases/{who}");
        let auth = (n % 3 == 0).then_some((me.as_str(), CredentialKind::Digest));
        let caller = Caller::from_request(&req, auth, None);
        engine.handle_http(now, RequestId(n), &caller, &req);
        let mut answers = 0;
        while let Some(out) = engine.poll_output() {
            match out {
                Output::Respond(answer) => {
                    answers += 1;
                    let bytes = answer.to_bytes();
                    let mut rp = ResponseParser::default();
                    assert!(matches!(rp.parse(&bytes, true), Ok(Status::Complete(_))));
                }
                Output::Deliver(d) => {
                    let bytes = d.to_notify_bytes().expect("engine NOTIFYs are writable");
                    let mut p = RequestParser::default();
                    assert!(matches!(p.parse(&bytes), Ok(Status::Complete(_))));
                }
                _ => {}
            }
        }
        // A deep-acknowledged NOTIFY answers later (when deliveries report), so at most one.
        assert!(answers <= 1, "{answers} answers to one request");
    }
});
