//! The admin listener over real TCP on 127.0.0.1: `/metrics` scraped before and after
//! real requests (a login, refused credentials, a NOTIFY delivered and one failing, a
//! connection refused for load), `/healthz`, `/readyz`, its own limits, and no listener
//! unless configured. Every wait is bounded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    missing_docs
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rvp_interop::server::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `(status, head, body)` of one admin request.
async fn get(admin: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut s = tokio::time::timeout(WAIT, TcpStream::connect(admin))
        .await
        .expect("connect in time")
        .unwrap();
    s.write_all(format!("{method} {path} HTTP/1.1\r\nHost: admin\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("answered in time")
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete answer");
    let status = head[9..12].parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

async fn scrape(admin: SocketAddr) -> String {
    let (status, head, body) = get(admin, "GET", "/metrics").await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    body
}

/// The value of one series (`name` or `name{labels}`), 0 when absent.
/// Waits (bounded) until the server has seen the client's earlier connections close:
/// this test runs with `max_connections = 2`, and a connection the client dropped counts
/// until the server reads its end.
async fn settle(admin: SocketAddr) {
    let deadline = Instant::now() + WAIT;
    while value(&scrape(admin).await, "rvp_connections_open") > 0 {
        assert!(Instant::now() < deadline, "connections never closed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |v| v.parse().unwrap())
}

/// Scrapes until `series` reaches at least `want` (the server counts some things a
/// moment after the answer: delivery reports), at most `WAIT`.
async fn until(admin: SocketAddr, series: &str, want: u64) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = scrape(admin).await;
        if value(&text, series) >= want {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never reached {want}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn with_admin(c: &mut rvp_server::config::Config) {
    c.admin.listen = Some("127.0.0.1:0".parse().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_real_requests() {
    let server = TestServer::start(|c| {
        with_admin(c);
        c.limits.max_connections = 2;
        c.limits.max_connections_per_ip = 2;
    })
    .await;
    let admin = server.admin.expect("an admin listener");
    // The accept loop marks itself accepting once it runs: wait for that (bounded).
    let deadline = Instant::now() + WAIT;
    let before = loop {
        let text = scrape(admin).await;
        if value(&text, "rvp_listener_accepting") == 1 {
            break text;
        }
        assert!(Instant::now() < deadline, "never accepting:\n{text}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(value(&before, "rvp_engine_up"), 1, "{before}");
    assert_eq!(value(&before, "rvp_online_users"), 0);
    assert_eq!(value(&before, "rvp_subscriptions"), 0);
    assert_eq!(value(&before, "rvp_users"), 3);
    assert!(before.contains("# TYPE rvp_requests_total counter\n"));
    assert!(before.contains(&format!(
        "rvp_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    )));

    // alice and bob sign on (each a 401, then Digest) and set their state.
    let (alice, bob) = (server.client("alice"), server.client("bob"));
    let cb_alice = Callback::start(200).await;
    let mut cb_bob = Callback::start(200).await;
    assert_eq!(alice.login(&cb_alice.url(), 3600).await.status, 200);
    settle(admin).await;
    assert_eq!(bob.login(&cb_bob.url(), 3600).await.status, 200);
    settle(admin).await;
    assert_eq!(alice.set_state("online").await.status, 207);
    settle(admin).await;
    assert_eq!(bob.set_state("busy").await.status, 207);
    let text = scrape(admin).await;
    assert_eq!(value(&text, "rvp_online_users"), 2, "{text}");
    assert_eq!(value(&text, "rvp_subscriptions"), 2, "{text}");
    let sub = |code| format!("rvp_requests_total{{method=\"SUBSCRIBE\",code=\"{code}\"}}");
    assert_eq!(value(&text, &sub("401")), 2, "{text}");
    assert_eq!(value(&text, &sub("200")), 2, "{text}");
    assert_eq!(
        value(
            &text,
            "rvp_requests_total{method=\"PROPPATCH\",code=\"207\"}"
        ),
        2
    );
    assert_eq!(value(&text, "rvp_directory_lookups_total"), 4, "{text}");
    let failures = |text: &str, why: &str| {
        value(
            text,
            &format!("rvp_auth_failures_total{{reason=\"{why}\"}}"),
        )
    };
    assert_eq!(failures(&text, "wrong_password"), 0, "{text}");

    // Refused credentials: a wrong password, an unknown user.
    let mut wrong = server.client("carol");
    wrong.password = "not-carols".into();
    assert_eq!(wrong.login(&cb_alice.url(), 3600).await.status, 401);
    assert_eq!(server.client("mallory").propfind("alice").await.status, 401);
    let text = scrape(admin).await;
    assert_eq!(failures(&text, "wrong_password"), 1, "{text}");
    assert_eq!(failures(&text, "unknown_user"), 1, "{text}");

    // An IM from alice to bob (deep acknowledgement): one NOTIFY in, one delivered out.
    let r = alice.im("bob", &im_body("hello"), Some("DeepOr")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(cb_bob.next().await.text().contains("hello"));
    let delivered = "rvp_notify_outbound_total{result=\"delivered\"}";
    let text = until(admin, delivered, 1).await;
    assert_eq!(
        value(&text, "rvp_requests_total{method=\"NOTIFY\",code=\"200\"}"),
        1,
        "{text}"
    );

    // carol signs on with a call-back nobody listens on: NOTIFYs to it fail, against it.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let carol = server.client("carol");
    assert_eq!(
        carol.login(&format!("http://{dead}"), 3600).await.status,
        200
    );
    assert_eq!(carol.watch("bob", 3600).await.status, 207);
    assert_eq!(bob.set_state("away").await.status, 207);
    let text = until(
        admin,
        "rvp_notify_outbound_total{result=\"unreachable\"}",
        1,
    )
    .await;
    assert!(value(&text, "rvp_callback_failures_total") >= 1, "{text}");

    // Two connections held open: the third is refused for load.
    let held = [
        TcpStream::connect(server.addr).await.unwrap(),
        TcpStream::connect(server.addr).await.unwrap(),
    ];
    let refused = "rvp_connections_refused_total{limit=\"max_connections\"}";
    let deadline = Instant::now() + WAIT;
    let text = loop {
        let mut third = TcpStream::connect(server.addr).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(WAIT, third.read_to_end(&mut answer)).await;
        let text = scrape(admin).await;
        if value(&text, refused) >= 1 {
            break text;
        }
        assert!(Instant::now() < deadline, "never refused:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(value(&text, "rvp_connections_open") >= 2, "{text}");
    drop(held);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_http_rules() {
    let server = TestServer::start(with_admin).await;
    let admin = server.admin.unwrap();
    let (status, head, body) = get(admin, "GET", "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"), "{head}");
    assert!(head.contains("Connection: close"), "{head}");
    let (status, _, body) = get(admin, "GET", "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        "ready\nstore: open\nengine: running\nlistener: accepting\n"
    );
    // HEAD: the head only; a query string is ignored.
    let (status, head, body) = get(admin, "HEAD", "/metrics?x=1").await;
    assert_eq!(status, 200);
    assert!(body.is_empty(), "{body}");
    assert!(!head.contains("Content-Length: 0"), "{head}");
    let (status, _, _) = get(admin, "GET", "/").await;
    assert_eq!(status, 404);
    let (status, head, _) = get(admin, "POST", "/metrics").await;
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
    // A head that never ends is cut off at the limit.
    let mut s = TcpStream::connect(admin).await.unwrap();
    let big = vec![b'a'; rvp_server::admin::MAX_REQUEST_HEAD_BYTES + 2048];
    let _ = s.write_all(&big).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await;
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.1 431 "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    server.stop().await;
}

/// `admin.max_connections` and `admin.timeout`: a connection that sends nothing holds
/// the only place until the time-out closes it; meanwhile others get 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_connections_are_limited_and_timed_out() {
    let server = TestServer::start(|c| {
        with_admin(c);
        c.admin.max_connections = 1;
        c.admin.timeout = Duration::from_millis(500);
    })
    .await;
    let admin = server.admin.unwrap();
    let mut idle = TcpStream::connect(admin).await.unwrap();
    // Wait until the idle connection is accepted (the next one is refused), bounded.
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _, _) = get(admin, "GET", "/healthz").await;
        if status == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The time-out closes the idle connection without an answer.
    let started = Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, idle.read_to_end(&mut out))
        .await
        .expect("closed by admin.timeout")
        .unwrap();
    assert!(out.is_empty());
    assert!(started.elapsed() < Duration::from_secs(5));
    // Its place is free again.
    let deadline = Instant::now() + WAIT;
    while get(admin, "GET", "/healthz").await.0 != 200 {
        assert!(Instant::now() < deadline, "the place never came back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_admin_listener_unless_configured() {
    let server = TestServer::start(|_| {}).await;
    assert_eq!(server.admin, None);
    server.stop().await;
}

/// A DNS server on 127.0.0.1 that answers every query `REFUSED` at once (the question
/// echoed, no records), until dropped.
struct RefusingDns {
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl RefusingDns {
    fn start() -> RefusingDns {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if n < 12 {
                    continue;
                }
                let mut answer = buf[..n].to_vec();
                answer[2] |= 0x80; // QR: a response
                answer[3] = (answer[3] & 0xf0) | 5; // RCODE: REFUSED
                answer[6..12].fill(0); // no answer, authority or additional records
                let _ = socket.send_to(&answer, from);
            }
        });
        RefusingDns { addr, stop }
    }
}

impl Drop for RefusingDns {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A request speaking as another server makes the server resolve that server's name:
/// counted, here as a failure (the nameserver refuses every query).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_lookups_are_counted() {
    let probe = "[resolve]\nnameserver = \"127.0.0.1:53\"\n";
    if rvp_server::config::Config::from_toml_str(probe, "probe").is_err() {
        // Built without the `dns` feature (`--no-default-features`): no DNS to count.
        eprintln!("SKIPPED: rvp-server built without the `dns` feature: no DNS lookups");
        return;
    }
    let dns = RefusingDns::start();
    let server = TestServer::start(|c| {
        with_admin(c);
        c.resolve.nameserver = Some(dns.addr);
    })
    .await;
    let admin = server.admin.unwrap();
    let req = Req::new("PROPFIND", &path("alice"))
        .header("Depth", "0")
        .body(PROPFIND_BODY);
    // The sender is a server (a bare host).
    let bytes = req.to_bytes("other.test", None);
    let r = tokio::time::timeout(WAIT * 3, raw(server.addr, &bytes))
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(r.status, 403, "{r:?}");
    let text = scrape(admin).await;
    assert_eq!(
        value(&text, "rvp_dns_lookups_total{result=\"failed\"}"),
        1,
        "{text}"
    );
    server.stop().await;
}
