//! Starting and stopping the two servers as child processes.

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// How long a server may take to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A child server process, killed when dropped.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
    pub(crate) addr: SocketAddr,
    name: &'static str,
    /// A file to remove once the process is gone.
    cleanup: Option<PathBuf>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(f) = &self.cleanup {
            let _ = std::fs::remove_file(f);
            // The store's write-ahead log directory, beside it.
            let mut wal = f.clone().into_os_string();
            wal.push(".wal");
            let _ = std::fs::remove_dir_all(wal);
        }
    }
}

impl Proc {
    /// CPU time the process has used so far (user + system, from `/proc/<pid>/stat`);
    /// `None` where that file cannot be read.
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the command name (which may hold spaces) are space-separated;
        // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut fields = rest.split(' ').skip(11);
        let utime: u64 = fields.next()?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some(Duration::from_millis((utime + stime) * 10))
    }

    /// Waits until `addr` accepts a connection; an error if the process exits first or
    /// after [`START_TIMEOUT`].
    fn wait_ready(mut self) -> io::Result<Proc> {
        let start = Instant::now();
        while start.elapsed() < START_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "{} exited at start-up ({status}); see its output in the bench's temporary directory",
                    self.name
                )));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return Ok(self);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(io::Error::other(format!(
            "{} did not listen on {} within {START_TIMEOUT:?}",
            self.name, self.addr
        )))
    }
}

/// A free loopback port (bound, then released).
pub(crate) fn free_addr() -> io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// The `rvp-server` binary: `$RVP_SERVER_BIN`, else `target/release/rvp-server` (under
/// `$CARGO_TARGET_DIR` if set). Warns on stderr when it is older than the server's sources.
pub(crate) fn rvp_binary() -> io::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = match std::env::var_os("RVP_SERVER_BIN") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from)
            .join("release/rvp-server"),
    };
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "no rvp-server binary at {} ({e}): run `cargo build --release -p rvp-server` \
                     first, or set RVP_SERVER_BIN",
                    bin.display()
                ),
            )
        })?;
    let newest = ["rvp-server/src", "rvp-presence/src", "rvp-proto/src"]
        .iter()
        .filter_map(|d| newest_mtime(&root.join(d), 4))
        .max();
    if newest.is_some_and(|n| n > built) {
        crate::note(&format!(
            "WARNING: {} is older than the server's sources: rebuild it with \
             `cargo build --release -p rvp-server`",
            bin.display()
        ));
    }
    Ok(bin)
}

fn newest_mtime(dir: &Path, depth: u32) -> Option<SystemTime> {
    let mut newest = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let Ok(m) = e.metadata() else { continue };
        let t = if m.is_dir() && depth > 0 {
            newest_mtime(&e.path(), depth - 1)
        } else {
            m.modified().ok()
        };
        newest = newest.max(t);
    }
    newest
}

/// Starts `rvp-server` on a free loopback port with a generated configuration in `dir`:
/// assertion-only mode (`require_auth = false`), storage and protocol log in `dir` (the
/// storage in `$RVP_BENCH_STORAGE_DIR` if set; `storage_sync` from
/// `$RVP_BENCH_STORAGE_SYNC`, default the server's), the given users (no passwords).
pub(crate) fn start_rvp(bin: &Path, dir: &Path, users: &[String], log: bool) -> io::Result<Proc> {
    start_rvp_with(bin, dir, users, log, None)
}

/// [`start_rvp`], with `require_auth = true` when `proof` names a user and its password
/// (the identity-cost part): that user gets the password, the others none.
pub(crate) fn start_rvp_with(
    bin: &Path,
    dir: &Path,
    users: &[String],
    log: bool,
    proof: Option<(&str, &str)>,
) -> io::Result<Proc> {
    start_rvp_full(bin, dir, users, log, proof, "", None)
}

/// [`start_rvp_with`], plus `extra` TOML appended before the users (e.g. a `[router]`
/// table) and `[server] role` and every user's `home` when `route_to` is given (the router
/// part).
pub(crate) fn start_rvp_full(
    bin: &Path,
    dir: &Path,
    users: &[String],
    log: bool,
    proof: Option<(&str, &str)>,
    extra: &str,
    route_to: Option<SocketAddr>,
) -> io::Result<Proc> {
    let addr = free_addr()?;
    let storage = std::env::var_os("RVP_BENCH_STORAGE_DIR")
        .map_or_else(|| dir.to_owned(), PathBuf::from)
        .join(format!(
            "rvp-bench-{}-{}.redb",
            std::process::id(),
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("server")
        ));
    let sync = std::env::var("RVP_BENCH_STORAGE_SYNC")
        .map(|s| format!("storage_sync = {s:?}\n"))
        .unwrap_or_default();
    let role = if route_to.is_some() {
        "role = \"router\"\n"
    } else {
        ""
    };
    let mut toml = String::new();
    let _ = write!(
        toml,
        "[server]\nlisten = [\"{addr}\"]\ndomain = \"localhost\"\nhost_name = \"localhost\"\n{role}\
         {sync}storage = {:?}\n\n[auth]\nrequire_auth = {}\n\n[log]\nprotocol_log = {:?}\n\
         filter = \"warn\"\n\n{extra}\n",
        storage.display().to_string(),
        proof.is_some(),
        if log {
            dir.join("protocol.log").display().to_string()
        } else {
            String::new()
        },
    );
    for u in users {
        let _ = write!(toml, "\n[[users]]\nalias = \"{u}\"\n");
        if let Some(home) = route_to {
            let _ = writeln!(toml, "home = \"{home}\"");
        }
        if let Some((who, password)) = proof
            && who == u
        {
            let _ = writeln!(toml, "password = {password:?}");
        }
    }
    let config = dir.join("rvp-bench.toml");
    std::fs::write(&config, toml)?;
    let child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("rvp-server.stdout"))?)
        .stderr(std::fs::File::create(dir.join("rvp-server.stderr"))?)
        .spawn()?;
    Proc {
        child,
        addr,
        name: "rvp-server",
        cleanup: Some(storage),
    }
    .wait_ready()
}

/// Starts the hyper baseline (this bench binary again, `serve-baseline ADDR NOTIFY
/// PROPPATCH`) answering the canned raw responses.
pub(crate) fn start_baseline(dir: &Path, notify: &[u8], proppatch: &[u8]) -> io::Result<Proc> {
    let addr = free_addr()?;
    let n = dir.join("notify.response");
    let p = dir.join("proppatch.response");
    std::fs::write(&n, notify)?;
    std::fs::write(&p, proppatch)?;
    let child = Command::new(std::env::current_exe()?)
        .arg("serve-baseline")
        .arg(addr.to_string())
        .arg(&n)
        .arg(&p)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("baseline.stderr"))?)
        .spawn()?;
    Proc {
        child,
        addr,
        name: "hyper baseline",
        cleanup: None,
    }
    .wait_ready()
}
