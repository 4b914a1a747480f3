//! The user directory (issue 11): the `[[users]]` file backend, and the LDAP backend
//! against a real OpenLDAP slapd started by each test (`rvp_interop::slapd`) with this
//! repository's contrib/ldap schemas, behind the cache (TTL, negative TTL, outages).
//!
//! The LDAP tests need the `ldap` feature, which this package's dev-dependency on itself
//! turns on for every test build; built without it they fail under `CI=true`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use rvp_proto::digest::{QopAuth, compute_response};
use rvp_resolve::Address;
use rvp_server::auth::digest::{DigestConfig, DigestUsers, DigestVerifier, Ha1, NonceSecret};
use rvp_server::config::Config;
use rvp_server::directory::{
    self, Credentials, Directory, DirectoryEntry, DirectoryError, user_directory,
};

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

/// Whether a Digest answer for `username`/`password` in `realm` (as a client computes it)
/// is accepted against `users`.
fn digest_accepts(users: &dyn DigestUsers, username: &str, password: &str, realm: &str) -> bool {
    let now = Instant::now();
    let v = DigestVerifier::new(
        DigestConfig::new(realm),
        NonceSecret::from_bytes([3; 32]),
        now,
    );
    let nonce = v.challenge(now, false).nonce().to_owned();
    let ha1 = Ha1::from_password(username, realm, password);
    let qop = QopAuth {
        nc: "00000001",
        cnonce: "0a4f113b",
    };
    let response = compute_response(&ha1, "SUBSCRIBE", "/x", &nonce, Some(qop));
    let quoted = username.replace('\\', "\\\\");
    let header = format!(
        "Digest username=\"{quoted}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"/x\", \
         qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"{response}\""
    );
    v.verify_header(now, users, "SUBSCRIBE", "/x", header.as_bytes())
        .is_ok()
}

/// The file backend: `[[users]]` with and without `home`, as the server's directory.
#[tokio::test(flavor = "current_thread")]
async fn file_backend_users_and_their_home() {
    let config = Config::from_toml_str(
        r#"
        [server]
        domain = "im.example.org"
        host_name = "im0.example.org"

        [[users]]
        alias = "alice"
        display_name = "Alice Liddell"
        password = "alice-pw"

        [[users]]
        alias = "bob"
        password = "bob-pw"
        home = "im1.example.org"
        "#,
        "directory.toml",
    )
    .unwrap();
    let d = config.open_directory().unwrap();
    assert!(d.describe().contains("2 users"), "{}", d.describe());
    assert!(d.cache_stats().is_none(), "the file needs no cache");

    let alice = d
        .lookup(&addr("ALICE@im.example.org"))
        .await
        .unwrap()
        .unwrap();
    assert!(alice.enabled);
    assert!(alice.is_homed_on("im0.example.org"));
    assert_eq!(alice.home, None);
    assert_eq!(alice.display_name_or_alias(), "Alice Liddell");
    assert_eq!(alice.email_or_address(), "alice@im.example.org");
    assert_eq!(
        alice.logical_url.to_string(),
        "http://im.example.org/instmsg/aliases/alice"
    );
    assert_eq!(
        alice.physical_url_on("im0.example.org").to_string(),
        "http://im0.example.org/instmsg/local/im.example.org/instmsg/aliases/alice"
    );
    assert!(digest_accepts(
        &alice.digest(),
        "alice",
        "alice-pw",
        "im.example.org"
    ));
    assert!(!digest_accepts(
        &alice.digest(),
        "alice",
        "wrong",
        "im.example.org"
    ));

    let bob = d
        .lookup(&addr("bob@im.example.org"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.home.as_deref(), Some("im1.example.org"));
    assert!(!bob.is_homed_on("im0.example.org"));
    assert_eq!(
        bob.physical_url_on("im0.example.org").to_string(),
        "http://im1.example.org/instmsg/local/im.example.org/instmsg/aliases/bob"
    );

    assert_eq!(d.lookup(&addr("carol@im.example.org")).await.unwrap(), None);
    assert_eq!(d.lookup(&addr("alice@other.example")).await.unwrap(), None);

    // Start-up registration: every user; Digest only for the users homed here.
    let all = d.all().await.unwrap();
    assert_eq!(all.len(), 2);
    let users =
        user_directory("im.example.org", "im.example.org", "im0.example.org", &all).unwrap();
    assert!(digest_accepts(
        &users,
        "alice",
        "alice-pw",
        "im.example.org"
    ));
    assert!(!digest_accepts(&users, "bob", "bob-pw", "im.example.org"));
    let keys: Vec<_> = all.iter().map(|e| e.node_key().unwrap()).collect();
    assert_eq!(keys.len(), 2);
}

/// An embedder's own directory (here an in-memory account list) plugged into the server
/// with `HomeServer::start_with_directory`: its user signs on with the password it holds;
/// a name it does not hold is refused.
#[derive(Debug)]
struct Accounts(Vec<DirectoryEntry>);

impl Directory for Accounts {
    fn lookup<'a>(
        &'a self,
        address: &'a Address,
    ) -> directory::BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>> {
        let found = self.0.iter().find(|e| &e.address == address).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn all(&self) -> directory::BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>> {
        let all = self.0.clone();
        Box::pin(async move { Ok(all) })
    }

    fn describe(&self) -> String {
        "the embedder's accounts".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedder_plugs_its_own_directory() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = std::env::temp_dir().join(format!("rvp-embedder-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = Config::from_toml_str(
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nstorage = {:?}\n[log]\nprotocol_log = \"\"\n",
            dir.join("s.redb").display().to_string()
        ),
        "test",
    )
    .unwrap();
    let mut zoe = DirectoryEntry::new(addr("zoe@localhost"), "accounts[0]").unwrap();
    zoe.credentials = Credentials::Password(directory::Secret::new("zoe-pw"));
    let accounts = Accounts(vec![zoe]);
    let server = rvp_server::home::HomeServer::start_with_directory(
        &config,
        rvp_server::log::ProtocolLog::off(),
        &accounts,
    )
    .await
    .unwrap();
    let at = server.local_addrs()[0];
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    let exchange = |request: String| async move {
        let mut s = tokio::net::TcpStream::connect(at).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 8192];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    };
    let login = |alias: &str, auth: Option<String>| {
        format!(
            "SUBSCRIBE /instmsg/aliases/{alias} HTTP/1.1\r\nHost: localhost\r\n\
             RVP-From-Principal: http://localhost/instmsg/aliases/{alias}\r\n\
             Notification-Type: pragma/notify\r\nSubscription-Lifetime: 600\r\n\
             Call-Back: http://127.0.0.1:9\r\n{}Content-Length: 0\r\n\r\n",
            auth.map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default()
        )
    };
    for (alias, password, want) in [
        ("zoe", "zoe-pw", "200"),
        ("zoe", "nope", "401"),
        ("alice", "alice-demo", "404"),
    ] {
        let first = exchange(login(alias, None)).await;
        if want == "404" {
            assert!(
                first.starts_with("HTTP/1.1 401") || first.starts_with("HTTP/1.1 404"),
                "{first}"
            );
            continue;
        }
        let at_n = first.find("nonce=\"").unwrap() + 7;
        let nonce = &first[at_n..at_n + first[at_n..].find('"').unwrap()];
        let qop = QopAuth {
            nc: "00000001",
            cnonce: "0a4f113b",
        };
        let uri = format!("/instmsg/aliases/{alias}");
        let ha1 = Ha1::from_password(alias, "localhost", password);
        let response = compute_response(&ha1, "SUBSCRIBE", &uri, nonce, Some(qop));
        let auth = format!(
            "Digest username=\"{alias}\", realm=\"localhost\", nonce=\"{nonce}\", uri=\"{uri}\", \
             algorithm=\"MD5\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", response=\"{response}\""
        );
        let answer = exchange(login(alias, Some(auth))).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {want}")),
            "{alias}/{password}: {answer}"
        );
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(not(feature = "ldap"))]
#[test]
fn ldap_tests_need_the_ldap_feature() {
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "CI=true but the LDAP directory tests were built without the `ldap` feature \
         (rvp-server's dev-dependency on itself turns it on)"
    );
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"\n*** SKIPPING the LDAP directory tests: built without the `ldap` feature ***\n",
    );
}

#[cfg(feature = "ldap")]
use rvp_interop::slapd;

#[cfg(feature = "ldap")]
mod ldap {
    use std::future::Future;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use rvp_server::directory::{
        AttributeMap, CacheConfig, CachedDirectory, LdapConfig, LdapDirectory, Secret,
    };

    use super::slapd::{SERVICE_DN, SERVICE_PW, Slapd, Style};
    use super::*;

    /// The directory: an rvpUser tree under ou=people and an Exchange-style one under
    /// ou=exchange.
    fn ldif() -> String {
        format!("{}\n{}", rvp_ldif(), EXCHANGE_LDIF)
    }

    /// The base, the service account and the rvpUser tree under ou=people.
    fn rvp_ldif() -> String {
        // carol: an HA1 over `carol` and one over `CORP\carol` (htdigest form).
        let carol = Ha1::from_password("carol", "im.example.org", "carol-pw").to_hex();
        let carol_corp = Ha1::from_password("CORP\\carol", "im.example.org", "carol-pw").to_hex();
        let alice = Ha1::from_password("alice", "im.example.org", "alice-pw").to_hex();
        let bob = Ha1::from_password("bob", "im.example.org", "bob-pw").to_hex();
        format!(
            "dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: cn=rvp-server,dc=example,dc=org
objectClass: person
cn: rvp-server
sn: service
userPassword: {SERVICE_PW}

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: rvpUser
uid: alice
cn: Alice Liddell
sn: Liddell
displayName: Alice Liddell
mail: alice@example.org
rvpIMAddress: alice@im.example.org
rvpIMEnabled: TRUE
rvpIMLogicalURL: http://im.example.org/instmsg/aliases/alice
rvpDigestHA1: {alice}

dn: uid=bob,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: rvpUser
uid: bob
cn: Bob
sn: B
rvpIMAddress: bob@im.example.org
rvpIMEnabled: FALSE
rvpDigestHA1: {bob}

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: rvpUser
uid: carol
cn: Carol
sn: C
rvpIMAddress: carol@im.example.org
rvpIMHomeServer: im1.example.org
rvpDigestHA1: {carol}
rvpDigestHA1: CORP\\carol:im.example.org:{carol_corp}

dn: uid=dave,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: rvpUser
uid: dave
cn: Dave
sn: D
rvpIMAddress: dave@im.example.org
rvpDigestHA1: not-an-ha1

dn: uid=twin1,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: rvpUser
uid: twin1
cn: Twin
sn: T
rvpIMAddress: twin@im.example.org

dn: uid=twin2,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: rvpUser
uid: twin2
cn: Twin
sn: T
rvpIMAddress: TWIN@im.example.org

"
        )
    }

    /// Entries of Active Directory's shape under ou=exchange (the stand-in schema).
    const EXCHANGE_LDIF: &str = "dn: ou=exchange,dc=example,dc=org
objectClass: organizationalUnit
ou: exchange

dn: cn=Bruce B,ou=exchange,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: msExchIMRecipient
cn: Bruce B
sn: B
displayName: Bruce B.
mail: bruceb@example.org
msExchIMAddress: bruceb@im.example.org
msExchIMPhysicalURL: http://im2.example.org/instmsg/local/im.example.org/instmsg/aliases/bruceb
msExchIMMetaPhysicalURL: http://im.example.org/instmsg/aliases/bruceb

dn: cn=Jane J,ou=exchange,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: msExchIMRecipient
cn: Jane J
sn: J
msExchIMAddress: jane@im.example.org

dn: cn=No IM,ou=exchange,dc=example,dc=org
objectClass: inetOrgPerson
cn: No IM
sn: N
";

    /// The rvpUser configuration, bound as the service account (password from a file).
    fn config(server: &Slapd) -> LdapConfig {
        let pw = server.dir().join("bind.secret");
        std::fs::write(&pw, format!("{SERVICE_PW}\n")).unwrap();
        let mut c = LdapConfig::new(server.url(), "ou=people,dc=example,dc=org");
        c.bind_dn = SERVICE_DN.into();
        c.bind_password_file = Some(pw);
        c.connect_timeout = Duration::from_secs(2);
        c.timeout = Duration::from_secs(2);
        c
    }

    /// One request over TCP; the status and the whole answer's head.
    async fn exchange(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let head = text[..end].to_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= end + 4 + len {
                    let status = head[9..12].parse().unwrap();
                    return (status, head);
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, s.read(&mut chunk))
                .await
                .expect("an answer in time")
                .unwrap();
            assert!(n > 0, "closed before an answer: {text}");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A sign-on request (librvp's first SUBSCRIBE) of `alias` to `target`'s node.
    fn login_to(alias: &str, target: &str, auth: Option<String>) -> String {
        format!(
            "SUBSCRIBE /instmsg/aliases/{target} HTTP/1.1\r\nHost: im.example.org\r\n\
             RVP-From-Principal: http://im.example.org/instmsg/aliases/{alias}\r\n\
             Notification-Type: pragma/notify\r\nSubscription-Lifetime: 600\r\n\
             Call-Back: http://127.0.0.1:9\r\n{}Content-Length: 0\r\n\r\n",
            auth.map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default()
        )
    }

    /// `alias` signs on with `password` as librvp does: the request without credentials,
    /// then, on a `401`, with the Digest answer to its challenge. The last status.
    async fn sign_on(addr: std::net::SocketAddr, alias: &str, password: &str) -> u16 {
        sign_on_to(addr, alias, password, alias).await
    }

    /// [`sign_on`] with the request for `target`'s node.
    async fn sign_on_to(
        addr: std::net::SocketAddr,
        alias: &str,
        password: &str,
        target: &str,
    ) -> u16 {
        let (status, head) = exchange(addr, &login_to(alias, target, None)).await;
        if status != 401 {
            return status;
        }
        let at = head.find("nonce=\"").unwrap() + 7;
        let nonce = &head[at..at + head[at..].find('"').unwrap()];
        let ha1 = Ha1::from_password(alias, "im.example.org", password);
        let qop = QopAuth {
            nc: "00000001",
            cnonce: "0a4f113b",
        };
        let uri = format!("/instmsg/aliases/{target}");
        let response = compute_response(&ha1, "SUBSCRIBE", &uri, nonce, Some(qop));
        let auth = format!(
            "Digest username=\"{alias}\", realm=\"im.example.org\", nonce=\"{nonce}\", \
             uri=\"{uri}\", algorithm=\"MD5\", qop=auth, nc=00000001, \
             cnonce=\"0a4f113b\", response=\"{response}\""
        );
        exchange(addr, &login_to(alias, target, Some(auth))).await.0
    }

    /// A server configuration for domain im.example.org on host im0, storing under `dir`,
    /// with the LDAP directory of `server`.
    fn server_config(server: &Slapd, dir: &std::path::Path) -> Config {
        std::fs::create_dir_all(dir).unwrap();
        let mut c = Config::from_toml_str(
            &format!(
                "[server]\nlisten = [\"127.0.0.1:0\"]\ndomain = \"im.example.org\"\n\
                 host_name = \"im0.example.org\"\nstorage = {:?}\n[log]\nprotocol_log = \"\"\n",
                dir.join("s.redb").display().to_string()
            ),
            "test",
        )
        .unwrap();
        c.directory.backend = directory::Backend::Ldap;
        c.directory.ldap = Some(config(server));
        c
    }

    /// A running server: its address, and how to stop it.
    struct Running {
        addr: std::net::SocketAddr,
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<
            Result<rvp_server::listener::ServeReport, rvp_server::home::ServerError>,
        >,
    }

    impl Running {
        fn of(home: rvp_server::home::HomeServer) -> Running {
            let addr = home.local_addrs()[0];
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(home.run(async {
                let _ = stopped.await;
            }));
            Running { addr, stop, task }
        }

        async fn stop(self) {
            let _ = self.stop.send(());
            self.task.await.unwrap().unwrap();
        }
    }

    /// An LDIF entry of an rvpUser `alias` with the HA1 of `password`.
    fn user_ldif(alias: &str, password: &str) -> String {
        let ha1 = Ha1::from_password(alias, "im.example.org", password).to_hex();
        format!(
            "dn: uid={alias},ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n\
             objectClass: rvpUser\nuid: {alias}\ncn: {alias}\nsn: {alias}\n\
             rvpIMAddress: {alias}@im.example.org\nrvpDigestHA1: {ha1}\n"
        )
    }

    /// Sets `alias`'s rvpIMEnabled.
    fn enable_ldif(alias: &str, enabled: bool) -> String {
        format!(
            "dn: uid={alias},ou=people,dc=example,dc=org\nchangetype: modify\n\
             replace: rvpIMEnabled\nrvpIMEnabled: {}\n",
            if enabled { "TRUE" } else { "FALSE" }
        )
    }

    /// Polls `attempt` (at most 200 times, 50 ms apart) until it gives `want`; the last
    /// value it gave.
    async fn poll<F, Fut>(want: u16, mut attempt: F) -> u16
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = u16>,
    {
        let mut last = 0;
        for _ in 0..200 {
            last = attempt().await;
            if last == want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        last
    }

    /// The server on the LDAP directory: the users the listing gives at start-up are
    /// registered and sign on with the HA1 stored in LDAP; a disabled user and an address
    /// with two entries are answered as unknown (the same `404` as a name nobody has),
    /// nor does a wrong password sign on; a user homed on another server is referred
    /// there (the directory feeds the router).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_server_signs_users_on_from_ldap() {
        let Some(server) = Slapd::start_or_skip("the_server_signs_users_on_from_ldap", &ldif())
        else {
            return;
        };
        let c = server_config(&server, &server.dir().join("store"));
        let home = rvp_server::home::HomeServer::start(&c, rvp_server::log::ProtocolLog::off())
            .await
            .unwrap();
        let running = Running::of(home);
        let addr = running.addr;
        assert_eq!(sign_on(addr, "alice", "alice-pw").await, 200);
        assert_eq!(sign_on(addr, "alice", "wrong").await, 401);
        // bob is disabled in LDAP: not a user of this server, answered as nobody is.
        let (bob, bob_head) = exchange(addr, &login_to("bob", "bob", None)).await;
        let (nobody, nobody_head) = exchange(addr, &login_to("nobody", "nobody", None)).await;
        assert_eq!((bob, nobody), (404, 404), "{bob_head}\n{nobody_head}");
        let body = |h: &str| h.lines().filter(|l| !l.starts_with("Date:")).count();
        assert_eq!(body(&bob_head), body(&nobody_head));
        // bob's password does not sign him on elsewhere either.
        assert_eq!(sign_on_to(addr, "bob", "bob-pw", "alice").await, 401);
        // carol lives on im1 (her LDAP entry says so): referred there, before any proof.
        let (status, head) = exchange(addr, &login_to("carol", "carol", None)).await;
        assert_eq!(status, 302, "{head}");
        assert!(
            head.contains(
                "Location: http://im1.example.org/instmsg/local/im.example.org/instmsg/aliases/carol"
            ),
            "{head}"
        );
        // Two entries for one address: neither is served, the others are.
        assert_eq!(sign_on(addr, "twin", "twin-pw").await, 404);
        assert_eq!(sign_on_to(addr, "twin", "twin-pw", "alice").await, 401);
        running.stop().await;
    }

    /// The directory is read per request: a user added to slapd after the server started
    /// signs on with Digest (at once when its name was never asked; after the negative
    /// TTL when it was); a user disabled in slapd is refused once its cached entry is
    /// older than the TTL — answered as unknown, its password no longer accepted — and
    /// comes back when enabled again; a user moved to another home server is referred
    /// there.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn users_added_disabled_and_moved_in_slapd_while_the_server_runs() {
        let Some(server) = Slapd::start_or_skip(
            "users_added_disabled_and_moved_in_slapd_while_the_server_runs",
            &ldif(),
        ) else {
            return;
        };
        let mut c = server_config(&server, &server.dir().join("store"));
        c.directory.cache_ttl = Duration::from_millis(300);
        c.directory.cache_negative_ttl = Duration::from_millis(300);
        let home = rvp_server::home::HomeServer::start(&c, rvp_server::log::ProtocolLog::off())
            .await
            .unwrap();
        let running = Running::of(home);
        let addr = running.addr;

        // Added after the start, never asked for: signs on with its first request.
        server.add(&user_ldif("frank", "frank-pw"));
        assert_eq!(sign_on(addr, "frank", "frank-pw").await, 200);
        assert_eq!(sign_on(addr, "frank", "wrong").await, 401);
        // frank is a user now for others too: alice's request for his node reaches it
        // (whatever his ACL then grants her, it is not "no such user").
        let to_frank = sign_on_to(addr, "alice", "alice-pw", "frank").await;
        assert!(to_frank == 200 || to_frank == 403, "{to_frank}");

        // Asked for before it existed: unknown until the negative answer expires.
        assert_eq!(sign_on(addr, "erin", "erin-pw").await, 404);
        server.add(&user_ldif("erin", "erin-pw"));
        assert_eq!(poll(200, || sign_on(addr, "erin", "erin-pw")).await, 200);

        // Disabled: refused once the TTL has passed, answered as unknown, and its password
        // no longer proves it anywhere.
        assert_eq!(sign_on(addr, "alice", "alice-pw").await, 200);
        server.modify(&enable_ldif("alice", false));
        assert_eq!(poll(404, || sign_on(addr, "alice", "alice-pw")).await, 404);
        assert_eq!(sign_on_to(addr, "alice", "alice-pw", "frank").await, 401);
        // Enabled again: back.
        server.modify(&enable_ldif("alice", true));
        assert_eq!(poll(200, || sign_on(addr, "alice", "alice-pw")).await, 200);

        // Moved to im1: referred there.
        server.modify(
            "dn: uid=frank,ou=people,dc=example,dc=org\nchangetype: modify\n\
             replace: rvpIMHomeServer\nrvpIMHomeServer: im1.example.org\n",
        );
        let moved = poll(302, || async {
            exchange(addr, &login_to("frank", "frank", None)).await.0
        })
        .await;
        assert_eq!(moved, 302);
        running.stop().await;
    }

    /// slapd stopped: the users the server already has are still served — past their
    /// TTL, from the cache, which says so in its counters — and a name never seen is
    /// answered 503 (the directory cannot say), not 404; slapd back, new users again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slapd_stopped_cached_users_still_served() {
        let Some(mut server) =
            Slapd::start_or_skip("slapd_stopped_cached_users_still_served", &ldif())
        else {
            return;
        };
        let c = server_config(&server, &server.dir().join("store"));
        let mut cc = cache_config();
        cc.ttl = Duration::from_millis(200);
        cc.negative_ttl = Duration::from_millis(200);
        cc.retry_interval = Duration::from_millis(200);
        let cache = Arc::new(CachedDirectory::new(
            LdapDirectory::new(&config(&server)).unwrap(),
            cc,
        ));
        let live: Arc<dyn Directory> = cache.clone();
        let home = rvp_server::home::HomeServer::start_with_live_directory(
            &c,
            rvp_server::log::ProtocolLog::off(),
            live,
        )
        .await
        .unwrap();
        let running = Running::of(home);
        let addr = running.addr;
        assert_eq!(sign_on(addr, "alice", "alice-pw").await, 200);

        server.kill();
        // Every sign-on succeeds while the cache goes past alice's TTL into the outage.
        let mut rounds = 0;
        while !(cache.stats().in_outage && cache.stats().stale_served > 0) {
            assert_eq!(
                sign_on(addr, "alice", "alice-pw").await,
                200,
                "{:?}",
                cache.stats()
            );
            rounds += 1;
            assert!(rounds < 200, "no outage seen: {:?}", cache.stats());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(sign_on(addr, "alice", "alice-pw").await, 200);
        // A name never seen: the directory cannot say, so neither can the server.
        let (status, head) = exchange(addr, &login_to("gina", "gina", None)).await;
        assert_eq!(status, 503, "{head}");

        // slapd back: the outage ends with the next attempt, new users are found again.
        server.restart();
        server.add(&user_ldif("gina", "gina-pw"));
        assert_eq!(poll(200, || sign_on(addr, "gina", "gina-pw")).await, 200);
        assert!(!cache.stats().in_outage, "{:?}", cache.stats());
        assert_eq!(cache.stats().outages, 1, "{:?}", cache.stats());
        running.stop().await;
    }

    /// The LDAP directory behind a gate the test opens: while it is shut every lookup
    /// waits (a slow directory), so what piles up can be counted.
    #[derive(Debug)]
    struct Gated {
        inner: LdapDirectory,
        open: std::sync::atomic::AtomicBool,
        opened: tokio::sync::Notify,
    }

    impl Gated {
        fn set_open(&self, open: bool) {
            self.open.store(open, std::sync::atomic::Ordering::SeqCst);
            if open {
                self.opened.notify_waiters();
            }
        }
    }

    impl Directory for Gated {
        fn lookup<'a>(
            &'a self,
            address: &'a Address,
        ) -> directory::BoxFuture<'a, Result<Option<DirectoryEntry>, DirectoryError>> {
            Box::pin(async move {
                while !self.open.load(std::sync::atomic::Ordering::SeqCst) {
                    let wait = self.opened.notified();
                    if self.open.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    wait.await;
                }
                self.inner.lookup(address).await
            })
        }

        fn all(&self) -> directory::BoxFuture<'_, Result<Vec<DirectoryEntry>, DirectoryError>> {
            self.inner.all()
        }

        fn describe(&self) -> String {
            self.inner.describe()
        }
    }

    /// A flood of requests for made-up names, over TCP, before any authentication: at
    /// most `max_in_flight` directory lookups at a time (the rest answered 503 at once,
    /// while users already known are served), each name asked once per negative TTL
    /// (the same names again cost slapd nothing), the cache never beyond its size.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_unknown_names_is_bounded() {
        let Some(server) = Slapd::start_or_skip("a_flood_of_unknown_names_is_bounded", &ldif())
        else {
            return;
        };
        let c = server_config(&server, &server.dir().join("store"));
        let mut cc = cache_config();
        cc.max_in_flight = 4;
        cc.max_entries = 500;
        let gated = Gated {
            inner: LdapDirectory::new(&config(&server)).unwrap(),
            open: std::sync::atomic::AtomicBool::new(true),
            opened: tokio::sync::Notify::new(),
        };
        let cache = Arc::new(CachedDirectory::new(gated, cc));
        let live: Arc<dyn Directory> = cache.clone();
        let home = rvp_server::home::HomeServer::start_with_live_directory(
            &c,
            rvp_server::log::ProtocolLog::off(),
            live,
        )
        .await
        .unwrap();
        let running = Running::of(home);
        let addr = running.addr;
        let probe = |i: usize| {
            format!(
                "PROPFIND /instmsg/aliases/made-up-{i} HTTP/1.1\r\nHost: im.example.org\r\n\
                 Content-Length: 0\r\n\r\n"
            )
        };

        // The directory slow: 40 names at once.
        cache.inner().set_open(false);
        let flood: Vec<_> = (0..40)
            .map(|i| tokio::spawn(async move { exchange(addr, &probe(i)).await.0 }))
            .collect();
        let mut settled = false;
        for _ in 0..400 {
            let s = cache.stats();
            if s.in_flight == 4 && s.busy >= 36 {
                settled = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(settled, "{:?}", cache.stats());
        // Meanwhile a user the server has signs on (the listing put alice in the cache).
        assert_eq!(sign_on(addr, "alice", "alice-pw").await, 200);
        cache.inner().set_open(true);
        let mut answers = Vec::new();
        for t in flood {
            answers.push(t.await.unwrap());
        }
        let not_found = answers.iter().filter(|s| **s == 404).count();
        let busy = answers.iter().filter(|s| **s == 503).count();
        assert_eq!((not_found, busy), (4, 36), "{answers:?}");
        let s = cache.stats();
        assert_eq!((s.peak_in_flight, s.in_flight), (4, 0), "{s:?}");

        // The same names again, 8 connections at a time: each asked at most once more.
        let misses = cache.stats().misses;
        for round in 0..2 {
            for chunk in (0..40).collect::<Vec<_>>().chunks(8) {
                let tasks: Vec<_> = chunk
                    .iter()
                    .map(|&i| tokio::spawn(async move { exchange(addr, &probe(i)).await.0 }))
                    .collect();
                for t in tasks {
                    let status = t.await.unwrap();
                    assert!(status == 404 || status == 503, "round {round}: {status}");
                }
            }
        }
        let s = cache.stats();
        assert!(s.misses - misses <= 40, "{s:?}");
        // A third time: every name is in the negative cache, slapd is not asked.
        let misses = s.misses;
        for i in 0..40 {
            assert_eq!(exchange(addr, &probe(i)).await.0, 404);
        }
        let s = cache.stats();
        assert_eq!(s.misses, misses, "{s:?}");
        assert!(s.peak_in_flight <= 4 && s.entries <= 500, "{s:?}");
        assert_eq!(sign_on(addr, "alice", "alice-pw").await, 200);
        running.stop().await;
    }
    /// Lookups against the rvpUser schema: found with every attribute, not found, a
    /// disabled user, HA1s per username form, a broken entry, an ambiguous address; the
    /// bounded listing; what an anonymous or wrongly bound client gets.
    #[tokio::test(flavor = "current_thread")]
    async fn ldap_lookups_and_listing() {
        let Some(server) = Slapd::start_or_skip("ldap_lookups_and_listing", &ldif()) else {
            return;
        };
        let d = LdapDirectory::new(&config(&server)).unwrap();

        let alice = d
            .lookup(&addr("Alice@IM.example.org"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(alice.address.to_string(), "alice@im.example.org");
        assert!(alice.enabled);
        assert_eq!(alice.origin, "uid=alice,ou=people,dc=example,dc=org");
        assert_eq!(alice.display_name.as_deref(), Some("Alice Liddell"));
        assert_eq!(alice.email.as_deref(), Some("alice@example.org"));
        assert_eq!(alice.home, None);
        assert!(alice.is_homed_on("im0.example.org"));
        assert_eq!(
            alice.logical_url.to_string(),
            "http://im.example.org/instmsg/aliases/alice"
        );
        assert!(digest_accepts(
            &alice.digest(),
            "alice",
            "alice-pw",
            "im.example.org"
        ));
        assert!(!digest_accepts(
            &alice.digest(),
            "alice",
            "nope",
            "im.example.org"
        ));

        // Not found: None, not an error.
        assert_eq!(
            d.lookup(&addr("nobody@im.example.org")).await.unwrap(),
            None
        );
        // A filter injection attempt is escaped and finds nothing.
        assert_eq!(d.lookup(&addr("*@im.example.org")).await.unwrap(), None);

        // Disabled: found, flagged, and never accepted by Digest.
        let bob = d
            .lookup(&addr("bob@im.example.org"))
            .await
            .unwrap()
            .unwrap();
        assert!(!bob.enabled);
        assert!(!digest_accepts(
            &bob.digest(),
            "bob",
            "bob-pw",
            "im.example.org"
        ));

        // HA1s per username form; homed elsewhere, physical URL built on the home.
        let carol = d
            .lookup(&addr("carol@im.example.org"))
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(&carol.credentials, Credentials::Ha1(l) if l.len() == 2));
        assert!(digest_accepts(
            &carol.digest(),
            "carol",
            "carol-pw",
            "im.example.org"
        ));
        assert!(digest_accepts(
            &carol.digest(),
            "CORP\\carol",
            "carol-pw",
            "im.example.org"
        ));
        // HA1 covers the username form: none is stored for CORP/carol.
        assert!(!digest_accepts(
            &carol.digest(),
            "CORP/carol",
            "carol-pw",
            "im.example.org"
        ));
        assert_eq!(
            carol.ha1_for("CORP\\carol", "im.example.org"),
            Some(Ha1::from_password(
                "CORP\\carol",
                "im.example.org",
                "carol-pw"
            ))
        );
        assert!(!carol.is_homed_on("im0.example.org"));
        assert_eq!(
            carol.physical_url.as_ref().unwrap().to_string(),
            "http://im1.example.org/instmsg/local/im.example.org/instmsg/aliases/carol"
        );

        // A broken entry is an error naming the entry and attribute, never "no such user".
        let e = d.lookup(&addr("dave@im.example.org")).await.unwrap_err();
        assert!(
            matches!(&e, DirectoryError::InvalidEntry { entry, attribute, .. }
                if entry == "uid=dave,ou=people,dc=example,dc=org" && attribute == "rvpDigestHA1"),
            "{e}"
        );
        assert!(!e.is_outage());
        // Two entries for one address: refused.
        let e = d.lookup(&addr("twin@im.example.org")).await.unwrap_err();
        assert!(
            matches!(e, DirectoryError::Ambiguous { count: 2, .. }),
            "{e}"
        );

        // The listing: every readable user (dave left out), in one connection.
        let all = d.all().await.unwrap();
        let mut names: Vec<_> = all.iter().map(|e| e.address.alias().to_owned()).collect();
        names.sort();
        assert_eq!(names, ["TWIN", "alice", "bob", "carol", "twin"]);
        // Digest for enabled users homed here only (bob is disabled, carol lives on im1).
        let users =
            user_directory("im.example.org", "im.example.org", "im0.example.org", &all).unwrap();
        assert!(digest_accepts(
            &users,
            "alice",
            "alice-pw",
            "im.example.org"
        ));
        assert!(!digest_accepts(&users, "bob", "bob-pw", "im.example.org"));
        assert!(!digest_accepts(
            &users,
            "carol",
            "carol-pw",
            "im.example.org"
        ));

        // max_results bounds the listing (six entries match, dave's included): more is an
        // error, not a short list.
        let mut small = config(&server);
        small.max_results = 5;
        let e = LdapDirectory::new(&small).unwrap().all().await.unwrap_err();
        assert!(matches!(e, DirectoryError::TooMany { limit: 5, .. }), "{e}");
        small.max_results = 6;
        assert_eq!(
            LdapDirectory::new(&small)
                .unwrap()
                .all()
                .await
                .unwrap()
                .len(),
            5
        );

        // Anonymous: the access rules hide the HA1s.
        let mut anonymous = config(&server);
        anonymous.bind_dn.clear();
        anonymous.bind_password_file = None;
        let a = LdapDirectory::new(&anonymous).unwrap();
        let alice = a
            .lookup(&addr("alice@im.example.org"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(alice.credentials, Credentials::None);
        assert_eq!(alice.display_name.as_deref(), Some("Alice Liddell"));

        // A wrong bind password: the server refuses; an outage for the cache, not "nobody".
        let mut wrong = config(&server);
        wrong.bind_password_file = None;
        wrong.bind_password = Some(Secret::new("wrong"));
        let e = LdapDirectory::new(&wrong)
            .unwrap()
            .lookup(&addr("alice@im.example.org"))
            .await
            .unwrap_err();
        assert!(matches!(e, DirectoryError::Server { .. }), "{e}");
        assert!(e.to_string().contains("invalidCredentials"), "{e}");
        assert!(e.is_outage());
    }

    /// contrib/ldap/rvp.ldif, the schema for a cn=config (slapd.d) server such as Debian's,
    /// loads with `slapadd -n0` and serves the same users as rvp.schema does.
    #[tokio::test(flavor = "current_thread")]
    async fn ldap_schema_as_cn_config_ldif() {
        let Some(server) = Slapd::start_or_skip_with(
            "ldap_schema_as_cn_config_ldif",
            Style::CnConfig,
            &rvp_ldif(),
        ) else {
            return;
        };
        let d = LdapDirectory::new(&config(&server)).unwrap();
        let alice = d
            .lookup(&addr("alice@im.example.org"))
            .await
            .unwrap()
            .unwrap();
        assert!(digest_accepts(
            &alice.digest(),
            "alice",
            "alice-pw",
            "im.example.org"
        ));
        let carol = d
            .lookup(&addr("carol@im.example.org"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(carol.home.as_deref(), Some("im1.example.org"));
        let bob = d
            .lookup(&addr("bob@im.example.org"))
            .await
            .unwrap()
            .unwrap();
        assert!(!bob.enabled);
        // The matching rules hold: rvpIMAddress compares case-insensitively.
        assert!(
            d.lookup(&addr("CAROL@IM.EXAMPLE.ORG"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(d.all().await.unwrap().len(), 5);
    }

    /// The Exchange-style map: msExchIMAddress, msExchIMPhysicalURL (home server),
    /// msExchIMMetaPhysicalURL (logical URL), displayName, mail; no enabled flag, no HA1.
    #[tokio::test(flavor = "current_thread")]
    async fn ldap_exchange_style_attributes() {
        let Some(server) = Slapd::start_or_skip("ldap_exchange_style_attributes", &ldif()) else {
            return;
        };
        let mut c = config(&server);
        c.base_dn = "ou=exchange,dc=example,dc=org".into();
        c.filter = "(&(objectClass=inetOrgPerson)(msExchIMAddress={address}))".into();
        c.list_filter = "(&(objectClass=inetOrgPerson)(msExchIMAddress=*))".into();
        c.attributes = AttributeMap::exchange();
        let d = LdapDirectory::new(&c).unwrap();

        let bruce = d
            .lookup(&addr("BruceB@im.example.org"))
            .await
            .unwrap()
            .unwrap();
        assert!(bruce.enabled);
        assert_eq!(bruce.home.as_deref(), Some("im2.example.org"));
        assert!(!bruce.is_homed_on("im0.example.org"));
        assert_eq!(
            bruce.physical_url.as_ref().unwrap().to_string(),
            "http://im2.example.org/instmsg/local/im.example.org/instmsg/aliases/bruceb"
        );
        assert_eq!(
            bruce.logical_url.to_string(),
            "http://im.example.org/instmsg/aliases/bruceb"
        );
        assert_eq!(bruce.display_name.as_deref(), Some("Bruce B."));
        assert_eq!(bruce.email.as_deref(), Some("bruceb@example.org"));
        assert_eq!(bruce.credentials, Credentials::None);

        // jane: only an address; homed on whoever asks, URLs from the address.
        let jane = d
            .lookup(&addr("jane@im.example.org"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (jane.home.as_deref(), jane.display_name_or_alias()),
            (None, "jane")
        );
        assert_eq!(d.lookup(&addr("alice@im.example.org")).await.unwrap(), None);

        let all = d.all().await.unwrap();
        assert_eq!(all.len(), 2, "{all:?}");
    }

    /// The cache: a found user is served for its TTL (a change in LDAP shows after it); an
    /// unknown address is "nobody" for the negative TTL (a user added shows after it).
    #[tokio::test(flavor = "current_thread")]
    async fn ldap_cache_ttl_and_negative_ttl() {
        let Some(server) = Slapd::start_or_skip("ldap_cache_ttl_and_negative_ttl", &ldif()) else {
            return;
        };
        let cache = CachedDirectory::new(
            LdapDirectory::new(&config(&server)).unwrap(),
            cache_config(),
        );
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let alice = addr("alice@im.example.org");
        let name = |e: Option<DirectoryEntry>| e.unwrap().display_name.unwrap();
        assert_eq!(
            name(cache.lookup_at(&alice, t0).await.unwrap()),
            "Alice Liddell"
        );
        server.modify(
            "dn: uid=alice,ou=people,dc=example,dc=org\nchangetype: modify\n\
             replace: displayName\ndisplayName: Alice in Wonderland\n",
        );
        assert_eq!(
            name(cache.lookup_at(&alice, at(299)).await.unwrap()),
            "Alice Liddell"
        );
        assert_eq!(
            name(cache.lookup_at(&alice, at(300)).await.unwrap()),
            "Alice in Wonderland"
        );

        let erin = addr("erin@im.example.org");
        assert_eq!(cache.lookup_at(&erin, t0).await.unwrap(), None);
        server.add(
            "dn: uid=erin,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n\
             objectClass: rvpUser\nuid: erin\ncn: Erin\nsn: E\nrvpIMAddress: erin@im.example.org\n",
        );
        assert_eq!(cache.lookup_at(&erin, at(29)).await.unwrap(), None);
        assert!(cache.lookup_at(&erin, at(30)).await.unwrap().is_some());

        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.errors), (2, 4, 0), "{s:?}");
        assert_eq!(
            (s.outages, s.stale_served, s.in_outage),
            (0, 0, false),
            "{s:?}"
        );
        assert_eq!(s.entries, 2);
    }

    fn cache_config() -> CacheConfig {
        let mut c = CacheConfig::default();
        c.ttl = Duration::from_secs(300);
        c.negative_ttl = Duration::from_secs(30);
        c.max_entries = 100;
        c.max_stale = Duration::from_secs(3600);
        c.retry_interval = Duration::from_secs(5);
        c
    }

    /// Log lines, captured from `tracing`.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// An outage (slapd killed): users found before are served past their TTL, unknown
    /// addresses (and expired negative answers) are errors, the warning is logged once;
    /// when slapd is back the cache says so and asks it again.
    #[tokio::test(flavor = "current_thread")]
    async fn ldap_outage_serves_cached_users_and_warns_once() {
        let Some(mut server) =
            Slapd::start_or_skip("ldap_outage_serves_cached_users_and_warns_once", &ldif())
        else {
            return;
        };
        let log = Capture::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let cache = CachedDirectory::new(
            LdapDirectory::new(&config(&server)).unwrap(),
            cache_config(),
        );
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let alice = addr("alice@im.example.org");
        let nobody = addr("nobody@im.example.org");
        assert!(cache.lookup_at(&alice, t0).await.unwrap().is_some());
        assert_eq!(cache.lookup_at(&nobody, t0).await.unwrap(), None);

        server.kill();
        // Within the TTL nothing asks the directory.
        assert!(cache.lookup_at(&alice, at(10)).await.unwrap().is_some());
        // Past it: the directory fails, alice is served from the cache.
        let stale = cache.lookup_at(&alice, at(400)).await.unwrap().unwrap();
        assert_eq!(stale.display_name.as_deref(), Some("Alice Liddell"));
        assert!(cache.in_outage());
        // An expired "nobody" and a never-seen address: errors, not "no such user".
        let e = cache.lookup_at(&nobody, at(401)).await.unwrap_err();
        assert!(matches!(e, DirectoryError::Unavailable { .. }), "{e}");
        let e = cache
            .lookup_at(&addr("carol@im.example.org"), at(402))
            .await
            .unwrap_err();
        assert!(e.is_outage(), "{e}");
        // Later attempts (after retry_interval) fail again: still served, no new warning.
        for s in [410, 420, 430] {
            assert!(cache.lookup_at(&alice, at(s)).await.unwrap().is_some());
        }
        let text = log.text();
        assert_eq!(
            text.matches("directory unavailable").count(),
            1,
            "one warning per outage:\n{text}"
        );
        assert!(text.contains("WARN"), "{text}");
        assert!(
            text.contains(&server.url()),
            "the warning names the directory:\n{text}"
        );

        // Beyond max_stale even alice is an error.
        assert!(cache.lookup_at(&alice, at(300 + 3600)).await.is_err());

        server.restart();
        assert!(cache.lookup_at(&alice, at(4000)).await.unwrap().is_some());
        assert!(!cache.in_outage());
        assert_eq!(cache.lookup_at(&nobody, at(4000)).await.unwrap(), None);
        let text = log.text();
        assert!(text.contains("directory answers again"), "{text}");

        let s = cache.stats();
        assert_eq!(s.outages, 1, "{s:?}");
        assert_eq!(s.stale_served, 4, "{s:?}");
        // Failed directory requests: the first attempt, the three after retry_interval,
        // the one past max_stale.
        assert_eq!(s.errors, 5, "{s:?}");
        assert_eq!(s.hits, 1, "{s:?}");
    }
}
