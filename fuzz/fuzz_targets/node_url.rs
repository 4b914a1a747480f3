//! Arbitrary strings as node URLs and request targets: never a panic, and a parsed URL
//! formats to a string that parses to the same URL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvp_proto::url::{NodeUrl, parse_target};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = NodeUrl::parse(s) {
        let again = NodeUrl::parse(&url.to_string()).expect("formatted URL parses");
        assert_eq!(again, url);
    }
    let (target, host) = s.split_once('\n').unwrap_or((s, "localhost"));
    let _ = parse_target(target, Some(host));
});
