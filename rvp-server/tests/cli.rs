//! The `rvp-server` binary: options, config checking, start-up with the embedded default,
//! SIGTERM. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rvp-server");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run rvp-server")
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rvp-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_config_on_the_embedded_default_succeeds() {
    let out = run(&["--check-config"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("valid"), "{stdout}");
    assert!(stdout.contains("domain = \"localhost\""), "{stdout}");
    assert!(stdout.contains("alias = \"carol\""), "{stdout}");
    assert!(
        !stdout.contains("alice-demo"),
        "passwords are redacted: {stdout}"
    );
}

#[test]
fn check_config_refuses_a_bad_file_naming_key_and_line() {
    let path = temp_file(
        "bad.toml",
        "[server]\ndomain = \"example.com\"\n\n[limits]\nmax_conections = 10\n",
    );
    let out = run(&["--check-config", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("bad.toml:5:"), "{stderr}");
    assert!(stderr.contains("limits.max_conections"), "{stderr}");
    let good = temp_file("good.toml", "[server]\ndomain = \"example.com\"\n");
    let out = run(&["--check-config", "--config", good.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("domain = \"example.com\""));
    let out = run(&["--check-config", "--config", "/nonexistent/rvp.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/rvp.toml"));
}

#[test]
fn help_version_and_default_config() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for opt in ["--config", "--check-config", "--listen", "--version"] {
        assert!(help.contains(opt), "{help}");
    }
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = run(&["--print-default-config"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim_end(),
        rvp_server::config::DEFAULT_TOML.trim_end()
    );
    assert!(!run(&["--no-such-option"]).status.success());
}

#[test]
fn starts_with_the_embedded_default_serves_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("rvp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--storage", "state.redb"])
        .current_dir(&dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    let mut addr = None;
    for _ in 0..40 {
        let Some(Ok(line)) = lines.next() else { break };
        banner.push_str(&line);
        banner.push('\n');
        if let Some(rest) = line.trim().strip_prefix("listening on http://") {
            addr = Some(rest.trim_end_matches('/').to_owned());
        }
        if line.starts_with("State (") {
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no address in the banner:\n{banner}"));
    for want in [
        "alice@localhost",
        "password alice-demo",
        "bob@localhost",
        "carol@localhost",
    ] {
        assert!(banner.contains(want), "{want} missing from:\n{banner}");
    }
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"PROPFIND /instmsg/aliases/alice HTTP/1.1\r\nHost: localhost\r\nDepth: 0\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    // The engine answers: a PROPFIND without a body asks for no property.
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(
        answer.contains("RVP-Notifications-Version: 0.2\r\n"),
        "{answer}"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rvp-server did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        dir.join("state.redb").exists(),
        "the store was created where --storage says"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_config_warns_about_users_librvp_cannot_sign_on_as() {
    // alice / "secret" / realm localhost: HA1 c4bd012dfa61b3 00 ..., a zero byte at index 7,
    // so librvp's (truncated) answers are refused. dave's HA1 starts with a zero byte. bob's
    // password is fine.
    let path = temp_file(
        "librvp.toml",
        "[server]\ndomain = \"localhost\"\n\n\
         [[users]]\nalias = \"alice\"\npassword = \"secret\"\n\n\
         [[users]]\nalias = \"bob\"\npassword = \"bob-pw\"\n\n\
         [[users]]\nalias = \"dave\"\nha1 = \"00c4bd012dfa61b30723c206d202a63c\"\n",
    );
    let out = run(&["--check-config", "--config", path.to_str().unwrap()]);
    // Still valid: other clients can sign on as them.
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert!(
        warnings[0].contains("user alice (users[0].password)")
            && warnings[0].contains("librvp cannot sign on")
            && warnings[0].contains("zero byte at index 7"),
        "{stderr}"
    );
    assert!(
        warnings[1].contains("user dave (users[2].ha1)")
            && warnings[1].contains("zero byte at index 0"),
        "{stderr}"
    );
    assert!(!stderr.contains("bob"), "{stderr}");
    // The demo users are fine: no warning.
    let out = run(&["--check-config"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{out:?}"
    );
}
