//! The "double UTF-8" form librvp and Miranda send (interop README, point 8).
//!
//! Those clients take the UTF-8 bytes of the typed text, put each byte into the XML as the
//! Latin-1 code point of the same value, and then encode the XML as UTF-8 again. After XML
//! decoding, `ü` (UTF-8 `C3 BC`) therefore arrives as the two characters `Ã¼`
//! (U+00C3 U+00BC). Net::RVP sends plain UTF-8.
//!
//! [`decode_double_utf8`] undoes the extra layer, [`encode_double_utf8`] produces it (for a
//! client that wants to look like librvp to librvp). A server should do neither: it forwards
//! `r:mime-data` byte for byte.
//!
//! # The heuristic
//!
//! The text is taken to be double UTF-8, and decoded, when all of these hold:
//!
//! 1. every character is at most U+00FF (so the text is a sequence of Latin-1 bytes);
//! 2. at least one character is U+0080 or above (pure ASCII is the same in both forms);
//! 3. those bytes are valid UTF-8.
//!
//! Plain UTF-8 text almost never passes: text with any character above U+00FF fails rule 1,
//! and Latin-1 text fails rule 3 unless it contains, by chance, the exact sequences UTF-8
//! uses (an accented capital such as `Ã` or `Â` directly followed by a character from
//! U+0080 to U+00BF, such as `©`, `±` or `¼`). Such text, for example `Ã©`, *is* decoded
//! (to `é`): that is the one false positive, and the reason the decoder is a separate,
//! explicit step.
//!
//! ```
//! use std::borrow::Cow;
//! use rvp_proto::payload::{decode_double_utf8, encode_double_utf8};
//!
//! let wire = "Gr\u{c3}\u{bc}\u{c3}\u{9f}e aus librvp"; // what librvp sends for "Grüße"
//! assert_eq!(decode_double_utf8(wire), "Grüße aus librvp");
//! assert!(matches!(decode_double_utf8("Grüße aus Perl"), Cow::Borrowed(_))); // Net::RVP
//! assert_eq!(encode_double_utf8("Grüße"), "Gr\u{c3}\u{bc}\u{c3}\u{9f}e");
//! ```

use std::borrow::Cow;

/// Undoes double UTF-8 (see the [module docs](self) for the exact rule).
///
/// Returns [`Cow::Owned`] if and only if the text was double UTF-8 and has been decoded;
/// otherwise the input, borrowed and unchanged. [`is_double_utf8`] answers the same question
/// without allocating.
pub fn decode_double_utf8(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let mut bytes = Vec::with_capacity(text.len());
    for c in text.chars() {
        match latin1_byte(c) {
            Some(b) => bytes.push(b),
            None => return Cow::Borrowed(text),
        }
    }
    match String::from_utf8(bytes) {
        Ok(s) => Cow::Owned(s),
        Err(_) => Cow::Borrowed(text),
    }
}

/// Whether [`decode_double_utf8`] would change `text`.
pub fn is_double_utf8(text: &str) -> bool {
    let mut high = false;
    for c in text.chars() {
        if u32::from(c) > 0xFF {
            return false;
        }
        high |= u32::from(c) >= 0x80;
    }
    if !high {
        return false;
    }
    // Validate the Latin-1 bytes as UTF-8 without allocating: walk the byte sequence.
    let mut bytes = text.chars().filter_map(latin1_byte);
    while let Some(b) = bytes.next() {
        let continuation = match b {
            0x00..=0x7F => 0,
            0xC2..=0xDF => 1,
            0xE0..=0xEF => 2,
            0xF0..=0xF4 => 3,
            _ => return false,
        };
        let mut code = u32::from(b) & (0x7F >> continuation);
        for _ in 0..continuation {
            match bytes.next() {
                Some(c @ 0x80..=0xBF) => code = (code << 6) | (u32::from(c) & 0x3F),
                _ => return false,
            }
        }
        let min = [0, 0x80, 0x800, 0x1_0000][continuation];
        if code < min || char::from_u32(code).is_none() {
            return false;
        }
    }
    true
}

/// Produces the double UTF-8 form of `text`: each UTF-8 byte becomes the character of the
/// same Latin-1 value. ASCII text is returned borrowed and unchanged.
///
/// For every string `s`, `decode_double_utf8(&encode_double_utf8(s)) == s`.
pub fn encode_double_utf8(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.bytes().map(char::from).collect())
    }
}

fn latin1_byte(c: char) -> Option<u8> {
    u8::try_from(u32::from(c)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn librvp_capture_text() {
        let wire = "Hello Bob <b>bold</b> & \u{c3}\u{bc}n\u{c3}\u{af}c\u{c3}\u{b8}d\u{c3}\u{a9}";
        assert!(is_double_utf8(wire));
        assert_eq!(decode_double_utf8(wire), "Hello Bob <b>bold</b> & ünïcødé");
    }

    #[test]
    fn plain_texts_are_left_alone() {
        for s in ["", "hello", "Grüße aus Perl", "日本語", "ü日", "caf\u{e9}"] {
            assert!(!is_double_utf8(s), "{s:?}");
            assert!(matches!(decode_double_utf8(s), Cow::Borrowed(x) if x == s));
        }
    }

    #[test]
    fn overlong_and_surrogates_are_not_utf8() {
        // C0 80 (overlong NUL), ED A0 80 (surrogate), F5.. (beyond U+10FFFF)
        for s in [
            "\u{c0}\u{80}",
            "\u{ed}\u{a0}\u{80}",
            "\u{f5}\u{80}\u{80}\u{80}",
            "\u{e0}\u{80}\u{80}",
        ] {
            assert!(!is_double_utf8(s), "{s:?}");
        }
    }

    #[test]
    fn the_documented_false_positive() {
        assert_eq!(decode_double_utf8("\u{c3}\u{a9}"), "é");
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(s in any::<String>()) {
            let enc = encode_double_utf8(&s);
            let dec = decode_double_utf8(&enc);
            prop_assert_eq!(dec.as_ref(), s.as_str());
        }

        #[test]
        fn detection_agrees_with_std(s in "[\\x00-\\u{ff}]{0,40}") {
            let bytes: Vec<u8> = s.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(0)).collect();
            let std_ok = std::str::from_utf8(&bytes).is_ok();
            prop_assert_eq!(is_double_utf8(&s), std_ok && !s.is_ascii());
        }

        #[test]
        fn decode_agrees_with_detection(s in "[\\x00-\\u{ff}]{0,40}|\\PC{0,20}") {
            let applied = matches!(decode_double_utf8(&s), Cow::Owned(_));
            prop_assert_eq!(applied, is_double_utf8(&s));
        }
    }
}
