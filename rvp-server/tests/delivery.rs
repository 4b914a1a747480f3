//! Callback delivery over real TCP on 127.0.0.1, against fake callback listeners that
//! behave like real clients (keep-alive with Content-Length, librvp's close-delimited
//! answer, a stalled client, a refused port, garbage).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rvp_interop::captures;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::StatusCode;
use rvp_proto::codec::{RequestParser, Status};
use rvp_proto::header::{AckType, HopCount, SubscriptionId};
use rvp_server::delivery::{
    Admission, Deliverer, DeliveryConfig, DeliveryReport, Destination, FailureReason,
    OutboundNotify, SendOutcome,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

/// Upper bound on any single wait in these tests (they finish far sooner).
const WAIT: Duration = Duration::from_secs(10);

const OK_CL: &[u8] =
    b"HTTP/1.1 200 Successful\r\nRVP-Notifications-Version: 0.2\r\nContent-Length: 0\r\n\r\n";
/// librvp's answer to a NOTIFY (captures): no Content-Length, then it closes.
const LIBRVP: &[u8] = b"HTTP/1.1 200 Successful\r\nRVP-Notifications-Version: 0.2\r\n\r\n";

#[derive(Clone)]
enum Mode {
    /// 200 with Content-Length, connection kept open.
    KeepAlive,
    /// These bytes, then close.
    AnswerAndClose(Bytes),
    /// Read the request, never answer.
    Stall,
    /// Answer each request only once a permit is available, then like `KeepAlive`.
    Gated(Arc<Semaphore>),
    /// Answer the first request on a connection like `KeepAlive`, then close without
    /// answering the second (a keep-alive peer that gave up on the connection meanwhile).
    DropSecond,
}

#[derive(Debug)]
struct Received {
    conn: usize,
    target: String,
    host: String,
    subscription_id: Option<String>,
    hop_count: Option<String>,
    ack_type: Option<String>,
    body: Vec<u8>,
}

struct Fake {
    addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<Received>,
    conns: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    fn destination(&self) -> Destination {
        Destination::from_callback(&format!("http://{}", self.addr).parse().unwrap()).unwrap()
    }

    async fn next(&mut self) -> Received {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("callback received nothing in time")
            .expect("fake callback ended")
    }

    fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }
}

async fn fake(mode: Mode) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let conns = Arc::new(AtomicUsize::new(0));
    let counter = conns.clone();
    let task = tokio::spawn(async move {
        let mut set = JoinSet::new();
        while let Ok((s, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            set.spawn(serve(s, n, mode.clone(), tx.clone()));
        }
    });
    Fake {
        addr,
        rx,
        conns,
        task,
    }
}

async fn serve(mut s: TcpStream, conn: usize, mode: Mode, tx: mpsc::UnboundedSender<Received>) {
    let mut buf = BytesMut::new();
    let mut served = 0usize;
    loop {
        let (received, consumed) = loop {
            let mut parser = RequestParser::default();
            match parser.parse(&buf) {
                Ok(Status::Complete(m)) => {
                    let h = m.head();
                    let get = |n: &str| h.headers().get_str(n).map(str::to_owned);
                    break (
                        Received {
                            conn,
                            target: h.target().to_owned(),
                            host: get("host").unwrap_or_default(),
                            subscription_id: get("subscription-id"),
                            hop_count: get("rvp-hop-count"),
                            ack_type: get("rvp-ack-type"),
                            body: m.body().to_vec(),
                        },
                        m.consumed(),
                    );
                }
                Ok(Status::Partial) => {}
                Err(e) => panic!("fake callback got a malformed request: {e}"),
            }
            match s.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        buf.advance(consumed);
        let _ = tx.send(received);
        served += 1;
        match &mode {
            Mode::DropSecond if served >= 2 => return,
            Mode::DropSecond => {
                if s.write_all(OK_CL).await.is_err() {
                    return;
                }
            }
            Mode::KeepAlive => {
                if s.write_all(OK_CL).await.is_err() {
                    return;
                }
            }
            Mode::AnswerAndClose(bytes) => {
                let _ = s.write_all(bytes).await;
                let _ = s.shutdown().await;
                return;
            }
            Mode::Stall => std::future::pending::<()>().await,
            Mode::Gated(sem) => {
                sem.acquire().await.unwrap().forget();
                if s.write_all(OK_CL).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn config() -> DeliveryConfig {
    let mut c = DeliveryConfig::default();
    c.connect_timeout = Duration::from_secs(5);
    c.response_timeout = Duration::from_secs(5);
    c.idle_timeout = Duration::from_millis(200);
    c
}

type Reports = mpsc::UnboundedReceiver<DeliveryReport<u32>>;

fn deliverer(config: DeliveryConfig) -> (Deliverer<u32>, Reports) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Deliverer::new(config, tx), rx)
}

async fn report(rx: &mut Reports) -> DeliveryReport<u32> {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no delivery report in time")
        .expect("deliverer gone")
}

fn message(id: u32, dest: Destination, body: &str) -> OutboundNotify<u32> {
    OutboundNotify::message(
        id,
        dest,
        "http://localhost/instmsg/aliases/alice",
        Bytes::from(body.to_owned()),
    )
    .with_ack_type(AckType::DeepOr)
    .with_hop_count(HopCount::ORIGIN.next())
}

fn presence(id: u32, dest: Destination, sid: &str, state: &str) -> OutboundNotify<u32> {
    OutboundNotify::presence(
        id,
        dest,
        "localhost",
        SubscriptionId::new(sid).unwrap(),
        Bytes::from(format!("<r:state><r:{state}/></r:state>")),
    )
}

#[tokio::test]
async fn keep_alive_callback_gets_exact_request_on_one_connection() {
    let mut cb = fake(Mode::KeepAlive).await;
    let (d, mut reports) = deliverer(config());
    for i in 0..5 {
        assert_eq!(
            d.submit(presence(i, cb.destination(), "42", "busy")),
            Admission::Queued
        );
        let r = report(&mut reports).await;
        assert_eq!(r.id, i);
        assert_eq!(r.outcome, SendOutcome::Answered(StatusCode::OK));
        let got = cb.next().await;
        assert_eq!(got.target, "/");
        assert_eq!(got.host, cb.addr.to_string());
        assert_eq!(got.subscription_id.as_deref(), Some("42"));
        assert_eq!(got.hop_count.as_deref(), Some("1"));
        assert_eq!(got.ack_type.as_deref(), Some("SingleHop"));
        assert_eq!(got.body, b"<r:state><r:busy/></r:state>");
    }
    // Sequential NOTIFYs reuse the kept-alive connection.
    assert_eq!(cb.connections(), 1);
}

#[tokio::test]
async fn librvp_style_answer_without_content_length_then_close() {
    // Bare LF, no Content-Length, a body, then close; and librvp's exact CRLF answer.
    for answer in [
        Bytes::from_static(b"HTTP/1.0 200 OK\nContent-Type: text/html\n\n<HTML>ok</HTML>"),
        Bytes::from_static(LIBRVP),
    ] {
        let mut cb = fake(Mode::AnswerAndClose(answer)).await;
        let (d, mut reports) = deliverer(config());
        for i in 0..3 {
            d.submit(message(i, cb.destination(), "hi"));
            let r = report(&mut reports).await;
            assert_eq!(
                (r.id, r.outcome),
                (i, SendOutcome::Answered(StatusCode::OK))
            );
            let got = cb.next().await;
            assert_eq!(got.conn, usize::try_from(i).unwrap());
            assert_eq!(got.hop_count.as_deref(), Some("2"));
            assert_eq!(got.ack_type.as_deref(), Some("DeepOr"));
        }
        // One connection per NOTIFY: the peer closes after each answer.
        assert_eq!(cb.connections(), 3);
    }
}

#[tokio::test]
async fn every_captured_client_answer_is_readable() {
    let mut answers = Vec::new();
    for file in captures::capture_files() {
        for b in captures::read_blocks(&file) {
            if b.direction == "CLIENT->SERVER" && b.peer.starts_with("reply from") {
                answers.push(b.bytes);
            }
        }
    }
    assert!(answers.len() >= 20, "found {} answers", answers.len());
    for (i, answer) in answers.into_iter().enumerate() {
        let cb = fake(Mode::AnswerAndClose(Bytes::from(answer.clone()))).await;
        let (d, mut reports) = deliverer(config());
        d.submit(message(u32::try_from(i).unwrap(), cb.destination(), "x"));
        let r = report(&mut reports).await;
        assert!(
            r.outcome.is_success(),
            "answer {:?} gave {:?}",
            String::from_utf8_lossy(&answer),
            r.outcome
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_callback_times_out_without_delaying_others() {
    let mut stalled = fake(Mode::Stall).await;
    let mut healthy = fake(Mode::KeepAlive).await;
    let cfg = {
        let mut c = config();
        c.response_timeout = Duration::from_secs(2);
        c
    };
    let (d, mut reports) = deliverer(cfg);
    d.submit(message(1, stalled.destination(), "to the void"));
    // The stalled callback has the request and is sitting on it.
    stalled.next().await;
    d.submit(message(2, healthy.destination(), "hello"));
    d.submit(presence(3, healthy.destination(), "9", "away"));
    // The healthy callback's deliveries complete while the stalled one is still pending:
    // they are reported before the stalled one's timeout.
    let first = report(&mut reports).await;
    let second = report(&mut reports).await;
    assert_eq!(
        (first.id, second.id),
        (2, 3),
        "healthy deliveries waited for the stalled callback"
    );
    assert!(first.outcome.is_success() && second.outcome.is_success());
    assert_eq!(healthy.next().await.body, b"hello");
    let third = report(&mut reports).await;
    assert_eq!(third.id, 1);
    assert_eq!(
        third.outcome,
        SendOutcome::Failed(FailureReason::ResponseTimeout)
    );
}

#[tokio::test]
async fn refused_connection_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let (d, mut reports) = deliverer(config());
    let dest = Destination::from_callback(&format!("http://{addr}").parse().unwrap()).unwrap();
    d.submit(message(7, dest, "x"));
    let r = report(&mut reports).await;
    assert_eq!(r.id, 7);
    assert_eq!(
        r.outcome,
        SendOutcome::Failed(FailureReason::Connect(
            std::io::ErrorKind::ConnectionRefused
        ))
    );
}

#[tokio::test]
async fn non_2xx_garbage_and_silent_close() {
    type Check = fn(&SendOutcome) -> bool;
    let cases: [(&[u8], Check); 4] = [
        (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
            |o| *o == SendOutcome::Answered(StatusCode::INTERNAL_SERVER_ERROR),
        ),
        (b"HTTP/1.1 404 Not Found\n\n", |o| {
            *o == SendOutcome::Answered(StatusCode::NOT_FOUND)
        }),
        (b"HELLO THERE\r\n\r\n", |o| {
            matches!(o, SendOutcome::Failed(FailureReason::BadResponse(_)))
        }),
        (b"", |o| {
            *o == SendOutcome::Failed(FailureReason::ConnectionClosed)
        }),
    ];
    for (answer, check) in cases {
        let cb = fake(Mode::AnswerAndClose(Bytes::from_static(answer))).await;
        let (d, mut reports) = deliverer(config());
        d.submit(message(1, cb.destination(), "x"));
        let r = report(&mut reports).await;
        assert!(check(&r.outcome), "{answer:?} gave {:?}", r.outcome);
    }
}

#[tokio::test]
async fn oversized_answer_is_refused() {
    let mut big = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 2000));
    let cb = fake(Mode::AnswerAndClose(Bytes::from(big))).await;
    let mut cfg = config();
    cfg.response_limits = rvp_proto::Limits::DEFAULT.with_max_body_bytes(1000);
    let (d, mut reports) = deliverer(cfg);
    d.submit(message(1, cb.destination(), "x"));
    let r = report(&mut reports).await;
    assert!(matches!(
        r.outcome,
        SendOutcome::Failed(FailureReason::BadResponse(
            rvp_proto::ParseError::BodyTooLarge { .. }
        ))
    ));
}

#[tokio::test]
async fn presence_updates_coalesce_to_the_latest() {
    let gate = Arc::new(Semaphore::new(0));
    let mut cb = fake(Mode::Gated(gate.clone())).await;
    let (d, mut reports) = deliverer(config());
    // The first update is in flight and held at the callback.
    d.submit(presence(0, cb.destination(), "5", "online"));
    assert_eq!(cb.next().await.body, b"<r:state><r:online/></r:state>");
    let states = ["away", "busy", "idle", "on-phone", "offline"];
    for (i, s) in (1..).zip(states) {
        let a = d.submit(presence(i, cb.destination(), "5", s));
        assert_eq!(
            a,
            if i == 1 {
                Admission::Queued
            } else {
                Admission::Replaced
            }
        );
    }
    // Four of them were superseded before being sent.
    for want in 1..=4 {
        let r = report(&mut reports).await;
        assert_eq!((r.id, r.outcome), (want, SendOutcome::Superseded));
    }
    gate.add_permits(10);
    for want in [0, 5] {
        let r = report(&mut reports).await;
        assert_eq!(r.id, want);
        assert!(r.outcome.is_success());
    }
    // Only the latest state arrived after the held one.
    assert_eq!(cb.next().await.body, b"<r:state><r:offline/></r:state>");
    assert!(cb.rx.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_keep_their_order() {
    const N: u32 = 40;
    let gate = Arc::new(Semaphore::new(0));
    let mut cb = fake(Mode::Gated(gate.clone())).await;
    let (d, mut reports) = deliverer(config());
    for i in 0..N {
        assert_eq!(
            d.submit(message(i, cb.destination(), &format!("m{i}"))),
            Admission::Queued
        );
        // Presence updates interleaved for other subscriptions do not disturb the order.
        if i % 10 == 0 {
            d.submit(presence(1000 + i, cb.destination(), &i.to_string(), "busy"));
        }
    }
    gate.add_permits(1000);
    let mut bodies = Vec::new();
    while bodies.len() < usize::try_from(N).unwrap() {
        let got = cb.next().await;
        if got.body.starts_with(b"m") {
            bodies.push(String::from_utf8(got.body).unwrap());
        }
    }
    let want: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(bodies, want);
    let mut ids = Vec::new();
    for _ in 0..(N + 4) {
        let r = report(&mut reports).await;
        assert!(r.outcome.is_success());
        if r.id < 1000 {
            ids.push(r.id);
        }
    }
    assert_eq!(ids, (0..N).collect::<Vec<_>>());
}

#[tokio::test]
async fn queue_overflow_fails_messages_at_once() {
    let mut cb = fake(Mode::Stall).await;
    let cfg = {
        let mut c = config();
        c.queue_capacity = 3;
        c.response_timeout = Duration::from_millis(500);
        c
    };
    let (d, mut reports) = deliverer(cfg);
    d.submit(message(0, cb.destination(), "in flight"));
    cb.next().await;
    for i in 1..=3 {
        assert_eq!(
            d.submit(message(i, cb.destination(), "q")),
            Admission::Queued
        );
    }
    assert_eq!(d.pending(), 4);
    assert_eq!(
        d.submit(message(4, cb.destination(), "q")),
        Admission::Refused(FailureReason::QueueFull)
    );
    // Reported at once, before anything else happens.
    let r = report(&mut reports).await;
    assert_eq!(
        (r.id, r.outcome),
        (4, SendOutcome::Failed(FailureReason::QueueFull))
    );
    // A presence update for a new subscription does not fit either...
    assert_eq!(
        d.submit(presence(5, cb.destination(), "1", "busy")),
        Admission::Refused(FailureReason::QueueFull)
    );
    assert_eq!(report(&mut reports).await.id, 5);
    // ...and the queued ones go out (here: time out one by one at the stalled callback).
    let mut rest = Vec::new();
    for _ in 0..4 {
        let r = report(&mut reports).await;
        assert_eq!(
            r.outcome,
            SendOutcome::Failed(FailureReason::ResponseTimeout)
        );
        rest.push(r.id);
    }
    assert_eq!(rest, [0, 1, 2, 3]);
}

#[tokio::test]
async fn waiting_messages_expire_behind_a_stalled_callback() {
    let mut cb = fake(Mode::Stall).await;
    let cfg = {
        let mut c = config();
        c.response_timeout = Duration::from_millis(300);
        c.message_max_wait = Duration::from_millis(100);
        c
    };
    let (d, mut reports) = deliverer(cfg);
    d.submit(message(0, cb.destination(), "in flight"));
    cb.next().await;
    d.submit(message(1, cb.destination(), "stale"));
    d.submit(presence(2, cb.destination(), "3", "busy"));
    let r = report(&mut reports).await;
    assert_eq!(
        (r.id, r.outcome),
        (0, SendOutcome::Failed(FailureReason::ResponseTimeout))
    );
    let r = report(&mut reports).await;
    assert_eq!(
        (r.id, r.outcome),
        (1, SendOutcome::Failed(FailureReason::Expired))
    );
    // Presence is not perishable: it is still sent (and times out at this callback).
    let r = report(&mut reports).await;
    assert_eq!(r.id, 2);
    assert_eq!(cb.next().await.subscription_id.as_deref(), Some("3"));
}

#[tokio::test]
async fn destination_limit_and_idle_workers_exit() {
    let mut stalled = fake(Mode::Stall).await;
    let healthy = fake(Mode::KeepAlive).await;
    let cfg = {
        let mut c = config();
        c.max_destinations = 1;
        c.response_timeout = Duration::from_millis(300);
        c.idle_timeout = Duration::from_millis(50);
        c
    };
    let (d, mut reports) = deliverer(cfg);
    d.submit(message(1, stalled.destination(), "x"));
    stalled.next().await;
    assert_eq!(d.active_destinations(), 1);
    assert_eq!(
        d.submit(message(2, healthy.destination(), "x")),
        Admission::Refused(FailureReason::TooManyDestinations)
    );
    assert_eq!(report(&mut reports).await.id, 2);
    assert_eq!(report(&mut reports).await.id, 1);
    // The worker exits once idle; then the other destination fits.
    let mut waited = 0;
    while d.active_destinations() > 0 {
        waited += 1;
        assert!(waited < 200, "idle worker did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        d.submit(message(3, healthy.destination(), "x")),
        Admission::Queued
    );
    assert!(report(&mut reports).await.outcome.is_success());
}

#[tokio::test]
async fn kept_connection_closed_by_peer_is_replaced() {
    // Answers with Content-Length (so the connection is kept) and then closes anyway.
    let answer = Bytes::from_static(OK_CL);
    let mut cb = fake(Mode::AnswerAndClose(answer)).await;
    let (d, mut reports) = deliverer({
        let mut c = config();
        c.idle_timeout = Duration::from_secs(5);
        c
    });
    for i in 0..3 {
        d.submit(message(i, cb.destination(), "x"));
        assert!(report(&mut reports).await.outcome.is_success());
        cb.next().await;
        // Give the close time to arrive, as between real notifications.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(cb.connections(), 3);
}

#[tokio::test]
async fn close_refuses_new_and_fails_waiting() {
    let mut cb = fake(Mode::Stall).await;
    let cfg = {
        let mut c = config();
        c.response_timeout = Duration::from_millis(300);
        c
    };
    let (d, mut reports) = deliverer(cfg);
    d.submit(message(0, cb.destination(), "x"));
    cb.next().await;
    d.submit(message(1, cb.destination(), "x"));
    d.close();
    let r = report(&mut reports).await;
    assert_eq!(
        (r.id, r.outcome),
        (1, SendOutcome::Failed(FailureReason::ShuttingDown))
    );
    assert_eq!(
        d.submit(message(2, cb.destination(), "x")),
        Admission::Refused(FailureReason::ShuttingDown)
    );
    assert_eq!(report(&mut reports).await.id, 2);
    // The one in flight still finishes and is reported.
    let r = report(&mut reports).await;
    assert_eq!(
        (r.id, r.outcome),
        (0, SendOutcome::Failed(FailureReason::ResponseTimeout))
    );
}

#[tokio::test]
async fn kept_connection_dying_before_an_answer_is_retried_once() {
    let mut cb = fake(Mode::DropSecond).await;
    let (d, mut reports) = deliverer(config());
    d.submit(message(1, cb.destination(), "one"));
    assert!(report(&mut reports).await.outcome.is_success());
    d.submit(message(2, cb.destination(), "two"));
    let r = report(&mut reports).await;
    assert_eq!(
        (r.id, r.outcome),
        (2, SendOutcome::Answered(StatusCode::OK))
    );
    let seen: Vec<(usize, Vec<u8>)> = [cb.next().await, cb.next().await, cb.next().await]
        .into_iter()
        .map(|r| (r.conn, r.body))
        .collect();
    assert_eq!(
        seen,
        [
            (0, b"one".to_vec()),
            (0, b"two".to_vec()),
            (1, b"two".to_vec())
        ]
    );
    assert_eq!(cb.connections(), 2);
}

#[tokio::test]
async fn connect_timeout_when_the_backlog_is_full() {
    // A listener that never accepts, with a backlog of 1: once its queue is full, Linux
    // drops further SYNs and a connect hangs until the timeout.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(addr)).await
        {
            fillers.push(s);
        }
    }
    let mut cfg = config();
    cfg.connect_timeout = Duration::from_millis(200);
    let (d, mut reports) = deliverer(cfg);
    let dest = Destination::from_callback(&format!("http://{addr}").parse().unwrap()).unwrap();
    d.submit(message(1, dest, "x"));
    let r = report(&mut reports).await;
    assert_eq!(
        r.outcome,
        SendOutcome::Failed(FailureReason::ConnectTimeout)
    );
    drop(listener);
}
