//! CDATA sections for `r:mime-data` (reference §6.1).
//!
//! A CDATA section cannot contain `]]>`, so the payload is cut there: the first section
//! ends after `]]`, and a new one starts with `>`. Receivers concatenate the sections
//! (that is the XML layer's job). This is a pure function so that the XML writer can use it.

/// Wraps `text` in one or more CDATA sections, splitting every `]]>` as
/// `]]]]><![CDATA[>`.
///
/// ```
/// use rvp_proto::payload::cdata_encode;
///
/// assert_eq!(cdata_encode("a]]>b"), "<![CDATA[a]]]]><![CDATA[>b]]>");
/// ```
pub fn cdata_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 12);
    out.push_str("<![CDATA[");
    let mut rest = text;
    while let Some(i) = rest.find("]]>") {
        out.push_str(&rest[..i + 2]);
        out.push_str("]]><![CDATA[");
        rest = &rest[i + 2..];
    }
    out.push_str(rest);
    out.push_str("]]>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Test-only reader: concatenates the CDATA sections of `s`.
    fn cdata_decode(s: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = s;
        while !rest.is_empty() {
            rest = rest.strip_prefix("<![CDATA[")?;
            let end = rest.find("]]>")?;
            out.push_str(&rest[..end]);
            rest = &rest[end + 3..];
        }
        Some(out)
    }

    #[test]
    fn examples() {
        assert_eq!(cdata_encode(""), "<![CDATA[]]>");
        assert_eq!(cdata_encode("x"), "<![CDATA[x]]>");
        assert_eq!(cdata_encode("]]>"), "<![CDATA[]]]]><![CDATA[>]]>");
        assert_eq!(
            cdata_encode("a]]>]]>b"),
            "<![CDATA[a]]]]><![CDATA[>]]]]><![CDATA[>b]]>"
        );
        assert_eq!(cdata_encode("]]]>>"), "<![CDATA[]]]]]><![CDATA[>>]]>");
    }

    proptest! {
        #[test]
        fn concatenation_gives_the_text_back(s in "[\\]>a<!\\[]{0,30}|\\PC{0,30}") {
            let enc = cdata_encode(&s);
            prop_assert_eq!(cdata_decode(&enc), Some(s));
        }
    }
}
