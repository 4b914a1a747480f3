//! A throw-away RVP responder for the harness's own tests: just enough of a server for librvp
//! clients to sign on, watch each other, change state, chat and sign off (answers shaped like
//! the test server in `testdata/captures/librvp-alice-bob.wire.log`). Not a model
//! of a real server: no authentication, no ACLs, no leases, one logical host `localhost`.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NS: &str = r#"xmlns:d="DAV:" xmlns:r="http://schemas.microsoft.com/rvp/" xmlns:a="http://schemas.microsoft.com/rvp/acl/""#;

/// Most bytes of one request head or body this responder reads.
const MAX_REQUEST: usize = 64 * 1024;

/// One request as the responder saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    /// For PROPPATCH: the state written (`online`, `busy`, `offline`...).
    pub(crate) state: Option<String>,
}

/// Who is reachable where, who watches whom, who is in which state.
#[derive(Debug, Default)]
struct Registry {
    /// user -> (callback host:port, login subscription id)
    callbacks: HashMap<String, (String, u32)>,
    /// watched user -> watchers
    watchers: HashMap<String, HashSet<String>>,
    /// user -> state name
    states: HashMap<String, String>,
}

/// The running responder; requests are recorded in `seen`. Dropping it closes the listening
/// socket (connections in progress finish on their own).
#[derive(Debug)]
pub(crate) struct MiniRvp {
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MiniRvp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl MiniRvp {
    /// Listens on `addr` (librvp needs 127.0.0.1:80) and serves in background threads.
    pub(crate) fn start(addr: &str) -> std::io::Result<MiniRvp> {
        let listener = TcpListener::bind(addr)?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread_seen = Arc::clone(&seen);
        let ids = Arc::new(AtomicU32::new(1000));
        let registry = Arc::new(Mutex::new(Registry::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let addr = listener.local_addr()?;
        let acceptor_stop = Arc::clone(&stop);
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if acceptor_stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let seen = Arc::clone(&thread_seen);
                let ids = Arc::clone(&ids);
                let registry = Arc::clone(&registry);
                std::thread::spawn(move || {
                    let _ = serve(stream, &seen, &ids, &registry);
                });
            }
        });
        Ok(MiniRvp {
            seen,
            stop,
            addr,
            acceptor: Some(acceptor),
        })
    }

    /// The requests seen so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn user_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

fn lock(registry: &Mutex<Registry>) -> std::sync::MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends `body` as a NOTIFY to `to`'s callback, as from `from`; true when it answered 2xx.
fn deliver(registry: &Mutex<Registry>, to: &str, from: &str, body: &str) -> bool {
    let Some((addr, _)) = lock(registry).callbacks.get(to).cloned() else {
        return false;
    };
    let request = format!(
        "NOTIFY / HTTP/1.1\r\nHost: {addr}\r\nRVP-Notifications-Version: 0.2\r\nRVP-Hop-Count: 2\r\nRVP-From-Principal: http://localhost/instmsg/aliases/{from}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let Ok(mut stream) = TcpStream::connect(&addr) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // librvp answers without Content-Length and closes; the status line is enough.
    let mut status = String::new();
    let _ = BufReader::new(stream).read_line(&mut status);
    status.starts_with("HTTP/1.1 2")
}

/// Tells `user`'s watchers its new state.
fn announce(registry: &Mutex<Registry>, user: &str, state: &str) {
    let watchers: Vec<String> = lock(registry)
        .watchers
        .get(user)
        .map(|w| w.iter().cloned().collect())
        .unwrap_or_default();
    for watcher in watchers {
        let body = format!(
            "<?xml version=\"1.0\"?>\r\n<r:notification {NS}><r:propnotification><r:notification-from><r:contact><d:href>http://localhost/instmsg/aliases/{user}</d:href><r:description>{user}</r:description></r:contact></r:notification-from><r:notification-to><r:contact><d:href>http://localhost/instmsg/aliases/{watcher}</d:href><r:description/></r:contact></r:notification-to><d:propertyupdate><d:set><d:prop><r:state><r:{state}/></r:state></d:prop></d:set></d:propertyupdate></r:propnotification></r:notification>"
        );
        deliver(registry, &watcher, user, &body);
    }
}

fn props(user: &str, state: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\r\n<d:multistatus {NS}><d:response><d:href>http://localhost/instmsg/aliases/{user}</d:href><d:propstat><d:prop><r:state><r:{state}/></r:state><d:displayname>{user}</d:displayname><r:email>{user}@example.com</r:email></d:prop><d:status>HTTP/1.1 200 Successful</d:status></d:propstat></d:response></d:multistatus>"
    )
}

fn serve(
    stream: TcpStream,
    seen: &Mutex<Vec<Seen>>,
    ids: &AtomicU32,
    registry: &Mutex<Registry>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let mut content_length = 0usize;
        let mut notification_type = String::new();
        let mut call_back = String::new();
        let mut from = String::new();
        let mut subscription_id = 0u32;
        let mut head_len = request_line.len();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            head_len += line.len();
            if head_len > MAX_REQUEST {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse().unwrap_or(0).min(MAX_REQUEST);
                } else if name.eq_ignore_ascii_case("notification-type") {
                    notification_type = value.to_owned();
                } else if name.eq_ignore_ascii_case("call-back") {
                    call_back = value.to_owned();
                } else if name.eq_ignore_ascii_case("rvp-from-principal") {
                    from = user_of(value).to_owned();
                } else if name.eq_ignore_ascii_case("subscription-id") {
                    subscription_id = value.parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body);
        let user = user_of(&path).to_owned();

        let mut state = None;
        let (status, extra, reply) = match method.as_str() {
            "SUBSCRIBE" => {
                let id = ids.fetch_add(1, Ordering::Relaxed);
                let headers = format!("Subscription-Id: {id}\r\nSubscription-Lifetime: 14000\r\n");
                let mut reg = lock(registry);
                if notification_type == "pragma/notify" {
                    let addr = call_back.trim_start_matches("http://").to_owned();
                    reg.callbacks.insert(user.clone(), (addr, id));
                    ("200 Successful", headers, String::new())
                } else {
                    reg.watchers
                        .entry(user.clone())
                        .or_default()
                        .insert(from.clone());
                    let state = reg
                        .states
                        .get(&user)
                        .cloned()
                        .unwrap_or_else(|| "offline".into());
                    ("207 Multi-Status", headers, props(&user, &state))
                }
            }
            "PROPPATCH" => {
                let written = body
                    .split_once("<r:value><r:")
                    .or_else(|| body.split_once("<r:state><r:"))
                    .and_then(|(_, rest)| rest.split_once("/>"))
                    .map(|(name, _)| name.to_owned())
                    .unwrap_or_else(|| "online".into());
                let view = ids.fetch_add(1, Ordering::Relaxed);
                let reply = format!(
                    "<?xml version=\"1.0\"?>\r\n<d:multistatus {NS}><d:response><d:href>http://localhost/instmsg/aliases/{user}</d:href><d:propstat><d:prop><r:state><r:leased-value><r:value><r:{written}/></r:value><r:default-value><r:offline/></r:default-value><d:timeout>1200</d:timeout></r:leased-value><r:view-id>{view}</r:view-id></r:state></d:prop><d:status>HTTP/1.1 200 Successful</d:status></d:propstat></d:response></d:multistatus>"
                );
                lock(registry).states.insert(user.clone(), written.clone());
                announce(registry, &user, &written);
                state = Some(written);
                ("207 Multi-Status", String::new(), reply)
            }
            "PROPFIND" => {
                let state = lock(registry)
                    .states
                    .get(&user)
                    .cloned()
                    .unwrap_or_else(|| "offline".into());
                ("207 Multi-Status", String::new(), props(&user, &state))
            }
            "SUBSCRIPTIONS" => (
                "200 Successful",
                String::new(),
                format!("<?xml version=\"1.0\"?>\r\n<r:subscriptions {NS}></r:subscriptions>"),
            ),
            "ACL" => (
                "200 Successful",
                String::new(),
                format!(
                    "<?xml version=\"1.0\"?>\r\n<a:rvpacl {NS}><a:acl><a:inheritance><a:none/></a:inheritance><a:ace><a:principal><a:allprincipals/></a:principal><a:grant><a:presence/><a:send-to/><a:subscriptions/></a:grant></a:ace></a:acl></a:rvpacl>"
                ),
            ),
            "UNSUBSCRIBE" => {
                let mut reg = lock(registry);
                if reg
                    .callbacks
                    .get(&user)
                    .is_some_and(|(_, id)| *id == subscription_id)
                {
                    reg.callbacks.remove(&user);
                } else if let Some(watchers) = reg.watchers.get_mut(&user) {
                    watchers.remove(&from);
                }
                ("200 Successful", String::new(), String::new())
            }
            "NOTIFY" => {
                if deliver(registry, &user, &from, &body) {
                    ("200 Successful", String::new(), String::new())
                } else {
                    ("404 Not Found", String::new(), String::new())
                }
            }
            _ => ("501 Not Implemented", String::new(), String::new()),
        };
        seen.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
            method,
            path,
            state,
        });
        let content_type = if reply.is_empty() {
            ""
        } else {
            "Content-Type: text/xml\r\n"
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nRVP-Notifications-Version: 0.2\r\n{extra}{content_type}Content-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        writer.write_all(response.as_bytes())?;
        writer.flush()?;
    }
}
