//! Callback listeners: the watchers' "clients". Each listener answers every NOTIFY with
//! `200 Successful` at once (keep-alive) and records when it arrived and which presence
//! state it carried.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A connection with no request for this long is closed.
const IDLE: Duration = Duration::from_secs(120);
/// Largest NOTIFY accepted.
const MAX_REQUEST: usize = 1 << 20;
const ANSWER: &[u8] =
    b"HTTP/1.1 200 Successful\r\nRVP-Notifications-Version: 0.2\r\nContent-Length: 0\r\n\r\n";

/// One NOTIFY received.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    /// Index of the listener (= the watcher) that received it.
    pub(crate) listener: u32,
    pub(crate) at: Instant,
    /// Index into the state names given to [`Sinks::start`] of the state the body names.
    pub(crate) state: Option<u8>,
}

#[derive(Debug)]
struct Shared {
    states: Vec<String>,
    record: bool,
    events: Mutex<Vec<Event>>,
    count: AtomicU64,
}

/// A set of callback listeners on 127.0.0.1.
#[derive(Debug)]
pub(crate) struct Sinks {
    pub(crate) addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Sinks {
    /// `n` listeners. With `record`, every NOTIFY is kept as an [`Event`]; otherwise only
    /// counted. `states` are the presence state local names to recognise in bodies.
    pub(crate) async fn start(n: usize, record: bool, states: &[&str]) -> io::Result<Sinks> {
        let shared = Arc::new(Shared {
            states: states.iter().map(|s| (*s).to_owned()).collect(),
            record,
            events: Mutex::new(Vec::new()),
            count: AtomicU64::new(0),
        });
        let mut addrs = Vec::with_capacity(n);
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let l = TcpListener::bind(("127.0.0.1", 0)).await?;
            addrs.push(l.local_addr()?);
            let shared = shared.clone();
            let idx = u32::try_from(i).map_err(io::Error::other)?;
            tasks.push(tokio::spawn(accept_loop(l, idx, shared)));
        }
        Ok(Sinks {
            addrs,
            shared,
            tasks,
        })
    }

    /// NOTIFYs received so far.
    pub(crate) fn count(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// Takes the events recorded so far.
    pub(crate) fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.shared.events.lock().expect("sink lock"))
    }
}

impl Drop for Sinks {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn accept_loop(l: TcpListener, idx: u32, shared: Arc<Shared>) {
    // Ends when the task is aborted (Sinks dropped); each accepted connection is bounded
    // by the idle timeout.
    loop {
        let Ok((s, _)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = serve(s, idx, &shared).await;
        });
    }
}

async fn serve(mut s: TcpStream, idx: u32, shared: &Shared) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Every complete request in the buffer is answered, then more is read.
        let mut answers = 0usize;
        while let Some(total) = complete_request(&buf)? {
            let at = Instant::now();
            shared.count.fetch_add(1, Ordering::Relaxed);
            if shared.record {
                let state = state_in(&buf[..total])
                    .and_then(|name| shared.states.iter().position(|s| s.as_bytes() == name))
                    .and_then(|p| u8::try_from(p).ok());
                shared.events.lock().expect("sink lock").push(Event {
                    listener: idx,
                    at,
                    state,
                });
            }
            buf.drain(..total);
            answers += 1;
        }
        if answers > 0 {
            let mut out = Vec::with_capacity(ANSWER.len() * answers);
            for _ in 0..answers {
                out.extend_from_slice(ANSWER);
            }
            s.write_all(&out).await?;
        }
        if buf.len() > MAX_REQUEST {
            return Err(io::Error::other("request too large"));
        }
        let n = tokio::time::timeout(IDLE, s.read_buf(&mut buf))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "idle"))??;
        if n == 0 {
            return Ok(());
        }
    }
}

/// Length of the first complete request in `buf`, if there is one.
fn complete_request(buf: &[u8]) -> io::Result<Option<usize>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let head = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::other(format!("bad NOTIFY: {e}"))),
    };
    let mut len = 0usize;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| io::Error::other("bad Content-Length"))?;
        }
    }
    Ok((buf.len() >= head + len).then_some(head + len))
}

/// The local name of the first element inside `<x:state>`: `busy` in
/// `<r:state><r:busy/></r:state>`. One pass over the bytes (the listeners share the cores
/// with the server under test, so they must be cheap).
fn state_in(body: &[u8]) -> Option<&[u8]> {
    let mut from = 0;
    while let Some(gt) = body[from..].iter().position(|&b| b == b'>') {
        let at = from + gt;
        from = at + 1;
        let open = &body[..at];
        if open.ends_with(b":state") || open.ends_with(b"<state") {
            let rest = body.get(at + 1..)?;
            let rest = rest.strip_prefix(b"<")?;
            let end = rest
                .iter()
                .position(|&b| b == b'/' || b == b'>' || b == b' ')?;
            let qname = &rest[..end];
            let local = qname
                .iter()
                .position(|&b| b == b':')
                .map_or(qname, |c| &qname[c + 1..]);
            return Some(local);
        }
    }
    None
}

/// Checks [`state_in`] (run at start-up: a `harness = false` bench has no test runner).
pub(crate) fn self_check() {
    let body = b"<r:notification><r:propnotification><d:propertyupdate><d:set><d:prop>\
        <r:state><r:on-phone/></r:state></d:prop></d:set></d:propertyupdate>";
    assert_eq!(state_in(body), Some(&b"on-phone"[..]));
    assert_eq!(state_in(b"<state><online/></state>"), Some(&b"online"[..]));
    assert_eq!(state_in(b"<r:message/>"), None);
}
