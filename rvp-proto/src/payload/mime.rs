//! The generic MIME layer: a header block, one empty line, then the body (PROTOCOL.md §6.2).
//!
//! Lines end with CRLF or with a bare LF (Miranda and Net::RVP both occur). Header names are
//! compared case-insensitively; continuation lines (starting with a space or a tab) are
//! unfolded into the previous header with one space. The order of headers is kept, so that a
//! payload of an unknown kind is written back as it came.
//!
//! The same parser reads the nested header block in the body of an invitation
//! ([`super::invite`]).

use std::borrow::Cow;
use std::fmt::Write as _;

use super::{PayloadError, PayloadLimits};

/// One `Name: value` line of a MIME header block.
///
/// The name keeps the case it was received with; compare with [`MimeHeader::is`]. The value
/// has surrounding white space removed and continuation lines unfolded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MimeHeader {
    /// Header name as received (`Session-Id`, `session-id`...).
    pub name: String,
    /// Header value without the surrounding white space.
    pub value: String,
}

impl MimeHeader {
    /// A header from a name and a value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        MimeHeader {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Whether this header is called `name` (ASCII case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
}

/// A MIME payload split into its header block and its body.
///
/// ```
/// use rvp_proto::payload::{MimePart, PayloadLimits};
///
/// let part = MimePart::parse(
///     "MIME-Version: 1.0\nContent-Type: text/plain\n\nhi",
///     &PayloadLimits::default(),
/// )?;
/// assert_eq!(part.header("content-type"), Some("text/plain"));
/// assert_eq!(part.body, "hi");
/// # Ok::<(), rvp_proto::payload::PayloadError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct MimePart {
    /// The headers, in the order received.
    pub headers: Vec<MimeHeader>,
    /// Everything after the empty line that ends the header block, unchanged (line ends
    /// included). Empty when the text ends inside or right after the header block.
    pub body: String,
}

impl MimePart {
    /// Splits `text` into headers and body, enforcing `limits`.
    ///
    /// A text without an empty line is taken as a header block with an empty body.
    pub fn parse(text: &str, limits: &PayloadLimits) -> Result<MimePart, PayloadError> {
        let (headers, body) = parse_header_block(text, limits)?;
        if body.len() > limits.max_body_len {
            return Err(PayloadError::BodyTooLarge {
                len: body.len(),
                limit: limits.max_body_len,
            });
        }
        Ok(MimePart {
            headers: headers.into_iter().map(RawHeader::into_owned).collect(),
            body: body.to_owned(),
        })
    }

    /// The value of the first header called `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Writes the header block with CRLF line ends, the empty line, and the body.
    ///
    /// Characters a header name may not contain are dropped; values are trimmed and any CR
    /// or LF inside becomes a space, so no value can add a header or end the block early.
    pub fn write(&self) -> String {
        let mut out = String::with_capacity(64 + self.body.len());
        for h in &self.headers {
            write_header(&mut out, &h.name, &h.value);
        }
        out.push_str("\r\n");
        out.push_str(&self.body);
        out
    }
}

/// The value of the first header in `headers` called `name` (ASCII case-insensitive).
pub(crate) fn find_header<'a>(headers: &'a [MimeHeader], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.is(name))
        .map(|h| h.value.as_str())
}

/// A header borrowed from the parsed text (owned only when continuation lines were
/// unfolded into it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawHeader<'t> {
    pub(crate) name: &'t str,
    pub(crate) value: Cow<'t, str>,
}

impl RawHeader<'_> {
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    pub(crate) fn into_owned(self) -> MimeHeader {
        MimeHeader {
            name: self.name.to_owned(),
            value: self.value.into_owned(),
        }
    }
}

/// The value of the first raw header called `name` (ASCII case-insensitive).
pub(crate) fn find_raw<'h>(headers: &'h [RawHeader<'_>], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|h| h.is(name))
        .map(|h| h.value.as_ref())
}

/// Parses a header block up to the first empty line and returns the headers and the rest.
///
/// Enforces `max_headers`, `max_line_len` and `max_header_block_len` (not `max_body_len`:
/// the caller decides what the rest is).
pub(crate) fn parse_header_block<'t>(
    text: &'t str,
    limits: &PayloadLimits,
) -> Result<(Vec<RawHeader<'t>>, &'t str), PayloadError> {
    let mut headers: Vec<RawHeader<'t>> = Vec::new();
    let mut rest = text;
    let mut line_no = 0usize;
    loop {
        if rest.is_empty() {
            return Ok((headers, ""));
        }
        line_no += 1;
        let (line, after) = match rest.find('\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        rest = after;
        if text.len() - rest.len() > limits.max_header_block_len {
            return Err(PayloadError::HeaderBlockTooLarge {
                limit: limits.max_header_block_len,
            });
        }
        if line.len() > limits.max_line_len {
            return Err(PayloadError::LineTooLong {
                line: line_no,
                limit: limits.max_line_len,
            });
        }
        if line.is_empty() {
            return Ok((headers, rest));
        }
        if line.contains('\r') {
            // A bare CR inside a header line: neither a line end nor a valid character.
            return Err(PayloadError::MalformedHeaderLine {
                line: line_no,
                content: excerpt(line),
            });
        }
        if line.starts_with([' ', '\t']) {
            let Some(last) = headers.last_mut() else {
                return Err(PayloadError::ContinuationWithoutHeader { line: line_no });
            };
            let more = line.trim();
            if !more.is_empty() {
                let value = last.value.to_mut();
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(more);
            }
            if last.name.len() + last.value.len() + 2 > limits.max_line_len {
                return Err(PayloadError::LineTooLong {
                    line: line_no,
                    limit: limits.max_line_len,
                });
            }
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(PayloadError::MalformedHeaderLine {
                line: line_no,
                content: excerpt(line),
            });
        };
        let name = name.trim_end();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(PayloadError::MalformedHeaderLine {
                line: line_no,
                content: excerpt(line),
            });
        }
        if headers.len() >= limits.max_headers {
            return Err(PayloadError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        headers.push(RawHeader {
            name,
            value: Cow::Borrowed(value.trim()),
        });
    }
}

/// At most 64 characters of a bad line, for an error message.
fn excerpt(line: &str) -> String {
    line.chars().take(64).collect()
}

/// RFC 2616 token characters (what a header name may contain).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Appends `name: value\r\n` to `out`.
///
/// Characters a header name may not contain are dropped from `name`; surrounding white space
/// is trimmed from `value` and any CR or LF left inside it becomes a space, so that a value
/// can never start a new header or end the header block. (This is exactly what the parser
/// gives back: it trims values the same way.)
pub(crate) fn write_header(out: &mut String, name: &str, value: &str) {
    out.extend(
        name.chars()
            .filter(|c| c.is_ascii() && is_token_byte(*c as u8)),
    );
    out.push_str(": ");
    let clean = value.trim();
    if clean.contains(['\r', '\n']) {
        out.extend(
            clean
                .chars()
                .map(|c| if matches!(c, '\r' | '\n') { ' ' } else { c }),
        );
    } else {
        out.push_str(clean);
    }
    out.push_str("\r\n");
}

/// A `Content-Type` value split into its media type and its parameters, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentType<'v> {
    /// `type/subtype` as written (compare with [`ContentType::is`]).
    pub(crate) media_type: &'v str,
    /// Everything after the first `;`.
    params: &'v str,
}

impl<'v> ContentType<'v> {
    pub(crate) fn parse(value: &'v str) -> ContentType<'v> {
        let (media_type, params) = value.split_once(';').unwrap_or((value, ""));
        ContentType {
            media_type: media_type.trim(),
            params,
        }
    }

    /// Whether the media type is `media_type` (ASCII case-insensitive).
    pub(crate) fn is(&self, media_type: &str) -> bool {
        self.media_type.eq_ignore_ascii_case(media_type)
    }

    /// The value of parameter `name` (case-insensitive), unquoted.
    pub(crate) fn param(&self, name: &str) -> Option<&'v str> {
        self.params.split(';').find_map(|p| {
            let (n, v) = p.split_once('=')?;
            if !n.trim().eq_ignore_ascii_case(name) {
                return None;
            }
            let v = v.trim();
            Some(
                v.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v),
            )
        })
    }
}

/// Formats `type; charset=X` (or just `type`).
pub(crate) fn content_type_value(media_type: &str, charset: Option<&str>) -> String {
    let mut s = String::from(media_type);
    if let Some(cs) = charset {
        // Infallible: writing to a String.
        let _ = write!(s, "; charset={cs}");
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lim() -> PayloadLimits {
        PayloadLimits::default()
    }

    #[test]
    fn crlf_and_lf_give_the_same_part() {
        let a = MimePart::parse("A: 1\r\nB: 2\r\n\r\nbody\r\n", &lim()).unwrap();
        let b = MimePart::parse("A: 1\nB: 2\n\nbody\r\n", &lim()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.body, "body\r\n");
        assert_eq!(a.headers[1], MimeHeader::new("B", "2"));
    }

    #[test]
    fn names_are_case_insensitive_and_order_is_kept() {
        let p = MimePart::parse("session-ID: x\r\nContent-type: y\r\n\r\n", &lim()).unwrap();
        assert_eq!(p.header("Session-Id"), Some("x"));
        assert_eq!(p.header("CONTENT-TYPE"), Some("y"));
        assert_eq!(p.headers[0].name, "session-ID");
    }

    #[test]
    fn continuation_lines_are_unfolded() {
        let p = MimePart::parse("A: one\r\n  two\r\n\tthree\r\nB: x\r\n\r\n", &lim()).unwrap();
        assert_eq!(p.header("a"), Some("one two three"));
        assert_eq!(p.header("b"), Some("x"));
    }

    #[test]
    fn continuation_first_is_an_error() {
        let e = MimePart::parse(" A: 1\r\n\r\n", &lim()).unwrap_err();
        assert_eq!(e, PayloadError::ContinuationWithoutHeader { line: 1 });
    }

    #[test]
    fn line_without_colon_is_named() {
        let e =
            MimePart::parse("MIME-Version: 1.0\r\nMIME-Version 1.0\r\n\r\n", &lim()).unwrap_err();
        assert_eq!(
            e,
            PayloadError::MalformedHeaderLine {
                line: 2,
                content: "MIME-Version 1.0".into()
            }
        );
    }

    #[test]
    fn bare_cr_in_a_header_is_an_error() {
        let e = MimePart::parse("A: 1\r2\r\n\r\n", &lim()).unwrap_err();
        assert!(matches!(
            e,
            PayloadError::MalformedHeaderLine { line: 1, .. }
        ));
        let e = MimePart::parse("A: 1\r\n 2\r3\r\n\r\n", &lim()).unwrap_err();
        assert!(matches!(
            e,
            PayloadError::MalformedHeaderLine { line: 2, .. }
        ));
    }

    #[test]
    fn no_empty_line_means_empty_body() {
        let p = MimePart::parse("A: 1\r\nB: 2", &lim()).unwrap();
        assert_eq!(p.headers.len(), 2);
        assert_eq!(p.body, "");
    }

    #[test]
    fn write_sanitises_injection() {
        let part = MimePart {
            headers: vec![MimeHeader::new("X:Y\r\n", "a\r\nEvil: 1")],
            body: String::new(),
        };
        assert_eq!(part.write(), "XY: a  Evil: 1\r\n\r\n");
    }

    #[test]
    fn content_type_params() {
        let ct = ContentType::parse("Text/Plain; Charset=\"UTF-8\" ; x=y");
        assert!(ct.is("text/plain"));
        assert_eq!(ContentType::parse("a/b").param("charset"), None);
        assert_eq!(ct.param("charset"), Some("UTF-8"));
        assert_eq!(ct.param("x"), Some("y"));
    }
}
