//! Running a test in a private network namespace, so that it can own 127.0.0.1:80.
//!
//! librvp only connects to port 80 (unless an SRV record says otherwise). A test that starts a
//! server there would collide with anything else on the machine using that port, including a
//! parallel test. [`run_isolated`] re-runs the calling test inside `unshare --net` (a fresh
//! network namespace with only a loopback interface, brought up with `ip link set lo up`),
//! where the test's server and the librvp clients it spawns see nobody else.

use std::ffi::OsString;
use std::process::Command;
use std::sync::Mutex;

use crate::frontend::{ENV_FRONTEND, ENV_PLUGIN_DIR, Frontend};

/// Set in the environment of the re-run test inside its namespace: the path of a file the
/// child creates once `body` has returned (proof that the test name matched and it ran).
pub const ENV_INSIDE: &str = "RVP_INTEROP_IN_NETNS";

/// Whether this process runs inside a namespace made by [`run_isolated`].
pub fn inside() -> bool {
    std::env::var_os(ENV_INSIDE).is_some()
}

/// Serialises the tests of this process that fall back to the host's loopback: they all want
/// port 80.
static HOST_PORT_80: Mutex<()> = Mutex::new(());

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Runs `body` in a private network namespace.
///
/// `test` is the test's name as libtest knows it (`my_test` for a top-level function of an
/// integration test, `module::my_test` otherwise): the current test binary is re-run with
/// `--exact <test>` under `unshare --net`, and `body` runs in that child. The child's result
/// becomes this test's result (a failure inside panics here). When namespaces are not
/// available (not root, no `unshare`, a container without `CAP_SYS_ADMIN`), `body` runs right
/// here on the host's loopback after a message on stderr, holding a process-wide lock so that
/// such tests of one binary do not fight over port 80.
///
/// `frontend`, if given, is passed to the child through [`ENV_FRONTEND`]/[`ENV_PLUGIN_DIR`]
/// so that it does not build again.
#[allow(clippy::print_stderr)] // the fallback must be visible
pub fn run_isolated(test: &str, frontend: Option<&Frontend>, body: impl FnOnce()) {
    if inside() {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        assert!(
            up.as_ref().is_ok_and(|s| s.success()),
            "cannot bring up lo in the network namespace (is `ip` from iproute2 installed?): {up:?}"
        );
        body();
        if let Some(marker) = std::env::var_os(ENV_INSIDE)
            && let Err(err) = std::fs::write(&marker, b"ran\n")
        {
            panic!("cannot write the marker {marker:?}: {err}");
        }
        return;
    }
    let marker = std::env::temp_dir().join(format!(
        "rvp-interop-netns-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => panic!("cannot find the test binary to re-run {test}: {err}"),
    };
    let mut command = Command::new("unshare");
    command
        .arg("--net")
        .arg("--")
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ENV_INSIDE, &marker);
    if let Some(frontend) = frontend {
        command
            .env(ENV_FRONTEND, OsString::from(&frontend.binary))
            .env(ENV_PLUGIN_DIR, OsString::from(&frontend.plugin_dir));
    }
    let status = command.status();
    let ran = std::fs::remove_file(&marker).is_ok();
    match status {
        Ok(status) if status.success() => assert!(
            ran,
            "the re-run of {test} in its network namespace ran no test: is `{test}` the exact \
             libtest name (with its module path)?"
        ),
        // libtest exits with 101 when the test failed.
        Ok(status) if status.code() == Some(101) => {
            panic!("{test} failed inside its network namespace ({status}); see its output above")
        }
        other => {
            // No namespace (not root, or a container without CAP_SYS_ADMIN): the test still
            // runs, on the host's loopback, one such test at a time in this process.
            eprintln!(
                "*** {test}: no private network namespace ({other:?}); running on the host's \
                 loopback{}",
                if in_ci() { " (CI=true)" } else { "" }
            );
            let _one_at_a_time = HOST_PORT_80.lock().unwrap_or_else(|e| e.into_inner());
            body();
        }
    }
}
