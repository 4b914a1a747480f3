//! `LHEX` (RFC 7616 §3.4.1): the lower-case hex in which Digest writes its hashes, and
//! which servers also use for opaque values such as nonces. Read case-insensitively.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes the lower-case hex of `bytes` into the start of `out` (which must hold twice as
/// many bytes; what does not fit is left out).
pub fn encode_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0x0f)];
    }
}

/// The lower-case hex of `bytes`.
///
/// ```
/// assert_eq!(rvp_proto::digest::lhex::encode(&[0, 0xaf, 0xff]), "00afff");
/// ```
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// The value of each hex digit (either case); [`NOT_HEX`] for every other byte. One load a
/// digit: a server decodes a nonce (64 digits) on every verified request.
const DIGIT: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut d = 0u8;
    while d < 10 {
        t[(b'0' + d) as usize] = d;
        d += 1;
    }
    let mut d = 0u8;
    while d < 6 {
        t[(b'a' + d) as usize] = 10 + d;
        t[(b'A' + d) as usize] = 10 + d;
        d += 1;
    }
    t
};
const NOT_HEX: u8 = 0xff;

/// Decodes exactly `out.len() * 2` hex digits (either case) into `out`; `false` (and `out`
/// unspecified) for another length or a non-hex digit.
///
/// ```
/// let mut out = [0u8; 3];
/// assert!(rvp_proto::digest::lhex::decode_into(b"00aFff", &mut out));
/// assert_eq!(out, [0, 0xaf, 0xff]);
/// assert!(!rvp_proto::digest::lhex::decode_into(b"00aFf", &mut out));
/// assert!(!rvp_proto::digest::lhex::decode_into(b"00aFfg", &mut out));
/// ```
pub fn decode_into(hex: &[u8], out: &mut [u8]) -> bool {
    if hex.len() != out.len() * 2 {
        return false;
    }
    // Every digit decoded, then one test: a byte that is not a digit has its high bit set.
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (h, l) = (DIGIT[usize::from(pair[0])], DIGIT[usize::from(pair[1])]);
        bad |= h | l;
        *o = (h << 4) | (l & 0x0f);
    }
    bad & 0x80 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly the hex digits decode, in either place of a pair, to their value.
    #[test]
    fn only_hex_digits_decode() {
        for b in 0..=255u8 {
            let value = char::from(b)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok());
            let mut out = [0u8; 1];
            assert_eq!(
                decode_into(&[b, b'0'], &mut out),
                value.is_some(),
                "{b:#04x} first"
            );
            if let Some(v) = value {
                assert_eq!(out[0], v << 4);
            }
            assert_eq!(
                decode_into(&[b'0', b], &mut out),
                value.is_some(),
                "{b:#04x} second"
            );
            if let Some(v) = value {
                assert_eq!(out[0], v);
            }
        }
    }

    proptest::proptest! {
        /// Encoding then decoding gives the bytes back; upper-case digits read the same.
        #[test]
        fn round_trip(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let hex = encode(&bytes);
            let mut fixed = vec![0u8; hex.len()];
            encode_into(&bytes, &mut fixed);
            proptest::prop_assert_eq!(fixed.as_slice(), hex.as_bytes());
            let mut back = vec![0u8; bytes.len()];
            proptest::prop_assert!(decode_into(hex.as_bytes(), &mut back));
            proptest::prop_assert_eq!(&back, &bytes);
            proptest::prop_assert!(decode_into(hex.to_ascii_uppercase().as_bytes(), &mut back));
            proptest::prop_assert_eq!(&back, &bytes);
        }
    }
}
