//! Differential: every XML body type parsed over the fast tokenizer alone against
//! quick-xml alone, the oracle (the first byte picks the limits). A value from the fast
//! tokenizer must be exactly quick-xml's value (a notification's MIME source range
//! included), and `parse_with`, which tries the fast tokenizer first, must answer exactly
//! what quick-xml answers, errors included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rvp_proto::xml::{
    MultiStatus, Notification, ParseMode, PropFind, PropertyUpdate, RvpAcl, Subscriptions, XmlBody,
    XmlLimits,
};

fn differential<T: XmlBody + PartialEq + std::fmt::Debug>(
    input: &[u8],
    limits: &XmlLimits,
) -> Option<(T, T)> {
    let full = T::parse_mode(input, limits, ParseMode::Full);
    assert_eq!(
        T::parse_with(input, limits),
        full,
        "parse_with is not quick-xml's answer"
    );
    let fast = T::parse_mode(input, limits, ParseMode::Fast).ok()?;
    assert_eq!(
        Ok(&fast),
        full.as_ref(),
        "the fast tokenizer's value differs"
    );
    Some((fast, full.ok()?))
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let mut limits = XmlLimits::default();
    if first & 1 == 1 {
        limits.max_depth = usize::from(first >> 4) + 1;
        limits.max_elements = usize::from(first >> 1) + 1;
        limits.max_text_bytes = usize::from(first) * 4;
    }
    differential::<PropFind>(input, &limits);
    differential::<PropertyUpdate>(input, &limits);
    differential::<MultiStatus>(input, &limits);
    differential::<RvpAcl>(input, &limits);
    differential::<Subscriptions>(input, &limits);
    if let Some((Notification::Message(f), Notification::Message(q))) =
        differential::<Notification>(input, &limits)
    {
        assert_eq!(f.mime_data.source_range(), q.mime_data.source_range());
    }
});
