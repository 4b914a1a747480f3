//! The request-digest (RFC 7616 §3.4.1) with MD5: HA1, HA2, the `response` both ends
//! compute, and librvp's truncated-HA1 variant.

use std::fmt;

use md5::{Digest as _, Md5};

/// Fewest HA1 bytes before its first zero byte for librvp's truncated answer to be accepted
/// (see [`Ha1::librvp_compatible`]): 8 bytes, so the truncated HA1 still holds 64 bits that
/// only the password gives.
pub const LIBRVP_MIN_PREFIX: usize = 8;

/// Bytes in an HA1 (an MD5 digest): [`Ha1::response_digits`] over this many is the
/// standard answer.
pub const HA1_LEN: usize = 16;

/// `HA1 = MD5(username ":" realm ":" password)` (RFC 7616 §3.4.2), the stored form of a
/// Digest password. Its `Debug` output hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1([u8; HA1_LEN]);

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

    /// Parses 32 hex digits (either case; surrounding whitespace ignored), the form
    /// `htdigest` files and configurations use.
    pub fn from_hex(hex: &str) -> Option<Ha1> {
        let mut out = [0u8; HA1_LEN];
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
    /// later a server may accept its truncated answers as well; with a zero earlier than
    /// that librvp's answers must be refused, so the user must choose another password
    /// (or, for an HA1 computed over `DOMAIN\alias`, another Auth Domain).
    pub fn librvp_compatible(&self) -> LibrvpCompat {
        match self.first_zero() {
            None => LibrvpCompat::Compatible,
            Some(zero_at) if zero_at >= LIBRVP_MIN_PREFIX => LibrvpCompat::Truncated { zero_at },
            Some(zero_at) => LibrvpCompat::Incompatible { zero_at },
        }
    }

    /// The request-digest as 32 lower-case hex digits (ASCII), over the hex of the first
    /// `ha1_bytes` bytes of this HA1: all 16 (or more) give the standard answer
    /// ([`compute_response`]), the bytes before the first zero librvp's. No allocation: a
    /// verifier's hot path, which computes [`Ha2`] once for both forms.
    pub fn response_digits(
        &self,
        ha1_bytes: usize,
        ha2: &Ha2,
        nonce: &str,
        qop: Option<QopAuth<'_>>,
    ) -> [u8; 32] {
        let ha1 = &self.0[..ha1_bytes.min(HA1_LEN)];
        let mut ha1_hex = [0u8; 2 * HA1_LEN];
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
        h.update(ha2.0);
        hex_array(&h.finalize().into())
    }
}

impl fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ha1(..)")
    }
}

/// Whether librvp can sign on with an HA1: [`Ha1::librvp_compatible`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LibrvpCompat {
    /// HA1 has no zero byte: librvp's answers are standard Digest answers.
    Compatible,
    /// HA1's first zero byte is at index `zero_at` >= [`LIBRVP_MIN_PREFIX`]: librvp answers
    /// with the hex of the `zero_at` bytes before it, and a server may accept that form for
    /// this user (besides the standard one).
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

/// `HA2 = MD5(method ":" uri)` as 32 lower-case hex digits (RFC 7616 §3.4.3, `qop=auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ha2([u8; 32]);

impl Ha2 {
    /// HA2 of a request: its method and the digest-uri exactly as in the answer.
    pub fn new(method: &str, uri: &str) -> Ha2 {
        let mut h2 = Md5::new();
        h2.update(method.as_bytes());
        h2.update(b":");
        h2.update(uri.as_bytes());
        Ha2(hex_array(&h2.finalize().into()))
    }
}

/// The `qop=auth` inputs of a request-digest, exactly as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopAuth<'a> {
    /// `nc`: 8 hex digits.
    pub nc: &'a str,
    /// `cnonce`.
    pub cnonce: &'a str,
}

/// The request-digest (RFC 7616 §3.4.1) as 32 lower-case hex digits, for MD5:
/// `MD5(hex(HA1) ":" nonce ":" nc ":" cnonce ":auth:" HA2)` with `qop`, or the RFC 2069
/// form `MD5(hex(HA1) ":" nonce ":" HA2)` when `qop` is `None`; `HA2 = MD5(method ":" uri)`.
pub fn compute_response(
    ha1: &Ha1,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
) -> String {
    digits_string(ha1.response_digits(HA1_LEN, &Ha2::new(method, uri), nonce, qop))
}

/// The request-digest librvp computes: like [`compute_response`], but with HA1 hexed only up
/// to its first zero byte (the whole HA1 when it has none). For tests and tools that play
/// librvp; see [`Ha1::librvp_compatible`] for when a server may accept it.
pub fn compute_librvp_response(
    ha1: &Ha1,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
) -> String {
    let used = ha1.first_zero().unwrap_or(HA1_LEN);
    digits_string(ha1.response_digits(used, &Ha2::new(method, uri), nonce, qop))
}

/// Hex digits (ASCII) as a `String`.
fn digits_string(digits: [u8; 32]) -> String {
    digits.iter().map(|&b| char::from(b)).collect()
}

use super::lhex::{decode_into as decode_hex, encode as hex_string, encode_into as hex_into};

/// The lower-case hex of a 16-byte digest.
fn hex_array(bytes: &[u8; 16]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex_into(bytes, &mut out);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip() {
        let ha1 = Ha1::from_hex(" C4BD012DFA61B3000723C206D202A63C\n").unwrap();
        assert_eq!(ha1.to_hex(), "c4bd012dfa61b3000723c206d202a63c");
        assert_eq!(Ha1::from_hex("c4bd"), None);
        assert_eq!(format!("{ha1:?}"), "Ha1(..)");
    }

    #[test]
    fn rfc7616_md5_example() {
        let ha1 = Ha1::from_password("Mufasa", "http-auth@example.org", "Circle of Life");
        let qop = QopAuth {
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        };
        let r = compute_response(
            &ha1,
            "GET",
            "/dir/index.html",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            Some(qop),
        );
        assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn the_formulas_by_hand() {
        let ha1 = Ha1::from_password("alice", "r", "pw");
        let ha2 = hex_string(&Md5::digest(b"ACL:/x"));
        let with_qop = Md5::digest(format!("{}:n:0000000a:cn:auth:{ha2}", ha1.to_hex()).as_bytes());
        let qop = QopAuth {
            nc: "0000000a",
            cnonce: "cn",
        };
        assert_eq!(
            compute_response(&ha1, "ACL", "/x", "n", Some(qop)),
            hex_string(&with_qop)
        );
        // RFC 2069: no nc, cnonce or qop in the digest.
        let without = Md5::digest(format!("{}:n:{ha2}", ha1.to_hex()).as_bytes());
        assert_eq!(
            compute_response(&ha1, "ACL", "/x", "n", None),
            hex_string(&without)
        );
        // The digits past 16 HA1 bytes are the whole HA1.
        assert_eq!(
            ha1.response_digits(99, &Ha2::new("ACL", "/x"), "n", None),
            ha1.response_digits(HA1_LEN, &Ha2::new("ACL", "/x"), "n", None)
        );
    }

    #[test]
    fn the_librvp_example_of_the_interop_readme() {
        // alice / secret / localhost: HA1 c4bd012dfa61b3 00 07..., librvp hashes the 14 hex
        // digits before the zero: 7 bytes, fewer than LIBRVP_MIN_PREFIX.
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
        assert_ne!(
            compute_librvp_response(&ha1, "ACL", "/x", "n", Some(qop)),
            compute_response(&ha1, "ACL", "/x", "n", Some(qop))
        );
    }

    #[test]
    fn compat_cases() {
        let no_zero = Ha1::from_password("alice", "localhost", "wonderland");
        assert_eq!(no_zero.first_zero(), None);
        assert_eq!(no_zero.librvp_compatible(), LibrvpCompat::Compatible);
        // librvp's answer is the standard one here.
        assert_eq!(
            compute_librvp_response(&no_zero, "ACL", "/x", "n", None),
            compute_response(&no_zero, "ACL", "/x", "n", None)
        );
        let at = |i: usize| {
            let mut b = [0x11u8; HA1_LEN];
            b[i] = 0;
            Ha1(b).librvp_compatible()
        };
        assert_eq!(at(0), LibrvpCompat::Incompatible { zero_at: 0 });
        assert_eq!(
            at(LIBRVP_MIN_PREFIX - 1),
            LibrvpCompat::Incompatible {
                zero_at: LIBRVP_MIN_PREFIX - 1
            }
        );
        assert_eq!(
            at(LIBRVP_MIN_PREFIX),
            LibrvpCompat::Truncated {
                zero_at: LIBRVP_MIN_PREFIX
            }
        );
        assert!(at(LIBRVP_MIN_PREFIX).can_sign_on());
        assert_eq!(at(15), LibrvpCompat::Truncated { zero_at: 15 });
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
}
