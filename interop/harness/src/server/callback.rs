//! [`Callback`]: a client's call-back listener that records the NOTIFYs it receives.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use rvp_proto::codec::{RequestParser, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::WAIT;

/// One NOTIFY a call-back listener received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request target.
    pub target: String,
    /// The header fields in order, values as (lossy) text.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The bare state name in a property-change body (`busy` in `<r:state><r:busy/>`).
    pub fn state(&self) -> Option<String> {
        let t = self.text();
        let i = t.find("<r:state><r:")? + "<r:state><r:".len();
        let j = t[i..].find('/')?;
        Some(t[i..i + j].to_owned())
    }
}

/// A client's call-back listener: answers every NOTIFY with `status` (0 = never answers:
/// a stalled client), on any number of connections, and records what it received. The
/// listener stops when dropped.
pub struct Callback {
    /// The address it listens on.
    pub addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<Received>,
    status: Arc<AtomicU16>,
    task: JoinHandle<()>,
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback")
            .field("addr", &self.addr)
            .field("status", &self.status.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Callback {
    /// A listener on a free port of 127.0.0.1 answering `status`.
    pub async fn start(status: u16) -> Callback {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a call-back listener");
        Callback::on(listener, status)
    }

    /// A listener on a given address; `None` when it cannot be bound (port 80 needs root).
    pub async fn start_at(addr: SocketAddr, status: u16) -> Option<Callback> {
        let listener = TcpListener::bind(addr).await.ok()?;
        Some(Callback::on(listener, status))
    }

    fn on(listener: TcpListener, status: u16) -> Callback {
        let addr = listener.local_addr().expect("a bound address");
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(AtomicU16::new(status));
        let st = Arc::clone(&status);
        let task = tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve_callback(s, tx.clone(), Arc::clone(&st)));
            }
        });
        Callback {
            addr,
            rx,
            status,
            task,
        }
    }

    /// `http://127.0.0.1:port`, the `Call-Back` of a login.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The status later NOTIFYs are answered with (0: none, the connection held).
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// The next NOTIFY, waiting at most [`WAIT`].
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .expect("a NOTIFY in time")
            .expect("listener alive")
    }

    /// The next NOTIFY within `d`, if any.
    pub async fn next_within(&mut self, d: Duration) -> Option<Received> {
        tokio::time::timeout(d, self.rx.recv()).await.ok().flatten()
    }

    /// The next property change whose state is `state`, skipping others (bounded).
    pub async fn state_change(&mut self, state: &str) -> Received {
        for _ in 0..20 {
            let r = self.next().await;
            if r.state().as_deref() == Some(state) {
                return r;
            }
        }
        panic!("no change to {state}");
    }
}

/// One call-back connection: every complete request recorded and answered in order.
async fn serve_callback(
    mut s: TcpStream,
    tx: mpsc::UnboundedSender<Received>,
    status: Arc<AtomicU16>,
) {
    let mut buf = Vec::new();
    loop {
        let parsed = {
            let mut p = RequestParser::default();
            match p.parse(&buf) {
                Ok(Status::Complete(m)) => Some((
                    Received {
                        target: m.head().target().to_owned(),
                        headers: m
                            .head()
                            .headers()
                            .iter()
                            .map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned()))
                            .collect(),
                        body: m.body().to_vec(),
                    },
                    m.consumed(),
                )),
                Ok(Status::Partial) => None,
                Err(_) => return,
            }
        };
        if let Some((r, used)) = parsed {
            buf.drain(..used);
            let _ = tx.send(r);
            let code = status.load(Ordering::SeqCst);
            if code == 0 {
                // Stalled: never answers, holds the connection.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            let answer = format!(
                "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nRVP-Notifications-Version: 0.2\r\n\r\n"
            );
            if s.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
