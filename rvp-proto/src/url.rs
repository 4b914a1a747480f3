//! Node URLs: logical, physical and local-node forms (PROTOCOL.md §1.2, §7.2).
//!
//! Every RVP node is named by an `http:` URL. Three shapes matter to Exchange IM:
//!
//! | type | shape | example |
//! |---|---|---|
//! | [`LogicalUrl`] | `http://<host>/instmsg/aliases/<alias>` | `http://im.acme.com/instmsg/aliases/bruceb` |
//! | [`PhysicalUrl`] | `http://<home>/instmsg/local/<host>/instmsg/aliases/<alias>` | `http://imhome1.acme.com/instmsg/local/im.acme.com/instmsg/aliases/bruceb` |
//! | [`LocalNodeUrl`] | `http://<ip>:<port>` (request-URI `/`) | `http://198.176.154.132:1234` |
//!
//! Anything else that is a well-formed `http:` URL (group and list nodes such as
//! `http://im.example.com/groups/sales`) is kept as [`OtherUrl`]; [`NodeUrl`] is the sum of
//! the four.
//!
//! # Canonical form
//!
//! * The scheme is matched case-insensitively and always written `http://`.
//! * Hosts are ASCII and lower-cased; a port equal to 80 is dropped (`http://h:80/x` is
//!   `http://h/x`). IPv6 literals are accepted in brackets.
//! * Aliases are strictly percent-decoded (an invalid escape, a decoded `/`, a non-UTF-8
//!   result, an empty alias or an alias of `.` or `..` is an error), then **ASCII-lower-cased**:
//!   aliases compare case-insensitively for ASCII letters (PROTOCOL.md §1.2); other characters
//!   are kept as they are. On output every byte outside the RFC 3986 unreserved set is
//!   percent-encoded, so `format → parse` always gives back the same value.
//! * Queries, fragments, user-info, dot segments (`.`/`..`, also as `%2e`) and empty
//!   segments are rejected; URLs longer than [`MAX_URL_LEN`] bytes are rejected.
//!
//! ```
//! use rvp_proto::url::{LogicalUrl, NodeUrl};
//!
//! let url: LogicalUrl = "HTTP://IM.Acme.com/instmsg/aliases/BruceB".parse()?;
//! assert_eq!(url.host(), "im.acme.com");
//! assert_eq!(url.alias(), "bruceb");
//! assert_eq!(url.to_string(), "http://im.acme.com/instmsg/aliases/bruceb");
//!
//! let physical = url.to_physical("imhome1.acme.com");
//! assert_eq!(
//!     physical.to_string(),
//!     "http://imhome1.acme.com/instmsg/local/im.acme.com/instmsg/aliases/bruceb"
//! );
//! assert_eq!(NodeUrl::parse(&physical.to_string())?.logical(), Some(&url));
//! # Ok::<(), rvp_proto::url::UrlError>(())
//! ```

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::str::FromStr;

/// Longest URL (or request-target) accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Longest alias, in bytes once percent-decoded (real aliases are directory account names
/// of at most a few dozen characters). With hosts of at most 255 bytes this keeps every
/// formatted URL — logical, and physical with its second host — below [`MAX_URL_LEN`] even
/// when every alias byte is written percent-encoded, so whatever parses also formats to a
/// URL that parses.
pub const MAX_ALIAS_LEN: usize = 256;

const ALIASES_PREFIX: &str = "/instmsg/aliases/";
const LOCAL_PREFIX: &str = "/instmsg/local/";
const SHORT_ALIASES_PREFIX: &str = "/aliases/";

/// What is wrong with a URL or request-target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// An alias longer than [`MAX_ALIAS_LEN`] bytes (decoded).
    #[error("alias is {0} bytes long, more than the limit of {MAX_ALIAS_LEN}")]
    AliasTooLong(usize),
    /// Longer than [`MAX_URL_LEN`].
    #[error("URL is {0} bytes long, more than the limit of {MAX_URL_LEN}")]
    TooLong(usize),
    /// Not an absolute `http://` URL.
    #[error("not an absolute http:// URL: {0:?}")]
    NotHttp(String),
    /// The host part is empty or contains a character that is not allowed in a host name.
    #[error("invalid host {0:?}")]
    InvalidHost(String),
    /// The port is not a decimal number in `1..=65535`.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
    /// A `%` not followed by two hexadecimal digits.
    #[error("invalid percent-escape in {0:?}")]
    InvalidEscape(String),
    /// Percent-decoding produced bytes that are not UTF-8.
    #[error("percent-decoded text is not UTF-8 in {0:?}")]
    NotUtf8(String),
    /// The alias is empty.
    #[error("empty alias")]
    EmptyAlias,
    /// The alias decodes to a string containing `/`.
    #[error("alias {0:?} contains an encoded '/'")]
    SlashInAlias(String),
    /// A path segment is `.` or `..` (possibly percent-encoded).
    #[error("dot segment in path {0:?}")]
    DotSegment(String),
    /// A path has an empty segment (`//`).
    #[error("empty segment in path {0:?}")]
    EmptySegment(String),
    /// A character that may not appear in a URL (space, control, `"`, `<`...).
    #[error("character {0:?} not allowed in a URL")]
    InvalidChar(char),
    /// URLs of nodes carry neither query nor fragment.
    #[error("query or fragment not allowed in {0:?}")]
    QueryOrFragment(String),
    /// The URL is well-formed but not a logical URL (`http://host/instmsg/aliases/alias`).
    #[error("not a logical URL (http://host/instmsg/aliases/alias): {0:?}")]
    NotLogical(String),
    /// The URL is well-formed but not a physical URL.
    #[error("not a physical URL (http://home/instmsg/local/host/instmsg/aliases/alias): {0:?}")]
    NotPhysical(String),
    /// The URL is well-formed but not a local node URL (`http://ip:port` with path `/` or empty).
    #[error("not a local node URL (http://ip:port): {0:?}")]
    NotLocalNode(String),
    /// A request-target in neither origin-form (`/...`) nor absolute-form (`http://...`).
    #[error("request-target is neither origin-form nor absolute-form: {0:?}")]
    InvalidTarget(String),
}

// ---------------------------------------------------------------------------------------
// Low-level pieces: authority, alias, path segments.
// ---------------------------------------------------------------------------------------

/// Whether `s` has a `?` or `#` (byte scan; faster than a `char` pattern).
fn has_query_or_fragment(s: &str) -> bool {
    s.bytes().any(|b| b == b'?' || b == b'#')
}

fn check_len(s: &str) -> Result<(), UrlError> {
    if s.len() > MAX_URL_LEN {
        Err(UrlError::TooLong(s.len()))
    } else {
        Ok(())
    }
}

/// Parses `host[:port]` into its canonical form: lower-cased host, port kept unless it is 80.
/// Returns the canonical authority and the port (80 when absent).
fn parse_authority(raw: &str) -> Result<(String, u16), UrlError> {
    let auth = validate_authority(raw)?;
    Ok((auth.canonical(0), auth.port))
}

/// A validated `host[:port]`, borrowed from the input (not yet lower-cased).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthorityRef<'a> {
    host: &'a str,
    port: u16,
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
    fn canonical(&self, extra: usize) -> String {
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
fn validate_authority(raw: &str) -> Result<AuthorityRef<'_>, UrlError> {
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

fn parse_port(p: &str) -> Result<u16, UrlError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError::InvalidPort(p.to_owned()));
    }
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(UrlError::InvalidPort(p.to_owned())),
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Characters allowed raw in a path segment (RFC 3986 `pchar` minus `%`), plus any
/// non-ASCII character (accepted leniently, re-encoded on output).
fn check_raw_char(c: char) -> Result<(), UrlError> {
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
static PCHAR: [bool; 128] = {
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
fn check_raw_segment(seg: &str) -> Result<bool, UrlError> {
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
fn decode_segment(seg: &str) -> Result<Cow<'_, str>, UrlError> {
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
fn check_alias(alias: &str) -> Result<(), UrlError> {
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
fn write_encoded(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            f.write_char(char::from(b))?;
        } else {
            f.write_char('%')?;
            f.write_char(char::from(HEX[usize::from(b >> 4)]))?;
            f.write_char(char::from(HEX[usize::from(b & 15)]))?;
        }
    }
    Ok(())
}

/// Validates a generic path (`/a/b/c`): no query/fragment, no dot or empty segments (a
/// trailing `/` is allowed), valid escapes. Returns it unchanged.
fn check_path(path: &str) -> Result<(), UrlError> {
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
fn split_http(url: &str) -> Result<(AuthorityRef<'_>, &str), UrlError> {
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

// ---------------------------------------------------------------------------------------
// Logical URL
// ---------------------------------------------------------------------------------------

/// The logical URL of a principal: `http://<host>/instmsg/aliases/<alias>`.
///
/// This is the principal's identity everywhere (`RVP-From-Principal`, ACLs, `Call-Back` of
/// property subscriptions, `d:href`). The host is lower-case and carries `:port` only when
/// the port is not 80; the alias is stored decoded and ASCII-lower-cased, so equality is
/// the protocol's case-insensitive comparison.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogicalUrl {
    /// Canonical host immediately followed by the canonical alias (one allocation).
    data: String,
    /// Where the alias starts in `data`.
    split: usize,
}

impl LogicalUrl {
    /// Builds a logical URL from a host (`host` or `host:port`) and a **decoded** alias.
    pub fn new(host: &str, alias: &str) -> Result<Self, UrlError> {
        let auth = validate_authority(host)?;
        check_alias(alias)?;
        Ok(LogicalUrl::build(auth, alias))
    }

    /// Builds from a validated authority and a checked, decoded alias.
    fn build(auth: AuthorityRef<'_>, alias: &str) -> LogicalUrl {
        LogicalUrl::from_canonical_host(auth.canonical(alias.len()), alias)
    }

    /// Builds from a canonical host (as a string to append to) and a checked alias.
    fn from_canonical_host(mut data: String, alias: &str) -> LogicalUrl {
        let split = data.len();
        data.push_str(alias);
        data[split..].make_ascii_lowercase();
        LogicalUrl { data, split }
    }

    /// The canonical host (`host` or `host:port`).
    pub fn host(&self) -> &str {
        &self.data[..self.split]
    }

    /// The canonical (decoded, ASCII-lower-cased) alias.
    pub fn alias(&self) -> &str {
        &self.data[self.split..]
    }

    /// The request path of this node: `/instmsg/aliases/<encoded alias>`.
    pub fn path(&self) -> String {
        let mut s = String::with_capacity(ALIASES_PREFIX.len() + self.alias().len());
        s.push_str(ALIASES_PREFIX);
        let _ = write_encoded(&mut s, self.alias());
        s
    }

    /// The physical URL of this node on home server `home_host` (PROTOCOL.md §7.2).
    ///
    /// `home_host` is configuration and is only lower-cased (and stripped of `:80`);
    /// use [`PhysicalUrl::new`] to validate an untrusted home host.
    pub fn to_physical(&self, home_host: &str) -> PhysicalUrl {
        let home = match parse_authority(home_host) {
            Ok((h, _)) => h,
            Err(_) => home_host.to_ascii_lowercase(),
        };
        PhysicalUrl {
            home,
            logical: self.clone(),
        }
    }
}

impl fmt::Display for LogicalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{ALIASES_PREFIX}", self.host())?;
        write_encoded(f, self.alias())
    }
}

impl FromStr for LogicalUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        match NodeUrl::parse(s)? {
            NodeUrl::Logical(l) => Ok(l),
            _ => Err(UrlError::NotLogical(s.to_owned())),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Physical URL
// ---------------------------------------------------------------------------------------

/// The physical URL of a principal's node on its home server:
/// `http://<home>/instmsg/local/<host>/instmsg/aliases/<alias>` (PROTOCOL.md §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhysicalUrl {
    home: String,
    logical: LogicalUrl,
}

impl PhysicalUrl {
    /// Builds a physical URL, validating the home host.
    pub fn new(home_host: &str, logical: LogicalUrl) -> Result<Self, UrlError> {
        let (home, _) = parse_authority(home_host)?;
        Ok(PhysicalUrl { home, logical })
    }

    /// The home server's canonical host (`host` or `host:port`).
    pub fn home(&self) -> &str {
        &self.home
    }

    /// The logical URL this physical URL stands for.
    pub fn logical(&self) -> &LogicalUrl {
        &self.logical
    }

    /// Consumes `self`, returning the logical URL.
    pub fn into_logical(self) -> LogicalUrl {
        self.logical
    }

    /// The request path: `/instmsg/local/<host>/instmsg/aliases/<alias>`.
    pub fn path(&self) -> String {
        format!(
            "{LOCAL_PREFIX}{}{}",
            self.logical.host(),
            self.logical.path()
        )
    }
}

impl fmt::Display for PhysicalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "http://{}{LOCAL_PREFIX}{}{ALIASES_PREFIX}",
            self.home,
            self.logical.host()
        )?;
        write_encoded(f, self.logical.alias())
    }
}

impl FromStr for PhysicalUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        match NodeUrl::parse(s)? {
            NodeUrl::Physical(p) => Ok(p),
            _ => Err(UrlError::NotPhysical(s.to_owned())),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Local node URL
// ---------------------------------------------------------------------------------------

/// A client's local node (its callback listener): `http://<ip>:<port>`, with or without a
/// trailing `/`; NOTIFYs to it use request-URI `/` (PROTOCOL.md §1.2).
///
/// The host is usually an IP literal but any host name is accepted; the port defaults to
/// 80 when absent. [`Display`](fmt::Display) always writes the port and no trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalNodeUrl {
    host: String,
    port: u16,
}

impl LocalNodeUrl {
    /// Builds a local node URL from a host (without port) and a port.
    pub fn new(host: &str, port: u16) -> Result<Self, UrlError> {
        if port == 0 {
            return Err(UrlError::InvalidPort("0".to_owned()));
        }
        let (host, p) = parse_authority(host)?;
        if p != 80 || host.contains(':') && !host.starts_with('[') {
            return Err(UrlError::InvalidHost(host));
        }
        Ok(LocalNodeUrl { host, port })
    }

    /// The lower-cased host (without port; IPv6 literals keep their brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, as a `Host` header for a NOTIFY to this node.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn from_authority(auth: AuthorityRef<'_>) -> LocalNodeUrl {
        LocalNodeUrl {
            host: auth.host.to_ascii_lowercase(),
            port: auth.port,
        }
    }
}

impl fmt::Display for LocalNodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}:{}", self.host, self.port)
    }
}

impl FromStr for LocalNodeUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        match NodeUrl::parse(s)? {
            NodeUrl::LocalNode(l) => Ok(l),
            _ => Err(UrlError::NotLocalNode(s.to_owned())),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Other URLs and the NodeUrl sum
// ---------------------------------------------------------------------------------------

/// Any other well-formed `http:` node URL (group, list, device nodes...).
///
/// The host is canonical (lower-case, no `:80`); the path is validated (no dot or empty
/// segments, valid escapes, no query) and kept as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OtherUrl {
    host: String,
    path: String,
}

impl OtherUrl {
    /// The canonical host (`host` or `host:port`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The path, starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for OtherUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.host, self.path)
    }
}

/// The URL of any node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NodeUrl {
    /// `http://host/instmsg/aliases/alias`.
    Logical(LogicalUrl),
    /// `http://home/instmsg/local/host/instmsg/aliases/alias`.
    Physical(PhysicalUrl),
    /// `http://ip:port` or `http://ip:port/`.
    LocalNode(LocalNodeUrl),
    /// Any other well-formed `http:` URL.
    Other(OtherUrl),
}

impl NodeUrl {
    /// Parses an absolute `http://` URL and classifies it.
    ///
    /// A path that starts with `/instmsg/aliases/` or `/instmsg/local/` must be a valid
    /// logical or physical URL (its errors are reported, it does not fall back to
    /// [`NodeUrl::Other`]).
    pub fn parse(s: &str) -> Result<NodeUrl, UrlError> {
        Ok(NodeUrlRef::parse(s)?.to_node_url())
    }

    /// The logical URL of a logical or physical node URL.
    pub fn logical(&self) -> Option<&LogicalUrl> {
        match self {
            NodeUrl::Logical(l) => Some(l),
            NodeUrl::Physical(p) => Some(p.logical()),
            NodeUrl::LocalNode(_) | NodeUrl::Other(_) => None,
        }
    }

    /// The canonical host of the URL (`host` or `host:port`; for a local node, `host:port`).
    pub fn host(&self) -> String {
        match self {
            NodeUrl::Logical(l) => l.host().to_owned(),
            NodeUrl::Physical(p) => p.home.clone(),
            NodeUrl::LocalNode(l) => l.authority(),
            NodeUrl::Other(o) => o.host.clone(),
        }
    }
}

impl fmt::Display for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeUrl::Logical(u) => u.fmt(f),
            NodeUrl::Physical(u) => u.fmt(f),
            NodeUrl::LocalNode(u) => u.fmt(f),
            NodeUrl::Other(u) => u.fmt(f),
        }
    }
}

impl FromStr for NodeUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, UrlError> {
        NodeUrl::parse(s)
    }
}

impl From<LogicalUrl> for NodeUrl {
    fn from(u: LogicalUrl) -> Self {
        NodeUrl::Logical(u)
    }
}

impl From<PhysicalUrl> for NodeUrl {
    fn from(u: PhysicalUrl) -> Self {
        NodeUrl::Physical(u)
    }
}

impl From<LocalNodeUrl> for NodeUrl {
    fn from(u: LocalNodeUrl) -> Self {
        NodeUrl::LocalNode(u)
    }
}

/// A node URL validated without allocating (unless it has percent-escapes): borrowed
/// parts, not yet canonical. [`NodeUrlRef::to_node_url`] gives the canonical [`NodeUrl`].
///
/// This is what the zero-copy typed views of the codec hold; compare owned values for
/// protocol equality (case-insensitive aliases, lower-case hosts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeUrlRef<'a> {
    /// A logical URL: host and decoded (not yet lower-cased) alias.
    Logical {
        /// Host.
        host: AuthorityRef<'a>,
        /// Decoded alias.
        alias: Cow<'a, str>,
    },
    /// A physical URL.
    Physical {
        /// Home server.
        home: AuthorityRef<'a>,
        /// Host of the logical URL.
        host: AuthorityRef<'a>,
        /// Decoded alias.
        alias: Cow<'a, str>,
    },
    /// A local node.
    LocalNode(AuthorityRef<'a>),
    /// Any other node.
    Other {
        /// Host.
        host: AuthorityRef<'a>,
        /// Path as received.
        path: &'a str,
    },
}

impl<'a> NodeUrlRef<'a> {
    /// Validates and classifies an absolute `http://` URL (same rules as [`NodeUrl::parse`]).
    pub fn parse(s: &'a str) -> Result<NodeUrlRef<'a>, UrlError> {
        match fast_node_url(s) {
            Some(fast) => Ok(fast),
            None => NodeUrlRef::parse_general(s),
        }
    }

    /// [`NodeUrlRef::parse`] without the fast path (the reference the fast path must agree
    /// with).
    fn parse_general(s: &'a str) -> Result<NodeUrlRef<'a>, UrlError> {
        let (auth, path) = split_http(s)?;
        Ok(match classify_path(path, false)? {
            PathKind::Root => NodeUrlRef::LocalNode(auth),
            PathKind::Aliases(alias) => NodeUrlRef::Logical { host: auth, alias },
            PathKind::Local(host, alias) => NodeUrlRef::Physical {
                home: auth,
                host,
                alias,
            },
            PathKind::Other => NodeUrlRef::Other { host: auth, path },
        })
    }

    /// The canonical, owned URL.
    pub fn to_node_url(&self) -> NodeUrl {
        match self {
            NodeUrlRef::Logical { host, alias } => {
                NodeUrl::Logical(LogicalUrl::build(*host, alias))
            }
            NodeUrlRef::Physical { home, host, alias } => NodeUrl::Physical(PhysicalUrl {
                home: home.canonical(0),
                logical: LogicalUrl::build(*host, alias),
            }),
            NodeUrlRef::LocalNode(auth) => NodeUrl::LocalNode(LocalNodeUrl::from_authority(*auth)),
            NodeUrlRef::Other { host, path } => NodeUrl::Other(OtherUrl {
                host: host.canonical(0),
                path: (*path).to_owned(),
            }),
        }
    }

    /// The decoded alias of a logical or physical URL (not lower-cased: compare with
    /// `eq_ignore_ascii_case`).
    pub fn alias(&self) -> Option<&str> {
        match self {
            NodeUrlRef::Logical { alias, .. } | NodeUrlRef::Physical { alias, .. } => Some(alias),
            NodeUrlRef::LocalNode(_) | NodeUrlRef::Other { .. } => None,
        }
    }
}

/// Bytes of a "simple" alias: raw path characters without `%` (so nothing to decode).
fn is_simple_alias_byte(b: u8) -> bool {
    b != b'%' && PCHAR.get(usize::from(b)).copied().unwrap_or(false)
}

/// The alias itself when `raw` is a simple alias (non-empty, not a dot segment, only
/// [`is_simple_alias_byte`] bytes): such an alias needs no decoding and passes every check.
fn fast_alias(raw: &str) -> Option<&str> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_ALIAS_LEN
        && raw != "."
        && raw != ".."
        && raw.bytes().all(is_simple_alias_byte);
    ok.then_some(raw)
}

/// Bytes allowed in a plain host name (`ALPHA / DIGIT / "-" / "." / "_"`), as a lookup table.
static HOST_BYTE: [bool; 256] = {
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
fn fast_authority_prefix(s: &str) -> Option<(AuthorityRef<'_>, usize)> {
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

enum PathKind<'a> {
    Root,
    /// Decoded, checked alias.
    Aliases(Cow<'a, str>),
    /// Logical host and decoded, checked alias.
    Local(AuthorityRef<'a>, Cow<'a, str>),
    Other,
}

/// Decodes and checks an alias path segment.
fn alias_segment(raw: &str) -> Result<Cow<'_, str>, UrlError> {
    let alias = decode_segment(raw)?;
    check_alias(&alias)?;
    Ok(alias)
}

fn classify_path(path: &str, allow_short: bool) -> Result<PathKind<'_>, UrlError> {
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

// ---------------------------------------------------------------------------------------
// Request targets
// ---------------------------------------------------------------------------------------

/// What a request-target names, independent of which host it was addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodePath {
    /// `/instmsg/aliases/<alias>` (or the documentation form `/aliases/<alias>`, ref §1.2):
    /// a principal hosted (or routed) here, by canonical alias. The IM domain is the
    /// server's own; it is *not* necessarily the `Host` header (a home server receives
    /// logical paths with its own host name, ref §1.2).
    Alias(String),
    /// `/instmsg/local/<host>/instmsg/aliases/<alias>`: a physical path, naming the logical
    /// URL explicitly.
    Local(LogicalUrl),
    /// `/` (or an absolute URL without path): the local node of a client.
    Root,
    /// Any other valid path (group and list nodes...), as received.
    Other(String),
}

impl NodePath {
    /// The canonical alias named by an alias or physical path.
    pub fn alias(&self) -> Option<&str> {
        match self {
            NodePath::Alias(a) => Some(a),
            NodePath::Local(l) => Some(l.alias()),
            NodePath::Root | NodePath::Other(_) => None,
        }
    }
}

/// A parsed request-target: the node path plus the authority it was addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestTarget {
    /// Canonical authority (`host` or `host:port`): from an absolute-form target, else from
    /// the `Host` header, else `None`.
    pub authority: Option<String>,
    /// Whether the target was in absolute-form (`http://host/path`).
    pub absolute: bool,
    /// The node path.
    pub path: NodePath,
}

impl RequestTarget {
    /// The logical URL named by this target, using the target's own authority for alias
    /// paths (use [`NodePath::alias`] and your own IM domain when the authority is the
    /// home server's name).
    pub fn logical(&self) -> Option<LogicalUrl> {
        match &self.path {
            NodePath::Alias(a) => {
                let host = self.authority.as_deref()?;
                let mut data = String::with_capacity(host.len() + a.len());
                data.push_str(host);
                Some(LogicalUrl::from_canonical_host(data, a))
            }
            NodePath::Local(l) => Some(l.clone()),
            NodePath::Root | NodePath::Other(_) => None,
        }
    }
}

/// The path of a request-target, validated without allocating (unless escaped).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodePathRef<'a> {
    /// An alias path; the alias is decoded but not yet lower-cased.
    Alias(Cow<'a, str>),
    /// A physical path: logical host and decoded alias.
    Local(AuthorityRef<'a>, Cow<'a, str>),
    /// `/`.
    Root,
    /// Any other valid path, as received.
    Other(&'a str),
}

/// A request-target validated without allocating: see [`parse_target_ref`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestTargetRef<'a> {
    /// Authority from an absolute-form target, else from the `Host` header.
    pub authority: Option<AuthorityRef<'a>>,
    /// Whether the target was in absolute-form.
    pub absolute: bool,
    /// The node path.
    pub path: NodePathRef<'a>,
}

impl RequestTargetRef<'_> {
    /// The canonical, owned target.
    pub fn to_request_target(&self) -> RequestTarget {
        let path = match &self.path {
            NodePathRef::Alias(a) => NodePath::Alias(a.to_ascii_lowercase()),
            NodePathRef::Local(host, alias) => NodePath::Local(LogicalUrl::build(*host, alias)),
            NodePathRef::Root => NodePath::Root,
            NodePathRef::Other(p) => NodePath::Other((*p).to_owned()),
        };
        RequestTarget {
            authority: self.authority.map(|a| a.canonical(0)),
            absolute: self.absolute,
            path,
        }
    }

    /// The decoded alias named by an alias or physical path (not lower-cased: compare
    /// with `eq_ignore_ascii_case`).
    pub fn alias(&self) -> Option<&str> {
        match &self.path {
            NodePathRef::Alias(a) | NodePathRef::Local(_, a) => Some(a),
            NodePathRef::Root | NodePathRef::Other(_) => None,
        }
    }
}

/// Parses a request-target as a home server, router or client listener receives it.
///
/// Accepts origin-form (`/instmsg/aliases/x`, `/instmsg/local/<host>/instmsg/aliases/x`,
/// `/`, `/aliases/x`, other paths) and absolute-form (`http://host/...`). For origin-form
/// the authority is taken from `host_header` (validated) when given; in absolute-form the
/// URL's own authority wins (HTTP/1.1). Rejects `*`, authority-form, queries, fragments,
/// dot segments and invalid escapes.
///
/// ```
/// use rvp_proto::url::{parse_target, NodePath};
///
/// let t = parse_target("/instmsg/aliases/BruceB", Some("imhome1.acme.com"))?;
/// assert_eq!(t.path, NodePath::Alias("bruceb".into()));
/// assert_eq!(t.authority.as_deref(), Some("imhome1.acme.com"));
/// assert_eq!(parse_target("/", None)?.path, NodePath::Root);
/// # Ok::<(), rvp_proto::url::UrlError>(())
/// ```
pub fn parse_target(target: &str, host_header: Option<&str>) -> Result<RequestTarget, UrlError> {
    Ok(parse_target_ref(target, host_header)?.to_request_target())
}

/// [`parse_target`] without allocating (unless the path has percent-escapes).
pub fn parse_target_ref<'a>(
    target: &'a str,
    host_header: Option<&'a str>,
) -> Result<RequestTargetRef<'a>, UrlError> {
    check_len(target)?;
    if let Some(alias) = target.strip_prefix(ALIASES_PREFIX).and_then(fast_alias) {
        // Fast path for the common origin-form alias path (same result as below).
        let authority = match host_header {
            Some(h) => Some(validate_authority(h.trim())?),
            None => None,
        };
        return Ok(RequestTargetRef {
            authority,
            absolute: false,
            path: NodePathRef::Alias(Cow::Borrowed(alias)),
        });
    }
    let (authority, absolute, path) = if target.starts_with('/') {
        let auth = match host_header {
            Some(h) => Some(validate_authority(h.trim())?),
            None => None,
        };
        (auth, false, target)
    } else if target
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    {
        let (auth, path) = split_http(target)?;
        (Some(auth), true, path)
    } else {
        return Err(UrlError::InvalidTarget(target.to_owned()));
    };
    let path = match classify_path(path, true)? {
        PathKind::Root => NodePathRef::Root,
        PathKind::Aliases(alias) => NodePathRef::Alias(alias),
        PathKind::Local(host, alias) => NodePathRef::Local(host, alias),
        PathKind::Other => NodePathRef::Other(path),
    };
    Ok(RequestTargetRef {
        authority,
        absolute,
        path,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn logical_canonical() {
        let u: LogicalUrl = "HTTP://IM.Acme.COM:80/instmsg/aliases/Bruce%42"
            .parse()
            .unwrap();
        assert_eq!(u.host(), "im.acme.com");
        assert_eq!(u.alias(), "bruceb");
        assert_eq!(u.to_string(), "http://im.acme.com/instmsg/aliases/bruceb");
        assert_eq!(u.path(), "/instmsg/aliases/bruceb");
        let p: LogicalUrl = "http://localhost:8080/instmsg/aliases/alice"
            .parse()
            .unwrap();
        assert_eq!(p.host(), "localhost:8080");
        assert_eq!(p.to_string(), "http://localhost:8080/instmsg/aliases/alice");
        assert_eq!(
            LogicalUrl::new("IM.acme.com", "Bruce B")
                .unwrap()
                .to_string(),
            "http://im.acme.com/instmsg/aliases/bruce%20b"
        );
    }

    #[test]
    fn logical_rejects() {
        let bad = [
            ("http://h/instmsg/aliases/", UrlError::EmptyAlias),
            (
                "http://h/instmsg/aliases/..",
                UrlError::DotSegment("/instmsg/aliases/..".into()),
            ),
            (
                "http://h/instmsg/aliases/%2e",
                UrlError::DotSegment("/instmsg/aliases/%2e".into()),
            ),
            (
                "http://h/instmsg/aliases/a%zz",
                UrlError::InvalidEscape("a%zz".into()),
            ),
            (
                "http://h/instmsg/aliases/a%",
                UrlError::InvalidEscape("a%".into()),
            ),
            (
                "http://h/instmsg/aliases/%ff",
                UrlError::NotUtf8("%ff".into()),
            ),
            (
                "http://h/instmsg/aliases/a%2fb",
                UrlError::SlashInAlias("a/b".into()),
            ),
            ("http://h/instmsg/aliases/a b", UrlError::InvalidChar(' ')),
            (
                "http://h/instmsg/aliases/a?x=1",
                UrlError::QueryOrFragment("http://h/instmsg/aliases/a?x=1".into()),
            ),
            (
                "http://u@h/instmsg/aliases/a",
                UrlError::InvalidHost("u@h".into()),
            ),
            (
                "http://h:0/instmsg/aliases/a",
                UrlError::InvalidPort("0".into()),
            ),
            (
                "http://h:99999/instmsg/aliases/a",
                UrlError::InvalidPort("99999".into()),
            ),
            (
                "https://h/instmsg/aliases/a",
                UrlError::NotHttp("https://h/instmsg/aliases/a".into()),
            ),
            (
                "http:///instmsg/aliases/a",
                UrlError::InvalidHost(String::new()),
            ),
            (
                "http://h/groups/a",
                UrlError::NotLogical("http://h/groups/a".into()),
            ),
            (
                "http://h/instmsg/aliases/a/",
                UrlError::NotLogical("/instmsg/aliases/a/".into()),
            ),
        ];
        for (s, e) in bad {
            assert_eq!(s.parse::<LogicalUrl>(), Err(e), "{s}");
        }
        assert!(LogicalUrl::new("h", "").is_err());
        assert!(LogicalUrl::new("h", "..").is_err());
        assert!(LogicalUrl::new("h/x", "a").is_err());
        assert_eq!(
            LogicalUrl::new("h", &"a".repeat(MAX_ALIAS_LEN + 1)),
            Err(UrlError::AliasTooLong(MAX_ALIAS_LEN + 1))
        );
        // The longest alias, every byte percent-encoded on output, with the longest host:
        // the formatted logical and physical URLs still parse back (found by fuzzing).
        let host = format!("{}.x", "h".repeat(253));
        let worst = LogicalUrl::new(&host, &")".repeat(MAX_ALIAS_LEN)).expect("at the limit");
        assert_eq!(worst.to_string().parse::<LogicalUrl>(), Ok(worst.clone()));
        let physical = worst.to_physical(&host);
        assert_eq!(physical.to_string().parse::<PhysicalUrl>(), Ok(physical));
    }

    #[test]
    fn physical() {
        let s = "http://imhome1.domain2.com/instmsg/local/im.domain2.com/instmsg/aliases/kevinf";
        let p: PhysicalUrl = s.parse().unwrap();
        assert_eq!(p.home(), "imhome1.domain2.com");
        assert_eq!(
            p.logical().to_string(),
            "http://im.domain2.com/instmsg/aliases/kevinf"
        );
        assert_eq!(p.to_string(), s);
        assert_eq!(p.logical().to_physical("IMHOME1.domain2.com"), p);
        assert_eq!(
            p.path(),
            "/instmsg/local/im.domain2.com/instmsg/aliases/kevinf"
        );
        assert!(
            "http://h/instmsg/local/im/x/instmsg/aliases/a"
                .parse::<PhysicalUrl>()
                .is_err()
        );
        assert!("http://h/instmsg/local/".parse::<PhysicalUrl>().is_err());
        assert!(
            "http://h/instmsg/local/a b/instmsg/aliases/x"
                .parse::<NodeUrl>()
                .is_err()
        );
    }

    #[test]
    fn local_node() {
        for s in [
            "http://198.176.154.132:1234",
            "http://198.176.154.132:1234/",
        ] {
            let l: LocalNodeUrl = s.parse().unwrap();
            assert_eq!((l.host(), l.port()), ("198.176.154.132", 1234));
            assert_eq!(l.to_string(), "http://198.176.154.132:1234");
        }
        let l: LocalNodeUrl = "http://[::1]:9".parse().unwrap();
        assert_eq!((l.host(), l.port()), ("[::1]", 9));
        let l: LocalNodeUrl = "http://Host".parse().unwrap();
        assert_eq!((l.host(), l.port()), ("host", 80));
        assert_eq!(
            LocalNodeUrl::new("127.0.0.1", 43663).unwrap().authority(),
            "127.0.0.1:43663"
        );
        assert!(LocalNodeUrl::new("127.0.0.1:5", 43663).is_err());
    }

    #[test]
    fn node_url_other() {
        let n = NodeUrl::parse("http://IM.example.com/groups/sales").unwrap();
        assert_eq!(n.to_string(), "http://im.example.com/groups/sales");
        assert_eq!(n.logical(), None);
        assert!(NodeUrl::parse("http://h/groups/../x").is_err());
        assert!(NodeUrl::parse("http://h/groups//x").is_err());
        assert!(NodeUrl::parse("im.example.com").is_err());
    }

    #[test]
    fn targets() {
        let t = parse_target("/instmsg/aliases/Bob", Some("LOCALHOST")).unwrap();
        assert_eq!(t.path, NodePath::Alias("bob".into()));
        assert_eq!(
            t.logical().unwrap().to_string(),
            "http://localhost/instmsg/aliases/bob"
        );
        assert!(!t.absolute);
        let t = parse_target("/aliases/salman", None).unwrap();
        assert_eq!(t.path.alias(), Some("salman"));
        let t = parse_target(
            "http://im.example.com/instmsg/aliases/stevem",
            Some("other"),
        )
        .unwrap();
        assert!(t.absolute);
        assert_eq!(t.authority.as_deref(), Some("im.example.com"));
        let t = parse_target(
            "/instmsg/local/im.domain2.com/instmsg/aliases/kevinf",
            Some("imhome1"),
        )
        .unwrap();
        assert_eq!(t.path.alias(), Some("kevinf"));
        assert_eq!(
            parse_target("/", Some("127.0.0.1:1234")).unwrap().path,
            NodePath::Root
        );
        assert_eq!(
            parse_target("/lists/x", None).unwrap().path,
            NodePath::Other("/lists/x".into())
        );
        for bad in [
            "*",
            "im.acme.com:80",
            "",
            "/instmsg/aliases/../x",
            "/a/./b",
            "/x?y",
            "/instmsg/aliases/%G0",
        ] {
            assert!(parse_target(bad, None).is_err(), "{bad}");
        }
    }

    fn arb_host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9][a-zA-Z0-9._-]{0,20}",
            (any::<[u8; 4]>()).prop_map(|b| format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])),
            "\\[::[0-9a-f]{1,4}\\]",
        ]
        .prop_flat_map(|h| (Just(h), prop::option::of(1u16..)))
        .prop_map(|(h, p)| match p {
            Some(p) => format!("{h}:{p}"),
            None => h,
        })
    }

    fn arb_alias() -> impl Strategy<Value = String> {
        "[^/\\p{Cc}]{1,20}".prop_filter("dot alias", |a| a != "." && a != "..")
    }

    proptest! {
        #[test]
        fn logical_round_trip(host in arb_host(), alias in arb_alias()) {
            let u = LogicalUrl::new(&host, &alias).unwrap();
            let s = u.to_string();
            prop_assert_eq!(s.parse::<LogicalUrl>().unwrap(), u.clone());
            prop_assert_eq!(NodeUrl::parse(&s).unwrap(), NodeUrl::Logical(u.clone()));
            let t = parse_target(&u.path(), Some(u.host())).unwrap();
            prop_assert_eq!(t.logical(), Some(u));
        }

        #[test]
        fn physical_round_trip(home in arb_host(), host in arb_host(), alias in arb_alias()) {
            let p = PhysicalUrl::new(&home, LogicalUrl::new(&host, &alias).unwrap()).unwrap();
            let s = p.to_string();
            prop_assert_eq!(s.parse::<PhysicalUrl>().unwrap(), p.clone());
            let t = parse_target(&p.path(), None).unwrap();
            prop_assert_eq!(t.path, NodePath::Local(p.logical().clone()));
        }

        #[test]
        fn local_round_trip(a in any::<[u8; 4]>(), port in 1u16..) {
            let l = LocalNodeUrl::new(&format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3]), port).unwrap();
            prop_assert_eq!(l.to_string().parse::<LocalNodeUrl>().unwrap(), l.clone());
            prop_assert_eq!(format!("{l}/").parse::<LocalNodeUrl>().unwrap(), l);
        }

        #[test]
        fn arbitrary_strings_never_panic(s in ".{0,80}", h in proptest::option::of(".{0,20}")) {
            let _ = NodeUrl::parse(&s);
            let _ = parse_target(&s, h.as_deref());
            let _ = LogicalUrl::new(&s, &s);
            if let Ok(n) = NodeUrl::parse(&s) {
                // Canonical output re-parses to the same value.
                prop_assert_eq!(NodeUrl::parse(&n.to_string()).unwrap(), n);
            }
        }

        #[test]
        fn fast_path_agrees_with_general_parser(
            s in "(http|HTTP)://[a-zA-Z0-9._-]{0,12}(:[0-9]{0,6})?/instmsg/aliases/[a-zA-Z0-9._~!$&'()*+,;=:@%/-]{0,12}"
        ) {
            if let Some(fast) = fast_node_url(&s) {
                prop_assert_eq!(Ok(fast), NodeUrlRef::parse_general(&s), "{}", s);
            }
            let raw = s.find("/instmsg/").map_or("", |i| &s[i..]);
            if let Some(alias) = raw.strip_prefix(ALIASES_PREFIX).and_then(fast_alias) {
                let PathKind::Aliases(general) = classify_path(raw, true).unwrap() else {
                    panic!("general parser disagrees on {raw}")
                };
                prop_assert_eq!(alias, general);
            }
        }

        /// The one-pass URL, `Host` and target recognisers never disagree with the general
        /// parsers, on URL-like and on arbitrary input.
        #[test]
        fn fast_recognisers_agree_with_general_parsers(
            s in prop_oneof![
                "(http|HTTP|hTtP|ftp)://[a-zA-Z0-9._@\\[\\]:-]{0,14}(:[0-9]{0,7})?(/|/instmsg/aliases/[a-zA-Z0-9.%/:~-]{0,10}|/x)?[ ?#]?",
                ".{0,40}",
            ],
            host in prop_oneof![
                "[ \t]?[a-zA-Z0-9._\\[\\]-]{0,10}(:[0-9]{0,7})?[ \t\u{b}]?",
                ".{0,12}",
            ].prop_map(Some).boxed().prop_union(Just(None).boxed()),
            target in prop_oneof![
                Just("/".to_owned()),
                "/instmsg/aliases/[a-zA-Z0-9.%/:~-]{0,10}",
                "/.{0,20}",
                ".{0,20}",
            ],
        ) {
            if let Some(fast) = fast_node_url(&s) {
                prop_assert_eq!(Ok(fast), NodeUrlRef::parse_general(&s), "{}", s);
            }
            let host_bytes = host.as_deref().map(str::as_bytes);
            if let Some(h) = host_bytes.and_then(fast_host_header) {
                let general = std::str::from_utf8(host_bytes.unwrap_or_default()).unwrap();
                prop_assert_eq!(Ok(h), validate_authority(general.trim()), "{:?}", host);
            }
            if let Some(fast) = fast_target_ref(&target, host_bytes) {
                prop_assert_eq!(Ok(fast), parse_target_ref(&target, host.as_deref()), "{} {:?}", target, host);
            }
        }

        #[test]
        fn url_like_strings_never_panic(s in "(http|HTTP)://[a-z0-9.:\\[\\]@%/]{0,40}(/instmsg/(aliases|local)/[a-zA-Z0-9.%/:]{0,30})?") {
            if let Ok(n) = NodeUrl::parse(&s) {
                prop_assert_eq!(NodeUrl::parse(&n.to_string()).unwrap(), n);
            }
            let _ = parse_target(&s, None);
        }
    }
}
