//! G9: a login storm — `clients` concurrent clients, each signing users on one after the
//! other as fast as it can, every login a fresh client: a new TCP connection from one of
//! the loopback source addresses, a new [`rvp_client::Session`] and a new Digest state,
//! the full sign-on sequence (login SUBSCRIBE answered `401`, then again with Digest;
//! PROPPATCH of the state; PROPFIND of the own properties; SUBSCRIPTIONS; ACL read;
//! self-watch SUBSCRIBE), then the connection is closed. The users stay signed on.
//!
//! The same client code runs against `rvp-server` and against the hyper baseline of
//! `baseline.rs` (copies of `rvp-server`'s answers to the same steps), so both sides do
//! the same client work. Each size: baseline, `rvp-server`, baseline again; the ratio is
//! `rvp-server`'s rate over the mean of the two baseline rates.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rvp_client::digest::{Challenge, DigestAuth};
use rvp_client::{Event, RequestKind, Session, SessionConfig};
use rvp_proto::codec::{RequestParser, Status};
use rvp_proto::url::{LocalNodeUrl, LogicalUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::net::{self, Conn};
use crate::server;
use crate::stats::Samples;

/// What one storm measured.
#[derive(Debug, Default)]
pub(crate) struct Storm {
    pub(crate) ok: usize,
    pub(crate) failed: usize,
    pub(crate) secs: f64,
    pub(crate) latency: Samples,
    pub(crate) first_error: Option<String>,
}

impl Storm {
    pub(crate) fn per_sec(&self) -> f64 {
        net::lossy(u64::try_from(self.ok).unwrap_or(0)) / self.secs
    }
}

/// Answers per step of one sign-on, raw (for the baseline).
pub(crate) type Recorded = Vec<(&'static str, Vec<u8>)>;

/// The call-back listeners of the storm: one per source address, shared by the users
/// signing on from it (the sign-on sequence makes the server send nothing to them; what
/// arrives is answered `200` and counted).
#[derive(Debug)]
pub(crate) struct Callbacks {
    pub(crate) urls: Vec<LocalNodeUrl>,
    pub(crate) received: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Callbacks {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Callbacks {
    pub(crate) async fn start(ips: &[IpAddr]) -> io::Result<Callbacks> {
        let received = Arc::new(AtomicU64::new(0));
        let mut urls = Vec::new();
        let mut tasks = Vec::new();
        for ip in ips {
            let l = TcpListener::bind((*ip, 0)).await?;
            urls.push(
                format!("http://{}", l.local_addr()?)
                    .parse()
                    .map_err(|e| io::Error::other(format!("call-back URL: {e:?}")))?,
            );
            let received = Arc::clone(&received);
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((s, _)) = l.accept().await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    tokio::spawn(answer_all(s, Arc::clone(&received)));
                }
            }));
        }
        Ok(Callbacks {
            urls,
            received,
            tasks,
        })
    }
}

async fn answer_all(mut s: TcpStream, received: Arc<AtomicU64>) {
    let mut buf = Vec::new();
    let mut parser = RequestParser::default();
    loop {
        let used = match parser.parse(&buf) {
            Ok(Status::Complete(m)) => Some(m.consumed()),
            Ok(Status::Partial) => None,
            Err(_) => return,
        };
        if let Some(used) = used {
            buf.drain(..used);
            received.fetch_add(1, Ordering::Relaxed);
            if s.write_all(b"HTTP/1.1 200 Successful\r\nContent-Length: 0\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        match tokio::time::timeout(Duration::from_secs(30), s.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// The baseline step name of a request (see `baseline.rs`).
fn step(kind: &RequestKind, authorized: bool) -> &'static str {
    if !authorized {
        return "challenge";
    }
    match kind {
        RequestKind::Login => "login",
        RequestKind::SetState { .. } => "state",
        RequestKind::Watchers => "watchers",
        RequestKind::ReadAcl => "acl",
        RequestKind::Watch { .. } => "watch",
        _ => "props",
    }
}

/// One login of user `i` from `ip`: connect, the whole sign-on, close. The time it took,
/// or why it failed. With `record`, every answer is kept raw under its step name.
pub(crate) async fn login(
    server: SocketAddr,
    ip: IpAddr,
    callback: &LocalNodeUrl,
    i: usize,
    mut record: Option<&mut Recorded>,
) -> Result<Duration, String> {
    let started = Instant::now();
    let me: LogicalUrl = server::url(i)
        .parse()
        .map_err(|e| format!("user URL: {e:?}"))?;
    let mut config = SessionConfig::new(me);
    config.seed = u64::try_from(i).unwrap_or(0) + 1;
    let mut session = Session::new(config).map_err(|e| e.to_string())?;
    let mut auth = DigestAuth::new(server::alias(i), server::PASSWORD);
    let mut conn = Some(
        Conn::open(ip, server)
            .await
            .map_err(|e| format!("connect: {e}"))?,
    );
    session
        .sign_on(Instant::now(), callback.clone())
        .map_err(|e| e.to_string())?;
    for _ in 0..32 {
        while let Some(event) = session.poll_event() {
            match event {
                Event::SignedOn { .. } => return Ok(started.elapsed()),
                Event::SignOnFailed { reason } => return Err(format!("sign-on: {reason}")),
                _ => {}
            }
        }
        let Some(request) = session.poll_transmit() else {
            return Err("the session stopped before signing on".into());
        };
        let mut challenged = false;
        let reply = loop {
            let cnonce = session.cnonce();
            let authorization = auth
                .authorization(request.method().as_str(), request.target(), &cnonce)
                .map_err(|e| e.to_string())?;
            let mut bytes = Vec::with_capacity(512);
            request.write(authorization.as_deref(), &mut bytes);
            let c = match conn.as_mut() {
                Some(c) => c,
                None => conn.insert(
                    Conn::open(ip, server)
                        .await
                        .map_err(|e| format!("connect: {e}"))?,
                ),
            };
            let (reply, raw) = c
                .exchange(&bytes, record.is_some())
                .await
                .map_err(|e| format!("{:?}: {}", request.kind(), e.error))?;
            if reply.closes {
                conn = None;
            }
            if let (Some(rec), Some(raw)) = (record.as_deref_mut(), raw) {
                rec.push((step(request.kind(), authorization.is_some()), raw));
            }
            if reply.status == 401 && !challenged {
                challenged = true;
                let c = Challenge::select(reply.challenges.iter().map(String::as_str))
                    .map_err(|e| e.to_string())?;
                auth.accept_challenge(c);
                continue;
            }
            break reply;
        };
        session.handle_response(Instant::now(), request.id(), &reply);
    }
    Err("more than 32 requests without signing on".into())
}

/// Users `first..first + count` signed on by `clients` concurrent clients.
pub(crate) async fn storm(
    server: SocketAddr,
    ips: &[IpAddr],
    callbacks: &Callbacks,
    first: usize,
    count: usize,
    clients: usize,
) -> Storm {
    let next = Arc::new(AtomicUsize::new(first));
    let end = first + count;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let next = Arc::clone(&next);
        let ip = ips[c % ips.len()];
        let callback = callbacks.urls[c % ips.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut part = Storm::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return part;
                }
                match login(server, ip, &callback, i, None).await {
                    Ok(d) => {
                        part.ok += 1;
                        part.latency.push(d);
                    }
                    Err(e) => {
                        part.failed += 1;
                        part.first_error.get_or_insert(e);
                    }
                }
            }
        }));
    }
    let mut all = Storm::default();
    for t in tasks {
        if let Ok(part) = t.await {
            all.ok += part.ok;
            all.failed += part.failed;
            all.latency.extend(part.latency);
            if all.first_error.is_none() {
                all.first_error = part.first_error;
            }
        }
    }
    all.secs = started.elapsed().as_secs_f64();
    all
}

/// What one size measured.
#[derive(Debug)]
pub(crate) struct SizeResult {
    pub(crate) baseline: [Storm; 2],
    pub(crate) rvp: Storm,
    pub(crate) rss_before_kib: u64,
    pub(crate) rss_after_kib: u64,
    pub(crate) server_cpu: f64,
    pub(crate) metrics: Vec<String>,
}

impl SizeResult {
    pub(crate) fn baseline_per_sec(&self) -> f64 {
        (self.baseline[0].per_sec() + self.baseline[1].per_sec()) / 2.0
    }
}

/// Records `rvp-server`'s answers to one full sign-on (user `probe`) into `dir`, one file
/// per step, for the baseline.
pub(crate) async fn record_answers(
    server: SocketAddr,
    ip: IpAddr,
    callback: &LocalNodeUrl,
    probe: usize,
    dir: &Path,
) -> io::Result<()> {
    let mut rec = Recorded::new();
    login(server, ip, callback, probe, Some(&mut rec))
        .await
        .map_err(|e| io::Error::other(format!("the recording sign-on failed: {e}")))?;
    for name in crate::baseline::STEPS {
        let Some((_, raw)) = rec.iter().find(|(s, _)| *s == name) else {
            return Err(io::Error::other(format!(
                "no answer recorded for the step {name}"
            )));
        };
        std::fs::write(dir.join(name), raw)?;
    }
    Ok(())
}

/// Runs one size against a fresh `rvp-server` with `users` users and the already running
/// baseline at `baseline`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_size(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    users: usize,
    clients: usize,
    ips: &[IpAddr],
    callbacks: &Callbacks,
    baseline: SocketAddr,
    nofile: u64,
) -> io::Result<SizeResult> {
    let server = server::start(
        bin,
        dir,
        &server::Options {
            users,
            require_auth: true,
            max_connections: 2 * clients + 1024,
            max_connections_per_ip: 2 * clients + 64,
            idle_timeout: "60s",
            nofile,
        },
    )?;
    let b0 = rt.block_on(storm(baseline, ips, callbacks, 0, users, clients));
    std::thread::sleep(Duration::from_secs(1));
    let rss_before_kib = server.rss_kib();
    let cpu0 = server.cpu_secs();
    let rvp = rt.block_on(storm(server.addr, ips, callbacks, 0, users, clients));
    let server_cpu = (server.cpu_secs() - cpu0) / rvp.secs;
    std::thread::sleep(Duration::from_secs(2));
    let rss_after_kib = server.rss_kib();
    let metrics = rt.block_on(net::metrics(
        server.admin,
        &[
            "rvp_online_users",
            "rvp_subscriptions",
            "rvp_auth_failures_total",
            "rvp_connections_refused_total",
        ],
    ));
    let b1 = rt.block_on(storm(baseline, ips, callbacks, 0, users, clients));
    Ok(SizeResult {
        baseline: [b0, b1],
        rvp,
        rss_before_kib,
        rss_after_kib,
        server_cpu,
        metrics,
    })
}
