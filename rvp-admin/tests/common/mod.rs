//! The rvp-admin binary run by the tests of this package (the server side of the tests
//! is `rvp_interop::server`).

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

/// The binary under test.
pub const ADMIN: &str = env!("CARGO_BIN_EXE_rvp-admin");

/// Runs rvp-admin with `args` and nothing on its standard input: (exit status, -1 when
/// killed by a signal; stdout; stderr).
pub fn admin(args: &[&str]) -> (i32, String, String) {
    admin_with_stdin(args, "")
}

/// Runs rvp-admin with `args`, `stdin` on its standard input.
pub fn admin_with_stdin(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(ADMIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rvp-admin runs");
    // A command that fails before reading its input closes the pipe early: not an error.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`admin_with_stdin`] off the async runtime's threads (the test's server runs on them).
pub async fn admin_async(args: &[&str], stdin: &str) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        admin_with_stdin(&args, &stdin)
    })
    .await
    .unwrap()
}
