//! A real DNS server (dnsmasq) that librvp itself asks, inside a test's network namespace.
//!
//! librvp finds the server of `alias@domain` with an `_rvp._tcp.<domain>` SRV query, then
//! address lookups (of the SRV target, of the domain itself when there is no SRV record, of
//! the host named in a router's `302`), all through the C library's resolver, which reads
//! `/etc/resolv.conf` and always asks port 53. [`NamespaceDns`] therefore runs dnsmasq on
//! port 53 of a loopback address of the namespace (nobody else's there) serving only the
//! records it is given, writes a `resolv.conf` naming it, and gives the wrapper that starts a
//! front end in a mount namespace of its own where that file is bind-mounted over
//! `/etc/resolv.conf` ([`NamespaceDns::client_wrapper`], for
//! [`PurpleOptions::wrapper`](crate::PurpleOptions::wrapper)). The host's files are never
//! touched. Whether dnsmasq is installed: [`dnsmasq_path`] (tests skip loudly without it,
//! and fail under `CI=true`).
//!
//! ```text
//!   rvp-purple (unshare --mount; resolv.conf bind-mounted) ─ librvp ─ getaddrinfo/res_query
//!                                                                        │ UDP/TCP 53
//!   rvp-server [resolve] nameserver = "<ip>:53" ───────────────────────► dnsmasq <ip>:53
//! ```
//!
//! A name dnsmasq has no record for is answered `REFUSED` (it has no upstream server): an
//! `_rvp._tcp` query for a domain without SRV record gets an error, not `NXDOMAIN`
//! ([`NamespaceDns::query`] shows it).
//!
//! Only for use inside [`run_isolated`](crate::netns::run_isolated)'s namespace (port 53
//! and bind mounts need root; on the host's loopback port 53 may be taken).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::HarnessError;

/// How long [`NamespaceDns::start`] waits for dnsmasq to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`NamespaceDns::query`] waits for one answer.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// DNS record types [`NamespaceDns::query`] can ask for.
pub const TYPE_A: u16 = 1;
/// `SRV` (RFC 2782).
pub const TYPE_SRV: u16 = 33;

/// Response code `NOERROR`.
pub const RCODE_NOERROR: u8 = 0;
/// Response code `NXDOMAIN`.
pub const RCODE_NXDOMAIN: u8 = 3;
/// Response code `REFUSED`.
pub const RCODE_REFUSED: u8 = 5;

/// One record served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// `_rvp._tcp.<domain> SRV 0 0 <port> <target>`.
    RvpSrv {
        /// The IM domain (the part after `@`).
        domain: String,
        /// The server's host name (librvp names its users' URLs after it).
        target: String,
        /// The port.
        port: u16,
    },
    /// `<name> A <addr>`.
    A {
        /// The host name.
        name: String,
        /// Its address.
        addr: Ipv4Addr,
    },
}

impl Record {
    /// `_rvp._tcp.<domain> SRV 0 0 <port> <target>`.
    pub fn rvp_srv(domain: &str, target: &str, port: u16) -> Record {
        Record::RvpSrv {
            domain: domain.to_owned(),
            target: target.to_owned(),
            port,
        }
    }

    /// `<name> A <addr>`.
    pub fn a(name: &str, addr: Ipv4Addr) -> Record {
        Record::A {
            name: name.to_owned(),
            addr,
        }
    }

    fn dnsmasq_option(&self) -> String {
        match self {
            Record::RvpSrv {
                domain,
                target,
                port,
            } => format!("--srv-host=_rvp._tcp.{domain},{target},{port},0,0"),
            Record::A { name, addr } => format!("--host-record={name},{addr}"),
        }
    }
}

/// What a DNS server answered to one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsAnswer {
    /// The response code (`0` NOERROR, `3` NXDOMAIN, `5` REFUSED...).
    pub rcode: u8,
    /// How many answer records it held.
    pub answers: u16,
}

/// Where dnsmasq is: `$RVP_DNSMASQ` (pointed at a missing file: "not installed"), else the
/// `PATH`, else the usual sbin folders. `None`: not installed.
pub fn dnsmasq_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RVP_DNSMASQ") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("dnsmasq"))
        .find(|candidate| candidate.is_file())
}

/// dnsmasq on `<ip>:53` in the test's network namespace, killed on drop.
#[derive(Debug)]
pub struct NamespaceDns {
    child: Child,
    addr: SocketAddr,
    resolv_conf: PathBuf,
    nsswitch: PathBuf,
    log: PathBuf,
    stderr: PathBuf,
}

impl NamespaceDns {
    /// Starts dnsmasq on `ip` port 53 serving exactly `records` (no upstream, no
    /// `/etc/hosts`, no configuration file), logging every query to `dir/dnsmasq.log`, and
    /// writes `dir/resolv.conf` naming it (and `dir/nsswitch.conf`, for
    /// [`client_wrapper`](Self::client_wrapper)). Waits (at most [`START_TIMEOUT`]) until it
    /// answers. [`HarnessError::Unavailable`] when dnsmasq is not installed.
    pub fn start(
        ip: Ipv4Addr,
        records: &[Record],
        dir: &Path,
    ) -> Result<NamespaceDns, HarnessError> {
        let io = |what: String| move |source| HarnessError::Io { what, source };
        let binary = dnsmasq_path().ok_or_else(|| {
            HarnessError::Unavailable(
                "dnsmasq not found (apt-get install dnsmasq-base, or `bash .ci/install-deps`)"
                    .into(),
            )
        })?;
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let resolv_conf = dir.join("resolv.conf");
        let text = format!(
            "# written by rvp-interop (dns.rs)\nnameserver {ip}\noptions timeout:2 attempts:2\n"
        );
        std::fs::write(&resolv_conf, text)
            .map_err(io(format!("writing {}", resolv_conf.display())))?;
        // Host names from /etc/hosts and DNS only: an nss module that asks a resolver daemon
        // of the host (systemd-resolved, nscd) would never see this server.
        let nsswitch = dir.join("nsswitch.conf");
        std::fs::write(
            &nsswitch,
            "# written by rvp-interop (dns.rs)\npasswd: files\ngroup: files\nshadow: files\n\
             hosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n",
        )
        .map_err(io(format!("writing {}", nsswitch.display())))?;
        let log = dir.join("dnsmasq.log");
        // What it says before its log is open (a taken port, a bad option).
        let stderr_path = dir.join("dnsmasq.stderr");
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(io(format!("creating {}", stderr_path.display())))?;
        let child = Command::new(&binary)
            .args([
                "--keep-in-foreground",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--conf-file=/dev/null",
                // An empty value: no pid file at all.
                "--pid-file",
                "--bind-interfaces",
                "--port=53",
                "--log-queries",
            ])
            .arg(format!("--listen-address={ip}"))
            .arg(format!("--log-facility={}", log.display()))
            .args(records.iter().map(Record::dnsmasq_option))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(io(format!("starting {}", binary.display())))?;
        let mut dns = NamespaceDns {
            child,
            addr: SocketAddr::new(IpAddr::V4(ip), 53),
            resolv_conf,
            nsswitch,
            log,
            stderr: stderr_path,
        };
        dns.wait_ready()?;
        Ok(dns)
    }

    fn wait_ready(&mut self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(HarnessError::Io {
                    what: format!(
                        "dnsmasq on {} exited at start-up ({status}): {}{}",
                        self.addr,
                        String::from_utf8_lossy(&std::fs::read(&self.stderr).unwrap_or_default()),
                        self.log_text()
                    ),
                    source: std::io::Error::other("dnsmasq exited"),
                });
            }
            // Any answer at all, even REFUSED, means it serves.
            if self.query("ready.invalid", TYPE_A).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Io {
                    what: format!(
                        "dnsmasq on {} did not answer within {START_TIMEOUT:?}",
                        self.addr
                    ),
                    source: std::io::Error::from(std::io::ErrorKind::TimedOut),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where it listens (`<ip>:53`): the `[resolve] nameserver` of servers under test.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id (for a watchdog that must kill it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `resolv.conf` naming it.
    pub fn resolv_conf(&self) -> &Path {
        &self.resolv_conf
    }

    /// dnsmasq's log: one line per query and per answer.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The log's text so far (a placeholder when it cannot be read).
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log).map_or_else(
            |e| format!("<cannot read {}: {e}>", self.log.display()),
            |b| String::from_utf8_lossy(&b).into_owned(),
        )
    }

    /// The wrapper that runs a front end with this server as its resolver: `unshare --mount`
    /// (a private mount namespace: the bind mounts are seen by that process only), then a
    /// shell that bind-mounts [`resolv_conf`](Self::resolv_conf) over `/etc/resolv.conf`
    /// (and an `nsswitch.conf` with `hosts: files dns` over `/etc/nsswitch.conf`) and
    /// `exec`s the front end, so the process keeps the front end's pid. Pass it to
    /// [`PurpleOptions::wrapper`](crate::PurpleOptions::wrapper).
    pub fn client_wrapper(&self) -> Vec<OsString> {
        vec![
            "unshare".into(),
            "--mount".into(),
            "--propagation".into(),
            "private".into(),
            "--".into(),
            "sh".into(),
            "-c".into(),
            "mount --bind \"$0\" /etc/resolv.conf \
             && { [ ! -e /etc/nsswitch.conf ] || mount --bind \"$1\" /etc/nsswitch.conf; } \
             && shift && exec \"$@\""
                .into(),
            self.resolv_conf.clone().into_os_string(),
            self.nsswitch.clone().into_os_string(),
        ]
    }

    /// Asks one question over UDP (class IN) and returns the response code and the number
    /// of answers; waits at most [`QUERY_TIMEOUT`].
    pub fn query(&self, name: &str, qtype: u16) -> Result<DnsAnswer, HarnessError> {
        query(self.addr, name, qtype)
    }
}

impl Drop for NamespaceDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asks `server` one question over UDP (class IN, recursion desired): the response code and
/// the number of answers. Waits at most [`QUERY_TIMEOUT`].
pub fn query(server: SocketAddr, name: &str, qtype: u16) -> Result<DnsAnswer, HarnessError> {
    let what = format!("DNS query {name} type {qtype} to {server}");
    let io = |source| HarnessError::Io {
        what: what.clone(),
        source,
    };
    let id: u16 = 0x5256 ^ u16::try_from(std::process::id() & 0xffff).unwrap_or(0);
    let mut packet = Vec::with_capacity(32 + name.len());
    packet.extend_from_slice(&id.to_be_bytes());
    // Flags: a standard query, recursion desired; one question, nothing else.
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .ok_or_else(|| io(std::io::Error::other(format!("bad label {label:?}"))))?;
        packet.push(len);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes());
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(io)?;
    socket.connect(server).map_err(io)?;
    socket.send(&packet).map_err(io)?;
    let deadline = Instant::now() + QUERY_TIMEOUT;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io(std::io::Error::from(std::io::ErrorKind::TimedOut)));
        }
        socket.set_read_timeout(Some(left)).map_err(io)?;
        let n = socket.recv(&mut buf).map_err(io)?;
        // Ours (same id), and a response (QR bit): else keep waiting.
        if n >= 12 && buf[..2] == id.to_be_bytes() && buf[2] & 0x80 != 0 {
            return Ok(DnsAnswer {
                rcode: buf[3] & 0x0f,
                answers: u16::from_be_bytes([buf[6], buf[7]]),
            });
        }
    }
}

/// What dnsmasq answered, per its query log (`log`), to each `query[<qtype>] <name>` it
/// logged: the line that follows each such query (dnsmasq answers records it holds, and
/// refuses the rest, before it reads the next query), with its `dnsmasq[pid]:` prefix
/// removed, e.g. `config _rvp._tcp.a.test is <SRV>` or `config error is REFUSED`.
pub fn answers_in_log(log: &str, qtype: &str, name: &str) -> Vec<String> {
    let asked = format!("query[{qtype}] {name} ");
    let mut lines = log.lines();
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        if line.contains(&asked)
            && let Some(answer) = lines.next()
        {
            let text = answer.split_once("]: ").map_or(answer, |(_, t)| t);
            out.push(text.to_owned());
        }
    }
    out
}

/// The lines of `log` that mention `name` (for failure messages).
pub fn log_lines_about(log: &str, name: &str) -> String {
    let mut out = String::new();
    for line in log.lines().filter(|l| l.contains(name)) {
        let _ = writeln!(out, "{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_dnsmasq_options() {
        assert_eq!(
            Record::rvp_srv("a.test", "im.a.test", 80).dnsmasq_option(),
            "--srv-host=_rvp._tcp.a.test,im.a.test,80,0,0"
        );
        assert_eq!(
            Record::a("b.test", Ipv4Addr::new(127, 0, 2, 1)).dnsmasq_option(),
            "--host-record=b.test,127.0.2.1"
        );
    }

    #[test]
    fn answers_are_read_from_the_query_log() {
        let log = "Dec  7 09:29:13 dnsmasq[1]: query[SRV] _rvp._tcp.a.test from 127.0.0.1\n\
                   Dec  7 09:29:13 dnsmasq[1]: config _rvp._tcp.a.test is <SRV>\n\
                   Dec  7 09:29:13 dnsmasq[1]: query[SRV] _rvp._tcp.b.test from 127.0.0.1\n\
                   Dec  7 09:29:13 dnsmasq[1]: config error is REFUSED (EDE: not ready)\n\
                   Dec  7 09:29:13 dnsmasq[1]: query[A] b.test from 127.0.0.1\n\
                   Dec  7 09:29:13 dnsmasq[1]: config b.test is 127.0.0.1\n\
                   Dec  7 09:29:14 dnsmasq[1]: query[SRV] _rvp._tcp.b.test from 127.0.0.1\n";
        assert_eq!(
            answers_in_log(log, "SRV", "_rvp._tcp.a.test"),
            ["config _rvp._tcp.a.test is <SRV>"]
        );
        // The last query has no answer logged yet: only the first counts.
        assert_eq!(
            answers_in_log(log, "SRV", "_rvp._tcp.b.test"),
            ["config error is REFUSED (EDE: not ready)"]
        );
        // `b.test` is not `_rvp._tcp.b.test`, nor an A query an SRV one.
        assert_eq!(
            answers_in_log(log, "A", "b.test"),
            ["config b.test is 127.0.0.1"]
        );
        assert!(answers_in_log(log, "SRV", "b.test").is_empty());
        assert_eq!(log_lines_about(log, "b.test").lines().count(), 4);
    }

    #[test]
    fn a_query_to_nobody_fails_in_bounded_time() {
        // A UDP port nobody listens on (bound, then released).
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let started = Instant::now();
        let r = query(
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            "x.test",
            TYPE_A,
        );
        assert!(r.is_err(), "{r:?}");
        assert!(started.elapsed() <= QUERY_TIMEOUT + Duration::from_secs(1));
        assert!(
            query(
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                "bad..name",
                TYPE_A
            )
            .is_err()
        );
    }
}
