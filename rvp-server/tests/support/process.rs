//! The real `rvp-server` binary as a child process: started on a configuration file, its
//! addresses read from the start-up banner, its standard error kept line by line, and
//! stopped with `kill -9`, SIGTERM (which must end it cleanly) or signalled with SIGHUP.
//! Every wait is bounded by [`WAIT`](super::WAIT).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::WAIT;

/// A running `rvp-server` process; killed (SIGKILL) when dropped.
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
    /// Starts `bin` (the test's `env!("CARGO_BIN_EXE_rvp-server")`) with `--config
    /// config` and waits for its banner.
    pub fn start(bin: &str, config: &Path) -> ServerProcess {
        let mut child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rvp-server");
        let (tx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().take(100_000) {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (atx, arx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
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
        let (addr, admin) = arx.recv_timeout(WAIT).expect("a banner in time");
        ServerProcess {
            child,
            addr: addr.expect("the banner names the address").parse().unwrap(),
            admin: admin.map(|a| a.parse().unwrap()),
            stderr,
        }
    }

    /// The admin listener's address (the configuration must have one).
    pub fn admin(&self) -> SocketAddr {
        self.admin.expect("an admin listener in the banner")
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    /// SIGTERM (`systemctl stop`): the process must end, successfully, in time.
    pub fn terminate(mut self) {
        self.signal("-TERM");
        let deadline = Instant::now() + WAIT * 2;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
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
            .unwrap();
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
