//! embedded_server: a minimal RVP home server from `rvp-proto` and `rvp-presence` on
//! tokio, without `rvp-server` — the sans-IO seams in one file.
//!
//! ```text
//!  connection task: bytes ─► rvp_proto::codec::decode_request ─► http::Request ─┐
//!        ▲ answer bytes                                                          ▼
//!        └──── oneshot ◄── Output::Respond ◄── Engine (one task; no I/O, no clock)
//!                                  Output::Deliver ─► delivery task: NOTIFY ─► call-back
//!                  handle_delivery_result ◄── 2xx / 500 / failure ◄──┘
//!                  handle_timeout ◄── sleep until Engine::poll_timeout
//! ```
//!
//! Demo domain `localhost`, users alice, bob and carol, **no authentication**
//! (assertion-only mode: `RVP-From-Principal` is believed; closed test networks only),
//! nothing stored. What `rvp-server` adds: Digest, storage, limits and timeouts on every
//! connection, a bounded queue per call-back, configuration, logs.
//!
//! ```sh
//! cargo run --example embedded_server                            # listens on 127.0.0.1:8090
//! cargo run --example chat -- --server 127.0.0.1:8090            # alice
//! cargo run --example echo_bot -- --server 127.0.0.1:8090        # bob
//! ```
//!
//! Options: `--listen <addr>` (`RVP_LISTEN`, `127.0.0.1:8090`), `--exit-after <seconds>`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rvp_presence::{
    Caller, DeliveryId, DeliveryOutcome, DirectoryProperties, Engine, NodeKey, Output, Policy,
    RequestId,
};
use rvp_proto::codec::{RequestParser, ResponseParser, Status, decode_request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What reaches the engine task.
enum Input {
    Request(Box<http::Request<Bytes>>, IpAddr, oneshot::Sender<Vec<u8>>),
    Delivered(DeliveryId, DeliveryOutcome),
}

/// Serves until `exit_after` passes or `stop` completes; `ready` gets the bound address.
pub async fn run(
    listen: SocketAddr,
    exit_after: Option<Duration>,
    ready: impl FnOnce(SocketAddr),
    stop: impl Future<Output = ()>,
) -> Result<(), BoxError> {
    let mut policy = Policy::default();
    policy.owner_accepts_assertion = true; // no Digest in this example
    let mut engine = Engine::new(policy, Instant::now())?;
    for (alias, name) in [
        ("alice", "Alice Demo"),
        ("bob", "Bob Demo"),
        ("carol", "Carol Demo"),
    ] {
        let key = NodeKey::new("localhost", alias).ok_or("bad node key")?;
        engine.register_principal(
            key,
            DirectoryProperties::new(name, &format!("{alias}@localhost")),
        )?;
    }
    let listener = TcpListener::bind(listen).await?;
    ready(listener.local_addr()?);
    let (tx, mut rx) = mpsc::channel::<Input>(1024);
    let accept_tx = tx.clone();
    let acceptor = tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            tokio::spawn(connection(stream, peer.ip(), accept_tx.clone()));
        }
    });
    let exit = async {
        match exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let (mut exit, mut stop) = (std::pin::pin!(exit), std::pin::pin!(stop));
    let mut waiting: HashMap<RequestId, oneshot::Sender<Vec<u8>>> = HashMap::new();
    let mut next_id = 0u64;
    // The engine task: inputs in, outputs out, time passed in.
    loop {
        let wake = engine.poll_timeout();
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(input) = rx.recv() => match input {
                Input::Request(req, source, answer) => {
                    next_id += 1;
                    waiting.insert(RequestId(next_id), answer);
                    let caller = Caller::from_request(&req, None, Some(source));
                    engine.handle_http(Instant::now(), RequestId(next_id), &caller, &req);
                }
                Input::Delivered(id, outcome) => engine.handle_delivery_result(Instant::now(), id, outcome),
            },
            () = sleep => engine.handle_timeout(Instant::now()),
            () = &mut exit => break,
            () = &mut stop => break,
        }
        while let Some(output) = engine.poll_output() {
            match output {
                Output::Respond(answer) => {
                    if let Some(tx) = waiting.remove(&answer.request) {
                        let _ = tx.send(answer.to_bytes());
                    }
                }
                Output::Deliver(delivery) => {
                    let mut bytes = Vec::new();
                    let sent = delivery.write_notify(&mut bytes).is_ok();
                    let (host, _) = delivery.destination();
                    let (host, id, tx) = (host.to_owned(), delivery.id(), tx.clone());
                    tokio::spawn(async move {
                        let outcome = if sent {
                            deliver(&host, &bytes).await
                        } else {
                            DeliveryOutcome::Failed
                        };
                        let _ = tx.send(Input::Delivered(id, outcome)).await;
                    });
                }
                _ => {}
            }
        }
    }
    acceptor.abort();
    Ok(())
}

/// One client connection: requests in order, each answered by the engine task.
async fn connection(mut stream: TcpStream, source: IpAddr, engine: mpsc::Sender<Input>) {
    let mut parser = RequestParser::default();
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        match decode_request(&mut parser, &mut buf) {
            Ok(Some(req)) => {
                let (tx, rx) = oneshot::channel();
                if engine
                    .send(Input::Request(Box::new(req), source, tx))
                    .await
                    .is_err()
                {
                    return;
                }
                let Ok(answer) = rx.await else { return };
                if stream.write_all(&answer).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(None) => {}
            Err(_) => {
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
                return;
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(60), stream.read_buf(&mut buf)).await;
        if !matches!(read, Ok(Ok(n)) if n > 0) {
            return;
        }
    }
}

/// Sends one NOTIFY to a call-back (`host:port`) and reads its answer (librvp answers
/// without `Content-Length`: the body then ends with the connection).
async fn deliver(host: &str, bytes: &[u8]) -> DeliveryOutcome {
    let exchange = async {
        let mut s = TcpStream::connect(host).await.ok()?;
        s.write_all(bytes).await.ok()?;
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.ok()?;
            buf.extend_from_slice(&chunk[..n]);
            if let Ok(Status::Complete(m)) = ResponseParser::default().parse(&buf, n == 0) {
                return Some(m.head().code());
            }
            if n == 0 {
                return None;
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), exchange).await {
        Ok(Some(200..=299)) => DeliveryOutcome::Delivered,
        Ok(Some(500)) => DeliveryOutcome::LeftConversation,
        _ => DeliveryOutcome::Failed,
    }
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let mut listen = std::env::var("RVP_LISTEN").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let mut exit_after = None;
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--listen", Some(v)) => listen = v,
            ("--exit-after", Some(v)) => exit_after = v.parse().ok().map(Duration::from_secs_f64),
            _ => {
                eprintln!("embedded_server: usage: [--listen <addr>] [--exit-after <seconds>]");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    let Ok(listen) = listen.parse() else {
        eprintln!("embedded_server: bad --listen address {listen}");
        return std::process::ExitCode::FAILURE;
    };
    let ready = |addr| {
        println!("RVP home server for localhost (alice, bob, carol; no authentication) on {addr}")
    };
    match run(listen, exit_after, ready, std::future::pending()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embedded_server: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
