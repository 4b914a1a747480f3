//! A real dnsmasq on a free 127.0.0.1 port of the host, killed on drop: the DNS server of
//! the tests and benchmarks that resolve through the network (rvp-resolve's hickory
//! source, rvp-server's foreign call-backs and TLS peers). [`crate::dns`] is its
//! counterpart on port 53 inside a network namespace, for librvp.
//!
//! Under `CI=true` a missing dnsmasq is a failure; otherwise the caller skips loudly.

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether the environment says we run in CI (then missing tools are failures).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A running dnsmasq serving only the zones it is given.
#[derive(Debug)]
pub struct Dnsmasq {
    child: Child,
    /// The UDP/TCP address it listens on.
    pub addr: SocketAddr,
}

/// Why the server could not be started.
#[derive(Debug)]
pub enum StartError {
    /// dnsmasq is not installed.
    Missing,
    /// It is installed but did not come up.
    Failed(String),
}

impl Dnsmasq {
    /// Starts dnsmasq with `args` (zone and record options) added to a fixed, isolated
    /// base: no upstream, no /etc/hosts, no config file, 127.0.0.1 only, foreground.
    ///
    /// Retries a few times with a new port if the chosen one was taken meanwhile.
    pub fn start(args: &[String]) -> Result<Self, StartError> {
        let bin = crate::dns::dnsmasq_path().ok_or(StartError::Missing)?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_udp_port().map_err(|e| StartError::Failed(e.to_string()))?;
            let mut cmd = Command::new(&bin);
            cmd.args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--conf-file=/dev/null",
                "--pid-file",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--log-facility=-",
            ])
            .arg(format!("--port={port}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
            let child = cmd
                .spawn()
                .map_err(|e| StartError::Failed(format!("spawning {}: {e}", bin.display())))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut server = Dnsmasq { child, addr };
            match server.wait_ready(Duration::from_secs(5)) {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(StartError::Failed(last))
    }

    /// Starts dnsmasq, or: panics under `CI=true` if it cannot; returns `None` (after a
    /// loud message on stderr) outside CI when it is not installed.
    pub fn start_or_skip(test: &str, args: &[String]) -> Option<Self> {
        match Self::start(args) {
            Ok(s) => Some(s),
            Err(StartError::Missing) if !in_ci() => {
                // Through the raw handle, not eprintln!, so that libtest's output
                // capture does not swallow the message.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPING {test}: dnsmasq not found (apt-get install dnsmasq-base, \
                     or run `bash .ci/install-deps`). Under CI=true this is a failure. ***"
                );
                None
            }
            Err(StartError::Missing) => panic!(
                "{test}: dnsmasq is not installed but CI=true; `.ci/install-deps` must install dnsmasq-base"
            ),
            Err(StartError::Failed(why)) => panic!("{test}: dnsmasq did not start: {why}"),
        }
    }

    /// Polls with a DNS query until the server answers, it exits, or `limit` passes.
    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| e.to_string())?;
        let query = probe_query();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(format!("dnsmasq exited with {status}: {err}"));
            }
            let _ = sock.send_to(&query, self.addr);
            let mut buf = [0u8; 512];
            if let Ok((n, _)) = sock.recv_from(&mut buf)
                && n >= 12
                && buf[..2] == query[..2]
            {
                // Stop piping stderr: nobody reads it from here on.
                drop(self.child.stderr.take());
                return Ok(());
            }
        }
        Err(format!(
            "dnsmasq on {} did not answer within {limit:?}",
            self.addr
        ))
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free on 127.0.0.1 a moment ago (UDP; dnsmasq also binds TCP).
fn free_udp_port() -> std::io::Result<u16> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    Ok(s.local_addr()?.port())
}

/// A minimal DNS query for `probe.invalid. A` (any answer, even REFUSED, means "up").
fn probe_query() -> Vec<u8> {
    let mut q = vec![0x52, 0x56, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["probe", "invalid"] {
        q.push(u8::try_from(label.len()).unwrap_or(0));
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}
