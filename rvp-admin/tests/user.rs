//! `rvp-admin user`, run as the real binary, over both directory backends:
//!
//! * the `[[users]]` file: `passwd` then a real Digest sign-in against an in-process
//!   rvp-server reading that file (the old password refused), `disable` then the sign-in
//!   refused exactly as for a user the server does not have, comments kept, bad input
//!   and unknown users with their own exit status;
//! * LDAP, against a real slapd started by the test (`rvp_interop::slapd`): list, show,
//!   enable, disable and passwd on `rvpUser` entries and on Exchange-style ones, a sign-in
//!   with the new password through the server's LDAP directory, disable and enable while
//!   that server runs (it looks users up per request), a write the server's
//!   read-only account may not make, an unreachable directory.
//!
//! Under `CI=true` a missing slapd is a failure, never a silent skip.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{ADMIN, admin_async};
use rvp_interop::server::{Callback, Client, TempDir, TestServer};
use rvp_interop::slapd::{ROOT_DN, ROOT_PW, SERVICE_DN, SERVICE_PW, Slapd};
use rvp_server::auth::{Ha1, LibrvpCompat};
use rvp_server::config::Config;

/// A password whose HA1 for `alias` in `realm` librvp cannot sign on with (a zero byte
/// within the first 8 bytes: about 3 % of passwords). Bounded search.
fn librvp_unusable_password(alias: &str, realm: &str) -> String {
    (0..100_000)
        .map(|n| format!("pw-{n}"))
        .find(|p| {
            matches!(
                Ha1::from_password(alias, realm, p).librvp_compatible(),
                LibrvpCompat::Incompatible { .. }
            )
        })
        .expect("one in 100,000 passwords")
}

/// Signs `alias` on with `password` (Digest, login subscription); the final status.
async fn sign_in(server: &TestServer, alias: &str, password: &str) -> u16 {
    let cb = Callback::start(200).await;
    let mut c = Client::new(server.addr, alias);
    c.password = password.into();
    c.login(&cb.url(), 3600).await.status
}

const FILE_CONFIG: &str = r#"# rvp-server test configuration.
[server]
listen = ["127.0.0.1:0"]   # any port
storage = "STORAGE"

[log]
protocol_log = ""

# Alice: help desk.
[[users]]
alias = "alice"
display_name = "Alice A"   # shown to watchers
email = "alice@example.org"
password = "alice-pw"

# Bob: on leave soon.
[[users]]
alias = "bob"
password = "bob-pw"
"#;

fn file_config(dir: &Path) -> PathBuf {
    let path = dir.join("server.toml");
    let text = FILE_CONFIG.replace("STORAGE", &dir.join("store.redb").display().to_string());
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_backend_passwd_disable_and_sign_in() {
    let dir = TempDir::new("admin-user-file");
    let path = file_config(dir.path());
    let config = path.to_str().unwrap();
    let before = std::fs::read_to_string(&path).unwrap();

    // passwd: the HA1 is stored, the clear-text password gone, nothing else changed.
    let (code, out, err) = admin_async(
        &[
            "user",
            "passwd",
            "alice",
            "--config",
            config,
            "--password-stdin",
        ],
        "n3w-Secret\n",
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("password of alice@localhost set"), "{out}");
    let ha1 = Ha1::from_password("alice", "localhost", "n3w-Secret").to_hex();
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.contains(&format!("ha1 = \"{ha1}\"")), "{after}");
    assert!(
        !after.contains("alice-pw") && !after.contains("n3w-Secret"),
        "{after}"
    );
    assert!(!out.contains(&ha1) && !err.contains(&ha1) && !out.contains("n3w-Secret"));
    for kept in [
        "# rvp-server test configuration.\n",
        "listen = [\"127.0.0.1:0\"]   # any port\n",
        "# Alice: help desk.\n[[users]]\nalias = \"alice\"\ndisplay_name = \"Alice A\"   # shown to watchers\n",
        "# Bob: on leave soon.\n[[users]]\nalias = \"bob\"\npassword = \"bob-pw\"\n",
    ] {
        assert!(after.contains(kept), "{kept:?} lost:\n{after}");
    }
    assert_eq!(
        after.lines().count(),
        before.lines().count(),
        "one line replaced, none added:\n{after}"
    );

    // The server reading that file signs alice on with the new password only.
    let server = TestServer::start_config(&Config::from_file(&path).unwrap()).await;
    assert_eq!(sign_in(&server, "alice", "n3w-Secret").await, 200);
    assert_eq!(sign_in(&server, "alice", "alice-pw").await, 401);
    assert_eq!(sign_in(&server, "bob", "bob-pw").await, 200);
    let nobody = sign_in(&server, "nobody", "nobody-pw").await;

    // disable: bob is answered as nobody is, by the running server once it reloads the
    // file, and by a server started on it.
    let (code, out, err) = admin_async(&["user", "disable", "bob", "--config", config], "").await;
    assert_eq!(code, 0, "{out}{err}");
    server
        .reloader
        .reload(Config::from_file(&path).unwrap())
        .await
        .unwrap();
    assert_eq!(
        sign_in(&server, "bob", "bob-pw").await,
        nobody,
        "after a reload"
    );
    assert_eq!(sign_in(&server, "alice", "n3w-Secret").await, 200);
    server.stop().await;
    assert!(out.contains("bob@localhost disabled (users[1]"), "{out}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("password = \"bob-pw\"\nenabled = false\n"),
        "{text}"
    );
    let (code, out, _) = admin_async(&["user", "disable", "bob", "--config", config], "").await;
    assert_eq!((code, out.contains("already disabled")), (0, true), "{out}");
    let server = TestServer::start_config(&Config::from_file(&path).unwrap()).await;
    assert_ne!(nobody, 200);
    assert_eq!(sign_in(&server, "bob", "bob-pw").await, nobody);
    assert_eq!(sign_in(&server, "alice", "n3w-Secret").await, 200);
    server.stop().await;

    // list and show: fields, never a secret.
    let (code, out, err) = admin_async(&["user", "list", "--config", config], "").await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ADDRESS"), "{out}");
    let col = lines[0].find("ENABLED").unwrap();
    assert!(
        lines[1].starts_with("alice@localhost") && lines[1][col..].starts_with("yes"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("bob@localhost") && lines[2][col..].starts_with("no"),
        "{out}"
    );
    assert!(
        lines[1].contains("ha1") && lines[2].contains("password"),
        "{out}"
    );
    assert!(!out.contains("bob-pw") && !out.contains(&ha1), "{out}");
    let (code, out, _) =
        admin_async(&["user", "show", "Alice@localhost", "--config", config], "").await;
    assert_eq!(code, 0, "{out}");
    for field in [
        "address:      alice@localhost",
        "enabled:      yes",
        "logical URL:  http://localhost/instmsg/aliases/alice",
        "display name: Alice A",
        "e-mail:       alice@example.org",
        "credentials:  Digest HA1 for alice",
        "librvp:       can sign in",
        "entry:        users[0]",
    ] {
        assert!(out.contains(field), "{field:?} missing:\n{out}");
    }
    let (code, out, _) =
        admin_async(&["user", "show", "bob", "--json", "--config", config], "").await;
    assert_eq!(code, 0);
    assert!(
        out.starts_with("{\"address\":\"bob@localhost\",\"home\":null,"),
        "{out}"
    );
    assert!(
        out.contains("\"credentials\":\"password\"") && out.contains("\"enabled\":false"),
        "{out}"
    );

    // enable again.
    let (code, out, _) = admin_async(&["user", "enable", "bob", "--config", config], "").await;
    assert_eq!(
        (code, out.contains("bob@localhost enabled")),
        (0, true),
        "{out}"
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("enabled = true\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_backend_bad_input_has_its_own_exit_status() {
    let dir = TempDir::new("admin-user-bad");
    let path = file_config(dir.path());
    let config = path.to_str().unwrap();
    let before = std::fs::read_to_string(&path).unwrap();

    let (code, _, err) = admin_async(&["user", "show", "carol", "--config", config], "").await;
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("no such user: carol@localhost is not in the [[users]] of"),
        "{err}"
    );
    let (code, _, err) = admin_async(&["user", "disable", "carol", "--config", config], "").await;
    assert_eq!(code, 3, "{err}");

    for (args, words) in [
        (vec!["user", "show", "al ice"], "is not a user"),
        (
            vec!["user", "disable", "alice@other.example"],
            "not in this server's IM domain localhost",
        ),
        (
            vec![
                "user",
                "passwd",
                "alice",
                "--password-stdin",
                "--username",
                "CORP\\alice",
            ],
            "--username needs an LDAP directory",
        ),
        (
            vec![
                "user",
                "passwd",
                "alice",
                "--password-stdin",
                "--username",
                "CORP\\bob",
            ],
            "does not name alice@localhost",
        ),
    ] {
        let mut args = args;
        args.extend(["--config", config]);
        let (code, out, err) = admin_async(&args, "pw\n").await;
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
    // An empty password, and one librvp could not sign on with.
    let (code, _, err) = admin_async(
        &[
            "user",
            "passwd",
            "alice",
            "--password-stdin",
            "--config",
            config,
        ],
        "\n",
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the password is empty"), "{err}");
    let bad = librvp_unusable_password("alice", "localhost");
    let (code, _, err) = admin_async(
        &[
            "user",
            "passwd",
            "alice",
            "--password-stdin",
            "--config",
            config,
        ],
        &format!("{bad}\n"),
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("warning: username \"alice\" in realm \"localhost\": librvp cannot sign on"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "nothing written"
    );
    // A missing configuration file.
    let (code, _, err) = admin_async(
        &["user", "list", "--config", "/nonexistent/server.toml"],
        "",
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read config file"), "{err}");

    // --force stores it, with the warning.
    let (code, out, err) = admin_async(
        &[
            "user",
            "passwd",
            "alice",
            "--password-stdin",
            "--force",
            "--config",
            config,
        ],
        &format!("{bad}\n"),
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("librvp cannot sign on"), "{err}");
    let (_, out, _) = admin_async(&["user", "show", "alice", "--config", config], "").await;
    assert!(out.contains("librvp:       librvp cannot sign on"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_backend_add_then_remove() {
    let dir = TempDir::new("admin-user-add");
    let path = file_config(dir.path());
    let config = path.to_str().unwrap();
    let before = std::fs::read_to_string(&path).unwrap();

    let (code, out, err) = admin_async(
        &[
            "user",
            "add",
            "carol",
            "--display-name",
            "Carol C",
            "--email",
            "carol@example.org",
            "--config",
            config,
        ],
        "",
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("carol@localhost added (users[2]"), "{out}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(&before),
        "appended, the rest untouched:\n{text}"
    );
    let (code, _, err) = admin_async(
        &[
            "user",
            "passwd",
            "carol",
            "--password-stdin",
            "--config",
            config,
        ],
        "Carol-pw9\n",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let server = TestServer::start_config(&Config::from_file(&path).unwrap()).await;
    assert_eq!(sign_in(&server, "carol", "Carol-pw9").await, 200);
    let nobody = sign_in(&server, "nobody", "nobody-pw").await;
    server.stop().await;

    for (args, code, words) in [
        (
            vec!["user", "add", "Alice"],
            2,
            "Alice@localhost already exists (users[0]",
        ),
        (
            vec!["user", "add", "dave", "--home", "not a host"],
            2,
            "would not be valid",
        ),
        (
            vec!["user", "add", "dave", "--display-name", ""],
            2,
            "display name must be 1 to 256 bytes",
        ),
        (
            vec!["user", "remove", "dave"],
            3,
            "no such user: dave@localhost",
        ),
    ] {
        let mut args = args;
        args.extend(["--config", config]);
        let (got, out, err) = admin_async(&args, "").await;
        assert_eq!(got, code, "{args:?}: {out}{err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }

    let (code, out, err) = admin_async(&["user", "remove", "carol", "--config", config], "").await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("carol@localhost removed (users[2]"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        before,
        "back to the original"
    );
    let server = TestServer::start_config(&Config::from_file(&path).unwrap()).await;
    assert_eq!(sign_in(&server, "carol", "Carol-pw9").await, nobody);
    server.stop().await;
}

/// `passwd` without `--password-stdin` asks on the terminal, twice: run under a
/// pseudo-terminal (util-linux `script`, in every Debian; a failure under `CI=true` when
/// missing). Bounded: the child is killed after 20 s.
#[test]
fn passwd_asks_twice_on_the_terminal() {
    let Ok(script) = which("script") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but util-linux `script` is missing"
        );
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPING passwd_asks_twice_on_the_terminal: no `script` (util-linux) ***"
        );
        return;
    };
    let dir = TempDir::new("admin-user-tty");
    let path = file_config(dir.path());
    let on_tty = |input: &str| -> (i32, String) {
        let mut child = Command::new(&script)
            .args(["-qec"])
            .arg(format!(
                "{ADMIN} user passwd alice --config {}",
                path.display()
            ))
            .arg("/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("rvp-admin under `script` did not finish in 20 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = on_tty("Tty-pass1\nTty-pass2\n");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("New password for alice@localhost: "), "{out}");
    assert!(
        out.contains("the two passwords differ; nothing was changed"),
        "{out}"
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("password = \"alice-pw\"")
    );
    let (code, out) = on_tty("Tty-pass1\nTty-pass1\n");
    assert_eq!(code, 0, "{out}");
    let ha1 = Ha1::from_password("alice", "localhost", "Tty-pass1").to_hex();
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains(&format!("ha1 = \"{ha1}\""))
    );
}

/// A program on `PATH`.
fn which(program: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

/// The LDAP tests: a real slapd.
mod ldap {
    use super::*;

    const LDIF: &str = "dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: cn=rvp-server,dc=example,dc=org
objectClass: person
cn: rvp-server
sn: service
userPassword: SERVICE_PW

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
rvpIMAddress: alice@localhost
rvpIMEnabled: TRUE
rvpDigestHA1: ALICE_HA1

dn: uid=carol,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: rvpUser
uid: carol
cn: Carol
sn: C
rvpIMAddress: carol@localhost
rvpIMHomeServer: im1.example.org
rvpDigestHA1: CORP\\carol:localhost:CAROL_CORP_HA1

dn: uid=dave,ou=people,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: rvpUser
uid: dave
cn: Dave
sn: D
rvpIMAddress: dave@localhost
rvpDigestHA1: not-an-ha1

dn: ou=exchange,dc=example,dc=org
objectClass: organizationalUnit
ou: exchange

dn: cn=Bruce B,ou=exchange,dc=example,dc=org
objectClass: inetOrgPerson
objectClass: msExchIMRecipient
cn: Bruce B
sn: B
displayName: Bruce B.
msExchIMAddress: bruceb@localhost
msExchIMPhysicalURL: http://im2.example.org/instmsg/local/localhost/instmsg/aliases/bruceb
msExchIMMetaPhysicalURL: http://localhost/instmsg/aliases/bruceb
";

    fn ldif() -> String {
        LDIF.replace("SERVICE_PW", SERVICE_PW)
            .replace(
                "ALICE_HA1",
                &Ha1::from_password("alice", "localhost", "alice-old").to_hex(),
            )
            .replace(
                "CAROL_CORP_HA1",
                &Ha1::from_password("CORP\\carol", "localhost", "carol-old").to_hex(),
            )
    }

    /// The server's configuration: the rvpUser tree, or the Exchange-style one (with
    /// `description` as the attribute of HA1s, as an AD site would name one of its own).
    fn write_config(server: &Slapd, dir: &Path, exchange: bool) -> PathBuf {
        let secret = dir.join("service.secret");
        std::fs::write(&secret, format!("{SERVICE_PW}\n")).unwrap();
        let tree = if exchange {
            "base_dn = \"ou=exchange,dc=example,dc=org\"\n\
             filter = \"(&(objectClass=msExchIMRecipient)(msExchIMAddress={address}))\"\n\
             list_filter = \"(objectClass=msExchIMRecipient)\"\n\
             [directory.ldap.attributes]\naddress = \"msExchIMAddress\"\nenabled = \"\"\n\
             home = \"\"\nlogical_url = \"msExchIMMetaPhysicalURL\"\n\
             physical_url = \"msExchIMPhysicalURL\"\nha1 = \"description\"\n"
        } else {
            "base_dn = \"ou=people,dc=example,dc=org\"\n"
        };
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nstorage = {storage:?}\n\
             [log]\nprotocol_log = \"\"\n\
             [directory]\nbackend = \"ldap\"\ncache_ttl = \"1s\"\ncache_negative_ttl = \"1s\"\n\
             [directory.ldap]\nurl = {url:?}\nbind_dn = {SERVICE_DN:?}\n\
             bind_password_file = {secret:?}\ntimeout = \"3s\"\nconnect_timeout = \"3s\"\n{tree}",
            storage = dir.join("store.redb").display().to_string(),
            url = server.url(),
            secret = secret.display().to_string(),
        );
        let path = dir.join(if exchange {
            "exchange.toml"
        } else {
            "server.toml"
        });
        std::fs::write(&path, text).unwrap();
        path
    }

    fn root_secret(dir: &Path) -> String {
        let p = dir.join("root.secret");
        std::fs::write(&p, format!("{ROOT_PW}\n")).unwrap();
        p.display().to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ldap_backend_enable_disable_passwd_show_list() {
        let Some(mut slapd) =
            Slapd::start_or_skip("ldap_backend_enable_disable_passwd_show_list", &ldif())
        else {
            return;
        };
        let dir = TempDir::new("admin-user-ldap");
        let path = write_config(&slapd, dir.path(), false);
        let config = path.to_str().unwrap();
        let root = root_secret(dir.path());
        let as_root = ["--bind-dn", ROOT_DN, "--bind-password-file", root.as_str()];
        let with_root = |args: &[&'static str]| -> Vec<String> {
            let mut v: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
            v.extend(["--config".to_owned(), config.to_owned()]);
            v.extend(as_root.iter().map(|s| (*s).to_owned()));
            v
        };
        let run = |args: Vec<String>, stdin: &'static str| async move {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            admin_async(&a, stdin).await
        };

        // list and show, bound as the server's own (read-only) account.
        let (code, out, err) = admin_async(&["user", "list", "--config", config], "").await;
        assert_eq!(code, 0, "{err}");
        assert!(
            out.lines().any(|l| l.starts_with("alice@localhost")
                && l.contains(" yes ")
                && l.contains("Alice Liddell")),
            "{out}"
        );
        assert!(
            out.lines()
                .any(|l| l.starts_with("carol@localhost") && l.contains("im1.example.org")),
            "{out}"
        );
        // dave's entry cannot be read: left out of the listing, as the server does.
        assert!(out.contains("(2 users)") && !out.contains("dave"), "{out}");
        let (code, out, _) = admin_async(&["user", "show", "carol", "--config", config], "").await;
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains(
                "physical URL: http://im1.example.org/instmsg/local/localhost/instmsg/aliases/carol"
            ),
            "{out}"
        );
        assert!(
            out.contains("credentials:  Digest HA1 for CORP\\carol (realm localhost)"),
            "{out}"
        );
        assert!(
            out.contains("entry:        uid=carol,ou=people,dc=example,dc=org"),
            "{out}"
        );

        // The server's account may not write: the directory says so, exit 1.
        let (code, _, err) =
            admin_async(&["user", "disable", "alice", "--config", config], "").await;
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("refused the request") && err.to_lowercase().contains("insufficient"),
            "{err}"
        );

        // disable / enable as an account that may.
        let (code, out, err) = run(with_root(&["user", "disable", "alice"]), "").await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("alice@localhost disabled (rvpIMEnabled = FALSE on uid=alice,ou=people,dc=example,dc=org)"), "{out}");
        let found = slapd.search(
            "ou=people,dc=example,dc=org",
            "(uid=alice)",
            &["rvpIMEnabled"],
        );
        assert!(found.contains("rvpIMEnabled: FALSE"), "{found}");
        let (_, out, _) = admin_async(&["user", "show", "alice", "--config", config], "").await;
        assert!(out.contains("enabled:      no"), "{out}");
        let (code, out, _) = run(with_root(&["user", "enable", "alice"]), "").await;
        assert_eq!(code, 0, "{out}");
        let found = slapd.search(
            "ou=people,dc=example,dc=org",
            "(uid=alice)",
            &["rvpIMEnabled"],
        );
        assert!(found.contains("rvpIMEnabled: TRUE"), "{found}");

        // passwd: every username form the entry has, plus --username ones.
        let (code, out, err) = run(
            with_root(&[
                "user",
                "passwd",
                "carol",
                "--password-stdin",
                "--username",
                "CORP/carol",
            ]),
            "carol-New1\n",
        )
        .await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("Digest HA1s for carol, CORP\\carol, CORP/carol"),
            "{out}"
        );
        let found = slapd.search(
            "ou=people,dc=example,dc=org",
            "(uid=carol)",
            &["rvpDigestHA1"],
        );
        for (username, stored) in [
            (
                "carol",
                Ha1::from_password("carol", "localhost", "carol-New1").to_hex(),
            ),
            (
                "CORP\\carol",
                format!(
                    "CORP\\carol:localhost:{}",
                    Ha1::from_password("CORP\\carol", "localhost", "carol-New1").to_hex()
                ),
            ),
            (
                "CORP/carol",
                format!(
                    "CORP/carol:localhost:{}",
                    Ha1::from_password("CORP/carol", "localhost", "carol-New1").to_hex()
                ),
            ),
        ] {
            assert!(
                found.contains(&format!("rvpDigestHA1: {stored}\n")),
                "{username}: {found}"
            );
        }
        assert_eq!(found.matches("rvpDigestHA1:").count(), 3, "{found}");
        let (code, out, err) = run(
            with_root(&["user", "passwd", "alice", "--password-stdin"]),
            "alice-New1\n",
        )
        .await;
        assert_eq!(code, 0, "{out}{err}");

        // An entry whose HA1 cannot be read: show says why, passwd repairs it.
        let (code, _, err) = admin_async(&["user", "show", "dave", "--config", config], "").await;
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("attribute rvpDigestHA1: not an HA1"), "{err}");
        let (code, out, err) = run(
            with_root(&["user", "passwd", "dave", "--password-stdin"]),
            "dave-New1\n",
        )
        .await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(err.contains("the stored HA1s cannot be read"), "{err}");
        let found = slapd.search(
            "ou=people,dc=example,dc=org",
            "(uid=dave)",
            &["rvpDigestHA1"],
        );
        let ha1 = Ha1::from_password("dave", "localhost", "dave-New1").to_hex();
        assert!(found.contains(&format!("rvpDigestHA1: {ha1}\n")), "{found}");
        assert!(!found.contains("not-an-ha1"), "{found}");

        // The server, reading this directory, signs alice on with the new password only.
        let server = TestServer::start_config(&Config::from_file(&path).unwrap()).await;
        assert_eq!(sign_in(&server, "alice", "alice-New1").await, 200);
        assert_eq!(sign_in(&server, "alice", "alice-old").await, 401);

        // Disabled while the server runs: it looks users up per request (cache_ttl 1 s),
        // so alice is soon answered as nobody is; enabled again, she signs on again.
        // Bounded waits (100 x 100 ms), no timing asserted.
        let nobody = sign_in(&server, "nobody", "nobody-pw").await;
        assert_ne!(nobody, 200);
        let (code, out, err) = run(with_root(&["user", "disable", "alice"]), "").await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("cache_ttl (1s)"), "{out}");
        let mut status = 200;
        for _ in 0..100 {
            status = sign_in(&server, "alice", "alice-New1").await;
            if status != 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, nobody, "disabled alice is answered as nobody");
        let (code, _, _) = run(with_root(&["user", "enable", "alice"]), "").await;
        assert_eq!(code, 0);
        for _ in 0..100 {
            status = sign_in(&server, "alice", "alice-New1").await;
            if status == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 200, "enabled again");
        server.stop().await;

        // Nobody, and a bad name.
        let (code, _, err) = run(
            with_root(&["user", "passwd", "nobody", "--password-stdin"]),
            "pw-x1\n",
        )
        .await;
        assert_eq!(code, 3, "{err}");
        assert!(
            err.contains("no such user: nobody@localhost is not in the LDAP directory"),
            "{err}"
        );
        let (code, _, err) =
            admin_async(&["user", "enable", "a(b)*", "--config", config], "").await;
        assert_eq!(code, 3, "an escaped filter finds nobody: {err}");

        // The directory down: exit 4, in words.
        slapd.kill();
        let (code, _, err) = admin_async(&["user", "list", "--config", config], "").await;
        assert_eq!(code, 4, "{err}");
        assert!(
            err.contains("cannot be reached") && err.contains("nothing was changed"),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ldap_backend_exchange_style_attributes() {
        let Some(slapd) = Slapd::start_or_skip("ldap_backend_exchange_style_attributes", &ldif())
        else {
            return;
        };
        let dir = TempDir::new("admin-user-ldap-ad");
        let path = write_config(&slapd, dir.path(), true);
        let config = path.to_str().unwrap();
        let root = root_secret(dir.path());

        let (code, out, err) =
            admin_async(&["user", "show", "bruceb", "--config", config], "").await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("home:         im2.example.org"), "{out}");
        assert!(out.contains("display name: Bruce B."), "{out}");
        assert!(out.contains("credentials:  none"), "{out}");
        let (code, out, _) = admin_async(&["user", "list", "--json", "--config", config], "").await;
        assert_eq!(code, 0);
        assert!(
            out.starts_with("[{\"address\":\"bruceb@localhost\",\"home\":\"im2.example.org\""),
            "{out}"
        );

        let (code, out, err) = admin_async(
            &[
                "user",
                "passwd",
                "bruceb",
                "--password-stdin",
                "--config",
                config,
                "--bind-dn",
                ROOT_DN,
                "--bind-password-file",
                &root,
            ],
            "bruce-New1\n",
        )
        .await;
        assert_eq!(code, 0, "{out}{err}");
        let found = slapd.search(
            "ou=exchange,dc=example,dc=org",
            "(cn=Bruce B)",
            &["description"],
        );
        let ha1 = Ha1::from_password("bruceb", "localhost", "bruce-New1").to_hex();
        assert!(found.contains(&format!("description: {ha1}")), "{found}");

        // Entries are added and removed with the directory's own tools.
        for what in ["add", "remove"] {
            let (code, _, err) = admin_async(&["user", what, "zoe", "--config", config], "").await;
            assert_eq!(code, 2, "{err}");
            assert!(
                err.contains("an LDAP directory's entries are created"),
                "{err}"
            );
        }

        // No enabled attribute in this map: said in words, nothing changed.
        let (code, _, err) = admin_async(
            &[
                "user",
                "disable",
                "bruceb",
                "--config",
                config,
                "--bind-dn",
                ROOT_DN,
                "--bind-password-file",
                &root,
            ],
            "",
        )
        .await;
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("directory.ldap.attributes.enabled is empty"),
            "{err}"
        );
    }
}
