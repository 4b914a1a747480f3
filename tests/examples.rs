//! The examples, run for real: each example file is compiled into this test as a module
//! (`#[path]`), so the test runs exactly the example's code, minus `main`'s argument
//! parsing, against a real server on a loopback port:
//!
//! * `echo_bot`, `watch`, `chat` against the in-process `rvp-server` with its embedded
//!   default configuration (the demo users and passwords the examples default to), on
//!   127.0.0.1 with a free port and a temporary store;
//! * `embedded_server` serving two `rvp-client` users.
//!
//! Every wait is bounded ([`WAIT`]); each example is stopped through its `stop` future.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub
)]

#[allow(dead_code)]
#[path = "../examples/chat.rs"]
mod chat;
#[allow(dead_code)]
#[path = "../examples/echo_bot.rs"]
mod echo_bot;
#[allow(dead_code)]
#[path = "../examples/embedded_server.rs"]
mod embedded_server;
#[allow(dead_code)]
#[path = "../examples/watch.rs"]
mod watch;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rvp_client::Event;
use rvp_client::driver::Client;
use rvp_interop::driver::{WAIT, client_config, expect, signed_on};
use rvp_interop::logical_url as url;
use rvp_interop::server::{TempDir, TestServer};
use rvp_proto::PresenceState;
use rvp_server::config::Config;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// Output shared between an example and the test.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Waits (bounded) until the output contains `needle`.
    async fn wait_for(&self, needle: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.text().contains(needle) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {needle:?} in the output within {WAIT:?}:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The demo server (embedded default configuration) on a free loopback port, with its
/// storage in the folder returned beside it.
async fn demo_server(tag: &str) -> (TestServer, TempDir) {
    let dir = TempDir::new(tag);
    let mut config = Config::embedded_default().unwrap();
    config.server.listen = vec!["127.0.0.1:0".parse().unwrap()];
    config.server.storage = dir.path().join("store.redb");
    config.log.protocol_log = String::new();
    (TestServer::start_config(&config).await, dir)
}

/// A test user with the demo password, signed on.
async fn user(server: SocketAddr, alias: &str, watch: &[&str]) -> Client {
    let mut c = client_config(server, alias);
    c.password = format!("{alias}-demo");
    c.session.watch_list = watch.iter().map(|w| url(w)).collect();
    signed_on(c).await
}

fn args(list: &[&str]) -> impl Iterator<Item = String> {
    list.iter()
        .map(|s| (*s).to_owned())
        .collect::<Vec<_>>()
        .into_iter()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_bot_answers_every_message() {
    let (server, _dir) = demo_server("examples-echo").await;
    let opts = echo_bot::Options::from_args(
        args(&["--server", &server.addr.to_string()]),
        "bob@localhost",
    )
    .unwrap();
    let out = Shared::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let mut bot_out = out.clone();
    let bot = tokio::spawn(async move {
        echo_bot::run(opts, &mut bot_out, async {
            let _ = stopped.await;
        })
        .await
        .map_err(|e| e.to_string())
    });
    out.wait_for("signed on as http://localhost/instmsg/aliases/bob")
        .await;
    let mut alice = user(server.addr, "alice", &[]).await;
    for text in ["hello bot", "Grüße ☕"] {
        alice
            .handle()
            .send_message(&url("bob"), text)
            .await
            .unwrap();
        let e = expect(&mut alice, "the echo", |e| {
            matches!(e, Event::Message { .. })
        })
        .await;
        let Event::Message {
            from, text: got, ..
        } = e
        else {
            unreachable!()
        };
        assert_eq!((from, got), (url("bob"), format!("echo: {text}")));
    }
    let _ = stop.send(());
    let echoed = tokio::time::timeout(WAIT, bot)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(echoed, 2);
    assert!(out.text().contains("alice: Grüße ☕"), "{}", out.text());
    alice.sign_off().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_presence_changes() {
    let (server, _dir) = demo_server("examples-watch").await;
    let opts = watch::Options::from_args(args(&[
        "--server",
        &server.addr.to_string(),
        "--exit-after",
        "60",
    ]))
    .unwrap();
    assert_eq!(opts.user, "carol@localhost");
    let out = Shared::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let mut w_out = out.clone();
    let watcher = tokio::spawn(async move {
        watch::run(opts, &mut w_out, async {
            let _ = stopped.await;
        })
        .await
        .map_err(|e| e.to_string())
    });
    out.wait_for("watching bob@localhost (Bob Demo)").await;
    let alice = user(server.addr, "alice", &[]).await;
    out.wait_for("alice@localhost is online").await;
    alice.handle().set_state(PresenceState::Busy).await.unwrap();
    out.wait_for("alice@localhost is busy").await;
    alice.sign_off().await.unwrap();
    out.wait_for("alice@localhost is offline").await;
    let _ = stop.send(());
    tokio::time::timeout(WAIT, watcher)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_sends_receives_and_lists() {
    let (server, _dir) = demo_server("examples-chat").await;
    let mut bob = user(server.addr, "bob", &["alice"]).await;
    let opts = chat::Options::from_args(args(&["--server", &server.addr.to_string()])).unwrap();
    let out = Shared::default();
    let (mut keyboard, input) = tokio::io::duplex(4096);
    let mut c_out = out.clone();
    let chat = tokio::spawn(async move {
        chat::run(
            opts,
            tokio::io::BufReader::new(input),
            &mut c_out,
            std::future::pending(),
        )
        .await
        .map_err(|e| e.to_string())
    });
    out.wait_for("signed on as alice@localhost (Alice Demo)")
        .await;
    out.wait_for("* bob@localhost is online").await;
    keyboard
        .write_all("/msg bob Grüße, Bob\n".as_bytes())
        .await
        .unwrap();
    let e = expect(&mut bob, "alice's message", |e| {
        matches!(e, Event::Message { .. })
    })
    .await;
    assert!(
        matches!(e, Event::Message { ref text, .. } if text == "Grüße, Bob"),
        "{e:?}"
    );
    bob.handle()
        .send_message(&url("alice"), "hi alice ✓")
        .await
        .unwrap();
    out.wait_for("[bob@localhost] hi alice ✓").await;
    keyboard.write_all(b"/list\n/state away\n").await.unwrap();
    out.wait_for("  bob@localhost (Bob Demo) online").await;
    expect(&mut bob, "alice away", |e| matches!(e, Event::Presence { who, state: PresenceState::Away } if *who == url("alice"))).await;
    keyboard.write_all(b"still here?\n/quit\n").await.unwrap();
    // The message and alice's sign-off (offline) reach bob, in either order.
    let (mut message, mut offline) = (false, false);
    while !(message && offline) {
        match expect(&mut bob, "a message or a presence change", |e| {
            matches!(e, Event::Message { .. } | Event::Presence { .. })
        })
        .await
        {
            Event::Message { text, .. } => message |= text == "still here?",
            Event::Presence { who, state } => {
                offline |= who == url("alice") && state == PresenceState::Offline
            }
            _ => {}
        }
    }
    tokio::time::timeout(WAIT, chat)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    out.wait_for("signed off").await;
    bob.sign_off().await.unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_server_serves_two_clients() {
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        embedded_server::run(
            "127.0.0.1:0".parse().unwrap(),
            Some(Duration::from_secs(120)),
            move |addr| {
                let _ = ready_tx.send(addr);
            },
            async {
                let _ = stopped.await;
            },
        )
        .await
        .map_err(|e| e.to_string())
    });
    let addr = tokio::time::timeout(WAIT, ready_rx).await.unwrap().unwrap();
    let mut alice = user(addr, "alice", &["bob"]).await;
    let mut bob = user(addr, "bob", &["alice"]).await;
    expect(&mut alice, "bob online", |e| matches!(e, Event::Presence { who, state: PresenceState::Online } if *who == url("bob"))).await;
    bob.handle()
        .set_state(PresenceState::OnPhone)
        .await
        .unwrap();
    expect(&mut alice, "bob on the phone", |e| matches!(e, Event::Presence { who, state: PresenceState::OnPhone } if *who == url("bob"))).await;
    let id = alice
        .handle()
        .send_message(&url("bob"), "über den Server ✓")
        .await
        .unwrap();
    expect(
        &mut bob,
        "alice's message",
        |e| matches!(e, Event::Message { text, .. } if text == "über den Server ✓"),
    )
    .await;
    expect(
        &mut alice,
        "the message delivered",
        |e| matches!(e, Event::Delivered { id: i, .. } if *i == id),
    )
    .await;
    bob.sign_off().await.unwrap();
    expect(&mut alice, "bob offline", |e| matches!(e, Event::Presence { who, state: PresenceState::Offline } if *who == url("bob"))).await;
    alice.sign_off().await.unwrap();
    let _ = stop.send(());
    tokio::time::timeout(WAIT, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
