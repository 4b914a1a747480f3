//! Arbitrary bytes as a response, with and without end of stream: never a panic, and a
//! complete response never claims more bytes than it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvp_proto::codec::{ResponseParser, Status};

fuzz_target!(|data: &[u8]| {
    let mut parser = ResponseParser::default();
    for eof in [false, true] {
        if let Ok(Status::Complete(msg)) = parser.parse(data, eof) {
            assert!(msg.consumed() <= data.len());
            let _ = msg.head().typed();
            let _ = msg.to_http();
        }
    }
});
