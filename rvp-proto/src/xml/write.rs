//! Exchange-style writing: prolog, root with the three namespace declarations in single
//! quotes, `d`/`r`/`a` prefixes, no whitespace between elements.

/// The prolog every body starts with.
pub(crate) const PROLOG: &str = "<?xml version=\"1.0\"?>";

/// The namespace declarations of the root element.
pub(crate) const NS_DECLS: &str = " xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/' xmlns:a='http://schemas.microsoft.com/rvp/acl/'";

/// Writes the prolog and the root start tag `<name xmlns:d=… …>`.
pub(crate) fn root_start(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(PROLOG.as_bytes());
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(NS_DECLS.as_bytes());
    out.push(b'>');
}

/// `<name>`
pub(crate) fn start(out: &mut Vec<u8>, name: &str) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// `</name>`
pub(crate) fn end(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// `<name/>`
pub(crate) fn empty(out: &mut Vec<u8>, name: &str) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"/>");
}

/// `<name>text</name>`, text escaped.
pub(crate) fn text_element(out: &mut Vec<u8>, name: &str, text: &str) {
    start(out, name);
    escape_text(out, text);
    end(out, name);
}

/// The bytes that must be escaped, by class: bit [`IN_TEXT`] in character data, bit
/// [`IN_ATTR`] in an attribute value (the text set plus both quotes). One table load per
/// byte instead of a chain of comparisons: nearly every byte written needs nothing.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        if b != b'\n' as usize && b != b'\t' as usize {
            t[b] = IN_TEXT | IN_ATTR;
        }
        b += 1;
    }
    t[b'<' as usize] = IN_TEXT | IN_ATTR;
    t[b'>' as usize] = IN_TEXT | IN_ATTR;
    t[b'&' as usize] = IN_TEXT | IN_ATTR;
    t[b'\'' as usize] = IN_ATTR;
    t[b'"' as usize] = IN_ATTR;
    t
};
const IN_TEXT: u8 = 1;
const IN_ATTR: u8 = 2;

fn escape(out: &mut Vec<u8>, text: &str, attr: bool) {
    let class = if attr { IN_ATTR } else { IN_TEXT };
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = bytes[from..]
        .iter()
        .position(|&b| ESCAPE[usize::from(b)] & class != 0)
    {
        let i = from + at;
        out.extend_from_slice(&bytes[from..i]);
        match bytes[i] {
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'\'' => out.extend_from_slice(b"&apos;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            // CR and other control characters: character references, so that a conforming
            // parser does not normalise them away.
            b => {
                out.extend_from_slice(b"&#");
                out.extend_from_slice(b.to_string().as_bytes());
                out.push(b';');
            }
        }
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
}

/// Escapes character data: `<`, `>`, `&`, CR and control characters.
pub(crate) fn escape_text(out: &mut Vec<u8>, text: &str) {
    escape(out, text, false);
}

/// Escapes an attribute value for single or double quotes.
pub(crate) fn escape_attr(out: &mut Vec<u8>, text: &str) {
    escape(out, text, true);
}

/// Writes `text` as CDATA sections: `<![CDATA[text]]>`, with every `]]>` in the text split as
/// `]]]]><![CDATA[>` (PROTOCOL.md §6.1). A reader that concatenates the sections gets `text`
/// back.
///
/// ```
/// let mut out = Vec::new();
/// rvp_proto::xml::write_cdata(&mut out, "a]]>b");
/// assert_eq!(out, b"<![CDATA[a]]]]><![CDATA[>b]]>");
/// ```
pub fn write_cdata(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"<![CDATA[");
    let mut rest = text;
    while let Some(i) = rest.find("]]>") {
        out.extend_from_slice(&rest.as_bytes()[..i]);
        out.extend_from_slice(b"]]]]><![CDATA[>");
        rest = &rest[i + 3..];
    }
    out.extend_from_slice(rest.as_bytes());
    out.extend_from_slice(b"]]>");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table marks exactly the bytes the escaping rules name (the rules written out
    /// as comparisons), for text and for attribute values.
    #[test]
    fn the_escape_table_is_the_rules() {
        for b in 0..=255u8 {
            let text = matches!(b, b'<' | b'>' | b'&') || (b < 0x20 && b != b'\n' && b != b'\t');
            let attr = text || matches!(b, b'\'' | b'"');
            assert_eq!(
                ESCAPE[usize::from(b)] & IN_TEXT != 0,
                text,
                "byte {b:#04x} in text"
            );
            assert_eq!(
                ESCAPE[usize::from(b)] & IN_ATTR != 0,
                attr,
                "byte {b:#04x} in attributes"
            );
        }
    }

    #[test]
    fn escapes() {
        let mut out = Vec::new();
        escape_text(&mut out, "a<b>&c'\"\r\n\u{1}é");
        assert_eq!(out, "a&lt;b&gt;&amp;c'\"&#13;\n&#1;é".as_bytes());
        out.clear();
        escape_attr(&mut out, "'\"");
        assert_eq!(out, b"&apos;&quot;");
    }

    /// Test-only reader: concatenates the CDATA sections of `s`.
    fn cdata_decode(s: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            rest = rest.strip_prefix(b"<![CDATA[")?;
            let end = rest.windows(3).position(|w| w == b"]]>")?;
            out.extend_from_slice(&rest[..end]);
            rest = &rest[end + 3..];
        }
        Some(out)
    }

    proptest::proptest! {
        #[test]
        fn cdata_concatenation_gives_the_text_back(s in "[\\]>a<!\\[]{0,30}|\\PC{0,30}") {
            let mut out = Vec::new();
            write_cdata(&mut out, &s);
            proptest::prop_assert_eq!(cdata_decode(&out), Some(s.into_bytes()));
        }
    }

    #[test]
    fn cdata_split() {
        let mut out = Vec::new();
        write_cdata(&mut out, "]]>]]>x");
        assert_eq!(out, b"<![CDATA[]]]]><![CDATA[>]]]]><![CDATA[>x]]>");
    }
}
