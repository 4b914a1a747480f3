//! A throw-away RVP responder for the harness's own tests: just enough of a server for librvp
//! to sign on, change its state and sign off (answers shaped like the test server in
//! `/work/shared/interop/captures/librvp-alice-bob.wire.log`). Not a model of a real server:
//! no authentication, no notifications, one logical host `localhost`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
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

/// The running responder; requests are recorded in `seen`.
#[derive(Debug, Clone)]
pub(crate) struct MiniRvp {
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
}

impl MiniRvp {
    /// Listens on `addr` (librvp needs 127.0.0.1:80) and serves in background threads.
    pub(crate) fn start(addr: &str) -> std::io::Result<MiniRvp> {
        let listener = TcpListener::bind(addr)?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ids = Arc::new(AtomicU32::new(1000));
        let server = MiniRvp {
            seen: Arc::clone(&seen),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let seen = Arc::clone(&seen);
                let ids = Arc::clone(&ids);
                std::thread::spawn(move || {
                    let _ = serve(stream, &seen, &ids);
                });
            }
        });
        Ok(server)
    }

    /// The requests seen so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn user_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

fn props(user: &str, state: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\r\n<d:multistatus {NS}><d:response><d:href>http://localhost/instmsg/aliases/{user}</d:href><d:propstat><d:prop><r:state><r:{state}/></r:state><d:displayname>{user}</d:displayname><r:email>{user}@example.com</r:email></d:prop><d:status>HTTP/1.1 200 Successful</d:status></d:propstat></d:response></d:multistatus>"
    )
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>, ids: &AtomicU32) -> std::io::Result<()> {
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
                if notification_type == "pragma/notify" {
                    ("200 Successful", headers, String::new())
                } else {
                    ("207 Multi-Status", headers, props(&user, "online"))
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
                state = Some(written);
                ("207 Multi-Status", String::new(), reply)
            }
            "PROPFIND" => ("207 Multi-Status", String::new(), props(&user, "online")),
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
            "UNSUBSCRIBE" | "NOTIFY" => ("200 Successful", String::new(), String::new()),
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
