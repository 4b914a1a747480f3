//! The `WWW-Authenticate: Digest …` challenge: read by clients, written by servers.

use super::{DigestHeaderError, MAX_PARAMS, is_tchar_char, push_quoted};

/// Longest `WWW-Authenticate` value [`Challenge::parse`] reads, in bytes (real ones are
/// about 120).
pub const MAX_CHALLENGE_LEN: usize = 4096;

/// Longest nonce, realm or opaque value [`Challenge::parse`] keeps, in bytes
/// (`rvp-server`'s nonces have 64).
pub const MAX_VALUE_LEN: usize = 1024;

/// A `Digest` challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    qop_auth: bool,
    stale: bool,
}

impl Challenge {
    /// A challenge asking for `qop="auth"`, without `opaque` or `stale`: what RVP servers
    /// send (PROTOCOL.md §8.1).
    pub fn new(realm: impl Into<String>, nonce: impl Into<String>) -> Challenge {
        Challenge {
            realm: realm.into(),
            nonce: nonce.into(),
            opaque: None,
            qop_auth: true,
            stale: false,
        }
    }

    /// The same challenge with `stale=true` (the credentials were right, the nonce too
    /// old) or without it.
    pub fn with_stale(mut self, stale: bool) -> Challenge {
        self.stale = stale;
        self
    }

    /// Parses one `WWW-Authenticate` value and returns its `Digest` challenge.
    ///
    /// The value may hold several challenges (`Negotiate, NTLM, Digest qop="auth", …`, RFC
    /// 7235 §4.1); the first `Digest` one is taken. Quoted strings may contain commas and
    /// `\` escapes; parameter names are case-insensitive. Refuses a value longer than
    /// [`MAX_CHALLENGE_LEN`], more than [`MAX_PARAMS`] items, a kept value longer than
    /// [`MAX_VALUE_LEN`]. Never panics.
    pub fn parse(value: &str) -> Result<Challenge, DigestHeaderError> {
        if value.len() > MAX_CHALLENGE_LEN {
            return Err(DigestHeaderError::TooLong {
                length: value.len(),
                limit: MAX_CHALLENGE_LEN,
            });
        }
        let items = split_items(value)?;
        let mut params: Option<Vec<(String, String)>> = None;
        let mut count = 0usize;
        for item in items {
            count += 1;
            if count > MAX_PARAMS {
                return Err(DigestHeaderError::Malformed("too many parameters"));
            }
            match item {
                Item::Param(name, v) => {
                    if let Some(p) = params.as_mut() {
                        p.push((name, v));
                    }
                }
                Item::Scheme(scheme, first) => {
                    if params.is_some() {
                        // The Digest challenge ended where the next scheme starts.
                        break;
                    }
                    if scheme.eq_ignore_ascii_case("Digest") {
                        params = Some(first.into_iter().collect());
                    }
                }
            }
        }
        Challenge::from_params(params.ok_or(DigestHeaderError::NotDigest)?)
    }

    /// The first usable `Digest` challenge among several `WWW-Authenticate` values; the
    /// error of the last Digest challenge that could not be used, else
    /// [`DigestHeaderError::NotDigest`].
    pub fn select<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Challenge, DigestHeaderError> {
        let mut last = DigestHeaderError::NotDigest;
        for v in values {
            match Challenge::parse(v) {
                Ok(c) => return Ok(c),
                Err(DigestHeaderError::NotDigest) => {}
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn from_params(params: Vec<(String, String)>) -> Result<Challenge, DigestHeaderError> {
        let mut realm = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut qop = None;
        let mut algorithm = None;
        let mut stale = None;
        let mut userhash = None;
        for (name, value) in params {
            if value.len() > MAX_VALUE_LEN {
                return Err(DigestHeaderError::Malformed("parameter value too long"));
            }
            let slot = match name.to_ascii_lowercase().as_str() {
                "realm" => &mut realm,
                "nonce" => &mut nonce,
                "opaque" => &mut opaque,
                "qop" => &mut qop,
                "algorithm" => &mut algorithm,
                "stale" => &mut stale,
                "userhash" => &mut userhash,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(DigestHeaderError::Duplicate(name.to_ascii_lowercase()));
            }
        }
        if let Some(a) = algorithm
            && !a.eq_ignore_ascii_case("MD5")
        {
            return Err(DigestHeaderError::UnsupportedAlgorithm(a));
        }
        if userhash.is_some_and(|u| u.eq_ignore_ascii_case("true")) {
            return Err(DigestHeaderError::UserHash);
        }
        let qop_auth = match qop {
            None => false,
            Some(q) => {
                if !q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) {
                    return Err(DigestHeaderError::UnsupportedQop(q));
                }
                true
            }
        };
        let realm = realm.ok_or(DigestHeaderError::Missing("realm"))?;
        let nonce = nonce.ok_or(DigestHeaderError::Missing("nonce"))?;
        for v in [&realm, &nonce].into_iter().chain(opaque.as_ref()) {
            if v.chars().any(char::is_control) {
                return Err(DigestHeaderError::Malformed("control character in a value"));
            }
        }
        Ok(Challenge {
            realm,
            nonce,
            opaque,
            qop_auth,
            stale: stale.is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The opaque value, echoed in every answer.
    pub fn opaque(&self) -> Option<&str> {
        self.opaque.as_deref()
    }

    /// Whether `qop=auth` is offered (else answers take the RFC 2069 form).
    pub fn qop_auth(&self) -> bool {
        self.qop_auth
    }

    /// `stale=true`: the credentials were right, the nonce too old.
    pub fn stale(&self) -> bool {
        self.stale
    }

    /// The header value: `Digest qop="auth", realm="<realm>", nonce="<nonce>"` (`qop` only
    /// when offered; then `, opaque="…"` and `, stale=true` when set). A server sends it as
    /// its only `WWW-Authenticate` header (librvp needs exactly one).
    pub fn header_value(&self) -> String {
        let mut v = String::with_capacity(40 + self.realm.len() + self.nonce.len());
        v.push_str("Digest ");
        if self.qop_auth {
            v.push_str("qop=\"auth\", ");
        }
        v.push_str("realm=");
        push_quoted(&mut v, &self.realm);
        v.push_str(", nonce=");
        push_quoted(&mut v, &self.nonce);
        if let Some(o) = &self.opaque {
            v.push_str(", opaque=");
            push_quoted(&mut v, o);
        }
        if self.stale {
            v.push_str(", stale=true");
        }
        v
    }

    /// The header as an [`http::HeaderValue`].
    ///
    /// A realm, nonce or opaque value with control characters cannot be a header value; it
    /// is then replaced by `Digest qop="auth", realm=""` (a server's configuration refuses
    /// such realms; its nonces are hex).
    pub fn to_header_value(&self) -> http::HeaderValue {
        http::HeaderValue::from_str(&self.header_value())
            .unwrap_or_else(|_| http::HeaderValue::from_static("Digest qop=\"auth\", realm=\"\""))
    }
}

/// One element of a challenge list.
enum Item {
    /// `scheme` optionally followed by its first parameter.
    Scheme(String, Option<(String, String)>),
    /// `name=value`.
    Param(String, String),
}

/// Splits a challenge list into scheme and parameter items (commas inside quoted strings
/// belong to the value).
fn split_items(value: &str) -> Result<Vec<Item>, DigestHeaderError> {
    let s: Vec<char> = value.chars().collect();
    let mut i = 0usize;
    let mut items = Vec::new();
    let skip_ws = |i: &mut usize| {
        while *i < s.len() && (s[*i] == ' ' || s[*i] == '\t') {
            *i += 1;
        }
    };
    loop {
        while i < s.len() && matches!(s[i], ' ' | '\t' | ',') {
            i += 1;
        }
        if i == s.len() {
            return Ok(items);
        }
        let start = i;
        while i < s.len() && is_tchar_char(s[i]) {
            i += 1;
        }
        if i == start {
            return Err(DigestHeaderError::Malformed("expected a token"));
        }
        let token: String = s[start..i].iter().collect();
        let mut j = i;
        skip_ws(&mut j);
        if s.get(j) == Some(&'=') && !(i == j && s.get(j + 1) == Some(&'=')) {
            // name = value
            i = j + 1;
            skip_ws(&mut i);
            let v = read_value(&s, &mut i)?;
            items.push(Item::Param(token, v));
        } else if j == s.len() || s[j] == ',' {
            i = j;
            items.push(Item::Scheme(token, None));
        } else {
            // scheme, then its first parameter (or a token68, skipped).
            i = j;
            let pstart = i;
            while i < s.len() && is_tchar_char(s[i]) {
                i += 1;
            }
            let name: String = s[pstart..i].iter().collect();
            let mut k = i;
            skip_ws(&mut k);
            if !name.is_empty() && s.get(k) == Some(&'=') && s.get(k + 1) != Some(&'=') {
                i = k + 1;
                skip_ws(&mut i);
                let v = read_value(&s, &mut i)?;
                items.push(Item::Scheme(token, Some((name, v))));
            } else {
                // token68: up to the next comma.
                while i < s.len() && s[i] != ',' {
                    i += 1;
                }
                items.push(Item::Scheme(token, None));
            }
        }
        skip_ws(&mut i);
        if i < s.len() && s[i] != ',' {
            return Err(DigestHeaderError::Malformed(
                "expected ',' between parameters",
            ));
        }
    }
}

fn read_value(s: &[char], i: &mut usize) -> Result<String, DigestHeaderError> {
    let mut v = String::new();
    if s.get(*i) == Some(&'"') {
        *i += 1;
        loop {
            match s.get(*i) {
                None => return Err(DigestHeaderError::Malformed("unterminated quoted string")),
                Some('"') => {
                    *i += 1;
                    return Ok(v);
                }
                Some('\\') => {
                    let c = s
                        .get(*i + 1)
                        .ok_or(DigestHeaderError::Malformed("unterminated quoted string"))?;
                    v.push(*c);
                    *i += 2;
                }
                Some(c) => {
                    v.push(*c);
                    *i += 1;
                }
            }
        }
    }
    while *i < s.len() && is_tchar_char(s[*i]) {
        v.push(s[*i]);
        *i += 1;
    }
    if v.is_empty() {
        return Err(DigestHeaderError::Malformed("expected a parameter value"));
    }
    Ok(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RFC_CHALLENGE: &str = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
        algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
        opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

    #[test]
    fn rfc7616_md5_example() {
        let c = Challenge::parse(RFC_CHALLENGE).unwrap();
        assert_eq!(c.realm(), "http-auth@example.org");
        assert_eq!(c.nonce(), "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v");
        assert!(c.qop_auth());
        assert!(!c.stale());
        assert_eq!(
            c.opaque(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
    }

    #[test]
    fn several_challenges_in_one_header() {
        let c = Challenge::parse(
            "Negotiate, NTLM, Digest qop=\"auth\", realm=\"im.example.org\", nonce=\"a,b\"",
        )
        .unwrap();
        assert_eq!(c.realm(), "im.example.org");
        assert_eq!(c.nonce(), "a,b");
        let c = Challenge::parse("Basic realm=\"x\", Digest realm=\"y\", nonce=\"z\", stale=TRUE")
            .unwrap();
        assert_eq!((c.realm(), c.nonce(), c.stale()), ("y", "z", true));
        let c = Challenge::parse("Digest realm=\"y\", nonce=\"z\", Basic realm=\"x\"").unwrap();
        assert_eq!(c.realm(), "y");
        assert_eq!(
            Challenge::select(["NTLM", "Negotiate abc==", "Digest realm=\"q\", nonce=\"w\""])
                .unwrap()
                .realm(),
            "q"
        );
        assert_eq!(
            Challenge::select(["NTLM"]),
            Err(DigestHeaderError::NotDigest)
        );
        assert_eq!(
            Challenge::select(["Digest realm=\"r\"", "NTLM"]),
            Err(DigestHeaderError::Missing("nonce"))
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(Challenge::parse("NTLM"), Err(DigestHeaderError::NotDigest));
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess"),
            Err(DigestHeaderError::UnsupportedAlgorithm("MD5-sess".into()))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""),
            Err(DigestHeaderError::UnsupportedQop("auth-int".into()))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", userhash=true"),
            Err(DigestHeaderError::UserHash)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\""),
            Err(DigestHeaderError::Missing("nonce"))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", realm=\"s\", nonce=\"n\""),
            Err(DigestHeaderError::Duplicate("realm".into()))
        );
        assert!(matches!(
            Challenge::parse("Digest realm=\"r, nonce=\"n\""),
            Err(DigestHeaderError::Malformed(_))
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=\"r\x01\", nonce=\"n\""),
            Err(DigestHeaderError::Malformed(_))
        ));
        assert!(matches!(
            Challenge::parse(&"x".repeat(MAX_CHALLENGE_LEN + 1)),
            Err(DigestHeaderError::TooLong { .. })
        ));
        // At the limits: accepted.
        let long = format!(
            "Digest realm=\"r\", nonce=\"{}\"",
            "n".repeat(MAX_VALUE_LEN)
        );
        assert!(long.len() <= MAX_CHALLENGE_LEN);
        assert_eq!(
            Challenge::parse(&long).unwrap().nonce().len(),
            MAX_VALUE_LEN
        );
        let longer = format!(
            "Digest realm=\"r\", nonce=\"{}\"",
            "n".repeat(MAX_VALUE_LEN + 1)
        );
        assert!(matches!(
            Challenge::parse(&longer),
            Err(DigestHeaderError::Malformed(_))
        ));
        let max = format!(
            "Digest realm=\"r\", nonce=\"n\"{}",
            ", x=1".repeat(MAX_PARAMS - 2)
        );
        assert!(Challenge::parse(&max).is_ok());
        let many = format!(
            "Digest realm=\"r\", nonce=\"n\"{}",
            ", x=1".repeat(MAX_PARAMS)
        );
        assert!(matches!(
            Challenge::parse(&many),
            Err(DigestHeaderError::Malformed(_))
        ));
    }

    #[test]
    fn quoting_and_escapes() {
        let c = Challenge::parse("digest REALM=\"a\\\"b\", NONCE=n1").unwrap();
        assert_eq!((c.realm(), c.nonce()), ("a\"b", "n1"));
        assert!(!c.qop_auth());
    }

    #[test]
    fn written_as_servers_send_it_and_read_back() {
        let c = Challenge::new("im.example.org", "0123abcd");
        assert_eq!(
            c.header_value(),
            "Digest qop=\"auth\", realm=\"im.example.org\", nonce=\"0123abcd\""
        );
        assert_eq!(Challenge::parse(&c.header_value()).unwrap(), c);
        let stale = c.clone().with_stale(true);
        assert_eq!(
            stale.header_value(),
            "Digest qop=\"auth\", realm=\"im.example.org\", nonce=\"0123abcd\", stale=true"
        );
        assert_eq!(Challenge::parse(&stale.header_value()).unwrap(), stale);
        assert!(!stale.with_stale(false).stale());
        // Quotes and backslashes in the realm are escaped, and read back.
        let odd = Challenge::new("a\"b\\c", "n");
        assert_eq!(
            odd.header_value(),
            "Digest qop=\"auth\", realm=\"a\\\"b\\\\c\", nonce=\"n\""
        );
        assert_eq!(Challenge::parse(&odd.header_value()).unwrap(), odd);
        // A parsed challenge with opaque and no qop is written as it was read.
        let rfc2069 = Challenge::parse("Digest realm=\"r\", nonce=\"n\", opaque=\"o\"").unwrap();
        assert_eq!(
            rfc2069.header_value(),
            "Digest realm=\"r\", nonce=\"n\", opaque=\"o\""
        );
        assert_eq!(
            c.to_header_value().to_str().unwrap(),
            c.header_value().as_str()
        );
        // A control character cannot be in a header value.
        assert_eq!(
            Challenge::new("bad\nrealm", "n").to_header_value(),
            "Digest qop=\"auth\", realm=\"\""
        );
    }
}
