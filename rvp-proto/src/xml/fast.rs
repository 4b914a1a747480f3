//! The fast tokenizer: the plain XML that RVP clients and servers actually send (tags,
//! namespace declarations, text, CDATA, comments, the prolog), read in one forward pass
//! without quick-xml, producing exactly the events quick-xml's `NsReader` would.
//!
//! It is an accelerator, never a second opinion: whatever it is not sure to read exactly
//! as quick-xml does, it *declines* ([`Declined`]), and the body is then parsed again from
//! the start by the quick-xml reader, whose answer (value or error) is the one returned
//! (`super::read::parse_body`). Declined, among others: `<!DOCTYPE` and any `<!` that is
//! not a comment or CDATA, character references and entities other than the five
//! predefined ones, non-ASCII or `xml`-prefixed names, attribute values holding `<`, `>` or
//! `&`, whitespace around `=`, empty or reserved namespace URIs, a prefix declared twice on
//! one tag, an unbound prefix, a mismatched or unmatched end tag, `]]>` in text, the end
//! of the input inside an element.
//!
//! The `xml_fast` fuzz target and `tests/xml_fast.rs` check the contract on arbitrary
//! input: when this tokenizer's parse succeeds, quick-xml's succeeds with the same value
//! (and the same source ranges).

use std::borrow::Cow;

use super::read::{Ns, classify};

/// The fast tokenizer cannot say what quick-xml would make of the input here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Declined;

/// One event, as quick-xml would give it (comments and processing instructions are
/// skipped, as the reader above skips them).
#[derive(Debug)]
pub(crate) enum Token<'i> {
    /// A start or empty tag: its local name, the namespace URI its prefix (or the
    /// default namespace) is bound to (`None`: unprefixed and no default namespace) with
    /// that URI's [`classify`] reading (worked out once per declaration, not per tag), and
    /// whether it is empty (`<x/>`).
    Start {
        local: &'i str,
        uri: Option<&'i str>,
        ns: Ns,
        empty: bool,
    },
    /// An end tag (matching the innermost open element).
    End,
    /// Text, CDATA content or one of the five predefined entities, resolved.
    Text(Cow<'i, str>),
    /// The end of the input, every element closed.
    Eof,
}

/// Namespace bindings in scope at most (quick-xml allows 128).
const MAX_BINDINGS: usize = 64;

/// The tokenizer over a UTF-8 body (byte-order mark already removed).
#[derive(Debug)]
pub(crate) struct Fast<'i> {
    input: &'i str,
    pos: usize,
    /// Where the last event returned starts (comments and processing instructions before
    /// it skipped).
    start: usize,
    /// Open elements: qualified name, and how many bindings were in scope before it.
    open: Vec<(&'i str, usize)>,
    /// Namespace bindings in scope, innermost last: prefix (`""`: the default namespace),
    /// URI, and what [`classify`] makes of the URI.
    bindings: Vec<(&'i str, &'i str, Ns)>,
    /// The bindings of the last empty element, dropped before the next event.
    pending_pop: Option<usize>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_char(b: u8) -> bool {
    NAME_CHAR[usize::from(b)]
}

/// [`is_name_char`] as a table: one load per byte of every name read.
const NAME_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c: u8 = 0;
    loop {
        t[c as usize] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_');
        if c == u8::MAX {
            break t;
        }
        c += 1;
    }
};

/// The length of an ASCII NCName at the start of `b` (0: none).
fn ncname_len(b: &[u8]) -> usize {
    match b.first() {
        Some(&f) if is_name_start(f) => {
            let mut n = 1;
            while n < b.len() && is_name_char(b[n]) {
                n += 1;
            }
            n
        }
        _ => 0,
    }
}

/// An ASCII QName at the start of `b`: its length and the length of its prefix (with
/// the colon), 0 when unprefixed.
fn qname_len(b: &[u8]) -> Option<(usize, usize)> {
    let first = ncname_len(b);
    if first == 0 {
        return None;
    }
    if b.get(first) != Some(&b':') {
        return Some((first, 0));
    }
    let second = ncname_len(&b[first + 1..]);
    (second > 0).then_some((first + 1 + second, first + 1))
}

/// The first occurrence of the short ASCII `pat` in `hay` (what `str::find` gives), found
/// with `memchr` on its first byte: for the two- and three-byte ends of CDATA sections,
/// comments and processing instructions this avoids setting up a substring searcher for
/// every one.
fn find_seq(hay: &str, pat: &[u8]) -> Option<usize> {
    let (&first, rest) = pat.split_first()?;
    let bytes = hay.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(first, &bytes[from..]) {
        let at = from + i;
        if bytes[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn starts_with_xml(s: &str) -> bool {
    s.len() >= 3 && s.as_bytes()[..3].eq_ignore_ascii_case(b"xml")
}

/// The two namespace URIs quick-xml refuses to see bound by a declaration.
const RESERVED: [&str; 2] = [
    "http://www.w3.org/XML/1998/namespace",
    "http://www.w3.org/2000/xmlns/",
];

impl<'i> Fast<'i> {
    pub(crate) fn new(input: &'i str) -> Fast<'i> {
        Fast {
            input,
            pos: 0,
            start: 0,
            open: Vec::with_capacity(8),
            bindings: Vec::with_capacity(4),
            pending_pop: None,
        }
    }

    /// Byte offset just after the last event (where the next one is looked for).
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Byte offset where the last event returned by [`Fast::next`] starts.
    pub(crate) fn token_start(&self) -> usize {
        self.start
    }

    /// The next event.
    pub(crate) fn next(&mut self) -> Result<Token<'i>, Declined> {
        if let Some(n) = self.pending_pop.take() {
            self.bindings.truncate(n);
        }
        let bytes = self.input.as_bytes();
        loop {
            self.start = self.pos;
            let Some(&b) = bytes.get(self.pos) else {
                return if self.open.is_empty() {
                    Ok(Token::Eof)
                } else {
                    Err(Declined)
                };
            };
            match b {
                b'<' => match bytes.get(self.pos + 1) {
                    Some(b'/') => return self.end_tag(),
                    Some(b'!') => {
                        if let Some(text) = self.bang()? {
                            return Ok(Token::Text(Cow::Borrowed(text)));
                        }
                    }
                    Some(b'?') => self.processing_instruction()?,
                    _ => return self.start_tag(),
                },
                b'&' => return self.reference(),
                _ => return self.text(),
            }
        }
    }

    /// Text up to the next `<` or `&` (or the end).
    fn text(&mut self) -> Result<Token<'i>, Declined> {
        let rest = &self.input[self.pos..];
        let mut len = rest.find('<').unwrap_or(rest.len());
        if let Some(amp) = rest[..len].find('&') {
            len = amp;
        }
        let text = &rest[..len];
        // quick-xml reads `]]>` in text as text; XML forbids it. Not ours to decide.
        if text.as_bytes().contains(&b']') && text.contains("]]>") {
            return Err(Declined);
        }
        self.pos += len;
        Ok(Token::Text(Cow::Borrowed(text)))
    }

    /// `&lt;`, `&gt;`, `&amp;`, `&apos;`, `&quot;`.
    fn reference(&mut self) -> Result<Token<'i>, Declined> {
        let rest = &self.input.as_bytes()[self.pos..];
        for (name, text) in [
            (&b"&lt;"[..], "<"),
            (b"&gt;", ">"),
            (b"&amp;", "&"),
            (b"&apos;", "'"),
            (b"&quot;", "\""),
        ] {
            if rest.starts_with(name) {
                self.pos += name.len();
                return Ok(Token::Text(Cow::Borrowed(text)));
            }
        }
        Err(Declined)
    }

    /// `<!--…-->` (skipped: `None`) or `<![CDATA[…]]>` (its content).
    fn bang(&mut self) -> Result<Option<&'i str>, Declined> {
        let rest = &self.input[self.pos..];
        if let Some(body) = rest.strip_prefix("<!--") {
            // `<!-->` and `<!--->` are where quick-xml's end search and the XML grammar
            // part ways: declined, so the end found below is the first `-->` both see.
            if matches!(body.as_bytes().first(), Some(b'-' | b'>') | None) {
                return Err(Declined);
            }
            let end = find_seq(body, b"-->").ok_or(Declined)?;
            self.pos += 4 + end + 3;
            return Ok(None);
        }
        if let Some(body) = rest.strip_prefix("<![CDATA[") {
            let end = find_seq(body, b"]]>").ok_or(Declined)?;
            self.pos += 9 + end + 3;
            return Ok(Some(&body[..end]));
        }
        Err(Declined)
    }

    /// `<?…?>`: the XML declaration or a processing instruction, skipped. quick-xml ends
    /// it at the first `?>` counted from the opening `?`, so `<?>` is a (refused)
    /// instruction of its own: declined.
    fn processing_instruction(&mut self) -> Result<(), Declined> {
        let body = &self.input[self.pos + 1..];
        let end = find_seq(body, b"?>").ok_or(Declined)?;
        if end == 0 {
            return Err(Declined);
        }
        self.pos += 1 + end + 2;
        Ok(())
    }

    /// `</qname>`, matching the innermost open element exactly.
    fn end_tag(&mut self) -> Result<Token<'i>, Declined> {
        let &(qname, scope) = self.open.last().ok_or(Declined)?;
        let rest = &self.input.as_bytes()[self.pos + 2..];
        let n = qname.len();
        if rest.len() > n && &rest[..n] == qname.as_bytes() && rest[n] == b'>' {
            self.pos += 2 + n + 1;
            self.open.pop();
            self.bindings.truncate(scope);
            Ok(Token::End)
        } else {
            Err(Declined)
        }
    }

    /// `<qname (S attr='value')* S? /?>`.
    fn start_tag(&mut self) -> Result<Token<'i>, Declined> {
        let bytes = self.input.as_bytes();
        let start = self.pos + 1;
        let (qlen, plen) = qname_len(&bytes[start..]).ok_or(Declined)?;
        let qname = &self.input[start..start + qlen];
        let prefix = if plen > 0 { &qname[..plen - 1] } else { "" };
        let local = &qname[plen..];
        if starts_with_xml(prefix) {
            return Err(Declined);
        }
        let scope = self.bindings.len();
        let mut i = start + qlen;
        let empty = loop {
            let spaced = i;
            while bytes.get(i).copied().is_some_and(is_space) {
                i += 1;
            }
            match bytes.get(i) {
                Some(b'>') => {
                    i += 1;
                    break false;
                }
                Some(b'/') if bytes.get(i + 1) == Some(&b'>') => {
                    i += 2;
                    break true;
                }
                _ if i == spaced => return Err(Declined),
                _ => {}
            }
            let (alen, _) = qname_len(&bytes[i..]).ok_or(Declined)?;
            let name = &self.input[i..i + alen];
            i += alen;
            if bytes.get(i) != Some(&b'=') {
                return Err(Declined);
            }
            let quote = *bytes.get(i + 1).ok_or(Declined)?;
            if quote != b'"' && quote != b'\'' {
                return Err(Declined);
            }
            let vstart = i + 2;
            let vlen = bytes[vstart..]
                .iter()
                .position(|&c| c == quote)
                .ok_or(Declined)?;
            let value = &self.input[vstart..vstart + vlen];
            if value.bytes().any(|c| matches!(c, b'<' | b'>' | b'&')) {
                return Err(Declined);
            }
            i = vstart + vlen + 1;
            let bound = if name == "xmlns" {
                Some("")
            } else {
                name.strip_prefix("xmlns:")
            };
            if let Some(p) = bound {
                if starts_with_xml(p)
                    || value.is_empty()
                    || RESERVED.contains(&value)
                    || self.bindings[scope..].iter().any(|&(q, _, _)| q == p)
                    || self.bindings.len() >= MAX_BINDINGS
                {
                    return Err(Declined);
                }
                self.bindings.push((p, value, classify(value)));
            }
        };
        let (uri, ns) = match self.bindings.iter().rev().find(|&&(p, _, _)| p == prefix) {
            Some(&(_, uri, ns)) => (Some(uri), ns),
            None if prefix.is_empty() => (None, Ns::None),
            None => return Err(Declined),
        };
        if empty {
            self.pending_pop = Some(scope);
        } else {
            self.open.push((qname, scope));
        }
        self.pos = i;
        Ok(Token::Start {
            local,
            uri,
            ns,
            empty,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn find_seq_is_str_find() {
        for hay in [
            "",
            "]",
            "]]",
            "]]>",
            "a]]>b]]>",
            "]]]>",
            "]]]]>x",
            "-->",
            "--->",
            "?>",
            "??>",
            "abc",
            "a?b?>",
            "\u{e9}]]>\u{e9}",
            "]\u{e9}]]>",
        ] {
            for pat in ["]]>", "-->", "?>"] {
                assert_eq!(
                    find_seq(hay, pat.as_bytes()),
                    hay.find(pat),
                    "{hay:?} {pat:?}"
                );
            }
        }
    }

    proptest::proptest! {
        /// `find_seq` finds exactly what `str::find` finds, on text dense in the bytes
        /// that make near-misses.
        #[test]
        fn find_seq_matches_str_find(hay in "[\\]>?a\\-\u{e9}]{0,40}") {
            for pat in ["]]>", "-->", "?>"] {
                proptest::prop_assert_eq!(find_seq(&hay, pat.as_bytes()), hay.find(pat));
            }
        }
    }

    #[test]
    fn name_char_table_is_the_xml_ascii_name_chars() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
            assert_eq!(is_name_char(b), expected, "byte {b:#04x}");
        }
    }

    fn tokens(s: &str) -> Result<Vec<String>, Declined> {
        let mut f = Fast::new(s);
        let mut out = Vec::new();
        loop {
            match f.next()? {
                Token::Eof => return Ok(out),
                Token::Start {
                    local,
                    uri,
                    ns,
                    empty,
                } => {
                    assert_eq!(ns, uri.map_or(Ns::None, classify));
                    out.push(format!("<{local} {uri:?} {empty}>"));
                }
                Token::End => out.push("</>".into()),
                Token::Text(t) => out.push(format!("{t:?}")),
            }
        }
    }

    #[test]
    fn reads_the_plain_subset() {
        let got = tokens(
            "<?xml version=\"1.0\"?><r:n xmlns:r='urn:r' xmlns=\"urn:d\"><!-- c --><a/>x&amp;y\
             <![CDATA[<z>]]><r:b a='1'>t</r:b></r:n>\n",
        )
        .unwrap();
        assert_eq!(
            got,
            [
                "<n Some(\"urn:r\") false>",
                "<a Some(\"urn:d\") true>",
                "\"x\"",
                "\"&\"",
                "\"y\"",
                "\"<z>\"",
                "<b Some(\"urn:r\") false>",
                "\"t\"",
                "</>",
                "</>",
                "\"\\n\"",
            ]
        );
    }

    #[test]
    fn scopes_end_with_their_element() {
        let got = tokens("<a xmlns:p='urn:1'><p:b xmlns:p='urn:2'/><p:c/></a>").unwrap();
        assert_eq!(got[1], "<b Some(\"urn:2\") true>");
        assert_eq!(got[2], "<c Some(\"urn:1\") true>");
    }

    #[test]
    fn declines_what_it_does_not_know() {
        for s in [
            "<!DOCTYPE a><a/>",
            "<a>&#65;</a>",
            "<a>&foo;</a>",
            "<p:a/>",
            "<a></b>",
            "</a>",
            "<a>",
            "<a>]]></a>",
            "<a x = '1'/>",
            "<a x='<'/>",
            "<a xmlns:p='' />",
            "<a xmlns:p='u' xmlns:p='v'/>",
            "<xml:a/>",
            "<é/>",
            "<a/ >",
            "<!-->--><a/>",
            "<a b='1'c='2'/>",
            // Found by the xml_fast fuzz target: quick-xml closes `<?>` at once (and
            // refuses it); the end of the instruction is not a later `?>`.
            "<?>\n<a/><?x?><b/>",
        ] {
            assert_eq!(tokens(s), Err(Declined), "{s}");
        }
    }
}
