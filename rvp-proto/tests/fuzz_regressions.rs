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
