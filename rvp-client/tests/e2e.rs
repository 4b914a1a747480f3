//! rvp-client against the real `rvp-server`, over TCP on 127.0.0.1: sign-on, presence,
//! typing, non-ASCII messages, blocking, sign-off; Digest nonce reuse; redirects;
//! resolution through rvp-resolve; reconnection after a server restart; bare-LF NOTIFYs.
//! Every wait is bounded (`rvp_interop::driver::WAIT`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rvp_client::driver::{Client, ClientConfig, ClientError};
use rvp_client::{AclRule, Event, Failure, TransportError, Undelivered};
use rvp_interop::driver::{WAIT, client_config, expect, expect_none, signed_on};
use rvp_interop::logical_url;
use rvp_interop::server::{TempDir, TestServer, config};
use rvp_proto::PresenceState;
use rvp_resolve::{Resolver, ResolverConfig, StaticResolver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GREETING: &str = "Grüße, ☕ € ü — Ελληνικά, 日本語";
const ANSWER: &str = "Danke! ½ ✓ — Ünïcödé";

fn presence(who: &str, state: PresenceState) -> impl Fn(&Event) -> bool {
    let who = logical_url(who);
    move |e| matches!(e, Event::Presence { who: w, state: s } if *w == who && *s == state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_presence_typing_messages_block_sign_off() {
    let server = TestServer::start(|_| {}).await;
    let mut a = client_config(server.addr, "alice");
    a.session.watch_list.push(logical_url("bob"));
    let mut b = client_config(server.addr, "bob");
    b.session.watch_list.push(logical_url("alice"));
    let mut alice = Client::connect(a).await.unwrap();
    expect(&mut alice, "alice signs on", |e| {
        matches!(e, Event::SignedOn { display_name } if display_name.as_deref() == Some("Alice A"))
    })
    .await;
    let mut bob = signed_on(b).await;

    // Each sees the other online (alice through a NOTIFY, bob through his watch's 207).
    expect(
        &mut alice,
        "alice sees bob online",
        presence("bob", PresenceState::Online),
    )
    .await;
    expect(
        &mut bob,
        "bob sees alice online",
        presence("alice", PresenceState::Online),
    )
    .await;

    // A state change reaches the watcher.
    bob.handle().set_state(PresenceState::Busy).await.unwrap();
    expect(
        &mut alice,
        "alice sees bob busy",
        presence("bob", PresenceState::Busy),
    )
    .await;

    // Typing, then a non-ASCII message each way.
    alice
        .handle()
        .send_typing(&logical_url("bob"))
        .await
        .unwrap();
    expect(
        &mut bob,
        "bob sees alice typing",
        |e| matches!(e, Event::Typing { from, .. } if *from == logical_url("alice")),
    )
    .await;
    let id = alice
        .handle()
        .send_message(&logical_url("bob"), GREETING)
        .await
        .unwrap();
    let got = expect(&mut bob, "bob gets the greeting", |e| {
        matches!(e, Event::Message { .. })
    })
    .await;
    let Event::Message {
        from,
        text,
        session,
        from_name,
        ..
    } = got
    else {
        unreachable!()
    };
    assert_eq!((from, text.as_str()), (logical_url("alice"), GREETING));
    assert_eq!(from_name.as_deref(), Some("Alice A"));
    let alice_session = session.expect("a Session-Id");
    expect(
        &mut alice,
        "alice's message is delivered",
        |e| matches!(e, Event::Delivered { id: i, .. } if *i == id),
    )
    .await;
    bob.handle()
        .send_message(&logical_url("alice"), ANSWER)
        .await
        .unwrap();
    let got = expect(&mut alice, "alice gets the answer", |e| {
        matches!(e, Event::Message { .. })
    })
    .await;
    let Event::Message { text, session, .. } = got else {
        unreachable!()
    };
    assert_eq!(text, ANSWER);
    assert_eq!(
        session,
        Some(alice_session),
        "bob answers in alice's conversation"
    );

    // Alice blocks bob: bob sees her offline, and his messages are refused like those to
    // an offline user.
    alice
        .handle()
        .set_rule(&logical_url("bob"), AclRule::Block)
        .await
        .unwrap();
    expect(
        &mut alice,
        "the rule is written",
        |e| matches!(e, Event::RuleSet { who, rule: AclRule::Block } if *who == logical_url("bob")),
    )
    .await;
    expect(
        &mut bob,
        "bob sees alice offline",
        presence("alice", PresenceState::Offline),
    )
    .await;
    let id = bob
        .handle()
        .send_message(&logical_url("alice"), "still there?")
        .await
        .unwrap();
    expect(&mut bob, "bob's message is refused as offline", |e| {
        matches!(e, Event::NotDelivered { id: i, reason: Undelivered::Offline, .. } if *i == id)
    })
    .await;
    expect_none(
        &mut alice,
        "alice gets nothing from bob",
        Duration::from_millis(500),
        |e| matches!(e, Event::Message { .. }),
    )
    .await;
    // The block is one way: bob's state still reaches alice.
    bob.handle().set_state(PresenceState::Away).await.unwrap();
    expect(
        &mut alice,
        "alice still sees bob",
        presence("bob", PresenceState::Away),
    )
    .await;

    // Bob signs off: alice sees him offline. Then alice signs off.
    bob.sign_off().await.unwrap();
    expect(
        &mut alice,
        "alice sees bob offline",
        presence("bob", PresenceState::Offline),
    )
    .await;
    let buddies = alice.handle().buddies().await.unwrap();
    assert_eq!(buddies.len(), 1);
    assert_eq!(buddies[0].state, Some(PresenceState::Offline));
    alice.sign_off().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_fails_sign_on() {
    let server = TestServer::start(|_| {}).await;
    let mut c = client_config(server.addr, "alice");
    c.password = "not-alice-pw".into();
    let mut alice = Client::connect(c).await.unwrap();
    let e = expect(&mut alice, "sign-on fails", |e| {
        matches!(e, Event::SignOnFailed { .. })
    })
    .await;
    assert_eq!(
        e,
        Event::SignOnFailed {
            reason: Failure::Transport(TransportError::AuthRejected)
        }
    );
    assert!(matches!(
        alice.finish().await,
        Err(ClientError::SignOnFailed(Failure::Transport(
            TransportError::AuthRejected
        )))
    ));
    server.stop().await;
}

/// Counts what passes through a TCP proxy: requests upstream, `401` answers downstream.
#[derive(Default)]
struct Counts {
    requests: AtomicUsize,
    challenges: AtomicUsize,
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

async fn proxy(upstream: SocketAddr, counts: Arc<Counts>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            let counts = Arc::clone(&counts);
            tokio::spawn(async move {
                let Ok(up) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut dr, mut dw) = down.into_split();
                let (mut ur, mut uw) = up.into_split();
                let c1 = Arc::clone(&counts);
                let t = tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 8192];
                    while let Ok(n) = dr.read(&mut buf).await {
                        if n == 0 || uw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        seen.extend_from_slice(&buf[..n]);
                    }
                    c1.requests
                        .fetch_add(count(&seen, b" HTTP/1.1\r\n"), Ordering::SeqCst);
                });
                let mut seen = Vec::new();
                let mut buf = [0u8; 8192];
                while let Ok(n) = ur.read(&mut buf).await {
                    if n == 0 || dw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                let _ = t.await;
                counts
                    .challenges
                    .fetch_add(count(&seen, b"HTTP/1.1 401 "), Ordering::SeqCst);
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_nonce_is_reused_with_increasing_nc() {
    let server = TestServer::start(|_| {}).await;
    let counts = Arc::new(Counts::default());
    let via = proxy(server.addr, Arc::clone(&counts)).await;
    let mut c = client_config(via, "alice");
    c.session.watch_list.push(logical_url("bob"));
    c.session.watch_list.push(logical_url("carol"));
    let mut alice = signed_on(c).await;
    expect(
        &mut alice,
        "carol's watch",
        |e| matches!(e, Event::Watching { who, .. } if *who == logical_url("carol")),
    )
    .await;
    for state in [
        PresenceState::Busy,
        PresenceState::Away,
        PresenceState::Online,
    ] {
        alice.handle().set_state(state.clone()).await.unwrap();
        expect(
            &mut alice,
            "state set",
            |e| matches!(e, Event::StateSet { state: s, .. } if *s == state),
        )
        .await;
    }
    alice.sign_off().await.unwrap();
    // Connections are closed now; let the proxy tasks count. A connection's requests are
    // counted when the client closes it, its answers (the 401) when the server has closed
    // too: wait for both (bounded), then a moment more for any late count.
    let deadline = tokio::time::Instant::now() + WAIT;
    while (counts.requests.load(Ordering::SeqCst) < 15
        || counts.challenges.load(Ordering::SeqCst) < 1)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requests = counts.requests.load(Ordering::SeqCst);
    let challenges = counts.challenges.load(Ordering::SeqCst);
    // 6 sign-on steps, 2 watches, 3 states, offline, 3 unsubscribes = 15 requests; one
    // challenge (the control lane's first request), every later request answered with
    // the same nonce and the next nc.
    assert!(requests >= 15, "requests: {requests}");
    assert_eq!(challenges, 1, "one 401 for {requests} requests");
    server.stop().await;
}

/// A router that redirects every request to the real server's physical URL for it, and
/// counts what it redirected.
async fn router(home: SocketAddr, redirected: Arc<AtomicUsize>) -> SocketAddr {
    fake(
        move |target, _| {
            let alias = target.rsplit('/').next().unwrap_or("");
            format!(
                "HTTP/1.1 302 Object moved\r\nRVP-Notifications-Version: 0.2\r\n\
                 Location: http://{home}/instmsg/local/localhost/instmsg/aliases/{alias}\r\n\
                 Content-Length: 0\r\n\r\n"
            )
        },
        redirected,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_and_remembered() {
    let server = TestServer::start(|_| {}).await;
    let redirected = Arc::new(AtomicUsize::new(0));
    let via = router(server.addr, Arc::clone(&redirected)).await;
    let mut c = client_config(via, "alice");
    c.session.watch_list.push(logical_url("bob"));
    let mut alice = signed_on(c).await;
    expect(&mut alice, "bob's watch", |e| {
        matches!(e, Event::Watching { .. })
    })
    .await;
    alice.handle().set_state(PresenceState::Busy).await.unwrap();
    expect(&mut alice, "state set", |e| {
        matches!(e, Event::StateSet { .. })
    })
    .await;
    // Two request-targets (alice's node, bob's node), each redirected once per lane
    // that used it: the home server is remembered.
    let n = redirected.load(Ordering::SeqCst);
    assert_eq!(n, 2, "redirects: {n}");
    alice.sign_off().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_the_domain_through_rvp_resolve() {
    let server = TestServer::start(|_| {}).await;
    let dns = StaticResolver::new().with_ip(
        "rvp-home.test",
        vec![server.addr.ip()],
        Duration::from_secs(60),
    );
    let resolver = Resolver::with_config(
        dns,
        ResolverConfig::default().with_domain_override(
            "localhost",
            "rvp-home.test",
            server.addr.port(),
        ),
    );
    let mut c = ClientConfig::new("bob@localhost".parse().unwrap(), "bob-pw").unwrap();
    c.server = None;
    let mut bob = Client::connect_with(c, resolver).await.unwrap();
    assert_eq!(bob.me(), &logical_url("bob"));
    expect(&mut bob, "bob signs on", |e| {
        matches!(e, Event::SignedOn { .. })
    })
    .await;
    bob.sign_off().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_server_restart() {
    // Short lifetimes so that the loss is noticed within the test's bounds.
    let dir = TempDir::new("restart");
    let mut conf = config(dir.path());
    conf.policy.subscription_lifetime_min = Duration::from_secs(2);
    conf.policy.subscription_grace = Duration::from_secs(1);
    let server = TestServer::start_config(&conf).await;
    let addr = server.addr;
    let mut c = client_config(addr, "alice");
    c.session.login_lifetime = 2;
    c.session.retry_delay = Duration::from_millis(100);
    c.session.max_retry_delay = Duration::from_millis(200);
    c.reconnect_delay = Duration::from_millis(100);
    c.max_reconnect_delay = Duration::from_millis(400);
    c.max_reconnect_attempts = 100;
    c.request_timeout = Duration::from_secs(2);
    let mut alice = signed_on(c).await;
    server.stop().await;
    expect(&mut alice, "the login is lost", |e| {
        matches!(e, Event::Disconnected { .. })
    })
    .await;
    conf.server.listen = vec![addr];
    let server = TestServer::start_config(&conf).await;
    expect(&mut alice, "alice signs on again", |e| {
        matches!(e, Event::SignedOn { .. })
    })
    .await;
    alice.sign_off().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_takes_bare_lf_and_answers_every_notify() {
    let server = TestServer::start(|_| {}).await;
    let mut carol = Client::connect(client_config(server.addr, "carol"))
        .await
        .unwrap();
    expect(&mut carol, "carol signs on", |e| {
        matches!(e, Event::SignedOn { .. })
    })
    .await;
    let body = "<?xml version=\"1.0\"?>\n<r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:message><r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/bob</d:href></r:contact></r:notification-from><r:msgbody><r:mime-data>MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\nhello over LF</r:mime-data></r:msgbody></r:message></r:notification>";
    // Two requests on one connection (keep-alive), LF only, then garbage.
    let one = format!(
        "NOTIFY / HTTP/1.1\nHost: {}\nRVP-Hop-Count: 2\nContent-Length: {}\n\n{body}",
        carol.callback_addr(),
        body.len()
    );
    let mut s = TcpStream::connect(carol.callback_addr()).await.unwrap();
    s.write_all(format!("{one}{one}GET / HTTP/1.1\nConnection: close\n\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut got)).await;
    let got = String::from_utf8(got).unwrap();
    assert_eq!(
        got.matches("HTTP/1.1 200 Successful\r\n").count(),
        2,
        "{got}"
    );
    assert!(got.ends_with("HTTP/1.1 405 Method Not Allowed\r\nRVP-Notifications-Version: 0.2\r\nContent-Length: 0\r\n\r\n"), "{got}");
    for _ in 0..2 {
        expect(
            &mut carol,
            "the LF message",
            |e| matches!(e, Event::Message { text, .. } if text == "hello over LF"),
        )
        .await;
    }
    carol.sign_off().await.unwrap();
    server.stop().await;
}

/// A server that answers every request with `answer(target)` and counts requests.
async fn fake(
    answer: impl Fn(&str, SocketAddr) -> String + Send + Sync + 'static,
    count: Arc<AtomicUsize>,
) -> SocketAddr {
    let answer = Arc::new(answer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let count = Arc::clone(&count);
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let mut p = rvp_proto::codec::RequestParser::default();
                    let parsed = match p.parse(&buf) {
                        Ok(rvp_proto::codec::Status::Complete(m)) => {
                            Some((m.head().target().to_owned(), m.consumed()))
                        }
                        Ok(rvp_proto::codec::Status::Partial) => None,
                        Err(_) => return,
                    };
                    if let Some((target, used)) = parsed {
                        buf.drain(..used);
                        count.fetch_add(1, Ordering::SeqCst);
                        if s.write_all(answer(&target, addr).as_bytes()).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loops_and_oversized_answers_are_bounded() {
    // A router that redirects to itself: the driver follows max_redirects, then gives up.
    let count = Arc::new(AtomicUsize::new(0));
    let looping = fake(
        |target, me| {
            format!(
                "HTTP/1.1 302 Object moved\r\nLocation: http://{me}{target}\r\nContent-Length: 0\r\n\r\n"
            )
        },
        Arc::clone(&count),
    )
    .await;
    let mut c = client_config(looping, "alice");
    c.max_redirects = 2;
    c.max_reconnect_attempts = 0;
    let alice = Client::connect(c).await.unwrap();
    let end = tokio::time::timeout(WAIT, alice.finish()).await.unwrap();
    assert!(
        matches!(
            end,
            Err(ClientError::GaveUp {
                last: Failure::Transport(TransportError::TooManyRedirects),
                ..
            })
        ),
        "{end:?}"
    );
    assert_eq!(
        count.load(Ordering::SeqCst),
        3,
        "the request and two redirects"
    );

    // An answer larger than the limit is refused, not buffered.
    let count = Arc::new(AtomicUsize::new(0));
    let big = fake(
        |_, _| "HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n".to_owned(),
        Arc::clone(&count),
    )
    .await;
    let mut c = client_config(big, "alice");
    c.max_reconnect_attempts = 0;
    c.limits = rvp_proto::codec::Limits::default().with_max_body_bytes(4096);
    let alice = Client::connect(c).await.unwrap();
    let end = tokio::time::timeout(WAIT, alice.finish()).await.unwrap();
    assert!(
        matches!(
            end,
            Err(ClientError::GaveUp {
                last: Failure::Transport(TransportError::BadResponse(_)),
                ..
            })
        ),
        "{end:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_connections_are_limited() {
    let server = TestServer::start(|_| {}).await;
    let mut c = client_config(server.addr, "carol");
    c.callback_max_connections = 1;
    c.callback_idle_timeout = Duration::from_secs(5);
    let carol = signed_on(c).await;
    // One connection held open (idle), a second is refused with 503.
    let _held = TcpStream::connect(carol.callback_addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = TcpStream::connect(carol.callback_addr()).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(WAIT, second.read_to_end(&mut got)).await;
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 503 "),
        "{got:?}"
    );
    carol.sign_off().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_request_times_out() {
    let count = Arc::new(AtomicUsize::new(0));
    // Accepts and reads, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = listener.local_addr().unwrap();
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut sink = Vec::new();
                let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut sink)).await;
            });
        }
    });
    let mut c = client_config(silent, "alice");
    c.request_timeout = Duration::from_millis(300);
    c.max_reconnect_attempts = 0;
    let alice = Client::connect(c).await.unwrap();
    let end = tokio::time::timeout(WAIT, alice.finish()).await.unwrap();
    assert!(
        matches!(
            end,
            Err(ClientError::GaveUp {
                last: Failure::Transport(TransportError::Timeout),
                ..
            })
        ),
        "{end:?}"
    );
    assert!(count.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_that_does_not_read_events_never_stalls_the_call_back() {
    let server = TestServer::start(|_| {}).await;
    let mut c = client_config(server.addr, "carol");
    c.event_capacity = 1;
    c.session.max_queued_events = 10;
    let mut carol = signed_on(c).await;
    // 50 messages on one connection while nobody reads carol's events: each is answered.
    let body = "<r:notification xmlns:d='DAV:' xmlns:r='http://schemas.microsoft.com/rvp/'><r:message><r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/bob</d:href></r:contact></r:notification-from><r:msgbody><r:mime-data>MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhi</r:mime-data></r:msgbody></r:message></r:notification>";
    let one = format!(
        "NOTIFY / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = TcpStream::connect(carol.callback_addr()).await.unwrap();
    let mut answers = Vec::new();
    for _ in 0..50 {
        s.write_all(one.as_bytes()).await.unwrap();
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        answers.extend_from_slice(&buf[..n]);
    }
    let answers = String::from_utf8(answers).unwrap();
    assert_eq!(
        answers.matches("HTTP/1.1 200 Successful\r\n").count(),
        50,
        "{answers}"
    );
    // The events that did not fit were dropped, and that is said.
    let dropped = expect(&mut carol, "the drop is reported", |e| {
        matches!(e, Event::EventsDropped { .. })
    })
    .await;
    assert!(
        matches!(dropped, Event::EventsDropped { count } if count >= 30),
        "{dropped:?}"
    );
    carol.sign_off().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn unusable_client_configurations_are_refused() {
    let mut c = client_config("127.0.0.1:9".parse().unwrap(), "alice");
    c.max_reconnect_delay = Duration::MAX;
    assert!(matches!(
        Client::connect(c).await,
        Err(ClientError::Config(rvp_client::ConfigError::TooLong(
            "max_reconnect_delay"
        )))
    ));
    let mut c = client_config("127.0.0.1:9".parse().unwrap(), "alice");
    c.callback_max_connections = 0;
    assert!(matches!(
        Client::connect(c).await,
        Err(ClientError::Config(rvp_client::ConfigError::Zero(
            "callback_max_connections"
        )))
    ));
}
