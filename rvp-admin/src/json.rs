//! The little JSON the export writes: strings (escaped per RFC 8259) and base64
//! (RFC 4648, standard alphabet, padded) for bodies.

use std::fmt::Write as _;

/// Appends `s` as a JSON string (quotes included): `"` and `\` escaped, control
/// characters as `\n`, `\r`, `\t` or `\u00XX`; everything else as is (UTF-8).
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends `bytes` in base64 (standard alphabet, `=` padding).
pub(crate) fn push_base64(out: &mut String, bytes: &[u8]) {
    let sym = |v: u32| char::from(ALPHABET[(v & 63) as usize]);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// A JSON string's value (test side: reads back what `push_str` writes, with any
    /// escape RFC 8259 allows).
    pub(crate) fn read_str(s: &str) -> Option<String> {
        let inner = s.strip_prefix('"')?.strip_suffix('"')?;
        let mut out = String::new();
        let mut it = inner.chars();
        while let Some(c) = it.next() {
            if c == '"' || u32::from(c) < 0x20 {
                return None;
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            out.push(match it.next()? {
                '"' => '"',
                '\\' => '\\',
                '/' => '/',
                'n' => '\n',
                'r' => '\r',
                't' => '\t',
                'b' => '\u{8}',
                'f' => '\u{c}',
                'u' => {
                    let hex: String = it.by_ref().take(4).collect();
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                }
                _ => return None,
            });
        }
        Some(out)
    }

    /// Base64 back to bytes (test side).
    pub(crate) fn read_base64(s: &str) -> Option<Vec<u8>> {
        if !s.len().is_multiple_of(4) {
            return None;
        }
        let val = |c: u8| {
            ALPHABET
                .iter()
                .position(|&a| a == c)
                .and_then(|p| u32::try_from(p).ok())
        };
        let mut out = Vec::new();
        for q in s.as_bytes().chunks(4) {
            let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
            let mut n = 0u32;
            for &c in &q[..4 - pad] {
                n = n << 6 | val(c)?;
            }
            n <<= 6 * pad;
            let [_, a, b, c] = n.to_be_bytes();
            let bytes = [a, b, c];
            out.extend_from_slice(&bytes[..3 - pad]);
        }
        Some(out)
    }

    #[test]
    fn rfc_4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut s = String::new();
            push_base64(&mut s, raw.as_bytes());
            assert_eq!(s, enc);
        }
        let mut s = String::new();
        push_base64(&mut s, &[0xfb, 0xff]);
        assert_eq!(s, "+/8=");
    }

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\nd\u{1}é😀");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é😀\"");
    }

    proptest! {
        #[test]
        fn strings_round_trip(text in "(\\PC|[\\x00-\\x1f\"\\\\])*") {
            let mut s = String::new();
            push_str(&mut s, &text);
            prop_assert_eq!(read_str(&s), Some(text));
        }

        #[test]
        fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut s = String::new();
            push_base64(&mut s, &bytes);
            prop_assert_eq!(s.len(), bytes.len().div_ceil(3) * 4);
            prop_assert_eq!(read_base64(&s), Some(bytes));
        }
    }
}
