//! What request and response parsing share: header access, framing headers, body
//! delimiting.

use super::{Limits, ParseError};

/// Where one header line sits in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawHeader {
    name: (usize, usize),
    value: (usize, usize),
}

/// Byte range of `part` inside `buf`; `(0, 0)` for empty parts or parts not in `buf`.
fn range_in(buf: &[u8], part: &[u8]) -> (usize, usize) {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if !part.is_empty() && end <= buf.len() => (start, end),
        _ => (0, 0),
    }
}

/// Where the header lines of a request start in `buf` (0 when there are none).
pub(crate) fn headers_start(buf: &[u8], headers: &[httparse::Header<'_>]) -> usize {
    headers
        .first()
        .map_or(0, |h| range_in(buf, h.name.as_bytes()).0)
}

/// The headers of a parsed message: a zero-copy view into the caller's buffer.
///
/// Request headers are not indexed while parsing (that would cost more than typing them):
/// the header lines, already validated by the parser, are re-split on demand, so
/// [`Headers::iter`] and [`Headers::get`] scan the head (a few hundred bytes).
#[derive(Debug, Clone, Copy)]
pub struct Headers<'p, 'b> {
    buf: &'b [u8],
    repr: Repr<'p>,
}

#[derive(Debug, Clone, Copy)]
enum Repr<'p> {
    /// Positions recorded while parsing.
    Indexed(&'p [RawHeader]),
    /// `len` validated header lines starting at `buf[start..]`.
    Lines { start: usize, len: usize },
}

/// Iterator over raw `(name, value)` header pairs.
#[derive(Debug, Clone)]
pub(crate) struct RawIter<'p, 'b> {
    buf: &'b [u8],
    repr: Repr<'p>,
}

impl<'b> Iterator for RawIter<'_, 'b> {
    type Item = (&'b [u8], &'b [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.repr {
            Repr::Indexed(idx) => {
                let (h, rest) = idx.split_first()?;
                *idx = rest;
                Some((slice(self.buf, h.name), slice(self.buf, h.value)))
            }
            Repr::Lines { start, len } => {
                if *len == 0 {
                    return None;
                }
                let (name, value, next) = split_line(self.buf, *start)?;
                *start = next;
                *len -= 1;
                Some((name, value))
            }
        }
    }
}

/// Splits the (validated) header line starting at `buf[start]` the way httparse does:
/// name up to `:`, value without the surrounding spaces, tabs and line ending. Returns the
/// name, the value and where the next line starts; `None` if there is no such line.
fn split_line(buf: &[u8], start: usize) -> Option<(&[u8], &[u8], usize)> {
    let line = buf.get(start..)?;
    let colon = find_byte(line, b':')?;
    let lf = colon + find_byte(&line[colon..], b'\n')?;
    Some((
        &line[..colon],
        trim_value(&line[colon + 1..lf]),
        start + lf + 1,
    ))
}

/// The position of the first `needle` in `hay`, eight bytes at a time (SWAR).
#[inline]
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = LO * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word) ^ pattern;
        // Non-zero exactly when some byte of `x` is zero, i.e. the chunk holds `needle`.
        if x.wrapping_sub(LO) & !x & HI != 0 {
            return chunk.iter().position(|&b| b == needle).map(|i| offset + i);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| offset + i)
}

/// Trims spaces, tabs and carriage returns around a header value (httparse's rule for the
/// values it returns).
fn trim_value(v: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(*b, b' ' | b'\t' | b'\r');
    let start = v.iter().position(|b| !ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

impl<'p, 'b> Headers<'p, 'b> {
    pub(crate) fn new(buf: &'b [u8], idx: &'p [RawHeader]) -> Self {
        Headers {
            buf,
            repr: Repr::Indexed(idx),
        }
    }

    /// `len` header lines, validated by httparse, starting at `buf[start..]`.
    pub(crate) fn lines(buf: &'b [u8], start: usize, len: usize) -> Self {
        Headers {
            buf,
            repr: Repr::Lines { start, len },
        }
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        match self.repr {
            Repr::Indexed(idx) => idx.len(),
            Repr::Lines { len, .. } => len,
        }
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All header lines in wire order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> + '_ {
        self.iter_raw()
            .map(|(n, v)| (std::str::from_utf8(n).unwrap_or(""), v))
    }

    /// All header lines as raw `(name, value)` bytes (no UTF-8 check of the name).
    pub(crate) fn iter_raw(&self) -> RawIter<'p, 'b> {
        RawIter {
            buf: self.buf,
            repr: self.repr,
        }
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'b [u8]> {
        // Compared as bytes: a header name is a token (ASCII) once framed, so this is the
        // text comparison without checking each name as UTF-8 on the way.
        self.iter_raw()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The value of the first header called `name` as text (`None` if absent or not UTF-8).
    pub fn get_str(&self, name: &str) -> Option<&'b str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Copies the headers into an [`http::HeaderMap`].
    pub fn to_header_map(&self) -> Result<http::HeaderMap, ParseError> {
        let mut map = http::HeaderMap::with_capacity(self.len());
        for (name, value) in self.iter() {
            let n = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ParseError::Http(format!("invalid header name {name:?}")))?;
            let v = http::HeaderValue::from_bytes(value)
                .map_err(|_| ParseError::Http(format!("invalid value of header {name}")))?;
            map.append(n, v);
        }
        Ok(map)
    }
}

/// Framing facts gathered while indexing the headers.
#[derive(Debug, Default)]
pub(crate) struct Framing {
    pub(crate) content_length: Option<usize>,
    pub(crate) host: Option<(usize, usize)>,
}

/// Indexes `headers` into `out` and extracts the framing headers.
pub(crate) fn index_headers(
    buf: &[u8],
    headers: &[httparse::Header<'_>],
    out: &mut Vec<RawHeader>,
) -> Result<Framing, ParseError> {
    out.clear();
    out.extend(headers.iter().map(|h| RawHeader {
        name: range_in(buf, h.name.as_bytes()),
        value: range_in(buf, h.value),
    }));
    framing(buf, headers)
}

/// Extracts the framing headers (`Content-Length`, `Transfer-Encoding`, `Host`).
pub(crate) fn framing(buf: &[u8], headers: &[httparse::Header<'_>]) -> Result<Framing, ParseError> {
    let mut framing = Framing::default();
    for h in headers {
        let name = h.name.as_bytes();
        // Only three names matter for framing; dispatch on length first.
        match name.len() {
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let n = parse_content_length(h.value)?;
                match framing.content_length {
                    Some(old) if old != n => return Err(ParseError::ConflictingContentLength),
                    _ => framing.content_length = Some(n),
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                return Err(ParseError::TransferEncoding(
                    String::from_utf8_lossy(h.value).into_owned(),
                ));
            }
            4 if framing.host.is_none() && name.eq_ignore_ascii_case(b"host") => {
                framing.host = Some(range_in(buf, h.value));
            }
            _ => {}
        }
    }
    Ok(framing)
}

/// `Content-Length`: 1 to 19 decimal digits (surrounding ASCII whitespace ignored) that fit
/// in a `usize`.
#[inline]
pub(crate) fn parse_content_length(v: &[u8]) -> Result<usize, ParseError> {
    let t = v.trim_ascii();
    // 19 digits always fit in a u64; the conversion to usize checks 32-bit targets.
    let mut n: u64 = 0;
    let digits = !t.is_empty()
        && t.len() <= 19
        && t.iter().all(|&b| {
            let d = b.wrapping_sub(b'0');
            n = n.wrapping_mul(10).wrapping_add(u64::from(d));
            d <= 9
        });
    match usize::try_from(n) {
        Ok(n) if digits => Ok(n),
        _ => Err(ParseError::InvalidContentLength(
            String::from_utf8_lossy(v).into_owned(),
        )),
    }
}

/// Maps an httparse error to ours.
pub(crate) fn syntax_error(e: httparse::Error, limits: &Limits) -> ParseError {
    let what = match e {
        httparse::Error::TooManyHeaders => {
            return ParseError::TooManyHeaders {
                limit: limits.header_slots(),
            };
        }
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid method or target",
        httparse::Error::Version => "invalid HTTP version",
    };
    ParseError::Syntax(what)
}

/// The part of `buf` the head parser may look at.
pub(crate) fn head_window<'b>(buf: &'b [u8], limits: &Limits) -> &'b [u8] {
    &buf[..buf.len().min(limits.max_head_bytes)]
}

/// Called when the head parser says `Partial`.
pub(crate) fn partial_head(buf: &[u8], limits: &Limits) -> Result<(), ParseError> {
    if buf.len() >= limits.max_head_bytes {
        Err(ParseError::HeadTooLarge {
            limit: limits.max_head_bytes,
        })
    } else {
        Ok(())
    }
}

/// Checks a declared body length against the limit.
pub(crate) fn check_body_len(len: usize, limits: &Limits) -> Result<(), ParseError> {
    if len > limits.max_body_bytes {
        Err(ParseError::BodyTooLarge {
            length: len,
            limit: limits.max_body_bytes,
        })
    } else {
        Ok(())
    }
}

pub(crate) fn slice(buf: &[u8], r: (usize, usize)) -> &[u8] {
    &buf[r.0..r.1]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{RequestParser, Status};
    use proptest::prelude::*;

    /// What httparse itself returns for the headers of `buf` (if it is a complete head).
    fn httparse_headers(buf: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut slots);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(_)) => Some(
                req.headers
                    .iter()
                    .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Asserts that the lazily split header lines are httparse's headers, for both parsers.
    fn check(buf: &[u8]) -> Result<(), TestCaseError> {
        let Some(expected) = httparse_headers(buf) else {
            return Ok(());
        };
        let mut p = RequestParser::default();
        if let Ok(Status::Complete(m)) = p.parse(buf) {
            let got: Vec<_> = m
                .head()
                .headers()
                .iter_raw()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect();
            prop_assert_eq!(&got, &expected);
            prop_assert_eq!(m.head().headers().len(), expected.len());
        }
        if let Ok(Status::Complete(m)) = p.parse_typed(buf) {
            let got: Vec<_> = m
                .head()
                .headers()
                .iter_raw()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect();
            prop_assert_eq!(&got, &expected);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn content_length_is_trimmed_digits(v in "[ \t]{0,2}[0-9]{0,21}[ x\t]{0,2}") {
            let t = v.trim_ascii();
            let want = if !t.is_empty() && t.len() <= 19 && t.bytes().all(|b| b.is_ascii_digit()) {
                t.parse::<usize>().ok()
            } else {
                None
            };
            prop_assert_eq!(super::parse_content_length(v.as_bytes()).ok(), want);
        }

        #[test]
        fn find_byte_is_position(hay in proptest::collection::vec(any::<u8>(), 0..40), needle in any::<u8>()) {
            prop_assert_eq!(super::find_byte(&hay, needle), hay.iter().position(|&b| b == needle));
            prop_assert_eq!(super::find_byte(&hay, b'\n'), hay.iter().position(|&b| b == b'\n'));
        }
    }

    #[test]
    fn header_lines_edge_cases() {
        for wire in [
            &b"NOTIFY / HTTP/1.1\r\n\r\n"[..],
            b"\r\n\nNOTIFY / HTTP/1.1\r\nA: 1\r\n\r\n",
            b"NOTIFY / HTTP/1.1\nA:\nB: \t \r\nC:x\nD: a b \t\r\nE: :x:\r\n\n",
            b"NOTIFY / HTTP/1.1\r\nA: caf\xc3\xa9 \xff\r\nB:\t\tv\t\r\n\r\nbody: x\r\n",
        ] {
            check(wire).unwrap();
        }
    }

    proptest! {
        /// Header lines with every kind of spacing, line ending, empty and non-ASCII values.
        #[test]
        fn header_lines_are_httparse_headers(
            lead in "(\r?\n){0,2}",
            lines in proptest::collection::vec(
                ("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", "[ \t]{0,3}", "[ -~\t\u{80}-\u{ff}]{0,16}", "[ \t]{0,3}", "\r?\n"),
                0..10,
            ),
            end in "\r?\n",
        ) {
            let mut wire = format!("{lead}NOTIFY /instmsg/aliases/a HTTP/1.1\r\n").into_bytes();
            for (n, pre, v, post, eol) in &lines {
                wire.extend_from_slice(format!("{n}:{pre}{v}{post}{eol}").as_bytes());
            }
            wire.extend_from_slice(end.as_bytes());
            check(&wire)?;
        }

        /// Arbitrary bytes after a valid request line.
        #[test]
        fn arbitrary_header_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut wire = b"NOTIFY / HTTP/1.1\r\n".to_vec();
            wire.extend_from_slice(&bytes);
            wire.extend_from_slice(b"\r\n\r\n");
            check(&wire)?;
        }
    }
}
