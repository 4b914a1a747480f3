//! Every request real clients (librvp, Net::RVP) sent in the interop captures, replayed
//! against the real server over TCP, authenticating the way librvp does (bare first, then
//! a Digest answer to the 401). What a client needs at sign-on (ACL, SUBSCRIPTIONS,
//! PROPFIND, the login subscription, the state) succeeds; nothing is refused as malformed,
//! nothing fails with a 5xx, no verified request is ever answered 401.
//!
//! The captures are read from `$RVP_CAPTURES_DIR`, else `testdata/captures` in the repository;
//! a missing folder fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rvp_interop::captures;
use rvp_interop::server::*;

/// The alias in a request's `RVP-From-Principal`.
fn from_alias(request: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(request);
    let head = text.split("\r\n\r\n").next()?;
    let line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("rvp-from-principal:"))?;
    Some(line.rsplit('/').next()?.trim().to_owned())
}

/// `request` with an `Authorization` line added at the end of its head.
fn with_authorization(request: &[u8], value: &str) -> Vec<u8> {
    let end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a CRLF head");
    let mut out = request[..end + 2].to_vec();
    out.extend_from_slice(format!("Authorization: {value}\r\n").as_bytes());
    out.extend_from_slice(&request[end + 2..]);
    out
}

fn method_and_target(request: &[u8]) -> (String, String) {
    let line = String::from_utf8_lossy(request)
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let mut parts = line.split(' ');
    (
        parts.next().unwrap().to_owned(),
        parts.next().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_client_requests_are_served() {
    let mut replayed = 0;
    for file in captures::capture_files() {
        let server = TestServer::start(|_| {}).await;
        for block in captures::read_blocks(&file) {
            if !block.is_real_client() || block.is_response() || !block.bytes.contains(&b' ') {
                continue;
            }
            let (method, target) = method_and_target(&block.bytes);
            let mut r = raw(server.addr, &block.bytes).await.expect("an answer");
            let mut verified = false;
            if r.status == 401 {
                let alias = from_alias(&block.bytes).expect("an RVP-From-Principal");
                let client = server.client(&alias);
                let nonce = nonce_of(r.header("WWW-Authenticate").unwrap());
                let auth = client.digest(&Req::new(&method, &target), &nonce);
                r = raw(server.addr, &with_authorization(&block.bytes, &auth))
                    .await
                    .expect("an answer");
                verified = true;
            }
            let at = format!("{} line {}: {method} {target}", file.display(), block.line);
            assert_ne!(r.status, 400, "{at}: refused as malformed: {}", r.text());
            assert!(r.status < 500, "{at}: {r:?}");
            if verified {
                assert_ne!(r.status, 401, "{at}: a verified request answered 401");
            }
            if matches!(method.as_str(), "ACL" | "SUBSCRIPTIONS" | "PROPFIND") {
                assert!((200..300).contains(&r.status), "{at}: {r:?}");
            }
            assert!(r.header("Transfer-Encoding").is_none(), "{at}");
            assert!(r.header("Content-Length").is_some(), "{at}");
            replayed += 1;
        }
        server.stop().await;
    }
    assert!(replayed > 100, "only {replayed} requests replayed");
}
