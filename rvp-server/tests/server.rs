//! The connection layer over real TCP on 127.0.0.1: keep-alive, pipelining, framing
//! errors, limits, time-outs, shutdown. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use rvp_proto::codec::{ResponseParser, Status};
use rvp_server::conn::ConnLimits;
use rvp_server::engine::{self, Core, CoreOutput, EngineHandle, RequestId};
use rvp_server::listener::{ServeReport, Server};
use rvp_server::log::ProtocolLog;
use rvp_server::service::{Handler, LogPrincipal, Peer, Request, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Bound on every single wait in these tests.
const WAIT: Duration = Duration::from_secs(10);

/// Answers `200` with `"<n> <METHOD> <target> <body length>"`; a target `/slow/<ms>`
/// sleeps that long first. Sets the log principal `tester`.
#[derive(Default)]
struct TestHandler {
    count: AtomicU64,
}

impl Handler for TestHandler {
    async fn handle(&self, _peer: Peer, request: Request, _now: Instant) -> Response {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        let target = request.target().to_owned();
        if let Some(ms) = target.strip_prefix("/slow/") {
            let ms: u64 = ms.parse().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if let Some(n) = target.strip_prefix("/big/") {
            return Response::new(Bytes::from(vec![b'z'; n.parse().unwrap_or(0)]));
        }
        let body = format!("{n} {} {target} {}", request.method, request.body().len());
        let mut res = Response::new(Bytes::from(body));
        res.extensions_mut().insert(LogPrincipal("tester".into()));
        res
    }
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<ServeReport>,
}

impl Running {
    async fn stop(mut self) -> ServeReport {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("server stops")
            .unwrap()
    }
}

async fn start_with<H: Handler>(handler: H, limits: ConnLimits, log: ProtocolLog) -> Running {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(&[addr], handler, limits, log).await.unwrap();
    let addr = server.local_addrs()[0];
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

async fn start(limits: ConnLimits) -> Running {
    start_with(TestHandler::default(), limits, ProtocolLog::off()).await
}

fn limits() -> ConnLimits {
    ConnLimits::default()
}

/// One parsed response, with its raw head for byte-exact checks.
#[derive(Debug)]
struct Resp {
    code: u16,
    head: String,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// Every response must carry these, spelt exactly so.
    fn check_framing(&self) {
        assert!(
            self.head.contains("\r\nRVP-Notifications-Version: 0.2\r\n"),
            "{}",
            self.head
        );
        assert!(self.head.contains("\r\nContent-Length: "), "{}", self.head);
        assert!(
            !self.head.to_ascii_lowercase().contains("transfer-encoding"),
            "{}",
            self.head
        );
    }
}

/// A client connection with its own read buffer.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one response; `None` on EOF (or reset) before a complete one.
    async fn read(&mut self) -> Option<Resp> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut parser = ResponseParser::default();
            if let Ok(Status::Complete(msg)) = parser.parse(&self.buf, false) {
                let head_len = msg.head().head_len();
                let resp = Resp {
                    code: msg.head().code(),
                    head: String::from_utf8_lossy(&self.buf[..head_len]).into_owned(),
                    body: String::from_utf8_lossy(msg.body()).into_owned(),
                };
                let used = msg.consumed();
                self.buf.drain(..used);
                return Some(resp);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                .await
                .expect("bounded read")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// True once the server has closed the connection (EOF or reset), within WAIT.
    async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

fn req(method: &str, target: &str, extra: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: 0\r\n\r\n")
        .into_bytes()
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    let server = start(limits()).await;
    let mut c = Client::connect(server.addr).await;
    for (i, method) in ["SUBSCRIBE", "PROPFIND", "PROPPATCH", "ACL"]
        .iter()
        .enumerate()
    {
        c.send(&req(method, "/instmsg/aliases/alice", "")).await;
        let r = c.read().await.expect("answer");
        r.check_framing();
        assert!(
            r.head.starts_with("HTTP/1.1 200 Successful\r\n"),
            "{}",
            r.head
        );
        assert_eq!(
            r.body,
            format!("{} {method} /instmsg/aliases/alice 0", i + 1)
        );
        assert_eq!(r.header("connection"), None);
    }
    let report = server.stop().await;
    assert_eq!((report.connections, report.aborted), (1, 0));
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let mut l = limits();
    l.max_pipelined = 4;
    let server = start(l).await;
    let mut c = Client::connect(server.addr).await;
    let mut wire = Vec::new();
    for i in 0..25 {
        wire.extend(req("NOTIFY", &format!("/instmsg/aliases/u{i}"), ""));
    }
    c.send(&wire).await;
    for i in 0..25 {
        let r = c.read().await.expect("answer");
        r.check_framing();
        assert_eq!(r.body, format!("{} NOTIFY /instmsg/aliases/u{i} 0", i + 1));
    }
    server.stop().await;
}

#[tokio::test]
async fn one_request_per_connection_clients() {
    let server = start(limits()).await;
    // HTTP/1.1 with Connection: close.
    let mut c = Client::connect(server.addr).await;
    c.send(&req(
        "SUBSCRIPTIONS",
        "/instmsg/aliases/bob",
        "Connection: close\r\n",
    ))
    .await;
    let r = c.read().await.expect("answer");
    r.check_framing();
    assert_eq!(r.code, 200);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(c.closed().await);
    // HTTP/1.0 without keep-alive.
    let mut c = Client::connect(server.addr).await;
    c.send(b"ACL /instmsg/aliases/bob HTTP/1.0\r\n\r\n").await;
    let r = c.read().await.expect("answer");
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(c.closed().await);
    // HTTP/1.0 asking for keep-alive keeps it.
    let mut c = Client::connect(server.addr).await;
    for _ in 0..2 {
        c.send(b"ACL /instmsg/aliases/bob HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .await;
        let r = c.read().await.expect("answer");
        assert_eq!(r.header("connection").as_deref(), Some("keep-alive"));
    }
    server.stop().await;
}

#[tokio::test]
async fn bare_lf_requests_are_accepted() {
    let server = start(limits()).await;
    let mut c = Client::connect(server.addr).await;
    c.send(b"NOTIFY /instmsg/aliases/bob HTTP/1.1\nHost: localhost\nRVP-Hop-Count: 1\nContent-Length: 5\n\nhello")
        .await;
    let r = c.read().await.expect("answer");
    r.check_framing();
    assert_eq!(r.body, "1 NOTIFY /instmsg/aliases/bob 5");
    server.stop().await;
}

/// curl sends `Expect: 100-continue` with bodies over 1 KiB and waits for the interim
/// answer (a second, by default) before sending the body.
#[tokio::test]
async fn expect_100_continue_gets_the_interim_answer_before_the_body() {
    let server = start(limits()).await;
    let mut c = Client::connect(server.addr).await;
    let body = vec![b'm'; 2000];
    let head = |version: &str, expect: &str| {
        format!(
            "NOTIFY /instmsg/aliases/bob {version}\r\nHost: localhost\r\nExpect: {expect}\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes()
    };
    for round in 0..2 {
        c.send(&head("HTTP/1.1", "100-Continue")).await;
        let r = c.read().await.expect("interim answer");
        assert_eq!(r.code, 100, "round {round}: {}", r.head);
        assert!(
            r.head.starts_with("HTTP/1.1 100 Continue\r\n"),
            "{}",
            r.head
        );
        c.send(&body).await;
        let r = c.read().await.expect("final answer");
        assert_eq!(r.code, 200, "{}", r.head);
        assert!(r.body.ends_with(" 2000"), "{}", r.body);
    }
    // Body sent along with the head: no interim answer, only the final one.
    let mut both = head("HTTP/1.1", "100-continue");
    both.extend_from_slice(&body);
    c.send(&both).await;
    let r = c.read().await.expect("final answer");
    assert_eq!(r.code, 200, "{}", r.head);
    drop(c);
    // HTTP/1.0 expectations are ignored (RFC 9110 §10.1.1); the final answer only.
    let mut c = Client::connect(server.addr).await;
    c.send(&head("HTTP/1.0", "100-continue")).await;
    c.send(&body).await;
    let r = c.read().await.expect("final answer");
    assert_eq!(r.code, 200, "{}", r.head);
    // A body over the limit is refused from the head alone: 413, never 100.
    let mut l = limits();
    l.codec = l.codec.with_max_body_bytes(1000);
    let small = start(l).await;
    let mut c = Client::connect(small.addr).await;
    c.send(&head("HTTP/1.1", "100-continue")).await;
    let r = c.read().await.expect("413");
    assert_eq!(r.code, 413, "{}", r.head);
    drop(c);
    small.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413_and_the_server_still_serves() {
    let mut l = limits();
    l.codec = l.codec.with_max_body_bytes(1000);
    let server = start(l).await;
    let mut c = Client::connect(server.addr).await;
    c.send(b"NOTIFY /instmsg/aliases/bob HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")
        .await;
    c.send(&[b'x'; 4000]).await;
    let r = c.read().await.expect("413");
    r.check_framing();
    assert_eq!(r.code, 413);
    assert!(
        r.body.contains("exceeds the limit of 1000 bytes"),
        "{}",
        r.body
    );
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(c.closed().await);
    let mut c = Client::connect(server.addr).await;
    c.send(&req("ACL", "/instmsg/aliases/bob", "")).await;
    assert_eq!(c.read().await.expect("served").code, 200);
    server.stop().await;
}

#[tokio::test]
async fn too_many_headers_is_431_and_oversized_head_too() {
    let mut l = limits();
    l.codec = l.codec.with_max_headers(8).with_max_head_bytes(2048);
    let server = start(l).await;
    let mut c = Client::connect(server.addr).await;
    let extra: String = (0..20).map(|i| format!("X-H{i}: v\r\n")).collect();
    c.send(&req("ACL", "/instmsg/aliases/bob", &extra)).await;
    let r = c.read().await.expect("431");
    r.check_framing();
    assert_eq!(r.code, 431);
    assert!(c.closed().await);
    let mut c = Client::connect(server.addr).await;
    let long = format!("X-Long: {}\r\n", "y".repeat(4000));
    c.send(&req("ACL", "/instmsg/aliases/bob", &long)).await;
    assert_eq!(c.read().await.expect("431").code, 431);
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_a_clear_4xx() {
    let server = start(limits()).await;
    // Broken framing: 400/411, connection closed.
    for (wire, code) in [
        (&b"NOT A REQUEST\r\n\r\n"[..], 400),
        (b"ACL / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
        (b"ACL / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
    ] {
        let mut c = Client::connect(server.addr).await;
        c.send(wire).await;
        let r = c.read().await.expect("answer");
        r.check_framing();
        assert_eq!(r.code, code, "{}", String::from_utf8_lossy(wire));
        assert!(c.closed().await);
    }
    // A malformed RVP header: 400 naming it, and the connection keeps serving.
    let mut c = Client::connect(server.addr).await;
    c.send(&req(
        "NOTIFY",
        "/instmsg/aliases/bob",
        "RVP-Hop-Count: many\r\n",
    ))
    .await;
    let r = c.read().await.expect("400");
    assert_eq!(r.code, 400);
    assert!(r.body.contains("RVP-Hop-Count"), "{}", r.body);
    c.send(&req("ACL", "/instmsg/aliases/bob", "")).await;
    assert_eq!(c.read().await.expect("next").code, 200);
    server.stop().await;
}

#[tokio::test]
async fn unsupported_methods_get_501_or_405() {
    let server = start(limits()).await;
    let mut c = Client::connect(server.addr).await;
    for (method, code, reason) in [
        ("GET", 501, "Not Implemented"),
        ("POST", 501, "Not Implemented"),
        ("OPTIONS", 501, "Not Implemented"),
        ("subscribe", 501, "Not Implemented"),
        ("MOVE", 405, "Method Not Allowed"),
        ("COPY", 405, "Method Not Allowed"),
    ] {
        c.send(&req(method, "/instmsg/aliases/bob", "")).await;
        let r = c.read().await.expect("answer");
        r.check_framing();
        assert!(
            r.head.starts_with(&format!("HTTP/1.1 {code} {reason}\r\n")),
            "{method}: {}",
            r.head
        );
        if code == 405 {
            assert!(r.header("allow").unwrap().contains("PROPPATCH"));
        }
    }
    // The handler never saw them; the connection still works.
    c.send(&req("ACL", "/instmsg/aliases/bob", "")).await;
    assert_eq!(
        c.read().await.expect("ACL").body,
        "1 ACL /instmsg/aliases/bob 0"
    );
    server.stop().await;
}

#[tokio::test]
async fn slowloris_cannot_hold_a_connection() {
    let mut l = limits();
    l.header_read_timeout = Duration::from_millis(400);
    let server = start(l).await;
    let mut c = Client::connect(server.addr).await;
    let wire = req(
        "ACL",
        "/instmsg/aliases/bob",
        "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
    );
    // One byte every 40 ms: the whole head would take about 4 s, ten header time-outs.
    let mut sent_all = true;
    for b in &wire {
        if c.stream.write_all(&[*b]).await.is_err() {
            sent_all = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
        // The server answered (408) or closed: the client did not get to finish.
        if c.stream.try_read(&mut [0u8; 256]).is_ok() {
            sent_all = false;
            break;
        }
    }
    assert!(
        !sent_all,
        "the server let a trickling client finish its head"
    );
    assert!(c.closed().await);
    // Others are served meanwhile and after.
    let mut other = Client::connect(server.addr).await;
    other.send(&req("ACL", "/instmsg/aliases/bob", "")).await;
    assert_eq!(other.read().await.expect("served").code, 200);
    server.stop().await;
}

#[tokio::test]
async fn header_timeout_answers_408() {
    let mut l = limits();
    l.header_read_timeout = Duration::from_millis(200);
    let server = start(l).await;
    let mut c = Client::connect(server.addr).await;
    c.send(b"ACL /instmsg/aliases/bob HTTP/1.1\r\nHost: loc")
        .await;
    let r = c.read().await.expect("408");
    r.check_framing();
    assert_eq!(r.code, 408);
    assert!(c.closed().await);
    // A connection that never sends anything is closed too (no answer).
    let mut c = Client::connect(server.addr).await;
    assert!(c.closed().await);
    assert!(c.buf.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn body_timeout_answers_408() {
    let mut l = limits();
    l.body_read_timeout = Duration::from_millis(200);
    let server = start(l).await;
    let mut c = Client::connect(server.addr).await;
    c.send(b"NOTIFY /instmsg/aliases/bob HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        .await;
    let r = c.read().await.expect("408");
    assert_eq!(r.code, 408);
    assert!(c.closed().await);
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_by_the_write_timeout() {
    let mut l = limits();
    l.write_timeout = Duration::from_millis(200);
    let server = start(l).await;
    let c = Client::connect(server.addr).await;
    let mut wire = Vec::new();
    for _ in 0..64 {
        wire.extend(req("PROPFIND", "/big/1000000", ""));
    }
    let mut stream = c.stream;
    // Never read: the server's writes fill the socket buffers and time out.
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(&wire)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Had the connection still been stuck in a write, the drain would have to abort it.
    let report = server.stop().await;
    assert_eq!(report.aborted, 0);
    drop(stream);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let mut l = limits();
    l.idle_timeout = Duration::from_millis(300);
    let server = start(l).await;
    let mut c = Client::connect(server.addr).await;
    c.send(&req("ACL", "/instmsg/aliases/bob", "")).await;
    assert_eq!(c.read().await.expect("answer").code, 200);
    // Within WAIT (10 s), far below the default idle time-out (60 s).
    assert!(c.closed().await, "idle connection left open");
    assert!(c.buf.is_empty(), "idle close sends nothing");
    server.stop().await;
}

/// The connection moves one timer from wait to wait: each request's handler time-out and
/// each idle period count from their own start, not from the connection's first request.
#[tokio::test]
async fn time_outs_restart_with_each_request_on_a_kept_connection() {
    let mut l = limits();
    l.handler_timeout = Duration::from_millis(300);
    l.idle_timeout = Duration::from_millis(400);
    let server = start(l).await;
    let mut c = Client::connect(server.addr).await;
    let started = Instant::now();
    // Requests taking 150 ms each, then 150 ms idle, for well past both time-outs.
    while started.elapsed() < Duration::from_millis(1_200) {
        c.send(&req("NOTIFY", "/slow/150", "")).await;
        assert_eq!(c.read().await.expect("answered in time").code, 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // A request slower than the handler time-out still gets its 503, after about 300 ms.
    let asked = Instant::now();
    c.send(&req("NOTIFY", "/slow/5000", "")).await;
    assert_eq!(c.read().await.expect("503").code, 503);
    assert!(
        asked.elapsed() >= Duration::from_millis(250),
        "{:?}",
        asked.elapsed()
    );
    assert!(c.closed().await);
    server.stop().await;
}

#[tokio::test]
async fn excess_connections_get_503_and_the_limit_frees_up() {
    let mut l = limits();
    l.max_connections = 2;
    let server = start(l).await;
    let mut a = Client::connect(server.addr).await;
    let b = Client::connect(server.addr).await;
    // Make sure both are accepted (served) before the third arrives.
    a.send(&req("ACL", "/instmsg/aliases/a", "")).await;
    assert_eq!(a.read().await.expect("a").code, 200);
    let mut third = Client::connect(server.addr).await;
    let r = third.read().await.expect("503 from the accept loop");
    r.check_framing();
    assert_eq!(r.code, 503);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(third.closed().await);
    drop(b);
    // Once a slot is free (bounded retries), a new connection is served.
    let mut served = false;
    for _ in 0..100 {
        let mut c = Client::connect(server.addr).await;
        c.send(&req("ACL", "/instmsg/aliases/c", "")).await;
        if c.read().await.is_some_and(|r| r.code == 200) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served);
    let report = server.stop().await;
    assert!(report.refused_busy >= 1);
}

#[tokio::test]
async fn handler_timeout_is_503() {
    let mut l = limits();
    l.handler_timeout = Duration::from_millis(100);
    let server = start(l).await;
    let mut c = Client::connect(server.addr).await;
    c.send(&req("NOTIFY", "/slow/5000", "")).await;
    let r = c.read().await.expect("503");
    assert_eq!(r.code, 503);
    assert!(c.closed().await);
    server.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight_then_flushes() {
    let server = Server::bind(
        &["127.0.0.1:0".parse().unwrap()],
        TestHandler::default(),
        limits(),
        ProtocolLog::off(),
    )
    .await
    .unwrap();
    let addr = server.local_addrs()[0];
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let flushed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&flushed);
    let task = tokio::spawn(rvp_server::listener::serve_then_flush(
        server,
        async move {
            let _ = stop_rx.await;
        },
        move || async move {
            flag.store(true, Ordering::SeqCst);
            Ok::<(), ()>(())
        },
    ));
    let mut busy = Client::connect(addr).await;
    let mut idle = Client::connect(addr).await;
    idle.send(&req("ACL", "/instmsg/aliases/i", "")).await;
    assert_eq!(idle.read().await.expect("idle served").code, 200);
    busy.send(&req("NOTIFY", "/slow/400", "")).await;
    tokio::time::sleep(Duration::from_millis(100)).await; // the request is in the handler
    stop_tx.send(()).unwrap();
    let r = busy.read().await.expect("in-flight request answered");
    assert_eq!(r.code, 200);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(busy.closed().await);
    assert!(
        idle.closed().await,
        "idle keep-alive connection closed on shutdown"
    );
    let (report, flush) = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    assert_eq!(report.aborted, 0);
    assert_eq!(flush, Ok(()));
    assert!(flushed.load(Ordering::SeqCst));
    // No longer accepting.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn drain_timeout_drops_stragglers() {
    let mut l = limits();
    l.drain_timeout = Duration::from_millis(200);
    let server = start(l).await;
    let mut c = Client::connect(server.addr).await;
    c.send(&req("NOTIFY", "/slow/30000", "")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = server.stop().await;
    assert_eq!(report.aborted, 1);
    assert!(c.closed().await);
}

#[tokio::test]
async fn protocol_log_has_one_line_per_request() {
    let (log, lines) = ProtocolLog::channel(64);
    let server = start_with(TestHandler::default(), limits(), log).await;
    let mut c = Client::connect(server.addr).await;
    let mut wire = req("PROPPATCH", "/instmsg/aliases/alice", "");
    wire.extend(req("GET", "/", ""));
    c.send(&wire).await;
    let a = c.read().await.expect("a");
    let b = c.read().await.expect("b");
    server.stop().await;
    let lines: Vec<String> = lines.try_iter().collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[1].starts_with("#Fields: date time c-ip"),
        "{lines:#?}"
    );
    let f: Vec<&str> = lines[2].split(' ').collect();
    assert_eq!(f.len(), 10, "{}", lines[2]);
    assert_eq!(
        &f[3..7],
        ["tester", "PROPPATCH", "/instmsg/aliases/alice", "200"]
    );
    let wire_len = req("PROPPATCH", "/instmsg/aliases/alice", "").len();
    assert_eq!(f[7], wire_len.to_string());
    assert_eq!(f[8], (a.head.len() + a.body.len()).to_string());
    let g: Vec<&str> = lines[3].split(' ').collect();
    assert_eq!(&g[3..7], ["-", "GET", "/", "501"]);
    assert_eq!(g[8], (b.head.len() + b.body.len()).to_string());
}

/// A fake presence engine behind the seam: counts requests per alias; a NOTIFY to
/// `/instmsg/aliases/wait` is only answered when the next event arrives (like a DeepOr
/// acknowledgement).
#[derive(Default)]
struct CountingCore {
    counts: std::collections::HashMap<String, u64>,
    out: std::collections::VecDeque<CoreOutput<StatusCode, String>>,
    waiting: Vec<RequestId>,
}

impl Core for CountingCore {
    type Request = Request;
    type Response = StatusCode;
    type Event = ();
    type Effect = String;
    fn handle_request(&mut self, _now: Instant, id: RequestId, req: Request) {
        let alias = req.typed.target.path.alias().unwrap_or("-").to_owned();
        if alias == "wait" {
            self.waiting.push(id);
            return;
        }
        *self.counts.entry(alias.clone()).or_default() += 1;
        self.out.push_back(CoreOutput::Effect(alias));
        self.out.push_back(CoreOutput::Respond(id, StatusCode::OK));
    }
    fn handle_event(&mut self, _now: Instant, _event: ()) {
        for id in self.waiting.drain(..) {
            self.out.push_back(CoreOutput::Respond(id, StatusCode::OK));
        }
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_output(&mut self) -> Option<CoreOutput<StatusCode, String>> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

struct EngineHandler(EngineHandle<CountingCore>);

impl Handler for EngineHandler {
    async fn handle(&self, _peer: Peer, request: Request, _now: Instant) -> Response {
        let status = self
            .0
            .call(request)
            .await
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut res = Response::new(Bytes::new());
        *res.status_mut() = status;
        res
    }
}

#[tokio::test]
async fn engine_task_behind_the_seam() {
    let effects = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Arc::clone(&effects);
    let (handle, task) = engine::spawn(
        CountingCore::default(),
        move |e: String| sink.lock().unwrap().push(e),
        8,
    );
    let server = start_with(EngineHandler(handle.clone()), limits(), ProtocolLog::off()).await;
    // A request waiting for an event does not hold other connections up.
    let mut waiting = Client::connect(server.addr).await;
    waiting
        .send(&req("NOTIFY", "/instmsg/aliases/wait", ""))
        .await;
    let mut clients = Vec::new();
    for i in 0..5 {
        let mut c = Client::connect(server.addr).await;
        c.send(&req(
            "PROPPATCH",
            &format!("/instmsg/aliases/u{}", i % 2),
            "",
        ))
        .await;
        clients.push(c);
    }
    for c in &mut clients {
        assert_eq!(c.read().await.expect("answer").code, 200);
    }
    handle.event(()).await.unwrap();
    assert_eq!(
        waiting.read().await.expect("answered after event").code,
        200
    );
    server.stop().await;
    drop(handle);
    let core = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    assert_eq!(core.counts.get("u0"), Some(&3));
    assert_eq!(core.counts.get("u1"), Some(&2));
    assert_eq!(effects.lock().unwrap().len(), 5);
}
