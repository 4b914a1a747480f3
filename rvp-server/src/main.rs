//! `rvp-server`: the reference RVP home server.
//!
//! ```text
//! rvp-server                          # embedded demo config: 127.0.0.1:8080, domain localhost
//! rvp-server --config server.toml     # your config
//! rvp-server --check-config [--config server.toml]
//! rvp-server --listen 127.0.0.1:80 --storage /var/lib/rvp/state.redb
//! rvp-server --print-default-config > server.toml
//! ```

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rvp_server::auth::{Ha1, LibrvpCompat};
use rvp_server::config::{Config, DEFAULT_ORIGIN, DEFAULT_TOML};
use rvp_server::home::HomeServer;
use rvp_server::log::ProtocolLog;
use rvp_server::shutdown;

// The server allocates per request (request heads, XML, answers) from several threads;
// mimalloc's per-thread heaps avoid the arena lock contention glibc's malloc showed under
// load (BENCHMARKS.md). Feature `mimalloc`, on by default.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The reference RVP home server (Exchange 2000 Instant Messaging protocol).
///
/// With no options it starts the embedded demo configuration: IM domain `localhost`,
/// users alice, bob and carol, on 127.0.0.1:8080.
#[derive(Debug, Parser)]
#[command(name = "rvp-server", version, about, long_about)]
struct Cli {
    /// Configuration file (TOML). Without it, the embedded demo configuration is used.
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Validate the configuration, print the effective configuration (passwords redacted)
    /// and exit: status 0 if it is valid, 1 if not.
    #[arg(long)]
    check_config: bool,
    /// Listen on ADDR instead of `server.listen` (repeat for several addresses).
    #[arg(long, value_name = "ADDR")]
    listen: Vec<SocketAddr>,
    /// Keep the state in PATH instead of `server.storage`.
    #[arg(long, value_name = "PATH")]
    storage: Option<PathBuf>,
    /// Print the embedded default configuration, every key documented, and exit.
    #[arg(long)]
    print_default_config: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.print_default_config {
        out(DEFAULT_TOML);
        return ExitCode::SUCCESS;
    }
    let loaded = match &cli.config {
        Some(path) => Config::from_file(path),
        None => Config::embedded_default(),
    };
    let mut config = match loaded {
        Ok(c) => c,
        Err(e) => {
            err(&format!("rvp-server: invalid configuration: {e}"));
            return ExitCode::FAILURE;
        }
    };
    if !cli.listen.is_empty() {
        config.server.listen = cli.listen.clone();
    }
    if let Some(path) = &cli.storage {
        config.server.storage = path.clone();
    }
    let origin = cli
        .config
        .as_ref()
        .map_or(DEFAULT_ORIGIN.to_owned(), |p| p.display().to_string());
    if cli.check_config {
        for w in librvp_warnings(&config) {
            err(&format!("rvp-server: warning: {w}"));
        }
        out(&format!(
            "# {origin}: valid. Effective configuration:\n\n{}",
            config.to_redacted_toml()
        ));
        return ExitCode::SUCCESS;
    }
    init_tracing(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            err(&format!("rvp-server: cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, cli.config.is_none())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            err(&format!("rvp-server: {e}"));
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, demo: bool) -> Result<(), String> {
    let (log, log_writer) = ProtocolLog::open(&config.log.protocol_log_target()).map_err(|e| {
        format!(
            "cannot open the protocol log {:?}: {e}",
            config.log.protocol_log
        )
    })?;
    // Handlers first: a SIGTERM right after the banner must stop the server gracefully.
    let signals = shutdown::Signals::install();
    let server = HomeServer::start(&config, log)
        .await
        .map_err(|e| e.to_string())?;
    out(&banner(&config, &server.local_addrs(), demo));
    tracing::info!(addrs = ?server.local_addrs(), domain = %config.server.domain, "serving");
    let stop = async {
        let signal = signals.recv().await;
        tracing::info!(?signal, "stop requested");
    };
    let result = server.run(stop).await;
    log_writer.finish();
    let report = result.map_err(|e| e.to_string())?;
    tracing::info!(
        connections = report.connections,
        refused_busy = report.refused_busy,
        refused_per_ip = report.refused_per_ip,
        aborted = report.aborted,
        "stopped; state saved"
    );
    Ok(())
}

fn banner(config: &Config, addrs: &[SocketAddr], demo: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let domain = &config.server.domain;
    let _ = writeln!(
        s,
        "rvp-server {}: IM domain `{domain}`, host `{}`",
        env!("CARGO_PKG_VERSION"),
        config.server.host_name
    );
    for a in addrs {
        let _ = writeln!(s, "  listening on http://{a}/");
    }
    if demo {
        let _ = writeln!(
            s,
            "  running the embedded DEMO configuration (`--print-default-config` shows it)"
        );
    }
    let _ = writeln!(s, "Users (sign in as alias@{domain}):");
    for u in &config.users {
        let secret = match (&u.password, demo) {
            (Some(p), true) => format!("password {p}"),
            (Some(_), false) => "password set".into(),
            (None, _) if u.ha1.is_some() => "Digest HA1 set".into(),
            (None, _) => "no credentials".into(),
        };
        let _ = writeln!(s, "  {}@{domain}  ({secret})", u.alias);
    }
    if config.users.is_empty() {
        let _ = writeln!(s, "  (none configured)");
    }
    for w in librvp_warnings(config) {
        let _ = writeln!(s, "WARNING: {w}");
    }
    let port = addrs.first().map_or(80, SocketAddr::port);
    let _ = writeln!(
        s,
        "Point a client at it: sign in as alice@{domain}. RVP clients connect to port 80 of\n\
         the domain's host unless an `_rvp._tcp.{domain}` SRV record names another port (only\n\
         librvp/Pidgin honours it). So either run with `--listen 127.0.0.1:80` (root or\n\
         CAP_NET_BIND_SERVICE), or publish `_rvp._tcp.{domain}. SRV 0 0 {port} <this host>`.\n\
         By hand (a PROPFIND names the properties it wants):\n\
         curl -i -X PROPFIND -H 'Depth: 0' -H 'RVP-From-Principal: http://{domain}/instmsg/aliases/bob' --data '<d:propfind xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><d:prop><r:state/></d:prop></d:propfind>' http://127.0.0.1:{port}/instmsg/aliases/alice"
    );
    let _ = writeln!(
        s,
        "State (subscriptions, leases, ACLs) is kept in {} (write-ahead log {}, storage_sync = {}).",
        config.server.storage.display(),
        rvp_server::store::wal_dir(&config.server.storage).display(),
        match config.server.storage_sync {
            rvp_server::store::SyncMode::Always => "always",
            _ => "interval",
        }
    );
    if !config.auth.require_auth {
        let _ = writeln!(
            s,
            "WARNING: require_auth = false: RVP-From-Principal is believed (closed test networks only)."
        );
    }
    s
}

/// One line per user whose credentials librvp (Pidgin) cannot sign on with, and why: its
/// HA1 has a zero byte too early ([`Ha1::librvp_compatible`]). Checked for the username
/// librvp sends without an Auth Domain (the alias); from the password, else from the HA1.
fn librvp_warnings(config: &Config) -> Vec<String> {
    let realm = config.realm();
    config
        .users
        .iter()
        .enumerate()
        .filter_map(|(i, u)| {
            let ha1 = match (&u.password, &u.ha1) {
                (Some(p), _) => Ha1::from_password(&u.alias, realm, p),
                (None, Some(h)) => Ha1::from_hex(h)?,
                (None, None) => return None,
            };
            let from = if u.password.is_some() {
                "password"
            } else {
                "ha1"
            };
            match ha1.librvp_compatible() {
                c @ LibrvpCompat::Incompatible { .. } => Some(format!(
                    "user {alias} (users[{i}].{from}): {c} (realm {realm:?}, username {alias:?})",
                    alias = u.alias
                )),
                _ => None,
            }
        })
        .collect()
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: redirected to a file, the log stays plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Standard output is the CLI's product here (config dumps, the start-up banner).
#[allow(clippy::print_stdout)]
fn out(text: &str) {
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
}

#[allow(clippy::print_stderr)]
fn err(text: &str) {
    eprintln!("{text}");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn banner_warns_about_users_librvp_cannot_sign_on_as() {
        let config = Config::from_toml_str(
            "[[users]]\nalias = \"alice\"\npassword = \"secret\"\n\
             [[users]]\nalias = \"bob\"\npassword = \"bob-pw\"\n",
            "test",
        )
        .unwrap();
        let text = banner(&config, &[SocketAddr::from(([127, 0, 0, 1], 8080))], false);
        let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("WARNING")).collect();
        assert_eq!(warnings.len(), 1, "{text}");
        assert!(
            warnings[0].contains("user alice") && warnings[0].contains("librvp cannot sign on"),
            "{text}"
        );
        let demo = Config::embedded_default().unwrap();
        assert!(librvp_warnings(&demo).is_empty());
    }
}
