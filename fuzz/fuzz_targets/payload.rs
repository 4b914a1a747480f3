//! Arbitrary bytes as an `r:mime-data` payload: never a panic, the double-UTF-8 repair
//! never panics, and whatever parses writes back to text that parses to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvp_proto::payload::{Payload, PayloadLimits, decode_double_utf8};

fuzz_target!(|data: &[u8]| {
    let _ = Payload::parse_bytes(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let repaired = decode_double_utf8(text);
    if let Ok(payload) = Payload::parse(&repaired) {
        let written = payload.write();
        // The writer adds the headers a payload must have (`MIME-Version` first, its
        // `Content-Type`) and unfolds folded lines, so an input at a limit may come back a few headers over it.
        let mut roomy = PayloadLimits::default();
        roomy.max_headers += 4;
        roomy.max_header_block_len += 256;
        // ... and writes folded header lines unfolded, so one line may grow.
        roomy.max_line_len += roomy.max_header_block_len;
        let again = Payload::parse_with(&written, &roomy).expect("our own output parses");
        assert_eq!(again, payload, "round trip changed the payload");
    }
});
