//! The codec's hot path: the common URL shapes (simple aliases, `host[:port]`
//! authorities) validated in one pass without allocating. Anything unusual returns `None`
//! and is typed by the general parsers, which stay the definition.

use std::borrow::Cow;

use super::node::NodeUrlRef;
use super::syntax::{AuthorityRef, PCHAR};
use super::target::{NodePathRef, RequestTargetRef};
use super::{ALIASES_PREFIX, MAX_ALIAS_LEN, MAX_URL_LEN};

/// Bytes of a "simple" alias: raw path characters without `%` (so nothing to decode).
pub(super) fn is_simple_alias_byte(b: u8) -> bool {
    b != b'%' && PCHAR.get(usize::from(b)).copied().unwrap_or(false)
}

/// The alias itself when `raw` is a simple alias (non-empty, not a dot segment, only
/// [`is_simple_alias_byte`] bytes): such an alias needs no decoding and passes every check.
pub(super) fn fast_alias(raw: &str) -> Option<&str> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_ALIAS_LEN
        && raw != "."
        && raw != ".."
        && raw.bytes().all(is_simple_alias_byte);
    ok.then_some(raw)
}

/// Bytes allowed in a plain host name (`ALPHA / DIGIT / "-" / "." / "_"`), as a lookup table.
pub(super) static HOST_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b: u8 = 0;
    while b < 128 {
        t[b as usize] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_');
        b += 1;
    }
    t
};

/// Whether `b` may appear in a plain (non-IPv6) host name.
pub(crate) fn is_host_byte(b: u8) -> bool {
    HOST_BYTE[usize::from(b)]
}

/// One-pass recognition of a plain authority at the start of `b`: `host[:port]` with a
/// plain host (1 to 255 [`is_host_byte`] bytes) and an optional port of 1 to 5 digits in
/// `1..=65535`. Returns the authority and where it ends; `None` for anything else (IPv6
/// literals, bad ports...: the general parser decides).
pub(super) fn fast_authority_prefix(s: &str) -> Option<(AuthorityRef<'_>, usize)> {
    let b = s.as_bytes();
    let host_end = b.iter().position(|&c| !is_host_byte(c)).unwrap_or(b.len());
    if host_end == 0 || host_end > 255 {
        return None;
    }
    let host = s.get(..host_end)?;
    if b.get(host_end) != Some(&b':') {
        return Some((AuthorityRef { host, port: 80 }, host_end));
    }
    let digits = &b[host_end + 1..];
    let n_digits = digits
        .iter()
        .take(6)
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len().min(6));
    if n_digits == 0 || n_digits > 5 {
        return None;
    }
    let port = digits[..n_digits]
        .iter()
        .fold(0u32, |n, &c| n * 10 + u32::from(c - b'0'));
    let port = u16::try_from(port).ok().filter(|&p| p != 0)?;
    Some((AuthorityRef { host, port }, host_end + 1 + n_digits))
}

/// A `Host` header value in the common shape (`host[:port]`, plain host, surrounding ASCII
/// whitespace ignored), validated in one pass; `None` means "use the general parser".
/// When it returns `Some`, `validate_authority(value.trim())` gives the same value.
pub(crate) fn fast_host_header(value: &[u8]) -> Option<AuthorityRef<'_>> {
    let s = std::str::from_utf8(value.trim_ascii()).ok()?;
    match fast_authority_prefix(s)? {
        (auth, end) if end == s.len() => Some(auth),
        _ => None,
    }
}

/// One-pass recognition of the two most common URL shapes: a logical URL
/// `http://host[:port]/instmsg/aliases/alias` with a plain host and a simple alias, and a
/// local node `http://host[:port]` (optionally with `/`). Returns `None` (use the general
/// parser) for anything else; when it returns `Some`, the general parser gives the same
/// value (see the `fast_path_agrees_with_general_parser` property test).
pub(crate) fn fast_node_url(s: &str) -> Option<NodeUrlRef<'_>> {
    if s.len() > MAX_URL_LEN || !s.as_bytes().get(..7)?.eq_ignore_ascii_case(b"http://") {
        return None;
    }
    let rest = s.get(7..)?;
    let (host, end) = fast_authority_prefix(rest)?;
    let path = rest.get(end..)?;
    if path.is_empty() || path == "/" {
        return Some(NodeUrlRef::LocalNode(host));
    }
    let alias = fast_alias(path.strip_prefix(ALIASES_PREFIX)?)?;
    Some(NodeUrlRef::Logical {
        host,
        alias: Cow::Borrowed(alias),
    })
}

/// The request-target in its two common shapes (`/instmsg/aliases/<simple alias>` and `/`)
/// with the `Host` header (if any) in its common shape, typed in one pass; `None` means
/// "use [`parse_target_ref`]", which gives the same value whenever this returns `Some`.
pub(crate) fn fast_target_ref<'a>(
    target: &'a str,
    host_header: Option<&'a [u8]>,
) -> Option<RequestTargetRef<'a>> {
    let path = if target == "/" {
        NodePathRef::Root
    } else if target.len() <= MAX_URL_LEN {
        NodePathRef::Alias(Cow::Borrowed(fast_alias(
            target.strip_prefix(ALIASES_PREFIX)?,
        )?))
    } else {
        return None;
    };
    let authority = match host_header {
        Some(h) => Some(fast_host_header(h)?),
        None => None,
    };
    Some(RequestTargetRef {
        authority,
        absolute: false,
        path,
    })
}
