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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rvp_server::admin::Reloader;
use rvp_server::config::{Config, DEFAULT_ORIGIN, DEFAULT_TOML, LogFormat};
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
    let overrides = Overrides {
        listen: cli.listen.clone(),
        storage: cli.storage.clone(),
    };
    overrides.apply(&mut config);
    let origin = cli
        .config
        .as_ref()
        .map_or(DEFAULT_ORIGIN.to_owned(), |p| p.display().to_string());
    if cli.check_config {
        // The [tls] files are read as the server would read them.
        let metrics = std::sync::Arc::new(rvp_server::metrics::Metrics::new());
        if let Err(e) = rvp_server::tls::ServerTls::from_config(&config.tls, &metrics) {
            err(&format!("rvp-server: invalid configuration: {e}"));
            return ExitCode::FAILURE;
        }
        for w in config.librvp_warnings() {
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
    match runtime.block_on(run(config, cli.config.clone(), overrides)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            err(&format!("rvp-server: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// What the command line sets over the configuration file (applied again on reload).
#[derive(Debug, Clone)]
struct Overrides {
    listen: Vec<SocketAddr>,
    storage: Option<PathBuf>,
}

impl Overrides {
    fn apply(&self, config: &mut Config) {
        if !self.listen.is_empty() {
            config.server.listen.clone_from(&self.listen);
        }
        if let Some(path) = &self.storage {
            config.server.storage.clone_from(path);
        }
    }
}

async fn run(config: Config, file: Option<PathBuf>, overrides: Overrides) -> Result<(), String> {
    let demo = file.is_none();
    let (log, log_writer) = ProtocolLog::open(&config.log.protocol_log_target()).map_err(|e| {
        format!(
            "cannot open the protocol log {:?}: {e}",
            config.log.protocol_log
        )
    })?;
    // Handlers first: a SIGTERM right after the banner must stop the server gracefully.
    let signals = shutdown::Signals::install();
    let hangups = Hangups::install();
    let server = HomeServer::start(&config, log)
        .await
        .map_err(|e| e.to_string())?;
    let running = Running {
        addrs: server.local_addrs(),
        tls: server.tls_addrs(),
        admin: server.admin_addr(),
        demo,
    };
    out(&banner(&config, &running));
    tracing::info!(addrs = ?running.addrs, admin = ?running.admin, domain = %config.server.domain, "serving");
    let reloads = tokio::spawn(reload_on_hangup(
        hangups,
        server.reloader(),
        file,
        overrides,
    ));
    let stop = async {
        let signal = signals.recv().await;
        tracing::info!(?signal, "stop requested");
    };
    let result = server.run(stop).await;
    reloads.abort();
    let _ = reloads.await;
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

/// SIGHUP, installed before the server starts (a SIGHUP's default action ends the
/// process: once installed, it only asks for a reload).
struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    fn install() -> Hangups {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::hangup()) {
                Ok(s) => Hangups { signal: Some(s) },
                Err(e) => {
                    tracing::error!("cannot install the SIGHUP handler (no reload): {e}");
                    Hangups { signal: None }
                }
            }
        }
        #[cfg(not(unix))]
        {
            Hangups {}
        }
    }

    /// The next SIGHUP; never, where there is none.
    async fn recv(&mut self) -> Option<()> {
        #[cfg(unix)]
        {
            match &mut self.signal {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            std::future::pending().await
        }
    }
}

/// On each SIGHUP, reads the configuration file again and applies its users and
/// `[policy]` (`rvp_server::admin::reload`); a bad file changes nothing and is logged.
async fn reload_on_hangup(
    mut hangups: Hangups,
    reloader: Reloader,
    file: Option<PathBuf>,
    overrides: Overrides,
) {
    while hangups.recv().await.is_some() {
        let Some(path) = &file else {
            tracing::warn!(
                "SIGHUP: running the embedded demo configuration, there is no file to reload                  (start with --config FILE)"
            );
            continue;
        };
        tracing::info!(file = %path.display(), "SIGHUP: reloading the configuration");
        // The outcome is logged by the reloader; the users in force may deserve a warning.
        if reloader
            .reload_file(path, |c| overrides.apply(c))
            .await
            .is_ok()
        {
            for w in reloader.running().await.librvp_warnings() {
                tracing::warn!("{w}");
            }
        }
    }
}

/// What the server runs on, for the banner.
#[derive(Debug, Clone)]
struct Running {
    /// The addresses bound.
    addrs: Vec<SocketAddr>,
    /// The TLS listener's addresses bound (`[tls] listen`).
    tls: Vec<SocketAddr>,
    /// The admin listener's address, if any.
    admin: Option<SocketAddr>,
    /// The embedded demo configuration (its passwords are printed).
    demo: bool,
}

/// An address a local client can connect to: a wildcard address becomes loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// The start-up banner: built from the configuration running and the addresses bound.
fn banner(config: &Config, running: &Running) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let domain = &config.server.domain;
    let demo = running.demo;
    let _ = writeln!(
        s,
        "rvp-server {}: IM domain `{domain}`, host `{}`",
        env!("CARGO_PKG_VERSION"),
        config.server.host_name
    );
    for a in &running.addrs {
        let _ = writeln!(s, "  listening on http://{a}/");
    }
    for a in &running.tls {
        let _ = writeln!(s, "  listening on https://{a}/ (TLS)");
    }
    if let Some(a) = running.admin {
        let _ = writeln!(
            s,
            "  admin: metrics on http://{}/metrics, health checks /healthz and /readyz",
            reachable(a)
        );
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
        let state = if u.enabled == Some(false) {
            ", disabled: cannot sign in"
        } else {
            ""
        };
        let _ = writeln!(s, "  {}@{domain}  ({secret}{state})", u.alias);
    }
    if config.users.is_empty() {
        let _ = writeln!(
            s,
            "  (none configured: nobody can sign in; add [[users]] to the configuration,\n\
             \x20  `--print-default-config` shows how)"
        );
    }
    let warnings = config.librvp_warnings();
    for w in &warnings {
        let _ = writeln!(s, "WARNING: {w}");
    }
    // The example user: the first enabled one librvp can sign on as, else the first
    // enabled one.
    let enabled = || config.users.iter().filter(|u| u.enabled != Some(false));
    let example = enabled()
        .find(|u| {
            !warnings
                .iter()
                .any(|w| w.starts_with(&format!("user {} ", u.alias)))
        })
        .or_else(|| enabled().next());
    if let (Some(user), Some(&bound)) = (example, running.addrs.first()) {
        let alias = &user.alias;
        let addr = reachable(bound);
        if running.addrs.iter().any(|a| a.port() == 80) {
            let _ = writeln!(
                s,
                "Point a client at it: sign in as {alias}@{domain}; make the name `{domain}`\n\
                 resolve to this machine (clients connect to port 80 of the domain's host)."
            );
        } else {
            let _ = writeln!(
                s,
                "Point a client at it: sign in as {alias}@{domain}. RVP clients connect to port 80 of\n\
                 the domain's host unless an `_rvp._tcp.{domain}` SRV record names another port (only\n\
                 librvp/Pidgin honours it). So either listen on port 80 (`--listen {listen}`, as root\n\
                 or with CAP_NET_BIND_SERVICE), or publish `_rvp._tcp.{domain}. SRV 0 0 {port} <this host>`.",
                listen = SocketAddr::new(bound.ip(), 80),
                port = bound.port()
            );
        }
        // The demo's passwords are printed; otherwise curl asks for it.
        let credentials = match (&user.password, demo) {
            (Some(p), true) => format!("{alias}:{p}"),
            _ => alias.clone(),
        };
        let _ = writeln!(
            s,
            "By hand, {alias} reads its own state (asserting {alias} gets the Digest challenge curl\n\
             answers; a PROPFIND names the properties it wants):\n\
             curl -s -i --digest -u '{credentials}' -X PROPFIND -H 'Depth: 0' -H 'RVP-From-Principal: http://{domain}/instmsg/aliases/{alias}' -H 'Content-Type: text/xml' --data '<d:propfind xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><d:prop><r:state/><d:displayname/></d:prop></d:propfind>' http://{addr}/instmsg/aliases/{alias}"
        );
    }
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

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
        _ => builder
            .with_ansi(colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR"),
            ))
            .try_init(),
    };
}

/// Whether the diagnostics get ANSI colours: only on a terminal (redirected to a file, the
/// log stays plain text), and never when `NO_COLOR` is set to anything but the empty
/// string (no-color.org).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
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

    fn running(addrs: &[&str], demo: bool) -> Running {
        Running {
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            tls: Vec::new(),
            admin: None,
            demo,
        }
    }

    #[test]
    fn colours_only_on_a_terminal_and_never_with_no_color() {
        assert!(colour(true, None));
        assert!(!colour(false, None));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, Some("1".into())));
        // An empty NO_COLOR does not count (no-color.org).
        assert!(colour(true, Some("".into())));
    }

    #[test]
    fn banner_names_the_tls_listener() {
        let config = Config::default();
        let mut r = running(&["127.0.0.1:8080"], false);
        assert!(!banner(&config, &r).contains("TLS"));
        r.tls = vec!["0.0.0.0:443".parse().unwrap()];
        let text = banner(&config, &r);
        assert!(
            text.contains("listening on https://0.0.0.0:443/ (TLS)"),
            "{text}"
        );
    }

    #[test]
    fn banner_names_the_users_and_addresses_that_run() {
        // Only bob, on 0.0.0.0:8081: no alice anywhere, the curl example on loopback.
        let config = Config::from_toml_str(
            "[server]\ndomain = \"example.test\"\n[[users]]\nalias = \"bob\"\npassword = \"s3cret\"\n",
            "test",
        )
        .unwrap();
        let text = banner(&config, &running(&["0.0.0.0:8081"], false));
        assert!(!text.contains("alice"), "{text}");
        assert!(
            !text.contains("s3cret"),
            "no password outside the demo: {text}"
        );
        assert!(text.contains("sign in as bob@example.test"), "{text}");
        assert!(text.contains("listening on http://0.0.0.0:8081/"), "{text}");
        assert!(text.contains("--listen 0.0.0.0:80"), "{text}");
        assert!(text.contains("SRV 0 0 8081"), "{text}");
        assert!(
            text.contains("-u 'bob' ")
                && text.contains("http://127.0.0.1:8081/instmsg/aliases/bob"),
            "{text}"
        );
        // On port 80 (IPv6): no SRV advice; the admin listener is named.
        let mut r = running(&["[::]:80"], false);
        r.admin = Some("127.0.0.1:9180".parse().unwrap());
        let text = banner(&config, &r);
        assert!(!text.contains("SRV"), "{text}");
        assert!(
            text.contains("http://[::1]:80/instmsg/aliases/bob"),
            "{text}"
        );
        assert!(
            text.contains("metrics on http://127.0.0.1:9180/metrics"),
            "{text}"
        );
        // No users: no sign-in advice, no example.
        let empty = Config::from_toml_str("", "test").unwrap();
        let text = banner(&empty, &running(&["127.0.0.1:8080"], false));
        assert!(text.contains("nobody can sign in"), "{text}");
        assert!(!text.contains("Point a client"), "{text}");
        assert!(!text.contains("curl"), "{text}");
        // The demo prints its passwords, in the example too.
        let demo = Config::embedded_default().unwrap();
        let text = banner(&demo, &running(&["127.0.0.1:8080"], true));
        assert!(text.contains("password alice-demo"), "{text}");
        assert!(text.contains("-u 'alice:alice-demo'"), "{text}");
    }

    #[test]
    fn the_example_user_is_one_librvp_can_sign_on_as() {
        let config = Config::from_toml_str(
            "[[users]]\nalias = \"alice\"\npassword = \"secret\"\n\
             [[users]]\nalias = \"bob\"\npassword = \"bob-pw\"\n",
            "test",
        )
        .unwrap();
        let text = banner(&config, &running(&["127.0.0.1:8080"], false));
        assert!(text.contains("sign in as bob@localhost"), "{text}");
    }

    #[test]
    fn banner_warns_about_users_librvp_cannot_sign_on_as() {
        let config = Config::from_toml_str(
            "[[users]]\nalias = \"alice\"\npassword = \"secret\"\n\
             [[users]]\nalias = \"bob\"\npassword = \"bob-pw\"\n",
            "test",
        )
        .unwrap();
        let text = banner(&config, &running(&["127.0.0.1:8080"], false));
        let warnings: Vec<&str> = text.lines().filter(|l| l.starts_with("WARNING")).collect();
        assert_eq!(warnings.len(), 1, "{text}");
        assert!(
            warnings[0].contains("user alice") && warnings[0].contains("librvp cannot sign on"),
            "{text}"
        );
        let demo = Config::embedded_default().unwrap();
        assert!(demo.librvp_warnings().is_empty());
    }
}
