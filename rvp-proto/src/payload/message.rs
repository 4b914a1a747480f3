//! Text messages: `Content-Type: text/plain` with an optional `X-MMS-IM-Format`
//! (PROTOCOL.md §6.2, "Instant message").

use std::fmt;

use super::mime::{MimeHeader, content_type_value, write_header};
use super::{PayloadError, SessionId};

/// The charset assumed when a text message names none (PROTOCOL.md §6.2, MSN Messenger rule).
pub const DEFAULT_CHARSET: &str = "ISO-8859-1";

/// An instant message (`text/plain`).
///
/// ```
/// use rvp_proto::payload::{Payload, TextMessage, SessionId};
///
/// let id: SessionId = "{79FC61B5-1234-1234-8A10-941F33CA4C90}".parse()?;
/// let text = Payload::Message(TextMessage::new(id, "Lets have lunch")).write();
/// assert_eq!(
///     text,
///     "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\
///      Session-Id: {79FC61B5-1234-1234-8A10-941F33CA4C90}\r\n\r\nLets have lunch"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TextMessage {
    /// The conversation (`Session-Id`); `None` only if the sender left it out.
    pub session_id: Option<SessionId>,
    /// The `charset` parameter of `Content-Type` as received (`UTF-8`); `None` when absent,
    /// which means [`DEFAULT_CHARSET`] (see [`TextMessage::effective_charset`]).
    pub charset: Option<String>,
    /// The font and colour (`X-MMS-IM-Format`), if sent and readable. A header that
    /// [`ImFormat::parse`] rejects is kept verbatim as the first of
    /// [`extra_headers`](TextMessage::extra_headers) instead, so the message still reads.
    pub format: Option<ImFormat>,
    /// The message text: the body, unchanged (no line-end conversion, no trimming).
    pub text: String,
    /// Headers this type does not model, in order (written after the known ones).
    pub extra_headers: Vec<MimeHeader>,
}

impl TextMessage {
    /// A UTF-8 message without formatting.
    pub fn new(session_id: SessionId, text: impl Into<String>) -> Self {
        TextMessage {
            session_id: Some(session_id),
            charset: Some("UTF-8".to_owned()),
            format: None,
            text: text.into(),
            extra_headers: Vec::new(),
        }
    }

    /// The same message with `X-MMS-IM-Format` set.
    pub fn with_format(mut self, format: ImFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// The charset the body is declared in: the `charset` parameter, or
    /// [`DEFAULT_CHARSET`] when there is none.
    pub fn effective_charset(&self) -> &str {
        self.charset.as_deref().unwrap_or(DEFAULT_CHARSET)
    }

    pub(crate) fn write_to(&self, out: &mut String) {
        write_header(
            out,
            "Content-Type",
            &content_type_value("text/plain", self.charset.as_deref()),
        );
        if let Some(f) = &self.format {
            write_header(out, "X-MMS-IM-Format", &f.to_string());
        }
        if let Some(id) = &self.session_id {
            write_header(out, "Session-Id", &id.to_string());
        }
        for h in &self.extra_headers {
            write_header(out, &h.name, &h.value);
        }
        out.push_str("\r\n");
        out.push_str(&self.text);
    }
}

/// Text effects of `X-MMS-IM-Format` (`EF=`, letters `B`, `I`, `U`, `S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Effects {
    /// `B`
    pub bold: bool,
    /// `I`
    pub italic: bool,
    /// `U`
    pub underline: bool,
    /// `S`
    pub strikethrough: bool,
}

impl Effects {
    /// No effect (`EF=`).
    pub const NONE: Effects = Effects {
        bold: false,
        italic: false,
        underline: false,
        strikethrough: false,
    };
}

/// The `X-MMS-IM-Format` header: font, effects, colour, charset and pitch of a message
/// (formatting semantics of MSN Messenger).
///
/// Written as `FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22`: the font name
/// percent-encoded, the numbers in lower-case hex without padding. Parsed tolerantly: keys
/// in any case and order, missing keys take the value of [`ImFormat::default`], empty
/// numbers are 0, unknown keys (such as `RL=1`) are kept in
/// [`other`](ImFormat::other). librvp writes its percent signs doubled
/// (`FN=MS%%20Shell%%20Dlg`); a run of `%` before two hex digits is read as one escape, so
/// that font name reads as `MS Shell Dlg`. Escaped bytes that are not UTF-8 are read as
/// Latin-1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ImFormat {
    /// `FN`: the font name, percent-decoded (`Microsoft Sans Serif`).
    pub font_name: String,
    /// `EF`: bold, italic, underline, strike-through.
    pub effects: Effects,
    /// `CO`: the colour as a Windows `COLORREF`, `0x00BBGGRR` (blue in the high byte).
    pub color: u32,
    /// `CS`: the Windows character set number (`0` ANSI, `1` default, `0x80` Shift-JIS...).
    pub charset: u8,
    /// `PF`: the Windows pitch-and-family byte (`0x22` variable-pitch Swiss).
    pub pitch_family: u8,
    /// Keys not listed above, with their values as received, in order.
    pub other: Vec<(String, String)>,
}

impl Default for ImFormat {
    /// `FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22` (the reference's example).
    fn default() -> Self {
        ImFormat {
            font_name: "Microsoft Sans Serif".to_owned(),
            effects: Effects::NONE,
            color: 0,
            charset: 0,
            pitch_family: 0x22,
            other: Vec::new(),
        }
    }
}

impl ImFormat {
    /// Parses the value of an `X-MMS-IM-Format` header.
    pub fn parse(value: &str) -> Result<ImFormat, PayloadError> {
        let mut f = ImFormat {
            font_name: String::new(),
            ..ImFormat::default()
        };
        let mut font_name = None;
        for item in value.split(';') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let Some((key, val)) = item.split_once('=') else {
                return Err(bad("(no `=`)", item));
            };
            let (key, val) = (key.trim(), val.trim());
            let is = |k: &str| key.eq_ignore_ascii_case(k);
            if is("FN") {
                font_name = Some(percent_decode(val));
            } else if is("EF") {
                f.effects = parse_effects(val).ok_or_else(|| bad("EF", val))?;
            } else if is("CO") {
                f.color = parse_hex(val, u32::MAX).ok_or_else(|| bad("CO", val))?;
            } else if is("CS") {
                f.charset = parse_hex_u8(val).ok_or_else(|| bad("CS", val))?;
            } else if is("PF") {
                f.pitch_family = parse_hex_u8(val).ok_or_else(|| bad("PF", val))?;
            } else {
                f.other.push((key.to_owned(), val.to_owned()));
            }
        }
        f.font_name = font_name.unwrap_or_else(|| ImFormat::default().font_name);
        Ok(f)
    }
}

impl fmt::Display for ImFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FN=")?;
        percent_encode(&self.font_name, f)?;
        f.write_str("; EF=")?;
        let e = self.effects;
        for (on, letter) in [
            (e.bold, 'B'),
            (e.italic, 'I'),
            (e.underline, 'U'),
            (e.strikethrough, 'S'),
        ] {
            if on {
                write!(f, "{letter}")?;
            }
        }
        write!(
            f,
            "; CO={:x}; CS={:x}; PF={:x}",
            self.color, self.charset, self.pitch_family
        )?;
        for (k, v) in &self.other {
            // Keep the output parseable: a key or value cannot carry `;`, a key no `=`.
            let k: String = k.chars().filter(|c| !matches!(c, ';' | '=')).collect();
            let v: String = v.chars().filter(|c| *c != ';').collect();
            write!(f, "; {}={}", k.trim(), v.trim())?;
        }
        Ok(())
    }
}

fn bad(field: &str, value: &str) -> PayloadError {
    PayloadError::InvalidImFormat {
        field: field.to_owned(),
        value: value.chars().take(64).collect(),
    }
}

fn parse_effects(val: &str) -> Option<Effects> {
    let mut e = Effects::NONE;
    for c in val.chars() {
        match c.to_ascii_uppercase() {
            'B' => e.bold = true,
            'I' => e.italic = true,
            'U' => e.underline = true,
            'S' => e.strikethrough = true,
            _ => return None,
        }
    }
    Some(e)
}

fn parse_hex(val: &str, max: u32) -> Option<u32> {
    if val.is_empty() {
        return Some(0);
    }
    let digits = val
        .strip_prefix("0x")
        .or_else(|| val.strip_prefix("0X"))
        .unwrap_or(val);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 8 {
        return None;
    }
    let v = if significant.is_empty() {
        0
    } else {
        u32::from_str_radix(significant, 16).ok()?
    };
    (v <= max).then_some(v)
}

fn parse_hex_u8(val: &str) -> Option<u8> {
    parse_hex(val, 0xFF).and_then(|v| u8::try_from(v).ok())
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding of `FN`, tolerant of librvp's doubled `%`. Bytes that are not UTF-8
/// (a font name escaped in a Windows code page) are read as Latin-1.
fn percent_decode(val: &str) -> String {
    if !val.contains('%') {
        return val.to_owned();
    }
    let b = val.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let mut j = i;
            while j < b.len() && b[j] == b'%' {
                j += 1;
            }
            if let (Some(h), Some(l)) = (
                b.get(j).copied().and_then(hex_val),
                b.get(j + 1).copied().and_then(hex_val),
            ) {
                out.push(h << 4 | l);
                i = j + 2;
                continue;
            }
            out.extend_from_slice(&b[i..j]);
            i = j;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| e.into_bytes().into_iter().map(char::from).collect())
}

fn percent_encode(name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            write!(f, "{}", char::from(b))?;
        } else {
            write!(f, "%{b:02X}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reference_example() {
        let s = "FN=Microsoft%20Sans%20Serif; EF=; CO=0; CS=0; PF=22";
        let f = ImFormat::parse(s).unwrap();
        assert_eq!(f, ImFormat::default());
        assert_eq!(f.to_string(), s);
    }

    #[test]
    fn librvp_doubled_percent() {
        let f = ImFormat::parse("FN=MS%%20Shell%%20Dlg; EF=; CO=0; CS=0; PF=0").unwrap();
        assert_eq!(f.font_name, "MS Shell Dlg");
        assert_eq!(f.pitch_family, 0);
        assert_eq!(f.to_string(), "FN=MS%20Shell%20Dlg; EF=; CO=0; CS=0; PF=0");
    }

    #[test]
    fn effects_colour_and_unknown_keys() {
        let f = ImFormat::parse("fn=Arial; ef=BUS; CO=ff0000; CS=80; PF=31; RL=1").unwrap();
        assert_eq!(f.font_name, "Arial");
        assert_eq!(
            f.effects,
            Effects {
                bold: true,
                italic: false,
                underline: true,
                strikethrough: true
            }
        );
        assert_eq!(f.color, 0xFF0000);
        assert_eq!(f.charset, 0x80);
        assert_eq!(f.pitch_family, 0x31);
        assert_eq!(f.other, vec![("RL".to_owned(), "1".to_owned())]);
        assert_eq!(
            f.to_string(),
            "FN=Arial; EF=BUS; CO=ff0000; CS=80; PF=31; RL=1"
        );
    }

    #[test]
    fn bad_fields_are_named() {
        for (s, field) in [
            ("EF=X", "EF"),
            ("CO=zz", "CO"),
            ("CO=100000000", "CO"),
            ("CS=100", "CS"),
            ("PF=-1", "PF"),
            ("garbage", "(no `=`)"),
        ] {
            match ImFormat::parse(s) {
                Err(PayloadError::InvalidImFormat { field: f, .. }) => assert_eq!(f, field, "{s}"),
                other => panic!("{s}: {other:?}"),
            }
        }
    }

    #[test]
    fn font_name_not_utf8_is_latin1() {
        let f = ImFormat::parse("FN=Caf%E9").unwrap();
        assert_eq!(f.font_name, "Café");
        assert_eq!(f.to_string(), "FN=Caf%C3%A9; EF=; CO=0; CS=0; PF=22");
    }

    #[test]
    fn lone_percent_is_literal_and_leading_zeros_are_fine() {
        let f = ImFormat::parse("FN=100%; CO=000000ff; CS=; PF=0x22").unwrap();
        assert_eq!(f.font_name, "100%");
        assert_eq!(f.color, 0xFF);
        assert_eq!(f.charset, 0);
        assert_eq!(f.pitch_family, 0x22);
    }
}
