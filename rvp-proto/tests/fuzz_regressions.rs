//! Inputs found by the fuzz targets in `fuzz/`, kept as regression tests: each once broke a
//! parse → write → parse round trip or panicked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rvp_proto::xml::{PropFind, XmlBody};

#[test]
fn element_name_with_a_quote_is_refused() {
    let input = b"<?xml version=\"1.0\"?>\n<d:propfind xmlns:d=\"DAV:\" xmlns:r=\"httpd:propfinxm dlns:d=\"DAV:\" xmlns:r=\"http://schemas.microssft.com/rvp/\">\n  <d:prop><r:emacrosoft.com/rvp/\">\n  <d:prop><r:emAV:\" xmlns:r=\"httpd:propfinxm dlns:d=\"DAV:\" xmlnail/></d:prop>\n</d:propfind>\n";
    // quick-xml lexes `r:emAV:"` as one element name; we refuse names that are not QNames,
    // since no writer could put them back.
    assert!(matches!(
        PropFind::parse(input),
        Err(rvp_proto::xml::XmlError::Syntax { .. })
    ));
}

/// Found by the `xml_fast` fuzz target: quick-xml ends a processing instruction at the
/// first `?>` counted from its opening `?`, so `<?>` is an instruction that is not closed
/// (refused), not one that runs to a later `?>`. The fast tokenizer once skipped to the
/// later one and read a body quick-xml refuses.
#[test]
fn a_question_mark_and_angle_is_an_unclosed_instruction() {
    use rvp_proto::xml::{MultiStatus, ParseMode, XmlLimits};
    let input = b"<?>\n<x/><?x?><d:multistatus xmlns:d='DAV:'/>";
    let limits = XmlLimits::default();
    let full = MultiStatus::parse_mode(input, &limits, ParseMode::Full);
    assert!(
        matches!(full, Err(rvp_proto::xml::XmlError::Syntax { .. })),
        "{full:?}"
    );
    assert!(MultiStatus::parse_mode(input, &limits, ParseMode::Fast).is_err());
    assert_eq!(MultiStatus::parse(input), full);
}
