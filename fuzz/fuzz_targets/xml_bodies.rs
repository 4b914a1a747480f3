//! Arbitrary bytes through every XML body parser (the first byte picks which): never a
//! panic, and whatever parses writes back to bytes that parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvp_proto::xml::{
    MultiStatus, Notification, PropFind, PropertyUpdate, RvpAcl, Subscriptions, XmlBody,
};

fn round_trip<T: XmlBody + PartialEq + std::fmt::Debug>(input: &[u8]) {
    if let Ok(value) = T::parse(input) {
        let bytes = value.to_bytes();
        let again = T::parse(&bytes).expect("our own output parses");
        assert_eq!(again, value, "round trip changed the value");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, input)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => round_trip::<PropFind>(input),
        1 => round_trip::<PropertyUpdate>(input),
        2 => round_trip::<MultiStatus>(input),
        3 => round_trip::<Notification>(input),
        4 => round_trip::<RvpAcl>(input),
        _ => round_trip::<Subscriptions>(input),
    }
});
