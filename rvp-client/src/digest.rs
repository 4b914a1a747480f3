//! HTTP Digest for clients (RFC 7616 with MD5 and `qop=auth`; RFC 2617), sans-IO: the
//! client's state over the wire types of [`rvp_proto::digest`].
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
//! The headers, the request-digest and what is supported (`algorithm` absent or `MD5`;
//! `qop` absent, the RFC 2069 form, or a list containing `auth`; `opaque` echoed) are
//! [`rvp_proto::digest`]'s; [`Challenge`] and [`DigestHeaderError`] are re-exported here
//! because [`DigestAuth`] takes and returns them. Nothing here reads a clock or a random
//! source: the caller supplies each `cnonce`.
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
//! # Ok::<(), rvp_client::digest::DigestHeaderError>(())
//! ```

use std::fmt;

use rvp_proto::digest::{Authorization, Ha1, QopAuth, compute_response};
pub use rvp_proto::digest::{Challenge, DigestHeaderError};

/// A client's Digest state: its credentials, the last challenge and the nonce count.
///
/// The password is never shown by `Debug`.
#[derive(Clone)]
pub struct DigestAuth {
    username: String,
    password: String,
    /// The challenge in use and HA1 for its realm.
    challenge: Option<(Challenge, Ha1)>,
    nc: u32,
}

impl fmt::Debug for DigestAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuth")
            .field("username", &self.username)
            .field("challenge", &self.challenge())
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
            nc: 0,
        }
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Takes a new challenge: later answers use its nonce, counting from `nc=00000001`.
    pub fn accept_challenge(&mut self, challenge: Challenge) {
        let ha1 = match self.challenge.take() {
            Some((old, ha1)) if old.realm() == challenge.realm() => ha1,
            _ => Ha1::from_password(&self.username, challenge.realm(), &self.password),
        };
        self.challenge = Some((challenge, ha1));
        self.nc = 0;
    }

    /// The challenge in use, if any.
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_ref().map(|(c, _)| c)
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
    ) -> Result<Option<String>, DigestHeaderError> {
        let Some((c, ha1)) = self.challenge.as_ref() else {
            return Ok(None);
        };
        // A method is a token (what `http` checks).
        if http::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(DigestHeaderError::InvalidInput("method"));
        }
        if uri.is_empty() || uri.chars().any(|ch| ch.is_control() || ch == ' ') {
            return Err(DigestHeaderError::InvalidInput("uri"));
        }
        if cnonce.is_empty()
            || cnonce
                .chars()
                .any(|ch| ch.is_control() || ch == '"' || ch == '\\')
        {
            return Err(DigestHeaderError::InvalidInput("cnonce"));
        }
        let nc = self
            .nc
            .checked_add(1)
            .ok_or(DigestHeaderError::NonceCountExhausted)?;
        let nc_text = format!("{nc:08x}");
        let qop = c.qop_auth().then_some(QopAuth {
            nc: &nc_text,
            cnonce,
        });
        let response = compute_response(ha1, method, uri, c.nonce(), qop);
        let mut answer = Authorization::default();
        answer.username = Some(self.username.as_str().into());
        answer.realm = Some(c.realm().into());
        answer.nonce = Some(c.nonce().into());
        answer.uri = Some(uri.into());
        answer.algorithm = Some("MD5".into());
        answer.response = Some(response.as_str().into());
        if let Some(q) = qop {
            answer.qop = Some("auth".into());
            answer.nc = Some(q.nc.into());
            answer.cnonce = Some(q.cnonce.into());
        }
        answer.opaque = c.opaque().map(Into::into);
        let mut v = String::with_capacity(256);
        answer.write(&mut v)?;
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
        // A new realm: HA1 computed again.
        auth.accept_challenge(
            Challenge::parse("Digest qop=\"auth\", realm=\"other\", nonce=\"def\"").unwrap(),
        );
        let v = auth.authorization("ACL", "/x", "c2").unwrap().unwrap();
        let want = compute_response(
            &Ha1::from_password("alice", "other", "alice-demo"),
            "ACL",
            "/x",
            "def",
            Some(QopAuth {
                nc: "00000001",
                cnonce: "c2",
            }),
        );
        assert!(v.contains(&format!("response=\"{want}\"")), "{v}");
        auth.nc = u32::MAX;
        assert_eq!(
            auth.authorization("ACL", "/x", "c3"),
            Err(DigestHeaderError::NonceCountExhausted)
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
        let expected = compute_response(
            &Ha1::from_password("alice", "r", "pw"),
            "GET",
            "/",
            "n",
            None,
        );
        assert!(v.ends_with(&format!("response=\"{expected}\"")), "{v}");
        assert!(!v.contains("qop"));
    }

    #[test]
    fn refusals() {
        let mut auth = DigestAuth::new("a\r\nX: y", "pw");
        auth.accept_challenge(Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap());
        assert_eq!(
            auth.authorization("GET", "/", "c"),
            Err(DigestHeaderError::InvalidInput("username"))
        );
        // Nothing was answered: the count did not move.
        assert_eq!(auth.nonce_count(), 0);
        let mut auth = DigestAuth::new("a", "pw");
        auth.accept_challenge(Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap());
        assert_eq!(
            auth.authorization("GET", "/a b", "c"),
            Err(DigestHeaderError::InvalidInput("uri"))
        );
        assert_eq!(
            auth.authorization("", "/", "c"),
            Err(DigestHeaderError::InvalidInput("method"))
        );
        assert_eq!(
            auth.authorization("G T", "/", "c"),
            Err(DigestHeaderError::InvalidInput("method"))
        );
        assert_eq!(
            auth.authorization("GET", "/", "c\""),
            Err(DigestHeaderError::InvalidInput("cnonce"))
        );
        assert_eq!(auth.nonce_count(), 0);
    }

    #[test]
    fn quoting_and_escapes() {
        let c = Challenge::parse("digest REALM=\"a\\\"b\", NONCE=n1").unwrap();
        let mut auth = DigestAuth::new("us\"er", "pw");
        auth.accept_challenge(c);
        let v = auth.authorization("GET", "/", "c").unwrap().unwrap();
        assert!(
            v.starts_with("Digest username=\"us\\\"er\", realm=\"a\\\"b\""),
            "{v}"
        );
    }
}
