//! Sockets, HTTP framing and process facts shared by the three parts.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rvp_client::Reply;
use rvp_proto::codec::{Limits, ResponseParser, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Longest wait for a TCP connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for one answer (the server's own delivery timeout is 30 s; a deep-acked
/// message may wait that long).
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(45);

/// `n` loopback source addresses, none of them 127.0.0.1 (the server's):
/// 127.0.1.1, 127.0.1.2, ... 127.0.1.250, 127.0.2.1, ...
pub(crate) fn source_ips(n: usize) -> Vec<IpAddr> {
    (0..n)
        .map(|i| {
            let hi = u8::try_from(1 + i / 250).unwrap_or(255);
            let lo = u8::try_from(1 + i % 250).unwrap_or(250);
            IpAddr::V4(Ipv4Addr::new(127, 0, hi, lo))
        })
        .collect()
}

/// A TCP connection to `server` from `ip` (a port of the kernel's choice on that address).
pub(crate) async fn connect_from(ip: IpAddr, server: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    // A port left in TIME_WAIT by an earlier connection of ours may be taken again.
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::new(ip, 0))?;
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(server))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A client connection: requests written as given, answers framed by `rvp-proto`'s
/// response parser and typed by `rvp-client`'s [`Reply`].
#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// Why an exchange failed, and whether any byte of an answer had arrived (a kept-alive
/// connection the server closed while idle fails with nothing read: the request may be
/// sent again on a new connection).
#[derive(Debug)]
pub(crate) struct ExchangeError {
    pub(crate) error: io::Error,
    pub(crate) nothing_read: bool,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            buf: Vec::with_capacity(2048),
        }
    }

    pub(crate) async fn open(ip: IpAddr, server: SocketAddr) -> io::Result<Conn> {
        Ok(Conn::new(connect_from(ip, server).await?))
    }

    /// Writes `request` and reads one answer (within [`REPLY_TIMEOUT`]); with `keep_raw`,
    /// also the answer's bytes exactly as received.
    pub(crate) async fn exchange(
        &mut self,
        request: &[u8],
        keep_raw: bool,
    ) -> Result<(Reply, Option<Vec<u8>>), ExchangeError> {
        match tokio::time::timeout(REPLY_TIMEOUT, self.exchange_inner(request, keep_raw)).await {
            Ok(r) => r,
            Err(_) => Err(ExchangeError {
                error: io::Error::new(io::ErrorKind::TimedOut, "no answer in time"),
                nothing_read: false,
            }),
        }
    }

    async fn exchange_inner(
        &mut self,
        request: &[u8],
        keep_raw: bool,
    ) -> Result<(Reply, Option<Vec<u8>>), ExchangeError> {
        let fail = |error: io::Error, nothing_read: bool| ExchangeError {
            error,
            nothing_read,
        };
        self.stream
            .write_all(request)
            .await
            .map_err(|e| fail(e, true))?;
        let mut parser = ResponseParser::new(Limits::default());
        loop {
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| fail(e, self.buf.is_empty()))?;
            let eof = n == 0;
            if eof && self.buf.is_empty() {
                return Err(fail(
                    io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"),
                    true,
                ));
            }
            let framed = match parser.parse(&self.buf, eof) {
                Ok(Status::Complete(msg)) => {
                    let used = msg.consumed();
                    let mut reply = Reply::from_parsed(&msg);
                    reply.closes |= eof;
                    Some((reply, used))
                }
                Ok(Status::Partial) if eof => {
                    return Err(fail(
                        io::Error::new(io::ErrorKind::UnexpectedEof, "answer cut short"),
                        false,
                    ));
                }
                Ok(Status::Partial) => None,
                Err(e) => return Err(fail(io::Error::other(e.to_string()), false)),
            };
            if let Some((reply, used)) = framed {
                let raw = keep_raw.then(|| self.buf[..used].to_vec());
                self.buf.drain(..used);
                return Ok((reply, raw));
            }
        }
    }
}

/// Raises this process's open-file limit to `want` (soft and hard) with util-linux
/// `prlimit --pid` (the workspace forbids `unsafe`, so no `setrlimit` of our own). Raising
/// the hard limit needs root with `CAP_SYS_RESOURCE`; without it the soft limit is raised
/// to the hard one. Returns the limit in force after, which is also what the server can
/// be given.
pub(crate) fn raise_nofile(want: u64) -> u64 {
    let pid = std::process::id().to_string();
    let set = |n: u64| {
        std::process::Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={n}:{n}")])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !set(want) {
        let hard = nofile_limits(std::process::id()).map_or(0, |(_, h)| h);
        if hard > 0 {
            set(hard);
        }
        crate::note(&format!(
            "WARNING: the open-file limit cannot be raised to {want} (no CAP_SYS_RESOURCE?): \
             the hard limit {hard} applies to this process and to the server"
        ));
    }
    nofile_limit(std::process::id()).unwrap_or(0).min(want)
}

/// The soft `Max open files` of a process.
pub(crate) fn nofile_limit(pid: u32) -> Option<u64> {
    nofile_limits(pid).map(|(soft, _)| soft)
}

/// The soft and hard `Max open files` of a process.
fn nofile_limits(pid: u32) -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut f = line.split_whitespace().skip(3);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// Resident memory of a process (`VmRSS` of `/proc/<pid>/status`), in KiB.
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used, in seconds.
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // f[0] is field 3 (state): utime is f[11], stime f[12].
    lossy(ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Open file descriptors of a process.
pub(crate) fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// The named lines of the server's Prometheus metrics (`GET /metrics` on its admin
/// listener) whose value is not zero, e.g. `rvp_online_users 75000`.
pub(crate) async fn metrics(admin: SocketAddr, names: &[&str]) -> Vec<String> {
    let fetch = async {
        let mut s = TcpStream::connect(admin).await?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok::<_, io::Error>(String::from_utf8_lossy(&out).into_owned())
    };
    let Ok(Ok(text)) = tokio::time::timeout(Duration::from_secs(10), fetch).await else {
        return vec!["(metrics unavailable)".into()];
    };
    // Zero counters are left out.
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| names.iter().any(|n| l.starts_with(n)))
        .filter(|l| l.rsplit(' ').next().is_some_and(|v| v.trim() != "0"))
        .map(str::to_owned)
        .collect()
}

#[allow(clippy::cast_precision_loss)]
pub(crate) fn lossy(n: u64) -> f64 {
    n as f64
}

/// The machine's load averages.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
