//! Capacity of one `rvp-server` on this machine (issue 12): how many simulated users it
//! keeps online with state changes reaching watchers in time (G8), how fast it signs users
//! on in a login storm (G9), how many idle keep-alive connections it holds and at what
//! memory each (G11) — each at several sizes, so that the cost curve shows. A
//! `harness = false` program that starts the release `rvp-server` binary (build it first:
//! `cargo build --release -p rvp-server`) and drives it from this one process with
//! `rvp-client`'s sans-IO `Session` (no thread per user: a few tokio tasks multiplex the
//! sessions). Server and load share the machine, as Exchange's per-server figures did.
//!
//! # Running
//!
//! ```text
//! cargo build --release -p rvp-server
//! cargo bench --bench capacity                        # all three parts, about 9 minutes
//! RVP_CAPACITY_ONLY=g8  cargo bench --bench capacity  # or g9, or g11
//! RVP_CAPACITY_ONLY=g8 RVP_CAPACITY_G8_USERS=50000,75000 cargo bench --bench capacity
//! ```
//!
//! Knobs (environment; lists are comma-separated sizes):
//!
//! | variable | default | what |
//! |---|---|---|
//! | `RVP_CAPACITY_ONLY` | all | `g8`, `g9` or `g11` |
//! | `RVP_CAPACITY_G8_USERS` | `1000,5000,20000` | G8 sizes (a fresh server each) |
//! | `RVP_CAPACITY_G8_STEADY` | 60 | seconds of state changes and messages per size |
//! | `RVP_CAPACITY_G8_CHANGE_EVERY` | 180 | mean seconds between a user's state changes |
//! | `RVP_CAPACITY_G8_IM_EVERY` | 600 | mean seconds between a user's messages (0: none) |
//! | `RVP_CAPACITY_G8_CONTACTS` | 20 | contacts each user watches (and is watched by) |
//! | `RVP_CAPACITY_G8_SIGNON_TIMEOUT` | 240 | seconds the sign-on of a size may take |
//! | `RVP_CAPACITY_G8_WINDOW` | 64 | users signing on at once per source address |
//! | `RVP_CAPACITY_G8_CALLBACKS` | 40% of (open-file limit − 2,000): 7,200 at 20,000 | call-back destinations (listeners); above it users share them |
//! | `RVP_CAPACITY_G9_USERS` | `2000,10000,30000` | G9 storm sizes (a fresh server each) |
//! | `RVP_CAPACITY_G9_CLIENTS` | 64 | concurrent clients of the storm |
//! | `RVP_CAPACITY_G11_CONNECTIONS` | `5000,10000,18000` | G11 sizes (one server, added up) |
//! | `RVP_CAPACITY_G11_HOLD` | 10 | seconds the connections stay idle after the last size |
//! | `RVP_CAPACITY_IPS` | 64 | loopback source addresses (127.0.1.1, 127.0.1.2, ...) |
//! | `RVP_CAPACITY_CONNS` | 2 | G8: keep-alive connections per lane per source address |
//! | `RVP_CAPACITY_NOFILE` | 1048576 | open-file limit asked for this process and the server (capped by the hard limit without `CAP_SYS_RESOURCE`: 20,000 on the project's machine) |
//! | `RVP_CAPACITY_STORAGE_DIR` | temporary directory | where the server's store goes |
//! | `RVP_SERVER_BIN` | `target/release/rvp-server` | the server binary |
//! | `RVP_CAPACITY_KEEP` | unset | keep the temporary directory (configurations, server output) |
//!
//! Every load is bounded in count and time: G8 signs a fixed number of users on (within
//! the sign-on timeout), then runs for the steady time plus a 10 s drain; G9 signs a fixed
//! number of users on; G11 opens a fixed number of connections. Everything uses
//! 127.0.0.0/8 only. The open-file limits are raised with util-linux `prlimit` (this
//! process with `prlimit --pid`, the server started under `prlimit`): the workspace
//! forbids `unsafe`, and raising a hard limit needs root or `CAP_SYS_RESOURCE`.
//! Temporary files go to `$TMPDIR/rvp-capacity-<pid>` and are removed at the end.
//!
//! # Reading the output
//!
//! * **G8** (target: ≥ 75,000 users online, p99 state change → watcher NOTIFY ≤ 200 ms,
//!   server memory per user reported). Per size: sign-on time; server RSS with the users
//!   configured, after sign-on and at the end, and per user; the steady phase's changes,
//!   NOTIFYs expected (one per change per watcher) and received, latency p50/p99/max,
//!   messages and their deep-acknowledged round trip, CPU of the server and of this
//!   driver (fraction of one core). See `g8.rs` for the scenario.
//! * **G9** (target: ≥ 2,200 logins/s beside the same run's hyper baseline). Per size:
//!   logins/s of the baseline before, `rvp-server`, the baseline after, the ratio, login
//!   p50/p99, server RSS per signed-on user. See `g9.rs` and `baseline.rs`.
//! * **G11** (target: ≥ 50,000 idle keep-alive connections at ≤ 10 KB of server memory
//!   each). Per size: connections open, server RSS growth per connection (from the base
//!   with one connection served, and from the previous size), server descriptors (the
//!   kernel's socket memory is not in the RSS); after the hold, how many connections
//!   still answer. See `g11.rs`.
//!
//! The machine's load average is printed before and after: on this shared 2-core machine
//! the figures move with the neighbours' work.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod baseline;
mod g11;
mod g8;
mod g9;
mod net;
mod server;
mod stats;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Prints a line on stderr (progress and warnings; the results go to stdout).
pub(crate) fn note(s: &str) {
    eprintln!("{s}");
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|s| s.trim().replace('_', "").parse().ok())
                .filter(|&n| n > 0)
                .collect::<Vec<usize>>()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve-baseline") {
        let result = match (args.get(2), args.get(3)) {
            (Some(addr), Some(dir)) => addr
                .parse::<SocketAddr>()
                .map_err(io::Error::other)
                .and_then(|a| baseline::serve(a, Path::new(dir))),
            _ => Err(io::Error::other("usage: serve-baseline ADDR DIR")),
        };
        if let Err(e) = result {
            note(&format!("baseline: {e}"));
            std::process::exit(1);
        }
        return;
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo bench -- --list` and test discovery: nothing to list.
        return;
    }
    let dir = std::env::temp_dir().join(format!("rvp-capacity-{}", std::process::id()));
    let result = std::fs::create_dir_all(&dir).and_then(|()| run(&dir));
    if std::env::var_os("RVP_CAPACITY_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        note(&format!("kept {}", dir.display()));
    }
    if let Err(e) = result {
        note(&format!("capacity: {e}"));
        std::process::exit(1);
    }
}

fn run(dir: &Path) -> io::Result<()> {
    stats::self_check();
    g8::self_check();
    let only = std::env::var("RVP_CAPACITY_ONLY").unwrap_or_default();
    let bin = server::binary()?;
    let nofile = net::raise_nofile(env_u64("RVP_CAPACITY_NOFILE", 1 << 20));
    let ips = env_usize("RVP_CAPACITY_IPS", 64).clamp(1, 250 * 200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!(
        "capacity: rvp-server = {}\nopen-file limit: {nofile} for this process and for the \
         server; {ips} source addresses; {} cores\nload average before: {}",
        bin.display(),
        std::thread::available_parallelism().map_or(0, usize::from),
        net::loadavg()
    );
    if only.is_empty() || only == "g8" {
        g8_part(&rt, &bin, &dir.join("g8"), ips, nofile)?;
    }
    if only.is_empty() || only == "g9" {
        g9_part(&rt, &bin, &dir.join("g9"), ips, nofile)?;
    }
    if only.is_empty() || only == "g11" {
        g11_part(&rt, &bin, &dir.join("g11"), ips, nofile)?;
    }
    println!("\nload average after: {}", net::loadavg());
    Ok(())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", net::lossy(kib) / 1024.0)
}

/// KiB per item of a growth from `before` to `after` (negative growth shown as such).
fn per(before: u64, after: u64, items: usize) -> f64 {
    let grown = net::lossy(after.saturating_sub(before)) - net::lossy(before.saturating_sub(after));
    grown / net::lossy(u64::try_from(items.max(1)).unwrap_or(1))
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn g8_part(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    ips: usize,
    nofile: u64,
) -> io::Result<()> {
    let sizes = env_list("RVP_CAPACITY_G8_USERS", &[1000, 5000, 20_000]);
    // Each destination costs this driver a listener and a delivery connection, and the
    // server a delivery connection: 40% of the open-file limit after a reserve.
    let default_callbacks = usize::try_from(nofile.saturating_sub(2000) * 4 / 10)
        .unwrap_or(usize::MAX)
        .max(256);
    let options = |users| g8::Options {
        users,
        ips,
        conns: env_usize("RVP_CAPACITY_CONNS", 2).max(1),
        contacts: env_usize("RVP_CAPACITY_G8_CONTACTS", 20).max(1),
        change_every: Duration::from_secs(env_u64("RVP_CAPACITY_G8_CHANGE_EVERY", 180).max(1)),
        im_every: Duration::from_secs(env_u64("RVP_CAPACITY_G8_IM_EVERY", 600)),
        steady: Duration::from_secs(env_u64("RVP_CAPACITY_G8_STEADY", 60).max(1)),
        signon_timeout: Duration::from_secs(env_u64("RVP_CAPACITY_G8_SIGNON_TIMEOUT", 240)),
        window: env_usize("RVP_CAPACITY_G8_WINDOW", 64).max(1),
        callbacks: env_usize("RVP_CAPACITY_G8_CALLBACKS", default_callbacks).max(1),
        nofile,
    };
    let o = options(0);
    println!(
        "\n== G8: simulated users on one rvp-server (Digest), {} contacts each, a state change \
         every {} s and a message every {} s per user on average (Poisson), {} s steady per size",
        o.contacts,
        o.change_every.as_secs(),
        o.im_every.as_secs(),
        o.steady.as_secs()
    );
    let mut rows = Vec::new();
    for (k, &users) in sizes.iter().enumerate() {
        let o = options(users);
        let destinations = o.callbacks.min(users);
        println!(
            "\n-- {users} users, {destinations} call-back destinations ({:.1} users each) \
             (load average {})",
            net::lossy(u64::try_from(users).unwrap_or(0))
                / net::lossy(u64::try_from(destinations).unwrap_or(1)),
            net::loadavg()
        );
        let mut r = match g8::run(rt, bin, &dir.join(format!("size{k}")), &o) {
            Ok(r) => r,
            Err(e) => {
                println!("   FAILED: {e}");
                rows.push(format!("   {users:>7}  failed: {e}"));
                break;
            }
        };
        let st = &mut r.stats;
        let expected = st.changes * u64::try_from(o.contacts).unwrap_or(0);
        let delivered = u64::try_from(st.latency.len()).unwrap_or(0);
        let lost = expected.saturating_sub(delivered);
        println!(
            "   sign-on (login to last watch placed): {} of {users} on in {:.1} s ({:.0} users/s), \
             {} failed; CPU server {}, this driver {}",
            r.signed_on,
            r.signon_secs,
            net::lossy(u64::try_from(r.signed_on).unwrap_or(0)) / r.signon_secs,
            r.signon_failed,
            pct(r.signon_server_cpu),
            pct(r.signon_driver_cpu)
        );
        println!(
            "   server RSS: {} with the users configured, {} signed on ({:.2} KiB per user), \
             {} at the end ({:.2} KiB per user from configured); {} descriptors",
            mib(r.rss_configured_kib),
            mib(r.rss_signed_on_kib),
            per(r.rss_configured_kib, r.rss_signed_on_kib, users),
            mib(r.rss_end_kib),
            per(r.rss_configured_kib, r.rss_end_kib, users),
            r.server_fds
        );
        println!(
            "   steady {:.0} s: {} changes ({:.1}/s), NOTIFYs expected {expected}, counted \
             {delivered}, lost {lost} ({:.3}%), stale {}, duplicate {}; NOTIFYs received in all \
             {} (self-watches and messages included)",
            r.steady_secs,
            st.changes,
            net::lossy(st.changes) / r.steady_secs,
            100.0 * net::lossy(lost) / net::lossy(expected.max(1)),
            st.stale,
            st.duplicate,
            st.notifies
        );
        let p99 = st.latency.quantile(990);
        let met = p99.is_some_and(|p| p <= Duration::from_millis(200))
            && r.signed_on == users
            && lost * 1000 <= expected;
        println!(
            "   state change -> watcher NOTIFY: {}  (target p99 <= 200 ms with everyone on and \
             under 0.1% lost: {})",
            st.latency.summary(),
            if met { "met" } else { "NOT met" }
        );
        println!(
            "   messages: {} sent, {} delivered, {} not delivered; round trip (deep ack) {}",
            st.im_sent,
            st.im_delivered,
            st.im_failed,
            st.im_latency.summary()
        );
        println!(
            "   CPU during the steady phase: server {} of a core, this driver {}; driver lag \
             (action due -> done) {}",
            pct(r.server_cpu),
            pct(r.driver_cpu),
            st.lag.summary()
        );
        println!(
            "   401 challenges answered {}, transport failures {}, watches failed {}, logins \
             lost {}, warnings {}, refused actions {}, NOTIFYs for no known login {}{}",
            st.challenges,
            st.transport_failures,
            st.watch_failed,
            st.disconnected,
            st.warnings,
            st.refused_actions,
            st.unroutable,
            st.first_error
                .as_deref()
                .map(|e| format!("; first problem: {e}"))
                .unwrap_or_default()
        );
        println!("   server metrics: {}", r.metrics.join(", "));
        rows.push(format!(
            "   {users:>7} {:>7} {:>8.1} {:>9.2} {:>9.2} {:>8} {:>8} {:>8} {:>7.3}% {:>6} {:>6}  {}",
            r.signed_on,
            r.signon_secs,
            per(r.rss_configured_kib, r.rss_signed_on_kib, users),
            per(r.rss_configured_kib, r.rss_end_kib, users),
            ms(st.latency.quantile(500)),
            ms(p99),
            ms(st.latency.quantile(1000)),
            100.0 * net::lossy(lost) / net::lossy(expected.max(1)),
            pct(r.server_cpu),
            pct(r.driver_cpu),
            if met { "met" } else { "NOT met" }
        ));
    }
    println!(
        "\n   G8 summary (KiB/user: server RSS growth from configured to signed on, and to \
         the end of the steady phase)\n     users  on   sign-on s  KiB/user  KiB/user@end   \
         p50      p99      max    lost    srvCPU drvCPU"
    );
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.1}ms", d.as_secs_f64() * 1e3))
}

/// The baseline child process (this bench binary again, `serve-baseline ADDR DIR`).
struct Baseline {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_baseline(dir: &Path) -> io::Result<Baseline> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let child = Command::new(std::env::current_exe()?)
        .arg("serve-baseline")
        .arg(addr.to_string())
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("baseline.stderr"))?)
        .spawn()?;
    let b = Baseline { child, addr };
    for _ in 0..200 {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(b);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(io::Error::other("the hyper baseline did not start"))
}

fn g9_part(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    ips: usize,
    nofile: u64,
) -> io::Result<()> {
    let sizes = env_list("RVP_CAPACITY_G9_USERS", &[2000, 10_000, 30_000]);
    let clients = env_usize("RVP_CAPACITY_G9_CLIENTS", 64).max(1);
    let addrs = net::source_ips(ips.min(clients));
    std::fs::create_dir_all(dir)?;
    let callbacks = rt.block_on(g9::Callbacks::start(&addrs))?;
    // rvp-server's answers to one sign-on, copied by the baseline.
    let answers = dir.join("answers");
    std::fs::create_dir_all(&answers)?;
    {
        let rec = server::start(
            bin,
            &dir.join("record"),
            &server::Options {
                users: 1,
                require_auth: true,
                max_connections: 512,
                max_connections_per_ip: 64,
                idle_timeout: "60s",
                nofile,
            },
        )?;
        rt.block_on(g9::record_answers(
            rec.addr,
            addrs[0],
            &callbacks.urls[0],
            0,
            &answers,
        ))?;
    }
    let base = start_baseline(&answers)?;
    println!(
        "\n== G9: login storm, {clients} concurrent clients from {} source addresses, each \
         login a new connection and the full sign-on with Digest (7 requests: SUBSCRIBE 401, \
         SUBSCRIBE, PROPPATCH, PROPFIND, SUBSCRIPTIONS, ACL, SUBSCRIBE self-watch); baseline: \
         hyper answering copies of rvp-server's answers",
        addrs.len()
    );
    let mut rows = Vec::new();
    for (k, &users) in sizes.iter().enumerate() {
        println!("\n-- {users} logins (load average {})", net::loadavg());
        let r = match g9::run_size(
            rt,
            bin,
            &dir.join(format!("size{k}")),
            users,
            clients,
            &addrs,
            &callbacks,
            base.addr,
            nofile,
        ) {
            Ok(r) => r,
            Err(e) => {
                println!("   FAILED: {e}");
                break;
            }
        };
        let show = |name: &str, s: &mut g9::Storm| {
            println!(
                "   {name:<16} {:>7} ok {:>5} failed in {:>6.2} s = {:>7.0} logins/s   login {}{}",
                s.ok,
                s.failed,
                s.secs,
                s.per_sec(),
                s.latency.summary(),
                s.first_error
                    .as_deref()
                    .map(|e| format!("  first failure: {e}"))
                    .unwrap_or_default()
            );
        };
        let mut r = r;
        let [b0, b1] = &mut r.baseline;
        show("hyper baseline", b0);
        show("rvp-server", &mut r.rvp);
        show("hyper baseline", b1);
        let ratio = r.rvp.per_sec() / r.baseline_per_sec();
        let met = r.rvp.per_sec() >= 2200.0 && r.rvp.failed == 0;
        println!(
            "   rvp-server {:.0} logins/s = {ratio:.2}x the baseline's {:.0} (mean of before and \
             after); target >= 2,200 logins/s: {}; server CPU {} of a core during the storm",
            r.rvp.per_sec(),
            r.baseline_per_sec(),
            if met { "met" } else { "NOT met" },
            pct(r.server_cpu)
        );
        println!(
            "   server RSS {} before, {} after: {:.2} KiB per signed-on user; metrics: {}",
            mib(r.rss_before_kib),
            mib(r.rss_after_kib),
            per(r.rss_before_kib, r.rss_after_kib, r.rvp.ok),
            r.metrics.join(", ")
        );
        rows.push(format!(
            "   {users:>7} {:>10.0} {:>10.0} {:>7.2}x {:>9} {:>9} {:>9.2} {:>7}  {}",
            r.baseline_per_sec(),
            r.rvp.per_sec(),
            ratio,
            ms(r.rvp.latency.quantile(500)),
            ms(r.rvp.latency.quantile(990)),
            per(r.rss_before_kib, r.rss_after_kib, r.rvp.ok),
            pct(r.server_cpu),
            if met { "met" } else { "NOT met" }
        ));
    }
    println!(
        "\n   G9 summary\n     users  hyper/s    rvp/s    ratio   login p50  login p99  \
         KiB/user  srvCPU"
    );
    for row in rows {
        println!("{row}");
    }
    println!(
        "   NOTIFYs that reached the storm's call-backs: {} (the sign-on causes none)",
        callbacks
            .received
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    drop(base);
    Ok(())
}

fn g11_part(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    ips: usize,
    nofile: u64,
) -> io::Result<()> {
    let options = g11::Options {
        sizes: env_list("RVP_CAPACITY_G11_CONNECTIONS", &[5000, 10_000, 18_000]),
        ips,
        hold: Duration::from_secs(env_u64("RVP_CAPACITY_G11_HOLD", 10)),
        nofile,
    };
    println!(
        "\n== G11: idle keep-alive connections (one PROPFIND each, then idle) from {ips} source \
         addresses; server idle_timeout 10m for this part"
    );
    let r = g11::run(rt, bin, dir, &options)?;
    println!("   base: server RSS {} after one request", mib(r.rss0_kib));
    println!(
        "   connections  opened in  server RSS   KiB/conn (from base)  KiB/conn (from previous)  \
         server fds"
    );
    let mut prev: Option<&g11::Step> = None;
    for s in &r.steps {
        let from_prev = prev.map_or_else(
            || "-".into(),
            |p| format!("{:.2}", per(p.rss_kib, s.rss_kib, s.open - p.open)),
        );
        let per_conn = per(r.rss0_kib, s.rss_kib, s.open);
        println!(
            "   {:>11} {:>8.1} s {:>12} {:>12.2} ({:.1} KB) {:>20} {:>12}   {}{}",
            s.open,
            s.open_secs,
            mib(s.rss_kib),
            per_conn,
            per_conn * 1.024,
            from_prev,
            s.server_fds,
            s.metrics.join(", "),
            if s.failed > 0 {
                format!("  ({} failed)", s.failed)
            } else {
                String::new()
            }
        );
        prev = Some(s);
    }
    if let Some(e) = &r.first_error {
        println!("   first failure: {e}");
    }
    if let Some(e) = &r.stopped_early {
        println!("   stopped: {e}");
    }
    let last = r.steps.last();
    let per_conn = last.map_or(f64::NAN, |s| per(r.rss0_kib, s.rss_kib, s.open));
    let met = last.is_some_and(|s| s.open >= 50_000)
        && r.held_ok == r.held_checked
        && per_conn * 1.024 <= 10.0;
    println!(
        "   after {:.0} s idle: {} of {} connections answered a second request; target >= \
         50,000 held at <= 10 KB of server memory each: {}",
        r.hold_secs,
        r.held_ok,
        r.held_checked,
        if met { "met" } else { "NOT met" }
    );
    Ok(())
}
