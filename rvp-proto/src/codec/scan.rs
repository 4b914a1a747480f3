//! The request-head scanner behind [`RequestParser::parse_typed`](super::RequestParser::parse_typed).
//!
//! It frames a request head exactly as httparse 1.x does with its default configuration
//! (same `Complete` / `Partial` / error outcome, same error kind, same head length, same
//! method, target, version and header lines) and hands every header line to the caller the
//! moment its end is found, so that a head is read once and typed while it is read.
//! httparse remains the reference: [`RequestParser::parse`](super::RequestParser::parse)
//! uses it, and the two are compared on arbitrary bytes by the `head_scan` fuzz target and
//! by `tests/head_scan.rs`.
//!
//! The grammar, as httparse applies it to a request:
//!
//! ```text
//! head    = *( CRLF / LF ) method SP target SP version EOL *( field EOL ) EOL
//! method  = 1*tchar
//! target  = 1*( %x21-7E / %x80-FF )         ; and valid UTF-8
//! version = "HTTP/1.0" / "HTTP/1.1"
//! field   = 1*tchar ":" *( SP / HTAB ) value
//! value   = *( HTAB / %x20-7E / %x80-FF )   ; trailing SP / HTAB are not part of it
//! EOL     = CRLF / LF
//! ```
//!
//! Outcomes: running out of bytes anywhere is `Partial` (for the version: as long as the
//! bytes so far are a prefix of `HTTP/1.`); a CR not followed by LF is `NewLine` (between
//! lines) or `HeaderValue` (ending a field); a bad byte is `Token` in the method or target
//! (also an empty or non-UTF-8 target), `Version` in the version, `NewLine` after it,
//! `HeaderName` where a field name is expected or in it, `HeaderValue` in a value. A field
//! line that is complete when all `slots` are used is `TooManyHeaders`.
//!
//! Value, target and name bytes are checked eight at a time in a `u64` (SWAR); a byte the
//! word test cannot decide (a tab in a value, `_` in a name...) is looked up in a table.

use super::Status;
use crate::header::{RvpField, name_eq};

/// Why scanning stopped before the end of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// More bytes are needed.
    Partial,
    /// The bytes are not a request head.
    Invalid(httparse::Error),
}

type Step<T> = Result<T, Stop>;

/// A request head framed by [`scan`]: the start line and where the header lines are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head<'b> {
    pub(crate) method: &'b str,
    pub(crate) target: &'b str,
    pub(crate) minor_version: u8,
    /// Where the first header line starts (meaningless when there are none).
    pub(crate) headers_start: usize,
    /// Number of header lines.
    pub(crate) headers_len: usize,
    /// Length of the head, blank line included.
    pub(crate) head_len: usize,
}

/// What a header line is, as far as framing and typing care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    ContentLength,
    TransferEncoding,
    Host,
    Connection,
    Authorization,
    Rvp(RvpField),
    Other,
}

impl Field {
    /// The field called `name` (case-insensitive).
    #[inline]
    pub(crate) fn from_name(name: &[u8]) -> Field {
        match name.len() {
            14 if name_eq(name, b"content-length") => Field::ContentLength,
            17 if name_eq(name, b"transfer-encoding") => Field::TransferEncoding,
            4 if name_eq(name, b"host") => Field::Host,
            10 if name_eq(name, b"connection") => Field::Connection,
            13 if name_eq(name, b"authorization") => Field::Authorization,
            _ => RvpField::from_name(name).map_or(Field::Other, Field::Rvp),
        }
    }
}

/// Receives each header line of a head as soon as the scanner has found it.
pub(crate) trait OnHeader<'b> {
    /// One complete, counted header line: what it is, its name and its value (without the
    /// surrounding spaces and tabs, as httparse gives it).
    fn header(&mut self, field: Field, name: &'b [u8], value: &'b [u8]);
}

/// Eight bytes of a known field name (with its colon) to compare with the word at `at`:
/// the word matches when `(word | fold) & keep == want` (`fold` sets the case bit of
/// letters, `keep` drops the bytes after a name shorter than eight bytes).
#[derive(Debug, Clone, Copy)]
struct Chunk {
    at: usize,
    fold: u64,
    keep: u64,
    want: u64,
}

/// A field name the scanner recognises without scanning it byte by byte.
#[derive(Debug, Clone, Copy)]
struct KnownName {
    field: Field,
    /// Length of the name, colon included.
    len: usize,
    chunks: [Chunk; 4],
    used: usize,
}

impl KnownName {
    /// `lower`: the lower-case name followed by `:` (letters, digits and `-`; 2 to 32
    /// bytes).
    const fn new(field: Field, lower: &[u8]) -> KnownName {
        let len = lower.len();
        assert!(len >= 2 && len <= 32);
        let used = if len <= 8 { 1 } else { len.div_ceil(8) };
        let mut chunks = [Chunk {
            at: 0,
            fold: 0,
            keep: 0,
            want: 0,
        }; 4];
        let mut c = 0;
        while c < used {
            // The last chunk of a long name ends with the colon (it may overlap the one before).
            let at = if len > 8 && c == used - 1 {
                len - 8
            } else {
                c * 8
            };
            let mut k = 0;
            while k < 8 {
                if at + k < len {
                    let b = lower[at + k];
                    assert!(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b':');
                    let shift = 8 * k;
                    chunks[c].keep |= 0xFF << shift;
                    chunks[c].want |= (b as u64) << shift;
                    if b.is_ascii_lowercase() {
                        chunks[c].fold |= 0x20 << shift;
                    }
                }
                k += 1;
            }
            chunks[c].at = at;
            c += 1;
        }
        KnownName {
            field,
            len,
            chunks,
            used,
        }
    }

    /// Whether the line at `buf[i..]` starts with this name and its colon (in any case).
    #[inline(always)]
    fn matches(&self, buf: &[u8], i: usize) -> bool {
        let mut c = 0;
        while c < self.used {
            let chunk = &self.chunks[c];
            match word(buf, i + chunk.at) {
                Some(w) if (w | chunk.fold) & chunk.keep == chunk.want => c += 1,
                _ => return false,
            }
        }
        true
    }
}

const CONTENT_LENGTH: KnownName = KnownName::new(Field::ContentLength, b"content-length:");
const CONTENT_TYPE: KnownName = KnownName::new(Field::Other, b"content-type:");
const CONNECTION: KnownName = KnownName::new(Field::Connection, b"connection:");
const TRANSFER_ENCODING: KnownName = KnownName::new(Field::TransferEncoding, b"transfer-encoding:");
const HOST: KnownName = KnownName::new(Field::Host, b"host:");
const USER_AGENT: KnownName = KnownName::new(Field::Other, b"user-agent:");
const AUTHORIZATION: KnownName = KnownName::new(Field::Authorization, b"authorization:");
const NOTIFICATIONS_VERSION: KnownName = KnownName::new(
    Field::Rvp(RvpField::NotificationsVersion),
    b"rvp-notifications-version:",
);
const FROM_PRINCIPAL: KnownName =
    KnownName::new(Field::Rvp(RvpField::FromPrincipal), b"rvp-from-principal:");
const HOP_COUNT: KnownName = KnownName::new(Field::Rvp(RvpField::HopCount), b"rvp-hop-count:");
const ACK_TYPE: KnownName = KnownName::new(Field::Rvp(RvpField::AckType), b"rvp-ack-type:");
const CALL_BACK: KnownName = KnownName::new(Field::Rvp(RvpField::CallBack), b"call-back:");
const NOTIFICATION_TYPE: KnownName = KnownName::new(
    Field::Rvp(RvpField::NotificationType),
    b"notification-type:",
);
const SUBSCRIPTION_ID: KnownName =
    KnownName::new(Field::Rvp(RvpField::SubscriptionId), b"subscription-id:");
const SUBSCRIPTION_LIFETIME: KnownName = KnownName::new(
    Field::Rvp(RvpField::SubscriptionLifetime),
    b"subscription-lifetime:",
);
const DEPTH: KnownName = KnownName::new(Field::Rvp(RvpField::Depth), b"depth:");

/// The first four bytes of a name, lower-cased, as the low half of a word.
const fn prefix(p: &[u8; 4]) -> u64 {
    u32::from_le_bytes(*p) as u64
}

/// The known field whose name (and colon) starts the line at `buf[i..]`, if any: the
/// field and where its colon is. Such a name is a valid field name, so the byte-wise scan
/// is skipped.
#[inline(always)]
fn known_name(buf: &[u8], i: usize) -> Option<(Field, usize)> {
    const CONT: u64 = prefix(b"cont");
    const CONN: u64 = prefix(b"conn");
    const TRAN: u64 = prefix(b"tran");
    const HOST_: u64 = prefix(b"host");
    const USER: u64 = prefix(b"user");
    const AUTH: u64 = prefix(b"auth");
    const RVP_: u64 = prefix(b"rvp-");
    const CALL: u64 = prefix(b"call");
    const NOTI: u64 = prefix(b"noti");
    const SUBS: u64 = prefix(b"subs");
    const DEPT: u64 = prefix(b"dept");
    // Tries the candidates in order; each compare is a few instructions on constants.
    macro_rules! one_of {
        ($($known:expr),+) => {{
            $(
                if $known.matches(buf, i) {
                    return Some(($known.field, i + $known.len - 1));
                }
            )+
            None
        }};
    }
    let w = word(buf, i)?;
    // A guess from the first four bytes (case bits set); `matches` decides.
    match (w | 0x2020_2020) & 0xFFFF_FFFF {
        CONT => one_of!(CONTENT_LENGTH, CONTENT_TYPE),
        RVP_ => one_of!(NOTIFICATIONS_VERSION, FROM_PRINCIPAL, HOP_COUNT, ACK_TYPE),
        HOST_ => one_of!(HOST),
        SUBS => one_of!(SUBSCRIPTION_ID, SUBSCRIPTION_LIFETIME),
        NOTI => one_of!(NOTIFICATION_TYPE),
        CALL => one_of!(CALL_BACK),
        CONN => one_of!(CONNECTION),
        USER => one_of!(USER_AGENT),
        AUTH => one_of!(AUTHORIZATION),
        DEPT => one_of!(DEPTH),
        TRAN => one_of!(TRANSFER_ENCODING),
        _ => None,
    }
}

/// A byte table built from a predicate, at compile time.
macro_rules! byte_table {
    (|$b:ident| $pred:expr) => {{
        let mut t = [false; 256];
        let mut i: usize = 0;
        while i < 256 {
            let $b = i;
            t[i] = $pred;
            i += 1;
        }
        t
    }};
}

/// `tchar`: the bytes of a method or a header name.
static TCHAR: [bool; 256] = byte_table!(|b| matches!(
    b,
    0x30..=0x39 | 0x41..=0x5A | 0x61..=0x7A
        | 0x21 // !
        | 0x23..=0x27 // # $ % & '
        | 0x2A | 0x2B | 0x2D | 0x2E // * + - .
        | 0x5E | 0x5F | 0x60 // ^ _ `
        | 0x7C | 0x7E // | ~
));

/// Bytes of a request-target.
static TARGET: [bool; 256] = byte_table!(|b| matches!(b, 0x21..=0x7E | 0x80..=0xFF));

/// Bytes of a header value.
static VALUE: [bool; 256] = byte_table!(|b| matches!(b, 0x09 | 0x20..=0x7E | 0x80..=0xFF));

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Flags (high bit) the bytes of `w` below `n` (`n <= 0x80`). The lowest flagged byte is
/// always right; bytes above it may be flagged wrongly (borrows), which callers ignore.
#[inline(always)]
fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// Flags the bytes of `w` equal to `b` (same caveat as [`below`]).
#[inline(always)]
fn equal(w: u64, b: u8) -> u64 {
    below(w ^ (ONES * u64::from(b)), 1)
}

/// Flags the bytes of `w` that are **not** ASCII letters, digits or `-` (the bytes of
/// nearly every real header name). Exact for every byte: no carry crosses a byte.
#[inline(always)]
fn not_name_alnum(w: u64) -> u64 {
    const LOW7: u64 = u64::from_ne_bytes([0x7F; 8]);
    let x = w & LOW7;
    // `x` in `lo..=hi`, per byte: `x + (0x80 - lo)` has the high bit set iff `x >= lo`,
    // `x + (0x7F - hi)` iff `x > hi`; neither sum exceeds 0xFF.
    let within = |x: u64, lo: u8, hi: u8| {
        let ge = x.wrapping_add(ONES * u64::from(0x80 - lo));
        let gt = x.wrapping_add(ONES * u64::from(0x7F - hi));
        ge & !gt & HIGHS
    };
    let ok = within(x, b'0', b'9') | within(x | (ONES * 0x20), b'a', b'z') | within(x, b'-', b'-');
    // Bytes with the high bit set are never name bytes.
    (!ok | w) & HIGHS
}

/// The eight bytes at `buf[i..]` as a little-endian word (first byte lowest).
#[inline(always)]
fn word(buf: &[u8], i: usize) -> Option<u64> {
    let chunk = buf.get(i..)?.first_chunk::<8>()?;
    Some(u64::from_le_bytes(*chunk))
}

/// The end of the run of `ok` bytes starting at `buf[i]`: the index of the first byte that
/// is not `ok`, or `buf.len()`. `stop` flags, in a word, at least every byte that is not
/// `ok` (it may flag more: a flagged byte is checked against `ok`).
#[inline(always)]
fn run_end(buf: &[u8], mut i: usize, stop: impl Fn(u64) -> u64, ok: &[bool; 256]) -> usize {
    loop {
        while let Some(w) = word(buf, i) {
            let flags = stop(w);
            if flags != 0 {
                i += (flags.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match buf.get(i) {
            Some(&b) if ok[usize::from(b)] => i += 1,
            _ => return i,
        }
    }
}

#[inline(always)]
fn byte(buf: &[u8], i: usize) -> Step<u8> {
    buf.get(i).copied().ok_or(Stop::Partial)
}

/// `buf[i]` must be the LF of a CRLF; returns the index after it.
#[inline(always)]
fn lf(buf: &[u8], i: usize, err: httparse::Error) -> Step<usize> {
    match byte(buf, i)? {
        b'\n' => Ok(i + 1),
        _ => Err(Stop::Invalid(err)),
    }
}

/// Scans the request head at the start of `buf`, handing each header line to `on_header`
/// as soon as it is complete and counted. At most `slots` header lines are accepted.
///
/// The outcome is httparse's for `buf` with `slots` header slots (see the module
/// documentation); `on_header` may have been called for some lines when the outcome is
/// not `Complete`.
#[inline(always)]
pub(crate) fn scan<'b>(
    buf: &'b [u8],
    slots: usize,
    mut on_header: impl OnHeader<'b>,
) -> Result<Status<Head<'b>>, httparse::Error> {
    match scan_head(buf, slots, &mut on_header) {
        Ok(head) => Ok(Status::Complete(head)),
        Err(Stop::Partial) => Ok(Status::Partial),
        Err(Stop::Invalid(e)) => Err(e),
    }
}

#[inline(always)]
fn scan_head<'b>(buf: &'b [u8], slots: usize, on_header: &mut impl OnHeader<'b>) -> Step<Head<'b>> {
    use httparse::Error::{HeaderName, NewLine, Token, TooManyHeaders};

    // Empty lines before the request line.
    let mut i = 0;
    loop {
        match byte(buf, i)? {
            b'\r' => i = lf(buf, i + 1, NewLine)?,
            b'\n' => i += 1,
            _ => break,
        }
    }

    // Method: 1*tchar, then SP.
    let method_start = i;
    if !TCHAR[usize::from(byte(buf, i)?)] {
        return Err(Stop::Invalid(Token));
    }
    i += 1;
    loop {
        let b = byte(buf, i)?;
        if TCHAR[usize::from(b)] {
            i += 1;
        } else if b == b' ' {
            break;
        } else {
            return Err(Stop::Invalid(Token));
        }
    }
    let method_len = i - method_start;

    // Target, then SP.
    let target_start = i + 1;
    let target_end = run_end(
        buf,
        target_start,
        |w| below(w, 0x21) | equal(w, 0x7F),
        &TARGET,
    );
    if byte(buf, target_end)? != b' ' || target_end == target_start {
        return Err(Stop::Invalid(Token));
    }
    // One UTF-8 check for both (the method is ASCII): it fails only for the target.
    let start_line =
        std::str::from_utf8(&buf[method_start..target_end]).map_err(|_| Stop::Invalid(Token))?;
    let (method, target) = match (
        start_line.get(..method_len),
        start_line.get(method_len + 1..),
    ) {
        (Some(m), Some(t)) => (m, t),
        _ => return Err(Stop::Invalid(Token)),
    };

    // Version and line end.
    i = target_end + 1;
    let minor_version = version(buf, i)?;
    i += 8;
    i = match byte(buf, i)? {
        b'\r' => lf(buf, i + 1, NewLine)?,
        b'\n' => i + 1,
        _ => return Err(Stop::Invalid(NewLine)),
    };

    // Header lines, up to the blank line.
    let headers_start = i;
    let mut headers_len = 0;
    loop {
        let b = byte(buf, i)?;
        if b == b'\r' {
            i = lf(buf, i + 1, NewLine)?;
            break;
        }
        if b == b'\n' {
            i += 1;
            break;
        }
        let (field, colon) = match known_name(buf, i) {
            Some(known) => known,
            None => {
                if !TCHAR[usize::from(b)] {
                    return Err(Stop::Invalid(HeaderName));
                }
                let colon = run_end(buf, i + 1, not_name_alnum, &TCHAR);
                if byte(buf, colon)? != b':' {
                    return Err(Stop::Invalid(HeaderName));
                }
                (Field::from_name(&buf[i..colon]), colon)
            }
        };
        let (value, next) = value(buf, colon + 1)?;
        if headers_len == slots {
            return Err(Stop::Invalid(TooManyHeaders));
        }
        headers_len += 1;
        on_header.header(field, &buf[i..colon], value);
        i = next;
    }
    Ok(Head {
        method,
        target,
        minor_version,
        headers_start,
        headers_len,
        head_len: i,
    })
}

/// `HTTP/1.0` or `HTTP/1.1` at `buf[i..]`: the minor version.
#[inline(always)]
fn version(buf: &[u8], i: usize) -> Step<u8> {
    const PREFIX: &[u8; 7] = b"HTTP/1.";
    match buf.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        Some(b"HTTP/1.1") => Ok(1),
        Some(b"HTTP/1.0") => Ok(0),
        Some(_) => Err(Stop::Invalid(httparse::Error::Version)),
        // Fewer than eight bytes: incomplete as long as they could still become a version.
        None => {
            let rest = buf.get(i..).unwrap_or_default();
            if PREFIX.starts_with(rest) {
                Err(Stop::Partial)
            } else {
                Err(Stop::Invalid(httparse::Error::Version))
            }
        }
    }
}

/// The value of the field whose colon precedes `buf[i]`, and where the next line starts.
#[inline(always)]
fn value(buf: &[u8], mut i: usize) -> Step<(&[u8], usize)> {
    use httparse::Error::HeaderValue;
    // Spaces and tabs after the colon.
    loop {
        match byte(buf, i)? {
            b' ' | b'\t' => i += 1,
            b'\r' => return Ok((&[], lf(buf, i + 1, HeaderValue)?)),
            b'\n' => return Ok((&[], i + 1)),
            b if VALUE[usize::from(b)] => break,
            _ => return Err(Stop::Invalid(HeaderValue)),
        }
    }
    let start = i;
    let end = run_end(buf, i + 1, |w| below(w, 0x20) | equal(w, 0x7F), &VALUE);
    let next = match byte(buf, end)? {
        b'\r' => lf(buf, end + 1, HeaderValue)?,
        b'\n' => end + 1,
        _ => return Err(Stop::Invalid(HeaderValue)),
    };
    // `buf[start]` is neither a space nor a tab, so trimming stops there.
    let mut last = end;
    while last > start + 1 && matches!(buf[last - 1], b' ' | b'\t') {
        last -= 1;
    }
    Ok((&buf[start..last], next))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn swar_flags_find_the_first_byte(bytes in any::<[u8; 8]>(), n in 1u8..=0x80, b in any::<u8>()) {
            let w = u64::from_le_bytes(bytes);
            let first = |f: u64| (f != 0).then(|| (f.trailing_zeros() / 8) as usize);
            prop_assert_eq!(first(below(w, n)), bytes.iter().position(|&x| x < n));
            prop_assert_eq!(first(equal(w, b)), bytes.iter().position(|&x| x == b));
        }

        #[test]
        fn run_end_is_the_first_byte_not_ok(bytes in proptest::collection::vec(any::<u8>(), 0..40), from in 0usize..41) {
            let want = |ok: &[bool; 256]| {
                bytes.iter().skip(from).position(|&b| !ok[usize::from(b)]).map_or(bytes.len().max(from), |p| from + p)
            };
            prop_assert_eq!(run_end(&bytes, from, |w| below(w, 0x20) | equal(w, 0x7F), &VALUE), want(&VALUE));
            prop_assert_eq!(run_end(&bytes, from, |w| below(w, 0x21) | equal(w, 0x7F), &TARGET), want(&TARGET));
        }
    }

    proptest! {
        #[test]
        fn name_flags_are_exact(bytes in any::<[u8; 8]>()) {
            let flags = not_name_alnum(u64::from_le_bytes(bytes));
            for (k, &b) in bytes.iter().enumerate() {
                let flagged = flags >> (8 * k + 7) & 1 == 1;
                prop_assert_eq!(flagged, !(b.is_ascii_alphanumeric() || b == b'-'), "{:#x}", b);
            }
        }
    }

    #[test]
    fn tables() {
        for b in 0..=255u8 {
            let i = usize::from(b);
            assert_eq!(TCHAR[i], httparse_token(b), "{b:#x}");
            assert_eq!(TARGET[i], b > 0x20 && b != 0x7F, "{b:#x}");
            assert_eq!(VALUE[i], b == b'\t' || (b >= 0x20 && b != 0x7F), "{b:#x}");
        }
    }

    /// RFC 9110 `tchar`, spelled out independently of the table.
    fn httparse_token(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
    }
}
