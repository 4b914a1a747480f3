//! HTTP Digest as RVP uses it (RFC 7616 with MD5 and `qop=auth`; RFC 2617), sans-IO: the
//! two headers and the request-digest, one definition for clients and servers (feature
//! `digest`).
//!
//! ```text
//!  server                                             client
//!  Challenge::new(realm, nonce) ─header_value()─► WWW-Authenticate ─► Challenge::parse / select
//!  Authorization::parse(value) ◄── Authorization ◄─write()─ Authorization { username, .. }
//!        │                                                   ▲
//!        └─► compute_response(Ha1, method, uri, nonce, QopAuth) ┘  (the `response` both sides compute)
//! ```
//!
//! * [`Challenge`] (`WWW-Authenticate`): read by a client ([`Challenge::parse`],
//!   [`Challenge::select`]), written by a server ([`Challenge::header_value`]).
//! * [`Authorization`] (`Authorization`): read by a server ([`Authorization::parse`],
//!   borrowed from the header, no allocation per parameter), written by a client
//!   ([`Authorization::write`]).
//! * The request-digest: [`Ha1`], [`QopAuth`], [`compute_response`], and librvp's
//!   truncated-HA1 variant ([`compute_librvp_response`], [`Ha1::librvp_compatible`]).
//! * [`DigestHeaderError`]: why a Digest header could not be read or written.
//!
//! What is supported (PROTOCOL.md §8.1: RVP servers offer MD5 with `qop="auth"`):
//! `algorithm` absent or `MD5`; `qop` absent (the RFC 2069 form) or `auth`. `MD5-sess`,
//! `SHA-256`, `userhash` and `auth-int`-only challenges are refused with a typed error.
//! Nonces, nonce counts, replay protection and accounts belong to the two ends (the
//! client's state machine, the server's verifier), not here; nothing here reads a clock or
//! a random source.
//!
//! # librvp's truncated HA1
//!
//! librvp (Pidgin's RVP plugin) hex-encodes the binary HA1 as if it were a C string: when
//! MD5(`user:realm:password`) has a zero byte, its answer uses only the hex of the bytes
//! before the first zero (for alice / `secret` / `localhost` the HA1 is
//! `c4bd012dfa61b3 00 07…` and librvp hashes `c4bd012dfa61b3`). That is a fact of the
//! protocol as deployed: [`compute_librvp_response`] computes librvp's answer, and
//! [`Ha1::librvp_compatible`] tells whether a server may accept it (only when at least
//! [`LIBRVP_MIN_PREFIX`] bytes precede the zero: a shorter prefix would make the answer
//! guessable). About 3 % of HA1s get the truncated form accepted and about 3 % cannot sign
//! on with librvp at all.
//!
//! ```
//! use rvp_proto::digest::{Authorization, Challenge, Ha1, QopAuth, compute_response};
//!
//! // The server's challenge, read by the client (RFC 7616 §3.9.1, the MD5 example).
//! let value = Challenge::new("http-auth@example.org", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v")
//!     .header_value();
//! let challenge = Challenge::parse(&value)?;
//! assert!(challenge.qop_auth());
//!
//! // The client's answer ...
//! let ha1 = Ha1::from_password("Mufasa", challenge.realm(), "Circle of Life");
//! let qop = QopAuth { nc: "00000001", cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ" };
//! let response = compute_response(&ha1, "GET", "/dir/index.html", challenge.nonce(), Some(qop));
//! assert_eq!(response, "8ca523f5e9506fed4657c9700eebdbec");
//! let mut answer = Authorization::default();
//! answer.username = Some("Mufasa".into());
//! answer.realm = Some(challenge.realm().into());
//! answer.nonce = Some(challenge.nonce().into());
//! answer.uri = Some("/dir/index.html".into());
//! answer.response = Some(response.as_str().into());
//! answer.qop = Some("auth".into());
//! answer.nc = Some(qop.nc.into());
//! answer.cnonce = Some(qop.cnonce.into());
//! let mut header = String::new();
//! answer.write(&mut header)?;
//!
//! // ... read back by the server.
//! let read = Authorization::parse(header.as_bytes())?;
//! assert_eq!(read, answer);
//! # Ok::<(), rvp_proto::digest::DigestHeaderError>(())
//! ```

mod authorization;
mod challenge;
pub mod lhex;
mod response;

pub use authorization::{Authorization, parse_nonce_count, split_scheme};
pub use challenge::{Challenge, MAX_CHALLENGE_LEN, MAX_VALUE_LEN};
pub use response::{
    HA1_LEN, Ha1, Ha2, LIBRVP_MIN_PREFIX, LibrvpCompat, QopAuth, compute_librvp_response,
    compute_response,
};

/// Most auth-params read from one Digest header (a challenge has 3 to 6, an answer 9 or
/// 10).
pub const MAX_PARAMS: usize = 32;

/// Why a Digest header (`WWW-Authenticate` or `Authorization`) could not be read or
/// written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestHeaderError {
    /// The header value is longer than the limit of the one reading it
    /// ([`MAX_CHALLENGE_LEN`] for a challenge; a server's own for an answer).
    #[error("Digest header value of {length} bytes exceeds the limit of {limit} bytes")]
    TooLong {
        /// Length received.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// No `Digest` challenge among the offered ones.
    #[error("no Digest challenge is offered")]
    NotDigest,
    /// Not a well-formed list of auth-params (or, for an `Authorization`, not the `Digest`
    /// scheme).
    #[error("malformed Digest header: {0}")]
    Malformed(&'static str),
    /// A required parameter is absent.
    #[error("the Digest header lacks the {0:?} parameter")]
    Missing(&'static str),
    /// A parameter appears twice.
    #[error("the Digest header repeats the {0:?} parameter")]
    Duplicate(String),
    /// An `algorithm` other than MD5 (`MD5-sess`, `SHA-256`...).
    #[error("Digest algorithm {0:?} is not supported (only MD5)")]
    UnsupportedAlgorithm(String),
    /// A `qop` other than `auth` (a challenge: a list without `auth`).
    #[error("Digest qop {0:?} is not supported (only \"auth\")")]
    UnsupportedQop(String),
    /// `userhash=true`.
    #[error("Digest userhash is not supported")]
    UserHash,
    /// An `nc` that is not 8 hex digits, or is zero.
    #[error("Digest nc {0:?} is not 8 hex digits >= 1")]
    InvalidNonceCount(String),
    /// A value that cannot be written into the header or its digest (a control
    /// character, an empty method, a quote in the cnonce).
    #[error("cannot put the {0} into a Digest header")]
    InvalidInput(&'static str),
    /// The nonce count would pass `ffffffff` (a new challenge is needed).
    #[error("the Digest nonce count is exhausted")]
    NonceCountExhausted,
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

/// Whether `b` is an RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// Whether `c` is an RFC 9110 `tchar`.
fn is_tchar_char(c: char) -> bool {
    u8::try_from(c).is_ok_and(is_tchar)
}

/// Skips optional whitespace (spaces and tabs) from `i`.
fn skip_ows(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

/// Appends `value` as a quoted-string (`"` and `\` escaped).
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tchar_table_is_the_rfc_set() {
        for b in 0..=u8::MAX {
            let want = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), want, "{b:#04x}");
            assert_eq!(
                is_tchar_char(char::from(b)),
                want && b.is_ascii(),
                "{b:#04x}"
            );
        }
        assert!(!is_tchar_char('é'));
    }

    #[test]
    fn quoting() {
        let mut s = String::new();
        push_quoted(&mut s, "a\"b\\c");
        assert_eq!(s, "\"a\\\"b\\\\c\"");
    }
}
