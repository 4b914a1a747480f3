//! Shared reading machinery: a namespace-resolving pull reader that knows our three
//! namespaces, enforces [`XmlLimits`], refuses DOCTYPE, concatenates text, CDATA and
//! references, trims text values and can hand out the raw source of an element's content.
//!
//! Events come from quick-xml, or first from the [fast tokenizer](super::fast) when the
//! body is parsed with [`parse_body`]: a body's reading function runs over the fast
//! tokenizer, and only if that fails (the tokenizer declined, or the body is wrong) runs
//! again over quick-xml, whose answer stands.

use std::borrow::Cow;
use std::ops::Range;

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;

use super::fast::{Fast, Token};
use super::{ACL_NS, DAV_NS, ParseMode, RVP_NS, XmlError, XmlLimits};

/// Parses `input` with `read`: over the fast tokenizer first, and if that gives no value,
/// over quick-xml, whose result (value or error) is returned. `read` must be a function
/// of the events alone (every body's reader is), so both runs agree whenever the fast one
/// succeeds.
pub(crate) fn parse_body<T>(
    input: &[u8],
    limits: &XmlLimits,
    read: fn(&mut Reader<'_>) -> Result<T, XmlError>,
) -> Result<T, XmlError> {
    if let Ok(value) = parse_mode(input, limits, ParseMode::Fast, read) {
        return Ok(value);
    }
    parse_mode(input, limits, ParseMode::Full, read)
}

/// Parses `input` with `read` over one event source only.
pub(crate) fn parse_mode<T>(
    input: &[u8],
    limits: &XmlLimits,
    mode: ParseMode,
    read: fn(&mut Reader<'_>) -> Result<T, XmlError>,
) -> Result<T, XmlError> {
    let mut r = Reader::with_mode(input, limits, mode)?;
    read(&mut r)
}

/// The namespace of an element, reduced to what RVP cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    /// `DAV:`
    Dav,
    /// The RVP namespace.
    Rvp,
    /// The RVP ACL namespace (any case, with or without trailing slash).
    Acl,
    /// No namespace.
    None,
    /// Any other namespace (its URI is in [`Elem::other_ns`]).
    Other,
}

pub(crate) fn classify(uri: &str) -> Ns {
    match uri {
        DAV_NS => Ns::Dav,
        RVP_NS => Ns::Rvp,
        ACL_NS => Ns::Acl,
        _ => {
            let trimmed = uri.strip_suffix('/').unwrap_or(uri);
            if trimmed.eq_ignore_ascii_case(&ACL_NS[..ACL_NS.len() - 1]) {
                Ns::Acl
            } else if trimmed.eq_ignore_ascii_case(&RVP_NS[..RVP_NS.len() - 1]) {
                Ns::Rvp
            } else {
                Ns::Other
            }
        }
    }
}

/// A start (or empty) tag, resolved.
#[derive(Debug)]
pub(crate) struct Elem<'i> {
    pub(crate) ns: Ns,
    pub(crate) local: &'i str,
    /// The namespace URI when `ns` is [`Ns::Other`].
    pub(crate) other_ns: Option<Box<str>>,
    /// `<x/>`: there is no content and no end tag to read.
    pub(crate) empty: bool,
    /// Byte offset just after the start tag.
    content_start: usize,
}

impl Elem<'_> {
    /// Whether the element is `ns:local`.
    pub(crate) fn is(&self, ns: Ns, local: &str) -> bool {
        self.ns == ns && self.local == local
    }

    /// The namespace URI, canonical for our three namespaces.
    pub(crate) fn namespace(&self) -> &str {
        match self.ns {
            Ns::Dav => DAV_NS,
            Ns::Rvp => RVP_NS,
            Ns::Acl => ACL_NS,
            Ns::None => "",
            Ns::Other => self.other_ns.as_deref().unwrap_or(""),
        }
    }
}

/// One step of the pull reader.
enum Piece<'i> {
    Start(Elem<'i>),
    End,
    Text(Cow<'i, str>),
    Eof,
}

/// The content of an element that is either pure text or mixed with child elements.
pub(crate) enum Content<'i> {
    /// Text, CDATA and references only (concatenated, untrimmed).
    Text(Cow<'i, str>),
    /// The element has child elements: its raw source.
    Mixed(&'i str),
}

/// Where the events come from.
enum Source<'i> {
    /// quick-xml.
    Full(Box<NsReader<&'i [u8]>>),
    /// The fast tokenizer.
    Fast(Fast<'i>),
}

impl Source<'_> {
    fn buffer_position(&self) -> u64 {
        match self {
            Source::Full(r) => r.buffer_position(),
            Source::Fast(f) => f.position() as u64,
        }
    }

    fn error_position(&self) -> u64 {
        match self {
            Source::Full(r) => r.error_position(),
            Source::Fast(f) => f.position() as u64,
        }
    }
}

/// The reader.
pub(crate) struct Reader<'i> {
    input: &'i str,
    /// Length of a skipped byte-order mark: added to ranges reported to callers.
    base: usize,
    inner: Source<'i>,
    limits: XmlLimits,
    depth: usize,
    elements: usize,
    /// Byte offset where the last event started.
    event_start: usize,
}

/// Trims XML whitespace (space, tab, CR, LF).
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

fn is_blank(s: &str) -> bool {
    trim(s).is_empty()
}

/// Whether `s` is an XML NCName (a name without `:`). Non-ASCII characters are accepted as
/// name characters, the lenient reading of the XML 1.0 (5th edition) ranges.
fn is_ncname(s: &str) -> bool {
    // Byte-wise: every byte of a non-ASCII character is >= 0x80, so "accept non-ASCII
    // characters" is "accept bytes >= 0x80" (`s` is valid UTF-8).
    let Some((&first, rest)) = s.as_bytes().split_first() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'_' || !first.is_ascii())
        && rest
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_') || !b.is_ascii())
}

fn pos(p: u64) -> usize {
    usize::try_from(p).unwrap_or(usize::MAX)
}

impl<'i> Reader<'i> {
    /// Checks size and encoding and sets up the reader over quick-xml.
    #[cfg(test)]
    pub(crate) fn new(input: &'i [u8], limits: &XmlLimits) -> Result<Self, XmlError> {
        Self::with_mode(input, limits, ParseMode::Full)
    }

    /// Checks size and encoding and sets up the reader over the given event source.
    pub(crate) fn with_mode(
        input: &'i [u8],
        limits: &XmlLimits,
        mode: ParseMode,
    ) -> Result<Self, XmlError> {
        if input.len() > limits.max_input_bytes {
            return Err(XmlError::TooLarge {
                size: input.len(),
                limit: limits.max_input_bytes,
            });
        }
        let input = std::str::from_utf8(input).map_err(|e| XmlError::NotUtf8 {
            position: e.valid_up_to(),
        })?;
        // NUL is not an XML character anywhere in a document, raw or as `&#0;`; refusing it
        // here keeps every parsed value writable back onto the wire.
        // (`contains` is the word-at-a-time search; the position only on the error path.)
        if input.as_bytes().contains(&0) {
            let position = input.bytes().position(|b| b == 0).unwrap_or(0);
            return Err(XmlError::Syntax {
                position: position as u64,
                message: "NUL character".into(),
            });
        }
        let (base, input) = match input.strip_prefix('\u{feff}') {
            Some(rest) => (3, rest),
            None => (0, input),
        };
        Ok(Reader {
            input,
            base,
            inner: match mode {
                ParseMode::Full => Source::Full(Box::new(NsReader::from_str(input))),
                ParseMode::Fast => Source::Fast(Fast::new(input)),
            },
            limits: *limits,
            depth: 0,
            elements: 0,
            event_start: 0,
        })
    }

    fn syntax(&self, message: String) -> XmlError {
        XmlError::Syntax {
            position: self.inner.error_position(),
            message: message.into(),
        }
    }

    fn eof_inside(&self, element: &str) -> XmlError {
        XmlError::Syntax {
            position: self.inner.buffer_position(),
            message: format!("body ends inside <{element}>").into(),
        }
    }

    fn next_piece(&mut self) -> Result<Piece<'i>, XmlError> {
        match &mut self.inner {
            Source::Fast(_) => self.next_piece_fast(),
            Source::Full(_) => self.next_piece_full(),
        }
    }

    /// The limits every start tag counts against, then the piece.
    fn start_piece(
        &mut self,
        ns: Ns,
        other_ns: Option<Box<str>>,
        local: &'i str,
        empty: bool,
    ) -> Result<Piece<'i>, XmlError> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(XmlError::TooManyElements {
                limit: self.limits.max_elements,
            });
        }
        if self.depth + 1 > self.limits.max_depth {
            return Err(XmlError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        if !empty {
            self.depth += 1;
        }
        Ok(Piece::Start(Elem {
            ns,
            local,
            other_ns,
            empty,
            content_start: pos(self.inner.buffer_position()),
        }))
    }

    fn next_piece_fast(&mut self) -> Result<Piece<'i>, XmlError> {
        let Source::Fast(fast) = &mut self.inner else {
            return Err(self.syntax("not the fast tokenizer".into()));
        };
        let token = fast.next().map_err(|_| XmlError::Syntax {
            position: fast.position() as u64,
            message: "left to the full parser".into(),
        })?;
        // Like quick-xml's loop below: the start of the event returned, after whatever
        // comments and processing instructions were skipped.
        self.event_start = fast.token_start();
        match token {
            Token::Start {
                local,
                uri,
                ns,
                empty,
            } => {
                let other_ns = match (ns, uri) {
                    (Ns::Other, Some(uri)) => Some(Box::from(uri)),
                    _ => None,
                };
                self.start_piece(ns, other_ns, local, empty)
            }
            Token::End => {
                self.depth = self.depth.saturating_sub(1);
                Ok(Piece::End)
            }
            Token::Text(t) => Ok(Piece::Text(t)),
            Token::Eof => Ok(Piece::Eof),
        }
    }

    fn next_piece_full(&mut self) -> Result<Piece<'i>, XmlError> {
        loop {
            let start = pos(self.inner.buffer_position());
            self.event_start = start;
            let Source::Full(inner) = &mut self.inner else {
                return Err(self.syntax("not quick-xml".into()));
            };
            let event = match inner.read_event() {
                Ok(event) => event,
                Err(e) => return Err(self.syntax(e.to_string())),
            };
            match event {
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let empty = matches!(event, Event::Empty(_));
                    let qlen = e.name().0.len();
                    // The tag starts at `<`: take the name from the input to keep its lifetime.
                    let qname = self
                        .input
                        .get(start + 1..start + 1 + qlen)
                        .filter(|q| *q == e.name().0)
                        .ok_or_else(|| self.syntax("cannot locate tag name".into()))?;
                    // quick-xml is lenient about what a name may contain (`r:a:"b`); refuse
                    // what no XML writer could put back: a QName is `NCName (':' NCName)?`.
                    let (prefix, local) = qname.split_once(':').unwrap_or(("a", qname));
                    if !is_ncname(prefix) || !is_ncname(local) {
                        return Err(self.syntax(format!("invalid element name <{qname}>")));
                    }
                    let Source::Full(inner) = &self.inner else {
                        return Err(self.syntax("not quick-xml".into()));
                    };
                    let (ns, other_ns) = match inner.resolver().resolve_element(e.name()).0 {
                        ResolveResult::Bound(Namespace(uri)) => {
                            // The resolver hands out the attribute value still escaped.
                            let uri = quick_xml::escape::unescape(uri)
                                .map_err(|_| XmlError::Entity(uri.into()))?;
                            match classify(&uri) {
                                Ns::Other => (Ns::Other, Some(Box::from(&*uri))),
                                ns => (ns, None),
                            }
                        }
                        ResolveResult::Unbound => (Ns::None, None),
                        ResolveResult::Unknown(_) => {
                            return Err(XmlError::UnboundPrefix(qname.into()));
                        }
                    };
                    return self.start_piece(ns, other_ns, local, empty);
                }
                Event::End(_) => {
                    self.depth = self.depth.saturating_sub(1);
                    return Ok(Piece::End);
                }
                Event::Text(t) => return Ok(Piece::Text(t.into_inner())),
                Event::CData(c) => return Ok(Piece::Text(c.into_inner())),
                Event::GeneralRef(r) => {
                    let resolved: Cow<'i, str> = match r.resolve_char_ref() {
                        Ok(Some(c)) => Cow::Owned(c.to_string()),
                        Ok(None) => Cow::Borrowed(match &*r {
                            "lt" => "<",
                            "gt" => ">",
                            "amp" => "&",
                            "apos" => "'",
                            "quot" => "\"",
                            other => return Err(XmlError::Entity(other.into())),
                        }),
                        Err(_) => return Err(XmlError::Entity((*r).into())),
                    };
                    return Ok(Piece::Text(resolved));
                }
                Event::DocType(_) => return Err(XmlError::DocType),
                Event::Eof => return Ok(Piece::Eof),
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            }
        }
    }

    /// Reads up to the root element and checks its name.
    pub(crate) fn root(
        &mut self,
        ns: Ns,
        local: &str,
        name: &'static str,
    ) -> Result<Elem<'i>, XmlError> {
        self.root_any(name, |e| e.is(ns, local))
    }

    /// Reads up to the root element and checks it with `accept`.
    pub(crate) fn root_any(
        &mut self,
        name: &'static str,
        accept: impl Fn(&Elem<'_>) -> bool,
    ) -> Result<Elem<'i>, XmlError> {
        loop {
            match self.next_piece()? {
                Piece::Start(e) if accept(&e) => return Ok(e),
                Piece::Start(e) => {
                    return Err(XmlError::WrongRoot {
                        expected: name,
                        found: e.local.into(),
                    });
                }
                Piece::Text(t) if is_blank(&t) => {}
                Piece::Text(_) | Piece::End => return Err(XmlError::OutsideRoot { root: name }),
                Piece::Eof => return Err(XmlError::NoRoot { expected: name }),
            }
        }
    }

    /// Checks that nothing but whitespace, comments and PIs follow the root.
    pub(crate) fn finish(&mut self, name: &'static str) -> Result<(), XmlError> {
        loop {
            match self.next_piece()? {
                Piece::Eof => return Ok(()),
                Piece::Text(t) if is_blank(&t) => {}
                _ => return Err(XmlError::OutsideRoot { root: name }),
            }
        }
    }

    /// The next child element of `parent`, or `None` once its end tag is read. Text between
    /// children is ignored. Call until it returns `None`, and consume every returned child
    /// (with [`Reader::skip`], [`Reader::text`]…) before asking for the next one.
    pub(crate) fn next_child(
        &mut self,
        parent: &Elem<'_>,
        name: &'static str,
    ) -> Result<Option<Elem<'i>>, XmlError> {
        if parent.empty {
            return Ok(None);
        }
        loop {
            match self.next_piece()? {
                Piece::Start(e) => return Ok(Some(e)),
                Piece::End => return Ok(None),
                Piece::Text(_) => {}
                Piece::Eof => return Err(self.eof_inside(name)),
            }
        }
    }

    /// Consumes the rest of `elem`.
    pub(crate) fn skip(&mut self, elem: &Elem<'_>) -> Result<(), XmlError> {
        if elem.empty {
            return Ok(());
        }
        let mut level = 1usize;
        loop {
            match self.next_piece()? {
                Piece::Start(e) if !e.empty => level += 1,
                Piece::End => {
                    level -= 1;
                    if level == 0 {
                        return Ok(());
                    }
                }
                Piece::Start(_) | Piece::Text(_) => {}
                Piece::Eof => return Err(self.eof_inside(elem.local)),
            }
        }
    }

    fn check_text(&self, len: usize, name: &'static str) -> Result<(), XmlError> {
        if len > self.limits.max_text_bytes {
            return Err(XmlError::TextTooLong {
                element: name,
                limit: self.limits.max_text_bytes,
            });
        }
        Ok(())
    }

    /// The content of `elem`: text (concatenated, untrimmed) or, if it has child elements,
    /// its raw source.
    pub(crate) fn content(
        &mut self,
        elem: &Elem<'_>,
        name: &'static str,
    ) -> Result<Content<'i>, XmlError> {
        if elem.empty {
            return Ok(Content::Text(Cow::Borrowed("")));
        }
        let mut acc: Cow<'i, str> = Cow::Borrowed("");
        loop {
            match self.next_piece()? {
                Piece::Text(t) => self.append_text(&mut acc, t, name)?,
                Piece::End => return Ok(Content::Text(acc)),
                Piece::Start(child) => {
                    self.skip(&child)?;
                    let raw = self.raw_rest(elem, name)?;
                    return Ok(Content::Mixed(raw));
                }
                Piece::Eof => return Err(self.eof_inside(name)),
            }
        }
    }

    /// Appends one text or CDATA piece to `acc` (borrowing while there is only one piece)
    /// and checks the text-size limit.
    fn append_text(
        &self,
        acc: &mut Cow<'i, str>,
        piece: Cow<'i, str>,
        name: &'static str,
    ) -> Result<(), XmlError> {
        if acc.is_empty() {
            *acc = piece;
        } else {
            acc.to_mut().push_str(&piece);
        }
        self.check_text(acc.len(), name)
    }

    /// The text of `elem` (child elements skipped), concatenated and untrimmed, with the
    /// byte range of the element's content in the input.
    pub(crate) fn text_range(
        &mut self,
        elem: &Elem<'_>,
        name: &'static str,
    ) -> Result<(Cow<'i, str>, Range<usize>), XmlError> {
        if elem.empty {
            let at = self.base + elem.content_start;
            return Ok((Cow::Borrowed(""), at..at));
        }
        let mut acc: Cow<'i, str> = Cow::Borrowed("");
        loop {
            match self.next_piece()? {
                Piece::Text(t) => self.append_text(&mut acc, t, name)?,
                Piece::End => {
                    return Ok((
                        acc,
                        self.base + elem.content_start..self.base + self.event_start,
                    ));
                }
                Piece::Start(child) => self.skip(&child)?,
                Piece::Eof => return Err(self.eof_inside(name)),
            }
        }
    }

    /// The trimmed text of `elem` and its first child element (children skipped).
    pub(crate) fn text_and_child(
        &mut self,
        elem: &Elem<'_>,
        name: &'static str,
    ) -> Result<(String, Option<Elem<'i>>), XmlError> {
        if elem.empty {
            return Ok((String::new(), None));
        }
        let mut acc = String::new();
        let mut first = None;
        loop {
            match self.next_piece()? {
                Piece::Text(t) => {
                    acc.push_str(&t);
                    self.check_text(acc.len(), name)?;
                }
                Piece::End => return Ok((trim(&acc).to_owned(), first)),
                Piece::Start(child) => {
                    self.skip(&child)?;
                    if first.is_none() {
                        first = Some(child);
                    }
                }
                Piece::Eof => return Err(self.eof_inside(name)),
            }
        }
    }

    /// The trimmed text of `elem` (child elements skipped), owned.
    pub(crate) fn text(&mut self, elem: &Elem<'_>, name: &'static str) -> Result<String, XmlError> {
        let (t, _) = self.text_range(elem, name)?;
        Ok(trim(&t).to_owned())
    }

    /// A trimmed text holding a number of seconds.
    pub(crate) fn seconds(&mut self, elem: &Elem<'_>, name: &'static str) -> Result<u32, XmlError> {
        let (t, _) = self.text_range(elem, name)?;
        let t = trim(&t);
        t.parse().map_err(|_| XmlError::InvalidNumber {
            element: name,
            value: t.into(),
        })
    }

    /// The raw source of `elem`'s content, consuming it.
    pub(crate) fn raw_inner(
        &mut self,
        elem: &Elem<'_>,
        name: &'static str,
    ) -> Result<&'i str, XmlError> {
        if elem.empty {
            return Ok("");
        }
        self.raw_rest(elem, name)
    }

    /// The raw source of `elem`'s content once [`Reader::next_child`] has returned `None`
    /// for it (its end tag was the last event read).
    pub(crate) fn raw_consumed(
        &mut self,
        elem: &Elem<'_>,
        name: &'static str,
    ) -> Result<&'i str, XmlError> {
        if elem.empty {
            return Ok("");
        }
        let raw = self
            .input
            .get(elem.content_start..self.event_start)
            .ok_or_else(|| self.syntax("cannot locate element content".into()))?;
        self.check_text(raw.len(), name)?;
        Ok(raw)
    }

    /// The raw source of `elem`'s content, read from inside it (children before the current
    /// position already consumed) up to its end tag.
    pub(crate) fn raw_rest(
        &mut self,
        elem: &Elem<'_>,
        name: &'static str,
    ) -> Result<&'i str, XmlError> {
        let mut level = 1usize;
        loop {
            match self.next_piece()? {
                Piece::Start(e) if !e.empty => level += 1,
                Piece::End => {
                    level -= 1;
                    if level == 0 {
                        let raw = self
                            .input
                            .get(elem.content_start..self.event_start)
                            .ok_or_else(|| self.syntax("cannot locate element content".into()))?;
                        self.check_text(raw.len(), name)?;
                        return Ok(raw);
                    }
                }
                Piece::Start(_) | Piece::Text(_) => {}
                Piece::Eof => return Err(self.eof_inside(name)),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn acl_namespace_variants() {
        assert_eq!(classify("http://schemas.microsoft.com/rvp/acl/"), Ns::Acl);
        assert_eq!(classify("http://schemas.Microsoft.com/rvp/acl"), Ns::Acl);
        assert_eq!(classify("http://schemas.microsoft.com/rvp"), Ns::Rvp);
        assert_eq!(classify("DAV:"), Ns::Dav);
        assert_eq!(classify("urn:x"), Ns::Other);
    }

    #[test]
    fn element_names_must_be_qnames() {
        for bad in [&b"<a:b:c/>"[..], b"<a:/>", b"<:a/>", b"<a\"/>", b"<1a/>"] {
            let mut r = Reader::new(bad, &XmlLimits::default()).expect("utf-8");
            assert!(
                matches!(r.next_piece(), Err(XmlError::Syntax { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(is_ncname("mobile-state") && is_ncname("x.y_z") && is_ncname("état"));
    }

    #[test]
    fn nul_is_refused() {
        let err = Reader::new(b"<a>x\0y</a>", &XmlLimits::default()).err();
        assert!(
            matches!(err, Some(XmlError::Syntax { position: 4, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn text_concatenation_and_refs() {
        let src = b"<a xmlns='urn:x'> x&lt;<![CDATA[]]]]><![CDATA[>]]>&#65;&amp; </a>";
        let mut r = Reader::new(src, &XmlLimits::default()).unwrap();
        let root = r.root_any("a", |_| true).unwrap();
        assert_eq!(root.namespace(), "urn:x");
        assert_eq!(r.text(&root, "a").unwrap(), "x<]]>A&");
        r.finish("a").unwrap();
    }

    #[test]
    fn unknown_entity_and_doctype() {
        let mut r = Reader::new(b"<a>&foo;</a>", &XmlLimits::default()).unwrap();
        let root = r.root_any("a", |_| true).unwrap();
        assert!(matches!(r.text(&root, "a"), Err(XmlError::Entity(_))));
        let mut r =
            Reader::new(b"<!DOCTYPE a [<!ENTITY x 'y'>]><a/>", &XmlLimits::default()).unwrap();
        assert_eq!(r.root_any("a", |_| true).unwrap_err(), XmlError::DocType);
    }

    #[test]
    fn bom_and_prolog_typo() {
        let src = "\u{feff}<?xml.version=\"1.0\"?><a>x</a>";
        let mut r = Reader::new(src.as_bytes(), &XmlLimits::default()).unwrap();
        let root = r.root_any("a", |_| true).unwrap();
        let (t, range) = r.text_range(&root, "a").unwrap();
        assert_eq!((&*t, &src[range]), ("x", "x"));
    }

    #[test]
    fn unbound_prefix() {
        let mut r = Reader::new(b"<x:a/>", &XmlLimits::default()).unwrap();
        assert!(matches!(
            r.root_any("a", |_| true),
            Err(XmlError::UnboundPrefix(_))
        ));
    }

    #[test]
    fn raw_inner_source() {
        let src = b"<a><b x='1'>t<c/></b> &amp;</a>";
        let mut r = Reader::new(src, &XmlLimits::default()).unwrap();
        let root = r.root_any("a", |_| true).unwrap();
        assert_eq!(r.raw_inner(&root, "a").unwrap(), "<b x='1'>t<c/></b> &amp;");
    }
}
