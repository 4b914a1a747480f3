//! Requests and responses on the wire: [`Req`] written as librvp writes it, [`Resp`] read
//! back with `rvp_proto`'s parser, one connection per exchange.

use std::net::{IpAddr, SocketAddr};

use rvp_proto::codec::{ResponseParser, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::WAIT;
use crate::names::{DOMAIN, path};

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// The header fields in order, values as (lossy) text.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Resp {
    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many headers are named `name` (any case).
    pub fn headers_named(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `Subscription-Id`; panics without one.
    pub fn subscription_id(&self) -> u32 {
        self.header("Subscription-Id")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no Subscription-Id in {self:?}"))
    }
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Req {
    /// The method.
    pub method: String,
    /// The request target (a path, or a URL for a proxied request).
    pub target: String,
    /// Header fields beyond the ones every request carries (see [`Req::bytes_as`]).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Req {
    /// `method target` without headers or body.
    pub fn new(method: &str, target: &str) -> Req {
        Req {
            method: method.into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header field.
    pub fn header(mut self, n: &str, v: &str) -> Req {
        self.headers.push((n.into(), v.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Req {
        self.body = b.into();
        self
    }

    /// The request's bytes as sent by `from` (a URL, for `RVP-From-Principal`), with
    /// `authorization` when given.
    pub fn to_bytes(&self, from: &str, authorization: Option<&str>) -> Vec<u8> {
        self.bytes_as(Some(from), authorization)
    }

    /// The request's bytes: `Content-Length`, `RVP-Notifications-Version: 0.2`, `Host`,
    /// `RVP-From-Principal: from` (left out when `from` is `None`), the request's own
    /// headers, then `Authorization` when given, and the body.
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

/// Reads from `s` into `buf` until `buf` starts with one complete response; returns its
/// length, or `None` when the connection ends (or fails) first. Panics on bytes that are
/// no response and after [`WAIT`] without any.
async fn fill_response<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        match ResponseParser::default().parse(buf, false) {
            Ok(Status::Complete(m)) => return Some(m.consumed()),
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

/// The response `bytes` (exactly one, complete) in parsed form.
fn parse_response(bytes: &[u8]) -> Resp {
    let mut parser = ResponseParser::default();
    let Ok(Status::Complete(m)) = parser.parse(bytes, false) else {
        panic!(
            "not one complete response: {:?}",
            String::from_utf8_lossy(bytes)
        );
    };
    let h = m.head();
    Resp {
        status: h.code(),
        reason: h.reason().to_owned(),
        headers: h
            .headers()
            .iter()
            .map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect(),
        body: m.body().to_vec(),
    }
}

/// Reads one response from `s`, a TCP or TLS stream (`buf` keeps what follows it); `None`
/// when the connection ends first.
pub async fn read_response<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Option<Resp> {
    let used = fill_response(s, buf).await?;
    let resp = parse_response(&buf[..used]);
    buf.drain(..used);
    Some(resp)
}

/// Sends raw bytes on a new connection and reads one response.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> Option<Resp> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("send the request");
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf).await
}

/// Sends `bytes` on a new connection opened from `src` (any 127.0.0.0/8 address) and
/// returns the exact bytes of the first response with its parsed form.
pub async fn raw_from(src: IpAddr, addr: SocketAddr, bytes: &[u8]) -> Option<(Vec<u8>, Resp)> {
    let socket = match src {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .expect("a socket");
    socket
        .bind(SocketAddr::new(src, 0))
        .unwrap_or_else(|e| panic!("bind {src}: {e}"));
    let mut s = tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    s.write_all(bytes).await.expect("send the request");
    let mut buf = Vec::new();
    let used = fill_response(&mut s, &mut buf).await?;
    buf.truncate(used);
    let resp = parse_response(&buf);
    Some((buf, resp))
}

/// The `nonce` of a `WWW-Authenticate: Digest ...` value; panics without one.
pub fn nonce_of(challenge: &str) -> String {
    let i = challenge.find("nonce=\"").expect("a nonce") + 7;
    let j = challenge[i..].find('"').expect("a quoted nonce");
    challenge[i..i + j].to_owned()
}

/// A fresh Digest nonce, fetched without letting any request reach the engine: the probe
/// carries a Digest answer to a nonce this server never issued, which is refused with a
/// challenge before anything is evaluated.
pub async fn fresh_nonce(addr: SocketAddr) -> String {
    let probe = Req::new("PROPFIND", &path("alice"))
        .header("Depth", "0")
        .body(super::PROPFIND_BODY);
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
