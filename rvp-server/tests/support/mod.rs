//! Test support for end-to-end tests over real TCP on 127.0.0.1: a server in-process (or
//! the real binary), an RVP client that authenticates the way librvp does, and callback
//! listeners that record the NOTIFYs they receive. Every wait is bounded by [`WAIT`].

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

pub mod process;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use rvp_proto::codec::{RequestParser, ResponseParser, Status};
use rvp_server::auth::digest::{Ha1, QopAuth, compute_response};
use rvp_server::config::Config;
use rvp_server::home::HomeServer;
use rvp_server::listener::ServeReport;
use rvp_server::log::ProtocolLog;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

#[allow(unused_imports)] // not every test binary starts the process
pub use process::ServerProcess;

/// Bound on every single wait.
pub const WAIT: Duration = Duration::from_secs(10);

pub const DOMAIN: &str = "localhost";

/// The logical URL of `alias` in the test domain.
pub fn url(alias: &str) -> String {
    format!("http://{DOMAIN}/instmsg/aliases/{alias}")
}

pub fn path(alias: &str) -> String {
    format!("/instmsg/aliases/{alias}")
}

/// A fresh temporary directory (removed on drop).
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "rvp-e2e-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test configuration: alice, bob and carol (password `<alias>-pw`), loopback port 0,
/// storage in `dir`, protocol log off.
pub fn config(dir: &Path) -> Config {
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nstorage = {:?}\n[log]\nprotocol_log = \"\"\n\
         [[users]]\nalias = \"alice\"\ndisplay_name = \"Alice A\"\nemail = \"alice@example.org\"\npassword = \"alice-pw\"\n\
         [[users]]\nalias = \"bob\"\ndisplay_name = \"Bob B\"\nemail = \"bob@example.org\"\npassword = \"bob-pw\"\n\
         [[users]]\nalias = \"carol\"\npassword = \"carol-pw\"\n",
        dir.join("store.redb").display().to_string()
    );
    Config::from_toml_str(&text, "test").unwrap()
}

/// An in-process server.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin listener, when `admin.listen` is set.
    pub admin: Option<SocketAddr>,
    /// Applies new configurations to the running server.
    pub reloader: rvp_server::admin::Reloader,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<ServeReport, rvp_server::home::ServerError>>>,
    _dir: Option<TempDir>,
}

impl TestServer {
    /// Starts with the test configuration, changed by `tweak`.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = TempDir::new("srv");
        let mut c = config(dir.path());
        tweak(&mut c);
        let mut s = TestServer::start_config(&c).await;
        s._dir = Some(dir);
        s
    }

    pub async fn start_config(c: &Config) -> TestServer {
        TestServer::start_logged(c, ProtocolLog::off()).await
    }

    pub async fn start_logged(c: &Config, log: ProtocolLog) -> TestServer {
        let server = HomeServer::start(c, log).await.unwrap();
        let addr = server.local_addrs()[0];
        let admin = server.admin_addr();
        let reloader = server.reloader();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            admin,
            reloader,
            stop: Some(tx),
            task: Some(task),
            _dir: None,
        }
    }

    pub fn client(&self, alias: &str) -> Client {
        Client::new(self.addr, alias)
    }

    pub async fn stop(mut self) -> ServeReport {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(WAIT * 2, self.task.take().unwrap())
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server ran cleanly")
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn subscription_id(&self) -> u32 {
        self.header("Subscription-Id")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Subscription-Id in {self:?}"))
    }
}

/// Reads one response from `s` (`buf` keeps what follows it).
pub async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Resp> {
    loop {
        let mut p = ResponseParser::default();
        match p.parse(buf, false) {
            Ok(Status::Complete(m)) => {
                let h = m.head();
                let resp = Resp {
                    status: h.code(),
                    reason: h.reason().to_owned(),
                    headers: h
                        .headers()
                        .iter()
                        .map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned()))
                        .collect(),
                    body: m.body().to_vec(),
                };
                let used = m.consumed();
                buf.drain(..used);
                return Some(resp);
            }
            Ok(Status::Partial) => {}
            Err(e) => panic!(
                "unreadable response: {e}: {:?}",
                String::from_utf8_lossy(buf)
            ),
        }
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk))
            .await
            .expect("response in time")
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends raw bytes on a new connection and reads one response.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> Option<Resp> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf).await
}

/// The `nonce` of a `WWW-Authenticate: Digest ...` value.
pub fn nonce_of(challenge: &str) -> String {
    let i = challenge.find("nonce=\"").expect("a nonce") + 7;
    let j = challenge[i..].find('"').unwrap();
    challenge[i..i + j].to_owned()
}

/// An RVP client for one user, authenticating like librvp: each request is sent bare;
/// a `401` is answered once with Digest (`nc=00000001`, fresh cnonce) on a new connection.
#[derive(Debug, Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub alias: String,
    pub password: String,
    /// Send the Digest answer after a 401 (else return the 401).
    pub authenticate: bool,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn new(method: &str, target: &str) -> Req {
        Req {
            method: method.into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, n: &str, v: &str) -> Req {
        self.headers.push((n.into(), v.into()));
        self
    }

    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Req {
        self.body = b.into();
        self
    }

    pub fn to_bytes(&self, from: &str, authorization: Option<&str>) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nContent-Length: {}\r\nRVP-Notifications-Version: 0.2\r\nHost: {DOMAIN}\r\nRVP-From-Principal: {from}\r\n",
            self.method,
            self.target,
            self.body.len()
        );
        for (n, v) in &self.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(a) = authorization {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

static CNONCE: AtomicU64 = AtomicU64::new(1);

impl Client {
    pub fn new(addr: SocketAddr, alias: &str) -> Client {
        Client {
            addr,
            alias: alias.into(),
            password: format!("{alias}-pw"),
            authenticate: true,
        }
    }

    pub fn url(&self) -> String {
        url(&self.alias)
    }

    /// The Digest `Authorization` value answering `nonce` for this request.
    pub fn digest(&self, req: &Req, nonce: &str) -> String {
        let ha1 = Ha1::from_password(&self.alias, DOMAIN, &self.password);
        let cnonce = format!("{:08x}", CNONCE.fetch_add(1, Ordering::Relaxed));
        let qop = QopAuth {
            nc: "00000001",
            cnonce: &cnonce,
        };
        let response = compute_response(&ha1, &req.method, &req.target, nonce, Some(qop));
        format!(
            "Digest username=\"{}\", realm=\"{DOMAIN}\", nonce=\"{nonce}\", uri=\"{}\", algorithm=\"MD5\", qop=auth, nc=00000001, cnonce=\"{cnonce}\", response=\"{response}\"",
            self.alias, req.target
        )
    }

    /// Sends `req` (bare, then with Digest after a 401 when `authenticate`).
    pub async fn send(&self, req: &Req) -> Resp {
        let first = raw(self.addr, &req.to_bytes(&self.url(), None))
            .await
            .expect("an answer");
        if first.status != 401 || !self.authenticate {
            return first;
        }
        assert_eq!(first.headers_named("WWW-Authenticate"), 1, "{first:?}");
        let nonce = nonce_of(first.header("WWW-Authenticate").unwrap());
        let auth = self.digest(req, &nonce);
        raw(self.addr, &req.to_bytes(&self.url(), Some(&auth)))
            .await
            .expect("an answer")
    }

    /// Login subscription (`pragma/notify`) with `callback` as `Call-Back`.
    pub async fn login(&self, callback: &str, lifetime: u32) -> Resp {
        self.send(
            &Req::new("SUBSCRIBE", &path(&self.alias))
                .header("Notification-Type", "pragma/notify")
                .header("Subscription-Lifetime", &lifetime.to_string())
                .header("Call-Back", callback),
        )
        .await
    }

    /// Watch `target` (`update/propchange`, call-back = own logical URL, like librvp).
    pub async fn watch(&self, target: &str, lifetime: u32) -> Resp {
        self.send(
            &Req::new("SUBSCRIBE", &path(target))
                .header("Notification-Type", "update/propchange")
                .header("Subscription-Lifetime", &lifetime.to_string())
                .header("Call-Back", &self.url()),
        )
        .await
    }

    /// Sets own state with a lease (librvp's form).
    pub async fn set_state(&self, state: &str) -> Resp {
        self.send(&Req::new("PROPPATCH", &path(&self.alias)).body(state_body(state, 1200)))
            .await
    }

    /// Sends an IM body to `to` with an ack type.
    pub async fn im(&self, to: &str, body: &[u8], ack: Option<&str>) -> Resp {
        let mut r = Req::new("NOTIFY", &path(to)).header("Content-Type", "text/xml");
        if let Some(a) = ack {
            r = r.header("RVP-Ack-Type", a);
        }
        self.send(&r.body(body.to_vec())).await
    }

    /// Writes one ACE to own ACL: `grant` or `deny` `send-to` and `presence` for `who`.
    pub async fn acl(&self, who: &str, deny: bool) -> Resp {
        self.send(&Req::new("ACL", &path(&self.alias)).body(acl_body(&url(who), deny)))
            .await
    }

    pub async fn propfind(&self, target: &str) -> Resp {
        self.send(
            &Req::new("PROPFIND", &path(target))
                .header("Depth", "0")
                .body(PROPFIND_BODY),
        )
        .await
    }
}

pub const PROPFIND_BODY: &str = "<?xml version=\"1.0\"?><d:propfind xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><d:prop><r:state/><d:displayname/><r:email/></d:prop></d:propfind>";

pub fn state_body(state: &str, timeout: u32) -> String {
    format!(
        "<?xml version=\"1.0\"?><d:propertyupdate xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><d:set><d:prop><r:state><r:leased-value><r:value><r:{state}/></r:value><r:default-value><r:offline/></r:default-value><d:timeout>{timeout}</d:timeout></r:leased-value></r:state></d:prop></d:set></d:propertyupdate>"
    )
}

pub fn acl_body(who: &str, deny: bool) -> String {
    let rights = "<a:send-to/><a:presence/>";
    let (grant, deny) = if deny { ("", rights) } else { (rights, "") };
    format!(
        "<?xml version=\"1.0\"?><a:rvpacl xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\" xmlns:a=\"http://schemas.microsoft.com/rvp/acl/\"><a:acl><a:inheritance>none</a:inheritance><a:ace><a:principal><a:rvp-principal>{who}</a:rvp-principal><a:credentials><a:assertion/><a:digest/><a:ntlm/></a:credentials></a:principal><a:grant>{grant}</a:grant><a:deny>{deny}</a:deny></a:ace></a:acl></a:rvpacl>"
    )
}

/// An IM body in librvp's shape.
pub fn im_body(text: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?><r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:message><r:notification-from><r:contact><d:href>{}</d:href></r:contact></r:notification-from><r:msgbody><r:mime-data>Content-Type: text/plain\r\n\r\n{text}</r:mime-data></r:msgbody></r:message></r:notification>",
        url("alice")
    )
    .into_bytes()
}

/// One NOTIFY a callback listener received.
#[derive(Debug, Clone)]
pub struct Received {
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

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

/// A client's callback listener: answers every NOTIFY with `status` (0 = never answers:
/// a stalled client), one connection at a time or many, and records what it received.
pub struct Callback {
    pub addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<Received>,
    status: Arc<AtomicU16>,
    task: JoinHandle<()>,
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Callback {
    pub async fn start(status: u16) -> Callback {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Callback::on(listener, status)
    }

    /// A listener on a given address; `None` when it cannot be bound (port 80 needs root).
    pub async fn start_at(addr: SocketAddr, status: u16) -> Option<Callback> {
        let listener = TcpListener::bind(addr).await.ok()?;
        Some(Callback::on(listener, status))
    }

    fn on(listener: TcpListener, status: u16) -> Callback {
        let addr = listener.local_addr().unwrap();
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

    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// The next NOTIFY, waiting at most `WAIT`.
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

// ---- Helpers for adversarial tests: chosen source address, optional identity headers ----

impl Req {
    /// Like [`Req::to_bytes`], but `RVP-From-Principal` is left out when `from` is `None`.
    pub fn bytes_as(&self, from: Option<&str>, authorization: Option<&str>) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nContent-Length: {}\r\nRVP-Notifications-Version: 0.2\r\nHost: {DOMAIN}\r\n",
            self.method,
            self.target,
            self.body.len()
        );
        if let Some(f) = from {
            head.push_str(&format!("RVP-From-Principal: {f}\r\n"));
        }
        for (n, v) in &self.headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(a) = authorization {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Sends `bytes` on a new connection opened from `src` (any 127.0.0.0/8 address) and
/// returns the exact bytes of the first response with its parsed form.
pub async fn raw_from(
    src: std::net::IpAddr,
    addr: SocketAddr,
    bytes: &[u8],
) -> Option<(Vec<u8>, Resp)> {
    let socket = match src {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4().unwrap(),
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6().unwrap(),
    };
    socket.bind(SocketAddr::new(src, 0)).unwrap();
    let mut s = tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .expect("connect in time")
        .unwrap();
    s.write_all(bytes).await.unwrap();
    let mut buf = Vec::new();
    // Read until one complete response is buffered, to keep its exact bytes.
    let used = loop {
        {
            let mut p = ResponseParser::default();
            match p.parse(&buf, false) {
                Ok(Status::Complete(m)) => break m.consumed(),
                Ok(Status::Partial) => {}
                Err(e) => panic!(
                    "unreadable response: {e}: {:?}",
                    String::from_utf8_lossy(&buf)
                ),
            }
        }
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk))
            .await
            .expect("response in time")
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let exact = buf[..used].to_vec();
    let resp = read_response(&mut s, &mut buf).await?;
    Some((exact, resp))
}

/// A fresh Digest nonce, fetched without letting any request reach the engine: the probe
/// carries a Digest answer to a nonce this server never issued, which is refused with a
/// challenge before anything is evaluated.
pub async fn fresh_nonce(addr: SocketAddr) -> String {
    let probe = Req::new("PROPFIND", &path("alice"))
        .header("Depth", "0")
        .body(PROPFIND_BODY);
    let auth = format!(
        "Digest username=\"nonce-probe\", realm=\"{DOMAIN}\", nonce=\"{}\", uri=\"{}\", algorithm=\"MD5\", qop=auth, nc=00000001, cnonce=\"0badc0de\", response=\"{}\"",
        "0".repeat(64),
        probe.target,
        "0".repeat(32)
    );
    let r = raw(addr, &probe.bytes_as(None, Some(&auth)))
        .await
        .expect("an answer to the nonce probe");
    assert_eq!(r.status, 401, "the nonce probe is challenged: {r:?}");
    nonce_of(r.header("WWW-Authenticate").expect("a challenge"))
}

impl Client {
    /// Sends `req` with this client's verified Digest answer from the start (a nonce is
    /// fetched first, so no bare attempt is ever made), from source address `src`, with
    /// `RVP-From-Principal` set to `from` (or left out). Returns exact bytes and parsed.
    pub async fn send_proven_from(
        &self,
        src: std::net::IpAddr,
        req: &Req,
        from: Option<&str>,
    ) -> (Vec<u8>, Resp) {
        let nonce = fresh_nonce(self.addr).await;
        let auth = self.digest(req, &nonce);
        raw_from(src, self.addr, &req.bytes_as(from, Some(&auth)))
            .await
            .expect("an answer")
    }

    /// [`Client::send_proven_from`] from 127.0.0.1, parsed answer only.
    pub async fn send_proven(&self, req: &Req, from: Option<&str>) -> Resp {
        self.send_proven_from(std::net::Ipv4Addr::LOCALHOST.into(), req, from)
            .await
            .1
    }
}

/// An IM body in librvp's shape whose `r:notification-from` names `from` (a URL).
pub fn im_body_from(from: &str, text: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?><r:notification xmlns:d=\"DAV:\" xmlns:r=\"http://schemas.microsoft.com/rvp/\"><r:message><r:notification-from><r:contact><d:href>{from}</d:href></r:contact></r:notification-from><r:msgbody><r:mime-data>Content-Type: text/plain\r\n\r\n{text}</r:mime-data></r:msgbody></r:message></r:notification>"
    )
    .into_bytes()
}
