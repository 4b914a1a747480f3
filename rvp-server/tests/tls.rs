//! TLS end to end (issue 11): two organisations on their own loopback addresses, a
//! throw-away CA made here (rcgen, written to a temporary directory; nothing committed that
//! could expire) and a real dnsmasq publishing `_rvps._tcp` (started by the test; under
//! `CI=true` a missing dnsmasq fails the test).
//!
//! * org A (`orga.test`, 127.0.0.2) has a plain and a TLS listener and publishes
//!   `_rvps._tcp.orga.test`; alice is its user.
//! * org B (`orgb.test`, 127.0.0.3) finds A through the dnsmasq and trusts the test CA;
//!   bob is its user.
//!
//! alice watches bob (her SUBSCRIBE goes straight to B, PROTOCOL.md §7.4); bob's state
//! change is a NOTIFY from B to `http://orga.test/instmsg/aliases/alice`, which B sends over
//! TLS and A relays to alice's client. A certificate for another name or from another CA
//! fails that delivery, and nothing reaches A over plain HTTP although A's plain listener
//! is published too. A client speaking TLS itself signs on with Digest and gets presence.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use rvp_interop::dnsmasq;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rvp_interop::server::{
    Callback, PROPFIND_BODY, Resp, TempDir, TestServer, WAIT, nonce_of, read_response, state_body,
};
use rvp_proto::Method;
use rvp_proto::digest::{Ha1, QopAuth, compute_response};
use rvp_server::config::Config;
use rvp_server::home::{HomeServer, ServerError};
use rvp_server::log::ProtocolLog;
use rvp_server::metrics::NotifyResult;
use rvp_server::tls::Direction;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

const ORG_A: &str = "orga.test";
const ORG_B: &str = "orgb.test";
const A_IP: [u8; 4] = [127, 0, 0, 2];
const B_IP: [u8; 4] = [127, 0, 0, 3];

// ---- the throw-away CA ------------------------------------------------------------------

/// A certificate authority made for one test.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    /// The CA certificate as a PEM file in `dir`.
    fn write(&self, dir: &Path, file: &str) -> PathBuf {
        let p = dir.join(file);
        std::fs::write(&p, self.issuer.pem()).unwrap();
        p
    }

    /// A server certificate for `names` and its key, as PEM files in `dir`.
    fn server_cert(&self, names: &[&str], dir: &Path, tag: &str) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, tag);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let chain = dir.join(format!("{tag}.pem"));
        let key_file = dir.join(format!("{tag}.key"));
        std::fs::write(&chain, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (chain, key_file)
    }

    /// A TLS client trusting this CA only.
    fn connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        #[allow(deprecated)] // ring: what builds here (rvp_server::tls says why)
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

// ---- servers ------------------------------------------------------------------------------

/// NOTIFY requests `org`'s server answered, whatever the status.
fn notifies_answered(org: &TestServer) -> u64 {
    (100..600)
        .map(|code| org.metrics.requests(Some(Method::Notify), code))
        .sum()
}

/// The configuration of one organisation: `domain`, listening on `ip` (port 0), `users`
/// (password `<alias>-pw`), storage in `dir`, plus `extra` TOML tables.
fn org_config(domain: &str, ip: [u8; 4], users: &[&str], dir: &Path, extra: &str) -> Config {
    let ip = Ipv4Addr::from(ip);
    let mut text = format!(
        "[server]\nlisten = [\"{ip}:0\"]\ndomain = \"{domain}\"\nhost_name = \"{domain}\"\n\
         storage = {:?}\n[log]\nprotocol_log = \"\"\n{extra}\n",
        dir.join("store.redb").display().to_string()
    );
    for u in users {
        text.push_str(&format!(
            "[[users]]\nalias = \"{u}\"\npassword = \"{u}-pw\"\n"
        ));
    }
    Config::from_toml_str(&text, "test").unwrap()
}

/// Org A: alice, a TLS listener with `cert`; B's NOTIFYs believed from B's source
/// addresses (a connection to 127.0.0.2 leaves from 127.0.0.1 unless bound).
async fn start_org_a(dir: &Path, cert: &(PathBuf, PathBuf)) -> TestServer {
    let extra = format!(
        "[resolve.peers]\n\"{ORG_B}\" = [\"127.0.0.1\", \"127.0.0.3\"]\n\
         [tls]\nlisten = [\"127.0.0.2:0\"]\ncertificate = {:?}\nprivate_key = {:?}\n",
        cert.0.display().to_string(),
        cert.1.display().to_string()
    );
    let org =
        TestServer::start_config(&org_config(ORG_A, A_IP, &["alice", "carol"], dir, &extra)).await;
    assert!(org.tls.is_some(), "A has a TLS listener");
    org
}

/// Org B: bob; finds other domains through `dns`, trusts the CA in `peer_ca`.
async fn start_org_b(dir: &Path, dns: SocketAddr, peer_ca: &Path) -> TestServer {
    let extra = format!(
        "[resolve]\nnameserver = \"{dns}\"\nallow_loopback = true\n[tls]\npeer_ca = {:?}\n",
        peer_ca.display().to_string()
    );
    TestServer::start_config(&org_config(ORG_B, B_IP, &["bob"], dir, &extra)).await
}

/// dnsmasq for the two organisations: A's address, `_rvps._tcp.orga.test` at A's TLS
/// port, and (when `plain_srv`) `_rvp._tcp.orga.test` at A's plain port, which a delivery
/// falling back to plain HTTP would reach.
fn dns_for(test: &str, a: &TestServer, plain_srv: bool) -> Option<dnsmasq::Dnsmasq> {
    let mut args = vec![
        format!(
            "--srv-host=_rvps._tcp.{ORG_A},tls.{ORG_A},{},0,0",
            a.tls.unwrap().port()
        ),
        format!("--host-record=tls.{ORG_A},127.0.0.2"),
        format!("--host-record={ORG_A},127.0.0.2"),
        format!("--host-record={ORG_B},127.0.0.3"),
    ];
    if plain_srv {
        args.push(format!(
            "--srv-host=_rvp._tcp.{ORG_A},im.{ORG_A},{},0,0",
            a.addr.port()
        ));
        args.push(format!("--host-record=im.{ORG_A},127.0.0.2"));
    }
    dnsmasq::Dnsmasq::start_or_skip(test, &args)
}

// ---- requests -----------------------------------------------------------------------------

fn logical(domain: &str, alias: &str) -> String {
    format!("http://{domain}/instmsg/aliases/{alias}")
}

/// A request as a client of `domain` sends it, speaking as `from`.
fn request(
    method: &str,
    alias: &str,
    domain: &str,
    from: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    authorization: Option<&str>,
) -> Vec<u8> {
    let mut head = format!(
        "{method} /instmsg/aliases/{alias} HTTP/1.1\r\nHost: {domain}\r\n\
         RVP-Notifications-Version: 0.2\r\nRVP-From-Principal: {from}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(a) = authorization {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// How a client reaches its server: plain TCP, or TLS checked against a name.
#[derive(Clone)]
enum Link {
    Plain(SocketAddr),
    Tls(SocketAddr, tokio_rustls::TlsConnector, &'static str),
}

impl Link {
    /// Sends `bytes` on a new connection and reads one response.
    async fn exchange(&self, bytes: &[u8]) -> Resp {
        async fn on<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, bytes: &[u8]) -> Resp {
            s.write_all(bytes).await.unwrap();
            s.flush().await.unwrap();
            read_response(&mut s, &mut Vec::new())
                .await
                .expect("an answer")
        }
        match self {
            Link::Plain(addr) => on(TcpStream::connect(addr).await.unwrap(), bytes).await,
            Link::Tls(addr, connector, name) => {
                let tcp = TcpStream::connect(addr).await.unwrap();
                let name = rustls::pki_types::ServerName::try_from(*name).unwrap();
                let tls = tokio::time::timeout(WAIT, connector.connect(name.to_owned(), tcp))
                    .await
                    .expect("handshake in time")
                    .expect("handshake");
                on(tls, bytes).await
            }
        }
    }
}

/// A user of `domain` signing requests like librvp: bare first, Digest after a `401`.
struct User {
    link: Link,
    alias: &'static str,
    domain: &'static str,
}

impl User {
    /// `alias` of `domain`, a client of `server` over plain TCP.
    fn plain(server: &TestServer, alias: &'static str, domain: &'static str) -> User {
        User {
            link: Link::Plain(server.addr),
            alias,
            domain,
        }
    }

    fn url(&self) -> String {
        logical(self.domain, self.alias)
    }

    async fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let from = self.url();
        let bare = request(method, target, self.domain, &from, headers, body, None);
        let first = self.link.exchange(&bare).await;
        if first.status != 401 {
            return first;
        }
        let nonce = nonce_of(first.header("WWW-Authenticate").expect("a challenge"));
        let uri = format!("/instmsg/aliases/{target}");
        let password = format!("{}-pw", self.alias);
        let ha1 = Ha1::from_password(self.alias, self.domain, &password);
        let qop = QopAuth {
            nc: "00000001",
            cnonce: "0badcafe",
        };
        let response = compute_response(&ha1, method, &uri, &nonce, Some(qop));
        let auth = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             algorithm=\"MD5\", qop=auth, nc=00000001, cnonce=\"0badcafe\", response=\"{response}\"",
            self.alias, self.domain
        );
        let proven = request(
            method,
            target,
            self.domain,
            &from,
            headers,
            body,
            Some(&auth),
        );
        self.link.exchange(&proven).await
    }

    async fn login(&self, callback: &str) -> Resp {
        let headers = [
            ("Notification-Type", "pragma/notify"),
            ("Subscription-Lifetime", "600"),
            ("Call-Back", callback),
        ];
        self.send("SUBSCRIBE", self.alias, &headers, b"").await
    }

    async fn set_state(&self, state: &str) -> Resp {
        let body = state_body(state, 1200);
        self.send("PROPPATCH", self.alias, &[], body.as_bytes())
            .await
    }
}

/// alice@orga.test watches bob@orgb.test: her SUBSCRIBE goes to B (asserted), with her
/// logical URL as call-back.
async fn alice_watches_bob(b: &TestServer) {
    let alice = logical(ORG_A, "alice");
    let headers = [
        ("Notification-Type", "update/propchange"),
        ("Subscription-Lifetime", "600"),
        ("Call-Back", alice.as_str()),
    ];
    let r = Link::Plain(b.addr)
        .exchange(&request(
            "SUBSCRIBE",
            "bob",
            ORG_B,
            &alice,
            &headers,
            b"",
            None,
        ))
        .await;
    assert_eq!(r.status, 207, "{r:?}");
}

/// Waits (bounded) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("not reached within 10 s: {what}");
}

// ---- the tests ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_to_a_domain_that_publishes_rvps_travels_over_tls() {
    let dir = TempDir::new("tls-ok");
    let ca = Ca::new("rvp test CA");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let a_dir = TempDir::new("tls-ok-a");
    let a = start_org_a(a_dir.path(), &ca.server_cert(&[ORG_A], dir.path(), "orga")).await;
    // No _rvp._tcp record, and nothing listens on orga.test:80: TLS is the only way in.
    let Some(dns) = dns_for(
        "a_notify_to_a_domain_that_publishes_rvps_travels_over_tls",
        &a,
        false,
    ) else {
        return;
    };
    let b_dir = TempDir::new("tls-ok-b");
    let b = start_org_b(b_dir.path(), dns.addr, &ca_file).await;

    let mut alice_client = Callback::start(200).await;
    let alice = User::plain(&a, "alice", ORG_A);
    assert_eq!(alice.login(&alice_client.url()).await.status, 200);
    alice_watches_bob(&b).await;
    let bob_client = Callback::start(200).await;
    let bob = User::plain(&b, "bob", ORG_B);
    assert_eq!(bob.login(&bob_client.url()).await.status, 200);

    for state in ["online", "busy"] {
        assert_eq!(bob.set_state(state).await.status, 207);
        let n = alice_client.state_change(state).await;
        assert!(n.text().contains(&logical(ORG_B, "bob")), "{}", n.text());
    }
    // B spoke TLS to A, and A answered NOTIFYs that came in over it.
    let ok_out = b.metrics.tls_handshakes(Direction::Outbound, true);
    assert!(ok_out >= 1, "B's TLS handshakes: {ok_out}");
    assert_eq!(b.metrics.tls_handshakes(Direction::Outbound, false), 0);
    assert!(a.metrics.tls_handshakes(Direction::Inbound, true) >= ok_out);
    assert!(notifies_answered(&a) >= 2);
    // B counts a delivery when it has read A's answer, which may be just after alice's
    // call-back already holds the NOTIFY.
    eventually("B counted both NOTIFYs delivered", || {
        b.metrics.notify_results(NotifyResult::Delivered) >= 2
    })
    .await;
    assert_eq!(b.metrics.notify_results(NotifyResult::TlsFailed), 0);

    b.stop().await;
    a.stop().await;
    drop(dns);
}

/// A's certificate does not prove `orga.test` to B: delivery fails, and nothing is sent to
/// A's plain listener although `_rvp._tcp.orga.test` points at it.
async fn refused_certificate_fails_without_fallback(test: &str, wrong_name: bool) {
    let dir = TempDir::new("tls-refused");
    let trusted = Ca::new("rvp test CA");
    let ca_file = trusted.write(dir.path(), "ca.pem");
    let cert = if wrong_name {
        trusted.server_cert(&["other.test"], dir.path(), "other")
    } else {
        Ca::new("someone else's CA").server_cert(&[ORG_A], dir.path(), "orga")
    };
    let a_dir = TempDir::new("tls-refused-a");
    let a = start_org_a(a_dir.path(), &cert).await;
    let Some(dns) = dns_for(test, &a, true) else {
        return;
    };
    let b_dir = TempDir::new("tls-refused-b");
    let b = start_org_b(b_dir.path(), dns.addr, &ca_file).await;

    let mut alice_client = Callback::start(200).await;
    let alice = User::plain(&a, "alice", ORG_A);
    assert_eq!(alice.login(&alice_client.url()).await.status, 200);
    alice_watches_bob(&b).await;
    let bob = User::plain(&b, "bob", ORG_B);
    let bob_client = Callback::start(200).await;
    assert_eq!(bob.login(&bob_client.url()).await.status, 200);

    // Two state changes, two refused handshakes: deliveries to one destination go one at
    // a time, so a plain retry of the first would have reached A before the second fails.
    for (round, state) in ["online", "busy"].into_iter().enumerate() {
        assert_eq!(bob.set_state(state).await.status, 207);
        let want = round as u64 + 1;
        eventually("B's handshake refused", || {
            b.metrics.tls_handshakes(Direction::Outbound, false) >= want
                && b.metrics.notify_results(NotifyResult::TlsFailed) >= want
        })
        .await;
    }
    eventually("A saw the client give up", || {
        a.metrics.tls_handshakes(Direction::Inbound, false) >= 1
    })
    .await;
    assert_eq!(b.metrics.tls_handshakes(Direction::Outbound, true), 0);
    assert_eq!(b.metrics.notify_results(NotifyResult::Delivered), 0);
    assert_eq!(
        notifies_answered(&a),
        0,
        "a NOTIFY reached A over plain HTTP"
    );
    assert!(
        alice_client
            .next_within(Duration::from_millis(200))
            .await
            .is_none()
    );

    b.stop().await;
    a.stop().await;
    drop(dns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_fails_the_delivery_without_plain_fallback() {
    refused_certificate_fails_without_fallback(
        "a_certificate_for_another_name_fails_the_delivery_without_plain_fallback",
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_ca_fails_the_delivery_without_plain_fallback() {
    refused_certificate_fails_without_fallback(
        "a_certificate_from_an_unknown_ca_fails_the_delivery_without_plain_fallback",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_signs_on_with_digest_and_gets_presence() {
    let dir = TempDir::new("tls-client");
    let ca = Ca::new("rvp test CA");
    let cert = ca.server_cert(&[ORG_A], dir.path(), "orga");
    let a = start_org_a(dir.path(), &cert).await;
    let tls_addr = a.tls.unwrap();
    let over_tls = Link::Tls(tls_addr, ca.connector(), ORG_A);
    let alice = User {
        link: over_tls.clone(),
        alias: "alice",
        domain: ORG_A,
    };
    let carol = User::plain(&a, "carol", ORG_A);

    // Bare, a request for alice's own node is challenged; answered with Digest, the login
    // is accepted. Its IP call-back must be the TLS connection's own source address
    // (127.0.0.1, where a connection to 127.0.0.2 leaves from): tied exactly as on the
    // plain listener.
    let mut alice_client = Callback::start(200).await;
    let login = alice.login(&alice_client.url()).await;
    assert_eq!(login.status, 200, "{login:?}");
    assert_eq!(alice.set_state("online").await.status, 207);
    // A loopback call-back may only be the connection's own source address, whatever
    // the caller's rights: over TLS exactly as over plain HTTP.
    let elsewhere = format!("http://127.0.0.9:{}", alice_client.addr.port());
    let alice_plain = User::plain(&a, "alice", ORG_A);
    let plain_refusal = alice_plain.login(&elsewhere).await.status;
    assert_eq!(plain_refusal, 403);
    assert_eq!(alice.login(&elsewhere).await.status, plain_refusal);
    let zed = logical("orgz.test", "zed");

    // Presence: carol (plain listener) is busy; alice reads it and watches it over TLS.
    assert_eq!(carol.set_state("busy").await.status, 207);
    let found = alice
        .send(
            "PROPFIND",
            "carol",
            &[("Depth", "0")],
            PROPFIND_BODY.as_bytes(),
        )
        .await;
    assert_eq!(found.status, 207, "{found:?}");
    assert!(found.text().contains("<r:busy/>"), "{}", found.text());
    let alice_url = alice.url();
    let watch = alice
        .send(
            "SUBSCRIBE",
            "carol",
            &[
                ("Notification-Type", "update/propchange"),
                ("Subscription-Lifetime", "600"),
                ("Call-Back", alice_url.as_str()),
            ],
            b"",
        )
        .await;
    assert_eq!(watch.status, 207, "{watch:?}");
    assert_eq!(carol.set_state("away").await.status, 207);
    let n = alice_client.state_change("away").await;
    assert!(n.text().contains(&logical(ORG_A, "carol")), "{}", n.text());

    let handshakes = a.metrics.tls_handshakes(Direction::Inbound, true);
    assert!(handshakes >= 8, "inbound TLS handshakes: {handshakes}");

    // Plain HTTP on the TLS port: a failed handshake, counted, the connection closed.
    let failed = a.metrics.tls_handshakes(Direction::Inbound, false);
    let mut s = TcpStream::connect(tls_addr).await.unwrap();
    s.write_all(&request("PROPFIND", "carol", ORG_A, "x", &[], b"", None))
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut rest))
        .await
        .expect("closed in time");
    assert!(
        !String::from_utf8_lossy(&rest).contains("HTTP/1.1"),
        "no HTTP answer on the TLS port"
    );
    eventually("the plain request counted as a failed handshake", || {
        a.metrics.tls_handshakes(Direction::Inbound, false) > failed
    })
    .await;
    // The server is unharmed: TLS still works.
    assert_eq!(
        over_tls
            .exchange(&request(
                "PROPFIND",
                "carol",
                ORG_A,
                &zed,
                &[("Depth", "0")],
                PROPFIND_BODY.as_bytes(),
                None
            ))
            .await
            .status,
        207
    );
    a.stop().await;
}

#[tokio::test]
async fn tls_keys_are_checked_and_named() {
    let dir = TempDir::new("tls-config");
    // The listener without a certificate: the key is named, with the file and line.
    let err = Config::from_toml_str("[tls]\nlisten = [\"127.0.0.1\"]\n", "t.toml").unwrap_err();
    assert_eq!(err.key(), Some("tls.certificate"), "{err}");
    let err = Config::from_toml_str("[tls]\nlisten = [\"nowhere\"]\n", "t.toml").unwrap_err();
    assert_eq!(err.key(), Some("tls.listen"), "{err}");
    assert_eq!(err.line(), Some(2), "{err}");
    let err = Config::from_toml_str("[tls]\noutbound = \"sometimes\"\n", "t.toml").unwrap_err();
    assert_eq!(err.key(), Some("tls.outbound"), "{err}");
    // An address alone means port 443.
    let c = Config::from_toml_str(
        "[tls]\nlisten = [\"127.0.0.1\"]\ncertificate = \"c.pem\"\nprivate_key = \"k.pem\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(
        c.tls.listen,
        ["127.0.0.1:443".parse::<SocketAddr>().unwrap()]
    );

    // Files that cannot be used stop the start, naming the key and the file.
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let ca = Ca::new("rvp test CA");
    let (chain, key) = ca.server_cert(&[ORG_A], dir.path(), "orga");
    let listen = "listen = [\"127.0.0.2:0\"]";
    for (extra, key_named, file) in [
        (
            format!("{listen}\ncertificate = {missing:?}\nprivate_key = {key:?}"),
            "tls.certificate",
            &missing,
        ),
        (
            format!("{listen}\ncertificate = {not_pem:?}\nprivate_key = {key:?}"),
            "tls.certificate",
            &not_pem,
        ),
        (
            format!("{listen}\ncertificate = {chain:?}\nprivate_key = {not_pem:?}"),
            "tls.private_key",
            &not_pem,
        ),
        (format!("peer_ca = {not_pem:?}"), "tls.peer_ca", &not_pem),
    ] {
        let store = TempDir::new("tls-config-store");
        let config = org_config(
            ORG_A,
            A_IP,
            &["alice"],
            store.path(),
            &format!("[tls]\n{extra}\n"),
        );
        let err = HomeServer::start(&config, ProtocolLog::off())
            .await
            .expect_err("refused");
        let text = err.to_string();
        assert!(matches!(err, ServerError::Tls(_)), "{text}");
        assert!(text.starts_with(key_named), "{text}");
        assert!(text.contains(&file.display().to_string()), "{text}");
    }
}
