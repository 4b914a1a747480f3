//! HTTP Digest for clients (RFC 7616 with MD5 and `qop=auth`; RFC 2617), sans-IO.
//!
//! ```text
//!  401 + WWW-Authenticate ──► Challenge::parse / Challenge::select ──► DigestAuth::accept_challenge
//!                                                                         │ (nonce kept, nc = 0)
//!  next request (method, uri) + a fresh cnonce ──► DigestAuth::authorization ──► "Digest username=…"
//!                                                    nc = 1, 2, 3 … on the same nonce
//! ```
//!
//! A server may accept a nonce again with a strictly greater nonce count (RFC 7616 §3.3;
//! `rvp-server` does, for the nonce's lifetime): [`DigestAuth`] therefore keeps the last
//! challenge and answers every later request with it and the next `nc`, so a client that
//! has been challenged once sends no further bare requests. When the server no longer
//! accepts the nonce it challenges again; the caller hands the new challenge over and
//! retries once.
//!
//! What is supported: `algorithm` absent or `MD5`; `qop` absent (the RFC 2069 form) or a
//! list containing `auth`; `opaque` echoed. `MD5-sess`, `SHA-256`, `userhash` and
//! `auth-int`-only challenges are refused with a typed error (PROTOCOL.md §8.1: RVP servers
//! offer MD5 with `qop="auth"`). Nothing here reads a clock or a random source: the caller
//! supplies each `cnonce`.
//!
//! ```
//! use rvp_client::digest::{Challenge, DigestAuth};
//!
//! // RFC 7616 §3.9.1, the MD5 example.
//! let challenge = Challenge::parse(
//!     "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, \
//!      nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
//!      opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
//! )?;
//! let mut auth = DigestAuth::new("Mufasa", "Circle of Life");
//! auth.accept_challenge(challenge);
//! let value = auth
//!     .authorization("GET", "/dir/index.html", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")?
//!     .expect("challenged");
//! assert!(value.contains("response=\"8ca523f5e9506fed4657c9700eebdbec\""));
//! assert!(value.contains("nc=00000001"));
//! # Ok::<(), rvp_client::digest::DigestError>(())
//! ```

use std::fmt;

use md5::{Digest as _, Md5};

/// Longest `WWW-Authenticate` value [`Challenge::parse`] reads, in bytes (real ones are
/// about 120).
pub const MAX_CHALLENGE_LEN: usize = 4096;

/// Most auth-params read from one header (a challenge has 3 to 6).
pub const MAX_PARAMS: usize = 32;

/// Longest nonce, realm or opaque value kept, in bytes (`rvp-server`'s nonces have 64).
pub const MAX_VALUE_LEN: usize = 1024;

/// Why a challenge could not be used or an answer could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The header is longer than [`MAX_CHALLENGE_LEN`].
    #[error("WWW-Authenticate value of {length} bytes exceeds the limit of {limit} bytes")]
    TooLong {
        /// Length received.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// No `Digest` challenge among the offered ones.
    #[error("the server offers no Digest challenge")]
    NotDigest,
    /// The header is not a well-formed list of challenges.
    #[error("malformed WWW-Authenticate value: {0}")]
    Malformed(&'static str),
    /// A required parameter (`realm`, `nonce`) is absent.
    #[error("the Digest challenge lacks the {0:?} parameter")]
    Missing(&'static str),
    /// A parameter appears twice in the Digest challenge.
    #[error("the Digest challenge repeats the {0:?} parameter")]
    Duplicate(String),
    /// An `algorithm` other than MD5.
    #[error("Digest algorithm {0:?} is not supported (only MD5)")]
    UnsupportedAlgorithm(String),
    /// A `qop` list without `auth`.
    #[error("Digest qop {0:?} is not supported (only \"auth\")")]
    UnsupportedQop(String),
    /// `userhash=true`.
    #[error("Digest userhash is not supported")]
    UserHash,
    /// A username, URI, method or cnonce that cannot be written into the header (a control
    /// character, an empty method, a quote in the cnonce).
    #[error("cannot write {0} into a Digest Authorization header")]
    InvalidInput(&'static str),
    /// The nonce count would pass `ffffffff` (a new challenge is needed).
    #[error("the nonce count is exhausted")]
    NonceCountExhausted,
}

/// A `Digest` challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    qop_auth: bool,
    stale: bool,
}

impl Challenge {
    /// Parses one `WWW-Authenticate` value and returns its `Digest` challenge.
    ///
    /// The value may hold several challenges (`Negotiate, NTLM, Digest qop="auth", …`, RFC
    /// 7235 §4.1); the first `Digest` one is taken. Quoted strings may contain commas and
    /// `\` escapes; parameter names are case-insensitive. Never panics.
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        if value.len() > MAX_CHALLENGE_LEN {
            return Err(DigestError::TooLong {
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
                return Err(DigestError::Malformed("too many parameters"));
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
        Challenge::from_params(params.ok_or(DigestError::NotDigest)?)
    }

    /// The first usable `Digest` challenge among several `WWW-Authenticate` values; the
    /// error of the last Digest challenge that could not be used, else
    /// [`DigestError::NotDigest`].
    pub fn select<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Challenge, DigestError> {
        let mut last = DigestError::NotDigest;
        for v in values {
            match Challenge::parse(v) {
                Ok(c) => return Ok(c),
                Err(DigestError::NotDigest) => {}
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn from_params(params: Vec<(String, String)>) -> Result<Challenge, DigestError> {
        let mut realm = None;
        let mut nonce = None;
        let mut opaque = None;
        let mut qop = None;
        let mut algorithm = None;
        let mut stale = None;
        let mut userhash = None;
        for (name, value) in params {
            if value.len() > MAX_VALUE_LEN {
                return Err(DigestError::Malformed("parameter value too long"));
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
                return Err(DigestError::Duplicate(name.to_ascii_lowercase()));
            }
        }
        if let Some(a) = algorithm
            && !a.eq_ignore_ascii_case("MD5")
        {
            return Err(DigestError::UnsupportedAlgorithm(a));
        }
        if userhash.is_some_and(|u| u.eq_ignore_ascii_case("true")) {
            return Err(DigestError::UserHash);
        }
        let qop_auth = match qop {
            None => false,
            Some(q) => {
                if !q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) {
                    return Err(DigestError::UnsupportedQop(q));
                }
                true
            }
        };
        let realm = realm.ok_or(DigestError::Missing("realm"))?;
        let nonce = nonce.ok_or(DigestError::Missing("nonce"))?;
        for v in [&realm, &nonce].into_iter().chain(opaque.as_ref()) {
            if v.chars().any(char::is_control) {
                return Err(DigestError::Malformed("control character in a value"));
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
}

/// One element of a challenge list.
enum Item {
    /// `scheme` optionally followed by its first parameter.
    Scheme(String, Option<(String, String)>),
    /// `name=value`.
    Param(String, String),
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Splits a challenge list into scheme and parameter items (commas inside quoted strings
/// belong to the value).
fn split_items(value: &str) -> Result<Vec<Item>, DigestError> {
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
        while i < s.len() && is_tchar(s[i]) {
            i += 1;
        }
        if i == start {
            return Err(DigestError::Malformed("expected a token"));
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
            while i < s.len() && is_tchar(s[i]) {
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
            return Err(DigestError::Malformed("expected ',' between parameters"));
        }
    }
}

fn read_value(s: &[char], i: &mut usize) -> Result<String, DigestError> {
    let mut v = String::new();
    if s.get(*i) == Some(&'"') {
        *i += 1;
        loop {
            match s.get(*i) {
                None => return Err(DigestError::Malformed("unterminated quoted string")),
                Some('"') => {
                    *i += 1;
                    return Ok(v);
                }
                Some('\\') => {
                    let c = s
                        .get(*i + 1)
                        .ok_or(DigestError::Malformed("unterminated quoted string"))?;
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
    while *i < s.len() && is_tchar(s[*i]) {
        v.push(s[*i]);
        *i += 1;
    }
    if v.is_empty() {
        return Err(DigestError::Malformed("expected a parameter value"));
    }
    Ok(v)
}

/// HA1 = MD5(`username:realm:password`), binary.
pub fn ha1(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}

/// The `qop=auth` inputs of a request-digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopAuth<'a> {
    /// `nc`: 8 hex digits.
    pub nc: &'a str,
    /// `cnonce`.
    pub cnonce: &'a str,
}

/// The request-digest (RFC 7616 §3.4.1) as 32 lower-case hex digits:
/// `MD5(hex(HA1) ":" nonce ":" nc ":" cnonce ":auth:" HA2)` with `qop`, else the RFC 2069
/// form `MD5(hex(HA1) ":" nonce ":" HA2)`; `HA2 = MD5(method ":" uri)`.
pub fn request_digest(
    ha1: &[u8; 16],
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
) -> String {
    let mut h2 = Md5::new();
    h2.update(method.as_bytes());
    h2.update(b":");
    h2.update(uri.as_bytes());
    let ha2 = hex(&h2.finalize());
    let mut h = Md5::new();
    h.update(hex(ha1).as_bytes());
    h.update(b":");
    h.update(nonce.as_bytes());
    h.update(b":");
    if let Some(q) = qop {
        h.update(q.nc.as_bytes());
        h.update(b":");
        h.update(q.cnonce.as_bytes());
        h.update(b":auth:");
    }
    h.update(ha2.as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

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

/// A client's Digest state: its credentials, the last challenge and the nonce count.
///
/// The password is never shown by `Debug`.
#[derive(Clone)]
pub struct DigestAuth {
    username: String,
    password: String,
    challenge: Option<Challenge>,
    /// HA1 for `challenge`'s realm.
    ha1: [u8; 16],
    nc: u32,
}

impl fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuth")
            .field("username", &self.username)
            .field("challenge", &self.challenge)
            .field("nc", &self.nc)
            .finish_non_exhaustive()
    }
}

impl DigestAuth {
    /// Credentials without a challenge yet. The username is sent exactly as given (for RVP:
    /// the alias, PROTOCOL.md §8.1).
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> DigestAuth {
        DigestAuth {
            username: username.into(),
            password: password.into(),
            challenge: None,
            ha1: [0; 16],
            nc: 0,
        }
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Takes a new challenge: later answers use its nonce, counting from `nc=00000001`.
    pub fn accept_challenge(&mut self, challenge: Challenge) {
        let same_realm = self
            .challenge
            .as_ref()
            .is_some_and(|c| c.realm == challenge.realm);
        if !same_realm {
            self.ha1 = ha1(&self.username, &challenge.realm, &self.password);
        }
        self.challenge = Some(challenge);
        self.nc = 0;
    }

    /// The challenge in use, if any.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_ref()
    }

    /// Drops the challenge: the next request goes bare.
    pub fn forget_challenge(&mut self) {
        self.challenge = None;
        self.nc = 0;
    }

    /// The last nonce count used on the current nonce (`0`: none yet).
    pub fn nonce_count(&self) -> u32 {
        self.nc
    }

    /// The `Authorization` value for a request (`uri` = the request-target exactly as
    /// written on the request line), with the next nonce count; `Ok(None)` before the
    /// first challenge. `cnonce` must be fresh for each answer (the caller's random
    /// source); it is not used for the RFC 2069 form.
    pub fn authorization(
        &mut self,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> Result<Option<String>, DigestError> {
        let Some(c) = self.challenge.as_ref() else {
            return Ok(None);
        };
        if method.is_empty() || !method.chars().all(is_tchar) {
            return Err(DigestError::InvalidInput("the method"));
        }
        if uri.is_empty() || uri.chars().any(|ch| ch.is_control() || ch == ' ') {
            return Err(DigestError::InvalidInput("the uri"));
        }
        if self.username.chars().any(char::is_control) {
            return Err(DigestError::InvalidInput("the username"));
        }
        if cnonce.is_empty()
            || cnonce
                .chars()
                .any(|ch| ch.is_control() || ch == '"' || ch == '\\')
        {
            return Err(DigestError::InvalidInput("the cnonce"));
        }
        let nc = self
            .nc
            .checked_add(1)
            .ok_or(DigestError::NonceCountExhausted)?;
        let nc_text = format!("{nc:08x}");
        let qop = c.qop_auth.then_some(QopAuth {
            nc: &nc_text,
            cnonce,
        });
        let response = request_digest(&self.ha1, method, uri, &c.nonce, qop);
        let mut v = String::with_capacity(256);
        v.push_str("Digest username=");
        push_quoted(&mut v, &self.username);
        v.push_str(", realm=");
        push_quoted(&mut v, &c.realm);
        v.push_str(", nonce=");
        push_quoted(&mut v, &c.nonce);
        v.push_str(", uri=");
        push_quoted(&mut v, uri);
        v.push_str(", algorithm=MD5, response=\"");
        v.push_str(&response);
        v.push('"');
        if c.qop_auth {
            v.push_str(", qop=auth, nc=");
            v.push_str(&nc_text);
            v.push_str(", cnonce=");
            push_quoted(&mut v, cnonce);
        }
        if let Some(o) = &c.opaque {
            v.push_str(", opaque=");
            push_quoted(&mut v, o);
        }
        self.nc = nc;
        Ok(Some(v))
    }
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
        assert!(c.qop_auth());
        assert_eq!(
            c.opaque(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        let h = ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        let r = request_digest(
            &h,
            "GET",
            "/dir/index.html",
            c.nonce(),
            Some(QopAuth {
                nc: "00000001",
                cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            }),
        );
        assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
        let mut auth = DigestAuth::new("Mufasa", "Circle of Life");
        auth.accept_challenge(c);
        let v = auth
            .authorization(
                "GET",
                "/dir/index.html",
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            v,
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", uri=\"/dir/index.html\", \
             algorithm=MD5, response=\"8ca523f5e9506fed4657c9700eebdbec\", qop=auth, \
             nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        );
    }

    #[test]
    fn nonce_count_increases_and_resets() {
        let mut auth = DigestAuth::new("alice", "alice-demo");
        assert_eq!(auth.authorization("ACL", "/x", "c1").unwrap(), None);
        auth.accept_challenge(
            Challenge::parse("Digest qop=\"auth\", realm=\"localhost\", nonce=\"abc\"").unwrap(),
        );
        for n in 1..=3u32 {
            let v = auth.authorization("ACL", "/x", "c1").unwrap().unwrap();
            assert!(v.contains(&format!("nc={n:08x}")), "{v}");
        }
        assert_eq!(auth.nonce_count(), 3);
        auth.accept_challenge(
            Challenge::parse("Digest qop=\"auth\", realm=\"localhost\", nonce=\"def\"").unwrap(),
        );
        let v = auth.authorization("ACL", "/x", "c2").unwrap().unwrap();
        assert!(v.contains("nc=00000001") && v.contains("nonce=\"def\""));
        auth.nc = u32::MAX;
        assert_eq!(
            auth.authorization("ACL", "/x", "c3"),
            Err(DigestError::NonceCountExhausted)
        );
        auth.forget_challenge();
        assert_eq!(auth.authorization("ACL", "/x", "c3").unwrap(), None);
        assert!(!format!("{auth:?}").contains("alice-demo"));
    }

    #[test]
    fn rfc2069_form_without_qop() {
        let mut auth = DigestAuth::new("alice", "pw");
        auth.accept_challenge(Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap());
        let v = auth.authorization("GET", "/", "cn").unwrap().unwrap();
        let expected = request_digest(&ha1("alice", "r", "pw"), "GET", "/", "n", None);
        assert!(v.ends_with(&format!("response=\"{expected}\"")), "{v}");
        assert!(!v.contains("qop"));
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
        assert_eq!(Challenge::select(["NTLM"]), Err(DigestError::NotDigest));
    }

    #[test]
    fn refusals() {
        assert_eq!(Challenge::parse("NTLM"), Err(DigestError::NotDigest));
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess"),
            Err(DigestError::UnsupportedAlgorithm("MD5-sess".into()))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""),
            Err(DigestError::UnsupportedQop("auth-int".into()))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", userhash=true"),
            Err(DigestError::UserHash)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\""),
            Err(DigestError::Missing("nonce"))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", realm=\"s\", nonce=\"n\""),
            Err(DigestError::Duplicate("realm".into()))
        );
        assert!(matches!(
            Challenge::parse("Digest realm=\"r, nonce=\"n\""),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            Challenge::parse(&"x".repeat(MAX_CHALLENGE_LEN + 1)),
            Err(DigestError::TooLong { .. })
        ));
        let many = format!(
            "Digest realm=\"r\", nonce=\"n\"{}",
            ", x=1".repeat(MAX_PARAMS)
        );
        assert!(matches!(
            Challenge::parse(&many),
            Err(DigestError::Malformed(_))
        ));
        let mut auth = DigestAuth::new("a\r\nX: y", "pw");
        auth.accept_challenge(Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap());
        assert_eq!(
            auth.authorization("GET", "/", "c"),
            Err(DigestError::InvalidInput("the username"))
        );
        let mut auth = DigestAuth::new("a", "pw");
        auth.accept_challenge(Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap());
        assert!(auth.authorization("GET", "/a b", "c").is_err());
        assert!(auth.authorization("", "/", "c").is_err());
        assert!(auth.authorization("GET", "/", "c\"").is_err());
    }

    #[test]
    fn quoting_and_escapes() {
        let c = Challenge::parse("digest REALM=\"a\\\"b\", NONCE=n1").unwrap();
        assert_eq!((c.realm(), c.nonce()), ("a\"b", "n1"));
        let mut auth = DigestAuth::new("us\"er", "pw");
        auth.accept_challenge(c);
        let v = auth.authorization("GET", "/", "c").unwrap().unwrap();
        assert!(
            v.starts_with("Digest username=\"us\\\"er\", realm=\"a\\\"b\""),
            "{v}"
        );
    }
}
