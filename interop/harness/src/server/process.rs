//! The real `rvp-server` binary as a child process: started on a configuration file, its
//! addresses read from the start-up banner, its standard error kept line by line, and
//! stopped with `kill -9`, SIGTERM (which must end it cleanly) or signalled with SIGHUP.
//! Every wait is bounded by [`WAIT`].

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::WAIT;

/// A running `rvp-server` process; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// The RVP listener's address, from the banner (`listening on http://...`).
    pub addr: SocketAddr,
    /// The admin listener's address, when the configuration has one.
    pub admin: Option<SocketAddr>,
    stderr: mpsc::Receiver<String>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts the binary `bin` with `--config config` and waits for its banner; panics
    /// with what it wrote on standard error when none comes within [`WAIT`]. Cargo
    /// names the binary to the tests of its own package only: rvp-server's pass
    /// `env!("CARGO_BIN_EXE_rvp-server")`.
    pub fn start(bin: &str, config: &Path) -> ServerProcess {
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().take(100_000) {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (atx, arx) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            let (mut addr, mut admin) = (None, None);
            for line in BufReader::new(out).lines().take(200) {
                let Ok(line) = line else { return };
                let line = line.trim().to_owned();
                if let Some(rest) = line.strip_prefix("listening on http://") {
                    addr = Some(rest.trim_end_matches('/').to_owned());
                }
                if let Some(rest) = line.strip_prefix("admin: metrics on http://") {
                    admin = rest.split('/').next().map(str::to_owned);
                }
                // The banner ends with the state line.
                if line.starts_with("State (") {
                    let _ = atx.send((addr.clone(), admin.clone()));
                }
            }
        });
        let (addr, admin) = match arx.recv_timeout(WAIT) {
            Ok(banner) => banner,
            Err(e) => {
                // Let it finish writing its complaint (bounded), then make sure it is gone.
                for _ in 0..100 {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
                let said: Vec<String> = stderr.try_iter().collect();
                panic!(
                    "{bin} did not start ({e}); its standard error:\n{}",
                    said.join("\n")
                );
            }
        };
        ServerProcess {
            child,
            addr: addr
                .expect("the banner names the address")
                .parse()
                .expect("an address in the banner"),
            admin: admin.map(|a| a.parse().expect("an admin address in the banner")),
            stderr,
        }
    }

    /// The admin listener's address (the configuration must have one).
    pub fn admin(&self) -> SocketAddr {
        self.admin.expect("an admin listener in the banner")
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the killed process reaped");
    }

    /// SIGTERM (`systemctl stop`): the process must end, successfully, in time.
    pub fn terminate(mut self) {
        self.signal("-TERM");
        let deadline = Instant::now() + WAIT * 2;
        loop {
            if let Some(status) = self.child.try_wait().expect("the process' status") {
                assert!(status.success(), "{status:?}");
                return;
            }
            assert!(Instant::now() < deadline, "no stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGHUP (reload).
    pub fn hangup(&self) {
        self.signal("-HUP");
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(ok.success());
    }

    /// Standard error up to the first line containing `what` (bounded), that line last.
    pub fn stderr_until(&self, what: &str) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.stderr.recv_timeout(left) else {
                break;
            };
            let found = line.contains(what);
            seen.push(line);
            if found {
                return seen;
            }
        }
        panic!("{what:?} never on stderr; saw:\n{}", seen.join("\n"));
    }
}
