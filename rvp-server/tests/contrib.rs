//! The deployment files of `contrib/` (at the repository root): the container's
//! configuration is valid for this `rvp-server`, the systemd unit passes
//! `systemd-analyze verify`, and `contrib/organisation/run.sh` brings up an organisation
//! a user signs on to through its router. Not in the published package: it reads
//! `../contrib`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    clippy::print_stdout,
    missing_docs
)]

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_rvp-server");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run rvp-server")
}

/// The files of `contrib/`: the container's configuration is valid, and the systemd unit
/// passes `systemd-analyze verify` (under `CI=true` it must run: `.ci/install-deps`).
#[test]
fn contrib_files_are_valid() {
    let contrib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib");
    let toml = contrib.join("container/rvp-server.toml");
    let out = run(&["--check-config", "--config", toml.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let unit = std::fs::read_to_string(contrib.join("systemd/rvp-server.service")).unwrap();
    for want in [
        "User=rvp",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "StateDirectory=rvp",
        "--config /etc/rvp/rvp-server.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(want), "{want}");
    }
    let analyze = Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !analyze {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true: systemd-analyze is missing (.ci/install-deps installs systemd)"
        );
        eprintln!("SKIPPED: systemd-analyze is not installed: the unit is not verified");
        return;
    }
    // The unit as installed, with this build's binary where it names /usr/local/bin.
    let dir = std::env::temp_dir().join(format!("rvp-cli-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rvp-server.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/rvp-server", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Set (to `1`) when [`organisation_script_signs_a_user_on_through_the_router`] runs
/// inside the organisation that `contrib/organisation/run.sh` brought up.
const ORG_INSIDE: &str = "RVP_ORG_CLIENT";

/// `contrib/organisation/run.sh` brings up its organisation (slapd, dnsmasq, a router and
/// two home servers in a private network namespace), this test re-runs itself inside it
/// (`run.sh -- <this test>`), signs alice and carol on the way librvp does — the SRV record
/// of corp.test, the router, its `302` to the user's home server found by name, the
/// Digest challenge there — and the script tears everything down. Without slapd,
/// dnsmasq or a network namespace it skips loudly, except under `CI=true`.
#[test]
fn organisation_script_signs_a_user_on_through_the_router() {
    if std::env::var_os(ORG_INSIDE).is_some() {
        organisation_client();
        return;
    }
    let contrib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib");
    let me = std::env::current_exe().unwrap();
    let out = Command::new("timeout")
        .args(["--signal=TERM", "--kill-after=10", "180", "bash"])
        .arg(contrib.join("organisation/run.sh"))
        .arg("--")
        .arg(&me)
        .args([
            "--exact",
            "organisation_script_signs_a_user_on_through_the_router",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RVP_SERVER", BIN)
        .env(ORG_INSIDE, "1")
        .env_remove("RVP_ORG_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run contrib/organisation/run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let unavailable = stderr.contains("not installed")
        || stderr.contains("no /etc/ldap/schema")
        || stderr.contains("unshare:");
    if !out.status.success() && unavailable {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true: run.sh could not bring the organisation up:\n{stderr}"
        );
        eprintln!(
            "\n*** SKIPPED organisation_script_signs_a_user_on_through_the_router: {} ***\n",
            stderr.trim()
        );
        return;
    }
    assert!(
        out.status.success(),
        "run.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for want in [
        "The organisation corp.test is up",
        "run.sh enter",
        "cargo run --example watch",
        "signed on through the router: alice@corp.test (home1.corp.test)",
        "signed on through the router: carol@corp.test (home2.corp.test)",
        "organisation stopped.",
    ] {
        assert!(
            stdout.contains(want),
            "{want:?} missing:\n{stdout}\n{stderr}"
        );
    }
}

/// Inside the organisation: alice and carol sign on as librvp does.
fn organisation_client() {
    use std::io::{Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;

    use rvp_proto::digest::{Ha1, QopAuth, compute_response};

    // librvp asks _rvp._tcp.<domain of the sign-in name> first.
    let router = router_of("corp.test");
    assert_eq!(router, ("im.corp.test".to_owned(), 80));
    let connect = |host: &str, port: u16| {
        let addr = (host, port)
            .to_socket_addrs()
            .unwrap_or_else(|e| panic!("{host}: {e}"))
            .next()
            .unwrap();
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    let exchange = |host: &str, port: u16, request: &str| {
        let mut s = connect(host, port);
        s.write_all(request.as_bytes()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // One answer: its head, then Content-Length bytes (bounded by the read timeout).
        loop {
            let text = String::from_utf8_lossy(&got).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if got.len() >= end + 4 + len {
                    return text[..end].to_owned();
                }
            }
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "{host} closed without an answer: {text}");
            got.extend_from_slice(&buf[..n]);
        }
    };
    let subscribe = |alias: &str, host: &str, path: &str, auth: Option<String>| {
        format!(
            "SUBSCRIBE {path} HTTP/1.1\r\nHost: {host}\r\n\
             RVP-From-Principal: http://im.corp.test/instmsg/aliases/{alias}\r\n\
             Notification-Type: pragma/notify\r\nSubscription-Lifetime: 600\r\n\
             Call-Back: http://127.0.0.1:9\r\n{}Content-Length: 0\r\n\r\n",
            auth.map(|a| format!("Authorization: {a}\r\n"))
                .unwrap_or_default()
        )
    };
    for (alias, home) in [("alice", "home1.corp.test"), ("carol", "home2.corp.test")] {
        let path = format!("/instmsg/aliases/{alias}");
        let head = exchange(
            &router.0,
            router.1,
            &subscribe(alias, &router.0, &path, None),
        );
        assert!(head.starts_with("HTTP/1.1 302"), "{head}");
        let location = head
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap()
            .trim()
            .to_owned();
        let rest = location.strip_prefix("http://").unwrap();
        let (host, target) = rest.split_at(rest.find('/').unwrap());
        assert_eq!(host, home, "{location}");
        let head = exchange(host, 80, &subscribe(alias, host, target, None));
        assert!(head.starts_with("HTTP/1.1 401"), "{head}");
        let at = head.find("nonce=\"").unwrap() + 7;
        let nonce = &head[at..at + head[at..].find('"').unwrap()];
        let ha1 = Ha1::from_password(alias, "im.corp.test", &format!("{alias}-demo"));
        let qop = QopAuth {
            nc: "00000001",
            cnonce: "0a4f113b",
        };
        let response = compute_response(&ha1, "SUBSCRIBE", target, nonce, Some(qop));
        let auth = format!(
            "Digest username=\"{alias}\", realm=\"im.corp.test\", nonce=\"{nonce}\", \
             uri=\"{target}\", algorithm=\"MD5\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
             response=\"{response}\""
        );
        let head = exchange(host, 80, &subscribe(alias, host, target, Some(auth)));
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        println!("signed on through the router: {alias}@corp.test ({home})");
    }
}

/// The `_rvp._tcp` SRV target of `domain`, asked of the organisation's dnsmasq.
#[cfg(feature = "dns")]
fn router_of(domain: &str) -> (String, u16) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dns = rvp_resolve::HickoryResolver::with_nameserver("127.0.0.53:53".parse().unwrap())
        .expect("a resolver for 127.0.0.53");
    let plan = runtime
        .block_on(rvp_resolve::Resolver::new(dns).plan(domain))
        .expect("the SRV record");
    let t = plan.primary();
    assert_eq!(t.source, rvp_resolve::TargetSource::Srv, "{t:?}");
    (t.host.to_string(), t.port)
}

/// Without hickory the SRV record cannot be asked: the router by its name.
#[cfg(not(feature = "dns"))]
fn router_of(_domain: &str) -> (String, u16) {
    ("im.corp.test".to_owned(), 80)
}
