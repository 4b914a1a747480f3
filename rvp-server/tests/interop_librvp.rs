//! `rvp-server` against the real librvp client (Debian's `pidgin-librvp` plugin), driven
//! through our headless libpurple front end (`interop/purple-frontend`, crate `rvp-interop`).
//!
//! ```text
//!   this test ──commands──▶ rvp-purple alice ─ librvp ──HTTP :80──▶ rvp-server ◀── librvp ─ rvp-purple bob
//!             ◀──events────                    ◀──NOTIFY (callback)─┘         └─NOTIFY──▶
//! ```
//!
//! librvp signs on to port 80 of its sign-in name's domain, so the test re-runs itself in a
//! private network namespace (`rvp_interop::netns::run_isolated`: `unshare --net`, root and
//! iproute2 needed) where the real `rvp-server` binary owns 127.0.0.1:80 for the logical host
//! `localhost`. Two clients, alice and bob, then go through one scripted session; every step
//! prints `PASS <step>` on stderr, every wait is bounded ([`STEP`]), and so is the whole test
//! ([`WHOLE`], a watchdog). On failure both clients' event logs and librvp debug logs, the
//! server's stderr and its protocol log are printed before the test panics.
//!
//! Without the front end (not buildable: not Debian, not root) the test skips loudly, except
//! under `CI=true` where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rvp_interop::event::{offline, status};
use rvp_interop::netns::run_isolated;
use rvp_interop::report::{Failure, LogLine, Step, Watchdog, read_lossy, tail};
use rvp_interop::{
    Event, Frontend, HarnessError, PurpleClient, PurpleOptions, ensure, html_to_text,
};
use rvp_proto::state::PresenceState;
use rvp_server::auth::{Ha1, LibrvpCompat};

/// Bound on every single wait (an event, a sign-on, the server starting...).
const STEP: Duration = Duration::from_secs(15);
/// Bound on the whole scenario; past it the watchdog dumps the server logs and exits.
const WHOLE: Duration = Duration::from_secs(180);
/// How long a client is watched for something that must *not* arrive.
const QUIET: Duration = Duration::from_millis(1500);

const SERVER: &str = env!("CARGO_BIN_EXE_rvp-server");
const ALICE: &str = "alice@localhost";
const BOB: &str = "bob@localhost";
/// MD5(`alice:localhost:alice-pw-10`) = `d7c8d45b1beadbc1 00 4c3394e8cd7aea`: a zero byte
/// at index 8, so librvp answers over only the 8 bytes before it (its HA1 stops at the zero,
/// interop README item 15) and the server accepts that truncated form (exactly
/// `LIBRVP_MIN_PREFIX` bytes). Found by trying `alice-pw-0`, `alice-pw-1`, ...
const ALICE_PASSWORD: &str = "alice-pw-10";
/// An ordinary password (HA1 without a zero byte): librvp's answers are standard.
const BOB_PASSWORD: &str = "bob-pw-91c";
const CAROL: &str = "carol@localhost";
/// MD5(`carol:localhost:carol-pw-3`) = `ded97d 00 6db5...`: a zero byte at index 3, so
/// librvp's answers use 3 bytes of HA1 and are refused; the server warns at start-up.
const CAROL_PASSWORD: &str = "carol-pw-3";

/// How many lines of a client's librvp debug log a failure report quotes.
const DEBUG_TAIL_LINES: usize = 250;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

#[test]
fn librvp_clients_through_rvp_server() {
    let Some(frontend) = Frontend::require() else {
        return;
    };
    run_isolated("librvp_clients_through_rvp_server", Some(&frontend), || {
        scenario(&frontend);
    });
}

/// A folder of its own under the system's temporary folder (kept when the test fails).
fn fresh_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir =
        std::env::temp_dir().join(format!("rvp-server-interop-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the test's temporary folder");
    dir
}

/// The real `rvp-server` binary with a configuration written for this test.
#[derive(Debug)]
struct ServerProcess {
    child: Arc<Mutex<Child>>,
    pid: u32,
    stdout: PathBuf,
    stderr: PathBuf,
    protocol_log: PathBuf,
}

impl ServerProcess {
    fn config(dir: &Path, listen: SocketAddr) -> String {
        format!(
            r#"# rvp-server configuration written by rvp-server/tests/interop_librvp.rs
[server]
listen = ["{listen}"]
domain = "localhost"
host_name = "localhost"
storage = "{storage}"

[auth]
require_auth = true

[log]
protocol_log = "{log}"
# rvp_server::auth logs at debug when it accepts librvp's truncated-HA1 answer.
filter = "info,rvp_server::auth=debug"

[[users]]
alias = "alice"
display_name = "Alice Interop"
email = "alice@localhost"
password = "{ALICE_PASSWORD}"

[[users]]
alias = "bob"
display_name = "Bob Interop"
email = "bob@localhost"
password = "{BOB_PASSWORD}"

[[users]]
alias = "carol"
display_name = "Carol Interop"
email = "carol@localhost"
password = "{CAROL_PASSWORD}"
"#,
            storage = dir.join("store.redb").display(),
            log = dir.join("protocol.log").display(),
        )
    }

    /// Writes the configuration, starts the server and waits until it accepts connections.
    fn start(dir: &Path, listen: SocketAddr) -> Result<ServerProcess, Failure> {
        let config = dir.join("server.toml");
        std::fs::write(&config, ServerProcess::config(dir, listen))
            .map_err(|e| Failure(format!("writing {}: {e}", config.display())))?;
        let stdout = dir.join("server.stdout");
        let stderr = dir.join("server.stderr");
        let open = |p: &Path| {
            std::fs::File::create(p).map_err(|e| Failure(format!("creating {}: {e}", p.display())))
        };
        let child = Command::new(SERVER)
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(open(&stdout)?)
            .stderr(open(&stderr)?)
            .spawn()
            .map_err(|e| Failure(format!("starting {SERVER}: {e}")))?;
        let server = ServerProcess {
            pid: child.id(),
            child: Arc::new(Mutex::new(child)),
            stdout,
            stderr,
            protocol_log: dir.join("protocol.log"),
        };
        let deadline = Instant::now() + STEP;
        loop {
            if TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            if let Some(status) = server.exited() {
                return Err(Failure(format!(
                    "rvp-server exited at start-up ({status}):\n{}",
                    read_lossy(&server.stderr)
                )));
            }
            if Instant::now() >= deadline {
                return Err(Failure(format!(
                    "rvp-server does not accept connections on {listen} after {STEP:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn exited(&self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        child.try_wait().ok().flatten()
    }

    fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM, then waits (bounded) for a clean exit.
    fn terminate(&self) -> Result<std::process::ExitStatus, Failure> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        ensure!(
            sent.as_ref().is_ok_and(|s| s.success()),
            "cannot send SIGTERM to rvp-server {}: {sent:?}",
            self.pid
        );
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(status) = self.exited() {
                return Ok(status);
            }
            ensure!(
                Instant::now() < deadline,
                "rvp-server still running {STEP:?} after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The protocol log's request lines, split into fields.
    fn protocol_lines(&self) -> Vec<LogLine> {
        LogLine::read_all(&self.protocol_log)
    }

    /// Waits (bounded) until the protocol log has a line matching `pred`.
    fn wait_logged(&self, what: &str, pred: impl Fn(&LogLine) -> bool) -> Result<LogLine, Failure> {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(line) = self.protocol_lines().into_iter().find(|l| pred(l)) {
                return Ok(line);
            }
            ensure!(
                Instant::now() < deadline,
                "no protocol log line for {what} within {STEP:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Past [`WHOLE`]: the server's logs printed and the server killed.
fn arm_watchdog(server: &ServerProcess) -> Watchdog {
    let child = Arc::clone(&server.child);
    let (stderr, log) = (server.stderr.clone(), server.protocol_log.clone());
    Watchdog::arm("librvp interop", WHOLE, move || {
        let report = format!(
            "===== server stderr =====\n{}\n===== protocol log =====\n{}",
            tail(&read_lossy(&stderr), 200),
            read_lossy(&log)
        );
        let mut child = child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        report
    })
}

/// Everything one scenario run holds; dumped in full when a step fails.
struct Session<'a> {
    frontend: &'a Frontend,
    dir: PathBuf,
    server: Option<ServerProcess>,
    alice: Option<PurpleClient>,
    bob: Option<PurpleClient>,
    /// Clients that already ended, with a label (their logs stay wanted for a failure
    /// report).
    ended: Vec<(&'static str, PurpleClient)>,
    started: Instant,
    passed: Vec<String>,
    /// Armed once the server runs.
    watchdog: Option<Watchdog>,
}

impl Session<'_> {
    fn pass(&mut self, step: &str) {
        let t = self.started.elapsed().as_secs_f64();
        eprintln!("PASS {step} ({t:.2} s)");
        self.passed.push(step.to_owned());
    }

    fn server(&self) -> &ServerProcess {
        self.server.as_ref().expect("server started")
    }

    fn alice(&mut self) -> &mut PurpleClient {
        self.alice.as_mut().expect("alice signed on")
    }

    fn bob(&mut self) -> &mut PurpleClient {
        self.bob.as_mut().expect("bob signed on")
    }

    fn options(&self, user: &str, password: &str) -> PurpleOptions {
        PurpleOptions::new(user)
            .password(password)
            .frontend(self.frontend.clone())
            .debug(true)
    }

    /// Waits until the client has run every command sent so far (`ping` round trip).
    fn barrier(client: &mut PurpleClient, tag: &str) -> Step {
        client.command(&format!("ping {tag}"))?;
        client.expect(|e| matches!(e, Event::Pong { text } if text == tag), STEP)?;
        Ok(())
    }

    /// Fails if `client` received anything matching `pred` within [`QUIET`].
    fn nothing(client: &mut PurpleClient, what: &str, pred: impl Fn(&Event) -> bool) -> Step {
        std::thread::sleep(QUIET);
        Session::barrier(client, "quiet")?;
        let got: Vec<Event> = client.pending_events().into_iter().filter(pred).collect();
        ensure!(
            got.is_empty(),
            "{} got {what}, which must not arrive: {got:?}",
            client.user()
        );
        Ok(())
    }

    fn run(&mut self) -> Step {
        // The passwords are what their comments say.
        for (user, password, want) in [
            (
                "alice",
                ALICE_PASSWORD,
                LibrvpCompat::Truncated { zero_at: 8 },
            ),
            ("bob", BOB_PASSWORD, LibrvpCompat::Compatible),
            (
                "carol",
                CAROL_PASSWORD,
                LibrvpCompat::Incompatible { zero_at: 3 },
            ),
        ] {
            let got = Ha1::from_password(user, "localhost", password).librvp_compatible();
            ensure!(
                got == want,
                "{user}'s HA1: {got:?}, the test needs {want:?}"
            );
        }
        let listen: SocketAddr = ([127, 0, 0, 1], 80).into();
        self.server = Some(ServerProcess::start(&self.dir, listen)?);
        self.watchdog = Some(arm_watchdog(self.server()));
        self.pass("rvp-server started on 127.0.0.1:80 (domain localhost, Digest required)");
        let banner = read_lossy(&self.server().stdout);
        ensure!(
            banner.contains("WARNING: user carol") && !banner.contains("WARNING: user alice"),
            "the banner should warn about carol (and only her):\n{banner}"
        );
        self.pass("the banner warns that librvp cannot sign on as carol");

        // A wrong password is refused: the server really checks Digest credentials.
        let mut mallory = PurpleClient::spawn(self.options(ALICE, "not-alices-password"))?;
        let refused = mallory.wait_signed_on(STEP);
        let refused_ok = matches!(
            &refused,
            Err(HarnessError::Aborted {
                event: Event::ConnectionError { .. },
                ..
            })
        );
        if refused_ok {
            // The front end exits after a failed sign-on; no need to wait if it did not fail.
            let _ = mallory.expect(|e| matches!(e, Event::Exit { .. }), STEP);
            let _ = mallory.wait_exit(STEP);
        }
        self.ended.push(("wrong password", mallory));
        ensure!(
            refused_ok,
            "alice with a wrong password: expected a connection-error, got {refused:?}"
        );
        self.pass("wrong password refused (connection-error)");

        // carol's right password, but her HA1 has a zero byte at index 3: librvp's answer
        // covers too little of it and is refused (the server's rule, not a wrong password).
        let mut carol = PurpleClient::spawn(self.options(CAROL, CAROL_PASSWORD))?;
        let refused = carol.wait_signed_on(STEP);
        let refused_ok = matches!(
            &refused,
            Err(HarnessError::Aborted {
                event: Event::ConnectionError { .. },
                ..
            })
        );
        if refused_ok {
            let _ = carol.expect(|e| matches!(e, Event::Exit { .. }), STEP);
            let _ = carol.wait_exit(STEP);
        }
        self.ended.push(("HA1 zero byte at index 3", carol));
        ensure!(
            refused_ok,
            "carol (HA1 zero byte at index 3): expected a connection-error, got {refused:?}"
        );
        self.pass("carol refused: librvp's answer over 3 bytes of HA1 is not accepted");

        self.alice = Some(PurpleClient::sign_on(
            self.options(ALICE, ALICE_PASSWORD),
            STEP,
        )?);
        self.pass("alice signed on");
        self.bob = Some(PurpleClient::sign_on(
            self.options(BOB, BOB_PASSWORD),
            STEP,
        )?);
        self.pass("bob signed on");
        for alias in ["alice", "bob"] {
            // Challenged first, then an owner-only request (login SUBSCRIBE, PROPPATCH of
            // the own state, ACL) succeeded under the Digest principal.
            let own = format!("/instmsg/aliases/{alias}");
            let authed = self.server().wait_logged(
                &format!("an authenticated owner request by {alias}"),
                |l| {
                    l.by(alias)
                        && l.target == own
                        && ["SUBSCRIBE", "PROPPATCH", "ACL"].contains(&l.method.as_str())
                        && (200..300).contains(&l.status)
                },
            )?;
            let lines = self.server().protocol_lines();
            ensure!(
                lines.iter().any(|l| l.target == own && l.status == 401),
                "{alias} signed on without ever being challenged (no 401 on {own})"
            );
            eprintln!("     protocol log: {}", authed.raw);
        }
        self.pass(
            "both signed on with Digest (protocol log: 401, then owner requests by alice and bob)",
        );
        let accepted_truncated = |who: &str| {
            read_lossy(&self.server().stderr)
                .lines()
                .any(|l| l.contains("truncated-HA1 form") && l.contains(&format!("username={who}")))
        };
        ensure!(
            accepted_truncated("alice") && !accepted_truncated("bob"),
            "server log: alice's answers should be librvp's truncated-HA1 form, bob's not:\n{}",
            tail(&read_lossy(&self.server().stderr), 100)
        );
        self.pass("alice (HA1 zero byte at index 8) signed on with librvp's truncated HA1");

        self.alice().add_buddy(BOB)?;
        self.bob().add_buddy(ALICE)?;
        self.alice().expect(
            |e| matches!(e, Event::BuddySignedOn { who } if who == BOB),
            STEP,
        )?;
        self.pass("alice adds bob and sees him online");
        self.bob().expect(
            |e| matches!(e, Event::BuddySignedOn { who } if who == ALICE),
            STEP,
        )?;
        self.pass("bob adds alice and sees her online");

        self.bob().set_state(&PresenceState::Busy)?;
        self.alice()
            .expect(status(BOB, PresenceState::Busy), STEP)?;
        self.pass("bob -> busy, seen by alice");
        self.bob().set_state(&PresenceState::Away)?;
        self.alice()
            .expect(status(BOB, PresenceState::Away), STEP)?;
        self.pass("bob -> away, seen by alice");
        self.alice().set_state(&PresenceState::Busy)?;
        self.bob()
            .expect(status(ALICE, PresenceState::Busy), STEP)?;
        self.pass("alice -> busy, seen by bob");

        self.alice().typing(BOB)?;
        self.bob()
            .expect(|e| matches!(e, Event::Typing { who } if who == ALICE), STEP)?;
        self.pass("alice types, bob sees the typing event");

        let to_bob = "Grüße, ☕ € ü — Ελληνικά, 日本語";
        self.alice().send_im(BOB, to_bob)?;
        let got = self
            .bob()
            .expect(|e| matches!(e, Event::Im { who, .. } if who == ALICE), STEP)?;
        let Event::Im { text, .. } = &got else {
            unreachable!("matched an Im")
        };
        ensure!(
            html_to_text(text) == to_bob,
            "bob got {text:?} (as text {:?}), alice sent {to_bob:?}",
            html_to_text(text)
        );
        self.pass("IM alice -> bob, non-ASCII text intact");

        let to_alice = "Danke! ñ ß ø ✓ 🎉";
        self.bob().send_im(ALICE, to_alice)?;
        let got = self
            .alice()
            .expect(|e| matches!(e, Event::Im { who, .. } if who == BOB), STEP)?;
        let Event::Im { text, .. } = &got else {
            unreachable!("matched an Im")
        };
        ensure!(
            html_to_text(text) == to_alice,
            "alice got {text:?} (as text {:?}), bob sent {to_alice:?}",
            html_to_text(text)
        );
        self.pass("IM bob -> alice, non-ASCII text intact");

        // alice denies bob (one ACE: deny send-to + presence): her presence is hidden from
        // him and his messages to her are refused.
        self.alice().deny(BOB)?;
        self.server().wait_logged("alice's ACL write", |l| {
            l.by("alice")
                && l.method == "ACL"
                && l.target == "/instmsg/aliases/alice"
                && (200..300).contains(&l.status)
        })?;
        self.bob().expect(offline(ALICE), STEP)?;
        self.pass("alice denies bob: bob sees alice offline");

        let refused_text = "are you there, ü?";
        self.bob().send_im(ALICE, refused_text)?;
        let failed = self.bob().expect(
            |e| matches!(e, Event::SendFailed { who, .. } if who == ALICE),
            STEP,
        )?;
        let Event::SendFailed { text, .. } = &failed else {
            unreachable!("matched a SendFailed")
        };
        ensure!(
            html_to_text(text).contains(refused_text),
            "bob's send-failed does not quote the refused message: {text:?}"
        );
        Session::nothing(
            self.alice(),
            "bob's refused IM",
            |e| matches!(e, Event::Im { who, .. } if who == BOB),
        )?;
        self.pass("bob's IM to alice refused: send-failed for bob, nothing for alice");

        // alice lifts the deny (librvp writes the ACE granting send-to + presence): bob sees
        // her state again and can write to her.
        self.alice().command(&format!("undeny {BOB}"))?;
        self.bob().expect(
            |e| match e {
                Event::BuddySignedOn { who } => who == ALICE,
                Event::BuddyStatus { who, state } => {
                    who == ALICE && *state != PresenceState::Offline
                }
                _ => false,
            },
            STEP,
        )?;
        self.bob().query(ALICE)?;
        self.bob()
            .expect(status(ALICE, PresenceState::Busy), STEP)?;
        let again = "wieder da? ☕";
        self.bob().send_im(ALICE, again)?;
        let got = self
            .alice()
            .expect(|e| matches!(e, Event::Im { who, .. } if who == BOB), STEP)?;
        let Event::Im { text, .. } = &got else {
            unreachable!("matched an Im")
        };
        ensure!(
            html_to_text(text) == again,
            "alice got {text:?} after the undeny, bob sent {again:?}"
        );
        self.pass("alice undenies bob: bob sees her busy again, his IM arrives");

        // bob signs off by going offline; alice (who still watches him) sees it.
        self.bob().set_state(&PresenceState::Offline)?;
        self.alice().expect(offline(BOB), STEP)?;
        let bob_exit = self
            .bob()
            .expect(|e| matches!(e, Event::Exit { .. }), STEP)?;
        ensure!(
            bob_exit
                == Event::Exit {
                    reason: "signed-off".into()
                }
                || bob_exit
                    == Event::Exit {
                        reason: "logout".into()
                    },
            "bob's front end ended with {bob_exit:?}"
        );
        self.bob().wait_exit(STEP)?;
        if let Some(bob) = self.bob.take() {
            self.ended.push(("signed off", bob));
        }
        self.pass("bob -> offline (signs off), alice sees him offline");

        let reason = self.alice().logout_and_wait(STEP)?;
        ensure!(
            reason == "logout",
            "alice's front end ended with {reason:?}"
        );
        if let Some(alice) = self.alice.take() {
            self.ended.push(("signed off", alice));
        }
        self.pass("alice signs off");

        let server = self.server();
        ensure!(
            server.exited().is_none(),
            "rvp-server died during the session: {:?}",
            server.exited()
        );
        let bad: Vec<String> = server
            .protocol_lines()
            .into_iter()
            .filter(|l| l.status >= 500)
            .map(|l| l.raw)
            .collect();
        ensure!(
            bad.is_empty(),
            "server errors in the protocol log:\n{}",
            bad.join("\n")
        );
        let exit = server.terminate()?;
        ensure!(
            exit.success(),
            "rvp-server exited with {exit} after SIGTERM"
        );
        self.pass("rvp-server: no 5xx answered, clean exit on SIGTERM");
        Ok(())
    }

    /// Everything worth reading after a failure.
    fn report(&self) -> String {
        let mut out = String::new();
        let clients = self
            .ended
            .iter()
            .map(|(label, c)| (*label, c))
            .chain(self.alice.iter().map(|c| ("running", c)))
            .chain(self.bob.iter().map(|c| ("running", c)));
        for (label, client) in clients {
            let _ = writeln!(
                out,
                "===== {} ({label}) events =====\n{}",
                client.user(),
                client.transcript().join("\n")
            );
            let _ = writeln!(
                out,
                "===== {} ({label}) librvp debug log ({}) =====\n{}",
                client.user(),
                client.stderr_log().display(),
                tail(&read_lossy(client.stderr_log()), DEBUG_TAIL_LINES)
            );
        }
        if let Some(server) = &self.server {
            let _ = writeln!(
                out,
                "===== server stdout =====\n{}",
                read_lossy(&server.stdout)
            );
            let _ = writeln!(
                out,
                "===== server stderr =====\n{}",
                tail(&read_lossy(&server.stderr), 300)
            );
            let _ = writeln!(
                out,
                "===== protocol log ({}) =====\n{}",
                server.protocol_log.display(),
                read_lossy(&server.protocol_log)
            );
        }
        out
    }
}

fn scenario(frontend: &Frontend) {
    // In a private namespace port 80 is ours; on the host's loopback (no namespace) it may
    // be taken.
    if let Err(err) = TcpListener::bind(("127.0.0.1", 80)) {
        assert!(!in_ci(), "CI=true: cannot bind 127.0.0.1:80: {err}");
        eprintln!("\n*** SKIPPED: cannot bind 127.0.0.1:80 ({err}); librvp needs port 80.\n");
        return;
    }
    let mut session = Session {
        frontend,
        dir: fresh_dir(),
        server: None,
        alice: None,
        bob: None,
        ended: Vec::new(),
        started: Instant::now(),
        passed: Vec::new(),
        watchdog: None,
    };
    let result = session.run();
    drop(session.watchdog.take());
    match result {
        Ok(()) => {
            eprintln!(
                "PASS librvp interop: {} steps in {:.2} s",
                session.passed.len(),
                session.started.elapsed().as_secs_f64()
            );
            let _ = std::fs::remove_dir_all(&session.dir);
        }
        Err(Failure(why)) => {
            eprintln!(
                "\nFAIL librvp interop after {} passed steps ({:.2} s): {why}\n\
                 (test folder kept: {})\n{}",
                session.passed.len(),
                session.started.elapsed().as_secs_f64(),
                session.dir.display(),
                session.report()
            );
            if let Some(server) = &session.server {
                server.kill();
            }
            panic!("librvp interop failed: {why}");
        }
    }
}
