//! HTTP Digest: published test vectors, the librvp exchange, and every refusal.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use rvp_proto::digest::{Authorization, DigestHeaderError, QopAuth, compute_response};
use rvp_server::auth::digest::NONCE_LEN;
use rvp_server::auth::{
    AuthError, Authenticator, DigestConfig, Ha1, Identity, NonceSecret, UserDirectory, VerifyError,
};

const REALM: &str = "localhost";
const TARGET: &str = "/instmsg/aliases/alice";

fn secret(b: u8) -> NonceSecret {
    NonceSecret::from_bytes([b; 32])
}

fn directory() -> UserDirectory {
    let mut d = UserDirectory::new(REALM).unwrap();
    d.add_password("alice", "wonderland").unwrap();
    d.add_ha1("bob", "bob", Ha1::from_password("bob", REALM, "builder"))
        .unwrap();
    d
}

fn authenticator(config: DigestConfig, t0: Instant) -> Authenticator {
    Authenticator::new(config, secret(7), directory(), t0)
}

/// An `Authorization` value shaped like librvp's (interop README: local-part username,
/// `algorithm="MD5"` sent, `nc=00000001`, `uri` the request path, no `opaque`).
fn librvp_header(
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
) -> String {
    let ha1 = Ha1::from_password(user, REALM, password);
    let cnonce = "3b9c1e7a";
    let resp = compute_response(&ha1, method, uri, nonce, Some(QopAuth { nc, cnonce }));
    let user_q = user.replace('\\', "\\\\");
    format!(
        "Digest username=\"{user_q}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm=\"MD5\", qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{resp}\""
    )
}

#[test]
fn rfc2617_mufasa_vector() {
    // RFC 2617 §3.5.
    let ha1 = Ha1::from_password("Mufasa", "testrealm@host.com", "Circle Of Life");
    assert_eq!(ha1.to_hex(), "939e7578ed9e3c518a452acee763bce9");
    let resp = compute_response(
        &ha1,
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        Some(QopAuth {
            nc: "00000001",
            cnonce: "0a4f113b",
        }),
    );
    assert_eq!(resp, "6629fae49393a05397450978507c4ef1");
    // And the header as published parses to the same inputs.
    let header = br#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let flat: Vec<u8> = header
        .iter()
        .map(|&b| if b == b'\n' { b' ' } else { b })
        .collect();
    let p = Authorization::parse(&flat).unwrap();
    assert_eq!(p.username.as_deref(), Some("Mufasa"));
    assert_eq!(p.nc.as_deref(), Some("00000001"));
    assert_eq!(
        p.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
    assert_eq!(p.response.as_deref(), Some(resp.as_str()));
}

#[test]
fn rfc7616_md5_vector() {
    // RFC 7616 §3.9.1 (MD5 variant).
    let ha1 = Ha1::from_password("Mufasa", "http-auth@example.org", "Circle of Life");
    let resp = compute_response(
        &ha1,
        "GET",
        "/dir/index.html",
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        Some(QopAuth {
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        }),
    );
    assert_eq!(resp, "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn rfc2069_form() {
    // RFC 2069 §2.4 inputs (no qop): response = MD5(HA1:nonce:HA2). The response printed in
    // RFC 2069 does not reproduce from its printed inputs, so the expected value here was
    // computed independently (Python hashlib).
    let ha1 = Ha1::from_password("Mufasa", "testrealm@host.com", "CircleOfLife");
    let resp = compute_response(
        &ha1,
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        None,
    );
    assert_eq!(resp, "1949323746fe6a43ef61f9606e7febea");
}

#[test]
fn challenge_is_the_one_librvp_handles() {
    let t0 = Instant::now();
    let auth = authenticator(DigestConfig::new(REALM), t0);
    let c = auth.challenge(t0, None);
    assert_eq!(c.nonce().len(), NONCE_LEN);
    assert_eq!(
        c.header_value(),
        format!(
            "Digest qop=\"auth\", realm=\"localhost\", nonce=\"{}\"",
            c.nonce()
        )
    );
    assert_eq!(c.to_header_value().to_str().unwrap(), c.header_value());
    // Fresh per 401.
    assert_ne!(auth.challenge(t0, None).nonce(), c.nonce());
}

#[test]
fn librvp_style_success_all_username_forms() {
    let t0 = Instant::now();
    let auth = authenticator(DigestConfig::new(REALM), t0);
    for user in ["alice", "CORP\\alice", "CORP/alice"] {
        let nonce = auth.challenge(t0, None).nonce().to_owned();
        let h = librvp_header(user, "wonderland", "SUBSCRIBE", TARGET, &nonce, "00000001");
        let id = auth
            .authenticate(
                t0 + Duration::from_secs(1),
                "SUBSCRIBE",
                TARGET,
                Some(h.as_bytes()),
            )
            .unwrap();
        let Identity::Authenticated(a) = id else {
            panic!("authenticated")
        };
        assert_eq!(
            a.principal.to_string(),
            "http://localhost/instmsg/aliases/alice"
        );
        assert_eq!(a.kind, rvp_proto::CredentialKind::Digest);
        assert_eq!(&*a.username, user);
    }
    // An HA1-configured user.
    let nonce = auth.challenge(t0, None).nonce().to_owned();
    let h = librvp_header("bob", "builder", "NOTIFY", TARGET, &nonce, "00000001");
    let id = auth
        .authenticate(t0, "NOTIFY", TARGET, Some(h.as_bytes()))
        .unwrap();
    assert_eq!(
        id.principal().unwrap().to_string(),
        "http://localhost/instmsg/aliases/bob"
    );
    assert_eq!(auth.verifier().tracked_nonces(), 4);
}

#[test]
fn absolute_form_target_and_quoted_qop() {
    let t0 = Instant::now();
    let auth = authenticator(DigestConfig::new(REALM), t0);
    let nonce = auth.challenge(t0, None).nonce().to_owned();
    let h = librvp_header(
        "alice",
        "wonderland",
        "PROPFIND",
        TARGET,
        &nonce,
        "00000001",
    )
    .replace("qop=auth", "qop=\"auth\"");
    let target = format!("http://localhost{TARGET}");
    assert!(
        auth.authenticate(t0, "PROPFIND", &target, Some(h.as_bytes()))
            .unwrap()
            .is_authenticated()
    );
}

#[test]
fn answers_without_qop_are_refused() {
    // Every challenge asks for qop="auth": an RFC 2069 answer (no qop, nc, cnonce), even
    // one computed correctly, is refused.
    let t0 = Instant::now();
    let ha1 = Ha1::from_password("alice", REALM, "wonderland");
    let auth = authenticator(DigestConfig::new(REALM), t0);
    let nonce = auth.challenge(t0, None).nonce().to_owned();
    let resp = compute_response(&ha1, "ACL", TARGET, &nonce, None);
    let h = format!(
        "Digest username=\"alice\", realm=\"localhost\", nonce=\"{nonce}\", uri=\"{TARGET}\", response=\"{resp}\""
    );
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())),
        Err(AuthError::Digest(VerifyError::Header(
            DigestHeaderError::Missing("qop")
        )))
    );
    // With nc and cnonce but still no qop: refused too.
    let h = format!("{h}, nc=00000001, cnonce=\"abc\"");
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())),
        Err(AuthError::Digest(VerifyError::Header(
            DigestHeaderError::Missing("qop")
        )))
    );
    // The same nonce answered properly still works (a refusal does not burn it).
    let h = librvp_header("alice", "wonderland", "ACL", TARGET, &nonce, "00000001");
    assert!(
        auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes()))
            .unwrap()
            .is_authenticated()
    );
}

#[test]
fn no_header_is_unauthenticated_other_schemes_refused() {
    let t0 = Instant::now();
    let auth = authenticator(DigestConfig::new(REALM), t0);
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, None),
        Ok(Identity::Unauthenticated)
    );
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(b"NTLM TlRMTVNTUAABAAAA")),
        Err(AuthError::UnsupportedScheme("NTLM".into()))
    );
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(b"Basic YWxpY2U6d29uZGVybGFuZA==")),
        Err(AuthError::UnsupportedScheme("Basic".into()))
    );
    assert!(auth.authenticate(t0, "ACL", TARGET, Some(b"")).is_err());
}

#[test]
fn wrong_password_unknown_user_wrong_realm() {
    let t0 = Instant::now();
    let auth = authenticator(DigestConfig::new(REALM), t0);
    let nonce = auth.challenge(t0, None).nonce().to_owned();
    let h = librvp_header("alice", "looking-glass", "ACL", TARGET, &nonce, "00000001");
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())),
        Err(AuthError::Digest(VerifyError::WrongResponse(
            "alice".into()
        )))
    );
    // A refused answer does not burn the nonce: the right one still works.
    let h = librvp_header("alice", "wonderland", "ACL", TARGET, &nonce, "00000001");
    assert!(
        auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes()))
            .is_ok()
    );
    let h = librvp_header("carol", "x", "ACL", TARGET, &nonce, "00000002");
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())),
        Err(AuthError::Digest(VerifyError::UnknownUser("carol".into())))
    );
    let h = librvp_header("alice", "wonderland", "ACL", TARGET, &nonce, "00000002")
        .replace("realm=\"localhost\"", "realm=\"elsewhere\"");
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())),
        Err(AuthError::Digest(VerifyError::RealmMismatch(
            "elsewhere".into()
        )))
    );
    // Method is covered by the response: same header, other method.
    let h = librvp_header("alice", "wonderland", "ACL", TARGET, &nonce, "00000003");
    assert!(matches!(
        auth.authenticate(t0, "NOTIFY", TARGET, Some(h.as_bytes())),
        Err(AuthError::Digest(VerifyError::WrongResponse(_)))
    ));
}

#[test]
fn uri_must_name_the_target() {
    let t0 = Instant::now();
    let auth = authenticator(DigestConfig::new(REALM), t0);
    let nonce = auth.challenge(t0, None).nonce().to_owned();
    let h = librvp_header(
        "alice",
        "wonderland",
        "ACL",
        "/instmsg/aliases/bob",
        &nonce,
        "00000001",
    );
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())),
        Err(AuthError::Digest(VerifyError::UriMismatch {
            uri: "/instmsg/aliases/bob".into(),
            target: TARGET.into()
        }))
    );
}

#[test]
fn expired_nonce_is_stale() {
    let t0 = Instant::now();
    let mut cfg = DigestConfig::new(REALM);
    cfg.nonce_lifetime = Duration::from_secs(10);
    cfg.send_stale = true;
    let auth = authenticator(cfg, t0);
    let nonce = auth.challenge(t0, None).nonce().to_owned();
    let h = librvp_header("alice", "wonderland", "ACL", TARGET, &nonce, "00000001");
    let late = t0 + Duration::from_secs(11);
    let err = auth
        .authenticate(late, "ACL", TARGET, Some(h.as_bytes()))
        .unwrap_err();
    assert_eq!(err, AuthError::Digest(VerifyError::StaleNonce));
    assert!(err.is_stale());
    let c = auth.challenge(late, Some(&err));
    assert!(c.header_value().ends_with(", stale=true"));
    // Within the lifetime it works.
    assert!(
        auth.authenticate(
            t0 + Duration::from_secs(10),
            "ACL",
            TARGET,
            Some(h.as_bytes())
        )
        .is_ok()
    );
    // Default: no stale parameter (librvp is not known to handle it).
    let auth = authenticator(DigestConfig::new(REALM), t0);
    assert!(
        !auth
            .challenge(t0, Some(&err))
            .header_value()
            .contains("stale")
    );
}

#[test]
fn replay_refused_higher_nc_accepted() {
    let t0 = Instant::now();
    let auth = authenticator(DigestConfig::new(REALM), t0);
    let nonce = auth.challenge(t0, None).nonce().to_owned();
    let h1 = librvp_header("alice", "wonderland", "ACL", TARGET, &nonce, "00000001");
    assert!(
        auth.authenticate(t0, "ACL", TARGET, Some(h1.as_bytes()))
            .is_ok()
    );
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(h1.as_bytes())),
        Err(AuthError::Digest(VerifyError::Replay { nc: 1 }))
    );
    // RFC 7616 nonce reuse with a greater nc is allowed; going back is not.
    let h3 = librvp_header("alice", "wonderland", "ACL", TARGET, &nonce, "00000003");
    assert!(
        auth.authenticate(t0, "ACL", TARGET, Some(h3.as_bytes()))
            .is_ok()
    );
    let h2 = librvp_header("alice", "wonderland", "ACL", TARGET, &nonce, "00000002");
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(h2.as_bytes())),
        Err(AuthError::Digest(VerifyError::Replay { nc: 2 }))
    );
    assert_eq!(auth.verifier().tracked_nonces(), 1);
}

#[test]
fn replay_table_is_bounded_and_stays_closed() {
    let t0 = Instant::now();
    let mut cfg = DigestConfig::new(REALM);
    cfg.max_tracked_nonces = 3;
    cfg.nonce_lifetime = Duration::from_secs(60);
    let auth = authenticator(cfg, t0);
    let nonces: Vec<String> = (0..5)
        .map(|_| auth.challenge(t0, None).nonce().to_owned())
        .collect();
    for n in &nonces {
        let h = librvp_header("alice", "wonderland", "ACL", TARGET, n, "00000001");
        assert!(
            auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes()))
                .is_ok()
        );
        assert!(auth.verifier().tracked_nonces() <= 3);
    }
    // The first two fell out of the table: replaying them is refused (stale), not accepted.
    for n in &nonces[..2] {
        let h = librvp_header("alice", "wonderland", "ACL", TARGET, n, "00000001");
        assert_eq!(
            auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())),
            Err(AuthError::Digest(VerifyError::StaleNonce))
        );
    }
    // Expiry empties the table.
    let later = t0 + Duration::from_secs(120);
    let n = auth.challenge(later, None).nonce().to_owned();
    let h = librvp_header("alice", "wonderland", "ACL", TARGET, &n, "00000001");
    assert!(
        auth.authenticate(later, "ACL", TARGET, Some(h.as_bytes()))
            .is_ok()
    );
    assert_eq!(auth.verifier().tracked_nonces(), 1);
}

#[test]
fn forged_nonces_refused() {
    let t0 = Instant::now();
    let auth = authenticator(DigestConfig::new(REALM), t0);
    let other = Authenticator::new(DigestConfig::new(REALM), secret(8), directory(), t0);
    let real = auth.challenge(t0, None).nonce().to_owned();
    // Re-dating a real nonce (first 16 hex digits are the issue time) breaks its tag.
    let mut redated = real.clone();
    redated.replace_range(0..16, "00000000000fffff");
    let forged = [
        other.challenge(t0, None).nonce().to_owned(),
        "0".repeat(NONCE_LEN),
        redated,
        real[..NONCE_LEN - 2].to_owned(),
        format!("{real}00"),
        "dcd98b7102dd2f0e8b11d0f600bfb0c093".to_owned(),
        real.replace(|c: char| c.is_ascii_digit(), "g"),
    ];
    for n in &forged {
        let h = librvp_header("alice", "wonderland", "ACL", TARGET, n, "00000001");
        assert_eq!(
            auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())),
            Err(AuthError::Digest(VerifyError::ForgedNonce)),
            "{n}"
        );
    }
    // Upper-case hex of a real nonce is the same nonce bytes, but the response covers the
    // nonce string: accepted only if the client hashed that string, which is consistent.
    assert_eq!(auth.verifier().tracked_nonces(), 0);
}

#[test]
fn unsupported_parameters() {
    let t0 = Instant::now();
    let auth = authenticator(DigestConfig::new(REALM), t0);
    let nonce = auth.challenge(t0, None).nonce().to_owned();
    let base = librvp_header("alice", "wonderland", "ACL", TARGET, &nonce, "00000001");
    let cases: Vec<(String, DigestHeaderError)> = vec![
        (
            base.replace("algorithm=\"MD5\"", "algorithm=MD5-sess"),
            DigestHeaderError::UnsupportedAlgorithm("MD5-sess".into()),
        ),
        (
            base.replace("algorithm=\"MD5\"", "algorithm=SHA-256"),
            DigestHeaderError::UnsupportedAlgorithm("SHA-256".into()),
        ),
        (
            base.replace("qop=auth", "qop=auth-int"),
            DigestHeaderError::UnsupportedQop("auth-int".into()),
        ),
        (
            base.replace("nc=00000001", "nc=1"),
            DigestHeaderError::InvalidNonceCount("1".into()),
        ),
        (
            base.replace("nc=00000001, ", ""),
            DigestHeaderError::Missing("nc"),
        ),
        (
            base.replace("cnonce=\"3b9c1e7a\", ", ""),
            DigestHeaderError::Missing("cnonce"),
        ),
        (
            format!("{base}, userhash=true"),
            DigestHeaderError::UserHash,
        ),
        (
            format!("{base}, nonce=\"x\""),
            DigestHeaderError::Duplicate("nonce".into()),
        ),
        (
            base.replace("username=\"alice\", ", ""),
            DigestHeaderError::Missing("username"),
        ),
    ];
    for (h, want) in cases {
        assert_eq!(
            auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())),
            Err(AuthError::Digest(VerifyError::Header(want))),
            "{h}"
        );
    }
    // Algorithm name case and unknown extra parameters are fine; opaque is not required.
    let h = base.replace("algorithm=\"MD5\"", "algorithm=md5") + ", opaque=\"zz\", x-ext=1";
    assert!(
        auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes()))
            .is_ok()
    );
}

#[test]
fn header_length_limit() {
    let t0 = Instant::now();
    let mut cfg = DigestConfig::new(REALM);
    cfg.max_header_bytes = 64;
    let auth = authenticator(cfg, t0);
    let nonce = auth.challenge(t0, None).nonce().to_owned();
    let h = librvp_header("alice", "wonderland", "ACL", TARGET, &nonce, "00000001");
    assert_eq!(
        auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())),
        Err(AuthError::Digest(VerifyError::Header(
            DigestHeaderError::TooLong {
                length: h.len(),
                limit: 64
            }
        )))
    );
}

#[test]
fn parser_edge_cases() {
    let p = Authorization::parse(br#"digest  username = "a\"b\\c" ,, realm=r,"#).unwrap();
    assert_eq!(p.username.as_deref(), Some("a\"b\\c"));
    assert_eq!(p.realm.as_deref(), Some("r"));
    let p = Authorization::parse("Digest username=\"Zoë\\é\"".as_bytes()).unwrap();
    assert_eq!(p.username.as_deref(), Some("Zoëé"));
    for bad in [
        &b"Digest username"[..],
        b"Digest username=",
        b"Digest username=\"abc",
        b"Digest username=\"abc\\",
        b"Digest =x",
        b"Digest a=b c=d",
        b"Digest a=\"b\"c",
        b"Digest a=\xff",
        b"Digestusername=a",
        b"Basic a=b",
        b"",
    ] {
        assert!(Authorization::parse(bad).is_err(), "{bad:?}");
    }
    let many: String = (0..40).map(|i| format!("p{i}=1, ")).collect();
    assert_eq!(
        Authorization::parse(format!("Digest {many}").as_bytes()),
        Err(DigestHeaderError::Malformed("too many parameters"))
    );
}

fn quote(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

proptest! {
    #[test]
    fn arbitrary_headers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Authorization::parse(&bytes);
        let mut with_scheme = b"Digest ".to_vec();
        with_scheme.extend_from_slice(&bytes);
        let _ = Authorization::parse(&with_scheme);
        let t0 = Instant::now();
        let auth = authenticator(DigestConfig::new(REALM), t0);
        let _ = auth.authenticate(t0, "ACL", TARGET, Some(&with_scheme));
        let _ = auth.authenticate(t0, "ACL", TARGET, Some(&bytes));
    }

    #[test]
    fn digest_like_headers_never_panic(s in "Digest( *[a-z]{1,8} *= *(\"([^\"\\\\]|\\\\.){0,10}\"|[a-zA-Z0-9]{0,8}) *,?){0,12}") {
        let _ = Authorization::parse(s.as_bytes());
        let t0 = Instant::now();
        let auth = authenticator(DigestConfig::new(REALM), t0);
        let _ = auth.authenticate(t0, "ACL", TARGET, Some(s.as_bytes()));
    }

    #[test]
    fn quoted_values_roundtrip(user in "\\PC{0,20}", realm in "[ -~]{0,20}", nonce in "[0-9a-f]{0,64}") {
        let header = format!(
            "Digest username={}, realm={}, nonce={}, qop=auth",
            quote(&user), quote(&realm), quote(&nonce)
        );
        let p: Authorization<'_> = Authorization::parse(header.as_bytes()).unwrap();
        prop_assert_eq!(p.username.as_deref(), Some(user.as_str()));
        prop_assert_eq!(p.realm.as_deref(), Some(realm.as_str()));
        prop_assert_eq!(p.nonce.as_deref(), Some(nonce.as_str()));
        prop_assert_eq!(p.qop.as_deref(), Some("auth"));
    }

    #[test]
    fn only_the_right_password_verifies(pw in "[ -~]{0,16}") {
        let t0 = Instant::now();
        let auth = authenticator(DigestConfig::new(REALM), t0);
        let nonce = auth.challenge(t0, None).nonce().to_owned();
        let h = librvp_header("alice", &pw, "ACL", TARGET, &nonce, "00000001");
        let ok = auth.authenticate(t0, "ACL", TARGET, Some(h.as_bytes())).is_ok();
        prop_assert_eq!(ok, pw == "wonderland");
    }
}

// Over real TCP: an in-process server (rvp_interop::server) on 127.0.0.1.

/// The 401 as compared: status line, headers in order with the challenge's nonce blanked,
/// body.
fn comparable(r: &rvp_interop::server::Resp) -> (u16, String, Vec<(String, String)>, Vec<u8>) {
    let headers = r
        .headers
        .iter()
        .map(|(n, v)| {
            if n.eq_ignore_ascii_case("WWW-Authenticate") {
                let nonce = rvp_interop::server::nonce_of(v);
                (n.clone(), v.replace(&nonce, "<nonce>"))
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect();
    (r.status, r.reason.clone(), headers, r.body.clone())
}

#[tokio::test]
async fn every_refused_answer_gets_the_same_401_over_tcp() {
    use rvp_interop::server::{Client, Req, nonce_of, path, raw, url};
    let server = rvp_interop::server::TestServer::start(|_| {}).await;
    let req = Req::new("SUBSCRIBE", &path("alice"))
        .header("Notification-Type", "pragma/notify")
        .header("Subscription-Lifetime", "3600")
        .header("Call-Back", "http://127.0.0.1:9/");
    let bare = req.to_bytes(&url("alice"), None);
    // A fresh nonce from a bare request's 401.
    let fresh_nonce = || async {
        let r = raw(server.addr, &bare).await.expect("401");
        assert_eq!(r.status, 401, "{r:?}");
        nonce_of(r.header("WWW-Authenticate").expect("a challenge"))
    };
    let alice = Client::new(server.addr, "alice");
    let mut wrong_password = alice.clone();
    wrong_password.password = "not-alices".into();
    let unknown = Client::new(server.addr, "mallory");

    let mut cases: Vec<(&str, String)> = Vec::new();
    cases.push(("unknown user", unknown.digest(&req, &fresh_nonce().await)));
    cases.push((
        "known user, wrong password",
        wrong_password.digest(&req, &fresh_nonce().await),
    ));
    // alice's right password, but RFC 2069 style (no qop, nc, cnonce).
    let nonce = fresh_nonce().await;
    let ha1 = Ha1::from_password("alice", "localhost", "alice-pw");
    let target = path("alice");
    let resp = compute_response(&ha1, "SUBSCRIBE", &target, &nonce, None);
    cases.push((
        "no qop",
        format!(
            "Digest username=\"alice\", realm=\"localhost\", nonce=\"{nonce}\", uri=\"{target}\", response=\"{resp}\""
        ),
    ));
    cases.push(("forged nonce", alice.digest(&req, &"0".repeat(NONCE_LEN))));
    cases.push(("other scheme", "Basic YWxpY2U6YWxpY2UtcHc=".into()));

    let mut first: Option<(&str, rvp_interop::server::Resp)> = None;
    for (what, authorization) in cases {
        let r = raw(
            server.addr,
            &req.to_bytes(&url("alice"), Some(&authorization)),
        )
        .await
        .expect("an answer");
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert_eq!(r.headers_named("WWW-Authenticate"), 1, "{what}: {r:?}");
        assert_eq!(
            r.body,
            format!("{}\r\n", rvp_server::auth::UNAUTHORIZED_BODY).as_bytes(),
            "{what}"
        );
        match &first {
            None => first = Some((what, r)),
            Some((w0, r0)) => assert_eq!(
                comparable(&r),
                comparable(r0),
                "{what} and {w0} are told apart"
            ),
        }
    }
    // The right answer is still accepted (the refusals above burnt nothing).
    let ok = alice.send(&req).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    server.stop().await;
}
