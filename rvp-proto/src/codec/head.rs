//! What request and response parsing share: header indexing, framing headers, body
//! delimiting.

use super::{Limits, ParseError};

/// Where one header line sits in the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawHeader {
    name: (usize, usize),
    value: (usize, usize),
}

impl RawHeader {
    /// Where httparse's `h` sits in `buf`.
    #[inline]
    pub(crate) fn locate(buf: &[u8], h: &httparse::Header<'_>) -> RawHeader {
        RawHeader {
            name: range_in(buf, h.name.as_bytes()),
            value: range_in(buf, h.value),
        }
    }
}

/// Byte range of `part` inside `buf`; `(0, 0)` for empty parts or parts not in `buf`.
fn range_in(buf: &[u8], part: &[u8]) -> (usize, usize) {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if !part.is_empty() && end <= buf.len() => (start, end),
        _ => (0, 0),
    }
}

/// The headers of a parsed message: a zero-copy view into the caller's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'p, 'b> {
    buf: &'b [u8],
    idx: &'p [RawHeader],
}

impl<'p, 'b> Headers<'p, 'b> {
    pub(crate) fn new(buf: &'b [u8], idx: &'p [RawHeader]) -> Self {
        Headers { buf, idx }
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.idx.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }

    /// All header lines in wire order, as `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&'b str, &'b [u8])> + '_ {
        let buf = self.buf;
        self.idx.iter().map(move |h| {
            let name = std::str::from_utf8(&buf[h.name.0..h.name.1]).unwrap_or("");
            (name, &buf[h.value.0..h.value.1])
        })
    }

    /// All header lines as raw `(name, value)` bytes (no UTF-8 check of the name).
    pub(crate) fn iter_raw(&self) -> impl Iterator<Item = (&'b [u8], &'b [u8])> + '_ {
        let buf = self.buf;
        self.idx
            .iter()
            .map(move |h| (&buf[h.name.0..h.name.1], &buf[h.value.0..h.value.1]))
    }

    /// The value of the first header called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'b [u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
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
    let mut framing = Framing::default();
    for (i, h) in headers.iter().enumerate() {
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
                framing.host = out.get(i).map(|r| r.value);
            }
            _ => {}
        }
    }
    Ok(framing)
}

pub(crate) fn parse_content_length(v: &[u8]) -> Result<usize, ParseError> {
    let t = v.trim_ascii();
    let bad = || ParseError::InvalidContentLength(String::from_utf8_lossy(v).into_owned());
    if t.is_empty() || t.len() > 19 || !t.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    t.iter()
        .try_fold(0usize, |n, &b| {
            n.checked_mul(10)?.checked_add(usize::from(b - b'0'))
        })
        .ok_or_else(bad)
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
