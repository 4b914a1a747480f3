//! The low-level pieces every URL form is made of: authority, alias, path segments,
//! percent-decoding and -encoding, and the classification of a node path.

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;

use super::{
    ALIASES_PREFIX, LOCAL_PREFIX, MAX_ALIAS_LEN, MAX_URL_LEN, SHORT_ALIASES_PREFIX, UrlError,
};

/// Whether `s` has a `?` or `#` (byte scan; faster than a `char` pattern).
pub(super) fn has_query_or_fragment(s: &str) -> bool {
    s.bytes().any(|b| b == b'?' || b == b'#')
}

pub(super) fn check_len(s: &str) -> Result<(), UrlError> {
    if s.len() > MAX_URL_LEN {
        Err(UrlError::TooLong(s.len()))
    } else {
        Ok(())
    }
}

/// Parses `host[:port]` into its canonical form: lower-cased host, port kept unless it is 80.
/// Returns the canonical authority and the port (80 when absent).
pub(super) fn parse_authority(raw: &str) -> Result<(String, u16), UrlError> {
    let auth = validate_authority(raw)?;
    Ok((auth.canonical(0), auth.port))
}

/// A validated `host[:port]`, borrowed from the input (not yet lower-cased).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthorityRef<'a> {
    pub(super) host: &'a str,
    pub(super) port: u16,
}

impl<'a> AuthorityRef<'a> {
    /// Validates `host[:port]` without allocating.
    pub fn parse(raw: &'a str) -> Result<AuthorityRef<'a>, UrlError> {
        validate_authority(raw)
    }

    /// The host as received (IPv6 literals keep their brackets).
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The port (80 when absent).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The canonical form: lower-cased host, `:port` unless 80.
    pub fn to_canonical(&self) -> String {
        self.canonical(0)
    }
}

impl AuthorityRef<'_> {
    /// The canonical authority, with room for `extra` more bytes.
    pub(super) fn canonical(&self, extra: usize) -> String {
        let mut out = String::with_capacity(self.host.len() + 6 + extra);
        out.push_str(self.host);
        out.make_ascii_lowercase();
        if self.port != 80 {
            let _ = write!(out, ":{}", self.port);
        }
        out
    }
}

/// Validates `host[:port]` without allocating.
pub(super) fn validate_authority(raw: &str) -> Result<AuthorityRef<'_>, UrlError> {
    let bad_host = || UrlError::InvalidHost(raw.to_owned());
    let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
        // IPv6 literal.
        let end = rest.find(']').ok_or_else(bad_host)?;
        let lit = &rest[..end];
        if lit.is_empty()
            || !lit
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(bad_host());
        }
        let after = &rest[end + 1..];
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(bad_host)?),
        };
        (&raw[..end + 2], port)
    } else {
        match raw.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (raw, None),
        }
    };
    if host.is_empty() || host.len() > 255 {
        return Err(bad_host());
    }
    if !host.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(bad_host());
    }
    let port = match port {
        None => 80,
        Some(p) => parse_port(p)?,
    };
    Ok(AuthorityRef { host, port })
}

pub(super) fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort(p.to_owned()));
    }
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(UrlError::InvalidPort(p.to_owned())),
    }
}

pub(super) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Characters allowed raw in a path segment (RFC 3986 `pchar` minus `%`), plus any
/// non-ASCII character (accepted leniently, re-encoded on output).
pub(super) fn check_raw_char(c: char) -> Result<(), UrlError> {
    let ok = !c.is_ascii()
        || c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.'
                | '_'
                | '~'
                | '!'
                | '$'
                | '&'
                | '\''
                | '('
                | ')'
                | '*'
                | '+'
                | ','
                | ';'
                | '='
                | ':'
                | '@'
                | '%'
        );
    if ok && !c.is_control() {
        Ok(())
    } else {
        Err(UrlError::InvalidChar(c))
    }
}

/// Bytes allowed raw in a path segment: RFC 3986 `pchar` (with `%`), as a lookup table.
pub(super) static PCHAR: [bool; 128] = {
    let mut t = [false; 128];
    let mut b: u8 = 0;
    while b < 128 {
        t[b as usize] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'%'
            );
        b += 1;
    }
    t
};

/// Checks the raw characters of a segment; returns whether it contains `%`.
pub(super) fn check_raw_segment(seg: &str) -> Result<bool, UrlError> {
    let mut escaped = false;
    let mut non_ascii = false;
    for &b in seg.as_bytes() {
        match PCHAR.get(usize::from(b)) {
            Some(true) => escaped |= b == b'%',
            Some(false) => return Err(UrlError::InvalidChar(char::from(b))),
            None => non_ascii = true,
        }
    }
    if non_ascii {
        for c in seg.chars() {
            check_raw_char(c)?;
        }
    }
    Ok(escaped)
}

/// Strictly percent-decodes one path segment (borrowed when there is nothing to decode).
pub(super) fn decode_segment(seg: &str) -> Result<Cow<'_, str>, UrlError> {
    let escaped = check_raw_segment(seg)?;
    if !escaped {
        return Ok(Cow::Borrowed(seg));
    }
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val);
            let lo = bytes.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h * 16 + l),
                _ => return Err(UrlError::InvalidEscape(seg.to_owned())),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| UrlError::NotUtf8(seg.to_owned()))
}

/// Decodes and canonicalises an alias as it appears in a URL path (percent-encoded).
///
/// Errors: empty alias, invalid escape, non-UTF-8, `.`/`..`, decoded `/`.
pub fn decode_alias(raw: &str) -> Result<String, UrlError> {
    let decoded = decode_segment(raw)?;
    check_alias(&decoded)?;
    let mut alias = decoded.into_owned();
    alias.make_ascii_lowercase();
    Ok(alias)
}

/// Checks and canonicalises an already-decoded alias (ASCII lower-case).
///
/// Errors: empty alias, `.`/`..`, `/`, control characters.
pub fn canonical_alias(alias: &str) -> Result<String, UrlError> {
    check_alias(alias)?;
    Ok(alias.to_ascii_lowercase())
}

/// Validates a decoded alias.
pub(super) fn check_alias(alias: &str) -> Result<(), UrlError> {
    if alias.is_empty() {
        return Err(UrlError::EmptyAlias);
    }
    if alias.len() > MAX_ALIAS_LEN {
        return Err(UrlError::AliasTooLong(alias.len()));
    }
    if alias == "." || alias == ".." {
        return Err(UrlError::DotSegment(alias.to_owned()));
    }
    if alias.contains('/') {
        return Err(UrlError::SlashInAlias(alias.to_owned()));
    }
    if let Some(b) = alias.bytes().find(|&b| b < 0x20 || b == 0x7f) {
        return Err(UrlError::InvalidChar(char::from(b)));
    }
    if let Some(c) = alias.chars().find(|c| !c.is_ascii() && c.is_control()) {
        return Err(UrlError::InvalidChar(c));
    }
    Ok(())
}

/// Writes `s` percent-encoded: every byte outside `ALPHA / DIGIT / - . _ ~` becomes `%XX`.
pub(super) fn write_encoded(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    let bytes = s.as_bytes();
    // Runs of unreserved bytes (all ASCII) are written whole: an alias is usually one run.
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if unreserved(b) {
            continue;
        }
        if run < i {
            f.write_str(std::str::from_utf8(&bytes[run..i]).map_err(|_| fmt::Error)?)?;
        }
        let escape = [b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]];
        f.write_str(std::str::from_utf8(&escape).map_err(|_| fmt::Error)?)?;
        run = i + 1;
    }
    if run < bytes.len() {
        f.write_str(std::str::from_utf8(&bytes[run..]).map_err(|_| fmt::Error)?)?;
    }
    Ok(())
}

/// Validates a generic path (`/a/b/c`): no query/fragment, no dot or empty segments (a
/// trailing `/` is allowed), valid escapes. Returns it unchanged.
pub(super) fn check_path(path: &str) -> Result<(), UrlError> {
    if has_query_or_fragment(path) {
        return Err(UrlError::QueryOrFragment(path.to_owned()));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(UrlError::InvalidTarget(path.to_owned()));
    };
    if rest.is_empty() {
        return Ok(());
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    for seg in rest.split('/') {
        if seg.is_empty() {
            return Err(UrlError::EmptySegment(path.to_owned()));
        }
        let decoded = decode_segment(seg)?;
        if decoded == "." || decoded == ".." {
            return Err(UrlError::DotSegment(path.to_owned()));
        }
    }
    Ok(())
}

/// Splits `http://authority/path` into (validated authority, path); path may be "".
pub(super) fn split_http(url: &str) -> Result<(AuthorityRef<'_>, &str), UrlError> {
    check_len(url)?;
    let rest = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &url[7..],
        _ => return Err(UrlError::NotHttp(url.to_owned())),
    };
    if has_query_or_fragment(rest) {
        return Err(UrlError::QueryOrFragment(url.to_owned()));
    }
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if auth.contains('@') {
        return Err(UrlError::InvalidHost(auth.to_owned()));
    }
    Ok((validate_authority(auth)?, path))
}

pub(super) enum PathKind<'a> {
    Root,
    /// Decoded, checked alias.
    Aliases(Cow<'a, str>),
    /// Logical host and decoded, checked alias.
    Local(AuthorityRef<'a>, Cow<'a, str>),
    Other,
}

/// Decodes and checks an alias path segment.
pub(super) fn alias_segment(raw: &str) -> Result<Cow<'_, str>, UrlError> {
    let alias = decode_segment(raw)?;
    check_alias(&alias)?;
    Ok(alias)
}

pub(super) fn classify_path(path: &str, allow_short: bool) -> Result<PathKind<'_>, UrlError> {
    if path.is_empty() || path == "/" {
        return Ok(PathKind::Root);
    }
    if has_query_or_fragment(path) {
        return Err(UrlError::QueryOrFragment(path.to_owned()));
    }
    let alias_rest = path.strip_prefix(ALIASES_PREFIX).or_else(|| {
        if allow_short {
            path.strip_prefix(SHORT_ALIASES_PREFIX)
        } else {
            None
        }
    });
    if let Some(raw) = alias_rest {
        check_path(path)?;
        if raw.is_empty() {
            return Err(UrlError::EmptyAlias);
        }
        if raw.contains('/') {
            return Err(UrlError::NotLogical(path.to_owned()));
        }
        return Ok(PathKind::Aliases(alias_segment(raw)?));
    }
    if let Some(rest) = path.strip_prefix(LOCAL_PREFIX) {
        let (host, logical_path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => return Err(UrlError::NotPhysical(path.to_owned())),
        };
        // The host segment is checked as an authority (it may be an IPv6 literal).
        check_path(logical_path)?;
        let host = validate_authority(host)?;
        let raw = logical_path
            .strip_prefix(ALIASES_PREFIX)
            .filter(|r| !r.contains('/'))
            .ok_or_else(|| UrlError::NotPhysical(path.to_owned()))?;
        return Ok(PathKind::Local(host, alias_segment(raw)?));
    }
    check_path(path)?;
    Ok(PathKind::Other)
}

/// The canonical form of a principal URL for comparison (PROTOCOL.md §8.2): surrounding
/// whitespace removed, scheme and host lower-cased, the path kept exactly. Lenient on
/// purpose: ACL principals and asserted identities are compared in this form whatever
/// their shape (a bare host name is kept as it is, trimmed).
///
/// ```
/// use rvp_proto::url::canonical_principal;
///
/// assert_eq!(
///     canonical_principal("  HTTP://IM.Example.com/instmsg/aliases/SteveM "),
///     "http://im.example.com/instmsg/aliases/SteveM"
/// );
/// assert_eq!(canonical_principal("im.example.com"), "im.example.com");
/// ```
pub fn canonical_principal(url: &str) -> String {
    let url = url.trim();
    match url.find("://") {
        Some(i) => {
            let after = i + 3;
            let end = url[after..].find('/').map_or(url.len(), |j| after + j);
            let mut s = url[..end].to_ascii_lowercase();
            s.push_str(&url[end..]);
            s
        }
        None => url.to_owned(),
    }
}
