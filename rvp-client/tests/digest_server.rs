//! The client's Digest agrees with rvp-server's: the same request-digest for any input,
//! and answers written by `DigestAuth` to the server verifier's challenges are accepted —
//! again and again on one nonce with increasing `nc` — while a replayed answer is not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use proptest::prelude::*;
use rvp_client::digest::{Challenge, DigestAuth, QopAuth, ha1, request_digest};
use rvp_proto::url::LogicalUrl;
use rvp_server::auth::digest::{
    self as server, DigestAccount, DigestConfig, DigestError, DigestUsers, DigestVerifier, Ha1,
    NonceSecret, parse_authorization,
};

proptest! {
    #[test]
    fn same_request_digest_as_the_server(
        user in "[a-zA-Z0-9\\\\/._-]{1,20}",
        realm in "[ -~]{0,30}",
        password in "\\PC{0,30}",
        method in "(SUBSCRIBE|NOTIFY|PROPPATCH|ACL|GET)",
        uri in "/[a-z/._-]{0,40}",
        nonce in "[0-9a-f]{64}",
        nc in 1u32..u32::MAX,
        cnonce in "[0-9a-zA-Z]{1,32}",
        with_qop in any::<bool>(),
    ) {
        let nc = format!("{nc:08x}");
        let ours = request_digest(
            &ha1(&user, &realm, &password), &method, &uri, &nonce,
            with_qop.then_some(QopAuth { nc: &nc, cnonce: &cnonce }),
        );
        let theirs = server::compute_response(
            &Ha1::from_password(&user, &realm, &password), &method, &uri, &nonce,
            with_qop.then_some(server::QopAuth { nc: &nc, cnonce: &cnonce }),
        );
        prop_assert_eq!(ours, theirs);
    }
}

struct Users;

impl DigestUsers for Users {
    fn lookup(&self, username: &str, realm: &str) -> Option<DigestAccount> {
        (username == "alice").then(|| DigestAccount {
            principal: LogicalUrl::new("localhost", "alice").unwrap(),
            ha1: Ha1::from_password(username, realm, "alice-demo"),
        })
    }
}

#[test]
fn answers_are_verified_by_the_server_and_the_nonce_is_reused() {
    let t0 = Instant::now();
    let verifier = DigestVerifier::new(
        DigestConfig::new("localhost"),
        NonceSecret::generate().unwrap(),
        t0,
    );
    let challenge = verifier.challenge(t0, false);
    let mut auth = DigestAuth::new("alice", "alice-demo");
    auth.accept_challenge(Challenge::parse(&challenge.header_value()).unwrap());
    let target = "/instmsg/aliases/alice";
    let mut first = None;
    for (i, method) in ["SUBSCRIBE", "PROPPATCH", "ACL"].into_iter().enumerate() {
        let value = auth
            .authorization(method, target, &format!("cn{i}"))
            .unwrap()
            .unwrap();
        let params = parse_authorization(value.as_bytes()).unwrap();
        let verified = verifier
            .verify(t0, &Users, method, target, &params)
            .unwrap();
        assert_eq!(verified.principal.alias(), "alice");
        assert!(!verified.librvp_truncated);
        first.get_or_insert((method, value.clone()));
    }
    // The first answer again: nc 1 after nc 3 on the same nonce is a replay.
    let (method, value) = first.unwrap();
    let params = parse_authorization(value.as_bytes()).unwrap();
    assert!(matches!(
        verifier.verify(t0, &Users, method, target, &params),
        Err(DigestError::Replay { .. })
    ));
    // A wrong password is refused.
    let mut wrong = DigestAuth::new("alice", "nope");
    wrong
        .accept_challenge(Challenge::parse(&verifier.challenge(t0, false).header_value()).unwrap());
    let value = wrong.authorization("ACL", target, "x").unwrap().unwrap();
    let params = parse_authorization(value.as_bytes()).unwrap();
    assert!(matches!(
        verifier.verify(t0, &Users, "ACL", target, &params),
        Err(DigestError::WrongResponse(_))
    ));
}
