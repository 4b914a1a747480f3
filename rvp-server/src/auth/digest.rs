//! HTTP Digest (RFC 7616 with MD5 and `qop=auth`), sans-IO: the caller passes `now`, the
//! verifier never reads a clock or a socket.
//!
//! ```text
//!  request without Authorization ──► 401 + DigestVerifier::challenge(now)
//!                                        WWW-Authenticate: Digest qop="auth", realm="…", nonce="…"
//!  request with Authorization ─────► parse_authorization(value) ──► DigestParams (borrowed)
//!                                        │
//!                                        └─► DigestVerifier::verify(now, users, method, target, params)
//!                                               nonce MAC and age ─► credentials lookup ─► response
//!                                               ─► replay table (nonce, nc) ─► Verified { principal }
//! ```
//!
//! # Nonces
//!
//! A nonce is 64 hex digits: the issue time (milliseconds since the verifier was created)
//! and a per-verifier counter, followed by a 128-bit HMAC-SHA256 tag over both keyed with a
//! [`NonceSecret`]. The server keeps no state per issued nonce: a nonce whose tag does not
//! verify is forged ([`DigestError::ForgedNonce`]), one older than
//! [`DigestConfig::nonce_lifetime`] is stale ([`DigestError::StaleNonce`]). A new secret
//! (a restart) makes every earlier nonce forged.
//!
//! # Replay protection
//!
//! Every accepted (nonce, `nc`) pair is remembered until the nonce expires; a nonce is
//! accepted again only with a strictly greater `nc` (RFC 7616 §3.3). librvp never reuses a
//! nonce and always sends `nc=00000001`, so for it every nonce works exactly once. The
//! table holds at most
//! [`DigestConfig::max_tracked_nonces`] nonces: when full, the oldest is dropped and every
//! nonce issued up to it is refused as stale from then on, so a full table never re-opens a
//! replay.
//!
//! # What librvp needs (interop README, "Authentication and redirects")
//!
//! Exactly one challenge header, `qop="auth"` only (it crashes on `auth,auth-int`), no
//! `MD5-sess`; it sends `algorithm="MD5"` and never echoes `opaque`, so no `opaque` is
//! issued or required. HA1 is computed over the username exactly as sent.
//!
//! # `qop` is required
//!
//! Every challenge asks for `qop="auth"`, so an answer without `qop` (RFC 2069 style, no
//! client nonce, no nonce count) is refused with [`DigestError::Missing`]`("qop")`. librvp
//! answers RFC 2069 style only to challenges *without* `qop`, which this server never sends;
//! no client we know of needs the weaker form, so there is no option to accept it.
//!
//! # librvp's truncated HA1
//!
//! librvp hex-encodes the binary HA1 as if it were a C string: when MD5(`user:realm:password`)
//! has a zero byte, its answer uses only the hex of the bytes before the first zero (interop
//! README item 15; for alice / `secret` / `localhost` the HA1 is `c4bd012dfa61b3 00 07…` and
//! librvp hashes `c4bd012dfa61b3`). The verifier also accepts that truncated form, but only
//! when at least [`LIBRVP_MIN_PREFIX`] bytes precede the zero: a shorter prefix would make the
//! answer guessable (a zero first byte would make it the hash of an empty HA1).
//! [`Ha1::librvp_compatible`] tells which case a user's HA1 is in; about 3 % of HA1s get
//! the truncated form accepted and about 3 % cannot sign on with librvp at all.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use rvp_proto::url::LogicalUrl;
use sha2::Sha256;

/// Length of a nonce issued by [`DigestVerifier::challenge`], in characters.
pub const NONCE_LEN: usize = 64;

/// Most auth-params accepted in one `Authorization` header (real clients send 9 or 10).
pub const MAX_PARAMS: usize = 32;

/// Fewest HA1 bytes before its first zero byte for librvp's truncated answer to be accepted
/// (see [`Ha1::librvp_compatible`]): 8 bytes, so the truncated HA1 still holds 64 bits that
/// only the password gives.
pub const LIBRVP_MIN_PREFIX: usize = 8;

/// Why a Digest answer was refused. Every variant means "answer 401 with a fresh
/// challenge"; [`DigestError::is_stale`] says whether `stale=true` fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The header is not a well-formed list of auth-params.
    #[error("malformed Digest Authorization header: {0}")]
    Malformed(&'static str),
    /// The header is longer than [`DigestConfig::max_header_bytes`].
    #[error("Authorization header of {length} bytes exceeds the limit of {limit} bytes")]
    TooLong {
        /// Length received.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// A required auth-param is absent.
    #[error("Digest Authorization header lacks the {0:?} parameter")]
    Missing(&'static str),
    /// An auth-param appears twice.
    #[error("Digest Authorization header repeats the {0:?} parameter")]
    Duplicate(String),
    /// `algorithm` other than `MD5` (`MD5-sess`, `SHA-256`...).
    #[error("Digest algorithm {0:?} not supported (only MD5)")]
    UnsupportedAlgorithm(String),
    /// `qop` other than `auth` (an absent `qop` is [`DigestError::Missing`]).
    #[error("Digest qop {0:?} not supported (only \"auth\")")]
    UnsupportedQop(String),
    /// `userhash=true` (never offered).
    #[error("Digest userhash not supported")]
    UserHash,
    /// `nc` is not 8 hex digits, or is zero.
    #[error("Digest nc {0:?} is not 8 hex digits >= 1")]
    InvalidNonceCount(String),
    /// The `realm` is not ours.
    #[error("Digest realm {0:?} is not this server's realm")]
    RealmMismatch(String),
    /// The `uri` does not name the request-target.
    #[error("Digest uri {uri:?} does not match the request-target {target:?}")]
    UriMismatch {
        /// The `uri` parameter.
        uri: String,
        /// The request-target.
        target: String,
    },
    /// The nonce was not issued by this server (bad format or tag).
    #[error("Digest nonce was not issued by this server")]
    ForgedNonce,
    /// The nonce is older than the nonce lifetime (or fell out of a full replay table).
    #[error("Digest nonce is stale")]
    StaleNonce,
    /// This (nonce, nc) pair, or a later one, was already accepted.
    #[error("Digest nonce count {nc} replayed")]
    Replay {
        /// The replayed count.
        nc: u32,
    },
    /// No account for this username.
    #[error("no Digest account for user {0:?}")]
    UnknownUser(String),
    /// The response does not match (wrong password).
    #[error("wrong Digest response for user {0:?}")]
    WrongResponse(String),
}

impl DigestError {
    /// Whether the credentials were right but the nonce too old (RFC 7616 `stale=true`).
    pub fn is_stale(&self) -> bool {
        matches!(self, DigestError::StaleNonce)
    }
}

/// Digest settings. Limits and times are explicit, each with a default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DigestConfig {
    /// The realm: the IM domain (reference §8.1, `realm="<IM domain>"`).
    pub realm: String,
    /// How long a nonce is accepted after it was issued. Default 300 s. librvp answers a
    /// 401 at once, so this only needs to cover a slow round trip.
    pub nonce_lifetime: Duration,
    /// Most nonces remembered for replay protection. Default 65 536 (about 5 MiB).
    pub max_tracked_nonces: usize,
    /// Add `stale=true` to the challenge that follows a stale nonce. Default `false`: the
    /// parameter is not known to be safe with librvp, which sees only fresh nonces anyway.
    pub send_stale: bool,
    /// Longest `Authorization` header accepted, in bytes. Default 4 096 (librvp's are about
    /// 300).
    pub max_header_bytes: usize,
}

impl DigestConfig {
    /// Default nonce lifetime.
    pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(300);
    /// Default replay-table capacity.
    pub const DEFAULT_MAX_TRACKED_NONCES: usize = 65_536;
    /// Default header limit.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 4096;

    /// The defaults for `realm`.
    pub fn new(realm: impl Into<String>) -> DigestConfig {
        DigestConfig {
            realm: realm.into(),
            nonce_lifetime: Self::DEFAULT_NONCE_LIFETIME,
            max_tracked_nonces: Self::DEFAULT_MAX_TRACKED_NONCES,
            send_stale: false,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

/// The key that makes nonces unforgeable: 32 bytes, from the OS random generator in
/// production. Its `Debug` output hides the bytes.
#[derive(Clone)]
pub struct NonceSecret([u8; 32]);

impl NonceSecret {
    /// A fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Result<NonceSecret, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(NonceSecret(key))
    }

    /// A fixed secret (tests, or a secret shared by several server processes).
    pub fn from_bytes(key: [u8; 32]) -> NonceSecret {
        NonceSecret(key)
    }
}

impl fmt::Debug for NonceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceSecret(..)")
    }
}

/// `HA1 = MD5(username ":" realm ":" password)` (RFC 7616 §3.4.2), the stored form of a
/// Digest password. Its `Debug` output hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1([u8; 16]);

impl Ha1 {
    /// HA1 for a username exactly as the client sends it, the realm and the password.
    pub fn from_password(username: &str, realm: &str, password: &str) -> Ha1 {
        let mut h = Md5::new();
        h.update(username.as_bytes());
        h.update(b":");
        h.update(realm.as_bytes());
        h.update(b":");
        h.update(password.as_bytes());
        Ha1(h.finalize().into())
    }

    /// Parses 32 hex digits (either case), the form `htdigest` files and our config use.
    pub fn from_hex(hex: &str) -> Option<Ha1> {
        let mut out = [0u8; 16];
        decode_hex(hex.trim().as_bytes(), &mut out).then_some(Ha1(out))
    }

    /// The 32 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex_string(&self.0)
    }

    /// The index of the first zero byte, if any.
    fn first_zero(&self) -> Option<usize> {
        self.0.iter().position(|&b| b == 0)
    }

    /// Whether librvp (Pidgin's RVP plugin) can sign on with this HA1.
    ///
    /// librvp hexes HA1 as a C string, stopping at its first zero byte (module docs). With
    /// no zero byte its answers are standard; with a zero at index [`LIBRVP_MIN_PREFIX`] or
    /// later the verifier accepts its truncated answers as well; with a zero earlier than
    /// that librvp's answers are always refused, so the user must choose another password
    /// (or, for an HA1 computed over `DOMAIN\alias`, another Auth Domain).
    pub fn librvp_compatible(&self) -> LibrvpCompat {
        match self.first_zero() {
            None => LibrvpCompat::Compatible,
            Some(zero_at) if zero_at >= LIBRVP_MIN_PREFIX => LibrvpCompat::Truncated { zero_at },
            Some(zero_at) => LibrvpCompat::Incompatible { zero_at },
        }
    }
}

/// Whether librvp can sign on with an HA1: [`Ha1::librvp_compatible`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LibrvpCompat {
    /// HA1 has no zero byte: librvp's answers are standard Digest answers.
    Compatible,
    /// HA1's first zero byte is at index `zero_at` >= [`LIBRVP_MIN_PREFIX`]: librvp answers
    /// with the hex of the `zero_at` bytes before it, and the verifier accepts that form
    /// for this user (besides the standard one).
    Truncated {
        /// Index of the first zero byte (the number of HA1 bytes librvp uses).
        zero_at: usize,
    },
    /// HA1's first zero byte is at index `zero_at` < [`LIBRVP_MIN_PREFIX`]: librvp's
    /// answers use too little of HA1 to be trusted and are refused, so librvp cannot sign on
    /// as this user (other clients can).
    Incompatible {
        /// Index of the first zero byte (the number of HA1 bytes librvp uses).
        zero_at: usize,
    },
}

impl LibrvpCompat {
    /// Whether librvp can sign on (`Compatible` or `Truncated`).
    pub fn can_sign_on(&self) -> bool {
        !matches!(self, LibrvpCompat::Incompatible { .. })
    }
}

impl fmt::Display for LibrvpCompat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LibrvpCompat::Compatible => f.write_str("librvp can sign on"),
            LibrvpCompat::Truncated { zero_at } => write!(
                f,
                "librvp can sign on: HA1 has a zero byte at index {zero_at}, librvp's truncated \
                 answer (over the {zero_at} bytes before it) is accepted"
            ),
            LibrvpCompat::Incompatible { zero_at } => write!(
                f,
                "librvp cannot sign on: HA1 has a zero byte at index {zero_at}, and librvp \
                 answers over only the {zero_at} bytes before it (fewer than \
                 {LIBRVP_MIN_PREFIX}, refused); choose another password"
            ),
        }
    }
}

impl fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ha1(..)")
    }
}

/// What a credentials store returns for a username: whose account it is and its HA1 for
/// that exact username in the realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestAccount {
    /// The principal the username maps to.
    pub principal: LogicalUrl,
    /// HA1 over the username exactly as sent.
    pub ha1: Ha1,
}

/// A source of Digest accounts: [`UserDirectory`](super::UserDirectory) is the server's.
pub trait DigestUsers {
    /// The account for `username` exactly as the client sent it, in `realm`.
    fn lookup(&self, username: &str, realm: &str) -> Option<DigestAccount>;
}

/// The auth-params of a `Digest` `Authorization` header, borrowed from the header where
/// no unescaping was needed. Unknown parameters are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DigestParams<'a> {
    /// `username`.
    pub username: Option<Cow<'a, str>>,
    /// `realm`.
    pub realm: Option<Cow<'a, str>>,
    /// `nonce`.
    pub nonce: Option<Cow<'a, str>>,
    /// `uri` (the digest-uri).
    pub uri: Option<Cow<'a, str>>,
    /// `response`.
    pub response: Option<Cow<'a, str>>,
    /// `algorithm`.
    pub algorithm: Option<Cow<'a, str>>,
    /// `qop`.
    pub qop: Option<Cow<'a, str>>,
    /// `nc`.
    pub nc: Option<Cow<'a, str>>,
    /// `cnonce`.
    pub cnonce: Option<Cow<'a, str>>,
    /// `opaque` (never required).
    pub opaque: Option<Cow<'a, str>>,
    /// `userhash`.
    pub userhash: Option<Cow<'a, str>>,
}

/// The `tchar`s of RFC 9110 §5.6.2, by byte.
const TCHAR: [bool; 256] = {
    const OTHERS: &[u8] = b"!#$%&'*+-.^_`|~";
    let mut t = [false; 256];
    let mut i = 0;
    while i < OTHERS.len() {
        t[OTHERS[i] as usize] = true;
        i += 1;
    }
    let mut c = b'0';
    while c <= b'z' {
        if c.is_ascii_alphanumeric() {
            t[c as usize] = true;
        }
        c += 1;
    }
    t
};

/// Whether `b` is an RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

fn skip_ows(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

/// Splits `value` into its scheme token and the rest (leading whitespace trimmed).
///
/// `None` if there is no scheme token.
pub fn split_scheme(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = skip_ows(value, 0);
    let mut end = start;
    while end < value.len() && is_tchar(value[end]) {
        end += 1;
    }
    if end == start || (end < value.len() && value[end] != b' ' && value[end] != b'\t') {
        return None;
    }
    Some((&value[start..end], &value[end..]))
}

/// Parses a `Digest` `Authorization` header value (`Digest username="alice", ...`).
///
/// Accepts quoted or token values, any parameter-name case, `\` escapes in quoted
/// strings, empty list elements and optional whitespace; refuses duplicates, more than
/// [`MAX_PARAMS`] parameters, non-UTF-8 bytes and other schemes. Never panics.
pub fn parse_authorization(value: &[u8]) -> Result<DigestParams<'_>, DigestError> {
    let (scheme, rest) = split_scheme(value).ok_or(DigestError::Malformed("no auth scheme"))?;
    if !scheme.eq_ignore_ascii_case(b"Digest") {
        return Err(DigestError::Malformed("scheme is not Digest"));
    }
    let text = std::str::from_utf8(rest).map_err(|_| DigestError::Malformed("not UTF-8"))?;
    let s = text.as_bytes();
    let mut params = DigestParams::default();
    let mut count = 0usize;
    let mut i = 0usize;
    loop {
        // Skip OWS and empty list elements.
        while i < s.len() && matches!(s[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        if i == s.len() {
            break;
        }
        count += 1;
        if count > MAX_PARAMS {
            return Err(DigestError::Malformed("too many parameters"));
        }
        let name_start = i;
        while i < s.len() && is_tchar(s[i]) {
            i += 1;
        }
        if i == name_start {
            return Err(DigestError::Malformed("expected a parameter name"));
        }
        let name = &text[name_start..i];
        i = skip_ows(s, i);
        if s.get(i) != Some(&b'=') {
            return Err(DigestError::Malformed(
                "expected '=' after a parameter name",
            ));
        }
        i = skip_ows(s, i + 1);
        let value: Cow<'_, str> = if s.get(i) == Some(&b'"') {
            i += 1;
            let start = i;
            let mut owned: Option<String> = None;
            // Byte by byte: `"` and `\` are ASCII, never part of a multi-byte character,
            // so every slice boundary below falls between characters.
            loop {
                match s.get(i) {
                    None => return Err(DigestError::Malformed("unterminated quoted string")),
                    Some(b'"') => break,
                    Some(b'\\') => {
                        if i + 1 >= s.len() {
                            return Err(DigestError::Malformed("unterminated quoted string"));
                        }
                        let buf = owned.get_or_insert_with(|| text[start..i].to_owned());
                        // `next` may start a multi-byte character: copy the whole char.
                        let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                        buf.push_str(&text[i + 1..i + 1 + ch_len]);
                        i += 1 + ch_len;
                    }
                    Some(_) => {
                        let run = s[i..]
                            .iter()
                            .position(|&b| b == b'"' || b == b'\\')
                            .unwrap_or(s.len() - i);
                        if let Some(buf) = owned.as_mut() {
                            buf.push_str(&text[i..i + run]);
                        }
                        i += run;
                    }
                }
            }
            let v = match owned {
                Some(buf) => Cow::Owned(buf),
                None => Cow::Borrowed(&text[start..i]),
            };
            i += 1;
            v
        } else {
            let start = i;
            while i < s.len() && is_tchar(s[i]) {
                i += 1;
            }
            if i == start {
                return Err(DigestError::Malformed("expected a parameter value"));
            }
            Cow::Borrowed(&text[start..i])
        };
        i = skip_ows(s, i);
        if i < s.len() && s[i] != b',' {
            return Err(DigestError::Malformed("expected ',' between parameters"));
        }
        // Compared without folding the name into a new String (one per parameter).
        const NAMES: [&str; 11] = [
            "username",
            "realm",
            "nonce",
            "uri",
            "response",
            "algorithm",
            "qop",
            "nc",
            "cnonce",
            "opaque",
            "userhash",
        ];
        let Some(known) = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name)) else {
            continue;
        };
        let slot = match known {
            0 => &mut params.username,
            1 => &mut params.realm,
            2 => &mut params.nonce,
            3 => &mut params.uri,
            4 => &mut params.response,
            5 => &mut params.algorithm,
            6 => &mut params.qop,
            7 => &mut params.nc,
            8 => &mut params.cnonce,
            9 => &mut params.opaque,
            _ => &mut params.userhash,
        };
        if slot.is_some() {
            return Err(DigestError::Duplicate(NAMES[known].to_owned()));
        }
        *slot = Some(value);
    }
    Ok(params)
}

/// The request-digest (RFC 7616 §3.4.1) as 32 lower-case hex digits, for MD5:
/// `MD5(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)` with `qop`, or the RFC 2069 form
/// `MD5(HA1 ":" nonce ":" HA2)` when `qop` is `None` (what a client computes; this server's
/// verifier refuses answers without `qop`); `HA2 = MD5(method ":" uri)`.
pub fn compute_response(
    ha1: &Ha1,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
) -> String {
    response_over(&ha1.0, method, uri, nonce, qop)
}

/// The request-digest librvp computes: like [`compute_response`], but with HA1 hexed only up
/// to its first zero byte (the whole HA1 when it has none). For tests and tools that play
/// librvp; see [`Ha1::librvp_compatible`] for when the verifier accepts it.
pub fn compute_librvp_response(
    ha1: &Ha1,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
) -> String {
    let used = ha1.first_zero().unwrap_or(ha1.0.len());
    response_over(&ha1.0[..used], method, uri, nonce, qop)
}

/// The request-digest with `ha1` (binary, any length) hexed as the HA1 part.
fn response_over(
    ha1: &[u8],
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
) -> String {
    let digest = response_hex(ha1, &ha2_hex(method, uri), nonce, qop);
    // Hex digits are ASCII.
    digest.iter().map(|&b| char::from(b)).collect()
}

/// `HA2 = MD5(method ":" uri)` as 32 lower-case hex digits.
fn ha2_hex(method: &str, uri: &str) -> [u8; 32] {
    let mut h2 = Md5::new();
    h2.update(method.as_bytes());
    h2.update(b":");
    h2.update(uri.as_bytes());
    hex_array(&h2.finalize().into())
}

/// The request-digest as 32 lower-case hex digits, from `ha1` (binary, up to 16 bytes,
/// hexed here) and HA2 already hexed. No allocation: the verifier's hot path.
fn response_hex(ha1: &[u8], ha2: &[u8; 32], nonce: &str, qop: Option<QopAuth<'_>>) -> [u8; 32] {
    let mut ha1_hex = [0u8; 32];
    let ha1 = &ha1[..ha1.len().min(16)];
    hex_into(ha1, &mut ha1_hex);
    let mut h = Md5::new();
    h.update(&ha1_hex[..ha1.len() * 2]);
    h.update(b":");
    h.update(nonce.as_bytes());
    h.update(b":");
    if let Some(q) = qop {
        h.update(q.nc.as_bytes());
        h.update(b":");
        h.update(q.cnonce.as_bytes());
        h.update(b":auth:");
    }
    h.update(ha2);
    hex_array(&h.finalize().into())
}

/// The `qop=auth` inputs of a request-digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopAuth<'a> {
    /// `nc`, exactly as sent (8 hex digits).
    pub nc: &'a str,
    /// `cnonce`, exactly as sent.
    pub cnonce: &'a str,
}

/// One `WWW-Authenticate` challenge, for a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    realm: String,
    nonce: String,
    stale: bool,
}

impl Challenge {
    /// The nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Whether `stale=true` is included.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// The header value, `Digest qop="auth", realm="<realm>", nonce="<nonce>"` (plus
    /// `, stale=true` when set). Send it as the only `WWW-Authenticate` header.
    pub fn header_value(&self) -> String {
        let mut v = String::with_capacity(40 + self.realm.len() + self.nonce.len());
        v.push_str("Digest qop=\"auth\", realm=\"");
        for c in self.realm.chars() {
            if c == '"' || c == '\\' {
                v.push('\\');
            }
            v.push(c);
        }
        v.push_str("\", nonce=\"");
        v.push_str(&self.nonce);
        v.push('"');
        if self.stale {
            v.push_str(", stale=true");
        }
        v
    }

    /// The header as an [`http::HeaderValue`].
    ///
    /// A realm with control characters cannot be a header value; it is then replaced by
    /// an empty realm (the configuration layer refuses such realms).
    pub fn to_header_value(&self) -> http::HeaderValue {
        http::HeaderValue::from_str(&self.header_value())
            .unwrap_or_else(|_| http::HeaderValue::from_static("Digest qop=\"auth\", realm=\"\""))
    }
}

/// A successfully verified Digest answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The principal the account belongs to.
    pub principal: LogicalUrl,
    /// The username exactly as sent (`alice`, `CORP\alice`, `CORP/alice`).
    pub username: String,
    /// The answer was librvp's truncated-HA1 form ([`LibrvpCompat::Truncated`]), not the
    /// standard one.
    pub librvp_truncated: bool,
}

#[derive(Debug, Clone, Copy)]
struct Used {
    issued_ms: u64,
    highest_nc: u32,
}

/// Accepted nonces, ordered by counter (which is also issue order).
#[derive(Debug, Default)]
struct ReplayTable {
    used: BTreeMap<u64, Used>,
    /// Every counter up to this one is refused (dropped from a full table).
    floor: Option<u64>,
}

impl ReplayTable {
    fn evict_expired(&mut self, now_ms: u64, lifetime_ms: u64) {
        while let Some((_, u)) = self.used.first_key_value() {
            if now_ms.saturating_sub(u.issued_ms) > lifetime_ms {
                self.used.pop_first();
            } else {
                break;
            }
        }
    }

    fn check_and_record(
        &mut self,
        counter: u64,
        issued_ms: u64,
        nc: u32,
        capacity: usize,
    ) -> Result<(), DigestError> {
        if self.floor.is_some_and(|f| counter <= f) {
            return Err(DigestError::StaleNonce);
        }
        if let Some(u) = self.used.get_mut(&counter) {
            if nc <= u.highest_nc {
                return Err(DigestError::Replay { nc });
            }
            u.highest_nc = nc;
            return Ok(());
        }
        while self.used.len() >= capacity.max(1) {
            if let Some((c, _)) = self.used.pop_first() {
                self.floor = Some(self.floor.map_or(c, |f| f.max(c)));
            }
        }
        if self.floor.is_some_and(|f| counter <= f) {
            return Err(DigestError::StaleNonce);
        }
        self.used.insert(
            counter,
            Used {
                issued_ms,
                highest_nc: nc,
            },
        );
        Ok(())
    }
}

/// Issues challenges and verifies answers. Shared by all connections (`&self`; the
/// replay table sits behind a mutex held for a map lookup, never across I/O).
#[derive(Debug)]
pub struct DigestVerifier {
    config: DigestConfig,
    /// HMAC-SHA256 keyed with the [`NonceSecret`], the domain label already fed: cloned
    /// for each tag (keying costs two SHA-256 blocks, a tag then two more).
    mac: NonceMac,
    origin: Instant,
    counter: AtomicU64,
    replay: Mutex<ReplayTable>,
}

type HmacSha256 = Hmac<Sha256>;

const NONCE_DOMAIN: &[u8] = b"rvp-server digest nonce v1";

/// The keyed nonce MAC; its `Debug` output shows nothing of the key.
#[derive(Clone)]
struct NonceMac(HmacSha256);

impl NonceMac {
    fn new(secret: &NonceSecret) -> NonceMac {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&secret.0)
            .unwrap_or_else(|_| <HmacSha256 as Mac>::new(&Default::default()));
        mac.update(NONCE_DOMAIN);
        NonceMac(mac)
    }
}

impl fmt::Debug for NonceMac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceMac(..)")
    }
}

impl DigestVerifier {
    /// A verifier whose nonce clock starts at `now`.
    pub fn new(config: DigestConfig, secret: NonceSecret, now: Instant) -> DigestVerifier {
        DigestVerifier {
            config,
            mac: NonceMac::new(&secret),
            origin: now,
            counter: AtomicU64::new(1),
            replay: Mutex::new(ReplayTable::default()),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DigestConfig {
        &self.config
    }

    fn millis(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    fn tag(&self, payload: &[u8; 16]) -> [u8; 16] {
        let mut mac = self.mac.0.clone();
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&full[..16]);
        tag
    }

    /// A fresh challenge. `stale` asks for `stale=true` (only honoured when
    /// [`DigestConfig::send_stale`] is set); pass [`DigestError::is_stale`] of the refusal.
    pub fn challenge(&self, now: Instant, stale: bool) -> Challenge {
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut payload = [0u8; 16];
        payload[..8].copy_from_slice(&self.millis(now).to_be_bytes());
        payload[8..].copy_from_slice(&counter.to_be_bytes());
        let tag = self.tag(&payload);
        let mut nonce = hex_string(&payload);
        nonce.push_str(&hex_string(&tag));
        Challenge {
            realm: self.config.realm.clone(),
            nonce,
            stale: stale && self.config.send_stale,
        }
    }

    /// Checks a nonce's tag; returns (issued_ms, counter).
    fn open_nonce(&self, nonce: &str) -> Result<(u64, u64), DigestError> {
        let mut raw = [0u8; 32];
        if nonce.len() != NONCE_LEN || !decode_hex(nonce.as_bytes(), &mut raw) {
            return Err(DigestError::ForgedNonce);
        }
        let mut payload = [0u8; 16];
        payload.copy_from_slice(&raw[..16]);
        if !ct_eq(&self.tag(&payload), &raw[16..]) {
            return Err(DigestError::ForgedNonce);
        }
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&payload[..8]);
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&payload[8..]);
        Ok((u64::from_be_bytes(issued), u64::from_be_bytes(counter)))
    }

    /// Parses and verifies an `Authorization: Digest ...` header value for a request with
    /// this method and request-target (as on the request line).
    pub fn verify_header<U: DigestUsers + ?Sized>(
        &self,
        now: Instant,
        users: &U,
        method: &str,
        target: &str,
        authorization: &[u8],
    ) -> Result<Verified, DigestError> {
        if authorization.len() > self.config.max_header_bytes {
            return Err(DigestError::TooLong {
                length: authorization.len(),
                limit: self.config.max_header_bytes,
            });
        }
        let params = parse_authorization(authorization)?;
        self.verify(now, users, method, target, &params)
    }

    /// Verifies parsed Digest parameters. On success the (nonce, nc) pair is consumed.
    pub fn verify<U: DigestUsers + ?Sized>(
        &self,
        now: Instant,
        users: &U,
        method: &str,
        target: &str,
        params: &DigestParams<'_>,
    ) -> Result<Verified, DigestError> {
        let username = params
            .username
            .as_deref()
            .ok_or(DigestError::Missing("username"))?;
        let realm = params
            .realm
            .as_deref()
            .ok_or(DigestError::Missing("realm"))?;
        let nonce = params
            .nonce
            .as_deref()
            .ok_or(DigestError::Missing("nonce"))?;
        let uri = params.uri.as_deref().ok_or(DigestError::Missing("uri"))?;
        let response = params
            .response
            .as_deref()
            .ok_or(DigestError::Missing("response"))?;
        if let Some(alg) = params.algorithm.as_deref()
            && !alg.eq_ignore_ascii_case("MD5")
        {
            return Err(DigestError::UnsupportedAlgorithm(alg.to_owned()));
        }
        if params
            .userhash
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("true"))
        {
            return Err(DigestError::UserHash);
        }
        let (qop, nc) = match params.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc_text = params.nc.as_deref().ok_or(DigestError::Missing("nc"))?;
                let cnonce = params
                    .cnonce
                    .as_deref()
                    .ok_or(DigestError::Missing("cnonce"))?;
                let nc = parse_nc(nc_text)?;
                (
                    Some(QopAuth {
                        nc: nc_text,
                        cnonce,
                    }),
                    nc,
                )
            }
            Some(q) => return Err(DigestError::UnsupportedQop(q.to_owned())),
            // Every challenge asks for qop=auth: no RFC 2069 answers (module docs).
            None => return Err(DigestError::Missing("qop")),
        };
        if realm != self.config.realm {
            return Err(DigestError::RealmMismatch(realm.to_owned()));
        }
        if !uri_matches(uri, target) {
            return Err(DigestError::UriMismatch {
                uri: uri.to_owned(),
                target: target.to_owned(),
            });
        }
        let (issued_ms, counter) = self.open_nonce(nonce)?;
        let now_ms = self.millis(now);
        let lifetime_ms = u64::try_from(self.config.nonce_lifetime.as_millis()).unwrap_or(u64::MAX);
        if now_ms.saturating_sub(issued_ms) > lifetime_ms {
            return Err(DigestError::StaleNonce);
        }
        let account = users.lookup(username, realm);
        // An unknown user costs the same hashing as a known one (a stand-in HA1 over an
        // empty password), so timing does not tell which users exist.
        let ha1 = match &account {
            Some(a) => a.ha1.clone(),
            None => Ha1::from_password(username, realm, ""),
        };
        let (standard, truncated) = check_response(&ha1, method, uri, nonce, qop, response);
        let Some(account) = account else {
            return Err(DigestError::UnknownUser(username.to_owned()));
        };
        if !(standard | truncated) {
            return Err(DigestError::WrongResponse(username.to_owned()));
        }
        {
            let mut table = self
                .replay
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            table.evict_expired(now_ms, lifetime_ms);
            table.check_and_record(counter, issued_ms, nc, self.config.max_tracked_nonces)?;
        }
        Ok(Verified {
            principal: account.principal,
            username: username.to_owned(),
            librvp_truncated: truncated && !standard,
        })
    }

    /// How many nonces the replay table holds (for tests and metrics).
    pub fn tracked_nonces(&self) -> usize {
        self.replay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .used
            .len()
    }
}

/// Compares `response` (either case) with the standard answer and with librvp's truncated
/// form, both in constant time: `(standard matches, truncated form matches and is allowed)`.
///
/// The truncated form counts only for [`LibrvpCompat::Truncated`] HA1s; it is computed for
/// every HA1 (over the whole HA1 when it does not apply), so the time does not depend on
/// which case the user's HA1 is in.
fn check_response(
    ha1: &Ha1,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
    response: &str,
) -> (bool, bool) {
    // The answer in lower case (hex digits; anything else cannot match).
    let mut got = [0u8; 32];
    let well_formed = response.len() == got.len();
    if well_formed {
        got.copy_from_slice(response.as_bytes());
        got.make_ascii_lowercase();
    }
    let ha2 = ha2_hex(method, uri);
    let standard = response_hex(&ha1.0, &ha2, nonce, qop);
    let (prefix, allowed) = match ha1.librvp_compatible() {
        LibrvpCompat::Truncated { zero_at } => (zero_at, true),
        _ => (ha1.0.len(), false),
    };
    let short = response_hex(&ha1.0[..prefix], &ha2, nonce, qop);
    let standard_ok = ct_eq(&standard, &got) & well_formed;
    let short_ok = ct_eq(&short, &got) & well_formed;
    (standard_ok, short_ok & allowed)
}

fn parse_nc(nc: &str) -> Result<u32, DigestError> {
    let bad = || DigestError::InvalidNonceCount(nc.to_owned());
    if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    match u32::from_str_radix(nc, 16) {
        Ok(0) | Err(_) => Err(bad()),
        Ok(n) => Ok(n),
    }
}

/// The path part of an absolute-form `http://host/path` target, or the target itself.
fn path_of(target: &str) -> &str {
    let lower_scheme = target
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("http://"));
    if !lower_scheme {
        return target;
    }
    let rest = &target[7..];
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    }
}

/// Whether the digest-uri names the request-target: the same string, or the same path
/// when one of them is in absolute form.
fn uri_matches(uri: &str, target: &str) -> bool {
    uri == target || path_of(uri) == path_of(target)
}

/// Writes the lower-case hex of `bytes` into the start of `out` (which must hold twice
/// as many bytes).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0x0f)];
    }
}

/// The lower-case hex of a 16-byte digest.
fn hex_array(bytes: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex_into(bytes, &mut out);
    out
}

fn hex_string(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes exactly `out.len() * 2` hex digits into `out`.
fn decode_hex(hex: &[u8], out: &mut [u8]) -> bool {
    if hex.len() != out.len() * 2 {
        return false;
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        match (hex_val(pair[0]), hex_val(pair[1])) {
            (Some(h), Some(l)) => *o = (h << 4) | l,
            _ => return false,
        }
    }
    true
}

/// Comparison whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tchar_table_is_the_rfc_set() {
        for b in 0..=u8::MAX {
            let want = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), want, "{b:#04x}");
        }
    }

    #[test]
    fn hex_roundtrip() {
        let mut out = [0u8; 3];
        assert!(decode_hex(b"00aFff", &mut out));
        assert_eq!(out, [0, 0xaf, 0xff]);
        assert_eq!(hex_string(&out), "00afff");
        assert!(!decode_hex(b"00aFf", &mut out));
        assert!(!decode_hex(b"00aFfg", &mut out));
    }

    #[test]
    fn nc_forms() {
        assert_eq!(parse_nc("00000001"), Ok(1));
        assert_eq!(parse_nc("0000000a"), Ok(10));
        assert!(parse_nc("00000000").is_err());
        assert!(parse_nc("1").is_err());
        assert!(parse_nc("+0000001").is_err());
    }

    #[test]
    fn uri_forms() {
        assert!(uri_matches("/a/b", "/a/b"));
        assert!(uri_matches("/a/b", "http://h/a/b"));
        assert!(uri_matches("HTTP://x/a/b", "/a/b"));
        assert!(uri_matches("http://h", "/"));
        assert!(!uri_matches("/a/b", "/a/c"));
        assert!(!uri_matches("/a/b?x", "/a/b"));
    }

    /// A password for `user` in realm `localhost` whose HA1's first zero byte is at an
    /// index in `range` (searched: `pw-0`, `pw-1`, ...).
    fn password_with_zero_in(user: &str, range: std::ops::Range<usize>) -> (String, Ha1) {
        (0..100_000)
            .map(|i| format!("pw-{i}"))
            .find_map(|pw| {
                let ha1 = Ha1::from_password(user, "localhost", &pw);
                ha1.first_zero()
                    .is_some_and(|z| range.contains(&z))
                    .then_some((pw, ha1))
            })
            .unwrap()
    }

    struct OneUser(Ha1);

    impl DigestUsers for OneUser {
        fn lookup(&self, username: &str, _realm: &str) -> Option<DigestAccount> {
            (username == "alice").then(|| DigestAccount {
                principal: LogicalUrl::new("localhost", "alice").unwrap(),
                ha1: self.0.clone(),
            })
        }
    }

    /// Verifies, with a fresh nonce, the answer `respond` computes from (ha1, method, uri,
    /// nonce, qop) for user alice whose HA1 is `ha1`.
    fn answer(
        ha1: &Ha1,
        respond: impl Fn(&Ha1, &str, &str, &str, Option<QopAuth<'_>>) -> String,
    ) -> Result<Verified, DigestError> {
        let t0 = Instant::now();
        let v = DigestVerifier::new(
            DigestConfig::new("localhost"),
            NonceSecret::from_bytes([3; 32]),
            t0,
        );
        let nonce = v.challenge(t0, false).nonce;
        let qop = QopAuth {
            nc: "00000001",
            cnonce: "abcdef01",
        };
        let params = DigestParams {
            username: Some("alice".into()),
            realm: Some("localhost".into()),
            nonce: Some(nonce.as_str().into()),
            uri: Some("/x".into()),
            response: Some(respond(ha1, "ACL", "/x", &nonce, Some(qop)).into()),
            qop: Some("auth".into()),
            nc: Some("00000001".into()),
            cnonce: Some("abcdef01".into()),
            ..DigestParams::default()
        };
        v.verify(t0, &OneUser(ha1.clone()), "ACL", "/x", &params)
    }

    /// The answer over the first `k` bytes of HA1.
    fn truncated_at(k: usize) -> impl Fn(&Ha1, &str, &str, &str, Option<QopAuth<'_>>) -> String {
        move |ha1, m, u, n, q| response_over(&ha1.0[..k], m, u, n, q)
    }

    #[test]
    fn the_librvp_example_of_the_interop_readme() {
        // alice / secret / localhost: HA1 c4bd012dfa61b3 00 07..., librvp hashes the 14 hex
        // digits before the zero: 7 bytes, fewer than LIBRVP_MIN_PREFIX, so refused.
        let ha1 = Ha1::from_password("alice", "localhost", "secret");
        assert_eq!(ha1.to_hex(), "c4bd012dfa61b3000723c206d202a63c");
        assert_eq!(
            ha1.librvp_compatible(),
            LibrvpCompat::Incompatible { zero_at: 7 }
        );
        assert!(!ha1.librvp_compatible().can_sign_on());
        // librvp's answer is the standard formula over the 14 hex digits.
        let qop = QopAuth {
            nc: "00000001",
            cnonce: "cn",
        };
        let ha2 = hex_string(&Md5::digest(b"ACL:/x"));
        let by_hand = Md5::digest(format!("c4bd012dfa61b3:n:00000001:cn:auth:{ha2}").as_bytes());
        assert_eq!(
            compute_librvp_response(&ha1, "ACL", "/x", "n", Some(qop)),
            hex_string(&by_hand)
        );
        assert!(answer(&ha1, compute_response).is_ok());
        assert_eq!(
            answer(&ha1, compute_librvp_response),
            Err(DigestError::WrongResponse("alice".into()))
        );
    }

    #[test]
    fn truncated_answer_accepted_when_the_zero_is_late_enough() {
        let (pw, ha1) = password_with_zero_in("alice", LIBRVP_MIN_PREFIX..15);
        let zero_at = ha1.first_zero().unwrap();
        assert_eq!(
            ha1.librvp_compatible(),
            LibrvpCompat::Truncated { zero_at },
            "{pw}"
        );
        assert!(ha1.librvp_compatible().can_sign_on());
        let v = answer(&ha1, compute_response).unwrap();
        assert!(!v.librvp_truncated);
        let v = answer(&ha1, compute_librvp_response).unwrap();
        assert!(v.librvp_truncated);
        // Only the cut at the first zero byte: not one byte shorter or longer (the zero is
        // before the last byte, so one longer is not the whole HA1).
        assert!(answer(&ha1, truncated_at(zero_at - 1)).is_err());
        assert!(answer(&ha1, truncated_at(zero_at + 1)).is_err());
    }

    #[test]
    fn early_zero_accepts_only_the_standard_answer() {
        let (pw, ha1) = password_with_zero_in("alice", 0..LIBRVP_MIN_PREFIX);
        let zero_at = ha1.first_zero().unwrap();
        assert_eq!(
            ha1.librvp_compatible(),
            LibrvpCompat::Incompatible { zero_at },
            "{pw}"
        );
        assert!(answer(&ha1, compute_response).is_ok());
        assert!(answer(&ha1, compute_librvp_response).is_err());
        // A zero first byte would otherwise make librvp's answer a hash of an empty HA1.
        let zero_first = Ha1([0; 16]);
        assert_eq!(
            zero_first.librvp_compatible(),
            LibrvpCompat::Incompatible { zero_at: 0 }
        );
        assert!(answer(&zero_first, compute_response).is_ok());
        assert!(answer(&zero_first, truncated_at(0)).is_err());
    }

    #[test]
    fn no_zero_byte_never_accepts_a_truncated_form() {
        let ha1 = Ha1::from_password("alice", "localhost", "wonderland");
        assert_eq!(ha1.first_zero(), None);
        assert_eq!(ha1.librvp_compatible(), LibrvpCompat::Compatible);
        // librvp's answer is the standard one here.
        assert_eq!(
            compute_librvp_response(&ha1, "ACL", "/x", "n", None),
            compute_response(&ha1, "ACL", "/x", "n", None)
        );
        assert!(!answer(&ha1, compute_response).unwrap().librvp_truncated);
        for k in 0..16 {
            assert_eq!(
                answer(&ha1, truncated_at(k)),
                Err(DigestError::WrongResponse("alice".into())),
                "{k}"
            );
        }
    }

    #[test]
    fn compat_messages_say_why() {
        let no = LibrvpCompat::Incompatible { zero_at: 3 }.to_string();
        assert!(
            no.contains("cannot sign on") && no.contains("index 3"),
            "{no}"
        );
        let yes = LibrvpCompat::Truncated { zero_at: 9 }.to_string();
        assert!(
            yes.contains("can sign on") && yes.contains("index 9"),
            "{yes}"
        );
    }

    #[test]
    fn replay_table_floor() {
        let mut t = ReplayTable::default();
        t.check_and_record(1, 0, 1, 2).unwrap();
        t.check_and_record(2, 0, 1, 2).unwrap();
        assert_eq!(
            t.check_and_record(2, 0, 1, 2),
            Err(DigestError::Replay { nc: 1 })
        );
        t.check_and_record(2, 0, 2, 2).unwrap();
        // Full: the oldest (1) is dropped and becomes the floor.
        t.check_and_record(3, 0, 1, 2).unwrap();
        assert_eq!(t.used.len(), 2);
        assert_eq!(t.check_and_record(1, 0, 2, 2), Err(DigestError::StaleNonce));
        t.evict_expired(1000, 10);
        assert!(t.used.is_empty());
    }
}
