//! Property tests of `rvp_proto::digest`: an `Authorization` or `Challenge` written is read
//! back as the same value, a written answer verifies against the request-digest computed
//! from what was read, and arbitrary or mutated headers never panic either parser.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rvp_proto::digest::{
    Authorization, Challenge, DigestHeaderError, Ha1, MAX_PARAMS, QopAuth, compute_response,
};

/// A quoted value: any text without control characters (quotes and backslashes included).
fn quoted() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{0,24}"
}

/// A token value.
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

prop_compose! {
    fn answer()(
        username in quoted(), realm in quoted(), nonce in quoted(), uri in quoted(),
        response in quoted(), algorithm in proptest::option::of(token()),
        qop in proptest::option::of(token()), nc in proptest::option::of(token()),
        cnonce in proptest::option::of(quoted()), opaque in proptest::option::of(quoted()),
        userhash in proptest::option::of(token()),
    ) -> Authorization<'static> {
        let mut a = Authorization::default();
        a.username = Some(username.into());
        a.realm = Some(realm.into());
        a.nonce = Some(nonce.into());
        a.uri = Some(uri.into());
        a.response = Some(response.into());
        a.algorithm = algorithm.map(Into::into);
        a.qop = qop.map(Into::into);
        a.nc = nc.map(Into::into);
        a.cnonce = cnonce.map(Into::into);
        a.opaque = opaque.map(Into::into);
        a.userhash = userhash.map(Into::into);
        a
    }
}

proptest! {
    #[test]
    fn authorization_written_is_read_back(a in answer()) {
        let mut header = String::new();
        a.write(&mut header).unwrap();
        prop_assert_eq!(Authorization::parse(header.as_bytes()).unwrap(), a);
    }

    #[test]
    fn an_answer_verifies_against_what_was_read(
        user in quoted(), realm in quoted(), password in "\\PC{0,16}",
        uri in "/[!-~]{0,30}", nonce in "[0-9a-f]{64}", nc in 1u32.., cnonce in token(),
    ) {
        let nc = format!("{nc:08x}");
        let qop = QopAuth { nc: &nc, cnonce: &cnonce };
        let ha1 = Ha1::from_password(&user, &realm, &password);
        let mut a = Authorization::default();
        a.username = Some(user.as_str().into());
        a.realm = Some(realm.as_str().into());
        a.nonce = Some(nonce.as_str().into());
        a.uri = Some(uri.as_str().into());
        let response = compute_response(&ha1, "SUBSCRIBE", &uri, &nonce, Some(qop));
        a.response = Some(response.as_str().into());
        a.qop = Some("auth".into());
        a.nc = Some(nc.as_str().into());
        a.cnonce = Some(cnonce.as_str().into());
        let mut header = String::new();
        a.write(&mut header).unwrap();
        let read = Authorization::parse(header.as_bytes()).unwrap();
        let again = compute_response(
            &Ha1::from_password(read.username.as_deref().unwrap(), read.realm.as_deref().unwrap(), &password),
            "SUBSCRIBE",
            read.uri.as_deref().unwrap(),
            read.nonce.as_deref().unwrap(),
            Some(QopAuth { nc: read.nc.as_deref().unwrap(), cnonce: read.cnonce.as_deref().unwrap() }),
        );
        prop_assert_eq!(read.response.as_deref(), Some(again.as_str()));
    }

    #[test]
    fn challenge_written_is_read_back(realm in quoted(), nonce in quoted(), stale in any::<bool>()) {
        let c = Challenge::new(realm, nonce).with_stale(stale);
        prop_assert_eq!(Challenge::parse(&c.header_value()).unwrap(), c);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Authorization::parse(&bytes);
        let mut with_scheme = b"Digest ".to_vec();
        with_scheme.extend_from_slice(&bytes);
        let _ = Authorization::parse(&with_scheme);
        let text = String::from_utf8_lossy(&with_scheme);
        let _ = Challenge::parse(&text);
        let _ = Challenge::select([text.as_ref(), "Digest realm=\"r\", nonce=\"n\""]);
    }

    #[test]
    fn cut_or_mutated_answers_never_panic(a in answer(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut header = String::new();
        a.write(&mut header).unwrap();
        let mut bytes = header.into_bytes();
        let at = cut.index(bytes.len() + 1);
        let _ = Authorization::parse(&bytes[..at]);
        if at < bytes.len() {
            bytes[at] = byte;
        }
        let _ = Authorization::parse(&bytes);
    }

    #[test]
    fn more_than_max_params_is_refused(extra in 1usize..8) {
        let h: String = (0..MAX_PARAMS + extra).map(|i| format!("p{i}=1, ")).collect();
        let header = format!("Digest {h}");
        prop_assert_eq!(
            Authorization::parse(header.as_bytes()),
            Err(DigestHeaderError::Malformed("too many parameters"))
        );
    }
}
