//! G11: idle keep-alive client connections held by one `rvp-server`, and the server
//! memory each one costs.
//!
//! Connections are opened from `ips` loopback source addresses, `OPEN_AT_ONCE` at a time;
//! each sends one request (a PROPFIND of `u0`'s state, assertion-only mode) and reads its
//! answer, then stays open doing nothing: what a signed-on client's kept-alive connection
//! looks like between two requests. A connection that never sends a request is not a
//! keep-alive connection: the server closes it after `header_read_timeout` (10 s).
//! Sizes are reached one after the other on the same server (connections are added); at
//! each, after a pause, the server's resident memory is read. After the last size and a
//! hold, every connection sends a second request: the ones answered were held.
//!
//! The server's `[limits] idle_timeout` is raised to 10 minutes for this part (default
//! 60 s: it would close the idle connections it is asked to hold), `max_connections` and
//! `max_connections_per_ip` to fit the largest size (defaults 512 and 64).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::net::{self, Conn};
use crate::server;

/// Connections being opened at once.
const OPEN_AT_ONCE: usize = 64;
/// Pause after a size is reached, before memory is read.
const SETTLE: Duration = Duration::from_secs(3);

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) sizes: Vec<usize>,
    pub(crate) ips: usize,
    pub(crate) hold: Duration,
    pub(crate) nofile: u64,
}

/// One size reached.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) open: usize,
    pub(crate) failed: usize,
    pub(crate) open_secs: f64,
    pub(crate) rss_kib: u64,
    pub(crate) server_fds: usize,
    pub(crate) metrics: Vec<String>,
}

/// The whole part.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) rss0_kib: u64,
    pub(crate) steps: Vec<Step>,
    pub(crate) held_checked: usize,
    pub(crate) held_ok: usize,
    pub(crate) hold_secs: f64,
    pub(crate) first_error: Option<String>,
    pub(crate) stopped_early: Option<String>,
}

fn propfind() -> Vec<u8> {
    let body = "<?xml version=\"1.0\"?><d:propfind xmlns:d=\"DAV:\" \
                xmlns:r=\"http://schemas.microsoft.com/rvp/\"><d:prop><r:state/></d:prop>\
                </d:propfind>";
    format!(
        "PROPFIND /instmsg/aliases/u0 HTTP/1.1\r\nHost: localhost\r\n\
         RVP-Notifications-Version: 0.2\r\nRVP-From-Principal: {}\r\nDepth: 0\r\n\
         Content-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        server::url(1),
        body.len()
    )
    .into_bytes()
}

/// Opens `count` connections (connection `k` from `ips[k % len]`), each answered once.
async fn open(
    server: SocketAddr,
    ips: &[IpAddr],
    from: usize,
    count: usize,
    request: &[u8],
) -> (Vec<Conn>, usize, Option<String>) {
    let mut conns = Vec::with_capacity(count);
    let mut failed = 0;
    let mut first_error = None;
    let mut k = from;
    let end = from + count;
    while k < end {
        let batch = OPEN_AT_ONCE.min(end - k);
        let tasks: Vec<_> = (k..k + batch)
            .map(|j| {
                let ip = ips[j % ips.len()];
                let request = request.to_vec();
                tokio::spawn(async move {
                    let mut c = Conn::open(ip, server).await?;
                    let (reply, _) = c.exchange(&request, false).await.map_err(|e| e.error)?;
                    if reply.status != 207 || reply.closes {
                        return Err(io::Error::other(format!(
                            "answered {} (closes: {})",
                            reply.status, reply.closes
                        )));
                    }
                    Ok(c)
                })
            })
            .collect();
        for t in tasks {
            match t.await {
                Ok(Ok(c)) => conns.push(c),
                Ok(Err(e)) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        k += batch;
    }
    (conns, failed, first_error)
}

/// Sends one more request on every connection; how many were answered `207`.
async fn check(conns: Vec<Conn>, request: &[u8]) -> usize {
    let mut ok = 0;
    let mut rest = conns;
    while !rest.is_empty() {
        let batch: Vec<Conn> = rest.drain(..OPEN_AT_ONCE.min(rest.len())).collect();
        let tasks: Vec<_> = batch
            .into_iter()
            .map(|mut c| {
                let request = request.to_vec();
                tokio::spawn(async move {
                    matches!(c.exchange(&request, false).await, Ok((r, _)) if r.status == 207)
                })
            })
            .collect();
        for t in tasks {
            if matches!(t.await, Ok(true)) {
                ok += 1;
            }
        }
    }
    ok
}

pub(crate) fn run(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    options: &Options,
) -> io::Result<Outcome> {
    let largest = options.sizes.iter().copied().max().unwrap_or(0);
    let ips = net::source_ips(options.ips.max(1));
    let server = server::start(
        bin,
        dir,
        &server::Options {
            users: 2,
            require_auth: false,
            max_connections: largest + 1024,
            max_connections_per_ip: largest.div_ceil(ips.len()) + 64,
            idle_timeout: "10m",
            nofile: options.nofile,
        },
    )?;
    let request = propfind();
    let mut out = Outcome::default();
    let mut conns: Vec<Conn> = Vec::new();
    // One request first, so that what the server allocates once is in the base figure.
    let (warm, _, err) = rt.block_on(open(server.addr, &ips, 0, 1, &request));
    if warm.is_empty() {
        return Err(io::Error::other(format!(
            "the first PROPFIND failed: {}",
            err.unwrap_or_default()
        )));
    }
    drop(warm);
    std::thread::sleep(SETTLE);
    out.rss0_kib = server.rss_kib();
    let mut sizes = options.sizes.clone();
    sizes.sort_unstable();
    for target in sizes {
        if target <= conns.len() {
            continue;
        }
        let t = Instant::now();
        let from = conns.len();
        let (more, failed, err) =
            rt.block_on(open(server.addr, &ips, from, target - from, &request));
        let open_secs = t.elapsed().as_secs_f64();
        conns.extend(more);
        if out.first_error.is_none() {
            out.first_error = err;
        }
        std::thread::sleep(SETTLE);
        let step = Step {
            open: conns.len(),
            failed,
            open_secs,
            rss_kib: server.rss_kib(),
            server_fds: net::fd_count(server.pid),
            metrics: rt.block_on(net::metrics(
                server.admin,
                &["rvp_connections_open", "rvp_connections_refused_total"],
            )),
        };
        crate::note(&format!(
            "   ... {} connections open ({} failed) in {:.1} s",
            step.open, step.failed, step.open_secs
        ));
        out.steps.push(step);
        if failed > 0 {
            out.stopped_early = Some(format!(
                "{failed} connections could not be opened at {target}"
            ));
            break;
        }
    }
    let t = Instant::now();
    std::thread::sleep(options.hold);
    out.hold_secs = t.elapsed().as_secs_f64();
    out.held_checked = conns.len();
    out.held_ok = rt.block_on(check(conns, &request));
    drop(server);
    Ok(out)
}
