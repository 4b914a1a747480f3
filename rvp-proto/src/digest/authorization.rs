//! The `Authorization: Digest …` answer: read by servers (borrowed, no allocation per
//! parameter), written by clients.

use std::borrow::Cow;

use super::{DigestHeaderError, MAX_PARAMS, is_tchar, push_quoted, skip_ows};

/// The auth-params of a `Digest` `Authorization` header, borrowed from the header where
/// no unescaping was needed. Unknown parameters are ignored when reading.
///
/// Build one to write by assigning fields to [`Authorization::default`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authorization<'a> {
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
    /// `opaque`.
    pub opaque: Option<Cow<'a, str>>,
    /// `userhash`.
    pub userhash: Option<Cow<'a, str>>,
}

/// Splits `value` into its scheme token and the rest (leading whitespace trimmed).
///
/// `None` if there is no scheme token.
#[inline]
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

impl<'a> Authorization<'a> {
    /// Parses a `Digest` `Authorization` header value (`Digest username="alice", ...`).
    ///
    /// Accepts quoted or token values, any parameter-name case, `\` escapes in quoted
    /// strings, empty list elements and optional whitespace; refuses duplicates, more than
    /// [`MAX_PARAMS`] parameters, non-UTF-8 bytes and other schemes. The length of the
    /// value is the caller's limit (a server's, before calling). Never panics.
    pub fn parse(value: &'a [u8]) -> Result<Authorization<'a>, DigestHeaderError> {
        let (scheme, rest) =
            split_scheme(value).ok_or(DigestHeaderError::Malformed("no auth scheme"))?;
        if !scheme.eq_ignore_ascii_case(b"Digest") {
            return Err(DigestHeaderError::Malformed("scheme is not Digest"));
        }
        let text =
            std::str::from_utf8(rest).map_err(|_| DigestHeaderError::Malformed("not UTF-8"))?;
        let s = text.as_bytes();
        let mut params = Authorization::default();
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
                return Err(DigestHeaderError::Malformed("too many parameters"));
            }
            let name_start = i;
            while i < s.len() && is_tchar(s[i]) {
                i += 1;
            }
            if i == name_start {
                return Err(DigestHeaderError::Malformed("expected a parameter name"));
            }
            let name = &text[name_start..i];
            i = skip_ows(s, i);
            if s.get(i) != Some(&b'=') {
                return Err(DigestHeaderError::Malformed(
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
                        None => {
                            return Err(DigestHeaderError::Malformed("unterminated quoted string"));
                        }
                        Some(b'"') => break,
                        Some(b'\\') => {
                            if i + 1 >= s.len() {
                                return Err(DigestHeaderError::Malformed(
                                    "unterminated quoted string",
                                ));
                            }
                            let buf = owned.get_or_insert_with(|| text[start..i].to_owned());
                            // `next` may start a multi-byte character: copy the whole char.
                            let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                            buf.push_str(&text[i + 1..i + 1 + ch_len]);
                            i += 1 + ch_len;
                        }
                        Some(_) => {
                            let run = memchr::memchr2(b'"', b'\\', &s[i..]).unwrap_or(s.len() - i);
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
                    return Err(DigestHeaderError::Malformed("expected a parameter value"));
                }
                Cow::Borrowed(&text[start..i])
            };
            i = skip_ows(s, i);
            if i < s.len() && s[i] != b',' {
                return Err(DigestHeaderError::Malformed(
                    "expected ',' between parameters",
                ));
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
            // Every known name is lower-case letters, and a byte ORed with 0x20 is a given
            // lower-case letter exactly when it is that letter in either case: one OR and
            // one compare a byte, where `eq_ignore_ascii_case` folds both sides.
            let Some(known) = NAMES.iter().position(|n| {
                n.len() == name.len()
                    && n.bytes()
                        .zip(name.bytes())
                        .all(|(want, got)| got | 0x20 == want)
            }) else {
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
                return Err(DigestHeaderError::Duplicate(NAMES[known].to_owned()));
            }
            *slot = Some(value);
        }
        Ok(params)
    }

    /// Appends the header value, `Digest username="…", realm="…", nonce="…", uri="…",
    /// algorithm=…, response="…", qop=…, nc=…, cnonce="…", opaque="…", userhash=…` (each
    /// parameter that is set, in that order; quoted-strings escaped, the others written as
    /// tokens). `out` is left as it was on an error.
    ///
    /// `username`, `realm`, `nonce`, `uri` and `response` are required
    /// ([`DigestHeaderError::Missing`]); a quoted value with a control character or a token
    /// value that is not a token is [`DigestHeaderError::InvalidInput`].
    pub fn write(&self, out: &mut String) -> Result<(), DigestHeaderError> {
        let params: [(&'static str, &Option<Cow<'_, str>>, bool); 11] = [
            ("username", &self.username, true),
            ("realm", &self.realm, true),
            ("nonce", &self.nonce, true),
            ("uri", &self.uri, true),
            ("algorithm", &self.algorithm, false),
            ("response", &self.response, true),
            ("qop", &self.qop, false),
            ("nc", &self.nc, false),
            ("cnonce", &self.cnonce, true),
            ("opaque", &self.opaque, true),
            ("userhash", &self.userhash, false),
        ];
        for (name, value, quoted) in &params {
            match value.as_deref() {
                None if matches!(*name, "username" | "realm" | "nonce" | "uri" | "response") => {
                    return Err(DigestHeaderError::Missing(name));
                }
                None => {}
                Some(v) if *quoted && v.chars().any(char::is_control) => {
                    return Err(DigestHeaderError::InvalidInput(name));
                }
                Some(v) if !*quoted && (v.is_empty() || !v.bytes().all(is_tchar)) => {
                    return Err(DigestHeaderError::InvalidInput(name));
                }
                Some(_) => {}
            }
        }
        out.push_str("Digest ");
        let mut first = true;
        for (name, value, quoted) in params {
            let Some(v) = value.as_deref() else {
                continue;
            };
            if !first {
                out.push_str(", ");
            }
            first = false;
            out.push_str(name);
            out.push('=');
            if quoted {
                push_quoted(out, v);
            } else {
                out.push_str(v);
            }
        }
        Ok(())
    }
}

/// Reads an `nc` (nonce count): exactly 8 hex digits, not zero.
pub fn parse_nonce_count(nc: &str) -> Result<u32, DigestHeaderError> {
    let bad = || DigestHeaderError::InvalidNonceCount(nc.to_owned());
    if nc.len() != 8 || !nc.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    match u32::from_str_radix(nc, 16) {
        Ok(0) | Err(_) => Err(bad()),
        Ok(n) => Ok(n),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nc_forms() {
        assert_eq!(parse_nonce_count("00000001"), Ok(1));
        assert_eq!(parse_nonce_count("0000000a"), Ok(10));
        assert_eq!(parse_nonce_count("FFFFFFFF"), Ok(u32::MAX));
        assert!(parse_nonce_count("00000000").is_err());
        assert!(parse_nonce_count("1").is_err());
        assert!(parse_nonce_count("+0000001").is_err());
        assert!(parse_nonce_count("000000001").is_err());
    }

    #[test]
    fn scheme_split() {
        assert_eq!(
            split_scheme(b"  Digest a=b"),
            Some((&b"Digest"[..], &b" a=b"[..]))
        );
        assert_eq!(split_scheme(b"NTLM"), Some((&b"NTLM"[..], &b""[..])));
        assert_eq!(split_scheme(b""), None);
        assert_eq!(split_scheme(b"Digest,a=b"), None);
    }

    #[test]
    fn parsed_borrowed_unless_escaped() {
        let a = Authorization::parse(
            b"digest USERNAME=\"al\\\"ice\", realm=\"r\xc3\xa9\", ,nonce=n1 , x-ext=\"1\"",
        )
        .unwrap();
        assert_eq!(a.username.as_deref(), Some("al\"ice"));
        assert!(matches!(a.username, Some(Cow::Owned(_))));
        assert_eq!(a.realm.as_deref(), Some("r\u{e9}"));
        assert!(matches!(a.realm, Some(Cow::Borrowed(_))));
        assert_eq!(a.nonce.as_deref(), Some("n1"));
        assert_eq!(a.response, None);
        assert_eq!(
            Authorization::parse(b"Digest nonce=a, NONCE=b"),
            Err(DigestHeaderError::Duplicate("nonce".into()))
        );
        assert_eq!(
            Authorization::parse(b"Basic abc"),
            Err(DigestHeaderError::Malformed("scheme is not Digest"))
        );
        assert_eq!(
            Authorization::parse(b"Digest a=\"\xff\""),
            Err(DigestHeaderError::Malformed("not UTF-8"))
        );
        assert_eq!(
            Authorization::parse(b"Digest a=\"x\\"),
            Err(DigestHeaderError::Malformed("unterminated quoted string"))
        );
    }

    /// A parameter name is known in any case and only then: every byte a name may hold,
    /// put in place of each letter of `nonce`, is read as the nonce exactly when it is
    /// that letter (either case), and ignored as an unknown parameter otherwise.
    #[test]
    fn names_match_in_any_case_and_nothing_else() {
        let name = b"nonce";
        for at in 0..name.len() {
            for b in (0..=255u8).filter(|&b| is_tchar(b)) {
                let mut n = name.to_vec();
                n[at] = b;
                let mut header = b"Digest ".to_vec();
                header.extend_from_slice(&n);
                header.extend_from_slice(b"=\"x\"");
                let a = Authorization::parse(&header).unwrap();
                let same = b.eq_ignore_ascii_case(&name[at]);
                assert_eq!(a.nonce.is_some(), same, "{:?}", String::from_utf8_lossy(&n));
            }
        }
    }

    #[test]
    fn at_most_max_params() {
        let header = |n: usize| {
            let mut h = String::from("Digest ");
            for i in 0..n {
                h.push_str(&format!("x{i}=1, "));
            }
            h
        };
        assert!(Authorization::parse(header(MAX_PARAMS).as_bytes()).is_ok());
        assert_eq!(
            Authorization::parse(header(MAX_PARAMS + 1).as_bytes()),
            Err(DigestHeaderError::Malformed("too many parameters"))
        );
    }

    fn answer() -> Authorization<'static> {
        Authorization {
            username: Some("us\"er".into()),
            realm: Some("r".into()),
            nonce: Some("n".into()),
            uri: Some("/x".into()),
            response: Some("0123".into()),
            ..Authorization::default()
        }
    }

    #[test]
    fn written_in_order_and_read_back() {
        let mut a = answer();
        let mut out = String::new();
        a.write(&mut out).unwrap();
        assert_eq!(
            out,
            "Digest username=\"us\\\"er\", realm=\"r\", nonce=\"n\", uri=\"/x\", \
             response=\"0123\""
        );
        assert_eq!(Authorization::parse(out.as_bytes()).unwrap(), a);
        a.algorithm = Some("MD5".into());
        a.qop = Some("auth".into());
        a.nc = Some("00000001".into());
        a.cnonce = Some("c\\n".into());
        a.opaque = Some("o".into());
        a.userhash = Some("false".into());
        let mut out = String::from("kept ");
        a.write(&mut out).unwrap();
        assert_eq!(
            out,
            "kept Digest username=\"us\\\"er\", realm=\"r\", nonce=\"n\", uri=\"/x\", \
             algorithm=MD5, response=\"0123\", qop=auth, nc=00000001, cnonce=\"c\\\\n\", \
             opaque=\"o\", userhash=false"
        );
        assert_eq!(Authorization::parse(&out.as_bytes()[5..]).unwrap(), a);
    }

    #[test]
    fn write_refusals_leave_the_output_alone() {
        let mut out = String::from("x");
        let mut a = answer();
        a.uri = None;
        assert_eq!(a.write(&mut out), Err(DigestHeaderError::Missing("uri")));
        let mut a = answer();
        a.username = Some("a\r\nX: y".into());
        assert_eq!(
            a.write(&mut out),
            Err(DigestHeaderError::InvalidInput("username"))
        );
        let mut a = answer();
        a.qop = Some("auth int".into());
        assert_eq!(
            a.write(&mut out),
            Err(DigestHeaderError::InvalidInput("qop"))
        );
        let mut a = answer();
        a.nc = Some("".into());
        assert_eq!(
            a.write(&mut out),
            Err(DigestHeaderError::InvalidInput("nc"))
        );
        assert_eq!(out, "x");
    }
}
