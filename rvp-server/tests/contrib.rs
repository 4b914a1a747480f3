//! The deployment files of `contrib/` (at the repository root): the container's
//! configuration is valid for this `rvp-server`, and the systemd unit passes
//! `systemd-analyze verify`. Not in the published package: it reads `../contrib`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
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
