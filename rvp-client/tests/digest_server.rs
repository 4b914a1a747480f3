//! The client's Digest agrees with rvp-server's: answers written by `DigestAuth` to the
//! server verifier's challenges are accepted — again and again on one nonce with increasing
//! `nc` — while a replayed answer is not. (Both compute the request-digest with
//! `rvp_proto::digest`, tested there.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use rvp_client::digest::{Challenge, DigestAuth};
use rvp_proto::digest::{Authorization, Ha1};
use rvp_proto::url::LogicalUrl;
use rvp_server::auth::digest::{
    DigestAccount, DigestConfig, DigestUsers, DigestVerifier, NonceSecret, VerifyError,
};

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
        let params = Authorization::parse(value.as_bytes()).unwrap();
        let verified = verifier
            .verify(t0, &Users, method, target, &params)
            .unwrap();
        assert_eq!(verified.principal.alias(), "alice");
        assert!(!verified.librvp_truncated);
        first.get_or_insert((method, value.clone()));
    }
    // The first answer again: nc 1 after nc 3 on the same nonce is a replay.
    let (method, value) = first.unwrap();
    let params = Authorization::parse(value.as_bytes()).unwrap();
    assert!(matches!(
        verifier.verify(t0, &Users, method, target, &params),
        Err(VerifyError::Replay { .. })
    ));
    // A wrong password is refused.
    let mut wrong = DigestAuth::new("alice", "nope");
    wrong
        .accept_challenge(Challenge::parse(&verifier.challenge(t0, false).header_value()).unwrap());
    let value = wrong.authorization("ACL", target, "x").unwrap().unwrap();
    let params = Authorization::parse(value.as_bytes()).unwrap();
    assert!(matches!(
        verifier.verify(t0, &Users, "ACL", target, &params),
        Err(VerifyError::WrongResponse(_))
    ));
}
