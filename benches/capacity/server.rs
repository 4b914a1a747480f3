//! The server under test: the release `rvp-server` binary with a generated configuration,
//! started under `prlimit` with a large open-file limit, killed when dropped.

use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to listen (a configuration of 100,000 users included).
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The password of every generated user.
pub(crate) const PASSWORD: &str = "capacity-pw";

/// The alias of user `i`.
pub(crate) fn alias(i: usize) -> String {
    format!("u{i}")
}

/// The logical URL of user `i`.
pub(crate) fn url(i: usize) -> String {
    format!("http://localhost/instmsg/aliases/u{i}")
}

/// The user index of an alias written by [`alias`].
pub(crate) fn index_of(alias: &str) -> Option<usize> {
    alias.strip_prefix('u')?.parse().ok()
}

/// What to configure.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Users `u0` .. `u{users-1}`, each with [`PASSWORD`].
    pub(crate) users: usize,
    pub(crate) require_auth: bool,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: usize,
    /// `[limits] idle_timeout` (the server's default: "60s").
    pub(crate) idle_timeout: &'static str,
    /// The open-file limit the server runs with.
    pub(crate) nofile: u64,
}

/// A running `rvp-server`.
#[derive(Debug)]
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) pid: u32,
    storage: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.storage);
        let mut wal = self.storage.clone().into_os_string();
        wal.push(".wal");
        let _ = std::fs::remove_dir_all(wal);
    }
}

fn free_addr() -> io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// The `rvp-server` binary: `$RVP_SERVER_BIN`, else `target/release/rvp-server` (under
/// `$CARGO_TARGET_DIR` if set).
pub(crate) fn binary() -> io::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = match std::env::var_os("RVP_SERVER_BIN") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| root.join("target"), PathBuf::from)
            .join("release/rvp-server"),
    };
    if !bin.exists() {
        return Err(io::Error::other(format!(
            "no rvp-server binary at {}: run `cargo build --release -p rvp-server` first, or \
             set RVP_SERVER_BIN",
            bin.display()
        )));
    }
    Ok(bin)
}

/// Starts the server with `options`, its files in `dir` (the store in
/// `$RVP_CAPACITY_STORAGE_DIR` if set), protocol log off, an admin listener for metrics.
pub(crate) fn start(bin: &Path, dir: &Path, options: &Options) -> io::Result<Server> {
    std::fs::create_dir_all(dir)?;
    let addr = free_addr()?;
    let admin = free_addr()?;
    let storage = std::env::var_os("RVP_CAPACITY_STORAGE_DIR")
        .map_or_else(|| dir.to_owned(), PathBuf::from)
        .join(format!(
            "rvp-capacity-{}-{}.redb",
            std::process::id(),
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("server")
        ));
    let mut toml = String::with_capacity(64 * options.users + 1024);
    let _ = write!(
        toml,
        "[server]\nlisten = [\"{addr}\"]\ndomain = \"localhost\"\nhost_name = \"localhost\"\n\
         storage = {:?}\n\n[auth]\nrequire_auth = {}\n\n[limits]\nidle_timeout = {:?}\n\
         max_connections = {}\nmax_connections_per_ip = {}\n\n[log]\nprotocol_log = \"\"\n\
         filter = \"warn\"\n\n[admin]\nlisten = \"{admin}\"\n",
        storage.display().to_string(),
        options.require_auth,
        options.idle_timeout,
        options.max_connections,
        options.max_connections_per_ip,
    );
    for i in 0..options.users {
        let _ = write!(
            toml,
            "\n[[users]]\nalias = \"{}\"\npassword = \"{PASSWORD}\"\n",
            alias(i)
        );
    }
    let config = dir.join("rvp-capacity.toml");
    std::fs::write(&config, toml)?;
    let nofile = format!("--nofile={0}:{0}", options.nofile);
    let mut command = if Command::new("prlimit").arg("--version").output().is_ok() {
        let mut c = Command::new("prlimit");
        c.arg(&nofile).arg("--").arg(bin);
        c
    } else {
        crate::note("WARNING: no prlimit: the server keeps the inherited open-file limit");
        Command::new(bin)
    };
    let child = command
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("rvp-server.stdout"))?)
        .stderr(std::fs::File::create(dir.join("rvp-server.stderr"))?)
        .spawn()?;
    let pid = child.id();
    let mut server = Server {
        child,
        addr,
        admin,
        pid,
        storage,
    };
    let start = Instant::now();
    while start.elapsed() < START_TIMEOUT {
        if let Some(status) = server.child.try_wait()? {
            return Err(io::Error::other(format!(
                "rvp-server exited at start-up ({status}); see {}",
                dir.join("rvp-server.stderr").display()
            )));
        }
        if TcpStream::connect_timeout(&server.addr, Duration::from_millis(200)).is_ok() {
            let limit = crate::net::nofile_limit(server.pid).unwrap_or(0);
            if limit < options.nofile {
                crate::note(&format!(
                    "WARNING: rvp-server runs with an open-file limit of {limit}, not {}",
                    options.nofile
                ));
            }
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server.child.kill()?;
    Err(io::Error::other(format!(
        "rvp-server did not listen on {addr} within {START_TIMEOUT:?}"
    )))
}

impl Server {
    /// Resident memory, KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        crate::net::rss_kib(self.pid)
    }

    /// CPU seconds used so far.
    pub(crate) fn cpu_secs(&self) -> f64 {
        crate::net::cpu_secs(self.pid)
    }
}
